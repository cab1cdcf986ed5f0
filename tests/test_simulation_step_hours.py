"""The hours of steps that need nobody (methods §16.2, "People, pools and calendars" and
"Delays"): a step keeps hours of its own only where the log shows instances held by them, and
the waits that end in such a step run on the hours in which they end in the log.

A call centre's automated steps follow a call whenever it comes; read off their sparse night
starts, their hours leave nights out, and kept they would hold a 03:30 call's identity check
until the morning. A customer who calls again does so in the hours customers call back, while
the first calls come at any hour: the repeat call's wait must not run in plain seconds to any
hour of the night.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import flowlens
from conftest import shared_path
from flowlens.errors import ConfigError
from flowlens.simulation.engine import simulate
from flowlens.simulation.fit import fit_model, observe
from flowlens.simulation.model import SimulationModel, example_model

DAY0 = pd.Timestamp("2024-03-04", tz="UTC")  # a Monday
#: calls per hour of day: busy days, a few calls at night
PER_HOUR = np.array([0.4] * 7 + [3.0] * 15 + [1.0] * 2)


def _calls(rng: np.random.Generator, days: int, per_hour: np.ndarray = PER_HOUR) -> list[pd.Timestamp]:
    """Call arrivals, a Poisson stream by hour of day over ``days`` days."""
    out = []
    for d in range(days):
        for h, rate in enumerate(per_hour):
            for m in np.sort(rng.uniform(0, 60, rng.poisson(rate))):
                out.append(DAY0 + pd.Timedelta(days=d, hours=h, minutes=float(m)))
    return out


def _ivr_log(days: int = 28, seed: int = 5) -> pd.DataFrame:
    """Each call: the menu (40 s), then for a third of the callers the identity check (20 s)
    at once, then the agent answers at once (an agent on duty around the clock, 3 min): no
    step ever waits. The checks are sparser at night than the calls: their hours, read off
    their starts, leave out more of the night than the menu's."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, t in enumerate(_calls(rng, days)):
        c, s = f"c{k:05d}", pd.Timedelta(seconds=1)
        end = t + pd.Timedelta(seconds=40)
        rows.append((c, "IVR Menu", None, t, end))
        if rng.random() < 1 / 3:
            rows.append((c, "IVR Authentication", None, end + s, end + s + pd.Timedelta(seconds=20)))
            end += s + pd.Timedelta(seconds=20)
        rows.append((c, "Agent Answers", f"agent{k % 4}", end + s, end + s + pd.Timedelta(minutes=3)))
    return pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"])


def _waits_s(sim: pd.DataFrame, activity: str) -> np.ndarray:
    x = sim[sim.activity == activity]
    return (x.start_time - x.enabled_time).dt.total_seconds().to_numpy()


@pytest.fixture(scope="module")
def ivr() -> SimulationModel:
    return fit_model(flowlens.read_log(_ivr_log(), tz="UTC"), order=1, assignment="queue")


def test_hours_that_never_hold_a_step_back_are_not_kept(ivr: SimulationModel) -> None:
    sim = simulate(ivr, cases=3000, start="2024-04-01T00:00:00", seed=3, with_enabled=True)
    # the log's menu starts as the call comes and the check follows it within a second, at
    # every hour, night calls included: a night call waits for neither until the morning
    for step in ("IVR Menu", "IVR Authentication"):
        assert float((_waits_s(sim, step) > 60).mean()) == 0.0
    # the hours read off the sparse night calls are not kept
    assert "calendar" not in ivr.activities["IVR Authentication"]
    assert "calendar" not in ivr.activities["IVR Menu"]


def _repeat_log(days: int = 28, seed: int = 7) -> pd.DataFrame:
    """First calls at any hour, as many by night as by day; the issue is opened at once; 40 % of the
    customers call again one to three days later, always between 08:00 and 22:00, and the case
    closes at once after the last call."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, t in enumerate(_calls(rng, days, np.full(24, 1.5))):
        c, s = f"c{k:05d}", pd.Timedelta(seconds=1)
        opened = t + pd.Timedelta(minutes=2)
        rows += [(c, "Call", None, t, opened), (c, "Open Issue", None, opened + s, opened + 2 * s)]
        last = opened + 2 * s
        if rng.random() < 0.4:
            day = (t + pd.Timedelta(days=int(rng.integers(1, 4)))).normalize()
            again = day + pd.Timedelta(hours=float(rng.uniform(8, 22)))
            last = again + pd.Timedelta(minutes=2)
            rows.append((c, "Call", None, again, last))
        rows.append((c, "Close", None, last + s, last + 2 * s))
    return pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"])


def _later_calls(sim: pd.DataFrame) -> pd.Series:
    """The start times of the simulated cases' calls after their first."""
    calls = sim[sim.activity == "Call"].sort_values("start_time")
    return calls[calls.duplicated("case_id")].start_time


@pytest.fixture(scope="module")
def repeat() -> tuple[pd.DataFrame, SimulationModel]:
    frame = _repeat_log()
    return frame, fit_model(flowlens.read_log(frame, tz="UTC"), order=1, assignment="queue")


def test_a_wait_for_the_customer_runs_in_the_hours_customers_act(repeat) -> None:
    frame, model = repeat
    sim = simulate(model, cases=2000, start="2024-04-01T00:00:00", seed=3, with_enabled=True)
    later = _later_calls(sim)
    assert len(later) > 500
    # no repeat call at night, as in the log
    assert float((later.dt.hour < 8).mean()) == 0.0
    # and the waits as long as the log's (working time of those hours, drawn on them)
    calls = frame[frame.activity == "Call"].sort_values("start")
    again = calls[calls.duplicated("case")].set_index("case").start
    opened = frame[frame.activity == "Open Issue"].set_index("case").end
    log_wait_s = float((again - opened.reindex(again.index)).dt.total_seconds().mean())
    waits = _waits_s(sim, "Call")
    assert float(waits[waits > 0].mean()) == pytest.approx(log_wait_s, rel=0.1)
    # the first calls come at every hour: the step has no hours, its waits have the log's 08-22
    spec = model.activities["Call"]
    assert "calendar" not in spec
    hours = model.calendars[spec["delay_calendar"]]
    assert hours["mon"] == ["08:00-22:00"] and hours["sun"] == ["08:00-22:00"]


def test_steps_without_such_waits_keep_no_wait_hours(ivr: SimulationModel) -> None:
    # nothing waits in the IVR log: no step's waiting gets hours
    assert not any("delay_calendar" in spec for spec in ivr.activities.values())


def test_hours_the_work_runs_over_are_kept() -> None:
    # LoanApp's applicants fill in the form in office hours over days: no form waits for the
    # hours to open, but the work runs over their closing, and without them the simulated
    # forms would end at night
    obs = observe(flowlens.read_log(shared_path("loanapp-train")))
    assert "Applicant completes form" in obs.act_cal
    g = obs.inst[obs.inst.activity == "Applicant completes form"]
    assert float(((g.end_us - g.s_us) > 12 * 3_600_000_000).mean()) > 0.05


def test_an_unknown_wait_calendar_is_one_line() -> None:
    d = example_model()
    d["activities"]["Decide"]["delay_calendar"] = "office"
    with pytest.raises(ConfigError, match=r"activities\.Decide\.delay_calendar: unknown calendar 'office'"):
        SimulationModel.from_dict(d)


def _quick_log(days: int = 35, seed: int = 1) -> pd.DataFrame:
    """A step always 20-40 s after the one before, in office hours on weekdays, with a few
    cases at 06:30 and 20:30 in the first two weeks and a few at weekends (too few for the
    hours of the starts to open the weekend: 6 % of the waits begin outside them)."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(days):
        hours = (
            [*rng.uniform(9, 17, 40), *([6.5, 20.5] if d < 14 else [])]
            if d % 7 < 5
            else [11.0, 12.0, 13.0, 14.0]
        )
        for h in hours:
            t = DAY0 + pd.Timedelta(days=d, hours=float(h))
            c, e = f"c{len(rows):05d}", t + pd.Timedelta(minutes=1)
            go = e + pd.Timedelta(seconds=float(rng.uniform(20, 40)))
            rows += [(c, "Receive", None, t, e), (c, "Process", None, go, go + pd.Timedelta(seconds=10))]
    return pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"])


def test_waits_of_seconds_get_no_wait_hours() -> None:
    # every wait lasts under a minute: one that begins at 06:31 is not held by 09-17 hours,
    # and run in them it would last until the morning
    model = fit_model(flowlens.read_log(_quick_log(), tz="UTC"), order=1, assignment="queue")
    assert "delay_calendar" not in model.activities["Process"]
    sim = simulate(model, cases=1000, start="2024-04-01T00:00:00", seed=3, with_enabled=True)
    assert float(_waits_s(sim, "Process").max()) <= 60


def test_a_short_log_gives_no_wait_hours() -> None:
    # six days cannot show a week's hours: Sunday and Monday would be closed
    model = fit_model(flowlens.read_log(_repeat_log(days=6), tz="UTC"), order=1, assignment="queue")
    assert "delay_calendar" not in model.activities["Call"]


def test_dates_alone_give_no_wait_hours() -> None:
    frame = _repeat_log()
    for col in ("start", "end"):
        frame[col] = frame[col].dt.floor("D")
    log = flowlens.read_log(frame, tz="UTC")
    assert (log.time_resolution_s or 0) >= 3600
    model = fit_model(log, order=1, assignment="queue")
    assert not any("delay_calendar" in spec for spec in model.activities.values())


def test_a_handful_of_waits_gives_no_wait_hours() -> None:
    # the repeat calls of eight customers only: too few to read a rule off
    frame = _repeat_log()
    calls = frame[frame.activity == "Call"]
    again = calls[calls.case.duplicated()]
    frame = frame.drop(again.index[8:])
    model = fit_model(flowlens.read_log(frame, tz="UTC"), order=1, assignment="queue")
    assert "delay_calendar" not in model.activities["Call"]


def _with_office() -> dict:
    d = example_model()
    d["calendars"]["office"] = {"mon": ["09:00-17:00"], "tue": ["09:00-17:00"]}
    return d


def test_wait_hours_on_a_step_people_do_are_refused() -> None:
    # the engine runs a staffed step's waiting in its pool's hours: these would be ignored
    d = _with_office()
    d["activities"]["Check"]["delay_calendar"] = "office"
    with pytest.raises(ConfigError, match=r"activities\.Check\.delay_calendar: 'Check' is done by a pool"):
        SimulationModel.from_dict(d)


def test_unbatch_drops_the_wait_hours_with_the_hours() -> None:
    # a batched step's hours and the hours its waits end in are both its release times
    from flowlens.simulation.scenarios import Scenario

    d = _with_office()
    d["activities"]["Decide"].update(calendar="office", delay_calendar="office", batching_share=0.5)
    scen = Scenario.from_dict({"name": "u", "change": [{"action": "unbatch", "activity": "Decide"}]})
    spec = scen.apply(SimulationModel.from_dict(d)).activities["Decide"]
    assert "calendar" not in spec and "delay_calendar" not in spec
