"""The report's first page: the decision (docs/methods.md 18).

:func:`recommendations` turns what the report found into three to five changes a board can
decide on, as data; :func:`board_numbers` gives the three numbers a board asks for (lead time,
the share of time customers wait, deadline compliance); :func:`recommendations_section` renders
both. A change's saving comes from the what-if simulation when one ran and its model was trusted
(``flowlens analyze --scenario``), otherwise from the findings' customer time it costs today,
which is an upper bound of what removing it would save.

>>> import flowlens, pandas as pd
>>> from flowlens.findings.api import find_wastes
>>> from flowlens.findings.model import Finding, Scenario
>>> df = pd.DataFrame({"case": ["1", "1", "2", "2"], "activity": ["open", "close"] * 2,
...     "timestamp": ["2024-01-01 09:00", "2024-01-01 19:00", "2024-01-02 09:00", "2024-01-02 11:00"]})
>>> log = flowlens.read_log(df)
>>> def det(ctx):
...     return [Finding(kind="rework", title="'open' is done twice", activities=("open",), case_ids=("1",),
...             occurrences=2, customer_time_s=3600.0, customer_time_ci=(1800.0, 5400.0), staff_time_s=600.0,
...             evidence="e.", scenario=Scenario("cut_loop", description="do 'open' right the first time"))]
>>> recs = recommendations(find_wastes(log, detectors=[det], min_cases=1), cases_total=2,
...                        lead_total_s=12 * 3600.0)
>>> r = recs[0]
>>> r.change, r.saving_per_case_s, r.cases, r.upper_bound, round(r.share_of_lead, 3)
("Do 'open' right the first time", 3600.0, 1, True, 0.083)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from flowlens.i18n import _, localize
from flowlens.report.document import Section
from flowlens.report.templating import render_fragment
from flowlens.units import duration_unit, percent, with_unit

if TYPE_CHECKING:
    import pandas as pd

    from flowlens.findings.allowlist import AllowList
    from flowlens.findings.api import FindingsReport
    from flowlens.findings.model import Finding
    from flowlens.log import EventLog
    from flowlens.quality import QualityReport

#: At most this many changes on the first page, and at least this many when there are.
MAX_CHANGES, MIN_CHANGES = 5, 3
#: Data quality is "good" below this share of rows set aside, "fair" below QUALITY_FAIR.
QUALITY_GOOD, QUALITY_FAIR = 0.01, 0.05


@dataclass(frozen=True)
class Recommendation:
    """One recommended change, with what it saves and how sure the report is (methods 18.1)."""

    rank: int
    #: what to change, in plain words
    change: str
    #: "simulation" (a trusted what-if) or "findings" (the customer time it costs today)
    source: str
    #: customer time saved per affected case (seconds) and its 95 % interval
    saving_per_case_s: float
    saving_per_case_ci_s: tuple[float, float]
    #: the saving as a share of the customers' total lead time, and its 95 % interval
    share_of_lead: float | None
    share_of_lead_ci: tuple[float, float] | None
    #: True when the saving is the time it costs today (removing it saves at most that)
    upper_bound: bool
    #: cases the change touches (None: every case) and the cases of the log
    cases: int | None
    cases_total: int
    #: staff time freed (positive) or needed (negative), seconds over the log's period (or per
    #: simulated period for a what-if)
    staff_freed_s: float | None
    #: "high", "medium" or "low", and the three things it rests on
    confidence: str
    data_quality: str
    simulation: str
    regulation: str | None
    #: the section (and row) that holds the evidence
    evidence: str
    evidence_title: str
    #: the findings or scenario behind it
    basis: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["saving_per_case_ci_s"] = list(self.saving_per_case_ci_s)
        d["share_of_lead_ci"] = None if self.share_of_lead_ci is None else list(self.share_of_lead_ci)
        d["basis"] = list(self.basis)
        return d


def data_quality_grade(quality: QualityReport | None, *, starts_estimated: bool = False) -> str:
    """ "good", "fair" or "poor" (methods 18.1): the share of rows set aside (under 1 % good, under
    5 % fair) and whether start times had to be estimated (at best fair).

    >>> data_quality_grade(None)
    'good'
    >>> data_quality_grade(None, starts_estimated=True)
    'fair'
    """
    share = 0.0
    if quality is not None and quality.rows_read:
        share = quality.rows_quarantined / quality.rows_read
    grade = "good" if share < QUALITY_GOOD else ("fair" if share < QUALITY_FAIR else "poor")
    if starts_estimated and grade == "good":
        grade = "fair"
    return grade


def data_quality_reason(quality: QualityReport | None, *, starts_estimated: bool = False) -> str:
    """Why the data is graded as it is, in a few words.

    >>> data_quality_reason(None, starts_estimated=True)
    'no row set aside; start times estimated (completion-only events)'
    """
    out = []
    if quality is not None and quality.rows_read and quality.rows_quarantined:
        out.append(
            _("{share} of the rows set aside").format(
                share=percent(quality.rows_quarantined / quality.rows_read, 2)
            )
        )
    else:
        out.append(_("no row set aside"))
    if starts_estimated:
        out.append(_("start times estimated (completion-only events)"))
    return "; ".join(out)


def _confidence(quality: str, simulation: str, regulation: str | None) -> str:
    """high: good data and a trusted simulation, no regulation involved; low: poor data, or a
    simulation that failed its check, or a regulated step; medium otherwise."""
    if quality == "poor" or simulation == "not trusted" or regulation:
        return "low"
    if quality == "good" and simulation == "trusted":
        return "high"
    return "medium"


def _group_key(f: Finding) -> tuple[Any, ...]:
    """Findings of one kind whose remedies differ at most in the channel they apply to are one
    change to decide on (the repeat contacts after each channel: resolve at the first contact)."""
    params = {k: v for k, v in f.scenario.params.items() if "channel" not in str(k)}
    return (f.kind, f.scenario.action, json.dumps(params, sort_keys=True, default=str))


def _plain_change(fs: Sequence[Finding]) -> str:
    first = fs[0]
    text = localize(
        first.scenario.description or first.title
    )  # built by a detector: in the report's language
    if len(fs) > 1:
        # the remedies differ only in what they are applied to (a channel, a step): say it once
        kinds = {
            "repeat_contact": _(
                "resolve the issue at the first contact, whatever the channel "
                "(fix the access and skill defects behind repeat contacts)"
            ),
        }
        text = kinds.get(first.kind, _("{change}, in {n} places").format(change=text, n=len(fs)))
    return text[:1].upper() + text[1:]


def _from_findings(
    report: FindingsReport,
    *,
    cases_total: int,
    lead_total_s: float | None,
    quality: str,
    simulation: str,
    top: int,
) -> list[Recommendation]:
    groups: dict[tuple[Any, ...], list[tuple[int, Finding]]] = {}
    for i, f in enumerate(report.actionable, start=1):
        groups.setdefault(_group_key(f), []).append((i, f))
    rows = []
    for members in groups.values():
        fs = [f for _i, f in members]
        cases = len({c for f in fs for c in f.case_ids})
        total = math.fsum(f.customer_time_s for f in fs)
        lo = math.fsum(f.customer_time_ci[0] for f in fs)
        hi = math.fsum(f.customer_time_ci[1] for f in fs)
        rows.append((total, members, fs, cases, lo, hi))
    # ranked by the customer time at stake; ties by the rank of their first finding
    rows.sort(key=lambda r: (-r[0], r[1][0][0]))
    out = []
    for rank, (total, members, fs, cases, lo, hi) in enumerate(rows[:top], start=1):
        per = total / cases if cases else 0.0
        share = total / lead_total_s if lead_total_s else None
        out.append(
            Recommendation(
                rank=rank,
                change=_plain_change(fs),
                source="findings",
                saving_per_case_s=per,
                saving_per_case_ci_s=(lo / cases, hi / cases) if cases else (0.0, 0.0),
                share_of_lead=share,
                share_of_lead_ci=(lo / lead_total_s, hi / lead_total_s) if lead_total_s else None,
                upper_bound=True,
                cases=cases,
                cases_total=cases_total,
                staff_freed_s=math.fsum(f.staff_time_s for f in fs),
                # the saving does not come from the simulation: its verdict cannot lower it
                confidence=_confidence(quality, "not run", None),
                data_quality=quality,
                simulation=simulation,
                regulation=None,
                evidence=f"finding-{members[0][0]}",
                evidence_title=fs[0].title,
                basis=tuple(f.title for f in fs),
            )
        )
    return out


def _scenario_activities(changes: Sequence[Mapping[str, Any]]) -> list[str]:
    acts: list[str] = []
    for c in changes:
        for key in ("activity", "to"):
            if isinstance(c.get(key), str):
                acts.append(c[key])
        if isinstance(c.get("activities"), list):
            acts.extend(str(a) for a in c["activities"])
    return sorted(set(acts))


_ACTION_WORDS = {
    "remove": "stop doing '{activity}'",
    "automate": "automate '{activity}'",
    "merge": "do {activities} in one go, by one person",
    "cut_rework": "do '{activity}' right the first time (repeats × {factor})",
    "scale_delay": "cut the waiting before '{activity}' (× {factor})",
    "unbatch": "handle '{activity}' as cases arrive, not in batches",
    "add_resources": "add {count} staff to '{activity}'",
    "set_hours": "change the hours of '{activity}' to {hours}",
    "scale_arrivals": "change the number of cases (× {factor})",
    "set_branch": "send {probability} of cases to '{to}'",
    "set_mix": "change the mix of {attribute}",
}


def _change_words(name: str, changes: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for c in changes:
        words = _ACTION_WORDS.get(str(c.get("action")))
        if words is None:
            continue
        fields = dict(c)
        if isinstance(fields.get("activities"), list):
            fields["activities"] = " and ".join(f"'{a}'" for a in fields["activities"])
        if isinstance(fields.get("probability"), (int, float)):
            fields["probability"] = percent(float(fields["probability"]), 0)
        try:
            parts.append(_(words).format(**fields))
        except (KeyError, IndexError):
            parts.append(str(c.get("action")))
    text = "; ".join(parts) if parts else name.replace("_", " ")
    return text[:1].upper() + text[1:]


def _from_whatif(
    result: Mapping[str, Any],
    *,
    scenario_cases: Mapping[str, int] | None,
    cases_total: int,
    allow: AllowList | None,
    quality: str,
    simulation: str,
    top: int,
) -> list[Recommendation]:
    base_mean_h = float(result.get("baseline", {}).get("lead_time_mean_h") or 0.0)
    rows = [r for r in result.get("scenarios", []) if r.get("significant") and float(r["saving_mean_h"]) > 0]
    rows.sort(key=lambda r: (-float(r["saving_mean_h"]), str(r["name"])))
    out = []
    for rank, r in enumerate(rows[:top], start=1):
        changes = list(r.get("changes") or [])
        acts = _scenario_activities(changes)
        # the cases the change touches (those that take one of its steps, counted in the log;
        # every case when it names none, as a change of staffing or arrivals): the mean saving
        # over all simulated cases, scaled to them, is the saving per affected case
        affected = (scenario_cases or {}).get(str(r["name"]))
        if r.get("cases_affected") is not None:  # the simulation's own count, when it gives one
            affected = int(r["cases_affected"])
        scale = cases_total / affected if affected else 1.0
        lo, hi = (float(x) for x in r["saving_ci95_h"])
        mean = float(r["saving_mean_h"])
        regulation = None
        if allow is not None:
            reasons = [allow.match(a) for a in acts]
            regulation = next((x for x in reasons if x), None)
        out.append(
            Recommendation(
                rank=rank,
                change=_change_words(str(r["name"]), changes),
                source="simulation",
                saving_per_case_s=mean * 3600 * scale,
                saving_per_case_ci_s=(lo * 3600 * scale, hi * 3600 * scale),
                share_of_lead=mean / base_mean_h if base_mean_h else None,
                share_of_lead_ci=(lo / base_mean_h, hi / base_mean_h) if base_mean_h else None,
                upper_bound=False,
                cases=affected,
                cases_total=cases_total,
                staff_freed_s=-float(r.get("staff_hours_delta") or 0.0) * 3600,
                confidence=_confidence(quality, simulation, regulation),
                data_quality=quality,
                simulation=simulation,
                regulation=regulation,
                evidence="whatif",
                evidence_title=str(r["name"]),
                basis=(str(r["name"]),),
            )
        )
    return out


def recommendations(
    findings: FindingsReport | None = None,
    *,
    cases_total: int,
    lead_total_s: float | None = None,
    whatif: Mapping[str, Any] | None = None,
    fidelity: Mapping[str, Any] | None = None,
    scenario_cases: Mapping[str, int] | None = None,
    quality: QualityReport | None = None,
    starts_estimated: bool = False,
    allow: AllowList | None = None,
    top: int = MAX_CHANGES,
) -> list[Recommendation]:
    """Up to ``top`` changes, the largest saving first (methods 18.1).

    From a what-if (``whatif``: :meth:`~flowlens.simulation.whatif.WhatIfResult.to_dict`) when
    its model passed the fidelity check (``fidelity``: :meth:`FidelityResult.summary`): the
    scenarios that save significantly, their saving per affected case (``scenario_cases``:
    scenario name -> cases that take one of its steps, :func:`scenario_cases`) and as a share of the mean lead
    time, with 95 % intervals. Otherwise, and to fill up to three, from the removable findings
    (``findings``): findings of one kind with one remedy on the same steps grouped into one
    change, the customer time they cost today per affected case and as a share of the
    customers' total lead time ``lead_total_s``, labelled as an upper bound.
    """
    simulation = "not run"
    if fidelity is not None:
        simulation = "trusted" if fidelity.get("trusted") else "not trusted"
    elif whatif is not None:
        simulation = "not checked"
    grade = data_quality_grade(quality, starts_estimated=starts_estimated)
    out: list[Recommendation] = []
    if whatif is not None and simulation == "trusted":
        out = _from_whatif(
            whatif,
            scenario_cases=scenario_cases,
            cases_total=cases_total,
            allow=allow,
            quality=grade,
            simulation=simulation,
            top=top,
        )
    if len(out) < MIN_CHANGES and findings is not None:
        # fewer than three simulated changes: the largest findings fill up, as upper bounds
        more = _from_findings(
            findings,
            cases_total=cases_total,
            lead_total_s=lead_total_s,
            quality=grade,
            simulation=simulation if simulation != "trusted" else "not simulated",
            top=top if not out else MIN_CHANGES - len(out),
        )
        out += [replace(m, rank=len(out) + i) for i, m in enumerate(more, start=1)]
    return out


def scenario_cases(log: EventLog, scenarios: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Per scenario (``name`` and ``changes`` as in a what-if's results), the cases of ``log``
    that take at least one of the steps its changes name; scenarios that name no step of the
    log are left out (they touch every case)."""
    t = log.table
    out: dict[str, int] = {}
    for s in scenarios:
        acts = _scenario_activities(s.get("changes") or [])
        if not acts:
            continue
        n = int(t.filter(t.activity.isin(acts)).case_idx.nunique().execute())
        if n:
            out[str(s["name"])] = n
    return out


def board_numbers(
    durations: pd.DataFrame,
    *,
    waiting: Mapping[str, Any] | None = None,
    sla: Mapping[str, Any] | None = None,
    processes: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The three numbers a board asks for (methods 18.2): lead time (``durations``: case_id and
    lead_time_s, the customer's lead time where the time model gives it; median and 90th
    percentile, per process when the log holds several), the share of the customers' time
    they wait (``waiting``: the reconciliation of :meth:`WaitingAnalysis.overall`: customer
    waiting over service plus customer waiting), and deadline compliance where a rule applies
    (``sla``: the first rule's summary).

    >>> import pandas as pd
    >>> b = board_numbers(pd.DataFrame({"case_id": ["1", "2"], "lead_time_s": [3600.0, 7200.0]}))
    >>> b["lead_median_s"], b["waiting_share"], b["sla"]
    (5400.0, None, None)
    """
    lead = durations["lead_time_s"].to_numpy(dtype=float)
    out: dict[str, Any] = {
        "cases": int(lead.size),
        "lead_median_s": float(np.median(lead)) if lead.size else None,
        "lead_p90_s": float(np.quantile(lead, 0.9)) if lead.size else None,
        "waiting_share": None,
        "sla": None,
        "by_process": None,
    }
    if processes is not None and len(durations):
        m = durations[["case_id", "lead_time_s"]].merge(processes[["case_id", "process"]], on="case_id")
        rows = []
        for p, g in m.groupby("process", sort=True):
            v = g["lead_time_s"].to_numpy(dtype=float)
            rows.append(
                {
                    "process": str(p),
                    "cases": int(v.size),
                    "lead_median_s": float(np.median(v)),
                    "lead_p90_s": float(np.quantile(v, 0.9)),
                }
            )
        out["by_process"] = sorted(rows, key=lambda r: (-r["cases"], r["process"]))
    if waiting is not None:
        rec = waiting.get("reconciliation") or {}
        wait = float(rec.get("customer_waiting_s") or 0.0)
        total = float(rec.get("service_s") or 0.0) + wait
        if total > 0:
            out["waiting_share"] = wait / total
    if sla is not None:
        out["sla"] = {
            "rule": sla.get("rule"),
            "met_share": sla.get("met_share"),
            "decided": sla.get("decided"),
            "breached": (sla.get("counts") or {}).get("breached"),
        }
    return out


def answer(recs: Sequence[Recommendation], board: Mapping[str, Any]) -> str:
    """The first page in one sentence: the largest change, what it saves, how many there are.

    >>> r = Recommendation(1, "Automate 'Check'", "findings", 7200.0, (3600.0, 9000.0), 0.1, None, True,
    ...     30, 40, None, "medium", "good", "not run", None, "finding-1", "t")
    >>> answer([r, r], {})
    "Automate 'Check': up to 2.0 h saved for each of 30 cases (10.0 % of all customers' lead time); 2 changes below, the largest first."
    """
    if not recs:
        return _(
            "No change with a measurable saving was found; the numbers below describe the process as it is."
        )
    best = recs[0]
    saving = with_unit(best.saving_per_case_s, duration_unit([best.saving_per_case_s]))
    if best.upper_bound:
        saving = _("up to {saving}").format(saving=saving)
    cases = _("each of {n} cases").format(n=f"{best.cases:,}") if best.cases is not None else _("every case")
    share = (
        _(" ({share} of all customers' lead time)").format(share=percent(best.share_of_lead))
        if best.share_of_lead is not None
        else ""
    )
    more = (
        _("{n} changes below, the largest first").format(n=len(recs))
        if len(recs) > 1
        else _("the only change found")
    )
    return _("{change}: {saving} saved for {cases}{share}; {more}.").format(
        change=best.change.rstrip("."), saving=saving, cases=cases, share=share, more=more
    )


def _words() -> dict[str, str]:
    """The words of the grades and states, translated (the catalogue sees each literal)."""
    return {
        "high": _("high"),
        "medium": _("medium"),
        "low": _("low"),
        "good": _("good"),
        "fair": _("fair"),
        "poor": _("poor"),
        "not run": _("not run"),
        "trusted": _("trusted"),
        "not trusted": _("not trusted"),
        "not checked": _("not checked"),
        "not simulated": _("not simulated"),
    }


def recommendations_section(
    recs: Sequence[Recommendation], board: Mapping[str, Any], *, quality_reason: str = ""
) -> Section:
    """The first section: the changes to decide on, then the board's three numbers
    (``quality_reason``: :func:`data_quality_reason`, said under the table)."""
    unit = duration_unit([r.saving_per_case_s for r in recs])
    lead_unit = duration_unit(
        [board.get("lead_median_s"), board.get("lead_p90_s")]
        + [r["lead_median_s"] for r in board.get("by_process") or []]
    )
    html = render_fragment(
        "_recommendations.html.j2",
        recs=recs,
        unit=unit,
        board=board,
        lead_unit=lead_unit,
        upper=any(r.upper_bound for r in recs),
        quality_reason=quality_reason,
        words=_words(),
        grade=recs[0].data_quality if recs else "",
    )
    data = {"recommendations": [r.to_dict() for r in recs], "board": dict(board)}
    if quality_reason:
        data["data_quality_reason"] = quality_reason
    return Section(
        id="recommendations",
        title=_("What to change"),
        html=html,
        data=data,
        lead=answer(recs, board),
    )


__all__ = [
    "Recommendation",
    "answer",
    "board_numbers",
    "data_quality_grade",
    "data_quality_reason",
    "recommendations",
    "recommendations_section",
    "scenario_cases",
]
