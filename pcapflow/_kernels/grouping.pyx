# cython: language_level=3
"""Distinct values per group, for the per-port summary (:mod:`pcapflow.summary`): how many
distinct clients, client sockets and servers each server port saw. One pass over a hash set
of (group, address[, port]) keys: no sort, and no numbering of the addresses first."""

import numpy as np

from libc.stdint cimport int64_t, uint16_t, uint64_t

from pcapflow._kernels.hashing cimport hash_address, mix64


def distinct_per_group(const int64_t[::1] group, const uint64_t[::1] hi, const uint64_t[::1] lo, const uint16_t[::1] port,
                       Py_ssize_t groups):
    """How many distinct values each group (``group``: 0 to ``groups`` - 1 per entry) holds; a
    value is (``hi``, ``lo``, ``port``), or (``hi``, ``lo``) when ``port`` is empty."""
    cdef Py_ssize_t count = group.shape[0], row, at
    cdef bint with_port = port.shape[0] != 0
    if hi.shape[0] != count or lo.shape[0] != count or (with_port and port.shape[0] != count):
        raise ValueError("every column must have one entry per value")
    if groups < 0:
        raise ValueError(f"a count of groups cannot be negative ({groups})")
    for row in range(count):
        if not 0 <= group[row] < groups:
            raise IndexError(f"entry {row} is in group {group[row]}, not one of the {groups}")
    counts = np.zeros(groups, dtype=np.int64)
    cdef Py_ssize_t capacity = 16
    while capacity < 2 * count:
        capacity *= 2
    # each slot holds the first entry of its key (-1: empty); keys are compared whole
    first_of_key = np.full(capacity, -1, dtype=np.int64)
    cdef int64_t[::1] slots = first_of_key, out = counts
    cdef uint64_t mask = capacity - 1, extra
    cdef int64_t seen
    with nogil:
        for row in range(count):
            extra = (<uint64_t>group[row] << 16) | (port[row] if with_port else 0)
            at = mix64(hash_address(hi[row], lo[row]) ^ extra) & mask
            while True:
                seen = slots[at]
                if seen < 0:
                    slots[at] = row
                    out[group[row]] += 1
                    break
                if (group[seen] == group[row] and hi[seen] == hi[row] and lo[seen] == lo[row]
                        and (not with_port or port[seen] == port[row])):
                    break
                at = (at + 1) & mask
    return counts
