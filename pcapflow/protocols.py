"""Names of IP protocol numbers, as the ``protocol`` columns show them."""

from __future__ import annotations

import numpy as np

#: Names of IP protocols in the ``protocol`` column; others are named ``ip-<number>``.
PROTOCOL_NAMES = {1: "icmp", 2: "igmp", 4: "ipip", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre", 50: "esp", 51: "ah",
                  58: "icmpv6", 89: "ospf", 103: "pim", 112: "vrrp", 132: "sctp"}


def protocol_names(numbers: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The name of each protocol number, as codes into a list of the distinct names (in order of
    protocol number)."""
    distinct, codes = np.unique(np.asarray(numbers), return_inverse=True)
    return codes.reshape(-1), [PROTOCOL_NAMES.get(number, f"ip-{number}") for number in distinct.tolist()]
