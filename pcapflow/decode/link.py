"""Link layers: from the start of a frame to its network-layer header.

Each link type gives a header length and the protocol of what follows, as an ethertype; then one
shared loop peels 802.1Q/802.1ad VLAN tags, MPLS label stacks and PPPoE session headers for every
link type alike (so SLL frames carrying VLAN tags work too). The loop is bounded
(:data:`MAX_ENCAPSULATIONS`), never per packet.
"""

from __future__ import annotations

import numpy as np

from pcapflow.decode.cursor import Cursor
from pcapflow.decode.table import NO_VLAN, DecodeStatus

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_LEGACY = (12, 14)
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN = (0x8100, 0x88A8, 0x9100, 0x9200)
ETHERTYPE_MPLS = (0x8847, 0x8848)
ETHERTYPE_PPPOE_SESSION = 0x8864
PPP_IPV4 = 0x0021
PPP_IPV6 = 0x0057

#: Stands for "look at the IP version nibble" where a header does not name its payload.
ETHERTYPE_BY_VERSION = -1

#: Address families of NULL/LOOP headers: AF_INET, and AF_INET6 as Linux, the BSDs and macOS number it.
AF_INET = 2
AF_INET6 = (10, 24, 28, 30)

MAX_ENCAPSULATIONS = 8

# what an ethertype announces: one lookup per row instead of a set test per kind
_VLAN, _MPLS, _PPPOE = 1, 2, 3
_ENCAPSULATION = np.zeros(1 << 16, dtype=np.uint8)
_ENCAPSULATION[list(ETHERTYPE_VLAN)] = _VLAN
_ENCAPSULATION[list(ETHERTYPE_MPLS)] = _MPLS
_ENCAPSULATION[ETHERTYPE_PPPOE_SESSION] = _PPPOE

#: link type -> (header length, how the payload protocol is found)
_FIXED_HEADERS = {
    LINKTYPE_ETHERNET: 14,
    LINKTYPE_LINUX_SLL: 16,
    LINKTYPE_LINUX_SLL2: 20,
    LINKTYPE_NULL: 4,
    LINKTYPE_LOOP: 4,
    LINKTYPE_RAW: 0,
    LINKTYPE_RAW_LEGACY[0]: 0,
    LINKTYPE_RAW_LEGACY[1]: 0,
    LINKTYPE_IPV4: 0,
    LINKTYPE_IPV6: 0,
}

SUPPORTED_LINKTYPES = frozenset(_FIXED_HEADERS)


def _family_to_ethertype(family: np.ndarray) -> np.ndarray:
    return np.select(
        [family == AF_INET, np.isin(family, AF_INET6)], [ETHERTYPE_IPV4, ETHERTYPE_IPV6], default=0
    )


def _link_header(cursor: Cursor, rows: np.ndarray, linktype: int) -> None:
    """Set offset and ethertype of ``rows``, all of link type ``linktype``."""
    views = cursor.views
    size = _FIXED_HEADERS[linktype]
    rows = cursor.require(rows, max(size, 1), DecodeStatus.TRUNCATED_LINK)
    at = cursor.of(cursor.start, rows)
    if linktype == LINKTYPE_ETHERNET:
        ethertype = views.be16[at + 12]
    elif linktype == LINKTYPE_LINUX_SLL:
        ethertype = views.be16[at + 14]
    elif linktype == LINKTYPE_LINUX_SLL2:
        ethertype = views.be16[at]
    elif linktype == LINKTYPE_NULL:
        # the family is in the capturing host's byte order: a value above 0xFFFF was swapped
        family = views.le32[at].astype(np.int64)
        family = np.where(family > 0xFFFF, views.be32[at], family)
        ethertype = _family_to_ethertype(family)
    elif linktype == LINKTYPE_LOOP:
        ethertype = _family_to_ethertype(views.be32[at].astype(np.int64))
    elif linktype == LINKTYPE_IPV4:
        ethertype = np.full(len(rows), ETHERTYPE_IPV4)
    elif linktype == LINKTYPE_IPV6:
        ethertype = np.full(len(rows), ETHERTYPE_IPV6)
    else:  # RAW: the IP version nibble says which
        ethertype = np.full(len(rows), ETHERTYPE_BY_VERSION)
    cursor.put(cursor.offset, rows, size)
    cursor.put(cursor.ethertype, rows, ethertype)


def _peel_encapsulations(cursor: Cursor, rows: np.ndarray) -> None:
    """Step over VLAN tags, MPLS labels and PPPoE headers until an IP ethertype (or anything else)."""
    views, table = cursor.views, cursor.table
    for _ in range(MAX_ENCAPSULATIONS):
        rows = rows[cursor.of(table.status, rows) == DecodeStatus.OK]
        kind = _ENCAPSULATION[cursor.of(cursor.ethertype, rows) & 0xFFFF]
        if not kind.any():
            return
        vlan, mpls, pppoe = rows[kind == _VLAN], rows[kind == _MPLS], rows[kind == _PPPOE]
        vlan = cursor.require(vlan, 4, DecodeStatus.TRUNCATED_LINK)
        tag = views.be16[cursor.at(vlan)] & 0x0FFF
        untagged = table.vlan_id[vlan] == NO_VLAN
        table.vlan_id[vlan[untagged]] = tag[untagged]
        cursor.ethertype[vlan] = views.be16[cursor.at(vlan, 2)]
        cursor.offset[vlan] += 4

        mpls = cursor.require(mpls, 4, DecodeStatus.TRUNCATED_LINK)
        bottom = (views.u8[cursor.at(mpls, 2)] & 1).astype(bool)
        cursor.offset[mpls] += 4
        cursor.ethertype[mpls[bottom]] = ETHERTYPE_BY_VERSION

        # a 6-byte PPPoE header, then the PPP protocol: 1 byte when its first byte is odd (RFC 1661 6.5)
        pppoe = cursor.require(pppoe, 7, DecodeStatus.TRUNCATED_LINK)
        size = np.where(views.u8[cursor.at(pppoe, 6)] & 1, 1, 2)
        whole = cursor.present(pppoe, size, 6)
        pppoe, size = cursor.keep(pppoe, whole, DecodeStatus.TRUNCATED_LINK), size[whole]
        at = cursor.at(pppoe, 6)
        ppp = np.where(size == 1, views.u8[at], views.be16[at])
        cursor.ethertype[pppoe] = np.select([ppp == PPP_IPV4, ppp == PPP_IPV6], [ETHERTYPE_IPV4, ETHERTYPE_IPV6], 0)
        cursor.offset[pppoe] += 6 + size
    # still encapsulated after MAX_ENCAPSULATIONS layers: not something we follow
    cursor.ethertype[rows[np.isin(cursor.of(cursor.ethertype, rows), ETHERTYPE_VLAN + ETHERTYPE_MPLS)]] = 0


def decode_link(cursor: Cursor) -> np.ndarray:
    """Decode the link layers of every row; return the rows that carry IP (``ethertype`` set)."""
    linktype = cursor.table.linktype
    live = cursor.table.status == DecodeStatus.OK
    kinds = [linktype[0]] if len(linktype) and (linktype == linktype[0]).all() else np.unique(linktype[live])
    for value in kinds:
        rows = np.flatnonzero(live & (linktype == value))
        if int(value) in _FIXED_HEADERS:
            _link_header(cursor, rows, int(value))
        else:
            cursor.stop(rows, DecodeStatus.UNSUPPORTED_LINKTYPE)
    rows = np.flatnonzero(cursor.table.status == DecodeStatus.OK)
    _peel_encapsulations(cursor, rows)
    rows = rows[cursor.of(cursor.table.status, rows) == DecodeStatus.OK]
    by_version = rows[cursor.of(cursor.ethertype, rows) == ETHERTYPE_BY_VERSION]
    by_version = cursor.require(by_version, 1, DecodeStatus.TRUNCATED_IP)
    nibble = cursor.views.u8[cursor.at(by_version)] >> 4
    cursor.ethertype[by_version] = np.select([nibble == 4, nibble == 6], [ETHERTYPE_IPV4, ETHERTYPE_IPV6], 0)
    rows = rows[cursor.of(cursor.table.status, rows) == DecodeStatus.OK]
    ethertype = cursor.of(cursor.ethertype, rows)
    is_ip = (ethertype == ETHERTYPE_IPV4) | (ethertype == ETHERTYPE_IPV6)
    return cursor.keep(rows, is_ip, DecodeStatus.NOT_IP)
