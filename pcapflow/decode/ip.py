"""Network layer: IPv4 (with options and fragments) and IPv6 (with extension headers).

Lengths come from the headers, never from ``caplen``, so a snaplen-cut packet keeps its true
sizes. A zero IPv4 total length or IPv6 payload length (segmentation offload on the capturing
host) is taken from the frame length, as Wireshark does. A header whose lengths contradict
themselves or the frame gets ``BAD_IP_HEADER``.

On leaving, ``offset`` points at the transport header and ``ip_left`` is the number of bytes
of the datagram from there on.
"""

from __future__ import annotations

import numpy as np

from pcapflow.decode.cursor import Cursor
from pcapflow.decode.link import ETHERTYPE_IPV4, ETHERTYPE_IPV6
from pcapflow.decode.table import DecodeStatus

IPV4_MAPPED_PREFIX = np.uint64(0xFFFF_0000_0000)

IPPROTO_HOPOPTS = 0
IPPROTO_ROUTING = 43
IPPROTO_FRAGMENT = 44
IPPROTO_AH = 51
IPPROTO_DSTOPTS = 60
IPPROTO_MOBILITY = 135
IPV6_EXTENSION_HEADERS = (IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_FRAGMENT, IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_MOBILITY)
MAX_EXTENSION_HEADERS = 8


def _datagram_length(cursor: Cursor, rows: np.ndarray, declared: np.ndarray) -> np.ndarray:
    """The declared IP length, or what the frame holds when a sender left it 0 (offload)."""
    on_wire = cursor.of(cursor.wirelen, rows) - cursor.of(cursor.offset, rows)
    return np.where(declared == 0, on_wire, declared)


def _decode_ipv4(cursor: Cursor, rows: np.ndarray) -> None:
    views, table = cursor.views, cursor.table
    rows = cursor.require(rows, 20, DecodeStatus.TRUNCATED_IP)
    at = cursor.at(rows)
    first = views.u8[at]
    header = (first & 0x0F).astype(np.int64) * 4
    total = _datagram_length(cursor, rows, views.be16[at + 2].astype(np.int64))
    well_formed = ((first >> 4) == 4) & (header >= 20)
    consistent = (total >= header) & (total <= cursor.of(cursor.wirelen, rows) - cursor.of(cursor.offset, rows))
    captured = cursor.present(rows, header)
    if not (well_formed.all() and consistent.all() and captured.all()):  # rare: sort out which status
        cursor.stop(rows[well_formed & ~captured], DecodeStatus.TRUNCATED_IP)
        cursor.stop(rows[~well_formed | captured & ~consistent], DecodeStatus.BAD_IP_HEADER)
        good = well_formed & captured & consistent
        rows, header, total, at = rows[good], header[good], total[good], at[good]
    flags_fragment = views.be16[at + 6]
    cursor.put(table.ip_version, rows, 4)
    cursor.put(table.ip_bytes, rows, total)
    cursor.put(table.ip_id, rows, views.be16[at + 4])
    cursor.put(table.more_fragments, rows, (flags_fragment & 0x2000) != 0)
    cursor.put(table.frag_offset, rows, (flags_fragment & 0x1FFF) * 8)
    cursor.put(table.ip_proto, rows, views.u8[at + 9])
    cursor.put(table.src_ip_hi, rows, 0)
    cursor.put(table.dst_ip_hi, rows, 0)
    cursor.put(table.src_ip_lo, rows, IPV4_MAPPED_PREFIX | views.be32[at + 12])
    cursor.put(table.dst_ip_lo, rows, IPV4_MAPPED_PREFIX | views.be32[at + 16])
    cursor.put(cursor.offset, rows, cursor.of(cursor.offset, rows) + header)
    cursor.put(cursor.ip_left, rows, total - header)


def _decode_ipv6(cursor: Cursor, rows: np.ndarray) -> None:
    views, table = cursor.views, cursor.table
    rows = cursor.require(rows, 40, DecodeStatus.TRUNCATED_IP)
    rows = cursor.keep(rows, (views.u8[cursor.at(rows)] >> 4) == 6, DecodeStatus.BAD_IP_HEADER)
    at = cursor.at(rows)
    payload = views.be16[at + 4].astype(np.int64)
    total = _datagram_length(cursor, rows, np.where(payload == 0, 0, payload + 40))
    consistent = (total >= 40) & (total <= cursor.of(cursor.wirelen, rows) - cursor.of(cursor.offset, rows))
    rows, total, at = _keep_with(cursor, rows, (total, at), consistent, DecodeStatus.BAD_IP_HEADER)
    cursor.put(table.ip_version, rows, 6)
    cursor.put(table.ip_bytes, rows, total)
    cursor.put(table.src_ip_hi, rows, views.be64[at + 8])
    cursor.put(table.src_ip_lo, rows, views.be64[at + 16])
    cursor.put(table.dst_ip_hi, rows, views.be64[at + 24])
    cursor.put(table.dst_ip_lo, rows, views.be64[at + 32])
    next_header = views.u8[at + 6].astype(np.int64)
    cursor.put(cursor.offset, rows, cursor.of(cursor.offset, rows) + 40)
    cursor.put(cursor.ip_left, rows, total - 40)
    _walk_extension_headers(cursor, rows, next_header)


def _walk_extension_headers(cursor: Cursor, rows: np.ndarray, next_header: np.ndarray) -> None:
    """Step over IPv6 extension headers; a fragment header with a non-zero offset ends the walk."""
    views, table = cursor.views, cursor.table
    cursor.put(table.ip_proto, rows, next_header)
    walking = rows[np.isin(next_header, IPV6_EXTENSION_HEADERS)]
    for _ in range(MAX_EXTENSION_HEADERS):
        if not len(walking):
            return
        kind = cursor.of(table.ip_proto, walking)
        fragment = kind == IPPROTO_FRAGMENT
        walking = cursor.require(walking, np.where(fragment, 8, 2), DecodeStatus.TRUNCATED_IP)
        kind = cursor.of(table.ip_proto, walking)
        fragment = kind == IPPROTO_FRAGMENT
        at = cursor.at(walking)
        declared = views.u8[at + 1].astype(np.int64)
        length = np.select([fragment, kind == IPPROTO_AH], [8, (declared + 2) * 4], (declared + 1) * 8)
        walking, length, at, fragment = _keep_with(
            cursor, walking, (length, at, fragment), length <= cursor.of(cursor.ip_left, walking), DecodeStatus.BAD_IP_HEADER
        )
        fragments = walking[fragment]
        field = views.be16[at[fragment] + 2]
        table.frag_offset[fragments] = field & 0xFFF8
        table.more_fragments[fragments] = (field & 1) != 0
        table.ip_id[fragments] = views.be32[at[fragment] + 4]
        cursor.put(table.ip_proto, walking, views.u8[at])
        cursor.put(cursor.offset, walking, cursor.of(cursor.offset, walking) + length)
        cursor.put(cursor.ip_left, walking, cursor.of(cursor.ip_left, walking) - length)
        # the headers behind a non-first fragment's header are fragment data, not headers
        carries_on = np.isin(cursor.of(table.ip_proto, walking), IPV6_EXTENSION_HEADERS) & ~(
            fragment & (cursor.of(table.frag_offset, walking) > 0)
        )
        walking = walking[carries_on]
    cursor.stop(walking, DecodeStatus.BAD_IP_HEADER)  # more extension headers than any sane packet has


def _keep_with(cursor: Cursor, rows: np.ndarray, companions, mask: np.ndarray, status: DecodeStatus):
    """Like :meth:`Cursor.keep`, filtering per-row companion arrays alongside."""
    kept = cursor.keep(rows, mask, status)
    if isinstance(companions, tuple):
        return (kept, *(companion[mask] for companion in companions))
    return kept, companions[mask]


def decode_ip(cursor: Cursor, rows: np.ndarray) -> np.ndarray:
    """Decode the IP headers of ``rows``; return the rows with a transport header to decode next.

    Non-first fragments get status ``FRAGMENT`` here: what they carry is fragment data.
    """
    ethertype = cursor.of(cursor.ethertype, rows)
    _decode_ipv4(cursor, rows[ethertype == ETHERTYPE_IPV4])
    _decode_ipv6(cursor, rows[ethertype == ETHERTYPE_IPV6])
    table = cursor.table
    rows = rows[cursor.of(table.status, rows) == DecodeStatus.OK]
    later_fragment = cursor.of(table.frag_offset, rows) > 0
    fragments = rows[later_fragment]
    cursor.stop(fragments, DecodeStatus.FRAGMENT)
    table.payload_bytes[fragments] = cursor.ip_left[fragments]
    return rows[~later_fragment]
