"""The compiled finish (``role_columns``) against its reference, the numpy rules it replaced
(:mod:`tests.tracking.reference_finish`), on random packet tables folded into a flow table:
every column it makes, value for value and in its declared dtype."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcapflow._kernels.constants import TcpFlag, Tunnel
from pcapflow._kernels.flowexport import ROLE_FIELDS, export_columns, role_columns
from pcapflow._kernels.flowtable import FlowTable
from pcapflow.decode.table import NO_VLAN, DecodeStatus, empty_table
from pcapflow.options import AnalysisOptions
from pcapflow.protocols import IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP
from pcapflow.tracking import ConversationTracker
from pcapflow.tracking.columns import TRACKER_COLUMNS
from tests.factories import T0
from tests.tracking.reference_finish import reference_columns

NS = 1_000_000_000
#: (address high half, low halves) of IPv4 hosts (IPv4-mapped), IPv6 hosts, and the hosts inside a tunnel
V4 = (0, [0xFFFF_0A00_0001 + n for n in range(3)])
V6 = (0x2001_0DB8_0000_0000, [1, 2])
INNER = (0, [0xFFFF_0A09_0001 + n for n in range(2)])
#: well known, registered and dynamic ports, at the edges of their ranges
PORTS = [0, 22, 53, 80, 443, 1023, 1024, 8080, 49151, 49152, 50000, 65535]
#: requests, their replies and one-way types
ICMP_TYPES = {IPPROTO_ICMP: [8, 0, 13, 14, 10, 9, 3, 11], IPPROTO_ICMPV6: [128, 129, 135, 136, 1, 2]}
FIN, SYN, RST, PSH, ACK = (int(flag) for flag in (TcpFlag.TCP_FIN, TcpFlag.TCP_SYN, TcpFlag.TCP_RST, TcpFlag.TCP_PSH, TcpFlag.TCP_ACK))
#: the flags of handshakes, data, closes and resets, more often than any other of the 32
TCP_FLAGS = [SYN, SYN | ACK, ACK, PSH | ACK, FIN | ACK, FIN, RST, RST | ACK]
#: the idle timeouts the options draw, in seconds
TIMEOUTS = {"tcp_idle_timeout": [300.0, 2.5], "udp_idle_timeout": [60.0, 1.5], "other_idle_timeout": [60.0, 0.25]}
#: silences as long as a timeout, and a little longer
EDGES_NS = sorted({round(seconds * NS) + extra for values in TIMEOUTS.values() for seconds in values for extra in (0, 1)})
#: from one packet to the next: back in time (interfaces merged), the same instant, short gaps
#: and the edges of the timeouts
STEPS_NS = [0, NS // 1000, NS // 1000, NS // 1000, NS, 3 * NS, 301 * NS, -2 * NS, *EDGES_NS]
PROTOCOLS = {"tcp": IPPROTO_TCP, "udp": IPPROTO_UDP, "sctp": IPPROTO_SCTP, "icmp": IPPROTO_ICMP, "icmpv6": IPPROTO_ICMPV6, "ospf": 89}


@st.composite
def flows(draw, inner: bool = False):
    """A pair of endpoints and a protocol: the fields a packet of it takes (A sending to B)."""
    kind = draw(st.sampled_from(["tcp", "udp", "icmp"] if inner else ["tcp", "tcp", "udp", "udp", "sctp", "icmp", "icmpv6", "ospf"]))
    hi, los = INNER if inner else {"icmp": V4, "icmpv6": V6}.get(kind) or draw(st.sampled_from([V4, V6]))
    flow = {"ip_proto": PROTOCOLS[kind], "ip_version": 6 if hi else 4, "src_ip_hi": hi, "dst_ip_hi": hi,
            "src_ip_lo": draw(st.sampled_from(los)), "dst_ip_lo": draw(st.sampled_from(los))}
    if kind in ("tcp", "udp", "sctp"):
        flow["src_port"], flow["dst_port"] = draw(st.sampled_from(PORTS)), draw(st.sampled_from(PORTS))
    return flow


def _packet(draw, flow: dict) -> dict:
    """A packet of ``flow``, sent by either side."""
    packet = dict(flow)
    if draw(st.booleans()):
        for a, b in (("src_ip_hi", "dst_ip_hi"), ("src_ip_lo", "dst_ip_lo"), ("src_port", "dst_port")):
            if a in packet:
                packet[a], packet[b] = packet[b], packet[a]
    proto = packet["ip_proto"]
    packet["payload_bytes"] = draw(st.sampled_from([0, 0, 1, 100]))
    if proto in ICMP_TYPES:
        packet["icmp_type"], packet["icmp_code"] = draw(st.sampled_from(ICMP_TYPES[proto])), draw(st.sampled_from([0, 1]))
    if proto == IPPROTO_TCP:
        packet["tcp_flags"] = draw(st.sampled_from(TCP_FLAGS) | st.integers(0, 31).map(
            lambda bits: sum(flag for index, flag in enumerate((FIN, SYN, RST, PSH, ACK)) if bits >> index & 1)))
        # few sequence numbers: SYNs that repeat one (retransmissions) and that do not (reuse)
        packet["tcp_seq"], packet["tcp_ack"] = draw(st.sampled_from([1, 2, 1000])), draw(st.sampled_from([0, 2, 1001]))
    return packet


@st.composite
def packet_tables(draw):
    """A table of tracked packets of a few flows (so that conversations have several packets):
    TCP with any flags, UDP (some first fragments), SCTP, ICMP and ICMPv6 types, OSPF, non-first
    fragments before or after their first one, and VXLAN frames (a carrier row, then its inner
    packet's), at times that go back, repeat and idle out."""
    outer, inner = draw(st.lists(flows(), min_size=1, max_size=4)), draw(st.lists(flows(inner=True), min_size=1, max_size=2))
    carriers = draw(st.lists(flows(), min_size=1, max_size=2))
    for carrier in carriers:
        carrier |= {"ip_proto": IPPROTO_UDP, "dst_port": 4789}
    rows, ts = [], T0 * NS
    for record in range(draw(st.integers(1, 60))):
        ts += draw(st.sampled_from(STEPS_NS))
        kind = draw(st.sampled_from(["flow"] * 6 + ["fragment", "vxlan"]))
        row = {"record_index": record, "ts_ns": ts, "vlan_id": draw(st.sampled_from([NO_VLAN, 7]))}
        if kind == "fragment":
            row |= draw(st.sampled_from(outer)) | {"status": DecodeStatus.FRAGMENT, "ip_proto": IPPROTO_UDP, "frag_offset": 1480,
                                                    "src_port": 0, "dst_port": 0, "ip_id": draw(st.sampled_from([1, 2])),
                                                    "payload_bytes": 100}
        elif kind == "vxlan":
            rows.append(row | draw(st.sampled_from(carriers)) | {"payload_bytes": 90, "tunnel_depth": 1})
            row |= _packet(draw, draw(st.sampled_from(inner))) | {
                "tunnel": Tunnel.TUNNEL_VXLAN, "tunnel_depth": 1, "tunnel_id": draw(st.sampled_from([5, 6]))}
        else:
            row |= _packet(draw, draw(st.sampled_from(outer)))
            if row["ip_proto"] == IPPROTO_UDP and draw(st.booleans()):
                row |= {"more_fragments": True, "ip_id": draw(st.sampled_from([1, 2]))}
        rows.append(row)
    table = empty_table(len(rows))
    for index, row in enumerate(rows):
        row.setdefault("status", DecodeStatus.OK)
        row["ip_bytes"] = 40 + row.get("payload_bytes", 0)
        row["wirelen"] = 14 + row["ip_bytes"]
        for name, value in row.items():
            getattr(table, name)[index] = value
    return table


@st.composite
def trackings(draw):
    """Options (timeouts among them fractions of a second), a packet table and the capture's end:
    the table's latest packet or later, as when another partition's packets came last."""
    options = AnalysisOptions(**{name: draw(st.sampled_from(values)) for name, values in TIMEOUTS.items()},
                              vlan_in_key=draw(st.booleans()), inspect_payload=draw(st.booleans()))
    table = draw(packet_tables())
    return options, table, int(table.ts_ns.max()) + draw(st.sampled_from([0, NS, 400 * NS, *EDGES_NS]))


@settings(max_examples=500)
@given(trackings())
def test_compiled_columns_equal_the_reference(tracking):
    options, table, capture_end = tracking
    tracker = ConversationTracker(options)
    tracker.add(table)
    twin = pickle.loads(pickle.dumps(tracker))  # the same flow table, for the reference to export
    got = tracker.finish(capture_end)
    flows = twin._table()
    flows.close()
    order = np.argsort(flows.first_records(), kind="stable")
    rows = export_columns(flows, order)
    expected = reference_columns(rows, order, capture_end, options)
    assert set(expected) == {*ROLE_FIELDS, "conversation_id"}
    for spec in TRACKER_COLUMNS:
        assert got[spec.name].dtype == spec.dtype, spec.name
        if spec.name in expected:
            np.testing.assert_array_equal(got[spec.name], expected[spec.name].astype(spec.dtype), err_msg=spec.name)
    # the direction that sent first, which the versions of apps are read by, follows from the roles
    np.testing.assert_array_equal((got["client_first"] != got["client_is_a"]).astype(np.uint8), rows["first_sender"])


def _folded() -> tuple[FlowTable, np.ndarray]:
    """A table of two conversations: a VXLAN carrier, and the one its packet carried."""
    table = empty_table(2)
    table.ip_version[:], table.ip_proto[:], table.src_ip_lo[:], table.dst_ip_lo[:] = 4, IPPROTO_UDP, [1, 3], [2, 4]
    table.dst_port[0], table.tunnel_depth[:], table.tunnel[1], table.tunnel_id[1] = 4789, 1, Tunnel.TUNNEL_VXLAN, 5
    tracker = ConversationTracker()
    tracker.add(table)
    flows = tracker._table()
    flows.close()
    return flows, np.arange(2, dtype=np.int64)


def _outputs(length: int) -> dict[str, np.ndarray]:
    return {spec.name: np.empty(length, dtype=spec.dtype) for spec in TRACKER_COLUMNS if spec.name in ROLE_FIELDS}


def test_role_columns_refuses_outputs_of_another_length_or_dtype():
    flows, order = _folded()
    with pytest.raises(ValueError, match="column proto has 3 entries for 2 conversations"):
        role_columns(flows, order, 0, _outputs(3))
    outputs = _outputs(2)
    outputs["client_first"] = np.empty(2, dtype=np.uint8)
    with pytest.raises(ValueError, match="client_first must be bool"):
        role_columns(flows, order, 0, outputs)
    outputs = _outputs(2)
    outputs["conn_state"] = np.empty(2, dtype=np.int32)
    with pytest.raises(ValueError, match="dtype mismatch"):
        role_columns(flows, order, 0, outputs)
    with pytest.raises(IndexError, match="no conversation 2 in a table of 2"):
        role_columns(flows, np.array([0, 2], dtype=np.int64), 0, _outputs(2))


def test_parents_are_positions_in_the_order():
    flows, _ = _folded()
    outputs = _outputs(2)
    role_columns(flows, np.array([1, 0], dtype=np.int64), 0, outputs)
    assert outputs["parent_id"].tolist() == [1, -1]
    assert outputs["is_tunnel"].tolist() == [False, True]
    assert (outputs["tunnel"].tolist(), outputs["tunnel_id"].tolist()) == ([Tunnel.TUNNEL_VXLAN, 0], [5, -1])
    with pytest.raises(ValueError, match="parent is not among the conversations listed"):
        role_columns(flows, np.array([1], dtype=np.int64), 0, _outputs(1))
