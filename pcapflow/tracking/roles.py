"""Client and server: which endpoint of each conversation is which, and the evidence used.

First rule that applies (recorded in ``role_basis``):

1. ``syn``: the sender of the first SYN without ACK is the client;
2. ``syn_ack``: the sender of the first SYN+ACK is the server;
3. ``port``: the endpoint with the stronger service evidence is the server. A port below 1024
   (well known) beats one from 1024 to 49151 (registered range), which beats a dynamic one
   (49152 and up). For ICMP the "ports" are message types: the sender of a request type
   (echo request, timestamp request...) is the client;
4. ``first_packet``: otherwise the destination of the first packet is the server.

Input: the flow table's columns (:data:`~pcapflow.tracking.columns.FLOW_COLUMNS`) and the
ranks of their letters (:func:`~pcapflow.tracking.history.letter_ranks`).
"""

from __future__ import annotations

import numpy as np

from pcapflow.protocols import ICMP_REQUESTS, IPPROTO_ICMP, IPPROTO_ICMPV6
from pcapflow.tracking.history import NOT_SEEN, slot

ROLE_BASES = ("syn", "syn_ack", "port", "first_packet")


def port_rank(port: np.ndarray) -> np.ndarray:
    """Strength of the evidence that a port is a server's: 2 well known, 1 registered range, 0 dynamic."""
    return np.select([port < 1024, port < 49152], [2, 1], 0)


def _is_request(proto: np.ndarray, port: np.ndarray) -> np.ndarray:
    return ((proto == IPPROTO_ICMP) & np.isin(port, ICMP_REQUESTS[IPPROTO_ICMP])) | (
        (proto == IPPROTO_ICMPV6) & np.isin(port, ICMP_REQUESTS[IPPROTO_ICMPV6])
    )


def assign_roles(rows: dict[str, np.ndarray], ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every conversation: whether endpoint A is the client, and the index into ROLE_BASES."""
    syn_a, syn_b = ranks[:, slot("syn", "a")], ranks[:, slot("syn", "b")]
    syn_ack_a, syn_ack_b = ranks[:, slot("syn_ack", "a")], ranks[:, slot("syn_ack", "b")]
    syn = (syn_a < NOT_SEEN) | (syn_b < NOT_SEEN)
    syn_ack = (syn_ack_a < NOT_SEEN) | (syn_ack_b < NOT_SEEN)
    proto = rows["proto"]
    a_request, b_request = _is_request(proto, rows["a_port"]), _is_request(proto, rows["b_port"])
    icmp = a_request != b_request
    a_rank, b_rank = port_rank(rows["a_port"]), port_rank(rows["b_port"])
    icmp_kind = (proto == IPPROTO_ICMP) | (proto == IPPROTO_ICMPV6)
    by_port = icmp | (~icmp_kind & (a_rank != b_rank))
    conditions = [syn, syn_ack, by_port]
    a_is_client = np.select(
        conditions,
        [syn_a < syn_b, syn_ack_b < syn_ack_a, np.where(icmp, a_request, a_rank < b_rank)],
        default=rows["first_sender"] == 0,
    )
    basis = np.select(conditions, [0, 1, 2], default=3)
    return a_is_client.astype(bool), basis
