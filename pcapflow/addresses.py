"""128-bit addresses (two uint64 halves, IPv4 stored IPv4-mapped) rendered as text.

Only the distinct addresses go through :mod:`ipaddress`; the strings are then spread back to
every row, so a capture with a million packets between a few thousand hosts formats a few
thousand addresses.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd


def format_addresses(hi: np.ndarray, lo: np.ndarray, version: np.ndarray) -> pd.arrays.StringArray:
    """Text of each address; ``<NA>`` where ``version`` is 0 (no IP header decoded)."""
    keys = np.empty(len(hi), dtype=[("version", "u1"), ("hi", "u8"), ("lo", "u8")])
    keys["version"], keys["hi"], keys["lo"] = version, hi, lo
    unique, inverse = np.unique(keys, return_inverse=True)
    texts = np.array([_text(int(v), int(h), int(lo_)) for v, h, lo_ in unique.tolist()], dtype=object)
    return pd.array(texts[inverse.reshape(-1)] if len(keys) else texts, dtype="string")


def _text(version: int, hi: int, lo: int) -> str | None:
    if version == 4:
        return str(ipaddress.IPv4Address(lo & 0xFFFF_FFFF))
    if version == 6:
        return str(ipaddress.IPv6Address((hi << 64) | lo))
    return None


def parse_address(text: str) -> tuple[int, int]:
    """The (hi, lo) halves pcapflow stores for an address given as text."""
    address = ipaddress.ip_address(text)
    value = int(address) | (0xFFFF_0000_0000 if address.version == 4 else 0)
    return value >> 64, value & 0xFFFF_FFFF_FFFF_FFFF
