"""Exact decoded fields for every link type, encapsulation, IP variant and transport, on both engines."""

from __future__ import annotations

import struct

import pytest
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.ipsec import AH
from scapy.layers.l2 import ARP, CookedLinux, Dot1AD, Dot1Q
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.sctp import SCTP
from scapy.packet import Raw

from pcapflow.addresses import parse_address
from pcapflow.decode import NO_VLAN, DecodeStatus, decode
from tests.factories import eth
from tests.strategies import Record, raw_batch

IP4 = IP(src="192.0.2.1", dst="198.51.100.2", id=77)
IP6 = IPv6(src="2001:db8::1", dst="2001:db8::2")
SEGMENT = TCP(sport=40000, dport=443, flags="PA", seq=123456789, ack=987654321) / Raw(b"x" * 10)


def decoded(frames, engine, linktype=1, wirelen=None) -> list[dict]:
    wirelen = wirelen or [None] * len(frames)
    table = decode(raw_batch([Record(linktype, bytes(f), None, w) for f, w in zip(frames, wirelen)]), engine)
    return [{name: getattr(table, name)[i].item() for name in table.column_names()} for i in range(len(table))]


def one(frame, engine, **kwargs) -> dict:
    return decoded([frame], engine, **kwargs)[0]


def assert_addresses(row, src, dst, version):
    assert (row["src_ip_hi"], row["src_ip_lo"]) == parse_address(src)
    assert (row["dst_ip_hi"], row["dst_ip_lo"]) == parse_address(dst)
    assert row["ip_version"] == version


def test_ethernet_ipv4_tcp(engine):
    row = one(eth() / IP4 / SEGMENT, engine)
    assert row["status"] == DecodeStatus.OK
    assert_addresses(row, "192.0.2.1", "198.51.100.2", 4)
    assert (row["ip_proto"], row["ip_bytes"], row["ip_id"]) == (6, 20 + 20 + 10, 77)
    assert (row["src_port"], row["dst_port"]) == (40000, 443)
    assert (row["tcp_flags"], row["tcp_seq"], row["tcp_ack"]) == (0x18, 123456789, 987654321)
    assert (row["payload_bytes"], row["vlan_id"], row["frag_offset"], row["more_fragments"]) == (10, NO_VLAN, 0, False)


def test_ipv4_options_and_tcp_options_are_stepped_over(engine):
    frame = eth() / IP(src="192.0.2.1", dst="198.51.100.2", options=b"\x94\x04\x00\x00") / TCP(
        sport=1, dport=2, options=[("MSS", 1460), ("NOP", None), ("WScale", 7)]
    ) / Raw(b"abc")
    row = one(frame, engine)
    assert (row["src_port"], row["dst_port"], row["payload_bytes"], row["ip_bytes"]) == (1, 2, 3, 24 + 28 + 3)


@pytest.mark.parametrize(
    ("tags", "vlan"),
    [
        (Dot1Q(vlan=100), 100),
        (Dot1Q(vlan=0), 0),  # priority tag: VLAN 0 is still a tag
        (Dot1AD(vlan=200) / Dot1Q(vlan=300), 200),  # QinQ: the outer id
        (Dot1Q(vlan=10) / Dot1Q(vlan=20) / Dot1Q(vlan=30), 10),
    ],
)
def test_vlan_tags(engine, tags, vlan):
    row = one(eth() / tags / IP4 / UDP(sport=5, dport=53) / Raw(b"q" * 4), engine)
    assert (row["status"], row["vlan_id"], row["dst_port"], row["payload_bytes"]) == (DecodeStatus.OK, vlan, 53, 4)


@pytest.mark.parametrize("inner", [IP4, IP6])
def test_mpls_label_stack(engine, inner):
    frame = eth(type=0x8847) / MPLS(label=100, s=0) / MPLS(label=200, s=1) / inner / UDP(sport=5, dport=53)
    row = one(frame, engine)
    assert (row["status"], row["ip_version"], row["dst_port"]) == (DecodeStatus.OK, inner.version, 53)


@pytest.mark.parametrize(("ppp_proto", "inner"), [(0x0021, IP4), (0x0057, IP6)])
def test_pppoe_session(engine, ppp_proto, inner):
    frame = eth(type=0x8864) / PPPoE(sessionid=7) / PPP(proto=ppp_proto) / inner / TCP(sport=9, dport=80)
    row = one(frame, engine)
    assert (row["status"], row["ip_version"], row["dst_port"]) == (DecodeStatus.OK, inner.version, 80)


def test_pppoe_control_protocol_is_not_ip(engine):
    frame = eth(type=0x8864) / PPPoE(sessionid=7) / PPP(proto=0xC021) / Raw(b"\x01\x01\x00\x04")
    assert one(frame, engine)["status"] == DecodeStatus.NOT_IP


def _sll2(protocol: int) -> bytes:
    return struct.pack(">HHIHBB8s", protocol, 0, 2, 1, 0, 6, bytes(8))


@pytest.mark.parametrize(
    ("linktype", "header"),
    [
        (113, bytes(CookedLinux(proto=0x0800))),
        (276, _sll2(0x0800)),
        (0, struct.pack("<I", 2)),  # NULL, written by a little-endian host
        (0, struct.pack(">I", 2)),  # NULL, written by a big-endian host
        (108, struct.pack(">I", 2)),  # LOOP: always network order
        (101, b""),
        (12, b""),
        (14, b""),
        (228, b""),
    ],
)
def test_ipv4_behind_every_link_type(engine, linktype, header):
    row = one(header + bytes(IP4 / UDP(sport=7, dport=9)), engine, linktype=linktype)
    assert (row["status"], row["ip_version"], row["src_port"], row["dst_port"]) == (DecodeStatus.OK, 4, 7, 9)


@pytest.mark.parametrize(
    ("linktype", "header"),
    [
        (113, bytes(CookedLinux(proto=0x86DD))),
        (276, _sll2(0x86DD)),
        (0, struct.pack("<I", 10)),
        (0, struct.pack("<I", 24)),
        (0, struct.pack("<I", 28)),
        (0, struct.pack(">I", 30)),
        (101, b""),
        (229, b""),
    ],
)
def test_ipv6_behind_every_link_type(engine, linktype, header):
    row = one(header + bytes(IP6 / UDP(sport=7, dport=9)), engine, linktype=linktype)
    assert (row["status"], row["ip_version"], row["src_port"]) == (DecodeStatus.OK, 6, 7)
    assert_addresses(row, "2001:db8::1", "2001:db8::2", 6)


def test_ipv6_extension_header_chain(engine):
    frame = eth() / IP6 / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting() / SEGMENT
    row = one(frame, engine)
    assert (row["status"], row["ip_proto"], row["dst_port"], row["payload_bytes"]) == (DecodeStatus.OK, 6, 443, 10)
    assert row["ip_bytes"] == 40 + 8 + 8 + 8 + 20 + 10


def test_ipv6_authentication_header(engine):
    frame = eth() / IP6 / AH(nh=17, payloadlen=4, spi=1, seq=1, icv=bytes(12)) / UDP(sport=4, dport=5) / Raw(b"p" * 6)
    row = one(frame, engine)
    assert (row["status"], row["ip_proto"], row["src_port"], row["payload_bytes"]) == (DecodeStatus.OK, 17, 4, 6)


def test_ipv6_fragments(engine):
    first = eth() / IP6 / IPv6ExtHdrFragment(id=0xABCDEF, offset=0, m=1) / UDP(sport=4, dport=5, len=8 + 100) / Raw(b"a" * 40)
    later = eth() / IP6 / IPv6ExtHdrFragment(nh=17, id=0xABCDEF, offset=6, m=0) / Raw(b"b" * 60)
    head, tail = decoded([first, later], engine)
    assert (head["status"], head["ip_id"], head["more_fragments"], head["src_port"]) == (DecodeStatus.OK, 0xABCDEF, True, 4)
    assert head["payload_bytes"] == 40  # what this fragment carries of the datagram
    assert (tail["status"], tail["ip_id"], tail["frag_offset"], tail["ip_proto"]) == (DecodeStatus.FRAGMENT, 0xABCDEF, 48, 17)
    assert (tail["src_port"], tail["payload_bytes"]) == (0, 60)


def test_ipv4_fragments(engine):
    first = eth() / IP(src="192.0.2.1", dst="198.51.100.2", id=9, flags="MF") / UDP(sport=4, dport=5, len=208) / Raw(b"a" * 96)
    later = eth() / IP(src="192.0.2.1", dst="198.51.100.2", id=9, frag=13, proto=17) / Raw(b"b" * 96)
    head, tail = decoded([first, later], engine)
    assert (head["status"], head["more_fragments"], head["payload_bytes"]) == (DecodeStatus.OK, True, 96)
    assert (tail["status"], tail["frag_offset"], tail["more_fragments"], tail["payload_bytes"]) == (DecodeStatus.FRAGMENT, 104, False, 96)


def test_icmp_sctp_and_other_protocols(engine):
    icmp, icmp6, sctp, gre = decoded(
        [
            eth() / IP4 / ICMP(type=3, code=1) / Raw(b"z" * 28),
            eth() / IP6 / ICMPv6EchoRequest(id=1, seq=2) / Raw(b"e" * 8),
            eth() / IP4 / SCTP(sport=2905, dport=2906) / Raw(b"s" * 16),
            eth() / IP(src="192.0.2.1", dst="198.51.100.2", proto=47) / Raw(b"g" * 24),
        ],
        engine,
    )
    assert (icmp["icmp_type"], icmp["icmp_code"], icmp["payload_bytes"], icmp["src_port"]) == (3, 1, 28, 0)
    assert (icmp6["icmp_type"], icmp6["icmp_code"], icmp6["payload_bytes"]) == (128, 0, 8)
    assert (sctp["src_port"], sctp["dst_port"], sctp["payload_bytes"]) == (2905, 2906, 16)
    assert (gre["status"], gre["ip_proto"], gre["payload_bytes"], gre["src_port"]) == (DecodeStatus.OK, 47, 24, 0)


def test_snaplen_cut_packets_keep_their_true_lengths(engine):
    frame = bytes(eth() / IP4 / TCP(sport=1, dport=2) / Raw(b"d" * 500))
    whole_header, ports_only = decoded([frame[:54], frame[:38]], engine, wirelen=[len(frame)] * 2)
    assert (whole_header["status"], whole_header["payload_bytes"], whole_header["ip_bytes"]) == (DecodeStatus.OK, 500, 540)
    assert (ports_only["status"], ports_only["src_port"], ports_only["dst_port"]) == (DecodeStatus.PORTS_ONLY, 1, 2)
    assert (ports_only["tcp_flags"], ports_only["payload_bytes"], ports_only["ip_bytes"]) == (0, 0, 540)


def test_zero_ip_length_from_segmentation_offload_is_taken_from_the_frame(engine):
    frame = bytes(eth() / IP(src="192.0.2.1", dst="198.51.100.2", len=0) / TCP(sport=1, dport=2) / Raw(b"d" * 100))
    row = one(frame, engine)
    assert (row["status"], row["ip_bytes"], row["payload_bytes"]) == (DecodeStatus.OK, 140, 100)


def _patched(frame, offset: int, value: int) -> bytes:
    data = bytearray(bytes(frame))
    data[offset] = value
    return bytes(data)


@pytest.mark.parametrize(
    ("frame", "caplen", "status"),
    [
        (bytes(eth() / IP4), 10, DecodeStatus.TRUNCATED_LINK),
        (bytes(eth(type=0x8100) / Dot1Q() / IP4), 16, DecodeStatus.TRUNCATED_LINK),
        (bytes(eth() / IP4), 14 + 15, DecodeStatus.TRUNCATED_IP),
        (bytes(eth() / IP(src="192.0.2.1", dst="198.51.100.2", options=b"\x94\x04\x00\x00") / UDP()), 14 + 22, DecodeStatus.TRUNCATED_IP),
        (bytes(eth() / IP6), 14 + 39, DecodeStatus.TRUNCATED_IP),
        (bytes(eth() / IP4 / TCP()), 14 + 20 + 3, DecodeStatus.TRUNCATED_TRANSPORT),
        (_patched(eth() / IP4 / TCP(), 14, 0x44), None, DecodeStatus.BAD_IP_HEADER),  # IHL 4
        (_patched(eth() / IP4 / TCP(), 14, 0x65), None, DecodeStatus.BAD_IP_HEADER),  # version 6 behind 0x0800
        (_patched(eth() / IP4 / TCP(), 14 + 20 + 12, 0x40), None, DecodeStatus.BAD_TRANSPORT_HEADER),  # offset 4
        (_patched(eth() / IP4 / TCP(), 14 + 20 + 12, 0xF0), None, DecodeStatus.BAD_TRANSPORT_HEADER),  # past the end
        (bytes(eth() / IP4 / UDP(len=200)), None, DecodeStatus.BAD_TRANSPORT_HEADER),
        (bytes(eth() / IP4 / UDP(len=7)), None, DecodeStatus.BAD_TRANSPORT_HEADER),
        (bytes(eth() / IP(src="192.0.2.1", dst="198.51.100.2", len=900) / UDP()), None, DecodeStatus.BAD_IP_HEADER),
        (bytes(eth() / IP(src="192.0.2.1", dst="198.51.100.2", len=10) / UDP()), None, DecodeStatus.BAD_IP_HEADER),
        (bytes(eth() / ARP()), None, DecodeStatus.NOT_IP),
        (bytes(eth(type=0x0060)) + bytes(40), None, DecodeStatus.NOT_IP),
    ],
)
def test_malformed_and_out_of_scope_packets_get_their_status(engine, frame, caplen, status):
    assert one(frame[:caplen], engine, wirelen=[len(frame)])["status"] == status


def test_unsupported_link_type(engine):
    assert one(bytes(IP4 / UDP()), engine, linktype=147)["status"] == DecodeStatus.UNSUPPORTED_LINKTYPE


def test_empty_batch(engine):
    assert decoded([], engine) == []
