"""Report sections, each built from the same public functions a user can call.

Every builder takes the analysis results (not the log internals) and returns a
:class:`~flowlens.report.document.Section` whose ``data`` holds exactly the numbers shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from markupsafe import Markup

from flowlens.discovery.abstraction import process_map
from flowlens.formats import count, percent
from flowlens.i18n import N_, _, pgettext
from flowlens.report.charts import histogram
from flowlens.report.document import Section
from flowlens.report.process_map import inline_svg, map_svg
from flowlens.report.templating import render_fragment
from flowlens.units import human_duration

if TYPE_CHECKING:
    import pandas as pd

    from flowlens.analysis.domain import Domain
    from flowlens.analysis.processes import ProcessSplit
    from flowlens.discovery.dfg import DirectlyFollowsGraph
    from flowlens.log import EventLog, LogSummary


#: Processes drawn with a lead-time histogram of their own in the summary (the largest first).
MAX_PROCESS_CHARTS = 6


#: How the readers name a timestamp format (io/timestamps.py), in the report's language; a
#: strptime pattern or a format without words (ISO 8601, DD/MM/YYYY) stays as it is.
_FORMAT_NAMES = (
    (re.compile(r"typed timestamp with zone"), N_("typed timestamp with zone")),
    (
        re.compile(r"typed timestamp without zone \(taken as (?P<zone>.+)\)"),
        N_("typed timestamp without zone (taken as {zone})"),
    ),
    (re.compile(r"ISO 8601 with offset"), N_("ISO 8601 with offset")),
    (
        re.compile(r"ISO 8601 without offset \(taken as (?P<zone>.+)\)"),
        N_("ISO 8601 without offset (taken as {zone})"),
    ),
    (re.compile(r"date only \(midnight, (?P<zone>.+)\)"), N_("date only (midnight, {zone})")),
    (re.compile(r"ISO 8601 variant with offset"), N_("ISO 8601 variant with offset")),
)


def format_name(name: str) -> str:
    """A reader's name of a timestamp format in the report's language.

    >>> format_name("ISO 8601 without offset (taken as Asia/Shanghai)"), format_name("%d.%m.%Y")
    ('ISO 8601 without offset (taken as Asia/Shanghai)', '%d.%m.%Y')
    """
    for pattern, message in _FORMAT_NAMES:
        m = pattern.fullmatch(name)
        if m:
            return _(message).format(**m.groupdict())
    return name


def _lead_stats(durations: pd.DataFrame) -> dict[str, float | None]:
    lead = durations["lead_time_s"].to_numpy(dtype=float)
    if lead.size == 0:
        return {"median": None, "mean": None, "p90": None}
    return {
        "median": float(np.median(lead)),
        "mean": float(lead.mean()),
        "p90": float(np.quantile(lead, 0.9)),
    }


def start_share(log: EventLog) -> float:
    """The share of activity instances whose start time is recorded (the rest are estimated
    from when the step could start, or unknown in a completion-only log).

    >>> import flowlens, pandas as pd
    >>> df = pd.DataFrame({"case": ["1", "1"], "activity": ["a", "b"], "start": ["2024-01-01 09:00", None],
    ...                    "end": ["2024-01-01 10:00", "2024-01-01 11:00"]})
    >>> start_share(flowlens.read_log(df))
    0.5
    """
    t = log.table
    row = t.aggregate(n=t.count(), s=t.start_us.count()).to_pandas().iloc[0]
    return float(row.s) / float(row.n) if row.n else 0.0


def summary_section(
    log: EventLog,
    summary: LogSummary,
    durations: pd.DataFrame,
    *,
    split: ProcessSplit | None = None,
    processes: pd.DataFrame | None = None,
    domain: Domain | None = None,
) -> Section:
    """The summary: counts, period, columns and lead time (and the ``domain`` used for wording). With a process ``split``
    (:func:`flowlens.analysis.processes.detect_processes`) and the per-case ``processes``
    (:func:`~flowlens.analysis.processes.case_processes`), lead time is given per process and
    the histogram is drawn per process (a pooled histogram of several processes has one hump
    per process and describes none of them)."""
    lead = _lead_stats(durations)
    by_process = None
    if split is not None and processes is not None and len(durations):
        from flowlens.analysis.processes import lead_by_process

        by_process = lead_by_process(durations, processes)
    # Charts and maps are SVG built by flowlens with every log value escaped: safe to inline.
    chart: Markup | str = ""
    process_charts: list[tuple[str, int, Markup]] = []
    box_chart: Markup | str = ""
    if by_process is not None:
        m = durations[["case_id", "lead_time_s"]].merge(
            processes[["case_id", "process"]], on="case_id", how="left"
        )
        groups = {str(p): g["lead_time_s"].to_numpy(dtype=float) for p, g in m.groupby("process", sort=True)}
        order = by_process["process"].tolist()
        from flowlens.report.charts_segments import distribution_chart

        box_chart = Markup(
            distribution_chart(
                [f"{p} ({len(groups[p]):,})" for p in order],
                [groups[p] for p in order],
                value_format=human_duration,
            )
        )
        for p in order[:MAX_PROCESS_CHARTS]:
            process_charts.append(
                (
                    p,
                    len(groups[p]),
                    Markup(
                        histogram(
                            groups[p],
                            bins=30,
                            log_x=True,
                            x_format=human_duration,
                            x_label=_("lead time of {process} cases (log scale)").format(process=p),
                        )
                    ),
                )
            )
    elif len(durations):
        chart = Markup(
            histogram(
                durations["lead_time_s"].to_numpy(dtype=float),
                bins=40,
                log_x=True,
                x_format=human_duration,
                x_label=_("lead time (log scale)"),
            )
        )
    rows = records(by_process) if by_process is not None else []
    html = render_fragment(
        "_summary.html.j2",
        s=summary,
        start_share=start_share(log) if summary.has_start_times else 0.0,
        lead=lead,
        columns=log.columns.to_dict(),
        lead_chart=chart,
        split=split,
        by_process=rows,
        box_chart=box_chart,
        process_charts=process_charts,
        more_processes=max(0, len(rows) - MAX_PROCESS_CHARTS),
        domain=domain,
    )
    data: dict[str, Any] = {**summary.to_dict(), "lead_time_s": lead, "columns": log.columns.to_dict()}
    if domain is not None:
        data["domain"] = domain.to_dict()
    start = summary.start[:10] if summary.start else "?"
    end = summary.end[:10] if summary.end else "?"
    if split is not None and by_process is not None:
        data["processes"] = split.to_dict()
        data["lead_time_by_process"] = rows
        per = pgettext("list separator", ", ").join(
            f"{r['process']} {human_duration(r['median_s'])}" for r in rows[:6]
        )
        values = {
            "cases": count(summary.cases),
            "n": split.n,
            "column": split.name,
            "events": count(summary.events),
            "start": start,
            "end": end,
            "per": per,
        }
        if len(rows) > 6:
            text = _(
                "{cases} cases of {n} processes (column {column}) and {events} activity instances from "
                "{start} to {end}; median lead time per process, first to last step of all cases: {per} "
                "and {more} more."
            ).format(more=len(rows) - 6, **values)
        else:
            text = _(
                "{cases} cases of {n} processes (column {column}) and {events} activity instances from "
                "{start} to {end}; median lead time per process, first to last step of all cases: {per}."
            ).format(**values)
    else:
        text = _(
            "{cases} cases and {events} activity instances from {start} to {end}; "
            "half of all cases take longer than {median} from their first to their last step."
        ).format(
            cases=count(summary.cases),
            events=count(summary.events),
            start=start,
            end=end,
            median=human_duration(lead["median"]),
        )
    return Section(id="summary", title=_("Summary"), html=html, data=data, lead=text)


def first_page_population(board: Mapping[str, Any]) -> str | None:
    """The sentence the Summary adds when the first page's lead times (methods 18.2) count
    other cases or another span than its own (all cases, first to last step, methods 3.3); None
    when they are the same.

    >>> first_page_population({"instant": 3, "lead_to": "outcome"})
    "The first page's lead times run to the customer's answer and leave out the 3 cases answered within a minute (methods 18.2)."
    >>> first_page_population({"instant": 0, "lead_to": "end"}) is None
    True
    """
    n = int(board.get("instant") or 0)
    to_answer = board.get("lead_to") == "outcome"
    if n and to_answer:
        return _(
            "The first page's lead times run to the customer's answer and leave out the {n} cases "
            "answered within a minute (methods 18.2)."
        ).format(n=count(n))
    if n:
        return _(
            "The first page's lead times leave out the {n} cases answered within a minute (methods 18.2)."
        ).format(n=count(n))
    if to_answer:
        return _(
            "The first page's lead times run to the customer's answer, not to the last step (methods 18.2)."
        )
    return None


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
        formats={
            col: {format_name(f): n for f, n in fm.items()}
            for col, fm in log.source.timestamp_formats.items()
        },
    )
    share = q.rows_quarantined / q.rows_read if q.rows_read else 0.0
    return Section(
        id="quality",
        title=_("Data quality"),
        appendix=True,
        html=html,
        data={
            **q.to_dict(),
            "notes": list(log.source.notes),
            "timestamp_formats": log.source.timestamp_formats,
        },
        lead=(
            _("{read} rows read; {n} ({share}) set aside with their reason.").format(
                read=count(q.rows_read), n=count(q.rows_quarantined), share=percent(share, 2)
            )
            if q.rows_quarantined
            else _("All {n} rows were usable.").format(n=count(q.rows_read))
        ),
    )


def map_section(
    log: EventLog,
    graph: DirectlyFollowsGraph,
    *,
    max_activities: int = 40,
    path_coverage: float = 0.95,
    waiting_by_transition: pd.DataFrame | None = None,
    waiting_by_activity: pd.DataFrame | None = None,
    interactive: bool = True,
) -> Section:
    """Both views of the map (display subset per methods 3.4); ``data`` holds the full graph.
    With ``interactive``, the page also gets the sliders, view toggle and waiting split
    (per activity, from ``waiting_by_activity``) of :mod:`flowlens.report.interactive_map`.

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
    freq = Markup(inline_svg(map_svg(shown, view="frequency")))
    time = Markup(inline_svg(map_svg(shown, view="time")))
    states = None
    if interactive:
        from flowlens.report.interactive_map import map_script, map_states

        states = map_states(
            log,
            max_activities=max_activities,
            path_coverage=path_coverage,
            keep_edges=named,
            waiting_by_activity=waiting_by_activity,
        )
    html = render_fragment(
        "_map.html.j2",
        freq_svg=freq,
        time_svg=time,
        states_json=Markup(states.json()) if states is not None else None,
        has_start=log.has_start_times,
        start_share=start_share(log) if log.has_start_times else 0.0,
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
        path = {
            "source": b.source,
            "target": b.target,
            "n": count(int(b["count"])),
            "median": human_duration(b.wait_median_s),
        }
        if named and waiting_by_transition is not None:
            top = waiting_by_transition.reset_index()
            top = top[top.prev_activity.notna()].iloc[0]
            lead = _(
                "The most travelled path is {source} → {target} ({n} times, median time between the steps "
                "{median}); customers wait most after {before} before {after} ({waiting} in all)."
            ).format(before=top.prev_activity, after=top.activity, waiting=human_duration(top.wait_s), **path)
        else:
            lead = _(
                "The most travelled path is {source} → {target} ({n} times, median time between the steps {median})."
            ).format(**path)
    data["named_transitions"] = [list(t) for t in named]
    scripts = (map_script(),) if states is not None else ()
    return Section(id="map", title=_("Process map"), html=html, data=data, lead=lead, scripts=scripts)


#: transitions named by the waiting and bottleneck sections, always drawn on the map
NAMED_TRANSITIONS = 12


def variants_section(
    variants: pd.DataFrame,
    *,
    top: int = 20,
    split: ProcessSplit | None = None,
    processes: pd.DataFrame | None = None,
    per_process: Mapping[str, pd.DataFrame] | None = None,
) -> Section:
    """The variants: the ``top`` paths with share, coverage and lead times. With a process
    ``split``, each path is labelled with its process (that of its example case) and
    ``per_process`` (process -> :func:`flowlens.discovery.variants.variants` of its cases)
    gives the headline numbers per process: shares are of the process's own cases."""
    rows = variants.head(top)
    coverage = float(rows["share"].sum()) if len(rows) else 0.0
    proc_of: dict[str, str] = {}
    if split is not None and processes is not None:
        proc_of = dict(zip(processes["case_id"].astype(str), processes["process"], strict=True))
    recs = rows.to_dict("records")
    for i, r in enumerate(recs, start=1):
        r["process"] = proc_of.get(str(r["example_case"])) if proc_of else None
        r["rank"] = i
    heads: list[dict[str, Any]] = []
    for p, v in sorted((per_process or {}).items(), key=lambda kv: (-int(kv[1]["count"].sum()), kv[0])):
        if v.empty:
            continue
        first = v.iloc[0]
        heads.append(
            {
                "process": p,
                "cases": int(v["count"].sum()),
                "variants": len(v),
                "top_share": float(first["share"]),
                "top_length": int(first["length"]),
                "top10_share": float(v["share"].head(10).sum()),
                "top_path": list(first["variant"]),
                "top_lead_median_s": float(first["lead_median_s"]),
            }
        )
    html = render_fragment(
        "_variants.html.j2",
        rows=recs,
        n_variants=len(variants),
        coverage=coverage,
        split=split,
        heads=heads,
    )
    data: dict[str, Any] = {
        "count": len(variants),
        "top": [
            {
                **{k: v for k, v in r.items() if k not in ("variant", "rank") and (k != "process" or split)},
                "activities": list(r["variant"]),
            }
            for r in recs
        ],
    }
    if split is not None:
        data["by_process"] = heads
    lead = (
        _("The most common path is taken by {share} of cases; {n} different paths in all.").format(
            share=percent(rows.iloc[0]["share"]), n=count(len(variants))
        )
        if len(rows)
        else ""
    )
    if heads:
        per = pgettext("list separator", "; ").join(
            _("{process} {share} of its cases ({n} paths)").format(
                process=h["process"], share=percent(h["top_share"]), n=count(h["variants"])
            )
            for h in heads[:6]
        )
        lead = _("{n} different paths in all; the most common path per process: {per}.").format(
            n=count(len(variants)), per=per
        )
    return Section(id="variants", title=_("Variants"), html=html, data=data, lead=lead)


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.replace({np.nan: None}).to_dict("records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in out]
