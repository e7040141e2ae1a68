"""pcapng files: sections, interfaces and packet blocks.

Every section has its own byte order (read from its Section Header Block) and its own list of
interfaces; each Interface Description Block gives a link type, a snaplen and optionally
``if_tsresol`` (decimal or power-of-two) and ``if_tsoffset``. Packets come in Enhanced Packet
Blocks, Simple Packet Blocks (interface 0, no timestamp: they take the timestamp of the packet
before them) and obsolete Packet Blocks. Blocks of any other type are skipped and counted.

A block length that is not a multiple of 4, shorter than a block header or longer than 16 MiB
stops the walk as corruption; a packet block whose captured length exceeds its own block is kept,
clipped to the block, and flagged ``bad_record``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from pcapflow.byteviews import ByteViews
from pcapflow.capture.batch import LINKTYPE_UNKNOWN, RawBatch
from pcapflow.capture.walk import BatchColumns, Walk, WalkState

SECTION_HEADER = 0x0A0D0D0A
INTERFACE_DESCRIPTION = 0x00000001
PACKET = 0x00000002  # obsolete
SIMPLE_PACKET = 0x00000003
ENHANCED_PACKET = 0x00000006

MAX_BLOCK_BYTES = 16 << 20
BYTE_ORDER_MAGIC = 0x1A2B3C4D
#: The byte-order magic of a section header, as stored, -> the section's byte order.
_BYTE_ORDERS = {struct.pack(order + "I", BYTE_ORDER_MAGIC): order for order in "<>"}
OPTION_TSRESOL = 9
OPTION_TSOFFSET = 14


@dataclass(frozen=True, slots=True)
class Interface:
    linktype: int
    snaplen: int
    tsresol: int = 6  # the option byte: high bit set = power of two, else power of ten
    tsoffset_s: int = 0


def _parse_interface(buf: bytearray, pos: int, length: int, order: str) -> Interface:
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", buf, pos + 8)
    tsresol, tsoffset = 6, 0
    option = pos + 16
    options_end = pos + length - 4
    while option + 4 <= options_end:
        code, size = struct.unpack_from(order + "HH", buf, option)
        if code == 0:
            break
        value = option + 4
        if value + size > options_end:
            break  # a cut option: ignore the rest rather than read the next block
        if code == OPTION_TSRESOL and size >= 1:
            tsresol = buf[value]
        elif code == OPTION_TSOFFSET and size >= 8:
            tsoffset = struct.unpack_from(order + "q", buf, value)[0]
        option = value + ((size + 3) & ~3)
    return Interface(linktype, snaplen, tsresol, tsoffset)


def _units_to_ns(units: np.ndarray, tsresol: int) -> np.ndarray:
    """Convert timestamp units (uint64) of one interface's resolution to int64 nanoseconds."""
    exponent = tsresol & 0x7F
    if tsresol & 0x80:  # 2**-exponent seconds per unit
        whole = (units >> np.uint64(exponent)).astype(np.int64) * 1_000_000_000
        fraction = units & np.uint64((1 << exponent) - 1)
        # keep fraction * 1e9 below 2**63: drop the bits finer than a nanosecond can show anyway
        drop = max(exponent - 33, 0)
        fraction = (fraction >> np.uint64(drop)) * np.uint64(1_000_000_000) >> np.uint64(exponent - drop)
        return whole + fraction.astype(np.int64)
    if exponent <= 9:
        return units.astype(np.int64) * 10 ** (9 - exponent)
    return (units // np.uint64(10 ** (exponent - 9))).astype(np.int64)


class PcapngWalker:
    """Walks the blocks of one pcapng file, one buffer of file bytes at a time."""

    def __init__(self, path: str, file_index: int):
        self.path = path
        self.file_index = file_index
        self.order = "<"
        self.interfaces: list[Interface] = []
        self.linktypes: list[int] = []  # of every interface of every section, in file order
        self.records = 0
        self.skipped_blocks = 0
        self.last_ts_ns = 0

    def walk(self, buf: bytearray, end: int, file_offset: int, at_eof: bool) -> Walk:
        batches: list[RawBatch] = []
        offsets: list[int] = []
        append = offsets.append
        block_header = struct.Struct(self.order + "II").unpack_from
        pos = 0
        state = WalkState.NEED_MORE
        damage = None
        while pos + 12 <= end:
            block_type, length = block_header(buf, pos)
            if block_type == SECTION_HEADER:
                order = _BYTE_ORDERS.get(bytes(buf[pos + 8 : pos + 12]))
                if order is None:
                    state, damage = WalkState.CORRUPT, "section header with a bad byte-order magic"
                    break
                length = struct.unpack_from(order + "I", buf, pos + 4)[0]
            if length < 12 or length % 4 or length > MAX_BLOCK_BYTES:
                state, damage = WalkState.CORRUPT, f"block of type {block_type:#x} has an impossible length {length}"
                break
            if pos + length > end:
                break
            block_order = order if block_type == SECTION_HEADER else self.order
            if struct.unpack_from(block_order + "I", buf, pos + length - 4)[0] != length:
                state, damage = WalkState.CORRUPT, f"block of type {block_type:#x}: leading and trailing lengths differ"
                break
            if block_type == ENHANCED_PACKET or block_type == SIMPLE_PACKET or block_type == PACKET:
                append(pos)
                pos += length
                continue
            if block_type == SECTION_HEADER:
                major = struct.unpack_from(order + "H", buf, pos + 12)[0]
                if major != 1:
                    state, damage = WalkState.CORRUPT, f"unsupported pcapng version {major}"
                    break
                if offsets:
                    batches.append(self._batch(buf, offsets))
                    offsets = []
                    append = offsets.append
                self.order = order
                self.interfaces = []
                block_header = struct.Struct(order + "II").unpack_from
            elif block_type == INTERFACE_DESCRIPTION:
                interface = _parse_interface(buf, pos, length, self.order)
                self.interfaces.append(interface)
                self.linktypes.append(interface.linktype)
            else:
                self.skipped_blocks += 1
            pos += length
        if offsets:
            batches.append(self._batch(buf, offsets))
        if state is WalkState.CORRUPT:
            damage = f"{damage} (block at byte {file_offset + pos})"
        elif at_eof and pos < end:
            state = WalkState.TRUNCATED
            damage = f"file ends inside the block at byte {file_offset + pos} ({end - pos} bytes present)"
        return Walk(batches, pos, state, damage)

    def _batch(self, buf: bytearray, offsets: list[int]) -> RawBatch:
        data = np.frombuffer(buf, dtype=np.uint8)
        starts = np.array(offsets, dtype=np.int64)
        count = len(starts)
        word = ByteViews(data).u32(self.order)
        words = [word[starts + field].astype(np.int64) for field in range(0, 28, 4)]
        block_type, length = words[0], words[1]
        simple = block_type == SIMPLE_PACKET
        interface = np.where(simple, 0, words[2])
        obsolete = block_type == PACKET
        # the obsolete Packet Block has a 16-bit interface id followed by a 16-bit drop count
        interface[obsolete] = (words[2][obsolete] & 0xFFFF) if self.order == "<" else (words[2][obsolete] >> 16)
        data_offset = starts + np.where(simple, 12, 28)
        room = length - np.where(simple, 16, 32)
        wirelen = np.where(simple, words[2], words[6])
        caplen = np.where(simple, wirelen, words[5])

        known = interface < len(self.interfaces)
        linktype = np.full(count, LINKTYPE_UNKNOWN, dtype=np.uint16)
        ts_ns = np.zeros(count, dtype=np.int64)
        units = (words[3].astype(np.uint64) << np.uint64(32)) | words[4].astype(np.uint64)
        for index, spec in enumerate(self.interfaces):
            rows = interface == index
            if not rows.any():
                continue
            linktype[rows] = spec.linktype
            if spec.snaplen:
                caplen[rows & simple] = np.minimum(caplen[rows & simple], spec.snaplen)
            ts_ns[rows] = _units_to_ns(units[rows], spec.tsresol) + spec.tsoffset_s * 1_000_000_000
        # Simple Packet Blocks carry no timestamp: they take the one of the packet before them.
        timed = ~simple
        previous = np.maximum.accumulate(np.where(timed, np.arange(count), -1))
        ts_ns = np.where(previous >= 0, ts_ns[np.maximum(previous, 0)], self.last_ts_ns)
        if count:
            self.last_ts_ns = int(ts_ns[-1])

        # An SPB's captured length is its original length cut to the snaplen (above) and the block.
        bad_record = ~known | (room < 0) | (~simple & (caplen > room))
        caplen = np.clip(np.minimum(caplen, room), 0, None)
        batch = BatchColumns(
            data_offset=data_offset,
            caplen=caplen.astype(np.uint32),
            wirelen=wirelen.astype(np.uint32),
            ts_ns=ts_ns,
            linktype=linktype,
            bad_record=bad_record,
        ).to_batch(data, self.records, self.file_index)
        self.records += count
        return batch
