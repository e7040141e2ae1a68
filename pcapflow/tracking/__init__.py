"""Conversation tracking: :class:`~pcapflow.decode.PacketTable` batches in, one row per conversation out.

Contract
--------
:class:`ConversationTracker` takes packet batches in capture order (``add``), across files, and
``finish()`` returns the columns of :data:`~pcapflow.tracking.columns.TRACKER_COLUMNS` as numpy
arrays, one entry per conversation in order of first packet (``conversation_id`` 0, 1, 2...).
Columns that only the DataFrame needs are made with it: the address text, ``protocol`` names,
``history`` (:func:`~pcapflow.tracking.history.histories`) and ``community_id``
(:func:`~pcapflow.tracking.community_id.conversation_community_ids`, one SHA-1 per
conversation), so a summary for the terminal never pays for them. Results do not
depend on how the capture was cut into batches.

The packets are folded into conversations by the compiled flow table
(:class:`pcapflow._kernels.flowtable.FlowTable`, whose docstring gives the key, the splits by
idle timeout and TCP port reuse, and how non-first fragments join their datagram's conversation
in whatever order they come); tracked records are those with status OK, PORTS_ONLY and FRAGMENT.
See :mod:`~pcapflow.tracking.roles` for who the client is, :mod:`~pcapflow.tracking.state` for
``conn_state``, ``history`` and ``end_reason``: ``finish`` has the compiled
:func:`~pcapflow._kernels.flowexport.role_columns` apply those rules and orient every column by
role in one pass over the table, and reads the server names, app versions and DNS answers
(Python objects) from the first bytes the table kept.

Conversations never share packets across pairs of IP addresses (a non-first fragment travels
between the addresses of its first fragment), so the capture can also be tracked in
*partitions*: :func:`partition_labels` sends every packet of an address pair to the same one, a
tracker per partition takes that partition's packets in capture order (``add(..., labels=,
partition=)``), and :func:`combine` merges their finished columns into exactly what one tracker
over every packet returns.
"""

from __future__ import annotations

import numpy as np

from pcapflow._kernels.firstbytes import OPAQUE_LENGTH
from pcapflow._kernels.flowexport import ROLE_FIELDS, role_columns
from pcapflow._kernels.flowtable import FlowTable
from pcapflow._kernels.partition import partition_labels
from pcapflow.apps import APP_NAMES, NAMING_APPS, VERSIONED_APPS, app_version, compiled_signatures, server_name
from pcapflow.decode.table import PacketTable
from pcapflow.options import AnalysisOptions
from pcapflow.protocols import IPPROTO_TCP
from pcapflow.tracking.columns import TRACKER_COLUMNS

__all__ = ["ConversationTracker", "combine", "packet_partitions", "partition_labels", "split"]

NS = 1_000_000_000
#: The packet columns the flow table reads, in the order its fold takes them.
FOLDED_COLUMNS = (
    "status", "record_index", "ts_ns", "wirelen", "vlan_id", "ip_version", "src_ip_hi", "src_ip_lo", "dst_ip_hi",
    "dst_ip_lo", "ip_proto", "ip_bytes", "ip_id", "frag_offset", "more_fragments", "src_port", "dst_port",
    "tcp_flags", "tcp_seq", "tcp_ack", "icmp_type", "icmp_code", "payload_bytes", "tunnel", "tunnel_depth", "tunnel_id",
)
_ALL = np.zeros(0, dtype=np.uint8)
_NO_BYTES = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint16), np.zeros(0, dtype=np.uint8))


class ConversationTracker:
    """Folds packet batches into conversations; see the module docstring."""

    def __init__(self, options: AnalysisOptions | None = None, *, colliding_hashes: bool = False):
        """``colliding_hashes`` gives every key one hash: for tests that grouping stays exact."""
        self.options = options or AnalysisOptions()
        o = self.options
        self._flows: FlowTable | None = FlowTable(
            int(o.tcp_idle_timeout * NS), int(o.udp_idle_timeout * NS), int(o.other_idle_timeout * NS), o.vlan_in_key,
            colliding_hashes,
        )
        if o.inspect_payload:
            self._flows.inspect(*compiled_signatures())
        self._orphans = 0  # the table's count, kept when finish lets the table go

    @property
    def orphan_fragments(self) -> int:
        """Non-first fragments whose first fragment never came (within the fragment timeout)."""
        return self._orphans if self._flows is None else self._flows.orphan_fragments

    def _table(self) -> FlowTable:
        if self._flows is None:
            raise RuntimeError("this tracker has finished: it tracks no more packets")
        return self._flows

    def add(self, table: PacketTable, records_before: int = 0, *, labels: np.ndarray | None = None, partition: int = 0,
            early: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> None:
        """Track the packets of one batch (batches must come in capture order).

        ``records_before`` is the number of records of the files before the batch's file, so
        that ``records_before + record_index`` numbers the records of the whole capture. With
        ``labels`` (of :func:`partition_labels`), only the packets labelled ``partition`` are
        tracked. ``early``: the batch's first payload bytes
        (:meth:`~pcapflow._kernels.firstbytes.FirstBytes.take`), for payload inspection.
        """
        columns = [getattr(table, name) for name in FOLDED_COLUMNS]
        columns[FOLDED_COLUMNS.index("more_fragments")] = table.more_fragments.view(np.uint8)
        self._table().fold(records_before, _ALL if labels is None else labels, partition, *columns, *(early or _NO_BYTES))

    def finish(self, capture_end: int) -> dict[str, np.ndarray]:
        """The :data:`~pcapflow.tracking.columns.TRACKER_COLUMNS` of every conversation (ends tracking).

        ``capture_end`` is the latest timestamp of the capture (ns), whether or not its packet
        was tracked here: conversations silent for longer than their timeout before it ended on
        idle.
        """
        flows = self._table()
        flows.close()
        order = np.argsort(flows.first_records(), kind="stable")
        # each column is made once, in its final dtype, by the kernel (roles, states, counters by
        # role) or from the first bytes the table kept (what needs Python objects)
        columns = {spec.name: np.empty(len(order), dtype=spec.dtype) for spec in TRACKER_COLUMNS if spec.name in ROLE_FIELDS}
        role_columns(flows, order, capture_end, columns)
        columns["conversation_id"] = np.arange(len(order), dtype=np.int64)
        columns["server_name"], columns["server_name_source"] = _server_names(flows, order, columns)
        columns["app_version"], columns["dns_answers"] = _versions_and_answers(flows, order, columns)
        self._orphans, self._flows = flows.orphan_fragments, None
        return {spec.name: columns[spec.name] for spec in TRACKER_COLUMNS}


def _positions(indexes: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Where the conversations of flow-table ``indexes`` are in ``order`` (-1 stays -1)."""
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order), dtype=np.int64)
    return np.where(indexes >= 0, position[np.maximum(indexes, 0)], -1) if len(order) else indexes


def _server_names(flows: FlowTable, order: np.ndarray, columns: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The server name of each conversation whose app names one, from its client's first bytes
    (the client by the kernel's guess, the direction it keeps bytes of: the one that sent them)."""
    names = np.full(len(order), None, dtype=object)
    sources = np.zeros(len(order), dtype=np.uint8)
    for code in (APP_NAMES.index(app) for app in NAMING_APPS):
        for row in np.flatnonzero(columns["app"] == code):
            index = int(order[row])
            for direction in (0, 1):
                name, source = server_name(APP_NAMES[code], flows.first_bytes(index, direction))
                if name:
                    names[row], sources[row] = name, source
                    break
    return names, sources


def _versions_and_answers(flows: FlowTable, order: np.ndarray, columns: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per conversation, its app's version (the server: the side that did not send first) and,
    for DNS, the answers of the side that sent them with the record of its first response."""
    versions = np.full(len(order), None, dtype=object)
    answers = np.full(len(order), None, dtype=object)
    for code in (APP_NAMES.index(app) for app in VERSIONED_APPS):
        of_app = np.flatnonzero(columns["app"] == code)
        # the direction that sent first: 0 (endpoint A) when the client is A and sent first, or is B and did not
        first_sender = (columns["client_first"][of_app] != columns["client_is_a"][of_app]).astype(np.int64)
        for row, index, client in zip(of_app.tolist(), order[of_app].tolist(), first_sender.tolist()):
            versions[row] = app_version(APP_NAMES[code], flows.first_bytes(index, client), flows.first_bytes(index, 1 - client))
    dns = np.flatnonzero(columns["app"] == APP_NAMES.index("dns"))
    found = flows.dns_answers(np.ascontiguousarray(order[dns]), (columns["proto"][dns] == IPPROTO_TCP).view(np.uint8))
    for row, conversation_answers in zip(dns.tolist(), found):
        answers[row] = conversation_answers
    return versions, answers


FirstPayloadBytes = tuple[np.ndarray, np.ndarray, np.ndarray]


def packet_partitions(table: PacketTable, partitions: int) -> np.ndarray:
    """The partition of every packet (255: untracked) by its address pair; the inner row of a
    tunnelled frame (:func:`~pcapflow.decode.carriers.decode_with_carriers`) goes with the carrier row
    before it, so that a tunnelled conversation and its parent are tracked together."""
    return partition_labels(table.status, table.src_ip_hi, table.src_ip_lo, table.dst_ip_hi, table.dst_ip_lo, table.tunnel,
                            table.tunnel_depth, partitions)


def split(table: PacketTable, partitions: int, early: FirstPayloadBytes | None = None) -> list[tuple[PacketTable, FirstPayloadBytes | None]]:
    """The tracked packets of ``table``, one table per partition (the folded columns only), each
    with its packets' first payload bytes of ``early``: what a partition's tracker needs,
    compact, for shipping to wherever it runs."""
    labels = packet_partitions(table, partitions)
    parts = []
    for part in range(partitions):
        rows = np.flatnonzero(labels == part)
        parts.append((table.take(rows, FOLDED_COLUMNS), None if early is None else _early_rows(early, rows)))
    return parts


def _early_rows(early: FirstPayloadBytes, rows: np.ndarray) -> FirstPayloadBytes:
    """The first payload bytes of the packets ``rows`` only, their bytes packed anew (a length
    with the OPAQUE_LENGTH flag has no bytes)."""
    at, length, data = early
    at, length = at[rows], length[rows]
    sizes = np.where(length & OPAQUE_LENGTH, 0, length).astype(np.int64)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    # each kept byte's position in ``data``: its packet's start there plus its place in the packet
    positions = np.repeat(at - starts, sizes) + np.arange(ends[-1] if len(ends) else 0, dtype=np.int64)
    return starts, length, data[positions]


def combine(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One conversations table from those of trackers that each saw one partition of a capture
    (the parts are emptied on the way)."""
    holding = [part for part in parts if len(part["first_record"])]
    if len(holding) <= 1:  # its ids are already the capture's: one partition held every conversation
        return holding[0] if holding else parts[0]
    parts = holding
    order = np.argsort(np.concatenate([part["first_record"] for part in parts]), kind="stable")
    parents = [part["parent_id"] for part in parts]
    # column by column, giving up the parts' columns as they are merged: memory holds the
    # table about once, not two or three times
    merged = {spec.name: np.concatenate([part.pop(spec.name) for part in parts])[order] for spec in TRACKER_COLUMNS}
    merged["conversation_id"] = np.arange(len(order), dtype=np.int64)
    # a parent is in its child's partition (packet_partitions): its id there, made the capture's
    starts = np.cumsum([0] + [len(part) for part in parents[:-1]])
    merged["parent_id"] = _positions(np.concatenate([np.where(part >= 0, part + start, -1) for part, start in zip(parents, starts)])[order], order)
    return merged
