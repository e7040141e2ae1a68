"""Zeek's ``conn_state`` and ``history``, and pcapflow's ``end_reason``, from conversation aggregates.

``conn_state`` follows Zeek's decision rules (``conn_state`` in Zeek's ``base/protocols/conn``).
For TCP, each endpoint's final state comes from what it sent, the first that applies: RESET (it
sent a RST), CLOSED (a FIN), ESTABLISHED (the client sent a SYN or a SYN-ACK and the server a
SYN-ACK), then for the client SYN_SENT (a SYN) before SYN_ACK_SENT (a SYN-ACK) and for the
server the other way round, PARTIAL (it sent packets without a handshake), INACTIVE (silent).
An endpoint is *inactive* below when INACTIVE or PARTIAL. Then the first rule that applies:

- the server RESET: ``REJ`` when the client is SYN_SENT or SYN_ACK_SENT, or RESET with no payload
  from either side; ``RSTRH`` when the client is inactive; else ``RSTR``;
- the client RESET: ``RSTO`` when the server is not inactive; else ``RSTOS0`` when the client's
  letters match Zeek's ``^?S[^HAFGIQ]*R`` (its SYN, later its RST, no SYN-ACK from it, and its
  first ACK and first FIN, if any, after the RST), else ``OTH``;
- both CLOSED: ``SF``; the client CLOSED: ``SH`` when the server is inactive, else ``S2``; the
  server CLOSED: ``SHR`` when the client is inactive, else ``S3``;
- the client SYN_SENT and the server INACTIVE: ``S0``; both ESTABLISHED: ``S1``; else ``OTH``.

UDP: ``SF`` when both sides sent, ``S0`` when only the client did, ``SHR`` when only the server
did. Other protocols: ``OTH``. "First", "later" and "after" compare the records that first
showed each letter.

``history`` uses Zeek's letters s h a d f r (upper case: sent by the client) in order of first
appearance, each at most once per direction, and starts with ``^`` when the client did not send
the first packet. ``end_reason``: ``rst`` (a RST was seen), ``fin`` (both sides sent a FIN),
``reuse`` (a new SYN started another conversation on the same key), ``idle_timeout`` (no packet
for longer than the timeout before the next one or before the end of the capture), otherwise
``end_of_capture``; the first of these that applies.

The rules are applied by the compiled kernel that orients the tracker's columns (``role_columns``
in ``pcapflow/_kernels/flowexport.pyx``), from what the flow table keeps per conversation: the
record that first showed each letter from each endpoint, packets and payload bytes per
endpoint, what ended it when a later packet of its key did, and its latest timestamp. The
history strings themselves are :func:`~pcapflow.tracking.history.histories`.
"""

from __future__ import annotations

from pcapflow._kernels.constants import ConnState, EndReason

#: What ``end_reason`` codes name, in code order.
END_REASONS = tuple(reason.name.removeprefix("REASON_").lower() for reason in EndReason)
#: What ``conn_state`` codes name (Zeek's), in code order.
CONN_STATES = tuple(state.name.removeprefix("CONN_") for state in ConnState)
