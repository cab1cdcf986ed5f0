"""The detectors' event-sized tables stored a slice of cases at a time (issue 14: at 10^8 events
the findings stage spilled 46 GB writing them whole) hold the rows of the whole log at once, and
the findings are the same.

The slices are forced (the time model's rule, :func:`flowlens.timing.model.case_slices`, with a
third of the log's cases per slice) on a generated log with customers, contacts and channels
(the journeys' steps table, issues spanning cases), and with a seventh, findings included, on a
shared real log (slow).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import flowlens
import flowlens.timing.model as model
from conftest import shared_path
from flowlens.analysis.waiting import waiting_causes
from flowlens.findings import _customer
from flowlens.findings.api import find_wastes
from flowlens.findings.context import FindingContext
from flowlens.findings.instances import instance_table
from flowlens.findings.rework import repeats


def _journey_log(seed: int, cases: int = 140) -> flowlens.EventLog:
    """Cases of 3-8 steps (repeats of a step, requests, verifications, transfers) for 40
    customers over two weeks, each case one or two contacts on a channel."""
    rng = np.random.default_rng(seed)
    acts = ["Open request", "Verify identity", "Request documents", "Provide information",
            "Transfer call", "Review", "Approve", "Close"]  # fmt: skip
    t0 = pd.Timestamp("2024-03-04 08:00")
    rows = []
    for c in range(cases):
        t = t0 + pd.Timedelta(minutes=int(rng.integers(0, 14 * 24 * 60)))
        for k in range(int(rng.integers(3, 9))):
            t += pd.Timedelta(minutes=int(rng.choice([1, 5, 30, 240, 1500])))
            dur = pd.Timedelta(minutes=int(rng.integers(1, 40)))
            rows.append(
                (
                    f"c{c:03d}",
                    f"k{c}-{k // 4}",
                    f"u{int(rng.integers(0, 40))}" if k == 0 else None,
                    ["phone", "chat", "branch"][int(rng.integers(0, 3))],
                    acts[int(rng.integers(0, len(acts)))],
                    ["ann", "bob", "cy", "bot", "customer"][int(rng.integers(0, 5))],
                    t,
                    t + dur,
                )
            )
            t += dur
    df = pd.DataFrame(
        rows, columns=["case", "contact_id", "customer_id", "channel", "activity", "resource", "start", "end"]
    )
    # the customer is a case attribute: on every event of the case
    df["customer_id"] = df.groupby("case").customer_id.transform("first")
    return flowlens.read_log(df)


def _tables(log: flowlens.EventLog, tm: model.TimeModel, wa: object) -> list[pd.DataFrame]:
    """The instance, repeat and steps tables of a new context (and the steps' running counts),
    by eid."""
    ctx = FindingContext(log, seed=0, _tm=tm, _waiting=wa)  # type: ignore[arg-type]
    st = _customer.steps(ctx)
    return [
        t.to_pandas().sort_values(t.columns[0]).reset_index(drop=True)
        for t in (instance_table(ctx), repeats(ctx).table, st.table, st.counts)
    ]


def _findings(log: flowlens.EventLog, tm: model.TimeModel, wa: object) -> str:
    """Every finding of a new context (without the detectors' run times), as JSON."""
    report = find_wastes(log, ctx=FindingContext(log, seed=0, _tm=tm, _waiting=wa))  # type: ignore[arg-type]
    return json.dumps({**report.to_dict(all_cases=True), "detectors": None}, default=str, sort_keys=True)


def _stored(log: flowlens.EventLog, prefix: str) -> int:
    con = log.engine.duckdb
    assert con is not None
    sql = "SELECT count(*) FROM duckdb_tables() WHERE regexp_full_match(table_name, ?)"
    rows = con.execute(sql, [f"{prefix}_[0-9]+"])
    return int(rows.fetchall()[0][0])


def _logs(name: str) -> tuple[flowlens.EventLog, model.TimeModel, object]:
    """The log, its time model and (for the findings of a real log) its waiting split."""
    log = _journey_log(3) if name == "generated" else flowlens.read_log(shared_path("purchasing"))
    tm = model.time_model(log)
    return log, tm, waiting_causes(tm) if name != "generated" else None


def _force_slices(log: flowlens.EventLog, monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """An n-th of the log's cases per slice."""
    monkeypatch.setattr(model, "BYTES_PER_EVENT", log.engine.memory_budget * n // log.n_events + 1)
    assert len(model.case_slices(log)) >= n


def _assert_sliced_tables_equal(
    log: flowlens.EventLog, tm: model.TimeModel, wa: object, mp: pytest.MonkeyPatch, n: int
) -> None:
    whole = _tables(log, tm, wa)
    before = {p: _stored(log, p) for p in ("fl_finstances", "fl_rework", "fl_jsteps", "fl_jcounts")}
    _force_slices(log, mp, n)
    sliced = _tables(log, tm, wa)
    # every table was made slice by slice
    assert all(_stored(log, p) - before[p] >= n for p in before)
    assert len(whole[0]) > 500 and len(whole[2]) == len(whole[0])
    for a, b in zip(sliced, whole, strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_slices_of_cases_give_the_findings_tables_of_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    _assert_sliced_tables_equal(*_logs("generated"), monkeypatch, 3)


@pytest.mark.slow
def test_slices_of_cases_give_the_tables_and_findings_of_the_whole_on_a_real_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log, tm, wa = _logs("purchasing")
    whole = _findings(log, tm, wa)
    _assert_sliced_tables_equal(log, tm, wa, monkeypatch, 7)
    assert _findings(log, tm, wa) == whole
    assert json.loads(whole)["findings"]  # the comparison covers findings
