"""The reference engine's tunnels: what :func:`inner_ethertype` opens once an IP header is read.

With decapsulation on, a packet's headers are replaced by those of the packet inside its tunnel,
up to :data:`MAX_TUNNEL_DEPTH` tunnels deep (Zeek's ``Tunnel::max_depth``); the row keeps its
outermost VLAN id and gets the innermost tunnel's code, the depth, and the tunnel's id. A payload
is a tunnel only when its header says so: on a tunnel's port or protocol, a header that is wrong,
or cut before the inner packet starts, leaves the packet as it was. Fragments are not opened. The
rules, and where they come from:

- **VXLAN** (RFC 7348; UDP destination port 4789): 8 bytes with the I flag (0x08) set, then an
  Ethernet frame; the id is the 24-bit VNI.
- **Geneve** (RFC 8926; destination port 6081): version 0, 8 bytes and the options' length (in
  4-byte units), a protocol type of Ethernet (0x6558) or IPv4/IPv6 (the version nibble behind it
  agreeing); the id is the VNI.
- **GTP-U** (3GPP TS 29.281; either port 2152): version 1 with the protocol-type flag, a G-PDU
  (type 255); when any of the E, S, PN flags is set the 4 optional bytes follow, then the
  extension headers while the E flag and each one's next type say so (each its length in 4-byte
  units, never 0); then an IPv4 or IPv6 packet; the id is the TEID. Echo and other messages stay
  UDP.
- **Teredo** (RFC 4380; either port 3544): an authentication indication (tag 0x0001, the client
  id's and the authenticator's lengths, those two, an 8-byte nonce and a confirmation byte), then
  an origin indication (tag 0x0000, 8 bytes), each optional, then IPv6 whose payload length is the
  rest of the datagram, or a bubble (no next header, payload length 0) with any bytes behind it:
  Zeek's checks. No id. Teredo on other ports is not looked for (Zeek also finds it by its
  payload on any port).
- **AYIYA** (either port 5072; Zeek's analyzer): 8 bytes (identity length n: 2^n bytes; signature
  length in 4-byte units; authentication method and opcode; next header; epoch), the identity and
  the signature; a forward (opcode 1) whose next header is IPv4 (4) or IPv6 (41), the version
  nibble agreeing. No id.
- **GRE in UDP** (RFC 8086; destination port 4754): a GRE header as in IP, below.
- **MPLS in UDP** (RFC 7510; destination port 6635): a label stack, peeled as any.
- **GRE** (IP protocol 47; RFC 2784, RFC 2890): version 0 without the obsolete routing flag; the
  checksum, key and sequence number fields when their flags say so; the id is the key. The
  protocol type names what follows: IPv4 or IPv6 (the version nibble agreeing), MPLS (peeled as
  any label stack), Ethernet (0x6558), ERSPAN type II (0x88BE with a sequence number: an 8-byte
  header) or type I (0x88BE without one: no header), ERSPAN type III (0x22EB: 12 bytes, 8 more with
  the O flag). Version 1 is PPTP's enhanced GRE (RFC 2637): protocol PPP (0x880B), the key flag
  set, no checksum or routing; 8 bytes, 4 more for a sequence and for an acknowledgement number,
  then PPP (its address and control bytes stepped over when the frame starts with 0xFF) carrying
  IPv4 or IPv6; the tunnel is PPTP, the id the call id. An acknowledgement alone stays GRE.
- **IP in IP** (protocols 4 and 41 in IPv4 or IPv6: 4in4, 6in4, 4in6, 6in6): the inner header's
  version nibble must agree; no id.
"""

from __future__ import annotations

from collections.abc import Callable

from pcapflow._kernels.constants import EtherType as E
from pcapflow._kernels.constants import IpProtocol as P
from pcapflow._kernels.constants import Limit, LinkField, TunnelPort
from pcapflow._kernels.constants import Tunnel as T
from pcapflow.decode.reference import BY_VERSION, IPV4, IPV6, _ppp_protocol, _Record, _Stop, _transport

MAX_TUNNEL_DEPTH = Limit.MAX_TUNNEL_DEPTH
NO_TUNNEL_ID = Limit.NO_TUNNEL_ID
ETHERNET_HEADER = 14
GTP_G_PDU = 0xFF
IPV6_HEADER = 40
TEREDO_ORIGIN, TEREDO_AUTHENTICATION = 0x0000, 0x0001
TEREDO_ORIGIN_SIZE = 8
TEREDO_AUTHENTICATION_FIXED = 13  # tag, two lengths, nonce (8), confirmation (1)
AYIYA_HEADER = 8
AYIYA_FORWARD = 1
MPLS_LABEL = 4
#: AYIYA's next header -> the IP version behind it.
AYIYA_NEXT_HEADERS: dict[int, int] = {P.IPPROTO_IPIP: IPV4, P.IPPROTO_IPV6: IPV6}
HDLC_ADDRESS_ALL_STATIONS = LinkField.HDLC_ADDRESS_ALL_STATIONS
#: What an IPv4 or IPv6 protocol type needs behind it: the matching version nibble.
IP_VERSIONS: dict[int, int] = {IPV4: 4, IPV6: 6}


class _NotTunnel(Exception):
    """The payload is not the tunnel its port or protocol suggests: the packet stays as it is."""


def _captured(rec: _Record, at: int, size: int, left: int) -> None:
    """The ``size`` bytes at ``at`` must be inside both the datagram (``left`` from ``at``) and the record."""
    if size > left or at + size > len(rec.data):
        raise _NotTunnel


def _ip_version_is(rec: _Record, at: int, left: int, version: int) -> bool:
    return left > 0 and at < len(rec.data) and rec.data[at] >> 4 == version


def _ethernet(rec: _Record, at: int, left: int) -> tuple[int, int]:
    _captured(rec, at, ETHERNET_HEADER, left)
    return at + ETHERNET_HEADER, int.from_bytes(rec.data[at + 12 : at + 14], "big")


def _ip(rec: _Record, at: int, left: int, ethertype: int) -> tuple[int, int]:
    if not _ip_version_is(rec, at, left, IP_VERSIONS[ethertype]):
        raise _NotTunnel
    return at, ethertype


def _dissect(rec: _Record, layer: str, at: int, size: int):
    saved, rec.offset = rec.offset, at
    try:
        return rec.dissect(layer, size)
    finally:
        rec.offset = saved


def _vxlan(rec: _Record, at: int, left: int) -> tuple[int, int, int]:
    _captured(rec, at, 8, left)
    # read by hand: scapy lays the header out by the GBP and GPE flags, past 8 bytes for some
    if not rec.data[at] & 0x08:
        raise _NotTunnel
    return (*_ethernet(rec, at + 8, left - 8), int.from_bytes(rec.data[at + 4 : at + 7], "big"))


def _geneve(rec: _Record, at: int, left: int) -> tuple[int, int, int]:
    _captured(rec, at, 8, left)
    header = _dissect(rec, "GENEVE", at, 8)
    size = 8 + header.optionlen * 4
    if header.version != 0 or size > left:
        raise _NotTunnel
    if header.proto == E.ETHERTYPE_TRANSPARENT_BRIDGING:
        return (*_ethernet(rec, at + size, left - size), header.vni)
    if header.proto not in IP_VERSIONS:
        raise _NotTunnel
    return (*_ip(rec, at + size, left - size, header.proto), header.vni)


def _gtp_u(rec: _Record, at: int, left: int) -> tuple[int, int, int]:
    _captured(rec, at, 8, left)
    header = _dissect(rec, "GTP_U_Header", at, 12)
    if header.version != 1 or not header.PT or header.gtp_type != GTP_G_PDU:
        raise _NotTunnel
    size = 8
    if header.E or header.S or header.PN:
        size = 12
        _captured(rec, at, size, left)
        next_type = rec.data[at + 11] if header.E else 0
        while next_type:  # each is at least 4 bytes: the datagram ends the loop
            _captured(rec, at + size, 1, left - size)
            length = rec.data[at + size] * 4
            if not length:
                raise _NotTunnel
            _captured(rec, at + size, length, left - size)
            next_type = rec.data[at + size + length - 1]
            size += length
    if not (_ip_version_is(rec, at + size, left - size, 4) or _ip_version_is(rec, at + size, left - size, 6)):
        raise _NotTunnel
    return at + size, BY_VERSION, header.teid


def _tag(rec: _Record, at: int, left: int) -> int | None:
    return int.from_bytes(rec.data[at : at + 2], "big") if left >= 2 and at + 2 <= len(rec.data) else None


def _teredo(rec: _Record, at: int, left: int) -> tuple[int, int, int]:
    size = 0
    if _tag(rec, at, left) == TEREDO_AUTHENTICATION:
        _captured(rec, at, 4, left)
        size = TEREDO_AUTHENTICATION_FIXED + rec.data[at + 2] + rec.data[at + 3]
    if _tag(rec, at + size, left - size) == TEREDO_ORIGIN:
        size += TEREDO_ORIGIN_SIZE
    _captured(rec, at + size, IPV6_HEADER, left - size)
    header = _dissect(rec, "IPv6", at + size, IPV6_HEADER)
    bubble = header.plen == 0 and header.nh == P.IPPROTO_NO_NEXT_HEADER
    if header.version != 6 or (IPV6_HEADER + header.plen != left - size and not bubble):
        raise _NotTunnel
    return at + size, IPV6, NO_TUNNEL_ID


def _ayiya(rec: _Record, at: int, left: int) -> tuple[int, int, int]:
    _captured(rec, at, AYIYA_HEADER, left)
    identity, signature, opcode, next_header = rec.data[at : at + 4]
    if opcode & 0x0F != AYIYA_FORWARD or next_header not in AYIYA_NEXT_HEADERS:
        raise _NotTunnel
    size = AYIYA_HEADER + (1 << (identity >> 4)) + (signature >> 4) * 4
    if size > left:
        raise _NotTunnel
    return (*_ip(rec, at + size, left - size, AYIYA_NEXT_HEADERS[next_header]), NO_TUNNEL_ID)


def _mpls(at: int, left: int) -> tuple[int, int]:
    if left < MPLS_LABEL:
        raise _NotTunnel
    return at, E.ETHERTYPE_MPLS


def _mpls_in_udp(rec: _Record, at: int, left: int) -> tuple[int, int, int]:
    return (*_mpls(at, left), NO_TUNNEL_ID)


def _gre_payload(rec: _Record, at: int, left: int, protocol: int, sequenced: bool) -> tuple[int, int]:
    if protocol in IP_VERSIONS:
        return _ip(rec, at, left, protocol)
    if protocol in (E.ETHERTYPE_MPLS, E.ETHERTYPE_MPLS_MULTICAST):
        return _mpls(at, left)
    if protocol == E.ETHERTYPE_ERSPAN_II:
        size = 8 if sequenced else 0
    elif protocol == E.ETHERTYPE_ERSPAN_III:
        _captured(rec, at, 12, left)
        size = 20 if rec.data[at + 11] & 1 else 12
    elif protocol == E.ETHERTYPE_TRANSPARENT_BRIDGING:
        size = 0
    else:
        raise _NotTunnel
    if size > left:
        raise _NotTunnel
    return _ethernet(rec, at + size, left - size)


def _gre(rec: _Record, at: int, left: int) -> tuple[int, int, int, int]:
    """GRE (its code, the inner offset, ethertype and id) or PPTP's enhanced GRE, in IP or in UDP."""
    _captured(rec, at, 4, left)
    header = _dissect(rec, "GRE", at, 24)
    if header.version == 0:
        if header.routing_present:
            raise _NotTunnel
        size = 4 + 4 * header.chksum_present
        key = NO_TUNNEL_ID
        if header.key_present:
            if at + size + 4 > len(rec.data):
                raise _NotTunnel
            key, size = header.key, size + 4
        size += 4 * header.seqnum_present
        if size > left:
            raise _NotTunnel
        return (T.TUNNEL_GRE, *_gre_payload(rec, at + size, left - size, header.proto, bool(header.seqnum_present)), key)
    pptp = _dissect(rec, "GRE_PPTP", at, 24)
    if (header.version != 1 or header.proto != E.ETHERTYPE_PPP or not pptp.key_present or pptp.chksum_present
            or pptp.routing_present):
        raise _NotTunnel
    size = 8 + 4 * pptp.seqnum_present + 4 * pptp.acknum_present
    if size >= left or at + 8 > len(rec.data):
        raise _NotTunnel  # an acknowledgement alone carries no packet
    if at + size < len(rec.data) and rec.data[at + size] == HDLC_ADDRESS_ALL_STATIONS:
        size += 2  # HDLC-like framing (RFC 1662), unless address and control were negotiated away
    saved, rec.offset = rec.offset, at + size
    try:
        protocol = _ppp_protocol(rec)
    except _Stop:
        raise _NotTunnel from None
    finally:
        inner, rec.offset = rec.offset, saved
    if protocol not in IP_VERSIONS:
        raise _NotTunnel
    return T.TUNNEL_PPTP, inner, protocol, pptp.call_id


def _ip_in_ip(rec: _Record, at: int, left: int) -> tuple[int, int, int]:
    ethertype = IPV4 if rec.row["ip_proto"] == P.IPPROTO_IPIP else IPV6
    return (*_ip(rec, at, left, ethertype), NO_TUNNEL_ID)


#: An opener: the tunnel at ``at`` (``left`` bytes of its datagram from there) as its code, inner
#: offset, inner ethertype and id; _NotTunnel when the header is not the tunnel's.
_Opener = Callable[[_Record, int, int], tuple[int, int, int, int]]


def _coded(tunnel: int, open_tunnel: Callable[[_Record, int, int], tuple[int, int, int]]) -> _Opener:
    """An opener of one tunnel type as one of those that name their tunnel, as _gre does."""
    return lambda rec, at, left: (tunnel, *open_tunnel(rec, at, left))


IP_TUNNELS: dict[int, _Opener] = {
    P.IPPROTO_GRE: _gre,
    P.IPPROTO_IPIP: _coded(T.TUNNEL_IP_IN_IP, _ip_in_ip),
    P.IPPROTO_IPV6: _coded(T.TUNNEL_IP_IN_IP, _ip_in_ip),
}

#: The tunnels looked for on a UDP destination port.
DESTINATION_PORT_TUNNELS: dict[int, _Opener] = {
    TunnelPort.VXLAN_PORT: _coded(T.TUNNEL_VXLAN, _vxlan),
    TunnelPort.GENEVE_PORT: _coded(T.TUNNEL_GENEVE, _geneve),
    TunnelPort.GRE_UDP_PORT: _gre,
    TunnelPort.MPLS_UDP_PORT: _coded(T.TUNNEL_MPLS, _mpls_in_udp),
}
#: The tunnels looked for on either UDP port (the destination's first): each end sends to the other's.
EITHER_PORT_TUNNELS: dict[int, _Opener] = {
    TunnelPort.GTP_U_PORT: _coded(T.TUNNEL_GTP_U, _gtp_u),
    TunnelPort.TEREDO_PORT: _coded(T.TUNNEL_TEREDO, _teredo),
    TunnelPort.AYIYA_PORT: _coded(T.TUNNEL_AYIYA, _ayiya),
}


def _udp_opener(src_port: int, dst_port: int) -> _Opener | None:
    if dst_port in DESTINATION_PORT_TUNNELS:
        return DESTINATION_PORT_TUNNELS[dst_port]
    return EITHER_PORT_TUNNELS.get(dst_port, EITHER_PORT_TUNNELS.get(src_port))


def _opened(rec: _Record) -> tuple[int, int, int, int] | None:
    """The tunnel at ``offset`` (its code; the inner offset, ethertype and id), or None when there is none."""
    proto = rec.row["ip_proto"]
    try:
        if proto in IP_TUNNELS:
            return IP_TUNNELS[proto](rec, rec.offset, rec.ip_left)
        _transport(rec)
        if proto != P.IPPROTO_UDP:
            return None
        open_tunnel = _udp_opener(rec.row["src_port"], rec.row["dst_port"])
        return None if open_tunnel is None else open_tunnel(rec, rec.offset + 8, rec.row["payload_bytes"])
    except _NotTunnel:
        if proto in IP_TUNNELS:
            _transport(rec)
        return None


def inner_ethertype(rec: _Record, decapsulate: bool) -> int | None:
    """After an IP header: the ethertype of the packet inside its tunnel, the row reset for it; or,
    when there is no tunnel to open, None with the transport layer decoded."""
    depth = rec.row.get("tunnel_depth", 0)
    if not decapsulate or depth == MAX_TUNNEL_DEPTH or rec.row.get("more_fragments") or rec.row.get("frag_offset"):
        _transport(rec)
        return None
    opened = _opened(rec)
    if opened is None:
        return None
    tunnel, rec.offset, ethertype, tunnel_id = opened
    kept = {"vlan_id": rec.row["vlan_id"]} if "vlan_id" in rec.row else {}
    rec.row = {**kept, "tunnel": tunnel, "tunnel_depth": depth + 1, "tunnel_id": tunnel_id}
    return ethertype
