"""Per-port summary: exact counts of crafted conversations, agreement with a plain pandas groupby
of the conversations frame on generated traffic, and both ways in (tracker columns, frame)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pcapflow
from pcapflow._kernels.grouping import distinct_per_group
from pcapflow.addresses import parse_address
from pcapflow.schema import PORT_COLUMNS, ports_frame
from pcapflow.summary import _peak_concurrent, summarize_columns
from pcapflow.tracking.state import CONN_STATES
from tests.factories import pcap_bytes, write
from tests.tracking.test_properties import traffic

S = 1_000_000_000
A, B, SERVER, OTHER_SERVER = "10.0.0.1", "10.0.0.2", "10.0.0.9", "10.0.0.8"


def _columns(conversations: list[tuple]) -> dict[str, np.ndarray]:
    """Tracker-like columns of (proto, client, client_port, server, server_port, first s, last s,
    client packets, server packets, client bytes, server bytes, conn_state)."""
    names = ("proto", "client", "client_port", "server", "server_port", "first_seen", "last_seen",
             "client_packets", "server_packets", "client_bytes", "server_bytes", "conn_state")
    raw = {name: [row[i] for row in conversations] for i, name in enumerate(names)}
    columns = {name: np.array(raw[name], dtype=np.int64) for name in names if name not in ("client", "server", "conn_state")}
    columns["first_seen"] *= S
    columns["last_seen"] *= S
    columns["conn_state"] = np.array([CONN_STATES.index(state) for state in raw["conn_state"]], dtype=np.int8)
    for side in ("client", "server"):
        halves = np.array([parse_address(address) for address in raw[side]], dtype=np.uint64).reshape(-1, 2)
        columns[f"{side}_ip_hi"], columns[f"{side}_ip_lo"] = halves[:, 0], halves[:, 1]
    return columns


CRAFTED = [
    (6, A, 1000, SERVER, 80, 0, 10, 3, 2, 100, 200, "SF"),
    (6, A, 1001, SERVER, 80, 10, 20, 1, 1, 60, 60, "REJ"),  # touches the first at t=10: both open then
    (6, B, 1000, SERVER, 80, 30, 40, 1, 0, 60, 0, "S0"),
    (17, B, 4000, SERVER, 53, 1, 2, 1, 1, 80, 120, "SF"),
    (17, B, 4000, OTHER_SERVER, 53, 3, 4, 1, 0, 80, 0, "S0"),  # the same client socket again
    (6, A, 5000, SERVER, 22, 5, 6, 4, 4, 900, 900, "RSTO"),
    (1, A, 8, SERVER, 0, 7, 8, 1, 1, 98, 98, "OTH"),
]


def test_crafted_conversations_give_exact_port_rows():
    table = summarize_columns(_columns(CRAFTED))
    assert list(zip(table["protocol"], table["server_port"].tolist(), table["service"])) == [
        ("tcp", 80, "http"), ("udp", 53, "domain"), ("tcp", 22, "ssh"), ("icmp", 0, None)
    ]
    assert table["conversations"].tolist() == [3, 2, 1, 1]
    assert table["clients"].tolist() == [2, 1, 1, 1]
    assert table["client_sockets"].tolist() == [3, 1, 1, 1]
    assert table["servers"].tolist() == [1, 2, 1, 1]
    assert table["packets"].tolist() == [8, 3, 8, 2]
    assert table["bytes"].tolist() == [480, 280, 1800, 196]
    assert table["client_bytes"].tolist() == [220, 160, 900, 98]
    assert table["first_seen"].tolist() == [0, 1 * S, 5 * S, 7 * S]
    assert table["last_seen"].tolist() == [40 * S, 4 * S, 6 * S, 8 * S]
    assert table["peak_concurrent"].tolist() == [2, 1, 1, 1]
    assert table["established"].tolist() == [1, 1, 1, 0]
    assert table["rejected"].tolist() == [1, 0, 0, 0]
    assert table["unanswered"].tolist() == [1, 1, 0, 0]
    assert table["description"][0] == "World Wide Web HTTP"


def test_rows_are_ordered_by_conversations_then_bytes_then_protocol_and_port():
    same = [(17, A, 1, SERVER, port, 0, 1, 1, 0, 10, 0, "S0") for port in (162, 161)] + [
        (6, A, 1, SERVER, 161, 0, 1, 1, 0, 10, 0, "S0"), (6, A, 1, SERVER, 7, 0, 1, 1, 0, 99, 0, "S0")
    ]
    rows = summarize_columns(_columns(same))
    assert list(zip(rows["protocol"], rows["server_port"].tolist())) == [("tcp", 7), ("tcp", 161), ("udp", 161), ("udp", 162)]


def test_no_conversations_give_no_rows_with_every_column():
    frame = ports_frame(summarize_columns({}))
    assert frame.empty and list(frame.columns) == [spec.name for spec in PORT_COLUMNS]
    pd.testing.assert_frame_equal(frame, pcapflow.summarize_ports(pcapflow.schema.conversations_frame({}, pcapflow.ServiceTable())))


def _reference_ports(conversations: pd.DataFrame) -> pd.DataFrame:
    """The summary as a plain pandas groupby, peak_concurrent counted by brute force."""
    rows = []
    for (protocol, port), group in conversations.groupby([conversations["protocol"].astype(str), "server_port"]):
        first, last = group["first_seen"].to_numpy(), group["last_seen"].to_numpy()
        state = group["conn_state"].astype(str)
        established = state.isin(["S1", "S2", "S3", "SF", "RSTO", "RSTR"]) if protocol == "tcp" else (state == "SF") & (protocol == "udp")
        rows.append({
            "protocol": protocol, "server_port": port, "conversations": len(group),
            "clients": group["client_ip"].nunique(),
            "client_sockets": len(set(zip(group["client_ip"], group["client_port"]))),
            "servers": group["server_ip"].nunique(), "packets": group["packets"].sum(), "bytes": group["bytes"].sum(),
            "client_bytes": group["client_bytes"].sum(), "server_bytes": group["server_bytes"].sum(),
            "first_seen": first.min(), "last_seen": last.max(),
            "peak_concurrent": max(int(((first <= t) & (last >= t)).sum()) for t in first),
            "established": int(established.sum()), "rejected": int((state == "REJ").sum()), "unanswered": int((state == "S0").sum()),
        })
    return pd.DataFrame(rows)


@settings(max_examples=40, deadline=None)
@given(traffic())
def test_ports_agree_with_a_plain_groupby_of_the_conversations(tmp_path_factory, packets):
    path = write(tmp_path_factory.mktemp("p") / "x.pcap", pcap_bytes(packets))
    analysis = pcapflow.analyze(path)
    ports = analysis.ports
    # the same summary, whether counted from the tracker's columns or from the frame
    pd.testing.assert_frame_equal(ports, pcapflow.summarize_ports(analysis.conversations))
    expected = _reference_ports(analysis.conversations)
    got = ports.drop(columns=["service", "description"]).assign(protocol=ports["protocol"].astype(str))
    got = got.sort_values(["protocol", "server_port"]).reset_index(drop=True)
    expected = expected.sort_values(["protocol", "server_port"]).reset_index(drop=True)
    for column in expected.columns:
        assert got[column].tolist() == expected[column].tolist(), column
    counts = ports[["conversations", "bytes"]].to_numpy()
    assert all(tuple(-counts[i]) <= tuple(-counts[i + 1]) for i in range(len(counts) - 1))  # busiest first


def test_summary_from_frame_takes_a_filtered_frame():
    conversations = pcapflow.read_conversations("sample_pcaps/http_ethernet.pcap")
    only_tcp = conversations[conversations["protocol"] == "tcp"]
    ports = pcapflow.summarize_ports(only_tcp)
    assert set(ports["protocol"].astype(str)) == {"tcp"}
    assert ports["conversations"].sum() == len(only_tcp)


def test_the_terminal_summary_never_imports_pandas():
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from pcapflow.cli import main\n"
        "result = CliRunner().invoke(main, ['analyze', 'sample_pcaps/http_ethernet.pcap'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40), st.integers(0, 12)), min_size=1, max_size=40),
       st.sampled_from([1, S, 1 << 57]))
def test_peak_concurrent_counts_the_most_intervals_open_at_one_instant(intervals, unit):
    """By brute force, at every opening; ``unit`` 2**57 ns makes the span too wide for the
    times themselves in one sort key (their ranks are sorted instead)."""
    groups = sorted({group for group, _, _ in intervals})
    group = np.array([groups.index(g) for g, _, _ in intervals], dtype=np.int64)
    first = np.array([start for _, start, _ in intervals], dtype=np.int64) * unit
    last = first + np.array([length for _, _, length in intervals], dtype=np.int64) * unit
    expected = [max(int(((first[group == g] <= t) & (last[group == g] >= t)).sum()) for t in first[group == g]) for g in range(len(groups))]
    assert _peak_concurrent(group, first, last, len(groups)).tolist() == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 5), st.integers(0, 3)), max_size=60), st.booleans())
def test_distinct_per_group_counts_each_value_once_per_group(entries, with_port):
    """Against Python sets; few distinct halves, so that equal values and equal hashes are common."""
    groups = 5
    group = np.array([entry[0] for entry in entries], dtype=np.int64)
    hi = np.array([(0, 1 << 63, 1)[entry[1]] for entry in entries], dtype=np.uint64)  # the high bit too
    lo = np.array([entry[2] for entry in entries], dtype=np.uint64)
    port = np.array([entry[3] for entry in entries], dtype=np.uint16) if with_port else np.zeros(0, dtype=np.uint16)
    expected = [len({entry[1:] if with_port else entry[1:3] for entry in entries if entry[0] == g}) for g in range(groups)]
    assert distinct_per_group(group, hi, lo, port, groups).tolist() == expected


def test_distinct_per_group_refuses_entries_outside_its_groups():
    values = np.zeros(2, dtype=np.uint64)
    with pytest.raises(IndexError, match="group 2"):
        distinct_per_group(np.array([0, 2], dtype=np.int64), values, values, np.zeros(0, dtype=np.uint16), 2)
    with pytest.raises(ValueError, match="one entry per value"):
        distinct_per_group(np.array([0], dtype=np.int64), values, values, np.zeros(0, dtype=np.uint16), 2)


def test_distinct_per_group_of_thousands_of_values():
    """Thousands of distinct values in a few groups, against np.unique."""
    rng = np.random.default_rng(7)
    group = rng.integers(0, 3, 20_000).astype(np.int64)
    hi, lo = rng.integers(0, 2, 20_000).astype(np.uint64), rng.integers(0, 6_000, 20_000).astype(np.uint64)
    port = rng.integers(0, 4, 20_000).astype(np.uint16)
    for ports in (port, np.zeros(0, dtype=np.uint16)):
        values = np.stack([group, hi.astype(np.int64), lo.astype(np.int64)] + ([ports.astype(np.int64)] if len(ports) else []), axis=1)
        distinct = np.unique(values, axis=0)
        expected = np.bincount(distinct[:, 0], minlength=3).tolist()
        assert distinct_per_group(group, hi, lo, ports, 3).tolist() == expected
        assert sum(expected) > 2_000
