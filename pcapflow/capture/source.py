"""Opening a capture file: transparent decompression and format sniffing from magic bytes.

The suffix of a file never decides anything: real captures named ``.pcap`` are often pcapng and
the other way round. Compressed files (gzip, bzip2, xz, zstd) are read as streams, so a
decompression bomb costs time, never unbounded memory.
"""

from __future__ import annotations

import functools
import io
import os
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from pcapflow.errors import CaptureError

_COMPRESSIONS = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)

PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
#: Classic pcap magic (as stored) -> (byte order, nanoseconds per timestamp fraction unit).
PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),
    b"\xa1\xb2\x3c\x4d": (">", 1),
}


@dataclass
class OpenedCapture:
    """A capture stream positioned at its first byte, with what sniffing found."""

    path: str
    stream: io.BufferedIOBase  # decompressing, or the file itself
    format: str  # "pcap" or "pcapng"
    compression: str | None
    head: bytes  # the magic bytes, already consumed from stream
    raw: BinaryIO  # the file itself (stream reads through it when the file is compressed)


@functools.cache
def decompression_errors() -> tuple[type[BaseException], ...]:
    """What a decompressing stream raises when its input is corrupt or cut short (the
    decompressors are imported when a compressed file is first met, not with pcapflow)."""
    import lzma

    import zstandard

    return (EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError, OSError)


def _decompressing(raw: BinaryIO, compression: str) -> io.BufferedIOBase:
    if compression == "gzip":
        import gzip

        return gzip.GzipFile(fileobj=raw, mode="rb")
    if compression == "bzip2":
        import bz2

        return bz2.BZ2File(raw, mode="rb")
    if compression == "xz":
        import lzma

        return lzma.LZMAFile(raw, mode="rb")
    import zstandard

    return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True))


def read_exactly(stream: io.BufferedIOBase | BinaryIO, size: int) -> bytes:
    """Read up to ``size`` bytes, looping over short reads (decompressors return less at times)."""
    parts = []
    while size > 0:
        part = stream.read(size)
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def open_capture_stream(path: str | os.PathLike[str]) -> OpenedCapture:
    """Open ``path``, undo any compression and sniff the format.

    Raises :class:`CaptureError` when the file is empty or is no pcap/pcapng file;
    ``OSError`` (missing file, permissions) propagates unchanged.
    """
    name = os.fspath(path)
    raw = open(name, "rb")  # noqa: SIM115 - owned by the returned stream
    try:
        head = raw.read(6)
        raw.seek(0)
        compression = next((kind for magic, kind in _COMPRESSIONS if head.startswith(magic)), None)
        stream = _decompressing(raw, compression) if compression else raw
        try:
            magic = read_exactly(stream, 4)
        except decompression_errors() as exc:
            raise CaptureError(name, f"{compression} data is corrupt: {exc}", 0) from None
        if not magic:
            what = f"{compression} stream holds no data" if compression else "empty file"
            raise CaptureError(name, what, 0)
        if magic == PCAPNG_MAGIC:
            fmt = "pcapng"
        elif magic in PCAP_MAGICS:
            fmt = "pcap"
        else:
            raise CaptureError(name, f"not a pcap or pcapng file (first bytes {magic.hex(' ')})", 0)
        return OpenedCapture(name, stream, fmt, compression, magic, raw)
    except BaseException:
        raw.close()
        raise
