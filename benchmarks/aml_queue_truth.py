"""Why one more AML reviewer saves almost nothing in the model (issue 12, ``aml_reviewer_plus_one``).

The bank generator's account opening sends 4 % of the cases to a manual AML review, released at
10:00 and 15:00 and done by one reviewer who also works transaction-monitoring alerts first
(background work, not in the process's log). Per seed this prints:

* **truth** (the generator's ground truth and its counterfactual): per review the hold until the
  release (B2 ``held_s``) and the queue after it, the queue split into the reviewer's time on
  other reviews (in the log), on alerts (not in it) and the rest (off shift); the true saving;
* **what the log shows**: the reviewer's logged hours against the alerts' hours, the share of
  reviews that start in the release minute, reviews per release;
* **the model** (fitted as ``whatif_truth.py`` fits it, on the process alone and with the
  reviewer's other work, ``--other-work``): the waiting-cause split of the reviews' waiting (§7.1,
  hours of wall clock), the calibrated staff-wait share, the simulated wait and the scenario's
  paired saving over ``--runs`` runs (common random numbers, no bootstrap refits).

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/aml_queue_truth.py --work /tmp/whatif-truth --seeds 21,22
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from whatif_truth import CUSTOMER_ATTRIBUTES, SCENARIOS, TZ, generate, other_work_of, with_case_attributes

PROCESS, REMEDY, STEP = "account_opening", "aml_reviewer_plus_one", "Manual AML Review"
RELEASES_MIN = (600, 900)  # 10:00 and 15:00, local


def busy_h(work: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> float:
    """Hours of ``work`` (start_ts, end_ts) inside [lo, hi)."""
    x = work[(work.end_ts > lo) & (work.start_ts < hi)]
    return float((x.end_ts.clip(upper=hi) - x.start_ts.clip(lower=lo)).dt.total_seconds().sum()) / 3600


def truth(out: Path, events: pd.DataFrame, background: pd.DataFrame) -> dict[str, float]:
    """The reviews' hold and queue in the generator and what one more reviewer saves."""
    ev = events[events.process == PROCESS]
    gt = pd.read_parquet(out / "ground_truth.parquet")
    gt = gt[(gt.process == PROCESS) & (gt.activity == STEP)]
    held = {r.case_id: json.loads(r.params).get("held_s", 0.0) for r in gt[gt.code == "B2"].itertuples()}
    rev = ev[ev.activity == STEP].set_index("case_id")
    ready = ev[ev.activity == "AML Screening"].set_index("case_id").end_ts
    alerts = background[background.resource_id.isin(rev.resource_id.unique())]
    q = other = hidden = 0.0
    releases = []
    for c, r in rev.iterrows():
        release = ready[c] + pd.Timedelta(seconds=held.get(c, 0.0))
        releases.append(release.floor("min"))
        if r.start_ts <= release:
            continue
        q += (r.start_ts - release).total_seconds() / 3600
        other += busy_h(rev, release, r.start_ts)
        hidden += busy_h(alerts, release, r.start_ts)
    tobe = pd.read_parquet(out / "counterfactuals" / f"savings_{REMEDY}.parquet")
    # the remedy's complaints (triggered by other cases) are in the file too
    tobe = tobe[tobe.process == PROCESS]
    saved = float(tobe.saving_s.sum()) / 3600
    local = rev.start_ts.dt.tz_convert(TZ)
    minute = local.dt.hour * 60 + local.dt.minute
    at = minute.isin(RELEASES_MIN)
    return {
        "reviews": len(rev),
        "held_h_per_review": sum(held.get(c, 0.0) for c in rev.index) / 3600 / len(rev),
        "queue_h_per_review": q / len(rev),
        "queue_behind_reviews_h": other,
        "queue_behind_alerts_h": hidden,
        "queue_off_shift_or_idle_h": q - other - hidden,
        "true_saving_h_total": saved,
        "true_saving_h_per_case": saved / len(tobe),
        "review_hours_in_log": float((rev.end_ts - rev.start_ts).dt.total_seconds().sum()) / 3600,
        "alert_hours_not_in_log": float((alerts.end_ts - alerts.start_ts).dt.total_seconds().sum()) / 3600,
        "share_started_in_release_minute": float(at.mean()),
        "reviews_per_release": len(rev) / len(set(releases)),
        "releases_of_one_review_share": float((pd.Series(releases).value_counts() == 1).mean()),
    }


def model_side(
    events: pd.DataFrame, cases: pd.DataFrame, background: pd.DataFrame | None, runs: int
) -> dict[str, float]:
    """The fitted model's view of the reviews and the scenario's paired saving."""
    import flowlens
    from flowlens.simulation.engine import simulate
    from flowlens.simulation.fit import build, observe
    from flowlens.simulation.scenarios import Scenario

    asis = events[events.process == PROCESS]
    other = (
        flowlens.read_log(other_work_of(events, background, PROCESS), tz=TZ)
        if background is not None
        else None
    )
    obs = observe(flowlens.read_log(with_case_attributes(asis, cases), tz=TZ), other_work=other)
    model = build(obs)
    i = obs.inst[obs.inst.activity.astype(str) == STEP]
    cause = {
        c[:-3]: float(i[c].fillna(0).mean()) / 3.6e9
        for c in ("batching_us", "extraneous_us", "contention_us", "prioritization_us", "unavailability_us")
    }
    scen = Scenario.from_file(SCENARIOS / f"{REMEDY}.{PROCESS}.toml").apply(model)
    n, start = int(asis.case_id.nunique()), asis.start_ts.min().tz_convert(TZ)

    def run(m: object, seed: int) -> tuple[float, float]:
        d = simulate(m, cases=n, start=start, seed=seed, with_enabled=True)
        g = d.groupby("case_id")
        lead = float(((g.end_time.max() - g.start_time.min()).dt.total_seconds() / 3600).mean())
        x = d[d.activity == STEP]
        return lead, float(((x.start_time - x.enabled_time).dt.total_seconds() / 3600).mean())

    pairs = [(run(model, s), run(scen, s)) for s in range(1, runs + 1)]
    sav = np.array([b[0] - a[0] for b, a in pairs])
    pool = next(
        p for p in model.pools.values() if set(p["members"]) & set(asis[asis.activity == STEP].resource_id)
    )
    ow = pool.get("other_work") or {}
    return {
        **{f"log_{k}_h": v for k, v in cause.items()},
        "log_wait_h": float((i.s_us - i.enabled_us).mean()) / 3.6e9,
        "calibrated_share": float(model.fitted.get("calibrated_staff_wait_share", {}).get(STEP, 0.0)),
        "other_work_h_per_week": float(ow.get("observed", {}).get("hours_per_week_per_member", 0.0)),
        "sim_wait_h": float(np.mean([b[1] for b, _ in pairs])),
        "sim_wait_plus_one_h": float(np.mean([a[1] for _, a in pairs])),
        "saving_h_per_case": float(sav.mean()),
        "saving_sd": float(sav.std(ddof=1)) if len(sav) > 1 else 0.0,
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="whatif_truth.py's --work folder")
    ap.add_argument("--seeds", default="21,22")
    ap.add_argument("--runs", type=int, default=3, help="paired runs per model")
    a = ap.parse_args(argv)
    for seed in [int(s) for s in a.seeds.split(",")]:
        out = generate("demo", seed, [REMEDY], a.work)
        events = pd.read_parquet(out / "events.parquet")
        cases = pd.read_parquet(out / "cases.parquet").merge(
            pd.read_parquet(out / "customers.parquet")[["customer_id", *CUSTOMER_ATTRIBUTES]],
            on="customer_id",
            how="left",
        )
        background = pd.read_parquet(out / "background_events.parquet")
        print(f"\n### seed {seed}: truth")
        for k, v in truth(out, events, background).items():
            print(f"  {k:36s} {v:10.4f}")
        for label, bg in (
            ("process alone (as in the truth table)", None),
            ("with the reviewer's other work", background),
        ):
            print(f"### seed {seed}: model, {label}")
            for k, v in model_side(events, cases, bg, a.runs).items():
                print(f"  {k:36s} {v:10.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
