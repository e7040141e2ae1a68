"""The flow table: packets grouped into conversations, batch after batch, with bounded state.

Each batch is sorted by key (stably, so capture order holds within a key) and cut into segments
where a conversation starts: the first packet of a key with no open conversation, a gap longer
than the idle timeout, or a TCP SYN (without ACK) whose sequence number is not the conversation's
initial one (a retransmitted SYN, or a SYN answering a SYN-ACK seen first, is not a new start).
Only what finding the segments needs is put in key order (:class:`SortedPackets`: keys, times,
and one 16-bit code per packet for its direction, history letters and sequence evidence).
Segments are reduced to fixed-size aggregates: byte and packet sums are counted per segment and
direction in capture order (``np.bincount``), the rest is read off the segment's sorted
packets. A segment that continues a
conversation left open by the previous batch is merged into it with :data:`MERGE`, the same rule
that would merge any two consecutive pieces of one conversation. Conversations that cannot grow
any more (split off, or idle for longer than their timeout) leave the table as finished rows.

Aggregate columns (one row per conversation; direction 0 = sent by endpoint A):
key columns and ``h`` (key hash); ``ip_version``; ``vlan`` (outer VLAN of the first packet);
``first_idx`` (capture-order ordinal of the first packet); ``first_ts``/``last_ts`` (ns);
``first_dir``; ``packets0/1``, ``bytes0/1``, ``ip_bytes0/1``, ``payload0/1``; ``<letter><dir>``,
the ordinal of the first packet of each Zeek history letter (s h a d f r) per direction;
``marker_idx``/``marker_val``, the latest initial-sequence evidence (a SYN's seq, a SYN-ACK's
ack - 1); ``reason``, why a finished conversation ended when something after it ended it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapflow.tracking.keys import KEY_COLUMNS, hash_keys

TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10
IPPROTO_TCP, IPPROTO_UDP = 6, 17
LETTERS = "shadfr"
NEVER = np.iinfo(np.int64).max

REASON_NONE, REASON_REUSE, REASON_IDLE = 0, 1, 2

#: How long past its timeout an idle conversation stays in the table. Packets whose timestamps run
#: back by less than this (interfaces merged into one file, reordering) still find it, so the
#: result does not depend on where the capture was cut into batches.
EXPIRY_SLACK_NS = 60 * 1_000_000_000

#: How two consecutive pieces of one conversation combine, column by column.
MERGE: dict[str, str] = {
    **{name: "first" for name in KEY_COLUMNS + ("h", "ip_version", "vlan", "first_idx", "first_ts", "first_dir")},
    "last_ts": "max",
    **{f"{m}{d}": "sum" for m in ("packets", "bytes", "ip_bytes", "payload") for d in (0, 1)},
    **{f"{letter}{d}": "min" for letter in LETTERS for d in (0, 1)},
    "marker_idx": "marker",
    "marker_val": "marker",
    "reason": "last",
}


@dataclass(slots=True)
class Packets:
    """Per-packet inputs of the flow table, in capture order."""

    keys: dict[str, np.ndarray]  # KEY_COLUMNS
    direction: np.ndarray
    idx: np.ndarray  # int64 capture-order ordinal, unique across the whole capture
    ts: np.ndarray  # int64 ns
    timeout: np.ndarray  # int64 ns: the idle timeout of the packet's protocol
    ip_version: np.ndarray
    vlan: np.ndarray  # outer VLAN id of the packet (NO_VLAN when untagged)
    flags: np.ndarray
    seq: np.ndarray
    ack: np.ndarray
    wirelen: np.ndarray
    ip_bytes: np.ndarray
    payload: np.ndarray

    @classmethod
    def concat(cls, parts: list[Packets]) -> Packets:
        if len(parts) == 1:
            return parts[0]
        return Packets(
            keys={name: np.concatenate([part.keys[name] for part in parts]) for name in parts[0].keys},
            **{name: np.concatenate([getattr(part, name) for part in parts]) for name in cls.__slots__ if name != "keys"},
        )


#: Bits of a packet's code: its direction, then the history letters it shows (``s``, a SYN
#: without ACK, is also what may start a new conversation), then whether it carries
#: initial-sequence evidence (a SYN or a SYN-ACK).
DIRECTION_BIT = 1
LETTER_BITS = {letter: 2 << position for position, letter in enumerate(LETTERS)}
MARKER_BIT = 2 << len(LETTERS)


@dataclass(slots=True)
class SortedPackets:
    """What a step needs of its packets in key order: keys, times and packet codes.

    The other columns (byte counts, address family, VLAN) are summed or picked in capture order,
    so they are never gathered into key order.
    """

    order: np.ndarray  # capture-order position of each sorted packet
    h: np.ndarray
    keys: dict[str, np.ndarray]
    idx: np.ndarray
    ts: np.ndarray
    timeout: np.ndarray
    code: np.ndarray  # uint16 of DIRECTION_BIT, LETTER_BITS and MARKER_BIT
    value: np.ndarray  # int64: the initial-sequence evidence of marker packets
    seq: np.ndarray  # int64

    @classmethod
    def of(cls, packets: Packets, h: np.ndarray) -> SortedPackets:
        order = np.argsort(h, kind="stable")
        code, value = _codes(packets)
        # evidence and sequence number are 32-bit each: one gather carries both
        both = (value.astype(np.uint64) << np.uint64(32) | packets.seq.astype(np.uint64))[order]
        return cls(
            order=order,
            h=h[order],
            keys={name: column[order] for name, column in packets.keys.items()},
            idx=packets.idx[order],
            ts=packets.ts[order],
            timeout=packets.timeout[order],
            code=code[order],
            value=(both >> np.uint64(32)).astype(np.int64),
            seq=(both & np.uint64(0xFFFF_FFFF)).astype(np.int64),
        )

    def shows(self, bit: int) -> np.ndarray:
        return self.code & bit != 0


def _letters(p: Packets) -> dict[str, np.ndarray]:
    """Which Zeek history letters each packet shows (TCP flags; data for every protocol)."""
    tcp = p.keys["proto"] == IPPROTO_TCP
    flags = np.where(tcp, p.flags, 0)
    syn, ack, fin, rst = (flags & bit != 0 for bit in (TCP_SYN, TCP_ACK, TCP_FIN, TCP_RST))
    return {
        "s": syn & ~ack,
        "h": syn & ack,
        "a": tcp & ack & ~syn & ~fin & ~rst & (p.payload == 0),
        "d": p.payload > 0,
        "f": fin,
        "r": rst,
    }


def _running_max_by_group(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """The running maximum of ``values`` within each run of equal, ascending ``group``."""
    # ranks instead of values: group * count + rank orders groups first and cannot overflow
    order = np.argsort(values, kind="stable")
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(len(values))
    offset = group.astype(np.int64) * len(values)
    return values[order[np.maximum.accumulate(offset + rank) - offset]]


def _positions(unique_keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Position of each ``wanted`` key in ``unique_keys`` (-1 where it is absent)."""
    order = np.argsort(unique_keys)
    at = np.minimum(np.searchsorted(unique_keys, wanted, sorter=order), len(order) - 1)
    return np.where(unique_keys[order[at]] == wanted, order[at], -1)


def _codes(p: Packets) -> tuple[np.ndarray, np.ndarray]:
    """Each packet's code (see :data:`LETTER_BITS`) and its initial-sequence evidence: a SYN
    shows its own sequence number, a SYN-ACK the one it acknowledges."""
    letters = _letters(p)
    value = np.where(letters["s"], p.seq.astype(np.int64), (p.ack.astype(np.int64) - 1) & 0xFFFF_FFFF)
    code = p.direction.astype(np.uint16)
    for letter, bit in LETTER_BITS.items():
        code |= letters[letter].astype(np.uint16) * np.uint16(bit)
    code |= (letters["s"] | letters["h"]).astype(np.uint16) * np.uint16(MARKER_BIT)
    return code, value


def _first_shown(shown: np.ndarray, segment_of: np.ndarray, idx: np.ndarray, segments: int) -> np.ndarray:
    """Per segment, the ordinal of its first packet where ``shown`` (NEVER if none). A segment's
    packets are in capture order, so the first one found is the earliest."""
    at = np.flatnonzero(shown)
    segment = segment_of[at]
    first = np.ones(len(at), dtype=bool)
    first[1:] = segment[1:] != segment[:-1]
    out = np.full(segments, NEVER, dtype=np.int64)
    out[segment[first]] = idx[at[first]]
    return out


def _segment_aggregates(
    packets: Packets, p: SortedPackets, starts: np.ndarray, in_order: bool, last_marker: np.ndarray
) -> dict[str, np.ndarray]:
    """Aggregates of the runs of sorted packets beginning at ``starts``. ``last_marker`` is the
    position of the latest marker packet at or before each sorted packet (-1 if none)."""
    count, segments = len(p.ts), len(starts)
    ends = np.append(starts[1:], count) - 1
    first = p.order[starts]
    out = {name: column[starts] for name, column in p.keys.items()}
    out.update(
        ip_version=packets.ip_version[first],
        vlan=packets.vlan[first],
        first_idx=p.idx[starts],
        first_ts=p.ts[starts],
        first_dir=(p.code[starts] & DIRECTION_BIT).astype(np.uint8),
        last_ts=p.ts[ends] if in_order else np.maximum.reduceat(p.ts, starts),
    )
    segment_of = np.repeat(np.arange(segments), np.diff(np.append(starts, count)))
    # sums by (segment, direction), counted in capture order: the summed columns stay unsorted
    slot = np.empty(count, dtype=np.int64)
    slot[p.order] = segment_of * 2
    slot += packets.direction
    sums = {"packets": np.bincount(slot, minlength=2 * segments)}
    for name, values in (("bytes", packets.wirelen), ("ip_bytes", packets.ip_bytes), ("payload", packets.payload)):
        sums[name] = np.bincount(slot, weights=values, minlength=2 * segments)  # exact: far below 2**53
    for name, both in sums.items():
        pairs = both.astype(np.int64).reshape(segments, 2)
        out[f"{name}0"], out[f"{name}1"] = pairs[:, 0], pairs[:, 1]
    sent_by_b = p.shows(DIRECTION_BIT)
    for letter, bit in LETTER_BITS.items():
        shown = p.shows(bit)
        out[f"{letter}0"] = _first_shown(shown & ~sent_by_b, segment_of, p.idx, segments)
        out[f"{letter}1"] = _first_shown(shown & sent_by_b, segment_of, p.idx, segments)
    position = np.where(last_marker[ends] >= starts, last_marker[ends], -1)
    out["marker_idx"] = np.where(position >= 0, p.idx[position], -1)
    out["marker_val"] = np.where(position >= 0, p.value[position], -1)
    out["reason"] = np.full(segments, REASON_NONE, dtype=np.int8)
    return out


def merge(earlier: dict[str, np.ndarray], later: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Combine consecutive pieces of the same conversations, row by row (see :data:`MERGE`)."""
    out = {}
    for name, how in MERGE.items():
        a, b = earlier[name], later[name]
        if how == "first":
            out[name] = a
        elif how == "last":
            out[name] = b
        elif how == "sum":
            out[name] = a + b
        elif how == "min":
            out[name] = np.minimum(a, b)
        elif how == "max":
            out[name] = np.maximum(a, b)
        else:  # the latest initial-sequence evidence wins
            out[name] = np.where(later["marker_idx"] >= 0, b, a)
    return out


def concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def take(rows: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {name: column[index] for name, column in rows.items()}


def take_from(tables: list[dict[str, np.ndarray]], indexes: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The rows ``indexes[i]`` of each ``tables[i]``, one after the other: ``concat`` of ``take``
    in one copy."""
    total = sum(len(index) for index in indexes)
    out = {}
    for name, first in tables[0].items():
        column = np.empty(total, dtype=first.dtype)
        at = 0
        for table, index in zip(tables, indexes):
            np.take(table[name], index, out=column[at : at + len(index)], mode="clip")  # "raise" would buffer
            at += len(index)
        out[name] = column
    return out


class KeyCollision(Exception):
    """Two different keys got the same hash: the table rehashes with another seed."""


class FlowTable:
    """Open conversations keyed by hash; finished conversations collected in order of finishing."""

    def __init__(self, timeout_of) -> None:
        self.timeout_of = timeout_of  # protocol numbers -> idle timeouts in ns
        self.seed = 0
        self.open: dict[str, np.ndarray] | None = None
        self.finished: list[dict[str, np.ndarray]] = []
        self.last_ts = np.iinfo(np.int64).min  # latest timestamp seen so far

    def add(self, packets: Packets) -> None:
        """Fold a batch of packets (capture order) into the table."""
        if not len(packets.ts):
            return
        while True:
            try:
                self._add(packets)
                return
            except KeyCollision:
                self.seed += 1
                if self.open is not None:
                    self.open["h"] = hash_keys([self.open[name] for name in KEY_COLUMNS], self.seed)

    def _add(self, packets: Packets) -> None:
        p = SortedPackets.of(packets, hash_keys([packets.keys[name] for name in KEY_COLUMNS], self.seed))
        h, count = p.h, len(p.h)
        group_start = np.ones(count, dtype=bool)
        group_start[1:] = h[1:] != h[:-1]
        for name in KEY_COLUMNS:
            column = p.keys[name]
            if np.any(~group_start[1:] & (column[1:] != column[:-1])):
                raise KeyCollision

        open_rows, matched = self._match(h, p, group_start)
        has_previous = ~group_start | matched
        group_starts = np.flatnonzero(group_start)
        group_of = np.cumsum(group_start) - 1
        # silence is measured from the latest packet before, so that timestamps a little out of
        # order (merged interfaces) do not split a conversation differently in different batches
        in_order = np.all((p.ts[1:] >= p.ts[:-1]) | group_start[1:])
        latest = p.ts if in_order else _running_max_by_group(p.ts, group_of)
        prev_ts = np.empty(count, dtype=np.int64)
        prev_ts[1:] = latest[:-1]
        prev_ts[group_starts] = np.where(
            matched[group_starts], self._open_column("last_ts", open_rows, group_starts), 0
        )
        idle = has_previous & (p.ts - prev_ts > p.timeout)

        # A SYN is compared with the latest initial-sequence evidence of its own conversation: the
        # evidence since the start of its run of packets without an idle gap (a reuse split starts
        # with its own SYN, so the latest evidence in the run is the current conversation's), or
        # the open conversation's when the run continues it.
        marker = p.shows(MARKER_BIT)
        last_marker = np.maximum.accumulate(np.where(marker, np.arange(count), -1))
        before = np.empty(count, dtype=np.int64)
        before[0] = -1
        before[1:] = last_marker[:-1]
        run_start = np.maximum.accumulate(np.where(group_start | idle, np.arange(count), 0))
        in_run = before >= run_start
        continues_open = matched & ~idle[run_start] & group_start[run_start]
        carried_val = self._open_column("marker_val", open_rows, run_start)
        carried_idx = self._open_column("marker_idx", open_rows, run_start)
        known = in_run | (continues_open & (carried_idx >= 0))
        reference = np.where(in_run, p.value[np.maximum(before, 0)], carried_val)
        reuse = p.shows(LETTER_BITS["s"]) & has_previous & ~idle & (~known | (reference != p.seq))

        new = ~has_previous | idle | reuse
        segment_start = new | group_start
        seg_starts = np.flatnonzero(segment_start)
        segments = _segment_aggregates(packets, p, seg_starts, in_order, last_marker)
        segments["h"] = h[seg_starts]
        seg_group = group_of[seg_starts]
        last_of_group = np.ones(len(seg_starts), dtype=bool)
        last_of_group[:-1] = seg_group[1:] != seg_group[:-1]
        # what ended the conversation before each new start
        closing = np.where(reuse, REASON_REUSE, REASON_IDLE).astype(np.int8)[seg_starts]

        # pieces of conversations that were open before this batch
        continues = group_start[seg_starts] & matched[seg_starts] & ~new[seg_starts]
        superseded = group_start[seg_starts] & matched[seg_starts] & new[seg_starts]
        state_pos = open_rows[seg_starts]
        kept = np.ones(0 if self.open is None else len(self.open["h"]), dtype=bool)
        if self.open is not None:
            if superseded.any():
                ended = take(self.open, state_pos[superseded])
                ended["reason"] = closing[superseded]
                self.finished.append(ended)
                kept[state_pos[superseded]] = False
            if continues.any():
                merged = merge(take(self.open, state_pos[continues]), take(segments, np.flatnonzero(continues)))
                for name, column in merged.items():
                    self.open[name][state_pos[continues]] = column
                kept[state_pos[continues & ~last_of_group]] = False

        # segments followed by another of the same key in this batch are finished
        ended_here = ~last_of_group
        if ended_here.any():
            rows = np.flatnonzero(ended_here)
            ended = take(segments, rows)
            ended["reason"] = closing[rows + 1]
            merged_rows = continues[rows]
            if merged_rows.any():  # the segment's conversation lives in the open table: finish that
                ended_open = take(self.open, state_pos[rows[merged_rows]])
                ended_open["reason"] = closing[rows[merged_rows] + 1]
                self.finished.append(ended_open)
                ended = take(ended, np.flatnonzero(~merged_rows))
            self.finished.append(ended)

        self.last_ts = max(self.last_ts, int(p.ts.max()))
        opened = last_of_group & ~continues
        if self.open is None:
            self._reopen([segments], [opened])
        else:
            self._reopen([self.open, segments], [kept, opened])

    def _reopen(self, tables: list[dict[str, np.ndarray]], keep: list[np.ndarray]) -> None:
        """Make the open table of the ``keep`` rows of ``tables`` in one copy, finishing those idle
        for longer than their timeout (plus :data:`EXPIRY_SLACK_NS`) at the latest time seen."""
        indexes = []
        for table, kept in zip(tables, keep):
            idle = kept & self._idle(table)
            if idle.any():
                self._finish_idle(table, idle)
            indexes.append(np.flatnonzero(kept & ~idle))
        self.open = take_from(tables, indexes)

    def _idle(self, table: dict[str, np.ndarray]) -> np.ndarray:
        return self.last_ts - table["last_ts"] > self.timeout_of(table["proto"]) + EXPIRY_SLACK_NS

    def _finish_idle(self, table: dict[str, np.ndarray], idle: np.ndarray) -> None:
        ended = take(table, np.flatnonzero(idle))
        ended["reason"] = np.full(int(idle.sum()), REASON_IDLE, dtype=np.int8)
        self.finished.append(ended)

    def _match(self, h: np.ndarray, p: SortedPackets, group_start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row of the open table for every packet's key (-1 if none) and whether there is one."""
        count = len(h)
        if self.open is None or not len(self.open["h"]):
            return np.full(count, -1, dtype=np.int64), np.zeros(count, dtype=bool)
        rows = _positions(self.open["h"], h[group_start])
        found = rows >= 0
        starts = np.flatnonzero(group_start)[found]
        for name in KEY_COLUMNS:
            if np.any(self.open[name][rows[found]] != p.keys[name][starts]):
                raise KeyCollision
        open_rows = np.repeat(rows, np.diff(np.append(np.flatnonzero(group_start), count)))
        return open_rows, open_rows >= 0

    def _open_column(self, name: str, open_rows: np.ndarray, at: np.ndarray) -> np.ndarray:
        """``open[name]`` at the open rows of packets ``at`` (0 where there is none)."""
        if self.open is None or not len(self.open["h"]):
            return np.zeros(len(at), dtype=np.int64)
        rows = open_rows[at]
        return np.where(rows >= 0, self.open[name][np.maximum(rows, 0)], 0)

    def close(self) -> dict[str, np.ndarray] | None:
        """Finish every conversation (end of capture); return all of them, in no particular order."""
        if self.open is not None and len(self.open["h"]):
            idle = self._idle(self.open)
            if idle.any():
                self._finish_idle(self.open, idle)
                self.open = take(self.open, np.flatnonzero(~idle))
        parts = self.finished + ([self.open] if self.open is not None and len(self.open["h"]) else [])
        self.open, self.finished = None, []
        return concat(parts) if parts else None
