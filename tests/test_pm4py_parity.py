"""Counts on every shared log equal pm4py's, computed here on complete events.

pm4py orders a case's events by timestamp with file order breaking ties; flowlens orders
activity instances by end time, then source row, which is the same order on complete events.
The one defined difference: flowlens quarantines rows the data-quality gate rejects (exact
duplicates, end before start, lifecycle rows that never complete), so pm4py is given the log
without exactly those rows (identified by their source row number).
"""

from __future__ import annotations

import pandas as pd
import pytest

import flowlens
from conftest import SHARED, shared_path
from flowlens.columns import ColumnMap
from flowlens.pm4py_bridge import pm4py

STANDARD = {"start", "complete", "schedule", "suspend", "resume", "ate_abort", "withdraw"}


def pm4py_frame(name: str, quarantined_rows: set[int]) -> pd.DataFrame:
    pm = pm4py()
    path = shared_path(name)
    kw = SHARED[name][1]
    if path.name.endswith((".xes", ".xes.gz")):
        df = pm.read_xes(str(path), return_legacy_log_object=False, show_progress_bar=False)
        df = df[~(df.index + 1).isin(quarantined_rows)]
        act = "concept:name"
        if kw.get("activity"):
            df = df.assign(act=df["concept:name"].astype(str) + "+" + df["lifecycle:transition"].astype(str))
            act = "act"
        elif "lifecycle:transition" in df.columns:
            lc = df["lifecycle:transition"].astype(str).str.lower()
            if set(lc.unique()) <= STANDARD:
                df = df[lc == "complete"]
        return pm.format_dataframe(
            df, case_id="case:concept:name", activity_key=act, timestamp_key="time:timestamp"
        )
    df = pd.read_csv(path, dtype={"case_id": str}, low_memory=False)
    df = df[~(df.index + 1).isin(quarantined_rows)].copy()
    df["end_time"] = pd.to_datetime(df["end_time"], utc=True, format="ISO8601")
    return pm.format_dataframe(df, case_id="case_id", activity_key="activity", timestamp_key="end_time")


@pytest.mark.parametrize("name", list(SHARED))
def test_counts_match_pm4py(name: str, shared_logs) -> None:
    kw = SHARED[name][1]
    log = flowlens.read_log(shared_path(name), ColumnMap(**kw) if kw else None)
    q = log.quality
    assert q.rows_read == q.rows_kept + q.rows_quarantined
    quarantined = set(log.quarantine()["source_row"].astype(int))
    df = pm4py_frame(name, quarantined)
    pm = pm4py()

    assert log.n_cases == df["case:concept:name"].nunique()
    assert log.n_events == len(df)
    summary = log.summary()
    assert summary.activities == df["concept:name"].nunique()

    graph = flowlens.directly_follows(log)
    dfg, starts, ends = graph.as_dicts()
    pm_dfg, pm_starts, pm_ends = pm.discover_dfg(df)
    assert dfg == pm_dfg
    assert starts == pm_starts
    assert ends == pm_ends

    ours = flowlens.variants(log)
    theirs = {tuple(k): (v if isinstance(v, int) else len(v)) for k, v in pm.get_variants(df).items()}
    assert dict(zip(ours.variant, ours["count"], strict=True)) == theirs
    assert summary.variants == len(theirs)


def test_defined_differences_are_the_known_ones(shared_logs) -> None:
    """The rows flowlens sets aside on the shared logs, by reason (documented in methods.md)."""
    expected = {
        "sepsis": {"exact duplicate": 1},
        "bank-callcenter": {"end before start": 19},
        "bpic2012": {"schedule without start or completion": 72, "start without completion": 3},
    }
    for name, reasons in expected.items():
        log = flowlens.read_log(shared_path(name))
        assert log.quality.quarantine_reasons == reasons, name
    helpdesk = flowlens.read_log(shared_path("helpdesk"))
    assert set(helpdesk.quality.quarantine_reasons) == {"exact duplicate"}
