"""Daily release rules (batching) in the simulation model (methods §16.2, §16.4, §17.1).

A step whose cases are released together at a fixed time of day (a 16:00 submission run) is
fitted as a batch rule: the simulated baseline reproduces the wait for the release as
batching, and ``unbatch`` removes exactly that wait.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

import flowlens
from conftest import SHARED, shared_path
from flowlens.errors import ConfigError
from flowlens.simulation.engine import _batch_deadline, simulate
from flowlens.simulation.fit import _releases, fit_model
from flowlens.simulation.model import SimulationModel, example_model
from flowlens.simulation.scenarios import Scenario
from flowlens.timing.model import time_model

TZ = "Europe/Berlin"
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def _released_log(n_days: int = 28, per_day: int = 8, seed: int = 3) -> pd.DataFrame:
    """Cases arrive on weekdays 09:00-17:00; a clerk checks each (20 min); a system submits
    the checked cases in one run at 16:00 on weekdays and mails each customer 10 min later
    (all at 16:10, but they follow the run: not a release of their own)."""
    rng = np.random.default_rng(seed)
    rows = []
    day0 = pd.Timestamp("2024-03-04", tz=TZ)  # a Monday
    k = 0
    for d in range(n_days):
        day = day0 + pd.Timedelta(days=d)
        if day.weekday() >= 5:
            continue
        for t in np.sort(rng.uniform(9, 17, per_day)):
            arrive = day + pd.Timedelta(hours=float(t))
            checked = arrive + pd.Timedelta(minutes=20)
            day_of = checked.tz_localize(None).normalize()
            release = (day_of + pd.Timedelta(hours=16)).tz_localize(TZ)  # 16:00 local, DST or not
            while release < checked or release.weekday() >= 5:
                day_of += pd.Timedelta(days=1)
                release = (day_of + pd.Timedelta(hours=16)).tz_localize(TZ)
            notified = release + pd.Timedelta(minutes=10)
            c = f"c{k:04d}"
            clerk = "ann" if k % 2 else "bob"
            rows += [
                (c, "Check", clerk, arrive, checked),
                (c, "Submit", "SYS-SUBMIT", release, release),
                (c, "Notify", "SYS-MAIL", notified, notified),
            ]
            k += 1
    return pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"])


@pytest.fixture(scope="module")
def released() -> tuple[pd.DataFrame, SimulationModel]:
    frame = _released_log()
    return frame, fit_model(flowlens.read_log(frame, tz=TZ), order=1, assignment="queue")


def _wait_h(frame: pd.DataFrame, activity: str) -> float:
    x = frame[frame.activity == activity]
    return float(((x.start_time - x.enabled_time).dt.total_seconds() / 3600).mean())


def test_daily_release_is_fitted_as_a_batch_rule(released) -> None:
    _, model = released
    rule = model.batching["Submit"]
    assert rule["cutoff"] == "16:00"
    assert rule["days"] == WEEKDAYS
    assert rule["observed"]["at_release_times"] == 1.0
    assert sorted(model.batching) == ["Submit"]  # the mails follow the run: not batched
    spec = model.activities["Submit"]
    # the wait is the rule's: no delay carries it, and the step has no hours of its own
    assert "calendar" not in spec and not spec.get("batching_share")
    assert spec["delay"] == {"dist": "fixed", "value": 0.0}


def test_baseline_reproduces_the_release_wait_and_unbatch_removes_it(released) -> None:
    frame, model = released
    log_wait = float(
        (
            (
                frame.start[frame.activity == "Submit"].to_numpy()
                - frame.end[frame.activity == "Check"].to_numpy()
            )
            / np.timedelta64(1, "h")
        ).mean()
    )
    base = simulate(model, cases=400, start="2024-04-01T00:00:00", seed=2, with_enabled=True)
    sub = base[base.activity == "Submit"]
    local = sub.start_time.dt.tz_convert(TZ)
    # every submission happens in a 16:00 run on a weekday
    assert set(local.dt.strftime("%H:%M")) == {"16:00"}
    assert local.dt.weekday.max() <= 4
    assert _wait_h(base, "Submit") == pytest.approx(log_wait, rel=0.25)
    scen = Scenario.from_dict({"name": "u", "change": [{"action": "unbatch", "activity": "Submit"}]})
    m2 = scen.apply(model)
    assert "Submit" not in m2.batching
    after = simulate(m2, cases=400, start="2024-04-01T00:00:00", seed=2, with_enabled=True)
    assert _wait_h(after, "Submit") == pytest.approx(0.0, abs=1e-6)
    lead = {
        name: float(
            f.groupby("case_id")
            .end_time.max()
            .sub(f.groupby("case_id").start_time.min())
            .mean()
            .total_seconds()
        )
        / 3600
        for name, f in (("base", base), ("after", after))
    }
    # the saving is the release wait
    assert lead["base"] - lead["after"] == pytest.approx(_wait_h(base, "Submit"), rel=0.2)


def test_regular_arrivals_one_at_a_time_are_not_a_release() -> None:
    """One case every 30 minutes, each started on arrival: the starts cluster at 16 minutes
    of the day (as LoanApp's completeness checks do), but one at a time and nobody waits."""
    t0 = pd.Timestamp("2024-03-04 09:00", tz=TZ)
    rows = []
    for k in range(200):
        day, slot = divmod(k, 16)
        t = t0 + pd.Timedelta(days=day, minutes=30 * slot)
        rows += [(f"c{k}", "Open", "sys", t, t), (f"c{k}", "Review", "ann", t, t + pd.Timedelta(minutes=10))]
    log = flowlens.read_log(
        pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"]), tz=TZ
    )
    inst = time_model(log, clock_stop="end").instances.to_pandas()
    inst["s_us"] = inst.start_us.fillna(inst.end_us).astype("int64")
    assert _releases(inst, TZ)[0] == {}


@pytest.mark.parametrize("name", ["loanapp-train", "purchasing", "bpic2012-w", "insurance-claims"])
def test_no_release_rules_on_real_logs_without_batches(name: str, shared_logs) -> None:
    log = flowlens.read_log(shared_path(name))
    assert not SHARED[name][1]
    inst = time_model(log, clock_stop="end").instances.to_pandas()
    inst["s_us"] = inst.start_us.fillna(inst.end_us).astype("int64")
    assert _releases(inst, log.timezone)[0] == {}


def test_release_deadline_with_days_and_several_times() -> None:
    tz = ZoneInfo(TZ)
    rule = {"cutoff": ["10:00", "15:00"], "days": WEEKDAYS}

    def at(s: str) -> float:
        return datetime.fromisoformat(s).replace(tzinfo=tz).timestamp()

    def dl(s: str) -> str:
        return datetime.fromtimestamp(_batch_deadline(rule, at(s), tz), tz).strftime("%a %H:%M")

    assert dl("2024-03-04T09:00") == "Mon 10:00"
    assert dl("2024-03-04T10:00") == "Mon 10:00"  # at the release: released now
    assert dl("2024-03-04T12:00") == "Mon 15:00"
    assert dl("2024-03-08T15:01") == "Mon 10:00"  # Friday after the last run: Monday
    # the old single-time form, every day
    assert (
        datetime.fromtimestamp(_batch_deadline({"cutoff": "16:00"}, at("2024-03-09T17:00"), tz), tz).strftime(
            "%a %H:%M"
        )
        == "Sun 16:00"
    )


def test_batch_rule_is_validated() -> None:
    data = example_model()
    data["batching"] = {"Decide": {"cutoff": "16:00", "days": ["mon", "tues"]}}
    with pytest.raises(
        ConfigError, match=r"batching\.Decide\.days: unknown weekday 'tues'; did you mean 'tue'"
    ):
        SimulationModel.from_dict(data)
    data["batching"] = {"Decide": {"cutoff": "25:00"}}
    with pytest.raises(ConfigError, match=r"batching\.Decide\.cutoff: expected \"HH:MM\""):
        SimulationModel.from_dict(data)
    data["batching"] = {"Decide": {"cutoff": ["09:30", "16:00"], "days": WEEKDAYS}}
    assert SimulationModel.from_dict(data).batching["Decide"]["cutoff"] == ["09:30", "16:00"]


def test_a_removed_batched_step_does_not_wait_for_the_release(released) -> None:
    _, model = released
    scen = Scenario.from_dict({"name": "r", "change": [{"action": "remove", "activity": "Submit"}]})
    f = simulate(scen.apply(model), cases=200, start="2024-04-01T00:00:00", seed=2, with_enabled=True)
    assert "Submit" not in set(f.activity)
    assert _wait_h(f, "Notify") < 0.5
