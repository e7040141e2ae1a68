"""Payload inspection on crafted captures: apps, their basis, mismatches, server names, per port."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP

import pcapflow
from pcapflow.apps import EQUIVALENT_APPS, http_host, mismatches, tls_records_sni
from pcapflow.cli import main
from pcapflow.data.signatures import APP_NAMES
from tests.factories import CLIENT, SERVER, eth, pcap_bytes, stamped, tcp_session, write


def client_hello(name: str) -> bytes:
    """A TLS 1.2 record holding a ClientHello with one extension, server_name."""
    host = name.encode()
    sni = struct.pack("!HHHBH", 0, len(host) + 5, len(host) + 3, 0, len(host)) + host
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" + struct.pack("!H", len(sni)) + sni
    handshake = b"\x01" + len(body).to_bytes(3) + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def split_session(server_port: int, request_parts: list[bytes], response: bytes, client_port: int = 50000) -> list:
    """A handshake, the request in the given segments (in order), one response."""
    c, s = eth() / IP(src=CLIENT, dst=SERVER), eth() / IP(src=SERVER, dst=CLIENT)
    packets = [c / TCP(sport=client_port, dport=server_port, flags="S", seq=1000),
               s / TCP(sport=server_port, dport=client_port, flags="SA", seq=5000, ack=1001),
               c / TCP(sport=client_port, dport=server_port, flags="A", seq=1001, ack=5001)]
    seq = 1001
    for part in request_parts:
        packets.append(c / TCP(sport=client_port, dport=server_port, flags="PA", seq=seq, ack=5001) / part)
        seq += len(part)
    packets.append(s / TCP(sport=server_port, dport=client_port, flags="PA", seq=5001, ack=seq) / response)
    return packets


def dns_exchange() -> list:
    query = eth() / IP(src=CLIENT, dst="10.0.0.53") / UDP(sport=53001, dport=53) / DNS(id=7, rd=1, qd=DNSQR(qname="example.org"))
    answer = eth() / IP(src="10.0.0.53", dst=CLIENT) / UDP(sport=53, dport=53001) / DNS(
        id=7, qr=1, qd=DNSQR(qname="example.org"), an=DNSRR(rrname="example.org", rdata="10.0.0.2"))
    return [query, answer]


def captured(tmp_path, packets, name="apps.pcap"):
    return write(tmp_path / name, pcap_bytes(stamped(packets)))


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    hello = client_hello("www.example.org")
    return captured(tmp_path_factory.mktemp("apps"), [
        *tcp_session(50001, 443, b"SSH-2.0-OpenSSH_9.6\r\n", b"SSH-2.0-OpenSSH_9.3\r\n"),
        *split_session(443, [hello[:40], hello[40:]], b"\x16\x03\x03\x00\x04\x02\x00\x00\x00", client_port=50002),
        *tcp_session(50003, 6667, b"GET /x HTTP/1.1\r\nHost: www.example.com:8080\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n"),
        *tcp_session(50004, 9999, b"\x8f\x01random bytes", b"\x17\x22more random"),
        *dns_exchange(),
    ])


def test_apps_bases_mismatches_and_names(capture):
    frame = pcapflow.read_conversations(capture, workers=1).set_index("client_port")
    assert frame["app"].astype(object).where(frame["app"].notna(), None).to_dict() == {
        50001: "ssh", 50002: "tls", 50003: "http", 50004: None, 53001: "dns"}
    assert frame.loc[50001, "app_basis"] == "both" and frame.loc[50003, "app_basis"] == "both"
    assert frame["service_mismatch"].to_dict() == {50001: True, 50002: False, 50003: True, 50004: False, 53001: False}
    assert frame.loc[50002, "server_name"] == "www.example.org" and frame.loc[50002, "server_name_source"] == "tls_sni"
    assert frame.loc[50003, "server_name"] == "www.example.com" and frame.loc[50003, "server_name_source"] == "http_host"
    assert frame["server_name"].isna().sum() == 3


def test_no_payload_turns_it_off(capture):
    frame = pcapflow.read_conversations(capture, workers=1, inspect_payload=False)
    assert frame["app"].isna().all() and frame["server_name"].isna().all() and not frame["service_mismatch"].any()


def test_per_port(capture):
    analysis = pcapflow.analyze(capture, workers=1)
    ports = analysis.ports.set_index("server_port")
    assert ports.loc[443, "app"] in ("ssh", "tls") and ports.loc[443, "app_share"] == 0.5
    assert ports.loc[443, "mismatched"] == 1 and ports.loc[6667, "mismatched"] == 1 and ports.loc[53, "mismatched"] == 0
    assert pd.isna(ports.loc[9999, "app"])
    rows = analysis.port_apps
    assert [(row.protocol, row.server_port, row.app, row.conversations) for row in rows.itertuples()] == [
        ("tcp", 443, "tls", 1), ("tcp", 443, "ssh", 1), ("tcp", 6667, "http", 1), ("udp", 53, "dns", 1)]


def test_retransmitted_and_overlapping_segments_are_dropped(tmp_path):
    request = b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"
    packets = split_session(80, [request[:5], request[:5], request[2:12], request[12:]], b"HTTP/1.1 200 OK\r\n\r\n")
    frame = pcapflow.read_conversations(captured(tmp_path, packets), workers=1)
    assert frame["app"].tolist() == ["http"] and frame["server_name"].tolist() == ["a.example"]


def test_a_gap_stops_the_bytes(tmp_path):
    hello = client_hello("gap.example")
    packets = split_session(443, [hello[:40]], b"")
    packets.insert(4, eth() / IP(src=CLIENT, dst=SERVER) / TCP(sport=50000, dport=443, flags="PA", seq=1001 + 80, ack=5001) / hello[80:])
    frame = pcapflow.read_conversations(captured(tmp_path, packets), workers=1)
    assert frame["app"].tolist() == ["tls"] and frame["server_name"].isna().all()


def test_the_cli_marks_mismatched_ports(capture):
    result = CliRunner().invoke(main, ["analyze", "--workers", "1", str(capture)], catch_exceptions=False)
    lines = {line.split()[1]: line.split() for line in result.output.splitlines() if line.startswith(("tcp ", "udp "))}
    assert lines["6667"][3:5] == ["http", "!"] and lines["53"][2:4] == ["domain", "dns"] and lines["9999"][3] == "-"
    assert "! the payload of some of the port's conversations shows another protocol than its service" in result.output


@settings(max_examples=15, deadline=None)
@given(chunk=st.integers(min_value=64, max_value=4096), workers=st.integers(min_value=1, max_value=3))
def test_results_do_not_depend_on_batches_or_workers(capture, chunk, workers):
    expected = pcapflow.read_conversations(capture, workers=1)
    got = pcapflow.read_conversations(capture, workers=workers, chunk_bytes=chunk)
    for column in ("app", "app_basis", "service_mismatch", "server_name", "server_name_source"):
        assert got[column].astype(object).fillna("-").tolist() == expected[column].astype(object).fillna("-").tolist(), column


def test_name_parsers():
    hello = client_hello("x.test")
    assert tls_records_sni(hello) == "x.test"
    assert tls_records_sni(hello[:3] + (20).to_bytes(2) + hello[5:25] + b"\x16\x03\x01" + (len(hello) - 25).to_bytes(2) + hello[25:]) == "x.test"
    assert tls_records_sni(hello[:30]) is None
    assert http_host(b"GET / HTTP/1.1\r\nHOST: [2001:db8::1]:8080\r\n\r\n") == "2001:db8::1"
    assert http_host(b"GET / HTTP/1.0\r\n\r\nHost: late\r\n") is None


def test_equivalences():
    codes = [APP_NAMES.index(app) for app in ("tls", "tls", "dns", "ssh", "tls")] + [-1]
    assert mismatches(np.array(codes), ["https", "kube-apiserver", "domain", "https", None, "https"]).tolist() == [
        False, False, False, True, False, False]
    assert "tls" in EQUIVALENT_APPS["submissions"] and "dns" in EQUIVALENT_APPS["domain"]
