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

import numpy as np
import pandas as pd

from pcapflow.errors import OptionsError
from pcapflow.services import BARE_PORT_PROTOCOLS, OverridesSource, empty_entries, parse_port, parse_protocol


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
            protocols, explicit = (parse_protocol(protocol_text, where),), True
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
