"""Conversations left on the cluster, as a Dask DataFrame, and their per-port table.

:func:`read_conversations` runs the stages as :mod:`pcapflow.dask.run` does, but the
partitions' conversations are not gathered: each partition's rows become one partition of a
``dask.dataframe.DataFrame`` (every conversation of one pair of addresses is in one partition),
with the columns and dtypes of :data:`pcapflow.schema.CONVERSATION_COLUMNS` (its meta is the
schema's empty frame) and the local run's ``conversation_id`` as index and column: a
conversation's rank, by first record, among the first records of every partition (only those
travel between partitions, 8 bytes a conversation, and the DNS answers, for the server names of
:mod:`pcapflow.dns_names`). The capture report is in
the computed frame's ``attrs["report"]`` (each partition's too).

:func:`summarize_ports` is :func:`pcapflow.summarize_ports` as a Dask computation: the
columns it reads are shuffled by server port, so that every conversation of a port is in one
partition, each partition is summarized on its own, and the per-port rows (a few thousand at
most) are put in the local order in one last task.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from pcapflow.api import service_table
from pcapflow.options import AnalysisOptions
from pcapflow.reader import PathLike, as_paths
from pcapflow.report import CaptureReport
from pcapflow.schema import PORT_COLUMNS, conversations_frame
from pcapflow.services import ServiceTable
from pcapflow.summary import summarize_ports as summarize_ports_here

from .cluster import connected, require_distributed

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

#: The conversation columns the per-port table reads (and ``app``, where payload was inspected).
PORT_INPUTS = ("protocol", "server_port", "client_ip", "client_port", "server_ip", "client_packets", "server_packets",
               "client_bytes", "server_bytes", "first_seen", "last_seen", "conn_state")


def _first_records(finished: tuple[dict[str, np.ndarray], int]) -> np.ndarray:
    return finished[0]["first_record"]


def _dns_answers(finished: tuple[dict[str, np.ndarray], int]) -> list:
    return [entry for entry in finished[0]["dns_answers"] if entry]


def _partition_frame(finished: tuple[dict[str, np.ndarray], int], first_records: list[np.ndarray], dns_answers: list[list],
                     services: ServiceTable, report: CaptureReport) -> pd.DataFrame:
    """One partition's conversations frame, numbered as in the whole capture (every partition's
    first records are sorted and distinct), its server names from the DNS answers of every
    partition."""
    columns = finished[0]
    ids = sum((np.searchsorted(others, columns["first_record"]) for others in first_records), np.zeros(len(columns["first_record"]), np.int64))
    columns["conversation_id"] = ids
    frame = conversations_frame(columns, services, [entry for answers in dns_answers for entry in answers])
    frame.index = ids
    frame.attrs["report"] = report
    return frame


def read_conversations(paths: PathLike | Iterable[PathLike], *, scheduler: object, **options) -> dd.DataFrame:
    """The conversations of ``paths`` (read as one capture) on the cluster of ``scheduler`` (an
    address or a ``distributed.Client``), as a Dask DataFrame; ``options`` as for
    :func:`pcapflow.read_conversations`. See the module docstring."""
    require_distributed()
    import dask.dataframe as dd

    from pcapflow.dask.run import DaskRun

    settings = AnalysisOptions(**options)
    services = service_table(settings)
    with connected(scheduler, lasting=True) as client:
        run = DaskRun(as_paths(paths), client, engine=settings.engine, chunk_bytes=settings.chunk_bytes)
        finished = run.partitions(settings)
        first_records = [client.submit(_first_records, part) for part in finished]
        run.orphan_fragments = sum(client.gather([client.submit(_orphans, part) for part in finished]))
        dns_answers = [client.submit(_dns_answers, part) for part in finished]  # a few per DNS conversation
        frames = [client.submit(_partition_frame, part, first_records, dns_answers, services, run.report) for part in finished]
    meta = conversations_frame({}, services)
    meta.attrs["report"] = run.report
    return dd.from_delayed(frames, meta=meta, verify_meta=False)


def _orphans(finished: tuple[dict[str, np.ndarray], int]) -> int:
    return finished[1]


def _ordered(rows: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """The per-port rows in the local order: conversations, then bytes (descending), then
    protocol and port; the categories those of a local table (the values seen, or the fixed
    categories of ``meta``, the table of no conversation, where it has some)."""
    rows = rows.assign(_name=rows["protocol"].astype(str)).sort_values(
        ["conversations", "bytes", "_name", "server_port"], ascending=[False, False, True, True], kind="stable")
    rows = rows.drop(columns="_name").reset_index(drop=True)
    for spec in PORT_COLUMNS:
        if spec.dtype == "category" and spec.name in rows:
            fixed = meta[spec.name].cat.categories
            rows[spec.name] = rows[spec.name].astype(object).astype(meta[spec.name].dtype if len(fixed) else "category")
    return rows


def summarize_ports(conversations: dd.DataFrame, services: ServiceTable | None = None) -> dd.DataFrame:
    """The per-port table of a Dask conversations frame (one partition once computed), equal to
    :func:`pcapflow.summarize_ports` of the same conversations; see the module docstring."""
    inputs = conversations[[name for name in (*PORT_INPUTS, "app") if name in conversations.columns]]
    meta = summarize_ports_here(inputs._meta, services)
    by_port = inputs.shuffle(on="server_port").map_partitions(summarize_ports_here, services, meta=meta)
    return by_port.repartition(npartitions=1).map_partitions(_ordered, meta, meta=meta)
