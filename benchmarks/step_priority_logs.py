"""Which steps the fit would serve when idle on the shared real logs (issue 12, methods §16.2).

Per log (one process each; ``tests/conftest.py`` ``SHARED`` names and column maps): the fit's
observations (``observe``), its pools, the queues that do not settle (``unsettled_queues``) and,
of those, the steps served when idle (``served_when_idle``), with the lowest started ÷ enabled
ratio of a staffed step over the middle half of the period (what the first test reads).

    PYTHONPATH=src .venv/bin/python benchmarks/step_priority_logs.py               # every log
    PYTHONPATH=src .venv/bin/python benchmarks/step_priority_logs.py sepsis helpdesk

Each log runs in its own process (``--one NAME``), so a big one's memory is given back.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def one(name: str) -> str:
    """One line on log ``name``."""
    from shared_logs import observed

    from flowlens.simulation.fit import _pools, unsettled_queues
    from flowlens.simulation.step_priority import mid_flow, middle_half, served_when_idle

    t = time.process_time()
    obs = observed(name)
    if isinstance(obs, str):
        return obs
    pools, shares = _pools(obs.inst, obs.groups, obs.cal_of)
    growing = unsettled_queues(obs.inst, shares)
    idle = served_when_idle(obs.inst, growing, pools)
    staffed = [a for a, s in shares.items() if s]
    window = middle_half(obs.inst)
    low = "-"
    if window and staffed:
        flow = mid_flow(obs.inst[obs.inst.activity.isin(staffed)], *window)
        per = flow.groupby("activity")[["enabled_mid", "started_mid"]].sum()
        per = per[per.enabled_mid >= 30]
        if len(per):
            ratio = (per.started_mid / per.enabled_mid).sort_values(kind="stable")
            a = ratio.index[0]
            low = f"{a} {ratio.iloc[0]:.2f} ({int(per.started_mid[a])}/{int(per.enabled_mid[a])})"
    return (
        f"{name}: staffed steps {len(staffed)}, pools {len(pools)}, starts estimated "
        f"{obs.starts_estimated}; growing {[g['activity'] for g in growing]}; served when idle "
        f"{[(e['activity'], e['extraneous_share']) for e in idle]}; lowest ratio {low}; "
        f"{time.process_time() - t:.1f} CPU s"
    )


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
