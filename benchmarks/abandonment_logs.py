"""Which shared real logs have abandonment points, and does the simulation reproduce their
leaving? (issue 12, methods §16.9)

Per log (``tests/conftest.py`` ``SHARED`` names and column maps): the fit's observations
(``observe``) and its abandonment points (``abandonment_points``): per point, the cases that
leave and their share, the Kaplan–Meier median patience (leavers observed, served censored)
against the leavers' own median wait (what ignoring the censoring would say), and the queue share
(the served cases' wait in which their server was busy, methods §16.9). For a log with
points, the model (``build``) simulates the log's own period (as many cases, from its first
start, seed 1) and the simulated leaving share is printed beside the log's.

    PYTHONPATH=src .venv/bin/python benchmarks/abandonment_logs.py               # every log
    PYTHONPATH=src .venv/bin/python benchmarks/abandonment_logs.py bank-callcenter

Each log runs in its own process (``--one NAME``), so a big one's memory is given back.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def left_share(frame: pd.DataFrame, point: str, served: list[str]) -> float:
    """The share of ``point``'s instances in a simulated frame whose next step is not served."""
    f = frame.sort_values(["case_id", "start_time", "end_time"], kind="stable")
    nxt = f.groupby("case_id").activity.shift(-1).fillna("(end)")
    return float((~nxt[f.activity == point].isin(served)).mean())


def one(name: str) -> str:
    """One line on log ``name``."""
    import numpy as np
    from shared_logs import observed

    from flowlens.simulation.abandonment import abandonment_points
    from flowlens.simulation.engine import simulate
    from flowlens.simulation.fit import build

    t = time.process_time()
    obs = observed(name)
    if isinstance(obs, str):
        return obs
    points = abandonment_points(obs.inst, set(obs.shares_of), obs.concurrent)
    if not points:
        return f"{name}: no abandonment point; {time.process_time() - t:.1f} CPU s"
    inst = obs.inst
    nxt_s = inst.groupby("case_idx", sort=False).s_us.shift(-1)
    parts = []
    model = build(obs)
    start = pd.Timestamp(int(inst.s_us.min()), unit="us", tz="UTC")
    sim = simulate(model, cases=obs.n_cases, start=start, seed=1)
    for a, p in points.items():
        g = inst[inst.activity == a]
        left = ~g["next"].astype(str).isin(p["served"])
        waited = (np.where(g["next"].astype(str) == "(end)", g.end_us, nxt_s.loc[g.index]) - g.s_us) / 1e6
        o = p["observed"]
        parts.append(
            f"{a} -> served {p['served']}, leave {p['leave']}: {o['left']} of {o['instances']} leave "
            f"({o['left_share']:.3f}); simulated {left_share(sim, a, p['served']):.3f}; patience median "
            f"{o['patience_median_s']} s (Kaplan-Meier) vs {float(np.median(waited[left])):.0f} s (leavers' "
            f"waits alone); never leaves {p['patient_share']:.3f}; wait recorded in the step: {p['waits_in_point']}; "
            f"queue share {o['queue_share']}"
        )
    return f"{name}: {'; '.join(parts)}; {time.process_time() - t:.1f} CPU s"


def main(argv: list[str] | None = None) -> int:
    from conftest import SHARED

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help=f"logs (default all: {', '.join(SHARED)})")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(one(args.one), flush=True)
        return 0
    for name in args.names or list(SHARED):
        subprocess.run([sys.executable, __file__, "--one", name], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
