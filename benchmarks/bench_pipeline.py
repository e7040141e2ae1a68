"""Time pcapflow's pipeline stages on a capture; print one JSON line per stage.

    python benchmarks/bench_pipeline.py CAPTURE [--repeat 3] [--stages read,decode]

Each stage runs in a fresh child process, several times; the line gives the median wall time
measured inside the child after its imports (so interpreter start-up is excluded), packets per
second, and the child's peak RSS (of the largest process: a worker reading a second piece
counts separately). Stages are cumulative, as a user would run them: ``read`` (capture reading,
one process), ``decode`` (``PacketReader``: + decoding, two processes on a large pcap),
``track`` (``read_conversations``: + tracking and the typed DataFrame). A stage with a target in the issues prints whether it met it.

The reference capture: ``python ../shared/bench/gen_pcap.py --packets 1000000 --flows 60000
--seed 1 --out /tmp/pcapflow-bench/bench-1000000.pcap``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

#: stage -> (packets/s at least, peak RSS MiB at most), from the issues.
TARGETS = {"decode": (2_000_000, 300), "track": (1_200_000, 400)}


def _run_stage(stage: str, capture: str) -> int:
    """The work of one stage; returns the number of packets it went through."""
    import pcapflow
    from pcapflow.capture import open_capture

    if stage == "track":
        return pcapflow.read_conversations(capture).attrs["report"].records_read
    if stage == "decode":
        return sum(len(table) for table in pcapflow.PacketReader(capture))
    with open_capture(capture) as source:
        return sum(len(batch) for batch in source.batches())


def _child(stage: str, capture: str) -> None:
    import pcapflow
    import pcapflow.capture

    # pcapflow imports its modules on first use: load them now, imports are not what is timed
    for name in pcapflow.__all__:
        getattr(pcapflow, name)

    start = time.perf_counter()
    packets = _run_stage(stage, capture)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"packets": packets, "seconds": seconds, "peak_rss_mib": peak_mib}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stages", default="read,decode,track")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.capture)
        return
    for stage in args.stages.split(","):
        runs = []
        for _ in range(args.repeat):
            out = subprocess.run(
                [sys.executable, __file__, args.capture, "--child", stage], check=True, capture_output=True, text=True
            )
            runs.append(json.loads(out.stdout))
        seconds = statistics.median(run["seconds"] for run in runs)
        line = {
            "stage": stage,
            "packets": runs[0]["packets"],
            "seconds": round(seconds, 4),
            "packets_per_s": round(runs[0]["packets"] / seconds),
            "peak_rss_mib": round(max(run["peak_rss_mib"] for run in runs), 1),
            "runs": args.repeat,
        }
        if stage in TARGETS:
            rate, rss = TARGETS[stage]
            line["target"] = {"packets_per_s": rate, "peak_rss_mib": rss}
            line["met"] = line["packets_per_s"] >= rate and line["peak_rss_mib"] <= rss
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
