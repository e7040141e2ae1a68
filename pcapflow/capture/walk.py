"""The chunked read loop shared by the pcap and pcapng walkers.

A file is read ``chunk_bytes`` at a time. The walker of its format finds the complete records in
the bytes held so far and returns them as a :class:`RawBatch`; the bytes of a record that is not
complete yet are carried over to the next chunk. Memory is therefore bounded by the chunk size
plus the largest record the walkers accept, whatever the file size.
"""

from __future__ import annotations

import contextlib
import enum
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pcapflow._kernels.constants import Limit
from pcapflow.capture.batch import PAD, FileReport, RawBatch
from pcapflow.capture.compression import DecompressionError
from pcapflow.capture.source import OpenedCapture
from pcapflow.errors import CaptureError
from pcapflow.options import DEFAULT_CHUNK_BYTES

#: Largest packet record of the link types pcapflow decodes, whatever a file's snaplen says
#: (Wireshark's bound, 256 KiB).
MAX_RECORD_BYTES = int(Limit.MAX_RECORD_BYTES)

#: Bytes read at a time past the end of a piece, to complete the record that crosses it.
PIECE_TAIL_BYTES = 64 << 10
#: How far ahead of the chunk being read the kernel is asked to read the file.
PREFETCH_BYTES = 32 << 20

class WalkState(enum.Enum):
    NEED_MORE = "need more bytes"  # the held bytes end inside a record (or exactly at its end)
    TRUNCATED = "truncated"  # end of file inside a record
    CORRUPT = "corrupt"  # a record or block length makes no sense: stop reading
    LIMIT = "end of piece"  # the next record starts where the next piece of the file begins


@dataclass(slots=True)
class Walk:
    """What one walk over the held bytes found."""

    batches: list[RawBatch]
    consumed: int  # bytes of the held buffer that are done with
    state: WalkState
    damage: str | None = None


@dataclass(slots=True)
class BatchColumns:
    """Per-record columns a walker gathered, before they are tied to their buffer."""

    data_offset: np.ndarray
    caplen: np.ndarray
    wirelen: np.ndarray
    ts_ns: np.ndarray
    linktype: np.ndarray
    bad_record: np.ndarray

    def to_batch(self, buffer: np.ndarray, first_record: int, file_index: int) -> RawBatch:
        return RawBatch(
            buffer=buffer,
            data_offset=self.data_offset,
            caplen=self.caplen,
            wirelen=self.wirelen,
            ts_ns=self.ts_ns,
            linktype=self.linktype,
            bad_record=self.bad_record,
            record_index=np.arange(first_record, first_record + len(self.data_offset), dtype=np.int64),
            file_index=file_index,
        )


class Walker(Protocol):
    @property
    def records(self) -> int: ...
    @property
    def linktypes(self) -> list[int]: ...
    @property
    def skipped_blocks(self) -> int: ...
    @property
    def warnings(self) -> list[str]: ...

    def walk(self, buf: bytearray, end: int, file_offset: int, at_eof: bool) -> Walk: ...


#: Each thread's read buffer, for readers that let go of a chunk's bytes before the next read.
_scratch = threading.local()


def _buffer(size: int, reuse: bool) -> bytearray:
    if not reuse:
        return bytearray(size)
    buffer = getattr(_scratch, "buffer", None)
    if buffer is None or len(buffer) < size:
        buffer = _scratch.buffer = bytearray(size)
    return buffer


def _read_chunk(opened: OpenedCapture, held: bytes | bytearray, size: int, position: int, reuse: bool) -> tuple[bytearray, int, str | None]:
    """A buffer holding ``held``, then up to ``size`` bytes of the stream.

    A fresh buffer ends in zero padding; with ``reuse``, the thread's own buffer is filled again
    (cheaper, and the bytes stay in the processor's cache; the batches of the previous chunk
    must be done with). Returns the buffer, the number of stream bytes in it, and what went
    wrong if the (decompressed) stream broke off. ``readinto1`` takes what one step of
    decompression gives, so data decompressed before a corrupt or missing part of a compressed
    file is kept rather than lost with the exception.
    """
    buf = _buffer(len(held) + size + PAD, reuse)
    buf[: len(held)] = held
    space = memoryview(buf)[len(held) : len(held) + size]
    got = 0
    try:
        while got < size:
            count = opened.stream.readinto1(space[got:])
            if not count:
                break
            got += count
    except DecompressionError as exc:
        return buf, got, f"{opened.compression} data is corrupt or cut short after byte {position + got}: {exc}"
    finally:
        space.release()
        if not reuse:
            del buf[len(held) + got + PAD :]  # a short last read: the padding stays zeros
    return buf, got, None


def _prefetch(raw, offset: int, size: int) -> None:
    """Ask the kernel to start reading the file ahead now, while what was read is worked on:
    without it a file that is not cached is read only when asked for, and the disk waits while
    we compute (the kernel's own read-ahead is a fraction of a chunk)."""
    if size and hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):  # advice only: a file system may not take it
            os.posix_fadvise(raw.fileno(), offset, size, os.POSIX_FADV_WILLNEED)


def walk_file(
    opened: OpenedCapture, walker: Walker, report: FileReport, chunk_bytes: int = DEFAULT_CHUNK_BYTES, start: int = 0,
    reuse: bool = False,
) -> Iterator[RawBatch]:
    """Yield the records of one opened capture in batches, filling ``report`` as it goes.

    ``start`` > 0 reads a piece of the file: the stream is positioned there and the walker knows
    the file header already. ``report.end_offset`` is where reading stopped. With ``reuse``,
    every batch shares the thread's read buffer: a batch is valid until the next is asked for.
    """
    held: bytes | bytearray = opened.head if start == 0 else b""  # bytes not consumed yet; opened.stream continues after them
    file_offset = start  # offset in the (decompressed) file of held[0]
    at_eof = False
    stop = getattr(walker, "stop_at", None)
    # a buffer no larger than what is left: small files then cost a small buffer, not a chunk
    file_size = opened.file_size
    advised = 0  # the file is asked for ahead up to here
    while True:
        size = 0 if at_eof else chunk_bytes
        if stop is not None:  # read no further than the piece's last record needs
            size = min(size, max(stop - file_offset - len(held), PIECE_TAIL_BYTES))
        if file_size is not None:
            position = opened.raw.tell()
            size = min(size, max(file_size - position, 0))
            if position + 2 * size > advised:  # a window of several chunks at a time: one call, not one per chunk
                ahead = max(PREFETCH_BYTES, 2 * size)
                _prefetch(opened.raw, max(position + size, advised), position + size + ahead - max(position + size, advised))
                advised = position + size + ahead
        buf, got, stream_damage = _read_chunk(opened, held, size, file_offset + len(held), reuse)
        at_eof = at_eof or not got or stream_damage is not None
        end = len(held) + got
        walk = walker.walk(buf, end, file_offset, at_eof)
        report.records = walker.records
        report.linktypes = list(walker.linktypes)
        report.skipped_blocks = walker.skipped_blocks
        report.warnings = list(walker.warnings) + opened.warnings
        yield from walk.batches
        held = buf[walk.consumed : end]
        file_offset += walk.consumed
        report.end_offset = file_offset
        if walk.state is WalkState.LIMIT:
            break
        if walk.state is WalkState.CORRUPT:
            report.corrupt_at = file_offset
            report.damage = walk.damage
            break
        if walk.state is WalkState.TRUNCATED or (at_eof and stream_damage):
            report.truncated_tail = True
            report.damage = stream_damage or walk.damage
            break
        if at_eof:
            break
    if start == 0 and report.records == 0 and report.damage:
        raise CaptureError(opened.path, f"no readable record: {report.damage}", file_offset)
