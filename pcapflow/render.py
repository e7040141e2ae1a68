"""Text for a person: the capture report and the per-port table, as the terminal shows them.

Pure functions of the analysis (no terminal queries), so the output is deterministic and can be
compared with golden files.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from pcapflow.decode import LINKTYPE_NAMES
from pcapflow.report import CaptureReport

_PORT_TABLE = (
    ("proto", "protocol"),
    ("port", "server_port"),
    ("service", "service"),
    ("app", "app"),
    ("conversations", "conversations"),
    ("clients", "clients"),
    ("sockets", "client_sockets"),
    ("servers", "servers"),
    ("packets", "packets"),
    ("bytes", "bytes"),
    ("established", "established"),
    ("rejected", "rejected"),
    ("unanswered", "unanswered"),
    ("peak", "peak_concurrent"),
)
_LEFT = {"proto", "service", "app"}
#: What marks a port's app when some of its conversations' apps contradict its service.
MISMATCH_MARK = " !"


def human_bytes(count: int) -> str:
    """1536 -> '1.5 KiB'."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _utc(ns: int) -> str:
    return f"{datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=ns // 1_000_000_000):%Y-%m-%d %H:%M:%S}"


def render_report(report: CaptureReport, ports: dict[str, np.ndarray]) -> str:
    """What was read and what was skipped, then what the conversations amount to.

    ``ports``: the per-port rows (:func:`pcapflow.summary.port_rows`); every conversation is
    counted in exactly one of them.
    """
    lines = []
    for file in report.files:
        kinds = ", ".join(sorted({LINKTYPE_NAMES.get(t, f"link type {t}") for t in file.linktypes})) or "no interface"
        packed = f", {file.compression}" if file.compression else ""
        lines.append(f"capture  {file.path} ({file.format}{packed}; {kinds}): {file.records:,} records")
        if file.damage:
            lines.append(f"         damaged: {file.damage}")
    tracked = sum(report.tracked.values()) - report.orphan_fragments
    lines.append(f"packets  {report.records_read:,} read: {tracked:,} tracked")
    for label, counts in (("out of scope", report.out_of_scope), ("malformed", report.malformed)):
        if counts:
            lines.append(f"         {sum(counts.values()):,} {label} ({_counts(counts)})")
    if report.tunnels:
        lines.append(f"         {sum(report.tunnels.values()):,} out of tunnels ({_counts(report.tunnels)})")
    if report.orphan_fragments:
        lines.append(f"         {report.orphan_fragments:,} orphan fragments (not tracked: their first fragment never appeared)")
    by_protocol: dict[str, int] = {}
    for protocol, count in zip(ports["protocol"].tolist(), ports["conversations"].tolist()):
        by_protocol[protocol] = by_protocol.get(protocol, 0) + count
    total = sum(by_protocol.values())
    summary = _counts(by_protocol)
    span = f", {_utc(int(ports['first_seen'].min()))} to {_utc(int(ports['last_seen'].max()))} UTC" if total else ""
    lines.append(f"conversations  {total:,}" + (f" ({summary})" if summary else "") + span)
    return "\n".join(lines) + "\n"


def render_ports(ports: dict[str, np.ndarray], top: int) -> str:
    """The busiest ``top`` server ports (of :func:`pcapflow.summary.port_rows`) as an aligned table."""
    shown = min(top, len(ports["server_port"]))
    table = _PORT_TABLE if "app" in ports else tuple(entry for entry in _PORT_TABLE if entry[1] != "app")
    cells = [[title for title, _ in table]]
    flagged = 0
    for row in range(shown):
        line = []
        for _, column in table:
            value = ports[column][row]
            line.append(human_bytes(value) if column == "bytes" else ("-" if value is None else f"{value}"))
            if column == "app" and ports["mismatched"][row]:
                line[-1] += MISMATCH_MARK
                flagged += 1
        cells.append(line)
    widths = [max(len(line[i]) for line in cells) for i in range(len(table))]
    lines = [
        "  ".join(cell.ljust(width) if title in _LEFT else cell.rjust(width) for cell, width, (title, _) in zip(line, widths, table)).rstrip()
        for line in cells
    ]
    if flagged:
        lines.append(f"{MISMATCH_MARK.strip()} the payload of some of the port's conversations shows another protocol than its service")
    if len(ports["server_port"]) > top:
        lines.append(f"... {len(ports['server_port']) - top:,} more server ports (--top to show more)")
    return "\n".join(lines) + "\n"
