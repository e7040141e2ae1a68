"""The columns of every DataFrame pcapflow returns: names, order, dtypes and meanings.

Frames are built in one place, :func:`packets_frame`, from the stage's numpy columns, with the
dtypes declared here, never inferred; a frame with zero rows has the same columns and dtypes.
The descriptions are the README's column reference (a test keeps the two equal).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pcapflow.addresses import format_addresses
from pcapflow.apps import APP_BASES, APP_NAMES, APP_VERSIONS, SERVER_NAME_SOURCES, app_frame_columns
from pcapflow.decode.table import NO_TUNNEL_ID, NO_VLAN, TUNNEL_NAMES, DecodeStatus, PacketTable
from pcapflow.protocols import protocol_names
from pcapflow.tracking.community_id import conversation_community_ids
from pcapflow.tracking.history import histories
from pcapflow.tracking.roles import ROLE_BASES
from pcapflow.tracking.state import CONN_STATES, END_REASONS

if TYPE_CHECKING:
    from pcapflow.services import ServiceTable

UTC_NS = pd.DatetimeTZDtype("ns", "UTC")
STATUS_DTYPE = pd.CategoricalDtype([status.name for status in DecodeStatus])
ROLE_BASIS_DTYPE = pd.CategoricalDtype(ROLE_BASES)
CONN_STATE_DTYPE = pd.CategoricalDtype(CONN_STATES)
APP_DTYPE = pd.CategoricalDtype(list(APP_NAMES))
APP_BASIS_DTYPE = pd.CategoricalDtype(list(APP_BASES[1:]))
SERVER_NAME_SOURCE_DTYPE = pd.CategoricalDtype(list(SERVER_NAME_SOURCES[1:]))
APP_VERSION_DTYPE = pd.CategoricalDtype(list(APP_VERSIONS))
END_REASON_DTYPE = pd.CategoricalDtype(END_REASONS)
TUNNEL_DTYPE = pd.CategoricalDtype(list(TUNNEL_NAMES))


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    name: str
    dtype: object
    description: str


PACKET_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("file_index", "uint16", "position of the record's file among the files read together (0-based)"),
    ColumnSpec("record_index", "int64", "position of the record within its file (0-based; tshark's frame number - 1)"),
    ColumnSpec("ts", UTC_NS, "capture timestamp, nanosecond resolution, UTC"),
    ColumnSpec("linktype", "uint16", "link type of the record's interface (LINKTYPE_* number)"),
    ColumnSpec("caplen", "uint32", "bytes of the packet present in the file"),
    ColumnSpec("wirelen", "uint32", "length of the frame on the wire (tshark's bytes)"),
    ColumnSpec("status", STATUS_DTYPE, "OK, or why the packet cannot be fully tracked (see Packet status)"),
    ColumnSpec("vlan_id", "UInt16", "outermost 802.1Q/802.1ad VLAN id; <NA> when untagged"),
    ColumnSpec("ip_version", "uint8", "4 or 6; 0 when no IP header was decoded"),
    ColumnSpec("src_ip", "string", "source IP address; <NA> when no IP header was decoded"),
    ColumnSpec("dst_ip", "string", "destination IP address; <NA> when no IP header was decoded"),
    ColumnSpec("ip_proto", "uint8", "IP protocol number of the transport (after IPv6 extension headers)"),
    ColumnSpec("ip_bytes", "uint32", "IPv4 total length, or 40 + IPv6 payload length (Zeek's ip_bytes)"),
    ColumnSpec("ip_id", "uint32", "IPv4 identification, or IPv6 fragment header identification"),
    ColumnSpec("frag_offset", "uint16", "fragment offset in bytes (0 for unfragmented and first fragments)"),
    ColumnSpec("more_fragments", "bool", "the more-fragments flag"),
    ColumnSpec("src_port", "uint16", "TCP/UDP/SCTP source port; 0 for other protocols"),
    ColumnSpec("dst_port", "uint16", "TCP/UDP/SCTP destination port; 0 for other protocols"),
    ColumnSpec("tcp_flags", "uint16", "the 9 TCP flag bits (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, ...)"),
    ColumnSpec("tcp_seq", "uint32", "TCP sequence number"),
    ColumnSpec("tcp_ack", "uint32", "TCP acknowledgement number"),
    ColumnSpec("icmp_type", "uint8", "ICMP or ICMPv6 type"),
    ColumnSpec("icmp_code", "uint8", "ICMP or ICMPv6 code"),
    ColumnSpec("payload_bytes", "uint32", "transport payload length from the header lengths (not from caplen)"),
    ColumnSpec("payload_offset", "uint32", "where a TCP or UDP payload starts in the record (0 for other packets)"),
    ColumnSpec("tunnel", TUNNEL_DTYPE, f"the innermost encapsulation opened ({', '.join(TUNNEL_NAMES)}); <NA> when untunnelled"),
    ColumnSpec("tunnel_depth", "uint8", "encapsulations opened to reach the headers shown (0 to 4)"),
    ColumnSpec("tunnel_id", "UInt32", "VNI, TEID, GRE key or PPTP call id of the innermost encapsulation; <NA> where none"),
)


CONVERSATION_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("conversation_id", "int64", "0, 1, 2... in order of each conversation's first packet"),
    ColumnSpec("protocol", "category", "transport protocol: tcp, udp, sctp, icmp, icmpv6, or another IP protocol's name"),
    ColumnSpec("ip_version", "uint8", "4 or 6"),
    ColumnSpec("client_ip", "string", "the client's IP address"),
    ColumnSpec("client_port", "uint16", "the client's port (ICMP: its message type)"),
    ColumnSpec("server_ip", "string", "the server's IP address"),
    ColumnSpec("server_port", "uint16", "the server's port (ICMP: the counterpart type, or the code of a one-way message)"),
    ColumnSpec("service", "category", "IANA service name of (protocol, server_port), or a user override; <NA> if none"),
    ColumnSpec("vlan", "UInt16", "outer VLAN id of the first packet; <NA> when untagged"),
    ColumnSpec("role_basis", ROLE_BASIS_DTYPE, "evidence that decided who the server is: syn, syn_ack, port or first_packet"),
    ColumnSpec("first_seen", UTC_NS, "timestamp of the first packet"),
    ColumnSpec("last_seen", UTC_NS, "timestamp of the last packet"),
    ColumnSpec("duration", "float64", "last_seen - first_seen, in seconds"),
    ColumnSpec("packets", "int64", "packets in both directions"),
    ColumnSpec("client_packets", "int64", "packets sent by the client"),
    ColumnSpec("server_packets", "int64", "packets sent by the server"),
    ColumnSpec("bytes", "int64", "frame bytes on the wire, both directions (tshark's bytes)"),
    ColumnSpec("client_bytes", "int64", "frame bytes sent by the client"),
    ColumnSpec("server_bytes", "int64", "frame bytes sent by the server"),
    ColumnSpec("client_ip_bytes", "int64", "IP bytes sent by the client (Zeek's orig_ip_bytes)"),
    ColumnSpec("server_ip_bytes", "int64", "IP bytes sent by the server (Zeek's resp_ip_bytes)"),
    ColumnSpec("client_payload_bytes", "int64", "transport payload bytes sent by the client, from header lengths"),
    ColumnSpec("server_payload_bytes", "int64", "transport payload bytes sent by the server, from header lengths"),
    ColumnSpec("conn_state", CONN_STATE_DTYPE, "Zeek's connection state code (TCP and UDP; OTH for other protocols)"),
    ColumnSpec("history", "string", "Zeek's history letters (upper case: client); ^ when the client did not send first"),
    ColumnSpec("end_reason", END_REASON_DTYPE, "why the conversation ended: fin, rst, reuse, idle_timeout or end_of_capture"),
    ColumnSpec("community_id", "string", "Community ID v1 flow hash (seed 0, base64)"),
    ColumnSpec("app", APP_DTYPE, "the protocol its first payload bytes show (signature table); <NA>: no payload, no match, or --no-payload"),
    ColumnSpec("app_basis", APP_BASIS_DTYPE, "which sides' payload matched app: both, client or server"),
    ColumnSpec("service_mismatch", "bool", "app is identified and is not what the server port is registered for (equivalence table)"),
    ColumnSpec("server_name", "string", "the name the client asked for: TLS or QUIC SNI, HTTP Host, else an earlier DNS answer's; <NA> if none"),
    ColumnSpec("server_name_source", SERVER_NAME_SOURCE_DTYPE, "where server_name came from: tls_sni, http_host, quic_sni or dns"),
    ColumnSpec("app_version", APP_VERSION_DTYPE, "app's version: SSLv3, TLSv1.0-1.3 (ServerHello, else ClientHello), SSH-2.0/1.99/1.5, QUICv1/v2"),
    ColumnSpec("tunnel", TUNNEL_DTYPE,
               f"the innermost encapsulation its packets came out of ({', '.join(TUNNEL_NAMES)}; see Inside tunnels); <NA> when untunnelled"),
    ColumnSpec("tunnel_id", "UInt32",
               "VNI, TEID (its first packet's), GRE key or PPTP call id (its first packet's) of that encapsulation "
               "(part of the key but for GTP-U and PPTP); <NA> where none"),
    ColumnSpec("parent_id", "Int64", "conversation_id of the carrier conversation of its first packet; <NA> when untunnelled"),
    ColumnSpec("is_tunnel", "bool", "its packets carried tunnelled packets (each such frame also counts in an inner conversation)"),
)


PORT_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("protocol", "category", "transport protocol"),
    ColumnSpec("server_port", "uint16", "the server port (ICMP: see conversations)"),
    ColumnSpec("service", "category", "IANA service name of (protocol, server_port), or a user override; <NA> if none"),
    ColumnSpec("description", "string", "IANA description of the service; <NA> if none"),
    ColumnSpec("conversations", "int64", "distinct socket conversations the port carried"),
    ColumnSpec("clients", "int64", "distinct client IP addresses"),
    ColumnSpec("client_sockets", "int64", "distinct client (IP, port) sockets"),
    ColumnSpec("servers", "int64", "distinct server IP addresses using this port"),
    ColumnSpec("packets", "int64", "packets, both directions"),
    ColumnSpec("bytes", "int64", "frame bytes on the wire, both directions"),
    ColumnSpec("client_bytes", "int64", "frame bytes sent by clients"),
    ColumnSpec("server_bytes", "int64", "frame bytes sent by servers"),
    ColumnSpec("first_seen", UTC_NS, "first packet of the port's first conversation"),
    ColumnSpec("last_seen", UTC_NS, "last packet of the port's last conversation"),
    ColumnSpec("peak_concurrent", "int64", "most conversations open at the same instant"),
    ColumnSpec("established", "int64", "conversations that got an answer (TCP handshake completed; UDP: both sides sent)"),
    ColumnSpec("rejected", "int64", "TCP connection attempts rejected (REJ)"),
    ColumnSpec("unanswered", "int64", "conversations whose client got no reply (S0)"),
    ColumnSpec("app", APP_DTYPE, "the port's most frequent identified app (payload inspection); <NA> if none"),
    ColumnSpec("app_share", "float64", "the share of the port's conversations whose app is that one"),
    ColumnSpec("mismatched", "int64", "conversations whose app contradicts the port's service (see service_mismatch)"),
)


PORT_APP_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("protocol", "category", "transport protocol"),
    ColumnSpec("server_port", "uint16", "the server port"),
    ColumnSpec("app", APP_DTYPE, "an app identified on the port"),
    ColumnSpec("conversations", "int64", "conversations of that app on the port"),
    ColumnSpec("bytes", "int64", "their frame bytes, both directions"),
)


TIMELINE_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("window_start", UTC_NS, "start of the window; windows are freq long and aligned to the Unix epoch"),
    ColumnSpec("protocol", "category", "transport protocol"),
    ColumnSpec("server_port", "uint16", "the server port (ICMP: see conversations)"),
    ColumnSpec("service", "category", "IANA service name of (protocol, server_port), or a user override; <NA> if none"),
    ColumnSpec("conversations_started", "int64", "conversations whose first packet is in the window"),
    ColumnSpec("conversations_open", "int64", "conversations whose [first_seen, last_seen] overlaps the window"),
    ColumnSpec("prorated_packets", "int64", "packets of the open conversations, each one's shared out by the time it spent in the window"),
    ColumnSpec("prorated_bytes", "int64", "frame bytes of the open conversations, each one's shared out by the time it spent in the window"),
)

def typed_frame(columns: Mapping[str, Any], specs: tuple[ColumnSpec, ...]) -> pd.DataFrame:
    # each column converted on its own and taken as it is: no second copy of the whole frame
    typed = {spec.name: pd.Series(columns[spec.name], copy=False).astype(spec.dtype) for spec in specs}
    return pd.DataFrame(typed, copy=False)


def packets_frame(table: PacketTable) -> pd.DataFrame:
    """The packets DataFrame (columns :data:`PACKET_COLUMNS`) of a packet table."""
    columns: dict[str, Any] = {name: getattr(table, name) for name in table.column_names()}
    columns["ts"] = pd.to_datetime(table.ts_ns, unit="ns", utc=True)
    columns["status"] = pd.Categorical.from_codes(
        _status_codes(table.status), dtype=STATUS_DTYPE
    )
    columns["vlan_id"] = pd.array(table.vlan_id, dtype="UInt16")
    columns["vlan_id"][table.vlan_id == NO_VLAN] = pd.NA
    columns["src_ip"] = format_addresses(table.src_ip_hi, table.src_ip_lo, table.ip_version)
    columns["dst_ip"] = format_addresses(table.dst_ip_hi, table.dst_ip_lo, table.ip_version)
    columns["tunnel"], columns["tunnel_id"] = tunnel_columns(table.tunnel, table.tunnel_id)
    return typed_frame(columns, PACKET_COLUMNS)


def tunnel_columns(tunnel: np.ndarray, tunnel_id: np.ndarray) -> tuple[pd.Categorical, pd.arrays.IntegerArray]:
    """The ``tunnel`` and ``tunnel_id`` frame columns of the codes and ids of a stage."""
    ids = pd.array(np.maximum(tunnel_id, 0).astype(np.uint32), dtype="UInt32")
    ids[np.asarray(tunnel_id) == NO_TUNNEL_ID] = pd.NA
    return pd.Categorical.from_codes(np.asarray(tunnel, dtype=np.int64) - 1, dtype=TUNNEL_DTYPE), ids


def _status_codes(status: np.ndarray) -> np.ndarray:
    """Positions of status values in :data:`STATUS_DTYPE`'s categories."""
    positions = np.zeros(256, dtype=np.int8)
    positions[[member.value for member in DecodeStatus]] = np.arange(len(DecodeStatus))
    return positions[status]


def _protocol_names(proto: np.ndarray) -> pd.Categorical:
    codes, names = protocol_names(proto)
    return pd.Categorical.from_codes(codes, categories=names)


def ports_frame(rows: dict[str, np.ndarray]) -> pd.DataFrame:
    """The per-port DataFrame (columns :data:`PORT_COLUMNS`) of :func:`pcapflow.summary.port_rows`."""
    out = dict(rows)
    out["first_seen"] = pd.to_datetime(rows["first_seen"], unit="ns", utc=True)
    out["last_seen"] = pd.to_datetime(rows["last_seen"], unit="ns", utc=True)
    for name, empty in (("app", None), ("app_share", 0.0), ("mismatched", 0)):  # without payload inspection
        out.setdefault(name, np.full(len(rows["protocol"]), empty, dtype=object if empty is None else type(empty)))
    return typed_frame(out, PORT_COLUMNS)


def conversations_frame(columns: Mapping[str, np.ndarray], services: ServiceTable, dns_answers=None) -> pd.DataFrame:
    """The conversations DataFrame (columns :data:`CONVERSATION_COLUMNS`) of the tracker's columns,
    with services labelled from ``services`` (a :class:`~pcapflow.services.ServiceTable`);
    ``dns_answers``: the whole capture's, when ``columns`` are one partition's."""
    if not columns:
        return typed_frame({spec.name: [] for spec in CONVERSATION_COLUMNS}, CONVERSATION_COLUMNS)
    version = columns["ip_version"]
    first = np.asarray(columns["first_seen"])
    last = np.asarray(columns["last_seen"])
    vlan = pd.array(columns["vlan"], dtype="UInt16")
    vlan[np.asarray(columns["vlan"]) == NO_VLAN] = pd.NA
    out: dict[str, Any] = dict(columns)
    out.update(
        protocol=_protocol_names(np.asarray(columns["proto"])),
        client_ip=format_addresses(columns["client_ip_hi"], columns["client_ip_lo"], version),
        server_ip=format_addresses(columns["server_ip_hi"], columns["server_ip_lo"], version),
        vlan=vlan,
        role_basis=pd.Categorical.from_codes(columns["role_basis"], dtype=ROLE_BASIS_DTYPE),
        first_seen=pd.to_datetime(first, unit="ns", utc=True),
        last_seen=pd.to_datetime(last, unit="ns", utc=True),
        duration=(last - first) / 1e9,
        packets=np.asarray(columns["client_packets"]) + np.asarray(columns["server_packets"]),
        bytes=np.asarray(columns["client_bytes"]) + np.asarray(columns["server_bytes"]),
        conn_state=pd.Categorical.from_codes(columns["conn_state"], dtype=CONN_STATE_DTYPE),
        end_reason=pd.Categorical.from_codes(columns["end_reason"], dtype=END_REASON_DTYPE),
    )
    out["history"] = histories(np.asarray(columns["history_order"]), np.asarray(columns["client_is_a"]), np.asarray(columns["client_first"]))
    out["service"], _ = services.label(out["protocol"], np.asarray(columns["server_port"]))
    out["community_id"] = conversation_community_ids(columns)
    out.update(app_frame_columns(columns, out["service"], dns_answers))
    out["tunnel"], out["tunnel_id"] = tunnel_columns(columns["tunnel"], columns["tunnel_id"])
    parent = pd.array(columns["parent_id"], dtype="Int64")
    parent[np.asarray(columns["parent_id"]) < 0] = pd.NA
    out["parent_id"] = parent
    return typed_frame(out, CONVERSATION_COLUMNS)
