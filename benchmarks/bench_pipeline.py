"""Time pcapflow's pipeline stages on a capture; print one JSON line per stage.

    python benchmarks/bench_pipeline.py CAPTURE [--repeat 3] [--stages read,decode,...] [--generate N]

Each stage runs in a fresh child process, several times; the line gives the median. In-process
stages measure the wall time inside the child after its imports (so interpreter start-up is
excluded), packets per second, and the child's peak RSS. They are cumulative, as a user would run
them: ``read`` (capture reading, one thread), ``decode`` (``PacketReader``: + decoding, on the
machine's cores), ``track`` (``read_conversations``: + tracking and the typed DataFrame), ``summarise``
(``analyze``: + the per-port summary, with both DataFrames built), ``export`` (``analyze``, then conversations and ports
written as CSV and Parquet). Whole-process stages time the command line from outside, start-up
included, with the peak RSS from ``os.wait4``: ``end_to_end`` (``pcapflow analyze CAPTURE``),
``scaling`` (``pcapflow analyze --workers 1`` and ``--workers 2``, paired run by run; the line gives
the median of the paired ratios as ``speedup``), ``startup`` (``pcapflow --help``, and ``pcapflow analyze`` on the tiny bundled sample; one line
each). ``many_files`` generates 1,000 small captures and one capture of the same packets
(``gen_capture.py --files 1000`` and ``--files 1``, same seed and flows) and times ``analyze`` on
each: the overhead per file is (t_many - t_one) / 1000. Every line gives the CPU time too (user
and system, all threads), and per packet where there are packets. A stage with a target in
:data:`TARGETS` prints whether it met it. The targets against the compiled floor, tshark and
nfstream are checked by ``../shared/bench/peers.sh``.

The reference capture: ``python benchmarks/gen_capture.py --packets 1000000 --flows 60000 --seed 1
--out /tmp/pcapflow-bench/bench-1000000.pcap`` (or ``--generate 1000000`` here, which writes it
when CAPTURE does not exist).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GENERATOR = HERE / "gen_capture.py"
SAMPLE = HERE.parent / "sample_pcaps" / "http_ethernet.pcap"

STAGES = ("read", "decode", "track", "summarise", "export", "end_to_end", "scaling", "startup", "many_files")
IN_PROCESS = ("read", "decode", "track", "summarise", "export")

#: stage -> what it must meet, from the issues: ``packets_per_s`` is a minimum, every other measure a maximum.
TARGETS = {
    "decode": {"packets_per_s": 2_000_000, "peak_rss_mib": 300},
    "track": {"packets_per_s": 1_200_000, "peak_rss_mib": 400},
    "end_to_end": {"peak_rss_mib": 300},
    "scaling": {"speedup": 1.7},
    "startup": {"seconds": 0.3},
    "many_files": {"overhead_ms_per_file": 1.0},
}
MINIMA = ("packets_per_s", "speedup")
#: issue #11: peak RSS at most 300 MiB on 1 M packets, 400 MiB on 10 M; the scaling target is for 10 M
LARGE_CAPTURE_PACKETS, LARGE_CAPTURE_RSS_MIB = 2_000_000, 400

#: the many-files stage: this many captures, of this many packets in all, from this seed
MANY_FILES, MANY_FILES_SEED = 1000, 1


def _inputs(capture: str) -> str | list[str]:
    """A capture path, or the sorted ``*.pcap`` files of a directory (read together as one capture)."""
    return sorted(glob.glob(os.path.join(capture, "*.pcap"))) if os.path.isdir(capture) else capture


def _export_formats() -> tuple[str, ...]:
    """CSV, and Parquet where pyarrow is installed."""
    import importlib.util

    return ("csv", "parquet") if importlib.util.find_spec("pyarrow") else ("csv",)


def _run_stage(stage: str, capture: str, workdir: str) -> int:
    """The work of one in-process stage; returns the number of packets it went through."""
    import pcapflow
    from pcapflow.capture import open_capture

    inputs = _inputs(capture)
    if stage in ("summarise", "export"):
        analysis = pcapflow.analyze(inputs)
        analysis.conversations, analysis.ports  # noqa: B018 - built on first use: what a Python user gets
        if stage == "export":
            for name, frame in (("conversations", analysis.conversations), ("ports", analysis.ports)):
                for suffix in _export_formats():
                    pcapflow.write_table(frame, os.path.join(workdir, f"{name}.{suffix}"))
        return analysis.report.records_read
    if stage == "track":
        return pcapflow.read_conversations(inputs).attrs["report"].records_read
    if stage == "decode":
        return sum(len(table) for table in pcapflow.PacketReader(inputs))
    with open_capture(capture) as source:
        return sum(len(batch) for batch in source.batches())


def _child(stage: str, capture: str) -> None:
    import pcapflow
    import pcapflow.capture

    # pcapflow imports its modules on first use: load them now, imports are not what is timed
    for name in pcapflow.__all__:
        getattr(pcapflow, name)
    import pcapflow.schema
    if stage == "export" and "parquet" in _export_formats():  # and the Parquet writer's
        import pyarrow.parquet  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="pcapflow-bench-") as workdir:
        cpu_before = _cpu_seconds()
        start = time.perf_counter()
        packets = _run_stage(stage, capture, workdir)
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu_before
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"packets": packets, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mib": peak_mib}))


def _cpu_seconds() -> float:
    """User and system time of this process, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _in_process(stage: str, capture: str, repeat: int) -> list[dict]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, capture, "--child", stage], check=True, capture_output=True, text=True
        )
        runs.append(json.loads(out.stdout))
    return runs


def _cli() -> list[str]:
    """The ``pcapflow`` command of this interpreter: its script beside it, else ``python -m pcapflow``."""
    script = Path(sys.executable).with_name("pcapflow")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pcapflow"]


def _whole_process(args: list[str]) -> dict:
    """Wall time and peak RSS (the largest process, from os.wait4) of one command, start-up included."""
    start = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if process.returncode:
        raise SystemExit(f"{' '.join(args)} exited {process.returncode}: {stderr.strip()}")
    return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_rss_mib": usage.ru_maxrss / 1024}


def _line(stage: str, runs: list[dict], packets: int | None, **extra) -> dict:
    seconds = statistics.median(run["seconds"] for run in runs)
    cpu = statistics.median(run["cpu_seconds"] for run in runs)
    line = {"stage": stage, **extra, "packets": packets, "seconds": round(seconds, 4), "cpu_seconds": round(cpu, 4)}
    if packets:
        line["packets_per_s"] = round(packets / seconds)
        line["cpu_us_per_packet"] = round(cpu / packets * 1e6, 3)
    line["peak_rss_mib"] = round(max(run["peak_rss_mib"] for run in runs), 1)
    line["runs"] = len(runs)
    return line


def _judge(line: dict) -> dict:
    target = TARGETS.get(line["stage"])
    large = (line.get("packets") or 0) >= LARGE_CAPTURE_PACKETS
    if line["stage"] == "scaling" and not large:
        target = None  # a small capture is one piece: there is nothing to share
    if target and "peak_rss_mib" in target and large:
        target = {**target, "peak_rss_mib": LARGE_CAPTURE_RSS_MIB}
    if target:
        line["target"] = target
        line["met"] = all(
            line[measure] >= bound if measure in MINIMA else line[measure] <= bound for measure, bound in target.items()
        )
    return line


def _generate(out: str, packets: int, seed: int, files: int = 1) -> None:
    subprocess.run(
        [sys.executable, str(GENERATOR), "--packets", str(packets), "--flows", str(packets * 6 // 100), "--seed", str(seed),
         "--files", str(files), "--out", out, "--quiet"],
        check=True,
    )


def _many_files(packets: int, repeat: int) -> dict:
    root = tempfile.mkdtemp(prefix="pcapflow-bench-many-")
    try:
        many, one = os.path.join(root, "many"), os.path.join(root, "one")
        os.mkdir(many)
        os.mkdir(one)
        _generate(os.path.join(many, "many.pcap"), packets, MANY_FILES_SEED, files=MANY_FILES)
        _generate(os.path.join(one, "one.pcap"), packets, MANY_FILES_SEED)
        runs_many = _in_process("summarise", many, repeat)
        runs_one = _in_process("summarise", one, repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    t_many = statistics.median(run["seconds"] for run in runs_many)
    t_one = statistics.median(run["seconds"] for run in runs_one)
    return {
        "stage": "many_files",
        "files": MANY_FILES,
        "packets": runs_one[0]["packets"],
        "seconds_many": round(t_many, 4),
        "seconds_one": round(t_one, 4),
        "overhead_ms_per_file": round((t_many - t_one) / MANY_FILES * 1000, 3),
        "peak_rss_mib": round(max(run["peak_rss_mib"] for run in runs_many + runs_one), 1),
        "runs": repeat,
    }


def _scaling(capture: str, packets: int, repeat: int) -> dict:
    """``pcapflow analyze`` with one worker and with two, alternated so that drift hits both alike."""
    one, two = [], []
    for _ in range(repeat):
        one.append(_whole_process([*_cli(), "analyze", "--workers", "1", capture]))
        two.append(_whole_process([*_cli(), "analyze", "--workers", "2", capture]))
    return {
        "stage": "scaling",
        "packets": packets,
        "seconds_workers_1": round(statistics.median(run["seconds"] for run in one), 4),
        "seconds_workers_2": round(statistics.median(run["seconds"] for run in two), 4),
        "speedup": round(statistics.median(a["seconds"] / b["seconds"] for a, b in zip(one, two)), 3),
        "peak_rss_mib": round(max(run["peak_rss_mib"] for run in one + two), 1),
        "runs": repeat,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, of: {','.join(STAGES)}")
    parser.add_argument("--generate", type=int, metavar="N",
                        help="if CAPTURE does not exist, write it first: N packets, N*6/100 flows, seed 1")
    parser.add_argument("--many-files-packets", type=int, default=100_000, metavar="N",
                        help="packets in all of the many_files stage's captures (default 100000)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.capture)
        return
    stages = args.stages.split(",")
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        parser.error(f"unknown stages: {', '.join(unknown)} (choose from {', '.join(STAGES)})")
    if args.generate and not os.path.exists(args.capture):
        os.makedirs(os.path.dirname(os.path.abspath(args.capture)), exist_ok=True)
        _generate(args.capture, args.generate, 1)
    packets = None  # the capture's records, from the first in-process stage
    for stage in stages:
        if stage in IN_PROCESS:
            runs = _in_process(stage, args.capture, args.repeat)
            packets = runs[0]["packets"]
            extra = {"formats": list(_export_formats())} if stage == "export" else {}
            print(json.dumps(_judge(_line(stage, runs, packets, **extra))), flush=True)
        elif stage == "end_to_end":
            if packets is None:
                packets = _in_process("read", args.capture, 1)[0]["packets"]
            command = [*_cli(), "analyze", args.capture]
            runs = [_whole_process(command) for _ in range(args.repeat)]
            print(json.dumps(_judge(_line(stage, runs, packets, command="pcapflow analyze CAPTURE"))), flush=True)
        elif stage == "scaling":
            if packets is None:
                packets = _in_process("read", args.capture, 1)[0]["packets"]
            print(json.dumps(_judge(_scaling(args.capture, packets, args.repeat))), flush=True)
        elif stage == "startup":
            sample = f"{SAMPLE.parent.name}/{SAMPLE.name}"
            for label, command in (("pcapflow --help", ["--help"]), (f"pcapflow analyze {sample}", ["analyze", str(SAMPLE)])):
                runs = [_whole_process([*_cli(), *command]) for _ in range(args.repeat)]
                line = _line(stage, runs, None, command=label)
                del line["packets"]
                print(json.dumps(_judge(line)), flush=True)
        else:
            print(json.dumps(_judge(_many_files(args.many_files_packets, args.repeat))), flush=True)


if __name__ == "__main__":
    main()
