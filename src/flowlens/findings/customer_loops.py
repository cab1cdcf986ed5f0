"""Waiting on the customer: loops that ask the customer again, and idle "waiting for customer"
statuses with nothing asked (docs/methods.md 13.8).

**Waiting loops on the customer** (W4, document loops). A loop of the rework analysis
(:mod:`flowlens.findings.rework`) is customer-facing when the loop (its body plus the repeat)
holds a request to the customer (activity group ``information_request``) and a step of the
customer (their resource or team is the customer, or the name says so: "Customer Submits
Documents"); in a log without customer steps, when at least half of the loop's waiting is
*extraneous* in the waiting-cause analysis (methods 7: waiting no resource explains). Priced
like any loop (the repeats' waiting and processing plus the waiting of the loop-back path);
the details split the waiting into the part on the customer (extraneous) and the rest. The
scenario lowers the loop-back probability (a checklist, digital upload) rather than cutting
the loop: some documents really are missing.

**Idle statuses** (W10, "wait-user misuse", BPIC 2013). A status that stops work to wait for
the customer (Waiting for Customer, Wait - User, Pending Customer, 等待客户; see
:mod:`flowlens.findings.signals`) is unsupported when nothing was asked of the customer since
their last step (no information request) and the wait it starts does not end with a step of
the customer. Its cost is the idle time it covers: from the status to the start of the next
step. A log that records neither requests nor customer steps cannot tell a genuine wait from
a misused one: there the statuses are compared across the values of the assignment attribute
(support groups, teams): the median share of cases in which a value sets the status is the
usual rate, and only the statuses beyond it (per value, the share 1 - usual / its rate) are
priced (BPIC 2013's "wait-user misuse" by some support groups).

>>> import flowlens, pandas as pd
>>> rows = [("1", "Open", "a", "2024-01-01 09:00"), ("1", "Waiting for Customer", "a", "2024-01-01 10:00"),
...         ("1", "Resume", "a", "2024-01-03 10:00"), ("1", "Close", "a", "2024-01-03 11:00"),
...         ("2", "Open", "a", "2024-01-01 09:00"), ("2", "Request Information", "a", "2024-01-01 09:30"),
...         ("2", "Waiting for Customer", "a", "2024-01-01 10:00"),
...         ("2", "Customer Provides Information", "CUSTOMER", "2024-01-02 10:00"), ("2", "Close", "a", "2024-01-02 11:00")]
>>> df = pd.DataFrame(rows, columns=["case", "activity", "resource", "timestamp"])
>>> from flowlens.findings.context import FindingContext
>>> [(f.kind, f.case_ids, f.details["unsupported"], f.details["statuses"]) for f in detect_idle_statuses(FindingContext(flowlens.read_log(df)), min_cases=1)]
[('idle_status', ('1',), 1, 2)]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from flowlens.findings.instances import with_case_id
from flowlens.findings.model import Finding, Scenario
from flowlens.findings.rework import _rework_findings, loop_claims, min_cases_default, repeats
from flowlens.findings.signals import (
    US,
    activities_of,
    build_finding,
    cached,
    group_members,
    human_value,
    role_members,
)
from flowlens.i18n import M_, Clause
from flowlens.units import count_value, percent_value

if TYPE_CHECKING:
    import ibis

    from flowlens.findings.context import FindingContext

LOOP_NAME = "customer_loops"
IDLE_NAME = "idle_status"
#: values of the assignment attribute with fewer cases are not compared (idle statuses)
MIN_TEAM_CASES = 20


def detect_customer_wait_loops(ctx: FindingContext, *, min_cases: int | None = None) -> list[Finding]:
    """Loops that wait on the customer again and again (module docstring)."""
    mc = min_cases_default(ctx) if min_cases is None else min_cases
    found = _rework_findings(ctx, ("customer_wait_loop",), LOOP_NAME, mc)
    if not found:
        return found
    ext = _extraneous_by_head(ctx)
    out = []
    for f in found:
        head = f.activities[0]
        on_customer = float(ext.get(head, 0.0))
        waiting = float(f.details.get("waiting_s", 0.0))
        share = on_customer / waiting if waiting else 0.0
        details = {**f.details, "waiting_on_customer_s": on_customer, "waiting_on_customer_share": share}
        evidence = M_(
            "{evidence}; {share} of that waiting is on the customer.",
            evidence=Clause(f.evidence),
            share=percent_value(share, f"{share:.0%}", 0),
        )
        out.append(_replace(f, details=details, evidence=evidence))
    return out


detect_customer_wait_loops.name = LOOP_NAME  # type: ignore[attr-defined]


def _replace(f: Finding, **changes: object) -> Finding:
    from dataclasses import replace

    return replace(f, **changes)  # type: ignore[arg-type]


def _extraneous_by_head(ctx: FindingContext) -> dict[str, float]:
    """Extraneous waiting (seconds) of the instances each customer-loop finding claims."""
    claims, _ = loop_claims(ctx)
    c = claims.filter(claims.kind == "customer_wait_loop")
    w = ctx.waiting.causes.select(w_eid="eid", ext="extraneous_us")
    j = c.join(w, c.eid == w.w_eid)
    df = j.group_by("head").aggregate(ext=j.ext.sum()).to_pandas()
    return dict(zip(df["head"].astype(str), df.ext.astype(float) / US, strict=True))


def _statuses(ctx: FindingContext) -> ibis.Table | None:
    """One row per waiting status: case_id, activity, unsupported, idle (µs), next_eid (the step
    that ends the wait)."""
    return cached(ctx, "idle_statuses", lambda: _build_statuses(ctx))


def _build_statuses(ctx: FindingContext) -> ibis.Table | None:
    import ibis

    statuses = role_members(ctx, "wait_status", activities_of(ctx))
    if not statuses:
        return None
    t = repeats(ctx).table
    t = t.select("eid", "case_idx", "pos", "activity", "cust", "req")
    # a request since the customer's last step (segments start at each customer step): per
    # status, the latest customer step and the latest request up to it, from one range join
    # of the (few) statuses with the (few) marked instances, not running counts over every
    # instance of the log; a request at or after that customer step (or any, when there is
    # none) is one since
    s = t.filter(t.activity.isin(statuses))
    sk = s.select(k_eid="eid", k_case="case_idx", k_pos="pos")
    mk = t.filter(t.cust | t.req).select(m_case="case_idx", m_pos="pos", m_cust="cust", m_req="req")
    lm = sk.join(mk, [sk.k_case == mk.m_case, mk.m_pos <= sk.k_pos])
    lm = lm.group_by("k_eid").aggregate(
        last_cust=lm.m_pos.max(where=lm.m_cust), last_req=lm.m_pos.max(where=lm.m_req)
    )
    lm = lm.select(
        r_eid="k_eid",
        asked=lm.last_req.notnull() & (lm.last_cust.isnull() | (lm.last_req >= lm.last_cust)),
    )
    s = s.left_join(lm, s.eid == lm.r_eid).drop("r_eid")
    s = s.mutate(asked=s.asked.fill_null(False))
    inst = ctx.tm.instances
    nx = inst.select(
        n_case="case_idx", n_pos=inst.pos - 1, n_start=inst.start_us, n_act="activity", next_eid="eid"
    )
    nc = t.select(m_case="case_idx", m_pos=t.pos - 1, n_cust=t.cust)
    ends = inst.select(e_eid="eid", e_end="end_us")
    s = s.join(ends, s.eid == ends.e_eid).drop("e_eid")
    s = s.left_join(nx, [s.case_idx == nx.n_case, s.pos == nx.n_pos]).drop("n_case", "n_pos")
    s = s.left_join(nc, [s.case_idx == nc.m_case, s.pos == nc.m_pos]).drop("m_case", "m_pos")
    s = with_case_id(ctx, s)
    s = s.select(
        "eid",
        "case_id",
        "activity",
        "next_eid",
        idle=ibis.greatest(s.n_start - s.e_end, 0).fill_null(0),
        unsupported=~s.asked & ~s.n_cust.fill_null(False) & ~s.n_act.isin(statuses).fill_null(False),
    )
    return ctx.store(s, prefix="fl_idle")


def idle_claims(ctx: FindingContext) -> ibis.Table | None:
    """The steps whose waiting an unsupported status claims (eid, case_id, idle µs): other
    detectors of this package leave that waiting to the idle-status finding."""
    s = _statuses(ctx)
    if s is None:
        return None
    u = s.filter(s.unsupported & s.next_eid.notnull())
    return u.select(eid=u.next_eid, case_id=u.case_id, idle=u.idle)


def detect_idle_statuses(ctx: FindingContext, *, min_cases: int | None = None) -> list[Finding]:
    """Idle "waiting for customer" statuses: nothing asked and no customer step to end them."""
    mc = min_cases_default(ctx) if min_cases is None else min_cases
    s = _statuses(ctx)
    if s is None:
        return []
    acts = activities_of(ctx)
    has_requests = bool(group_members(ctx, "information_request", acts))
    rp = repeats(ctx)
    if not has_requests and not rp.has_customer_steps:
        # no single status can be judged: compare who sets it how often
        return _excess_statuses(ctx, s, mc)
    per = (
        s.group_by(["activity", "case_id"])
        .aggregate(
            n=s.count(),
            bad=s.unsupported.cast("int64").sum(),
            t=s.idle.sum(where=s.unsupported),
        )
        .to_pandas()
        .sort_values(["activity", "case_id"], kind="stable")
    )
    out = []
    for act, g in per.groupby("activity"):
        total = int(g.n.sum())
        bad = g[g.bad > 0].assign(t_s=lambda d: d.t.fillna(0).astype(float) / US)
        n_bad = int(bad.bad.sum())
        cases = len(bad)
        if cases < mc:
            continue
        avg = float(bad.t_s.sum()) / max(n_bad, 1)
        backed = has_requests or rp.has_customer_steps
        idle = {
            "bad": count_value(n_bad),
            "total": count_value(total),
            "activity": act,
            "share": percent_value(n_bad / max(total, 1), f"{n_bad / max(total, 1):.0%}", 0),
            "time": human_value(avg),
        }
        out.append(
            build_finding(
                ctx,
                kind="idle_status",
                title=M_(
                    "'{activity}' is set with nothing asked of the customer: {times} times in {cases} cases",
                    activity=act,
                    times=count_value(n_bad),
                    cases=count_value(cases),
                ),
                activities=[str(act)],
                per_case=bad[["case_id", "t_s"]],
                occurrences=n_bad,
                staff_time_s=0.0,
                evidence=(
                    M_(
                        "{bad} of {total} '{activity}' statuses ({share}) follow no request to the customer and "
                        "end without a customer step; the case then sits idle {time} each.",
                        **idle,
                    )
                    if backed
                    else M_(
                        "{bad} of {total} '{activity}' statuses ({share}) follow no request to the customer and "
                        "end without a customer step (the log records no requests to the customer and no "
                        "customer steps, so no such wait is backed by the data); the case then sits idle "
                        "{time} each.",
                        **idle,
                    )
                ),
                scenario=Scenario(
                    "remove_activity",
                    {"activity": str(act), "with_idle_time": True},
                    M_(
                        "set the waiting status only after asking the customer for something; otherwise keep "
                        "working the case"
                    ),
                ),
                details={
                    "catalogue": "W10",
                    "statuses": total,
                    "unsupported": n_bad,
                    "supported": total - n_bad,
                    "log_has_requests": has_requests,
                    "log_has_customer_steps": rp.has_customer_steps,
                    "idle_s": float(bad.t_s.sum()),
                },
                detector=IDLE_NAME,
            )
        )
    return out


detect_idle_statuses.name = IDLE_NAME  # type: ignore[attr-defined]


def _excess_statuses(ctx: FindingContext, s: ibis.Table, min_cases: int) -> list[Finding]:
    """Idle statuses in a log that records neither requests to the customer nor customer steps:
    per value of the assignment attribute (team, support group), the share of its cases in
    which it sets the status; the median share over values with >= :data:`MIN_TEAM_CASES`
    cases is the usual rate (when it is 0, most values never set the status and nothing is
    compared). A value's statuses beyond it (the share 1 - usual / its rate of them) are the
    suspected misuse; their idle time is priced, the rest is not."""
    from flowlens.findings.signals import assignment_column

    col = assignment_column(ctx.log)
    if col is None:
        return []
    src = ctx.log.attributes.get(col, col)
    lt = ctx.log.table
    tv = lt.select(v_eid="eid", team=lt[col].cast("string"))
    x = s.join(tv, s.eid == tv.v_eid).drop("v_eid")
    x = x.filter(x.unsupported)
    team_cases = lt.group_by(team=lt[col].cast("string")).aggregate(cases=lt.case_idx.nunique()).to_pandas()
    team_cases = team_cases.dropna(subset=["team"]).sort_values("team", kind="stable")
    st = x.group_by(["activity", "team"]).aggregate(with_=x.case_id.nunique(), n=x.count()).to_pandas()
    st = st.sort_values(["activity", "team"], kind="stable")
    inst = x.select("case_id", "activity", "team", "idle", "eid").to_pandas()
    inst = inst.sort_values(["activity", "case_id", "eid"], kind="stable").reset_index(drop=True)
    out = []
    for act, g in st.groupby("activity", sort=True):
        r = team_cases.merge(g[["team", "with_", "n"]], on="team", how="left").fillna({"with_": 0, "n": 0})
        r["rate"] = r.with_ / r.cases
        judged = r[r.cases >= MIN_TEAM_CASES]
        if judged.empty:
            continue
        usual = float(np.median(judged.rate))
        if usual <= 0:
            # most values never set it: there is no usual use to compare with
            continue
        judged = judged.assign(excess=np.where(judged.rate > usual, 1.0 - usual / judged.rate, 0.0))
        share = dict(zip(judged.team.astype(str), judged.excess.astype(float), strict=True))
        i = inst[inst.activity == act].copy()
        i["share"] = i.team.map(share).fillna(0.0)
        i = i[i.share > 0]
        if i.case_id.nunique() < min_cases:
            continue
        i["t_s"] = i.idle.astype(float) / US * i.share
        pc = i.groupby("case_id", as_index=False).agg(t_s=("t_s", "sum"))
        over = judged[judged.excess > 0].sort_values(["with_", "team"], ascending=[False, True])
        examples = ", ".join(f"{t} {rt:.0%}" for t, rt in zip(over.team[:3], over.rate[:3], strict=True))
        beyond = float(i.share.sum())
        total = int(g.n.sum())
        avg = float(i.idle.mean()) / US if len(i) else 0.0
        out.append(
            build_finding(
                ctx,
                kind="idle_status",
                title=M_(
                    "'{activity}' is set far more often by some {column} values than by the usual one: "
                    "{beyond} of {total} times beyond the usual rate",
                    activity=act,
                    column=src,
                    beyond=count_value(round(beyond), f"{beyond:,.0f}"),
                    total=count_value(total),
                ),
                activities=[str(act)],
                per_case=pc,
                occurrences=round(beyond),
                staff_time_s=0.0,
                evidence=M_(
                    "The log records no requests to the customer and no customer steps, so no single "
                    "'{activity}' can be judged; but {over} {column} values set it in more of their cases than "
                    "the usual {usual} (median of {judged} values with {min_cases}+ cases; e.g. {examples}). "
                    "Their statuses beyond that rate keep cases idle {time} each: {total_time} in all.",
                    activity=act,
                    over=count_value(len(over)),
                    column=src,
                    usual=percent_value(usual, f"{usual:.0%}", 0),
                    judged=count_value(len(judged)),
                    min_cases=MIN_TEAM_CASES,
                    examples=examples,
                    time=human_value(avg),
                    total_time=human_value(float(pc.t_s.sum())),
                ),
                scenario=Scenario(
                    "remove_activity",
                    {"activity": str(act), "with_idle_time": True, "beyond_rate": round(usual, 4)},
                    M_("set the waiting status only when the customer is needed (as the usual team does)"),
                ),
                resources=[str(t) for t in over.team[:5]],
                details={
                    "catalogue": "W10",
                    "statuses": total,
                    "unsupported": total,
                    "supported": 0,
                    "beyond_usual_rate": beyond,
                    "usual_rate": usual,
                    "attribute": src,
                    "values_over": {
                        str(t): round(float(v), 4) for t, v in zip(over.team, over.rate, strict=True)
                    },
                    "log_has_requests": False,
                    "log_has_customer_steps": False,
                    "idle_s": float(pc.t_s.sum()),
                },
                detector=IDLE_NAME,
            )
        )
    return out
