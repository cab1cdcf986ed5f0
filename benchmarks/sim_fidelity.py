"""flowlens under the referee's simulation-fidelity protocol, side by side with Simod.

Runs ``../shared/sim_fidelity/protocol.py evaluate`` on loanapp, purchasing, insurance-claims
and bpic2012-w with ``flowlens fit`` as the discovery command and ``flowlens simulate`` as the
simulation command (K = 5, seed 1), writes ``benchmarks/results/sim_fidelity/flowlens_NAME.json``
and prints ``protocol.py summarize`` of flowlens's and Simod's results, log by log, then the
issue's targets (met or not) and, per log, flowlens's per-part diagnostics (methods §16.6,
what ``flowlens fidelity`` shows) computed on the referee's own test part, reference and
simulated logs: which part of the model misses.

Usage::

    .venv/bin/python benchmarks/sim_fidelity.py
    .venv/bin/python benchmarks/sim_fidelity.py --logs loanapp,bpic2012-w --no-diagnose
    .venv/bin/python benchmarks/sim_fidelity.py --summary-only     # tables from the JSONs

protocol.py needs a Python with pandas and log-distance-measures 2.2.0 (the flowlens venv has
both). The protocol's CSVs have naive timestamps: flowlens reads them as UTC and writes
"+00:00", which the protocol drops (equivalent).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
LOGS = {
    "loanapp": [
        "--log",
        "event_logs/loanapp-sim/LoanApp_simplified_train.csv.gz",
        "--test-log",
        "event_logs/loanapp-sim/LoanApp_simplified_test.csv.gz",
    ],
    "purchasing": ["--log", "event_logs/purchasing-sim/PurchasingExample.csv.gz"],
    "insurance-claims": ["--log", "event_logs/insurance-claims-sim/Insurance_Claims_train.csv.gz"],
    "bpic2012-w": ["--log", "event_logs/bpic2012-w/BPIC_2012_W.csv.gz"],
}
#: The measures flowlens must have below Simod's on every log (issue 11).
BELOW_SIMOD = ["ngram_2", "ngram_3", "aed_h", "cad_h", "ced", "red_h", "ctd_h"]


def log_args(name: str, shared: Path) -> list[str]:
    return [str(shared / a) if a.startswith("event_logs/") else a for a in LOGS[name]]


def flowlens_cmd(py: str, src: Path) -> str:
    return f"env PYTHONPATH={shlex.quote(str(src))} {shlex.quote(py)} -m flowlens"


def evaluate(name: str, args: argparse.Namespace, out: Path) -> int:
    fl = flowlens_cmd(args.python, args.flowlens_src)
    cmd = [
        args.python,
        str(args.shared / "sim_fidelity" / "protocol.py"),
        "evaluate",
        "--workdir",
        str(args.workdir),
        "--name",
        name,
        *log_args(name, args.shared),
        "--tool",
        "flowlens",
        "--discover-cmd",
        f"{fl} fit {{train}} -o {{model_dir}}/model.json",
        "--simulate-cmd",
        f"{fl} simulate {{model_dir}}/model.json --cases {{n_cases}} --start {{start}} "
        f"--seed {{seed}} --replications {{k}} -o {{out_dir}}",
        "--k",
        str(args.k),
        "--seed",
        str(args.seed),
        "--jobs",
        str(args.jobs),
        "--out",
        str(out),
    ]
    print(f"[sim_fidelity] {name}: protocol.py evaluate", file=sys.stderr, flush=True)
    return subprocess.call(cmd)


def read_common(path: Path):  # type: ignore[no-untyped-def]
    """A protocol CSV as the referee reads it: wall-clock times (an offset dropped) as UTC."""
    import pandas as pd

    df = pd.read_csv(path, dtype=str)
    df["case_id"] = df["case_id"].astype(str)
    for c in ("start_time", "end_time"):
        text = df[c].str.strip().str.replace(r"\s*(Z|[+-]\d\d(:?\d\d)?)$", "", regex=True)
        df[c] = pd.to_datetime(text, format="ISO8601").dt.tz_localize("UTC")
    if "resource" not in df:
        df["resource"] = None
    return df[["case_id", "activity", "resource", "start_time", "end_time"]]


def diagnose(name: str, args: argparse.Namespace, result: Path, out: Path) -> int:
    """flowlens's per-part diagnostics (methods §16.6) of the referee's own run: its test,
    reference (adjacent window, or train for a given pair) and flowlens's simulated logs."""
    sys.path.insert(0, str(args.flowlens_src))
    from flowlens.simulation.fidelity import diagnose as parts_of
    from flowlens.simulation.fidelity import verdict

    res = json.loads(result.read_text())
    if not res.get("metrics"):
        return 1
    base = args.workdir / name
    data = base / "data"
    test = read_common(data / "test.csv")
    adjacent = data / "adjacent.csv"
    ref_frame = read_common(adjacent if adjacent.exists() else data / "train.csv")
    sims = [read_common(p) for p in sorted((base / "flowlens" / "sims").glob("sim_*.csv"))]
    ref_name = "the window before" if adjacent.exists() else "train"
    parts = parts_of(test, sims, ref_frame, res["metrics"], res["reference"]["values"], ref_name)
    out.write_text(
        json.dumps({"log": name, "parts": parts, "verdict": verdict(parts)}, indent=1, default=float)
    )
    return 0


def targets(rows: dict[str, tuple[dict, dict]]) -> list[str]:
    """The issue's targets, met or not, from (flowlens, Simod) result pairs."""
    lines = ["| log | target | flowlens | goal | met |", "|---|---|---|---|---|"]
    for name, (fl, simod) in rows.items():
        if not fl.get("metrics"):
            lines.append(f"| {name} | run | {fl.get('status')} | ok | no |")
            continue
        m, s = fl["metrics"], simod["metrics"]
        for k in BELOW_SIMOD:
            v, goal = m[k]["mean"], s[k]["mean"]
            lines.append(
                f"| {name} | {k} below Simod | {v:.3f} | < {goal:.3f} | {'yes' if v < goal else 'no'} |"
            )
        if name in ("loanapp", "bpic2012-w"):
            e = m["ct_mean_rel_err"]["mean"]
            lines.append(
                f"| {name} | mean CT error | {100 * e:+.1f} % | ±10 % | {'yes' if abs(e) <= 0.10 else 'no'} |"
            )
        ctd, ref = m["ctd_h"]["mean"], fl["reference"]["values"]["ctd_h"]
        if name == "bpic2012-w":
            lines.append(
                f"| {name} | CTD ≤ 1.5 × adjacent window | {ctd:.2f} h ({ctd / ref:.2f} ×) | ≤ {1.5 * ref:.2f} h | "
                f"{'yes' if ctd <= 1.5 * ref else 'no'} |"
            )
        if name == "loanapp":
            lines.append(
                f"| {name} | CTD ≤ 1.8 h | {ctd:.2f} h | ≤ 1.8 h | {'yes' if ctd <= 1.8 else 'no'} |"
            )
    return lines


def parts_lines(name: str, path: Path) -> list[str]:
    try:
        d = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return [f"{name}: no diagnostics ({path})"]
    from flowlens.cli.fidelity_cmd import part_lines

    return [f"{name}: {d['verdict']['summary']}", *("  " + ln for ln in part_lines(d["parts"]))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--logs", default=",".join(LOGS), help="comma-separated names")
    ap.add_argument("--shared", type=Path, default=SHARED, help="the shared folder (protocol, logs, Simod)")
    ap.add_argument(
        "--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "flowlens_sim_fidelity"
    )
    ap.add_argument(
        "--python", default=sys.executable, help="Python with pandas and log-distance-measures 2.2.0"
    )
    ap.add_argument("--flowlens-src", type=Path, default=REPO / "src", help="src folder to measure")
    ap.add_argument("--out-dir", type=Path, default=REPO / "benchmarks" / "results" / "sim_fidelity")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2, help="simulated logs scored in parallel by the protocol")
    ap.add_argument("--no-diagnose", action="store_true", help="skip the per-part diagnostics")
    ap.add_argument("--summary-only", action="store_true", help="only print the tables from existing JSONs")
    args = ap.parse_args()
    names = [n.strip() for n in args.logs.split(",") if n.strip()]
    unknown = [n for n in names if n not in LOGS]
    if unknown:
        ap.error(f"unknown log {unknown[0]}; known: {', '.join(LOGS)}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    if not args.summary_only:
        for name in names:
            t0 = time.perf_counter()
            rc = evaluate(name, args, args.out_dir / f"flowlens_{name}.json")
            failed += rc != 0
            print(
                f"[sim_fidelity] {name}: done in {time.perf_counter() - t0:.0f} s (rc={rc})", file=sys.stderr
            )
    for name in names:
        # from the referee's own files (also with --summary-only, while the workdir is there)
        if not args.no_diagnose and (args.workdir / name / "flowlens" / "sims").is_dir():
            failed += diagnose(
                name, args, args.out_dir / f"flowlens_{name}.json", args.out_dir / f"diagnostics_{name}.json"
            )
    files = []
    for name in names:
        files += [
            args.out_dir / f"flowlens_{name}.json",
            args.shared / "sim_fidelity" / "results" / f"simod_{name}.json",
        ]
    summary = subprocess.run(
        [args.python, str(args.shared / "sim_fidelity" / "protocol.py"), "summarize", *map(str, files)],
        capture_output=True,
        text=True,
    )
    text = summary.stdout
    pairs = {
        n: (json.loads(files[2 * i].read_text()), json.loads(files[2 * i + 1].read_text()))
        for i, n in enumerate(names)
    }
    text += "\n" + "\n".join(targets(pairs)) + "\n"
    sys.path.insert(0, str(args.flowlens_src))
    diag = [ln for n in names for ln in parts_lines(n, args.out_dir / f"diagnostics_{n}.json")]
    if diag:
        text += "\nPer-part diagnostics of these runs (methods §16.6):\n\n```\n" + "\n".join(diag) + "\n```\n"
    print(text)
    (args.out_dir / "summary.md").write_text(text)
    return 1 if failed or summary.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
