"""Conformance of capture reading on real third-party captures (``../shared/corpus``).

For every capture in the corpus MANIFEST, the records read equal the packet count the MANIFEST
gives (tshark's frame count, cross-checked with an independent record parser). The two files
that are corrupt on purpose are read up to the damage and reported as such:

- ``ndpi/fuzz-2021-10-13.pcap``: its first record claims 524,501 bytes, more than the file and
  more than any sane record, so there is no readable record: CaptureError at byte 24. (tshark
  reports the file as "cut short in the middle of a packet" and shows that one partial frame;
  the MANIFEST counts 0 complete records.)
- ``suricata-verify/bug-1450-04/tls_DER-incomplete-header.pcap``: 6 records, then a record
  header claiming 4,325,376 bytes (tshark: "bigger than maximum of 262144"): corrupt_at.

Skipped when the shared corpus is not beside the repository.
"""

from __future__ import annotations

import re

import pytest

import pcapflow
from pcapflow.errors import CaptureError
from tests.conftest import CORPUS


def manifest_captures() -> list[tuple[str, int]]:
    """(relative path, packets) of every capture row in the corpus MANIFEST."""
    manifest = CORPUS / "MANIFEST.md"
    if not manifest.is_file():
        return []
    rows = []
    for line in manifest.read_text().splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) > 8 and cells[1].startswith("`") and re.match(r"\d+", cells[7]):
            rows.append((cells[1].strip("`"), int(re.match(r"\d+", cells[7]).group())))
    return rows


CAPTURES = manifest_captures()
CORRUPT_ON_PURPOSE = {"ndpi/fuzz-2021-10-13.pcap", "suricata-verify/bug-1450-04/tls_DER-incomplete-header.pcap"}


def test_the_manifest_lists_the_corpus(corpus):
    assert len(CAPTURES) == 51


@pytest.mark.parametrize(("name", "packets"), CAPTURES, ids=[name for name, _ in CAPTURES])
def test_records_read_equal_the_manifest_count(corpus, name, packets):
    if name == "ndpi/fuzz-2021-10-13.pcap":
        with pytest.raises(CaptureError) as caught:
            pcapflow.read_packets(corpus / name)
        assert caught.value.offset == 24
        assert "no readable record" in caught.value.problem
        return
    frame = pcapflow.read_packets(corpus / name)
    report = frame.attrs["report"]
    assert report.records_read == len(frame) == packets
    assert sum(report.status_counts.values()) == packets
    file = report.files[0]
    if name in CORRUPT_ON_PURPOSE:
        assert file.corrupt_at == 5035
        assert "claims 4325376 bytes" in file.damage
    else:
        assert file.damage is None, file.damage


def test_mixed_link_type_pcapng_decodes_every_interface(corpus):
    frame = pcapflow.read_packets(corpus / "pcapplusplus/pcapng-example.pcapng")
    assert set(frame["linktype"]) == {1, 113}
    assert (frame["status"] != "UNSUPPORTED_LINKTYPE").all()
    assert (frame["caplen"] < frame["wirelen"]).sum() == 39  # the snaplen-cut packets the MANIFEST counts


@pytest.mark.parametrize(("name", "packets"), CAPTURES, ids=[name for name, _ in CAPTURES])
def test_the_command_line_never_shows_a_traceback(corpus, name, packets, tmp_path):
    from click.testing import CliRunner

    from pcapflow.cli import main

    result = CliRunner().invoke(main, ["analyze", "--export", str(tmp_path), str(corpus / name)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if name == "ndpi/fuzz-2021-10-13.pcap":
        assert result.exit_code == 1 and result.stderr.startswith("Error: ")
    else:
        assert result.exit_code == 0, result.stderr
        assert f"{packets:,} read" in result.stdout
