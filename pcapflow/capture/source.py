"""Opening a capture: a file, a FIFO or standard input; transparent decompression; format sniffing.

The suffix of a file never decides anything: real captures named ``.pcap`` are often pcapng and
the other way round. The first bytes are read once and decide both the compression (see
:mod:`pcapflow.capture.compression`) and the format, so that a pipe (``-`` for standard input,
or a FIFO) is read exactly once, front to back, like a file read in order.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from dataclasses import dataclass
from typing import BinaryIO

from pcapflow.capture.compression import MAGIC_BYTES, DecompressedStream, DecompressionError, reject_missing_decoder, sniff_compression
from pcapflow.capture.location import is_url, open_url, url_size
from pcapflow.errors import CaptureError

#: The name that reads a capture from standard input.
STDIN = "-"

PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
#: Classic pcap magic (as stored) -> (byte order, nanoseconds per timestamp fraction unit).
PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),
    b"\xa1\xb2\x3c\x4d": (">", 1),
}


def is_stream_input(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` can only be read once, in order: standard input, a FIFO, a device."""
    name = os.fspath(path)
    if name == STDIN:
        return True
    if is_url(name):
        return False
    try:
        return not stat.S_ISREG(os.stat(name).st_mode)
    except OSError:  # opening it raises what it raises
        return False


def input_size(path: str | os.PathLike[str]) -> int | None:
    """The size in bytes of the file at ``path``; None for a pipe or standard input."""
    if is_url(os.fspath(path)):
        return url_size(os.fspath(path))
    return None if is_stream_input(path) else os.path.getsize(path)


class _CountingReader(io.RawIOBase):
    """A pipe, counting the bytes read from it (a pipe has no position to ask for)."""

    def __init__(self, pipe: BinaryIO):
        super().__init__()
        self._pipe = pipe
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        data = self._pipe.read(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer) -> int:  # type: ignore[override] # any writable buffer, as io's own
        count = self._pipe.readinto(buffer)  # type: ignore[attr-defined] # every binary stream has it
        self.bytes_read += count or 0
        return count or 0

    readinto1 = readinto


@dataclass
class OpenedCapture:
    """A capture stream positioned at its first byte, with what sniffing found."""

    path: str
    stream: io.BufferedReader | _CountingReader | DecompressedStream  # decompressing, or the input itself
    format: str  # "pcap" or "pcapng"
    compression: str | None
    head: bytes  # the first bytes of the (decompressed) capture, already consumed from stream
    raw: io.BufferedReader | _CountingReader  # the input itself (stream reads through it when it is compressed)
    file_size: int | None  # bytes of an uncompressed regular file; None for compressed data or a pipe
    owns_raw: bool = True  # False for standard input, which stays open

    @property
    def position(self) -> int:
        """Bytes of the input (compressed, if it is) read so far."""
        if isinstance(self.stream, DecompressedStream):
            return self.stream.bytes_read
        if isinstance(self.raw, _CountingReader):
            return self.raw.bytes_read
        return self.raw.tell()

    @property
    def warnings(self) -> list[str]:
        """What reading the input itself ignored (bytes after the compressed data)."""
        trailing = self.stream.trailing if isinstance(self.stream, DecompressedStream) else None
        return [trailing] if trailing else []

    def close(self) -> None:
        if self.stream is not self.raw:
            self.stream.close()
        if self.owns_raw:
            self.raw.close()


def open_input(name: str) -> io.BufferedReader:
    """A file of this machine, or at an fsspec URL, open for reading."""
    if is_url(name):
        return open_url(name)  # type: ignore[return-value] # a binary file, seekable as a regular file
    return open(name, "rb")


def _open_input(name: str) -> tuple[io.BufferedReader | _CountingReader, bool]:
    """The input's bytes, and whether closing them is ours to do."""
    if name == STDIN:
        return _CountingReader(sys.stdin.buffer), False
    raw = open_input(name)
    if raw.seekable():
        return raw, True
    return _CountingReader(raw), True


def _size_of(name: str, raw: io.BufferedReader) -> int:
    return url_size(name) if is_url(name) else os.fstat(raw.fileno()).st_size


def read_exactly(stream: io.BufferedReader | _CountingReader | DecompressedStream, size: int) -> bytes:
    """Read up to ``size`` bytes, looping over short reads (pipes and decompressors return less at times)."""
    parts = []
    while size > 0:
        part = stream.read(size)
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def open_capture_stream(path: str | os.PathLike[str]) -> OpenedCapture:
    """Open ``path`` (``-``: standard input), undo any compression and sniff the format.

    Raises :class:`CaptureError` when the input is empty or is no pcap/pcapng capture;
    ``OSError`` (missing file, permissions) propagates unchanged.
    """
    name = os.fspath(path)
    raw, owned = _open_input(name)
    try:
        first = read_exactly(raw, MAGIC_BYTES)
        compression = sniff_compression(first)
        stream: io.BufferedReader | _CountingReader | DecompressedStream = raw
        magic = first
        if compression:
            reject_missing_decoder(name, compression)
            stream = DecompressedStream(raw, compression, first)
            try:
                magic = read_exactly(stream, 4)
            except DecompressionError as exc:
                raise CaptureError(name, f"{compression} data is corrupt: {exc}", 0) from None
        if not magic:
            what = f"{compression} stream holds no data" if compression else "empty file"
            raise CaptureError(name, what, 0)
        if magic[:4] == PCAPNG_MAGIC:
            fmt = "pcapng"
        elif magic[:4] in PCAP_MAGICS:
            fmt = "pcap"
        else:
            raise CaptureError(name, f"not a pcap or pcapng file (first bytes {magic[:4].hex(' ')})", 0)
        file_size = None if compression or isinstance(raw, _CountingReader) else _size_of(name, raw)
        return OpenedCapture(name, stream, fmt, compression, magic, raw, file_size, owned)
    except BaseException:
        if owned:
            raw.close()
        raise
