"""Assembling the report from a log: every section from the same public functions a user calls.

Sections, in order: what to change (the first page: recommended changes and the board's three
numbers, docs/methods.md 18), summary, process map, variants, conformance (with a designed
model), why cases wait, bottlenecks, redundant steps, the customer's view, segments (one per
distinct split), slow-case drivers, deadlines (with SLA rules), and, when asked (``simulate``,
``scenarios``), whether a simulation of the process can be trusted and what the given
scenarios would save; then the appendix: data quality, methods, how to reproduce. A section whose input the log does not have (no customer id, no
final-response activity, ...) is left out and the report says which and why. A section whose
analysis fails is listed there too, as failed with its reason, and the rest of the report is
still written (:func:`failed_sections` lists them for the command line).

>>> import flowlens, pandas as pd
>>> from flowlens.report.build import build_report, ReportOptions
>>> df = pd.DataFrame({"case": ["1", "1"], "activity": ["open", "close"],
...                    "timestamp": ["2024-01-01 09:00", "2024-01-01 10:00"]})
>>> report = build_report(flowlens.read_log(df), ReportOptions(deep=False))
>>> [s.id for s in report.sections]
['recommendations', 'summary', 'map', 'variants', 'quality', 'methods', 'reproduce']
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from flowlens import __version__
from flowlens.discovery.cases import case_durations
from flowlens.discovery.dfg import directly_follows
from flowlens.discovery.variants import variants
from flowlens.errors import ConfigError, FlowlensError
from flowlens.i18n import M_, N_, Message, _
from flowlens.report.document import Report, Section
from flowlens.report.sections import map_section, quality_section, summary_section, variants_section
from flowlens.report.templating import render_fragment

if TYPE_CHECKING:
    from flowlens.analysis.processes import ProcessSplit
    from flowlens.analysis.waiting import WaitingAnalysis
    from flowlens.findings.allowlist import AllowList
    from flowlens.log import EventLog
    from flowlens.simulation.fidelity import FidelityResult
    from flowlens.simulation.scenarios import Scenario
    from flowlens.timing.calendars import CalendarSet
    from flowlens.timing.model import TimeModel

T = TypeVar("T")

#: Case attributes compared across groups when none are named, in this order of preference.
SEGMENT_CANDIDATES = ("segment", "channel", "origin_channel", "product", "priority", "process", "type")


@dataclass
class ReportOptions:
    """What goes into the report besides the always-present sections."""

    title: str | None = None
    #: random seed for every resampling in the report (bootstrap intervals); recorded
    seed: int = 0
    top_variants: int = 20
    #: analyses on the time model (waiting, bottlenecks, customer view, segments, drivers)
    deep: bool = True
    calendars: CalendarSet | None = None
    team: str | None = None
    #: the customer-outcome steps (time_model's clock_stop): None detects, "end" = case end
    clock_stop: Sequence[str] | str | None = None
    #: designed process (BPMN or PNML) to check conformance against
    model_path: str | Path | None = None
    conformance_budget_s: float = 60.0
    #: SLA presets (names) and/or rule files
    sla: Sequence[str] = ()
    sla_rules: Sequence[str | Path] = ()
    #: case attributes to compare groups on (default: detected from SEGMENT_CANDIDATES)
    segment_by: Sequence[str] = ()
    resamples: int = 1000
    #: regulatory allow-list for the redundant-steps section (default: the built-in one)
    allow: AllowList | None = None
    #: findings told in sentences, and listed in the table, of the redundant-steps section
    top_findings: int = 5
    #: the same staff's work outside the log: busy time for the waiting-cause split
    other_work: EventLog | None = None
    #: the column telling several processes apart: "auto" detects it
    #: (:func:`flowlens.analysis.processes.detect_processes`), None analyses the log as one process
    process: str | None = "auto"
    #: the organisation's domain for wording: "auto" (detected), "bank" or "generic"
    #: (:func:`flowlens.analysis.domain.detect_domain`); non-bank logs get neutral words
    domain: str = "auto"
    #: the report's language (:data:`flowlens.i18n.LANGUAGES`): every sentence, heading,
    #: label, unit and number format; values from the log (activity names ...) stay as they are
    lang: str = "en"
    #: the simulation sections (methods 16.6, 17): a model fitted on the first 80 % of the cases
    #: checked on the rest (``simulation_k`` simulated logs), and, with ``scenarios``, what each
    #: would save; scenarios imply ``simulate``
    simulate: bool = False
    scenarios: Sequence[Scenario] = ()
    #: simulated logs the fidelity check scores (3, as ``flowlens whatif``'s check)
    simulation_k: int = 3
    #: paired replications of the what-if (None: until the precision, as ``flowlens whatif``)
    whatif_replications: int | None = None
    #: processes scoring the fidelity check's logs (the numbers do not depend on it)
    jobs: int = 1
    #: the command line that made the report (recorded in the appendix to reproduce it)
    command: str | None = None
    #: other input files (cases, calendars, other work, rules, model): their checksums are recorded
    inputs: Sequence[str | Path] = ()
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _sha256(path: str) -> str | None:
    p = Path(path)
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with p.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def provenance(
    log: EventLog, *, seed: int | None = None, extra: dict[str, Any] | None = None
) -> dict[str, object]:
    """What the report was made from: enough to reproduce it."""
    from flowlens.i18n import current_language

    s = log.summary()
    out: dict[str, object] = {
        "flowlens_version": __version__,
        "source": log.source.path,
        "source_name": Path(log.source.path).name,
        "source_sha256": _sha256(log.source.path),
        "format": log.source.format,
        "timezone": log.timezone,
        "engine": log.engine.name,
        "columns": log.columns.to_dict(),
        "filters": list(log.filters),
        "seed": seed,
        # the language the report is built in (set by build_report; the page is rendered in it)
        "lang": current_language(),
        "cases": s.cases,
        "start": s.start,
        "end": s.end,
    }
    out.update(extra or {})
    return out


#: Prefix of the reason of a section that failed (in the "Not in this report" list).
FAILED = "failed: "
#: Names of analyses the "Not in this report" list may name that are no section's title
#: (the others are the sections' titles, in the catalogue already).
_ANALYSIS_NAMES = (N_("Conformance"), N_("Deadlines"), N_("Segments"), N_("Simulated against the cost today"))


def why_not(exc: FlowlensError) -> str:
    """Why an analysis left its section out, from the error that stopped it: the error's own
    sentence when it is a :class:`~flowlens.i18n.Message` (the report shows it in its language),
    else its one line.

    >>> why_not(ConfigError(M_("no column '{c}'", c="x"))), type(why_not(ConfigError("no x"))).__name__
    ("no column 'x'", 'str')
    """
    return exc.message if isinstance(exc.message, Message) and not exc.hint else exc.one_line()


def _skipped_rows(skipped: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The "Not in this report" rows with the names in the report's language (a name that is a
    section's title is translated as the title is)."""
    return [(s if isinstance(s, Message) else _(s), r) for s, r in skipped]


class _Guard:
    """Runs one section's analysis so that its failure cannot take the report down.

    Anything but an interrupt or running out of memory or disk is caught: the section is listed in
    ``skipped`` as failed, with the exception's class and message on one line, and ``None``
    stands for its result.
    """

    def __init__(self, skipped: list[tuple[str, str]]) -> None:
        self.skipped = skipped
        self.failed: set[str] = set()

    def run(self, title: str, compute: Callable[[], T]) -> T | None:
        if title in self.failed:
            return None  # one failure per section is enough
        try:
            return compute()
        except Exception as exc:
            from flowlens.interrupts import classify

            if classify(exc) is not None:  # an interrupt, out of memory, a full disk: stop the run
                raise
            message = " ".join(str(exc).split())
            if len(message) > 300:
                message = message[:299] + "…"
            self.fail(title, f"{type(exc).__name__}: {message}" if message else type(exc).__name__)
            return None

    def fail(self, title: str, reason: str) -> None:
        self.failed.add(title)
        self.skipped.append((title, M_("failed: {reason}", reason=reason)))


def _add(report: Report, section: Section | None) -> Report:
    return report if section is None else report.add(section)


def failed_sections(report: Report, *, localized: bool = False) -> list[tuple[str, str]]:
    """The sections of ``report`` whose analysis failed: (title, reason), in report order;
    ``localized``: in the current language (as the report lists them), else in English."""
    from flowlens.i18n import localize

    for s in report.sections:
        if s.id == "not-included":
            rows = [(d["section"], d["reason"]) for d in s.data["skipped"] if d.get("failed")]
            return [(localize(n), localize(r)) for n, r in _skipped_rows(rows)] if localized else rows
    return []


def build_report(
    log: EventLog,
    options: ReportOptions | None = None,
    *,
    step: Callable[[str], object] | None = None,
) -> Report:
    """The report of ``log``. ``step`` is called with a label before each analysis (the CLI
    shows progress with it). A section whose analysis raises is listed as failed (see
    :class:`_Guard`); the others are still built. Its words are in ``options.lang``."""
    from flowlens.i18n import language

    opts = options or ReportOptions()
    with language(opts.lang):
        return _build_report(log, opts, step=step)


def _build_report(log: EventLog, opts: ReportOptions, *, step: Callable[[str], object] | None) -> Report:
    skipped: list[tuple[str, str]] = list(opts.skipped)
    guard = _Guard(skipped)

    def tick(label: str) -> None:
        if step is not None:
            step(label)

    tick("summary")
    summary = log.summary()
    durations = case_durations(log)
    extra = {
        "calendars": opts.calendars.source if opts.calendars is not None else None,
        "model": str(opts.model_path) if opts.model_path else None,
        "sla": list(opts.sla) + [str(r) for r in opts.sla_rules],
        "resamples": opts.resamples if opts.deep else None,
        "other_work": opts.other_work.source.path if opts.other_work is not None else None,
    }
    extra["command"] = opts.command
    extra["inputs"] = _input_checksums(opts)
    extra["versions"] = versions()
    split, processes = _processes(log, opts)
    from flowlens.analysis.domain import detect_domain

    domain = detect_domain(log, opts.domain)
    report = Report(
        title=opts.title or report_title(log, summary, split=split, domain=domain),
        provenance=provenance(log, seed=opts.seed, extra=extra),
    )
    found: dict[str, Any] = {"durations": durations, "processes": processes}
    report = _add(
        report,
        guard.run(
            "Summary",
            lambda: summary_section(log, summary, durations, split=split, processes=processes, domain=domain),
        ),
    )
    tm, wa, other = _time_analyses(log, opts, tick, guard) if opts.deep else (None, None, None)
    by_transition = guard.run("Why cases wait", lambda: wa.by("transition")) if wa is not None else None
    by_activity = guard.run("Why cases wait", lambda: wa.by("activity")) if wa is not None else None
    found["waiting_by_activity"] = by_activity
    tick("process map")
    report = _add(
        report,
        guard.run(
            "Process map",
            lambda: map_section(
                log,
                directly_follows(log),
                waiting_by_transition=by_transition,
                waiting_by_activity=by_activity,
            ),
        ),
    )
    tick("variants")
    report = _add(
        report,
        guard.run(
            "Variants",
            lambda: variants_section(
                variants(log),
                top=opts.top_variants,
                split=split,
                processes=processes,
                per_process=_variants_per_process(log, split),
            ),
        ),
    )
    if opts.model_path:
        tick("conformance")
        report = _add(report, guard.run("Conformance", lambda: _conformance(log, opts)))
    if opts.deep:
        report = _deep_sections(log, report, opts, skipped, tick, guard, tm, wa, other, found)
    else:
        # a section an option asked for is never silently missing: --quick leaves it out, and says so
        quick = M_("not run with --quick (only the summary, map, variants and data quality)")
        if opts.sla or opts.sla_rules:
            skipped.append(("Deadlines", quick))
        if opts.segment_by:
            skipped.append(("Segments", quick))
    if opts.simulate or opts.scenarios:
        report = _simulation(log, report, opts, tick, guard, found)
    tick("recommendations")
    first = guard.run("What to change", lambda: _recommendations(log, opts, found, wa, tm))
    if first is not None:
        report = replace(report, sections=(first, *_summary_says_population(report.sections, first)))
    if skipped:
        report = report.add(
            Section(
                id="not-included",
                title=_("Not in this report"),
                html=render_fragment("_skipped.html.j2", skipped=_skipped_rows(skipped)),
                data={
                    "skipped": [
                        {"section": s, "reason": r, "failed": r.startswith(FAILED)} for s, r in skipped
                    ]
                },
            )
        )
    # the appendix: data quality in full, the methods the report uses, how to reproduce it
    from flowlens.report.appendix import methods_section, reproduce_section

    report = _add(report, guard.run("Data quality", lambda: quality_section(log, summary)))
    report = _add(report, guard.run("Methods", lambda: methods_section([s.id for s in report.sections])))
    return report.add(reproduce_section(report.provenance))


def _summary_says_population(sections: Sequence[Section], first: Section) -> tuple[Section, ...]:
    """The sections with the Summary's lead saying how the first page's lead times differ from
    its own (methods 18.2), when they do: both are read first, and 19.4 h against 8.7 d must not
    look like a contradiction."""
    from flowlens.i18n import pgettext
    from flowlens.report.sections import first_page_population

    extra = first_page_population((first.data or {}).get("board") or {})
    if extra is None:
        return tuple(sections)
    return tuple(
        replace(s, lead=pgettext("two sentences", "{first} {second}").format(first=s.lead, second=extra))
        if s.id == "summary" and s.lead
        else s
        for s in sections
    )


def _recommendations(
    log: EventLog,
    opts: ReportOptions,
    found: dict[str, Any],
    wa: WaitingAnalysis | None,
    tm: TimeModel | None,
) -> Section:
    """The first page (methods 18): the changes to decide on and the board's three numbers."""
    from flowlens.findings.allowlist import AllowList
    from flowlens.report.outcomes import INSTANT_S
    from flowlens.report.recommendations_section import (
        board_numbers,
        data_quality_reason,
        recommendations,
        recommendations_section,
        scenario_cases,
    )

    fr = found.get("findings")
    whatif = found.get("whatif")
    wdict = whatif.to_dict() if whatif is not None else None
    lead_total = (fr.claimed or {}).get("customer_lead_time_total_s") if fr is not None else None
    recs = recommendations(
        fr,
        cases_total=len(found["durations"]),
        lead_total_s=lead_total,
        whatif=wdict,
        fidelity=found.get("fidelity"),
        scenario_cases=scenario_cases(log, wdict["scenarios"]) if wdict else None,
        quality=log.quality,
        starts_estimated=bool(wa is not None and wa.tm.starts_estimated),
        allow=opts.allow or AllowList.default(),
        step_cases=_step_cases(log),
        compare=found.get("compare") or (),
        waiting_by_activity=found.get("waiting_by_activity"),
    )
    sla = found.get("sla")
    lead = found["durations"]
    clock = "end"
    if tm is not None:
        # the customer's lead time: first step to the outcome (methods 6.5), not to a closing
        # step after it (the board asks how long customers wait for their answer)
        c = tm.cases
        lead = c.select("case_id", lead_time_s=c.customer_lead_us / 1e6).to_pandas()
        # "to the outcome" only when a stop was given or found; else it runs to the last step
        clock = "end" if tm.stop.mode == "case_end" else "outcome"
    outcomes = None
    if tm is not None:
        from flowlens.report.outcomes import case_outcomes

        ctx = found.get("ctx")
        roles = ctx.step_roles if ctx is not None else None
        if roles is None:
            from flowlens.analysis.step_roles import step_roles

            roles = step_roles(tm)
        outcomes = case_outcomes(tm, roles.outcomes, processes=found.get("processes"))
    board = board_numbers(
        lead,
        waiting=wa.overall() if wa is not None else None,
        sla=sla[0].result.summary() if sla else None,
        processes=found.get("processes"),
        instant_s=INSTANT_S if outcomes is not None else None,
    )
    board["lead_to"] = clock
    from flowlens.report.sections import start_share

    reason = data_quality_reason(
        log.quality,
        starts_estimated=bool(wa is not None and wa.tm.starts_estimated),
        start_share=start_share(log),
    )
    return recommendations_section(recs, board, quality_reason=reason, outcomes=outcomes)


def _step_cases(log: EventLog) -> dict[str, int]:
    """Per activity, the cases that take it (the base a change on that step can apply to): the
    map's node case counts (methods 3.1), not a distinct count over the events again."""
    nodes = directly_follows(log).nodes
    return {str(a): int(n) for a, n in zip(nodes.activity, nodes.cases, strict=True)}


def versions() -> dict[str, str]:
    """flowlens, Python and the libraries whose versions can change a number."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"flowlens": __version__, "python": platform.python_version()}
    for name in ("duckdb", "ibis-framework", "pandas", "numpy", "scipy", "pm4py"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def _input_checksums(opts: ReportOptions) -> list[dict[str, Any]]:
    """sha256 of every input file besides the log (the log's is ``source_sha256``)."""
    paths: list[str] = [str(p) for p in opts.inputs]
    if opts.calendars is not None and opts.calendars.source:
        paths.append(str(opts.calendars.source))
    if opts.other_work is not None:
        paths.append(str(opts.other_work.source.path))
    paths += [str(p) for p in opts.sla_rules]
    if opts.model_path:
        paths.append(str(opts.model_path))
    seen: list[str] = []
    for p in paths:
        if p not in seen:
            seen.append(p)
    return [{"path": p, "sha256": _sha256(p)} for p in seen]


#: file-name endings that say how a log is stored, not what it holds (left out of the title)
_LOG_SUFFIXES = {
    ".gz",
    ".bz2",
    ".xz",
    ".zip",
    ".zst",
    ".xes",
    ".csv",
    ".tsv",
    ".parquet",
    ".json",
    ".jsonl",
    ".xlsx",
    ".ocel",
}


def report_title(
    log: EventLog, summary: Any, *, split: ProcessSplit | None = None, domain: Any = None
) -> str:
    """The process and the period, from the data (methods 18.4): the processes' names when the
    log holds several (or its one process value), else the organisation's domain and the log's
    name; then the first and last day."""
    period = f"{(summary.start or '?')[:10]} – {(summary.end or '?')[:10]}"
    bank = domain is not None and getattr(domain, "name", "") == "bank"
    if split is not None:
        names = [str(p).replace("_", " ") for p in split.cases]
        shown = ", ".join(names[:5]) + (f" +{len(names) - 5}" if len(names) > 5 else "")
        what = (_("Bank processes: {names}") if bank else _("Processes: {names}")).format(names=shown)
    else:
        stem = Path(log.source.path).name
        while Path(stem).suffix.lower() in _LOG_SUFFIXES:
            stem = Path(stem).stem
        stem = stem.replace("_", " ")
        if stem.startswith("<"):  # a frame handed over in Python: no name to give
            what = _("Bank process") if bank else _("Process")
        else:
            what = (_("Bank process: {name}") if bank else _("Process: {name}")).format(name=stem)
    return f"{what}, {period}"


def _processes(log: EventLog, opts: ReportOptions) -> tuple[ProcessSplit | None, Any]:
    """The log's process column (None for one process) and the process of every case."""
    from flowlens.analysis.processes import case_processes, detect_processes

    split = detect_processes(log, opts.process)
    return split, (case_processes(log, split) if split is not None else None)


def _variants_per_process(log: EventLog, split: ProcessSplit | None) -> dict[str, Any] | None:
    from flowlens.analysis.processes import process_log

    if split is None:
        return None
    return {p: variants(process_log(log, split, p)) for p in split.cases}


def _conformance(log: EventLog, opts: ReportOptions) -> Section:
    from flowlens.conformance import conformance
    from flowlens.discovery.bpmn import read_model
    from flowlens.report.conformance_section import conformance_section

    model = read_model(opts.model_path)  # type: ignore[arg-type]
    return conformance_section(
        conformance(log, model, time_budget_s=opts.conformance_budget_s, seed=opts.seed)
    )


def _time_analyses(
    log: EventLog, opts: ReportOptions, tick: Callable[[str], None], guard: _Guard
) -> tuple[TimeModel | None, WaitingAnalysis | None, Any]:
    """The time model, the waiting-cause split and the other work they used (computed before
    the map, which draws every transition the waiting sections name); None where one failed."""
    from flowlens.analysis.waiting import waiting_causes
    from flowlens.timing.model import time_model

    waiting = "Why cases wait"
    tick("time model")
    tm = guard.run(
        waiting,
        lambda: time_model(log, calendars=opts.calendars, team=opts.team, clock_stop=opts.clock_stop),
    )
    tick("waiting causes")
    other = None
    if opts.other_work is not None:
        from flowlens.analysis.other_work import other_work_intervals

        other = guard.run(waiting, lambda: other_work_intervals(opts.other_work, opts.calendars))
    wa = None
    if tm is not None:
        wa = guard.run(waiting, lambda: waiting_causes(tm, calendars=opts.calendars, other_work=other))
    return tm, wa, other


def _deep_sections(
    log: EventLog,
    report: Report,
    opts: ReportOptions,
    skipped: list[tuple[str, str]],
    tick: Callable[[str], None],
    guard: _Guard,
    tm: TimeModel | None,
    wa: WaitingAnalysis | None,
    other: Any,
    found: dict[str, Any],
) -> Report:
    from flowlens.report.waiting_section import waiting_section

    if wa is not None:
        report = _add(report, guard.run("Why cases wait", lambda: waiting_section(wa)))
    tick("bottlenecks")
    if tm is not None:
        report = _add(
            report,
            guard.run("Bottlenecks", lambda: _bottlenecks(log, tm, opts, other)),
        )
    tick("redundant steps")
    if tm is not None and wa is not None:
        report = _add(report, guard.run("Redundant steps", lambda: _findings(log, tm, wa, opts, found)))
    # a section that needs the time model or the waiting split cannot run without them
    needs = M_("not run: it needs the time model and waiting split, which failed (see 'Why cases wait')")
    if tm is None:
        guard.fail("Bottlenecks", needs)
    if tm is None or wa is None:
        guard.fail("Redundant steps", needs)

    tick("customer journeys")
    report = guard.run("Customer journeys", lambda: _journeys(log, report, skipped)) or report
    # deadlines are evaluated before segments so that both use one definition of "SLA met"
    # (the first rule's per-case verdict); the section still comes last
    analyses: list[Any] = []
    if opts.sla or opts.sla_rules:
        tick("deadlines")
        analyses = guard.run("Deadlines", lambda: _sla_analyses(log, tm, wa, opts, skipped)) or []
        found["sla"] = analyses
    tick("segments")
    cols = guard.run("Segments", lambda: _segment_columns(log, opts, skipped)) or []
    # named columns are all shown; detected ones that repeat an earlier split are not
    kept, same = (list(cols), {}) if opts.segment_by else _distinct_splits(log, cols)
    for col in kept:

        def by(c: str = col, r: Report = report) -> Report:
            return _segments(log, r, c, tm, opts, skipped, analyses, same.get(c, []))

        report = guard.run(M_("Segments by {column}", column=col), by) or report
    tick("slow-case drivers")
    report = guard.run("Slow-case drivers", lambda: _drivers(log, report, opts, skipped)) or report
    if analyses:
        from flowlens.report.sla_section import sla_section

        report = _add(report, guard.run("Deadlines", lambda: sla_section(analyses)))
    return report


def _bottlenecks(log: EventLog, tm: TimeModel, opts: ReportOptions, other: Any) -> Section:
    """The bottlenecks section; without a given calendar, utilisation on working hours found in
    the log (methods 8.2: each person's usual hours, as the waiting split finds shifts), not on
    a 24x7 clock, when the log's times are finer than an hour."""
    from flowlens.analysis.bottlenecks import bottleneck_report
    from flowlens.report.bottlenecks_section import bottlenecks_section

    rep = bottleneck_report(tm, other_work=other)
    if opts.calendars is not None or rep.business_time or not rep.utilisation:
        return bottlenecks_section(rep)
    if (log.time_resolution_s or 0) >= 3600:
        return bottlenecks_section(rep)
    from flowlens.analysis.bottlenecks.capacity import utilisation
    from flowlens.timing.discovery import discover_calendars

    # measured on the found calendars: only the instances' calendar names change (no second
    # time model: at 10^8 events its copy of the instance table alone spilled ~28 GB)
    found = discover_calendars(log)
    util = {
        lv: utilisation(tm, level=lv, freq=rep.util_freq, other_work=other, calendars=found)
        for lv in rep.utilisation
    }
    sentences = [s for s in rep.sentences if not s.startswith("Utilisation counts every hour")]
    return bottlenecks_section(replace(rep, utilisation=util, sentences=sentences), util_found=True)


def _simulation(
    log: EventLog,
    report: Report,
    opts: ReportOptions,
    tick: Callable[[str], None],
    guard: _Guard,
    found: dict[str, Any],
) -> Report:
    """The sections "Can the simulation be trusted?" and, with scenarios, "What a simpler process would
    save" (the what-if runs even when the fidelity check failed, and then says it is unchecked)."""
    from flowlens.report.simulation_section import TITLE, WHATIF_TITLE, simulation_section, whatif_section
    from flowlens.simulation.fidelity import fidelity

    fit_options: dict[str, Any] = {"calendars": opts.calendars, "other_work": opts.other_work}
    tick("simulation fidelity")
    fid = guard.run(
        TITLE, lambda: fidelity(log, k=opts.simulation_k, seed=opts.seed, jobs=opts.jobs, **fit_options)
    )
    if fid is not None:
        found["fidelity"] = fid.summary()
        report = _add(report, guard.run(TITLE, lambda: simulation_section(fid)))
    if opts.scenarios:
        tick("what-if scenarios")
        result = guard.run(WHATIF_TITLE, lambda: _whatif(log, opts, fid, fit_options))
        if result is not None:
            found["whatif"] = result
            # its own title: a failed comparison must not take the what-if section with it
            compare = guard.run("Simulated against the cost today", lambda: _compare(log, result, found))
            found["compare"] = compare or []
            report = _add(
                report, guard.run(WHATIF_TITLE, lambda: whatif_section(result, fid, compare=compare or ()))
            )
    return report


def _compare(log: EventLog, result: Any, found: dict[str, Any]) -> list[dict[str, Any]]:
    """Each scenario against the findings' change it tests (methods 18.7)."""
    from flowlens.report.recommendations_section import scenario_cases, whatif_vs_findings

    wdict = result.to_dict()
    return whatif_vs_findings(
        wdict,
        found.get("findings"),
        scenario_cases=scenario_cases(log, wdict["scenarios"]),
        cases_total=len(found["durations"]),
        waiting_by_activity=found.get("waiting_by_activity"),
    )


def _whatif(
    log: EventLog, opts: ReportOptions, fid: FidelityResult | None, fit_options: dict[str, Any]
) -> Any:
    """The scenarios' paired replications on bootstrap refits of the whole log, as ``flowlens
    whatif`` runs them (same seed, same numbers)."""
    from flowlens.analysis.sla import given_rules
    from flowlens.simulation.fit import build, observe
    from flowlens.simulation.whatif import whatif

    rules = given_rules(opts.sla, opts.sla_rules)
    obs = observe(log, **fit_options)
    result = whatif(
        build(obs),
        list(opts.scenarios),
        observations=obs,
        seed=opts.seed,
        replications=opts.whatif_replications,
        sla=rules,
    )
    result.fidelity = None if fid is None else fid.summary()
    return result


def _findings(
    log: EventLog, tm: TimeModel, wa: WaitingAnalysis, opts: ReportOptions, found: dict[str, Any]
) -> Section:
    from flowlens.findings.allowlist import AllowList
    from flowlens.findings.api import find_wastes
    from flowlens.findings.context import FindingContext
    from flowlens.report.findings_section import findings_section

    ctx = FindingContext(
        log,
        allow=opts.allow or AllowList.default(),
        calendars=opts.calendars,
        seed=opts.seed,
        resamples=opts.resamples,
        _tm=tm,
        _waiting=wa,
    )
    found["ctx"] = ctx  # its step roles also give the outcomes of the first page
    # the detectors' tables are read by no later section: dropped once the section is built
    with ctx:
        found["findings"] = find_wastes(log, ctx=ctx)
        return findings_section(found["findings"], top=opts.top_findings)


def _journeys(log: EventLog, report: Report, skipped: list[tuple[str, str]]) -> Report:
    from flowlens.analysis.journeys import customer_key, journeys
    from flowlens.report.journeys_section import journeys_section

    key = customer_key(log)
    if key.column is None:
        skipped.append(
            ("Customer journeys", M_("no customer id column (e.g. customer_id) to link cases into issues"))
        )
        return report
    if not key.persons:
        skipped.append(("Customer journeys", key.reason))
        return report
    try:
        j = journeys(log)
        section = journeys_section(j)
        j.close(log)  # no later section joins these issues (segments build their own)
        return report.add(section)
    except ConfigError as exc:
        skipped.append(("Customer journeys", why_not(exc)))
        return report


def _segment_columns(log: EventLog, opts: ReportOptions, skipped: list[tuple[str, str]]) -> list[str]:
    if opts.segment_by:
        return list(opts.segment_by)
    names = {src.lower().removeprefix("case:"): src for src in log.attributes.values()}
    found = [names[c] for c in SEGMENT_CANDIDATES if c in names][:3]
    if not found:
        skipped.append(
            (
                "Segments",
                M_(
                    "no segment, channel or product column found ({columns}); name one with --segment-by",
                    columns=", ".join(SEGMENT_CANDIDATES),
                ),
            )
        )
    return found


#: Two attributes carry the same split when each tells the other for this share of cases.
SAME_SPLIT = 0.95


def split_agreement(log: EventLog, a: str, b: str) -> float:
    """How well two case attributes tell each other (methods 18.3): the smaller, over both
    directions, of the share of cases whose value of one attribute is the most common value
    of the other attribute among the cases with the same value of the first. 1.0 when they
    split the cases the same way (whatever the values are called).

    >>> import flowlens, pandas as pd
    >>> df = pd.DataFrame({"case": list("1234"), "activity": "a", "timestamp": "2024-01-01",
    ...     "channel": ["app", "app", "web", "web"], "origin": ["A", "A", "W", "W"]})
    >>> split_agreement(flowlens.read_log(df), "channel", "origin")
    1.0
    """
    from flowlens.attributes import case_attribute_table

    t = case_attribute_table(log, [a, b])
    pairs = t.group_by([a, b]).aggregate(n=t.case_idx.count()).to_pandas()
    total = float(pairs["n"].sum())
    if total == 0:
        return 0.0
    pairs = pairs.fillna({a: "\x00none", b: "\x00none"})
    tell_b = float(pairs.groupby(a, sort=True)["n"].max().sum()) / total
    tell_a = float(pairs.groupby(b, sort=True)["n"].max().sum()) / total
    return min(tell_a, tell_b)


def _distinct_splits(
    log: EventLog, cols: Sequence[str]
) -> tuple[list[str], dict[str, list[tuple[str, float]]]]:
    """``cols`` without those that carry the same split as an earlier one, and per kept column
    the ones it stands for, with their agreement."""
    kept: list[str] = []
    same: dict[str, list[tuple[str, float]]] = {}
    for c in cols:
        for k in kept:
            agree = split_agreement(log, k, c)
            if agree >= SAME_SPLIT:
                same.setdefault(k, []).append((c, agree))
                break
        else:
            kept.append(c)
    return kept, same


def _segments(
    log: EventLog,
    report: Report,
    col: str,
    tm: Any,
    opts: ReportOptions,
    skipped: list[tuple[str, str]],
    analyses: Sequence[Any] = (),
    same: Sequence[tuple[str, float]] = (),
) -> Report:
    from flowlens.analysis.segments import segments
    from flowlens.report.segments_section import segments_section

    sla: Any = "auto"
    label = None
    if analyses:
        res = analyses[0].result
        sla = res.met_flags()
        label = _("deadline met ({rule}, of its decided cases)").format(rule=res.rule.name)
    try:
        return report.add(
            segments_section(
                segments(
                    log,
                    col,
                    tm=tm,
                    seed=opts.seed,
                    resamples=opts.resamples,
                    process=opts.process,
                    sla=sla,
                    sla_label=label,
                ),
                same=same,
            )
        )
    except ConfigError as exc:
        skipped.append((M_("Segments by {column}", column=col), why_not(exc)))
        return report


def _drivers(log: EventLog, report: Report, opts: ReportOptions, skipped: list[tuple[str, str]]) -> Report:
    from flowlens.analysis.drivers import drivers
    from flowlens.report.drivers_section import drivers_section

    try:
        return report.add(drivers_section(drivers(log, seed=opts.seed, resamples=opts.resamples)))
    except ConfigError as exc:
        skipped.append(("Slow-case drivers", why_not(exc)))
        return report


def _sla_analyses(
    log: EventLog, tm: Any, wa: Any, opts: ReportOptions, skipped: list[tuple[str, str]]
) -> list[Any]:
    from flowlens.analysis.sla import given_rules, sla_analysis

    rules = given_rules(opts.sla, opts.sla_rules)
    analyses = []
    for rule in rules:
        try:
            analyses.append(sla_analysis(log, rule, tm=tm, causes=wa, process=opts.process))
        except ConfigError as exc:
            skipped.append((M_("Deadlines ({rule})", rule=rule.name), why_not(exc)))
    return analyses
