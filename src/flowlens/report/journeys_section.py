"""The report section on the customer's view: issues, contacts, effort signals, FCR.

Built from a :class:`~flowlens.analysis.journeys.Journeys` (what ``flowlens journeys`` prints);
``data`` is :meth:`Journeys.to_dict` plus the optional per-segment comparison.

>>> import flowlens, pandas as pd
>>> from flowlens.analysis.journeys import journeys
>>> df = pd.DataFrame({"case": ["1", "2"], "customer_id": ["<k>", "<k>"],
...                    "activity": ["Verify Identity", "Transfer"],
...                    "timestamp": ["2024-01-01 09:00", "2024-01-02 09:00"]})
>>> s = journeys_section(journeys(flowlens.read_log(df)))
>>> s.id, "&lt;k&gt;" in s.html, "<k>" in s.html
('journeys', True, False)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
from markupsafe import Markup

from flowlens.analysis.journeys import headline
from flowlens.i18n import N_, _, ngettext, pgettext
from flowlens.report.charts import bar_chart
from flowlens.report.charts_segments import interval_chart
from flowlens.report.document import Section
from flowlens.report.segments_section import metric_blocks
from flowlens.report.templating import render_fragment
from flowlens.units import percent

if TYPE_CHECKING:
    from flowlens.analysis.journeys import Journeys

#: Effort signals shown as bars: summary key -> label.
_SIGNALS = {
    "repeat_contact_rate": N_("repeat contacts"),
    "channel_switch_rate": N_("issues switching channel"),
    "reverification_rate": N_("verified again (same contact)"),
    "information_request_rate": N_("issues asked for information"),
    "repeat_request_rate": N_("… asked twice or more"),
    "repeat_information_rate": N_("customer repeats themselves"),
    "transfer_rate": N_("contacts transferred"),
    "abandonment_rate": N_("contacts abandoned"),
}


#: The activity groups of the customer's view (analysis/activity_groups.py) as the report names them.
GROUP_LABELS = {  # the key itself in English, as the table always showed it
    "verification": N_("verification"),
    "information_request": N_("information_request"),
    "repeat_information": N_("repeat_information"),
    "transfer": N_("transfer"),
    "abandonment": N_("abandonment"),
    "queue": N_("queue"),
    "handled": N_("handled"),
}


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.astype(object).where(df.notna(), None).to_dict("records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in out]


def journeys_section(
    j: Journeys, *, comparison: pd.DataFrame | None = None, by: str | None = None, top: int = 10
) -> Section:
    """The "Customer journeys" section: KPI tiles, effort-signal bars, contacts per issue,
    per-channel rates, the longest issues, the activity groups counted and, with
    ``comparison`` (from :func:`flowlens.analysis.segments.compare` on the issues), FCR and
    contacts per segment with confidence intervals."""
    s = j.summary
    signals = [(_(label), s.get(key)) for key, label in _SIGNALS.items() if s.get(key) is not None]
    # Charts are SVG built by flowlens with every log value escaped: safe to inline.
    signal_chart = (
        Markup(bar_chart([lab for lab, _ in signals], [float(v) for _, v in signals], value_format=percent))
        if signals
        else ""
    )
    known = j.issues[j.issues["customer_known"]]
    contact_chart = ""
    if len(known):
        counts = known["contacts"].clip(upper=5).value_counts().sort_index()
        labels = [
            ngettext("{n} contact", "{n} contacts", int(k)).format(n=int(k)) if k < 5 else _("5 or more")
            for k in counts.index
        ]
        contact_chart = Markup(
            bar_chart(labels, counts.tolist(), unit=pgettext("chart unit", "issues"), color="#6baed6")
        )
    longest = known.sort_values(["lead_s", "issue_id"], ascending=[False, True]).head(top)
    seg_rows: list[dict[str, Any]] = []
    seg_blocks: list[dict[str, Any]] = []
    seg_chart = ""
    if comparison is not None and len(comparison):
        seg_rows = _records(comparison)
        seg_blocks = metric_blocks(comparison)
        fcr = comparison[(comparison["metric"] == "fcr") & (comparison["group"] != "(all)")]
        overall = comparison[(comparison["metric"] == "fcr") & (comparison["group"] == "(all)")]
        if len(fcr):
            seg_chart = Markup(
                interval_chart(
                    [str(g) for g in fcr["group"]],
                    fcr["value"].tolist(),
                    fcr["ci_low"].tolist(),
                    fcr["ci_high"].tolist(),
                    reference=float(overall["value"].iloc[0]) if len(overall) else None,
                    reference_label="all issues",
                    distinct=[not bool(x) for x in fcr["noise"]],
                    value_format=percent,
                )
            )
    html = render_fragment(
        "_journeys.html.j2",
        s=s,
        j=j,
        signal_chart=signal_chart,
        contact_chart=contact_chart,
        longest=_records(longest),
        channels=s.get("by_channel") or [],
        groups=[(_(GROUP_LABELS[g]) if g in GROUP_LABELS else g, acts) for g, acts in j.groups.items()],
        seg_blocks=seg_blocks,
        seg_chart=seg_chart,
        by=by,
    )
    data = j.to_dict(issues=top)
    if comparison is not None:
        data["by"] = {"column": by, "rows": seg_rows}
    return Section(
        id="journeys", title=_("Customer journeys"), html=html, data=data, lead=headline(s, j.window_s)
    )
