"""Reading a large classic pcap as two pieces at once gives exactly what one sequential read gives.

The boundary between the pieces is guessed and then verified; a wrong guess, damage in the first
piece or a damaged tail in the second must all end as the sequential read ends.
"""

from __future__ import annotations

import os
import pickle
import struct

import pandas as pd
import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.packet import Raw

import pcapflow
from pcapflow import reader
from pcapflow.capture import CaptureFile
from pcapflow.capture.pieces import find_record_start
from tests.factories import eth, pcap_bytes, stamped, write


@pytest.fixture(autouse=True)
def cut_every_file(monkeypatch, tmp_path):
    monkeypatch.setattr(reader, "PARALLEL_MIN_BYTES", 0)
    spills = tmp_path / "spills"
    spills.mkdir()
    monkeypatch.setattr(reader, "SPILL_DIR", str(spills))
    yield
    assert list(spills.iterdir()) == []  # whatever happened, the worker's file is gone


def _capture(tmp_path, count: int = 400):
    packets = [
        eth() / IP(src=f"10.0.{i % 7}.1", dst="10.0.0.2") / (TCP(sport=40000 + i % 13, dport=443, flags="PA") if i % 3 else UDP(sport=5000, dport=53)) / Raw(b"x" * (i % 90))
        for i in range(count)
    ]
    return write(tmp_path / "big.pcap", pcap_bytes(stamped(packets)))


def _both(path, read=pcapflow.read_conversations, **options):
    one = read(path, workers=1, **options)
    two = read(path, workers=2, **options)
    return one, two


def record_starts(data: bytes) -> list[int]:
    """Where every record of a little-endian pcap starts, walked independently of pcapflow."""
    starts, position = [], 24
    while position + 16 <= len(data):
        starts.append(position)
        position += 16 + struct.unpack_from("<I", data, position + 8)[0]
    return starts


def test_two_pieces_equal_one_sequential_read(tmp_path):
    path = _capture(tmp_path)
    one, two = _both(path, chunk_bytes=4096)
    pd.testing.assert_frame_equal(two, one)
    packets_one = pd.concat([pcapflow.schema.packets_frame(t) for t in pcapflow.PacketReader(path, workers=1)])
    packets_two = pd.concat([pcapflow.schema.packets_frame(t) for t in pcapflow.PacketReader(path, workers=2)])
    pd.testing.assert_frame_equal(packets_two.reset_index(drop=True), packets_one.reset_index(drop=True))
    assert packets_two["record_index"].tolist() == list(range(400))


def test_the_guessed_boundary_is_a_true_record_start(tmp_path):
    path = _capture(tmp_path)
    with CaptureFile(path, piece=(0, None)) as capture:
        walker = capture.walker
    size = path.stat().st_size
    assert find_record_start(path, size // 2, walker) == min(s for s in record_starts(path.read_bytes()) if s >= size // 2)


def test_a_wrong_guess_falls_back_to_reading_on(tmp_path, monkeypatch):
    path = _capture(tmp_path)
    guesses = []

    def off_by_one(path_, target, walker):
        guesses.append(target)
        return target + 1  # inside a record, not at its start

    monkeypatch.setattr(reader, "find_record_start", off_by_one)
    one, two = _both(path)
    assert guesses
    pd.testing.assert_frame_equal(two, one)
    assert two.attrs["report"].to_dict() == one.attrs["report"].to_dict()


def _with_caplen(data: bytes, record_start: int, caplen: int) -> bytes:
    return data[: record_start + 8] + struct.pack("<I", caplen) + data[record_start + 12 :]


@pytest.mark.parametrize("where", ["first piece", "boundary", "second piece"])
def test_damage_ends_the_read_where_a_sequential_read_ends(tmp_path, where):
    data = _capture(tmp_path).read_bytes()
    starts = record_starts(data)
    boundary = min(s for s in starts if s >= int(len(data) * reader.FIRST_PIECE_SHARE))
    damaged_record = {"first piece": starts[len(starts) // 4], "boundary": boundary, "second piece": starts[-3]}[where]
    path = write(tmp_path / "damaged.pcap", _with_caplen(data, damaged_record, 1 << 30))
    one, two = _both(path)
    pd.testing.assert_frame_equal(two, one)
    assert two.attrs["report"].to_dict() == one.attrs["report"].to_dict()
    assert two.attrs["report"].files[0].corrupt_at == damaged_record


def test_capture_errors_cross_process_boundaries():
    error = pcapflow.CaptureError("x.pcap", "no readable record: something", 24)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.offset) == (type(error), str(error), 24)


def test_truncated_tail_in_the_second_piece(tmp_path):
    data = _capture(tmp_path).read_bytes()
    path = write(tmp_path / "cut.pcap", data[:-20])
    one, two = _both(path)
    pd.testing.assert_frame_equal(two, one)
    assert two.attrs["report"].files[0].truncated_tail
    assert two.attrs["report"].to_dict() == one.attrs["report"].to_dict()


def test_no_place_for_the_workers_file_reads_in_one_go(tmp_path, monkeypatch):
    path = _capture(tmp_path)
    one = pcapflow.read_conversations(path, workers=1)
    monkeypatch.setattr(reader, "SPILL_DIR", str(tmp_path / "missing"))
    pd.testing.assert_frame_equal(pcapflow.read_conversations(path, workers=2), one)


def test_a_worker_that_cannot_write_its_file_sends_the_tables_whole(tmp_path, monkeypatch):
    path = _capture(tmp_path)
    one = pcapflow.read_conversations(path, workers=1)

    def full(path_, buffers):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(reader, "_spill", full)
    pd.testing.assert_frame_equal(pcapflow.read_conversations(path, workers=2), one)


def test_a_worker_that_dies_leaves_the_parent_to_read_its_piece(tmp_path, monkeypatch):
    path = _capture(tmp_path)
    one = pcapflow.read_conversations(path, workers=1)
    monkeypatch.setattr(reader, "_send_piece", lambda *args: os._exit(1))
    pd.testing.assert_frame_equal(pcapflow.read_conversations(path, workers=2), one)
