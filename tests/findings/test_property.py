"""The customer time findings claim is consistent with the time model: per case, the time all
findings attribute never exceeds the case's lead time, after deduplication and capping
(docs/methods.md 13.2). Property-tested on random findings, then checked on a real report."""

from __future__ import annotations

import math

import hypothesis.strategies as st
import pandas as pd
from hypothesis import HealthCheck, given, settings

from flowlens.findings.model import KINDS, Finding, Scenario
from flowlens.findings.rank import consolidate

CASES = [f"c{i}" for i in range(12)]
ACTS = ["a", "b", "c", "d"]


@st.composite
def findings_and_leads(draw: st.DrawFn) -> tuple[list[Finding], dict[str, float]]:
    lead = {c: draw(st.floats(min_value=0.0, max_value=1e6, allow_nan=False)) for c in CASES}
    out = []
    for k in range(draw(st.integers(min_value=0, max_value=8))):
        cases = draw(st.lists(st.sampled_from(CASES), min_size=1, max_size=len(CASES), unique=True))
        acts = tuple(draw(st.lists(st.sampled_from(ACTS), min_size=1, max_size=3, unique=True)))
        per = {c: draw(st.floats(min_value=0.0, max_value=2e6, allow_nan=False)) for c in cases}
        out.append(
            Finding(
                kind=draw(st.sampled_from(sorted(KINDS))),
                title=f"f{k}",
                activities=acts,
                case_ids=tuple(cases),
                occurrences=len(cases),
                customer_time_s=sum(per.values()),
                customer_time_ci=(0.0, 0.0),
                staff_time_s=1.0,
                evidence="x.",
                scenario=Scenario("cut_loop"),
                per_case_s=per,
                detector=f"d{draw(st.integers(min_value=0, max_value=3))}",
            )
        )
    return out, lead


def assert_within_lead(findings: list[Finding], lead: dict[str, float]) -> None:
    rows = [(str(c), float(v)) for f in findings for c, v in f.per_case_s.items()]
    per_case = pd.DataFrame(rows, columns=["case_id", "t"]).groupby("case_id").t.sum()
    for c, t in per_case.items():
        assert t <= lead[c] * (1 + 1e-9) + 1e-6, f"case {c}: findings claim {t} s > lead time {lead[c]} s"
    for f in findings:
        assert math.isclose(f.customer_time_s, sum(f.per_case_s.values()), rel_tol=1e-9, abs_tol=1e-6)
        assert set(f.per_case_s) <= set(f.case_ids)
        lo, hi = f.customer_time_ci
        assert lo <= hi


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(findings_and_leads())
def test_claimed_time_never_exceeds_lead_time(data: tuple[list[Finding], dict[str, float]]) -> None:
    findings, lead = data
    out, done = consolidate(findings, lead, seed=3, resamples=50)
    assert_within_lead(out, lead)
    # ranked by customer time
    times = [f.customer_time_s for f in out]
    assert times == sorted(times, reverse=True)
    # deduplication never invents cases or time
    assert {c for f in out for c in f.case_ids} <= {c for f in findings for c in f.case_ids}
    assert sum(times) <= sum(f.customer_time_s for f in findings) + 1e-6
    if done["cap"]["cases_capped"]:
        assert any("capped" in f.details for f in out)


def test_real_report_within_lead_time(demo_report) -> None:  # type: ignore[no-untyped-def]
    report = demo_report
    assert report.findings
    assert_within_lead(report.findings, report.lead_s)
