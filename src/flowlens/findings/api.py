"""Run every detector on one log and return one ranked list: :func:`find_wastes`.

The registry :data:`DETECTORS` lists detector modules as ``"module"`` (every module-level
function named ``detect_*`` defined there, in source order) or ``"module:function"``. A new
detector plugs in with one line. While detectors are being written, a registered module that
does not exist yet is skipped with a note (``strict=False``, the default); the test suite loads
the registry with ``strict=True``, so a missing or broken module fails there. Any other import
error is raised, always.

All detectors share one :class:`~flowlens.findings.context.FindingContext`, so the time model,
waiting causes and journeys are computed once. Findings that would merge, batch or remove a
step after the customer's clock stopped (an administrative closure after the outcome) are left
out, whichever detector made them. The rest are deduplicated, capped so that per case they never
claim more than the case's customer lead time (first step to the clock stop), and ranked by
customer time (:mod:`flowlens.findings.rank`; docs/methods.md 13); ``claimed`` states their
total as a share of the customers' total lead time.

>>> import flowlens, pandas as pd
>>> rows = [(c, a, f"2024-01-0{d} {h}:00") for c in "123" for d, (a, h) in enumerate(
...         [("submit", 9), ("check", 10), ("check", 11), ("close", 12)], start=1)]
>>> log = flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "timestamp"]))
>>> report = find_wastes(log, detectors=[])
>>> report.findings, report.to_frame().shape[0]
([], 0)
"""

from __future__ import annotations

import importlib
import inspect
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from flowlens.errors import ConfigError
from flowlens.findings.allowlist import AllowList
from flowlens.findings.context import FindingContext
from flowlens.findings.instances import cases_per_activity
from flowlens.findings.model import ACTIONS, KINDS, Finding, Scenario
from flowlens.findings.rank import MIN_FINDING_CASES, REMOVAL_ACTIONS, claimed, consolidate
from flowlens.findings.rank import min_cases as support
from flowlens.i18n import M_, NM_
from flowlens.units import count_value, duration_value, percent_value

if TYPE_CHECKING:
    from flowlens.log import EventLog
    from flowlens.timing.calendars import CalendarSet

#: The detector registry: ``"module"`` (all its ``detect_*`` functions) or ``"module:function"``.
DETECTORS: tuple[str, ...] = (
    "flowlens.findings.rework",
    "flowlens.findings.pingpong",
    "flowlens.findings.customer_loops",
    "flowlens.findings.journeys",
    "flowlens.findings.contacts",
    "flowlens.findings.approvals:detect_no_effect_checks",
    "flowlens.findings.merge:detect_merge_candidates",
    "flowlens.findings.batching:detect_batch_delay",
)

#: Setting this environment variable to 1 makes a missing registered module an error everywhere.
STRICT_ENV = "FLOWLENS_STRICT_DETECTORS"

DetectorFn = Callable[[FindingContext], list[Finding]]


@dataclass(frozen=True)
class LoadedDetector:
    name: str
    entry: str
    fn: DetectorFn


def _functions(module: Any) -> list[tuple[str, DetectorFn]]:
    fns = [
        (name, obj)
        for name, obj in vars(module).items()
        if name.startswith("detect_") and inspect.isfunction(obj) and obj.__module__ == module.__name__
    ]
    fns.sort(key=lambda kv: kv[1].__code__.co_firstlineno)
    return fns


def load_detectors(
    entries: Iterable[str | DetectorFn] | None = None, *, strict: bool | None = None
) -> tuple[list[LoadedDetector], list[str]]:
    """The detectors of ``entries`` (default :data:`DETECTORS`) and the registered modules that
    do not exist (skipped unless ``strict``; ``strict=None`` reads ``FLOWLENS_STRICT_DETECTORS``)."""
    if strict is None:
        strict = os.environ.get(STRICT_ENV, "") not in ("", "0")
    out: list[LoadedDetector] = []
    missing: list[str] = []
    for entry in DETECTORS if entries is None else entries:
        if callable(entry):
            name = str(getattr(entry, "name", None) or getattr(entry, "__name__", "detector"))
            out.append(LoadedDetector(name, f"{entry.__module__}:{name}", entry))
            continue
        mod_name, _, fn_name = str(entry).partition(":")
        try:
            module = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            # only the registered module itself may be missing; a missing dependency is a bug
            if strict or exc.name != mod_name:
                raise
            missing.append(mod_name)
            continue
        if fn_name:
            fn = getattr(module, fn_name, None)
            if not callable(fn):
                raise ConfigError(f"detector registry: {mod_name} has no function {fn_name}")
            out.append(LoadedDetector(str(getattr(fn, "name", fn_name)), str(entry), fn))
        else:
            fns = _functions(module)
            if not fns:
                raise ConfigError(f"detector registry: {mod_name} defines no detect_* function")
            for name, fn in fns:
                out.append(LoadedDetector(str(getattr(fn, "name", name)), f"{mod_name}:{name}", fn))
    return out, missing


def _check(f: Any, det: LoadedDetector, allow: AllowList) -> Finding:
    """The detector contract: a Finding of a known kind and action; regulatory findings are
    never removals. A finding on an allow-listed activity that a detector forgot to mark is
    marked here (the framework is the last guard of the allow-list)."""
    if not isinstance(f, Finding):
        raise TypeError(f"detector {det.entry} returned {type(f).__name__}, not a Finding")
    if f.kind not in KINDS:
        raise ValueError(f"detector {det.entry}: unknown kind {f.kind!r}")
    if f.scenario.action not in ACTIONS:
        raise ValueError(f"detector {det.entry}: unknown scenario action {f.scenario.action!r}")
    if f.regulatory and f.scenario.action in REMOVAL_ACTIONS:
        raise ValueError(
            f"detector {det.entry}: regulatory finding '{f.title}' has a removal scenario "
            f"({f.scenario.action}); only 'make it faster' levers are allowed"
        )
    if not f.detector:
        f = replace(f, detector=det.name)
    if not f.regulatory and f.scenario.action in REMOVAL_ACTIONS:
        reasons = [r for a in f.activities if (r := allow.match(a))]
        if reasons:
            f = replace(
                f,
                regulatory=True,
                allow_reason=reasons[0],
                scenario=Scenario(
                    "automate",
                    {"activities": list(f.activities), "keep_step": True},
                    M_("required step: keep it, make it faster"),
                ),
                details={**f.details, "allow_list_applied_by": "framework"},
            )
    return f


@dataclass
class FindingsReport:
    """All findings of a log, deduplicated and ranked by customer time at stake."""

    findings: list[Finding]
    #: per detector: name, entry, seconds, findings (before deduplication)
    detectors: list[dict[str, Any]] = field(default_factory=list)
    #: registered detector modules that do not exist (skipped)
    missing: list[str] = field(default_factory=list)
    #: what deduplication merged (one record per merge)
    merges: list[dict[str, Any]] = field(default_factory=list)
    #: the lead-time cap: cases_capped, removed_s, unknown_cases
    cap: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seed: int = 0
    cases_total: int = 0
    #: customer lead time per case id (seconds, first step to the clock stop), what the cap was
    #: checked against
    customer_lead_s: dict[str, float] = field(default_factory=dict, repr=False)
    #: the total claimed against the customers' total lead time (:func:`~flowlens.findings.rank.claimed`)
    claimed: dict[str, Any] = field(default_factory=dict)
    #: findings left out because they act on a step after the customer's clock stopped
    after_clock_stop: list[dict[str, Any]] = field(default_factory=list)
    #: findings left out because they affect too few cases to act on (:func:`too_rare`)
    too_rare: list[dict[str, Any]] = field(default_factory=list)

    @property
    def lead_s(self) -> dict[str, float]:
        """The customer lead time per case (the cap's reference), under its older name."""
        return self.customer_lead_s

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    @property
    def actionable(self) -> list[Finding]:
        """Findings whose scenario may be carried out (not exempt by regulation)."""
        return [f for f in self.findings if not f.regulatory]

    @property
    def regulatory(self) -> list[Finding]:
        """Findings on required steps: reported, never to be removed."""
        return [f for f in self.findings if f.regulatory]

    def of_kind(self, *kinds: str) -> list[Finding]:
        return [f for f in self.findings if f.kind in kinds]

    def cases_of(self, *kinds: str, regulatory: bool | None = False) -> set[str]:
        """Case ids flagged by findings of these kinds (by default the actionable ones)."""
        return {
            c
            for f in self.findings
            if f.kind in kinds and (regulatory is None or f.regulatory == regulatory)
            for c in f.case_ids
        }

    @property
    def totals(self) -> pd.DataFrame:
        """Per kind: findings, distinct cases, occurrences, customer and staff time (seconds),
        actionable findings only; one extra row ``regulatory`` sums the exempt ones."""
        rows = []
        groups: dict[str, list[Finding]] = {}
        for f in self.findings:
            groups.setdefault("regulatory" if f.regulatory else f.kind, []).append(f)
        for kind, fs in groups.items():
            rows.append(
                {
                    "kind": kind,
                    "findings": len(fs),
                    "cases": len({c for f in fs for c in f.case_ids}),
                    "occurrences": sum(f.occurrences for f in fs),
                    "customer_time_s": sum(f.customer_time_s for f in fs),
                    "staff_time_s": sum(f.staff_time_s for f in fs),
                }
            )
        cols = ["kind", "findings", "cases", "occurrences", "customer_time_s", "staff_time_s"]
        df = pd.DataFrame(rows, columns=cols)
        return df.sort_values(["customer_time_s", "kind"], ascending=[False, True]).reset_index(drop=True)

    def per_case(self) -> pd.DataFrame:
        """One row per (finding, case): rank (1-based), kind, case_id, customer_time_s."""
        rows = [
            (r, f.kind, str(c), float(v))
            for r, f in enumerate(self.findings, start=1)
            for c, v in f.per_case_s.items()
        ]
        return pd.DataFrame(rows, columns=["rank", "kind", "case_id", "customer_time_s"])

    def to_frame(self) -> pd.DataFrame:
        """One row per finding, ranked (lists joined with '; ', scenario params as JSON)."""
        import json

        rows = []
        for r, f in enumerate(self.findings, start=1):
            d = f.to_dict()
            rows.append(
                {
                    "rank": r,
                    "kind": d["kind"],
                    "title": d["title"],
                    "activities": "; ".join(d["activities"]),
                    "resources": "; ".join(d["resources"]),
                    "cases": d["cases"],
                    "occurrences": d["occurrences"],
                    "customer_time_s": d["customer_time_s"],
                    "customer_time_ci_low_s": d["customer_time_ci_s"][0],
                    "customer_time_ci_high_s": d["customer_time_ci_s"][1],
                    "staff_time_s": d["staff_time_s"],
                    "example_cases": "; ".join(map(str, d["example_cases"])),
                    "evidence": d["evidence"],
                    "regulatory": d["regulatory"],
                    "allow_reason": d["allow_reason"],
                    "scenario_action": d["scenario"]["action"],
                    "scenario_params": json.dumps(d["scenario"]["params"], ensure_ascii=False, default=str),
                    "scenario": d["scenario"]["description"],
                    "detector": d["detector"],
                }
            )
        cols = [
            "rank", "kind", "title", "activities", "resources", "cases", "occurrences",
            "customer_time_s", "customer_time_ci_low_s", "customer_time_ci_high_s", "staff_time_s",
            "example_cases", "evidence", "regulatory", "allow_reason", "scenario_action",
            "scenario_params", "scenario", "detector",
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=cols)

    def to_dict(self, *, all_cases: bool = False) -> dict[str, Any]:
        t = self.totals
        return {
            "findings": [
                {"rank": r, **f.to_dict(all_cases=all_cases)} for r, f in enumerate(self.findings, 1)
            ],
            "totals": t.to_dict("records"),
            "cases_total": self.cases_total,
            "detectors": self.detectors,
            "missing_detectors": self.missing,
            "merges": self.merges,
            "cap": self.cap,
            "claimed": self.claimed,
            "after_clock_stop": self.after_clock_stop,
            "too_rare": self.too_rare,
            "notes": self.notes,
            "seed": self.seed,
        }


def find_wastes(
    log: EventLog,
    *,
    allow: AllowList | str | Path | None = None,
    calendars: CalendarSet | str | Path | None = None,
    seed: int = 0,
    detectors: Sequence[str | DetectorFn] | None = None,
    strict: bool | None = None,
    ctx: FindingContext | None = None,
    min_cases: int | None = None,
    **context_options: Any,
) -> FindingsReport:
    """Run the detectors (default: the registry) on ``log`` and consolidate their findings.

    ``allow`` is an :class:`AllowList` or a TOML/JSON file adding to the defaults;
    ``calendars`` a :class:`CalendarSet` or a calendar file; ``seed`` seeds every bootstrap;
    ``context_options`` go to :class:`FindingContext` (``groups``, ``resamples``,
    ``journey_options``). Pass ``ctx`` to reuse a context (its log wins). ``min_cases`` is the
    fewest cases a finding must affect (default :func:`~flowlens.findings.rank.min_cases`: 1 %
    of the cases, at least 5). A context made here is closed at the end (the detectors' tables
    dropped; the time model and waiting split it computed keep theirs); a given one is left to
    its caller (:meth:`FindingContext.close`).
    """
    if ctx is not None:
        return _find_wastes(ctx, detectors, strict, min_cases)
    if isinstance(allow, (str, Path)):
        allow = AllowList.from_file(allow)
    if isinstance(calendars, (str, Path)):
        from flowlens.timing.calendars import CalendarSet

        calendars = CalendarSet.from_file(calendars)
    with FindingContext(
        log, allow=allow or AllowList.default(), calendars=calendars, seed=seed, **context_options
    ) as made:
        return _find_wastes(made, detectors, strict, min_cases)


def _find_wastes(
    ctx: FindingContext,
    detectors: Sequence[str | DetectorFn] | None,
    strict: bool | None,
    min_cases: int | None,
) -> FindingsReport:
    """:func:`find_wastes` on a context."""
    loaded, missing = load_detectors(detectors, strict=strict)
    notes: list[str] = [
        M_("detector module {module} is not available yet: skipped", module=m) for m in missing
    ]
    raw: list[Finding] = []
    runs: list[dict[str, Any]] = []
    for det in loaded:
        t0 = time.perf_counter()
        found = det.fn(ctx)
        checked = [_check(f, det, ctx.allow) for f in found]
        runs.append(
            {
                "name": det.name,
                "entry": det.entry,
                "seconds": round(time.perf_counter() - t0, 3),
                "findings": len(checked),
            }
        )
        raw.extend(checked)
    lead: dict[str, float] = {}
    cases_total = 0
    dropped: list[dict[str, Any]] = []
    if raw:
        tm = ctx.tm
        raw, dropped = after_clock_stop(raw, _after_stop_steps(tm))
        lead_df = tm.cases.select("case_id", "customer_lead_us").to_pandas()
        lead_df = lead_df.sort_values("case_id", key=lambda s: s.astype(str), kind="stable")
        lead = dict(
            zip(lead_df.case_id.astype(str), lead_df.customer_lead_us.astype(float) / 1e6, strict=True)
        )
        cases_total = len(lead_df)
    if not raw:
        cases_total = ctx.log.n_cases
    if dropped:
        steps = sorted({a for d in dropped for a in d["after_outcome"]})
        notes.append(
            NM_(
                "{count} finding on steps after the customer's clock stops ({steps}) was left out: the "
                "customer's time ends at the outcome, so merging, batching or removing a later step saves "
                "the customer nothing",
                "{count} findings on steps after the customer's clock stops ({steps}) were left out: the "
                "customer's time ends at the outcome, so merging, batching or removing a later step saves "
                "the customer nothing",
                len(dropped),
                count=count_value(len(dropped)),
                steps=", ".join(f"'{a}'" for a in steps),
            )
        )
    ranked, done = consolidate(raw, lead, seed=ctx.seed, resamples=ctx.resamples)
    ranked, rare = too_rare(ranked, cases_per_activity(ctx) if ranked else {}, cases_total, min_cases)
    if rare:
        rule = (
            M_("{n} cases", n=count_value(min_cases))
            if min_cases is not None
            else M_("1 % of the cases with their steps (at least {n})", n=MIN_FINDING_CASES)
        )
        notes.append(
            NM_(
                "{count} finding on fewer than {rule} was left out: too rare to show a pattern worth changing",
                "{count} findings on fewer than {rule} were left out: too rare to show a pattern worth changing",
                len(rare),
                count=count_value(len(rare)),
                rule=rule,
            )
        )
    cap = done["cap"]
    if cap.get("cases_capped"):
        notes.append(
            M_(
                "{cases} cases: overlapping findings would have claimed more than the case's customer lead "
                "time; their shares were scaled down ({removed} removed)",
                cases=count_value(cap["cases_capped"]),
                removed=duration_value(cap["removed_s"], f"{cap['removed_s'] / 3600:,.1f} h"),
            )
        )
    if cap.get("unknown_cases"):
        notes.append(
            M_(
                "{n} case ids of findings are not cases of the log (not capped)",
                n=count_value(cap["unknown_cases"]),
            )
        )
    summary = claimed(ranked, lead) if lead else {}
    if summary and summary["share_of_customer_lead_time"] is not None:
        share = summary["share_of_customer_lead_time"]
        summary["sentence"] = M_(
            "removable findings claim {time} of customer time, {share} of the customers' total lead time "
            "({lead} over {cases} cases, first step to the clock stop); findings on the same waste were "
            "merged first and no case is claimed beyond its own lead time, but different findings on one "
            "case may still overlap, so this is an upper bound of what removing them all would save",
            time=duration_value(summary["removable_customer_time_s"]),
            share=percent_value(share, f"{100 * share:.1f} %", 1),
            lead=duration_value(summary["customer_lead_time_total_s"]),
            cases=count_value(summary["cases_total"]),
        )
        notes.insert(0, summary["sentence"])
    if ctx.__dict__.get("tm") is not None and ctx.tm.starts_estimated:
        notes.append(M_("some start times were estimated: waiting and processing split is approximate"))
    return FindingsReport(
        findings=ranked,
        detectors=runs,
        missing=missing,
        merges=done["merges"],
        cap=cap,
        notes=notes,
        seed=ctx.seed,
        cases_total=cases_total,
        customer_lead_s=lead,
        claimed=summary,
        after_clock_stop=dropped,
        too_rare=rare,
    )


def too_rare(
    findings: Sequence[Finding],
    cases_with: Mapping[str, int],
    cases_total: int,
    min_cases: int | None = None,
) -> tuple[list[Finding], list[dict[str, Any]]]:
    """Findings on too few cases split off (docs/methods.md 13.2): fewer than ``min_cases``, or by
    default :func:`~flowlens.findings.rank.min_cases` of the cases that contain one of the
    finding's steps (``cases_with``: activity -> cases; all ``cases_total`` cases when it names
    none). Three re-triaged patients of 1,050, or two tickets bounced between two groups, are
    anecdotes, not a pattern a change of process should answer (and a late entry in one case can
    price them high); counting against the cases with the steps keeps a waste of one process of a
    mixed log (a card-dispute ping-pong among loans and calls) in view.

    >>> from flowlens.findings.model import Finding, Scenario
    >>> f = Finding(kind="loop", title="t", activities=("a",), case_ids=("c1", "c2"), occurrences=2,
    ...             customer_time_s=1.0, customer_time_ci=(1.0, 1.0), staff_time_s=0.0, evidence="-",
    ...             scenario=Scenario("cut_loop"))
    >>> kept, rare = too_rare([f], {"a": 40}, 1000)
    >>> kept, rare[0]["cases"], rare[0]["needed"]
    ([], 2, 5)
    """
    kept, rare = [], []
    for f in findings:
        population = max((cases_with.get(a, 0) for a in f.activities), default=0) or cases_total
        need = support(population) if min_cases is None else int(min_cases)
        if f.cases >= need:
            kept.append(f)
        else:
            rare.append(
                {"kind": f.kind, "detector": f.detector, "title": f.title, "cases": f.cases, "needed": need}
            )
    return kept, rare


def _after_stop_steps(tm: Any) -> set[str]:
    """Steps after the customer's clock stops: the detected closing steps, and any activity
    most of whose instances end after the stop (a given ``--clock-stop`` leaves steps after it)."""
    i = tm.instances
    agg = i.group_by("activity").aggregate(after=i.after_stop.cast("float64").mean()).to_pandas()
    return set(tm.stop.after_outcome) | set(agg.activity[agg["after"] > 0.5].astype(str))


#: Scenario actions that change the step itself: never on a step after the clock stop.
_STEP_ACTIONS = frozenset({"remove_activity", "merge", "unbatch"})


def after_clock_stop(
    findings: Sequence[Finding], after: set[str]
) -> tuple[list[Finding], list[dict[str, Any]]]:
    """Findings that would merge, batch or remove a step after the customer's clock stopped, or
    that are only about such steps, split off (docs/methods.md 13.2): whatever a closing step
    after the outcome costs, it is not the customer's time. A loop that passes through one (a
    ticket reopened after closure) is kept.

    >>> from flowlens.findings.model import Finding, Scenario
    >>> f = Finding(kind="batch_delay", title="t", activities=("Closed",), case_ids=("c1",), occurrences=1,
    ...             customer_time_s=1.0, customer_time_ci=(1.0, 1.0), staff_time_s=0.0, evidence="-",
    ...             scenario=Scenario("unbatch"))
    >>> kept, dropped = after_clock_stop([f], {"Closed"})
    >>> kept, dropped[0]["after_outcome"]
    ([], ['Closed'])
    """
    if not after:
        return list(findings), []
    kept, dropped = [], []
    for f in findings:
        hit = sorted(set(f.activities) & after)
        if hit and (f.scenario.action in _STEP_ACTIONS or set(f.activities) <= after):
            dropped.append({"kind": f.kind, "detector": f.detector, "title": f.title, "after_outcome": hit})
        else:
            kept.append(f)
    return kept, dropped
