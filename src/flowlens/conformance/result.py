"""What a conformance check found: fitness, fitting cases, deviations, lead times, coverage.

Every figure has a *scope* (docs/methods.md §5.4): all cases (``method="all"``), the aligned
cases when the time budget stopped the run (``"most-frequent-first"``, with bounds for the
whole log), or an estimate for the whole log from a random sample of cases
(``"random-sample"``, with 95 % intervals).

>>> r = LeadComparison(LeadGroup(10, 3600.0, 4000.0), LeadGroup(5, 7200.0, 9000.0))
>>> r.median_diff_s, r.mean_diff_s
(3600.0, 5000.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

METHODS = ("all", "most-frequent-first", "random-sample")


@dataclass(frozen=True)
class Deviation:
    """One activity's deviation of one kind.

    ``skipped``: the designed process required the activity here and the case did not do it
    (a model move). ``inserted``: the case did the activity where the designed process does
    not allow it (a log move).
    """

    activity: str
    kind: str
    #: Cases with this deviation at least once (an estimate for the whole log after sampling).
    cases: int
    #: How often it happened, over those cases.
    occurrences: int
    #: ``cases`` over the cases in scope.
    share: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "activity": self.activity,
            "kind": self.kind,
            "cases": self.cases,
            "occurrences": self.occurrences,
            "share": self.share,
        }


@dataclass(frozen=True)
class LeadGroup:
    cases: int
    median_s: float | None
    mean_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"cases": self.cases, "median_s": self.median_s, "mean_s": self.mean_s}


@dataclass(frozen=True)
class LeadComparison:
    """Lead time (docs/methods.md §3.3) of conforming and deviating cases."""

    conforming: LeadGroup
    deviating: LeadGroup

    @property
    def median_diff_s(self) -> float | None:
        """Deviating minus conforming median lead time (None when a group is empty)."""
        a, b = self.deviating.median_s, self.conforming.median_s
        return None if a is None or b is None else a - b

    @property
    def mean_diff_s(self) -> float | None:
        a, b = self.deviating.mean_s, self.conforming.mean_s
        return None if a is None or b is None else a - b

    def to_dict(self) -> dict[str, Any]:
        return {
            "conforming": self.conforming.to_dict(),
            "deviating": self.deviating.to_dict(),
            "median_diff_s": self.median_diff_s,
            "mean_diff_s": self.mean_diff_s,
        }


@dataclass(frozen=True)
class ConformanceResult:
    """The outcome of :func:`flowlens.conformance.conformance`."""

    #: Where the model came from (a path, or a description of the object passed).
    model: str
    #: ``all``, ``most-frequent-first`` (time budget reached) or ``random-sample``.
    method: str
    #: True when not every case was aligned (budget reached or sample asked for).
    sampled: bool
    cases_total: int
    variants_total: int
    cases_aligned: int
    variants_aligned: int
    #: pm4py's alignment-based log fitness: 1 - Σ cost / Σ best-worst cost, over cases in scope.
    fitness: float | None
    #: Cases without any deviation, among the aligned cases.
    fitting_cases: int
    #: Share of fitting cases in scope (an estimate for the whole log after sampling).
    fitting_share: float | None
    deviations: tuple[Deviation, ...]
    lead_time: LeadComparison
    time_budget_s: float
    elapsed_s: float
    budget_exhausted: bool
    #: Whole-log bounds (``most-frequent-first``) or a 95 % interval (``random-sample``).
    fitness_range: tuple[float, float] | None = None
    fitting_share_range: tuple[float, float] | None = None
    sample_size: int | None = None
    seed: int | None = None
    notes: tuple[str, ...] = ()
    #: One row per variant: variant, count, aligned, fits, fitness, deviations, skipped, inserted.
    variants: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def coverage(self) -> float:
        """Share of the log's cases whose alignment is known."""
        return self.cases_aligned / self.cases_total if self.cases_total else 0.0

    @property
    def estimated(self) -> bool:
        """True when fitness, shares and deviation counts are estimates for the whole log."""
        return self.method == "random-sample"

    @property
    def range_kind(self) -> str | None:
        if self.method == "most-frequent-first":
            return "bounds"
        if self.method == "random-sample":
            return "ci95"
        return None

    @property
    def scope(self) -> str:
        """A plain description of which cases the figures describe."""
        if self.method == "all":
            return "all cases"
        if self.method == "random-sample":
            return f"estimate for all cases from a random sample of {self.cases_aligned:,} cases"
        return (
            f"the {self.cases_aligned:,} cases of the {self.variants_aligned:,} most frequent variants "
            f"({100 * self.coverage:.1f} % of cases)"
        )

    def top_deviation(self) -> Deviation | None:
        return self.deviations[0] if self.deviations else None

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-ready values."""
        return {
            "model": self.model,
            "method": self.method,
            "scope": self.scope,
            "sampled": self.sampled,
            "estimated": self.estimated,
            "cases_total": self.cases_total,
            "variants_total": self.variants_total,
            "cases_aligned": self.cases_aligned,
            "variants_aligned": self.variants_aligned,
            "coverage": self.coverage,
            "sample_size": self.sample_size,
            "seed": self.seed,
            "fitness": self.fitness,
            "fitting_cases": self.fitting_cases,
            "fitting_share": self.fitting_share,
            "range_kind": self.range_kind,
            "fitness_range": list(self.fitness_range) if self.fitness_range else None,
            "fitting_share_range": list(self.fitting_share_range) if self.fitting_share_range else None,
            "deviations": [d.to_dict() for d in self.deviations],
            "lead_time": self.lead_time.to_dict(),
            "time_budget_s": self.time_budget_s,
            "elapsed_s": self.elapsed_s,
            "budget_exhausted": self.budget_exhausted,
            "notes": list(self.notes),
        }
