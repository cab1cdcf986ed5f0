"""Several processes in one log: the process column, and the summary and variants per process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import flowlens
from conftest import REPO, SHARED, shared_path
from flowlens.analysis.processes import (
    NO_PROCESS,
    case_processes,
    detect_processes,
    lead_by_process,
    process_log,
    process_scores,
)
from flowlens.columns import ColumnMap
from flowlens.discovery.cases import case_durations
from flowlens.errors import ConfigError
from flowlens.report.build import ReportOptions, build_report

DEMO = REPO / "event_logs" / "bank_demo"


@pytest.fixture(scope="module")
def demo() -> flowlens.EventLog:
    return flowlens.read_log(DEMO / "events.parquet", tz="Asia/Shanghai")


def _mixed(named: str = "kind", shared: int = 0, n: int = 30) -> pd.DataFrame:
    """Two processes with their own activities plus ``shared`` common steps per case."""
    rows = []
    for p, acts, hours in (("loan", ["Apply", "Score", "Decide"], 24), ("call", ["Ring", "Talk"], 0.1)):
        for i in range(n):
            steps = ["Common"] * shared + acts
            for k, a in enumerate(steps):
                rows.append(
                    {
                        "case": f"{p}{i}",
                        "activity": a,
                        named: p,
                        "tier": "gold" if i % 2 else "std",
                        "timestamp": pd.Timestamp("2024-01-01") + pd.Timedelta(hours=hours * k + i),
                    }
                )
    return pd.DataFrame(rows)


def test_the_demo_holds_five_processes_told_apart_by_its_process_column(demo) -> None:
    split = detect_processes(demo)
    assert split is not None and split.name == "process" and split.named
    assert split.cases == {
        "service_issue": 17961,
        "account_opening": 3578,
        "loan_application": 2959,
        "complaint": 1070,
        "card_dispute": 904,
    }
    # the activity alone tells the process for 98 % of the instances: nearly disjoint sets
    assert split.separation > 0.9 and split.purity > 0.95
    scores = process_scores(demo)
    assert scores.loc[scores.chosen, "column"].tolist() == ["process"]


@pytest.mark.parametrize(
    "name",
    ["helpdesk", "bpic2012", "sepsis", "receipt", "bank-callcenter", "bpic2013-incidents", "roadtraffic100"],
)
def test_no_process_column_on_single_process_logs(name: str, shared_logs) -> None:
    kw = SHARED[name][1]
    log = flowlens.read_log(shared_path(name), ColumnMap(**kw) if kw else None)
    assert detect_processes(log) is None
    # no candidate comes close: segments such as product, channel or priority share activities
    scores = process_scores(log)
    assert (scores["separation"].fillna(0) < 0.5).all(), scores


def test_unnamed_column_needs_nearly_disjoint_activities() -> None:
    log = flowlens.read_log(_mixed(named="line"))
    split = detect_processes(log)
    assert split is not None and split.name == "line" and not split.named
    # a segment attribute (tier) splits no activity: not a process
    assert "tier" not in set(process_scores(log).query("eligible").column)
    # with one shared step per case the activity still tells the line for most instances, but
    # not almost always: an unnamed column no longer qualifies, a named one does
    log2 = flowlens.read_log(_mixed(named="line", shared=2))
    assert detect_processes(log2) is None
    log3 = flowlens.read_log(_mixed(named="process_type", shared=2))
    split3 = detect_processes(log3)
    assert split3 is not None and split3.name == "process_type" and split3.shared_activities == ("Common",)


def test_given_process_column_and_errors() -> None:
    log = flowlens.read_log(_mixed())
    assert detect_processes(log, None) is None
    split = detect_processes(log, "tier")
    assert split is not None and split.reason == "given" and sorted(split.cases) == ["gold", "std"]
    with pytest.raises(ConfigError, match="no column 'nope'"):
        detect_processes(log, "nope")


def test_case_processes_lead_by_process_and_process_logs() -> None:
    df = _mixed()
    df.loc[df.case == "loan0", "kind"] = None
    log = flowlens.read_log(df)
    split = detect_processes(log, "kind")
    assert split is not None and split.missing == 1
    cp = case_processes(log, split)
    assert (cp.loc[cp.case_id == "loan0", "process"] == NO_PROCESS).all()
    lead = lead_by_process(case_durations(log), cp)
    assert lead.process.tolist() == ["call", "loan", NO_PROCESS]
    assert lead.loc[lead.process == "loan", "median_s"].item() == pytest.approx(48 * 3600)
    assert process_log(log, split, "call").n_cases == 30
    assert process_log(log, split, NO_PROCESS).n_cases == 1


def test_report_summary_and_variants_per_process(demo) -> None:
    rep = build_report(demo, ReportOptions(deep=False))
    summary = next(s for s in rep.sections if s.id == "summary")
    assert "26,472 cases of 5 processes (column process)" in summary.lead
    rows = {r["process"]: r for r in summary.data["lead_time_by_process"]}
    assert rows["complaint"]["cases"] == 1070
    # per-process medians equal a plain pandas computation on the demo's own files
    ev = pd.read_parquet(DEMO / "events.parquet")
    lead = ev.groupby("case_id").agg(p=("process", "first"), s=("start_ts", "min"), e=("end_ts", "max"))
    lead["d"] = (lead.e - lead.s).dt.total_seconds()
    for p, g in lead.groupby("p"):
        assert rows[p]["median_s"] == pytest.approx(float(np.median(g.d)), abs=1e-3)
    # one histogram per process, no pooled histogram of several humps
    assert summary.html.count("lead time of ") == 5 and "lead time (log scale)" not in summary.html
    var = next(s for s in rep.sections if s.id == "variants")
    heads = {h["process"]: h for h in var.data["by_process"]}
    assert set(heads) == set(rows) and sum(h["cases"] for h in heads.values()) == 26472
    assert all(r["process"] in heads for r in var.data["top"])
    assert "of its cases" in var.lead


def test_report_of_a_single_process_log_is_unchanged(shared_logs) -> None:
    log = flowlens.read_log(shared_path("helpdesk"))
    rep = build_report(log, ReportOptions(deep=False))
    summary = next(s for s in rep.sections if s.id == "summary")
    assert "processes" not in summary.data and "half of all cases take longer" in summary.lead
    assert "by_process" not in next(s for s in rep.sections if s.id == "variants").data


def test_domain_is_banking_only_when_the_log_says_so(demo, shared_logs) -> None:
    from flowlens.analysis.domain import detect_domain

    d = detect_domain(demo)
    assert d.name == "bank" and d.org == "the bank" and "aml" in d.reason
    for name in ("helpdesk", "bpic2012", "bank-callcenter"):
        kw = SHARED[name][1]
        log = flowlens.read_log(shared_path(name), ColumnMap(**kw) if kw else None)
        assert detect_domain(log).org == "the organisation"
        assert detect_domain(log, "bank").org == "the bank"  # the user says so
    with pytest.raises(ConfigError, match="unknown domain"):
        detect_domain(demo, "retail")
