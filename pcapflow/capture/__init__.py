"""Capture reading: files in, :class:`RawBatch` records out.

Contract
--------
``open_capture(path)`` sniffs the file (never trusting its suffix; ``-`` is standard input, and a
FIFO is read as the pipe it is: once, in order), undoes gzip/bzip2/xz/zstd/lz4 compression, and
returns a :class:`CaptureFile` whose ``batches()`` yields :class:`RawBatch` objects of at most
about ``chunk_bytes`` of file data each, in file order. Its ``report``
(:class:`FileReport`) is filled in as the batches are read: format, compression, link types
of the interfaces, records read, and how the file ended (``truncated_tail``, ``corrupt_at``,
``damage``, and ``warnings``, such as bytes after the compressed data that were ignored).

What raises: a file that is unusable as a whole (empty, not a capture, header cut short, an
unsupported format version, no readable record before the damage) raises
:class:`~pcapflow.errors.CaptureError` naming the file, the problem and the byte offset.
``OSError`` (missing file, permissions) propagates unchanged. Damage after at least one good
record never raises: the good records are yielded and the report says what happened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from pcapflow.capture.batch import PAD, FileReport, RawBatch
from pcapflow.capture.pcap import FILE_HEADER_BYTES, PcapWalker
from pcapflow.capture.pcapng import PcapngWalker
from pcapflow.capture.source import open_capture_stream, read_exactly
from pcapflow.capture.walk import walk_file
from pcapflow.options import DEFAULT_CHUNK_BYTES

__all__ = ["PAD", "CaptureFile", "FileReport", "RawBatch", "open_capture"]


class CaptureFile:
    """One opened capture file; use as a context manager or call :meth:`close`.

    ``piece=(start, stop)`` reads only the records of an uncompressed classic pcap that start in
    ``[start, stop)`` (``stop`` None: to the end); ``start`` must be a record boundary, or 0 for
    the first piece (which reads the file header as a whole read does, and fails as it fails).
    Record indexes count from the piece's first record.
    """

    def __init__(self, path: str | os.PathLike[str], file_index: int = 0, piece: tuple[int, int | None] | None = None):
        self._opened = open_capture_stream(path)
        self.report = FileReport(self._opened.path, self._opened.format, self._opened.compression)
        self._walker: PcapWalker | PcapngWalker
        if self._opened.format == "pcapng":
            self._walker = PcapngWalker(self._opened.path, file_index)
        else:
            self._walker = PcapWalker(self._opened.path, file_index)
        self._start = 0
        if piece is not None:
            self._start_piece(*piece)

    def _start_piece(self, start: int, stop: int | None) -> None:
        if not isinstance(self._walker, PcapWalker) or self._opened.compression:
            raise ValueError("only an uncompressed classic pcap can be read in pieces")
        self._walker.stop_at = stop
        if start == 0:
            return
        self._walker.read_file_header(self._opened.head + read_exactly(self._opened.stream, FILE_HEADER_BYTES - len(self._opened.head)))
        self._start = max(start, FILE_HEADER_BYTES)
        self._opened.raw.seek(self._start)

    @property
    def walker(self) -> PcapWalker | PcapngWalker:
        return self._walker

    def batches(self, chunk_bytes: int = DEFAULT_CHUNK_BYTES, reuse: bool = False) -> Iterator[RawBatch]:
        """The records in batches of about ``chunk_bytes`` of file; with ``reuse``, each batch
        is valid only until the next is asked for (they share one buffer per thread)."""
        return walk_file(self._opened, self._walker, self.report, chunk_bytes, self._start, reuse)

    @property
    def position(self) -> int:
        """Bytes of the file (compressed, if it is) read so far."""
        return self._opened.position

    def close(self) -> None:
        self._opened.close()

    def __enter__(self) -> CaptureFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_capture(path: str | os.PathLike[str], file_index: int = 0) -> CaptureFile:
    """Open a pcap or pcapng file (optionally compressed); see the module docstring."""
    return CaptureFile(path, file_index)
