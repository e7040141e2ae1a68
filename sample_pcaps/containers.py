"""Capture containers written byte by byte for the sample captures: records with exact
timestamps, classic pcap (any byte order and resolution), pcapng (sections, interfaces with
if_tsresol/if_tsoffset, enhanced, simple, obsolete and custom blocks), reproducible gzip."""

from __future__ import annotations

import gzip
import io
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from scapy.packet import Packet

# --------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------

EPOCH = Decimal(1704067200)  # 2024-01-01T00:00:00Z
MS = Decimal("0.001")
NS = Decimal("0.000000001")


def at(seconds: int | str | Decimal = 0) -> Decimal:
    """Absolute timestamp ``seconds`` after 2024-01-01T00:00:00Z."""
    return EPOCH + Decimal(seconds)


# --------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One captured frame: timestamp, captured bytes, original wire length."""

    time: Decimal
    data: bytes
    wirelen: int | None = None  # None: same as len(data)

    @property
    def origlen(self) -> int:
        return len(self.data) if self.wirelen is None else self.wirelen


def timed(packets: Iterable[Packet | bytes], start: Decimal, step: Decimal = MS) -> list[Record]:
    """Give ``packets`` the timestamps start, start+step, start+2*step, ..."""
    records = []
    for i, pkt in enumerate(packets):
        if isinstance(pkt, Packet):
            pkt.time = start + i * step
        records.append(Record(start + i * step, bytes(pkt)))
    return records


# --------------------------------------------------------------------------
# Classic pcap writer
# --------------------------------------------------------------------------

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276


def split_time(t: Decimal, units_per_second: int) -> tuple[int, int]:
    """(whole seconds, fraction in units); the fraction must be exact."""
    sec = int(t)
    frac = (t - sec) * units_per_second
    assert frac == int(frac), f"{t} is not a whole number of 1/{units_per_second} s"
    return sec, int(frac)


def pcap_bytes(
    records: Iterable[Record],
    *,
    byte_order: str = "<",
    nano: bool = False,
    snaplen: int = 65535,
    linktype: int = LINKTYPE_ETHERNET,
) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = io.BytesIO()
    out.write(struct.pack(byte_order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
    for rec in records:
        sec, frac = split_time(rec.time, 10**9 if nano else 10**6)
        out.write(struct.pack(byte_order + "IIII", sec, frac, len(rec.data), rec.origlen))
        out.write(rec.data)
    return out.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    """Reproducible gzip: no file name, mtime 0."""
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return out.getvalue()


# --------------------------------------------------------------------------
# pcapng writer
# --------------------------------------------------------------------------

BT_SHB = 0x0A0D0D0A
BT_IDB = 0x00000001
BT_PB = 0x00000002  # obsolete Packet Block
BT_SPB = 0x00000003
BT_EPB = 0x00000006
BT_CUSTOM = 0x00000BAD  # custom block, copyable (first body word: PEN)

OPT_ENDOFOPT = 0
OPT_COMMENT = 1
SHB_USERAPPL = 4
IF_NAME = 2
IF_TSRESOL = 9
IF_TSOFFSET = 14

PEN_EXAMPLE = 32473  # IANA private enterprise number reserved for documentation


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _options(options: Sequence[tuple[int, bytes]], bo: str) -> bytes:
    if not options:
        return b""
    out = b"".join(
        struct.pack(bo + "HH", code, len(value)) + _pad4(value) for code, value in options
    )
    return out + struct.pack(bo + "HH", OPT_ENDOFOPT, 0)


def _block(block_type: int, body: bytes, bo: str) -> bytes:
    """A pcapng block: type, total length, padded body, total length."""
    body = _pad4(body)
    total = 12 + len(body)
    return struct.pack(bo + "II", block_type, total) + body + struct.pack(bo + "I", total)


def shb(bo: str, section_length: int = -1, options: Sequence[tuple[int, bytes]] = ()) -> bytes:
    body = struct.pack(bo + "IHHq", 0x1A2B3C4D, 1, 0, section_length) + _options(options, bo)
    return _block(BT_SHB, body, bo)


@dataclass(frozen=True)
class Interface:
    linktype: int
    name: str
    tsresol: int | None = None  # if_tsresol byte; None means the default 6 (µs)
    tsoffset: int = 0  # if_tsoffset in seconds
    snaplen: int = 65535

    @property
    def units_per_second(self) -> int:
        resol = 6 if self.tsresol is None else self.tsresol
        return 2 ** (resol & 0x7F) if resol & 0x80 else 10**resol

    def timestamp(self, t: Decimal) -> int:
        """The 64-bit timestamp field that decodes to absolute time ``t``."""
        units = (t - self.tsoffset) * self.units_per_second
        assert units == int(units), f"{t} not representable on {self.name}"
        return int(units)

    def idb(self, bo: str) -> bytes:
        options = [(IF_NAME, self.name.encode())]
        if self.tsresol is not None:
            options.append((IF_TSRESOL, bytes([self.tsresol])))
        if self.tsoffset:
            options.append((IF_TSOFFSET, struct.pack(bo + "q", self.tsoffset)))
        body = struct.pack(bo + "HHI", self.linktype, 0, self.snaplen) + _options(options, bo)
        return _block(BT_IDB, body, bo)


def _ts_words(iface: Interface, t: Decimal) -> tuple[int, int]:
    ts = iface.timestamp(t)
    return ts >> 32, ts & 0xFFFFFFFF


def epb(
    bo: str, if_id: int, iface: Interface, rec: Record, options: Sequence[tuple[int, bytes]] = ()
) -> bytes:
    hi, lo = _ts_words(iface, rec.time)
    head = struct.pack(bo + "IIIII", if_id, hi, lo, len(rec.data), rec.origlen)
    return _block(BT_EPB, head + _pad4(rec.data) + _options(options, bo), bo)


def spb(bo: str, rec: Record) -> bytes:
    return _block(BT_SPB, struct.pack(bo + "I", rec.origlen) + rec.data, bo)


def packet_block(bo: str, if_id: int, iface: Interface, rec: Record) -> bytes:
    """Obsolete Packet Block (type 2): 16-bit interface id and drops count."""
    hi, lo = _ts_words(iface, rec.time)
    head = struct.pack(bo + "HHIIII", if_id, 0, hi, lo, len(rec.data), rec.origlen)
    return _block(BT_PB, head + rec.data, bo)


def custom_block(bo: str, payload: bytes) -> bytes:
    return _block(BT_CUSTOM, struct.pack(bo + "I", PEN_EXAMPLE) + payload, bo)
