"""Utilisation: busy time over available working time, per resource or team and period."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from flowlens.analysis.bottlenecks.grid import NOMINAL_US, period_starts, time_grid
from flowlens.analysis.bottlenecks.ranking import NO_TEAM, check_level
from flowlens.errors import ConfigError
from flowlens.timing.business import BusinessClock
from flowlens.timing.enablement import drop_tables
from flowlens.timing.model import with_calendar_column

if TYPE_CHECKING:
    from flowlens.timing.calendars import CalendarSet, WorkCalendar
    from flowlens.timing.model import TimeModel

US = 1_000_000
#: utilisation at or above this is flagged as near capacity (Kingman: waits explode as rho -> 1)
HIGH_UTILISATION = 0.85


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
    calendars: CalendarSet | None = None,
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

    ``calendars``: measure working time on these instead of the time model's (e.g. the hours
    :func:`~flowlens.timing.discovery.discover_calendars` finds); only the instances' calendar
    names change, nothing of the time model is computed again.

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

    check_level(tm, level, ("resource", "team"))
    if freq not in ("W", "D"):
        raise ConfigError(f"unknown utilisation period '{freq}'; use W (weeks) or D (days)")
    i = tm.instances
    work = i.filter(~i.wait_activity & i.resource.notnull() & i.start_us.notnull())
    work = work.select("eid", "resource", "team", "calendar", "start_us", "end_us")
    calset = tm.calendars if calendars is None else calendars
    if calendars is not None:
        work = with_calendar_column(work.drop("calendar"), calendars).select(
            "eid", "resource", "team", "calendar", "start_us", "end_us"
        )
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
    lo, hi = int(units["first"].min()), int(units["last"].max())
    grid = time_grid(lo, hi, freq, tz)
    times = period_starts(grid, tz)
    # clocked on the work's own span, other work included: the time model's clock covers the
    # log's span only, and a time outside a clock's span reads as no working time
    open_all = all(c.always_open for c in calset.all().values())
    clock = None if open_all else BusinessClock(calset.all(), lo, hi)

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
    stored: list[ibis.Table] = []  # read by this function alone
    if clock is not None:
        j = tm.log.engine.materialize(j, prefix="fl_busy")
        stored.append(j)
        sums = clock.span_sums(j, by=[*keys, "p_k"], start="cs", end="ce", calendar_col="calendar")
        busy = sums.to_pandas().rename(columns={"elapsed_us": "busy", "working_us": "busy_in"})
    else:
        busy = j.group_by([*keys, "p_k"]).aggregate(busy=(j.ce - j.cs).sum()).to_pandas()
        busy["busy_in"] = busy["busy"]
    busy = busy.rename(columns={"p_k": "k"})
    drop_tables(tm.log, *stored)

    # available: the unit's calendar over each period clipped to its active span
    cals = calset.all()
    rows = []
    for u in units.itertuples(index=False):
        lo_k = int(np.searchsorted(grid, u.first, side="right") - 1)
        hi_k = int(np.searchsorted(grid, u.last, side="left"))
        ks = np.arange(max(lo_k, 0), min(max(hi_k, lo_k + 1), len(grid) - 1))
        t1 = np.maximum(grid[ks], int(u.first))
        t2 = np.minimum(grid[ks + 1], int(u.last))
        cal = cals.get(u.calendar) or calset.default
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
    out["assessed"] = out.available_s >= min_available * NOMINAL_US[freq] / US
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
