"""Report section: why cases wait (waiting split into causes, per activity and transition)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from markupsafe import Markup

from flowlens.analysis.waiting import CAUSES, LEVERS
from flowlens.report.charts import bar_chart
from flowlens.report.document import Section
from flowlens.report.sections import records
from flowlens.report.templating import render_fragment
from flowlens.units import human_duration

if TYPE_CHECKING:
    from flowlens.analysis.waiting import WaitingAnalysis

LABELS = {
    "batching": "batching",
    "contention": "busy staff (contention)",
    "prioritization": "others served first (prioritisation)",
    "unavailability": "staff off shift (unavailability)",
    "extraneous": "outside the log (customer, third party)",
}


def waiting_section(analysis: WaitingAnalysis, *, top: int = 12) -> Section:
    overall = analysis.overall()
    by_act = analysis.by("activity").head(top).reset_index()
    by_tr = analysis.by("transition").head(top).reset_index()
    causes_s = overall["by_cause_s"]
    chart = Markup(
        bar_chart(
            [LABELS[c] for c in CAUSES], [causes_s[c] / 3600 for c in CAUSES], unit="h", color="#f16913"
        )
    )
    html = render_fragment(
        "_waiting.html.j2",
        overall=overall,
        causes=CAUSES,
        labels=LABELS,
        levers=LEVERS,
        chart=chart,
        by_activity=by_act.to_dict("records"),
        by_transition=by_tr.to_dict("records"),
        batches=analysis.batches.head(10).to_dict("records"),
        estimated=analysis.tm.starts_estimated,
    )
    top_cause = max(CAUSES, key=lambda c: causes_s[c])
    lead = ""
    if overall["waiting_s"] > 0 and len(by_act):
        first = by_act.iloc[0]
        lead = (
            f"{100 * overall['by_cause_share'][top_cause]:.0f} % of all waiting is {LABELS[top_cause]}; "
            f"customers wait most before {first.activity} ({human_duration(first.wait_s)} in all, mostly "
            f"{LABELS[first.dominant_cause]})."
        )
    data = {
        "overall": overall,
        "by_activity": records(analysis.by("activity").reset_index()),
        "by_transition": records(analysis.by("transition").reset_index()),
        "batches": records(analysis.batches),
    }
    return Section(id="waiting", title="Why cases wait", html=html, data=data, lead=lead)
