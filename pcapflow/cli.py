"""The ``pcapflow`` command: a thin shell over :mod:`pcapflow.api`.

Data goes to standard output, diagnostics and progress to standard error. Exit codes: 0 done
(damage and skipped packets are reported as warnings), 1 an error (one ``Error:`` line; with
``--strict`` also a damaged file or a malformed packet), 2 a usage error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

# numpy's BLAS gets one thread (unless the environment says otherwise) before the imports below
# load numpy, which starts BLAS's threads: pcapflow does no linear algebra, and BLAS threads
# spin for work at start-up on the cores the workers need (about a tenth of a second of CPU
# per run). This module is the command line's, which owns its process.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pcapflow.capture.location import is_url
from pcapflow.errors import PcapflowError
from pcapflow.export import FORMATS
from pcapflow.options import ENGINES, AnalysisOptions

# What the commands run is imported when they run: --help and usage errors stay fast.

class _CapturePath(click.Path):
    """A capture file that exists, ``-``, or an fsspec URL (checked when it is opened)."""

    def convert(self, value, param, ctx):
        return value if isinstance(value, str) and is_url(value) else super().convert(value, param, ctx)


CAPTURES = click.argument("captures", nargs=-1, required=True, type=_CapturePath(exists=True, dir_okay=False, allow_dash=True))
_DEFAULTS = {field.name: field.default for field in dataclasses.fields(AnalysisOptions)}


def analysis_options(command: Callable) -> Callable:
    """The options every analysing command shares; each maps onto an AnalysisOptions field, whose
    default and choices it shows."""
    decorators = [
        CAPTURES,
        click.option("--tcp-idle-timeout", type=float, default=_DEFAULTS["tcp_idle_timeout"], show_default=True,
                     help="Seconds of silence that end a TCP conversation."),
        click.option("--udp-idle-timeout", type=float, default=_DEFAULTS["udp_idle_timeout"], show_default=True,
                     help="Seconds of silence that end a UDP conversation."),
        click.option("--other-idle-timeout", type=float, default=_DEFAULTS["other_idle_timeout"], show_default=True,
                     help="Seconds of silence that end an ICMP or other conversation."),
        click.option("--vlan-in-key", is_flag=True, default=_DEFAULTS["vlan_in_key"], help="Make the outer VLAN id part of the conversation key."),
        click.option("--payload/--no-payload", "inspect_payload", default=_DEFAULTS["inspect_payload"], show_default=True,
                     help="Identify protocols (app) and server names from the first payload bytes."),
        click.option("--decap/--no-decap", "decapsulate", default=_DEFAULTS["decapsulate"], show_default=True,
                     help="Open tunnels (VXLAN, Geneve, GTP-U, Teredo, AYIYA, GRE and MPLS in UDP, GRE, PPTP, IP in IP): "
                          "their inner packets become conversations of their own."),
        click.option("--services", type=click.Path(exists=True, dir_okay=False),
                     help="CSV of service names that override IANA's (port,protocol,service[,description])."),
        click.option("--engine", type=click.Choice(ENGINES), default=_DEFAULTS["engine"], show_default=True,
                     help="Packet decoder: the compiled kernels, or scapy (slow, for checking)."),
        click.option("--workers", type=click.IntRange(min=1), show_default="the machine's cores", help="Threads reading and tracking at once."),
        click.option("--scheduler", metavar="tcp://HOST:PORT",
                     help="Run on this Dask cluster instead of local threads (needs pcapflow[dask]); the captures are read by its workers."),
        click.option("--strict", is_flag=True, help="Exit 1 if a file is damaged or a packet is malformed."),
        click.option("--quiet", "-q", is_flag=True, help="No warnings or progress bar on standard error."),
        click.option("--progress/--no-progress", "show_progress", default=None, show_default="when standard error is a terminal",
                     help="Show the progress line (bytes read, packets/s, time left) on standard error."),
        click.option("--verbose", "-v", count=True, help="Log what pcapflow decides (workers, pieces, damage) on standard error; -vv for more."),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def _progress(quiet: bool, forced: bool | None = None):
    """The progress line on standard error, and the callback that moves it: by default only when
    standard error is a terminal (``forced`` True or False decides instead); (None, None) if not shown."""
    from pcapflow.progress import ProgressLine

    if quiet or not (sys.stderr.isatty() if forced is None else forced):
        return None, None
    line = ProgressLine(sys.stderr)
    return line, line


#: Log levels of -v and -vv.
_VERBOSITY = {1: logging.INFO, 2: logging.DEBUG}


@contextlib.contextmanager
def _logging_to_stderr(verbose: int, line):
    """With -v, the library's log records (the ``pcapflow`` logger) go to standard error for
    the length of a run, above the progress ``line``."""
    if not verbose:
        yield
        return
    from pcapflow.progress import LogLines

    logger = logging.getLogger("pcapflow")
    handler = LogLines(sys.stderr, line)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(_VERBOSITY[min(verbose, max(_VERBOSITY))])
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


#: glibc's mallopt parameters and the values the command line sets (see _tune_process).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_BYTES, _TRIM_THRESHOLD_BYTES = 2 << 20, 64 << 20


def _tune_process() -> None:
    """What the command line, which owns its process, sets up; the library never does this to its host.

    - glibc's allocator keeps freed memory of up to 2 MiB blocks for the next allocation instead
      of returning it: reading makes columns of up to a few hundred KiB per chunk that are freed
      as fast as they are made, and with glibc's defaults each one may be mapped afresh and its
      pages faulted in again. Larger blocks (the flow tables, the conversation columns) are
      mapped on their own and given back when freed: kept in the worker threads' arenas, they
      would stay resident while the main thread allocates afresh (on 10 M packets, a peak of
      330 MiB instead of 380 to 440). (Elsewhere than glibc this does nothing.)
    (numpy's BLAS threads are set at the top of this module, before numpy is loaded.)
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    # the order matters: a fixed trim threshold alone would stop glibc raising the mmap one
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)


def _run(captures, strict: bool, quiet: bool, show_progress: bool | None = None, verbose: int = 0, **options):
    from pcapflow.api import analyze

    if list(captures).count("-") > 1:
        raise click.UsageError("standard input (-) can be read only once")
    if "-" in captures and sys.stdin.isatty():  # as gzip -d refuses to read a terminal
        raise click.UsageError("standard input (-) is a terminal, not a capture: pipe one into it (tcpdump -w - | pcapflow analyze -)")
    line, update = _progress(quiet, show_progress)
    chosen = {name: value for name, value in options.items() if value is not None}  # None: the default
    try:
        with _logging_to_stderr(verbose, line):
            result = analyze(list(captures), progress=update, **chosen)
    except (PcapflowError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if line is not None:
            line.close()
    _warn(result.report, quiet)
    report = result.report
    if strict and (report.damaged_files or report.malformed or any(file.warnings for file in report.files)):
        raise click.ClickException("--strict: the capture is damaged or has malformed packets (see the warnings)")
    return result


def _warn(report, quiet: bool) -> None:
    if quiet:
        return
    for file in report.files:
        for warning in file.warnings:
            click.echo(f"Warning: {file.path}: {warning}", err=True)
    for file in report.damaged_files:
        before = "the record before it was read" if file.records == 1 else f"the {file.records:,} records before it were read"
        click.echo(f"Warning: {file.path}: {file.damage}; {before}", err=True)
    if report.malformed:
        counts = ", ".join(f"{count:,} {name}" for name, count in sorted(report.malformed.items()))
        click.echo(f"Warning: {sum(report.malformed.values()):,} of {report.records_read:,} packets are malformed and were not tracked: {counts}", err=True)


def _write(frame, output: str, format: str | None) -> None:
    from pcapflow.export import write_table

    try:
        write_table(frame, output, format)
    except (PcapflowError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pcapflow")
def main() -> None:
    """Turn packet captures into socket conversations and per-port summaries."""
    _tune_process()


@main.command("analyze")
@analysis_options
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True, help="Server ports to show.")
@click.option("--export", "export_dir", type=click.Path(file_okay=False), help="Also write ports.csv, conversations.csv and report.json here.")
def analyze_command(captures, strict, quiet, top, export_dir, **options) -> None:
    """Report what CAPTURES hold: packets read and skipped, then the busiest server ports."""
    from pcapflow.render import render_ports, render_report

    result = _run(captures, strict, quiet, **options)
    click.echo(render_report(result.report, result.port_rows))
    click.echo(render_ports(result.port_rows, top), nl=False)
    if export_dir:
        directory = Path(export_dir)
        directory.mkdir(parents=True, exist_ok=True)
        _write(result.ports, str(directory / "ports.csv"), "csv")
        _write(result.conversations, str(directory / "conversations.csv"), "csv")
        (directory / "report.json").write_text(json.dumps(result.report.to_dict(), indent=2) + "\n")


def table_output_options(command: Callable) -> Callable:
    """``-o/--output`` and ``--format``, for the commands that write a table."""
    command = click.option("--format", "format", type=click.Choice(FORMATS), help="Output format (default: from the file suffix; CSV for -).")(command)
    return click.option("-o", "--output", default="-", show_default=True, help="File to write, or - for standard output.")(command)


def _export_command(name: str, table: str, summary: str) -> None:
    @main.command(name, help=summary)
    @analysis_options
    @table_output_options
    def command(captures, strict, quiet, output, format, **options) -> None:
        result = _run(captures, strict, quiet, **options)
        _write(getattr(result, table), output, format)


_export_command("conversations", "conversations", "Write one row per socket conversation of CAPTURES.")
_export_command("ports", "ports", "Write one row per (protocol, server port) of CAPTURES.")


@main.command("timeline")
@analysis_options
@click.option("--freq", default="1min", show_default=True, help="Length of the time windows: 10s, 1min, 1h...")
@table_output_options
def timeline_command(captures, strict, quiet, freq, output, format, **options) -> None:
    """Write one row per (time window, protocol, server port) of CAPTURES: conversations started
    and open, and their packets and bytes prorated over the windows."""
    from pcapflow.timeline import window_ns

    try:
        window_ns(freq)  # a bad --freq is told before the captures are read
    except PcapflowError as exc:
        raise click.BadParameter(str(exc), param_hint="--freq") from None
    result = _run(captures, strict, quiet, **options)
    _write(result.timeline(freq), output, format)


@main.command("report")
@analysis_options
@click.option("-o", "--output", required=True, help="HTML file to write, or - for standard output.")
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True, help="Server ports in the charts.")
def report_command(captures, strict, quiet, output, top, **options) -> None:
    """Write a self-contained HTML report of CAPTURES: the capture report, the per-port table and
    charts (inline SVG; opens offline). Needs matplotlib: pip install "pcapflow[report]"."""
    from pcapflow.html_report import write_report
    from pcapflow.plots import require_matplotlib

    try:
        require_matplotlib()  # before the captures are read
    except PcapflowError as exc:
        raise click.ClickException(str(exc)) from None
    result = _run(captures, strict, quiet, **options)
    try:
        write_report(result, output, top)
    except (PcapflowError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


@main.command("services")
@click.argument("queries", nargs=-1, required=True)
def services_command(queries) -> None:
    """Look up the bundled service names: 22, 22/tcp, or a name such as ssh."""
    import pandas as pd

    from pcapflow.services import default_services

    table = default_services()
    try:
        found = [table.lookup(query) for query in queries]
    except PcapflowError as exc:
        raise click.ClickException(str(exc)) from None
    for query, rows in zip(queries, found):
        if rows.empty:
            click.echo(f"{query}: no service registered", err=True)
        for row in rows.itertuples(index=False):
            description = "" if pd.isna(row.description) else row.description
            click.echo(f"{row.port}/{row.protocol}\t{row.service}\t{description}")
    if all(rows.empty for rows in found):
        sys.exit(1)


def run() -> None:
    """The ``pcapflow`` program: the command, then an exit that leaves the process's memory to the
    operating system. Tearing down the interpreter (every module, the conversations' arrays) took
    longer than some commands' own work; nothing is left to do by then but flush the output."""
    try:
        main()
    except SystemExit as done:
        code = done.code
    else:
        code = 0
    try:
        sys.stdout.flush()
    except (OSError, ValueError):  # a closed pipe: what could be written was written
        code = code or 1
    sys.stderr.flush()
    if not isinstance(code, int):  # sys.exit("message") prints it and exits 1
        if code is not None:
            print(code, file=sys.stderr, flush=True)
        code = 0 if code is None else 1
    os._exit(code)
