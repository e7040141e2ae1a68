"""Community ID v1 (corelight/community-id-spec): a flow hash other tools can join on.

``"1:" + base64(sha1(seed . saddr . daddr . proto . 0 . sport . dport))`` with a 16-bit seed
(0 here), addresses of 4 or 16 bytes and 16-bit ports, all in network byte order. The tuple is
ordered so that (saddr, sport) < (daddr, dport); ICMP and ICMPv6 use type and counterpart type
(or code for one-way messages, which are never reordered). Ports are hashed only for TCP, UDP,
SCTP, ICMP and ICMPv6.
"""

from __future__ import annotations

import base64
import hashlib
import struct

import numpy as np

from pcapflow.tracking.keys import ICMP_COUNTERPART, ICMPV6_COUNTERPART, IPPROTO_ICMP, IPPROTO_ICMPV6

PORT_PROTOCOLS = (6, 17, 132, IPPROTO_ICMP, IPPROTO_ICMPV6)


def community_id(saddr: bytes, daddr: bytes, proto: int, sport: int, dport: int, seed: int = 0) -> str:
    """The Community ID of one flow tuple, given in the direction of its first packet."""
    one_way = False
    if proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
        counterparts = ICMP_COUNTERPART if proto == IPPROTO_ICMP else ICMPV6_COUNTERPART
        one_way = sport not in counterparts  # sport is the type, dport already the counterpart or code
    if not one_way and (saddr, sport) > (daddr, dport):
        saddr, daddr, sport, dport = daddr, saddr, dport, sport
    data = struct.pack("!H", seed) + saddr + daddr + struct.pack("!BB", proto, 0)
    if proto in PORT_PROTOCOLS:
        data += struct.pack("!HH", sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")


def _address_bytes(hi: int, lo: int, version: int) -> bytes:
    if version == 4:
        return struct.pack("!I", lo & 0xFFFF_FFFF)
    return struct.pack("!QQ", hi, lo)


def community_ids(rows: dict[str, np.ndarray]) -> list[str]:
    """Community ID of every conversation, from its first packet's direction."""
    a_first = rows["first_dir"] == 0
    columns = zip(
        rows["ip_version"].tolist(),
        rows["proto"].tolist(),
        rows["a_hi"].tolist(),
        rows["a_lo"].tolist(),
        rows["a_port"].tolist(),
        rows["b_hi"].tolist(),
        rows["b_lo"].tolist(),
        rows["b_port"].tolist(),
        a_first.tolist(),
    )
    out = []
    for version, proto, a_hi, a_lo, a_port, b_hi, b_lo, b_port, first in columns:
        a, b = _address_bytes(a_hi, a_lo, version), _address_bytes(b_hi, b_lo, version)
        out.append(community_id(a, b, proto, a_port, b_port) if first else community_id(b, a, proto, b_port, a_port))
    return out
