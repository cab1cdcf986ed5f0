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

from flowlens.formats import count
from flowlens.i18n import N_, _, localize, pgettext
from flowlens.report.document import Section
from flowlens.report.templating import render_fragment
from flowlens.simulation.scenarios import named_steps
from flowlens.units import duration_unit, percent, with_unit

if TYPE_CHECKING:
    import pandas as pd

    from flowlens.findings.allowlist import AllowList
    from flowlens.findings.api import FindingsReport
    from flowlens.findings.model import Finding
    from flowlens.log import EventLog
    from flowlens.quality import QualityReport
    from flowlens.report.outcomes import Outcomes

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
    #: the cases the change can apply to (those that take its step) and that step
    eligible: int | None = None
    eligible_step: str | None = None
    #: what the change may cost or needs, in plain words (methods 18.1)
    trade_off: str | None = None
    #: False for a simulated change with no measurable saving (shown apart, not ranked)
    measurable: bool = True
    #: for a simulated change: what its steps cost today per affected case, and why they differ
    today_s: float | None = None
    why: str | None = None

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


def data_quality_reason(
    quality: QualityReport | None, *, starts_estimated: bool = False, start_share: float | None = None
) -> str:
    """Why the data is graded as it is, in a few words (``start_share``: the share of steps
    whose start time is recorded, :func:`flowlens.report.sections.start_share`).

    >>> data_quality_reason(None, starts_estimated=True)
    'no row set aside; start times estimated (completion-only events)'
    >>> data_quality_reason(None, starts_estimated=True, start_share=0.43)
    'no row set aside; start times recorded for 43.0 % of the steps, estimated for the others'
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
    if starts_estimated and start_share:
        out.append(
            _("start times recorded for {share} of the steps, estimated for the others").format(
                share=percent(start_share)
            )
        )
    elif starts_estimated:
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


def _names(names: Sequence[str]) -> str:
    """Step names quoted and listed as the report's language writes them ('a', 'b' in English;
    “a”、“b” in Chinese), for a sentence.

    >>> _names(["Offer signed", "Account opened"])
    "'Offer signed', 'Account opened'"
    """
    # TRANSLATORS: a step's name quoted inside a sentence; use your language's quotation marks
    quoted = [_("'{name}'").format(name=n) for n in names]
    # TRANSLATORS: the separator between the items of a list of names inside a sentence
    return pgettext("list of names", ", ").join(quoted)


def _trade_off(fs: Sequence[Finding]) -> str | None:
    """What the change may cost or needs (methods 18.1): for a cap on follow-ups, the cases that
    reached a favourable exit only after more follow-ups than the cap (from the finding's
    curve); for other kinds, the condition under which the change holds."""
    f = fs[0]
    if f.kind == "excess_follow_up":
        curve = (f.details or {}).get("curve") or {}
        cap = int((f.details or {}).get("threshold") or f.scenario.params.get("max") or 0)
        lost = sum(int(v.get("ended_favourably") or 0) for k, v in curve.items() if int(k) > cap)
        exits = _names(((f.details or {}).get("favourable_exits") or [])[:3])
        if curve and cap:
            return _(
                "May cost the {lost} cases that reached {exits} only after more than {cap} "
                "'{activity}' (of {n} cases with more)."
            ).format(
                lost=count(lost),
                exits=exits or _("a favourable outcome"),
                cap=cap,
                activity=f.scenario.params.get("activity") or f.activities[0],
                n=count(int((curve.get(str(cap + 1)) or {}).get("cases_reaching") or 0)),
            )
        return None
    words = {
        "loop": _(
            "Often a required re-check: the lever is what sends cases back to the step, not the step itself."
        ),
        "rework": _("The lever is what makes the step fail the first time, not the step itself."),
        "customer_wait_loop": _(
            "The customer's answers are needed: the lever is asking once for everything, "
            "not skipping the request."
        ),
        "repeat_contact": _(
            "Needs the defects fixed that make customers come back (access, skills, wrong routing)."
        ),
        "merge_candidate": _(
            "One person needs the skills of both steps; a control that needs two people "
            "(four eyes) cannot be merged."
        ),
        "branch_trip": _("Needs a remote identity check that the rules accept."),
        "no_effect_check": _("Only where no rule requires the check."),
        "repeated_check": _("Only where no rule requires the check to be repeated."),
        "batch_delay": _("Handling cases as they arrive may cost more set-up time for staff."),
        "ping_pong": _("Needs the case routed to the right team the first time."),
    }
    return words.get(f.kind)


def _steps(fs: Sequence[Finding]) -> list[str]:
    return sorted({a for f in fs for a in f.activities})


#: An upper bound whose steps' waiting is at least this much outside the organisation's queues
#: is said to be likely far above what the change saves (methods 18.1).
OUTSIDE_WARNING = 0.5


def _with_outside(text: str | None, share: float | None) -> str | None:
    """``text`` and, when most of the waiting at the change's steps is outside the
    organisation's queues, that the case may wait for the customer anyway."""
    if share is None or share < OUTSIDE_WARNING:
        return text
    more = _(
        "{share} of the waiting here is not explained by the staff's recorded work (the customer, a "
        "third party, or work the log does not show): much of it may remain."
    ).format(share=percent(share, 0))
    # TRANSLATORS: two sentences one after the other (Chinese: no space between them)
    return pgettext("two sentences", "{first} {second}").format(first=text, second=more) if text else more


def _eligible(fs: Sequence[Finding], step_cases: Mapping[str, int] | None) -> tuple[int | None, str | None]:
    """The cases that take the change's step (the largest count over its findings' steps)."""
    if not step_cases:
        return None, None
    acts = []
    for f in fs:
        a = f.scenario.params.get("activity")
        acts.append(str(a) if isinstance(a, str) else (f.activities[0] if f.activities else None))
    counts = [(step_cases.get(a, 0), a) for a in acts if a]
    if not counts:
        return None, None
    if len(set(acts)) > 1:
        return None, None  # several steps: the cases of one are not the base of all
    n, a = max(counts)
    return (n or None), (a if n else None)


def _finding_groups(report: FindingsReport) -> list[tuple[Any, ...]]:
    """The removable findings grouped into changes (:func:`_group_key`): (customer time,
    members as (rank, finding), findings, cases, CI low, CI high), the largest first."""
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
    return rows


#: A simulated saving of at least this share of the cost today "confirms" the finding.
CONFIRMED = 0.5


def why_differs(
    today_s: float,
    simulated_s: float,
    outside_share: float | None,
    simulated_ci_s: tuple[float, float] | None = None,
) -> str:
    """Why a change's simulated saving differs from what its steps cost today (methods 18.7):
    confirmed when the simulation keeps at least half and its interval (``simulated_ci_s``, per
    case) lies above 0; too uncertain to confirm when it keeps half but its interval holds 0;
    otherwise, when most of the waiting at the change's steps is not explained by the staff's
    recorded work (the customer's or a third party's clock, or work the log does not show), the
    model keeps that waiting; otherwise the case's other waiting remains.

    >>> why_differs(9 * 86400, 0.0, 0.97)[:60]
    '97 % of the waiting at these steps is not explained by the s'
    >>> why_differs(2 * 86400, 1.5 * 86400, None, (-0.2 * 86400, 3.2 * 86400))
    'The simulation keeps most of what it costs today, but too uncertainly to confirm it: its saving is likely between -0.20 d and 3.2 d per case, which includes none.'
    """
    if today_s > 0 and simulated_s >= CONFIRMED * today_s:
        if simulated_ci_s is not None and simulated_ci_s[0] <= 0:
            # the point keeps most of the cost but the interval holds 0: "confirms" would
            # contradict the "no measurable saving" the change is listed under
            unit = duration_unit(list(simulated_ci_s))
            return _(
                "The simulation keeps most of what it costs today, but too uncertainly to confirm "
                "it: its saving is likely between {lo} and {hi} per case, which includes none."
            ).format(lo=with_unit(simulated_ci_s[0], unit), hi=with_unit(simulated_ci_s[1], unit))
        return _("The simulation confirms most of what it costs today.")
    if outside_share is not None and outside_share >= 0.5:
        return _(
            "{share} of the waiting at these steps is not explained by the staff's recorded work "
            "(the customer, a third party, or work the log does not show): the model keeps that "
            "waiting without the steps, so little of today's cost is saved."
        ).format(share=percent(outside_share, 0))
    return _("Most of today's cost is waiting that the case's other steps still hold after the change.")


def outside_share(waiting_by_activity: pd.DataFrame | None, steps: Sequence[str]) -> float | None:
    """The share of the waiting at ``steps`` that is outside the organisation's queues (the
    extraneous cause, methods 7), from :meth:`WaitingAnalysis.by` ("activity"); None without
    waiting there."""
    if waiting_by_activity is None or not len(waiting_by_activity):
        return None
    wba = waiting_by_activity
    if "activity" not in wba.columns:  # WaitingAnalysis.by indexes by the activity
        wba = wba.reset_index()
    w = wba[wba["activity"].astype(str).isin(list(steps))]
    tot = float(w["wait_s"].sum())
    return float(w["extraneous_s"].sum()) / tot if tot > 0 else None


def whatif_vs_findings(
    whatif: Mapping[str, Any],
    findings: FindingsReport | None,
    *,
    scenario_cases: Mapping[str, int] | None,
    cases_total: int,
    waiting_by_activity: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Per scenario of a what-if, the change among the findings it tests (the group whose steps
    it names most, then the largest), what those cost today per affected case, what the
    simulation saves per affected case, and why they differ (:func:`why_differs`)."""
    groups = _finding_groups(findings) if findings is not None else []
    out = []
    for r in sorted(whatif.get("scenarios", []), key=lambda r: str(r["name"])):
        acts = set(named_steps(list(r.get("changes") or [])))
        best = None
        for g in groups:
            steps = {a for f in g[2] for a in f.activities} | {
                str(f.scenario.params.get("activity")) for f in g[2] if f.scenario.params.get("activity")
            }
            hit = len(acts & steps)
            if hit and (best is None or hit > best[0]):
                best = (hit, g)
        affected = (scenario_cases or {}).get(str(r["name"]))
        if r.get("cases_affected") is not None:
            affected = int(r["cases_affected"])
        if best is not None and best[1][3]:
            # the cases the findings found the waste in: the saving arises there, and the cost
            # today is per those cases, so both are on one base (a step every case takes once,
            # as a menu, would spread it over cases that have nothing to save)
            affected = int(best[1][3])
        scale = cases_total / affected if affected else 1.0
        sim = float(r["saving_mean_h"]) * 3600 * scale
        lo, hi = (float(x) * 3600 * scale for x in r["saving_ci95_h"])
        row: dict[str, Any] = {
            "scenario": str(r["name"]),
            "simulated_per_case_s": sim,
            "simulated_ci_s": [lo, hi],
            "significant": float(r["saving_ci95_h"][0]) > 0 and sim > 0,
            "cases": affected,
            "finding": None,
        }
        if best is not None:
            total, members, fs, cases, _lo, _hi = best[1]
            today = total / cases if cases else 0.0
            outside = outside_share(waiting_by_activity, sorted({a for f in fs for a in f.activities} | acts))
            row.update(
                finding=_plain_change(fs),
                finding_rank=members[0][0],
                today_per_case_s=today,
                outside_share=outside,
                why=why_differs(today, sim, outside, (lo, hi)),
            )
        out.append(row)
    return out


def _from_findings(
    report: FindingsReport,
    *,
    cases_total: int,
    step_cases: Mapping[str, int] | None = None,
    lead_total_s: float | None,
    quality: str,
    simulation: str,
    top: int,
    exclude: frozenset[int] = frozenset(),
    waiting_by_activity: pd.DataFrame | None = None,
) -> list[Recommendation]:
    rows = [r for r in _finding_groups(report) if r[1][0][0] not in exclude]
    out = []
    for rank, (total, members, fs, cases, lo, hi) in enumerate(rows[:top], start=1):
        per = total / cases if cases else 0.0
        share = total / lead_total_s if lead_total_s else None
        eligible, step = _eligible(fs, step_cases)
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
                eligible=eligible,
                eligible_step=step,
                trade_off=_with_outside(_trade_off(fs), outside_share(waiting_by_activity, _steps(fs))),
            )
        )
    return out


_ACTION_WORDS = {
    "remove": N_("stop doing '{activity}'"),
    "automate": N_("automate '{activity}'"),
    "merge": N_("do {activities} in one go, by one person"),
    "cut_rework": N_("do '{activity}' right the first time (repeats × {factor})"),
    "scale_delay": N_("cut the waiting before '{activity}' (× {factor})"),
    "unbatch": N_("handle '{activity}' as cases arrive, not in batches"),
    "add_resources": N_("add {count} staff to '{activity}'"),
    "set_hours": N_("change the hours of '{activity}' to {hours}"),
    "scale_arrivals": N_("change the number of cases (× {factor})"),
    "set_branch": N_("send {probability} of cases to '{to}'"),
    "set_mix": N_("change the mix of {attribute}"),
}


def _change_words(name: str, changes: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for c in changes:
        words = _ACTION_WORDS.get(str(c.get("action")))
        if words is None:
            continue
        fields = dict(c)
        acts = fields.get("activities")
        if isinstance(acts, list):
            # quoted and joined as the language writes them (“a”和“b” in Chinese)
            fields["activities"] = (
                _("'{first}' and '{second}'").format(first=acts[0], second=acts[1])
                if len(acts) == 2
                else _names([str(a) for a in acts])
            )
        if isinstance(fields.get("activity"), list) and str(c.get("action")) == "cut_rework":
            # a group of steps cut as one (methods §17.1): the steps listed, quoted by the list
            words = N_("do {activity} right the first time (repeats × {factor})")
            fields["activity"] = _names([str(a) for a in fields["activity"]])
        if isinstance(fields.get("probability"), (int, float)):
            fields["probability"] = percent(float(fields["probability"]), 0)
        try:
            parts.append(_(words).format(**fields))
        except (KeyError, IndexError):
            parts.append(str(c.get("action")))
    text = parts[0] if parts else name.replace("_", " ")
    for more in parts[1:]:
        text = pgettext("two clauses", "{first}; {second}").format(first=text, second=more)
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
    compare: Mapping[str, Mapping[str, Any]] | None = None,
    findings: FindingsReport | None = None,
    step_cases: Mapping[str, int] | None = None,
) -> list[Recommendation]:
    base_mean_h = float(result.get("baseline", {}).get("lead_time_mean_h") or 0.0)

    def measurable(r: Mapping[str, Any]) -> bool:
        # the first page speaks per affected case: a saving whose interval excludes 0 is
        # measurable even when it is under the what-if's 1 % of all cases' lead time (a change
        # that touches few cases never reaches that)
        return float(r["saving_ci95_h"][0]) > 0 and float(r["saving_mean_h"]) > 0

    # the scenarios that save measurably, the largest first; then those that do not (shown
    # apart: a change the simulation refutes must not come back as an upper bound)
    rows = sorted(
        result.get("scenarios", []),
        key=lambda r: (not measurable(r), -float(r["saving_mean_h"]), str(r["name"])),
    )
    kept = [r for r in rows if measurable(r)][:top] + [r for r in rows if not measurable(r)]
    groups = {g[1][0][0]: g for g in _finding_groups(findings)} if findings is not None else {}
    out = []
    for rank, r in enumerate(kept, start=1):
        side = _finding_side(r, compare, groups, step_cases)
        changes = list(r.get("changes") or [])
        acts = named_steps(changes)
        # the cases the change touches (those that take one of its steps, counted in the log;
        # every case when it names none, as a change of staffing or arrivals): the mean saving
        # over all simulated cases, scaled to them, is the saving per affected case
        affected = (scenario_cases or {}).get(str(r["name"]))
        if r.get("cases_affected") is not None:  # the simulation's own count, when it gives one
            affected = int(r["cases_affected"])
        # a scenario that tests a change of the findings: per case of that change (methods 18.7)
        affected = side.pop("cases", None) or affected
        scale = cases_total / affected if affected else 1.0
        lo, hi = (float(x) for x in r["saving_ci95_h"])
        mean = float(r["saving_mean_h"])
        regulation = None
        if allow is not None:
            reasons = [allow.match(a) for a in acts]
            regulation = next((x for x in reasons if x), None)
        # the model passed its check, but not for this scenario: its steps are among those the
        # check gets wrong, or it moves a queue that does not settle (methods 17.3)
        verdict = simulation if r.get("trusted", True) else "not trusted"
        out.append(
            Recommendation(
                rank=rank,
                change=side.pop("change", None) or _change_words(str(r["name"]), changes),
                source="simulation",
                saving_per_case_s=mean * 3600 * scale,
                saving_per_case_ci_s=(lo * 3600 * scale, hi * 3600 * scale),
                share_of_lead=mean / base_mean_h if base_mean_h else None,
                share_of_lead_ci=(lo / base_mean_h, hi / base_mean_h) if base_mean_h else None,
                upper_bound=False,
                cases=affected,
                cases_total=cases_total,
                staff_freed_s=-float(r.get("staff_hours_delta") or 0.0) * 3600,
                confidence=_confidence(quality, verdict, regulation),
                data_quality=quality,
                simulation=verdict,
                regulation=regulation,
                evidence="whatif",
                evidence_title=str(r["name"]),
                basis=(str(r["name"]),),
                measurable=measurable(r),
                **side,
            )
        )
    return out


def _finding_side(
    r: Mapping[str, Any],
    compare: Mapping[str, Mapping[str, Any]] | None,
    groups: Mapping[int, tuple[Any, ...]],
    step_cases: Mapping[str, int] | None,
) -> dict[str, Any]:
    """A simulated change's cost today, why the simulation differs, its trade-off and base,
    from the findings it tests (:func:`whatif_vs_findings`)."""
    c = (compare or {}).get(str(r["name"]))
    if not c or c.get("finding") is None:
        return {}
    # the change in the findings' words (what to change), the scenario named in the evidence
    out: dict[str, Any] = {
        "today_s": c.get("today_per_case_s"),
        "why": c.get("why"),
        "change": c["finding"],
        "cases": c.get("cases"),
    }
    g = groups.get(int(c["finding_rank"]))
    if g is not None:
        out["trade_off"] = _trade_off(g[2])
        out["eligible"], out["eligible_step"] = _eligible(g[2], step_cases)
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
    step_cases: Mapping[str, int] | None = None,
    compare: Sequence[Mapping[str, Any]] = (),
    waiting_by_activity: pd.DataFrame | None = None,
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
            compare={str(c["scenario"]): c for c in compare},
            findings=findings,
            step_cases=step_cases,
        )
    # the changes a simulation tested are not repeated as upper bounds
    tested = frozenset(int(c["finding_rank"]) for c in compare if c.get("finding") is not None)
    shown = [r for r in out if r.measurable]
    if len(shown) < MIN_CHANGES and findings is not None:
        # fewer than three simulated changes: the largest findings fill up, as upper bounds
        more = _from_findings(
            findings,
            cases_total=cases_total,
            step_cases=step_cases,
            lead_total_s=lead_total_s,
            quality=grade,
            simulation=simulation if simulation != "trusted" else "not simulated",
            top=top if not shown else MIN_CHANGES - len(shown),
            exclude=tested if simulation == "trusted" else frozenset(),
            waiting_by_activity=waiting_by_activity,
        )
        shown += [replace(m, rank=len(shown) + i) for i, m in enumerate(more, start=1)]
    return shown + [
        replace(r, rank=len(shown) + i) for i, r in enumerate((r for r in out if not r.measurable), 1)
    ]


def scenario_cases(log: EventLog, scenarios: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Per scenario (``name`` and ``changes`` as in a what-if's results), the cases of ``log``
    that take at least one of the steps its changes name; scenarios that name no step of the
    log are left out (they touch every case)."""
    t = log.table
    out: dict[str, int] = {}
    for s in scenarios:
        acts = named_steps(s.get("changes") or [])
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
    instant_s: float | None = None,
) -> dict[str, Any]:
    """The three numbers a board asks for (methods 18.2): lead time (``durations``: case_id and
    lead_time_s, the customer's lead time where the time model gives it; median and 90th
    percentile, per process when the log holds several; with ``instant_s``, of the cases that
    take at least that long, the others counted as ``instant``), the share of the customers'
    time they wait (``waiting``: the reconciliation of :meth:`WaitingAnalysis.overall`:
    customer waiting over service plus customer waiting), split into waiting in the
    organisation's own queues (staff busy, off shift, batching, priority) and outside them
    (the customer, a third party or work the log does not hold: the extraneous cause), and
    deadline compliance where a rule applies (``sla``: the first rule's summary).

    >>> import pandas as pd
    >>> b = board_numbers(pd.DataFrame({"case_id": ["1", "2"], "lead_time_s": [3600.0, 7200.0]}))
    >>> b["lead_median_s"], b["waiting_share"], b["sla"]
    (5400.0, None, None)
    """
    all_lead = durations["lead_time_s"].to_numpy(dtype=float)
    instant = 0
    if instant_s is not None:
        # an instant answer (an automatic decline) is no wait: counted apart, not in the median
        keep = durations["lead_time_s"] >= instant_s
        instant = int((~keep).sum())
        durations = durations[keep]
    lead = durations["lead_time_s"].to_numpy(dtype=float)
    out: dict[str, Any] = {
        "cases": int(all_lead.size),
        "instant": instant,
        "instant_s": instant_s,
        "lead_median_s": float(np.median(lead)) if lead.size else None,
        "lead_p90_s": float(np.quantile(lead, 0.9)) if lead.size else None,
        "waiting_share": None,
        "waiting_own_share": None,
        "waiting_outside_share": None,
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
            by = waiting.get("by_cause_s") or {}
            outside = float(by.get("extraneous") or 0.0)
            own = math.fsum(float(v or 0.0) for k, v in by.items() if k != "extraneous")
            if own + outside > 0:
                # the causes split the customers' waiting exactly (methods 7)
                out["waiting_own_share"] = wait * own / (own + outside) / total
                out["waiting_outside_share"] = wait * outside / (own + outside) / total
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
    recs = [r for r in recs if r.measurable]
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
        "sure findings": _("measured today, not simulated"),
        "sure simulation": _("simulated"),
    }


#: Outcomes shown on the first page: at least this share of their process's cases, at most
#: MAX_OUTCOME_ROWS rows (the rest are in results.json).
MIN_OUTCOME_SHARE, MAX_OUTCOME_ROWS = 0.05, 8


def recommendations_section(
    recs: Sequence[Recommendation],
    board: Mapping[str, Any],
    *,
    quality_reason: str = "",
    outcomes: Outcomes | None = None,
) -> Section:
    """The first section: how cases end (``outcomes``: the funnel and the outcomes,
    :func:`flowlens.report.outcomes.case_outcomes`), the changes to decide on, then the board's
    three numbers (``quality_reason``: :func:`data_quality_reason`, said under the table). One
    duration unit for the whole page (methods 18.3)."""
    shown = [o for o in (outcomes.outcomes if outcomes else ()) if o.share >= MIN_OUTCOME_SHARE]
    shown = shown[:MAX_OUTCOME_ROWS]
    unit = duration_unit(
        [r.saving_per_case_s for r in recs if r.measurable]
        + [board.get("lead_median_s"), board.get("lead_p90_s")]
        + [r["lead_median_s"] for r in board.get("by_process") or []]
        + [o.lead_median_s for o in shown]
    )
    html = render_fragment(
        "_recommendations.html.j2",
        recs=recs,
        unit=unit,
        board=board,
        lead_unit=unit,
        upper=any(r.upper_bound for r in recs),
        shown=[r for r in recs if r.measurable],
        refuted=[r for r in recs if not r.measurable],
        quality_reason=quality_reason,
        words=_words(),
        grade=recs[0].data_quality if recs else "",
        outcomes=outcomes,
        outcome_rows=shown,
        more_outcomes=len(outcomes.outcomes) - len(shown) if outcomes else 0,
    )
    data = {"recommendations": [r.to_dict() for r in recs], "board": dict(board)}
    if outcomes is not None:
        data["outcomes"] = outcomes.to_dict()
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
