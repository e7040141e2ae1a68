"""Carrier rows: what conversation tracking folds of a batch decoded with its tunnels opened.

A decapsulated :class:`~pcapflow.decode.PacketTable` holds each tunnelled frame's innermost
headers. Its frame counts in two conversations, its carrier's and its inner packet's, so
:func:`with_carriers` gives the table tracking folds: every tunnelled frame as two rows, first
its outermost headers (decoded again, without opening tunnels: only those records pay for it;
``tunnel`` NO_TUNNEL, ``tunnel_depth`` the inner row's, which marks it as a carrier), then its
innermost packet's. Untunnelled records stay one row each, and a batch without tunnels is
returned as it is.
"""

from __future__ import annotations

import numpy as np

from pcapflow._kernels.constants import Tunnel
from pcapflow.capture.batch import RawBatch
from pcapflow.decode.table import PacketTable

__all__ = ["carrier_rows", "with_carriers"]


def with_carriers(table: PacketTable, batch: RawBatch, engine: str) -> tuple[PacketTable, np.ndarray | None]:
    """The rows tracking folds of ``table`` (decoded from ``batch`` with ``decapsulate``), and
    the record of each row (None when they are the records: no frame was tunnelled)."""
    from pcapflow.decode import decode

    tunnelled = np.flatnonzero(table.tunnel_depth)
    if not len(tunnelled):
        return table, None
    outer = RawBatch(batch.buffer, batch.data_offset[tunnelled], batch.caplen[tunnelled], batch.wirelen[tunnelled],
                     batch.ts_ns[tunnelled], batch.linktype[tunnelled], batch.bad_record[tunnelled], batch.record_index[tunnelled],
                     batch.file_index)
    carriers = decode(outer, engine, False)
    rows = np.repeat(np.arange(len(table)), 1 + (table.tunnel_depth > 0))
    folded = table.take(rows)
    at = tunnelled + np.arange(len(tunnelled))  # each tunnelled record before one adds a row
    for name in PacketTable.column_names():
        getattr(folded, name)[at] = getattr(carriers, name)
    folded.tunnel_depth[at] = table.tunnel_depth[tunnelled]
    return folded, rows


def carrier_rows(table: PacketTable) -> np.ndarray:
    """Which rows of a table of :func:`with_carriers` are carriers (bool)."""
    return (table.tunnel_depth > 0) & (table.tunnel == Tunnel.NO_TUNNEL)
