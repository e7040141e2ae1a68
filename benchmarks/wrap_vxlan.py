#!/usr/bin/env python3
"""A VXLAN-wrapped copy of a classic pcap (Ethernet), for the cost of decapsulation.

    python benchmarks/wrap_vxlan.py bench-1000000.pcap bench-1000000-vxlan.pcap

Every frame is carried whole in VXLAN (RFC 7348) between two VTEPs, 192.0.2.1 and 192.0.2.2: the
VTEP of the frame's source MAC's side sends it to the other, VNI 5001, and the carrier's UDP
source port is taken from a direction-free hash of the inner frame's IP addresses and ports, as
RFC 7348 §5 recommends (so each inner flow has its own carriers, one per direction). Timestamps
are kept; each record grows by 50 bytes (Ethernet, IPv4, UDP, VXLAN).
"""

from __future__ import annotations

import argparse
import struct
import zlib

PCAP_HEADER = struct.Struct("<IHHiIII")
RECORD_HEADER = struct.Struct("<IIII")
VTEPS = (bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]))
VTEP_MACS = (b"\x02\x00\x00\x00\x0a\x01", b"\x02\x00\x00\x00\x0a\x02")
VNI = 5001
CARRIER_BYTES = 14 + 20 + 8 + 8


def _flow_port(frame: bytes) -> int:
    """A source port in 49152-65535 from the inner addresses and ports, the same both ways."""
    at = 14
    ethertype = frame[12:14]
    if ethertype == b"\x81\x00":
        at, ethertype = 18, frame[16:18]
    if ethertype == b"\x08\x00" and len(frame) >= at + 24:
        header = (frame[at] & 0x0F) * 4
        ends = sorted([frame[at + 12 : at + 16] + frame[at + header : at + header + 2],
                       frame[at + 16 : at + 20] + frame[at + header + 2 : at + header + 4]])
    elif ethertype == b"\x86\xdd" and len(frame) >= at + 44:
        ends = sorted([frame[at + 8 : at + 24] + frame[at + 40 : at + 42], frame[at + 24 : at + 40] + frame[at + 42 : at + 44]])
    else:
        ends = [frame[:12]]
    return 49152 + zlib.crc32(b"".join(ends)) % 16384


def _ipv4_checksum(header: bytes) -> int:
    total = sum(struct.unpack("!10H", header))
    total = (total & 0xFFFF) + (total >> 16)
    return ~((total & 0xFFFF) + (total >> 16)) & 0xFFFF


def carrier(frame: bytes) -> bytes:
    """The frame in VXLAN between the VTEPs (the sending side by the frame's source MAC)."""
    side = 0 if frame[6:12] < frame[0:6] else 1
    src, dst = VTEPS[side], VTEPS[1 - side]
    udp_length = 8 + 8 + len(frame)
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_length, 0, 0x4000, 64, 17, 0, src, dst))
    ip[10:12] = struct.pack("!H", _ipv4_checksum(bytes(ip)))
    udp = struct.pack("!HHHH", _flow_port(frame), 4789, udp_length, 0)
    vxlan = struct.pack("!II", 0x08000000, VNI << 8)
    return VTEP_MACS[1 - side] + VTEP_MACS[side] + b"\x08\x00" + bytes(ip) + udp + vxlan + frame


def wrap(source: str, target: str) -> int:
    """Write the wrapped copy of ``source``; the number of records."""
    records = 0
    with open(source, "rb") as inp, open(target, "wb") as out:
        magic, major, minor, zone, sigfigs, snaplen, linktype = PCAP_HEADER.unpack(inp.read(PCAP_HEADER.size))
        if magic != 0xA1B2C3D4 or linktype != 1:
            raise SystemExit(f"{source}: not a little-endian microsecond Ethernet pcap")
        out.write(PCAP_HEADER.pack(magic, major, minor, zone, sigfigs, snaplen + CARRIER_BYTES, linktype))
        while header := inp.read(RECORD_HEADER.size):
            seconds, micros, caplen, wirelen = RECORD_HEADER.unpack(header)
            record = carrier(inp.read(caplen))
            out.write(RECORD_HEADER.pack(seconds, micros, len(record), wirelen + CARRIER_BYTES) + record)
            records += 1
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source")
    parser.add_argument("target")
    args = parser.parse_args()
    print(f"{wrap(args.source, args.target)} records wrapped into {args.target}")


if __name__ == "__main__":
    main()
