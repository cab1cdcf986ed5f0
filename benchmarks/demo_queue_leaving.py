"""How many of the bank demo's queued calls leave in the simulation, overall and per hour of the
day, against the log (issue 12, methods §16.2 "Shifts" and "Pools after a step", §16.9).

The whole demo log (every process, with ``cases.parquet``) is fitted with ``fit_model``, with
the README's ``calendars.toml`` and ``background_events.parquet`` (``both``) or without them
(``none``), and simulated for 5,000 cases from 2024-09-09 with seed 1. Printed: the fit's and
the run's CPU seconds, the share of the simulated 'Enter Queue' whose next step is 'Abandon
Call', the served callers' wait ('Enter Queue' to 'Agent Answers'), per local hour the calls,
the share leaving and the mean wait (s); then the same for the log. With ``--holdout`` the
model is fitted on the first 80 % of the cases (by first start, as ``flowlens fidelity``) and
simulates as many cases as the rest from its first start: against that test part.

    PYTHONPATH=src .venv/bin/python benchmarks/demo_queue_leaving.py both
    PYTHONPATH=src .venv/bin/python benchmarks/demo_queue_leaving.py none
    PYTHONPATH=src .venv/bin/python benchmarks/demo_queue_leaving.py both --holdout
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

import flowlens
from flowlens.io.cases import add_case_attributes
from flowlens.simulation.engine import simulate
from flowlens.simulation.fit import fit_model

DEMO = Path(__file__).resolve().parents[1] / "event_logs" / "bank_demo"
POINT, SERVED, LEAVE = "Enter Queue", "Agent Answers", "Abandon Call"


def queue_table(frame: pd.DataFrame, case: str, start: str, end: str, tz: str) -> pd.DataFrame:
    """Per 'Enter Queue' instance of ``frame``: its local hour, whether the call left and its
    wait to the next step (s)."""
    f = frame.sort_values([case, start, end], kind="stable")
    nxt = f.groupby(case).activity.shift(-1)
    nxt_s = f.groupby(case)[start].shift(-1)
    q = f.activity == POINT
    return pd.DataFrame(
        {
            "hour": f[start][q].dt.tz_convert(tz).dt.hour,
            "left": nxt[q] == LEAVE,
            "served": nxt[q] == SERVED,
            "wait_s": (nxt_s[q] - f[start][q]).dt.total_seconds(),
        }
    )


def report(label: str, q: pd.DataFrame) -> None:
    served = q.wait_s[q.served]
    print(
        f"{label}: {len(q)} queued calls, {q.left.mean():.2%} leave; served wait mean "
        f"{served.mean():.1f} s, p75 {served.quantile(0.75):.1f} s, max {served.max():.1f} s"
    )
    per = q.groupby("hour").agg(n=("left", "size"), left=("left", "mean"), wait_mean_s=("wait_s", "mean"))
    print(per.round(2).T.to_string())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "mode", choices=["both", "none"], help="with the README's calendars and other work, or without"
    )
    ap.add_argument(
        "--holdout", action="store_true", help="fit on the first 80 %% of the cases, test on the rest"
    )
    args = ap.parse_args()
    tz = "Asia/Shanghai"
    events = pd.read_parquet(DEMO / "events.parquet")
    first = events.groupby("case_id").start_ts.min().sort_values()
    cut = int(len(first) * 0.8) if args.holdout else len(first)
    fitted = events[events.case_id.isin(set(first.index[:cut]))].reset_index(drop=True)
    log = add_case_attributes(flowlens.read_log(fitted, tz=tz), DEMO / "cases.parquet")
    kw = {}
    if args.mode == "both":
        kw = {
            "calendars": str(DEMO / "calendars.toml"),
            "other_work": flowlens.read_log(DEMO / "background_events.parquet", tz=tz),
        }
    t = time.process_time()
    model = fit_model(log, **kw)
    print(f"fit {time.process_time() - t:.1f} CPU s")
    t = time.process_time()
    if args.holdout:
        test = events[events.case_id.isin(set(first.index[cut:]))]
        sim = simulate(model, cases=len(first) - cut, start=str(first.iloc[cut].tz_convert(tz)), seed=1)
    else:
        test = events
        sim = simulate(model, cases=5000, start="2024-09-09", seed=1)
    print(f"simulate {time.process_time() - t:.1f} CPU s")
    for label, frame, cols in (
        ("simulated", sim, ("case_id", "start_time", "end_time")),
        ("test part" if args.holdout else "log", test, ("case_id", "start_ts", "end_ts")),
    ):
        per_case = (frame.activity == LEAVE).sum() / frame.case_id.nunique()
        print(f"{label}: {frame.case_id.nunique()} cases, '{LEAVE}' {per_case:.4f} per case")
        report(label, queue_table(frame, *cols, tz))


if __name__ == "__main__":
    main()
