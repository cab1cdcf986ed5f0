"""Segments and channels: headline metrics per value of a case attribute, with bootstrap CIs.

Each metric is a statistic (median, mean, share, ratio of sums) of one column of a small unit
table: one row per case (lead time, waiting, flow efficiency, SLA met, ...) or per issue (FCR,
contacts per issue; :mod:`flowlens.analysis.journeys`). For every value of the segment column
flowlens gives the metric with a percentile-bootstrap 95 % confidence interval, the difference
from the other cases (or from a reference segment) with its own interval, and a **noise flag**
when that interval contains 0: the data cannot tell the segment apart from the rest
(docs/methods.md, "Segments and confidence intervals").

Resampling is vectorised with numpy (a matrix of resampled indices per segment, in chunks) and
seeded per (seed, metric, segment), so results are identical for a seed whatever else is
compared.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> units = pd.DataFrame({"seg": ["a"] * 200 + ["b"] * 200,
...                       "lead_s": np.r_[rng.exponential(100, 200), rng.exponential(300, 200)]})
>>> res = compare(units, "seg", [Metric("lead_mean", "mean lead time", "lead_s", "mean")], seed=3)
>>> res.loc[res.group == "b", ["n", "noise"]].values.tolist()
[[200, False]]
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.errors import ConfigError
from flowlens.i18n import M_, Message, message_frame
from flowlens.units import Value, duration_value, human_duration, percent, percent_value

if TYPE_CHECKING:
    from flowlens.analysis.journeys import Journeys
    from flowlens.log import EventLog
    from flowlens.timing.model import TimeModel

#: Index draws per resampling chunk (resamples x units): bounds memory to tens of MB.
CHUNK = 2_000_000
MISSING = "(missing)"
OTHER = "(other)"
STATS = ("median", "mean", "share", "ratio", "p90")

#: A statistic of your own: takes a 2-D array (one resample per row) and returns one value per
#: row, e.g. ``lambda a: np.quantile(a, 0.75, axis=1)``.
StatFunction = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Metric:
    """A headline metric: ``stat`` of ``column`` over the units of one table.

    ``stat`` is median, mean, p90, share (mean of a 0/1 or boolean column), ratio
    (sum of ``column`` ÷ sum of ``denominator``) or a :data:`StatFunction`. ``kind`` says how to print it (duration in
    seconds, share, number); ``better`` is "lower", "higher" or None; ``unit`` names the table
    ("case" or "issue").
    """

    name: str
    label: str
    column: str
    stat: str | StatFunction = "median"
    denominator: str | None = None
    kind: str = "duration"
    better: str | None = "lower"
    unit: str = "case"

    def __post_init__(self) -> None:
        if callable(self.stat):
            return
        if self.stat not in STATS:
            raise ConfigError(
                f"metric {self.name}: unknown statistic '{self.stat}'; choose one of {', '.join(STATS)}"
            )
        if self.stat == "ratio" and not self.denominator:
            raise ConfigError(f"metric {self.name}: a ratio needs a denominator column")

    def format(self, value: float | None) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if self.kind == "duration":
            return human_duration(value)
        if self.kind == "share":
            return percent(value)
        return f"{value:,.2f}"

    def value_text(self, value: float | None) -> Value | str:
        """:meth:`format` for a sentence rendered later (:class:`~flowlens.i18n.Message`)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if self.kind == "duration":
            return duration_value(value)
        if self.kind == "share":
            return percent_value(value)
        return f"{value:,.2f}"

    def diff_text(self, value: float | None) -> Message | str:
        """:meth:`format_diff` for a sentence rendered later."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        sign = "+" if value >= 0 else "−"
        if self.kind == "share":
            # TRANSLATORS: a difference in percentage points, e.g. +5.2 pp
            return M_("{sign}{points} pp", sign=sign, points=format(abs(100 * value), ".1f"))
        if self.kind == "duration":
            return M_("{sign}{time}", sign=sign, time=duration_value(abs(value)))
        return f"{sign}{abs(value):,.2f}"

    def format_diff(self, value: float | None) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        sign = "+" if value >= 0 else "−"
        if self.kind == "share":
            return f"{sign}{abs(100 * value):.1f} pp"
        if self.kind == "duration":
            return sign + human_duration(abs(value))
        return f"{sign}{abs(value):,.2f}"


#: Headline metrics over the per-case table of :func:`case_units`.
CASE_METRICS: tuple[Metric, ...] = (
    Metric("lead_median", M_("median lead time"), "lead_s", "median"),
    Metric("lead_mean", M_("mean lead time"), "lead_s", "mean"),
    Metric("lead_p90", M_("90th percentile lead time"), "lead_s", "p90"),
    Metric(
        "waiting_share",
        M_("waiting share (Σ waiting ÷ Σ (waiting + processing))"),
        "wait_s",
        "ratio",
        denominator="wait_proc_s",
        kind="share",
    ),
    Metric(
        "flow_efficiency",
        M_("median flow efficiency"),
        "flow_efficiency",
        "median",
        kind="share",
        better="higher",
    ),
    Metric("sla_met", M_("SLA met"), "sla_met", "share", kind="share", better="higher"),
    Metric("csat", M_("mean CSAT"), "csat", "mean", kind="number", better="higher"),
)

#: Headline metrics over the per-issue table of :func:`flowlens.analysis.journeys.journeys`.
ISSUE_METRICS: tuple[Metric, ...] = (
    Metric(
        "fcr", M_("first-contact resolution"), "fcr", "share", kind="share", better="higher", unit="issue"
    ),
    Metric("contacts_per_issue", M_("contacts per issue"), "contacts", "mean", kind="number", unit="issue"),
    Metric("issue_lead_median", M_("median customer lead time per issue"), "lead_s", "median", unit="issue"),
)


# -- bootstrap ---------------------------------------------------------------------------------
def _stream(seed: int, *key: object) -> np.random.Generator:
    """A generator seeded by (seed, crc32 of each key): stable across runs and platforms."""
    parts = [int(seed) & 0xFFFFFFFF] + [zlib.crc32(str(k).encode("utf-8")) for k in key]
    return np.random.default_rng(parts)


_QUANTILE = {"median": 0.5, "p90": 0.9}


def _quantile_from_counts(cum: np.ndarray, uniq: np.ndarray, q: float) -> np.ndarray:
    """Per row of ``cum`` (cumulative counts of each distinct value ``uniq`` in a resample),
    the q-quantile with numpy's default linear interpolation. The k-th smallest value of a row
    is the first distinct value whose cumulative count reaches k; rows are searched at once by
    offsetting each row so that the flattened array stays sorted."""
    rows, d = cum.shape
    n = cum[:, -1]
    h = q * (n - 1)
    lo = np.floor(h).astype(np.int64)
    frac = h - lo
    hi = np.minimum(lo + 1, n - 1)
    offset = (np.arange(rows, dtype=np.int64) * (int(n.max()) + 1))[:, None]
    flat = (cum + offset).ravel()
    base = np.arange(rows, dtype=np.int64) * d

    def kth(k: np.ndarray) -> np.ndarray:  # k is 0-based
        at = np.searchsorted(flat, k + 1 + offset[:, 0], side="left") - base
        return uniq[np.clip(at, 0, d - 1)]

    v_lo = kth(lo)
    v_hi = kth(hi)
    out = v_lo + frac * (v_hi - v_lo)
    return np.where(n > 0, out, np.nan)


def point(stat: str | StatFunction, vals: np.ndarray, den: np.ndarray | None = None) -> float:
    """The statistic on the sample itself (the same definition as the replicates)."""
    vals = np.asarray(vals, dtype=float)
    if vals.size == 0:
        return float("nan")
    if callable(stat):
        return float(np.asarray(stat(vals[None, :]), dtype=float)[0])
    if stat in _QUANTILE:
        return float(np.quantile(vals, _QUANTILE[stat]))
    if stat in ("mean", "share"):
        return float(vals.mean())
    assert den is not None
    d = float(np.sum(den))
    return float(vals.sum()) / d if d > 0 else float("nan")


@dataclass
class Replicates:
    """Bootstrap replicates of one statistic, per group, for the rest of each group, and for all."""

    groups: dict[str, tuple[float, np.ndarray]]
    rest: dict[str, tuple[float, np.ndarray]]
    all: tuple[float, np.ndarray]
    sizes: dict[str, int]


def replicates(
    stat: str | StatFunction,
    vals: np.ndarray,
    labels: np.ndarray,
    den: np.ndarray | None = None,
    *,
    resamples: int = 1000,
    seed: int = 0,
    key: object = "",
    rest: bool = True,
) -> Replicates:
    """Stratified bootstrap: each group's units are resampled with replacement within the
    group (its own seeded stream), and every replicate gives the statistic for each group, for
    the units outside it (the other groups' resampled units together) and for all units.

    Vectorised: per chunk of replicates one (chunk x n_group) index matrix per group. Means,
    shares and ratios come from per-group sums; quantiles (median, p90) from cumulative counts
    over the distinct values, which equals sorting each resample.

    >>> r = replicates("mean", np.arange(6.0), np.array(list("aaabbb")), resamples=200, seed=1)
    >>> r.groups["a"][0], r.rest["a"][0], r.groups["a"][1].shape
    (1.0, 4.0, (200,))
    """
    vals = np.asarray(vals, dtype=float)
    labels = np.asarray(labels).astype(str)
    den_arr = None if den is None else np.asarray(den, dtype=float)
    names = sorted({str(x) for x in labels})
    pos = {g: np.flatnonzero(labels == g) for g in names}
    sizes = {g: int(p.size) for g, p in pos.items()}
    n_all = vals.size
    quant = None if callable(stat) else _QUANTILE.get(stat)
    if quant is not None:
        # Quantiles from counts over the distinct values: exact, and cheap when values repeat.
        uniq, inv = np.unique(vals, return_inverse=True)
        n_distinct = uniq.size
        code_g = {g: inv[p] for g, p in pos.items()}
    streams = {g: _stream(seed, key, g) for g in names}
    g_reps = {g: np.empty(resamples) for g in names}
    r_reps = {g: np.empty(resamples) for g in names}
    a_reps = np.empty(resamples)
    width = n_all if quant is None else max(n_all, n_distinct * (len(names) + 1))
    rows = max(1, CHUNK // max(width, 1))
    for lo in range(0, resamples, rows):
        hi = min(resamples, lo + rows)
        c = hi - lo
        draws = {g: streams[g].integers(0, sizes[g], size=(c, sizes[g]), dtype=np.int32) for g in names}
        if callable(stat):
            gathered = {g: vals[pos[g]][draws[g]] for g in names}
            for g in names:
                g_reps[g][lo:hi] = stat(gathered[g])
                if rest:
                    others = [gathered[h] for h in names if h != g]
                    r_reps[g][lo:hi] = stat(np.concatenate(others, axis=1)) if others else np.nan
            a_reps[lo:hi] = stat(np.concatenate(list(gathered.values()), axis=1))
        elif quant is not None:
            row_off = (np.arange(c, dtype=np.int64) * n_distinct)[:, None]
            cums = {}
            for g in names:
                flat = (code_g[g][draws[g]] + row_off).ravel()
                cums[g] = np.bincount(flat, minlength=c * n_distinct).reshape(c, n_distinct).cumsum(axis=1)
            total = sum(cums.values())
            for g in names:
                g_reps[g][lo:hi] = _quantile_from_counts(cums[g], uniq, quant)
                if rest:
                    r_reps[g][lo:hi] = _quantile_from_counts(total - cums[g], uniq, quant)
            a_reps[lo:hi] = _quantile_from_counts(total, uniq, quant)
        else:
            num = {g: vals[pos[g]][draws[g]].sum(axis=1) for g in names}
            if stat == "ratio":
                assert den_arr is not None
                dsum = {g: den_arr[pos[g]][draws[g]].sum(axis=1) for g in names}
            else:
                dsum = {g: np.full(c, float(sizes[g])) for g in names}
            tot_n = sum(num.values())
            tot_d = sum(dsum.values())
            with np.errstate(invalid="ignore", divide="ignore"):
                for g in names:
                    g_reps[g][lo:hi] = np.where(dsum[g] > 0, num[g] / dsum[g], np.nan)
                    rd = tot_d - dsum[g]
                    r_reps[g][lo:hi] = np.where(rd > 0, (tot_n - num[g]) / np.where(rd > 0, rd, 1), np.nan)
                a_reps[lo:hi] = np.where(tot_d > 0, tot_n / tot_d, np.nan)
    groups = {}
    rests = {}
    for g in names:
        p = pos[g]
        groups[g] = (point(stat, vals[p], None if den_arr is None else den_arr[p]), g_reps[g])
        if rest:
            mask = np.ones(n_all, dtype=bool)
            mask[p] = False
            rests[g] = (point(stat, vals[mask], None if den_arr is None else den_arr[mask]), r_reps[g])
    return Replicates(groups=groups, rest=rests, all=(point(stat, vals, den_arr), a_reps), sizes=sizes)


def bootstrap(
    stat: str | StatFunction,
    vals: np.ndarray,
    den: np.ndarray | None = None,
    *,
    resamples: int = 1000,
    seed: int = 0,
    key: object = "",
) -> np.ndarray:
    """``resamples`` bootstrap replicates of ``stat`` over one sample.

    >>> reps = bootstrap("mean", np.arange(10.0), resamples=500, seed=0)
    >>> reps.shape, 3.0 < float(reps.mean()) < 6.0
    ((500,), True)
    """
    vals = np.asarray(vals, dtype=float)
    if vals.size == 0:
        return np.full(resamples, np.nan)
    r = replicates(
        stat, vals, np.full(vals.size, "all"), den, resamples=resamples, seed=seed, key=key, rest=False
    )
    return r.all[1]


def _interval(reps: np.ndarray, confidence: float) -> tuple[float, float]:
    r = reps[~np.isnan(reps)]
    if r.size == 0:
        return (float("nan"), float("nan"))
    a = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(r, [a, 1.0 - a])
    return (float(lo), float(hi))


# -- segment labels ------------------------------------------------------------------------------
def segment_labels(values: pd.Series, *, max_levels: int = 12, bins: int = 4) -> pd.Series:
    """Text labels for grouping: numbers with many distinct values become ``bins`` quantile
    bins ("Q1 (≤ 5,000)", ...); text with more than ``max_levels`` values keeps the most
    frequent ``max_levels - 1`` and groups the rest as "(other)"; nulls are "(missing)".

    >>> segment_labels(pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]), max_levels=3, bins=2).tolist()
    ['Q1 (≤ 4)', 'Q1 (≤ 4)', 'Q1 (≤ 4)', 'Q1 (≤ 4)', 'Q2 (≤ 8)', 'Q2 (≤ 8)', 'Q2 (≤ 8)', 'Q2 (≤ 8)']
    """
    s = values
    if s.dtype == bool or str(s.dtype) == "boolean":
        return s.astype(object).where(s.notna(), MISSING).map(str)
    numeric = pd.api.types.is_numeric_dtype(s)
    distinct = s.dropna().unique()
    if numeric and len(distinct) > max_levels:
        ranked = s.rank(method="average", pct=True)
        q = np.clip(np.ceil(ranked * bins), 1, bins)
        labels = pd.Series(MISSING, index=s.index, dtype=object)
        for b in range(1, bins + 1):
            mask = (q == b) & s.notna()
            if mask.any():
                top = float(s[mask].max())
                labels[mask] = f"Q{b} (≤ {_num(top)})"
        return labels
    out = s.astype(object).where(s.notna(), None)
    out = out.map(lambda v: MISSING if v is None else _text(v))
    counts = out[out != MISSING].value_counts()
    if len(counts) > max_levels:
        keep = set(counts.sort_values(ascending=False, kind="stable").index[: max_levels - 1])
        out = out.where(out.isin(keep) | (out == MISSING), OTHER)
    return out


def _num(v: float) -> str:
    if float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:,.4g}"


def _text(v: object) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


# -- comparison ---------------------------------------------------------------------------------
def compare(
    units: pd.DataFrame,
    by: str,
    metrics: Sequence[Metric],
    *,
    reference: str | None = None,
    seed: int = 0,
    resamples: int = 1000,
    confidence: float = 0.95,
    min_size: int = 10,
    labels: pd.Series | None = None,
    key: str = "",
) -> pd.DataFrame:
    """Compare ``metrics`` across the values of ``units[by]``.

    One row per (metric, segment): n (units with a value for the metric), value and its CI,
    the comparison value (the other units, or the ``reference`` segment), the difference
    segment − comparison with its CI (from the same stratified replicates, :func:`replicates`),
    and ``noise`` = the difference CI contains 0 or either side has fewer than ``min_size``
    units (``small``). A row with segment "(all)" gives each metric over all units. Metrics
    whose column is absent are skipped.
    """
    if by not in units.columns:
        raise ConfigError(f"no column '{by}' to compare; available: {', '.join(map(str, units.columns))}")
    if resamples < 10:
        raise ConfigError(f"use at least 10 bootstrap resamples, got {resamples}")
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be between 0 and 1, got {confidence}")
    seg = (labels if labels is not None else segment_labels(units[by])).astype(str)
    groups = sorted(seg.unique(), key=lambda g: (g == MISSING, g == OTHER, str(g)))
    if reference is not None and reference not in set(groups):
        raise ConfigError(
            f"reference segment '{reference}' not found in '{by}'; values: {', '.join(map(str, groups))}"
        )
    rows: list[dict[str, Any]] = []
    for m in metrics:
        if m.column not in units.columns or (m.denominator and m.denominator not in units.columns):
            continue
        v_all = pd.to_numeric(units[m.column].astype("Float64"), errors="coerce")
        d_all = (
            pd.to_numeric(units[m.denominator].astype("Float64"), errors="coerce") if m.denominator else None
        )
        valid = (v_all.notna() if d_all is None else (v_all.notna() & d_all.notna())).to_numpy(dtype=bool)
        if not valid.any():
            continue
        vv = v_all.to_numpy(dtype=float, na_value=np.nan)[valid]
        dd = None if d_all is None else d_all.to_numpy(dtype=float, na_value=np.nan)[valid]
        sv = seg.to_numpy()[valid]
        rep = replicates(m.stat, vv, sv, dd, resamples=resamples, seed=seed, key=f"{key}{m.name}")
        lo, hi = _interval(rep.all[1], confidence)
        rows.append(_row(m, "(all)", vv.size, rep.all[0], lo, hi))
        for g in groups:
            if g not in rep.groups:
                continue
            n = rep.sizes[g]
            val, reps = rep.groups[g]
            lo, hi = _interval(reps, confidence)
            if reference is not None and g == reference:
                rows.append(_row(m, g, n, val, lo, hi))
                continue
            if reference is None:
                other, oreps = rep.rest[g]
                n_other = vv.size - n
            elif reference in rep.groups:
                other, oreps = rep.groups[reference]
                n_other = rep.sizes[reference]
            else:
                other, oreps, n_other = float("nan"), np.full(resamples, np.nan), 0
            dlo, dhi = _interval(reps - oreps, confidence)
            small = n < min_size or n_other < min_size
            contains_zero = True if math.isnan(dlo) else not (dlo > 0 or dhi < 0)
            rows.append(
                _row(
                    m,
                    g,
                    n,
                    val,
                    lo,
                    hi,
                    other=other,
                    n_other=n_other,
                    diff=val - other,
                    diff_low=dlo,
                    diff_high=dhi,
                    noise=bool(contains_zero or small),
                    small=bool(small),
                )
            )
    cols = [
        "metric",
        "label",
        "unit",
        "kind",
        "better",
        "group",
        "n",
        "value",
        "ci_low",
        "ci_high",
        "other",
        "n_other",
        "diff",
        "diff_low",
        "diff_high",
        "noise",
        "small",
    ]
    return message_frame(rows, cols)


def _row(m: Metric, group: str, n: int, value: float, lo: float, hi: float, **more: Any) -> dict[str, Any]:
    base = {
        "metric": m.name,
        "label": m.label,
        "unit": m.unit,
        "kind": m.kind,
        "better": m.better,
        "group": group,
        "n": n,
        "value": value,
        "ci_low": lo,
        "ci_high": hi,
        "other": float("nan"),
        "n_other": 0,
        "diff": float("nan"),
        "diff_low": float("nan"),
        "diff_high": float("nan"),
        "noise": None,
        "small": None,
    }
    base.update(more)
    return base


# -- unit tables ------------------------------------------------------------------------------
SLA_NAMES = ("sla_met", "within_sla", "met_sla", "on_time", "sla_ok", "是否达标", "按时")
CSAT_NAMES = ("csat", "satisfaction", "满意度")
_TRUE = {"true", "1", "yes", "y", "met", "ok", "on time", "是", "达标"}
_FALSE = {"false", "0", "no", "n", "breached", "missed", "late", "否", "超时"}


def _bool_series(s: pd.Series) -> pd.Series:
    if s.dtype == bool or str(s.dtype) == "boolean":
        return s.astype("Float64")
    txt = s.astype(object).map(
        lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip().lower()
    )
    return txt.map(lambda v: 1.0 if v in _TRUE else (0.0 if v in _FALSE else np.nan)).astype("Float64")


def _find(log: EventLog, names: Sequence[str]) -> str | None:
    from flowlens.attributes import norm_name

    wanted = {norm_name(n) for n in names}
    for canon, src in log.attributes.items():
        if norm_name(src) in wanted or norm_name(canon) in wanted:
            return canon
    return None


def case_units(
    log: EventLog,
    *,
    attributes: Sequence[str] = (),
    tm: TimeModel | None = None,
    sla: str | pd.DataFrame | None = "auto",
    csat: str | None = "auto",
) -> pd.DataFrame:
    """The per-case unit table: case_id, lead_s, wait_s, proc_s, wait_proc_s, flow_efficiency,
    sla_met and csat (when such columns exist), and the case ``attributes`` (value at the
    case's first instance). Times come from the time model (built when not given).

    ``sla`` is "auto" (a recorded column such as sla_met), a column name, None, or a table of
    case_id and sla_met (1/0/missing) such as :meth:`flowlens.analysis.sla.SlaResult.met_flags`:
    the deadline rule's own verdict, so that segments and the deadline section share one
    definition."""
    from flowlens.attributes import case_attribute_table, resolve_column
    from flowlens.timing.model import time_model

    tm = tm or time_model(log)
    extra: dict[str, str] = {}
    for a in attributes:
        extra[a] = resolve_column(log, a, what="segment")
    flags = sla if isinstance(sla, pd.DataFrame) else None
    if flags is not None:
        sla_col = None
    else:
        sla_col = (
            _find(log, SLA_NAMES)
            if sla == "auto"
            else (resolve_column(log, sla, what="SLA") if sla else None)
        )
    csat_col = (
        _find(log, CSAT_NAMES)
        if csat == "auto"
        else (resolve_column(log, csat, what="CSAT") if csat else None)
    )
    cols = sorted({*extra.values(), *(c for c in (sla_col, csat_col) if c)})
    c = tm.cases
    base = c.select(
        "case_idx", "case_id", "lead_us", "proc_sum_us", "wait_sum_us", "flow_efficiency", "estimated"
    )
    if cols:
        base = base.left_join(case_attribute_table(log, cols), "case_idx").drop("case_idx_right")
    df = base.to_pandas().sort_values("case_idx").reset_index(drop=True)
    out = pd.DataFrame(
        {
            "case_id": df["case_id"],
            "lead_s": df["lead_us"] / 1e6,
            "wait_s": df["wait_sum_us"].astype("Float64") / 1e6,
            "proc_s": df["proc_sum_us"].astype("Float64") / 1e6,
            "flow_efficiency": df["flow_efficiency"].astype("Float64"),
            "start_estimated": df["estimated"].astype(bool),
        }
    )
    out["wait_proc_s"] = out["wait_s"] + out["proc_s"]
    if sla_col:
        out["sla_met"] = _bool_series(df[sla_col])
    if flags is not None:
        met = flags.drop_duplicates("case_id").set_index(flags["case_id"].drop_duplicates().astype(str))[
            "sla_met"
        ]
        out["sla_met"] = out["case_id"].astype(str).map(met).astype("Float64")
    if csat_col:
        out["csat"] = pd.to_numeric(df[csat_col], errors="coerce").astype("Float64")
    for name, col in extra.items():
        out[name] = df[col]
    return out


def issue_units(j: Journeys) -> pd.DataFrame:
    """The per-issue unit table (identified customers only): fcr as 0/1 (missing when censored),
    contacts, lead_s and the attributes copied by :func:`~flowlens.analysis.journeys.journeys`."""
    df = j.issues[j.issues["customer_known"]].copy()
    df["fcr"] = df["fcr"].astype("Float64")
    return df.reset_index(drop=True)


@dataclass
class SegmentComparison:
    """The result of :func:`segments`."""

    by: str
    table: pd.DataFrame
    reference: str | None
    seed: int
    resamples: int
    confidence: float
    #: segment -> number of cases
    sizes: dict[str, int] = field(default_factory=dict)
    #: segment (within processes: "process · segment") -> sorted lead times in seconds (for
    #: distribution charts)
    lead_times: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    #: the keys of ``lead_times`` -> number of cases
    cell_sizes: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    starts_estimated: bool = False
    #: the process column the comparison was made within (None: one process); the table's
    #: ``process`` column then says which process each row is about
    within: str | None = None

    def _where(self, r: Mapping[str, Any]) -> str:
        p = r.get("process")
        return f"Within {p}, " if self.within and p is not None and p == p else ""

    def _within(self, r: Mapping[str, Any], sentence: Message) -> Message:
        """``sentence`` said of the row's process when the comparison is made within processes."""
        p = r.get("process")
        if self.within and p is not None and p == p:
            return M_("Within {process}, {sentence}", process=p, sentence=sentence)
        return sentence

    def sentences(self, *, limit: int | None = None) -> list[str]:
        """Plain-language findings: distinguishable differences first, largest relative first."""
        t = self.table[(self.table["group"] != "(all)") & (self.table["noise"] == False)]  # noqa: E712
        t = t.assign(rel=(t["diff"] / t["other"].abs().replace(0, np.nan)).abs().fillna(0))
        t = t.sort_values(["rel", "metric", "process", "group"], ascending=[False, True, True, True])
        out = []
        metrics = {m.name: m for m in (*CASE_METRICS, *ISSUE_METRICS)}
        for r in t.to_dict("records"):
            m = metrics.get(r["metric"]) or Metric(r["metric"], r["label"], r["metric"], kind=r["kind"])
            label = r["label"] or m.label
            versus = M_("segment {name}", name=self.reference) if self.reference else M_("the rest")
            text = M_(
                "{column} = {group}: {label} {value} vs {other} for {versus} ({diff}, 95 % CI {low} to {high}).",
                column=self.by,
                group=r["group"],
                label=label,
                value=m.value_text(r["value"]),
                other=m.value_text(r["other"]),
                versus=versus,
                diff=m.diff_text(r["diff"]),
                low=m.diff_text(r["diff_low"]),
                high=m.diff_text(r["diff_high"]),
            )
            out.append(self._within(r, text))
        return out[:limit] if limit else out

    def headline(self) -> str:
        t = self.table
        lead = t[(t["metric"] == "lead_median") & (t["group"] != "(all)")]
        if lead.empty:
            return M_("No lead times to compare by {column}.", column=self.by)
        real = lead[lead["noise"] == False]  # noqa: E712
        if real.empty:
            span = {
                "column": self.by,
                "low": duration_value(lead["value"].min()),
                "high": duration_value(lead["value"].max()),
            }
            if self.within:
                return M_(
                    "Median lead times by {column} within {within} values range from {low} to {high}, but no "
                    "segment differs from the rest beyond noise (bootstrap 95 % CI).",
                    within=self.within,
                    **span,
                )
            return M_(
                "Median lead times by {column} range from {low} to {high}, but no segment differs from the "
                "rest beyond noise (bootstrap 95 % CI).",
                **span,
            )
        rel = (real["diff"] / real["other"].abs().replace(0, np.nan)).fillna(0)
        real = real.assign(rel=rel)
        slow = real.sort_values(["rel", "process", "group"], ascending=[False, True, True]).iloc[0]
        fast = real.sort_values(["rel", "process", "group"], ascending=[True, True, True]).iloc[0]
        if slow["diff"] > 0:
            text = self._within(
                slow,
                M_(
                    "{column} = {group} cases take longest: median {value} vs {other} for the rest",
                    column=self.by,
                    group=slow["group"],
                    value=duration_value(slow["value"]),
                    other=duration_value(slow["other"]),
                ),
            )
        else:
            text = self._within(
                fast,
                M_(
                    "{column} = {group} cases are fastest: median {value}",
                    column=self.by,
                    group=fast["group"],
                    value=duration_value(fast["value"]),
                ),
            )
        if self.within:
            return M_(
                "{sentence} ({n} of {total} segments differ beyond noise within processes (column {within}), "
                "bootstrap 95 % CI).",
                sentence=text,
                n=len(real),
                total=len(lead),
                within=self.within,
            )
        return M_(
            "{sentence} ({n} of {total} segments differ beyond noise, bootstrap 95 % CI).",
            sentence=text,
            n=len(real),
            total=len(lead),
        )

    def to_dict(self) -> dict[str, Any]:
        t = self.table.astype(object).where(self.table.notna(), None)
        return {
            "by": self.by,
            "within": self.within,
            "reference": self.reference,
            "seed": self.seed,
            "resamples": self.resamples,
            "confidence": self.confidence,
            "sizes": self.sizes,
            "starts_estimated": self.starts_estimated,
            "notes": self.notes,
            "rows": [
                {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                for r in t.to_dict("records")
            ],
            "findings": self.sentences(),
        }


def segments(
    log: EventLog,
    by: str,
    *,
    metrics: Sequence[Metric] | None = None,
    reference: str | None = None,
    seed: int = 0,
    resamples: int = 1000,
    confidence: float = 0.95,
    min_size: int = 10,
    tm: TimeModel | None = None,
    journeys: Journeys | bool | None = True,
    journey_options: dict[str, Any] | None = None,
    process: str | None = "auto",
    sla: str | pd.DataFrame | None = "auto",
    sla_label: str | None = None,
) -> SegmentComparison:
    """Every headline metric of ``log`` per value of the case attribute ``by``.

    Case metrics (:data:`CASE_METRICS`) use the time model; issue metrics
    (:data:`ISSUE_METRICS`, FCR and contacts per issue) use the customer's view, where an
    issue's segment is its first case's (``journeys=False`` skips them). A numeric ``by`` with
    many values is split into quartiles.

    When the log holds several processes (``process``: "auto" detects the process column,
    :func:`flowlens.analysis.processes.detect_processes`; None turns it off) case metrics are
    compared **within each process**: a segment against the rest of its process, never across
    processes (the table's ``process`` column). ``sla`` gives the "SLA met" metric (see
    :func:`case_units`; a deadline rule's per-case verdict, labelled ``sla_label``).

    >>> import pandas as pd, flowlens
    >>> df = pd.DataFrame({"case": [str(i) for i in range(40)], "activity": "a",
    ...     "start": pd.Timestamp("2024-01-01"), "timestamp": [pd.Timestamp("2024-01-01")
    ...     + pd.Timedelta(hours=1 + 10 * (i % 2)) for i in range(40)], "tier": ["gold", "std"] * 20})
    >>> res = segments(flowlens.read_log(df), "tier", resamples=200, journeys=False)
    >>> res.table.query("metric == 'lead_median'")[["group", "value", "noise"]].values.tolist()
    [['(all)', 21600.0, None], ['gold', 3600.0, False], ['std', 39600.0, False]]
    """
    from dataclasses import replace as _replace

    from flowlens.analysis.journeys import journeys as build_journeys
    from flowlens.analysis.processes import case_processes, detect_processes
    from flowlens.attributes import resolve_column
    from flowlens.timing.model import time_model

    col = resolve_column(log, by, what="segment")
    tm = tm or time_model(log)
    cases = case_units(log, attributes=[col], tm=tm, sla=sla)
    labels = segment_labels(cases[col])
    chosen = list(metrics) if metrics is not None else [*CASE_METRICS, *ISSUE_METRICS]
    if sla_label:
        chosen = [_replace(m, label=sla_label) if m.name == "sla_met" else m for m in chosen]
    elif "sla_met" in cases.columns and isinstance(sla, str):
        sla_src = _find(log, SLA_NAMES) if sla == "auto" else resolve_column(log, sla, what="SLA")
        name = log.attributes.get(sla_src, sla_src) if sla_src else "?"
        chosen = [
            _replace(m, label=M_("SLA met (as recorded in column {name})", name=name))
            if m.name == "sla_met"
            else m
            for m in chosen
        ]
    case_metrics = [m for m in chosen if m.unit == "case"]
    issue_metrics = [m for m in chosen if m.unit == "issue"]
    split = detect_processes(log, process) if process is not None else None
    notes: list[str] = []
    if split is not None and split.column == col:
        split = None  # comparing the processes themselves
    if split is None:
        table = compare(
            cases,
            col,
            case_metrics,
            reference=reference,
            seed=seed,
            resamples=resamples,
            confidence=confidence,
            min_size=min_size,
            labels=labels,
        )
        table.insert(0, "process", None)
        keys = labels.astype(str)
    else:
        procs = case_processes(log, split).set_index("case_id")["process"]
        pcol = cases["case_id"].map(procs).fillna("(no process)").astype(str)
        parts = []
        sizes = pcol.value_counts()
        order = sorted(sizes.index, key=lambda p: (-int(sizes[p]), str(p)))
        alone = []
        for p in order:
            mask = (pcol == p).to_numpy()
            lab = labels[mask]
            if lab[lab != MISSING].nunique() < 2:
                alone.append(p)
                continue
            sub = compare(
                cases[mask].reset_index(drop=True),
                col,
                case_metrics,
                reference=reference if reference in set(lab) else None,
                seed=seed,
                resamples=resamples,
                confidence=confidence,
                min_size=min_size,
                labels=lab.reset_index(drop=True),
                key=f"{p}\x00",
            )
            sub.insert(0, "process", p)
            parts.append(sub)
        table = pd.concat(parts, ignore_index=True) if parts else compare(cases.iloc[0:0], col, case_metrics)
        if "process" not in table.columns:
            table.insert(0, "process", None)
        notes.append(
            M_(
                "the log holds {n} processes (column {column}): each segment is compared with the rest "
                "of its own process, never across processes",
                n=split.n,
                column=split.name,
            )
        )
        if alone:
            notes.append(
                M_(
                    "{column} has a single value (or none) in {processes}: nothing to compare there",
                    column=by,
                    processes=", ".join(alone),
                )
            )
        keys = pcol + " · " + labels.astype(str)
    j = None
    if issue_metrics and journeys is True and "customer" not in (journey_options or {}):
        from flowlens.analysis.journeys import customer_key

        key = customer_key(log)
        if not key.persons:
            # without a person-level customer key an "issue" is a case: the issue metrics would
            # only repeat the case metrics (or chain an organisation's cases)
            journeys = False
            notes.append(
                M_(
                    "issue metrics (FCR, contacts per issue) left out: {reason}",
                    reason=key.reason if key.column else M_("no customer column to link cases into issues"),
                )
            )
    if issue_metrics and journeys is not False:
        try:
            j = (
                journeys
                if not isinstance(journeys, bool)
                else build_journeys(log, attributes=[col], **(journey_options or {}))
            )
        except ConfigError as exc:
            # no person-level customer key: the per-issue metrics are left out, with the reason
            notes.append(
                M_(
                    "issue metrics (FCR, contacts per issue) left out: {reason}",
                    reason=exc.message.removeprefix("journeys left out: "),
                )
            )
    if j is not None:
        if col not in j.issues.columns:
            raise ConfigError(
                f"the journeys given have no column '{col}': build them with attributes=['{col}']"
            )
        iu = issue_units(j)
        if len(iu):
            # Issue segments use the same labels as cases (quartile edges of the case values).
            lab_map = dict(zip(cases["case_id"], labels, strict=True))
            ilabels = iu["issue_id"].map(lab_map).fillna(MISSING)
            if split is None:
                more = compare(
                    iu,
                    col,
                    issue_metrics,
                    reference=reference if reference in set(ilabels) else None,
                    seed=seed,
                    resamples=resamples,
                    confidence=confidence,
                    min_size=min_size,
                    labels=ilabels,
                )
                more.insert(0, "process", None)
                table = pd.concat([table, more], ignore_index=True)
            else:
                # an issue belongs to the process of its first case (whose id names the issue)
                iproc = iu["issue_id"].map(procs).fillna("(no process)").astype(str)
                for p in order:
                    mask = (iproc == p).to_numpy()
                    lab = ilabels[mask]
                    if p in alone or not mask.any() or lab[lab != MISSING].nunique() < 2:
                        continue
                    more = compare(
                        iu[mask].reset_index(drop=True),
                        col,
                        issue_metrics,
                        reference=reference if reference in set(lab) else None,
                        seed=seed,
                        resamples=resamples,
                        confidence=confidence,
                        min_size=min_size,
                        labels=lab.reset_index(drop=True),
                        key=f"{p}\x00",
                    )
                    more.insert(0, "process", p)
                    table = pd.concat([table, more], ignore_index=True)
                notes.append(
                    M_(
                        "an issue (the customer's view, which can span processes) is compared within the process "
                        "of its first case"
                    )
                )
        notes += j.notes
        if j is not journeys:  # built here: nothing else joins its issues
            j.close(log)
    if tm.starts_estimated:
        notes.append(
            M_(
                "some start times were estimated (completion-only instances): waiting share and flow "
                "efficiency use them"
            )
        )
    sizes_all = keys.value_counts().to_dict()
    lead = {str(g): np.sort(cases.loc[keys == g, "lead_s"].to_numpy(dtype=float)) for g in sizes_all}
    seg_sizes = labels.value_counts().to_dict()
    return SegmentComparison(
        by=log.attributes.get(col, col),
        table=table,
        reference=reference,
        seed=seed,
        resamples=resamples,
        confidence=confidence,
        sizes={str(k): int(v) for k, v in seg_sizes.items()},
        lead_times=lead,
        cell_sizes={str(k): int(v) for k, v in sizes_all.items()},
        notes=notes,
        starts_estimated=tm.starts_estimated,
        within=split.name if split is not None else None,
    )


__all__ = [
    "CASE_METRICS",
    "ISSUE_METRICS",
    "Metric",
    "Replicates",
    "SegmentComparison",
    "StatFunction",
    "bootstrap",
    "case_units",
    "compare",
    "issue_units",
    "point",
    "replicates",
    "segment_labels",
    "segments",
]
