"""Simplifying a directly-follows graph for display, the way analysts use Disco's sliders.

Keep the most frequent activities until they cover a share of all activity instances, then
the most important paths until they cover a share of all transitions, and never leave a kept
activity without a way in or out: each keeps its strongest incoming and outgoing connection
(to another kept activity, or to the start/end).

>>> import pandas as pd
>>> from flowlens.discovery.dfg import DirectlyFollowsGraph
>>> g = DirectlyFollowsGraph(
...     nodes=pd.DataFrame({"activity": ["a", "b", "c"], "count": [10, 10, 1], "cases": [10, 10, 1]}),
...     edges=pd.DataFrame({"source": ["a", "b", "a"], "target": ["b", "c", "c"], "count": [9, 1, 1],
...                         "cases": [9, 1, 1]}),
...     start_activities=pd.DataFrame({"activity": ["a"], "count": [10]}),
...     end_activities=pd.DataFrame({"activity": ["b", "c"], "count": [9, 1]}))
>>> small = abstract_graph(g, activity_coverage=0.9)
>>> small.nodes.activity.tolist(), small.edges[["source", "target"]].values.tolist()
(['a', 'b'], [['a', 'b']])
"""

from __future__ import annotations

from dataclasses import dataclass

from flowlens.discovery.dfg import DirectlyFollowsGraph


@dataclass
class AbstractedGraph(DirectlyFollowsGraph):
    """A display subset of a graph, with what was left out."""

    total_activities: int = 0
    total_edges: int = 0


def abstract_graph(
    graph: DirectlyFollowsGraph,
    *,
    activity_coverage: float = 1.0,
    path_coverage: float = 1.0,
    max_activities: int | None = None,
    measure: str = "count",
) -> AbstractedGraph:
    """Keep activities covering ``activity_coverage`` of instances (at most
    ``max_activities``) and paths covering ``path_coverage`` of transitions, ranked by
    ``measure`` (an edge column such as ``count`` or ``wait_median_s``), without
    disconnecting any kept activity."""
    nodes = graph.nodes.sort_values(["count", "activity"], ascending=[False, True])
    total = nodes["count"].sum()
    cum = nodes["count"].cumsum() / total if total else nodes["count"]
    keep_n = int((cum < activity_coverage - 1e-12).sum()) + 1
    if max_activities is not None:
        keep_n = min(keep_n, max_activities)
    kept = set(nodes.activity.iloc[:keep_n])

    edges = graph.edges[graph.edges.source.isin(kept) & graph.edges.target.isin(kept)]
    ranked = edges.sort_values([measure, "count", "source", "target"], ascending=[False, False, True, True])
    weights = ranked["count"]
    cum_e = weights.cumsum() / weights.sum() if weights.sum() else weights
    chosen = set(ranked.index[: int((cum_e < path_coverage - 1e-12).sum()) + 1]) if len(ranked) else set()

    starts = graph.start_activities[graph.start_activities.activity.isin(kept)]
    ends = graph.end_activities[graph.end_activities.activity.isin(kept)]
    start_set, end_set = set(starts.activity), set(ends.activity)
    for act in kept:
        incoming = ranked[(ranked.target == act) & (ranked.source != act)]
        if act not in start_set and len(incoming) and not (set(incoming.index) & chosen):
            chosen.add(incoming.index[0])
        outgoing = ranked[(ranked.source == act) & (ranked.target != act)]
        if act not in end_set and len(outgoing) and not (set(outgoing.index) & chosen):
            chosen.add(outgoing.index[0])
    kept_edges = edges.loc[sorted(chosen)].sort_values(["source", "target"]).reset_index(drop=True)
    return AbstractedGraph(
        nodes=graph.nodes[graph.nodes.activity.isin(kept)].reset_index(drop=True),
        edges=kept_edges,
        start_activities=starts.reset_index(drop=True),
        end_activities=ends.reset_index(drop=True),
        total_activities=len(graph.nodes),
        total_edges=len(graph.edges),
    )


def keep_all(graph: DirectlyFollowsGraph) -> AbstractedGraph:
    return AbstractedGraph(
        nodes=graph.nodes,
        edges=graph.edges,
        start_activities=graph.start_activities,
        end_activities=graph.end_activities,
        total_activities=len(graph.nodes),
        total_edges=len(graph.edges),
    )


__all__ = ["AbstractedGraph", "abstract_graph", "keep_all"]
