"""Frames and conversations for the sample captures: hosts, link and network framing (Ethernet,
VLAN, QinQ, MPLS, PPPoE, IPv4, IPv6 with extension headers), TCP conversations, UDP exchanges,
DNS and HTTP payloads."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from scapy.contrib.mpls import MPLS
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.packet import Packet, Raw

# --------------------------------------------------------------------------
# Addressing and framing
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Host:
    mac: str
    ip: str


BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"

# A Framer turns (source host, destination host, transport layer) into a
# complete frame.  It is the composition of a link part and a network part.
LinkPart = Callable[[Host, Host], Packet]
NetPart = Callable[[Host, Host], Packet]
Framer = Callable[[Host, Host, Packet], Packet]


def framer(link: LinkPart, net: NetPart) -> Framer:
    return lambda src, dst, l4: link(src, dst) / net(src, dst) / l4


def ethernet(src: Host, dst: Host) -> Packet:
    return Ether(src=src.mac, dst=dst.mac)


def ethernet_vlan(vlan: int) -> LinkPart:
    return lambda src, dst: ethernet(src, dst) / Dot1Q(vlan=vlan)


def ethernet_qinq(outer: int, inner: int) -> LinkPart:
    return lambda src, dst: (
        Ether(src=src.mac, dst=dst.mac, type=0x88A8)
        / Dot1AD(vlan=outer, type=0x8100)
        / Dot1Q(vlan=inner)
    )


def ethernet_mpls(*labels: int) -> LinkPart:
    def link(src: Host, dst: Host) -> Packet:
        pkt = Ether(src=src.mac, dst=dst.mac, type=0x8847)
        for i, label in enumerate(labels):
            pkt /= MPLS(label=label, s=int(i == len(labels) - 1), ttl=64)
        return pkt

    return link


def ethernet_pppoe(session: int, ppp_proto: int) -> LinkPart:
    return lambda src, dst: (
        Ether(src=src.mac, dst=dst.mac, type=0x8864)
        / PPPoE(sessionid=session)
        / PPP(proto=ppp_proto)
    )


def ipv4(ip_ids: Iterator[int]) -> NetPart:
    """IPv4 header whose id is drawn from ``ip_ids`` (one per packet)."""
    return lambda src, dst: IP(src=src.ip, dst=dst.ip, id=next(ip_ids))


def ipv6(*ext_headers: Packet) -> NetPart:
    """IPv6 header followed by copies of ``ext_headers``."""

    def net(src: Host, dst: Host) -> Packet:
        pkt = IPv6(src=src.ip, dst=dst.ip)
        for hdr in ext_headers:
            pkt /= hdr
        return pkt

    return net


def ether_ipv4(ip_ids: Iterator[int]) -> Framer:
    return framer(ethernet, ipv4(ip_ids))


# --------------------------------------------------------------------------
# Conversations
# --------------------------------------------------------------------------

# A TCP step: (sent by client?, TCP flags, payload).
Step = tuple[bool, str, bytes]

HANDSHAKE: list[Step] = [(True, "S", b""), (False, "SA", b""), (True, "A", b"")]
TEARDOWN: list[Step] = [(True, "FA", b""), (False, "FA", b""), (True, "A", b"")]


def request_response(request: bytes, response: bytes) -> list[Step]:
    return [(True, "PA", request), (False, "PA", response)]


def tcp_conversation(
    client: Host,
    server: Host,
    sport: int,
    dport: int,
    steps: Sequence[Step],
    frame: Framer,
    isn: tuple[int, int],
) -> list[Packet]:
    """Frames for ``steps``, with consistent seq/ack numbers.

    ``isn`` is (client ISN, server ISN).  SYN and FIN consume one sequence
    number; ACK numbers acknowledge everything the peer has sent so far.
    """
    next_seq = {True: isn[0], False: isn[1]}
    frames = []
    for from_client, flags, payload in steps:
        src, dst = (client, server) if from_client else (server, client)
        ports = (sport, dport) if from_client else (dport, sport)
        seq = next_seq[from_client]
        ack = next_seq[not from_client] if "A" in flags else 0
        tcp = TCP(sport=ports[0], dport=ports[1], flags=flags, seq=seq, ack=ack, window=65535)
        if payload:
            tcp /= Raw(payload)
        next_seq[from_client] = seq + len(payload) + ("S" in flags) + ("F" in flags)
        frames.append(frame(src, dst, tcp))
    return frames


def udp_exchange(
    client: Host,
    server: Host,
    sport: int,
    dport: int,
    messages: Sequence[tuple[bool, Packet | bytes]],
    frame: Framer,
) -> list[Packet]:
    """Frames for UDP ``messages`` given as (sent by client?, payload)."""
    frames = []
    for from_client, payload in messages:
        src, dst = (client, server) if from_client else (server, client)
        ports = (sport, dport) if from_client else (dport, sport)
        frames.append(frame(src, dst, UDP(sport=ports[0], dport=ports[1]) / payload))
    return frames


def dns_a_exchange(txid: int, name: str, address: str) -> list[tuple[bool, Packet]]:
    query = DNS(id=txid, rd=1, qd=[DNSQR(qname=name, qtype="A")])
    answer = DNS(
        id=txid, qr=1, rd=1, ra=1,
        qd=[DNSQR(qname=name, qtype="A")],
        an=[DNSRR(rrname=name, type="A", ttl=300, rdata=address)],
    )
    return [(True, query), (False, answer)]


def http_get(index: int) -> bytes:
    request = b"GET /index%d HTTP/1.1\r\nHost: 10.0.0.2\r\n\r\n" % index
    assert len(request) == 40, len(request)
    return request


def http_response(index: int, size: int = 100) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
    body_len = size - len(head % 10)  # two-digit Content-Length
    body = (b"conversation %d " % index).ljust(body_len, b".")
    response = head % body_len + body
    assert len(response) == size, len(response)
    return response


def pattern(size: int) -> bytes:
    """Deterministic filler payload 00 01 02 ... ff 00 01 ..."""
    return bytes(i % 256 for i in range(size))


def udp6_checksum(src: str, dst: str, udp: Packet) -> int:
    """UDP checksum over the IPv6 pseudo-header (scapy leaves 0 behind AH)."""
    return IPv6(bytes(IPv6(src=src, dst=dst) / udp.copy()))[UDP].chksum
