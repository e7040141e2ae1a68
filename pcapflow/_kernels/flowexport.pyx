# cython: language_level=3
"""The flow table's conversations as numpy columns (both declared, with their meanings, in
pcapflow.tracking.columns):

- :func:`export_columns` gives the :data:`FLOW_FIELDS`, as the table keeps them: by endpoint
  (A, B);
- :func:`role_columns` fills the :data:`ROLE_FIELDS` of the tracker's columns: by role (client,
  server), with the roles, ``conn_state`` and ``end_reason`` decided by the rules that
  pcapflow.tracking.roles and pcapflow.tracking.state document.
"""

import numpy as np

from libc.stdint cimport INT64_MAX, int16_t, int64_t, uint8_t, uint16_t, uint64_t

from pcapflow._kernels.constants cimport *
from pcapflow._kernels.flowtable cimport (
    ENDED_IDLE, ENDED_OPEN, ENDED_REUSE, LETTER_ACK, LETTER_FIN, LETTER_RST, LETTER_SYN, LETTER_SYN_ACK, LETTERS, TUNNEL_HAS_ID,
    Conversation, FlowTable,
)

cdef enum:
    HISTORY_TIE = 0x10  # see _history_order
    # an endpoint's final TCP state in Zeek's conn_state rules (see _endpoint_state)
    ENDPOINT_INACTIVE = 0
    ENDPOINT_SYN_SENT = 1
    ENDPOINT_SYN_ACK_SENT = 2
    ENDPOINT_PARTIAL = 3
    ENDPOINT_ESTABLISHED = 4
    ENDPOINT_CLOSED = 5
    ENDPOINT_RESET = 6

cdef int64_t NEVER = INT64_MAX
#: Zeek's history letters, named in the order the flow table keeps them (s h a d f r).
LETTER_NAMES = ("syn", "syn_ack", "ack", "data", "fin", "rst")


def export_columns(FlowTable table, const int64_t[::1] order):
    """The :data:`FLOW_FIELDS` of the conversations of ``table`` that ``order`` lists, as numpy arrays."""
    cdef Py_ssize_t n = order.shape[0], row, side
    _check_order(table, order)
    narrow = {name: np.empty(n, dtype=dtype) for name, dtype in NARROW_FIELDS}
    wide = np.empty((len(WIDE_FIELDS), n), dtype=np.int64)  # one contiguous row per field
    cdef uint8_t[::1] proto = narrow["proto"], ip_version = narrow["ip_version"]
    cdef uint8_t[::1] first_sender = narrow["first_sender"], ended_by = narrow["ended_by"]
    cdef uint16_t[::1] vlan = narrow["vlan"], a_port = narrow["a_port"], b_port = narrow["b_port"]
    cdef uint64_t[::1] a_hi = narrow["a_ip_hi"], a_lo = narrow["a_ip_lo"], b_hi = narrow["b_ip_hi"], b_lo = narrow["b_ip_lo"]
    cdef uint64_t[::1] history = narrow["history_order"]
    cdef int16_t[::1] app = narrow["app"]
    cdef uint8_t[::1] app_basis = narrow["app_basis"], tunnel = narrow["tunnel"], is_tunnel = narrow["is_tunnel"]
    cdef int64_t[::1] tunnel_id = narrow["tunnel_id"], parent = narrow["parent"]
    cdef int64_t[:, ::1] out = wide
    cdef const Conversation *c
    with nogil:
        for row in range(n):
            c = &table.conversations[order[row]]
            proto[row], ip_version[row], vlan[row] = c.proto, c.ip_version, c.vlan
            first_sender[row], ended_by[row] = c.first_sender, c.ended_by
            a_hi[row], a_lo[row], a_port[row] = c.a_hi, c.a_lo, c.a_port
            b_hi[row], b_lo[row], b_port[row] = c.b_hi, c.b_lo, c.b_port
            out[0, row], out[1, row], out[2, row] = c.first_record, c.first_seen, c.last_seen
            for side in range(2):
                out[3 + side, row] = c.packets[side]
                out[5 + side, row] = c.bytes[side]
                out[7 + side, row] = c.ip_bytes[side]
                out[9 + side, row] = c.payload_bytes[side]
            history[row] = _history_order(c)
            app[row], app_basis[row] = c.app if c.app >= 0 else -1, c.app_basis
            tunnel[row], is_tunnel[row], parent[row] = c.tunnel & ~TUNNEL_HAS_ID, c.is_tunnel, c.parent
            tunnel_id[row] = c.tunnel_id if c.tunnel & TUNNEL_HAS_ID else -1
    columns = dict(narrow)
    columns.update(zip(WIDE_FIELDS, wide))
    return {name: columns[name] for name, _ in FLOW_FIELDS}



cdef uint64_t _history_order(const Conversation *c) noexcept nogil:
    """The letters a conversation showed, in order of first appearance: 5 bits each, from the low
    bits up, of ``letter * 2 + direction + 1`` (so 0 ends the list), plus HISTORY_TIE when the
    letter first showed in the same packet as the one before it."""
    cdef int slots[12]
    cdef int count = 0, slot, at, moving
    cdef uint64_t code = 0
    for slot in range(2 * LETTERS):  # insertion sort by (first record, slot): at most 12 of them
        if c.first_letter[slot] == NEVER:
            continue
        at = count
        while at > 0 and c.first_letter[slots[at - 1]] > c.first_letter[slot]:
            slots[at] = slots[at - 1]
            at -= 1
        slots[at] = slot
        count += 1
    for at in range(count):
        moving = slots[at] + 1
        if at and c.first_letter[slots[at]] == c.first_letter[slots[at - 1]]:
            moving |= HISTORY_TIE
        code |= <uint64_t>moving << (5 * at)
    return code


def role_columns(FlowTable table, const int64_t[::1] order, int64_t capture_end, dict out):
    """Fill ``out``'s :data:`ROLE_FIELDS` (numpy arrays of the dtypes of
    pcapflow.tracking.columns.TRACKER_COLUMNS, one entry per entry of ``order``) for the
    conversations of ``table`` that ``order`` lists. ``capture_end`` is the latest timestamp of
    the capture (ns): a conversation silent for longer than its protocol's idle timeout (the
    table's, which split its key) before then ended on idle. ``parent_id`` is the parent's
    position in ``order``."""
    cdef Py_ssize_t n = order.shape[0], row, count = table.count
    _check_order(table, order)
    cdef uint8_t[::1] proto = _column(out, "proto", n), ip_version = _column(out, "ip_version", n)
    cdef uint16_t[::1] vlan = _column(out, "vlan", n)
    cdef int64_t[::1] first_record = _column(out, "first_record", n), role_basis = _column(out, "role_basis", n)
    cdef int64_t[::1] first_seen = _column(out, "first_seen", n), last_seen = _column(out, "last_seen", n)
    cdef uint64_t[::1] client_hi = _column(out, "client_ip_hi", n), client_lo = _column(out, "client_ip_lo", n)
    cdef uint64_t[::1] server_hi = _column(out, "server_ip_hi", n), server_lo = _column(out, "server_ip_lo", n)
    cdef uint16_t[::1] client_port = _column(out, "client_port", n), server_port = _column(out, "server_port", n)
    cdef int64_t[::1] client_packets = _column(out, "client_packets", n), server_packets = _column(out, "server_packets", n)
    cdef int64_t[::1] client_bytes = _column(out, "client_bytes", n), server_bytes = _column(out, "server_bytes", n)
    cdef int64_t[::1] client_ip_bytes = _column(out, "client_ip_bytes", n), server_ip_bytes = _column(out, "server_ip_bytes", n)
    cdef int64_t[::1] client_payload = _column(out, "client_payload_bytes", n)
    cdef int64_t[::1] server_payload = _column(out, "server_payload_bytes", n)
    cdef int64_t[::1] conn_state = _column(out, "conn_state", n), end_reason = _column(out, "end_reason", n)
    cdef uint8_t[::1] client_first = _flags(out, "client_first", n), client_is_a = _flags(out, "client_is_a", n)
    cdef uint64_t[::1] history = _column(out, "history_order", n)
    cdef int16_t[::1] app = _column(out, "app", n)
    cdef uint8_t[::1] app_basis = _column(out, "app_basis", n), tunnel = _column(out, "tunnel", n)
    cdef int64_t[::1] tunnel_id = _column(out, "tunnel_id", n), parent = _column(out, "parent_id", n)
    cdef uint8_t[::1] is_tunnel = _flags(out, "is_tunnel", n)
    cdef const Conversation *c
    cdef int client, server
    cdef int64_t basis, timeout
    cdef bint parented = False
    with nogil:
        for row in range(n):
            c = &table.conversations[order[row]]
            client = _client_side(c, &basis)
            server = 1 - client
            first_record[row], first_seen[row], last_seen[row] = c.first_record, c.first_seen, c.last_seen
            proto[row], ip_version[row], vlan[row], role_basis[row] = c.proto, c.ip_version, c.vlan, basis
            if client == 0:
                client_hi[row], client_lo[row], client_port[row] = c.a_hi, c.a_lo, c.a_port
                server_hi[row], server_lo[row], server_port[row] = c.b_hi, c.b_lo, c.b_port
            else:
                client_hi[row], client_lo[row], client_port[row] = c.b_hi, c.b_lo, c.b_port
                server_hi[row], server_lo[row], server_port[row] = c.a_hi, c.a_lo, c.a_port
            client_packets[row], server_packets[row] = c.packets[client], c.packets[server]
            client_bytes[row], server_bytes[row] = c.bytes[client], c.bytes[server]
            client_ip_bytes[row], server_ip_bytes[row] = c.ip_bytes[client], c.ip_bytes[server]
            client_payload[row], server_payload[row] = c.payload_bytes[client], c.payload_bytes[server]
            if c.proto == IPPROTO_TCP:
                conn_state[row] = _tcp_state(c, client)
            elif c.proto == IPPROTO_UDP:
                conn_state[row] = _udp_state(c, client)
            else:
                conn_state[row] = CONN_OTH
            client_first[row], client_is_a[row] = c.first_sender == client, client == 0
            history[row] = _history_order(c)
            timeout = table.tcp_timeout if c.proto == IPPROTO_TCP else (table.udp_timeout if c.proto == IPPROTO_UDP else table.other_timeout)
            end_reason[row] = _end_reason(c, capture_end, timeout)
            app[row] = c.app if c.app >= 0 else -1
            app_basis[row] = c.app_basis if c.app >= 0 else 0
            tunnel[row], is_tunnel[row] = c.tunnel & ~TUNNEL_HAS_ID, c.is_tunnel != 0
            tunnel_id[row] = c.tunnel_id if c.tunnel & TUNNEL_HAS_ID else -1
            parent[row] = c.parent if c.parent >= 0 else -1  # a flow-table index, made a position below
            parented |= c.parent >= 0
    if parented:  # tunnelled conversations: the position in ``order`` of every flow-table index
        position = np.full(count, -1, dtype=np.int64)
        _parent_positions(order, parent, position)


cdef void _check_order(FlowTable table, const int64_t[::1] order) except *:
    cdef Py_ssize_t row
    for row in range(order.shape[0]):
        if not 0 <= order[row] < table.count:
            raise IndexError(f"no conversation {order[row]} in a table of {table.count}")


cdef object _column(dict out, str name, Py_ssize_t n):
    column = out[name]
    if len(column) != n:
        raise ValueError(f"column {name} has {len(column)} entries for {n} conversations")
    return column


cdef object _flags(dict out, str name, Py_ssize_t n):
    """A bool column, as the bytes a memoryview can take."""
    column = _column(out, name, n)
    if column.dtype != np.bool_:
        raise ValueError(f"column {name} must be bool, not {column.dtype}")
    return column.view(np.uint8)


cdef void _parent_positions(const int64_t[::1] order, int64_t[::1] parent, int64_t[::1] position) except *:
    """Turn ``parent``'s flow-table indexes (-1: none) into positions in ``order``."""
    cdef Py_ssize_t row, n = order.shape[0], count = position.shape[0]
    cdef bint outside = False
    with nogil:
        for row in range(n):
            position[order[row]] = row
        for row in range(n):
            if parent[row] >= 0:
                if parent[row] >= count or position[parent[row]] < 0:
                    outside = True
                    break
                parent[row] = position[parent[row]]
    if outside:
        raise ValueError("a conversation's parent is not among the conversations listed")


cdef inline int64_t _first(const Conversation *c, int letter, int direction) noexcept nogil:
    """The first record that showed ``letter`` from ``direction`` (NEVER: none). The rules only
    compare these, so they need no ranks: letters first shown by one packet tie."""
    return c.first_letter[letter * 2 + direction]


cdef inline bint _seen(const Conversation *c, int letter, int direction) noexcept nogil:
    return c.first_letter[letter * 2 + direction] != NEVER


cdef inline int _port_rank(uint16_t port) noexcept nogil:
    """Strength of the evidence that a port is a server's: 2 well known, 1 registered range, 0 dynamic."""
    return 2 if port < 1024 else (1 if port < 49152 else 0)


cdef int _client_side(const Conversation *c, int64_t *basis) noexcept nogil:
    """The client's direction (0: endpoint A) by the first rule of pcapflow.tracking.roles that
    applies, and in ``basis`` that rule (RoleBasis)."""
    cdef int64_t syn_a = _first(c, LETTER_SYN, 0), syn_b = _first(c, LETTER_SYN, 1)
    cdef int64_t syn_ack_a = _first(c, LETTER_SYN_ACK, 0), syn_ack_b = _first(c, LETTER_SYN_ACK, 1)
    cdef bint a_request, b_request
    cdef int a_rank, b_rank
    if syn_a != NEVER or syn_b != NEVER:
        basis[0] = ROLE_SYN
        return 0 if syn_a < syn_b else 1
    if syn_ack_a != NEVER or syn_ack_b != NEVER:
        basis[0] = ROLE_SYN_ACK
        return 0 if syn_ack_b < syn_ack_a else 1
    basis[0] = ROLE_PORT
    if c.proto == IPPROTO_ICMP or c.proto == IPPROTO_ICMPV6:  # the "ports" are message types
        a_request, b_request = icmp_is_request(c.proto, c.a_port), icmp_is_request(c.proto, c.b_port)
        if a_request != b_request:
            return 0 if a_request else 1
    else:
        a_rank, b_rank = _port_rank(c.a_port), _port_rank(c.b_port)
        if a_rank != b_rank:
            return 0 if a_rank < b_rank else 1
    basis[0] = ROLE_FIRST_PACKET
    return 0 if c.first_sender == 0 else 1


cdef int _endpoint_state(const Conversation *c, int side, bint is_client, bint handshake) noexcept nogil:
    """An endpoint's final TCP state from what it sent (pcapflow.tracking.state): the client's
    SYN counts before its SYN-ACK, the server's SYN-ACK before its SYN."""
    if _seen(c, LETTER_RST, side):
        return ENDPOINT_RESET
    if _seen(c, LETTER_FIN, side):
        return ENDPOINT_CLOSED
    if handshake:
        return ENDPOINT_ESTABLISHED
    if is_client:
        if _seen(c, LETTER_SYN, side):
            return ENDPOINT_SYN_SENT
        if _seen(c, LETTER_SYN_ACK, side):
            return ENDPOINT_SYN_ACK_SENT
    else:
        if _seen(c, LETTER_SYN_ACK, side):
            return ENDPOINT_SYN_ACK_SENT
        if _seen(c, LETTER_SYN, side):
            return ENDPOINT_SYN_SENT
    return ENDPOINT_PARTIAL if c.packets[side] > 0 else ENDPOINT_INACTIVE


cdef int64_t _tcp_state(const Conversation *c, int client) noexcept nogil:
    """Zeek's conn_state of a TCP conversation (ConnState), by the rules of pcapflow.tracking.state."""
    cdef int server = 1 - client
    cdef bint handshake = (_seen(c, LETTER_SYN, client) or _seen(c, LETTER_SYN_ACK, client)) and _seen(c, LETTER_SYN_ACK, server)
    cdef int orig = _endpoint_state(c, client, True, handshake), resp = _endpoint_state(c, server, False, handshake)
    cdef bint o_inactive = orig == ENDPOINT_INACTIVE or orig == ENDPOINT_PARTIAL
    cdef bint r_inactive = resp == ENDPOINT_INACTIVE or resp == ENDPOINT_PARTIAL
    cdef int64_t syn, rst
    if resp == ENDPOINT_RESET:
        if (orig == ENDPOINT_SYN_SENT or orig == ENDPOINT_SYN_ACK_SENT
                or (orig == ENDPOINT_RESET and c.payload_bytes[0] == 0 and c.payload_bytes[1] == 0)):
            return CONN_REJ
        return CONN_RSTRH if o_inactive else CONN_RSTR
    if orig == ENDPOINT_RESET:
        if not r_inactive:
            return CONN_RSTO
        # Zeek's /^?S[^HAFGIQ]*R/: the client's SYN, then its RST, with no handshake, ACK or FIN between
        syn, rst = _first(c, LETTER_SYN, client), _first(c, LETTER_RST, client)
        if (syn != NEVER and rst > syn and not _seen(c, LETTER_SYN_ACK, client)
                and min(_first(c, LETTER_ACK, client), _first(c, LETTER_FIN, client)) > rst):
            return CONN_RSTOS0
        return CONN_OTH
    if orig == ENDPOINT_CLOSED and resp == ENDPOINT_CLOSED:
        return CONN_SF
    if orig == ENDPOINT_CLOSED:
        return CONN_SH if r_inactive else CONN_S2
    if resp == ENDPOINT_CLOSED:
        return CONN_SHR if o_inactive else CONN_S3
    if orig == ENDPOINT_SYN_SENT and resp == ENDPOINT_INACTIVE:
        return CONN_S0
    if orig == ENDPOINT_ESTABLISHED and resp == ENDPOINT_ESTABLISHED:
        return CONN_S1
    return CONN_OTH


cdef inline int64_t _udp_state(const Conversation *c, int client) noexcept nogil:
    if c.packets[client] > 0:
        return CONN_SF if c.packets[1 - client] > 0 else CONN_S0
    return CONN_SHR if c.packets[1 - client] > 0 else CONN_OTH


cdef inline int64_t _end_reason(const Conversation *c, int64_t capture_end, int64_t timeout) noexcept nogil:
    """Why a conversation ended (EndReason), by the rules of pcapflow.tracking.state."""
    if _seen(c, LETTER_RST, 0) or _seen(c, LETTER_RST, 1):
        return REASON_RST
    if _seen(c, LETTER_FIN, 0) and _seen(c, LETTER_FIN, 1):
        return REASON_FIN
    if c.ended_by == ENDED_REUSE:
        return REASON_REUSE
    # the silence before the end wraps around as numpy's int64 does (and C's signed overflow must not)
    if c.ended_by == ENDED_IDLE or <int64_t>(<uint64_t>capture_end - <uint64_t>c.last_seen) > timeout:
        return REASON_IDLE_TIMEOUT
    return REASON_END_OF_CAPTURE


NARROW_FIELDS = (
    ("proto", np.uint8), ("ip_version", np.uint8), ("vlan", np.uint16),
    ("a_ip_hi", np.uint64), ("a_ip_lo", np.uint64), ("a_port", np.uint16),
    ("b_ip_hi", np.uint64), ("b_ip_lo", np.uint64), ("b_port", np.uint16),
    ("first_sender", np.uint8), ("ended_by", np.uint8), ("history_order", np.uint64),
    ("app", np.int16), ("app_basis", np.uint8), ("tunnel", np.uint8), ("tunnel_id", np.int64), ("parent", np.int64),
    ("is_tunnel", np.uint8),
)
WIDE_FIELDS = (
    "first_record", "first_seen", "last_seen",
    "packets_a", "packets_b", "bytes_a", "bytes_b", "ip_bytes_a", "ip_bytes_b", "payload_bytes_a", "payload_bytes_b",
)
#: The columns :meth:`FlowTable.columns` exports, in order, with their dtypes (see
#: pcapflow.tracking.columns for what each means).
FLOW_FIELDS = (*NARROW_FIELDS[:10], *((name, np.int64) for name in WIDE_FIELDS), *NARROW_FIELDS[10:])
#: The tracker's columns :func:`role_columns` fills (pcapflow.tracking.columns.TRACKER_COLUMNS
#: gives their dtypes); the others need Python objects or none of the table.
ROLE_FIELDS = (
    "first_record", "proto", "ip_version", "vlan", "role_basis", "first_seen", "last_seen",
    *(f"{side}_{part}" for side in ("client", "server") for part in ("ip_hi", "ip_lo", "port")),
    *(f"{side}_{measure}" for measure in ("packets", "bytes", "ip_bytes", "payload_bytes") for side in ("client", "server")),
    "conn_state", "client_first", "client_is_a", "history_order", "end_reason", "app", "app_basis", "tunnel", "tunnel_id",
    "parent_id", "is_tunnel",
)
HISTORY_TIE_FLAG = HISTORY_TIE
ENDED = {"open": ENDED_OPEN, "reuse": ENDED_REUSE, "idle": ENDED_IDLE}
