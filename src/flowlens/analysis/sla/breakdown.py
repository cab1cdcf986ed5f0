"""Where breached cases spent their deadline time, complaint categories with their time
profile, and the bundle the CLI and the report use (:class:`SlaAnalysis`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from flowlens.analysis.sla.engine import SlaResult, evaluate_sla, log_column
from flowlens.analysis.sla.rules import (
    DAY_US,
    SlaRule,
)
from flowlens.errors import ConfigError
from flowlens.i18n import M_, NM_, Message, join_messages
from flowlens.units import Value, count_value, duration_value, percent_value

if TYPE_CHECKING:
    from flowlens.log import EventLog
    from flowlens.timing.model import TimeModel


# -- where breached cases spent their time ------------------------------------------------------


@dataclass
class TimeIn:
    """Time inside the deadline window per activity (and per waiting cause) for breached vs
    on-time cases."""

    #: group (breached | on_time | open), activity, cases, instances, wait_s, proc_s, time_s,
    #: share (of the group's time), wait_share (of the activity's time)
    activities: pd.DataFrame
    #: group, cause, wait_s, share (of the group's waiting); None without a cause analysis
    causes: pd.DataFrame | None
    starts_estimated: bool
    note: str = ""

    def top(self, group: str = "breached") -> dict[str, Any] | None:
        d = self.activities[self.activities.group == group]
        if d.empty or float(d.time_s.sum()) <= 0:
            return None
        r = d.iloc[0]
        return {
            "activity": r.activity,
            "share": float(r.share),
            "wait_share": float(r.wait_share),
            "cases": int(r.cases),
        }


def time_in_window(result: SlaResult, tm: TimeModel, *, causes: Any = None) -> TimeIn:
    """Waiting and processing per activity (time model instances ending inside each case's
    deadline window [clock start, clock stop or as-of]) for breached and on-time cases.

    ``causes``: a waiting-cause analysis (:func:`flowlens.analysis.waiting.waiting_causes`) or
    its per-instance table (eid plus ``<cause>_us`` columns); when given, the breached cases'
    waiting is also split by cause. Without it ``causes`` in the result is None.
    """
    import ibis

    c = result.cases
    grp = ibis.ifelse(c.status == "breached", "breached", ibis.ifelse(c.status == "open", "open", "on_time"))
    w = c.select(
        w_case="case_idx",
        w_group=grp,
        w_cs="clock_start_us",
        w_end=c.clock_stop_us.fill_null(result.as_of_us),
    )
    i = tm.instances
    j = i.join(w, i.case_idx == w.w_case)
    j = j.filter((j.end_us >= j.w_cs) & (j.end_us <= j.w_end))
    j = j.select(
        "eid",
        "case_idx",
        "activity",
        group=j.w_group,
        wait=j.wait_us.fill_null(0),
        proc=j.proc_us.fill_null(0),
    )
    j = j.select(*j.columns)
    df = (
        j.group_by(["group", "activity"])
        .aggregate(
            cases=j.case_idx.nunique(), instances=j.count(), wait_us=j.wait.sum(), proc_us=j.proc.sum()
        )
        .to_pandas()
    )
    df["wait_s"] = df.wait_us.astype(float) / 1e6
    df["proc_s"] = df.proc_us.astype(float) / 1e6
    df["time_s"] = df.wait_s + df.proc_s
    tot = df.groupby("group").time_s.transform("sum")
    df["share"] = (df.time_s / tot).where(tot > 0, 0.0)
    df["wait_share"] = (df.wait_s / df.time_s).where(df.time_s > 0, 0.0)
    df = df.sort_values(["group", "time_s", "activity"], ascending=[True, False, True]).reset_index(drop=True)
    df = df[["group", "activity", "cases", "instances", "wait_s", "proc_s", "time_s", "share", "wait_share"]]
    cause_df = None
    note = ""
    if causes is not None:
        per = getattr(causes, "causes", causes)
        cols = [x.removesuffix("_us") for x in per.columns if x.endswith("_us") and x != "wait_us"]
        if not cols:
            raise ConfigError("the cause table needs eid and <cause>_us columns")
        k = j.select(k_eid="eid", k_group="group")
        pj = per.join(k, per.eid == k.k_eid)
        agg = pj.group_by("k_group").aggregate(**{x: pj[f"{x}_us"].sum() for x in cols}).to_pandas()
        long = agg.melt(id_vars="k_group", var_name="cause", value_name="wait_us").rename(
            columns={"k_group": "group"}
        )
        long["wait_s"] = long.wait_us.astype(float) / 1e6
        t2 = long.groupby("group").wait_s.transform("sum")
        long["share"] = (long.wait_s / t2).where(t2 > 0, 0.0)
        cause_df = long.sort_values(["group", "wait_s"], ascending=[True, False])[
            ["group", "cause", "wait_s", "share"]
        ]
        cause_df = cause_df.reset_index(drop=True)
    else:
        note = M_("waiting causes not split (run with a waiting-cause analysis: flowlens sla --causes)")
    return TimeIn(activities=df, causes=cause_df, starts_estimated=tm.starts_estimated, note=note)


# -- complaint categories --------------------------------------------------------------------------

#: cases a category needs over full periods before a trend is given
MIN_TREND_CASES = 20
#: the per-case columns a deadline analysis reports (JSON and the --cases-csv export)
CASE_COLUMNS = (
    "case_id",
    "clock_start",
    "clock_stop",
    "status",
    "extension",
    "deadline_base",
    "deadline",
    "elapsed",
    "margin",
    "paused_us",
)
CATEGORY_COLUMNS = (
    "complaint_category",
    "category",
    "complaint_type",
    "reason",
    "issue",
    "投诉类别",
    "投诉类型",
    "投诉分类",
    "类别",
)


def detect_category(log: EventLog) -> str | None:
    """The first of the usual complaint-category columns present in ``log`` (source name)."""
    by_lower = {src.lower(): src for src in log.attributes.values()}
    for cand in CATEGORY_COLUMNS:
        if cand.lower() in by_lower:
            return by_lower[cand.lower()]
    return None


@dataclass
class CategoryProfile:
    """High-frequency categories with their time profile and trend."""

    column: str
    period: str
    #: category, cases, share, lead_median_s, lead_p90_s, elapsed_median, breached, breach_rate,
    #: open, trend_per_period (change in cases per period relative to the mean, OLS over full
    #: periods), trend
    table: pd.DataFrame
    #: category, period, cases, breached, lead_median_s
    by_period: pd.DataFrame
    #: first/last periods the log covers only in part (left out of the trend)
    partial_periods: list[str]
    #: leading/trailing periods with under half the busiest period's cases (left out of the trend)
    edge_periods: list[str]
    multi_valued_cases: int


def category_profile(
    result: SlaResult, column: str | None = None, *, period: str = "auto", top: int | None = None
) -> CategoryProfile | None:
    """Per category (a case attribute): count, share, median/p90 lead time, SLA breach rate and
    the trend per week or month (of the clock start, in the rule's zone); None when ``column``
    is None and no usual category column exists.

    The category of a case is its largest value of the column (cases with several values are
    counted in ``multi_valued_cases``). Lead time is the case's lead time (docs/methods.md 3.3).
    """
    from flowlens.relational import case_table

    log = result.log
    src = column or detect_category(log)
    if src is None:
        return None
    col = log_column(log, src, "complaint categories")
    if period not in ("auto", "week", "month"):
        raise ConfigError(f"period must be auto, week or month, got '{period}'")
    t = log.table
    cat = t.group_by("case_idx").aggregate(
        category=t[col].cast("string").max(), n_values=t[col].cast("string").nunique()
    )
    lead = case_table(t).select(l_case="case_idx", lead_us="lead_us")
    c = result.cases
    j = c.join(cat, "case_idx")
    j = j.join(lead, j.case_idx == lead.l_case)
    if period == "auto":
        span = c.aggregate(lo=c.clock_start_us.min(), hi=c.clock_start_us.max()).to_pandas().iloc[0]
        period = "week" if (int(span.hi) - int(span.lo)) <= 183 * DAY_US else "month"
    pcol = j.period_week if period == "week" else j.period_month
    j = j.select(
        category=j.category.fill_null("(none)"),
        period=pcol,
        lead_us=j.lead_us,
        elapsed=j.elapsed,
        breached=(j.status == "breached").cast("int64"),
        open=(j.status == "open").cast("int64"),
        multi=(j.n_values > 1).cast("int64"),
    )
    j = j.select(*j.columns)
    table = (
        j.group_by("category")
        .aggregate(
            cases=j.count(),
            lead_median_us=j.lead_us.median(),
            lead_p90_us=j.lead_us.quantile(0.9),
            elapsed_median=j.elapsed.median(),
            breached=j.breached.sum(),
            open=j.open.sum(),
            multi=j.multi.sum(),
        )
        .to_pandas()
    )
    by_period = (
        j.group_by(["category", "period"])
        .aggregate(cases=j.count(), breached=j.breached.sum(), lead_median_us=j.lead_us.median())
        .to_pandas()
        .sort_values(["category", "period"])
        .reset_index(drop=True)
    )
    total = int(table.cases.sum())
    table["share"] = table.cases / total if total else np.nan
    table["lead_median_s"] = table.lead_median_us.astype(float) / 1e6
    table["lead_p90_s"] = table.lead_p90_us.astype(float) / 1e6
    table["breach_rate"] = table.breached / table.cases
    by_period["lead_median_s"] = by_period.lead_median_us.astype(float) / 1e6
    # partial first/last periods distort a trend: fit on full periods only
    periods = sorted(by_period.period.dropna().unique())
    partial = _partial_periods(result, periods, period)
    full = [p for p in periods if p not in partial]
    # run-in and run-out at the log's edges (cases still arriving, or only the stragglers of a
    # closed window) are not a trend: leading and trailing periods with fewer than half the
    # cases of the busiest period are left out too
    totals = by_period.groupby("period").cases.sum().reindex(full, fill_value=0)
    edge: list[str] = []
    if len(totals):
        low = totals < 0.5 * float(totals.max())
        i, j = 0, len(full)
        while i < j and low.iloc[i]:
            i += 1
        while j > i and low.iloc[j - 1]:
            j -= 1
        edge = full[:i] + full[j:]
        full = full[i:j]
    trends = []
    for cat_value in table.category:
        d = by_period[by_period.category == cat_value].set_index("period").cases.reindex(full, fill_value=0)
        # a trend of a handful of cases is noise: only categories with MIN_TREND_CASES
        trends.append(_trend(d.to_numpy(dtype=float)) if d.sum() >= MIN_TREND_CASES else None)
    table["trend_per_period"] = trends
    table["trend"] = [
        "–"
        if v is None or not np.isfinite(v)
        else ("rising" if v > 0.05 else "falling" if v < -0.05 else "flat")
        for v in trends
    ]
    table = table.sort_values(["cases", "category"], ascending=[False, True]).reset_index(drop=True)
    if top is not None:
        table = table.head(top)
    multi = int(table.multi.sum())
    table = table[
        [
            "category",
            "cases",
            "share",
            "lead_median_s",
            "lead_p90_s",
            "elapsed_median",
            "breached",
            "breach_rate",
            "open",
            "trend_per_period",
            "trend",
        ]
    ]
    by_period = by_period[["category", "period", "cases", "breached", "lead_median_s"]]
    return CategoryProfile(
        column=src,
        period=period,
        table=table,
        by_period=by_period,
        partial_periods=partial,
        edge_periods=edge,
        multi_valued_cases=multi,
    )


def _partial_periods(result: SlaResult, periods: list[str], period: str) -> list[str]:
    if not periods:
        return []
    c = result.cases
    span = c.aggregate(lo=c.clock_start_us.min(), hi=c.clock_start_us.max()).to_pandas().iloc[0]
    zone = ZoneInfo(result.timezone)
    lo = datetime.fromtimestamp(int(span.lo) / 1e6, tz=UTC).astimezone(zone).date()
    hi = datetime.fromtimestamp(int(span.hi) / 1e6, tz=UTC).astimezone(zone).date()
    out = []
    if period == "week":
        if lo.weekday() != 0:
            out.append((lo - timedelta(days=lo.weekday())).isoformat())
        if hi.weekday() != 6:
            out.append((hi - timedelta(days=hi.weekday())).isoformat())
    else:
        if lo.day != 1:
            out.append(f"{lo.year:04d}-{lo.month:02d}")
        nxt = hi + timedelta(days=1)
        if nxt.month == hi.month:
            out.append(f"{hi.year:04d}-{hi.month:02d}")
    return sorted(set(out) & set(periods))


def _trend(counts: np.ndarray) -> float | None:
    """OLS slope of counts per period divided by their mean (relative change per period).

    In closed form on the integer counts, so the one rounding is the final division: a least-squares
    solver's last digit depends on the machine's numpy and BLAS, and the report must not.

    >>> _trend(np.array([10.0, 20.0, 30.0]))
    0.5
    """
    n = counts.size
    c = counts.astype(np.int64)
    total = int(c.sum())
    if n < 3 or total <= 0:
        return None
    # slope = sum((x - mean x) * y) / sum((x - mean x)^2) with x = 0..n-1, doubled to stay in integers:
    # sum((2x - (n - 1)) * y) / 2 over n (n^2 - 1) / 12; divided by the mean total / n
    doubled = int(((2 * np.arange(n, dtype=np.int64) - (n - 1)) * c).sum())
    return 6 * doubled / ((n * n - 1) * total)


# -- everything for one rule: CLI and report -------------------------------------------------------


@dataclass
class SlaAnalysis:
    """Compliance, where breached cases spent their time, and complaint categories, for one rule."""

    result: SlaResult
    time_in: TimeIn | None = None
    categories: CategoryProfile | None = None

    def lead(self) -> str:
        """One plain-language sentence (the report's lead): the SLA-met share (deadline kept,
        base or extended, among cases whose outcome is known; methods 12.4), its parts, and the
        open cases."""
        s = self.result.summary()
        n = s["cases"]
        rule = self.result.rule
        scope = s.get("scope") or {}
        if not n:
            return M_("No case starts the {rule} clock.", rule=rule.name)
        c = s["counts"]

        def pct(x: float, spec: str = ".1f") -> Value:
            return percent_value(x, f"{format(100 * x, spec)} %", int(spec[1]))

        who = NM_("{count} case", "{count} cases", n, count=count_value(n, f"{n:,}"))
        if scope.get("by", "all") != "all" and rule.applies_to is not None:
            who = M_("{n} {scope}", n=count_value(n, f"{n:,}"), scope=rule.applies_to.describe())
        parts: list[Message] = []
        if s["decided"]:
            within = c["met"] / s["decided"]
            of = (
                M_("Of {who}", who=who)
                if s["decided"] == n
                else M_(
                    "Of the {n} of {who} whose outcome is known",
                    n=count_value(s["decided"], f"{s['decided']:,}"),
                    who=who,
                )
            )
            figures = {
                "of": of,
                "met": pct(s["met_share"] or 0),
                "within": pct(within),
                "allowance": rule.allowance_text(),
            }
            if c["extended"]:
                head = M_(
                    "{of}, {met} met their deadline ({within} within {allowance}, {extended} within an extended deadline)",
                    extended=pct(c["extended"] / s["decided"]),
                    **figures,
                )
            else:
                head = M_("{of}, {met} met their deadline ({within} within {allowance})", **figures)
            parts.append(head)
            br = c["breached"]
            late = br - s["breached_while_open"]
            text = M_("{share} breached", share=pct(br / s["decided"]))
            if s["breached_while_open"]:
                text = M_(
                    "{share} breached ({late} answered late, {open} unanswered past the deadline)",
                    share=pct(br / s["decided"]),
                    late=count_value(late, f"{late:,}"),
                    open=count_value(s["breached_while_open"], f"{s['breached_while_open']:,}"),
                )
            top = self.time_in.top("breached") if self.time_in is not None and br else None
            if top is not None:
                where = {"breached": text, "activity": top["activity"], "share": pct(top["share"], ".0f")}
                text = (
                    M_(
                        "{breached}, mostly in {activity} ({share} of breached cases' time, mostly waiting)",
                        **where,
                    )
                    if top["wait_share"] >= 0.5
                    else M_("{breached}, mostly in {activity} ({share} of breached cases' time)", **where)
                )
            parts.append(text)
        else:
            parts.append(M_("none of {who} has reached its deadline or a response yet", who=who))
        if c["open"]:
            parts.append(
                M_(
                    "{n} still open within their deadline (the next deadline in {time})",
                    n=count_value(c["open"], f"{c['open']:,}"),
                    time=duration_value(s["next_breach_s"]),
                )
            )
        return M_("{parts} ({rule}).", parts=join_messages(parts, "; "), rule=rule.name)

    def to_dict(self, *, cases: bool = False) -> dict[str, Any]:
        r = self.result
        out: dict[str, Any] = {
            "rule": {
                "name": r.rule.name,
                "description": r.rule.description,
                "jurisdiction": r.rule.jurisdiction,
                "source": r.rule.source,
                "verify": r.rule.verify,
                "unit": r.rule.unit,
                "base": r.rule.base,
                "extensions": [asdict(x) for x in r.rule.extensions],
                "pauses": [asdict(p) for p in r.rule.pauses],
                "day_count": r.rule.day_count,
                "deadline_at": r.rule.deadline_at,
                "receipt_cutoff": r.rule.receipt_cutoff,
                "received": r.rule.received,
                "applies_to": asdict(r.rule.applies_to) if r.rule.applies_to else None,
            },
            "summary": r.summary(),
            "lead": self.lead(),
            "margin_histogram_unit": r.rule.unit_word,
        }
        if self.time_in is not None:
            out["time_in_window"] = {
                "activities": _records(self.time_in.activities),
                "causes": None if self.time_in.causes is None else _records(self.time_in.causes),
                "starts_estimated": self.time_in.starts_estimated,
                "note": self.time_in.note,
            }
        if self.categories is not None:
            cp = self.categories
            out["categories"] = {
                "column": cp.column,
                "period": cp.period,
                "table": _records(cp.table),
                "by_period": _records(cp.by_period),
                "partial_periods": cp.partial_periods,
                "edge_periods": cp.edge_periods,
                "multi_valued_cases": cp.multi_valued_cases,
            }
        if cases:
            df = r.frame()
            keep = list(CASE_COLUMNS)
            out["cases"] = [
                {
                    k: (None if pd.isna(v) else (v.isoformat() if hasattr(v, "isoformat") else v))
                    for k, v in row.items()
                }
                for row in df[keep].to_dict("records")
            ]
        return out


def sla_analysis(
    log: EventLog,
    rule: SlaRule,
    *,
    tm: TimeModel | None = None,
    causes: Any = None,
    category: str | None = "auto",
    period: str = "auto",
    as_of: str | int | datetime | None = None,
    process: str | None = "auto",
) -> SlaAnalysis:
    """:func:`evaluate_sla`, then :func:`time_in_window` (when a time model is given) and
    :func:`category_profile` (``category="auto"`` detects the column; None skips it).

    >>> import flowlens, pandas as pd
    >>> from flowlens.analysis.sla import get_preset
    >>> df = pd.DataFrame({"case": ["1", "1"], "activity": ["Receive", "Send Final Response"],
    ...     "category": ["card", "card"], "timestamp": ["2024-03-01 10:00", "2024-03-05 10:00"]})
    >>> a = sla_analysis(flowlens.read_log(df), get_preset("US_CFPB"))
    >>> a.lead()
    'Of 1 case, 100.0 % met their deadline (100.0 % within 15 days); 0.0 % breached (US_CFPB).'
    >>> a.categories.table[["category", "cases", "breach_rate"]].values.tolist()
    [['card', 1, 0.0]]
    """
    res = evaluate_sla(log, rule, as_of=as_of, process=process)
    ti = time_in_window(res, tm, causes=causes) if tm is not None else None
    cats = None
    if category is not None:
        cats = category_profile(res, None if category == "auto" else category, period=period)
    return SlaAnalysis(result=res, time_in=ti, categories=cats)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain Python values, missing values as None (valid JSON, no NaN)."""
    out = df.astype(object).where(df.notna(), None).to_dict("records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in out]
