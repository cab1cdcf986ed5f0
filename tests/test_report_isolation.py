"""No section takes the report down: a section whose analysis raises is listed as failed, with
its reason, and the rest of the report is written (the command exits 0 with a warning)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import flowlens
from flowlens.cli import main as cli_main
from flowlens.report.build import ReportOptions, build_report, failed_sections


def small_log() -> flowlens.EventLog:
    rows = []
    t0 = pd.Timestamp("2024-02-05 09:00", tz="UTC")
    for c in range(12):
        for i, act in enumerate(["Register", "Check", "Decide"]):
            rows.append(
                {
                    "case_id": f"c{c}",
                    "activity": act,
                    "resource": f"r{(c + i) % 3}",
                    "channel": "web" if c % 2 else "branch",
                    "timestamp": t0 + pd.Timedelta(hours=5 * c + 2 * i + (c % 3)),
                }
            )
    return flowlens.read_log(pd.DataFrame(rows))


def test_a_failing_section_is_listed_and_the_rest_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("map renderer gave up\non this log")

    monkeypatch.setattr("flowlens.report.build.map_section", broken)
    report = build_report(small_log(), ReportOptions(deep=False))
    assert [s.id for s in report.sections] == [
        "recommendations",
        "summary",
        "variants",
        "not-included",
        "quality",
        "methods",
        "reproduce",
    ]
    assert failed_sections(report) == [
        ("Process map", "failed: RuntimeError: map renderer gave up on this log")
    ]
    paths = report.write(tmp_path)
    data = json.loads(paths["results"].read_text(encoding="utf-8"))
    assert data["sections"]["not-included"]["skipped"] == [
        {
            "section": "Process map",
            "reason": "failed: RuntimeError: map renderer gave up on this log",
            "failed": True,
        }
    ]
    html = paths["report"].read_text(encoding="utf-8")
    assert "Not in this report" in html and "map renderer gave up on this log" in html


def test_sections_needing_a_failed_one_are_listed_too(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("Resource")

    monkeypatch.setattr("flowlens.analysis.waiting.waiting_causes", broken)
    report = build_report(small_log(), ReportOptions(resamples=50, segment_by=("channel",)))
    failed = dict(failed_sections(report))
    assert failed["Why cases wait"] == "failed: KeyError: 'Resource'"
    assert failed["Redundant steps"].startswith("failed: not run: it needs the time model")
    ids = [s.id for s in report.sections]
    # the time model itself worked: bottlenecks, segments and drivers are still there
    assert "waiting" not in ids
    assert {"summary", "quality", "map", "variants", "not-included"} <= set(ids)
    assert any(i.startswith("bottlenecks") for i in ids)
    assert any(i.startswith("segments") for i in ids)


def test_interrupts_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("flowlens.report.build.variants_section", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_report(small_log(), ReportOptions(deep=False))


def test_cli_exits_0_with_one_warning_per_failed_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("cannot rank")

    monkeypatch.setattr("flowlens.report.bottlenecks_section.bottlenecks_section", broken)
    src = tmp_path / "log.csv"
    small_log().to_pandas().rename(columns={"end": "timestamp"}).to_csv(src, index=False)
    capsys.readouterr()
    cli_main(["analyze", str(src), "-o", str(tmp_path / "out"), "--resamples", "100"])  # no SystemExit
    err = capsys.readouterr().err
    warnings = [ln for ln in err.splitlines() if ln.startswith("flowlens: warning:")]
    assert warnings == ["flowlens: warning: section 'Bottlenecks' failed: ValueError: cannot rank"]
    assert (tmp_path / "out" / "report.html").is_file()
    data = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert "waiting" in data["sections"]


def test_not_in_this_report_is_in_the_reports_language() -> None:
    """The "Not in this report" list names each left-out analysis and why in the report's
    language: a rule whose clock-stop steps the log lacks, a log without a customer id."""
    report = build_report(small_log(), ReportOptions(resamples=50, sla=("CN_NFRA_2020",), lang="zh-CN"))
    left = next(s for s in report.sections if s.id == "not-included")
    rows = {d["section"]: d["reason"] for d in left.data["skipped"]}
    # results.json keeps the English, as every other sentence
    assert rows["Deadlines (CN_NFRA_2020)"].startswith("none of the clock stop activities")
    assert rows["Customer journeys"].startswith("no customer id column")
    html = left.html
    assert "时限（CN_NFRA_2020）" in html and "日志中没有出现该规则查找的任何计时终点环节" in html
    assert "客户旅程" in html and "没有客户编号列" in html
    assert "none of the" not in html and "no customer id" not in html


def test_a_section_an_option_asks_for_is_never_silently_missing() -> None:
    """--quick with --sla or --segment-by: the sections they ask for are listed as not run."""
    report = build_report(small_log(), ReportOptions(deep=False, sla=("UK_DISP",), segment_by=("channel",)))
    ids = [s.id for s in report.sections]
    assert "sla" not in ids and not any(i.startswith("segments") for i in ids)
    left = next(s for s in report.sections if s.id == "not-included")
    rows = {d["section"]: d["reason"] for d in left.data["skipped"]}
    assert rows["Deadlines"].startswith("not run with --quick")
    assert rows["Segments"].startswith("not run with --quick")
