# The codes and numbers pcapflow's kernels and its Python layer share: the one home of each.
#
# ``cpdef enum`` makes each enum a Python IntEnum of pcapflow._kernels.constants as well, so
# the Python modules read these values from here (pcapflow.protocols, pcapflow.decode.table)
# instead of writing them again. C enums share one namespace: the members carry their registry's
# prefix, as the registries name them.

from libc.stdint cimport uint32_t

cpdef enum Status:
    # Values below TRACKED_BELOW are tracked, below OUT_OF_SCOPE_BELOW out of scope, others malformed.
    OK = 0
    PORTS_ONLY = 1
    FRAGMENT = 2
    NOT_IP = 10
    UNSUPPORTED_LINKTYPE = 11
    PROTECTED = 12  # an 802.11 frame whose body is encrypted
    UNSUPPORTED_LAYER = 13  # a layer recognised but not decoded (an A-MSDU, compressed PPP...)
    BAD_RECORD = 20
    TRUNCATED_LINK = 21
    TRUNCATED_IP = 22
    BAD_IP_HEADER = 23
    TRUNCATED_TRANSPORT = 24
    BAD_TRANSPORT_HEADER = 25
    BAD_LINK_HEADER = 26  # a link-layer header that contradicts itself or its record

cpdef enum StatusKind:
    TRACKED_BELOW = 10
    OUT_OF_SCOPE_BELOW = 20

cpdef enum IpProtocol:
    # IANA "Assigned Internet Protocol Numbers" (and IPv6 extension header types).
    IPPROTO_HOPOPTS = 0
    IPPROTO_ICMP = 1
    IPPROTO_IGMP = 2
    IPPROTO_IPIP = 4
    IPPROTO_TCP = 6
    IPPROTO_UDP = 17
    IPPROTO_IPV6 = 41
    IPPROTO_ROUTING = 43
    IPPROTO_FRAGMENT = 44
    IPPROTO_GRE = 47
    IPPROTO_ESP = 50
    IPPROTO_AH = 51
    IPPROTO_ICMPV6 = 58
    IPPROTO_NO_NEXT_HEADER = 59
    IPPROTO_DSTOPTS = 60
    IPPROTO_OSPF = 89
    IPPROTO_PIM = 103
    IPPROTO_VRRP = 112
    IPPROTO_SCTP = 132
    IPPROTO_MOBILITY = 135

cpdef enum LinkType:
    # tcpdump.org LINKTYPE_* numbers (what files carry), never the platform's DLT_* values.
    LINKTYPE_NULL = 0
    LINKTYPE_ETHERNET = 1
    LINKTYPE_PPP = 9
    LINKTYPE_RAW_LEGACY = 12
    LINKTYPE_RAW_OPENBSD = 14
    LINKTYPE_PPP_HDLC = 50
    LINKTYPE_RAW = 101
    LINKTYPE_C_HDLC = 104
    LINKTYPE_IEEE802_11 = 105
    LINKTYPE_LOOP = 108
    LINKTYPE_LINUX_SLL = 113
    LINKTYPE_PFLOG = 117
    LINKTYPE_IEEE802_11_RADIOTAP = 127
    LINKTYPE_PPI = 192
    LINKTYPE_DBUS = 231
    LINKTYPE_IPV4 = 228
    LINKTYPE_IPV6 = 229
    LINKTYPE_NFLOG = 239
    LINKTYPE_USBPCAP = 249
    LINKTYPE_LINUX_SLL2 = 276
    LINKTYPE_EBHSCR = 279
    LINKTYPE_UNKNOWN_INTERFACE = 0xFFFF  # given to records whose interface the file never described

cpdef enum EtherType:
    ETHERTYPE_IPV4 = 0x0800
    ETHERTYPE_VLAN = 0x8100
    ETHERTYPE_QINQ = 0x88A8
    ETHERTYPE_QINQ_OLD1 = 0x9100
    ETHERTYPE_QINQ_OLD2 = 0x9200
    ETHERTYPE_IPV6 = 0x86DD
    ETHERTYPE_MPLS = 0x8847
    ETHERTYPE_MPLS_MULTICAST = 0x8848
    ETHERTYPE_PPPOE_SESSION = 0x8864
    PPP_IPV4 = 0x0021
    PPP_IPV6 = 0x0057
    PPP_MPLS = 0x0281
    PPP_MPLS_MULTICAST = 0x0283
    PPP_VJ_COMPRESSED_TCP = 0x002D
    PPP_VJ_UNCOMPRESSED_TCP = 0x002F
    PPP_MULTILINK = 0x003D
    PPP_LINK_COMPRESSED = 0x00FB
    PPP_COMPRESSED = 0x00FD
    ETHERTYPE_TRANSPARENT_BRIDGING = 0x6558  # an Ethernet frame inside GRE or Geneve
    ETHERTYPE_ERSPAN_II = 0x88BE  # ERSPAN type II (type I has no header of its own)
    ETHERTYPE_ERSPAN_III = 0x22EB
    ETHERTYPE_PPP = 0x880B  # PPTP's enhanced GRE carrying PPP

cpdef enum LinkField:
    # numbers in link-layer headers other than ethertypes
    HDLC_ADDRESS_ALL_STATIONS = 0xFF  # PPP in HDLC-like framing (RFC 1662)
    CHDLC_ADDRESS_UNICAST = 0x0F
    CHDLC_ADDRESS_MULTICAST = 0x8F
    LLC_SNAP_SAP = 0xAA  # 802.2 LLC: SNAP (RFC 1042)
    LLC_UI = 0x03
    OUI_RFC1042 = 0x000000  # SNAP organisation codes whose protocol ids are ethertypes
    OUI_BRIDGE_TUNNEL = 0x0000F8  # 802.1H
    NFULA_PAYLOAD = 9  # the NFLOG TLV that holds the packet
    PFLOG_MIN_HEADER = 45  # the shortest PFLOG header (OpenBSD 3.4's)

cpdef enum Tunnel:
    # the encapsulation a packet came out of (its innermost one): the ``tunnel`` column's codes
    NO_TUNNEL = 0
    TUNNEL_VXLAN = 1
    TUNNEL_GENEVE = 2
    TUNNEL_GTP_U = 3
    TUNNEL_GRE = 4
    TUNNEL_IP_IN_IP = 5  # 4in4, 6in4 (protocol 41), 4in6, 6in6
    TUNNEL_TEREDO = 6
    TUNNEL_AYIYA = 7
    TUNNEL_MPLS = 8  # MPLS in UDP (MPLS in GRE is GRE)
    TUNNEL_PPTP = 9  # PPTP's enhanced GRE

cpdef enum TunnelPort:
    # the UDP ports a tunnel is looked for on (IANA)
    GTP_U_PORT = 2152
    TEREDO_PORT = 3544
    GRE_UDP_PORT = 4754  # GRE in UDP (RFC 8086)
    VXLAN_PORT = 4789
    AYIYA_PORT = 5072
    GENEVE_PORT = 6081
    MPLS_UDP_PORT = 6635  # MPLS in UDP (RFC 7510)

cpdef enum TcpFlag:
    TCP_FIN = 0x01
    TCP_SYN = 0x02
    TCP_RST = 0x04
    TCP_PSH = 0x08
    TCP_ACK = 0x10

cpdef enum RoleBasis:
    # the rule that named a conversation's client (pcapflow.tracking.roles): the ``role_basis`` codes
    ROLE_SYN = 0
    ROLE_SYN_ACK = 1
    ROLE_PORT = 2
    ROLE_FIRST_PACKET = 3

cpdef enum ConnState:
    # Zeek's conn_state codes (pcapflow.tracking.state)
    CONN_S0 = 0
    CONN_S1 = 1
    CONN_SF = 2
    CONN_REJ = 3
    CONN_S2 = 4
    CONN_S3 = 5
    CONN_RSTO = 6
    CONN_RSTR = 7
    CONN_RSTOS0 = 8
    CONN_RSTRH = 9
    CONN_SH = 10
    CONN_SHR = 11
    CONN_OTH = 12

cpdef enum EndReason:
    # why a conversation ended (pcapflow.tracking.state): the ``end_reason`` codes
    REASON_FIN = 0
    REASON_RST = 1
    REASON_REUSE = 2
    REASON_IDLE_TIMEOUT = 3
    REASON_END_OF_CAPTURE = 4

cpdef enum Limit:
    NO_VLAN = 0xFFFF  # the vlan_id of an untagged frame
    MAX_RECORD_BYTES = 262144  # Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD
    MAX_EXTENSION_HEADERS = 8  # IPv6 extension headers followed per datagram
    MAX_TUNNEL_DEPTH = 4  # encapsulations opened per packet (Zeek's Tunnel::max_depth)
    NO_TUNNEL_ID = -1  # the tunnel_id of a packet whose encapsulation names none


cdef enum:
    BY_VERSION = 0x10000  # "the IP version nibble says": raw IP link types, the bottom of an MPLS stack, GTP-U


cdef inline bint is_tracked(int status) noexcept nogil:
    return status < TRACKED_BELOW


cdef inline int icmp_counterpart(int proto, int message_type) noexcept nogil:
    """The counterpart type of an ICMP/ICMPv6 request or reply (Zeek's ICMP4_counterpart,
    Community ID's mirror), or -1 for a one-way message."""
    if proto == IPPROTO_ICMP:
        if message_type == 8: return 0  # echo
        if message_type == 0: return 8
        if message_type == 13: return 14  # timestamp
        if message_type == 14: return 13
        if message_type == 15: return 16  # information
        if message_type == 16: return 15
        if message_type == 10: return 9  # router solicitation / advertisement
        if message_type == 9: return 10
        if message_type == 17: return 18  # address mask
        if message_type == 18: return 17
    elif proto == IPPROTO_ICMPV6:
        if message_type == 128: return 129  # echo
        if message_type == 129: return 128
        if message_type == 133: return 134  # router solicitation / advertisement
        if message_type == 134: return 133
        if message_type == 135: return 136  # neighbour solicitation / advertisement
        if message_type == 136: return 135
        if message_type == 130: return 131  # multicast listener query / report
        if message_type == 131: return 130
        if message_type == 139: return 140  # node information query / response
        if message_type == 140: return 139
        if message_type == 144: return 145  # home agent address discovery
        if message_type == 145: return 144
    return -1


cdef inline bint icmp_is_request(int proto, int message_type) noexcept nogil:
    """Whether the message type is the request half of a pair: its sender is the client."""
    if proto == IPPROTO_ICMP:
        return message_type in (8, 13, 15, 10, 17)
    if proto == IPPROTO_ICMPV6:
        return message_type in (128, 133, 135, 130, 139, 144)
    return False


cdef inline uint32_t max_record_bytes(int linktype) noexcept nogil:
    """The longest record a link type may have, as Wireshark judges it (wtap_max_snaplen_for_encap)."""
    if linktype == LINKTYPE_DBUS or linktype == LINKTYPE_USBPCAP:
        return 128 * 1024 * 1024
    if linktype == LINKTYPE_EBHSCR:
        return 32 * 1024 * 1024
    return MAX_RECORD_BYTES

