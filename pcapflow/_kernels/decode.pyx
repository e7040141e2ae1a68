# cython: language_level=3
"""Header decode: the records of a :class:`~pcapflow.capture.RawBatch` into the columns of a
:class:`~pcapflow.decode.PacketTable`, one record at a time without the GIL.

The rules are those of the scapy reference engine (:mod:`pcapflow.decode.reference`, which says
why each one is so) and the parity tests hold the two to the same table:

- link layer by link type (Ethernet, Linux SLL and SLL2, NULL and LOOP, the raw IP types here;
  802.11 with radiotap or PPI, PPP, Cisco HDLC, NFLOG and PFLOG in links.pxd), then VLAN tags,
  MPLS labels and PPPoE session headers for every link type alike, as many as the record holds;
- IPv4 with options, fragments and AH, IPv6 with up to :data:`MAX_EXTENSION_HEADERS` extension
  headers; lengths come from the headers (a zero length, left by segmentation offload, from the
  frame), never from the captured length;
- TCP, UDP and SCTP ports (a transport header cut after its ports is ``PORTS_ONLY``), TCP flags,
  sequence and acknowledgement numbers, ICMP and ICMPv6 type and code, the payload length and,
  for TCP and UDP, where the payload starts in the record (for payload inspection; 0 otherwise).
- with ``decapsulate``, the tunnels of tunnels.pxd (VXLAN, Geneve, GTP-U, Teredo, AYIYA, GRE and
  MPLS in UDP, GRE in IP, PPTP, IP in IP), up to MAX_TUNNEL_DEPTH deep: the fields are then the
  innermost packet's, with its tunnel, depth and id.

Every read is checked against the record's captured length first: a record that ends early gets
the truncation status of the layer it ends in, and the fields decoded before it stay set.
"""

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memset

from pcapflow._kernels.bytes cimport pf_be16, pf_be32, pf_be64, pf_le32, pf_prefetch
from pcapflow._kernels.constants cimport *
from pcapflow._kernels.links cimport family_ethertype, other_link_layer, ppp_protocol
from pcapflow._kernels.tunnels cimport ip_tunnel, udp_tunnel

cdef enum:
    PREFETCH_AHEAD = 8  # records: far enough ahead for their bytes to arrive in time

cdef uint64_t IPV4_MAPPED = 0xFFFF00000000


cdef struct Fields:
    # one record's decoded fields, kept on the stack while it is decoded (stores through the
    # columns' pointers would make the compiler reload every pointer after each byte written)
    uint16_t vlan_id
    uint8_t ip_version
    uint8_t ip_proto
    uint8_t more_fragments
    uint8_t icmp_type
    uint8_t icmp_code
    uint16_t frag_offset
    uint16_t src_port
    uint16_t dst_port
    uint16_t tcp_flags
    uint32_t ip_bytes
    uint32_t ip_id
    uint32_t tcp_seq
    uint32_t tcp_ack
    uint32_t payload_bytes
    uint32_t payload_offset
    uint64_t src_ip_hi
    uint64_t src_ip_lo
    uint64_t dst_ip_hi
    uint64_t dst_ip_lo
    uint8_t tunnel
    uint8_t tunnel_depth
    int64_t tunnel_id


cdef struct Columns:
    # what the kernel writes, one entry per record
    uint8_t *status
    uint16_t *vlan_id
    uint8_t *ip_version
    uint64_t *src_ip_hi
    uint64_t *src_ip_lo
    uint64_t *dst_ip_hi
    uint64_t *dst_ip_lo
    uint8_t *ip_proto
    uint32_t *ip_bytes
    uint32_t *ip_id
    uint16_t *frag_offset
    uint8_t *more_fragments
    uint16_t *src_port
    uint16_t *dst_port
    uint16_t *tcp_flags
    uint32_t *tcp_seq
    uint32_t *tcp_ack
    uint8_t *icmp_type
    uint8_t *icmp_code
    uint32_t *payload_bytes
    uint32_t *payload_offset
    uint8_t *tunnel
    uint8_t *tunnel_depth
    int64_t *tunnel_id


cdef inline bint _is_vlan(int ethertype) noexcept nogil:
    return ethertype == ETHERTYPE_VLAN or ethertype == ETHERTYPE_QINQ or ethertype == ETHERTYPE_QINQ_OLD1 or ethertype == ETHERTYPE_QINQ_OLD2


cdef inline bint _is_mpls(int ethertype) noexcept nogil:
    return ethertype == ETHERTYPE_MPLS or ethertype == ETHERTYPE_MPLS_MULTICAST


cdef inline bint _is_extension_header(int proto) noexcept nogil:
    return (proto == IPPROTO_HOPOPTS or proto == IPPROTO_ROUTING or proto == IPPROTO_FRAGMENT or proto == IPPROTO_AH
            or proto == IPPROTO_DSTOPTS or proto == IPPROTO_MOBILITY)


cdef int _link(const uint8_t *p, int64_t caplen, int linktype, int64_t *offset, int *ethertype) noexcept nogil:
    """Step over the link-layer header; OK with ``offset`` and ``ethertype`` set, else a status."""
    cdef int64_t size
    cdef uint32_t family
    if linktype == LINKTYPE_ETHERNET:
        size = 14
    elif linktype == LINKTYPE_LINUX_SLL:
        size = 16
    elif linktype == LINKTYPE_LINUX_SLL2:
        size = 20
    elif linktype == LINKTYPE_NULL or linktype == LINKTYPE_LOOP:
        size = 4
    elif (linktype == LINKTYPE_RAW or linktype == LINKTYPE_RAW_LEGACY or linktype == LINKTYPE_RAW_OPENBSD
          or linktype == LINKTYPE_IPV4 or linktype == LINKTYPE_IPV6):
        size = 0
    else:
        return other_link_layer(p, caplen, linktype, offset, ethertype)
    if caplen < (size if size > 0 else 1):  # an empty record is cut at the link layer
        return TRUNCATED_LINK
    if linktype == LINKTYPE_ETHERNET:
        ethertype[0] = pf_be16(p + 12)
    elif linktype == LINKTYPE_LINUX_SLL:
        ethertype[0] = pf_be16(p + 14)
    elif linktype == LINKTYPE_LINUX_SLL2:
        ethertype[0] = pf_be16(p)
    elif linktype == LINKTYPE_NULL:
        family = pf_le32(p)  # in the capturing host's byte order: a value above 0xFFFF was swapped
        ethertype[0] = family_ethertype(pf_be32(p) if family > 0xFFFF else family)
    elif linktype == LINKTYPE_LOOP:
        ethertype[0] = family_ethertype(pf_be32(p))
    elif linktype == LINKTYPE_IPV4:
        ethertype[0] = ETHERTYPE_IPV4
    elif linktype == LINKTYPE_IPV6:
        ethertype[0] = ETHERTYPE_IPV6
    else:
        ethertype[0] = BY_VERSION
    offset[0] = size
    return OK


cdef int _encapsulations(const uint8_t *p, int64_t caplen, int64_t *offset, int *ethertype, uint16_t *vlan) noexcept nogil:
    """Peel VLAN tags, MPLS labels and PPPoE session headers, as many as the record holds (each
    is at least 4 bytes); OK, or the status of the one that stops it."""
    cdef int64_t at = offset[0]
    cdef int kind = ethertype[0], status
    while True:
        if _is_vlan(kind):
            if at + 4 > caplen:
                return TRUNCATED_LINK
            if vlan[0] == NO_VLAN:  # the outermost tag names the VLAN
                vlan[0] = pf_be16(p + at) & 0x0FFF
            kind = pf_be16(p + at + 2)
            at += 4
        elif _is_mpls(kind):
            if at + 4 > caplen:
                return TRUNCATED_LINK
            if p[at + 2] & 1:  # bottom of the stack: MPLS names no payload protocol (RFC 3032)
                kind = BY_VERSION
            at += 4
        elif kind == ETHERTYPE_PPPOE_SESSION:
            status = ppp_protocol(p, caplen, at + 6, &at, &kind)  # behind a 6-byte header
            if status != OK:
                return status
        else:
            break
    offset[0] = at
    ethertype[0] = kind
    return OK


cdef int _ipv4(const uint8_t *p, int64_t caplen, int64_t wirelen, int64_t *offset, int64_t *ip_left,
               Fields *out) noexcept nogil:
    cdef int64_t at = offset[0], header, total
    cdef uint16_t flags_fragment
    if at + 20 > caplen:
        return TRUNCATED_IP
    header = (p[at] & 0x0F) * 4
    if (p[at] >> 4) != 4 or header < 20:
        return BAD_IP_HEADER
    if at + header > caplen:
        return TRUNCATED_IP
    total = pf_be16(p + at + 2)
    if total == 0:  # segmentation offload left it 0: the frame's length, as Wireshark takes it
        total = wirelen - at
    if total < header or total > wirelen - at:
        return BAD_IP_HEADER
    flags_fragment = pf_be16(p + at + 6)
    out.ip_version = 4
    out.ip_bytes = <uint32_t>total
    out.ip_id = pf_be16(p + at + 4)
    out.more_fragments = (flags_fragment & 0x2000) != 0
    out.frag_offset = (flags_fragment & 0x1FFF) * 8
    out.ip_proto = p[at + 9]
    out.src_ip_hi = 0
    out.dst_ip_hi = 0
    out.src_ip_lo = IPV4_MAPPED | pf_be32(p + at + 12)
    out.dst_ip_lo = IPV4_MAPPED | pf_be32(p + at + 16)
    offset[0] = at + header
    ip_left[0] = total - header
    if out.ip_proto == IPPROTO_AH and out.frag_offset == 0:
        return _authentication_headers(p, caplen, offset, ip_left, out)
    return OK


cdef int _authentication_headers(const uint8_t *p, int64_t caplen, int64_t *offset, int64_t *ip_left,
                                 Fields *out) noexcept nogil:
    """Step over the AH headers (RFC 4302) of an IPv4 datagram, as IPv6 steps over its own."""
    cdef int64_t at = offset[0], left = ip_left[0], length
    while out.ip_proto == IPPROTO_AH:  # each is at least 8 bytes: the datagram ends the loop
        if at + 2 > caplen:
            return TRUNCATED_IP
        length = (p[at + 1] + 2) * 4  # in 4-byte units
        if length > left:
            return BAD_IP_HEADER
        out.ip_proto = p[at]
        at += length
        left -= length
    offset[0] = at
    ip_left[0] = left
    return OK


cdef int _ipv6(const uint8_t *p, int64_t caplen, int64_t wirelen, int64_t *offset, int64_t *ip_left,
               Fields *out) noexcept nogil:
    cdef int64_t at = offset[0], total, length, left
    cdef int kind, header
    cdef bint fragment
    cdef uint16_t field
    if at + 40 > caplen:
        return TRUNCATED_IP
    if (p[at] >> 4) != 6:
        return BAD_IP_HEADER
    total = pf_be16(p + at + 4)
    total = wirelen - at if total == 0 else total + 40
    if total < 40 or total > wirelen - at:
        return BAD_IP_HEADER
    out.ip_version = 6
    out.ip_bytes = <uint32_t>total
    out.src_ip_hi = pf_be64(p + at + 8)
    out.src_ip_lo = pf_be64(p + at + 16)
    out.dst_ip_hi = pf_be64(p + at + 24)
    out.dst_ip_lo = pf_be64(p + at + 32)
    kind = p[at + 6]
    at += 40
    left = total - 40
    out.ip_proto = kind
    for header in range(MAX_EXTENSION_HEADERS):
        if not _is_extension_header(kind):
            break
        fragment = kind == IPPROTO_FRAGMENT
        if at + (8 if fragment else 2) > caplen:
            return TRUNCATED_IP
        if fragment:
            length = 8
        elif kind == IPPROTO_AH:
            length = (p[at + 1] + 2) * 4  # RFC 4302: in 4-byte units
        else:
            length = (p[at + 1] + 1) * 8
        if length > left:
            return BAD_IP_HEADER
        if fragment:
            field = pf_be16(p + at + 2)
            out.frag_offset = field & 0xFFF8
            out.more_fragments = field & 1
            out.ip_id = pf_be32(p + at + 4)
        kind = p[at]
        out.ip_proto = kind
        at += length
        left -= length
        if fragment and out.frag_offset:
            break  # behind a non-first fragment's header is fragment data, not headers
    else:
        if _is_extension_header(kind):
            return BAD_IP_HEADER  # more extension headers than any sane packet has
    offset[0] = at
    ip_left[0] = left
    return OK


cdef int _transport(const uint8_t *p, int64_t caplen, int64_t at, int64_t left, Fields *out) noexcept nogil:
    cdef int proto = out.ip_proto
    cdef int64_t size, header, length
    if proto == IPPROTO_TCP or proto == IPPROTO_UDP or proto == IPPROTO_SCTP:
        if at + 4 > caplen:
            return TRUNCATED_TRANSPORT
        out.src_port = pf_be16(p + at)
        out.dst_port = pf_be16(p + at + 2)
        size = 20 if proto == IPPROTO_TCP else (8 if proto == IPPROTO_UDP else 12)
        if left < size:  # the datagram cannot hold the header, whatever the snaplen let through
            return BAD_TRANSPORT_HEADER
        if at + size > caplen:
            return PORTS_ONLY  # cut by the snaplen after the ports: tracked, flags and payload unknown
        if proto == IPPROTO_TCP:
            header = (p[at + 12] >> 4) * 4
            if header < 20 or header > left:
                return BAD_TRANSPORT_HEADER
            out.tcp_seq = pf_be32(p + at + 4)
            out.tcp_ack = pf_be32(p + at + 8)
            out.tcp_flags = pf_be16(p + at + 12) & 0x01FF
            out.payload_bytes = <uint32_t>(left - header)
            out.payload_offset = <uint32_t>(at + header)
        elif proto == IPPROTO_UDP:
            if out.more_fragments:  # a first fragment holds only part of what the UDP length says
                out.payload_bytes = <uint32_t>(left - 8)
            else:
                length = pf_be16(p + at + 4)
                if length < 8 or length > left:
                    return BAD_TRANSPORT_HEADER
                out.payload_bytes = <uint32_t>(length - 8)
            out.payload_offset = <uint32_t>(at + 8)
        else:
            out.payload_bytes = <uint32_t>(left - 12)
        return OK
    if proto == IPPROTO_ICMP or proto == IPPROTO_ICMPV6:
        if at + 2 > caplen:
            return TRUNCATED_TRANSPORT
        out.icmp_type = p[at]
        out.icmp_code = p[at + 1]
        if left < 2:  # type and code must be the datagram's, not bytes after it
            return BAD_TRANSPORT_HEADER
        out.payload_bytes = <uint32_t>(left - 8 if left > 8 else 0)  # a short message: no payload
        return OK
    out.payload_bytes = <uint32_t>left
    return OK


cdef inline int _network(const uint8_t *p, int64_t caplen, int64_t wirelen, int64_t *offset, int64_t *left,
                         int ethertype, Fields *out) noexcept nogil:
    """Encapsulations, then the IP header (``offset``: behind it, ``left``: the datagram's bytes
    from there); OK, FRAGMENT for a later fragment, or the status of what stops it."""
    cdef int status = _encapsulations(p, caplen, offset, &ethertype, &out.vlan_id)
    cdef int64_t at
    if status != OK:
        return status
    if ethertype == BY_VERSION:
        at = offset[0]
        if at + 1 > caplen:
            return TRUNCATED_IP
        ethertype = ETHERTYPE_IPV4 if (p[at] >> 4) == 4 else (ETHERTYPE_IPV6 if (p[at] >> 4) == 6 else 0)
    if ethertype == ETHERTYPE_IPV4:
        status = _ipv4(p, caplen, wirelen, offset, left, out)
    elif ethertype == ETHERTYPE_IPV6:
        status = _ipv6(p, caplen, wirelen, offset, left, out)
    else:
        return NOT_IP
    if status != OK:
        return status
    if out.frag_offset:  # a later fragment carries fragment data, not a transport header
        out.payload_bytes = <uint32_t>left[0]
        return FRAGMENT
    return OK


cdef inline bint _may_carry_tunnel(int proto) noexcept nogil:
    return proto == IPPROTO_UDP or proto == IPPROTO_GRE or proto == IPPROTO_IPIP or proto == IPPROTO_IPV6


cdef int _decode(const uint8_t *p, int64_t caplen, int64_t wirelen, int linktype, bint decapsulate,
                 Fields *out, Fields *carrier) noexcept nogil:
    cdef int64_t offset = 0, left = 0
    cdef int ethertype = 0, status
    status = _link(p, caplen, linktype, &offset, &ethertype)
    if status != OK:
        return status
    status = _network(p, caplen, wirelen, &offset, &left, ethertype, out)
    if status != OK:
        return status
    status = _transport(p, caplen, offset, left, out)
    if decapsulate and status == OK and _may_carry_tunnel(out.ip_proto):  # an untunnelled packet pays no call
        return _decapsulate(p, caplen, wirelen, offset, left, out, carrier)
    return status


cdef inline void _enter_tunnel(Fields *out, int tunnel, int64_t tunnel_id) noexcept nogil:
    """Forget the carrier's headers: the fields are the inner packet's from here on."""
    cdef uint16_t vlan_id = out.vlan_id
    cdef uint8_t depth = out.tunnel_depth
    memset(out, 0, sizeof(Fields))
    out.vlan_id = vlan_id
    out.tunnel = tunnel
    out.tunnel_depth = depth + 1
    out.tunnel_id = tunnel_id


cdef int _decapsulate(const uint8_t *p, int64_t caplen, int64_t wirelen, int64_t offset, int64_t left,
                      Fields *out, Fields *carrier) noexcept nogil:
    """Open the tunnels of a decoded packet (``offset``: its IP payload, ``left`` bytes of it), one
    after the other: the fields become the innermost packet's, and ``carrier`` (unless NULL) gets
    the outermost packet's as they were before the first tunnel was entered. Kept out of _decode,
    whose straight line every packet takes."""
    cdef int64_t tunnel_id = NO_TUNNEL_ID
    cdef int ethertype = 0, status, tunnel
    while out.tunnel_depth < MAX_TUNNEL_DEPTH and not out.more_fragments:
        tunnel = ip_tunnel(p, caplen, offset, left, out.ip_proto, &offset, &ethertype, &tunnel_id)
        if tunnel == NO_TUNNEL:
            if out.ip_proto != IPPROTO_UDP:
                return OK
            tunnel = udp_tunnel(p, caplen, offset + 8, out.payload_bytes, out.src_port, out.dst_port,
                                &offset, &ethertype, &tunnel_id)
            if tunnel == NO_TUNNEL:
                return OK
        if out.tunnel_depth == 0 and carrier != NULL:
            carrier[0] = out[0]
        _enter_tunnel(out, tunnel, tunnel_id)
        status = _network(p, caplen, wirelen, &offset, &left, ethertype, out)
        if status != OK:
            return status
        status = _transport(p, caplen, offset, left, out)
        if status != OK:
            return status
    return OK


cdef inline void _store(Columns *out, Py_ssize_t row, const Fields *fields, int status) noexcept nogil:
    out.status[row] = status
    out.vlan_id[row] = fields.vlan_id
    out.ip_version[row] = fields.ip_version
    out.src_ip_hi[row] = fields.src_ip_hi
    out.src_ip_lo[row] = fields.src_ip_lo
    out.dst_ip_hi[row] = fields.dst_ip_hi
    out.dst_ip_lo[row] = fields.dst_ip_lo
    out.ip_proto[row] = fields.ip_proto
    out.ip_bytes[row] = fields.ip_bytes
    out.ip_id[row] = fields.ip_id
    out.frag_offset[row] = fields.frag_offset
    out.more_fragments[row] = fields.more_fragments
    out.src_port[row] = fields.src_port
    out.dst_port[row] = fields.dst_port
    out.tcp_flags[row] = fields.tcp_flags
    out.tcp_seq[row] = fields.tcp_seq
    out.tcp_ack[row] = fields.tcp_ack
    out.icmp_type[row] = fields.icmp_type
    out.icmp_code[row] = fields.icmp_code
    out.payload_bytes[row] = fields.payload_bytes
    out.payload_offset[row] = fields.payload_offset
    out.tunnel[row] = fields.tunnel
    out.tunnel_depth[row] = fields.tunnel_depth
    out.tunnel_id[row] = fields.tunnel_id


def decode_records(
    const uint8_t[::1] buffer, const int64_t[::1] data_offset, const uint32_t[::1] caplen,
    const uint32_t[::1] wirelen, const uint16_t[::1] linktype, const uint8_t[::1] bad_record,
    uint8_t[::1] status, uint16_t[::1] vlan_id, uint8_t[::1] ip_version,
    uint64_t[::1] src_ip_hi, uint64_t[::1] src_ip_lo, uint64_t[::1] dst_ip_hi, uint64_t[::1] dst_ip_lo,
    uint8_t[::1] ip_proto, uint32_t[::1] ip_bytes, uint32_t[::1] ip_id, uint16_t[::1] frag_offset,
    uint8_t[::1] more_fragments, uint16_t[::1] src_port, uint16_t[::1] dst_port, uint16_t[::1] tcp_flags,
    uint32_t[::1] tcp_seq, uint32_t[::1] tcp_ack, uint8_t[::1] icmp_type, uint8_t[::1] icmp_code,
    uint32_t[::1] payload_bytes, uint32_t[::1] payload_offset, uint8_t[::1] tunnel, uint8_t[::1] tunnel_depth,
    int64_t[::1] tunnel_id, bint decapsulate, int64_t[::1] row_record, Py_ssize_t first_record=0,
    Py_ssize_t first_row=0,
):
    """Decode the records of a batch into the given columns; (rows written in all, records
    decoded in all). A record whose data does not lie inside ``buffer`` gets BAD_RECORD. With
    ``decapsulate``, the fields are those of the innermost packet of a tunnelled record.

    With ``row_record`` empty, every column is as long as the batch and row i is record i. Else
    (with ``decapsulate``) the rows are those conversation tracking folds: a tunnelled record
    gets two, first its carrier's (the outermost headers: ``tunnel`` NO_TUNNEL, ``tunnel_depth``
    the inner row's, ``payload_offset`` 0 because its payload is the tunnel's, not an
    application's), then its innermost packet's, and ``row_record`` gets each row's record. The
    columns and ``row_record`` are then as long as one likes: decoding stops before the first
    record that finds no room, and goes on from ``first_record`` at row ``first_row`` (the rows
    written before) when called again with longer ones."""
    cdef Py_ssize_t count = data_offset.shape[0], row, size = buffer.shape[0], rows = first_row
    cdef Py_ssize_t room = status.shape[0]
    cdef bint with_carriers = row_record.shape[0] != 0
    lengths = (vlan_id.shape[0], ip_version.shape[0], src_ip_hi.shape[0], src_ip_lo.shape[0], dst_ip_hi.shape[0],
               dst_ip_lo.shape[0], ip_proto.shape[0], ip_bytes.shape[0], ip_id.shape[0], frag_offset.shape[0],
               more_fragments.shape[0], src_port.shape[0], dst_port.shape[0], tcp_flags.shape[0], tcp_seq.shape[0],
               tcp_ack.shape[0], icmp_type.shape[0], icmp_code.shape[0], payload_bytes.shape[0], payload_offset.shape[0],
               tunnel.shape[0], tunnel_depth.shape[0], tunnel_id.shape[0]) + ((row_record.shape[0],) if with_carriers else ())
    if any(length != count for length in (caplen.shape[0], wirelen.shape[0], linktype.shape[0], bad_record.shape[0])):
        raise ValueError("every column of a batch must have one entry per record")
    if any(length != room for length in lengths) or (not with_carriers and room != count):
        raise ValueError("every output column must have one entry per record, or one length with carrier rows")
    if with_carriers and not decapsulate:
        raise ValueError("carrier rows come only with decapsulate")
    if not (0 <= first_record <= count and first_record <= first_row <= room) or (not with_carriers and first_row != first_record):
        raise ValueError("decoding goes on from a record it stopped at, at the row it stopped at")
    cdef Columns out
    if count == first_record or room == 0:
        return rows, first_record
    out.status, out.vlan_id, out.ip_version = &status[0], &vlan_id[0], &ip_version[0]
    out.src_ip_hi, out.src_ip_lo, out.dst_ip_hi, out.dst_ip_lo = &src_ip_hi[0], &src_ip_lo[0], &dst_ip_hi[0], &dst_ip_lo[0]
    out.ip_proto, out.ip_bytes, out.ip_id = &ip_proto[0], &ip_bytes[0], &ip_id[0]
    out.frag_offset, out.more_fragments = &frag_offset[0], &more_fragments[0]
    out.src_port, out.dst_port, out.tcp_flags = &src_port[0], &dst_port[0], &tcp_flags[0]
    out.tcp_seq, out.tcp_ack, out.icmp_type, out.icmp_code = &tcp_seq[0], &tcp_ack[0], &icmp_type[0], &icmp_code[0]
    out.payload_bytes, out.payload_offset = &payload_bytes[0], &payload_offset[0]
    out.tunnel, out.tunnel_depth, out.tunnel_id = &tunnel[0], &tunnel_depth[0], &tunnel_id[0]
    cdef const uint8_t *base = &buffer[0] if size else NULL
    cdef int64_t start, length
    cdef Fields fields, carrier
    cdef Fields *carrier_out = &carrier if with_carriers else NULL
    cdef int result
    cdef Py_ssize_t decoded = count
    with nogil:
        for row in range(first_record, count):
            if row + PREFETCH_AHEAD < count and data_offset[row + PREFETCH_AHEAD] + 128 <= size:
                pf_prefetch(base + data_offset[row + PREFETCH_AHEAD])
            memset(&fields, 0, sizeof(Fields))
            fields.vlan_id = NO_VLAN
            fields.tunnel_id = NO_TUNNEL_ID
            start, length = data_offset[row], caplen[row]
            if bad_record[row] or start < 0 or start + length > size:
                result = BAD_RECORD
            else:
                result = _decode(base + start, length, wirelen[row], linktype[row], decapsulate, &fields, carrier_out)
            if with_carriers:
                if rows + (2 if fields.tunnel_depth else 1) > room:
                    decoded = row
                    break
                if fields.tunnel_depth:
                    carrier.tunnel_depth = fields.tunnel_depth
                    carrier.payload_offset = 0
                    _store(&out, rows, &carrier, OK)
                    row_record[rows] = row
                    rows += 1
                row_record[rows] = row
            _store(&out, rows, &fields, result)
            rows += 1
    return rows, decoded
