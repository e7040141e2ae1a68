# The encapsulations decode.pyx opens: VXLAN, Geneve, GTP-U, Teredo, AYIYA, GRE and MPLS inside
# UDP; GRE (keys, sequence numbers, checksums; IP, Ethernet, ERSPAN types I/II/III, MPLS), PPTP's
# enhanced GRE carrying PPP, and IP in IP.
#
# Each function looks at a payload that may be a tunnel: it returns the tunnel's code (constants
# Tunnel) with ``offset`` (where the inner packet starts), ``ethertype`` (what it is) and
# ``tunnel_id`` (VNI, TEID, GRE key or PPTP call id; NO_TUNNEL_ID when there is none) set, or
# NO_TUNNEL, leaving them alone, when the header is not the tunnel's: a datagram on a tunnel's port
# whose header is wrong, or cut before the inner packet starts, stays what it was. The rules are
# those of the scapy reference engine (pcapflow/decode/reference_tunnels.py), which says where they
# come from. ``at`` is where the payload starts, ``left`` how many bytes its datagram gives it.

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t

from pcapflow._kernels.bytes cimport pf_be16, pf_be32
from pcapflow._kernels.constants cimport *
from pcapflow._kernels.links cimport ppp_protocol

cdef enum:
    ETHERNET_HEADER = 14
    GRE_CHECKSUM = 0x8000
    GRE_ROUTING = 0x4000
    GRE_KEY = 0x2000
    GRE_SEQUENCE = 0x1000
    GRE_ACKNOWLEDGEMENT = 0x0080  # enhanced GRE (version 1) only
    GRE_VERSION = 0x0007
    GTP_G_PDU = 0xFF  # the GTP-U message that carries a user packet
    IPV6_HEADER = 40
    TEREDO_ORIGIN = 0x0000  # the tags of Teredo's indications (RFC 4380 5.1.1)
    TEREDO_AUTHENTICATION = 0x0001
    TEREDO_ORIGIN_SIZE = 8
    TEREDO_AUTHENTICATION_FIXED = 13  # tag, two lengths, nonce (8), confirmation (1)
    AYIYA_HEADER = 8
    AYIYA_FORWARD = 1  # the opcode of a datagram that carries a packet
    MPLS_LABEL = 4


cdef inline bint _ethernet(const uint8_t *p, int64_t caplen, int64_t at, int64_t left, int64_t *offset,
                           int *ethertype) noexcept nogil:
    """An Ethernet frame at ``at``: its ethertype, if its header is there."""
    if left < ETHERNET_HEADER or at + ETHERNET_HEADER > caplen:
        return False
    ethertype[0] = pf_be16(p + at + 12)
    offset[0] = at + ETHERNET_HEADER
    return True


cdef inline bint _ip_version_is(const uint8_t *p, int64_t caplen, int64_t at, int64_t left, int version) noexcept nogil:
    return left > 0 and at < caplen and (p[at] >> 4) == version


cdef inline int _vxlan(const uint8_t *p, int64_t caplen, int64_t at, int64_t left, int64_t *offset, int *ethertype,
                       int64_t *tunnel_id) noexcept nogil:
    # RFC 7348: 8 bytes, the I flag set (the VNI is valid), an Ethernet frame behind
    if left < 8 or at + 8 > caplen or not (p[at] & 0x08):
        return NO_TUNNEL
    if not _ethernet(p, caplen, at + 8, left - 8, offset, ethertype):
        return NO_TUNNEL
    tunnel_id[0] = pf_be32(p + at + 4) >> 8
    return TUNNEL_VXLAN


cdef inline int _geneve(const uint8_t *p, int64_t caplen, int64_t at, int64_t left, int64_t *offset, int *ethertype,
                        int64_t *tunnel_id) noexcept nogil:
    # RFC 8926: version 0, 8 bytes and the options' length, a protocol type of Ethernet or IP
    cdef int64_t header
    cdef int protocol
    if left < 8 or at + 8 > caplen or (p[at] >> 6) != 0:
        return NO_TUNNEL
    header = 8 + (p[at] & 0x3F) * 4
    protocol = pf_be16(p + at + 2)
    if header > left:
        return NO_TUNNEL
    if protocol == ETHERTYPE_TRANSPARENT_BRIDGING:
        if not _ethernet(p, caplen, at + header, left - header, offset, ethertype):
            return NO_TUNNEL
    elif (protocol == ETHERTYPE_IPV4 and _ip_version_is(p, caplen, at + header, left - header, 4)) or (
            protocol == ETHERTYPE_IPV6 and _ip_version_is(p, caplen, at + header, left - header, 6)):
        ethertype[0] = protocol
        offset[0] = at + header
    else:
        return NO_TUNNEL
    tunnel_id[0] = pf_be32(p + at + 4) >> 8
    return TUNNEL_GENEVE


cdef inline int _gtp_u(const uint8_t *p, int64_t caplen, int64_t at, int64_t left, int64_t *offset, int *ethertype,
                       int64_t *tunnel_id) noexcept nogil:
    # 3GPP TS 29.281: version 1, protocol type GTP, a G-PDU; the optional fields when any of E, S,
    # PN is set, then the extension headers (each its length in 4-byte units, its next type last)
    cdef int64_t header = 8, length
    cdef int next_type
    if left < 8 or at + 8 > caplen or (p[at] >> 5) != 1 or not (p[at] & 0x10) or p[at + 1] != GTP_G_PDU:
        return NO_TUNNEL
    if p[at] & 0x07:
        header = 12
        if header > left or at + header > caplen:
            return NO_TUNNEL
        next_type = p[at + 11] if p[at] & 0x04 else 0
        while next_type != 0:  # each is at least 4 bytes: the datagram ends the loop
            if header + 1 > left or at + header + 1 > caplen:
                return NO_TUNNEL
            length = p[at + header] * 4
            if length == 0 or header + length > left or at + header + length > caplen:
                return NO_TUNNEL
            next_type = p[at + header + length - 1]
            header += length
    if not (_ip_version_is(p, caplen, at + header, left - header, 4) or _ip_version_is(p, caplen, at + header, left - header, 6)):
        return NO_TUNNEL  # no payload (an end marker), or not IP
    ethertype[0] = BY_VERSION
    offset[0] = at + header
    tunnel_id[0] = pf_be32(p + at + 4)
    return TUNNEL_GTP_U


cdef inline bint _mpls(int64_t at, int64_t left, int64_t *offset, int *ethertype) noexcept nogil:
    """A label stack at ``at`` (peeled by decode.pyx as any other), if a label is there."""
    if left < MPLS_LABEL:
        return False
    ethertype[0] = ETHERTYPE_MPLS
    offset[0] = at
    return True


cdef inline bint _gre_payload(const uint8_t *p, int64_t caplen, int64_t at, int64_t left, int protocol, bint sequenced,
                             int64_t *offset, int *ethertype) noexcept nogil:
    """Whether a GRE header's protocol type names a packet at ``at`` (``offset`` and ``ethertype`` set)."""
    cdef int64_t header = 0
    if protocol == ETHERTYPE_IPV4 or protocol == ETHERTYPE_IPV6:
        if not _ip_version_is(p, caplen, at, left, 4 if protocol == ETHERTYPE_IPV4 else 6):
            return False
        ethertype[0] = protocol
        offset[0] = at
        return True
    if protocol == ETHERTYPE_MPLS or protocol == ETHERTYPE_MPLS_MULTICAST:
        return _mpls(at, left, offset, ethertype)
    if protocol == ETHERTYPE_ERSPAN_II:
        header = 8 if sequenced else 0  # type I is the same protocol type without a sequence number or header
    elif protocol == ETHERTYPE_ERSPAN_III:
        if left < 12 or at + 12 > caplen:
            return False
        header = 20 if p[at + 11] & 1 else 12  # the O flag: a platform-specific subheader follows
    elif protocol != ETHERTYPE_TRANSPARENT_BRIDGING:
        return False
    if header > left or not _ethernet(p, caplen, at + header, left - header, offset, ethertype):
        return False
    return True


cdef inline int _gre(const uint8_t *p, int64_t caplen, int64_t at, int64_t left, int64_t *offset, int *ethertype,
                     int64_t *tunnel_id) noexcept nogil:
    """A GRE header at ``at``, in IP (protocol 47) or in UDP (RFC 8086): GRE, or PPTP's enhanced GRE."""
    cdef int flags, protocol
    cdef int64_t header, inner, key
    if left < 4 or at + 4 > caplen:
        return NO_TUNNEL
    flags = pf_be16(p + at)
    protocol = pf_be16(p + at + 2)
    if (flags & GRE_VERSION) == 0:  # RFC 2784 and 2890; source routing (RFC 1701) is obsolete
        if flags & GRE_ROUTING:
            return NO_TUNNEL
        header = 4 + (4 if flags & GRE_CHECKSUM else 0)
        key = NO_TUNNEL_ID
        if flags & GRE_KEY:
            if at + header + 4 > caplen:
                return NO_TUNNEL
            key = pf_be32(p + at + header)
            header += 4
        header += 4 if flags & GRE_SEQUENCE else 0
        if header > left or not _gre_payload(p, caplen, at + header, left - header, protocol,
                                             (flags & GRE_SEQUENCE) != 0, offset, ethertype):
            return NO_TUNNEL
        tunnel_id[0] = key
        return TUNNEL_GRE
    if (flags & GRE_VERSION) != 1 or protocol != ETHERTYPE_PPP or not (flags & GRE_KEY) or flags & (GRE_CHECKSUM | GRE_ROUTING):
        return NO_TUNNEL  # RFC 2637: enhanced GRE always has the key (payload length, call id), never a checksum
    header = 8 + (4 if flags & GRE_SEQUENCE else 0) + (4 if flags & GRE_ACKNOWLEDGEMENT else 0)
    if header >= left or at + 8 > caplen:
        return NO_TUNNEL  # an acknowledgement alone carries no packet
    if at + header < caplen and p[at + header] == HDLC_ADDRESS_ALL_STATIONS:
        header += 2  # HDLC-like framing (RFC 1662), unless address and control were negotiated away
    if ppp_protocol(p, caplen, at + header, &inner, &protocol) != OK or (protocol != ETHERTYPE_IPV4 and protocol != ETHERTYPE_IPV6):
        return NO_TUNNEL  # PPP's control protocols, or compressed IP
    offset[0] = inner
    ethertype[0] = protocol
    tunnel_id[0] = pf_be16(p + at + 6)
    return TUNNEL_PPTP


cdef inline int ip_tunnel(const uint8_t *p, int64_t caplen, int64_t at, int64_t left, int proto, int64_t *offset,
                          int *ethertype, int64_t *tunnel_id) noexcept nogil:
    """The tunnel an IP protocol number names: GRE (47), IPv4 (4) or IPv6 (41) in IP."""
    if proto == IPPROTO_IPIP or proto == IPPROTO_IPV6:
        if not _ip_version_is(p, caplen, at, left, 4 if proto == IPPROTO_IPIP else 6):
            return NO_TUNNEL
        ethertype[0] = ETHERTYPE_IPV4 if proto == IPPROTO_IPIP else ETHERTYPE_IPV6
        offset[0] = at
        tunnel_id[0] = NO_TUNNEL_ID
        return TUNNEL_IP_IN_IP
    if proto == IPPROTO_GRE:
        return _gre(p, caplen, at, left, offset, ethertype, tunnel_id)
    return NO_TUNNEL


cdef inline int _teredo(const uint8_t *p, int64_t caplen, int64_t at, int64_t left, int64_t *offset, int *ethertype,
                        int64_t *tunnel_id) noexcept nogil:
    # RFC 4380 5.1.1: an authentication indication, then an origin indication, each optional, then
    # IPv6 whose payload length is the rest of the datagram (a bubble, no next header and no
    # payload, may have bytes behind it), as Zeek checks it
    cdef int64_t header = 0, payload
    if left >= 2 and at + 2 <= caplen and pf_be16(p + at) == TEREDO_AUTHENTICATION:
        if left < 4 or at + 4 > caplen:
            return NO_TUNNEL
        header = TEREDO_AUTHENTICATION_FIXED + p[at + 2] + p[at + 3]
    if left >= header + 2 and at + header + 2 <= caplen and pf_be16(p + at + header) == TEREDO_ORIGIN:
        header += TEREDO_ORIGIN_SIZE
    if header + IPV6_HEADER > left or at + header + IPV6_HEADER > caplen or (p[at + header] >> 4) != 6:
        return NO_TUNNEL
    payload = pf_be16(p + at + header + 4)
    if IPV6_HEADER + payload != left - header and not (payload == 0 and p[at + header + 6] == IPPROTO_NO_NEXT_HEADER):
        return NO_TUNNEL
    ethertype[0] = ETHERTYPE_IPV6
    offset[0] = at + header
    tunnel_id[0] = NO_TUNNEL_ID
    return TUNNEL_TEREDO


cdef inline int _ayiya(const uint8_t *p, int64_t caplen, int64_t at, int64_t left, int64_t *offset, int *ethertype,
                       int64_t *tunnel_id) noexcept nogil:
    # 8 bytes, the identity (2^n bytes, n its length nibble) and the signature (its nibble in 4-byte
    # units) behind; a forward (opcode 1) whose next header is IPv4 (4) or IPv6 (41), as in Zeek
    cdef int64_t header
    cdef int version
    if left < AYIYA_HEADER or at + AYIYA_HEADER > caplen or (p[at + 2] & 0x0F) != AYIYA_FORWARD:
        return NO_TUNNEL
    header = AYIYA_HEADER + (1 << (p[at] >> 4)) + (p[at + 1] >> 4) * 4
    if p[at + 3] == IPPROTO_IPIP:
        version = 4
    elif p[at + 3] == IPPROTO_IPV6:
        version = 6
    else:
        return NO_TUNNEL
    if header > left or not _ip_version_is(p, caplen, at + header, left - header, version):
        return NO_TUNNEL
    ethertype[0] = ETHERTYPE_IPV4 if version == 4 else ETHERTYPE_IPV6
    offset[0] = at + header
    tunnel_id[0] = NO_TUNNEL_ID
    return TUNNEL_AYIYA


cdef inline int udp_tunnel(const uint8_t *p, int64_t caplen, int64_t at, int64_t left, uint16_t src_port,
                           uint16_t dst_port, int64_t *offset, int *ethertype, int64_t *tunnel_id) noexcept nogil:
    """The tunnel in a UDP payload, by its destination port, or either port for GTP-U, Teredo and
    AYIYA (the destination's first), and its header. (Chains of one variable against constants:
    C switches, so a datagram on no tunnel port costs two jumps.)"""
    cdef uint16_t port = src_port
    if dst_port == VXLAN_PORT:
        return _vxlan(p, caplen, at, left, offset, ethertype, tunnel_id)
    elif dst_port == GENEVE_PORT:
        return _geneve(p, caplen, at, left, offset, ethertype, tunnel_id)
    elif dst_port == GRE_UDP_PORT:
        return _gre(p, caplen, at, left, offset, ethertype, tunnel_id)
    elif dst_port == MPLS_UDP_PORT:
        if not _mpls(at, left, offset, ethertype):
            return NO_TUNNEL
        tunnel_id[0] = NO_TUNNEL_ID
        return TUNNEL_MPLS
    elif dst_port == GTP_U_PORT or dst_port == TEREDO_PORT or dst_port == AYIYA_PORT:
        port = dst_port
    if port == GTP_U_PORT:
        return _gtp_u(p, caplen, at, left, offset, ethertype, tunnel_id)
    elif port == TEREDO_PORT:
        return _teredo(p, caplen, at, left, offset, ethertype, tunnel_id)
    elif port == AYIYA_PORT:
        return _ayiya(p, caplen, at, left, offset, ethertype, tunnel_id)
    return NO_TUNNEL
