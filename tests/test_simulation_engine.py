"""The simulation engine and model: queueing against theory, calendars, batches, priorities,
common random numbers, model-file errors, and fitting a real log (methods §16)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest

import flowlens
from conftest import shared_path
from flowlens.errors import ConfigError, EmptyLogError
from flowlens.simulation import SimulationModel, simulate
from flowlens.simulation.fit import fit_model
from flowlens.simulation.model import END, START, example_model


def two_step(rate_per_h: float, serve: dict, members: list[str], **extra: object) -> dict:
    """Arrive (instant, nobody) -> Serve (the pool): Serve's wait is start - Arrive's end."""
    m = {
        "format": 1,
        "timezone": "UTC",
        "arrivals": {
            "intensity": [[rate_per_h] * 24 for _ in range(7)],
            "gaps": {"dist": "exponential", "mean": 1.0},
        },
        "control_flow": {
            "order": 1,
            "transitions": [
                {"after": [START], "next": {"Arrive": 1.0}},
                {"after": ["Arrive"], "next": {"Serve": 1.0}},
                {"after": ["Serve"], "next": {END: 1.0}},
            ],
        },
        "activities": {
            "Arrive": {"duration": {"dist": "fixed", "value": 0}},
            "Serve": {"duration": serve, "pools": {"staff": 1.0}},
        },
        "pools": {"staff": {"members": members, "calendar": "24x7"}},
        "calendars": {},
    }
    m.update(extra)
    return m


def waits_h(frame: pd.DataFrame) -> pd.Series:
    arrive = frame[frame.activity == "Arrive"].set_index("case_id").end_time
    serve = frame[frame.activity == "Serve"].set_index("case_id").start_time
    return (serve - arrive.reindex(serve.index)).dt.total_seconds() / 3600


def erlang_c_wait(lam: float, mu: float, c: int) -> float:
    a = lam / mu
    rho = a / c
    s = sum(a**k / math.factorial(k) for k in range(c))
    top = a**c / math.factorial(c) / (1 - rho)
    return top / (s + top) / (c * mu - lam)


def test_mmc_pool_matches_erlang_c() -> None:
    """M/M/2 at 75 % load: the mean wait within 3 % of Erlang C (4 × 200k cases, after
    warm-up; one run's mean alone varies by about 2 %)."""
    model = SimulationModel.from_dict(two_step(1.5, {"dist": "exponential", "mean": 3600}, ["a", "b"]))
    runs = [
        simulate(model, cases=200_000, seed=s, start="2024-01-01", warmup_cases=2000) for s in range(1, 5)
    ]
    got = float(np.mean([waits_h(f).mean() for f in runs]))
    want = erlang_c_wait(1.5, 1.0, 2)
    assert abs(got / want - 1) < 0.03, (got, want)


def test_calendar_pauses_work_off_shift() -> None:
    spec = two_step(1.0, {"dist": "fixed", "value": 7200}, ["ann"])
    spec["pools"]["staff"]["calendar"] = "office"
    spec["calendars"] = {"office": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}}
    model = SimulationModel.from_dict(spec)
    frame = simulate(model, cases=1, seed=1, start="2024-03-04T16:00:00")  # a Monday
    serve = frame[frame.activity == "Serve"].iloc[0]
    assert serve.start_time == pd.Timestamp("2024-03-04T16:00:00", tz="UTC")
    # one hour on Monday, the second on Tuesday from 09:00
    assert serve.end_time == pd.Timestamp("2024-03-05T10:00:00", tz="UTC")
    # arriving on Saturday it waits for Monday morning
    frame = simulate(model, cases=1, seed=1, start="2024-03-09T11:00:00")
    assert frame[frame.activity == "Serve"].iloc[0].start_time == pd.Timestamp(
        "2024-03-11T09:00:00", tz="UTC"
    )


def test_batch_releases_at_its_cutoff() -> None:
    spec = two_step(2.0, {"dist": "fixed", "value": 60}, [f"p{i}" for i in range(50)])
    spec["batching"] = {"Serve": {"cutoff": "16:00"}}
    frame = simulate(SimulationModel.from_dict(spec), cases=5, seed=2, start="2024-03-04T10:00:00")
    serve = frame[frame.activity == "Serve"]
    assert (serve.start_time == pd.Timestamp("2024-03-04T16:00:00", tz="UTC")).all()


def test_batch_releases_when_full() -> None:
    spec = two_step(2.0, {"dist": "fixed", "value": 60}, [f"p{i}" for i in range(50)])
    spec["batching"] = {"Serve": {"size": 3}}
    frame = simulate(SimulationModel.from_dict(spec), cases=6, seed=2, start="2024-03-04T10:00:00")
    arrive = frame[frame.activity == "Arrive"].sort_values("end_time").end_time.tolist()
    starts = sorted(frame[frame.activity == "Serve"].start_time.unique())
    assert starts == [arrive[2], arrive[5]]


def test_vip_overtakes_in_the_queue() -> None:
    spec = two_step(60.0, {"dist": "fixed", "value": 3600}, ["ann"])
    spec["arrivals"]["gaps"] = {"dist": "fixed", "value": 1.0}  # one a minute
    spec["arrivals"]["attributes"] = {
        "columns": ["segment"],
        "rows": [["vip"], ["retail"]],
        "weights": [1, 3],
    }
    spec["priority"] = {"attribute": "segment", "order": {"vip": 1, "retail": 0}}
    frame = simulate(SimulationModel.from_dict(spec), cases=40, seed=5, start="2024-03-04T08:00:00")
    serve = frame[frame.activity == "Serve"].merge(
        frame[frame.activity == "Arrive"][["case_id", "end_time"]].rename(columns={"end_time": "arrived"})
    )
    serve = serve.sort_values("start_time")
    # after the first (served on arrival), every VIP waiting is served before any retail case
    # that waited longer
    first_retail_after_vips = serve.iloc[1:].segment.tolist()
    n_vip = first_retail_after_vips.count("vip")
    assert n_vip > 0
    assert first_retail_after_vips[:n_vip] == ["vip"] * n_vip
    retail_first = serve[serve.segment == "retail"].iloc[1:2]
    vip_later = serve[(serve.segment == "vip") & (serve.arrived > retail_first.arrived.iloc[0])]
    assert (vip_later.start_time < retail_first.start_time.iloc[0]).any()


def test_same_seed_same_log_and_common_random_numbers() -> None:
    base = example_model()
    m = SimulationModel.from_dict(base)
    a = simulate(m, cases=300, seed=9, start="2024-03-04")
    b = simulate(SimulationModel.from_dict(copy.deepcopy(base)), cases=300, seed=9, start="2024-03-04")
    assert a.to_csv(index=False) == b.to_csv(index=False)
    # another duration for Decide changes nothing about Check's draws or the paths
    other = copy.deepcopy(base)
    other["activities"]["Decide"]["duration"] = {"dist": "fixed", "value": 1}
    c = simulate(SimulationModel.from_dict(other), cases=300, seed=9, start="2024-03-04")
    assert a.groupby("case_id").activity.apply(tuple).equals(c.groupby("case_id").activity.apply(tuple))
    arrive_a = a.groupby("case_id").start_time.min()
    # the first Check of each case starts as early or later only through the queue: its own
    # duration draw is the same
    check_a = a[a.activity == "Check"].groupby("case_id").apply(lambda g: (g.end_time - g.start_time).iloc[0])
    check_c = c[c.activity == "Check"].groupby("case_id").apply(lambda g: (g.end_time - g.start_time).iloc[0])
    assert check_a.equals(check_c)
    assert len(arrive_a) == 300
    # another seed, another log
    d = simulate(m, cases=300, seed=10, start="2024-03-04")
    assert not a.equals(d)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m["arrivals"]["intensity"][0].__setitem__(3, -1.0), r"arrivals.intensity\[0\]\[3\]"),
        (
            lambda m: m["control_flow"]["transitions"][1]["next"].__setitem__("Chek", 0.1),
            r"unknown activity 'Chek'.*did you mean 'Check'",
        ),
        (
            lambda m: m["control_flow"]["transitions"][1]["next"].__setitem__("Decide", 0.5),
            r"transitions\[1\]\.next: the probabilities .* sum to 0\.6",
        ),
        (
            lambda m: m["pools"]["clerks"].__setitem__("members", []),
            r"pools\.clerks: the pool has no members",
        ),
        (
            lambda m: m["activities"]["Check"]["duration"].__setitem__("mean", "soon"),
            r"Check\.duration\.mean",
        ),
        (lambda m: m.__setitem__("format", 7), r"format 1"),
        (lambda m: m.__setitem__("arival", {}), r"unknown field 'arival'.*'arrivals'"),
    ],
)
def test_bad_model_file_names_the_field(edit, message) -> None:  # type: ignore[no-untyped-def]
    m = example_model()
    edit(m)
    with pytest.raises(ConfigError, match=message) as err:
        SimulationModel.from_dict(m)
    assert "\n" not in str(err.value)


def test_model_round_trips_through_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    m = SimulationModel.from_dict(example_model())
    path = m.save(tmp_path / "model.json")
    assert SimulationModel.load(path) == m
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not a JSON model file"):
        SimulationModel.load(path)


def test_too_small_a_log_is_refused() -> None:
    rows = [(f"c{i}", "a", f"2024-03-04 09:{i:02d}") for i in range(10)]
    log = flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "timestamp"]))
    with pytest.raises(EmptyLogError, match="at least 30"):
        fit_model(log)


@pytest.fixture(scope="module")
def loanapp_fit() -> tuple[SimulationModel, pd.DataFrame]:
    model = fit_model(flowlens.read_log(shared_path("loanapp-train")))
    test = pd.read_csv(shared_path("loanapp-test"))
    return model, test


def test_fitted_loanapp_reproduces_the_held_out_cycle_time(loanapp_fit, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Fitted on LoanApp's train part, 5 simulated logs of the test's size from its first start:
    the mean cycle time within 10 % of the test's (Simod: +205 %), arrivals per weekday hour
    and the events per case close to it; the simulated log reads back as a log."""
    model, test = loanapp_fit
    for c in ("start_time", "end_time"):
        test[c] = pd.to_datetime(test[c], utc=True, format="ISO8601")
    ct_test = (
        test.groupby("case_id").end_time.max() - test.groupby("case_id").start_time.min()
    ).dt.total_seconds()
    start = test.start_time.min().tz_localize(None)
    cts = []
    for seed in range(1, 6):
        sim = simulate(model, cases=test.case_id.nunique(), start=start, seed=seed)
        ct = (
            sim.groupby("case_id").end_time.max() - sim.groupby("case_id").start_time.min()
        ).dt.total_seconds()
        cts.append(ct.mean())
        assert abs(len(sim) / sim.case_id.nunique() / (len(test) / test.case_id.nunique()) - 1) < 0.05
    assert abs(np.mean(cts) / ct_test.mean() - 1) < 0.10
    out = tmp_path / "sim.csv"
    sim.to_csv(out, index=False)
    back = flowlens.read_log(out)
    assert back.n_cases == test.case_id.nunique()
    assert model.fitted["order_chosen"] in (1, 2, 3)
    # the applicant is not staff: the form needs nobody, in the hours applicants answer
    assert "pools" not in model.activities["Applicant completes form"]


def test_fitted_and_example_models_follow_the_json_schema(loanapp_fit) -> None:  # type: ignore[no-untyped-def]
    import json
    from importlib import resources

    import jsonschema

    schema = json.loads(resources.files("flowlens.simulation").joinpath("model.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    model, _ = loanapp_fit
    for data in (example_model(), model.to_dict()):
        errors = sorted(validator.iter_errors(data), key=str)
        assert not errors, errors[0].message
    bad = example_model()
    bad["activities"]["Check"]["duration"] = {"dist": "gamma", "shape": -1, "scale": 2}
    assert list(validator.iter_errors(bad))


def test_a_text_attribute_with_missing_values_reaches_the_simulated_log() -> None:
    """A case attribute that is missing for some cases (a case table's optional column) is
    drawn with the rest and written as missing, not an error."""
    rows = [
        (f"c{i}", a, f"2024-03-04 {9 + i // 10:02d}:{(i % 10) * 5 + k * 2:02d}", r, "x" if i % 3 else None)
        for i in range(40)
        for k, (a, r) in enumerate([("Check", "ann"), ("Decide", "bob")])
    ]
    frame = pd.DataFrame(rows, columns=["case", "activity", "timestamp", "resource", "segment"])
    model = fit_model(flowlens.read_log(frame))
    out = simulate(model, cases=60, start="2024-03-04T09:00:00+00:00", seed=1)
    assert set(out.segment.dropna()) == {"x"}
    assert out.segment.isna().any()
