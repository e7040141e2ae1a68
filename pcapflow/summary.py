"""Per-port summary: conversations in, one row per (protocol, server port) out.

``summarize_ports(conversations)`` counts, for every server port, the distinct socket
conversations it carried, the distinct clients, client sockets and servers, packets and bytes,
the time span, the most conversations open at one instant (``peak_concurrent``: a conversation
is open from its first to its last packet, both included) and the outcomes:
``established`` (TCP conn_state S1, S2, S3, SF, RSTO or RSTR: the handshake completed; UDP
SF: both sides sent), ``rejected`` (REJ) and ``unanswered`` (S0: the client got no reply).
Rows are sorted by conversations, then bytes (both descending), then protocol and port.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pcapflow.schema import PORT_COLUMNS, typed_frame
from pcapflow.services import ServiceTable, default_services

ESTABLISHED_TCP = ("S1", "S2", "S3", "SF", "RSTO", "RSTR")


def _peak_concurrent(group: np.ndarray, first: np.ndarray, last: np.ndarray, groups: int) -> np.ndarray:
    """Most intervals [first, last] of each group that contain one instant."""
    times = np.concatenate([first, last])
    steps = np.concatenate([np.ones(len(first), np.int64), -np.ones(len(last), np.int64)])
    owners = np.concatenate([group, group])
    # at equal times, openings come before closings: intervals touching at an instant overlap
    order = np.lexsort((-steps, times, owners))
    steps, owners = steps[order], owners[order]
    # every group's openings and closings cancel out, so a running sum restarts at 0 in each group
    running = np.cumsum(steps)
    peak = np.zeros(groups, dtype=np.int64)
    np.maximum.at(peak, owners, running)
    return peak


def summarize_ports(conversations: pd.DataFrame, services: ServiceTable | None = None) -> pd.DataFrame:
    """One row per (protocol, server_port) of a conversations frame; see the module docstring.

    ``service`` and ``description`` come from ``services`` (default: the bundled IANA table).
    """
    if conversations.empty:
        return typed_frame({spec.name: [] for spec in PORT_COLUMNS}, PORT_COLUMNS)
    frame = conversations.assign(
        protocol=conversations["protocol"].astype(str),
        established=((conversations["protocol"] == "tcp") & conversations["conn_state"].isin(ESTABLISHED_TCP))
        | ((conversations["protocol"] == "udp") & (conversations["conn_state"] == "SF")),
        rejected=conversations["conn_state"] == "REJ",
        unanswered=conversations["conn_state"] == "S0",
        client_socket=conversations["client_ip"] + "|" + conversations["client_port"].astype(str),
    )
    grouped = frame.groupby(["protocol", "server_port"], sort=True, observed=True)
    ports = grouped.agg(
        conversations=("conversation_id", "size"),
        clients=("client_ip", "nunique"),
        client_sockets=("client_socket", "nunique"),
        servers=("server_ip", "nunique"),
        packets=("packets", "sum"),
        bytes=("bytes", "sum"),
        client_bytes=("client_bytes", "sum"),
        server_bytes=("server_bytes", "sum"),
        first_seen=("first_seen", "min"),
        last_seen=("last_seen", "max"),
        established=("established", "sum"),
        rejected=("rejected", "sum"),
        unanswered=("unanswered", "sum"),
    ).reset_index()
    ports["service"], ports["description"] = (services or default_services()).label(ports["protocol"], ports["server_port"])
    group = grouped.ngroup().to_numpy()
    ports["peak_concurrent"] = _peak_concurrent(
        group, frame["first_seen"].to_numpy("int64"), frame["last_seen"].to_numpy("int64"), len(ports)
    )
    ports = ports.sort_values(
        ["conversations", "bytes", "protocol", "server_port"], ascending=[False, False, True, True], kind="stable"
    )
    return typed_frame({spec.name: ports[spec.name].to_numpy() for spec in PORT_COLUMNS}, PORT_COLUMNS)
