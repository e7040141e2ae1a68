"""Undoing the compression of a capture: gzip, bzip2, xz, zstd and lz4, one stream read in order.

Contract
--------
:class:`DecompressedStream` turns the compressed bytes of a file or pipe into the decompressed
bytes, read front to back exactly once (a pipe cannot be read twice). Like ``gzip -d``, ``bzip2
-d``, ``xz -d``, ``zstd -d`` and ``lz4 -d``, it decompresses every member (stream, frame) of the
input one after the other, as one stream of bytes: ``pigz``, ``pbzip2``, ``zstd -T`` and ``cat
a.gz b.gz`` write such files.

What follows the last member, the same rule for every format:

- the format's own padding is skipped silently: zero bytes after gzip (tape padding, which gzip
  ignores), zero bytes in multiples of four after xz (the xz format's stream padding), complete
  skippable frames in zstd and lz4;
- anything else ends the stream: every byte decompressed before it is kept, and
  :attr:`DecompressedStream.trailing` says what was ignored (the capture report's warning);
- data that is corrupt inside a member, or cut short, raises :class:`DecompressionError` once
  every byte decompressed before it has been returned.

Output is produced a bounded step at a time, so a decompression bomb costs time, never memory.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from typing import Protocol

from pcapflow.errors import CaptureError

#: Magic bytes of each format (as stored) -> its name.
MAGICS = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x04\x22\x4d\x18", "lz4"),
)
#: Bytes needed to recognise any of the magics.
MAGIC_BYTES = max(len(magic) for magic, _ in MAGICS)
#: Skippable frames of zstd and lz4: a little-endian magic 0x184D2A50 to 0x184D2A5F, then the
#: frame's size (little-endian 32 bits), then that many bytes.
SKIPPABLE_HEADER = struct.Struct("<II")
SKIPPABLE_FIRST, SKIPPABLE_LAST = 0x184D2A50, 0x184D2A5F
#: Compressed bytes read from the input at a time.
READ_BYTES = 256 << 10
#: Most bytes one decompression step returns (what a corrupt member can take with it).
STEP_BYTES = 1 << 20
#: Compressed bytes given to zstd at a time: its decompressor has no output limit, and one
#: compressed byte can stand for up to 32 KiB (a run-length block), so this bounds each step.
ZSTD_INPUT_BYTES = 1 << 10
#: First bytes of ignored trailing data shown in the warning.
SHOWN_BYTES = 8

LZ4_MISSING = "lz4-compressed; reading it needs the lz4 package: pip install 'pcapflow[lz4]'"


class DecompressionError(Exception):
    """Compressed data that is corrupt or cut short inside a member."""


class Input(Protocol):
    """Where compressed bytes come from: a file or a pipe."""

    def read(self, size: int = ..., /) -> bytes: ...


class Decoder(Protocol):
    """One member's decompressor, as :mod:`bz2`, :mod:`lzma` and ``lz4.frame`` shape them."""

    @property
    def eof(self) -> bool: ...
    @property
    def needs_input(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int) -> bytes: ...


class _ZlibDecoder:
    """A gzip member through :mod:`zlib`, in the shape of :class:`Decoder`."""

    def __init__(self) -> None:
        import zlib

        self._decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)

    @property
    def eof(self) -> bool:
        return self._decoder.eof

    @property
    def needs_input(self) -> bool:
        return not self._decoder.unconsumed_tail

    @property
    def unused_data(self) -> bytes:
        return self._decoder.unused_data

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return self._decoder.decompress(self._decoder.unconsumed_tail + data, max_length)


class _ZstdDecoder:
    """A zstd frame, in the shape of :class:`Decoder`: input goes in small slices, the output
    waits here until it is asked for."""

    def __init__(self) -> None:
        import zstandard

        self._decoder = zstandard.ZstdDecompressor().decompressobj()
        self._input = b""
        self._output = bytearray()
        self._error: Exception | None = None  # raised once the output before it is taken

    @property
    def eof(self) -> bool:
        return self._decoder.eof and not self._output

    @property
    def needs_input(self) -> bool:
        return not self._input and not self._output and self._error is None

    @property
    def unused_data(self) -> bytes:
        return self._decoder.unused_data + self._input

    def decompress(self, data: bytes, max_length: int) -> bytes:
        import zstandard

        self._input += data
        while len(self._output) < max_length and self._input and not self._decoder.eof and self._error is None:
            step, self._input = self._input[:ZSTD_INPUT_BYTES], self._input[ZSTD_INPUT_BYTES:]
            try:
                self._output += self._decoder.decompress(step)
            except zstandard.ZstdError as exc:
                self._error = exc
        if self._error is not None and not self._output:
            raise self._error
        out = bytes(self._output[:max_length])
        del self._output[:max_length]
        return out


class _Lz4Decoder:
    """An lz4 frame (``lz4.frame``), whose ``unused_data`` is None until the frame ends."""

    def __init__(self) -> None:
        import lz4.frame  # present: reject_missing_decoder checked when the file was sniffed

        self._decoder = lz4.frame.LZ4FrameDecompressor()

    @property
    def eof(self) -> bool:
        return self._decoder.eof

    @property
    def needs_input(self) -> bool:
        return self._decoder.needs_input

    @property
    def unused_data(self) -> bytes:
        return self._decoder.unused_data or b""

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return self._decoder.decompress(data, max_length=max_length)


def _bz2_decoder() -> Decoder:
    import bz2

    return bz2.BZ2Decompressor()


def _xz_decoder() -> Decoder:
    import lzma

    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)


DECODERS: dict[str, Callable[[], Decoder]] = {
    "gzip": _ZlibDecoder, "bzip2": _bz2_decoder, "xz": _xz_decoder, "zstd": _ZstdDecoder, "lz4": _Lz4Decoder,
}


def sniff_compression(head: bytes) -> str | None:
    """The compression whose magic ``head`` starts with, or None."""
    return next((kind for magic, kind in MAGICS if head.startswith(magic)), None)


def _errors() -> tuple[type[BaseException], ...]:
    """What the decompressors raise for corrupt data (lz4's is a RuntimeError)."""
    import lzma
    import zlib

    import zstandard

    return (zlib.error, lzma.LZMAError, zstandard.ZstdError, OSError, EOFError, RuntimeError)


class DecompressedStream(io.RawIOBase):
    """The decompressed bytes of ``raw``, whose first bytes ``head`` were read already to sniff
    ``compression``. ``members`` counts the members read; ``trailing`` describes the bytes
    after the last one that were ignored (None if there were none, or only padding)."""

    def __init__(self, raw: Input, compression: str, head: bytes = b""):
        super().__init__()
        self._raw = raw
        self.compression = compression
        self._magic = next(magic for magic, kind in MAGICS if kind == compression)
        self._pending = head  # compressed bytes read from raw, not given to a decoder yet
        self._read_bytes = len(head)  # input bytes read from raw so far
        self._decoder: Decoder | None = None
        self._ended = False
        self._errors = _errors()
        self.members = 0
        self.trailing: str | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override] # any writable buffer, as io's own
        """At most one step of decompressed bytes into ``buffer``; 0 at the end."""
        want = min(len(buffer), STEP_BYTES)
        while want and not self._ended:
            if self._decoder is None or self._decoder.eof:
                self._next_member()
                continue
            data = b""
            if self._decoder.needs_input:
                data = self._take_input()
                if not data:
                    raise DecompressionError("the input ends before the end of the compressed stream")
            try:
                out = self._decoder.decompress(data, want)
            except self._errors as exc:
                raise DecompressionError(str(exc)) from None
            if out:
                buffer[: len(out)] = out
                return len(out)
        return 0

    readinto1 = readinto

    def _take_input(self) -> bytes:
        data = self._pending or self._read(READ_BYTES)
        self._pending = b""
        return data

    def _read(self, size: int) -> bytes:
        data = self._raw.read(size)
        self._read_bytes += len(data)
        return data

    def _peek(self, size: int) -> bytes:
        """The next ``size`` input bytes (fewer at the end), kept as pending input."""
        while len(self._pending) < size:
            more = self._read(max(size - len(self._pending), READ_BYTES))
            if not more:
                break
            self._pending += more
        return self._pending[:size]

    @property
    def input_position(self) -> int:
        """Offset in the input of the first byte no decoder has consumed."""
        unused = len(self._decoder.unused_data) if self._decoder is not None and self._decoder.eof else 0
        return self._read_bytes - len(self._pending) - unused

    @property
    def bytes_read(self) -> int:
        """Input bytes read so far (for progress)."""
        return self._read_bytes

    def _next_member(self) -> None:
        """Start the next member, skip padding, or end the stream (see the module docstring)."""
        if self._decoder is not None:
            self._pending = self._decoder.unused_data + self._pending
            self._decoder = None
        while not self._ended:
            head = self._peek(max(MAGIC_BYTES, SKIPPABLE_HEADER.size))
            if not head:
                self._ended = True
            elif head.startswith(self._magic):
                self.members += 1
                self._decoder = DECODERS[self.compression]()
                return
            elif not self._skip_padding(head):
                self._end(self.input_position, b"")

    def _skip_padding(self, head: bytes) -> bool:
        """Skip the format's padding at the start of the pending input (or end the stream where
        what looked like padding is not); False if it does not start with padding."""
        start = self.input_position
        if self.compression in ("gzip", "xz") and head[0] == 0:
            zeros = self._skip_zeros()
            rest = self._peek(MAGIC_BYTES)
            if rest if self.compression == "gzip" else zeros % 4:  # gzip: zeros to the end only
                self._end(start, bytes(min(zeros, SHOWN_BYTES)))
            return True
        if self.compression in ("zstd", "lz4") and len(head) >= SKIPPABLE_HEADER.size:
            magic, size = SKIPPABLE_HEADER.unpack_from(head)
            if SKIPPABLE_FIRST <= magic <= SKIPPABLE_LAST:
                if self._discard(SKIPPABLE_HEADER.size + size) < SKIPPABLE_HEADER.size + size:
                    self._end(start, head[:SHOWN_BYTES])
                return True
        return False

    def _skip_zeros(self) -> int:
        """Drop the zero bytes at the start of the pending input; how many there were."""
        zeros = 0
        while True:
            data = self._pending or self._read(READ_BYTES)
            if not data:
                return zeros
            kept = data.lstrip(b"\x00")
            zeros += len(data) - len(kept)
            self._pending = kept
            if kept:
                return zeros

    def _discard(self, size: int) -> int:
        """Drop ``size`` input bytes; how many there were."""
        dropped = 0
        while dropped < size:
            data = self._pending or self._read(min(size - dropped, READ_BYTES))
            if not data:
                break
            taken = min(len(data), size - dropped)
            self._pending = data[taken:]
            dropped += taken
        return dropped

    def _end(self, trailing_at: int, consumed: bytes) -> None:
        """End the stream: the input from ``trailing_at`` on (starting with ``consumed``, the
        bytes of it dropped already) is ignored, and said so."""
        self._ended = True
        shown = (consumed + self._peek(SHOWN_BYTES))[:SHOWN_BYTES]
        self._discard(1 << 62)
        ignored = self.input_position - trailing_at
        self.trailing = (
            f"{ignored:,} bytes after the end of the {self.compression} data at byte {trailing_at:,} "
            f"(first bytes {shown.hex(' ')}) are not {self.compression} data and were ignored"
        )


def reject_missing_decoder(name: str, compression: str) -> None:
    """Raise :class:`CaptureError` when ``compression`` needs a package that is not installed."""
    if compression == "lz4":
        try:
            import lz4.frame  # noqa: F401 - only whether it imports
        except ImportError:
            raise CaptureError(name, LZ4_MISSING, 0) from None
