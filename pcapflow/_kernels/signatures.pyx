# cython: language_level=3
"""The signature table (:data:`pcapflow.data.signatures.SIGNATURES`) compiled into arrays, and the
matcher the flow table's fold runs on a conversation's first payload bytes, without the GIL.

A side's match is 1 (it matches), 0 (it cannot) or 2 (too few bytes yet to say). The decision
(:meth:`Signatures.identify`): the first signature, in table order, that both sides match; else
the first that one side matches, once the other side has sent or the matching side has sent
:data:`ONE_SIDED_SEGMENTS` segments (a one-way flow); else no protocol, once nothing can still
match and both sides have sent, or a side has sent :data:`GIVE_UP_SEGMENTS` segments or filled
its :data:`EARLY_BYTES`. ``final`` (the conversation's end) decides with what there is.
"""

import numpy as np

from libc.stdint cimport int16_t, int32_t, uint8_t, uint16_t, uint32_t

from pcapflow._kernels.bytes cimport pf_be16, pf_be32
from pcapflow._kernels.constants cimport IPPROTO_TCP, IPPROTO_UDP

cdef enum:
    ONE_SIDED = 3  # segments of a side that matched alone before it decides without the other
    GIVE_UP = 4  # segments of a side that matched nothing before the conversation has no protocol
    NO_CHECK = 0
    MATCHES = 1
    NEEDS_MORE = 2

EARLY_BYTES_PER_DIRECTION = EARLY_BYTES
ONE_SIDED_SEGMENTS = ONE_SIDED
GIVE_UP_SEGMENTS = GIVE_UP
#: The named structural checks a signature may use, by number.
CHECKS = {name: number for number, name in enumerate((
    "", "http_request", "tls_client_hello", "tls_server_hello", "dtls_client_hello", "dtls_server_hello", "quic_initial",
    "quic_long", "socks", "resp_array", "kerberos_request", "kerberos_reply", "ldap_message", "dns_query", "dns_response",
    "ntp", "snmp", "wireguard_initiation", "wireguard_response", "openvpn_client_reset", "openvpn_server_reset",
    "tftp_request", "telnet", "syslog", "rtcp", "rtp",
))}
TRANSPORTS = {"any": 0, "tcp": IPPROTO_TCP, "udp": IPPROTO_UDP}


def compile_signatures(signatures, app_names):
    """The :class:`Signatures` of a table of :class:`~pcapflow.data.signatures.Signature`."""
    compiled = Signatures()
    blob, mask, starts, lengths, firsts = bytearray(), bytearray(), [], [], [0]
    checks = []
    for signature in signatures:
        for patterns, check in ((signature.client, signature.client_check), (signature.server, signature.server_check)):
            for pattern in patterns:
                starts.append(len(blob))
                lengths.append(len(pattern))
                blob += pattern
                mask += bytes(0 if byte == ord("?") else 0xFF for byte in pattern)
            firsts.append(len(starts))
            checks.append(CHECKS[check])
    compiled.count = len(signatures)
    compiled.transport = np.array([TRANSPORTS[s.transport] for s in signatures], dtype=np.uint8)
    compiled.both = np.array([s.both for s in signatures], dtype=np.uint8)
    compiled.port = np.array([s.port for s in signatures], dtype=np.uint16)
    compiled.app = np.array([app_names.index(s.app) for s in signatures], dtype=np.int16)
    compiled.checks = np.array(checks, dtype=np.uint8)
    compiled.blob = np.frombuffer(bytes(blob) or b"\0", dtype=np.uint8)
    compiled.mask = np.frombuffer(bytes(mask) or b"\0", dtype=np.uint8)
    compiled.first_pattern = np.array(firsts, dtype=np.int32)
    compiled.pattern_start = np.array(starts or [0], dtype=np.int32)
    compiled.pattern_length = np.array(lengths or [0], dtype=np.int32)
    compiled.key_at, compiled.key_bytes = _key_bytes(blob, mask, starts, lengths, firsts)
    _screening(compiled, signatures, checks, np.asarray(compiled.key_at), np.asarray(compiled.key_bytes).reshape(-1, 32))
    return compiled


def _key_bytes(blob, mask, starts, lengths, firsts):
    """Per (signature, side), the key byte of its patterns: the first offset every one of them
    fixes (not ``?``), and the 256-bit set of the bytes they have there. A side with a byte
    there that is not in the set matches none of them, which one bit test tells; a side
    shorter than the offset is matched pattern by pattern. A side with an empty pattern, or
    without a fixed offset common to its patterns, gets the set of every byte at offset 0."""
    slots = max(len(firsts) - 1, 1)
    key_at = np.zeros(slots, dtype=np.int32)
    key_bytes = np.zeros((slots, 32), dtype=np.uint8)
    for slot in range(len(firsts) - 1):
        patterns = range(firsts[slot], firsts[slot + 1])
        shortest = min((lengths[at] for at in patterns), default=0)
        fixed = [k for k in range(shortest) if all(mask[starts[at] + k] for at in patterns)]
        if not fixed:
            key_bytes[slot] = 0xFF if len(patterns) else 0  # no pattern: nothing to match
            continue
        key_at[slot] = fixed[0]
        for at in patterns:
            byte = blob[starts[at] + fixed[0]]
            key_bytes[slot, byte >> 3] |= 1 << (byte & 7)
    return key_at, key_bytes.reshape(-1)


def _screening(Signatures compiled, signatures, checks, key_at, key_bytes):
    """What :meth:`Signatures.identify` and :meth:`Signatures.possible` need per transport kind
    (TCP, UDP, other): its signatures, in table order; the (signature, side) slots of its
    signatures that have patterns, those keyed at the first byte first, with the union of those
    slots' key bytes; the distinct checks of its signatures; and whether any signature applies
    at all."""
    leading = np.zeros((3, 32), dtype=np.uint8)
    slots, slots_first, deep = [], [0], np.zeros(3, dtype=np.int32)
    applicable, applicable_first = [], [0]
    distinct, first, applies = [], [0], np.zeros(3, dtype=np.uint8)
    for kind, proto in enumerate((IPPROTO_TCP, IPPROTO_UDP, -1)):
        found, shallow, deeper = [], [], []
        for index, signature in enumerate(signatures):
            if TRANSPORTS[signature.transport] not in (0, proto):
                continue
            applies[kind] = 1
            applicable.append(index)
            for slot, patterns in ((index * 2, signature.client), (index * 2 + 1, signature.server)):
                if patterns:
                    (deeper if key_at[slot] else shallow).append(slot)
                    if not key_at[slot]:
                        leading[kind] |= key_bytes[slot]
                if checks[slot] != 0 and checks[slot] not in found:
                    found.append(checks[slot])
        deep[kind] = len(slots) + len(shallow)
        slots.extend(shallow + deeper)
        slots_first.append(len(slots))
        applicable_first.append(len(applicable))
        distinct.extend(found)
        first.append(len(distinct))
    compiled.screen_leading = leading.reshape(-1)
    compiled.screen_slots = np.array(slots or [0], dtype=np.int32)
    compiled.screen_slots_first = np.array(slots_first, dtype=np.int32)
    compiled.screen_deep = deep
    compiled.screen_checks = np.array(distinct or [0], dtype=np.uint8)
    compiled.screen_first = np.array(first, dtype=np.int32)
    compiled.screen_applies = applies
    compiled.kind_signatures = np.array(applicable or [0], dtype=np.int32)
    compiled.kind_first = np.array(applicable_first, dtype=np.int32)


def _restored(count, arrays):
    compiled = Signatures()
    compiled.count = count
    (compiled.transport, compiled.both, compiled.port, compiled.app, compiled.checks, compiled.blob, compiled.mask,
     compiled.first_pattern, compiled.pattern_start, compiled.pattern_length, compiled.key_at, compiled.key_bytes,
     compiled.screen_leading, compiled.screen_slots, compiled.screen_slots_first, compiled.screen_deep, compiled.screen_checks,
     compiled.screen_first, compiled.screen_applies, compiled.kind_signatures, compiled.kind_first) = arrays
    return compiled


cdef class Signatures:
    """A compiled signature table (make one with :func:`compile_signatures`)."""

    def __reduce__(self):
        """Pickled as its arrays (a flow table inspecting payload travels with its signatures)."""
        return _restored, (self.count, (np.asarray(self.transport), np.asarray(self.both), np.asarray(self.port),
                                        np.asarray(self.app), np.asarray(self.checks), np.asarray(self.blob),
                                        np.asarray(self.mask), np.asarray(self.first_pattern),
                                        np.asarray(self.pattern_start), np.asarray(self.pattern_length),
                                        np.asarray(self.key_at), np.asarray(self.key_bytes), np.asarray(self.screen_leading),
                                        np.asarray(self.screen_slots), np.asarray(self.screen_slots_first),
                                        np.asarray(self.screen_deep),
                                        np.asarray(self.screen_checks), np.asarray(self.screen_first),
                                        np.asarray(self.screen_applies), np.asarray(self.kind_signatures),
                                        np.asarray(self.kind_first)))

    cdef int _pattern(self, Py_ssize_t at, const Side *side) noexcept nogil:
        cdef int32_t start = self.pattern_start[at], length = self.pattern_length[at], i
        cdef int limit = length if length <= side.length else side.length
        for i in range(limit):
            if (side.data[i] & self.mask[start + i]) != (self.blob[start + i] & self.mask[start + i]):
                return 0
        return MATCHES if limit == length else NEEDS_MORE

    cdef inline int _side(self, Py_ssize_t signature, int which, const Side *side, int proto) noexcept nogil:
        """A side's match of one signature: most sides are ruled out by a key byte here,
        without a call (the matcher runs for every signature on each new segment)."""
        cdef Py_ssize_t slot = signature * 2 + which
        cdef int patterns = 0, checked = 0
        if side.opaque:
            return 0
        if side.length == 0:
            return NEEDS_MORE
        if self._may_match(slot, side):
            patterns = self._patterns(slot, side)
            if patterns == MATCHES:
                return MATCHES
        if self.checks[slot] != NO_CHECK:
            checked = _check(self.checks[slot], side, proto)
            if checked == MATCHES:
                return MATCHES
        return NEEDS_MORE if patterns == NEEDS_MORE or checked == NEEDS_MORE else 0

    cdef inline bint _may_match(self, Py_ssize_t slot, const Side *side) noexcept nogil:
        """False when the side's key byte rules out every pattern of (signature, side) ``slot``."""
        cdef int32_t at = self.key_at[slot]
        return side.length <= at or _has(self.key_bytes, slot, side.data[at])

    cdef int _patterns(self, Py_ssize_t slot, const Side *side) noexcept nogil:
        """A side's match of one (signature, side)'s patterns."""
        cdef Py_ssize_t at
        cdef int result = 0, one
        for at in range(self.first_pattern[slot], self.first_pattern[slot + 1]):
            one = self._pattern(at, side)
            if one == MATCHES:
                return MATCHES
            if one == NEEDS_MORE:
                result = NEEDS_MORE
        return result

    cdef bint possible(self, const Side *side, int proto) noexcept nogil:
        """Whether some signature may still match a side that starts so, on either side: the
        patterns its key bytes do not rule out (those keyed at the first byte only when some
        may begin with it), then each distinct check of the transport once."""
        cdef Py_ssize_t at, slot, kind = _kind(proto)
        if side.opaque:
            return False
        if side.length == 0:
            return self.screen_applies[kind] != 0
        for at in range(self.screen_slots_first[kind] if _has(self.screen_leading, kind, side.data[0]) else self.screen_deep[kind],
                        self.screen_slots_first[kind + 1]):
            slot = self.screen_slots[at]
            if self._may_match(slot, side) and self._patterns(slot, side):
                return True
        for at in range(self.screen_first[kind], self.screen_first[kind + 1]):
            if _check(self.screen_checks[at], side, proto):
                return True
        return False

    cdef int identify(self, const Side *client, const Side *server, int proto, int server_port, bint final,
                      uint8_t *basis) noexcept nogil:
        """The app number, APP_NONE, or APP_UNDECIDED (see the module docstring); ``basis`` set with an app."""
        cdef Py_ssize_t signature, at, alone = -1, kind = _kind(proto)
        cdef Py_ssize_t start = self.kind_first[kind], stop = self.kind_first[kind + 1]
        cdef int c, s, alone_basis = 0
        cdef bint waiting = False
        if client.opaque and server.opaque:
            stop = start  # an opaque side matches nothing: no signature can
        for at in range(start, stop):
            signature = self.kind_signatures[at]
            if self.port[signature] and self.port[signature] != server_port:
                continue
            c = self._side(signature, 0, client, proto)
            s = self._side(signature, 1, server, proto)
            if c == MATCHES and s == MATCHES:
                basis[0] = BASIS_BOTH
                return self.app[signature]
            if c == 0 and s == 0:
                continue
            if self.both[signature] or (c != MATCHES and s != MATCHES):
                waiting = True  # it may still match once more bytes come
                continue
            if alone < 0:
                alone, alone_basis = signature, BASIS_CLIENT if c == MATCHES else BASIS_SERVER
                waiting = waiting or (c == NEEDS_MORE or s == NEEDS_MORE)
        if alone >= 0:
            if final or (_sent(client) and _sent(server)) or _segments_of(client, server, alone_basis) >= ONE_SIDED:
                basis[0] = alone_basis
                return self.app[alone]
            return APP_UNDECIDED
        if final:
            return APP_NONE
        if waiting and client.length < EARLY_BYTES and server.length < EARLY_BYTES and client.segments < GIVE_UP and server.segments < GIVE_UP:
            return APP_UNDECIDED
        if (_sent(client) and _sent(server)) or client.segments >= GIVE_UP or server.segments >= GIVE_UP:
            return APP_NONE
        if client.length >= EARLY_BYTES or server.length >= EARLY_BYTES:
            return APP_NONE
        return APP_UNDECIDED


cdef inline Py_ssize_t _kind(int proto) noexcept nogil:
    """The transport kind the screens and lists are made per: TCP, UDP, other."""
    return 0 if proto == IPPROTO_TCP else (1 if proto == IPPROTO_UDP else 2)


cdef inline bint _has(const uint8_t[::1] sets, Py_ssize_t index, uint8_t byte) noexcept nogil:
    """Whether the ``index``-th of 256-bit ``sets`` holds ``byte``."""
    return (sets[index * 32 + (byte >> 3)] >> (byte & 7)) & 1


cdef inline bint _sent(const Side *side) noexcept nogil:
    return side.length > 0 or side.opaque


cdef inline int _segments_of(const Side *client, const Side *server, int basis) noexcept nogil:
    return client.segments if basis == BASIS_CLIENT else server.segments


cdef inline int _ber_length(const Side *side, int at, int *length) noexcept nogil:
    """Where the contents of the BER element whose length byte is at ``at`` start; -1 if cut or long."""
    cdef int first
    if at >= side.length:
        return -1
    first = side.data[at]
    if first < 0x80:
        length[0] = first
        return at + 1
    if first == 0x81 and at + 1 < side.length:
        length[0] = side.data[at + 1]
        return at + 2
    if first == 0x82 and at + 2 < side.length:
        length[0] = pf_be16(side.data + at + 1)
        return at + 3
    return -1


cdef inline int _ber_sequence(const Side *side) noexcept nogil:
    """Where the contents of the BER SEQUENCE a side starts with begin; -1 if it starts with none."""
    cdef int length
    if side.data[0] != 0x30:
        return -1
    return _ber_length(side, 1, &length)


cdef int _dns(const Side *side, int proto, bint response) noexcept nogil:
    """A DNS header (after TCP's length prefix): the right QR bit, a known opcode, few records."""
    cdef int at = 2 if proto == 6 else 0, opcode, questions
    cdef const uint8_t *d = side.data
    if side.length < at + 12:
        return NEEDS_MORE
    if at and pf_be16(d) < 12:
        return 0
    d = d + at
    opcode = (d[2] >> 3) & 0xF
    questions = pf_be16(d + 4)
    if ((d[2] & 0x80) != 0) != response or opcode == 3 or opcode > 6:
        return 0
    if questions > 4 or pf_be16(d + 6) > 64 or pf_be16(d + 8) > 64 or pf_be16(d + 10) > 64:
        return 0
    if not response and (questions == 0 or (d[3] & 0x0F) != 0):
        return 0
    if questions == 0 and pf_be16(d + 6) == 0:
        return 0
    if questions and side.length > at + 12 and d[12] > 63:  # a question's name begins with a label's length
        return 0
    return MATCHES


cdef int _http_request(const Side *side) noexcept nogil:
    """``METHOD SP target SP HTTP/1.x`` on the first line (Zeek's http signature, any method token)."""
    cdef int at = 0, line
    cdef const uint8_t *d = side.data
    while at < side.length and at < 20 and 0x41 <= d[at] <= 0x5A:
        at += 1
    if at == side.length and at < 20:
        return NEEDS_MORE
    if at < 3 or at >= 20 or d[at] != 0x20:
        return 0
    line = at + 1
    while line + 8 <= side.length and d[line] != 0x0D and d[line] != 0x0A:
        if d[line] == 0x20 and d[line + 1] == 0x48 and d[line + 2] == 0x54 and d[line + 3] == 0x54 and d[line + 4] == 0x50 and d[line + 5] == 0x2F:
            return MATCHES
        line += 1
    return NEEDS_MORE if line + 8 > side.length and side.length < EARLY_BYTES else 0


cdef int _check(int check, const Side *side, int proto) noexcept nogil:
    cdef const uint8_t *d = side.data
    cdef int n = side.length, at, length, tag, value, digits
    cdef uint32_t version
    if check == 1:
        return _http_request(side)
    if check == 2 or check == 3:
        if n < 6:
            return NEEDS_MORE
        return MATCHES if d[0] == 0x16 and d[1] == 3 and d[2] <= 4 and d[5] == (1 if check == 2 else 2) else 0
    if check == 4 or check == 5:
        if n < 14:
            return NEEDS_MORE
        if d[0] != 0x16 or d[1] != 0xFE or not (d[2] == 0xFF or d[2] == 0xFD or d[2] == 0xFC):
            return 0
        return MATCHES if (d[13] == 1 if check == 4 else (d[13] == 2 or d[13] == 3)) else 0
    if check == 6 or check == 7:
        if n < 5:
            return NEEDS_MORE
        version = pf_be32(d + 1)
        if (d[0] & 0xC0) != 0xC0 or not (version == 1 or version == 0x6B3343CF):
            return 0
        if check == 7:
            return MATCHES
        return MATCHES if ((d[0] >> 4) & 3) == (0 if version == 1 else 1) else 0  # the Initial's packet type
    if check == 8:
        if n < 3:
            return NEEDS_MORE
        if d[0] == 5:  # SOCKS 5: version, methods count, the methods
            return MATCHES if 1 <= d[1] <= 10 and side.first == 2 + d[1] else 0
        if d[0] == 4 and (d[1] == 1 or d[1] == 2):  # SOCKS 4(a): a request ending with its user id's NUL
            return MATCHES if side.first >= 9 and d[side.first - 1] == 0 else 0
        return 0
    if check == 9:
        if n < 4:
            return NEEDS_MORE
        return MATCHES if d[0] == 0x2A and 0x31 <= d[1] <= 0x39 and (d[2] == 0x0D or (0x30 <= d[2] <= 0x39 and d[3] == 0x0D)) else 0
    if check == 10 or check == 11:
        at = 4 if proto == 6 else 0
        if n < at + 4:
            return NEEDS_MORE
        tag = d[at]
        if check == 10 and not (tag == 0x6A or tag == 0x6C):
            return 0
        if check == 11 and not (tag == 0x6B or tag == 0x6D or tag == 0x7E):
            return 0
        at = _ber_length(side, at + 1, &length)
        return MATCHES if at >= 0 and at < n and d[at] == 0x30 else (NEEDS_MORE if at < 0 and n < 8 else 0)
    if check == 12:
        if n < 7:
            return NEEDS_MORE
        at = _ber_sequence(side)
        if at < 0 or at + 3 > n or d[at] != 0x02 or not 1 <= d[at + 1] <= 4:
            return 0
        at += 2 + d[at + 1]
        if at >= n:
            return NEEDS_MORE
        tag = d[at]
        return MATCHES if (0x60 <= tag <= 0x79) or tag == 0x42 or tag == 0x4A else 0
    if check == 13 or check == 14:
        return _dns(side, proto, check == 14)
    if check == 15:
        if n < 48:
            return NEEDS_MORE if n == side.first else 0
        return MATCHES if 1 <= ((d[0] >> 3) & 7) <= 4 and 1 <= (d[0] & 7) <= 5 and d[1] <= 16 else 0
    if check == 16:
        if n < 7:
            return NEEDS_MORE
        at = _ber_sequence(side)
        return MATCHES if at >= 0 and at + 3 <= n and d[at] == 2 and d[at + 1] == 1 and (d[at + 2] <= 1 or d[at + 2] == 3) else 0
    if check == 17 or check == 18:
        if n < 4:
            return NEEDS_MORE
        return MATCHES if d[0] == (1 if check == 17 else 2) and d[1] == 0 and d[2] == 0 and d[3] == 0 and side.first == (148 if check == 17 else 92) else 0
    if check == 19 or check == 20:
        at = 2 if proto == 6 else 0
        if n < at + 1:
            return NEEDS_MORE
        if at and pf_be16(d) != side.first - 2:
            return 0
        tag = d[at] >> 3
        if (d[at] & 7) != 0:
            return 0
        if check == 19:
            return MATCHES if tag == 7 or tag == 10 or tag == 1 else 0
        return MATCHES if tag == 8 or tag == 2 else 0
    if check == 21:
        if n < 4:
            return NEEDS_MORE
        return MATCHES if d[0] == 0 and (d[1] == 1 or d[1] == 2) and side.first >= 6 and d[side.first - 1] == 0 else 0
    if check == 22:
        if n < 3:
            return NEEDS_MORE
        return MATCHES if d[0] == 0xFF and 0xFB <= d[1] <= 0xFE else 0
    if check == 23:
        if n < 3:
            return NEEDS_MORE
        if d[0] != 0x3C:
            return 0
        value, digits, at = 0, 0, 1
        while at < n and at < 5 and 0x30 <= d[at] <= 0x39:
            value, digits, at = value * 10 + d[at] - 0x30, digits + 1, at + 1
        return MATCHES if 1 <= digits <= 3 and at < n and d[at] == 0x3E and value <= 191 else 0
    if check == 24:
        if n < 8:
            return NEEDS_MORE
        return MATCHES if (d[0] >> 6) == 2 and 200 <= d[1] <= 204 else 0
    if check == 25:  # two datagrams of one stream: same SSRC, consecutive sequence numbers
        if n < 12:
            return NEEDS_MORE
        if (d[0] >> 6) != 2 or 72 <= (d[1] & 0x7F) <= 76:
            return 0
        if side.first < 12 or n < side.first + 12:
            return NEEDS_MORE if side.segments < 2 else 0
        if (d[side.first] >> 6) != 2 or pf_be32(d + 8) != pf_be32(d + side.first + 8):
            return 0
        return MATCHES if <uint16_t>(pf_be16(d + 2) + 1) == pf_be16(d + side.first + 2) else 0
    return 0
