"""Time windows: conversations in, one row per (window, protocol, server port) out.

Input: a conversations frame (:data:`~pcapflow.schema.CONVERSATION_COLUMNS`; ``protocol``,
``server_port``, ``service``, ``first_seen``, ``last_seen``, ``packets`` and ``bytes`` are used).
Output of :func:`summarize_windows`: :data:`~pcapflow.schema.TIMELINE_COLUMNS`, with these rules.

- Windows are ``[start, start + freq)``, ``freq`` a fixed length of time (``"10s"``, ``"1min"``,
  ``"1h"``: anything :class:`pandas.Timedelta` reads), aligned to the Unix epoch in UTC, so a
  ``1min`` window starts on a whole minute whatever the capture.
- A conversation is *open* in every window its closed interval ``[first_seen, last_seen]``
  overlaps: from the window of its first packet to the window of its last, both included. It
  *started* in the window of its first packet.
- Packets and bytes are *prorated*, because a conversation row has its first and last times, not
  its packets' times: its packets (bytes) are shared out among the windows it is open in, in
  proportion to the time it spent in each, as if they came at an even rate from its first packet
  to its last (SiLK's rwcount calls this the time-proportional load scheme). Shares are whole
  numbers that add up exactly to the conversation's total: with ``N`` packets, ``D = last_seen -
  first_seen`` and ``before(t) = floor(N * (t - first_seen) / D)``, the window ``[a, b)`` gets
  ``before(min(b, last_seen)) - before(max(a, first_seen))``, and the last window takes the
  rounding remainder (``before(last_seen) = N``). A conversation that lasted no time puts all of
  them in its one window. Summed over the windows, a port's prorated packets and bytes are its
  ``packets`` and ``bytes`` in the per-port summary.
- A row for every window in which the port had a conversation open (no rows of zeros), sorted by
  ``window_start``, then protocol name, then port.

The work is proportional to the (conversation, window) pairs: long conversations in short windows
cost more, and more than :data:`MAX_WINDOW_PAIRS` pairs are refused with a clear error.
:func:`open_over_time` gives the exact number of conversations open at each instant instead,
whose highest value is the per-port summary's ``peak_concurrent``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pcapflow.errors import OptionsError

if TYPE_CHECKING:
    import pandas as pd

#: Most (conversation, window) pairs one timeline may take (some seconds of work).
MAX_WINDOW_PAIRS = 50_000_000
#: (conversation, window) pairs worked on at a time, so that memory stays small.
_PAIRS_PER_SLICE = 1 << 22
_INT64_MAX = np.iinfo(np.int64).max


def window_ns(freq: object) -> int:
    """The length in nanoseconds of windows of ``freq`` (``"1min"``, ``"10s"``, a timedelta...)."""
    import pandas as pd

    try:
        width = pd.Timedelta(freq)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        width = pd.NaT
    if pd.isna(width) or width.value <= 0:
        raise OptionsError(f"freq must be a positive length of time such as 10s, 1min or 1h, not {freq!r}")
    return int(width.value)


def nanoseconds(times: pd.Series) -> np.ndarray:
    """A column of timestamps as int64 nanoseconds since the epoch, whatever its unit."""
    return times.dt.as_unit("ns").to_numpy(np.int64)


def _scaled_floor(total: np.ndarray, part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """floor(total * part / whole), exactly, for 0 <= part <= whole and whole > 0."""
    out = np.zeros(len(total), dtype=np.int64)
    fits = total <= _INT64_MAX // np.maximum(part, 1)
    out[fits] = total[fits] * part[fits] // whole[fits]
    big = np.flatnonzero(~fits)  # products past int64: Python's integers, for the few that need them
    out[big] = [t * p // w for t, p, w in zip(total[big].tolist(), part[big].tolist(), whole[big].tolist())]
    return out


def _sum_by_key(key: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys, sorted, and each one's sums of ``values`` (a row per kind, a column per key)."""
    order = np.argsort(key, kind="stable")
    key, values = key[order], values[:, order]
    starts = np.flatnonzero(np.diff(key, prepend=key[:1] - 1))
    return key[starts], np.add.reduceat(values, starts, axis=1)


def _window_sums(first: np.ndarray, last: np.ndarray, group: np.ndarray, amounts: np.ndarray, width: int, groups: int):
    """Per (window, group): conversations started and open, and the prorated ``amounts`` (one
    row per kind of amount). Keys are ``window * groups + group``, windows counted from 0."""
    first_window, last_window = first // width, last // width
    origin = int(first_window.min())
    spans = last_window - first_window + 1
    pairs = int(spans.sum())
    if pairs > MAX_WINDOW_PAIRS:
        raise OptionsError(f"freq is too short for this capture: {pairs:,} (conversation, window) pairs, more than {MAX_WINDOW_PAIRS:,}; choose longer windows")
    ends = np.cumsum(spans)
    cuts = np.searchsorted(ends, np.arange(_PAIRS_PER_SLICE, pairs, _PAIRS_PER_SLICE), side="right")
    keys, sums = [], []
    for rows in np.split(np.arange(len(first)), cuts):
        conversation = np.repeat(rows, spans[rows])
        block_starts = np.cumsum(spans[rows]) - spans[rows]  # where each conversation's windows begin in the slice
        window = first_window[conversation] + np.arange(len(conversation)) - np.repeat(block_starts, spans[rows])
        start, end = first[conversation], last[conversation]
        duration = np.maximum(end - start, 1)
        is_first, is_last = window == first_window[conversation], window == last_window[conversation]
        inner_start = np.clip(window * width - start, 0, None)
        inner_end = np.clip((window + 1) * width - start, None, end - start)
        columns = [is_first.astype(np.int64), np.ones(len(window), dtype=np.int64)]
        for total in amounts[:, conversation]:
            before_end = np.where(is_last, total, _scaled_floor(total, inner_end, duration))
            before_start = np.where(is_first, 0, _scaled_floor(total, inner_start, duration))
            columns.append(before_end - before_start)
        key, summed = _sum_by_key((window - origin) * groups + group[conversation], np.vstack(columns))
        keys.append(key)
        sums.append(summed)
    key, summed = _sum_by_key(np.concatenate(keys), np.hstack(sums))
    return key // groups + origin, key % groups, summed


def summarize_windows(conversations: pd.DataFrame, freq: object = "1min") -> pd.DataFrame:
    """One row per (window, protocol, server port) of a conversations frame; see the module docstring."""
    import pandas as pd

    from pcapflow.schema import TIMELINE_COLUMNS, UTC_NS, typed_frame

    width = window_ns(freq)
    if conversations.empty:
        return typed_frame({spec.name: [] for spec in TIMELINE_COLUMNS}, TIMELINE_COLUMNS)
    protocol = conversations["protocol"].astype(str).to_numpy()
    port = conversations["server_port"].to_numpy()
    # groups numbered in order of (protocol name, port), so that sorting keys sorts the rows
    group, ports = pd.factorize(pd.MultiIndex.from_arrays([protocol, port]), sort=True)
    amounts = np.vstack([conversations["packets"].to_numpy(np.int64), conversations["bytes"].to_numpy(np.int64)])
    window, row_group, summed = _window_sums(
        nanoseconds(conversations["first_seen"]), nanoseconds(conversations["last_seen"]), group, amounts, width, len(ports))
    first_of_group = np.zeros(len(ports), dtype=np.int64)
    first_of_group[group[::-1]] = np.arange(len(group))[::-1]
    service = conversations["service"].to_numpy(dtype=object)[first_of_group][row_group]
    columns = {
        "window_start": pd.to_datetime(window * width, unit="ns", utc=True).astype(UTC_NS),
        "protocol": ports.get_level_values(0).to_numpy()[row_group],
        "server_port": ports.get_level_values(1).to_numpy()[row_group],
        "service": np.where(pd.isna(service), None, service),
        "conversations_started": summed[0],
        "conversations_open": summed[1],
        "prorated_packets": summed[2],
        "prorated_bytes": summed[3],
    }
    return typed_frame(columns, TIMELINE_COLUMNS)


def open_over_time(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How many of the intervals ``[first, last]`` (ns) are open from each instant on.

    Returns the instants where the count changes (sorted, ns) and the count from each of them
    until the next. A conversation is open from its first packet to its last, both included: it
    closes 1 ns after its last packet, so one that ends where another starts overlaps it (as in
    ``peak_concurrent``, which is the highest count).
    """
    times = np.concatenate([np.asarray(first, dtype=np.int64), np.asarray(last, dtype=np.int64) + 1])
    steps = np.concatenate([np.ones(len(first), dtype=np.int64), -np.ones(len(last), dtype=np.int64)])
    order = np.argsort(times, kind="stable")
    times, running = times[order], np.cumsum(steps[order])
    change = np.flatnonzero(np.diff(times, append=times[-1:] + 1))  # the count after the last event at each instant
    return times[change], running[change]
