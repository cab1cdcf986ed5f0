"""Benchmark ``find_wastes``: all registered detectors on a 10^6-event bank log.

The log is the synthetic bank ``demo`` preset run with several seeds (11, 12, ...; remedies
off, Parquet only) and concatenated, with the seed prefixed to case, customer, contact and
event and resource ids so that runs do not mix (shared resource ids would
make one person do four runs' work). At most ``--max-runs`` distinct runs are generated; larger
logs repeat them as further copies with their own id prefix (a bank of more branches with the
same traffic each). Demo runs are cached in ``--cache``. The shared analyses (time model,
waiting-cause decomposition, customer journeys) are timed apart before the detectors. The figures are the
wall time of reading the log and of ``find_wastes`` (time model, shared analyses and every
detector, deduplication and ranking), per detector, and the peak memory of the process.

Usage::

    .venv/bin/python benchmarks/bench_findings.py                      # 10^6 events
    .venv/bin/python benchmarks/bench_findings.py --events 1e7 --out benchmarks/results/findings_1e7.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def demo_run(seed: int, cache: Path) -> Path:
    out = cache / f"demo_seed{seed}"
    if not (out / "events.parquet").exists():
        from flowlens.synth.bank import generate_bank

        generate_bank(
            preset="demo",
            seed=seed,
            out_dir=out,
            remedies="none",
            formats=("parquet",),
            hide_ground_truth=True,
            jobs=1,
        )
    return out / "events.parquet"


def build_log(target: int, cache: Path, max_runs: int = 4) -> tuple[Path, int, list[int]]:
    path = cache / f"bank_concat_v3_{target}_{max_runs}.parquet"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        m = json.loads(meta.read_text())
        return path, int(m["events"]), list(m["seeds"])
    import pyarrow as pa
    import pyarrow.parquet as pq

    n, seeds, k = 0, [], 0
    writer = None
    while n < target:
        seed = 11 + k % max_runs
        df = pd.read_parquet(demo_run(seed, cache))
        tag = f"s{seed}-" if k < max_runs else f"c{k // max_runs}s{seed}-"
        for col in ("case_id", "customer_id", "contact_id", "event_id", "resource_id"):
            if col in df:
                df[col] = (tag + df[col].astype("string")).where(df[col].notna(), None)
        table = pa.Table.from_pandas(df, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table.cast(writer.schema))
        n += len(df)
        seeds.append(seed)
        k += 1
    assert writer is not None
    writer.close()
    meta.write_text(json.dumps({"events": n, "seeds": seeds}))
    return path, n, seeds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=float, default=1e6, help="at least this many events (default 1e6)")
    ap.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "flowlens_bench_findings"
    )
    ap.add_argument(
        "--max-runs", type=int, default=4, help="distinct demo runs (seeds) to generate (default 4)"
    )
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    ap.add_argument(
        "--waiting-method",
        choices=["auto", "prefix", "sweep"],
        default="auto",
        help="waiting-cause split: prefix sums (auto on DuckDB) or the engine sweep (same numbers)",
    )
    ap.add_argument("--memory-limit", help="the engine's memory limit (flowlens --memory-limit), e.g. 6GB")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)

    load_start = round(os.getloadavg()[0], 1)
    t0 = time.perf_counter()
    path, events, seeds = build_log(int(args.events), args.cache, args.max_runs)
    t_build = time.perf_counter() - t0

    import flowlens
    from flowlens.findings.api import find_wastes
    from flowlens.findings.context import FindingContext

    t0 = time.perf_counter()
    log = (
        flowlens.read_log(path, memory_limit=args.memory_limit)
        if args.memory_limit
        else flowlens.read_log(path)
    )
    t_read = time.perf_counter() - t0
    shared: dict[str, float] = {}
    # CPU seconds of the process (every engine thread): on a shared machine they move less with
    # the load than wall seconds
    cpu: dict[str, float] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    ctx = FindingContext(log, seed=0, waiting_method=args.waiting_method)
    for name, get in (
        ("time_model", lambda: ctx.tm.instances.count().to_pandas()),
        ("waiting_causes", lambda: ctx.waiting),
        ("journeys", lambda: ctx.journeys),
    ):
        t1, c1 = time.perf_counter(), time.process_time()
        get()
        shared[name] = round(time.perf_counter() - t1, 1)
        cpu[name] = round(time.process_time() - c1, 1)
        print(f"{name}: {shared[name]} s (CPU {cpu[name]} s)", file=sys.stderr, flush=True)
    from flowlens.findings.api import load_detectors

    def timed(det):  # type: ignore[no-untyped-def]
        # each detector's seconds and the peak so far, printed as it ends: a run stopped by a
        # watchdog still shows how far it got
        def run(c):  # type: ignore[no-untyped-def]
            t1, c1 = time.perf_counter(), time.process_time()
            out = det.fn(c)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            cpu[det.name] = round(time.process_time() - c1, 1)
            print(
                f"{det.name}: {time.perf_counter() - t1:.1f} s (CPU {cpu[det.name]} s), peak {peak:.0f} MiB, "
                f"load {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
                flush=True,
            )
            return out

        run.name = det.name  # type: ignore[attr-defined]
        return run

    loaded, _ = load_detectors()
    report = find_wastes(log, ctx=ctx, detectors=[timed(d) for d in loaded])
    t_find = time.perf_counter() - t0
    cpu_find = time.process_time() - c0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "events": events,
        "seeds": seeds,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "build_log_s": round(t_build, 1),
        "read_s": round(t_read, 1),
        "find_wastes_s": round(t_find, 1),
        "detectors_s": {d["name"]: d["seconds"] for d in report.detectors},
        "shared_analyses_s": shared,
        "find_wastes_cpu_s": round(cpu_find, 1),
        "cpu_s": cpu,
        "missing_detectors": report.missing,
        "findings": len(report.findings),
        "peak_rss_mib": round(peak_mib),
        "bytes_per_event_peak": round(peak_mib * 2**20 / events),
        "waiting_method": args.waiting_method,
        "memory_limit": args.memory_limit,
        "load_1min_at_start": load_start,
        "load_1min_at_end": round(os.getloadavg()[0], 1),
        "target_s": 60,
        "within_target": t_find < 60,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
