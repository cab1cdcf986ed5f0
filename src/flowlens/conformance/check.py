"""Conformance of a log to a designed process: alignments once per variant, weighted by count.

Each distinct variant is aligned once (:mod:`flowlens.conformance.align`) and its result
counts for every case that has it, so the work grows with the number of variants, not
cases. Within ``time_budget_s`` the variants are taken most frequent first; a run the budget
stops says so (``sampled=True``) and reports its figures for the aligned cases with bounds for
the whole log, never an extrapolation from the frequent variants to the rare ones, which
deviate more. ``sample=n`` instead aligns the variants of ``n`` cases drawn at random (each
variant drawn with probability proportional to its frequency), which estimates the whole log
without bias, with 95 % intervals (docs/methods.md §5).

>>> import flowlens, pandas as pd
>>> from flowlens.discovery.bpmn import discover_bpmn
>>> df = pd.DataFrame({"case": list("111222333"), "activity": list("abcabcacd"),
...                    "timestamp": pd.date_range("2024-01-01", periods=9, freq="h")})
>>> log = flowlens.read_log(df)
>>> designed = discover_bpmn(flowlens.read_log(df[df.case != "3"]))
>>> r = conformance(log, designed)
>>> r.fitting_cases, r.cases_total, [(d.activity, d.kind, d.cases) for d in r.deviations]
(2, 3, [('d', 'inserted', 1), ('b', 'skipped', 1)])
"""

from __future__ import annotations

import math
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.conformance.align import MOVE_COST, Aligner, VariantAlignment
from flowlens.conformance.result import ConformanceResult, Deviation, LeadComparison, LeadGroup
from flowlens.errors import ConfigError, EmptyLogError, InputError

if TYPE_CHECKING:
    from pm4py.objects.bpmn.obj import BPMN

    from flowlens.discovery.bpmn import PetriModel
    from flowlens.log import EventLog

_Z95 = 1.959963984540054


def conformance(
    log: EventLog,
    model: BPMN | PetriModel | tuple[Any, Any, Any] | str | Path,
    *,
    time_budget_s: float = 60.0,
    sample: int | None = None,
    seed: int = 0,
) -> ConformanceResult:
    """Check ``log`` against a designed process (BPMN object, Petri net triple, or a path
    to a ``.bpmn``/``.pnml`` file).

    Returns fitness (pm4py's alignment-based log fitness), the share of fitting cases,
    deviations per activity (skipped / inserted, with cases and occurrences) and the lead
    times of conforming and deviating cases. The whole call, including reading the variants,
    stays within ``time_budget_s`` plus the final counting; ``sample`` aligns a seeded
    random sample of that many cases' variants instead of every variant.

    >>> import flowlens, pandas as pd
    >>> from flowlens.discovery.bpmn import discover_bpmn
    >>> df = pd.DataFrame({"case": list("1122"), "activity": list("abab"),
    ...                    "timestamp": pd.date_range("2024-01-01", periods=4, freq="h")})
    >>> log = flowlens.read_log(df)
    >>> r = conformance(log, discover_bpmn(log))
    >>> r.fitness, r.fitting_share, r.sampled
    (1.0, 1.0, False)
    """
    started = time.perf_counter()
    deadline = time.time() + _check_options(time_budget_s, sample)
    petri, source = _as_petri(model)

    from flowlens.discovery.variants import variants as variant_table

    table = variant_table(log)
    if table.empty:
        raise EmptyLogError("the log has no cases to check", hint="check the filters")
    traces = [tuple(v) for v in table["variant"]]
    counts = table["count"].to_numpy(dtype=np.int64)
    n_cases = int(counts.sum())
    per_case = _case_variants(log, traces)
    if len(per_case) != n_cases:  # every case has exactly one variant
        raise RuntimeError(f"case table has {len(per_case)} rows for {n_cases} cases")

    aligner = Aligner(petri)
    bwc_model = aligner.best_worst_cost(deadline)
    if bwc_model is None and time.time() < deadline:
        raise InputError(
            f"{source}: no run of the model reaches its end (final marking) from its start",
            hint="check that every path of the designed process ends in an end event",
        )

    picks = np.empty(0, dtype=np.int64)  # rows of the sampled cases, in draw order
    pick_vids: np.ndarray | None = None  # their variants
    if sample is not None and sample < n_cases:
        picks = np.random.default_rng(seed).permutation(n_cases)[:sample]
        pick_vids = per_case["vid"].to_numpy()[picks]
        order = [int(v) for v in pd.unique(pick_vids)]
    else:
        order = list(range(len(traces)))

    results: dict[int, VariantAlignment] = {}
    exhausted = bwc_model is None
    if bwc_model is not None:
        for vid in order:
            ali = aligner.align(traces[vid], deadline)
            if ali is None:
                exhausted = True
                break
            results[vid] = ali

    # Weights: how many cases in scope each aligned variant stands for.
    weights = np.zeros(len(traces), dtype=np.int64)
    if pick_vids is not None:
        method = "random-sample"
        # The sample is the longest prefix of the draw whose variants were all aligned.
        known = np.fromiter((int(v) in results for v in pick_vids), dtype=bool, count=len(pick_vids))
        used = len(pick_vids) if known.all() else int(np.argmin(known))
        scope_rows = picks[:used]
        np.add.at(weights, pick_vids[:used], 1)
    else:
        method = "most-frequent-first" if exhausted else "all"
        aligned_ids = np.fromiter(results, dtype=np.int64, count=len(results))
        weights[aligned_ids] = counts[aligned_ids]
        scope_rows = np.flatnonzero(np.isin(per_case["vid"].to_numpy(), aligned_ids))
    in_scope = int(weights.sum())
    scale = n_cases / in_scope if method == "random-sample" and in_scope else 1.0

    fits = np.zeros(len(traces), dtype=bool)
    cost = np.zeros(len(traces), dtype=np.float64)
    bwc = np.zeros(len(traces), dtype=np.float64)
    skipped: dict[str, list[int]] = {}
    inserted: dict[str, list[int]] = {}
    for vid, ali in results.items():
        fits[vid], cost[vid], bwc[vid] = ali.fits, ali.cost, ali.bwc
        w = int(weights[vid])
        if not w:
            continue
        for bucket, moves in ((skipped, ali.skipped), (inserted, ali.inserted)):
            for activity, n in moves:
                acc = bucket.setdefault(activity, [0, 0])
                acc[0] += w
                acc[1] += w * n

    fitting_cases = int(weights[fits].sum())
    sum_bwc = float((weights * bwc).sum())
    fitness = 1.0 - float((weights * cost).sum()) / sum_bwc if sum_bwc > 0 else None
    fitting_share = fitting_cases / in_scope if in_scope else None

    fitness_range: tuple[float, float] | None = None
    share_range: tuple[float, float] | None = None
    if method == "most-frequent-first" and bwc_model is not None:
        lengths = np.array([len(t) for t in traces], dtype=np.float64)
        all_bwc = counts * (MOVE_COST * lengths + bwc_model)
        unaligned = weights == 0
        total_b = float(all_bwc.sum())
        aligned_cost = float((weights * cost).sum())
        fitness_range = (
            1.0 - (aligned_cost + float(all_bwc[unaligned].sum())) / total_b,
            1.0 - aligned_cost / total_b,
        )
        share_range = (fitting_cases / n_cases, (fitting_cases + n_cases - in_scope) / n_cases)
    elif method == "random-sample" and in_scope >= 2:
        vids = per_case["vid"].to_numpy()[scope_rows]
        share_range = _wilson(fitting_cases, in_scope)
        fitness_range = _ratio_interval(cost[vids], bwc[vids], n_cases)

    deviations = [
        Deviation(
            activity=a,
            kind=kind,
            cases=round(c * scale),
            occurrences=round(o * scale),
            share=c / in_scope if in_scope else 0.0,
        )
        for kind, bucket in (("skipped", skipped), ("inserted", inserted))
        for a, (c, o) in bucket.items()
    ]
    deviations.sort(key=lambda d: (-d.cases, -d.occurrences, d.kind, d.activity))

    rows = per_case.iloc[scope_rows]
    row_fits = fits[rows["vid"].to_numpy()]
    lead_s = rows["lead_us"].to_numpy(dtype=np.float64) / 1e6
    lead = LeadComparison(_lead_group(lead_s[row_fits]), _lead_group(lead_s[~row_fits]))

    notes = _notes(traces, petri, method, exhausted, in_scope, sample)
    frame = _variant_frame(table, results, weights)
    return ConformanceResult(
        model=source,
        method=method,
        sampled=method != "all",
        cases_total=n_cases,
        variants_total=len(traces),
        cases_aligned=in_scope,
        variants_aligned=int((weights > 0).sum()),
        fitness=fitness,
        fitting_cases=fitting_cases,
        fitting_share=fitting_share,
        deviations=tuple(deviations),
        lead_time=lead,
        time_budget_s=float(time_budget_s),
        elapsed_s=time.perf_counter() - started,
        budget_exhausted=exhausted,
        fitness_range=fitness_range,
        fitting_share_range=share_range,
        sample_size=sample if method == "random-sample" else None,
        seed=seed if method == "random-sample" else None,
        notes=tuple(notes),
        variants=frame,
    )


def _check_options(time_budget_s: float, sample: int | None) -> float:
    if not (isinstance(time_budget_s, int | float) and math.isfinite(time_budget_s) and time_budget_s > 0):
        raise ConfigError(
            f"time budget {time_budget_s!r} s is not a positive number of seconds",
            hint="e.g. --time-budget 60",
        )
    if sample is not None and (not isinstance(sample, int) or sample < 1):
        raise ConfigError(
            f"sample size {sample!r} is not a positive number of cases", hint="e.g. --sample 2000"
        )
    return float(time_budget_s)


def _as_petri(model: Any) -> tuple[PetriModel, str]:
    from flowlens.discovery.bpmn import PetriModel, read_model, to_petri_net

    if isinstance(model, str | Path):
        return read_model(model), str(model)
    if isinstance(model, tuple) and len(model) == 3:
        return PetriModel(*model), "Petri net"
    if type(model).__name__ == "BPMN":
        return to_petri_net(model), "BPMN model"
    raise ConfigError(
        f"cannot check conformance against a {type(model).__name__}",
        hint="give a BPMN model, a (net, initial marking, final marking) triple, or a .bpmn/.pnml path",
    )


def _case_variants(log: EventLog, traces: list[tuple[str, ...]]) -> pd.DataFrame:
    """One row per case, in case order: ``vid`` (row of the variant table) and ``lead_us``."""
    import ibis
    import pyarrow as pa

    from flowlens.discovery.cases import case_table
    from flowlens.relational import ordered_sequences

    keys = ibis.memtable(
        pa.table(
            {
                "vid": pa.array(range(len(traces)), pa.int64()),
                "seq": pa.array([list(t) for t in traces], pa.list_(pa.string())),
            }
        )
    )
    t = log.table
    joined = (
        ordered_sequences(t).join(keys, "seq").join(case_table(t).select("case_idx", "lead_us"), "case_idx")
    )
    df = joined.select("case_idx", "vid", "lead_us").order_by("case_idx").to_pandas()
    return df.reset_index(drop=True)


def _lead_group(values: np.ndarray) -> LeadGroup:
    if values.size == 0:
        return LeadGroup(0, None, None)
    return LeadGroup(int(values.size), float(np.median(values)), float(values.mean()))


def _wilson(k: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval for a proportion k / n."""
    p = k / n
    z2 = _Z95 * _Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _ratio_interval(c: np.ndarray, b: np.ndarray, population: int) -> tuple[float, float]:
    """95 % interval of 1 - Σc/Σb from a simple random sample (ratio estimator, delta method)."""
    n = c.size
    ratio = float(c.sum() / b.sum())
    resid = c - ratio * b
    fpc = max(0.0, 1.0 - n / population)
    se = math.sqrt(fpc * float((resid**2).sum()) / (n - 1) / n) / float(b.mean())
    fit = 1.0 - ratio
    return max(0.0, fit - _Z95 * se), min(1.0, fit + _Z95 * se)


def _notes(
    traces: list[tuple[str, ...]],
    petri: PetriModel,
    method: str,
    exhausted: bool,
    in_scope: int,
    sample: int | None,
) -> list[str]:
    notes: list[str] = []
    log_acts = {a for t in traces for a in t}
    model_acts = {t.label for t in petri.net.transitions if t.label is not None}
    if model_acts and not (log_acts & model_acts):
        notes.append(
            "none of the model's activities occurs in the log: the names probably differ "
            "(check the model's task names and the log's activity column)"
        )
    else:
        missing = sorted(log_acts - model_acts)
        if missing:
            notes.append(
                f"{len(missing)} activities of the log are not in the model and always count as "
                f"inserted: {_names(missing)}"
            )
        unseen = sorted(model_acts - log_acts)
        if unseen:
            notes.append(
                f"{len(unseen)} activities of the model never occur in the log and count as skipped "
                f"wherever the model requires them: {_names(unseen)}"
            )
    if method == "most-frequent-first":
        notes.append(
            "the time budget ran out: the figures describe the aligned cases (the most frequent "
            "variants), which usually conform better than the rest; the ranges are bounds for all "
            "cases; --sample N estimates the whole log instead"
        )
    elif method == "random-sample":
        cut = f" (the time budget stopped it at {in_scope:,} of {sample:,})" if exhausted else ""
        notes.append(
            f"estimated from a random sample of {in_scope:,} cases{cut}; counts are scaled to the "
            "whole log and the ranges are 95 % intervals"
        )
    return notes


def _names(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(f"'{a}'" for a in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _variant_frame(
    table: pd.DataFrame, results: dict[int, VariantAlignment], weights: np.ndarray
) -> pd.DataFrame:
    rows = []
    for vid, (variant, count) in enumerate(zip(table["variant"], table["count"], strict=True)):
        ali = results.get(vid)
        rows.append(
            {
                "variant": variant,
                "count": int(count),
                "weight": int(weights[vid]),
                "aligned": ali is not None,
                "fits": ali.fits if ali else None,
                "fitness": ali.fitness if ali else None,
                "deviations": ali.deviations if ali else None,
                "skipped": dict(Counter(dict(ali.skipped))) if ali else None,
                "inserted": dict(Counter(dict(ali.inserted))) if ali else None,
            }
        )
    return pd.DataFrame(rows)
