#!/usr/bin/env python3
"""Seeded synthetic classic-pcap generator for pcapflow's benchmarks (standard library + numpy).

    python benchmarks/gen_capture.py --packets 1000000 --flows 60000 --seed 1 --out /tmp/pcapflow-bench/bench-1000000.pcap
    python benchmarks/gen_capture.py --packets 100000 --flows 6000 --seed 1 --files 1000 --out /tmp/many/many.pcap

Writes a little-endian, microsecond classic pcap (link type 1, Ethernet, snaplen 65535) that looks
like an edge capture, and ``OUT.truth.json``: what pcapflow must find in it (records, conversations
per protocol and per (protocol, server port), Zeek ``conn_state`` counts, role evidence, packets
per protocol). ``--flows`` is the number of conversations; ``--packets`` the number of records.

Traffic: ~10 % of conversations over IPv6, ~1 % on a 802.1Q VLAN. TCP (85 %): complete
conversations (SYN, SYN-ACK, ACK, data both ways, FIN-ACK teardown from either side: SF), some
reset by the client (RSTO) or the server (RSTR), unanswered SYNs with retransmissions (S0), refused
ones (SYN, then RST-ACK: REJ), and ~1 % that reuse the exact 5-tuple of an earlier finished
conversation with a new initial sequence number. UDP (12 %): DNS query/response on 53 (a few
unanswered), NTP on 123, QUIC on 443, one-way syslog on 514. ICMP and ICMPv6 echo (3 %, a few
unanswered). ARP requests and replies (0.1 % of the records; not conversations). Clients use
ephemeral ports 49152-65535; a few thousand servers on well-known ports, popularity skewed.

Conversations start at random over ``--duration`` seconds and each lasts at most 30 s (TCP) or
20-25 s (UDP, ICMP), so none is split by pcapflow's idle timeouts (300 s and 60 s); timestamps are
non-decreasing. Lengths are consistent (IPv4 total length with its header checksum, IPv6 payload
length, UDP length, TCP data offset, caplen = wirelen); IPv4 frames shorter than 60 bytes are
padded with zeros. Payloads are random bytes (DNS messages are well formed); IPv4 header and
ICMP checksums are right, TCP and UDP checksums are left 0, as in captures taken with checksum
offload.

How: every conversation is planned up front (numpy arrays, ordered by start time); then batches of
conversations become packet descriptors, and the descriptors that no later conversation can
precede are sorted and rendered into record bytes with structured numpy arrays, chunk by chunk,
so memory stays flat whatever ``--packets`` is. The output depends only on the arguments other
than ``--out`` and ``--files``: ``--files K`` writes the same records as ``--files 1``, each
conversation whole in one of ``K`` files (``OUT`` without its ``.pcap`` suffix, then
``-0000.pcap``...), the files in time order (a file's conversations start after those of the one
before it; they may overlap in time).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from flow_plan import Plan, plan_flows, truth_of
from packets import DESCRIPTOR, PCAP_HEADER, PCAP_HEADER_BYTES, Scratch, flow_packets, render

#: Conversations turned into packets at a time, and packets rendered into bytes at a time.
FLOW_BATCH = 4096
RENDER_PACKETS = 1 << 16
RENDER_PACKETS_SPLIT = 1 << 13  # with --files: records are regrouped through a per-byte index
PAYLOAD_POOL = 1 << 24

# -- writing ------------------------------------------------------------------------------------


def output_names(out: str, files: int) -> list[str]:
    if files == 1:
        return [out]
    stem = out.removesuffix(".pcap")
    return [f"{stem}-{k:04d}.pcap" for k in range(files)]


class _Writer:
    """Writes rendered records to one file, or regroups them by flow into ``files`` files."""

    def __init__(self, names: list[str], plan: Plan):
        self.names, self.plan = names, plan
        #: bytes of the one-file stream so far: payload bytes depend on it, not on --files
        self.offset = PCAP_HEADER_BYTES
        if len(names) == 1:
            self.tmp = names[0] + ".tmp"
            self.handle = open(self.tmp, "wb")  # noqa: SIM115 (closed by close())
            self.handle.write(PCAP_HEADER)
        else:
            for name in names:
                with open(name, "wb") as handle:
                    handle.write(PCAP_HEADER)

    def write(self, buf: np.ndarray, reclen: np.ndarray, rank: np.ndarray) -> None:
        self.offset += len(buf)
        if len(self.names) == 1:
            self.handle.write(buf.data)
            return
        target = self.plan.file[rank]
        order = np.argsort(target, kind="stable")
        lengths = reclen[order]
        starts = (np.cumsum(reclen) - reclen)[order]
        placed = np.cumsum(lengths) - lengths
        grouped = buf[np.repeat(starts - placed, lengths) + np.arange(len(buf))]
        files, first = np.unique(target[order], return_index=True)
        bounds = np.append(placed[first], len(buf))
        for k, file in enumerate(files):
            with open(self.names[file], "ab") as handle:
                handle.write(grouped[bounds[k] : bounds[k + 1]].data)

    def close(self) -> None:
        if len(self.names) == 1:
            self.handle.close()
            os.replace(self.tmp, self.names[0])


def _take(columns: dict[str, np.ndarray], rows) -> dict[str, np.ndarray]:
    return {name: column[rows] for name, column in columns.items()}


def generate(out: str, packets: int, flows: int, seed: int = 1, files: int = 1, duration: float = 600.0,
             servers: int = 3000, clients: int = 40000) -> dict:
    """Write the capture (or ``files`` captures) and ``out + ".truth.json"``; return the truth."""
    if packets < 1 or flows < 1:
        raise ValueError("--packets and --flows must be positive")
    plan = plan_flows(packets, flows, seed, files, duration, servers, clients)
    if files < 1 or files > len(plan.n):
        raise ValueError(f"--files must be between 1 and the number of flows ({len(plan.n)})")
    names = output_names(out, files)
    truth = truth_of(plan, packets, flows, seed, [os.path.basename(name) for name in names])
    pool = np.random.default_rng([seed, 2]).integers(0, 256, PAYLOAD_POOL, dtype=np.uint8)
    writer = _Writer(names, plan)
    scratch = Scratch()
    chunk = RENDER_PACKETS if files == 1 else RENDER_PACKETS_SPLIT
    pending: dict[str, np.ndarray] | None = None
    total = len(plan.n)
    try:
        for batch, r0 in enumerate(range(0, total, FLOW_BATCH)):
            r1 = min(total, r0 + FLOW_BATCH)
            fresh = flow_packets(plan, r0, r1, np.random.default_rng([seed, 1, batch]))
            pending = fresh if pending is None else {name: np.concatenate([pending[name], fresh[name]]) for name in DESCRIPTOR}
            # later flows start at or after the next one's start, and sort after these at equal times
            frontier = plan.start[r1] if r1 < total else np.iinfo(np.int64).max
            ready = pending["ts"] <= frontier
            now = _take(pending, ready)
            pending = _take(pending, ~ready)
            now = _take(now, np.lexsort((now["o"], now["rank"], now["ts"])))
            for c0 in range(0, len(now["ts"]), chunk):
                part = _take(now, slice(c0, c0 + chunk))
                buf, reclen = render(part, plan, pool, writer.offset, scratch)
                writer.write(buf, reclen, part["rank"])
    finally:
        writer.close()
    with open(out + ".truth.json", "w") as handle:
        json.dump(truth, handle, indent=1)
        handle.write("\n")
    return truth


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, required=True, help="records to write")
    parser.add_argument("--flows", type=int, required=True, help="conversations (ARP exchanges come on top)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True, help="capture path; OUT.truth.json is written beside it")
    parser.add_argument("--files", type=int, default=1, help="split the flows among this many captures OUT-0000.pcap...")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds over which conversations start")
    parser.add_argument("--servers", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=40000, help="IPv4 clients (IPv6: a tenth as many)")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    start = time.perf_counter()
    try:
        truth = generate(args.out, args.packets, args.flows, args.seed, args.files, args.duration, args.servers, args.clients)
    except ValueError as error:
        parser.error(str(error))
    seconds = time.perf_counter() - start
    if not args.quiet:
        size = sum(os.path.getsize(os.path.join(os.path.dirname(os.path.abspath(args.out)), name)) for name in truth["files"])
        print(f"{args.out}: {truth['packets']} packets in {len(truth['files'])} file(s), {size / 2**20:.1f} MiB, "
              f"{seconds:.2f} s ({truth['packets'] / seconds:,.0f} packets/s)", file=sys.stderr)
        print(json.dumps({key: truth[key] for key in ("conversations_by_protocol", "tcp_conn_state")}), file=sys.stderr)


if __name__ == "__main__":
    main()
