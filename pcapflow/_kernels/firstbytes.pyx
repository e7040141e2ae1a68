# cython: language_level=3
"""The first payload bytes of each flow direction of a read, taken while its records are in memory.

Reads reuse their record buffer, and the flow table folds a read's packets later, so the bytes
payload inspection may need are copied out as a read is decoded: for each direction of each
5-tuple, the payloads of its first packets in this read, :data:`EARLY_BYTES` bytes at most of
each and :data:`EARLY_BYTES` in all (the fold keeps at most that much per direction, and only
while the conversation's protocol is undecided). Memory is thus bounded by the flows of one
read, never by its packets; a later read starts its budgets afresh (a thread's budgets are
:meth:`FirstBytes.reset` for each read), so where reads are cut never hides bytes the fold
wants. A TCP direction whose SYN is in the read and whose first segment can match no signature
(:meth:`Signatures.possible`) sends that segment as OPAQUE, without its bytes, and nothing after
it: the fold needs only to know that it came.
"""

import numpy as np

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free
from libc.string cimport memcpy, memset

from pcapflow._kernels.bytes cimport pf_zeroed
from pcapflow._kernels.constants cimport IPPROTO_TCP, IPPROTO_UDP, OK, TCP_SYN
from pcapflow._kernels.hashing cimport mix64
from pcapflow._kernels.signatures cimport EARLY_BYTES, OPAQUE, Side, Signatures

#: The flag bit of :meth:`FirstBytes.take`'s ``length`` that marks a first segment sent without its bytes.
OPAQUE_LENGTH = OPAQUE


cdef struct Budget:
    uint64_t src_hi, src_lo, dst_hi, dst_lo
    uint16_t src_port, dst_port
    uint8_t proto, used, has_syn
    uint32_t taken, syn_seq


cdef class FirstBytes:
    """The byte budgets of one read (see the module docstring); :meth:`take` a batch at a time."""
    cdef Budget *slots
    cdef uint64_t mask, used
    cdef Signatures signatures

    def __cinit__(self, Signatures signatures=None):
        self.signatures = signatures
        self.mask, self.used = 1023, 0
        self.slots = <Budget *>pf_zeroed(self.mask + 1, sizeof(Budget))
        if self.slots == NULL:
            raise MemoryError("no memory for payload budgets")

    def __dealloc__(self):
        free(self.slots)

    def reset(self):
        """Empty the budgets for a new read, keeping the table's memory: a fresh table's pages
        would each be faulted in again as the read's flows land on them."""
        memset(self.slots, 0, (self.mask + 1) * sizeof(Budget))
        self.used = 0

    cdef Budget *_budget(self, uint64_t src_hi, uint64_t src_lo, uint64_t dst_hi, uint64_t dst_lo, uint16_t src_port,
                         uint16_t dst_port, uint8_t proto) noexcept nogil:
        cdef uint64_t at
        cdef Budget *b
        if (self.used + 1) * 2 > self.mask + 1 and self._grow() < 0:
            return NULL
        at = _hash(src_hi, src_lo, dst_hi, dst_lo, src_port, dst_port, proto) & self.mask
        while True:
            b = &self.slots[at]
            if not b.used:
                b.src_hi, b.src_lo, b.dst_hi, b.dst_lo, b.src_port, b.dst_port, b.proto, b.used, b.taken, b.has_syn = (
                    src_hi, src_lo, dst_hi, dst_lo, src_port, dst_port, proto, 1, 0, 0)
                self.used += 1
                return b
            if (b.src_hi == src_hi and b.src_lo == src_lo and b.dst_hi == dst_hi and b.dst_lo == dst_lo and b.src_port == src_port
                    and b.dst_port == dst_port and b.proto == proto):
                return b
            at = (at + 1) & self.mask

    cdef int _grow(self) noexcept nogil:
        cdef Budget *old = self.slots
        cdef uint64_t old_size = self.mask + 1, i, at
        self.slots = <Budget *>pf_zeroed(old_size * 2, sizeof(Budget))
        if self.slots == NULL:
            self.slots = old
            return -1
        self.mask = old_size * 2 - 1
        for i in range(old_size):
            if old[i].used:
                at = _hash(old[i].src_hi, old[i].src_lo, old[i].dst_hi, old[i].dst_lo, old[i].src_port, old[i].dst_port,
                           old[i].proto) & self.mask
                while self.slots[at].used:
                    at = (at + 1) & self.mask
                self.slots[at] = old[i]
        free(old)
        return 0

    def take(self, const uint8_t[::1] buffer, const int64_t[::1] data_offset, const int64_t[::1] row_record,
             const uint32_t[::1] caplen, const uint8_t[::1] status, const uint8_t[::1] ip_proto,
             const uint64_t[::1] src_ip_hi, const uint64_t[::1] src_ip_lo, const uint64_t[::1] dst_ip_hi,
             const uint64_t[::1] dst_ip_lo, const uint16_t[::1] src_port, const uint16_t[::1] dst_port,
             const uint16_t[::1] tcp_flags, const uint32_t[::1] tcp_seq, const uint32_t[::1] payload_offset,
             const uint32_t[::1] payload_bytes):
        """The first bytes of a decoded batch: (``at``: int64 per packet, where its bytes start in
        ``data``; ``length``: uint16 per packet, 0 for none; ``data``: uint8). ``data_offset`` is
        per record; ``row_record`` the record of each row (empty: row i is record i), the other
        columns per row."""
        cdef Py_ssize_t count = status.shape[0], row, size = buffer.shape[0], records = data_offset.shape[0]
        cdef bint by_record = row_record.shape[0] != 0
        lengths = (caplen.shape[0], ip_proto.shape[0], src_ip_hi.shape[0], src_ip_lo.shape[0],
                   dst_ip_hi.shape[0], dst_ip_lo.shape[0], src_port.shape[0], dst_port.shape[0], tcp_flags.shape[0],
                   tcp_seq.shape[0], payload_offset.shape[0], payload_bytes.shape[0]) + ((row_record.shape[0],) if by_record else (records,))
        if any(length != count for length in lengths):
            raise ValueError("every column of a batch must have one entry per record")
        for row in range(count if by_record else 0):
            if not 0 <= row_record[row] < records:
                raise IndexError(f"row {row} names record {row_record[row]} of a batch of {records}")
        at_out = np.zeros(count, dtype=np.int64)
        length_out = np.zeros(count, dtype=np.uint16)
        cdef int64_t[::1] at = at_out
        cdef uint16_t[::1] length = length_out
        cdef int64_t total = 0, start, end, n, record_start
        cdef Budget *b
        cdef Side side
        cdef bint failed = False, screening = self.signatures is not None
        with nogil:
            for row in range(count):
                if status[row] != OK or not (ip_proto[row] == IPPROTO_TCP or ip_proto[row] == IPPROTO_UDP):
                    continue
                if screening and ip_proto[row] == IPPROTO_TCP and tcp_flags[row] & TCP_SYN:
                    b = self._budget(src_ip_hi[row], src_ip_lo[row], dst_ip_hi[row], dst_ip_lo[row], src_port[row], dst_port[row], ip_proto[row])
                    if b == NULL:
                        failed = True
                        break
                    b.has_syn, b.syn_seq = 1, tcp_seq[row]
                if payload_bytes[row] == 0 or payload_offset[row] == 0:  # 0: a carrier's, not inspected
                    continue
                record_start = data_offset[row_record[row] if by_record else row]
                start = record_start + payload_offset[row]
                end = record_start + caplen[row]
                if end > size or start >= end:
                    continue
                n = end - start
                if n > payload_bytes[row]:
                    n = payload_bytes[row]  # what follows is the frame's padding
                b = self._budget(src_ip_hi[row], src_ip_lo[row], dst_ip_hi[row], dst_ip_lo[row], src_port[row], dst_port[row], ip_proto[row])
                if b == NULL:
                    failed = True
                    break
                if b.taken >= EARLY_BYTES:
                    continue
                if n > EARLY_BYTES:
                    n = EARLY_BYTES
                if screening and b.taken == 0 and b.has_syn and tcp_seq[row] == b.syn_seq + 1:
                    side.data, side.length, side.first, side.segments, side.opaque = &buffer[start], <int>n, <int>n, 1, False
                    if not self.signatures.possible(&side, IPPROTO_TCP):
                        b.taken = EARLY_BYTES
                        length[row] = OPAQUE
                        continue
                b.taken += <uint32_t>n
                at[row], length[row] = total, <uint16_t>n
                total += n
        if failed:
            raise MemoryError("no memory for payload budgets")
        data_out = np.empty(total, dtype=np.uint8)
        cdef uint8_t[::1] data = data_out
        with nogil:
            for row in range(count):
                if length[row] and not length[row] & OPAQUE:
                    memcpy(&data[at[row]], &buffer[data_offset[row_record[row] if by_record else row] + payload_offset[row]], length[row])
        return at_out, length_out, data_out


cdef inline uint64_t _hash(uint64_t src_hi, uint64_t src_lo, uint64_t dst_hi, uint64_t dst_lo, uint16_t src_port, uint16_t dst_port,
                           uint8_t proto) noexcept nogil:
    """A direction's hash: one mix of the key's words, each weighted by its own odd constant (the
    keys are compared whole, so the hash only has to spread them; it is looked up per packet)."""
    return mix64(src_lo * <uint64_t>0x9E3779B97F4A7C15 + dst_lo * <uint64_t>0xC2B2AE3D27D4EB4F + src_hi * <uint64_t>0x165667B19E3779F9
                 + dst_hi * <uint64_t>0xD6E8FEB86659FD93 + (src_port | (<uint64_t>dst_port << 16) | (<uint64_t>proto << 32)))
