"""User overrides of service names: a mapping or a CSV file, checked entry by entry.

``read_overrides(overrides)`` returns one row per (protocol, port) with the user's name and
description (columns ``protocol, port, service, description``), for
:meth:`pcapflow.services.ServiceTable.with_overrides`. An entry with a protocol wins over a
bare-port entry (which means tcp and udp) for the same port; two entries for the same (protocol,
port) at the same level, or any invalid entry, raise :class:`~pcapflow.errors.OptionsError`
naming the entry.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from pcapflow.errors import OptionsError

if TYPE_CHECKING:  # pandas is imported where a frame is made: labelling for the terminal needs none
    import pandas as pd

#: Transport protocols that have port numbers in IANA's registry, in table order.
PROTOCOLS: tuple[str, ...] = ("dccp", "sctp", "tcp", "udp")
#: Protocols an override without a protocol applies to.
BARE_PORT_PROTOCOLS: tuple[str, ...] = ("tcp", "udp")
MAX_PORT = 65535
COLUMNS = ("protocol", "port", "service", "description")

OverridesSource = Mapping | str | os.PathLike


def empty_entries() -> pd.DataFrame:
    """A table of no entries, with the table's columns and dtypes."""
    return entries_frame(np.array([], dtype=object), np.array([], dtype=np.int64), np.array([], dtype=object), [])


def entries_frame(protocol, port, service, description) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {
            "protocol": pd.Series(protocol, dtype=object),
            "port": pd.Series(port, dtype="int64"),
            "service": pd.Series(service, dtype=object),
            "description": pd.Series(description, dtype=object).astype("string"),
        }
    )


def parse_port(value, where: str) -> int:
    """A port number 0..65535 from an int or text; ``where`` names the entry in the error."""
    if isinstance(value, bool):
        raise OptionsError(f"{where}: port must be an integer 0..{MAX_PORT}, not {value!r}")
    if isinstance(value, (int, np.integer)):
        port = int(value)
    else:
        text = str(value).strip()
        try:
            port = int(text, 10)
        except ValueError:
            raise OptionsError(f"{where}: port must be an integer 0..{MAX_PORT}, not {value!r}") from None
    if not 0 <= port <= MAX_PORT:
        raise OptionsError(f"{where}: port {port} is outside 0..{MAX_PORT}")
    return port


def parse_protocol(value, where: str) -> str:
    """One of :data:`PROTOCOLS`, from any case and spacing; ``where`` names the entry in the error."""
    name = str(value).strip().lower()
    if name not in PROTOCOLS:
        raise OptionsError(f"{where}: unknown protocol {value!r}: choose one of {', '.join(PROTOCOLS)}")
    return name


def read_overrides(overrides: OverridesSource) -> pd.DataFrame:
    """The user's entries, one row per (protocol, port); see the module docstring."""
    if isinstance(overrides, Mapping):
        return _resolve(_mapping_entries(overrides))
    if isinstance(overrides, (str, os.PathLike)):
        return _resolve(_csv_entries(overrides))
    raise OptionsError(f"service overrides must be a mapping or the path of a CSV file, not {type(overrides).__name__}")


def _parse_name(value, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise OptionsError(f"{where}: the service name must be a non-empty string, not {value!r}")
    return value.strip()


def _parse_description(value, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise OptionsError(f"{where}: the description must be a string, not {value!r}")
    return value.strip() or None


# An override entry: (protocols it applies to, port, name, description, explicit protocol?, where)
_Entry = tuple[tuple[str, ...], int, str, "str | None", bool, str]


def _mapping_entries(overrides: Mapping) -> list[_Entry]:
    entries = []
    for key, value in overrides.items():
        where = f"service override {key!r}"
        if isinstance(key, str) and "/" in key:
            port_text, _, protocol_text = key.partition("/")
            port = parse_port(port_text, where)
            protocols: tuple[str, ...] = (parse_protocol(protocol_text, where),)
            explicit = True
        else:
            port = parse_port(key, where)
            protocols, explicit = BARE_PORT_PROTOCOLS, False
        if isinstance(value, (tuple, list)):
            if len(value) != 2:
                raise OptionsError(f"{where}: give a name or a (name, description) pair, not {value!r}")
            name, description = _parse_name(value[0], where), _parse_description(value[1], where)
        else:
            name, description = _parse_name(value, where), None
        entries.append((protocols, port, name, description, explicit, where))
    return entries


def _csv_entries(path: str | os.PathLike) -> list[_Entry]:
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip().lower() for name in (reader.fieldnames or [])]
            missing = [name for name in ("port", "service") if name not in header]
            if missing:
                raise OptionsError(
                    f"service overrides file {path}: missing column(s) {', '.join(missing)}"
                    " (columns: port, protocol (optional), service, description (optional))"
                )
            reader.fieldnames = header
            entries = []
            for record in reader:
                where = f"service overrides file {path}, line {reader.line_num}"
                if None in record:
                    raise OptionsError(f"{where}: more fields than columns")
                if all(not (value or "").strip() for value in record.values()):
                    continue  # blank line
                port = parse_port(record.get("port") or "", where)
                protocol_text = (record.get("protocol") or "").strip()
                protocols: tuple[str, ...]
                if protocol_text:
                    protocols, explicit = (parse_protocol(protocol_text, where),), True
                else:
                    protocols, explicit = BARE_PORT_PROTOCOLS, False
                name = _parse_name(record.get("service"), where)
                description = _parse_description(record.get("description"), where)
                entries.append((protocols, port, name, description, explicit, where))
    except OSError as error:
        raise OptionsError(f"cannot read service overrides file {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise OptionsError(f"service overrides file {path} is not a UTF-8 CSV file: {error}") from None
    return entries


def _resolve(entries: Iterable[_Entry]) -> pd.DataFrame:
    """One row per (protocol, port): explicit-protocol entries beat bare-port ones."""
    import pandas as pd

    chosen: dict[tuple[str, int], tuple[str, str | None, bool, str]] = {}
    for protocols, port, name, description, explicit, where in entries:
        for protocol in protocols:
            previous = chosen.get((protocol, port))
            if previous is not None:
                if previous[2] == explicit:
                    raise OptionsError(f"{where}: {port}/{protocol} is already overridden by {previous[3]}")
                if previous[2] and not explicit:
                    continue  # the explicit entry stays
            chosen[(protocol, port)] = (name, description, explicit, where)
    if not chosen:
        return empty_entries()
    return pd.DataFrame(
        {
            "protocol": [protocol for protocol, _ in chosen],
            "port": np.array([port for _, port in chosen], dtype=np.int64),
            "service": [name for name, *_ in chosen.values()],
            "description": pd.Series([d for _, d, *_ in chosen.values()], dtype="string"),
        }
    )
