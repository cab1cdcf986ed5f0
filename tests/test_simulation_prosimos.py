"""The Prosimos 2.1.0 export (methods §16.7): a fitted LoanApp model as well-formed BPMN with one
task per activity, gateways whose probabilities sum to 1, a JSON with everything Prosimos
reads, the order-1 projection, the distributions and hostile names. Prosimos itself is not
needed (the benchmark runs it)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flowlens
from conftest import shared_path
from flowlens.discovery.bpmn import BPMN_NS, _parse_safely, read_model
from flowlens.render.text import xml_text
from flowlens.simulation import SimulationModel
from flowlens.simulation.distributions import mean
from flowlens.simulation.fit import fit_model
from flowlens.simulation.model import END, START, example_model
from flowlens.simulation.prosimos import (
    ARRIVAL_MASS,
    export_prosimos,
    left_out,
    order1_projection,
    parallel_blocks,
    prosimos_distribution,
)

B = f"{{{BPMN_NS}}}"
#: distribution name -> number of parameters Prosimos 2.1.0 (pix_framework) reads
PARAMS = {"fix": 1, "expon": 3, "norm": 4, "uniform": 2, "lognorm": 4, "gamma": 4}
#: the top-level keys Prosimos 2.1.0's parser requires
REQUIRED = (
    "resource_profiles",
    "arrival_time_distribution",
    "arrival_time_calendar",
    "gateway_branching_probabilities",
    "task_resource_distribution",
    "resource_calendars",
)
WEEKDAYS = {"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"}


@pytest.fixture(scope="module")
def loanapp(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimulationModel, Path, Path]:
    model = fit_model(flowlens.read_log(shared_path("loanapp-train")))
    bpmn, params = export_prosimos(model, tmp_path_factory.mktemp("prosimos"))
    return model, bpmn, params


def elements(root: Any) -> dict[str, Any]:
    process = root.find(B + "process")
    assert process is not None
    return {el.get("id"): el for el in process if isinstance(el.tag, str)}


def check_prosimos_files(model: SimulationModel, bpmn: Path, params: Path) -> dict[str, Any]:
    """What Prosimos 2.1.0 needs from the pair of files, checked without Prosimos."""
    root = _parse_safely(bpmn)
    els = elements(root)
    tag = {i: str(el.tag).removeprefix(B) for i, el in els.items()}
    flows = {
        i: (el.get("sourceRef"), el.get("targetRef")) for i, el in els.items() if tag[i] == "sequenceFlow"
    }
    for s, t in flows.values():
        assert s in els and t in els, (s, t)
    assert sorted(tag.values()).count("startEvent") == 1
    assert sorted(tag.values()).count("endEvent") == 1
    tasks = {i: el.get("name") for i, el in els.items() if tag[i] == "task"}
    # every activity is one task, named as the log names it (made safe for XML)
    assert sorted(tasks.values()) == sorted(xml_text(a) for a in model.activities)
    data = json.loads(params.read_text(encoding="utf-8"))
    for key in REQUIRED:
        assert key in data, key
    out_of: dict[str, list[str]] = {}
    into: dict[str, list[str]] = {}
    for f, (s, t) in flows.items():
        out_of.setdefault(s, []).append(f)
        into.setdefault(t, []).append(f)
    # every element is connected; no gateway both joins and splits (Prosimos would rewrite it)
    for i, t in tag.items():
        if t == "sequenceFlow":
            continue
        if t != "startEvent":
            assert into.get(i), f"{t} {i} has no incoming flow"
        if t != "endEvent":
            assert out_of.get(i), f"{t} {i} has no outgoing flow"
        if t.endswith("Gateway"):
            assert len(into[i]) == 1 or len(out_of[i]) == 1, i
    # a probability for every outgoing flow of every diverging exclusive gateway, summing to 1
    branching = {g["gateway_id"]: g["probabilities"] for g in data["gateway_branching_probabilities"]}
    splits = {i for i, t in tag.items() if t == "exclusiveGateway" and len(out_of[i]) > 1}
    assert set(branching) == splits
    for g, probs in branching.items():
        assert sorted(p["path_id"] for p in probs) == sorted(out_of[g])
        assert all(0 <= p["value"] <= 1 for p in probs)
        assert math.isclose(sum(p["value"] for p in probs), 1.0, abs_tol=1e-9), g
    # resources, their calendars and a duration for every task
    calendars = {c["id"]: c for c in data["resource_calendars"]}
    for c in calendars.values():
        for period in c["time_periods"]:
            assert period["from"] in WEEKDAYS and period["to"] in WEEKDAYS
            assert period["beginTime"] < period["endTime"]
    resources = {}
    for profile in data["resource_profiles"]:
        for r in profile["resource_list"]:
            assert r["calendar"] in calendars
            assert int(r["amount"]) >= 1
            float(r["cost_per_hour"])
            resources[r["id"]] = r
    assert len(resources) == sum(len(p["resource_list"]) for p in data["resource_profiles"])
    durations = {d["task_id"]: d["resources"] for d in data["task_resource_distribution"]}
    assert set(durations) == set(tasks)
    for rs in durations.values():
        assert rs
        for r in rs:
            assert r["resource_id"] in resources
            check_distribution(r)
    timers = {i for i, el in els.items() if tag[i] == "intermediateCatchEvent"}
    for i in timers:
        assert els[i].find(B + "timerEventDefinition") is not None
    assert {e["event_id"] for e in data.get("event_distribution", [])} == timers
    for e in data.get("event_distribution", []):
        check_distribution(e)
    arrival = data["arrival_time_distribution"]
    if arrival["distribution_name"] == "histogram_sampling":
        h = arrival["histogram_data"]
        assert len(h["cdf"]) == len(h["bin_midpoints"]) and h["cdf"][-1] == 1.0
        assert all(b >= a for a, b in zip(h["cdf"], h["cdf"][1:], strict=False))
    else:
        check_distribution(arrival)
    assert data["arrival_time_calendar"]
    return {"tag": tag, "flows": flows, "tasks": tasks, "data": data, "out_of": out_of, "els": els}


def check_distribution(d: dict[str, Any]) -> None:
    name = d["distribution_name"]
    assert name in PARAMS, name
    values = [p["value"] for p in d["distribution_params"]]
    assert len(values) == PARAMS[name], d
    assert all(isinstance(v, float | int) and math.isfinite(v) and v >= 0 for v in values), d


def test_fitted_loanapp_exports_well_formed_bpmn_and_parameters(loanapp) -> None:  # type: ignore[no-untyped-def]
    model, bpmn, params = loanapp
    got = check_prosimos_files(model, bpmn, params)
    # the BPMN opens as a process model (pm4py's importer, as flowlens conformance reads it)
    labels = sorted({t.label for t in read_model(bpmn).net.transitions if t.label})
    assert labels == sorted(model.activities)
    # the three checks run in parallel in LoanApp: one parallel block, as in the real process
    data = got["data"]
    assert data["flowlens"]["parallel_blocks"] == [["AML check", "Appraise property", "Check credit history"]]
    forks = [i for i, t in got["tag"].items() if t == "parallelGateway" and len(got["out_of"][i]) == 3]
    assert len(forks) == 1
    # staffed steps: one resource per pool member, named as in the log, on the pool's calendar
    names = {r["name"] for p in data["resource_profiles"] for r in p["resource_list"]}
    members = {m for p in model.pools.values() for m in p["members"]}
    assert members <= names


def test_loanapp_gateway_probabilities_are_the_order1_projection(loanapp) -> None:  # type: ignore[no-untyped-def]
    model, bpmn, params = loanapp
    got = check_prosimos_files(model, bpmn, params)
    flows = order1_projection(model)
    # after "Assess loan risk" the log designs an offer or rejects: the gateway after the task
    task = {name: i for i, name in got["tasks"].items()}
    after = {t for f, (s, t) in got["flows"].items() if s == task["Assess loan risk"]}
    (gateway,) = after
    probs = {
        p["path_id"]: p["value"]
        for g in got["data"]["gateway_branching_probabilities"]
        if g["gateway_id"] == gateway
        for p in g["probabilities"]
    }
    total = sum(c for (a, _), c in flows.items() if a == "Assess loan risk")
    for f, p in probs.items():
        target = got["flows"][f][1]
        while got["tag"][target] != "task":  # through a join or the delay before the task
            target = got["flows"][got["out_of"][target][0]][1]
        assert math.isclose(p, flows[("Assess loan risk", got["tasks"][target])] / total, abs_tol=1e-9)


def test_order1_projection_pools_histories_by_their_counts() -> None:
    spec = example_model()
    spec["control_flow"] = {
        "order": 2,
        "transitions": [
            {"after": [START, START], "next": {"Check": 0.75, "Decide": 0.25}, "n": 40},
            {"after": [START, "Check"], "next": {"Decide": 1.0}, "n": 30},
            {"after": [START, "Decide"], "next": {"Check": 1.0}, "n": 10},
            {"after": ["Check", "Decide"], "next": {END: 1.0}, "n": 35},
            {"after": ["Decide", "Check"], "next": {"Decide": 0.5, END: 0.5}, "n": 10},
        ],
        "concurrent": [],
    }
    model = SimulationModel.from_dict(spec)
    p = order1_projection(model)
    # after Check: 30 times Decide (history start,Check) and 5 + 5 (history Decide,Check)
    assert p[("Check", "Decide")] == pytest.approx(35.0)
    assert p[("Check", END)] == pytest.approx(5.0)
    assert p[("Decide", END)] == pytest.approx(35.0)
    assert p[("Decide", "Check")] == pytest.approx(10.0)
    # a visit no transition continues ends the case there (as in the engine)
    cut = copy.deepcopy(spec)
    cut["control_flow"]["transitions"].pop(3)
    assert order1_projection(SimulationModel.from_dict(cut))[("Decide", END)] == pytest.approx(35.0)
    # without counts, the expected visits under the model weigh the histories the same way
    for tr in spec["control_flow"]["transitions"]:
        tr.pop("n")
    q = order1_projection(SimulationModel.from_dict(spec))
    assert q[("Check", "Decide")] / (q[("Check", "Decide")] + q[("Check", END)]) == pytest.approx(35 / 40)


def test_parallel_block_needs_every_member_once_per_entry() -> None:
    block = {
        (START, "a"): 100.0,
        ("a", "b"): 50.0,
        ("a", "c"): 50.0,
        ("b", "c"): 50.0,
        ("c", "b"): 50.0,
        ("b", "d"): 50.0,
        ("c", "d"): 50.0,
        ("d", END): 100.0,
    }
    assert parallel_blocks(block, [["b", "c"]]) == [("b", "c")]
    # c skipped by half the cases: not a block (stays an exclusive choice)
    skip = dict(block)
    skip[("a", "b")], skip[("a", "c")], skip[("b", "d")] = 100.0, 0.0, 100.0
    skip[("b", "c")], skip[("c", "b")], skip[("c", "d")] = 25.0, 0.0, 25.0
    assert parallel_blocks(skip, [["b", "c"]]) == []


def test_distributions_keep_their_mean() -> None:
    emp = {"dist": "empirical", "quantiles": [10.0, 20.0, 60.0, 300.0], "levels": [0, 0.5, 0.9, 1]}
    d = prosimos_distribution(emp)
    assert d["distribution_name"] == "lognorm"
    m, var, low, high = (p["value"] for p in d["distribution_params"])
    assert m == pytest.approx(mean(emp), rel=1e-6) and var > 0 and (low, high) == (10.0, 300.0)
    z = prosimos_distribution({**emp, "zero_share": 0.5})
    assert z["distribution_params"][0]["value"] == pytest.approx(mean(emp) / 2, rel=1e-6)
    e = prosimos_distribution({"dist": "exponential", "mean": 60})
    assert e["distribution_name"] == "expon" and e["distribution_params"][0]["value"] == 60
    g = prosimos_distribution({"dist": "gamma", "shape": 2.0, "scale": 30.0})
    assert [p["value"] for p in g["distribution_params"][:2]] == [60.0, 1800.0]
    ln = prosimos_distribution({"dist": "lognormal", "mu": 3.0, "sigma": 0.5})
    assert ln["distribution_params"][0]["value"] == pytest.approx(math.exp(3.125), rel=1e-6)
    assert prosimos_distribution({"dist": "fixed", "value": 5})["distribution_name"] == "fix"


def test_delay_zero_share_skips_the_timer_and_arrivals_fill_the_calendar(tmp_path: Path) -> None:
    spec = example_model()
    spec["activities"]["Decide"]["delay"] = {"dist": "exponential", "mean": 600, "zero_share": 0.7}
    inten = np.zeros((7, 24))
    inten[:5, 9:17] = 4.0  # office hours on weekdays
    inten[5, 3] = 0.5  # a stray arrival on Saturday night
    spec["arrivals"]["intensity"] = inten.tolist()
    model = SimulationModel.from_dict(spec)
    bpmn, params = export_prosimos(model, tmp_path)
    got = check_prosimos_files(model, bpmn, params)
    data = got["data"]
    (timer,) = (i for i, t in got["tag"].items() if t == "intermediateCatchEvent")
    (split,) = (
        i
        for i, t in got["tag"].items()
        if t == "exclusiveGateway" and timer in {got["flows"][f][1] for f in got["out_of"][i]}
    )
    probs = {
        got["flows"][p["path_id"]][1]: p["value"]
        for g in data["gateway_branching_probabilities"]
        if g["gateway_id"] == split
        for p in g["probabilities"]
    }
    assert probs[timer] == pytest.approx(0.3)
    (event,) = data["event_distribution"]
    assert event["distribution_name"] == "expon" and event["distribution_params"][0]["value"] == 600
    # the busiest hours holding 95 % of the arrivals: the weekday office hours, not Saturday night
    assert ARRIVAL_MASS == 0.95
    assert {(p["from"], p["beginTime"], p["endTime"]) for p in data["arrival_time_calendar"]} == {
        (d, "09:00:00", "17:00:00") for d in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY")
    }
    # gaps: the open seconds per expected arrival (40 h for 160.5 a week)
    gap = data["arrival_time_distribution"]
    assert gap["distribution_name"] == "expon"
    assert gap["distribution_params"][0]["value"] == pytest.approx(40 * 3600 / 160.5, rel=1e-6)
    # the step that needs nobody has a pool of its own that never runs short
    nobody = [p for p in data["resource_profiles"] if p["id"].startswith("pool_nobody")]
    assert len(nobody) == 1 and nobody[0]["resource_list"][0]["amount"] >= 2


@pytest.mark.parametrize(
    "name",
    ["<script>alert(1)</script>", "\"quoted\" & 'apostrophe' ]]>", "NUL\x00byte\x1b", "L" * 20_000],
)
def test_hostile_activity_name_is_written_safely(name: str, tmp_path: Path) -> None:
    spec = copy.deepcopy(example_model())
    spec["activities"][name] = spec["activities"].pop("Check")
    for tr in spec["control_flow"]["transitions"]:
        tr["after"] = [name if a == "Check" else a for a in tr["after"]]
        tr["next"] = {(name if a == "Check" else a): p for a, p in tr["next"].items()}
    spec["pools"]["clerks"]["members"] = [name, "bob"]
    model = SimulationModel.from_dict(spec)
    bpmn, params = export_prosimos(model, tmp_path)
    got = check_prosimos_files(model, bpmn, params)
    assert xml_text(name) in got["tasks"].values()
    raw = bpmn.read_bytes()
    assert b"<script" not in raw and b"\x00" not in raw
    # no element but BPMN's own: the name is text, never markup
    root = _parse_safely(bpmn)
    assert {str(el.tag).split("}")[0] + "}" for el in root.iter() if isinstance(el.tag, str)} <= {
        B,
        "{http://www.omg.org/spec/BPMN/20100524/DI}",
        "{http://www.omg.org/spec/DD/20100524/DC}",
        "{http://www.omg.org/spec/DD/20100524/DI}",
    }
    # the JSON keeps the name as it is (JSON carries any text); ids are synthetic
    data = json.loads(params.read_text(encoding="utf-8"))
    assert name in data["flowlens"]["tasks"].values()
    assert name in {r["name"] for p in data["resource_profiles"] for r in p["resource_list"]}
    assert all(len(i) < 40 for i in got["els"])


def test_fit_command_exports_for_prosimos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import run_cli

    log = shared_path("loanapp-train")
    out, folder = tmp_path / "model.json", tmp_path / "prosimos"
    code, text, err = run_cli(
        ["fit", str(log), "-o", str(out), "--export", "prosimos", str(folder), "--json"], capsys
    )
    assert code == 0, err
    s = json.loads(text)
    assert s["prosimos"] == [str(folder / "prosimos.bpmn"), str(folder / "prosimos.json")]
    written = json.loads((folder / "prosimos.json").read_text(encoding="utf-8"))["flowlens"]["left_out"]
    assert s["prosimos_left_out"] == written == left_out(SimulationModel.load(out))
    model = SimulationModel.load(out)
    check_prosimos_files(model, folder / "prosimos.bpmn", folder / "prosimos.json")
    # the same files as the Python function writes for the saved model
    again = export_prosimos(model, tmp_path / "again")
    assert [p.read_bytes() for p in again] == [
        (folder / n).read_bytes() for n in ("prosimos.bpmn", "prosimos.json")
    ]
    # only the Prosimos format is known; the usage error names the choices, nothing is fitted
    code, _, err = run_cli(
        ["fit", str(log), "-o", str(tmp_path / "m2.json"), "--export", "bpmn", str(folder)], capsys
    )
    assert code == 2 and "prosimos" in err and not (tmp_path / "m2.json").exists()
    # the export folder may not be an input
    code, _, err = run_cli(
        ["fit", str(log), "-o", str(tmp_path / "m3.json"), "--export", "prosimos", str(log)], capsys
    )
    assert code != 0 and not (tmp_path / "m3.json").exists()


def test_what_prosimos_cannot_run_is_named_in_the_export(tmp_path: Path) -> None:
    from test_simulation_abandonment import point_model

    d = point_model(["a1", "a2"])
    d["activities"]["Talk"]["pools_after"] = {"Enter": {"agents": 1.0}}
    d["batching"] = {"Talk": {"size": 3}}
    model = SimulationModel.from_dict(d)
    bpmn, params = export_prosimos(model, tmp_path)
    check_prosimos_files(model, bpmn, params)
    # the export runs every caller to the end, whoever did the step before: said, not silent
    assert json.loads(params.read_text(encoding="utf-8"))["flowlens"]["left_out"] == [
        "abandonment",
        "pools by the previous step",
        "batching rules",
    ]
    assert left_out(SimulationModel.from_dict(example_model())) == []


def test_the_hours_waits_end_in_are_named_in_the_export(tmp_path: Path) -> None:
    # a timer runs in calendar time: a delay fitted in working time of its hours is shorter there
    d = example_model()
    d["calendars"]["day"] = {"mon": ["08:00-22:00"]}
    d["activities"]["Decide"]["delay_calendar"] = "day"
    _, params = export_prosimos(SimulationModel.from_dict(d), tmp_path)
    assert json.loads(params.read_text(encoding="utf-8"))["flowlens"]["left_out"] == [
        "the hours waits end in"
    ]


def test_a_model_whose_arrivals_have_no_attributes_exports(tmp_path: Path) -> None:
    # a model file may say "attributes": null (a fitted model without case attributes)
    d = example_model()
    d["arrivals"]["attributes"] = None
    model = SimulationModel.from_dict(d)
    assert left_out(model) == []
    bpmn, params = export_prosimos(model, tmp_path)
    check_prosimos_files(model, bpmn, params)
