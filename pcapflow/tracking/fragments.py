"""Attributing non-first IP fragments to their datagram's conversation.

A non-first fragment carries no transport header. It belongs to the datagram whose first
fragment has the same source, destination, protocol and IP id (IPv6: fragment header id); it
takes that fragment's ports (or ICMP type and code) and is counted in that conversation's packets
and bytes. First fragments are remembered across batches for :data:`FRAGMENT_MEMORY_NS`, Zeek's
fragment timeout. A fragment whose first fragment never appears within that time is an orphan:
counted in the report, not tracked.
"""

from __future__ import annotations

import numpy as np

from pcapflow.decode.table import DecodeStatus, PacketTable

FRAGMENT_MEMORY_NS = 300 * 1_000_000_000

_DATAGRAM = ("src_ip_hi", "src_ip_lo", "dst_ip_hi", "dst_ip_lo", "ip_proto", "ip_id")
_CARRIED = ("src_port", "dst_port", "icmp_type", "icmp_code")


def _datagram_keys(table, rows: np.ndarray | slice) -> np.ndarray:
    """One row of six uint64 per packet: what names its datagram."""
    return np.stack([np.asarray(getattr(table, name)[rows], dtype=np.uint64) for name in _DATAGRAM], axis=1)


class FragmentAttributor:
    """Gives non-first fragments the ports of their first fragment, batch after batch."""

    def __init__(self) -> None:
        # the first fragments remembered: their datagram keys, carried fields and timestamps
        self._keys = np.zeros((0, len(_DATAGRAM)), dtype=np.uint64)
        self._carried = {name: np.zeros(0, dtype=np.uint16) for name in _CARRIED}
        self._ts = np.zeros(0, dtype=np.int64)
        self.orphans = 0

    def _remember(self, table: PacketTable, firsts: np.ndarray) -> None:
        keys = np.concatenate([self._keys, _datagram_keys(table, firsts)])
        carried = {name: np.concatenate([self._carried[name], getattr(table, name)[firsts]]) for name in _CARRIED}
        ts = np.concatenate([self._ts, table.ts_ns[firsts]])
        recent = np.flatnonzero(ts >= ts.max() - FRAGMENT_MEMORY_NS)
        # a datagram id seen again names the newer datagram: keep the last first fragment per key
        _, last_from_end = np.unique(keys[recent][::-1], axis=0, return_index=True)
        kept = recent[np.sort(len(recent) - 1 - last_from_end)]
        self._keys, self._ts = keys[kept], ts[kept]
        self._carried = {name: column[kept] for name, column in carried.items()}

    def attribute(self, table: PacketTable, tracked: np.ndarray) -> np.ndarray:
        """Fill in the ports of the FRAGMENT rows of ``table`` in place; return ``tracked``
        (a mask of rows to track) without the orphans."""
        firsts = np.flatnonzero(tracked & table.more_fragments & (table.frag_offset == 0))
        fragments = np.flatnonzero(table.status == DecodeStatus.FRAGMENT)
        if len(firsts):
            self._remember(table, firsts)
        if not len(fragments):
            return tracked
        known = len(self._keys)
        _, codes = np.unique(np.concatenate([self._keys, _datagram_keys(table, fragments)]), axis=0, return_inverse=True)
        codes = codes.reshape(-1)
        first_of_code = np.full(len(codes), -1, dtype=np.int64)
        first_of_code[codes[:known]] = np.arange(known)  # remembered keys are unique
        source = first_of_code[codes[known:]]
        found = source >= 0
        rows = fragments[found]
        for name in _CARRIED:
            getattr(table, name)[rows] = self._carried[name][source[found]]
        orphans = fragments[~found]
        self.orphans += len(orphans)
        tracked = tracked.copy()
        tracked[orphans] = False
        return tracked
