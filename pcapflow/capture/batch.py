"""The records of one chunk of a capture file, as columns: the contract between reading and decoding.

A :class:`RawBatch` holds one buffer of file bytes and, per record, where its packet data starts,
how many bytes are present (``caplen``), how long the packet was on the wire (``wirelen``), its
timestamp in ns since the epoch and its link type. The bytes of a record are only
``buffer[data_offset : data_offset + caplen]``: decoders read nothing else (a freshly read buffer
ends in :data:`PAD` zero bytes; one shared between the batches of a thread holds whatever came
before after the last record).

A :class:`FileReport` says what reading one file found: its format, the link types of its
interfaces, how many records it held, and whether it ended cleanly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Zero bytes at the end of every freshly read buffer.
PAD = 128


@dataclass(frozen=True, slots=True)
class RawBatch:
    """Records of one chunk of one file (all arrays have one entry per record)."""

    buffer: np.ndarray  # uint8: file bytes
    data_offset: np.ndarray  # int64: start of the packet data in buffer
    caplen: np.ndarray  # uint32: bytes present in the file
    wirelen: np.ndarray  # uint32: length on the wire
    ts_ns: np.ndarray  # int64: ns since the Unix epoch
    linktype: np.ndarray  # uint16: LINKTYPE_* of the record's interface
    bad_record: np.ndarray  # bool: the record's own header contradicts itself (data clipped)
    record_index: np.ndarray  # int64: 0-based position of the record in its file
    file_index: int  # position of the file among the paths read together

    def __len__(self) -> int:
        return len(self.data_offset)


@dataclass(slots=True)
class FileReport:
    """What reading one capture file found. Filled in while the file is read."""

    path: str
    format: str  # "pcap" or "pcapng"
    compression: str | None = None  # "gzip", "bzip2", "xz", "zstd" or None
    linktypes: list[int] = field(default_factory=list)  # one per interface, in file order
    records: int = 0  # complete records read
    truncated_tail: bool = False  # the file ends inside a record (the partial record is not read)
    corrupt_at: int | None = None  # byte offset where a nonsensical record or block stopped reading
    damage: str | None = None  # what is wrong at the end of the file, for a person
    skipped_blocks: int = 0  # pcapng blocks of types that carry no packets for us (statistics, custom...)
    warnings: list[str] = field(default_factory=list)  # what could not be honoured (timestamp options...), for a person
    end_offset: int = 0  # where reading stopped (the end of the file, of its damage-free part, or of a piece)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "format": self.format,
            "compression": self.compression,
            "linktypes": list(self.linktypes),
            "records": self.records,
            "truncated_tail": self.truncated_tail,
            "corrupt_at": self.corrupt_at,
            "damage": self.damage,
            "skipped_blocks": self.skipped_blocks,
            "warnings": list(self.warnings),
        }
