#!/usr/bin/env python3
"""Generate the sample captures that live beside this script.

Usage::

    python sample_pcaps/make_samples.py [--out DIR]

Everything is deterministic: fixed MACs, addresses, IP ids, TCP sequence
numbers and timestamps, and no randomness anywhere, so running the script
twice gives byte-identical files.  Packets are built with scapy; the classic
pcap and pcapng containers are written by hand with ``struct`` so that every
byte of them is under our control and does not depend on the scapy version,
and the gzip copy is written with a fixed header (no file name, mtime 0).
See README.md in the same folder for what each file holds.
"""

from __future__ import annotations

import argparse
import itertools
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

from containers import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    NS,
    OPT_COMMENT,
    SHB_USERAPPL,
    Interface,
    Record,
    at,
    custom_block,
    epb,
    gzip_bytes,
    packet_block,
    pcap_bytes,
    shb,
    spb,
    timed,
)
from link_layers import link_layers_pcapng
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import (
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    fragment6,
)
from scapy.layers.ipsec import AH
from scapy.layers.l2 import ARP, CookedLinux, CookedLinuxV2, Ether
from scapy.packet import Packet, Raw
from traffic import (
    BROADCAST_MAC,
    HANDSHAKE,
    TEARDOWN,
    Host,
    dns_a_exchange,
    ether_ipv4,
    ethernet,
    ethernet_mpls,
    ethernet_pppoe,
    ethernet_qinq,
    ethernet_vlan,
    framer,
    http_get,
    http_response,
    ipv4,
    ipv6,
    pattern,
    request_response,
    tcp_conversation,
    udp6_checksum,
    udp_exchange,
)

# --------------------------------------------------------------------------
# Sample files
# --------------------------------------------------------------------------

CLIENT = Host("02:00:00:00:00:01", "10.0.0.1")
WEB = Host("02:00:00:00:00:02", "10.0.0.2")
RESOLVER = Host("02:00:00:00:00:53", "10.0.0.53")


def http_records() -> list[Record]:
    """Records shared by http_ethernet.pcap and ns_bigendian.pcap."""
    ip_ids = itertools.count(0x0100)
    frame = ether_ipv4(ip_ids)
    records: list[Record] = []
    for k in range(3):
        steps = HANDSHAKE + request_response(http_get(k + 1), http_response(k + 1)) + TEARDOWN
        isn = (1_000_000 * (k + 1), 5_000_000 * (k + 1))
        conv = tcp_conversation(CLIENT, WEB, 50001 + k, 80, steps, frame, isn)
        records += timed(conv, at(k))
    lookup = dns_a_exchange(0x1001, "example.com", "93.184.216.34")
    dns = udp_exchange(CLIENT, RESOLVER, 53001, 53, lookup, frame)
    records += timed(dns, at(3))
    arp = Ether(src=CLIENT.mac, dst=BROADCAST_MAC) / ARP(
        op="who-has", hwsrc=CLIENT.mac, psrc=CLIENT.ip, hwdst="00:00:00:00:00:00", pdst=WEB.ip
    )
    records += timed([arp], at(4))
    return records


def http_ethernet() -> bytes:
    return pcap_bytes(http_records())


def ns_bigendian() -> bytes:
    # Record i gets i+1 extra nanoseconds: 1704067200.000000001, ...001000002, ...
    records = [
        Record(rec.time + (i + 1) * NS, rec.data) for i, rec in enumerate(http_records())
    ]
    return pcap_bytes(records, byte_order=">", nano=True)


def http_ethernet_gz() -> bytes:
    return gzip_bytes(http_ethernet())


def vlan_qinq() -> bytes:
    frame_tcp = framer(ethernet_vlan(100), ipv4(itertools.count(0x0200)))
    tls_client = Host("02:00:00:01:00:01", "192.168.1.100")
    tls_server = Host("02:00:00:01:00:10", "192.168.1.10")
    steps = HANDSHAKE + request_response(pattern(64), pattern(128))
    isn = (2_000_000, 6_000_000)
    tcp = tcp_conversation(tls_client, tls_server, 51000, 443, steps, frame_tcp, isn)

    frame_udp = framer(ethernet_qinq(200, 300), ipv4(itertools.count(0x0300)))
    ntp_client = Host("02:00:00:01:00:02", "192.168.1.101")
    ntp_server = Host("02:00:00:01:00:20", "192.168.1.20")
    ntp_request = b"\x23" + bytes(47)  # LI 0, version 4, mode 3 (client)
    ntp_reply = b"\x24\x02" + bytes(46)  # mode 4 (server), stratum 2
    messages = [(True, ntp_request), (False, ntp_reply)] * 2
    ntp = udp_exchange(ntp_client, ntp_server, 51123, 123, messages, frame_udp)
    return pcap_bytes(timed(tcp, at(0)) + timed(ntp, at(1)))


def mpls_pppoe() -> bytes:
    ssh_client = Host("02:00:00:02:00:01", "10.2.0.1")
    ssh_server = Host("02:00:00:02:00:02", "10.2.0.2")
    frame_mpls = framer(ethernet_mpls(100, 200), ipv4(itertools.count(0x0400)))
    steps = HANDSHAKE + request_response(b"SSH-2.0-pcapflow\r\n", b"SSH-2.0-OpenSSH_9.6\r\n")
    isn = (3_000_000, 7_000_000)
    ssh = tcp_conversation(ssh_client, ssh_server, 52022, 22, steps, frame_mpls, isn)

    ppp4_client = Host("02:00:00:03:00:01", "10.3.0.1")
    ppp4_server = Host("02:00:00:03:00:ac", "10.3.0.53")
    frame_ppp4 = framer(ethernet_pppoe(0x0011, 0x0021), ipv4(itertools.count(0x0500)))
    lookup = dns_a_exchange(0x1002, "example.org", "93.184.215.14")
    dns = udp_exchange(ppp4_client, ppp4_server, 53002, 53, lookup, frame_ppp4)

    ppp6_client = Host(ppp4_client.mac, "2001:db8:3::1")
    ppp6_server = Host(ppp4_server.mac, "2001:db8:3::2")
    frame_ppp6 = framer(ethernet_pppoe(0x0011, 0x0057), ipv6())
    get = b"GET / HTTP/1.1\r\nHost: [2001:db8:3::2]\r\n\r\n"
    steps = HANDSHAKE + request_response(get, http_response(6))
    isn = (4_000_000, 8_000_000)
    web = tcp_conversation(ppp6_client, ppp6_server, 52080, 80, steps, frame_ppp6, isn)
    return pcap_bytes(timed(ssh, at(0)) + timed(dns, at(1)) + timed(web, at(2)))


V6_CLIENT = Host("02:00:00:06:00:01", "2001:db8::1")
V6_SERVER = Host("02:00:00:06:00:02", "2001:db8::2")


def ipv6_ext_headers() -> bytes:
    chain = ipv6(IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt(), IPv6ExtHdrRouting(type=0, addresses=[]))
    steps = HANDSHAKE + request_response(pattern(32), pattern(48))
    tcp = tcp_conversation(
        V6_CLIENT, V6_SERVER, 52443, 443, steps, framer(ethernet, chain), (9_000_000, 9_500_000)
    )

    def ah_frame(src: Host, dst: Host, udp: Packet) -> Packet:
        udp = udp.copy()
        udp.chksum = udp6_checksum(src.ip, dst.ip, udp)
        # AH for IPv6: 12 fixed bytes + 12-byte ICV = 24 bytes = (4 + 2) words.
        ah = AH(nh=17, payloadlen=4, spi=0x1000 if src == V6_CLIENT else 0x2000, seq=1,
                icv=bytes(range(0xA0, 0xAC)))
        return ethernet(src, dst) / IPv6(src=src.ip, dst=dst.ip) / ah / udp

    messages = [(True, b"ping"), (False, b"pong")]
    ah = udp_exchange(V6_CLIENT, V6_SERVER, 40500, 5002, messages, ah_frame)

    icmp_frame = framer(ethernet, ipv6())
    echo = [
        icmp_frame(V6_CLIENT, V6_SERVER, ICMPv6EchoRequest(id=0x1234, seq=1, data=b"pcapflow")),
        icmp_frame(V6_SERVER, V6_CLIENT, ICMPv6EchoReply(id=0x1234, seq=1, data=b"pcapflow")),
    ]
    return pcap_bytes(timed(tcp, at(0)) + timed(ah, at(1)) + timed(echo, at(2)))


def fragments() -> bytes:
    src = Host("02:00:00:07:00:01", "10.1.0.1")
    dst = Host("02:00:00:07:00:02", "10.1.0.2")
    datagram = (
        IP(src=src.ip, dst=dst.ip, id=0x1234)
        / UDP(sport=40000, dport=9999)
        / Raw(pattern(3000))
    )
    v4 = [ethernet(src, dst) / frag for frag in fragment(datagram, fragsize=1200)]

    src6 = Host(src.mac, "2001:db8::10")
    dst6 = Host(dst.mac, "2001:db8::20")
    datagram6 = (
        IPv6(src=src6.ip, dst=dst6.ip)
        / IPv6ExtHdrFragment(id=0xABCDEF)
        / UDP(sport=40001, dport=9999)
        / Raw(pattern(3000))
    )
    v6 = [ethernet(src6, dst6) / frag for frag in fragment6(datagram6, 1280)]

    # Non-first fragment (offset 1200 bytes, last) whose first fragment never comes.
    orphan = (
        ethernet(src, dst)
        / IP(src=src.ip, dst=dst.ip, id=0x9999, flags=0, frag=150, proto=17)
        / Raw(pattern(200))
    )
    return pcap_bytes(timed(v4, at(0)) + timed(v6, at(1)) + timed([orphan], at(2)))


def linktypes_pcapng() -> bytes:
    bo = "<"
    ifaces = [
        Interface(LINKTYPE_ETHERNET, "eth0"),
        Interface(LINKTYPE_LINUX_SLL, "any", tsresol=9),
        Interface(LINKTYPE_LINUX_SLL2, "any2", tsresol=0x80 | 20),
        Interface(LINKTYPE_NULL, "null0", tsoffset=3600),
        Interface(LINKTYPE_RAW, "raw0"),
        Interface(LINKTYPE_IPV6, "raw6"),
        Interface(LINKTYPE_LOOP, "loop0"),
    ]
    a, b = Host("02:00:00:08:00:01", "10.8.0.1"), Host("02:00:00:08:00:02", "10.8.0.2")
    a6, b6 = Host(a.mac, "2001:db8:8::1"), Host(b.mac, "2001:db8:8::2")
    ip_ids = itertools.count(0x0800)

    # The capturing host is ``a``: a->b frames are outgoing, b->a incoming.
    def v4(l4: Packet, incoming: bool = False) -> Packet:
        src, dst = (b, a) if incoming else (a, b)
        return IP(src=src.ip, dst=dst.ip, id=next(ip_ids)) / l4

    def cooked(incoming: bool) -> dict:
        """SLL/SLL2 fields: packet type and the sender's link-layer address."""
        sender = b if incoming else a
        return dict(pkttype=0 if incoming else 4,  # PACKET_HOST / PACKET_OUTGOING
                    lladdrtype=1, lladdrlen=6,  # ARPHRD_ETHER
                    src=bytes.fromhex(sender.mac.replace(":", "")).ljust(8, b"\x00"))

    eth_q = Ether(src=a.mac, dst=b.mac) / v4(UDP(sport=40000, dport=7) / b"echo")
    eth_r = Ether(src=b.mac, dst=a.mac) / v4(UDP(sport=7, dport=40000) / b"echo", incoming=True)
    sll = CookedLinux(proto=0x0800, **cooked(False)) / v4(
        TCP(sport=41001, dport=8080, flags="S", seq=100, window=65535)
    )
    sll2_q = CookedLinuxV2(proto=0x0800, ifindex=2, **cooked(False)) / v4(
        TCP(sport=41002, dport=8080, flags="S", seq=200, window=65535)
    )
    sll2_r = CookedLinuxV2(proto=0x0800, ifindex=2, **cooked(True)) / v4(
        TCP(sport=8080, dport=41002, flags="SA", seq=300, ack=201, window=65535), incoming=True
    )
    null_udp = UDP(sport=41003, dport=5003) / b"null"
    null = struct.pack("<I", 2) + bytes(v4(null_udp))  # AF_INET, little-endian host order
    raw = v4(UDP(sport=41004, dport=5004) / b"raw")
    raw6 = IPv6(src=a6.ip, dst=b6.ip) / UDP(sport=41005, dport=5005) / b"raw6"
    loop_syn = TCP(sport=41006, dport=8006, flags="S", seq=600, window=65535)
    loop = struct.pack(">I", 2) + bytes(v4(loop_syn))  # AF_INET, network byte order

    def rec(t: str, pkt: Packet | bytes) -> Record:
        return Record(at(t), bytes(pkt))

    blocks = [shb(bo, options=[(SHB_USERAPPL, b"pcapflow make_samples.py")])]
    blocks += [iface.idb(bo) for iface in ifaces]
    blocks += [
        epb(bo, 0, ifaces[0], rec("0", eth_q), options=[(OPT_COMMENT, b"EPB on Ethernet")]),
        spb(bo, rec("0", eth_r)),  # no timestamp in a Simple Packet Block
        epb(bo, 1, ifaces[1], rec("1.123456789", sll)),
        epb(bo, 2, ifaces[2], rec("2.5", sll2_q)),
        epb(bo, 2, ifaces[2], rec("2.501953125", sll2_r)),
        custom_block(bo, b"SKIP"),
        epb(bo, 3, ifaces[3], rec("3", null)),
        packet_block(bo, 4, ifaces[4], rec("4.000001", raw)),
        epb(bo, 5, ifaces[5], rec("5", raw6)),
        epb(bo, 6, ifaces[6], rec("6", loop)),
    ]
    return b"".join(blocks)


def two_sections_pcapng() -> bytes:
    ip_ids = itertools.count(0x0900)
    frame = ether_ipv4(ip_ids)

    def section(bo: str, iface: Interface, records: list[Record], known_length: bool) -> bytes:
        rest = iface.idb(bo) + b"".join(epb(bo, 0, iface, r) for r in records)
        return shb(bo, section_length=len(rest) if known_length else -1) + rest

    a, b = Host("02:00:00:09:00:01", "10.9.0.1"), Host("02:00:00:09:00:02", "10.9.0.2")
    udp = udp_exchange(a, b, 40009, 5009, [(True, b"little"), (False, b"endian")], frame)
    c, d = Host("02:00:00:09:01:01", "10.9.1.1"), Host("02:00:00:09:01:02", "10.9.1.2")
    tcp = tcp_conversation(c, d, 40010, 5010, HANDSHAKE[:2], frame, (10_000_000, 11_000_000))
    little = section("<", Interface(LINKTYPE_ETHERNET, "le0"), timed(udp, at(0)), known_length=True)
    big = section(
        ">",
        Interface(LINKTYPE_ETHERNET, "be0", tsresol=9),
        timed(tcp, at("1.000000001"), NS),
        known_length=False,
    )
    return little + big


def truncated() -> bytes:
    a, b = Host("02:00:00:0a:00:01", "10.6.0.1"), Host("02:00:00:0a:00:02", "10.6.0.2")
    messages = [(True, (b"record %d" % (i + 1)).ljust(32, b"-")) for i in range(5)]
    frame = ether_ipv4(itertools.count(0x0A00))
    records = timed(udp_exchange(a, b, 40006, 6000, messages, frame), at(0))
    data = pcap_bytes(records)
    # Cut half-way through the 5th record's packet data.
    return data[: len(data) - len(records[-1].data) // 2]


def snaplen_cut() -> bytes:
    snaplen = 54  # Ethernet 14 + IPv4 20 + TCP 20: headers complete, payload cut
    a, b = Host("02:00:00:0b:00:01", "10.7.0.1"), Host("02:00:00:0b:00:02", "10.7.0.2")
    steps = (
        HANDSHAKE
        + request_response(pattern(500), pattern(500))
        + [(True, "PA", pattern(500))]
        + TEARDOWN
    )
    frame = ether_ipv4(itertools.count(0x0B00))
    conv = tcp_conversation(a, b, 40007, 8000, steps, frame, (12_000_000, 13_000_000))
    records = []
    for i, rec in enumerate(timed(conv, at(0))):
        # The second client data segment keeps only Ethernet + IPv4 + TCP ports.
        keep = 38 if i == 5 else snaplen
        records.append(Record(rec.time, rec.data[:keep], len(rec.data)))
    return pcap_bytes(records, snaplen=snaplen)


SAMPLES: dict[str, Callable[[], bytes]] = {
    "http_ethernet.pcap": http_ethernet,
    "ns_bigendian.pcap": ns_bigendian,
    "http_ethernet.pcap.gz": http_ethernet_gz,
    "vlan_qinq.pcap": vlan_qinq,
    "mpls_pppoe.pcap": mpls_pppoe,
    "ipv6_ext_headers.pcap": ipv6_ext_headers,
    "fragments.pcap": fragments,
    "linktypes.pcapng": linktypes_pcapng,
    "two_sections.pcapng": two_sections_pcapng,
    "truncated.pcap": truncated,
    "snaplen_cut.pcap": snaplen_cut,
    "link_layers.pcapng": link_layers_pcapng,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="output folder (default: the folder of this script)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, build in SAMPLES.items():
        data = build()
        assert len(data) < 64 * 1024, f"{name} is {len(data)} bytes"
        (args.out / name).write_bytes(data)
        print(f"{len(data):6d}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
