"""The report section on redundant steps: the top findings in plain language, then all of them
with customer time (95 % CI), staff time, cases and the scenario, and the required steps apart.

Built from a :class:`~flowlens.findings.api.FindingsReport` (what ``flowlens findings``
prints); ``data`` is :meth:`FindingsReport.to_dict` (findings without the full case lists).

>>> import flowlens, pandas as pd
>>> from flowlens.findings.api import find_wastes
>>> from flowlens.findings.model import Finding, Scenario
>>> df = pd.DataFrame({"case": ["1", "1"], "activity": ["<a>", "b"],
...                    "timestamp": ["2024-01-01 09:00", "2024-01-01 10:00"]})
>>> def det(ctx):
...     return [Finding(kind="rework", title="'<a>' is done twice", activities=("<a>",), case_ids=("1",),
...                     occurrences=2, customer_time_s=600.0, customer_time_ci=(600.0, 600.0), staff_time_s=60.0,
...                     evidence="e.", scenario=Scenario("cut_loop"), per_case_s={"1": 600.0})]
>>> s = findings_section(find_wastes(flowlens.read_log(df), detectors=[det], min_cases=1))
>>> s.id, "&lt;a&gt;" in s.html, "<a>" in s.html, s.lead
('findings', True, False, "The costliest: '<a>' is done twice: 1 case, 10 min each, 10 min of customer time added.")
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from flowlens.i18n import N_, _, localize, ngettext
from flowlens.report.document import Section
from flowlens.report.templating import render_fragment
from flowlens.units import human_count, human_duration

if TYPE_CHECKING:
    from flowlens.findings.api import FindingsReport
    from flowlens.findings.model import Finding


#: A finding's kind as the table shows it (model.KINDS has the definitions).
KIND_LABELS = {
    "rework": N_("rework"),
    "loop": N_("loop"),
    "ping_pong": N_("ping pong"),
    "repeated_check": N_("repeated check"),
    "repeated_request": N_("repeated request"),
    "reentry": N_("reentry"),
    "branch_trip": N_("branch trip"),
    "repeat_contact": N_("repeat contact"),
    "context_loss": N_("context loss"),
    "no_effect_check": N_("no effect check"),
    "merge_candidate": N_("merge candidate"),
    "customer_wait_loop": N_("customer wait loop"),
    "idle_status": N_("idle status"),
    "excess_follow_up": N_("excess follow up"),
    "batch_delay": N_("batch delay"),
}


def plain_sentence(f: Finding) -> str:
    """One finding as a sentence a manager reads: what happens, how many cases, how long each,
    how much customer time in all (in the report's language)."""
    each = f.customer_time_s / f.cases if f.cases else 0.0
    figures = {
        "title": localize(f.title),
        "count": human_count(f.cases),
        "each": human_duration(each),
        "total": human_duration(f.customer_time_s),
    }
    if f.regulatory:
        text = ngettext(
            "{title}: {count} case, {each} each, {total} kept (required), could be faster",
            "{title}: {count} cases, {each} each, {total} kept (required), could be faster",
            f.cases,
        )
    else:
        text = ngettext(
            "{title}: {count} case, {each} each, {total} of customer time added",
            "{title}: {count} cases, {each} each, {total} of customer time added",
            f.cases,
        )
    return text.format(**figures)


def _row(rank: int, f: Finding) -> dict[str, Any]:
    return {
        "rank": rank,
        "kind": _(KIND_LABELS[f.kind]) if f.kind in KIND_LABELS else f.kind.replace("_", " "),
        "title": f.title,
        "evidence": f.evidence,
        "activities": ", ".join(f.activities),
        "cases": f.cases,
        "occurrences": f.occurrences,
        "customer_s": f.customer_time_s,
        "ci": f.customer_time_ci,
        "each_s": f.customer_time_s / f.cases if f.cases else 0.0,
        "staff_s": f.staff_time_s,
        "scenario": f.scenario.description or f.scenario.action.replace("_", " "),
        "action": f.scenario.action,
        "examples": ", ".join(map(str, f.examples)),
        "allow_reason": f.allow_reason or "",
        "capped": "capped" in f.details,
    }


def findings_section(report: FindingsReport, *, top: int = 5, limit: int = 50) -> Section:
    """The "Redundant steps" section: ``top`` findings as sentences, a table of up to ``limit``
    removable findings, and the findings on required (regulatory) steps."""
    act, reg = report.actionable, report.regulatory
    total = math.fsum(f.customer_time_s for f in act)
    claimed = report.claimed or {}
    # the claimed share is said in the text above the table; the other notes go below it
    notes = [n for n in report.notes if n != claimed.get("sentence")]
    sentences = [plain_sentence(f) for f in act[:top]]
    html = render_fragment(
        "_findings.html.j2",
        sentences=sentences,
        rows=[_row(r, f) for r, f in enumerate(act[:limit], start=1)],
        more=max(0, len(act) - limit),
        regulatory=[_row(r, f) for r, f in enumerate(reg, start=1)],
        totals=report.totals.to_dict("records"),
        total_s=total,
        cases_total=report.cases_total,
        cases_claimed=claimed.get("cases_with_removable_findings", len({c for f in act for c in f.case_ids})),
        share=claimed.get("share_of_customer_lead_time"),
        lead_total_s=claimed.get("customer_lead_time_total_s"),
        notes=notes,
        cap=report.cap,
    )
    if act:
        lead = _("The costliest: {finding}.").format(finding=sentences[0])
    else:
        lead = (
            _("No removable redundant steps found")
            + (_("; {n} on required steps").format(n=len(reg)) if reg else "")
            + "."
        )
    data = report.to_dict()
    # run times would make the same inputs give different results.json files
    data["detectors"] = [{k: v for k, v in d.items() if k != "seconds"} for d in data["detectors"]]
    return Section(id="findings", title=_("Redundant steps"), html=html, data=data, lead=lead)
