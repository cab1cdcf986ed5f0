"""The report's conformance section: how far cases stray from the designed process.

>>> from flowlens.conformance.result import ConformanceResult, Deviation, LeadComparison, LeadGroup
>>> r = ConformanceResult(model="designed.bpmn", method="all", sampled=False, cases_total=100,
...     variants_total=7, cases_aligned=100, variants_aligned=7, fitness=0.93, fitting_cases=72,
...     fitting_share=0.72, deviations=(Deviation("Check ID", "skipped", 20, 21, 0.2),),
...     lead_time=LeadComparison(LeadGroup(72, 86400.0, 90000.0), LeadGroup(28, 354240.0, 400000.0)),
...     time_budget_s=60.0, elapsed_s=1.0, budget_exhausted=False)
>>> conformance_section(r).lead
"72.0 % of cases follow the designed process; the most common deviation is 'Check ID' skipped in 20 cases; deviating cases take 3.1 d longer (median)."
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowlens.i18n import _, pgettext
from flowlens.report.document import Section
from flowlens.report.templating import render_fragment
from flowlens.units import human_count, human_duration, percent

if TYPE_CHECKING:
    from flowlens.conformance.result import ConformanceResult, Deviation


def conformance_section(result: ConformanceResult, *, top: int = 15) -> Section:
    """Section ``conformance``: the result's figures, its top deviations and a one-line lead."""
    html = render_fragment(
        "_conformance.html.j2",
        r=result,
        deviations=list(result.deviations[:top]),
        more=max(0, len(result.deviations) - top),
    )
    return Section(
        id="conformance",
        title=_("Conformance to the designed process"),
        html=html,
        data=result.to_dict(),
        lead=lead_sentence(result),
    )


def lead_sentence(r: ConformanceResult) -> str:
    """One plain sentence: who follows the design, the main deviation, what deviating costs."""
    if r.fitting_share is None:
        return _(
            "No case could be checked against {model} within the time budget of {seconds} s; give more time or "
            "use a sample."
        ).format(model=r.model, seconds=f"{r.time_budget_s:g}")
    if r.method == "random-sample":
        lo, hi = r.fitting_share_range or (r.fitting_share, r.fitting_share)
        head = _(
            "An estimated {share} of cases (95 % interval {low}–{high}) follow the designed process"
        ).format(share=percent(r.fitting_share), low=percent(lo), high=percent(hi))
    elif r.method == "most-frequent-first":
        head = _(
            "Of the {coverage} of cases checked (the most frequent variants, before the time budget ran out), "
            "{share} follow the designed process"
        ).format(coverage=percent(r.coverage), share=percent(r.fitting_share))
    else:
        head = _("{share} of cases follow the designed process").format(share=percent(r.fitting_share))
    parts = [head]
    top = r.top_deviation()
    if top is not None:
        parts.append(
            _("the most common deviation is {deviation}").format(deviation=_deviation(top, r.estimated))
        )
    diff = r.lead_time.median_diff_s
    if diff is not None:
        if diff >= 0:
            parts.append(
                _("deviating cases take {time} longer (median)").format(time=human_duration(abs(diff)))
            )
        else:
            parts.append(
                _("deviating cases take {time} shorter (median)").format(time=human_duration(abs(diff)))
            )
    # TRANSLATORS: the clauses of a sentence, joined by "; " in English
    return _("{clauses}.").format(clauses=pgettext("clause separator", "; ").join(parts))


def _deviation(d: Deviation, estimated: bool) -> str:
    cases = human_count(d.cases)
    if d.kind == "skipped":
        if estimated:
            return _("'{activity}' skipped in about {cases} cases").format(activity=d.activity, cases=cases)
        return _("'{activity}' skipped in {cases} cases").format(activity=d.activity, cases=cases)
    if estimated:
        return _("'{activity}' done where the design does not have it, in about {cases} cases").format(
            activity=d.activity, cases=cases
        )
    return _("'{activity}' done where the design does not have it, in {cases} cases").format(
        activity=d.activity, cases=cases
    )
