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

from datetime import date, time, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from flowlens.timing.calendars import CalendarSet, Span, WorkCalendar
from flowlens.timing.enablement import drop_tables
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
    # One pass over the events: their counts per resource, local day and hour, stored (a few
    # rows per person-day); every count below reads that table, not the events again (seven
    # passes over the events, each with its time-zone join, were a minute of CPU at 10^8).
    # (the weekday, a function of the day, is a key only to be carried: with_local_time's)
    per_hour = log.engine.materialize(
        local.group_by(["resource", "l_day", "l_weekday", "l_hour"]).aggregate(n=local.count()),
        prefix="fl_cal_hours",
    )
    hours = per_hour.mutate(week=((per_hour.l_day + 3) / 7).floor().cast("int64"))
    slots_df = (
        hours.group_by(["resource", "l_weekday", "l_hour"]).aggregate(weeks=hours.week.nunique()).to_pandas()
    )
    active = hours.group_by("resource").aggregate(active_weeks=hours.week.nunique(), events=hours.n.sum())
    active_df = active.to_pandas().set_index("resource")
    pooled_df = hours.group_by(["l_weekday", "l_hour"]).aggregate(weeks=hours.week.nunique()).to_pandas()
    all_weeks = int(hours.aggregate(w=hours.week.nunique()).to_pandas().w.iloc[0] or 0)
    res_days = hours.select("resource", "l_day").distinct().to_pandas()
    days = pd.Series(res_days.l_day.unique()).astype("int64")
    drop_tables(log, per_hour)
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
