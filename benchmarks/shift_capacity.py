"""People at work per hour of day in a pool of shifts: the log against simulations with and
without the shifts (issue 12, methods §16.2 "Shifts").

One bank demo process (default ``service_issue``, Asia/Shanghai) is fitted twice: as the fit
does (``observe`` + ``build``) and with the shift rule switched off (every person of a group on
the group's calendar, as before it). Both models simulate as many cases as the log has from the
log's first arrival (seed 1, ``with_enabled``). Per pool with ``member_calendars`` and per hour
of day: the mean number of its people who start work in that hour (over the days they work),
in the log and in each simulation; then the mean wait of the pool's steps (enabled to start)
and the mean lead time.

    PYTHONPATH=src .venv/bin/python benchmarks/shift_capacity.py
    PYTHONPATH=src .venv/bin/python benchmarks/shift_capacity.py --process card_dispute
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
TZ = "Asia/Shanghai"
HOURS = range(6, 24)


def people_per_hour(frame: pd.DataFrame, members: list[str]) -> np.ndarray:
    """Mean number of ``members`` starting work per hour of day (6..23), over the days with any."""
    f = frame[frame.resource.isin(members)]
    local = pd.DatetimeIndex(f.start_time).tz_convert(TZ)
    per = pd.Series(f.resource.to_numpy()).groupby([local.normalize(), local.hour]).nunique()
    return per.groupby(level=1).mean().reindex(list(HOURS)).fillna(0).to_numpy()


def main(argv: list[str] | None = None) -> int:
    import flowlens
    from flowlens.simulation import fit
    from flowlens.simulation.engine import simulate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--process", default="service_issue")
    a = ap.parse_args(argv)
    t0 = time.process_time()
    events = pd.read_parquet(REPO / "event_logs" / "bank_demo" / "events.parquet")
    events = events[events.process == a.process]
    log = flowlens.read_log(events, tz=TZ)
    with_shifts = fit.build(fit.observe(log))
    with mock.patch.object(fit, "_shift_calendars", lambda *args, **kw: {}):
        pooled = fit.build(fit.observe(log))
    frame = events.rename(columns={"resource_id": "resource", "start_ts": "start_time", "end_ts": "end_time"})
    start = frame.start_time.min()
    n = int(events.case_id.nunique())
    sims = {
        name: simulate(m, cases=n, seed=1, start=start.tz_convert(TZ), with_enabled=True)
        for name, m in (("pooled", pooled), ("shifts", with_shifts))
    }
    print(f"bank demo {a.process}: {n} cases; hours {HOURS.start}..{HOURS.stop - 1} (local)")
    for name, pool in with_shifts.pools.items():
        if "member_calendars" not in pool:
            continue
        members = pool["members"]
        print(f"{name}: {len(members)} people, shifts {sorted(set(pool['member_calendars'].values()))}")
        for label, f in (("log", frame), *sims.items()):
            row = " ".join(f"{x:4.1f}" for x in people_per_hour(f, members))
            print(f"  {label:<7} people starting work per hour {row}")
        steps = [s for s, spec in with_shifts.activities.items() if name in (spec.get("pools") or {})]
        for label, f in sims.items():
            g = f[f.activity.isin(steps)]
            wait = (g.start_time - g.enabled_time).dt.total_seconds()
            print(f"  {label:<7} wait of its steps: mean {wait.mean():.0f} s, p90 {wait.quantile(0.9):.0f} s")
    for label, f in sims.items():
        lead = f.groupby("case_id").agg(a=("start_time", "min"), b=("end_time", "max"))
        print(f"{label}: mean lead time {(lead.b - lead.a).dt.total_seconds().mean() / 3600:.2f} h")
    print(f"{time.process_time() - t0:.1f} CPU s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
