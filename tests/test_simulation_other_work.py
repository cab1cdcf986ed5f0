"""The staff's other work as capacity the simulation reserves (methods §16.2, §16.4).

A pool of two people serves a process's step and, first come first served, work the process's
log does not show (it keeps them about 80 % busy). Fitted on the process alone, the model sees
them idle between its steps and calibration turns the missing waiting into fixed delay, so a
person more relieves nobody; given the other work, the model's queues wait as the log does
and a person more shortens the wait."""

from __future__ import annotations

import copy
import heapq

import numpy as np
import pandas as pd
import pytest

import flowlens
from flowlens.errors import ConfigError
from flowlens.simulation.engine import simulate
from flowlens.simulation.fit import fit_model
from flowlens.simulation.model import SimulationModel, example_model
from flowlens.simulation.scenarios import Scenario

HOUR, DAY = 3600.0, 86400.0
COLS = ["case_id", "activity", "start_time", "end_time", "resource"]


def _logs(
    days: float = 10, staff: tuple[str, ...] = ("ann", "bob"), seed: int = 5
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The process (Register, needing nobody, then Work: 2 cases an hour of 20 minutes each) and
    the other work (3 jobs an hour of 20 minutes) of the same people, served first come first
    served by whoever is free first, around the clock (under 14 days: no calendars)."""
    rng = np.random.default_rng(seed)
    span = days * DAY
    ca = np.cumsum(rng.exponential(HOUR / 2.0, int(span / HOUR * 2.6)))
    oa = np.cumsum(rng.exponential(HOUR / 3.0, int(span / HOUR * 3.9)))
    jobs = sorted(
        [(t, 0, i) for i, t in enumerate(ca[ca < span])] + [(t, 1, i) for i, t in enumerate(oa[oa < span])]
    )
    free = [(0.0, k) for k in range(len(staff))]
    proc, other = [], []
    for t, kind, i in jobs:
        f, k = heapq.heappop(free)
        s = max(t, f)
        d = float(rng.exponential(1200.0))
        heapq.heappush(free, (s + d, k))
        if kind == 0:
            proc += [(f"c{i:04d}", "Register", t, t, None), (f"c{i:04d}", "Work", s, s + d, staff[k])]
        else:
            other.append((f"o{i:04d}", "Other", s, s + d, staff[k]))
    t0 = pd.Timestamp("2024-03-04 00:00", tz="UTC")
    out = []
    for rows in (proc, other):
        f = pd.DataFrame(rows, columns=COLS)
        f["start_time"] = t0 + pd.to_timedelta(f.start_time, unit="s")
        f["end_time"] = t0 + pd.to_timedelta(f.end_time, unit="s")
        out.append(f)
    return out[0], out[1]


def _lead_h(f: pd.DataFrame) -> float:
    g = f.groupby("case_id")
    return float(((g.end_time.max() - g.start_time.min()).dt.total_seconds() / 3600).mean())


@pytest.fixture(scope="module")
def logs() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _logs()


@pytest.fixture(scope="module")
def alone(logs: tuple[pd.DataFrame, pd.DataFrame]) -> SimulationModel:
    return fit_model(flowlens.read_log(logs[0]), assignment="queue")


@pytest.fixture(scope="module")
def reserved(logs: tuple[pd.DataFrame, pd.DataFrame]) -> SimulationModel:
    return fit_model(flowlens.read_log(logs[0]), other_work=flowlens.read_log(logs[1]), assignment="queue")


def _mean_lead(model: SimulationModel, frame: pd.DataFrame, seeds: range = range(4)) -> float:
    n = frame.case_id.nunique()
    return float(
        np.mean([_lead_h(simulate(model, cases=n, start=frame.start_time.min(), seed=s)) for s in seeds])
    )


def test_each_pool_gets_the_stream_of_its_members_other_work(logs, reserved: SimulationModel) -> None:
    (pool,) = reserved.pools.values()
    ow = pool["other_work"]
    assert ow["observed"]["jobs"] == len(logs[1])
    # 3 jobs an hour of 20 minutes: 1 person-hour per hour, 84 h a week for each of two people
    assert ow["observed"]["hours_per_week_per_member"] == pytest.approx(84, rel=0.15)
    assert set(ow["shares"]) == {"ann", "bob"}
    assert SimulationModel.from_dict(reserved.to_dict()) == reserved


def test_the_simulated_wait_reproduces_the_logs(
    logs, alone: SimulationModel, reserved: SimulationModel
) -> None:
    real = _lead_h(logs[0])
    assert _mean_lead(reserved, logs[0]) == pytest.approx(real, rel=0.25)
    # the queues now hold the waiting: calibration finds less of it to carry as delay
    cal_alone = alone.fitted["calibrated_staff_wait_share"].get("Work", 0.0)
    cal_reserved = reserved.fitted["calibrated_staff_wait_share"].get("Work", 0.0)
    assert cal_alone > 0.5
    assert cal_reserved < 0.5 * cal_alone


def test_a_person_more_relieves_the_pool_only_when_its_other_work_is_reserved(
    logs, alone: SimulationModel, reserved: SimulationModel
) -> None:
    plus = Scenario.from_dict(
        {"name": "plus", "change": [{"action": "add_resources", "activity": "Work", "count": 1}]}
    )
    with_other = _mean_lead(reserved, logs[0]) - _mean_lead(plus.apply(reserved), logs[0])
    without = _mean_lead(alone, logs[0]) - _mean_lead(plus.apply(alone), logs[0])
    # the generator's own answer: the same arrivals and work served by three people
    p3, _ = _logs(staff=("ann", "bob", "cem"))
    truth = _lead_h(logs[0]) - _lead_h(p3)
    assert truth > 0.3
    assert with_other == pytest.approx(truth, rel=0.5)
    assert without < 0.5 * with_other
    # the scenario keeps the other work: the three people share it
    assert plus.apply(reserved).pools["P01 Work"]["other_work"] == reserved.pools["P01 Work"]["other_work"]


def test_other_work_has_its_own_random_numbers(logs, reserved: SimulationModel) -> None:
    start, n = logs[0].start_time.min(), 300
    base = simulate(reserved, cases=n, start=start, seed=3)
    nothing = Scenario.from_dict({"name": "nothing", "change": []})
    again = simulate(nothing.apply(reserved), cases=n, start=start, seed=3)
    pd.testing.assert_frame_equal(base, again)
    assert set(base.activity) == {"Register", "Work"}  # the jobs are not in the log
    busy = base.attrs["other_work_busy_s"]
    span = (base.end_time.max() - base.start_time.min()).total_seconds()
    # each person spends about half the period on other work (1 person-hour per hour for two)
    assert 0.3 < busy["ann"] / span < 0.7 and 0.3 < busy["bob"] / span < 0.7
    # a scenario on the cases does not move the other work: removing every Work step leaves
    # the people to it alone, with the same jobs
    gone = Scenario.from_dict({"name": "gone", "change": [{"action": "remove", "activity": "Work"}]})
    alone_busy = simulate(gone.apply(reserved), cases=n, start=start, seed=3).attrs["other_work_busy_s"]
    assert alone_busy["ann"] + alone_busy["bob"] == pytest.approx(busy["ann"] + busy["bob"], rel=0.1)


def test_without_other_work_the_model_is_the_old_one(logs, alone: SimulationModel) -> None:
    # other work of people who are not in the log reserves nobody's time
    strangers = logs[1].assign(resource="zoe")
    model = fit_model(flowlens.read_log(logs[0]), other_work=flowlens.read_log(strangers), assignment="queue")
    assert all("other_work" not in p for p in model.pools.values())
    start = logs[0].start_time.min()
    a = simulate(alone, cases=200, start=start, seed=2)
    assert "other_work_busy_s" not in a.attrs
    pd.testing.assert_frame_equal(a, simulate(model, cases=200, start=start, seed=2))


def test_work_given_to_a_person_up_front_takes_their_other_work() -> None:
    m = example_model()
    flat = [[1.0] * 24 for _ in range(7)]
    m["pools"]["clerks"]["assignment"] = "person"
    m["pools"]["clerks"]["other_work"] = {
        "intensity": flat,
        "gaps": {"dist": "exponential", "mean": 1.0},
        "duration": {"dist": "fixed", "value": 1200},
        "shares": {"ann": 1.0, "bob": 0.0},
    }
    f = simulate(SimulationModel.from_dict(m), cases=400, start="2024-03-04", seed=1)
    busy = f.attrs["other_work_busy_s"]
    assert busy["bob"] == 0.0 and busy["ann"] > 0
    # ann is a third busier with other work: her share of the process's steps waits longer
    check = f[f.activity == "Check"]
    assert set(check.resource) == {"ann", "bob"}


def test_a_bad_other_work_is_one_line() -> None:
    m = copy.deepcopy(example_model())
    m["pools"]["clerks"]["other_work"] = {
        "intensity": [[1.0] * 24] * 7,
        "gaps": {"dist": "exponential", "mean": 1.0},
    }
    with pytest.raises(ConfigError, match=r"pools\.clerks\.other_work: expected an object with intensity"):
        SimulationModel.from_dict(m)
    m["pools"]["clerks"]["other_work"]["duration"] = {"dist": "fixed", "value": 60}
    m["pools"]["clerks"]["other_work"]["intensity"] = [[-1.0] * 24] * 7
    with pytest.raises(ConfigError, match=r"other_work\.intensity\[0\]\[0\]"):
        SimulationModel.from_dict(m)
