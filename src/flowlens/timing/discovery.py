"""Discovering working calendars from when resources actually work.

For each resource, the instants at which it starts activity instances (ends, for instances
without a recorded start) are placed in weekly slots (weekday x hour, local time of the log): a
person on shift starts work, while an end can run past the end of a shift (the task in hand is
finished), which would stretch every shift by an hour. A slot is part of the resource's working
week when the resource was seen in it in at least ``min_share`` of the weeks in which it was
active at all (after pix-framework's crisp calendar discovery: granularity 1 h, a support
threshold per slot). Resources seen fewer than ``min_events`` times get the pooled calendar of
all resources. Days on which nobody worked, although their weekday is normally worked, are
holidays for everyone; days on which a resource with a calendar of its own did no work at all
within its active period, although its calendar works that weekday, are its days off (a
back office closed for a holiday week while the call centre works; docs/methods.md 7.3).

>>> import flowlens, pandas as pd
>>> ts = pd.date_range("2024-01-01 09:30", periods=40, freq="D")      # every day at 09:30
>>> ts = ts[ts.dayofweek < 5]                                          # weekdays only
>>> df = pd.DataFrame({"case": range(len(ts)), "activity": "a", "resource": "r", "timestamp": ts})
>>> cals = discover_calendars(flowlens.read_log(df), min_events=5)
>>> cal = cals.for_resource("r")
>>> [str(a) for a, b in cal.hours[0]], 5 in cal.hours
(['09:00:00'], False)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, time, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from flowlens.timing.calendars import CalendarSet, Span, WorkCalendar
from flowlens.timing.localtime import with_local_time

if TYPE_CHECKING:
    from flowlens.log import EventLog


def _spans(hours: list[int]) -> tuple[Span, ...]:
    """Consecutive hours as (start, end) spans."""
    out: list[Span] = []
    for h in sorted(set(hours)):
        if out and _h(out[-1][1]) == h:
            out[-1] = (out[-1][0], time.max if h + 1 == 24 else time(h + 1))
        else:
            out.append((time(h), time.max if h + 1 == 24 else time(h + 1)))
    return tuple(out)


def _h(t: time) -> int:
    return 24 if t == time.max else t.hour


def discover_calendars(
    log: EventLog, *, min_share: float = 0.2, min_events: int = 20, holidays: bool = True
) -> CalendarSet:
    """One calendar per resource (pooled for rarely seen ones), in the log's time zone."""
    import ibis

    t = log.table
    inst = t.filter(t.resource.notnull())
    points = inst.select("resource", ts=inst.start_us.fill_null(inst.end_us))
    local = with_local_time(points, "ts", log.timezone, prefix="l_")
    local = local.mutate(week=((local.l_day + 3) / 7).floor().cast("int64"))
    slots = local.group_by(["resource", "l_weekday", "l_hour"]).aggregate(
        weeks=local.week.nunique(), n=local.count()
    )
    active = local.group_by("resource").aggregate(active_weeks=local.week.nunique(), events=local.count())
    slots_df = slots.to_pandas()
    active_df = active.to_pandas().set_index("resource")
    pooled_local = local.group_by(["l_weekday", "l_hour"]).aggregate(weeks=local.week.nunique())
    all_weeks = int(local.aggregate(w=local.week.nunique()).to_pandas().w.iloc[0] or 0)
    pooled_df = pooled_local.to_pandas()
    days = local.select("l_day").distinct().to_pandas().l_day.astype("int64")
    res_days = local.select("resource", "l_day").distinct().to_pandas()
    worked_by = res_days.groupby("resource").l_day.agg(lambda v: set(v.astype("int64").tolist())).to_dict()
    del ibis

    def build(name: str, frame: pd.DataFrame, weeks: int) -> dict[int, tuple[Span, ...]]:
        need = max(1.0, min_share * weeks)
        hours: dict[int, tuple[Span, ...]] = {}
        keep = frame[frame.weeks >= need]
        for wd, grp in keep.groupby("l_weekday"):
            hours[int(wd)] = _spans([int(h) for h in grp.l_hour])
        return hours

    pooled_hours = build("pooled", pooled_df, all_weeks)
    hol: frozenset[date] = frozenset()
    if holidays and len(days):
        worked = set(days.tolist())
        epoch = date(1970, 1, 1)
        lo, hi = int(days.min()), int(days.max())
        hol = frozenset(
            epoch + timedelta(days=d)
            for d in range(lo, hi + 1)
            if d not in worked
            and ((d + 3) % 7) in pooled_hours
            and _is_regular(pooled_df, (d + 3) % 7, all_weeks)
        )
    tz = log.timezone
    default = WorkCalendar(name="discovered:pooled", timezone=tz, hours=pooled_hours, holidays=hol)
    resources: dict[str, str | WorkCalendar] = {}
    # All resources' slots at once (one Python step per resource and weekday, not a frame
    # filtered per resource: a log of thousands of people): the slots seen in enough of the
    # resource's active weeks, as spans per weekday.
    act = active_df[active_df.events >= min_events]
    need = (act.active_weeks.astype(float) * min_share).clip(lower=1.0)
    s = slots_df[slots_df.resource.isin(act.index)]
    s = s[s.weeks.to_numpy(float) >= need.reindex(s.resource).to_numpy(float)]
    per_day = s.groupby(["resource", "l_weekday"], sort=True).l_hour.agg(list)
    hours_of: dict[object, dict[int, tuple[Span, ...]]] = {}
    for (res, wd), hrs in per_day.items():
        hours_of.setdefault(res, {})[int(wd)] = _spans([int(h) for h in hrs])
    for res, hours in hours_of.items():
        if hours:
            own = worked_by.get(res, set())
            off = (
                frozenset(
                    date(1970, 1, 1) + timedelta(days=d)
                    for d in range(min(own), max(own) + 1)
                    if d not in own and ((d + 3) % 7) in hours
                )
                if own and holidays
                else frozenset()
            )
            resources[str(res)] = WorkCalendar(
                name=f"discovered:{res}", timezone=tz, hours=hours, holidays=hol | off
            )
    return CalendarSet(default=default, resources=resources, source="discovered from the log")


def _is_regular(pooled: pd.DataFrame, weekday: int, weeks: int) -> bool:
    """A weekday is normally worked when some slot of it is seen in most weeks."""
    seen = pooled[pooled.l_weekday == weekday].weeks
    return bool(len(seen)) and int(seen.max()) >= 0.5 * weeks


#: A member's hour is a break of their own when they start less than this share of the work
#: their share of the group would give them in it ...
BREAK_RATIO = 0.2
#: ... and a shortfall that large is not chance (Poisson probability below this over the
#: member's whole week).
BREAK_P = 1e-3


def member_breaks(
    starts: pd.DataFrame,
    group_of: Mapping[str, str],
    calendars: Mapping[str, WorkCalendar],
    *,
    ratio: float = BREAK_RATIO,
    p_value: float = BREAK_P,
) -> dict[str, WorkCalendar]:
    """Members' own calendars where they take breaks their group's calendar does not show.

    A group's calendar is read off its members' pooled starts, so it is the union of their
    shifts: when half a team has lunch at 12 and half at 13, both hours look worked, and each
    member seems to work an hour a day more than they do. Within the group's working hours
    (whole hours), a member's hour (weekday × hour) is a break of their own when they start
    less than ``ratio`` of the work their share of the group's starts would give them in it,
    and the Poisson probability of so few starts, on that weekday or at that hour over all
    weekdays, is below ``p_value`` divided by the number of such tests (the chance of any
    such dip in a member's week; docs/methods.md §16.2): a dip the group's other members
    fill. Only hours are removed, never added; members
    without such a dip are left out (they keep the group's calendar). ``starts``: one row per
    start with ``resource`` and ``s_us`` (UTC µs); ``group_of``: resource -> group key;
    ``calendars``: group key -> the group's calendar (whole-hour spans).

    >>> import numpy as np, pandas as pd
    >>> from datetime import time
    >>> cal = WorkCalendar(name="g", timezone="UTC", hours={d: ((time(9), time(17)),) for d in range(5)})
    >>> days = pd.bdate_range("2024-01-01", periods=40)
    >>> hrs = {"a": [9, 10, 11, 13, 14, 15, 16], "b": [9, 10, 11, 12, 14, 15, 16]}   # lunch 12 / 13
    >>> ts = [(r, d + pd.Timedelta(hours=h, minutes=m)) for r in hrs for d in days for h in hrs[r] for m in (5, 35)]
    >>> st = pd.DataFrame({"resource": [r for r, _ in ts], "s_us": [t.value // 1000 for _, t in ts]})
    >>> own = member_breaks(st, {"a": "g", "b": "g"}, {"g": cal})
    >>> [(str(a), str(b)) for a, b in own["a"].hours[0]], [(str(a), str(b)) for a, b in own["b"].hours[0]]
    ([('09:00:00', '12:00:00'), ('13:00:00', '17:00:00')], [('09:00:00', '13:00:00'), ('14:00:00', '17:00:00')])
    """
    from scipy.stats import poisson

    if not len(starts) or not calendars:
        return {}
    frames = []
    for g, cal in sorted(calendars.items()):
        if cal is None or cal.always_open:
            continue
        members = sorted(r for r, k in group_of.items() if k == g)
        if len(members) < 2:
            continue
        s = starts[starts.resource.astype(str).isin(members)]
        if not len(s):
            continue
        local = pd.DatetimeIndex(pd.to_datetime(s.s_us.to_numpy("int64"), unit="us", utc=True)).tz_convert(
            cal.timezone
        )
        frames.append(
            pd.DataFrame(
                {
                    "group": g,
                    "resource": s.resource.astype(str).to_numpy(),
                    "wd": local.weekday.to_numpy(),
                    "h": local.hour.to_numpy(),
                }
            )
        )
    if not frames:
        return {}
    pts = pd.concat(frames, ignore_index=True)
    # the group's whole working hours, as (group, weekday, hour) rows
    open_rows = [
        (g, wd, h)
        for g, cal in sorted(calendars.items())
        if cal is not None and not cal.always_open
        for wd, spans in cal.hours.items()
        for a, b in spans
        for h in range(a.hour + (1 if a.minute or a.second else 0), _h(b))
    ]
    slots = pd.DataFrame(open_rows, columns=["group", "wd", "h"]).drop_duplicates()
    pts = pts.merge(slots, on=["group", "wd", "h"], how="inner")
    if not len(pts):
        return {}
    n_g = pts.groupby(["group", "wd", "h"]).size().rename("n_g").reset_index()
    share = (pts.groupby(["group", "resource"]).size() / pts.groupby("group").size()).rename("share")
    n_p = pts.groupby(["group", "resource", "wd", "h"]).size().rename("n_p")
    grid = (
        share.reset_index()
        .merge(slots, on="group")
        .merge(n_g, on=["group", "wd", "h"], how="left")
        .merge(n_p.reset_index(), on=["group", "resource", "wd", "h"], how="left")
        .fillna({"n_g": 0, "n_p": 0})
    )
    grid["expected"] = grid.share.to_numpy(float) * grid.n_g.to_numpy(float)
    # p_value holds for a member's whole week (Bonferroni over the tests): a team of many
    # people and hours would otherwise show dips by chance alone. An hour is tested on each
    # weekday (a shift that differs by day) and over all weekdays together (a daily break:
    # five days' starts tell it where one day's are too few).
    daily = grid.groupby(["group", "resource", "h"], as_index=False)[["n_p", "expected"]].sum()
    n_tests = grid.groupby(["group", "resource"]).h.transform("size") + grid.groupby(
        ["group", "resource"]
    ).h.transform("nunique")

    def dip(n: pd.Series, exp: pd.Series, tests: pd.Series | np.ndarray) -> np.ndarray:
        e = exp.to_numpy(float)
        k = n.to_numpy(float)
        return (k < ratio * e) & (poisson.cdf(k, np.maximum(e, 1e-12)) < p_value / np.asarray(tests, float))

    daily_tests = daily.merge(
        pd.DataFrame({"group": grid.group, "resource": grid.resource, "t": n_tests}).drop_duplicates(
            ["group", "resource"]
        ),
        on=["group", "resource"],
    ).t
    daily["daily"] = dip(daily.n_p, daily.expected, daily_tests)
    grid = grid.merge(daily[["group", "resource", "h", "daily"]], on=["group", "resource", "h"], how="left")
    low = dip(grid.n_p, grid.expected, n_tests) | (
        grid.daily.to_numpy(bool) & (grid.n_p.to_numpy(float) < ratio * grid.expected.to_numpy(float))
    )
    breaks = grid[low].sort_values(["resource", "wd", "h"])
    out: dict[str, WorkCalendar] = {}
    for res, b in breaks.groupby("resource", sort=True):
        cal = calendars[group_of[str(res)]]
        off = set(zip(b.wd.astype(int), b.h.astype(int), strict=True))
        hours: dict[int, tuple[Span, ...]] = {}
        for wd in sorted(cal.hours):
            keep = [
                h
                for a, e in cal.hours[wd]
                for h in range(a.hour + (1 if a.minute or a.second else 0), _h(e))
                if (wd, h) not in off
            ]
            if keep:
                hours[wd] = _spans(keep)
        out[str(res)] = replace(cal, name=f"{cal.name} less the breaks of {res}", hours=hours)
    return out
