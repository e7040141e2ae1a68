# A conversation's first payload bytes in sequence order, and the decision on its protocol:
# small inline functions the flow table's fold calls for each packet carrying payload bytes.

from libc.stdint cimport INT64_MAX, int32_t, int64_t, uint8_t, uint16_t, uint32_t
from libc.string cimport memcpy

from pcapflow._kernels.constants cimport IPPROTO_TCP
from pcapflow._kernels.flowtable cimport LETTER_SYN, LETTER_SYN_ACK, Conversation, Packet
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


cdef inline void early_append(Conversation *c, uint8_t *pool, int direction, const uint8_t *data, int length) noexcept nogil:
    cdef int room = EARLY_BYTES - c.early_length[direction]
    if length > room:
        length = room
    if length <= 0:
        return
    memcpy(pool + (<int64_t>c.early * 2 + direction) * EARLY_BYTES + c.early_length[direction], data, length)
    if c.early_segments[direction] == 0:
        c.early_first[direction] = <uint16_t>length
    c.early_length[direction] += <uint16_t>length
    if c.early_segments[direction] < 255:
        c.early_segments[direction] += 1


cdef inline int early_client(const Conversation *c) noexcept nogil:
    """The direction the client sends: the SYN's, else away from the SYN-ACK's, else the first packet's."""
    if c.first_letter[LETTER_SYN * 2] < INT64_MAX or c.first_letter[LETTER_SYN * 2 + 1] < INT64_MAX:
        return 0 if c.first_letter[LETTER_SYN * 2] <= c.first_letter[LETTER_SYN * 2 + 1] else 1
    if c.first_letter[LETTER_SYN_ACK * 2] < INT64_MAX or c.first_letter[LETTER_SYN_ACK * 2 + 1] < INT64_MAX:
        return 1 if c.first_letter[LETTER_SYN_ACK * 2] <= c.first_letter[LETTER_SYN_ACK * 2 + 1] else 0
    return c.first_sender


cdef inline int early_decide(Signatures signatures, const Conversation *c, const uint8_t *pool, bint final, uint8_t *basis) noexcept nogil:
    """The conversation's app by the signatures (APP_UNDECIDED while they need more bytes)."""
    cdef Side sides[2]
    cdef int direction, client = early_client(c)
    for direction in range(2):
        sides[direction].data = pool + (<int64_t>c.early * 2 + direction) * EARLY_BYTES
        sides[direction].length = c.early_length[direction]
        sides[direction].first = c.early_first[direction]
        sides[direction].segments = c.early_segments[direction]
        sides[direction].opaque = (c.early_opaque >> direction) & 1
    return signatures.identify(&sides[client], &sides[1 - client], c.proto, c.b_port if client == 0 else c.a_port, final, basis)
