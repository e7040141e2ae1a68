# A conversation's first payload bytes in sequence order, and the decision on its protocol:
# small inline functions the flow table's fold calls for each packet carrying payload bytes.

from libc.stdint cimport INT64_MAX, int32_t, int64_t, uint8_t, uint16_t, uint32_t
from libc.string cimport memcpy

from pcapflow._kernels.bytes cimport pf_grow
from pcapflow._kernels.constants cimport IPPROTO_TCP
from pcapflow._kernels.flowtable cimport LETTER_SYN, LETTER_SYN_ACK, POOL_LARGE, POOL_SMALL, Conversation, Packet, Pool
from pcapflow._kernels.signatures cimport APP_UNDECIDED, EARLY_BYTES, Side, Signatures


cdef inline void early_sequence(Conversation *c, const Packet *p, int direction) noexcept nogil:
    """A SYN or SYN-ACK tells where a direction's bytes start."""
    if p.proto == IPPROTO_TCP and (p.flags & 0x02):
        c.next_seq[direction] = p.seq + 1
        c.seq_started |= 1 << direction


cdef inline int early_in_order(Conversation *c, const Packet *p, int direction) noexcept nogil:
    """How many of a TCP segment's first bytes repeat bytes kept already (its new bytes follow
    them); -1 when it lies wholly before or after what is kept (retransmission, gap)."""
    cdef int32_t ahead
    cdef uint32_t skip
    if p.proto != IPPROTO_TCP:
        return 0
    if not (c.seq_started >> direction) & 1:
        c.next_seq[direction] = p.seq
        c.seq_started |= 1 << direction
    ahead = <int32_t>(p.seq - c.next_seq[direction])
    if ahead > 0:
        return -1  # a gap: bytes before it are missing (out of order or not captured)
    skip = <uint32_t>(-ahead)
    if skip >= p.payload_bytes:
        return -1
    c.next_seq[direction] = p.seq + p.payload_bytes
    return <int>skip


cdef inline uint8_t *early_bytes(Pool *pools, const Conversation *c, int direction) noexcept nogil:
    """Where the bytes kept of one direction of a conversation holding a slot are."""
    cdef Pool *pool = &pools[c.early_pool]
    return pool.data + (<int64_t>c.early * 2 + direction) * pool.room


cdef inline int32_t pool_take(Pool *pool) noexcept nogil:
    """A free slot of the pool, which grows when it has none (-1: out of memory)."""
    cdef Py_ssize_t slots, at
    if pool.free_count == 0:
        slots = pool.slots * 2 + 256
        if pf_grow(<void **>&pool.data, slots, 2 * <size_t>pool.room) < 0 or pf_grow(<void **>&pool.free_slots, slots, sizeof(int32_t)) < 0:
            return -1
        for at in range(slots - 1, pool.slots - 1, -1):  # every slot before is taken: the free list is empty
            pool.free_slots[pool.free_count] = <int32_t>at
            pool.free_count += 1
        pool.slots = slots
    pool.free_count -= 1
    return pool.free_slots[pool.free_count]


cdef inline void pool_give(Pool *pool, int32_t slot) noexcept nogil:
    pool.free_slots[pool.free_count] = slot
    pool.free_count += 1


cdef inline int early_append(Conversation *c, Pool *pools, int direction, const uint8_t *data, int length) noexcept nogil:
    """Keep a segment's new bytes, moving the conversation's bytes to a large slot when a
    direction outgrows its small one (-1: out of memory)."""
    cdef int room = EARLY_BYTES - c.early_length[direction], side
    cdef int32_t large
    if length > room:
        length = room
    if length <= 0:
        return 0
    if c.early_pool == POOL_SMALL and c.early_length[direction] + length > pools[POOL_SMALL].room:
        large = pool_take(&pools[POOL_LARGE])
        if large < 0:
            return -1
        for side in range(2):
            memcpy(pools[POOL_LARGE].data + (<int64_t>large * 2 + side) * EARLY_BYTES, early_bytes(pools, c, side), c.early_length[side])
        pool_give(&pools[POOL_SMALL], c.early)
        c.early, c.early_pool = large, POOL_LARGE
    memcpy(early_bytes(pools, c, direction) + c.early_length[direction], data, length)
    if c.early_segments[direction] == 0:
        c.early_first[direction] = <uint16_t>length
    c.early_length[direction] += <uint16_t>length
    if c.early_segments[direction] < 255:
        c.early_segments[direction] += 1
    return 0


cdef inline int early_client(const Conversation *c) noexcept nogil:
    """The direction the client sends: the SYN's, else away from the SYN-ACK's, else the first packet's."""
    if c.first_letter[LETTER_SYN * 2] < INT64_MAX or c.first_letter[LETTER_SYN * 2 + 1] < INT64_MAX:
        return 0 if c.first_letter[LETTER_SYN * 2] <= c.first_letter[LETTER_SYN * 2 + 1] else 1
    if c.first_letter[LETTER_SYN_ACK * 2] < INT64_MAX or c.first_letter[LETTER_SYN_ACK * 2 + 1] < INT64_MAX:
        return 1 if c.first_letter[LETTER_SYN_ACK * 2] <= c.first_letter[LETTER_SYN_ACK * 2 + 1] else 0
    return c.first_sender


cdef inline int early_decide(Signatures signatures, const Conversation *c, Pool *pools, bint final, uint8_t *basis) noexcept nogil:
    """The conversation's app by the signatures (APP_UNDECIDED while they need more bytes)."""
    cdef Side sides[2]
    cdef int direction, client = early_client(c)
    for direction in range(2):
        sides[direction].data = early_bytes(pools, c, direction)
        sides[direction].length = c.early_length[direction]
        sides[direction].first = c.early_first[direction]
        sides[direction].segments = c.early_segments[direction]
        sides[direction].opaque = (c.early_opaque >> direction) & 1
    return signatures.identify(&sides[client], &sides[1 - client], c.proto, c.b_port if client == 0 else c.a_port, final, basis)
