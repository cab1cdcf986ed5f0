"""The time model: one decomposition of time, used by every metric, map, report and simulator.

Per activity instance (docs/methods.md 6): start s (recorded, or estimated and marked), end e,
enabled time en, processing PT = e - s, waiting WT = max(0, s - en) (negative gaps are clipped
and flagged), each also in business time on the calendar of the instance's resource. Per case:
lead time LT = max e - min s, busy time |union of [s, e]|, idle time LT - busy, flow efficiency
busy / LT, and cycle-time efficiency sum PT / (sum PT + sum WT).

Start times of completion-only instances are estimated as in Chapela-Campa & Dumas (methods.md
6.2): s = max(en, the end of the resource's previous instance), capped at ``outlier_factor``
times the activity's median estimated duration; instances with neither get the median.

>>> import flowlens, pandas as pd
>>> df = pd.DataFrame({"case": ["1", "1"], "activity": ["a", "b"], "resource": ["r", "r"],
...                    "start": ["2024-01-01 09:00", "2024-01-01 11:00"],
...                    "end": ["2024-01-01 10:00", "2024-01-01 11:30"]})
>>> tm = time_model(flowlens.read_log(df))
>>> tm.instances.select("activity", "wait_us", "proc_us").order_by("activity").to_pandas().values.tolist()
[['a', 0, 3600000000], ['b', 3600000000, 1800000000]]
>>> round(float(tm.cases.to_pandas().flow_efficiency[0]), 4)
0.6
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from flowlens.errors import ConfigError
from flowlens.timing.business import BusinessClock
from flowlens.timing.calendars import CalendarSet
from flowlens.timing.enablement import ORACLES, concurrent_pairs, enabled_times

if TYPE_CHECKING:
    import ibis

    from flowlens.log import EventLog


@dataclass
class TimeModel:
    """Per-instance and per-case time tables (materialised in the log's engine)."""

    log: EventLog
    #: eid, case_idx, case_id, pos, activity, resource, team, start_us, end_us, start_estimated,
    #: enabled_us, enabler_activity, enabler_resource, wait_activity, wait_us, negative_wait, proc_us,
    #: calendar, wait_bus_us, proc_bus_us
    instances: ibis.Table
    #: case_idx, case_id, start_us, end_us, events, lead_us, busy_us, idle_us, proc_sum_us,
    #: wait_sum_us, wait_bus_sum_us, proc_bus_sum_us, flow_efficiency, cte
    cases: ibis.Table
    calendars: CalendarSet
    concurrency: pd.DataFrame
    oracle: str
    #: True when some start times were estimated (every output that uses them must say so)
    starts_estimated: bool
    team_column: str | None = None
    clock: BusinessClock | None = field(default=None, repr=False)

    def overall(self) -> dict[str, Any]:
        """Log-level totals: processing, waiting, CTE, median flow efficiency, estimation."""
        i, c = self.instances, self.cases
        row = (
            i.aggregate(
                proc=i.proc_us.sum(),
                wait=i.wait_us.sum(),
                wait_bus=i.wait_bus_us.sum(),
                proc_bus=i.proc_bus_us.sum(),
                negative=i.negative_wait.cast("int64").sum(),
                estimated=i.start_estimated.cast("int64").sum(),
                n=i.count(),
            )
            .to_pandas()
            .iloc[0]
        )
        cs = (
            c.aggregate(
                fe=c.flow_efficiency.median(),
                lead=c.lead_us.median(),
                idle=c.idle_us.sum(),
                lead_sum=c.lead_us.sum(),
            )
            .to_pandas()
            .iloc[0]
        )
        proc, wait = float(row.proc or 0), float(row.wait or 0)
        return {
            "processing_s": proc / 1e6,
            "waiting_s": wait / 1e6,
            "waiting_business_s": float(row.wait_bus or 0) / 1e6,
            "processing_business_s": float(row.proc_bus or 0) / 1e6,
            "cycle_time_efficiency": proc / (proc + wait) if proc + wait else None,
            "median_flow_efficiency": None if pd.isna(cs.fe) else float(cs.fe),
            "median_lead_time_s": None if pd.isna(cs.lead) else float(cs.lead) / 1e6,
            "idle_s": float(cs.idle or 0) / 1e6,
            "instances": int(row.n),
            "negative_waits_clipped": int(row.negative or 0),
            "estimated_starts": int(row.estimated or 0),
            "starts_estimated": self.starts_estimated,
            "oracle": self.oracle,
            "concurrent_pairs": [list(p) for p in self.concurrency.itertuples(index=False)],
            "calendars": self.calendars.source,
        }


_WAIT_NAMES = {"queue", "queued", "wait", "waiting", "排队", "等待"}


def _wait_activities(log: EventLog, given: Sequence[str] | None) -> list[str]:
    t = log.table
    names = t.select("activity").distinct().to_pandas().activity.tolist()
    if given is not None:
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ConfigError(f"wait activities {unknown} do not occur in the log")
        return list(given)
    return [a for a in names if a.strip().lower() in _WAIT_NAMES]


def _team_column(log: EventLog, team: str | None) -> str | None:
    if team is None:
        for cand in ("team", "role", "org:role", "org:group", "department", "group"):
            for canon, src in log.attributes.items():
                if src.lower() == cand:
                    return canon
        return None
    for canon, src in log.attributes.items():
        if team in (canon, src):
            return canon
    raise ConfigError(
        f"no column '{team}' for teams; available: {', '.join(sorted(log.attributes.values()))}"
    )


def time_model(
    log: EventLog,
    *,
    calendars: CalendarSet | None = None,
    oracle: str = "heuristics",
    estimate_starts: bool = True,
    outlier_factor: float = 2.0,
    team: str | None = None,
    wait_activities: Sequence[str] | None = None,
    skew_s: float = 60.0,
) -> TimeModel:
    """Build the time model of ``log``.

    ``calendars`` gives working hours per team/resource for business time (default: always
    working, so business time equals calendar time). ``team`` names the attribute holding the
    team or role (detected from team/role/org:group/department when not given).
    ``wait_activities`` are steps that record waiting rather than work (a call's "Queue"): their
    whole span counts as waiting and none as processing; by default activities named exactly
    queue, queued, wait, waiting, 排队 or 等待 (any case). ``skew_s`` tolerates clock skew
    between systems when deciding what enabled a step (methods 6.1).
    """
    import ibis

    if oracle not in ORACLES:
        raise ConfigError(f"unknown concurrency oracle '{oracle}'; choose one of {', '.join(ORACLES)}")
    if outlier_factor <= 1:
        raise ConfigError(f"outlier factor must be above 1, got {outlier_factor}")
    eng = log.engine
    t = log.table
    team_col = _team_column(log, team)
    concurrency = concurrent_pairs(log, oracle=oracle)
    en = enabled_times(log, concurrency, skew_us=int(skew_s * 1_000_000))
    waits = _wait_activities(log, wait_activities)
    base = t.select(
        "eid",
        "case_idx",
        "case_id",
        "pos",
        "activity",
        "resource",
        "start_us",
        "end_us",
        team=t[team_col].cast("string") if team_col else ibis.null("string"),
    )
    x = base.join(en, "eid")
    missing = int(x.filter(x.start_us.isnull()).count().to_pandas())
    estimated = estimate_starts and missing > 0
    if estimated:
        w = ibis.window(group_by=x.resource, order_by=[x.end_us, x.eid])
        avail = ibis.ifelse(x.resource.isnull(), ibis.null("int64"), x.end_us.lag().over(w))
        x = x.mutate(fl_avail=avail)
        raw = ibis.greatest(x.enabled_us.fill_null(x.fl_avail), x.fl_avail.fill_null(x.enabled_us))
        x = x.mutate(fl_raw=ibis.ifelse(x.start_us.isnull(), raw, ibis.null("int64")))
        typical = (
            x.filter(x.fl_raw.notnull()).group_by("activity").aggregate(fl_typ=(x.end_us - x.fl_raw).median())
        )
        x = x.left_join(typical, "activity")
        typ = x.fl_typ.fill_null(0).cast("int64")
        cap = x.end_us - (typ * outlier_factor).cast("int64")
        est = ibis.ifelse(x.fl_raw.isnull(), x.end_us - typ, ibis.greatest(x.fl_raw, cap))
        x = x.mutate(
            start_estimated=x.start_us.isnull(), start_us=x.start_us.fill_null(ibis.least(est, x.end_us))
        )
        x = x.drop("fl_avail", "fl_raw", "fl_typ")
    else:
        x = x.mutate(start_estimated=ibis.literal(False))
    start_for_wait = x.start_us.fill_null(x.end_us)
    gap = start_for_wait - x.enabled_us
    is_wait = x.activity.isin(waits) if waits else ibis.literal(False)
    span = x.end_us - x.start_us.fill_null(x.end_us)
    wait = ibis.ifelse(x.enabled_us.isnull(), ibis.null("int64"), ibis.greatest(gap, 0))
    x = x.mutate(
        wait_activity=is_wait,
        wait_us=ibis.ifelse(is_wait, wait.fill_null(0) + span, wait),
        negative_wait=(gap < 0).fill_null(False),
        proc_us=ibis.ifelse(is_wait, 0, span),
    )

    cals = calendars or CalendarSet.always(log.timezone)
    x, clock = _with_business_time(log, x, cals)
    instances = eng.materialize(x, prefix="fl_instances")
    cases = eng.materialize(_cases(instances), prefix="fl_cases")
    return TimeModel(
        log=log,
        instances=instances,
        cases=cases,
        calendars=cals,
        concurrency=concurrency,
        oracle=oracle,
        starts_estimated=estimated,
        team_column=team_col,
        clock=clock,
    )


def _with_business_time(
    log: EventLog, x: ibis.Table, cals: CalendarSet
) -> tuple[ibis.Table, BusinessClock | None]:
    import ibis

    if all(c.always_open for c in cals.all().values()):
        return x.mutate(
            calendar=ibis.literal(cals.default.name), wait_bus_us=x.wait_us, proc_bus_us=x.proc_us
        ), None
    res = x.select("resource", "team").distinct().to_pandas()
    res["calendar"] = [cals.for_resource(r, tm).name for r, tm in zip(res.resource, res.team, strict=True)]
    mapping = ibis.memtable(res.rename(columns={"resource": "m_res", "team": "m_team"}))
    x = x.left_join(
        mapping,
        [
            x.resource.fill_null("") == mapping.m_res.fill_null(""),
            x.team.fill_null("") == mapping.m_team.fill_null(""),
        ],
    )
    x = x.drop("m_res", "m_team").mutate(calendar=lambda s: s.calendar.fill_null(cals.default.name))
    bounds = (
        x.aggregate(lo=ibis.least(x.start_us.min(), x.enabled_us.min(), x.end_us.min()), hi=x.end_us.max())
        .to_pandas()
        .iloc[0]
    )
    clock = BusinessClock(cals.all(), int(bounds.lo), int(bounds.hi))
    points = (
        x.select("eid", "calendar", t=x.enabled_us, k=ibis.literal(0))
        .union(x.select("eid", "calendar", t=x.start_us, k=ibis.literal(1)))
        .union(x.select("eid", "calendar", t=x.end_us, k=ibis.literal(2)))
    )
    points = points.mutate(pk=points.eid * 3 + points.k)
    clocked = clock.add_clock(points, key="pk", time_col="t", calendar_col="calendar", out="b")
    wide = clocked.group_by("eid").aggregate(
        b_en=clocked.b.max(where=clocked.k == 0),
        b_s=clocked.b.max(where=clocked.k == 1),
        b_e=clocked.b.max(where=clocked.k == 2),
    )
    y = x.join(wide, "eid")
    before = ibis.greatest(y.b_s - y.b_en, 0)
    span = y.b_e - y.b_s
    y = y.mutate(
        wait_bus_us=ibis.ifelse(
            y.wait_activity,
            before.fill_null(0) + span,
            ibis.ifelse(y.wait_us.isnull(), ibis.null("int64"), before),
        ),
        proc_bus_us=ibis.ifelse(y.wait_activity, 0, span),
    )
    return y.drop("b_en", "b_s", "b_e"), clock


def _cases(inst: ibis.Table) -> ibis.Table:
    """Per case: lead time on recorded times (methods 3.3), busy time as the union of the
    instances' [s, e] clipped to the case span, idle time, flow efficiency and CTE."""
    import ibis

    recorded = ibis.ifelse(inst.start_estimated, inst.end_us, inst.start_us.fill_null(inst.end_us))
    span = inst.group_by("case_idx").aggregate(c_start=recorded.min())
    u = inst.join(span, "case_idx")
    s = ibis.greatest(u.start_us, u.c_start)
    w = ibis.window(group_by=u.case_idx, order_by=[s, u.end_us, u.eid], rows=(None, -1))
    prev_end = u.end_us.max().over(w)
    u = u.mutate(fl_cover=ibis.greatest(u.end_us - ibis.greatest(s, prev_end.fill_null(s)), 0))
    c = u.group_by(["case_idx", "case_id"]).aggregate(
        start_us=u.c_start.min(),
        end_us=u.end_us.max(),
        events=u.count(),
        busy_us=u.fl_cover.sum().cast("int64"),
        proc_sum_us=u.proc_us.sum().cast("int64"),
        wait_sum_us=u.wait_us.sum().cast("int64"),
        proc_bus_sum_us=u.proc_bus_us.sum().cast("int64"),
        wait_bus_sum_us=u.wait_bus_us.sum().cast("int64"),
        estimated=u.start_estimated.any(),
    )
    lead = c.end_us - c.start_us
    c = c.mutate(lead_us=lead, idle_us=lead - c.busy_us)
    denom = c.proc_sum_us + c.wait_sum_us.fill_null(0)
    return c.mutate(
        flow_efficiency=ibis.ifelse(c.lead_us > 0, c.busy_us / c.lead_us, ibis.null("float64")),
        cte=ibis.ifelse(denom > 0, c.proc_sum_us / denom, ibis.null("float64")),
    )
