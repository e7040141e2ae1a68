"""The stage benchmark (benchmarks/bench_pipeline.py): one JSON line per stage, with wall and CPU time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import pcapflow

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_pcaps" / "http_ethernet.pcap"


def test_every_stage_line_gives_packets_wall_and_cpu_time():
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_pipeline.py"), str(SAMPLE), "--stages", "read,track,end_to_end", "--repeat", "1"],
        check=True, capture_output=True, text=True,
    ).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["stage"] for line in lines] == ["read", "track", "end_to_end"]
    records = len(pcapflow.read_packets(SAMPLE))
    for line in lines:
        assert line["packets"] == records
        assert line["seconds"] > 0 and line["cpu_seconds"] > 0
        # cpu_seconds is rounded to 0.1 ms in the line
        assert line["cpu_us_per_packet"] == pytest.approx(line["cpu_seconds"] / records * 1e6, abs=0.0001 / records * 1e6)
    track = lines[1]
    assert track["target"] == {"packets_per_s": 1_200_000, "peak_rss_mib": 400}
    assert track["met"] is False  # a 27-packet capture is all fixed costs


def test_the_scaling_stage_pairs_one_worker_with_two():
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_pipeline.py"), str(SAMPLE), "--stages", "scaling", "--repeat", "2"],
        check=True, capture_output=True, text=True,
    ).stdout
    (line,) = [json.loads(text) for text in out.splitlines()]
    assert line["stage"] == "scaling" and line["runs"] == 2
    assert line["packets"] == len(pcapflow.read_packets(SAMPLE))
    assert line["seconds_workers_1"] > 0 and line["seconds_workers_2"] > 0 and line["speedup"] > 0
    assert "target" not in line  # a 27-packet capture is one piece: the target is for 10 M packets
