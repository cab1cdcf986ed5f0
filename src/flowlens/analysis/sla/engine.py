"""SLA evaluation in the engine: clock start and stop, pauses, deadlines, status per case.

Days are counted on a small *day table* of the rule's zone (local midnight of every day, working
or not, and the number of working days before it), which is joined to the cases: an instant
finds its local day through its UTC day bucket (an equi-join plus a range filter), a deadline
day by its ordinal (calendar days) or by its working-day rank (business days). Pauses in
business days move the deadline along the *working-day clock* R(t): one unit per working day
before t's day plus the elapsed share of t's day if it is a working day. Everything is an Ibis
expression, so DuckDB and Spark give the same results.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from flowlens.analysis.sla.rules import (
    CASE_END,
    CASE_START,
    DAY_US,
    HOUR_US,
    STATUSES,
    Extension,
    Scope,
    SlaRule,
    parse_clock,
    parse_zone,
    present_names,
    resolve_names,
    working_calendar,
)
from flowlens.errors import ConfigError
from flowlens.i18n import M_
from flowlens.timing.calendars import WorkCalendar
from flowlens.timing.enablement import drop_tables
from flowlens.units import count_value

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)

if TYPE_CHECKING:
    import ibis

    from flowlens.log import EventLog


def log_column(log: EventLog, column: str, what: str) -> str:
    """The canonical attribute column a rule names (canonical or source name); a
    :class:`~flowlens.errors.ConfigError` listing the attributes otherwise.

    >>> import pandas as pd, flowlens
    >>> log = flowlens.read_log(pd.DataFrame({"case": ["1"], "activity": ["a"],
    ...     "timestamp": ["2024-01-01"], "Received": ["2024-01-01"]}))
    >>> log_column(log, "Received", "the received time") in log.attributes
    True
    """
    if column in log.attributes:
        return column
    for canon, src in log.attributes.items():
        if src == column:
            return canon
    raise ConfigError(
        f"no column '{column}' for {what}; available: {', '.join(sorted(log.attributes.values())) or 'none'}"
    )


def _find_column(log: EventLog, column: str) -> str | None:
    try:
        return log_column(log, column, "")
    except ConfigError:
        return None


# -- the day table: local days, working days and the working-day clock -----------------------


@dataclass
class _Days:
    """Local days of the rule's zone over a range, as small tables for engine joins.

    ``days``: day (ordinal since 1970-01-01), start_us, end_us, len_us, working, wbefore (working
    days before this day within the table), week (Monday, ISO), month (YYYY-MM).
    ``by_bucket``: the same rows keyed by every UTC day bucket they overlap (equi-join + range
    filter locates an instant). ``ranks``: working days keyed by wbefore.
    """

    days: pd.DataFrame
    by_bucket: pd.DataFrame
    ranks: pd.DataFrame
    first: date
    last: date


def _day_table(tz: str, first: date, last: date, calendar: WorkCalendar | None) -> _Days:
    zone = parse_zone(tz)
    n = (last - first).days + 1
    dates = [first + timedelta(days=i) for i in range(n + 1)]
    starts = np.array(
        [(datetime.combine(d, time(0), tzinfo=zone) - _EPOCH) // timedelta(microseconds=1) for d in dates],
        dtype=np.int64,
    )
    dd = dates[:-1]
    working = np.array([bool(calendar.spans_on(d)) if calendar else True for d in dd], dtype=bool)
    wbefore = np.concatenate([[0], np.cumsum(working)[:-1]]).astype(np.int64)
    days = pd.DataFrame(
        {
            "day": np.array([(d - _EPOCH_DATE).days for d in dd], dtype=np.int64),
            "start_us": starts[:-1],
            "end_us": starts[1:],
            "working": working,
            "wbefore": wbefore,
            "week": [(d - timedelta(days=d.weekday())).isoformat() for d in dd],
            "month": [f"{d.year:04d}-{d.month:02d}" for d in dd],
        }
    )
    days["len_us"] = days.end_us - days.start_us
    lo_b = days.start_us.to_numpy() // DAY_US
    hi_b = (days.end_us.to_numpy() - 1) // DAY_US
    reps = (hi_b - lo_b + 1).astype(np.int64)
    idx = np.repeat(np.arange(len(days)), reps)
    offs = np.arange(len(idx)) - np.repeat(np.cumsum(reps) - reps, reps)
    by_bucket = days.iloc[idx].reset_index(drop=True)
    by_bucket.insert(0, "bucket", (lo_b[idx] + offs).astype(np.int64))
    ranks = days[days.working][["wbefore", "day", "start_us", "end_us", "len_us"]].reset_index(drop=True)
    return _Days(days=days, by_bucket=by_bucket, ranks=ranks, first=first, last=last)


def _locate(t: ibis.Table, col: str, dt: _Days, p: str) -> ibis.Table:
    """``t`` plus the local day of instant ``t[col]``: p_day, p_start, p_len, p_working,
    p_wbefore and p_r (the working-day clock: DAY_US per working day before, plus the scaled
    part of the day if it is a working day). Null instants give nulls."""
    import ibis

    b = ibis.memtable(dt.by_bucket[["bucket", "day", "start_us", "end_us", "len_us", "working", "wbefore"]])
    b = b.rename({f"{p}_{c}" if c != "bucket" else f"{p}_bk": c for c in b.columns})
    x = t.mutate(**{f"{p}_key": (t[col] / DAY_US).floor().cast("int64")})
    j = x.left_join(
        b,
        [x[f"{p}_key"] == b[f"{p}_bk"], x[col] >= b[f"{p}_start_us"], x[col] < b[f"{p}_end_us"]],
    )
    within = ((j[col] - j[f"{p}_start_us"]).cast("float64") * DAY_US / j[f"{p}_len_us"]).round().cast("int64")
    r = j[f"{p}_wbefore"] * DAY_US + ibis.ifelse(j[f"{p}_working"], within, 0)
    out = j.select(
        *t.columns,
        **{
            f"{p}_day": j[f"{p}_day"],
            f"{p}_start": j[f"{p}_start_us"],
            f"{p}_len": j[f"{p}_len_us"],
            f"{p}_working": j[f"{p}_working"],
            f"{p}_wbefore": j[f"{p}_wbefore"],
            f"{p}_r": r,
        },
    )
    return out.select(*out.columns)


# -- evaluation ----------------------------------------------------------------------------------


@dataclass
class SlaResult:
    """Per-case deadline results (an engine table) and the rule as applied to the log."""

    log: EventLog
    rule: SlaRule
    #: case_idx, case_id, clock_start_us, clock_stop_us, stopped, received_from_column, paused_us,
    #: elapsed_us, elapsed (in the rule's unit), deadline_base_us, deadline_us, extension, status,
    #: margin (unit; deadline minus stop, or minus as_of for open cases), margin_us, period_week,
    #: period_month
    cases: ibis.Table
    timezone: str
    as_of_us: int
    clock_start: str | tuple[str, ...]
    clock_stop: str | tuple[str, ...]
    calendar: WorkCalendar | None
    notes: list[str] = field(default_factory=list)
    #: which cases the rule covers: text, by (all | process | column | activity), covered,
    #: of (cases in the log), column, values (see :func:`covered_cases`)
    scope: dict[str, Any] = field(default_factory=dict)
    _summary: dict[str, Any] | None = field(default=None, repr=False)
    _frame: pd.DataFrame | None = field(default=None, repr=False)

    def frame(self) -> pd.DataFrame:
        """Per-case results as pandas, with times as datetimes in the rule's zone."""
        if self._frame is None:
            df = self.cases.order_by("case_idx").to_pandas()
            for col in ("clock_start", "clock_stop", "deadline_base", "deadline"):
                df[col] = pd.to_datetime(df[f"{col}_us"].astype("Int64"), unit="us", utc=True).dt.tz_convert(
                    self.timezone
                )
            self._frame = df
        return self._frame

    def summary(self) -> dict[str, Any]:
        """Counts and shares per status, extensions, elapsed and margin percentiles."""
        if self._summary is not None:
            return self._summary
        c = self.cases
        unit_us = HOUR_US if self.rule.unit == "hours" else DAY_US
        row = (
            c.aggregate(
                n=c.count(),
                met=(c.status == "met").cast("int64").sum(),
                extended=(c.status == "extended").cast("int64").sum(),
                breached=(c.status == "breached").cast("int64").sum(),
                open=(c.status == "open").cast("int64").sum(),
                open_breached=((c.status == "breached") & ~c.stopped).cast("int64").sum(),
                with_extension=c.extension.notnull().cast("int64").sum(),
                paused=(c.paused_us > 0).cast("int64").sum(),
                # quantiles of the values masked to NULL outside the cases meant (NULLs are
                # skipped): Ibis compiles median(where=) for Spark into a percentile whose
                # fraction is not a constant, which Spark refuses
                elapsed_median=_only(c.elapsed, c.stopped).median(),
                elapsed_p90=_only(c.elapsed, c.stopped).quantile(0.9),
                margin_median=_only(c.margin, c.stopped).median(),
                margin_p10=_only(c.margin, c.stopped).quantile(0.1),
                late_median=_only(-c.margin, c.stopped & (c.status == "breached")).median(),
                next_breach_us=c.margin_us.min(where=c.status == "open"),
                from_column=c.received_from_column.cast("int64").sum(),
            )
            .to_pandas()
            .iloc[0]
        )
        n = int(row.n)

        def f(v: Any) -> float | None:
            return None if v is None or pd.isna(v) else float(v)

        counts = {s: int(row[s] or 0) for s in STATUSES}
        decided = counts["met"] + counts["extended"] + counts["breached"]
        self._summary = {
            "rule": self.rule.name,
            "allowance": self.rule.allowance_text(),
            "unit": self.rule.unit,
            "cases": n,
            "counts": counts,
            "shares": {s: (counts[s] / n if n else None) for s in STATUSES},
            # the one "SLA met" figure (methods 12.4): deadline kept (base or extended) among the
            # cases whose outcome is known; open cases within their deadline are not yet decided
            "decided": decided,
            "met_share": (counts["met"] + counts["extended"]) / decided if decided else None,
            "scope": dict(self.scope),
            "breached_while_open": int(row.open_breached or 0),
            "extension_applied": int(row.with_extension or 0),
            "paused_cases": int(row.paused or 0),
            "elapsed_median": f(row.elapsed_median),
            "elapsed_p90": f(row.elapsed_p90),
            "margin_median": f(row.margin_median),
            "margin_p10": f(row.margin_p10),
            "late_median": f(row.late_median),
            "next_breach_s": None if f(row.next_breach_us) is None else float(row.next_breach_us) / 1e6,
            "unit_s": unit_us / 1e6,
            "received_from_column": int(row.from_column or 0),
            "timezone": self.timezone,
            "as_of": _iso(self.as_of_us, self.timezone),
            "clock_start": _show(self.clock_start),
            "clock_stop": _show(self.clock_stop),
            "calendar": self.calendar.to_dict() if self.calendar else None,
            "notes": list(self.notes)
            + (
                _scope_note(n, counts["open"] + int(row.open_breached or 0))
                if self.scope.get("by", "all") == "all"
                else []
            ),
        }
        return self._summary

    def met_flags(self) -> pd.DataFrame:
        """Per covered case: case_id and sla_met = 1.0 (met or extended), 0.0 (breached) or NaN
        (open, deadline ahead): the per-case form of ``summary()["met_share"]``, which the
        segments section compares across segments (one definition of "SLA met")."""
        df = self.frame()
        met = df.status.map({"met": 1.0, "extended": 1.0, "breached": 0.0}).astype("Float64")
        return pd.DataFrame({"case_id": df.case_id.astype(str), "sla_met": met})

    def margins(self) -> np.ndarray:
        """Time to spare at the clock stop (negative: late), in the rule's unit, stopped cases."""
        df = self.frame()
        return df.loc[df.stopped, "margin"].to_numpy(dtype=float)


def _scope_note(n: int, unstopped: int) -> list[str]:
    if n and unstopped > n / 2:
        return [
            M_(
                "{unstopped} of {n} cases never reach a clock-stop activity; if the log mixes processes, "
                "say which cases the rule covers (--applies-to process=VALUE or activity=ACTIVITY)",
                unstopped=count_value(unstopped),
                n=count_value(n),
            )
        ]
    return []


def _iso(us: int | None, tz: str) -> str | None:
    if us is None:
        return None
    return datetime.fromtimestamp(us / 1e6, tz=UTC).astimezone(ZoneInfo(tz)).isoformat(timespec="seconds")


def _show(v: str | tuple[str, ...]) -> str | list[str]:
    return v if isinstance(v, str) else list(v)


def _to_us(value: str | int | datetime | pd.Timestamp, tz: str) -> int:
    if isinstance(value, int | np.integer):
        return int(value)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"'as of' time '{value}' is not a date or time (e.g. 2024-03-01T09:00)") from exc
    ts = ts.tz_localize(tz) if ts.tzinfo is None else ts
    return int(ts.value // 1000)


def _received_us(log: EventLog, col: str) -> tuple[ibis.Table, list[str]]:
    """Per case the earliest value of a received-time column, in UTC microseconds.

    Typed timestamps convert in the engine (millisecond precision: portable SQL has no
    microsecond extraction on Spark); text values are ISO 8601, parsed per case (a per-case
    table), naive ones in the log's zone."""
    import ibis

    t = log.table
    dtype = t[col].type()
    notes: list[str] = []
    if dtype.is_timestamp():
        v = t[col]
        us = v.epoch_seconds().floor().cast("int64") * 1_000_000 + v.millisecond().cast("int64") * 1000
        return t.group_by("case_idx").aggregate(rcv=us.min()), notes
    if dtype.is_string():
        df = t.group_by("case_idx").aggregate(raw=t[col].min()).to_pandas()
        parsed = pd.to_datetime(df.raw, errors="coerce", format="ISO8601")
        if getattr(parsed.dt, "tz", None) is None:
            parsed = parsed.dt.tz_localize(log.timezone, ambiguous="NaT", nonexistent="NaT")
        bad = int(parsed.isna().sum() - df.raw.isna().sum())
        if bad:
            notes.append(
                M_(
                    "{n} case(s) have a received time that is not ISO 8601; their clock uses the rule's start",
                    n=bad,
                )
            )
        df["rcv"] = (parsed.dt.tz_convert("UTC").astype("int64") // 1000).where(parsed.notna())
        mem = ibis.memtable(df[["case_idx"]].assign(rcv=df.rcv.astype("Int64")))
        return mem, notes
    raise ConfigError(f"received-time column '{col}' holds {dtype}, not timestamps or ISO 8601 text")


def covered_cases(
    log: EventLog, scope: Scope | None, *, process: str | None = "auto", rule: str = "the rule"
) -> tuple[ibis.Table | None, dict[str, Any], list[str]]:
    """The cases ``scope`` covers (a table of case_idx, or None for every case), a description
    and notes (docs/methods.md §12.1).

    Processes are matched on the process column (§3.5; ``process`` as for
    :func:`~flowlens.analysis.processes.detect_processes`) or ``scope.column``; intake
    activities on the cases containing them. For presets (``scope.candidates``) processes are
    tried first, then activities; when neither occurs, a log with one process is covered whole
    (with a note) and a log with several is an error naming the process values.
    """
    from flowlens.analysis.processes import case_values, detect_processes

    n_all = log.n_cases
    info: dict[str, Any] = {
        "text": "every case whose clock starts",
        "by": "all",
        "of": n_all,
        "covered": n_all,
    }
    if scope is None:
        return None, info, []
    t = log.table
    notes: list[str] = []
    col = None
    split = None
    if scope.processes:
        if scope.column:
            col = _find_column(log, scope.column)
            if col is None and not scope.candidates:
                raise ConfigError(
                    f"no column '{scope.column}' for the cases {rule} applies to; available: "
                    f"{', '.join(sorted(log.attributes.values())) or 'none'}"
                )
        else:
            split = detect_processes(log, process)
            col = split.column if split is not None else _find_column(log, "process")
            if col is None and not scope.candidates:
                raise ConfigError(
                    f"{rule} applies to process {'/'.join(scope.processes)}, but the log has no process column "
                    "(name it with --process COLUMN, or use --applies-to COLUMN=VALUE or activity=ACTIVITY)"
                )
    if col is not None:
        cv = case_values(log, col)
        values = sorted(cv.select("process").distinct().to_pandas().process.dropna().astype(str))
        hit = [v for v in values if _names_process(v, scope.processes)]
        if hit:
            keep = cv.filter(cv.process.isin(hit)).select("case_idx")
            name = log.attributes.get(col, col)
            info = {
                "text": M_(
                    "{scope} ({column} = {values})",
                    scope=scope.describe(),
                    column=name,
                    values=", ".join(hit),
                ),
                "by": "column" if scope.column else "process",
                "column": name,
                "values": hit,
                "of": n_all,
            }
            return keep, _count(keep, info), notes
        if not scope.candidates:
            raise ConfigError(
                f"no value of column '{log.attributes.get(col, col)}' names {'/'.join(scope.processes)} "
                f"for {rule}; values: {', '.join(values[:15])}{', …' if len(values) > 15 else ''}"
            )
    if scope.activities:
        present = t.select("activity").distinct().to_pandas().activity.dropna().astype(str).tolist()
        if scope.candidates:
            acts = present_names(scope.activities, present)
        else:
            found = resolve_names(scope.activities, present, candidates=False, what="applies-to")
            acts = found if isinstance(found, tuple) else ()
        if acts:
            keep = t.filter(t.activity.isin(list(acts))).select("case_idx").distinct()
            info = {
                "text": M_(
                    "{scope} (cases with {activities})", scope=scope.describe(), activities=", ".join(acts)
                ),
                "by": "activity",
                "activities": list(acts),
                "of": n_all,
            }
            return keep, _count(keep, info), notes
    if split is not None:
        vals = ", ".join(split.processes[:15])
        raise ConfigError(
            f"{rule} applies to {scope.describe()}, but no value of the process column '{split.name}' ({vals}) "
            "names one and no case has such an intake activity; say which cases it covers with "
            "--applies-to process=VALUE (or --applies-to all)"
        )
    notes.append(
        M_(
            "no process column or intake activity marks {scope} in this log, so the rule covers every case "
            "whose clock starts; if the log mixes processes, say which cases it covers (--applies-to)",
            scope=scope.describe(),
        )
    )
    return None, info, notes


def _names_process(value: str, names: tuple[str, ...]) -> bool:
    """A process value names one of ``names`` when, compared without case, ``_`` and ``-``, it
    equals one or contains it as a word ("card_dispute" contains "dispute"; Chinese names as a
    substring)."""
    v = " " + re.sub(r"[\s_\-]+", " ", str(value)).strip().casefold() + " "
    for n in names:
        w = re.sub(r"[\s_\-]+", " ", str(n)).strip().casefold()
        if not w:
            continue
        if f" {w} " in v or (not w.isascii() and w in v):
            return True
    return False


def _count(keep: ibis.Table, info: dict[str, Any]) -> dict[str, Any]:
    info["covered"] = int(keep.count().to_pandas())
    return info


def evaluate_sla(
    log: EventLog,
    rule: SlaRule,
    *,
    as_of: str | int | datetime | None = None,
    process: str | None = "auto",
) -> SlaResult:
    """Evaluate ``rule`` on the cases it covers in the engine (see the module docstring).

    Covered cases are those of ``rule.applies_to`` (:func:`covered_cases`; ``process`` names the
    process column, "auto" detects it); among them, those where the clock starts: all for
    ``case start`` (or a received-time column), else those containing a start activity.
    ``as_of`` is when open cases are looked at (default: the last event of the log).
    """
    import ibis

    full = log
    keep, scope_info, scope_notes = covered_cases(log, rule.applies_to, process=process, rule=rule.name)
    if keep is not None:
        tt = log.table
        k = keep.select(fl_k=keep.case_idx)
        log = log.derive(
            tt.semi_join(k, tt.case_idx == k.fl_k).select(tt.columns), f"{rule.name}: {scope_info['text']}"
        )
    t = log.table
    present = t.select("activity").distinct().to_pandas().activity.dropna().astype(str).tolist()
    cstart = resolve_names(rule.clock_start, present, candidates=rule.candidates, what="clock start")
    cstop = resolve_names(rule.clock_stop, present, candidates=rule.candidates, what="clock stop")
    exts: list[tuple[Extension, tuple[str, ...], str | None]] = []
    notes: list[str] = list(scope_notes)
    for x in rule.extensions:
        acts: tuple[str, ...] = ()
        if x.activities:
            if x.candidates:
                acts = present_names(x.activities, present)
            else:
                found = resolve_names(x.activities, present, candidates=False, what="extension")
                acts = found if isinstance(found, tuple) else ()
        attr = _find_column(log, x.attribute) if x.attribute else None
        if x.attribute and attr is None and not x.candidates:
            raise ConfigError(
                f"no column '{x.attribute}' for the extension flag; available: "
                f"{', '.join(sorted(log.attributes.values())) or 'none'}"
            )
        exts.append((x, acts, attr))
        if not acts and attr is None:
            notes.append(
                M_(
                    "extension '{label}' never applies: none of its activities or columns occur in the log",
                    label=x.label,
                )
            )
    pauses = [
        (
            resolve_names(p.start, present, candidates=False, what="pause start"),
            resolve_names(p.stop, present, candidates=False, what="pause stop"),
        )
        for p in rule.pauses
    ]

    # 1. clock start per case (earliest start of a start activity, else of the case)
    first = t.start_us.fill_null(t.end_us)
    if cstart == CASE_START:
        cs = t.group_by(["case_idx", "case_id"]).aggregate(act_start=first.min())
    else:
        cs = t.group_by(["case_idx", "case_id"]).aggregate(act_start=first.min(where=t.activity.isin(cstart)))
        cs = cs.filter(cs.act_start.notnull())
    if rule.received:
        col = log_column(log, rule.received, "the received time")
        rcv, more = _received_us(log, col)
        notes += more
        cs = cs.left_join(rcv, cs.case_idx == rcv.case_idx).select(
            "case_idx", "case_id", "act_start", rcv=rcv.rcv
        )
        cs = cs.select(
            "case_idx",
            "case_id",
            clock_start_us=cs.rcv.fill_null(cs.act_start),
            received_from_column=cs.rcv.notnull(),
        )
    else:
        cs = cs.select(
            "case_idx", "case_id", clock_start_us=cs.act_start, received_from_column=ibis.literal(False)
        )

    # open cases are looked at when the whole log ends, not when the covered cases' last event does
    ft = full.table
    as_of_us = (
        _to_us(as_of, log.timezone)
        if as_of is not None
        else int(ft.aggregate(m=ft.end_us.max()).to_pandas().m[0])
    )

    # 2. clock stop and the first extension activities after the start
    k = cs.select(k_case="case_idx", cs_us="clock_start_us")
    e = t.join(k, t.case_idx == k.k_case)
    e = e.select(*t.columns, cs_us=e.cs_us)
    e = e.select(*e.columns)
    aggs: dict[str, Any] = {}
    if cstop == CASE_END:
        aggs["stop_us"] = e.end_us.max()
    else:
        aggs["stop_us"] = e.end_us.min(where=e.activity.isin(cstop) & (e.end_us >= e.cs_us))
    for i, (_ext, acts, attr) in enumerate(exts):
        if acts:
            aggs[f"x{i}_us"] = e.end_us.min(where=e.activity.isin(acts) & (e.end_us >= e.cs_us))
        else:
            aggs[f"x{i}_us"] = ibis.null("int64")
        if attr is not None:
            aggs[f"x{i}_flag"] = e[attr].cast("string").lower().isin([v.lower() for v in _ext.values]).any()
        else:
            aggs[f"x{i}_flag"] = ibis.literal(False)
    per = e.group_by("case_idx").aggregate(**aggs)
    c = cs.join(per, "case_idx")
    c = c.mutate(stopped=c.stop_us.notnull(), wend_us=c.stop_us.fill_null(max(as_of_us, 0)))
    c = c.mutate(wend_us=ibis.greatest(c.wend_us, c.clock_start_us))
    c = base = log.engine.materialize(c, prefix="fl_sla_base")

    # the day table covers receipts, stops and the furthest possible deadline
    bounds = c.aggregate(lo=c.clock_start_us.min(), hi=c.wend_us.max()).to_pandas().iloc[0]
    if pd.isna(bounds.lo):
        raise ConfigError(
            "no case starts this rule's clock"
            + (f" (none contains {list(cstart)})" if isinstance(cstart, tuple) else "")
        )
    tz = rule.timezone or (rule.calendar.timezone if rule.calendar else None) or log.timezone
    lo_d = datetime.fromtimestamp(int(bounds.lo) / 1e6, tz=UTC).astimezone(ZoneInfo(tz)).date() - timedelta(
        days=3
    )
    hi_d = datetime.fromtimestamp(max(int(bounds.hi), as_of_us) / 1e6, tz=UTC).astimezone(ZoneInfo(tz)).date()
    longest = max([rule.base, *[x.days for x in rule.extensions]])
    span_days = (hi_d - lo_d).days
    hi_d = hi_d + timedelta(days=int(longest * 2.2) + 40 + (span_days if pauses else 0))
    business = (
        rule.roll_forward
        or rule.unit == "business_days"
        or any((x.unit or rule.unit) == "business_days" for x in rule.extensions)
    )
    cal = working_calendar(rule, tz, range(lo_d.year, hi_d.year + 1)) if business else None
    if business and cal is not None and not cal.holidays and rule.calendar is None:
        notes.append(
            M_("business days are Monday-Friday without holidays (pass a calendar or a country for holidays)")
        )
    dt = _day_table(tz, lo_d, hi_d, cal)

    # 3. paused time: merged pause intervals inside [clock start, clock stop or as_of]
    c = _with_pauses(t, c, pauses, dt, business)

    # 4. receipt day and deadlines
    c = _locate(c, "clock_start_us", dt, "s")
    cutoff = parse_clock(rule.receipt_cutoff, rule.name) if rule.receipt_cutoff else None
    late = (c.clock_start_us - c.s_start) >= cutoff if cutoff is not None else ibis.literal(False)
    c = c.mutate(fl_late=late)
    specs = [("base", rule.base, rule.unit)] + [
        (f"x{i}", x.days, x.unit or rule.unit) for i, x in enumerate(rule.extensions)
    ]
    for key, amount, unit in specs:
        c = _deadline(
            c, key, int(amount) if unit != "hours" else float(amount), unit, rule, dt, cutoff is not None
        )
    c = deadlines = log.engine.materialize(c, prefix="fl_sla_dl")

    # 5. extensions in order: a tier applies when its condition holds in time
    cur = c.d_base_eff
    label = ibis.null("string")
    for i, (x, _acts, _attr) in enumerate(exts):
        timely = c[f"x{i}_us"].notnull() & (c[f"x{i}_us"] <= c.wend_us)
        if x.before_deadline:
            timely = timely & (c[f"x{i}_us"] <= cur)
        cond = timely | c[f"x{i}_flag"].fill_null(False)
        better = cond & (c[f"d_x{i}_eff"] > cur)
        label = ibis.ifelse(better, ibis.literal(x.label), label)
        cur = ibis.ifelse(better, c[f"d_x{i}_eff"], cur)
    c = c.mutate(deadline_us=cur, extension=label)
    met = c.stopped & (c.stop_us <= c.d_base_eff)
    ext_ok = c.stopped & c.extension.notnull() & (c.stop_us <= c.deadline_us)
    open_ok = ~c.stopped & (ibis.literal(as_of_us) <= c.deadline_us)
    status = ibis.ifelse(
        met, "met", ibis.ifelse(ext_ok, "extended", ibis.ifelse(open_ok, "open", "breached"))
    )
    c = c.mutate(status=status, margin_us=c.deadline_us - c.wend_us)
    if rule.unit == "business_days":
        c = _locate(c, "deadline_us", dt, "dl")
        c = _locate(c, "wend_us", dt, "we")
        c = c.mutate(
            elapsed=(c.we_r - c.s_r - c.paused_r).cast("float64") / DAY_US,
            margin=(c.dl_r - c.we_r).cast("float64") / DAY_US,
        )
    else:
        unit_us = HOUR_US if rule.unit == "hours" else DAY_US
        c = c.mutate(
            elapsed=(c.wend_us - c.clock_start_us - c.paused_us).cast("float64") / unit_us,
            margin=c.margin_us.cast("float64") / unit_us,
        )
    day = ibis.memtable(dt.days[["day", "week", "month"]]).rename(
        p_day="day", period_week="week", period_month="month"
    )
    c = c.left_join(day, c.s_day == day.p_day)
    out = c.select(
        "case_idx",
        "case_id",
        "clock_start_us",
        clock_stop_us=c.stop_us,
        stopped=c.stopped,
        received_from_column=c.received_from_column,
        paused_us=c.paused_us,
        elapsed_us=c.wend_us - c.clock_start_us - c.paused_us,
        elapsed=c.elapsed,
        deadline_base_us=c.d_base_eff,
        deadline_us=c.deadline_us,
        extension=c.extension,
        status=c.status,
        margin=c.margin,
        margin_us=c.margin_us,
        period_week=c.period_week,
        period_month=c.period_month,
    )
    cases = log.engine.materialize(out, prefix="fl_sla")
    drop_tables(log, base, deadlines)  # read by the cases' table alone
    return SlaResult(
        log=log,
        rule=rule,
        cases=cases,
        timezone=tz,
        as_of_us=as_of_us,
        clock_start=cstart,
        clock_stop=cstop,
        calendar=cal,
        notes=notes,
        scope=scope_info,
    )


def _with_pauses(
    t: ibis.Table, c: ibis.Table, pauses: list[tuple[Any, Any]], dt: _Days, business: bool
) -> ibis.Table:
    """``c`` plus paused_us (calendar) and paused_r (working-day clock) per case."""
    import ibis

    if not pauses:
        return c.mutate(paused_us=ibis.literal(0).cast("int64"), paused_r=ibis.literal(0).cast("int64"))
    win = c.select(w_case="case_idx", w_cs="clock_start_us", w_end="wend_us")
    pieces = []
    for starts, stops in pauses:
        x = t.select("case_idx", "pos", "activity", "end_us")
        w = ibis.window(group_by=x.case_idx, order_by=[x.end_us, x.pos], rows=(0, None))
        nxt = ibis.ifelse(x.activity.isin(stops), x.end_us, ibis.null("int64")).min().over(w)
        x = x.mutate(nxt=nxt)
        x = x.filter(x.activity.isin(starts))
        x = x.join(win, x.case_idx == win.w_case)
        a = ibis.greatest(x.end_us, x.w_cs)
        b = ibis.least(x.nxt.fill_null(x.w_end), x.w_end)
        pieces.append(x.select("case_idx", a=a, b=b))
    p = pieces[0]
    for q in pieces[1:]:
        p = p.union(q, distinct=False)
    p = p.filter(p.b > p.a)
    w2 = ibis.window(group_by=p.case_idx, order_by=[p.a, p.b], rows=(None, -1))
    prev = p.b.max().over(w2)
    p = p.mutate(a2=ibis.greatest(p.a, prev.fill_null(p.a)))
    p = p.filter(p.b > p.a2).select("case_idx", a="a2", b="b")
    if business:
        p = _locate(p, "a", dt, "pa")
        p = _locate(p, "b", dt, "pb")
        agg = p.group_by("case_idx").aggregate(
            p_us=(p.b - p.a).sum().cast("int64"), p_r=(p.pb_r - p.pa_r).sum().cast("int64")
        )
    else:
        agg = p.group_by("case_idx").aggregate(
            p_us=(p.b - p.a).sum().cast("int64"), p_r=ibis.literal(0).cast("int64")
        )
    agg = agg.rename(p_case="case_idx")
    j = c.left_join(agg, c.case_idx == agg.p_case)
    out = j.select(*c.columns, paused_us=j.p_us.fill_null(0), paused_r=j.p_r.fill_null(0))
    return out.select(*out.columns)


def _deadline(
    c: ibis.Table, key: str, amount: float, unit: str, rule: SlaRule, dt: _Days, cutoff: bool
) -> ibis.Table:
    """Add d_<key> (deadline instant before pauses) and d_<key>_eff (after the pause shift)."""
    import ibis

    if unit == "hours":
        d = c.clock_start_us + round(amount * HOUR_US)
        c = c.mutate(**{f"d_{key}": d})
        return c.mutate(**{f"d_{key}_eff": c[f"d_{key}"] + c.paused_us})
    n = int(amount)
    same = rule.deadline_at == "same_time"
    tod = c.clock_start_us - c.s_start  # time of day of receipt
    if unit == "calendar_days":
        rd = c.s_day + ibis.ifelse(c.fl_late, 1, 0)
        target = rd + (n if rule.day_count == "after_receipt" else n - 1)
        tbl = ibis.memtable(dt.days[["day", "start_us", "end_us", "working", "wbefore"]]).rename(
            **{
                f"k_{key}": "day",
                f"ks_{key}": "start_us",
                f"ke_{key}": "end_us",
                f"kw_{key}": "working",
                f"kr_{key}": "wbefore",
            }
        )
        j = c.mutate(**{f"t_{key}": target})
        j = j.left_join(tbl, j[f"t_{key}"] == tbl[f"k_{key}"])
        if rule.roll_forward:
            # a last day that is not a working day moves to the next working day (whose rank
            # is the number of working days before the last day)
            nxt = ibis.memtable(dt.ranks[["wbefore", "start_us", "end_us"]]).rename(
                **{f"n_{key}": "wbefore", f"ns_{key}": "start_us", f"ne_{key}": "end_us"}
            )
            j = j.select(*j.columns)
            j = j.left_join(nxt, j[f"kr_{key}"] == nxt[f"n_{key}"])
            j = j.mutate(
                **{
                    f"ks_{key}": ibis.ifelse(j[f"kw_{key}"], j[f"ks_{key}"], j[f"ns_{key}"]),
                    f"ke_{key}": ibis.ifelse(j[f"kw_{key}"], j[f"ke_{key}"], j[f"ne_{key}"]),
                }
            )
    else:
        adjust = c.fl_late | ~c.s_working if cutoff else ibis.literal(False)
        w_r = ibis.ifelse(adjust, c.s_wbefore + ibis.ifelse(c.s_working, 1, 0), c.s_wbefore)
        work_r = ibis.ifelse(adjust, 1, ibis.ifelse(c.s_working, 1, 0))
        rank = w_r + (work_r + n - 1 if rule.day_count == "after_receipt" else n - 1)
        tbl = ibis.memtable(dt.ranks[["wbefore", "start_us", "end_us"]]).rename(
            **{f"k_{key}": "wbefore", f"ks_{key}": "start_us", f"ke_{key}": "end_us"}
        )
        j = c.mutate(**{f"t_{key}": rank})
        j = j.left_join(tbl, j[f"t_{key}"] == tbl[f"k_{key}"])
    d = j[f"ks_{key}"] + tod if same else j[f"ke_{key}"]
    j = j.select(*c.columns, **{f"d_{key}": d})
    j = j.select(*j.columns)
    if unit == "calendar_days":
        return j.mutate(**{f"d_{key}_eff": j[f"d_{key}"] + j.paused_us})
    if not rule.pauses:
        return j.mutate(**{f"d_{key}_eff": j[f"d_{key}"]})
    # business days with pauses: move the deadline along the working-day clock by paused_r
    j = _locate(j, f"d_{key}", dt, f"q{key}")
    v = j[f"q{key}_r"] + j.paused_r
    k = ((v - 1) / DAY_US).floor().cast("int64")
    rk = ibis.memtable(dt.ranks[["wbefore", "start_us", "len_us"]]).rename(
        **{f"r_{key}": "wbefore", f"rs_{key}": "start_us", f"rl_{key}": "len_us"}
    )
    j = j.mutate(**{f"v_{key}": v, f"kk_{key}": k})
    jj = j.left_join(rk, j[f"kk_{key}"] == rk[f"r_{key}"])
    part = (
        ((jj[f"v_{key}"] - jj[f"kk_{key}"] * DAY_US).cast("float64") * jj[f"rl_{key}"] / DAY_US)
        .ceil()
        .cast("int64")
    )
    eff = ibis.ifelse(jj.paused_r > 0, jj[f"rs_{key}"] + part, jj[f"d_{key}"])
    out = jj.select(*c.columns, **{f"d_{key}": jj[f"d_{key}"], f"d_{key}_eff": eff})
    return out.select(*out.columns)


def with_case_attributes(
    log: EventLog, table: pd.DataFrame | str | Path, *, key: str | None = None
) -> EventLog:
    """``log`` with the columns of a case table (CSV or Parquet path, or a DataFrame) joined on
    the case id, e.g. the bank generator's ``cases.parquet`` (complaint category, received time).

    Columns already in the log keep the log's values; ``key`` names the case-id column
    (default: ``case_id``, ``case`` or the first column).
    """
    import ibis

    from flowlens.log import replace_log

    if not isinstance(table, pd.DataFrame):
        p = Path(table)
        if not p.exists():
            raise ConfigError(f"case table {p} does not exist")
        name = p.name.lower()
        df = pd.read_parquet(p) if name.endswith(".parquet") else pd.read_csv(p, dtype=str)
    else:
        df = table
    if df.empty:
        return log
    k = key or next((c for c in ("case_id", "case", "case:concept:name") if c in df.columns), df.columns[0])
    if k not in df.columns:
        raise ConfigError(f"case table has no column '{k}'; columns: {', '.join(map(str, df.columns))}")
    taken = {*log.table.columns, *log.attributes.values()}
    extra = [c for c in df.columns if c != k and c not in taken and re.fullmatch(r"[A-Za-z_][\w]*", str(c))]
    if not extra:
        return log
    small = df[[k, *extra]].drop_duplicates(subset=[k]).copy()
    small[k] = small[k].astype(str)
    for c in extra:
        if isinstance(small[c].dtype, pd.DatetimeTZDtype):
            small[c] = small[c].dt.tz_convert("UTC")
    mem = ibis.memtable(small.rename(columns={k: "fl_case_key"}))
    t = log.table
    j = t.left_join(mem, t.case_id == mem.fl_case_key)
    j = j.select(*t.columns, *extra)
    attrs = dict(log.attributes)
    attrs.update({c: c for c in extra})
    return replace_log(log, table=j.select(*j.columns), attributes=attrs)


def _only(value: ibis.Value, keep: ibis.Value) -> ibis.Value:
    """``value`` where ``keep`` holds, NULL elsewhere (for aggregates that skip NULLs)."""
    import ibis

    return ibis.ifelse(keep, value, ibis.null(value.type()))
