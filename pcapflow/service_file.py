"""The bundled service table's file (``pcapflow/data/services.csv``), read fast.

The file is CSV as ``python -m pcapflow.data.make_services`` writes it: a header, then one
``protocol,port,service,description`` line per entry, ``\\n`` line endings; only a description
holding a comma or a quote is quoted (protocols, ports and names never hold one). A terminal
summary needs the names of a few hundred ports out of some 11,000 entries, so the lines are cut
into fields with numpy, and a field's text is made only when it is asked for (:class:`Texts`).
"""

from __future__ import annotations

import csv

import numpy as np

NEWLINE, COMMA, QUOTE = ord("\n"), ord(","), ord('"')


class Texts:
    """Text fields by entry: made from the file's bytes when asked for (``None`` for an empty
    field, when ``empty_is_none``), or given as an object array."""

    __slots__ = ("_data", "_empty_is_none", "_ends", "_given", "_starts")

    def __init__(self, data: bytes, starts: np.ndarray, ends: np.ndarray, given: dict[int, str | None], empty_is_none: bool):
        self._data, self._starts, self._ends, self._given, self._empty_is_none = data, starts, ends, given, empty_is_none

    @classmethod
    def of(cls, values: np.ndarray) -> Texts:
        """Texts that are an object array already."""
        count = len(values)
        return cls(b"", np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64), dict(enumerate(values.tolist())), False)

    def __len__(self) -> int:
        return len(self._starts)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The texts of entries ``rows``, as an object array."""
        out = np.empty(len(rows), dtype=object)
        data, given = self._data, self._given
        for at, row in enumerate(rows.tolist()):
            if row in given:
                out[at] = given[row]
            else:
                text = data[self._starts[row] : self._ends[row]].decode("utf-8")
                out[at] = None if self._empty_is_none and not text else text
        return out

    def all(self) -> np.ndarray:
        return self.take(np.arange(len(self)))

    def reordered(self, order: np.ndarray) -> Texts:
        """The same texts with entry ``i`` being this one's entry ``order[i]``."""
        position = np.empty(len(order), dtype=np.int64)
        position[order] = np.arange(len(order))
        given = {int(position[row]): text for row, text in self._given.items()}
        return Texts(self._data, self._starts[order], self._ends[order], given, self._empty_is_none)


def read_bundled(data: bytes, protocols: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, Texts, Texts]:
    """(position in ``protocols`` of each entry's protocol, port, services, descriptions) of the file."""
    array = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(array == NEWLINE)
    starts, ends = newlines[:-1] + 1, newlines[1:]  # the lines after the header
    commas = np.flatnonzero(array == COMMA)
    first = np.searchsorted(commas, starts)
    after_protocol, after_port, after_service = commas[first], commas[first + 1], commas[first + 2]
    # the protocol, by the first letter that tells them apart in the file: d(ccp), s(ctp), t(cp), u(dp)
    protocol = np.full(len(starts), -1, dtype=np.int64)
    for position, name in enumerate(protocols):
        protocol[(array[starts] == ord(name[0])) & (after_protocol - starts == len(name))] = position
    port = np.zeros(len(starts), dtype=np.int64)
    for digit in range(5):  # at most 65535
        at = after_protocol + 1 + digit
        inside = at < after_port
        port = np.where(inside, port * 10 + array[np.minimum(at, len(array) - 1)].astype(np.int64) - ord("0"), port)
    quoted: dict[int, str | None] = {}
    for row in sorted(set(np.searchsorted(ends, np.flatnonzero(array == QUOTE)).tolist())):
        line = data[starts[row] : ends[row]].decode("utf-8")
        quoted[row] = next(csv.reader([line]))[3] or None
    services = Texts(data, after_port + 1, after_service, {}, False)
    descriptions = Texts(data, after_service + 1, ends, quoted, True)
    return protocol, port, services, descriptions
