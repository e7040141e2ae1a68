"""Writing and reading back pcapflow's tables: CSV, JSON, NDJSON and Parquet.

``write_table(frame, target, format)`` writes to a path or to standard output (``"-"``); the
format comes from the suffix unless given. Timestamps are ISO 8601 in UTC with nanoseconds;
missing values are empty in CSV and ``null`` in JSON. ``read_table(path)`` reads any of these
files back with pcapflow's declared dtypes, so an exported table round-trips exactly.
Parquet needs pyarrow (``pip install "pcapflow[parquet]"``); without it a clear error says so.
``zeek`` and ``zeek-json`` write a conversations table as Zeek's conn.log (:mod:`pcapflow.zeek_log`);
those are read with Zeek's tools (zeek-cut, ZAT...), not back into pcapflow's table.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pcapflow.errors import PcapflowError

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported where tables are written or read, so that the CLI can list the formats cheaply
FORMATS = ("csv", "json", "ndjson", "parquet", "zeek", "zeek-json")
_SUFFIXES = {".csv": "csv", ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson", ".parquet": "parquet", ".log": "zeek"}
#: The formats of Zeek's conn.log, which only a conversations table is written in.
ZEEK_FORMATS = ("zeek", "zeek-json")


class ExportError(PcapflowError):
    """A table cannot be written or read in the requested format."""


def format_of(target: str | os.PathLike, format: str | None = None) -> str:
    """The format to use for ``target``: ``format`` if given, else from the suffix (CSV for ``-``)."""
    if format:
        if format not in FORMATS:
            raise ExportError(f"unknown format {format!r}: choose one of {', '.join(FORMATS)}")
        return format
    if os.fspath(target) == "-":
        return "csv"
    suffix = Path(target).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ExportError(f"cannot tell the format of {os.fspath(target)!r} from its suffix: use --format ({', '.join(FORMATS)})")
    return _SUFFIXES[suffix]


def _pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ExportError('Parquet needs pyarrow: pip install "pcapflow[parquet]"') from None


def write_table(frame: pd.DataFrame, target: str | os.PathLike, format: str | None = None) -> None:
    """Write ``frame`` to ``target`` (a path, or ``"-"`` for standard output)."""
    kind = format_of(target, format)
    to_stdout = os.fspath(target) == "-"
    frame = frame.copy(deep=False)
    frame.attrs = {}  # the capture report travels separately (report.json), not as file metadata
    if kind == "parquet":
        _pyarrow()
        if to_stdout:
            frame.to_parquet(sys.stdout.buffer, index=False)
        else:
            frame.to_parquet(target, index=False)
        return
    if kind in ZEEK_FORMATS:
        from pcapflow.zeek_log import conn_log_json, conn_log_tsv

        text = conn_log_tsv(frame) if kind == "zeek" else conn_log_json(frame)
    elif kind == "csv":
        text = frame.to_csv(index=False)
    else:
        text = frame.to_json(orient="records", lines=kind == "ndjson", date_format="iso", date_unit="ns")
        text += "\n" if not text.endswith("\n") else ""
    if to_stdout:
        sys.stdout.write(text)
    else:
        Path(target).write_text(text)


def read_table(path: str | os.PathLike, format: str | None = None) -> pd.DataFrame:
    """Read a table written by :func:`write_table`, with pcapflow's declared dtypes."""
    import pandas as pd

    kind = format_of(path, format)
    if kind in ZEEK_FORMATS:
        raise ExportError(f"{os.fspath(path)!r}: a Zeek log is not read back into a pcapflow table; read it with Zeek's tools (zeek-cut, ZAT)")
    if kind == "parquet":
        _pyarrow()
        return pd.read_parquet(path)
    if kind == "csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    else:
        frame = pd.read_json(path, orient="records", lines=kind == "ndjson", dtype=False)
    return restore_dtypes(frame)


def restore_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast the columns pcapflow knows to their declared dtypes."""
    import pandas as pd

    from pcapflow.schema import CONVERSATION_COLUMNS, PACKET_COLUMNS, PORT_COLUMNS, TIMELINE_COLUMNS, UTC_NS

    declared = {spec.name: spec.dtype for spec in PACKET_COLUMNS + CONVERSATION_COLUMNS + PORT_COLUMNS + TIMELINE_COLUMNS}
    columns = {}
    for name in frame.columns:
        dtype = declared.get(name)
        column = frame[name]
        if dtype is None:
            columns[name] = column
        elif dtype == UTC_NS:
            columns[name] = pd.to_datetime(column, utc=True, format="ISO8601").astype(UTC_NS)
        elif dtype == "bool":
            columns[name] = column.map({"True": True, "False": False, True: True, False: False}).astype(bool)
        elif str(dtype) == "string":
            columns[name] = column.astype("string")
        elif str(dtype) == "category" or isinstance(dtype, pd.CategoricalDtype):
            columns[name] = column.astype("str").where(column.notna(), None).astype(dtype)
        else:
            columns[name] = pd.to_numeric(column).astype(dtype) if str(dtype)[0] != "U" else column.astype("Float64").astype(dtype)
    return pd.DataFrame(columns)
