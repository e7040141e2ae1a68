"""The pipeline's stages as tasks on a ``dask.distributed`` cluster.

The same plan, reads, folds and combine as the threads of :mod:`pcapflow.pipeline`, mapped onto
the cluster:

- one task per piece (:func:`read_parts`): the piece is read, decoded and split into one packet
  table per partition (:func:`~pcapflow.tracking.split`: the tracked packets' folded columns
  only), on the worker that holds the file or can reach it; what reading found (counts, report)
  comes back to the caller, the packets stay on the cluster. A stream (a compressed file, a large
  pcapng) is one piece, read whole by one task.
- one chain of tracking tasks per partition (:func:`fold_part`): its tracker (a
  :class:`~pcapflow.tracking.ConversationTracker`, pickled with its flow table when it changes
  worker) takes each piece's part of that partition in capture order. A chain keeps to one worker
  while that worker lives (its tracker, the largest thing of the run, then never travels): only
  the parts go to it.
- :func:`finish_part`, one task per partition, then :func:`~pcapflow.tracking.combine` on the
  caller (or, for a Dask DataFrame, the conversations stay where they were finished: see
  :mod:`pcapflow.dask.frames`).

There are as many partitions as the cluster has workers (at most
:data:`~pcapflow._kernels.partition.MAX_PARTITIONS`). The caller takes the reads' reports in
capture order and checks the guessed piece boundaries as a local run does, so the result is the
local run's: the same rows, ``conversation_id``\\ s and report. A worker that dies takes its
results with it; the scheduler runs the tasks that made them again on the others.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

import numpy as np
from dask.sizeof import sizeof

from pcapflow._kernels.partition import MAX_PARTITIONS
from pcapflow.capture.source import STDIN
from pcapflow.options import AnalysisOptions
from pcapflow.pipeline import CaptureRun, Piece, PieceRead, fold, read_piece
from pcapflow.tracking import ConversationTracker, combine, split

from .cluster import SchedulerError, worker_count

if TYPE_CHECKING:
    from distributed import Client, Future


@sizeof.register(PieceRead)
def read_nbytes(read: PieceRead) -> int:
    """The memory of a read's tables, for the scheduler's choice of where to run what needs it."""
    tables = sum(getattr(table, name).nbytes for table in read.tables for name in table.column_names())
    return tables + sum(column.nbytes for early in read.early if early is not None for column in early)


def read_parts(piece: Piece, engine: str, chunk_bytes: int, partitions: int, inspect_payload: bool,
               decapsulate: bool = False) -> tuple[PieceRead, list[PieceRead]]:
    """Read one piece: what reading found (no tables), and its packets (with their first
    payload bytes when ``inspect_payload``; with tunnels opened and carrier rows when
    ``decapsulate``) split per partition."""
    read = read_piece(piece, engine, chunk_bytes, 1, inspect_payload, decapsulate)
    parts = [PieceRead(piece) for _ in range(partitions)]
    for table, early in zip(read.tables, read.early):
        for part, (packets, packets_early) in zip(parts, split(table, partitions, early)):
            part.tables.append(packets)
            part.labels.append(None)
            part.early.append(packets_early)
    read.tables, read.labels, read.early = [], [], []
    return read, parts


def fold_part(tracker: ConversationTracker, part: PieceRead, records_before: int) -> ConversationTracker:
    """A partition's tracker after its packets of one piece (``records_before``: the capture's
    records before the piece's first)."""
    fold(tracker, [(part, records_before)], 0)
    return tracker


def finish_part(tracker: ConversationTracker, capture_end: int) -> tuple[dict[str, np.ndarray], int]:
    """A partition's conversation columns, and its orphan fragments."""
    columns = tracker.finish(capture_end)
    return columns, tracker.orphan_fragments


class DaskRun(CaptureRun):
    """One pass over the capture files on the cluster of ``client`` (see the module docstring)."""

    def __init__(self, paths: list[str], client: Client, *, engine: str, chunk_bytes: int, progress=None):
        if STDIN in paths:
            raise SchedulerError("standard input cannot be read on a Dask cluster: give the captures' paths or URLs")
        super().__init__(paths, engine=engine, chunk_bytes=chunk_bytes, workers=worker_count(client), progress=progress)
        self.client = client

    def partitions(self, options: AnalysisOptions) -> list[Future]:
        """The futures of the partitions' finished trackers' (columns, orphans), every file read."""
        client, count = self.client, min(self.workers, MAX_PARTITIONS)
        # each partition's chain keeps to one worker, so that its tracker stays where it is and
        # only its parts travel (to another worker if that one is gone)
        addresses = sorted(client.scheduler_info(n_workers=-1)["workers"])
        home = [{"workers": [addresses[index % len(addresses)]], "allow_other_workers": True, "pure": False} for index in range(count)]
        trackers = [client.submit(ConversationTracker, options, **home[index]) for index in range(count)]
        held: dict[Piece, list[Future]] = {}  # the parts of each read taken, until it is folded

        def remote(piece: Piece) -> Future:
            both = client.submit(read_parts, piece, self.engine, self.chunk_bytes, count, options.inspect_payload,
                                 options.decapsulate, pure=False)
            held[piece] = [client.submit(operator.getitem, both, 1, pure=False)]
            return client.submit(operator.getitem, both, 0, pure=False)

        for read, records_before in self._reads(None, count, remote):
            parts = held.pop(read.piece)[0]
            for index in range(count):
                part = client.submit(operator.getitem, parts, index, pure=False)
                trackers[index] = client.submit(fold_part, trackers[index], part, records_before + read.first_record, **home[index])
        return [client.submit(finish_part, tracker, self.capture_end, **home[index]) for index, tracker in enumerate(trackers)]

    def conversations(self, options: AnalysisOptions) -> dict[str, np.ndarray]:
        """The conversation columns of the capture, gathered to the caller."""
        finished = self.client.gather(self.partitions(options))
        self.orphan_fragments = sum(orphans for _, orphans in finished)
        return combine([columns for columns, _ in finished])
