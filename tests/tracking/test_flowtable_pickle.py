"""A tracker pickled part-way through (as a Dask worker hands it to another) goes on exactly as
the one that never left: its conversations, index and held fragments travel whole."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.packet import Raw

from pcapflow.capture import open_capture
from pcapflow.decode import decode
from pcapflow.tracking import ConversationTracker
from tests.factories import eth, pcap_bytes, stamped, write


@pytest.fixture(scope="module")
def batches(tmp_path_factory):
    datagrams = [IP(src=f"10.2.0.{i % 4 + 1}", dst="10.2.0.99", id=i) / UDP(sport=6000 + i, dport=53) / Raw(b"q" * 2500) for i in range(12)]
    packets = [eth() / part for datagram in datagrams for part in reversed(fragment(datagram, fragsize=800))]
    packets += [eth() / IP(src=f"10.3.0.{i % 9}", dst="10.3.1.1") / TCP(sport=30000 + i % 5, dport=80, flags="S" if i < 5 else "A") for i in range(300)]
    path = write(tmp_path_factory.mktemp("pickle") / "mixed.pcap", pcap_bytes(stamped(packets)))
    with open_capture(path) as capture:
        return [decode(batch, "fast") for batch in capture.batches(1500)]


def _finished(batches, pickled_after: set[int], colliding: bool):
    tracker = ConversationTracker(colliding_hashes=colliding)
    for index, table in enumerate(batches):
        tracker.add(table)
        if index in pickled_after:
            tracker = pickle.loads(pickle.dumps(tracker))
    return tracker.finish(int(batches[-1].ts_ns.max())), tracker.orphan_fragments


@given(cuts=st.sets(st.integers(0, 40)), colliding=st.booleans())
def test_pickled_anywhere_the_result_is_the_same(batches, cuts, colliding):
    assert len(batches) > 10
    (expected, orphans), (got, got_orphans) = _finished(batches, set(), colliding), _finished(batches, cuts, colliding)
    assert got.keys() == expected.keys() and got_orphans == orphans
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    assert len(expected["first_record"]) == 12 + 45


def test_a_table_of_another_build_is_refused(batches):
    tracker = ConversationTracker()
    tracker.add(batches[0])
    rebuild, settings, state = tracker._table().__reduce__()
    table = rebuild(*settings)
    with pytest.raises(ValueError, match="other structs"):
        table.__setstate__(((1, 2, 3), *state[1:]))


@pytest.fixture(scope="module")
def inspected(tmp_path_factory):
    """Batches of HTTP and SSH conversations whose first bytes span batches, with those bytes."""
    from pcapflow.pipeline import Piece, read_piece

    packets = []
    for i in range(6):
        client, server = f"10.4.0.{i + 1}", "10.4.1.1"
        sport, dport = 40000 + i, 80 if i % 2 else 22
        first = b"GET / HTTP/1.1\r\n" if dport == 80 else b"SSH-2.0-OpenSSH_9.6\r\n"
        rest = f"Host: site{i}.example\r\n\r\n".encode() if dport == 80 else b""
        packets += [eth() / IP(src=client, dst=server) / TCP(sport=sport, dport=dport, flags="S", seq=100),
                    eth() / IP(src=server, dst=client) / TCP(sport=dport, dport=sport, flags="SA", seq=500, ack=101),
                    eth() / IP(src=client, dst=server) / TCP(sport=sport, dport=dport, flags="PA", seq=101, ack=501) / Raw(first),
                    eth() / IP(src=client, dst=server) / TCP(sport=sport, dport=dport, flags="PA", seq=101 + len(first), ack=501) / Raw(rest or b"x"),
                    eth() / IP(src=server, dst=client) / TCP(sport=dport, dport=sport, flags="PA", seq=501, ack=101)
                    / Raw(b"HTTP/1.1 200 OK\r\n\r\n" if dport == 80 else b"SSH-2.0-OpenSSH_9.6\r\n")]
    path = write(tmp_path_factory.mktemp("pickle") / "inspected.pcap", pcap_bytes(stamped(packets)))
    read = read_piece(Piece(str(path), 0, 0, None), "fast", 400, 1, inspect_payload=True)
    return list(zip(read.tables, read.early))


@given(cuts=st.sets(st.integers(0, 30)))
def test_pickled_with_first_bytes_kept_the_apps_and_names_are_the_same(inspected, cuts):
    def finished(pickled_after):
        tracker = ConversationTracker()
        for index, (table, early) in enumerate(inspected):
            tracker.add(table, early=early)
            if index in pickled_after:
                tracker = pickle.loads(pickle.dumps(tracker))
        return tracker.finish(int(inspected[-1][0].ts_ns.max()))

    assert len(inspected) > 6
    expected, got = finished(set()), finished(cuts)
    for name in ("app", "server_name"):
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    assert sorted(expected["server_name"][expected["server_name"] != None].tolist()) == [f"site{i}.example" for i in (1, 3, 5)]  # noqa: E711


def test_a_closed_table_takes_no_more_packets_and_is_not_pickled(batches):
    """close() lets go of the table's index of keys, which folding and pickling need."""
    tracker = ConversationTracker()
    for table in batches[:-1]:
        tracker.add(table)
    table = tracker._table()
    table.close()
    table.close()  # closing again changes nothing
    with pytest.raises(ValueError, match="closed"):
        tracker.add(batches[-1])
    with pytest.raises(ValueError, match="closed"):
        pickle.dumps(tracker)
    assert len(table.first_records()) == len(table) > 0
