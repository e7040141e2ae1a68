"""Classic libpcap files: the 24-byte file header and the record walk.

All four magics are read (micro- or nanosecond timestamps, either byte order). A record whose
length exceeds any sane bound (``caplen`` above both the snaplen and 256 KiB, as Wireshark
judges it) stops the walk: it and everything after it are reported as corrupt, never
allocated. A record cut short by the end of the file is reported as a truncated tail.
"""

from __future__ import annotations

import array
import struct

import numpy as np

from pcapflow.byteviews import ByteViews
from pcapflow.capture.batch import RawBatch
from pcapflow.capture.source import PCAP_MAGICS
from pcapflow.capture.walk import MAX_RECORD_BYTES, BatchColumns, Walk, WalkState
from pcapflow.errors import CaptureError

FILE_HEADER_BYTES = 24
RECORD_HEADER_BYTES = 16


class PcapWalker:
    """Walks the records of one classic pcap file, one buffer of file bytes at a time."""

    def __init__(self, path: str, file_index: int):
        self.path = path
        self.file_index = file_index
        self.order = "<"
        self.ns_per_fraction = 1000
        self.linktype = 0
        self.max_caplen = MAX_RECORD_BYTES
        self.records = 0
        self.skipped_blocks = 0
        self.stop_at: int | None = None  # file offset: records starting there or later belong to the next piece
        self._header_read = False
        self._caplen_of = struct.Struct("<8xI").unpack_from  # the caplen field of the record header at an offset

    @property
    def linktypes(self) -> list[int]:
        return [self.linktype]

    def read_file_header(self, buf: bytes | bytearray) -> None:
        """Take byte order, resolution, link type and snaplen from the 24-byte file header."""
        magic = bytes(buf[:4])
        self.order, self.ns_per_fraction = PCAP_MAGICS[magic]
        major, minor, _zone, _sigfigs, snaplen, network = struct.unpack_from(self.order + "HHiIII", buf, 4)
        if major != 2:
            raise CaptureError(self.path, f"unsupported pcap version {major}.{minor}", 4)
        # The upper 16 bits of the link-type field carry FCS information, not the link type.
        self.linktype = network & 0xFFFF
        self.max_caplen = max(snaplen, MAX_RECORD_BYTES)
        self._caplen_of = struct.Struct(self.order + "8xI").unpack_from
        self._header_read = True

    def walk(self, buf: bytearray, end: int, file_offset: int, at_eof: bool) -> Walk:
        pos = 0
        if not self._header_read:
            if end < FILE_HEADER_BYTES:
                if at_eof:
                    raise CaptureError(self.path, f"pcap file header cut short ({end} of 24 bytes)", 0)
                return Walk([], 0, WalkState.NEED_MORE)
            self.read_file_header(buf)
            pos = FILE_HEADER_BYTES

        starts, caplen, stop, state, damage = self._walk_records(buf, pos, end, file_offset, at_eof)
        batches = [self._batch(buf, starts, caplen)] if len(starts) else []
        return Walk(batches, stop, state, damage)

    def _walk_records(self, buf: bytearray, pos: int, end: int, file_offset: int, at_eof: bool):
        """Find the complete, sane records in ``buf[pos:end]``: their starts and caplens.

        The record chain is sequential by nature, so a loop finds where records start; it does
        nothing else (no bounds checks: it runs on into the zero padding and stops when a length
        leads out of the buffer), and the checks are then made on all records at once.
        """
        chain = array.array("q", (pos,))
        append = chain.append
        caplen_of = self._caplen_of
        try:
            while True:
                (caplen,) = caplen_of(buf, pos)
                pos += RECORD_HEADER_BYTES + caplen
                append(pos)
        except struct.error:
            pass
        chain = np.frombuffer(chain, dtype=np.int64)
        # a record is complete when the record after it starts at or before the end of the data
        complete = int(np.searchsorted(chain[1:], end, side="right"))
        caplen = np.diff(chain[: complete + 1]) - RECORD_HEADER_BYTES
        oversized = np.flatnonzero(caplen > self.max_caplen)
        if len(oversized):
            complete = int(oversized[0])
        state = WalkState.NEED_MORE
        if self.stop_at is not None and chain[complete] >= self.stop_at - file_offset:
            complete = int(np.searchsorted(chain[:complete], self.stop_at - file_offset, side="left"))
            state = WalkState.LIMIT
        starts, caplen = chain[:complete], caplen[:complete].astype(np.uint32)
        stop = int(chain[complete])  # where the first record not returned starts
        if state is WalkState.LIMIT:
            return starts, caplen, stop, state, None
        if stop + RECORD_HEADER_BYTES <= end:
            (claimed,) = caplen_of(buf, stop)
            if claimed > self.max_caplen:
                damage = (
                    f"record at byte {file_offset + stop} claims {claimed} bytes of packet data, "
                    f"more than the {self.max_caplen}-byte maximum"
                )
                return starts, caplen, stop, WalkState.CORRUPT, damage
        else:
            claimed = None
        if at_eof and stop < end:
            needed = "" if claimed is None else f" of {RECORD_HEADER_BYTES + claimed}"
            damage = f"file ends inside the record at byte {file_offset + stop} ({end - stop}{needed} bytes present)"
            return starts, caplen, stop, WalkState.TRUNCATED, damage
        return starts, caplen, stop, WalkState.NEED_MORE, None

    def _batch(self, buf: bytearray, starts: np.ndarray, caplen: np.ndarray) -> RawBatch:
        data = np.frombuffer(buf, dtype=np.uint8)
        views = ByteViews(data)
        # seconds and fraction in one 64-bit read: the seconds are the half that comes first
        stamp = (views.le64 if self.order == "<" else views.be64)[starts]
        first, second = stamp & 0xFFFF_FFFF, stamp >> 32
        seconds, fraction = (first, second) if self.order == "<" else (second, first)
        ts_ns = seconds.astype(np.int64) * 1_000_000_000 + fraction.astype(np.int64) * self.ns_per_fraction
        wirelen = views.u32(self.order)[starts + 12].astype(np.uint32, copy=False)  # native byte order
        count = len(starts)
        batch = BatchColumns(
            data_offset=starts + RECORD_HEADER_BYTES,
            caplen=caplen,
            wirelen=wirelen,
            ts_ns=ts_ns,
            linktype=np.full(count, self.linktype, dtype=np.uint16),
            bad_record=np.zeros(count, dtype=bool),
        ).to_batch(data, self.records, self.file_index)
        self.records += count
        return batch
