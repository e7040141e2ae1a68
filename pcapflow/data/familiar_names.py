"""Familiar service names: which name a port gets where IANA's registry misleads.

Two rules, applied by ``python -m pcapflow.data.make_services`` when it generates
``services.csv`` from IANA's registry (``SOURCE.md`` lists every name they changed):

1. **Several IANA names for one (protocol, port).** Most such names are IANA's own spelling
   variants (``z39.50`` beside ``z39-50``), but some are real conflicts: 2049 is listed as
   ``shilp`` (no description, flagged "Conflict on 2049") and then ``nfs``; 465/tcp as ``urd`` and
   then ``submissions`` (RFC 8314 §7.3 added it beside the older assignment). The name chosen is
   the one Debian's netbase ``/etc/services`` gives that (protocol, port), when it is one of IANA's
   names for it (compared case-insensitively, IANA's spelling kept); otherwise IANA's first. netbase's
   file is "updated from" IANA's registry and keeps the ports "officially assigned by IANA and used
   in the real-world"; it is what ``getservbyport(3)`` answers, so the name ``ss``, ``netstat``,
   ``lsof`` and ``tcpdump`` print on Debian and Ubuntu: the name users meet. A port with a single
   IANA name keeps it, whatever netbase calls it.
2. **De-facto ports** (:data:`DE_FACTO`): a short curated table of ports that IANA assigns to
   something else, or to nothing, but that users know by what runs there (9200/tcp is
   Elasticsearch's HTTP API, not ``wap-wsp``). Each entry cites the project's documentation (or the
   RFC, or nmap's ``nmap-services`` for the ``-alt`` names) that makes the port its default. The
   description keeps IANA's registered name, so ``pcapflow services 9200/tcp`` shows both.

Why at generation time, not at load time: the bundled file then is the table users see
(``pcapflow services``, the ``service`` column and the user's overrides all read it as it is),
loading stays a plain read of one file, and the result is reproducible: the same IANA snapshot and
netbase file give byte-identical output, recorded with their SHA-256 in ``SOURCE.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

Key = tuple[str, int]  # (protocol, port)
Entry = tuple[str, str]  # (service name, description)

#: Ports known by what runs there rather than by their IANA name: (protocol, port) -> (name, what
#: runs there). Only where users meet the de-facto service far more often than the registered one.
DE_FACTO: dict[Key, Entry] = {
    # RFC 9000 (QUIC) and RFC 9114 §3.1: HTTP/3 runs over QUIC on UDP port 443, https's port
    ("udp", 443): ("quic", "QUIC, carrying HTTP/3"),
    # nmap-services names 8000/tcp "http-alt"; Python's http.server and Django's runserver listen
    # on 8000 by default
    ("tcp", 8000): ("http-alt", "HTTP alternate"),
    # nmap-services names 8443/tcp "https-alt"; Apache Tomcat's TLS connector listens on 8443 by
    # default (tomcat.apache.org, SSL/TLS Configuration How-To)
    ("tcp", 8443): ("https-alt", "HTTPS alternate"),
    # Elasticsearch reference, Networking: http.port defaults to 9200 (the REST API)
    ("tcp", 9200): ("elasticsearch", "Elasticsearch REST API"),
    # Apache Kafka documentation, broker configs: the default listener is PLAINTEXT://:9092
    ("tcp", 9092): ("kafka", "Apache Kafka broker"),
    # Kubernetes documentation, "Ports and Protocols": 6443/tcp is the Kubernetes API server
    ("tcp", 6443): ("kube-apiserver", "Kubernetes API server"),
    # Prometheus wiki, "Default port allocations": 9090 is the Prometheus server
    ("tcp", 9090): ("prometheus", "Prometheus server"),
    # Kibana configuration reference: server.port defaults to 5601
    ("tcp", 5601): ("kibana", "Kibana"),
    # wireguard.com quick start and wg-quick(8): the conventional ListenPort is 51820 (IANA: unassigned)
    ("udp", 51820): ("wireguard", "WireGuard"),
}


def read_services_file(text: str, protocols: Iterable[str]) -> dict[Key, str]:
    """The name of each (protocol, port) in a services(5) file such as netbase's
    ``/etc/services``: its first line for that (protocol, port), as ``getservbyport(3)`` answers.
    Only ``protocols`` are kept; comments, blank lines and malformed lines are skipped."""
    wanted = set(protocols)
    names: dict[Key, str] = {}
    for line in text.splitlines():
        fields = line.partition("#")[0].split()
        if len(fields) < 2:
            continue
        port_text, _, protocol = fields[1].partition("/")
        protocol = protocol.lower()
        if protocol in wanted and port_text.isdigit():
            names.setdefault((protocol, int(port_text)), fields[0])
    return names


def familiar_entry(key: Key, registered: list[Entry], preferred: Mapping[Key, str]) -> Entry:
    """The entry of ``key`` among IANA's ``registered`` ones (in registry order, at least one):
    the one named as in ``preferred`` (netbase's names), else the first (rule 1 above)."""
    wanted = preferred.get(key, "").lower()
    if len(registered) > 1 and wanted:
        for entry in registered:
            if entry[0].lower() == wanted:
                return entry
    return registered[0]


def de_facto_entry(registered: Entry | None, de_facto: Entry) -> Entry:
    """A de-facto port's entry; its description keeps the name IANA registered (rule 2 above)."""
    name, description = de_facto
    iana = f"IANA: {registered[0]}" if registered is not None else "unassigned at IANA"
    return name, f"{description} (de facto; {iana})"
