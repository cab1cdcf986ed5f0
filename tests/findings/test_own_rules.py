"""The rules of the batch, merge and no-effect detectors and of the framework, each on a small
generated log (docs/methods.md 13.0-13.5), then on the shared real logs where they used to go
wrong: helpdesk's closure, BPIC 2012's outcomes as batches, LoanApp's final approval."""

from __future__ import annotations

import pandas as pd
import pytest

import flowlens
from conftest import shared_path
from flowlens.findings.api import find_wastes
from flowlens.findings.batching import detect_batch_delay
from flowlens.findings.context import FindingContext
from flowlens.findings.merge import detect_merge_candidates
from flowlens.findings.model import Finding, Scenario
from flowlens.timing.calendars import CalendarSet

COLUMNS = ["case", "activity", "resource", "start", "end"]
# 13 s past the minute: a log recorded to the second (a clock recording whole hours has no
# batches, methods 7.2)
T0 = pd.Timestamp("2024-03-04 00:00:13")


def interval_log(rows: list[tuple[str, str, str | None, pd.Timestamp, pd.Timestamp]]) -> flowlens.EventLog:
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["start"], df["end"] = df.start.astype(str), df.end.astype(str)
    return flowlens.read_log(df)


def at(day: int, hh: int, mm: int = 0) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=day, hours=hh, minutes=mm)


def midnight(day: int) -> pd.Timestamp:
    return T0.normalize() + pd.Timedelta(days=day)


def batch_rows(review_at_midnight: bool = False) -> list[tuple]:
    """70 cases, 5 a day for 14 days. Batched together each day: 'Review' (a person), 'Post'
    (a system at 16:00 every day: a scheduled job), 'Sync' (a system at a different time each
    day), 'Decide' (a person; the case's outcome) and 'Close' (a person, 30 days later: after
    the clock stop). Between them, per-case steps by different people, so that the members of
    each batch were enabled at different times."""
    rows = []
    for d in range(14):
        sync = 17 * 60 + (d * 53) % 150
        for k in range(5):
            c = f"d{d}k{k}"
            rows += [
                (c, "Submit", f"customer-{c}", at(d, 8, 30 * k), at(d, 8, 30 * k + 5)),
                (c, "Review", "ann", midnight(d) if review_at_midnight else at(d, 11), midnight(d) if review_at_midnight else at(d, 11, 20)),
                (c, "Prepare", f"p{k}", at(d, 12, 20 * k), at(d, 12, 20 * k + 10)),
                (c, "Post", "SYS-1", at(d, 16), at(d, 16)),
                (c, "Check", f"q{k}", at(d, 16, 30 + 10 * k), at(d, 16, 35 + 10 * k)),
                (c, "Sync", "SYS-2", at(d, 0, sync), at(d, 0, sync)),
                (c, "Work", f"w{k}", at(d, 20, 10 * k), at(d, 20, 10 * k + 5)),
                (c, "Decide", "bob", at(d + 1, 9), at(d + 1, 9, 10)),
                (c, "Close", "bob", at(d + 31, 10), at(d + 31, 10, 5)),
            ]  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def batch_ctx() -> FindingContext:
    return FindingContext(interval_log(batch_rows()), calendars=CalendarSet.always())


def test_batches_only_of_work_the_organisation_controls(batch_ctx: FindingContext) -> None:
    roles = batch_ctx.step_roles
    assert roles.performer("Post") == "system" and "Decide" in roles.outcomes
    assert "Close" in roles.after_outcome
    found = {f.activities[0]: f for f in detect_batch_delay(batch_ctx)}
    # staff work and a system job at a fixed time; never the outcome, the closure after the
    # clock stop, a system step without a schedule or the customer's own step
    assert sorted(found) == ["Post", "Review"]
    assert found["Review"].details["judged_as"] == "staff work"
    assert found["Post"].details["judged_as"] == "scheduled system job"
    assert found["Post"].details["firing_times"][0] == "16:00"


def test_batch_time_is_what_the_batch_holds(batch_ctx: FindingContext) -> None:
    f = next(f for f in detect_batch_delay(batch_ctx) if f.activities == ("Review",))
    # each case waits from the end of its 'Submit' until the 11:00 batch: never the whole case
    expected = {f"d{d}k{k}": (11 * 60 - (8 * 60 + 30 * k + 5)) * 60.0 for d in range(14) for k in range(5)}
    assert f.per_case_s == pytest.approx(expected)
    assert list(f.case_ids) == sorted(f.case_ids)


def test_batches_held_at_most_since_the_previous_run() -> None:
    rows = batch_rows()
    # case d3k0 misses its day's batch and is reviewed the next day: held by something else
    # until the batch it missed, by the batch only from then on
    rows = [
        (c, a, r, *((at(4, 11), at(4, 11, 20)) if (c, a) == ("d3k0", "Review") else (s, e)))
        for c, a, r, s, e in rows
    ]
    rows = [r for r in rows if not (r[0] == "d3k0" and r[1] not in ("Submit", "Review"))]
    ctx = FindingContext(interval_log(rows), calendars=CalendarSet.always())
    f = next(f for f in detect_batch_delay(ctx) if f.activities == ("Review",))
    assert f.per_case_s["d3k0"] == pytest.approx(24 * 3600.0)


def test_no_batches_where_times_are_dates_only() -> None:
    log = interval_log(batch_rows(review_at_midnight=True))
    found = detect_batch_delay(FindingContext(log, calendars=CalendarSet.always()))
    assert "Review" not in {a for f in found for a in f.activities}
    # the same log recorded to the hour only: no batch at all
    hourly = [(c, a, r, s.floor("h"), e.floor("h")) for c, a, r, s, e in batch_rows()]
    log = interval_log(hourly)
    assert log.time_resolution_s == 3600
    assert detect_batch_delay(FindingContext(log, calendars=CalendarSet.always())) == []


def merge_rows(estimated: bool = False) -> pd.DataFrame:
    """60 cases: 'Intake' then, 5 h later, 'Assess' by another person (a merge candidate);
    'Decide' (the outcome) 5 h after that by a third person; 'Close' 30 days later."""
    rows = []
    for k in range(60):
        d = k // 4
        rows += [
            (f"c{k}", "Intake", f"i{k % 4}", at(d, 8), at(d, 8, 20)),
            (f"c{k}", "Assess", f"a{k % 4}", at(d, 13, 20), at(d, 13, 40)),
            (f"c{k}", "Decide", f"d{k % 4}", at(d, 18, 40), at(d, 19)),
            (f"c{k}", "Close", f"d{k % 4}", at(d + 30, 9), at(d + 30, 9, 5)),
        ]
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["start"], df["end"] = df.start.astype(str), df.end.astype(str)
    return df.drop(columns="start") if estimated else df


def test_merge_candidate_found_but_never_with_the_outcome_or_the_closure() -> None:
    ctx = FindingContext(flowlens.read_log(merge_rows()))
    found = detect_merge_candidates(ctx)
    assert [f.activities for f in found] == [("Intake", "Assess")]
    f = found[0]
    # priced on the customer's 5 h wait for the hand-over before 'Assess', never the case
    assert f.details["customer_waiting_before_b_s"] == pytest.approx(60 * 5 * 3600.0)
    assert f.customer_time_s == pytest.approx(60 * 5 * 3600.0)
    assert all(v == pytest.approx(5 * 3600.0) for v in f.per_case_s.values())
    assert "median hand-over wait of 300 min" in f.evidence


def test_no_merge_candidates_without_start_times() -> None:
    # completion-only: processing is estimated, work and the wait between cannot be told apart
    assert detect_merge_candidates(FindingContext(flowlens.read_log(merge_rows(estimated=True)))) == []


def approval_log(
    *, with_a: int, without_a: int, reject_with: float, reject_without: float, a_ends_case: bool = False
) -> flowlens.EventLog:
    """'Validate' (a control) then, in ``with_a`` cases, 'Second approval' by a manager; then
    'Payout' or 'Reject' (shares given). With ``a_ends_case`` the approval is the final step."""
    rows = []
    n = with_a + without_a
    for k in range(n):
        d, c = k // 8, f"c{k}"
        rows.append((c, "Validate", f"v{k % 8}", at(d, 8, 5 * (k % 8)), at(d, 8, 5 * (k % 8) + 4)))
        has_a = k < with_a
        share = reject_with if has_a else reject_without
        m = k if has_a else k - with_a
        reject = m < round(share * (with_a if has_a else without_a))
        if has_a:
            rows.append(
                (c, "Second approval", f"m{k % 8}", at(d, 10, 5 * (k % 8)), at(d, 10, 5 * (k % 8) + 3))
            )
            if a_ends_case:
                continue
        last = "Reject" if reject else "Payout"
        rows.append((c, last, f"o{k % 8}", at(d, 12, 5 * (k % 8)), at(d, 12, 5 * (k % 8) + 4)))
    return interval_log(rows)


def no_effect(log: flowlens.EventLog) -> list[Finding]:
    from flowlens.findings.approvals import detect_no_effect_checks

    return [f for f in detect_no_effect_checks(FindingContext(log)) if not f.regulatory]


def test_the_final_decision_is_never_a_removable_approval() -> None:
    # cases without the approval are rejected at the same point: it is the decision itself
    assert (
        no_effect(approval_log(with_a=150, without_a=90, reject_with=0, reject_without=1, a_ends_case=True))
        == []
    )


def test_an_approval_whose_absence_is_the_no_branch_is_not_compared() -> None:
    # 0 % 'no' after the approval against 100 % without it: not comparable, no test
    assert no_effect(approval_log(with_a=150, without_a=90, reject_with=0, reject_without=1)) == []


def test_no_effect_needs_a_comparison_of_fifty_and_states_the_test() -> None:
    # 10 % rejected with and without it: no extra 'no' from the approval
    [f] = no_effect(approval_log(with_a=300, without_a=100, reject_with=0.1, reject_without=0.1))
    d = f.details
    assert d["compared_instances"] == 100 and d["fisher_p"] >= 0.05
    lo, hi = d["excess_negative_ci95"]
    assert lo < 0 < hi
    # the wide interval is said, and the title does not claim more than the data show
    assert "shows no effect" in f.title and "cannot be ruled out" in f.evidence
    assert "Fisher's exact test" in f.evidence and "10.0 %" in f.evidence
    # 40 comparison cases are too few; without a comparison a 10 % 'no' rate is too high
    assert no_effect(approval_log(with_a=300, without_a=40, reject_with=0.1, reject_without=0.1)) == []


def test_no_effect_approval_that_never_says_no() -> None:
    [f] = no_effect(approval_log(with_a=400, without_a=200, reject_with=0, reject_without=0))
    assert "almost never changes the outcome" in f.title and "end alike" in f.evidence
    # customer time: the wait before the approval (from the end of 'Validate') and its work
    assert set(f.per_case_s.values()) == {(116 + 3) * 60.0}


def make(acts: tuple[str, ...], each: float, action: str = "cut_loop") -> Finding:
    cases = tuple(f"c{k}" for k in range(6))
    return Finding(
        kind="rework",
        title="/".join(acts),
        activities=acts,
        case_ids=cases,
        occurrences=6,
        customer_time_s=each * 6,
        customer_time_ci=(0.0, 0.0),
        staff_time_s=0.0,
        evidence="e.",
        scenario=Scenario(action, {"activity": acts[0]}),
        per_case_s={c: each for c in cases},
        detector="x",
    )


def closure_log() -> flowlens.EventLog:
    rows = []
    for k in range(6):
        rows += [
            (f"c{k}", "Open", "r1", at(k, 9), at(k, 9, 10)),
            (f"c{k}", "Resolve", "r2", at(k, 11), at(k, 12)),
            (f"c{k}", "Closed", "r3", at(k + 20, 9), at(k + 20, 9, 1)),
        ]
    return interval_log(rows)


def test_claims_capped_at_the_customer_lead_time_and_stated_as_a_share() -> None:
    def det(ctx):  # type: ignore[no-untyped-def]
        return [make(("Resolve",), 5 * 3600.0)]

    report = find_wastes(closure_log(), detectors=[det], clock_stop=["Resolve"])
    [f] = report.findings
    # customer lead time 3 h (09:00 to 12:00): the 20 days to 'Closed' are not the customer's
    assert report.customer_lead_s == report.lead_s and set(report.lead_s.values()) == {3 * 3600.0}
    assert set(f.per_case_s.values()) == {3 * 3600.0} and "capped" in f.details
    assert "not counted" in f.evidence
    assert report.claimed["share_of_customer_lead_time"] == pytest.approx(1.0)
    assert report.notes[0].startswith("removable findings claim") and "upper bound" in report.notes[0]

    from flowlens.report.findings_section import findings_section

    s = findings_section(report)
    assert "100.0 % of the customers' total lead time" in s.html and "upper bound" in s.html
    assert s.data["claimed"]["cases_total"] == 6
    assert not any(n.startswith("removable findings claim") for n in s.html.split('<p class="note">')[1:])


def test_findings_on_steps_after_the_clock_stop_are_left_out() -> None:
    def det(ctx):  # type: ignore[no-untyped-def]
        return [
            make(("Closed",), 60.0, "unbatch"),
            make(("Closed",), 60.0),
            make(("Resolve", "Closed"), 60.0, "merge"),
            make(("Resolve", "Open", "Closed"), 60.0),  # a loop through the closure stays
        ]

    report = find_wastes(closure_log(), detectors=[det], clock_stop=["Resolve"])
    assert [f.activities for f in report.findings] == [("Resolve", "Open", "Closed")]
    assert len(report.after_clock_stop) == 3 and "'Closed'" in report.notes[1]


def test_helpdesk_closure_is_no_finding() -> None:
    report = find_wastes(flowlens.read_log(shared_path("helpdesk")))
    assert report.findings
    assert all("Closed" not in f.activities for f in report.findings)
    assert 0 < report.claimed["share_of_customer_lead_time"] <= 1


def test_loanapp_final_approval_is_not_removable() -> None:
    from flowlens.findings.approvals import detect_no_effect_checks

    ctx = FindingContext(flowlens.read_log(shared_path("loanapp-train")))
    assert "Approve application" in ctx.step_roles.outcomes
    assert all("Approve application" not in f.activities for f in detect_no_effect_checks(ctx))


def test_purchasing_hand_over_is_a_merge_candidate() -> None:
    ctx = FindingContext(flowlens.read_log(shared_path("purchasing")))
    pairs = {f.activities for f in detect_merge_candidates(ctx)}
    assert ("Create Request for Quotation", "Analyze Request for Quotation") in pairs
    outcomes = ctx.step_roles.outcomes
    assert not any(a in outcomes for p in pairs for a in p)


def test_bpic2012_outcomes_are_no_batches() -> None:  # ~20 s: the waiting analysis of 262k events
    ctx = FindingContext(flowlens.read_log(shared_path("bpic2012")))
    roles = ctx.step_roles
    for f in detect_batch_delay(ctx):
        a = f.activities[0]
        assert not a.startswith("A_") and a not in roles.outcomes and roles.performer(a) != "customer"
