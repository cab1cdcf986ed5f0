"""Who does a step under a scenario's removes, with ``pools_after`` (methods §16.2 "Pools after a
step", §16.4): the review cases of issue 12's ``pools_after``.

* the small call centre of ``tests/test_simulation_pools_after.py`` (500 calls, a third
  transferred to the specialist): its first 'Talk' of a case (the queued call's) by the
  specialist, as fitted and under ``remove Enter Queue``; a staffed 'Hang Up' (the way of
  leaving; half the specialist's, the first line's after 'Enter Queue') under the unrelated
  ``remove Transfer``; and whether scenarios that change nothing give the same frame;
* with ``--model`` (a fitted bank demo model, e.g. ``fit_model`` on
  ``event_logs/bank_demo/events.parquet``): the specialists' share of 'Agent Answers'
  (2,000 cases, seed 3) as fitted, under ``remove Enter Queue`` and ``cut_rework Enter Queue``,
  and the same-frame check.

Run against another revision's engine by putting its ``src`` first on ``PYTHONPATH``::

    PYTHONPATH=src .venv/bin/python benchmarks/pools_after_scenarios.py --model /tmp/bank.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from flowlens.simulation.engine import simulate  # noqa: E402
from flowlens.simulation.fit import fit_model  # noqa: E402
from flowlens.simulation.model import SimulationModel  # noqa: E402
from flowlens.simulation.scenarios import Scenario  # noqa: E402
from test_simulation_pools_after import (  # noqa: E402
    SPECIALIST,
    START,
    _first_talks,
    _pool,
    _with_transfers,
    call_log,
    read,
)


def edited(model: SimulationModel, *changes: dict[str, Any]) -> SimulationModel:
    return Scenario.from_dict({"name": "edit", "change": list(changes)}).apply(model)


def small() -> None:
    model = fit_model(read(_with_transfers(call_log(n=500))))
    kw: dict[str, Any] = {"cases": 600, "seed": 1, "start": str(START)}
    d = model.to_dict()
    first, special = _pool(model, "agent0"), _pool(model, SPECIALIST)
    d["activities"]["Hang Up"].update(
        pools={first: 0.5, special: 0.5}, pools_after={"Enter Queue": {first: 1}}
    )
    staffed = SimulationModel.from_dict(d)
    for name, m in [("as fitted", staffed), ("remove Transfer", edited(staffed, remove("Transfer")))]:
        sim = simulate(m, **kw)
        hang_ups = sim.resource[sim.activity == "Hang Up"]
        print(
            f"small, staffed Hang Up, {name}: {hang_ups.eq(SPECIALIST).sum()} of {len(hang_ups)} by the specialist"
        )
    base = simulate(model, **kw)
    for name, m in [("as fitted", model), ("remove Enter Queue", edited(model, remove("Enter Queue")))]:
        talks = _first_talks(base if m is model else simulate(m, **kw))
        print(
            f"small, {name}: first Talk by the specialist {talks.eq(SPECIALIST).mean():.1%} of {len(talks)}"
        )
    same_frame(model, base, kw, "Talk", "Transfer")


def remove(activity: str, **rule: Any) -> dict[str, Any]:
    return {"action": "remove", "activity": activity, **rule}


def same_frame(
    model: SimulationModel, base: pd.DataFrame, kw: dict[str, Any], step: str, removed: str
) -> None:
    """Scenarios that change nothing: a delay times 1, a remove of an occurrence never reached."""
    for name, change in [
        (f"scale_delay {step} x1", {"action": "scale_delay", "activity": step, "factor": 1.0}),
        (f"remove {removed} occurrence 99", remove(removed, occurrence=99)),
    ]:
        print(f"  no change, {name}: identical frame {simulate(edited(model, change), **kw).equals(base)}")


def demo(path: Path) -> None:
    model = SimulationModel.load(path)
    served = model.activities["Agent Answers"]
    specialists = {
        r
        for p in served["pools"]
        if p not in served["pools_after"]["Enter Queue"]
        for r in model.pools[p]["members"]
    }
    kw: dict[str, Any] = {"cases": 2000, "seed": 3}
    base = simulate(model, **kw)
    cut = {"action": "cut_rework", "activity": "Enter Queue", "factor": 0.5}
    for name, m in [
        ("as fitted", model),
        ("remove Enter Queue", edited(model, remove("Enter Queue"))),
        ("cut_rework Enter Queue 0.5", edited(model, cut)),
    ]:
        sim = base if m is model else simulate(m, **kw)
        answers = sim.resource[sim.activity == "Agent Answers"]
        print(
            f"demo, {name}: specialists' share of Agent Answers {answers.isin(specialists).mean():.1%} of {len(answers)}"
        )
    same_frame(model, base, kw, "Agent Answers", "Enter Queue")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="a fitted bank demo model (JSON)")
    args = ap.parse_args()
    t0 = time.process_time()
    small()
    if args.model:
        demo(args.model)
    print(f"CPU {time.process_time() - t0:.1f} s")


if __name__ == "__main__":
    main()
