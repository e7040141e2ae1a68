"""Server names from captured DNS answers, the way Wireshark resolves addresses from them.

Data contract
-------------
The flow table keeps the first payload bytes (up to 2,048 per direction) of conversations it
identifies as ``dns``. :func:`dns_answers` (compiled: :mod:`pcapflow._kernels.dnsanswers`) reads
the DNS responses in them: for each A or AAAA record, the address (as the ``hi``/``lo`` halves
pcapflow keeps addresses in) and the name the client asked for (the record's owner, followed back
through the response's CNAME chain to its question). The tracker gives, per conversation,
``dns_answers`` (object: None, or a tuple of ``(ip_hi, ip_lo, name, record)``, ``record`` the
number of the record that carried the DNS conversation's first response). :func:`dns_server_names` joins them, after the partitions are
combined, to the conversations that have no other server name: a conversation's name is the one
of the latest answer for its server address whose record precedes the conversation's first
record. Results do not depend on batches, workers, partitions or piece cuts: the bytes kept, the
records and the join are the same however the capture is cut.
"""

from __future__ import annotations

import numpy as np

from pcapflow._kernels.dnsanswers import dns_answers as dns_answers


def dns_server_names(columns, answers, names: np.ndarray, sources: np.ndarray, dns_source: int) -> None:
    """Fill ``names`` and ``sources`` (per conversation of the tracker's merged ``columns``,
    None/0 where no name yet) from ``answers`` (``dns_answers`` entries of the whole capture,
    see the module docstring); in place."""
    import pandas as pd

    answered = [entry for entry in answers if entry]
    missing = np.flatnonzero(pd.isna(names))
    if not answered or not len(missing):
        return
    hi, lo, name, record = (list(field) for field in zip(*(answer for answers in answered for answer in answers)))
    known = pd.DataFrame({"hi": np.array(hi, dtype=np.uint64), "lo": np.array(lo, dtype=np.uint64), "name": name,
                          "record": np.array(record, dtype=np.int64)}).sort_values("record", kind="stable")
    wanted = pd.DataFrame({"hi": np.asarray(columns["server_ip_hi"])[missing], "lo": np.asarray(columns["server_ip_lo"])[missing],
                           "record": np.asarray(columns["first_record"])[missing].astype(np.int64) - 1, "row": missing})
    # the latest answer whose record is before the conversation's first (record - 1 and before)
    joined = pd.merge_asof(wanted.sort_values("record", kind="stable"), known, on="record", by=["hi", "lo"], direction="backward")
    found = joined[joined["name"].notna()]
    rows = found["row"].to_numpy()
    names[rows] = found["name"].to_numpy(dtype=object)
    sources[rows] = dns_source
