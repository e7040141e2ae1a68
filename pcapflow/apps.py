"""Payload inspection: what ran in each conversation, and the name its client asked for.

Data contract
-------------
The flow table identifies each conversation's protocol in its fold (the compiled
:data:`~pcapflow.data.signatures.SIGNATURES`; see ``pcapflow/_kernels/signatures.pyx``) and keeps
the first bytes of the few whose protocol names a server (:data:`NAMING_APPS`). The tracker
gives per conversation ``app`` (int16: index into :data:`APP_NAMES`, -1 for none), ``app_basis``
(uint8: index into :data:`APP_BASES`), ``server_name`` (object: str or None) and
``server_name_source`` (uint8: index into :data:`SERVER_NAME_SOURCES`), ``app_version`` (object:
one of :data:`APP_VERSIONS` or None; :func:`app_version`) and ``dns_answers`` (see
:mod:`pcapflow.dns_names`). :func:`app_frame_columns` makes the frame's columns of them,
``service_mismatch`` included (:data:`EQUIVALENT_APPS`), and names from DNS answers the
conversations that have no other server name.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from pcapflow.data.signatures import APP_NAMES, SIGNATURES
from pcapflow.dns_names import dns_server_names
from pcapflow.quic import quic_client_hello

if TYPE_CHECKING:
    import pandas as pd

#: ``app_basis``: which sides' payload matched (index 0: no app).
APP_BASES = ("", "both", "client", "server")
#: ``server_name_source``: where a server name came from (index 0: none).
SERVER_NAME_SOURCES = ("", "tls_sni", "http_host", "quic_sni", "dns")
#: The apps whose client's first bytes name the server (kept for :func:`server_name`).
NAMING_APPS = ("tls", "http", "quic")
#: The apps whose first bytes show their version (kept for :func:`app_version`).
VERSIONED_APPS = ("tls", "ssh", "quic")
#: ``app_version``'s values: TLS by its version number, SSH by its banner's protocol version,
#: QUIC by its long header's version (RFC 9000 §15, RFC 9369 §3.1).
APP_VERSIONS = ("SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3", "SSH-1.5", "SSH-1.99", "SSH-2.0", "QUICv1", "QUICv2")
_TLS_VERSIONS = {0x0300: "SSLv3", 0x0301: "TLSv1.0", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
_QUIC_VERSIONS = {0x00000001: "QUICv1", 0x6B3343CF: "QUICv2"}

#: Registered service names (pcapflow.services) and the apps that are what they name, where the
#: names differ. An app equal to the service's name agrees too; a port with no registered name
#: contradicts no app.
EQUIVALENT_APPS: dict[str, frozenset[str]] = {name: frozenset(apps) for name, apps in {
    "https": ("tls", "http2", "quic"),  # TLS (or HTTP/2 inside it; QUIC on 443/udp)
    "https-alt": ("tls", "http", "http2"),
    "http": ("http2",),
    "http-alt": ("http", "http2"),
    "kube-apiserver": ("tls",),  # 6443: the Kubernetes API, HTTPS
    "submissions": ("tls",),  # RFC 8314: SMTP submission over implicit TLS
    "imaps": ("tls",),
    "pop3s": ("tls",),
    "ldaps": ("tls",),
    "ftps": ("tls",),
    "ircs-u": ("tls",),
    "domain-s": ("tls", "dtls"),  # RFC 7858: DNS over TLS
    "sip-tls": ("tls",),
    "xmpp-client": ("xmpp", "tls"),
    "xmpp-server": ("xmpp", "tls"),
    "domain": ("dns",),
    "bootps": ("dhcp",),
    "bootpc": ("dhcp",),
    "microsoft-ds": ("smb",),
    "netbios-ssn": ("netbios", "smb"),
    "netbios-ns": ("netbios",),
    "netbios-dgm": ("netbios",),
    "ms-wbt-server": ("rdp",),
    "memcache": ("memcached",),
    "snmptrap": ("snmp",),
    "kerberos-sec": ("kerberos",),
    "rfb": ("vnc",),
    "socks": ("socks",),
    "openvpn": ("openvpn",),
    "quic": ("quic",),
    "postgres": ("postgresql",),
    "mongodb": ("mongodb",),
    "ms-sql-s": ("tls",),
}.items()}


@cache
def compiled_signatures():
    """The signature table compiled for the flow table, and which apps keep their first bytes."""
    from pcapflow._kernels.signatures import compile_signatures

    keeps = np.array([name in (*NAMING_APPS, *VERSIONED_APPS, "dns") for name in APP_NAMES], dtype=np.uint8)
    return compile_signatures(SIGNATURES, APP_NAMES), keeps


def tls_client_hello_sni(handshake: bytes) -> str | None:
    """The server name of a ClientHello handshake message (RFC 8446 §4.1.2, RFC 6066 §3)."""
    if len(handshake) < 4 or handshake[0] != 1:
        return None
    at = 4 + 2 + 32
    try:
        at += 1 + handshake[at]  # session id
        at += 2 + int.from_bytes(handshake[at : at + 2])  # cipher suites
        at += 1 + handshake[at]  # compression methods
        end = min(len(handshake), at + 2 + int.from_bytes(handshake[at : at + 2]))
        at += 2
        while at + 4 <= end:
            kind, size = int.from_bytes(handshake[at : at + 2]), int.from_bytes(handshake[at + 2 : at + 4])
            at += 4
            if kind == 0 and at + 5 <= end and handshake[at + 2] == 0:  # server_name, host_name
                length = int.from_bytes(handshake[at + 3 : at + 5])
                name = handshake[at + 5 : at + 5 + length]
                return name.decode("ascii", "replace") if len(name) == length and length else None
            at += size
    except IndexError:
        return None
    return None


def tls_first_handshake(data: bytes) -> bytes:
    """The first handshake message of a side's first TLS records (it may span records and segments)."""
    handshake = bytearray()
    at = 0
    while at + 5 <= len(data) and data[at] == 0x16:
        length = int.from_bytes(data[at + 3 : at + 5])
        handshake += data[at + 5 : at + 5 + length]
        at += 5 + length
        if len(handshake) >= 4 and len(handshake) >= 4 + int.from_bytes(handshake[1:4]):
            break
    return bytes(handshake)


def tls_records_sni(data: bytes) -> str | None:
    """The SNI of a client's first TLS records (the ClientHello may span records and segments)."""
    return tls_client_hello_sni(tls_first_handshake(data))


def tls_server_hello_version(handshake: bytes) -> int | None:
    """The version a ServerHello chose: its supported_versions extension's (RFC 8446 §4.2.1),
    else its legacy version; None when ``handshake`` is no ServerHello."""
    if len(handshake) < 6 or handshake[0] != 2:
        return None
    at = 4 + 2 + 32
    try:
        at += 1 + handshake[at]  # session id
        at += 2 + 1  # cipher suite, compression method
        end = min(len(handshake), at + 2 + int.from_bytes(handshake[at : at + 2]))
        at += 2
        while at + 4 <= end:
            kind, size = int.from_bytes(handshake[at : at + 2]), int.from_bytes(handshake[at + 2 : at + 4])
            if kind == 43 and size == 2 and at + 6 <= end:
                return int.from_bytes(handshake[at + 4 : at + 6])
            at += 4 + size
    except IndexError:
        pass
    return int.from_bytes(handshake[4:6])


def _ssh_version(banner: bytes) -> str | None:
    """The protocol version of an SSH identification string (RFC 4253 §4.2)."""
    if not banner.startswith(b"SSH-"):
        return None
    version = "SSH-" + banner[4:].split(b"-", 1)[0].decode("ascii", "replace")
    return version if version in APP_VERSIONS else None


def _quic_version(datagram: bytes) -> str | None:
    """The version of a QUIC long-header packet (RFC 8999 §5.1)."""
    return _QUIC_VERSIONS.get(int.from_bytes(datagram[1:5])) if len(datagram) >= 5 and datagram[0] & 0x80 else None


def app_version(app: str, client: bytes, server: bytes) -> str | None:
    """The version (one of APP_VERSIONS) of a conversation's protocol by its sides' first bytes:
    TLS the ServerHello's choice, else the ClientHello's legacy version; SSH and QUIC the
    server's version, else the client's."""
    if app == "tls":
        chosen = tls_server_hello_version(tls_first_handshake(server)) or tls_server_hello_version(tls_first_handshake(client))
        if chosen is None:
            hello = tls_first_handshake(client) or tls_first_handshake(server)
            chosen = int.from_bytes(hello[4:6]) if len(hello) >= 6 and hello[0] == 1 else None
        return _TLS_VERSIONS.get(chosen) if chosen is not None else None
    if app == "ssh":
        return _ssh_version(server) or _ssh_version(client)
    if app == "quic":
        return _quic_version(server) or _quic_version(client)
    return None


def http_host(data: bytes) -> str | None:
    """The ``Host`` header of a client's first HTTP request (RFC 9110 §7.2), without a port."""
    head = data.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n")[1:]:
        if line[:5].lower() == b"host:":
            host = line[5:].strip().decode("ascii", "replace")
            if host.startswith("["):
                return host[1:].split("]", 1)[0] or None
            return host.rsplit(":", 1)[0] if host.count(":") == 1 else (host or None)
    return None


def server_name(app: str, data: bytes) -> tuple[str | None, int]:
    """The server name in a client's first bytes, and its source (index into SERVER_NAME_SOURCES)."""
    if app == "tls":
        return tls_records_sni(data), 1
    if app == "http":
        return http_host(data), 2
    if app == "quic":
        hello = quic_client_hello(data)
        return (tls_client_hello_sni(hello) if hello else None), 3
    return None, 0


def app_frame_columns(columns, service, dns_answers=None) -> dict:
    """The conversations frame's payload columns of the tracker's ``columns`` (``service``: the
    frame's service labels, for ``service_mismatch``; ``dns_answers``: those of the whole capture
    when ``columns`` are only a part of it)."""
    import pandas as pd

    from pcapflow.schema import APP_BASIS_DTYPE, APP_DTYPE, APP_VERSION_DTYPE, SERVER_NAME_SOURCE_DTYPE

    codes = np.asarray(columns["app"]).astype(np.int64)
    app = pd.Categorical.from_codes(codes, dtype=APP_DTYPE)
    basis = pd.Categorical.from_codes(np.asarray(columns["app_basis"]).astype(np.int64) - 1, dtype=APP_BASIS_DTYPE)
    named = np.asarray(columns["server_name"], dtype=object).copy()
    sources = np.where(pd.isna(named), 0, np.asarray(columns["server_name_source"]).astype(np.int64))
    answers = columns["dns_answers"] if dns_answers is None else dns_answers
    dns_server_names(columns, answers, named, sources, SERVER_NAME_SOURCES.index("dns"))
    names = pd.array(named, dtype="string")
    return {
        "app": app,
        "app_basis": basis,
        "service_mismatch": mismatches(codes, service),
        "server_name": names,
        "server_name_source": pd.Categorical.from_codes(sources - 1, dtype=SERVER_NAME_SOURCE_DTYPE),
        "app_version": pd.Categorical(columns["app_version"], dtype=APP_VERSION_DTYPE),
    }


def mismatches(app_codes: np.ndarray, service) -> np.ndarray:
    """Whether each identified app contradicts its port's registered service (EQUIVALENT_APPS)."""
    app_codes = np.asarray(app_codes).astype(np.int64)
    named = np.array([isinstance(name, str) for name in service], dtype=bool) if len(service) else np.zeros(0, dtype=bool)
    identified = np.flatnonzero((app_codes >= 0) & named)
    out = np.zeros(len(app_codes), dtype=bool)
    if not len(identified):
        return out
    names, service_codes = np.unique(np.asarray(service, dtype=object)[identified].astype(str), return_inverse=True)
    pairs, inverse = np.unique(service_codes.reshape(-1) * len(APP_NAMES) + app_codes[identified], return_inverse=True)
    verdicts = np.array([APP_NAMES[pair % len(APP_NAMES)] != names[pair // len(APP_NAMES)]
                         and APP_NAMES[pair % len(APP_NAMES)] not in EQUIVALENT_APPS.get(str(names[pair // len(APP_NAMES)]), ())
                         for pair in pairs], dtype=bool)
    out[identified] = verdicts[inverse.reshape(-1)]
    return out


def port_app_rows(group: np.ndarray, groups: int, app: np.ndarray, service: np.ndarray) -> dict[str, np.ndarray]:
    """Per port group: ``app`` (its most frequent identified app, None if none), ``app_share``
    (the conversations that have it, of all the port's) and ``mismatched`` (conversations whose
    app contradicts the port's ``service``, one name per group)."""
    app = np.asarray(app).astype(np.int64)
    identified = np.flatnonzero(app >= 0)
    pairs, counts = np.unique(group[identified].astype(np.int64) * len(APP_NAMES) + app[identified], return_counts=True)
    # per group, the pair with the most conversations (ties: the first app of the table)
    order = np.lexsort((pairs % len(APP_NAMES), -counts, pairs // len(APP_NAMES)))
    owners = pairs[order] // len(APP_NAMES)
    first = order[np.flatnonzero(np.diff(owners, prepend=-1))]
    dominant = np.full(groups, None, dtype=object)
    share = np.zeros(groups, dtype=np.float64)
    totals = np.bincount(group, minlength=groups)
    names = np.array(APP_NAMES, dtype=object)
    dominant[pairs[first] // len(APP_NAMES)] = names[pairs[first] % len(APP_NAMES)]
    share[pairs[first] // len(APP_NAMES)] = counts[first] / totals[pairs[first] // len(APP_NAMES)]
    # a verdict per (group, app) pair, not per conversation: the pairs are few, the conversations many
    contradicts = mismatches(pairs % len(APP_NAMES), service[pairs // len(APP_NAMES)])
    mismatched = np.bincount(pairs // len(APP_NAMES), weights=counts * contradicts, minlength=groups).astype(np.int64)
    return {"app": dominant, "app_share": share, "mismatched": mismatched}


def port_apps(conversations: pd.DataFrame) -> pd.DataFrame:
    """Long form, one row per (protocol, server_port, app) of the identified conversations:
    ``conversations`` and ``bytes``, sorted by protocol, port, then conversations (descending)."""
    from pcapflow.schema import PORT_APP_COLUMNS, typed_frame

    found = conversations[conversations["app"].notna()]
    grouped = found.groupby(["protocol", "server_port", "app"], observed=True, sort=False)
    out = grouped.agg(conversations=("app", "size"), bytes=("bytes", "sum")).reset_index()
    out["protocol"] = out["protocol"].astype(str)
    out = out.sort_values(["protocol", "server_port", "conversations", "app"], ascending=[True, True, False, True], kind="stable")
    return typed_frame({spec.name: out[spec.name].to_numpy() for spec in PORT_APP_COLUMNS}, PORT_APP_COLUMNS).reset_index(drop=True)
