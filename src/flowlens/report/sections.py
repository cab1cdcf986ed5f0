"""Report sections, each built from the same public functions a user can call.

Every builder takes the analysis results (not the log internals) and returns a
:class:`~flowlens.report.document.Section` whose ``data`` holds exactly the numbers shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from markupsafe import Markup

from flowlens.discovery.abstraction import process_map
from flowlens.report.charts import histogram
from flowlens.report.document import Section
from flowlens.report.process_map import inline_svg, map_dot, render
from flowlens.report.templating import render_fragment
from flowlens.units import human_duration

if TYPE_CHECKING:
    import pandas as pd

    from flowlens.discovery.dfg import DirectlyFollowsGraph
    from flowlens.log import EventLog, LogSummary


def _lead_stats(durations: pd.DataFrame) -> dict[str, float | None]:
    lead = durations["lead_time_s"].to_numpy(dtype=float)
    if lead.size == 0:
        return {"median": None, "mean": None, "p90": None}
    return {
        "median": float(np.median(lead)),
        "mean": float(lead.mean()),
        "p90": float(np.quantile(lead, 0.9)),
    }


def summary_section(log: EventLog, summary: LogSummary, durations: pd.DataFrame) -> Section:
    lead = _lead_stats(durations)
    # Charts and maps are SVG built by flowlens with every log value escaped: safe to inline.
    chart = (
        Markup(
            histogram(
                durations["lead_time_s"].to_numpy(dtype=float),
                bins=40,
                log_x=True,
                x_format=human_duration,
                x_label="lead time (log scale)",
            )
        )
        if len(durations)
        else ""
    )
    html = render_fragment(
        "_summary.html.j2", s=summary, lead=lead, columns=log.columns.to_dict(), lead_chart=chart
    )
    data = {**summary.to_dict(), "lead_time_s": lead, "columns": log.columns.to_dict()}
    return Section(
        id="summary",
        title="Summary",
        html=html,
        data=data,
        lead=f"{summary.cases:,} cases and {summary.events:,} activity instances from "
        f"{summary.start[:10] if summary.start else '?'} to {summary.end[:10] if summary.end else '?'}; "
        f"half of the cases take longer than {human_duration(lead['median'])}.",
    )


def quality_section(log: EventLog, summary: LogSummary) -> Section:
    q = log.quality
    flags = [(k, f) for k, f in q.flags.items() if f.count]
    html = render_fragment(
        "_quality.html.j2",
        q=q,
        events=summary.events,
        flags=flags,
        lifecycle=q.lifecycle,
        notes=log.source.notes,
        formats=log.source.timestamp_formats,
    )
    share = q.rows_quarantined / q.rows_read if q.rows_read else 0.0
    return Section(
        id="quality",
        title="Data quality",
        html=html,
        data={
            **q.to_dict(),
            "notes": list(log.source.notes),
            "timestamp_formats": log.source.timestamp_formats,
        },
        lead=(
            f"{q.rows_read:,} rows read; {q.rows_quarantined:,} ({100 * share:.2f} %) set aside with their reason."
            if q.rows_quarantined
            else f"All {q.rows_read:,} rows were usable."
        ),
    )


def map_section(
    log: EventLog,
    graph: DirectlyFollowsGraph,
    *,
    max_activities: int = 40,
    path_coverage: float = 0.95,
    waiting_by_transition: pd.DataFrame | None = None,
) -> Section:
    """Both views of the map (display subset per methods 3.4); ``data`` holds the full graph.

    ``waiting_by_transition`` (customer waiting per ``prev_activity``, ``activity``, as in
    :meth:`~flowlens.analysis.waiting.WaitingAnalysis.by`) names where customers wait most; its
    transitions are drawn on the map whatever its abstraction, so every transition the report
    names is on the map it shows."""
    named: list[tuple[str, str]] = []
    if waiting_by_transition is not None:
        w = waiting_by_transition.reset_index()
        w = w[w.prev_activity.notna() & (w.wait_s > 0)].head(NAMED_TRANSITIONS)
        named = [(str(a), str(b)) for a, b in zip(w.prev_activity, w.activity, strict=True)]
    shown = process_map(log, max_activities=max_activities, path_coverage=path_coverage, keep_edges=named)
    freq = Markup(inline_svg(render(map_dot(shown, view="frequency"))))
    time = Markup(inline_svg(render(map_dot(shown, view="time"))))
    html = render_fragment(
        "_map.html.j2",
        freq_svg=freq,
        time_svg=time,
        has_start=log.has_start_times,
        shown_activities=len(shown.nodes),
        total_activities=shown.total_activities,
        activity_share=shown.activity_share,
        shown_edges=len(shown.edges),
        total_edges=shown.total_edges,
    )
    data = {
        "nodes": records(graph.nodes),
        "edges": records(graph.edges),
        "start_activities": records(graph.start_activities),
        "end_activities": records(graph.end_activities),
        "shown": {
            "activities": shown.nodes.activity.tolist(),
            "edges": shown.edges[["source", "target"]].values.tolist(),
            "activity_share": shown.activity_share,
        },
    }
    busiest = graph.edges.sort_values(["count", "source", "target"], ascending=[False, True, True]).head(1)
    lead = ""
    if len(busiest):
        b = busiest.iloc[0]
        lead = (
            f"The most travelled path is {b.source} → {b.target} ({int(b['count']):,} times, "
            f"median time between the steps {human_duration(b.wait_median_s)})"
        )
        if named and waiting_by_transition is not None:
            top = waiting_by_transition.reset_index()
            top = top[top.prev_activity.notna()].iloc[0]
            lead += (
                f"; customers wait most after {top.prev_activity} before {top.activity} "
                f"({human_duration(top.wait_s)} in all)"
            )
        lead += "."
    data["named_transitions"] = [list(t) for t in named]
    return Section(id="map", title="Process map", html=html, data=data, lead=lead)


#: transitions named by the waiting and bottleneck sections, always drawn on the map
NAMED_TRANSITIONS = 12


def variants_section(variants: pd.DataFrame, *, top: int = 20) -> Section:
    rows = variants.head(top)
    coverage = float(rows["share"].sum()) if len(rows) else 0.0
    html = render_fragment(
        "_variants.html.j2", rows=rows.to_dict("records"), n_variants=len(variants), coverage=coverage
    )
    data = {
        "count": len(variants),
        "top": [
            {**{k: v for k, v in r.items() if k != "variant"}, "activities": list(r["variant"])}
            for r in rows.to_dict("records")
        ],
    }
    lead = (
        (
            f"The most common path is taken by {rows.iloc[0]['share'] * 100:.1f} % of cases; "
            f"{len(variants):,} different paths in all."
        )
        if len(rows)
        else ""
    )
    return Section(id="variants", title="Variants", html=html, data=data, lead=lead)


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.replace({np.nan: None}).to_dict("records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in out]
