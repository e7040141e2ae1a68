"""The reference engine: every record dissected with scapy, one packet at a time (the oracle).

Contract
--------
``decode_with_scapy(batch)`` returns a :class:`PacketTable` with one row per record of ``batch``,
in record order, with the columns and dtypes of ``COLUMN_DTYPES`` and exactly the values and
:class:`DecodeStatus` the fast engine's documented rules give. It never raises on packet contents.
It is the oracle the fast engine is tested against: written from the rules, not from the fast
engine's code, and slow on purpose (a plain loop, ~10k records/s).

How
---
One small function per layer holds that layer's rules. It checks that the bytes its fields need
were captured (else the layer's truncation status), dissects its header with scapy's own class,
zero-filled to the class's fixed size as the batch buffer is padded (so a rule never reads a
field that was not captured), and applies its rules to scapy's field values. Rows keep what was
decoded before a malformed header stopped them (VLAN id, IP fields, ports...). Lengths come from
the headers, never from ``caplen``; ``wirelen`` stands in for a zero IP length (offload).

The next header's class is chosen by the rules, never by scapy's payload guessing, which differs
from them on real and broken packets: scapy turns a header cut short into ``Raw`` and a
datagram's tail into ``Padding``, reads IHL < 5 as options of negative length, calls an Ethernet
type <= 1500 ``Dot3`` and a PPP protocol starting with 0xff ``HDLC``, binds PPP behind PPPoE only
for code 0, keeps only the first byte of a NULL header's family, does not know AF_INET6 = 10, and
dissects a non-IP MPLS payload as Ethernet. Rules that the parity tests caught the fast engine
breaking (tests/decode/test_engine_parity.py keeps those cases) are marked "(rule)". The link
layers whose headers have lengths of their own (802.11, radiotap, PPI, PPP, Cisco HDLC, NFLOG,
PFLOG) are in :mod:`pcapflow.decode.reference_links`, which builds on this module.
"""

from __future__ import annotations

import functools
import importlib
import ipaddress
import logging
import warnings
from collections.abc import Callable
from types import SimpleNamespace

from pcapflow._kernels.constants import EtherType as E
from pcapflow._kernels.constants import IpProtocol as P
from pcapflow._kernels.constants import Limit
from pcapflow._kernels.constants import LinkType as L
from pcapflow.capture.batch import RawBatch
from pcapflow.decode.table import NO_VLAN, DecodeStatus, PacketTable, empty_table

IPV4, IPV6 = E.ETHERTYPE_IPV4, E.ETHERTYPE_IPV6
VLAN_TPIDS = (E.ETHERTYPE_VLAN, E.ETHERTYPE_QINQ, E.ETHERTYPE_QINQ_OLD1, E.ETHERTYPE_QINQ_OLD2)  # 802.1Q, 802.1ad, pre-standard QinQ
MPLS_TYPES = (E.ETHERTYPE_MPLS, E.ETHERTYPE_MPLS_MULTICAST)  # RFC 3032 unicast, multicast
PPPOE_SESSION = E.ETHERTYPE_PPPOE_SESSION  # RFC 2516 session stage
PPP_TO_ETHERTYPE: dict[int | None, int] = {E.PPP_IPV4: IPV4, E.PPP_IPV6: IPV6, E.PPP_MPLS: E.ETHERTYPE_MPLS, E.PPP_MPLS_MULTICAST: E.ETHERTYPE_MPLS_MULTICAST}
#: PPP protocols that carry IP compressed (Van Jacobson, CCP) or in multilink fragments: not decoded
PPP_UNSUPPORTED = (E.PPP_VJ_COMPRESSED_TCP, E.PPP_VJ_UNCOMPRESSED_TCP, E.PPP_MULTILINK, E.PPP_LINK_COMPRESSED, E.PPP_COMPRESSED)
BY_VERSION = -1  # "the IP version nibble says": RAW link types, bottom of an MPLS stack
AF_TO_ETHERTYPE = {2: IPV4, 10: IPV6, 24: IPV6, 28: IPV6, 30: IPV6}  # Linux, *BSD, macOS numbering
MAX_EXTENSION_HEADERS = Limit.MAX_EXTENSION_HEADERS  # IPv6 extension headers followed; more make a bad IP header

PROTO_ICMP, PROTO_TCP, PROTO_UDP, PROTO_SCTP = P.IPPROTO_ICMP, P.IPPROTO_TCP, P.IPPROTO_UDP, P.IPPROTO_SCTP
PROTO_FRAGMENT, PROTO_AH, PROTO_ICMPV6 = P.IPPROTO_FRAGMENT, P.IPPROTO_AH, P.IPPROTO_ICMPV6


class _Stop(Exception):
    """Decoding of the record ends here, with the status given as its argument."""


SCAPY_CLASSES = {  # the layer classes used, by module
    "scapy.layers.l2": "Ether Dot3 Dot1Q Dot1AD CookedLinux CookedLinuxV2 LoopbackOpenBSD LLC SNAP GRE GRE_PPTP",
    "scapy.contrib.geneve": "GENEVE",
    "scapy.contrib.gtp": "GTP_U_Header",
    "scapy.contrib.mpls": "MPLS",
    "scapy.layers.ppp": "PPP HDLC",
    "scapy.layers.dot11": "Dot11 Dot11QoS",
    "scapy.layers.ppi": "PPI",
    "scapy.contrib.chdlc": "CHDLC",
    "scapy.layers.pflog": "PFLog",
    "scapy.layers.inet": "IP TCP UDP ICMP",
    "scapy.layers.inet6": "IPv6 IPv6ExtHdrHopByHop IPv6ExtHdrRouting IPv6ExtHdrFragment IPv6ExtHdrDestOpt "
    "MIP6MH_Generic ICMPv6Unknown",
    "scapy.layers.ipsec": "AH",
    "scapy.layers.sctp": "SCTP",
}


@functools.cache
def _scapy() -> SimpleNamespace:
    """scapy's layer classes by name, imported on first use with its import-time chatter silenced."""
    logging.getLogger("scapy").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        modules = {module: importlib.import_module(module) for module in SCAPY_CLASSES}
    return SimpleNamespace(
        **{name: getattr(modules[module], name) for module, names in SCAPY_CLASSES.items() for name in names.split()}
    )


class _Record:
    """One record being decoded: its captured bytes, where the next header starts, its row."""

    __slots__ = ("data", "ip_left", "offset", "row", "wirelen")

    def __init__(self, data: bytes, wirelen: int):
        self.data, self.wirelen = data, wirelen
        self.offset = 0  # start of the next header in data
        self.ip_left = 0  # bytes of the IP datagram from offset on, by its headers
        self.row: dict[str, int] = {}

    def need(self, size: int, status: DecodeStatus) -> None:
        """Stop with ``status`` unless ``size`` bytes were captured at ``offset``."""
        if self.offset + size > len(self.data):
            raise _Stop(status)

    def dissect(self, layer: str, size: int):
        """scapy's dissection of the header at ``offset`` as ``layer`` (``size``: its fixed part)."""
        return getattr(_scapy(), layer)(self.data[self.offset : self.offset + size].ljust(size, b"\0"))


# -- link layers: each returns the ethertype of what follows its header ------------------------


def _ethernet(rec: _Record) -> int:
    header = rec.dissect("Ether", 14)
    return header.len if isinstance(header, _scapy().Dot3) else header.type  # Dot3: a length, not IP


def _null(rec: _Record) -> int:
    # scapy's own Loopback keeps only the first byte: read the 32 bits big-endian, swap for little
    big = rec.dissect("LoopbackOpenBSD", 4).type
    little = int.from_bytes(big.to_bytes(4, "big"), "little")
    return AF_TO_ETHERTYPE.get(little if little <= 0xFFFF else big, 0)  # the writer's byte order


LINK_LAYERS: dict[int, tuple[int, Callable[[_Record], int]]] = {  # link type -> (header bytes, what follows the header)
    L.LINKTYPE_NULL: (4, _null),  # BSD loopback
    L.LINKTYPE_ETHERNET: (14, _ethernet),
    L.LINKTYPE_RAW_LEGACY: (0, lambda rec: BY_VERSION),  # DLT_RAW as most systems number it
    L.LINKTYPE_RAW_OPENBSD: (0, lambda rec: BY_VERSION),  # DLT_RAW as OpenBSD numbers it
    L.LINKTYPE_RAW: (0, lambda rec: BY_VERSION),
    L.LINKTYPE_LOOP: (4, lambda rec: AF_TO_ETHERTYPE.get(rec.dissect("LoopbackOpenBSD", 4).type, 0)),  # big-endian
    L.LINKTYPE_LINUX_SLL: (16, lambda rec: rec.dissect("CookedLinux", 16).proto),
    L.LINKTYPE_IPV4: (0, lambda rec: IPV4),
    L.LINKTYPE_IPV6: (0, lambda rec: IPV6),
    L.LINKTYPE_LINUX_SLL2: (20, lambda rec: rec.dissect("CookedLinuxV2", 20).proto),
}


def _link(rec: _Record, linktype: int) -> int:
    from pcapflow.decode.reference_links import HEADERS_OF_THEIR_OWN  # which builds on this module

    if linktype in HEADERS_OF_THEIR_OWN:
        return HEADERS_OF_THEIR_OWN[linktype](rec)
    if linktype not in LINK_LAYERS:
        raise _Stop(DecodeStatus.UNSUPPORTED_LINKTYPE)
    size, next_type = LINK_LAYERS[linktype]
    rec.need(max(size, 1), DecodeStatus.TRUNCATED_LINK)  # an empty record is cut at the link layer
    ethertype = next_type(rec)
    rec.offset = size
    return ethertype


# -- encapsulations: VLAN tags, MPLS labels, PPPoE sessions, for every link type alike ----------


def _vlan(rec: _Record, ethertype: int) -> int:
    rec.need(4, DecodeStatus.TRUNCATED_LINK)
    tag = rec.dissect("Dot1AD" if ethertype == 0x88A8 else "Dot1Q", 4)
    if rec.row.get("vlan_id", NO_VLAN) == NO_VLAN:  # the outermost tag names the VLAN
        rec.row["vlan_id"] = tag.vlan
    rec.offset += 4
    return tag.type


def _mpls(rec: _Record, ethertype: int) -> int:
    rec.need(4, DecodeStatus.TRUNCATED_LINK)
    label = rec.dissect("MPLS", 4)
    rec.offset += 4
    return BY_VERSION if label.s else ethertype  # RFC 3032: no protocol field, only bottom-of-stack


def _ppp_protocol(rec: _Record) -> int:
    """The PPP protocol field at ``offset`` (PPPoE's, and the PPP link types')."""
    rec.need(1, DecodeStatus.TRUNCATED_LINK)
    size = 1 if rec.data[rec.offset] & 1 else 2  # (rule) RFC 1661 6.5: an odd first byte is a 1-byte protocol
    rec.need(size, DecodeStatus.TRUNCATED_LINK)
    protocol = getattr(rec.dissect("PPP", size), "proto", None)  # HDLC when it starts with 0xff: no protocol, not IP
    rec.offset += size
    if protocol in PPP_UNSUPPORTED:
        raise _Stop(DecodeStatus.UNSUPPORTED_LAYER)
    return PPP_TO_ETHERTYPE.get(protocol, 0)


def _pppoe(rec: _Record, ethertype: int) -> int:
    # RFC 2516: a 6-byte header, then the PPP protocol; version, type, code and length are not checked
    rec.offset += 6
    return _ppp_protocol(rec)


ENCAPSULATIONS: dict[int, Callable[[_Record, int], int]] = {**dict.fromkeys(VLAN_TPIDS, _vlan), **dict.fromkeys(MPLS_TYPES, _mpls), PPPOE_SESSION: _pppoe}


def _ip_ethertype(rec: _Record, ethertype: int) -> int:
    """Peel the encapsulations, as many as the record holds; return the IP ethertype of the datagram at ``offset``."""
    while ethertype in ENCAPSULATIONS:  # each takes at least 4 bytes, or stops: the record ends the loop
        ethertype = ENCAPSULATIONS[ethertype](rec, ethertype)
    if ethertype == BY_VERSION:
        rec.need(1, DecodeStatus.TRUNCATED_IP)
        ethertype = {4: IPV4, 6: IPV6}.get(rec.dissect("IP", 20).version, 0)
    if ethertype not in (IPV4, IPV6):
        raise _Stop(DecodeStatus.NOT_IP)
    return ethertype


# -- network layer --------------------------------------------------------------------------------


def _addresses(src: str, dst: str) -> dict[str, int]:
    """The address columns; IPv4 addresses are stored IPv4-mapped (``::ffff:a.b.c.d``)."""
    columns = {}
    for side, text in (("src", src), ("dst", dst)):
        value = int(ipaddress.IPv6Address(text if ":" in text else f"::ffff:{text}"))
        columns[f"{side}_ip_hi"], columns[f"{side}_ip_lo"] = value >> 64, value & 0xFFFF_FFFF_FFFF_FFFF
    return columns


def _datagram_length(rec: _Record, declared: int, header: int) -> int:
    """The declared length (0: the frame's, as offload leaves it); it must hold its header and fit the frame."""
    on_wire = rec.wirelen - rec.offset
    total = declared or on_wire
    if not header <= total <= on_wire:  # (rule) for IPv6 too: at least its 40-byte header
        raise _Stop(DecodeStatus.BAD_IP_HEADER)
    return total


def _ipv4(rec: _Record) -> None:
    rec.need(20, DecodeStatus.TRUNCATED_IP)
    ip = rec.dissect("IP", 20)
    header = ip.ihl * 4
    if ip.version != 4 or header < 20:
        raise _Stop(DecodeStatus.BAD_IP_HEADER)
    rec.need(header, DecodeStatus.TRUNCATED_IP)
    total = _datagram_length(rec, ip.len, header)
    rec.row.update(ip_version=4, ip_bytes=total, ip_id=ip.id, ip_proto=ip.proto)
    rec.row.update(more_fragments=bool(ip.flags.MF), frag_offset=ip.frag * 8)
    rec.row.update(_addresses(ip.src, ip.dst))
    rec.offset += header
    rec.ip_left = total - header
    if ip.proto == PROTO_AH and not ip.frag:
        _ipv4_authentication_headers(rec)


def _ipv4_authentication_headers(rec: _Record) -> None:
    """Step over an IPv4 datagram's AH headers (RFC 4302), as IPv6 steps over its own."""
    while rec.row["ip_proto"] == PROTO_AH:  # each is at least 8 bytes: the datagram ends the loop
        rec.need(2, DecodeStatus.TRUNCATED_IP)
        header = rec.dissect("AH", 12)
        length = (header.payloadlen + 2) * 4
        if length > rec.ip_left:
            raise _Stop(DecodeStatus.BAD_IP_HEADER)
        rec.row["ip_proto"] = header.nh
        rec.offset += length
        rec.ip_left -= length


def _ipv6(rec: _Record) -> None:
    rec.need(40, DecodeStatus.TRUNCATED_IP)
    ip = rec.dissect("IPv6", 40)
    if ip.version != 6:
        raise _Stop(DecodeStatus.BAD_IP_HEADER)
    total = _datagram_length(rec, ip.plen and ip.plen + 40, 40)
    rec.row.update(ip_version=6, ip_bytes=total)
    rec.row.update(_addresses(ip.src, ip.dst))
    rec.offset += 40
    rec.ip_left = total - 40
    _extension_headers(rec, ip.nh)


EXTENSION_HEADERS: dict[int, tuple[str, int, Callable]] = {  # next header -> (scapy class name, its fixed bytes, header length from it)
    P.IPPROTO_HOPOPTS: ("IPv6ExtHdrHopByHop", 8, lambda h: (h.len + 1) * 8),
    P.IPPROTO_ROUTING: ("IPv6ExtHdrRouting", 8, lambda h: (h.len + 1) * 8),
    PROTO_FRAGMENT: ("IPv6ExtHdrFragment", 8, lambda h: 8),
    PROTO_AH: ("AH", 12, lambda h: (h.payloadlen + 2) * 4),  # RFC 4302: in 4-byte units
    P.IPPROTO_DSTOPTS: ("IPv6ExtHdrDestOpt", 8, lambda h: (h.len + 1) * 8),
    P.IPPROTO_MOBILITY: ("MIP6MH_Generic", 8, lambda h: (h.len + 1) * 8),  # RFC 6275 mobility header
}


def _extension_headers(rec: _Record, next_header: int) -> None:
    """Step over IPv6 extension headers; behind a non-first fragment's header is fragment data."""
    rec.row["ip_proto"] = next_header
    for _ in range(MAX_EXTENSION_HEADERS):
        if next_header not in EXTENSION_HEADERS:
            return
        name, fixed, length_of = EXTENSION_HEADERS[next_header]
        fragment = next_header == PROTO_FRAGMENT
        rec.need(8 if fragment else 2, DecodeStatus.TRUNCATED_IP)
        header = rec.dissect(name, fixed)
        length = length_of(header)
        if length > rec.ip_left:
            raise _Stop(DecodeStatus.BAD_IP_HEADER)
        if fragment:
            rec.row.update(frag_offset=header.offset * 8, more_fragments=bool(header.m), ip_id=header.id)
        next_header = rec.row["ip_proto"] = header.nh
        rec.offset += length
        rec.ip_left -= length
        if fragment and header.offset:
            return
    if next_header in EXTENSION_HEADERS:
        raise _Stop(DecodeStatus.BAD_IP_HEADER)  # more extension headers than any sane packet has


# -- transport layer ------------------------------------------------------------------------------


def _tcp(rec: _Record, tcp) -> int:
    header = tcp.dataofs * 4
    if not 20 <= header <= rec.ip_left:
        raise _Stop(DecodeStatus.BAD_TRANSPORT_HEADER)
    rec.row.update(tcp_seq=tcp.seq, tcp_ack=tcp.ack, tcp_flags=int(tcp.flags))  # scapy's 9 flags: NS..FIN
    rec.row["payload_offset"] = rec.offset + header
    return rec.ip_left - header


def _udp(rec: _Record, udp) -> int:
    if rec.row.get("more_fragments"):  # a first fragment holds only part of what udp.len describes
        rec.row["payload_offset"] = rec.offset + 8
        return rec.ip_left - 8
    if not 8 <= udp.len <= rec.ip_left:
        raise _Stop(DecodeStatus.BAD_TRANSPORT_HEADER)
    rec.row["payload_offset"] = rec.offset + 8
    return udp.len - 8


PORT_PROTOCOLS: dict[int, tuple[str, int, Callable]] = {  # IP protocol -> (scapy class name, fixed header bytes, payload bytes from it)
    PROTO_TCP: ("TCP", 20, _tcp),
    PROTO_UDP: ("UDP", 8, _udp),
    PROTO_SCTP: ("SCTP", 12, lambda rec, sctp: rec.ip_left - 12),
}


def _ports(rec: _Record, proto: int) -> int:
    name, fixed, payload_of = PORT_PROTOCOLS[proto]
    rec.need(4, DecodeStatus.TRUNCATED_TRANSPORT)
    header = rec.dissect(name, fixed)
    rec.row.update(src_port=header.sport, dst_port=header.dport)
    if rec.ip_left < fixed:  # (rule) the datagram cannot hold the header, whatever was captured
        raise _Stop(DecodeStatus.BAD_TRANSPORT_HEADER)
    rec.need(fixed, DecodeStatus.PORTS_ONLY)  # cut by the snaplen after the ports: still tracked
    return payload_of(rec, header)


def _icmp(rec: _Record, proto: int) -> int:
    rec.need(2, DecodeStatus.TRUNCATED_TRANSPORT)
    message = rec.dissect("ICMP" if proto == PROTO_ICMP else "ICMPv6Unknown", 20)
    rec.row.update(icmp_type=message.type, icmp_code=message.code)
    if rec.ip_left < 2:  # (rule) type and code must be the datagram's, not bytes after it
        raise _Stop(DecodeStatus.BAD_TRANSPORT_HEADER)
    return max(rec.ip_left - 8, 0)  # a short message is tolerated: no payload


def _transport(rec: _Record) -> None:
    proto = rec.row["ip_proto"]
    if rec.row.get("frag_offset"):  # a later fragment carries fragment data, not a header
        rec.row["payload_bytes"] = rec.ip_left
        raise _Stop(DecodeStatus.FRAGMENT)
    if proto in PORT_PROTOCOLS:
        rec.row["payload_bytes"] = _ports(rec, proto)
    elif proto in (PROTO_ICMP, PROTO_ICMPV6):
        rec.row["payload_bytes"] = _icmp(rec, proto)
    else:
        rec.row["payload_bytes"] = rec.ip_left


def _decode(rec: _Record, linktype: int, decapsulate: bool) -> DecodeStatus:
    from pcapflow.decode.reference_tunnels import inner_ethertype  # which builds on this module

    try:
        ethertype: int | None = _link(rec, linktype)
        while ethertype is not None:  # once per tunnel opened
            ethertype = _ip_ethertype(rec, ethertype)
            (_ipv4 if ethertype == IPV4 else _ipv6)(rec)
            ethertype = inner_ethertype(rec, decapsulate)
    except _Stop as stop:
        return stop.args[0]
    return DecodeStatus.OK


def decode_with_scapy(batch: RawBatch, decapsulate: bool = False) -> PacketTable:
    """Decode every record of ``batch`` by dissecting it with scapy (see the module docstring;
    the tunnels opened with ``decapsulate``, :mod:`pcapflow.decode.reference_tunnels`)."""
    table = empty_table(len(batch))
    table.file_index[:] = batch.file_index
    for name in ("record_index", "ts_ns", "linktype", "caplen", "wirelen"):
        getattr(table, name)[:] = getattr(batch, name)
    for i in range(len(batch)):
        if batch.bad_record[i]:
            table.status[i] = DecodeStatus.BAD_RECORD
            continue
        start = int(batch.data_offset[i])
        rec = _Record(batch.buffer[start : start + int(batch.caplen[i])].tobytes(), int(batch.wirelen[i]))
        table.status[i] = _decode(rec, int(batch.linktype[i]), decapsulate)
        for column, value in rec.row.items():
            getattr(table, column)[i] = value
    return table
