"""The progress line (bytes, packets/s, time left) and the library's log records (-v)."""

from __future__ import annotations

import io
import logging

import pytest
from click.testing import CliRunner

import pcapflow
from pcapflow import pipeline
from pcapflow.capture import pieces
from pcapflow.cli import main
from pcapflow.progress import LogLines, ProgressLine, format_progress
from tests.capture.test_pipes import _fifo_with_writer, _read_fifo, _release
from tests.conftest import SAMPLES
from tests.factories import COMPRESSIONS, mixed_traffic, pcap_bytes, write
from tests.test_pipeline import _capture

MIB = 1 << 20


@pytest.mark.parametrize(("done", "total", "records", "elapsed", "text"), [
    (12 * MIB, 48 * MIB, 3_000, 2.0, "reading 12.0 MiB of 48.0 MiB (25%), 1.5 k packets/s, 0:00:06 left"),
    (48 * MIB, 48 * MIB, 2_400_000, 2.0, "reading 48.0 MiB of 48.0 MiB (100%), 1.2 M packets/s, 0:00:00 left"),
    (100 * MIB, 4 * MIB, 10, 4000.0, "reading 100.0 MiB of 4.0 MiB (100%), 0 packets/s, 0:00:00 left"),
    (1 * MIB, 60 * MIB, 20, 1.0, "reading 1.0 MiB of 60.0 MiB (1%), 20 packets/s, 0:00:59 left"),
    (1 * MIB, 3601 * MIB, 999, 1.0, "reading 1.0 MiB of 3.5 GiB (0%), 999 packets/s, 1:00:00 left"),
    (5 * MIB, None, 250_000, 2.0, "reading 5.0 MiB, 125 k packets/s"),  # a pipe: no total, so no time left
    (5 * MIB, 48 * MIB, 250_000, 0.1, "reading 5.0 MiB of 48.0 MiB (10%)"),  # too early for a rate
    (0, 48 * MIB, 0, 3.0, "reading 0 B of 48.0 MiB (0%), 0 packets/s"),  # nothing read: no time left
    (5 * MIB, 48 * MIB, None, 2.0, "reading 5.0 MiB of 48.0 MiB (10%), 0:00:17 left"),  # a caller without records
])
def test_the_progress_text(done, total, records, elapsed, text):
    assert format_progress(done, total, records, elapsed) == text


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_line_is_redrawn_at_most_every_tenth_of_a_second_and_left_in_place_at_the_end():
    stream, clock = io.StringIO(), _Clock()
    with ProgressLine(stream, clock) as line:
        clock.now += 1
        line(10 * MIB, 20 * MIB, 1000)
        clock.now += 0.0625
        line(11 * MIB, 20 * MIB, 1100)  # too soon: not drawn
        clock.now += 0.0625
        line(12 * MIB, None, 1200)
    first = "reading 10.0 MiB of 20.0 MiB (50%), 1 k packets/s, 0:00:01 left"
    last = "reading 12.0 MiB, 1.07 k packets/s"
    assert stream.getvalue() == "\r" + first + "\r" + last + " " * (len(first) - len(last)) + "\r" + last + "\n"


def test_log_lines_go_above_the_progress_line():
    stream, clock = io.StringIO(), _Clock()
    line = ProgressLine(stream, clock)
    line(1 * MIB, None, 10)
    handler = LogLines(stream, line)
    handler.handle(logging.LogRecord("pcapflow.pipeline", logging.INFO, __file__, 1, "reading %d file(s)", (2,), None))
    drawn = "\rreading 1.0 MiB"
    assert stream.getvalue() == drawn + "\r" + " " * 15 + "\r" + "pcapflow.pipeline: reading 2 file(s)\n" + drawn


def test_the_cli_shows_the_progress_line_when_asked_on_a_non_terminal():
    path = SAMPLES / "http_ethernet.pcap"
    size = path.stat().st_size
    result = CliRunner().invoke(main, ["analyze", "--progress", str(path)])
    assert result.exit_code == 0
    assert result.stderr.endswith(f"\rreading {size / 1024:.1f} KiB of {size / 1024:.1f} KiB (100%)\n")
    assert CliRunner().invoke(main, ["analyze", str(path)]).stderr == ""  # not a terminal: no line
    assert CliRunner().invoke(main, ["analyze", "--progress", "-q", str(path)]).stderr == ""


def test_the_cli_progress_line_for_standard_input_has_no_total():
    data = (SAMPLES / "http_ethernet.pcap").read_bytes()
    result = CliRunner().invoke(main, ["ports", "--progress", "-"], input=data)
    assert result.exit_code == 0
    assert result.stderr.endswith(f"\rreading {len(data) / 1024:.1f} KiB\n")


def test_progress_of_a_pipe_has_no_total(tmp_path):
    calls = []
    data = (SAMPLES / "http_ethernet.pcap").read_bytes()
    fifo = tmp_path / "fifo"
    writer = _fifo_with_writer(fifo, data)
    try:
        _read_fifo(pcapflow.analyze, fifo, [SAMPLES / "http_ethernet.pcap", fifo], progress=lambda *call: calls.append(call), chunk_bytes=512)
    finally:
        _release(fifo, writer)
    assert all(total is None for _, total, _ in calls)
    assert calls[-1] == (2 * len(data), None, 2 * 27)


def test_the_library_installs_no_handler_but_a_null_one():
    handlers = logging.getLogger("pcapflow").handlers
    assert [type(handler) for handler in handlers] == [logging.NullHandler]


def test_the_library_logs_its_workers_and_pieces(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(pipeline, "PIECE_BYTES", 4096)
    path = _capture(tmp_path)
    spans, _ = pieces.plan_spans(path, 4096)
    with caplog.at_level(logging.INFO, logger="pcapflow"):
        pcapflow.read_conversations(path, workers=3)
    assert (pipeline.__name__, logging.INFO, "reading 1 file(s) on 3 worker thread(s), tracking 3 partition(s)") in caplog.record_tuples
    assert (pieces.__name__, logging.INFO, f"{path}: from byte 0, cut into {len(spans)} pieces of about 4096 bytes") in caplog.record_tuples


def test_the_library_logs_a_boundary_planned_again(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(pipeline, "PIECE_BYTES", 4096)
    path = _capture(tmp_path)
    monkeypatch.setattr(pieces, "find_record_start", lambda path_, target, walker: target + 1)  # inside a record
    with caplog.at_level(logging.INFO, logger="pcapflow"):
        frame = pcapflow.read_conversations(path, workers=2)
    assert frame["packets"].sum() == 400
    replanned = [message for name, _, message in caplog.record_tuples if name == pipeline.__name__ and "planned again" in message]
    assert replanned and all(message.startswith(f"{path}: the piece boundary guessed at byte ") for message in replanned)


def test_the_library_logs_damage_and_streams(tmp_path, caplog):
    compressed = COMPRESSIONS["xz"](pcap_bytes(mixed_traffic()))
    path = write(tmp_path / "t.pcap.xz", compressed + b"junk")
    with caplog.at_level(logging.INFO, logger="pcapflow"):
        pcapflow.read_conversations([SAMPLES / "truncated.pcap", path])
    assert (pipeline.__name__, logging.INFO, f"{SAMPLES / 'truncated.pcap'}: reading ended at byte 384 after 4 records: "
            "file ends inside the record at byte 384 (53 of 90 bytes present)") in caplog.record_tuples
    assert ("pcapflow.capture.pieces", logging.INFO, f"{path}: xz-compressed pcap, read as one stream") in caplog.record_tuples


def test_verbose_shows_the_log_records_on_standard_error_for_the_run_only():
    path = SAMPLES / "truncated.pcap"
    result = CliRunner().invoke(main, ["analyze", "-v", "--workers", "2", str(path)])
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "pcapflow.pipeline: reading 1 file(s) on 2 worker thread(s), tracking 2 partition(s)",
        f"pcapflow.pipeline: {path}: reading ended at byte 384 after 4 records: file ends inside the record at byte 384 (53 of 90 bytes present)",
        f"Warning: {path}: file ends inside the record at byte 384 (53 of 90 bytes present); the 4 records before it were read",
    ]
    size = path.stat().st_size
    debug = CliRunner().invoke(main, ["analyze", "-vv", str(path)]).stderr
    assert f"pcapflow.capture.pieces: {path}: pcap of {size} bytes from byte 0, read as one piece\n" in debug
    quiet = CliRunner().invoke(main, ["analyze", "--workers", "2", str(path)])
    assert "pcapflow." not in quiet.stderr
    assert [type(handler) for handler in logging.getLogger("pcapflow").handlers] == [logging.NullHandler]
