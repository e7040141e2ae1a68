# cython: language_level=3
"""Address-pair partitions: which tracker each packet goes to when several fold a capture.

Every packet of a pair of addresses goes to the same partition, whichever way it travels (the
pair's hash is made of the sum of its two addresses): both directions of a conversation, and
every fragment of a datagram, meet in one tracker, so the trackers never need each other. The
hash only has to spread pairs evenly, so it is a cheap one: a multiply, and the partition from
its high bits (no division). The inner row of a tunnelled frame (a carrier row, then its
inner row: see pcapflow.decode.carriers) goes with its carrier row, so that a tunnelled
conversation is tracked where its parent is.
"""

import numpy as np

from libc.stdint cimport uint8_t, uint64_t

from pcapflow._kernels.constants cimport NO_TUNNEL, is_tracked
from pcapflow._kernels.hashing cimport mix64

#: The most partitions a capture can be tracked in (labels are bytes; 255 marks untracked packets).
MAX_PARTITIONS = 255


def partition_labels(const uint8_t[::1] status, const uint64_t[::1] src_hi, const uint64_t[::1] src_lo,
                     const uint64_t[::1] dst_hi, const uint64_t[::1] dst_lo, const uint8_t[::1] tunnel,
                     const uint8_t[::1] tunnel_depth, int partitions):
    """The partition (0 to ``partitions`` - 1) of every tracked packet, 255 for the others; a
    tracked inner row right after its carrier row (``tunnel_depth`` above 0, ``tunnel``
    NO_TUNNEL) gets the carrier's."""
    cdef Py_ssize_t count = status.shape[0], row
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise ValueError(f"partitions must be 1 to {MAX_PARTITIONS}, not {partitions}")
    if any(length != count for length in (src_hi.shape[0], src_lo.shape[0], dst_hi.shape[0], dst_lo.shape[0], tunnel.shape[0],
                                          tunnel_depth.shape[0])):
        raise ValueError("every column of a batch must have one entry per packet")
    labels = np.empty(count, dtype=np.uint8)
    cdef uint8_t[::1] out = labels
    cdef uint64_t parts = partitions, pair
    with nogil:
        for row in range(count):
            if not is_tracked(status[row]):
                out[row] = 255
            elif row and tunnel[row] != NO_TUNNEL and tunnel_depth[row - 1] and tunnel[row - 1] == NO_TUNNEL:
                out[row] = out[row - 1]
            else:
                pair = (src_hi[row] ^ src_lo[row]) + (dst_hi[row] ^ dst_lo[row])
                out[row] = ((mix64(pair) >> 32) * parts) >> 32
    return labels
