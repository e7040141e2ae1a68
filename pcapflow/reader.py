"""Reading several capture files as one capture: capture reading and decoding, batch by batch.

:class:`PacketReader` is the stream every later stage consumes: iterate it for
:class:`~pcapflow.decode.PacketTable` batches in capture order (files in the order given,
records in file order); its :attr:`~PacketReader.report` is complete once iteration ends.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import pickle
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from pcapflow.capture import DEFAULT_CHUNK_BYTES, CaptureFile, FileReport, open_capture
from pcapflow.capture.pieces import find_record_start
from pcapflow.decode import SUPPORTED_LINKTYPES, DecodeStatus, PacketTable, decode
from pcapflow.errors import OptionsError, UnsupportedLinkTypeError
from pcapflow.options import AnalysisOptions
from pcapflow.report import CaptureReport

PathLike = str | os.PathLike[str]

#: Classic pcap files this large are read as two pieces at once (below: the start-up is not worth
#: it; above: the second piece's decoded tables would be held in memory at once).
PARALLEL_MIN_BYTES = 64 << 20
PARALLEL_MAX_BYTES = 1 << 30
#: Share of the file the parent reads itself: it also tracks every packet, so the worker takes more.
FIRST_PIECE_SHARE = 0.4


def as_paths(paths: PathLike | Iterable[PathLike]) -> list[str]:
    """One path or many, as a list of strings."""
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    return [os.fspath(path) for path in paths]


class PacketReader:
    """Decoded packet batches of one or more capture files, read as one capture."""

    def __init__(
        self,
        paths: PathLike | Iterable[PathLike],
        *,
        engine: str = "fast",
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        progress: Callable[[int, int], None] | None = None,
        workers: int = 2,
    ):
        AnalysisOptions(engine=engine, chunk_bytes=chunk_bytes, workers=workers)  # validates them
        self.paths = as_paths(paths)
        if len(self.paths) > np.iinfo(np.uint16).max:
            raise OptionsError(f"at most {np.iinfo(np.uint16).max} files can be read together")
        self.engine = engine
        self.chunk_bytes = chunk_bytes
        self.progress = progress
        self.workers = workers
        self._files: list[FileReport] = []
        self._statuses: Counter[int] = Counter()

    def __iter__(self) -> Iterator[PacketTable]:
        self._files.clear()
        self._statuses.clear()
        total = sum(os.path.getsize(path) for path in self.paths) if self.progress else 0
        done = 0
        for index, path in enumerate(self.paths):
            for table, position in self._tables_of(path, index):
                counts = np.bincount(table.status, minlength=256)
                self._statuses.update({value: int(counts[value]) for value in np.flatnonzero(counts).tolist()})
                if self.progress:
                    self.progress(done + position, total)
                yield table
            done += os.path.getsize(path) if self.progress else 0

    def _tables_of(self, path: str, index: int, pieces: bool = True) -> Iterator[tuple[PacketTable, int]]:
        """(decoded batch, file position) of one file in record order; two pieces at once when it pays."""
        boundary = self._piece_boundary(path) if pieces else None
        if boundary is None:
            with open_capture(path, index) as capture:
                self._files.append(capture.report)
                for batch in capture.batches(self.chunk_bytes):
                    yield decode(batch, self.engine), capture.position
            _check_linktypes(capture.report)
            return
        try:
            later = _PieceReader(path, index, boundary, self.engine, self.chunk_bytes)
        except OSError:  # no place for the worker's file: read the file in one go
            yield from self._tables_of(path, index, pieces=False)
            return
        with later:
            with CaptureFile(path, index, piece=(0, boundary)) as capture:
                report = capture.report
                self._files.append(report)
                for batch in capture.batches(self.chunk_bytes):
                    yield decode(batch, self.engine), capture.position
            if report.damage:  # reading stops at damage: what comes after it is not read
                _check_linktypes(report)
                return
            # the guessed boundary holds only if the walk of the first piece stopped exactly there
            tables, rest = later.result() if report.end_offset == boundary else _read_piece(
                path, index, report.end_offset, self.engine, self.chunk_bytes
            )
        for table in tables:
            table.record_index += report.records
            yield table, rest.end_offset
        report.records += rest.records
        report.truncated_tail, report.corrupt_at, report.damage = rest.truncated_tail, rest.corrupt_at, rest.damage
        report.end_offset = rest.end_offset
        _check_linktypes(report)

    def _piece_boundary(self, path: str) -> int | None:
        """Where a second process can start reading ``path``, if the file is worth cutting.

        The second process is forked (cheap: nothing is imported again); a process with threads,
        or a platform without fork, reads in one process instead.
        """
        if self.workers < 2 or not PARALLEL_MIN_BYTES <= os.path.getsize(path) <= PARALLEL_MAX_BYTES:
            return None
        if threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods():
            return None
        try:
            with CaptureFile(path, piece=(0, None)) as capture:
                return find_record_start(path, int(os.path.getsize(path) * FIRST_PIECE_SHARE), capture.walker)
        except ValueError:  # pcapng or compressed: read in one go
            return None

    @property
    def report(self) -> CaptureReport:
        counts = {DecodeStatus(value).name: count for value, count in sorted(self._statuses.items())}
        return CaptureReport(files=tuple(self._files), status_counts=counts, engine=self.engine)


#: Where a worker leaves its decoded tables for the parent: memory-backed where there is /dev/shm.
SPILL_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else None


class _PieceReader:
    """Reads a piece in a forked process; its result is taken only when asked for.

    The child pickles its tables with their arrays out of band (pickle protocol 5) into a file in
    memory; the parent maps that file copy-on-write instead of copying 50 MB through a pipe, and
    only when its own piece is done, so that taking the result does not slow its own work. The
    file is removed when the reader closes (its mapping lives on with the tables).
    """

    def __init__(self, path: str, index: int, start: int, engine: str, chunk_bytes: int):
        context = multiprocessing.get_context("fork")
        # the parent names the file, so that it can remove it whatever happens to the child
        handle, self._spill = tempfile.mkstemp(dir=SPILL_DIR, prefix="pcapflow-")
        os.close(handle)
        self._piece = (path, index, start, engine, chunk_bytes)
        self._receiver, sender = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_send_piece, args=(sender, self._spill, path, index, start, engine, chunk_bytes), daemon=True
        )
        self._process.start()
        sender.close()

    def result(self) -> tuple[list[PacketTable], FileReport]:
        try:
            message = self._receiver.recv()
        except EOFError:  # the worker died (killed, out of memory): read the piece here instead
            return _read_piece(*self._piece)
        if isinstance(message, BaseException):
            raise message
        how, *content = message
        if how == "whole":  # the worker could not write its file
            return content[0]
        head, sizes = content
        with open(self._spill, "rb") as spill:
            mapped = mmap.mmap(spill.fileno(), 0, access=mmap.ACCESS_COPY) if sum(sizes) else bytearray()
        view, offset, buffers = memoryview(mapped), 0, []
        for size in sizes:
            buffers.append(view[offset : offset + size])
            offset += size
        return pickle.loads(head, buffers=buffers)

    def __enter__(self) -> _PieceReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process.is_alive():  # the piece was not needed after all
            self._process.terminate()
        self._process.join()
        self._receiver.close()
        os.unlink(self._spill)  # a mapping of it stays valid


def _send_piece(sender, spill: str, path: str, index: int, start: int, engine: str, chunk_bytes: int) -> None:
    try:
        outcome = _read_piece(path, index, start, engine, chunk_bytes)
    except Exception as exc:  # handed to the parent, which raises it where the piece is used
        sender.send(exc)
        return
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(outcome, protocol=5, buffer_callback=buffers.append)
    try:
        sizes = _spill(spill, buffers)
    except OSError:  # no room in memory-backed storage (a container's small /dev/shm): send it whole
        sender.send(("whole", outcome))
        return
    sender.send(("file", head, sizes))


def _spill(path: str, buffers: list[pickle.PickleBuffer]) -> list[int]:
    """Write out-of-band pickle buffers one after the other; return their sizes."""
    sizes = []
    with open(path, "wb") as file:
        for buffer in buffers:
            raw = buffer.raw()
            file.write(raw)
            sizes.append(raw.nbytes)
    return sizes


def _read_piece(path: str, index: int, start: int, engine: str, chunk_bytes: int) -> tuple[list[PacketTable], FileReport]:
    """Decode the records of ``path`` from the record boundary ``start`` to the end."""
    with CaptureFile(path, index, piece=(start, None)) as capture:
        tables = [decode(batch, engine) for batch in capture.batches(chunk_bytes)]
    return tables, capture.report


def _check_linktypes(report: FileReport) -> None:
    if report.linktypes and not SUPPORTED_LINKTYPES.intersection(report.linktypes):
        kinds = ", ".join(str(linktype) for linktype in sorted(set(report.linktypes)))
        raise UnsupportedLinkTypeError(report.path, f"no interface has a supported link type (link types: {kinds})")
