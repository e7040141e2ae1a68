"""Zeek's ``conn_state`` and ``history``, and pcapflow's ``end_reason``, from conversation aggregates.

``conn_state`` follows Zeek's decision rules (``conn_state`` in Zeek's ``base/protocols/conn``):
each side's final TCP state is derived from what it sent (RESET after a RST, CLOSED after a FIN,
ESTABLISHED once a SYN was answered by a SYN-ACK, SYN_SENT/SYN_ACK_SENT before that, PARTIAL for traffic
without a handshake, INACTIVE when silent), then the first matching rule gives the code. UDP:
SF when both sides sent, S0 when only the client did, SHR when only the server did. Other
protocols: OTH.

``history`` uses Zeek's letters s h a d f r (upper case: sent by the client) in order of first
appearance, each at most once per direction, and starts with ``^`` when the client did not send
the first packet. ``end_reason``: ``rst`` (a RST was seen), ``fin`` (both sides sent a FIN),
``reuse`` (a new SYN started another conversation on the same key), ``idle_timeout`` (no packet
for longer than the timeout before the next one or before the end of the capture), otherwise
``end_of_capture``.

Input: the flow table's columns (:data:`~pcapflow.tracking.columns.FLOW_COLUMNS`) and the
ranks of their letters (:func:`~pcapflow.tracking.history.letter_ranks`); the history strings
themselves are :func:`~pcapflow.tracking.history.histories`.
"""

from __future__ import annotations

import numpy as np

from pcapflow._kernels.flowexport import ENDED, LETTER_NAMES
from pcapflow.protocols import IPPROTO_TCP, IPPROTO_UDP
from pcapflow.tracking.history import NOT_SEEN, slot

END_REASONS = ("fin", "rst", "reuse", "idle_timeout", "end_of_capture")
CONN_STATES = ("S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH")

INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)


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
