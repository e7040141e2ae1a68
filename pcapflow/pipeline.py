"""Running the stages over a whole capture: pieces read at once, packets tracked in partitions.

Stages and what passes between them
-----------------------------------
1. **plan**: every file becomes one or more :class:`Piece` objects in capture order. A large
   uncompressed classic pcap is cut about every :data:`PIECE_BYTES` at guessed record boundaries
   (:func:`~pcapflow.capture.pieces.plan_spans`); any other file is one piece.
2. **read**: a piece becomes decoded :class:`~pcapflow.decode.PacketTable` batches, its
   :class:`~pcapflow.capture.FileReport`, its status counts and its latest timestamp.
3. **partition**: the tracked packets of each batch are split by address pair
   (:func:`~pcapflow.tracking.partition_of`), :data:`PARTITIONS` ways.
4. **track**: one :class:`~pcapflow.tracking.ConversationTracker` per partition takes that
   partition's packets, piece after piece, in capture order.
5. **combine**: the partitions' conversation columns become one table
   (:func:`~pcapflow.tracking.combine`), identical to what one tracker over all packets returns.

Reading and partitioning a piece depends on nothing but the piece, and each tracker is a fold
over its partition's parts in piece order: a task graph that a cluster scheduler could run
as it is (read tasks mapped over pieces, one chain of tracking tasks per partition, one combine).
Here it runs on one machine: the calling process (the *coordinator*) reads every other piece and
tracks partition 0; a forked *worker* reads the others and tracks partition 1. Each hands the
other the packets of its partition. The coordinator reports what was read and verifies every
guessed boundary: the walk of a piece must end exactly where the next one starts. A wrong guess
replaces the rest of that file by one piece that the coordinator reads on; damage ends the file
there, as a read in one go would.

Without a worker (one process asked for, a small capture, a process with threads, no ``fork``)
the coordinator reads every piece and tracks every packet itself.
"""

from __future__ import annotations

import multiprocessing
import os
import contextlib
import itertools
import pickle
import queue
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from pcapflow.capture import CaptureFile, FileReport, open_capture
from pcapflow.capture.pieces import plan_spans
from pcapflow.decode import SUPPORTED_LINKTYPES, DecodeStatus, PacketTable, decode
from pcapflow.errors import UnsupportedLinkTypeError
from pcapflow.options import AnalysisOptions
from pcapflow.report import CaptureReport
from pcapflow.tracking import TRACKER_COLUMNS, ConversationTracker, partition_of

#: Bytes of an uncompressed file per piece (a file this size or smaller is one piece).
PIECE_BYTES = 32 << 20
#: Captures smaller than this are read by one process: a worker would not pay for itself.
PARALLEL_MIN_BYTES = 64 << 20
#: Pieces the worker reads ahead of the coordinator.
LOOKAHEAD = 2
#: Trackers working on one capture when a worker runs.
PARTITIONS = 2

COORDINATOR, WORKER = 0, 1
NO_TIME = np.iinfo(np.int64).min


#: Where bulky messages between the processes go as files: memory-backed where there is /dev/shm.
SPILL_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
#: Messages with less array data than this go through the queue itself.
INLINE_BYTES = 64 << 10


class WorkerLost(Exception):
    """The worker process died; its tracker's state is gone with it."""


@dataclass(frozen=True, slots=True)
class Piece:
    """Records of one file that start in ``[start, stop)`` (``stop`` None: to the end)."""

    path: str
    file_index: int
    start: int
    stop: int | None
    shareable: bool  # bounded and uncompressed: either process may read it

    def open(self) -> CaptureFile:
        if self.start == 0 and self.stop is None:
            return open_capture(self.path, self.file_index)
        return CaptureFile(self.path, self.file_index, piece=(self.start, self.stop))


@dataclass(slots=True)
class PieceRead:
    """What reading one piece found, apart from its packets."""

    report: FileReport
    status_counts: np.ndarray  # records per DecodeStatus value (256 entries)
    latest_ts: int  # ns; NO_TIME without records


class PieceReader:
    """Decoded batches of one piece, with the file position reached after each; :attr:`read`
    is complete once iteration ends. Record indexes count from the piece's first record."""

    def __init__(self, piece: Piece, engine: str, chunk_bytes: int):
        self.piece = piece
        self.engine = engine
        self.chunk_bytes = chunk_bytes
        self.read: PieceRead | None = None

    def __iter__(self) -> Iterator[tuple[PacketTable, int]]:
        with self.piece.open() as capture:
            self.read = read = PieceRead(capture.report, np.zeros(256, dtype=np.int64), NO_TIME)
            for batch in capture.batches(self.chunk_bytes):
                table = decode(batch, self.engine)
                read.status_counts += np.bincount(table.status, minlength=256)
                if len(table):
                    read.latest_ts = max(read.latest_ts, int(table.ts_ns.max()))
                yield table, capture.position


def split(table: PacketTable, partitions: int) -> list[PacketTable]:
    """The tracked packets of ``table``, one table per partition (tracker columns only)."""
    tracked = np.flatnonzero(table.status < DecodeStatus.NOT_IP)
    owner = partition_of(table.src_ip_hi[tracked], table.src_ip_lo[tracked], table.dst_ip_hi[tracked], table.dst_ip_lo[tracked], partitions)
    return [table.take(tracked[owner == part], TRACKER_COLUMNS) for part in range(partitions)]


class CaptureRun:
    """One pass over the capture files: decoded batches in capture order, and the report.

    With ``tracking`` (the analysis options) and a worker, :meth:`batches` yields only the
    packets of partition 0, and :meth:`worker_conversations` returns the worker's partition.
    """

    def __init__(
        self,
        paths: list[str],
        *,
        engine: str,
        chunk_bytes: int,
        workers: int,
        progress: Callable[[int, int], None] | None = None,
        tracking: AnalysisOptions | None = None,
    ):
        self.paths = paths
        self.engine = engine
        self.chunk_bytes = chunk_bytes
        self.progress = progress
        self.tracking = tracking
        self.files: list[FileReport] = []
        self.status_counts = np.zeros(256, dtype=np.int64)
        self.capture_end = NO_TIME
        self._worker = _Worker.start(engine, chunk_bytes, tracking) if _worth_a_worker(paths, workers) else None

    @property
    def report(self) -> CaptureReport:
        counts = {DecodeStatus(value).name: int(self.status_counts[value]) for value in np.flatnonzero(self.status_counts)}
        return CaptureReport(files=tuple(self.files), status_counts=counts, engine=self.engine)

    @property
    def partitioned(self) -> bool:
        """Whether the worker tracks a partition (else every packet comes out of :meth:`batches`)."""
        return self._worker is not None and self.tracking is not None

    def batches(self) -> Iterator[tuple[PacketTable, int]]:
        """(batch, records of the files before the batch's file), in capture order.

        Record indexes are the records' positions in their files.
        """
        try:
            yield from self._batches()
        except BaseException:
            self.close()
            raise
        if self.partitioned:  # the worker finishes its partition while the caller finishes its own
            self._worker.finish(self.capture_end)
        else:
            self.close()

    def _batches(self) -> Iterator[tuple[PacketTable, int]]:
        plan = _Plan(self.paths)
        total = sum(os.path.getsize(path) for path in self.paths) if self.progress else 0
        done = records_before = 0  # bytes and records of the files before the current one
        report: FileReport | None = None  # the current file's
        while (step := plan.next(self._worker)) is not None:
            piece, owner = step
            if piece.start == 0 and report is not None:  # the previous file is done
                _check_linktypes(report)
                done += os.path.getsize(report.path) if self.progress else 0
                records_before += report.records
                report = None
            file_records = 0 if report is None else report.records
            taken = self._take(piece) if owner == WORKER else None
            if taken is not None:
                tables, read = taken
                if self.partitioned:
                    self._worker.track_own(piece, file_records, records_before)
                for table in tables:
                    table.record_index += file_records
                    yield table, records_before
                position = piece.stop or os.path.getsize(piece.path)
            else:
                reader = PieceReader(piece, self.engine, self.chunk_bytes)
                position = piece.start
                for table, position in reader:
                    table.record_index += file_records
                    if self.partitioned:
                        table, theirs = split(table, PARTITIONS)
                        self._worker.track(theirs, records_before)
                    yield table, records_before
                    if self.progress:
                        self.progress(done + position, total)
                read = reader.read
            report = self._account(piece, read, report)
            if self.progress:
                self.progress(done + position, total)
            plan.check(piece, report)
        if report is not None:
            _check_linktypes(report)

    def _take(self, piece: Piece) -> tuple[list[PacketTable], PieceRead] | None:
        """The worker's read of ``piece``; None if there is no worker (any more) to read it."""
        if self._worker is None:
            return None
        try:
            return self._worker.take(piece)
        except WorkerLost:
            if self.partitioned:  # its tracker's state is gone: the caller starts again
                raise
            self.close()  # the pieces it was to read are read here
            self._worker = None
            return None

    def _account(self, piece: Piece, read: PieceRead, report: FileReport | None) -> FileReport:
        """Take a piece's read into its file's report and the capture's counts."""
        if report is None:
            report = read.report
            self.files.append(report)
        else:
            report.records += read.report.records
            report.truncated_tail, report.corrupt_at, report.damage = read.report.truncated_tail, read.report.corrupt_at, read.report.damage
            report.end_offset = read.report.end_offset
        self.status_counts += read.status_counts
        self.capture_end = max(self.capture_end, read.latest_ts)
        return report

    def worker_conversations(self) -> list[tuple[dict[str, object], int]]:
        """(conversation columns, orphan fragments) of the worker's partition, if it tracked one.

        Call after :meth:`batches` is exhausted; ends the worker.
        """
        if not self.partitioned:
            return []
        try:
            return [self._worker.conversations()]
        finally:
            self.close()

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()


def _worth_a_worker(paths: list[str], workers: int) -> bool:
    """Whether a second process pays: two asked for, enough bytes, and a safe way to start it.

    The worker is forked (cheap: nothing is imported again), so a process with threads, or a
    platform without fork, works alone.
    """
    if workers < 2 or threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods():
        return False
    try:
        return sum(os.path.getsize(path) for path in paths) >= PARALLEL_MIN_BYTES
    except OSError:  # a missing file: reading it in order says so
        return False


class _Plan:
    """The pieces of the capture in order, planned a file or a few ahead, and who reads each.

    Shareable pieces alternate between the worker and the coordinator; the others (compressed
    or large pcapng files) are streamed by the coordinator.
    """

    def __init__(self, paths: list[str]):
        self._files = iter(enumerate(paths))
        self._ahead: deque[tuple[Piece, int]] = deque()
        self._turn = COORDINATOR

    def _plan_file(self) -> bool:
        for index, path in self._files:
            spans, shareable = plan_spans(path, PIECE_BYTES)
            for start, stop in spans:
                owner = COORDINATOR
                if shareable:
                    owner, self._turn = self._turn, 1 - self._turn
                self._ahead.append((Piece(path, index, start, stop, shareable), owner))
            return True
        return False

    def next(self, worker: _Worker | None) -> tuple[Piece, int] | None:
        """The next piece and who reads it, after asking the worker to read ahead."""
        position = 0
        while worker is not None and worker.reading < LOOKAHEAD:
            if position == len(self._ahead) and not self._plan_file():
                break
            piece, owner = self._ahead[position]
            if owner == WORKER and not worker.asked(piece):
                worker.read(piece)
            position += 1
        if not self._ahead and not self._plan_file():
            return None
        return self._ahead.popleft()

    def check(self, piece: Piece, report: FileReport) -> None:
        """After ``piece`` was read: drop the rest of its file if it ended in damage, or replace
        the rest by one piece from where its walk really stopped if the next guess was wrong."""
        if piece.stop is None:
            return
        rest = [entry for entry in self._ahead if entry[0].file_index == piece.file_index]
        if not report.damage and rest and rest[0][0].start == report.end_offset:
            return
        for entry in rest:
            self._ahead.remove(entry)
        if not report.damage:
            self._ahead.appendleft((Piece(piece.path, piece.file_index, report.end_offset, None, False), COORDINATOR))


class _Worker:
    """The forked worker, seen from the coordinator: commands go one way, read pieces and the
    final conversations come back, both through queues (their feeder threads never block the
    sender, so neither side can wait on the other while both send)."""

    def __init__(self, process, commands, results, parcels: _Parcels):
        self._process = process
        self._parcels = parcels
        self._commands = commands
        self._results = results
        self._asked: deque[Piece] = deque()  # pieces asked for and not taken yet, in order
        self._closed = False

    @classmethod
    def start(cls, engine: str, chunk_bytes: int, tracking: AnalysisOptions | None) -> _Worker | None:
        context = multiprocessing.get_context("fork")
        commands, results = context.Queue(), context.Queue()
        parcels = _Parcels(os.getpid())
        process = context.Process(target=_serve, args=(commands, results, parcels, engine, chunk_bytes, tracking), daemon=True)
        try:
            process.start()
        except OSError:  # no process to be had: work alone
            return None
        return cls(process, commands, results, parcels)

    @property
    def reading(self) -> int:
        return len(self._asked)

    def asked(self, piece: Piece) -> bool:
        return piece in self._asked

    def read(self, piece: Piece) -> None:
        self._commands.put(("read", piece))
        self._asked.append(piece)

    def take(self, piece: Piece) -> tuple[list[PacketTable], PieceRead]:
        """The read of ``piece`` (the coordinator's partition of it when partitioned); pieces the
        plan dropped since they were asked for are thrown away on the way."""
        if not self.asked(piece):
            self.read(piece)
        while True:
            asked = self._asked.popleft()
            got, parcel = self._receive()
            outcome = self._parcels.unpack(parcel)
            if asked != got:
                raise AssertionError(f"the worker answered for {got}, not {asked}")
            if asked == piece:
                if isinstance(outcome, BaseException):
                    raise outcome
                return outcome
            self._commands.put(("drop", asked))

    def track(self, part: PacketTable, records_before: int) -> None:
        self._commands.put(("track", self._parcels.pack((part, records_before))))

    def track_own(self, piece: Piece, file_records: int, records_before: int) -> None:
        self._commands.put(("own", piece, file_records, records_before))

    def finish(self, capture_end: int) -> None:
        """Tell the worker that the capture is over: it finishes its partition."""
        self._commands.put(("finish", capture_end))

    def conversations(self) -> tuple[dict[str, object], int]:
        """The worker's finished partition: (conversation columns, orphan fragments)."""
        while True:  # pieces asked for and dropped from the plan may still come first
            got, parcel = self._receive()
            if got == "finish":
                break
        outcome = self._parcels.unpack(parcel)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _receive(self):
        while True:
            try:
                return self._results.get(timeout=0.2)
            except queue.Empty:
                if not self._process.is_alive():
                    raise WorkerLost from None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._process.is_alive():
            self._commands.put(("stop",))
            self._commands.close()
            self._commands.join_thread()  # the commands reach the worker before it stops
            self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._results.close()
        self._results.join_thread()
        self._parcels.remove_left()


def _serve(commands, results, parcels: _Parcels, engine: str, chunk_bytes: int, tracking: AnalysisOptions | None) -> None:
    """The worker's loop: read pieces for the coordinator, track its partition, until told to stop.

    Commands: ``read`` a piece (answered with its batches, or the coordinator's partition of
    them, and its read), ``track`` a part the coordinator sends, track the part of a piece it
    read itself (``own``), ``drop`` a piece the coordinator will not use, ``finish`` (answered
    with the partition's conversations), ``stop``. A tracking error is answered at ``finish``.
    """
    tracker = ConversationTracker(tracking) if tracking is not None else None
    held: dict[Piece, list[PacketTable]] = {}
    failure: BaseException | None = None
    while True:
        kind, *args = commands.get()
        if kind == "stop":
            return
        if kind == "read":
            outcome = _read_for_coordinator(args[0], engine, chunk_bytes, held if tracker is not None else None)
            results.put((args[0], parcels.pack(outcome)))
        elif kind == "finish":
            results.put(("finish", parcels.pack(failure or (tracker.finish(args[0]), tracker.orphan_fragments))))
        elif kind == "drop":
            held.pop(args[0], None)
        elif failure is None:
            try:
                if kind == "track":
                    part, records_before = parcels.unpack(args[0])
                    tracker.add(part, records_before)
                else:
                    piece, file_records, records_before = args
                    for part in held.pop(piece):
                        part.record_index += file_records
                        tracker.add(part, records_before)
            except Exception as exc:  # noqa: BLE001 - handed to the coordinator at finish
                failure = exc


def _read_for_coordinator(piece: Piece, engine: str, chunk_bytes: int, held: dict | None):
    """A piece's batches and read, or the exception reading it raised. With ``held``, the
    worker's partition of each batch is kept there and only the coordinator's is returned."""
    reader = PieceReader(piece, engine, chunk_bytes)
    try:
        tables = [table for table, _ in reader]
    except Exception as exc:  # noqa: BLE001 - raised by the coordinator where the piece is used
        return exc
    if held is not None:
        parts = [split(table, PARTITIONS) for table in tables]
        held[piece] = [part[WORKER] for part in parts]
        tables = [part[COORDINATOR] for part in parts]
    return tables, reader.read


class _Parcels:
    """Packs messages for the other process, and unpacks its.

    A queue pickles what it carries through a pipe, at some 150 MB/s here: far too slow for
    decoded packets. So the arrays of a message (pickle protocol 5 keeps them out of band) go
    into a file in :data:`SPILL_DIR`, and only the pickle's head and the file's name through the
    queue; the receiver reads the file back in one go and removes it. Files are named after the
    coordinator's process, so that :meth:`remove_left` can remove those that were never taken
    (a worker that died, pieces dropped at the end).
    """

    def __init__(self, owner: int):
        self._prefix = os.path.join(SPILL_DIR, f"pcapflow-{owner}-")
        self._numbers = itertools.count()

    def pack(self, message: object) -> tuple:
        buffers: list[pickle.PickleBuffer] = []
        head = pickle.dumps(message, protocol=5, buffer_callback=buffers.append)
        raws = [buffer.raw() for buffer in buffers]
        if sum(raw.nbytes for raw in raws) >= INLINE_BYTES:
            path = f"{self._prefix}{os.getpid()}-{next(self._numbers)}"
            try:
                with open(path, "wb") as file:
                    for raw in raws:
                        file.write(raw)
                return head, path, [raw.nbytes for raw in raws]
            except OSError:  # no room for the file (a small /dev/shm): through the queue after all
                _remove(path)
        # writable copies, so that the arrays unpickled from them can be changed in place
        return head, None, [bytearray(raw) for raw in raws]

    @staticmethod
    def unpack(parcel: tuple) -> object:
        head, path, contents = parcel
        if path is None:
            return pickle.loads(head, buffers=contents)
        data = bytearray(sum(contents))
        with open(path, "rb") as file:
            file.readinto(data)
        _remove(path)
        view, offset, buffers = memoryview(data), 0, []
        for size in contents:
            buffers.append(view[offset : offset + size])
            offset += size
        return pickle.loads(head, buffers=buffers)

    def remove_left(self) -> None:
        directory, prefix = os.path.split(self._prefix)
        try:
            names = os.listdir(directory)
        except OSError:  # no such directory: nothing was left there
            return
        for name in names:
            if name.startswith(prefix):
                _remove(os.path.join(directory, name))


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _check_linktypes(report: FileReport) -> None:
    if report.linktypes and not SUPPORTED_LINKTYPES.intersection(report.linktypes):
        kinds = ", ".join(str(linktype) for linktype in sorted(set(report.linktypes)))
        raise UnsupportedLinkTypeError(report.path, f"no interface has a supported link type (link types: {kinds})")
