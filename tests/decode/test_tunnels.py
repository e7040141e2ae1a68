"""Exact decoded fields of tunnelled packets on both engines: each encapsulation opened (its id,
the depth), the payloads that only look like a tunnel left as they are, the depth limit, a
malformed inner packet, decapsulation switched off, and the carrier rows tracking folds."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import GRE, Dot1Q
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

from pcapflow._kernels.constants import Tunnel
from pcapflow.decode import DecodeStatus, decode
from pcapflow.decode.carriers import decode_with_carriers
from pcapflow.decode.table import NO_TUNNEL_ID, PacketTable
from tests.decode.test_layers import IP4, IP6, SEGMENT, assert_addresses
from tests.factories import eth
from tests.strategies import Record, raw_batch

OUTER4 = IP(src="10.0.0.1", dst="10.0.0.2")
OUTER6 = IPv6(src="2001:db8:f::1", dst="2001:db8:f::2")
INNER = eth() / IP4 / SEGMENT


def decapsulated(frame, engine: str, decapsulate: bool = True) -> dict:
    table = decode(raw_batch([Record(1, bytes(frame), None, None)]), engine, decapsulate)
    return {name: getattr(table, name)[0].item() for name in table.column_names()}


def assert_inner_tcp(row, tunnel: int, tunnel_id: int, depth: int = 1) -> None:
    assert row["status"] == DecodeStatus.OK
    assert (row["tunnel"], row["tunnel_depth"], row["tunnel_id"]) == (tunnel, depth, tunnel_id)
    assert_addresses(row, "192.0.2.1", "198.51.100.2", 4)
    assert (row["ip_proto"], row["src_port"], row["dst_port"], row["tcp_flags"]) == (6, 40000, 443, 0x18)
    assert (row["ip_bytes"], row["payload_bytes"], row["tcp_seq"]) == (50, 10, 123456789)


def geneve(vni: int, protocol: int, options: bytes = b"") -> bytes:
    return struct.pack("!BBHI", len(options) // 4, 0, protocol, vni << 8) + options


def gtp_u(teid: int, message: int = 0xFF, extensions: bytes = b"") -> bytes:
    """A GTP-U header; with ``extensions``, the optional fields naming a PDU session container first."""
    optional = struct.pack("!HBB", 0, 0, 0x85) + extensions if extensions else b""
    return struct.pack("!BBHI", 0x30 | (0x04 if extensions else 0), message, len(optional), teid) + optional


# enhanced GRE: key and sequence flags, version 1, PPP; payload length, call id 0x1234, sequence
# number; then PPP in HDLC-like framing carrying IPv4
PPTP = struct.pack("!HHHHI", 0x3001, 0x880B, 54, 0x1234, 9) + b"\xff\x03\x00\x21"

# a PDU session container (type 0x85): 4 bytes, the next type 0 last
PDU_SESSION = bytes([1, 0x00, 0x09, 0x00])

# Teredo's indications: an origin (its port and address obfuscated), an authentication with a
# 2-byte client id and a 3-byte authenticator
TEREDO_ORIGIN = struct.pack("!HHI", 0, 3544 ^ 0xFFFF, 0x0A000001 ^ 0xFFFFFFFF)
TEREDO_AUTHENTICATION = struct.pack("!HBB", 1, 2, 3) + b"id" + b"abc" + bytes(8) + b"\x00"
INNER6 = IP6 / SEGMENT


def ayiya(next_header: int, opcode: int = 1) -> bytes:
    """An AYIYA header: a 16-byte identity (length nibble 4, type 1), a 20-byte signature (5 units,
    SHA-1), no authentication, ``opcode``, ``next_header``, the epoch; then identity and signature."""
    return struct.pack("!BBBBI", 0x41, 0x52, opcode, next_header, 1300000000) + bytes(16) + bytes(20)


@pytest.mark.parametrize(("frame", "tunnel", "tunnel_id"), [
    pytest.param(eth() / OUTER4 / UDP(sport=51000, dport=4789) / VXLAN(vni=42) / INNER, Tunnel.TUNNEL_VXLAN, 42, id="VXLAN"),
    pytest.param(eth() / OUTER6 / UDP(sport=51000, dport=4789) / VXLAN(vni=0xABCDEF) / INNER, Tunnel.TUNNEL_VXLAN, 0xABCDEF,
                 id="VXLAN over IPv6"),
    pytest.param(eth() / OUTER4 / UDP(sport=1, dport=6081) / Raw(geneve(7, 0x6558, bytes(8))) / INNER, Tunnel.TUNNEL_GENEVE, 7,
                 id="Geneve with options, Ethernet"),
    pytest.param(eth() / OUTER4 / UDP(sport=1, dport=6081) / Raw(geneve(9, 0x0800)) / IP4 / SEGMENT, Tunnel.TUNNEL_GENEVE, 9,
                 id="Geneve, IPv4"),
    pytest.param(eth() / OUTER4 / UDP(sport=2152, dport=2152) / Raw(gtp_u(0x01020304)) / IP4 / SEGMENT, Tunnel.TUNNEL_GTP_U,
                 0x01020304, id="GTP-U"),
    pytest.param(eth() / OUTER4 / UDP(sport=2152, dport=40000) / Raw(gtp_u(5, extensions=PDU_SESSION)) / IP4 / SEGMENT,
                 Tunnel.TUNNEL_GTP_U, 5, id="GTP-U extension header, source port"),
    pytest.param(eth() / OUTER4 / GRE(proto=0x0800) / IP4 / SEGMENT, Tunnel.TUNNEL_GRE, NO_TUNNEL_ID, id="GRE"),
    pytest.param(eth() / OUTER4 / GRE(chksum_present=1, key_present=1, key=77, seqnum_present=1, sequence_number=3, proto=0x6558)
                 / INNER, Tunnel.TUNNEL_GRE, 77, id="GRE checksum key sequence, Ethernet"),
    pytest.param(eth() / OUTER4 / GRE(seqnum_present=1, proto=0x88BE) / Raw(bytes(8)) / INNER, Tunnel.TUNNEL_GRE, NO_TUNNEL_ID,
                 id="ERSPAN II"),
    pytest.param(eth() / OUTER4 / GRE(proto=0x88BE) / INNER, Tunnel.TUNNEL_GRE, NO_TUNNEL_ID, id="ERSPAN I"),
    pytest.param(eth() / OUTER4 / GRE(seqnum_present=1, proto=0x22EB) / Raw(bytes(11) + b"\x01" + bytes(8)) / INNER,
                 Tunnel.TUNNEL_GRE, NO_TUNNEL_ID, id="ERSPAN III with subheader"),
    pytest.param(eth() / OUTER4 / GRE(key_present=1, key=5, proto=0x8847) / MPLS(s=1) / IP4 / SEGMENT, Tunnel.TUNNEL_GRE, 5,
                 id="MPLS in GRE"),
    pytest.param(eth() / IP(src="10.0.0.1", dst="10.0.0.2", proto=47) / Raw(PPTP) / IP4 / SEGMENT,
                 Tunnel.TUNNEL_PPTP, 0x1234, id="PPTP enhanced GRE, HDLC framing"),
    pytest.param(eth() / IP(src="10.0.0.1", dst="10.0.0.2", proto=4) / IP4 / SEGMENT, Tunnel.TUNNEL_IP_IN_IP, NO_TUNNEL_ID, id="4in4"),
    pytest.param(eth() / OUTER4 / UDP(sport=5072, dport=5072) / Raw(ayiya(4)) / IP4 / SEGMENT, Tunnel.TUNNEL_AYIYA,
                 NO_TUNNEL_ID, id="AYIYA, IPv4"),
    pytest.param(eth() / OUTER4 / UDP(sport=40000, dport=4754) / GRE(key_present=1, key=11, proto=0x0800) / IP4 / SEGMENT,
                 Tunnel.TUNNEL_GRE, 11, id="GRE in UDP"),
    pytest.param(eth() / OUTER4 / UDP(sport=40000, dport=4754) / Raw(PPTP) / IP4 / SEGMENT, Tunnel.TUNNEL_PPTP, 0x1234,
                 id="enhanced GRE in UDP"),
    pytest.param(eth() / OUTER4 / UDP(sport=40000, dport=6635) / MPLS(label=16, s=0) / MPLS(label=17, s=1) / IP4 / SEGMENT,
                 Tunnel.TUNNEL_MPLS, NO_TUNNEL_ID, id="MPLS in UDP, two labels"),
    pytest.param(eth() / IPv6(src="2001:db8:f::1", dst="2001:db8:f::2", nh=4) / IP4 / SEGMENT, Tunnel.TUNNEL_IP_IN_IP,
                 NO_TUNNEL_ID, id="4in6"),
])
def test_tunnel_opened(engine, frame, tunnel, tunnel_id):
    assert_inner_tcp(decapsulated(frame, engine), tunnel, tunnel_id)


def test_six_in_four_and_six_in_six(engine):
    for outer in (IP(src="10.0.0.1", dst="10.0.0.2", proto=41), IPv6(src="2001:db8:f::1", dst="2001:db8:f::2", nh=41)):
        row = decapsulated(eth() / outer / IP6 / SEGMENT, engine)
        assert (row["status"], row["tunnel"], row["tunnel_depth"]) == (DecodeStatus.OK, Tunnel.TUNNEL_IP_IN_IP, 1)
        assert_addresses(row, "2001:db8::1", "2001:db8::2", 6)
        assert (row["src_port"], row["dst_port"], row["payload_bytes"]) == (40000, 443, 10)


@pytest.mark.parametrize("frame", [
    pytest.param(eth() / OUTER4 / UDP(sport=3544, dport=50000) / INNER6, id="Teredo from the server port"),
    pytest.param(eth() / OUTER4 / UDP(sport=50000, dport=3544) / Raw(TEREDO_ORIGIN) / INNER6, id="Teredo origin indication"),
    pytest.param(eth() / OUTER4 / UDP(sport=50000, dport=3544) / Raw(TEREDO_AUTHENTICATION + TEREDO_ORIGIN) / INNER6,
                 id="Teredo authentication and origin"),
    pytest.param(eth() / OUTER6 / UDP(sport=5072, dport=40000) / Raw(ayiya(41)) / INNER6, id="AYIYA, IPv6"),
])
def test_ipv6_opened_out_of_udp(engine, frame):
    row = decapsulated(frame, engine)
    tunnel = Tunnel.TUNNEL_AYIYA if 5072 in (frame[UDP].sport, frame[UDP].dport) else Tunnel.TUNNEL_TEREDO
    assert (row["status"], row["tunnel"], row["tunnel_depth"], row["tunnel_id"]) == (DecodeStatus.OK, tunnel, 1, NO_TUNNEL_ID)
    assert_addresses(row, "2001:db8::1", "2001:db8::2", 6)
    assert (row["ip_proto"], row["src_port"], row["dst_port"], row["payload_bytes"]) == (6, 40000, 443, 10)


def test_a_teredo_bubble_with_bytes_behind_it_is_opened(engine):
    bubble = IPv6(src="fe80::8000:ffff:ffff:fffd", dst="ff02::2", nh=59, plen=0) / Raw(b"trailing")
    row = decapsulated(eth() / OUTER4 / UDP(sport=3544, dport=50000) / bubble, engine)
    # a payload length of 0 runs to the end of the frame, as in any IPv6 header (jumbograms)
    assert (row["status"], row["tunnel"], row["ip_proto"], row["ip_bytes"]) == (DecodeStatus.OK, Tunnel.TUNNEL_TEREDO, 59, 48)


def test_the_outermost_vlan_stays_and_the_innermost_tunnel_names_the_row(engine):
    frame = eth() / Dot1Q(vlan=12) / OUTER4 / GRE(key_present=1, key=3, proto=0x0800) / OUTER4 / UDP(sport=9, dport=4789) / VXLAN(vni=8) / INNER
    row = decapsulated(frame, engine)
    assert_inner_tcp(row, Tunnel.TUNNEL_VXLAN, 8, depth=2)
    assert row["vlan_id"] == 12


def test_four_tunnels_deep_at_most(engine):
    frame = IP4 / SEGMENT
    for _ in range(5):
        frame = IP(src="10.0.0.1", dst="10.0.0.2", proto=4) / frame
    row = decapsulated(eth() / frame, engine)
    assert (row["status"], row["tunnel_depth"], row["ip_proto"]) == (DecodeStatus.OK, 4, 4)
    assert_addresses(row, "10.0.0.1", "10.0.0.2", 4)


@pytest.mark.parametrize("frame", [
    pytest.param(eth() / OUTER4 / UDP(sport=9, dport=4789) / VXLAN(flags=0) / INNER, id="VXLAN without the I flag"),
    pytest.param(eth() / OUTER4 / UDP(sport=9, dport=4789) / Raw(b"\x08" + bytes(7)), id="VXLAN without a frame"),
    pytest.param(eth() / OUTER4 / UDP(sport=9, dport=6081) / Raw(b"\x40" + bytes(7)) / INNER, id="Geneve version 1"),
    pytest.param(eth() / OUTER4 / UDP(sport=9, dport=6081) / Raw(geneve(1, 0x0800)) / IP6 / SEGMENT, id="Geneve IPv4 holding IPv6"),
    pytest.param(eth() / OUTER4 / UDP(sport=2152, dport=2152) / Raw(gtp_u(1, message=1)), id="GTP echo request"),
    pytest.param(eth() / OUTER4 / UDP(sport=2152, dport=2152) / Raw(gtp_u(1) + b"\x00"), id="GTP-U not IP"),
    pytest.param(eth() / OUTER4 / UDP(sport=3544, dport=50000) / IP4 / SEGMENT, id="Teredo holding IPv4"),
    pytest.param(eth() / OUTER4 / UDP(sport=3544, dport=50000) / Raw(bytes(bytes(INNER6)[:-1])), id="Teredo payload length too long"),
    pytest.param(eth() / OUTER4 / UDP(sport=3544, dport=50000) / Raw(bytes(INNER6) + b"pad"), id="Teredo payload length too short"),
    pytest.param(eth() / OUTER4 / UDP(sport=3544, dport=50000) / Raw(TEREDO_ORIGIN + TEREDO_AUTHENTICATION) / INNER6,
                 id="Teredo authentication after the origin"),
    pytest.param(eth() / OUTER4 / UDP(sport=53, dport=3544) / Raw(b"\x12\x34\x01\x00" + bytes(40)), id="DNS on the Teredo port"),
    pytest.param(eth() / OUTER4 / UDP(sport=5072, dport=5072) / Raw(ayiya(41, opcode=2)) / INNER6, id="AYIYA echo request"),
    pytest.param(eth() / OUTER4 / UDP(sport=5072, dport=5072) / Raw(ayiya(17)) / INNER6, id="AYIYA next header UDP"),
    pytest.param(eth() / OUTER4 / UDP(sport=5072, dport=5072) / Raw(ayiya(4)) / INNER6, id="AYIYA IPv4 holding IPv6"),
    pytest.param(eth() / OUTER4 / UDP(sport=5072, dport=5072) / Raw(ayiya(41)[:30]), id="AYIYA cut in its signature"),
    pytest.param(eth() / OUTER4 / UDP(sport=40000, dport=4754) / GRE(routing_present=1, proto=0x0800) / IP4 / SEGMENT,
                 id="GRE in UDP with source routing"),
    pytest.param(eth() / OUTER4 / UDP(sport=40000, dport=4754) / Raw(b"\x00\x00\x08\x06" + bytes(28)), id="GRE in UDP, ARP"),
    pytest.param(eth() / OUTER4 / UDP(sport=40000, dport=6635) / Raw(b"\x00\x01\x01"), id="MPLS in UDP shorter than a label"),
    pytest.param(eth() / OUTER4 / UDP(sport=6635, dport=40000) / MPLS(s=1) / IP4 / SEGMENT, id="MPLS from port 6635"),
])
def test_lookalikes_stay_udp(engine, frame):
    row = decapsulated(frame, engine)
    assert (row["status"], row["tunnel"], row["tunnel_depth"], row["tunnel_id"]) == (DecodeStatus.OK, 0, 0, NO_TUNNEL_ID)
    assert (row["ip_proto"], row["src_ip_lo"] & 0xFFFFFFFF) == (17, 0x0A000001)


@pytest.mark.parametrize("frame", [
    pytest.param(eth() / OUTER4 / GRE(routing_present=1, proto=0x0800) / IP4 / SEGMENT, id="GRE source routing"),
    pytest.param(eth() / OUTER4 / GRE(proto=0x0806) / Raw(bytes(28)), id="GRE ARP"),
    pytest.param(eth() / OUTER4 / GRE(version=2, proto=0x0800) / IP4 / SEGMENT, id="GRE version 2"),
    pytest.param(eth() / IP(src="10.0.0.1", dst="10.0.0.2", proto=47) / Raw(PPTP[:-2] + b"\xc0\x21" + bytes(8)), id="PPTP carrying LCP"),
    pytest.param(eth() / IP(src="10.0.0.1", dst="10.0.0.2", proto=47) / Raw(struct.pack("!HHHHI", 0x2081, 0x880B, 0, 0x1234, 9)),
                 id="PPTP acknowledgement alone"),
    pytest.param(eth() / IP(src="10.0.0.1", dst="10.0.0.2", proto=4) / IP6 / SEGMENT, id="protocol 4 holding IPv6"),
])
def test_lookalikes_stay_ip(engine, frame):
    row = decapsulated(frame, engine)
    assert (row["status"], row["tunnel"], row["tunnel_depth"]) == (DecodeStatus.OK, 0, 0)
    assert row["src_ip_lo"] & 0xFFFFFFFF == 0x0A000001


def test_a_cut_inner_packet_keeps_its_tunnel(engine):
    frame = bytes(eth() / OUTER4 / UDP(sport=9, dport=4789) / VXLAN(vni=4) / INNER)
    row = decode(raw_batch([Record(1, frame[:14 + 20 + 8 + 8 + 14 + 10], None, len(frame))]), engine, True)
    assert (int(row.status[0]), int(row.tunnel[0]), int(row.tunnel_depth[0]), int(row.tunnel_id[0])) == (
        DecodeStatus.TRUNCATED_IP, Tunnel.TUNNEL_VXLAN, 1, 4)


@pytest.mark.parametrize(("frame", "tunnel"), [
    pytest.param(eth() / OUTER4 / UDP(sport=3544, dport=50000) / INNER6, Tunnel.TUNNEL_TEREDO, id="Teredo"),
    pytest.param(eth() / OUTER4 / UDP(sport=5072, dport=5072) / Raw(ayiya(41)) / INNER6, Tunnel.TUNNEL_AYIYA, id="AYIYA"),
    pytest.param(eth() / OUTER4 / UDP(sport=1, dport=4754) / GRE(proto=0x86DD) / INNER6, Tunnel.TUNNEL_GRE, id="GRE in UDP"),
    pytest.param(eth() / OUTER4 / UDP(sport=1, dport=6635) / MPLS(s=1) / INNER6, Tunnel.TUNNEL_MPLS, id="MPLS in UDP"),
])
def test_a_cut_inner_ipv6_packet_keeps_its_udp_tunnel(engine, frame, tunnel):
    """The inner IPv6 header cut: a status of its own, the tunnel kept (Teredo's checks read the
    40 bytes of the IPv6 header, so its cut comes in the TCP header behind)."""
    whole = bytes(frame)
    cut = len(whole) - len(SEGMENT) + (2 if tunnel == Tunnel.TUNNEL_TEREDO else -30)
    row = decode(raw_batch([Record(1, whole[:cut], None, len(whole))]), engine, True)
    status = DecodeStatus.TRUNCATED_IP if tunnel != Tunnel.TUNNEL_TEREDO else DecodeStatus.TRUNCATED_TRANSPORT
    assert (int(row.status[0]), int(row.tunnel[0]), int(row.tunnel_depth[0])) == (status, tunnel, 1)


def test_a_cut_pptp_inner_packet_keeps_its_tunnel(engine):
    frame = bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2", proto=47) / Raw(PPTP) / IP4 / SEGMENT)
    cut = 14 + 20 + len(PPTP) + 10  # 10 bytes into the inner IPv4 header
    row = decode(raw_batch([Record(1, frame[:cut], None, len(frame))]), engine, True)
    assert (int(row.status[0]), int(row.tunnel[0]), int(row.tunnel_id[0])) == (DecodeStatus.TRUNCATED_IP, Tunnel.TUNNEL_PPTP, 0x1234)


def test_decapsulation_off_shows_the_carrier(engine):
    row = decapsulated(eth() / OUTER4 / UDP(sport=51000, dport=4789) / VXLAN(vni=42) / INNER, engine, decapsulate=False)
    assert (row["tunnel"], row["tunnel_depth"], row["tunnel_id"]) == (0, 0, NO_TUNNEL_ID)
    assert (row["ip_proto"], row["dst_port"], row["payload_bytes"]) == (17, 4789, 8 + len(INNER))


def _rows(table, names=("status", "ip_proto", "dst_port", "payload_offset", "tunnel", "tunnel_depth", "tunnel_id", "record_index")):
    return [tuple(getattr(table, name)[row].item() for name in names) for row in range(len(table))]


def test_carrier_rows_come_before_their_inner_rows(engine):
    """A tunnelled record folds as its carrier's row (outermost headers, payload not inspected),
    then its innermost packet's; a malformed inner packet keeps a carrier that decoded well."""
    vxlan = bytes(eth() / OUTER4 / UDP(sport=51000, dport=4789) / VXLAN(vni=42) / INNER)
    plain = bytes(eth() / OUTER4 / UDP(sport=53, dport=53) / Raw(b"x" * 12))
    records = [Record(1, plain), Record(1, vxlan), Record(1, plain), Record(1, vxlan, 14 + 20 + 8 + 8 + 14 + 10)]
    table, rows = decode_with_carriers(raw_batch(records), engine)
    assert rows.tolist() == [0, 1, 1, 2, 3, 3]
    assert _rows(table) == [
        (DecodeStatus.OK, 17, 53, 42, 0, 0, NO_TUNNEL_ID, 0),
        (DecodeStatus.OK, 17, 4789, 0, 0, 1, NO_TUNNEL_ID, 1),
        (DecodeStatus.OK, 6, 443, 14 + 20 + 8 + 8 + 14 + 20 + 20, Tunnel.TUNNEL_VXLAN, 1, 42, 1),
        (DecodeStatus.OK, 17, 53, 42, 0, 0, NO_TUNNEL_ID, 2),
        (DecodeStatus.OK, 17, 4789, 0, 0, 1, NO_TUNNEL_ID, 3),
        (DecodeStatus.TRUNCATED_IP, 0, 0, 0, Tunnel.TUNNEL_VXLAN, 1, 42, 3),
    ]
    assert table.wirelen.tolist() == [len(plain), len(vxlan), len(vxlan), len(plain), len(vxlan), len(vxlan)]
    assert table.payload_bytes[1] == 8 + len(INNER)
    carriers = decode(raw_batch(records[1:2]), engine, False)
    assert (table.src_ip_lo[1], table.ip_bytes[1], table.wirelen[1]) == (carriers.src_ip_lo[0], carriers.ip_bytes[0], len(vxlan))


def test_a_batch_without_tunnels_is_its_records(engine):
    batch = raw_batch([Record(1, bytes(INNER))] * 3)
    table, rows = decode_with_carriers(batch, engine)
    assert rows is None
    assert _rows(table) == _rows(decode(batch, engine, True))


@given(st.lists(st.sampled_from(["plain", "vxlan", "nested", "cut"]), min_size=1, max_size=12), st.integers(1, 5))
def test_carrier_rows_do_not_depend_on_the_batch(kinds, size):
    """Decoding a batch whole or in slices of ``size`` records gives the same rows (the kernel
    stops at the first tunnelled record that finds no room and goes on in wider columns)."""
    frames = {"plain": bytes(INNER), "vxlan": bytes(eth() / OUTER4 / UDP(sport=9, dport=4789) / VXLAN(vni=3) / INNER),
              "nested": bytes(eth() / OUTER4 / GRE(proto=0x0800) / OUTER4 / UDP(sport=9, dport=4789) / VXLAN(vni=5) / INNER)}
    frames["cut"] = frames["vxlan"]
    records = [Record(1, frames[kind], 70 if kind == "cut" else None) for kind in kinds]  # the inner IP header cut
    batch = raw_batch(records)
    whole, rows = decode_with_carriers(batch, "fast")
    sliced = [decode_with_carriers(raw_batch(records[at:at + size]), "fast")[0] for at in range(0, len(records), size)]
    names = tuple(name for name in PacketTable.column_names() if name not in ("record_index", "ts_ns"))  # counted per batch
    assert _rows(whole, names) == [row for table in sliced for row in _rows(table, names)]
    assert len(whole) == len(records) + sum(kind != "plain" for kind in kinds)
    # room made at once for a batch said to follow tunnelled ones: the same rows
    hinted, hinted_rows = decode_with_carriers(batch, "fast", tunnelled=True)
    assert _rows(hinted, PacketTable.column_names()) == _rows(whole, PacketTable.column_names())
    assert (rows is None and hinted_rows is None) or rows.tolist() == hinted_rows.tolist()
    # every row has its record's own columns
    for name in ("record_index", "ts_ns", "linktype", "caplen", "wirelen"):
        expected = getattr(batch, name) if rows is None else getattr(batch, name)[rows]
        assert getattr(whole, name).tolist() == expected.tolist(), name
