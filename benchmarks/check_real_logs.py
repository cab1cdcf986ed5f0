"""Do the report's numbers add up on logs flowlens was not built around? (issue 9)

For each shared real log (and the bundled demo), run ``flowlens analyze`` twice into fresh
folders and check, from the written files:

* **waiting <= lead**: total customer waiting (results.json ``waiting.overall.waiting_s``) is
  at most the cases' total lead time (``summary`` mean x cases, as the stop hook computes it);
* **reconciles**: per case, service + customer waiting = customer lead time and customer lead
  time + time after the clock stop = lead time, exactly (from the time model, in microseconds),
  and the report's totals say the same;
* **transitions on the map**: every transition the waiting and bottleneck sections name is an
  edge of the directly-follows graph, and is drawn on the report's map;
* **same bytes**: the two runs' results.json are identical;
* wall time and peak memory of one run (``/usr/bin/time``-style, from ``os.wait4``).

    .venv/bin/python benchmarks/check_real_logs.py                 # every shared log + demo
    .venv/bin/python benchmarks/check_real_logs.py helpdesk sepsis # some of them
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(os.environ.get("FLOWLENS_SHARED_LOGS", REPO.parent / "shared" / "event_logs"))
DEMO = REPO / "event_logs" / "bank_demo"
LOGS: dict[str, list[str]] = {
    "bpic2012": [str(SHARED / "bpic2012/BPI_Challenge_2012.xes.gz")],
    "bpic2012-w": [str(SHARED / "bpic2012-w/BPIC_2012_W.csv.gz")],
    "bpic2013-incidents": [str(SHARED / "bpic2013-incidents/bpic2013_incidents.xes.gz")],
    "bpic2013-problems": [str(SHARED / "bpic2013-closed-problems/bpic2013_closed_problems.xes.gz")],
    "helpdesk": [str(SHARED / "helpdesk/helpdesk.xes.gz")],
    "sepsis": [str(SHARED / "sepsis/sepsis.xes.gz")],
    "receipt": [str(SHARED / "receipt/receipt.xes.gz")],
    "roadtraffic100": [str(SHARED / "roadtraffic100/roadtraffic100traces.xes")],
    "bank-callcenter": [str(SHARED / "bank-callcenter/august_calls_eventlog.csv.gz")],
    "loanapp": [str(SHARED / "loanapp-sim/LoanApp_simplified_train.csv.gz")],
    "purchasing": [str(SHARED / "purchasing-sim/PurchasingExample.csv.gz")],
    "insurance": [str(SHARED / "insurance-claims-sim/Insurance_Claims_train.csv.gz")],
    "demo": [
        str(DEMO / "events.parquet"),
        "--tz",
        "Asia/Shanghai",
        "--cases",
        str(DEMO / "cases.parquet"),
        "--calendar",
        str(DEMO / "calendars.toml"),
        "--other-work",
        str(DEMO / "background_events.parquet"),
        "--sla",
        "CN_NFRA_2020",
    ],
}


def run(args: list[str], out: Path) -> tuple[float, float, int]:
    """Run ``flowlens analyze`` as a child; wall seconds, peak RSS in MB, exit code."""
    cmd = [sys.executable, "-m", "flowlens", "analyze", *args, "-o", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(err[-2000:], file=sys.stderr)
    return wall, usage.ru_maxrss / 1024, code


def per_case(args: list[str]) -> dict[str, object]:
    """Per-case reconciliation from the time model, as the report builds it."""
    import flowlens
    from flowlens.timing.model import time_model

    path, rest = args[0], args[1:]
    tz = rest[rest.index("--tz") + 1] if "--tz" in rest else "UTC"
    log = flowlens.read_log(path, tz=tz)
    c = time_model(log).cases.to_pandas()
    service_ok = bool((c.service_us + c.wait_sum_us == c.customer_lead_us).all())
    lead_ok = bool((c.customer_lead_us + c.after_stop_us == c.lead_us).all())
    return {"cases": len(c), "per_case_reconciles": service_ok and lead_ok}


def check(name: str, args: list[str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"check-{name}-") as d:
        a, b = Path(d) / "a", Path(d) / "b"
        wall, rss, code = run(args, a)
        if code != 0:
            return {"log": name, "error": f"exit {code}"}
        run(args, b)
        ra, rb = (a / "results.json").read_bytes(), (b / "results.json").read_bytes()
        res = json.loads(ra)
    s = res["sections"]
    lead_total = float(s["summary"]["lead_time_s"]["mean"]) * int(s["summary"]["cases"])
    out: dict[str, object] = {"log": name, "wall_s": round(wall, 1), "peak_mb": round(rss)}
    waiting = s.get("waiting")
    if waiting:
        w = float(waiting["overall"]["waiting_s"])
        rec = waiting["overall"]["reconciliation"]
        out["waiting_over_lead"] = round(w / lead_total, 4) if lead_total else None
        parts = rec["service_s"] + rec["customer_waiting_s"] + rec["after_clock_stop_s"]
        out["totals_reconcile"] = abs(parts - rec["lead_time_total_s"]) <= 1e-6 * max(1.0, parts)
        out["after_clock_stop_share"] = round(rec["after_clock_stop_s"] / lead_total, 4) if lead_total else 0
        edges = {(e["source"], e["target"]) for e in s["map"]["edges"]}
        drawn = {tuple(e) for e in s["map"]["shown"]["edges"]}
        named = {
            (r["prev_activity"], r["activity"])
            for r in waiting["by_transition"][:12]
            if r["prev_activity"] is not None and r["wait_s"] > 0
        }
        for lv in s.get("bottlenecks", {}).get("levels", {}).get("transition", [])[:10]:
            if lv.get("from_activity") not in (None, "(case start)") and lv.get("waiting_total_s", 0) > 0:
                named.add((lv["from_activity"], lv["activity"]))
        out["named_transitions"] = len(named)
        out["named_in_dfg"] = named <= edges
        out["named_drawn"] = named <= drawn
    out["identical_runs"] = ra == rb
    out.update(per_case(args))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("logs", nargs="*", default=list(LOGS), help=f"some of: {', '.join(LOGS)}")
    ap.add_argument("--json", action="store_true", help="one JSON list on stdout")
    a = ap.parse_args()
    rows = []
    for name in a.logs:
        row = check(name, LOGS[name])
        rows.append(row)
        if not a.json:
            print(json.dumps(row), flush=True)
    if a.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
