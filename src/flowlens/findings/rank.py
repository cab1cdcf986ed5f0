"""One list of findings: duplicates merged, customer time capped at lead time, ranked.

Several detectors can see the same waste (a repeated identity check is also rework of that
activity; a document loop is also a loop). :func:`consolidate` turns the detectors' raw output
into the list a user reads (docs/methods.md 13.2):

1. **Deduplicate.** Two findings from different detectors are the same waste when their
   activity sets overlap (Jaccard >= 2/3) and their cases do (the shared cases are at least 80 %
   of the smaller finding's). The more specific finding (:data:`KIND_SPECIFICITY`, then the
   larger customer time) is kept and records the other's evidence under ``details["merged"]``;
   the other keeps only the cases the kept one does not cover, or is dropped when fewer than
   ``max(5, 20 %)`` of its cases are left, so no case's time is counted twice for one waste.
2. **Cap.** Per case, the customer time all findings attribute may not exceed the case's
   *customer* lead time (first step to the clock stop, docs/methods.md 6.5: time after the
   outcome is never a saving). Where overlapping findings (a merge candidate and a batch delay
   on the same queue, say) would exceed it, each finding's time for that case is scaled down by
   the same factor; the finding says so under ``details["capped"]`` and in its evidence.
3. **Rank** by customer time at stake (then cases, kind, title, identity): the same order in
   every run.

:func:`claimed` sums what the ranked findings claim against the customers' total lead time.

>>> from flowlens.findings.model import Finding, Scenario
>>> def f(kind, acts, cases, t, det):
...     return Finding(kind=kind, title=kind, activities=acts, case_ids=cases, occurrences=len(cases),
...                    customer_time_s=t * len(cases), customer_time_ci=(0.0, 0.0), staff_time_s=0.0,
...                    evidence="-", scenario=Scenario("cut_loop"), per_case_s={c: t for c in cases},
...                    detector=det)
>>> out, notes = consolidate([f("rework", ("Verify",), ("a", "b", "c"), 60.0, "rework"),
...                           f("repeated_check", ("Verify",), ("a", "b", "c"), 50.0, "journeys")],
...                          lead_s={"a": 100.0, "b": 100.0, "c": 100.0})
>>> [(x.kind, x.cases, x.details["merged"][0]["kind"]) for x in out]
[('repeated_check', 3, 'rework')]
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from flowlens.findings.model import Finding
from flowlens.i18n import M_, join_messages
from flowlens.units import count_value, duration_value

#: How specific a kind is: when two detectors see the same waste, the higher one is kept.
#: Structural kinds (rework, loop) say *that* something repeats; the specific ones say *what*.
KIND_SPECIFICITY: dict[str, int] = {
    "rework": 0,
    "loop": 0,
    "merge_candidate": 1,
    "ping_pong": 2,
    "batch_delay": 2,
    "repeat_contact": 2,
    "branch_trip": 2,
    "customer_wait_loop": 3,
    "idle_status": 3,
    "excess_follow_up": 3,
    "repeated_check": 3,
    "repeated_request": 3,
    "reentry": 3,
    "context_loss": 3,
    "no_effect_check": 3,
}

#: Scenario actions that take a step (or a repetition of it) away: never on regulatory findings.
REMOVAL_ACTIONS = frozenset({"remove_activity", "cut_loop", "reduce_repeats", "limit_repeats"})

#: Bootstrap budget: above this many case draws the interval uses the normal approximation,
#: which the percentile bootstrap of a sum converges to (the note in details says which).
_BOOTSTRAP_BUDGET = 20_000_000


def _stream(seed: int, key: str) -> np.random.Generator:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest[:8], "little")])


def bootstrap_total_ci(
    values: Sequence[float] | np.ndarray,
    *,
    seed: int = 0,
    resamples: int = 1000,
    key: str = "",
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the *sum* of per-case values, resampling cases.

    The random stream depends on ``seed`` and ``key`` only (a finding's kind and activities,
    say), so an interval does not change when other findings are added. Large inputs
    (cases x resamples above 2*10^7) use the normal interval of the sum instead.

    >>> bootstrap_total_ci([60.0] * 10, seed=1)
    (600.0, 600.0)
    >>> lo, hi = bootstrap_total_ci(list(range(100)), seed=1, key="x"); lo < 4950 < hi
    True
    """
    # sorted: the same cases give the same interval in whatever order a query returned them
    v = np.sort(np.asarray(values, dtype=float))
    n = len(v)
    if n == 0:
        return (0.0, 0.0)
    total = float(v.sum())
    if n == 1 or np.all(v == v[0]):
        return (total, total)
    alpha = (1.0 - confidence) / 2.0
    if n * resamples > _BOOTSTRAP_BUDGET:
        from statistics import NormalDist

        z = NormalDist().inv_cdf(1.0 - alpha)
        half = z * float(np.std(v, ddof=1)) * np.sqrt(n)
        return (max(0.0, total - half), total + half)
    rng = _stream(seed, key)
    sums = np.empty(resamples)
    step = max(1, _BOOTSTRAP_BUDGET // (20 * n))
    for i in range(0, resamples, step):
        k = min(step, resamples - i)
        idx = rng.integers(0, n, size=(k, n))
        sums[i : i + k] = v[idx].sum(axis=1)
    lo, hi = np.quantile(sums, [alpha, 1.0 - alpha])
    return (float(lo), float(hi))


def finding_key(f: Finding) -> str:
    """A stable identity of a finding (kind, detector, activities, resources)."""
    return "|".join((f.kind, f.detector, *f.activities, "#", *f.resources))


def _jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    sa, sb = set(a), set(b)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def _specificity(f: Finding) -> tuple[int, float]:
    return (KIND_SPECIFICITY.get(f.kind, 1), f.customer_time_s)


def restrict(
    f: Finding, case_ids: Iterable[str], *, seed: int = 0, resamples: int = 1000, why: str
) -> Finding:
    """``f`` limited to ``case_ids``: per-case time, totals and interval recomputed; occurrences
    and staff time scaled by the share of cases kept (the finding does not carry them per case)."""
    wanted = set(case_ids)
    keep = [c for c in f.case_ids if c in wanted]
    share = len(keep) / len(f.case_ids) if f.case_ids else 0.0
    per = {c: float(f.per_case_s.get(c, 0.0)) for c in keep}
    vals = np.fromiter(per.values(), dtype=float, count=len(per))
    details = {**f.details, "restricted": {"cases_before": f.cases, "cases_after": len(keep), "why": why}}
    # the evidence speaks of all its cases: say which part is priced here
    note = M_(
        "Priced here on {kept} of these {cases} cases: {why}.",
        kept=count_value(len(keep)),
        cases=count_value(f.cases),
        why=why,
    )
    return replace(
        f,
        case_ids=tuple(keep),
        per_case_s=per,
        evidence=_append(f.evidence, note),
        customer_time_s=math.fsum(vals),
        customer_time_ci=bootstrap_total_ci(vals, seed=seed, resamples=resamples, key=finding_key(f)),
        occurrences=max(len(keep), round(f.occurrences * share)),
        staff_time_s=f.staff_time_s * share,
        details=details,
    )


def deduplicate(
    findings: Sequence[Finding],
    *,
    seed: int = 0,
    resamples: int = 1000,
    min_activity_jaccard: float = 2 / 3,
    min_case_overlap: float = 0.8,
) -> tuple[list[Finding], list[dict[str, Any]]]:
    """Merge findings of different detectors that describe the same waste (module docstring).

    Returns the findings left and one record per merge."""
    # the more specific first, then the larger; ties by identity, not by the detectors' order
    order = sorted(
        range(len(findings)),
        key=lambda i: (
            -_specificity(findings[i])[0],
            -_specificity(findings[i])[1],
            finding_key(findings[i]),
            findings[i].title,
            i,
        ),
    )
    kept: list[Finding] = []
    kept_cases: list[set[str]] = []
    merges: list[dict[str, Any]] = []
    for i in order:
        f = findings[i]
        cases = set(f.case_ids)
        dropped = False
        for k, (g, gc) in enumerate(zip(kept, kept_cases, strict=True)):
            if g.detector == f.detector or g.regulatory != f.regulatory:
                continue
            if _jaccard(f.activities, g.activities) < min_activity_jaccard:
                continue
            shared = cases & gc
            if not shared or len(shared) < min_case_overlap * min(len(cases), len(gc)):
                continue
            rest = cases - shared
            record = {
                "kept": {"kind": g.kind, "detector": g.detector, "title": g.title},
                "merged": {"kind": f.kind, "detector": f.detector, "title": f.title},
                "shared_cases": len(shared),
                "cases_left": len(rest),
            }
            merged = list(g.details.get("merged", []))
            merged.append(
                {
                    "kind": f.kind,
                    "detector": f.detector,
                    "title": f.title,
                    "evidence": f.evidence,
                    "shared_cases": len(shared),
                }
            )
            note = M_("(also found by the {detector} detector)", detector=f.detector or f.kind)
            evidence = g.evidence if f" {note}" in g.evidence else _append(g.evidence, note)
            kept[k] = replace(g, details={**g.details, "merged": merged}, evidence=evidence)
            merges.append(record)
            if len(rest) < max(5, 0.2 * len(cases)):
                dropped = True
                break
            f = restrict(
                f,
                rest,
                seed=seed,
                resamples=resamples,
                why=M_(
                    "{n} cases are counted in '{title}' ({kind})", n=len(shared), title=g.title, kind=g.kind
                ),
            )
            cases = rest
        if not dropped:
            kept.append(f)
            kept_cases.append(cases)
    return kept, merges


def _ensure_per_case(f: Finding) -> Finding:
    """A finding without per-case times gets its total spread evenly over its cases (said in
    details), so the lead-time cap can still be enforced."""
    if f.per_case_s or not f.case_ids or f.customer_time_s <= 0:
        return f
    each = f.customer_time_s / len(f.case_ids)
    return replace(
        f, per_case_s={c: each for c in f.case_ids}, details={**f.details, "per_case_estimated": True}
    )


def cap_to_lead_time(
    findings: Sequence[Finding],
    lead_s: Mapping[str, float],
    *,
    seed: int = 0,
    resamples: int = 1000,
) -> tuple[list[Finding], dict[str, Any]]:
    """Scale per-case times down where all findings together would exceed a case's customer
    lead time ``lead_s`` (seconds per case id: first step to the clock stop)."""
    findings = [_ensure_per_case(f) for f in findings]
    rows = [(str(c), i, float(v)) for i, f in enumerate(findings) for c, v in f.per_case_s.items() if v]
    stats: dict[str, Any] = {"cases_capped": 0, "removed_s": 0.0, "unknown_cases": 0}
    if not rows:
        return list(findings), stats
    # sorted: the same sums whatever order the detectors listed their cases in
    df = pd.DataFrame(sorted(rows), columns=["case_id", "f", "t"])
    total = df.groupby("case_id", sort=True).t.sum()
    lead = pd.Series(lead_s, dtype=float).reindex(total.index)
    stats["unknown_cases"] = int(lead.isna().sum())
    over = total[lead.notna() & (total > lead + 1e-6)]
    if over.empty:
        return list(findings), stats
    factor = (lead.reindex(over.index) / over).clip(lower=0.0)
    stats["cases_capped"] = len(over)
    stats["removed_s"] = math.fsum((over - lead.reindex(over.index)).to_numpy(dtype=float))
    hit = df[df.case_id.isin(factor.index)]
    out = list(findings)
    for i, grp in hit.groupby("f", sort=True):
        f = findings[int(i)]
        fac = factor.reindex(grp.case_id).to_numpy()
        per = dict(f.per_case_s)
        removed = []
        for c, t, k in zip(grp.case_id, grp.t, fac, strict=True):
            new = t * float(k)
            removed.append(t - new)
            per[c] = new
        vals = np.fromiter(per.values(), dtype=float, count=len(per))
        gone = math.fsum(removed)
        total_new = math.fsum(vals)
        out[int(i)] = replace(
            f,
            per_case_s=per,
            customer_time_s=total_new,
            customer_time_ci=bootstrap_total_ci(vals, seed=seed, resamples=resamples, key=finding_key(f)),
            # the evidence's own figures were measured before the cap: say what is claimed now
            evidence=_append(
                f.evidence,
                M_(
                    "With other findings on the same cases it would exceed the customer lead time of "
                    "{cases} cases, so {removed} of its time there is not counted ({claimed} claimed in all).",
                    cases=count_value(len(grp)),
                    removed=duration_value(gone),
                    claimed=duration_value(total_new),
                ),
            ),
            details={
                **f.details,
                "capped": {
                    "cases": len(grp),
                    "removed_s": gone,
                    "why": "with other findings on the same cases it would exceed their customer lead "
                    "time; its share of those cases' time was scaled down",
                },
            },
        )
    return out, stats


def _append(evidence: str, note: str) -> str:
    """``evidence`` followed by the sentence ``note`` (one space between, in English)."""
    return join_messages([evidence if evidence == evidence.rstrip() else evidence.rstrip(), note])


#: a finding needs this many cases, and at least MIN_FINDING_SHARE of the log's cases
MIN_FINDING_CASES = 5
MIN_FINDING_SHARE = 0.01


def min_cases(cases_total: int) -> int:
    """The fewest cases a finding must affect in a log of ``cases_total`` cases.

    >>> min_cases(40), min_cases(1050), min_cases(13087)
    (5, 11, 131)
    """
    return max(MIN_FINDING_CASES, math.ceil(MIN_FINDING_SHARE * cases_total))


def rank(findings: Iterable[Finding]) -> list[Finding]:
    """Findings ordered by customer time at stake, then cases, kind, title and identity."""
    return sorted(findings, key=lambda f: (-f.customer_time_s, -f.cases, f.kind, f.title, finding_key(f)))


def claimed(findings: Sequence[Finding], lead_s: Mapping[str, float]) -> dict[str, Any]:
    """What the findings claim, against the customers' total lead time (``lead_s``: customer
    lead time per case, seconds): removable and regulatory customer time, the cases they touch,
    and the removable share of all cases' customer lead time. After :func:`consolidate` no case
    is claimed beyond its own customer lead time, so the share is at most 1.

    >>> from flowlens.findings.model import Finding, Scenario
    >>> f = Finding(kind="rework", title="t", activities=("a",), case_ids=("c1",), occurrences=1,
    ...             customer_time_s=30.0, customer_time_ci=(30.0, 30.0), staff_time_s=0.0,
    ...             evidence="-", scenario=Scenario("cut_loop"), per_case_s={"c1": 30.0})
    >>> claimed([f], {"c1": 60.0, "c2": 60.0})["share_of_customer_lead_time"]
    0.25
    """
    act = [f for f in findings if not f.regulatory]
    reg = [f for f in findings if f.regulatory]
    total = math.fsum(float(v) for v in lead_s.values())
    removable = math.fsum(f.customer_time_s for f in act)
    return {
        "removable_customer_time_s": removable,
        "regulatory_customer_time_s": math.fsum(f.customer_time_s for f in reg),
        "customer_lead_time_total_s": total,
        "share_of_customer_lead_time": removable / total if total > 0 else None,
        "cases_with_removable_findings": len({c for f in act for c in f.case_ids}),
        "cases_total": len(lead_s),
        "overlap": "findings of different detectors on the same waste are merged first and no case "
        "is claimed beyond its customer lead time; different findings on one case may still "
        "overlap, so the total is an upper bound of what removing them all would save",
    }


def consolidate(
    findings: Sequence[Finding],
    lead_s: Mapping[str, float],
    *,
    seed: int = 0,
    resamples: int = 1000,
) -> tuple[list[Finding], dict[str, Any]]:
    """Deduplicate, cap at the customer lead time (``lead_s``, seconds per case) and rank
    (module docstring). Returns the findings and what was done (``merges``, ``cap``)."""
    kept, merges = deduplicate(findings, seed=seed, resamples=resamples)
    capped, cap = cap_to_lead_time(kept, lead_s, seed=seed, resamples=resamples)
    return rank(capped), {"merges": merges, "cap": cap}
