"""What an analysis leaves in the engine (methods 4.1): every table a step stores for a later
one is dropped by its owner once nothing reads it; what stays is the analyses the report holds
to its end: the time model's instances and cases, the waiting split's per-instance table and
batch members, the deadlines' per-case table (and the log's own tables, which are not ``fl_``)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import flowlens
from conftest import shared_path
from flowlens.findings.api import find_wastes
from flowlens.report.build import ReportOptions, build_report

#: the stored results the report reads to its last section (methods 4.1)
KEPT = {"fl_instances", "fl_cases", "fl_waiting", "fl_batch_members", "fl_sla"}


def engine_tables(log: flowlens.EventLog) -> list[str]:
    """The flowlens-made tables alive in ``log``'s engine, without their numbers."""
    assert log.engine.duckdb is not None
    rows = log.engine.duckdb.execute(
        r"SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'fl\_%' ESCAPE '\'"
    ).fetchall()
    return sorted(re.sub(r"_\d+$", "", name) for (name,) in rows)


def loop_log() -> flowlens.EventLog:
    """40 cases with a repeated check, a ping-pong between two clerks and a customer column:
    the rework, ping-pong, journey and no-effect detectors all store tables."""
    rows = []
    t0 = pd.Timestamp("2024-02-05 09:00", tz="UTC")
    for c in range(40):
        steps = ["Register", "Check", "Approve", "Decide"]
        if c % 4:
            steps = ["Register", "Check", "Approve", "Check", "Approve", "Decide"]
        t = t0 + pd.Timedelta(days=c // 4, hours=c % 4)
        for k, act in enumerate(steps):
            rows.append(
                {
                    "case_id": f"c{c}",
                    "activity": act,
                    "resource": f"clerk{(c + k) % 3}",
                    "customer_id": f"p{c % 25}",
                    "channel": "branch" if c % 2 else "phone",
                    "start": t,
                    "end": t + pd.Timedelta(minutes=20),
                }
            )
            t += pd.Timedelta(minutes=50)
    return flowlens.read_log(pd.DataFrame(rows))


def test_find_wastes_drops_the_tables_of_the_context_it_made() -> None:
    log = loop_log()
    report = find_wastes(log, resamples=50)
    assert report.detectors  # the detectors ran (and stored their tables)
    left = engine_tables(log)
    assert set(left) <= KEPT - {"fl_sla"}, left
    # one time model: no second instance table (e.g. the findings' copy) stays
    assert left.count("fl_instances") == 1 and left.count("fl_cases") == 1


@pytest.mark.slow
def test_report_keeps_only_the_analyses_its_sections_read() -> None:
    log = loop_log()
    report = build_report(log, ReportOptions(resamples=50))
    assert "findings" in [s.id for s in report.sections]
    left = engine_tables(log)
    assert set(left) <= KEPT, left
    assert left.count("fl_instances") == 1 and left.count("fl_cases") == 1


@pytest.mark.slow
def test_analyze_of_a_bank_log_with_deadlines_and_segments_keeps_only_the_documented_tables(
    tmp_path: Path,
) -> None:
    """The generated bank log with its cases, calendars, other work and a deadline rule: the
    journeys (built by the findings, their section and each segment column), the deadlines,
    the found-calendar utilisation and the waiting sweep each drop what they stored."""
    from flowlens.io.cases import add_case_attributes
    from flowlens.synth.bank import generate_bank
    from flowlens.timing.calendars import CalendarSet

    d = tmp_path / "bank"
    generate_bank(preset="tiny", seed=1, out_dir=d, remedies="none", formats=("parquet",), jobs=1)
    log = flowlens.read_log(d / "events.parquet", tz="Asia/Shanghai")
    log = add_case_attributes(log, d / "cases.parquet")
    options = ReportOptions(
        resamples=50,
        calendars=CalendarSet.from_file(d / "calendars.toml"),
        other_work=flowlens.read_log(d / "background_events.parquet", tz=log.timezone),
        sla=("CN_NFRA_2020",),
    )
    report = build_report(log, options)
    ids = [s.id for s in report.sections]
    assert {"findings", "journeys", "sla"} <= set(ids), ids
    left = engine_tables(log)
    assert set(left) <= KEPT, left
    assert left.count("fl_instances") == 1


@pytest.mark.slow
def test_analyze_of_sepsis_keeps_only_the_documented_tables() -> None:
    log = flowlens.read_log(shared_path("sepsis"))
    build_report(log, ReportOptions(resamples=50))
    left = engine_tables(log)
    assert set(left) <= KEPT, left
    assert left.count("fl_instances") == 1
