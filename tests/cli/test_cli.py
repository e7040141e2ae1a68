"""The ``pcapflow`` command, run through click's CliRunner: output, exports, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

import pcapflow
from pcapflow.cli import main
from pcapflow.export import read_table
from tests.conftest import REPO, SAMPLES


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("sample", ["http_ethernet.pcap", "vlan_qinq.pcap", "fragments.pcap", "linktypes.pcapng"])
def test_analyze_output_is_exactly_the_golden_file(golden, sample, monkeypatch):
    monkeypatch.chdir(REPO)
    result = run("analyze", f"sample_pcaps/{sample}")
    assert result.exit_code == 0
    assert result.stderr == ""
    golden(f"analyze_{sample}.txt", result.stdout)


@pytest.mark.parametrize("table", ["conversations", "ports"])
@pytest.mark.parametrize("suffix", [".csv", ".json", ".ndjson", ".parquet"])
def test_every_export_format_reads_back_equal_with_its_dtypes(tmp_path, table, suffix):
    capture = SAMPLES / "http_ethernet.pcap"
    target = tmp_path / f"{table}{suffix}"
    result = run(table, str(capture), "-o", str(target))
    assert result.exit_code == 0, result.output
    expected = getattr(pcapflow.analyze(capture), table)
    pd.testing.assert_frame_equal(read_table(target), expected, check_dtype=True)


def test_csv_to_standard_output(tmp_path):
    result = run("ports", str(SAMPLES / "http_ethernet.pcap"))
    lines = result.stdout.splitlines()
    assert lines[0].startswith("protocol,server_port,service,description,conversations")
    assert lines[1].startswith("tcp,80,http,")
    assert len(lines) == 3


def test_analyze_export_writes_three_files_in_one_pass(tmp_path):
    result = run("analyze", str(SAMPLES / "http_ethernet.pcap"), "--export", str(tmp_path / "out"))
    assert result.exit_code == 0
    assert len(read_table(tmp_path / "out" / "conversations.csv")) == 4
    assert read_table(tmp_path / "out" / "ports.csv")["conversations"].tolist() == [3, 1]
    assert json.loads((tmp_path / "out" / "report.json").read_text())["records_read"] == 27


@pytest.mark.parametrize(("query", "expected"), [("22", "22/tcp\tssh\t"), ("ssh", "22/tcp\tssh\t"), ("53/udp", "53/udp\tdomain\t")])
def test_services_lookup(query, expected):
    result = run("services", query)
    assert result.exit_code == 0
    assert any(line.startswith(expected) for line in result.stdout.splitlines())


def test_services_prints_familiar_names():
    result = run("services", "2049/tcp", "9200/tcp")
    assert result.exit_code == 0
    assert result.stdout == (
        "2049/tcp\tnfs\tNetwork File System - Sun Microsystems\n"
        "9200/tcp\telasticsearch\tElasticsearch REST API (de facto; IANA: wap-wsp)\n"
    )


def test_garbage_input_is_one_error_line_and_exit_1(tmp_path):
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"this is not a capture at all")
    result = CliRunner().invoke(main, ["analyze", str(garbage)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"Error: {garbage}: not a pcap or pcapng file (first bytes 74 68 69 73) (at byte 0)\n"


def test_truncated_capture_warns_and_exits_0_or_1_when_strict():
    capture = str(SAMPLES / "truncated.pcap")
    result = run("analyze", capture)
    assert result.exit_code == 0
    assert result.stderr == (
        f"Warning: {capture}: file ends inside the record at byte 384 (53 of 90 bytes present); "
        "the 4 records before it were read\n"
    )
    strict = CliRunner().invoke(main, ["analyze", "--strict", capture])
    assert strict.exit_code == 1
    assert strict.stderr.splitlines()[-1].startswith("Error: --strict")
    assert run("analyze", "--quiet", capture).stderr == ""


def test_missing_file_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "missing.pcap")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.output


def test_options_reach_the_analysis(tmp_path):
    services = tmp_path / "services.csv"
    services.write_text("port,protocol,service\n80,tcp,my-web\n")
    result = run("ports", str(SAMPLES / "http_ethernet.pcap"), "--services", str(services), "--format", "json")
    assert json.loads(result.stdout)[0]["service"] == "my-web"


@pytest.mark.parametrize("command", [[], ["analyze"], ["conversations"], ["ports"], ["services"]])
def test_help(command):
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.stdout


def test_python_dash_m():
    result = subprocess.run([sys.executable, "-m", "pcapflow", "--help"], capture_output=True, text=True, check=True)
    assert "analyze" in result.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads are counted in /proc")
def test_the_command_line_starts_no_blas_threads():
    """numpy's BLAS would start a thread per core as numpy loads, spinning at first on the cores
    the workers need: the command line asks for one before anything loads numpy."""
    script = "import os, pcapflow.cli, numpy; print(len(os.listdir('/proc/self/task')), os.environ['OPENBLAS_NUM_THREADS'])"
    environment = {name: value for name, value in os.environ.items() if name != "OPENBLAS_NUM_THREADS"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=environment)
    assert result.stdout.split() == ["1", "1"]


def test_bad_services_file_is_one_error_line(tmp_path):
    services = tmp_path / "services.csv"
    services.write_text("port,protocol,service\n99999,tcp,nope\n")
    result = CliRunner().invoke(main, ["analyze", str(SAMPLES / "http_ethernet.pcap"), "--services", str(services)])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "99999" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_unknown_export_suffix_is_an_error(tmp_path):
    result = CliRunner().invoke(main, ["ports", str(SAMPLES / "http_ethernet.pcap"), "-o", str(tmp_path / "x.xlsx")])
    assert result.exit_code == 1
    assert "use --format" in result.stderr


def test_services_without_any_match_exits_1():
    result = CliRunner().invoke(main, ["services", "no-such-service-anywhere"])
    assert result.exit_code == 1
    assert result.stderr == "no-such-service-anywhere: no service registered\n"


@pytest.mark.parametrize(
    ("options", "expected_rows"),
    [([], 2), (["--udp-idle-timeout", "0.0005"], 5), (["--tcp-idle-timeout", "0.0005"], 6)],
)
def test_tracking_options_reach_the_tracker(options, expected_rows):
    # vlan_qinq.pcap: one TCP conversation (5 packets 1 ms apart) and one UDP conversation (4 packets)
    result = run("conversations", str(SAMPLES / "vlan_qinq.pcap"), "--format", "ndjson", *options)
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == expected_rows


def test_engine_option_gives_the_same_table():
    fast = run("conversations", str(SAMPLES / "mpls_pppoe.pcap"), "--engine", "fast")
    reference = run("conversations", str(SAMPLES / "mpls_pppoe.pcap"), "--engine", "reference")
    assert fast.stdout == reference.stdout


def test_vlan_in_key_reaches_the_tracker(tmp_path):
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Dot1Q

    from tests.factories import eth, pcap_bytes, stamped, write

    packets = stamped([eth() / Dot1Q(vlan=vlan) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5, dport=514) for vlan in (10, 20)])
    path = write(tmp_path / "vlans.pcap", pcap_bytes(packets))
    assert len(run("conversations", str(path)).stdout.splitlines()) == 2  # header + 1 conversation
    assert len(run("conversations", str(path), "--vlan-in-key").stdout.splitlines()) == 3
