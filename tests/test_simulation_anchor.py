"""Anchored waits (methods §16.2): a customer's answer runs on its own clock from the step that
asked for it, whatever reminders are sent meanwhile, so removing the reminders does not move it."""

from __future__ import annotations

import copy

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


def _log(n: int = 240, seed: int = 3) -> pd.DataFrame:
    """Offers sent by clerks; the customer returns the offer a lognormal time (median 2.5 days)
    after it was sent; call agents phone about every day while it is out (at most 4 calls,
    on a schedule of their own); a clerk closes the case after the return. Cases arrive hourly
    (under 14 days: no calendars)."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2024-03-04 00:00", tz="UTC")
    rows = []
    for i in range(n):
        t = i * HOUR + rng.uniform(0, 600)
        sent_end = t + rng.uniform(300, 900)
        rows.append((f"c{i:03d}", "Send offer", t, sent_end, f"clerk{i % 3}"))
        ret = sent_end + DAY * 2.5 * float(np.exp(rng.normal(0, 0.6)))
        call = sent_end + rng.uniform(0.8, 1.2) * DAY
        calls = 0
        while call < ret and calls < 4:
            end = call + rng.uniform(120, 400)
            rows.append((f"c{i:03d}", "Reminder call", call, end, f"agent{calls % 2}"))
            calls += 1
            call = end + rng.uniform(0.8, 1.2) * DAY
        ret = max(ret, rows[-1][3] + 60)
        rows.append((f"c{i:03d}", "Offer returned", ret, ret, "customer"))
        close = ret + rng.uniform(600, 3 * HOUR)
        rows.append((f"c{i:03d}", "Close", close, close + rng.uniform(300, 900), f"clerk{(i + 1) % 3}"))
    f = pd.DataFrame(rows, columns=["case", "activity", "start", "end", "resource"])
    f["start"] = t0 + pd.to_timedelta(f.start, unit="s")
    f["end"] = t0 + pd.to_timedelta(f.end, unit="s")
    return f


@pytest.fixture(scope="module")
def model() -> SimulationModel:
    frame = _log()
    frame = frame.rename(columns={"case": "case_id", "start": "start_time", "end": "end_time"})
    log = flowlens.read_log(frame)
    return fit_model(log, assignment="queue")


def _lead_h(f: pd.DataFrame) -> float:
    g = f.groupby("case_id")
    return float(((g.end_time.max() - g.start_time.min()).dt.total_seconds() / 3600).mean())


def test_the_customers_answer_is_anchored_on_the_offer(model: SimulationModel) -> None:
    anc = model.activities["Offer returned"].get("anchor")
    assert anc is not None and anc["activity"] == "Send offer"
    # more calls go with a longer wait: the delay is drawn per range of steps in between,
    # and the ranges' means grow with the number of calls
    means = [np.mean(_draw_mean(r["delay"])) for r in anc["between"]]
    assert len(means) >= 2 and means == sorted(means)
    # staff steps and the reminders themselves stay chained
    assert "anchor" not in model.activities["Close"]
    assert "anchor" not in model.activities["Reminder call"]
    SimulationModel.from_dict(model.to_dict())  # the field validates and round-trips


def _draw_mean(dist: dict) -> float:
    from flowlens.simulation.distributions import draw

    return float(draw(dist, (np.arange(2000) + 0.5) / 2000).mean())


def test_removing_the_reminders_does_not_move_the_answer(model: SimulationModel) -> None:
    start = "2024-03-04T00:00:00+00:00"
    base = simulate(model, cases=300, start=start, seed=4)
    scen = Scenario.from_dict(
        {"name": "no calls", "change": [{"action": "remove", "activity": "Reminder call"}]}
    )
    alt = simulate(scen.apply(model), cases=300, start=start, seed=4)
    assert "Reminder call" not in set(alt.activity)
    ret_b = base[base.activity == "Offer returned"].set_index("case_id").start_time
    ret_a = alt[alt.activity == "Offer returned"].set_index("case_id").start_time
    calls = base[base.activity == "Reminder call"].groupby("case_id").end_time.max()
    # the answer never comes later without the calls, and where the calls did not overrun the
    # anchored time it comes at the same instant
    assert (ret_a <= ret_b[ret_a.index]).all()
    had_calls = ret_b.index.isin(calls.index)
    assert (ret_a[ret_b.index] == ret_b).mean() > 0.8
    # a reminder whose turn comes after the answer is due is not made (methods §16.4), even
    # when the calls are spaced wider than the customer takes: none starts after the return
    slow = Scenario.from_dict(
        {
            "name": "slow calls",
            "change": [{"action": "scale_delay", "activity": "Reminder call", "factor": 4}],
        }
    )
    wide = simulate(slow.apply(model), cases=300, start=start, seed=4)
    last_call = wide[wide.activity == "Reminder call"].groupby("case_id").start_time.max()
    ret_w = wide[wide.activity == "Offer returned"].set_index("case_id").start_time
    assert (last_call <= ret_w[last_call.index]).all()
    assert (ret_w == ret_b[ret_w.index]).mean() > 0.8
    assert had_calls.mean() > 0.3
    # the lead time hardly moves (the calls took minutes); chained, it would drop by days
    saving = _lead_h(base) - _lead_h(alt)
    assert abs(saving) < 0.03 * _lead_h(base)
    chained = copy.deepcopy(model)
    del chained.activities["Offer returned"]["anchor"]
    b0 = simulate(chained, cases=300, start=start, seed=4)
    a0 = simulate(scen.apply(chained), cases=300, start=start, seed=4)
    assert _lead_h(b0) - _lead_h(a0) > 5 * max(abs(saving), 1.0)


def test_the_baseline_keeps_the_logs_wait(model: SimulationModel) -> None:
    frame = _log()
    real = (
        frame[frame.activity == "Offer returned"].set_index("case").start
        - frame[frame.activity == "Send offer"].set_index("case").end
    ).dt.total_seconds().mean() / 3600
    sim = simulate(model, cases=300, start="2024-03-04T00:00:00+00:00", seed=4)
    got = (
        sim[sim.activity == "Offer returned"].set_index("case_id").start_time
        - sim[sim.activity == "Send offer"].set_index("case_id").end_time
    ).dt.total_seconds().mean() / 3600
    assert abs(got - real) < 0.15 * real


def test_a_bad_anchor_is_one_line() -> None:
    d = example_model()
    d["activities"]["Decide"]["anchor"] = {
        "activity": "Chek",
        "between": [{"from": 0, "delay": {"dist": "fixed", "value": 1}}],
    }
    with pytest.raises(ConfigError, match="did you mean 'Check'"):
        SimulationModel.from_dict(d)
    d["activities"]["Decide"]["anchor"] = {
        "activity": "Check",
        "between": [{"from": 1, "delay": {"dist": "fixed", "value": 1}}],
    }
    with pytest.raises(ConfigError, match=r"between\[0\]\.from"):
        SimulationModel.from_dict(d)
