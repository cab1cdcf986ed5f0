"""A step's pools after a step (methods §16.2 "Pools after a step", §16.4): first-line agents
answer the queued calls and specialists the transferred ones, so a queued call never waits for
a specialist."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

import flowlens
from flowlens.errors import ConfigError
from flowlens.simulation.engine import simulate
from flowlens.simulation.fit import build, observe
from flowlens.simulation.model import SimulationModel

FIRST, SPECIALISTS = ("ann", "bob"), ("sam",)


def _calls(n: int = 400, seed: int = 5) -> pd.DataFrame:
    """Calls queue, a first-line agent answers (5 min) and a third of them transfers the caller
    to the specialist, who answers the transferred call (8 min)."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2024-03-04")
    rows = []
    for k, m in enumerate(np.sort(rng.uniform(0, 14 * 24 * 60, n))):
        t = t0 + pd.Timedelta(minutes=float(m))
        who = FIRST[k % 2]
        rows.append((f"c{k}", "Queue", None, t, t))
        rows.append((f"c{k}", "Answer", who, t, t + pd.Timedelta(minutes=5)))
        if k % 3 == 0:
            t = t + pd.Timedelta(minutes=5)
            rows.append((f"c{k}", "Transfer", who, t, t + pd.Timedelta(minutes=1)))
            t = t + pd.Timedelta(minutes=1)
            rows.append((f"c{k}", "Answer", "sam", t, t + pd.Timedelta(minutes=8)))
    return pd.DataFrame(rows, columns=["case_id", "activity", "resource", "start_time", "end_time"])


@pytest.fixture(scope="module")
def model() -> SimulationModel:
    return build(observe(flowlens.read_log(_calls(), tz="UTC")), calibrate=False)


def test_the_pools_after_a_step_are_fitted_where_some_never_do_it(model: SimulationModel) -> None:
    answer = model.activities["Answer"]
    first = next(p for p, s in model.pools.items() if set(s["members"]) == set(FIRST))
    special = next(p for p, s in model.pools.items() if s["members"] == list(SPECIALISTS))
    assert set(answer["pools"]) == {first, special}
    assert answer["pools_after"] == {"Queue": {first: 1.0}, "Transfer": {special: 1.0}}
    # a step done by one pool whatever comes before has none
    assert "pools_after" not in model.activities["Transfer"]


def test_a_queued_call_is_answered_by_the_first_line(model: SimulationModel) -> None:
    sim = simulate(model, cases=300, seed=1, start="2024-04-01")
    sim = sim.sort_values(["case_id", "start_time", "end_time"], kind="stable")
    prev = sim.groupby("case_id").activity.shift()
    answered = sim[sim.activity == "Answer"]
    assert answered.resource[prev[answered.index] == "Queue"].isin(FIRST).all()
    assert answered.resource[prev[answered.index] == "Transfer"].isin(SPECIALISTS).all()
    # without the context a sixth of the queued calls went to the specialist
    plain = copy.deepcopy(model)
    plain.activities["Answer"].pop("pools_after")
    other = simulate(plain, cases=300, seed=1, start="2024-04-01")
    other = other.sort_values(["case_id", "start_time", "end_time"], kind="stable")
    prev = other.groupby("case_id").activity.shift()
    queued = other[(other.activity == "Answer") & (prev == "Queue")]
    assert queued.resource.isin(SPECIALISTS).mean() > 0.1


def test_pools_after_must_name_the_steps_pools(model: SimulationModel) -> None:
    d = model.to_dict()
    d["activities"]["Answer"]["pools_after"]["Queue"] = {"nobody": 1.0}
    with pytest.raises(ConfigError, match=r"pools_after\.Queue"):
        SimulationModel.from_dict(d)
