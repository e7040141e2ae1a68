"""Reading a capture in pieces on several threads and tracking it in partitions gives exactly
what one thread gives.

Piece boundaries are guessed and then checked; a wrong guess, damage in any piece or at a
boundary, a cut tail, files of every kind read together, a failing task and a reader left
half-read must all end as the one-thread run ends. Every test here cuts files into pieces of a
few KiB.
"""

from __future__ import annotations

import itertools
import pickle
import struct
import threading

import pandas as pd
import pytest
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.packet import Raw

import pcapflow
from pcapflow import pipeline, schema, tracking
from pcapflow.capture import CaptureFile, pieces
from pcapflow.capture.pieces import find_record_start, plan_spans
from tests.factories import COMPRESSIONS, eth, pcap_bytes, pcapng_bytes, stamped, write

PIECE = 4096


def _pcapflow_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("pcapflow")]


@pytest.fixture(autouse=True)
def cut_every_file(monkeypatch):
    monkeypatch.setattr(pipeline, "PIECE_BYTES", PIECE)
    yield
    assert _pcapflow_threads() == []  # the workers are gone, whatever happened


def _packets(count: int = 400, hosts: int = 7):
    return stamped([
        eth() / IP(src=f"10.0.{i % hosts}.1", dst="10.0.0.2")
        / (TCP(sport=40000 + i % 13, dport=443, flags="PA") if i % 3 else UDP(sport=5000, dport=53))
        / Raw(b"x" * (i % 90))
        for i in range(count)
    ])


def _capture(tmp_path, count: int = 400, name: str = "big.pcap"):
    return write(tmp_path / name, pcap_bytes(_packets(count)))


def _each(paths, read=pcapflow.read_conversations, **options):
    return [read(paths, workers=workers, **options) for workers in (1, 2, 3)]


def _assert_same(frames):
    one, *others = frames
    for other in others:
        pd.testing.assert_frame_equal(other, one)
        assert other.attrs["report"].to_dict() == one.attrs["report"].to_dict()


def record_starts(data: bytes) -> list[int]:
    """Where every record of a little-endian pcap starts, walked independently of pcapflow."""
    starts, position = [], 24
    while position + 16 <= len(data):
        starts.append(position)
        position += 16 + struct.unpack_from("<I", data, position + 8)[0]
    return starts


def _packet_frame(path, workers):
    reader = pcapflow.PacketReader(path, workers=workers)
    frame = pd.concat([pcapflow.schema.packets_frame(t) for t in reader], ignore_index=True)
    return frame, reader.report


def test_pieces_and_partitions_equal_one_thread(tmp_path):
    path = _capture(tmp_path)
    spans, on_their_own = plan_spans(path, PIECE)
    assert on_their_own and len(spans) > 8
    frames = _each(path, chunk_bytes=1024)
    _assert_same(frames)
    assert len(frames[0]) > 20 and frames[0]["packets"].sum() == 400


def test_packet_reader_on_threads_equals_one_thread(tmp_path):
    path = _capture(tmp_path)
    (one, report_one), (three, report_three) = _packet_frame(path, 1), _packet_frame(path, 3)
    pd.testing.assert_frame_equal(three, one)
    assert three["record_index"].tolist() == list(range(400))
    assert report_three.to_dict() == report_one.to_dict()


def test_every_planned_boundary_is_a_true_record_start(tmp_path):
    path = _capture(tmp_path)
    spans, _ = plan_spans(path, PIECE)
    starts = set(record_starts(path.read_bytes()))
    assert spans[0] == (0, spans[1][0]) and spans[-1][1] is None
    assert all(start in starts for start, _ in spans[1:])
    assert all(stop == start for (_, stop), (start, _) in itertools.pairwise(spans))


def test_the_guessed_boundary_is_the_first_record_start_after_the_target(tmp_path):
    path = _capture(tmp_path)
    with CaptureFile(path, piece=(24, None)) as capture:
        walker = capture.walker
    size = path.stat().st_size
    assert find_record_start(path, size // 2, walker) == min(s for s in record_starts(path.read_bytes()) if s >= size // 2)


def test_wrong_guesses_are_planned_again_from_where_the_walk_stopped(tmp_path, monkeypatch):
    path = _capture(tmp_path)
    guesses = []

    def off_by_one(path_, target, walker):
        guesses.append(target)
        return target + 1  # inside a record, not at its start

    monkeypatch.setattr(pieces, "find_record_start", off_by_one)
    frames = _each(path)
    assert len(guesses) > 8
    _assert_same(frames)
    assert frames[0]["packets"].sum() == 400


def _with_caplen(data: bytes, record_start: int, caplen: int) -> bytes:
    return data[: record_start + 8] + struct.pack("<I", caplen) + data[record_start + 12 :]


@pytest.mark.parametrize("where", ["first piece", "a boundary", "a later piece"])
def test_damage_ends_the_read_where_one_thread_ends_it(tmp_path, where):
    path = _capture(tmp_path)
    data = path.read_bytes()
    starts = record_starts(data)
    boundaries = [start for start, _ in plan_spans(path, PIECE)[0][1:]]
    damaged = {"first piece": starts[3], "a boundary": boundaries[len(boundaries) // 2], "a later piece": starts[-3]}[where]
    path = write(tmp_path / "damaged.pcap", _with_caplen(data, damaged, 1 << 30))
    frames = _each(path)
    _assert_same(frames)
    assert frames[0].attrs["report"].files[0].corrupt_at == damaged
    assert frames[0].attrs["report"].records_read == starts.index(damaged)


def test_a_truncated_tail(tmp_path):
    data = _capture(tmp_path).read_bytes()
    path = write(tmp_path / "cut.pcap", data[:-20])
    frames = _each(path)
    _assert_same(frames)
    assert frames[0].attrs["report"].files[0].truncated_tail


def test_files_of_every_kind_read_together(tmp_path):
    packets = _packets(300)
    paths = [
        write(tmp_path / "a.pcap", pcap_bytes(packets[:150])),
        write(tmp_path / "b.pcapng", pcapng_bytes(packets[150:170])),
        write(tmp_path / "c.pcap.gz", COMPRESSIONS["gzip"](pcap_bytes(packets[170:200]))),
        write(tmp_path / "d.pcap", pcap_bytes(packets[200:205])),
        write(tmp_path / "e.pcap", pcap_bytes(packets[205:])),
    ]
    frames = _each(paths, chunk_bytes=2048)
    _assert_same(frames)
    assert [file.records for file in frames[0].attrs["report"].files] == [150, 20, 30, 5, 95]
    (frame_one, _), (frame_two, _) = _packet_frame(paths, 1), _packet_frame(paths, 2)
    pd.testing.assert_frame_equal(frame_two, frame_one)


def test_fragments_whose_first_fragment_is_in_another_piece(tmp_path):
    datagrams = [
        IP(src=f"10.1.0.{i % 5 + 1}", dst="10.1.0.99", id=i) / UDP(sport=7000 + i, dport=9999) / Raw(b"f" * 3000) for i in range(40)
    ]
    packets = stamped([eth() / f for datagram in datagrams for f in reversed(fragment(datagram, fragsize=1000))])
    path = write(tmp_path / "fragments.pcap", pcap_bytes(packets))
    frames = _each(path)
    _assert_same(frames)
    assert len(frames[0]) == 40 and frames[0]["packets"].tolist() == [4] * 40
    assert frames[0].attrs["report"].orphan_fragments == 0


def test_a_capture_error_in_a_later_file_is_raised_as_one_thread_raises_it(tmp_path):
    paths = [_capture(tmp_path), write(tmp_path / "junk.pcap", b"not a capture at all, not even close")]
    for workers in (1, 2):
        with pytest.raises(pcapflow.CaptureError, match=r"junk\.pcap: not a pcap or pcapng file"):
            pcapflow.read_conversations(paths, workers=workers)


def test_capture_errors_cross_process_boundaries():
    error = pcapflow.CaptureError("x.pcap", "no readable record: something", 24)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.offset) == (type(error), str(error), 24)


def test_a_task_that_fails_raises_in_the_caller_with_its_file_and_offset(tmp_path, monkeypatch):
    path = _capture(tmp_path)
    real = pipeline.read_piece

    def fails_on_the_third_piece(piece, *args):
        if piece.start == plan_spans(path, PIECE)[0][2][0]:
            raise RuntimeError("the disk caught fire")
        return real(piece, *args)

    monkeypatch.setattr(pipeline, "read_piece", fails_on_the_third_piece)
    for workers in (1, 2):
        with pytest.raises(RuntimeError, match="the disk caught fire") as caught:
            pcapflow.read_conversations(path, workers=workers)
        assert caught.value.__notes__ == [f"pcapflow: while reading {path} from byte {plan_spans(path, PIECE)[0][2][0]}"]


def test_a_reader_left_half_read_ends_its_threads(tmp_path):
    path = _capture(tmp_path)
    batches = iter(pcapflow.PacketReader(path, workers=2, chunk_bytes=1024))
    next(batches)
    batches.close()  # the fixture checks that the threads are gone


def test_a_program_with_threads_uses_every_worker(tmp_path):
    """Work is shared on threads also where the caller runs threads of its own (Jupyter, a server)."""
    path = _capture(tmp_path)
    seen: set[str] = set()
    real = pipeline.read_piece

    def noting(piece, *args):
        seen.add(threading.current_thread().name)
        return real(piece, *args)

    pipeline.read_piece, saved = noting, real
    try:
        outcome = []
        caller = threading.Thread(target=lambda: outcome.append(pcapflow.read_conversations(path, workers=2)))
        caller.start()
        caller.join()
    finally:
        pipeline.read_piece = saved
    pd.testing.assert_frame_equal(outcome[0], pcapflow.read_conversations(path, workers=1))
    assert len(seen) == 2


def test_the_stages_run_by_hand_as_a_task_scheduler_would_run_them(tmp_path):
    """Read every piece on its own (map), split it (shuffle), fold each partition's parts in
    piece order (one tracker per partition), combine: the shape a cluster scheduler runs."""
    path = _capture(tmp_path)
    planned = pipeline.plan_pieces(str(path), 0)
    reads = [pipeline.read_piece(piece, "fast", 1024, 1, inspect_payload=True) for piece in planned]  # any order, any machine
    trackers = [tracking.ConversationTracker() for _ in range(3)]
    file_records, capture_end = 0, pipeline.NO_TIME
    for read in reads:  # each tracker takes its partition's parts, with their first bytes, in piece order
        for table, early in zip(read.tables, read.early):
            table.record_index += file_records
            for tracker, (part, part_early) in zip(trackers, tracking.split(table, 3, early)):
                tracker.add(part, early=part_early)
        file_records += read.records
        capture_end = max(capture_end, read.latest_ts)
    columns = tracking.combine([tracker.finish(capture_end) for tracker in trackers])
    frame = schema.conversations_frame(columns, pcapflow.api.service_table(pcapflow.AnalysisOptions()))
    pd.testing.assert_frame_equal(frame, pcapflow.read_conversations(path, workers=1))


def test_a_finished_tracker_lets_its_table_go_and_keeps_its_counts(tmp_path):
    path = write(tmp_path / "orphan.pcap", pcap_bytes([stamped(eth() / IP(src="10.0.0.1", dst="10.0.0.2", id=7, frag=100, proto=17) / Raw(b"x" * 8), 1.0)]))
    tracker = tracking.ConversationTracker()
    for table in pcapflow.PacketReader(path, workers=1):
        tracker.add(table)
    assert len(tracker.finish(pipeline.NO_TIME)["conversation_id"]) == 0
    assert tracker.orphan_fragments == 1
    with pytest.raises(RuntimeError, match="finished"):
        tracker.add(next(iter(pcapflow.PacketReader(path, workers=1))))
