"""Server names from earlier DNS answers, and the apps' versions, on crafted captures."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6

import pcapflow
from pcapflow.apps import app_version
from pcapflow.dns_names import dns_answers
from tests.factories import CLIENT, eth, tcp_session
from tests.test_apps import captured, client_hello

RESOLVER = "10.0.0.53"


def dns_answer(client_port: int, qname: str, records: list, *, resolver: str = RESOLVER, client: str = CLIENT, ip=IP) -> list:
    """A query and its response holding ``records`` (DNSRR), over UDP."""
    question = DNSQR(qname=qname, qtype="AAAA" if ip is IPv6 else "A")
    return [eth() / ip(src=client, dst=resolver) / UDP(sport=client_port, dport=53) / DNS(id=client_port, rd=1, qd=question),
            eth() / ip(src=resolver, dst=client) / UDP(sport=53, dport=client_port) / DNS(
                id=client_port, qr=1, ra=1, qd=question, an=records)]


def to_server(packets: list, server: str) -> list:
    """The packets of a factory's session, with ``server`` for the server's address."""
    for packet in packets:
        if packet[IP].dst != CLIENT:
            packet[IP].dst = server
        else:
            packet[IP].src = server
    return packets


def opaque_session(client_port: int, server: str, server_port: int = 7000) -> list:
    """A TCP session whose payload names nothing, to a given server."""
    return to_server(tcp_session(client_port, server_port, b"\x8f\x01random bytes", b"\x17\x22more random"), server)


def frame_names(path, **options) -> dict:
    """Per client port, (server_name, server_name_source), None for none."""
    frame = pcapflow.read_conversations(path, **options).set_index("client_port")
    return {port: (None, None) if pd.isna(row.server_name) else (row.server_name, str(row.server_name_source))
            for port, row in frame.iterrows()}


def dns_capture(directory):
    """Conversations named (and not) by the DNS answers around them; :data:`EXPECTED`."""
    chain = [DNSRR(rrname="www.example.org", type="CNAME", rdata="edge.cdn.example"),
             DNSRR(rrname="edge.cdn.example", type="CNAME", rdata="e7.cdn.example"),
             DNSRR(rrname="e7.cdn.example", type="A", rdata="10.0.1.7")]
    several = [DNSRR(rrname="multi.example", type="A", rdata="10.0.1.8"), DNSRR(rrname="multi.example", type="A", rdata="10.0.1.9")]
    v6 = "2001:db8::7"
    return captured(directory, [
        *opaque_session(40001, "10.0.1.7"),  # before any answer: no name
        *dns_answer(53001, "www.example.org", chain),
        *opaque_session(40002, "10.0.1.7"),  # www.example.org, through two CNAMEs
        *dns_answer(53002, "multi.example", several),
        *opaque_session(40003, "10.0.1.9"),  # the second address of one answer
        *dns_answer(53003, "later.example", [DNSRR(rrname="later.example", type="A", rdata="10.0.1.7")]),
        *opaque_session(40004, "10.0.1.7"),  # the latest answer for the address wins
        *tcp_session(40005, 443, client_hello("sni.example"), b"\x16\x03\x03\x00\x04\x02\x00\x00\x00"),  # SNI first
        *dns_answer(53004, "v6.example", [DNSRR(rrname="v6.example", type="AAAA", rdata=v6)], resolver="2001:db8::53",
                    client="2001:db8::1", ip=IPv6),
        *(eth() / IPv6(src="2001:db8::1", dst=v6) / UDP(sport=40006, dport=7001) / b"\x01\x02\x03",
          eth() / IPv6(src=v6, dst="2001:db8::1") / UDP(sport=7001, dport=40006) / b"\x04\x05"),
        *dns_answer(53005, "after.example", [DNSRR(rrname="after.example", type="A", rdata="10.0.1.10")]),
        *opaque_session(40007, "10.0.1.11"),
        *dns_answer(53006, "too-late.example", [DNSRR(rrname="too-late.example", type="A", rdata="10.0.1.11")]),
    ])


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    return dns_capture(tmp_path_factory.mktemp("dns"))


EXPECTED = {
    40001: (None, None),
    40002: ("www.example.org", "dns"),
    40003: ("multi.example", "dns"),
    40004: ("later.example", "dns"),
    40005: ("sni.example", "tls_sni"),
    40006: ("v6.example", "dns"),
    40007: (None, None),  # its answer came after it
}


def test_names_from_earlier_dns_answers(capture):
    got = frame_names(capture, workers=1)
    assert {port: got[port] for port in EXPECTED} == EXPECTED


@settings(max_examples=12, deadline=None)
@given(chunk=st.integers(min_value=64, max_value=4096), workers=st.integers(min_value=1, max_value=3))
def test_names_do_not_depend_on_batches_or_workers(capture, chunk, workers):
    got = frame_names(capture, workers=workers, chunk_bytes=chunk)
    assert {port: got[port] for port in EXPECTED} == EXPECTED


def test_dns_over_tcp_names_too(tmp_path):
    response = DNS(id=1, qr=1, qd=DNSQR(qname="tcp.example"), an=DNSRR(rrname="tcp.example", rdata="10.0.1.12"))
    query = DNS(id=1, rd=1, qd=DNSQR(qname="tcp.example"))
    exchange = tcp_session(53100, 53, struct.pack("!H", len(query)) + bytes(query), struct.pack("!H", len(response)) + bytes(response))
    packets = [*to_server(exchange, RESOLVER), *opaque_session(40008, "10.0.1.12")]
    assert frame_names(captured(tmp_path, packets), workers=1)[40008] == ("tcp.example", "dns")


def test_dns_answers_parser():
    message = bytes(DNS(id=1, qr=1, qd=DNSQR(qname="A.Example"), an=[DNSRR(rrname="a.example", type="CNAME", rdata="b.example"),
                                                                 DNSRR(rrname="b.example", rdata="192.0.2.1")]))
    assert dns_answers(message, tcp=False) == [(0, 0xFFFF_C000_0201, "a.example")]
    assert dns_answers(message + message[:20], tcp=False) == [(0, 0xFFFF_C000_0201, "a.example")]  # a cut message ends it
    error = bytes(DNS(id=1, qr=1, rcode=3, qd=DNSQR(qname="x.example"), an=DNSRR(rrname="x.example", rdata="192.0.2.2")))
    assert dns_answers(error, tcp=False) == []
    looping = message[:12] + b"\xc0\x0c" + message[14:]  # a name pointing at itself
    assert dns_answers(looping, tcp=False) == []
    assert dns_answers(bytes(DNS(id=2, rd=1, qd=DNSQR(qname="q.example"))), tcp=False) == []


def test_dns_answers_of_tcp_ipv6_and_odd_names():
    first = bytes(DNS(id=3, qr=1, qd=DNSQR(qname="six.example", qtype="AAAA"), an=DNSRR(rrname="six.example", type="AAAA",
                                                                                        rdata="2001:db8::1")))
    second = bytes(DNS(id=4, qr=1, qd=DNSQR(qname=b"Caf\xe9.Example"), an=DNSRR(rrname=b"Caf\xe9.Example", rdata="192.0.2.9")))
    framed = b"".join(len(message).to_bytes(2) + message for message in (first, second))
    six = (0x2001_0DB8_0000_0000, 1, "six.example")
    nine = (0, 0xFFFF_C000_0209, "caf\ufffd.example")  # lower-cased, a byte beyond ASCII as U+FFFD
    assert dns_answers(framed, tcp=True) == [six, nine]
    assert dns_answers(framed[:-1], tcp=True) == [six]  # the second message cut off
    assert dns_answers(first + second, tcp=False) == [six, nine]
    assert dns_answers(b"", tcp=False) == dns_answers(b"\x00", tcp=True) == []


def test_dns_answers_of_every_cut_and_damage_end_quietly():
    message = bytes(DNS(id=1, qr=1, qd=DNSQR(qname="a.example"), an=[DNSRR(rrname="a.example", type="CNAME", rdata="b.example"),
                                                                 DNSRR(rrname="b.example", rdata="192.0.2.1")]))
    whole = [(0, 0xFFFF_C000_0201, "a.example")]
    for end in range(len(message)):  # cut anywhere inside its records: no answer, no error
        assert dns_answers(message[:end], tcp=False) == []
    assert dns_answers(message, tcp=False) == whole
    for at in range(len(message)):  # any byte damaged (lengths, pointers, counts): answers or none, never an error
        for byte in (0x00, 0x3F, 0x40, 0xBF, 0xC0, 0xFF):
            for answer in dns_answers(message[:at] + bytes([byte]) + message[at + 1 :], tcp=False):
                assert len(answer) == 3 and isinstance(answer[2], str)


def server_hello(version: int, supported: int | None) -> bytes:
    extensions = struct.pack("!HHH", 43, 2, supported) if supported else b""
    body = struct.pack("!H", version) + b"\x22" * 32 + b"\x00" + b"\x13\x01" + b"\x00" + struct.pack("!H", len(extensions)) + extensions
    handshake = b"\x02" + len(body).to_bytes(3) + body
    return b"\x16\x03\x03" + struct.pack("!H", len(handshake)) + handshake


def test_tls_versions():
    hello = client_hello("v.example")  # legacy version 1.2
    assert app_version("tls", hello, server_hello(0x0303, 0x0304)) == "TLSv1.3"
    assert app_version("tls", hello, server_hello(0x0302, None)) == "TLSv1.1"
    assert app_version("tls", hello, b"") == "TLSv1.2"
    assert app_version("tls", server_hello(0x0303, None), hello) == "TLSv1.2"  # whichever side sent it
    assert app_version("tls", hello[:9] + b"\x7f\x99" + hello[11:], b"") is None


def test_ssh_and_quic_versions():
    assert app_version("ssh", b"SSH-2.0-OpenSSH_9.6\r\n", b"SSH-1.99-Old\r\n") == "SSH-1.99"
    assert app_version("ssh", b"SSH-2.0-OpenSSH_9.6\r\n", b"") == "SSH-2.0"
    assert app_version("ssh", b"SSH-3.0-x\r\n", b"") is None
    assert app_version("quic", b"\xc0\x00\x00\x00\x01" + b"\x00" * 20, b"") == "QUICv1"
    assert app_version("quic", b"\xc0\x00\x00\x00\x01" + b"\x00" * 20, b"\xd0\x6b\x33\x43\xcf" + b"\x00" * 20) == "QUICv2"
    assert app_version("quic", b"\x40\x00\x00\x00\x01", b"") is None
    assert app_version("http", b"GET / HTTP/1.1\r\n\r\n", b"") is None


def test_version_column(tmp_path):
    packets = [*tcp_session(50001, 22, b"SSH-2.0-OpenSSH_9.6\r\n", b"SSH-2.0-OpenSSH_9.3\r\n"),
               *tcp_session(50002, 443, client_hello("v.example"), server_hello(0x0303, 0x0304)),
               *tcp_session(50003, 80, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n")]
    frame = pcapflow.read_conversations(captured(tmp_path, packets), workers=1).set_index("client_port")
    assert frame["app_version"].astype(object).where(frame["app_version"].notna(), None).to_dict() == {
        50001: "SSH-2.0", 50002: "TLSv1.3", 50003: None}
    assert pcapflow.read_conversations(captured(tmp_path, packets), workers=1, inspect_payload=False)["app_version"].isna().all()


def test_each_dns_conversation_keeps_its_answers_with_the_record_of_its_first_response(tmp_path):
    """Over UDP and over TCP (two-byte lengths); the query's direction holds no answer."""
    from pcapflow.options import AnalysisOptions
    from pcapflow.pipeline import CaptureRun

    udp = dns_answer(40001, "a.example", [DNSRR(rrname="a.example", type="A", rdata="10.0.1.7")])
    query = bytes(DNS(id=7, rd=1, qd=DNSQR(qname="b.example")))
    response = bytes(DNS(id=7, qr=1, ra=1, qd=DNSQR(qname="b.example"), an=[DNSRR(rrname="b.example", type="A", rdata="10.0.1.8")]))
    tcp = to_server(tcp_session(40002, 53, struct.pack("!H", len(query)) + query, struct.pack("!H", len(response)) + response), RESOLVER)
    path = captured(tmp_path, udp + tcp)
    columns = CaptureRun([str(path)], engine="fast", chunk_bytes=1 << 20, workers=1).conversations(AnalysisOptions())
    by_client_port = dict(zip(columns["client_port"].tolist(), columns["dns_answers"]))
    assert by_client_port[40001] == ((0, 0xFFFF_0A00_0107, "a.example", 1),)  # the response is record 1
    response_record = next(index for index, packet in enumerate(tcp) if bytes(packet).endswith(response)) + len(udp)
    assert by_client_port[40002] == ((0, 0xFFFF_0A00_0108, "b.example", response_record),)


def test_the_flow_tables_dns_answers_refuse_what_it_does_not_hold():
    from pcapflow._kernels.flowtable import FlowTable

    table = FlowTable(1, 1, 1, False)
    with pytest.raises(IndexError, match="no conversation 0"):
        table.dns_answers(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.uint8))
    with pytest.raises(ValueError, match="transport"):
        table.dns_answers(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint8))
    assert table.dns_answers(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint8)) == []
