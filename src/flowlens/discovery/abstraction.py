"""Simplifying a process map the way analysts use Disco's sliders.

:func:`process_map` keeps the most frequent activities until they cover a share of all
activity instances, *projecting* the log on them in the engine (so an arrow then means "next
among the kept activities"), then keeps the paths that matter most, by frequency or by total
waiting, until they cover a share of all transitions (or of all waiting). It never leaves a kept
activity without a way in or out: each keeps its strongest incoming and outgoing path
(ignoring self-loops) unless it starts or ends cases. :func:`abstract_graph` is the path step
alone, on a graph (docs/methods.md 3.4).

>>> import pandas as pd
>>> from flowlens.discovery.dfg import DirectlyFollowsGraph
>>> g = DirectlyFollowsGraph(
...     nodes=pd.DataFrame({"activity": ["a", "b", "c"], "count": [10, 10, 2], "cases": [10, 10, 2]}),
...     edges=pd.DataFrame({"source": ["a", "b", "a"], "target": ["b", "c", "c"], "count": [9, 1, 1],
...                         "cases": [9, 1, 1]}),
...     start_activities=pd.DataFrame({"activity": ["a"], "count": [10]}),
...     end_activities=pd.DataFrame({"activity": ["b", "c"], "count": [9, 1]}))
>>> small = abstract_graph(g, path_coverage=0.8)
>>> small.edges[["source", "target"]].values.tolist()
[['a', 'b'], ['a', 'c']]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowlens.discovery.dfg import DirectlyFollowsGraph, directly_follows, projected_follows
from flowlens.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from flowlens.log import EventLog

#: Path measure name -> edge column used to rank and to measure coverage.
PATH_MEASURES = {"frequency": "count", "time": "wait_total_s"}


@dataclass
class AbstractedGraph(DirectlyFollowsGraph):
    """The part of a graph chosen for display, and how much there was."""

    #: activities in the log before projection
    total_activities: int = 0
    #: paths between the shown activities before path abstraction
    total_edges: int = 0
    #: share of activity instances covered by the shown activities
    activity_share: float = 1.0


def abstract_graph(
    graph: DirectlyFollowsGraph,
    *,
    path_coverage: float = 1.0,
    measure: str = "count",
    keep_edges: Sequence[tuple[str, str]] = (),
) -> AbstractedGraph:
    """Keep the edges with the largest ``measure`` until they hold ``path_coverage`` of its
    total, plus each activity's strongest way in and out, plus ``keep_edges`` (paths a report
    names, which must be on the map it shows)."""
    edges = graph.edges
    ranked = edges.sort_values([measure, "count", "source", "target"], ascending=[False, False, True, True])
    weights = ranked[measure].fillna(0)
    total = float(weights.sum())
    n_keep = int(((weights.cumsum() / total) < path_coverage - 1e-12).sum()) + 1 if total > 0 else len(ranked)
    chosen = set(ranked.index[:n_keep])
    wanted = set(keep_edges)
    chosen |= {i for i, s, t in zip(edges.index, edges.source, edges.target, strict=True) if (s, t) in wanted}
    start_set = set(graph.start_activities.activity)
    end_set = set(graph.end_activities.activity)
    by_count = edges.sort_values(["count", "source", "target"], ascending=[False, True, True])
    for act in graph.nodes.activity:
        incoming = by_count[(by_count.target == act) & (by_count.source != act)]
        if act not in start_set and len(incoming) and not (set(incoming.index) & chosen):
            chosen.add(incoming.index[0])
        outgoing = by_count[(by_count.source == act) & (by_count.target != act)]
        if act not in end_set and len(outgoing) and not (set(outgoing.index) & chosen):
            chosen.add(outgoing.index[0])
    kept_edges = edges.loc[sorted(chosen)].sort_values(["source", "target"]).reset_index(drop=True)
    return AbstractedGraph(
        nodes=graph.nodes,
        edges=kept_edges,
        start_activities=graph.start_activities,
        end_activities=graph.end_activities,
        total_activities=len(graph.nodes),
        total_edges=len(edges),
    )


def process_map(
    log: EventLog,
    *,
    activity_coverage: float = 1.0,
    max_activities: int | None = None,
    path_coverage: float = 1.0,
    path_measure: str = "frequency",
    keep_edges: Sequence[tuple[str, str]] = (),
) -> AbstractedGraph:
    """The map to draw: the log projected on its most frequent activities (covering
    ``activity_coverage`` of instances, at most ``max_activities``), then the paths that matter
    most by ``path_measure`` ("frequency" or "time", i.e. total waiting on the path).
    ``keep_edges`` are always drawn, with their activities (beyond ``max_activities`` if need
    be): a directly-follows pair of the log stays one when other activities are left out.

    >>> import flowlens, pandas as pd
    >>> df = pd.DataFrame({"case": list("aaabbbc"), "activity": list("xyzxyzq"),
    ...                    "timestamp": pd.date_range("2024-01-01", periods=7, freq="h")})
    >>> m = process_map(flowlens.read_log(df), activity_coverage=0.8)
    >>> sorted(m.nodes.activity), m.total_activities
    (['x', 'y', 'z'], 4)
    """
    if path_measure not in PATH_MEASURES:
        raise ConfigError(f"unknown path measure '{path_measure}'; choose {' or '.join(PATH_MEASURES)}")
    for name, share in (("activity", activity_coverage), ("path", path_coverage)):
        if not 0 < share <= 1:
            raise ConfigError(f"{name} coverage must be in (0, 1], got {share}")
    if max_activities is not None and max_activities < 1:
        raise ConfigError(f"the map needs at least one activity, got max_activities={max_activities}")
    whole = directly_follows(log)
    counts = activity_counts(whole)
    share = counts["n"].cumsum() / counts["n"].sum()
    keep_n = int((share < activity_coverage - 1e-12).sum()) + 1
    if max_activities is not None:
        keep_n = min(keep_n, max_activities)
    keep = counts["activity"].head(keep_n).tolist()
    keep += sorted({a for edge in keep_edges for a in edge} - set(keep) & set(counts["activity"]))
    shown = abstract_graph(
        projected_follows(log, keep) if len(keep) < len(counts) else whole,
        path_coverage=path_coverage,
        measure=PATH_MEASURES[path_measure],
        keep_edges=keep_edges,
    )
    shown.total_activities = len(counts)
    total = float(counts["n"].sum())
    shown.activity_share = float(counts["n"][counts["activity"].isin(keep)].sum()) / total if total else 1.0
    return shown


def activity_counts(graph: DirectlyFollowsGraph) -> pd.DataFrame:
    """Instances per activity (activity, n), the most frequent first (ties by name): the
    graph's node counts, so the map's activity steps need no count of their own.

    >>> import pandas as pd
    >>> g = DirectlyFollowsGraph(nodes=pd.DataFrame({"activity": ["b", "a"], "count": [2, 2]}),
    ...     edges=pd.DataFrame(), start_activities=pd.DataFrame(), end_activities=pd.DataFrame())
    >>> activity_counts(g).values.tolist()
    [['a', 2], ['b', 2]]
    """
    counts = graph.nodes[["activity", "count"]].rename(columns={"count": "n"})
    return counts.sort_values(["n", "activity"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )


def keep_all(graph: DirectlyFollowsGraph) -> AbstractedGraph:
    """The whole graph, as an :class:`AbstractedGraph`."""
    return abstract_graph(graph, path_coverage=1.0)


__all__ = ["PATH_MEASURES", "AbstractedGraph", "abstract_graph", "activity_counts", "keep_all", "process_map"]
