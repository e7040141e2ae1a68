# cython: language_level=3
"""The flow-table fold: packets into conversations, one packet at a time, without the GIL.

A :class:`FlowTable` takes the tracked packets of one partition in capture order, batch after
batch (:meth:`FlowTable.fold`), and keeps one record per conversation (its layout is in
flowtable.pxd; :mod:`pcapflow._kernels.flowexport` makes columns of them). A conversation is the transport protocol and both
(address, port) endpoints, direction-free: endpoint A is the smaller (address, then port), and a
packet's direction is 0 when A sent it. A packet starts a new conversation on its key when

- no conversation of the key was seen yet;
- it comes more than the protocol's idle timeout after the latest packet of the key's current
  conversation (that one ends ``idle``);
- it is a TCP SYN without ACK whose sequence number is not the current conversation's latest
  initial-sequence evidence (a SYN's own sequence number, a SYN-ACK's acknowledgement - 1):
  port reuse, that one ends ``reuse``. A retransmitted SYN, or a SYN answering a SYN-ACK seen
  first, continues the conversation.

Non-first IP fragments carry no ports: each joins the conversation of its datagram's first
fragment (same addresses, protocol and IP id), the latest one before it within
:data:`FRAGMENT_TIMEOUT_NS`, else the first one after it within that time, for which it is held.
Held fragments whose first fragment never comes are counted in ``orphan_fragments``. What is
remembered for fragments is let go once the table's clock (its latest packet) has passed it by
the timeout plus :data:`EXPIRY_SLACK_NS`: timestamps that run back by less than that give the
same result however the packets were cut into batches or partitions.

With payload inspection on (:meth:`FlowTable.inspect`), each conversation keeps its first
payload bytes per direction (early.pxd: TCP in sequence order, retransmitted and overlapping
bytes dropped, nothing after a gap; UDP its first datagrams), ``EARLY_BYTES`` at most, in a
slot of the table's pools, while the compiled signatures cannot decide its protocol yet; then
the slot is freed (apps that name their server keep it until the table is exported) and later
packets cost one check. A slot is small (``SMALL_ROOM`` per direction) until a direction
outgrows it, so that what the naming apps keep (most often a DNS exchange) takes little memory.
"""

import numpy as np

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport INT64_MAX, INT64_MIN, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from pcapflow._kernels.bytes cimport pf_grow
from pcapflow._kernels.constants cimport *
from pcapflow._kernels.dnsanswers cimport answers_in
from pcapflow._kernels.early cimport early_append, early_bytes, early_decide, early_in_order, early_sequence, pool_give, pool_take
from pcapflow._kernels.entries cimport (
    _datagram_hash, _entries_append, _entries_find, _entries_init, _entries_point, _entries_rebuild, _entry,
)
from pcapflow._kernels.hashing cimport (
    SLOT_EMPTY, SLOT_REMOVED, Index, hash_address, index_free, index_home, index_init, mix64, slot_entry, slot_home, slot_matches,
    slot_value,
)
from pcapflow._kernels.signatures cimport APP_NONE, APP_UNDECIDED, EARLY_BYTES, OPAQUE, Signatures

cdef int64_t NEVER = INT64_MAX
cdef int64_t FRAGMENT_TIMEOUT = 300 * 1000000000  # Zeek's frag_timeout
cdef int64_t EXPIRY_SLACK = 60 * 1000000000
FRAGMENT_TIMEOUT_NS = FRAGMENT_TIMEOUT
EXPIRY_SLACK_NS = EXPIRY_SLACK


cdef inline void _packet_of(Packet *p, Py_ssize_t row, int64_t records_before, const int64_t[::1] record_index,
                            const int64_t[::1] ts_ns, const uint32_t[::1] wirelen, const uint16_t[::1] vlan_id,
                            const uint8_t[::1] ip_version, const uint64_t[::1] src_ip_hi, const uint64_t[::1] src_ip_lo,
                            const uint64_t[::1] dst_ip_hi, const uint64_t[::1] dst_ip_lo, const uint8_t[::1] ip_proto,
                            const uint32_t[::1] ip_bytes, const uint32_t[::1] ip_id, const uint16_t[::1] src_port,
                            const uint16_t[::1] dst_port, const uint16_t[::1] tcp_flags, const uint32_t[::1] tcp_seq,
                            const uint32_t[::1] tcp_ack, const uint8_t[::1] icmp_type, const uint8_t[::1] icmp_code,
                            const uint32_t[::1] payload_bytes) noexcept nogil:
    """The fields of packet ``row``, with Zeek's and Community ID's ICMP "ports": the type, and
    the counterpart type of a request/reply pair or the code of a one-way message."""
    cdef int partner
    p.record, p.ts = records_before + record_index[row], ts_ns[row]
    p.src_hi, p.src_lo, p.dst_hi, p.dst_lo = src_ip_hi[row], src_ip_lo[row], dst_ip_hi[row], dst_ip_lo[row]
    p.src_port, p.dst_port, p.vlan, p.flags = src_port[row], dst_port[row], vlan_id[row], tcp_flags[row]
    p.proto, p.ip_version = ip_proto[row], ip_version[row]
    p.seq, p.ack, p.wirelen, p.ip_bytes = tcp_seq[row], tcp_ack[row], wirelen[row], ip_bytes[row]
    p.payload_bytes, p.ip_id = payload_bytes[row], ip_id[row]
    if p.proto == IPPROTO_ICMP or p.proto == IPPROTO_ICMPV6:
        partner = icmp_counterpart(p.proto, icmp_type[row])
        p.src_port = icmp_type[row]
        p.dst_port = partner if partner >= 0 else icmp_code[row]


cdef class FlowTable:
    """Conversations of one partition's packets (see the module docstring)."""

    def __cinit__(self, int64_t tcp_timeout_ns, int64_t udp_timeout_ns, int64_t other_timeout_ns, bint vlan_in_key,
                  bint colliding_hashes=False):
        """``colliding_hashes`` gives every key one hash (for tests: grouping must stay exact)."""
        self.tcp_timeout, self.udp_timeout, self.other_timeout = tcp_timeout_ns, udp_timeout_ns, other_timeout_ns
        self.vlan_in_key, self.colliding = vlan_in_key, colliding_hashes
        self.clock = INT64_MIN
        self.signatures = None
        self.pools[POOL_SMALL].room, self.pools[POOL_LARGE].room = SMALL_ROOM, EARLY_BYTES
        if (index_init(&self.flows, 1 << 14) < 0 or _entries_init(&self.firsts, sizeof(FirstFragment), colliding_hashes) < 0
                or _entries_init(&self.held, sizeof(HeldFragment), colliding_hashes) < 0):
            raise MemoryError("no memory for a flow table")

    def __dealloc__(self):
        free(self.conversations)
        index_free(&self.flows)
        free(self.firsts.data)
        index_free(&self.firsts.index)
        free(self.held.data)
        index_free(&self.held.index)
        cdef int pool
        for pool in range(POOLS):
            free(self.pools[pool].data)
            free(self.pools[pool].free_slots)

    def __len__(self):
        return self.count

    def inspect(self, Signatures signatures, const uint8_t[::1] keeps_bytes):
        """Identify conversations' protocols with ``signatures`` from their first payload bytes;
        ``keeps_bytes[app]``: the app's first bytes stay for :meth:`first_bytes`."""
        if self.count:
            raise ValueError("payload inspection must be set before the first packet")
        self.signatures, self.keeps_bytes = signatures, keeps_bytes

    def first_bytes(self, Py_ssize_t index, int direction):
        """The first payload bytes a conversation kept from one direction (b"" when none)."""
        if not 0 <= index < self.count or direction not in (0, 1):
            raise IndexError(f"no conversation {index} direction {direction}")
        cdef Conversation *c = &self.conversations[index]
        if c.early < 0:
            return b""
        return (<char *>early_bytes(self.pools, c, direction))[:c.early_length[direction]]

    def first_bytes_memory(self):
        """What the first bytes take: (slots in use in the small pool, in the large pool, bytes
        the pools hold)."""
        cdef Pool *small = &self.pools[POOL_SMALL]
        cdef Pool *large = &self.pools[POOL_LARGE]
        return (small.slots - small.free_count, large.slots - large.free_count,
                small.slots * 2 * small.room + large.slots * 2 * large.room)

    def dns_answers(self, const int64_t[::1] indexes, const uint8_t[::1] tcp):
        """Per conversation of ``indexes`` (``tcp``: nonzero where it runs over TCP), the address
        answers of each direction whose first message kept is a response
        (:func:`pcapflow._kernels.dnsanswers.dns_answers`), each with the record of that
        direction's first packet with payload: a tuple of (hi, lo, name, record), or None."""
        cdef Py_ssize_t count = indexes.shape[0], at
        cdef int direction, length
        cdef int64_t record
        cdef const uint8_t *data
        cdef Conversation *c
        if tcp.shape[0] != count:
            raise ValueError("every conversation needs its transport")
        for at in range(count):
            if not 0 <= indexes[at] < self.count:
                raise IndexError(f"no conversation {indexes[at]} in a table of {self.count}")
        found = []
        for at in range(count):
            c = &self.conversations[indexes[at]]
            answers = []
            for direction in range(2 if c.early >= 0 else 0):
                data, length = early_bytes(self.pools, c, direction), c.early_length[direction]
                if length > 4 and data[4 if tcp[at] else 2] & 0x80:
                    record = c.first_letter[LETTER_DATA * 2 + direction]
                    record = -1 if record == NEVER else record
                    answers.extend([(hi, lo, name, record) for hi, lo, name in answers_in(data, length, tcp[at])])
            found.append(tuple(answers) if answers else None)
        return found

    def fold(self, int64_t records_before, const uint8_t[::1] labels, int partition,
             const uint8_t[::1] status, const int64_t[::1] record_index, const int64_t[::1] ts_ns,
             const uint32_t[::1] wirelen, const uint16_t[::1] vlan_id, const uint8_t[::1] ip_version,
             const uint64_t[::1] src_ip_hi, const uint64_t[::1] src_ip_lo, const uint64_t[::1] dst_ip_hi,
             const uint64_t[::1] dst_ip_lo, const uint8_t[::1] ip_proto, const uint32_t[::1] ip_bytes,
             const uint32_t[::1] ip_id, const uint16_t[::1] frag_offset, const uint8_t[::1] more_fragments,
             const uint16_t[::1] src_port, const uint16_t[::1] dst_port, const uint16_t[::1] tcp_flags,
             const uint32_t[::1] tcp_seq, const uint32_t[::1] tcp_ack, const uint8_t[::1] icmp_type,
             const uint8_t[::1] icmp_code, const uint32_t[::1] payload_bytes, const uint8_t[::1] tunnel,
             const uint8_t[::1] tunnel_depth, const int64_t[::1] tunnel_id, const int64_t[::1] early_at,
             const uint16_t[::1] early_length, const uint8_t[::1] early):
        """Fold the tracked packets of one batch (capture order) whose label is ``partition``
        (every tracked packet when ``labels`` is empty). ``records_before + record_index`` numbers
        the records of the whole capture. ``early_at``, ``early_length``: where each packet's first
        payload bytes are in ``early`` (:class:`~pcapflow._kernels.firstbytes.FirstBytes`), empty
        for none.

        A tunnelled frame comes as two rows, its carrier's headers (``tunnel`` NO_TUNNEL,
        ``tunnel_depth`` above 0) and right behind them its innermost packet's (``tunnel`` set): the
        inner packet's key adds its tunnel, tunnel id and the carrier's address pair to its
        5-tuple, and a conversation it starts has the carrier's conversation for parent."""
        cdef Py_ssize_t count = status.shape[0], row
        self._check_open()
        lengths = (record_index.shape[0], ts_ns.shape[0], wirelen.shape[0], vlan_id.shape[0], ip_version.shape[0],
                   src_ip_hi.shape[0], src_ip_lo.shape[0], dst_ip_hi.shape[0], dst_ip_lo.shape[0], ip_proto.shape[0],
                   ip_bytes.shape[0], ip_id.shape[0], frag_offset.shape[0], more_fragments.shape[0], src_port.shape[0],
                   dst_port.shape[0], tcp_flags.shape[0], tcp_seq.shape[0], tcp_ack.shape[0], icmp_type.shape[0],
                   icmp_code.shape[0], payload_bytes.shape[0], tunnel.shape[0], tunnel_depth.shape[0], tunnel_id.shape[0])
        if any(length != count for length in lengths) or (labels.shape[0] and labels.shape[0] != count):
            raise ValueError("every column of a batch must have one entry per packet")
        if early_length.shape[0] and (early_length.shape[0] != count or early_at.shape[0] != count):
            raise ValueError("every column of a batch must have one entry per packet")
        cdef bint inspecting = self.signatures is not None
        cdef bint with_bytes = early_length.shape[0] != 0
        cdef const uint8_t *early_data = &early[0] if early.shape[0] else NULL
        cdef Conversation *c
        cdef int length
        cdef bint opaque
        cdef bint labelled = labels.shape[0] != 0
        cdef int failed = 0
        cdef Packet packet
        cdef Key key
        cdef int64_t conversation, carrier = -1, carrier_record = -1
        cdef uint64_t carrier_a_hi = 0, carrier_a_lo = 0, carrier_b_hi = 0, carrier_b_lo = 0
        with nogil:
            for row in range(count):
                if not is_tracked(status[row]) or (labelled and labels[row] != partition):
                    continue
                _packet_of(&packet, row, records_before, record_index, ts_ns, wirelen, vlan_id, ip_version, src_ip_hi, src_ip_lo,
                           dst_ip_hi, dst_ip_lo, ip_proto, ip_bytes, ip_id, src_port, dst_port, tcp_flags, tcp_seq, tcp_ack,
                           icmp_type, icmp_code, payload_bytes)
                packet.tunnel, packet.tunnel_id, packet.parent = NO_TUNNEL, 0, -1
                packet.carrier_a_hi = packet.carrier_a_lo = packet.carrier_b_hi = packet.carrier_b_lo = 0
                if tunnel[row] != NO_TUNNEL:
                    packet.tunnel = tunnel[row] | (TUNNEL_HAS_ID if tunnel_id[row] >= 0 else 0)
                    packet.tunnel_id = <uint32_t>tunnel_id[row] if tunnel_id[row] >= 0 else 0
                    if carrier_record == packet.record:  # its carrier's row came right before it
                        packet.carrier_a_hi, packet.carrier_a_lo = carrier_a_hi, carrier_a_lo
                        packet.carrier_b_hi, packet.carrier_b_lo = carrier_b_hi, carrier_b_lo
                        packet.parent = carrier
                if packet.ts > self.clock:
                    self.clock = packet.ts
                if status[row] == FRAGMENT:
                    failed = self._fragment(&packet)
                else:
                    self._key(&packet, &key)
                    conversation = self._packet(&packet, &key)
                    failed = conversation < 0
                    if not failed and tunnel_depth[row] and tunnel[row] == NO_TUNNEL:  # a carrier
                        c = &self.conversations[conversation]
                        c.is_tunnel = 1
                        if c.app == APP_UNDECIDED:  # its payload is the tunnel's, no application's
                            c.app = APP_NONE
                            if c.early >= 0:
                                self._release(c)
                        carrier, carrier_record = conversation, packet.record
                        carrier_a_hi, carrier_a_lo, carrier_b_hi, carrier_b_lo = key.a_hi, key.a_lo, key.b_hi, key.b_lo
                    if not failed and inspecting:
                        c = &self.conversations[conversation]
                        if c.app == APP_UNDECIDED or c.early >= 0:
                            length = early_length[row] if with_bytes else 0
                            opaque, length = (length & OPAQUE) != 0, length & ~OPAQUE
                            if length and (early_at[row] < 0 or early_at[row] + length > early.shape[0]):
                                length = 0
                            failed = self._payload(c, &packet, key.direction, early_data + early_at[row] if length else NULL, length, opaque)
                    if not failed and more_fragments[row] and frag_offset[row] == 0:
                        failed = self._first_fragment(&packet, conversation)
                if failed:
                    break
            if not failed:
                failed = self._expire(False)
        if failed:
            raise MemoryError("no memory for the flow table")

    cdef void _key(self, const Packet *p, Key *key) noexcept nogil:
        """The direction-free key of a packet with ports: endpoint A is the smaller."""
        cdef bint src_first = p.src_hi < p.dst_hi or (p.src_hi == p.dst_hi and (
            p.src_lo < p.dst_lo or (p.src_lo == p.dst_lo and p.src_port <= p.dst_port)))
        cdef uint64_t ports
        key.direction = 0 if src_first else 1
        if src_first:
            key.a_hi, key.a_lo, key.a_port = p.src_hi, p.src_lo, p.src_port
            key.b_hi, key.b_lo, key.b_port = p.dst_hi, p.dst_lo, p.dst_port
        else:
            key.a_hi, key.a_lo, key.a_port = p.dst_hi, p.dst_lo, p.dst_port
            key.b_hi, key.b_lo, key.b_port = p.src_hi, p.src_lo, p.src_port
        key.vlan = p.vlan if self.vlan_in_key else NO_VLAN
        ports = p.proto | (<uint64_t>key.a_port << 8) | (<uint64_t>key.b_port << 24) | (<uint64_t>key.vlan << 40)
        key.hash = 0 if self.colliding else mix64(hash_address(key.a_hi, key.a_lo) + mix64(hash_address(key.b_hi, key.b_lo) ^ ports))
        if p.tunnel and not self.colliding:
            key.hash ^= mix64(_keyed_id(p.tunnel, p.tunnel_id) + (<uint64_t>p.tunnel << 32) + hash_address(p.carrier_a_hi, p.carrier_a_lo)
                              + hash_address(p.carrier_b_hi, p.carrier_b_lo))

    cdef int64_t _packet(self, const Packet *p, const Key *key) noexcept nogil:
        """Fold one packet with ports; the index of its conversation, or -1 when memory runs out."""
        cdef uint64_t at, slot, hash = key.hash
        cdef Conversation *c
        cdef int64_t index = -1, timeout
        cdef bint syn = p.proto == IPPROTO_TCP and (p.flags & (TCP_SYN | TCP_ACK)) == TCP_SYN
        if (self.flows.used + 1) * 2 > self.flows.mask + 1 and self._grow_flows() < 0:
            return -1
        at = index_home(&self.flows, hash)
        while True:
            slot = self.flows.slots[at]
            if slot == SLOT_EMPTY:
                break
            if slot_matches(slot, hash):
                c = &self.conversations[slot_entry(slot)]
                if (c.a_hi == key.a_hi and c.a_lo == key.a_lo and c.b_hi == key.b_hi and c.b_lo == key.b_lo
                        and c.a_port == key.a_port and c.b_port == key.b_port and c.proto == p.proto and c.key_vlan == key.vlan
                        and c.tunnel == p.tunnel and (p.tunnel == NO_TUNNEL or _same_tunnel(c, p))):
                    index = slot_entry(slot)
                    break
            at = (at + 1) & self.flows.mask
        if index >= 0:
            c = &self.conversations[index]
            timeout = self.tcp_timeout if p.proto == IPPROTO_TCP else (self.udp_timeout if p.proto == IPPROTO_UDP else self.other_timeout)
            if p.ts - c.last_seen > timeout:
                c.ended_by = ENDED_IDLE
                index = -1
            elif syn and (not c.has_marker or c.marker != p.seq):
                c.ended_by = ENDED_REUSE
                index = -1
            else:
                self._add(c, p, key.direction)
                return index
        else:
            self.flows.used += 1
        # a conversation starts with this packet
        if self.count == self.capacity and self._grow_conversations() < 0:
            return -1
        index = self.count
        self.count += 1
        c = &self.conversations[index]
        c.a_hi, c.a_lo, c.b_hi, c.b_lo, c.a_port, c.b_port = key.a_hi, key.a_lo, key.b_hi, key.b_lo, key.a_port, key.b_port
        c.key_vlan, c.vlan, c.proto, c.ip_version = key.vlan, p.vlan, p.proto, p.ip_version
        c.first_sender, c.ended_by, c.has_marker, c.marker = key.direction, ENDED_OPEN, 0, 0
        c.tunnel, c.tunnel_id, c.parent, c.is_tunnel = p.tunnel, p.tunnel_id, p.parent, 0
        c.carrier_a_hi, c.carrier_a_lo, c.carrier_b_hi, c.carrier_b_lo = p.carrier_a_hi, p.carrier_a_lo, p.carrier_b_hi, p.carrier_b_lo
        c.first_record, c.first_seen, c.last_seen = p.record, p.ts, p.ts
        c.packets[0] = c.packets[1] = c.bytes[0] = c.bytes[1] = 0
        c.ip_bytes[0] = c.ip_bytes[1] = c.payload_bytes[0] = c.payload_bytes[1] = 0
        for slot in range(2 * LETTERS):
            c.first_letter[slot] = NEVER
        c.app = APP_UNDECIDED if self.signatures is not None else APP_NONE
        c.app_basis, c.seq_started, c.early, c.early_pool = 0, 0, -1, POOL_SMALL
        c.early_length[0] = c.early_length[1] = c.early_first[0] = c.early_first[1] = 0
        c.early_segments[0] = c.early_segments[1] = c.early_opaque = 0
        self._add(c, p, key.direction)
        self.flows.slots[at] = slot_value(hash, index)
        return index

    cdef void _add(self, Conversation *c, const Packet *p, int direction) noexcept nogil:
        """Count a packet in a conversation: counters, latest time, history letters, evidence."""
        cdef uint16_t flags = p.flags if p.proto == IPPROTO_TCP else 0
        cdef bint syn = (flags & TCP_SYN) != 0, ack = (flags & TCP_ACK) != 0
        cdef bint fin = (flags & TCP_FIN) != 0, rst = (flags & TCP_RST) != 0
        c.packets[direction] += 1
        c.bytes[direction] += p.wirelen
        c.ip_bytes[direction] += p.ip_bytes
        c.payload_bytes[direction] += p.payload_bytes
        if p.ts > c.last_seen:
            c.last_seen = p.ts
        if p.record < c.first_record:  # a fragment held for its first fragment came first
            c.first_record, c.first_seen, c.first_sender, c.vlan = p.record, p.ts, direction, p.vlan
        if syn and not ack:
            _letter(c, LETTER_SYN, direction, p.record)
            c.marker, c.has_marker = p.seq, 1  # a SYN shows its own initial sequence number
        if syn and ack:
            _letter(c, LETTER_SYN_ACK, direction, p.record)
            c.marker, c.has_marker = <uint32_t>(p.ack - 1), 1  # a SYN-ACK the one it acknowledges
        if ack and not syn and not fin and not rst and p.proto == IPPROTO_TCP and p.payload_bytes == 0:
            _letter(c, LETTER_ACK, direction, p.record)
        if p.payload_bytes > 0:
            _letter(c, LETTER_DATA, direction, p.record)
        if fin:
            _letter(c, LETTER_FIN, direction, p.record)
        if rst:
            _letter(c, LETTER_RST, direction, p.record)

    cdef int _payload(self, Conversation *c, const Packet *p, int direction, const uint8_t *data, int length, bint opaque) noexcept nogil:
        """Keep a packet's first payload bytes (``length`` of them at ``data``; ``opaque``: a
        stream's first segment that can match nothing, without its bytes) while they may be
        needed; decide the protocol when they are enough. -1 when memory runs out."""
        cdef int skip
        early_sequence(c, p, direction)
        if length == 0 and not opaque:
            return 0
        skip = early_in_order(c, p, direction)
        if skip < 0 or (skip >= length and not opaque):
            return 0
        if c.early < 0:
            if c.app != APP_UNDECIDED:
                return 0
            c.early, c.early_pool = pool_take(&self.pools[POOL_SMALL]), POOL_SMALL
            if c.early < 0:
                return -1
            c.early_length[0] = c.early_length[1] = c.early_segments[0] = c.early_segments[1] = c.early_opaque = 0
        if opaque:
            c.early_opaque |= 1 << direction
            if c.early_segments[direction] < 255:
                c.early_segments[direction] += 1
        else:
            if early_append(c, self.pools, direction, data + skip, length - skip) < 0:
                return -1
        if c.app == APP_UNDECIDED:
            self._identify(c, False)
        return 0

    cdef void _identify(self, Conversation *c, bint final) noexcept nogil:
        cdef uint8_t basis = 0
        cdef int app = early_decide(self.signatures, c, self.pools, final, &basis)
        if app == APP_UNDECIDED:
            return
        c.app, c.app_basis = app, basis if app >= 0 else 0
        if app < 0 or not self.keeps_bytes[app]:
            self._release(c)

    cdef void _release(self, Conversation *c) noexcept nogil:
        pool_give(&self.pools[c.early_pool], c.early)
        c.early = -1

    cdef int _fragment(self, const Packet *p) noexcept nogil:
        """A non-first fragment joins its datagram's conversation, or waits for its first fragment."""
        cdef Datagram key
        cdef uint64_t hash
        cdef Py_ssize_t found, at
        cdef FirstFragment *first
        cdef HeldFragment *held
        key.src_hi, key.src_lo, key.dst_hi, key.dst_lo, key.ip_id, key.proto = p.src_hi, p.src_lo, p.dst_hi, p.dst_lo, p.ip_id, p.proto
        hash = 0 if self.colliding else _datagram_hash(&key)
        found = _entries_find(&self.firsts, &key, hash)
        if found >= 0:
            first = <FirstFragment *>_entry(&self.firsts, found)
            if first.alive and -FRAGMENT_TIMEOUT <= p.ts - first.ts <= FRAGMENT_TIMEOUT:
                self._add(&self.conversations[first.conversation], p, first.direction)
                return 0
        at = _entries_append(&self.held)
        if at < 0:
            return -1
        held = <HeldFragment *>_entry(&self.held, at)
        found = _entries_find(&self.held, &key, hash)
        held.key, held.packet, held.alive = key, p[0], True
        held.previous = found + self.held.dropped if found >= 0 else -1
        _entries_point(&self.held, &key, hash, at)
        return 0

    cdef int _first_fragment(self, const Packet *p, int64_t conversation) noexcept nogil:
        """Remember a first fragment for the fragments after it; take in those held for it."""
        cdef Datagram key
        cdef uint64_t hash
        cdef Py_ssize_t found, at
        cdef FirstFragment *first
        cdef HeldFragment *held
        cdef Conversation *c = &self.conversations[conversation]
        cdef uint8_t direction = 0 if (c.a_hi == p.src_hi and c.a_lo == p.src_lo and c.a_port == p.src_port) else 1
        key.src_hi, key.src_lo, key.dst_hi, key.dst_lo, key.ip_id, key.proto = p.src_hi, p.src_lo, p.dst_hi, p.dst_lo, p.ip_id, p.proto
        hash = 0 if self.colliding else _datagram_hash(&key)
        found = _entries_find(&self.firsts, &key, hash)
        if found >= 0:  # the same id again: it names the newer datagram
            (<FirstFragment *>_entry(&self.firsts, found)).alive = False
        at = _entries_append(&self.firsts)
        if at < 0:
            return -1
        first = <FirstFragment *>_entry(&self.firsts, at)
        first.key, first.ts, first.conversation, first.direction, first.alive = key, p.ts, conversation, direction, True
        _entries_point(&self.firsts, &key, hash, at)
        found = _entries_find(&self.held, &key, hash)
        while found >= 0:
            held = <HeldFragment *>_entry(&self.held, found)
            if held.alive and -FRAGMENT_TIMEOUT <= held.packet.ts - p.ts <= FRAGMENT_TIMEOUT:
                held.alive = False
                self._add(&self.conversations[conversation], &held.packet, direction)
            found = held.previous - self.held.dropped if held.previous >= 0 else -1
            if found < self.held.start:
                found = -1
        return 0

    cdef int _expire(self, bint everything) noexcept nogil:
        """Let go of what fragments can no longer use (all of it at the end); held fragments let
        go of are orphans. -1 when memory runs out."""
        cdef int64_t horizon = self.clock - FRAGMENT_TIMEOUT - EXPIRY_SLACK
        cdef FirstFragment *first
        cdef HeldFragment *held
        while self.firsts.start < self.firsts.count:
            first = <FirstFragment *>_entry(&self.firsts, self.firsts.start)
            if first.alive and first.ts >= horizon and not everything:
                break
            self.firsts.start += 1
        while self.held.start < self.held.count:
            held = <HeldFragment *>_entry(&self.held, self.held.start)
            if held.alive and held.packet.ts >= horizon and not everything:
                break
            self.orphan_fragments += held.alive
            self.held.start += 1
        # the entries let go of are dropped from memory once they are half of what is kept
        if self.firsts.start > 1024 and self.firsts.start * 2 > self.firsts.count and _entries_rebuild(&self.firsts, self.firsts.index.mask + 1) < 0:
            return -1
        if self.held.start > 1024 and self.held.start * 2 > self.held.count and _entries_rebuild(&self.held, self.held.index.mask + 1) < 0:
            return -1
        return 0

    cdef int _grow_conversations(self) noexcept nogil:
        cdef Py_ssize_t capacity = self.capacity * 2 + 1024
        if pf_grow(<void **>&self.conversations, capacity, sizeof(Conversation)) < 0:
            return -1
        self.capacity = capacity
        return 0

    cdef int _grow_flows(self) noexcept nogil:
        """Double the flow index, re-placing every slot by its tag."""
        cdef Index old = self.flows
        cdef uint64_t at, slot, position
        if index_init(&self.flows, (old.mask + 1) * 2) < 0:
            self.flows = old
            return -1
        for position in range(old.mask + 1):
            slot = old.slots[position]
            if slot <= SLOT_REMOVED:
                continue
            at = slot_home(&self.flows, slot)
            while self.flows.slots[at] != SLOT_EMPTY:
                at = (at + 1) & self.flows.mask
            self.flows.slots[at] = slot
            self.flows.used += 1
        index_free(&old)
        return 0

    def __reduce__(self):
        """Pickled as its settings and its memory: the raw bytes of the conversation, index and
        fragment arrays, whatever their structs hold, with the structs' sizes to check them by
        (a closed table is not pickled: it has no index)."""
        self._check_open()
        settings = (self.tcp_timeout, self.udp_timeout, self.other_timeout, self.vlan_in_key, self.colliding)
        inspection = None
        if self.signatures is not None:  # with the pools of first bytes, free slots and all
            inspection = (self.signatures, np.asarray(self.keeps_bytes), tuple([_pool_state(&self.pools[pool]) for pool in range(POOLS)]))
        state = ((sizeof(Conversation), sizeof(FirstFragment), sizeof(HeldFragment)), self.clock, self.orphan_fragments,
                 _raw(self.conversations, self.count * sizeof(Conversation)), _index_state(&self.flows),
                 _entries_state(&self.firsts), _entries_state(&self.held), inspection)
        return FlowTable, settings, state

    def __setstate__(self, state):
        sizes, self.clock, self.orphan_fragments, conversations, flows, firsts, held, inspection = state
        if sizes != (sizeof(Conversation), sizeof(FirstFragment), sizeof(HeldFragment)):
            raise ValueError("this flow table was pickled by a build of pcapflow with other structs")
        free(self.conversations)
        self.count = self.capacity = len(conversations) // sizeof(Conversation)
        self.conversations = <Conversation *>_copied(conversations)
        _index_restore(&self.flows, flows)
        _entries_restore(&self.firsts, firsts)
        _entries_restore(&self.held, held)
        if inspection is not None:
            self.signatures, self.keeps_bytes, pools = inspection
            for pool, (data, free_slots, free_count) in enumerate(pools):
                free(self.pools[pool].data)
                free(self.pools[pool].free_slots)
                self.pools[pool].data, self.pools[pool].free_slots = NULL, NULL  # not left dangling should a copy fail
                self.pools[pool].slots = self.pools[pool].free_count = 0
                self.pools[pool].data = <uint8_t *>_copied(data)
                self.pools[pool].free_slots = <int32_t *>_copied(free_slots)
                self.pools[pool].slots, self.pools[pool].free_count = len(free_slots) // sizeof(int32_t), free_count

    def close(self):
        """The end of the capture: fragments still held are orphans; protocols still undecided
        are decided with the bytes there are. The table takes no more packets, and lets go of
        the index that found a packet's conversation: its columns are made next, and on a large
        capture the finishing partitions are the peak of memory."""
        cdef Py_ssize_t index
        cdef Conversation *c
        with nogil:
            self._expire(True)
            for index in range(self.count):
                c = &self.conversations[index]
                if c.app == APP_UNDECIDED:
                    if c.early >= 0:
                        self._identify(c, True)
                    else:
                        c.app = APP_NONE
            index_free(&self.flows)

    cdef void _check_open(self) except *:
        if self.flows.slots == NULL:
            raise ValueError("this flow table is closed: it takes no more packets")

    def first_records(self):
        """The first record of every conversation, in the order they started."""
        out = np.empty(self.count, dtype=np.int64)
        cdef int64_t[::1] view = out
        cdef Py_ssize_t index
        for index in range(self.count):
            view[index] = self.conversations[index].first_record
        return out


cdef bytes _raw(const void *data, Py_ssize_t size):
    return PyBytes_FromStringAndSize(<const char *>data, size) if size else b""


cdef void *_copied(bytes raw) except? NULL:
    """A malloc'd copy of ``raw`` (NULL when it is empty)."""
    cdef Py_ssize_t size = len(raw)
    cdef void *data
    if not size:
        return NULL
    data = malloc(size)
    if data == NULL:
        raise MemoryError("no memory for a flow table")
    memcpy(data, PyBytes_AS_STRING(raw), size)
    return data


cdef tuple _pool_state(const Pool *pool):
    return (_raw(pool.data, pool.slots * 2 * pool.room), _raw(pool.free_slots, pool.slots * sizeof(int32_t)), pool.free_count)


cdef tuple _index_state(const Index *index):
    return index.used, _raw(index.slots, (index.mask + 1) * sizeof(uint64_t))


cdef void _index_restore(Index *index, tuple state) except *:
    used, slots = state
    index_free(index)
    if index_init(index, len(slots) // sizeof(uint64_t)) < 0:
        raise MemoryError("no memory for a flow table")
    memcpy(index.slots, PyBytes_AS_STRING(slots), len(slots))
    index.used = used


cdef tuple _entries_state(const Entries *entries):
    """The entries not let go of, and the index to them."""
    return (entries.start, entries.dropped, _raw(entries.data, entries.count * entries.size), _index_state(&entries.index))


cdef void _entries_restore(Entries *entries, tuple state) except *:
    entries.start, entries.dropped, data, index = state
    free(entries.data)
    entries.data = NULL  # not left dangling should the copy fail
    entries.data = <char *>_copied(data)
    entries.count = entries.capacity = len(data) // entries.size
    _index_restore(&entries.index, index)


cdef inline uint32_t _keyed_id(uint8_t tunnel, uint32_t tunnel_id) noexcept nogil:
    """The part of a tunnel id in an inner key: none for GTP-U and PPTP, whose TEID or call id
    names the receiving end's tunnel or call, one per direction (keyed, each direction of a
    connection would be a conversation of its own; Zeek and tshark key them by their endpoints
    too); the id otherwise."""
    cdef uint8_t kind = tunnel & ~TUNNEL_HAS_ID
    return 0 if kind == TUNNEL_GTP_U or kind == TUNNEL_PPTP else tunnel_id


cdef inline bint _same_tunnel(const Conversation *c, const Packet *p) noexcept nogil:
    return (_keyed_id(c.tunnel, c.tunnel_id) == _keyed_id(p.tunnel, p.tunnel_id) and c.carrier_a_hi == p.carrier_a_hi
            and c.carrier_a_lo == p.carrier_a_lo and c.carrier_b_hi == p.carrier_b_hi and c.carrier_b_lo == p.carrier_b_lo)


cdef inline void _letter(Conversation *c, int letter, int direction, int64_t record) noexcept nogil:
    if record < c.first_letter[letter * 2 + direction]:
        c.first_letter[letter * 2 + direction] = record
