"""Cutting a large classic pcap into pieces that can be read at the same time.

A pcap has no index: where a record starts is only known by walking every record before it.
:func:`find_record_start` therefore *guesses* a record boundary near a byte offset, by looking for
a run of consecutive record headers that all make sense (plausible lengths and timestamps, each
header exactly where the previous record ends). The guess is then *verified* by whoever walks the
piece before it: that walk must stop exactly at the guessed offset. If it does not, the guess is
thrown away and the file is read on sequentially, so pieces never change the result.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from pcapflow._kernels.walk import find_pcap_boundary
from pcapflow.capture.pcap import FILE_HEADER_BYTES, RECORD_HEADER_BYTES, PcapWalker
from pcapflow.capture.source import input_size, is_stream_input, open_input
from pcapflow.capture.walk import MAX_RECORD_BYTES
from pcapflow.errors import PcapflowError

#: Consecutive plausible record headers needed before a guessed boundary is used.
CONFIRMING_RECORDS = 16
#: How far after the target offset a boundary is looked for.
SEARCH_BYTES = 4 << 20
#: Bytes read at a time while looking (a boundary is usually within the first few hundred).
WINDOW_BYTES = 64 << 10
#: How far from the first record's timestamp a plausible one may be (ten years).
TIME_SPAN_S = 10 * 365 * 86400

logger = logging.getLogger(__name__)


def find_record_start(path: str | os.PathLike, target: int, walker: PcapWalker) -> int | None:
    """A likely record boundary at or after ``target`` (None if no plausible one is near).

    ``walker`` has read the file header (byte order, resolution, snaplen). The scan itself is
    the compiled :func:`~pcapflow._kernels.walk.find_pcap_boundary`.
    """
    fraction_limit = 1_000_000 if walker.ns_per_fraction == 1000 else 1_000_000_000
    big_endian = walker.order == ">"
    with open_input(os.fspath(path)) as file:
        file.seek(FILE_HEADER_BYTES)
        first = file.read(RECORD_HEADER_BYTES)
        if len(first) < RECORD_HEADER_BYTES:
            return None
        first_seconds = int.from_bytes(first[:4], "big" if big_endian else "little")
        file.seek(target)
        data = bytearray()
        at_eof, offset = False, 0
        while offset < SEARCH_BYTES:
            more = file.read(WINDOW_BYTES)
            at_eof = len(more) < WINDOW_BYTES
            data += more
            offset, found = find_pcap_boundary(
                np.frombuffer(data, dtype=np.uint8), offset, len(data), at_eof, big_endian, first_seconds, TIME_SPAN_S,
                fraction_limit, walker.max_caplen, MAX_RECORD_BYTES, CONFIRMING_RECORDS,
            )
            if found:
                return target + offset
            if offset < 0:
                return None
    return None


def plan_spans(path: str | os.PathLike, piece_bytes: int, start: int = 0) -> tuple[list[tuple[int, int | None]], bool]:
    """How to read ``path`` from byte ``start`` (0, or a record boundary of an uncompressed
    classic pcap) in pieces: ``(start, stop)`` byte spans (stop None: to the end) and whether
    each may be read on its own, being an uncompressed file's byte range of about ``piece_bytes``
    at most (else the file is read as one stream, in order).

    An uncompressed classic pcap larger than ``piece_bytes`` is cut at likely record boundaries
    about every ``piece_bytes``; any other file is one span. Standard input and a FIFO are one
    span read in order, planned without opening them (they can be read only once). A file that
    cannot be opened or sniffed is one span too: reading it raises what it raises, where a read
    in order would.
    """
    from pcapflow.capture import CaptureFile

    whole: list[tuple[int, int | None]] = [(start, None)]
    if is_stream_input(path):
        logger.info("%s: standard input or a pipe, read as one stream", path)
        return whole, False
    try:
        size = input_size(path) or 0
        with CaptureFile(path) as capture:
            kind = capture.report
        if kind.compression:
            logger.info("%s: %s-compressed %s, read as one stream", path, kind.compression, kind.format)
            return whole, False
        if kind.format != "pcap" or size - start <= piece_bytes:
            on_their_own = kind.format == "pcap" or size <= piece_bytes
            logger.debug("%s: %s of %d bytes from byte %d, read as one %s", path, kind.format, size, start, "piece" if on_their_own else "stream")
            return whole, on_their_own
        with CaptureFile(path, piece=(FILE_HEADER_BYTES, None)) as capture:
            walker = capture.walker
        assert isinstance(walker, PcapWalker)  # an uncompressed classic pcap
    except (PcapflowError, OSError):
        return whole, False
    starts: list[int] = []
    for target in range(start + piece_bytes, size - piece_bytes // 4, piece_bytes):
        if starts and target <= starts[-1]:
            continue
        boundary = find_record_start(path, target, walker)
        if boundary is None:
            break
        starts.append(boundary)
    if not starts:
        logger.info("%s: no record boundary found after byte %d: read as one piece", path, start + piece_bytes)
    else:
        logger.info("%s: from byte %d, cut into %d pieces of about %d bytes", path, start, len(starts) + 1, piece_bytes)
    return list(zip([start, *starts], [*starts, None])), True
