"""What the flow table keeps of first payload bytes: small slots, moved to large ones when a
direction outgrows them, given back once the protocol is decided (but for the naming apps)."""

from __future__ import annotations

import pickle

import numpy as np
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, UDP
from scapy.packet import Raw

from pcapflow.decode.table import ONE_ROW_PER_RECORD
from pcapflow.pipeline import Piece, read_piece
from pcapflow.tracking import ConversationTracker
from tests.factories import CLIENT, SERVER, eth, pcap_bytes, stamped, write
from tests.test_apps import split_session

SMALL_SLOT, LARGE_SLOT = 2 * 512, 2 * 2048  # bytes of a slot (both directions) in each pool


def dns_exchanges(count: int) -> list:
    packets = []
    for i in range(count):
        question = DNSQR(qname=f"host{i}.example")
        packets += [eth() / IP(src=CLIENT, dst="10.0.0.53") / UDP(sport=30000 + i, dport=53) / DNS(id=i, rd=1, qd=question),
                    eth() / IP(src="10.0.0.53", dst=CLIENT) / UDP(sport=53, dport=30000 + i) / DNS(
                        id=i, qr=1, qd=question, an=DNSRR(rrname=f"host{i}.example", rdata=f"192.0.2.{i % 250 + 1}"))]
    return packets


def long_request(host: str) -> list[bytes]:
    """An HTTP request of 1,500 bytes whose Host header comes last, in three segments."""
    request = b"GET /" + b"a" * 1400 + b" HTTP/1.1\r\nUser-Agent: t\r\nHost: " + host.encode() + b"\r\n\r\n"
    request = request[:5] + b"a" * (1500 - len(request)) + request[5:]
    return [request[:400], request[400:900], request[900:]]


def tracked(tmp_path, packets, chunk_bytes=1 << 20) -> tuple[ConversationTracker, list]:
    path = write(tmp_path / "kept.pcap", pcap_bytes(stamped(packets)))
    read = read_piece(Piece(str(path), 0, 0, None), "fast", chunk_bytes, 1, inspect_payload=True)
    tracker = ConversationTracker()
    for table, early in zip(read.tables, read.early):
        tracker.add(table, early=early)
    return tracker, read.tables


def test_dns_conversations_keep_small_slots(tmp_path):
    tracker, _ = tracked(tmp_path, dns_exchanges(300))
    small, large, held = tracker._table().first_bytes_memory()
    assert (small, large) == (300, 0)  # each exchange kept, for its answers, in a small slot
    assert held == 768 * SMALL_SLOT  # the pool grew from 256 slots to 768: 768 KiB, where large slots would take 3 MiB


def test_a_direction_that_outgrows_its_slot_moves_with_all_its_bytes(tmp_path):
    parts = long_request("long.example")
    response = b"HTTP/1.1 200 OK\r\n\r\n"
    tracker, tables = tracked(tmp_path, split_session(80, parts, response, client_port=50011) + dns_exchanges(2))
    flows = tracker._table()
    assert flows.first_bytes_memory()[:2] == (2, 1)  # the two DNS exchanges small, the HTTP one large
    http = int(np.flatnonzero(flows.first_records() == 0)[0])
    kept = [flows.first_bytes(http, direction) for direction in (0, 1)]
    assert sorted(kept, key=len) == [response, b"".join(parts)]  # nothing lost in the move
    end = int(max(table.ts_ns.max() for table in tables))
    columns = tracker.finish(end)
    assert "long.example" in columns["server_name"].tolist()


def test_slots_are_given_back_when_no_name_is_wanted(tmp_path):
    packets = []
    for i in range(50):  # datagrams that match no signature, both ways
        packets += [eth() / IP(src=CLIENT, dst=SERVER) / UDP(sport=31000 + i, dport=9999) / Raw(b"\xee" * 200),
                    eth() / IP(src=SERVER, dst=CLIENT) / UDP(sport=9999, dport=31000 + i) / Raw(b"\xdd" * 200)]
    tracker, _ = tracked(tmp_path, packets)
    small, large, held = tracker._table().first_bytes_memory()
    assert (small, large) == (0, 0)  # decided "no app" at the reply: nothing is kept
    assert held == 256 * SMALL_SLOT  # the pool has its first size only: each slot was given back and taken again


def test_a_table_pickled_after_the_move_goes_on_the_same(tmp_path):
    parts = long_request("moved.example")
    packets = split_session(80, parts, b"HTTP/1.1 200 OK\r\n\r\n", client_port=50012)
    path = write(tmp_path / "moved.pcap", pcap_bytes(stamped(packets)))
    read = read_piece(Piece(str(path), 0, 0, None), "fast", 400, 1, inspect_payload=True)  # a batch per packet or two
    names = []
    for pickled_after in (set(), set(range(len(read.tables)))):
        tracker = ConversationTracker()
        for index, (table, early) in enumerate(zip(read.tables, read.early)):
            tracker.add(table, early=early)
            if index in pickled_after:
                tracker = pickle.loads(pickle.dumps(tracker))
        names.append(tracker.finish(int(read.tables[-1].ts_ns.max()))["server_name"].tolist())
    assert len(read.tables) > 3
    assert names[0] == names[1] and "moved.example" in names[0]


def test_a_thread_reuses_its_budgets_emptied_for_each_read(tmp_path):
    from pcapflow._kernels.firstbytes import FirstBytes
    from pcapflow.apps import compiled_signatures
    from pcapflow.decode import decode

    packets = split_session(80, long_request("again.example"), b"HTTP/1.1 200 OK\r\n\r\n", client_port=50013) + dns_exchanges(3000)
    packets += [eth() / IP(src=CLIENT, dst=SERVER) / UDP(sport=32000, dport=9999) / Raw(b"\xee" * 1000) for _ in range(4)]
    path = write(tmp_path / "again.pcap", pcap_bytes(stamped(packets)))
    piece = Piece(str(path), 0, 0, None)
    first, second = (read_piece(piece, "fast", 1 << 20, 1, inspect_payload=True) for _ in range(2))  # the second on reset budgets
    with piece.open() as capture:
        batch = next(iter(capture.batches(1 << 20)))
        table = decode(batch, "fast", False)
        fresh = FirstBytes(compiled_signatures()[0]).take(
            batch.buffer, batch.data_offset, ONE_ROW_PER_RECORD, batch.caplen, table.status, table.ip_proto, table.src_ip_hi, table.src_ip_lo,
            table.dst_ip_hi, table.dst_ip_lo, table.src_port, table.dst_port, table.tcp_flags, table.tcp_seq, table.payload_offset,
            table.payload_bytes)
    assert len(first.early) == len(second.early) == 1  # one batch: what a fresh table takes of it, each time
    for got in (first.early[0], second.early[0]):
        for column, expected in zip(got, fresh):
            np.testing.assert_array_equal(column, expected)
    # the HTTP request's 3 segments and its response, every DNS message, and the datagrams that
    # start within their direction's 2,048 bytes (a budget left taken would give them none)
    assert int((fresh[1] > 0).sum()) == 4 + 2 * 3000 + 3
    assert fresh[1][-4:].tolist() == [1000, 1000, 1000, 0]
