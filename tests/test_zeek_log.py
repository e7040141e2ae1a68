"""Zeek's conn.log from pcapflow (``--format zeek`` and ``zeek-json``): layout, values, and ZAT reading it back."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pandas as pd
import pytest
from click.testing import CliRunner
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import GRE
from scapy.packet import Raw

import pcapflow
from pcapflow.cli import main
from pcapflow.export import ExportError, read_table, write_table
from pcapflow.zeek_log import CONN_FIELDS, conn_log_json, conn_log_tsv, conversation_uid
from tests.conftest import REPO, SAMPLES
from tests.factories import CLIENT, SERVER, T0, eth, mixed_traffic, pcap_bytes, stamped, write
from tests.zeek_logs import conn_log_rows

NAMES = [name for name, _ in CONN_FIELDS]
TYPES = [zeek_type for _, zeek_type in CONN_FIELDS]

#: mixed_traffic() as Zeek logs it, computed from the packets: 20-byte IPv4 and TCP headers, the
#: request of 18 bytes and the response of 24, 30 and 60 UDP bytes, 16 bytes behind each ICMP header.
MIXED = [
    {"ts": f"{T0}.000000", "id.orig_h": CLIENT, "id.orig_p": "50000", "id.resp_h": SERVER, "id.resp_p": "80", "proto": "tcp",
     "duration": "0.007000", "orig_bytes": "18", "resp_bytes": "24", "conn_state": "SF", "history": "ShADdFf",
     "orig_pkts": "5", "orig_ip_bytes": str(5 * 40 + 18), "resp_pkts": "3", "resp_ip_bytes": str(3 * 40 + 24), "ip_proto": "6"},
    {"ts": f"{T0}.008000", "id.orig_h": CLIENT, "id.orig_p": "53001", "id.resp_h": "10.0.0.53", "id.resp_p": "53", "proto": "udp",
     "duration": "0.001000", "orig_bytes": "30", "resp_bytes": "60", "conn_state": "SF", "history": "Dd",
     "orig_pkts": "1", "orig_ip_bytes": str(28 + 30), "resp_pkts": "1", "resp_ip_bytes": str(28 + 60), "ip_proto": "17"},
    {"ts": f"{T0}.010000", "id.orig_h": CLIENT, "id.orig_p": "8", "id.resp_h": SERVER, "id.resp_p": "0", "proto": "icmp",
     "duration": "0.001000", "orig_bytes": "16", "resp_bytes": "16", "conn_state": "OTH", "history": "-",
     "orig_pkts": "1", "orig_ip_bytes": str(28 + 16), "resp_pkts": "1", "resp_ip_bytes": str(28 + 16), "ip_proto": "1"},
]
#: What pcapflow cannot know, written unset as the README says.
UNSET = ("service", "local_orig", "local_resp", "missed_bytes", "tunnel_parents")


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def mixed(tmp_path):
    return write(tmp_path / "mixed.pcap", pcap_bytes(mixed_traffic()))


def test_tsv_header_is_zeeks(mixed):
    lines = conn_log_tsv(pcapflow.read_conversations(mixed)).splitlines()
    assert lines[:8] == [
        "#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", "#path\tconn",
        "#open\t2024-01-01-00-00-00", "#fields\t" + "\t".join(NAMES), "#types\t" + "\t".join(TYPES),
    ]
    assert lines[-1] == "#close\t2024-01-01-00-00-00"
    assert TYPES == ["time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count", "count", "string",
                     "bool", "bool", "count", "string", "count", "count", "count", "count", "set[string]", "count", "string"]


def test_tsv_rows_are_zeeks_values(mixed):
    frame = pcapflow.read_conversations(mixed)
    rows = conn_log_rows(conn_log_tsv(frame))
    assert [{name: row[name] for name in expected} for row, expected in zip(rows, MIXED)] == MIXED
    assert len(rows) == len(MIXED)
    for row, community_id in zip(rows, frame["community_id"]):
        assert all(row[name] == "-" for name in UNSET)
        assert row["community_id"] == community_id
        assert re.fullmatch(r"C[0-9A-Za-z]{2,17}", row["uid"])
    assert len({row["uid"] for row in rows}) == len(rows)


def test_open_and_close_are_the_first_and_last_packet_times(tmp_path):
    packets = stamped([eth() / IP(src=CLIENT, dst=SERVER) / UDP(sport=1, dport=2) for _ in range(2)], start=T0 + 59, step=Decimal(3661))
    lines = conn_log_tsv(pcapflow.read_conversations(write(tmp_path / "x.pcap", pcap_bytes(packets)), udp_idle_timeout=1e6)).splitlines()
    assert lines[5] == "#open\t2024-01-01-00-00-59"
    assert lines[-1] == "#close\t2024-01-01-01-02-00"


def test_single_packet_and_icmpv6_and_other_protocols(tmp_path):
    """A connection that did not last has no duration nor payload counts in Zeek; ICMPv6 is proto
    icmp there (the ip_proto field tells it apart), any protocol without ports unknown_transport."""
    v6 = ("2001:db8::1", "2001:db8::2")
    packets = stamped([
        eth() / IP(src=CLIENT, dst=SERVER) / UDP(sport=5353, dport=5353) / Raw(b"m" * 10),
        eth() / IPv6(src=v6[0], dst=v6[1]) / ICMPv6EchoRequest(id=1, seq=1),
        eth() / IPv6(src=v6[1], dst=v6[0]) / ICMPv6EchoReply(id=1, seq=1),
        eth() / IP(src=CLIENT, dst=SERVER) / GRE() / Raw(b"g" * 8),
    ])
    rows = conn_log_rows(conn_log_tsv(pcapflow.read_conversations(write(tmp_path / "x.pcap", pcap_bytes(packets)))))
    picked = [(r["proto"], r["id.orig_p"], r["id.resp_p"], r["duration"], r["orig_bytes"], r["history"], r["ip_proto"]) for r in rows]
    assert picked == [
        ("udp", "5353", "5353", "-", "-", "D", "17"),
        ("icmp", "128", "129", "0.001000", "0", "-", "58"),
        ("unknown_transport", "0", "0", "-", "-", "-", "47"),
    ]


def test_json_lines_are_zeeks(mixed):
    frame = pcapflow.read_conversations(mixed)
    text = conn_log_json(frame)
    records = [json.loads(line) for line in text.splitlines()]
    tsv = conn_log_rows(conn_log_tsv(frame))
    assert text.splitlines()[0].startswith('{"ts":1704067200.0,"uid":"' + tsv[0]["uid"] + '","id.orig_h":"10.0.0.1","id.orig_p":50000,')
    for record, row in zip(records, tsv):
        assert list(record) == [name for name in NAMES if row[name] != "-"]  # Zeek's order, unset left out
        assert record["ts"] == pytest.approx(float(row["ts"]), abs=1e-6)
        assert record["duration"] == pytest.approx(float(row["duration"]), abs=1e-9)
        assert record["orig_pkts"] == int(row["orig_pkts"]) and record["id.resp_p"] == int(row["id.resp_p"])
        assert record["history"] == row["history"] if row["history"] != "-" else "history" not in record
    assert len(records) == 3


def test_nanosecond_timestamps_round_to_zeeks_microseconds(tmp_path):
    packets = [eth() / IP(src=CLIENT, dst=SERVER) / UDP(sport=1, dport=2) for _ in range(2)]
    packets[0].time, packets[1].time = Decimal(f"{T0}.000000499"), Decimal(f"{T0}.000001500")
    frame = pcapflow.read_conversations(write(tmp_path / "x.pcap", pcap_bytes(packets, "pcap-le-ns")))
    row = conn_log_rows(conn_log_tsv(frame))[0]
    assert (row["ts"], row["duration"]) == (f"{T0}.000000", "0.000001")  # 499 ns, and 1001 ns
    assert json.loads(conn_log_json(frame))["duration"] == 1.001e-06


def test_uid_is_a_function_of_the_conversation():
    first = conversation_uid("tcp", None, ("10.0.0.1", 50000), ("10.0.0.2", 80), 1)
    assert first == conversation_uid("tcp", None, ("10.0.0.1", 50000), ("10.0.0.2", 80), 1)
    others = {conversation_uid("tcp", None, ("10.0.0.1", 50000), ("10.0.0.2", 80), 2),
              conversation_uid("udp", None, ("10.0.0.1", 50000), ("10.0.0.2", 80), 1),
              conversation_uid("tcp", 7, ("10.0.0.1", 50000), ("10.0.0.2", 80), 1)}
    assert first not in others and len(others) == 3


def test_two_runs_write_the_same_file(tmp_path, mixed):
    for name in ("a.log", "b.log"):
        assert run("conversations", str(mixed), "-o", str(tmp_path / name)).exit_code == 0  # .log: zeek by its suffix
    assert (tmp_path / "a.log").read_bytes() == (tmp_path / "b.log").read_bytes()
    assert (tmp_path / "a.log").read_text().startswith("#separator \\x09\n")


def test_empty_table_is_a_header_and_close():
    empty = pcapflow.read_conversations(SAMPLES / "http_ethernet.pcap").iloc[0:0]
    lines = conn_log_tsv(empty).splitlines()
    assert (len(lines), lines[5], lines[-1]) == (9, "#open\t1970-01-01-00-00-00", "#close\t1970-01-01-00-00-00")
    assert conn_log_json(empty) == ""


def test_ports_table_is_refused_with_one_error_line():
    result = CliRunner().invoke(main, ["ports", str(SAMPLES / "http_ethernet.pcap"), "--format", "zeek"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: a Zeek conn.log is written from a conversations table")
    assert len(result.stderr.splitlines()) == 1


def test_zeek_logs_are_not_read_back(tmp_path):
    write_table(pcapflow.read_conversations(SAMPLES / "http_ethernet.pcap"), tmp_path / "conn.log", "zeek-json")
    with pytest.raises(ExportError, match="ZAT"):
        read_table(tmp_path / "conn.log")


@pytest.mark.filterwarnings("ignore:The inplace keyword")  # ZAT's own call of set_index, deprecated by pandas
def test_zat_reads_it_back_with_zeeks_types(tmp_path):
    zat = pytest.importorskip("zat.log_to_dataframe", reason="ZAT is in the test extra: pip install -e '.[test]'")
    lone = eth() / IP(src=CLIENT, dst="10.0.0.255") / UDP(sport=137, dport=137) / Raw(b"n" * 12)
    lone.time = Decimal(T0 + 1)  # one packet: no duration nor payload counts
    capture = write(tmp_path / "x.pcap", pcap_bytes(mixed_traffic() + [lone]))
    assert run("conversations", str(capture), "-o", str(tmp_path / "conn.log"), "--format", "zeek").exit_code == 0
    log = zat.LogToDataFrame().create_dataframe(str(tmp_path / "conn.log"))
    ours = pcapflow.read_conversations(capture)

    assert log.index.name == "ts" and str(log.index.dtype) == "datetime64[ns]"
    kinds = {name: str(log[name].dtype) for name in ("id.orig_p", "id.resp_p", "duration", "orig_bytes", "orig_pkts", "resp_ip_bytes", "ip_proto")}
    assert kinds == {"id.orig_p": "UInt16", "id.resp_p": "UInt16", "duration": "timedelta64[ns]", "orig_bytes": "UInt64",
                     "orig_pkts": "UInt64", "resp_ip_bytes": "UInt64", "ip_proto": "UInt64"}
    assert list(log.index.round("us")) == list(ours["first_seen"].dt.tz_convert(None))
    assert list(log["duration"].dt.round("us"))[:3] == list(pd.to_timedelta(ours["duration"], unit="s"))[:3]
    assert log["duration"].isna().tolist() == [False, False, False, True]
    assert log["id.orig_h"].astype(str).tolist() == ours["client_ip"].tolist()
    assert log["id.resp_p"].tolist() == ours["server_port"].tolist()
    assert log["proto"].astype(str).tolist() == ["tcp", "udp", "icmp", "udp"]
    assert log["orig_pkts"].tolist() == ours["client_packets"].tolist()
    assert log["resp_ip_bytes"].tolist() == ours["server_ip_bytes"].tolist()
    assert log["orig_bytes"].tolist()[:3] == ours["client_payload_bytes"].tolist()[:3]
    assert log["orig_bytes"].isna().tolist() == [False, False, False, True]
    assert log["conn_state"].astype(str).tolist() == ["SF", "SF", "OTH", "S0"]
    assert log["history"].astype(object).where(log["history"].notna(), None).tolist() == ["ShADdFf", "Dd", None, "D"]
    assert log["community_id"].astype(str).tolist() == ours["community_id"].tolist()
    assert all(log[name].isna().all() for name in UNSET)


def test_the_readme_shows_the_real_output():
    output = run("conversations", str(SAMPLES / "http_ethernet.pcap"), "--format", "zeek").stdout
    assert f"$ pcapflow conversations sample_pcaps/http_ethernet.pcap --format zeek\n{output}```" in (REPO / "README.md").read_text()


@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_zat_reads_the_json_lines_as_the_tsv(tmp_path, mixed):
    pytest.importorskip("zat", reason="ZAT is in the test extra: pip install -e '.[test]'")
    from zat.json_log_to_dataframe import JSONLogToDataFrame
    from zat.log_to_dataframe import LogToDataFrame

    for name, format in (("conn.log", "zeek"), ("conn.json.log", "zeek-json")):
        assert run("conversations", str(mixed), "-o", str(tmp_path / name), "--format", format).exit_code == 0
    tsv = LogToDataFrame().create_dataframe(str(tmp_path / "conn.log"))
    from_json = JSONLogToDataFrame().create_dataframe(str(tmp_path / "conn.json.log"))
    assert str(from_json.index.dtype) == "datetime64[ns]"
    assert list(from_json.index.round("us")) == list(tsv.index.round("us"))
    assert list(from_json.columns) == [name for name in NAMES[1:] if not tsv[name].isna().all()]  # unset fields left out
    for name in ("uid", "id.orig_h", "id.resp_p", "proto", "orig_bytes", "resp_pkts", "orig_ip_bytes", "ip_proto", "community_id"):
        assert from_json[name].tolist() == tsv[name].astype(object).tolist(), name
    assert from_json["duration"].tolist() == pytest.approx(tsv["duration"].dt.total_seconds().tolist(), abs=1e-6)
