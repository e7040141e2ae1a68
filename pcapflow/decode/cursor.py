"""Shared state of the vectorised decoder while it walks down the layers of a batch.

Each layer works on an index array of the rows still worth decoding, reads fixed-width fields
for all of them at once through :class:`~pcapflow.byteviews.ByteViews`, and either moves their
``offset`` past its header or gives them a status saying why decoding stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapflow.byteviews import ByteViews
from pcapflow.capture.batch import RawBatch
from pcapflow.decode.table import DecodeStatus, PacketTable, empty_table


@dataclass(slots=True)
class Cursor:
    views: ByteViews
    start: np.ndarray  # int64: where each record's data begins in the buffer
    caplen: np.ndarray  # int64
    wirelen: np.ndarray  # int64
    offset: np.ndarray  # int64: start of the header being decoded, relative to start
    ethertype: np.ndarray  # int64: protocol of the next header, as an ethertype
    ip_left: np.ndarray  # int64: bytes of the IP datagram after the headers decoded so far
    table: PacketTable

    @classmethod
    def over(cls, batch: RawBatch) -> Cursor:
        count = len(batch)
        table = empty_table(count)
        table.file_index[:] = batch.file_index
        # the batch's own columns (of the table's dtypes already) are taken over, not copied
        table.record_index, table.ts_ns, table.linktype = batch.record_index, batch.ts_ns, batch.linktype
        table.caplen, table.wirelen = batch.caplen, batch.wirelen
        if batch.bad_record.any():
            table.status[batch.bad_record] = DecodeStatus.BAD_RECORD
        return cls(
            views=ByteViews(batch.buffer),
            start=batch.data_offset,
            caplen=batch.caplen.astype(np.int64),
            wirelen=batch.wirelen.astype(np.int64),
            offset=np.zeros(count, dtype=np.int64),
            ethertype=np.zeros(count, dtype=np.int64),
            ip_left=np.zeros(count, dtype=np.int64),
            table=table,
        )

    # Row sets are sorted subsets of the batch, so one as long as the batch is the whole batch;
    # then plain array operations replace gathers and scatters (the common case: all IP).

    def of(self, column: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``column[rows]``."""
        return column if len(rows) == len(column) else column[rows]

    def put(self, column: np.ndarray, rows: np.ndarray, values) -> None:
        """``column[rows] = values``."""
        if len(rows) == len(column):
            column[:] = values
        else:
            column[rows] = values

    def at(self, rows: np.ndarray, delta: int = 0) -> np.ndarray:
        """Absolute buffer positions of ``offset + delta`` for ``rows``."""
        return self.of(self.start, rows) + self.of(self.offset, rows) + delta

    def present(self, rows: np.ndarray, size: int | np.ndarray, delta: int = 0) -> np.ndarray:
        """Mask of ``rows`` whose captured bytes cover ``size`` bytes at ``offset + delta``."""
        return self.of(self.offset, rows) + delta + size <= self.of(self.caplen, rows)

    def stop(self, rows: np.ndarray, status: DecodeStatus) -> None:
        """Give ``rows`` a final status."""
        self.table.status[rows] = status

    def keep(self, rows: np.ndarray, mask: np.ndarray, status: DecodeStatus) -> np.ndarray:
        """Stop the rows where ``mask`` is False with ``status``; return the others."""
        if mask.all():
            return rows
        self.stop(rows[~mask], status)
        return rows[mask]

    def require(self, rows: np.ndarray, size: int, status: DecodeStatus, delta: int = 0) -> np.ndarray:
        """Keep the rows with ``size`` captured bytes at ``offset + delta``; stop the rest."""
        return self.keep(rows, self.present(rows, size, delta), status)
