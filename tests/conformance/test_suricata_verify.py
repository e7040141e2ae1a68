"""Conformance with the suricata-verify tests of the corpus (``tunnels/suricata-verify/<test>/``):
each check of a ``test.yaml`` whose count pcapflow can reproduce is compared with pcapflow's
conversations or packets, and every other check says why it does not apply. A Suricata flow is a
conversation (a carrier and its inner flow are two, as in pcapflow); Suricata's ``dest_port`` is
the server port; its ``decoder.*`` counters count the packets each decoder saw.

The checks that never apply: alerts and drops (Suricata's rules and IPS actions), fileinfo
(files rebuilt from reassembled streams) and application transaction records (an HTTP status, a
DNS query name of a message): pcapflow neither runs rules nor reassembles streams nor logs
messages.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

import pcapflow
from tests.conftest import CORPUS

SURICATA_VERIFY = "tunnels/suricata-verify"
SURICATA_UDP_TIMEOUT = 30  # flow-timeouts udp new: a flow with no reply ends after 30 s of silence
RULES = "an alert or a drop: Suricata's rules and IPS actions, which pcapflow does not run"
FILES = "a file rebuilt from the reassembled stream: pcapflow does not reassemble streams"
BEFORE_8 = "Suricata before 8; the check for Suricata 8 is compared"


def _capture(folder: Path) -> Path:
    (capture,) = folder.glob("*.pcap")
    return capture


def _conversations(folder: Path, **options):
    return pcapflow.read_conversations(_capture(folder), **options)


def unanswered_vxlan_carriers(folder: Path) -> int:
    """Suricata 8 ends a flow that got no reply after 30 s of silence (7 did not, and counted 13):
    the carrier from source port 65445 is silent for 30.82 s, so it is two flows."""
    frame = _conversations(folder, udp_idle_timeout=SURICATA_UDP_TIMEOUT)
    return int((frame["server_port"].eq(4789) & frame["server_packets"].eq(0)).sum())


def unanswered_vxlan_carriers_from_65445(folder: Path) -> int:
    frame = _conversations(folder, udp_idle_timeout=SURICATA_UDP_TIMEOUT)
    return int((frame["server_port"].eq(4789) & frame["client_port"].eq(65445) & frame["server_packets"].eq(0)).sum())


def ssh_sessions(folder: Path) -> int:
    """Suricata writes one ssh record per SSH session: the inner SSH conversations."""
    frame = _conversations(folder)
    return int((frame["app"].eq("ssh") & frame["server_port"].eq(22) & frame["tunnel"].eq("vxlan")).sum())


def ntp_flows(folder: Path) -> int:
    frame = _conversations(folder)
    return int((frame["app"].eq("ntp") & frame["server_port"].eq(123)).sum())


def ip_in_ip_carriers(folder: Path) -> int:
    frame = _conversations(folder)
    return int((frame["protocol"].eq("ipip") & frame["client_ip"].eq("10.0.0.94") & frame["server_ip"].eq("10.1.0.237")
                & frame["is_tunnel"]).sum())


def icmp_inside_ip_in_ip(folder: Path) -> int:
    """The inner ICMP flow, under the IP-in-IP carrier (Suricata's ``flow.alerted`` and
    ``flow.action`` come from its rules; the flow is counted)."""
    frame = _conversations(folder)
    inner = frame[frame["protocol"].eq("icmp") & frame["client_ip"].eq("192.168.0.94") & frame["server_ip"].eq("192.168.0.237")
                  & frame["tunnel"].eq("ip_in_ip")]
    carriers = set(frame.loc[frame["protocol"].eq("ipip"), "conversation_id"])
    return int(inner["parent_id"].isin(carriers).sum())


def tcp_flows(folder: Path) -> int:
    return int(_conversations(folder)["protocol"].eq("tcp").sum())


def cisco_hdlc_decoder_counters(folder: Path) -> dict[str, int]:
    """decoder.chdlc: records of link type 104; decoder.ipv4: the IPv4 packets among them."""
    packets = pcapflow.read_packets(_capture(folder))
    chdlc = packets["linktype"].eq(104)
    return {"decoder.ipv4": int((chdlc & packets["ip_version"].eq(4)).sum()), "decoder.chdlc": int(chdlc.sum())}


#: For each test, each of its checks (by position in ``checks``): what reproduces it, or why none does.
CHECKS: dict[str, dict[int, Callable[[Path], object] | str]] = {
    "vxlan-decoder-03": {
        0: unanswered_vxlan_carriers,
        1: unanswered_vxlan_carriers_from_65445,
        2: BEFORE_8,
        3: ssh_sessions,
        4: ntp_flows,
        5: "DNS records, one per message, by query name: pcapflow logs no DNS messages",
        6: BEFORE_8,
    },
    "bug-7725-01": {
        0: RULES,
        1: RULES,
        2: RULES,
        3: RULES,
        4: ip_in_ip_carriers,
        5: icmp_inside_ip_in_ip,
    },
    "decode-chdlc-01": {
        0: "an HTTP transaction's status and length: pcapflow reads no HTTP responses",
        1: FILES,
        2: RULES,
        3: tcp_flows,
        4: cisco_hdlc_decoder_counters,
    },
    "bug-2576-01": {
        0: RULES,
        1: FILES,
    },
}


def _test_folders() -> list[str]:
    folder = CORPUS / SURICATA_VERIFY
    return sorted(path.parent.name for path in folder.glob("*/test.yaml")) if folder.is_dir() else list(CHECKS)


def _checks(folder: Path) -> list[dict]:
    return yaml.safe_load((folder / "test.yaml").read_text())["checks"]


@pytest.mark.parametrize("test", _test_folders())
def test_every_check_is_compared_or_says_why_not(corpus, test):
    assert set(CHECKS.get(test, {})) == set(range(len(_checks(corpus / SURICATA_VERIFY / test))))


@pytest.mark.parametrize(("test", "index"), [(test, index) for test, checks in CHECKS.items()
                                             for index, rule in checks.items() if callable(rule)])
def test_counts_equal_suricatas(corpus, test, index):
    folder = corpus / SURICATA_VERIFY / test
    check = _checks(folder)[index]
    expected = check["filter"]["count"] if "filter" in check else check["stats"]
    assert CHECKS[test][index](folder) == expected
