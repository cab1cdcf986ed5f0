"""Simulation speed: flowlens against Prosimos 2.1.0 on the same model, side by side in one run.

For each log (the bank demo ``event_logs/bank_demo/events.parquet``, 26k cases and 314k events,
and LoanApp's train part from ``../shared``), a child process reads the log and fits the model
(``flowlens.simulation.fit.fit_model``: the fitting time is measured) and saves it; another
sets the arrival level (``--arrival-level``) and exports the model for Prosimos
(``flowlens.simulation.prosimos.export_prosimos``). Then, repeated (median of ``--repeat``,
default 3), each in a fresh child process:

* flowlens: ``simulate(model, cases=N, seed=S, warmup_cases=0)`` from the end of the fitted
  period (no warm-up cases: Prosimos has none), the log kept in memory (a DataFrame); writing
  it as CSV with the CLI's ``write_log`` is timed apart;
* Prosimos 2.1.0 (its own virtualenv, ``--prosimos-python``): ``run_simulation`` on the exported
  BPMN + JSON for the same N cases from the same start, writing its CSV log (its normal mode:
  Prosimos writes each row as it simulates, so its time includes the writing).

N is ``--cases`` (default 10^4) for both tools and ``--flowlens-cases`` (default 10^5) for
flowlens alone. An *event* is one start or one end of an activity instance (a log row is two
events). Per run: wall and CPU seconds of the simulation (imports before the clock), simulated
events per CPU-second, peak resident memory of the child (``ru_maxrss``) and its growth during
the simulation per simulated case, and the 1-minute load average before the run (on 2 cores,
load above 2 means contended figures: compare ratios from the same run). Tools alternate who
goes first in each repeat.

``--arrival-level whole`` (the default) simulates at the arrival level of the whole fitted
period, not of its last four weeks as ``fit_model`` sets it: the bank demo's cases start in
September and October and its last four weeks hold 3 case starts, so as fitted (level 0.0004)
10^4 cases would arrive over decades and both tools would spend their time laying out
calendars, not simulating. ``--arrival-level fitted`` keeps the model as fitted.

Usage::

    .venv/bin/python benchmarks/bench_simulation.py --prosimos-python /path/to/venv-prosimos/bin/python
    .venv/bin/python benchmarks/bench_simulation.py --logs bank --repeat 1 --json > sim.json
    .venv/bin/python benchmarks/bench_simulation.py --work DIR --reuse-fit   # the models fitted in DIR before

A virtualenv for Prosimos (not a flowlens dependency)::

    python3 -m venv .venv-prosimos && .venv-prosimos/bin/pip install prosimos==2.1.0
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LOGS = {
    "bank": REPO / "event_logs" / "bank_demo" / "events.parquet",
    "loanapp": REPO.parent / "shared" / "event_logs" / "loanapp-sim" / "LoanApp_simplified_train.csv.gz",
}
PROSIMOS_VERSION = "2.1.0"


# --------------------------------------------------------------------------- children
def _rss_now() -> int:
    """This process's resident set size in bytes (Linux)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _peak() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # KiB on Linux


def child_fit(log: str, model_out: str) -> dict[str, Any]:
    import flowlens
    from flowlens.simulation.fit import fit_model

    t0, c0 = time.perf_counter(), time.process_time()
    event_log = flowlens.read_log(log)
    t1, c1 = time.perf_counter(), time.process_time()
    model = fit_model(event_log)
    t2, c2 = time.perf_counter(), time.process_time()
    model.save(model_out)
    return {
        "cases": event_log.n_cases,
        "events": int(model.fitted.get("events", 0)),
        "read_wall_s": t1 - t0,
        "read_cpu_s": c1 - c0,
        "fit_wall_s": t2 - t1,
        "fit_cpu_s": c2 - c1,
        "activities": len(model.activities),
        "pools": len(model.pools),
        "members": sum(len(p["members"]) for p in model.pools.values()),
        "start": model.fitted.get("end"),
        "recent_level": (model.arrivals.get("observed") or {}).get("recent_level"),
        "peak_rss_bytes": _peak(),
    }


def child_prepare(model_in: str, level: str, model_out: str, export_dir: str) -> dict[str, Any]:
    """The model the tools run (the arrival level of the whole fitted period with ``level``
    ``whole``) and its export for Prosimos."""
    from flowlens.simulation import SimulationModel
    from flowlens.simulation.prosimos import export_prosimos

    model = SimulationModel.load(model_in)
    factor = 1.0
    if level == "whole":
        factor = 1.0 / float((model.arrivals.get("observed") or {}).get("recent_level") or 1.0)
        model.arrivals["intensity"] = [[v * factor for v in row] for row in model.arrivals["intensity"]]
    model.save(model_out)
    t0 = time.perf_counter()
    export_prosimos(model, export_dir)
    per_week = sum(sum(row) for row in model.arrivals["intensity"])
    return {
        "intensity_factor": factor,
        "arrivals_per_week": per_week,
        "export_wall_s": time.perf_counter() - t0,
    }


def child_flowlens(model_path: str, cases: int, seed: int, start: str, out_csv: str) -> dict[str, Any]:
    from flowlens.cli.simulate_cmd import write_log
    from flowlens.simulation import SimulationModel, simulate

    model = SimulationModel.load(model_path)
    # lazy imports (scipy.special, pyarrow.compute) before the clock
    write_log(simulate(model, cases=2, seed=seed, start=start, warmup_cases=0), Path(out_csv))
    base = _rss_now()
    t0, c0 = time.perf_counter(), time.process_time()
    frame = simulate(model, cases=cases, seed=seed, start=start, warmup_cases=0)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = _peak()
    t1, c1 = time.perf_counter(), time.process_time()
    write_log(frame, Path(out_csv))
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "csv_wall_s": time.perf_counter() - t1,
        "csv_cpu_s": time.process_time() - c1,
        "rows": len(frame),
        "cases_out": int(frame.case_id.nunique()),
        "peak_rss_bytes": peak,
        "rss_before_bytes": base,
    }


def child_prosimos(bpmn: str, params: str, cases: int, seed: int, start: str, out_csv: str) -> dict[str, Any]:
    import random
    from importlib.metadata import version

    import numpy as np
    from prosimos.simulation_engine import run_simulation

    if version("prosimos") != PROSIMOS_VERSION:
        raise SystemExit(
            f"this benchmark compares with Prosimos {PROSIMOS_VERSION}, found {version('prosimos')}"
        )
    random.seed(seed)
    np.random.seed(seed)
    base = _rss_now()
    t0, c0 = time.perf_counter(), time.process_time()
    run_simulation(bpmn, params, cases, log_out_path=out_csv, starting_at=start)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = _peak()
    rows, case_ids = 0, set()
    with open(out_csv, encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            rows += 1
            case_ids.add(line.split(",", 1)[0])
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "rows": rows,
        "cases_out": len(case_ids),
        "peak_rss_bytes": peak,
        "rss_before_bytes": base,
    }


# --------------------------------------------------------------------------- the parent
def run_child(python: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(
        [python, str(Path(__file__).resolve()), *args], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {args[0]} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["load_1min"] = load
    out["child_wall_s"] = time.perf_counter() - t0
    return out


def summary(runs: list[dict[str, Any]], cases: int) -> dict[str, Any]:
    def med(key: str) -> float:
        return float(statistics.median(r[key] for r in runs))

    events = [2 * r["rows"] for r in runs]
    per_cpu = [e / r["cpu_s"] for e, r in zip(events, runs, strict=True)]
    out = {
        "cases": cases,
        "runs": len(runs),
        "events": int(statistics.median(events)),
        "wall_s": med("wall_s"),
        "cpu_s": med("cpu_s"),
        "events_per_cpu_s": float(statistics.median(per_cpu)),
        "events_per_cpu_s_range": [min(per_cpu), max(per_cpu)],
        "peak_rss_bytes": int(med("peak_rss_bytes")),
        "peak_rss_per_case_bytes": med("peak_rss_bytes") / cases,
        "growth_per_case_bytes": statistics.median(
            (r["peak_rss_bytes"] - r["rss_before_bytes"]) / cases for r in runs
        ),
        "load_1min": [round(r["load_1min"], 2) for r in runs],
        "all": runs,
    }
    if "csv_wall_s" in runs[0]:
        out["csv_wall_s"] = med("csv_wall_s")
        out["csv_cpu_s"] = med("csv_cpu_s")
        out["events_per_cpu_s_with_csv"] = float(
            statistics.median(2 * r["rows"] / (r["cpu_s"] + r["csv_cpu_s"]) for r in runs)
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--logs", default="bank,loanapp", help=f"comma-separated, of {', '.join(LOGS)}")
    ap.add_argument("--cases", type=float, default=1e4, help="cases simulated by both tools")
    ap.add_argument(
        "--flowlens-cases", type=float, default=1e5, help="cases simulated by flowlens alone (0: none)"
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--prosimos-python",
        default=os.environ.get("PROSIMOS_PYTHON", str(REPO / ".venv-prosimos" / "bin" / "python")),
        help="python of a virtualenv with prosimos==2.1.0 (env PROSIMOS_PYTHON); 'none' to skip Prosimos",
    )
    ap.add_argument("--flowlens-src", type=Path, default=REPO / "src", help="src folder to measure")
    ap.add_argument("--work", type=Path, help="folder for models, exports and logs (default: a temp folder)")
    ap.add_argument(
        "--json", action="store_true", help="print the results as JSON (the table goes to stderr)"
    )
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    ap.add_argument(
        "--arrival-level",
        choices=["whole", "fitted"],
        default="whole",
        help="arrival level: the whole fitted period's (default) or the model's as fitted (its last four weeks')",
    )
    ap.add_argument("--reuse-fit", action="store_true", help="reuse the models fitted in --work before")
    args = ap.parse_args()
    prosimos = args.prosimos_python if args.prosimos_python != "none" else None
    if prosimos and not Path(prosimos).exists():
        raise SystemExit(
            f"no Prosimos python at {prosimos}: create a virtualenv with prosimos=={PROSIMOS_VERSION} "
            "(see this file's docstring) and pass --prosimos-python, or --prosimos-python none"
        )
    env = {**os.environ, "PYTHONPATH": str(args.flowlens_src)}
    penv = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_sim_"))
    work.mkdir(parents=True, exist_ok=True)
    n_both, n_alone = int(args.cases), int(args.flowlens_cases)
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "event": "one start or one end of an activity instance (a log row is two events)",
        "logs": {},
    }
    say = (lambda s: print(s, file=sys.stderr)) if args.json else print
    for name in args.logs.split(","):
        log = LOGS[name]
        d = work / name
        d.mkdir(exist_ok=True)
        fitted, model, export = d / "model.json", d / "model_run.json", d / "prosimos"
        if args.reuse_fit and (d / "fit.json").exists() and fitted.exists():
            say(f"[{name}] reusing the model fitted in {d}")
            fit = json.loads((d / "fit.json").read_text())
        else:
            say(f"[{name}] fitting {log.name} ...")
            fit = run_child(sys.executable, ["_fit", str(log), str(fitted)], env)
            (d / "fit.json").write_text(json.dumps(fit, indent=1) + "\n")
        prep = run_child(
            sys.executable, ["_prepare", str(fitted), args.arrival_level, str(model), str(export)], env
        )
        fit = {**fit, **prep, "arrival_level": args.arrival_level}
        res: dict[str, Any] = {"log": str(log), "fit": fit}
        start = str(fit["start"])
        both: dict[str, list[dict[str, Any]]] = {"flowlens": [], "prosimos": []}
        alone: list[dict[str, Any]] = []
        for rep in range(args.repeat):
            seed = args.seed + rep
            tools = ["flowlens", "prosimos"] if rep % 2 == 0 else ["prosimos", "flowlens"]
            for tool in tools:
                if tool == "prosimos" and not prosimos:
                    continue
                say(f"[{name}] {tool} {n_both} cases, run {rep + 1}/{args.repeat} ...")
                csv = str(d / f"{tool}_{n_both}.csv")
                if tool == "flowlens":
                    r = run_child(
                        sys.executable, ["_flowlens", str(model), str(n_both), str(seed), start, csv], env
                    )
                else:
                    r = run_child(
                        prosimos,
                        [
                            "_prosimos",
                            str(export / "prosimos.bpmn"),
                            str(export / "prosimos.json"),
                            str(n_both),
                            str(seed),
                            start,
                            csv,
                        ],
                        penv,
                    )
                if r["cases_out"] != n_both:
                    raise SystemExit(f"{tool} simulated {r['cases_out']} cases, not {n_both}")
                both[tool].append(r)
            if n_alone:
                say(f"[{name}] flowlens {n_alone} cases, run {rep + 1}/{args.repeat} ...")
                csv = str(d / f"flowlens_{n_alone}.csv")
                alone.append(
                    run_child(
                        sys.executable, ["_flowlens", str(model), str(n_alone), str(seed), start, csv], env
                    )
                )
        res["flowlens"] = summary(both["flowlens"], n_both)
        if both["prosimos"]:
            res["prosimos"] = summary(both["prosimos"], n_both)
            res["ratio_events_per_cpu_s"] = (
                res["flowlens"]["events_per_cpu_s"] / res["prosimos"]["events_per_cpu_s"]
            )
            res["ratio_events_per_cpu_s_with_csv"] = (
                res["flowlens"]["events_per_cpu_s_with_csv"] / res["prosimos"]["events_per_cpu_s"]
            )
        if alone:
            res["flowlens_alone"] = summary(alone, n_alone)
        report["logs"][name] = res
        say(table(name, res))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    if args.json:
        print(json.dumps(report, indent=1))
    return 0


def table(name: str, res: dict[str, Any]) -> str:
    fit = res["fit"]
    lines = [
        f"\n## {name}: {fit['cases']:,} cases, {fit['events']:,} events; {fit['activities']} activities, "
        f"{fit['pools']} pools ({fit['members']} people)",
        f"read {fit['read_wall_s']:.1f} s; fit_model {fit['fit_wall_s']:.1f} s wall, {fit['fit_cpu_s']:.1f} s CPU; "
        f"export for Prosimos {fit['export_wall_s']:.2f} s; arrivals {fit['arrivals_per_week']:,.0f} a week "
        f"({fit['arrival_level']} level: the fitted intensity x {fit['intensity_factor']:.4g})",
        "",
        "| tool | cases | events | wall s | CPU s | events / CPU s | + CSV: CPU s | + CSV: events / CPU s "
        "| peak MB | KB / case (peak) | KB / case (growth) | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, label in (
        ("flowlens", "flowlens"),
        ("prosimos", "Prosimos 2.1.0"),
        ("flowlens_alone", "flowlens"),
    ):
        if key not in res:
            continue
        s = res[key]
        csv = (
            f"{s['cpu_s'] + s['csv_cpu_s']:.2f} | {s['events_per_cpu_s_with_csv']:,.0f}"
            if "csv_cpu_s" in s
            else "(writes as it runs) | "
        )
        lines.append(
            f"| {label} | {s['cases']:,} | {s['events']:,} | {s['wall_s']:.2f} | {s['cpu_s']:.2f} | "
            f"{s['events_per_cpu_s']:,.0f} | {csv} | {s['peak_rss_bytes'] / 1e6:.0f} | "
            f"{s['peak_rss_per_case_bytes'] / 1e3:.1f} | {s['growth_per_case_bytes'] / 1e3:.1f} | "
            f"{', '.join(f'{x:.1f}' for x in s['load_1min'])} |"
        )
    if "ratio_events_per_cpu_s" in res:
        fl = res["flowlens"]
        lines.append(
            f"\nflowlens / Prosimos, events per CPU-second: {res['ratio_events_per_cpu_s']:.1f}x "
            f"({res['ratio_events_per_cpu_s_with_csv']:.1f}x counting flowlens's CSV writing, "
            f"{fl['csv_wall_s']:.2f} s for {fl['cases']:,} cases)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        kind, rest = sys.argv[1], sys.argv[2:]
        if kind == "_fit":
            result = child_fit(*rest)
        elif kind == "_prepare":
            result = child_prepare(*rest)
        elif kind == "_flowlens":
            result = child_flowlens(rest[0], int(rest[1]), int(rest[2]), rest[3], rest[4])
        else:
            result = child_prosimos(rest[0], rest[1], int(rest[2]), int(rest[3]), rest[4], rest[5])
        print(json.dumps(result))
        sys.exit(0)
    sys.exit(main())
