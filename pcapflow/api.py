"""The Python API: functions that run the pipeline and return pandas DataFrames."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from pcapflow.capture import DEFAULT_CHUNK_BYTES
from pcapflow.decode import PacketTable
from pcapflow.reader import PacketReader, PathLike
from pcapflow.schema import packets_frame


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
