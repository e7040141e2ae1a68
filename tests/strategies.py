"""Hypothesis strategies that build packets with scapy, and a RawBatch builder so tests need no files.

- :func:`raw_batch` lays records out in one buffer as the capture reader does (record data
  separated by 16 junk bytes standing for record headers, :data:`~pcapflow.capture.batch.PAD`
  zero bytes at the end), so a decoder reading past a record's ``caplen`` sees junk.
- :func:`datagrams` builds IPv4 (with options, fragments) and IPv6 (with extension headers,
  fragments) datagrams carrying TCP, UDP, SCTP, ICMP, ICMPv6 or other protocols.
- :func:`records` frames them for a link type (Ethernet, VLAN, QinQ, MPLS, PPPoE, SLL, SLL2,
  NULL, LOOP, the RAW ones; 802.11, radiotap, PPI, PPP, Cisco HDLC, NFLOG and PFLOG from
  :mod:`tests.link_strategies`), adds non-IP frames, breaks some on purpose (IHL < 5, TCP data
  offset < 5, wrong IP version, UDP length too big, IP length zero, too big, or too small for
  the transport header), cuts some at a random length as a snaplen does, and flags a few as
  bad records.
- :func:`arbitrary_records` gives arbitrary bytes as frames of any link type.
"""

from __future__ import annotations

import logging
import random
import warnings
from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st

from pcapflow.capture.batch import PAD, RawBatch
from pcapflow.decode import SUPPORTED_LINKTYPES
from tests import link_strategies

logging.getLogger("scapy").setLevel(logging.ERROR)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from scapy.contrib.mpls import MPLS
    from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_NOP, IPOption_Router_Alert, IPOption_RR, fragment
    from scapy.layers.inet6 import (
        ICMPv6EchoRequest,
        ICMPv6Unknown,
        IPv6,
        IPv6ExtHdrDestOpt,
        IPv6ExtHdrFragment,
        IPv6ExtHdrHopByHop,
        IPv6ExtHdrRouting,
        MIP6MH_Generic,
        fragment6,
    )
    from scapy.layers.ipsec import AH
    from scapy.layers.l2 import ARP, LLC, CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Dot3, Ether, Loopback, LoopbackOpenBSD
    from scapy.layers.ppp import PPP, PPPoE
    from scapy.layers.sctp import SCTP, SCTPChunkData
    from scapy.packet import Raw

#: The link types the strategies frame datagrams for (every supported one).
LINKTYPES = (0, 1, 12, 14, 101, 108, 113, 228, 229, 276, *link_strategies.LINK_HEADERS)
assert set(LINKTYPES) == set(SUPPORTED_LINKTYPES)

RECORD_GAP = b"\xa5" * 16  # stands for the record header between two records' data


class Record(NamedTuple):
    """One capture record: ``frame[:caplen]`` is captured, ``wirelen`` was on the wire."""

    linktype: int
    frame: bytes
    caplen: int | None = None  # None: the whole frame
    wirelen: int | None = None  # None: len(frame)
    bad_record: bool = False


def raw_batch(records, file_index: int = 0) -> RawBatch:
    """A RawBatch of ``records`` (:class:`Record` or tuples of its fields), laid out as a reader would."""
    records = [Record(*record) for record in records]
    chunks, offsets, position = [], [], 0
    for record in records:
        data = record.frame[: record.caplen]
        position += len(RECORD_GAP)
        offsets.append(position)
        chunks += [RECORD_GAP, data]
        position += len(data)
    buffer = np.frombuffer(b"".join(chunks) + bytes(PAD), dtype=np.uint8).copy()
    count = len(records)
    return RawBatch(
        buffer=buffer,
        data_offset=np.array(offsets, dtype=np.int64),
        caplen=np.array([len(r.frame[: r.caplen]) for r in records], dtype=np.uint32),
        wirelen=np.array([len(r.frame) if r.wirelen is None else r.wirelen for r in records], dtype=np.uint32),
        ts_ns=np.arange(count, dtype=np.int64) * 1_000_000 + 1_700_000_000 * 10**9,
        linktype=np.array([r.linktype for r in records], dtype=np.uint16),
        bad_record=np.array([r.bad_record for r in records], dtype=bool),
        record_index=np.arange(count, dtype=np.int64),
        file_index=file_index,
    )


# -- datagrams ------------------------------------------------------------------------------------


class Datagram(NamedTuple):
    data: bytes  # the IP datagram
    version: int  # 4 or 6
    transport_at: int | None  # offset of a whole transport header in data, None if there is none
    transport: str  # "tcp", "udp", "sctp", "icmp", "icmpv6" or "other"


u8, u16, u32 = (st.integers(0, 2**bits - 1) for bits in (8, 16, 32))
payloads = st.binary(max_size=40)
ipv4_addresses = st.ip_addresses(v=4).map(str)
ipv6_addresses = st.ip_addresses(v=6).map(str)
TCP_OPTIONS = (
    [], [("MSS", 1460)], [("NOP", None), ("NOP", None), ("Timestamp", (1, 2))], [("WScale", 7)], [("SAckOK", b"")]
)
IPV4_OPTIONS = ([], [IPOption_Router_Alert()], [IPOption_NOP()] * 4, [IPOption_RR(routers=["10.0.0.1", "10.0.0.2"])])
OTHER_PROTOCOLS = {4: (2, 47, 50, 51, 89, 44, 0, 255), 6: (59, 50, 47, 89, 103)}


@st.composite
def transports(draw, version: int):
    """A transport layer (scapy packet) for an IP datagram of ``version``; also its name and number."""
    kind = draw(st.sampled_from(("tcp", "tcp", "udp", "udp", "sctp", "icmp" if version == 4 else "icmpv6", "other")))
    payload = Raw(draw(payloads))
    if kind == "tcp":
        layer = TCP(sport=draw(u16), dport=draw(u16), seq=draw(u32), ack=draw(u32), reserved=draw(st.integers(0, 7)),
                    flags=draw(st.integers(0, 0x1FF)), options=draw(st.sampled_from(TCP_OPTIONS))) / payload
        return layer, kind, 6
    if kind == "udp":
        return UDP(sport=draw(u16), dport=draw(u16)) / payload, kind, 17
    if kind == "sctp":
        chunk = SCTPChunkData(data=draw(payloads)) if draw(st.booleans()) else payload
        return SCTP(sport=draw(u16), dport=draw(u16), tag=draw(u32)) / chunk, kind, 132
    if kind == "icmp":
        return ICMP(type=draw(st.sampled_from((0, 3, 8, 11, 13, draw(u8)))), code=draw(u8)) / payload, kind, 1
    if kind == "icmpv6":
        if draw(st.booleans()):
            message = ICMPv6EchoRequest(id=draw(u16), seq=draw(u16))
        else:
            message = ICMPv6Unknown(type=draw(u8), code=draw(u8))
        return message / payload, kind, 58
    return payload, kind, draw(st.sampled_from(OTHER_PROTOCOLS[version]))


@st.composite
def ipv4_datagrams(draw) -> Datagram:
    layer, kind, proto = draw(transports(4))
    flags = draw(st.sampled_from((0, 0, "DF", "MF")))
    frag = draw(st.sampled_from((0,) * 9 + (1, 185, 8191)))
    ip = IP(src=draw(ipv4_addresses), dst=draw(ipv4_addresses), id=draw(u16), ttl=draw(u8), tos=draw(u8), proto=proto,
            flags=flags, frag=frag, options=draw(st.sampled_from(IPV4_OPTIONS)))
    packet = ip / layer
    if draw(st.integers(0, 4)) == 0:  # a real fragment of a bigger datagram, cut by scapy
        packet = ip / layer / Raw(draw(st.binary(min_size=40, max_size=300)))
        packet.flags, packet.frag = 0, 0
        pieces = fragment(packet, fragsize=8 * draw(st.integers(1, 12)))  # tiny first fragments too
        packet = pieces[draw(st.integers(0, len(pieces) - 1))]
    data = bytes(packet)
    header = (data[0] & 0x0F) * 4
    whole = packet.frag == 0 and len(data) >= header + len(layer) and kind != "other"
    return Datagram(data, 4, header if whole else None, kind)


def _extension_header(kind: str, next_header: int, draw):
    """One IPv6 extension header, its next-header field set; its length in bytes."""
    if kind == "hop":
        return IPv6ExtHdrHopByHop(nh=next_header, options=[]), 0
    if kind == "routing":
        return IPv6ExtHdrRouting(nh=next_header, addresses=[draw(ipv6_addresses)]), 43
    if kind == "dest":
        return IPv6ExtHdrDestOpt(nh=next_header, options=[]), 60
    if kind == "ah":
        icv = bytes(4 * draw(st.integers(1, 4)))
        return AH(nh=next_header, payloadlen=(12 + len(icv)) // 4 - 2, spi=draw(u32), icv=icv), 51
    if kind == "mobility":
        units = draw(st.integers(0, 2))
        return MIP6MH_Generic(nh=next_header, len=units, mhtype=draw(u8), msg=bytes(2 + 8 * units)), 135
    offset = draw(st.sampled_from((0,) * 6 + (1, 100, 8191)))
    return IPv6ExtHdrFragment(nh=next_header, offset=offset, m=draw(st.booleans()), id=draw(u32)), 44


@st.composite
def ipv6_datagrams(draw) -> Datagram:
    layer, kind, proto = draw(transports(6))
    kinds = st.sampled_from(("hop", "routing", "dest", "ah", "mobility", "fragment"))
    kinds = draw(st.one_of(st.lists(kinds, max_size=4), st.lists(kinds, min_size=7, max_size=9)))  # 8 are followed
    headers, next_header = [], proto
    for ext in reversed(kinds):
        header, next_header = _extension_header(ext, next_header, draw)
        headers.insert(0, header)
    ip = IPv6(src=draw(ipv6_addresses), dst=draw(ipv6_addresses), nh=next_header, tc=draw(u8),
              fl=draw(st.integers(0, 2**20 - 1)), hlim=draw(u8))
    packet = ip
    for header in headers:
        packet = packet / header
    packet = packet / layer
    if not kinds and draw(st.integers(0, 4)) == 0:  # a real fragment of a bigger datagram, cut by scapy
        whole = ip.copy()
        whole.nh = 44
        more = Raw(draw(st.binary(min_size=40, max_size=300)))
        whole = whole / IPv6ExtHdrFragment(nh=proto, id=draw(u32)) / layer / more
        state = random.getstate()  # fragment6 draws an id from the global random module, even when given one
        pieces = fragment6(whole, draw(st.integers(80, 160)))
        random.setstate(state)
        data = bytes(pieces[draw(st.integers(0, len(pieces) - 1))])
        first = int.from_bytes(data[42:44], "big") & 0xFFF8 == 0
        return Datagram(data, 6, 48 if first and kind != "other" else None, kind)
    data = bytes(packet)
    at = len(data) - len(layer)
    later = any(isinstance(h, IPv6ExtHdrFragment) and h.offset for h in headers)
    return Datagram(data, 6, None if later or kind == "other" else at, kind)


def datagrams(version: int | None = None):
    """IPv4 and/or IPv6 datagrams."""
    return {4: ipv4_datagrams(), 6: ipv6_datagrams()}.get(version, st.one_of(ipv4_datagrams(), ipv6_datagrams()))


# -- link-layer framing ---------------------------------------------------------------------------

ETHERTYPE = {4: 0x0800, 6: 0x86DD}
AF = {4: st.just(2), 6: st.sampled_from((10, 24, 28, 30))}
macs = st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b))


ENCAPSULATIONS = ("none", "none", "vlan", "qinq", "vlan_stack", "mpls", "vlan_mpls", "pppoe", "vlan_pppoe")


@st.composite
def encapsulations(draw, ethertype: int, kinds: tuple[str, ...] = ENCAPSULATIONS):
    """Bytes of VLAN tags / MPLS labels / a PPPoE header before a datagram, and the first ethertype."""
    kind = draw(st.sampled_from(kinds))
    chain = b""
    if kind in ("pppoe", "vlan_pppoe"):
        ppp = {0x0800: 0x0021, 0x86DD: 0x0057}[ethertype]
        protocol = bytes([ppp]) if draw(st.booleans()) else ppp  # bytes: compressed to 1 byte (RFC 1661 6.5)
        chain = bytes(PPPoE(sessionid=draw(u16), len=draw(u16)) / PPP(proto=protocol))
        ethertype = 0x8864
    if kind in ("mpls", "vlan_mpls"):
        labels = draw(st.one_of(st.integers(1, 3), st.integers(7, 14)))  # stacks of any depth are followed
        label = st.integers(0, 2**20 - 1)
        chain = b"".join(bytes(MPLS(label=draw(label), s=int(i == labels - 1), ttl=draw(u8))) for i in range(labels))
        ethertype = 0x8847
    if kind in ("vlan", "qinq", "vlan_mpls", "vlan_pppoe"):
        chain = bytes(Dot1Q(vlan=draw(st.integers(0, 4095)), prio=draw(st.integers(0, 7)), type=ethertype)) + chain
        ethertype = 0x8100
    if kind == "vlan_stack":
        for _ in range(draw(st.integers(6, 14))):
            chain = bytes(Dot1Q(vlan=draw(st.integers(0, 4095)), type=ethertype)) + chain
            ethertype = 0x8100
    if kind == "qinq":
        outer = draw(st.sampled_from((0x88A8, 0x9100, 0x9200)))
        chain = bytes(Dot1AD(vlan=draw(st.integers(0, 4095)), type=ethertype)) + chain
        ethertype = outer
    return chain, ethertype


@st.composite
def framed(draw, linktype: int, datagram: Datagram) -> tuple[bytes, int]:
    """The frame of ``datagram`` for ``linktype``, and where the datagram starts in it."""
    ethertype = ETHERTYPE[datagram.version]
    if linktype in (12, 14, 101, 228, 229):
        header = b""
    elif linktype == 0:
        family = draw(AF[datagram.version])
        header = bytes((Loopback if draw(st.booleans()) else LoopbackOpenBSD)(type=family))  # either writer order
    elif linktype == 108:
        header = bytes(LoopbackOpenBSD(type=draw(AF[datagram.version])))
    elif linktype == 239:
        header = draw(link_strategies.nflog(datagram.version, len(datagram.data)))
    elif linktype in link_strategies.LINK_HEADERS:
        header = draw(link_strategies.link_header(linktype, datagram.version, encapsulations))
    else:
        chain, first = draw(encapsulations(ethertype))
        if linktype == 1:
            header = bytes(Ether(dst=draw(macs), src=draw(macs), type=first)) + chain
        elif linktype == 113:
            address = draw(st.binary(min_size=8, max_size=8))
            header = bytes(CookedLinux(pkttype=draw(st.integers(0, 4)), lladdrlen=6, src=address, proto=first)) + chain
        else:
            sll2 = CookedLinuxV2(proto=first, ifindex=draw(u32), pkttype=draw(st.integers(0, 4)), lladdrlen=6)
            header = bytes(sll2) + chain
    frame = header + datagram.data
    if linktype == 1 and draw(st.booleans()):  # NIC padding to the 60-byte minimum, and maybe an FCS
        frame = frame.ljust(60, b"\0") + draw(st.sampled_from((b"", b"\xde\xad\xbe\xef")))
    elif draw(st.integers(0, 5)) == 0:
        frame += draw(st.binary(min_size=1, max_size=8))  # trailing bytes beyond the datagram
    return frame, len(header)


NON_IP_FRAMES = {
    1: (
        lambda: Ether(type=0x0806) / ARP(),
        lambda: Dot3() / LLC(dsap=0x42, ssap=0x42) / Raw(b"\0" * 30),  # 802.3 + LLC (spanning tree)
        lambda: Ether(type=0x8847) / MPLS(s=1) / Ether() / Raw(b"\0" * 20),  # Ethernet pseudowire
        lambda: Ether(type=0x8864) / PPPoE() / PPP(proto=0xC021) / Raw(b"\x01\x01\x00\x04"),  # LCP
        lambda: Ether(type=0x86DD) / IP(),  # says IPv6, carries IPv4
    ),
    113: (lambda: CookedLinux(proto=0x0806) / ARP(), lambda: CookedLinux(proto=0x0004) / LLC()),
    276: (lambda: CookedLinuxV2(proto=0x0806) / ARP(),),
    0: (lambda: Loopback(type=7) / Raw(b"\0" * 20),),
    108: (lambda: LoopbackOpenBSD(type=2) / IPv6(),),
    101: (lambda: Raw(b"\x50" + bytes(30)),),
    **link_strategies.NON_IP_FRAMES,
}


# -- breaking things ------------------------------------------------------------------------------


def _set16(frame: bytearray, at: int, value: int) -> None:
    frame[at : at + 2] = (value & 0xFFFF).to_bytes(2, "big")


@st.composite
def broken(draw, frame: bytes, ip_at: int, datagram: Datagram) -> bytes:
    """``frame`` with one header broken on purpose, where that header is present."""
    frame, t = bytearray(frame), datagram.transport_at
    how = draw(st.sampled_from(("ihl", "tcp_offset", "version", "udp_length", "zero", "long", "short")))
    if how == "ihl" and datagram.version == 4:
        frame[ip_at] = 0x40 | draw(st.integers(0, 4))
    elif how == "tcp_offset" and datagram.transport == "tcp" and t is not None:
        frame[ip_at + t + 12] = (draw(st.integers(0, 4)) << 4) | (frame[ip_at + t + 12] & 0x0F)
    elif how == "version":
        frame[ip_at] = (draw(st.sampled_from((0, 1, 5, 7, 15, 10 - datagram.version))) << 4) | (frame[ip_at] & 0x0F)
    elif how == "udp_length" and datagram.transport == "udp" and t is not None:
        _set16(frame, ip_at + t + 4, min(len(datagram.data) - t + draw(st.integers(1, 1000)), 0xFFFF))
    elif how in ("zero", "long", "short"):  # IP length 0 (offload), beyond the frame, or too short for the transport
        if how == "zero":
            value = 0
        elif how == "long":
            value = len(frame) - ip_at + draw(st.integers(1, 100))
        else:
            headers = t or ((frame[ip_at] & 0x0F) * 4 if datagram.version == 4 else 40)  # IP headers' bytes
            value = headers + draw(st.integers(0, 20))
        if datagram.version == 4:
            _set16(frame, ip_at + 2, value)
        else:
            _set16(frame, ip_at + 4, max(value - 40, 0))
    return bytes(frame)


# -- records ----------------------------------------------------------------------------------------


@st.composite
def records(draw, linktype: int | None = None) -> Record:
    """A record of ``linktype`` (any supported one by default): IP, non-IP, broken, cut, bad, or several of those."""
    linktype = draw(st.sampled_from(LINKTYPES)) if linktype is None else linktype
    cut_at = st.nothing()
    if linktype in NON_IP_FRAMES and draw(st.integers(0, 7)) == 0:
        frame = bytes(draw(st.sampled_from(NON_IP_FRAMES[linktype]))())
    else:
        datagram = draw(datagrams({228: 4, 229: 6}.get(linktype)))
        frame, ip_at = draw(framed(linktype, datagram))
        if draw(st.integers(0, 3)) == 0:
            frame = draw(broken(frame, ip_at, datagram))
        if datagram.transport_at is not None:  # most interesting: inside the transport header
            cut_at = st.integers(0, 24).map(lambda n: min(ip_at + datagram.transport_at + n, len(frame)))
    bad_record = draw(st.integers(0, 31)) == 0  # the capture record contradicts itself
    if draw(st.integers(0, 3)) == 0:  # cut by a snaplen
        return Record(linktype, frame, draw(st.one_of(st.integers(0, len(frame)), cut_at)), len(frame), bad_record)
    return Record(linktype, frame, bad_record=bad_record)


@st.composite
def arbitrary_records(draw) -> Record:
    """Arbitrary bytes as the frame of any link type (and a few unsupported ones), with any lengths."""
    linktype = draw(st.sampled_from(LINKTYPES + (2, 147, 0xFFFF)))
    frame = draw(st.binary(max_size=160))
    caplen = draw(st.integers(0, len(frame)))
    wirelen = draw(st.one_of(st.just(len(frame)), st.integers(0, 2**32 - 1), st.integers(0, 200)))
    return Record(linktype, frame, caplen, wirelen, draw(st.integers(0, 15)) == 0)
