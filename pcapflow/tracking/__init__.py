"""Conversation tracking: :class:`~pcapflow.decode.PacketTable` batches in, one row per conversation out.

Contract
--------
:class:`ConversationTracker` takes packet batches in capture order (``add``), across files, and
``finish()`` returns the columns of the conversations table (see
:data:`pcapflow.schema.CONVERSATION_COLUMNS`) as numpy arrays, ordered by first packet,
``conversation_id`` 0, 1, 2... in that order: addresses as ``client_ip_hi``/``_lo`` and
``server_ip_hi``/``_lo`` halves, ``proto`` as the IP protocol number, times in ns, categories as
codes, plus ``first_record`` and ``client_first`` (the client sent the first packet). Columns
that only the DataFrame needs are made with it: the address text, ``protocol`` names, and
``community_id`` (:func:`~pcapflow.tracking.community_id.conversation_community_ids`, one SHA-1
per conversation), so a summary for the terminal never pays for them. Results do not depend on how the capture was cut into batches.

Conversations never share packets across pairs of IP addresses (a non-first fragment travels
between the addresses of its first fragment), so the capture can also be tracked in
*partitions*: :func:`partition_of` sends every packet of an address pair to the same one, a
tracker per partition takes that partition's packets in capture order, and :func:`combine`
merges their finished columns into exactly what one tracker over every packet returns.

A conversation is the transport protocol plus both (IP, port) endpoints, direction-free (plus the
outer VLAN with ``vlan_in_key``), split further by TCP reuse (a SYN with a new initial sequence
number) and by idle gaps longer than the protocol's timeout. Tracked records are those with
status OK, PORTS_ONLY and FRAGMENT (non-first fragments join their datagram's conversation; the
orphans are counted in ``orphan_fragments``). See :mod:`~pcapflow.tracking.roles` for who the
client is, :mod:`~pcapflow.tracking.state` for ``conn_state``, ``history`` and ``end_reason``.

Work is vectorised over each batch (sort, segment, ``reduceat``); Python loops run per
conversation at most (Community IDs), never per packet.
"""

from __future__ import annotations

import numpy as np

from pcapflow.decode.table import DecodeStatus, PacketTable
from pcapflow.options import AnalysisOptions
from pcapflow.tracking.flowtable import IPPROTO_TCP, IPPROTO_UDP, FlowTable, Packets
from pcapflow.tracking.fragments import FragmentAttributor
from pcapflow.tracking.keys import KEY_COLUMNS, canonical_keys, endpoint_ports, hash_keys
from pcapflow.tracking.roles import assign_roles
from pcapflow.tracking.state import by_role, conn_states, end_reasons, histories

__all__ = ["ConversationTracker", "TRACKER_COLUMNS", "combine", "partition_of"]

NS = 1_000_000_000
#: The packet columns tracking reads.
_TRACKING_COLUMNS = (
    "ts_ns", "wirelen", "vlan_id", "ip_version", "src_ip_hi", "src_ip_lo", "dst_ip_hi", "dst_ip_lo", "ip_proto",
    "ip_bytes", "src_port", "dst_port", "tcp_flags", "tcp_seq", "tcp_ack", "icmp_type", "icmp_code", "payload_bytes",
)
#: The packet columns a tracker reads, fragment attribution included: what a partition carries.
TRACKER_COLUMNS = tuple(dict.fromkeys(
    _TRACKING_COLUMNS + ("record_index", "status", "ip_id", "frag_offset", "more_fragments", "icmp_type", "icmp_code")
))
#: Packets gathered from decoded batches before the flow table takes them in.
FLOW_BATCH_PACKETS = 1 << 18


class ConversationTracker:
    """Folds packet batches into conversations; see the module docstring."""

    def __init__(self, options: AnalysisOptions | None = None):
        self.options = options or AnalysisOptions()
        self._flows = FlowTable(self.timeout_ns)
        self._fragments = FragmentAttributor()
        self._pending: list[Packets] = []
        self._pending_count = 0

    @property
    def orphan_fragments(self) -> int:
        return self._fragments.orphans

    def timeout_ns(self, proto: np.ndarray) -> np.ndarray:
        """The idle timeout, in ns, of each protocol number."""
        o = self.options
        seconds = np.select([proto == IPPROTO_TCP, proto == IPPROTO_UDP], [o.tcp_idle_timeout, o.udp_idle_timeout], o.other_idle_timeout)
        return (seconds * NS).astype(np.int64)

    def add(self, table: PacketTable, records_before: int = 0) -> None:
        """Track the packets of one batch (batches must come in capture order).

        ``records_before`` is the number of records of the files before the batch's file, so
        that ``records_before + record_index`` numbers the records of the whole capture.
        """
        tracked = self._fragments.attribute(table, table.status < DecodeStatus.NOT_IP)
        rows = np.flatnonzero(tracked)
        # a partition's batch holds tracked packets only: usually nothing to take out
        packets = table if len(rows) == len(table) else table.take(rows, _TRACKING_COLUMNS)
        src_port, dst_port = endpoint_ports(packets)
        keys = canonical_keys(packets, src_port, dst_port, self.options.vlan_in_key)
        self._pending.append(
            Packets(
                keys={name: getattr(keys, name) for name in KEY_COLUMNS},
                direction=keys.direction,
                idx=records_before + table.record_index[rows],
                ts=packets.ts_ns,
                timeout=self.timeout_ns(packets.ip_proto),
                ip_version=packets.ip_version,
                vlan=packets.vlan_id,
                flags=packets.tcp_flags,
                seq=packets.tcp_seq,
                ack=packets.tcp_ack,
                wirelen=packets.wirelen,
                ip_bytes=packets.ip_bytes,
                payload=packets.payload_bytes,
            )
        )
        self._pending_count += len(rows)
        if self._pending_count >= FLOW_BATCH_PACKETS:
            self._flush()

    def _flush(self) -> None:
        """Fold the pending packets into the flow table: fewer, larger steps cost less per packet."""
        if self._pending:
            self._flows.add(Packets.concat(self._pending))
        self._pending, self._pending_count = [], 0

    def finish(self, capture_end: int) -> dict[str, object]:
        """The columns of the conversations table (ends tracking), plus ``first_record``, the
        capture-wide position of each conversation's first packet.

        ``capture_end`` is the latest timestamp of the capture (ns), whether or not its packet
        was tracked here: conversations silent for longer than their timeout before it ended on
        idle.
        """
        self._flush()
        rows = self._flows.close()
        if rows is None:
            return {}
        order = np.argsort(rows["first_idx"], kind="stable")
        rows = {name: column[order] for name, column in rows.items()}
        a_is_client, basis = assign_roles(rows)
        columns: dict[str, object] = {
            "conversation_id": np.arange(len(order), dtype=np.int64),
            "first_record": rows["first_idx"],
            "proto": rows["proto"],
            "ip_version": rows["ip_version"],
            "vlan": rows["vlan"],
            "role_basis": basis,
            "first_seen": rows["first_ts"],
            "last_seen": rows["last_ts"],
        }
        for side, is_a in (("client", a_is_client), ("server", ~a_is_client)):
            columns[f"{side}_ip_hi"] = np.where(is_a, rows["a_hi"], rows["b_hi"])
            columns[f"{side}_ip_lo"] = np.where(is_a, rows["a_lo"], rows["b_lo"])
            columns[f"{side}_port"] = np.where(is_a, rows["a_port"], rows["b_port"])
        for measure in ("packets", "bytes", "ip_bytes", "payload"):
            client, server = by_role(rows, measure, a_is_client)
            name = "payload_bytes" if measure == "payload" else measure
            columns[f"client_{name}"], columns[f"server_{name}"] = client, server
        columns["conn_state"] = conn_states(rows, a_is_client)
        columns["client_first"] = np.where(a_is_client, rows["first_dir"] == 0, rows["first_dir"] == 1)
        columns["history"] = histories(rows, a_is_client, columns["client_first"])
        columns["end_reason"] = end_reasons(rows, capture_end, self.timeout_ns(rows["proto"]))
        return columns



def partition_of(src_hi: np.ndarray, src_lo: np.ndarray, dst_hi: np.ndarray, dst_lo: np.ndarray, partitions: int) -> np.ndarray:
    """The partition (0 to ``partitions`` - 1) of every packet: a hash of its address pair that
    does not depend on the direction."""
    with np.errstate(over="ignore"):
        pair = hash_keys([src_hi, src_lo], 0) + hash_keys([dst_hi, dst_lo], 0)
    return (pair % np.uint64(partitions)).astype(np.intp)


def combine(parts: list[dict[str, object]]) -> dict[str, object]:
    """One conversations table from those of trackers that each saw one partition of a capture
    (the parts are emptied on the way)."""
    parts = [part for part in parts if part]
    if len(parts) < 2:
        return parts[0] if parts else {}
    order = np.argsort(np.concatenate([part["first_record"] for part in parts]), kind="stable")
    # column by column, giving up the parts' columns as they are merged: memory holds the
    # table about once, not two or three times
    merged = {name: np.concatenate([part.pop(name) for part in parts])[order] for name in list(parts[0])}
    merged["conversation_id"] = np.arange(len(order), dtype=np.int64)
    return merged
