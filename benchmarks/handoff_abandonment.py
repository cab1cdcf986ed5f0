"""Where the warm-handoff saving comes from: the generator's as-is and to-be service logs against
the fitted model's baseline and scenario with common random numbers (issue 12).

The bank's ``warm_handoff`` remedy removes 'Re-explain Issue' and the check after it; most of its
true saving runs through abandonment (the first-line agents, freed, answer sooner; fewer
callers hang up and call again days later). Per seed this fits the service log as
``whatif_truth.py`` does (the process alone, its case table joined on), simulates the baseline
and the scenario ``--replications`` times with one seed each (as ``whatif`` pairs them) and
prints, for the generator's two logs and the mean of the simulated pairs:

* the saving split (cases whose lead time moves by more than 20 h, the rest) and the
  abandons it removes;
* calls left at the queue, answered calls' wait (queue entry to answer), hours worked by the
  first-line agents (AGT-*), per day and by hour of day (local time);
* the work of the first line and the specialists (SPC-*) per step, hours over the period;
* 'IVR Menu' starts by hour of day, a case's first against its later ones (repeat contacts).

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/handoff_abandonment.py --work /tmp/whatif-truth --seeds 21
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from whatif_truth import CUSTOMER_ATTRIBUTES, SCENARIOS, TZ, generate, with_case_attributes

PROCESS, REMEDY = "service_issue", "warm_handoff"
#: A case "moves" when its lead time changes by more than this (hours).
BIG_MOVE_H = 20.0


def steps_frame(events: pd.DataFrame, simulated: bool) -> pd.DataFrame:
    """case, act, res, s, e (local wall time) of a generated or a simulated log, in case order."""
    if simulated:
        res, s, e = events.resource, pd.to_datetime(events.start_time), pd.to_datetime(events.end_time)
    else:
        res, s, e = events.resource_id, events.start_ts, events.end_ts
    d = pd.DataFrame(
        {
            "case": events.case_id.to_numpy(),
            "act": events.activity.to_numpy(),
            "res": res.astype(str).to_numpy(),
            "s": s.dt.tz_convert(TZ).dt.tz_localize(None).to_numpy(),
            "e": e.dt.tz_convert(TZ).dt.tz_localize(None).to_numpy(),
        }
    )
    return d.sort_values(["case", "s", "e"], kind="stable").reset_index(drop=True)


def figures(d: pd.DataFrame) -> tuple[dict[str, float], pd.DataFrame, pd.Series, pd.DataFrame]:
    """Whole-period figures, the same by hour of day, per-case lead time, work per team and step."""
    days = (d.s.max() - d.s.min()).total_seconds() / 86400
    g = d.groupby("case")
    lead = (g.e.max() - g.s.min()).dt.total_seconds() / 3600
    nxt_act, nxt_s = g.act.shift(-1), g.s.shift(-1)
    q = d[d.act == "Enter Queue"]
    left = nxt_act[q.index] == "Abandon Call"
    answered = nxt_act[q.index] == "Agent Answers"
    wait = (nxt_s[q.index] - q.s).dt.total_seconds()
    ab = d[d.act == "Abandon Call"]
    recall_h = (nxt_s[ab.index] - ab.e).dt.total_seconds() / 3600
    team = np.where(
        d.res.str.startswith("AGT"), "first line", np.where(d.res.str.startswith("SPC"), "specialists", "")
    )
    work_h = (d.e - d.s).dt.total_seconds() / 3600
    l1 = team == "first line"
    whole = {
        "lead_h": float(lead.mean()),
        "abandons_per_case": len(ab) / len(lead),
        "left_share": float(left.mean()),
        "answered_wait_s": float(wait[answered].mean()),
        "recall_delay_h": float(recall_h.mean()),
        "first_line_h_per_day": float(work_h[l1].sum() / days),
    }
    hours = pd.DataFrame(
        {
            "calls_per_day": q.s.dt.hour.value_counts() / days,
            "left_share": left.groupby(q.s.dt.hour).mean(),
            "answered_wait_s": wait[answered].groupby(q.s.dt.hour[answered]).mean(),
            "first_line_h_per_day": work_h[l1].groupby(d.s.dt.hour[l1]).sum() / days,
        }
    ).reindex(range(24))
    work = pd.DataFrame({"team": team, "act": d.act, "h": work_h})[team != ""]
    return whole, hours, lead, work.groupby(["team", "act"]).h.sum()


def saving_split(a: pd.Series, b: pd.Series, abandons: tuple[int, int]) -> dict[str, float]:
    """The mean saving per case, the part from cases that move by more than ``BIG_MOVE_H``."""
    d = (a - b.reindex(a.index)).fillna(0.0)
    big = d.abs() > BIG_MOVE_H
    return {
        "saving_h": float(d.mean()),
        "from_big_moves_h": float(d[big].sum() / len(d)),
        "big_moves": int(big.sum()),
        "big_shorter": int((d[big] > 0).sum()),
        "fewer_abandons": abandons[0] - abandons[1],
    }


def contact_hours(d: pd.DataFrame) -> pd.DataFrame:
    """'IVR Menu' starts per day by hour, a case's first and its later ones."""
    days = (d.s.max() - d.s.min()).total_seconds() / 86400
    m = d[d.act == "IVR Menu"]
    later = m.groupby("case").cumcount() > 0
    return pd.DataFrame(
        {
            k: m.s[sel].dt.hour.value_counts().reindex(range(24), fill_value=0) / days
            for k, sel in (("first", ~later), ("later", later))
        }
    ).T


def run_seed(seed: int, work: Path, replications: int) -> str:
    """The report of one seed."""
    import flowlens
    from flowlens.simulation.engine import simulate
    from flowlens.simulation.fit import build, observe
    from flowlens.simulation.scenarios import Scenario

    out = generate("demo", seed, [REMEDY], work)
    events = pd.read_parquet(out / "events.parquet")
    cases = pd.read_parquet(out / "cases.parquet")
    customers = pd.read_parquet(out / "customers.parquet")
    cases = cases.merge(customers[["customer_id", *CUSTOMER_ATTRIBUTES]], on="customer_id", how="left")
    asis = events[events.process == PROCESS]
    tobe = pd.read_parquet(out / "counterfactuals" / f"events_tobe_{REMEDY}.parquet")
    tobe = tobe[tobe.process == PROCESS]
    model = build(observe(flowlens.read_log(with_case_attributes(asis, cases), tz=TZ)))
    changed = Scenario.from_file(SCENARIOS / f"{REMEDY}.{PROCESS}.toml").apply(model)
    n, start = int(asis.case_id.nunique()), asis.start_ts.min().tz_convert(TZ)
    logs = {"generator as-is": steps_frame(asis, False), "generator to-be": steps_frame(tobe, False)}
    got = {k: figures(v) for k, v in logs.items()}
    splits = {
        "generator": saving_split(
            got["generator as-is"][2],
            got["generator to-be"][2],
            tuple(int((v.act == "Abandon Call").sum()) for v in logs.values()),  # type: ignore[arg-type]
        )
    }
    sims: dict[str, list[tuple[dict[str, float], pd.DataFrame, pd.Series, pd.DataFrame]]] = {
        "model baseline": [],
        "model scenario": [],
    }
    t0 = time.process_time()
    for r in range(replications):
        pair = [steps_frame(simulate(m, cases=n, start=start, seed=seed + r), True) for m in (model, changed)]
        for k, d in zip(sims, pair, strict=True):
            sims[k].append(figures(d))
        splits[f"model r{r}"] = saving_split(
            sims["model baseline"][-1][2],
            sims["model scenario"][-1][2],
            tuple(int((d.act == "Abandon Call").sum()) for d in pair),  # type: ignore[arg-type]
        )
        if r == 0:
            logs["model baseline"] = pair[0]
    cpu = time.process_time() - t0
    for k, runs in sims.items():
        got[k] = (
            pd.DataFrame([x[0] for x in runs]).mean().to_dict(),
            sum(x[1].fillna(0.0) for x in runs) / len(runs),
            runs[0][2],
            sum(x[3] for x in runs) / len(runs),
        )
    split = pd.DataFrame(splits).T
    split.loc["model mean"] = split[split.index.str.startswith("model r")].mean()
    lines = [
        f"seed {seed}: {n} cases; {replications} paired replications ({cpu:.1f} CPU s of simulation)",
        "",
        "saving split (per case, h; moves > 20 h)",
        split.round(3).to_string(),
        "",
        "whole period (model: mean of the replications)",
        pd.DataFrame({k: v[0] for k, v in got.items()}).T.round(3).to_string(),
    ]
    for col in ("calls_per_day", "left_share", "answered_wait_s", "first_line_h_per_day"):
        t = pd.DataFrame({k: v[1][col] for k, v in got.items()}).T
        lines += ["", f"{col} by hour of day (local)", t.round(3 if col == "left_share" else 1).to_string()]
    lines += [
        "",
        "work by team and step, h over the period",
        pd.DataFrame({k: v[3] for k, v in got.items()}).fillna(0.0).round(1).to_string(),
    ]
    contacts = pd.concat({k: contact_hours(logs[k]) for k in ("generator as-is", "model baseline")})
    contacts["per day"] = contacts.sum(axis=1)
    contacts["00-07 h share"] = contacts[list(range(8))].sum(axis=1) / contacts["per day"]
    lines += ["", "'IVR Menu' starts per day by hour (model: replication 0)", contacts.round(2).to_string()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="21", help="comma list")
    ap.add_argument("--replications", type=int, default=6)
    ap.add_argument("--work", type=Path, required=True, help="whatif_truth.py's --work (banks reused)")
    a = ap.parse_args(argv)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    for s in (int(x) for x in a.seeds.split(",")):
        print(run_seed(s, a.work, a.replications), end="\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
