"""A step the log shows one person going straight on with (a call's checks, a counter visit's
steps) is fitted as a continuation and simulated without queueing again (methods §16.2, §16.4)."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path

import pandas as pd
import pytest

import flowlens
from conftest import shared_path
from flowlens.simulation import SimulationModel, simulate
from flowlens.simulation.fit import build, fit_model, observe
from flowlens.simulation.model import END, START, example_model
from flowlens.simulation.scenarios import Scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "benchmarks" / "scenarios" / "bank"


def chain(*steps: str) -> list[dict]:
    """Transitions of a model whose every case does ``steps`` in turn."""
    seq = [START, *steps, END]
    return [{"after": [a], "next": {b: 1.0}} for a, b in itertools.pairwise(seq)]


def call_model(continuations: bool) -> SimulationModel:
    """Answer -> Verify -> Handle, all by one agent, calls arriving faster than one agent serves."""
    m = copy.deepcopy(example_model())
    m["control_flow"]["transitions"] = chain("Answer", "Verify", "Handle")
    m["arrivals"]["gaps"] = {"dist": "exponential", "mean": 1.0}
    m["arrivals"]["intensity"] = [[12.0] * 24 for _ in range(7)]  # a call every 5 minutes
    m["pools"] = {"agents": {"members": ["ann"], "calendar": "24x7"}}
    m["activities"] = {
        "Answer": {"duration": {"dist": "fixed", "value": 0.0}, "pools": {"agents": 1.0}},
        "Verify": {"duration": {"dist": "fixed", "value": 60.0}, "pools": {"agents": 1.0}},
        "Handle": {"duration": {"dist": "exponential", "mean": 240.0}, "pools": {"agents": 1.0}},
    }
    if continuations:
        m["activities"]["Verify"]["continues_after"] = ["Answer"]
        m["activities"]["Handle"]["continues_after"] = ["Verify"]
    return SimulationModel.from_dict(m)


def steps(frame: pd.DataFrame, first: str, second: str) -> pd.DataFrame:
    """Each case's ``first`` and ``second`` side by side."""
    a = frame[frame.activity == first].set_index("case_id")
    b = frame[frame.activity == second].set_index("case_id")
    return a.join(b, lsuffix="_a", rsuffix="_b", how="inner")


def test_a_continued_step_is_done_by_the_same_person_at_once_and_a_removed_link_passes_them_on() -> None:
    kept = simulate(call_model(True), cases=150, seed=2, start="2024-03-04T09:00:00", warmup_cases=0)
    for first, second in (("Answer", "Verify"), ("Verify", "Handle")):
        s = steps(kept, first, second)
        assert (s.start_time_b == s.end_time_a).all() and (s.resource_b == s.resource_a).all()
    # without the continuation the agent takes the next call's Answer in between: the checks queue
    queued = simulate(call_model(False), cases=150, seed=2, start="2024-03-04T09:00:00", warmup_cases=0)
    s = steps(queued, "Answer", "Verify")
    assert (s.start_time_b > s.end_time_a).mean() > 0.3
    # the check removed, the agent goes straight from Answer to Handle
    scen = Scenario.from_dict({"name": "no check", "change": [{"action": "remove", "activity": "Verify"}]})
    gone = simulate(
        scen.apply(call_model(True)), cases=150, seed=2, start="2024-03-04T09:00:00", warmup_cases=0
    )
    assert "Verify" not in set(gone.activity)
    s = steps(gone, "Answer", "Handle")
    assert (s.start_time_b == s.end_time_a).all()


@pytest.fixture(scope="module")
def calls_model(tiny_bank_seed5: Path) -> SimulationModel:
    """The model of the generated tiny bank's service calls (250 issues, 15 transfers)."""
    ev = pd.read_parquet(tiny_bank_seed5 / "events.parquet")
    calls = ev[ev.process == "service_issue"].drop(columns=["attrs", "activity_zh"])
    return build(observe(flowlens.read_log(calls, tz="Asia/Shanghai")))


def test_the_fit_finds_the_steps_of_a_call_one_agent_does_in_a_row(calls_model: SimulationModel) -> None:
    m = calls_model
    # the agent who answers checks the caller's identity, then handles the request
    assert "Agent Answers" in m.activities["Verify Identity"]["continues_after"]
    assert m.activities["Handle Request"]["continues_after"] == ["Verify Identity"]
    # a step whose performer changes (the specialist after a transfer) is not one
    assert "continues_after" not in m.activities["Agent Answers"]


@pytest.mark.parametrize("name", ["purchasing", "insurance-claims"])
def test_real_logs_whose_steps_change_hands_have_no_continuation(name: str) -> None:
    m = fit_model(flowlens.read_log(shared_path(name)))
    assert not [a for a, spec in m.activities.items() if "continues_after" in spec]


def test_a_continuation_naming_an_unknown_step_is_refused() -> None:
    m = copy.deepcopy(example_model())
    m["activities"]["Decide"]["continues_after"] = ["Chek"]
    with pytest.raises(flowlens.errors.ConfigError, match=r"continues_after.*'Chek'.*'Check'"):
        SimulationModel.from_dict(m)


def transfer_model() -> SimulationModel:
    """A first-line agent takes the call, a specialist re-checks it and goes straight on to handle
    it (the first line handles most requests that come to them directly: Handle's shares)."""
    m = copy.deepcopy(example_model())
    m["control_flow"]["transitions"] = chain("Take", "Recheck", "Handle")
    m["arrivals"]["gaps"] = {"dist": "exponential", "mean": 1.0}
    m["arrivals"]["intensity"] = [[6.0] * 24 for _ in range(7)]
    m["pools"] = {
        "first line": {"members": ["ann", "bob"], "calendar": "24x7"},
        "specialists": {"members": ["sue"], "calendar": "24x7"},
    }
    m["activities"] = {
        "Take": {"duration": {"dist": "fixed", "value": 60.0}, "pools": {"first line": 1.0}},
        "Recheck": {"duration": {"dist": "fixed", "value": 60.0}, "pools": {"specialists": 1.0}},
        "Handle": {
            "duration": {"dist": "fixed", "value": 120.0},
            "pools": {"first line": 0.8, "specialists": 0.2},
            "continues_after": ["Recheck"],
        },
    }
    return SimulationModel.from_dict(m)


def test_a_step_going_on_from_a_removed_one_stays_with_the_pool_that_would_have_done_it() -> None:
    base = simulate(transfer_model(), cases=200, seed=3, start="2024-03-04T09:00:00", warmup_cases=0)
    assert set(base.loc[base.activity == "Handle", "resource"]) == {"sue"}
    # the re-check removed, nobody goes on from it: the request is still the specialist's
    # (before: drawn over Handle's pools, 80 % to the first line)
    scen = Scenario.from_dict(
        {"name": "no re-check", "change": [{"action": "remove", "activity": "Recheck"}]}
    )
    gone = simulate(
        scen.apply(transfer_model()), cases=200, seed=3, start="2024-03-04T09:00:00", warmup_cases=0
    )
    assert set(gone.loc[gone.activity == "Handle", "resource"]) == {"sue"}


def test_a_warm_handoff_leaves_the_transferred_requests_with_the_specialists(
    calls_model: SimulationModel,
) -> None:
    # the bank's warm_handoff remedy: no re-explanation after a transfer, no re-check after it
    scen = Scenario.from_file(SCENARIOS / "warm_handoff.service_issue.toml")
    handled = {}
    for name, m in (("as is", calls_model), ("warm", scen.apply(calls_model))):
        sim = simulate(m, cases=2000, seed=1, start="2024-09-02T00:00:00")
        by = sim.loc[sim.activity == "Handle Request", "resource"].astype(str)
        handled[name] = int(by.str.startswith("SPC").sum())
    # the specialists still handle what was transferred to them (before: 158 -> 87, the rest to
    # the first line and the branch counters)
    assert handled["as is"] > 100
    assert abs(handled["warm"] - handled["as is"]) <= 0.1 * handled["as is"]


def test_a_step_going_on_from_a_removed_one_after_an_automated_one_stays_with_its_runs_pool() -> None:
    # A (P1) -> B (P2, goes on from A) -> C (P2 or P3, goes on from B): one person's run
    m = copy.deepcopy(example_model())
    m["control_flow"]["transitions"] = chain("A", "B", "C")
    m["arrivals"]["intensity"] = [[2.0] * 24 for _ in range(7)]
    m["pools"] = {p: {"members": [p.lower()], "calendar": "24x7"} for p in ("P1", "P2", "P3")}
    fixed = {"dist": "fixed", "value": 60.0}
    m["activities"] = {
        "A": {"duration": fixed, "pools": {"P1": 1.0}},
        "B": {"duration": fixed, "pools": {"P2": 1.0}, "continues_after": ["A"]},
        "C": {"duration": fixed, "pools": {"P3": 0.5, "P2": 0.5}, "continues_after": ["B"]},
    }
    model = SimulationModel.from_dict(m)
    changes = [{"action": "automate", "activity": "A"}, {"action": "remove", "activity": "B"}]
    for edits in (changes[:1], changes):
        scen = Scenario.from_dict({"name": "s", "change": edits})
        sim = simulate(scen.apply(model), cases=300, seed=3, start="2024-03-04T09:00:00", warmup_cases=0)
        # automated, A passes nothing on: B queues for p2, and with B removed C still does
        # (before: drawn over C's pools, half to p3)
        assert set(sim.loc[sim.activity == "C", "resource"]) == {"p2"}, edits
