"""Community ID v1: the spec's published test vectors (seed 0, base64), through the whole pipeline."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6

import pcapflow
from pcapflow.tracking.community_id import community_id
from tests.factories import eth, pcap_bytes, stamped, write
from tests.tracking.test_properties import traffic

SPEC_VECTORS = [
    (IP(src="1.2.3.4", dst="5.6.7.8") / TCP(sport=1122, dport=3344), "1:wCb3OG7yAFWelaUydu0D+125CLM="),
    (IP(src="5.6.7.8", dst="1.2.3.4") / TCP(sport=3344, dport=1122), "1:wCb3OG7yAFWelaUydu0D+125CLM="),
    (IP(src="1.2.3.4", dst="5.6.7.8") / UDP(sport=1122, dport=3344), "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="),
    (IP(src="1.2.3.4", dst="5.6.7.8") / ICMP(type=8, code=0), "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="),
    (IP(src="5.6.7.8", dst="1.2.3.4") / ICMP(type=0, code=0), "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="),
    (IP(src="1.2.3.4", dst="5.6.7.8") / ICMP(type=11, code=0), "1:f/YiSyWqczrTgfUCZlBUnvHRcPk="),
]


@pytest.mark.parametrize(("packet", "expected"), SPEC_VECTORS)
def test_spec_vectors(tmp_path, packet, expected):
    frame = pcapflow.read_conversations(write(tmp_path / "x.pcap", pcap_bytes(stamped([eth() / packet]))))
    assert frame["community_id"].tolist() == [expected]


def test_scalar_reference_matches_the_spec():
    a, b = socket.inet_aton("1.2.3.4"), socket.inet_aton("5.6.7.8")
    assert community_id(b, a, 6, 3344, 1122) == "1:wCb3OG7yAFWelaUydu0D+125CLM="
    assert community_id(a, b, 1, 11, 0) == "1:f/YiSyWqczrTgfUCZlBUnvHRcPk="


@pytest.mark.parametrize(
    "packet",
    [
        IPv6(src="2001:db8::9", dst="2001:db8::1") / TCP(sport=443, dport=50000),
        IPv6(src="2001:db8::1", dst="2001:db8::9") / ICMPv6EchoRequest(),
        IP(src="10.0.0.1", dst="10.0.0.2", proto=47),  # no ports
    ],
)
def test_ipv6_and_portless_flows_match_the_scalar_reference(tmp_path, packet):
    frame = pcapflow.read_conversations(write(tmp_path / "x.pcap", pcap_bytes(stamped([eth() / packet]))))
    layer = packet[IP] if packet.haslayer(IP) else packet[IPv6]
    family = socket.AF_INET if packet.haslayer(IP) else socket.AF_INET6
    sport = getattr(layer.payload, "sport", getattr(layer.payload, "type", 0))
    dport = getattr(layer.payload, "dport", 129 if packet.haslayer(ICMPv6EchoRequest) else 0)
    expected = community_id(socket.inet_pton(family, layer.src), socket.inet_pton(family, layer.dst),
                            layer.nh if family == socket.AF_INET6 else layer.proto, sport, dport)
    assert frame["community_id"].tolist() == [expected]


@settings(max_examples=40, deadline=None)
@given(traffic())
def test_every_conversation_has_the_scalar_reference_id_of_its_first_packet(tmp_path_factory, packets):
    frame = pcapflow.read_conversations(write(tmp_path_factory.mktemp("c") / "x.pcap", pcap_bytes(packets)))
    for row in frame.itertuples():
        client = (socket.inet_aton(row.client_ip), row.client_port)
        server = (socket.inet_aton(row.server_ip), row.server_port)
        (source, sport), (destination, dport) = (server, client) if row.history.startswith("^") else (client, server)
        number = {"tcp": 6, "udp": 17, "icmp": 1}[row.protocol]
        assert row.community_id == community_id(source, destination, number, sport, dport), row
