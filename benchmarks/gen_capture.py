#!/usr/bin/env python3
"""Seeded synthetic classic-pcap generator for pcapflow's benchmarks (standard library + numpy).

    python benchmarks/gen_capture.py --packets 1000000 --flows 60000 --seed 1 --out /tmp/pcapflow-bench/bench-1000000.pcap
    python benchmarks/gen_capture.py --packets 100000 --flows 6000 --seed 1 --files 1000 --out /tmp/many/many.pcap

Writes a little-endian, microsecond classic pcap (link type 1, Ethernet, snaplen 65535) that looks
like an edge capture, and ``OUT.truth.json``: what pcapflow must find in it (records, conversations
per protocol and per (protocol, server port), Zeek ``conn_state`` counts, role evidence, packets
per protocol). ``--flows`` is the number of conversations; ``--packets`` the number of records.

Traffic: ~10 % of conversations over IPv6, ~1 % on a 802.1Q VLAN. TCP (85 %): complete
conversations (SYN, SYN-ACK, ACK, data both ways, FIN-ACK teardown from either side: SF), some
reset by the client (RSTO) or the server (RSTR), unanswered SYNs with retransmissions (S0), refused
ones (SYN, then RST-ACK: REJ), and ~1 % that reuse the exact 5-tuple of an earlier finished
conversation with a new initial sequence number. UDP (12 %): DNS query/response on 53 (a few
unanswered), NTP on 123, QUIC on 443, one-way syslog on 514. ICMP and ICMPv6 echo (3 %, a few
unanswered). ARP requests and replies (0.1 % of the records; not conversations). Clients use
ephemeral ports 49152-65535; a few thousand servers on well-known ports, popularity skewed.

Conversations start at random over ``--duration`` seconds and each lasts at most 30 s (TCP) or
20-25 s (UDP, ICMP), so none is split by pcapflow's idle timeouts (300 s and 60 s); timestamps are
non-decreasing. Lengths are consistent (IPv4 total length with its header checksum, IPv6 payload
length, UDP length, TCP data offset, caplen = wirelen); IPv4 frames shorter than 60 bytes are
padded with zeros. Payloads are random bytes (DNS messages are well formed); IPv4 header and
ICMP checksums are right, TCP and UDP checksums are left 0, as in captures taken with checksum
offload.

How: every conversation is planned up front (numpy arrays, ordered by start time); then batches of
conversations become packet descriptors, and the descriptors that no later conversation can
precede are sorted and rendered into record bytes with structured numpy arrays, chunk by chunk,
so memory stays flat whatever ``--packets`` is. The output depends only on the arguments other
than ``--out`` and ``--files``: ``--files K`` writes the same records as ``--files 1``, each
conversation whole in one of ``K`` files (``OUT`` without its ``.pcap`` suffix, then
``-0000.pcap``...), the files in time order (a file's conversations start after those of the one
before it; they may overlap in time).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

# -- conversation kinds ---------------------------------------------------------------------------
SF, RSTO, RSTR, S0, REJ, DNS, DNS_LOST, NTP, QUIC, SYSLOG, PING, PING_LOST, ARP = range(13)
KIND_NAMES = ("SF", "RSTO", "RSTR", "S0", "REJ", "DNS", "DNS_LOST", "NTP", "QUIC", "SYSLOG", "PING", "PING_LOST", "ARP")
TCP_KINDS = (SF, RSTO, RSTR, S0, REJ)
UDP_KINDS = (DNS, DNS_LOST, NTP, QUIC, SYSLOG)
#: Zeek conn_state pcapflow must give each kind (ICMP: OTH).
CONN_STATE = {SF: "SF", RSTO: "RSTO", RSTR: "RSTR", S0: "S0", REJ: "REJ", DNS: "SF", DNS_LOST: "S0", NTP: "SF", QUIC: "SF",
              SYSLOG: "S0", PING: "OTH", PING_LOST: "OTH"}

# -- traffic mix ----------------------------------------------------------------------------------
IPV6_SHARE = 0.10
VLAN_SHARE = 0.01
VLAN_IDS = np.array([10, 20, 100, 200], dtype=np.uint16)
ICMP_SHARE, UDP_SHARE = 0.03, 0.12  # the rest is TCP
PING_LOST_SHARE = 0.10  # of ICMP conversations
TCP_MIX = ((SF, 0.85), (RSTO, 0.04), (RSTR, 0.03), (S0, 0.04), (REJ, 0.04))
DNS_LOST_SHARE = 0.03  # of DNS conversations
REUSE_SHARE = 0.01  # of TCP conversations
ARP_SHARE = 0.001  # of records
UDP_SERVER_SHARE = 0.15  # of servers
TCP_PORTS = ((443, 40), (80, 20), (22, 5), (25, 4), (3306, 5), (8080, 6), (993, 2), (5432, 3), (6379, 3), (8443, 4),
             (21, 1), (3389, 2))
UDP_PORTS = ((53, 60), (123, 12), (443, 15), (514, 5))
UDP_KIND_OF_PORT = {53: DNS, 123: NTP, 443: QUIC, 514: SYSLOG}
EPHEMERAL = 49152  # client ports: 49152-65535

# -- timing (microseconds) ------------------------------------------------------------------------
SECOND = 1_000_000
MAX_SPAN = {"tcp": 30 * SECOND, "udp": 20 * SECOND, "icmp": 25 * SECOND, "arp": SECOND}
#: A reused 5-tuple starts this long after its first conversation's start (which lasts at most 30 s).
REUSE_AFTER = MAX_SPAN["tcp"] + 2 * SECOND
BASE_SECONDS = 1_700_000_000

# -- packet counts --------------------------------------------------------------------------------
#: packets every conversation of a kind has, and at most how many more it can be given.
BASE_PACKETS = {SF: 9, RSTO: 5, RSTR: 5, S0: 1, REJ: 2, DNS: 2, DNS_LOST: 1, NTP: 2, QUIC: 2, SYSLOG: 1, PING: 2,
                PING_LOST: 1, ARP: 2}
EXTRA_CAP = {SF: 4000, RSTO: 4000, RSTR: 4000, QUIC: 3000, SYSLOG: 100, PING: 38, PING_LOST: 3}

# -- wire format ----------------------------------------------------------------------------------
LINKTYPE_ETHERNET = 1
SNAPLEN = 65535
PCAP_HEADER = np.array([0xA1B2C3D4, 0x00040002, 0, 0, SNAPLEN, LINKTYPE_ETHERNET], dtype="<u4").tobytes()
PCAP_HEADER_BYTES = 24
MIN_FRAME = 60
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
ROUTER_MAC = 0x00005E0001FE
BROADCAST_MAC = 0xFFFFFFFFFFFF
ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_ARP, ETHERTYPE_VLAN = 0x0800, 0x86DD, 0x0806, 0x8100
DNS_QUERY_BYTES, DNS_ANSWER_BYTES, NTP_BYTES, ECHO_BYTES = 37, 16, 48, 56

#: Conversations turned into packets at a time, and packets rendered into bytes at a time.
FLOW_BATCH = 4096
RENDER_PACKETS = 1 << 16
RENDER_PACKETS_SPLIT = 1 << 13  # with --files: records are regrouped through a per-byte index
PAYLOAD_POOL = 1 << 24

_REC = np.dtype([("sec", "<u4"), ("usec", "<u4"), ("caplen", "<u4"), ("wirelen", "<u4")])
_ETH = np.dtype([("dst", "u1", 6), ("src", "u1", 6), ("type", ">u2")])
_ETH_VLAN = np.dtype([("dst", "u1", 6), ("src", "u1", 6), ("tpid", ">u2"), ("tci", ">u2"), ("type", ">u2")])
_IP4 = np.dtype([("vihl", "u1"), ("tos", "u1"), ("len", ">u2"), ("id", ">u2"), ("frag", ">u2"), ("ttl", "u1"),
                 ("proto", "u1"), ("csum", ">u2"), ("src", ">u4"), ("dst", ">u4")])
_IP6 = np.dtype([("vtcfl", ">u4"), ("plen", ">u2"), ("next", "u1"), ("hlim", "u1"), ("src", ">u8", 2), ("dst", ">u8", 2)])
_TCP = np.dtype([("sport", ">u2"), ("dport", ">u2"), ("seq", ">u4"), ("ack", ">u4"), ("offset", "u1"), ("flags", "u1"),
                 ("window", ">u2"), ("csum", ">u2"), ("urgent", ">u2")])
# MSS, SACK permitted, timestamps, NOP, window scale 7: 20 bytes (data offset 10)
_TCP_SYN_OPTIONS = np.dtype([("mss_kind", ">u2"), ("mss", ">u2"), ("sack", ">u2"), ("ts_kind", ">u2"), ("tsval", ">u4"),
                             ("tsecr", ">u4"), ("nop", "u1"), ("wscale", "u1", 3)])
# NOP, NOP, timestamps: 12 bytes (data offset 8)
_TCP_TS_OPTIONS = np.dtype([("nops", ">u2"), ("ts_kind", ">u2"), ("tsval", ">u4"), ("tsecr", ">u4")])
_UDP = np.dtype([("sport", ">u2"), ("dport", ">u2"), ("len", ">u2"), ("csum", ">u2")])
_ICMP_ECHO = np.dtype([("type", "u1"), ("code", "u1"), ("csum", ">u2"), ("id", ">u2"), ("seq", ">u2")])
_DNS_QUERY = np.dtype([("id", ">u2"), ("flags", ">u2"), ("qd", ">u2"), ("an", ">u2"), ("ns", ">u2"), ("ar", ">u2"),
                       ("qname", "u1", 21), ("qtype", ">u2"), ("qclass", ">u2")])
_DNS_ANSWER = np.dtype([("name", ">u2"), ("type", ">u2"), ("class", ">u2"), ("ttl", ">u4"), ("rdlen", ">u2"), ("addr", ">u4")])
_NTP_HEAD = np.dtype([("mode", "u1"), ("stratum", "u1"), ("poll", "u1"), ("precision", "u1")])
_ARP = np.dtype([("htype", ">u2"), ("ptype", ">u2"), ("hlen", "u1"), ("plen", "u1"), ("op", ">u2"), ("sha", "u1", 6),
                 ("spa", ">u4"), ("tha", "u1", 6), ("tpa", ">u4")])
assert (_DNS_QUERY.itemsize, _DNS_ANSWER.itemsize, _ARP.itemsize) == (DNS_QUERY_BYTES, DNS_ANSWER_BYTES, 28)
# "\x03www\x07example\x03???\x03com\x00": the three letters vary per conversation
_QNAME = np.frombuffer(b"\x03www\x07example\x03abc\x03com\x00", dtype=np.uint8)


# -- planning: every conversation, ordered by start time ------------------------------------------


@dataclass
class Plan:
    """One entry per conversation or ARP exchange ("flow"), in order of start time (= its rank)."""

    start: np.ndarray  # int64 us from the capture start
    kind: np.ndarray  # int8
    v6: np.ndarray  # bool
    vlan: np.ndarray  # uint16, 0 = untagged
    c_hi: np.ndarray  # uint64 client address (IPv4 in c_lo)
    c_lo: np.ndarray
    s_hi: np.ndarray
    s_lo: np.ndarray
    c_port: np.ndarray  # uint16 (ICMP and ARP: 0)
    s_port: np.ndarray
    c_mac: np.ndarray  # uint64
    s_ttl: np.ndarray  # uint8: the server's TTL / hop limit as seen here
    ident: np.ndarray  # uint32: ICMP id, DNS id, IP id base, letters, TCP timestamps...
    isn_c: np.ndarray  # uint32
    isn_s: np.ndarray
    closer: np.ndarray  # bool: the client sends the first FIN
    rtt: np.ndarray  # float64 us
    reuse: np.ndarray  # bool: reuses an earlier conversation's 5-tuple
    n: np.ndarray  # int64 packets
    file: np.ndarray  # int32: which output file

    def take(self, order: np.ndarray) -> None:
        for name, column in vars(self).items():
            setattr(self, name, column[order])


def unique_integers(rng: np.random.Generator, size: int, high: int) -> np.ndarray:
    """``size`` distinct integers drawn uniformly from [0, high)."""
    if size > high:
        raise ValueError(f"cannot draw {size} distinct values below {high}")
    values = rng.integers(0, high, size, dtype=np.int64)
    while True:
        _, first = np.unique(values, return_index=True)
        again = np.ones(size, dtype=bool)
        again[first] = False
        if not again.any():
            return values
        values[again] = rng.integers(0, high, int(again.sum()), dtype=np.int64)


def _weighted(rng: np.random.Generator, choices, size: int) -> np.ndarray:
    values = np.array([value for value, _ in choices])
    weights = np.array([weight for _, weight in choices], dtype=np.float64)
    return values[rng.choice(len(values), size, p=weights / weights.sum())]


def _addresses(rng: np.random.Generator, size: int, v6: bool, client: bool) -> tuple[np.ndarray, np.ndarray]:
    """``size`` distinct addresses: clients in 10.0.0.0/8 or fd00:1::/32, servers in public v4 /8s or 2001:db8::/32."""
    if not v6:
        if client:  # 10.x.y.z, z in 1..254
            raw = unique_integers(rng, size, (1 << 16) * 254)
            lo = (10 << 24) | ((raw // 254) << 8) | (raw % 254 + 1)
        else:
            prefixes = np.array([23, 52, 93, 104, 142, 151, 172, 185], dtype=np.int64)
            raw = unique_integers(rng, size, len(prefixes) << 24)
            lo = (prefixes[raw >> 24] << 24) | (raw & 0xFFFFFF)
        return np.zeros(size, dtype=np.uint64), lo.astype(np.uint64)
    prefix = 0xFD00_0001_0000_0000 if client else 0x2001_0DB8_0000_0000
    hi = np.uint64(prefix) | rng.integers(0, 1 << 16, size, dtype=np.uint64)
    lo = unique_integers(rng, size, 1 << 62).astype(np.uint64)  # distinct interface ids
    return hi, lo


def _allocate(total: int, weights: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Split ``total`` extra packets in proportion to ``weights``, none above its cap."""
    alloc = np.zeros(len(weights), dtype=np.int64)
    if total == 0:
        return alloc
    if int(caps.sum()) < total:
        raise ValueError("too many packets for that many flows: raise --flows")
    alloc = np.minimum(np.floor(total * weights / weights.sum()).astype(np.int64), caps)
    left = total - int(alloc.sum())
    order = np.argsort(-weights, kind="stable")
    while left > 0:
        spare = (caps - alloc)[order]
        share = max(1, left // int((spare > 0).sum()))
        add = np.minimum(spare, share)
        before = np.cumsum(add) - add
        add = np.clip(left - before, 0, add)
        alloc[order] += add
        left -= int(add.sum())
    return alloc


def plan_flows(packets: int, flows: int, seed: int, files: int, duration: float, servers: int, clients: int) -> Plan:
    rng = np.random.default_rng([seed, 0])
    arp_packets = round(packets * ARP_SHARE)
    arp_flows = (arp_packets + 1) // 2
    total = flows + arp_flows

    # kinds and address families
    kind = np.empty(total, dtype=np.int8)
    u = rng.random(flows)
    is_icmp, is_udp = u < ICMP_SHARE, (u >= ICMP_SHARE) & (u < ICMP_SHARE + UDP_SHARE)
    kind[:flows] = _weighted(rng, TCP_MIX, flows)
    kind[:flows][is_icmp] = np.where(rng.random(int(is_icmp.sum())) < PING_LOST_SHARE, PING_LOST, PING)
    kind[flows:] = ARP
    v6 = np.zeros(total, dtype=bool)
    v6[:flows] = rng.random(flows) < IPV6_SHARE
    vlan = np.where(rng.random(total) < VLAN_SHARE, VLAN_IDS[rng.integers(0, len(VLAN_IDS), total)], 0).astype(np.uint16)

    # servers: (family, protocol, port, address, TTL); each (family, protocol) pool is non-empty
    servers = max(servers, 4)
    srv_v6 = rng.random(servers) < IPV6_SHARE
    srv_udp = rng.random(servers) < UDP_SERVER_SHARE
    srv_v6[:4], srv_udp[:4] = [False, False, True, True], [False, True, False, True]
    srv_port = np.where(srv_udp, _weighted(rng, UDP_PORTS, servers), _weighted(rng, TCP_PORTS, servers)).astype(np.uint16)
    srv_hi = np.zeros(servers, dtype=np.uint64)
    srv_lo = np.zeros(servers, dtype=np.uint64)
    for family in (False, True):
        rows = np.flatnonzero(srv_v6 == family)
        srv_hi[rows], srv_lo[rows] = _addresses(rng, len(rows), family, client=False)
    srv_ttl = (64 - rng.integers(4, 20, servers)).astype(np.uint8)
    srv_ttl[rng.random(servers) < 0.3] += 64

    # each conversation's server, popularity skewed: a few servers get most conversations
    server = np.zeros(flows, dtype=np.int64)
    proto_udp = is_udp
    for family in (False, True):
        for udp in (False, True):
            pool = np.flatnonzero((srv_v6 == family) & (srv_udp == udp))
            rows = np.flatnonzero((v6[:flows] == family) & (proto_udp == udp))
            server[rows] = pool[(len(pool) * rng.random(len(rows)) ** 2.5).astype(np.int64)]
    udp_rows = np.flatnonzero(is_udp)
    kind[udp_rows] = np.vectorize(UDP_KIND_OF_PORT.__getitem__, otypes=[np.int8])(srv_port[server[udp_rows]])
    dns = np.flatnonzero(kind[:flows] == DNS)
    kind[dns[rng.random(len(dns)) < DNS_LOST_SHARE]] = DNS_LOST

    # clients; every TCP/UDP conversation gets its own client socket, every ICMP one its own pair of hosts
    n_clients = (max(clients, 16), max(clients // 10, 16))
    c_hi = np.zeros(total, dtype=np.uint64)
    c_lo = np.zeros(total, dtype=np.uint64)
    c_port = np.zeros(total, dtype=np.uint16)
    client = np.zeros(total, dtype=np.int64)
    ports = 65536 - EPHEMERAL
    icmp = np.isin(kind[:flows], (PING, PING_LOST))
    for family in (False, True):
        hi, lo = _addresses(rng, n_clients[family], family, client=True)
        rows = np.flatnonzero((v6[:flows] == family) & ~icmp)
        socket = unique_integers(rng, len(rows), n_clients[family] * ports)
        client[rows], c_port[rows] = socket // ports, EPHEMERAL + socket % ports
        rows = np.flatnonzero((v6[:flows] == family) & icmp)
        client[rows] = rng.integers(0, n_clients[family], len(rows))
        while True:  # distinct (client, server) pairs: ICMP keys have no client port
            pair = client[rows] * servers + server[rows]
            _, first = np.unique(pair, return_index=True)
            again = np.ones(len(rows), dtype=bool)
            again[first] = False
            if not again.any():
                break
            client[rows[again]] = rng.integers(0, n_clients[family], int(again.sum()))
        if not family:
            client[flows:] = rng.integers(0, n_clients[family], arp_flows)  # ARP: IPv4 clients
        rows = np.flatnonzero(v6 == family)
        c_hi[rows], c_lo[rows] = hi[client[rows]], lo[client[rows]]
    c_mac = (np.uint64(0x02_00_0000_0000) | ((client.astype(np.uint64) * np.uint64(2654435761)) & np.uint64(0xFFFF_FFFF))) + (
        v6.astype(np.uint64) << np.uint64(32)
    )

    s_hi = np.zeros(total, dtype=np.uint64)
    s_lo = np.zeros(total, dtype=np.uint64)
    s_port = np.zeros(total, dtype=np.uint16)
    s_ttl = np.full(total, 64, dtype=np.uint8)
    s_hi[:flows], s_lo[:flows], s_ttl[:flows] = srv_hi[server], srv_lo[server], srv_ttl[server]
    s_port[:flows] = np.where(icmp, 0, srv_port[server])
    s_lo[flows:] = (10 << 24) | 1  # ARP: who has the gateway

    plan = Plan(
        start=(rng.random(total) * duration * SECOND).astype(np.int64),
        kind=kind,
        v6=v6,
        vlan=vlan,
        c_hi=c_hi,
        c_lo=c_lo,
        s_hi=s_hi,
        s_lo=s_lo,
        c_port=c_port,
        s_port=s_port,
        c_mac=c_mac,
        s_ttl=s_ttl,
        ident=rng.integers(0, 1 << 32, total, dtype=np.uint32),
        isn_c=rng.integers(0, 1 << 32, total, dtype=np.uint32),
        isn_s=rng.integers(0, 1 << 32, total, dtype=np.uint32),
        closer=rng.random(total) < 0.5,
        rtt=np.clip(rng.lognormal(np.log(30_000), 1.0, total), 200, 400_000),
        reuse=np.zeros(total, dtype=bool),
        n=np.zeros(total, dtype=np.int64),
        file=np.zeros(total, dtype=np.int32),
    )
    plan.take(np.argsort(plan.start, kind="stable"))
    _plan_reuse(plan, rng)
    _plan_packets(plan, rng, packets - arp_packets, arp_packets)
    plan.file = (np.arange(total, dtype=np.int64) * files // total).astype(np.int32)
    return plan


def _plan_reuse(plan: Plan, rng: np.random.Generator) -> None:
    """Some SF conversations take the 5-tuple of an earlier finished TCP conversation (each at most once)."""
    wants = (plan.kind == SF) & (rng.random(len(plan.kind)) < REUSE_SHARE)
    eligible = np.flatnonzero(np.isin(plan.kind, (SF, RSTO, RSTR)) & ~wants)
    rows = np.flatnonzero(wants)
    if not len(rows) or not len(eligible):
        return
    # origins started at least REUSE_AFTER earlier, so they ended before this one starts
    before = np.searchsorted(plan.start[eligible], plan.start[rows] - REUSE_AFTER, side="right")
    pick = (rng.random(len(rows)) * before).astype(np.int64)
    rows, origin = rows[before > 0], eligible[np.minimum(pick, np.maximum(before - 1, 0))][before > 0]
    _, first = np.unique(origin, return_index=True)
    first.sort()
    rows, origin = rows[first], origin[first]
    for name in ("v6", "vlan", "c_hi", "c_lo", "s_hi", "s_lo", "c_port", "s_port", "c_mac", "s_ttl"):
        getattr(plan, name)[rows] = getattr(plan, name)[origin]
    step = rng.integers(1, 1 << 31, len(rows), dtype=np.uint64)
    plan.isn_c[rows] = ((plan.isn_c[origin].astype(np.uint64) + step) & np.uint64(0xFFFF_FFFF)).astype(np.uint32)
    plan.reuse[rows] = True


def _plan_packets(plan: Plan, rng: np.random.Generator, ip_packets: int, arp_packets: int) -> None:
    """Packets per conversation: each kind's minimum, then heavy-tailed extras up to exactly the total."""
    kind = plan.kind
    base = np.zeros(len(kind), dtype=np.int64)
    for k, count in BASE_PACKETS.items():
        base[kind == k] = count
    s0 = np.flatnonzero(kind == S0)
    base[s0] += _weighted(rng, ((0, 0.5), (1, 0.3), (2, 0.2)), len(s0))  # SYN retransmissions
    arp = np.flatnonzero(kind == ARP)
    if arp_packets % 2:
        base[arp[-1]] = 1
    extra = ip_packets - int(base[kind != ARP].sum())
    if extra < 0:
        raise ValueError(f"too few packets for that many flows: at least {int(base.sum())} needed")
    heavy = (rng.pareto(1.3, len(kind)) + 1).clip(max=2000)
    weights = np.select(
        [np.isin(kind, (SF, RSTO, RSTR, QUIC)), kind == SYSLOG, kind == PING, kind == PING_LOST],
        [heavy, heavy * 0.3, rng.random(len(kind)) * 0.3, rng.random(len(kind)) * 0.1],
        0.0,
    )
    caps = np.zeros(len(kind), dtype=np.int64)
    for k, cap in EXTRA_CAP.items():
        caps[kind == k] = cap
    caps[weights <= 0] = 0
    plan.n = base + _allocate(extra, weights, caps)


def truth_of(plan: Plan, packets: int, flows: int, seed: int, files: list[str]) -> dict:
    """What pcapflow must report for the planned capture."""
    conv = plan.kind != ARP
    kind, v6, n = plan.kind[conv], plan.v6[conv], plan.n[conv]
    tcp, udp = np.isin(kind, TCP_KINDS), np.isin(kind, UDP_KINDS)
    proto = np.where(tcp, "tcp", np.where(udp, "udp", np.where(v6, "icmpv6", "icmp")))
    # ICMP: the server's "port" is the counterpart of the echo request, the echo reply (0 or 129)
    server_port = np.where(tcp | udp, plan.s_port[conv], np.where(v6, 129, 0))
    state = np.array([CONN_STATE[k] for k in range(len(CONN_STATE))])[kind]

    def counts(values) -> dict:
        names, number = np.unique(values, return_counts=True)
        return {str(name): int(count) for name, count in zip(names, number)}

    port_keys = np.char.add(np.char.add(proto, "/"), server_port.astype(str))
    ports = counts(port_keys)
    ports = dict(sorted(ports.items(), key=lambda item: (item[0].split("/")[0], int(item[0].split("/")[1]))))
    return {
        "generator": "benchmarks/gen_capture.py",
        "arguments": {"packets": packets, "flows": flows, "seed": seed},
        "files": files,
        "packets": int(plan.n.sum()),
        "status_counts": {"OK": int(n.sum()), **({"NOT_IP": int(plan.n[~conv].sum())} if (~conv).any() else {})},
        "conversations": int(conv.sum()),
        "conversations_by_protocol": counts(proto),
        "packets_by_protocol": {name: int(n[proto == name].sum()) for name in sorted(set(proto.tolist()))},
        "conversations_by_port": ports,
        "tcp_conn_state": counts(state[tcp]),
        "udp_conn_state": counts(state[udp]),
        "role_basis": {"syn": int(tcp.sum()), "port": int((~tcp).sum())},
        "ipv6_conversations": int(v6.sum()),
        "vlan_conversations": int((plan.vlan[conv] > 0).sum()),
        "tcp_reused_5tuple": int(plan.reuse.sum()),
        "arp_frames": int(plan.n[~conv].sum()),
    }


# -- packets of a batch of conversations ----------------------------------------------------------

_DESCRIPTOR = ("ts", "rank", "o", "server", "flags", "plen", "seq", "ack")


def flow_packets(plan: Plan, r0: int, r1: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Descriptors of every packet of flows ``r0:r1``: time, flow, ordinal, direction, flags, lengths."""
    n = plan.n[r0:r1]
    count = int(n.sum())
    rank = np.repeat(np.arange(r0, r1, dtype=np.int64), n)
    first = np.cumsum(n) - n
    o = np.arange(count, dtype=np.int64) - np.repeat(first, n)
    left = np.repeat(n, n) - 1 - o  # packets after this one in its flow
    kind = plan.kind[rank]
    v6 = plan.v6[rank]
    mss = np.where(v6, 1428, 1448)
    r = rng.random(count)
    request = rng.integers(20, 701, count)
    response = np.where(rng.random(count) < 0.7, mss, rng.integers(1, mss + 1))
    small = rng.integers(1, 601, count)

    server = np.zeros(count, dtype=bool)
    flags = np.zeros(count, dtype=np.uint8)
    plen = np.zeros(count, dtype=np.int64)

    def set_(rows, srv, flag, length) -> None:
        server[rows] = srv[rows] if isinstance(srv, np.ndarray) else srv
        flags[rows] = flag[rows] if isinstance(flag, np.ndarray) else flag
        plen[rows] = length[rows] if isinstance(length, np.ndarray) else length

    # TCP with a handshake: random middle, then fixed positions
    hs = np.isin(kind, (SF, RSTO, RSTR))
    set_(
        hs,
        r >= 0.40,
        np.where((r < 0.15) | (r >= 0.85), PSH | ACK, ACK).astype(np.uint8),
        np.select([r < 0.15, r < 0.40, r < 0.85], [request, 0, response], small),
    )
    set_(hs & (o == 0), False, SYN, 0)
    set_(hs & (o == 1), True, SYN | ACK, 0)
    set_(hs & (o == 2), False, ACK, 0)
    set_(hs & (o == 3), False, PSH | ACK, request)
    sf = kind == SF
    set_(sf & (o == 4), True, ACK, response)
    closer = plan.closer[rank]  # the client closes first
    set_(sf & (left == 3), ~closer, FIN | ACK, 0)
    set_(sf & (left == 2), closer, ACK, 0)
    set_(sf & (left == 1), closer, FIN | ACK, 0)
    set_(sf & (left == 0), ~closer, ACK, 0)
    set_((kind == RSTO) & (left == 0), False, RST | ACK, 0)
    set_((kind == RSTR) & (left == 0), True, RST, 0)
    set_(kind == S0, False, SYN, 0)
    set_((kind == REJ) & (o == 0), False, SYN, 0)
    set_((kind == REJ) & (o == 1), True, RST | ACK, 0)
    # UDP
    dns = (kind == DNS) | (kind == DNS_LOST)
    set_(dns, o == 1, 0, np.where(o == 1, DNS_QUERY_BYTES + DNS_ANSWER_BYTES, DNS_QUERY_BYTES))
    set_(kind == NTP, o % 2 == 1, 0, NTP_BYTES)
    quic = kind == QUIC
    set_(quic, (o == 1) | ((o > 1) & (r >= 0.3)), 0, rng.integers(20, 201, count))
    set_(quic & server & (o > 1), True, 0, rng.integers(20, 1351, count))
    set_(quic & (o < 2), o == 1, 0, rng.integers(1200, 1253, count))
    set_(kind == SYSLOG, False, 0, rng.integers(40, 401, count))
    # ICMP echo: flags hold the type
    ping = kind == PING
    request_type = np.where(v6, 128, 8).astype(np.uint8)
    set_(ping, o % 2 == 1, np.where(o % 2 == 1, np.where(v6, 129, 0), request_type).astype(np.uint8), ECHO_BYTES)
    set_(kind == PING_LOST, False, request_type, ECHO_BYTES)
    # ARP: flags hold the operation
    set_(kind == ARP, o == 1, np.where(o == 1, 2, 1).astype(np.uint8), 0)

    # TCP sequence numbers: each side's initial number plus what it sent before (SYN and FIN count 1)
    tcp = np.isin(kind, TCP_KINDS)
    units = np.where(tcp, plen + ((flags & SYN != 0) & (kind != S0)) + (flags & FIN != 0), 0)

    def sent_before(mine: np.ndarray) -> np.ndarray:
        x = np.where(mine, units, 0)
        total = np.cumsum(x) - x
        return total - np.repeat(total[first], n)

    by_client, by_server = sent_before(~server), sent_before(server)
    isn_c, isn_s = plan.isn_c[rank].astype(np.int64), plan.isn_s[rank].astype(np.int64)
    seq = np.where(server, isn_s + by_server, isn_c + by_client)
    ack = np.where(server, isn_c + by_client, isn_s + by_server) * (flags & ACK != 0)
    echo = np.isin(kind, (PING, PING_LOST))
    seq = np.where(echo, np.where(kind == PING, o // 2, o), seq)

    # timestamps: gaps of about half a round trip, some fixed; each flow squeezed into its kind's span
    rtt = plan.rtt[rank]
    gap = rng.exponential(0.5, count) * rtt
    gap = np.where(hs & (o == 1), rtt, gap)
    gap = np.where(hs & (o == 2), rtt * 0.02 + 20, gap)
    gap = np.where((kind == REJ) | dns | (kind == NTP) | quic, np.where(o % 2 == 1, rtt, gap), gap)
    gap = np.where(kind == S0, SECOND * 2.0 ** (np.minimum(o, 8) - 1), gap)  # retransmissions after 1 s, then 2 s
    gap = np.where(ping, np.where(o % 2 == 1, rtt, SECOND - rtt), gap)
    gap = np.where(kind == PING_LOST, SECOND, gap)
    gap = np.where(kind == ARP, 200.0, gap)
    gap[first] = 0.0
    span = np.select([tcp, np.isin(kind, UDP_KINDS), echo], [MAX_SPAN["tcp"], MAX_SPAN["udp"], MAX_SPAN["icmp"]], MAX_SPAN["arp"])
    total = np.add.reduceat(gap, first)
    factor = np.minimum(1.0, span[first] / np.maximum(total, 1.0))
    elapsed = np.cumsum(gap * np.repeat(factor, n))
    elapsed -= np.repeat(elapsed[first], n)
    ts = plan.start[rank] + np.floor(elapsed).astype(np.int64)

    return {
        "ts": ts,
        "rank": rank,
        "o": o,
        "server": server,
        "flags": flags,
        "plen": plen.astype(np.uint16),
        "seq": (seq & 0xFFFF_FFFF).astype(np.uint32),
        "ack": (ack & 0xFFFF_FFFF).astype(np.uint32),
    }


# -- rendering records ----------------------------------------------------------------------------


def _mac_bytes(mac: np.ndarray) -> np.ndarray:
    shifts = np.arange(40, -8, -8, dtype=np.uint64)
    return ((mac.astype(np.uint64)[:, None] >> shifts) & np.uint64(0xFF)).astype(np.uint8)


def _put(buf: np.ndarray, at: np.ndarray, dtype: np.dtype, **fields) -> None:
    """Write one structured header per row of ``at`` (its byte offset in ``buf``)."""
    if not len(at):
        return
    rows = np.zeros(len(at), dtype=dtype)
    for name, value in fields.items():
        rows[name] = value
    width = dtype.itemsize
    buf[at[:, None] + np.arange(width)] = rows.view(np.uint8).reshape(len(at), width)


def _fill(buf: np.ndarray, pool: np.ndarray, offset: int) -> None:
    """Fill ``buf`` with the pool's bytes for stream offsets ``offset``... (the pool repeats)."""
    done, at = 0, offset % len(pool)
    while done < len(buf):
        size = min(len(pool) - at, len(buf) - done)
        buf[done : done + size] = pool[at : at + size]
        done, at = done + size, 0


class Scratch:
    """A byte buffer reused from chunk to chunk (fresh pages cost more than the copying)."""

    def __init__(self) -> None:
        self.buf = np.empty(0, dtype=np.uint8)

    def get(self, size: int) -> np.ndarray:
        if len(self.buf) < size:
            self.buf = np.empty(size + size // 4, dtype=np.uint8)
        return self.buf[:size]


def render(p: dict[str, np.ndarray], plan: Plan, pool: np.ndarray, offset: int, scratch: Scratch | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """The pcap records of packets ``p`` (in file order) starting at stream byte ``offset``:
    (bytes, record lengths). The bytes are a view of ``scratch``'s buffer when one is given."""
    rank, server, flags = p["rank"], p["server"], p["flags"]
    plen = p["plen"].astype(np.int64)
    kind, v6, vlan = plan.kind[rank], plan.v6[rank], plan.vlan[rank]
    arp = kind == ARP
    tcp = np.isin(kind, TCP_KINDS)
    udp = np.isin(kind, UDP_KINDS)
    echo = np.isin(kind, (PING, PING_LOST))
    syn, rst = tcp & (flags & SYN != 0), tcp & (flags & RST != 0)
    eth = np.where(vlan > 0, 18, 14)
    l3 = np.where(arp, 28, np.where(v6, 40, 20))
    l4 = np.select([syn, rst, tcp, udp | echo], [40, 20, 32, 8], 0)
    ip_len = l3 + l4 + plen
    frame = eth + ip_len
    caplen = np.maximum(frame, MIN_FRAME)
    reclen = 16 + caplen
    at = np.cumsum(reclen) - reclen
    size = int(reclen.sum())
    buf = scratch.get(size) if scratch is not None else np.empty(size, dtype=np.uint8)
    _fill(buf, pool, offset)

    ts = p["ts"]
    _put(buf, at, _REC, sec=BASE_SECONDS + ts // SECOND, usec=ts % SECOND, caplen=caplen, wirelen=caplen)

    # Ethernet: client <-> router; ARP requests are broadcast
    c_mac, r_mac = _mac_bytes(plan.c_mac[rank]), _mac_bytes(np.full(len(rank), ROUTER_MAC))
    dst = np.where(server[:, None], c_mac, r_mac)
    dst[arp & ~server] = _mac_bytes(np.array([BROADCAST_MAC]))
    src = np.where(server[:, None], r_mac, c_mac)
    ethertype = np.where(arp, ETHERTYPE_ARP, np.where(v6, ETHERTYPE_IPV6, ETHERTYPE_IPV4))
    tagged = vlan > 0
    plain = ~tagged
    _put(buf, at[plain] + 16, _ETH, dst=dst[plain], src=src[plain], type=ethertype[plain])
    _put(buf, at[tagged] + 16, _ETH_VLAN, dst=dst[tagged], src=src[tagged], tpid=ETHERTYPE_VLAN, tci=vlan[tagged],
         type=ethertype[tagged])
    l3_at = at + 16 + eth
    l4_at = l3_at + l3

    proto = np.select([tcp, udp, echo & v6, echo], [6, 17, 58, 1], 0)
    ident = plan.ident[rank].astype(np.int64)
    ttl = np.where(server, plan.s_ttl[rank], 64)
    rows = ~v6 & ~arp
    if rows.any():
        src_ip = np.where(server, plan.s_lo[rank], plan.c_lo[rank])[rows].astype(np.int64)
        dst_ip = np.where(server, plan.c_lo[rank], plan.s_lo[rank])[rows].astype(np.int64)
        ip_id = (ident[rows] + p["o"][rows] + server[rows] * 0x5555) & 0xFFFF
        words = (0x4500 + ip_len[rows] + ip_id + 0x4000 + (ttl[rows].astype(np.int64) << 8 | proto[rows])
                 + (src_ip >> 16) + (src_ip & 0xFFFF) + (dst_ip >> 16) + (dst_ip & 0xFFFF))
        words = (words & 0xFFFF) + (words >> 16)
        words = (words & 0xFFFF) + (words >> 16)
        _put(buf, l3_at[rows], _IP4, vihl=0x45, len=ip_len[rows], id=ip_id, frag=0x4000, ttl=ttl[rows], proto=proto[rows],
             csum=~words & 0xFFFF, src=src_ip, dst=dst_ip)
    rows = v6 & ~arp
    if rows.any():
        r = rank[rows]
        c_addr = np.stack([plan.c_hi[r], plan.c_lo[r]], axis=1)
        s_addr = np.stack([plan.s_hi[r], plan.s_lo[r]], axis=1)
        srv = server[rows][:, None]
        _put(buf, l3_at[rows], _IP6, vtcfl=0x6000_0000 | (ident[rows] & 0xFFFFF), plen=ip_len[rows] - 40, next=proto[rows],
             hlim=ttl[rows], src=np.where(srv, s_addr, c_addr), dst=np.where(srv, c_addr, s_addr))
    if arp.any():
        r = rank[arp]
        asks = ~server[arp]
        gateway = np.full(len(r), (10 << 24) | 1, dtype=np.int64)
        client = plan.c_lo[r].astype(np.int64)
        _put(buf, l3_at[arp], _ARP, htype=1, ptype=ETHERTYPE_IPV4, hlen=6, plen=4, op=flags[arp], sha=src[arp],
             spa=np.where(asks, client, gateway), tha=np.where(asks[:, None], 0, dst[arp]), tpa=np.where(asks, gateway, client))

    sport = np.where(server, plan.s_port[rank], plan.c_port[rank])
    dport = np.where(server, plan.c_port[rank], plan.s_port[rank])
    if tcp.any():
        rows = tcp
        _put(buf, l4_at[rows], _TCP, sport=sport[rows], dport=dport[rows], seq=p["seq"][rows], ack=p["ack"][rows],
             offset=(l4[rows] // 4) << 4, flags=flags[rows], window=np.where(syn[rows], np.where(server[rows], 65160, 64240),
                                                                              np.where(server[rows], 501, 502)))
        # timestamps option: a millisecond clock per side
        elapsed_ms = (ts - plan.start[rank]) // 1000
        base_c, base_s = ident & 0x3FFF_FFFF, (ident * 7919) & 0x3FFF_FFFF
        tsval = np.where(server, base_s, base_c) + elapsed_ms
        echo_ms = np.maximum(0, elapsed_ms - (plan.rtt[rank] // 2000).astype(np.int64))
        tsecr = np.where(flags & ACK != 0, np.where(server, base_c, base_s) + echo_ms, 0)
        rows = syn
        _put(buf, l4_at[rows] + 20, _TCP_SYN_OPTIONS, mss_kind=0x0204, mss=np.where(v6[rows], 1440, 1460), sack=0x0402,
             ts_kind=0x080A, tsval=tsval[rows], tsecr=tsecr[rows], nop=1, wscale=np.array([3, 3, 7], dtype=np.uint8))
        rows = tcp & ~syn & ~rst
        _put(buf, l4_at[rows] + 20, _TCP_TS_OPTIONS, nops=0x0101, ts_kind=0x080A, tsval=tsval[rows], tsecr=tsecr[rows])
    if udp.any():
        _put(buf, l4_at[udp], _UDP, sport=sport[udp], dport=dport[udp], len=8 + plen[udp])
        rows = np.isin(kind, (DNS, DNS_LOST))
        if rows.any():
            answer = server[rows]
            tag = ident[rows]
            qname = np.broadcast_to(_QNAME, (int(rows.sum()), len(_QNAME))).copy()
            qname[:, 13:16] = 97 + np.stack([tag % 26, tag // 26 % 26, tag // 676 % 26], axis=1)
            _put(buf, l4_at[rows] + 8, _DNS_QUERY, id=tag & 0xFFFF, flags=np.where(answer, 0x8180, 0x0100), qd=1,
                 an=answer.astype(np.int64), qname=qname, qtype=1, qclass=1)
            rows = rows & server
            _put(buf, l4_at[rows] + 8 + DNS_QUERY_BYTES, _DNS_ANSWER, name=0xC00C, type=1, **{"class": 1}, ttl=300, rdlen=4,
                 addr=(ident[rows] * 2246822519) & 0xFFFF_FFFF)
        rows = kind == NTP
        _put(buf, l4_at[rows] + 8, _NTP_HEAD, mode=np.where(server[rows], 0x24, 0x23), stratum=np.where(server[rows], 2, 0),
             poll=3, precision=0xE9)
    if echo.any():
        _put(buf, l4_at[echo], _ICMP_ECHO, type=flags[echo], code=0, id=ident[echo] >> 16, seq=p["seq"][echo])
        # checksum over the message (its payload is in buf by now), plus the IPv6 pseudo-header
        message = buf[l4_at[echo][:, None] + np.arange(8 + ECHO_BYTES)].astype(np.int64)
        total = (message[:, 0::2] << 8 | message[:, 1::2]).sum(axis=1)
        six = v6[echo]
        if six.any():
            r = rank[echo][six]
            words = np.zeros(int(six.sum()), dtype=np.int64)
            for column in (plan.c_hi, plan.c_lo, plan.s_hi, plan.s_lo):
                value = column[r].astype(np.uint64)
                for shift in (48, 32, 16, 0):
                    words += ((value >> np.uint64(shift)) & np.uint64(0xFFFF)).astype(np.int64)
            total[six] += words + 8 + ECHO_BYTES + 58
        for _ in range(3):
            total = (total & 0xFFFF) + (total >> 16)
        csum = ~total & 0xFFFF
        spot = l4_at[echo] + 2
        buf[spot], buf[spot + 1] = csum >> 8, csum & 0xFF

    pad = frame < MIN_FRAME
    if pad.any():
        columns = np.arange(MIN_FRAME)
        start = at[pad] + 16 + frame[pad]
        spots = start[:, None] + columns
        keep = columns < (MIN_FRAME - frame[pad])[:, None]
        buf[spots[keep]] = 0
    return buf, reclen


# -- writing ------------------------------------------------------------------------------------


def output_names(out: str, files: int) -> list[str]:
    if files == 1:
        return [out]
    stem = out.removesuffix(".pcap")
    return [f"{stem}-{k:04d}.pcap" for k in range(files)]


class _Writer:
    """Writes rendered records to one file, or regroups them by flow into ``files`` files."""

    def __init__(self, names: list[str], plan: Plan):
        self.names, self.plan = names, plan
        #: bytes of the one-file stream so far: payload bytes depend on it, not on --files
        self.offset = PCAP_HEADER_BYTES
        if len(names) == 1:
            self.tmp = names[0] + ".tmp"
            self.handle = open(self.tmp, "wb")  # noqa: SIM115 (closed by close())
            self.handle.write(PCAP_HEADER)
        else:
            for name in names:
                with open(name, "wb") as handle:
                    handle.write(PCAP_HEADER)

    def write(self, buf: np.ndarray, reclen: np.ndarray, rank: np.ndarray) -> None:
        self.offset += len(buf)
        if len(self.names) == 1:
            self.handle.write(buf.data)
            return
        target = self.plan.file[rank]
        order = np.argsort(target, kind="stable")
        lengths = reclen[order]
        starts = (np.cumsum(reclen) - reclen)[order]
        placed = np.cumsum(lengths) - lengths
        grouped = buf[np.repeat(starts - placed, lengths) + np.arange(len(buf))]
        files, first = np.unique(target[order], return_index=True)
        bounds = np.append(placed[first], len(buf))
        for k, file in enumerate(files):
            with open(self.names[file], "ab") as handle:
                handle.write(grouped[bounds[k] : bounds[k + 1]].data)

    def close(self) -> None:
        if len(self.names) == 1:
            self.handle.close()
            os.replace(self.tmp, self.names[0])


def _take(columns: dict[str, np.ndarray], rows) -> dict[str, np.ndarray]:
    return {name: column[rows] for name, column in columns.items()}


def generate(out: str, packets: int, flows: int, seed: int = 1, files: int = 1, duration: float = 600.0,
             servers: int = 3000, clients: int = 40000) -> dict:
    """Write the capture (or ``files`` captures) and ``out + ".truth.json"``; return the truth."""
    if packets < 1 or flows < 1:
        raise ValueError("--packets and --flows must be positive")
    plan = plan_flows(packets, flows, seed, files, duration, servers, clients)
    if files < 1 or files > len(plan.n):
        raise ValueError(f"--files must be between 1 and the number of flows ({len(plan.n)})")
    names = output_names(out, files)
    truth = truth_of(plan, packets, flows, seed, [os.path.basename(name) for name in names])
    pool = np.random.default_rng([seed, 2]).integers(0, 256, PAYLOAD_POOL, dtype=np.uint8)
    writer = _Writer(names, plan)
    scratch = Scratch()
    chunk = RENDER_PACKETS if files == 1 else RENDER_PACKETS_SPLIT
    pending: dict[str, np.ndarray] | None = None
    total = len(plan.n)
    try:
        for batch, r0 in enumerate(range(0, total, FLOW_BATCH)):
            r1 = min(total, r0 + FLOW_BATCH)
            fresh = flow_packets(plan, r0, r1, np.random.default_rng([seed, 1, batch]))
            pending = fresh if pending is None else {name: np.concatenate([pending[name], fresh[name]]) for name in _DESCRIPTOR}
            # later flows start at or after the next one's start, and sort after these at equal times
            frontier = plan.start[r1] if r1 < total else np.iinfo(np.int64).max
            ready = pending["ts"] <= frontier
            now = _take(pending, ready)
            pending = _take(pending, ~ready)
            now = _take(now, np.lexsort((now["o"], now["rank"], now["ts"])))
            for c0 in range(0, len(now["ts"]), chunk):
                part = _take(now, slice(c0, c0 + chunk))
                buf, reclen = render(part, plan, pool, writer.offset, scratch)
                writer.write(buf, reclen, part["rank"])
    finally:
        writer.close()
    with open(out + ".truth.json", "w") as handle:
        json.dump(truth, handle, indent=1)
        handle.write("\n")
    return truth


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, required=True, help="records to write")
    parser.add_argument("--flows", type=int, required=True, help="conversations (ARP exchanges come on top)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True, help="capture path; OUT.truth.json is written beside it")
    parser.add_argument("--files", type=int, default=1, help="split the flows among this many captures OUT-0000.pcap...")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds over which conversations start")
    parser.add_argument("--servers", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=40000, help="IPv4 clients (IPv6: a tenth as many)")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    start = time.perf_counter()
    try:
        truth = generate(args.out, args.packets, args.flows, args.seed, args.files, args.duration, args.servers, args.clients)
    except ValueError as error:
        parser.error(str(error))
    seconds = time.perf_counter() - start
    if not args.quiet:
        size = sum(os.path.getsize(os.path.join(os.path.dirname(os.path.abspath(args.out)), name)) for name in truth["files"])
        print(f"{args.out}: {truth['packets']} packets in {len(truth['files'])} file(s), {size / 2**20:.1f} MiB, "
              f"{seconds:.2f} s ({truth['packets'] / seconds:,.0f} packets/s)", file=sys.stderr)
        print(json.dumps({key: truth[key] for key in ("conversations_by_protocol", "tcp_conn_state")}), file=sys.stderr)


if __name__ == "__main__":
    main()
