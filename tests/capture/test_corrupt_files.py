"""The corrupt-file catalogue: the exact outcome for every kind of damaged capture.

A file unusable as a whole raises CaptureError (file, problem, byte offset); damage after good
records keeps every good record and is reported; nothing crashes and nothing allocates without
bound.
"""

from __future__ import annotations

import gzip
import random
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP

import pcapflow
from pcapflow.capture import open_capture
from pcapflow.errors import CaptureError, UnsupportedLinkTypeError
from tests.factories import (
    enhanced_packet,
    eth,
    interface_description,
    pcap_bytes,
    pcapng_block,
    section_header,
    stamped,
    write,
)

PACKETS = stamped([eth() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=1000 + i, dport=53) for i in range(3)])
GOOD = pcap_bytes(PACKETS)
RECORD = 16 + len(bytes(PACKETS[0]))  # every record has the same size
HEADER = GOOD[:24]


def _error(tmp_path, data: bytes) -> CaptureError:
    with pytest.raises(CaptureError) as caught:
        pcapflow.read_packets(write(tmp_path / "bad.pcap", data))
    assert caught.value.path.endswith("bad.pcap")
    return caught.value


def test_empty_file(tmp_path):
    error = _error(tmp_path, b"")
    assert (error.problem, error.offset) == ("empty file", 0)
    assert str(error).endswith("bad.pcap: empty file (at byte 0)")


@pytest.mark.parametrize("size", [1, 2, 3])
def test_shorter_than_a_magic_number(tmp_path, size):
    error = _error(tmp_path, HEADER[:size])
    assert error.problem == f"not a pcap or pcapng file (first bytes {HEADER[:size].hex(' ')})"


@pytest.mark.parametrize("size", range(4, 24))
def test_pcap_header_cut_short(tmp_path, size):
    error = _error(tmp_path, HEADER[:size])
    assert (error.problem, error.offset) == (f"pcap file header cut short ({size} of 24 bytes)", 0)


def test_bad_magic(tmp_path):
    error = _error(tmp_path, b"<html><body>not a capture</body></html>")
    assert error.problem == "not a pcap or pcapng file (first bytes 3c 68 74 6d)"


def test_unsupported_pcap_version(tmp_path):
    error = _error(tmp_path, HEADER[:4] + struct.pack("<HH", 3, 0) + HEADER[8:])
    assert (error.problem, error.offset) == ("unsupported pcap version 3.0", 4)


def test_header_only_is_a_valid_empty_capture(tmp_path):
    frame = pcapflow.read_packets(write(tmp_path / "empty.pcap", HEADER))
    assert len(frame) == 0
    assert frame.attrs["report"].files[0].damage is None


@pytest.mark.parametrize("cut", [1, 8, 15])
def test_truncated_last_record_header_keeps_every_record_before_it(tmp_path, cut):
    data = GOOD[: 24 + 2 * RECORD + cut]
    frame = pcapflow.read_packets(write(tmp_path / "t.pcap", data))
    assert frame["src_port"].tolist() == [1000, 1001]
    file = frame.attrs["report"].files[0]
    assert (file.records, file.truncated_tail, file.corrupt_at) == (2, True, None)
    assert file.damage == f"file ends inside the record at byte {24 + 2 * RECORD} ({cut} bytes present)"


def test_truncated_last_record_body_keeps_every_record_before_it(tmp_path):
    data = GOOD[: 24 + 2 * RECORD + 20]
    frame = pcapflow.read_packets(write(tmp_path / "t.pcap", data))
    assert len(frame) == 2
    file = frame.attrs["report"].files[0]
    assert file.truncated_tail
    assert file.damage == f"file ends inside the record at byte {24 + 2 * RECORD} (20 of {RECORD} bytes present)"


def _with_caplen(record: bytes, caplen: int) -> bytes:
    return record[:8] + struct.pack("<I", caplen) + record[12:]


def test_absurd_caplen_after_good_records_is_reported_as_corrupt(tmp_path):
    third = GOOD[24 + 2 * RECORD :]
    data = GOOD[: 24 + 2 * RECORD] + _with_caplen(third, 0xFFFFFFFF)
    frame = pcapflow.read_packets(write(tmp_path / "c.pcap", data))
    assert len(frame) == 2
    file = frame.attrs["report"].files[0]
    assert (file.corrupt_at, file.truncated_tail) == (24 + 2 * RECORD, False)
    assert file.damage == (
        f"record at byte {24 + 2 * RECORD} claims 4294967295 bytes of packet data, more than the 262144-byte maximum"
    )


def test_absurd_caplen_in_the_first_record_leaves_nothing_readable(tmp_path):
    error = _error(tmp_path, HEADER + _with_caplen(GOOD[24:], 1 << 30))
    assert error.problem.startswith("no readable record: record at byte 24 claims 1073741824 bytes")
    assert error.offset == 24


def test_first_record_cut_short_leaves_nothing_readable(tmp_path):
    error = _error(tmp_path, GOOD[: 24 + RECORD - 1])
    assert error.problem == f"no readable record: file ends inside the record at byte 24 ({RECORD - 1} of {RECORD} bytes present)"


def _pcapng(*blocks: bytes) -> bytes:
    frame = bytes(PACKETS[0])
    return section_header() + interface_description(1) + enhanced_packet(frame, 1) + b"".join(blocks)


@pytest.mark.parametrize(
    ("block", "damage"),
    [
        (struct.pack("<II", 6, 30) + bytes(22), "block of type 0x6 has an impossible length 30"),
        (struct.pack("<II", 6, 8) + bytes(8), "block of type 0x6 has an impossible length 8"),
        (struct.pack("<II", 6, 1 << 30) + bytes(8), "block of type 0x6 has an impossible length 1073741824"),
        (struct.pack("<III", 0xBAD, 16, 0) + struct.pack("<I", 20), "block of type 0xbad: leading and trailing lengths differ"),
    ],
)
def test_pcapng_bad_block_length_stops_after_the_good_blocks(tmp_path, block, damage):
    offset = len(_pcapng())
    frame = pcapflow.read_packets(write(tmp_path / "c.pcapng", _pcapng(block)))
    assert len(frame) == 1
    file = frame.attrs["report"].files[0]
    assert file.corrupt_at == offset
    assert file.damage == f"{damage} (block at byte {offset})"


def test_pcapng_unknown_block_is_skipped_and_counted(tmp_path):
    frame = pcapflow.read_packets(write(tmp_path / "u.pcapng", _pcapng(pcapng_block(0x40000BAD, b"custom!!"), enhanced_packet(bytes(PACKETS[1]), 2))))
    assert frame["src_port"].tolist() == [1000, 1001]
    assert frame.attrs["report"].files[0].skipped_blocks == 1


def test_pcapng_cut_inside_a_block(tmp_path):
    data = _pcapng(enhanced_packet(bytes(PACKETS[1]), 2))
    frame = pcapflow.read_packets(write(tmp_path / "t.pcapng", data[:-10]))
    assert len(frame) == 1
    file = frame.attrs["report"].files[0]
    assert file.truncated_tail
    assert file.damage == f"file ends inside the block at byte {len(_pcapng())} ({len(data) - 10 - len(_pcapng())} bytes present)"


def test_pcapng_bad_byte_order_magic(tmp_path):
    error = _error(tmp_path, b"\x0a\x0d\x0d\x0a" + struct.pack("<II", 28, 0x12345678) + bytes(16))
    assert error.problem == "no readable record: section header with a bad byte-order magic (block at byte 0)"


def test_gzip_cut_short_keeps_what_decompressed(tmp_path):
    noise = random.Random(1)  # incompressible payloads, so that half the file holds about half the records
    packets = stamped([eth() / IP() / UDP(sport=i, dport=53) / noise.randbytes(200) for i in range(100)])
    compressed = gzip.compress(pcap_bytes(packets), mtime=0)
    frame = pcapflow.read_packets(write(tmp_path / "t.pcap.gz", compressed[: len(compressed) // 2]))
    file = frame.attrs["report"].files[0]
    assert 40 < len(frame) < 60
    assert frame["src_port"].tolist() == list(range(len(frame)))
    assert file.truncated_tail
    assert file.damage.startswith("gzip data is corrupt or cut short after byte")


def test_compressed_garbage_is_not_a_capture(tmp_path):
    error = _error(tmp_path, gzip.compress(bytes(10 << 20), mtime=0))  # a 10 MiB "bomb" of zeros
    assert error.problem == "not a pcap or pcapng file (first bytes 00 00 00 00)"


def test_a_bomb_of_empty_records_is_read_in_bounded_batches(tmp_path):
    data = gzip.compress(HEADER + bytes(16 * 200_000), mtime=0)  # 200,000 zero-length records
    with open_capture(write(tmp_path / "bomb.pcap.gz", data)) as capture:
        sizes = [len(batch.buffer) for batch in capture.batches(chunk_bytes=1 << 16)]
    assert max(sizes) <= (1 << 16) + 16 + 128
    assert capture.report.records == 200_000


def test_every_interface_unsupported(tmp_path):
    data = pcap_bytes(PACKETS, linktype=147)  # LINKTYPE_USER0
    with pytest.raises(UnsupportedLinkTypeError, match=r"no interface has a supported link type \(link types: 147\)"):
        pcapflow.read_packets(write(tmp_path / "u.pcap", data))


def test_missing_file_raises_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        pcapflow.read_packets(tmp_path / "missing.pcap")


@given(st.binary(max_size=2000), st.sampled_from([b"", HEADER, section_header(), gzip.compress(HEADER, mtime=0)]))
def test_arbitrary_bytes_never_crash_the_reader(tmp_path_factory, tail, head):
    path = tmp_path_factory.mktemp("fuzz") / "x"
    path.write_bytes(head + tail)
    try:
        frame = pcapflow.read_packets(path, chunk_bytes=64)
    except CaptureError:
        return
    report = frame.attrs["report"]
    assert report.records_read == len(frame) == sum(report.status_counts.values())
    analysis = pcapflow.analyze(path, chunk_bytes=64)  # and every later stage takes what was read
    assert analysis.ports["conversations"].sum() == len(analysis.conversations)
