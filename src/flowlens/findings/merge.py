"""Merge candidates: two steps nearly always done one right after the other, by different
people, with the case waiting in a queue in between.

A pair ``a -> b`` (b directly follows a in the case) is a merge candidate when (docs/methods.md
13.4):

* both are **staff work the customer waits for**: done by people of the organisation, before
  the customer's clock stops, and neither is the case's outcome
  (:meth:`~flowlens.analysis.step_roles.StepRoles.changeable`): an outcome and its closure, or
  anything after the clock stop, are never merged;
* both are **real work with recorded times**: median processing >= ``min_processing_s`` (60 s),
  on recorded start times in at least ``min_recorded_share`` (80 %) of their instances (with
  estimated starts, work and the wait between cannot be told apart);
* ``b`` directly follows ``a`` in at least ``min_share`` (90 %) of the cases with ``a``;
* different people do them in at least ``min_handoff_share`` (80 %) of those transitions (a
  *person* is a resource whose work adds up to at most 16 hours per active day: a customer or
  system pseudo-resource that does thousands of cases a day is not a handoff partner);
* the **handoff wait** (from the end of ``a`` to the start of ``b``) is large relative to the
  work: median >= ``wait_ratio`` (1x) the median processing of a and b together, and at least
  ``min_wait_s`` (5 min). Medians are exact.

Merging (one person does a and b in one go) removes one handoff and one queue: the customer
time at stake per case is the customer waiting charged to ``b`` on those transitions, whatever
its cause (b directly follows a: no step of the customer or a third party is logged between
them, so the wait is the hand-over itself). Pairs with an approval are never
merged (a second person's approval is the point of that step, the four-eyes rule); the staff
time saved (the second person reading the case again) is not in the log and is reported as 0.
A pair whose step the no-effect detector already proposes to remove is left to that finding. A
pair with a step repeated by design (:func:`~flowlens.findings.rework.planned_repeats`: another
party, a required interval, another stage) is never merged. A
pair with an allow-listed step is reported as regulatory: merging keeps both steps, so it only
makes them faster.

>>> import flowlens, pandas as pd
>>> rows = []
>>> for k in range(40):
...     rows += [(f"c{k}", "draft", f"a{k % 4}", f"2024-01-0{1 + k % 5} 09:00", f"2024-01-0{1 + k % 5} 09:20"),
...              (f"c{k}", "send", f"b{k % 4}", f"2024-01-0{1 + k % 5} 15:00", f"2024-01-0{1 + k % 5} 15:10"),
...              (f"c{k}", "file", f"b{k % 4}", f"2024-01-0{1 + k % 5} 15:10", f"2024-01-0{1 + k % 5} 15:30")]
>>> log = flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"]))
>>> from flowlens.findings.context import FindingContext
>>> [(f.activities, f.cases, round(f.customer_time_s / 40 / 3600, 1)) for f in detect_merge_candidates(FindingContext(log))]
[(('draft', 'send'), 40, 5.7)]
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from flowlens.findings.approvals import APPROVAL
from flowlens.findings.instances import cases_per_activity
from flowlens.findings.model import Finding, Scenario, engine_case_seconds
from flowlens.findings.rank import bootstrap_total_ci
from flowlens.findings.rework import planned_repeats
from flowlens.i18n import M_
from flowlens.units import count_value, duration_value, percent_value

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
    min_recorded_share: float = 0.8,
) -> list[Finding]:
    """Merge candidates (module docstring)."""
    import ibis

    roles = ctx.step_roles
    i = ctx.tm.instances
    base = i.select(
        "eid", "case_idx", "case_id", "activity", "resource", "team", "start_us", "end_us",
        "wait_us", "proc_us", recorded=~i.start_estimated,
    )  # fmt: skip
    acts = (
        base.group_by("activity")
        .aggregate(proc_med=base.proc_us.median(), recorded=base.recorded.cast("float64").mean())
        .to_pandas()
    )
    acts["activity"] = acts.activity.astype(str)
    acts["cases_a"] = acts.activity.map(cases_per_activity(ctx)).astype("int64")
    work = acts[
        acts.activity.map(roles.changeable)
        & (acts.recorded.astype(float) >= min_recorded_share)
        & (acts.proc_med.astype(float) >= min_processing_s * 1e6)
        & (acts.cases_a >= min_cases)
        & ~acts.activity.map(lambda a: APPROVAL.search(a) is not None)  # four eyes
    ]
    if len(work) < 2:
        return []
    names = sorted(work.activity)
    nx = base.select(
        n_case="case_idx", n_eid="eid", b="activity", rb="resource", s_b="start_us", wait_b="wait_us"
    )
    j = base.filter(base.activity.isin(names))
    j = j.join(nx, [j.case_idx == nx.n_case, (j.eid + 1) == nx.n_eid])
    j = j.filter(j.b.isin(names) & (j.activity != j.b))
    j = j.select(
        "case_id", "case_idx", "team", "b", "rb", "wait_b", "n_eid", a="activity", ra="resource",
        gap=ibis.greatest(j.s_b - j.end_us, 0),
    )  # fmt: skip
    pairs = (
        j.group_by(["a", "b"])
        .aggregate(
            n=j.count(),
            cases=j.case_idx.nunique(),
            diff=(j.ra.fill_null("\0") != j.rb.fill_null("")).cast("float64").mean(),
            wait_med=j.gap.median(),
        )
        .filter(lambda t: t.cases >= min_cases)
        .to_pandas()
    )
    if pairs.empty:
        return []
    pairs["a"], pairs["b"] = pairs.a.astype(str), pairs.b.astype(str)
    med = dict(zip(work.activity, work.proc_med.astype(float), strict=True))
    cases_of = dict(zip(work.activity, work.cases_a.astype(int), strict=True))
    pairs["cases_a"] = pairs.a.map(cases_of)
    pairs["proc_a_med"], pairs["proc_b_med"] = pairs.a.map(med), pairs.b.map(med)
    cand = pairs[
        (pairs.cases >= min_share * pairs.cases_a)
        & (pairs["diff"] >= min_handoff_share)
        & (pairs.wait_med.astype(float) >= wait_ratio * (pairs.proc_a_med + pairs.proc_b_med))
        & (pairs.wait_med.astype(float) >= min_wait_s * 1e6)
    ].sort_values(["a", "b"])
    if cand.empty:
        return []
    persons = people(ctx)
    removed = _removed_by_no_effect(ctx)
    # a step repeated by design (another party, a required interval, another stage) is needed
    # where it is: merging it away at one point is never proposed
    planned = planned_repeats(ctx)
    # the candidate pairs' transitions stay in the engine: per pair the handoff counts and teams,
    # per case its hand-over wait (one row per case comes to Python, not one per transition)
    keys = ibis.memtable(cand[["a", "b"]].rename(columns={"a": "k_a", "b": "k_b"}))
    rows = j.join(keys, [j.a == keys.k_a, j.b == keys.k_b])
    pm = ibis.memtable(pd.DataFrame({"person": sorted(persons)}, dtype=object), schema={"person": "string"})
    pa_ = pm.select(p_a="person")
    pb_ = pm.select(p_b="person")
    rows = rows.left_join(pa_, rows.ra == pa_.p_a)
    rows = rows.left_join(pb_, rows.rb == pb_.p_b)
    rows = rows.mutate(
        handoff=(rows.p_a.notnull() & rows.p_b.notnull() & (rows.ra != rows.rb)).fill_null(False)
    )
    rows = ctx.store(rows.drop("p_a", "p_b"), prefix="fl_merge_rows")
    hs = rows.group_by(["a", "b"]).aggregate(n=rows.count(), h=rows.handoff.cast("int64").sum()).to_pandas()
    shares = {(str(x), str(y)): (int(h), int(k)) for x, y, k, h in zip(hs.a, hs.b, hs.n, hs.h, strict=True)}
    hand = rows.filter(rows.handoff)
    ht = hand.filter(hand.team.notnull())
    tc = ht.group_by(["a", "b", "team"]).aggregate(k=ht.count()).to_pandas()
    per_pair = engine_case_seconds(
        hand, ["a", "b"], hand.wait_b.fill_null(0).cast("float64") / 1e6, order="n_eid"
    )
    findings: list[Finding] = []
    for r in cand.itertuples():
        a, b = str(r.a), str(r.b)
        if b in removed or a in removed or a in planned or b in planned:
            continue
        h, k = shares.get((a, b), (0, 0))
        handoff_share = h / k if k else float("nan")
        if not handoff_share >= min_handoff_share:
            continue
        pc = per_pair[(per_pair.a == a) & (per_pair.b == b)]
        occurrences = int(pc.n.sum())
        per = {str(c): float(v) for c, v in zip(pc.case_id, pc.s, strict=True) if v > 0}
        if len(per) < min_cases:
            continue
        vals = np.fromiter(per.values(), dtype=float, count=len(per))
        lo, hi = bootstrap_total_ci(vals, seed=ctx.seed, resamples=ctx.resamples, key=f"merge|{a}|{b}")
        reasons = [x for x in (ctx.allow.match(a), ctx.allow.match(b)) if x]
        share = float(r.cases) / float(r.cases_a)
        wait_med, proc_med = float(r.wait_med) / 1e6, (float(r.proc_a_med) + float(r.proc_b_med)) / 1e6
        tt = tc[(tc.a == a) & (tc.b == b)]
        tcount = tt.k.groupby(tt.team.astype(str)).sum()
        teams = tuple(str(v) for v, _ in sorted(tcount.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
        findings.append(
            Finding(
                kind="merge_candidate",
                title=M_(
                    "'{first}' and '{second}' could be one step: the case waits in between for another person",
                    first=a,
                    second=b,
                ),
                activities=(a, b),
                resources=teams,
                case_ids=tuple(per),
                occurrences=occurrences,
                customer_time_s=math.fsum(vals),
                customer_time_ci=(lo, hi),
                staff_time_s=0.0,
                evidence=M_(
                    "'{second}' directly follows '{first}' in {share} of the {cases} cases with '{first}', "
                    "done by another person in {handoff} of them, after a median hand-over wait of {wait} for "
                    "{work} of work on both steps. The customer waits {each} per case on average for the "
                    "hand-over before '{second}': what one person doing both saves.",
                    second=b,
                    first=a,
                    share=percent_value(share, f"{100 * share:.0f} %", 0),
                    cases=count_value(int(r.cases_a)),
                    handoff=percent_value(handoff_share, f"{100 * handoff_share:.0f} %", 0),
                    wait=duration_value(wait_med, f"{wait_med / 60:,.0f} min"),
                    work=duration_value(proc_med, f"{proc_med / 60:,.1f} min"),
                    each=duration_value(
                        math.fsum(vals) / len(vals), f"{math.fsum(vals) / len(vals) / 3600:,.1f} h"
                    ),
                ),
                scenario=Scenario(
                    "merge",
                    {"activities": [a, b], "duration": "processing(a) + processing(b)", "resource_of": a},
                    M_(
                        "one person does '{first}' and '{second}' in one go (one queue instead of two)",
                        first=a,
                        second=b,
                    ),
                ),
                regulatory=bool(reasons),
                allow_reason=reasons[0] if reasons else None,
                per_case_s=per,
                details={
                    "customer_waiting_before_b_s": math.fsum(vals),
                    "follows_share": share,
                    "handoff_share": handoff_share,
                    "median_wait_s": wait_med,
                    "median_processing_s": proc_med,
                    "staff_time_note": "the time a second person spends re-reading the case is not in the log",
                },
                detector=name,
            )
        )
    return findings


detect_merge_candidates.name = name  # type: ignore[attr-defined]
