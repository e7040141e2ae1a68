"""Reading Zeek's conn.log in the tests: Zeek's own baselines and pcapflow's ``--format zeek`` output."""

from __future__ import annotations

from pathlib import Path

#: The column header line a conn.log begins its field names with.
FIELDS_LINE = "#fields"


def conn_log_rows(text: str) -> list[dict[str, str]]:
    """The rows of a conn.log, each as {field name: the text Zeek wrote}: Zeek's TSV layout, or a
    ``zeek-cut -m`` selection of it, whose first line names the fields."""
    lines = [line for line in text.splitlines() if line and not line.startswith("##")]  # btest's own comment
    if any(line.startswith(FIELDS_LINE) for line in lines):
        fields = next(line for line in lines if line.startswith(FIELDS_LINE)).split("\t")[1:]
        rows = [line for line in lines if not line.startswith("#")]
    else:
        fields, rows = lines[0].split("\t"), lines[1:]
    return [dict(zip(fields, line.split("\t"))) for line in rows]


def read_conn_log(path: Path) -> list[dict[str, str]]:
    """The rows of the conn.log file at ``path``."""
    return conn_log_rows(path.read_text())
