"""The served step's pools after a step (methods §16.2 "Pools after a step", §16.4): first-line
agents answer the queued calls and a specialist the transferred ones, so a queued caller never
waits for the specialist."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from flowlens.errors import ConfigError
from flowlens.simulation.engine import simulate
from flowlens.simulation.fit import fit_model
from flowlens.simulation.model import SimulationModel
from test_simulation_abandonment import START, call_log, read

SPECIALIST = "spec0"


def _with_transfers(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`call_log` with every third answered call transferred by its agent (1 min) to the
    specialist, who talks to the caller when free (4 min)."""
    talks = frame[frame.activity == "Talk"].sort_values("end").iloc[::3]
    rows, free = [], START
    for r in talks.itertuples():
        moved = r.end + pd.Timedelta(minutes=1)
        rows.append((r.case, "Transfer", r.end, moved, r.resource))
        start = max(moved, free)
        free = start + pd.Timedelta(minutes=4)
        rows.append((r.case, "Talk", start, free, SPECIALIST))
    more = pd.DataFrame(rows, columns=frame.columns)
    return pd.concat([frame, more], ignore_index=True).sort_values(["case", "start", "end"], kind="stable")


@pytest.fixture(scope="module")
def model() -> SimulationModel:
    return fit_model(read(_with_transfers(call_log(n=500))))


def _pool(model: SimulationModel, member: str) -> str:
    return next(p for p, s in model.pools.items() if member in s["members"])


def test_the_served_step_gets_the_pools_that_do_it_after_each_step(model: SimulationModel) -> None:
    assert model.activities["Enter Queue"]["abandonment"]["served"] == ["Talk"]
    talk = model.activities["Talk"]
    first, special = _pool(model, "agent0"), _pool(model, SPECIALIST)
    assert set(talk["pools"]) == {first, special}
    assert talk["pools_after"] == {"Enter Queue": {first: 1.0}, "Transfer": {special: 1.0}}


def test_a_queued_call_is_answered_by_the_first_line(model: SimulationModel) -> None:
    def answered_after_queue(m: SimulationModel) -> pd.Series:
        sim = simulate(m, cases=600, seed=1, start=str(START))
        sim = sim.sort_values(["case_id", "start_time", "end_time"], kind="stable")
        prev = sim.groupby("case_id").activity.shift()
        return sim.resource[(sim.activity == "Talk") & (prev == "Enter Queue")]

    assert not answered_after_queue(model).eq(SPECIALIST).any()
    plain = copy.deepcopy(model)
    plain.activities["Talk"].pop("pools_after")
    # drawn by the step's shares, a fifth of the queued callers waited for the specialist
    assert answered_after_queue(plain).eq(SPECIALIST).mean() > 0.1


def test_pools_after_must_name_the_steps_pools(model: SimulationModel) -> None:
    d = model.to_dict()
    d["activities"]["Talk"]["pools_after"]["Enter Queue"] = {"nobody": 1.0}
    with pytest.raises(ConfigError, match=r"pools_after\.Enter Queue"):
        SimulationModel.from_dict(d)
