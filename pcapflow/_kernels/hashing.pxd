# Hashing shared by the flow-table fold and the address-pair partitions, and an open-addressing
# index: slots hold (32-bit tag << 32) | (entry + 2), 0 for an empty slot, 1 for a removed one.
# The index only points at entries; its users keep the keys in their entries and compare them,
# so two keys with one hash never merge.

from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport free

from pcapflow._kernels.bytes cimport pf_zeroed

cdef enum:
    SLOT_EMPTY = 0
    SLOT_REMOVED = 1


cdef inline uint64_t mix64(uint64_t value) noexcept nogil:
    # the splitmix64 finaliser
    value ^= value >> 30
    value *= <uint64_t>0xBF58476D1CE4E5B9
    value ^= value >> 27
    value *= <uint64_t>0x94D049BB133111EB
    value ^= value >> 31
    return value


cdef inline uint64_t hash_address(uint64_t hi, uint64_t lo) noexcept nogil:
    return mix64(hi * <uint64_t>0x9E3779B97F4A7C15 + mix64(lo))


cdef struct Index:
    uint64_t *slots
    uint64_t mask  # capacity - 1 (a power of two, 2 to 2**32)
    uint64_t used  # slots not empty (removed ones included)
    int shift  # 64 - log2(capacity)


cdef inline int index_init(Index *index, uint64_t capacity) noexcept nogil:
    index.slots = <uint64_t *>pf_zeroed(capacity, sizeof(uint64_t))
    index.mask = capacity - 1
    index.used = 0
    index.shift = 64
    while capacity > 1:
        capacity >>= 1
        index.shift -= 1
    return -1 if index.slots == NULL else 0


cdef inline uint64_t index_home(const Index *index, uint64_t hash) noexcept nogil:
    # A key's first slot comes from the top bits of its hash, which its slot's tag keeps: a
    # growing index re-places every slot from the slot alone, without reading the entries.
    return hash >> index.shift


cdef inline uint64_t slot_home(const Index *index, uint64_t slot) noexcept nogil:
    return (slot >> 32) >> (index.shift - 32)


cdef inline void index_free(Index *index) noexcept nogil:
    free(index.slots)
    index.slots = NULL


cdef inline uint64_t slot_value(uint64_t hash, uint64_t entry) noexcept nogil:
    return ((hash >> 32) << 32) | (entry + 2)


cdef inline bint slot_matches(uint64_t slot, uint64_t hash) noexcept nogil:
    return slot > SLOT_REMOVED and (slot >> 32) == (hash >> 32)


cdef inline uint64_t slot_entry(uint64_t slot) noexcept nogil:
    return (slot & <uint64_t>0xFFFFFFFF) - 2
