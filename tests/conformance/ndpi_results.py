"""nDPI's expected ndpiReader results (``result/<capture>.out``): one :class:`NdpiFlow` per flow line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_FLOW = re.compile(r"^\t\d+\t(TCP|UDP) (\S+) <?-> (\S+) \[proto: [\d.]+/([^\]]+)\]")
_CONFIDENCE = re.compile(r"\[Confidence: ([^\]]+)\]")
_NAME = re.compile(r"\[Hostname/SNI: ([^\]]+)\]")
_VLAN = re.compile(r"\[VLAN: (\d+)\]")
_VERSION = re.compile(r"\[(SSLv3|TLSv1(?:\.[0-3])?|QUIC ver: [^\]]+)\]")


@dataclass(frozen=True)
class NdpiFlow:
    protocol: str  # tcp or udp
    first: tuple[str, int]  # (address, port) of the endpoint nDPI prints first
    second: tuple[str, int]
    app: str  # nDPI's name, master.app
    confidence: str
    server_name: str | None
    vlan: int | None
    versions: tuple[str, ...] = ()  # the TLS (TLSv1.2) and QUIC (QUIC ver: V-1) versions it prints


def _endpoint(text: str) -> tuple[str, int]:
    address, _, port = text.rpartition(":")
    return address.strip("[]"), int(port)


def read_ndpi_flows(path: Path) -> list[NdpiFlow]:
    flows = []
    for line in path.read_text(errors="replace").splitlines():
        found = _FLOW.match(line)
        if not found:
            continue
        confidence = _CONFIDENCE.search(line)
        name = _NAME.search(line)
        vlan = _VLAN.search(line)
        flows.append(NdpiFlow(found[1].lower(), _endpoint(found[2]), _endpoint(found[3]), found[4],
                              confidence[1] if confidence else "", name[1] if name else None, int(vlan[1]) if vlan else None,
                              tuple(_VERSION.findall(line))))
    return flows
