"""The benchmark capture generator (benchmarks/gen_capture.py) against pcapflow.

The generator plans every conversation itself and writes what pcapflow must find (``.truth.json``);
pcapflow reads the bytes. Both must agree exactly, so a wrong generator or a wrong tracker fails here.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pcapflow

REPO = Path(__file__).resolve().parent.parent
GENERATOR = REPO / "benchmarks" / "gen_capture.py"
PACKETS, FLOWS, SEED = 20_000, 1_200, 11


def _load_generator():
    # the generator imports its sibling modules (flow_plan, packets) the way a script does
    if str(GENERATOR.parent) not in sys.path:
        sys.path.insert(0, str(GENERATOR.parent))
    spec = importlib.util.spec_from_file_location("gen_capture", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_capture = _load_generator()


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gen") / "capture.pcap"
    gen_capture.generate(str(path), PACKETS, FLOWS, seed=SEED)
    return path


def _truth(path: Path) -> dict:
    return json.loads(Path(str(path) + ".truth.json").read_text())


def _without_files(truth: dict) -> dict:
    return {key: value for key, value in truth.items() if key != "files"}


def _counts(series) -> dict[str, int]:
    return {str(key): int(value) for key, value in series.value_counts().items() if value}


def _observed(analysis) -> dict:
    """What pcapflow found, in the truth file's terms."""
    conversations = analysis.conversations
    protocol = conversations["protocol"].astype(str)
    tcp, udp = conversations[protocol == "tcp"], conversations[protocol == "udp"]
    return {
        "packets": analysis.report.records_read,
        "status_counts": {name: count for name, count in analysis.report.status_counts.items() if count},
        "conversations": len(conversations),
        "conversations_by_protocol": _counts(protocol),
        "packets_by_protocol": {name: int(count) for name, count in conversations.groupby(protocol)["packets"].sum().items()},
        "conversations_by_port": {
            f"{row.protocol}/{row.server_port}": int(row.conversations) for row in analysis.ports.itertuples()
        },
        "tcp_conn_state": _counts(tcp["conn_state"].astype(str)),
        "udp_conn_state": _counts(udp["conn_state"].astype(str)),
        "role_basis": _counts(conversations["role_basis"].astype(str)),
        "ipv6_conversations": int((conversations["ip_version"] == 6).sum()),
        "vlan_conversations": int(conversations["vlan"].notna().sum()),
    }


def _assert_matches_truth(analysis, truth: dict) -> None:
    observed = _observed(analysis)
    assert observed == {key: truth[key] for key in observed}
    assert analysis.report.malformed == {}


def test_truth_describes_the_intended_traffic_mix(capture):
    truth = _truth(capture)
    assert truth["packets"] == PACKETS
    assert truth["conversations"] == FLOWS == sum(truth["conversations_by_protocol"].values())
    assert sum(truth["conversations_by_port"].values()) == FLOWS
    assert sum(truth["packets_by_protocol"].values()) + truth["arp_frames"] == PACKETS
    assert set(truth["conversations_by_protocol"]) == {"tcp", "udp", "icmp", "icmpv6"}
    assert set(truth["tcp_conn_state"]) == {"SF", "S0", "REJ", "RSTO", "RSTR"}
    assert set(truth["udp_conn_state"]) == {"SF", "S0"}
    assert {"udp/53", "udp/123", "udp/443", "udp/514", "tcp/443", "icmp/0", "icmpv6/129"} <= set(truth["conversations_by_port"])
    assert truth["tcp_reused_5tuple"] > 0
    assert truth["ipv6_conversations"] > 0 and truth["vlan_conversations"] > 0 and truth["arp_frames"] > 0


def test_pcapflow_finds_exactly_the_truth(capture):
    truth = _truth(capture)
    analysis = pcapflow.analyze(capture)
    _assert_matches_truth(analysis, truth)
    # reused 5-tuples are separate conversations: fewer distinct TCP 5-tuples than TCP conversations
    tcp = analysis.conversations[analysis.conversations["protocol"] == "tcp"]
    tuples = tcp[["client_ip", "client_port", "server_ip", "server_port"]].drop_duplicates()
    assert len(tuples) == len(tcp) - truth["tcp_reused_5tuple"]
    # clients on ephemeral ports; no conversation is cut by an idle timeout
    udp = analysis.conversations[analysis.conversations["protocol"] == "udp"]
    assert (tcp["client_port"] >= 49152).all() and (udp["client_port"] >= 49152).all()
    assert (analysis.conversations["end_reason"].astype(str) != "reuse").all()


def test_records_are_well_formed(capture):
    packets = pcapflow.read_packets(capture)
    ts = packets["ts"].to_numpy("int64")
    assert (np.diff(ts) >= 0).all()
    assert (packets["caplen"] == packets["wirelen"]).all()
    assert packets["wirelen"].min() >= 60
    assert set(packets["status"].astype(str)) == {"OK", "NOT_IP"}
    header = capture.read_bytes()[:24]
    assert header[:4] == bytes.fromhex("d4c3b2a1") and int.from_bytes(header[20:24], "little") == 1


def test_same_seed_same_bytes_other_seed_other_bytes(capture, tmp_path):
    again, other = tmp_path / "again.pcap", tmp_path / "other.pcap"
    gen_capture.generate(str(again), PACKETS, FLOWS, seed=SEED)
    gen_capture.generate(str(other), PACKETS, FLOWS, seed=SEED + 1)
    assert again.read_bytes() == capture.read_bytes()
    assert _without_files(_truth(again)) == _without_files(_truth(capture))
    assert other.read_bytes() != capture.read_bytes()
    assert _truth(other)["conversations_by_port"] != _truth(capture)["conversations_by_port"]


def test_many_files_hold_the_same_records_and_the_same_truth(capture, tmp_path):
    files = 25
    out = tmp_path / "many.pcap"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--packets", str(PACKETS), "--flows", str(FLOWS), "--seed", str(SEED),
         "--files", str(files), "--out", str(out), "--quiet"],
        check=True,
    )
    paths = sorted(tmp_path.glob("many-*.pcap"))
    truth = _truth(out)
    assert [path.name for path in paths] == truth["files"] == [f"many-{k:04d}.pcap" for k in range(files)]
    # the same records as the single capture, regrouped
    assert sum(path.stat().st_size - 24 for path in paths) == capture.stat().st_size - 24
    assert _without_files(truth) == _without_files(_truth(capture))
    starts = []
    for path in paths:
        single = pcapflow.analyze(path)
        assert 0 < single.report.records_read < PACKETS
        starts.append((single.conversations["first_seen"].min(), single.conversations["first_seen"].max()))
    # each file's conversations start after those of the file before it
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(starts))
    _assert_matches_truth(pcapflow.analyze(paths), truth)


def test_the_vxlan_copy_holds_the_same_conversations_inside_its_carriers(capture, tmp_path):
    """benchmarks/wrap_vxlan.py: pcapflow finds the plain capture's conversations as inner ones."""
    if str(GENERATOR.parent) not in sys.path:
        sys.path.insert(0, str(GENERATOR.parent))
    import wrap_vxlan

    wrapped = tmp_path / "vxlan.pcap"
    assert wrap_vxlan.wrap(str(capture), str(wrapped)) == PACKETS
    plain, inner_view = pcapflow.analyze(capture), pcapflow.analyze(wrapped)
    conversations = inner_view.conversations
    inner = conversations[conversations["tunnel"].notna()]
    carriers = conversations[conversations["is_tunnel"]]
    assert set(inner["tunnel"].astype(str)) == {"vxlan"} and set(inner["tunnel_id"]) == {wrap_vxlan.VNI}
    assert len(inner) == len(plain.conversations)
    assert int(inner["packets"].sum()) == int(plain.conversations["packets"].sum())
    assert sorted(zip(inner["protocol"].astype(str), inner["server_port"])) == sorted(
        zip(plain.conversations["protocol"].astype(str), plain.conversations["server_port"]))
    assert set(carriers["server_port"]) == {4789} and int(carriers["packets"].sum()) == PACKETS
    assert inner_view.report.tunnels == {"vxlan": int(inner["packets"].sum()) + plain.report.status_counts.get("NOT_IP", 0)}
