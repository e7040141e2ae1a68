"""The Python API: functions that run the pipeline and return pandas DataFrames."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from pcapflow.capture import DEFAULT_CHUNK_BYTES
from pcapflow.decode import PacketTable
from pcapflow.reader import PacketReader, PathLike
from pcapflow.options import AnalysisOptions
from pcapflow.schema import conversations_frame, packets_frame
from pcapflow.tracking import ConversationTracker


def read_packets(
    paths: PathLike | Iterable[PathLike], *, engine: str = "fast", chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> pd.DataFrame:
    """One row per capture record of ``paths`` (read as one capture), with decoded header fields.

    The columns are those of :data:`pcapflow.schema.PACKET_COLUMNS`. The capture report
    (a :class:`~pcapflow.report.CaptureReport`) is in ``frame.attrs["report"]``.
    Raises :class:`~pcapflow.errors.CaptureError` for a file that is unusable as a whole.
    """
    reader = PacketReader(paths, engine=engine, chunk_bytes=chunk_bytes)
    frame = packets_frame(PacketTable.concat(list(reader)))
    frame.attrs["report"] = reader.report
    return frame


def read_conversations(paths: PathLike | Iterable[PathLike], **options) -> pd.DataFrame:
    """One row per socket conversation of ``paths`` (read as one capture).

    ``options`` are the fields of :class:`~pcapflow.options.AnalysisOptions` (idle timeouts,
    ``vlan_in_key``, ``engine``, ``chunk_bytes``). The columns are those of
    :data:`pcapflow.schema.CONVERSATION_COLUMNS`; ``frame.attrs["report"]`` holds the capture
    report and ``frame.attrs["orphan_fragments"]`` the non-first fragments whose datagram was
    never seen.
    """
    settings = AnalysisOptions(**options)
    reader = PacketReader(paths, engine=settings.engine, chunk_bytes=settings.chunk_bytes)
    tracker = ConversationTracker(settings)
    for table in reader:
        tracker.add(table)
    frame = conversations_frame(tracker.finish())
    frame.attrs["report"] = reader.report
    frame.attrs["orphan_fragments"] = tracker.orphan_fragments
    return frame
