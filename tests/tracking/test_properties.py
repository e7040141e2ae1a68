"""Invariants of conversation tracking on generated traffic.

- The result does not depend on how the capture is cut into batches, files or pieces, nor on the
  number of threads and partitions that track it.
- Every tracked packet lands in exactly one conversation; client + server = total, per row.
- Reversing who sends every TCP/UDP packet never changes the conversations' endpoint pairs.
- Every key hashing alike changes nothing: grouping compares whole keys.
- The fragments of a datagram join its conversation in whatever order they come.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from unittest import mock

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment
from scapy.packet import Raw

import pcapflow
from pcapflow import pipeline, tracking
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


def small_pieces():
    """Files cut into pieces of 1 KiB (a few records each), as a large capture is cut."""
    return mock.patch.object(pipeline, "PIECE_BYTES", 1024)


@settings(max_examples=60)
@given(traffic(), st.sampled_from([1, 97, 500]), st.sampled_from([1, 2, 3]))
def test_batch_size_and_workers_do_not_change_the_result(tmp_path_factory, packets, chunk_bytes, workers):
    path = write(tmp_path_factory.mktemp("p") / "x.pcap", pcap_bytes(packets))
    whole = pcapflow.read_conversations(path, workers=1)
    cut = pcapflow.read_conversations(path, chunk_bytes=chunk_bytes, workers=workers)
    pd.testing.assert_frame_equal(cut, whole)
    assert whole["packets"].sum() == len(packets)
    assert (whole["client_packets"] + whole["server_packets"] == whole["packets"]).all()
    assert (whole["client_bytes"] + whole["server_bytes"] == whole["bytes"]).all()
    assert whole["conversation_id"].tolist() == list(range(len(whole)))
    assert whole["first_seen"].is_monotonic_increasing


@settings(max_examples=40, deadline=None)
@given(traffic(), st.lists(st.integers(0, 40), max_size=4), st.sampled_from([1, 2, 3, 5]))
def test_files_and_pieces_do_not_change_the_result(tmp_path_factory, packets, cuts, workers):
    """The same packets as one file, or as several files (each cut into pieces) read together:
    conversations that continue from file to file and piece to piece are the same."""
    directory = tmp_path_factory.mktemp("f")
    one = pcapflow.read_conversations(write(directory / "one.pcap", pcap_bytes(packets)), workers=1)
    bounds = [0, *sorted({cut for cut in cuts if 0 < cut < len(packets)}), len(packets)]
    paths = [write(directory / f"part{index}.pcap", pcap_bytes(packets[begin:end]))
             for index, (begin, end) in enumerate(itertools.pairwise(bounds))]
    with small_pieces():
        several = pcapflow.read_conversations(paths, workers=workers)
    pd.testing.assert_frame_equal(several, one)
    assert [file.records for file in several.attrs["report"].files] == [end - begin for begin, end in itertools.pairwise(bounds)]


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


def _finished(tables, **tracker_options) -> dict[str, np.ndarray]:
    tracker = tracking.ConversationTracker(**tracker_options)
    for table in tables:
        tracker.add(table)
    return tracker.finish(max(int(table.ts_ns.max()) for table in tables))


def _assert_same_columns(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for name, column in expected.items():
        np.testing.assert_array_equal(got[name], column, err_msg=name)


@given(traffic())
def test_keys_that_all_hash_alike_are_still_told_apart(tmp_path_factory, packets):
    packets += [eth() / IP(src="10.0.0.1", dst=HOSTS[i % 3]) / UDP(sport=1000 + i, dport=53) for i in range(12)]
    for index, packet in enumerate(packets):
        packet.time = Decimal(T0 + index)
    path = write(tmp_path_factory.mktemp("h") / "x.pcap", pcap_bytes(packets))
    tables = list(pcapflow.PacketReader(path, chunk_bytes=200))
    _assert_same_columns(_finished(tables, colliding_hashes=True), _finished(tables))


@settings(max_examples=40)
@given(traffic(), st.randoms(use_true_random=False), st.sampled_from([1, 2, 3]))
def test_timestamps_out_of_order_split_the_same_in_any_batches(tmp_path_factory, packets, rnd, workers):
    # interfaces merged into one file: timestamps run back by up to 30 s
    for packet in packets:
        packet.time = packet.time + Decimal(rnd.randint(-30_000, 30_000)) / 1000
    path = write(tmp_path_factory.mktemp("o") / "x.pcap", pcap_bytes(packets))
    whole = pcapflow.read_conversations(path, workers=1)
    pd.testing.assert_frame_equal(pcapflow.read_conversations(path, chunk_bytes=97, workers=workers), whole)


@settings(max_examples=60)
@given(traffic(), st.sampled_from([2, 3, 7]))
def test_trackers_of_partitions_combine_into_one_tracker(tmp_path_factory, packets, partitions):
    path = write(tmp_path_factory.mktemp("p") / "x.pcap", pcap_bytes(packets))
    tables = list(pcapflow.PacketReader(path, chunk_bytes=200))
    capture_end = max(int(table.ts_ns.max()) for table in tables)
    parts = [tracking.ConversationTracker() for _ in range(partitions)]
    for table in tables:
        for tracker, (part, _) in zip(parts, tracking.split(table, partitions)):
            tracker.add(part)
    _assert_same_columns(tracking.combine([tracker.finish(capture_end) for tracker in parts]), _finished(tables))


@st.composite
def fragmented_traffic(draw):
    """UDP datagrams fragmented in three or more, their fragments in any order, between other packets."""
    packets = []
    for index in range(draw(st.integers(1, 4))):
        datagram = IP(src=f"10.2.0.{index % 2 + 1}", dst="10.2.0.9", id=100 + index % 3) / UDP(sport=7000 + index, dport=9999)
        fragments = fragment(datagram / Raw(b"f" * draw(st.integers(1100, 4000))), fragsize=1000)
        packets += draw(st.permutations(fragments))
        if draw(st.booleans()):
            packets.append(IP(src="10.2.0.1", dst="10.2.0.9") / UDP(sport=7000 + index, dport=9999) / Raw(b"x"))
    return [eth() / packet for packet in packets]


@settings(max_examples=60, deadline=None)
@given(fragmented_traffic(), st.sampled_from([1, 300, 1100, 5000]), st.sampled_from([1, 2, 3]))
def test_fragments_in_any_order_join_their_datagram_whatever_the_batches(tmp_path_factory, packets, chunk_bytes, workers):
    for index, packet in enumerate(packets):
        packet.time = Decimal(T0) + Decimal(index) / 1000
    path = write(tmp_path_factory.mktemp("g") / "x.pcap", pcap_bytes(packets))
    whole = pcapflow.read_conversations(path, workers=1)
    with small_pieces():
        cut = pcapflow.read_conversations(path, chunk_bytes=chunk_bytes, workers=workers)
    pd.testing.assert_frame_equal(cut, whole)
    assert whole.attrs["report"].orphan_fragments == 0
    assert whole["packets"].sum() == len(packets)
