"""Rework, loops and excess follow-ups: the same step done again in a case (docs/methods.md 13.6,
after methods 5 and edeaR's repeat/redo).

Every activity instance that is not the first of its activity in its case is a **repeat**:

* a *self-loop* when it directly follows the previous occurrence (minimum self-distance 0),
  otherwise a return with a *loop body*, the steps between the two occurrences (self-distance
  = their number);
* *repeat* when the same resource did the previous occurrence, *redo* when another did.

Findings are grouped by the repeated activity: kind ``rework`` for self-loops, kind ``loop``
for returns with a body. Activities whose repeats happen in nearly the same cases (the smaller
set >= 90 % inside the larger, and at least half its size) are one loop (validate, status "validating" and the customer's re-sent documents repeat
together) and are reported once, under the member with the most processing time. A return
whose loop (body plus the repeat) contains a request to the customer and a step of the
customer is a waiting loop on the customer: :mod:`flowlens.findings.customer_loops` reports
those (kind ``customer_wait_loop``).

**Cost** (methods 5) = per repeat its waiting and processing, plus the waiting of the
*loop-back path*: the first occurrences inside a loop body of activities that (almost: >= 90 %
of their instances) only occur inside loop bodies ("Application Incomplete", "Call for Missing
Documents"). Each instance part is counted once, so per case the cost never exceeds what the
case's steps took; waiting that an idle "waiting for customer" status or a ping-pong return
claims is left to those findings. The loop-back probability p = repeats / occurrences gives the simulation
lever 1 / (1 - p) expected visits; the scenario cuts the loop (p -> 0).

**Excess follow-ups.** For a follow-up contact (a call chasing the customer; see
:mod:`flowlens.findings.signals`) the threshold comes from the data: per case n = its
follow-ups and the step that ends them (the exit). Exits more frequent after a single
follow-up than overall are *favourable* (the customer answered). The success rate of the k-th
follow-up is s_k = P(n = k and a favourable exit | n >= k); follow-ups beyond the first k whose
next one succeeds in less than a quarter of the first one's rate (s_{k+1} < s_1 / 4) are
excess. Without enough data (fewer than 10 cases with one follow-up, or 20 reaching k + 1) the
domain default k = 2 applies. The excess follow-ups are priced like repeats (their waiting and
processing), scenario ``limit_repeats``. Follow-ups that stay effective are no waste and are
not reported.

Repeats that other detectors own are left to them: reassignment bounces
(:mod:`flowlens.findings.pingpong`), identity checks, information requests and repeated
explanations (the journey detectors' activity groups), and repeats in a later contact of the
case (when the log has contact ids: a repeat contact, not rework). A rework or loop finding
that costs less than a minute per case (system steps repeated at once, several offers sent
together) is not reported.

>>> import flowlens, pandas as pd
>>> rows = [(str(c), a, f"2024-01-0{c + 1} {9 + i}:00", r) for c in range(3) for i, (a, r) in
...         enumerate([("submit", "u"), ("check", "x"), ("fix", "u"), ("check", "y" if c else "x"), ("pay", "z")])]
>>> df = pd.DataFrame(rows, columns=["case", "activity", "timestamp", "resource"])
>>> from flowlens.findings.context import FindingContext
>>> f = detect_rework(FindingContext(flowlens.read_log(df)))[0]
>>> f.kind, f.activities, f.cases, f.details["redo"], f.details["repeat"], f.customer_time_s
('loop', ('check', 'fix'), 3, 2, 1, 21600.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from flowlens.findings.model import Finding, Scenario
from flowlens.findings.signals import (
    US,
    activities_of,
    build_finding,
    cached,
    customer_markers,
    group_members,
    human,
    instance_table,
    isin,
    role_members,
)

if TYPE_CHECKING:
    import ibis

    from flowlens.findings.context import FindingContext

NAME = "rework"
FOLLOW_UP_NAME = "follow_up"
#: activity groups whose repeats the journey detectors report
JOURNEY_GROUPS = ("verification", "information_request", "repeat_information")
#: an activity is on the loop-back path when this share of its first occurrences lie in a loop body
LOOP_ONLY_SHARE = 0.9
#: heads repeating in nearly the same cases are one loop: the smaller one's cases lie (>= 90 %)
#: within the larger one's, which they make up at least half of
MERGE_WITHIN = 0.9
MERGE_SHARE = 0.5
#: rework and loop findings below this customer time per case are not reported (seconds)
MIN_PER_CASE_S = 60.0
#: follow-up threshold: domain default and the evidence needed to replace it
DEFAULT_FOLLOW_UPS = 2
MIN_SINGLE = 10
MIN_REACHING = 20
DROP_FACTOR = 0.25


@dataclass
class Repeats:
    """The instance table behind rework, loops and follow-ups (materialised once per context).

    ``table``: eid, case_idx, case_id, pos, activity, resource, team, wait, proc (µs), staff,
    req (information request), cust (customer step), occ (1-based occurrence of the activity in
    the case), prev_pos, prev_res, body (steps since the previous occurrence), has_req /
    has_cust (the loop, body plus this repeat, contains one), covered (inside some loop body),
    next_rep_pos (position of the next repeat in the case), bounce (a ping-pong claim)."""

    table: ibis.Table
    #: activity -> (instances, cases)
    counts: pd.DataFrame
    #: activities whose first occurrences lie in loop bodies (the loop-back path)
    loop_only: list[str]
    has_customer_steps: bool


def repeats(ctx: FindingContext) -> Repeats:
    """The repeat table of ``ctx`` (shared by the rework and customer-loop detectors)."""
    return cached(ctx, "repeats", lambda: _repeats(ctx))


def _repeats(ctx: FindingContext) -> Repeats:
    import ibis

    from flowlens.analysis.journeys import detect_column
    from flowlens.findings.pingpong import bounces

    contact = detect_column(ctx.log, "contact", ctx.journey_options.get("contact", "auto"))
    req = group_members(ctx, "information_request", activities_of(ctx))
    x = instance_table(ctx)
    if contact is not None:
        lt = ctx.log.table
        ct = lt.select(k_eid="eid", con=lt[contact].cast("string"))
        x = x.join(ct, x.eid == ct.k_eid).drop("k_eid")
    else:
        x = x.mutate(con=ibis.null("string"))
    x = x.mutate(req=isin(x.activity, req))
    wa = ibis.window(group_by=[x.case_idx, x.activity], order_by=x.pos)
    x = x.mutate(
        occ=ibis.row_number().over(wa) + 1,
        prev_pos=x.pos.lag().over(wa),
        prev_eid=x.eid.lag().over(wa),
        prev_res=x.resource.lag().over(wa),
        prev_con=x.con.lag().over(wa),
    )
    upto = ibis.window(group_by=x.case_idx, order_by=x.pos, rows=(None, 0))
    x = x.mutate(c_req=x.req.cast("int64").sum().over(upto), c_cust=x.cust.cast("int64").sum().over(upto))
    rep = x.occ >= 2
    after = ibis.window(group_by=x.case_idx, order_by=x.pos, rows=(1, None))
    x = x.mutate(
        min_prev_after=ibis.ifelse(rep, x.prev_pos, ibis.null("int64")).min().over(after),
        next_rep_pos=ibis.ifelse(rep, x.pos, ibis.null("int64")).min().over(after),
    )
    p = x.select(p_eid="eid", p_req="c_req", p_cust="c_cust")
    y = x.left_join(p, x.prev_eid == p.p_eid).drop("p_eid")
    y = y.mutate(
        body=y.pos - y.prev_pos - 1,
        has_req=((y.c_req - y.p_req) > 0).fill_null(False),
        has_cust=((y.c_cust - y.p_cust) > 0).fill_null(False),
        covered=(y.min_prev_after < y.pos).fill_null(False),
        # a repeat in a later contact is a repeat contact (the journey detectors), not rework
        new_contact=(y.con != y.prev_con).fill_null(False),
    )
    b = bounces(ctx)
    if b.claims is not None:
        bc = b.claims.select(b_eid="eid", bounce=ibis.literal(True))
        y = y.left_join(bc, y.eid == bc.b_eid).drop("b_eid")
        y = y.mutate(bounce=y.bounce.fill_null(False))
    else:
        y = y.mutate(bounce=ibis.literal(False))
    y = y.drop("c_req", "c_cust", "p_req", "p_cust", "min_prev_after", "prev_eid")
    table = ctx.log.engine.materialize(y, prefix="fl_rework")
    first = table.filter(table.occ == 1)
    counts = (
        table.group_by("activity")
        .aggregate(
            n=table.count(), cases=table.case_idx.nunique(), repeats=(table.occ >= 2).cast("int64").sum()
        )
        .to_pandas()
    )
    lo = (
        first.group_by("activity")
        .aggregate(n1=first.count(), n_cov=first.covered.cast("int64").sum())
        .to_pandas()
    )
    loop_only = sorted(lo[(lo.n_cov >= LOOP_ONLY_SHARE * lo.n1) & (lo.n_cov > 0)].activity.astype(str))
    has_cust = any(customer_markers(ctx))
    return Repeats(table, counts, loop_only, has_cust)


# -- follow-ups ---------------------------------------------------------------------------------
@dataclass
class FollowUpCurve:
    """The data-driven follow-up threshold of one activity."""

    activity: str
    threshold: int
    source: str
    #: k -> (cases reaching k, cases ending after k with a favourable exit)
    curve: dict[int, tuple[int, int]]
    favourable_exits: list[str]


def follow_up_curves(ctx: FindingContext) -> dict[str, FollowUpCurve]:
    """Per follow-up activity that repeats: its threshold (module docstring)."""
    return cached(ctx, "follow_up_curves", lambda: _follow_up_curves(ctx))


def _follow_up_curves(ctx: FindingContext) -> dict[str, FollowUpCurve]:
    rp = repeats(ctx)
    fu = role_members(ctx, "follow_up", activities_of(ctx))
    c = rp.counts
    fu = [a for a in fu if int(c.loc[c.activity == a, "repeats"].sum()) > 0]
    if not fu:
        return {}
    t = rp.table
    f = t.filter(t.activity.isin(fu))
    per = f.group_by(["activity", "case_idx"]).aggregate(n=f.occ.max(), last=f.pos.max())
    nx = t.select(x_case="case_idx", x_pos=t.pos - 1, exit=t.activity)
    per = per.left_join(nx, [per.case_idx == nx.x_case, per.last == nx.x_pos])
    dist = per.group_by(["activity", "n", "exit"]).aggregate(cases=per.count()).to_pandas()
    dist["exit"] = dist["exit"].fillna("(end of case)")
    out = {}
    for act, d in dist.groupby("activity"):
        out[str(act)] = _curve(str(act), d)
    return out


def _curve(act: str, d: pd.DataFrame) -> FollowUpCurve:
    total = d.cases.sum()
    single = d[d.n == 1]
    n_single = int(single.cases.sum())
    if n_single < MIN_SINGLE or total == 0:
        return FollowUpCurve(
            act, DEFAULT_FOLLOW_UPS, "domain default (too few cases with one follow-up)", {}, []
        )
    p_all = d.groupby("exit").cases.sum() / total
    p_one = single.groupby("exit").cases.sum() / n_single
    fav = sorted(str(e) for e, v in p_one.items() if v >= p_all.get(e, 0.0))
    d = d.assign(fav=d.exit.isin(fav))
    curve: dict[int, tuple[int, int]] = {}
    kmax = int(d.n.max())
    for k in range(1, kmax + 1):
        reach = int(d[d.n >= k].cases.sum())
        ok = int(d[(d.n == k) & d.fav].cases.sum())
        curve[k] = (reach, ok)
    s1 = curve[1][1] / curve[1][0] if curve[1][0] else 0.0
    if s1 <= 0:
        return FollowUpCurve(act, DEFAULT_FOLLOW_UPS, "domain default (no favourable exit)", curve, fav)
    for k in range(1, kmax):
        reach, ok = curve[k + 1]
        if reach < MIN_REACHING:
            break
        if ok / reach < DROP_FACTOR * s1:
            return FollowUpCurve(act, k, "data", curve, fav)
    if curve.get(2, (0, 0))[0] < MIN_REACHING:
        return FollowUpCurve(
            act, DEFAULT_FOLLOW_UPS, "domain default (too few cases with repeats)", curve, fav
        )
    # every further follow-up stays effective: none is excess
    return FollowUpCurve(act, kmax, "data (no drop)", curve, fav)


def _follow_up_claims(ctx: FindingContext) -> tuple[ibis.Table | None, dict[str, FollowUpCurve]]:
    """Excess follow-up instances (occ > threshold) of the activities that have any."""
    curves = {
        a: c
        for a, c in follow_up_curves(ctx).items()
        if c.threshold < max(c.curve, default=DEFAULT_FOLLOW_UPS + 1)
    }
    t = repeats(ctx).table
    if not curves:
        return None, {}
    import ibis

    cond = ibis.literal(False)
    for a, c in curves.items():
        cond = cond | ((t.activity == a) & (t.occ > c.threshold))
    ex = t.filter(cond & ~t.bounce)
    return ex, curves


# -- rework and loops ---------------------------------------------------------------------------
def loop_claims(ctx: FindingContext) -> tuple[ibis.Table, pd.DataFrame]:
    """Claims of the rework, loop, customer-loop and follow-up findings: eid, case_id, kind,
    head, part ("both", "wait" or "proc": which of the instance's waiting and processing is
    counted), anchor (a repeat) and the times; and the heads' groups (kind, activity, head)."""
    return cached(ctx, "loop_claims", lambda: _loop_claims(ctx))


def _loop_claims(ctx: FindingContext) -> tuple[ibis.Table, pd.DataFrame]:
    import ibis

    rp = repeats(ctx)
    t = rp.table
    acts = activities_of(ctx)
    journey = sorted(set().union(*(group_members(ctx, g, acts) for g in JOURNEY_GROUPS)))
    ex, curves = _follow_up_claims(ctx)
    owned_fu = sorted(curves)
    reps = t.filter((t.occ >= 2) & ~t.bounce & ~t.new_contact & ~isin(t.activity, owned_fu))
    customer = reps.has_req & reps.has_cust
    if not rp.has_customer_steps:
        customer = reps.has_req
    kind = ibis.cases(
        (customer, "customer_wait_loop"),
        (reps.body == 0, "rework"),
        else_="loop",
    )
    reps = reps.mutate(kind=kind)
    reps = reps.filter((reps.kind == "customer_wait_loop") | ~isin(reps.activity, journey))
    reps = ctx.log.engine.materialize(reps, prefix="fl_rework_reps")
    # merge heads of loops whose repeat cases coincide
    hc = reps.select("kind", "activity", "case_idx").distinct()
    sizes = hc.group_by(["kind", "activity"]).aggregate(cases=hc.count()).to_pandas()
    a1 = hc.rename(a="activity")
    a2 = hc.select(k2="kind", b="activity", c2="case_idx")
    inter = a1.join(a2, [a1.kind == a2.k2, a1.case_idx == a2.c2, a1.a < a2.b])
    inter = inter.group_by(["kind", "a", "b"]).aggregate(both=inter.count()).to_pandas()
    proc = reps.group_by(["kind", "activity"]).aggregate(proc=reps.proc.sum(), n=reps.count()).to_pandas()
    groups = _merge_heads(sizes, inter, proc)
    gm = ibis.memtable(
        groups.rename(columns={"kind": "g_kind", "activity": "g_act"}),
        schema={"g_kind": "string", "g_act": "string", "head": "string"},
    )
    reps = reps.join(gm, [reps.kind == gm.g_kind, reps.activity == gm.g_act]).drop("g_kind", "g_act")
    rep_claims = reps.select(
        "eid",
        "case_idx",
        "case_id",
        "kind",
        "head",
        "wait",
        "proc",
        "staff",
        part=ibis.literal("both"),
        anchor=ibis.literal(True),
    )
    # loop-back path: first occurrences of loop-only activities inside the body of the next repeat
    lo = t.filter((t.occ == 1) & t.covered & isin(t.activity, rp.loop_only) & ~t.bounce)
    nr = reps.select(n_case="case_idx", n_pos="pos", n_prev="prev_pos", n_kind="kind", n_head="head")
    lo = lo.join(nr, [lo.case_idx == nr.n_case, lo.next_rep_pos == nr.n_pos])
    lo = lo.filter(lo.n_prev < lo.pos)
    path = lo.select(
        "eid",
        "case_idx",
        "case_id",
        kind=lo.n_kind,
        head=lo.n_head,
        wait=lo.wait,
        proc=lo.proc,
        staff=lo.staff,
        part=ibis.literal("wait"),
        anchor=ibis.literal(False),
    )
    claims = rep_claims.union(path, distinct=False)
    if ex is not None:
        fu = ex.select(
            "eid",
            "case_idx",
            "case_id",
            kind=ibis.literal("excess_follow_up"),
            head=ex.activity,
            wait=ex.wait,
            proc=ex.proc,
            staff=ex.staff,
            part=ibis.literal("both"),
            anchor=ibis.literal(True),
        )
        claims = claims.union(fu, distinct=False)
    # waiting that an idle status or a ping-pong return claims is theirs (more specific)
    from flowlens.findings.customer_loops import idle_claims
    from flowlens.findings.pingpong import assignment_priced

    reserved = [
        r.select(r_eid="eid") for r in (idle_claims(ctx), assignment_priced(ctx).claims) if r is not None
    ]
    if reserved:
        res = reserved[0]
        for r in reserved[1:]:
            res = res.union(r)
        res = res.distinct().mutate(r_hit=ibis.literal(True))
        claims = claims.left_join(res, claims.eid == res.r_eid).drop("r_eid")
        hit = claims.r_hit.fill_null(False)
        part = ibis.cases(
            (hit & (claims.part == "both"), "proc"),
            (hit & (claims.part == "wait"), "none"),
            else_=claims.part,
        )
        claims = claims.mutate(part=part).drop("r_hit")
        claims = claims.filter(claims.part != "none")
    claims = ctx.log.engine.materialize(claims, prefix="fl_rework_claims")
    return claims, groups


def _merge_heads(sizes: pd.DataFrame, inter: pd.DataFrame, proc: pd.DataFrame) -> pd.DataFrame:
    """kind, activity, head: loops whose repeat cases nearly coincide share the head with the most
    processing time (then most repeats, then name). Self-loops (rework) are never merged."""
    rows = []
    for kind, s in sizes.groupby("kind"):
        p = proc[proc.kind == kind].set_index("activity")
        order = sorted(
            s.activity.astype(str),
            key=lambda a: (-float(p.proc.get(a, 0)), -int(p.n.get(a, 0)), a),
        )
        size = dict(zip(s.activity.astype(str), s.cases.astype(int), strict=True))
        both = {}
        for a, b, n in inter[inter.kind == kind][["a", "b", "both"]].itertuples(index=False):
            both[(str(a), str(b))] = both[(str(b), str(a))] = int(n)
        head_of: dict[str, str] = {}
        for a in order:
            if a in head_of:
                continue
            head_of[a] = a
            if kind == "rework":
                continue
            for b in order:
                if b in head_of:
                    continue
                n = both.get((a, b), 0)
                small, large = sorted((size[a], size[b]))
                if n and n >= MERGE_WITHIN * small and n >= MERGE_SHARE * large:
                    head_of[b] = a
        rows += [(kind, a, h) for a, h in head_of.items()]
    return pd.DataFrame(rows, columns=["kind", "activity", "head"])


def priced(ctx: FindingContext, kinds: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per (kind, head, case_id): customer time t_s, staff time staff_s, occurrences; and per
    (kind, head): waiting and processing totals."""
    claims, _ = loop_claims(ctx)
    c = claims.filter(claims.kind.isin(list(kinds)))
    t = c.wait * (c.part != "proc").cast("int64") + c.proc * (c.part != "wait").cast("int64")
    per = (
        c.group_by(["kind", "head", "case_id"])
        .aggregate(
            t=t.sum(),
            staff_t=c.proc.sum(where=c.staff & (c.part != "wait")),
            occ=c.anchor.cast("int64").sum(),
        )
        .to_pandas()
    )
    per["t_s"] = per.t.astype(float) / US
    per["staff_s"] = per.staff_t.fillna(0).astype(float) / US
    tot = (
        c.group_by(["kind", "head"])
        .aggregate(
            wait=c.wait.sum(where=c.part != "proc"),
            proc=c.proc.sum(where=c.part != "wait"),
        )
        .to_pandas()
    )
    return per, tot


def head_stats(ctx: FindingContext, kind: str) -> pd.DataFrame:
    """Per head of ``kind``: repeats, repeat (same resource), redo, unknown resource, self-loops,
    minimum self-distance, members."""
    claims, groups = loop_claims(ctx)
    t = repeats(ctx).table
    g = groups[groups.kind == kind]
    if g.empty:
        return pd.DataFrame()
    a = claims.filter((claims.kind == kind) & claims.anchor).select(c_eid="eid", c_head="head")
    r = t.join(a, t.eid == a.c_eid)
    r = r.filter(r.activity == r.c_head)
    known = r.resource.notnull() & r.prev_res.notnull()
    st = (
        r.group_by("c_head")
        .aggregate(
            repeats=r.count(),
            same=(known & (r.resource == r.prev_res)).cast("int64").sum(),
            redo=(known & (r.resource != r.prev_res)).cast("int64").sum(),
            self_loops=(r.body == 0).cast("int64").sum(),
            msd=r.body.min(),
            cases=r.case_idx.nunique(),
        )
        .to_pandas()
        .rename(columns={"c_head": "head"})
    )
    st["members"] = [sorted(g[g["head"] == h].activity.astype(str)) for h in st["head"]]
    return st


def loop_bodies(
    ctx: FindingContext, kind: str, heads: list[str], sample: int = 5000
) -> dict[str, list[tuple[str, float]]]:
    """Per head: the activities of its loop body with the share of repeats whose body holds
    them, in their usual order (mean relative position), from up to ``sample`` repeats."""
    import ibis

    if not heads:
        return {}
    claims, _ = loop_claims(ctx)
    t = repeats(ctx).table
    a = claims.filter((claims.kind == kind) & claims.anchor & claims["head"].isin(heads)).select(c_eid="eid")
    r = t.join(a, t.eid == a.c_eid)
    r = r.filter((r.body > 0) & r.activity.isin(heads))
    r = r.mutate(rk=ibis.row_number().over(ibis.window(group_by=r.activity, order_by=[r.eid.hash(), r.eid])))
    r = r.filter(r.rk < sample).select(
        r_case="case_idx", r_eid="eid", r_from="prev_pos", r_to="pos", r_act="activity"
    )
    b = t.select("case_idx", "pos", "activity")
    j = r.join(b, [r.r_case == b.case_idx, b.pos > r.r_from, b.pos < r.r_to])
    j = j.mutate(rel=(j.pos - j.r_from).cast("float64") / (j.r_to - j.r_from).cast("float64"))
    agg = j.group_by(["r_act", "activity"]).aggregate(n=j.r_eid.nunique(), rel=j.rel.mean()).to_pandas()
    n = r.group_by("r_act").aggregate(n=r.count()).to_pandas()
    totals = dict(zip(n.r_act.astype(str), n.n.astype(int), strict=True))
    out: dict[str, list[tuple[str, float]]] = {}
    for h, g in agg.groupby("r_act"):
        tot = totals.get(str(h), 0) or 1
        g = g.assign(share=g.n / tot).sort_values(["rel", "activity"])
        out[str(h)] = [(str(a), float(s)) for a, s in zip(g.activity, g.share, strict=True)]
    return out


def min_cases_default(ctx: FindingContext) -> int:
    return max(3, round(0.001 * ctx.log.n_cases))


def _typical_path(body: list[tuple[str, float]], share: float = 0.5) -> list[str]:
    return [a for a, s in body if s >= share]


def _rework_findings(
    ctx: FindingContext, kinds: tuple[str, ...], detector: str, min_cases: int
) -> list[Finding]:
    per, tot = priced(ctx, kinds)
    if per.empty:
        return []
    counts = repeats(ctx).counts.set_index("activity")
    out = []
    for kind in kinds:
        stats = head_stats(ctx, kind)
        if stats.empty:
            continue
        bodies = loop_bodies(ctx, kind, list(stats["head"])) if kind != "rework" else {}
        for row in stats.itertuples(index=False):
            head = str(row.head)
            pc = per[(per.kind == kind) & (per["head"] == head)]
            n = pc.case_id.nunique()
            if n < min_cases or (kind != "customer_wait_loop" and pc.t_s.sum() < MIN_PER_CASE_S * n):
                continue
            out.append(_loop_finding(ctx, kind, head, row, pc, tot, counts, bodies.get(head, []), detector))
    return out


def _loop_finding(
    ctx: FindingContext,
    kind: str,
    head: str,
    row: Any,
    pc: pd.DataFrame,
    tot: pd.DataFrame,
    counts: pd.DataFrame,
    body: list[tuple[str, float]],
    detector: str,
) -> Finding:
    n_occ = int(counts.n.get(head, row.repeats))
    p = float(row.repeats) / n_occ if n_occ else 0.0
    tt = tot[(tot.kind == kind) & (tot["head"] == head)]
    wait_s = float(tt.wait.sum()) / US
    proc_s = float(tt.proc.fillna(0).sum()) / US
    cases = pc.case_id.nunique()
    path = _typical_path(body)
    members = [m for m in row.members if m != head]
    acts = [head, *[a for a in path if a != head], *[m for m in members if m not in path]]
    known = int(row.same) + int(row.redo)
    split = (
        f"{int(row.redo) / known:.0%} redone by someone else, {int(row.same) / known:.0%} repeated by the same person"
        if known
        else "resources not recorded"
    )
    per_case = float(pc.t_s.sum()) / max(cases, 1)
    loop_txt = " → ".join([head, *path, head]) if path else None
    if kind == "rework":
        title = f"'{head}' is done again straight away: {int(row.repeats):,} times in {cases:,} cases"
        evidence = (
            f"{cases:,} cases do '{head}' again right after doing it ({split}); "
            f"the repeats add {human(per_case)} per case."
        )
        scenario = Scenario(
            "cut_loop",
            {"activity": head, "loop_probability": round(p, 4), "target_probability": 0.0},
            f"do '{head}' right the first time (no immediate repeat)",
        )
    elif kind == "customer_wait_loop":
        title = f"The customer is asked again: '{head}' loops {int(row.repeats):,} times in {cases:,} cases"
        evidence = (
            f"{cases:,} cases go round "
            + (f"'{loop_txt}'" if loop_txt else f"'{head}' again")
            + f" with a request to the customer in the loop; each case loses {human(per_case)}, "
            f"{human(wait_s / max(cases, 1))} of it waiting."
        )
        scenario = Scenario(
            "reduce_repeats",
            {
                "activity": head,
                "loop": [head, *path],
                "loop_probability": round(p, 4),
                "target_probability": round(min(p, 0.10), 4),
            },
            "ask for everything at once (document checklist, digital upload) so the loop is rarely needed",
        )
    else:
        title = (
            f"Cases go back to '{head}'"
            + (f" after '{path[-1]}'" if path else "")
            + (f": {int(row.repeats):,} returns in {cases:,} cases")
        )
        evidence = (
            f"{cases:,} cases go round "
            + (f"'{loop_txt}'" if loop_txt else f"a loop back to '{head}'")
            + f" ({split}); each case loses {human(per_case)}."
        )
        scenario = Scenario(
            "cut_loop",
            {
                "activity": head,
                "loop": [head, *path],
                "loop_probability": round(p, 4),
                "target_probability": 0.0,
            },
            f"remove the cause of the return to '{head}' (the loop is no longer taken)",
        )
    return build_finding(
        ctx,
        kind=kind,
        title=title,
        activities=acts,
        per_case=pc[["case_id", "t_s"]],
        occurrences=int(pc.occ.sum()),
        staff_time_s=float(pc.staff_s.sum()),
        evidence=evidence,
        scenario=scenario,
        details={
            "repeats": int(row.repeats),
            "repeat": int(row.same),
            "redo": int(row.redo),
            "self_loops": int(row.self_loops),
            "min_self_distance": int(row.msd) if pd.notna(row.msd) else None,
            "loop_probability": p,
            "expected_visits": 1.0 / (1.0 - p) if p < 1 else None,
            "loop_body": [{"activity": a, "share": round(s, 4)} for a, s in body],
            "merged_activities": members,
            "waiting_s": wait_s,
            "processing_s": proc_s,
            **({"catalogue": "W4"} if kind == "customer_wait_loop" else {}),
        },
        detector=detector,
    )


def detect_rework(ctx: FindingContext, *, min_cases: int | None = None) -> list[Finding]:
    """Rework (self-loops) and loops (returns with a body) by repeated activity."""
    mc = min_cases_default(ctx) if min_cases is None else min_cases
    return _rework_findings(ctx, ("rework", "loop"), NAME, mc)


detect_rework.name = NAME  # type: ignore[attr-defined]


def detect_excess_follow_ups(ctx: FindingContext, *, min_cases: int | None = None) -> list[Finding]:
    """Follow-up contacts beyond the data-driven threshold (module docstring)."""
    mc = min_cases_default(ctx) if min_cases is None else min_cases
    per, tot = priced(ctx, ("excess_follow_up",))
    curves = follow_up_curves(ctx)
    out = []
    for head, pc in per.groupby("head"):
        head = str(head)
        cases = pc.case_id.nunique()
        if cases < mc:
            continue
        c = curves[head]
        k = c.threshold
        rates = {kk: (ok / reach if reach else None) for kk, (reach, ok) in c.curve.items()}
        s1, sk1 = rates.get(1), rates.get(k + 1)
        extra = int(pc.occ.sum())
        tt = tot[tot["head"] == head]
        wait_s = float(tt.wait.sum()) / US
        proc_s = float(tt.proc.fillna(0).sum()) / US
        exits = ", ".join(f"'{e}'" for e in c.favourable_exits[:3]) or "a favourable step"
        at_default = _at_threshold(ctx, head, DEFAULT_FOLLOW_UPS) if k != DEFAULT_FOLLOW_UPS else None
        if s1 is not None and sk1 is not None and c.source == "data":
            why = (
                f"after {k} '{head}', the next one is followed by {exits} in {sk1:.0%} of cases, "
                f"against {s1:.0%} for the first"
            )
        else:
            why = f"beyond {k} '{head}' ({c.source})"
        out.append(
            build_finding(
                ctx,
                kind="excess_follow_up",
                title=f"'{head}' is repeated beyond {k}: {extra:,} extra in {cases:,} cases",
                activities=[head],
                per_case=pc[["case_id", "t_s"]],
                occurrences=extra,
                staff_time_s=float(pc.staff_s.sum()),
                evidence=(
                    f"{why}; {cases:,} cases get {extra:,} more, costing {human(proc_s)} of calls "
                    f"and keeping the case open {human(wait_s)} longer in total."
                ),
                scenario=Scenario(
                    "limit_repeats",
                    {"activity": head, "max": k},
                    f"stop after {k} '{head}' (then a written reminder or closing the case)",
                ),
                details={
                    "catalogue": "W11",
                    "threshold": k,
                    "threshold_source": c.source,
                    "default_threshold": DEFAULT_FOLLOW_UPS,
                    "curve": {
                        str(kk): {"cases_reaching": r, "ended_favourably": o}
                        for kk, (r, o) in c.curve.items()
                    },
                    "favourable_exits": c.favourable_exits,
                    "at_default_threshold": at_default,
                    "waiting_s": wait_s,
                    "processing_s": proc_s,
                },
                detector=FOLLOW_UP_NAME,
            )
        )
    return out


def _at_threshold(ctx: FindingContext, activity: str, k: int) -> dict[str, float]:
    """What the excess would be with threshold ``k`` (for comparison with the data's)."""
    t = repeats(ctx).table
    e = t.filter((t.activity == activity) & (t.occ > k) & ~t.bounce)
    row = e.aggregate(n=e.count(), cases=e.case_idx.nunique(), t=(e.wait + e.proc).sum()).to_pandas().iloc[0]
    return {
        "threshold": k,
        "occurrences": int(row.n),
        "cases": int(row.cases),
        "customer_time_s": float(row.t or 0) / US,
    }


detect_excess_follow_ups.name = FOLLOW_UP_NAME  # type: ignore[attr-defined]
