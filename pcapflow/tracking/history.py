"""Zeek's history letters of each conversation, from the flow table's ``history_order``.

The flow table keeps, per conversation, the letters it showed (s h a d f r, per endpoint) in
order of first appearance, 5 bits each in one uint64 (see ``_history_order`` in
``pcapflow/_kernels/flowexport.pyx``). :func:`histories` turns that into Zeek's history strings,
working on the distinct orders only: a capture has few of them, however many conversations it
has. (The rules of roles and states compare the records that first showed the letters; the
kernel that applies them reads those from the table itself.)
"""

from __future__ import annotations

import numpy as np

from pcapflow._kernels.flowexport import HISTORY_TIE_FLAG, LETTER_NAMES

#: Zeek's history letter of each flow-table letter, in the flow table's order.
HISTORY_LETTERS = dict(zip(LETTER_NAMES, "shadfr"))


def _entries(code: int) -> list[tuple[int, bool]]:
    """(slot, first seen in the same packet as the letter before) of each letter of an order."""
    out = []
    while code:
        entry, code = code & 31, code >> 5
        out.append(((entry & 15) - 1, bool(entry & HISTORY_TIE_FLAG)))
    return out


def histories(history_order: np.ndarray, a_is_client: np.ndarray, client_first: np.ndarray) -> np.ndarray:
    """Zeek's history string of every conversation: its letters in order of first appearance,
    upper case when the client sent them, after a ``^`` when the client did not send first."""
    # the order takes 60 bits: the two flags fit beside it in one key
    keys = (history_order.astype(np.uint64) << np.uint64(2)) | (a_is_client.astype(np.uint64) << np.uint64(1)) | client_first.astype(np.uint64)
    distinct, inverse = np.unique(keys, return_inverse=True)
    texts = []
    for key in distinct.tolist():
        a_client, client_sent_first = bool(key & 2), bool(key & 1)
        letters = []
        for column, _ in _entries(key >> 2):
            letter = HISTORY_LETTERS[LETTER_NAMES[column // 2]]
            sent_by_a = column % 2 == 0
            letters.append(letter.upper() if sent_by_a == a_client else letter)
        texts.append(("" if client_sent_first else "^") + "".join(letters))
    return np.array(texts, dtype="U13")[inverse.reshape(-1)] if texts else np.zeros(0, dtype="U13")
