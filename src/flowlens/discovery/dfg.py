"""Directly-follows graph with frequencies and times (docs/methods.md, "Process map").

Definitions:

* b *directly follows* a when b is the next activity instance of the same case in flowlens's
  order (end time, then source row).
* The *edge wait* of a pair is ``max(0, s(b) - e(a))`` with ``s(b)`` the start of b, or its end
  for completion-only instances: the time nothing happened between the two steps. Negative
  gaps (overlap, clock skew) are clipped to 0 and counted as the ``negative_waits`` flag.
* Node processing time is ``e - s`` over instances that have a start.

>>> import flowlens, pandas as pd
>>> df = pd.DataFrame({"case": ["1", "1", "1", "2", "2"], "activity": ["a", "b", "c", "a", "c"],
...     "timestamp": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 10:00", "2024-01-01 12:00",
...                                  "2024-01-02 09:00", "2024-01-02 09:30"])})
>>> g = flowlens.directly_follows(flowlens.read_log(df))
>>> g.edges[["source", "target", "count"]].values.tolist()
[['a', 'b', 1], ['a', 'c', 1], ['b', 'c', 1]]
>>> float(g.edges.set_index(["source", "target"]).loc[("b", "c"), "wait_median_s"])
7200.0
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import ibis

    from flowlens.log import EventLog

US = 1_000_000.0


@dataclass
class DirectlyFollowsGraph:
    """Nodes, edges, start and end activities of a log, as small DataFrames.

    Unpacks like pm4py's ``discover_dfg``: ``dfg, starts, ends = graph`` gives
    ``{(a, b): count}``, ``{a: count}``, ``{a: count}``.
    """

    #: activity, count (instances), cases, and with start times proc_mean_s, proc_median_s,
    #: proc_p90_s
    nodes: pd.DataFrame
    #: source, target, count, cases, wait_mean_s, wait_total_s, wait_median_s, wait_p90_s
    edges: pd.DataFrame
    #: activity, count: cases starting with it
    start_activities: pd.DataFrame
    #: activity, count: cases ending with it
    end_activities: pd.DataFrame

    def as_dicts(self) -> tuple[dict[tuple[str, str], int], dict[str, int], dict[str, int]]:
        dfg = {
            (s, t): int(c) for s, t, c in self.edges[["source", "target", "count"]].itertuples(index=False)
        }
        starts = dict(
            zip(self.start_activities.activity, self.start_activities["count"].astype(int), strict=True)
        )
        ends = dict(zip(self.end_activities.activity, self.end_activities["count"].astype(int), strict=True))
        return dfg, starts, ends

    def __iter__(self) -> Iterator[dict]:  # type: ignore[type-arg]
        return iter(self.as_dicts())


def pairs(table: ibis.Table) -> ibis.Table:
    """Consecutive instance pairs of each case: source/target activity, resources, wait (µs).

    Uses the table's invariant that ``eid`` is consecutive within a case, so the successor is
    a join on ``eid + 1`` (cheaper than a window over every case).
    """
    a = table.select("case_idx", "eid", source="activity", source_resource="resource", source_end="end_us")
    b = table.select(
        case_idx_b="case_idx",
        eid_b=table.eid - 1,
        target="activity",
        target_resource="resource",
        target_start=table.start_us.fill_null(table.end_us),
    )
    j = a.join(b, [a.eid == b.eid_b, a.case_idx == b.case_idx_b])
    gap = j.target_start - j.source_end
    return j.select(
        "case_idx",
        "source",
        "target",
        "source_resource",
        "target_resource",
        wait_us=(gap < 0).ifelse(0, gap),
    )


def directly_follows(log: EventLog) -> DirectlyFollowsGraph:
    """Directly-follows graph of ``log`` with counts and edge waiting times."""
    return log.memo("dfg", lambda: _directly_follows(log))


def projected_follows(log: EventLog, activities: Iterable[str]) -> DirectlyFollowsGraph:
    """The directly-follows graph of ``log`` projected on ``activities`` (their instances kept,
    the others left out, cases left empty gone): the same graph as
    ``directly_follows(filter_activities(log, activities))``, number for number, memoised per
    set of activities.

    Only the edges need the events again: the kept activities' nodes are the whole log's
    (the same instances), and the cases per edge and the start and end activities follow from
    the whole log's variants projected on the kept activities (docs/methods.md 3.1). So each
    step of the map's activity slider costs one query over the events, not a second set of
    per-case statistics, variants and nodes of a filtered copy of the log.

    >>> import flowlens, pandas as pd
    >>> df = pd.DataFrame({"case": list("1112"), "activity": list("abca"),
    ...     "timestamp": pd.date_range("2024-01-01", periods=4, freq="h")})
    >>> g = projected_follows(flowlens.read_log(df), ["a", "c"])
    >>> g.edges[["source", "target", "count", "cases"]].values.tolist()
    [['a', 'c', 1, 1]]
    >>> g.end_activities.values.tolist()
    [['a', 1], ['c', 1]]
    """
    keep = sorted(set(activities))
    # repr of the tuple: no two activity sets share a key, whatever characters the names hold
    return log.memo(f"dfg:{tuple(keep)!r}", lambda: _projected_follows(log, keep))


def _projected_follows(log: EventLog, keep: list[str]) -> DirectlyFollowsGraph:
    from flowlens.discovery.variants import variants
    from flowlens.filters import filter_activities

    whole = directly_follows(log)
    nodes = whole.nodes[whole.nodes.activity.isin(keep)].reset_index(drop=True)
    proc = ["proc_mean_s", "proc_median_s", "proc_p90_s"]
    if "proc_mean_s" in nodes and not nodes.proc_mean_s.notna().any():
        # no kept instance has a start: the projected log has no start times (EventLog.has_start_times)
        nodes = nodes.drop(columns=proc)
    _, edge_cases, starts_c, ends_c = _counts_from_variants(variants(log), keep=keep)
    edges = _projected_edges_sql(log, keep) if log.is_ingested_table() else None
    if edges is None:
        edges = _edges_from_pairs(pairs(filter_activities(log, keep).table), with_cases=False)
    edges.insert(3, "cases", [edge_cases[(s, e)] for s, e in zip(edges.source, edges.target, strict=True)])
    edges = edges[
        ["source", "target", "count", "cases", "wait_mean_s", "wait_total_s", "wait_median_s", "wait_p90_s"]
    ]
    starts = pd.DataFrame({"activity": list(starts_c), "count": list(starts_c.values())})
    ends = pd.DataFrame({"activity": list(ends_c), "count": list(ends_c.values())})
    return DirectlyFollowsGraph(
        nodes=nodes,
        edges=_sorted(edges, ["source", "target"], by_count=False),
        start_activities=_sorted(starts, ["count", "activity"]),
        end_activities=_sorted(ends, ["count", "activity"]),
    )


def _directly_follows(log: EventLog) -> DirectlyFollowsGraph:
    from flowlens.discovery.variants import variants

    t = log.table
    vt = variants(log)
    # Cases per node and per edge, and start/end activities, follow from the variants when
    # they are few next to the events (one pass over variants instead of distinct counts
    # over all events); otherwise the engine counts them.
    n_events = int((vt["length"] * vt["count"]).sum())
    from_variants = int(vt["length"].sum()) <= 0.25 * max(n_events, 1)
    edges = (
        _edges_from_successors(log, with_cases=not from_variants)
        if log.is_ingested_table()
        else _edges_from_pairs(pairs(t), with_cases=not from_variants)
    )
    nodes = (
        _nodes_sql(log, with_cases=not from_variants)
        if log.is_ingested_table()
        else _nodes_ibis(log, with_cases=not from_variants)
    )
    if from_variants:
        node_cases, edge_cases, starts_c, ends_c = _counts_from_variants(vt)
        nodes.insert(2, "cases", nodes.activity.map(node_cases).astype("int64"))
        edges.insert(
            3, "cases", [edge_cases[(s, e)] for s, e in zip(edges.source, edges.target, strict=True)]
        )
        starts = pd.DataFrame({"activity": list(starts_c), "count": list(starts_c.values())})
        ends = pd.DataFrame({"activity": list(ends_c), "count": list(ends_c.values())})
    else:
        lens = t.group_by("case_idx").aggregate(last=t.pos.max())
        ends_t = t.join(lens, [t.case_idx == lens.case_idx, t.pos == lens.last])
        ends = ends_t.group_by("activity").aggregate(count=ends_t.count()).to_pandas()
        starts_t = t.filter(t.pos == 0)
        starts = starts_t.group_by("activity").aggregate(count=starts_t.count()).to_pandas()
    edges = edges[
        ["source", "target", "count", "cases", "wait_mean_s", "wait_total_s", "wait_median_s", "wait_p90_s"]
    ]
    return DirectlyFollowsGraph(
        nodes=_sorted(nodes, ["count", "activity"]),
        edges=_sorted(edges, ["source", "target"], by_count=False),
        start_activities=_sorted(starts, ["count", "activity"]),
        end_activities=_sorted(ends, ["count", "activity"]),
    )


def _edges_from_pairs(p: ibis.Table, *, with_cases: bool) -> pd.DataFrame:
    """Edge counts and waits from the consecutive pairs (:func:`pairs`): any table, any engine."""
    edge_aggs = {
        "count": p.count(),
        "wait_mean_s": p.wait_us.mean() / US,
        "wait_total_s": p.wait_us.sum() / US,
        "wait_median_s": p.wait_us.median() / US,
        "wait_p90_s": p.wait_us.quantile(0.9) / US,
    }
    if with_cases:
        edge_aggs["cases"] = p.case_idx.nunique()
    return p.group_by(["source", "target"]).aggregate(**edge_aggs).to_pandas()


def _edges_from_successors(log: EventLog, *, with_cases: bool) -> pd.DataFrame:
    """The same numbers as :func:`_edges_from_pairs`, read from the successor columns the gate's
    ordering pass wrote (:data:`flowlens.relational.SUCCESSOR_COLUMNS`): one scan of the events,
    no join of each instance to the next.

    Only for the ingested table itself (:meth:`EventLog.is_ingested_table`). The median and the
    90th percentile are exact, from one quantile state per edge (both read from the same
    sorted values: half the memory of two states, the same numbers). The arithmetic is the
    pairs query's, expression for expression, so the results are equal bit for bit
    (``tests/test_discovery.py``).
    """
    cases = ", COUNT(DISTINCT case_idx) AS cases" if with_cases else ""
    # grouped by the activity codes (relational.ACTIVITY_CODE), the few result rows as text
    sql = f"""
        SELECT CAST(source AS VARCHAR) AS source, CAST(target AS VARCHAR) AS target, count,
               wait_mean_s, wait_total_s, q[1] / 1000000.0 AS wait_median_s,
               q[2] / 1000000.0 AS wait_p90_s {", cases" if with_cases else ""}
        FROM (
          SELECT source, target, COUNT(*) AS count, AVG(wait_us) / 1000000.0 AS wait_mean_s,
                 SUM(wait_us) / 1000000.0 AS wait_total_s, QUANTILE_CONT(wait_us, [0.5, 0.9]) AS q {cases}
          FROM (
            SELECT case_idx, __activity_code AS source, __succ_activity AS target,
                   CASE WHEN __succ_gap_us < 0 THEN 0 ELSE __succ_gap_us END AS wait_us
            FROM events WHERE __succ_gap_us IS NOT NULL)
          GROUP BY 1, 2)
    """
    con = log.engine.duckdb
    assert con is not None
    return con.execute(sql).df()


#: :func:`_edges_from_pairs` of the ingested table projected on some activities (the
#: parameter), each kept instance paired with the next kept one of its case by ``lead`` over
#: the table's stored order, which is eid order (the gate's sort; tests/test_gate_speed.py): no
#: sort and no join (the kept activities are a filter, not a join that could reorder the rows).
#: ``disorder`` counts the rows whose next row has no larger eid (0 when the rows came in eid
#: order); groups without a target are the cases' last instances.
_PROJECTED_EDGES_SQL = """
SELECT CAST(source AS VARCHAR) AS source, CAST(target AS VARCHAR) AS target, count,
       wait_mean_s, wait_total_s, q[1] / 1000000.0 AS wait_median_s, q[2] / 1000000.0 AS wait_p90_s,
       disorder
FROM (
  SELECT source, target, COUNT(*) AS count, AVG(wait_us) / 1000000.0 AS wait_mean_s,
         SUM(wait_us) / 1000000.0 AS wait_total_s, QUANTILE_CONT(wait_us, [0.5, 0.9]) AS q,
         COUNT(*) FILTER (WHERE next_eid <= eid) AS disorder
  FROM (
    SELECT eid, next_eid, source, CASE WHEN next_case = case_idx THEN next_activity END AS target,
           CASE WHEN next_case = case_idx THEN
             CASE WHEN next_t - end_us < 0 THEN 0 ELSE next_t - end_us END END AS wait_us
    FROM (
      SELECT eid, case_idx, end_us, __activity_code AS source, lead(eid) OVER () AS next_eid,
             lead(case_idx) OVER () AS next_case, lead(__activity_code) OVER () AS next_activity,
             lead(coalesce(start_us, end_us)) OVER () AS next_t
      FROM events WHERE list_contains(?::VARCHAR[], activity)))
  GROUP BY 1, 2)
"""


def _projected_edges_sql(log: EventLog, keep: list[str]) -> pd.DataFrame | None:
    """The edges of the ingested table projected on ``keep`` in one scan
    (:data:`_PROJECTED_EDGES_SQL`), the same numbers as the pairs of the filtered log bit for
    bit (``tests/test_discovery.py``); None if the rows did not come in eid order (then the
    pairs are not consecutive instances, and the caller joins them instead)."""
    con = log.engine.duckdb
    assert con is not None
    df = con.execute(_PROJECTED_EDGES_SQL, [keep]).df()
    if int(df["disorder"].sum()):
        return None
    edges = df[df.target.notna()].drop(columns="disorder").reset_index(drop=True)
    # text as the source column is (a target column of NULLs only comes back as objects)
    return edges.astype({"target": edges["source"].dtype})


def _nodes_ibis(log: EventLog, *, with_cases: bool) -> pd.DataFrame:
    """Instances per activity and their processing times: any table, any engine."""
    t = log.table
    proc = (t.end_us - t.start_us).name("proc")
    node_aggs = {"count": t.count()}
    if with_cases:
        node_aggs["cases"] = t.case_idx.nunique()
    if log.has_start_times:
        node_aggs |= {
            "proc_mean_s": proc.mean() / US,
            "proc_median_s": proc.median() / US,
            "proc_p90_s": proc.quantile(0.9) / US,
        }
    return t.group_by("activity").aggregate(**node_aggs).to_pandas()


def _nodes_sql(log: EventLog, *, with_cases: bool) -> pd.DataFrame:
    """:func:`_nodes_ibis` on the ingested table, with one quantile state per activity for the
    median and the 90th percentile (same numbers, half the memory)."""
    cols = ["CAST(code AS VARCHAR) AS activity", "count"] + (["cases"] if with_cases else [])
    aggs = "COUNT(*) AS count" + (", COUNT(DISTINCT case_idx) AS cases" if with_cases else "")
    if log.has_start_times:
        cols += ["proc_mean_s", "q[1] / 1000000.0 AS proc_median_s", "q[2] / 1000000.0 AS proc_p90_s"]
        aggs += (
            ", AVG(end_us - start_us) / 1000000.0 AS proc_mean_s, "
            "QUANTILE_CONT(end_us - start_us, [0.5, 0.9]) AS q"
        )
    con = log.engine.duckdb
    assert con is not None
    # grouped by the activity codes (relational.ACTIVITY_CODE), the few result rows as text
    sql = f"SELECT {', '.join(cols)} FROM (SELECT __activity_code AS code, {aggs} FROM events GROUP BY 1)"
    return con.execute(sql).df()


def _counts_from_variants(
    vt: pd.DataFrame, *, keep: Iterable[str] | None = None
) -> tuple[dict[str, int], dict[tuple[str, str], int], dict[str, int], dict[str, int]]:
    """Cases per activity and per directly-follows pair, and cases per start and end activity,
    from the variants (each variant's count added once per activity or pair it contains).
    With ``keep``, of the variants projected on those activities (the others left out of each
    sequence, as :func:`flowlens.filters.filter_activities` leaves them out of each case).

    Vectorised over the variants' activities (no loop per variant).

    >>> vt = pd.DataFrame({"variant": [("a", "b", "a"), ("a", "c")], "count": [3, 2]})
    >>> nodes, edges, starts, ends = _counts_from_variants(vt)
    >>> nodes == {"a": 5, "b": 3, "c": 2}, edges == {("a", "b"): 3, ("b", "a"): 3, ("a", "c"): 2}
    (True, True)
    >>> starts, ends
    ({'a': 5}, {'a': 3, 'c': 2})
    >>> _counts_from_variants(vt, keep=["b", "c"])
    ({'b': 3, 'c': 2}, {}, {'b': 3, 'c': 2}, {'b': 3, 'c': 2})
    """
    import numpy as np

    seqs = vt["variant"].tolist()
    if not seqs:
        return {}, {}, {}, {}
    counts = vt["count"].to_numpy(dtype="int64")
    lens = np.fromiter(map(len, seqs), dtype="int64", count=len(seqs))
    tokens = pd.Series(list(itertools.chain.from_iterable(seqs)), dtype=object)
    vid = np.repeat(np.arange(len(seqs), dtype="int64"), lens)
    if keep is not None:
        kept = tokens.isin(list(keep)).to_numpy()
        tokens, vid = tokens[kept], vid[kept]
        if not len(vid):
            return {}, {}, {}, {}
    codes, names = pd.factorize(tokens)
    codes = codes.astype("int64")
    k = len(names)  # pair (a, b) is the number a * k + b

    def per(keys: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # each (variant, key) once, weighted by the variant's count, summed per key
        uniq = pd.DataFrame({"v": owner, "key": keys}).drop_duplicates()
        sums = pd.Series(counts[uniq["v"].to_numpy()]).groupby(uniq["key"].to_numpy()).sum()
        return sums.index.to_numpy(), sums.to_numpy()

    node_keys, node_n = per(codes, vid)
    same = vid[1:] == vid[:-1]
    pair_keys, pair_n = per((codes[:-1] * k + codes[1:])[same], vid[1:][same])
    # each (projected) variant's first and last activity: where the variant number changes
    first = np.flatnonzero(np.r_[True, ~same])
    last = np.r_[first[1:] - 1, len(vid) - 1]
    nodes = {names[c]: int(n) for c, n in zip(node_keys, node_n, strict=True)}
    edges = {(names[p // k], names[p % k]): int(n) for p, n in zip(pair_keys, pair_n, strict=True)}

    def ends_at(idx: np.ndarray) -> dict[str, int]:
        sums = pd.Series(counts[vid[idx]]).groupby(codes[idx]).sum()
        return {names[c]: int(n) for c, n in sums.items()}

    return nodes, edges, ends_at(first), ends_at(last)


def _sorted(df: pd.DataFrame, keys: list[str], *, by_count: bool = True) -> pd.DataFrame:
    if by_count:
        df = df.sort_values(keys, ascending=[False, True], kind="stable")
    else:
        df = df.sort_values(keys, kind="stable")
    for col in df.columns:
        if col in {"count", "cases"}:
            df[col] = df[col].astype("int64")
    return df.reset_index(drop=True)
