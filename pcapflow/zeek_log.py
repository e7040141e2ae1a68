"""Zeek's conn.log from a conversations table: the TSV layout of Zeek's ASCII writer, and its JSON lines.

Contract: a conversations DataFrame (columns of :data:`pcapflow.schema.CONVERSATION_COLUMNS`) in,
the text of one conn.log out, one row per conversation in the table's order (first packet first,
so ``ts`` ascends; Zeek writes a connection when it ends). The fields, their order and their types
are those of Zeek's ``Conn::Info`` (``ip_proto`` included, as current Zeek logs it), then
``community_id`` where Zeek's community-id policy script appends it. A field pcapflow does not
know is unset (``-`` in TSV, left out in JSON), as Zeek leaves it: the choices are in the README
("Zeek logs") and in the comments below.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pcapflow.export import ExportError
from pcapflow.protocols import PROTOCOL_NAMES

if TYPE_CHECKING:
    import pandas as pd

#: (name, Zeek type) of every conn.log field, in Zeek's order.
CONN_FIELDS: tuple[tuple[str, str], ...] = (
    ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"), ("id.resp_h", "addr"),
    ("id.resp_p", "port"), ("proto", "enum"), ("service", "string"), ("duration", "interval"),
    ("orig_bytes", "count"), ("resp_bytes", "count"), ("conn_state", "string"), ("local_orig", "bool"),
    ("local_resp", "bool"), ("missed_bytes", "count"), ("history", "string"), ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"), ("resp_pkts", "count"), ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"), ("ip_proto", "count"), ("community_id", "string"),
)

#: The header lines of Zeek's ASCII writer before ``#open``, with its default separators.
_TSV_PREAMBLE = ("#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", "#path\tconn")
_UNSET = "-"
#: Zeek's format of the ``#open`` and ``#close`` times.
_LOG_TIME_FORMAT = "%Y-%m-%d-%H-%M-%S"

#: Zeek's transport_proto of each pcapflow protocol; Zeek logs any other IP protocol as unknown_transport.
_ZEEK_PROTO = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "icmpv6": "icmp"}
_UNKNOWN_TRANSPORT = "unknown_transport"
#: Zeek keeps a history for TCP and UDP only (its ICMP and unknown-protocol connections log ``-``).
_HISTORY_PROTOCOLS = ("tcp", "udp")
_PROTOCOL_NUMBERS = {name: number for number, name in PROTOCOL_NAMES.items()}
_UNNAMED_PROTOCOL_PREFIX = "ip-"  # pcapflow's name of a protocol without one: ip-<number>

#: Zeek renders a uid as C + the base62 digits of its two words (64 and 32 bits, 96 in all).
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_UID_WORDS = (8, 4)

_NEEDED = (
    "protocol", "vlan", "client_ip", "client_port", "server_ip", "server_port", "first_seen", "last_seen",
    "client_packets", "server_packets", "client_ip_bytes", "server_ip_bytes", "client_payload_bytes",
    "server_payload_bytes", "conn_state", "history", "community_id",
)


def _base62(value: int) -> str:
    digits = ""
    while True:
        value, digit = divmod(value, 62)
        digits = _BASE62[digit] + digits
        if not value:
            return digits


def conversation_uid(protocol: str, vlan: object, client: tuple[str | None, int], server: tuple[str | None, int], first_seen_ns: int) -> str:
    """A Zeek-shaped uid (``C`` + base62 of 96 bits) made from the conversation itself, so that the
    same capture gives the same uids on every run and machine. Zeek draws its uids at random; these
    are a BLAKE2b hash of what tells the conversation apart from every other: protocol, VLAN, both
    endpoints and the nanosecond of its first packet (a reused 5-tuple starts later)."""
    key = f"{protocol}|{vlan}|{client[0]}|{client[1]}|{server[0]}|{server[1]}|{first_seen_ns}"
    digest = hashlib.blake2b(key.encode(), digest_size=sum(_UID_WORDS)).digest()
    high, low = digest[: _UID_WORDS[0]], digest[_UID_WORDS[0]:]
    return "C" + _base62(int.from_bytes(high, "big")) + _base62(int.from_bytes(low, "big"))


def _ip_proto(protocol: str) -> int:
    if protocol in _PROTOCOL_NUMBERS:
        return _PROTOCOL_NUMBERS[protocol]
    return int(protocol.removeprefix(_UNNAMED_PROTOCOL_PREFIX))


def _nanoseconds(column: pd.Series) -> list[int]:
    return column.astype("int64").tolist()


def _text(column: pd.Series) -> list[str | None]:
    return [str(value) if present else None for value, present in zip(column.tolist(), column.notna().tolist())]


def conn_log_fields(frame: pd.DataFrame) -> dict[str, list]:
    """The conn.log fields of every conversation of ``frame``: Zeek's field name -> one value per
    row, ``None`` where the field is unset; times and intervals in integer nanoseconds."""
    missing = [name for name in _NEEDED if name not in frame.columns]
    if missing:
        raise ExportError(f"a Zeek conn.log is written from a conversations table (missing {', '.join(missing)}): use `pcapflow conversations`")
    protocols = [str(name) for name in frame["protocol"].astype(object).tolist()]
    first, last = _nanoseconds(frame["first_seen"]), _nanoseconds(frame["last_seen"])
    client_ips, server_ips = _text(frame["client_ip"]), _text(frame["server_ip"])
    client_ports, server_ports = frame["client_port"].astype(int).tolist(), frame["server_port"].astype(int).tolist()
    vlans = _text(frame["vlan"])
    durations = [end - start for start, end in zip(first, last)]
    # Zeek sets duration and the payload byte counts only when the connection lasted (duration > 0)
    lasted = [duration > 0 for duration in durations]

    def when_lasted(values: Iterable) -> list:
        return [value if kept else None for value, kept in zip(values, lasted)]

    rows = len(frame)
    unset: list[None] = [None] * rows
    return {
        "ts": first,
        "uid": [conversation_uid(*key) for key in zip(protocols, vlans, zip(client_ips, client_ports), zip(server_ips, server_ports), first)],
        "id.orig_h": client_ips,
        "id.orig_p": client_ports,
        "id.resp_h": server_ips,
        "id.resp_p": server_ports,
        "proto": [_ZEEK_PROTO.get(protocol, _UNKNOWN_TRANSPORT) for protocol in protocols],
        # Zeek's service is what an analyzer confirmed from the payload; the port's registered name
        # (the table's service column) is a guess, so it is not written here
        "service": unset,
        "duration": when_lasted(durations),
        "orig_bytes": when_lasted(frame["client_payload_bytes"].astype(int).tolist()),
        "resp_bytes": when_lasted(frame["server_payload_bytes"].astype(int).tolist()),
        "conn_state": _text(frame["conn_state"]),
        # Site::local_nets is not known here
        "local_orig": unset,
        "local_resp": unset,
        # pcapflow does not reassemble TCP streams, so it cannot tell bytes lost in gaps: unknown, not 0
        "missed_bytes": unset,
        "history": [text if text and protocol in _HISTORY_PROTOCOLS else None for text, protocol in zip(_text(frame["history"]), protocols)],
        "orig_pkts": frame["client_packets"].astype(int).tolist(),
        "orig_ip_bytes": frame["client_ip_bytes"].astype(int).tolist(),
        "resp_pkts": frame["server_packets"].astype(int).tolist(),
        "resp_ip_bytes": frame["server_ip_bytes"].astype(int).tolist(),
        # Zeek sets tunnel_parents only on connections inside a tunnel; pcapflow reports the outer ones
        "tunnel_parents": unset,
        "ip_proto": [_ip_proto(protocol) for protocol in protocols],
        "community_id": _text(frame["community_id"]),
    }


def _seconds(nanoseconds: int) -> str:
    """Zeek's ASCII rendering of a time or an interval: seconds with six decimals."""
    micros = (nanoseconds + 500) // 1000
    whole, fraction = divmod(abs(micros), 1_000_000)
    return f"{'-' if micros < 0 else ''}{whole}.{fraction:06d}"


def _log_time(nanoseconds: int) -> str:
    return datetime.fromtimestamp(nanoseconds // 1_000_000_000, UTC).strftime(_LOG_TIME_FORMAT)


def _tsv_formatter(zeek_type: str) -> Callable[[object], str]:
    if zeek_type in ("time", "interval"):
        return lambda value: _UNSET if value is None else _seconds(value)  # type: ignore[arg-type]
    # every written value comes from a fixed alphabet (addresses, digits, state and history letters,
    # base64): none holds a tab, a comma or a character Zeek would escape
    return lambda value: _UNSET if value is None else str(value)


def conn_log_tsv(frame: pd.DataFrame) -> str:
    """The conn.log of ``frame`` in Zeek's TSV layout (header, rows, ``#close``).

    ``#open`` and ``#close`` are the times of the first and the last packet (UTC), where Zeek writes
    the wall-clock times at which it opened and closed the file: the same capture gives the same
    file. An empty table gives the header and ``#close`` with the Unix epoch."""
    fields = conn_log_fields(frame)
    opened = min(fields["ts"], default=0)
    closed = max(_nanoseconds(frame["last_seen"]), default=0)
    columns = [list(map(_tsv_formatter(zeek_type), fields[name])) for name, zeek_type in CONN_FIELDS]
    lines = [
        *_TSV_PREAMBLE,
        f"#open\t{_log_time(opened)}",
        "#fields\t" + "\t".join(name for name, _ in CONN_FIELDS),
        "#types\t" + "\t".join(zeek_type for _, zeek_type in CONN_FIELDS),
        *("\t".join(row) for row in zip(*columns)),
        f"#close\t{_log_time(closed)}",
    ]
    return "\n".join(lines) + "\n"


def conn_log_json(frame: pd.DataFrame) -> str:
    """The conn.log of ``frame`` as Zeek's JSON lines (``LogAscii::use_json=T``): one object per
    connection, Zeek's field names in Zeek's order, ``ts`` in epoch seconds as Zeek's default JSON
    timestamps are, intervals in seconds, unset fields left out."""
    fields = conn_log_fields(frame)
    seconds = {name for name, zeek_type in CONN_FIELDS if zeek_type in ("time", "interval")}
    names = [name for name, _ in CONN_FIELDS]
    lines = []
    for row in zip(*(fields[name] for name in names)):
        record = {name: value / 1_000_000_000 if name in seconds else value for name, value in zip(names, row) if value is not None}
        lines.append(json.dumps(record, separators=(",", ":")))
    return "".join(line + "\n" for line in lines)
