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
from flowlens.simulation.model import END, SimulationModel
from flowlens.simulation.model import START as START_STEP
from flowlens.simulation.scenarios import Scenario
from test_simulation_abandonment import START, call_log, point_model, read

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


def _first_talks(sim: pd.DataFrame) -> pd.Series:
    """Who does each case's first 'Talk' (the queued call's: a transferred talk is a second)."""
    sim = sim.sort_values(["case_id", "start_time", "end_time"], kind="stable")
    return sim[sim.activity == "Talk"].groupby("case_id").resource.first()


def test_a_scenario_that_removes_the_step_before_keeps_who_does_the_step(model: SimulationModel) -> None:
    # who answers is the call's routing: without the recorded queue step the queued callers
    # are still answered by the first line (drawn after the step as edited, a quarter of them
    # waited for the specialist)
    kw = {"cases": 600, "seed": 1, "start": str(START)}
    change = {"action": "remove", "activity": "Enter Queue"}
    removed = simulate(Scenario.from_dict({"name": "no queue", "change": [change]}).apply(model), **kw)
    assert not (removed.activity == "Enter Queue").any()
    assert len(_first_talks(removed)) > 400
    assert not _first_talks(removed).eq(SPECIALIST).any()


def test_a_remove_elsewhere_keeps_who_does_a_ways_first_step(model: SimulationModel) -> None:
    # a staffed hang-up (the way of leaving) done after the queue by the first line only: a
    # scenario removing the unrelated transfer leaves it so (it read "(start)" before it, and
    # half went to the specialist)
    d = model.to_dict()
    first, special = _pool(model, "agent0"), _pool(model, SPECIALIST)
    d["activities"]["Hang Up"].update(
        pools={first: 0.5, special: 0.5}, pools_after={"Enter Queue": {first: 1}}
    )
    staffed = SimulationModel.from_dict(d)
    kw = {"cases": 600, "seed": 1, "start": str(START)}
    change = {"action": "remove", "activity": "Transfer"}
    for m in (staffed, Scenario.from_dict({"name": "no transfer", "change": [change]}).apply(staffed)):
        sim = simulate(m, **kw)
        hang_ups = sim.resource[sim.activity == "Hang Up"]
        assert len(hang_ups) > 50
        assert not hang_ups.eq(SPECIALIST).any()


def test_a_ways_step_after_a_removed_first_step_waits_as_after_the_point() -> None:
    # callers who hang up get a survey 5 s after the hang-up, and without the hang-up step 5 s
    # after leaving the queue (its "after Enter" context), not as a case's first step (1000 s)
    m = point_model(["ann"])
    m["control_flow"]["transitions"] = [
        {"after": [START_STEP], "next": {"Enter": 1.0}},
        {"after": ["Enter"], "next": {"Talk": 0.7, "Hang Up": 0.3}},
        {"after": ["Talk"], "next": {END: 1.0}},
        {"after": ["Hang Up"], "next": {"Survey": 1.0}},
        {"after": ["Survey"], "next": {END: 1.0}},
    ]
    m["activities"]["Enter"]["abandonment"]["leave"] = ["Hang Up"]
    fixed = {"dist": "fixed", "value": 5.0}
    m["activities"]["Hang Up"] = {"duration": {"dist": "fixed", "value": 0.0}}
    m["activities"]["Survey"] = {
        "duration": {"dist": "fixed", "value": 0.0},
        "delay": {"dist": "fixed", "value": 1000.0},
        "delay_context": [{"after": "Hang Up", "delay": fixed}, {"after": "Enter", "delay": fixed}],
    }
    change = {"action": "remove", "activity": "Hang Up"}
    model = Scenario.from_dict({"name": "no hang-up", "change": [change]}).apply(SimulationModel.from_dict(m))
    sim = simulate(model, cases=200, seed=1, start=str(START))
    queued = sim[sim.activity == "Enter"].set_index("case_id").start_time
    survey = sim[sim.activity == "Survey"].set_index("case_id").start_time
    assert len(survey) > 10
    # they leave after their patience, a minute
    assert ((survey - queued[survey.index]).dt.total_seconds() == 65.0).all()


@pytest.mark.parametrize(
    "shares",
    [{"first": 1.5, "special": -0.5}, {"first": "1"}, {"first": True}, {"first": float("nan")}],
    ids=["negative", "text", "bool", "nan"],
)
def test_pools_after_shares_are_checked_as_the_pools_shares(model: SimulationModel, shares: dict) -> None:
    d = model.to_dict()
    names = {"first": _pool(model, "agent0"), "special": _pool(model, SPECIALIST)}
    d["activities"]["Talk"]["pools_after"]["Enter Queue"] = {names[k]: v for k, v in shares.items()}
    with pytest.raises(ConfigError, match=r"pools_after\.Enter Queue\..*a share must be a number"):
        SimulationModel.from_dict(d)


def test_pools_after_names_only_the_steps_own_pools(model: SimulationModel) -> None:
    d = model.to_dict()
    d["activities"]["Talk"]["pools_after"]["Enter Queue"] = {"nobody": 1.0}
    with pytest.raises(ConfigError, match=r"pool 'nobody' is not one of the pools it may name"):
        SimulationModel.from_dict(d)


def test_pools_after_given_as_a_list_is_a_one_line_error(model: SimulationModel) -> None:
    d = model.to_dict()
    d["activities"]["Talk"]["pools_after"] = [d["activities"]["Talk"]["pools_after"]]
    with pytest.raises(
        ConfigError, match=r"Talk\.pools_after: expected \{previous step: \{pool: share\}\}, got list"
    ):
        SimulationModel.from_dict(d)
