"""Packet decoding: :class:`~pcapflow.capture.RawBatch` in, :class:`PacketTable` out.

Contract
--------
``decode(batch, engine)`` returns one :class:`PacketTable` row per record of the batch, in
record order, with the columns and dtypes of :data:`~pcapflow.decode.table.COLUMN_DTYPES`.
It never raises on packet contents: every row gets a :class:`DecodeStatus` saying whether it
can be tracked and, if not, why.

Engines
-------
``"fast"`` (the default) decodes whole batches with vectorised numpy gathers: link layer,
then VLAN/MPLS/PPPoE encapsulations, IPv4/IPv6 (with extension headers and fragments), then
TCP/UDP/SCTP/ICMP. ``"reference"`` dissects every packet with scapy and must produce the
identical table; it is the oracle the fast engine is tested against, and a slow path for
checking a surprising result by hand.
"""

from __future__ import annotations

from collections.abc import Callable

from pcapflow.capture.batch import RawBatch
from pcapflow.decode.cursor import Cursor
from pcapflow.decode.ip import decode_ip
from pcapflow.decode.link import SUPPORTED_LINKTYPES, decode_link
from pcapflow.decode.table import NO_VLAN, DecodeStatus, PacketTable
from pcapflow.decode.transport import decode_transport
from pcapflow.errors import OptionsError

__all__ = ["DecodeStatus", "PacketTable", "NO_VLAN", "SUPPORTED_LINKTYPES", "ENGINES", "decode"]


def decode_fast(batch: RawBatch) -> PacketTable:
    """Decode a batch with vectorised numpy gathers (see the module docstring)."""
    cursor = Cursor.over(batch)
    ip_rows = decode_link(cursor)
    transport_rows = decode_ip(cursor, ip_rows)
    decode_transport(cursor, transport_rows)
    return cursor.table


def decode_reference(batch: RawBatch) -> PacketTable:
    """Decode a batch by dissecting every packet with scapy (slow; the oracle)."""
    from pcapflow.decode.reference import decode_with_scapy

    return decode_with_scapy(batch)


ENGINES: dict[str, Callable[[RawBatch], PacketTable]] = {"fast": decode_fast, "reference": decode_reference}


def decode(batch: RawBatch, engine: str = "fast") -> PacketTable:
    """Decode every record of ``batch`` with the named engine."""
    try:
        decoder = ENGINES[engine]
    except KeyError:
        raise OptionsError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}") from None
    return decoder(batch)
