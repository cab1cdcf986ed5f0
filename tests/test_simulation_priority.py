"""Step priority classes (methods §16.2, §16.4): a pool that serves one step before another,
read off the log and reproduced by the engine's queues."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

import flowlens
from conftest import SHARED, shared_path
from flowlens.errors import ConfigError
from flowlens.simulation import SimulationModel, simulate
from flowlens.simulation.fit import _pools, _step_priorities, build, observe
from flowlens.simulation.model import END, START


def three_step(priority_of_later: int | None) -> dict:
    """Arrive (nobody) -> Serve (the pool) -> Later (the same pool, an hour of delay): one
    person near saturation; ``Later`` in class ``priority_of_later`` when given."""
    m = {
        "format": 1,
        "timezone": "UTC",
        "arrivals": {
            "intensity": [[1.6] * 24 for _ in range(7)],
            "gaps": {"dist": "exponential", "mean": 1.0},
        },
        "control_flow": {
            "order": 1,
            "transitions": [
                {"after": [START], "next": {"Arrive": 1.0}},
                {"after": ["Arrive"], "next": {"Serve": 1.0}},
                {"after": ["Serve"], "next": {"Later": 1.0}},
                {"after": ["Later"], "next": {END: 1.0}},
            ],
        },
        "activities": {
            "Arrive": {"duration": {"dist": "fixed", "value": 0}},
            "Serve": {"duration": {"dist": "exponential", "mean": 1200}, "pools": {"staff": 1.0}},
            "Later": {
                "duration": {"dist": "exponential", "mean": 900},
                "delay": {"dist": "exponential", "mean": 3600},
                "pools": {"staff": 1.0},
            },
        },
        "pools": {"staff": {"members": ["ann"], "calendar": "24x7"}},
        "calendars": {},
    }
    if priority_of_later is not None:
        m["activities"]["Later"]["priority"] = priority_of_later
    return m


def _run(priority_of_later: int | None, cases: int = 600) -> pd.DataFrame:
    model = SimulationModel.from_dict(three_step(priority_of_later))
    return simulate(model, cases=cases, seed=3, start="2024-03-04T08:00:00", with_enabled=True)


def _waiting_at_starts(frame: pd.DataFrame, of: str, at: str) -> int:
    """How many ``of`` instances were enabled and not started at the starts of ``at``."""
    x = frame[frame.activity == of]
    en = np.sort(x.enabled_time.to_numpy())
    st = np.sort(x.start_time.to_numpy())
    t = frame[frame.activity == at].start_time.to_numpy()
    return int((np.searchsorted(en, t, side="right") - np.searchsorted(st, t, side="right")).sum())


def test_a_lower_class_step_starts_only_when_the_higher_class_queue_is_empty() -> None:
    served_first = _run(-1)
    fcfs = _run(None)
    # with classes, no Serve waits when Later starts; first come, first served, many do
    assert _waiting_at_starts(served_first, "Serve", "Later") == 0
    assert _waiting_at_starts(fcfs, "Serve", "Later") > 50
    # the low class waits longer and the high class less than first come, first served
    wait = {
        k: f.assign(w=(f.start_time - f.enabled_time).dt.total_seconds()).groupby("activity").w.mean()
        for k, f in (("prio", served_first), ("fcfs", fcfs))
    }
    assert wait["prio"]["Later"] > 1.5 * wait["fcfs"]["Later"]
    assert wait["prio"]["Serve"] < wait["fcfs"]["Serve"]


def test_class_zero_everywhere_is_the_model_without_classes() -> None:
    pd.testing.assert_frame_equal(_run(0, cases=200), _run(None, cases=200))


def test_a_bad_priority_is_one_line() -> None:
    spec = three_step(None)
    spec["activities"]["Later"]["priority"] = "low"
    with pytest.raises(ConfigError, match=r"activities\.Later\.priority: expected a number"):
        SimulationModel.from_dict(spec)


def _fit(frame: pd.DataFrame) -> SimulationModel:
    log = flowlens.read_log(frame[["case_id", "activity", "resource", "start_time", "end_time"]])
    return build(observe(log), assignment="queue")


@pytest.fixture(scope="module")
def fitted() -> dict[str, SimulationModel]:
    return {"prio": _fit(_run(-1)), "fcfs": _fit(_run(None))}


def test_the_fit_finds_the_class_the_log_was_served_by(fitted: dict[str, SimulationModel]) -> None:
    prio = fitted["prio"]
    assert prio.activities["Later"].get("priority") == -1
    assert "priority" not in prio.activities["Serve"]
    (evidence,) = prio.fitted["step_priorities"].values()
    assert [(b["first"], b["then"], b["waiting_at_starts"]) for b in evidence["before"]] == [
        ("Serve", "Later", 0.0)
    ]
    # a log served first come, first served gets no classes
    fcfs = fitted["fcfs"]
    assert not any("priority" in a for a in fcfs.activities.values())
    assert "step_priorities" not in fcfs.fitted


def test_the_fitted_classes_reproduce_the_logs_waits(fitted: dict[str, SimulationModel]) -> None:
    log = _run(-1)
    real = (log.start_time - log.enabled_time).dt.total_seconds().groupby(log.activity).mean()
    sims = []
    for with_classes in (True, False):
        m = copy.deepcopy(fitted["prio"])
        if not with_classes:
            for a in m.activities.values():
                a.pop("priority", None)
        f = simulate(m, cases=600, seed=11, start="2024-03-04T08:00:00", with_enabled=True)
        sims.append(_waiting_at_starts(f, "Serve", "Later"))
    # the fitted model serves as the log did: no Serve waits when Later starts
    assert sims[0] == 0 and sims[1] > 50
    assert real["Later"] > real["Serve"]


def _classes(name: str) -> tuple[dict[str, int], dict]:
    obs = observe(flowlens.read_log(shared_path(name), **SHARED[name][1]))
    pools, shares = _pools(obs.inst, obs.groups, obs.cal_of)
    return _step_priorities(obs.inst, pools, shares)


@pytest.mark.parametrize("name", ["loanapp-train", "purchasing", "bpic2012-w"])
def test_no_classes_on_shared_logs_served_first_come_first_served(name: str) -> None:
    assert _classes(name) == ({}, {})


def test_a_lower_class_steps_batching_wait_is_left_to_the_queue() -> None:
    from flowlens.simulation.fit import _priority_waits

    inst = pd.DataFrame(
        {
            "activity": ["Serve", "Later"],
            "delay_s": [50.0, 700.0],
            "batching_s": [40.0, 600.0],
            "staff_wait_s": [5.0, 30.0],
        }
    )
    out = _priority_waits(inst, {"Later": -1})
    # Serve (class 0) keeps its delay; Later's batching wait becomes staff-caused waiting
    assert out.delay_s.tolist() == [50.0, 100.0]
    assert out.staff_wait_s.tolist() == [5.0, 630.0]
    assert out.batching_s.tolist() == [40.0, 0.0]
    assert inst.delay_s.tolist() == [50.0, 700.0]  # the observations are not changed


def test_step_classes_with_case_priority_and_other_work() -> None:
    spec = three_step(-1)
    spec["arrivals"]["attributes"] = {
        "columns": ["segment"],
        "rows": [["vip"], ["retail"]],
        "weights": [1, 3],
    }
    spec["priority"] = {"attribute": "segment", "order": {"vip": 1, "retail": 0}}
    spec["pools"]["staff"]["other_work"] = {
        "intensity": [[0.3] * 24 for _ in range(7)],
        "gaps": {"dist": "exponential", "mean": 1.0},
        "duration": {"dist": "fixed", "value": 600},
    }
    f = simulate(
        SimulationModel.from_dict(spec), cases=300, seed=2, start="2024-03-04T08:00:00", with_enabled=True
    )
    assert _waiting_at_starts(f, "Serve", "Later") == 0
    # within the class, a VIP's Serve waits less than a retail one's
    serve = f[f.activity == "Serve"]
    w = (serve.start_time - serve.enabled_time).dt.total_seconds().groupby(serve.segment).mean()
    assert w["vip"] < w["retail"]
