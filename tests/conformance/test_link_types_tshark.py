"""Conformance of the link layers beyond Ethernet with tshark, on the captures of
``../shared/corpus/tunnels/`` in those link types (802.11, radiotap, PPI, PPP, PPP in HDLC
framing, Cisco HDLC, NFLOG; the corpus has no PFLOG capture).

- **Records**: the frames in which tshark's dissector chain (``.tshark-protocols.txt``) reaches IP
  or IPv6 are exactly the records pcapflow tracks, with both engines; the others are the 802.11
  ACKs of the PPI capture (NOT_IP) and the PPP-in-HDLC fuzz sample, whose protocol field 0x7e08
  is none (tshark: ``ppp:data``; NOT_IP).
- **Conversations**: tshark's TCP and UDP conversation tables (``.tshark-conv.txt``) equal
  pcapflow's TCP and UDP conversations, endpoint for endpoint, in frames each way and in bytes
  each way where tshark prints them exactly (it rounds above 10 kB: ``12 kB``); its IPv4 and IPv6
  tables equal pcapflow's conversations of every protocol summed per address pair (the ICMPv6
  neighbour solicitations of the PPP capture are in those only).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

import pcapflow

NO_TIMEOUT = {"tcp_idle_timeout": 1e9, "udp_idle_timeout": 1e9, "other_idle_timeout": 1e9}

CAPTURES = {
    "tunnels/zeek/wlanmon.pcap": 105,
    "tunnels/zeek/radiotap.pcap": 127,
    "tunnels/libpcap/http_PPI.pcap": 192,
    "tunnels/zeek/quic-interop-retry.pcap": 9,
    "tunnels/tcpdump/ppp_ip_udp_dns.pcap": 50,
    "tunnels/suricata-verify/decode-chdlc-01/hdlc-http_1tx.pcap": 104,
    "tunnels/zeek/nflog-http.pcap": 239,
}

ROW = re.compile(r"^(\S+)\s+<->\s+(\S+)\s+(\d+) (\d+) (bytes|kB|MB)\s+(\d+) (\d+) (bytes|kB|MB)")


def tshark_tables(path: Path) -> dict[str, list[tuple]]:
    """tshark's conversation tables by name (TCP, UDP, IPv4, IPv6): rows of (A, B, frames B->A,
    bytes B->A or None when rounded, frames A->B, bytes A->B or None)."""
    text = Path(f"{path}.tshark-conv.txt").read_text()
    tables: dict[str, list[tuple]] = {}
    for name, body in re.findall(r"(\w+) Conversations\n(.*?)(?:={10,}|\Z)", text, re.S):
        rows = [ROW.match(line) for line in body.splitlines()]
        tables[name] = [(m[1], m[2], int(m[3]), int(m[4]) if m[5] == "bytes" else None, int(m[6]), int(m[7]) if m[8] == "bytes" else None)
                        for m in rows if m]
    return tables


def _sides(a: str, b: str, from_b: tuple, from_a: tuple) -> frozenset:
    return frozenset({(a, *from_a), (b, *from_b)})


def tshark_conversations(rows: list[tuple], with_bytes: bool) -> Counter:
    """Each conversation as the set of its two endpoints with (frames, bytes) each sent."""
    return Counter(_sides(a, b, (fb, bb if with_bytes else None), (fa, ba if with_bytes else None)) for a, b, fb, bb, fa, ba in rows)


def endpoint(ip: str, port: int) -> str:
    return f"{ip}:{port}"


def ours_by_port(frame, protocol: str, exact: set) -> Counter:
    rows = frame[frame["protocol"] == protocol]
    found = Counter()
    for r in rows.itertuples():
        client, server = endpoint(r.client_ip, r.client_port), endpoint(r.server_ip, r.server_port)
        keep = frozenset({client, server}) in exact
        found[frozenset({(client, r.client_packets, r.client_bytes if keep else None),
                         (server, r.server_packets, r.server_bytes if keep else None)})] += 1
    return found


def ours_by_address(frame) -> Counter:
    pairs: dict[frozenset, Counter] = {}
    for r in frame.itertuples():
        sent = pairs.setdefault(frozenset({r.client_ip, r.server_ip}), Counter())
        sent[r.client_ip] += r.client_packets
        sent[r.server_ip] += r.server_packets
    return Counter(frozenset((address, count, None) for address, count in sent.items()) for sent in pairs.values())


@pytest.mark.parametrize("engine", ["fast", "reference"])
@pytest.mark.parametrize("capture", list(CAPTURES))
def test_tracked_records_are_tsharks_ip_frames(corpus, capture, engine):
    chains = dict(line.split("\t") for line in Path(f"{corpus / capture}.tshark-protocols.txt").read_text().splitlines())
    packets = pcapflow.read_packets(corpus / capture, engine=engine)
    assert set(packets["linktype"]) == {CAPTURES[capture]}
    tracked = packets["status"].isin(["OK", "PORTS_ONLY", "FRAGMENT"])
    assert {int(index) + 1 for index in packets["record_index"][tracked]} == {
        int(number) for number, chain in chains.items() if re.search(r":ipv?6?:", chain + ":")
    }
    assert set(packets["status"][~tracked]) <= {"NOT_IP"}


@pytest.mark.parametrize("capture", list(CAPTURES))
def test_conversations_equal_tsharks(corpus, capture):
    tables = tshark_tables(corpus / capture)
    frame = pcapflow.read_conversations(corpus / capture, **NO_TIMEOUT)
    for protocol, table in (("tcp", "TCP"), ("udp", "UDP")):
        exact = {frozenset({a, b}) for a, b, _, bb, _, ba in tables[table] if bb is not None and ba is not None}
        expected = tshark_conversations([row for row in tables[table] if frozenset(row[:2]) in exact], with_bytes=True)
        expected += tshark_conversations([row for row in tables[table] if frozenset(row[:2]) not in exact], with_bytes=False)
        assert ours_by_port(frame, protocol, exact) == expected, table
    assert ours_by_address(frame) == tshark_conversations(tables["IPv4"] + tables["IPv6"], with_bytes=False)


def test_the_ppi_capture_holds_two_conversations_and_two_acks(corpus):
    """The exact figures of one of them: 5 records, 3 tracked, 2 802.11 ACKs."""
    analysis = pcapflow.analyze(corpus / "tunnels/libpcap/http_PPI.pcap")
    assert analysis.report.status_counts == {"OK": 3, "NOT_IP": 2}
    assert sorted(zip(analysis.conversations["protocol"], analysis.conversations["server_port"], analysis.conversations["bytes"])) == [
        ("tcp", 80, 186), ("udp", 53, 355)]
