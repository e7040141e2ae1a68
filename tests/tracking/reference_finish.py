"""The reference the compiled finish is checked against: the numpy rules of roles, states and
end reasons as pcapflow computed them before ``role_columns`` (pcapflow/_kernels/flowexport.pyx)
did, kept unchanged, over the flow table's A/B columns (:func:`export_columns`).

:func:`reference_columns` gives what :meth:`~pcapflow.tracking.ConversationTracker.finish`
returned for the kernel's :data:`ROLE_FIELDS`, plus ``conversation_id``. Here the rules compare
the *ranks* of the letters' first appearances (from ``history_order``), where the kernel compares
the records that first showed them: equal orders, so equal results.
"""

from __future__ import annotations

import numpy as np

from pcapflow._kernels.flowexport import ENDED, LETTER_NAMES
from pcapflow.options import AnalysisOptions
from pcapflow.protocols import ICMP_REQUESTS, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP
from pcapflow.tracking.history import _entries
from pcapflow.tracking.state import CONN_STATES

NS = 1_000_000_000
#: The rank of a letter never seen (beyond any real rank).
NOT_SEEN = np.int8(99)
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)


def reference_columns(rows: dict[str, np.ndarray], order: np.ndarray, capture_end: int, options: AnalysisOptions) -> dict[str, np.ndarray]:
    """The role-oriented columns of the conversations whose A/B columns ``rows`` are (exported in ``order``)."""
    ranks = letter_ranks(rows["history_order"])
    a_is_client, basis = assign_roles(rows, ranks)
    columns: dict[str, np.ndarray] = {
        "conversation_id": np.arange(len(order), dtype=np.int64),
        "first_record": rows["first_record"],
        "proto": rows["proto"],
        "ip_version": rows["ip_version"],
        "vlan": rows["vlan"],
        "role_basis": basis,
        "first_seen": rows["first_seen"],
        "last_seen": rows["last_seen"],
    }
    for part in ("ip_hi", "ip_lo", "port"):
        a, b = rows[f"a_{part}"], rows[f"b_{part}"]
        columns[f"client_{part}"] = np.where(a_is_client, a, b)
        columns[f"server_{part}"] = np.where(a_is_client, b, a)
    for measure in ("packets", "bytes", "ip_bytes", "payload_bytes"):
        columns[f"client_{measure}"], columns[f"server_{measure}"] = by_role(rows, measure, a_is_client)
    columns["conn_state"] = conn_states(rows, ranks, a_is_client)
    columns["client_first"] = np.where(a_is_client, rows["first_sender"] == 0, rows["first_sender"] == 1)
    columns["history_order"], columns["client_is_a"] = rows["history_order"], a_is_client
    columns["end_reason"] = end_reasons(rows, ranks, capture_end, timeout_ns(options, rows["proto"]))
    columns["app"], columns["app_basis"] = rows["app"], np.where(rows["app"] >= 0, rows["app_basis"], 0)
    columns["tunnel"], columns["tunnel_id"], columns["is_tunnel"] = rows["tunnel"], rows["tunnel_id"], rows["is_tunnel"]
    columns["parent_id"] = _positions(rows["parent"], order)
    return columns


def timeout_ns(options: AnalysisOptions, proto: np.ndarray) -> np.ndarray:
    """The idle timeout, in ns, of each protocol number."""
    o = options
    seconds = np.select([proto == IPPROTO_TCP, proto == IPPROTO_UDP], [o.tcp_idle_timeout, o.udp_idle_timeout], o.other_idle_timeout)
    return (seconds * NS).astype(np.int64)


def _positions(indexes: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Where the conversations of flow-table ``indexes`` are in ``order`` (-1 stays -1)."""
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order), dtype=np.int64)
    return np.where(indexes >= 0, position[np.maximum(indexes, 0)], -1) if len(order) else indexes


def slot(letter: str, side: str) -> int:
    """The column of ``letter`` (a name of LETTER_NAMES) sent by endpoint ``side`` ("a" or "b")."""
    return LETTER_NAMES.index(letter) * 2 + "ab".index(side)


def letter_ranks(history_order: np.ndarray) -> np.ndarray:
    """(conversations, 12) int8: the rank of each letter's first appearance (columns by
    :func:`slot`), NOT_SEEN where it never showed."""
    codes, inverse = np.unique(history_order, return_inverse=True)
    table = np.full((len(codes), 2 * len(LETTER_NAMES)), NOT_SEEN, dtype=np.int8)
    for row, code in enumerate(codes.tolist()):
        rank = -1
        for column, tie in _entries(code):
            rank += not tie
            table[row, column] = rank
    return table[inverse.reshape(-1)]


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


def by_role(rows: dict[str, np.ndarray], name: str, a_is_client: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(client's, server's) value of a per-endpoint column ``name`` + "_a"/"_b"."""
    a, b = rows[name + "_a"], rows[name + "_b"]
    return np.where(a_is_client, a, b), np.where(a_is_client, b, a)


def _endpoint_states(seen: dict[str, tuple[np.ndarray, np.ndarray]], packets) -> tuple[np.ndarray, np.ndarray]:
    o_syn, r_syn = seen["syn"]
    o_synack, r_synack = seen["syn_ack"]
    handshake = (o_syn | o_synack) & r_synack
    orig = np.select(
        [seen["rst"][0], seen["fin"][0], handshake, o_syn, o_synack, packets[0] > 0],
        [RESET, CLOSED, ESTABLISHED, SYN_SENT, SYN_ACK_SENT, PARTIAL],
        INACTIVE,
    )
    resp = np.select(
        [seen["rst"][1], seen["fin"][1], handshake, r_synack, r_syn, packets[1] > 0],
        [RESET, CLOSED, ESTABLISHED, SYN_ACK_SENT, SYN_SENT, PARTIAL],
        INACTIVE,
    )
    return orig, resp


def _ranks_by_role(ranks: np.ndarray, letter: str, a_is_client: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = ranks[:, slot(letter, "a")], ranks[:, slot(letter, "b")]
    return np.where(a_is_client, a, b), np.where(a_is_client, b, a)


def conn_states(rows: dict[str, np.ndarray], ranks: np.ndarray, a_is_client: np.ndarray) -> np.ndarray:
    """Zeek ``conn_state`` code (index into :data:`CONN_STATES`) of every conversation."""
    first = {letter: _ranks_by_role(ranks, letter, a_is_client) for letter in LETTER_NAMES}
    seen = {letter: (first[letter][0] < NOT_SEEN, first[letter][1] < NOT_SEEN) for letter in LETTER_NAMES}
    packets = by_role(rows, "packets", a_is_client)
    payload = by_role(rows, "payload_bytes", a_is_client)
    orig, resp = _endpoint_states(seen, packets)
    o_inactive = (orig == INACTIVE) | (orig == PARTIAL)
    r_inactive = (resp == INACTIVE) | (resp == PARTIAL)
    # Zeek's /^?S[^HAFGIQ]*R/: the client's SYN, then its RST, with no handshake, ACK or FIN between
    o_syn_then_rst = seen["syn"][0] & (first["rst"][0] > first["syn"][0]) & ~seen["syn_ack"][0] & (
        np.minimum(first["ack"][0], first["fin"][0]) > first["rst"][0]
    )
    state = CONN_STATES.index
    tcp = np.select(
        [
            resp == RESET,
            orig == RESET,
            (orig == CLOSED) & (resp == CLOSED),
            orig == CLOSED,
            resp == CLOSED,
            (orig == SYN_SENT) & (resp == INACTIVE),
            (orig == ESTABLISHED) & (resp == ESTABLISHED),
        ],
        [
            np.select(
                [np.isin(orig, (SYN_SENT, SYN_ACK_SENT)) | ((orig == RESET) & (payload[0] == 0) & (payload[1] == 0)), o_inactive],
                [state("REJ"), state("RSTRH")],
                state("RSTR"),
            ),
            np.where(r_inactive, np.where(o_syn_then_rst, state("RSTOS0"), state("OTH")), state("RSTO")),
            state("SF"),
            np.where(r_inactive, state("SH"), state("S2")),
            np.where(o_inactive, state("SHR"), state("S3")),
            state("S0"),
            state("S1"),
        ],
        state("OTH"),
    )
    udp = np.select([(packets[0] > 0) & (packets[1] > 0), packets[0] > 0, packets[1] > 0], [state("SF"), state("S0"), state("SHR")], state("OTH"))
    proto = rows["proto"]
    return np.select([proto == IPPROTO_TCP, proto == IPPROTO_UDP], [tcp, udp], state("OTH"))


def end_reasons(rows: dict[str, np.ndarray], ranks: np.ndarray, capture_end_ns: int, timeout_ns: np.ndarray) -> np.ndarray:
    """Index into :data:`END_REASONS` of every conversation."""
    rst = (ranks[:, slot("rst", "a")] < NOT_SEEN) | (ranks[:, slot("rst", "b")] < NOT_SEEN)
    fin = (ranks[:, slot("fin", "a")] < NOT_SEEN) & (ranks[:, slot("fin", "b")] < NOT_SEEN)
    reuse = rows["ended_by"] == ENDED["reuse"]
    idle = (rows["ended_by"] == ENDED["idle"]) | (~reuse & (capture_end_ns - rows["last_seen"] > timeout_ns))
    return np.select([rst, fin, reuse, idle], [1, 0, 2, 3], 4)
