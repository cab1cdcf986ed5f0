"""Bottlenecks: where customers wait, how busy the people are, and how much work is in progress.

Three views on the time model (:mod:`flowlens.timing.model`), defined in docs/methods.md
("Bottlenecks, utilisation and WIP"):

* :func:`bottlenecks` ranks activities, transitions, resources or teams by the **total**
  customer waiting they account for (frequency x mean, not the mean alone);
* :func:`utilisation` is busy time / available working time per resource or team and period;
* :func:`wip_over_time` counts open cases, and instances waiting or in service, on a time grid.

:func:`bottleneck_report` ties them together with plain-language sentences.

>>> import flowlens, pandas as pd
>>> from flowlens.timing.model import time_model
>>> rows = [("1", "a", "r", "09:00", "10:00"), ("1", "b", "r", "12:00", "12:30"),
...         ("2", "a", "r", "10:00", "11:00"), ("2", "b", "r", "11:00", "11:30")]
>>> df = pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"])
>>> df[["start", "end"]] = ("2024-01-01 " + df[["start", "end"]]).apply(pd.to_datetime)
>>> tm = time_model(flowlens.read_log(df))
>>> bottlenecks(tm)[["activity", "instances", "waiting_total_s", "waiting_share"]].values.tolist()
[['b', 2, 7200.0, 1.0], ['a', 2, 0.0, 0.0]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.errors import ConfigError
from flowlens.units import human_count, human_duration

if TYPE_CHECKING:
    import ibis

    from flowlens.timing.calendars import WorkCalendar
    from flowlens.timing.model import TimeModel

US = 1_000_000
LEVELS = ("activity", "transition", "resource", "team")
#: label of the step before a case's first step at transition level
CASE_START = "(case start)"
NO_RESOURCE = "(no resource)"
NO_TEAM = "(no team)"
#: utilisation at or above this is flagged as near capacity (Kingman: waits explode as rho -> 1)
HIGH_UTILISATION = 0.85
_KEYS = {
    "activity": ["activity"],
    "transition": ["from_activity", "activity"],
    "resource": ["resource"],
    "team": ["team"],
}
_NOMINAL_US = {"h": 3600 * US, "D": 86400 * US, "W": 7 * 86400 * US}


def _check_level(tm: TimeModel, level: str, allowed: Sequence[str] = LEVELS) -> None:
    if level not in allowed:
        raise ConfigError(f"unknown level '{level}'; choose one of {', '.join(allowed)}")
    if level == "team" and tm.team_column is None:
        raise ConfigError(
            "the log has no team column (none named team, role, org:group or department); "
            "name it with --team COLUMN (or time_model(..., team=COLUMN))"
        )


def _keyed(tm: TimeModel, level: str) -> ibis.Table:
    i = tm.instances
    if level == "activity":
        return i
    if level == "transition":
        return i.mutate(from_activity=i.prev_activity.fill_null(CASE_START))
    if level == "resource":
        return i.mutate(resource=i.resource.fill_null(NO_RESOURCE))
    return i.mutate(team=i.team.fill_null(NO_TEAM))


def _label(level: str, row: Any) -> str:
    if level == "transition":
        return f"{row['from_activity']} → {row['activity']}"
    return str(row[_KEYS[level][0]])


def bottlenecks(tm: TimeModel, *, level: str = "activity", top: int | None = None) -> pd.DataFrame:
    """Waiting and processing per activity, transition, resource or team, ranked by the total
    customer waiting each accounts for.

    The customer waiting charged to every instance (the time model's ``wait_us``: the time
    just before it when nothing was in progress in its case; for steps that record waiting,
    such as a call's Queue, their whole span) is charged to the instance's activity, to its
    transition (the step before it in the map's order -> the activity, so every transition is
    an edge of the process map), to its resource and to its team (the queue in front of
    whoever did it). The totals add up to the customer waiting of the whole log.

    Columns: the key (``activity``; ``from_activity`` and ``activity``; ``resource``; ``team``),
    ``label``, ``rank``, ``instances``, ``cases``, ``waited`` (instances with waiting > 0),
    ``waiting_total_s``, ``waiting_mean_s``, ``waiting_median_s``, ``waiting_p90_s``,
    ``processing_mean_s``, ``processing_median_s``, ``processing_p90_s``, ``waiting_share``
    (this group's total / all waiting), ``waiting_business_total_s``,
    ``waiting_business_mean_s`` (working time on the resource's calendar) and
    ``estimated_starts``. Sorted by total waiting (rank 1 = most), then instances, then name;
    ``top`` keeps the first rows.

    >>> import flowlens, pandas as pd
    >>> from flowlens.timing.model import time_model
    >>> df = pd.DataFrame({"case": ["1", "1"], "activity": ["a", "b"],
    ...                    "start": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 11:00"]),
    ...                    "end": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 11:30"])})
    >>> t = bottlenecks(time_model(flowlens.read_log(df)), level="transition")
    >>> t[["label", "waiting_total_s", "processing_mean_s"]].values.tolist()
    [['a → b', 3600.0, 1800.0], ['(case start) → a', 0.0, 3600.0]]
    """
    _check_level(tm, level)
    if top is not None and top < 1:
        raise ConfigError(f"top must be at least 1, got {top}")
    x = _keyed(tm, level)
    keys = _KEYS[level]
    agg = x.group_by(keys).aggregate(
        instances=x.count(),
        cases=x.case_idx.nunique(),
        waited=x.wait_us.count(where=x.wait_us > 0),
        w_total=x.wait_us.sum(),
        w_mean=x.wait_us.mean(),
        w_median=x.wait_us.median(),
        w_p90=x.wait_us.quantile(0.9),
        p_mean=x.proc_us.mean(),
        p_median=x.proc_us.median(),
        p_p90=x.proc_us.quantile(0.9),
        wb_total=x.wait_bus_us.sum(),
        wb_mean=x.wait_bus_us.mean(),
        estimated_starts=x.start_estimated.cast("int64").sum(),
    )
    df = agg.to_pandas()
    out = pd.DataFrame({k: df[k].astype(object) for k in keys})
    for col in ("instances", "cases", "waited", "estimated_starts"):
        out[col] = df[col].fillna(0).astype("int64")
    names = {
        "w_total": "waiting_total_s",
        "w_mean": "waiting_mean_s",
        "w_median": "waiting_median_s",
        "w_p90": "waiting_p90_s",
        "p_mean": "processing_mean_s",
        "p_median": "processing_median_s",
        "p_p90": "processing_p90_s",
        "wb_total": "waiting_business_total_s",
        "wb_mean": "waiting_business_mean_s",
    }
    for src, dst in names.items():
        out[dst] = df[src].astype("float64") / US
    out["waiting_total_s"] = out["waiting_total_s"].fillna(0.0)
    out["waiting_business_total_s"] = out["waiting_business_total_s"].fillna(0.0)
    total = float(out["waiting_total_s"].sum())
    out["waiting_share"] = out["waiting_total_s"] / total if total > 0 else 0.0
    out = out.sort_values(
        ["waiting_total_s", "instances", *keys], ascending=[False, False, *([True] * len(keys))]
    ).reset_index(drop=True)
    out.insert(len(keys), "label", [_label(level, r) for r in out.to_dict("records")])
    out.insert(len(keys) + 1, "rank", np.arange(1, len(out) + 1))
    cols = [
        *keys,
        "label",
        "rank",
        "instances",
        "cases",
        "waited",
        "waiting_total_s",
        "waiting_share",
        "waiting_mean_s",
        "waiting_median_s",
        "waiting_p90_s",
        "processing_mean_s",
        "processing_median_s",
        "processing_p90_s",
        "waiting_business_total_s",
        "waiting_business_mean_s",
        "estimated_starts",
    ]
    out = out[cols]
    return out.head(top).reset_index(drop=True) if top else out


# ---------------------------------------------------------------------------------------------
# time grids


def _grid(lo_us: int, hi_us: int, freq: str, tz: str) -> np.ndarray:
    """Period boundaries t_0 <= lo_us < ... < t_K > hi_us in UTC microseconds: whole hours,
    local days (midnight to midnight in ``tz``, so 23 or 25 h across a DST change) or local
    weeks starting on Monday."""
    if freq not in _NOMINAL_US:
        raise ConfigError(f"unknown frequency '{freq}'; choose h (hours), D (days) or W (weeks)")
    first = pd.Timestamp(lo_us, unit="us", tz="UTC").tz_convert(tz)
    naive = first.tz_localize(None)
    if freq == "h":
        naive = naive.floor("h")
    else:
        naive = naive.normalize()
        if freq == "W":
            naive -= pd.Timedelta(days=naive.weekday())
    start = naive.tz_localize(tz, ambiguous=True, nonexistent="shift_backward")
    end = pd.Timestamp(hi_us, unit="us", tz="UTC")
    span = max(1, math.ceil((hi_us - start.value // 1000) / _NOMINAL_US[freq]) + 2)
    if freq == "h":
        idx = pd.date_range(start.tz_convert("UTC"), periods=span + 1, freq="h")
    else:
        idx = pd.date_range(start, periods=span + 1, freq="D" if freq == "D" else "W-MON")
    us = idx.tz_convert("UTC").as_unit("us").asi8.astype("int64")
    keep = np.searchsorted(us, end.value // 1000, side="right") + 1
    return us[: max(keep, 2)]


def _bucketize(t: ibis.Table, col: str, grid: np.ndarray) -> ibis.Table:
    """Add the period index ``fl_k`` of ``col`` (t_k <= value < t_{k+1}) and the period's
    bounds ``fl_lo``, ``fl_hi``: a nominal index by arithmetic, corrected by one period where
    local days are 23 or 25 hours long (an equi-join with the small grid table)."""
    import ibis

    k = np.arange(len(grid) - 1, dtype=np.int64)
    lo, hi = grid[:-1], grid[1:]
    nominal = int(np.median(hi - lo))
    g = ibis.memtable(
        pd.DataFrame(
            {
                "g_k": k,
                "g_lo": lo,
                "g_hi": hi,
                "g_prev_lo": np.concatenate([[lo[0]], lo[:-1]]),
                "g_next_hi": np.concatenate([hi[1:], [hi[-1]]]),
            }
        )
    )
    approx = ((t[col] - int(grid[0])) / nominal).floor().cast("int64")
    approx = ibis.greatest(ibis.least(approx, int(k[-1])), 0)
    x = t.mutate(fl_k0=approx)
    j = x.join(g, x.fl_k0 == g.g_k)
    before = j[col] < j.g_lo
    after = j[col] >= j.g_hi
    return j.mutate(
        fl_k=ibis.ifelse(before, j.g_k - 1, ibis.ifelse(after, j.g_k + 1, j.g_k)),
        fl_lo=ibis.ifelse(before, j.g_prev_lo, ibis.ifelse(after, j.g_hi, j.g_lo)),
        fl_hi=ibis.ifelse(before, j.g_lo, ibis.ifelse(after, j.g_next_hi, j.g_hi)),
    ).drop("fl_k0", "g_k", "g_lo", "g_hi", "g_prev_lo", "g_next_hi")


def _occupancy(
    intervals: ibis.Table, keys: list[str], grid: np.ndarray
) -> dict[tuple[Any, ...], pd.DataFrame]:
    """For intervals [a, b) (columns ``a``, ``b`` plus ``keys``): per key and grid period k,
    the number open at t_k (a <= t_k < b), the time average over [t_k, t_{k+1}) and the number
    that began in the period. Computed from +1/-1 events per period in the engine; the
    cumulative sums run over the small per-period result."""
    import ibis

    iv = intervals.filter(intervals.a.notnull() & intervals.b.notnull() & (intervals.b > intervals.a))
    ev = iv.select(*keys, t=iv.a, d=ibis.literal(1)).union(iv.select(*keys, t=iv.b, d=ibis.literal(-1)))
    ev = _bucketize(ev, "t", grid)
    rem = (ev.fl_hi - ev.t).cast("float64")
    per = ev.group_by([*keys, "fl_k"]).aggregate(
        n_in=ev.count(where=ev.d == 1),
        n_out=ev.count(where=ev.d == -1),
        edge_in=ev.count(where=(ev.d == 1) & (ev.t == ev.fl_lo)),
        edge_out=ev.count(where=(ev.d == -1) & (ev.t == ev.fl_lo)),
        rem_in=rem.sum(where=ev.d == 1),
        rem_out=rem.sum(where=ev.d == -1),
    )
    df = per.to_pandas()
    n = len(grid) - 1
    width = (grid[1:] - grid[:-1]).astype("float64")
    out: dict[tuple[Any, ...], pd.DataFrame] = {}
    groups = df.groupby(keys, dropna=False, sort=True) if keys else [((), df)]
    for key, part in groups:
        full = part.set_index("fl_k")[["n_in", "n_out", "edge_in", "edge_out", "rem_in", "rem_out"]]
        full = full.astype("float64").reindex(np.arange(n), fill_value=0.0).fillna(0.0)
        cin, cout = full.n_in.cumsum().to_numpy(), full.n_out.cumsum().to_numpy()
        before_in = np.concatenate([[0.0], cin[:-1]])
        before_out = np.concatenate([[0.0], cout[:-1]])
        at = before_in + full.edge_in.to_numpy() - before_out - full.edge_out.to_numpy()
        avg = (before_in - before_out) + (full.rem_in.to_numpy() - full.rem_out.to_numpy()) / width
        k = key if isinstance(key, tuple) else (key,)
        out[k] = pd.DataFrame(
            {"at": np.rint(at).astype("int64"), "avg": avg, "began": full.n_in.to_numpy().astype("int64")}
        )
    return out


def _times(grid: np.ndarray, tz: str) -> pd.DatetimeIndex:
    return pd.to_datetime(grid[:-1], unit="us", utc=True).tz_convert(tz)


def wip_over_time(tm: TimeModel, *, freq: str = "D", by: str | None = None) -> pd.DataFrame:
    """Work in progress on a time grid (``freq``: ``h`` hours, ``D`` local days, ``W`` weeks).

    One row per period start ``time`` (in the log's zone; ``period_s`` is the period's length,
    23 or 25 hours for local days across a DST change), with, at that instant, ``open_cases``
    (cases with first start <= t < last end), ``waiting`` (instances enabled but not started:
    en <= t < en + WT) and ``in_service`` (started, not ended: s <= t < e), and the same counts
    averaged over the period (``*_avg``, the exact time average, so that summing ``*_avg``
    times the period lengths gives the total time spent). ``arrivals`` counts cases starting in
    the period. With ``by="activity"`` there is one row per period and activity (``waiting``,
    ``in_service``, their averages, and ``enabled``: waits that began in the period).

    >>> import flowlens, pandas as pd
    >>> from flowlens.timing.model import time_model
    >>> df = pd.DataFrame({"case": ["1", "2"], "activity": ["a", "a"],
    ...                    "start": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 09:30"]),
    ...                    "end": pd.to_datetime(["2024-01-01 10:30", "2024-01-01 10:00"])})
    >>> w = wip_over_time(time_model(flowlens.read_log(df)), freq="h")
    >>> w.open_cases.tolist(), w.open_cases_avg.tolist()
    ([1, 1], [1.5, 0.5])
    """
    import ibis

    if by not in (None, "activity"):
        raise ConfigError(f"unknown grouping '{by}'; use by=None or by='activity'")
    tz = tm.log.timezone
    c, i = tm.cases, tm.instances
    bounds = c.aggregate(lo=c.start_us.min(), hi=c.end_us.max()).to_pandas().iloc[0]
    if pd.isna(bounds.lo):
        return pd.DataFrame()
    lo = int(bounds.lo)
    ib = i.aggregate(lo=i.enabled_us.min()).to_pandas().iloc[0]
    if not pd.isna(ib.lo):
        lo = min(lo, int(ib.lo))
    grid = _grid(lo, int(bounds.hi), freq, tz)
    times = _times(grid, tz)
    period_s = (grid[1:] - grid[:-1]) / US
    keys = ["activity"] if by else []
    wait_iv = i.select(*keys, a=i.enabled_us, b=i.enabled_us + i.wait_us)
    serv_iv = i.filter(~i.wait_activity).select(*keys, a=i.start_us, b=i.start_us + i.proc_us)
    waiting = _occupancy(wait_iv, keys, grid)
    service = _occupancy(serv_iv, keys, grid)
    zero = pd.DataFrame({"at": np.zeros(len(times), "int64"), "avg": 0.0, "began": 0})
    if by is None:
        cases = _occupancy(c.select(a=c.start_us, b=c.end_us), [], grid).get((), zero)
        w = waiting.get((), zero)
        s = service.get((), zero)
        del ibis
        return pd.DataFrame(
            {
                "time": times,
                "period_s": period_s,
                "open_cases": cases["at"].to_numpy(),
                "open_cases_avg": cases["avg"].to_numpy(),
                "arrivals": cases["began"].to_numpy(),
                "waiting": w["at"].to_numpy(),
                "waiting_avg": w["avg"].to_numpy(),
                "in_service": s["at"].to_numpy(),
                "in_service_avg": s["avg"].to_numpy(),
            }
        )
    frames = []
    for key in sorted(set(waiting) | set(service), key=lambda k: str(k[0])):
        w = waiting.get(key, zero)
        s = service.get(key, zero)
        frames.append(
            pd.DataFrame(
                {
                    "time": times,
                    "period_s": period_s,
                    "activity": key[0],
                    "waiting": w["at"].to_numpy(),
                    "waiting_avg": w["avg"].to_numpy(),
                    "enabled": w["began"].to_numpy(),
                    "in_service": s["at"].to_numpy(),
                    "in_service_avg": s["avg"].to_numpy(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def littles_law(tm: TimeModel, wip: pd.DataFrame | None = None, *, freq: str = "D") -> dict[str, Any]:
    """Little's law L = lambda x W as a consistency check of the WIP series and the lead times.

    Over the grid window T (first to last period boundary): ``mean_wip`` = time-averaged open
    cases from :func:`wip_over_time`, ``arrival_rate_per_s`` = cases / T, ``mean_lead_s`` = mean
    lead time, ``lambda_w`` = their product and ``relative_gap`` = |L - lambda W| / lambda W. Over a
    window holding every case the two agree exactly; a gap means the WIP series is wrong.
    ``mean_wip_sampled`` is the plain mean of the counts at the period starts.

    >>> import flowlens, pandas as pd
    >>> from flowlens.timing.model import time_model
    >>> df = pd.DataFrame({"case": ["1", "2"], "activity": ["a", "a"],
    ...                    "start": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 09:30"]),
    ...                    "end": pd.to_datetime(["2024-01-01 10:30", "2024-01-01 10:00"])})
    >>> round(littles_law(time_model(flowlens.read_log(df)), freq="h")["relative_gap"], 9)
    0.0
    """
    w = wip if wip is not None else wip_over_time(tm, freq=freq)
    c = tm.cases
    row = c.aggregate(n=c.count(), lead=c.lead_us.mean()).to_pandas().iloc[0]
    n = int(row.n)
    if w.empty or n == 0:
        return {"mean_wip": None, "arrival_rate_per_s": None, "mean_lead_s": None, "lambda_w": None}
    widths = w["period_s"].to_numpy(dtype=float)
    window_s = float(widths.sum())
    mean_wip = float((w["open_cases_avg"].to_numpy() * widths).sum() / window_s)
    lam = n / window_s
    lead = float(row.lead) / US
    lw = lam * lead
    return {
        "window_s": window_s,
        "mean_wip": mean_wip,
        "mean_wip_sampled": float(w["open_cases"].mean()),
        "arrival_rate_per_s": lam,
        "arrivals_per_day": lam * 86400,
        "mean_lead_s": lead,
        "lambda_w": lw,
        "relative_gap": abs(mean_wip - lw) / lw if lw > 0 else None,
    }


# ---------------------------------------------------------------------------------------------
# utilisation


def _working_us(cal: WorkCalendar, t1: np.ndarray, t2: np.ndarray) -> np.ndarray:
    """Working microseconds of ``cal`` in each [t1, t2) (vectorised over the calendar's
    working intervals, which honour the zone, DST and holidays)."""
    t1 = np.asarray(t1, dtype=np.int64)
    t2 = np.asarray(t2, dtype=np.int64)
    if len(t1) == 0:
        return np.zeros(0, dtype=np.int64)
    if cal.always_open:
        return np.maximum(t2 - t1, 0)
    iv = cal.intervals(int(t1.min()), int(t2.max()) + 1)
    if len(iv) == 0:
        return np.zeros(len(t1), dtype=np.int64)
    a, b = iv[:, 0], iv[:, 1]
    dur = b - a
    cum = np.concatenate([[0], np.cumsum(dur)])

    def clock(t: np.ndarray) -> np.ndarray:
        i = np.searchsorted(a, t, side="right") - 1
        j = np.maximum(i, 0)
        inside = np.clip(t - a[j], 0, dur[j])
        return np.where(i >= 0, cum[j] + inside, 0)

    return np.maximum(clock(t2) - clock(t1), 0)


def utilisation(
    tm: TimeModel,
    *,
    level: str = "resource",
    freq: str = "W",
    high: float = HIGH_UTILISATION,
    min_available: float = 0.1,
    other_work: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Utilisation rho = busy time / available working time, per resource or team and period.

    * **Busy** time of a resource is the union of the intervals [s, e] of its instances (a
      person working two cases at once is busy once), excluding steps that record waiting
      (Queue) and instances without a resource; ``busy_in_calendar_s`` is the part inside the
      resource's working calendar, ``busy_s`` all of it (work outside the calendar shows as the
      difference: overtime, or a calendar that is wrong).
    * **Available** time is the working time of the resource's calendar (from the time model's
      calendars: weekly hours, holidays, zone) within the period, clipped to the resource's
      *active span* (its first start to its last end in the log), so nobody is counted as
      available before joining or after leaving. With the default always-open (24x7) calendar
      this is wall time within the active span, which understates utilisation of people who
      work shifts: give calendars for meaningful figures.
    * rho = busy_in_calendar / available; a team sums busy and available time over its
      resources (person-hours), i.e. lambda E[S] / m for m servers. ``high`` flags rho >= 0.85
      in periods that are ``assessed``: with available time of at least ``min_available`` of the
      period's nominal length (a resource seen once for a minute is not "at capacity").

    ``other_work`` (resource, start_us, end_us; e.g.
    :func:`flowlens.analysis.other_work.other_work_intervals`) is the log's resources' work
    outside the log: it counts as busy time (and extends their active span).

    ``freq``: ``W`` (local weeks from Monday) or ``D`` (local days). Columns: the key
    (``resource`` or ``team``), ``period`` (start, in the log's zone), ``servers`` (resources
    active in the period), ``busy_s``, ``busy_in_calendar_s``, ``available_s``,
    ``utilisation`` (None when nothing was available), ``assessed`` and ``high``.

    >>> import flowlens, pandas as pd
    >>> from flowlens.timing.model import time_model
    >>> df = pd.DataFrame({"case": ["1", "2"], "activity": ["a", "a"], "resource": ["r", "r"],
    ...                    "start": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 11:00"]),
    ...                    "end": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 13:00"])})
    >>> u = utilisation(time_model(flowlens.read_log(df)), freq="D")
    >>> u[["resource", "busy_s", "available_s", "utilisation"]].values.tolist()
    [['r', 10800.0, 14400.0, 0.75]]
    """
    import ibis

    _check_level(tm, level, ("resource", "team"))
    if freq not in ("W", "D"):
        raise ConfigError(f"unknown utilisation period '{freq}'; use W (weeks) or D (days)")
    i = tm.instances
    work = i.filter(~i.wait_activity & i.resource.notnull() & i.start_us.notnull())
    work = work.select("eid", "resource", "team", "calendar", "start_us", "end_us")
    if other_work is not None and len(other_work):
        from flowlens.analysis.other_work import other_work_table

        # only the log's resources, with their calendar and team
        info = work.group_by("resource").aggregate(o_cal=work.calendar.max(), o_team=work.team.max())
        o = other_work_table(other_work)
        o = o.join(info, o.resource == info.resource)
        o = o.select(
            eid=o.o_eid,
            resource=o.resource,
            team=o.o_team,
            calendar=o.o_cal,
            start_us=o.start_us,
            end_us=o.end_us,
        )
        work = work.cast(o.schema()).union(o)
    group = "resource" if level == "resource" else "team"
    work = work.mutate(fl_group=work.resource if level == "resource" else work.team.fill_null(NO_TEAM))
    units = (
        work.group_by(["fl_group", "resource"])
        .aggregate(
            first=work.start_us.min(),
            last=work.end_us.max(),
            calendar=work.calendar.max(),
            team=work.team.max(),
        )
        .to_pandas()
    )
    columns = [
        group,
        "period",
        "servers",
        "busy_s",
        "busy_in_calendar_s",
        "available_s",
        "utilisation",
        "assessed",
        "high",
    ]
    if units.empty:
        return pd.DataFrame(columns=columns)
    tz = tm.log.timezone
    grid = _grid(int(units["first"].min()), int(units["last"].max()), freq, tz)
    times = _times(grid, tz)

    # busy: merge each unit's intervals (gaps and islands), clip them to periods
    keys = ["fl_group", "resource"]
    order = [work.start_us, work.end_us, work.eid]
    w_prev = ibis.window(group_by=keys, order_by=order, rows=(None, -1))
    m = work.mutate(fl_prev=work.end_us.max().over(w_prev))
    m = m.mutate(fl_new=(m.fl_prev.isnull() | (m.start_us > m.fl_prev)).cast("int64"))
    w_run = ibis.window(group_by=keys, order_by=[m.start_us, m.end_us, m.eid], rows=(None, 0))
    m = m.mutate(fl_island=m.fl_new.sum().over(w_run))
    merged = m.group_by([*keys, "fl_island"]).aggregate(
        s=m.start_us.min(), e=m.end_us.max(), calendar=m.calendar.max()
    )
    k = np.arange(len(grid) - 1, dtype=np.int64)
    periods = ibis.memtable(pd.DataFrame({"p_k": k, "p_lo": grid[:-1], "p_hi": grid[1:]}))
    j = merged.join(periods, [periods.p_lo < merged.e, periods.p_hi > merged.s])
    j = j.mutate(cs=ibis.greatest(j.s, j.p_lo), ce=ibis.least(j.e, j.p_hi))
    j = j.mutate(fl_id=ibis.row_number().over(order_by=[j.fl_group, j.resource, j.fl_island, j.p_k]))
    if tm.clock is not None:
        j = tm.log.engine.materialize(j, prefix="fl_busy")
        a = tm.clock.add_clock(
            j.select(fl_key="fl_id", calendar="calendar", t="cs"),
            key="fl_key",
            time_col="t",
            calendar_col="calendar",
            out="b",
        )
        b = tm.clock.add_clock(
            j.select(fl_key="fl_id", calendar="calendar", t="ce"),
            key="fl_key",
            time_col="t",
            calendar_col="calendar",
            out="b",
        )
        inside = a.join(b.select(fl_key="fl_key", b_end="b"), "fl_key")
        inside = inside.select(fl_id="fl_key", fl_in=inside.b_end - inside.b)
        j = j.join(inside, "fl_id")
    else:
        j = j.mutate(fl_in=j.ce - j.cs)
    busy = (
        j.group_by([*keys, "p_k"])
        .aggregate(busy=(j.ce - j.cs).sum(), busy_in=j.fl_in.sum())
        .to_pandas()
        .rename(columns={"p_k": "k"})
    )

    # available: the unit's calendar over each period clipped to its active span
    cals = tm.calendars.all()
    rows = []
    for u in units.itertuples(index=False):
        lo_k = int(np.searchsorted(grid, u.first, side="right") - 1)
        hi_k = int(np.searchsorted(grid, u.last, side="left"))
        ks = np.arange(max(lo_k, 0), min(max(hi_k, lo_k + 1), len(grid) - 1))
        t1 = np.maximum(grid[ks], int(u.first))
        t2 = np.minimum(grid[ks + 1], int(u.last))
        cal = cals.get(u.calendar) or tm.calendars.default
        avail = _working_us(cal, t1, np.maximum(t2, t1))
        rows.append(pd.DataFrame({"fl_group": u.fl_group, "resource": u.resource, "k": ks, "avail": avail}))
    avail_df = pd.concat(rows, ignore_index=True)
    both = avail_df.merge(busy, on=[*keys, "k"], how="outer")
    both[["avail", "busy", "busy_in"]] = both[["avail", "busy", "busy_in"]].astype("float64").fillna(0.0)
    active = both[(both.avail > 0) | (both.busy > 0)]
    per = active.groupby(["fl_group", "k"], sort=True).agg(
        servers=("resource", "nunique"),
        busy=("busy", "sum"),
        busy_in=("busy_in", "sum"),
        avail=("avail", "sum"),
    )
    per = per.reset_index()
    out = pd.DataFrame(
        {
            group: per.fl_group.astype(object),
            "period": times[per.k.to_numpy()],
            "servers": per.servers.astype("int64"),
            "busy_s": per.busy / US,
            "busy_in_calendar_s": per.busy_in / US,
            "available_s": per.avail / US,
        }
    )
    rho = np.where(
        out.available_s > 0, out.busy_in_calendar_s / out.available_s.where(out.available_s > 0), np.nan
    )
    out["utilisation"] = pd.Series(rho, index=out.index).astype(object).where(~np.isnan(rho), None)
    out["assessed"] = out.available_s >= min_available * _NOMINAL_US[freq] / US
    out["high"] = out.assessed & (np.nan_to_num(rho, nan=0.0) >= high)
    if level == "resource":
        teams = units.set_index("resource")["team"]
        out.insert(1, "team", out.resource.map(teams))
    return out.sort_values([group, "period"]).reset_index(drop=True)


def utilisation_summary(util: pd.DataFrame, *, high: float = HIGH_UTILISATION) -> pd.DataFrame:
    """One row per resource or team from :func:`utilisation`'s per-period rows: total busy and
    available time, overall rho (sum busy in calendar / sum available), the peak period's rho
    and start among assessed periods, how many periods were at or above ``high``, the most
    servers seen and ``assessed`` (some period had enough available time to judge). Sorted by
    overall rho, highest first, assessed groups before the others."""
    if util.empty:
        return pd.DataFrame(
            columns=[
                "key",
                "busy_s",
                "busy_in_calendar_s",
                "available_s",
                "utilisation",
                "peak_utilisation",
                "peak_period",
                "periods",
                "periods_high",
                "servers",
                "assessed",
            ]
        )
    key = "resource" if "resource" in util.columns else "team"
    rows = []
    for name, part in util.groupby(key, sort=True):
        avail = float(part.available_s.sum())
        busy_in = float(part.busy_in_calendar_s.sum())
        rho = pd.to_numeric(part.utilisation, errors="coerce")
        judged = rho.where(part.assessed) if "assessed" in part.columns else rho
        peak = judged.idxmax() if judged.notna().any() else None
        rows.append(
            {
                key: name,
                **({"team": part.team.iloc[0]} if "team" in part.columns and key == "resource" else {}),
                "busy_s": float(part.busy_s.sum()),
                "busy_in_calendar_s": busy_in,
                "available_s": avail,
                "utilisation": busy_in / avail if avail > 0 else None,
                "peak_utilisation": float(rho[peak]) if peak is not None else None,
                "peak_period": part.period[peak] if peak is not None else None,
                "periods": len(part),
                "periods_high": int((judged >= high).sum()),
                "servers": int(part.servers.max()),
                "assessed": bool(judged.notna().any()),
            }
        )
    out = pd.DataFrame(rows)
    for col in ("utilisation", "peak_utilisation", "peak_period"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    # groups with enough available time to judge first, then by overall rho
    order = pd.to_numeric(out.utilisation, errors="coerce").fillna(-1.0) + 10.0 * out.assessed
    return out.iloc[np.argsort(-order.to_numpy(), kind="stable")].reset_index(drop=True)


def _auto_freq(tm: TimeModel) -> str:
    c = tm.cases
    row = c.aggregate(lo=c.start_us.min(), hi=c.end_us.max()).to_pandas().iloc[0]
    if pd.isna(row.lo):
        return "D"
    days = (int(row.hi) - int(row.lo)) / (86400 * US)
    return "h" if days <= 4 else "D" if days <= 400 else "W"


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in df.to_dict("records"):
        clean: dict[str, Any] = {}
        for k, v in rec.items():
            if v is pd.NaT:
                clean[k] = None
            elif isinstance(v, pd.Timestamp):
                clean[k] = v.isoformat()
            elif isinstance(v, float) and math.isnan(v):
                clean[k] = None
            elif isinstance(v, np.generic):
                clean[k] = v.item()
            else:
                clean[k] = v
        out.append(clean)
    return out


@dataclass
class BottleneckReport:
    """Bottlenecks at every level, utilisation, WIP over time and Little's law, with one
    sentence per top finding. ``levels`` hold the full ranked tables; ``top`` is how many rows
    the text, JSON and report show."""

    levels: dict[str, pd.DataFrame]
    utilisation: dict[str, pd.DataFrame]
    wip: pd.DataFrame
    wip_freq: str
    util_freq: str
    little: dict[str, Any]
    total_waiting_s: float
    total_waiting_business_s: float
    starts_estimated: bool
    estimated_instances: int
    business_time: bool
    calendars: str
    top: int = 10
    sentences: list[str] = field(default_factory=list)

    def utilisation_summary(self, level: str) -> pd.DataFrame:
        """Per resource or team: overall and peak utilisation (see :func:`utilisation_summary`)."""
        return utilisation_summary(self.utilisation.get(level, pd.DataFrame()))

    def to_dict(self) -> dict[str, Any]:
        """The numbers behind the text and the report section, JSON-ready."""
        return {
            "total_waiting_s": self.total_waiting_s,
            "total_waiting_business_s": self.total_waiting_business_s,
            "starts_estimated": self.starts_estimated,
            "estimated_instances": self.estimated_instances,
            "business_time": self.business_time,
            "calendars": self.calendars,
            "top": self.top,
            "levels": {lv: _records(t.head(self.top)) for lv, t in self.levels.items()},
            "groups": {lv: len(t) for lv, t in self.levels.items()},
            "utilisation_period": self.util_freq,
            "utilisation": {
                lv: _records(self.utilisation_summary(lv).head(self.top)) for lv in self.utilisation
            },
            "wip_period": self.wip_freq,
            "wip": _records(self.wip),
            "littles_law": self.little,
            "sentences": list(self.sentences),
        }


def _wait_phrase(r: dict[str, Any]) -> str:
    if (r["waiting_median_s"] or 0) > 0:
        return f"median {human_duration(r['waiting_median_s'])}"
    return (
        f"{human_count(r['waited'])} of {human_count(r['instances'])} waited, "
        f"{human_duration(r['waiting_mean_s'])} on average"
    )


def _pct(x: float | None) -> str:
    if x is None:
        return "–"
    # whole percents, except below 10 % and where rounding would show a share as 100 %
    return f"{100 * x:.0f} %" if 0.1 <= x < 0.995 or x == 1 else f"{100 * x:.1f} %"


def _periods(n: int, freq: str) -> str:
    noun = "week" if freq == "W" else "day"
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _sentences(rep: BottleneckReport, n: int = 3) -> list[str]:
    out: list[str] = []
    if rep.total_waiting_s <= 0:
        return ["No customer waiting was found between steps (every step started when it was enabled)."]
    act = rep.levels.get("activity")
    if act is not None:
        for r in act.head(n).to_dict("records"):
            if r["waiting_total_s"] <= 0:
                break
            lead = "Customers wait most before" if r["rank"] == 1 else "They also wait before"
            out.append(
                f"{lead} '{r['activity']}': {human_count(r['cases'])} cases, {_wait_phrase(r)}, "
                f"{_pct(r['waiting_share'])} of all waiting."
            )
    tr = rep.levels.get("transition")
    if tr is not None and len(tr) and tr.waiting_total_s.iloc[0] > 0:
        r = tr.iloc[0].to_dict()
        out.append(
            f"The costliest hand-over is '{r['from_activity']}' → '{r['activity']}': "
            f"{human_duration(r['waiting_total_s'])} of waiting in all, {_pct(r['waiting_share'])}."
        )
    for lv, noun in (("team", "team"), ("resource", "resource")):
        t = rep.levels.get(lv)
        if t is None or not len(t):
            continue
        placeholder = NO_TEAM if lv == "team" else NO_RESOURCE
        named = t[t[lv] != placeholder]
        missing = float(t.loc[t[lv] == placeholder, "waiting_share"].sum())
        if missing >= 0.5:
            out.append(f"{_pct(missing)} of waiting is in steps with no {noun} recorded.")
        if not len(named) or named.waiting_total_s.iloc[0] <= 0:
            continue
        r = named.iloc[0].to_dict()
        text = f"Most waiting is in front of {noun} '{r[lv]}' ({_pct(r['waiting_share'])} of all waiting)"
        summ = rep.utilisation_summary(lv)
        row = summ[summ[lv] == r[lv]] if len(summ) else summ
        rho = row.utilisation.iloc[0] if len(row) else None
        if rho is not None and not pd.isna(rho):
            text += f"; it is busy {_pct(rho)} of its available time"
            if rho >= HIGH_UTILISATION:
                text += (
                    ", near capacity, so queueing for its people is a likely cause "
                    "(confirm with the waiting causes before adding capacity)"
                )
            elif rho < 0.5:
                text += (
                    ", so a shortage of hands alone does not explain the waiting (check the waiting causes)"
                )
        out.append(text + ".")
        break
    for lv in ("team", "resource"):
        summ = rep.utilisation_summary(lv)
        hot = (
            summ[pd.to_numeric(summ.peak_utilisation, errors="coerce") >= HIGH_UTILISATION]
            if len(summ)
            else summ
        )
        if len(hot):
            r = hot.iloc[0].to_dict()
            period = r["peak_period"].strftime("%Y-%m-%d") if r["peak_period"] is not None else "?"
            out.append(
                f"{lv.capitalize()} '{r[lv]}' is near capacity: busy {_pct(r['peak_utilisation'])} of its "
                f"available time in the {'week' if rep.util_freq == 'W' else 'day'} from {period} "
                f"({_periods(int(r['periods_high']), rep.util_freq)} at or above {_pct(HIGH_UTILISATION)})."
            )
            break
    if not rep.business_time and rep.utilisation:
        out.append(
            "Utilisation counts every hour of a resource's active span as available (no working "
            "calendar was given), which understates how busy shift workers are."
        )
    if rep.starts_estimated:
        out.append(
            f"Start times were estimated for {human_count(rep.estimated_instances)} instances, so "
            "waiting and processing times are estimates."
        )
    return out


def bottleneck_report(
    tm: TimeModel,
    *,
    levels: Sequence[str] | None = None,
    top: int = 10,
    util_freq: str = "W",
    wip_freq: str | None = None,
    other_work: pd.DataFrame | None = None,
) -> BottleneckReport:
    """Everything of this module for one time model: ranked tables for ``levels`` (default:
    activity, transition, resource, and team when the log has teams), utilisation per resource
    and team (``other_work`` counted as busy: see :func:`utilisation`), WIP over time
    (``wip_freq``: hours for logs of up to 4 days, days up to 400 days, else weeks) and
    Little's law, with one sentence per top finding.

    >>> import flowlens, pandas as pd
    >>> from flowlens.timing.model import time_model
    >>> rows = [("1", "a", "r", "09:00", "10:00"), ("1", "b", "r", "12:00", "12:30"),
    ...         ("2", "a", "r", "10:00", "11:00"), ("2", "b", "r", "11:00", "11:30")]
    >>> df = pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"])
    >>> df[["start", "end"]] = ("2024-01-01 " + df[["start", "end"]]).apply(pd.to_datetime)
    >>> rep = bottleneck_report(time_model(flowlens.read_log(df)))
    >>> rep.sentences[0]
    "Customers wait most before 'b': 2 cases, median 1.0 h, 100 % of all waiting."
    """
    if top < 1:
        raise ConfigError(f"top must be at least 1, got {top}")
    chosen = list(levels) if levels else [lv for lv in LEVELS if lv != "team" or tm.team_column]
    for lv in chosen:
        _check_level(tm, lv)
    tables = {lv: bottlenecks(tm, level=lv) for lv in chosen}
    util_levels = [lv for lv in ("resource", "team") if lv != "team" or tm.team_column]
    util = {lv: utilisation(tm, level=lv, freq=util_freq, other_work=other_work) for lv in util_levels}
    freq = wip_freq or _auto_freq(tm)
    wip = wip_over_time(tm, freq=freq)
    i = tm.instances
    tot = (
        i.aggregate(w=i.wait_us.sum(), wb=i.wait_bus_us.sum(), est=i.start_estimated.cast("int64").sum())
        .to_pandas()
        .iloc[0]
    )
    rep = BottleneckReport(
        levels=tables,
        utilisation=util,
        wip=wip,
        wip_freq=freq,
        util_freq=util_freq,
        little=littles_law(tm, wip, freq=freq),
        total_waiting_s=float(tot.w or 0) / US,
        total_waiting_business_s=float(tot.wb or 0) / US,
        starts_estimated=tm.starts_estimated,
        estimated_instances=int(tot.est or 0),
        business_time=tm.clock is not None,
        calendars=tm.calendars.source,
        top=top,
    )
    rep.sentences = _sentences(rep)
    return rep
