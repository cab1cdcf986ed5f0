"""Ping-pong: work bouncing between two teams, support lines or people and back (docs/methods.md
13.7, after methods 6 and Celonis "Ping Pong Cases").

Two kinds of evidence, both priced in the waiting they add:

1. **Reassignments.** Steps that hand the case on (reassign, reroute, send back, 转派, 改派;
   :mod:`flowlens.findings.signals`) are explicit bounces. Each is counted with the team before
   and after it; the time a bounce adds is the waiting and processing of the reassignment steps
   and of the steps that only occur in reassigned cases after the first reassignment (the
   wrong team's review), never the regular work that follows.
2. **Returns on the assignment attribute** (team, org:group, support line, queue; detected or
   given). Per case the staff steps form *stints* of one value; a return is a stint of X after
   a stint of another value, with at most ``window`` events since X was left: *direct*
   (X → Y → X) or *indirect* (X → Y → … → X), in which X does a step again that it did before
   in the case (the work came back to it; X coming back only for its next task of the process
   is the route). A return that passes through a step of the customer (a reopened case, a
   customer wait) is no bounce. Returns that are part of the
   process design are not waste, nor is a return in a later contact (a repeat contact, when
   the log has contact ids): per pair (X, Y) the median number of returns among cases with
   an X → Y hop is the structural baseline (a consult that always comes back), and only returns
   beyond it count. The time a return adds is the waiting of every step from leaving X until
   X works again (except waiting an idle status claims: :mod:`flowlens.findings.customer_loops`);
   a return that adds less than a minute is parallel work seen in end-time order, not a bounce.
   Cases already counted through reassignments are left out.

The ping-pong rate of a pair is the share of the cases with an X → Y hop that return beyond
the baseline.

>>> import flowlens, pandas as pd
>>> rows = []
>>> for c in range(4):
...     seq = [("handle", "L1"), ("handle", "L2"), ("handle", "L1")] + ([("handle", "L2"), ("handle", "L1")] if c < 2 else [])
...     rows += [(str(c), a, f"2024-01-0{c + 1} {9 + i}:00", f"2024-01-0{c + 1} {9 + i}:30", f"r{g}", g)
...              for i, (a, g) in enumerate(seq)]
>>> df = pd.DataFrame(rows, columns=["case", "activity", "start", "end", "resource", "team"])
>>> from flowlens.findings.context import FindingContext
>>> [(f.kind, f.cases, f.occurrences) for f in detect_ping_pong(FindingContext(flowlens.read_log(df)), min_cases=2)]
[('ping_pong', 2, 4)]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.analysis.step_roles import is_staff
from flowlens.findings.instances import codes_of, contacts_of, instance_table, with_case_id
from flowlens.findings.model import Finding, Scenario
from flowlens.findings.rank import min_cases as support
from flowlens.findings.signals import (
    US,
    activities_of,
    assignment_column,
    build_finding,
    cached,
    count_text,
    human_value,
    is_missing,
    isin,
    role_members,
    share_text,
)
from flowlens.i18n import M_
from flowlens.units import percent_value

if TYPE_CHECKING:
    import ibis

    from flowlens.findings.context import FindingContext

NAME = "ping_pong"
#: events between leaving a value and coming back within which a return counts
WINDOW = 10
#: a return must add at least this much waiting (seconds) to count
MIN_RETURN_WAIT_S = 60.0
#: an activity is bounce work when this share of its instances follow a reassignment
BOUNCE_ONLY_SHARE = 0.9


@dataclass
class Bounces:
    """Reassignment bounces: claimed instances and per-reassignment hops."""

    #: activities that hand the case on
    reassignment: list[str]
    #: activities that (almost) only occur after a reassignment
    bounce_work: list[str]
    #: eid, case_idx, case_id, activity, wait, proc (staff effort), cproc (customer time),
    #: staff: the instances whose time bounces add
    claims: ibis.Table | None
    #: per reassignment: case_id, activity, from_team, to_team
    hops: pd.DataFrame = field(default_factory=pd.DataFrame)


def bounces(ctx: FindingContext) -> Bounces:
    """The reassignment bounces of ``ctx`` (computed once; the rework detector leaves their
    instances to this one)."""
    return cached(ctx, "bounces", lambda: _bounces(ctx))


def _bounces(ctx: FindingContext) -> Bounces:
    acts = activities_of(ctx)
    rs_acts = role_members(ctx, "reassignment", acts)
    if not rs_acts:
        return Bounces([], [], None)
    it = instance_table(ctx)
    is_rs = it.acode.isin(codes_of(ctx, rs_acts))
    x = it.mutate(rs=is_rs)
    # the case's first reassignment: an aggregate of the (few) reassignments joined back, not a
    # window by case (which sorts every column of every instance)
    rx = x.filter(x.rs)
    fr = rx.group_by("case_idx").aggregate(first_rs=rx.pos.min()).rename(f_case="case_idx")
    x = x.left_join(fr, x.case_idx == fr.f_case).drop("f_case")
    x = x.mutate(scope=(x.pos >= x.first_rs).fill_null(False))
    n_cases = ctx.log.n_cases
    nr = x.filter(~x.rs)
    stats = (
        nr.group_by("activity")
        # the cases with the activity are its first occurrences: a sum, not a count of
        # distinct cases (the filter keeps or drops whole activities)
        .aggregate(
            n=nr.count(), n_scope=nr.scope.cast("int64").sum(), cases=(nr.occ == 1).cast("int64").sum()
        )
        .to_pandas()
    )
    work = stats[
        (stats.n_scope >= BOUNCE_ONLY_SHARE * stats.n) & (stats.n_scope >= 1) & (stats.cases <= 0.5 * n_cases)
    ]
    bounce_work = sorted(work.activity.astype(str))
    claims = x.filter(x.scope & (x.rs | isin(x.acode, codes_of(ctx, bounce_work)))).select(
        "eid", "case_idx", "activity", "wait", "proc", "cproc", "staff"
    )
    claims = with_case_id(ctx, claims)
    claims = ctx.store(
        claims.select("eid", "case_idx", "case_id", "activity", "wait", "proc", "cproc", "staff"),
        prefix="fl_pp_claims",
    )
    # The team before and after each reassignment (last and next staff step): range joins of
    # the reassignments with the staff steps of their case, not ordered passes over every
    # instance. They read the instance table itself: its projections of ``x`` would join the
    # first reassignment to every instance once per reader.
    rr = it.filter(is_rs).select("eid", "case_idx", "activity", "pos")
    sp = it.filter(it.staff).select(s_case="case_idx", s_pos="pos")
    jb = rr.join(sp, [rr.case_idx == sp.s_case, sp.s_pos < rr.pos])
    jb = jb.group_by("eid").aggregate(p_before=jb.s_pos.max()).rename(b_eid="eid")
    ja = rr.join(sp, [rr.case_idx == sp.s_case, sp.s_pos > rr.pos])
    ja = ja.group_by("eid").aggregate(p_after=ja.s_pos.min()).rename(a_eid="eid")
    r = rr.left_join(jb, rr.eid == jb.b_eid).left_join(ja, rr.eid == ja.a_eid)
    r = with_case_id(ctx, r.select("case_idx", "activity", "pos", "p_before", "p_after"))
    # the teams and resources are the time model's (the instance table carries codes alone)
    ti = ctx.tm.instances
    tm = ti.select(t_case="case_idx", t_pos="pos", t_team="team", t_res="resource")
    r = r.left_join(tm, [r.case_idx == tm.t_case, r.p_before == tm.t_pos]).drop("t_case", "t_pos")
    r = r.rename(from_team="t_team", from_res="t_res")
    tm2 = ti.select(u_case="case_idx", u_pos="pos", u_team="team", u_res="resource")
    r = r.left_join(tm2, [r.case_idx == tm2.u_case, r.p_after == tm2.u_pos]).drop("u_case", "u_pos")
    r = r.rename(to_team="u_team", to_res="u_res")
    hops = r.select("case_id", "activity", "pos", "from_team", "to_team", "from_res", "to_res").to_pandas()
    return Bounces(rs_acts, bounce_work, claims, hops)


def _team_label(team: Any, res: Any) -> str:
    if isinstance(team, str) and not is_missing(team):
        return team
    if isinstance(res, str) and not is_missing(res):
        return res
    return "?"


def _reassignment_findings(ctx: FindingContext, b: Bounces) -> list[Finding]:
    if b.claims is None or b.hops.empty:
        return []
    c = b.claims
    per = (
        c.group_by("case_id")
        .aggregate(
            t=(c.wait + c.cproc).sum(),
            staff_t=c.proc.sum(where=c.staff),
        )
        .to_pandas()
    )
    per = per.sort_values("case_id", kind="stable").reset_index(drop=True)
    per["t_s"] = per.t.astype(float) / US
    per["staff_s"] = per.staff_t.fillna(0).astype(float) / US
    hops = b.hops.sort_values(["case_id", "pos"])
    hops["src"] = [_team_label(t, r) for t, r in zip(hops.from_team, hops.from_res, strict=True)]
    hops["dst"] = [_team_label(t, r) for t, r in zip(hops.to_team, hops.to_res, strict=True)]
    out = []
    n_all = ctx.log.n_cases
    for act, h in hops.groupby("activity", sort=True):
        cases = sorted(h.case_id.astype(str).unique())
        pc = per[per.case_id.isin(cases)][["case_id", "t_s", "staff_s"]]
        # direct returns: the work goes back to the team it came from within the case
        direct = 0
        for _, g in h.groupby("case_id"):
            seq = [g.src.iloc[0], *g.dst.tolist()]
            direct += sum(1 for i in range(2, len(seq)) if seq[i] == seq[i - 2] and seq[i] != seq[i - 1])
        pairs = (
            h.assign(pair=[" ↔ ".join(sorted((s, d))) for s, d in zip(h.src, h.dst, strict=True)])
            .groupby("pair")
            .size()
            .sort_values(ascending=False)
        )
        teams = list(dict.fromkeys(t for p in pairs.index[:3] for t in p.split(" ↔ ")))
        occ = len(h)
        within = h[h.from_team.notna() & (h.from_team == h.to_team)]
        if len(within) >= 0.5 * occ:
            home = within.from_team.mode().iloc[0]
            teams = [home]
            where = M_("Cases are handed between people of {team}", team=home)
        elif len(teams) == 2:
            where = M_("Cases bounce between {first} and {second}", first=teams[0], second=teams[1])
        else:
            where = M_("Cases bounce between {teams}", teams=", ".join(teams[:3]))
        avg = float(pc.t_s.sum()) / occ if occ else 0.0
        acts = [str(act), *b.bounce_work]
        out.append(
            build_finding(
                ctx,
                kind="ping_pong",
                title=M_(
                    "{where}: '{activity}' {times} times in {cases} cases",
                    where=where,
                    activity=act,
                    times=count_text(occ),
                    cases=count_text(len(cases)),
                ),
                activities=acts,
                per_case=pc,
                occurrences=occ,
                staff_time_s=float(pc.staff_s.sum()),
                evidence=M_(
                    "{cases} cases ({share} of all) are handed on with '{activity}' {mean} times on average "
                    "({direct} hops go straight back to the team the case came from); each bounce adds {time} "
                    "of queueing and handling.",
                    cases=count_text(len(cases)),
                    share=percent_value(len(cases) / max(n_all, 1), f"{len(cases) / max(n_all, 1):.1%}", 1),
                    activity=act,
                    mean=format(occ / len(cases), ".1f"),
                    direct=count_text(direct),
                    time=human_value(avg),
                ),
                scenario=Scenario(
                    "remove_activity",
                    {"activities": acts, "reason": "route the case right the first time"},
                    M_("route the case to the team that finishes it the first time: no reassignment"),
                ),
                resources=teams,
                details={
                    "evidence_type": "reassignment",
                    "catalogue": "W5",
                    "reassignments": occ,
                    "direct_returns": direct,
                    "within_team_share": len(within) / occ,
                    "bounce_work": b.bounce_work,
                    "pairs": {str(k): int(v) for k, v in pairs.items()},
                    "ping_pong_rate": len(cases) / max(n_all, 1),
                    "bounces_per_case": {
                        int(k): int(v)
                        for k, v in h.groupby("case_id").size().value_counts().sort_index().items()
                    },
                },
                detector=NAME,
            )
        )
    return out


def assignment_returns(ctx: FindingContext, column: str | None = None, window: int = WINDOW) -> pd.DataFrame:
    """Returns on the assignment attribute beyond the structural baseline (module docstring):
    one row per counted return (case_id, x, y, direct, p_from, p_to: the positions of the last
    step before leaving x and of the first step back); ``attrs`` holds the column and the
    per-pair baselines."""
    key = f"returns:{column}:{window}"
    return cached(ctx, key, lambda: _assignment_returns(ctx, column, window))


def _assignment_returns(ctx: FindingContext, column: str | None, window: int) -> pd.DataFrame:
    import ibis

    log = ctx.log
    col = assignment_column(log, column)
    empty = pd.DataFrame(columns=["case_id", "x", "y", "direct", "p_from", "p_to"])
    empty.attrs.update(column=col, pairs=pd.DataFrame())
    if col is None:
        return empty
    # the assignment value is read from the log (the instance table carries integers alone)
    x = instance_table(ctx)
    lt = log.table
    t = lt.select(a_eid="eid", val=lt[col].cast("string"))
    x = x.join(t, x.eid == t.a_eid).drop("a_eid")
    vals = x.select("val").distinct().to_pandas()["val"].dropna().tolist()
    # a placeholder ("EMPTY", "N/A") is no team: work does not bounce to it
    human_vals = [v for v in vals if is_staff(v) and not is_missing(v)]
    # only the staff steps with a team, and only the columns the stints need: every later pass
    # reads this table. The value gets an integer code (the join with the values keeps the
    # steps with a team): the ordered passes below sort integers, not text.
    codes = pd.DataFrame({"k_val": sorted(human_vals)})
    codes["vcode"] = np.arange(len(codes), dtype="int32")
    vc = ibis.memtable(codes, schema={"k_val": "string", "vcode": "int32"})
    h = x.filter(x.staff)
    h = ctx.store(
        h.join(vc, h.val == vc.k_val).select("eid", "case_idx", "pos", "acode", "vcode"),
        prefix="fl_pp_assign",
    )
    if _set_by_activity(h):
        return empty
    # The ordered passes run on this table of integers (a window sorts every column it carries,
    # the text ones several times slower); the stints' case id, value and contacts are looked
    # up for the stints alone (runs of one value: fewer than the steps).
    wl = ibis.window(group_by=h.case_idx, order_by=h.pos)
    o = h.mutate(new=(h.vcode != h.vcode.lag().over(wl)).fill_null(True), rn_all=ibis.row_number().over(wl))
    # the stint is the running count of new values in the case, taken from a row number among
    # the new (or the continuing) steps alone: a running sum is a framed aggregate, several
    # times slower in DuckDB than a row number
    rn = ibis.row_number().over(ibis.window(group_by=[o.case_idx, o.new], order_by=o.pos))
    o = o.mutate(
        stint=ibis.ifelse(o.new, rn + 1, o.rn_all - rn),
        # the value does a step it did before in the case: the work came back to it
        again=ibis.row_number().over(ibis.window(group_by=[o.case_idx, o.vcode, o.acode], order_by=o.pos))
        > 0,
    )
    # the value is the same on every step of a stint (a run of one value): any one will do
    s = o.group_by(["case_idx", "stint"]).aggregate(
        vcode=o.vcode.arbitrary(),
        again=o.again.cast("int64").max(),
        p0=o.pos.min(),
        p1=o.pos.max(),
        e0=o.eid.min(),
        e1=o.eid.max(),
    )
    s = with_case_id(ctx, s)
    vn = vc.select(n_vcode="vcode", val="k_val")
    s = s.join(vn, s.vcode == vn.n_vcode)
    # the contacts of the stint's first and last step (a return into another contact is a
    # repeat contact, not a bounce)
    cons = contacts_of(ctx)
    if cons is None:
        s = s.mutate(con0=ibis.null("string"), con1=ibis.null("string"))
    else:
        c0 = cons.select(c0_eid="c_eid", con0="con")
        s = s.left_join(c0, s.e0 == c0.c0_eid)
        c1 = cons.select(c1_eid="c_eid", con1="con")
        s = s.left_join(c1, s.e1 == c1.c1_eid)
    s = s.select("case_idx", "case_id", "stint", "val", "vcode", "again", "p0", "p1", "con0", "con1")
    s = ctx.store(s, prefix="fl_pp_stints")
    ws = ibis.window(group_by=[s.case_idx, s.vcode], order_by=s.stint)
    s2 = s.mutate(
        prev_stint=s.stint.lag().over(ws),
        prev_p1=s.p1.lag().over(ws),
        prev_con1=s.con1.lag().over(ws),
    )
    # the hop out of the earlier stint: the value of the next stint
    nxt = s.select(n_case="case_idx", n_stint=s.stint - 1, y="val")
    hopx = s.join(nxt, [s.case_idx == nxt.n_case, s.stint == nxt.n_stint]).select(
        "case_idx", "case_id", "stint", x="val", y="y"
    )
    ret = s2.filter(s2.prev_stint.notnull())
    hj = hopx.select(h_case="case_idx", h_stint="stint", y="y")
    ret = ret.join(hj, [ret.case_idx == hj.h_case, ret.prev_stint == hj.h_stint])
    # a customer step (any instance of the case) after the earlier stint's last step, up to the
    # return: a range join of the returns with the customer steps, not a running count over
    # every instance of the log
    it = instance_table(ctx)
    cu = it.filter(it.cust).select(k_case="case_idx", k_pos="pos")
    rr = ret.select(r_case="case_idx", r_from="prev_p1", r_to="p0")
    thru = rr.join(cu, [rr.r_case == cu.k_case, cu.k_pos > rr.r_from, cu.k_pos <= rr.r_to])
    thru = thru.select("r_case", "r_from", "r_to").distinct().mutate(thru=ibis.literal(True))
    ret = ret.left_join(thru, [ret.case_idx == thru.r_case, ret.prev_p1 == thru.r_from, ret.p0 == thru.r_to])
    ret = ret.select(
        "case_idx",
        "case_id",
        x="val",
        y="y",
        direct=(ret.stint - ret.prev_stint) == 2,
        p_from="prev_p1",
        p_to="p0",
        # through a customer step, or into another contact (a repeat contact, not a bounce)
        outside=ret.thru.fill_null(False) | (ret.con0 != ret.prev_con1).fill_null(False),
        # a value coming back only for its next task of the process (receipt's T06 by the
        # group that confirmed the receipt) is the route, not a bounce
        again=ret.again == 1,
    )
    ret = ret.filter((ret.p_to - ret.p_from - 1 <= window) & ~ret.outside & ret.again)
    ret = ret.mutate(
        idx=ibis.row_number().over(ibis.window(group_by=[ret.case_idx, ret.x, ret.y], order_by=ret.p_to))
    )
    # structural baseline per pair: median returns among the cases with the hop
    hop_cases = hopx.group_by(["x", "y"]).aggregate(hop_cases=hopx.case_idx.nunique()).to_pandas()
    up = hopx.mutate(a=ibis.least(hopx.x, hopx.y), b=ibis.greatest(hopx.x, hopx.y))
    pair_hops = up.group_by(["a", "b"]).aggregate(n=up.case_idx.nunique()).to_pandas()
    pair_hops = pd.Series(
        pair_hops.n.astype(int).to_numpy(),
        index=[f"{a} ↔ {b}" for a, b in zip(pair_hops.a, pair_hops.b, strict=True)],
    )
    per_case = ret.group_by(["case_idx", "x", "y"]).aggregate(r=ret.count())
    dist = per_case.group_by(["x", "y", "r"]).aggregate(n=per_case.count()).to_pandas()
    base_rows = []
    for (xv, yv), g in dist.groupby(["x", "y"]):
        hc = hop_cases[(hop_cases.x == xv) & (hop_cases.y == yv)].hop_cases
        total = int(hc.iloc[0]) if len(hc) else int(g.n.sum())
        zeros = max(total - int(g.n.sum()), 0)
        counts = (
            pd.concat([pd.Series([zeros], index=[0]), g.set_index("r").n]).groupby(level=0).sum().sort_index()
        )
        cum = counts.cumsum()
        median = int(cum.index[np.searchsorted(cum.to_numpy(), total / 2.0)])
        base_rows.append((xv, yv, median, total))
    pairs = pd.DataFrame(base_rows, columns=["x", "y", "baseline", "hop_cases"])
    if pairs.empty:
        return empty
    bm = ibis.memtable(pd.DataFrame(pairs[["x", "y", "baseline"]].rename(columns={"x": "b_x", "y": "b_y"})))
    ret = ret.join(bm, [ret.x == bm.b_x, ret.y == bm.b_y]).drop("b_x", "b_y")
    ret = ret.filter(ret.idx >= ret.baseline)
    b = bounces(ctx)
    if b.claims is not None:
        bc = b.claims.select(b_case="case_idx").distinct()
        ret = ret.anti_join(bc, ret.case_idx == bc.b_case)
    out = ret.select("case_id", "x", "y", "direct", "p_from", "p_to").to_pandas()
    out = out.sort_values(["case_id", "p_to", "x", "y"], kind="stable").reset_index(drop=True)
    out.attrs.update(column=col, pairs=pairs, pair_hops=pair_hops)
    return out


@dataclass
class AssignmentReturns:
    """Counted returns on the assignment attribute and the instances whose waiting they claim."""

    #: case_id, x, y, direct, p_from, p_to, pair (unordered), rid, t_s (waiting added)
    returns: pd.DataFrame
    #: eid, case_id, rid, wait: the instances whose waiting the counted returns claim
    claims: ibis.Table | None
    column: str | None
    pairs: pd.DataFrame
    #: unordered pair "a ↔ b" -> cases with a hop between a and b (either way)
    pair_hops: pd.Series = field(default_factory=lambda: pd.Series(dtype=int))


#: the assignment attribute follows the activity when this share of steps has their activity's
#: usual value
SET_BY_ACTIVITY_SHARE = 0.9


def _set_by_activity(h: ibis.Table) -> bool:
    """Whether the assignment value is (nearly) a function of the activity: >= 90 % of the steps
    have their activity's most common value. Then a change of value is a change of task (checks
    by one group, decisions by another, as in the permit log's org:group), not a hand-over, and
    a "return" is the process's next task or a loop on the activities, which the rework detector
    judges (methods 13.7)."""
    # by the integer codes (one per activity, one per value)
    per = h.group_by(["acode", "vcode"]).aggregate(n=h.count())
    top = per.group_by("acode").aggregate(top=per.n.max(), total=per.n.sum())
    row = top.aggregate(top=top.top.sum(), total=top.total.sum()).to_pandas().iloc[0]
    total = float(row.total or 0)
    return total > 0 and float(row.top) / total >= SET_BY_ACTIVITY_SHARE


def assignment_priced(ctx: FindingContext) -> AssignmentReturns:
    """The returns of :func:`assignment_returns` priced: each instance's waiting goes to the
    first return (by position) that covers it, unless an idle status claims it
    (:func:`flowlens.findings.customer_loops.idle_claims`); returns adding less than
    :data:`MIN_RETURN_WAIT_S` are dropped."""
    return cached(ctx, "assignment_priced", lambda: _assignment_priced(ctx))


def _assignment_priced(ctx: FindingContext) -> AssignmentReturns:
    import ibis

    from flowlens.findings.customer_loops import idle_claims

    returns = assignment_returns(ctx)
    col = returns.attrs.get("column")
    pairs = returns.attrs.get("pairs", pd.DataFrame())
    pair_hops = returns.attrs.get("pair_hops", pd.Series(dtype=int))
    r = pd.DataFrame(returns).copy()
    r.attrs = {}
    if r.empty:
        return AssignmentReturns(r.assign(pair=[], rid=[], t_s=[]), None, col, pairs, pair_hops)
    r["pair"] = [" ↔ ".join(sorted((str(a), str(b)))) for a, b in zip(r.x, r.y, strict=True)]
    r["rid"] = np.arange(len(r), dtype="int64")
    rt = ibis.memtable(r[["rid", "case_id", "p_from", "p_to"]].rename(columns={"case_id": "r_id"}))
    # the returns' cases by their integer index: the range join below reads integers alone
    ids = ctx.tm.cases.select(r_case="case_idx", r_id="case_id")
    rt = rt.join(ids, "r_id")
    x = instance_table(ctx)
    span = x.join(rt, [x.case_idx == rt.r_case, x.pos > rt.p_from, x.pos <= rt.p_to])
    span = span.mutate(case_id=span.r_id)
    span = span.mutate(
        rk=ibis.row_number().over(ibis.window(group_by=span.eid, order_by=[span.p_to, span.rid]))
    )
    span = span.filter(span.rk == 0).select("eid", "case_id", "rid", "wait")
    idle = idle_claims(ctx)
    if idle is not None:
        ie = idle.select(i_eid="eid")
        span = span.anti_join(ie, span.eid == ie.i_eid)
    span = ctx.store(span, prefix="fl_pp_span")
    agg = span.group_by("rid").aggregate(t=span.wait.sum()).to_pandas()
    r["t_s"] = r.rid.map(dict(zip(agg.rid, agg.t.astype(float) / US, strict=True))).fillna(0.0)
    # a return that adds no waiting is parallel work seen in end-time order, not a bounce
    r = r[r.t_s >= MIN_RETURN_WAIT_S].reset_index(drop=True)
    if r.empty:
        return AssignmentReturns(r, None, col, pairs, pair_hops)
    keep = ibis.memtable(pd.DataFrame({"k_rid": r.rid.to_numpy()}))
    claims = span.join(keep, span.rid == keep.k_rid).drop("k_rid")
    claims = ctx.store(claims, prefix="fl_pp_claims_b")
    return AssignmentReturns(r, claims, col, pairs, pair_hops)


def _assignment_findings(ctx: FindingContext, min_cases: int, top: int) -> list[Finding]:
    ap = assignment_priced(ctx)
    r, col, pairs = ap.returns, ap.column, ap.pairs
    if r.empty or col is None:
        return []
    src = ctx.log.attributes.get(col, col)
    times = r.groupby(["pair", "case_id"], as_index=False).t_s.sum()
    pairs = pairs.assign(
        pair=[" ↔ ".join(sorted((str(a), str(b)))) for a, b in zip(pairs.x, pairs.y, strict=True)]
    )
    hop_cases = ap.pair_hops
    n_all = ctx.log.n_cases
    all_rate = r.case_id.nunique() / max(n_all, 1)
    totals = times.groupby("pair").t_s.sum().sort_values(ascending=False)
    cases_per_pair = r.groupby("pair").case_id.nunique()
    shown = [p for p in totals.index if cases_per_pair.get(p, 0) >= min_cases][:top]
    out = [_pair_finding(ctx, r, times, pairs, hop_cases, p, src, all_rate) for p in shown]
    rest = [p for p in totals.index if p not in set(shown)]
    rr = r[r.pair.isin(rest)]
    if rr.case_id.nunique() >= min_cases:
        out.append(
            _pair_finding(ctx, rr, times[times.pair.isin(rest)], pairs, hop_cases, None, src, all_rate)
        )
    return out


def _pair_finding(
    ctx: FindingContext,
    r: pd.DataFrame,
    times: pd.DataFrame,
    pairs: pd.DataFrame,
    hop_cases: pd.Series,
    pair: str | None,
    src: str,
    all_rate: float,
) -> Finding:
    """The finding of one pair of values, or (``pair=None``) of all the pairs in ``r``."""
    g = r if pair is None else r[r.pair == pair]
    pc = times if pair is None else times[times.pair == pair]
    pc = pc.groupby("case_id", as_index=False).t_s.sum()
    cases = g.case_id.nunique()
    n_direct = int(g.direct.sum())
    avg = float(pc.t_s.sum()) / max(len(g), 1)
    if pair is None:
        names = sorted(set(g.pair))
        hops = int(sum(hop_cases.get(p, 0) for p in names))
        a = b = ""
        title = M_(
            "Work bounces between {pairs} other pairs of {column} values and back: {returns} returns in {cases} cases",
            pairs=count_text(len(names)),
            column=src,
            returns=count_text(len(g)),
            cases=count_text(cases),
        )
        who = M_(
            "{cases} cases bounce between {pairs} other pairs of {column} values",
            cases=count_text(cases),
            pairs=count_text(len(names)),
            column=src,
        )
        resources: tuple[str, ...] = ()
        base: list[dict[str, Any]] = []
        params: dict[str, Any] = {"attribute": src, "pairs": names[:50], "returns": len(g)}
    else:
        a, b = pair.split(" ↔ ")
        hops = int(hop_cases.get(pair, cases))
        title = M_(
            "Work bounces between {first} and {second} and back ({column}): {returns} returns in {cases} cases",
            first=a,
            second=b,
            column=src,
            returns=count_text(len(g)),
            cases=count_text(cases),
        )
        who = M_(
            "{cases} of the {hops} cases passed between {first} and {second} ({share})",
            cases=count_text(cases),
            hops=count_text(hops),
            first=a,
            second=b,
            share=share_text(cases / max(hops, 1)),
        )
        resources = (a, b)
        base = pairs[pairs.pair == pair][["x", "y", "baseline"]].to_dict("records")
        params = {"attribute": src, "between": [a, b], "returns": len(g)}
    return build_finding(
        ctx,
        kind="ping_pong",
        title=title,
        activities=(),
        per_case=pc,
        occurrences=len(g),
        staff_time_s=0.0,
        evidence=M_(
            "{who} go back to a {column} they had left more often than the usual route ({direct} direct "
            "returns X → Y → X, {other} via other values); each return adds {time} of waiting.",
            who=who,
            column=src,
            direct=count_text(n_direct),
            other=count_text(len(g) - n_direct),
            time=human_value(avg),
        ),
        scenario=Scenario(
            "cut_loop",
            params,
            M_("route the work to the {column} that finishes it: no back-transfers", column=src),
        ),
        resources=resources,
        details={
            "evidence_type": "assignment",
            "catalogue": "W5",
            "attribute": src,
            "window_events": WINDOW,
            "direct": n_direct,
            "indirect": len(g) - n_direct,
            "structural_baseline": base,
            "ping_pong_rate": cases / max(hops, 1),
            "ping_pong_rate_all_pairs": all_rate,
        },
        detector=NAME,
    )


def detect_ping_pong(ctx: FindingContext, *, min_cases: int | None = None, top: int = 25) -> list[Finding]:
    """Ping-pong findings: reassignment bounces and returns on the assignment attribute."""
    if min_cases is None:
        # pairs below the support every finding needs are shown together as "other pairs"
        min_cases = support(ctx.log.n_cases)
    b = bounces(ctx)
    found = _reassignment_findings(ctx, b)
    found += _assignment_findings(ctx, min_cases, top)
    return found


detect_ping_pong.name = NAME  # type: ignore[attr-defined]
