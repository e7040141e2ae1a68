"""The fast engine and the scapy reference engine give identical tables, whatever the input.

Parity is checked on the sample captures, on the shared third-party corpus, and on packets built
by hypothesis for every supported link type; arbitrary bytes must never make either engine raise.
Edge cases where the fast engine once broke its own rules (found by this parity check) are pinned
at the end.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import UDP
from scapy.layers.l2 import GRE
from scapy.layers.vxlan import VXLAN

from pcapflow.capture import RawBatch, open_capture
from pcapflow.decode import ENGINES, SUPPORTED_LINKTYPES, decode_fast
from pcapflow.decode.carriers import decode_with_carriers
from pcapflow.decode.reference import decode_with_scapy
from pcapflow.decode.table import COLUMN_DTYPES, DecodeStatus, PacketTable
from pcapflow.errors import CaptureError
from tests.conftest import CORPUS, SAMPLES
from tests.decode.test_tunnels import (
    INNER,
    INNER6,
    IP4,
    OUTER4,
    PPTP,
    SEGMENT,
    TEREDO_AUTHENTICATION,
    TEREDO_ORIGIN,
    ayiya,
    geneve,
    gtp_u,
)
from tests.factories import eth
from tests.strategies import IP, LINKTYPES, PPP, Ether, PPPoE, Raw, Record, arbitrary_records, raw_batch, records

CAPTURE_NAME = re.compile(r"\.(pcap|pcapng|cap)(\.(gz|bz2|xz|zst))?$")
MAX_RECORDS_PER_FILE = 5_000  # keeps the corpus run to seconds: the reference decodes ~10k records/s


def assert_same_tables(fast: PacketTable, reference: PacketTable, batch: RawBatch, where: str = "",
                       row_record: np.ndarray | None = None) -> None:
    """Every column equal, with a message naming the column and the first record that differs
    (``row_record``: each row's record, for tables with carrier rows)."""
    assert len(fast) == len(reference) == (len(batch) if row_record is None else len(row_record))
    for column in PacketTable.column_names():
        got, expected = getattr(fast, column), getattr(reference, column)
        assert got.dtype == expected.dtype == COLUMN_DTYPES[column], column
        differ = np.flatnonzero(got != expected)
        if not len(differ):
            continue
        row = int(differ[0]) if row_record is None else int(row_record[differ[0]])
        start, caplen = int(batch.data_offset[row]), int(batch.caplen[row])
        np.testing.assert_array_equal(
            got,
            expected,
            err_msg=(
                f"{where}column {column!r} differs at {len(differ)} records, first at record "
                f"{int(batch.record_index[row])}: fast {got[row]} != reference {expected[row]} "
                f"(fast status {DecodeStatus(fast.status[row]).name}, reference status "
                f"{DecodeStatus(reference.status[row]).name}; linktype {int(batch.linktype[row])}, "
                f"caplen {caplen}, wirelen {int(batch.wirelen[row])}, "
                f"bytes {batch.buffer[start:start + caplen].tobytes().hex()})"
            ),
        )


def check_parity(batch: RawBatch, where: str = "") -> None:
    """The two engines agree, with the tunnels left closed, with them opened, and on the carrier
    rows tracking folds."""
    for decapsulate in (False, True):
        assert_same_tables(decode_fast(batch, decapsulate), decode_with_scapy(batch, decapsulate), batch,
                           f"{where}decapsulate={decapsulate}: ")
    (fast, fast_rows), (reference, reference_rows) = (decode_with_carriers(batch, engine) for engine in ENGINES)
    assert (fast_rows is None) == (reference_rows is None)
    if fast_rows is not None:
        np.testing.assert_array_equal(fast_rows, reference_rows)
    assert_same_tables(fast, reference, batch, f"{where}carrier rows: ", fast_rows)


def head(batches, limit: int):
    """The batches of a capture, cut to its first ``limit`` records."""
    for batch in batches:
        if limit <= 0:
            return
        if len(batch) > limit:
            fields = {name: getattr(batch, name) for name in RawBatch.__slots__}
            for name in ("data_offset", "caplen", "wirelen", "ts_ns", "linktype", "bad_record", "record_index"):
                fields[name] = fields[name][:limit]
            batch = RawBatch(**fields)
        limit -= len(batch)
        yield batch


def captures_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.rglob("*") if path.is_file() and CAPTURE_NAME.search(path.name))


def check_capture_parity(path: Path) -> None:
    """Parity on the first records of one capture; skipped if it is unusable as a whole."""
    try:
        with open_capture(path) as capture:  # an unusable file raises on opening or on the first read
            for batch in head(capture.batches(), MAX_RECORDS_PER_FILE):
                check_parity(batch, f"{path.name}: ")
    except CaptureError as error:
        pytest.skip(f"not a usable capture: {error}")


def capture_params(folder: Path, missing: str) -> list:
    paths = captures_in(folder)
    if not paths:
        return [pytest.param(None, marks=pytest.mark.skip(reason=missing), id="none")]
    return [pytest.param(path, id=str(path.relative_to(folder))) for path in paths]


# -- (a) the sample captures --------------------------------------------------------------------


@pytest.mark.parametrize("path", capture_params(SAMPLES, "no captures in sample_pcaps/ yet"))
def test_parity_on_sample_captures(path: Path) -> None:
    """Both engines agree on every record of every capture in sample_pcaps/ (first 5,000 records of each)."""
    check_capture_parity(path)


# -- (b) generated packets -------------------------------------------------------------------------


@pytest.mark.parametrize("linktype", LINKTYPES)
@given(data=st.data())
def test_parity_on_generated_packets(linktype: int, data: st.DataObject) -> None:
    """Both engines agree on IP packets of every framing, protocol and breakage, for each link type."""
    batch = raw_batch(data.draw(st.lists(records(linktype), min_size=1, max_size=6), label="records"))
    check_parity(batch)


@given(st.lists(records(), min_size=1, max_size=12))
def test_parity_on_generated_batches_of_mixed_link_types(batch_records: list[Record]) -> None:
    """Both engines agree on a batch mixing link types (as a multi-interface pcapng gives)."""
    check_parity(raw_batch(batch_records))


# -- (c) the shared third-party corpus ---------------------------------------------------------------


@pytest.mark.parametrize("path", capture_params(CORPUS, "shared corpus not present (../shared/corpus)"))
def test_parity_on_shared_corpus(path: Path) -> None:
    """Both engines agree on the shared corpus (first 5,000 records of each capture; the biggest,
    echo-connections.pcap with 82k packets and the 18 MB rlogin pcapng, are cut there, which keeps
    the whole corpus under ~15 s). Files that do not open as captures (two are corrupt on purpose)
    are skipped."""
    check_capture_parity(path)


# -- (d) arbitrary bytes --------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", sorted(ENGINES))
@given(st.lists(arbitrary_records(), min_size=1, max_size=8))
def test_arbitrary_bytes_never_raise(engine: str, batch_records: list[Record]) -> None:
    """Decoding arbitrary bytes as frames of every supported link type never raises, and gives a full table."""
    assert {r.linktype for r in batch_records} <= set(SUPPORTED_LINKTYPES) | {2, 147, 0xFFFF}
    batch = raw_batch(batch_records)
    table = ENGINES[engine](batch)
    assert len(table) == len(batch)
    for column, dtype in COLUMN_DTYPES.items():
        assert getattr(table, column).dtype == dtype, column
    assert all(int(status) in DecodeStatus._value2member_map_ for status in table.status)


# -- edge cases where the fast engine once broke its own rules (see the reference's "(rule)") -------


def _ipv4_ethernet(proto: int, total: int, body: bytes, flags: str = "") -> bytes:
    """An Ethernet frame of a 20-byte IPv4 header of ``total`` length and protocol ``proto``, then ``body``."""
    ip = IP(src="10.0.0.1", dst="10.0.0.2", proto=proto, len=total, flags=flags) / Raw(body)
    return bytes(Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01") / ip)


RULE_EDGE_CASES = {
    # IPv4 total length 22 (a 2-byte TCP segment) in a padded 60-byte frame, cut by the snaplen
    # 10 bytes into the "TCP header": the segment cannot hold a TCP header whatever was captured
    # (BAD_TRANSPORT_HEADER, as when the frame is captured whole), but the fast engine tracked it
    # as PORTS_ONLY with ports read from the Ethernet padding.
    "tcp_header_beyond_datagram_cut_by_snaplen": Record(1, _ipv4_ethernet(6, 22, bytes(26)), 44, 60),
    # A tiny first fragment (RFC 1858): 8 bytes of TCP, the frame captured whole and unpadded. Its
    # TCP header cannot be whole (BAD_TRANSPORT_HEADER, as when Ethernet padding follows); the fast
    # engine tracked it as PORTS_ONLY.
    "tcp_tiny_first_fragment": Record(1, _ipv4_ethernet(6, 28, bytes(8), flags="MF")),
    # The same with UDP: total length 24 leaves 4 bytes for the 8-byte UDP header.
    "udp_header_beyond_datagram_cut_by_snaplen": Record(1, _ipv4_ethernet(17, 24, bytes(26)), 40, 60),
    # IPv4 total length 20 and protocol ICMP: no ICMP message at all, yet the fast engine gave OK
    # with type and code read from the Ethernet padding (0x0b, 0x00 here).
    "icmp_type_beyond_datagram": Record(1, _ipv4_ethernet(1, 20, b"\x0b" + bytes(25))),
    # IPv6 payload length 0 (offload: taken from the frame) in a record whose wirelen (30) is below
    # its caplen: the datagram would be shorter than its 40-byte header. IPv4 gives BAD_IP_HEADER
    # there; the fast engine gave IPv6 ip_bytes 30 and a negative ip_left, which wrapped the
    # payload_bytes of the "other" protocol 59 to 4294967286.
    "ipv6_zero_length_shorter_than_header": Record(229, bytes.fromhex("60000000" "0000" "3b40") + bytes(32), 40, 30),
    # PPPoE session with a compressed (1-byte, RFC 1661 6.5) PPP protocol 0x21: IPv4. The fast
    # engine read 2 bytes (0x2145) and gave NOT_IP.
    "pppoe_compressed_ppp_protocol": Record(
        1, bytes(Ether(type=0x8864) / PPPoE(sessionid=1) / PPP(proto=b"\x21") / IP(src="10.0.0.1", dst="10.0.0.2"))
    ),
}


@pytest.mark.parametrize("record", list(RULE_EDGE_CASES.values()), ids=list(RULE_EDGE_CASES))
def test_rule_edge_cases_agree(record: Record) -> None:
    check_parity(raw_batch([record]))


# -- (e) tunnels, whole and damaged ------------------------------------------------------------------


def _tunnelled_frames() -> list[bytes]:
    """One frame of each tunnel the decoder opens (from the exact tests of test_tunnels.py)."""
    udp = eth() / OUTER4
    return [bytes(frame) for frame in (
        udp / UDP(sport=1, dport=4789) / VXLAN(vni=3) / INNER,
        udp / UDP(sport=1, dport=6081) / Raw(geneve(7, 0x6558, bytes(8))) / INNER,
        udp / UDP(sport=2152, dport=2152) / Raw(gtp_u(5, extensions=bytes([1, 0, 9, 0]))) / IP4 / SEGMENT,
        udp / UDP(sport=1, dport=3544) / Raw(TEREDO_AUTHENTICATION + TEREDO_ORIGIN) / INNER6,
        udp / UDP(sport=5072, dport=1) / Raw(ayiya(41)) / INNER6,
        udp / UDP(sport=1, dport=4754) / GRE(key_present=1, key=2, proto=0x0800) / IP4 / SEGMENT,
        udp / UDP(sport=1, dport=4754) / Raw(PPTP) / IP4 / SEGMENT,
        udp / UDP(sport=1, dport=6635) / MPLS(s=1) / IP4 / SEGMENT,
        eth() / IP(src="10.0.0.1", dst="10.0.0.2", proto=47) / Raw(PPTP) / IP4 / SEGMENT,
    )]


TUNNELLED_FRAMES = _tunnelled_frames()


@given(data=st.data())
def test_parity_on_damaged_tunnels(data: st.DataObject) -> None:
    """Both engines agree on tunnelled frames with a byte changed and cut anywhere."""
    frame = bytearray(data.draw(st.sampled_from(TUNNELLED_FRAMES), label="frame"))
    at = data.draw(st.integers(14 + 20 + 8 - 4, len(frame) - 1), label="changed byte")
    frame[at] = data.draw(st.integers(0, 255), label="value")
    caplen = data.draw(st.integers(34, len(frame)), label="caplen")
    check_parity(raw_batch([Record(1, bytes(frame[:caplen]), None, len(frame))]))
