"""The cluster path against the local threads, and what a task costs; print one JSON line per run.

    python benchmarks/bench_dask.py CAPTURE [CAPTURE ...] [--repeat 3] [--workers 2]

``CAPTURE`` may be a glob (``/data/many/many-*.pcap``); all of them are read as one capture. The
capture set is analysed on ``--workers`` local threads (``pcapflow.analyze``) and on a LocalCluster
of ``--workers`` worker processes of one thread each (``scheduler=``), alternately, ``--repeat``
times; a line gives the median wall time of each and checks that the results are equal. The
cluster is started once, before the timed runs, as a cluster that is already up would be.

Then, from the last cluster run's task stream, the measured cost of each kind of task
(``read_parts``: read, decode and split a piece; ``fold_part``: a partition's fold of one piece;
``finish_part``; ``getitem``: taking a part of a task's result) as seconds per task and per byte
of capture, the bytes a piece's parts hold (what moves from the reading worker to the folding
workers), a tracker's pickled size at the end (what moves when a chain changes worker), and the
scheduler's cost per task (2,000 tasks that do nothing, on the same cluster). These are the
inputs of the 1 TB estimate in ``benchmarks/README.md`` (:func:`estimate` prints it).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import pickle
import statistics
import time
from collections import defaultdict

import pcapflow
from pcapflow import pipeline
from pcapflow.dask.run import fold_part, read_nbytes, read_parts
from pcapflow.options import DEFAULT_CHUNK_BYTES
from pcapflow.tracking import ConversationTracker

TB = 1 << 40
#: Network bandwidth per worker assumed by the estimate (10 GbE, bytes/s).
NETWORK_BYTES_PER_S = 1.25e9


def _noop(index: int) -> int:
    return index


def _timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def _task_costs(records: list[dict]) -> dict[str, dict[str, float]]:
    """Seconds of compute per kind of task (the name before the key's token)."""
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for record in records:
        kind = str(record["key"]).split("-")[0].strip("('")
        for span in record["startstops"]:
            if span["action"] == "compute":
                seconds[kind] += span["stop"] - span["start"]
        counts[kind] += 1
    return {kind: {"tasks": counts[kind], "seconds": round(seconds[kind], 3), "per_task_ms": round(1000 * seconds[kind] / counts[kind], 3)}
            for kind in sorted(counts)}


def _piece_measures(paths: list[str], partitions: int) -> dict[str, float]:
    """What one piece's parts hold, against the piece's bytes, and the cost of a fold of a
    255th of a piece (measured on the first piece)."""
    piece = pipeline.plan_pieces(paths[0], 0)[0]
    size = (piece.stop or os.path.getsize(piece.path)) - piece.start
    _, parts = read_parts(piece, "fast", DEFAULT_CHUNK_BYTES, partitions, True)
    _, small = read_parts(piece, "fast", DEFAULT_CHUNK_BYTES, 255, True)
    trackers = [ConversationTracker() for _ in small]
    seconds, _ = _timed(lambda: [fold_part(tracker, part, 0) for tracker, part in zip(trackers, small)])
    held = sum(read_nbytes(part) for part in parts)
    return {"piece_bytes": size, "parts_bytes": held, "parts_per_capture_byte": round(held / size, 3),
            "fold_of_a_255th_ms": round(1000 * seconds / 255, 3)}


def estimate(costs: dict, per_task_s: float, measures: dict, tracker_bytes: int, piece_bytes: int, workers: int) -> dict[str, float]:
    """Minutes for 1 TB on ``workers`` workers with pieces of ``piece_bytes`` (see benchmarks/README.md)."""
    partitions = min(workers, 255)
    pieces = TB / piece_bytes
    read_s_per_byte = costs["read_parts"]["seconds"] / costs["_capture_bytes"]
    fold_s_per_byte = costs["fold_part"]["seconds"] / costs["_capture_bytes"]
    # a fold of a 255th of a piece, less its share of the per-byte cost: what a fold costs however small its part
    fold_fixed_s = max(0.0, measures["fold_of_a_255th_ms"] / 1000 - fold_s_per_byte * measures["piece_bytes"] / 255)
    compute = TB * (read_s_per_byte + fold_s_per_byte) + pieces * partitions * fold_fixed_s
    tasks = pieces * (3 + 2 * partitions)
    scheduler = tasks * per_task_s
    moved = TB * measures["parts_per_capture_byte"] * (partitions - 1) / partitions
    network = moved / (workers * NETWORK_BYTES_PER_S)
    # the scheduler is one process: its work does not shrink with the workers; the compute and
    # the network do. The run takes about the largest of the three.
    wall = max(compute / workers, scheduler, network)
    return {"workers": workers, "piece_MiB": piece_bytes >> 20, "tasks": round(tasks), "compute_min": round(compute / workers / 60, 1),
            "scheduler_min": round(scheduler / 60, 1), "network_min": round(network / 60, 1), "estimate_min": round(wall / 60, 1),
            "tracker_MiB": round(tracker_bytes / (1 << 20), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("captures", nargs="+")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    paths = sorted(path for pattern in args.captures for path in (glob.glob(pattern) or [pattern]))
    capture_bytes = sum(os.path.getsize(path) for path in paths)

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        local_s, cluster_s = [], []
        for _ in range(args.repeat):
            seconds, local = _timed(lambda: pcapflow.analyze(paths, workers=args.workers))
            local_s.append(seconds)
            client.get_task_stream(start=time.time())  # the stream of the next run only
            started = time.time()
            seconds, remote = _timed(lambda: pcapflow.analyze(paths, scheduler=client))
            cluster_s.append(seconds)
            assert remote.port_rows["conversations"].tolist() == local.port_rows["conversations"].tolist()
            assert remote.report.to_dict() == local.report.to_dict()
        costs = _task_costs(client.get_task_stream(start=started))
        costs["_capture_bytes"] = capture_bytes
        noop_s, _ = _timed(lambda: client.gather(client.map(_noop, range(2000), pure=False)))
        tracker = pcapflow.tracking.ConversationTracker()
        for table in pcapflow.PacketReader(paths[:1]):
            tracker.add(table)
        tracker_bytes = len(pickle.dumps(tracker))
        moved = _piece_measures(paths, args.workers)

    print(json.dumps({"files": len(paths), "bytes": capture_bytes, "records": local.report.records_read,
                      "threads_s": round(statistics.median(local_s), 2), "cluster_s": round(statistics.median(cluster_s), 2),
                      "threads_runs": [round(s, 2) for s in local_s], "cluster_runs": [round(s, 2) for s in cluster_s]}))
    per_task = noop_s / 2000
    print(json.dumps({"task_costs": {k: v for k, v in costs.items() if k != "_capture_bytes"}, "scheduler_ms_per_task": round(1000 * per_task, 3),
                      "tracker_bytes_first_file": tracker_bytes, **moved}))
    for piece_bytes in (pipeline.PIECE_BYTES, 1 << 30):
        for workers in (10, 100, 1000):
            print(json.dumps(estimate(costs, per_task, moved, tracker_bytes, piece_bytes, workers)))


if __name__ == "__main__":
    main()
