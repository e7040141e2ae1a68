# cython: language_level=3
"""The pcapng block walk (see walk.pyx for what the record walks share)."""

import numpy as np

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free
from libc.string cimport memcpy

from pcapflow._kernels.bytes cimport pf_grow, pf_mul_overflows, pf_u16, pf_u32, pf_u64, pf_units_to_ns
from pcapflow._kernels.constants cimport LINKTYPE_UNKNOWN_INTERFACE, max_record_bytes
from pcapflow._kernels.walk cimport *

from pcapflow._kernels.walk import record_columns


cdef struct Interface:
    uint16_t linktype
    uint32_t snaplen
    int resolution  # exponent of the timestamp unit: 10**-n s, or 2**-n s when binary
    bint binary
    int64_t offset_ns
    bint tsresol_ignored  # the option could not be honoured: the default resolution is used
    uint8_t tsresol
    bint tsoffset_ignored  # the option could not be honoured: no offset is added
    int64_t tsoffset_s


cdef class PcapngWalker:
    """Walks the blocks of one pcapng file, chunk after chunk (see the module docstring).

    Keeps what the file declared (each section's byte order, every interface of every section)
    from one chunk to the next, and counts what the file's report needs: records, skipped
    blocks, timestamps out of range, interface options that could not be honoured.
    """

    cdef bint big_endian  # of the current section
    cdef Interface *interfaces  # every interface of the file, in file order
    cdef Py_ssize_t interface_count, interface_capacity
    cdef Py_ssize_t section_base  # the current section's first interface
    cdef int64_t last_ts_ns
    cdef public int64_t records
    cdef public int64_t skipped_blocks
    cdef public int64_t timestamps_out_of_range
    cdef public list linktypes  # of every interface of every section, in file order
    cdef public list ignored_options  # (interface number in the file, option name, value)
    cdef int64_t *scratch_offset
    cdef uint32_t *scratch_caplen
    cdef uint32_t *scratch_wirelen
    cdef int64_t *scratch_ts
    cdef uint16_t *scratch_linktype
    cdef uint8_t *scratch_bad
    cdef Py_ssize_t scratch_capacity

    def __cinit__(self):
        self.linktypes = []
        self.ignored_options = []

    def __dealloc__(self):
        free(self.interfaces)
        free(self.scratch_offset)
        free(self.scratch_caplen)
        free(self.scratch_wirelen)
        free(self.scratch_ts)
        free(self.scratch_linktype)
        free(self.scratch_bad)

    cdef int _grow_scratch(self) noexcept nogil:
        """Double the per-record scratch space; -1 when memory runs out."""
        cdef Py_ssize_t capacity = self.scratch_capacity * 2 if self.scratch_capacity else 4096
        if (pf_grow(<void **>&self.scratch_offset, capacity, sizeof(int64_t)) < 0
                or pf_grow(<void **>&self.scratch_caplen, capacity, sizeof(uint32_t)) < 0
                or pf_grow(<void **>&self.scratch_wirelen, capacity, sizeof(uint32_t)) < 0
                or pf_grow(<void **>&self.scratch_ts, capacity, sizeof(int64_t)) < 0
                or pf_grow(<void **>&self.scratch_linktype, capacity, sizeof(uint16_t)) < 0
                or pf_grow(<void **>&self.scratch_bad, capacity, sizeof(uint8_t)) < 0):
            return -1
        self.scratch_capacity = capacity
        return 0

    cdef int _add_interface(self, const uint8_t *block, uint32_t length) noexcept nogil:
        """Take an Interface Description Block of at least 20 bytes; -1 when memory runs out."""
        cdef Interface spec
        cdef uint32_t option = 16, code, size, value
        cdef uint32_t options_end = length - 4
        cdef uint8_t tsresol = DEFAULT_TSRESOL
        cdef int64_t tsoffset = 0
        cdef bint has_tsoffset = False
        spec.linktype = pf_u16(block + 8, self.big_endian)
        spec.snaplen = pf_u32(block + 12, self.big_endian)
        while option + 4 <= options_end:
            code = pf_u16(block + option, self.big_endian)
            size = pf_u16(block + option + 2, self.big_endian)
            if code == OPTION_END:
                break
            value = option + 4
            if value + size > options_end:
                break  # a cut option: the rest is not read rather than the next block
            if code == OPTION_TSRESOL and size >= 1:
                tsresol = block[value]
            elif code == OPTION_TSOFFSET and size >= 8:
                tsoffset = <int64_t>pf_u64(block + value, self.big_endian)
                has_tsoffset = True
            option = value + ((size + 3) & ~3u)
        spec.binary = (tsresol & 0x80) != 0
        spec.resolution = tsresol & 0x7F
        spec.tsresol = tsresol
        # a unit finer than 2**-63 s or 10**-19 s: no count of a uint64 clock reaches one second
        spec.tsresol_ignored = spec.resolution > (63 if spec.binary else 19)
        if spec.tsresol_ignored:
            spec.binary, spec.resolution = False, DEFAULT_TSRESOL
        spec.tsoffset_s = tsoffset
        spec.tsoffset_ignored = has_tsoffset and pf_mul_overflows(tsoffset, 1000000000, &spec.offset_ns) != 0
        if spec.tsoffset_ignored or not has_tsoffset:
            spec.offset_ns = 0
        if self.interface_count == self.interface_capacity:
            if pf_grow(<void **>&self.interfaces, self.interface_capacity * 2 + 8, sizeof(Interface)) < 0:
                return -1
            self.interface_capacity = self.interface_capacity * 2 + 8
        self.interfaces[self.interface_count] = spec
        self.interface_count += 1
        return 0

    def walk(self, const uint8_t[::1] buffer, Py_ssize_t pos, Py_ssize_t end):
        """Walk the blocks of ``buffer[pos:end]``.

        Returns ``(columns, stop, reason, detail)``: the ``data_offset, caplen, wirelen, ts_ns,
        linktype, bad_record`` arrays of the packet records found, where the first block not
        taken starts, a ``WALK_*`` reason and, for corruption, ``(block type, value)``.
        """
        if end > buffer.shape[0] or pos < 0:
            raise ValueError("walk range outside the buffer")
        cdef const uint8_t *data = &buffer[0] if buffer.shape[0] else NULL
        cdef const uint8_t *block
        cdef Py_ssize_t at = pos, count = 0, noted = self.interface_count
        cdef uint32_t block_type = 0, length = 0, interface, caplen, wirelen, room, detail = 0
        cdef int reason = WALK_NEED_MORE, order = self.big_endian, failed = 0
        cdef bint simple, known
        cdef uint64_t units
        cdef const Interface *spec
        with nogil:
            while at + 12 <= end:
                block = data + at
                block_type = pf_u32(block, self.big_endian)
                order = self.big_endian
                if block_type == SECTION_HEADER:
                    order = _byte_order(block + 8)
                    if order < 0:
                        reason = WALK_BAD_BYTE_ORDER
                        break
                length = pf_u32(block + 4, order)
                if length < 12 or length % 4 or length > MAX_BLOCK_BYTES:
                    reason, detail = WALK_BAD_LENGTH, length
                    break
                if at + length > end:
                    break
                if pf_u32(block + length - 4, order) != length:
                    reason = WALK_LENGTHS_DIFFER
                    break
                if block_type == ENHANCED_PACKET or block_type == SIMPLE_PACKET or block_type == OBSOLETE_PACKET:
                    if count == self.scratch_capacity and self._grow_scratch() < 0:
                        failed = 1
                        break
                    simple = block_type == SIMPLE_PACKET
                    if simple:
                        interface = 0
                        wirelen = pf_u32(block + 8, order) if length >= 16 else 0
                        caplen = wirelen
                        room = length - 16 if length >= 16 else 0
                        self.scratch_offset[count] = at + 12
                    else:
                        # the obsolete Packet Block has a 16-bit interface id, then a drop count
                        interface = pf_u32(block + 8, order) if block_type == ENHANCED_PACKET else pf_u16(block + 8, order)
                        caplen = pf_u32(block + 20, order) if length >= 24 else 0
                        wirelen = pf_u32(block + 24, order) if length >= 28 else 0
                        room = length - 32 if length >= 32 else 0
                        self.scratch_offset[count] = at + 28
                    known = interface < self.interface_count - self.section_base
                    spec = &self.interfaces[self.section_base + interface] if known else NULL
                    if known and simple and spec.snaplen and caplen > spec.snaplen:
                        caplen = spec.snaplen  # a Simple Packet Block holds its packet cut to the snaplen
                    if (caplen if (not simple or caplen < room) else room) > max_record_bytes(spec.linktype if known else LINKTYPE_UNKNOWN_INTERFACE):
                        reason, detail = WALK_PACKET_TOO_LONG, caplen
                        break
                    self.scratch_bad[count] = not known or length < (16 if simple else 32) or (not simple and caplen > room)
                    self.scratch_caplen[count] = caplen if caplen < room else room
                    self.scratch_wirelen[count] = wirelen
                    self.scratch_linktype[count] = spec.linktype if known else LINKTYPE_UNKNOWN_INTERFACE
                    if simple:  # no timestamp of its own: the one of the packet before it
                        self.scratch_ts[count] = self.last_ts_ns
                    elif known and length >= 20:
                        units = (<uint64_t>pf_u32(block + 12, order) << 32) | pf_u32(block + 16, order)
                        self.timestamps_out_of_range += pf_units_to_ns(
                            units, spec.binary, spec.resolution, spec.offset_ns, timestamp_limit(), &self.scratch_ts[count])
                    else:
                        self.scratch_ts[count] = 0
                    self.last_ts_ns = self.scratch_ts[count]
                    count += 1
                elif block_type == SECTION_HEADER:
                    if length < 16 or pf_u16(block + 12, order) != 1:
                        reason, detail = WALK_BAD_VERSION, pf_u16(block + 12, order) if length >= 16 else 0
                        break
                    self.big_endian = order
                    self.section_base = self.interface_count
                elif block_type == INTERFACE_DESCRIPTION:
                    if length < 20:
                        reason, detail = WALK_BAD_LENGTH, length
                        break
                    if self._add_interface(block, length) < 0:
                        failed = 1
                        break
                else:
                    self.skipped_blocks += 1
                at += length
        if failed:
            raise MemoryError("no memory for the records of a pcapng chunk")
        for index in range(noted, self.interface_count):
            self._note_interface(index)
        columns = self._take(count)
        self.records += count
        return columns, at, reason, (block_type, detail)

    cdef _note_interface(self, Py_ssize_t index):
        cdef Interface spec = self.interfaces[index]
        self.linktypes.append(spec.linktype)
        if spec.tsresol_ignored:
            self.ignored_options.append((index, "if_tsresol", spec.tsresol))
        if spec.tsoffset_ignored:
            self.ignored_options.append((index, "if_tsoffset", spec.tsoffset_s))

    cdef tuple _take(self, Py_ssize_t count):
        offsets, caplens, wirelens, stamps = record_columns(count)
        linktypes = np.empty(count, dtype=np.uint16)
        bad = np.empty(count, dtype=np.bool_)
        cdef int64_t[::1] offset_out = offsets, ts_out = stamps
        cdef uint32_t[::1] caplen_out = caplens, wirelen_out = wirelens
        cdef uint16_t[::1] linktype_out = linktypes
        cdef uint8_t[::1] bad_out = bad.view(np.uint8)
        if count:
            memcpy(&offset_out[0], self.scratch_offset, count * sizeof(int64_t))
            memcpy(&caplen_out[0], self.scratch_caplen, count * sizeof(uint32_t))
            memcpy(&wirelen_out[0], self.scratch_wirelen, count * sizeof(uint32_t))
            memcpy(&ts_out[0], self.scratch_ts, count * sizeof(int64_t))
            memcpy(&linktype_out[0], self.scratch_linktype, count * sizeof(uint16_t))
            memcpy(&bad_out[0], self.scratch_bad, count * sizeof(uint8_t))
        return offsets, caplens, wirelens, stamps, linktypes, bad


cdef inline int _byte_order(const uint8_t *magic) noexcept nogil:
    """1 for a big-endian section, 0 for a little-endian one, -1 for neither."""
    if pf_u32(magic, True) == BYTE_ORDER_MAGIC:
        return 1
    if pf_u32(magic, False) == BYTE_ORDER_MAGIC:
        return 0
    return -1
