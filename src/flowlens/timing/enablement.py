"""When could an activity instance have started? Concurrency oracles and enabled times.

Definitions (docs/methods.md 6.1, after pix-framework's concurrency oracle):

* en(i) = e(j*), where j* is the instance of the same case with the latest end among those
  before i in the case order (e(j) < e(i), or equal ends and j first in the file), with
  e(j) <= s(i) + skew when start times are recorded (en(i) is then at most s(i)), and a(j) not
  concurrent with a(i). With no such j, en(i) is the case start (first start or end of the case); for a
  completion-only log the first instance of a case has no enabled time (null).
* The *heuristics* oracle calls A and B concurrent when A != B, both directly-follows relations
  occur, they are balanced (|df(A,B) - df(B,A)| / (df(A,B) + df(B,A) + 1) < theta_df), and
  short loops A-B-A do not explain them ((l2l(A,B) + l2l(B,A)) / (l2l(A,B) + l2l(B,A) + 1) <
  theta_l2l). The relations are counted on traces with immediate repeats collapsed, so a step
  done again straight away neither hides a loop nor makes one. ``"alpha"``: both relations
  occur. ``"none"``: nothing is concurrent.

>>> import flowlens, pandas as pd
>>> rows = [("c1", "a", 0, 1), ("c1", "b", 2, 3), ("c1", "c", 2, 4), ("c1", "d", 5, 6),
...         ("c2", "a", 0, 1), ("c2", "c", 2, 3), ("c2", "b", 2, 4), ("c2", "d", 5, 6)]
>>> df = pd.DataFrame(rows, columns=["case", "activity", "start", "end"])
>>> df[["start", "end"]] = df[["start", "end"]].apply(lambda s: pd.Timestamp("2024-01-01") + pd.to_timedelta(s, "h"))
>>> sorted(map(tuple, concurrent_pairs(flowlens.read_log(df)).values.tolist()))
[('b', 'c'), ('c', 'b')]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from flowlens.errors import ConfigError

if TYPE_CHECKING:
    import ibis

    from flowlens.log import EventLog

ORACLES = ("heuristics", "alpha", "none")


def concurrent_pairs(
    log: EventLog,
    *,
    oracle: str = "heuristics",
    theta_df: float = 0.9,
    theta_l2l: float = 0.9,
) -> pd.DataFrame:
    """Ordered activity pairs (a, b) judged concurrent (both orders are listed).

    The relations are counted on traces with immediate repeats collapsed (a a b -> a b): a step
    done again straight away is one step for ordering, and a loop through a self-looping step
    (a a b a) is still seen as the loop it is, not as a and b in either order (docs/methods.md
    6.1).
    """
    if oracle not in ORACLES:
        raise ConfigError(f"unknown concurrency oracle '{oracle}'; choose one of {', '.join(ORACLES)}")
    empty = pd.DataFrame({"a": pd.Series([], dtype=object), "b": pd.Series([], dtype=object)})
    if oracle == "none":
        return empty
    df, l2l = _relations(log)
    out = []
    for (a, b), ab in sorted(df.items()):
        if (b, a) not in df:
            continue
        ba = df[(b, a)]
        if oracle == "heuristics":
            if abs(ab - ba) / (ab + ba + 1) >= theta_df:
                continue
            loops = l2l.get((a, b), 0) + l2l.get((b, a), 0)
            if loops / (loops + 1) >= theta_l2l:
                continue
        out.append((a, b))
    return pd.DataFrame(out, columns=["a", "b"]) if out else empty


def _relations(log: EventLog) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """Directly-follows counts df(a, b) and length-two loop counts l2l(a, b) (a b a) on the
    traces with immediate repeats collapsed."""
    import ibis

    t = log.table
    w = ibis.window(group_by=t.case_idx, order_by=t.pos)
    x = t.select("case_idx", "pos", "activity", prev=t.activity.lag().over(w))
    # keep the first of each run of one activity
    x = x.filter(x.prev.isnull() | (x.prev != x.activity))
    w2 = ibis.window(group_by=x.case_idx, order_by=x.pos)
    x = x.select(a1="activity", a2=x.activity.lead(1).over(w2), a3=x.activity.lead(2).over(w2))
    x = x.filter(x.a2.notnull())
    rel = (
        x.group_by(["a1", "a2"])
        .aggregate(df=x.count(), l2l=(x.a3 == x.a1).fill_null(False).cast("int64").sum())
        .to_pandas()
    )
    df = {(r.a1, r.a2): int(r.df) for r in rel.itertuples(index=False)}
    l2l = {(r.a1, r.a2): int(r.l2l) for r in rel.itertuples(index=False) if r.l2l}
    return df, l2l


def enabled_times(
    log: EventLog, concurrency: pd.DataFrame, *, skew_us: int = 0, max_steps: int = 16
) -> ibis.Table:
    """Per instance: eid, enabled_us, enabler_eid, enabler_activity, enabler_resource.

    The condition e(j) <= s(i) applies to instances with a recorded start, with a tolerance of
    ``skew_us`` for clocks of different systems (a predecessor ending a few seconds after i
    started still enables i, and en(i) is then taken as s(i)); completion-only instances only
    need e(j) < e(i).

    Instances are numbered by end time within their case, so the instances that ended by a
    given time form a prefix of the case: the latest candidate is found with one running
    maximum per case, and concurrent candidates are skipped by stepping back one position at
    a time (``max_steps`` rounds; the few instances still unresolved then are paired with every
    earlier instance of their case). Cost grows with the events, not with the square of a
    case's length.
    """
    import ibis

    t = log.table
    null = ibis.null("int64")
    ends = t.select("case_idx", ts=t.end_us, kind=ibis.literal(0), jpos=t.pos, qeid=null)
    starts = t.filter(t.start_us.notnull())
    queries = starts.select(
        "case_idx", ts=starts.start_us + skew_us, kind=ibis.literal(1), jpos=null, qeid=starts.eid
    )
    u = ends.union(queries, distinct=False)
    # ends sort before queries at the same time: e(j) <= s(i) + skew
    w = ibis.window(group_by=u.case_idx, order_by=[u.ts, u.kind], rows=(None, 0))
    u = u.mutate(k=u.jpos.max().over(w))
    q = u.filter(u.kind == 1).select(q_eid="qeid", k="k")
    base = t.select("eid", "case_idx", "pos", "activity", "start_us", "end_us")
    c = base.left_join(q, base.eid == q.q_eid)
    first = ibis.ifelse(c.start_us.isnull(), c.pos - 1, ibis.least(c.k.fill_null(-1), c.pos - 1))
    cand = c.select("eid", "case_idx", "pos", "activity", cur=first)
    eng = log.engine
    resolved: list[ibis.Table] = []
    conc = None
    if len(concurrency):
        conc = ibis.memtable(concurrency.rename(columns={"a": "ca", "b": "cb"}))
    pending = eng.materialize(cand, prefix="fl_enab")
    for _ in range(max_steps if conc is not None else 1):
        j = t.select(j_eid="eid", j_act="activity")
        x = pending.left_join(j, j.j_eid == pending.eid - pending.pos + pending.cur)
        x = x.select("eid", "case_idx", "pos", "activity", "cur", "j_act")
        if conc is None:
            resolved.append(x.select("eid", "pos", "cur"))
            pending = None
            break
        x = x.left_join(conc, [x.activity == conc.ca, x.j_act == conc.cb])
        blocked = (x.cur >= 0) & x.ca.notnull()
        x = eng.materialize(
            x.select("eid", "case_idx", "pos", "activity", "cur", blocked=blocked), prefix="fl_enab"
        )
        resolved.append(x.filter(~x.blocked).select("eid", "pos", "cur"))
        pending = x.filter(x.blocked).select("eid", "case_idx", "pos", "activity", cur=x.cur - 1)
        if int(pending.count().to_pandas()) == 0:
            pending = None
            break
        pending = eng.materialize(pending, prefix="fl_enab")
    found = resolved[0]
    for r in resolved[1:]:
        found = found.union(r, distinct=False)
    if pending is not None:
        found = found.union(_pairwise(log, pending, conc, skew_us), distinct=False)
    j = t.select(j_eid="eid", j_end="end_us", j_act="activity", j_res="resource")
    found = found.filter(found.cur >= 0)
    best = found.select(i_eid="eid", enabler_eid=found.eid - found.pos + found.cur)
    best = best.join(j, best.enabler_eid == j.j_eid).select(
        "i_eid",
        "enabler_eid",
        enabled_us="j_end",
        enabler_activity="j_act",
        enabler_resource="j_res",
    )
    case_start = t.group_by("case_idx").aggregate(cs=t.start_us.fill_null(t.end_us).min())
    b = t.select("eid", "case_idx", "start_us", "end_us").join(case_start, "case_idx")
    res = b.left_join(best, b.eid == best.i_eid)
    # Without a predecessor the case start enables the instance, unless that start is the
    # instance's own completion (first step of a completion-only case): then it is unknown.
    fallback = ibis.ifelse(res.start_us.notnull() | (res.cs < res.end_us), res.cs, ibis.null("int64"))
    enabled = ibis.ifelse(res.start_us.notnull(), ibis.least(res.enabled_us, res.start_us), res.enabled_us)
    return res.select(
        "eid",
        enabled_us=enabled.fill_null(fallback),
        enabler_eid=res.enabler_eid,
        enabler_activity=res.enabler_activity,
        enabler_resource=res.enabler_resource,
    )


def _pairwise(log: EventLog, pending: ibis.Table, conc: ibis.Table | None, skew_us: int) -> ibis.Table:
    """The latest non-concurrent earlier instance at or before ``cur`` for each pending row,
    by pairing it with every such instance of its case (only for the few rows that stepping
    back did not resolve)."""
    import ibis

    t = log.table
    j = t.select(j_case="case_idx", j_pos="pos", j_act="activity")
    x = pending.join(j, [pending.case_idx == j.j_case, j.j_pos <= pending.cur])
    if conc is not None:
        x = x.anti_join(conc, [x.activity == conc.ca, x.j_act == conc.cb])
    got = x.group_by(["eid", "pos"]).aggregate(cur=x.j_pos.max())
    none = pending.anti_join(got, pending.eid == got.eid).select(
        "eid", "pos", cur=ibis.literal(-1).cast("int64")
    )
    return got.union(none, distinct=False)
