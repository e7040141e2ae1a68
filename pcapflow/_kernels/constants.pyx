# cython: language_level=3
"""The codes and numbers declared in constants.pxd, as Python IntEnums (see that file), and the
ICMP pairs its inline functions know."""

from pcapflow._kernels.constants cimport icmp_counterpart, icmp_is_request, max_record_bytes


def icmp_counterparts(int proto) -> dict:
    """{message type: counterpart type} of the request/reply pairs of ``proto`` (ICMP or ICMPv6)."""
    return {kind: icmp_counterpart(proto, kind) for kind in range(256) if icmp_counterpart(proto, kind) >= 0}


def icmp_requests(int proto) -> tuple:
    """The message types of ``proto`` whose sender is the client (the request half of a pair)."""
    return tuple(kind for kind in range(256) if icmp_is_request(proto, kind))


def max_record_bytes_of(int linktype) -> int:
    """The longest record ``linktype`` may have, as Wireshark judges it (256 KiB for most)."""
    return max_record_bytes(linktype)
