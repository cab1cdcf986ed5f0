"""Report section: deadlines and SLA compliance, where breached cases spent their time, and
high-frequency complaint categories (docs/methods.md, "Deadlines and SLA compliance")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from markupsafe import Markup

from flowlens.i18n import N_, _
from flowlens.report.charts import bar_chart, histogram
from flowlens.report.document import Section
from flowlens.report.sections import records
from flowlens.report.templating import render_fragment

if TYPE_CHECKING:
    from flowlens.analysis.sla import SlaAnalysis

#: marked for translation here, translated where shown (``_(CAUSE_LABELS[c])``)
CAUSE_LABELS = {
    "batching": N_("batching"),
    "contention": N_("busy staff (contention)"),
    "prioritization": N_("others served first"),
    "unavailability": N_("staff off shift"),
    "extraneous": N_("outside the log (customer, third party, other work)"),
}
BINS = 30


def _unit_words(unit: str) -> str:
    """The rule's unit (``calendar_days``, ``business_days``, ``hours``) in the report's language."""
    return {"calendar_days": _("days"), "business_days": _("business days"), "hours": _("hours")}.get(
        unit, unit.replace("_", " ")
    )


def sla_section(analyses: SlaAnalysis | Sequence[SlaAnalysis], *, top: int = 8) -> Section:
    """The SLA section: the first analysis in detail, every rule in the comparison table.

    >>> import flowlens, pandas as pd
    >>> from flowlens.analysis.sla import get_preset, sla_analysis
    >>> df = pd.DataFrame({"case": ["1", "1", "2", "2"], "category": ["card"] * 4,
    ...     "activity": ["Receive", "Send Final Response"] * 2,
    ...     "timestamp": ["2024-03-01 10:00", "2024-03-05 10:00", "2024-03-01 11:00", "2024-04-05 10:00"]})
    >>> s = sla_section(sla_analysis(flowlens.read_log(df), get_preset("US_CFPB")))
    >>> s.lead
    'Of 2 cases, 50.0 % met their deadline (50.0 % within 15 days); 50.0 % breached (US_CFPB).'
    >>> s.data["rules"][0]["summary"]["counts"]["breached"], "<svg" in s.html
    (1, True)
    """
    items = [analyses] if not isinstance(analyses, Sequence) else list(analyses)
    if not items:
        raise ValueError("sla_section needs at least one SLA analysis")
    main = items[0]
    res = main.result
    s = res.summary()
    margins = res.margins()
    chart = ""
    hist: dict[str, Any] = {"edges": [], "counts": []}
    if margins.size:
        chart = Markup(
            histogram(
                margins.tolist(),
                bins=BINS,
                x_format=lambda v: f"{v:.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.1f}",
                x_label=_("{unit} to spare at the response (negative: late), applicable deadline").format(
                    unit=_unit_words(res.rule.unit)
                ),
                color="#74c476",
            )
        )
        lo, hi = float(margins.min()), float(margins.max())
        counts, edges = np.histogram(margins, bins=np.linspace(lo, hi if hi > lo else lo + 1.0, BINS + 1))
        hist = {"edges": edges.tolist(), "counts": counts.tolist()}
    time_rows: dict[str, list[dict[str, Any]]] = {}
    cause_rows: list[dict[str, Any]] = []
    cause_chart = ""
    estimated = False
    if main.time_in is not None:
        d = main.time_in.activities
        estimated = main.time_in.starts_estimated
        for grp in ("breached", "on_time", "open"):
            g = d[d.group == grp].head(top)
            if not g.empty:
                time_rows[grp] = records(g)
        if main.time_in.causes is not None:
            cz = main.time_in.causes
            cause_rows = records(cz)
            b = cz[cz.group == ("breached" if (cz.group == "breached").any() else "on_time")]
            if not b.empty and float(b.wait_s.sum()) > 0:
                cause_chart = Markup(
                    bar_chart(
                        [_(CAUSE_LABELS[c]) if c in CAUSE_LABELS else c for c in b.cause],
                        [float(v) * 100 for v in b.share],
                        unit="%",
                        color="#f16913",
                    )
                )
    cats = main.categories
    cat_rows = records(cats.table) if cats is not None else []
    trend = _trend_table(cats) if cats is not None else None
    rules = [_rule_row(a) for a in items]
    html = render_fragment(
        "_sla.html.j2",
        s=s,
        rule=res.rule,
        unit=_unit_words(res.rule.unit),  # the rule's unit in the report's language (English: unit_word)
        rules=rules,
        chart=chart,
        time_rows=time_rows,
        time_note=main.time_in.note if main.time_in is not None else "",
        has_time=main.time_in is not None,
        cause_rows=cause_rows,
        cause_chart=cause_chart,
        cause_labels=CAUSE_LABELS,
        estimated=estimated,
        cats=cats,
        cat_rows=cat_rows,
        trend=trend,
    )
    data = {"rules": [a.to_dict() for a in items], "margin_histogram": hist}
    return Section(id="sla", title=_("Deadlines and SLA compliance"), html=html, data=data, lead=main.lead())


def _rule_row(a: SlaAnalysis) -> dict[str, Any]:
    s = a.result.summary()
    r = a.result.rule
    return {
        "name": r.name,
        "describe": r.terms(),
        "jurisdiction": r.jurisdiction,
        "source": r.source,
        "verify": r.verify,
        "cases": s["cases"],
        "scope": (s.get("scope") or {}).get("text", ""),
        "met_share": s["met_share"],
        "shares": s["shares"],
        "counts": s["counts"],
        "margin_median": s["margin_median"],
        "unit": r.unit_word,
    }


def _trend_table(cats: Any, max_periods: int = 16, max_categories: int = 8) -> dict[str, Any] | None:
    bp = cats.by_period
    if bp.empty:
        return None
    periods = sorted(bp.period.dropna().unique())[-max_periods:]
    names = list(cats.table.category.head(max_categories))
    wide = bp[bp.category.isin(names) & bp.period.isin(periods)].pivot_table(
        index="category", columns="period", values="cases", aggfunc="sum", fill_value=0
    )
    wide = wide.reindex(index=names, columns=periods, fill_value=0)
    return {
        "periods": periods,
        "rows": [{"category": c, "counts": [int(v) for v in wide.loc[c].tolist()]} for c in names],
        "partial": [*cats.partial_periods, *cats.edge_periods],
    }
