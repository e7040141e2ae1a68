"""Every capture format and variant gives the same records, with exact timestamps and lengths."""

from __future__ import annotations

import struct
from decimal import Decimal

import pandas as pd
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import CookedLinux

import pcapflow
from pcapflow.capture import open_capture
from tests.factories import (
    COMPRESSIONS,
    T0,
    VARIANTS,
    capture_bytes,
    enhanced_packet,
    eth,
    interface_description,
    mixed_traffic,
    pcap_bytes,
    pcapng_block,
    pcapng_option,
    section_header,
    write,
)


@pytest.fixture(scope="module")
def packets():
    return mixed_traffic()


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_gives_the_same_packet_table(tmp_path, packets, variant):
    reference = pcapflow.read_packets(write(tmp_path / "reference.pcap", capture_bytes(packets, "pcap-le-us")))
    # a misleading suffix on purpose: the format is sniffed from the magic bytes
    path = write(tmp_path / f"{variant}.pcap", capture_bytes(packets, variant))
    frame = pcapflow.read_packets(path)
    pd.testing.assert_frame_equal(frame, reference, check_dtype=True)
    report = frame.attrs["report"]
    assert report.files[0].format == ("pcapng" if variant == "pcapng" else "pcap")
    assert report.files[0].compression == (variant if variant in COMPRESSIONS else None)


def test_records_have_exact_timestamps_and_lengths(tmp_path, packets):
    frame = pcapflow.read_packets(write(tmp_path / "x.pcap", capture_bytes(packets, "pcap-be-ns")))
    expected_ns = [T0 * 1_000_000_000 + index * 1_000_000 for index in range(len(packets))]
    assert frame["ts"].astype("int64").tolist() == expected_ns
    assert frame["wirelen"].tolist() == [len(bytes(p)) for p in packets]
    assert frame["caplen"].tolist() == [len(bytes(p)) for p in packets]
    assert frame["record_index"].tolist() == list(range(len(packets)))


def test_nanosecond_pcap_keeps_nanoseconds(tmp_path):
    packet = eth() / IP() / UDP()
    packet.time = Decimal("1704067200.123456789")
    frame = pcapflow.read_packets(write(tmp_path / "ns.pcap", pcap_bytes([packet], "pcap-le-ns")))
    assert frame["ts"].astype("int64").tolist() == [1_704_067_200_123_456_789]


@pytest.mark.parametrize("chunk_bytes", [1, 7, 100, 1000, 1 << 20])
@pytest.mark.parametrize("variant", ["pcap-le-us", "pcapng", "gzip"])
def test_results_do_not_depend_on_the_chunk_size(tmp_path, packets, variant, chunk_bytes):
    path = write(tmp_path / "x", capture_bytes(packets * 3, variant))
    whole = pcapflow.read_packets(path)
    chunked = pcapflow.read_packets(path, chunk_bytes=chunk_bytes)
    pd.testing.assert_frame_equal(chunked, whole)


def test_several_files_are_read_as_one_capture_in_order(tmp_path, packets):
    first = write(tmp_path / "a.pcap", capture_bytes(packets[:5], "pcap-le-us"))
    second = write(tmp_path / "b.pcapng", capture_bytes(packets[5:], "pcapng"))
    frame = pcapflow.read_packets([first, second])
    assert frame["file_index"].tolist() == [0] * 5 + [1] * (len(packets) - 5)
    assert frame["record_index"].tolist() == list(range(5)) + list(range(len(packets) - 5))
    assert [f.records for f in frame.attrs["report"].files] == [5, len(packets) - 5]


def _ipv4_udp(sport: int) -> bytes:
    return bytes(IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=sport, dport=53))


def test_pcapng_sections_interfaces_resolutions_and_block_types(tmp_path):
    frame_eth = bytes(eth() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=1, dport=53))
    frame_sll = bytes(CookedLinux() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=2, dport=53))
    base = T0 * 10**9
    obsolete_packet = pcapng_block(
        2, struct.pack("<HHIIII", 1, 0, (base + 7) >> 32, (base + 7) & 0xFFFFFFFF, len(frame_sll), len(frame_sll)) + frame_sll
    )
    first_section = b"".join([
        section_header("<"),
        interface_description(1, order="<"),  # default resolution: microseconds
        interface_description(113, options=pcapng_option(9, b"\x09"), order="<"),  # nanoseconds
        interface_description(101, options=pcapng_option(9, bytes([0x80 | 20])), order="<"),  # 2**-20 s
        interface_description(228, options=pcapng_option(14, struct.pack("<q", 3600)), order="<"),  # +1 h
        enhanced_packet(frame_eth, T0 * 10**6 + 1, interface=0),
        enhanced_packet(frame_sll, base + 5, interface=1),
        pcapng_block(0xBAD, b"12345678"),  # unknown block type: skipped
        enhanced_packet(_ipv4_udp(3), (T0 << 20) + (1 << 19), interface=2),  # + 0.5 s
        enhanced_packet(_ipv4_udp(4), T0 * 10**6, interface=3),
        pcapng_block(3, struct.pack("<I", len(frame_eth)) + frame_eth),  # simple packet block: interface 0
        obsolete_packet,
    ])
    second_section = b"".join([
        section_header(">"),
        interface_description(1, order=">"),
        enhanced_packet(frame_eth, T0 * 10**6 + 9, order=">"),
    ])
    path = write(tmp_path / "x.pcapng", first_section + second_section)
    frame = pcapflow.read_packets(path)
    assert frame["linktype"].tolist() == [1, 113, 101, 228, 1, 113, 1]
    assert frame["ts"].astype("int64").tolist() == [
        base + 1000,
        base + 5,
        base + 500_000_000,
        base + 3600 * 10**9,
        base + 3600 * 10**9,  # the simple packet block takes the timestamp before it
        base + 7,
        base + 9000,
    ]
    assert frame["src_port"].tolist() == [1, 2, 3, 4, 1, 2, 1]
    assert (frame["status"] == "OK").all()
    report = frame.attrs["report"]
    assert report.files[0].linktypes == [1, 113, 101, 228, 1]
    assert report.files[0].skipped_blocks == 1
    assert report.files[0].damage is None


def test_pcapng_packet_block_longer_than_its_block_is_flagged_not_lost(tmp_path):
    frame_eth = bytes(eth() / IP() / UDP(sport=1, dport=2))
    data = section_header() + interface_description(1) + enhanced_packet(frame_eth, 0, caplen=len(frame_eth) + 400)
    data += enhanced_packet(frame_eth, 1)
    frame = pcapflow.read_packets(write(tmp_path / "x.pcapng", data))
    assert frame["status"].tolist() == ["BAD_RECORD", "OK"]
    assert frame["caplen"].tolist() == [len(frame_eth) + (-len(frame_eth) % 4), len(frame_eth)]


def test_batches_hold_only_bounded_file_bytes(tmp_path, packets):
    path = write(tmp_path / "x.pcap", capture_bytes(packets * 50, "pcap-le-us"))
    with open_capture(path) as capture:
        sizes = [len(batch.buffer) for batch in capture.batches(chunk_bytes=4096)]
    assert len(sizes) > 5
    # a chunk, plus the partial record carried over from the chunk before, plus the padding
    largest_record = 16 + max(len(bytes(p)) for p in packets)
    assert max(sizes) <= 4096 + largest_record + 128


@pytest.mark.parametrize("variant", VARIANTS)
def test_packet_tables_have_the_declared_native_dtypes(tmp_path, packets, variant):
    from pcapflow.decode.table import COLUMN_DTYPES

    path = write(tmp_path / "x", capture_bytes(packets, variant))
    for table in pcapflow.PacketReader(path):
        for name, dtype in COLUMN_DTYPES.items():
            assert getattr(table, name).dtype == dtype, (name, getattr(table, name).dtype)
