# cython: language_level=3
"""Record walks: where each record of a chunk of a capture file starts, and its header fields.

Both walks (the classic pcap one here, the pcapng one in pcapng.pyx) take a buffer of file bytes
and a range of it, find the complete records in that range, and return their columns (the
per-record fields of a :class:`~pcapflow.capture.RawBatch`) with where the walk stopped and why
(:class:`WalkStop`). They run without the GIL and never read outside ``buffer[pos:end]``; a
length that leads past ``end`` stops the walk (the caller reads on, or reports the truncation),
a length beyond any sane bound stops it as corruption. This module also guesses where a record
starts in the middle of a file (:func:`find_pcap_boundary`), to cut a large pcap into pieces.
"""

import numpy as np

from libc.stdint cimport int64_t, uint8_t, uint32_t
from libc.stdlib cimport free, malloc

from pcapflow._kernels.bytes cimport pf_grow, pf_prefetch_far, pf_u32

TIMESTAMP_LIMIT_NS = timestamp_limit()
MAX_PCAPNG_BLOCK_BYTES = MAX_BLOCK_BYTES


def record_columns(Py_ssize_t count):
    """Empty data_offset, caplen, wirelen and ts_ns columns for ``count`` records."""
    return (
        np.empty(count, dtype=np.int64),  # data_offset
        np.empty(count, dtype=np.uint32),  # caplen
        np.empty(count, dtype=np.uint32),  # wirelen
        np.empty(count, dtype=np.int64),  # ts_ns
    )


cdef struct PcapRecord:
    int64_t offset, ts
    uint32_t caplen, wirelen


def walk_pcap(const uint8_t[::1] buffer, Py_ssize_t pos, Py_ssize_t end, bint big_endian,
              int64_t ns_per_fraction, uint32_t max_caplen, Py_ssize_t limit):
    """Walk the classic pcap records of ``buffer[pos:end]``.

    Records that start at or after ``limit`` are left to the next piece. Returns
    ``(columns, stop, reason, claimed)``: the ``data_offset, caplen, wirelen, ts_ns`` arrays of
    the complete records, where the first record not returned starts, a ``WALK_*`` reason and,
    for ``WALK_OVERSIZED``, the length that record claims.
    """
    if end > buffer.shape[0] or pos < 0:
        raise ValueError("walk range outside the buffer")
    cdef Py_ssize_t count = 0, at = pos, capacity = (end - pos) // 256 + 64, row
    cdef uint32_t caplen = 0, claimed = 0
    cdef int reason = WALK_NEED_MORE
    cdef const uint8_t *data = &buffer[0] if buffer.shape[0] else NULL
    # One walk down the record chain (each header is only found from the one before it), into
    # scratch space: a second walk would wait on the memory again.
    cdef PcapRecord *records = <PcapRecord *>malloc(capacity * sizeof(PcapRecord))
    cdef bint failed = records == NULL
    with nogil:
        while not failed:
            if at >= limit:
                reason = WALK_LIMIT
                break
            if at + PCAP_RECORD_HEADER > end:
                break
            pf_prefetch_far(data + at, data + end)
            caplen = pf_u32(data + at + 8, big_endian)
            if caplen > max_caplen:
                reason, claimed = WALK_OVERSIZED, caplen
                break
            if at + PCAP_RECORD_HEADER + caplen > end:
                break
            if count == capacity:
                capacity *= 2
                if pf_grow(<void **>&records, capacity, sizeof(PcapRecord)) < 0:
                    failed = True
                    break
            records[count].offset = at + PCAP_RECORD_HEADER
            records[count].caplen = caplen
            records[count].wirelen = pf_u32(data + at + 12, big_endian)
            records[count].ts = <int64_t>pf_u32(data + at, big_endian) * 1000000000 + <int64_t>pf_u32(data + at + 4, big_endian) * ns_per_fraction
            count += 1
            at += PCAP_RECORD_HEADER + caplen
    if failed:
        free(records)
        raise MemoryError("no memory for the records of a pcap chunk")
    offsets, caplens, wirelens, stamps = record_columns(count)
    cdef int64_t[::1] offset_out = offsets
    cdef uint32_t[::1] caplen_out = caplens, wirelen_out = wirelens
    cdef int64_t[::1] ts_out = stamps
    with nogil:
        for row in range(count):
            offset_out[row] = records[row].offset
            caplen_out[row] = records[row].caplen
            wirelen_out[row] = records[row].wirelen
            ts_out[row] = records[row].ts
    free(records)
    return (offsets, caplens, wirelens, stamps), at, reason, claimed


def find_pcap_boundary(const uint8_t[::1] window, Py_ssize_t start, Py_ssize_t end, bint at_eof, bint big_endian,
                       int64_t first_seconds, int64_t time_span, uint32_t fraction_limit, uint32_t max_caplen,
                       uint32_t max_wirelen, int confirming):
    """The first offset from ``start`` in ``window[:end]`` where ``confirming`` plausible classic
    pcap record headers follow one another (timestamps within ``time_span`` s of
    ``first_seconds``, fractions below ``fraction_limit``, caplen at most ``max_caplen`` and at most
    wirelen, wirelen at most ``max_wirelen``; each header where the record before it ends).

    Returns ``(offset, True)`` when found, ``(offset, False)`` when the bytes held end before
    the run from ``offset`` could be judged (call again with more bytes, from ``offset``), and
    ``(-1, False)`` when there is none and ``at_eof``.
    """
    if end > window.shape[0] or start < 0:
        raise ValueError("search range outside the window")
    cdef const uint8_t *data = &window[0] if window.shape[0] else NULL
    cdef Py_ssize_t candidate = start, at
    cdef int seen, verdict = -1  # 1 found, 0 more bytes needed, -1 none (yet)
    cdef int64_t seconds
    cdef uint32_t fraction, caplen, wirelen
    with nogil:
        while candidate < end:
            at, seen = candidate, 0
            while seen < confirming:
                if at + PCAP_RECORD_HEADER > end:
                    break
                seconds = pf_u32(data + at, big_endian)
                fraction = pf_u32(data + at + 4, big_endian)
                caplen = pf_u32(data + at + 8, big_endian)
                wirelen = pf_u32(data + at + 12, big_endian)
                if not (-time_span <= seconds - first_seconds <= time_span and fraction < fraction_limit
                        and caplen <= max_caplen and caplen <= wirelen <= max_wirelen):
                    break
                seen += 1
                at += PCAP_RECORD_HEADER + caplen
            if seen == confirming:
                verdict = 1
                break
            if at + PCAP_RECORD_HEADER > end and not at_eof:
                verdict = 0
                break
            candidate += 1
    if verdict < 0 and at_eof:
        return -1, False
    return candidate, verdict == 1
