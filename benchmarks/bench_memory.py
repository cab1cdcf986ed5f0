"""Peak memory of ``flowlens findings`` (``find_wastes``) and ``analyze`` under ``--memory-limit``.

The log is the one ``bench_findings.py`` builds: the synthetic bank ``demo`` preset run with
seeds 11-14 and concatenated (ids prefixed per run), repeated as further copies up to the size
asked for. Each measurement is a fresh ``python -m flowlens ...`` child; its wall time and peak
resident set size (``ru_maxrss`` from ``os.wait4``, the same figure ``/usr/bin/time -v`` prints
as "Maximum resident set size") are reported, with the limit, the threads and the spill folder.
The child's stdout goes to a file beside the results; a failing child makes the exit code 1.

Usage::

    .venv/bin/python benchmarks/bench_memory.py --events 1e7 --memory-limit 6GB
    .venv/bin/python benchmarks/bench_memory.py --events 1e6,3e6 --memory-limit 1GB,2GB --command findings
    .venv/bin/python benchmarks/bench_memory.py --events 1e6 --memory-limit none   # DuckDB's default

Each size is run with each limit (``none``: no option, DuckDB's default of 80 % of memory).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def run_child(args: list[str], out: Path, env: dict[str, str]) -> dict[str, object]:
    """Run ``python -m flowlens ARGS``; wall seconds, peak RSS (bytes) and exit status."""
    cmd = [sys.executable, "-m", "flowlens", *args]
    t0 = time.perf_counter()
    with out.open("wb") as fh, open(out.with_suffix(".err"), "wb") as err:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    return {
        "command": " ".join(["flowlens", *args]),
        "exit": code,
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        # Linux reports ru_maxrss in KiB
        "peak_rss_bytes": int(usage.ru_maxrss) * 1024,
        "stderr_tail": out.with_suffix(".err").read_text(errors="replace").strip().splitlines()[-3:],
    }


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", default="1e7", help="comma-separated sizes (at least this many events)")
    ap.add_argument("--memory-limit", default="6GB", help="comma-separated limits; 'none' for no option")
    ap.add_argument("--threads", type=int, help="--threads for the child (default: every core)")
    ap.add_argument("--command", choices=["findings", "analyze"], default="findings")
    ap.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "flowlens_bench_findings"
    )
    ap.add_argument("--temp-dir", type=Path, help="spill folder (default: the system temp folder)")
    ap.add_argument("--flowlens-src", type=Path, default=REPO / "src", help="src folder to measure")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)

    from bench_findings import build_log

    env = {**os.environ, "PYTHONPATH": str(args.flowlens_src)}
    # the options are measured, not the environment's defaults
    for var in ("FLOWLENS_MEMORY_LIMIT", "FLOWLENS_THREADS", "FLOWLENS_TEMP_DIR"):
        env.pop(var, None)
    results = []
    failed = False
    work = Path(tempfile.mkdtemp(prefix="bench_memory_"))
    for size in [float(s) for s in args.events.split(",")]:
        t0 = time.perf_counter()
        path, events, _ = build_log(int(size), args.cache)
        print(f"log: {path} ({events:,} events, built in {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        for limit in args.memory_limit.split(","):
            cli = [args.command, str(path)]
            if args.command == "analyze":
                cli += ["-o", str(work / f"report_{events}_{limit}")]
            else:
                cli += ["--json"]
            if limit != "none":
                cli += ["--memory-limit", limit]
            if args.threads:
                cli += ["--threads", str(args.threads)]
            if args.temp_dir:
                cli += ["--temp-dir", str(args.temp_dir)]
            print(f"running: flowlens {' '.join(cli)}", file=sys.stderr, flush=True)
            r = run_child(cli, work / f"{args.command}_{events}_{limit}.out", env)
            r.update(events=events, memory_limit=limit, threads=args.threads)
            results.append(r)
            failed |= r["exit"] != 0
            print(
                f"  exit {r['exit']}; wall {r['wall_s']} s; cpu {r['cpu_s']} s; "
                f"peak RSS {gb(float(r['peak_rss_bytes']))}",  # type: ignore[arg-type]
                file=sys.stderr,
                flush=True,
            )
    summary = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_1min_at_end": os.getloadavg()[0],
        "results": results,
        "outputs": str(work),
    }
    print(json.dumps(summary, indent=2))
    print("\n| events | command | --memory-limit | wall | peak RSS | exit |", file=sys.stderr)
    print("|---|---|---|---|---|---|", file=sys.stderr)
    for r in results:
        print(
            f"| {r['events']:,} | {args.command} | {r['memory_limit']} | {r['wall_s']} s | "
            f"{gb(float(r['peak_rss_bytes']))} | {r['exit']} |",  # type: ignore[arg-type]
            file=sys.stderr,
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
