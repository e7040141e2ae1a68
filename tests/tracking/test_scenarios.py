"""Crafted conversations with exact expected rows: keys, roles, splits, states, counters."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, UDPerror, fragment
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import Dot1Q
from scapy.packet import Raw

import pcapflow
from tests.factories import CLIENT, SERVER, eth, pcap_bytes, stamped, tcp_session, write


def conversations(tmp_path, packets, **options) -> pd.DataFrame:
    return pcapflow.read_conversations(write(tmp_path / "x.pcap", pcap_bytes(packets)), **options)


def row(frame: pd.DataFrame, index: int = 0) -> dict:
    return frame.iloc[index].to_dict()


def c2s(sport=50000, dport=443, **tcp):
    return eth() / IP(src=CLIENT, dst=SERVER) / TCP(sport=sport, dport=dport, **tcp)


def s2c(sport=50000, dport=443, **tcp):
    return eth() / IP(src=SERVER, dst=CLIENT) / TCP(sport=dport, dport=sport, **tcp)


def test_handshake_data_and_fin(tmp_path):
    packets = stamped(tcp_session())
    frame = conversations(tmp_path, packets)
    assert len(frame) == 1
    r = row(frame)
    assert (r["client_ip"], r["client_port"], r["server_ip"], r["server_port"]) == (CLIENT, 50000, SERVER, 80)
    assert (r["protocol"], r["role_basis"], r["conn_state"], r["end_reason"]) == ("tcp", "syn", "SF", "fin")
    assert r["history"] == "ShADdFf"
    client = [p for p in packets if p[IP].src == CLIENT]
    server = [p for p in packets if p[IP].src == SERVER]
    assert (r["packets"], r["client_packets"], r["server_packets"]) == (8, len(client), len(server))
    assert r["client_bytes"] == sum(len(p) for p in client)
    assert r["server_bytes"] == sum(len(p) for p in server)
    assert r["client_ip_bytes"] == sum(len(p[IP]) for p in client)
    assert (r["client_payload_bytes"], r["server_payload_bytes"]) == (18, 24)
    assert r["duration"] == pytest.approx(0.007)
    assert r["first_seen"] == pd.Timestamp(1_704_067_200, unit="s", tz="UTC")


def test_syn_answered_by_rst_is_rejected(tmp_path):
    frame = conversations(tmp_path, stamped([c2s(flags="S", seq=10), s2c(flags="RA", ack=11)]))
    r = row(frame)
    assert (r["conn_state"], r["end_reason"], r["role_basis"], r["history"]) == ("REJ", "rst", "syn", "Sr")


#: TCP exchanges (c: the client sent it, s: the server) and Zeek's conn_state and history of each
#: (rules in pcapflow.tracking.state)
TCP_OUTCOMES = {
    "handshake": ([("c", "S"), ("s", "SA"), ("c", "A")], "S1", "ShA", "end_of_capture"),
    "client_closes": ([("c", "S"), ("s", "SA"), ("c", "FA")], "S2", "ShF", "end_of_capture"),
    "server_closes": ([("c", "S"), ("s", "SA"), ("c", "A"), ("s", "FA")], "S3", "ShAf", "end_of_capture"),
    "half_open_close": ([("c", "S"), ("c", "F")], "SH", "SF", "end_of_capture"),
    "server_only_closes": ([("s", "SA"), ("s", "F")], "SHR", "^hf", "end_of_capture"),
    "client_resets": ([("c", "S"), ("s", "SA"), ("c", "A"), ("c", "R")], "RSTO", "ShAR", "rst"),
    "server_resets": ([("c", "S"), ("s", "SA"), ("c", "A"), ("s", "R")], "RSTR", "ShAr", "rst"),
    "syn_then_reset": ([("c", "S"), ("c", "R")], "RSTOS0", "SR", "rst"),
    "syn_fin_then_reset": ([("c", "S"), ("c", "F"), ("c", "R")], "OTH", "SFR", "rst"),
    "server_only_resets": ([("s", "SA"), ("s", "RA")], "RSTRH", "^hr", "rst"),
    "both_reset_without_data": ([("c", "S"), ("s", "RA"), ("c", "R")], "REJ", "SrR", "rst"),
    "both_reset_after_data": ([("c", "S"), ("c", "PA", b"x"), ("s", "RA"), ("c", "R")], "RSTR", "SDrR", "rst"),
}


@pytest.mark.parametrize("name", TCP_OUTCOMES)
def test_tcp_outcomes(tmp_path, name):
    exchange, state, history, end_reason = TCP_OUTCOMES[name]
    packets = [(c2s if sender == "c" else s2c)(flags=flags, seq=10) / Raw(data[0] if data else b"") for sender, flags, *data in exchange]
    r = row(conversations(tmp_path, stamped(packets)))
    assert (r["conn_state"], r["history"], r["end_reason"], r["client_port"], r["server_port"]) == (state, history, end_reason, 50000, 443)


def test_udp_that_only_the_server_sent(tmp_path):
    answer = eth() / IP(src="10.0.0.53", dst=CLIENT) / UDP(sport=53, dport=53001) / Raw(b"a")
    r = row(conversations(tmp_path, stamped([answer, answer.copy()])))
    assert (r["server_port"], r["role_basis"], r["conn_state"], r["history"], r["client_packets"], r["server_packets"]) == (
        53, "port", "SHR", "^d", 0, 2)


def test_icmpv6_echo_reply_seen_first_names_the_requester_the_client(tmp_path):
    packets = stamped([
        eth() / IPv6(src="2001:db8::2", dst="2001:db8::1") / ICMPv6EchoReply(id=1, seq=1),
        eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / ICMPv6EchoRequest(id=1, seq=1),
    ])
    r = row(conversations(tmp_path, packets))
    assert (r["protocol"], r["client_ip"], r["client_port"], r["server_port"], r["role_basis"], r["conn_state"]) == (
        "icmpv6", "2001:db8::1", 128, 129, "port", "OTH")


def test_ports_of_one_rank_leave_the_first_packet_to_decide(tmp_path):
    packets = stamped([eth() / IP(src=SERVER, dst=CLIENT) / UDP(sport=5000, dport=6000), eth() / IP(src=CLIENT, dst=SERVER) / UDP(sport=6000, dport=5000)])
    r = row(conversations(tmp_path, packets))
    assert (r["client_ip"], r["client_port"], r["server_port"], r["role_basis"], r["conn_state"], r["history"]) == (
        SERVER, 5000, 6000, "first_packet", "SF", "")


def test_lone_syn(tmp_path):
    r = row(conversations(tmp_path, stamped([c2s(flags="S", seq=10)])))
    assert (r["conn_state"], r["end_reason"], r["server_port"], r["history"]) == ("S0", "end_of_capture", 443, "S")


def test_new_syn_with_a_new_isn_starts_a_new_conversation(tmp_path):
    packets = stamped([c2s(flags="S", seq=10), c2s(flags="S", seq=99999)], step=Decimal(30))
    frame = conversations(tmp_path, packets)
    assert len(frame) == 2
    assert frame["end_reason"].tolist() == ["reuse", "end_of_capture"]
    assert frame["conn_state"].tolist() == ["S0", "S0"]


def test_retransmitted_syn_stays_in_its_conversation(tmp_path):
    packets = stamped([c2s(flags="S", seq=10), c2s(flags="S", seq=10), s2c(flags="SA", seq=5, ack=11)], step=Decimal(3))
    frame = conversations(tmp_path, packets)
    assert len(frame) == 1
    assert row(frame)["client_packets"] == 2


def test_syn_ack_seen_before_its_syn_is_not_reuse(tmp_path):
    packets = stamped([s2c(flags="SA", seq=5, ack=11), c2s(flags="S", seq=10), c2s(flags="A", seq=11, ack=6)])
    frame = conversations(tmp_path, packets)
    assert len(frame) == 1
    assert (row(frame)["role_basis"], row(frame)["client_port"]) == ("syn", 50000)


def test_capture_starting_mid_stream_on_443(tmp_path):
    packets = stamped([s2c(flags="PA", seq=1, ack=1) / Raw(b"x" * 100), c2s(flags="A", seq=1, ack=101)])
    r = row(conversations(tmp_path, packets))
    assert (r["server_port"], r["role_basis"], r["conn_state"]) == (443, "port", "OTH")
    assert r["history"] == "^dA"


def test_syn_ack_seen_first_names_its_sender_the_server(tmp_path):
    packets = stamped([s2c(sport=50000, dport=8443, flags="SA", seq=5, ack=11), c2s(sport=50000, dport=8443, flags="A", seq=11, ack=6)])
    r = row(conversations(tmp_path, packets))
    assert (r["server_port"], r["role_basis"]) == (8443, "syn_ack")


def test_dns_response_seen_before_its_query(tmp_path):
    response = eth() / IP(src="10.0.0.53", dst=CLIENT) / UDP(sport=53, dport=53001) / DNS(qr=1, qd=DNSQR(qname="a.example"))
    query = eth() / IP(src=CLIENT, dst="10.0.0.53") / UDP(sport=53001, dport=53) / DNS(qd=DNSQR(qname="a.example"))
    r = row(conversations(tmp_path, stamped([response, query])))
    assert (r["server_ip"], r["server_port"], r["client_port"], r["role_basis"]) == ("10.0.0.53", 53, 53001, "port")
    assert (r["conn_state"], r["history"]) == ("SF", "^dD")


def test_udp_idle_gap_splits(tmp_path):
    query = eth() / IP(src=CLIENT, dst="10.0.0.53") / UDP(sport=53001, dport=53) / Raw(b"q")
    packets = stamped([query.copy(), query.copy(), query.copy()], step=Decimal(40))  # gaps of 40 s, then 80 s
    packets[2].time = Decimal(packets[1].time) + 61
    frame = conversations(tmp_path, packets)
    assert frame["packets"].tolist() == [2, 1]
    assert frame["end_reason"].tolist() == ["idle_timeout", "end_of_capture"]
    assert len(conversations(tmp_path, packets, udp_idle_timeout=120)) == 1


def test_icmp_echo_request_and_reply_are_one_conversation(tmp_path):
    packets = stamped([
        eth() / IP(src=SERVER, dst=CLIENT) / ICMP(type=0, id=1, seq=1),  # the reply is captured first
        eth() / IP(src=CLIENT, dst=SERVER) / ICMP(type=8, id=1, seq=1),
    ])
    frame = conversations(tmp_path, packets)
    assert len(frame) == 1
    r = row(frame)
    assert (r["protocol"], r["client_ip"], r["client_port"], r["server_port"], r["role_basis"]) == ("icmp", CLIENT, 8, 0, "port")
    assert r["community_id"] == pcapflow.tracking.community_id.community_id(
        bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), 1, 8, 0
    )


def test_icmp_unreachable_is_keyed_by_type_and_code(tmp_path):
    quoted = IPerror(src=CLIENT, dst="10.9.9.9") / UDPerror(sport=5000, dport=53)
    packet = eth() / IP(src="10.0.0.254", dst=CLIENT) / ICMP(type=3, code=3) / quoted
    r = row(conversations(tmp_path, stamped([packet])))
    assert (r["client_ip"], r["client_port"], r["server_ip"], r["server_port"]) == ("10.0.0.254", 3, CLIENT, 3)
    assert (r["role_basis"], r["conn_state"]) == ("first_packet", "OTH")


def test_fragmented_udp_datagram_is_one_conversation_with_every_fragment(tmp_path):
    datagram = IP(src=CLIENT, dst=SERVER, id=0x1234) / UDP(sport=40000, dport=9999) / Raw(b"z" * 3000)
    packets = stamped([eth() / f for f in fragment(datagram, fragsize=1200)])
    frame = conversations(tmp_path, packets)
    assert len(frame) == 1
    r = row(frame)
    assert (r["server_port"], r["client_packets"], r["client_payload_bytes"]) == (9999, 3, 3000)
    assert r["client_bytes"] == sum(len(p) for p in packets)
    assert frame.attrs["report"].orphan_fragments == 0


def test_orphan_fragment_is_counted_not_tracked(tmp_path):
    orphan = eth() / IP(src=CLIENT, dst=SERVER, id=9, frag=150, proto=17) / Raw(b"o" * 100)
    frame = conversations(tmp_path, stamped([orphan, c2s(flags="S")]))
    assert len(frame) == 1
    assert frame.attrs["report"].orphan_fragments == 1


@pytest.mark.parametrize(("vlan_in_key", "expected"), [(False, 1), (True, 2)])
def test_same_five_tuple_on_two_vlans(tmp_path, vlan_in_key, expected):
    packets = stamped([
        eth() / Dot1Q(vlan=10) / IP(src=CLIENT, dst=SERVER) / UDP(sport=5000, dport=514),
        eth() / Dot1Q(vlan=20) / IP(src=CLIENT, dst=SERVER) / UDP(sport=5000, dport=514),
    ])
    frame = conversations(tmp_path, packets, vlan_in_key=vlan_in_key)
    assert len(frame) == expected
    assert frame["vlan"].tolist() == [10, 20][:expected]


def test_ipv6_conversation(tmp_path):
    packets = stamped([
        eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=50000, dport=22, flags="S"),
        eth() / IPv6(src="2001:db8::2", dst="2001:db8::1") / TCP(sport=22, dport=50000, flags="SA"),
    ])
    r = row(conversations(tmp_path, packets))
    assert (r["ip_version"], r["client_ip"], r["server_ip"], r["server_port"], r["conn_state"]) == (6, "2001:db8::1", "2001:db8::2", 22, "S1")


def test_empty_capture_gives_a_typed_empty_frame(tmp_path):
    frame = conversations(tmp_path, [])
    assert len(frame) == 0
    assert list(frame.columns) == [spec.name for spec in pcapflow.schema.CONVERSATION_COLUMNS]
    assert str(frame["client_port"].dtype) == "uint16"


def test_a_conversation_continues_across_files(tmp_path):
    packets = stamped(tcp_session())
    first = write(tmp_path / "a.pcap", pcap_bytes(packets[:3]))
    second = write(tmp_path / "b.pcapng", pcap_bytes(packets[3:]))
    frame = pcapflow.read_conversations([first, second])
    assert len(frame) == 1
    assert (row(frame)["packets"], row(frame)["conn_state"], row(frame)["end_reason"]) == (8, "SF", "fin")


@pytest.mark.parametrize("workers", [1, 3])
def test_a_syn_is_compared_with_its_own_conversation_only(tmp_path, workers):
    """SYN (ISN 5), silence beyond the timeout, data, then SYN (ISN 5) again: the data starts a new
    conversation, which has no initial sequence number of its own, so the second SYN starts a
    third one, however the capture is cut into batches."""
    packets = [c2s(flags="S", seq=5), c2s(flags="PA", seq=6) / Raw(b"x"), c2s(flags="S", seq=5)]
    for packet, seconds in zip(packets, (0, 400, 401)):
        packet.time = Decimal(1_704_067_200 + seconds)
    frame = conversations(tmp_path, packets, chunk_bytes=64, workers=workers)
    assert frame["end_reason"].tolist() == ["idle_timeout", "reuse", "end_of_capture"]


@pytest.mark.parametrize("workers", [1, 3])
def test_evidence_of_other_conversations_in_a_step_is_not_taken_over(tmp_path, workers):
    """A SYN (ISN 10); then, in one file, SYNs of fifty other conversations and data of the first
    one; then the first SYN again. The data carried no initial sequence number, so the
    conversation keeps ISN 10 and the last SYN is a retransmission, not a new conversation."""
    others = [c2s(sport=40000 + n, flags="S", seq=777) for n in range(50)]
    steps = [[c2s(flags="S", seq=10)], [*others, c2s(flags="PA", seq=11) / Raw(b"x")], [c2s(flags="S", seq=10)]]
    packets = stamped([packet for step in steps for packet in step])
    paths, at = [], 0
    for number, step in enumerate(steps):
        paths.append(write(tmp_path / f"{number}.pcap", pcap_bytes(packets[at : at + len(step)])))
        at += len(step)
    frame = pcapflow.read_conversations(paths, workers=workers)
    first = frame[frame["client_port"] == 50000]
    assert len(first) == 1
    assert (row(first)["client_packets"], row(first)["history"]) == (3, "SD")
    assert len(frame) == 51
