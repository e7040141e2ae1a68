"""Per-port summary: conversations in, one row per (protocol, server port) out.

``summarize_ports(conversations)`` counts, for every server port, the distinct socket
conversations it carried, the distinct clients, client sockets and servers, packets and bytes,
the time span, the most conversations open at one instant (``peak_concurrent``: a conversation
is open from its first to its last packet, both included) and the outcomes:
``established`` (TCP conn_state S1, S2, S3, SF, RSTO or RSTR: the handshake completed; UDP
SF: both sides sent), ``rejected`` (REJ) and ``unanswered`` (S0: the client got no reply).
Rows are sorted by conversations, then bytes (both descending), then protocol and port.

The counting itself (:func:`port_rows`) works on numpy columns, so that the terminal summary of
``pcapflow analyze`` needs no DataFrame; :func:`summarize_ports` is its DataFrame face.
Input of :func:`port_rows`, one entry per conversation: ``protocol`` (codes into
``protocol_names``), ``server_port``, ``client_ip_hi``/``client_ip_lo`` and
``server_ip_hi``/``server_ip_lo`` (uint64 pairs, equal for equal addresses: an address's two
halves, or any number per address in ``_lo`` with ``_hi`` 0), ``client_port``,
``client_packets``/``server_packets``, ``client_bytes``/``server_bytes``, ``first_seen``/
``last_seen`` (ns), ``conn_state`` (codes into :data:`~pcapflow.tracking.state.CONN_STATES`) and, with payload inspection, ``app`` (codes into
:data:`~pcapflow.apps.APP_NAMES`, -1 for none: then the rows have ``app``, ``app_share`` and
``mismatched``, see :func:`~pcapflow.apps.port_app_rows`). Output: the :data:`~pcapflow.schema.PORT_COLUMNS`
as numpy arrays (text as objects, None where there is no name; times in ns).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from pcapflow._kernels.grouping import distinct_per_group
from pcapflow.apps import port_app_rows
from pcapflow.protocols import protocol_names
from pcapflow.services import ServiceTable, default_services, protocol_positions
from pcapflow.tracking.state import CONN_STATES

if TYPE_CHECKING:
    import pandas as pd

ESTABLISHED_TCP = ("S1", "S2", "S3", "SF", "RSTO", "RSTR")
#: Per conn_state code, whether it says the handshake completed; last, False for code -1 (a
#: frame's missing state).
_HANDSHAKE_DONE = np.isin(np.arange(len(CONN_STATES) + 1), [CONN_STATES.index(code) for code in ESTABLISHED_TCP])
_PORT_SPACE = 1 << 16
_NO_PORTS = np.zeros(0, dtype=np.uint16)  # distinct_per_group's values without their port


def _peak_concurrent(group: np.ndarray, first: np.ndarray, last: np.ndarray, groups: int) -> np.ndarray:
    """Most intervals [first, last] of each group (0 to ``groups`` - 1, each holding one at
    least) that contain one instant."""
    if not len(group):
        return np.zeros(groups, dtype=np.int64)
    # each opening and closing as one integer, sorted once: (group, time, closing?), so that
    # within a group openings come before closings at equal times (intervals that touch overlap)
    origin = int(first.min())
    time_bits = max(1, (int(last.max()) - origin).bit_length())
    opened, closed = first - origin, last - origin
    if time_bits + max(1, groups.bit_length()) + 1 > 63:  # a span of centuries: the times' ranks instead
        times = np.concatenate([opened, closed])
        order = np.argsort(times)
        rank = np.empty(len(times), dtype=np.int64)
        rank[order] = np.cumsum(np.diff(times[order], prepend=times[order[:1]]) != 0)
        time_bits = max(1, int(rank.max()).bit_length())
        opened, closed = rank[:len(first)], rank[len(first):]
    owner = group.astype(np.int64) << (time_bits + 1)
    events = np.concatenate([owner | (opened << 1), owner | (closed << 1) | 1])
    events.sort()
    # every group's openings and closings cancel out, so a running sum restarts at 0 in each
    # group, whose events start where the groups before it end
    running = np.cumsum(1 - 2 * (events & 1))
    starts = np.concatenate([[0], np.cumsum(2 * np.bincount(group, minlength=groups))[:-1]])
    return np.maximum.reduceat(running, starts)


def port_rows(conversations: Mapping[str, np.ndarray], protocol_names: list[str], services: ServiceTable | None = None) -> dict[str, np.ndarray]:
    """The per-port summary of conversations given as numpy columns; see the module docstring."""
    services = services or default_services()
    column = {name: np.asarray(values) for name, values in conversations.items()}
    # protocols ranked by name, so that groups come out by protocol name, then port
    by_name = sorted(protocol_names)
    names = np.array(by_name, dtype=object)
    rank_of_code = np.array([by_name.index(name) for name in protocol_names] or [0], dtype=np.int64)
    rank = rank_of_code[column["protocol"].astype(np.int64)]
    key = rank * _PORT_SPACE + column["server_port"].astype(np.int64)
    # the keys present, and each conversation's group among them, by a table of every possible
    # key (a few protocols times 65,536 ports): no sort
    present = np.bincount(key, minlength=len(names) * _PORT_SPACE) > 0
    keys = np.flatnonzero(present)
    group = (np.cumsum(present) - 1)[key]
    groups = len(keys)
    # every group's conversations side by side, each group a run starting at starts[g]
    # (a stable sort of 16-bit keys is a radix sort, several times faster than one of int64s)
    by_group = np.argsort(group.astype(np.uint16) if groups <= _PORT_SPACE else group, kind="stable")
    starts = np.searchsorted(group[by_group], np.arange(groups))

    def reduce(ufunc: np.ufunc, values: np.ndarray) -> np.ndarray:
        return ufunc.reduceat(values.astype(np.int64)[by_group], starts) if groups else np.zeros(0, dtype=np.int64)

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(group[mask], minlength=groups).astype(np.int64)

    conn_state = column["conn_state"]
    protocol = names[keys // _PORT_SPACE]
    server_port = (keys % _PORT_SPACE).astype(np.uint16)
    is_tcp, is_udp = (protocol == "tcp")[group], (protocol == "udp")[group]
    state = {code: conn_state == CONN_STATES.index(code) for code in ("SF", "REJ", "S0")}
    handshake_done = _HANDSHAKE_DONE[conn_state]
    client_hi, client_lo, server_hi, server_lo = (np.ascontiguousarray(column[f"{side}_ip_{half}"], dtype=np.uint64)
                                                  for side in ("client", "server") for half in ("hi", "lo"))
    client_bytes, server_bytes = reduce(np.add, column["client_bytes"]), reduce(np.add, column["server_bytes"])
    service, description = services.describe(protocol_positions(protocol.tolist()), server_port)
    rows = {
        "protocol": protocol,
        "server_port": server_port,
        "service": service,
        "description": description,
        "conversations": count(np.ones(len(group), dtype=bool)),
        "clients": distinct_per_group(group, client_hi, client_lo, _NO_PORTS, groups),
        "client_sockets": distinct_per_group(group, client_hi, client_lo, np.ascontiguousarray(column["client_port"], dtype=np.uint16), groups),
        "servers": distinct_per_group(group, server_hi, server_lo, _NO_PORTS, groups),
        "packets": reduce(np.add, column["client_packets"]) + reduce(np.add, column["server_packets"]),
        "bytes": client_bytes + server_bytes,
        "client_bytes": client_bytes,
        "server_bytes": server_bytes,
        "first_seen": reduce(np.minimum, column["first_seen"]),
        "last_seen": reduce(np.maximum, column["last_seen"]),
        "peak_concurrent": _peak_concurrent(group, column["first_seen"], column["last_seen"], groups),
        "established": count((is_tcp & handshake_done) | (is_udp & state["SF"])),
        "rejected": count(state["REJ"]),
        "unanswered": count(state["S0"]),
    }
    if "app" in column:  # payload inspection's
        rows.update(port_app_rows(group, groups, column["app"], service))
    order = np.lexsort((server_port, keys // _PORT_SPACE, -rows["bytes"], -rows["conversations"]))
    return {name: values[order] for name, values in rows.items()}


def summarize_columns(columns: Mapping[str, np.ndarray], services: ServiceTable | None = None) -> dict[str, np.ndarray]:
    """:func:`port_rows` of the conversations a tracker finished (its columns, see
    :mod:`pcapflow.tracking`)."""
    if not columns:
        columns = {name: np.zeros(0, dtype=np.int64) for name in _TRACKER_INPUTS}
    protocol, names = protocol_names(columns["proto"])
    inputs = {name: columns[name] for name in (*_TRACKER_INPUTS, "app") if name != "proto" and name in columns}
    inputs["protocol"] = protocol
    return port_rows(inputs, names, services)


_TRACKER_INPUTS = (
    "proto", "server_port", "client_port", "client_ip_hi", "client_ip_lo", "server_ip_hi", "server_ip_lo",
    "client_packets", "server_packets", "client_bytes", "server_bytes", "first_seen", "last_seen", "conn_state",
)


def summarize_ports(conversations: pd.DataFrame, services: ServiceTable | None = None) -> pd.DataFrame:
    """One row per (protocol, server_port) of a conversations frame; see the module docstring.

    ``service`` and ``description`` come from ``services`` (default: the bundled IANA table).
    """
    import pandas as pd

    from pcapflow.apps import APP_NAMES
    from pcapflow.schema import ports_frame

    protocol = pd.Categorical(conversations["protocol"].astype(str))
    no_high_half = np.zeros(len(conversations), dtype=np.uint64)
    columns = {
        "protocol": protocol.codes,
        "client_ip_hi": no_high_half,
        "client_ip_lo": pd.factorize(conversations["client_ip"])[0].astype(np.uint64),
        "server_ip_hi": no_high_half,
        "server_ip_lo": pd.factorize(conversations["server_ip"])[0].astype(np.uint64),
        "first_seen": conversations["first_seen"].to_numpy("int64"),
        "last_seen": conversations["last_seen"].to_numpy("int64"),
        "conn_state": pd.Categorical(conversations["conn_state"], categories=CONN_STATES).codes,
        **{name: conversations[name].to_numpy() for name in (
            "server_port", "client_port", "client_packets", "server_packets", "client_bytes", "server_bytes")},
    }
    if "app" in conversations:
        columns["app"] = pd.Categorical(conversations["app"], categories=APP_NAMES).codes
    return ports_frame(port_rows(columns, list(protocol.categories), services))
