# The compiled signature table (signatures.pyx), for the flow table's fold to identify protocols.
cimport cython
from libc.stdint cimport int16_t, int32_t, uint8_t, uint16_t

cdef enum:
    EARLY_BYTES = 2048  # first payload bytes kept per direction while the protocol is undecided
    OPAQUE = 0x8000  # FirstBytes: a stream's first segment that no signature can match, sent without its bytes
    APP_UNDECIDED = -2
    APP_NONE = -1
    BASIS_BOTH = 1
    BASIS_CLIENT = 2
    BASIS_SERVER = 3


cdef struct Side:
    # what one side of a conversation sent first, in order
    const uint8_t *data
    int length  # bytes kept
    int first  # the first segment's or datagram's length (kept part)
    int segments  # data segments or datagrams kept from
    bint opaque  # its first segment can match no signature (its bytes were not kept)


@cython.final
cdef class Signatures:
    cdef Py_ssize_t count
    cdef const uint8_t[::1] transport, both, checks, blob, mask
    # per (signature, side): the offset of its patterns' key byte, and 32 bytes, a bit per byte
    # a pattern may have there (see _key_bytes)
    cdef const int32_t[::1] key_at
    cdef const uint8_t[::1] key_bytes
    # possible()'s screen per transport kind (TCP, UDP, other): its slots with patterns (from
    # screen_slots_first[kind]; from screen_deep[kind] those keyed past the first byte) and the
    # union of the others' key bytes, its distinct checks (from screen_first[kind]), whether any
    # signature applies
    cdef const uint8_t[::1] screen_leading, screen_checks, screen_applies
    cdef const int32_t[::1] screen_slots, screen_slots_first, screen_deep, screen_first
    cdef const int32_t[::1] kind_signatures, kind_first  # per transport kind, its signatures (from kind_first[kind])
    cdef const uint16_t[::1] port
    cdef const int16_t[::1] app
    cdef const int32_t[::1] first_pattern, pattern_start, pattern_length  # first_pattern: per (signature, side), + 1

    cdef int _pattern(self, Py_ssize_t at, const Side *side) noexcept nogil
    cdef int _side(self, Py_ssize_t signature, int which, const Side *side, int proto) noexcept nogil
    cdef bint _may_match(self, Py_ssize_t slot, const Side *side) noexcept nogil
    cdef int _patterns(self, Py_ssize_t slot, const Side *side) noexcept nogil
    cdef bint possible(self, const Side *side, int proto) noexcept nogil
    cdef int identify(self, const Side *client, const Side *server, int proto, int server_port, bint final,
                      uint8_t *basis) noexcept nogil
