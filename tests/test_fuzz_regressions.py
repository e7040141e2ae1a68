"""Every hostile input under ../shared/fuzz (its README says what each did to an earlier version)
ends cleanly: exit 0 with warnings, or 1 with one ``Error:`` line; no traceback, no signal,
bounded time and memory. Each runs ``pcapflow analyze`` in a process of its own, as a user would."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.conftest import REPO

FUZZ = REPO.parent / "shared" / "fuzz"

#: file -> what its warning must say (each reads to the end with a warning, exit 0)
EXPECTED = {
    "14bec0f215-000101.pcap": "interface 0: if_tsoffset 1099511627776 s is beyond the range of nanosecond timestamps",
    "1dfafa00fb-000735.pcap": "interface 6: if_tsresol 255 (a unit of 2**-127 s) cannot be honoured",
    "e861b05d12-000189.pcap": "interface 16: if_tsresol 29 (a unit of 10**-29 s) cannot be honoured",
    "caplen4g_small.pcap": "record at byte 244 claims 4294967295 bytes of packet data, more than the 262144-byte maximum",
    "snaplen4g_caplen4g_256MiB_zeros.pcap.gz": "record at byte 80 claims 4294967280 bytes of packet data, more than the 262144-byte maximum",
}


def _inputs() -> list:
    if not FUZZ.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason="shared fuzz inputs not present (../shared/fuzz)"), id="none")]
    return sorted(path.name for path in FUZZ.iterdir() if path.name != "README.md")


def test_every_input_has_an_expected_outcome():
    if not FUZZ.is_dir():
        pytest.skip("shared fuzz inputs not present (../shared/fuzz)")
    assert set(_inputs()) == set(EXPECTED)


#: ``pcapflow analyze FILE`` that also says, last on standard error, the peak resident memory
#: of its own process (VmHWM: a child's rusage would count the parent's memory it was forked with).
CHILD = """
import atexit, sys
def peak():
    with open("/proc/self/status") as status:
        sys.stderr.write(next(f"peak-kib {line.split()[1]}" for line in status if line.startswith("VmHWM:")) + "\\n")
atexit.register(peak)
from pcapflow.cli import main
main(["analyze", sys.argv[1]])
"""


def _run(name: str, tmp_path) -> tuple[int, str, float, float]:
    """Exit code, standard error, seconds and peak memory (MiB) of ``pcapflow analyze`` on the input."""
    errors = tmp_path / "stderr.txt"
    started = time.monotonic()
    with errors.open("w") as sink:
        process = subprocess.Popen([sys.executable, "-c", CHILD, str(FUZZ / name)], stdout=subprocess.DEVNULL, stderr=sink)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"{name}: still running after 60 s")
    *lines, peak = errors.read_text().splitlines()
    assert peak.startswith("peak-kib "), peak
    return process.returncode, "".join(line + "\n" for line in lines), time.monotonic() - started, int(peak.split()[1]) / 1024


@pytest.mark.parametrize("name", _inputs())
def test_hostile_input_ends_cleanly(name, tmp_path):
    code, stderr, seconds, peak_mib = _run(name, tmp_path)
    assert code in (0, 1), f"ended by signal or crash: {code}\n{stderr}"
    assert "Traceback" not in stderr
    assert seconds < 30 and peak_mib < 300, (seconds, peak_mib)
    if code == 1:
        assert len(stderr.splitlines()) == 1 and stderr.startswith("Error: ")
    else:
        assert EXPECTED[name] in stderr
