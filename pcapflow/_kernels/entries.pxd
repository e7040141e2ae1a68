# Queues of fixed-size entries (the flow table's first fragments and held fragments), each with
# an index by datagram to its latest entry: small inline functions the fold calls.

from libc.stdint cimport uint64_t
from libc.string cimport memmove

from pcapflow._kernels.bytes cimport pf_grow
from pcapflow._kernels.flowtable cimport Datagram, Entries
from pcapflow._kernels.hashing cimport (
    SLOT_EMPTY, hash_address, index_free, index_home, index_init, mix64, slot_entry, slot_matches, slot_value,
)


cdef inline uint64_t _datagram_hash(const Datagram *key) noexcept nogil:
    return mix64(hash_address(key.src_hi, key.src_lo) ^ mix64(hash_address(key.dst_hi, key.dst_lo)) ^ ((<uint64_t>key.ip_id << 8) | key.proto))


cdef inline bint _same_datagram(const Datagram *x, const Datagram *y) noexcept nogil:
    return (x.src_hi == y.src_hi and x.src_lo == y.src_lo and x.dst_hi == y.dst_hi and x.dst_lo == y.dst_lo
            and x.ip_id == y.ip_id and x.proto == y.proto)


cdef inline char *_entry(Entries *entries, Py_ssize_t at) noexcept nogil:
    return entries.data + at * entries.size


cdef inline int _entries_init(Entries *entries, Py_ssize_t size, bint colliding) noexcept nogil:
    entries.data, entries.size, entries.start, entries.count, entries.capacity, entries.dropped = NULL, size, 0, 0, 0, 0
    entries.colliding = colliding
    return index_init(&entries.index, 64)


cdef inline Py_ssize_t _entries_append(Entries *entries) noexcept nogil:
    """Room for one more entry at the end, and for its key in the index; the entry's position,
    or -1 when memory runs out. (The index is rebuilt here, if it must be, so that positions the
    caller holds stay valid until the next append.)"""
    cdef Py_ssize_t capacity
    if (entries.index.used + 1) * 2 > entries.index.mask + 1 and _entries_rebuild(entries, (entries.index.mask + 1) * 2) < 0:
        return -1
    if entries.count == entries.capacity:
        capacity = entries.capacity * 2 + 64
        if pf_grow(<void **>&entries.data, capacity, entries.size) < 0:
            return -1
        entries.capacity = capacity
    entries.count += 1
    return entries.count - 1


cdef inline Py_ssize_t _entries_find(Entries *entries, const Datagram *key, uint64_t hash) noexcept nogil:
    """The position of the latest entry of ``key`` not let go of, or -1."""
    cdef uint64_t at = index_home(&entries.index, hash), slot
    while True:
        slot = entries.index.slots[at]
        if slot == SLOT_EMPTY:
            return -1
        if slot_matches(slot, hash) and _same_datagram(<Datagram *>_entry(entries, slot_entry(slot)), key):
            return slot_entry(slot) if <Py_ssize_t>slot_entry(slot) >= entries.start else -1
        at = (at + 1) & entries.index.mask


cdef inline void _entries_point(Entries *entries, const Datagram *key, uint64_t hash, Py_ssize_t position) noexcept nogil:
    """Make the index give ``position`` for ``key`` (the index has room: see _entries_append)."""
    cdef uint64_t at, slot
    at = index_home(&entries.index, hash)
    while True:
        slot = entries.index.slots[at]
        if slot == SLOT_EMPTY or (slot_matches(slot, hash) and _same_datagram(<Datagram *>_entry(entries, slot_entry(slot)), key)):
            if slot == SLOT_EMPTY:
                entries.index.used += 1
            entries.index.slots[at] = slot_value(hash, position)
            return
        at = (at + 1) & entries.index.mask


cdef inline int _entries_rebuild(Entries *entries, uint64_t capacity) noexcept nogil:
    """A fresh index of the live entries (the latest entry per key), dropping the dead ones
    before ``start`` from memory; -1 when memory runs out."""
    cdef Py_ssize_t at
    cdef Datagram *key
    index_free(&entries.index)
    if index_init(&entries.index, capacity) < 0:
        return -1
    if entries.start:
        memmove(entries.data, _entry(entries, entries.start), (entries.count - entries.start) * entries.size)
        entries.count -= entries.start
        entries.dropped += entries.start
        entries.start = 0
    for at in range(entries.count):
        key = <Datagram *>_entry(entries, at)
        _entries_point(entries, key, _datagram_hash(key) if not entries.colliding else 0, at)
    return 0
