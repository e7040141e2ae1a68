"""Compressed captures: five formats, several members, and one rule for what follows the data.

The rule (see pcapflow.capture.compression): the format's own padding is silent, any other
trailing bytes are a warning in the file's report, and every record that decompressed is kept.
Where the real tool is installed, the bytes pcapflow decompresses are compared with its ``-dc``.
"""

from __future__ import annotations

import bz2
import functools
import io
import itertools
import random
import shutil
import struct
import subprocess
import sys
import tracemalloc
import zlib

import lz4.frame
import pandas as pd
import pytest
import zstandard
from click.testing import CliRunner
from scapy.layers.inet import IP, UDP
from scapy.packet import Raw

import pcapflow
from pcapflow.capture.compression import STEP_BYTES, DecompressedStream
from pcapflow.cli import main
from tests.factories import COMPRESSIONS, eth, mixed_traffic, pcap_bytes, stamped, write

FORMATS = list(COMPRESSIONS)
GARBAGE = b"not a capture"


def _skippable_frame(body: bytes) -> bytes:
    return struct.pack("<II", 0x184D2A5E, len(body)) + body


#: Each format's valid padding after its data (bzip2 has none).
PADDING = {"gzip": bytes(7), "xz": bytes(12), "zstd": _skippable_frame(b"seek table"), "lz4": _skippable_frame(b"")}


@functools.cache
def _noisy_capture() -> bytes:
    """3,000 records with incompressible payloads, so that the compressed file has many blocks."""
    noise = random.Random(1)
    return pcap_bytes(stamped([
        eth() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5000 + i % 50, dport=53) / Raw(noise.randbytes(200))
        for i in range(3000)
    ]))


def _read(tmp_path, data: bytes, name: str = "t.pcap.x", **options):
    frame = pcapflow.read_packets(write(tmp_path / name, data), **options)
    return frame, frame.attrs["report"].files[0]


def _trailing_warning(kind: str, at: int, trailing: bytes) -> str:
    return (f"{len(trailing):,} bytes after the end of the {kind} data at byte {at:,} "
            f"(first bytes {trailing[:8].hex(' ')}) are not {kind} data and were ignored")


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> pd.DataFrame:
    """The packets of the uncompressed capture."""
    return pcapflow.read_packets(write(tmp_path_factory.mktemp("plain") / "t.pcap", pcap_bytes(mixed_traffic())))


@pytest.mark.parametrize("kind", FORMATS)
def test_every_format_reads_every_record_and_says_nothing_more(tmp_path, kind, plain):
    frame, file = _read(tmp_path, COMPRESSIONS[kind](pcap_bytes(mixed_traffic())))
    assert (file.compression, file.records, file.warnings, file.damage) == (kind, 13, [], None)
    pd.testing.assert_frame_equal(frame, plain)


@pytest.mark.parametrize("kind", FORMATS)
def test_trailing_bytes_are_a_warning_and_every_record_is_kept(tmp_path, kind, plain):
    compressed = COMPRESSIONS[kind](pcap_bytes(mixed_traffic()))
    frame, file = _read(tmp_path, compressed + GARBAGE)
    assert file.warnings == [_trailing_warning(kind, len(compressed), GARBAGE)]
    assert (file.records, file.damage, file.truncated_tail) == (13, None, False)
    pd.testing.assert_frame_equal(frame, plain)


@pytest.mark.parametrize("kind", FORMATS)
def test_trailing_bytes_after_many_chunks_keep_the_last_records(tmp_path, kind):
    """zstd read ahead and lost the records decompressed with the trailing bytes' error."""
    data = _noisy_capture()
    compressed = COMPRESSIONS[kind](data)
    _, file = _read(tmp_path, compressed + GARBAGE * 100, chunk_bytes=16 << 10)
    assert file.records == 3000
    assert file.warnings == [_trailing_warning(kind, len(compressed), GARBAGE * 100)]


@pytest.mark.parametrize("kind", sorted(PADDING))
def test_the_formats_own_padding_is_silent(tmp_path, kind, plain):
    frame, file = _read(tmp_path, COMPRESSIONS[kind](pcap_bytes(mixed_traffic())) + PADDING[kind])
    assert (file.records, file.warnings, file.damage) == (13, [], None)
    pd.testing.assert_frame_equal(frame, plain)


@pytest.mark.parametrize(("kind", "tail"), [
    ("bzip2", bytes(8)),  # bzip2 has no padding: bzip2 -d says "trailing garbage"
    ("xz", bytes(6)),  # xz's padding comes in multiples of four
    ("zstd", bytes(8)),  # zstd and lz4 pad with skippable frames, not zeros
    ("lz4", bytes(8)),
    ("gzip", bytes(4) + GARBAGE),  # gzip's zeros must run to the end
    ("zstd", _skippable_frame(b"cut")[:-1]),  # a skippable frame cut short
])
def test_what_only_looks_like_padding_is_a_warning(tmp_path, kind, tail):
    compressed = COMPRESSIONS[kind](pcap_bytes(mixed_traffic()))
    _, file = _read(tmp_path, compressed + tail)
    assert file.records == 13
    assert file.warnings == [_trailing_warning(kind, len(compressed), tail)]


@pytest.mark.parametrize("kind", FORMATS)
def test_a_capture_split_across_members_is_one_capture(tmp_path, kind, plain):
    """pigz, pbzip2, zstd -T and `cat a.gz b.gz` write several members; every tool's -d joins them."""
    data = pcap_bytes(mixed_traffic())
    cuts = [0, 31, 400, 401, len(data)]  # inside the file header, inside records, at a record's end
    members = b"".join(COMPRESSIONS[kind](data[a:b]) for a, b in itertools.pairwise(cuts))
    frame, file = _read(tmp_path, members + PADDING.get(kind, b""))
    assert (file.records, file.warnings, file.damage) == (13, [], None)
    pd.testing.assert_frame_equal(frame, plain)


@pytest.mark.parametrize("kind", ["xz", "zstd", "lz4"])
def test_padding_between_members_is_skipped(tmp_path, kind, plain):
    data = pcap_bytes(mixed_traffic())
    compressed = COMPRESSIONS[kind](data[:100]) + PADDING[kind] + COMPRESSIONS[kind](data[100:])
    frame, file = _read(tmp_path, compressed)
    assert (file.records, file.warnings) == (13, [])
    pd.testing.assert_frame_equal(frame, plain)


@pytest.mark.parametrize("tail", ["padding", "garbage"])
@pytest.mark.parametrize("kind", FORMATS)
def test_the_real_tool_decompresses_the_same_bytes(kind, tail):
    """Two members, then padding or garbage: the tool's output (it warns or fails on garbage,
    after writing what it decompressed) is pcapflow's."""
    tool = shutil.which(kind)  # each format's tool has its name
    if tool is None:
        pytest.skip(f"{kind} is not installed")
    data = pcap_bytes(mixed_traffic())
    compressed = COMPRESSIONS[kind](data[:200]) + COMPRESSIONS[kind](data[200:]) + (PADDING.get(kind, b"") if tail == "padding" else GARBAGE)
    theirs = subprocess.run([tool, "-dc"], input=compressed, capture_output=True, timeout=30, check=False)
    stream = DecompressedStream(io.BytesIO(compressed), kind)
    assert stream.read() == theirs.stdout == data
    assert stream.members == 2
    assert (stream.trailing is None) == (tail == "padding")


@pytest.mark.parametrize("kind", FORMATS)
def test_a_file_cut_inside_a_member_keeps_what_decompressed(tmp_path, kind):
    data = _noisy_capture()
    # bzip2 decompresses whole blocks only: blocks of 100 kB (not 900), so that half holds some
    compressed = bz2.compress(data, compresslevel=1) if kind == "bzip2" else COMPRESSIONS[kind](data)
    frame, file = _read(tmp_path, compressed[: len(compressed) // 2], chunk_bytes=16 << 10)
    assert 1000 < file.records < 1600
    assert frame["record_index"].tolist() == list(range(file.records))
    assert file.truncated_tail
    assert file.damage.startswith(f"{kind} data is corrupt or cut short after byte ")


def test_without_the_lz4_package_an_lz4_capture_says_how_to_install_it(tmp_path, monkeypatch):
    path = write(tmp_path / "t.pcap.lz4", COMPRESSIONS["lz4"](pcap_bytes(mixed_traffic())))
    monkeypatch.setitem(sys.modules, "lz4", None)  # import lz4 now raises ImportError
    monkeypatch.setitem(sys.modules, "lz4.frame", None)
    with pytest.raises(pcapflow.CaptureError) as error:
        pcapflow.read_packets(path)
    assert str(error.value) == f"{path}: lz4-compressed; reading it needs the lz4 package: pip install 'pcapflow[lz4]' (at byte 0)"
    result = CliRunner().invoke(main, ["analyze", str(path)])
    assert result.exit_code == 1
    assert result.stderr == f"Error: {error.value}\n"


def test_trailing_bytes_are_a_cli_warning_and_strict_fails(tmp_path):
    compressed = COMPRESSIONS["zstd"](pcap_bytes(mixed_traffic()))
    path = write(tmp_path / "t.pcap.zst", compressed + GARBAGE)
    warning = f"Warning: {path}: {_trailing_warning('zstd', len(compressed), GARBAGE)}\n"
    result = CliRunner().invoke(main, ["analyze", str(path)])
    assert result.exit_code == 0
    assert result.stderr == warning
    assert "13 records" in result.stdout
    assert CliRunner().invoke(main, ["analyze", "--strict", str(path)]).exit_code == 1


def _bomb(kind: str, size: int) -> bytes:
    """``size`` zero bytes compressed, built a chunk at a time."""
    chunk = bytes(16 << 20)
    if kind == "zstd":
        compressor = zstandard.ZstdCompressor().compressobj()
        return b"".join(compressor.compress(chunk) for _ in range(size // len(chunk))) + compressor.flush()
    if kind == "gzip":
        deflate = zlib.compressobj(wbits=31)
        return b"".join(deflate.compress(chunk) for _ in range(size // len(chunk))) + deflate.flush()
    lz4_compressor = lz4.frame.LZ4FrameCompressor()
    return lz4_compressor.begin() + b"".join(lz4_compressor.compress(chunk) for _ in range(size // len(chunk))) + lz4_compressor.flush()


@pytest.mark.parametrize("kind", ["zstd", "gzip", "lz4"])
def test_a_decompression_bomb_costs_time_not_memory(kind):
    """256 MiB of zeros from a few kB: read a bounded step at a time, whatever the ratio (zstd's
    decompressor has no output limit: it is given 1 KiB at a time, at most 32 MiB of output)."""
    bomb = _bomb(kind, 256 << 20)
    stream = DecompressedStream(io.BytesIO(bomb), kind)
    buffer = bytearray(4 << 20)
    steps = []
    tracemalloc.start()
    try:
        while count := stream.readinto(buffer):
            steps.append(count)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(steps) == 256 << 20
    assert max(steps) <= STEP_BYTES
    assert peak < (80 << 20 if kind == "zstd" else 8 << 20)


def test_two_compressed_captures_joined_are_one_capture_then_damage(tmp_path):
    """`cat a.pcap.gz b.pcap.gz` decompresses (as gzip -dc does) to a capture followed by another
    file header, which is no record: the first capture is read, the rest is damage, as tshark
    reading `zcat` sees it. Captures are given separately to be read as one."""
    first = pcap_bytes(mixed_traffic())
    joined = COMPRESSIONS["gzip"](first) + COMPRESSIONS["gzip"](first)
    frame, file = _read(tmp_path, joined)
    # the second header's first 16 bytes (magic, version, zone 0, accuracy 0) read as a record of
    # 0 bytes; its last 8 bytes and the next record's header claim a length past every limit
    assert (file.records, file.corrupt_at, file.warnings) == (14, len(first) + 16, [])
    assert frame["caplen"].iloc[-1] == 0
    assert file.damage.startswith(f"record at byte {len(first) + 16} claims ")


@pytest.mark.parametrize("kind", FORMATS)
def test_a_file_the_real_tool_wrote_reads_as_the_capture(tmp_path, kind, plain):
    """Files as gzip, bzip2, xz, zstd and lz4 write them (lz4: the frame format, with its checksums)."""
    tool = shutil.which(kind)
    if tool is None:
        pytest.skip(f"{kind} is not installed")
    written = subprocess.run([tool, "-c"], input=pcap_bytes(mixed_traffic()), capture_output=True, timeout=30, check=True).stdout
    frame, file = _read(tmp_path, written)
    assert (file.compression, file.records, file.warnings) == (kind, 13, [])
    pd.testing.assert_frame_equal(frame, plain)
