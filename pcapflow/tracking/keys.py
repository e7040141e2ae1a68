"""Conversation keys: both endpoints in a canonical order, the packet's direction, and a hash.

An endpoint is (address, port). For ICMP and ICMPv6 the "ports" follow Zeek and Community ID:
the sender's port is the message type, the receiver's is the counterpart type of a
request/reply pair (echo 8<->0, 128<->129...) or the message code for one-way types, so that a
request and its reply share a key. Other IP protocols have port 0 on both sides.

Endpoint A is the smaller of the two (address, then port); ``direction`` is 0 for packets sent
by A and 1 for packets sent by B. The key is hashed to one uint64 per packet, with a seed the
tracker changes if two different keys ever share a hash, so grouping stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapflow.decode.table import NO_VLAN, PacketTable

IPPROTO_ICMP = 1
IPPROTO_ICMPV6 = 58

#: ICMP request/reply counterparts (Zeek's ICMP4_counterpart, Community ID's mirror).
ICMP_COUNTERPART = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
ICMPV6_COUNTERPART = {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131, 131: 130, 139: 140, 140: 139, 144: 145, 145: 144}
#: The request half of each pair: its sender is the client.
ICMP_REQUESTS = (8, 13, 15, 10, 17)
ICMPV6_REQUESTS = (128, 133, 135, 130, 139, 144)


def _lookup(pairs: dict[int, int]) -> np.ndarray:
    table = np.full(256, -1, dtype=np.int64)
    table[list(pairs)] = list(pairs.values())
    return table


_ICMP_COUNTERPART = _lookup(ICMP_COUNTERPART)
_ICMPV6_COUNTERPART = _lookup(ICMPV6_COUNTERPART)

#: The key columns, in comparison order after the protocol.
KEY_COLUMNS = ("proto", "vlan", "a_hi", "a_lo", "a_port", "b_hi", "b_lo", "b_port")


@dataclass(slots=True)
class Keys:
    """Canonical key columns, one entry per packet."""

    proto: np.ndarray  # uint8
    vlan: np.ndarray  # uint16 (NO_VLAN unless VLANs are part of the key)
    a_hi: np.ndarray  # uint64
    a_lo: np.ndarray
    a_port: np.ndarray  # uint16
    b_hi: np.ndarray
    b_lo: np.ndarray
    b_port: np.ndarray
    direction: np.ndarray  # uint8: 0 = sent by A


def endpoint_ports(table: PacketTable) -> tuple[np.ndarray, np.ndarray]:
    """(source port, destination port) of every packet, with ICMP types/codes as ports."""
    src_port = table.src_port.astype(np.uint16)
    dst_port = table.dst_port.astype(np.uint16)
    for proto, counterparts in ((IPPROTO_ICMP, _ICMP_COUNTERPART), (IPPROTO_ICMPV6, _ICMPV6_COUNTERPART)):
        rows = table.ip_proto == proto
        if rows.any():
            kind = table.icmp_type[rows]
            partner = counterparts[kind]
            src_port[rows] = kind
            dst_port[rows] = np.where(partner >= 0, partner, table.icmp_code[rows])
    return src_port, dst_port


def canonical_keys(table: PacketTable, src_port: np.ndarray, dst_port: np.ndarray, vlan_in_key: bool) -> Keys:
    """Order each packet's endpoints so that both directions of a conversation share one key."""
    src = (table.src_ip_hi, table.src_ip_lo, src_port)
    dst = (table.dst_ip_hi, table.dst_ip_lo, dst_port)
    src_first = (src[0] < dst[0]) | (src[0] == dst[0]) & ((src[1] < dst[1]) | (src[1] == dst[1]) & (src[2] <= dst[2]))
    a = [np.where(src_first, s, d) for s, d in zip(src, dst)]
    b = [np.where(src_first, d, s) for s, d in zip(src, dst)]
    vlan = table.vlan_id if vlan_in_key else np.full(len(table), NO_VLAN, dtype=np.uint16)
    return Keys(
        proto=table.ip_proto,
        vlan=vlan,
        a_hi=a[0],
        a_lo=a[1],
        a_port=a[2],
        b_hi=b[0],
        b_lo=b[1],
        b_port=b[2],
        direction=(~src_first).astype(np.uint8),
    )


def hash_keys(columns: list[np.ndarray], seed: int) -> np.ndarray:
    """A 64-bit hash of each row of the key columns (splitmix64-style mixing)."""
    with np.errstate(over="ignore"):
        h = np.full(len(columns[0]), np.uint64(0x9E3779B97F4A7C15) * np.uint64(seed + 1), dtype=np.uint64)
        for column in columns:
            h ^= column.astype(np.uint64)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(31)
            h *= np.uint64(0x94D049BB133111EB)
            h ^= h >> np.uint64(29)
    return h

