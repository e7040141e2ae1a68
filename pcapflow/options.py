"""The options of an analysis: one frozen object shared by the Python API and the CLI."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pcapflow.capture import DEFAULT_CHUNK_BYTES
from pcapflow.decode import ENGINES
from pcapflow.errors import OptionsError


#: Longest idle timeout accepted (about 292 years: timestamps are int64 nanoseconds).
MAX_TIMEOUT_S = 9.2e9


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    """How captures are read and packets grouped into conversations.

    Idle timeouts are in seconds; the defaults are Zeek's inactivity timeouts.
    """

    tcp_idle_timeout: float = 300.0
    udp_idle_timeout: float = 60.0
    other_idle_timeout: float = 60.0  # ICMP, ICMPv6, SCTP and other IP protocols
    vlan_in_key: bool = False
    engine: str = "fast"
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    workers: int = 2  # processes reading one large classic pcap at once (1: one process)
    services: Mapping | str | os.PathLike | None = None  # overrides of the IANA names: a mapping or a CSV file

    def __post_init__(self) -> None:
        for name in ("tcp_idle_timeout", "udp_idle_timeout", "other_idle_timeout"):
            value = getattr(self, name)
            if not 0 < value <= MAX_TIMEOUT_S:
                raise OptionsError(f"{name} must be a number of seconds above 0 and at most {MAX_TIMEOUT_S:g}, not {value!r}")
        if self.engine not in ENGINES:
            raise OptionsError(f"unknown engine {self.engine!r}: choose one of {', '.join(ENGINES)}")
        if self.workers not in (1, 2):
            raise OptionsError(f"workers must be 1 or 2, not {self.workers!r}")
        if self.chunk_bytes < 1:
            raise OptionsError(f"chunk_bytes must be positive, not {self.chunk_bytes}")
