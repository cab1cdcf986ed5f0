"""The report's simulation sections: "Can the simulation be trusted?" (methods §16.6) and "What
a simpler process would save" (methods §17), their wiring into ``flowlens analyze``
(``--simulate``, ``--scenario``), results.json, escaping and isolation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import flowlens
from conftest import run_cli
from flowlens.report.build import ReportOptions, build_report, failed_sections
from flowlens.report.document import Report
from flowlens.report.simulation_section import TITLE, WHATIF_TITLE, answer, simulation_section
from flowlens.simulation.fidelity import METRIC_LABELS, PART_LABELS, PARTS, FidelityResult, fidelity

HOSTILE = "<script>alert(1)</script>"


def small_log(n_cases: int = 100, seed: int = 5, check: str = "Check") -> pd.DataFrame:
    """Register, ``check`` (reworked now and then, the longest step), decide; two clerks and a
    manager; arrivals on weekdays 08:00-16:00."""
    rng = np.random.default_rng(seed)
    rows = []
    t = pd.Timestamp("2024-03-04 08:00")
    for c in range(n_cases):
        t = t + pd.Timedelta(minutes=float(rng.exponential(45)))
        while t.weekday() >= 5 or not 8 <= t.hour < 16:
            t = (t + pd.Timedelta(days=1)).normalize() + pd.Timedelta(hours=8)
        now = t
        steps = ["Register", check]
        while rng.random() < 0.25:
            steps.append(check)
        steps.append("Decide")
        for act in steps:
            now = now + pd.Timedelta(minutes=float(rng.exponential(20)))
            scale = {"Register": 4, "Decide": 5}.get(act, 8)
            dur = pd.Timedelta(minutes=float(rng.gamma(2.0, scale)))
            who = f"clerk{int(rng.integers(1, 3))}" if act != "Decide" else "manager"
            rows.append((f"case{c:04d}", act, who, now, now + dur))
            now = now + dur
    return pd.DataFrame(rows, columns=["case_id", "activity", "resource", "start_time", "end_time"])


@pytest.fixture(scope="module")
def hostile_fidelity() -> FidelityResult:
    return fidelity(flowlens.read_log(small_log(check=HOSTILE)), k=2, seed=3)


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("simreport") / "small.csv"
    small_log().to_csv(p, index=False)
    return p


def _section_html(page: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', page, re.S)
    assert m, f"no section {sid}"
    return m.group(1)


def _page(*sections: object) -> str:
    keys = "source_name start end timezone engine seed source_sha256 flowlens_version"
    report = Report(title="t", provenance={**dict.fromkeys(keys.split(), "x"), "cases": 1})
    for s in sections:
        report = report.add(s)  # type: ignore[arg-type]
    return report.to_html()


def test_the_answer_is_one_plain_sentence() -> None:
    yes = answer({"trust": True, "failing_parts": []}, 0.2, 1200)
    assert yes.startswith(
        "Yes: a model fitted on the first 80 % of the cases reproduces the other 1,200 cases"
    )
    assert yes.endswith("so its what-ifs can be trusted on this log.")
    no = answer({"trust": False, "failing_parts": ["arrivals", "waiting", "cycle time"]}, 0.2, 30)
    assert no.startswith("No: the simulation is not good enough to trust what-ifs on this log;")
    assert "gets the arrivals, the waiting and the cycle time of the other 30 cases" in no
    assert no.count(". ") == 0 and no.endswith("wrong.")


def test_section_leads_with_the_verdict_then_measures_and_parts(hostile_fidelity: FidelityResult) -> None:
    r = hostile_fidelity
    s = simulation_section(r)
    assert s.id == "simulation" and s.title == TITLE
    assert s.lead == answer(r.verdict, 0.2, r.split["test"]["cases"])
    assert s.lead.startswith("Yes:" if r.verdict["trust"] else "No:")
    for p in r.verdict["failing_parts"]:
        assert f"the {p}" in s.lead
    html = _section_html(_page(s), "simulation")
    # the verdict sentence comes first, right under the title
    first = re.search(r"<p[^>]*>(.*?)</p>", html, re.S)
    assert first is not None and first.group(0).startswith('<p class="lead">')
    assert first.group(1).startswith(("Yes:", "No:"))
    # then the parts, each good or wrong as the result says, with its sentences
    for p in PARTS:
        row = re.search(rf"<td>{PART_LABELS[p]}</td>\s*<td>(.*?)</td>", html, re.S)
        assert row is not None, p
        assert ("wrong" in row.group(1)) == (not r.parts[p]["good"])
    assert html.index("What the model gets right and wrong") < html.index("What it means for what-ifs")
    # and the metric table: every measure with mean ± sd, reference and ratio
    for label in METRIC_LABELS.values():
        assert f"<td>{label}</td>" in html
    assert "±" in html and "Reference" in html and "Ratio" in html
    # results.json gets the result itself, without its (run-dependent) timings
    assert set(s.data["fidelity"]) >= {"metrics", "parts", "verdict", "split", "reference"}
    assert "timing" not in s.data["fidelity"]
    assert s.data["fidelity"]["verdict"] == r.verdict


def test_a_hostile_activity_name_in_the_fidelity_sentences_is_escaped(
    hostile_fidelity: FidelityResult,
) -> None:
    texts = [c["text"] for p in PARTS for c in hostile_fidelity.parts[p]["checks"]]
    assert any(HOSTILE in t for t in texts)  # the sentences do name it
    page = _page(simulation_section(hostile_fidelity))
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in _section_html(page, "simulation")


def _scenario(tmp_path: Path, name: str, body: str) -> Path:
    p = tmp_path / f"{len(list(tmp_path.iterdir()))}.toml"
    p.write_text(f'name = "{name}"\n{body}', encoding="utf-8")
    return p


def test_analyze_simulate_and_scenarios(
    small_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scen = tmp_path / "scenarios"
    scen.mkdir()
    rework = _scenario(
        scen, "no rework", '[[change]]\naction = "cut_rework"\nactivity = "Check"\nfactor = 0\n'
    )
    nothing = _scenario(scen, "nothing <b>", "change = []\n")
    out = tmp_path / "out"
    code, _, err = run_cli(
        [
            "analyze",
            str(small_csv),
            "--quick",
            "--scenario",
            str(nothing),
            "--scenario",
            str(rework),
            "-o",
            str(out),
        ],
        capsys,
    )
    assert code == 0, err
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    ids = list(data["sections"])
    assert ids.index("whatif") == ids.index("simulation") + 1  # --scenario implies --simulate
    fid = data["sections"]["simulation"]["fidelity"]
    assert fid["k"] == 3 and set(fid["parts"]) == set(PARTS) and isinstance(fid["verdict"]["trust"], bool)
    w = data["sections"]["whatif"]
    assert w["fidelity"]["trusted"] == fid["verdict"]["trust"]
    assert w["fidelity"]["summary"] == fid["verdict"]["summary"]
    assert w["model_uncertainty"] is True and w["replications"] >= 10
    # ranked by saving: cutting the rework saves time, doing nothing saves exactly 0
    assert w["ranking"] == ["no rework", "nothing <b>"]
    by_name = {s["name"]: s for s in w["scenarios"]}
    assert by_name["no rework"]["saving_mean_h"] > 0
    assert by_name["nothing <b>"]["saving_mean_h"] == 0 and by_name["nothing <b>"]["saving_ci95_h"] == [0, 0]
    page = (out / "report.html").read_text(encoding="utf-8")
    html = _section_html(page, "whatif")
    assert WHATIF_TITLE in html
    lead = re.search(r'<p class="lead">(.*?)</p>', html, re.S)
    assert lead is not None and lead.group(1).startswith(
        ("From a model that reproduces", "Not to be trusted as estimates")
    )
    assert "&#39;no rework&#39; saves most" in lead.group(1)
    # after the lead: the fidelity verdict, then the scenarios in the order of their savings
    body = html[lead.end() :]
    assert body.index("Fidelity:") < body.index("<td>no rework") < body.index("<td>nothing &lt;b&gt;")
    assert "nothing <b>" not in page
    assert "bootstrap resample" in html and "paired replications" in html


def test_simulate_is_off_by_default_and_no_simulate_refuses_scenarios(
    small_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = build_report(flowlens.read_log(small_csv), ReportOptions(deep=False))
    assert "simulation" not in [s.id for s in report.sections]
    scen = tmp_path / "s.toml"
    scen.write_text('name = "x"\nchange = []\n', encoding="utf-8")
    code, _, err = run_cli(
        ["analyze", str(small_csv), "--no-simulate", "--scenario", str(scen), "-o", str(tmp_path / "o")],
        capsys,
    )
    assert code != 0 and "--scenario needs the simulation" in err
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[change]]\naction = "remov"\nactivity = "Check"\n', encoding="utf-8")
    code, _, err = run_cli(
        ["analyze", str(small_csv), "--scenario", str(bad), "-o", str(tmp_path / "o")], capsys
    )
    assert code != 0 and "did you mean 'remove'" in err
    assert not (tmp_path / "o").exists()  # refused before any analysis


def test_a_failing_fidelity_check_is_isolated_and_the_whatif_says_unchecked(
    small_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowlens.simulation.scenarios import Scenario

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("scorer gave up")

    monkeypatch.setattr("flowlens.simulation.fidelity.fidelity", broken)
    nothing = Scenario.from_dict({"name": "nothing", "change": []})
    opts = ReportOptions(deep=False, scenarios=[nothing], whatif_replications=2)
    report = build_report(flowlens.read_log(small_csv), opts)
    assert failed_sections(report) == [(TITLE, "failed: RuntimeError: scorer gave up")]
    ids = [s.id for s in report.sections]
    assert "simulation" not in ids and "whatif" in ids
    w = next(s for s in report.sections if s.id == "whatif")
    assert w.lead.startswith("Not checked (the fidelity check did not run)")
    assert w.data["fidelity"] is None and w.data["ranking"] == ["nothing"]


def test_a_deadline_rule_the_log_cannot_satisfy_keeps_the_whatif_and_says_why(
    small_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CN_NFRA_2020's clock stops at a final response, which this log never has: the what-if is
    still reported, the rule "not applicable" with the steps it needs (in its table and JSON),
    and the deadlines analysis is listed as not in the report with the same reason."""
    from flowlens.i18n import language, localize
    from flowlens.simulation.scenarios import Scenario

    monkeypatch.setattr("flowlens.simulation.fidelity.fidelity", lambda *a, **k: None)
    rework = Scenario.from_dict(
        {"name": "no rework", "change": [{"action": "cut_rework", "activity": "Check", "factor": 0}]}
    )
    opts = ReportOptions(deep=False, scenarios=[rework], whatif_replications=2, sla=("CN_NFRA_2020",))
    report = build_report(flowlens.read_log(small_csv), opts)
    assert failed_sections(report) == []
    w = next(s for s in report.sections if s.id == "whatif")
    row = w.data["scenarios"][0]["sla"][0]
    assert row["rule"] == "CN_NFRA_2020" and row["decided"] is False and row["applicable"] is False
    assert row["reason"].startswith("not applicable: none of the clock stop activities")
    assert "Final Response" in row["reason"]
    assert w.data["baseline"]["sla"][0]["applicable"] is False
    assert "not applicable: none of the clock stop activities" in w.html
    with language("zh-CN"):
        zh = localize(row["reason"])
    assert "Final Response" in zh and "not applicable" not in zh and "none of the" not in zh
