"""Builders of test captures: scapy packets with exact timestamps, written in every format.

Expected values in tests are computed from these packets (or written out literally), never read
back from pcapflow.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
from decimal import Decimal
from pathlib import Path

import lz4.frame
import zstandard
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw
from scapy.utils import PcapWriter

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
CLIENT, SERVER = "10.0.0.1", "10.0.0.2"


def eth(**fields) -> Ether:
    """An Ethernet header with fixed addresses (scapy would otherwise try to resolve them)."""
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", **fields)

#: Capture variants that must all give the same packet table (µs timestamps in the packets).
PCAP_VARIANTS = ("pcap-le-us", "pcap-be-us", "pcap-le-ns", "pcap-be-ns")
COMPRESSIONS = {
    "gzip": lambda data: gzip.compress(data, mtime=0),
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
    "lz4": lz4.frame.compress,
}
VARIANTS = PCAP_VARIANTS + ("pcapng",) + tuple(COMPRESSIONS)


def stamped(packets: list[Packet], start: float = T0, step: Decimal = Decimal("0.001")) -> list[Packet]:
    """Give packets exact timestamps ``start, start + step, ...``."""
    for index, packet in enumerate(packets):
        packet.time = Decimal(start) + step * index
    return packets


def tcp_session(client_port: int = 50000, server_port: int = 80, request: bytes = b"GET / HTTP/1.0\r\n\r\n",
                response: bytes = b"HTTP/1.0 200 OK\r\n\r\nhello") -> list[Packet]:
    """Handshake, one request, one response, FIN from both sides, final ACK."""
    c, s = eth() / IP(src=CLIENT, dst=SERVER), eth() / IP(src=SERVER, dst=CLIENT)
    cseq, sseq = 1000, 5000
    return [
        c / TCP(sport=client_port, dport=server_port, flags="S", seq=cseq),
        s / TCP(sport=server_port, dport=client_port, flags="SA", seq=sseq, ack=cseq + 1),
        c / TCP(sport=client_port, dport=server_port, flags="A", seq=cseq + 1, ack=sseq + 1),
        c / TCP(sport=client_port, dport=server_port, flags="PA", seq=cseq + 1, ack=sseq + 1) / request,
        s / TCP(sport=server_port, dport=client_port, flags="PA", seq=sseq + 1, ack=cseq + 1 + len(request)) / response,
        c / TCP(sport=client_port, dport=server_port, flags="FA", seq=cseq + 1 + len(request), ack=sseq + 1 + len(response)),
        s / TCP(sport=server_port, dport=client_port, flags="FA", seq=sseq + 1 + len(response), ack=cseq + 2 + len(request)),
        c / TCP(sport=client_port, dport=server_port, flags="A", seq=cseq + 2 + len(request), ack=sseq + 2 + len(response)),
    ]


def mixed_traffic() -> list[Packet]:
    """A TCP session, a UDP exchange, an ICMP echo pair and an ARP frame, timestamped."""
    return stamped(
        tcp_session()
        + [
            eth() / IP(src=CLIENT, dst="10.0.0.53") / UDP(sport=53001, dport=53) / Raw(b"q" * 30),
            eth() / IP(src="10.0.0.53", dst=CLIENT) / UDP(sport=53, dport=53001) / Raw(b"r" * 60),
            eth() / IP(src=CLIENT, dst=SERVER) / ICMP(type=8, id=1, seq=1) / Raw(b"x" * 16),
            eth() / IP(src=SERVER, dst=CLIENT) / ICMP(type=0, id=1, seq=1) / Raw(b"x" * 16),
            eth() / ARP(psrc=CLIENT, pdst=SERVER),
        ]
    )


def pcap_bytes(packets: list[Packet], variant: str = "pcap-le-us", linktype: int | None = None) -> bytes:
    """Packets written as a classic pcap of the given variant (``pcap-{le,be}-{us,ns}``)."""
    _, order, unit = variant.split("-")
    if not packets:  # scapy writes the file header with the first packet
        magic = 0xA1B23C4D if unit == "ns" else 0xA1B2C3D4
        return struct.pack(("<" if order == "le" else ">") + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype or 1)
    sink = io.BytesIO()
    writer = PcapWriter(sink, endianness="<" if order == "le" else ">", nano=unit == "ns", linktype=linktype, sync=True)
    for packet in packets:
        writer.write(packet)
    writer.flush()
    data = sink.getvalue()
    writer.close()
    return data


def pcapng_block(block_type: int, body: bytes, order: str = "<") -> bytes:
    """One pcapng block: type, length, body padded to 4 bytes, length again."""
    body += bytes(-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(order + "II", block_type, length) + body + struct.pack(order + "I", length)


def pcapng_option(code: int, value: bytes, order: str = "<") -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + bytes(-len(value) % 4)


def section_header(order: str = "<") -> bytes:
    return pcapng_block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1), order)


def interface_description(linktype: int, snaplen: int = 0, options: bytes = b"", order: str = "<") -> bytes:
    end = struct.pack(order + "HH", 0, 0) if options else b""
    return pcapng_block(1, struct.pack(order + "HHI", linktype, 0, snaplen) + options + end, order)


def enhanced_packet(data: bytes, units: int, interface: int = 0, wirelen: int | None = None, order: str = "<",
                    caplen: int | None = None) -> bytes:
    header = struct.pack(order + "IIIII", interface, units >> 32, units & 0xFFFFFFFF,
                         len(data) if caplen is None else caplen, len(data) if wirelen is None else wirelen)
    return pcapng_block(6, header + data, order)


def pcapng_bytes(packets: list[Packet], linktype: int = 1) -> bytes:
    """Packets as a one-section, one-interface pcapng with nanosecond timestamps (if_tsresol 9)."""
    blocks = [section_header(), interface_description(linktype, options=pcapng_option(9, b"\x09"))]
    for packet in packets:
        units = int(Decimal(packet.time) * 1_000_000_000)
        blocks.append(enhanced_packet(bytes(packet), units))
    return b"".join(blocks)


def capture_bytes(packets: list[Packet], variant: str) -> bytes:
    """Packets written as any of :data:`VARIANTS`."""
    if variant in COMPRESSIONS:
        return COMPRESSIONS[variant](pcap_bytes(packets))
    if variant == "pcapng":
        return pcapng_bytes(packets)
    return pcap_bytes(packets, variant)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path

