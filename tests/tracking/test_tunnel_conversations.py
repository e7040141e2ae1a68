"""Conversations out of tunnels: carriers and inner conversations as rows of their own, each
frame counted once in each, the tunnel id in the inner key, parents linked across partitions,
and results that do not depend on workers, batch sizes or where the file is cut."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import GRE, IP, TCP, UDP
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

import pcapflow
from pcapflow import pipeline
from tests.factories import eth, pcap_bytes, stamped, write

VTEP_A, VTEP_B = "192.0.2.1", "192.0.2.2"


def vxlan(inner, vni: int, sport: int = 49152, outer=(VTEP_A, VTEP_B)):
    return eth() / IP(src=outer[0], dst=outer[1]) / UDP(sport=sport, dport=4789) / VXLAN(vni=vni, flags=0x08) / eth() / inner


def inner_tcp(payload: bytes = b"", reply: bool = False, flags: str = "PA"):
    ends = ("10.0.0.2", "10.0.0.1") if reply else ("10.0.0.1", "10.0.0.2")
    ports = (80, 40000) if reply else (40000, 80)
    return IP(src=ends[0], dst=ends[1]) / TCP(sport=ports[0], dport=ports[1], flags=flags) / Raw(payload)


def frames_of(path, **options) -> pd.DataFrame:
    return pcapflow.read_conversations(path, **options)


def test_a_vxlan_exchange_is_a_carrier_and_an_inner_conversation(tmp_path):
    packets = stamped([vxlan(inner_tcp(b"x" * 10), 7), vxlan(inner_tcp(b"y" * 20, reply=True), 7, sport=50000, outer=(VTEP_B, VTEP_A)),
                       vxlan(inner_tcp(b"z" * 5), 7)])
    path = write(tmp_path / "v.pcap", pcap_bytes(packets))
    frame = frames_of(path, workers=1)
    carriers = frame[frame["is_tunnel"]]
    inner = frame[frame["tunnel"].notna()]
    # the two VTEPs' source ports differ: two carrier conversations, one inner one
    assert sorted(zip(carriers["client_port"], carriers["server_port"], carriers["packets"])) == [(49152, 4789, 2), (50000, 4789, 1)]
    assert carriers["tunnel"].isna().all() and carriers["parent_id"].isna().all()
    assert len(inner) == 1
    row = inner.iloc[0]
    assert (row["protocol"], row["client_ip"], row["server_port"], row["tunnel"], row["tunnel_id"]) == ("tcp", "10.0.0.1", 80, "vxlan", 7)
    assert (row["client_packets"], row["server_packets"]) == (2, 1)
    assert not row["is_tunnel"]
    # bytes: the carrying frames'; IP and payload bytes: the inner headers'
    assert row["bytes"] == sum(len(p) for p in packets)
    assert (row["client_ip_bytes"], row["server_ip_bytes"]) == (40 + 10 + 40 + 5, 40 + 20)
    assert (row["client_payload_bytes"], row["server_payload_bytes"]) == (15, 20)
    joined = frame.merge(frame, left_on="parent_id", right_on="conversation_id", suffixes=("", "_carrier"))
    assert list(zip(joined["tunnel"], joined["client_port_carrier"], joined["server_port_carrier"])) == [("vxlan", 49152, 4789)]
    # every frame counts once in its carrier and once in its inner conversation
    assert carriers["packets"].sum() == inner["packets"].sum() == len(packets)


def test_payload_inspection_looks_inside_the_tunnel_not_at_it(tmp_path):
    """The carrier's payload is the tunnel, never an application: the app and the server name
    are the inner conversation's alone."""
    request, response = b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n"
    packets = stamped([vxlan(inner_tcp(request), 7), vxlan(inner_tcp(response, reply=True), 7, outer=(VTEP_B, VTEP_A))])
    frame = frames_of(write(tmp_path / "v.pcap", pcap_bytes(packets)), workers=1)
    carriers, inner = frame[frame["is_tunnel"]], frame[frame["tunnel"].notna()]
    assert len(carriers) == 2 and carriers["app"].isna().all() and carriers["server_name"].isna().all()
    assert inner[["app", "server_name"]].values.tolist() == [["http", "example.org"]]


def test_the_same_five_tuple_in_two_vnis_is_two_conversations(tmp_path):
    packets = stamped([vxlan(inner_tcp(), 7), vxlan(inner_tcp(), 8), vxlan(inner_tcp(), 7)])
    frame = frames_of(write(tmp_path / "v.pcap", pcap_bytes(packets)), workers=1)
    inner = frame[frame["tunnel"].notna()]
    assert sorted(zip(inner["tunnel_id"], inner["packets"])) == [(7, 2), (8, 1)]
    assert inner["parent_id"].tolist() == [0, 0]


def test_a_gtp_u_connection_is_one_conversation_though_each_direction_has_its_teid(tmp_path):
    from scapy.contrib.gtp import GTP_U_Header

    def gtp(inner, teid: int, reply: bool = False):
        ends = ("198.51.100.2", "198.51.100.1") if reply else ("198.51.100.1", "198.51.100.2")
        return eth() / IP(src=ends[0], dst=ends[1]) / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=teid, gtp_type=255) / inner

    uplink, downlink = 0x1111, 0x2222  # each end names the tunnel it receives on
    packets = stamped([gtp(inner_tcp(flags="S"), uplink), gtp(inner_tcp(flags="SA", reply=True), downlink, reply=True),
                       gtp(inner_tcp(b"GET", flags="PA"), uplink), gtp(inner_tcp(b"x" * 4, reply=True), downlink, reply=True)])
    frame = frames_of(write(tmp_path / "g.pcap", pcap_bytes(packets)), workers=1)
    inner = frame[frame["tunnel"].notna()]
    assert len(inner) == 1
    row = inner.iloc[0]
    # the TEID shown is the first packet's
    assert (row["tunnel"], row["tunnel_id"], row["client_packets"], row["server_packets"]) == ("gtp_u", uplink, 2, 2)
    assert (row["client_ip"], row["server_port"], row["history"]) == ("10.0.0.1", 80, "ShDd")


def test_no_decap_keeps_the_outer_view(tmp_path):
    packets = stamped([vxlan(inner_tcp(), 7), eth() / IP(src=VTEP_A, dst=VTEP_B) / GRE() / inner_tcp()])
    path = write(tmp_path / "v.pcap", pcap_bytes(packets))
    outer = frames_of(path, workers=1, decapsulate=False)
    assert outer["protocol"].astype(str).tolist() == ["udp", "gre"]
    assert outer["tunnel"].isna().all() and not outer["is_tunnel"].any()
    both = frames_of(path, workers=1)
    assert both["protocol"].astype(str).tolist() == ["udp", "tcp", "gre", "tcp"]
    assert both["tunnel"].tolist()[1::2] == ["vxlan", "gre"] and both["tunnel"].isna().tolist() == [True, False, True, False]
    assert both["parent_id"].tolist() == [pd.NA, 0, pd.NA, 2]


def test_a_malformed_inner_packet_leaves_its_carrier_tracked(tmp_path):
    short_ip = IP(src="10.0.0.1", dst="10.0.0.2", ihl=2) / TCP()  # an IHL below 5: a bad IP header
    frame = frames_of(write(tmp_path / "v.pcap", pcap_bytes(stamped([vxlan(short_ip, 3)]))), workers=1)
    assert frame["protocol"].astype(str).tolist() == ["udp"]
    assert frame["is_tunnel"].tolist() == [True]
    assert frame.attrs["report"].status_counts == {"BAD_IP_HEADER": 1}


@st.composite
def tunnelled_traffic(draw):
    packets = []
    for kind in draw(st.lists(st.sampled_from(["vxlan", "gre", "plain"]), min_size=1, max_size=40)):
        inner = inner_tcp(b"p" * draw(st.integers(0, 30)), reply=draw(st.booleans()))
        host = f"192.0.2.{draw(st.integers(1, 4))}"
        if kind == "vxlan":
            packets.append(vxlan(inner, draw(st.integers(1, 3)), sport=draw(st.sampled_from([49152, 49153])), outer=(host, VTEP_B)))
        elif kind == "gre":
            packets.append(eth() / IP(src=host, dst=VTEP_B) / GRE() / inner)
        else:
            packets.append(eth() / inner)
    return stamped(packets)


@settings(max_examples=25, deadline=None)
@given(tunnelled_traffic(), st.sampled_from([200, 1500, 1 << 20]), st.sampled_from([256, 1024, 1 << 20]))
def test_tunnelled_conversations_do_not_depend_on_workers_batches_or_pieces(tmp_path_factory, packets, chunk_bytes, piece_bytes):
    path = write(tmp_path_factory.mktemp("t") / "t.pcap", pcap_bytes(packets))
    expected = frames_of(path, workers=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "PIECE_BYTES", piece_bytes)
        for workers in (1, 2, 3):
            frame = frames_of(path, workers=workers, chunk_bytes=chunk_bytes)
            pd.testing.assert_frame_equal(frame, expected)
            assert frame.attrs["report"].to_dict() == expected.attrs["report"].to_dict()
    tunnelled = sum(1 for packet in packets if not isinstance(packet.payload.payload, TCP))
    assert int(expected.loc[expected["is_tunnel"], "packets"].sum()) == tunnelled
    assert int(expected.loc[expected["tunnel"].notna(), "packets"].sum()) == tunnelled


def test_read_packets_shows_the_innermost_headers_and_the_report_counts_tunnels(tmp_path):
    packets = stamped([vxlan(inner_tcp(), 7), eth() / IP(src=VTEP_A, dst=VTEP_B) / GRE() / inner_tcp(), eth() / inner_tcp()])
    path = write(tmp_path / "v.pcap", pcap_bytes(packets))
    frame = pcapflow.read_packets(path)
    assert frame["src_ip"].tolist() == ["10.0.0.1"] * 3
    assert frame["tunnel_depth"].tolist() == [1, 1, 0]
    assert frame["tunnel"].tolist()[:2] == ["vxlan", "gre"] and frame["tunnel"].isna().tolist() == [False, False, True]
    assert frame["tunnel_id"].tolist() == [7, pd.NA, pd.NA]
    outer = pcapflow.read_packets(path, decapsulate=False)
    assert outer["src_ip"].tolist() == [VTEP_A, VTEP_A, "10.0.0.1"] and (outer["tunnel_depth"] == 0).all()
    analysis = pcapflow.analyze(path, workers=2)
    assert analysis.report.tunnels == {"vxlan": 1, "gre": 1}
    assert analysis.report.to_dict()["decapsulated"] == {"vxlan": 1, "gre": 1}
    assert analysis.report.records_read == sum(analysis.report.status_counts.values()) == 3
    assert pcapflow.analyze(path, decapsulate=False).report.tunnels == {}


def test_the_analyze_header_says_what_came_out_of_tunnels(tmp_path):
    from click.testing import CliRunner

    from pcapflow.cli import main

    packets = stamped([vxlan(inner_tcp(), 7), vxlan(inner_tcp(), 7), eth() / IP(src=VTEP_A, dst=VTEP_B) / GRE() / inner_tcp()])
    path = str(write(tmp_path / "v.pcap", pcap_bytes(packets)))
    lines = CliRunner().invoke(main, ["analyze", path], catch_exceptions=False).output.splitlines()
    assert lines[1:3] == ["packets  3 read: 3 tracked", "         3 out of tunnels (vxlan 2, gre 1)"]
    assert lines[3].startswith("conversations  4 (tcp 2, gre 1, udp 1)")
    plain = CliRunner().invoke(main, ["analyze", "--no-decap", path], catch_exceptions=False).output.splitlines()
    assert plain[2].startswith("conversations  2 (gre 1, udp 1)")


def _pptp(inner, call_id: int, reply: bool = False):
    """Enhanced GRE (key and sequence flags, version 1, PPP) carrying ``inner`` in HDLC-like framing."""
    import struct

    ends = ("198.51.100.2", "198.51.100.1") if reply else ("198.51.100.1", "198.51.100.2")
    body = b"\xff\x03\x00\x21" + bytes(inner)
    header = struct.pack("!HHHHI", 0x3001, 0x880B, len(body), call_id, 1)
    return eth() / IP(src=ends[0], dst=ends[1], proto=47) / Raw(header + body)


def test_a_pptp_connection_is_one_conversation_though_each_direction_has_its_call_id(tmp_path):
    client_call, server_call = 0x0A0A, 0x0B0B  # each end names the call it receives on
    packets = stamped([_pptp(inner_tcp(flags="S"), server_call), _pptp(inner_tcp(flags="SA", reply=True), client_call, reply=True),
                       _pptp(inner_tcp(b"GET"), server_call)])
    frame = frames_of(write(tmp_path / "p.pcap", pcap_bytes(packets)), workers=1)
    inner = frame[frame["tunnel"].notna()]
    assert len(inner) == 1
    row = inner.iloc[0]
    assert (row["tunnel"], row["tunnel_id"], row["client_packets"], row["server_packets"]) == ("pptp", server_call, 2, 1)
    assert (row["client_ip"], row["server_port"], row["parent_id"]) == ("10.0.0.1", 80, 0)
    carrier = frame[frame["is_tunnel"]]
    assert carrier["protocol"].astype(str).tolist() == ["gre"] and carrier["packets"].tolist() == [3]


TEREDO_CLIENT, TEREDO_RELAY = "192.0.2.10", "203.0.113.5"


def _ipv6_over_udp(inner, port: int, reply: bool = False, header: bytes = b""):
    """IPv6 ``inner`` in UDP between a client (port 40001) and a relay or server on ``port``."""
    ends, ports = ((TEREDO_RELAY, TEREDO_CLIENT), (port, 40001)) if reply else ((TEREDO_CLIENT, TEREDO_RELAY), (40001, port))
    return eth() / IP(src=ends[0], dst=ends[1]) / UDP(sport=ports[0], dport=ports[1]) / Raw(header + bytes(inner))


def inner_tcp6(payload: bytes = b"", reply: bool = False, flags: str = "PA"):
    from scapy.layers.inet6 import IPv6

    ends = ("2001:db8::2", "2001:db8::1") if reply else ("2001:db8::1", "2001:db8::2")
    ports = (80, 40000) if reply else (40000, 80)
    return IPv6(src=ends[0], dst=ends[1]) / TCP(sport=ports[0], dport=ports[1], flags=flags) / Raw(payload)


@pytest.mark.parametrize(("port", "header", "tunnel"), [
    pytest.param(3544, b"", "teredo", id="Teredo"),
    pytest.param(5072, bytes([0x41, 0x52, 0x11, 41]) + bytes(4 + 16 + 20), "ayiya", id="AYIYA"),
    pytest.param(4754, bytes.fromhex("000086dd"), "gre", id="GRE in UDP"),
])
def test_ipv6_over_udp_is_a_carrier_and_an_inner_conversation(tmp_path, port, header, tunnel):
    packets = stamped([_ipv6_over_udp(inner_tcp6(flags="S"), port, header=header),
                       _ipv6_over_udp(inner_tcp6(flags="SA", reply=True), port, reply=True, header=header),
                       _ipv6_over_udp(inner_tcp6(b"GET / HTTP/1.1\r\n\r\n"), port, header=header)])
    if port == 4754:  # GRE in UDP is looked for on the destination port only: the reply stays UDP
        packets = [packets[0], packets[2]]
    frame = frames_of(write(tmp_path / "t.pcap", pcap_bytes(packets)), workers=1)
    carriers, inner = frame[frame["tunnel"].isna()], frame[frame["tunnel"].notna()]
    assert carriers["protocol"].astype(str).tolist() == ["udp"]
    assert (carriers["server_port"].tolist(), carriers["packets"].tolist(), carriers["is_tunnel"].tolist()) == ([port], [len(packets)], [True])
    assert len(inner) == 1
    row = inner.iloc[0]
    assert (row["protocol"], row["client_ip"], row["server_ip"], row["server_port"]) == ("tcp", "2001:db8::1", "2001:db8::2", 80)
    assert (row["tunnel"], row["tunnel_id"], row["parent_id"]) == (tunnel, pd.NA, carriers["conversation_id"].iloc[0])
    assert (row["client_packets"], row["server_packets"], row["client_payload_bytes"]) == (len(packets) - 1 if port != 4754 else 2,
                                                                                          0 if port == 4754 else 1, 18)


def test_mpls_over_udp_is_a_carrier_and_an_inner_conversation(tmp_path):
    from scapy.contrib.mpls import MPLS

    def mpls(inner, reply: bool = False):
        ends, ports = ((VTEP_B, VTEP_A), (50001, 6635)) if reply else ((VTEP_A, VTEP_B), (50000, 6635))
        return eth() / IP(src=ends[0], dst=ends[1]) / UDP(sport=ports[0], dport=ports[1]) / MPLS(label=100, s=1) / inner

    packets = stamped([mpls(inner_tcp(flags="S")), mpls(inner_tcp(flags="SA", reply=True), reply=True)])
    frame = frames_of(write(tmp_path / "m.pcap", pcap_bytes(packets)), workers=1)
    carriers, inner = frame[frame["tunnel"].isna()], frame[frame["tunnel"].notna()]
    # each direction is sent to the other end's port 6635: two carriers, one inner connection
    assert sorted(zip(carriers["client_port"], carriers["server_port"], carriers["packets"])) == [(50000, 6635, 1), (50001, 6635, 1)]
    assert len(inner) == 1
    row = inner.iloc[0]
    assert (row["tunnel"], row["tunnel_id"], row["client_packets"], row["server_packets"], row["history"]) == ("mpls", pd.NA, 1, 1, "Sh")
    assert row["parent_id"] in carriers["conversation_id"].tolist()


@pytest.mark.parametrize(("port", "header", "tunnel"), [
    pytest.param(3544, b"", "teredo", id="Teredo"),
    pytest.param(5072, bytes([0x41, 0x52, 0x11, 41]) + bytes(4 + 16 + 20), "ayiya", id="AYIYA"),
    pytest.param(4754, bytes.fromhex("000086dd"), "gre", id="GRE in UDP"),
    pytest.param(6635, bytes.fromhex("00064140"), "mpls", id="MPLS in UDP"),
])
def test_a_truncated_inner_packet_leaves_its_carrier_tracked(tmp_path, port, header, tunnel):
    """The record cut 2 bytes into the inner TCP header (Teredo's checks need the whole IPv6
    header and its payload length; the IPv6 header is whole for all four)."""
    whole = bytes(_ipv6_over_udp(inner_tcp6(b"x" * 10), port, header=header))
    cut = eth().__class__(whole[: len(whole) - 10 - 20 + 2])
    cut.wirelen = len(whole)
    analysis = pcapflow.analyze(write(tmp_path / "c.pcap", pcap_bytes(stamped([cut]))), workers=1)
    frame = analysis.conversations
    assert frame["protocol"].astype(str).tolist() == ["udp"] and frame["tunnel"].isna().all()
    assert (frame["packets"].tolist(), frame["is_tunnel"].tolist()) == ([1], [True])
    assert analysis.report.status_counts == {"TRUNCATED_TRANSPORT": 1}
    assert analysis.report.tunnels == {tunnel: 1}
