"""The HTML report: an analysis in, one self-contained HTML page out.

:func:`report_html` makes the page of ``pcapflow report``: the capture summary as the terminal
shows it, the files read (format, link types, records, damage, warnings), the records by status,
the per-port table (the first :data:`MAX_TABLE_ROWS` rows) and the charts of
:mod:`pcapflow.plots` (top ports, conversations open over time, bytes by direction, outcomes,
clients), each an inline ``<svg>`` in a ``<figure class="chart">``. The page has no script and
loads nothing: no stylesheet, font or image from elsewhere (glyphs are drawn as SVG paths), so it
opens offline. Every id inside a chart is prefixed with the chart's name, so that the ids of one
page stay distinct.

:func:`analysis_html` is the short form Jupyter shows for an :class:`~pcapflow.api.Analysis`:
the capture summary and the busiest ports, without charts (and without matplotlib).
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pcapflow import plots
from pcapflow.decode import LINKTYPE_NAMES
from pcapflow.decode.table import DecodeStatus
from pcapflow.render import human_bytes, render_report

if TYPE_CHECKING:
    from pcapflow.api import Analysis

#: Rows of the per-port table in the page (the ports export has them all).
MAX_TABLE_ROWS = 1000
#: Rows of the per-port table Jupyter shows.
NOTEBOOK_ROWS = 10
_CHART_WIDTH_INCHES = 9.0

#: (heading, column of the per-port rows); sizes in bytes are shown with binary prefixes
_PORT_TABLE = (
    ("proto", "protocol"), ("port", "server_port"), ("service", "service"), ("conversations", "conversations"),
    ("clients", "clients"), ("sockets", "client_sockets"), ("servers", "servers"), ("packets", "packets"),
    ("bytes", "bytes"), ("client to server", "client_bytes"), ("server to client", "server_bytes"),
    ("peak", "peak_concurrent"), ("established", "established"), ("rejected", "rejected"),
    ("unanswered", "unanswered"), ("first seen (UTC)", "first_seen"), ("last seen (UTC)", "last_seen"),
)
_SIZES = {"bytes", "client_bytes", "server_bytes"}
_TIMES = {"first_seen", "last_seen"}
_TEXT = {"protocol", "service"}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
pre { background: #f4f4f4; padding: 0.6rem; overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.2rem 0.5rem; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; } .text { text-align: left; }
figure.chart { margin: 1rem 0; } figure.chart svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.85rem; color: #555; }
"""


def _utc(ns: int) -> str:
    return f"{datetime.fromtimestamp(ns // 1_000_000_000, UTC):%Y-%m-%d %H:%M:%S}"


def _cell(column: str, value: object) -> str:
    if value is None:
        return "-"
    if column in _SIZES:
        return human_bytes(int(value))  # type: ignore[call-overload]
    if column in _TIMES:
        return _utc(int(value))  # type: ignore[call-overload]
    return escape(f"{value:,}" if isinstance(value, int | np.integer) and column != "server_port" else str(value))


def _table(headings: list[str], rows: list[list[str]], text_columns: set[int]) -> str:
    """An HTML table of already escaped cells; ``text_columns`` are aligned left."""
    def line(cells: list[str], tag: str) -> str:
        opened = [f'<{tag} class="text">' if i in text_columns else f"<{tag}>" for i in range(len(cells))]
        return "<tr>" + "".join(f"{start}{cell}</{tag}>" for start, cell in zip(opened, cells)) + "</tr>"

    return "<table>\n" + line([escape(h) for h in headings], "th") + "\n" + "\n".join(line(row, "td") for row in rows) + "\n</table>"


def ports_table(port_rows: dict[str, np.ndarray], limit: int) -> str:
    """The first ``limit`` per-port rows as an HTML table, with a line saying how many are left out."""
    shown = min(limit, len(port_rows["server_port"]))
    rows = [[_cell(column, port_rows[column][i]) for _, column in _PORT_TABLE] for i in range(shown)]
    text = {i for i, (_, column) in enumerate(_PORT_TABLE) if column in _TEXT}
    html = _table([heading for heading, _ in _PORT_TABLE], rows, text)
    left_out = len(port_rows["server_port"]) - shown
    return html + (f"\n<p>… {left_out:,} more server ports (the ports table has them all).</p>" if left_out else "")


def _files_table(analysis: Analysis) -> str:
    rows = []
    for file in analysis.report.files:
        kinds = ", ".join(sorted({LINKTYPE_NAMES.get(t, f"link type {t}") for t in file.linktypes})) or "no interface"
        rows.append([escape(str(file.path)), escape(file.format), escape(file.compression or "-"), escape(kinds),
                     f"{file.records:,}", escape(file.damage or "-"), escape("; ".join(file.warnings) or "-")])
    return _table(["file", "format", "compression", "link types", "records", "damage", "warnings"], rows, {0, 1, 2, 3, 5, 6})


def _status_table(analysis: Analysis) -> str:
    report = analysis.report
    total = max(report.records_read, 1)
    ordered = sorted(report.status_counts.items(), key=lambda item: (-item[1], item[0]))
    rows = [[escape(name), escape(DecodeStatus[name].kind.replace("_", " ")), f"{count:,}", f"{100 * count / total:.1f}%"] for name, count in ordered]
    if report.orphan_fragments:
        rows.append(["orphan fragments", "not tracked", f"{report.orphan_fragments:,}", f"{100 * report.orphan_fragments / total:.1f}%"])
    return _table(["status", "kind", "records", "share"], rows, {0, 1})


def _prefixed_ids(svg: str, prefix: str) -> str:
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", svg)
    return re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', svg)


def chart_svg(draw: Callable, height: float, name: str) -> str:
    """What ``draw(ax)`` draws, as an inline ``<svg>`` element whose ids start with ``name``."""
    matplotlib = plots.require_matplotlib()
    from matplotlib.figure import Figure

    # a fixed salt makes the ids, and so the page, the same on every run
    with matplotlib.rc_context({"svg.hashsalt": "pcapflow", "svg.fonttype": "path"}):
        figure = Figure(figsize=(_CHART_WIDTH_INCHES, height), layout="constrained")
        draw(figure.subplots())
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    return _prefixed_ids(text[text.index("<svg"):].strip(), name)


def _charts(analysis: Analysis, top: int) -> list[tuple[str, str, str]]:
    """(name, caption, svg) of every chart of the page."""
    ports, conversations = analysis.ports, analysis.conversations
    bars = plots.bars_height(min(top, len(ports)))
    charts = (
        ("ports", "Server ports by distinct conversations (stacked by identified application when known).",
         lambda ax: plots.plot_ports(ports, conversations, top, ax), bars),
        ("open", f"Conversations open at each instant on the {plots.TIMELINE_PORTS} busiest ports; the highest point is the port's peak.",
         lambda ax: plots.plot_timeline(ports, conversations, ax=ax), 4.0),
        ("bytes", "Frame bytes per port, client to server and server to client.", lambda ax: plots.plot_direction_bytes(ports, top, ax), bars),
        ("outcomes", "Conversations per port by Zeek's conn_state.", lambda ax: plots.plot_outcomes(ports, conversations, top, ax), bars),
        ("clients", "Distinct client IP addresses per port.", lambda ax: plots.plot_clients(ports, top, ax), bars),
    )
    return [(name, caption, chart_svg(draw, height, f"chart-{name}")) for name, caption, draw, height in charts]


def report_html(analysis: Analysis, top: int = 20) -> str:
    """The whole page (see the module docstring); charts show the ``top`` busiest ports."""
    charts = _charts(analysis, top) if len(analysis.ports) else []
    names = ", ".join(str(file.path) for file in analysis.report.files)
    figures = "\n".join(f'<figure class="chart" id="chart-{name}">\n{svg}\n<figcaption>{escape(caption)}</figcaption>\n</figure>'
                        for name, caption, svg in charts) or "<p>No conversations: nothing to chart.</p>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pcapflow report: {escape(names)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>pcapflow report: {escape(names)}</h1>
<pre>{escape(render_report(analysis.report, analysis.port_rows))}</pre>
<h2>Files</h2>
{_files_table(analysis)}
<h2>Records by status</h2>
{_status_table(analysis)}
<h2>Charts</h2>
{figures}
<h2>Server ports</h2>
{ports_table(analysis.port_rows, MAX_TABLE_ROWS)}
</body>
</html>
"""


def write_report(analysis: Analysis, target: str | os.PathLike, top: int = 20) -> None:
    """Write :func:`report_html` to ``target``, a path or ``"-"`` for standard output."""
    page = report_html(analysis, top)
    if os.fspath(target) == "-":
        sys.stdout.write(page)
    else:
        Path(target).write_text(page, encoding="utf-8")


def analysis_html(analysis: Analysis, top: int = NOTEBOOK_ROWS) -> str:
    """The capture summary and the ``top`` busiest ports, for Jupyter."""
    return f"<div><pre>{escape(render_report(analysis.report, analysis.port_rows))}</pre>\n{ports_table(analysis.port_rows, top)}</div>"
