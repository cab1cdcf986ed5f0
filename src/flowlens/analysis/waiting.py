"""Why customers wait: every waiting interval split into its causes (Kronos, methods.md 7).

For each activity instance i, the customer waiting charged to it by the time model (the idle
time of its case just before it, W = [wait_from(i), s(i)); for a wait step such as a queue, up
to its end) is split into causes, in priority order, each taking only what earlier causes left:

1. **batching**: i is a member of a batch (:mod:`flowlens.analysis.batch_detection`): all its waiting,
   as in Kronos (the batch decides when it starts, including across a night);
2. **contention**: the resource is busy with an instance k queued no later than i
   (en(k) <= en(i), s(k) < s(i), e(k) > en(i)): [max(en(i), s(k)), min(s(i), e(k)));
3. **prioritisation**: the same for instances enabled after i but served first;
4. **unavailability**: the resource is off shift on its calendar (given, or discovered from
   when it works, :func:`flowlens.timing.discovery.discover_calendars`), counted only after
   the last time the resource was on shift and free for an hour and then went off shift
   without starting the case (before it the case was not ready, so the nights before are the
   customer's or a third party's). Without a given calendar, shifts are discovered only from
   times finer than an hour and only for recorded performers: a date-only log, or a step
   whose performer is not recorded, has no shift to be off;
5. **extraneous**: the rest, which the log cannot explain (the customer, a third party, other
   work): the parts always sum to the waiting time.

The split is defined by a sweep over the boundaries of all covering intervals (a +1/-1 per
interval, cumulative sums per waiting instance), as Ibis expressions, so it runs in the engine
(:class:`_Sweep`, Spark's path). Its size grows with the waits' length times the resources'
load, so on DuckDB the same numbers come from log-sized timelines in numpy
(:mod:`flowlens.analysis.waiting_split`, methods 7.4). Impact on cycle-time efficiency: CTE_without(cause) = sum PT / (sum PT + sum WT -
sum WT_cause), an upper bound that ignores knock-on effects.

>>> import flowlens, pandas as pd
>>> from flowlens.timing.model import time_model
>>> rows = [("1", "a", "x", "2024-01-01 09:00", "2024-01-01 09:10"),
...         ("1", "b", "r", "2024-01-01 10:00", "2024-01-01 11:00"),   # waits 50 min
...         ("2", "a", "x", "2024-01-01 10:10", "2024-01-01 10:20"),
...         ("2", "b", "r", "2024-01-01 11:00", "2024-01-01 11:30")]   # waits 40 min for r
>>> log = flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"]))
>>> w = waiting_causes(time_model(log), calendars=CalendarSet.always())
>>> w.by("activity").loc["b", ["wait_s", "contention_s", "extraneous_s"]].tolist()
[5400.0, 2400.0, 3000.0]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from flowlens.analysis.batch_detection import detect_batches, resource_starts, shared_resources, slice_ranges
from flowlens.analysis.other_work import other_work_intervals, other_work_table
from flowlens.errors import ConfigError
from flowlens.i18n import M_
from flowlens.relational import union_all, with_flag
from flowlens.timing.business import BusinessClock
from flowlens.timing.calendars import CalendarSet, WorkCalendar
from flowlens.timing.discovery import discover_calendars
from flowlens.timing.enablement import drop_tables
from flowlens.timing.model import case_slice, case_slices

if TYPE_CHECKING:
    import ibis
    import numpy as np

    from flowlens.log import EventLog
    from flowlens.timing.model import TimeModel

CAUSES = ("batching", "contention", "prioritization", "unavailability", "extraneous")
LEVERS = {  # shown in the report: marked so it reads them in its language
    "batching": M_("change the batch firing rule (smaller or more frequent batches, or none)"),
    "contention": M_("add capacity or cross-train for this step"),
    "prioritization": M_("revisit the queue discipline (who is served first)"),
    "unavailability": M_("align shifts and calendars with when work arrives"),
    "extraneous": M_(
        "find out who held the case: the customer or a third party (reminders, deadlines, "
        "digital upload) or staff on work outside the log (record it: --other-work)"
    ),
}
#: Python memory of the prefix split per row of a chunk (a wait or an interval of work): the
#: arrays read from the engine and split_groups' temporaries (peak over rows, measured)
BYTES_PER_SPLIT_ROW = 400
LEVELS = {
    "activity": ["activity"],
    # the step before, in the map's order: every transition named is an edge of the map
    "transition": ["prev_activity", "activity"],
    "resource": ["resource"],
    "handoff": ["prev_activity", "prev_resource", "activity", "resource"],
}


@dataclass
class WaitingAnalysis:
    """Waiting split into causes per instance, with aggregations."""

    tm: TimeModel
    #: the stored split, one row per waiting instance: eid, wait_us, batching_us, contention_us,
    #: prioritization_us, unavailability_us, extraneous_us (numbers only: the instance's names
    #: are the time model's, looked up where they are read, :attr:`per_instance`)
    causes: ibis.Table
    batches: pd.DataFrame
    calendars: CalendarSet
    #: eid, batch_id, batch_first_start, batch_enabled, size: the instances in ``batches``
    batch_members: ibis.Table | None = None
    #: working time per calendar over the log's span, and each resource's calendar name
    #: (shared resources: "24x7"); what the split used, for analyses built on it
    clock: BusinessClock | None = field(default=None, repr=False)
    resource_calendars: dict[Any, str] = field(default_factory=dict, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def per_instance(self) -> ibis.Table:
        """eid, case_idx, activity, resource, prev_activity, prev_resource, wait_us and the
        five causes' microseconds per waiting instance: :attr:`causes` with the instance's
        names from the time model."""
        return self._named(["case_idx", "activity", "resource", "prev_activity", "prev_resource"])

    def _named(self, names: list[str]) -> ibis.Table:
        """:attr:`causes` with the instances' columns ``names`` (after eid), joined where the
        result is read: the split does not store the names a second time."""
        inst = self.tm.instances.select("eid", *names)
        return inst.join(self.causes, "eid").select("eid", *names, "wait_us", *[f"{c}_us" for c in CAUSES])

    def by(self, level: str = "activity") -> pd.DataFrame:
        """Waiting per group in seconds, by cause, with shares and the CTE gain per cause."""
        if level not in LEVELS:
            raise ConfigError(f"unknown level '{level}'; choose one of {', '.join(LEVELS)}")
        if level in self._cache:
            return self._cache[level]
        keys = LEVELS[level]
        # An activity's sums are its transitions' added up (a few rows): the report reads both
        # tables, and each of them from the split would be a join as long as the log.
        sums = self._sums(LEVELS["transition"] if level == "activity" else keys)
        if level == "activity":
            sums = sums.groupby(keys, sort=False, dropna=False).sum(numeric_only=True).reset_index()
        df = sums[keys].assign(instances=sums.instances)
        for c in ("wait", *CAUSES):
            df[f"{c}_s"] = sums[f"{c}_us"] / 1e6
        df = df.sort_values(["wait_s", *LEVELS[level]], ascending=[False] + [True] * len(LEVELS[level]))
        total = float(df.wait_s.sum()) or 1.0
        df["share_of_all_waiting"] = df.wait_s / total
        for c in CAUSES:
            df[f"{c}_share"] = (df[f"{c}_s"] / df.wait_s).where(df.wait_s > 0, 0.0)
        df["dominant_cause"] = df[[f"{c}_s" for c in CAUSES]].idxmax(axis=1).str.removesuffix("_s")
        df = df.set_index(LEVELS[level] if len(LEVELS[level]) > 1 else LEVELS[level][0])
        self._cache[level] = df
        return df

    def _sums(self, keys: list[str]) -> pd.DataFrame:
        """Per group of ``keys``: instances and the wait's and causes' total microseconds
        (exact integers: the engine's sums, whatever the order they are added in)."""
        name = f"sums:{','.join(keys)}"
        if name not in self._cache:
            p = self._named(keys)
            # eid's count, not the rows': with every aggregate on the split's side, DuckDB
            # would first aggregate the split by eid, which is unique (2-3 times the cost)
            aggs = {f"{c}_us": p[f"{c}_us"].sum() for c in ("wait", *CAUSES)}
            self._cache[name] = p.group_by(keys).aggregate(instances=p.eid.count(), **aggs).to_pandas()
        return self._cache[name]

    def overall(self) -> dict[str, Any]:
        """Totals by cause, shares, and cycle-time efficiency now and without each cause."""
        p = self.causes
        aggs = {f"{c}": p[f"{c}_us"].sum() for c in CAUSES}
        row = p.aggregate(wait=p.wait_us.sum(), n=p.count(), **aggs).to_pandas().iloc[0]
        tm_overall = self.tm.overall()
        proc = tm_overall["processing_s"]
        wait_all = tm_overall["waiting_s"]
        causes = {c: float(row[c] or 0) / 1e6 for c in CAUSES}
        cte = proc / (proc + wait_all) if proc + wait_all else None
        return {
            "waiting_s": float(row.wait or 0) / 1e6,
            # lead time = service + customer waiting + after the clock stop (methods 6.3)
            "reconciliation": {
                "lead_time_total_s": tm_overall["lead_time_total_s"],
                "service_s": tm_overall["service_s"],
                "customer_waiting_s": wait_all,
                "after_clock_stop_s": tm_overall["after_clock_stop_s"],
                "clock_stop": tm_overall["clock_stop"],
                "step_waiting_since_enabled_s": tm_overall["step_waiting_since_enabled_s"],
            },
            "waiting_instances": int(row.n),
            "by_cause_s": causes,
            "by_cause_share": {c: (v / wait_all if wait_all else 0.0) for c, v in causes.items()},
            "cycle_time_efficiency": cte,
            "cte_without": {
                c: (proc / (proc + wait_all - v) if proc + wait_all - v > 0 else None)
                for c, v in causes.items()
            },
            "levers": LEVERS,
            "batches": len(self.batches),
            "calendars": self.calendars.source,
            "starts_estimated": self.tm.starts_estimated,
        }


def waiting_causes(
    tm: TimeModel,
    *,
    calendars: CalendarSet | None = None,
    batch_gap_s: float = 0.0,
    min_batch_idle_s: float = 1800.0,
    other_work: EventLog | pd.DataFrame | None = None,
    ready_evidence_s: float = 3600.0,
    method: str = "auto",
    shared: set[str] | None = None,
) -> WaitingAnalysis:
    """Split every waiting interval of ``tm`` into causes.

    ``calendars`` decide when resources are on shift; by default the time model's calendars
    when it was given any, otherwise calendars discovered from the log. ``other_work`` is the
    same staff's work outside the log (another log, e.g. alerts or counter business, or
    :func:`~flowlens.analysis.other_work.other_work_intervals` of one): it makes their resources busy, so waiting behind it
    is contention or prioritisation, and it is never itself analysed (methods 7.1).
    ``method`` computes the same split as the sweep in the engine (``"sweep"``) or from
    log-sized timelines in numpy (``"prefix"``, :mod:`flowlens.analysis.waiting_split`);
    ``"auto"`` takes the sweep on Spark and the prefix sums otherwise. ``shared``:
    :func:`~flowlens.analysis.batch_detection.shared_resources` of ``tm``, when the caller has
    it (found otherwise).
    """
    import ibis

    log = tm.log
    discovered = False
    if calendars is None:
        given = not all(c.always_open for c in tm.calendars.all().values())
        # Shifts cannot be read off times recorded to the hour or coarser (date-only fines:
        # every event "at midnight"); without a given calendar nobody is then off shift.
        discovered = not given and (log.time_resolution_s or 0) < 3600
        calendars = discover_calendars(log) if discovered else tm.calendars
    inst = tm.instances
    # One pass over the instances for both the (resource, team) pairs and the log's span (the
    # earliest of the pairs' first times, the latest of their last ends).
    res = (
        inst.group_by(["resource", "team"])
        .aggregate(lo=ibis.least(inst.enabled_us.min(), inst.start_us.min()), hi=inst.end_us.max())
        .to_pandas()
    )
    lo, hi = int(res.lo.min()), int(res.hi.max())
    res = res.drop(columns=["lo", "hi"])
    cals = calendars.all()
    # Not one person at a time (the customer, systems): always available, no contention,
    # no batches (methods 7.1).
    starts = resource_starts(tm)  # counted once for both
    if shared is None:
        shared = shared_resources(tm, starts=starts)
    always_name = "24x7"
    # A step whose performer is not recorded has no known shift: only a calendar the user gave
    # can put it off shift.
    res["wcal"] = [
        always_name
        if r in shared or (discovered and not isinstance(r, str))
        else calendars.for_resource(r if isinstance(r, str) else None, t if isinstance(t, str) else None).name
        for r, t in zip(res.resource, res.team, strict=True)
    ]
    if shared or discovered:
        cals = {**cals, always_name: WorkCalendar.preset("24x7", timezone=log.timezone)}
    clock = BusinessClock(cals, lo, hi)
    res_cal = dict(zip(res.resource.astype(object), res.wcal, strict=True))

    def working(resource: str, a: int, b: int) -> int:
        return clock.working_us(res_cal.get(resource, calendars.default.name), a, b)

    other = None
    if other_work is not None:
        if not isinstance(other_work, pd.DataFrame):
            other_work = other_work_intervals(other_work, calendars)
        other = other_work_table(other_work)
    batches = detect_batches(
        tm,
        gap_s=batch_gap_s,
        min_idle_s=min_batch_idle_s,
        working_us=working,
        shared=shared,
        other_work=other,
        starts=starts,
    )
    members = batches.members

    mapping = ibis.memtable(res.rename(columns={"resource": "m_res", "team": "m_team"}))
    waiting = inst.filter(inst.wait_us > 0)

    def intervals(part: ibis.Table) -> ibis.Table:
        w = part.left_join(
            mapping,
            [
                part.resource.fill_null("\0") == mapping.m_res.fill_null("\0"),
                part.team.fill_null("\0") == mapping.m_team.fill_null("\0"),
            ],
        )
        return w.select(
            "eid",
            "resource",
            # the customer waiting interval charged to the instance (timing.model): the causes
            # split exactly this, so they sum to the customer's waiting
            en="wait_from_us",
            wend=w.wait_from_us + w.wait_us,
            # queued behind k when k was enabled no later than this instance
            ready=w.enabled_us.fill_null(w.wait_from_us),
            wcal=w.wcal.fill_null(calendars.default.name),
            # the instance's own work, which the sweep leaves out of its resource's work
            own_s="start_us",
            own_e="end_us",
        )

    # Computed once (every cause below reads it), without the names the split does not read,
    # and slice by slice of cases: each slice is stored (compressed on a large log) before the
    # next is made, where the whole log's rows at once were held uncompressed (10^8 events:
    # 15 GB spilled by this one statement, methods 7.4).
    slices = case_slices(log)
    w_parts = [log.engine.materialize(intervals(case_slice(waiting, r)), prefix="fl_wait_iv") for r in slices]
    w = union_all(w_parts)
    # contention and prioritisation: the resource works on another instance k meanwhile
    # (instants keep nobody busy)
    k = inst.filter(inst.resource.notnull() & inst.start_us.notnull() & (inst.end_us > inst.start_us))
    k = k.select(k_eid="eid", k_res="resource", k_s="start_us", k_e="end_us", k_en="enabled_us")
    if other is not None:
        o = other.filter(other.end_us > other.start_us)
        o = o.select(
            k_eid=o.o_eid,
            k_res=o.resource,
            k_s=o.start_us,
            k_e=o.end_us,
            k_en=o.enabled_us,
        )
        k = k.cast(o.schema()).union(o)
    always = [n for n, c in cals.items() if c.always_open]
    sweep = _Sweep(w, members, k, sorted(shared), always, clock, int(ready_evidence_s * 1e6), log.engine)
    if method == "auto":
        # Spark keeps the distributed sweep; DuckDB brings the timelines into numpy (O(n log n))
        method = "sweep" if log.engine.name == "spark" else "prefix"
    if method == "sweep":
        split = _stored(sweep.split(w), log)
    elif method == "prefix":
        split = _split_prefix(sweep, log)
    else:
        raise ConfigError(f"unknown waiting split method '{method}'; choose auto, prefix or sweep")
    drop_tables(log, *w_parts, *sweep.tables)
    return WaitingAnalysis(
        tm=tm,
        causes=split,
        batches=batches.batches,
        calendars=calendars,
        batch_members=members,
        clock=clock,
        resource_calendars=res_cal,
    )


@dataclass
class _Sweep:
    """The split defined as a sweep (methods 7.1), run in the engine: for each waiting interval,
    every boundary of the intervals that cover it (batch, the resource's other work, shifts),
    a +1/-1 per interval and cumulative sums per waiting instance. Its size grows with the
    waits' length times the resources' load, so on DuckDB :func:`_split_prefix` computes the
    same numbers; the sweep stays the definition, the Spark path and the fallback for waits
    whose own instance lies inside their waiting interval."""

    #: the waiting intervals (fl_wait_iv) and the batch members
    w: ibis.Table
    members: ibis.Table
    #: every resource's work: k_eid, k_res, k_s, k_e, k_en (instants excluded)
    k: ibis.Table
    shared: list[str]
    #: calendars that are always open
    always: list[str]
    clock: BusinessClock
    ready_evidence_us: int
    #: the log's engine (the segments are materialised there)
    engine: Any
    #: the segment tables :meth:`split` stored, read by its result alone (the caller drops them
    #: once that is stored)
    tables: list[ibis.Table] = field(default_factory=list)

    def split(self, w: ibis.Table) -> ibis.Table:
        """eid, wait_us and the five causes' microseconds for the waits of ``w`` (rows of
        ``self.w``)."""
        import ibis

        members, k, clock = self.members, self.k, self.clock
        zero = ibis.literal(0)

        def marks(
            t: ibis.Table, time: Any, db: Any = zero, dc: Any = zero, dp: Any = zero, dd: Any = zero
        ) -> ibis.Table:
            return t.select("eid", t=time, db=db, dc=dc, dp=dp, dd=dd)

        parts = [marks(w, w.en), marks(w, w.wend)]
        # batching: from enablement until the batch starts (accumulation and the ready batch);
        # waiting while the resource works through earlier members is contention (methods 7.1)
        bm = members.select(b_eid="eid", b_first="batch_first_start")
        wb = w.join(bm, w.eid == bm.b_eid)
        wb = wb.filter(wb.en < wb.b_first)
        parts += [
            marks(wb, wb.en, db=ibis.literal(1)),
            marks(wb, ibis.least(wb.wend, wb.b_first), db=ibis.literal(-1)),
        ]
        # A lightly loaded person (a branch manager in meetings) still makes cases wait; a shared
        # resource does not.
        wr = with_flag(w, "resource", self.shared, "fl_shared")
        wr = wr.filter(wr.resource.notnull() & ~wr.fl_shared).drop("fl_shared")
        ov = wr.join(k, [wr.resource == k.k_res, k.k_s < wr.wend, k.k_e > wr.en, k.k_eid != wr.eid])
        ov = ov.mutate(
            a=ibis.greatest(ov.en, ov.k_s),
            b=ibis.least(ov.wend, ov.k_e),
            first=(ov.k_en <= ov.ready).fill_null(True),
        )
        ov = ov.filter(ov.a < ov.b)
        one, minus = ibis.literal(1), ibis.literal(-1)
        cont, prio = ov.filter(ov.first), ov.filter(~ov.first)
        parts += [
            marks(cont, cont.a, dc=one),
            marks(cont, cont.b, dc=minus),
            marks(prio, prio.a, dp=one),
            marks(prio, prio.b, dp=minus),
        ]
        # on-shift intervals of the resource's calendar
        always = self.always
        wa = w.filter(w.wcal.isin(always)) if always else w.filter(ibis.literal(False))
        parts += [marks(wa, wa.en, dd=one), marks(wa, wa.wend, dd=minus)]
        shift_rows = clock.intervals[~clock.intervals.calendar.isin(always)]
        if len(shift_rows):
            ivs = ibis.memtable(shift_rows.rename(columns={"calendar": "s_cal"}))
            wn = w.join(ivs, [w.wcal == ivs.s_cal, ivs.a < w.wend, ivs.b > w.en])
            parts += [
                marks(wn, ibis.greatest(wn.a, wn.en), dd=one),
                marks(wn, ibis.least(wn.b, wn.wend), dd=minus),
            ]
        edges = parts[0]
        for p in parts[1:]:
            edges = edges.union(p, distinct=False)
        pts = edges.group_by(["eid", "t"]).aggregate(
            db=edges.db.sum(), dc=edges.dc.sum(), dp=edges.dp.sum(), dd=edges.dd.sum()
        )
        win = ibis.window(group_by=pts.eid, order_by=pts.t, rows=(None, 0))
        st = pts.mutate(
            cb=pts.db.sum().over(win),
            cc=pts.dc.sum().over(win),
            cp=pts.dp.sum().over(win),
            cd=pts.dd.sum().over(win),
            nxt=pts.t.lead().over(ibis.window(group_by=pts.eid, order_by=pts.t)),
        )
        st = st.filter(st.nxt.notnull()).mutate(length=lambda s: s.nxt - s.t)
        cause = ibis.cases(
            (st.cb > 0, "batching"),
            (st.cc > 0, "contention"),
            (st.cp > 0, "prioritization"),
            (st.cd <= 0, "unavailability"),
            else_="extraneous",
        )
        st = self.engine.materialize(st.mutate(cause=cause), prefix="fl_wait_segments")
        self.tables.append(st)
        # Off-shift time counts only after the last time the resource was on shift and free for at
        # least ``ready_evidence_s`` and then went off shift without starting the case: before that
        # the case was not ready (the customer, a third party or unlogged work held it), so the
        # nights and weekends before are not the shifts' doing (methods 7.1). Free time just before
        # the start (a resource waiting for its batch time) is no such evidence.
        off = st.filter(st.cause == "unavailability").group_by("eid").aggregate(last_off=st.t.max())
        st = st.left_join(off, st.eid == off.eid).drop("eid_right")
        evidence = (
            (st.cause == "extraneous")
            & (st.length >= self.ready_evidence_us)
            & (st.nxt <= st.last_off).fill_null(False)
        )
        ready = st.filter(evidence).group_by("eid").aggregate(t_ready=st.nxt.max())
        st = st.left_join(ready, st.eid == ready.eid).drop("eid_right")
        st = st.mutate(
            cause=ibis.ifelse(
                (st.cause == "unavailability") & (st.nxt <= st.t_ready).fill_null(False),
                "extraneous",
                st.cause,
            )
        )
        # the segments run from the wait's start to its end: their lengths sum to the wait
        return st.group_by("eid").aggregate(
            wait_us=st.length.sum().cast("int64"),
            **{f"{c}_us": st.length.sum(where=st.cause == c).fill_null(0).cast("int64") for c in CAUSES},
        )


def _stored(split: ibis.Table, log: EventLog) -> ibis.Table:
    """``split`` (keyed by eid) stored a slice of the log's cases at a time (:func:`case_slices`):
    the per-instance result (``fl_waiting``)."""
    parts = [
        log.engine.materialize(case_slice(split, r, key="eid"), prefix="fl_waiting") for r in case_slices(log)
    ]
    return union_all(parts)


def _split_prefix(sweep: _Sweep, log: EventLog) -> ibis.Table:
    """The sweep's split computed from the log-sized timelines of :mod:`waiting_split`: equal
    numbers in time O(n log n) whatever the waits' length. Waits whose own
    instance lies inside their waiting interval (a queue step with a performer), and waits on a
    calendar whose shift rows overlap, are left to the sweep.

    The waits and the work stay in the engine, keyed by their group (resource, calendar), and
    come to Python a chunk of groups at a time (:func:`_chunks`): Python holds at most
    :attr:`Engine.python_budget` of them (:data:`BYTES_PER_SPLIT_ROW` per row) whatever the
    log's size, and each chunk's result (with the wait, its end minus its start as read here)
    goes back to the engine before the next is read. Returns the split, stored."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from flowlens.analysis.waiting_split import NO_ENABLED, split_groups

    w, clock, eng = sweep.w, sweep.clock, sweep.engine
    rows_of: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
    slow_cal: list[str] = []
    for cal in sorted(w.select("wcal").distinct().to_pyarrow()["wcal"].to_pylist()):
        if cal in sweep.always:
            rows_of[cal] = None
            continue
        # a calendar the clock does not know has no shift: off shift throughout, as in the sweep
        a, b = clock.intervals_of(cal) if cal in clock.calendars else (np.zeros(0, np.int64),) * 2
        if len(a) > 1 and (a[1:] < b[:-1]).any():
            slow_cal.append(cal)  # overlapping shift rows: the sweep counts them as such
        rows_of[cal] = (a, b)
    waits, groups = _prefix_waits(sweep, slow_cal)
    # The waits stored once, in group order, and each sort of a part of them, slice by slice of
    # cases (one group may hold nearly all of them: the waits on shared resources; one sort of
    # the whole log's waits spilled gigabytes at 10^8 events). Everything below reads them
    # (the groups' sizes, the chunks, the waits left to the sweep: g null, sorted last), not
    # the joins that make them again.
    wparts = [
        eng.materialize(case_slice(waits, r, key="eid").order_by(["g", "eid"]), prefix="fl_wsplit_w")
        for r in case_slices(log)
    ]
    stored = union_all(wparts)
    per_all = stored.group_by("g").aggregate(n=stored.count(), lo=stored.x.min(), hi=stored.wend.max())
    per_all = per_all.order_by("g").to_pyarrow()
    n_slow = sum(
        n for g, n in zip(per_all["g"].to_pylist(), per_all["n"].to_pylist(), strict=True) if g is None
    )
    per_g = per_all.filter(pc.is_valid(per_all["g"]))
    if not per_g.num_rows:
        drop_tables(log, *wparts, groups)
        return _stored(sweep.split(w), log)
    n_groups = per_g.num_rows
    n_waits = per_g["n"].to_numpy().astype(np.int64)
    lo_t, hi_t = int(per_g["lo"].to_numpy().min()), int(per_g["hi"].to_numpy().max())
    cal_of = groups.order_by("g").select("c").to_pyarrow()["c"].to_pylist()
    # the work of the groups' resources, with the group id joined in the engine (no resource
    # names brought into Python: millions of strings)
    k = sweep.k
    named = groups.filter(groups.rs.notnull())
    k = k.join(named, k.k_res == named.rs).select("g", "k_s", "k_e", "k_en")
    work_g = k.group_by("g").aggregate(n=k.count(), s0=k.k_s.min(), e1=k.k_e.max()).to_pyarrow()
    n_work = np.zeros(n_groups, dtype=np.int64)
    if work_g.num_rows:
        n_work[work_g["g"].to_numpy().astype(np.int64)] = work_g["n"].to_numpy().astype(np.int64)
        lo_t = min(lo_t, int(work_g["s0"].to_numpy().min()))
        hi_t = max(hi_t, int(work_g["e1"].to_numpy().max()))
    # The work stored in group order too, so that a chunk's read skips the rest, a slice of
    # groups at a time.
    kparts = [
        eng.materialize(k.filter((k.g >= first) & (k.g < end)).order_by("g"), prefix="fl_wsplit_k")
        for first, end in slice_ranges(n_work, eng)
    ]
    fast, kt = stored.filter(stored.g.notnull()), union_all(kparts)
    # Groups are independent: a chunk's key ranges must fit in int64 (waiting_split).
    span = hi_t - lo_t + 2 * (sweep.ready_evidence_us + 2) + 3
    per_chunk = max(1, (2**62 - 1) // span - 1)
    rows_max = max(1, eng.python_budget // BYTES_PER_SPLIT_ROW)
    out: ibis.Table | None = None
    for first, last, pieces in _chunks(n_waits, n_work, rows_max, per_chunk):
        sel = fast.filter((fast.g >= first) & (fast.g <= last))
        work = _int_columns(
            kt.filter((kt.g >= first) & (kt.g <= last)).mutate(k_en=lambda t: t.k_en.fill_null(NO_ENABLED))
            if int(n_work[first : last + 1].sum())
            else None,
            {"group": "g", "s": "k_s", "e": "k_e", "en": "k_en"},
        )
        work["group"] = work["group"] - first
        for piece in _pieces(sel, pieces):
            wd = _int_columns(piece, {c: c for c in ("g", "eid", "en", "x", "wend", "ready")})
            x, wend = wd["x"], wd["wend"]
            part = split_groups(
                {"group": wd["g"] - first, "x": x, "wend": wend, "ready": wd["ready"]},
                work,
                [rows_of[c] for c in cal_of[first : last + 1]],
                ready_evidence_us=sweep.ready_evidence_us,
            )
            busy, cont, unav = part["busy"], part["contention"], part["unavailability"]
            causes = {
                "wait": wend - wd["en"],
                "batching": x - wd["en"],
                "contention": cont,
                "prioritization": busy - cont,
                "unavailability": unav,
                "extraneous": wend - x - busy - unav,
            }
            out = eng.append(
                out,
                pa.table({"eid": wd["eid"], **{f"{c}_us": causes[c] for c in ("wait", *CAUSES)}}),
                prefix="fl_waiting",
            )
            del wd, part, causes
    assert out is not None
    rest = None
    if n_slow:
        # stored here, before the waits it reads (``stored``) are dropped
        slow = stored.filter(stored.g.isnull())
        rest = _stored(sweep.split(w.filter(w.eid.isin(slow.eid))), log)
    drop_tables(log, *wparts, *kparts, groups)
    return out if rest is None else union_all([out, rest])


def _int_columns(t: ibis.Table | None, names: dict[str, str]) -> dict[str, np.ndarray]:
    """Columns of ``t`` (``names``: name in the result -> column; none null) as int64 numpy
    arrays, read from the engine at once; empty arrays for no table."""
    import numpy as np

    if t is None:
        return {k: np.zeros(0, dtype=np.int64) for k in names}
    data = t.select(*names.values()).to_pyarrow()
    return {k: np.asarray(data[c].to_numpy(), dtype=np.int64) for k, c in names.items()}


def _prefix_waits(sweep: _Sweep, slow_cal: list[str]) -> tuple[ibis.Table, ibis.Table]:
    """The waits of the prefix split (an expression over ``sweep.w``, which the caller stores
    slice by slice of cases; the whole log's in one table was gigabytes of spill at 10^8
    events): eid, g (its group; null for a wait left to the sweep), en, x (the end of its
    batch part), wend, ready; and the groups, in the engine: g, rs (the resource whose work
    makes the wait busy; null for none or a shared one), c (the calendar), numbered in the
    order of (rs, c)."""
    import ibis

    w, eng = sweep.w, sweep.engine
    bm = sweep.members.select(b_eid="eid", b_first="batch_first_start")
    q = w.left_join(bm, w.eid == bm.b_eid)
    q = with_flag(q, "resource", sweep.shared, "fl_shared")
    busy_res = q.resource.notnull() & ~q.fl_shared
    # the sweep excludes the instance itself from its resource's work: kept for the sweep
    own_inside = (busy_res & (q.own_e > q.own_s) & (q.own_s < q.wend) & (q.own_e > q.en)).fill_null(False)
    slow = own_inside | q.wcal.isin(slow_cal) if slow_cal else own_inside
    in_batch = (q.b_first > q.en).fill_null(False)
    q = q.select(
        "eid",
        "en",
        "wend",
        "ready",
        x=ibis.ifelse(in_batch, ibis.least(q.wend, q.b_first), q.en),
        rs=ibis.ifelse(busy_res, q.resource, ibis.null("string")),
        c=q.wcal,
        slow=slow,
    )
    keys = q.filter(~q.slow).select("rs", "c").distinct()
    groups = eng.materialize(
        keys.mutate(g=ibis.row_number().over(order_by=[keys.rs.asc(nulls_first=True), keys.c])),
        prefix="fl_wsplit_groups",
    )
    j = q.left_join(groups, [q.rs.identical_to(groups.rs), q.c == groups.c])
    waits = j.select("eid", "en", "x", "wend", "ready", g=ibis.ifelse(j.slow, ibis.null("int64"), j.g))
    return waits, groups


def _chunks(
    n_waits: np.ndarray, n_work: np.ndarray, rows_max: int, per_chunk: int
) -> list[tuple[int, int, int | None]]:
    """Consecutive groups read and split together: (first, last, piece) with at most
    ``rows_max`` waits and intervals of work per chunk and at most ``per_chunk`` groups. A
    group bigger than that alone is a chunk of its own whose waits are read ``piece`` at a
    time (each piece with the group's whole work; None: all at once).

    >>> import numpy as np
    >>> _chunks(np.array([3, 3, 9, 2]), np.array([1, 0, 4, 0]), 8, 10)
    [(0, 1, None), (2, 2, 4), (3, 3, None)]
    """
    out: list[tuple[int, int, int | None]] = []
    first, size = -1, 0
    for g, need in enumerate((n_waits + n_work).tolist()):
        if first >= 0 and (size + need > rows_max or g - first >= per_chunk or need > rows_max):
            out.append((first, g - 1, None))
            first = -1
        if need > rows_max and n_waits[g] > 1:
            out.append((g, g, max(rows_max - int(n_work[g]), rows_max // 2, 1)))
            continue
        if first < 0:
            first, size = g, 0
        size += need
    if first >= 0:
        out.append((first, len(n_waits) - 1, None))
    return out


def _pieces(waits: ibis.Table, piece: int | None) -> list[ibis.Table]:
    """``waits`` (of one group when ``piece`` is given) in pieces of ``piece`` rows, by eid."""
    import ibis

    if piece is None:
        return [waits]
    t = waits.select("eid")
    t = t.mutate(rn=ibis.row_number().over(order_by=t.eid))
    cuts = t.filter((t.rn > 0) & (t.rn % piece == 0)).order_by("eid").eid.to_pyarrow().to_pylist()
    bounds = [None, *cuts, None]
    return [
        waits.filter(
            (waits.eid >= a if a is not None else ibis.literal(True))
            & (waits.eid < b if b is not None else ibis.literal(True))
        )
        for a, b in itertools.pairwise(bounds)
    ]
