"""The sample of the link layers with headers of their own length: ``link_layers.pcapng``.

One interface per link type (802.11, radiotap, PPI, PPP, PPP in HDLC framing, Cisco HDLC,
NFLOG, PFLOG), each carrying one UDP exchange between its own pair of hosts (a query and its
answer), and three 802.11 frames that are not IP: a beacon, a protected (encrypted) QoS data
frame and an A-MSDU. See README.md for the expected facts.
"""

from __future__ import annotations

import struct

from containers import Interface, Record, at, epb, shb
from scapy.layers.dot11 import Dot11, Dot11Beacon, Dot11QoS, RadioTap
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import LLC, SNAP
from scapy.layers.pflog import PFLog
from scapy.packet import Raw

STA, AP = "02:00:00:0b:00:01", "02:00:00:0b:00:02"
SNAP_IPV4 = LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0, code=0x0800)
QOS_DATA = Dot11(type=2, subtype=8, FCfield="to_DS", addr1=AP, addr2=STA, addr3=AP, SC=0x10) / Dot11QoS(TID=6)


def _nflog(packet: bytes) -> bytes:
    """An NFLOG record as a little-endian host logs it: header, packet-header TLV, payload TLV."""
    tlv = lambda kind, value: (struct.pack("<HH", 4 + len(value), kind) + value).ljust((7 + len(value)) // 4 * 4, b"\0")  # noqa: E731
    return bytes([2, 0, 0, 1]) + tlv(1, b"\x08\x00\x01\x00") + tlv(9, packet)


FRAMINGS = (  # (link type, interface name, the frame of an IP packet)
    (105, "wlan0", lambda ip: bytes(QOS_DATA / SNAP_IPV4) + ip),
    (127, "mon0", lambda ip: bytes(RadioTap(present="Flags+Rate", Flags="FCS", Rate=12) / QOS_DATA / SNAP_IPV4) + ip + b"\xfc\x5c\x00\x01"),
    (192, "ppi0", lambda ip: struct.pack("<BBHI", 0, 0, 8, 105) + bytes(QOS_DATA / SNAP_IPV4) + ip),
    (9, "ppp0", lambda ip: b"\x00\x21" + ip),
    (50, "hdlc0", lambda ip: b"\xff\x03\x00\x21" + ip),
    (104, "serial0", lambda ip: b"\x0f\x00\x08\x00" + ip),
    (239, "nflog:1", _nflog),
    (117, "pflog0", lambda ip: bytes(PFLog(addrfamily=2, action=0, iface=b"em0", direction=1)) + ip),
)

NOT_IP_80211 = (
    Dot11(type=0, subtype=8, addr1="ff:ff:ff:ff:ff:ff", addr2=AP, addr3=AP) / Dot11Beacon(beacon_interval=100, cap=0x0401),
    Dot11(type=2, subtype=8, FCfield="to_DS+protected", addr1=AP, addr2=STA, addr3=AP) / Dot11QoS() / Raw(bytes(range(48))),
    Dot11(type=2, subtype=8, FCfield="to_DS", addr1=AP, addr2=STA, addr3=AP) / Dot11QoS(A_MSDU_Present=1) / Raw(bytes(64)),
)


def link_layers_pcapng() -> bytes:
    bo = "<"
    interfaces = [Interface(linktype, name) for linktype, name, _ in FRAMINGS]
    blocks = [shb(bo)] + [interface.idb(bo) for interface in interfaces]
    for index, (_, _, frame) in enumerate(FRAMINGS):
        client, server = f"10.11.{index}.1", f"10.11.{index}.2"
        query = IP(src=client, dst=server, id=0x0B00 + 2 * index) / UDP(sport=41000 + index, dport=7) / b"query"
        answer = IP(src=server, dst=client, id=0x0B01 + 2 * index) / UDP(sport=7, dport=41000 + index) / b"answer!"
        for step, packet in enumerate((query, answer)):
            blocks.append(epb(bo, index, interfaces[index], Record(at(f"{index}.00{step}"), frame(bytes(packet)))))
    for step, frame in enumerate(NOT_IP_80211):
        blocks.append(epb(bo, 0, interfaces[0], Record(at(f"9.00{step}"), bytes(frame))))
    return b"".join(blocks)
