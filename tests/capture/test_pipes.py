"""Captures from pipes: standard input (``-``) and FIFOs, read once, in order, as the file reads.

A FIFO used to hang: it was opened once to sniff and again to read, and the second open waited
for a writer that had gone. Every test that reads a FIFO or a pipe has a timeout, so that such
a bug fails the test instead of hanging the suite.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import threading

import pandas as pd
import pytest
from click.testing import CliRunner

import pcapflow
from pcapflow import pipeline
from pcapflow.cli import main
from tests.conftest import REPO, SAMPLES
from tests.factories import COMPRESSIONS, mixed_traffic, pcap_bytes, pcapng_bytes, write
from tests.test_pipeline import _packets

TIMEOUT_S = 30


def _fifo_with_writer(path, data: bytes, step: int = 1000):
    """A FIFO at ``path`` and a thread that writes ``data`` into it a few bytes at a time (so
    that reads come back short), then closes it."""
    os.mkfifo(path)

    def write_all():
        try:
            with open(path, "wb") as fifo:
                for start in range(0, len(data), step):
                    fifo.write(data[start : start + step])
                    fifo.flush()
        except BrokenPipeError:  # the reader stopped early: the test says so
            pass

    writer = threading.Thread(target=write_all, daemon=True)
    writer.start()
    return writer


def _release(path, writer: threading.Thread) -> None:
    """A writer still waiting for a reader (the reader failed) is let go, so no thread is left."""
    if writer.is_alive():
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        os.close(descriptor)
        writer.join(TIMEOUT_S)


def _read_fifo(read, fifo, *args, **kwargs):
    """``read(...)`` in a thread of its own, within the timeout. A reader still stuck then (in an
    open() waiting for a writer) is given an empty writer, so that it ends and no thread is left."""
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = read(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - raised in the test's thread below
            outcome["error"] = exc

    reader = threading.Thread(target=run, daemon=True)
    reader.start()
    reader.join(TIMEOUT_S)
    if reader.is_alive():
        with contextlib.suppress(OSError):  # ENXIO: it was not waiting in open() after all
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(TIMEOUT_S)
        pytest.fail(f"reading the FIFO did not finish within {TIMEOUT_S} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _same_conversations(frame: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(frame, expected)
    got, want = frame.attrs["report"].to_dict(), expected.attrs["report"].to_dict()
    for file in got["files"] + want["files"]:
        file.pop("path")
    assert got == want


@pytest.fixture
def small_pieces(monkeypatch):
    """Files are cut into many pieces; a pipe must not be."""
    monkeypatch.setattr(pipeline, "PIECE_BYTES", 4096)


@pytest.mark.parametrize("kind", ["pcap", "pcapng", "gzip", "zstd"])
def test_a_fifo_gives_what_the_file_gives(tmp_path, kind, small_pieces):
    packets = _packets(400)
    data = pcapng_bytes(packets) if kind == "pcapng" else COMPRESSIONS[kind](pcap_bytes(packets)) if kind in COMPRESSIONS else pcap_bytes(packets)
    expected = pcapflow.read_conversations(write(tmp_path / "file", data), chunk_bytes=2048)
    fifo = tmp_path / "fifo"
    writer = _fifo_with_writer(fifo, data)
    try:
        frame = _read_fifo(pcapflow.read_conversations, fifo, fifo, chunk_bytes=2048, workers=2)
    finally:
        _release(fifo, writer)
    _same_conversations(frame, expected)
    assert frame.attrs["report"].files[0].path == str(fifo)
    assert frame["packets"].sum() == 400


def test_a_fifo_between_files_is_read_once_in_its_place(tmp_path, small_pieces):
    packets = _packets(600)
    first, middle, last = pcap_bytes(packets[:200]), pcap_bytes(packets[200:400]), pcap_bytes(packets[400:])
    expected = pcapflow.read_conversations([write(tmp_path / "a", first), write(tmp_path / "b", middle), write(tmp_path / "c", last)])
    fifo = tmp_path / "fifo"
    writer = _fifo_with_writer(fifo, middle)
    try:
        frame = _read_fifo(pcapflow.read_conversations, fifo, [tmp_path / "a", fifo, tmp_path / "c"])
    finally:
        _release(fifo, writer)
    _same_conversations(frame, expected)


def test_a_damaged_capture_in_a_fifo_is_reported_as_the_file_is(tmp_path):
    data = pcap_bytes(mixed_traffic())[:-20]
    expected = pcapflow.read_conversations(write(tmp_path / "file", data))
    fifo = tmp_path / "fifo"
    writer = _fifo_with_writer(fifo, data)
    try:
        frame = _read_fifo(pcapflow.read_conversations, fifo, fifo)
    finally:
        _release(fifo, writer)
    _same_conversations(frame, expected)
    assert frame.attrs["report"].files[0].truncated_tail


@pytest.mark.parametrize("command", ["analyze", "conversations"])
def test_standard_input_gives_what_the_file_gives(command):
    path = SAMPLES / "http_ethernet.pcap.gz"
    from_file = CliRunner().invoke(main, [command, str(path)])
    from_stdin = CliRunner().invoke(main, [command, "-"], input=path.read_bytes())
    assert from_stdin.exit_code == from_file.exit_code == 0
    assert from_stdin.stdout == from_file.stdout.replace(str(path), "-")
    assert from_stdin.stderr == ""


def test_standard_input_named_twice_is_a_usage_error():
    result = CliRunner().invoke(main, ["analyze", "-", "-"], input=b"")
    assert result.exit_code == 2
    assert "standard input (-) can be read only once" in result.stderr


def test_what_is_not_a_capture_on_standard_input_is_an_error():
    result = CliRunner().invoke(main, ["analyze", "-"], input=b"<html>")
    assert result.exit_code == 1
    assert result.stderr == "Error: -: not a pcap or pcapng file (first bytes 3c 68 74 6d) (at byte 0)\n"


@pytest.mark.parametrize(("producer", "path"), [
    ("cat", SAMPLES / "http_ethernet.pcap"),
    ("cat", SAMPLES / "linktypes.pcapng"),
    ("gzip -dc", SAMPLES / "http_ethernet.pcap.gz"),  # zcat x.pcap.gz | pcapflow conversations -
])
def test_a_shell_pipe_gives_what_the_file_gives(producer, path):
    if shutil.which(producer.split()[0]) is None:
        pytest.skip(f"{producer.split()[0]} is not installed")
    command = [sys.executable, "-m", "pcapflow", "conversations"]
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    from_file = subprocess.run([*command, str(path)], capture_output=True, timeout=TIMEOUT_S, env=environment, check=True)
    piped = subprocess.run(f"{producer} {shlex.quote(str(path))} | {shlex.join(command)} -", shell=True,
                           capture_output=True, timeout=TIMEOUT_S, env=environment, check=False)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == from_file.stdout
    assert len(piped.stdout.splitlines()) > 2


@pytest.mark.parametrize("name", ["ndpi/1kxun.pcap", "chrissanders/http_espn.pcapng"])
@pytest.mark.parametrize("kind", [None, *COMPRESSIONS])
def test_a_real_capture_through_a_fifo_gives_what_the_file_gives(tmp_path, corpus, name, kind, small_pieces):
    """Real captures (a 2.5 MB pcap, which the file's read cuts into pieces; a pcapng), as they
    are and compressed in every format, with trailing bytes after the compressed ones."""
    data = (corpus / name).read_bytes()
    expected = pcapflow.read_conversations(corpus / name)
    if kind is not None:
        data = COMPRESSIONS[kind](data) + b"\n"
    fifo = tmp_path / "fifo"
    writer = _fifo_with_writer(fifo, data, step=64 << 10)
    try:
        frame = _read_fifo(pcapflow.read_conversations, fifo, fifo)
    finally:
        _release(fifo, writer)
    pd.testing.assert_frame_equal(frame, expected)
    file = frame.attrs["report"].files[0]
    assert file.records == expected.attrs["report"].files[0].records > 900
    assert len(file.warnings) == (kind is not None)


def test_standard_input_that_is_a_terminal_is_a_usage_error():
    leader, follower = os.openpty()
    try:
        result = subprocess.run([sys.executable, "-m", "pcapflow", "analyze", "-"], stdin=follower, capture_output=True,
                                timeout=TIMEOUT_S, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    finally:
        os.close(leader)
        os.close(follower)
    assert result.returncode == 2
    assert result.stderr.decode().endswith("Error: standard input (-) is a terminal, not a capture: pipe one into it (tcpdump -w - | pcapflow analyze -)\n")
