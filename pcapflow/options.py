"""The options of an analysis: one frozen object shared by the Python API and the CLI.

This module imports nothing heavy, so the command line reads its defaults and choices from
here without loading numpy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from pcapflow.errors import OptionsError

#: Longest idle timeout accepted (about 292 years: timestamps are int64 nanoseconds).
MAX_TIMEOUT_S = 9.2e9
#: The packet decoders: the compiled kernels, or scapy dissecting every packet (slow; the reference).
ENGINES = ("fast", "reference")
#: File bytes read and decoded at a time (small enough that a chunk stays in the processor's cache).
DEFAULT_CHUNK_BYTES = 4 << 20


def usable_cores() -> int:
    """The processor cores this process may run on (its affinity, where the platform tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


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
    workers: int = field(default_factory=usable_cores)  # threads reading and tracking at once
    services: Mapping | str | os.PathLike | None = None  # overrides of the IANA names: a mapping or a CSV file
    inspect_payload: bool = True  # identify protocols and server names from the first payload bytes
    decapsulate: bool = True  # open tunnels: their inner packets become conversations of their own

    def __post_init__(self) -> None:
        for name in ("tcp_idle_timeout", "udp_idle_timeout", "other_idle_timeout"):
            value = getattr(self, name)
            if not 0 < value <= MAX_TIMEOUT_S:
                raise OptionsError(f"{name} must be a number of seconds above 0 and at most {MAX_TIMEOUT_S:g}, not {value!r}")
        if self.engine not in ENGINES:
            raise OptionsError(f"unknown engine {self.engine!r}: choose one of {', '.join(ENGINES)}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise OptionsError(f"workers must be a whole number of threads, 1 or more, not {self.workers!r}")
        if self.chunk_bytes < 1:
            raise OptionsError(f"chunk_bytes must be positive, not {self.chunk_bytes}")
