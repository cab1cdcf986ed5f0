"""Rework, loops and excess follow-ups (flowlens.findings.rework; docs/methods.md 13.6): exact
results on small logs, W11 against the bank generator's truth (seed 11), and the follow-up
loop of BPIC 2012 and the rework of the helpdesk log."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowlens.findings import rework
from flowlens.findings.context import FindingContext
from flowlens.findings.rank import REMOVAL_ACTIONS

from ._rework_data import bank, case_scores, log_from, real, run, seq_rows

DAY_MIN = 24 * 60


def loop_log():
    """r0-r4: check redone by another person after a fix; s0-s4: repeated by the same person;
    n0, n1: no loop. Steps start an hour apart and take 10 minutes. (Ten loops, so that the
    concurrency oracle sees a loop, not check and fix in parallel: methods 1.1, l2l.)"""
    rows = []
    for i in range(5):
        rows += seq_rows(
            f"r{i}", [("submit", "u"), ("check", "x"), ("fix", "u"), ("check", "y"), ("pay", "z")]
        )
        rows += seq_rows(
            f"s{i}", [("submit", "u"), ("check", "x"), ("fix", "u"), ("check", "x"), ("pay", "z")]
        )
    for i in range(2):
        rows += seq_rows(f"n{i}", [("submit", "u"), ("check", "x"), ("pay", "z")])
    return log_from(rows)


def test_loop_with_body_repeat_and_redo_exact() -> None:
    (f,) = rework.detect_rework(FindingContext(loop_log()))
    assert f.kind == "loop" and f.activities == ("check", "fix")
    assert sorted(f.case_ids) == [f"{k}{i}" for k in "rs" for i in range(5)] and f.occurrences == 10
    assert (f.details["redo"], f.details["repeat"], f.details["min_self_distance"]) == (5, 5, 1)
    # the repeat waits 50 min and takes 10; the loop-back step 'fix' (only ever inside the
    # loop) waited 50 min: 110 min per case
    assert f.per_case_s == {c: 6600.0 for c in f.case_ids}
    assert f.customer_time_s == 66000.0 and f.customer_time_ci == (66000.0, 66000.0)
    assert f.staff_time_s == 6000.0
    assert f.details["loop_probability"] == pytest.approx(10 / 22)
    assert f.details["loop_body"] == [{"activity": "fix", "share": 1.0}]
    assert f.scenario.action == "cut_loop" and f.scenario.params["loop"] == ["check", "fix"]
    assert not f.regulatory and f.evidence.startswith("10 cases go round 'check → fix → check'")


def sittings_rows(outcome: bool = False) -> list[tuple]:
    """Three cases: 'enter data' in two sittings (another person, an hour later, nothing in
    between), then 'validate' and its status 'validating' loop back together after 'amend'.
    With ``outcome``, the first sitting's result column says it was rejected."""
    rows = []
    for c in ("a", "b", "c"):
        res = "rejected" if outcome else "ok"
        rows += [
            (c, "open", "u", 0, 5, "ok"),
            (c, "enter data", "u", 60, 70, res),
            (c, "enter data", "v", 120, 130, "ok"),
            (c, "validate", "w", 180, 210, "ok"),
            (c, "validating", "SYS-1", 210, 211, "ok"),
            (c, "amend", "u", 300, 310, "ok"),
            (c, "validate", "w", 400, 430, "ok"),
            (c, "validating", "SYS-1", 430, 431, "ok"),
            (c, "close", "u", 500, 505, "ok"),
        ]
    return rows


def test_sittings_of_one_step_are_not_rework_and_loops_repeating_together_are_one() -> None:
    (lp,) = rework.detect_rework(FindingContext(log_from(sittings_rows(), extra=["result"])))
    # 'enter data' twice in a row is one piece of work in two sittings: no finding
    assert lp.kind == "loop" and lp.activities[0] == "validate"
    assert lp.details["merged_activities"] == [] and "validating" not in lp.activities[:1]
    # validate (wait 90 + 30 min), validating (1 min), amend's wait (89 min, loop-back path)
    assert lp.per_case_s == {c: (120 + 1 + 89) * 60.0 for c in "abc"}


def test_a_repeat_after_a_failed_attempt_is_rework() -> None:
    found = {
        f.kind: f
        for f in rework.detect_rework(FindingContext(log_from(sittings_rows(True), extra=["result"])))
    }
    assert set(found) == {"rework", "loop"}
    r = found["rework"]
    assert r.activities == ("enter data",) and r.details["self_loops"] == 3 and r.details["redo"] == 3
    assert r.title.startswith("'enter data' is done again after a failed attempt")
    assert r.per_case_s == {c: 6 * 60 * 10.0 for c in "abc"}  # waits 50 min, takes 10


def test_a_case_outcome_is_no_attempt_outcome() -> None:
    # a column named outcome that is the same on every event of a case (the case's final
    # outcome, joined from a case table) says nothing about the first sitting
    rows = [(*r[:5], "declined") for r in sittings_rows()]
    (lp,) = rework.detect_rework(FindingContext(log_from(rows, extra=["outcome"])))
    assert lp.kind == "loop" and lp.activities[0] == "validate"


def status_rows(between: str, n: int = 4) -> list[tuple]:
    """Completion-only status updates: 'Accepted', ``between``, 'Accepted' again, 'Completed'."""
    rows = []
    for i in range(n):
        rows += [
            (f"s{i}", "Accepted", "ann", 0, 0),
            (f"s{i}", between, "bob" if between != "Queued" else "SYS-Q", 600 + 7 * i, 600 + 7 * i),
            (f"s{i}", "Accepted", "bob", 1500 + 11 * i, 1500 + 11 * i),
            (f"s{i}", "Completed", "bob", 2000 + 13 * i, 2000 + 13 * i),
        ]
    return rows


@pytest.mark.parametrize("between", ["Queued", "Wait - User", "Awaiting Assignment", "Reassign to Team B"])
def test_waiting_or_routing_between_continues_the_same_work(between: str) -> None:
    assert rework.detect_rework(FindingContext(log_from(status_rows(between))), min_cases=1) == []


def test_work_between_makes_a_loop() -> None:
    (f,) = rework.detect_rework(FindingContext(log_from(status_rows("Investigate"))), min_cases=1)
    assert f.kind == "loop" and f.activities == ("Accepted", "Investigate")


def test_steps_recorded_during_the_later_sitting_are_not_between() -> None:
    # A work item suspended and resumed; during the second sitting the clerk records an offer,
    # whose completion-only event ends before the sitting does (so it comes first in the case
    # order). It was done during the sitting, not between the two.
    rows = []
    for i in range(4):
        rows += [
            (f"w{i}", "W_Complete application", "c1", 0, 10),
            (f"w{i}", "O_SENT", "c2", 100 + i, 100 + i),
            (f"w{i}", "W_Complete application", "c2", 90, 105 + i),
            (f"w{i}", "A_ACCEPTED", "c2", 200, 201),
        ]
    assert rework.detect_rework(FindingContext(log_from(rows)), min_cases=1) == []


def test_the_customers_own_repeats_are_never_rework() -> None:
    # Road traffic fines: the offender pays in instalments (no resource recorded); a customer
    # uploads again after being reminded by a system.
    rows = []
    for i in range(4):
        rows += [
            (f"f{i}", "Create Fine", "officer1", 0, 0),
            (f"f{i}", "Payment", None, 1000 + i, 1000 + i),
            (f"f{i}", "Add penalty", None, 5000 + i, 5000 + i),
            (f"f{i}", "Payment", None, 9000 + i, 9000 + i),
            (f"u{i}", "Open", "clerk", 0, 5),
            (f"u{i}", "Customer Uploads Document", "CUSTOMER", 60 + i, 61 + i),
            (f"u{i}", "Reminder Sent", "SYS-MAIL", 600 + i, 600 + i),
            (f"u{i}", "Customer Uploads Document", "CUSTOMER", 900 + 3 * i, 901 + 3 * i),
            (f"u{i}", "Close", "clerk", 1000, 1005),
        ]
    assert rework.detect_rework(FindingContext(log_from(rows)), min_cases=1) == []


def test_one_loop_gone_round_is_one_finding() -> None:
    # A -> B -> C -> A -> B -> C: returns to A, B and C, one loop (rotations of one cycle)
    rows = []
    for i in range(6):
        seq = ["receive", "assess", "draft", "review", "assess", "draft", "review", "send"]
        t = 0
        for k, a in enumerate(seq):
            t += 30 + 7 * ((i + k) % 5)
            rows.append((f"c{i}", a, f"r{k % 3}", t, t + 10))
    (f,) = rework.detect_rework(FindingContext(log_from(rows)), min_cases=1)
    assert f.activities[0] == "assess" and f.occurrences == 6
    assert f.details["loop_body"] and [b["activity"] for b in f.details["loop_body"]] == ["draft", "review"]
    # priced: the second visits of assess, draft and review (waiting and processing)
    ctx = FindingContext(log_from(rows))
    inst = ctx.tm.instances.to_pandas()
    inst["k"] = inst.groupby(["case_id", "activity"]).cumcount()
    second = inst[(inst.k == 1)]
    want = ((second.wait_us + second.proc_us).groupby(second.case_id).sum() / 1e6).to_dict()
    assert f.per_case_s == pytest.approx(want)


def test_time_claimed_never_exceeds_lead_time() -> None:
    ctx = FindingContext(loop_log())
    lead = ctx.tm.cases.select("case_id", "lead_us").to_pandas().set_index("case_id").lead_us / 1e6
    for f in rework.detect_rework(ctx):
        for c, v in f.per_case_s.items():
            assert 0 <= v <= lead[c]


def follow_up_log(counts: dict[tuple[int, str], int]):
    """Per (calls, exit) that many cases: 'Send Offer', the calls a day apart, then the exit."""
    rows, k = [], 0
    for (n, exit_), m in counts.items():
        for _ in range(m):
            case = f"k{k}"
            k += 1
            rows.append((case, "Send Offer", "SYS-1", 0, 1))
            for i in range(1, n + 1):
                rows.append((case, "Call Customer", f"agent{i % 2}", i * DAY_MIN, i * DAY_MIN + 5))
            rows.append((case, exit_, "SYS-1", (n + 1) * DAY_MIN, (n + 1) * DAY_MIN + 1))
    return log_from(rows)


def test_follow_up_threshold_from_the_data_exact() -> None:
    counts = {
        (1, "Returned"): 30,
        (2, "Returned"): 15,
        (3, "Returned"): 1,
        (3, "Cancelled"): 29,
        (4, "Cancelled"): 20,
    }
    ctx = FindingContext(follow_up_log(counts))
    curve = rework.follow_up_curves(ctx)["Call Customer"]
    # the 3rd call ends favourably in 1 of 50 cases against 30 of 95 for the first: threshold 2
    assert (curve.threshold, curve.source, curve.favourable_exits) == (2, "data", ["Returned"])
    assert curve.curve[1] == (95, 30) and curve.curve[3] == (50, 1)
    (f,) = rework.detect_excess_follow_ups(ctx)
    assert f.kind == "excess_follow_up" and f.activities == ("Call Customer",)
    assert f.cases == 50 and f.occurrences == 30 + 2 * 20
    # each excess call: a day of waiting since the previous call ended, plus 5 minutes
    assert f.customer_time_s == pytest.approx(70 * 86400.0)
    assert f.staff_time_s == pytest.approx(70 * 300.0)
    assert f.scenario.action == "limit_repeats" and f.scenario.params == {
        "activity": "Call Customer",
        "max": 2,
    }
    assert f.details["catalogue"] == "W11" and f.details["threshold_source"] == "data"
    # the calls within the threshold are no waste and the excess ones are not also rework
    assert rework.detect_rework(ctx) == []


def test_follow_ups_that_stay_effective_are_no_waste() -> None:
    # half of the cases reach the customer at every call: no call is excess
    counts = {
        (1, "Returned"): 32,
        (2, "Returned"): 16,
        (3, "Returned"): 8,
        (4, "Returned"): 4,
        (4, "Cancelled"): 4,
    }
    ctx = FindingContext(follow_up_log(counts))
    assert rework.follow_up_curves(ctx)["Call Customer"].source == "data (no drop)"
    assert rework.detect_excess_follow_ups(ctx) == []


def test_follow_up_default_without_enough_data() -> None:
    ctx = FindingContext(follow_up_log({(1, "Returned"): 2, (4, "Cancelled"): 5}))
    curve = rework.follow_up_curves(ctx)["Call Customer"]
    assert curve.threshold == rework.DEFAULT_FOLLOW_UPS and curve.source.startswith("domain default")
    (f,) = rework.detect_excess_follow_ups(ctx)
    assert f.cases == 5 and f.occurrences == 10


def test_required_step_repeated_is_regulatory() -> None:
    rows = []
    for c in ("a", "b", "c"):
        rows += seq_rows(
            c,
            [
                ("Fill Form", "CUSTOMER"),
                ("Manual AML Review", "analyst1"),
                ("Request Clarification", "analyst1"),
                ("Manual AML Review", "analyst2"),
                ("Open", "u"),
            ],
        )
    (f,) = rework.detect_rework(FindingContext(log_from(rows)))
    assert f.activities[0] == "Manual AML Review" and f.regulatory and f.allow_reason
    assert f.scenario.action not in REMOVAL_ACTIONS


def test_repeat_in_a_later_contact_is_not_rework() -> None:
    rows = []
    for c in ("a", "b", "c"):
        rows += [
            (c, "Handle Request", "u", 0, 10, "C1"),
            (c, "Write Note", "u", 20, 25, "C1"),
            (c, "Handle Request", "v", 60, 70, "C2"),
        ]
        rows += [
            (c + "2", "Handle Request", "u", 0, 10, "C1"),
            (c + "2", "Write Note", "u", 20, 25, "C1"),
            (c + "2", "Handle Request", "v", 60, 70, "C1"),
        ]
    (f,) = run(log_from(rows, extra=["contact_id"]), rework.detect_rework)
    assert set(f.case_ids) == {"a2", "b2", "c2"}


def planned_rows(kind: str, n: int = 25) -> list[tuple]:
    """``n`` cases whose repeats are planned, not rework (module docstring of rework)."""
    rows = []
    for i in range(n):
        c = f"{kind}{i}"
        j = (i * 37) % 23  # irregular minutes, so that only the rule under test applies
        if kind == "monitor":
            # lab tests taken together by the lab, daily; a ward admission between them
            for d in range(3):
                t = d * 1440 + 60 * (i % 7) + 13 * d * (i % 3)
                rows += [(c, "CRP", "LAB", t, t), (c, "Leucocytes", "LAB", t, t)]
                if d == 0:
                    rows.append((c, "Admission NC", f"ward{i % 4}", t + 30, t + 30))
            rows.append((c, "Admission NC", f"ward{(i + 1) % 4}", 3000 + j, 3000 + j))
        elif kind == "interval":
            # a periodic review exactly 30 days after the first
            rows += [
                (c, "Review Account", "ann", j, j + 20),
                (c, "Update Limits", f"r{i % 3}", 500 + 17 * j, 520 + 17 * j),
                (c, "Review Account", "bob", 43200 + j, 43220 + j),
            ]
        elif kind == "party":
            # the bank checks the documents, an external notary checks them again at signing
            rows += [
                (c, "Verify Documents", f"clerk{i % 3}", j, j + 10),
                (c, "Prepare Contract", f"clerk{i % 3}", 100 + 3 * j, 130 + 3 * j),
                (c, "Verify Documents", "Notary Office 2", 2000 + 41 * j, 2010 + 41 * j),
            ]
        elif kind == "stage":
            # every case checks the limit at application and again before disbursement
            rows += [
                (c, "Check Limit", f"r{i % 3}", j, j + 10),
                (c, "Sign Contract", f"r{(i + 1) % 3}", 100 + j, 130 + j),
                (c, "Check Limit", f"r{i % 3}", 300 + 97 * j, 310 + 97 * j),
                (c, "Disburse", f"r{i % 3}", 2500 + 31 * j, 2505 + 31 * j),
            ]
        elif kind == "failed":
            # the same shape in every case, but the body says the first check failed
            rows += [
                (c, "Check Limit", f"r{i % 3}", j, j + 10),
                (c, "Correct Application", f"r{(i + 1) % 3}", 100 + j, 130 + j),
                (c, "Check Limit", f"r{i % 3}", 300 + 97 * j, 310 + 97 * j),
                (c, "Disburse", f"r{i % 3}", 2500 + 31 * j, 2505 + 31 * j),
            ]
    return rows


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("monitor", "monitoring"),
        ("interval", "required interval"),
        ("party", "another party"),
        ("stage", "another stage"),
    ],
)
def test_planned_repeats_are_no_rework(kind: str, reason: str) -> None:
    ctx = FindingContext(log_from(planned_rows(kind)))
    assert rework.detect_rework(ctx, min_cases=1) == []
    planned = rework.repeats(ctx).planned_activities
    assert reason in planned.values(), planned


def test_failure_evidence_keeps_a_repeat_rework() -> None:
    ctx = FindingContext(log_from(planned_rows("failed")))
    (f,) = rework.detect_rework(ctx, min_cases=1)
    assert f.activities == ("Check Limit", "Correct Application") and f.cases == 25
    assert rework.repeats(ctx).planned_activities == {}


def test_nothing_after_the_clock_stop_is_priced() -> None:
    # the decision ends the customer's wait; the archive loop after it is not theirs
    rows = []
    for i in range(4):
        rows += seq_rows(
            f"k{i}",
            [
                ("submit", "u"),
                ("check", "x"),
                ("fix", "u"),
                ("check", "y"),
                ("decide", "z"),
                ("archive", "a"),
                ("scan", "a"),
                ("archive", "b"),
            ],
        )
    ctx = FindingContext(log_from(rows), clock_stop=["decide"])
    (f,) = rework.detect_rework(ctx, min_cases=1)
    assert f.activities[0] == "check"
    assert all(v == pytest.approx(110 * 60.0) for v in f.per_case_s.values())


def test_bank_excess_follow_ups(bank_demo_seed11: Path) -> None:
    found, _, truth = bank(str(bank_demo_seed11))
    p, r, got, want = case_scores(found, truth, "W11")
    assert want > 300
    assert p >= 0.9 and r >= 0.9, f"W11: precision {p:.3f}, recall {r:.3f} ({got} flagged, {want} true)"
    (f,) = [f for f in found if f.kind == "excess_follow_up"]
    assert f.details["threshold"] == 2 and f.details["threshold_source"] == "data"
    # completion calls reach the applicant 60 % of the time at every attempt: retries, not excess
    assert not any(f.kind == "excess_follow_up" and "Complete" in f.activities[0] for f in found)


def test_bank_rework_is_priced_within_lead_time_and_spares_decoys(bank_demo_seed11: Path) -> None:
    found, lead, truth = bank(str(bank_demo_seed11))
    total: dict[str, float] = {}
    for f in found:
        for c, v in f.per_case_s.items():
            total[c] = total.get(c, 0.0) + v
    assert all(v <= lead[c] + 1e-6 for c, v in total.items())
    decoys = truth[truth.kind == "decoy"]
    pairs = set(zip(decoys.case_id, decoys.activity, strict=True))
    for f in found:
        if f.scenario.action in REMOVAL_ACTIONS:
            assert not any((c, a) in pairs for c in f.case_ids for a in f.activities), f.title


def test_bpic2012_sessions_are_not_rework_and_follow_ups() -> None:
    found, _ = real("bpic2012")
    loops = [f for f in found if f.kind in ("loop", "rework")]
    # W_ work items worked in several sittings (suspend/resume) are not "done again straight
    # away"; offer events recorded during a sitting are not between two sittings
    assert not [f for f in loops if f.kind == "rework"]
    # (before: 12,619 "repeats" of W_Completeren aanvraag in 2,840 cases; what may be left are
    # the few items taken up again after the application was cancelled)
    items = [f for f in loops if f.activities[0] in ("W_Completeren aanvraag", "W_Afhandelen leads")]
    assert sum(f.cases for f in items) < 100
    # the incomplete-file loop: validation, calls for missing documents, validation again
    (val,) = [f for f in loops if f.activities[0] == "W_Valideren aanvraag"]
    assert "W_Nabellen incomplete dossiers" in val.activities and 800 <= val.cases <= 1600
    (f,) = [f for f in found if f.kind == "excess_follow_up" and f.activities == ("W_Nabellen offertes",)]
    # Calls after an offer keep working for a long time: the data put the threshold well above
    # the domain default of 2 (the 3rd to 12th calls end in a returned offer about as often as
    # the first); beyond it, ~400 calls in ~90 cases, each after 2-3 days of waiting since the
    # previous call: about 1,000 days. A factor of 3 either way covers changes of the threshold
    # by one call.
    assert f.details["threshold_source"] == "data" and 5 <= f.details["threshold"] <= 25
    assert 50 <= f.cases <= 200
    days = f.customer_time_s / 86400
    assert 1000 / 3 <= days <= 1000 * 3, days
    lo, hi = f.customer_time_ci
    assert lo <= f.customer_time_s <= hi
    assert found.index(f) < 10  # ranked among the costliest findings
    at2 = f.details["at_default_threshold"]
    assert at2["threshold"] == 2 and at2["cases"] > 10 * f.cases


def test_helpdesk_rework() -> None:
    found, ctx = real("helpdesk")
    loops = [f for f in found if f.kind in ("loop", "rework")]
    # Resuming a ticket after 'Wait' is the same work continued, not a loop; what is left are
    # tickets taken in charge again after they were resolved (reopened): ~150 cases.
    assert not any("after 'Wait'" in f.title for f in loops)
    (top,) = loops
    assert top.activities[0] == "Take in charge ticket" and "Resolve ticket" in top.activities
    assert 100 <= top.cases <= 250
    lead = ctx.tm.cases.select("case_id", "customer_lead_us").to_pandas()
    total = lead.customer_lead_us.sum() / 1e6
    assert sum(f.customer_time_s for f in loops) <= 0.1 * total


def test_bpic2013_status_updates_are_not_rework() -> None:
    found, _ = real("bpic2013-incidents")
    loops = [f for f in found if f.kind in ("loop", "rework")]
    # Status updates and hand-overs through the queue are not rework; reopened incidents are
    assert not any(f.kind == "rework" for f in loops)
    assert not any("after 'Queued" in f.title or "Wait" in f.activities[0] for f in loops)
    assert all(f.activities[0].startswith("Accepted") for f in loops)


def test_customer_and_monitoring_repeats_on_real_logs() -> None:
    found, _ = real("roadtraffic100")
    assert not [f for f in found if f.kind in ("loop", "rework")]  # the offender pays
    found, ctx = real("sepsis")
    loops = [f for f in found if f.kind in ("loop", "rework")]
    labs = {"CRP", "Leucocytes", "LacticAcid"}
    assert not any(labs & set(f.activities) for f in loops)  # monitoring during the stay
    assert labs <= set(rework.repeats(ctx).planned_activities)
