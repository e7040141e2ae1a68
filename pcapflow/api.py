"""The Python API: functions that run the pipeline and return pandas DataFrames."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from pcapflow.capture import DEFAULT_CHUNK_BYTES
from pcapflow.decode import PacketTable
from pcapflow.options import AnalysisOptions
from pcapflow.pipeline import CaptureRun, WorkerLost
from pcapflow.reader import PacketReader, PathLike, as_paths
from pcapflow.report import CaptureReport
from pcapflow.schema import conversations_frame, packets_frame
from pcapflow.services import ServiceTable, default_services
from pcapflow.summary import summarize_ports
from pcapflow.tracking import ConversationTracker, combine


@dataclass(frozen=True)
class Analysis:
    """The result of :func:`analyze`: conversations, per-port summary and capture report."""

    conversations: pd.DataFrame
    ports: pd.DataFrame
    report: CaptureReport


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


def service_table(options: AnalysisOptions) -> ServiceTable:
    """The bundled service names with the options' overrides applied."""
    table = default_services()
    return table if options.services is None else table.with_overrides(options.services)


def _conversations(
    paths: PathLike | Iterable[PathLike], options: AnalysisOptions, services: ServiceTable, progress: Callable | None
) -> tuple[pd.DataFrame, CaptureReport]:
    run = CaptureRun(
        as_paths(paths), engine=options.engine, chunk_bytes=options.chunk_bytes, workers=options.workers, progress=progress, tracking=options
    )
    tracker = ConversationTracker(options)
    try:
        for table, records_before in run.batches():
            tracker.add(table, records_before)
        partitions = [(tracker.finish(run.capture_end), tracker.orphan_fragments), *run.worker_conversations()]
    except WorkerLost:  # the worker's half of the conversations is lost with it: start again alone
        return _conversations(paths, dataclasses.replace(options, workers=1), services, progress)
    frame = conversations_frame(combine([columns for columns, _ in partitions]), services)
    report = dataclasses.replace(run.report, orphan_fragments=sum(orphans for _, orphans in partitions))
    frame.attrs["report"] = report
    return frame, report


def read_conversations(paths: PathLike | Iterable[PathLike], **options) -> pd.DataFrame:
    """One row per socket conversation of ``paths`` (read as one capture).

    ``options`` are the fields of :class:`~pcapflow.options.AnalysisOptions` (idle timeouts,
    ``vlan_in_key``, ``services``, ``engine``, ``chunk_bytes``). The columns are those of
    :data:`pcapflow.schema.CONVERSATION_COLUMNS`; ``frame.attrs["report"]`` holds the capture
    report.
    """
    settings = AnalysisOptions(**options)
    return _conversations(paths, settings, service_table(settings), None)[0]


def analyze(paths: PathLike | Iterable[PathLike], *, progress: Callable | None = None, **options) -> Analysis:
    """Conversations, per-port summary and capture report of ``paths`` (read as one capture).

    ``options`` as for :func:`read_conversations`. ``progress``, if given, is called after each
    batch with (bytes of the files read so far, total bytes of the files).
    """
    settings = AnalysisOptions(**options)
    services = service_table(settings)
    conversations, report = _conversations(paths, settings, services, progress)
    return Analysis(conversations, summarize_ports(conversations, services), report)
