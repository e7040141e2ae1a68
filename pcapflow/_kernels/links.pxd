# The link layers decode.pyx reads beyond Ethernet, Linux SLL, NULL/LOOP and raw IP: IEEE 802.11
# data frames (bare, behind a radiotap or a PPI header), PPP (bare or in HDLC-like framing),
# Cisco HDLC, Linux NFLOG and OpenBSD PFLOG; and the PPP protocol field that PPPoE shares.
#
# Each function steps over its headers and returns OK with ``offset`` (where the next header
# starts) and ``ethertype`` (what it is; 0 for something that is not IP) set, or the status of
# why it stopped. Every read is checked against the record's captured length ``caplen`` first.
# The rules are those of the scapy reference engine (pcapflow/decode/reference_links.py), which
# says where they come from.

from libc.stdint cimport int64_t, uint8_t, uint32_t

from pcapflow._kernels.bytes cimport pf_be16, pf_le16, pf_le32
from pcapflow._kernels.constants cimport *

cdef enum:
    AF_INET = 2


cdef inline int family_ethertype(uint32_t family) noexcept nogil:
    # AF_INET6 as Linux (10), the BSDs (24, 28) and macOS (30) number it
    if family == AF_INET:
        return ETHERTYPE_IPV4
    if family == 10 or family == 24 or family == 28 or family == 30:
        return ETHERTYPE_IPV6
    return 0


cdef inline int ppp_protocol(const uint8_t *p, int64_t caplen, int64_t at, int64_t *offset, int *ethertype) noexcept nogil:
    """The PPP protocol field at ``at``: 1 byte when its first byte is odd (RFC 1661 6.5), else 2."""
    cdef int64_t size
    cdef int protocol
    if at + 1 > caplen:
        return TRUNCATED_LINK
    size = 1 if p[at] & 1 else 2
    if at + size > caplen:
        return TRUNCATED_LINK
    protocol = p[at] if size == 1 else pf_be16(p + at)
    offset[0] = at + size
    ethertype[0] = 0  # a control protocol (LCP, IPCP...) or anything else: not IP
    if protocol == PPP_IPV4:
        ethertype[0] = ETHERTYPE_IPV4
    elif protocol == PPP_IPV6:
        ethertype[0] = ETHERTYPE_IPV6
    elif protocol == PPP_MPLS:
        ethertype[0] = ETHERTYPE_MPLS
    elif protocol == PPP_MPLS_MULTICAST:
        ethertype[0] = ETHERTYPE_MPLS_MULTICAST
    elif (protocol == PPP_VJ_COMPRESSED_TCP or protocol == PPP_VJ_UNCOMPRESSED_TCP or protocol == PPP_MULTILINK
          or protocol == PPP_LINK_COMPRESSED or protocol == PPP_COMPRESSED):
        return UNSUPPORTED_LAYER  # IP, but compressed or in multilink fragments
    return OK


cdef inline int cisco_hdlc(const uint8_t *p, int64_t caplen, int64_t *offset, int *ethertype) noexcept nogil:
    # address, control, then an ethertype
    if caplen < 4:
        return TRUNCATED_LINK
    ethertype[0] = pf_be16(p + 2)
    offset[0] = 4
    return OK


cdef inline int ppp(const uint8_t *p, int64_t caplen, int64_t *offset, int *ethertype) noexcept nogil:
    # a frame starting with a Cisco HDLC address is Cisco HDLC (both PPP link types may hold
    # them, as Wireshark reads them); 0xFF is the all-stations address of HDLC-like framing
    # (RFC 1662), followed by its control byte; else the frame starts with the protocol
    if caplen < 1:
        return TRUNCATED_LINK
    if p[0] == CHDLC_ADDRESS_UNICAST or p[0] == CHDLC_ADDRESS_MULTICAST:
        return cisco_hdlc(p, caplen, offset, ethertype)
    return ppp_protocol(p, caplen, 2 if p[0] == HDLC_ADDRESS_ALL_STATIONS else 0, offset, ethertype)


cdef inline int llc_snap(const uint8_t *p, int64_t caplen, int64_t at, int64_t *offset, int *ethertype) noexcept nogil:
    """An 802.2 LLC header at ``at``: SNAP with an ethertype (RFC 1042, 802.1H), else not IP."""
    cdef uint32_t oui
    if at + 3 > caplen:
        return TRUNCATED_LINK
    if p[at] != LLC_SNAP_SAP or p[at + 1] != LLC_SNAP_SAP or p[at + 2] != LLC_UI:
        return NOT_IP  # spanning tree, NetBIOS, IPX...
    if at + 8 > caplen:
        return TRUNCATED_LINK
    oui = (p[at + 3] << 16) | (p[at + 4] << 8) | p[at + 5]
    if oui != OUI_RFC1042 and oui != OUI_BRIDGE_TUNNEL:
        return NOT_IP  # a protocol of that organisation's own numbering (Cisco's CDP...)
    ethertype[0] = pf_be16(p + at + 6)
    offset[0] = at + 8
    return OK


cdef inline int ieee80211(const uint8_t *p, int64_t caplen, int64_t at, bint padded, int64_t *offset,
                          int *ethertype) noexcept nogil:
    """An 802.11 frame at ``at``: a data frame's MAC header stepped over, then its LLC header
    (``padded``: radiotap's data-pad flag, the body starts on a 4-byte boundary)."""
    cdef int control, flags
    cdef int64_t qos_at = 24, header
    if at + 2 > caplen:
        return TRUNCATED_LINK
    control, flags = p[at], p[at + 1]
    if control & 0x03:
        return BAD_LINK_HEADER  # protocol version 0 is the only one
    if (control & 0x0C) != 0x08 or control & 0x40:
        return NOT_IP  # management, control or extension frames; data subtypes without a body (null...)
    if flags & 0x40:
        return PROTECTED  # the body is encrypted (WEP, TKIP, CCMP, GCMP)
    if (flags & 0x03) == 0x03:
        qos_at = 30  # to and from the distribution system: a fourth address
    header = qos_at
    if control & 0x80:  # QoS data: QoS control, then HT control when the order flag is set
        header += 6 if flags & 0x80 else 2
    if at + header > caplen:
        return TRUNCATED_LINK
    if control & 0x80 and p[at + qos_at] & 0x80:
        return UNSUPPORTED_LAYER  # an A-MSDU: several packets in one frame
    if padded:
        header = (header + 3) & ~3
    return llc_snap(p, caplen, at + header, offset, ethertype)


cdef inline int radiotap(const uint8_t *p, int64_t caplen, int64_t *offset, int *ethertype) noexcept nogil:
    # version, pad, length (little-endian, as every radiotap field), presence bitmaps, fields
    cdef int64_t length, fields = 8, flags_at
    cdef uint32_t present
    cdef int flags = 0
    if caplen < 8:
        return TRUNCATED_LINK
    length = pf_le16(p + 2)
    if p[0] != 0 or length < 8:
        return BAD_LINK_HEADER
    if length > caplen:
        return TRUNCATED_LINK
    present = pf_le32(p + 4)
    while pf_le32(p + fields - 4) >> 31:  # bit 31: another presence bitmap follows
        if fields + 4 > length:
            return BAD_LINK_HEADER
        fields += 4
    if present & 0x02:  # the flags field, behind the TSFT (8 bytes, aligned to 8) when present
        flags_at = ((fields + 7) & ~7) + 8 if present & 0x01 else fields
        if flags_at >= length:
            return BAD_LINK_HEADER
        flags = p[flags_at]
    return ieee80211(p, caplen, length, flags & 0x20, offset, ethertype)


cdef inline int ppi(const uint8_t *p, int64_t caplen, int64_t *offset, int *ethertype) noexcept nogil:
    # version, flags, length, then the link type of the frame behind it (all little-endian)
    cdef int64_t length
    cdef uint32_t linktype
    if caplen < 8:
        return TRUNCATED_LINK
    length = pf_le16(p + 2)
    if p[0] != 0 or length < 8:
        return BAD_LINK_HEADER
    if length > caplen:
        return TRUNCATED_LINK
    linktype = pf_le32(p + 4)
    if linktype == LINKTYPE_IEEE802_11:
        return ieee80211(p, caplen, length, False, offset, ethertype)
    if linktype == LINKTYPE_ETHERNET:
        if length + 14 > caplen:
            return TRUNCATED_LINK
        ethertype[0] = pf_be16(p + length + 12)
        offset[0] = length + 14
        return OK
    return UNSUPPORTED_LAYER


cdef inline bint _nflog_tlv_fits(int length, int kind) noexcept nogil:
    return length >= 4 and 0 < (kind & 0x7FFF) < 0x100


cdef inline int nflog(const uint8_t *p, int64_t caplen, int64_t *offset, int *ethertype) noexcept nogil:
    # family, version, resource id, then TLVs (length, type, value padded to 4 bytes) in the
    # capturing host's byte order: big-endian when the first TLV makes sense read so, as
    # Wireshark guesses; the packet is the value of the payload TLV
    cdef int64_t at = 4, length
    cdef bint big = True
    if caplen < 4:
        return TRUNCATED_LINK
    if p[1] != 0:
        return BAD_LINK_HEADER  # version 0 is the only one
    if caplen >= 8 and not _nflog_tlv_fits(pf_be16(p + 4), pf_be16(p + 6)):
        big = not _nflog_tlv_fits(pf_le16(p + 4), pf_le16(p + 6))
    while at + 4 <= caplen:
        length = pf_be16(p + at) if big else pf_le16(p + at)
        if length < 4:
            return BAD_LINK_HEADER
        if ((pf_be16(p + at + 2) if big else pf_le16(p + at + 2)) & 0x7FFF) == NFULA_PAYLOAD:
            ethertype[0] = family_ethertype(p[0])
            offset[0] = at + 4
            return OK
        at += (length + 3) & ~3
    return NOT_IP if at == caplen else TRUNCATED_LINK  # no packet logged, or cut before it


cdef inline int pflog(const uint8_t *p, int64_t caplen, int64_t *offset, int *ethertype) noexcept nogil:
    # header length (padded to 4 bytes), address family, then PF's rule and action fields
    cdef int64_t header
    if caplen < 2:
        return TRUNCATED_LINK
    if p[0] < PFLOG_MIN_HEADER:
        return BAD_LINK_HEADER
    header = (p[0] + 3) & ~3
    if header > caplen:
        return TRUNCATED_LINK
    ethertype[0] = family_ethertype(p[1])
    offset[0] = header
    return OK


cdef inline int other_link_layer(const uint8_t *p, int64_t caplen, int linktype, int64_t *offset,
                                 int *ethertype) noexcept nogil:
    if linktype == LINKTYPE_IEEE802_11:
        return ieee80211(p, caplen, 0, False, offset, ethertype)
    if linktype == LINKTYPE_IEEE802_11_RADIOTAP:
        return radiotap(p, caplen, offset, ethertype)
    if linktype == LINKTYPE_PPI:
        return ppi(p, caplen, offset, ethertype)
    if linktype == LINKTYPE_PPP or linktype == LINKTYPE_PPP_HDLC:
        return ppp(p, caplen, offset, ethertype)
    if linktype == LINKTYPE_C_HDLC:
        return cisco_hdlc(p, caplen, offset, ethertype)
    if linktype == LINKTYPE_NFLOG:
        return nflog(p, caplen, offset, ethertype)
    if linktype == LINKTYPE_PFLOG:
        return pflog(p, caplen, offset, ethertype)
    return UNSUPPORTED_LINKTYPE
