"""Cutting a large classic pcap into pieces that can be read at the same time.

A pcap has no index: where a record starts is only known by walking every record before it.
:func:`find_record_start` therefore *guesses* a record boundary near a byte offset, by looking for
a run of consecutive record headers that all make sense (plausible lengths and timestamps, each
header exactly where the previous record ends). The guess is then *verified* by whoever walks the
piece before it: that walk must stop exactly at the guessed offset. If it does not, the guess is
thrown away and the file is read on sequentially, so pieces never change the result.
"""

from __future__ import annotations

import os
import struct

from pcapflow.capture.pcap import FILE_HEADER_BYTES, RECORD_HEADER_BYTES, PcapWalker
from pcapflow.capture.walk import MAX_RECORD_BYTES

#: Consecutive plausible record headers needed before a guessed boundary is used.
CONFIRMING_RECORDS = 16
#: How far after the target offset a boundary is looked for.
SEARCH_BYTES = 4 << 20
#: How far from the first record's timestamp a plausible one may be (ten years).
TIME_SPAN_S = 10 * 365 * 86400


def find_record_start(path: str | os.PathLike, target: int, walker: PcapWalker) -> int | None:
    """A likely record boundary at or after ``target`` (None if no plausible one is near).

    ``walker`` has read the file header (byte order, resolution, snaplen).
    """
    header = struct.Struct(walker.order + "IIII")
    fraction_limit = 1_000_000 if walker.ns_per_fraction == 1000 else 1_000_000_000
    with open(path, "rb") as file:
        file.seek(FILE_HEADER_BYTES)
        first = file.read(RECORD_HEADER_BYTES)
        if len(first) < RECORD_HEADER_BYTES:
            return None
        first_seconds = header.unpack(first)[0]
        file.seek(target)
        data = file.read(SEARCH_BYTES + CONFIRMING_RECORDS * (RECORD_HEADER_BYTES + MAX_RECORD_BYTES))

    def plausible_run(position: int) -> bool:
        for _ in range(CONFIRMING_RECORDS):
            if position + RECORD_HEADER_BYTES > len(data):
                return False
            seconds, fraction, caplen, wirelen = header.unpack_from(data, position)
            if not (
                abs(seconds - first_seconds) <= TIME_SPAN_S
                and fraction < fraction_limit
                and caplen <= walker.max_caplen
                and caplen <= wirelen <= MAX_RECORD_BYTES
            ):
                return False
            position += RECORD_HEADER_BYTES + caplen
        return True

    for offset in range(min(SEARCH_BYTES, len(data))):
        if plausible_run(offset):
            return target + offset
    return None
