"""Familiar service names: netbase's choice among IANA's names for one port, and the curated
de-facto ports (``pcapflow/data/familiar_names.py``), in the bundled table and in the generator."""

from __future__ import annotations

import hashlib
import re

import pytest

from pcapflow.data import make_services
from pcapflow.data.familiar_names import DE_FACTO, read_services_file
from tests.conftest import REPO
from tests.test_services import SOURCE_NOTE, descriptions, names, write_registry


@pytest.mark.parametrize(
    "protocol, port, service",
    [
        ("tcp", 22, "ssh"),
        ("udp", 53, "domain"),
        ("tcp", 80, "http"),
        ("tcp", 443, "https"),
        ("tcp", 25, "smtp"),
        ("tcp", 587, "submission"),
        ("tcp", 993, "imaps"),
        ("tcp", 3306, "mysql"),
        ("tcp", 5432, "postgresql"),
        ("tcp", 6379, "redis"),
        ("tcp", 27017, "mongodb"),
        ("tcp", 8080, "http-alt"),
        # several IANA names for the port: netbase's (IANA lists shilp / urd / comsat first)
        ("tcp", 2049, "nfs"),
        ("udp", 2049, "nfs"),
        ("tcp", 465, "submissions"),
        ("udp", 512, "biff"),
        ("tcp", 631, "ipp"),  # IANA also lists ipps, netbase only ipp
        ("udp", 1701, "l2f"),  # netbase agrees with IANA's first (l2tp is the alias in both)
        ("tcp", 3478, "stun"),  # netbase has no entry: IANA's first
        # the curated de-facto ports
        ("tcp", 9200, "elasticsearch"),
        ("tcp", 9092, "kafka"),
        ("tcp", 8443, "https-alt"),
        ("tcp", 8000, "http-alt"),
        ("udp", 443, "quic"),
        ("tcp", 6443, "kube-apiserver"),
        ("udp", 51820, "wireguard"),
        # ... for one transport only: the other keeps its IANA name
        ("udp", 9200, "wap-wsp"),
        ("sctp", 443, "https"),
    ],
)
def test_familiar_names(protocol, port, service):
    assert names([protocol], [port]) == [service]


def test_de_facto_descriptions_keep_the_iana_name():
    assert descriptions(["tcp", "udp", "udp", "tcp"], [9200, 443, 51820, 2049]) == [
        "Elasticsearch REST API (de facto; IANA: wap-wsp)",
        "QUIC, carrying HTTP/3 (de facto; IANA: https)",
        "WireGuard (de facto; unassigned at IANA)",
        "Network File System - Sun Microsystems",  # the description of the name chosen, not of shilp's record
    ]


def test_the_de_facto_table_is_small_and_well_formed():
    assert 5 <= len(DE_FACTO) <= 20
    for (protocol, port), (name, description) in DE_FACTO.items():
        assert protocol in {"tcp", "udp", "sctp", "dccp"} and 0 <= port <= 65535
        assert re.fullmatch(r"[a-z][a-z0-9-]*", name) and description
    # every entry cites its source in a comment on the line(s) just above it
    source = (REPO / "pcapflow" / "data" / "familiar_names.py").read_text(encoding="utf-8")
    table = source[source.index("DE_FACTO: dict") : source.index("\n}\n")]
    lines = table.splitlines()
    entries = [at for at, line in enumerate(lines) if line.strip().startswith('("')]
    assert len(entries) == len(DE_FACTO)
    assert all(lines[at - 1].strip().startswith("#") for at in entries)


def test_de_facto_entries_change_an_iana_name(iana_csv):
    with open(iana_csv, encoding="utf-8-sig", newline="") as source:
        registry = make_services.read_registry(source)
    for key, (name, _) in DE_FACTO.items():
        assert name not in [registered for registered, _ in registry.get(key, [])], key


def test_source_note_lists_every_changed_name():
    note = SOURCE_NOTE.read_text(encoding="utf-8")
    assert "- 2049/tcp `nfs` (netbase's; IANA lists `shilp` first)" in note
    assert "- 465/tcp `submissions` (netbase's; IANA lists `urd` first)" in note
    for (protocol, port), (name, _) in DE_FACTO.items():
        assert f"- {port}/{protocol} `{name}` (de facto; " in note


def test_generator_familiar_name_rules(tmp_path):
    source = write_registry(
        tmp_path / "registry.csv",
        "shilp,2049,tcp,,x\n"
        "nfs,2049,tcp,Network File System,x\n"  # netbase's name: chosen, with its own description
        "urd,465,tcp,URL Rendezvous,x\n"
        "Submissions,465,tcp,Submission over TLS,x\n"  # matched case-insensitively, IANA's spelling kept
        "ident,113,tcp,,x\n"
        "auth,113,tcp,Authentication,x\n"  # netbase's name is neither: IANA's first
        "nicname,43,tcp,Who Is,x\n"  # one IANA name: kept, whatever netbase calls the port
        "wap-wsp,9200,tcp,WAP session,x\n"
        "wap-wsp,9200,udp,WAP session,x\n",
    )
    netbase = tmp_path / "services"
    netbase.write_text(
        "# Network services, Internet style\n"
        "\n"
        "whois\t\t43/tcp\t\tnicname\n"
        "tap\t\t113/tcp\t\tauthentication\n"
        "submissions\t465/tcp\t\tssmtp smtps urd # Submission over TLS [RFC8314]\n"
        "nfs\t\t2049/tcp\t\t\t# Network File System\n"
        "shilp\t\t2049/tcp\n"  # a later line for the same port: the first one counts
        "malformed-line\n",
        encoding="utf-8",
    )
    de_facto = {("tcp", 9200): ("elasticsearch", "Elasticsearch REST API"), ("udp", 51820): ("wireguard", "WireGuard")}
    assert make_services.generate(source, netbase, tmp_path, de_facto=de_facto) == 7
    assert (tmp_path / "services.csv").read_text(encoding="utf-8") == (
        "protocol,port,service,description\n"
        "tcp,43,nicname,Who Is\n"
        "tcp,113,ident,\n"
        "tcp,465,Submissions,Submission over TLS\n"
        "tcp,2049,nfs,Network File System\n"
        "tcp,9200,elasticsearch,Elasticsearch REST API (de facto; IANA: wap-wsp)\n"
        "udp,9200,wap-wsp,WAP session\n"
        "udp,51820,wireguard,WireGuard (de facto; unassigned at IANA)\n"
    )
    note = (tmp_path / "SOURCE.md").read_text(encoding="utf-8")
    assert (
        "- 465/tcp `Submissions` (netbase's; IANA lists `urd` first)\n"
        "- 2049/tcp `nfs` (netbase's; IANA lists `shilp` first)\n"
        "- 9200/tcp `elasticsearch` (de facto; IANA: `wap-wsp`)\n"
        "- 51820/udp `wireguard` (de facto; unassigned at IANA)\n"
    ) in note
    assert f"SHA-256 `{hashlib.sha256(netbase.read_bytes()).hexdigest()}`" in note


def test_reading_a_services_file():
    text = "ssh 22/tcp # SSH\nnfs 2049/udp\nrtmp 1/ddp\nbad 70/\nx11-1 6001/TCP\n  \n# only a comment\n"
    assert read_services_file(text, ("tcp", "udp")) == {("tcp", 22): "ssh", ("udp", 2049): "nfs", ("tcp", 6001): "x11-1"}


def test_the_readme_lists_the_de_facto_table():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+)/(\w+) \| `([^`]+)` \|", readme, re.M)
    assert {(protocol, int(port)): name for port, protocol, name in rows} == {key: name for key, (name, _) in DE_FACTO.items()}
