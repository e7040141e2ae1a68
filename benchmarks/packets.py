"""The benchmark capture's packets: the wire format (the pcap header and the layouts of the headers
records carry, as structured numpy dtypes), the packet descriptors of a batch of planned
conversations, and their rendering into record bytes (see gen_capture.py)."""

from __future__ import annotations

import numpy as np
from flow_plan import (
    ARP,
    BASE_SECONDS,
    DNS,
    DNS_LOST,
    MAX_SPAN,
    NTP,
    PING,
    PING_LOST,
    QUIC,
    REJ,
    RSTO,
    RSTR,
    S0,
    SECOND,
    SF,
    SYSLOG,
    TCP_KINDS,
    UDP_KINDS,
    Plan,
)

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



# -- packets of a batch of conversations ----------------------------------------------------------

DESCRIPTOR = ("ts", "rank", "o", "server", "flags", "plen", "seq", "ack")


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
