"""pcapng files: sections, interfaces and packet blocks.

Every section has its own byte order (read from its Section Header Block) and its own list of
interfaces; each Interface Description Block gives a link type, a snaplen and optionally
``if_tsresol`` (decimal or power-of-two) and ``if_tsoffset``. Packets come in Enhanced Packet
Blocks, Simple Packet Blocks (interface 0, no timestamp: they take the timestamp of the packet
before them) and obsolete Packet Blocks. Blocks of any other type are skipped and counted. The
block walk is the compiled :class:`~pcapflow._kernels.pcapng.PcapngWalker`.

A block length that is not a multiple of 4, shorter than a block header or longer than 16 MiB,
and a packet longer than its link type allows (256 KiB for most, as Wireshark judges it), stop
the walk as corruption; a packet block whose captured length exceeds its own block is kept,
clipped to the block, and flagged ``bad_record``. A timestamp option that cannot be honoured
(a unit finer than 2**-63 or 10**-19 s, an offset beyond the nanosecond clock's range) is not
applied and is reported in the file's warnings, as are timestamps beyond 2**62 ns either side
of 1970, which are clamped there.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pcapflow._kernels.pcapng import PcapngWalker as _BlockWalker
from pcapflow._kernels.walk import TIMESTAMP_LIMIT_NS, WalkStop
from pcapflow.capture.batch import RawBatch
from pcapflow.capture.walk import BatchColumns, Walk, WalkState

_CORRUPTION: dict[int, Callable[[int, int], str]] = {
    WalkStop.WALK_BAD_BYTE_ORDER: lambda kind, value: "section header with a bad byte-order magic",
    WalkStop.WALK_BAD_LENGTH: lambda kind, value: f"block of type {kind:#x} has an impossible length {value}",
    WalkStop.WALK_LENGTHS_DIFFER: lambda kind, value: f"block of type {kind:#x}: leading and trailing lengths differ",
    WalkStop.WALK_BAD_VERSION: lambda kind, value: f"unsupported pcapng version {value}",
    WalkStop.WALK_PACKET_TOO_LONG: lambda kind, value: (
        f"packet block of type {kind:#x} claims {value} bytes of packet data, more than its link type's maximum"
    ),
}


class PcapngWalker:
    """Walks the blocks of one pcapng file, one buffer of file bytes at a time."""

    def __init__(self, path: str, file_index: int):
        self.path = path
        self.file_index = file_index
        self._blocks = _BlockWalker()

    @property
    def records(self) -> int:
        return self._blocks.records

    @property
    def skipped_blocks(self) -> int:
        return self._blocks.skipped_blocks

    @property
    def linktypes(self) -> list[int]:
        return self._blocks.linktypes

    @property
    def warnings(self) -> list[str]:
        """What could not be honoured, for a person: timestamp options, timestamps out of range."""
        notes = [f"interface {interface}: {_describe(option, value)}" for interface, option, value in self._blocks.ignored_options]
        if self._blocks.timestamps_out_of_range:
            notes.append(
                f"{self._blocks.timestamps_out_of_range:,} packet timestamps lie beyond {TIMESTAMP_LIMIT_NS:,} ns "
                "either side of 1970 and were clamped there"
            )
        return notes

    def walk(self, buf: bytearray, end: int, file_offset: int, at_eof: bool) -> Walk:
        data = np.frombuffer(buf, dtype=np.uint8)
        columns, pos, reason, (kind, value) = self._blocks.walk(data, 0, end)
        batches = [self._batch(data, columns)] if len(columns[0]) else []
        if reason in _CORRUPTION:
            damage = f"{_CORRUPTION[reason](kind, value)} (block at byte {file_offset + pos})"
            return Walk(batches, pos, WalkState.CORRUPT, damage)
        if at_eof and pos < end:
            damage = f"file ends inside the block at byte {file_offset + pos} ({end - pos} bytes present)"
            return Walk(batches, pos, WalkState.TRUNCATED, damage)
        return Walk(batches, pos, WalkState.NEED_MORE)

    def _batch(self, data: np.ndarray, columns) -> RawBatch:
        offsets, caplen, wirelen, ts_ns, linktype, bad_record = columns
        first = self.records - len(offsets)
        return BatchColumns(
            data_offset=offsets, caplen=caplen, wirelen=wirelen, ts_ns=ts_ns, linktype=linktype, bad_record=bad_record
        ).to_batch(data, first, self.file_index)


def _describe(option: str, value: int) -> str:
    if option == "if_tsresol":
        base = 2 if value & 0x80 else 10
        return (
            f"if_tsresol {value} (a unit of {base}**-{value & 0x7F} s) cannot be honoured: "
            "its timestamps are read in microseconds"
        )
    return f"if_tsoffset {value} s is beyond the range of nanosecond timestamps: it is not added"
