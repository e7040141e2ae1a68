"""The Python API: functions that run the pipeline and return pandas DataFrames."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

from pcapflow.options import DEFAULT_CHUNK_BYTES, AnalysisOptions
from pcapflow.pipeline import CaptureRun
from pcapflow.reader import PacketReader, PathLike, as_paths
from pcapflow.report import CaptureReport
from pcapflow.services import ServiceTable, default_services
from pcapflow.summary import summarize_columns

if TYPE_CHECKING:  # the frames import pandas when they are built: the terminal summary needs none
    import pandas as pd
    from matplotlib.axes import Axes


class Analysis:
    """The result of :func:`analyze`: conversations, per-port summary and capture report.

    ``conversations`` and ``ports`` are DataFrames built on first use (then kept);
    ``port_rows`` is the per-port summary as numpy columns, what the terminal summary shows.
    ``timeline(freq)`` counts per time window; ``plot_ports`` and ``plot_timeline`` draw charts,
    and Jupyter shows the capture summary and the busiest ports.
    """

    def __init__(self, columns: dict[str, np.ndarray], services: ServiceTable, report: CaptureReport):
        self._columns = columns  # the tracker's conversation columns
        self._services = services
        self.report = report

    def __repr__(self) -> str:
        return f"<Analysis: {self.report.records_read:,} records, {int(self.port_rows['conversations'].sum()):,} conversations>"

    @functools.cached_property
    def conversations(self) -> pd.DataFrame:
        """One row per socket conversation (see :func:`read_conversations`)."""
        self.port_rows  # noqa: B018 - counted first: the tracker's columns are let go below
        frame = _conversations_frame(self._columns, self._services, self.report)
        self._columns = {}  # what the frame did not take over is freed
        return frame

    @functools.cached_property
    def port_rows(self) -> dict[str, np.ndarray]:
        """The per-port summary as numpy columns (see :func:`pcapflow.summary.port_rows`)."""
        return summarize_columns(self._columns, self._services)

    @functools.cached_property
    def port_apps(self) -> pd.DataFrame:
        """One row per (protocol, server_port, app) identified by payload inspection, with its
        conversations and bytes (see :func:`pcapflow.apps.port_apps`)."""
        from pcapflow.apps import port_apps

        return port_apps(self.conversations)

    @functools.cached_property
    def ports(self) -> pd.DataFrame:
        """One row per (protocol, server port) (see :func:`pcapflow.summarize_ports`)."""
        from pcapflow.schema import ports_frame

        return ports_frame(self.port_rows)

    def timeline(self, freq: object = "1min") -> pd.DataFrame:
        """One row per (time window, protocol, server port) (see :func:`pcapflow.summarize_windows`)."""
        from pcapflow.timeline import summarize_windows

        return summarize_windows(self.conversations, freq)

    def _repr_html_(self) -> str:
        from pcapflow.html_report import analysis_html

        return analysis_html(self)

    def plot_ports(self, top: int = 20, ax: Axes | None = None) -> Axes:
        """The ``top`` server ports by conversations, as a bar chart (needs ``pcapflow[report]``)."""
        from pcapflow.plots import plot_ports

        return plot_ports(self.ports, self.conversations, top, ax)

    def plot_timeline(self, ports: Iterable[int | str] | None = None, freq: object = None, ax: Axes | None = None) -> Axes:
        """Conversations open over time on ``ports`` (``80`` or ``"80/tcp"``; default the busiest
        five): at each instant, or per window of ``freq`` (needs ``pcapflow[report]``)."""
        from pcapflow.plots import plot_timeline

        return plot_timeline(self.ports, self.conversations, ports, freq, ax)


def read_packets(
    paths: PathLike | Iterable[PathLike], *, engine: str = "fast", chunk_bytes: int = DEFAULT_CHUNK_BYTES, decapsulate: bool = True
) -> pd.DataFrame:
    """One row per capture record of ``paths`` (read as one capture), with decoded header fields:
    a tunnelled record's are its innermost packet's, with its tunnel, depth and id (the outer
    headers with ``decapsulate=False``).

    The columns are those of :data:`pcapflow.schema.PACKET_COLUMNS`. The capture report
    (a :class:`~pcapflow.report.CaptureReport`) is in ``frame.attrs["report"]``.
    Raises :class:`~pcapflow.errors.CaptureError` for a file that is unusable as a whole.
    """
    from pcapflow.decode import PacketTable
    from pcapflow.schema import packets_frame

    reader = PacketReader(paths, engine=engine, chunk_bytes=chunk_bytes, decapsulate=decapsulate)
    frame = packets_frame(PacketTable.concat(list(reader)))
    frame.attrs["report"] = reader.report
    return frame


def service_table(options: AnalysisOptions) -> ServiceTable:
    """The bundled service names with the options' overrides applied."""
    table = default_services()
    return table if options.services is None else table.with_overrides(options.services)


def _track(
    paths: PathLike | Iterable[PathLike], options: AnalysisOptions, progress: Callable | None, scheduler: object = None
) -> tuple[dict[str, np.ndarray], CaptureReport]:
    """The conversation columns of ``paths`` and the capture report, on this machine's threads
    or, given a ``scheduler``, on that Dask cluster."""
    if scheduler is not None:
        from pcapflow.dask.cluster import connected

        with connected(scheduler) as client:  # says how to install Dask when it is missing
            from pcapflow.dask.run import DaskRun

            cluster_run = DaskRun(as_paths(paths), client, engine=options.engine, chunk_bytes=options.chunk_bytes, progress=progress)
            return cluster_run.conversations(options), cluster_run.report
    run = CaptureRun(as_paths(paths), engine=options.engine, chunk_bytes=options.chunk_bytes, workers=options.workers, progress=progress)
    columns = run.conversations(options)
    return columns, run.report


def _conversations_frame(columns: dict[str, np.ndarray], services: ServiceTable, report: CaptureReport) -> pd.DataFrame:
    from pcapflow.schema import conversations_frame

    frame = conversations_frame(columns, services)
    frame.attrs["report"] = report
    return frame


def read_conversations(paths: PathLike | Iterable[PathLike], *, scheduler: object = None, **options) -> pd.DataFrame:
    """One row per socket conversation of ``paths`` (read as one capture).

    ``options`` are the fields of :class:`~pcapflow.options.AnalysisOptions` (idle timeouts,
    ``vlan_in_key``, ``services``, ``engine``, ``chunk_bytes``). The columns are those of
    :data:`pcapflow.schema.CONVERSATION_COLUMNS`; ``frame.attrs["report"]`` holds the capture
    report. ``scheduler`` (the address of a ``dask.distributed`` scheduler, or a client) runs
    the analysis on that cluster, with the same result (see :mod:`pcapflow.dask`).
    """
    settings = AnalysisOptions(**options)
    services = service_table(settings)
    columns, report = _track(paths, settings, None, scheduler)
    return _conversations_frame(columns, services, report)


def analyze(paths: PathLike | Iterable[PathLike], *, progress: Callable | None = None, scheduler: object = None, **options) -> Analysis:
    """Conversations, per-port summary and capture report of ``paths`` (read as one capture).

    ``options`` and ``scheduler`` as for :func:`read_conversations`. ``progress``, if given, is called after each
    batch with (bytes of the files read so far, total bytes of the files or None when one is a
    pipe, records read so far); see :data:`pcapflow.pipeline.Progress`.
    """
    settings = AnalysisOptions(**options)
    services = service_table(settings)
    columns, report = _track(paths, settings, progress, scheduler)
    return Analysis(columns, services, report)
