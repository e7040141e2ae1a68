"""Carrier rows: what conversation tracking folds of a batch decoded with its tunnels opened.

A tunnelled frame counts in two conversations, its carrier's and its inner packet's, so
:func:`decode_with_carriers` gives the table tracking folds: every tunnelled frame as two rows,
first its outermost headers (``tunnel`` NO_TUNNEL, ``tunnel_depth`` the inner row's, which marks
it as a carrier; ``payload_offset`` 0, for its payload is the tunnel's and never inspected as an
application's), then its innermost packet's. Untunnelled records stay one row each. The fast
engine writes these rows in its one pass over the records; the reference engine decodes the
tunnelled records a second time, without opening tunnels, for their carriers.
"""

from __future__ import annotations

import numpy as np

from pcapflow._kernels.constants import Tunnel
from pcapflow.capture.batch import RawBatch
from pcapflow.decode.table import PacketTable

__all__ = ["carrier_rows", "decode_with_carriers"]


def decode_with_carriers(batch: RawBatch, engine: str, tunnelled: bool = False) -> tuple[PacketTable, np.ndarray | None]:
    """The rows tracking folds of ``batch`` (see the module docstring), and the record of each
    row (None when they are the records: no frame was tunnelled). ``tunnelled``: the batches
    before it were, so that the fast engine makes room for their carrier rows at once (the
    rows are the same either way)."""
    from pcapflow.decode import decode, decode_fast_with_carriers

    if engine == "fast":
        return decode_fast_with_carriers(batch, tunnelled)
    table = decode(batch, engine, True)
    opened = np.flatnonzero(table.tunnel_depth)
    if not len(opened):
        return table, None
    outer = RawBatch(batch.buffer, batch.data_offset[opened], batch.caplen[opened], batch.wirelen[opened],
                     batch.ts_ns[opened], batch.linktype[opened], batch.bad_record[opened], batch.record_index[opened],
                     batch.file_index)
    carriers = decode(outer, engine, False)
    rows = np.repeat(np.arange(len(table)), 1 + (table.tunnel_depth > 0))
    folded = table.take(rows)
    at = opened + np.arange(len(opened))  # each tunnelled record before one adds a row
    for name in PacketTable.column_names():
        getattr(folded, name)[at] = getattr(carriers, name)
    folded.tunnel_depth[at] = table.tunnel_depth[opened]
    folded.payload_offset[at] = 0
    return folded, rows


def carrier_rows(table: PacketTable) -> np.ndarray:
    """Which rows of a table of :func:`decode_with_carriers` are carriers (bool)."""
    return (table.tunnel_depth > 0) & (table.tunnel == Tunnel.NO_TUNNEL)
