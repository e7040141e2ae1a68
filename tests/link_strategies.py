"""Hypothesis strategies for the link layers whose headers have lengths of their own: IEEE 802.11
(bare, behind radiotap, behind PPI), PPP (bare and in HDLC-like framing), Cisco HDLC, Linux
NFLOG and OpenBSD PFLOG.

:data:`LINK_HEADERS` maps each link type to a strategy of the bytes in front of a datagram of an
IP version (given the ``encapsulations`` strategy of :mod:`tests.strategies`, for the VLAN tags
and MPLS labels that may follow the header); :data:`NON_IP_FRAMES` to frames that are not IP
packets (management and control frames, encrypted frames, control protocols, broken headers).
"""

from __future__ import annotations

import logging
import struct
import warnings
from collections.abc import Callable

from hypothesis import strategies as st

logging.getLogger("scapy").setLevel(logging.ERROR)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from scapy.contrib.chdlc import CHDLC
    from scapy.layers.dot11 import Dot11, Dot11QoS, RadioTap
    from scapy.layers.l2 import LLC, SNAP
    from scapy.layers.pflog import PFLog
    from scapy.packet import Raw

ETHERTYPE = {4: 0x0800, 6: 0x86DD}
PPP_PROTOCOL = {0x0800: 0x0021, 0x86DD: 0x0057, 0x8847: 0x0281}
FAMILY = {4: st.just(2), 6: st.sampled_from((24, 28, 30))}  # as the BSDs and macOS number AF_INET6
u8, u16 = st.integers(0, 255), st.integers(0, 0xFFFF)


@st.composite
def dot11(draw, ethertype: int, padded: bool = False) -> bytes:
    """An 802.11 data frame's MAC header and LLC/SNAP header, before a payload of ``ethertype``."""
    qos = draw(st.booleans())
    flags = draw(st.sampled_from(("", "to_DS", "from_DS", "to_DS+from_DS"))) + draw(st.sampled_from(("", "+order")))
    subtype = (8 if qos else 0) + draw(st.integers(0, 3))  # the data subtypes that have a body
    frame = bytes(Dot11(type=2, subtype=subtype, FCfield=flags.strip("+") or 0, SC=draw(u16), ID=draw(u16)))
    if qos:
        frame += bytes(Dot11QoS(TID=draw(st.integers(0, 15)), Ack_Policy=draw(st.integers(0, 3)), TXOP=draw(u8)))
        frame += bytes(4) if "order" in flags else b""  # the HT control field
    if padded:
        frame = frame.ljust(-(-len(frame) // 4) * 4, b"\0")
    return frame + bytes(LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=draw(st.sampled_from((0, 0xF8))), code=ethertype))


@st.composite
def radiotap(draw) -> tuple[bytes, bool]:
    """A radiotap header (maybe with a second presence bitmap, a TSFT, flags and a rate) and its data-pad flag."""
    present = draw(st.sampled_from((0, 0b10, 0b11, 0b01, 0b110)))
    extra_words = draw(st.integers(0, 2))
    words = [present | (1 << 31 if extra_words else 0)] + [1 << 31] * (extra_words - 1) + [0] * bool(extra_words)
    header = b"".join(word.to_bytes(4, "little") for word in words)
    padded = False
    if present & 0b01:
        header = header.ljust(-(-(len(header) + 4) // 8) * 8 - 4, b"\0") + draw(st.binary(min_size=8, max_size=8))
    if present & 0b10:
        padded = draw(st.booleans())
        header += bytes([(0x20 if padded else 0) | draw(st.sampled_from((0, 0x10, 0x02)))])
    if present & 0b100:
        header += bytes([draw(u8)])
    header += bytes(draw(st.integers(0, 3)))
    return struct.pack("<BBH", 0, 0, len(header) + 4) + header, padded


@st.composite
def wireless(draw, linktype: int, ethertype: int) -> bytes:
    if linktype == 105:
        return draw(dot11(ethertype))
    if linktype == 127:
        header, padded = draw(radiotap())
        return header + draw(dot11(ethertype, padded))
    fields = bytes(draw(st.sampled_from((0, 20, 76))))  # none, 802.11-common, 802.11n MAC+PHY
    inner = draw(st.sampled_from((105, 1)))
    frame = draw(dot11(ethertype)) if inner == 105 else bytes(12) + ethertype.to_bytes(2, "big")
    return struct.pack("<BBHI", 0, draw(st.integers(0, 1)), 8 + len(fields), inner) + fields + frame


@st.composite
def ppp(draw, ethertype: int) -> bytes:
    protocol = PPP_PROTOCOL[ethertype]
    field = bytes([protocol]) if protocol < 0x100 and draw(st.booleans()) else protocol.to_bytes(2, "big")  # RFC 1661 6.5
    return (b"\xff\x03" if draw(st.booleans()) else b"") + field


def cisco_hdlc(ethertype: int):
    return st.sampled_from((0x0F, 0x8F)).map(lambda address: bytes(CHDLC(address=address, proto=ethertype)))


def _tlv(kind: int, value: bytes, order: str) -> bytes:
    fmt = "<HH" if order == "little" else ">HH"
    return (struct.pack(fmt, 4 + len(value), kind) + value).ljust(-(-(4 + len(value)) // 4) * 4, b"\0")


@st.composite
def nflog(draw, version: int, payload_size: int) -> bytes:
    """An NFLOG header and TLVs, the last the payload TLV's header for a packet of ``payload_size`` bytes."""
    order = draw(st.sampled_from(("little", "big")))
    tlvs = _tlv(1, bytes(4), order)  # the packet header TLV
    if draw(st.booleans()):
        tlvs += _tlv(10, draw(st.binary(min_size=1, max_size=9)), order)  # a prefix
    payload = struct.pack("<HH" if order == "little" else ">HH", 4 + payload_size, 9)
    return bytes([{4: 2, 6: 10}[version], 0]) + draw(u16).to_bytes(2, "big") + tlvs + payload


@st.composite
def pflog(draw, version: int) -> bytes:
    length = draw(st.sampled_from((100, 61, 45)))  # OpenBSD 4.9, 3.8, 3.4
    return bytes(PFLog(hdrlen=length, addrfamily=draw(FAMILY[version]), action=draw(u8)))[: -(-length // 4) * 4]


def link_header(linktype: int, version: int, encapsulations: Callable) -> st.SearchStrategy[bytes]:
    """The bytes in front of an IP datagram of ``version`` on ``linktype`` (one of LINK_HEADERS)."""
    ethertype = ETHERTYPE[version]
    if linktype in (105, 127, 192):
        return encapsulations(ethertype).flatmap(lambda chain: wireless(linktype, chain[1]).map(lambda header: header + chain[0]))
    if linktype in (9, 50):
        return encapsulations(ethertype, ("none", "none", "mpls")).flatmap(lambda chain: ppp(chain[1]).map(lambda header: header + chain[0]))
    if linktype == 104:
        return encapsulations(ethertype).flatmap(lambda chain: cisco_hdlc(chain[1]).map(lambda header: header + chain[0]))
    if linktype == 117:
        return pflog(version)
    raise ValueError(f"no header strategy for link type {linktype} (NFLOG's needs the payload's size: nflog())")


LINK_HEADERS = (105, 127, 192, 9, 50, 104, 117, 239)

_BEACON = Dot11(type=0, subtype=8)
NON_IP_FRAMES: dict[int, tuple[Callable[[], object], ...]] = {
    105: (
        lambda: _BEACON / Raw(bytes(12)),
        lambda: Dot11(type=1, subtype=13),  # an ACK
        lambda: Dot11(type=2, subtype=4) / Raw(bytes(4)),  # a null frame
        lambda: Dot11(type=2, subtype=8, FCfield="protected") / Dot11QoS() / Raw(bytes(24)),  # encrypted
        lambda: Dot11(type=2, subtype=8) / Dot11QoS(A_MSDU_Present=1) / Raw(bytes(30)),  # an A-MSDU
        lambda: Dot11(type=2, subtype=0) / LLC(dsap=0x42, ssap=0x42, ctrl=3) / Raw(bytes(30)),  # spanning tree
        lambda: Dot11(type=2, subtype=0) / LLC() / SNAP(OUI=0x00000C, code=0x2000) / Raw(bytes(20)),  # Cisco's CDP
        lambda: Dot11(proto=1, type=2) / Raw(bytes(30)),  # an unknown protocol version
    ),
    127: (lambda: RadioTap() / _BEACON, lambda: RadioTap(present="Flags", Flags="pad") / Dot11(type=2, subtype=8, FCfield="protected") / Raw(bytes(8)),
          lambda: b"\x01\x00\x08\x00" + bytes(30), lambda: b"\x00\x00\x04\x00" + bytes(30)),  # version 1; length 4
    192: (lambda: struct.pack("<BBHI", 0, 0, 8, 127) + bytes(30), lambda: struct.pack("<BBHI", 0, 0, 8, 105) + bytes(Dot11(type=1, subtype=13))),
    9: (lambda: b"\xff\x03\xc0\x21\x01\x01\x00\x04", lambda: b"\x00\x2d" + bytes(20), lambda: b"\x00\x3d" + bytes(20)),  # LCP, VJ, multilink
    50: (lambda: b"\xff\x03\x80\x21\x01\x01\x00\x04", lambda: b"\x0f\x00\x80\x35" + bytes(20)),  # IPCP, Cisco SLARP
    104: (lambda: CHDLC(proto=0x8035) / Raw(bytes(20)), lambda: CHDLC(proto=0x2000) / Raw(bytes(20))),  # SLARP, CDP
    239: (lambda: b"\x02\x00\x00\x01" + _tlv(1, bytes(4), "little"), lambda: b"\x02\x01\x00\x01" + bytes(12),  # no payload; version 1
          lambda: b"\x02\x00\x00\x01\x08\x00\x01\x00" + bytes(4) + b"\x02\x00\x09\x00" + bytes(20)),  # a TLV shorter than its header
    117: (lambda: bytes(PFLog(hdrlen=20)), lambda: bytes(PFLog(addrfamily=7))),
}
