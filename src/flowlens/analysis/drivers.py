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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.analysis.activity_groups import ActivityGroups
from flowlens.analysis.segments import MISSING, _interval, replicates, segment_labels
from flowlens.errors import ConfigError
from flowlens.units import human_duration

if TYPE_CHECKING:
    from flowlens.log import EventLog

#: Behaviour flags computed per case: column -> the phrase after "Cases with".
BEHAVIOURS: dict[str, str] = {
    "rework": "rework (an activity repeated)",
    "transfer": "a transfer",
    "reverification": "a repeated identity check",
    "information_request": "a request for information",
    "several_contacts": "two or more contacts",
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
    "满意度",
}


def _norm(name: str) -> str:
    from flowlens.analysis.journeys import _norm as n

    return n(name)


def _id_like(name: str) -> bool:
    n = _norm(name)
    return (
        n == "id" or n.endswith("id") or n.endswith("编号") or n.endswith("号") or n in {"attrs", "eventid"}
    )


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %" if x < 0.095 else f"{100 * x:.0f} %"


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
            return (
                "No case attribute or behaviour goes with clearly longer lead times "
                "(every difference is within bootstrap noise)."
            )
        r = real.iloc[0]
        return (
            f"Strongest association with slow cases: {r['phrase']} (median {human_duration(r['median_in'])} vs "
            f"{human_duration(r['median_out'])}, {_ratio_text(r['ratio'])}×; {_pct(r['share'])} of cases). "
            "Associations, not proven causes."
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
            "notes": self.notes,
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
) -> pd.DataFrame:
    """Effect of each factor on ``units[lead]``: one row per (factor, level) vs all other cases.

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
    out = pd.DataFrame(rows, columns=cols)
    if out.empty:
        return out
    out = out.sort_values(["noise", "effect", "factor", "level"], ascending=[True, False, True, True])
    return out.reset_index(drop=True)


def _sentence(r: Mapping[str, Any], confidence: float) -> str:
    who = f"Cases with {r['phrase']}"
    share = f"{_pct(r['share'])} of cases"
    ci = f"{100 * confidence:.0f} % CI"
    med = f"median {human_duration(r['median_in'])} vs {human_duration(r['median_out'])}"
    ratio, lo, hi = r["ratio"], r["ratio_low"], r["ratio_high"]
    if r["small"]:
        return f"{who}: {med} — too few cases to tell ({r['n']:,}; {share})."
    if math.isnan(ratio) or math.isnan(lo):
        diff = r["mean_diff"]
        word = "longer" if diff > 0 else "shorter"
        if r["noise"]:
            return (
                f"{who}: mean {human_duration(r['mean_in'])} vs {human_duration(r['mean_out'])}, "
                f"not distinguishable from noise; {share}."
            )
        return (
            f"{who} take {human_duration(abs(diff))} {word} on average (mean {human_duration(r['mean_in'])} vs "
            f"{human_duration(r['mean_out'])}, {ci} {human_duration(abs(r['diff_low']))}–"
            f"{human_duration(abs(r['diff_high']))}); {share}."
        )
    if r["noise"]:
        return (
            f"{who}: {med} ({_ratio_text(ratio)}×, {ci} {_ratio_text(lo)}–{_ratio_text(hi)}×), "
            f"not distinguishable from noise; {share}."
        )
    if ratio >= 1:
        return f"{who} take {_ratio_text(ratio)}× longer ({med}, {ci} {_ratio_text(lo)}–{_ratio_text(hi)}×); {share}."
    return (
        f"{who} finish {_ratio_text(1 / ratio)}× faster ({med}, {ci} {_ratio_text(1 / hi)}–{_ratio_text(1 / lo)}×); "
        f"{share}."
    )


def correlations(
    units: pd.DataFrame, factors: Mapping[str, str], *, lead: str = "lead_s", confidence: float = 0.95
) -> pd.DataFrame:
    """Spearman rank correlation of each numeric factor with lead time; confidence interval by
    the Fisher z transform with the Bonett-Wright standard error sqrt((1 + ρ²/2) / (n − 3)).

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
            }
        )
        d = d.dropna()
        n = len(d)
        if n < 10 or d["x"].nunique() < 2 or d["y"].nunique() < 2:
            continue
        rho = float(spearmanr(d["x"], d["y"]).statistic)
        if abs(rho) >= 1.0:
            lo = hi = rho
        else:
            se = math.sqrt((1 + rho * rho / 2) / (n - 3))
            z = math.atanh(rho)
            lo, hi = math.tanh(z - z_crit * se), math.tanh(z + z_crit * se)
        noise = lo <= 0.0 <= hi
        if noise:
            text = (
                f"No clear association between {name} and lead time (Spearman ρ = {rho:.2f}, "
                f"{100 * confidence:.0f} % CI {lo:.2f} to {hi:.2f}; n = {n:,})."
            )
        else:
            word = "longer" if rho > 0 else "shorter"
            text = (
                f"Higher {name} goes with {word} lead times (Spearman ρ = {rho:.2f}, "
                f"{100 * confidence:.0f} % CI {lo:.2f} to {hi:.2f}; n = {n:,})."
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
    out = pd.DataFrame(rows, columns=["factor", "n", "rho", "rho_low", "rho_high", "noise", "sentence"])
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

    from flowlens.analysis.journeys import detect_column
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


def candidate_attributes(
    log: EventLog, *, max_varying: float = 0.05, exclude: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """Attributes usable as case-level drivers, and notes on those left out.

    Left out: identifiers (names ending in id/编号/号, the customer and contact columns),
    timestamps, outcomes that follow from the lead time (CSAT, NPS, SLA met, ...), and
    attributes that change within more than ``max_varying`` of the cases (event-level)."""
    from flowlens.analysis.journeys import detect_column

    t = log.table
    schema = t.schema()
    skip_roles = {detect_column(log, r) for r in ("customer", "contact")} - {None}
    excluded = {_norm(e) for e in exclude}
    cands: list[str] = []
    notes: list[str] = []
    for canon, src in log.attributes.items():
        if canon in skip_roles or _id_like(src) or _norm(src) in _SKIP_NAMES or _norm(src) in excluded:
            continue
        if (
            _norm(src).startswith("case")
            and _norm(src[5:] if src.startswith("case:") else src) in _SKIP_NAMES
        ):
            continue
        dt = schema[canon]
        if dt.is_timestamp() or dt.is_date() or dt.is_struct() or dt.is_array() or dt.is_map():
            continue
        cands.append(canon)
    if not cands:
        return [], notes
    per = t.group_by("case_idx").aggregate(**{f"v{i}": t[c].nunique() for i, c in enumerate(cands)})
    agg = per.aggregate(
        n=per.count(), **{f"v{i}": (per[f"v{i}"] > 1).cast("int64").sum() for i in range(len(cands))}
    )
    row = agg.to_pandas().iloc[0]
    n = max(int(row["n"]), 1)
    keep = []
    for i, c in enumerate(cands):
        if int(row[f"v{i}"]) / n > max_varying:
            notes.append(
                f"'{log.attributes.get(c, c)}' changes within cases (an event attribute), so it is not used as a case factor"
            )
        else:
            keep.append(c)
    return keep, notes


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
) -> Drivers:
    """Rank case attributes and behaviours by their association with long lead times.

    ``factors`` names the attributes to test (default: every case-level attribute that is not
    an identifier, timestamp or satisfaction/SLA outcome, :func:`candidate_attributes`);
    ``behaviours`` adds rework, transfer, repeated identity checks, requests for information
    and several contacts (:func:`case_factors`). Lead time is calendar time (methods §3.3).

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
    from flowlens.analysis.journeys import case_attribute_table, resolve_column

    notes: list[str] = []
    if factors is None:
        attrs, more = candidate_attributes(log, exclude=exclude)
        notes += more
    else:
        attrs = [resolve_column(log, f, what="driver") for f in factors]
    cf = case_factors(log, groups=groups)
    units = cf
    if attrs:
        ca = case_attribute_table(log, attrs).to_pandas()
        units = units.merge(ca, on="case_idx", how="left")
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
            _norm(n) in {"channel", "originchannel"} for n in cat
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
    )
    corr = correlations(units, num, confidence=confidence)
    notes.append(
        "associations, not causes: factors overlap (complex cases are transferred and take long), and some "
        "follow from a long case rather than cause it"
    )
    return Drivers(
        table=table,
        correlations=corr,
        cases=len(units),
        seed=seed,
        resamples=resamples,
        confidence=confidence,
        notes=notes,
    )


__all__ = [
    "BEHAVIOURS",
    "Drivers",
    "candidate_attributes",
    "case_factors",
    "correlations",
    "drivers",
    "effects",
]
