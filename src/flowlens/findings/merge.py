"""Merge candidates: two steps nearly always done one right after the other, by different
people, with the case waiting in a queue in between.

A pair ``a -> b`` (b directly follows a in the case) is a merge candidate when (docs/methods.md
13.4):

* ``b`` directly follows ``a`` in at least ``min_share`` (90 %) of the cases with ``a``;
* different people do them in at least ``min_handoff_share`` (80 %) of those transitions (a
  *person* is a resource whose work adds up to at most 16 hours per active day: a customer or
  system pseudo-resource that does thousands of cases a day is not a handoff partner);
* both are real work (median processing >= ``min_processing_s``, 60 s);
* the handoff wait before ``b`` is large relative to the work: median wait >= ``wait_ratio``
  (1x) the median processing of a and b together, and at least ``min_wait_s`` (5 min).

Merging (one person does a and b in one go) removes one handoff and one queue: the customer
time at stake per case is the waiting before ``b`` on those transitions (pairs with an approval
are never merged: a second person's approval is the point of that step, the four-eyes rule); the staff time saved
(the second person reading the case again) is not in the log and is reported as 0. A pair whose
``b`` the no-effect detector already proposes to remove is left to that finding. A pair with an
allow-listed step is reported as regulatory: merging keeps both steps, so it only makes them
faster.

>>> import flowlens, pandas as pd
>>> rows = []
>>> for k in range(40):
...     rows += [(f"c{k}", "draft", f"a{k % 4}", f"2024-01-0{1 + k % 5} 09:00", f"2024-01-0{1 + k % 5} 09:20"),
...              (f"c{k}", "send", f"b{k % 4}", f"2024-01-0{1 + k % 5} 15:00", f"2024-01-0{1 + k % 5} 15:10")]
>>> log = flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"]))
>>> from flowlens.findings.context import FindingContext
>>> [(f.activities, f.cases, round(f.customer_time_s / 40 / 3600, 1)) for f in detect_merge_candidates(FindingContext(log))]
[(('draft', 'send'), 40, 5.7)]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowlens.findings.approvals import APPROVAL
from flowlens.findings.model import Finding, Scenario
from flowlens.findings.rank import bootstrap_total_ci

if TYPE_CHECKING:
    from flowlens.findings.context import FindingContext

name = "merge_candidates"

DAY_US = 86_400_000_000


def people(ctx: FindingContext, *, max_busy_h_per_day: float = 16.0) -> set[str]:
    """Resources that behave like one person: at most ``max_busy_h_per_day`` of processing per
    day on which they work."""
    i = ctx.tm.instances
    r = i.filter(i.resource.notnull() & i.start_us.notnull())
    r = r.mutate(day=(r.start_us / DAY_US).floor().cast("int64"))
    d = r.group_by(["resource", "day"]).aggregate(busy=r.proc_us.sum())
    res = d.group_by("resource").aggregate(busy=d.busy.mean()).to_pandas()
    return set(res.resource[res.busy.astype(float) <= max_busy_h_per_day * 3600e6].astype(str))


def _removed_by_no_effect(ctx: FindingContext) -> set[str]:
    """Activities the no-effect detector proposes to remove (computed once per context)."""
    key = "_flowlens_no_effect_removals"
    if key not in ctx.__dict__:
        from flowlens.findings.approvals import detect_no_effect_checks

        ctx.__dict__[key] = {
            a for f in detect_no_effect_checks(ctx) if not f.regulatory for a in f.activities
        }
    return ctx.__dict__[key]


def detect_merge_candidates(
    ctx: FindingContext,
    *,
    min_share: float = 0.9,
    min_handoff_share: float = 0.8,
    min_processing_s: float = 60.0,
    wait_ratio: float = 1.0,
    min_wait_s: float = 300.0,
    min_cases: int = 30,
) -> list[Finding]:
    """Merge candidates (module docstring)."""
    import ibis

    i = ctx.tm.instances
    base = i.select("eid", "case_idx", "case_id", "activity", "resource", "team", "wait_us", "proc_us")
    nx = base.select(
        n_case="case_idx", n_eid="eid", b="activity", rb="resource", wait_b="wait_us", proc_b="proc_us"
    )
    j = base.join(nx, [base.case_idx == nx.n_case, (base.eid + 1) == nx.n_eid])
    j = j.select(
        "case_idx",
        "case_id",
        "team",
        "b",
        "rb",
        "wait_b",
        "proc_b",
        a="activity",
        ra="resource",
        proc_a="proc_us",
    )
    j = j.filter(j.a != j.b)
    acts = base.group_by("activity").aggregate(
        cases_a=base.case_idx.nunique(), proc_med=base.proc_us.median()
    )
    pairs = j.group_by(["a", "b"]).aggregate(
        n=j.count(),
        cases=j.case_idx.nunique(),
        diff=(j.ra.fill_null("\0") != j.rb.fill_null("")).cast("float64").mean(),
        wait_med=j.wait_b.median(),
    )
    pairs = pairs.join(acts, pairs.a == acts.activity).select(
        *pairs.columns, "cases_a", proc_a_med=acts.proc_med
    )
    pb = acts.select(b_act="activity", proc_b_med="proc_med")
    pairs = pairs.join(pb, pairs.b == pb.b_act).drop("b_act")
    pairs = pairs.filter(
        (pairs.cases >= min_cases)
        & (pairs.cases >= min_share * pairs.cases_a)
        & (pairs.diff >= min_handoff_share)
        & (pairs.proc_a_med >= int(min_processing_s * 1e6))
        & (pairs.proc_b_med >= int(min_processing_s * 1e6))
    )
    # engine results come back in no fixed order: sort them, so that the findings, their case
    # lists and every sum over them are the same in every run
    cand = pairs.to_pandas().sort_values(["a", "b"], kind="stable").reset_index(drop=True)
    if cand.empty:
        return []
    cand = cand[
        (
            cand.wait_med.astype(float)
            >= wait_ratio * (cand.proc_a_med.astype(float) + cand.proc_b_med.astype(float))
        )
        & (cand.wait_med.astype(float) >= min_wait_s * 1e6)
    ]
    if cand.empty:
        return []
    persons = people(ctx)
    removed = _removed_by_no_effect(ctx)
    keys = ibis.memtable(cand[["a", "b"]].rename(columns={"a": "k_a", "b": "k_b"}))
    rows = (
        j.join(keys, [j.a == keys.k_a, j.b == keys.k_b])
        .select("case_id", "a", "b", "ra", "rb", "team", "wait_b", "proc_a", "proc_b")
        .to_pandas()
    )
    rows["case_id"] = rows.case_id.astype(str)
    rows = rows.sort_values(
        ["a", "b", "case_id", "wait_b", "proc_a", "proc_b"], kind="stable", na_position="last"
    )
    findings: list[Finding] = []
    for r in cand.itertuples():
        a, b = str(r.a), str(r.b)
        if b in removed or a in removed:
            continue
        if APPROVAL.search(a) or APPROVAL.search(b):
            continue  # four eyes: an approval by another person is the point of the step
        d = rows[(rows.a == a) & (rows.b == b)]
        handoff = d.ra.astype(str).isin(persons) & d.rb.astype(str).isin(persons) & (d.ra != d.rb)
        if handoff.mean() < min_handoff_share:
            continue
        d = d[handoff]
        per = (d.wait_b.fillna(0) / 1e6).groupby(d.case_id, sort=True).sum()
        per = per[per > 0]
        if len(per) < min_cases:
            continue
        vals = per.to_numpy(dtype=float)
        lo, hi = bootstrap_total_ci(vals, seed=ctx.seed, resamples=ctx.resamples, key=f"merge|{a}|{b}")
        reasons = [x for x in (ctx.allow.match(a), ctx.allow.match(b)) if x]
        share = float(r.cases) / float(r.cases_a)
        wait_med, proc_med = float(r.wait_med) / 1e6, (float(r.proc_a_med) + float(r.proc_b_med)) / 1e6
        counts = d.team.dropna().astype(str).value_counts()
        teams = tuple(t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
        findings.append(
            Finding(
                kind="merge_candidate",
                title=f"'{a}' and '{b}' could be one step: the case waits in between for another person",
                activities=(a, b),
                resources=teams,
                case_ids=tuple(per.index.astype(str)),
                occurrences=len(d),
                customer_time_s=float(vals.sum()),
                customer_time_ci=(lo, hi),
                staff_time_s=0.0,
                evidence=(
                    f"'{b}' directly follows '{a}' in {100 * share:.0f} % of the cases with '{a}', done by "
                    f"another person in {100 * float(handoff.mean()):.0f} % of them, after a median wait of "
                    f"{wait_med / 60:,.0f} min for {proc_med / 60:,.1f} min of work on both steps."
                ),
                scenario=Scenario(
                    "merge",
                    {"activities": [a, b], "duration": "processing(a) + processing(b)", "resource_of": a},
                    f"one person does '{a}' and '{b}' in one go (one queue instead of two)",
                ),
                regulatory=bool(reasons),
                allow_reason=reasons[0] if reasons else None,
                per_case_s={str(c): float(v) for c, v in per.items()},
                details={
                    "follows_share": share,
                    "handoff_share": float(handoff.mean()),
                    "median_wait_s": wait_med,
                    "median_processing_s": proc_med,
                    "staff_time_note": "the time a second person spends re-reading the case is not in the log",
                },
                detector=name,
            )
        )
    return findings


detect_merge_candidates.name = name  # type: ignore[attr-defined]
