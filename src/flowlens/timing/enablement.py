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
  theta_l2l, taken as 0 when l1l(A) or l1l(B) >= theta_l1l). ``"alpha"``: both relations occur.
  ``"none"``: nothing is concurrent.

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

from flowlens.discovery.dfg import directly_follows
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
    theta_l1l: float = 0.9,
) -> pd.DataFrame:
    """Ordered activity pairs (a, b) judged concurrent (both orders are listed)."""
    if oracle not in ORACLES:
        raise ConfigError(f"unknown concurrency oracle '{oracle}'; choose one of {', '.join(ORACLES)}")
    empty = pd.DataFrame({"a": pd.Series([], dtype=object), "b": pd.Series([], dtype=object)})
    if oracle == "none":
        return empty
    df = {
        (s, t): int(c)
        for s, t, c in directly_follows(log).edges[["source", "target", "count"]].itertuples(index=False)
    }
    l2l = _length_two_loops(log) if oracle == "heuristics" else {}
    out = []
    for (a, b), ab in df.items():
        if a == b or (b, a) not in df:
            continue
        ba = df[(b, a)]
        if oracle == "heuristics":
            if abs(ab - ba) / (ab + ba + 1) >= theta_df:
                continue
            l1a = df.get((a, a), 0) / (df.get((a, a), 0) + 1)
            l1b = df.get((b, b), 0) / (df.get((b, b), 0) + 1)
            loops = l2l.get((a, b), 0) + l2l.get((b, a), 0)
            ratio = 0.0 if (l1a >= theta_l1l or l1b >= theta_l1l) else loops / (loops + 1)
            if ratio >= theta_l2l:
                continue
        out.append((a, b))
    return pd.DataFrame(out, columns=["a", "b"]) if out else empty


def _length_two_loops(log: EventLog) -> dict[tuple[str, str], int]:
    """Counts of A-B-A patterns: A, then B, then A again as consecutive instances of a case."""
    t = log.table
    x = t.select("case_idx", "eid", a1="activity")
    y = t.select(case_y="case_idx", eid_y=t.eid - 1, a2="activity")
    z = t.select(case_z="case_idx", eid_z=t.eid - 2, a3="activity")
    j = x.join(y, [x.case_idx == y.case_y, x.eid == y.eid_y]).join(
        z, [x.case_idx == z.case_z, x.eid == z.eid_z]
    )
    j = j.filter((j.a1 == j.a3) & (j.a1 != j.a2))
    res = j.group_by(["a1", "a2"]).aggregate(n=j.count()).to_pandas()
    return {(r.a1, r.a2): int(r.n) for r in res.itertuples(index=False)}


def enabled_times(log: EventLog, concurrency: pd.DataFrame, *, skew_us: int = 0) -> ibis.Table:
    """Per instance: eid, enabled_us, enabler_eid, enabler_activity, enabler_resource.

    The condition e(j) <= s(i) applies to instances with a recorded start, with a tolerance of
    ``skew_us`` for clocks of different systems (a predecessor ending a few seconds after i
    started still enables i, and en(i) is then taken as s(i)); completion-only instances only
    need e(j) < e(i).
    """
    import ibis

    t = log.table
    i = t.select(
        i_eid="eid", i_case="case_idx", i_pos="pos", i_act="activity", i_end="end_us", i_start="start_us"
    )
    j = t.select(
        j_eid="eid", j_case="case_idx", j_pos="pos", j_act="activity", j_end="end_us", j_res="resource"
    )
    # Instances are ordered by end, then source row: an earlier position means an earlier end,
    # or the same end and earlier in the file (a zero-length step recorded after its predecessor).
    x = i.join(j, [i.i_case == j.j_case, j.j_pos < i.i_pos])
    x = x.filter(x.i_start.isnull() | (x.j_end <= x.i_start + skew_us))
    if len(concurrency):
        conc = ibis.memtable(concurrency.rename(columns={"a": "ca", "b": "cb"}))
        x = x.anti_join(conc, [x.i_act == conc.ca, x.j_act == conc.cb])
    best = x.group_by("i_eid").aggregate(
        enabled_us=x.j_end.max(),
        enabler_eid=x.j_eid.argmax(x.j_pos),
        enabler_activity=x.j_act.argmax(x.j_pos),
        enabler_resource=x.j_res.argmax(x.j_pos),
    )
    case_start = t.group_by("case_idx").aggregate(cs=t.start_us.fill_null(t.end_us).min())
    base = t.select("eid", "case_idx", "start_us", "end_us").join(case_start, "case_idx")
    res = base.left_join(best, base.eid == best.i_eid)
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
