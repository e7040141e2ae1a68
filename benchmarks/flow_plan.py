"""Planning the benchmark capture's conversations: kinds, endpoints, ports, sizes and times of
every conversation, up front, in order of start time (see gen_capture.py for the capture they
become and the truth file)."""

from __future__ import annotations

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
