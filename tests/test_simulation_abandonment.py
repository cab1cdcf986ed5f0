"""Wait-dependent abandonment: abandonment points found in the log, patience fitted with the
served cases censored, and the leaving decided during the run (methods §16.4, §16.9)."""

from __future__ import annotations

import copy
import heapq
from typing import Any

import numpy as np
import pandas as pd
import pytest

import flowlens
from conftest import shared_path
from flowlens.errors import ConfigError
from flowlens.simulation import SimulationModel, simulate
from flowlens.simulation.abandonment import (
    abandonment_points,
    censored_delay,
    censored_distribution,
    kaplan_meier,
)
from flowlens.simulation.fit import (
    _delays,
    _pools,
    _recorded_waits_to_served,
    build,
    fit_model,
    observe,
    unsettled_queues,
)
from flowlens.simulation.model import END, example_model
from flowlens.simulation.model import START as START_STEP
from flowlens.simulation.scenarios import Scenario
from flowlens.simulation.step_priority import served_when_idle

PATIENCE_MEDIAN_S = 120.0
START = pd.Timestamp("2024-03-04 00:00:00", tz="UTC")


def call_log(
    n: int = 1500, agents: int = 3, patience: float | None = PATIENCE_MEDIAN_S, seed: int = 5
) -> pd.DataFrame:
    """A call centre open round the clock: calls enter the queue (nobody records it: no
    resource), ``agents`` agents talk to them first come, first served (4 min on average); a
    caller whose wait exceeds their patience (lognormal, median ``patience``; None: endless)
    hangs up, and a third of those call back later the same way as a new step of the case."""
    rng = np.random.default_rng(seed)
    arrive = np.cumsum(rng.exponential(80.0, n))  # one call every 80 s: the agents are busy
    talk = rng.exponential(240.0, n)
    pat = rng.lognormal(np.log(patience), 1.0, n) if patience else np.full(n, np.inf)
    again = rng.random(n) < 1 / 3
    free = [(0.0, f"agent{k}") for k in range(agents)]
    rows = []
    for i in range(n):
        case, t = f"c{i:05d}", float(arrive[i])
        rows.append((case, "Enter Queue", t, t, None))
        at, who = free[0]
        if max(at, t) - t > pat[i]:
            rows.append((case, "Hang Up", t + pat[i], t + pat[i], None))
            if again[i]:
                rows.append((case, "Call Back", t + pat[i] + 3600.0, t + pat[i] + 3600.0, None))
            continue
        heapq.heappop(free)
        s = max(at, t)
        rows.append((case, "Talk", s, s + talk[i], who))
        heapq.heappush(free, (s + talk[i], who))
    f = pd.DataFrame(rows, columns=["case", "activity", "start", "end", "resource"])
    f["start"] = START + pd.to_timedelta(f.start, unit="s")
    f["end"] = START + pd.to_timedelta(f.end, unit="s")
    return f


def read(frame: pd.DataFrame) -> flowlens.EventLog:
    return flowlens.read_log(
        frame,
        flowlens.ColumnMap(case="case", activity="activity", start="start", end="end", resource="resource"),
    )


def left_share(frame: pd.DataFrame, point: str = "Enter Queue", served: str = "Talk") -> float:
    """The share of the point's instances whose next step is not the served one (a simulated
    frame, or :func:`call_log`'s)."""
    case, start, end = (
        ("case_id", "start_time", "end_time") if "case_id" in frame else ("case", "start", "end")
    )
    f = frame.sort_values([case, start, end], kind="stable")
    nxt = f.groupby(case).activity.shift(-1).fillna(END)
    return float((nxt[f.activity == point] != served).mean())


def test_kaplan_meier_counts_the_censored_as_at_risk_until_their_time() -> None:
    # 4 cases: leaves at 1, served at 2 (censored), leaves at 3, served at 4
    t, s = kaplan_meier(np.array([1.0, 2.0, 3.0, 4.0]), np.array([True, False, True, False]))
    assert t.tolist() == [1.0, 3.0]
    assert s.tolist() == pytest.approx([0.75, 0.75 * 0.5])
    d, beyond = censored_distribution(np.array([1.0, 2.0, 3.0, 4.0]), np.array([True, False, True, False]))
    assert beyond == pytest.approx(0.375)  # longer than every wait seen: never leaves
    assert d["quantiles"][0] == 1.0 and d["quantiles"][-1] == 3.0


@pytest.fixture(scope="module")
def fitted() -> tuple[pd.DataFrame, SimulationModel]:
    frame = call_log()
    return frame, fit_model(read(frame))


def test_the_fit_finds_the_point_and_recovers_the_patience_with_the_served_censored(
    fitted: tuple[pd.DataFrame, SimulationModel],
) -> None:
    frame, model = fitted
    spec = model.activities["Enter Queue"]["abandonment"]
    assert spec["served"] == ["Talk"] and spec["leave"] == ["Hang Up"]
    (found,) = model.fitted["abandonment"]
    assert found["activity"] == "Enter Queue"
    # the abandoners' waits alone (the uncensored view) say far less patience than there is
    left = frame[frame.activity == "Hang Up"].set_index("case").start
    entered = frame[frame.activity == "Enter Queue"].set_index("case").start
    naive = float((left - entered.loc[left.index]).dt.total_seconds().median())
    assert naive < 0.8 * PATIENCE_MEDIAN_S
    assert found["patience_median_s"] == pytest.approx(PATIENCE_MEDIAN_S, rel=0.2)


def test_the_simulation_decides_leaving_during_the_run_and_shorter_waits_lose_fewer_cases(
    fitted: tuple[pd.DataFrame, SimulationModel],
) -> None:
    frame, model = fitted
    kw = {"cases": 1500, "seed": 3, "start": str(START)}
    base = simulate(model, **kw)
    pd.testing.assert_frame_equal(base, simulate(model, **kw))  # decided during the run, reproducibly
    more = simulate(
        Scenario.from_dict(
            {"name": "two more", "change": [{"action": "add_resources", "activity": "Talk", "count": 2}]}
        ).apply(model),
        **kw,
    )
    logged = left_share(frame)
    assert 0.05 < logged < 0.5
    assert left_share(base) == pytest.approx(logged, abs=0.06)
    assert left_share(more) < 0.5 * left_share(base)
    # a case that left took the way of leaving (its tail) and no agent's time
    hung = base[base.activity == "Hang Up"].case_id
    talked = set(base[base.activity == "Talk"].case_id)
    assert not (set(hung) & talked)
    assert set(base[base.activity == "Call Back"].case_id) <= set(hung)


def test_a_pool_of_shifts_whose_shift_is_the_pools_calendar_simulates_as_the_plain_pool(
    fitted: tuple[pd.DataFrame, SimulationModel],
) -> None:
    # one agent given the pool's own hours as a shift changes nothing; a caller who hung up
    # is not served by a member on shift (their talk would be work done for nobody)
    _, model = fitted
    d = model.to_dict()
    (name,) = [k for k, p in d["pools"].items() if "agent0" in p["members"]]
    pool = d["pools"][name]
    assert pool["calendar"] == "24x7"
    d["calendars"]["same hours"] = {
        day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    }
    pool["member_calendars"] = {pool["members"][0]: "same hours"}
    kw = {"cases": 600, "seed": 3, "start": str(START)}
    plain, shifts = simulate(model, **kw), simulate(SimulationModel.from_dict(d), **kw)
    assert left_share(shifts) == left_share(plain)
    pd.testing.assert_frame_equal(shifts, plain)


def recorded_queue(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`call_log` with its queue entry recorded as a step that lasts until the talk starts
    or the caller hangs up."""
    f = frame.sort_values(["case", "start"], kind="stable").reset_index(drop=True)
    nxt = f.groupby("case").start.shift(-1)
    q = f.activity == "Enter Queue"
    f.loc[q, "end"] = nxt[q].fillna(f.loc[q, "end"])
    return f


def test_a_recorded_queue_step_ends_when_the_case_is_served_or_leaves_and_follows_the_staffing(
    fitted: tuple[pd.DataFrame, SimulationModel],
) -> None:
    frame = recorded_queue(fitted[0])
    model = fit_model(read(frame))
    spec = model.activities["Enter Queue"]
    assert spec["abandonment"]["waits_in_point"] and spec["duration"] == {"dist": "fixed", "value": 0.0}
    kw = {"cases": 1500, "seed": 3, "start": str(START)}
    base = simulate(model, **kw)
    more = simulate(
        Scenario.from_dict(
            {"name": "two more", "change": [{"action": "add_resources", "activity": "Talk", "count": 2}]}
        ).apply(model),
        **kw,
    )
    # the wait is counted once: the leaving matches the log and falls with more agents
    assert left_share(base) == pytest.approx(left_share(frame), abs=0.04)
    assert left_share(more) < 0.5 * left_share(base)
    # the queue step ends as the talk starts (or as the caller hangs up)
    f = base.sort_values(["case_id", "start_time"], kind="stable")
    nxt_start = f.groupby("case_id").start_time.shift(-1)
    q = f.activity == "Enter Queue"
    assert (f.end_time[q] == nxt_start[q]).all()
    waited = (f.end_time[q] - f.start_time[q]).dt.total_seconds().mean()
    logged = (frame.end[frame.activity == "Enter Queue"] - frame.start[frame.activity == "Enter Queue"]).dt
    assert waited == pytest.approx(logged.total_seconds().mean(), rel=0.25)


def test_a_recorded_queue_step_in_a_tail_lasts_until_the_next_step_starts() -> None:
    # callers who hang up call back ten minutes later and queue again (the point inside the
    # way of leaving, its leaving drawn before the clock): that queue step too ends as its next
    # step (the talk, or the hang-up) starts, not at once
    m = point_model(["ann", "bob"])
    m["arrivals"]["intensity"] = [[8.0] * 24 for _ in range(7)]
    m["control_flow"]["transitions"] = [
        {"after": [START_STEP], "next": {"Enter": 1.0}},
        {"after": ["Enter"], "next": {"Talk": 0.7, "Hang Up": 0.3}},
        {"after": ["Talk"], "next": {END: 1.0}},
        {"after": ["Hang Up"], "next": {"Call Back": 0.5, END: 0.5}},
        {"after": ["Call Back"], "next": {"Enter": 1.0}},
    ]
    m["activities"]["Enter"]["abandonment"].update(leave=["Hang Up"], waits_in_point=True)
    m["activities"]["Hang Up"] = {
        "duration": {"dist": "fixed", "value": 0.0},
        "delay": {"dist": "fixed", "value": 30.0},
    }
    m["activities"]["Call Back"] = {
        "duration": {"dist": "fixed", "value": 0.0},
        "delay": {"dist": "fixed", "value": 600.0},
    }
    sim = simulate(SimulationModel.from_dict(m), cases=300, seed=1, start=str(START))
    f = sim.sort_values(["case_id", "start_time", "end_time"], kind="stable")
    nxt_start = f.groupby("case_id").start_time.shift(-1)
    q = (f.activity == "Enter").to_numpy()
    again = q & (f.groupby("case_id").cumcount() > 0).to_numpy()
    assert again.sum() > 10
    assert (f.end_time[q] == nxt_start[q]).all()


def point_model(agents: list[str]) -> dict[str, Any]:
    """A call centre model: calls enter a queue (an abandonment point, patience one minute)
    and most are talked to for ten minutes by ``agents``, the rest end at once."""
    m = example_model()
    m["control_flow"] = {
        "order": 1,
        "concurrent": [],
        "transitions": [
            {"after": [START_STEP], "next": {"Enter": 1.0}},
            {"after": ["Enter"], "next": {"Talk": 0.8, END: 0.2}},
            {"after": ["Talk"], "next": {END: 1.0}},
        ],
    }
    m["activities"] = {
        "Enter": {
            "duration": {"dist": "fixed", "value": 0.0},
            "abandonment": {
                "served": ["Talk"],
                "leave": [END],
                "patience": {"dist": "fixed", "value": 60.0},
                "patient_share": 0.0,
            },
        },
        "Talk": {"duration": {"dist": "fixed", "value": 600.0}, "pools": {"agents": 1.0}},
    }
    m["pools"] = {"agents": {"members": agents, "calendar": "24x7"}}
    return m


def test_a_step_already_started_alongside_the_awaited_one_stays_done_when_the_case_leaves() -> None:
    # a clerk's note runs alongside the talk and starts at once; callers give up after a
    # minute while the one agent talks 10 minutes: those who leave had their note written
    m = point_model(["ann"])
    m["control_flow"]["concurrent"] = [["Talk", "Note"]]
    m["control_flow"]["transitions"][2:] = [
        {"after": ["Talk"], "next": {"Note": 1.0}},
        {"after": ["Note"], "next": {END: 1.0}},
    ]
    m["activities"]["Note"] = {"duration": {"dist": "fixed", "value": 10.0}, "pools": {"clerks": 1.0}}
    m["pools"]["clerks"] = {"members": ["cid", "dan"], "calendar": "24x7"}
    sim = simulate(SimulationModel.from_dict(m), cases=200, seed=1, start=str(START))
    talked = set(sim.case_id[sim.activity == "Talk"])
    left = set(sim.case_id) - talked
    assert len(left) > 10
    assert left <= set(sim.case_id[sim.activity == "Note"])


def test_a_continuation_of_a_step_kept_alongside_is_not_done_when_its_case_left() -> None:
    # the clerk's note (100 s) runs alongside the talk and the clerk files it straight after
    # (continues_after); callers give up after a minute: the filing of a caller who left is
    # not done, the clerk is free for their other work, and every caller's steps end (the run
    # counted that filing as not done and then as ended, and stopped before the last cases)
    m = point_model(["ann"])
    m["control_flow"]["concurrent"] = [["Talk", "Note"], ["Talk", "File"]]
    m["control_flow"]["transitions"][2:] = [
        {"after": ["Talk"], "next": {"Note": 1.0}},
        {"after": ["Note"], "next": {"File": 1.0}},
        {"after": ["File"], "next": {END: 1.0}},
    ]
    m["activities"]["Note"] = {"duration": {"dist": "fixed", "value": 100.0}, "pools": {"clerks": 1.0}}
    m["activities"]["File"] = {
        "duration": {"dist": "fixed", "value": 20.0},
        "pools": {"clerks": 1.0},
        "continues_after": ["Note"],
    }
    m["pools"]["clerks"] = {
        "members": ["cid", "dan"],
        "calendar": "24x7",
        "other_work": {
            "intensity": [[2.0] * 24 for _ in range(7)],
            "gaps": {"dist": "exponential", "mean": 1.0},
            "duration": {"dist": "fixed", "value": 60.0},
        },
    }
    sim = simulate(SimulationModel.from_dict(m), cases=300, seed=1, start=str(START))
    talked = set(sim.case_id[sim.activity == "Talk"])
    assert len(set(sim.case_id) - talked) > 10
    assert (sim.start_time >= START).all()
    assert set(sim.case_id[sim.activity == "File"]) == talked


def test_an_anchored_step_in_the_way_of_leaving_stops_nothing_on_the_served_path() -> None:
    # a letter goes out, then the customer calls; who hangs up answers the letter by post ten
    # minutes after it (anchored on the letter, methods §16.2), who is served gets a follow-up
    # twenty minutes after the talk: the answer of a way of leaving not taken stopped the
    # served callers' follow-up as if it were a reminder the answer made pointless
    m = point_model(["ann"])
    m["control_flow"]["transitions"] = [
        {"after": [START_STEP], "next": {"Letter": 1.0}},
        {"after": ["Letter"], "next": {"Enter": 1.0}},
        {"after": ["Enter"], "next": {"Talk": 0.7, "Hang Up": 0.3}},
        {"after": ["Talk"], "next": {"Follow-up": 1.0}},
        {"after": ["Follow-up"], "next": {END: 1.0}},
        {"after": ["Hang Up"], "next": {"Answer": 1.0}},
        {"after": ["Answer"], "next": {END: 1.0}},
    ]
    m["activities"]["Enter"]["abandonment"]["leave"] = ["Hang Up"]
    nobody = {"duration": {"dist": "fixed", "value": 0.0}}
    m["activities"].update({"Letter": nobody, "Hang Up": nobody})
    m["activities"]["Follow-up"] = {
        "duration": {"dist": "fixed", "value": 60.0},
        "pools": {"agents": 1.0},
        "delay": {"dist": "fixed", "value": 1200.0},
    }
    m["activities"]["Answer"] = {
        **nobody,
        "anchor": {
            "activity": "Letter",
            "between": [{"from": 0, "delay": {"dist": "fixed", "value": 600.0}}],
        },
    }
    sim = simulate(SimulationModel.from_dict(m), cases=200, seed=1, start=str(START))
    talked = set(sim.case_id[sim.activity == "Talk"])
    assert len(talked) > 100 and set(sim.case_id[sim.activity == "Follow-up"]) == talked
    # who left answers ten minutes after the letter
    sent = sim[sim.activity == "Letter"].set_index("case_id").end_time
    answered = sim[sim.activity == "Answer"].set_index("case_id").start_time
    assert len(answered) > 10
    assert ((answered - sent.loc[answered.index]).dt.total_seconds() == 600.0).all()


def test_a_remove_reads_a_leavers_history_up_to_the_point() -> None:
    # the menu checks the caller's identity, and so does the agent after the talk, or the clerk
    # who calls back a caller who hung up: "remove Check after Menu" and "remove the first
    # Check" remove both (the served path's check after the point was not done by a caller who
    # hung up: it neither comes after the menu's nor makes the clerk's the second)
    m = point_model(["ann"])
    m["control_flow"]["transitions"] = [
        {"after": [START_STEP], "next": {"Menu": 1.0}},
        {"after": ["Menu"], "next": {"Enter": 1.0}},
        {"after": ["Enter"], "next": {"Talk": 0.7, "Hang Up": 0.3}},
        {"after": ["Talk"], "next": {"Check": 1.0}},
        {"after": ["Hang Up"], "next": {"Check": 1.0}},
        {"after": ["Check"], "next": {END: 1.0}},
    ]
    m["activities"]["Enter"]["abandonment"]["leave"] = ["Hang Up"]
    nobody = {"duration": {"dist": "fixed", "value": 0.0}}
    m["activities"].update(
        {"Menu": nobody, "Hang Up": nobody, "Check": {"duration": {"dist": "fixed", "value": 30.0}}}
    )
    model = SimulationModel.from_dict(m)
    kw = {"cases": 200, "seed": 1, "start": str(START)}
    for rule in ({"after": "Menu"}, {"occurrence": 1}):
        change = {"action": "remove", "activity": "Check", **rule}
        removed = simulate(Scenario.from_dict({"name": "once", "change": [change]}).apply(model), **kw)
        assert (removed.activity == "Hang Up").sum() > 10
        assert not (removed.activity == "Check").any(), rule


def test_a_served_step_waiting_in_its_batch_does_not_leave() -> None:
    # a case every 100 s, talks released in batches of 3, patience 60 s: the first two of
    # each batch wait past their patience in the batch, which counts them (methods §16.4)
    m = point_model(["a", "b", "c", "d"])
    m["arrivals"]["gaps"] = {"dist": "fixed", "value": 100.0}
    m["activities"]["Talk"]["duration"] = {"dist": "fixed", "value": 10.0}
    m["batching"] = {"Talk": {"size": 3}}
    sim = simulate(SimulationModel.from_dict(m), cases=60, seed=1, start=str(START))
    talks = sim[sim.activity == "Talk"]
    assert len(talks) == sim.case_id.nunique() == 60
    assert (talks.groupby("start_time").size() == 3).all()


def test_an_abandonment_point_is_a_step_nobody_performs_before_one_people_perform() -> None:
    m = point_model(["ann"])
    SimulationModel.from_dict(m)
    staffed = copy.deepcopy(m)
    staffed["activities"]["Enter"]["pools"] = {"agents": 1.0}
    with pytest.raises(ConfigError, match="cannot be an abandonment point"):
        SimulationModel.from_dict(staffed)
    flag = copy.deepcopy(m)
    flag["activities"]["Enter"]["abandonment"]["waits_in_point"] = "yes"
    with pytest.raises(ConfigError, match="waits_in_point"):
        SimulationModel.from_dict(flag)


def test_a_model_with_a_recorded_queue_step_follows_the_json_schema() -> None:
    import json
    from importlib import resources

    import jsonschema

    schema = json.loads(resources.files("flowlens.simulation").joinpath("model.schema.json").read_text())
    m = point_model(["ann"])
    m["activities"]["Enter"]["abandonment"]["waits_in_point"] = True
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(SimulationModel.from_dict(m).to_dict()))
    assert not errors, errors[0].message


def test_a_scenario_may_automate_the_served_step_and_its_callers_then_stop_leaving() -> None:
    # one agent talks ten minutes to callers who give up after a minute; an answering system
    # instead of the agent (automate) leaves no queue to give up in: every caller routed to
    # the talk is served, those who left in the baseline too (the same draws)
    model = SimulationModel.from_dict(point_model(["ann"]))
    kw = {"cases": 200, "seed": 1, "start": str(START)}
    base = simulate(model, **kw)
    bot = Scenario.from_dict(
        {"name": "bot", "change": [{"action": "automate", "activity": "Talk", "duration_factor": 0.1}]}
    )
    auto = simulate(bot.apply(model), **kw)
    talks = auto[auto.activity == "Talk"]
    assert talks.resource.isna().all()
    served, served_auto = set(base.case_id[base.activity == "Talk"]), set(talks.case_id)
    assert served < served_auto and len(served_auto - served) > 10


def test_the_served_delay_censors_a_caller_whose_case_ends_at_the_point_at_the_points_end() -> None:
    # three calls served after 1, 2 and 3 s of a recorded queue, one that hung up (its case
    # ends at the point) after 10 s: a quarter of the delay lies beyond the served ones, up to 10 s
    inst = pd.DataFrame(
        {
            "case_idx": [0, 0, 1, 1, 2, 2, 3],
            "activity": ["Queue", "Talk"] * 3 + ["Queue"],
            "prev": ["(start)", "Queue"] * 3 + ["(start)"],
            "next": ["Talk", END] * 3 + [END],
            "s_us": [0, 1_000_000, 0, 2_000_000, 0, 3_000_000, 0],
            "end_us": [1_000_000, 9_000_000, 2_000_000, 9_000_000, 3_000_000, 9_000_000, 10_000_000],
            "enabled_us": [0] * 7,
        }
    )
    d = censored_delay(inst, "Queue", ["Talk"], [END], (inst.s_us - inst.enabled_us) / 1e6)
    assert d["quantiles"][-2:] == [3.0, 10.0] and d["levels"][-2:] == [0.75, 1.0]


def test_a_step_done_once_per_case_has_each_delay_context_once() -> None:
    # a call centre's talk comes after the queue or straight after the menu and is done once
    # per call: a context "first time" says nothing, and each context is listed once (the bank
    # call centre's 'Service' listed every one twice, with and without occurrence 1)
    g = pd.DataFrame({"prev": ["Queue"] * 60 + ["Menu"] * 60, "next": ([END] * 30 + ["Survey"] * 30) * 2})
    delay = pd.Series(np.random.default_rng(1).exponential(60.0, len(g)))
    once = _delays(g.assign(occ="1"), delay)["delay_context"]
    where = [{k: v for k, v in c.items() if k != "delay"} for c in once]
    assert len(where) == 6 and not any("occurrence" in w for w in where)
    assert len({tuple(sorted(w.items())) for w in where}) == 6
    # a step done again keeps its contexts by occurrence
    again = _delays(g.assign(occ=["1", "2"] * 60), delay)["delay_context"]
    assert any("occurrence" in c for c in again)


def test_a_log_whose_callers_never_give_up_has_no_abandonment_point() -> None:
    frame = call_log(patience=None)
    obs = observe(read(frame))
    assert abandonment_points(obs.inst, set(obs.shares_of), obs.concurrent) == {}
    # and a branch taken at once, whatever the wait, is not one either
    quick = frame.copy()
    rng = np.random.default_rng(1)
    cases = quick.case.unique()
    gone = set(rng.choice(cases, size=len(cases) // 10, replace=False))
    quick = quick[~(quick.case.isin(gone) & (quick.activity == "Talk"))]
    extra = quick[quick.case.isin(gone) & (quick.activity == "Enter Queue")].assign(activity="Hang Up")
    obs = observe(read(pd.concat([quick, extra]).sort_values(["case", "start"], kind="stable")))
    assert abandonment_points(obs.inst, set(obs.shares_of), obs.concurrent) == {}


def follow_up_log(n: int = 600, seed: int = 3) -> pd.DataFrame:
    """A loan offer that the customer returns by themselves or that the bank's follow-up call
    reaches first: the offer is sent (nobody records it), the call is scheduled 2 to 8 days
    later by one of two officers who are mostly free (a 10-minute call), and the customer,
    whose return takes an exponential time with median 6 days, returns the offer before it in
    about 40 % of the cases. The return races a schedule, not a queue: the officers are idle
    nearly all the while."""
    rng = np.random.default_rng(seed)
    sent = np.sort(rng.uniform(0, 120 * 86400.0, n))
    call = sent + rng.uniform(2 * 86400.0, 8 * 86400.0, n)
    back = sent + rng.exponential(6 * 86400.0 / np.log(2), n)
    rows = [(f"c{i:04d}", "Offer Sent", sent[i], sent[i], None) for i in range(n)]
    rows += [(f"c{i:04d}", "Offer Returned", back[i], back[i], None) for i in np.flatnonzero(back < call)]
    free = [0.0, 0.0]  # one call at a time per officer, in the order they fall due
    for i in sorted(np.flatnonzero(back >= call), key=lambda i: call[i]):
        k = int(np.argmin(free))
        s = max(call[i], free[k])
        rows.append((f"c{i:04d}", "Follow-up Call", s, s + 600.0, f"officer{k}"))
        free[k] = s + 600.0
    f = pd.DataFrame(rows, columns=["case", "activity", "start", "end", "resource"])
    f["start"] = START + pd.to_timedelta(f.start, unit="s")
    f["end"] = START + pd.to_timedelta(f.end, unit="s")
    return f


def test_a_return_racing_a_scheduled_follow_up_is_no_abandonment_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = follow_up_log()
    assert 0.3 < (frame.activity == "Offer Returned").sum() / frame.case.nunique() < 0.5
    obs = observe(read(frame))
    assert abandonment_points(obs.inst, set(obs.shares_of), obs.concurrent) == {}
    # it is the queue rule that rejects it: the leaving grows with the wait as a patience's does
    import flowlens.simulation.abandonment as ab

    monkeypatch.setattr(ab, "MIN_QUEUE_SHARE", 0.0)
    (point,) = abandonment_points(obs.inst, set(obs.shares_of), obs.concurrent).values()
    assert point["served"] == ["Follow-up Call"] and point["observed"]["queue_share"] < 0.01


def test_the_call_centre_queue_is_a_queue_for_its_agents() -> None:
    obs = observe(flowlens.read_log(shared_path("bank-callcenter")))
    points = abandonment_points(obs.inst, set(obs.shares_of), obs.concurrent)
    assert list(points) == ["Queue"]
    # the agent who takes a call was on another call for most of the caller's wait
    assert points["Queue"]["observed"]["queue_share"] > 0.7
    # the queue's wait moved to the served step (a recorded queue step, §16.9) changes no
    # verdict on the order of service (§16.2): the agents' queue settles (as many calls start
    # in the middle half as reach it), and 'Service' is no step served when idle
    pools, shares = _pools(obs.inst, obs.groups, obs.cal_of, obs.shift_cal_of)
    moved = _recorded_waits_to_served(obs.inst, ["Queue"])
    assert unsettled_queues(moved, shares) == unsettled_queues(obs.inst, shares) == []
    service = [{"activity": "Service", "pools": sorted(shares["Service"])}]
    assert served_when_idle(moved, service, pools) == served_when_idle(obs.inst, service, pools) == []
    # the queue step needs nobody and nothing waits before it (a caller joins the queue as the
    # menu ends, at every hour): hours read off its starts held none of its calls in the log,
    # and kept they held the night's callers until the morning (methods §16.2)
    q = obs.inst[obs.inst.activity == "Queue"]
    assert float(((q.s_us - q.enabled_us) > 60_000_000).mean()) < 0.01
    assert "Queue" not in obs.act_cal and "Queue" not in obs.act_delay_cal


@pytest.mark.slow
def test_the_call_centre_log_has_its_queue_as_a_point_and_simulates_its_abandonment_share() -> None:
    log = flowlens.read_log(shared_path("bank-callcenter"))
    obs = observe(log)
    model = build(obs)
    spec = model.activities["Queue"]["abandonment"]
    assert spec["served"] == ["Service"] and spec["leave"] == [END]
    # the served step's contexts each once: after the queue only the censored delay (methods §16.9)
    contexts = [
        {k: v for k, v in c.items() if k != "delay"} for c in model.activities["Service"]["delay_context"]
    ]
    assert len({tuple(sorted(c.items())) for c in contexts}) == len(contexts)
    assert [c for c in contexts if c.get("after") == "Queue"] == [{"after": "Queue"}]
    (found,) = model.fitted["abandonment"]
    assert found["left_share"] == pytest.approx(0.279, abs=0.005)
    start = pd.Timestamp(int(obs.inst.s_us.min()), unit="us", tz="UTC")
    sim = simulate(model, cases=obs.n_cases, start=start, seed=1)
    assert left_share(sim, "Queue", "Service") == pytest.approx(found["left_share"], abs=0.03)
