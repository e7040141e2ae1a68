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
import pandas as pd

from pcapflow.decode.table import DecodeStatus, PacketTable

FRAGMENT_MEMORY_NS = 300 * 1_000_000_000

_DATAGRAM = ["src_ip_hi", "src_ip_lo", "dst_ip_hi", "dst_ip_lo", "ip_proto", "ip_id"]
_CARRIED = ["src_port", "dst_port", "icmp_type", "icmp_code"]


class FragmentAttributor:
    """Gives non-first fragments the ports of their first fragment, batch after batch."""

    def __init__(self) -> None:
        self._first_fragments = pd.DataFrame(columns=_DATAGRAM + _CARRIED + ["ts_ns"])
        self.orphans = 0

    def attribute(self, table: PacketTable, tracked: np.ndarray) -> np.ndarray:
        """Fill in the ports of the FRAGMENT rows of ``table`` in place; return ``tracked``
        (a mask of rows to track) without the orphans."""
        firsts = np.flatnonzero(tracked & table.more_fragments & (table.frag_offset == 0))
        fragments = np.flatnonzero(table.status == DecodeStatus.FRAGMENT)
        if len(firsts):
            seen = pd.DataFrame({name: getattr(table, name)[firsts] for name in _DATAGRAM + _CARRIED + ["ts_ns"]})
            known = pd.concat([self._first_fragments, seen], ignore_index=True) if len(self._first_fragments) else seen
            latest = known["ts_ns"].max()
            known = known[known["ts_ns"] >= latest - FRAGMENT_MEMORY_NS]
            self._first_fragments = known.drop_duplicates(_DATAGRAM, keep="last")
        if not len(fragments):
            return tracked
        wanted = pd.DataFrame({name: getattr(table, name)[fragments] for name in _DATAGRAM})
        wanted["row"] = fragments
        found = wanted.merge(self._first_fragments.astype({n: wanted[n].dtype for n in _DATAGRAM}), on=_DATAGRAM, how="inner")
        rows = found["row"].to_numpy()
        for name in _CARRIED:
            getattr(table, name)[rows] = found[name].to_numpy()
        orphans = np.setdiff1d(fragments, rows)
        self.orphans += len(orphans)
        tracked = tracked.copy()
        tracked[orphans] = False
        return tracked
