"""The compiled kernels on hostile bytes: they never read outside what they were given, never
crash, and what they return is consistent, whatever the input.

- hypothesis drives the record walks and the decode directly with arbitrary buffers, ranges,
  lengths and link types, and the whole reader with mutated real captures;
- atheris, where it installs, fuzzes the same kernels for a bounded time in a child process
  (a crash there is a signal, which would take the test run with it).

Reads outside the buffers would be caught by the AddressSanitizer run the README describes; here
the outputs are checked against the bounds the kernels promise.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pcapflow
from pcapflow._kernels.pcapng import PcapngWalker
from pcapflow._kernels.walk import TIMESTAMP_LIMIT_NS, walk_pcap
from pcapflow.capture.batch import RawBatch
from pcapflow.decode import SUPPORTED_LINKTYPES, DecodeStatus, decode_fast, decode_fast_with_carriers
from pcapflow.decode.carriers import carrier_rows
from pcapflow.errors import CaptureError
from tests.conftest import REPO, SAMPLES
from tests.factories import enhanced_packet, interface_description, pcapng_option, section_header, write

STATUSES = {int(status) for status in DecodeStatus}
DECODED_LINKTYPES = [*sorted(SUPPORTED_LINKTYPES), 147]  # and one that is not


@settings(max_examples=300)
@given(st.binary(max_size=3000), st.data())
def test_the_pcap_walk_stays_inside_its_range(data, draw):
    buffer = np.frombuffer(data, dtype=np.uint8)
    end = draw.draw(st.integers(0, len(data)))
    pos = draw.draw(st.integers(0, end))
    limit = draw.draw(st.integers(pos, len(data) + 10))
    max_caplen = draw.draw(st.sampled_from([0, 100, 262144, 2**32 - 1]))
    (offsets, caplen, _, _), stop, _, _ = walk_pcap(
        buffer, pos, end, draw.draw(st.booleans()), draw.draw(st.sampled_from([1, 1000])), max_caplen, limit
    )
    assert pos <= stop <= max(end, pos)
    assert (offsets >= pos + 16).all() and (offsets + caplen <= stop).all()
    assert (caplen <= max_caplen).all()
    # records follow one another: each starts where the one before it ends
    assert (offsets[1:] - 16 == offsets[:-1] + caplen[:-1]).all()


def _pcapng_prefix(draw) -> bytes:
    options = pcapng_option(9, bytes([draw.draw(st.integers(0, 255))])) if draw.draw(st.booleans()) else b""
    if draw.draw(st.booleans()):
        options += pcapng_option(14, draw.draw(st.binary(min_size=8, max_size=8)))
    order = draw.draw(st.sampled_from("<>"))
    return section_header(order) + interface_description(draw.draw(st.sampled_from([1, 101, 113, 0, 147])), options=options, order=order)


@settings(max_examples=300)
@given(st.binary(max_size=3000), st.data())
def test_the_pcapng_walk_stays_inside_its_blocks(tail, draw):
    data = (_pcapng_prefix(draw) if draw.draw(st.booleans()) else b"") + tail
    if draw.draw(st.booleans()):  # a packet block, then bytes that may or may not be blocks
        data = data[: len(data) // 2] + enhanced_packet(draw.draw(st.binary(max_size=80)), draw.draw(st.integers(0, 2**64 - 1)),
                                                        caplen=draw.draw(st.integers(0, 300))) + data[len(data) // 2 :]
    buffer = np.frombuffer(data, dtype=np.uint8)
    walker = PcapngWalker()
    (offsets, caplen, _, ts_ns, _, _), stop, _, _ = walker.walk(buffer, 0, len(data))
    assert 0 <= stop <= len(data)
    assert (offsets + caplen <= stop).all() and (offsets >= 0).all()
    assert (np.abs(ts_ns) <= TIMESTAMP_LIMIT_NS).all()
    assert walker.records == len(offsets)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.binary(max_size=200), st.integers(0, 2**32 - 1), st.sampled_from(DECODED_LINKTYPES)),
                min_size=1, max_size=20), st.data())
def test_the_decode_reads_only_what_each_record_holds(frames, draw):
    """Records laid out back to back in one buffer with nothing after them: a read beyond a
    record's caplen would read the next record (or outside the buffer), and change its fields;
    with the tunnels opened or not."""
    decapsulate = draw.draw(st.booleans())
    buffer = np.frombuffer(b"".join(frame for frame, _, _ in frames), dtype=np.uint8)
    caplen = np.array([len(frame) for frame, _, _ in frames], dtype=np.uint32)
    offsets = np.concatenate([[0], np.cumsum(caplen[:-1], dtype=np.int64)]).astype(np.int64)
    batch = RawBatch(buffer=buffer, data_offset=offsets, caplen=caplen, wirelen=np.array([w for _, w, _ in frames], dtype=np.uint32),
                     ts_ns=np.zeros(len(frames), dtype=np.int64), linktype=np.array([k for _, _, k in frames], dtype=np.uint16),
                     bad_record=np.zeros(len(frames), dtype=bool), record_index=np.arange(len(frames), dtype=np.int64), file_index=0)
    table = decode_fast(batch, decapsulate)
    assert set(table.status.tolist()) <= STATUSES
    if decapsulate:  # the rows tracking folds hold the same innermost rows, each behind its carrier's
        folded, _ = decode_fast_with_carriers(batch)
        inner = ~carrier_rows(folded)
        for name in table.column_names():
            np.testing.assert_array_equal(getattr(folded, name)[inner], getattr(table, name), name)
    # each record alone in a buffer of its own decodes to the same row: nothing was read from its neighbours
    row = draw.draw(st.integers(0, len(frames) - 1))
    frame, wirelen, kind = frames[row]
    alone = RawBatch(buffer=np.frombuffer(frame, dtype=np.uint8), data_offset=np.zeros(1, dtype=np.int64), caplen=caplen[row : row + 1],
                     wirelen=np.array([wirelen], dtype=np.uint32), ts_ns=np.zeros(1, dtype=np.int64), linktype=np.array([kind], dtype=np.uint16),
                     bad_record=np.zeros(1, dtype=bool), record_index=np.zeros(1, dtype=np.int64), file_index=0)
    single = decode_fast(alone, decapsulate)
    for name in table.column_names():
        if name != "record_index":
            assert getattr(single, name)[0] == getattr(table, name)[row], name


def test_a_record_outside_the_buffer_is_a_bad_record():
    batch = RawBatch(buffer=np.zeros(10, dtype=np.uint8), data_offset=np.array([4, -1], dtype=np.int64), caplen=np.array([20, 1], dtype=np.uint32),
                     wirelen=np.array([20, 1], dtype=np.uint32), ts_ns=np.zeros(2, dtype=np.int64), linktype=np.ones(2, dtype=np.uint16),
                     bad_record=np.zeros(2, dtype=bool), record_index=np.arange(2, dtype=np.int64), file_index=0)
    assert decode_fast(batch).status.tolist() == [DecodeStatus.BAD_RECORD] * 2


SAMPLE_BYTES = {path.name: path.read_bytes() for path in sorted(SAMPLES.glob("*.pcap*")) if not path.name.endswith(".gz")}


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(SAMPLE_BYTES)), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=12),
       st.sampled_from([64, 1000, 1 << 20]), st.sampled_from([1, 2]))
def test_mutated_captures_read_to_the_end_or_fail_as_one_error(tmp_path_factory, name, flips, chunk_bytes, workers):
    data = bytearray(SAMPLE_BYTES[name])
    for at, value in flips:
        data[at % len(data)] = value
    path = write(tmp_path_factory.mktemp("m") / name, bytes(data))
    try:
        analysis = pcapflow.analyze(path, chunk_bytes=chunk_bytes, workers=workers)
    except CaptureError:
        return
    report = analysis.report
    assert report.records_read == sum(report.status_counts.values())
    assert analysis.ports["conversations"].sum() == len(analysis.conversations)
    assert analysis.conversations["packets"].sum() == sum(report.tracked.values()) - report.orphan_fragments


ATHERIS_TARGET = REPO / "tests" / "fuzz_kernels_target.py"


def test_atheris_finds_no_crash_in_the_kernels(tmp_path):
    """Thirty seconds of atheris over the walks and the decode, from the sample captures
    (skipped where atheris does not install)."""
    if importlib.util.find_spec("atheris") is None:
        pytest.skip("atheris is not installed (pip install -e '.[fuzz]'): the hypothesis fuzzing above still ran")
    corpus = tmp_path / "corpus"  # atheris writes the inputs it finds into it
    corpus.mkdir()
    for name, data in SAMPLE_BYTES.items():
        (corpus / name).write_bytes(data)
    result = subprocess.run(
        [sys.executable, str(ATHERIS_TARGET), str(corpus), "-max_total_time=30", "-rss_limit_mb=2048", "-print_final_stats=1"],
        capture_output=True, text=True, timeout=180, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done" in result.stderr
