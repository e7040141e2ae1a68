"""The --scheduler option and scheduler= argument: the same output as a local run, one Error:
line for a scheduler that does not answer or a Dask that is not installed; fsspec URLs."""

from __future__ import annotations

import socket
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

import pcapflow
from pcapflow import pipeline
from pcapflow.cli import main
from pcapflow.dask import cluster
from tests.conftest import SAMPLES
from tests.factories import pcap_bytes, write


def _invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_cli_on_a_cluster_prints_what_it_prints_locally(client):
    samples = [str(SAMPLES / "http_ethernet.pcap"), str(SAMPLES / "fragments.pcap")]
    local = _invoke("analyze", *samples)
    remote = _invoke("analyze", "--scheduler", client.scheduler.address, *samples)
    assert remote.exit_code == local.exit_code == 0
    assert remote.output == local.output


def test_an_unreachable_scheduler_is_one_error_line(monkeypatch):
    pytest.importorskip("distributed", reason='dask.distributed is not installed (pip install -e ".[dask]")')
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1)
    address = f"tcp://127.0.0.1:{_unused_port()}"
    result = CliRunner().invoke(main, ["analyze", "--scheduler", address, str(SAMPLES / "http_ethernet.pcap")])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: no Dask scheduler answers at {address}")


def test_without_dask_the_option_says_how_to_install_it(monkeypatch):
    for module in ("distributed", "dask", "dask.sizeof", "pcapflow.dask.run"):
        monkeypatch.setitem(sys.modules, module, None)  # importing it raises ImportError
    result = CliRunner().invoke(main, ["analyze", "--scheduler", "tcp://127.0.0.1:8786", str(SAMPLES / "http_ethernet.pcap")])
    assert result.exit_code == 1
    assert result.output == f"Error: running on a Dask cluster needs dask.distributed: {cluster.INSTALL_HINT}\n"


def test_a_scheduler_must_be_an_address_or_a_client():
    pytest.importorskip("distributed", reason='dask.distributed is not installed (pip install -e ".[dask]")')
    with pytest.raises(pcapflow.PcapflowError, match="a scheduler is the address of a Dask scheduler"):
        pcapflow.analyze(SAMPLES / "http_ethernet.pcap", scheduler=8786)


def test_memory_urls_are_read_in_pieces_by_byte_range(tmp_path, monkeypatch):
    fsspec = pytest.importorskip("fsspec", reason='fsspec is not installed (pip install -e ".[dask]")')
    from tests.cluster.test_dask_run import _packets

    monkeypatch.setattr(pipeline, "PIECE_BYTES", 4096)
    data = pcap_bytes(_packets(900))
    path = write(tmp_path / "big.pcap", data)
    url = "memory://captures/big.pcap"
    with fsspec.open(url, "wb") as file:
        file.write(data)
    ranges = []
    memory_file = type(fsspec.open(url, "rb").open())
    real_seek = memory_file.seek
    monkeypatch.setattr(memory_file, "seek", lambda self, offset, *whence: (ranges.append(offset), real_seek(self, offset, *whence))[1])
    assert len(pipeline.plan_pieces(url, 0)) > 10
    remote, local = pcapflow.read_conversations(url, workers=3), pcapflow.read_conversations(path, workers=3)
    pd.testing.assert_frame_equal(remote, local)
    assert remote.attrs["report"].files[0].path == url and remote.attrs["report"].records_read == 900
    starts = {start for start, _ in pipeline.plan_spans(url, 4096)[0]}
    assert starts - {24} <= set(ranges)  # every piece's reader went straight to its first byte


def test_a_url_on_the_command_line(monkeypatch):
    fsspec = pytest.importorskip("fsspec", reason='fsspec is not installed (pip install -e ".[dask]")')
    sample = SAMPLES / "http_ethernet.pcap"
    with fsspec.open("memory://cli/http.pcap", "wb") as file:
        file.write(sample.read_bytes())
    local, remote = _invoke("analyze", str(sample)), _invoke("analyze", "memory://cli/http.pcap")
    assert remote.exit_code == 0 and remote.output == local.output.replace(str(sample), "memory://cli/http.pcap")
    missing = CliRunner().invoke(main, ["analyze", "memory://nowhere/none.pcap"])
    assert missing.exit_code == 1 and missing.output.startswith("Error: ") and len(missing.output.splitlines()) == 1
