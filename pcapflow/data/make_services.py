"""Generate ``pcapflow/data/services.csv`` (and ``SOURCE.md``) from IANA's port-number registry.

Usage::

    python -m pcapflow.data.make_services SOURCE_CSV NETBASE_SERVICES [--output-dir DIR]
                                          [--origin TEXT] [--snapshot-date TEXT] [--names-origin TEXT]

``SOURCE_CSV`` is the CSV export of IANA's "Service Name and Transport Protocol Port Number
Registry" (columns ``Service Name, Port Number, Transport Protocol, Description, ...``);
``NETBASE_SERVICES`` is Debian netbase's services file (installed as ``/etc/services``), which
chooses among IANA's names where IANA lists several for one port.

The output table has the columns ``protocol,port,service,description`` and keeps:

* protocols ``tcp``, ``udp``, ``sctp`` and ``dccp`` only;
* rows with both a service name and a port (SRV-only names without a port, and the
  "Reserved"/"Unassigned" rows without a name, are dropped);
* one row per port: ranges such as ``6000-6063`` are expanded;
* for a (protocol, port) with several names, the familiar one
  (:mod:`pcapflow.data.familiar_names`): the one netbase uses, else the first in registry order
  (IANA lists the primary name first: 80/tcp is ``http``, not its aliases ``www`` or ``www-http``);
* then the curated de-facto ports of :data:`~pcapflow.data.familiar_names.DE_FACTO`.

Descriptions are kept as IANA wrote them, except that surrounding whitespace is stripped and a
line break (with the indentation around it) becomes one space. Rows are sorted by protocol, then
port. The output is deterministic: the same inputs give byte-identical files (UTF-8, ``\\n``
line endings, no timestamps). ``SOURCE.md`` records where the inputs came from, their SHA-256,
the number of rows written and every name the familiar-name rules changed; pass
``--origin``/``--snapshot-date``/``--names-origin`` when regenerating from newer snapshots.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import io
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from pcapflow.data.familiar_names import DE_FACTO, Entry, Key, de_facto_entry, familiar_entry, read_services_file

PROTOCOLS = ("tcp", "udp", "sctp", "dccp")
COLUMNS = ("protocol", "port", "service", "description")
MAX_PORT = 65535

#: Provenance of the snapshot the bundled table was generated from.
DEFAULT_ORIGIN = (
    "public repository jgraef/iana-numbers, file iana-ports/service-names-port-numbers.csv, commit d482720f55fd"
)
DEFAULT_SNAPSHOT_DATE = "June 2024"
#: Provenance of the services file that chooses among IANA's names.
DEFAULT_NAMES_ORIGIN = "Debian netbase 6.4 (Debian 12), file /etc/services"
REGISTRY_URL = "https://www.iana.org/assignments/service-names-port-numbers/service-names-port-numbers.csv"

_PORTS = re.compile(r"(\d+)(?:-(\d+))?")
_LINE_BREAK = re.compile(r"\s*[\r\n]+\s*")

Row = tuple[str, int, str, str]


class RegistryFormatError(ValueError):
    """The source file is not the registry's CSV export, or a row has a malformed port."""


def _ports(text: str, line: int) -> range:
    match = _PORTS.fullmatch(text)
    if match is None:
        raise RegistryFormatError(f"record at line {line}: malformed port number {text!r}")
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    if not first <= last <= MAX_PORT:
        raise RegistryFormatError(f"record at line {line}: bad port range {text!r}")
    return range(first, last + 1)


def read_registry(source: io.TextIOBase) -> dict[Key, list[Entry]]:
    """IANA's entries ``(service, description)`` of each (protocol, port) of the registry CSV
    ``source``, in registry order, each name once."""
    reader = csv.DictReader(source)
    wanted = ("Service Name", "Port Number", "Transport Protocol", "Description")
    missing = [name for name in wanted if name not in (reader.fieldnames or ())]
    if missing:
        raise RegistryFormatError(f"not IANA's registry CSV: missing column(s) {', '.join(missing)}")
    registry: dict[Key, list[Entry]] = {}
    for record in reader:
        name = (record["Service Name"] or "").strip()
        port_text = (record["Port Number"] or "").strip()
        protocol = (record["Transport Protocol"] or "").strip().lower()
        if not name or not port_text or protocol not in PROTOCOLS:
            continue
        description = _LINE_BREAK.sub(" ", (record["Description"] or "").strip())
        for port in _ports(port_text, reader.line_num):
            entries = registry.setdefault((protocol, port), [])
            if all(name != known for known, _ in entries):
                entries.append((name, description))
    return registry


def build_table(registry: Mapping[Key, list[Entry]], preferred: Mapping[Key, str],
                de_facto: Mapping[Key, Entry] = DE_FACTO) -> tuple[list[Row], list[str]]:
    """The rows ``(protocol, port, service, description)`` of the table, sorted, and one line per
    name the familiar-name rules changed (for ``SOURCE.md``)."""
    table: dict[Key, Entry] = {}
    changes = []
    for key, registered in sorted(registry.items(), key=_by_port):
        table[key] = familiar_entry(key, registered, preferred)
        if table[key] != registered[0]:
            changes.append(f"{_port_text(key)} `{table[key][0]}` (netbase's; IANA lists `{registered[0][0]}` first)")
    for key, entry in sorted(de_facto.items(), key=_by_port):
        registered = table.get(key)
        table[key] = de_facto_entry(registered, entry)
        was = f"IANA: `{registered[0]}`" if registered is not None else "unassigned at IANA"
        changes.append(f"{_port_text(key)} `{entry[0]}` (de facto; {was})")
    rows = [(protocol, port, name, description) for (protocol, port), (name, description) in sorted(table.items())]
    return rows, changes


def _by_port(item: tuple[Key, object]) -> tuple[int, str]:
    (protocol, port), _ = item
    return port, protocol


def _port_text(key: Key) -> str:
    return f"{key[1]}/{key[0]}"


def write_table(rows: list[Row], path: Path) -> None:
    """Write ``rows`` as CSV with a header, UTF-8 and ``\\n`` line endings."""
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)


@dataclasses.dataclass(frozen=True)
class Input:
    """One input file, as ``SOURCE.md`` describes it."""

    name: str
    digest: str
    origin: str
    date: str = ""


def source_note(source: Input, names: Input, rows: int, changes: list[str]) -> str:
    """The text of ``SOURCE.md``."""
    changed = "\n".join(f"- {line}" for line in changes) or "- none"
    return f"""# services.csv: provenance

`services.csv` is generated by `pcapflow/data/make_services.py`; do not edit it by hand.

- Registry: IANA "Service Name and Transport Protocol Port Number Registry", CSV export
  (<{REGISTRY_URL}>)
- Snapshot: {source.origin}
- Snapshot date: {source.date}
- Input file: `{source.name}`, SHA-256 `{source.digest}`
- Familiar names: {names.origin}, SHA-256 `{names.digest}`
- Output: {rows} rows (`protocol,port,service,description`)

Kept: protocols tcp, udp, sctp and dccp; rows with both a service name and a port; port ranges
expanded to one row per port; for a (protocol, port) with several names, the one Debian netbase's
services file uses, else the first one in registry order (IANA's primary name); then a curated
table of de-facto ports (`pcapflow/data/familiar_names.py`, each entry with its source).
Descriptions are IANA's, with surrounding whitespace stripped and line breaks collapsed to single
spaces. Sorted by protocol, then port.

Names set by the familiar-name rules, not IANA's first-listed one:

{changed}

Regenerate with:

    python -m pcapflow.data.make_services path/to/service-names-port-numbers.csv path/to/netbase/services
"""


def generate(source: str | Path, names: str | Path, output_dir: str | Path, *, origin: str = DEFAULT_ORIGIN,
             snapshot_date: str = DEFAULT_SNAPSHOT_DATE, names_origin: str = DEFAULT_NAMES_ORIGIN,
             de_facto: Mapping[Key, Entry] = DE_FACTO) -> int:
    """Write ``services.csv`` and ``SOURCE.md`` into ``output_dir`` from the registry CSV
    ``source`` and the services(5) file ``names``; return the number of rows written."""
    source, names, output_dir = Path(source), Path(names), Path(output_dir)
    data, names_data = source.read_bytes(), names.read_bytes()
    registry = read_registry(io.StringIO(data.decode("utf-8-sig"), newline=""))
    preferred = read_services_file(names_data.decode("utf-8"), PROTOCOLS)
    rows, changes = build_table(registry, preferred, de_facto)
    write_table(rows, output_dir / "services.csv")
    note = source_note(
        Input(source.name, hashlib.sha256(data).hexdigest(), origin, snapshot_date),
        Input(names.name, hashlib.sha256(names_data).hexdigest(), names_origin),
        len(rows), changes,
    )
    (output_dir / "SOURCE.md").write_bytes(note.encode("utf-8"))
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pcapflow.data.make_services",
        description="Generate pcapflow's bundled services.csv from IANA's port-number registry CSV.",
    )
    parser.add_argument("source", metavar="SOURCE_CSV", help="IANA service-names-port-numbers.csv export")
    parser.add_argument("names", metavar="NETBASE_SERVICES",
                        help="Debian netbase's services file (/etc/services): chooses among IANA's names for one port")
    parser.add_argument("--output-dir", default=str(Path(__file__).resolve().parent),
                        help="where to write services.csv and SOURCE.md (default: the package's data directory)")
    parser.add_argument("--origin", default=DEFAULT_ORIGIN, help="where the snapshot came from, for SOURCE.md")
    parser.add_argument("--snapshot-date", default=DEFAULT_SNAPSHOT_DATE, help="date of the snapshot, for SOURCE.md")
    parser.add_argument("--names-origin", default=DEFAULT_NAMES_ORIGIN,
                        help="which netbase release NETBASE_SERVICES is, for SOURCE.md")
    args = parser.parse_args(argv)
    try:
        count = generate(args.source, args.names, args.output_dir, origin=args.origin,
                         snapshot_date=args.snapshot_date, names_origin=args.names_origin)
    except (OSError, UnicodeDecodeError, RegistryFormatError) as error:
        print(f"make_services: {error}", file=sys.stderr)
        return 1
    print(f"wrote {count} rows to {Path(args.output_dir) / 'services.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
