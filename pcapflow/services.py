"""Service names of (transport protocol, port) pairs: IANA's registry, bundled, plus user overrides.

Contract:

* The names come only from the table bundled with the package (``pcapflow/data/services.csv``,
  generated from IANA's "Service Name and Transport Protocol Port Number Registry" by
  ``python -m pcapflow.data.make_services``; provenance in ``pcapflow/data/SOURCE.md``). The
  host's ``/etc/services`` and ``socket.getservbyport`` are never consulted, so results do not
  depend on the machine.
* Protocols are ``tcp``, ``udp``, ``sctp`` and ``dccp``; ports 0..65535. Each (protocol, port)
  has at most one name, the familiar one (:mod:`pcapflow.data.familiar_names`, applied when the
  table is generated): where IANA lists several, the one Debian's netbase ``/etc/services`` uses
  (2049 is ``nfs``, not ``shilp``), else IANA's primary (first-listed) one, so 80/tcp is ``http``,
  never ``www``; and a short sourced table of de-facto ports (9200/tcp ``elasticsearch``).
* The bundled table is read lazily, once per process (:func:`default_services`). Tables are
  immutable: :meth:`ServiceTable.with_overrides` returns a new table in which the user's
  entries win over the bundled ones.
* :meth:`ServiceTable.label` is vectorised (an array lookup, no per-row Python); a protocol
  outside the table (``icmp``, ``gre``...), a port without a name, a missing value or an
  out-of-range port get ``<NA>``.
* Invalid overrides or queries raise :class:`~pcapflow.errors.OptionsError`, naming the entry.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pcapflow.errors import OptionsError
from pcapflow.service_file import Texts, read_bundled
from pcapflow.service_overrides import (
    COLUMNS,
    MAX_PORT,
    PROTOCOLS,
    OverridesSource,
    entries_frame,
    parse_port,
    parse_protocol,
    read_overrides,
)

if TYPE_CHECKING:  # pandas is imported where a frame is asked for: labelling for the terminal needs none
    import pandas as pd

__all__ = ["PROTOCOLS", "ServiceTable", "default_services"]

_PORT_SPACE = MAX_PORT + 1
_PORT_QUERY = re.compile(r"([+-]?\d+)(?:/(.*))?")


class ServiceTable:
    """An immutable table of service names by (protocol, port).

    ``ServiceTable()`` is the bundled IANA table (sharing the process-wide cached data); use
    :func:`default_services` to get it, and :meth:`with_overrides` to add your own names.
    """

    __slots__ = ("_description", "_factorized", "_port", "_protocol_index", "_rows", "_service")
    _protocol_index: np.ndarray  # position of each entry's protocol in PROTOCOLS
    _port: np.ndarray
    _service: Texts
    _description: Texts
    _rows: np.ndarray
    _factorized: tuple | None

    def __init__(self, entries: pd.DataFrame | None = None):
        """``entries``: a frame with columns protocol, port, service, description (validated,
        unique (protocol, port)). ``None`` means the bundled table."""
        if entries is None:
            bundled = _bundled()
            for name in self.__slots__:
                object.__setattr__(self, name, getattr(bundled, name))
            return
        frame = entries.loc[:, list(COLUMNS)]
        description = frame["description"].astype(object).where(frame["description"].notna(), None)
        self._set_columns(
            protocol_positions(frame["protocol"].astype(str).tolist()), frame["port"].to_numpy(dtype=np.int64),
            Texts.of(frame["service"].astype(str).to_numpy(dtype=object)), Texts.of(description.to_numpy(dtype=object)),
        )

    @classmethod
    def _from_columns(cls, protocol_index: np.ndarray, port: np.ndarray, service: Texts, description: Texts) -> ServiceTable:
        table = object.__new__(cls)
        table._set_columns(protocol_index, port, service, description)
        return table

    def _set_columns(self, protocol_index: np.ndarray, port: np.ndarray, service: Texts, description: Texts) -> None:
        """Validate and index the entries (``description``: None where there is none)."""
        port = np.asarray(port, dtype=np.int64)
        if (protocol_index < 0).any() or ((port < 0) | (port > MAX_PORT)).any():
            raise ValueError("service table entries with an unknown protocol or a port outside 0..65535")
        keys = protocol_index * _PORT_SPACE + port
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        if (keys[1:] == keys[:-1]).any():
            raise ValueError("duplicate (protocol, port) in service table entries")
        # dense lookup: row of (protocol, port), -1 where there is no name
        rows = np.full(len(PROTOCOLS) * _PORT_SPACE, -1, dtype=np.int32)
        rows[keys] = np.arange(len(keys), dtype=np.int32)
        for name, value in (
            ("_protocol_index", protocol_index[order]), ("_port", port[order]), ("_service", service.reordered(order)),
            ("_description", description.reordered(order)), ("_rows", rows), ("_factorized", None),
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError("ServiceTable is immutable")

    def __reduce__(self):  # pickled as its entries (for the tasks of a Dask cluster): __setattr__ refuses the default way
        return (ServiceTable._from_columns, (self._protocol_index, self._port, self._service, self._description))

    def __len__(self) -> int:
        return len(self._port)

    def __repr__(self) -> str:
        return f"<ServiceTable: {len(self)} (protocol, port) names>"

    @property
    def entries(self) -> pd.DataFrame:
        """A copy of the table: columns protocol, port, service, description; sorted by protocol, port."""
        protocol = np.array(PROTOCOLS, dtype=object)[self._protocol_index]
        return entries_frame(protocol, self._port, self._service.all(), self._description.all())

    # -- overrides ---------------------------------------------------------------------------

    def with_overrides(self, overrides: OverridesSource) -> ServiceTable:
        """A new table in which the entries of ``overrides`` win over this table's.

        ``overrides`` is either

        * a mapping ``{"8080/tcp": "my-proxy", 9000: "minio", "53/udp": ("dns", "my resolver")}``:
          keys are ``"PORT/PROTOCOL"``, or a bare port (int or ``"PORT"``) meaning tcp *and* udp;
          values are a name or a ``(name, description)`` pair; or
        * the path of a CSV file with a header and the columns ``port,service`` and optionally
          ``protocol`` (empty or absent: tcp and udp) and ``description``.

        An override without a description has an ``<NA>`` description (the bundled description
        belongs to the bundled name). Within one set of overrides an entry with a protocol wins
        over a bare-port entry for the same port; two entries for the same (protocol, port) at
        the same level are an error. Raises :class:`OptionsError` for an invalid entry (port
        outside 0..65535, unknown protocol, empty name, missing column, unreadable file).
        """
        import pandas as pd

        user = read_overrides(overrides)
        if user.empty:
            return self
        mine = self.entries
        keep = ~_keys(mine).isin(_keys(user))
        return ServiceTable(pd.concat([mine[keep], user], ignore_index=True))

    # -- labelling ---------------------------------------------------------------------------

    def rows(self, protocol_index: np.ndarray, port: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """The table row (-1: none) of each (protocol, port).

        ``protocol_index``: position of each protocol in :data:`PROTOCOLS` (-1: not there);
        ``port``: integers; ``valid``: where the port is a port at all (default: 0..65535).
        """
        port = np.asarray(port, dtype=np.int64)
        if valid is None:
            valid = (port >= 0) & (port <= MAX_PORT)
        valid = valid & (protocol_index >= 0)
        keys = protocol_index.astype(np.int64) * _PORT_SPACE + np.where(valid, port, 0)
        return np.where(valid, self._rows[keys], -1)

    def describe(self, protocol_index: np.ndarray, port: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Service names and descriptions of each (protocol, port) as object arrays, None where
        there is none (arguments as for :meth:`rows`)."""
        rows = self.rows(protocol_index, port)
        found = rows >= 0
        names, descriptions = np.full(len(rows), None, dtype=object), np.full(len(rows), None, dtype=object)
        names[found], descriptions[found] = self._service.take(rows[found]), self._description.take(rows[found])
        return names, descriptions

    def label(self, protocol, port) -> tuple[pd.Categorical, pd.Categorical]:
        """The service names and descriptions of each (``protocol[i]``, ``port[i]``).

        ``protocol``: array-like of protocol names (``"tcp"``, ``"udp"``, ``"icmp"``..., case
        does not matter; a categorical is fastest) or one name for all ports. ``port``: array-like
        of integers. Returns two :class:`pandas.Categorical` of the same length (categories: the
        values present), ``<NA>`` where there is no name: unknown protocol, unassigned port,
        missing value or port outside 0..65535. Vectorised: some 40-60 ms per million rows.
        """
        import pandas as pd

        if self._factorized is None:  # distinct names and descriptions, made once per table
            name_codes, names = pd.factorize(self._service.all(), sort=True)
            description_codes, descriptions = pd.factorize(self._description.all(), sort=True)  # None -> -1
            factorized = (name_codes.astype(np.int32), np.asarray(names, dtype=object),
                          description_codes.astype(np.int32), np.asarray(descriptions, dtype=object))
            object.__setattr__(self, "_factorized", factorized)
        name_codes, names, description_codes, descriptions = self._factorized  # type: ignore[misc]  # set just above
        ports, valid = _port_array(port)
        rows = self.rows(_protocol_index(protocol, len(ports)), ports, valid)
        found = rows >= 0
        safe = np.where(found, rows, 0)
        name_of = np.where(found, name_codes[safe] if len(self) else -1, -1)
        description_of = np.where(found, description_codes[safe] if len(self) else -1, -1)
        return _compact(name_of, names), _compact(description_of, descriptions)

    # -- CLI lookup --------------------------------------------------------------------------

    def lookup(self, query: str) -> pd.DataFrame:
        """The entries matching ``query``, for the ``services`` command.

        ``query`` is a port (``"22"``: every protocol), a port and protocol (``"22/tcp"``) or a
        service name (``"ssh"``): exact case-insensitive match on the name, or if no name matches
        exactly, every name containing ``query`` (case-insensitive). Returns a frame with the
        columns protocol, port, service, description, sorted by port then protocol (empty when
        nothing matches). Raises :class:`OptionsError` for a malformed query (``"99999"``,
        ``"22/xyz"``, ``""``).
        """
        if not isinstance(query, str):
            raise OptionsError(f"service query must be a string, not {type(query).__name__}")
        text = query.strip()
        if not text:
            raise OptionsError("empty service query: give a port (22), a port/protocol (22/tcp) or a name (ssh)")
        frame = self.entries
        match = _PORT_QUERY.fullmatch(text)
        if match is not None:
            port = parse_port(match.group(1), f"service query {query!r}")
            selected = frame["port"] == port
            if match.group(2) is not None:
                selected &= frame["protocol"] == parse_protocol(match.group(2), f"service query {query!r}")
        else:
            names = frame["service"].str.lower()
            needle = text.lower()
            selected = names == needle
            if not selected.any():
                selected = names.str.contains(needle, regex=False)
        result = frame[selected.to_numpy()].sort_values(["port", "protocol"], kind="stable")
        return result.reset_index(drop=True)


# -- the bundled table ----------------------------------------------------------------------------


@functools.cache
def _bundled() -> ServiceTable:
    data = (Path(__file__).parent / "data" / "services.csv").read_bytes()  # installed unzipped: the kernels are files too
    return ServiceTable._from_columns(*read_bundled(data, PROTOCOLS))


def default_services() -> ServiceTable:
    """The bundled table (IANA's names, familiar ones where IANA misleads), read on first use and
    cached for the life of the process."""
    return _bundled()


# -- helpers ----------------------------------------------------------------------------------------


def _keys(frame: pd.DataFrame) -> pd.Index:
    import pandas as pd

    return pd.Index(frame["protocol"].astype(str) + "/" + frame["port"].astype(str))


def _compact(codes: np.ndarray, values: pd.Index) -> pd.Categorical:
    """A categorical of ``values[codes]`` (-1: NA) whose categories are only the values used."""
    import pandas as pd

    used = np.bincount(codes[codes >= 0], minlength=len(values)) > 0
    remap = np.cumsum(used, dtype=np.int32) - 1
    remap = np.append(remap, np.int32(-1))  # index -1 -> NA
    return pd.Categorical.from_codes(remap[codes], categories=values[used])


def _port_array(port) -> tuple[np.ndarray, np.ndarray]:
    """``port`` as int64 and the mask of valid ports (present, integral, 0..65535)."""
    import pandas as pd

    if isinstance(port, (pd.Series, pd.Index)):
        port = port.array
    if isinstance(port, pd.api.extensions.ExtensionArray):
        if port.dtype.kind in "iu" and not port.isna().any():
            values = port.to_numpy(dtype=np.int64)
        else:
            values = port.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = np.asarray(port)
        if values.ndim == 0:
            values = values.reshape(1)
        if values.dtype.kind not in "iub":
            values = pd.to_numeric(pd.Series(values.ravel(), dtype=object), errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
    if values.ndim != 1:
        raise ValueError(f"port must be one-dimensional, not of shape {values.shape}")
    if values.dtype.kind == "f":
        valid = np.isfinite(values) & (values == np.floor(values)) & (values >= 0) & (values <= MAX_PORT)
        return np.where(valid, values, 0).astype(np.int64), valid
    values = values.astype(np.int64, copy=False)
    return values, (values >= 0) & (values <= MAX_PORT)


def _protocol_index(protocol, length: int) -> np.ndarray:
    """Position in :data:`PROTOCOLS` of each protocol (-1: not in the table or missing)."""
    import pandas as pd

    if isinstance(protocol, str):
        return np.full(length, protocol_positions([protocol.strip().lower()])[0], dtype=np.int8)
    if isinstance(protocol, (pd.Series, pd.Index)):
        protocol = protocol.array
    if isinstance(protocol, pd.Categorical):
        codes, uniques = protocol.codes, protocol.categories
    elif isinstance(protocol, pd.api.extensions.ExtensionArray):
        codes, uniques = pd.factorize(protocol, use_na_sentinel=True)
    else:
        codes, uniques = pd.factorize(np.asarray(protocol, dtype=object).ravel(), use_na_sentinel=True)
    if len(codes) != length:
        raise ValueError(f"protocol and port differ in length ({len(codes)} and {length})")
    # code -1 (missing) -> -1
    positions = protocol_positions([str(u).strip().lower() for u in uniques] + [""]).astype(np.int8)
    return positions[np.asarray(codes)]


_PROTOCOL_POSITIONS = {name: position for position, name in enumerate(PROTOCOLS)}


def protocol_positions(names: list[str]) -> np.ndarray:
    """Position in :data:`PROTOCOLS` of each protocol name (-1: not in the table)."""
    return np.array([_PROTOCOL_POSITIONS.get(name, -1) for name in names], dtype=np.int64)
