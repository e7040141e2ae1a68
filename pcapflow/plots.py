"""Charts of an analysis: frames in, one matplotlib Axes per chart out.

Inputs: the per-port frame (:data:`~pcapflow.schema.PORT_COLUMNS`, busiest first, as
:func:`~pcapflow.summarize_ports` sorts it) and the conversations frame, whose open intervals
and windows :mod:`pcapflow.timeline` counts. Each function draws on the ``ax`` it is given, or on a
new pyplot figure (what Jupyter shows), and returns the Axes. A port is labelled
``port/protocol service``, as ``pcapflow services`` writes it.

matplotlib is an optional extra (``pip install "pcapflow[report]"``) imported only here, when a
chart is drawn; without it :class:`ReportError` says how to install it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from pcapflow.errors import OptionsError, PcapflowError
from pcapflow.render import human_bytes
from pcapflow.timeline import nanoseconds, open_over_time, summarize_windows, window_ns

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

#: Busiest ports drawn over time (more lines than this cannot be told apart).
TIMELINE_PORTS = 5
#: Most time slices a line of open conversations is drawn with; each shows its slice's highest count.
_MAX_SLICES = 1000
_UNIDENTIFIED = "unidentified"
#: Most segments of a stacked bar: matplotlib's default colours, each used once.
_MAX_STACKS = 10
_OTHER = "other"


class ReportError(PcapflowError):
    """A chart or the HTML report cannot be made (matplotlib is not installed)."""


def require_matplotlib() -> Any:
    """The matplotlib module, or :class:`ReportError` saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise ReportError('charts and the HTML report need matplotlib: pip install "pcapflow[report]"') from None
    return matplotlib


def _axes(ax: Axes | None, height: float = 4.0) -> Axes:
    require_matplotlib()
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(8, height), layout="constrained")[1]


def bars_height(bars: int) -> float:
    """Inches of a bar chart of ``bars`` ports: room for each label."""
    return 1.2 + 0.22 * bars


def port_label(protocol: object, port: object, service: object = None) -> str:
    """``80/tcp http``: a server port as ``pcapflow services`` writes it, with its name if any."""
    import pandas as pd

    return f"{port}/{protocol}" if service is None or pd.isna(service) else f"{port}/{protocol} {service}"


def _labels(ports: pd.DataFrame) -> list[str]:
    return [port_label(row.protocol, row.server_port, row.service) for row in ports.itertuples(index=False)]


def _barh(ax: Axes, labels: list[str], stacks: dict[str, np.ndarray], xlabel: str, title: str) -> Axes:
    """Horizontal bars, busiest at the top, one stacked segment per entry of ``stacks``."""
    from matplotlib.ticker import MaxNLocator

    positions = np.arange(len(labels))
    left = np.zeros(len(labels))
    for name, values in stacks.items():
        ax.barh(positions, values, left=left, label=name)
        left = left + np.asarray(values, dtype=float)
    ax.set_yticks(positions, labels)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts of things: no ticks between them
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    if len(stacks) > 1:
        ax.legend(loc="lower right", fontsize="small")
    return ax


def _of_ports(conversations: pd.DataFrame, ports: pd.DataFrame, column: str) -> pd.DataFrame:
    """Conversations per (port of ``ports``, value of ``column``): a row per port, in ``ports``' order."""
    import pandas as pd

    frame = pd.DataFrame({
        "protocol": conversations["protocol"].astype(str).to_numpy(),
        "server_port": conversations["server_port"].to_numpy(),
        "value": conversations[column].astype("string").fillna(_UNIDENTIFIED).to_numpy(),
    })
    counts = frame.groupby(["protocol", "server_port", "value"]).size().unstack("value", fill_value=0)
    wanted = pd.MultiIndex.from_arrays([ports["protocol"].astype(str).to_numpy(), ports["server_port"].to_numpy()])
    return counts.reindex(wanted, fill_value=0)


def plot_ports(ports: pd.DataFrame, conversations: pd.DataFrame, top: int = 20, ax: Axes | None = None) -> Axes:
    """The ``top`` server ports by conversations; stacked by identified application when the
    conversations have an ``app`` column (unidentified ones as such)."""
    shown = ports.head(top)
    ax = _axes(ax, bars_height(len(shown)))
    if "app" in conversations.columns:
        counts = _of_ports(conversations, shown, "app")
        # the most common applications first; past the colours one legend tells apart, the rest as one
        apps = sorted(counts.columns, key=lambda app: (-int(counts[app].sum()), str(app)))
        stacks = {str(app): counts[app].to_numpy() for app in apps[:_MAX_STACKS - 1]}
        if len(apps) >= _MAX_STACKS:
            stacks[_OTHER] = counts[apps[_MAX_STACKS - 1:]].sum(axis=1).to_numpy()
    else:
        stacks = {"conversations": shown["conversations"].to_numpy()}
    return _barh(ax, _labels(shown), stacks, "conversations", f"Top {len(shown)} server ports by conversations")


def plot_direction_bytes(ports: pd.DataFrame, top: int = 20, ax: Axes | None = None) -> Axes:
    """Frame bytes of the ``top`` ports, client to server and server to client."""
    shown = ports.head(top)
    ax = _axes(ax, bars_height(len(shown)))
    from matplotlib.ticker import FuncFormatter

    stacks = {"client to server": shown["client_bytes"].to_numpy(), "server to client": shown["server_bytes"].to_numpy()}
    _barh(ax, _labels(shown), stacks, "bytes", "Bytes per port by direction")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: human_bytes(int(value))))
    return ax


def plot_outcomes(ports: pd.DataFrame, conversations: pd.DataFrame, top: int = 20, ax: Axes | None = None) -> Axes:
    """Conversations of the ``top`` ports by outcome (Zeek's ``conn_state``), the states that occur."""
    shown = ports.head(top)
    ax = _axes(ax, bars_height(len(shown)))
    counts = _of_ports(conversations, shown, "conn_state")
    stacks = {str(state): counts[state].to_numpy() for state in counts.columns if counts[state].any()}
    return _barh(ax, _labels(shown), stacks or {"conversations": np.zeros(len(shown))}, "conversations", "Conversation outcomes (conn_state) per port")


def plot_clients(ports: pd.DataFrame, top: int = 20, ax: Axes | None = None) -> Axes:
    """Distinct client addresses of the ``top`` ports."""
    shown = ports.head(top)
    ax = _axes(ax, bars_height(len(shown)))
    return _barh(ax, _labels(shown), {"clients": shown["clients"].to_numpy()}, "distinct client IP addresses", "Clients per port")


def _chosen_ports(ports: pd.DataFrame, chosen: Iterable[int | str] | None) -> pd.DataFrame:
    """The rows of ``ports`` for ``chosen`` (ports as ``80`` for every protocol, or ``"80/tcp"``);
    the busiest few when None."""
    if chosen is None:
        return ports.head(TIMELINE_PORTS)
    keep = np.zeros(len(ports), dtype=bool)
    for item in chosen:
        number, _, protocol = str(item).partition("/")
        match = ports["server_port"].astype(str).to_numpy() == number
        if protocol:
            match &= ports["protocol"].astype(str).to_numpy() == protocol.lower()
        if not match.any():
            raise OptionsError(f"no conversation has the server port {item!r}")
        keep |= match
    return ports[keep]


def _utc(ns: np.ndarray) -> np.ndarray:
    return np.asarray(ns, dtype=np.int64).astype("datetime64[ns]")


def _slices(times: np.ndarray, counts: np.ndarray, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """At most :data:`_MAX_SLICES` steps: the highest count of each equal slice of [start, end]."""
    if len(times) <= 2 * _MAX_SLICES:
        return times, counts
    edges = np.linspace(start, end + 1, _MAX_SLICES + 1).astype(np.int64)
    # the count in force at each slice's start, then the highest one reached within it
    in_force = np.searchsorted(times, edges[:-1], side="right") - 1
    entering = np.where(in_force >= 0, counts[in_force.clip(0)], 0)
    slot = np.searchsorted(edges, times, side="right") - 1
    peaks = entering.copy()
    np.maximum.at(peaks, slot.clip(0, _MAX_SLICES - 1), counts)
    return edges[:-1], peaks


def _with_quiet_windows(starts: np.ndarray, counts: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The windows of one port, each followed by a 0 where the next window has no row (a quiet one)."""
    quiet_after = np.diff(starts, append=starts[-1:] + 2 * width) != width
    times = np.concatenate([starts, starts[quiet_after] + width])
    order = np.argsort(times, kind="stable")
    return times[order], np.concatenate([counts, np.zeros(int(quiet_after.sum()), dtype=counts.dtype)])[order]


def plot_timeline(ports: pd.DataFrame, conversations: pd.DataFrame, chosen: Iterable[int | str] | None = None,
                  freq: object = None, ax: Axes | None = None) -> Axes:
    """Conversations open over time on the busiest ports (or the ``chosen`` ones).

    Without ``freq``: the number open at each instant, whose highest point is the port's
    ``peak_concurrent`` (a long capture is drawn in 1,000 slices, each at its highest count).
    With ``freq``: ``conversations_open`` of each window of :func:`~pcapflow.timeline.summarize_windows`.
    """
    shown = _chosen_ports(ports, chosen)
    ax = _axes(ax)
    from matplotlib.ticker import MaxNLocator

    protocol = conversations["protocol"].astype(str).to_numpy()
    port = conversations["server_port"].to_numpy()
    first, last = nanoseconds(conversations["first_seen"]), nanoseconds(conversations["last_seen"])
    if freq is not None:
        width = window_ns(freq)
        windows = summarize_windows(conversations, freq)
        starts = nanoseconds(windows["window_start"])
    for row in shown.itertuples(index=False):
        label = port_label(row.protocol, row.server_port, row.service)
        mine = (protocol == str(row.protocol)) & (port == row.server_port)
        if freq is None:
            times, counts = open_over_time(first[mine], last[mine])
            times, counts = _slices(times, counts, int(first.min()), int(last.max()))
            ax.step(_utc(times), counts, where="post", label=f"{label} (peak {int(counts.max())})")
        else:
            of_port = (windows["protocol"].astype(str) == str(row.protocol)).to_numpy() & (windows["server_port"] == row.server_port).to_numpy()
            times, counts = _with_quiet_windows(starts[of_port], windows["conversations_open"].to_numpy()[of_port], width)
            ax.step(_utc(times), counts, where="post", label=label)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("conversations open" + ("" if freq is None else f" per {freq} window"))
    ax.set_title("Conversations open over time")
    if len(shown):
        ax.legend(loc="upper right", fontsize="small")
    return ax
