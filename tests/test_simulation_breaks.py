"""Members' own breaks inside their group's hours (staggered lunches), weekly bootstrap
resamples, and what-if savings on steps the fidelity check gets wrong (methods §16.2, §17.3)."""

from __future__ import annotations

import copy
from datetime import time

import numpy as np
import pandas as pd
import pytest

import flowlens
from conftest import shared_path
from flowlens.errors import ConfigError
from flowlens.simulation import SimulationModel, simulate
from flowlens.simulation.fit import Observations, observe, resample
from flowlens.timing.calendars import WorkCalendar
from flowlens.timing.discovery import member_breaks
from test_simulation_engine import two_step

OFFICE = {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def _starts(hours: dict[str, list[int]], days: int = 40, per_hour: int = 2) -> pd.DataFrame:
    """Starts of each person at the given hours of ``days`` weekdays (``per_hour`` an hour)."""
    rows = [
        (r, d + pd.Timedelta(hours=h, minutes=5 + 25 * k))
        for r, hs in hours.items()
        for d in pd.bdate_range("2024-01-01", periods=days, tz="UTC")
        for h in hs
        for k in range(per_hour)
    ]
    return pd.DataFrame({"resource": [r for r, _ in rows], "s_us": [t.value // 1000 for _, t in rows]})


def _office() -> WorkCalendar:
    return WorkCalendar(name="g", timezone="UTC", hours={d: ((time(9), time(17)),) for d in range(5)})


def test_staggered_lunches_are_each_members_own_break() -> None:
    day = [9, 10, 11, 12, 13, 14, 15, 16]
    st = _starts({"a": [h for h in day if h != 12], "b": [h for h in day if h != 13], "c": day})
    own = member_breaks(st, {"a": "g", "b": "g", "c": "g"}, {"g": _office()})
    assert sorted(own) == ["a", "b"]  # c works every hour of the group's: no calendar of its own
    assert own["a"].hours[0] == ((time(9), time(12)), (time(13), time(17)))
    assert own["b"].hours[4] == ((time(9), time(13)), (time(14), time(17)))


def test_a_thin_hour_everyone_shares_is_no_break() -> None:
    # everyone starts less at 16 (the day winds down) and one person rarely: a dip the
    # others do not fill, or one too small to tell from chance, is not a break
    rng = np.random.default_rng(3)
    st = _starts({"a": list(range(9, 17)), "b": list(range(9, 17))}, per_hour=3)
    hour = pd.to_datetime(st.s_us, unit="us").dt.hour
    st = st[(hour != 16) | (rng.random(len(st)) < 0.3)]
    assert member_breaks(st, {"a": "g", "b": "g"}, {"g": _office()}) == {}


@pytest.mark.parametrize("name", ["loanapp-train", "loanapp-test", "purchasing"])
def test_no_breaks_are_invented_on_simulated_logs_with_team_calendars(name: str) -> None:
    """LoanApp and the purchasing example were simulated with one calendar per role: no member
    has a break of their own, so the fit gives nobody hours of their own."""
    obs = observe(flowlens.read_log(shared_path(name)))
    assert obs.member_cal_of == {}


def _lunch_model(assignment: str) -> SimulationModel:
    spec = two_step(4.0, {"dist": "fixed", "value": 2700}, ["ann", "bob"])
    pool = spec["pools"]["staff"]
    pool.update(calendar="office", assignment=assignment, member_calendars={"ann": "early", "bob": "late"})
    spec["calendars"] = {
        "office": OFFICE,
        "early": {d: ["09:00-12:00", "13:00-17:00"] for d in OFFICE},
        "late": {d: ["09:00-13:00", "14:00-17:00"] for d in OFFICE},
    }
    return SimulationModel.from_dict(spec)


@pytest.mark.parametrize("assignment", ["queue", "person"])
def test_members_take_no_work_in_their_own_break(assignment: str) -> None:
    frame = simulate(_lunch_model(assignment), cases=400, seed=1, start="2024-03-04T09:00:00")
    serve = frame[frame.activity == "Serve"]
    local = serve.start_time.dt.tz_convert("UTC")
    hour = local.dt.hour + local.dt.minute / 60
    assert not ((serve.resource == "ann") & (hour >= 12) & (hour < 13)).any()
    assert not ((serve.resource == "bob") & (hour >= 13) & (hour < 14)).any()
    # the pool works through both hours: someone is always on shift
    assert ((hour >= 12) & (hour < 14)).any()
    # work started before a break pauses over it
    inside = serve[(serve.resource == "ann") & (hour >= 11.5) & (hour < 12)]
    assert len(inside) and ((inside.end_time - inside.start_time) >= pd.Timedelta(hours=1)).all()


def test_members_on_the_pools_hours_change_nothing() -> None:
    """member_calendars that all name the pool's calendar give the same log as none."""
    base = _lunch_model("queue").to_dict()
    base["pools"]["staff"].pop("member_calendars")
    same = copy.deepcopy(base)
    same["pools"]["staff"]["member_calendars"] = {"ann": "office", "bob": "office"}
    a = simulate(SimulationModel.from_dict(base), cases=300, seed=2, start="2024-03-04T09:00:00")
    b = simulate(SimulationModel.from_dict(same), cases=300, seed=2, start="2024-03-04T09:00:00")
    pd.testing.assert_frame_equal(a, b)


def test_an_unknown_member_calendar_names_the_field() -> None:
    spec = _lunch_model("queue").to_dict()
    spec["pools"]["staff"]["member_calendars"]["ann"] = "lunchless"
    with pytest.raises(
        ConfigError, match=r"pools\.staff\.member_calendars\.ann: unknown calendar 'lunchless'"
    ):
        SimulationModel.from_dict(spec)
    spec["pools"]["staff"]["member_calendars"] = {"zoe": "office"}
    with pytest.raises(ConfigError, match=r"member_calendars: expected"):
        SimulationModel.from_dict(spec)


def _weekly_obs() -> Observations:
    rng = np.random.default_rng(0)
    # 20 weeks of unequal volume: 5 to 40 cases a week
    first = (
        np.concatenate(
            [
                w * 7 * 86_400_000_000 + np.sort(rng.integers(0, 5 * 86_400_000_000, n))
                for w, n in enumerate(rng.integers(5, 40, 20))
            ]
        )
        + 4 * 86_400_000_000
    )  # 1970-01-05 was a Monday
    inst = pd.DataFrame({"case_idx": np.arange(len(first)), "s_us": first, "end_us": first + 1, "pos": 0})
    return Observations(inst, None, {}, "UTC", {}, {}, {}, {}, [], {}, len(first), False, "weeks")


def test_weekly_resamples_carry_the_weeks_volume() -> None:
    obs = _weekly_obs()
    copies = [resample(obs, s, by="week") for s in range(30)]
    vols = np.asarray([c.volume for c in copies])
    assert vols.std() > 0.02 and abs(vols.mean() - 1) < 0.1
    for c in copies[:5]:
        assert c.inst.case_idx.nunique() == round(c.volume * obs.n_cases)
    # deterministic, and a resample of cases keeps the count
    pd.testing.assert_frame_equal(resample(obs, 4, by="week").inst, copies[4].inst)
    assert resample(obs, 4).volume == 1.0 and resample(obs, 4).inst.case_idx.nunique() == obs.n_cases
    with pytest.raises(ConfigError, match="by must be one of case, week"):
        resample(obs, 1, by="day")


def test_a_saving_on_steps_the_fidelity_check_gets_wrong_is_flagged() -> None:
    from flowlens.simulation.model import example_model
    from flowlens.simulation.scenarios import Scenario
    from flowlens.simulation.whatif import concerned_steps, whatif

    base = SimulationModel.from_dict(example_model())
    check = Scenario.from_dict(
        {"name": "check", "change": [{"action": "add_resources", "activity": "Check", "count": 1}]}
    )
    decide = Scenario.from_dict({"name": "decide", "change": [{"action": "automate", "activity": "Decide"}]})
    assert concerned_steps(base, check) == ["Check"] and concerned_steps(base, decide) == ["Decide"]
    res = whatif(base, [check, decide], cases=100, start="2024-03-04", replications=3)
    off = [{"part": "waiting", "activity": "Check", "ct_share": 0.06}]
    res.fidelity = {"trusted": True, "steps_off": off}
    out = res.to_dict()["scenarios"]
    assert [(s["trusted"], s["fidelity_concerns"]) for s in out] == [(False, ["Check"]), (True, [])]
    # a model that fails the check as a whole backs no saving
    res.fidelity = {"trusted": False, "steps_off": off}
    assert [s["trusted"] for s in res.to_dict()["scenarios"]] == [False, False]
    # without a fidelity check nothing is claimed either way
    res.fidelity = None
    assert "trusted" not in res.to_dict()["scenarios"][0]
