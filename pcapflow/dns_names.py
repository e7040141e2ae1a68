"""Server names from captured DNS answers, the way Wireshark resolves addresses from them.

Data contract
-------------
The flow table keeps the first payload bytes (up to 2,048 per direction) of conversations it
identifies as ``dns``. :func:`dns_answers` reads the DNS responses in them: for each A or AAAA
record, the address (as the ``hi``/``lo`` halves pcapflow keeps addresses in) and the name the
client asked for (the record's owner, followed back through the response's CNAME chain to its
question). The tracker gives, per conversation, ``dns_answers`` (object: None, or a tuple of
``(ip_hi, ip_lo, name, record)``, ``record`` the number of the record that carried the DNS
conversation's first response). :func:`dns_server_names` joins them, after the partitions are
combined, to the conversations that have no other server name: a conversation's name is the one
of the latest answer for its server address whose record precedes the conversation's first
record. Results do not depend on batches, workers, partitions or piece cuts: the bytes kept, the
records and the join are the same however the capture is cut.
"""

from __future__ import annotations

import numpy as np

_A, _CNAME, _AAAA = 1, 5, 28
_IPV4_MAPPED = 0xFFFF_0000_0000


def _name(message: bytes, at: int) -> tuple[str, int]:
    """The (possibly compressed, RFC 1035 §4.1.4) name at ``at``, and where the field ends."""
    labels: list[str] = []
    end = -1
    for _ in range(128):  # pointers may loop in hostile messages
        length = message[at]
        if length >= 0xC0:
            if end < 0:
                end = at + 2
            at = ((length & 0x3F) << 8) | message[at + 1]
            continue
        if length == 0:
            return ".".join(labels).lower(), (end if end >= 0 else at + 1)
        labels.append(message[at + 1 : at + 1 + length].decode("ascii", "replace"))
        at += 1 + length
    raise IndexError("name pointers loop")


def _message(data: bytes, at: int) -> tuple[list[tuple[int, int, str]], int]:
    """The (address hi, lo, name) of one DNS response at ``at`` (none for a query), and its end."""
    if at + 12 > len(data):
        raise IndexError("short header")
    flags = int.from_bytes(data[at + 2 : at + 4])
    counts = [int.from_bytes(data[at + 4 + 2 * i : at + 6 + 2 * i]) for i in range(4)]
    message = data[at:]
    cursor = 12
    questions = []
    for _ in range(counts[0]):
        name, cursor = _name(message, cursor)
        questions.append(name)
        cursor += 4
    aliases: dict[str, str] = {}  # a CNAME's target -> its owner
    addresses: list[tuple[int, str]] = []
    for index in range(counts[1] + counts[2] + counts[3]):
        owner, cursor = _name(message, cursor)
        kind = int.from_bytes(message[cursor : cursor + 2])
        size = int.from_bytes(message[cursor + 8 : cursor + 10])
        rdata = cursor + 10
        cursor = rdata + size
        if cursor > len(message):
            raise IndexError("short record")
        if index >= counts[1]:
            continue  # authority and additional records name no answer
        if kind == _CNAME:
            aliases.setdefault(_name(message, rdata)[0], owner)
        elif kind == _A and size == 4:
            addresses.append((_IPV4_MAPPED | int.from_bytes(message[rdata:cursor]), owner))
        elif kind == _AAAA and size == 16:
            addresses.append((int.from_bytes(message[rdata:cursor]), owner))
    if not flags & 0x8000 or flags & 0x000F:  # a query, or an error response
        return [], at + cursor
    answers = []
    for value, owner in addresses:
        name = owner
        for _ in range(len(aliases)):  # back along the chain, at most once per alias
            if name in questions or name not in aliases:
                break
            name = aliases[name]
        answers.append((value >> 64, value & 0xFFFF_FFFF_FFFF_FFFF, name))
    return answers, at + cursor


def dns_answers(data: bytes, tcp: bool) -> list[tuple[int, int, str]]:
    """The address answers of the DNS messages one direction of a conversation sent, in order
    (UDP: datagrams one after another; TCP: each with its two-byte length); a message cut off
    or malformed ends the reading, keeping the answers before it."""
    answers: list[tuple[int, int, str]] = []
    at = 0
    try:
        while at < len(data):
            if tcp:
                length = int.from_bytes(data[at : at + 2])
                found, _ = _message(data[at + 2 : at + 2 + length], 0)
                at += 2 + length
            else:
                found, at = _message(data, at)
            answers.extend(found)
    except (IndexError, UnicodeError):
        pass
    return answers


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
