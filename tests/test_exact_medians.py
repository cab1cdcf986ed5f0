"""Findings' medians are exact (no approximate quantile): the evidence and results.json say the
same number in every run, and it is the median of the data."""

from __future__ import annotations

import numpy as np
import pandas as pd

import flowlens
from flowlens.findings.context import FindingContext
from flowlens.findings.merge import detect_merge_candidates


def handoff_log(n: int = 1500) -> pd.DataFrame:
    """'draft' then 'send' by another person, with a spread of waits in between (a t-digest
    estimate of their median is off by minutes at this size)."""
    rng = np.random.default_rng(7)
    waits = rng.lognormal(9.0, 1.2, n).round()  # seconds
    t0 = pd.Timestamp("2024-01-01 09:00")
    rows = []
    for k in range(n):
        # office hours: 60 cases a day from 09:00 (people do not work around the clock)
        s = t0 + pd.Timedelta(days=k // 60, minutes=7 * (k % 60))
        e1 = s + pd.Timedelta(minutes=20)
        s2 = e1 + pd.Timedelta(seconds=float(waits[k]))
        e2 = s2 + pd.Timedelta(minutes=10)
        rows += [
            (f"c{k}", "draft", f"a{k % 5}", s, e1),
            (f"c{k}", "send", f"b{k % 5}", s2, e2),
            # the case's outcome comes after: 'send' is not the last word
            (f"c{k}", "confirm", f"c{k % 5}", e2 + pd.Timedelta(minutes=3), e2 + pd.Timedelta(minutes=4)),
        ]
    return pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"])


def test_merge_candidate_median_wait_is_exact_and_stable() -> None:
    df = handoff_log()
    waits = (df.start.iloc[1::3].to_numpy() - df.end.iloc[0::3].to_numpy()) / np.timedelta64(1, "s")
    runs = []
    for _ in range(2):
        found = detect_merge_candidates(FindingContext(flowlens.read_log(df), resamples=100))
        assert [f.activities for f in found] == [("draft", "send")]
        runs.append(found[0])
    first, second = runs
    assert first.details["median_wait_s"] == float(np.median(waits))
    assert first.evidence == second.evidence
    assert first.details == second.details
    assert first.case_ids == second.case_ids
    assert list(first.case_ids) == sorted(first.case_ids)
