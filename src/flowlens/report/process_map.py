"""Drawing a directly-follows graph with Graphviz: DOT, SVG and PNG.

Two views: *frequency* (node and edge counts; colour and width by count) and *time* (median
waiting on edges and median processing in nodes; colour and width by the median wait). Node
identifiers are synthetic (``n0``, ``n1``, ...), so activity names appear only as escaped label
text: control characters spelled visibly and cut at
:data:`~flowlens.render.text.LABEL_LIMIT` characters with an ellipsis
(:mod:`flowlens.render.text`). In the SVG, each box's tooltip is the whole (escaped) name and
each arrow's names its two activities; the SVG is cleaned of links, scripts and comments
(:func:`flowlens.render.svg.clean_svg`) before it is written or inlined in a report.

>>> import pandas as pd
>>> from flowlens.discovery.dfg import DirectlyFollowsGraph
>>> g = DirectlyFollowsGraph(
...     nodes=pd.DataFrame({"activity": ["a", "b"], "count": [3, 3], "cases": [3, 3]}),
...     edges=pd.DataFrame({"source": ["a"], "target": ["b"], "count": [3], "cases": [3],
...                         "wait_mean_s": [60.0], "wait_median_s": [60.0], "wait_p90_s": [60.0]}),
...     start_activities=pd.DataFrame({"activity": ["a"], "count": [3]}),
...     end_activities=pd.DataFrame({"activity": ["b"], "count": [3]}))
>>> "1.0 min" in map_dot(g, view="time")
True
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

from flowlens.discovery.dfg import DirectlyFollowsGraph
from flowlens.errors import ConfigError
from flowlens.i18n import N_, _
from flowlens.render.dot import dot_escape, render
from flowlens.render.svg import clean_svg
from flowlens.render.text import label as short_label
from flowlens.render.text import visible
from flowlens.units import human_count, human_duration

if TYPE_CHECKING:
    import pandas as pd

VIEWS = ("frequency", "time")
# Sequential palettes (ColorBrewer Blues and Oranges, 7 classes).
_BLUES = ["#eff3ff", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#084594"]
_ORANGES = ["#feedde", "#fdd0a2", "#fdae6b", "#fd8d3c", "#f16913", "#d94801", "#8c2d04"]


def _shade(value: float, top: float, palette: list[str]) -> tuple[str, str]:
    """Fill colour and a readable font colour for value in [0, top]."""
    if math.isnan(value) or math.isnan(top) or top <= 0:  # no scale to shade on
        return palette[0], "black"
    frac = math.sqrt(max(value, 0) / top)
    i = min(len(palette) - 1, int(frac * (len(palette) - 1) + 0.5))
    return palette[i], ("white" if i >= 4 else "black")


_LEGEND = {  # drawn under the map, in the report's language
    "frequency": N_(
        "Frequency view. Box: activity and its number of instances. Arrow: the next activity in a case, "
        "with the number of times; darker and wider = more often. Dashed: cases starting or ending there."
    ),
    "time": N_(
        "Time view. Box: median processing time (instances with a start). Arrow: median waiting from the end of "
        "one step to the start of the next; darker and wider = longer. Dashed: cases starting or ending there."
    ),
}


def _dense(n_edges: int) -> str:
    """Layout settings for dense maps. Edge labels are external labels (``xlabel``, placed after
    layout: an order of magnitude faster than ``label``, which dot lays out as extra nodes);
    beyond 200 paths the crossing minimisation is cut short and edges are drawn straight, which
    keeps layout near 1 s per 1,000 paths (benchmarks/bench_map_layout.py)."""
    return ", mclimit=0.1, nslimit=1, nslimit1=1, splines=line" if n_edges > 200 else ""


def map_dot(graph: DirectlyFollowsGraph, *, view: str = "frequency", title: str | None = None) -> str:
    """The DOT source of the map in the chosen view."""
    if view not in VIEWS:
        raise ConfigError(f"unknown map view '{view}'; choose one of {', '.join(VIEWS)}")
    nodes, ids = _node_ids(graph)
    legend = _(_LEGEND[view]) + (f"  ·  {title}" if title else "")
    lines = [
        "digraph process_map {",
        '  graph [rankdir=TB, nodesep=0.35, ranksep=0.45, fontname="Helvetica", fontsize=10, '
        f'bgcolor="white", pad=0.2, newrank=true, forcelabels=true{_dense(len(graph.edges))}, '
        f'label="{dot_escape(legend)}", labelloc=b, labeljust=l, '
        'fontcolor="#616e7c"];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, margin="0.15,0.06", penwidth=0.8];',
        '  edge [fontname="Helvetica", fontsize=9, arrowsize=0.6];',
        '  start [label="start", shape=circle, style=filled, fillcolor="#d9f0d3", width=0.45, fixedsize=true, fontsize=9];',
        '  end [label="end", shape=doublecircle, style=filled, fillcolor="#f4cccc", width=0.4, fixedsize=true, fontsize=9];',
    ]
    has_proc = "proc_median_s" in nodes.columns
    top_count = float(nodes["count"].max() or 1)
    for rec in nodes.itertuples(index=False):
        if view == "frequency":
            fill, font = _shade(rec.count, top_count, _BLUES)
            sub = human_count(rec.count)
        else:
            proc = float(getattr(rec, "proc_median_s", float("nan"))) if has_proc else float("nan")
            top_proc = float(nodes["proc_median_s"].max()) if has_proc else float("nan")
            fill, font = _shade(proc, top_proc, _ORANGES)
            sub = f"median {human_duration(proc)}" if proc == proc else human_count(rec.count)
        label = dot_escape(short_label(rec.activity)) + "\\n" + dot_escape(sub)
        lines.append(f'  {ids[rec.activity]} [label="{label}", fillcolor="{fill}", fontcolor="{font}"];')

    edges = graph.edges
    top_edge = float(edges["count"].max()) if len(edges) else 1.0
    waits = edges["wait_median_s"] if "wait_median_s" in edges.columns else None
    top_wait = float(waits.max()) if waits is not None and len(edges) and waits.max() == waits.max() else 0.0
    for rec in edges.itertuples(index=False):
        if rec.source not in ids or rec.target not in ids:
            continue
        if view == "frequency":
            frac = math.sqrt(rec.count / top_edge) if top_edge else 0
            color = _shade(rec.count, top_edge, _BLUES)[0] if frac > 0.15 else "#9ecae1"
            label = human_count(rec.count)
        else:
            w = float(rec.wait_median_s) if rec.wait_median_s == rec.wait_median_s else 0.0
            frac = math.sqrt(w / top_wait) if top_wait else 0
            color = _shade(w, top_wait, _ORANGES)[0] if frac > 0.15 else "#bdbdbd"
            label = human_duration(w)
        width = 0.8 + 4.2 * frac
        lines.append(
            f'  {ids[rec.source]} -> {ids[rec.target]} [xlabel="{dot_escape(label)}", '
            f'penwidth={width:.2f}, color="{color}"];'
        )
    for df, tail in ((graph.start_activities, True), (graph.end_activities, False)):
        for rec in df.itertuples(index=False):
            if rec.activity not in ids:
                continue
            a, b = ("start", ids[rec.activity]) if tail else (ids[rec.activity], "end")
            lines.append(
                f'  {a} -> {b} [xlabel="{human_count(rec.count)}", style=dashed, color="#969696", penwidth=0.8];'
            )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _node_ids(graph: DirectlyFollowsGraph) -> tuple[pd.DataFrame, dict[str, str]]:
    """The nodes, most frequent first, and the synthetic DOT id of each activity."""
    nodes = graph.nodes.sort_values(["count", "activity"], ascending=[False, True]).reset_index(drop=True)
    return nodes, {a: f"n{i}" for i, a in enumerate(nodes.activity)}


def map_titles(graph: DirectlyFollowsGraph) -> dict[str, str]:
    """The tooltip of every node and edge of :func:`map_dot`'s drawing, by DOT identifier: the
    whole activity name (visibly escaped, never cut) for a box, "a → b" for an arrow."""
    _, ids = _node_ids(graph)
    titles = {i: visible(a) for a, i in ids.items()}
    short = {i: short_label(a) for a, i in ids.items()}
    short |= {"start": "start", "end": "end"}
    pairs = [(ids.get(s), ids.get(t)) for s, t in zip(graph.edges.source, graph.edges.target, strict=True)]
    pairs += [("start", ids.get(a)) for a in graph.start_activities.activity]
    pairs += [(ids.get(a), "end") for a in graph.end_activities.activity]
    for s, t in pairs:
        if s is not None and t is not None:
            titles[f"{s}->{t}"] = f"{short[s]} → {short[t]}"
    return titles


def map_svg(graph: DirectlyFollowsGraph, *, view: str = "frequency") -> bytes:
    r"""The map drawn as SVG, with tooltips by name and no link (module notes).

    >>> import pandas as pd
    >>> from flowlens.discovery.dfg import DirectlyFollowsGraph
    >>> name = "Open account\x00" + "x" * 200
    >>> g = DirectlyFollowsGraph(
    ...     nodes=pd.DataFrame({"activity": [name], "count": [1], "cases": [1]}),
    ...     edges=pd.DataFrame({"source": [], "target": [], "count": [], "cases": [],
    ...                         "wait_median_s": []}),
    ...     start_activities=pd.DataFrame({"activity": [name], "count": [1]}),
    ...     end_activities=pd.DataFrame({"activity": [name], "count": [1]}))
    >>> svg = map_svg(g).decode()
    >>> "Open account\\x00" + "x" * 200 in svg, "x" * 120 in svg.split("<text")[1]
    (True, False)
    """
    return clean_svg(render(map_dot(graph, view=view), "svg"), map_titles(graph))


_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_PROLOG = re.compile(r"^.*?(?=<svg)", re.DOTALL)


def inline_svg(svg: bytes) -> str:
    """SVG text fit to inline in HTML: no XML prolog, DOCTYPE or comments, and (whatever drew
    it) no link, script or event handler (:func:`~flowlens.render.svg.clean_svg`)."""
    text = clean_svg(svg).decode("utf-8")
    text = _PROLOG.sub("", text, count=1)
    return _COMMENT.sub("", text)


def save_map(graph: DirectlyFollowsGraph, path: str | Path, *, view: str = "frequency") -> Path:
    """Write the map as .svg, .png, .pdf or .dot (by suffix)."""
    from flowlens.outputs import write_bytes, write_text

    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in {"dot", "gv", "svg", "png", "pdf"}:
        raise ConfigError(f"cannot write a map as '{p.suffix}'; use .svg, .png, .pdf or .dot")
    dot = map_dot(graph, view=view)
    # atomically: a failed or killed run leaves the previous map in place
    if fmt in {"dot", "gv"}:
        return write_text(p, dot)
    if fmt == "svg":
        return write_bytes(p, clean_svg(render(dot, fmt), map_titles(graph)))
    return write_bytes(p, render(dot, fmt))
