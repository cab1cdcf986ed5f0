"""Shifts inside a pool (methods §16.2 "Shifts", §16.4): a group whose people work distinct
shifts keeps one queue, each person taking work only in their shift's hours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import flowlens
from flowlens.errors import ConfigError
from flowlens.simulation import fit as fit_module
from flowlens.simulation.engine import simulate
from flowlens.simulation.fit import build, observe
from flowlens.simulation.model import SimulationModel, example_model
from flowlens.simulation.scenarios import Scenario
from flowlens.simulation.shifts import shifts
from flowlens.timing.calendars import CalendarSet

DAYS = 21
EARLY, LATE = ("ann", "bea"), ("cal", "dan")


def _calls(two_shifts: bool, seed: int = 3) -> pd.DataFrame:
    """A call centre log: each case is registered (no person) and answered by the agent of the
    shift free first, 0-5 min later or when they are free, 10 min a call, 26 calls a day
    08:00-19:30 for three weeks. With ``two_shifts`` ann and bea answer the calls registered
    08-14 and cal and dan those of 14-20; else all four answer all day."""
    rng = np.random.default_rng(seed)
    rows = []
    day0 = pd.Timestamp("2024-03-04")
    free = dict.fromkeys(EARLY + LATE, day0)
    k = 0
    for d in range(DAYS):
        minutes = np.sort(rng.uniform(8 * 60, 19.5 * 60, 26))
        for m in minutes:
            t = day0 + pd.Timedelta(days=d) + pd.Timedelta(minutes=float(m))
            team = (EARLY if t.hour < 14 else LATE) if two_shifts else EARLY + LATE
            who = min(team, key=lambda r: (free[r], r))
            start = max(t + pd.Timedelta(minutes=float(rng.uniform(0, 5))), free[who])
            free[who] = start + pd.Timedelta(minutes=10)
            rows.append((f"c{k}", "Register", None, t, t))
            rows.append((f"c{k}", "Answer call", who, start, free[who]))
            k += 1
    return pd.DataFrame(rows, columns=["case_id", "activity", "resource", "start_time", "end_time"])


def _fit(frame: pd.DataFrame) -> SimulationModel:
    return build(observe(flowlens.read_log(frame, tz="UTC")), calibrate=False, assignment="queue")


@pytest.fixture(scope="module")
def two_shift_model() -> SimulationModel:
    return _fit(_calls(True))


def test_two_shifts_of_one_step_get_two_calendars_in_one_pool(two_shift_model: SimulationModel) -> None:
    pools = [p for p in two_shift_model.pools.values() if "Answer call" in p["activities"]]
    assert len(pools) == 1  # one queue
    own = pools[0]["member_calendars"]
    assert own["ann"] == own["bea"] != own["cal"] == own["dan"]
    early = two_shift_model.calendars[own["ann"]]["wed"]
    late = two_shift_model.calendars[own["cal"]]["wed"]
    assert early == ["08:00-14:00"] and late == ["14:00-20:00"]
    # the pool's own calendar is the union: the hours its work runs in
    assert two_shift_model.calendars[pools[0]["calendar"]]["mon"] == ["08:00-20:00"]


def test_simulated_capacity_per_hour_matches_the_shifts(two_shift_model: SimulationModel) -> None:
    sim = simulate(two_shift_model, cases=600, seed=2, start="2024-04-15")
    calls = sim[sim.activity == "Answer call"]
    hour = pd.DatetimeIndex(calls.start_time).hour
    early = calls.resource.isin(EARLY).to_numpy()
    # each person takes calls only in their shift (the early one read off the log runs to
    # 15:00 on two days): the two people of the shift at any hour, as in the log
    assert (hour[early] >= 8).all() and (hour[early] < 15).all()
    assert (hour[~early] >= 14).all() and (hour[~early] < 20).all()
    per_hour = calls.groupby(hour).resource.unique()
    assert all(set(per_hour[h]) <= set(EARLY) for h in range(8, 14) if h in per_hour)
    assert all(set(per_hour[h]) <= set(LATE) for h in range(15, 20) if h in per_hour)


def test_a_call_started_before_the_shift_ends_is_finished() -> None:
    m = example_model()
    m["calendars"] = {
        "day": {d: ["08:00-16:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        "early": {d: ["08:00-12:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        "late": {d: ["12:00-16:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    }
    m["pools"]["clerks"] = {
        "members": ["ann", "bob"],
        "calendar": "day",
        "member_calendars": {"ann": "early", "bob": "late"},
    }
    model = SimulationModel.from_dict(m)
    sim = simulate(model, cases=300, seed=4, start="2024-03-04T08:00:00")
    checks = sim[sim.activity == "Check"]
    start_h = pd.DatetimeIndex(checks.start_time).hour
    assert set(checks.resource) == {"ann", "bob"}
    assert (start_h[checks.resource == "ann"] < 12).all()
    assert (start_h[checks.resource == "bob"] >= 12).all()
    # ann's work past 12:00 runs on in the pool's hours (not paused until her next shift)
    ann = checks[checks.resource == "ann"]
    over = ann[pd.DatetimeIndex(ann.end_time).hour == 12]
    assert len(over) and ((over.end_time - over.start_time) < pd.Timedelta(hours=4)).all()


def test_nobody_starts_while_the_pool_is_closed_whatever_their_shift() -> None:
    # bob's shift runs past the pool's hours: he may not start at 17:30 with the work timed
    # from the next morning (closed hours recorded as processing)
    m = example_model()
    every = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    m["calendars"] = {
        "day": {d: ["09:00-17:00"] for d in every},
        "early": {d: ["09:00-13:00"] for d in every},
        "late": {d: ["13:00-21:00"] for d in every},
    }
    m["pools"]["clerks"] = {
        "members": ["ann", "bob"],
        "calendar": "day",
        "member_calendars": {"ann": "early", "bob": "late"},
    }
    sim = simulate(SimulationModel.from_dict(m), cases=300, seed=4, start="2024-03-04T09:00:00")
    checks = sim[sim.activity == "Check"]
    start_h = pd.DatetimeIndex(checks.start_time).hour
    assert set(checks.resource) == {"ann", "bob"}
    assert ((start_h >= 9) & (start_h < 17)).all()


def test_one_shift_leaves_the_model_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _fit(_calls(False))
    assert all("member_calendars" not in p for p in model.pools.values())
    monkeypatch.setattr(fit_module, "_shift_calendars", lambda *a, **k: {})
    assert _fit(_calls(False)).to_dict() == model.to_dict()


def test_people_with_little_work_join_the_shift_whose_hours_hold_it() -> None:
    hour = 3_600_000_000
    monday = 1_704_067_200_000_000
    days = np.arange(56) * 24 * hour
    early = (monday + days[:, None] + np.array([8, 9, 10, 11]) * hour).ravel()
    late = early + 8 * hour
    work = pd.DataFrame(
        {
            "resource": ["ann"] * len(early) + ["bob"] * len(late) + ["new"] * 20,
            "s_us": np.concatenate([early, late, late[:20]]),
        }
    )
    assert shifts(work, {"ann": ("A",), "bob": ("A",), "new": ("A",)}, "UTC") == {
        "ann": 1,
        "bob": 2,
        "new": 2,
    }
    # a shift with too little work to read a calendar joins the one whose hours hold its work
    odd = (monday + days[:60, None] + np.array([11, 12]) * hour).ravel()
    three = pd.concat([work[work.resource != "new"], pd.DataFrame({"resource": "cy", "s_us": odd})])
    assert shifts(three, {"ann": ("A",), "bob": ("A",), "cy": ("A",)}, "UTC") == {"ann": 1, "bob": 2, "cy": 1}
    # one shift left: the group stays pooled
    few = work[work.resource != "bob"].assign(resource=lambda f: f.resource.replace({"new": "bob"}))
    assert shifts(few, {"ann": ("A",), "bob": ("A",)}, "UTC") == {}


def test_a_member_calendar_must_name_a_member_and_a_calendar() -> None:
    m = example_model()
    m["pools"]["clerks"]["member_calendars"] = {"zed": "24x7"}
    with pytest.raises(ConfigError, match="member_calendars"):
        SimulationModel.from_dict(m)
    m["pools"]["clerks"]["member_calendars"] = {"ann": "nights"}
    with pytest.raises(ConfigError, match=r"member_calendars\.ann: unknown calendar 'nights'"):
        SimulationModel.from_dict(m)


def test_scenarios_on_a_pool_of_shifts(two_shift_model: SimulationModel) -> None:
    pool = next(n for n, p in two_shift_model.pools.items() if "Answer call" in p["activities"])
    own = two_shift_model.pools[pool]["member_calendars"]
    more = Scenario("one more", [{"action": "add_resources", "activity": "Answer call", "count": 1}]).apply(
        two_shift_model
    )
    extra = more.pools[pool]["member_calendars"][f"{pool} +1"]
    assert extra in set(own.values())  # a new person joins a shift, not the union's hours
    fewer = Scenario("one less", [{"action": "add_resources", "activity": "Answer call", "count": -1}]).apply(
        two_shift_model
    )
    assert set(fewer.pools[pool]["member_calendars"]) == set(fewer.pools[pool]["members"])
    hours = {"mon": ["07:00-21:00"]}
    longer = Scenario("longer", [{"action": "set_hours", "activity": "Answer call", "hours": hours}]).apply(
        two_shift_model
    )
    assert "member_calendars" not in longer.pools[pool]


def _given(early: str, late: str) -> CalendarSet:
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return CalendarSet.from_dict(
        {
            "teams": {"early": {d: [early] for d in days}, "late": {d: [late] for d in days}},
            "resources": {**dict.fromkeys(EARLY, "early"), **dict.fromkeys(LATE, "late")},
        }
    )


def test_given_calendars_of_one_group_make_one_pool_of_shifts() -> None:
    # one pool per given calendar drew each call's agent up front, whatever the hour: a call
    # at 19:00 given to an early agent waited for the next morning (the bank demo's night
    # calls, 41 % of its queued calls leaving)
    log = flowlens.read_log(_calls(True), tz="UTC")
    model = build(observe(log, calendars=_given("08:00-14:00", "14:00-20:00")), calibrate=False)
    pools = [p for p in model.pools.values() if "Answer call" in p["activities"]]
    assert len(pools) == 1 and pools[0]["assignment"] == "queue"
    own = pools[0]["member_calendars"]
    assert model.calendars[own["ann"]]["mon"] == ["08:00-14:00"]
    assert model.calendars[own["dan"]]["mon"] == ["14:00-20:00"]
    assert model.calendars[pools[0]["calendar"]]["mon"] == ["08:00-20:00"]
    sim = simulate(model, cases=600, seed=2, start="2024-04-15")
    calls = sim[sim.activity == "Answer call"]
    hour = pd.DatetimeIndex(calls.start_time).hour
    early = calls.resource.isin(EARLY).to_numpy()
    assert (hour[early] < 14).all() and (hour[~early] >= 14).all()
    reg = sim[sim.activity == "Register"].set_index("case_id").start_time
    wait = (calls.set_index("case_id").start_time - reg).dt.total_seconds()
    assert wait.quantile(0.99) < 3600  # nobody waits for the other shift's hours


def test_one_given_calendar_per_group_leaves_its_pool_plain() -> None:
    log = flowlens.read_log(_calls(False), tz="UTC")
    model = build(observe(log, calendars=_given("08:00-20:00", "08:00-20:00")), calibrate=False)
    pools = [p for p in model.pools.values() if "Answer call" in p["activities"]]
    assert len(pools) == 1 and "member_calendars" not in pools[0]
