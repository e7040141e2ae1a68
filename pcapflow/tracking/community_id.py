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
from collections.abc import Mapping

import numpy as np

from pcapflow.protocols import ICMP_COUNTERPARTS, IPPROTO_ICMP, IPPROTO_ICMPV6, PORT_PROTOCOLS


def community_id(saddr: bytes, daddr: bytes, proto: int, sport: int, dport: int, seed: int = 0) -> str:
    """The Community ID of one flow tuple, given in the direction of its first packet."""
    one_way = False
    if proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
        one_way = sport not in ICMP_COUNTERPARTS[proto]  # sport is the type, dport already the counterpart or code
    if not one_way and (saddr, sport) > (daddr, dport):
        saddr, daddr, sport, dport = daddr, saddr, dport, sport
    data = struct.pack("!H", seed) + saddr + daddr + struct.pack("!BB", proto, 0)
    if proto in PORT_PROTOCOLS:
        data += struct.pack("!HH", sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")


def _hash_inputs(rows: dict[str, np.ndarray], index: np.ndarray, v6: bool, forward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The hash input of conversations ``index`` (one family), one row of bytes each, and whether
    each has ports."""
    def endpoint(side: str) -> tuple[list[np.ndarray], np.ndarray]:
        address = [rows[f"{side}_hi"][index], rows[f"{side}_lo"][index]] if v6 else [rows[f"{side}_lo"][index] & 0xFFFF_FFFF]
        return address, rows[f"{side}_port"][index]

    (a_address, a_port), (b_address, b_port) = endpoint("a"), endpoint("b")
    source = [np.where(forward, a, b) for a, b in zip(a_address, b_address)]
    destination = [np.where(forward, b, a) for a, b in zip(a_address, b_address)]
    proto = rows["proto"][index]
    with_ports = np.isin(proto, PORT_PROTOCOLS)
    fields = [np.zeros(len(index), dtype=">u2")]  # the seed
    fields += [part.astype(">u8" if v6 else ">u4") for part in source + destination]
    fields += [proto.astype("u1"), np.zeros(len(index), dtype="u1")]
    fields += [np.where(with_ports, np.where(forward, a_port, b_port), 0).astype(">u2"),
               np.where(with_ports, np.where(forward, b_port, a_port), 0).astype(">u2")]
    matrix = np.concatenate([field.reshape(-1, 1).view(np.uint8) for field in fields], axis=1)
    # protocols without ports hash 4 bytes fewer
    return matrix, with_ports


def community_ids(rows: dict[str, np.ndarray]) -> np.ndarray:
    """Community ID of every conversation, as fixed-width text (Python work per conversation:
    one SHA-1)."""
    proto = rows["proto"]
    icmp = (proto == IPPROTO_ICMP) | (proto == IPPROTO_ICMPV6)
    a_first = rows["first_dir"] == 0
    one_way = icmp & ~_is_pair(proto, np.where(a_first, rows["a_port"], rows["b_port"]))
    # endpoint A is already the smaller (address, port): ordered tuples start with it, one-way
    # ICMP messages start with their sender
    forward = np.where(one_way, a_first, True)
    out = np.empty(len(proto), dtype="U30")
    for v6 in (False, True):
        index = np.flatnonzero((rows["ip_version"] == 6) == v6)
        if not len(index):
            continue
        matrix, with_ports = _hash_inputs(rows, index, v6, forward[index])
        width = matrix.shape[1]
        data = matrix.tobytes()
        sizes = np.where(with_ports, width, width - 4).tolist()
        digests = b"".join([hashlib.sha1(data[row * width : row * width + size]).digest() + b"\0" for row, size in enumerate(sizes)])
        out[index] = _base64_each(digests)
    return out


def conversation_community_ids(columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """Community ID of every conversation of a tracker's finished columns (client and server
    endpoints, ``proto``, ``ip_version`` and ``client_first``: who sent the first packet)."""
    client = [np.asarray(columns[f"client_{name}"]) for name in ("ip_hi", "ip_lo", "port")]
    server = [np.asarray(columns[f"server_{name}"]) for name in ("ip_hi", "ip_lo", "port")]
    # endpoint A of the tracker's key is the smaller (address, port): see keys.canonical_keys
    client_is_a = (client[0] < server[0]) | (client[0] == server[0]) & (
        (client[1] < server[1]) | (client[1] == server[1]) & (client[2] <= server[2])
    )
    rows = {"proto": np.asarray(columns["proto"]), "ip_version": np.asarray(columns["ip_version"]),
            "first_dir": np.where(client_is_a == np.asarray(columns["client_first"]), 0, 1)}
    for name, mine, theirs in zip(("hi", "lo", "port"), client, server):
        rows[f"a_{name}"], rows[f"b_{name}"] = np.where(client_is_a, mine, theirs), np.where(client_is_a, theirs, mine)
    return community_ids(rows)


def _base64_each(digests: bytes) -> np.ndarray:
    """``"1:" + base64(digest)`` of every 20-byte digest in ``digests`` (each followed by a 0 byte).

    21 bytes encode to exactly 28 characters, so one call encodes them all; the zero byte's
    last character is where a 20-byte digest's ``=`` padding goes.
    """
    encoded = bytearray(base64.b64encode(digests))
    encoded[27::28] = b"=" * (len(encoded) // 28)
    return np.char.add("1:", np.frombuffer(bytes(encoded), dtype="S28").astype("U28"))


def _is_pair(proto: np.ndarray, icmp_type: np.ndarray) -> np.ndarray:
    return ((proto == IPPROTO_ICMP) & np.isin(icmp_type, list(ICMP_COUNTERPARTS[IPPROTO_ICMP]))) | (
        (proto == IPPROTO_ICMPV6) & np.isin(icmp_type, list(ICMP_COUNTERPARTS[IPPROTO_ICMPV6]))
    )
