"""What a detector returns: a :class:`Finding`, priced in customer time, with the scenario that
would remove it.

A finding is a waste the log shows (a rework loop, a repeated identity check, ping-pong
between teams, an approval that never changes the outcome, ...). It carries the cases it
affects, the customer time it costs (waiting plus processing it adds, with a 95 % interval),
the staff time, examples, one sentence of evidence, whether a regulatory allow-list exempts it,
and a :class:`Scenario` stated in terms a simulator can execute.

>>> f = Finding(kind="rework", title="'Validate application' is done again", activities=("Validate application",),
...             case_ids=("c1", "c2"), occurrences=3, customer_time_s=7200.0, customer_time_ci=(5000.0, 9000.0),
...             staff_time_s=1800.0, evidence="2 cases validate the application more than once.",
...             scenario=Scenario("cut_loop", {"activity": "Validate application"}))
>>> f.cases, f.to_dict()["scenario"]["action"]
(2, 'cut_loop')
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

#: Kinds of findings and the Lean waste they are (shared methods.md 9).
KINDS: dict[str, str] = {
    "rework": "defects: the same step done again in a case (repeat: same person; redo: someone else)",
    "loop": "defects: a return to an earlier step (A .. B .. A) with the steps in between",
    "ping_pong": "transportation: work bouncing between two resources, teams or lines and back",
    "repeated_check": "over-processing: an identity check or verification repeated for one customer issue",
    "repeated_request": "over-processing: information or documents requested again for one issue",
    "reentry": "over-processing: the customer re-enters data or repeats steps after switching channel",
    "branch_trip": "motion: a branch visit that a digital step could have avoided",
    "repeat_contact": "defects: the customer has to get in touch again about the same issue",
    "context_loss": "over-processing: a handoff that loses the context (re-explaining, re-verifying)",
    "no_effect_check": "over-processing: a check or approval whose outcome almost never changes what happens",
    "merge_candidate": "transportation: two steps always done one after the other by different people",
    "customer_wait_loop": "waiting: the case waits on the customer again and again (documents asked repeatedly)",
    "idle_status": "waiting: a 'waiting for customer' status without a request to the customer",
    "excess_follow_up": "over-processing: follow-up calls beyond what the outcome needs",
    "batch_delay": "waiting: cases held back to be processed in batches",
}

#: Simulator actions a scenario can name.
ACTIONS = (
    "remove_activity",
    "cut_loop",
    "merge",
    "automate",
    "warm_handoff",
    "reduce_repeats",
    "unbatch",
    "pre_fill",
    "digital_channel",
    "limit_repeats",
)


@dataclass(frozen=True)
class Scenario:
    """A change to the process that removes the waste, as a simulator would apply it."""

    action: str
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "params": dict(self.params), "description": self.description}


@dataclass(frozen=True)
class Finding:
    """One waste found in the log, priced in customer and staff time."""

    kind: str
    title: str
    activities: tuple[str, ...]
    case_ids: tuple[str, ...]
    occurrences: int
    #: waiting plus processing the waste adds, summed over its cases (seconds, calendar time)
    customer_time_s: float
    customer_time_ci: tuple[float, float]
    staff_time_s: float
    evidence: str
    scenario: Scenario
    resources: tuple[str, ...] = ()
    #: True when a regulatory allow-list entry covers it: reported, never to be removed
    regulatory: bool = False
    allow_reason: str | None = None
    #: customer time per affected case (seconds), for checks against the time model
    per_case_s: Mapping[str, float] = field(default_factory=dict, repr=False, compare=False)
    #: detector-specific figures (rates, p-values, thresholds used)
    details: Mapping[str, Any] = field(default_factory=dict)
    detector: str = ""

    @property
    def cases(self) -> int:
        return len(self.case_ids)

    @property
    def examples(self) -> tuple[str, ...]:
        """Five affected cases, the costliest first (ties and unpriced cases by id): the same
        whatever order a query returned the cases in."""
        cost = self.per_case_s
        return tuple(heapq.nsmallest(5, self.case_ids, key=lambda c: (-cost.get(c, 0.0), c)))

    def to_dict(self, *, all_cases: bool = False) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "activities": list(self.activities),
            "resources": list(self.resources),
            "cases": self.cases,
            "occurrences": self.occurrences,
            "customer_time_s": self.customer_time_s,
            "customer_time_ci_s": list(self.customer_time_ci),
            "staff_time_s": self.staff_time_s,
            "example_cases": list(self.examples),
            "evidence": self.evidence,
            "regulatory": self.regulatory,
            "allow_reason": self.allow_reason,
            "scenario": self.scenario.to_dict(),
            "details": dict(self.details),
            "detector": self.detector,
            **({"case_ids": list(self.case_ids)} if all_cases else {}),
        }


class Detector(Protocol):
    """A detector: context in, findings out. Detectors never remove allow-listed steps: they
    mark such findings ``regulatory=True``."""

    name: str

    def __call__(self, ctx: Any) -> list[Finding]: ...


def saving_us(t: Any) -> Any:
    """Per instance of the time model's table ``t`` (an Ibis table), the customer time removing
    it saves: the customer waiting charged to it plus the part of the customer's lead time only
    it was in progress (``wait_us + service_part_us``, both within the customer window, so
    summed over a case they never exceed its customer lead time, and time after the clock
    stop is never counted; docs/methods.md 6.3)."""
    return t.wait_us.fill_null(0) + t.service_part_us.fill_null(0)


def per_case_seconds(case_ids: pd.Series, seconds: pd.Series) -> dict[str, float]:
    """Seconds summed per case, keyed by case id in sorted order (the same dict whatever order
    a query returned the rows in).

    >>> per_case_seconds(pd.Series(["b", "a", "b"]), pd.Series([1.0, 2.0, 3.0]))
    {'a': 2.0, 'b': 4.0}
    """
    s = pd.Series(seconds.to_numpy(dtype=float), index=case_ids.astype(str).to_numpy())
    per = s.groupby(level=0, sort=True).sum()
    return {str(c): float(v) for c, v in per.items()}


def engine_case_seconds(t: Any, by: Sequence[str], seconds: Any, order: str = "eid") -> pd.DataFrame:
    """:func:`per_case_seconds` computed in the engine: per ``by`` and ``case_id`` of the Ibis
    table ``t``, the rows ``n`` and the sum ``s`` of ``seconds`` (a float column expression).

    Only one row per case comes to Python, not one per instance. A case with one row is its
    value as is; the few cases with several rows are summed in Python in ``order`` (as
    :func:`per_case_seconds` sums them, compensated), so the floats are the same to the last
    bit whatever order the engine would add them in. Sorted by ``by`` and ``case_id``.

    >>> import ibis
    >>> t = ibis.memtable({"eid": [1, 2, 3], "case_id": ["b", "a", "b"], "v": [1.0, 2.0, 3.0]})
    >>> engine_case_seconds(t, [], t.v).to_dict("list")
    {'case_id': ['a', 'b'], 'n': [1, 2], 's': [2.0, 4.0]}
    """
    by = list(by)
    t = t.mutate(fl_sec=seconds.cast("float64"), case_id=t.case_id.cast("string"))
    agg = t.group_by([*by, "case_id"]).aggregate(n=t.count(), s=t.fl_sec.max())
    df = agg.to_pandas()
    multi = df[df.n > 1]
    if len(multi):
        k = agg.filter(agg.n > 1).select(*[agg[c].name(f"k_{c}") for c in [*by, "case_id"]])
        rows = t.join(k, [t[c] == k[f"k_{c}"] for c in [*by, "case_id"]])
        rows = rows.select(*by, "case_id", order, "fl_sec").to_pandas()
        rows = rows.sort_values(order, kind="stable")
        sums = rows.groupby([*by, "case_id"], sort=False, dropna=False).fl_sec.sum()
        df = df.set_index([*by, "case_id"])
        df.loc[sums.index, "s"] = sums.to_numpy()
        df = df.reset_index()
    df["n"] = df.n.astype("int64")
    df["s"] = df.s.astype(float)
    return df.sort_values([*by, "case_id"], kind="stable").reset_index(drop=True)[[*by, "case_id", "n", "s"]]


def top_values(values: pd.Series, k: int) -> list[str]:
    """The ``k`` most frequent non-missing values, ties by value (independent of row order).

    >>> top_values(pd.Series(["y", "x", "y", "x", "z"]), 2)
    ['x', 'y']
    """
    counts = values.dropna().astype(str).value_counts()
    order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [v for v, _ in order[:k]]


def per_case_frame(finding: Finding) -> pd.DataFrame:
    """The finding's per-case customer time as a frame (case_id, customer_time_s)."""
    return pd.DataFrame(
        {"case_id": list(finding.per_case_s), "customer_time_s": list(finding.per_case_s.values())}
    )
