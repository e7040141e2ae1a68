"""Conformance of conversation tracking with Zeek's conn.log and tshark's conversation tables.

Zeek: for every capture with a conn.log baseline, the number of TCP and UDP conversations per
(protocol, server port) equals Zeek's count per (proto, id.resp_p), and so do the client and
server packet counts (except in the GTP capture, whose outer datagrams are fragmented: Zeek
counts a reassembled datagram as one packet, pcapflow counts every fragment, as tshark's frames
do: 28/80 against Zeek's 27/41). Tunnel captures are compared here on their outer conversations
(``tunnel`` <NA>): Zeek's inner connections (those with ``tunnel_parents``) are compared with
pcapflow's inner conversations in test_conn_log.py.

tshark: the number of TCP conversations equals tshark's TCP table (tshark splits TCP on a SYN
with a new sequence number, as pcapflow does). tshark never splits by time, so these runs use
idle timeouts longer than any capture; pcapflow's default 300 s TCP timeout splits 58 more
conversations out of the zeek-training trace, as Zeek's inactivity timeout does. Remaining
differences, each with its cause:

- ``tunnels/tcpdump/geneve.pcap``: the two directions of one SSH connection travel in two VNIs
  (10 from the client, 11 from the server). The VNI is part of the inner key (the same 5-tuple in
  two VNIs is two conversations), so pcapflow has 2 TCP conversations where tshark, which ignores
  the VNI, has 1.
- ``zeek/fragmented-3.pcap``: one TCP segment fragmented in five, one fragment of the datagram
  never captured; tshark cannot reassemble it and lists no TCP conversation, pcapflow tracks the
  fragments through the first one's ports: 1 conversation.
- ``ndpi/ip_fragmented_garbage.pcap``: random bytes behind IPv4 fragment headers; tshark
  reassembles two "TCP" headers with bogus lengths (16 and 8 bytes) and lists them, pcapflow
  counts those first fragments as BAD_TRANSPORT_HEADER.
- ``pcapplusplus/pcapng-example.pcapng``: the second packet of 127.0.0.1:40304 <-> :3306 is
  stamped in 2061 (tshark shows the same time), 46 years after its neighbours: that gap splits
  the conversation in two.
- ``dpi/ndpi/vnc.pcap``: tshark lists 4 TCP conversations, pcapflow 2. Each of the two VNC
  connections (to port 6900) is cut by tshark into two streams after its fourth frame, the
  server's "RFB 003.008" banner: tshark's VNC heuristic dissector recognises the protocol there
  and starts a conversation of its own, and the TCP dissector gives it a new stream index,
  though the sequence numbers run on (frame 5 continues frame 3's). With the VNC dissector
  disabled (``--disable-protocol vnc``) tshark lists exactly pcapflow's two: 3,543 and 1,008
  frames.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

import pcapflow
from tests.conftest import CORPUS
from tests.zeek_logs import read_conn_log

NO_TIMEOUT = {"tcp_idle_timeout": 1e9, "udp_idle_timeout": 1e9, "other_idle_timeout": 1e9}  # ~32 years

ZEEK = {
    "zeek/wikipedia.pcap": "opt.basic",
    "zeek/q-in-q.pcap": "core.q-in-q",
    "zeek/mixed-vlan-mpls.pcap": "core.vlan-mpls",
    "zeek/pcapng-multi-interface.pcapng": "core.pcapng-pktsrc",
    "zeek/missing-syn.pcap": "core.tcp.missing-syn",
    "zeek/http-on-irc-port-missing-syn.pcapng": "core.tcp.flip-without-syn",
    "zeek/ipv6.pcap": "scripts.base.protocols.ftp.ftp-ipv6",
    "zeek/vxlan.pcap": "core.tunnels.vxlan",
    "zeek/gre-sample.pcap": "core.tunnels.gre",
    "zeek/gtp1_gn_normal_incl_fragmentation.pcap": "core.tunnels.gtp.outer_ip_frag",
}

#: pcapflow's TCP conversations where they are not tshark's (the module docstring says why).
TSHARK_DIFFERENCES = {
    "zeek/fragmented-3.pcap": 1,
    "ndpi/ip_fragmented_garbage.pcap": 0,
    "pcapplusplus/pcapng-example.pcapng": 16,
    "dpi/ndpi/vnc.pcap": 2,
    "tunnels/tcpdump/geneve.pcap": 2,
}


def zeek_connections(btest: str) -> list[dict[str, str]]:
    return read_conn_log(CORPUS / "zeek" / "baselines" / btest / "conn.log")


def per_server_port(rows) -> Counter:
    return Counter((proto, int(port)) for proto, port in rows)


@pytest.mark.parametrize(("capture", "btest"), ZEEK.items(), ids=list(ZEEK))
def test_conversations_per_server_port_equal_zeek(corpus, capture, btest):
    outer = [c for c in zeek_connections(btest) if c["proto"] in ("tcp", "udp") and c.get("tunnel_parents", "-") in ("-", "(empty)")]
    frame = pcapflow.read_conversations(corpus / capture)
    ours = frame[frame["protocol"].isin(["tcp", "udp"]) & frame["tunnel"].isna()]
    assert per_server_port(zip(ours["protocol"], ours["server_port"])) == per_server_port(
        (c["proto"], c["id.resp_p"]) for c in outer
    )
    if "fragmentation" in capture:
        return
    assert sorted(zip(ours["client_packets"], ours["server_packets"])) == sorted(
        (int(c["orig_pkts"]), int(c["resp_pkts"])) for c in outer
    )


def test_teredo_matches_zeek_once_its_close_delay_splits_are_undone(corpus):
    """Zeek keeps a TCP connection for 5 s after its FIN/RST (tcp_close_delay, tcp_reset_delay) and
    logs stragglers after that as new connections: 192.168.2.16:1576 -> :80 is logged three times
    (a FIN, then RSTs 10 s and 26 s later; tshark: one tcp.stream). pcapflow keeps them in one
    conversation. The inner IPv6 connections (Teredo decapsulated) are left out on both sides. Merging
    Zeek's connections of the same 5-tuple gives pcapflow's table exactly but for one role: the
    single packet 65.55.158.81:3544 -> 192.168.2.16:3797 has two registered ports (teredo, idps),
    so pcapflow names its sender the client (first_packet); Zeek flips it because its Teredo
    analyzer lists 3544 among its likely server ports."""
    zeek = {(c["proto"], c["id.orig_h"], c["id.orig_p"], c["id.resp_h"], c["id.resp_p"])
            for c in zeek_connections("core.tunnels.teredo") if c["proto"] in ("tcp", "udp") and ":" not in c["id.orig_h"]}
    frame = pcapflow.read_conversations(corpus / "zeek/Teredo.pcap")
    assert frame["tunnel"].eq("teredo").any()
    frame = frame[frame["tunnel"].isna()]
    ours = {(p, c, str(cp), s, str(sp)) for p, c, cp, s, sp in
            zip(frame["protocol"], frame["client_ip"], frame["client_port"], frame["server_ip"], frame["server_port"])
            if p in ("tcp", "udp")}
    flipped = ("udp", "65.55.158.81", "3544", "192.168.2.16", "3797")
    assert ours - {flipped} == zeek - {("udp", "192.168.2.16", "3797", "65.55.158.81", "3544")}
    assert flipped in ours
    assert len(frame[frame["protocol"].isin(["tcp", "udp"])]) == len(ours)


def tshark_tcp_conversations(path: Path) -> int:
    text = (Path(str(path) + ".tshark-conv.txt")).read_text()
    table = re.search(r"TCP Conversations\n(.*?)(?:={10,}|\Z)", text, re.S)
    return sum("<->" in line for line in table.group(1).splitlines()) if table else 0


def _tshark_captures() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        str(p.relative_to(CORPUS))[: -len(".tshark-conv.txt")]
        for p in CORPUS.rglob("*.tshark-conv.txt")
        if "fuzz-2021-10-13" not in p.name  # no readable record (see test_corpus_reading)
    )


@pytest.mark.parametrize("capture", _tshark_captures())
def test_tcp_conversations_equal_tshark(corpus, capture):
    frame = pcapflow.read_conversations(corpus / capture, **NO_TIMEOUT)
    expected = TSHARK_DIFFERENCES.get(capture, tshark_tcp_conversations(corpus / capture))
    assert int((frame["protocol"] == "tcp").sum()) == expected


def test_mpls_in_udp_conversations_equal_tsharks(corpus):
    """tshark lists the two UDP/6635 carriers and, in its IPv4 table, the inner ICMP exchange (one
    echo each way) beside them: pcapflow's carriers and its inner conversation (tunnel mpls, under
    the first carrier) give the same tables, frames and bytes each way."""
    from tests.conformance.test_link_types_tshark import ours_by_address, ours_by_port, tshark_conversations, tshark_tables

    capture = corpus / "tunnels/tcpdump/mpls-over-udp.pcap"
    tables = tshark_tables(capture)
    frame = pcapflow.read_conversations(capture, **NO_TIMEOUT)
    exact = {frozenset(row[:2]) for row in tables["UDP"]}
    assert ours_by_port(frame, "udp", exact) == tshark_conversations(tables["UDP"], with_bytes=True)
    assert ours_by_address(frame) == tshark_conversations(tables["IPv4"], with_bytes=False)
    inner = frame[frame["tunnel"].notna()]
    assert list(zip(inner["protocol"], inner["tunnel"], inner["client_packets"], inner["server_packets"], inner["bytes"])) == [
        ("icmp", "mpls", 1, 1, 260)]
    assert inner["parent_id"].tolist() == frame.loc[frame["is_tunnel"], "conversation_id"].tolist()[:1]


def test_reused_five_tuples_are_split_like_tshark(corpus):
    frame = pcapflow.read_conversations(corpus / "zeek-training/08-tables-identify-services-per-host.pcap", **NO_TIMEOUT)
    assert (frame["end_reason"] == "reuse").sum() > 0
    assert int((frame["protocol"] == "tcp").sum()) == 3539
