"""Report section: why cases wait (waiting split into causes, per activity and transition)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
from markupsafe import Markup

from flowlens.analysis.waiting import CAUSES, LEVERS
from flowlens.formats import percent
from flowlens.i18n import _
from flowlens.report.causes import LABELS
from flowlens.report.charts import bar_chart
from flowlens.report.document import Section
from flowlens.report.sections import NAMED_TRANSITIONS, records
from flowlens.report.templating import render_fragment
from flowlens.units import duration_unit, human_duration, with_unit

if TYPE_CHECKING:
    from flowlens.analysis.waiting import WaitingAnalysis


def batch_groups(batches: pd.DataFrame) -> list[dict[str, Any]]:
    """Batches listed once per activity, kind and resource group (methods 18.3): how many, the
    resources, sizes (median and largest) and the median time the batch's first case was held;
    the most batches first. The resource group is the resource's name without its trailing
    number (AML-01 and AML-02 are one group).

    >>> import pandas as pd
    >>> b = pd.DataFrame({"resource": ["AML-01", "AML-02", "X"], "activity": ["Review"] * 3,
    ...     "size": [2, 4, 3], "kind": ["sequential"] * 3, "enabled_us": [0, 0, 0],
    ...     "first_start_us": [3_600_000_000, 7_200_000_000, 0]})
    >>> [(g["resources"], g["batches"], g["size_max"]) for g in batch_groups(b)]
    [('AML-01, AML-02', 2, 4), ('X', 1, 3)]
    """
    if batches is None or batches.empty:
        return []
    b = batches.assign(
        group=batches["resource"].astype(str).str.replace(r"[\s_\-]*\d+$", "", regex=True),
        held_s=(batches["first_start_us"] - batches["enabled_us"]) / 1e6
        if {"first_start_us", "enabled_us"} <= set(batches.columns)
        else float("nan"),
    )
    out = []
    for (grp, act, kind), g in b.groupby(["group", "activity", "kind"], sort=True):
        out.append(
            {
                "group": str(grp),
                "activity": str(act),
                "kind": str(kind),
                "batches": len(g),
                "resources": ", ".join(sorted(g["resource"].astype(str).unique())[:6])
                + (" …" if g["resource"].nunique() > 6 else ""),
                "size_median": float(g["size"].median()),
                "size_max": int(g["size"].max()),
                "held_median_s": float(g["held_s"].median()) if g["held_s"].notna().any() else None,
            }
        )
    return sorted(out, key=lambda r: (-r["batches"], r["activity"], r["group"], r["kind"]))


def waiting_section(analysis: WaitingAnalysis, *, top: int = NAMED_TRANSITIONS) -> Section:
    overall = analysis.overall()
    by_act = analysis.by("activity").head(top).reset_index()
    by_tr = analysis.by("transition").head(top).reset_index()
    causes_s = overall["by_cause_s"]
    unit = duration_unit([causes_s[c] for c in CAUSES])
    chart = Markup(
        bar_chart(
            [_(LABELS[c]) for c in CAUSES],
            [causes_s[c] for c in CAUSES],
            value_format=lambda v: with_unit(v, unit),
            color="#f16913",
        )
    )
    html = render_fragment(
        "_waiting.html.j2",
        overall=overall,
        causes=CAUSES,
        labels={c: _(label) for c, label in LABELS.items()},
        levers=LEVERS,
        chart=chart,
        by_activity=by_act.to_dict("records"),
        by_transition=by_tr.to_dict("records"),
        batches=batch_groups(analysis.batches),
        cause_unit=unit,
        estimated=analysis.tm.starts_estimated,
    )
    top_cause = max(CAUSES, key=lambda c: causes_s[c])
    lead = _("Customers did not wait between steps: every case went on as soon as a step ended.")
    if overall["waiting_s"] > 0 and len(by_act):
        first = by_act.iloc[0]
        lead = _(
            "{share} of all waiting is {cause}; customers wait most before {activity} ({waiting} in all, "
            "mostly {main_cause})."
        ).format(
            share=percent(overall["by_cause_share"][top_cause], 0),
            cause=_(LABELS[top_cause]),
            activity=first.activity,
            waiting=human_duration(first.wait_s),
            main_cause=_(LABELS[first.dominant_cause]),
        )
    data = {
        "overall": overall,
        "by_activity": records(analysis.by("activity").reset_index()),
        "by_transition": records(analysis.by("transition").reset_index()),
        "batches": records(analysis.batches),
    }
    return Section(id="waiting", title=_("Why cases wait"), html=html, data=data, lead=lead)
