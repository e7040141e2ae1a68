"""The service-name table: bundled IANA names, labelling, overrides, lookup and the generator script."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pcapflow.data import make_services
from pcapflow.errors import OptionsError
from pcapflow.services import ServiceTable, default_services

REPO = Path(__file__).resolve().parent.parent
BUNDLED_CSV = REPO / "pcapflow" / "data" / "services.csv"
SOURCE_NOTE = BUNDLED_CSV.parent / "SOURCE.md"
NETBASE_SERVICES = Path("/etc/services")


@pytest.fixture
def netbase_services() -> Path:
    """The netbase services file the bundled table was generated from, when this host has that very file."""
    recorded = re.search(r"^- Familiar names: .*SHA-256 `([0-9a-f]{64})`$", SOURCE_NOTE.read_text(encoding="utf-8"), re.M)
    assert recorded is not None, "SOURCE.md records the netbase file's SHA-256"
    if not NETBASE_SERVICES.is_file() or hashlib.sha256(NETBASE_SERVICES.read_bytes()).hexdigest() != recorded.group(1):
        pytest.skip(f"this host's {NETBASE_SERVICES} is not the netbase file the bundled table was made from")
    return NETBASE_SERVICES


def names(protocols, ports, table: ServiceTable | None = None) -> list:
    service, _ = (table or default_services()).label(protocols, ports)
    return [None if pd.isna(value) else value for value in service]


def descriptions(protocols, ports, table: ServiceTable | None = None) -> list:
    _, description = (table or default_services()).label(protocols, ports)
    return [None if pd.isna(value) else value for value in description]


# -- the bundled table -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "protocol, port, service",
    [
        ("tcp", 22, "ssh"),
        ("tcp", 21, "ftp"),
        ("udp", 53, "domain"),
        ("tcp", 53, "domain"),
        ("tcp", 443, "https"),
        ("tcp", 80, "http"),  # not its aliases www / www-http
        ("udp", 80, "http"),
        ("sctp", 80, "http"),
        ("tcp", 6000, "x11"),  # IANA: x11 6000-6063 tcp/udp
        ("tcp", 6010, "x11"),  # inside the expanded range
        ("udp", 6063, "x11"),  # last port of the range
        ("tcp", 6064, "ndl-ahp-svc"),  # just past it
        ("tcp", 6667, "ircu"),  # ircu 6665-6669 tcp
        ("tcp", 113, "auth"),  # IANA lists ident first, then auth: netbase's choice wins
        ("tcp", 8080, "http-alt"),
        ("dccp", 9, "discard"),
    ],
)
def test_bundled_names(protocol, port, service):
    assert names([protocol], [port]) == [service]


def test_descriptions_are_ianas():
    assert descriptions(["tcp", "udp", "tcp", "sctp"], [22, 53, 443, 22]) == [
        "The Secure Shell (SSH) Protocol",
        "Domain Name Server",
        "http protocol over TLS/SSL",
        "SSH",
    ]
    # IANA's own multi-line description, collapsed to one line
    assert descriptions(["tcp"], [7202]) == [
        "Inter-Channel Termination Protocol (ICTP) for multi-wavelength PON (Passive Optical Network) systems"
    ]
    # a primary name whose description IANA left empty: NA, not ""
    assert descriptions(["udp"], [514]) == [None]


def test_unassigned_port_and_other_protocols_are_na():
    assert names(["tcp", "udp", "tcp"], [4, 8, 1023]) == [None, None, None]  # Unassigned, Unassigned, Reserved
    assert names(["icmp", "gre", "icmpv6", "ip-99"], [22, 80, 0, 443]) == [None] * 4
    assert descriptions(["icmp"], [22]) == [None]


def test_label_edge_inputs():
    protocols = ["TCP", None, "tcp", "tcp", "tcp", "udp"]
    ports = pd.array([22, 22, None, 70000, -1, 53], dtype="Int64")
    assert names(protocols, ports) == ["ssh", None, None, None, None, "domain"]
    # one protocol name for every port
    assert names("tcp", np.array([21, 22, 4], dtype=np.uint16)) == ["ftp", "ssh", None]
    # empty input
    service, description = default_services().label([], [])
    assert len(service) == 0 and len(description) == 0
    with pytest.raises(ValueError, match="differ in length"):
        default_services().label(["tcp", "udp"], [22])


def test_label_types_and_categories():
    protocol = pd.Series(pd.Categorical(["tcp", "udp", "icmp", "tcp"]))
    port = pd.Series(np.array([22, 53, 0, 22], dtype=np.uint16), index=[10, 11, 12, 13])
    service, description = default_services().label(protocol, port)
    assert isinstance(service, pd.Categorical) and isinstance(description, pd.Categorical)
    assert list(service.categories) == ["domain", "ssh"]  # only the names present
    assert list(description.categories) == ["Domain Name Server", "The Secure Shell (SSH) Protocol"]
    # positional, whatever the index of the inputs: assigning to a frame column works
    frame = pd.DataFrame({"protocol": protocol.to_numpy(), "port": port.to_numpy()}, index=[7, 5, 3, 1])
    frame["service"], frame["description"] = default_services().label(frame["protocol"], frame["port"])
    assert frame["service"].isna().tolist() == [False, False, True, False]
    assert frame["service"].iloc[[0, 1, 3]].tolist() == ["ssh", "domain", "ssh"]


def test_label_matches_a_row_by_row_lookup():
    rng = np.random.default_rng(7)
    protocols = rng.choice(np.array(["tcp", "udp", "sctp", "dccp", "icmp"], dtype=object), 20_000)
    ports = rng.integers(0, 65536, 20_000)
    entries = default_services().entries.set_index(["protocol", "port"])["service"].to_dict()
    expected = [entries.get((protocol, int(port))) for protocol, port in zip(protocols, ports)]
    assert names(protocols, ports) == expected


def test_bundled_table_has_unique_keys_and_valid_rows():
    entries = default_services().entries
    assert list(entries.columns) == ["protocol", "port", "service", "description"]
    assert not entries.duplicated(["protocol", "port"]).any()
    assert set(entries["protocol"]) == {"tcp", "udp", "sctp", "dccp"}
    assert entries["port"].between(0, 65535).all()
    assert (entries["service"].str.len() > 0).all()
    # the file itself: sorted by protocol, then port, and shipped as package data
    raw = pd.read_csv(BUNDLED_CSV, dtype=str, keep_default_na=False)
    keys = list(zip(raw["protocol"], raw["port"].astype(int)))
    assert keys == sorted(keys)
    assert resources.files("pcapflow.data").joinpath("services.csv").is_file()


def test_default_services_is_cached():
    assert default_services() is default_services()
    assert len(ServiceTable()) == len(default_services())


def test_tables_are_immutable():
    table = default_services()
    with pytest.raises(AttributeError):
        table._rows = None
    entries = table.entries
    entries.loc[0, "service"] = "changed"
    assert table.entries.loc[0, "service"] != "changed"


# -- overrides ----------------------------------------------------------------------------------


def test_overrides_from_a_mapping_win():
    bundled = default_services()
    table = bundled.with_overrides(
        {"8080/tcp": "my-proxy", 9000: "minio", "22": ("sshd", "our bastion"), "22/tcp": "bastion-tcp"}
    )
    assert names(["tcp", "udp", "tcp", "udp", "tcp", "udp", "sctp"], [8080, 8080, 9000, 9000, 22, 22, 22], table) == [
        "my-proxy",  # explicit protocol: tcp only
        "http-alt",  # udp untouched
        "minio",  # bare port: tcp and udp
        "minio",
        "bastion-tcp",  # the explicit entry beats the bare port for tcp...
        "sshd",  # ...which still applies to udp
        "ssh",  # and never to sctp
    ]
    assert descriptions(["tcp", "udp", "tcp"], [8080, 22, 80], table) == [None, "our bastion", "World Wide Web HTTP"]
    # the bundled table is unchanged, and overrides stack
    assert names(["tcp"], [8080]) == ["http-alt"]
    stacked = table.with_overrides({"8080/tcp": "proxy-2", "65535/udp": "last"})
    assert names(["tcp", "tcp", "udp"], [8080, 9000, 65535], stacked) == ["proxy-2", "minio", "last"]
    assert len(stacked) == len(table) + 1


def test_overrides_from_a_csv_file_win(tmp_path):
    path = tmp_path / "services.csv"
    path.write_text(
        "port,protocol,service,description\n"
        "8080,tcp,my-proxy,Our HTTP proxy\n"
        "9000,,minio,\n"
        "5432,TCP,postgres,\n"
        "\n",
        encoding="utf-8",
    )
    table = default_services().with_overrides(path)
    assert names(["tcp", "udp", "tcp", "udp", "tcp"], [8080, 8080, 9000, 9000, 5432], table) == [
        "my-proxy",
        "http-alt",
        "minio",
        "minio",
        "postgres",
    ]
    assert descriptions(["tcp", "tcp"], [8080, 9000], table) == ["Our HTTP proxy", None]
    # columns in any order, protocol and description optional, path as str
    short = tmp_path / "short.csv"
    short.write_text("service,port\nminio,9000\n", encoding="utf-8")
    assert names(["tcp", "udp"], [9000, 9000], default_services().with_overrides(str(short))) == ["minio", "minio"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"99999/tcp": "x"}, r"service override '99999/tcp': port 99999 is outside 0\.\.65535"),
        ({70000: "x"}, r"service override 70000: port 70000 is outside 0\.\.65535"),
        ({-1: "x"}, r"service override -1: port -1 is outside 0\.\.65535"),
        ({"http/tcp": "x"}, r"service override 'http/tcp': port must be an integer 0\.\.65535, not 'http'"),
        ({True: "x"}, r"service override True: port must be an integer"),
        ({"22/xyz": "x"}, r"service override '22/xyz': unknown protocol 'xyz': choose one of dccp, sctp, tcp, udp"),
        ({"22/icmp": "x"}, r"unknown protocol 'icmp'"),
        ({"22/tcp": ""}, r"service override '22/tcp': the service name must be a non-empty string, not ''"),
        ({"22/tcp": 5}, r"the service name must be a non-empty string, not 5"),
        ({"22/tcp": ("a", "b", "c")}, r"give a name or a \(name, description\) pair"),
        ({"22/tcp": ("a", 3)}, r"the description must be a string, not 3"),
        ({22: "a", "22": "b"}, r"service override '22': 22/tcp is already overridden by service override 22"),
        (42, r"service overrides must be a mapping or the path of a CSV file, not int"),
    ],
)
def test_bad_mapping_overrides(overrides, message):
    with pytest.raises(OptionsError, match=message):
        default_services().with_overrides(overrides)


@pytest.mark.parametrize(
    "text, message",
    [
        ("port,protocol\n22,tcp\n", r"services\.csv: missing column\(s\) service"),
        ("name,number\nssh,22\n", r"missing column\(s\) port, service"),
        ("", r"missing column\(s\) port, service"),
        ("port,protocol,service\n99999,tcp,x\n", r"services\.csv, line 2: port 99999 is outside 0\.\.65535"),
        ("port,protocol,service\n22,tcp,ok\nabc,tcp,x\n", r"line 3: port must be an integer 0\.\.65535, not 'abc'"),
        ("port,protocol,service\n22,xyz,x\n", r"line 2: unknown protocol 'xyz'"),
        ("port,protocol,service\n22,tcp,\n", r"line 2: the service name must be a non-empty string"),
        ("port,protocol,service\n22,tcp,a,b\n", r"line 2: more fields than columns"),
        ("port,protocol,service\n22,tcp,a\n22,tcp,b\n", r"line 3: 22/tcp is already overridden by .*line 2"),
    ],
)
def test_bad_csv_overrides(tmp_path, text, message):
    path = tmp_path / "services.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(OptionsError, match=message):
        default_services().with_overrides(path)


def test_unreadable_override_files(tmp_path):
    with pytest.raises(OptionsError, match=r"cannot read service overrides file .*missing\.csv: No such file"):
        default_services().with_overrides(tmp_path / "missing.csv")
    with pytest.raises(OptionsError, match=r"cannot read service overrides file"):
        default_services().with_overrides(tmp_path)  # a directory
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"port,service\n22,\xff\xfe\n")
    with pytest.raises(OptionsError, match=r"binary\.csv is not a UTF-8 CSV file"):
        default_services().with_overrides(binary)


# -- lookup -------------------------------------------------------------------------------------


def rows(frame: pd.DataFrame) -> list[tuple]:
    return [tuple(row) for row in frame[["protocol", "port", "service"]].itertuples(index=False)]


def test_lookup_by_name():
    found = default_services().lookup("ssh")
    assert list(found.columns) == ["protocol", "port", "service", "description"]
    assert rows(found) == [("sctp", 22, "ssh"), ("tcp", 22, "ssh"), ("udp", 22, "ssh")]
    assert rows(default_services().lookup("  SSH ")) == rows(found)  # case-insensitive, stripped


def test_lookup_by_substring_when_no_exact_name():
    found = default_services().lookup("netconf-")
    assert ("tcp", 830, "netconf-ssh") in rows(found)
    assert ("tcp", 4334, "netconf-ch-ssh") in rows(found)
    assert all("netconf-" in name for name in found["service"])
    assert list(found["port"]) == sorted(found["port"])
    # an exact name hides the substring matches (e.g. sshell, netconf-ssh)
    assert set(default_services().lookup("ssh")["service"]) == {"ssh"}
    assert default_services().lookup("no-such-service-name").empty


def test_lookup_by_port():
    assert rows(default_services().lookup("22")) == [("sctp", 22, "ssh"), ("tcp", 22, "ssh"), ("udp", 22, "ssh")]
    found = default_services().lookup("22/udp")
    assert rows(found) == [("udp", 22, "ssh")]
    assert found["description"].tolist() == ["The Secure Shell (SSH) Protocol"]
    assert rows(default_services().lookup("53/TCP")) == [("tcp", 53, "domain")]
    assert default_services().lookup("4").empty  # unassigned


def test_lookup_sees_overrides():
    table = default_services().with_overrides({"22/tcp": "bastion"})
    assert rows(table.lookup("22")) == [("sctp", 22, "ssh"), ("tcp", 22, "bastion"), ("udp", 22, "ssh")]
    assert rows(table.lookup("bastion")) == [("tcp", 22, "bastion")]


@pytest.mark.parametrize(
    "query, message",
    [
        ("99999", r"service query '99999': port 99999 is outside 0\.\.65535"),
        ("-1", r"port -1 is outside"),
        ("22/xyz", r"service query '22/xyz': unknown protocol 'xyz'"),
        ("22/", r"unknown protocol ''"),
        ("", r"empty service query"),
        ("   ", r"empty service query"),
    ],
)
def test_lookup_rejects_malformed_queries(query, message):
    with pytest.raises(OptionsError, match=message):
        default_services().lookup(query)


# -- the generator script -----------------------------------------------------------------------


def test_regenerating_gives_the_bundled_file(iana_csv, netbase_services, tmp_path):
    assert make_services.main([str(iana_csv), str(netbase_services), "--output-dir", str(tmp_path)]) == 0
    assert (tmp_path / "services.csv").read_bytes() == BUNDLED_CSV.read_bytes()
    assert (tmp_path / "SOURCE.md").read_bytes() == SOURCE_NOTE.read_bytes()


def test_generator_runs_as_a_module(iana_csv, netbase_services, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pcapflow.data.make_services", str(iana_csv), str(netbase_services), "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "services.csv").read_bytes() == BUNDLED_CSV.read_bytes()
    assert "SHA-256" in (tmp_path / "SOURCE.md").read_text(encoding="utf-8")


def write_registry(path: Path, text: str) -> Path:
    path.write_text("Service Name,Port Number,Transport Protocol,Description,Assignee\n" + text, encoding="utf-8")
    return path


def test_generator_rules_on_a_small_registry(tmp_path):
    source = write_registry(
        tmp_path / "registry.csv",
        ",0,tcp,Reserved,[IANA]\n"  # no name: dropped
        "http,80,tcp,World Wide Web HTTP,x\n"
        "www,80,tcp,World Wide Web HTTP,x\n"  # alias: dropped
        "x11,6000-6002,udp,\"X Window\n      System\",x\n"  # range expanded, line break collapsed
        "srv-only,,tcp,SRV name only,x\n"  # no port: dropped
        "nopro,7,,no protocol,x\n"  # no protocol: dropped
        "echo,7,ddp,AppleTalk echo,x\n"  # not an IP transport: dropped
        "discard,9,dccp,Discard,x\n"
        "null,1,sctp,  padded  ,x\n",  # a name that pandas would read as NA
    )
    empty = tmp_path / "services"
    empty.write_text("", encoding="utf-8")
    assert make_services.generate(source, empty, tmp_path, de_facto={}) == 6
    assert (tmp_path / "services.csv").read_text(encoding="utf-8") == (
        "protocol,port,service,description\n"
        "dccp,9,discard,Discard\n"
        "sctp,1,null,padded\n"
        "tcp,80,http,World Wide Web HTTP\n"
        "udp,6000,x11,X Window System\n"
        "udp,6001,x11,X Window System\n"
        "udp,6002,x11,X Window System\n"
    )
    note = (tmp_path / "SOURCE.md").read_text(encoding="utf-8")
    assert "Output: 6 rows" in note
    assert "not IANA's first-listed one:\n\n- none\n" in note


@pytest.mark.parametrize(
    "text, message",
    [
        ("Name,Port\nssh,22\n", "missing column(s) Service Name, Port Number, Transport Protocol, Description"),
        ("Service Name,Port Number,Transport Protocol,Description\nx,22-20,tcp,d\n", "bad port range '22-20'"),
        ("Service Name,Port Number,Transport Protocol,Description\nx,70000,tcp,d\n", "bad port range '70000'"),
        ("Service Name,Port Number,Transport Protocol,Description\nx,2a,tcp,d\n", "malformed port number '2a'"),
    ],
)
def test_generator_rejects_a_malformed_registry(tmp_path, capsys, text, message):
    source = tmp_path / "registry.csv"
    source.write_text(text, encoding="utf-8")
    netbase = tmp_path / "services"
    netbase.write_text("", encoding="utf-8")
    assert make_services.main([str(source), str(netbase), "--output-dir", str(tmp_path)]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "services.csv").exists()


def test_generator_reports_a_missing_services_file(tmp_path, capsys):
    source = write_registry(tmp_path / "registry.csv", "http,80,tcp,WWW,x\n")
    assert make_services.main([str(source), str(tmp_path / "missing"), "--output-dir", str(tmp_path)]) == 1
    assert "make_services: [Errno 2] No such file or directory" in capsys.readouterr().err
    assert not (tmp_path / "services.csv").exists()
