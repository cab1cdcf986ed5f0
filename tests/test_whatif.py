"""Scenarios and what-if savings (methods §17): the file format and its actions, their effect
in the engine, paired savings with CIs, and the command line."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import flowlens
from conftest import run_cli, shared_path
from flowlens.errors import ConfigError
from flowlens.simulation import SimulationModel, simulate
from flowlens.simulation.model import example_model
from flowlens.simulation.scenarios import ACTIONS, Scenario
from flowlens.simulation.whatif import whatif

START = "2024-03-04T09:00:00"


def model(**changes: object) -> SimulationModel:
    m = example_model()
    m.update(copy.deepcopy(changes))
    return SimulationModel.from_dict(m)


def scenario(*changes: dict) -> Scenario:
    return Scenario.from_dict({"name": "s", "change": list(changes)})


def run(m: SimulationModel, n: int = 200, seed: int = 3) -> pd.DataFrame:
    return simulate(m, cases=n, seed=seed, start=START, warmup_cases=0)


def test_toml_and_json_files_are_the_same_scenario(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(
        'name = "digital first"\n[[change]]\naction = "remove"\nactivity = "Check"\noccurrence = 2\n'
        '[[change]]\naction = "set_hours"\nactivity = "Check"\nhours = { mon = ["08:00-19:00"] }\n'
    )
    (tmp_path / "s.json").write_text(
        json.dumps(
            {
                "name": "digital first",
                "change": [
                    {"action": "remove", "activity": "Check", "occurrence": 2},
                    {"action": "set_hours", "activity": "Check", "hours": {"mon": ["08:00-19:00"]}},
                ],
            }
        )
    )
    assert Scenario.from_file(tmp_path / "s.toml") == Scenario.from_file(tmp_path / "s.json")
    assert sorted(ACTIONS) == sorted(
        ["remove", "automate", "merge", "cut_rework", "scale_delay", "unbatch", "add_resources", "set_hours",
         "scale_arrivals", "set_branch", "set_mix"]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"action": "remov", "activity": "Check"}, r"unknown action 'remov'; did you mean 'remove'"),
        ({"action": "remove", "activty": "Check"}, r"the field 'activity' is missing"),
        (
            {"action": "remove", "activity": "Check", "occurence": 2},
            r"unknown field 'occurence'.*'occurrence'",
        ),
        ({"action": "remove", "activity": "Chek"}, r"unknown activity 'Chek'; did you mean 'Check'"),
        ({"action": "cut_rework", "activity": "Check", "factor": 2}, r"factor must be between 0 and 1"),
        ({"action": "add_resources", "activity": "Check", "count": -5}, r"has 2 members; it cannot lose 5"),
        ({"action": "add_resources", "activity": "Decide", "count": 1}, r"nobody performs 'Decide'"),
        ({"action": "unbatch", "activity": "Check"}, r"'Check' is not batched"),
        (
            {"action": "set_mix", "attribute": "segment", "shares": {"vip": 0.5}},
            r"unknown case attribute 'segment'",
        ),
        (
            {"action": "set_hours", "activity": "Check", "hours": {"monday": ["08:00-19:00"]}},
            r"unknown weekday 'monday'",
        ),
    ],
)
def test_a_bad_change_is_one_line_naming_what_is_valid(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        scenario(change).apply(model())
    assert "\n" not in str(err.value)


def test_remove_skips_the_step_or_only_its_repeat() -> None:
    base = run(model())
    gone = run(scenario({"action": "remove", "activity": "Check"}).apply(model()))
    assert "Check" not in set(gone.activity) and gone.case_id.nunique() == base.case_id.nunique()
    second = run(scenario({"action": "remove", "activity": "Check", "occurrence": 2}).apply(model()))
    # the same paths (common random numbers), less the second time through Check
    had = base[base.activity == "Check"].groupby("case_id").size()
    has = second[second.activity == "Check"].groupby("case_id").size().reindex(had.index)
    assert had.max() > 1
    assert (has == had - (had >= 2)).all()


def test_automate_needs_nobody_and_scales_the_duration() -> None:
    m = scenario({"action": "automate", "activity": "Check", "duration_factor": 0.5}).apply(model())
    f = run(m)
    check = f[f.activity == "Check"]
    assert check.resource.isna().all()
    base = run(model())
    b = base[base.activity == "Check"]
    # the same draws, half as long (common random numbers)
    ratio = (check.end_time - check.start_time).dt.total_seconds().sum() / (
        (b.end_time - b.start_time).dt.total_seconds().sum()
    )
    assert ratio == pytest.approx(0.5, rel=0.05)


def test_merge_second_step_right_after_by_the_same_person() -> None:
    spec = example_model()
    spec["activities"]["Decide"]["pools"] = {"clerks": 1.0}
    m = scenario({"action": "merge", "activities": ["Check", "Decide"]}).apply(
        SimulationModel.from_dict(spec)
    )
    f = run(m)
    for _, g in f.groupby("case_id"):
        g = g.reset_index(drop=True)
        for i in range(1, len(g)):
            if g.activity[i] == "Decide" and g.activity[i - 1] == "Check":
                assert g.start_time[i] == g.end_time[i - 1]
                assert g.resource[i] == g.resource[i - 1]


def test_cut_rework_scale_delay_set_branch() -> None:
    no_loop = run(scenario({"action": "cut_rework", "activity": "Check", "factor": 0}).apply(model()))
    assert no_loop[no_loop.activity == "Check"].groupby("case_id").size().max() == 1
    branch = run(scenario({"action": "set_branch", "to": "Decide", "probability": 1.0}).apply(model()))
    assert branch[branch.activity == "Check"].groupby("case_id").size().max() == 1
    fast = run(scenario({"action": "scale_delay", "activity": "Decide", "factor": 0}).apply(model()))
    fast = fast.reset_index(drop=True)
    dec = fast.index[fast.activity == "Decide"]
    assert (fast.start_time[dec].to_numpy() == fast.end_time[dec - 1].to_numpy()).all()


def test_cut_rework_of_a_step_that_never_repeats_changes_nothing() -> None:
    """'Decide' is done once per case: halving its repeats leaves the log as it was (it used to
    stop the run with a numpy casting error: no start was a repeat)."""
    cut = run(scenario({"action": "cut_rework", "activity": "Decide", "factor": 0.5}).apply(model()))
    pd.testing.assert_frame_equal(cut, run(model()))


def test_add_resources_and_scale_arrivals() -> None:
    busy = model(
        arrivals={"intensity": [[4.0] * 24 for _ in range(7)], "gaps": {"dist": "exponential", "mean": 1.0}}
    )
    more = scenario({"action": "add_resources", "activity": "Check", "count": 2}).apply(busy)
    assert len(more.pools["clerks"]["members"]) == 4

    def lead(f: pd.DataFrame) -> float:
        g = f.groupby("case_id")
        return float((g.end_time.max() - g.start_time.min()).dt.total_seconds().mean())

    assert lead(run(more, 500)) < lead(run(busy, 500))
    half = run(scenario({"action": "scale_arrivals", "factor": 0.5}).apply(busy), 500)
    full = run(busy, 500)
    span = lambda f: (f.start_time.max() - f.start_time.min()).total_seconds()  # noqa: E731
    assert span(half) / span(full) == pytest.approx(2.0, rel=0.15)


def test_set_mix_and_where() -> None:
    spec = example_model()
    spec["arrivals"]["attributes"] = {
        "columns": ["channel"],
        "rows": [["app"], ["branch"]],
        "weights": [1, 3],
    }
    m = SimulationModel.from_dict(spec)
    mixed = scenario({"action": "set_mix", "attribute": "channel", "shares": {"app": 0.8}}).apply(m)
    f = run(mixed, 1000)
    assert f.groupby("case_id").channel.first().eq("app").mean() == pytest.approx(0.8, abs=0.05)
    only_app = scenario(
        {"action": "set_branch", "to": "Decide", "probability": 1.0, "where": "channel == 'app'"}
    )
    g = run(only_app.apply(m), 1000)
    loops = g[g.activity == "Check"].groupby("case_id").size()
    channel = g.groupby("case_id").channel.first()
    assert loops[channel[loops.index] == "app"].max() == 1
    assert loops[channel[loops.index] == "branch"].max() > 1


def test_nothing_saves_exactly_zero_and_a_worse_process_a_negative_saving() -> None:
    m = model()
    nothing = Scenario.from_dict({"name": "nothing", "change": []})
    slower = Scenario.from_dict(
        {"name": "slower", "change": [{"action": "scale_delay", "activity": "Decide", "factor": 30}]}
    )
    r = whatif(m, [nothing, slower], cases=300, start=START, replications=6)
    assert r.scenarios[0]["saving_mean_h"] == 0.0
    assert r.scenarios[0]["saving_ci95_h"] == [0.0, 0.0]
    assert r.scenarios[0]["significant"] is False
    assert r.scenarios[1]["saving_mean_h"] < 0 and r.scenarios[1]["saving_ci95_h"][1] < 0
    assert r.scenarios[1]["significant"] is True
    d = r.to_dict()
    assert {"seed", "replications", "baseline", "scenarios"} <= set(d)
    assert {"lead_time_mean_h", "lead_time_median_h", "lead_time_p90_h"} <= set(d["baseline"])
    assert {"name", "lead_time_mean_h", "saving_mean_h", "saving_ci95_h", "saving_pct", "significant",
            "staff_hours_delta"} <= set(d["scenarios"][1])  # fmt: skip


def test_staff_where_nobody_queues_is_not_significant() -> None:
    """A decoy: more people in a pool that never makes a case wait saves nothing."""
    quiet = model(
        arrivals={"intensity": [[0.05] * 24 for _ in range(7)], "gaps": {"dist": "exponential", "mean": 1.0}}
    )
    plus = Scenario.from_dict(
        {"name": "plus two", "change": [{"action": "add_resources", "activity": "Check", "count": 2}]}
    )
    r = whatif(quiet, [plus], cases=200, start=START, replications=8)
    assert r.scenarios[0]["significant"] is False
    assert abs(r.scenarios[0]["saving_pct"]) < 1


def test_precision_decides_the_number_of_replications() -> None:
    faster = Scenario.from_dict({"name": "x", "change": [{"action": "automate", "activity": "Check"}]})
    r = whatif(model(), [faster], cases=200, start=START, precision=0.5, max_replications=40)
    assert r.stopped_by == "precision" and r.replications == 10
    r = whatif(model(), [faster], cases=200, start=START, precision=0.0001, max_replications=20)
    assert r.stopped_by == "max_replications" and r.replications == 20


@pytest.fixture(scope="module")
def small_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-step log of 120 cases with two clerks and a checker."""
    rng = np.random.default_rng(4)
    rows = []
    t0 = pd.Timestamp("2024-03-04 08:00")
    for i in range(120):
        t = t0 + pd.Timedelta(minutes=float(20 * i + rng.integers(0, 10)))
        e1 = t + pd.Timedelta(minutes=float(rng.integers(5, 15)))
        s2 = e1 + pd.Timedelta(minutes=float(rng.integers(0, 30)))
        e2 = s2 + pd.Timedelta(minutes=float(rng.integers(5, 10)))
        rows += [(f"c{i}", "Check", f"clerk{i % 2}", t, e1), (f"c{i}", "Decide", "checker", s2, e2)]
    path = tmp_path_factory.mktemp("whatif") / "log.csv"
    pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"]).to_csv(path, index=False)
    return path


def test_cli_whatif_json(small_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = tmp_path / "auto.toml"
    s.write_text('name = "automate check"\n[[change]]\naction = "automate"\nactivity = "Check"\n')
    code, out, err = run_cli(
        [
            "whatif", str(small_log), "--scenario", str(s), "--replications", "4", "--cases", "60",
            "--no-fidelity", "--json",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    d = json.loads(out)
    assert d["replications"] == 4 and d["model_uncertainty"] is True
    assert d["scenarios"][0]["name"] == "automate check"
    assert d["scenarios"][0]["saving_mean_h"] > 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[[change]]\naction = "automate"\nactivity = "Chek"\n')
    code, _, err = run_cli(["whatif", str(small_log), "--scenario", str(bad), "--no-fidelity"], capsys)
    assert code == 2 and "did you mean 'Check'" in err and len(err.strip().splitlines()) == 1
    assert flowlens.read_log(small_log).n_cases == 120  # the input is untouched


def test_findings_scenarios_in_the_scenario_format() -> None:
    from flowlens.findings.model import Scenario as FindingScenario
    from flowlens.simulation.optimize import from_finding_scenario

    def conv(action: str, **params: object) -> list[dict] | None:
        s = from_finding_scenario(FindingScenario(action, params), "x")
        return None if s is None else s.changes

    assert conv("remove_activity", activity="A") == [{"action": "remove", "activity": "A"}]
    assert conv("remove_activity", activity="A", when="after B") == [
        {"action": "remove", "activity": "A", "occurrence": 2}
    ]
    assert conv("cut_loop", activities=["A", "B"]) == [
        {"action": "cut_rework", "activity": "A", "factor": 0.0},
        {"action": "cut_rework", "activity": "B", "factor": 0.0},
    ]
    assert conv("merge", activities=["A", "B"]) == [{"action": "merge", "activities": ["A", "B"]}]
    assert conv("automate", activity="A") == [{"action": "automate", "activity": "A", "duration_factor": 0.1}]
    assert conv("warm_handoff", removes="Re-explain") == [{"action": "remove", "activity": "Re-explain"}]
    assert conv("pre_fill", activity="Verify") == [
        {"action": "remove", "activity": "Verify", "occurrence": 2}
    ]
    assert conv("unbatch", activity="A") == [{"action": "unbatch", "activity": "A"}]
    assert conv("reduce_repeats", what="repeat contacts") is None  # across cases: not in a case model


def test_optimize_ranks_candidates_and_never_removes_a_required_step() -> None:
    from flowlens.findings.model import Finding
    from flowlens.findings.model import Scenario as FindingScenario
    from flowlens.simulation.optimize import optimize

    spec = example_model()
    spec["activities"]["Sanctions screening"] = spec["activities"].pop("Decide")
    for tr in spec["control_flow"]["transitions"]:
        tr["after"] = ["Sanctions screening" if a == "Decide" else a for a in tr["after"]]
        tr["next"] = {("Sanctions screening" if k == "Decide" else k): v for k, v in tr["next"].items()}
    m = SimulationModel.from_dict(spec)

    def finding(action: str, act: str) -> Finding:
        return Finding(
            kind="rework", title=f"{action} {act}", activities=(act,), case_ids=("1",), occurrences=1,
            customer_time_s=1.0, customer_time_ci=(0.0, 1.0), staff_time_s=0.0, evidence="",
            scenario=FindingScenario(action, {"activity": act}),
        )  # fmt: skip

    r = optimize(
        m,
        findings=[finding("remove_activity", "Sanctions screening"), finding("cut_loop", "Check")],
        cases=200,
        start=START,
        replications=4,
    )
    names = [x["name"] for x in r.ranked]
    assert any("cut the loop back to Check" in n for n in names)
    assert not any("skip Sanctions screening" in n for n in names)
    assert any("required" in s["why"] for s in r.skipped)
    assert [x["saving_mean_h"] for x in r.ranked] == sorted(
        (x["saving_mean_h"] for x in r.ranked), reverse=True
    )


def test_cli_optimize_json(small_log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        ["optimize", str(small_log), "--replications", "3", "--cases", "60", "--json"], capsys
    )
    assert code == 0, err
    d = json.loads(out)
    assert d["ranked"] and {"name", "saving_mean_h", "saving_ci95_h", "significant"} <= set(d["ranked"][0])


def test_remove_only_where_and_only_after() -> None:
    spec = example_model()
    spec["arrivals"]["attributes"] = {"columns": ["amount"], "rows": [[100], [90000]], "weights": [1, 1]}
    m = SimulationModel.from_dict(spec)
    base = run(m, 400)
    small = run(scenario({"action": "remove", "activity": "Decide", "where": "amount < 8000"}).apply(m), 400)
    decided = small[small.activity == "Decide"].groupby("case_id").amount.first()
    assert (decided > 8000).all() and len(decided) > 0
    after = run(scenario({"action": "remove", "activity": "Check", "after": "Check"}).apply(m), 400)
    # a Check right after a Check is skipped: no two in a row
    for _, g in after.groupby("case_id"):
        acts = g.activity.tolist()
        assert all(not (a == b == "Check") for a, b in itertools.pairwise(acts))
    assert base[base.activity == "Check"].groupby("case_id").size().max() > 1


def _three_step_model() -> SimulationModel:
    """Start -> Auth -> Queue -> Check -> (Wrap -> Check ->) end: a check after the
    authentication with a queue step between, and a second check after a hand-over."""
    spec = example_model()
    spec["control_flow"]["transitions"] = [
        {"after": ["(start)"], "next": {"Auth": 0.5, "Queue": 0.5}},
        {"after": ["Auth"], "next": {"Queue": 1.0}},
        {"after": ["Queue"], "next": {"Check": 1.0}},
        {"after": ["Check"], "next": {"Wrap": 0.5, "(end)": 0.5}},
        {"after": ["Wrap"], "next": {"Check": 1.0}},
    ]
    fixed = {"dist": "fixed", "value": 60}
    spec["activities"] = {
        "Auth": {"duration": fixed},
        "Queue": {"duration": fixed},
        "Check": {"duration": fixed, "pools": {"clerks": 1.0}},
        # Check waits 10 h after a hand-over (Wrap) and not at all after the queue
        "Wrap": {"duration": fixed},
    }
    spec["activities"]["Check"]["delay"] = {"dist": "fixed", "value": 0}
    spec["activities"]["Check"]["delay_context"] = [
        {"after": "Wrap", "delay": {"dist": "fixed", "value": 36000}}
    ]
    return SimulationModel.from_dict(spec)


def test_remove_after_is_the_first_instance_since_that_step() -> None:
    m = _three_step_model()
    base = run(m, 300)
    out = run(scenario({"action": "remove", "activity": "Check", "after": "Auth"}).apply(m), 300)
    for cid, g in base.groupby("case_id"):
        acts = g.activity.tolist()
        kept = out[out.case_id == cid].activity.tolist()
        # the check after the authentication goes though "Queue" is between; a check after a
        # hand-over is not the first since the authentication and stays
        want = [
            a
            for i, a in enumerate(acts)
            if not (a == "Check" and "Auth" in acts[:i] and "Check" not in acts[:i])
        ]
        assert kept == want, (acts, kept)
    assert (base.activity == "Auth").any() and (
        base.groupby("case_id").activity.apply(list).map(lambda x: x.count("Check")) > 1
    ).any()


def test_removes_of_one_step_add_up() -> None:
    """Two removes of one step with different `after` are two rules: both apply."""
    m = _three_step_model()
    s = scenario(
        {"action": "remove", "activity": "Check", "after": "Auth"},
        {"action": "remove", "activity": "Check", "after": "Wrap"},
    )
    out = run(s.apply(m), 300)
    base = run(m, 300)
    for cid, g in base.groupby("case_id"):
        acts = g.activity.tolist()
        n_left = out[(out.case_id == cid) & (out.activity == "Check")].shape[0]
        # only a first check without an authentication before it is left
        assert n_left == (0 if "Auth" in acts else 1), acts
    rules = s.apply(m).activities["Check"]["skip_rules"]
    assert rules == [{"after": "Auth"}, {"after": "Wrap"}]


def test_a_removed_step_leaves_the_next_waiting_as_after_its_new_predecessor() -> None:
    """Removing the hand-over: the second check now follows the first and waits as a check
    after a check does (not the 10 h of the context after 'Wrap'), with the same random numbers."""
    m = _three_step_model()
    base = run(m, 300)
    out = run(scenario({"action": "remove", "activity": "Wrap"}).apply(m), 300)

    def lead(df: pd.DataFrame) -> pd.Series:
        g = df.groupby("case_id")
        return (g.end_time.max() - g.start_time.min()).dt.total_seconds() / 3600

    twice = base.groupby("case_id").activity.apply(lambda x: list(x).count("Check") == 2)
    saved = (lead(base) - lead(out))[twice[twice].index]
    assert len(saved) > 20 and (saved > 9.9).all()


def _segmented_quiet_model() -> SimulationModel:
    """The example process at a low load (nobody queues), with a channel and a segment per case."""
    spec = example_model()
    spec["arrivals"] = {
        "intensity": [[0.05] * 24 for _ in range(7)],
        "gaps": {"dist": "exponential", "mean": 1.0},
        "attributes": {
            "columns": ["channel", "segment"],
            "rows": [["app", "mass"], ["branch", "mass"], ["app", "vip"]],
            "weights": [2, 2, 1],
        },
    }
    return SimulationModel.from_dict(spec)


def test_savings_per_segment_and_channel_are_paired_and_only_where_the_change_acts() -> None:
    """A change for app cases saves for the app channel, nothing for branch (no queue links
    them); the breakdown comes from the same replications as the overall saving."""
    m = _segmented_quiet_model()
    app_only = Scenario.from_dict(
        {
            "name": "app: no second check",
            "change": [
                {"action": "set_branch", "to": "Decide", "probability": 1.0, "where": "channel == 'app'"}
            ],
        }
    )
    r = whatif(m, [app_only], cases=300, start=START, replications=6)
    d = r.to_dict()
    assert d["segment_column"] == "segment" and d["channel_column"] == "channel"
    by_channel = {g["value"]: g for g in d["scenarios"][0]["by_channel"]["groups"]}
    assert sorted(by_channel) == ["app", "branch"]
    assert by_channel["app"]["significant"] and by_channel["app"]["saving_mean_h"] > 0
    assert not by_channel["branch"]["significant"]
    assert abs(by_channel["branch"]["saving_pct"]) < 1
    # the groups' case counts add up to the replication's cases
    assert sum(g["cases"] for g in by_channel.values()) == pytest.approx(300)
    segs = {g["value"] for g in d["scenarios"][0]["by_segment"]["groups"]}
    assert segs == {"mass", "vip"}
    # the change acts by channel: that breakdown is meaningful; the model draws the segment
    # apart from the path and times, and says so
    assert d["scenarios"][0]["by_channel"]["linked"] is True
    assert d["scenarios"][0]["by_segment"]["linked"] is False
    assert "by chance only" in d["scenarios"][0]["by_segment"]["note"]
    # turned off, and a column the model does not draw is one line naming what it draws
    off = whatif(m, [app_only], cases=100, start=START, replications=2, segment=None, channel=None)
    assert "by_segment" not in off.scenarios[0] and off.to_dict()["channel_column"] is None
    with pytest.raises(
        ConfigError, match=r"no case attribute 'chanel' for the channel.*did you mean 'channel'"
    ):
        whatif(m, [app_only], cases=100, start=START, replications=2, channel="chanel")


def test_sla_compliance_per_scenario_with_the_change_interval() -> None:
    """A slower process meets a deadline less often (a negative, significant change); doing
    nothing changes compliance by exactly 0."""
    from flowlens.analysis.sla import custom_rule

    m = model()
    nothing = Scenario.from_dict({"name": "nothing", "change": []})
    slower = Scenario.from_dict(
        {"name": "slower", "change": [{"action": "scale_delay", "activity": "Decide", "factor": 30}]}
    )
    rule = custom_rule(hours=1, name="one hour")
    r = whatif(m, [nothing, slower], cases=200, start=START, replications=5, sla=[rule])
    base = r.baseline["sla"][0]
    assert base["rule"] == "one hour" and 0 < base["met_pct"] <= 100
    same, worse = r.scenarios[0]["sla"][0], r.scenarios[1]["sla"][0]
    assert same["change_pp"] == 0.0 and same["change_ci95_pp"] == [0.0, 0.0] and not same["significant"]
    assert same["baseline_met_pct"] == pytest.approx(base["met_pct"])
    assert worse["change_pp"] < 0 and worse["change_ci95_pp"][1] < 0 and worse["significant"]


def test_waiting_and_utilisation_per_pool() -> None:
    """More clerks: the clerks are less busy and cases wait less; automating the clerks' step
    leaves them nothing to do."""
    m = model()
    plus = Scenario.from_dict(
        {"name": "plus two", "change": [{"action": "add_resources", "activity": "Check", "count": 2}]}
    )
    auto = Scenario.from_dict({"name": "auto", "change": [{"action": "automate", "activity": "Check"}]})
    r = whatif(m, [plus, auto], cases=300, start=START, replications=4)
    pool = next(iter(m.pools))
    base_u = r.baseline["utilisation"][pool]
    assert 0 < base_u <= 1
    assert r.scenarios[0]["utilisation"][pool] < base_u
    assert r.scenarios[1]["utilisation"][pool] == 0.0
    assert r.scenarios[0]["waiting_mean_h"] <= r.baseline["waiting_mean_h"]
    assert 0 <= r.baseline["waiting_mean_h"] < r.baseline["lead_time_mean_h"]


def test_cli_whatif_breakdown_and_sla(
    small_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = tmp_path / "auto.toml"
    s.write_text('name = "automate check"\n[[change]]\naction = "automate"\nactivity = "Check"\n')
    rule = tmp_path / "rule.toml"
    rule.write_text('[[rule]]\nname = "two hours"\nhours = 2\n')
    cases = tmp_path / "cases.csv"
    pd.DataFrame(
        {
            "case": [f"c{i}" for i in range(120)],
            "tier": ["gold" if i % 3 == 0 else "basic" for i in range(120)],
        }
    ).to_csv(cases, index=False)
    args = [
        "whatif",
        str(small_log),
        "--scenario",
        str(s),
        "--replications",
        "3",
        "--cases",
        "60",
        "--no-fidelity",
    ]
    code, out, err = run_cli(
        [*args, "--case-table", str(cases), "--segment", "tier", "--sla-rule", str(rule), "--json"], capsys
    )
    assert code == 0, err
    d = json.loads(out)
    sc = d["scenarios"][0]
    assert d["segment_column"] == "tier"
    assert {g["value"] for g in sc["by_segment"]["groups"]} == {"basic", "gold"}
    assert sc["sla"][0]["rule"] == "two hours" and "waiting_mean_h" in sc and sc["utilisation"]
    code, out, err = run_cli(
        [*args, "--case-table", str(cases), "--segment", "tier", "--sla-rule", str(rule)], capsys
    )
    assert code == 0, err
    assert "by segment: not shown: the model draws tier apart" in out
    assert "deadline two hours:" in out and "utilisation" in out
    code, _, err = run_cli([*args, "--segment", "tier"], capsys)
    assert code == 2 and "no column 'tier'" in err and len(err.strip().splitlines()) == 1


def test_fast_scoring_gives_the_library_numbers() -> None:
    """fidelity scores without ldm's per-case loops; every measure is the library's value, on a
    real log (LoanApp) against simulated logs and the adjacent window."""
    from flowlens.simulation import fidelity as F
    from flowlens.simulation.fit import fit_model

    log = flowlens.read_log(shared_path("loanapp-train"))
    split = F.split_frame(F.log_frame(log), 0.2)
    assert split.train_case_idx is not None and split.adjacent is not None
    m = fit_model(F._keep_cases(log, split.train_case_idx, "train"))
    sim = F.sim_frame(simulate(m, cases=100, start=m.fitted["end"], seed=3), m.timezone)
    adj = split.adjacent
    shifted = adj.assign(
        start_time=adj.start_time + pd.Timedelta(hours=5), end_time=adj.end_time + pd.Timedelta(hours=5)
    )
    for other, ced in ((sim, None), (shifted, adj)):
        assert F.fast_distances(split.test, other, ced) == F.library_distances(split.test, other, ced)


def test_replications_in_worker_processes_give_the_same_result() -> None:
    m = _segmented_quiet_model()
    auto = Scenario.from_dict({"name": "auto", "change": [{"action": "automate", "activity": "Check"}]})
    one = whatif(m, [auto], cases=100, start=START, replications=4, jobs=1)
    two = whatif(m, [auto], cases=100, start=START, replications=4, jobs=2)
    assert json.dumps(one.to_dict(), sort_keys=True) == json.dumps(two.to_dict(), sort_keys=True)
    assert [r["replication"] for r in two.runs] == [0, 1, 2, 3]


def test_report_section_shows_groups_deadlines_and_utilisation() -> None:
    from flowlens.analysis.sla import custom_rule
    from flowlens.report.simulation_section import whatif_section

    m = _segmented_quiet_model()
    app_only = Scenario.from_dict(
        {
            "name": "app: straight to Decide",
            "change": [
                {"action": "set_branch", "to": "Decide", "probability": 1.0, "where": "channel == 'app'"}
            ],
        }
    )
    r = whatif(
        m, [app_only], cases=150, start=START, replications=3, sla=[custom_rule(hours=1, name="one hour")]
    )
    s = whatif_section(r)
    assert "channel = app" in s.html and "channel = branch" in s.html  # linked: listed
    assert "segment = mass" not in s.html and "Not broken down by segment" in s.html  # not linked: said
    assert "one hour" in s.html and "Met as it is" in s.html
    assert "Utilisation of each pool" in s.html and next(iter(m.pools)) in s.html
    assert s.data["scenarios"][0]["by_channel"]["linked"] is True


def test_a_deadline_scoped_by_an_attribute_the_model_ignores_carries_a_caution() -> None:
    from flowlens.analysis.sla import custom_rule, parse_scope

    m = _segmented_quiet_model()
    rule = custom_rule(hours=1, name="vip in an hour", applies_to=parse_scope("segment=vip"))
    auto = Scenario.from_dict({"name": "auto", "change": [{"action": "automate", "activity": "Check"}]})
    r = whatif(m, [auto], cases=150, start=START, replications=3, sla=[rule])
    d = r.scenarios[0]["sla"][0]
    assert d["scope_column"] == "segment" and d["linked"] is False and "random share" in d["note"]


@pytest.fixture(scope="module")
def tiny_bank(tmp_path_factory: pytest.TempPathFactory) -> flowlens.EventLog:
    """The bank generator's tiny preset: 312 cases of five processes, with steps and people
    that occur in one or two cases (a bootstrap resample often holds none of them)."""
    from flowlens.synth.bank import generate_bank

    out = tmp_path_factory.mktemp("tinybank")
    generate_bank("tiny", seed=3, out_dir=out, remedies="none", formats=("parquet",))
    return flowlens.read_log(out / "events.parquet")


@pytest.fixture(scope="module")
def tiny_obs(tiny_bank: flowlens.EventLog) -> object:
    from flowlens.simulation.fit import observe

    return observe(tiny_bank)


def test_bootstrap_refits_keep_what_a_resample_lacks(tiny_obs: object) -> None:
    """A resample that holds no work of a pool, or no instance of one of two concurrent steps,
    still refits and simulates (it crashed with ZeroDivisionError, then with an unknown
    activity); the pool is kept with equal shares and routed nothing."""
    from flowlens.simulation.fit import build, resample

    obs = tiny_obs
    model = build(obs)  # type: ignore[arg-type]
    args = {
        "order": int(model.control_flow["order"]),
        "repeats": bool(model.control_flow.get("repeats")),
        "assignment": str(model.fitted.get("assignment", "queue")),
        "arrivals": model.arrivals,
    }
    emptied = 0
    for seed in range(4):
        m = build(resample(obs, seed), **args)  # type: ignore[arg-type]
        assert sorted(m.pools) == sorted(model.pools)  # every pool kept, whatever the resample holds
        routed = {p for spec in m.activities.values() for p in spec.get("pools", {})}
        for name, pool in m.pools.items():
            assert sum(pool["shares"].values()) == pytest.approx(1.0, abs=1e-5)
            if name not in routed:
                emptied += 1
        assert len(simulate(m, cases=60, start=START, seed=seed)) > 0
    assert emptied > 0  # the case this test is about did occur


def test_a_change_of_a_step_a_resample_lacks_is_left_out_of_that_replication(
    tiny_bank: flowlens.EventLog, tiny_obs: object
) -> None:
    from flowlens.simulation.fit import build

    rare = tiny_bank.to_pandas().activity.value_counts()
    step = sorted(rare[rare == 1].index)[0]  # done once in the whole log
    obs = tiny_obs
    gone = Scenario.from_dict({"name": "gone", "change": [{"action": "remove", "activity": step}]})
    r = whatif(build(obs), [gone], observations=obs, seed=1, replications=4, cases=60)  # type: ignore[arg-type]
    row = r.scenarios[0]
    assert 0 < row["replications_with_changes_left_out"] <= 4
    assert r.replications == 4
    from flowlens.report.simulation_section import whatif_section

    n = row["replications_with_changes_left_out"]
    assert f"In {n} of 4 replications the resampled cases held none of what a change names" in (
        whatif_section(r).html
    )


def test_the_centre_is_the_fitted_models_saving_and_refits_only_widen_it(tiny_obs: object) -> None:
    """With bootstrap refits the estimate is the fitted model's mean saving (the same number
    as without them, same seeds), not the refits' mean, which near saturation sits above it;
    the refits only widen the interval around it (methods §17.2)."""
    from flowlens.simulation.fit import build

    obs = tiny_obs
    model = build(obs)  # type: ignore[arg-type]
    # fewer arrivals: shorter queues, a saving that depends on the load (the refits' volumes vary)
    auto = Scenario.from_dict({"name": "auto", "change": [{"action": "scale_arrivals", "factor": 0.6}]})
    nothing = Scenario.from_dict({"name": "nothing", "change": []})
    kw = {"seed": 2, "replications": 3, "cases": 60}
    with_refits = whatif(model, [auto, nothing], observations=obs, **kw)  # type: ignore[arg-type]
    exact = whatif(model, [auto, nothing], **kw)
    a, e = with_refits.scenarios[0], exact.scenarios[0]
    assert a["saving_mean_h"] == e["saving_mean_h"] and a["lead_time_mean_h"] == e["lead_time_mean_h"]
    assert with_refits.baseline["lead_time_mean_h"] == exact.baseline["lead_time_mean_h"]
    assert a["saving_mc_half_width_h"] == e["saving_mc_half_width_h"]
    # the refits' spread is added to the Monte Carlo error: the interval holds the exact model's
    assert a["saving_ci95_h"][0] <= e["saving_ci95_h"][0] and a["saving_ci95_h"][1] >= e["saving_ci95_h"][1]
    assert a["saving_ci95_h"][1] - a["saving_ci95_h"][0] > e["saving_ci95_h"][1] - e["saving_ci95_h"][0]
    # the refits' own mean is reported beside it, and is another number
    assert "saving_refits_mean_h" in a and "saving_refits_mean_h" not in e
    refit_d = [
        r["refit"]["baseline"]["lead_time_mean_h"] - r["refit"]["scenarios"][0]["lead_time_mean_h"]
        for r in with_refits.runs
    ]
    assert a["saving_refits_mean_h"] == round(float(np.mean(refit_d)), 4) != a["saving_mean_h"]
    # a scenario that changes nothing saves exactly 0 on the fitted model and on every refit
    n = with_refits.scenarios[1]
    assert (n["saving_mean_h"], n["saving_ci95_h"], n["significant"]) == (0.0, [0.0, 0.0], False)
    # byte-identical for a seed, whatever the number of worker processes
    again = whatif(model, [auto, nothing], observations=obs, jobs=2, **kw)  # type: ignore[arg-type]
    assert json.dumps(again.to_dict(), sort_keys=True) == json.dumps(with_refits.to_dict(), sort_keys=True)


def test_whatif_with_bootstrap_refits_on_a_real_log(shared_logs) -> None:
    """Receipt (WABO): 42 pools, many of a person or two with a handful of instances; a
    resample often holds none of a pool's work (on main it crashed 6 refits in 10)."""
    from flowlens.simulation.fit import build, observe

    obs = observe(flowlens.read_log(shared_path("receipt")))
    nothing = Scenario.from_dict({"name": "nothing", "change": []})
    r = whatif(build(obs), [nothing], observations=obs, seed=0, replications=4, cases=100)
    assert r.replications == 4 and r.model_uncertainty
    assert r.scenarios[0]["saving_mean_h"] == 0.0


def _contact_paths(
    factors: dict[int, float], group: dict[int, tuple[int, ...]] | None = None
) -> list[list[int]]:
    """Paths of a two-channel contact loop: a case comes in by phone (0) or app (1), is handled
    (2), and comes back 40 % of the time, half of it through the other way in; the repeats
    under cut_rework's ``factors``, as the engine turns them into keep probabilities."""
    from flowlens.simulation.engine import _keep_by_count, _table, walk_paths
    from flowlens.simulation.model import END as E
    from flowlens.simulation.model import START as S

    flow = {
        "order": 1,
        "transitions": [
            {"after": [S], "next": {"Phone": 0.5, "App": 0.5}},
            {"after": ["Phone"], "next": {"Handle": 1.0}},
            {"after": ["App"], "next": {"Handle": 1.0}},
            {"after": ["Handle"], "next": {"Phone": 0.2, "App": 0.2, E: 0.6}},
        ],
    }
    index = {"Phone": 0, "App": 1, "Handle": 2}
    ids = np.arange(20_000, dtype=np.int64)
    tables = [_table(flow["transitions"], index)]
    free = walk_paths(flow, 3, ids, 5, cap=200, tables=tables)
    group = group or {}
    repeat = {a: _keep_by_count(free, group.get(a, (a,)), f) for a, f in factors.items()}
    p = walk_paths(flow, 3, ids, 5, cap=200, tables=tables, repeat=repeat, group=group)
    return [p.act[p.offsets[i] : p.offsets[i + 1]].tolist() for i in range(20_000)]


def test_cut_rework_factor_scales_the_number_of_repeats() -> None:
    """cut_rework's factor is the ratio of the repeat counts (methods §17.1), not the chance of
    keeping each repeat, which would also cut the repeats after a cut one."""
    base = _contact_paths({})
    contacts = np.asarray([sum(a in (0, 1) for a in p) for p in base])
    assert contacts.mean() == pytest.approx(1 / 0.6, rel=0.02)  # a loop going back with q = 0.4
    # the case's own ways in, repeats of each counted on their own: a phone call after an app
    # session is not a repeat of the phone step
    half = _contact_paths({0: 0.5, 1: 0.5})
    own = np.asarray([sum(a in (0, 1) for a in p) for p in half])
    assert 0.5 * (contacts.mean() - 1) < own.mean() - 1 < contacts.mean() - 1
    # the two ways in as one group: every second contact is a repeat, and repeats halve
    grouped = _contact_paths({0: 0.5, 1: 0.5}, {0: (0, 1), 1: (0, 1)})
    g = np.asarray([sum(a in (0, 1) for a in p) for p in grouped])
    assert g.mean() - 1 == pytest.approx(0.5 * (contacts.mean() - 1), rel=0.05)
    # factor 0 on the group: no case comes back at all, through either way in
    none = _contact_paths({0: 0.0, 1: 0.0}, {0: (0, 1), 1: (0, 1)})
    assert max(sum(a in (0, 1) for a in p) for p in none) == 1
    assert all(p[-1] == 2 for p in none)


def test_cut_rework_on_a_list_of_steps_groups_their_repeats() -> None:
    m = model()
    s = scenario({"action": "cut_rework", "activity": ["Check", "Decide"], "factor": 0.5}).apply(m)
    assert s.activities["Check"]["repeat_group"] == ["Check", "Decide"]
    assert s.activities["Decide"]["repeat_factor"] == 0.5
    with pytest.raises(ConfigError, match="unknown activity 'Chek'; did you mean 'Check'"):
        scenario({"action": "cut_rework", "activity": ["Chek", "Decide"], "factor": 0.5}).apply(m)
    with pytest.raises(ConfigError, match="a step or a list of steps"):
        scenario({"action": "cut_rework", "activity": [], "factor": 0.5}).apply(m)
    # a group of one step is the step alone: the same paths as before
    one = scenario({"action": "cut_rework", "activity": ["Check"], "factor": 0.0}).apply(m)
    alone = scenario({"action": "cut_rework", "activity": "Check", "factor": 0.0}).apply(m)
    assert "repeat_group" not in one.activities["Check"]
    pd.testing.assert_frame_equal(run(one), run(alone))
    # optimize's check and the report's words take the list too
    from flowlens.report.recommendations_section import _change_words
    from flowlens.simulation.optimize import _required

    bad = scenario({"action": "cut_rework", "activity": ["Check", "Nope"], "factor": 0.5})
    assert _required(bad, m, None) == "'Nope' is not in the model"
    words = _change_words("s", [{"action": "cut_rework", "activity": ["Check", "Decide"], "factor": 0.5}])
    assert words == "Do 'Check', 'Decide' right the first time (repeats × 0.5)"


def test_optimize_refits_only_the_candidates_the_fitted_model_finds_significant(tiny_obs: object) -> None:
    from flowlens.simulation.fit import build
    from flowlens.simulation.optimize import optimize

    m = build(tiny_obs)  # type: ignore[arg-type]
    # three replications: what is asserted holds by construction (same seeds), whatever the
    # precision; each replication costs ~4 CPU s per run (41 candidates, most of it applying them)
    r = optimize(m, observations=tiny_obs, cases=150, start=START, replications=3)  # type: ignore[arg-type]
    plain = {x["name"]: x for x in optimize(m, cases=150, start=START, replications=3).ranked}
    screened = [x for x in r.ranked if x.get("screened_out")]
    refitted = [x for x in r.ranked if not x.get("screened_out")]
    assert screened and all(not x["significant"] for x in screened)
    assert refitted, "some candidates must be refitted, or the checks below are vacuous"
    for x in r.ranked:
        # one centre, the fitted model's, whether refitted or screened out
        assert x["saving_mean_h"] == plain[x["name"]]["saving_mean_h"]
    for x in refitted:
        lo, hi = plain[x["name"]]["saving_ci95_h"]
        # the refits only widen the fitted model's Monte Carlo interval
        assert x["saving_ci95_h"][0] <= lo and x["saving_ci95_h"][1] >= hi
