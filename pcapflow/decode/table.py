"""The packet table: one row per capture record, as numpy columns (decode's output contract).

Every record gets a row, whatever happened to it; ``status`` says whether it can be tracked
(``OK``, ``PORTS_ONLY``, ``FRAGMENT``), is out of scope (not IP, unsupported link type) or is
malformed, and why. Addresses are 128-bit, split in two uint64 halves; IPv4 addresses are stored
IPv4-mapped (``::ffff:a.b.c.d``) so that one code path sorts and keys both families.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields

import numpy as np

from pcapflow._kernels.constants import Limit, Status, StatusKind, Tunnel


class DecodeStatus(enum.IntEnum):
    """Why a record can or cannot be tracked (the kernels' codes, constants.pxd)."""

    OK = Status.OK
    PORTS_ONLY = Status.PORTS_ONLY  # transport header cut after the ports (snaplen): tracked, flags/payload unknown
    FRAGMENT = Status.FRAGMENT  # non-first IP fragment: tracked through the first fragment of its datagram
    NOT_IP = Status.NOT_IP  # ARP, LLDP, 802.3/LLC... (out of scope)
    UNSUPPORTED_LINKTYPE = Status.UNSUPPORTED_LINKTYPE  # out of scope
    PROTECTED = Status.PROTECTED  # an 802.11 data frame whose body is encrypted (out of scope)
    UNSUPPORTED_LAYER = Status.UNSUPPORTED_LAYER  # an A-MSDU, compressed or multilink PPP... (out of scope)
    BAD_RECORD = Status.BAD_RECORD  # the capture record contradicts itself (malformed from here on)
    TRUNCATED_LINK = Status.TRUNCATED_LINK
    TRUNCATED_IP = Status.TRUNCATED_IP
    BAD_IP_HEADER = Status.BAD_IP_HEADER  # wrong version, IHL < 5, lengths that contradict the header or the frame
    TRUNCATED_TRANSPORT = Status.TRUNCATED_TRANSPORT  # not even the ports are present
    BAD_TRANSPORT_HEADER = Status.BAD_TRANSPORT_HEADER  # TCP data offset < 5, UDP length beyond its datagram...
    BAD_LINK_HEADER = Status.BAD_LINK_HEADER  # a radiotap, PPI, NFLOG or PFLOG length that cannot be, a version unknown

    @property
    def kind(self) -> str:
        """``"tracked"``, ``"out_of_scope"`` or ``"malformed"``."""
        if self < TRACKED_BELOW:
            return "tracked"
        return "out_of_scope" if self < OUT_OF_SCOPE_BELOW else "malformed"


#: Statuses below this are tracked, below OUT_OF_SCOPE_BELOW out of scope, the others malformed.
TRACKED_BELOW = int(StatusKind.TRACKED_BELOW)
OUT_OF_SCOPE_BELOW = int(StatusKind.OUT_OF_SCOPE_BELOW)

_NOT_TAKEN = np.zeros(0, dtype=np.uint8)

#: Sentinel of the ``vlan_id`` column: the frame carried no VLAN tag.
NO_VLAN = int(Limit.NO_VLAN)

#: Sentinel of the ``tunnel_id`` column: the packet's encapsulation names no id (or it has none).
NO_TUNNEL_ID = int(Limit.NO_TUNNEL_ID)

#: What the ``tunnel`` column's codes (constants.Tunnel, from 1) are called in frames and reports:
#: the codes' names (``TUNNEL_GTP_U`` is ``gtp_u``).
TUNNEL_NAMES = tuple(code.name.removeprefix("TUNNEL_").lower() for code in Tunnel if code != Tunnel.NO_TUNNEL)


@dataclass(slots=True)
class PacketTable:
    """Decoded header fields of a batch of records, one numpy array per column."""

    file_index: np.ndarray  # uint16: position of the file among the paths read together
    record_index: np.ndarray  # int64: 0-based record position within its file
    ts_ns: np.ndarray  # int64: ns since the epoch
    linktype: np.ndarray  # uint16
    caplen: np.ndarray  # uint32: bytes captured
    wirelen: np.ndarray  # uint32: frame length on the wire (tshark's bytes)
    status: np.ndarray  # uint8: DecodeStatus
    vlan_id: np.ndarray  # uint16: outermost VLAN id, NO_VLAN when untagged
    ip_version: np.ndarray  # uint8: 4, 6 or 0
    src_ip_hi: np.ndarray  # uint64
    src_ip_lo: np.ndarray  # uint64
    dst_ip_hi: np.ndarray  # uint64
    dst_ip_lo: np.ndarray  # uint64
    ip_proto: np.ndarray  # uint8: transport protocol (after IPv6 extension headers)
    ip_bytes: np.ndarray  # uint32: IPv4 total length, or 40 + IPv6 payload length
    ip_id: np.ndarray  # uint32: IPv4 identification or IPv6 fragment identification
    frag_offset: np.ndarray  # uint16: fragment offset in bytes
    more_fragments: np.ndarray  # bool
    src_port: np.ndarray  # uint16 (TCP, UDP, SCTP)
    dst_port: np.ndarray  # uint16
    tcp_flags: np.ndarray  # uint16: the 9 TCP flag bits
    tcp_seq: np.ndarray  # uint32
    tcp_ack: np.ndarray  # uint32
    icmp_type: np.ndarray  # uint8 (ICMP and ICMPv6)
    icmp_code: np.ndarray  # uint8
    payload_bytes: np.ndarray  # uint32: transport payload from header lengths, not caplen
    payload_offset: np.ndarray  # uint32: where a TCP or UDP payload starts in the record, else 0
    tunnel: np.ndarray  # uint8: constants.Tunnel, the innermost encapsulation opened (NO_TUNNEL: none)
    tunnel_depth: np.ndarray  # uint8: encapsulations opened, at most MAX_TUNNEL_DEPTH
    tunnel_id: np.ndarray  # int64: VNI, TEID, GRE key or PPTP call id of the innermost one, NO_TUNNEL_ID if none

    def __len__(self) -> int:
        return len(self.ts_ns)

    @classmethod
    def column_names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in fields(cls))

    @classmethod
    def concat(cls, tables: list[PacketTable]) -> PacketTable:
        if not tables:
            return empty_table()
        return cls(**{name: np.concatenate([getattr(t, name) for t in tables]) for name in cls.column_names()})

    def take(self, rows: np.ndarray | slice, columns: tuple[str, ...] | None = None) -> PacketTable:
        """The table of ``rows`` (a slice gives views); with ``columns``, only those are taken
        (the others are left empty)."""
        wanted = self.column_names() if columns is None else columns
        taken = {name: getattr(self, name)[rows] for name in wanted}
        return PacketTable(**{name: taken.get(name, _NOT_TAKEN) for name in self.column_names()})


#: The dtype of every PacketTable column.
COLUMN_DTYPES: dict[str, np.dtype] = {
    "file_index": np.dtype(np.uint16),
    "record_index": np.dtype(np.int64),
    "ts_ns": np.dtype(np.int64),
    "linktype": np.dtype(np.uint16),
    "caplen": np.dtype(np.uint32),
    "wirelen": np.dtype(np.uint32),
    "status": np.dtype(np.uint8),
    "vlan_id": np.dtype(np.uint16),
    "ip_version": np.dtype(np.uint8),
    "src_ip_hi": np.dtype(np.uint64),
    "src_ip_lo": np.dtype(np.uint64),
    "dst_ip_hi": np.dtype(np.uint64),
    "dst_ip_lo": np.dtype(np.uint64),
    "ip_proto": np.dtype(np.uint8),
    "ip_bytes": np.dtype(np.uint32),
    "ip_id": np.dtype(np.uint32),
    "frag_offset": np.dtype(np.uint16),
    "more_fragments": np.dtype(bool),
    "src_port": np.dtype(np.uint16),
    "dst_port": np.dtype(np.uint16),
    "tcp_flags": np.dtype(np.uint16),
    "tcp_seq": np.dtype(np.uint32),
    "tcp_ack": np.dtype(np.uint32),
    "icmp_type": np.dtype(np.uint8),
    "icmp_code": np.dtype(np.uint8),
    "payload_bytes": np.dtype(np.uint32),
    "payload_offset": np.dtype(np.uint32),
    "tunnel": np.dtype(np.uint8),
    "tunnel_depth": np.dtype(np.uint8),
    "tunnel_id": np.dtype(np.int64),
}


#: The record of each row when row i is record i (no carrier rows), for the kernels that take one.
ONE_ROW_PER_RECORD = np.zeros(0, dtype=np.int64)


def allocated_table(rows: int) -> PacketTable:
    """A table of ``rows`` rows whose columns are allocated, not filled (the decoder fills them)."""
    return PacketTable(**{name: np.empty(rows, dtype=dtype) for name, dtype in COLUMN_DTYPES.items()})


def empty_table(rows: int = 0) -> PacketTable:
    """A table of ``rows`` zeroed rows (``vlan_id`` set to NO_VLAN, ``tunnel_id`` to NO_TUNNEL_ID)."""
    table = PacketTable(**{name: np.zeros(rows, dtype=dtype) for name, dtype in COLUMN_DTYPES.items()})
    table.vlan_id[:] = NO_VLAN
    table.tunnel_id[:] = NO_TUNNEL_ID
    return table
