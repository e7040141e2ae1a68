"""Running the stages over a whole capture: pieces read at once, partitions tracked at once.

Stages and what passes between them (plain functions of their inputs: a cluster scheduler can
map the same ones)
---------------------------------------------------------------------------------------------
1. **plan** (:func:`plan_pieces`): every file becomes :class:`Piece` objects in capture order.
   An uncompressed classic pcap larger than :data:`PIECE_BYTES` is cut about every
   :data:`PIECE_BYTES` at guessed record boundaries (:func:`~pcapflow.capture.pieces.plan_spans`);
   any other uncompressed file no larger than that is one piece; a larger pcapng, a compressed
   file, standard input and a FIFO are one *stream*, read in order (a pipe is opened once, when
   it is read).
2. **read** (:func:`read_piece`; :func:`decode_batch` for a stream's batches): records decoded
   into :class:`~pcapflow.decode.PacketTable` batches, each with the partition of every packet
   (:func:`~pcapflow.tracking.partition_labels`), with payload inspection the first payload
   bytes of each flow direction (:class:`~pcapflow._kernels.firstbytes.FirstBytes`: copied while
   the records are in memory, bounded per flow), and what reading found (a :class:`PieceRead`).
3. **track** (:func:`fold`): one :class:`~pcapflow.tracking.ConversationTracker` per partition
   takes that partition's packets, piece after piece, in capture order.
4. **combine** (:func:`~pcapflow.tracking.combine`): the partitions' conversations become one
   table, identical to what one tracker over every packet returns.

Here the tasks run on a :class:`concurrent.futures.ThreadPoolExecutor` of ``workers`` threads:
the kernels release the GIL, so the threads work at once, in a Jupyter kernel or a threaded
program as on the command line. The calling thread plans, reads the streams (decompression
releases the GIL too), takes each piece's read in capture order and checks every guessed
boundary: the walk of a piece must end exactly where the next one starts, else the rest of the
file is planned again from where it really ended; damage ends the file there, as a read in one
go ends it. The packets of ``workers`` reads at a time are then folded, one task per partition,
while the next reads go on. A task that fails raises in the caller, naming its file and offset.

:mod:`pcapflow.dask.run` runs the same stages on a Dask cluster: its reads are started by a
:data:`RemoteRead` and taken here in the same order, with the same checks and report.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pcapflow._kernels.constants import Tunnel
from pcapflow._kernels.firstbytes import FirstBytes
from pcapflow._kernels.partition import MAX_PARTITIONS
from pcapflow.apps import compiled_signatures
from pcapflow.capture import CaptureFile, FileReport, open_capture
from pcapflow.capture.batch import RawBatch
from pcapflow.capture.pieces import plan_spans
from pcapflow.capture.source import input_size
from pcapflow.decode import LINKTYPE_NAMES, SUPPORTED_LINKTYPES, DecodeStatus, PacketTable, decode
from pcapflow.decode.carriers import carrier_rows, decode_with_carriers
from pcapflow.decode.table import ONE_ROW_PER_RECORD, TRACKED_BELOW, TUNNEL_NAMES
from pcapflow.errors import PcapflowError, UnsupportedLinkTypeError
from pcapflow.options import AnalysisOptions
from pcapflow.report import CaptureReport
from pcapflow.tracking import ConversationTracker, combine, packet_partitions

#: Bytes of an uncompressed file per piece (a file this size or smaller is one piece).
PIECE_BYTES = 32 << 20
#: Reads in flight ahead of the one the caller takes next, per worker. One each keeps every
#: worker busy, and the folds (queued behind the reads) close behind them: with two each, the
#: reads ran ahead, the folds of the last ones ran alone at the end, and their tables stayed in
#: memory meanwhile (measured on 1 M and 10 M packets: the same wall time or less, and 14 to
#: 38 MiB less peak memory).
LOOKAHEAD_PER_WORKER = 1

NO_TIME = np.iinfo(np.int64).min

logger = logging.getLogger(__name__)

#: What a progress callback is given after each read: bytes of the input read so far, their
#: total (None when an input is a pipe, whose size is not known), records read so far.
Progress = Callable[[int, int | None, int], None]


@dataclass(frozen=True, slots=True)
class Piece:
    """Records of one file that start in ``[start, stop)`` (``stop`` None: to the end); a
    ``stream`` is a whole file read in order, batch after batch, by the caller."""

    path: str
    file_index: int
    start: int
    stop: int | None
    stream: bool = False

    def open(self) -> CaptureFile:
        if self.start == 0 and self.stop is None:
            return open_capture(self.path, self.file_index)
        return CaptureFile(self.path, self.file_index, piece=(self.start, self.stop))


@dataclass(slots=True)
class PieceRead:
    """What reading one piece (or one batch of a stream) gave: its decoded tables with their
    partition labels, and what reading found. Record indexes count from the piece's first record."""

    piece: Piece
    tables: list[PacketTable] = field(default_factory=list)
    labels: list[np.ndarray | None] = field(default_factory=list)  # per table, None with one partition
    early: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = field(default_factory=list)  # per table: FirstBytes.take's
    status_counts: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=np.int64))
    tunnel_counts: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=np.int64))  # records by innermost tunnel
    latest_ts: int = NO_TIME
    report: FileReport | None = None  # of the piece; a stream's reads share the stream's, filled as it is read
    position: int = 0  # file bytes read when it was done (for progress)
    records: int = 0
    first_record: int = 0  # the number of its first record in its file, once the reads before it are taken
    carriers: int = 0  # carrier rows of its tables

    def take(self, table: PacketTable, partitions: int, batch: RawBatch | None = None, budgets: FirstBytes | None = None,
             rows: np.ndarray | None = None) -> None:
        """Take a decoded table; with ``budgets``, its first payload bytes from ``batch`` too.
        ``rows``: the record of each row of a table with carrier rows (decode_with_carriers)."""
        self.tables.append(table)
        self.labels.append(_labels(table, partitions))
        self.early.append(None if budgets is None or batch is None else budgets.take(
            batch.buffer, batch.data_offset, ONE_ROW_PER_RECORD if rows is None else rows, table.caplen, table.status,
            table.ip_proto, table.src_ip_hi, table.src_ip_lo, table.dst_ip_hi, table.dst_ip_lo, table.src_port, table.dst_port,
            table.tcp_flags, table.tcp_seq, table.payload_offset, table.payload_bytes))
        # a record's own row is its innermost packet's; its carrier's row (status OK, tunnel
        # NO_TUNNEL), the one row more a tunnelled record has, counts in neither tally (every
        # record has a row: the last row's record is the batch's last)
        carriers = 0 if rows is None else len(rows) - int(rows[-1]) - 1
        self.carriers += carriers
        status_counts = np.bincount(table.status, minlength=256)
        status_counts[DecodeStatus.OK] -= carriers
        self.status_counts += status_counts
        if rows is not None:
            tunnel_counts = np.bincount(table.tunnel, minlength=256)
            tunnel_counts[Tunnel.NO_TUNNEL] -= carriers
            self.tunnel_counts += tunnel_counts
        self.records += len(table) - carriers
        if len(table):
            self.latest_ts = max(self.latest_ts, int(table.ts_ns.max()))


def _labels(table: PacketTable, partitions: int) -> np.ndarray | None:
    if partitions == 1:
        return None
    return packet_partitions(table, partitions)


def plan_pieces(path: str, file_index: int, start: int = 0) -> list[Piece]:
    """The pieces of one file from byte ``start`` (a record boundary of an uncompressed pcap)."""
    spans, on_their_own = plan_spans(path, PIECE_BYTES, start)
    return [Piece(path, file_index, begin, end, stream=not on_their_own) for begin, end in spans]


def _take_decoded(read: PieceRead, batch: RawBatch, engine: str, partitions: int, budgets: FirstBytes | None, decapsulate: bool) -> None:
    """Decode a batch into a read; with ``decapsulate``, its tunnels opened and their carriers
    given rows of their own (:func:`~pcapflow.decode.carriers.decode_with_carriers`), for tracking."""
    if decapsulate:
        # a piece with tunnelled records has more to come: their room is made at once
        table, rows = decode_with_carriers(batch, engine, tunnelled=read.carriers > 0)
        read.take(table, partitions, batch, budgets, rows)
    else:
        read.take(decode(batch, engine), partitions, batch, budgets)


_budgets_of_thread = threading.local()


def _thread_budgets() -> FirstBytes:
    """This thread's payload budgets, emptied for a new read. They are kept from read to read
    (a read runs in one thread, to its end): a new table per read had its memory faulted in
    anew, the larger part of what the budgets cost the kernel."""
    budgets = getattr(_budgets_of_thread, "budgets", None)
    if budgets is None:
        budgets = _budgets_of_thread.budgets = FirstBytes(compiled_signatures()[0])
    else:
        budgets.reset()
    return budgets


def read_piece(piece: Piece, engine: str, chunk_bytes: int, partitions: int, inspect_payload: bool = False,
               decapsulate: bool = False) -> PieceRead:
    """Read, decode and label one piece (not a stream), in chunks of about ``chunk_bytes``."""
    read = PieceRead(piece)
    budgets = _thread_budgets() if inspect_payload else None
    with piece.open() as capture:
        for batch in capture.batches(chunk_bytes, reuse=True):
            _take_decoded(read, batch, engine, partitions, budgets, decapsulate)
        read.report = capture.report
    read.position = piece.stop or read.report.end_offset
    return read


def decode_batch(piece: Piece, batch: RawBatch, report: FileReport, engine: str, partitions: int, position: int,
                 inspect_payload: bool = False, decapsulate: bool = False) -> PieceRead:
    """Decode and label one batch of a stream (``report``: the stream's, filled as it is read)."""
    read = PieceRead(piece, report=report, position=position)
    _take_decoded(read, batch, engine, partitions, _thread_budgets() if inspect_payload else None, decapsulate)
    return read


def fold(tracker: ConversationTracker, reads: list[tuple[PieceRead, int]], partition: int) -> None:
    """Track one partition's packets of ``reads`` ((read, records before its file), in capture order)."""
    for read, records_before in reads:
        for table, labels, early in zip(read.tables, read.labels, read.early):
            tracker.add(table, records_before, labels=labels, partition=partition, early=early)


def _result(future: Future, where: str):
    """A task's result; an unexpected failure raises as it is, with where it happened noted."""
    try:
        return future.result()
    except (PcapflowError, OSError):
        raise
    except Exception as exc:
        exc.add_note(f"pcapflow: while {where}")
        raise


#: Starts the read of a piece elsewhere (on a cluster): a future of the :class:`PieceRead` (any
#: object with the ``result()`` and ``cancel()`` of a :class:`~concurrent.futures.Future`).
RemoteRead = Callable[[Piece], Any]


class _Reads:
    """Piece reads in capture order, a few in flight ahead on the executor; guessed piece
    boundaries are checked as the reads are taken (see the module docstring). With ``remote``
    every piece, a stream as a whole, is read by it instead."""

    def __init__(self, paths: list[str], executor: Executor | None, engine: str, chunk_bytes: int, partitions: int, lookahead: int,
                 remote: RemoteRead | None = None, inspect_payload: bool = False, decapsulate: bool = False):
        self._inspect_payload, self._decapsulate = inspect_payload, decapsulate
        self._paths = iter(enumerate(paths))
        self._executor, self._engine, self._chunk_bytes, self._partitions = executor, engine, chunk_bytes, partitions
        self._remote = remote
        self._lookahead = lookahead
        self._planned: deque[Piece] = deque()
        self._flying: deque[tuple[Piece, Future]] = deque()
        self._stream: tuple[Piece, CaptureFile, Iterator[RawBatch]] | None = None

    def __iter__(self) -> Iterator[PieceRead]:
        while True:
            self._fill()
            if not self._flying:
                return
            piece, future = self._flying.popleft()
            where = f"reading {piece.path} from byte {piece.start}"
            read = _result(future, where)
            if not piece.stream and piece.stop is not None:
                self._check_boundary(piece, read.report)
            yield read

    def _fill(self) -> None:
        while len(self._flying) < self._lookahead:
            if self._stream is not None:
                self._read_stream(*self._stream)
                continue
            if not self._planned:
                step = next(self._paths, None)
                if step is None:
                    return
                self._planned.extend(plan_pieces(step[1], step[0]))
            piece = self._planned.popleft()
            if self._remote is not None:
                self._flying.append((piece, self._remote(piece)))
            elif piece.stream:
                try:
                    capture = piece.open()
                except Exception as exc:  # noqa: BLE001 - raised where its reads are taken, in order
                    self._failed(piece, exc)
                    continue
                self._stream = (piece, capture, iter(capture.batches(self._chunk_bytes)))
            else:
                assert self._executor is not None
                self._flying.append((piece, self._executor.submit(read_piece, piece, self._engine, self._chunk_bytes, self._partitions,
                                                                  self._inspect_payload, self._decapsulate)))

    def _read_stream(self, piece: Piece, capture: CaptureFile, batches: Iterator[RawBatch]) -> None:
        """The next batch of the stream being read, sent to be decoded; its end, with its report."""
        assert self._executor is not None  # a stream is read here only when reads run on the executor
        try:
            batch = next(batches, None)
        except Exception as exc:  # noqa: BLE001 - raised where the stream's reads are taken, in order
            capture.close()
            self._stream = None
            self._failed(piece, exc)
            return
        if batch is not None:
            future = self._executor.submit(decode_batch, piece, batch, capture.report, self._engine, self._partitions, capture.position,
                                           self._inspect_payload, self._decapsulate)
            self._flying.append((piece, future))
            return
        position = capture.position
        capture.close()
        self._stream = None
        done: Future = Future()
        done.set_result(PieceRead(piece, report=capture.report, position=position))
        self._flying.append((piece, done))

    def _failed(self, piece: Piece, exc: Exception) -> None:
        failed: Future = Future()
        failed.set_exception(exc)
        self._flying.append((piece, failed))

    def _check_boundary(self, piece: Piece, report: FileReport) -> None:
        """Drop the rest of the piece's file if it ended in damage; plan it again from where the
        walk really stopped if the next piece's guessed start was wrong."""
        rest = [(queued, future) for queued, future in self._flying if queued.file_index == piece.file_index]
        following = [queued for queued in self._planned if queued.file_index == piece.file_index]
        next_start = (rest[0][0] if rest else following[0] if following else None)
        if not report.damage and next_start is not None and next_start.start == report.end_offset:
            return
        if report.damage and (rest or following):
            logger.info("%s: damaged at byte %d: the %d pieces after it are not read", piece.path, report.end_offset, len(rest) + len(following))
        elif next_start is not None:
            logger.info("%s: the piece boundary guessed at byte %d is wrong (the records end at byte %d): the rest of the file is planned again from there",
                        piece.path, next_start.start, report.end_offset)
        for queued, future in rest:
            future.cancel()
            self._flying.remove((queued, future))
        for queued in following:
            self._planned.remove(queued)
        if not report.damage:
            self._planned.extendleft(reversed(plan_pieces(piece.path, piece.file_index, report.end_offset)))

    def close(self) -> None:
        if self._stream is not None:
            self._stream[1].close()
            self._stream = None
        for _, future in self._flying:
            future.cancel()


class CaptureRun:
    """One pass over the capture files on ``workers`` threads: decoded tables in capture order
    (:meth:`tables`) or conversations (:meth:`conversations`), and the report."""

    def __init__(self, paths: list[str], *, engine: str, chunk_bytes: int, workers: int,
                 progress: Progress | None = None):
        self.paths = paths
        self.engine = engine
        self.chunk_bytes = chunk_bytes
        self.workers = workers
        self.progress = progress
        self.files: list[FileReport] = []
        self.status_counts = np.zeros(256, dtype=np.int64)
        self.tunnel_counts = np.zeros(256, dtype=np.int64)
        self.capture_end = NO_TIME
        self.orphan_fragments = 0

    @property
    def report(self) -> CaptureReport:
        counts = {DecodeStatus(int(value)).name: int(self.status_counts[value]) for value in np.flatnonzero(self.status_counts)}
        tunnels = {TUNNEL_NAMES[code - 1]: int(self.tunnel_counts[code]) for code in np.flatnonzero(self.tunnel_counts[1:]) + 1}
        return CaptureReport(files=tuple(self.files), status_counts=counts, engine=self.engine, orphan_fragments=self.orphan_fragments,
                             tunnels=tunnels)

    def _reads(self, executor: Executor | None, partitions: int, remote: RemoteRead | None = None,
               inspect_payload: bool = False, decapsulate: bool = False) -> Iterator[tuple[PieceRead, int]]:
        """(read, records of the files before its file), in capture order, with record indexes
        made the records' positions in their files and the report kept up to date (the reads of
        ``remote`` hold no tables: ``first_record`` says where theirs start)."""
        sizes = [input_size(path) for path in self.paths] if self.progress else []
        total = None if None in sizes else sum(size for size in sizes if size is not None)
        done_bytes = records_before = file_records = position = 0
        current: FileReport | None = None
        file_counts = np.zeros(256, dtype=np.int64)  # of the records of the file being read, by status
        reads = _Reads(self.paths, executor, self.engine, self.chunk_bytes, partitions, LOOKAHEAD_PER_WORKER * self.workers,
                       remote, inspect_payload, decapsulate)
        try:
            for read in reads:
                piece = read.piece
                if current is not None and piece.file_index != len(self.files) - 1:  # the previous file is done
                    _finish_file(current, file_counts)
                    done_bytes += sizes[len(self.files) - 1] or position if self.progress else 0
                    records_before += current.records
                    current = None
                if current is None:
                    file_records = 0
                    file_counts[:] = 0
                if not piece.stream:  # a stream numbers its records itself, a piece from its first
                    for table in read.tables:
                        table.record_index += file_records
                read.first_record = file_records
                file_records += read.records
                current = self._account(read, current, file_records)
                file_counts += read.status_counts
                position = read.position
                if self.progress:
                    self.progress(done_bytes + position, total, records_before + file_records)
                yield read, records_before
        finally:
            reads.close()
        if current is not None:
            _finish_file(current, file_counts)

    def _account(self, read: PieceRead, current: FileReport | None, file_records: int) -> FileReport:
        """Take a read into its file's report and the capture's counts."""
        assert read.report is not None  # every read of a piece or a stream has it
        self.status_counts += read.status_counts
        self.tunnel_counts += read.tunnel_counts
        self.capture_end = max(self.capture_end, read.latest_ts)
        if current is None:
            current = read.report
            self.files.append(current)
        elif read.report is not current:  # a later piece of the file
            current.truncated_tail, current.corrupt_at, current.damage = read.report.truncated_tail, read.report.corrupt_at, read.report.damage
            current.end_offset, current.warnings = read.report.end_offset, read.report.warnings
        current.records = file_records
        return current

    def tables(self, decapsulate: bool = False) -> Iterator[PacketTable]:
        """The decoded tables of the capture, in capture order (record indexes within files);
        with ``decapsulate``, a tunnelled record's row holds its innermost packet's headers."""
        logger.info("reading %d file(s) on %d worker thread(s)", len(self.paths), self.workers)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="pcapflow") as executor:
            try:
                for read, _ in self._reads(executor, 1, decapsulate=decapsulate):
                    for table in read.tables:
                        carriers = carrier_rows(table)
                        yield table.take(np.flatnonzero(~carriers)) if carriers.any() else table
            finally:
                executor.shutdown(wait=True, cancel_futures=True)

    def conversations(self, options: AnalysisOptions) -> dict[str, np.ndarray]:
        """The conversation columns of the capture (see :mod:`pcapflow.tracking`)."""
        partitions = min(self.workers, MAX_PARTITIONS)
        trackers = [ConversationTracker(options) for _ in range(partitions)]
        logger.info("reading %d file(s) on %d worker thread(s), tracking %d partition(s)", len(self.paths), self.workers, partitions)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="pcapflow") as executor:
            try:
                folding: list[Future] = []
                batch: list[tuple[PieceRead, int]] = []
                for read in self._reads(executor, partitions, inspect_payload=options.inspect_payload, decapsulate=options.decapsulate):
                    batch.append(read)
                    if len(batch) == partitions:
                        folding = self._fold(executor, trackers, batch, folding)
                        batch = []
                self._fold(executor, trackers, [], self._fold(executor, trackers, batch, folding))
                # one partition at a time: a finishing partition holds its flow table and its
                # columns at once, the peak of memory (on 10 M packets 395 MiB instead of 441, no
                # slower: the compiled finish is short beside the faults of that memory)
                parts = [_result(executor.submit(tracker.finish, self.capture_end), f"finishing partition {index}")
                         for index, tracker in enumerate(trackers)]
            finally:
                executor.shutdown(wait=True, cancel_futures=True)
        self.orphan_fragments = sum(tracker.orphan_fragments for tracker in trackers)
        return combine(parts)

    def _fold(self, executor: Executor, trackers: list[ConversationTracker], batch: list, folding: list[Future]) -> list[Future]:
        """Wait for the folds of the reads before, then fold ``batch``, one task per partition."""
        for index, future in enumerate(folding):
            _result(future, f"tracking partition {index}")
        if not batch:
            return []
        return [executor.submit(fold, tracker, batch, index) for index, tracker in enumerate(trackers)]


def _finish_file(report: FileReport, status_counts: np.ndarray) -> None:
    """A file is read: its link types are checked, a file of which nothing decodes is warned
    about, and damage that ended it is logged."""
    _check_linktypes(report)
    _check_anything_decoded(report, status_counts)
    if report.damage:
        logger.info("%s: reading ended at byte %d after %d records: %s", report.path, report.end_offset, report.records, report.damage)


def _check_linktypes(report: FileReport) -> None:
    if report.linktypes and not SUPPORTED_LINKTYPES.intersection(report.linktypes):
        kinds = ", ".join(str(linktype) for linktype in sorted(set(report.linktypes)))
        raise UnsupportedLinkTypeError(report.path, f"no interface has a supported link type (link types: {kinds})")


def _check_anything_decoded(report: FileReport, status_counts: np.ndarray) -> None:
    """A file none of whose records decodes under its link type most likely declares the wrong
    one (an Ethernet capture labelled raw IP or Linux SLL): a warning says so, naming it, where
    the summary would only say that nothing was tracked."""
    decodable = int(status_counts.sum() - status_counts[DecodeStatus.UNSUPPORTED_LINKTYPE] - status_counts[DecodeStatus.BAD_RECORD])
    if decodable == 0 or status_counts[:TRACKED_BELOW].any():
        return
    kinds = sorted(SUPPORTED_LINKTYPES.intersection(report.linktypes))
    named = ", ".join(f"{LINKTYPE_NAMES[linktype]} ({linktype})" for linktype in kinds)
    found = ", ".join(f"{DecodeStatus(int(status)).name} {int(status_counts[status]):,}" for status in np.flatnonzero(status_counts))
    report.warnings.append(f"none of its {decodable:,} records decodes as IP under its link type{'s' if len(kinds) > 1 else ''} {named} "
                           f"({found}): is that what the packets were captured on?")
