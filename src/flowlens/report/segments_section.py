"""The report section comparing segments (any case attribute) with bootstrap CIs.

Built from a :class:`~flowlens.analysis.segments.SegmentComparison` (what ``flowlens segments``
prints); ``data`` is :meth:`SegmentComparison.to_dict`.

>>> import flowlens, pandas as pd
>>> from flowlens.analysis.segments import segments
>>> df = pd.DataFrame({"case": [str(i) for i in range(30)], "activity": "a",
...     "start": pd.Timestamp("2024-01-01"), "timestamp": [pd.Timestamp("2024-01-01")
...     + pd.Timedelta(hours=1 + i % 3) for i in range(30)], "tier": ["<g>", "s", "s"] * 10})
>>> sec = segments_section(segments(flowlens.read_log(df), "tier", resamples=100, journeys=False))
>>> sec.id, "&lt;g&gt;" in sec.html, "<g>" in sec.html
('segments-tier', True, False)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from markupsafe import Markup

from flowlens.analysis.segments import CASE_METRICS, ISSUE_METRICS, Metric
from flowlens.i18n import _, localize
from flowlens.report.charts_segments import distribution_chart, interval_chart
from flowlens.report.document import Section
from flowlens.report.templating import render_fragment
from flowlens.units import human_duration

if TYPE_CHECKING:
    from flowlens.analysis.segments import SegmentComparison

_METRICS = {m.name: m for m in (*CASE_METRICS, *ISSUE_METRICS)}


def _slug(text: str) -> str:
    s = re.sub(r"[^0-9a-zA-Z]+", "-", text).strip("-").lower()
    return s or "attribute"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def metric_blocks(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Display rows per metric of a comparison table (:func:`flowlens.analysis.segments.compare`):
    value, interval, comparison value and difference formatted for the metric's kind."""
    blocks: list[dict[str, Any]] = []
    for name, block in table.groupby("metric", sort=False):
        first = block.iloc[0]
        m = _METRICS.get(str(name)) or Metric(
            str(name), str(first["label"]), str(name), kind=str(first["kind"])
        )
        rows = []
        for r in block.to_dict("records"):
            whole = r["group"] == "(all)"
            proc = r.get("process")
            noise = r["noise"]
            flag = (
                ""
                if noise is None or whole
                else (_("too few") if r["small"] else (_("noise") if noise else _("differs")))
            )
            rows.append(
                {
                    "process": proc if isinstance(proc, str) else "",
                    "group": r["group"],
                    "n": r["n"],
                    "value": m.format(r["value"]),
                    "ci": f"{m.format(r['ci_low'])} – {m.format(r['ci_high'])}",
                    "other": "" if whole else m.format(r["other"]),
                    "diff": (
                        _("{diff} ({low} to {high})").format(
                            diff=m.format_diff(r["diff"]),
                            low=m.format_diff(r["diff_low"]),
                            high=m.format_diff(r["diff_high"]),
                        )
                        if not whole and r["diff"] == r["diff"]
                        else ""
                    ),
                    "flag": flag,
                }
            )
        # a metric's label is a Message (analysis/segments.py): in the report's language
        label = str(localize(first["label"] if first.get("label") else m.label))
        blocks.append({"metric": str(name), "label": _cap(label), "unit": m.unit, "rows": rows})
    return blocks


def segments_section(
    res: SegmentComparison, *, findings: int = 5, same: Sequence[tuple[str, float]] = ()
) -> Section:
    """The "Segments: by X" section: the clearest findings, the median lead time per segment
    with its 95 % interval, and behind "all metrics" the lead-time distributions and one table
    per metric (value, interval, difference from the rest with its interval, noise flag).
    ``same``: attributes left out because they split the cases as X does (methods 18.3), with
    the share of cases on which they agree."""
    t = res.table
    if res.within:
        # within processes: one row per (process, segment), drawn as "process · segment"
        proc = t["process"].where(t["process"].notna(), None)
        t = t.assign(
            group=[
                f"{p} · {g}" if p is not None and g != "(all)" else g
                for p, g in zip(proc, t["group"], strict=True)
            ]
        )
    sizes = res.cell_sizes or res.sizes
    order = [g for g in sizes if g in set(t["group"])]
    order = sorted(order, key=lambda g: (-sizes.get(g, 0), g))[:20]
    # Charts are SVG built by flowlens with every log value escaped: safe to inline.
    dist = (
        Markup(
            distribution_chart(
                [f"{g} ({sizes[g]:,})" for g in order],
                [res.lead_times.get(g, []) for g in order],
                value_format=human_duration,
            )
        )
        if order
        else ""
    )
    lead = t[(t["metric"] == "lead_median") & (t["group"].isin(order))]
    overall = t[(t["metric"] == "lead_median") & (t["group"] == "(all)")]
    if res.within:
        overall = overall.iloc[0:0]  # one "all cases" line per process would mislead
    lead_chart = ""
    if len(lead):
        lead = lead.set_index("group").loc[[g for g in order if g in set(lead["group"])]].reset_index()
        lead_chart = Markup(
            interval_chart(
                [str(g) for g in lead["group"]],
                lead["value"].tolist(),
                lead["ci_low"].tolist(),
                lead["ci_high"].tolist(),
                reference=float(overall["value"].iloc[0]) if len(overall) else None,
                reference_label="all cases",
                distinct=[not bool(x) for x in lead["noise"]],
                log_x=True,
                value_format=human_duration,
            )
        )
    blocks = metric_blocks(res.table)
    html = render_fragment(
        "_segments.html.j2",
        res=res,
        dist=dist,
        lead_chart=lead_chart,
        blocks=blocks,
        findings=res.sentences(limit=findings),
        versus=_("segment {value}").format(value=res.reference) if res.reference else _("the other cases"),
        versus_issues=_("segment {value}").format(value=res.reference)
        if res.reference
        else _("the other issues"),
        same=[(c, a) for c, a in same],
    )
    data = res.to_dict()
    if same:
        data["same_split"] = [{"column": c, "agreement": a} for c, a in same]
    title = _("Segments by {column}").format(column=res.by)
    if same:
        title = _("Segments by {column} (also {others})").format(
            column=res.by, others=", ".join(c for c, _a in same)
        )
    return Section(
        id=f"segments-{_slug(res.by)}",
        title=title,
        html=html,
        data=data,
        lead=res.headline(),
    )
