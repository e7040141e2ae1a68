"""IP protocol numbers, their names in the ``protocol`` columns, and ICMP's request/reply pairs.

The numbers themselves live in the kernels' ``constants.pxd`` (the one home the compiled code
and this module share); this module gives them their Python names.
"""

from __future__ import annotations

import numpy as np

from pcapflow._kernels.constants import IpProtocol, icmp_counterparts, icmp_requests

IPPROTO_ICMP = int(IpProtocol.IPPROTO_ICMP)
IPPROTO_TCP = int(IpProtocol.IPPROTO_TCP)
IPPROTO_UDP = int(IpProtocol.IPPROTO_UDP)
IPPROTO_ICMPV6 = int(IpProtocol.IPPROTO_ICMPV6)
IPPROTO_SCTP = int(IpProtocol.IPPROTO_SCTP)

#: Protocols whose conversations have ports (ICMP's are message types and codes).
PORT_PROTOCOLS = (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP, IPPROTO_ICMPV6)

#: ICMP and ICMPv6 request/reply counterparts (Zeek's ICMP4_counterpart, Community ID's mirror).
ICMP_COUNTERPARTS = {proto: icmp_counterparts(proto) for proto in (IPPROTO_ICMP, IPPROTO_ICMPV6)}
#: The request half of each pair: its sender is the client.
ICMP_REQUESTS = {proto: icmp_requests(proto) for proto in (IPPROTO_ICMP, IPPROTO_ICMPV6)}

#: Names of IP protocols in the ``protocol`` column; others are named ``ip-<number>``.
PROTOCOL_NAMES = {
    int(number): number.name.removeprefix("IPPROTO_").lower()
    for number in IpProtocol
    if number.name not in ("IPPROTO_HOPOPTS", "IPPROTO_ROUTING", "IPPROTO_FRAGMENT", "IPPROTO_DSTOPTS",
                           "IPPROTO_MOBILITY", "IPPROTO_NO_NEXT_HEADER")
}


def protocol_names(numbers: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The name of each protocol number, as codes into a list of the distinct names (in order of
    protocol number)."""
    numbers = np.asarray(numbers).reshape(-1).astype(np.intp, copy=False)
    # protocol numbers are bytes: the distinct ones from a count of each, no sort
    present = np.bincount(numbers, minlength=256) > 0
    codes = (np.cumsum(present) - 1)[numbers]
    return codes, [PROTOCOL_NAMES.get(number, f"ip-{number}") for number in np.flatnonzero(present).tolist()]
