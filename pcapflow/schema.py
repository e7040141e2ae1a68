"""The columns of every DataFrame pcapflow returns: names, order, dtypes and meanings.

Frames are built in one place, :func:`packets_frame`, from the stage's numpy columns, with the
dtypes declared here, never inferred; a frame with zero rows has the same columns and dtypes.
The descriptions are the README's column reference (a test keeps the two equal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pcapflow.addresses import format_addresses
from pcapflow.decode.table import NO_VLAN, DecodeStatus, PacketTable

UTC_NS = pd.DatetimeTZDtype("ns", "UTC")
STATUS_DTYPE = pd.CategoricalDtype([status.name for status in DecodeStatus])


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
)


def _typed(columns: dict[str, object], specs: tuple[ColumnSpec, ...]) -> pd.DataFrame:
    frame = pd.DataFrame({spec.name: columns[spec.name] for spec in specs})
    return frame.astype({spec.name: spec.dtype for spec in specs})


def packets_frame(table: PacketTable) -> pd.DataFrame:
    """The packets DataFrame (columns :data:`PACKET_COLUMNS`) of a packet table."""
    columns: dict[str, object] = {name: getattr(table, name) for name in table.column_names()}
    columns["ts"] = pd.to_datetime(table.ts_ns, unit="ns", utc=True)
    columns["status"] = pd.Categorical.from_codes(
        _status_codes(table.status), dtype=STATUS_DTYPE
    )
    columns["vlan_id"] = pd.array(table.vlan_id, dtype="UInt16")
    columns["vlan_id"][table.vlan_id == NO_VLAN] = pd.NA
    columns["src_ip"] = format_addresses(table.src_ip_hi, table.src_ip_lo, table.ip_version)
    columns["dst_ip"] = format_addresses(table.dst_ip_hi, table.dst_ip_lo, table.ip_version)
    return _typed(columns, PACKET_COLUMNS)


def _status_codes(status: np.ndarray) -> np.ndarray:
    """Positions of status values in :data:`STATUS_DTYPE`'s categories."""
    positions = np.zeros(256, dtype=np.int8)
    positions[[member.value for member in DecodeStatus]] = np.arange(len(DecodeStatus))
    return positions[status]
