"""pcapflow.dask.read_conversations leaves the conversations on the cluster, partitioned by
conversation key, with the schema's dtypes; its per-port reduction equals the local table."""

from __future__ import annotations

import pandas as pd
import pytest
from scapy.packet import Raw

pytest.importorskip("dask.dataframe", reason='dask is not installed (pip install -e ".[dask]")')

import pcapflow
import pcapflow.dask
from pcapflow import pipeline
from tests.cluster.test_dask_run import _packets
from tests.factories import eth, pcap_bytes, stamped, write


@pytest.fixture
def capture(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "PIECE_BYTES", 8192)
    return [write(tmp_path / f"part{index}.pcap", pcap_bytes(_packets(700)[index * 350:(index + 1) * 350])) for index in range(2)]


def test_the_frame_is_the_local_one_partitioned_by_conversation_key(capture, client):
    local = pcapflow.analyze(capture)
    frame = pcapflow.dask.read_conversations(capture, scheduler=client)
    assert frame.npartitions == 2  # one per worker
    assert frame.dtypes.astype(str).to_dict() == local.conversations.dtypes.astype(str).to_dict()  # categories: known once computed
    partitions = [client.compute(part).result() for part in frame.partitions]
    pairs = [set(zip(part["client_ip"], part["server_ip"])) for part in partitions]
    assert all(len(part) for part in partitions) and not pairs[0] & pairs[1]  # an address pair lives in one partition
    computed = client.compute(frame).result().sort_index()
    pd.testing.assert_frame_equal(computed, local.conversations, check_index_type=False)
    assert computed.attrs["report"].to_dict() == local.report.to_dict()
    sizes = client.compute(frame.groupby("server_port").size()).result().sort_index()
    pd.testing.assert_series_equal(sizes, local.conversations.groupby("server_port").size(), check_names=False)


def test_summarize_ports_is_a_reduction_equal_to_the_local_ports(capture, client):
    local = pcapflow.analyze(capture)
    ports = pcapflow.dask.summarize_ports(pcapflow.dask.read_conversations(capture, scheduler=client))
    pd.testing.assert_frame_equal(client.compute(ports).result(), local.ports)


def test_an_empty_capture_gives_an_empty_frame_of_the_schema(tmp_path, client):
    path = write(tmp_path / "none.pcap", pcap_bytes(stamped([eth(type=0x88B5) / Raw(b"\x00" * 30)])))
    frame = pcapflow.dask.read_conversations([path], scheduler=client)
    computed = client.compute(frame).result()
    assert len(computed) == 0
    pd.testing.assert_frame_equal(computed, pcapflow.read_conversations([path]), check_index_type=False)


def test_given_an_address_the_frame_computes_on_a_client_left_open(capture, client):
    import distributed

    frame = pcapflow.dask.read_conversations(capture, scheduler=client.scheduler.address)
    made = distributed.default_client()
    try:
        assert made is not client and made.scheduler.address == client.scheduler.address
        pd.testing.assert_frame_equal(frame.compute().sort_index(), pcapflow.read_conversations(capture), check_index_type=False)
    finally:
        made.close()


def test_server_names_from_dns_answers_of_other_partitions(tmp_path, client):
    from tests.test_dns_names import EXPECTED, dns_capture

    path = dns_capture(tmp_path)
    computed = client.compute(pcapflow.dask.read_conversations(path, scheduler=client)).result().sort_index()
    local = pcapflow.read_conversations(path)
    pd.testing.assert_frame_equal(computed, local, check_index_type=False)
    named = computed.set_index("client_port")["server_name"]
    assert {port: (None if pd.isna(named[port]) else named[port]) for port in EXPECTED} == {port: name for port, (name, _) in EXPECTED.items()}
