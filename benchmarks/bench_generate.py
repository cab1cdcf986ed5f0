"""Benchmark ``flowlens generate bank``: wall time and peak memory per preset.

Each preset runs in a fresh subprocess (the CLI), so the figures include start-up, the
simulation, the counterfactuals and all writing. Peak memory is reported two ways: the largest
single process (``getrusage(RUSAGE_CHILDREN).ru_maxrss``) and the largest sum over the process
tree (the generator forks up to two workers), sampled every 0.2 s from /proc.

Usage::

    .venv/bin/python benchmarks/bench_generate.py                 # demo and large
    .venv/bin/python benchmarks/bench_generate.py --presets demo --out /tmp/bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _tree_rss_kib(root: int) -> int:
    """Sum of the proportional set size (Pss: shared pages split between the processes that
    share them, so forked workers are not counted twice) over ``root`` and its descendants."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                ppid, vm = 0, 0
                for line in fh:
                    if line.startswith("PPid:"):
                        ppid = int(line.split()[1])
                    elif line.startswith("VmRSS:"):
                        vm = int(line.split()[1])
            parents[int(entry)] = ppid
            rss[int(entry)] = vm
            try:
                with open(f"/proc/{entry}/smaps_rollup") as fh:
                    for line in fh:
                        if line.startswith("Pss:"):
                            rss[int(entry)] = int(line.split()[1])
                            break
            except OSError:
                pass
        except (OSError, ValueError):
            continue
    total, todo = 0, [root]
    seen = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += rss.get(pid, 0)
        todo += [c for c, p in parents.items() if p == pid]
    return total


def run(preset: str, seed: int, jobs: int | None) -> dict[str, object]:
    out = Path(tempfile.mkdtemp(prefix=f"bench-{preset}-"))
    cmd = [
        sys.executable,
        "-m",
        "flowlens",
        "generate",
        "bank",
        "--preset",
        preset,
        "--seed",
        str(seed),
        "-o",
        str(out),
        "--json",
    ]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    peak = {"tree": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak["tree"] = max(peak["tree"], _tree_rss_kib(proc.pid))

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    th.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{preset} failed:\n{stderr.decode()}")
    summary = json.loads(stdout)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "preset": preset,
        "seed": seed,
        "wall_s": round(wall, 1),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
        "peak_rss_single_process_mib": round(after.ru_maxrss / 1024, 1),
        "peak_pss_process_tree_mib": round(peak["tree"] / 1024, 1),
        "cases": summary["total_cases"],
        "events": summary["total_events"],
        "counterfactuals": len(summary["remedies"]),
        "output_mib": round(size / 2**20, 1),
        "out_dir": str(out),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="demo,large")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None, help="Write the results as JSON here.")
    args = ap.parse_args()
    results = []
    for preset in args.presets.split(","):
        r = run(preset.strip(), args.seed, args.jobs)
        results.append(r)
        print(json.dumps(r), flush=True)
    meta = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg_at_end": os.getloadavg(),
        "results": results,
    }
    if args.out:
        args.out.write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    main()
