"""Exact decoded fields for the link layers with headers of their own length (802.11 bare, behind
radiotap and PPI; PPP, PPP in HDLC framing, Cisco HDLC; NFLOG; PFLOG), deep VLAN and MPLS
stacks and AH in IPv4, on both engines; then whole captures of each link type, and the warning
about a file that declares the wrong link type."""

from __future__ import annotations

import struct

import pytest
from click.testing import CliRunner
from scapy.contrib.chdlc import CHDLC
from scapy.contrib.mpls import MPLS
from scapy.layers.dot11 import Dot11, Dot11QoS, RadioTap
from scapy.layers.inet import IP, UDP
from scapy.layers.ipsec import AH
from scapy.layers.l2 import LLC, SNAP, Dot1Q
from scapy.layers.pflog import PFLog
from scapy.packet import Raw

import pcapflow
from pcapflow.cli import main
from pcapflow.decode import NO_VLAN, DecodeStatus
from tests.decode.test_layers import IP4, IP6, SEGMENT, assert_addresses, decoded, one
from tests.factories import eth, pcap_bytes, tcp_session, write

SNAP_IPV4 = LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0, code=0x0800)
DATA = Dot11(type=2, subtype=0, FCfield="to_DS", addr1="02:00:00:00:00:01", addr2="02:00:00:00:00:02", addr3="02:00:00:00:00:03")
QOS = Dot11(type=2, subtype=8, FCfield="from_DS") / Dot11QoS(TID=5)


def nflog(packet, order: str = "<", family: int = 2) -> bytes:
    """An NFLOG record: header, the packet-header TLV, a prefix TLV (padded), the payload TLV."""
    payload = bytes(packet)
    tlv = lambda kind, value: (struct.pack(order + "HH", 4 + len(value), kind) + value).ljust((7 + len(value)) // 4 * 4, b"\0")  # noqa: E731
    return bytes([family, 0, 0, 7]) + tlv(1, b"\x08\x00\x01\x00") + tlv(10, b"drop") + tlv(9, payload)


def check_tcp(row, src="192.0.2.1", dst="198.51.100.2"):
    assert row["status"] == DecodeStatus.OK
    assert_addresses(row, src, dst, 4)
    assert (row["src_port"], row["dst_port"], row["tcp_flags"], row["payload_bytes"], row["ip_bytes"]) == (40000, 443, 0x18, 10, 50)


@pytest.mark.parametrize(("linktype", "frame"), [
    pytest.param(105, DATA / SNAP_IPV4 / IP4 / SEGMENT, id="802.11 data"),
    pytest.param(105, QOS / SNAP_IPV4 / IP4 / SEGMENT, id="802.11 QoS data"),
    pytest.param(105, Dot11(type=2, subtype=8, FCfield="to_DS+from_DS+order") / Dot11QoS() / Raw(bytes(4)) / SNAP_IPV4 / IP4 / SEGMENT,
                 id="802.11 four addresses, QoS and HT control"),
    pytest.param(105, DATA / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0xF8, code=0x0800) / IP4 / SEGMENT, id="802.1H SNAP"),
    pytest.param(127, bytes(RadioTap(present="TSFT+Flags+Rate", mac_timestamp=7, Flags="FCS") / QOS / SNAP_IPV4 / IP4 / SEGMENT) + bytes(4),
                 id="radiotap"),
    pytest.param(127, RadioTap(present="Flags", Flags="pad") / QOS / Raw(bytes(2)) / SNAP_IPV4 / IP4 / SEGMENT, id="radiotap data pad"),
    pytest.param(192, struct.pack("<BBHI", 0, 0, 32, 105) + bytes(24) + bytes(QOS / SNAP_IPV4 / IP4 / SEGMENT), id="PPI 802.11"),
    pytest.param(192, struct.pack("<BBHI", 0, 0, 8, 1) + bytes(eth() / IP4 / SEGMENT), id="PPI Ethernet"),
    pytest.param(9, b"\x00\x21" + bytes(IP4 / SEGMENT), id="PPP"),
    pytest.param(9, b"\xff\x03\x21" + bytes(IP4 / SEGMENT), id="PPP framed, compressed protocol"),
    pytest.param(9, b"\xff\x03\x02\x81" + bytes(MPLS(s=1) / IP4 / SEGMENT), id="PPP MPLS"),
    pytest.param(50, b"\xff\x03\x00\x21" + bytes(IP4 / SEGMENT), id="PPP in HDLC framing"),
    pytest.param(50, CHDLC() / IP4 / SEGMENT, id="Cisco HDLC under PPP_HDLC"),
    pytest.param(104, CHDLC(address=0x8F) / IP4 / SEGMENT, id="Cisco HDLC"),
    pytest.param(239, nflog(IP4 / SEGMENT), id="NFLOG little-endian"),
    pytest.param(239, nflog(IP4 / SEGMENT, ">"), id="NFLOG big-endian"),
    pytest.param(117, PFLog(addrfamily=2) / IP4 / SEGMENT, id="PFLOG"),
    pytest.param(117, bytes(PFLog(hdrlen=61, addrfamily=2))[:64] + bytes(IP4 / SEGMENT), id="PFLOG OpenBSD 3.8"),
])
def test_ipv4_tcp_on_each_link_layer(engine, linktype, frame):
    check_tcp(one(frame, engine, linktype=linktype))


@pytest.mark.parametrize(("linktype", "frame"), [
    (105, DATA / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0, code=0x86DD) / IP6 / UDP(sport=5353, dport=5353)),
    (239, nflog(IP6 / UDP(sport=5353, dport=5353), family=10)),
    (117, PFLog(addrfamily=24) / IP6 / UDP(sport=5353, dport=5353)),
    (9, b"\x00\x57" + bytes(IP6 / UDP(sport=5353, dport=5353))),
])
def test_ipv6_udp(engine, linktype, frame):
    row = one(frame, engine, linktype=linktype)
    assert row["status"] == DecodeStatus.OK
    assert_addresses(row, "2001:db8::1", "2001:db8::2", 6)
    assert (row["dst_port"], row["payload_bytes"]) == (5353, 0)


@pytest.mark.parametrize(("linktype", "frame", "status"), [
    (105, Dot11(type=2, subtype=8, FCfield="protected") / Dot11QoS() / Raw(bytes(40)), DecodeStatus.PROTECTED),
    (127, RadioTap() / Dot11(type=2, FCfield="protected") / Raw(bytes(40)), DecodeStatus.PROTECTED),
    (105, Dot11(type=0, subtype=8) / Raw(bytes(40)), DecodeStatus.NOT_IP),  # a beacon
    (105, Dot11(type=1, subtype=13), DecodeStatus.NOT_IP),  # an ACK
    (105, Dot11(type=2, subtype=4), DecodeStatus.NOT_IP),  # a null frame: no body
    (105, Dot11(type=2, subtype=8) / Dot11QoS(A_MSDU_Present=1) / Raw(bytes(40)), DecodeStatus.UNSUPPORTED_LAYER),
    (105, DATA / LLC(dsap=0x42, ssap=0x42, ctrl=3) / Raw(bytes(40)), DecodeStatus.NOT_IP),  # spanning tree
    (105, Dot11(proto=1, type=2) / Raw(bytes(40)), DecodeStatus.BAD_LINK_HEADER),
    (105, bytes(DATA)[:20], DecodeStatus.TRUNCATED_LINK),
    (127, b"\x00\x00\x40\x00" + bytes(20), DecodeStatus.TRUNCATED_LINK),  # a radiotap length beyond the record
    (127, b"\x00\x00\x06\x00" + bytes(40), DecodeStatus.BAD_LINK_HEADER),
    (127, b"\x00\x00\x0c\x00\x00\x00\x00\x80\x00\x00\x00\x80" + bytes(40), DecodeStatus.BAD_LINK_HEADER),  # bitmaps past the length
    (192, struct.pack("<BBHI", 0, 0, 8, 228) + bytes(IP4 / SEGMENT), DecodeStatus.UNSUPPORTED_LAYER),
    (9, b"\xc0\x21\x01\x01\x00\x04", DecodeStatus.NOT_IP),  # LCP
    (9, b"\x00\x2d" + bytes(30), DecodeStatus.UNSUPPORTED_LAYER),  # Van Jacobson compressed TCP
    (104, CHDLC(proto=0x8035) / Raw(bytes(20)), DecodeStatus.NOT_IP),  # SLARP
    (239, b"\x02\x00\x00\x07\x08\x00\x01\x00\x08\x00\x01\x00", DecodeStatus.NOT_IP),  # no payload TLV
    (239, b"\x02\x00\x00\x07\x08\x00\x01\x00" + bytes(4) + b"\x40\x00\x02\x00" + bytes(8), DecodeStatus.TRUNCATED_LINK),  # cut in a TLV
    (239, b"\x02\x01\x00\x07" + bytes(20), DecodeStatus.BAD_LINK_HEADER),  # version 1
    (239, b"\x02\x00\x00\x07\x08\x00\x01\x00" + bytes(4) + b"\x02\x00\x09\x00" + bytes(20), DecodeStatus.BAD_LINK_HEADER),  # a 2-byte TLV
    (117, PFLog(hdrlen=40) / IP4 / SEGMENT, DecodeStatus.BAD_LINK_HEADER),
    (117, bytes(PFLog())[:60], DecodeStatus.TRUNCATED_LINK),
])
def test_frames_that_are_not_tracked(engine, linktype, frame, status):
    assert one(frame, engine, linktype=linktype)["status"] == status


def test_a_radiotap_frame_cut_in_its_802_11_header_keeps_no_field(engine):
    row = one(bytes(RadioTap() / QOS / SNAP_IPV4 / IP4 / SEGMENT)[:30], engine, linktype=127)
    assert (row["status"], row["ip_version"], row["src_port"]) == (DecodeStatus.TRUNCATED_LINK, 0, 0)


@pytest.mark.parametrize("depth", [9, 12, 40])
def test_vlan_stacks_of_any_depth_are_walked(engine, depth):
    tags = Dot1Q(vlan=1)
    for vlan in range(2, depth + 1):
        tags = tags / Dot1Q(vlan=vlan)
    row = one(eth() / tags / IP4 / SEGMENT, engine)
    check_tcp(row)
    assert row["vlan_id"] == 1


@pytest.mark.parametrize("depth", [9, 12, 40])
def test_mpls_stacks_of_any_depth_are_walked(engine, depth):
    labels = b"".join(bytes(MPLS(label=label, s=int(label == depth), ttl=64)) for label in range(1, depth + 1))
    check_tcp(one(bytes(eth(type=0x8847)) + labels + bytes(IP4 / SEGMENT), engine))
    assert one(bytes(eth(type=0x8847)) + labels[:-4], engine)["status"] == DecodeStatus.TRUNCATED_LINK  # the stack never ends


def test_deep_stacks_behind_802_11(engine):
    stack = Dot1Q(vlan=7) / Dot1Q(vlan=8) / Dot1Q(vlan=9) / Dot1Q(vlan=10) / Dot1Q(vlan=11) / Dot1Q(vlan=12) / Dot1Q(vlan=13) / Dot1Q(vlan=14)
    frame = DATA / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0, code=0x8100) / stack / Dot1Q(vlan=15) / IP4 / SEGMENT
    row = one(frame, engine, linktype=105)
    check_tcp(row)
    assert row["vlan_id"] == 7


def test_ah_in_ipv4_is_stepped_over(engine):
    packet = IP(src="192.0.2.1", dst="198.51.100.2", proto=51) / AH(nh=6, payloadlen=4, spi=9, icv=bytes(12)) / SEGMENT
    row = one(eth() / packet, engine)
    assert (row["status"], row["ip_proto"], row["src_port"], row["dst_port"], row["payload_bytes"], row["ip_bytes"]) == (
        DecodeStatus.OK, 6, 40000, 443, 10, 20 + 24 + 30)
    cut = decoded([bytes(eth() / packet)[:14 + 21]], engine, wirelen=[14 + 74])[0]
    assert (cut["status"], cut["ip_proto"]) == (DecodeStatus.TRUNCATED_IP, 51)
    longer = IP(src="192.0.2.1", dst="198.51.100.2", proto=51) / AH(nh=6, payloadlen=40) / Raw(bytes(10))
    assert one(eth() / longer, engine)["status"] == DecodeStatus.BAD_IP_HEADER


# -- whole captures ----------------------------------------------------------------------------------

FRAMINGS = {  # link type -> what goes in front of an IP packet
    105: lambda packet: DATA / SNAP_IPV4 / packet,
    127: lambda packet: RadioTap(present="Flags") / QOS / SNAP_IPV4 / packet,
    192: lambda packet: Raw(struct.pack("<BBHI", 0, 0, 8, 105)) / QOS / SNAP_IPV4 / packet,
    9: lambda packet: Raw(b"\x00\x21") / packet,
    50: lambda packet: Raw(b"\xff\x03\x00\x21") / packet,
    104: lambda packet: CHDLC() / packet,
    239: lambda packet: Raw(nflog(packet)),
    117: lambda packet: PFLog(addrfamily=2) / packet,
}


@pytest.mark.parametrize("linktype", list(FRAMINGS))
def test_a_tcp_session_on_each_link_type(tmp_path, linktype):
    """The 8-packet session of the factories (3 handshake, request, response, 3 closing), each
    frame with its link-layer header, and one 802.11 beacon or other non-IP frame: one
    conversation with every packet and every byte, both engines alike."""
    session = tcp_session()
    frames = [FRAMINGS[linktype](packet[IP]) for packet in session]
    for frame, packet in zip(frames, session):
        frame.time = packet.time
    path = write(tmp_path / f"{linktype}.pcap", pcap_bytes(frames, linktype=linktype))
    for engine in ("fast", "reference"):
        analysis = pcapflow.analyze(path, engine=engine)
        assert analysis.report.status_counts == {"OK": 8}
        row = analysis.conversations.iloc[0]
        assert len(analysis.conversations) == 1
        assert (row["protocol"], row["server_port"], row["conn_state"], row["packets"]) == ("tcp", 80, "SF", 8)
        assert row["bytes"] == sum(len(frame) for frame in frames)
        assert row["client_ip_bytes"] + row["server_ip_bytes"] == sum(len(packet[IP]) for packet in session)


def test_a_file_that_declares_the_wrong_link_type_is_warned_about(tmp_path):
    """An Ethernet capture labelled raw IP (101) or Linux SLL (113) decodes to nothing: the
    report and the command line say so, naming the link type."""
    for linktype, name, statuses in ((101, "raw IP (101)", "NOT_IP 8"), (113, "Linux SLL (113)", "NOT_IP 8")):
        path = write(tmp_path / f"as-{linktype}.pcap", pcap_bytes(tcp_session(), linktype=linktype))
        analysis = pcapflow.analyze(path)
        assert analysis.report.files[0].warnings == [
            f"none of its 8 records decodes as IP under its link type {name} ({statuses}): is that what the packets were captured on?"]
        result = CliRunner().invoke(main, ["analyze", str(path)])
        assert result.exit_code == 0
        assert f"Warning: {path}: none of its 8 records decodes as IP under its link type {name}" in result.stderr
        assert CliRunner().invoke(main, ["analyze", "--strict", str(path)]).exit_code == 1
    right = write(tmp_path / "ethernet.pcap", pcap_bytes(tcp_session()))
    assert pcapflow.analyze(right).report.files[0].warnings == []


def test_a_file_with_some_ip_is_not_warned_about(tmp_path):
    frames = [eth() / Raw(bytes(40))] * 3 + [eth() / IP4 / SEGMENT]
    path = write(tmp_path / "mostly-not-ip.pcap", pcap_bytes(frames))
    report = pcapflow.analyze(path).report
    assert report.status_counts == {"NOT_IP": 3, "OK": 1} and report.files[0].warnings == []


def test_no_vlan_behind_a_bare_802_11_frame(engine):
    assert one(DATA / SNAP_IPV4 / IP4 / SEGMENT, engine, linktype=105)["vlan_id"] == NO_VLAN
