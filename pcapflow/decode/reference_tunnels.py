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
- **GRE** (IP protocol 47; RFC 2784, RFC 2890): version 0 without the obsolete routing flag; the
  checksum, key and sequence number fields when their flags say so; the id is the key. The
  protocol type names what follows: IPv4 or IPv6 (the version nibble agreeing), MPLS (peeled as
  any label stack), Ethernet (0x6558), ERSPAN type II (0x88BE with a sequence number: an 8-byte
  header) or type I (0x88BE without one: no header), ERSPAN type III (0x22EB: 12 bytes, 8 more with
  the O flag). Version 1 is PPTP's enhanced GRE (RFC 2637): protocol PPP (0x880B), the key flag
  set, no checksum or routing; 8 bytes, 4 more for a sequence and for an acknowledgement number,
  then PPP (its address and control bytes stepped over when the frame starts with 0xFF) carrying
  IPv4 or IPv6; the id is the call id. An acknowledgement alone stays GRE.
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
    header = _dissect(rec, "VXLAN", at, 8)
    if not int(header.flags) & 0x08:
        raise _NotTunnel
    return (*_ethernet(rec, at + 8, left - 8), header.vni)


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


UDP_TUNNELS: dict[int, tuple[int, Callable[[_Record, int, int], tuple[int, int, int]]]] = {
    TunnelPort.VXLAN_PORT: (T.TUNNEL_VXLAN, _vxlan),
    TunnelPort.GENEVE_PORT: (T.TUNNEL_GENEVE, _geneve),
    TunnelPort.GTP_U_PORT: (T.TUNNEL_GTP_U, _gtp_u),
}


def _gre_payload(rec: _Record, at: int, left: int, protocol: int, sequenced: bool) -> tuple[int, int]:
    if protocol in IP_VERSIONS:
        return _ip(rec, at, left, protocol)
    if protocol in (E.ETHERTYPE_MPLS, E.ETHERTYPE_MPLS_MULTICAST):
        if left < 4:
            raise _NotTunnel
        return at, protocol
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


def _gre(rec: _Record, at: int, left: int) -> tuple[int, int, int]:
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
        return (*_gre_payload(rec, at + size, left - size, header.proto, bool(header.seqnum_present)), key)
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
    return inner, protocol, pptp.call_id


def _ip_in_ip(rec: _Record, at: int, left: int) -> tuple[int, int, int]:
    ethertype = IPV4 if rec.row["ip_proto"] == P.IPPROTO_IPIP else IPV6
    return (*_ip(rec, at, left, ethertype), NO_TUNNEL_ID)


IP_TUNNELS: dict[int, tuple[int, Callable[[_Record, int, int], tuple[int, int, int]]]] = {
    P.IPPROTO_GRE: (T.TUNNEL_GRE, _gre),
    P.IPPROTO_IPIP: (T.TUNNEL_IP_IN_IP, _ip_in_ip),
    P.IPPROTO_IPV6: (T.TUNNEL_IP_IN_IP, _ip_in_ip),
}


def _opened(rec: _Record) -> tuple[int, tuple[int, int, int]] | None:
    """The tunnel at ``offset`` (its code; the inner offset, ethertype and id), or None when there is none."""
    proto = rec.row["ip_proto"]
    try:
        if proto in IP_TUNNELS:
            tunnel, open_tunnel = IP_TUNNELS[proto]
            return tunnel, open_tunnel(rec, rec.offset, rec.ip_left)
        _transport(rec)
        if proto != P.IPPROTO_UDP:
            return None
        port = rec.row["dst_port"]
        if port not in (TunnelPort.VXLAN_PORT, TunnelPort.GENEVE_PORT) and TunnelPort.GTP_U_PORT in (port, rec.row["src_port"]):
            port = TunnelPort.GTP_U_PORT
        if port not in UDP_TUNNELS:
            return None
        tunnel, open_tunnel = UDP_TUNNELS[port]
        return tunnel, open_tunnel(rec, rec.offset + 8, rec.row["payload_bytes"])
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
    tunnel, (rec.offset, ethertype, tunnel_id) = opened
    kept = {"vlan_id": rec.row["vlan_id"]} if "vlan_id" in rec.row else {}
    rec.row = {**kept, "tunnel": tunnel, "tunnel_depth": depth + 1, "tunnel_id": tunnel_id}
    return ethertype
