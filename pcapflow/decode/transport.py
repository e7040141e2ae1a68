"""Transport layer: TCP, UDP and SCTP ports; TCP flags, sequence numbers and data offset;
ICMP/ICMPv6 type and code; the payload length of every tracked packet.

A transport header cut by the snaplen after its first four bytes still gives the ports: such a
row is ``PORTS_ONLY`` (tracked; flags and payload unknown, counted as 0). Payload lengths come
from the IP and transport headers. A first fragment's payload is what this fragment carries, so
that the payloads of all fragments add up to the datagram's.
"""

from __future__ import annotations

import numpy as np

from pcapflow.decode.cursor import Cursor
from pcapflow.decode.table import DecodeStatus

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58
IPPROTO_SCTP = 132

#: Fixed header size by IP protocol: what must be captured beyond the ports to decode the rest.
_HEADER_BYTES = np.zeros(256, dtype=np.int64)
_HEADER_BYTES[[IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP]] = (20, 8, 12)


def _ports(cursor: Cursor, rows: np.ndarray) -> np.ndarray:
    """Read the ports of ``rows``; return those with the protocol's whole fixed header captured."""
    rows = cursor.require(rows, 4, DecodeStatus.TRUNCATED_TRANSPORT)
    at = cursor.at(rows)
    cursor.put(cursor.table.src_port, rows, cursor.views.be16[at])
    cursor.put(cursor.table.dst_port, rows, cursor.views.be16[at + 2])
    size = _HEADER_BYTES[cursor.of(cursor.table.ip_proto, rows)]
    # a datagram too short for the header is malformed, whatever the snaplen let through
    fits = cursor.of(cursor.ip_left, rows) >= size
    rows, size = cursor.keep(rows, fits, DecodeStatus.BAD_TRANSPORT_HEADER), size[fits]
    return cursor.keep(rows, cursor.present(rows, size), DecodeStatus.PORTS_ONLY)


def _tcp(cursor: Cursor, rows: np.ndarray) -> None:
    views, table = cursor.views, cursor.table
    at = cursor.at(rows)
    header = (views.u8[at + 12] >> 4).astype(np.int64) * 4
    valid = (header >= 20) & (header <= cursor.of(cursor.ip_left, rows))
    rows, header, at = cursor.keep(rows, valid, DecodeStatus.BAD_TRANSPORT_HEADER), header[valid], at[valid]
    cursor.put(table.tcp_seq, rows, views.be32[at + 4])
    cursor.put(table.tcp_ack, rows, views.be32[at + 8])
    cursor.put(table.tcp_flags, rows, views.be16[at + 12] & 0x01FF)
    cursor.put(table.payload_bytes, rows, cursor.of(cursor.ip_left, rows) - header)


def _udp(cursor: Cursor, rows: np.ndarray) -> None:
    table = cursor.table
    length = cursor.views.be16[cursor.at(rows, 4)].astype(np.int64)
    ip_left = cursor.of(cursor.ip_left, rows)
    # a first fragment holds only part of the datagram the UDP length describes
    fragmented = cursor.of(table.more_fragments, rows)
    valid = fragmented & (ip_left >= 8) | (length >= 8) & (length <= ip_left)
    rows = cursor.keep(rows, valid, DecodeStatus.BAD_TRANSPORT_HEADER)
    cursor.put(table.payload_bytes, rows, np.where(fragmented[valid], ip_left[valid], length[valid]) - 8)


def _sctp(cursor: Cursor, rows: np.ndarray) -> None:
    rows = cursor.keep(rows, cursor.of(cursor.ip_left, rows) >= 12, DecodeStatus.BAD_TRANSPORT_HEADER)
    cursor.put(cursor.table.payload_bytes, rows, cursor.of(cursor.ip_left, rows) - 12)


def _icmp(cursor: Cursor, rows: np.ndarray) -> None:
    rows = cursor.require(rows, 2, DecodeStatus.TRUNCATED_TRANSPORT)
    at = cursor.at(rows)
    cursor.put(cursor.table.icmp_type, rows, cursor.views.u8[at])
    cursor.put(cursor.table.icmp_code, rows, cursor.views.u8[at + 1])
    rows = cursor.keep(rows, cursor.of(cursor.ip_left, rows) >= 2, DecodeStatus.BAD_TRANSPORT_HEADER)
    cursor.put(cursor.table.payload_bytes, rows, np.maximum(cursor.of(cursor.ip_left, rows) - 8, 0))


def decode_transport(cursor: Cursor, rows: np.ndarray) -> None:
    """Decode the transport headers of ``rows`` (IP rows that are not later fragments)."""
    table = cursor.table
    proto = cursor.of(table.ip_proto, rows)
    has_ports = _HEADER_BYTES[proto] > 0
    with_ports = _ports(cursor, rows[has_ports])
    proto_of = cursor.of(table.ip_proto, with_ports)
    _tcp(cursor, with_ports[proto_of == IPPROTO_TCP])
    _udp(cursor, with_ports[proto_of == IPPROTO_UDP])
    _sctp(cursor, with_ports[proto_of == IPPROTO_SCTP])
    icmp = (proto == IPPROTO_ICMP) | (proto == IPPROTO_ICMPV6)
    _icmp(cursor, rows[icmp])
    others = rows[~has_ports & ~icmp]
    table.payload_bytes[others] = cursor.ip_left[others]
