"""When could an activity instance have started? Concurrency oracles and enabled times.

Definitions (docs/methods.md 6.1, after pix-framework's concurrency oracle):

* en(i) = e(j*), where j* is the instance of the same case with the latest end among those
  before i in the case order (e(j) < e(i), or equal ends and j first in the file), with
  e(j) <= s(i) + skew when start times are recorded (en(i) is then at most s(i)), and a(j) not
  concurrent with a(i). With no such j, en(i) is s(i) for an instance with a recorded start and
  the case start (first start or end of the case) for a completion-only one; the first instance
  of a completion-only case has no enabled time (null).
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

    if log.is_ingested_table():
        return _relations_from_successors(log)
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
    return _relation_dicts(rel)


def _relation_dicts(rel: pd.DataFrame) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    df = {(r.a1, r.a2): int(r.df) for r in rel.itertuples(index=False)}
    l2l = {(r.a1, r.a2): int(r.l2l) for r in rel.itertuples(index=False) if r.l2l}
    return df, l2l


def _relations_from_successors(
    log: EventLog,
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """:func:`_relations` read from the successor activity the gate's ordering window wrote
    (:data:`flowlens.relational.SUCCESSOR_COLUMNS`; only for the ingested table itself): one
    ordered pass over part of the log instead of two over all of it (10^8 events: ~2.5 min).

    The collapsed trace is the *last* instance of each run of one activity (its successor is
    another activity, or none): the same sequence as the first of each run. Its successor is
    the next element, and the next element's successor the one after (a length-two loop when
    it is the first again), so only those rows are ordered, for that one look ahead.
    """
    sql = """
        SELECT a1, a2, COUNT(*) AS df, SUM(CASE WHEN a3 = a1 THEN 1 ELSE 0 END)::BIGINT AS l2l
        FROM (
          SELECT a1, a2, LEAD(a2) OVER (PARTITION BY case_idx ORDER BY pos) AS a3
          FROM (
            SELECT case_idx, pos, CAST(activity AS VARCHAR) AS a1, CAST(__succ_activity AS VARCHAR) AS a2
            FROM events
            WHERE __succ_activity IS NULL OR CAST(__succ_activity AS VARCHAR) <> CAST(activity AS VARCHAR)))
        WHERE a2 IS NOT NULL
        GROUP BY 1, 2
    """
    con = log.engine.duckdb
    assert con is not None
    return _relation_dicts(con.execute(sql).df())


#: Earlier instances looked at directly, in the one ordered pass of :func:`enabled_times`.
LOOKBACK = 3


def enabled_times(
    log: EventLog,
    concurrency: pd.DataFrame,
    *,
    skew_us: int = 0,
    max_steps: int = 16,
    lookback: int = LOOKBACK,
    table: ibis.Table | None = None,
) -> ibis.Table:
    """Per instance: eid, enabled_us, enabler_eid, enabler_activity, enabler_resource,
    prev_activity, prev_resource (the instance just before in the case order), as a table
    materialised in the log's engine.

    The condition e(j) <= s(i) applies to instances with a recorded start, with a tolerance of
    ``skew_us`` for clocks of different systems (a predecessor ending a few seconds after i
    started still enables i, and en(i) is then taken as s(i)); completion-only instances only
    need e(j) < e(i).

    Instances are numbered by end time within their case, so the enabler is the first
    instance met stepping back from the one just before that ended in time and is not
    concurrent. One pass over the events ordered by case and position (a window partitioned by
    case) brings the ``lookback`` instances before each one, so nearly every enabler is found
    without any join. The rest (a long step that many others ended during, or a run of
    concurrent ones) is found in the cases they belong to by :func:`_step_back`: a running
    maximum over the ends gives the latest ended by s(i) + skew, concurrent ones are skipped by
    stepping back ``max_steps`` rounds, and what remains is paired with every earlier instance
    of its case. Cost grows with the events, not with the square of a case's length.
    ``table`` is the instances to use (whole cases of ``log``'s table; default all of it).

    >>> import flowlens, pandas as pd
    >>> df = pd.DataFrame({"case": ["1"] * 3, "activity": ["a", "b", "c"],
    ...                    "start": ["2024-01-01 09:00", "2024-01-01 10:00", "2024-01-01 09:30"],
    ...                    "end": ["2024-01-01 09:20", "2024-01-01 10:30", "2024-01-01 11:00"]})
    >>> log = flowlens.read_log(df)
    >>> en = enabled_times(log, concurrent_pairs(log, oracle="none")).to_pandas()
    >>> en.sort_values("eid").enabler_activity.fillna("-").tolist()  # c started before b ended: a enabled it
    ['-', 'a', 'a']
    """
    import ibis

    t = log.table if table is None else table
    eng = log.engine
    conc = None
    if len(concurrency):
        conc = ibis.memtable(concurrency.rename(columns={"a": "ca", "b": "cb"})[["ca", "cb"]])
    w = ibis.window(group_by=t.case_idx, order_by=t.pos)
    lags: dict[str, ibis.Value] = {}
    for d in range(1, lookback + 1):
        lags[f"fl_e{d}"] = t.end_us.lag(d).over(w)
        lags[f"fl_a{d}"] = t.activity.lag(d).over(w)
        lags[f"fl_r{d}"] = t.resource.lag(d).over(w)
    # the instance's own columns, carried through the pass and into its result
    own = ("eid", "case_idx", "pos", "activity", "start_us", "end_us")
    x = t.select(
        *own,
        fl_cs=t.start_us.fill_null(t.end_us).min().over(w),
        **lags,
    )
    for d in range(1, lookback + 1):
        blocked = None
        if conc is not None:
            # one join with the (small) table of concurrent pairs per position looked at
            c = conc.select(**{f"fl_ca{d}": conc.ca, f"fl_cb{d}": conc.cb})
            x = x.left_join(c, [x.activity == c[f"fl_ca{d}"], x[f"fl_a{d}"] == c[f"fl_cb{d}"]])
            blocked = x[f"fl_cb{d}"].notnull()
        e_d = x[f"fl_e{d}"]
        fits = e_d.notnull() & (x.start_us.isnull() | (e_d <= x.start_us + skew_us)).fill_null(False)
        x = x.mutate(**{f"fl_ok{d}": fits if blocked is None else fits & ~blocked})
        if conc is not None:
            x = x.drop(f"fl_ca{d}", f"fl_cb{d}")

    def pick(name: str, default: ibis.Value) -> ibis.Value:
        """The column ``name`` of the first instance back that fits."""
        return ibis.cases(*[(x[f"fl_ok{d}"], x[f"{name}{d}"]) for d in range(1, lookback + 1)], else_=default)

    found_d = ibis.cases(*[(x[f"fl_ok{d}"], d) for d in range(1, lookback + 1)], else_=ibis.null("int64"))
    x = x.mutate(
        fl_d=found_d,
        fl_en=pick("fl_e", ibis.null("int64")),
        fl_ea=pick("fl_a", ibis.null("string")),
        fl_er=pick("fl_r", ibis.null("string")),
        # the enabler lies further back than the instances looked at (else: none fits,
        # and the case start enables the instance)
        fl_open=found_d.isnull() & (x.pos > lookback),
        prev_activity=x.fl_a1,
        prev_resource=x.fl_r1,
    )
    x = x.select(
        *own,
        "fl_cs",
        "fl_open",
        "prev_activity",
        "prev_resource",
        enabler_eid=x.eid - x.fl_d,
        enabled_us=x.fl_en,
        enabler_activity=x.fl_ea,
        enabler_resource=x.fl_er,
    )
    x = eng.materialize(x, prefix="fl_enab", transient=True)
    work = [x]  # dropped once the result is made
    n_open = int(x.filter(x.fl_open).count().to_pandas())
    if n_open:
        # the few instances whose enabler lies further back: the cases they are in, in full
        rows = x.filter(x.fl_open).select("eid", "case_idx", "pos", "activity", "start_us")
        cases = rows.select("case_idx").distinct()
        sub = t.semi_join(cases, t.case_idx == cases.case_idx)
        far = _step_back(log, sub, rows, conc, skew_us, max_steps, work)
        far = far.filter(far.cur >= 0)
        j = t.select(j_eid="eid", j_end="end_us", j_act="activity", j_res="resource")
        far = far.select(f_eid="eid", f_enabler=far.eid - far.pos + far.cur)
        far = far.join(j, far.f_enabler == j.j_eid).drop("j_eid")
        far = eng.materialize(far, prefix="fl_enab", transient=True)
        work.append(far)
        x = x.left_join(far, x.eid == far.f_eid)
        x = x.mutate(
            enabler_eid=x.enabler_eid.fill_null(x.f_enabler),
            enabled_us=x.enabled_us.fill_null(x.j_end),
            enabler_activity=x.enabler_activity.fill_null(x.j_act),
            enabler_resource=ibis.ifelse(x.f_enabler.notnull(), x.j_res, x.enabler_resource),
        )
    # Without a predecessor a started instance is enabled when it starts (no enabled wait); a
    # completion-only one at the case start, unless that start is the instance's own
    # completion (first step of a completion-only case): then it is unknown.
    started = ibis.ifelse(x.enabled_us.isnull(), x.start_us, ibis.least(x.enabled_us, x.start_us))
    case_start = ibis.ifelse(x.fl_cs < x.end_us, x.fl_cs, ibis.null("int64"))
    enabled = ibis.ifelse(x.start_us.notnull(), started, x.enabled_us.fill_null(case_start))
    out = x.select(
        "eid",
        enabled_us=enabled,
        enabler_eid=x.enabler_eid,
        enabler_activity=x.enabler_activity,
        enabler_resource=x.enabler_resource,
        prev_activity=x.prev_activity,
        prev_resource=x.prev_resource,
    )
    out = eng.materialize(out, prefix="fl_en")
    drop_tables(log, *work)
    return out


def drop_tables(log: EventLog, *tables: ibis.Table) -> None:
    """Drop intermediate tables materialised in ``log``'s engine that nothing reads any more:
    at 10^8 events each holds gigabytes of the engine's memory or spill folder till the end.
    On Spark the table is a checkpointed temporary view: dropping the view lets Spark's cleaner
    free the checkpoint's blocks on the executors."""
    eng = log.engine
    names = [t.get_name() for t in tables]
    names = [n for n in names if n.startswith("fl_")]  # never the log's own tables
    if eng.name == "spark":
        catalog = eng.backend._session.catalog  # type: ignore[attr-defined]
        for name in names:
            catalog.dropTempView(name)
        return
    assert eng.duckdb is not None
    for name in names:
        eng.duckdb.execute(f'DROP TABLE IF EXISTS "{name}"')


def _step_back(
    log: EventLog,
    t: ibis.Table,
    rows: ibis.Table,
    conc: ibis.Table | None,
    skew_us: int,
    max_steps: int,
    work: list[ibis.Table],
) -> ibis.Table:
    """eid, pos, cur: the position of the enabler of each of ``rows`` (eid, case_idx, pos,
    activity, start_us), -1 for none, found among the instances ``t`` of their cases. The
    tables it stores are added to ``work``: the result reads them, the caller drops them.

    The instances that ended by a given time form a prefix of the case: the latest candidate
    is found with one running maximum per case, and concurrent candidates are skipped by
    stepping back one position at a time (``max_steps`` rounds); the few rows still
    unresolved then are paired with every earlier instance of their case.
    """
    import ibis

    eng = log.engine
    null = ibis.null("int64")
    ends = t.select("case_idx", ts=t.end_us, kind=ibis.literal(0), jpos=t.pos, qeid=null)
    starts = rows.filter(rows.start_us.notnull())
    queries = starts.select(
        "case_idx", ts=starts.start_us + skew_us, kind=ibis.literal(1), jpos=null, qeid=starts.eid
    )
    u = ends.union(queries, distinct=False)
    # ends sort before queries at the same time: e(j) <= s(i) + skew
    w = ibis.window(group_by=u.case_idx, order_by=[u.ts, u.kind], rows=(None, 0))
    u = u.mutate(k=u.jpos.max().over(w))
    q = u.filter(u.kind == 1).select(q_eid="qeid", k="k")
    c = rows.left_join(q, rows.eid == q.q_eid)
    first = ibis.ifelse(c.start_us.isnull(), c.pos - 1, ibis.least(c.k.fill_null(-1), c.pos - 1))
    pending = eng.materialize(
        c.select("eid", "case_idx", "pos", "activity", cur=first), prefix="fl_enab", transient=True
    )
    work.append(pending)
    resolved: list[ibis.Table] = []
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
            x.select("eid", "case_idx", "pos", "activity", "cur", blocked=blocked),
            prefix="fl_enab",
            transient=True,
        )
        work.append(x)
        resolved.append(x.filter(~x.blocked).select("eid", "pos", "cur"))
        # the rows still blocked are read from x, not stored again: a copy of rows x holds
        # would cost one more query per round (on Spark a job, of its fixed cost whatever the
        # rows: on DuckDB receipt's time model runs 39 queries instead of 49)
        pending = x.filter(x.blocked).select("eid", "case_idx", "pos", "activity", cur=x.cur - 1)
        if int(pending.count().to_pandas()) == 0:
            pending = None
            break
    found = resolved[0]
    for r in resolved[1:]:
        found = found.union(r, distinct=False)
    if pending is not None:
        found = found.union(_pairwise(t, pending, conc), distinct=False)
    return found


def _pairwise(t: ibis.Table, pending: ibis.Table, conc: ibis.Table | None) -> ibis.Table:
    """The latest non-concurrent earlier instance at or before ``cur`` for each pending row,
    by pairing it with every such instance of its case in ``t`` (only for the few rows that
    stepping back did not resolve)."""
    import ibis

    j = t.select(j_case="case_idx", j_pos="pos", j_act="activity")
    x = pending.join(j, [pending.case_idx == j.j_case, j.j_pos <= pending.cur])
    if conc is not None:
        x = x.anti_join(conc, [x.activity == conc.ca, x.j_act == conc.cb])
    got = x.group_by(["eid", "pos"]).aggregate(cur=x.j_pos.max())
    none = pending.anti_join(got, pending.eid == got.eid).select(
        "eid", "pos", cur=ibis.literal(-1).cast("int64")
    )
    return got.union(none, distinct=False)
