"""Step priorities (methods §16.1, §16.4) and the fit of steps served when idle (§16.2)."""

from __future__ import annotations

import pandas as pd
import pytest

import flowlens
from flowlens.errors import ConfigError
from flowlens.simulation.engine import simulate
from flowlens.simulation.fit import fit_model
from flowlens.simulation.model import END, START, SimulationModel, example_model

T0 = "2024-03-04T09:00:00"


def _model(call_priority: int | None, per_hour: float) -> SimulationModel:
    """One clerk; each case is received (by nobody, so its queue shows in the log), then
    'Work' (20 min on average) and 'Call' (10 min), ``per_hour`` cases an hour around the
    clock; 'Call' with ``call_priority`` when given."""
    d = example_model()
    d["arrivals"]["intensity"] = [[per_hour] * 24 for _ in range(7)]
    d["control_flow"]["transitions"] = [
        {"after": [START], "next": {"Receive": 1.0}},
        {"after": ["Receive"], "next": {"Work": 1.0}},
        {"after": ["Work"], "next": {"Call": 1.0}},
        {"after": ["Call"], "next": {END: 1.0}},
    ]
    d["activities"] = {
        "Receive": {"duration": {"dist": "fixed", "value": 60}},
        "Work": {"duration": {"dist": "exponential", "mean": 1200}, "pools": {"clerks": 1.0}},
        "Call": {"duration": {"dist": "exponential", "mean": 600}, "pools": {"clerks": 1.0}},
    }
    if call_priority is not None:
        d["activities"]["Call"]["priority"] = call_priority
    d["pools"] = {"clerks": {"members": ["ann"], "calendar": "24x7"}}
    return SimulationModel.from_dict(d)


def _calls_started_while_work_waited(frame: pd.DataFrame) -> int:
    w, c = frame[frame.activity == "Work"], frame[frame.activity == "Call"]
    we, ws = w.enabled_time.to_numpy(), w.start_time.to_numpy()
    return sum(int(((we < t) & (ws > t)).any()) for t in c.start_time.to_numpy())


def test_a_lower_priority_step_waits_while_a_higher_one_is_served() -> None:
    kw = {"cases": 400, "seed": 3, "start": T0, "with_enabled": True, "warmup_cases": 0}
    fcfs = simulate(_model(None, 2.0), **kw)
    low = simulate(_model(-1, 2.0), **kw)
    # first come, first served: calls often start while later work waits
    assert _calls_started_while_work_waited(fcfs) > 50
    # served when idle: never (non-pre-emptive; a call already started runs on)
    assert _calls_started_while_work_waited(low) == 0
    wait = {
        name: f.assign(w=(f.start_time - f.enabled_time).dt.total_seconds()).groupby("activity").w.mean()
        for name, f in (("fcfs", fcfs), ("low", low))
    }
    assert wait["low"]["Call"] > 2 * wait["fcfs"]["Call"]
    assert wait["low"]["Work"] < wait["fcfs"]["Work"]
    # the same draws: every case does the same steps with the same work
    assert fcfs.groupby("activity").size().equals(low.groupby("activity").size())


def test_step_priority_comes_before_the_case_priority_class() -> None:
    d = _model(-1, 2.0).to_dict()
    d["arrivals"]["attributes"] = {"columns": ["segment"], "rows": [["vip"], ["mass"]], "weights": [1, 1]}
    d["priority"] = {"attribute": "segment", "order": {"vip": 1, "mass": 0}}
    f = simulate(SimulationModel.from_dict(d), cases=400, seed=3, start=T0, with_enabled=True, warmup_cases=0)
    # a VIP's call still waits for a mass case's work
    vip_calls = f[(f.activity == "Call") & (f.segment == "vip")]
    mass_work = f[(f.activity == "Work") & (f.segment == "mass")]
    we, ws = mass_work.enabled_time.to_numpy(), mass_work.start_time.to_numpy()
    assert not any(((we < t) & (ws > t)).any() for t in vip_calls.start_time.to_numpy())


def test_models_without_step_priorities_load_and_simulate_as_before() -> None:
    old = example_model()  # a model file written before step priorities existed
    m = SimulationModel.from_dict(old)
    assert "priority" not in m.to_dict()["activities"]["Check"]
    zero = example_model()
    for spec in zero["activities"].values():
        spec["priority"] = 0
    kw = {"cases": 200, "seed": 5, "start": T0}
    pd.testing.assert_frame_equal(
        simulate(m, **kw), simulate(SimulationModel.from_dict(zero), **kw), check_exact=True
    )


@pytest.mark.parametrize("bad", ["high", 1.5, True])
def test_a_step_priority_must_be_a_whole_number(bad: object) -> None:
    d = example_model()
    d["activities"]["Check"]["priority"] = bad
    with pytest.raises(ConfigError, match=r"activities\.Check\.priority"):
        SimulationModel.from_dict(d)


def _as_log(frame: pd.DataFrame) -> flowlens.EventLog:
    return flowlens.read_log(frame[["case_id", "activity", "resource", "start_time", "end_time"]])


def test_the_fit_finds_a_step_served_when_idle() -> None:
    # work keeps pace (load 0.87); the calls get what is left and pile up until arrivals stop
    frame = simulate(_model(-1, 2.6), cases=500, seed=7, start=T0, warmup_cases=0)
    model = fit_model(_as_log(frame))
    assert model.activities["Call"].get("priority") == -1
    assert "priority" not in model.activities["Work"]
    (entry,) = model.fitted["served_when_idle"]
    assert entry["activity"] == "Call"
    assert entry["started_mid"] < 0.5 * entry["enabled_mid"]
    assert entry["others_started_mid"] >= 0.9 * entry["others_enabled_mid"]


def test_the_fit_finds_none_when_every_step_falls_behind() -> None:
    # first come, first served and overloaded (load 2.5): both queues grow alike
    frame = simulate(_model(None, 5.0), cases=500, seed=7, start=T0, warmup_cases=0)
    model = fit_model(_as_log(frame))
    grown = {u["activity"] for u in model.fitted.get("unsettled_queues", [])}
    assert grown == {"Call", "Work"}
    assert "served_when_idle" not in model.fitted
    assert all("priority" not in spec for spec in model.activities.values())
