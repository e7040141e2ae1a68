"""atheris target for the compiled kernels: ``python tests/fuzz_kernels_target.py CORPUS_DIR -max_total_time=30``.

Each input is fed to the pcap walk (from its 24th byte, in the byte order its magic says), the
pcapng walk, and the decode of every record the pcap walk found (or of the bytes cut into
records), under every link type in turn. A crash is a signal: atheris reports it with the input.
Run by tests/test_fuzz_kernels.py where atheris is installed, seeded with copies of the sample
captures. The kernels are not built with coverage instrumentation (that takes clang), so atheris
mutates blind to their branches; starting from real captures keeps its inputs close to them.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import numpy as np

    from pcapflow._kernels.pcapng import PcapngWalker
    from pcapflow._kernels.walk import walk_pcap
    from pcapflow.capture.batch import RawBatch
    from pcapflow.decode import SUPPORTED_LINKTYPES, decode_fast, decode_fast_with_carriers

LINKTYPES = sorted(SUPPORTED_LINKTYPES) + [0xFFFF, 147]


def _records(body: bytes, buffer: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where records start, their caplen and wirelen: the pcap walk's when the bytes are a pcap."""
    big_endian = body[:4] in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d")
    (offsets, caplen, wirelen, _), stop, _, _ = walk_pcap(buffer, min(24, len(body)), len(body), big_endian, 1000, 262144, 1 << 62)
    if not (offsets + caplen <= stop).all() or stop > len(body):
        raise AssertionError("the pcap walk returned records outside its range")
    if len(offsets):
        return offsets, caplen, wirelen
    cuts = np.sort(np.frombuffer(body[:16], dtype=np.uint8).astype(np.int64) * len(body) // 256)
    starts = np.concatenate([[0], cuts])
    lengths = np.maximum(np.concatenate([cuts, [len(body)]]) - starts, 0).astype(np.uint32)
    return starts, lengths, lengths[::-1].copy()


def one_input(data: bytes) -> None:
    buffer = np.frombuffer(data, dtype=np.uint8)
    columns, stop, _, _ = PcapngWalker().walk(buffer, 0, len(data))
    if not (columns[0] + columns[1] <= stop).all():
        raise AssertionError("the pcapng walk returned records outside its blocks")
    offsets, caplen, wirelen = _records(data, buffer)
    count = len(offsets)
    for shift in range(len(LINKTYPES)):
        linktype = np.array([LINKTYPES[(i + shift) % len(LINKTYPES)] for i in range(count)], dtype=np.uint16)
        batch = RawBatch(buffer=buffer, data_offset=offsets.astype(np.int64), caplen=caplen, wirelen=wirelen,
                         ts_ns=np.zeros(count, dtype=np.int64), linktype=linktype, bad_record=np.zeros(count, dtype=bool),
                         record_index=np.arange(count, dtype=np.int64), file_index=0)
        if shift % 2:
            decode_fast_with_carriers(batch)
        else:
            decode_fast(batch)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
