# cython: language_level=3
"""The address answers of the DNS messages a conversation's direction sent (the data contract is
in :mod:`pcapflow.dns_names`), read in compiled code: every DNS conversation of a capture is
read once when its table is exported, and read in Python that was a large part of what payload
inspection costs. Every read is checked against the bytes there are (the build turns Cython's
own bounds checks off); a message cut off or malformed ends the reading, keeping the answers of
the messages before it.
"""

from libc.stdint cimport uint8_t, uint64_t

from pcapflow._kernels.bytes cimport pf_be16, pf_be32, pf_be64

cdef enum:
    TYPE_A = 1
    TYPE_CNAME = 5
    TYPE_AAAA = 28
    HEADER = 12
    NAME_STEPS = 128  # labels and pointers followed in one name: pointers may loop in hostile messages
    NAME_ROOM = NAME_STEPS * 256  # a name's text: each step adds at most a dot and a 255-byte label

cdef uint64_t IPV4_MAPPED = 0xFFFF00000000


def dns_answers(const uint8_t[::1] data not None, bint tcp):
    """The (address hi, lo, name) of each A or AAAA answer of the DNS responses in ``data``, in
    order (UDP: datagrams one after another; TCP: each with its two-byte length); the name is
    the one the client asked for (the record's owner, followed back through the response's CNAME
    chain to its question)."""
    return answers_in(&data[0], data.shape[0], tcp) if data.shape[0] else []


cdef list answers_in(const uint8_t *d, Py_ssize_t size, bint tcp):
    """:func:`dns_answers` of the ``size`` bytes at ``d`` (for the flow table, which reads them
    where it keeps them)."""
    cdef Py_ssize_t at = 0, end, length
    answers = []
    while at < size:
        if tcp:
            if at + 2 > size:
                break
            length = pf_be16(d + at)
            end = at + 2 + length
            if _message(d + at + 2, (end if end <= size else size) - at - 2, answers, &length) < 0:
                break
            at = end
        else:
            if _message(d + at, size - at, answers, &length) < 0:
                break
            at += length
    return answers


cdef int _message(const uint8_t *d, Py_ssize_t size, list answers, Py_ssize_t *end) except -2:
    """Add the answers of the message at ``d`` (none for a query or an error response) and set
    ``end`` to its length; -1 when it is cut off or malformed (nothing is added then)."""
    cdef Py_ssize_t cursor = HEADER, rdata, index, records, step
    cdef int kind, rsize, flags
    if size < HEADER:
        return -1
    flags = pf_be16(d + 2)
    records = <Py_ssize_t>pf_be16(d + 6) + pf_be16(d + 8) + pf_be16(d + 10)
    questions = []
    for index in range(pf_be16(d + 4)):
        name = _name(d, size, cursor, &cursor)
        if name is None:
            return -1
        questions.append(name)
        cursor += 4
    aliases = {}  # a CNAME's target -> its owner
    addresses = []
    for index in range(records):
        owner = _name(d, size, cursor, &cursor)
        if owner is None or cursor + 10 > size:
            return -1
        kind, rsize = pf_be16(d + cursor), pf_be16(d + cursor + 8)
        rdata = cursor + 10
        cursor = rdata + rsize
        if cursor > size:
            return -1
        if index >= pf_be16(d + 6):
            continue  # authority and additional records name no answer
        if kind == TYPE_CNAME:
            target = _name(d, size, rdata, &step)
            if target is None:
                return -1
            aliases.setdefault(target, owner)
        elif kind == TYPE_A and rsize == 4:
            addresses.append((0, IPV4_MAPPED | pf_be32(d + rdata), owner))
        elif kind == TYPE_AAAA and rsize == 16:
            addresses.append((pf_be64(d + rdata), pf_be64(d + rdata + 8), owner))
    end[0] = cursor
    if not flags & 0x8000 or flags & 0x000F:  # a query, or an error response
        return 0
    for hi, lo, name in addresses:
        for step in range(len(aliases)):  # back along the chain, at most once per alias
            if name in questions or name not in aliases:
                break
            name = aliases[name]
        answers.append((hi, lo, name))
    return 0


cdef str _name(const uint8_t *d, Py_ssize_t size, Py_ssize_t at, Py_ssize_t *end):
    """The (possibly compressed, RFC 1035 §4.1.4) name at ``at``, lower-cased, its labels' bytes
    beyond ASCII as U+FFFD; ``end``: where the field ends. None when it is cut off or loops."""
    cdef char text[NAME_ROOM]
    cdef Py_ssize_t used = 0, field_end = -1, i
    cdef int step, length
    cdef uint8_t byte
    for step in range(NAME_STEPS):
        if at >= size:
            return None
        length = d[at]
        if length >= 0xC0:
            if at + 1 >= size:
                return None
            if field_end < 0:
                field_end = at + 2
            at = ((length & 0x3F) << 8) | d[at + 1]
            continue
        if length == 0:
            end[0] = field_end if field_end >= 0 else at + 1
            return text[:used].decode("ascii", "replace")
        if at + 1 + length > size:
            return None
        if used:
            text[used] = 0x2E  # the dot between labels
            used += 1
        for i in range(at + 1, at + 1 + length):
            byte = d[i]
            text[used] = <char>(byte + 32 if 0x41 <= byte <= 0x5A else byte)
            used += 1
        at += 1 + length
    return None
