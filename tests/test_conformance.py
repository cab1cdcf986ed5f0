"""Conformance: pm4py's alignment fitness exactly, per-variant weighting, budget and sampling, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import flowlens
from conftest import shared_path
from flowlens.conformance import conformance
from flowlens.discovery.bpmn import PetriModel, discover_bpmn, to_petri_net, tree_from_variants, write_bpmn
from flowlens.errors import ConfigError, InputError
from flowlens.pm4py_bridge import pm4py
from flowlens.report.conformance_section import conformance_section
from test_bpmn import shared_log

FLOWLENS = [sys.executable, "-m", "flowlens"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLOWLENS, *args], capture_output=True, text=True, check=False)


def small_log(traces: dict[str, str | list[str]], hours: dict[str, float] | None = None) -> flowlens.EventLog:
    """One event per activity (a letter of a string); a case's events are 1 h or ``hours[c]`` apart."""
    rows = []
    for case, acts in traces.items():
        step = pd.Timedelta(hours=(hours or {}).get(case, 1.0))
        t0 = pd.Timestamp("2024-01-01")
        rows += [{"case": case, "activity": a, "timestamp": t0 + i * step} for i, a in enumerate(acts)]
    return flowlens.read_log(pd.DataFrame(rows))


def model_of(*traces: str) -> PetriModel:
    tree = tree_from_variants(Counter(tuple(t) for t in traces))
    return to_petri_net(pm4py().convert_to_petri_net(tree))


# --------------------------------------------------------------------------- pm4py parity


def test_running_example_fitness_is_pm4pys_alignment_fitness(shared_logs) -> None:
    path = shared_path("running-example")
    df = pm4py().read_xes(str(path))
    net, im, fm = pm4py().discover_petri_net_inductive(df)
    ref = pm4py().fitness_alignments(df, net, im, fm, multi_processing=False)
    r = conformance(flowlens.read_log(path), (net, im, fm))
    assert r.fitness == pytest.approx(ref["log_fitness"], abs=1e-9)
    assert 100 * r.fitting_share == pytest.approx(ref["percentage_of_fitting_traces"], abs=1e-9)
    assert (r.method, r.sampled, r.cases_aligned) == ("all", False, 6)


@pytest.mark.parametrize(("name", "top", "noise"), [("running-example", 2, 0.0), ("receipt", 20, 0.2)])
def test_fitness_with_deviations_is_pm4pys(shared_logs, name: str, top: int, noise: float) -> None:
    """A model of the top variants leaves the other cases deviating: still pm4py's figures."""
    log = shared_log(name)
    v = flowlens.variants(log).head(top)
    tree = tree_from_variants(
        Counter(dict(zip(v["variant"], v["count"], strict=True))), noise_threshold=noise
    )
    net, im, fm = pm4py().convert_to_petri_net(tree)
    df = pm4py().read_xes(str(shared_path(name)))
    ref = pm4py().fitness_alignments(df, net, im, fm, multi_processing=False)
    r = conformance(log, (net, im, fm))
    assert r.fitness == pytest.approx(ref["log_fitness"], abs=1e-9)
    assert 100 * r.fitting_share == pytest.approx(ref["percentage_of_fitting_traces"], abs=1e-9)
    assert r.fitting_share < 1
    # per variant, the trace fitness is pm4py's too
    per_case = pm4py().conformance_diagnostics_alignments(df, net, im, fm, multi_processing=False)
    ref_mean = float(np.mean([a["fitness"] for a in per_case]))
    frame = r.variants
    ours_mean = float((frame["fitness"] * frame["count"]).sum() / frame["count"].sum())
    assert ours_mean == pytest.approx(ref_mean, abs=1e-9)


# --------------------------------------------------------------------------- what is counted


def test_deviations_and_lead_times_are_counted_per_case() -> None:
    # designed: a b c. Cases 3 and 4 skip b, case 4 also adds d twice; they are slower.
    log = small_log(
        {"1": "abc", "2": "abc", "3": "ac", "4": "adcd"},
        hours={"1": 1, "2": 2, "3": 10, "4": 20},
    )
    r = conformance(log, model_of("abc"))
    assert (r.cases_total, r.fitting_cases, r.fitting_share) == (4, 2, 0.5)
    got = {(d.activity, d.kind): (d.cases, d.occurrences) for d in r.deviations}
    assert got == {("b", "skipped"): (2, 2), ("d", "inserted"): (1, 2)}
    assert r.deviations[0].activity == "b" and r.deviations[0].share == 0.5
    lt = r.lead_time
    assert (lt.conforming.cases, lt.deviating.cases) == (2, 2)
    assert lt.conforming.median_s == 3 * 3600  # leads 2 h and 4 h
    assert lt.deviating.median_s == 35 * 3600  # leads 10 h and 60 h
    assert lt.median_diff_s == lt.mean_diff_s == 32 * 3600
    assert any("'d'" in n and "not in the model" in n for n in r.notes)


def test_each_variant_is_aligned_once_and_weighted() -> None:
    log = small_log({str(i): "abc" if i % 3 else "acb" for i in range(30)})
    r = conformance(log, model_of("abc"))
    assert (r.variants_total, r.variants_aligned, r.cases_aligned) == (2, 2, 30)
    assert sorted(r.variants["count"]) == [10, 20]
    assert r.fitting_cases == 20
    assert sum(d.cases for d in r.deviations if d.kind == "inserted") == 10


def test_names_that_never_match_are_called_out() -> None:
    r = conformance(small_log({"1": "ab"}), model_of("xy"))
    assert r.fitting_cases == 0
    assert any("none of the model's activities occurs in the log" in n for n in r.notes)


def test_a_model_that_cannot_end_is_refused() -> None:
    from pm4py.objects.petri_net.obj import Marking, PetriNet
    from pm4py.objects.petri_net.utils import petri_utils

    net = PetriNet("stuck")
    p1, p2, p3 = (PetriNet.Place(n) for n in ("p1", "p2", "p3"))
    t = PetriNet.Transition("t", "a")
    for x in (p1, p2, p3):
        net.places.add(x)
    net.transitions.add(t)
    petri_utils.add_arc_from_to(p1, t, net)
    petri_utils.add_arc_from_to(t, p2, net)
    with pytest.raises(InputError, match="no run of the model reaches its end"):
        conformance(small_log({"1": "a"}), (net, Marking({p1: 1}), Marking({p3: 1})))


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"time_budget_s": 0}, "time budget"), ({"sample": 0}, "sample")]
)
def test_bad_options(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        conformance(small_log({"1": "ab"}), model_of("ab"), **kwargs)


# --------------------------------------------------------------------------- budget and sampling


def test_sample_is_seeded_and_estimates_the_whole_log() -> None:
    rng = np.random.default_rng(1)
    traces = {str(i): ("abc" if rng.random() < 0.7 else "ac") for i in range(400)}
    log = small_log(traces)
    true_share = sum(t == "abc" for t in traces.values()) / 400
    a = conformance(log, model_of("abc"), sample=100, seed=7)
    b = conformance(log, model_of("abc"), sample=100, seed=7)
    assert a.to_dict() | {"elapsed_s": 0} == b.to_dict() | {"elapsed_s": 0}
    assert (a.method, a.sampled, a.estimated, a.cases_aligned, a.sample_size) == (
        "random-sample",
        True,
        True,
        100,
        100,
    )
    lo, hi = a.fitting_share_range
    assert lo <= a.fitting_share <= hi and lo <= true_share <= hi
    skipped_b = next(d for d in a.deviations if d.activity == "b")
    assert skipped_b.cases == round(400 * (1 - a.fitting_share))  # scaled to the whole log
    # a sample as large as the log is the whole log
    whole = conformance(log, model_of("abc"), sample=10_000)
    assert (whole.method, whole.sampled, whole.fitting_share) == ("all", False, true_share)


def test_a_tiny_budget_says_what_it_covered() -> None:
    log = small_log({str(i): "abc" for i in range(5)})
    r = conformance(log, model_of("abc"), time_budget_s=1e-9)
    assert r.sampled and r.budget_exhausted and r.method == "most-frequent-first"
    assert r.cases_aligned == 0 and r.fitting_share is None
    assert "time budget" in conformance_section(r).lead


@pytest.fixture
def bpic2012(shared_logs) -> flowlens.EventLog:
    return shared_log("bpic2012")


@pytest.fixture(scope="module")
def bpic_model(shared_logs) -> PetriModel:
    """A model of BPIC 2012's top variants (80 % of cases), noise 0.2."""
    v = flowlens.variants(shared_log("bpic2012"))
    top = v[v["cum_share"] - v["share"] < 0.8]
    tree = tree_from_variants(
        Counter(dict(zip(top["variant"], top["count"], strict=True))), noise_threshold=0.2
    )
    return to_petri_net(pm4py().convert_to_petri_net(tree))


def test_bpic2012_finishes_within_its_budget(bpic2012, bpic_model) -> None:
    budget = 12.0
    started = time.perf_counter()
    r = conformance(bpic2012, bpic_model, time_budget_s=budget)
    elapsed = time.perf_counter() - started
    assert elapsed < budget + 3.0  # the budget covers the alignments; counting after it is quick
    assert r.cases_total == 13_087 and r.variants_total > 4_000
    # 12 s cannot align 4,000+ variants: the result says it stopped, and what it covers
    assert r.sampled and r.budget_exhausted and r.method == "most-frequent-first"
    assert 0 < r.variants_aligned < r.variants_total
    aligned = r.variants["aligned"].tolist()  # the most frequent variants come first
    assert aligned == [True] * r.variants_aligned + [False] * (r.variants_total - r.variants_aligned)
    assert r.coverage > r.variants_aligned / r.variants_total
    lo, hi = r.fitting_share_range  # bounds for all cases: unaligned cases all deviate, or all fit
    assert lo == pytest.approx(r.fitting_cases / r.cases_total)
    assert hi == pytest.approx(lo + 1 - r.coverage)
    f_lo, f_hi = r.fitness_range
    assert f_lo < r.fitness < f_hi
    data = json.loads(json.dumps(r.to_dict()))
    assert data["sampled"] is True and data["cases_aligned"] == r.cases_aligned


def test_bpic2012_sample_within_its_budget(bpic2012, bpic_model) -> None:
    budget = 12.0
    started = time.perf_counter()
    r = conformance(bpic2012, bpic_model, time_budget_s=budget, sample=60, seed=3)
    assert time.perf_counter() - started < budget + 3.0
    assert r.sampled and r.estimated and r.method == "random-sample"
    assert 0 < r.cases_aligned <= 60
    lo, hi = r.fitting_share_range
    assert 0 <= lo <= r.fitting_share <= hi <= 1


# --------------------------------------------------------------------------- report and CLI


def test_section_is_escaped_and_says_the_main_finding() -> None:
    log = small_log({"1": "abc", "2": "abc", "3": "ac"})
    tree = tree_from_variants(Counter({tuple("abc"): 1}))
    bpmn = pm4py().convert_to_bpmn(tree)
    r = conformance(log, bpmn)
    s = conformance_section(r)
    assert s.id == "conformance"
    assert s.lead.startswith("66.7 % of cases follow the designed process")
    assert "'b' skipped in 1 cases" in s.lead
    assert s.data["fitting_cases"] == 2
    evil = small_log({"1": ["a", "<script>x</script>"], "2": ["a", "b"]})
    s2 = conformance_section(conformance(evil, model_of("ab")))
    assert "<script>" not in s2.html and "&lt;script&gt;" in s2.html


def test_cli_conformance_json(shared_logs, tmp_path: Path) -> None:
    log = shared_path("running-example")
    model = write_bpmn(discover_bpmn(shared_log("running-example")), tmp_path / "designed.bpmn")
    out = run("conformance", str(log), "--model", str(model), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in (
        "fitness",
        "fitting_share",
        "deviations",
        "lead_time",
        "sampled",
        "cases_aligned",
        "variants_aligned",
    ):
        assert key in data, key
    assert data["fitness"] == pytest.approx(1.0, abs=1e-3) and data["fitting_share"] == 1.0
    assert data["sampled"] is False and data["model"] == str(model)
    text = run("conformance", str(log), "--model", str(model), "--sample", "3", "--seed", "1")
    assert text.returncode == 0, text.stderr
    assert "fitting cases" in text.stdout and "95 % interval" in text.stdout


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("missing.bpmn", None, "no such model file"),
        ("garbage.bpmn", b"this is not xml", "not well-formed XML"),
        (
            "xxe.bpmn",
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>',
            "entities",
        ),
        ("log.pnml", b"<log/>", "not a BPMN 2.0 or PNML model"),
    ],
)
def test_cli_bad_model_file_is_a_one_line_error(shared_logs, tmp_path: Path, name, content, match) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    out = run("conformance", str(shared_path("running-example")), "--model", str(path))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("flowlens: error:"), out.stderr
    assert str(path) in lines[0] and match in lines[0]
    assert out.stdout == ""
