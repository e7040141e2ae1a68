# The flow table's memory layout, declared for the modules that work on it (flowtable.pyx folds
# packets into it, flowexport.pyx exports its conversations as columns).

cimport cython
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from pcapflow._kernels.hashing cimport Index
from pcapflow._kernels.signatures cimport Signatures

cdef enum:
    LETTER_SYN = 0  # Zeek's history letters, in their columns' order: s h a d f r
    LETTER_SYN_ACK = 1
    LETTER_ACK = 2
    LETTER_DATA = 3
    LETTER_FIN = 4
    LETTER_RST = 5
    LETTERS = 6
    ENDED_OPEN = 0
    ENDED_REUSE = 1
    ENDED_IDLE = 2
    TUNNEL_HAS_ID = 0x80  # in a conversation's tunnel: its encapsulation names an id (0 is one)
    POOL_SMALL = 0  # the pool a conversation's first bytes start in: SMALL_ROOM per direction
    POOL_LARGE = 1  # and the one they move to when a direction outgrows it: EARLY_BYTES per direction
    POOLS = 2
    SMALL_ROOM = 512  # most DNS messages, SSH banners and HTTP requests fit


cdef struct Conversation:
    # what every packet reads or adds to first, in its first two cache lines
    uint64_t a_hi, a_lo, b_hi, b_lo
    uint16_t a_port, b_port, key_vlan, vlan
    uint8_t proto, ip_version, first_sender, ended_by, has_marker
    uint8_t tunnel  # key: the innermost encapsulation (constants Tunnel), TUNNEL_HAS_ID set when it names an id
    uint32_t marker
    uint32_t tunnel_id  # key (not a TEID or PPTP call id, see _keyed_id): VNI, TEID, GRE key or call id (with TUNNEL_HAS_ID)
    int64_t last_seen
    int64_t packets[2]
    int64_t bytes[2]
    int64_t ip_bytes[2]
    int64_t payload_bytes[2]
    int64_t first_record, first_seen
    int64_t first_letter[12]  # first record showing each letter, per direction: letter * 2 + direction
    # payload inspection: the app (signatures.pxd: APP_UNDECIDED until decided), and while the
    # first bytes are kept, their slot in one of the table's pools (-1: none) and per direction what is kept
    int16_t app
    uint8_t app_basis, seq_started  # seq_started: bit per direction, next_seq is known
    uint8_t early_pool  # POOL_SMALL or POOL_LARGE
    int32_t early
    uint16_t early_length[2], early_first[2]
    uint8_t early_segments[2]
    uint8_t early_opaque  # bit per direction: its first segment can match nothing (signatures.pxd: OPAQUE)
    uint32_t next_seq[2]
    # a tunnelled conversation's carrier address pair (direction-free, part of its key), and its
    # parent: the conversation of the carrier of its first packet (-1: none); a carrier's is_tunnel
    uint64_t carrier_a_hi, carrier_a_lo, carrier_b_hi, carrier_b_lo
    int64_t parent
    uint8_t is_tunnel


cdef struct Packet:
    int64_t record, ts
    uint64_t src_hi, src_lo, dst_hi, dst_lo
    uint16_t src_port, dst_port, vlan, flags
    uint8_t proto, ip_version, tunnel
    uint32_t seq, ack, wirelen, ip_bytes, payload_bytes, ip_id, tunnel_id
    uint64_t carrier_a_hi, carrier_a_lo, carrier_b_hi, carrier_b_lo  # of a tunnelled packet, else 0
    int64_t parent  # the conversation of its carrier, -1 for none


cdef struct Pool:
    # fixed-size slots of first bytes, room bytes per direction, and the free ones
    uint8_t *data
    int32_t *free_slots
    Py_ssize_t slots, free_count
    int room


cdef struct Key:
    # a packet's conversation key, direction-free, and its hash
    uint64_t a_hi, a_lo, b_hi, b_lo, hash
    uint16_t a_port, b_port, vlan
    uint8_t direction  # 0: A sent the packet


cdef struct Datagram:
    # what names a fragmented datagram (the first member of the entries below)
    uint64_t src_hi, src_lo, dst_hi, dst_lo
    uint32_t ip_id
    uint8_t proto


cdef struct FirstFragment:
    Datagram key
    int64_t ts
    uint32_t conversation
    uint8_t direction
    bint alive


cdef struct HeldFragment:
    Datagram key
    Packet packet
    int64_t previous  # the number of the entry held before it for the same datagram, -1 if none
    bint alive


cdef struct Entries:
    # A queue of fixed-size entries in arrival order, with an index by key to the latest entry of
    # each key. Entries before ``start`` are let go of; once they are many they are dropped from
    # memory (``dropped`` counts them), so an entry's number stays its position + ``dropped``.
    char *data
    Py_ssize_t size, start, count, capacity, dropped
    Index index
    bint colliding  # every key hashes to 0 (see FlowTable)


@cython.final  # no subclass: its methods are called directly, and may be inlined
cdef class FlowTable:
    cdef Conversation *conversations
    cdef Py_ssize_t count, capacity
    cdef Index flows  # key -> the key's current conversation
    cdef Entries firsts  # first fragments, for the fragments after them
    cdef Entries held  # fragments waiting for their first fragment
    cdef int64_t tcp_timeout, udp_timeout, other_timeout, clock
    cdef bint vlan_in_key, colliding
    cdef public int64_t orphan_fragments
    cdef Signatures signatures  # None: no payload inspection
    cdef const uint8_t[::1] keeps_bytes  # per app: its first bytes stay for server names
    cdef Pool pools[POOLS]

    cdef void _key(self, const Packet *p, Key *key) noexcept nogil
    cdef int64_t _packet(self, const Packet *p, const Key *key) noexcept nogil
    cdef void _add(self, Conversation *c, const Packet *p, int direction) noexcept nogil
    cdef int _payload(self, Conversation *c, const Packet *p, int direction, const uint8_t *data, int length, bint opaque) noexcept nogil
    cdef void _identify(self, Conversation *c, bint final) noexcept nogil
    cdef void _release(self, Conversation *c) noexcept nogil
    cdef int _fragment(self, const Packet *p) noexcept nogil
    cdef int _first_fragment(self, const Packet *p, int64_t conversation) noexcept nogil
    cdef int _expire(self, bint everything) noexcept nogil
    cdef int _grow_conversations(self) noexcept nogil
    cdef int _grow_flows(self) noexcept nogil
    cdef void _check_open(self) except *
