"""The declared columns of tracking's two outputs (numpy arrays, no pandas needed).

- :data:`FLOW_COLUMNS`: what the flow table (:class:`pcapflow._kernels.flowtable.FlowTable`)
  keeps per conversation, oriented by endpoint: A is the smaller (address, then port), B the
  other, and a ``_a``/``_b`` column is what that endpoint sent.
- :data:`TRACKER_COLUMNS`: what :meth:`pcapflow.tracking.ConversationTracker.finish` returns,
  oriented by role (client, server), one entry per conversation in order of first packet. The
  conversations DataFrame (:data:`pcapflow.schema.CONVERSATION_COLUMNS`) and the per-port summary
  are made from these.

Times are int64 ns since the epoch; "record" columns number the capture's records (files
before a record's file included).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pcapflow._kernels.flowexport import FLOW_FIELDS


class ArraySpec(NamedTuple):
    name: str
    dtype: np.dtype
    description: str


_FLOW_MEANINGS = {
    "proto": "IP protocol number",
    "ip_version": "4 or 6",
    "vlan": "outer VLAN id of the first packet (0xFFFF: untagged)",
    "a_ip_hi": "endpoint A's address, high 64 bits (IPv4 stored IPv4-mapped)",
    "a_ip_lo": "endpoint A's address, low 64 bits",
    "a_port": "endpoint A's port (ICMP: message type or counterpart)",
    "b_ip_hi": "endpoint B's address, high 64 bits",
    "b_ip_lo": "endpoint B's address, low 64 bits",
    "b_port": "endpoint B's port",
    "first_sender": "who sent the first packet: 0 A, 1 B",
    "first_record": "record of the first packet",
    "first_seen": "timestamp of the first packet",
    "last_seen": "latest timestamp of its packets",
    "ended_by": "what ended it when a later packet of its key did: 0 nothing, 1 reuse (a new SYN), 2 idle",
    **{f"{measure}_{side}": f"{label} sent by {side.upper()}"
       for measure, label in (("packets", "packets"), ("bytes", "frame bytes"), ("ip_bytes", "IP bytes"),
                              ("payload_bytes", "transport payload bytes"))
       for side in "ab"},
    "history_order": "Zeek's history letters (SYN, SYN+ACK, pure ACK, data, FIN, RST) each endpoint showed, in order "
                     "of first appearance (see pcapflow.tracking.history)",
    "app": "the protocol payload inspection identified: index into pcapflow.apps.APP_NAMES, -1 for none",
    "app_basis": "which sides' payload matched: index into pcapflow.apps.APP_BASES",
    "tunnel": "the innermost encapsulation of a tunnelled conversation (constants Tunnel), 0 for none",
    "tunnel_id": "its VNI, TEID, GRE key or call id, -1 for none",
    "parent": "the flow table's index of the conversation of the carrier of its first packet, -1 for none",
    "is_tunnel": "1 when its packets carried tunnelled packets",
}

#: Per conversation, as the flow table keeps it (its export, in this order).
FLOW_COLUMNS: tuple[ArraySpec, ...] = tuple(
    ArraySpec(name, np.dtype(dtype), _FLOW_MEANINGS[name]) for name, dtype in FLOW_FIELDS
)

_ROLE_MEASURES = {"packets": "packets", "bytes": "frame bytes", "ip_bytes": "IP bytes", "payload_bytes": "transport payload bytes"}

#: Per conversation, by role, as :meth:`~pcapflow.tracking.ConversationTracker.finish` returns it.
TRACKER_COLUMNS: tuple[ArraySpec, ...] = (
    ArraySpec("conversation_id", np.dtype(np.int64), "0, 1, 2... in order of first packet"),
    ArraySpec("first_record", np.dtype(np.int64), "record of the first packet"),
    ArraySpec("proto", np.dtype(np.uint8), "IP protocol number"),
    ArraySpec("ip_version", np.dtype(np.uint8), "4 or 6"),
    ArraySpec("vlan", np.dtype(np.uint16), "outer VLAN id of the first packet (0xFFFF: untagged)"),
    ArraySpec("role_basis", np.dtype(np.int64), "index into pcapflow.tracking.roles.ROLE_BASES"),
    ArraySpec("first_seen", np.dtype(np.int64), "timestamp of the first packet"),
    ArraySpec("last_seen", np.dtype(np.int64), "latest timestamp of its packets"),
    *(ArraySpec(f"{side}_{part}", np.dtype(dtype), f"the {side}'s {meaning}")
      for side in ("client", "server")
      for part, dtype, meaning in (("ip_hi", np.uint64, "address, high 64 bits"), ("ip_lo", np.uint64, "address, low 64 bits"),
                                   ("port", np.uint16, "port"))),
    *(ArraySpec(f"{side}_{measure}", np.dtype(np.int64), f"{label} sent by the {side}")
      for measure, label in _ROLE_MEASURES.items() for side in ("client", "server")),
    ArraySpec("conn_state", np.dtype(np.int64), "index into pcapflow.tracking.state.CONN_STATES"),
    ArraySpec("client_first", np.dtype(bool), "the client sent the first packet"),
    ArraySpec("client_is_a", np.dtype(bool), "the client is the flow table's endpoint A"),
    ArraySpec("history_order", np.dtype(np.uint64), "the letters of Zeek's history, by endpoint (see pcapflow.tracking.history)"),
    ArraySpec("end_reason", np.dtype(np.int64), "index into pcapflow.tracking.state.END_REASONS"),
    ArraySpec("app", np.dtype(np.int16), "the identified protocol: index into pcapflow.apps.APP_NAMES, -1 for none"),
    ArraySpec("app_basis", np.dtype(np.uint8), "which sides matched: index into pcapflow.apps.APP_BASES"),
    ArraySpec("server_name", np.dtype(object), "the name the client asked for (str), or None"),
    ArraySpec("server_name_source", np.dtype(np.uint8), "index into pcapflow.apps.SERVER_NAME_SOURCES"),
    ArraySpec("app_version", np.dtype(object), "the app's version (one of pcapflow.apps.APP_VERSIONS), or None"),
    ArraySpec("dns_answers", np.dtype(object), "a DNS conversation's address answers (see pcapflow.dns_names), or None"),
    ArraySpec("tunnel", np.dtype(np.uint8), "the innermost encapsulation (constants Tunnel), 0 when untunnelled"),
    ArraySpec("tunnel_id", np.dtype(np.int64), "its VNI, TEID, GRE key or call id, -1 for none"),
    ArraySpec("parent_id", np.dtype(np.int64), "the conversation_id of the carrier of its first packet, -1 for none"),
    ArraySpec("is_tunnel", np.dtype(bool), "its packets carried tunnelled packets"),
)
