"""The reference engine's link layers whose header length is their own: IEEE 802.11 data frames
(bare, behind a radiotap or a PPI header), PPP and Cisco HDLC, Linux NFLOG and OpenBSD PFLOG.

Each function reads the header at the start of the record, sets ``rec.offset`` where the next
header starts and returns the ethertype of what follows it (0: not IP), or stops with a status.
The rules, and where they come from:

- **802.11** (IEEE 802.11-2020, 9.2): protocol version 0 only (else BAD_LINK_HEADER); only data
  frames with a body are followed (management, control and extension frames, null and CF-only
  subtypes are NOT_IP); the protected flag means an encrypted body (PROTECTED); the MAC header is
  24 bytes, 30 with a fourth address (to and from the DS), then a QoS control field (2 bytes) in
  QoS subtypes and an HT control field (4) in a QoS frame with the order flag; a QoS frame whose
  A-MSDU flag is set holds several packets (UNSUPPORTED_LAYER). Then an 802.2 LLC header: SNAP
  with the organisation code 00-00-00 (RFC 1042) or 00-00-F8 (802.1H) names an ethertype; any
  other LLC is not IP.
- **radiotap** (radiotap.org): version 0, a length of at least 8 bytes and within the record,
  presence bitmaps chained by their bit 31 within that length; the flags field (presence bit 1),
  behind the 8-byte TSFT (bit 0, aligned to 8 bytes) when it is present: its data-pad flag (0x20)
  puts the 802.11 body on a 4-byte boundary, as Wireshark reads it. scapy's RadioTap raises on a
  header whose fields run past its length, so these few fields are read from the bytes.
- **PPI** (CACE's specification): version 0, a length of at least 8 bytes and within the record,
  then the link type of the frame behind it: 802.11 or Ethernet; any other is UNSUPPORTED_LAYER.
- **PPP** (9 and 50; RFC 1661, RFC 1662): a frame whose first byte is a Cisco HDLC address
  (0x0F, 0x8F) is Cisco HDLC, as Wireshark reads both link types; 0xFF, the all-stations address,
  starts HDLC-like framing (address and control bytes); then the PPP protocol, as PPPoE's.
- **Cisco HDLC** (104): address, control, then an ethertype.
- **NFLOG** (239, libpcap's LINKTYPE_NFLOG): family, version 0 (else BAD_LINK_HEADER), resource
  id, then TLVs in the capturing host's byte order, which the file does not say: big-endian when
  the first TLV reads sanely so (a length of at least 4, a type from 1 to 255, as Wireshark
  guesses), else little-endian when it reads sanely so, else big-endian. A TLV shorter than its
  own 4 bytes is BAD_LINK_HEADER; the payload TLV holds the packet, of the family's protocol;
  TLVs that end with the record and no payload are NOT_IP, a record cut before it is
  TRUNCATED_LINK. scapy has no NFLOG class: the TLVs are read from the bytes.
- **PFLOG** (117, OpenBSD's if_pflog.h): a header length of at least 45 bytes (OpenBSD 3.4's;
  else BAD_LINK_HEADER), padded to 4 bytes, then the packet of its address family.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pcapflow._kernels.constants import LinkField as F
from pcapflow._kernels.constants import LinkType as L
from pcapflow.decode.reference import AF_TO_ETHERTYPE, _ppp_protocol, _Record, _Stop
from pcapflow.decode.table import DecodeStatus

SNAP_OUIS = (F.OUI_RFC1042, F.OUI_BRIDGE_TUNNEL)
CISCO_HDLC_ADDRESSES = (F.CHDLC_ADDRESS_UNICAST, F.CHDLC_ADDRESS_MULTICAST)
DATA_FRAME, QOS_SUBTYPE, NO_BODY_SUBTYPE = 2, 0x8, 0x4  # frame type; subtype bits


def _llc_snap(rec: _Record) -> int:
    rec.need(3, DecodeStatus.TRUNCATED_LINK)
    llc = rec.dissect("LLC", 3)
    if (llc.dsap, llc.ssap, llc.ctrl) != (F.LLC_SNAP_SAP, F.LLC_SNAP_SAP, F.LLC_UI):
        raise _Stop(DecodeStatus.NOT_IP)
    rec.offset += 3
    rec.need(5, DecodeStatus.TRUNCATED_LINK)
    snap = rec.dissect("SNAP", 5)
    if snap.OUI not in SNAP_OUIS:
        raise _Stop(DecodeStatus.NOT_IP)
    rec.offset += 5
    return snap.code


def _ieee80211(rec: _Record, padded: bool = False) -> int:
    rec.need(2, DecodeStatus.TRUNCATED_LINK)
    frame = rec.dissect("Dot11", 30)
    if frame.proto != 0:
        raise _Stop(DecodeStatus.BAD_LINK_HEADER)
    if frame.type != DATA_FRAME or frame.subtype & NO_BODY_SUBTYPE:
        raise _Stop(DecodeStatus.NOT_IP)
    if frame.FCfield.protected:
        raise _Stop(DecodeStatus.PROTECTED)
    qos_at = 30 if frame.FCfield.to_DS and frame.FCfield.from_DS else 24
    header = qos_at
    if frame.subtype & QOS_SUBTYPE:
        header += 6 if frame.FCfield.order else 2
    rec.need(header, DecodeStatus.TRUNCATED_LINK)
    if frame.subtype & QOS_SUBTYPE:
        rec.offset += qos_at
        amsdu = rec.dissect("Dot11QoS", 2).A_MSDU_Present
        rec.offset -= qos_at
        if amsdu:
            raise _Stop(DecodeStatus.UNSUPPORTED_LAYER)
    rec.offset += -(-header // 4) * 4 if padded else header
    return _llc_snap(rec)


def _le(data: bytes, at: int, size: int) -> int:
    return int.from_bytes(data[at : at + size], "little")


def _radiotap(rec: _Record) -> int:
    rec.need(8, DecodeStatus.TRUNCATED_LINK)
    data, length = rec.data, _le(rec.data, 2, 2)
    if data[0] != 0 or length < 8:
        raise _Stop(DecodeStatus.BAD_LINK_HEADER)
    rec.need(length, DecodeStatus.TRUNCATED_LINK)
    present, fields = _le(data, 4, 4), 8
    while _le(data, fields - 4, 4) & 1 << 31:
        if fields + 4 > length:
            raise _Stop(DecodeStatus.BAD_LINK_HEADER)
        fields += 4
    flags = 0
    if present & 0b10:
        at = -(-fields // 8) * 8 + 8 if present & 0b01 else fields
        if at >= length:
            raise _Stop(DecodeStatus.BAD_LINK_HEADER)
        flags = data[at]
    rec.offset = length
    return _ieee80211(rec, padded=bool(flags & 0x20))


def _ppi(rec: _Record) -> int:
    rec.need(8, DecodeStatus.TRUNCATED_LINK)
    header = rec.dissect("PPI", 8)
    if header.version != 0 or header.len < 8:
        raise _Stop(DecodeStatus.BAD_LINK_HEADER)
    rec.need(header.len, DecodeStatus.TRUNCATED_LINK)
    rec.offset = header.len
    if header.dlt == L.LINKTYPE_IEEE802_11:
        return _ieee80211(rec)
    if header.dlt == L.LINKTYPE_ETHERNET:
        rec.need(14, DecodeStatus.TRUNCATED_LINK)
        ethernet = rec.dissect("Ether", 14)
        rec.offset += 14
        return ethernet.type
    raise _Stop(DecodeStatus.UNSUPPORTED_LAYER)


def _cisco_hdlc(rec: _Record) -> int:
    rec.need(4, DecodeStatus.TRUNCATED_LINK)
    ethertype = rec.dissect("CHDLC", 4).proto
    rec.offset = 4
    return ethertype


def _ppp(rec: _Record) -> int:
    rec.need(1, DecodeStatus.TRUNCATED_LINK)
    if rec.data[0] in CISCO_HDLC_ADDRESSES:
        return _cisco_hdlc(rec)
    if rec.dissect("HDLC", 2).address == F.HDLC_ADDRESS_ALL_STATIONS:
        rec.offset = 2
    return _ppp_protocol(rec)


ByteOrder = Literal["big", "little"]


def _nflog_tlv_reads_sanely(data: bytes, order: ByteOrder) -> bool:
    length, kind = int.from_bytes(data[4:6], order), int.from_bytes(data[6:8], order) & 0x7FFF
    return length >= 4 and 0 < kind < 0x100


def _nflog(rec: _Record) -> int:
    rec.need(4, DecodeStatus.TRUNCATED_LINK)
    data = rec.data
    if data[1] != 0:
        raise _Stop(DecodeStatus.BAD_LINK_HEADER)
    order: ByteOrder = "big"
    if len(data) >= 8 and not _nflog_tlv_reads_sanely(data, "big") and _nflog_tlv_reads_sanely(data, "little"):
        order = "little"
    at = 4
    while at + 4 <= len(data):
        length = int.from_bytes(data[at : at + 2], order)
        if length < 4:
            raise _Stop(DecodeStatus.BAD_LINK_HEADER)
        if int.from_bytes(data[at + 2 : at + 4], order) & 0x7FFF == F.NFULA_PAYLOAD:
            rec.offset = at + 4
            return AF_TO_ETHERTYPE.get(data[0], 0)
        at += -(-length // 4) * 4
    raise _Stop(DecodeStatus.NOT_IP if at == len(data) else DecodeStatus.TRUNCATED_LINK)


def _pflog(rec: _Record) -> int:
    rec.need(2, DecodeStatus.TRUNCATED_LINK)
    header = rec.dissect("PFLog", 100)
    if header.hdrlen < F.PFLOG_MIN_HEADER:
        raise _Stop(DecodeStatus.BAD_LINK_HEADER)
    size = -(-header.hdrlen // 4) * 4
    rec.need(size, DecodeStatus.TRUNCATED_LINK)
    rec.offset = size
    return AF_TO_ETHERTYPE.get(header.addrfamily, 0)


#: link type -> what follows its header (it sets where that starts)
HEADERS_OF_THEIR_OWN: dict[int, Callable[[_Record], int]] = {
    L.LINKTYPE_IEEE802_11: _ieee80211,
    L.LINKTYPE_IEEE802_11_RADIOTAP: _radiotap,
    L.LINKTYPE_PPI: _ppi,
    L.LINKTYPE_PPP: _ppp,
    L.LINKTYPE_PPP_HDLC: _ppp,
    L.LINKTYPE_C_HDLC: _cisco_hdlc,
    L.LINKTYPE_NFLOG: _nflog,
    L.LINKTYPE_PFLOG: _pflog,
}
