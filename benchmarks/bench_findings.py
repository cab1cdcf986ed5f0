"""Benchmark ``find_wastes``: all registered detectors on a 10^6-event bank log.

The log is the synthetic bank ``demo`` preset run with several seeds (11, 12, ...; remedies
off, Parquet only) and concatenated, with the seed prefixed to case, customer, contact and
event and resource ids so that runs do not mix (shared resource ids would
make one person do four runs' work). Demo runs are cached in ``--cache``. The figures are the
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


def build_log(target: int, cache: Path) -> tuple[Path, int, list[int]]:
    path = cache / f"bank_concat_v2_{target}.parquet"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        m = json.loads(meta.read_text())
        return path, int(m["events"]), list(m["seeds"])
    frames, n, seeds = [], 0, []
    seed = 11
    while n < target:
        df = pd.read_parquet(demo_run(seed, cache))
        for col in ("case_id", "customer_id", "contact_id", "event_id", "resource_id"):
            if col in df:
                df[col] = (f"s{seed}-" + df[col].astype("string")).where(df[col].notna(), None)
        frames.append(df)
        n += len(df)
        seeds.append(seed)
        seed += 1
    pd.concat(frames, ignore_index=True).to_parquet(path, index=False)
    meta.write_text(json.dumps({"events": n, "seeds": seeds}))
    return path, n, seeds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=float, default=1e6, help="at least this many events (default 1e6)")
    ap.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "flowlens_bench_findings"
    )
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    path, events, seeds = build_log(int(args.events), args.cache)
    t_build = time.perf_counter() - t0

    import flowlens
    from flowlens.findings.api import find_wastes

    t0 = time.perf_counter()
    log = flowlens.read_log(path)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = find_wastes(log, seed=0)
    t_find = time.perf_counter() - t0
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
        "shared_analyses_s": round(t_find - sum(d["seconds"] for d in report.detectors), 1),
        "missing_detectors": report.missing,
        "findings": len(report.findings),
        "peak_rss_mib": round(peak_mib),
        "target_s": 60,
        "within_target": t_find < 60,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
