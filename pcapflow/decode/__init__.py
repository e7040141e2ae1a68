"""Packet decoding: :class:`~pcapflow.capture.RawBatch` in, :class:`PacketTable` out.

Contract
--------
``decode(batch, engine, decapsulate)`` returns one :class:`PacketTable` row per record of the batch, in
record order, with the columns and dtypes of :data:`~pcapflow.decode.table.COLUMN_DTYPES`.
It never raises on packet contents: every row gets a :class:`DecodeStatus` saying whether it
can be tracked and, if not, why. What conversation tracking folds of a decapsulated batch (a
carrier row before each tunnelled record's inner row) comes from
:func:`pcapflow.decode.carriers.decode_with_carriers`.

Engines
-------
``"fast"`` (the default) is the compiled kernel :func:`pcapflow._kernels.decode.decode_records`:
link layer, then VLAN/MPLS/PPPoE encapsulations, IPv4/IPv6 (with AH, extension headers and
fragments), then TCP/UDP/SCTP/ICMP; with ``decapsulate``, the tunnels of
:mod:`pcapflow._kernels.tunnels` are opened (up to ``MAX_TUNNEL_DEPTH`` deep) and the row holds the
innermost packet's headers with ``tunnel``, ``tunnel_depth`` and ``tunnel_id``. One record at a time without the GIL, every read checked
against the record's captured length. ``"reference"`` dissects every packet with scapy and must
produce the identical table; it is the oracle the fast engine is tested against, and a slow path
for checking a surprising result by hand.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pcapflow._kernels.constants import LinkType
from pcapflow._kernels.decode import decode_records
from pcapflow.capture.batch import RawBatch
from pcapflow.decode.table import COLUMN_DTYPES, NO_VLAN, ONE_ROW_PER_RECORD, DecodeStatus, PacketTable, allocated_table
from pcapflow.errors import OptionsError
from pcapflow.options import ENGINES as ENGINE_NAMES

__all__ = ["ENGINES", "LINKTYPE_NAMES", "NO_VLAN", "SUPPORTED_LINKTYPES", "DecodeStatus", "PacketTable", "decode"]

_RECORD_COLUMNS = ("record_index", "ts_ns", "linktype", "caplen", "wirelen")  # a row's are its record's, as read
_DECODED_COLUMNS = tuple(name for name in COLUMN_DTYPES if name not in _RECORD_COLUMNS and name != "file_index")

#: The link types both engines decode.
SUPPORTED_LINKTYPES = frozenset(int(kind) for kind in (
    LinkType.LINKTYPE_NULL, LinkType.LINKTYPE_ETHERNET, LinkType.LINKTYPE_RAW_LEGACY, LinkType.LINKTYPE_RAW_OPENBSD,
    LinkType.LINKTYPE_RAW, LinkType.LINKTYPE_LOOP, LinkType.LINKTYPE_LINUX_SLL, LinkType.LINKTYPE_IPV4,
    LinkType.LINKTYPE_IPV6, LinkType.LINKTYPE_LINUX_SLL2, LinkType.LINKTYPE_PPP, LinkType.LINKTYPE_PPP_HDLC,
    LinkType.LINKTYPE_C_HDLC, LinkType.LINKTYPE_IEEE802_11, LinkType.LINKTYPE_PFLOG, LinkType.LINKTYPE_IEEE802_11_RADIOTAP,
    LinkType.LINKTYPE_PPI, LinkType.LINKTYPE_NFLOG,
))

#: What a person calls each supported link type.
LINKTYPE_NAMES: dict[int, str] = {
    LinkType.LINKTYPE_NULL: "NULL", LinkType.LINKTYPE_ETHERNET: "Ethernet", LinkType.LINKTYPE_RAW_LEGACY: "raw IP",
    LinkType.LINKTYPE_RAW_OPENBSD: "raw IP", LinkType.LINKTYPE_RAW: "raw IP", LinkType.LINKTYPE_LOOP: "LOOP",
    LinkType.LINKTYPE_LINUX_SLL: "Linux SLL", LinkType.LINKTYPE_IPV4: "IPv4", LinkType.LINKTYPE_IPV6: "IPv6",
    LinkType.LINKTYPE_LINUX_SLL2: "Linux SLL2", LinkType.LINKTYPE_PPP: "PPP", LinkType.LINKTYPE_PPP_HDLC: "PPP in HDLC framing",
    LinkType.LINKTYPE_C_HDLC: "Cisco HDLC", LinkType.LINKTYPE_IEEE802_11: "IEEE 802.11", LinkType.LINKTYPE_PFLOG: "OpenBSD PFLOG",
    LinkType.LINKTYPE_IEEE802_11_RADIOTAP: "802.11 radiotap", LinkType.LINKTYPE_PPI: "802.11 PPI", LinkType.LINKTYPE_NFLOG: "Linux NFLOG",
}


def decode_fast(batch: RawBatch, decapsulate: bool = False) -> PacketTable:
    """Decode a batch with the compiled kernel (see the module docstring)."""
    table = allocated_table(len(batch))
    _decode_into(table, batch, decapsulate, ONE_ROW_PER_RECORD)
    return _with_record_columns(table, batch, None)


def decode_fast_with_carriers(batch: RawBatch, tunnelled: bool = False) -> tuple[PacketTable, np.ndarray | None]:
    """The rows conversation tracking folds, decoded in one pass with the compiled kernel (see
    :func:`pcapflow.decode.carriers.decode_with_carriers`).

    As most batches carry no tunnel, the columns get one row per record, unless ``tunnelled``
    says that the batches before were (then two: no second pass). The kernel stops at the first
    tunnelled record that finds no room, and goes on in columns with room for two rows for
    every record left."""
    count = len(batch)
    room = 2 * count if tunnelled else count
    table, row_record = allocated_table(room), np.empty(room, dtype=np.int64)
    rows, decoded = _decode_into(table, batch, True, row_record)
    if decoded < count:
        room = rows + 2 * (count - decoded)
        wider, row_record = allocated_table(room), np.concatenate([row_record[:rows], np.empty(room - rows, dtype=np.int64)])
        for name in _DECODED_COLUMNS:
            getattr(wider, name)[:rows] = getattr(table, name)[:rows]
        rows, decoded = _decode_into(wider, batch, True, row_record, decoded, rows)
        table = wider
    if rows < room:
        table = table.take(slice(0, rows))
    if rows == count:  # no record was tunnelled: row i is record i
        return _with_record_columns(table, batch, None), None
    return _with_record_columns(table, batch, row_record[:rows]), row_record[:rows]


def _decode_into(table: PacketTable, batch: RawBatch, decapsulate: bool, row_record: np.ndarray, first_record: int = 0,
                 first_row: int = 0) -> tuple[int, int]:
    return decode_records(
        batch.buffer, batch.data_offset, batch.caplen, batch.wirelen, batch.linktype, batch.bad_record.view(np.uint8),
        table.status, table.vlan_id, table.ip_version, table.src_ip_hi, table.src_ip_lo, table.dst_ip_hi, table.dst_ip_lo,
        table.ip_proto, table.ip_bytes, table.ip_id, table.frag_offset, table.more_fragments.view(np.uint8),
        table.src_port, table.dst_port, table.tcp_flags, table.tcp_seq, table.tcp_ack, table.icmp_type, table.icmp_code,
        table.payload_bytes, table.payload_offset, table.tunnel, table.tunnel_depth, table.tunnel_id, decapsulate, row_record,
        first_record, first_row,
    )


def _with_record_columns(table: PacketTable, batch: RawBatch, row_record: np.ndarray | None) -> PacketTable:
    """The table with the columns each row has of its record; when row i is record i, the batch's
    own (of the table's dtypes already) are taken over, not copied."""
    table.file_index[:] = batch.file_index
    for name in _RECORD_COLUMNS:
        column = getattr(batch, name)
        setattr(table, name, column if row_record is None else column[row_record])
    return table


def decode_reference(batch: RawBatch, decapsulate: bool = False) -> PacketTable:
    """Decode a batch by dissecting every packet with scapy (slow; the oracle)."""
    from pcapflow.decode.reference import decode_with_scapy

    return decode_with_scapy(batch, decapsulate)


ENGINES: dict[str, Callable[[RawBatch, bool], PacketTable]] = dict(zip(ENGINE_NAMES, (decode_fast, decode_reference)))


def decode(batch: RawBatch, engine: str = "fast", decapsulate: bool = False) -> PacketTable:
    """Decode every record of ``batch`` with the named engine (opening its tunnels with ``decapsulate``)."""
    try:
        decoder = ENGINES[engine]
    except KeyError:
        raise OptionsError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}") from None
    return decoder(batch, decapsulate)
