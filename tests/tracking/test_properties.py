"""Invariants of conversation tracking on generated traffic.

- The result does not depend on how the capture is cut into batches (tiny batches vs one).
- Every tracked packet lands in exactly one conversation; client + server = total, per row.
- Reversing who sends every TCP/UDP packet never changes the conversations' endpoint pairs.
- A hash collision between two keys is detected and resolved: grouping stays exact.
"""

from __future__ import annotations

from decimal import Decimal
from unittest import mock

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.packet import Raw

import pcapflow
from pcapflow import pipeline, tracking
from pcapflow.tracking import flowtable
from tests.factories import T0, eth, pcap_bytes, write

HOSTS = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]


@st.composite
def traffic(draw):
    """A capture of TCP, UDP and ICMP packets among a few endpoints, with gaps long and short."""
    packets, now = [], Decimal(T0)
    for _ in range(draw(st.integers(1, 40))):
        src, dst = draw(st.sampled_from(HOSTS)), draw(st.sampled_from(HOSTS))
        sport, dport = draw(st.sampled_from([53, 80, 443, 50000, 50001])), draw(st.sampled_from([53, 80, 50000]))
        kind = draw(st.sampled_from(["tcp", "udp", "icmp"]))
        if kind == "tcp":
            flags = draw(st.sampled_from(["S", "SA", "A", "PA", "FA", "R", "RA"]))
            layer = TCP(sport=sport, dport=dport, flags=flags, seq=draw(st.sampled_from([1, 2, 1000])), ack=draw(st.sampled_from([0, 2, 1001])))
        elif kind == "udp":
            layer = UDP(sport=sport, dport=dport)
        else:
            layer = ICMP(type=draw(st.sampled_from([0, 8, 3, 11])), code=draw(st.sampled_from([0, 1])))
        packet = eth() / IP(src=src, dst=dst) / layer / Raw(b"p" * draw(st.integers(0, 30)))
        now += draw(st.sampled_from([Decimal("0.001"), Decimal(1), Decimal(61), Decimal(301)]))
        packet.time = now
        packets.append(packet)
    return packets


@settings(max_examples=60)
@given(traffic(), st.sampled_from([1, 97, 500]), st.sampled_from([1, 3, 1 << 18]))
def test_batch_size_does_not_change_the_result(tmp_path_factory, packets, chunk_bytes, flow_batch):
    path = write(tmp_path_factory.mktemp("p") / "x.pcap", pcap_bytes(packets))
    whole = pcapflow.read_conversations(path)
    # cut both the file reading and the flow table's steps small
    with mock.patch.object(tracking, "FLOW_BATCH_PACKETS", flow_batch):
        pieces = pcapflow.read_conversations(path, chunk_bytes=chunk_bytes)
    pd.testing.assert_frame_equal(pieces, whole)
    assert whole["packets"].sum() == len(packets)
    assert (whole["client_packets"] + whole["server_packets"] == whole["packets"]).all()
    assert (whole["client_bytes"] + whole["server_bytes"] == whole["bytes"]).all()
    assert whole["conversation_id"].tolist() == list(range(len(whole)))
    assert whole["first_seen"].is_monotonic_increasing


@settings(max_examples=30)
@given(traffic())
def test_reversing_every_packet_keeps_the_endpoint_pairs(tmp_path_factory, packets):
    # ICMP types say which way a message goes (a reply is not a request reversed): ports only
    packets = [packet for packet in packets if not packet.haslayer(ICMP)]
    reversed_packets = []
    for packet in packets:
        ip, layer = packet[IP], packet[IP].payload
        swapped = IP(src=ip.dst, dst=ip.src) / layer.copy()
        if hasattr(layer, "sport"):
            swapped.payload.sport, swapped.payload.dport = layer.dport, layer.sport
        copy = eth() / swapped
        copy.time = packet.time
        reversed_packets.append(copy)
    directory = tmp_path_factory.mktemp("r")

    def pairs(packets_):
        frame = pcapflow.read_conversations(write(directory / "x.pcap", pcap_bytes(packets_)))
        ends = zip(frame["protocol"], frame["client_ip"], frame["client_port"], frame["server_ip"], frame["server_port"])
        return sorted(tuple(sorted([(c, cp), (s, sp)])) + (p,) for p, c, cp, s, sp in ends)

    assert pairs(packets) == pairs(reversed_packets)


def test_hash_collisions_are_detected_and_resolved(tmp_path, monkeypatch):
    packets = [eth() / IP(src="10.0.0.1", dst=HOSTS[i % 3]) / UDP(sport=1000 + i, dport=53) for i in range(12)]
    for index, packet in enumerate(packets):
        packet.time = Decimal(T0 + index)
    path = write(tmp_path / "x.pcap", pcap_bytes(packets))
    expected = pcapflow.read_conversations(path)
    real_hash = flowtable.hash_keys
    seeds = []

    def colliding(columns, seed):  # every key collides under seed 0
        seeds.append(seed)
        return np.zeros(len(columns[0]), dtype=np.uint64) if seed == 0 else real_hash(columns, seed)

    monkeypatch.setattr(flowtable, "hash_keys", colliding)
    with mock.patch.object(tracking, "FLOW_BATCH_PACKETS", 2):
        pd.testing.assert_frame_equal(pcapflow.read_conversations(path, chunk_bytes=200), expected)
    assert 1 in seeds and len(expected) == 12


@settings(max_examples=40)
@given(traffic(), st.randoms(use_true_random=False), st.sampled_from([1, 2, 1 << 18]))
def test_timestamps_out_of_order_split_the_same_in_any_batches(tmp_path_factory, packets, rnd, flow_batch):
    # interfaces merged into one file: timestamps run back by up to 30 s (less than the expiry slack)
    for packet in packets:
        packet.time = packet.time + Decimal(rnd.randint(-30_000, 30_000)) / 1000
    path = write(tmp_path_factory.mktemp("o") / "x.pcap", pcap_bytes(packets))
    whole = pcapflow.read_conversations(path)
    with mock.patch.object(tracking, "FLOW_BATCH_PACKETS", flow_batch):
        pieces = pcapflow.read_conversations(path, chunk_bytes=97)
    pd.testing.assert_frame_equal(pieces, whole)


@settings(max_examples=60)
@given(traffic(), st.sampled_from([2, 3]), st.sampled_from([1, 5, 1 << 18]))
def test_trackers_of_partitions_combine_into_one_tracker(tmp_path_factory, packets, partitions, flow_batch):
    path = write(tmp_path_factory.mktemp("p") / "x.pcap", pcap_bytes(packets))
    tables = list(pcapflow.PacketReader(path, chunk_bytes=200))
    capture_end = max(int(table.ts_ns.max()) for table in tables)
    one = tracking.ConversationTracker()
    parts = [tracking.ConversationTracker() for _ in range(partitions)]
    with mock.patch.object(tracking, "FLOW_BATCH_PACKETS", flow_batch):
        for table in tables:
            one.add(table)
            for tracker, part in zip(parts, pipeline.split(table, partitions)):
                tracker.add(part)
        whole = one.finish(capture_end)
        combined = tracking.combine([tracker.finish(capture_end) for tracker in parts])
    assert combined.keys() == whole.keys()
    for name, column in whole.items():
        np.testing.assert_array_equal(combined[name], column, err_msg=name)
