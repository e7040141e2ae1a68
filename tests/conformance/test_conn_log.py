"""Conformance of pcapflow's conn.log (``--format zeek``) with Zeek's own conn.log baselines.

For every corpus capture with a Zeek conn.log baseline, pcapflow's conn.log rows are matched to
Zeek's on the 5-tuple (``proto``, ``id.orig_h``, ``id.orig_p``, ``id.resp_h``, ``id.resp_p``; only the
fields a ``zeek-cut`` baseline kept) and ``conn_state``, ``history``, ``orig_pkts``, ``resp_pkts``,
``orig_ip_bytes`` and ``resp_ip_bytes`` are compared. The differences are exactly those listed in
``DIFFERENCES``, each with its cause:

- **Tunnels**: the outer rows are compared with ``decapsulate=False``; Zeek's inner connections
  (those with ``tunnel_parents``) are compared with pcapflow's inner conversations per (protocol,
  server port, client packets, server packets) in :func:`test_inner_connections_equal_zeeks`,
  whose ``INNER_DIFFERENCES`` say why the rest differ. GRE, ERSPAN and IP-in-IP carriers: pcapflow
  writes the outer conversation (``unknown_transport``), Zeek none (it logs those carriers only in
  tunnel.log, zeek#3916).
- **Outer IP fragments**: Zeek counts a reassembled datagram as one packet of its reassembled
  length (one IP header) and never counts a datagram that did not complete; pcapflow counts every
  fragment it tracks, as tshark's frames do.
- **Zeek's DNS session timeout**: Zeek ends a UDP DNS connection after 10 s of silence
  (``dns_session_timeout``), pcapflow after its UDP idle timeout (60 s, Zeek's generic UDP one).
- **Zeek's close delays**: Zeek keeps a TCP connection 5 s after its FIN or RST
  (``tcp_close_delay``, ``tcp_reset_delay``) and logs later stragglers as new connections; they
  stay in their conversation in pcapflow, as in tshark.
- **Roles** where neither port is a likely server port for pcapflow's rule but one is in Zeek's
  ``likely_server_ports`` (DHCP's 67, Teredo's 3544), or where pcapflow's rule ranks port 0 as a
  system port (Geneve from source port 0): the originator is the other side.
- **History letters pcapflow does not produce**: ``X`` (Zeek's analyzer stopped: partial analysis).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import pcapflow
from pcapflow.zeek_log import conn_log_tsv
from tests.conformance.test_conversations import ZEEK
from tests.conftest import CORPUS
from tests.zeek_logs import conn_log_rows, read_conn_log

KEY = ("proto", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p")
COMPARED = ("conn_state", "history", "orig_pkts", "resp_pkts", "orig_ip_bytes", "resp_ip_bytes")
#: The fields of the originator's and of the responder's side, swapped when the roles are reversed.
SIDES = (("orig_pkts", "resp_pkts"), ("orig_ip_bytes", "resp_ip_bytes"))
REVERSED = "reversed"

#: Zeek's conn.log baseline -> the capture Zeek read (the corpus manifests); every baseline that
#: has any compared field. (``scripts.base.protocols.vlan.vlan-0/conn.log.cut`` keeps only VLAN columns.)
CONN_LOGS = {
    **{f"zeek/baselines/{btest}/conn.log": capture for capture, btest in ZEEK.items()},
    "zeek/baselines/core.tunnels.teredo/conn.log": "zeek/Teredo.pcap",
    "zeek/baselines/scripts.base.protocols.login.rlogin-line-length/conn.log": "zeek/rlogin-long-client-user-no-nul.pcapng",
    "dpi/zeek/baselines/scripts.base.protocols.dhcp.dhcp-all-msg-types/conn.log": "dpi/zeek/dhcp.pcap",
    "dpi/zeek/baselines/scripts.base.protocols.http.query-method-non-standard-port/conn.log": "dpi/zeek/query-method-non-standard-port.pcap",
    "dpi/zeek/baselines/scripts.base.protocols.ldap.who-am-i/conn.log": "dpi/zeek/ldap-who-am-i.pcap",
    "dpi/zeek/baselines/scripts.base.protocols.redis.django-cloud/conn.log": "dpi/zeek/django-cloud.pcapng",
    **{f"tunnels/zeek/baselines/{btest}": f"tunnels/zeek/{capture}" for btest, capture in (
        ("core.erspanII/conn.log", "erspanII.pcap"),
        ("core.ppp/conn.log", "quic-interop-retry.pcap"),
        ("core.radiotap/conn.log", "radiotap.pcap"),
        ("core.wlanmon/conn.log", "wlanmon.pcap"),
        ("core.tunnels.analyzer-confirmation/conn.log", "vxlan-encapsulated-http.pcap"),
        ("core.tunnels.ayiya/conn.log", "ayiya3.pcap"),
        ("core.tunnels.geneve/conn.log", "geneve.pcap"),
        ("core.tunnels.geneve-47101/conn.log", "geneve-47101.pcap"),
        ("core.tunnels.gre-in-gre/conn.log", "gre-within-gre.pcap"),
        ("core.tunnels.gre-over-udp/conn.log", "gre-over-udp-4754.pcap"),
        ("core.tunnels.gre-pptp/conn.log", "gre-pptp.pcap"),
        ("core.tunnels.gtp.different_dl_and_ul/conn.log", "gtp2_different_udp_port.pcap"),
        ("core.tunnels.gtp.inner_ipv6/conn.log", "gtp7_ipv6.pcap"),
        ("core.tunnels.gtp.opt_header/conn.log", "gtp6_gtp_0x32.pcap"),
        ("core.tunnels.max-depth/conn.log.cut", "vxlan-triple-v2.pcap"),
        ("core.tunnels.max-depth-exceeded/conn.log.cut", "vxlan-triple-v2.pcap"),
        ("core.tunnels.teredo_bubble_with_payload/conn.log", "teredo_bubble_with_payload.pcap"),
    )},
}

#: (conn_state, history) of a UDP connection that only its originator, or only its responder, sent on.
ONLY_ORIGINATOR_SENT, ONLY_RESPONDER_SENT = ("S0", "D"), ("SHR", "^d")


def reversed_roles(zeek_originator: str, ours: tuple[str, str], zeek: tuple[str, str]) -> dict:
    """The difference of a connection whose roles are reversed: (conn_state, history) of each row."""
    return {"roles": (REVERSED, f"Zeek's originator is {zeek_originator}"), "conn_state": (ours[0], zeek[0]), "history": (ours[1], zeek[1])}


#: Every difference left, by baseline: {connection: what differs}. A connection is its 5-tuple;
#: what differs is {field: (pcapflow's, Zeek's)}, or which side has how many rows of the tuple.
#: Where the roles are reversed, the packet and byte counts are compared side for side (they are
#: equal), and the state and history are the same seen from the other side.
DIFFERENCES: dict[str, dict] = {
    "zeek/baselines/core.tunnels.gre/conn.log": {
        ("unknown_transport", "172.27.1.66", "0", "66.59.109.137", "0"): "1 in pcapflow, 0 in Zeek",  # GRE carrier
    },
    "tunnels/zeek/baselines/core.erspanII/conn.log": {
        ("unknown_transport", "2.2.2.2", "0", "1.1.1.1", "0"): "1 in pcapflow, 0 in Zeek",  # GRE carrying ERSPAN
    },
    "tunnels/zeek/baselines/core.tunnels.gre-in-gre/conn.log": {
        ("unknown_transport", "72.205.54.70", "0", "86.106.164.150", "0"): "1 in pcapflow, 0 in Zeek",  # outer GRE
    },
    "tunnels/zeek/baselines/core.tunnels.gre-pptp/conn.log": {
        # IPv4 in IPv6, carrying the PPTP GRE: an IP tunnel, no conn.log row in Zeek
        ("unknown_transport", "2402:f000:1:8e01::5555", "0", "2607:fcd0:100:2300::b108:2a6b", "0"): "1 in pcapflow, 0 in Zeek",
    },
    "zeek/baselines/core.tunnels.gtp.outer_ip_frag/conn.log": {
        # client: one datagram in two fragments (28 against 27 packets, one IP header more);
        # server: 35 datagrams in two fragments (35 packets, 35 x 20 header bytes) and 4 first
        # fragments whose second never came (4 packets, 4 x 1,500 bytes that Zeek never counted)
        ("udp", "239.114.155.111", "2152", "63.94.149.181", "2152"): {
            "orig_pkts": ("28", "27"), "orig_ip_bytes": ("4196", "4176"),
            "resp_pkts": ("80", "41"), "resp_ip_bytes": ("60770", "54070"),
        },
    },
    "tunnels/zeek/baselines/core.tunnels.gtp.different_dl_and_ul/conn.log": {
        # 42 datagrams in two fragments each
        ("udp", "207.233.125.40", "2152", "167.55.105.244", "2152"): {"orig_pkts": ("91", "49"), "orig_ip_bytes": ("68000", "67160")},
    },
    "zeek/baselines/core.tunnels.teredo/conn.log": {
        # close delays: the server's FIN, the client's RST 10 s later, the server's 16 s after that;
        # the server's FIN, the client's FIN 7 s later, the server's RST 16 s after that; the
        # client's RST, the server's 18 s later
        ("tcp", "192.168.2.16", "1576", "75.126.130.163", "80"): "1 in pcapflow, 3 in Zeek",
        ("tcp", "192.168.2.16", "1577", "75.126.203.78", "80"): "1 in pcapflow, 3 in Zeek",
        ("tcp", "192.168.2.16", "1578", "75.126.203.78", "80"): "1 in pcapflow, 2 in Zeek",
        # DNS queries 16 s apart (see test_dns_connections_split_as_zeeks_dns_session_timeout)
        ("udp", "192.168.2.16", "1920", "192.168.2.1", "53"): "1 in pcapflow, 2 in Zeek",
        # one packet from 3544 (teredo) to 3797 (idps): both registered ports, so pcapflow's
        # client is the sender; Zeek's Teredo analyzer makes 3544 a likely server port
        ("udp", "65.55.158.81", "3544", "192.168.2.16", "3797"): reversed_roles("192.168.2.16", ONLY_ORIGINATOR_SENT, ONLY_RESPONDER_SENT),
    },
    "tunnels/zeek/baselines/core.tunnels.teredo_bubble_with_payload/conn.log": {
        ("udp", "65.55.158.81", "3544", "192.168.2.16", "3797"): reversed_roles("192.168.2.16", ONLY_ORIGINATOR_SENT, ONLY_RESPONDER_SENT),
    },
    "dpi/zeek/baselines/scripts.base.protocols.dhcp.dhcp-all-msg-types/conn.log": {
        # a server's reply from 67 to 68 alone on its tuple: both system ports, so pcapflow's
        # client is the sender; DHCP puts 67 in Zeek's likely_server_ports
        ("udp", "128.2.6.152", "67", "128.2.6.189", "68"): reversed_roles("128.2.6.189", ONLY_ORIGINATOR_SENT, ONLY_RESPONDER_SENT),
        ("udp", "128.2.6.152", "67", "128.2.6.97", "68"): reversed_roles("128.2.6.97", ONLY_ORIGINATOR_SENT, ONLY_RESPONDER_SENT),
    },
    "tunnels/zeek/baselines/core.tunnels.geneve/conn.log": {
        # from source port 0 to 6081: pcapflow's rule ranks 0 (below 1024) above 6081
        ("udp", "20.0.0.1", "6081", "20.0.0.2", "0"): reversed_roles("20.0.0.2", ONLY_RESPONDER_SENT, ONLY_ORIGINATOR_SENT),
    },
    "zeek/baselines/scripts.base.protocols.login.rlogin-line-length/conn.log": {
        # Zeek's rlogin analyzer met a line over its length limit and stopped (X)
        (): {"history": ("ShADFf", "ShADXFf")},
    },
}


def _by_key(rows: list[dict[str, str]], fields: list[str]) -> dict[tuple, list[dict[str, str]]]:
    grouped: dict[tuple, list[dict[str, str]]] = {}
    for row in rows:
        grouped.setdefault(tuple(row[name] for name in fields), []).append(row)
    return grouped


def _reversed_roles(ours: dict[str, str], zeek: dict[str, str], compared: list[str]) -> dict:
    """What differs between two rows of one connection whose originator and responder are swapped."""
    found: dict = {"roles": (REVERSED, f"Zeek's originator is {zeek['id.orig_h']}")}
    for orig, resp in SIDES:
        if orig in compared and (ours[orig], ours[resp]) != (zeek[resp], zeek[orig]):
            found[orig], found[resp] = (ours[orig], zeek[orig]), (ours[resp], zeek[resp])
    found.update({name: (ours[name], zeek[name]) for name in ("conn_state", "history") if name in compared and ours[name] != zeek[name]})
    return found


def differences(ours: list[dict[str, str]], zeek: list[dict[str, str]], fields: list[str]) -> dict:
    """What differs between pcapflow's rows and Zeek's (both as conn_log_rows gives them, Zeek's
    with ``fields``), matched on the 5-tuple fields Zeek's rows have; a row alone on its tuple on
    each side, with the endpoints swapped, is one connection whose roles are reversed."""
    key_fields = [name for name in KEY if name in fields]
    compared = [name for name in COMPARED if name in fields]
    ours_by, zeek_by = _by_key(ours, key_fields), _by_key(zeek, key_fields)
    found: dict = {}
    if len(key_fields) == len(KEY):
        for key, mine in ours_by.items():
            swapped = (key[0], key[3], key[4], key[1], key[2])
            if len(mine) == 1 and key not in zeek_by and len(zeek_by.get(swapped, [])) == 1 and swapped not in ours_by:
                found[key] = _reversed_roles(mine[0], zeek_by.pop(swapped)[0], compared)
    for key in sorted((ours_by.keys() | zeek_by.keys()) - found.keys()):
        mine, theirs = ours_by.get(key, []), zeek_by.get(key, [])
        if len(mine) == len(theirs) == 1:
            row_differences = {name: (mine[0][name], theirs[0][name]) for name in compared if mine[0][name] != theirs[0][name]}
            if row_differences:
                found[key] = row_differences
        else:
            found[key] = f"{len(mine)} in pcapflow, {len(theirs)} in Zeek"
    return found


def pcapflow_conn_log(path: Path, **options) -> list[dict[str, str]]:
    return conn_log_rows(conn_log_tsv(pcapflow.read_conversations(path, **options)))


@pytest.mark.parametrize("baseline", list(CONN_LOGS))
def test_conn_log_equals_zeeks_but_for_the_listed_differences(corpus, baseline):
    zeek = read_conn_log(corpus / baseline)
    ours = pcapflow_conn_log(corpus / CONN_LOGS[baseline], decapsulate=False)
    fields = list(zeek[0])
    outer = [row for row in zeek if row.get("tunnel_parents", "-") == "-"]
    assert differences(ours, outer, fields) == DIFFERENCES.get(baseline, {})


#: (protocol, server port, client packets, server packets) of each inner connection, and how many:
#: pcapflow's that Zeek has not, then Zeek's that pcapflow has not (-1: a column the baseline cut).
_OUTER_FRAGMENTS = "outer fragments are not reassembled, so the inner packets of fragmented carriers are not seen"
_TEREDO_ELSEWHERE = (
    "the HTTP connection's Teredo packets go between UDP ports 3797 and 32900 (a relay): Zeek finds Teredo on any port by "
    "its payload (its analyzer's protocol detection), pcapflow looks for it on port 3544 only (ports before headers, and "
    "no payload check for UDP off the tunnel ports), as tshark does by default (its TCP table of these captures is empty)")
INNER_DIFFERENCES: dict[str, tuple[dict, dict, str]] = {
    "zeek/baselines/core.tunnels.gtp.outer_ip_frag/conn.log": ({("tcp", 80, 26, 6): 1}, {("tcp", 80, 27, 41): 1}, _OUTER_FRAGMENTS),
    "tunnels/zeek/baselines/core.tunnels.gtp.different_dl_and_ul/conn.log": ({("tcp", 80, 29, 7): 1}, {("tcp", 80, 29, 49): 1}, _OUTER_FRAGMENTS),
    "zeek/baselines/core.tunnels.teredo/conn.log": ({}, {("tcp", 80, 10, 12): 1}, _TEREDO_ELSEWHERE),
    "tunnels/zeek/baselines/core.tunnels.teredo_bubble_with_payload/conn.log": ({}, {("tcp", 80, 10, 12): 1}, _TEREDO_ELSEWHERE),
    "tunnels/zeek/baselines/core.tunnels.max-depth/conn.log.cut": (
        {("udp", 53, 1, 0): 1}, {("udp", 53, -1, -1): 1, ("udp", 4789, -1, -1): 2},
        "the baseline cut the packet columns; the middle VXLAN carriers are inner conversations in Zeek, pcapflow keeps "
        "only the outermost carrier and the innermost packet"),
    "tunnels/zeek/baselines/core.tunnels.max-depth-exceeded/conn.log.cut": (
        {("udp", 53, 1, 0): 1}, {("udp", 4789, -1, -1): 2},
        "Zeek stops below its max_depth of 2 here (the test's setting), pcapflow opens up to 4; middle carriers as above"),
}


def _packets(row: dict[str, str], side: str) -> int:
    value = row.get(f"{side}_pkts", "-")
    return -1 if value == "-" else int(value)


@pytest.mark.parametrize("baseline", list(CONN_LOGS))
def test_inner_connections_equal_zeeks(corpus, baseline):
    """Zeek's connections inside tunnels against pcapflow's inner conversations (TCP and UDP)."""
    inner = [row for row in read_conn_log(corpus / baseline)
             if row.get("tunnel_parents", "-") not in ("-", "(empty)") and row["proto"] in ("tcp", "udp")]
    frame = pcapflow.read_conversations(corpus / CONN_LOGS[baseline])
    ours = frame[frame["tunnel"].notna() & frame["protocol"].isin(["tcp", "udp"])]
    found = Counter(zip(ours["protocol"].astype(str), ours["server_port"].astype(int), ours["client_packets"].astype(int),
                        ours["server_packets"].astype(int)))
    zeek = Counter((row["proto"], int(row["id.resp_p"]), _packets(row, "orig"), _packets(row, "resp")) for row in inner)
    only_ours, only_zeek, _ = INNER_DIFFERENCES.get(baseline, ({}, {}, ""))
    assert (dict(found - zeek), dict(zeek - found)) == (only_ours, only_zeek)


def test_dns_connections_split_as_zeeks_dns_session_timeout(corpus):
    """With Zeek's 10 s DNS session timeout as the UDP idle timeout, pcapflow's DNS rows of the
    Teredo capture are exactly Zeek's two."""
    zeek = [row for row in read_conn_log(CORPUS / "zeek/baselines/core.tunnels.teredo/conn.log") if row["id.orig_p"] == "1920"]
    ours = [row for row in pcapflow_conn_log(corpus / "zeek/Teredo.pcap", udp_idle_timeout=10) if row["id.orig_p"] == "1920"]
    assert sorted((row["orig_pkts"], row["resp_pkts"], row["orig_ip_bytes"], row["resp_ip_bytes"], row["history"]) for row in ours) == sorted(
        (row["orig_pkts"], row["resp_pkts"], row["orig_ip_bytes"], row["resp_ip_bytes"], row["history"]) for row in zeek
    )
    assert len(ours) == 2
