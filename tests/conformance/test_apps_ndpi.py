"""Payload inspection against nDPI's expected results (``corpus/dpi/ndpi/result/*.out``) and
Zeek's conn.log ``service`` (``corpus/dpi/zeek``).

On the flows nDPI identified by DPI (not by port) whose protocol the signature table covers,
``app`` must agree on at least 95 % (through :data:`NDPI_NAMES`) and ``server_name`` must equal
nDPI's ``Hostname/SNI`` on at least 98 % of the TLS, QUIC and HTTP flows that have one. Every
flow that differs is listed in :data:`KNOWN_DIFFERENCES` with its cause: a new difference, or a
listed one that went away, fails the test.
"""

from __future__ import annotations

import pandas as pd
import pytest

import pcapflow
from tests.conformance.ndpi_results import read_ndpi_flows
from tests.conftest import CORPUS
from tests.zeek_logs import read_conn_log

DPI = CORPUS / "dpi"
NDPI = DPI / "ndpi"
pytestmark = pytest.mark.skipif(not (NDPI / "result").is_dir(), reason=f"the DPI corpus is not there ({DPI})")

#: nDPI's protocol (the part before any '.') -> pcapflow's app; nDPI's that are not here are not in the table.
NDPI_NAMES = {
    "TLS": "tls", "QUIC": "quic", "HTTP": "http", "HTTP_Proxy": "http", "HTTP2": "http2", "SSH": "ssh", "FTP_CONTROL": "ftp",
    "SMTP": "smtp", "POP3": "pop3", "IMAP": "imap", "IRC": "irc", "NTP": "ntp", "SMBv23": "smb", "RDP": "rdp",
    "PostgreSQL": "postgresql", "MySQL": "mysql", "MongoDB": "mongodb", "SIP": "sip", "RTP": "rtp", "SOCKS": "socks",
    "VNC": "vnc", "MQTT": "mqtt", "Jabber": "xmpp", "Kerberos": "kerberos", "SNMP": "snmp", "BitTorrent": "bittorrent",
    "TFTP": "tftp", "Telnet": "telnet", "WireGuard": "wireguard", "OpenVPN": "openvpn", "Memcached": "memcached",
    "SSDP": "ssdp", "NetBIOS": "netbios", "Syslog": "syslog", "DNS": "dns", "DHCP": "dhcp", "LDAP": "ldap", "STUN": "stun",
}
#: nDPI names whose sub-protocol is what pcapflow names (master.app -> app).
NDPI_FULL_NAMES = {"NetBIOS.SMBv23": "smb"}

#: (capture, client or first port, server or second port) -> (what pcapflow finds, why it differs)
KNOWN_DIFFERENCES = {
    **{("jabber.pcap", port, 5223): (None, "a proprietary framing on 5223 (no XMPP or TLS header in the first bytes): "
                                           "nDPI's Jabber dissector knows that service's servers")
       for port in (58388, 34070, 41420, 34218, 37614)},
    ("netbios.pcap", 137, 137): (None, "a lone name-service response (flags 0x8500, no query in the capture): the "
                                       "first sender's datagram is a response, which the client-side check refuses"),
    ("netbios.pcap", 137, 137, "guru"): (None, "as above"),
    ("openvpn.pcap", 443, 60201): (None, "one-way: only the server's datagrams are in the capture, and the OpenVPN "
                                         "signature needs both sides' reset opcodes"),
}


def _flows():
    for out in sorted((NDPI / "result").glob("*.out")):
        capture = NDPI / out.name[: -len(".out")]
        frame = pcapflow.read_conversations(str(capture), workers=1)
        index: dict = {}
        for row in frame.itertuples():
            key = (row.protocol, frozenset([(row.client_ip, row.client_port), (row.server_ip, row.server_port)]))
            index.setdefault(key, []).append(row)
        for flow in read_ndpi_flows(out):
            yield capture.name, flow, index.get((flow.protocol, frozenset([flow.first, flow.second])), [])


def _expected(name: str) -> str | None:
    return NDPI_FULL_NAMES.get(name) or NDPI_NAMES.get(name.split(".")[0])


@pytest.fixture(scope="module")
def compared():
    rows = []
    for capture, flow, found in _flows():
        expected = _expected(flow.app)
        if flow.confidence != "DPI" or expected is None:
            continue
        got = found[0] if found else None
        app = "missing" if got is None else (None if pd.isna(got.app) else str(got.app))
        rows.append((capture, flow, expected, app, None if got is None or pd.isna(got.server_name) else got.server_name))
    return rows


def _key(capture, flow):
    return (capture, flow.first[1], flow.second[1])


def test_app_agrees_with_ndpi(compared):
    differing = {}
    for capture, flow, expected, app, _ in compared:
        if app != expected:
            key = _key(capture, flow)
            differing[key if key not in differing else (*key, flow.server_name)] = app
    listed = {key: found for key, (found, _) in KNOWN_DIFFERENCES.items()}
    assert differing == listed
    agreement = 1 - len(differing) / len(compared)
    assert len(compared) >= 200 and agreement >= 0.95, (len(compared), agreement)


def test_server_name_agrees_with_ndpi(compared):
    named = [(capture, flow, name) for capture, flow, expected, _, name in compared
             if expected in ("tls", "quic", "http") and flow.server_name]
    wrong = [(capture, flow.server_name, name) for capture, flow, name in named if name != flow.server_name]
    assert len(named) >= 50 and wrong == []


#: nDPI's printed versions -> app_version (nDPI prints TLS 1.0 as "TLSv1").
NDPI_VERSIONS = {"TLSv1": "TLSv1.0", "QUIC ver: V-1": "QUICv1", "QUIC ver: V-2": "QUICv2"}


def test_app_version_agrees_with_ndpi():
    """On the TLS and QUIC flows nDPI identified by DPI and printed a version of (of a QUIC flow
    its QUIC version, not that of the TLS inside), app_version is that version (nDPI's of gQUIC,
    Q025, is none of pcapflow's)."""
    compared, wrong = 0, []
    for capture, flow, found in _flows():
        app = _expected(flow.app)
        printed = [version for version in flow.versions if version.startswith("QUIC") == (app == "quic")]
        if flow.confidence != "DPI" or app not in ("tls", "quic") or not printed or not found:
            continue
        expected = NDPI_VERSIONS.get(printed[0], printed[0])
        got = None if pd.isna(found[0].app_version) else str(found[0].app_version)
        compared += 1
        if got != (expected if expected.startswith(("TLS", "SSL", "QUICv")) else None):
            wrong.append((capture, flow.first[1], flow.second[1], expected, got))
    assert wrong == [] and compared >= 35, (compared, wrong)


ZEEK_SERVICES = {"dhcp": "dhcp", "redis": "redis", "ldap_tcp": "ldap", "http": "http"}


@pytest.mark.parametrize("capture, log", [
    ("dhcp.pcap", "scripts.base.protocols.dhcp.dhcp-all-msg-types"),
    ("django-cloud.pcapng", "scripts.base.protocols.redis.django-cloud"),
    ("ldap-who-am-i.pcap", "scripts.base.protocols.ldap.who-am-i"),
    ("query-method-non-standard-port.pcap", "scripts.base.protocols.http.query-method-non-standard-port"),
])
def test_app_agrees_with_zeek_service(capture, log):
    """Each conversation Zeek named (by its endpoints; the HTTP baseline keeps only uid, service
    and history, and has one conversation) has that app."""
    rows = read_conn_log(DPI / "zeek" / "baselines" / log / "conn.log")
    ours = pcapflow.read_conversations(str(DPI / "zeek" / capture), workers=1)
    apps = {(frozenset([(row.client_ip, row.client_port), (row.server_ip, row.server_port)])): str(row.app) for row in ours.itertuples()}
    named = [row for row in rows if row.get("service") not in (None, "-")]
    assert named
    for row in named:
        expected = ZEEK_SERVICES[row["service"]]
        if "id.orig_h" in row:
            key = frozenset([(row["id.orig_h"], int(row["id.orig_p"])), (row["id.resp_h"], int(row["id.resp_p"]))])
            assert apps[key] == expected, row
        else:
            assert list(apps.values()) == [expected]
