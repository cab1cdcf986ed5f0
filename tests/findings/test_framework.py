"""The framework: registry, contract checks, deduplication, lead-time cap, report outputs, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import flowlens
from flowlens.findings.api import FindingsReport, find_wastes, load_detectors
from flowlens.findings.model import Finding, Scenario


def small_log() -> flowlens.EventLog:
    rows = []
    for k in range(6):
        day = f"2024-01-0{1 + k % 5}"
        rows += [
            (f"c{k}", "=cmd|' /C calc'!A0", "r1", f"{day} 09:00", f"{day} 09:10"),
            (f"c{k}", "Verify Identity", "r2", f"{day} 10:00", f"{day} 10:05"),
            (f"c{k}", "AML Screening", "r3", f"{day} 11:00", f"{day} 11:05"),
        ]
    return flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"]))


def make(kind: str, acts: tuple[str, ...], cases: tuple[str, ...], each: float, det: str, **kw) -> Finding:  # type: ignore[no-untyped-def]
    return Finding(
        kind=kind,
        title=f"{kind} on {'/'.join(acts)}",
        activities=acts,
        case_ids=cases,
        occurrences=len(cases),
        customer_time_s=each * len(cases),
        customer_time_ci=(0.0, 0.0),
        staff_time_s=10.0,
        evidence="e.",
        scenario=kw.pop("scenario", Scenario("cut_loop", {"activity": acts[0]})),
        per_case_s={c: each for c in cases},
        detector=det,
        **kw,
    )


def test_find_wastes_dedups_caps_and_ranks() -> None:
    log = small_log()
    cases = tuple(f"c{k}" for k in range(6))

    def generic(ctx):  # type: ignore[no-untyped-def]
        return [make("rework", ("Verify Identity",), cases, 3000.0, "generic")]

    def specific(ctx):  # type: ignore[no-untyped-def]
        return [make("repeated_check", ("Verify Identity",), cases[:5], 600.0, "specific")]

    def wait(ctx):  # type: ignore[no-untyped-def]
        return [
            make("batch_delay", ("AML Screening",), cases, 7000.0, "batches", scenario=Scenario("unbatch"))
        ]

    report = find_wastes(log, detectors=[generic, specific, wait], seed=1)
    kinds = [f.kind for f in report.findings]
    # rework on the same activity and cases merged into the specific finding (one case left: dropped)
    assert "rework" not in kinds and "repeated_check" in kinds
    rc = report.of_kind("repeated_check")[0]
    assert rc.details["merged"][0]["kind"] == "rework"
    # lead time 2 h 5 min: batch delay (7000 s) + check (600 s) exceed it in the 5 cases with both
    per = report.per_case().groupby("case_id").customer_time_s.sum()
    lead = pd.Series(report.lead_s)
    assert (per <= lead.reindex(per.index) + 1e-6).all()
    assert report.cap["cases_capped"] == 5 and any("capped" in f.details for f in report.findings)
    assert [f.customer_time_s for f in report.findings] == sorted(
        (f.customer_time_s for f in report.findings), reverse=True
    )
    d = report.to_dict()
    assert d["findings"][0]["rank"] == 1 and {"kind", "scenario", "evidence"} <= set(d["findings"][0])
    assert set(report.totals.kind) == {"repeated_check", "batch_delay"}
    assert report.to_frame().shape[0] == len(report)


def test_allow_listed_removal_is_turned_into_make_faster() -> None:
    def bad(ctx):  # type: ignore[no-untyped-def]
        return [
            make("rework", ("AML Screening",), ("c0", "c1"), 60.0, "x", scenario=Scenario("remove_activity"))
        ]

    report = find_wastes(small_log(), detectors=[bad], min_cases=1)
    f = report.findings[0]
    assert f.regulatory and f.allow_reason and f.scenario.action == "automate"


def test_contract_violations_fail_loudly() -> None:
    def reg_removal(ctx):  # type: ignore[no-untyped-def]
        return [make("rework", ("Verify Identity",), ("c0",), 1.0, "x", regulatory=True)]

    with pytest.raises(ValueError, match="removal"):
        find_wastes(small_log(), detectors=[reg_removal])

    def unknown(ctx):  # type: ignore[no-untyped-def]
        return [make("nonsense", ("Verify Identity",), ("c0",), 1.0, "x")]

    with pytest.raises(ValueError, match="unknown kind"):
        find_wastes(small_log(), detectors=[unknown])


def test_registry_skips_only_missing_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded, missing = load_detectors(["flowlens.findings.no_such_module", "flowlens.findings.batching"])
    assert missing == ["flowlens.findings.no_such_module"]
    assert [d.name for d in loaded] == ["batch_delay"]
    with pytest.raises(ModuleNotFoundError):
        load_detectors(["flowlens.findings.no_such_module"], strict=True)
    monkeypatch.setenv("FLOWLENS_STRICT_DETECTORS", "1")
    with pytest.raises(ModuleNotFoundError):
        load_detectors(["flowlens.findings.no_such_module"])


def test_empty_report() -> None:
    r = find_wastes(small_log(), detectors=[])
    assert isinstance(r, FindingsReport) and len(r) == 0 and r.totals.empty
    assert r.to_frame().empty and r.to_dict()["findings"] == []


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowlens", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("findings_cli") / "log.csv"
    rows = []
    for k in range(200):
        d = f"2024-01-{1 + k % 20:02d}"
        rows += [
            (f"c{k}", '=HYPERLINK("x")', f"a{k % 3}", f"{d} 09:00", f"{d} 09:10"),
            (f"c{k}", "Validate", f"b{k % 3}", f"{d} 10:00", f"{d} 10:20"),
            (f"c{k}", "Second Approval", f"m{k % 2}", f"{d} 13:00", f"{d} 13:10"),
            (f"c{k}", "Pay out", f"p{k % 2}", f"{d} 15:00", f"{d} 15:01"),
        ]
    pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"]).to_csv(p, index=False)
    return p


def test_cli_json_lists_findings_with_all_fields(small_csv: Path) -> None:
    res = cli("findings", str(small_csv), "--json", "--detector", "no_effect_checks")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert isinstance(data, list) and data
    f = data[0]
    keys = set(make("rework", ("a",), ("c",), 1.0, "x").to_dict())
    assert keys | {"rank"} <= set(f)
    assert f["kind"] == "no_effect_check" and f["activities"] == ["Second Approval"]
    assert f["scenario"]["action"] == "remove_activity" and f["cases"] == 200


def test_cli_csv_is_formula_safe_and_text_lists_top(small_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.csv"
    res = cli("findings", str(small_csv), "--csv", str(out), "--top", "3", "--detector", "merge_candidates",
              "--detector", "no_effect_checks")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "Second Approval" in res.stdout and "wrote" in res.stdout
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert {"rank", "kind", "customer_time_s", "customer_time_ci_low_s", "scenario_action"} <= set(df.columns)
    for col in df.columns:
        assert not df[col].str.match(r"^[=+\-@]").any(), col


def test_cli_unknown_detector_is_a_user_error(small_csv: Path) -> None:
    res = cli("findings", str(small_csv), "--detector", "nope")
    assert res.returncode == 2 and "unknown detector" in res.stderr


def test_same_cases_in_any_order_give_the_same_figures() -> None:
    """Queries return rows in no fixed order; intervals, examples and results.json do not
    depend on it (the same inputs and seed give the same report)."""
    from flowlens.findings.rank import bootstrap_total_ci
    from flowlens.report.document import Report, Section

    values = [float(k * k % 17) for k in range(200)]
    assert bootstrap_total_ci(values, seed=3, key="k") == bootstrap_total_ci(values[::-1], seed=3, key="k")
    from dataclasses import replace

    cases = tuple(f"c{k}" for k in range(12))
    cost = {c: float(k % 4) for k, c in enumerate(cases)}
    a = replace(make("rework", ("A",), cases, 60.0, "d"), per_case_s=cost)
    b = replace(a, case_ids=cases[::-1])
    assert a.examples == b.examples == ("c11", "c3", "c7", "c10", "c2")  # costliest first, then by id
    r = Report(title="t", provenance={}).add(Section(id="s", title="S", html="", data={"x": 0.1 + 0.2}))
    assert r.to_json()["sections"]["s"]["x"] == 0.3
