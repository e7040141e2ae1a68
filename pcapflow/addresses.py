"""128-bit addresses (two uint64 halves, IPv4 stored IPv4-mapped) rendered as text.

Only the distinct addresses go through :mod:`ipaddress`; the strings are then spread back to
every row, so a capture with a million packets between a few thousand hosts formats a few
thousand addresses.
"""

from __future__ import annotations

import ipaddress

import numpy as np


def format_addresses(hi: np.ndarray, lo: np.ndarray, version: np.ndarray) -> np.ndarray:
    """Text of each address, as an object array; None where ``version`` is 0 (no IP header decoded)."""
    texts = np.full(len(hi), None, dtype=object)
    v4 = np.flatnonzero(version == 4)
    if len(v4):  # the low half alone identifies an IPv4-mapped address
        unique, inverse = np.unique(lo[v4], return_inverse=True)
        octets = [((unique >> np.uint64(shift)) & np.uint64(0xFF)).astype(str).astype(object) for shift in (24, 16, 8, 0)]
        texts[v4] = (octets[0] + "." + octets[1] + "." + octets[2] + "." + octets[3])[inverse]
    v6 = np.flatnonzero(version == 6)
    if len(v6):
        pairs = np.stack([hi[v6], lo[v6]], axis=1)
        unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
        names = np.array([_text(6, int(high), int(low)) for high, low in unique.tolist()], dtype=object)
        texts[v6] = names[inverse.reshape(-1)]
    return texts


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
