"""The analysis on a Dask cluster gives exactly what the local threads give: the same rows,
conversation_ids, per-port table and report, across many files, pieces of one file, damage at
a piece boundary, fragments crossing pieces and files, a wrong boundary guess, compressed and
pcapng files, and a worker killed during the run."""

from __future__ import annotations

import functools
import os
import struct

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.packet import Raw

import pcapflow
from pcapflow import pipeline
from pcapflow.capture import pieces
from pcapflow.capture.pieces import plan_spans
from tests.factories import COMPRESSIONS, eth, pcap_bytes, pcapng_bytes, stamped, write

distributed = pytest.importorskip("distributed", reason='dask.distributed is not installed (pip install -e ".[dask]")')
cloudpickle = pytest.importorskip("cloudpickle", reason="cloudpickle comes with dask")

PIECE = 8192


@pytest.fixture(autouse=True)
def cut_every_file(monkeypatch):
    # the caller plans the pieces: the cut applies to the cluster run too
    monkeypatch.setattr(pipeline, "PIECE_BYTES", PIECE)


@functools.cache  # scapy builds packets slowly: each count once (the tests only slice them)
def _packets(count: int, hosts: int = 7):
    return stamped([
        eth() / IP(src=f"10.0.{i % hosts}.1", dst="10.0.0.2")
        / (TCP(sport=40000 + i % 13, dport=443, flags="PA") if i % 3 else UDP(sport=5000, dport=53))
        / Raw(b"x" * (i % 90))
        for i in range(count)
    ])


def _assert_same_as_local(paths, client, **options):
    """The cluster's analysis of ``paths`` against the local one; the local analysis."""
    local = pcapflow.analyze(paths, workers=3, **options)
    remote = pcapflow.analyze(paths, scheduler=client, **options)
    pd.testing.assert_frame_equal(remote.conversations, local.conversations)
    pd.testing.assert_frame_equal(remote.ports, local.ports)
    assert remote.report.to_dict() == local.report.to_dict()
    return local


def test_many_files_with_conversations_crossing_them(tmp_path, client):
    packets = _packets(600)
    paths = [write(tmp_path / f"rotated{index:02}.pcap", pcap_bytes(packets[index * 50:(index + 1) * 50])) for index in range(12)]
    local = _assert_same_as_local(paths, client)
    assert local.report.records_read == 600 and len(local.report.files) == 12
    assert len(local.conversations) == 7 * 13 + 7  # the TCP sockets and the DNS pairs, each across the files


def test_one_large_file_cut_into_pieces(tmp_path, client):
    path = write(tmp_path / "big.pcap", pcap_bytes(_packets(1500)))
    assert len(plan_spans(path, PIECE)[0]) > 10
    local = _assert_same_as_local([path], client, chunk_bytes=2048)
    assert local.conversations["packets"].sum() == 1500


def test_damage_at_a_piece_boundary(tmp_path, client):
    data = pcap_bytes(_packets(1000))
    boundaries = [start for start, _ in plan_spans(write(tmp_path / "whole.pcap", data), PIECE)[0][1:]]
    damaged = boundaries[len(boundaries) // 2]
    path = write(tmp_path / "damaged.pcap", data[: damaged + 8] + struct.pack("<I", 1 << 30) + data[damaged + 12:])
    later = write(tmp_path / "later.pcap", pcap_bytes(_packets(40)))
    local = _assert_same_as_local([path, later], client)
    first = local.report.files[0]
    assert first.corrupt_at == damaged and first.damage and local.report.files[1].records == 40


def test_fragments_crossing_pieces_and_files(tmp_path, client):
    datagrams = [IP(src=f"10.1.0.{i % 5 + 1}", dst="10.1.0.99", id=i) / UDP(sport=7000 + i, dport=9999) / Raw(b"f" * 3000) for i in range(40)]
    packets = stamped([eth() / part for datagram in datagrams for part in reversed(fragment(datagram, fragsize=1000))])
    paths = [write(tmp_path / "frag-a.pcap", pcap_bytes(packets[:77])), write(tmp_path / "frag-b.pcap", pcap_bytes(packets[77:]))]
    local = _assert_same_as_local(paths, client)
    assert len(local.conversations) == 40 and local.conversations["packets"].tolist() == [4] * 40
    assert local.report.orphan_fragments == 0


def test_a_wrong_boundary_guess_is_read_again_from_the_real_boundary(tmp_path, client, monkeypatch):
    path = write(tmp_path / "big.pcap", pcap_bytes(_packets(800)))
    real = pieces.find_record_start
    monkeypatch.setattr(pieces, "find_record_start", lambda *args: (lambda found: None if found is None else found + 1)(real(*args)))
    local = _assert_same_as_local([path], client)
    assert local.report.records_read == 800


def test_compressed_and_pcapng_files_are_read_whole_by_one_task(tmp_path, client):
    packets = _packets(300)
    paths = [
        write(tmp_path / "a.pcap", pcap_bytes(packets[:150])),
        write(tmp_path / "b.pcapng", pcapng_bytes(packets[150:200])),
        write(tmp_path / "c.pcap.gz", COMPRESSIONS["gzip"](pcap_bytes(packets[200:]))),
    ]
    local = _assert_same_as_local(paths, client, chunk_bytes=2048)
    assert [file.records for file in local.report.files] == [150, 50, 100]


def test_file_urls_are_read_by_the_workers(tmp_path, client):
    path = write(tmp_path / "big.pcap", pcap_bytes(_packets(600)))
    local = pcapflow.read_conversations([path])
    remote = pcapflow.read_conversations([f"file://{path}"], scheduler=client)
    pd.testing.assert_frame_equal(remote, local)
    assert remote.attrs["report"].files[0].path == f"file://{path}"


def test_a_capture_error_is_raised_as_locally(tmp_path, client):
    paths = [write(tmp_path / "good.pcap", pcap_bytes(_packets(50))), write(tmp_path / "junk.pcap", b"not a capture at all, not even close")]
    with pytest.raises(pcapflow.CaptureError, match=r"junk\.pcap: not a pcap or pcapng file"):
        pcapflow.analyze(paths, scheduler=client)


def test_standard_input_cannot_be_read_on_a_cluster(client):
    with pytest.raises(pcapflow.PcapflowError, match="standard input cannot be read on a Dask cluster"):
        pcapflow.analyze(["-"], scheduler=client)


class _ExitAfterFolds(distributed.WorkerPlugin):
    """A worker plugin: the first worker to finish ``folds`` folds exits at once, its results lost
    (once: ``flag`` is written first)."""

    name = "exit-after-folds"

    def __init__(self, flag: str, folds: int):
        self.flag, self.folds, self.seen = flag, folds, 0

    def setup(self, worker):
        self.seen = 0

    def transition(self, key, start, finish, **kwargs):
        if finish != "memory" or "fold_part" not in str(key):
            return
        self.seen += 1
        if self.seen == self.folds and not os.path.exists(self.flag):
            open(self.flag, "w").close()
            os._exit(1)


def test_a_worker_killed_during_the_run_is_replaced_with_the_same_result(tmp_path, client):
    path = write(tmp_path / "big.pcap", pcap_bytes(_packets(1500)))
    flag = tmp_path / "killed"
    cloudpickle.register_pickle_by_value(__import__(__name__))  # the workers cannot import the tests
    client.register_plugin(_ExitAfterFolds(str(flag), 8))
    try:
        _assert_same_as_local([path], client)
    finally:
        client.unregister_worker_plugin(_ExitAfterFolds.name)
        cloudpickle.unregister_pickle_by_value(__import__(__name__))
        client.wait_for_workers(2, timeout=60)
    assert flag.exists()  # a worker did die during the run


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(piece=st.integers(6000, 30000), chunk=st.integers(600, 8192), files=st.integers(1, 4))
def test_any_piece_cut_batch_size_and_files_give_the_local_result(tmp_path_factory, client, piece, chunk, files):
    packets = _packets(480)
    folder = tmp_path_factory.mktemp("cuts")
    share = len(packets) // files
    paths = [write(folder / f"f{index}.pcap", pcap_bytes(packets[index * share:(index + 1) * share if index < files - 1 else None]))
             for index in range(files)]
    before = pipeline.PIECE_BYTES
    pipeline.PIECE_BYTES = piece  # the caller plans: the cut reaches the cluster run
    try:
        _assert_same_as_local(paths, client, chunk_bytes=chunk)
    finally:
        pipeline.PIECE_BYTES = before


def test_tunnelled_conversations_and_their_parents_are_the_local_ones(tmp_path, client):
    from scapy.layers.inet import GRE
    from scapy.layers.vxlan import VXLAN

    packets = stamped([
        eth() / IP(src=f"192.0.2.{i % 5 + 1}", dst="192.0.2.9")
        / (UDP(sport=49152 + i % 3, dport=4789) / VXLAN(vni=i % 2, flags=0x08) / eth() if i % 2 else GRE())
        / IP(src="10.0.0.1", dst=f"10.0.1.{i % 4}") / TCP(sport=40000, dport=80, flags="PA") / Raw(b"t" * (i % 40))
        for i in range(400)
    ])
    local = _assert_same_as_local([write(tmp_path / "tunnels.pcap", pcap_bytes(packets))], client, chunk_bytes=4096)
    frame = local.conversations
    assert local.report.tunnels == {"vxlan": 200, "gre": 200}
    assert frame.loc[frame["is_tunnel"], "packets"].sum() == frame.loc[frame["tunnel"].notna(), "packets"].sum() == 400
    joined = frame.merge(frame, left_on="parent_id", right_on="conversation_id", suffixes=("", "_carrier"))
    assert len(joined) == frame["tunnel"].notna().sum() and joined["is_tunnel_carrier"].all()
