"""Directly-follows graph, variants and case durations on small logs with known answers."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import flowlens
from conftest import SHARED, shared_path
from flowlens.discovery.abstraction import activity_counts
from flowlens.discovery.dfg import DirectlyFollowsGraph, _projected_edges_sql, projected_follows
from flowlens.filters import filter_activities
from flowlens.report.interactive_map import _levels


def make_log(traces: list[list[str]], *, with_start: bool = False):
    rows = []
    t0 = pd.Timestamp("2024-01-01 09:00", tz="UTC")
    for c, trace in enumerate(traces):
        for i, act in enumerate(trace):
            end = t0 + pd.Timedelta(days=c, hours=i)
            row = {"case_id": f"c{c}", "activity": act, "end_time": end}
            if with_start:
                row["start_time"] = end - pd.Timedelta(minutes=10)
            rows.append(row)
    return flowlens.read_log(pd.DataFrame(rows))


def test_dfg_counts_waits_and_endpoints() -> None:
    log = make_log([["a", "b", "c"], ["a", "c"], ["a", "b", "b", "c"]], with_start=True)
    g = flowlens.directly_follows(log)
    dfg, starts, ends = g
    assert dfg == {("a", "b"): 2, ("b", "c"): 2, ("a", "c"): 1, ("b", "b"): 1}
    assert starts == {"a": 3}
    assert ends == {"c": 3}
    # each step ends an hour after the previous and starts 10 minutes before it ends
    assert set(g.edges["wait_median_s"]) == {50 * 60.0}
    nodes = g.nodes.set_index("activity")
    assert nodes.loc["b", "count"] == 3
    assert nodes.loc["b", "cases"] == 2
    assert nodes.loc["b", "proc_median_s"] == 600.0


def test_overlap_is_clipped_to_zero_wait() -> None:
    df = pd.DataFrame(
        {
            "case_id": ["x", "x"],
            "activity": ["a", "b"],
            "start_time": ["2024-01-01 09:00", "2024-01-01 09:30"],
            "end_time": ["2024-01-01 10:00", "2024-01-01 11:00"],
        }
    )
    log = flowlens.read_log(df)
    g = flowlens.directly_follows(log)
    assert g.edges["wait_median_s"].tolist() == [0.0]
    assert log.quality.flags["negative_waits"].count == 1


def test_variants_order_share_and_lead_times() -> None:
    log = make_log([["a", "b"], ["a", "b"], ["a", "c", "b"]])
    v = flowlens.variants(log)
    assert v.variant.tolist() == [("a", "b"), ("a", "c", "b")]
    assert v["count"].tolist() == [2, 1]
    assert v["cum_share"].iloc[-1] == 1.0
    assert v["lead_median_s"].tolist() == [3600.0, 7200.0]
    assert v["example_case"].tolist() == ["c0", "c2"]


def test_case_durations() -> None:
    log = make_log([["a", "b", "c"], ["a"]], with_start=True)
    d = flowlens.case_durations(log).set_index("case_id")
    assert d.loc["c0", "lead_time_s"] == 2 * 3600 + 600
    assert d.loc["c1", "lead_time_s"] == 600
    assert d.loc["c0", "events"] == 3


traces = st.lists(st.lists(st.sampled_from("abcde"), min_size=1, max_size=8), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(traces)
def test_dfg_total_is_events_minus_cases(ts: list[list[str]]) -> None:
    log = make_log(ts)
    g = flowlens.directly_follows(log)
    n_events = sum(len(t) for t in ts)
    assert int(g.edges["count"].sum()) == n_events - len(ts)
    assert int(g.start_activities["count"].sum()) == len(ts)
    v = flowlens.variants(log)
    assert int(v["count"].sum()) == len(ts)
    assert set(v.variant) == {tuple(t) for t in ts}


def _same_graph(a: DirectlyFollowsGraph, b: DirectlyFollowsGraph) -> None:
    for part in ("nodes", "edges", "start_activities", "end_activities"):
        pd.testing.assert_frame_equal(getattr(a, part), getattr(b, part), check_exact=True)


@settings(max_examples=15, deadline=None)
@given(traces, st.sets(st.sampled_from("abcde"), min_size=1), st.sampled_from(["none", "all", "a"]))
def test_projected_graph_is_the_filtered_logs(ts: list[list[str]], keep: set[str], starts: str) -> None:
    """The map's projections (discovery.dfg.projected_follows) from the whole log's graph and
    variants equal the graph of the filtered log, column for column and bit for bit; with
    start times on every activity, none, or one only (then a projection without it has none)."""
    rows = []
    t0 = pd.Timestamp("2024-01-01 09:00", tz="UTC")
    for c, trace in enumerate(ts):
        for i, act in enumerate(trace):
            end = t0 + pd.Timedelta(days=c, hours=i, minutes=7 * (i % 3))
            row = {"case_id": f"c{c}", "activity": act, "end_time": end, "start_time": pd.NaT}
            if starts == "all" or (starts == "a" and act == "a"):
                row["start_time"] = end - pd.Timedelta(minutes=10 + 50 * (i % 2))
            rows.append(row)
    df = pd.DataFrame(rows)
    if starts == "none":
        df = df.drop(columns="start_time")
    log = flowlens.read_log(df)
    present = {a for t in ts for a in t}
    if not keep & present:
        return  # nothing kept: no log to compare with
    want = flowlens.directly_follows(filter_activities(log, keep))
    _same_graph(projected_follows(log, keep), want)
    # a log that is not the gate's table (here all its rows, filtered): the edges by the pairs' join
    every = log.derive(log.table.filter(log.table.pos >= 0), "all instances")
    _same_graph(projected_follows(every, keep), want)


def test_projected_edges_need_the_stored_order() -> None:
    """The one-scan edges read each kept instance's successor from the next stored row: when the
    rows are not in eid order they are not used (the pairs are joined instead)."""
    log = make_log([["a", "b", "c", "a"], ["a", "c"], ["b", "a", "c"]] * 20, with_start=True)
    want = flowlens.directly_follows(filter_activities(log, ["a", "c"]))
    con = log.engine.duckdb
    con.execute("CREATE OR REPLACE TABLE events AS SELECT * FROM events ORDER BY hash(eid)")
    assert _projected_edges_sql(log, ["a", "c"]) is None
    _same_graph(projected_follows(log, ["a", "c"]), want)


def test_projected_graph_on_shared_logs() -> None:
    """The same on a real log, at every activity step of the report's map."""
    log = flowlens.read_log(shared_path("sepsis"), flowlens.ColumnMap(**SHARED["sepsis"][1]) or None)
    counts = activity_counts(flowlens.directly_follows(log))
    for _cov, n in _levels(counts, 40)[:-1]:
        keep = counts.activity.head(n).tolist()
        _same_graph(projected_follows(log, keep), flowlens.directly_follows(filter_activities(log, keep)))


def test_projected_graph_memo_tells_activity_sets_apart() -> None:
    """Two activity sets never share a memo entry, whatever characters their names hold."""
    log = make_log([["a", "b"], ["b", "a"]])
    joined = projected_follows(log, ["a\x00b"])
    both = projected_follows(log, ["a", "b"])
    assert joined is not both
    assert len(joined.nodes) == 0 and set(both.nodes.activity) == {"a", "b"}
