"""Classic libpcap files: the 24-byte file header and the record walk.

All four magics are read (micro- or nanosecond timestamps, either byte order). The record walk
is the compiled :func:`~pcapflow._kernels.walk.walk_pcap`. A record longer than its link type
allows (256 KiB for every link type pcapflow decodes, as Wireshark judges it, whatever the
snaplen says) stops the walk: it and everything after it are reported as corrupt, never
allocated. A record cut short by the end of the file is reported as a truncated tail.
"""

from __future__ import annotations

import struct

import numpy as np

from pcapflow._kernels.constants import max_record_bytes_of
from pcapflow._kernels.walk import WalkStop, walk_pcap
from pcapflow.capture.batch import RawBatch
from pcapflow.capture.source import PCAP_MAGICS
from pcapflow.capture.walk import BatchColumns, Walk, WalkState
from pcapflow.errors import CaptureError

FILE_HEADER_BYTES = 24
RECORD_HEADER_BYTES = 16
#: Where no piece ends (a file offset beyond any file).
NO_LIMIT = 1 << 62


class PcapWalker:
    """Walks the records of one classic pcap file, one buffer of file bytes at a time."""

    def __init__(self, path: str, file_index: int):
        self.path = path
        self.file_index = file_index
        self.order = "<"
        self.ns_per_fraction = 1000
        self.linktype = 0
        self.max_caplen = max_record_bytes_of(0)
        self.records = 0
        self.skipped_blocks = 0
        self.warnings: list[str] = []
        self.stop_at: int | None = None  # file offset: records starting there or later belong to the next piece
        self._header_read = False

    @property
    def linktypes(self) -> list[int]:
        return [self.linktype]

    def read_file_header(self, buf: bytes | bytearray) -> None:
        """Take byte order, resolution, link type and snaplen from the 24-byte file header."""
        magic = bytes(buf[:4])
        self.order, self.ns_per_fraction = PCAP_MAGICS[magic]
        major, minor, _zone, _sigfigs, _snaplen, network = struct.unpack_from(self.order + "HHiIII", buf, 4)
        if major != 2:
            raise CaptureError(self.path, f"unsupported pcap version {major}.{minor}", 4)
        # The upper 16 bits of the link-type field carry FCS information, not the link type.
        self.linktype = network & 0xFFFF
        self.max_caplen = max_record_bytes_of(self.linktype)
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
        limit = NO_LIMIT if self.stop_at is None else self.stop_at - file_offset
        data = np.frombuffer(buf, dtype=np.uint8)
        (offsets, caplen, wirelen, ts_ns), stop, reason, claimed = walk_pcap(
            data, pos, end, self.order == ">", self.ns_per_fraction, self.max_caplen, limit
        )
        batches = [self._batch(data, offsets, caplen, wirelen, ts_ns)] if len(offsets) else []
        if reason == WalkStop.WALK_LIMIT:
            return Walk(batches, stop, WalkState.LIMIT)
        if reason == WalkStop.WALK_OVERSIZED:
            damage = (
                f"record at byte {file_offset + stop} claims {claimed} bytes of packet data, "
                f"more than the {self.max_caplen}-byte maximum"
            )
            return Walk(batches, stop, WalkState.CORRUPT, damage)
        if at_eof and stop < end:
            present = end - stop
            needed = ""
            if present >= RECORD_HEADER_BYTES:
                needed = f" of {RECORD_HEADER_BYTES + struct.unpack_from(self.order + 'I', buf, stop + 8)[0]}"
            damage = f"file ends inside the record at byte {file_offset + stop} ({present}{needed} bytes present)"
            return Walk(batches, stop, WalkState.TRUNCATED, damage)
        return Walk(batches, stop, WalkState.NEED_MORE)

    def _batch(self, data: np.ndarray, offsets, caplen, wirelen, ts_ns) -> RawBatch:
        count = len(offsets)
        batch = BatchColumns(
            data_offset=offsets,
            caplen=caplen,
            wirelen=wirelen,
            ts_ns=ts_ns,
            linktype=np.full(count, self.linktype, dtype=np.uint16),
            bad_record=np.zeros(count, dtype=bool),
        ).to_batch(data, self.records, self.file_index)
        self.records += count
        return batch
