"""The Python API: analyze() and its progress callback, read_conversations, summarize_ports."""

from __future__ import annotations

import pandas as pd
import pytest

import pcapflow
from tests.conftest import SAMPLES


def test_progress_reports_bytes_and_records_read_up_to_the_totals():
    calls = []
    paths = [SAMPLES / "http_ethernet.pcap", SAMPLES / "http_ethernet.pcap.gz"]
    pcapflow.analyze(paths, progress=lambda done, total, records: calls.append((done, total, records)), chunk_bytes=512)
    total = sum(path.stat().st_size for path in paths)
    assert len(calls) > 2
    assert all(t == total for _, t, _ in calls)
    assert [d for d, _, _ in calls] == sorted(d for d, _, _ in calls)
    assert [r for _, _, r in calls] == sorted(r for _, _, r in calls)
    assert calls[-1][0] == total
    assert calls[-1][2] == 2 * 27


def test_analysis_tables_agree():
    analysis = pcapflow.analyze(SAMPLES / "http_ethernet.pcap")
    pd.testing.assert_frame_equal(analysis.conversations, pcapflow.read_conversations(SAMPLES / "http_ethernet.pcap"))
    pd.testing.assert_frame_equal(analysis.ports, pcapflow.summarize_ports(analysis.conversations))
    assert analysis.ports["conversations"].sum() == len(analysis.conversations)
    assert analysis.report.records_read == 27


@pytest.mark.parametrize("first", ["conversations", "ports", "port_rows"])
def test_analysis_frames_do_not_depend_on_which_is_asked_for_first(first):
    analysis = pcapflow.analyze(SAMPLES / "http_ethernet.pcap")
    getattr(analysis, first)
    pd.testing.assert_frame_equal(analysis.ports, pcapflow.summarize_ports(analysis.conversations))
    pd.testing.assert_frame_equal(analysis.conversations, pcapflow.read_conversations(SAMPLES / "http_ethernet.pcap"))
    assert analysis.port_rows["conversations"].tolist() == analysis.ports["conversations"].tolist()
    assert repr(analysis) == "<Analysis: 27 records, 4 conversations>"


def test_service_overrides_from_a_mapping():
    analysis = pcapflow.analyze(SAMPLES / "http_ethernet.pcap", services={80: "my-web", "53/udp": ("resolver", "ours")})
    assert analysis.ports[["server_port", "service", "description"]].values.tolist() == [[80, "my-web", pd.NA], [53, "resolver", "ours"]]
    assert set(analysis.conversations["service"]) == {"my-web", "resolver"}


@pytest.mark.parametrize("bad", [{"tcp_idle_timeout": 0}, {"engine": "turbo"}, {"workers": 0}, {"workers": 1.5}, {"chunk_bytes": 0}, {"services": {"x": "y"}}])
def test_invalid_options_raise_options_error(bad):
    with pytest.raises(pcapflow.OptionsError):
        pcapflow.analyze(SAMPLES / "http_ethernet.pcap", **bad)


def test_frames_share_their_report_instead_of_copying_it():
    # pandas deep-copies attrs on every operation: with many files that copying dominated
    frame = pcapflow.read_conversations([SAMPLES / "http_ethernet.pcap"] * 3)
    derived = frame[frame["protocol"] == "tcp"].sort_values("bytes")
    assert derived.attrs["report"] is frame.attrs["report"]
    assert len(frame.attrs["report"].files) == 3
