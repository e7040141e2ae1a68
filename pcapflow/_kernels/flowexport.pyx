# cython: language_level=3
"""The flow table's conversations as numpy columns: :func:`export_columns` gives the
:data:`FLOW_FIELDS` (declared, with their meanings, in pcapflow.tracking.columns)."""

import numpy as np

from libc.stdint cimport INT64_MAX, int16_t, int64_t, uint8_t, uint16_t, uint64_t

from pcapflow._kernels.flowtable cimport ENDED_IDLE, ENDED_OPEN, ENDED_REUSE, LETTERS, TUNNEL_HAS_ID, Conversation, FlowTable

cdef enum:
    HISTORY_TIE = 0x10  # see _history_order

cdef int64_t NEVER = INT64_MAX
#: Zeek's history letters, named in the order the flow table keeps them (s h a d f r).
LETTER_NAMES = ("syn", "syn_ack", "ack", "data", "fin", "rst")


def export_columns(FlowTable table, const int64_t[::1] order):
    """The :data:`FLOW_FIELDS` of the conversations of ``table`` that ``order`` lists, as numpy arrays."""
    cdef Py_ssize_t n = order.shape[0], row, side
    for row in range(n):
        if not 0 <= order[row] < table.count:
            raise IndexError(f"no conversation {order[row]} in a table of {table.count}")
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
HISTORY_TIE_FLAG = HISTORY_TIE
ENDED = {"open": ENDED_OPEN, "reuse": ENDED_REUSE, "idle": ENDED_IDLE}
