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

from flowlens.i18n import _
from flowlens.report.document import Section
from flowlens.report.templating import render_fragment
from flowlens.units import human_duration, percent

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
        return (
            f"No case could be checked against {r.model} within the time budget of "
            f"{r.time_budget_s:g} s; give more time or use a sample."
        )
    about = "about " if r.estimated else ""
    if r.method == "random-sample":
        lo, hi = r.fitting_share_range or (r.fitting_share, r.fitting_share)
        head = (
            f"An estimated {percent(r.fitting_share)} of cases (95 % interval {percent(lo)}–{percent(hi)}) "
            "follow the designed process"
        )
    elif r.method == "most-frequent-first":
        head = (
            f"Of the {percent(r.coverage)} of cases checked (the most frequent variants, before the time "
            f"budget ran out), {percent(r.fitting_share)} follow the designed process"
        )
    else:
        head = f"{percent(r.fitting_share)} of cases follow the designed process"
    parts = [head]
    top = r.top_deviation()
    if top is not None:
        parts.append(f"the most common deviation is {_deviation(top, about)}")
    diff = r.lead_time.median_diff_s
    if diff is not None:
        word = "longer" if diff >= 0 else "shorter"
        parts.append(f"deviating cases take {human_duration(abs(diff))} {word} (median)")
    return "; ".join(parts) + "."


def _deviation(d: Deviation, about: str) -> str:
    if d.kind == "skipped":
        return f"'{d.activity}' skipped in {about}{d.cases:,} cases"
    return f"'{d.activity}' done where the design does not have it, in {about}{d.cases:,} cases"
