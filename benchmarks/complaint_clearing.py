"""When the complaint callbacks' backlog clears, in the generator's logs and in the model (issue 12,
diagnostic of the complaint rows' wrong signs).

The complaint handlers serve the satisfaction callback only when nothing else of theirs waits
(``fitted.served_when_idle``, methods §16.2): the callbacks pile up for weeks and clear in one
run once the handlers' other work thins out. Most of a complaint's mean lead time is then the
wait for that run (``fitted.unsettled_queues``' ``wait_per_case_h``), so a remedy's saving rests
on how it moves the run. Per seed this prints:

* **the logs** (the as-is log and each complaint remedy's counterfactual): the *clearing*, the
  first callback started after the longest stretch in which none was (the run that ends the
  backlog); the callbacks started from it to its week's end; the truth (as-is mean lead time
  − to-be, hours, as ``whatif_truth.py``) and its part after 'Close Complaint' (the callbacks'
  share); the handlers' waiting work at the as-is clearing's morning, hours (their steps other
  than the callback whose previous step in the case had ended, not yet started; the hours they
  then took);
* **the model** fitted on the as-is log (``--other-work off`` and ``on``, as
  ``whatif_truth.py``), the paired saving of each scenario over ``--replications`` seeds,
  mean and sd, with arrivals drawn as the model does and with the log's own arrival times
  replayed (the same period's arrivals, the taper at its end included): if the model cannot
  give a remedy's sign even given the period's arrivals and the handlers' whole workload, the
  sign rests on something the as-is log does not show.

Replaying arrivals replaces the engine's private ``_arrival_times`` for the run (a benchmark's
diagnostic, not an interface).

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/complaint_clearing.py --seeds 21,22 --work /tmp/flowlens_whatif_truth
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from whatif_truth import (
    CUSTOMER_ATTRIBUTES,
    TZ,
    generate,
    mean_lead_h,
    other_work_of,
    scenario_files,
    with_case_attributes,
)

PROCESS = "complaint"
CALLBACK = "Callback Customer"
CLOSE = "Close Complaint"


def clearing(events: pd.DataFrame) -> pd.Timestamp:
    """The first callback start after the longest stretch without one."""
    t = events.loc[events.activity == CALLBACK, "start_ts"].sort_values().reset_index(drop=True)
    return t.iloc[int(t.diff().dt.total_seconds().fillna(0).to_numpy().argmax())]


def waiting_work_h(events: pd.DataFrame, at: pd.Timestamp, staff: set[str]) -> float:
    """Hours of the staff's steps (callbacks left out) ready at ``at`` (the case's previous step
    ended) and not started: the backlog the callbacks wait behind."""
    c = events.sort_values(["case_id", "start_ts", "end_ts"])
    ready = c.groupby("case_id").end_ts.shift().fillna(c.start_ts)
    mine = c.resource_id.isin(staff) & (c.activity != CALLBACK) & (ready <= at) & (c.start_ts > at)
    return float((c.end_ts - c.start_ts)[mine].dt.total_seconds().sum() / 3600)


def log_rows(out: Path, remedies: Sequence[str]) -> list[dict[str, Any]]:
    """One row per log (as-is first): clearing, callbacks in its week, truth and its split."""
    events = pd.read_parquet(out / "events.parquet")
    asis = events[events.process == PROCESS]
    staff = set(asis.loc[asis.activity == CALLBACK, "resource_id"].dropna())
    at = clearing(asis)
    morning = at.tz_convert(TZ).normalize().tz_convert(at.tz) + pd.Timedelta(hours=9)
    rows = []
    for name in ["as-is", *remedies]:
        if name == "as-is":
            ev = asis
        else:
            tobe = pd.read_parquet(out / "counterfactuals" / f"events_tobe_{name}.parquet")
            ev = tobe[tobe.process == PROCESS]
        clear = clearing(ev)
        week_end = clear.tz_convert(TZ).normalize().tz_convert(clear.tz) + pd.Timedelta(
            days=7 - clear.tz_convert(TZ).weekday()
        )
        cb = ev.loc[ev.activity == CALLBACK, "start_ts"]
        to_close = (
            ev[ev.activity == CLOSE].groupby("case_id").end_ts.max() - ev.groupby("case_id").start_ts.min()
        )
        a_close = (
            asis[asis.activity == CLOSE].groupby("case_id").end_ts.max()
            - asis.groupby("case_id").start_ts.min()
        )
        truth = mean_lead_h(asis) - mean_lead_h(ev)
        truth_close = (a_close.dt.total_seconds().mean() - to_close.dt.total_seconds().mean()) / 3600
        rows.append(
            {
                "log": name,
                "clearing": clear.tz_convert(TZ).strftime("%m-%d %a %H:%M"),
                "clearing_shift_h": round((clear - at).total_seconds() / 3600, 1),
                "callbacks_before_week_end": int(((cb >= clear) & (cb < week_end)).sum()),
                "callbacks_after_week_end": int((cb >= week_end).sum()),
                "waiting_work_h_at_asis_morning": round(waiting_work_h(ev, morning, staff), 1),
                "truth_h": round(truth, 2),
                "truth_to_close_h": round(truth_close, 2),
                "truth_after_close_h": round(truth - truth_close, 2),
            }
        )
    return rows


@contextmanager
def replayed_arrivals(first_starts: np.ndarray) -> Iterator[None]:
    """The engine places the measured cases at ``first_starts`` (epoch seconds), warm-up kept."""
    import flowlens.simulation.engine as engine

    drawn = engine._arrival_times

    def replay(model: Any, start: float, n: int, n_before: int, seed: int) -> np.ndarray:
        times = drawn(model, start, n, n_before, seed)
        times[n_before:] = first_starts[:n]
        return times

    engine._arrival_times = replay
    try:
        yield
    finally:
        engine._arrival_times = drawn


def model_rows(
    out: Path, remedies: Sequence[str], files: dict[str, dict[str, Path]], replications: int
) -> list[dict[str, Any]]:
    """Paired savings of the fitted model, other work off/on × arrivals drawn/replayed."""
    import flowlens
    from flowlens.simulation.engine import simulate
    from flowlens.simulation.fit import build, observe
    from flowlens.simulation.scenarios import Scenario

    events = pd.read_parquet(out / "events.parquet")
    cases = pd.read_parquet(out / "cases.parquet")
    customers = pd.read_parquet(out / "customers.parquet")
    cases = cases.merge(customers[["customer_id", *CUSTOMER_ATTRIBUTES]], on="customer_id", how="left")
    asis = events[events.process == PROCESS]
    firsts = asis.groupby("case_id").start_ts.min().sort_values()
    first_s = np.array([t.timestamp() for t in firsts])
    start = firsts.iloc[0].tz_convert(TZ)
    frame = flowlens.read_log(with_case_attributes(asis, cases), tz=TZ)
    rows = []
    for other_work in (False, True):
        other = None
        if other_work:
            background = pd.read_parquet(out / "background_events.parquet")
            other = flowlens.read_log(other_work_of(events, background, PROCESS), tz=TZ)
        model = build(observe(frame, other_work=other))
        changed = {r: Scenario.from_file(files[r][PROCESS]).apply(model) for r in remedies}

        def lead(m: Any, seed: int) -> float:
            f = simulate(m, cases=len(first_s), start=start, seed=seed)
            g = f.groupby("case_id")
            return float(((g.end_time.max() - g.start_time.min()).dt.total_seconds() / 3600).mean())

        for arrivals in ("drawn", "replayed"):
            t0 = time.process_time()
            savings: dict[str, list[float]] = {r: [] for r in remedies}
            base: list[float] = []
            with replayed_arrivals(first_s) if arrivals == "replayed" else nullcontext():
                for seed in range(1, replications + 1):
                    b = lead(model, seed)
                    base.append(b)
                    for r in remedies:
                        savings[r].append(b - lead(changed[r], seed))
            for r in remedies:
                v = np.asarray(savings[r])
                rows.append(
                    {
                        "other_work": "on" if other_work else "off",
                        "arrivals": arrivals,
                        "remedy": r,
                        "baseline_h": round(float(np.mean(base)), 1),
                        "saving_mean_h": round(float(v.mean()), 2),
                        "saving_sd_h": round(float(v.std(ddof=1)), 2),
                        "negative_runs": f"{int((v < 0).sum())}/{len(v)}",
                        "cpu_s": round(time.process_time() - t0, 1),
                    }
                )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="21,22", help="comma list")
    ap.add_argument("--replications", type=int, default=5)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "flowlens_whatif_truth")
    a = ap.parse_args(argv)
    files = scenario_files(processes=[PROCESS])
    remedies = sorted(files)
    pd.set_option("display.width", 250)
    for seed in (int(s) for s in a.seeds.split(",")):
        out = generate("demo", seed, remedies, a.work)
        print(f"\nseed {seed}: the logs (clearing shift: to-be − as-is, hours)")
        print(pd.DataFrame(log_rows(out, remedies)).to_string(index=False))
        print(f"\nseed {seed}: the model fitted on the as-is log, {a.replications} paired runs per cell")
        print(pd.DataFrame(model_rows(out, remedies, files, a.replications)).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
