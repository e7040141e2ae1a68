"""Text for a person: the capture report and the per-port table, as the terminal shows them.

Pure functions of the analysis (no terminal queries), so the output is deterministic and can be
compared with golden files.
"""

from __future__ import annotations

import pandas as pd

from pcapflow.report import CaptureReport

LINKTYPE_NAMES = {0: "NULL", 1: "Ethernet", 12: "raw IP", 14: "raw IP", 101: "raw IP", 108: "LOOP", 113: "Linux SLL",
                  228: "IPv4", 229: "IPv6", 276: "Linux SLL2"}

_PORT_TABLE = (
    ("proto", "protocol"),
    ("port", "server_port"),
    ("service", "service"),
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
_LEFT = {"proto", "service"}


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


def render_report(report: CaptureReport, conversations: pd.DataFrame) -> str:
    """What was read and what was skipped, then what the conversations amount to."""
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
    if report.orphan_fragments:
        lines.append(f"         {report.orphan_fragments:,} orphan fragments (not tracked: their first fragment never appeared)")
    by_protocol = conversations["protocol"].value_counts()
    summary = _counts({str(name): int(count) for name, count in by_protocol.items() if count})
    span = ""
    if len(conversations):
        first, last = conversations["first_seen"].min(), conversations["last_seen"].max()
        span = f", {first:%Y-%m-%d %H:%M:%S} to {last:%Y-%m-%d %H:%M:%S} UTC"
    lines.append(f"conversations  {len(conversations):,}" + (f" ({summary})" if summary else "") + span)
    return "\n".join(lines) + "\n"


def render_ports(ports: pd.DataFrame, top: int) -> str:
    """The busiest ``top`` server ports as an aligned table."""
    shown = ports.head(top)
    cells = [[title for title, _ in _PORT_TABLE]]
    for row in shown.itertuples(index=False):
        values = row._asdict()
        cells.append([
            human_bytes(values[column]) if column == "bytes" else ("-" if pd.isna(values[column]) else f"{values[column]}")
            for _, column in _PORT_TABLE
        ])
    widths = [max(len(line[i]) for line in cells) for i in range(len(_PORT_TABLE))]
    lines = [
        "  ".join(cell.ljust(width) if title in _LEFT else cell.rjust(width) for cell, width, (title, _) in zip(line, widths, _PORT_TABLE)).rstrip()
        for line in cells
    ]
    if len(ports) > top:
        lines.append(f"... {len(ports) - top:,} more server ports (--top to show more)")
    return "\n".join(lines) + "\n"
