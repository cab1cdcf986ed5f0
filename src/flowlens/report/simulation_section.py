"""Report sections on the simulation: can it be trusted on this log (methods §16.6), and what
the scenarios a user gave would save (methods §17).

:func:`simulation_section` turns a :class:`~flowlens.simulation.fidelity.FidelityResult` into
"Can the simulation be trusted?": the verdict as one plain sentence first, the log-distance
measures against the reference distance, then each part of the model (arrivals, control flow,
durations, waiting, cycle time) good or wrong with the sentences the result gives, and what
that means for what-ifs. :func:`whatif_section` turns a
:class:`~flowlens.simulation.whatif.WhatIfResult` into "What a simpler process would save":
the fidelity verdict first, then the scenarios ranked by saving with their 95 % intervals,
the savings per segment and channel, deadline compliance and the utilisation of each pool.

Every value from the log (activity names in the fidelity sentences, scenario names and their
changes) reaches the page through the autoescaping templates, as in every other section.

>>> answer({"trust": False, "failing_parts": ["waiting"]}, 0.2, 30)
'No: the simulation is not good enough to trust what-ifs on this log; a model fitted on the first 80 % of the cases gets the waiting of the other 30 cases, which it did not see, wrong.'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flowlens import formats
from flowlens.i18n import N_, SOURCE_LANGUAGE, _, current_language, localize, pgettext
from flowlens.report.document import Section
from flowlens.report.templating import render_fragment

if TYPE_CHECKING:
    from flowlens.simulation.fidelity import FidelityResult
    from flowlens.simulation.whatif import WhatIfResult

TITLE = N_("Can the simulation be trusted?")
WHATIF_TITLE = N_("What a simpler process would save")

#: What each part of the model moves in a what-if (shown next to its verdict).
PART_MEANING = {
    "arrivals": N_(
        "how many cases come and when: the load on every queue, so the savings of "
        "staffing, opening-hours and volume changes"
    ),
    "control_flow": N_(
        "which steps cases take and how often they loop: the savings of removing, "
        "merging or automating a step and of cutting rework scale with it"
    ),
    "durations": N_(
        "how long each step takes: the savings of automating or speeding up a step, and "
        "the staff hours behind every staffing change"
    ),
    "waiting": N_(
        "the waiting before each step: the savings of unbatching, cutting a delay, adding "
        "staff or changing hours"
    ),
    "cycle_time": N_(
        "the lead time every saving is measured against: a model wrong here misstates every saving"
    ),
}

#: The parts of the model as the report names them (the fidelity check's PART_LABELS, marked
#: here so the report's catalogue holds them).
_PART_WORDS = {
    "arrivals": N_("arrivals"),
    "control_flow": N_("control flow"),
    "durations": N_("durations"),
    "waiting": N_("waiting"),
    "cycle_time": N_("cycle time"),
}


def _part(label: str) -> str:
    """A part's label (the fidelity check's English) in the report's language."""
    return _(label)


def _join(words: list[str]) -> str:
    """'the a', 'the a and the b', 'the a, the b and the c' (in another language, its own list
    pattern: CLDR's, through Babel)."""
    if current_language() != SOURCE_LANGUAGE:
        from babel.lists import format_list

        return format_list([_part(w) for w in words], locale=formats._locale(current_language()))
    items = [f"the {w}" for w in words]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def answer(verdict: dict[str, Any], test_share: float | None, test_cases: int) -> str:
    """The verdict of a fidelity run as one plain sentence (the section's first line)."""
    others = formats.count(test_cases)
    parts = list(verdict.get("failing_parts") or [])
    wrong = _join(parts) if parts else _("some part")
    if test_share is None:
        if verdict.get("trust"):
            return _(
                "Yes: a model fitted on the train log reproduces the other {n} cases, which it did "
                "not see, within tolerance in every part (arrivals, control flow, durations, waiting, "
                "cycle time), so its what-ifs can be trusted on this log."
            ).format(n=others)
        return _(
            "No: the simulation is not good enough to trust what-ifs on this log; a model fitted on "
            "the train log gets {parts} of the other {n} cases, which it did not see, wrong."
        ).format(parts=wrong, n=others)
    share = formats.percent(1 - test_share, 0)
    if verdict.get("trust"):
        return _(
            "Yes: a model fitted on the first {share} of the cases reproduces the other {n} cases, "
            "which it did not see, within tolerance in every part (arrivals, control flow, "
            "durations, waiting, cycle time), so its what-ifs can be trusted on this log."
        ).format(share=share, n=others)
    return _(
        "No: the simulation is not good enough to trust what-ifs on this log; a model fitted on the "
        "first {share} of the cases gets {parts} of the other {n} cases, which it did not see, wrong."
    ).format(share=share, parts=wrong, n=others)


def _fmt(x: float | None, metric: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if metric.startswith("ngram") or metric == "ced":
        return formats.number(x, 3)
    if metric.endswith("rel_err"):
        return ("-" if math.copysign(1.0, x) < 0 else "+") + formats.percent(abs(x), 1)
    return formats.number(x, 2) if abs(x) < 100 else formats.number(x, 1)


def _tolerance(check: dict[str, Any]) -> str:
    """A check's tolerance in its own unit (methods §16.6)."""
    t = check["tolerance"]
    name = check["name"]
    if name.endswith("_err") or name.endswith("_share"):
        return f"≤ {formats.percent(t, 0)}"
    if name.startswith("ngram"):
        return f"≤ {formats.number(t, 3)}"
    return f"≤ {formats.attach_unit(formats.number(t, 2), 'h')}"


def simulation_section(result: FidelityResult) -> Section:
    """The section "Can the simulation be trusted?" from a fidelity run (module notes). ``data`` is the
    result's ``to_dict()`` without its timings (they differ from run to run; results.json
    must not).

    >>> import flowlens, numpy as np, pandas as pd
    >>> from flowlens.simulation.fidelity import fidelity
    >>> t0 = pd.Timestamp("2024-03-04 09:00") + pd.to_timedelta(np.arange(60) * 3600, unit="s")
    >>> starts = np.concatenate([t0, t0 + pd.Timedelta(minutes=30)])
    >>> df = pd.DataFrame({"case_id": np.tile(np.arange(60), 2), "activity": ["open"] * 60 + ["close"] * 60,
    ...                    "start_time": starts, "end_time": starts + pd.Timedelta(minutes=10)})
    >>> s = simulation_section(fidelity(flowlens.read_log(df), k=2))
    >>> s.id, s.lead.split(":")[0] in ("Yes", "No"), sorted(s.data["fidelity"]["parts"])[0]
    ('simulation', True, 'arrivals')
    """
    from flowlens.simulation.fidelity import METRIC_LABELS, METRICS, PART_LABELS, PARTS

    d = result.to_dict()
    d.pop("timing", None)
    v = result.verdict
    n_test = int(result.split["test"]["cases"])
    lead = answer(v, result.test_share, n_test)
    judged = {c["name"]: _part(PART_LABELS[p]) for p in PARTS for c in result.parts[p]["checks"]}
    rows = []
    for m in METRICS:
        s = result.metrics[m]
        sd = f" ± {_fmt(s['sd'], m).lstrip('+')}" if s.get("sd") is not None else ""
        ratio = formats.number(s["ratio"], 2) if s.get("ratio") is not None else "–"
        rows.append(
            {
                "label": _metric(METRIC_LABELS[m]),
                "simulated": _fmt(s.get("mean"), m) + sd,
                "reference": _fmt(s.get("reference"), m),
                "ratio": ratio,
                "judged": judged.get(m) or _("shown, not judged"),
            }
        )
    parts = []
    for p in PARTS:
        part = result.parts[p]
        parts.append(
            {
                "label": _part(PART_LABELS[p]),
                "good": bool(part["good"]),
                "checks": [
                    {"passed": bool(c["passed"]), "text": localize(c["text"]), "tolerance": _tolerance(c)}
                    for c in part["checks"]
                ],
                "meaning": _(PART_MEANING[p]),
            }
        )
    failing = [PART_LABELS[p] for p in PARTS if not result.parts[p]["good"]]  # _join translates
    html = render_fragment(
        "_simulation.html.j2",
        trust=bool(v.get("trust")),
        rows=rows,
        parts=parts,
        failing=_join(failing) if failing else "",
        k=result.k,
        seed=result.seed,
        split=result.split,
        train_share=None if result.test_share is None else 1 - result.test_share,
        reference=result.reference,
        given_pair=result.mode == "given_pair",
        waiting_wrong=not result.parts["waiting"]["good"],
    )
    return Section(id="simulation", title=_(TITLE), html=html, data={"fidelity": d}, lead=lead)


def _metric(label: str) -> str:
    """A log-distance measure's label: the acronyms stay, their words and unit in the language."""
    words = {"mean CT err": _("mean CT err"), "median CT err": _("median CT err")}
    if label in words:
        return words[label]
    if not label.endswith(" h") or current_language() == SOURCE_LANGUAGE:
        return label
    # TRANSLATORS: a measure's name (an acronym) and its unit, as a column shows it
    return _("{measure} ({unit})").format(measure=label.removesuffix(" h"), unit=formats.unit_label("h"))


def _signed(x: float, digits: int) -> str:
    """``x`` with ``digits`` decimals in the report's language, with a minus sign only when it is
    negative and not shown as zero."""
    text = formats.number(abs(x), digits)
    return ("−" if x < 0 and text.strip("0.,") else "") + text


def _hours(x: float) -> str:
    """Hours with a sign where it matters: a negative saving is a scenario that slows cases."""
    return formats.attach_unit(_signed(x, 2 if abs(x) < 100 else 0), "h")


def _points(x: float) -> str:
    """A percent number (12.3 for 12.3 %) with its sign where it matters."""
    return _percent_number(_signed(x, 1))


def _percent_number(text: str) -> str:
    """An already formatted percent number (``12.3``) with the percent sign as the language
    writes it (``12.3 %``; ``12.3%`` in Chinese)."""
    # TRANSLATORS: a number already in percent (12.3); keep {n}, write the sign as your language does
    return pgettext("percent", "{n} %").format(n=text)


def _between(lo: str, hi: str) -> str:
    return _("{low} to {high}").format(low=lo, high=hi)


def _change(c: dict[str, Any]) -> str:
    """One change of a scenario as a short line: its action, then its fields as in the file."""
    fields = [
        f"{k} = {json.dumps(val, ensure_ascii=False, sort_keys=True)}"
        for k, val in c.items()
        if k != "action"
    ]
    return f"{c.get('action', '?')}: " + ", ".join(fields) if fields else str(c.get("action", "?"))


def _left_out(n: int, total: int) -> str:
    """Says in how many replications a change was left out (its step absent from the bootstrap
    resample, methods 17.3); empty when in none."""
    if not n:
        return ""
    return _(
        "In {n} of {total} replications the resampled cases held none of what a change names: it "
        "was left out there (methods 17.3)."
    ).format(n=formats.count(n), total=formats.count(total))


def _staff(x: float) -> str:
    """Staff hours with their sign (+ more work, − less)."""
    sign = "-" if math.copysign(1.0, x) < 0 else "+"
    return formats.attach_unit(sign + formats.number(abs(x), 1), "h")


def whatif_section(
    result: WhatIfResult,
    fidelity: FidelityResult | None = None,
    *,
    compare: Sequence[Mapping[str, Any]] = (),
) -> Section:
    """The section "What a simpler process would save" from a what-if run (module notes): the fidelity
    verdict first (``fidelity``, the same log's check; None when it did not run), then the
    scenarios ranked by mean saving (ties by name), then, per scenario that tests a change of
    the findings (``compare``: :func:`~flowlens.report.recommendations_section.whatif_vs_findings`),
    what its steps cost today against what the simulation saves, and why they differ.
    ``data`` is ``result.to_dict()`` with the fidelity block, the ranking and ``compare``.

    >>> from flowlens.simulation.model import SimulationModel, example_model
    >>> from flowlens.simulation.scenarios import Scenario
    >>> from flowlens.simulation.whatif import whatif
    >>> base = SimulationModel.from_dict(example_model())
    >>> nothing = Scenario.from_dict({"name": "nothing", "change": []})
    >>> s = whatif_section(whatif(base, [nothing], cases=100, start="2024-03-04", replications=3))
    >>> s.id, s.data["ranking"], s.lead.startswith("Not checked")
    ('whatif', ['nothing'], True)
    """
    fid = None if fidelity is None else fidelity.summary()
    base = result.baseline
    base_mean = float(base.get("lead_time_mean_h") or 0.0)
    ranked = sorted(result.scenarios, key=lambda r: (-float(r["saving_mean_h"]), str(r["name"])))
    rows = []
    for i, r in enumerate(ranked, start=1):
        lo, hi = r["saving_ci95_h"]
        excludes_zero = lo > 0 or hi < 0
        if r["significant"]:
            sig = _("yes")
        elif excludes_zero:
            sig = _("no: under 1 % of the lead time")
        else:
            sig = _("no: the interval contains 0")
        rows.append(
            {
                "rank": i,
                "name": str(r["name"]),
                "changes": [_change(c) for c in r.get("changes", [])],
                "saving": _hours(float(r["saving_mean_h"])),
                "pct": _points(float(r["saving_pct"])),
                "ci": _between(_hours(float(lo)), _hours(float(hi))),
                "significant": sig,
                "is_significant": bool(r["significant"]),
                "staff": _staff(float(r["staff_hours_delta"])),
                "lead_mean": _hours(float(r["lead_time_mean_h"])),
                "lead_median": _hours(float(r.get("lead_time_median_h", 0.0))),
                "lead_p90": _hours(float(r.get("lead_time_p90_h", 0.0))),
                "waiting": _hours(float(r.get("waiting_mean_h", 0.0))),
                "left_out": _left_out(
                    int(r.get("replications_with_changes_left_out") or 0), result.replications
                ),
            }
        )
    groups = [
        {
            "scenario": str(r["name"]),
            "role": role,
            "column": str(r[f"by_{role}"]["column"]),
            "value": str(g["value"]),
            "cases": formats.number(float(g["cases"]), 0),
            "base": _hours(float(g["baseline_lead_time_mean_h"])),
            "saving": _hours(float(g["saving_mean_h"])),
            "pct": _points(float(g["saving_pct"])),
            "ci": _between(_hours(float(g["saving_ci95_h"][0])), _hours(float(g["saving_ci95_h"][1]))),
            "significant": _("yes") if g["significant"] else _("no"),
        }
        for r in ranked
        for role in ("segment", "channel")
        if r.get(f"by_{role}") and r[f"by_{role}"].get("linked", True)
        for g in r[f"by_{role}"]["groups"]
    ]
    # a breakdown by an attribute the model does not tie to behaviour is a random split: said once
    unlinked = sorted(
        {
            str(r[f"by_{role}"]["column"])
            for r in ranked
            for role in ("segment", "channel")
            if r.get(f"by_{role}") and not r[f"by_{role}"].get("linked", True)
        }
    )
    deadlines = [
        {
            "scenario": str(r["name"]),
            "rule": str(d["rule"]),
            "decided": bool(d["decided"]),
            "base": _percent_number(formats.number(float(d["baseline_met_pct"]), 1)) if d["decided"] else "–",
            "met": _percent_number(formats.number(float(d["met_pct"]), 1)) if d["decided"] else "–",
            "change": _("{n} points").format(n=_signed(float(d["change_pp"]), 1)) if d["decided"] else "–",
            "ci": (
                _("{low} to {high} points").format(
                    low=_signed(float(d["change_ci95_pp"][0]), 1),
                    high=_signed(float(d["change_ci95_pp"][1]), 1),
                )
                if d["decided"]
                else "–"
            ),
            "significant": (_("yes") if d["significant"] else _("no"))
            if d["decided"]
            # a rule that cannot be evaluated on the simulated cases says why (the steps it needs)
            else (d.get("reason") or _("no case decided")),
            "caution": (d.get("note") or "") if d.get("linked") is False else "",
        }
        for r in ranked
        for d in r.get("sla", [])
    ]
    pools = sorted(base.get("utilisation") or {})
    utilisation = [
        {
            "pool": p,
            "base": formats.percent(float(base["utilisation"][p]), 0),
            "scenarios": [
                formats.percent(float((r.get("utilisation") or {}).get(p, 0.0)), 0) for r in ranked
            ],
        }
        for p in pools
    ]
    if fid is None:
        head = _("Not checked (the fidelity check did not run)")
    elif fid["trusted"]:
        head = _("From a model that reproduces held-out cases within tolerance")
    elif fid["failing_parts"]:
        head = _("Not to be trusted as estimates (the model gets {parts} of held-out cases wrong)").format(
            parts=_join([str(p) for p in fid["failing_parts"]])
        )
    else:
        head = _("Not to be trusted as estimates (the model gets held-out cases wrong)")
    lead = _("{head}: ").format(head=head)
    if rows:
        best = rows[0]
        values = {
            "name": best["name"],
            "saving": best["saving"],
            "pct": best["pct"],
            "ci": best["ci"],
            "k": sum(r["is_significant"] for r in rows),
            "n": len(rows),
        }
        if best["is_significant"]:
            lead += _(
                "'{name}' saves most, {saving} of customer lead time ({pct} of the mean; 95 % CI "
                "{ci}); {k} of {n} scenarios save significantly."
            ).format(**values)
        else:
            lead += _(
                "'{name}' saves most, {saving} of customer lead time ({pct} of the mean; 95 % CI "
                "{ci}), not significant; {k} of {n} scenarios save significantly."
            ).format(**values)
    html = render_fragment(
        "_whatif.html.j2",
        fid=fid,
        failing=_join([str(p) for p in fid["failing_parts"]]) if fid and fid["failing_parts"] else "",
        rows=rows,
        base=base,
        base_mean=_hours(base_mean),
        base_median=_hours(float(base.get("lead_time_median_h") or 0.0)),
        base_p90=_hours(float(base.get("lead_time_p90_h") or 0.0)),
        base_waiting=_hours(float(base.get("waiting_mean_h") or 0.0)),
        groups=groups,
        unlinked=unlinked,
        deadlines=deadlines,
        utilisation=utilisation,
        scenario_names=[r["name"] for r in rows],
        replications=result.replications,
        cases=result.cases,
        stopped_by=result.stopped_by,
        model_uncertainty=result.model_uncertainty,
        seed=result.seed,
    )
    from flowlens.units import duration_unit

    shown = [c for c in compare if c.get("finding") is not None]
    cunit = duration_unit([c["today_per_case_s"] for c in shown] + [c["simulated_per_case_s"] for c in shown])
    html += render_fragment("_whatif_compare.html.j2", compare=shown, unit=cunit) if shown else ""
    data = result.to_dict()
    data["fidelity"] = fid
    data["ranking"] = [r["name"] for r in rows]
    if compare:
        data["compare"] = [dict(c) for c in compare]
    return Section(id="whatif", title=_(WHATIF_TITLE), html=html, data=data, lead=lead)


__all__ = [
    "PART_MEANING",
    "TITLE",
    "WHATIF_TITLE",
    "answer",
    "simulation_section",
    "whatif_section",
]
