"""Time windows (pcapflow.timeline, Analysis.timeline, pcapflow timeline): exact numbers on a
crafted capture whose conversations cross windows, start and end on their edges, and last no time."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scapy.layers.l2 import ARP

import pcapflow
from pcapflow.cli import main
from pcapflow.export import read_table
from pcapflow.schema import TIMELINE_COLUMNS
from pcapflow.timeline import MAX_WINDOW_PAIRS, open_over_time, summarize_windows
from tests.conftest import REPO
from tests.factories import CLIENT, SERVER, T0, eth, pcap_bytes, write
from tests.report_captures import at, window_packets

# The capture of window_packets in windows of 10 s from T0 (a multiple of 10 s since the epoch):
# window k is [T0 + 10k, T0 + 10k + 10).
# A  tcp/80  8 packets, 474 bytes, from 5 s to 30 s: 5, 10, 10 and 0 s in windows 0, 1, 2 and 3 (its
#            last packet on the edge of window 3). Of D = 25 s: packets floor(8*5/25)=1, floor(8*15/25)=4
#            -> 1, 3, 4, 0; bytes floor(474*5/25)=94, floor(474*15/25)=284 -> 94, 190, 190, 0.
# B  tcp/80  8 packets, 474 bytes, from 12 s to 18 s: all in window 1.
# C  udp/53  one packet of 72 bytes at 20 s: window 2, lasting no time.
# E  tcp/443 SYN and RST+ACK (54 bytes each) at 31 and 31.5 s: window 3.
EXPECTED = [
    # window, protocol, port, service, started, open, packets, bytes
    (0, "tcp", 80, "http", 1, 1, 1, 94),
    (1, "tcp", 80, "http", 1, 2, 3 + 8, 190 + 474),
    (2, "tcp", 80, "http", 0, 1, 4, 190),
    (2, "udp", 53, "domain", 1, 1, 1, 72),
    (3, "tcp", 80, "http", 0, 1, 0, 0),
    (3, "tcp", 443, "https", 1, 1, 2, 108),
]


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    return write(tmp_path_factory.mktemp("timeline") / "windows.pcap", pcap_bytes(window_packets()))


def _expected_frame() -> pd.DataFrame:
    rows = pd.DataFrame(EXPECTED, columns=["window", *[spec.name for spec in TIMELINE_COLUMNS[1:]]])
    rows.insert(0, "window_start", pd.to_datetime((T0 + 10 * rows.pop("window")) * 10**9, unit="ns", utc=True))
    return rows.astype({spec.name: spec.dtype for spec in TIMELINE_COLUMNS})


def _compare(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == [spec.name for spec in TIMELINE_COLUMNS]
    assert [str(dtype) for dtype in frame.dtypes] == [str(spec.dtype) for spec in TIMELINE_COLUMNS]
    expected = _expected_frame()
    for column in ("protocol", "service"):  # categories: the values and order matter, not the category lists
        frame, expected = frame.assign(**{column: frame[column].astype(str)}), expected.assign(**{column: expected[column].astype(str)})
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), expected)


def test_windows_have_the_exact_counts_and_prorated_shares(capture):
    _compare(pcapflow.analyze(capture).timeline("10s"))


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_the_timeline_does_not_depend_on_workers(capture, workers):
    _compare(pcapflow.analyze(capture, workers=workers).timeline("10s"))


def test_shares_add_up_to_the_ports_totals(capture):
    analysis = pcapflow.analyze(capture)
    for freq in ("1s", "7s", "10s", "1min"):
        totals = analysis.timeline(freq).groupby(["protocol", "server_port"], observed=True)[["prorated_packets", "prorated_bytes"]].sum()
        ports = analysis.ports.set_index(["protocol", "server_port"])
        assert totals["prorated_packets"].to_dict() == ports["packets"].to_dict()
        assert totals["prorated_bytes"].to_dict() == ports["bytes"].to_dict()


def test_one_window_holds_everything(capture):
    frame = pcapflow.analyze(capture).timeline("1h")
    assert frame["window_start"].tolist() == [pd.Timestamp(T0 // 3600 * 3600, unit="s", tz="UTC")] * 3
    assert frame[["server_port", "conversations_started", "conversations_open", "prorated_packets", "prorated_bytes"]].values.tolist() == [
        [80, 2, 2, 16, 948], [443, 1, 1, 2, 108], [53, 1, 1, 1, 72]]


def test_timedelta_and_string_freq_agree(capture):
    analysis = pcapflow.analyze(capture)
    pd.testing.assert_frame_equal(analysis.timeline(pd.Timedelta(seconds=10)), analysis.timeline("10s"))


def test_shares_of_huge_totals_are_exact():
    # 10**15 bytes over 25 minutes in 1-minute windows: products past int64, so Python's integers
    start = pd.Timestamp("2024-01-01 00:00:30", tz="UTC")
    frame = pd.DataFrame({
        "protocol": pd.Categorical(["tcp"]), "server_port": np.array([443], dtype=np.uint16), "service": pd.Categorical(["https"]),
        "first_seen": [start], "last_seen": [start + pd.Timedelta(minutes=25)], "packets": [7], "bytes": [10**15],
    })
    windows = summarize_windows(frame, "1min")
    # the 25 window edges inside the conversation, 00:01:00 to 00:25:00, are 30 s + k minutes after its first packet
    before = [0] + [10**15 * (30 + 60 * k) // (25 * 60) for k in range(25)] + [10**15]
    assert len(windows) == 26
    assert windows["prorated_bytes"].tolist() == [b - a for a, b in itertools.pairwise(before)]
    assert windows["prorated_bytes"].sum() == 10**15
    assert windows["prorated_packets"].sum() == 7
    assert windows["conversations_open"].tolist() == [1] * 26


def test_a_capture_without_conversations_has_an_empty_timeline_with_its_dtypes(tmp_path):
    capture = write(tmp_path / "arp.pcap", pcap_bytes(at([eth() / ARP(psrc=CLIENT, pdst=SERVER)], [0])))
    frame = pcapflow.analyze(capture).timeline()
    assert frame.empty
    assert [str(dtype) for dtype in frame.dtypes] == [str(spec.dtype) for spec in TIMELINE_COLUMNS]


@pytest.mark.parametrize("freq", ["1M", "0s", "-1min", "often", None])
def test_a_bad_freq_raises_options_error(capture, freq):
    with pytest.raises(pcapflow.OptionsError, match="positive length of time"):
        pcapflow.analyze(capture).timeline(freq)


def test_too_many_window_pairs_are_refused(capture):
    with pytest.raises(pcapflow.OptionsError, match="too short"):
        pcapflow.analyze(capture).timeline(f"{25 * 10**9 // MAX_WINDOW_PAIRS}ns")


def test_open_over_time_counts_touching_intervals_as_overlapping():
    times, counts = open_over_time(np.array([0, 10, 10, 30]), np.array([10, 20, 10, 30]))
    assert times.tolist() == [0, 10, 11, 21, 30, 31]
    assert counts.tolist() == [1, 3, 1, 0, 1, 0]


def test_the_highest_open_count_is_peak_concurrent(capture):
    analysis = pcapflow.analyze(capture)
    conversations = analysis.conversations
    for row in analysis.ports.itertuples():
        mine = (conversations["protocol"] == row.protocol) & (conversations["server_port"] == row.server_port)
        _, counts = open_over_time(conversations["first_seen"][mine].to_numpy("int64"), conversations["last_seen"][mine].to_numpy("int64"))
        assert counts.max() == row.peak_concurrent


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".ndjson"])
def test_the_timeline_command_writes_what_the_api_returns(capture, tmp_path, suffix):
    target = tmp_path / f"timeline{suffix}"
    result = run("timeline", str(capture), "--freq", "10s", "-o", str(target))
    assert result.exit_code == 0, result.output
    _compare(read_table(target))


def test_the_timeline_command_writes_csv_to_standard_output_by_minute(capture):
    result = run("timeline", str(capture))
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "window_start,protocol,server_port,service,conversations_started,conversations_open,prorated_packets,prorated_bytes",
        "2024-01-01 00:00:00+00:00,tcp,80,http,2,2,16,948",
        "2024-01-01 00:00:00+00:00,tcp,443,https,1,1,2,108",
        "2024-01-01 00:00:00+00:00,udp,53,domain,1,1,1,72",
    ]


def test_a_bad_freq_is_a_usage_error_before_reading(tmp_path):
    garbage = write(tmp_path / "garbage.pcap", b"not a capture")
    result = CliRunner().invoke(main, ["timeline", str(garbage), "--freq", "1M"])
    assert result.exit_code == 2
    assert "Invalid value for --freq: freq must be a positive length of time such as 10s, 1min or 1h, not '1M'" in result.stderr


def test_the_readme_example_is_what_the_command_prints(monkeypatch):
    monkeypatch.chdir(REPO)
    result = run("timeline", "sample_pcaps/http_ethernet.pcap", "--freq", "2s")
    assert f"$ pcapflow timeline sample_pcaps/http_ethernet.pcap --freq 2s\n{result.stdout}```" in (REPO / "README.md").read_text()


REAL_CAPTURES = ["zeek-training/08-tables-identify-services-per-host.pcap", "ndpi/1kxun.pcap", "chrissanders/http_espn.pcapng", "ndpi/sites.pcapng"]


@pytest.mark.parametrize("name", REAL_CAPTURES)
def test_on_real_captures_windows_add_up_and_open_counts_peak_at_peak_concurrent(corpus, name):
    analysis = pcapflow.analyze(corpus / name)
    ports = analysis.ports.set_index(["protocol", "server_port"])
    windows = analysis.timeline("1min")
    per_port = windows.groupby(["protocol", "server_port"], observed=True)
    assert per_port["prorated_packets"].sum().to_dict() == ports["packets"].to_dict()
    assert per_port["prorated_bytes"].sum().to_dict() == ports["bytes"].to_dict()
    assert per_port["conversations_started"].sum().to_dict() == ports["conversations"].to_dict()
    # a conversation is open in at least the window it started in, and no port has more open than it has conversations
    assert (windows["conversations_open"] >= windows["conversations_started"]).all()
    assert (per_port["conversations_open"].max().reindex(ports.index) <= ports["conversations"]).all()
    conversations = analysis.conversations
    key = conversations["protocol"].astype(str) + "/" + conversations["server_port"].astype(str)
    for (protocol, port), row in ports.iterrows():
        mine = (key == f"{protocol}/{port}").to_numpy()
        _, counts = open_over_time(conversations["first_seen"][mine].to_numpy("int64"), conversations["last_seen"][mine].to_numpy("int64"))
        assert counts.max() == row["peak_concurrent"], (protocol, port)
