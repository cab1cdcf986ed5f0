"""The repeat table computed the scalable way equals its definition (issue 14).

The visit columns come from ordered passes over integer activity codes; the planned-repeat
recompute runs only in the cases that hold a planned activity; requests, customer steps and
failures in a loop come from a range join with the marked instances instead of running counts
over every instance. These tests pin that the table is the one the definitions give, on a
generated log with planned repeats in some cases only, loops with and without requests,
customer steps, failed outcomes and steps recorded inside another step's span.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import flowlens
from flowlens.findings import rework
from flowlens.findings.context import FindingContext

T0 = pd.Timestamp("2024-03-04 09:00")


def _log(seed: int) -> flowlens.EventLog:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(90):
        steps: list[tuple[str, str, str]] = [("Submit Application", "Customer", "ok")]
        if c % 3 == 0:
            # a step another party repeats (planned: 'another party') in a third of the cases
            steps += [("Verify", "clerk", "ok"), ("Sign", "clerk", "ok"), ("Verify", "Notary 1", "ok")]
        for _ in range(int(rng.integers(0, 3))):
            kind = int(rng.integers(0, 4))
            if kind == 0:
                steps += [("Check", "u1", "rejected"), ("Check", "u2", "ok")]  # failed attempt
            elif kind == 1:
                steps += [("Check", "u1", "ok"), ("Fix", "u3", "ok"), ("Check", "u2", "ok")]
            elif kind == 2:
                steps += [
                    ("Check", "u1", "ok"),
                    ("Request Documents", "u3", "ok"),
                    ("Upload Documents", "Customer", "ok"),
                    ("Check", "u1", "ok"),
                ]
            else:
                steps += [("Check", "u1", "ok"), ("Wait for Customer", "system", "ok"), ("Check", "u1", "ok")]
        steps += [("Decide", "u4", "ok")]
        t = 0.0
        for i, (act, res, outcome) in enumerate(steps):
            dur = float(rng.integers(5, 30))
            # now and then a step recorded inside the previous one's span
            start = t - dur / 2 if i and rng.random() < 0.15 else t
            rows.append((f"c{c:03d}", act, res, outcome, T0 + pd.Timedelta(minutes=start),
                         T0 + pd.Timedelta(minutes=start + dur)))  # fmt: skip
            t = start + dur + float(rng.integers(1, 600))
    df = pd.DataFrame(rows, columns=["case", "activity", "resource", "outcome", "start", "end"])
    return flowlens.read_log(df)


def _frame(t: object) -> pd.DataFrame:
    return t.to_pandas().sort_values("eid").reset_index(drop=True)  # type: ignore[attr-defined]


def test_planned_recompute_in_affected_cases_equals_recompute_everywhere() -> None:
    for seed in (1, 2):
        ctx = FindingContext(_log(seed))
        rp = rework.repeats(ctx)
        assert rp.planned_activities == {"Verify": "another party"}
        assert "Verify" in rp.transparent
        x = rework.repeat_instances(ctx)
        full = rework._with_visits(x, rework._visits(ctx, x, rp.transparent), rework.bounces(ctx).claims)
        full = rework.repeat_view(ctx, full)
        got, want = _frame(rp.table), _frame(full)
        assert got.anchor.sum() > 20 and got.has_req.any() and got.has_cust.any() and got.fail.any()
        pd.testing.assert_frame_equal(got, want)


def test_occurrence_and_loop_markers_equal_running_counts() -> None:
    ctx = FindingContext(_log(3))
    rp = rework.repeats(ctx)
    t = _frame(rp.table).sort_values(["case_idx", "pos"]).reset_index(drop=True)
    # the failure markers of the instances (read by the visits, not kept in the repeat table)
    marks = _frame(rework.repeat_instances(ctx).select("eid", "neg", "ofail"))
    t = t.merge(marks, on="eid", how="left", validate="one_to_one")
    # occ: the 1-based occurrence of the activity in the case
    assert list(t.occ) == list(t.groupby(["case_idx", "activity"]).cumcount() + 1)
    # has_req / has_cust / fail: a request, customer step or failure after the previous
    # instance of the step (work instances only) up to this one, from running counts per case
    for col in ("req", "cust", "neg"):
        t[f"c_{col}"] = t.groupby("case_idx")[col].cumsum()
    w = t[t.visit.notna()].copy()
    w["prev_eid"] = w.groupby(["case_idx", "activity"]).eid.shift()
    prev = t.set_index("eid")
    a = w[w.anchor]
    assert len(a) > 20
    for col, flag in (("req", "has_req"), ("cust", "has_cust")):
        before = prev.loc[a.prev_eid.astype("int64"), f"c_{col}"].to_numpy()
        assert list(a[flag]) == list((a[f"c_{col}"].to_numpy() - before) > 0)
    neg = (a.c_neg.to_numpy() - prev.loc[a.prev_eid.astype("int64"), "c_neg"].to_numpy()) > 0
    ofail = prev.loc[a.prev_eid.astype("int64"), "ofail"].to_numpy()
    assert list(a.fail) == list(a.has_req.to_numpy() | neg | ofail)


def test_contact_running_counts_and_own_wait_equal_their_definition() -> None:
    """The journey steps' running counts per contact (keyed by the contact's first eid, no
    contact id included) equal ordered per-contact counts on the steps that read them (identity
    checks, repeated information, bot fallbacks) and are NULL on the others; a claim's own part
    (from the instance eid + 1) is both parts where the next step's resource differs; kno sorts
    as the contact ids."""
    from flowlens.findings._customer import _own_parts, claim, steps, with_counts

    log = flowlens.read_log(Path(__file__).parents[2] / "event_logs" / "bank_demo" / "events.parquet")
    st = steps(FindingContext(log))
    joined = with_counts(st, st.table).join(log.table.select("eid", "resource", "contact_id"), "eid")
    t = joined.to_pandas().sort_values("eid").reset_index(drop=True)
    assert t.kno.isna().any() and t.kno.notna().any()
    # within a case, the contacts in the order of their ids
    k = t[t.kno > 0].drop_duplicates("kid").sort_values(["case_idx", "contact_id"])
    assert (k.groupby("case_idx").kno.diff().dropna() > 0).all() and k.case_idx.duplicated().any()
    by = t.groupby("kid")
    reads = t.g_verification | t.g_identity_check | t.g_step_up | t.g_repeat_information | t.g_bot_fallback
    assert reads.sum() > 100 and (~reads).sum() > 100
    for flag, col in (("g_information_provided", "n_info_u"), ("g_step_up", "n_step_up_u")):
        assert list(t[col][reads]) == list(by[flag].cumsum().astype("int64")[reads])
        assert t[col][~reads].isna().all()
    handoff_b = by.g_handoff.cumsum().astype("int64") - t.g_handoff.astype("int64")
    assert list(t.n_handoff_b[reads]) == list(handoff_b[reads])
    nxt = t.groupby("case_idx").resource.shift(-1)
    want = t.resource.isna() | nxt.isna() | (t.resource != nxt)
    # (claims of a join: one claim kind's table can be an ibis join chain)
    own = _own_parts(log.table, claim(joined, "k", "")).to_pandas().sort_values("eid")
    assert list(own.eid) == list(t.eid) and list(own.part == "both") == list(want)
