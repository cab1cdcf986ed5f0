"""Slow-case drivers: which case attributes and behaviours go with long lead times.

For every candidate factor flowlens splits the cases into those with and without it (each
level of an attribute against all other cases; numbers also into quartiles) and measures the
**ratio of median lead times** and the **difference of mean lead times**, each with a
stratified-bootstrap 95 % confidence interval (:func:`flowlens.analysis.segments.replicates`).
Numeric factors also get a Spearman rank correlation with a Fisher-z interval. Factors are
ranked by effect, and each gets a sentence a consultant can put on a slide (docs/methods.md,
"Slow-case drivers").

These are **associations, not causes**: factors overlap (complex cases get transferred *and*
take long), and a factor can be a consequence of a long case as well as a reason for it.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> units = pd.DataFrame({"lead_s": rng.exponential(3600, 400), "vip": rng.random(400) < 0.5})
>>> units.loc[units.vip, "lead_s"] *= 3
>>> res = effects(units, {"vip": "vip"}, resamples=300, seed=1)
>>> row = res.iloc[0]
>>> (row.factor, row.level, bool(row.noise), bool(2.0 < row.ratio < 4.5))
('vip', 'yes', False, True)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.analysis.activity_groups import ActivityGroups
from flowlens.analysis.segments import MISSING, _interval, replicates, segment_labels
from flowlens.attributes import norm_name
from flowlens.errors import ConfigError
from flowlens.i18n import M_, Message, message_frame
from flowlens.units import Value, count_value, duration_value, percent_value

if TYPE_CHECKING:
    from flowlens.log import EventLog

#: Behaviour flags computed per case: column -> the phrase after "Cases with".
BEHAVIOURS: dict[str, str] = {
    "rework": M_("rework (an activity repeated)"),
    "transfer": M_("a transfer"),
    "reverification": M_("a repeated identity check"),
    "information_request": M_("a request for information"),
    "several_contacts": M_("two or more contacts"),
}

#: Attribute names never used as drivers: identifiers, and outcomes that follow from the lead
#: time itself (satisfaction, SLA results) rather than describe the case.
_SKIP_NAMES = {
    "csat",
    "nps",
    "ces",
    "effort",
    "slamet",
    "sla",
    "withinsla",
    "ontime",
    "sladeadline",
    "sladeadlinets",
    "satisfaction",
    "surveyresponded",
    "contacts",
    "outcome",
    "result",
    "resolution",
    "finalstatus",
    "closurecode",
    "closedts",
    "closedat",
    "closedate",
    "满意度",
    "结果",
    "处理结果",
}


#: Last words of a column name that say "identifier" (a declaration number, a ticket reference).
_ID_WORDS = {"id", "ids", "uuid", "guid", "key", "number", "no", "nr", "num", "ref", "reference"}


def _id_like(name: str) -> bool:
    """Named like an identifier: the last word (split at separators and camelCase) is id, key,
    number, ref, ..., or the name ends in 编号/号 ("LacticAcid" is not: its last word is Acid)."""
    n = norm_name(name)
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", str(name).split(":")[-1])
    last = words[-1].lower() if words else ""
    return n in {"id", "attrs", "eventid"} or last in _ID_WORDS or n.endswith("编号") or n.endswith("号")


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %" if x < 0.095 else f"{100 * x:.0f} %"


def _pct_value(x: float) -> Value:
    return percent_value(x, _pct(x), 1 if x < 0.095 else 0)


def _ratio_text(r: float) -> str:
    return f"{r:.1f}" if r >= 1.95 else f"{r:.2f}"


@dataclass
class Drivers:
    """The result of :func:`drivers`."""

    #: one row per (factor, level), strongest first (see :func:`effects`)
    table: pd.DataFrame
    #: numeric factors: Spearman rank correlation with lead time
    correlations: pd.DataFrame
    cases: int
    seed: int
    resamples: int
    confidence: float
    notes: list[str] = field(default_factory=list)
    #: the process column effects were measured within (None: one process)
    within: str | None = None
    #: attributes not offered as drivers: column, canonical, rule, detail (:func:`screen_attributes`)
    excluded: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["column", "canonical", "rule", "detail"])
    )

    def sentences(self, *, limit: int | None = None, include_noise: bool = False) -> list[str]:
        t = self.table if include_noise else self.table[~self.table["noise"].astype(bool)]
        out = t["sentence"].tolist() + [
            s
            for s, ok in zip(
                self.correlations["sentence"], ~self.correlations["noise"].astype(bool), strict=True
            )
            if ok or include_noise
        ]
        return out[:limit] if limit else out

    def headline(self) -> str:
        real = self.table[~self.table["noise"].astype(bool) & (self.table["ratio"] > 1)]
        if real.empty:
            return M_(
                "No case attribute or behaviour goes with clearly longer lead times "
                "(every difference is within bootstrap noise)."
            )
        r = real.iloc[0]
        if self.within:
            return M_(
                "Strongest association with slow cases, within processes ({column}): {phrase} ({ratio}× the "
                "median of other cases of the same process; {share} of cases). Associations, not proven causes.",
                column=self.within,
                phrase=r["phrase"],
                ratio=_ratio_text(r["ratio"]),
                share=_pct_value(r["share"]),
            )
        return M_(
            "Strongest association with slow cases: {phrase} (median {inside} vs {outside}, {ratio}×; {share} of "
            "cases). Associations, not proven causes.",
            phrase=r["phrase"],
            inside=duration_value(r["median_in"]),
            outside=duration_value(r["median_out"]),
            ratio=_ratio_text(r["ratio"]),
            share=_pct_value(r["share"]),
        )

    def to_dict(self) -> dict[str, Any]:
        def recs(df: pd.DataFrame) -> list[dict[str, Any]]:
            d = df.astype(object).where(df.notna(), None)
            return [
                {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                for r in d.to_dict("records")
            ]

        return {
            "cases": self.cases,
            "seed": self.seed,
            "resamples": self.resamples,
            "confidence": self.confidence,
            "within": self.within,
            "notes": self.notes,
            "excluded": [
                {**r, "why": EXCLUSION_RULES[r["rule"]]}
                for r in recs(self.excluded.drop(columns="canonical"))
            ],
            "effects": recs(self.table),
            "correlations": recs(self.correlations),
            "findings": self.sentences(),
        }


# -- effects on a unit table -------------------------------------------------------------------
def effects(
    units: pd.DataFrame,
    factors: Mapping[str, str],
    *,
    lead: str = "lead_s",
    kinds: Mapping[str, str] | None = None,
    phrases: Mapping[str, str] | None = None,
    seed: int = 0,
    resamples: int = 1000,
    confidence: float = 0.95,
    min_size: int = 20,
    max_levels: int = 12,
    strata: str | None = None,
) -> pd.DataFrame:
    """Effect of each factor on ``units[lead]``: one row per (factor, level) vs all other cases.

    With ``strata`` (a column of ``units``, e.g. the process) a level is compared with the other
    cases **of the same stratum** and the strata are combined (:func:`_combine`): the ratio is
    the weighted geometric mean of the per-stratum ratios (weights: the level's cases in each),
    and the effect must hold within strata (see docs/methods.md §11.2).

    ``factors`` maps a display name to a column of ``units``. Boolean columns give one row
    (level "yes": cases with it vs without); other columns one row per level (numbers with
    many values as quartiles, :func:`~flowlens.analysis.segments.segment_labels`). Columns:
    factor, kind, level, phrase, n, share, median_in, median_out, ratio, ratio_low,
    ratio_high, mean_in, mean_out, mean_diff, diff_low, diff_high, noise (ratio CI contains 1,
    or the mean-difference CI contains 0 when a median is 0), small (fewer than ``min_size``
    cases on a side), effect (|log ratio|), sentence. Sorted: clear effects first, strongest
    first.
    """
    rows: list[dict[str, Any]] = []
    y_all = pd.to_numeric(units[lead], errors="coerce")
    valid = y_all.notna().to_numpy()
    y = y_all.to_numpy(dtype=float, na_value=np.nan)[valid]
    n_all = y.size
    mean_all = float(y.mean()) if n_all else float("nan")
    for name, col in factors.items():
        if col not in units.columns:
            raise ConfigError(f"no column '{col}' for factor '{name}'")
        s = units[col][valid]
        binary = s.dtype == bool or str(s.dtype) == "boolean"
        if binary:
            labels = s.astype(object).map(
                lambda v: "yes" if v is True or v == 1 else ("no" if v is False or v == 0 else MISSING)
            )
        else:
            labels = segment_labels(s, max_levels=max_levels)
        binned = not binary and pd.api.types.is_numeric_dtype(s) and s.nunique() > max_levels
        kind = (kinds or {}).get(name, "behaviour" if binary else ("numeric bin" if binned else "attribute"))
        lab = labels.astype(str).to_numpy()
        if len(set(lab)) < 2:
            continue
        if strata is not None:
            st = units[strata][valid].astype(str).to_numpy()
            phrase = (phrases or {}).get(name) if binary else None
            rows += _stratified(
                name,
                kind,
                ["yes"] if binary else None,
                y,
                lab,
                st,
                phrase=phrase,
                binary=binary,
                seed=seed,
                resamples=resamples,
                confidence=confidence,
                min_size=min_size,
                mean_all=mean_all,
            )
            continue
        med = replicates("median", y, lab, resamples=resamples, seed=seed, key=f"{name}:median")
        avg = replicates("mean", y, lab, resamples=resamples, seed=seed, key=f"{name}:mean")
        levels = ["yes"] if binary else sorted(med.groups, key=str)
        for level in levels:
            if level not in med.groups or level == MISSING:
                continue
            n_in = med.sizes[level]
            n_out = n_all - n_in
            m_in, reps_in = med.groups[level]
            m_out, reps_out = med.rest[level]
            a_in, areps_in = avg.groups[level]
            a_out, areps_out = avg.rest[level]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = m_in / m_out if m_in > 0 and m_out > 0 else float("nan")
                ratio_reps = np.where((reps_in > 0) & (reps_out > 0), reps_in / reps_out, np.nan)
            rlo, rhi = (
                _interval(ratio_reps, confidence) if not math.isnan(ratio) else (float("nan"), float("nan"))
            )
            dlo, dhi = _interval(areps_in - areps_out, confidence)
            small = n_in < min_size or n_out < min_size
            if not math.isnan(ratio) and not math.isnan(rlo):
                unclear = rlo <= 1.0 <= rhi
                effect = abs(math.log(ratio))
            else:
                unclear = math.isnan(dlo) or dlo <= 0.0 <= dhi
                effect = abs(a_in - a_out) / mean_all if mean_all else 0.0
            phrase = (phrases or {}).get(name) if binary else None
            phrase = phrase or (f"{name} = {level}" if not binary else name)
            row = {
                "factor": name,
                "kind": kind,
                "level": level,
                "phrase": phrase,
                "n": n_in,
                "share": n_in / n_all,
                "median_in": m_in,
                "median_out": m_out,
                "ratio": ratio,
                "ratio_low": rlo,
                "ratio_high": rhi,
                "mean_in": a_in,
                "mean_out": a_out,
                "mean_diff": a_in - a_out,
                "diff_low": dlo,
                "diff_high": dhi,
                "noise": bool(unclear or small),
                "small": bool(small),
                "effect": effect,
            }
            row["sentence"] = _sentence(row, confidence)
            rows.append(row)
    cols = [
        "factor",
        "kind",
        "level",
        "phrase",
        "n",
        "share",
        "median_in",
        "median_out",
        "ratio",
        "ratio_low",
        "ratio_high",
        "mean_in",
        "mean_out",
        "mean_diff",
        "diff_low",
        "diff_high",
        "noise",
        "small",
        "effect",
        "sentence",
    ]
    if strata is not None:
        cols += ["strata", "inconsistent"]
    out = message_frame(rows, cols)
    if out.empty:
        return out
    out = out.sort_values(["noise", "effect", "factor", "level"], ascending=[True, False, True, True])
    return out.reset_index(drop=True)


def _stratified(
    name: str,
    kind: str,
    only: list[str] | None,
    y: np.ndarray,
    lab: np.ndarray,
    st: np.ndarray,
    *,
    phrase: str | None,
    binary: bool,
    seed: int,
    resamples: int,
    confidence: float,
    min_size: int,
    mean_all: float,
) -> list[dict[str, Any]]:
    """Rows of one factor compared within strata: per stratum the stratified bootstrap of
    :func:`~flowlens.analysis.segments.replicates` (its own seeded streams), then combined."""
    per: dict[str, list[dict[str, Any]]] = {}
    for s_name in sorted(set(st)):
        mask = st == s_name
        ls = lab[mask]
        if len(set(ls)) < 2:
            continue
        ys = y[mask]
        med = replicates("median", ys, ls, resamples=resamples, seed=seed, key=f"{name}:{s_name}:median")
        avg = replicates("mean", ys, ls, resamples=resamples, seed=seed, key=f"{name}:{s_name}:mean")
        for level in only or sorted(med.groups, key=str):
            if level not in med.groups or level == MISSING:
                continue
            n_in = med.sizes[level]
            per.setdefault(level, []).append(
                {
                    "stratum": s_name,
                    "n_in": n_in,
                    "n_out": int(ys.size) - n_in,
                    "m_in": med.groups[level][0],
                    "r_in": med.groups[level][1],
                    "m_out": med.rest[level][0],
                    "r_out": med.rest[level][1],
                    "a_in": avg.groups[level][0],
                    "ar_in": avg.groups[level][1],
                    "a_out": avg.rest[level][0],
                    "ar_out": avg.rest[level][1],
                }
            )
    rows = []
    n_all = y.size
    for level in sorted(per, key=str):
        row = _combine(per[level], confidence=confidence, min_size=min_size, mean_all=mean_all)
        n_in = sum(p["n_in"] for p in per[level])
        row.update(
            {
                "factor": name,
                "kind": kind,
                "level": level,
                "phrase": phrase or (f"{name} = {level}" if not binary else name),
                "n": n_in,
                "share": n_in / n_all if n_all else float("nan"),
            }
        )
        row["sentence"] = _sentence_within(row, confidence)
        rows.append(row)
    return rows


def _combine(
    parts: list[dict[str, Any]], *, confidence: float, min_size: int, mean_all: float
) -> dict[str, Any]:
    """One effect from per-stratum comparisons: strata where both sides have ``min_size`` cases
    count; log ratios (and mean differences) are averaged with the level's cases as weights,
    replicate by replicate, so the interval comes from the same resamples. The effect holds
    within strata when the combined interval excludes 1 and no stratum shows a clear effect
    (its own interval excluding 1) the other way."""
    ok = [p for p in parts if p["n_in"] >= min_size and p["n_out"] >= min_size]
    nan = float("nan")
    base: dict[str, Any] = {
        "median_in": nan,
        "median_out": nan,
        "mean_in": nan,
        "mean_out": nan,
        "ratio": nan,
        "ratio_low": nan,
        "ratio_high": nan,
        "mean_diff": nan,
        "diff_low": nan,
        "diff_high": nan,
        "effect": 0.0,
        "inconsistent": False,
    }
    strata = []
    for p in parts:
        with np.errstate(divide="ignore", invalid="ignore"):
            r = p["m_in"] / p["m_out"] if p["m_in"] > 0 and p["m_out"] > 0 else nan
            reps = np.where((p["r_in"] > 0) & (p["r_out"] > 0), p["r_in"] / p["r_out"], np.nan)
        lo, hi = _interval(reps, confidence) if r == r else (nan, nan)
        p["ratio"], p["lo"], p["hi"] = r, lo, hi
        strata.append(
            {
                "process": p["stratum"],
                "n": int(p["n_in"]),
                "n_other": int(p["n_out"]),
                # plain floats, None for undefined (results.json is strict JSON)
                **{
                    k: (None if v != v else float(v))
                    for k, v in (
                        ("median_in", p["m_in"]),
                        ("median_out", p["m_out"]),
                        ("ratio", r),
                        ("ratio_low", lo),
                        ("ratio_high", hi),
                    )
                },
                "counted": any(p is q for q in ok),
            }
        )
    base["strata"] = strata
    if not ok:
        return {**base, "noise": True, "small": True}
    w = np.array([p["n_in"] for p in ok], dtype=float)
    w = w / w.sum()
    if len(ok) == 1:
        p = ok[0]
        base.update(median_in=p["m_in"], median_out=p["m_out"], mean_in=p["a_in"], mean_out=p["a_out"])
    diff = float(sum(wi * (p["a_in"] - p["a_out"]) for wi, p in zip(w, ok, strict=True)))
    dreps = sum(wi * (p["ar_in"] - p["ar_out"]) for wi, p in zip(w, ok, strict=True))
    dlo, dhi = _interval(np.asarray(dreps, dtype=float), confidence)
    base.update(mean_diff=diff, diff_low=dlo, diff_high=dhi)
    if all(p["ratio"] == p["ratio"] for p in ok):
        with np.errstate(divide="ignore", invalid="ignore"):
            logr = float(sum(wi * math.log(p["ratio"]) for wi, p in zip(w, ok, strict=True)))
            lreps = sum(wi * np.log(p["r_in"] / p["r_out"]) for wi, p in zip(w, ok, strict=True))
        lreps = np.where(np.isfinite(lreps), lreps, np.nan)
        llo, lhi = _interval(np.asarray(lreps, dtype=float), confidence)
        ratio = math.exp(logr)
        rlo, rhi = (math.exp(llo), math.exp(lhi)) if llo == llo else (nan, nan)
        unclear = math.isnan(rlo) or rlo <= 1.0 <= rhi
        up = ratio >= 1
        against = [p for p in ok if p["lo"] == p["lo"] and ((p["hi"] < 1.0) if up else (p["lo"] > 1.0))]
        base.update(ratio=ratio, ratio_low=rlo, ratio_high=rhi, effect=abs(logr), inconsistent=bool(against))
        return {**base, "noise": bool(unclear or against), "small": False}
    unclear = dlo != dlo or dlo <= 0.0 <= dhi
    base["effect"] = abs(diff) / mean_all if mean_all else 0.0
    return {**base, "noise": bool(unclear), "small": False}


def _mean_diff_spread(r: Mapping[str, Any]) -> dict[str, Any]:
    """The mean difference and its interval's ends, as sizes (the sentence says longer or shorter)."""
    return {
        "diff": duration_value(abs(r["mean_diff"])),
        "low": duration_value(abs(r["diff_low"])),
        "high": duration_value(abs(r["diff_high"])),
    }


def _sentence_within(r: Mapping[str, Any], confidence: float) -> Message:
    """The sentence of an effect measured within processes."""
    counted = sorted((x for x in r["strata"] if x["counted"]), key=lambda x: (-x["n"], str(x["process"])))
    per = ", ".join(
        f"{x['process']} {_ratio_text(x['ratio'])}×" if x["ratio"] is not None else f"{x['process']} –"
        for x in counted[:4]
    )
    per += ", …" if len(counted) > 4 else ""
    base = {
        "phrase": r["phrase"],
        "share": _pct_value(r["share"]),
        "confidence": f"{100 * confidence:.0f}",
        "per": per,
    }
    if r["small"]:
        return M_(
            "Cases with {phrase}: too few cases within any process to tell ({n}; {share} of cases).",
            n=count_value(r["n"]),
            **base,
        )
    ratio, lo, hi = r["ratio"], r["ratio_low"], r["ratio_high"]
    if r["inconsistent"]:
        return M_(
            "Cases with {phrase}: no consistent effect within processes ({per}): the processes disagree, so it "
            "is not a driver; {share} of cases.",
            **base,
        )
    if math.isnan(ratio) or math.isnan(lo):
        diff = r["mean_diff"]
        if r["noise"]:
            return M_(
                "Cases with {phrase}: within processes not distinguishable from noise (mean difference); "
                "{share} of cases.",
                **base,
            )
        spread = _mean_diff_spread(r)
        if diff > 0:
            return M_(
                "Cases with {phrase} take {diff} longer on average than other cases of the same process "
                "({confidence} % CI {low}–{high}); {share} of cases.",
                **base,
                **spread,
            )
        return M_(
            "Cases with {phrase} take {diff} shorter on average than other cases of the same process "
            "({confidence} % CI {low}–{high}); {share} of cases.",
            **base,
            **spread,
        )
    if r["noise"]:
        return M_(
            "Cases with {phrase}: within processes {ratio}× ({confidence} % CI {low}–{high}×; {per}), not "
            "distinguishable from noise; {share} of cases.",
            ratio=_ratio_text(ratio),
            low=_ratio_text(lo),
            high=_ratio_text(hi),
            **base,
        )
    if ratio >= 1:
        return M_(
            "Cases with {phrase} take {ratio}× longer than other cases of the same process "
            "({confidence} % CI {low}–{high}×; {per}); {share} of cases.",
            ratio=_ratio_text(ratio),
            low=_ratio_text(lo),
            high=_ratio_text(hi),
            **base,
        )
    return M_(
        "Cases with {phrase} finish {ratio}× faster than other cases of the same process "
        "({confidence} % CI {low}–{high}×; {per}); {share} of cases.",
        ratio=_ratio_text(1 / ratio),
        low=_ratio_text(1 / hi),
        high=_ratio_text(1 / lo),
        **base,
    )


def _sentence(r: Mapping[str, Any], confidence: float) -> Message:
    med = M_(
        "median {inside} vs {outside}",
        inside=duration_value(r["median_in"]),
        outside=duration_value(r["median_out"]),
    )
    base = {
        "phrase": r["phrase"],
        "share": _pct_value(r["share"]),
        "confidence": f"{100 * confidence:.0f}",
        "median": med,
    }
    ratio, lo, hi = r["ratio"], r["ratio_low"], r["ratio_high"]
    if r["small"]:
        return M_(
            "Cases with {phrase}: {median} — too few cases to tell ({n}; {share} of cases).",
            n=count_value(r["n"]),
            **base,
        )
    if math.isnan(ratio) or math.isnan(lo):
        diff = r["mean_diff"]
        means = {"mean_in": duration_value(r["mean_in"]), "mean_out": duration_value(r["mean_out"])}
        if r["noise"]:
            return M_(
                "Cases with {phrase}: mean {mean_in} vs {mean_out}, not distinguishable from noise; {share} of cases.",
                **base,
                **means,
            )
        spread = _mean_diff_spread(r)
        if diff > 0:
            return M_(
                "Cases with {phrase} take {diff} longer on average (mean {mean_in} vs {mean_out}, "
                "{confidence} % CI {low}–{high}); {share} of cases.",
                **base,
                **means,
                **spread,
            )
        return M_(
            "Cases with {phrase} take {diff} shorter on average (mean {mean_in} vs {mean_out}, "
            "{confidence} % CI {low}–{high}); {share} of cases.",
            **base,
            **means,
            **spread,
        )
    if r["noise"]:
        return M_(
            "Cases with {phrase}: {median} ({ratio}×, {confidence} % CI {low}–{high}×), not distinguishable "
            "from noise; {share} of cases.",
            ratio=_ratio_text(ratio),
            low=_ratio_text(lo),
            high=_ratio_text(hi),
            **base,
        )
    if ratio >= 1:
        return M_(
            "Cases with {phrase} take {ratio}× longer ({median}, {confidence} % CI {low}–{high}×); {share} of cases.",
            ratio=_ratio_text(ratio),
            low=_ratio_text(lo),
            high=_ratio_text(hi),
            **base,
        )
    return M_(
        "Cases with {phrase} finish {ratio}× faster ({median}, {confidence} % CI {low}–{high}×); {share} of cases.",
        ratio=_ratio_text(1 / ratio),
        low=_ratio_text(1 / hi),
        high=_ratio_text(1 / lo),
        **base,
    )


def correlations(
    units: pd.DataFrame,
    factors: Mapping[str, str],
    *,
    lead: str = "lead_s",
    confidence: float = 0.95,
    strata: str | None = None,
) -> pd.DataFrame:
    """Spearman rank correlation of each numeric factor with lead time; confidence interval by
    the Fisher z transform with the Bonett-Wright standard error sqrt((1 + ρ²/2) / (n − 3)).
    With ``strata`` the correlation is computed within each stratum (10 cases or more) and the
    Fisher z values are pooled with inverse-variance weights (a fixed-effect meta-analysis):
    within processes, never across them.

    >>> u = pd.DataFrame({"lead_s": np.arange(50.0), "amount": np.arange(50.0) ** 2})
    >>> round(float(correlations(u, {"amount": "amount"}).rho[0]), 3)
    1.0
    """
    from scipy.stats import norm, spearmanr

    z_crit = float(norm.ppf(0.5 + confidence / 2))
    rows = []
    for name, col in factors.items():
        d = pd.DataFrame(
            {
                "x": pd.to_numeric(units[col], errors="coerce"),
                "y": pd.to_numeric(units[lead], errors="coerce"),
                "s": units[strata].astype(str) if strata is not None else "",
            }
        )
        d = d.dropna()
        n = len(d)
        if n < 10 or d["x"].nunique() < 2 or d["y"].nunique() < 2:
            continue
        zs, ws = [], []
        for _, g in d.groupby("s", sort=True):
            if len(g) < 10 or g["x"].nunique() < 2 or g["y"].nunique() < 2:
                continue
            r = float(spearmanr(g["x"], g["y"]).statistic)
            r = max(min(r, 0.999999), -0.999999)
            zs.append(math.atanh(r))
            ws.append((len(g) - 3) / (1 + r * r / 2))
        if not zs:
            continue
        z = float(np.dot(zs, ws) / np.sum(ws))
        se = 1.0 / math.sqrt(float(np.sum(ws)))
        rho = math.tanh(z)
        lo, hi = math.tanh(z - z_crit * se), math.tanh(z + z_crit * se)
        if strata is None and abs(float(spearmanr(d["x"], d["y"]).statistic)) >= 1.0:
            rho = lo = hi = float(spearmanr(d["x"], d["y"]).statistic)
        noise = lo <= 0.0 <= hi
        stats = {
            "name": name,
            "rho": f"{rho:.2f}",
            "confidence": f"{100 * confidence:.0f}",
            "low": f"{lo:.2f}",
            "high": f"{hi:.2f}",
            "n": count_value(n),
        }
        if noise:
            text = M_(
                "No clear association between {name} and lead time (Spearman ρ = {rho}, {confidence} % CI {low} "
                "to {high}; n = {n}).",
                **stats,
            )
        elif rho > 0:
            text = (
                M_(
                    "Higher {name} goes with longer lead times within processes (Spearman ρ = {rho}, "
                    "{confidence} % CI {low} to {high}; n = {n}).",
                    **stats,
                )
                if strata
                else M_(
                    "Higher {name} goes with longer lead times (Spearman ρ = {rho}, {confidence} % CI {low} to "
                    "{high}; n = {n}).",
                    **stats,
                )
            )
        else:
            text = (
                M_(
                    "Higher {name} goes with shorter lead times within processes (Spearman ρ = {rho}, "
                    "{confidence} % CI {low} to {high}; n = {n}).",
                    **stats,
                )
                if strata
                else M_(
                    "Higher {name} goes with shorter lead times (Spearman ρ = {rho}, {confidence} % CI {low} to "
                    "{high}; n = {n}).",
                    **stats,
                )
            )
        rows.append(
            {
                "factor": name,
                "n": n,
                "rho": rho,
                "rho_low": lo,
                "rho_high": hi,
                "noise": noise,
                "sentence": text,
            }
        )
    out = message_frame(rows, ["factor", "n", "rho", "rho_low", "rho_high", "noise", "sentence"])
    if len(out):
        out = out.assign(a=out["rho"].abs()).sort_values(
            ["noise", "a", "factor"], ascending=[True, False, True]
        )
        out = out.drop(columns="a").reset_index(drop=True)
    return out


# -- per-case factors from a log ----------------------------------------------------------------
def case_factors(
    log: EventLog,
    *,
    groups: ActivityGroups | str | Path | Mapping[str, Any] | None = None,
    contact: str | None = "auto",
    channel: str | None = "auto",
) -> pd.DataFrame:
    """Per case: case_id, lead_s and behaviour flags computed in the engine — rework (an
    activity occurring twice or more), transfer, reverification (two or more identity checks),
    information_request, and with a contact column several_contacts and contacts; with an
    event-level channel column, first_channel (the family of the case's first customer-facing
    channel)."""
    import ibis

    from flowlens.attributes import detect_column
    from flowlens.relational import case_table

    g = ActivityGroups.resolve(groups)
    t = log.table
    acts = t.select("activity").distinct().to_pandas()["activity"].tolist()
    members = g.members(acts)

    def flag(name: str) -> ibis.Value:
        names = members.get(name) or []
        # An empty group is a column of zeros (pos is never negative).
        return (t.activity.isin(names) if names else t.pos < 0).cast("int64")

    contact_col = detect_column(log, "contact", contact)
    per = t.group_by("case_idx").aggregate(
        n_transfer=flag("transfer").sum(),
        n_verification=flag("verification").sum(),
        n_information_request=flag("information_request").sum(),
        **({"contacts": t[contact_col].nunique()} if contact_col else {}),
    )
    reps = t.group_by(["case_idx", "activity"]).aggregate(k=t.count())
    rework = reps.group_by("case_idx").aggregate(max_repeat=reps.k.max())
    ct = case_table(t)
    q = ct.join(per, "case_idx").join(rework, "case_idx")
    chan_col = detect_column(log, "channel", channel)
    if chan_col:
        values = t.select(v=t[chan_col].cast("string")).distinct().to_pandas()["v"].dropna().tolist()
        fam = pd.DataFrame({"m_chan": values, "m_fam": [g.channel_family(v) for v in values]}, dtype=object)
        if len(fam):
            mt = ibis.memtable(fam, schema={"m_chan": "string", "m_fam": "string"})
            ev = t.select("case_idx", "eid", c=t[chan_col].cast("string"))
            ev = ev.join(mt, ev.c == mt.m_chan)
            first = ev.group_by("case_idx").aggregate(
                first_channel=ev.m_fam.argmin(ev.eid, where=ev.m_fam.notnull())
            )
            q = q.left_join(first, "case_idx").drop("case_idx_right")
    df = q.to_pandas().sort_values("case_idx").reset_index(drop=True)
    out = pd.DataFrame({"case_idx": df["case_idx"], "case_id": df["case_id"], "lead_s": df["lead_us"] / 1e6})
    out["rework"] = df["max_repeat"] >= 2
    if members.get("transfer"):
        out["transfer"] = df["n_transfer"] > 0
    if members.get("verification"):
        out["reverification"] = df["n_verification"] >= 2
    if members.get("information_request"):
        out["information_request"] = df["n_information_request"] > 0
    if contact_col:
        out["contacts"] = df["contacts"].astype("int64")
        out["several_contacts"] = out["contacts"] >= 2
    if "first_channel" in df.columns:
        out["first_channel"] = df["first_channel"]
    return out


#: Why an attribute is not offered as a driver, in the order the rules are tried.
EXCLUSION_RULES: dict[str, str] = {
    "identifier": "an identifier: named like one, the customer or contact column, or one value per case",
    "outcome": "an outcome of the case: satisfaction or SLA result by name, or first recorded after the case's first step",
    "time": "a time: typed as one, text that reads as dates, or numbers that rise with the case start",
    "trace": "a function of the path: constant within variants, with as many values as variants",
    "event": "changes within cases (an event attribute)",
    "process": "the process column: drivers are compared within processes, not across them",
    "single": "a single value: nothing to compare",
}
#: Share of cases (with a value) whose values are all different from each other's above which
#: a text column is an identifier (a declaration number, a ticket reference).
ID_SHARE = 0.5
#: Rank correlation with the case start above which a numeric column is a time (epoch numbers,
#: running numbers, year-week codes).
TIME_RHO = 0.95
#: Share of cases (with a value) whose first value comes after their first instance above
#: which a column was recorded during or after the case (an outcome).
LATE_SHARE = 0.5
#: Units the content rules need before they judge (fewer: only the name rules apply).
MIN_JUDGE = 20

_DATE_LIKE = re.compile(
    r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})"
    r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)


@dataclass
class AttributeScreen:
    """Which case attributes may be drivers, and why the others may not."""

    #: canonical columns kept as candidate drivers
    keep: list[str]
    #: column (source name), canonical, rule (a key of :data:`EXCLUSION_RULES`), detail
    excluded: pd.DataFrame

    def notes(self) -> list[str]:
        return [
            f"'{r.column}' is not a driver: {EXCLUSION_RULES[r.rule].split(':')[0]} ({r.detail})"
            for r in self.excluded.itertuples()
        ]


def _looks_like_dates(values: pd.Series) -> bool:
    v = values.dropna().astype(str)
    if v.empty:
        return False
    sample = v.drop_duplicates().sort_values(kind="stable").head(200)
    hits = sample.map(lambda x: bool(_DATE_LIKE.match(x)))
    if hits.mean() < 0.9:
        return False
    parsed = pd.to_datetime(sample[hits], errors="coerce", format="mixed", utc=True)
    return bool(parsed.notna().mean() >= 0.9)


def screen_attributes(
    log: EventLog,
    *,
    max_varying: float = 0.05,
    exclude: Sequence[str] = (),
    process: str | None = "auto",
) -> AttributeScreen:
    """Case attributes usable as drivers, and the rule that left each other one out
    (docs/methods.md §11.1; :data:`EXCLUSION_RULES`).

    By name: identifiers (id, 编号, 号; the customer and contact columns), outcomes (CSAT, NPS,
    SLA met, outcome, result, ...). By type: timestamps and nested values. By content, on the
    per-case table: an attribute that changes within more than ``max_varying`` of the cases
    (event attribute); text with as many values as cases (≥ :data:`ID_SHARE` of the cases with
    a value, over the whole log or within any process: an identifier); text that reads as
    dates, or numbers whose rank correlation with the case start is ≥ :data:`TIME_RHO` (a
    time); a first value that comes after the case's first instance in ≥ :data:`LATE_SHARE` of
    the cases (recorded during or after the case: an outcome); a column constant within every
    variant (of two or more cases) with at least half as many values as variants (a label of
    the path); the process column (drivers are compared within processes).

    >>> import pandas as pd, flowlens
    >>> df = pd.DataFrame({"case": [f"c{i}" for i in range(40) for _ in range(2)],
    ...     "activity": ["a", "b"] * 40, "ref": [f"R{i}" for i in range(40) for _ in range(2)],
    ...     "tier": [("gold" if i % 2 else "std") for i in range(40) for _ in range(2)],
    ...     "timestamp": pd.date_range("2024-01-01", periods=80, freq="h")})
    >>> sc = screen_attributes(flowlens.read_log(df))
    >>> sc.keep, sc.excluded[["column", "rule"]].values.tolist()
    (['tier'], [['ref', 'identifier']])
    """
    from flowlens.analysis.processes import case_processes, detect_processes
    from flowlens.attributes import detect_column
    from flowlens.relational import case_table, variant_keys

    t = log.table
    schema = t.schema()
    skip_roles = {detect_column(log, r) for r in ("customer", "contact")} - {None}
    excluded_names = {norm_name(e) for e in exclude}
    out: list[dict[str, Any]] = []
    cands: list[str] = []

    def drop(canon: str, rule: str, detail: str) -> None:
        out.append(
            {"column": log.attributes.get(canon, canon), "canonical": canon, "rule": rule, "detail": detail}
        )

    split = detect_processes(log, process) if process is not None else None
    for canon, src in log.attributes.items():
        n = norm_name(src[5:] if src.startswith("case:") else src)
        if norm_name(src) in excluded_names or norm_name(canon) in excluded_names:
            continue
        if split is not None and canon == split.column:
            drop(canon, "process", M_("{n} processes", n=split.n))
        elif canon in skip_roles:
            drop(canon, "identifier", M_("the customer or contact column"))
        elif _id_like(src):
            drop(canon, "identifier", M_("named like an identifier"))
        elif norm_name(src) in _SKIP_NAMES or n in _SKIP_NAMES:
            drop(canon, "outcome", M_("named like an outcome"))
        else:
            dt = schema[canon]
            if dt.is_timestamp() or dt.is_date() or dt.is_time():
                # in plain words, the same on every engine (not the engine's type name, e.g.
                # DuckDB's "timestamp('UTC')" against Spark's "timestamp")
                kind = (
                    M_("typed as a date-time")
                    if dt.is_timestamp()
                    else M_("typed as a date")
                    if dt.is_date()
                    else M_("typed as a time of day")
                )
                drop(canon, "time", kind)
            elif dt.is_struct() or dt.is_array() or dt.is_map() or dt.is_json():
                continue
            else:
                cands.append(canon)
    if cands:
        aggs: dict[str, Any] = {}
        for i, c in enumerate(cands):
            aggs[f"v{i}"] = t[c].argmin(t.eid, where=t[c].notnull())
            aggs[f"u{i}"] = t[c].nunique()
            aggs[f"p{i}"] = t.pos.min(where=t[c].notnull())
        per = t.group_by("case_idx").aggregate(**aggs)
        ct = case_table(t).select("case_idx", "start_us")
        vk = variant_keys(t)
        q = ct.join(per, "case_idx").join(vk, "case_idx")
        df = q.to_pandas().sort_values("case_idx").reset_index(drop=True)
        variant = pd.Series(
            pd.factorize(pd.MultiIndex.from_arrays([df["k1"], df["k2"], df["n"]]))[0], index=df.index
        )
        strata = None
        if split is not None:
            cp = case_processes(log, split)
            strata = df["case_idx"].map(dict(zip(cp["case_idx"], cp["process"], strict=True)))
        n_cases = max(len(df), 1)
        keep: list[str] = []
        for i, c in enumerate(cands):
            why = _content_rule(
                df[f"v{i}"],
                df[f"u{i}"],
                df[f"p{i}"],
                df["start_us"],
                variant,
                strata,
                text=schema[c].is_string(),
                numeric=schema[c].is_numeric() and not schema[c].is_boolean(),
                n_cases=n_cases,
                max_varying=max_varying,
            )
            if why is None:
                keep.append(c)
            else:
                drop(c, *why)
    else:
        keep = []
    excl = message_frame(out, ["column", "canonical", "rule", "detail"])
    order = {r: k for k, r in enumerate(EXCLUSION_RULES)}
    excl = (
        excl.assign(o=excl["rule"].map(order)).sort_values(["o", "column"], kind="stable").drop(columns="o")
    )
    return AttributeScreen(keep=keep, excluded=excl.reset_index(drop=True))


def _content_rule(
    value: pd.Series,
    levels_per_case: pd.Series,
    first_pos: pd.Series,
    start_us: pd.Series,
    variant: pd.Series,
    strata: pd.Series | None,
    *,
    text: bool,
    numeric: bool,
    n_cases: int,
    max_varying: float,
) -> tuple[str, str] | None:
    """The first content rule an attribute breaks (rule, detail), or None (see
    :func:`screen_attributes`). Vectorised over the per-case table."""
    varying = float((levels_per_case > 1).sum()) / n_cases
    if varying > max_varying:
        return "event", M_(
            "changes within {share} of the cases", share=percent_value(varying, f"{100 * varying:.1f} %")
        )
    has = value.notna()
    n = int(has.sum())
    if n == 0:
        return "single", M_("no value")
    v = value[has]
    levels = int(v.nunique())
    if levels < 2:
        return "single", f"only '{v.iloc[0]}'"
    if n >= MIN_JUDGE:
        if text:
            if _looks_like_dates(v):
                return "time", M_("its values read as dates")
            share = levels / n
            if share >= ID_SHARE:
                return "identifier", f"{levels:,} values in {n:,} cases"
            if strata is not None:
                s = strata[has]
                per = pd.DataFrame({"s": s, "v": v}).groupby("s")["v"].agg(["count", "nunique"])
                big = per[(per["count"] >= MIN_JUDGE) & (per["nunique"] >= ID_SHARE * per["count"])]
                if len(big):
                    p = big.index[0]
                    return (
                        "identifier",
                        f"{int(big.loc[p, 'nunique']):,} values in the {int(big.loc[p, 'count']):,} cases of {p}",
                    )
        if numeric and levels >= 10:
            from scipy.stats import spearmanr

            x = pd.to_numeric(v, errors="coerce").astype(float)
            ok = x.notna()
            if int(ok.sum()) >= MIN_JUDGE:
                rho = float(spearmanr(x[ok], start_us[has][ok].astype(float)).statistic)
                if rho == rho and abs(rho) >= TIME_RHO:
                    return "time", f"rank correlation {rho:+.2f} with the case start"
        late = float((first_pos[has] > 0).mean())
        if late >= LATE_SHARE:
            return "outcome", f"first recorded after the case's first step in {100 * late:.0f} % of cases"
        vv = variant[has]
        per_var = pd.DataFrame({"k": vv, "v": v.astype(str)}).groupby("k")["v"].agg(["count", "nunique"])
        multi = per_var[per_var["count"] >= 2]
        n_var = len(per_var)
        constant = len(multi) >= 2 and bool((multi["nunique"] <= 1).all())
        # equal to the variant (one value per variant and one variant per value), or as many
        # values as variants: a label of the path written by another tool, not a property of the case
        one_to_one = levels == n_var
        if constant and (one_to_one or (len(multi) >= 3 and levels >= max(3, 0.5 * n_var))):
            return "trace", f"one value per variant, {levels:,} values for {n_var:,} variants"
    return None


def candidate_attributes(
    log: EventLog, *, max_varying: float = 0.05, exclude: Sequence[str] = (), process: str | None = "auto"
) -> tuple[list[str], list[str]]:
    """Attributes usable as case-level drivers, and notes on those left out
    (:func:`screen_attributes`)."""
    sc = screen_attributes(log, max_varying=max_varying, exclude=exclude, process=process)
    return sc.keep, sc.notes()


def drivers(
    log: EventLog,
    *,
    factors: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    behaviours: bool = True,
    groups: ActivityGroups | str | Path | Mapping[str, Any] | None = None,
    seed: int = 0,
    resamples: int = 1000,
    confidence: float = 0.95,
    min_size: int = 20,
    max_levels: int = 12,
    process: str | None = "auto",
) -> Drivers:
    """Rank case attributes and behaviours by their association with long lead times.

    ``factors`` names the attributes to test (default: every case attribute that passes
    :func:`screen_attributes`: no identifier, time, outcome, label of the path or event
    attribute; the excluded ones are listed with their rule in ``excluded``); ``behaviours``
    adds rework, transfer, repeated identity checks, requests for information and several
    contacts (:func:`case_factors`). Lead time is calendar time (methods §3.3). When the log
    holds several processes (``process``: "auto" detects the process column, None turns the
    split off) every effect is measured within processes and must hold there (:func:`effects`).

    >>> import pandas as pd, flowlens
    >>> rows = []
    >>> for i in range(60):
    ...     slow = i % 3 == 0
    ...     acts = ["Open", "Transfer", "Close"] if slow else ["Open", "Close"]
    ...     for k, a in enumerate(acts):
    ...         rows.append({"case": f"c{i}", "activity": a, "tier": "gold" if i % 2 else "std",
    ...                      "timestamp": pd.Timestamp("2024-01-01") + pd.Timedelta(hours=k * (5 if slow else 1) + (i % 5) / 10)})
    >>> res = drivers(flowlens.read_log(pd.DataFrame(rows)), resamples=200)
    >>> top = res.table.iloc[0]
    >>> (top.factor, top.level, bool(top.noise), top.sentence.startswith("Cases with a transfer take"))
    ('transfer', 'yes', False, True)
    """
    from flowlens.analysis.processes import case_processes, detect_processes
    from flowlens.attributes import case_attribute_table, resolve_column

    notes: list[str] = []
    split = detect_processes(log, process) if process is not None else None
    excluded = None
    if factors is None:
        sc = screen_attributes(log, exclude=exclude, process=process)
        attrs, excluded = sc.keep, sc.excluded
        notes += [n for n in sc.notes() if "a single value" not in n]
    else:
        attrs = [resolve_column(log, f, what="driver") for f in factors]
        if split is not None and split.column in attrs:
            attrs.remove(split.column)
            notes.append(f"'{split.name}' is the process column: drivers are compared within processes")
    cf = case_factors(log, groups=groups)
    units = cf
    if attrs:
        ca = case_attribute_table(log, attrs).to_pandas()
        units = units.merge(ca, on="case_idx", how="left")
    strata = None
    if split is not None:
        cp = case_processes(log, split)
        units = units.merge(
            cp[["case_idx", "process"]].rename(columns={"process": "fl_process"}), on="case_idx"
        )
        units = units.sort_values("case_idx").reset_index(drop=True)
        strata = "fl_process"
        notes.append(
            M_(
                "the log holds {n} processes (column {column}): every effect is measured within processes "
                "(cases against other cases of the same process) and must hold there; a process that is "
                "simply longer is not a driver",
                n=split.n,
                column=split.name,
            )
        )
    display = {c: log.attributes.get(c, c) for c in attrs}
    cat: dict[str, str] = {}
    num: dict[str, str] = {}
    for c in attrs:
        s = units[c]
        if pd.api.types.is_numeric_dtype(s) and s.dtype != bool and s.nunique() > max_levels:
            num[display[c]] = c
        n_levels = s.nunique()
        if n_levels < 2:
            notes.append(f"'{display[c]}' has a single value: nothing to compare")
            continue
        cat[display[c]] = c
    phrases: dict[str, str] = {}
    if behaviours:
        for b, phrase in BEHAVIOURS.items():
            if b in units.columns:
                cat[b] = b
                phrases[b] = phrase
        if "first_channel" in units.columns and not any(
            norm_name(n) in {"channel", "originchannel"} for n in cat
        ):
            cat["first channel"] = "first_channel"
        if "contacts" in units.columns:
            num["contacts per case"] = "contacts"
    table = effects(
        units,
        cat,
        phrases=phrases,
        seed=seed,
        resamples=resamples,
        confidence=confidence,
        min_size=min_size,
        max_levels=max_levels,
        strata=strata,
    )
    corr = correlations(units, num, confidence=confidence, strata=strata)
    notes.append(
        M_(
            "associations, not causes: factors overlap (complex cases are transferred and take long), and some "
            "follow from a long case rather than cause it"
        )
    )
    return Drivers(
        table=table,
        correlations=corr,
        cases=len(units),
        seed=seed,
        resamples=resamples,
        confidence=confidence,
        notes=notes,
        within=split.name if split is not None else None,
        excluded=excluded
        if excluded is not None
        else pd.DataFrame(columns=["column", "canonical", "rule", "detail"]),
    )


__all__ = [
    "BEHAVIOURS",
    "EXCLUSION_RULES",
    "AttributeScreen",
    "Drivers",
    "candidate_attributes",
    "case_factors",
    "correlations",
    "drivers",
    "effects",
    "screen_attributes",
]
