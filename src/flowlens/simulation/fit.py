"""Learning a :class:`~flowlens.simulation.model.SimulationModel` from an event log.

Every part comes from a quantity the analyses already define, so the model and the report
agree (methods §16.2):

* arrivals: each case's first start; the intensity per weekday × hour (or per hour of the day,
  or flat, when the log is too short to show a weekly or daily pattern) and the gaps between
  arrivals on the intensity's clock;
* control flow: the cases' activity sequences in case order (methods §1.3), as a k-order
  model; k (1–3) is the order whose generated paths are nearest, by 3-gram distance, to cases
  held out of the fit;
* durations: the time model's processing time (methods §6.2), in the working time of the
  calendar of whoever did the step;
* delays: the waiting no staff cause (the *extraneous* share of methods §7.1), plus batching
  waits where no batch rule is fitted;
* batch rules: steps whose cases the log shows released together at fixed times of day (a
  daily cut-off, on the weekdays it happens), so the wait for the release is simulated as such;
* pools: the recorded resources that are one person at a time, grouped by the set of
  activities they do and their calendar; shared resources (systems, the customer) and steps
  without a performer need nobody;
* calendars: those the waiting-cause analysis used (given with ``--calendar`` or discovered);
* other work (when given): per pool, a stream of jobs outside the process fitted from its
  members' other work (intensity per weekday × hour, gaps and durations, as arrivals and
  durations are), which the pool's members serve alongside the process's steps.
"""

from __future__ import annotations

import copy
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.errors import ConfigError, EmptyLogError
from flowlens.simulation.abandonment import abandonment_points, busy_while_waiting, censored_delay
from flowlens.simulation.distributions import fit_distribution
from flowlens.simulation.engine import MAX_REPEAT
from flowlens.simulation.model import END, FORMAT_VERSION, START, SimulationModel
from flowlens.simulation.step_priority import (
    GROWING_RATIO,
    IDLE_PRIORITY,
    MAX_EXTRANEOUS,
    MIN_ENABLED,
    mid_flow,
    middle_half,
    served_when_idle,
)

if TYPE_CHECKING:
    from flowlens.log import EventLog
    from flowlens.timing.calendars import CalendarSet

#: Fewer cases than this cannot show a process's variation: fitting them would fit noise.
MIN_CASES = 30
#: Orders of the control-flow model tried.
ORDERS = (1, 2, 3)
#: Instances a context needs for a delay distribution of its own.
MIN_ARC_CASES = 30
#: The contexts of a wait, from general to specific (methods §16.2).
CONTEXT_KEYS = (
    ("after",),
    ("occurrence",),
    ("after", "before"),
    ("after", "occurrence"),
    ("after", "before", "occurrence"),
)
CONTEXT_COLUMN = {"after": "prev", "before": "next", "occurrence": "occ"}
#: The arrival level is that of the last RECENT_DAYS when the log spans RECENT_MIN_DAYS.
RECENT_DAYS, RECENT_MIN_DAYS = 28, 56
#: A recent level more than this factor away from the period's is taken as the log's edge.
MAX_LEVEL_CHANGE = 2.0
#: Days of log needed before arrivals get a weekly (weekday × hour) or daily (hour) pattern.
WEEKLY_DAYS, DAILY_DAYS = 14.0, 2.0


def fit_model(
    log: EventLog,
    *,
    calendars: CalendarSet | str | None = None,
    other_work: Any = None,
    duration_method: str = "empirical",
    order: int | None = None,
    assignment: str = "auto",
    name: str | None = None,
) -> SimulationModel:
    """Fit a simulation model to ``log`` (see the module docstring).

    ``calendars`` (a :class:`~flowlens.timing.calendars.CalendarSet` or a calendar file) say
    when people work; without them the calendars are discovered as the waiting-cause analysis
    discovers them. ``other_work`` is the staff's work outside the log (an event log or its
    :func:`~flowlens.analysis.other_work.other_work_intervals`): it corrects the split of
    waiting into causes, and each pool gets a stream of other-work jobs its members serve
    (``pools.P.other_work``, methods §16.2), so the simulated people are as busy as the real
    ones.
    ``duration_method``: ``empirical`` (default), ``auto`` or a family (methods §16.3).
    ``order`` fixes k instead of choosing it. ``assignment``: ``queue`` (a pool's members
    share one queue), ``person`` (each step is given to one member up front and waits for that
    person) or ``auto`` (the one whose simulation of the log's own period reproduces its cycle
    times better, methods §16.2).

    >>> import flowlens, pandas as pd
    >>> rows = [(f"c{i}", a, f"2024-03-04 {9 + i // 10:02d}:{(i % 10) * 5 + k * 2:02d}", r)
    ...         for i in range(40) for k, (a, r) in enumerate([("Check", "ann"), ("Decide", "bob")])]
    >>> log = flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "timestamp", "resource"]))
    >>> model = fit_model(log)
    >>> model.activity_names(), model.control_flow["order"]
    (['Check', 'Decide'], 1)
    """
    obs = observe(log, calendars=calendars, other_work=other_work, name=name)
    return build(obs, duration_method=duration_method, order=order, assignment=assignment)


@dataclass
class Observations:
    """What a fit reads off a log, before any distribution is fitted: one row per activity
    instance with every quantity the model is built from (durations and delays in working
    time, their causes, the step before and after, the occurrence), the case attributes, and
    the structure decided once for the log (people, pools' calendars, concurrency). The
    expensive part of a fit; :func:`build` turns it into a model, and :func:`resample` draws
    bootstrap copies of it for the model's own uncertainty (methods §17.3)."""

    inst: pd.DataFrame
    case_attributes: pd.DataFrame | None
    arrivals: dict[str, Any]
    timezone: str
    groups: dict[str, tuple[str, ...]]
    cal_of: dict[str, str]
    act_cal: dict[str, str]
    cal_specs: dict[str, Any]
    concurrent: list[list[str]]
    shares_of: dict[str, Any]
    n_cases: int
    starts_estimated: bool
    name: str
    #: activity -> daily release rule (``cutoff`` times, release ``days``), :func:`_releases`
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the log's people's other work (given with ``other_work``): one row per job with
    #: ``resource``, ``s_us`` (its start) and ``work_s`` (its duration in working time of the
    #: person's calendar), jobs that take no time left out; None when none was given
    other_work: pd.DataFrame | None = None
    #: person -> the calendar of their shift, for the people of groups split into shifts
    #: (:func:`_shift_calendars`); their ``cal_of`` is the group's, their pool's
    shift_cal_of: dict[str, str] = field(default_factory=dict)
    #: activity -> the calendar its waiting runs on, for the steps that need nobody and have no
    #: hours of their own but come after waits that end in set hours (:func:`_wait_calendars`)
    act_delay_cal: dict[str, str] = field(default_factory=dict)
    #: a bootstrap copy's cases over the log's (:func:`resample` by weeks): the case volume
    #: the copy's weeks carry, by which its model's arrival rate is scaled
    volume: float = 1.0


def observe(
    log: EventLog,
    *,
    calendars: CalendarSet | str | None = None,
    other_work: Any = None,
    name: str | None = None,
) -> Observations:
    """Read everything a model is built from off ``log`` (see :class:`Observations`)."""
    from flowlens.analysis.batch_detection import shared_resources
    from flowlens.analysis.waiting import waiting_causes
    from flowlens.timing.model import time_model

    if isinstance(calendars, str):
        from flowlens.timing.calendars import CalendarSet

        calendars = CalendarSet.from_file(calendars)
    n_cases = log.n_cases
    if n_cases < MIN_CASES:
        raise EmptyLogError(
            f"the log has {n_cases} cases; fitting a simulation model needs at least {MIN_CASES}",
            hint="use a longer period of the log",
        )
    # The whole case is simulated, steps after the customer's clock stops too (methods §6.5
    # is a view of a log, simulated or not): no waiting is clipped at the stop.
    tm = time_model(log, calendars=calendars, clock_stop="end")
    inst = tm.instances.select(
        "eid",
        "case_idx",
        "pos",
        "activity",
        "resource",
        "start_us",
        "end_us",
        "proc_us",
        "enabled_us",
        "start_estimated",
    ).to_pandas()
    inst["s_us"] = inst.start_us.fillna(inst.end_us).astype("int64")
    inst = inst.sort_values(["case_idx", "s_us", "end_us", "pos"], kind="stable").reset_index(drop=True)
    shared = shared_resources(tm)
    tz = log.timezone
    groups = _staff_groups(inst, shared)
    other = None
    if other_work is not None:
        from flowlens.analysis.other_work import other_work_intervals

        # read once, with the given calendars (the discovered ones come from them too)
        other = (
            other_work
            if isinstance(other_work, pd.DataFrame)
            else other_work_intervals(other_work, calendars)
        )
    person_cal = _calendars(log, calendars, inst, groups, other)
    # a group whose people work distinct shifts keeps its calendar as its pool's (the hours the
    # pool's work runs in) and each shift gets its own: the hours its people take work in
    if calendars is None:
        shift_cal = _shift_calendars(log, inst, groups, other)
    else:
        person_cal, shift_cal = _given_shifts(person_cal, groups)
    # Waiting is split into causes with the calendars the simulation will use: off-shift
    # time of a calendar the model keeps is reproduced by the calendar, and without one it is
    # waiting the delay must carry (methods §16.2).
    from flowlens.timing.calendars import CalendarSet, WorkCalendar

    always = WorkCalendar.preset("24x7", timezone=tz)
    used = CalendarSet(
        default=always,
        resources={r: (c if c is not None else always) for r, c in {**person_cal, **shift_cal}.items()},
        source="the simulation model's calendars",
    )
    wa = waiting_causes(tm, calendars=used, other_work=other, shared=shared)
    causes = wa.causes.select(
        "eid", "extraneous_us", "batching_us", "contention_us", "prioritization_us", "unavailability_us"
    ).to_pandas()
    inst = inst.merge(causes, on="eid", how="left")
    # Steps released at fixed times of day are batched by a rule the simulation reproduces;
    # their waiting up to the release is the rule's, not a delay (methods §16.2)
    releases, seen = _releases(inst, tz) if (log.time_resolution_s or 0) < 3600 else ({}, {})
    inst = _split_release_waits(inst, seen)

    arrivals = _arrivals(inst, tz)
    concurrent = (
        sorted(
            [
                list(p)
                for p in {
                    tuple(sorted((str(a), str(b))))
                    for a, b in zip(tm.concurrency.iloc[:, 0], tm.concurrency.iloc[:, 1], strict=True)
                }
                if p[0] != p[1]
            ]
        )
        if len(tm.concurrency)
        else []
    )
    shares = _shares(inst, groups)
    # a released step needs no hours of its own: the hours it is seen in are its release times
    unstaffed = sorted(set(inst.activity.astype(str)) - set(shares) - set(releases))
    seen = _activity_calendars(log, inst, unstaffed)
    # kept as the step's hours only where the log shows them acting on it (holding instances
    # back, or worked over); a step without hours of its own may still come after waits on the
    # customer's clock
    step_cal = {a: c for a, c in seen.items() if _holds_back(c, inst[inst.activity == a])}
    wait_cal = _wait_calendars(log, inst, [a for a in unstaffed if a not in step_cal], tz, seen)
    name_of, cal_specs, cal_objs = _named(
        {
            **{f"r:{r}": c for r, c in person_cal.items()},
            **{f"s:{r}": c for r, c in shift_cal.items()},
            **{f"a:{a}": c for a, c in step_cal.items()},
            **{f"w:{a}": c for a, c in wait_cal.items()},
        }
    )
    cal_of = {r: name_of[f"r:{r}"] for r in person_cal}
    act_cal = {a: name_of[f"a:{a}"] for a in step_cal}
    act_delay_cal = {a: name_of[f"w:{a}"] for a in wait_cal}
    staffed = inst.activity.isin(list(shares)) & inst.resource.isin(list(groups))
    inst["cal"] = np.where(
        staffed,
        inst.resource.map(cal_of).fillna("24x7"),
        inst.activity.map(act_cal).fillna("24x7"),
    )
    # the clock waiting runs on: the step's hours, or those of the waits that end in it
    inst["delay_cal"] = np.where(staffed, inst.cal, inst.activity.map(act_delay_cal).fillna(inst.cal))
    proc_s = inst.proc_us.fillna(0).to_numpy(dtype=float) / 1e6
    inst["work_s"] = _working_seconds(inst, cal_objs, inst.end_us.to_numpy(), proc_s, overtime=True)
    # Waiting no staff cause is kept in the working time of the calendar that governs the
    # step (its pool's, or the step's own): a customer who answers after a night is two
    # working hours late, not sixteen, and the simulation spreads the morning's work as the
    # log does instead of starting it all at opening time (methods §16.2).
    wait_s = (inst.extraneous_us.fillna(0) + inst.batching_us.fillna(0)).to_numpy(dtype=float) / 1e6
    inst["delay_s"] = _working_seconds(
        inst, cal_objs, inst.s_us.to_numpy(), wait_s, overtime=False, by="delay_cal"
    )
    batch_s = inst.batching_us.fillna(0).to_numpy(dtype=float) / 1e6
    inst["batching_s"] = _working_seconds(
        inst, cal_objs, inst.s_us.to_numpy(), batch_s, overtime=False, by="delay_cal"
    )
    staff_s = (
        inst.contention_us.fillna(0) + inst.prioritization_us.fillna(0) + inst.unavailability_us.fillna(0)
    ).to_numpy(dtype=float) / 1e6
    inst["staff_wait_s"] = _working_seconds(
        inst, cal_objs, inst.s_us.to_numpy(), staff_s, overtime=False, by="delay_cal"
    )
    # the step each instance follows in its case (the arc it is reached by), the one after,
    # and which time the case does it
    prev = inst.groupby("case_idx").activity.shift()
    inst["prev"] = prev.where(prev.notna(), START)
    nxt = inst.groupby("case_idx").activity.shift(-1)
    inst["next"] = nxt.where(nxt.notna(), END)
    # who the cases at a step nobody performs wait for, and how busy they are meanwhile: an
    # abandonment point must be a queue (methods §16.9)
    inst["next_busy_s"] = busy_while_waiting(inst, staffed, other)
    occ = inst.groupby(["case_idx", "activity"]).cumcount() + 1
    inst["occ"] = np.where(occ >= 3, "3+", occ.astype(str))
    _anchor_columns(inst, cal_objs, staffed=set(shares))
    return Observations(
        inst=inst,
        case_attributes=_case_attribute_rows(log),
        arrivals=arrivals,
        timezone=tz,
        groups=groups,
        cal_of=cal_of,
        act_cal=act_cal,
        act_delay_cal=act_delay_cal,
        cal_specs=cal_specs,
        concurrent=concurrent,
        shares_of=shares,
        n_cases=int(n_cases),
        starts_estimated=bool(tm.starts_estimated),
        name=name or _stem(log.source.path),
        releases=releases,
        other_work=_other_work_jobs(other, groups, cal_of, cal_objs) if other is not None else None,
        shift_cal_of={r: name_of[f"s:{r}"] for r in shift_cal},
    )


def build(
    obs: Observations,
    *,
    duration_method: str = "empirical",
    order: int | None = None,
    repeats: bool | None = None,
    assignment: str = "auto",
    arrivals: dict[str, Any] | None = None,
    calibrate: bool = True,
) -> SimulationModel:
    """Fit the model's distributions and choices to ``obs`` (methods §16.2). ``order`` and
    ``repeats`` fix the control flow's form instead of choosing it; ``arrivals`` reuses an
    arrival model (bootstrap copies keep the original's: the arrival process is the same in a
    baseline and its scenarios)."""
    inst = obs.inst
    tz = obs.timezone
    groups, cal_of, act_cal, cal_specs = obs.groups, obs.cal_of, obs.act_cal, obs.cal_specs
    shares = obs.shares_of
    if arrivals is None:
        arrivals = copy.deepcopy(obs.arrivals)
        arrivals["attributes"] = _attribute_table(obs.case_attributes)
    traces = [g.tolist() for _, g in inst.groupby("case_idx", sort=True).activity]
    if order is not None:
        k, rep, flow_scores = order, bool(repeats), {}
    else:
        k, rep, flow_scores = _choose_order(traces)
    control = _control_flow(traces, k, rep)
    # the log's concurrent pairs, less those a bootstrap resample holds no instance of
    present = set(inst.activity.unique())
    control["concurrent"] = [list(p) for p in obs.concurrent if set(p) <= present]

    pools, shares = _pools(inst, groups, cal_of, obs.shift_cal_of)
    kept_on = _continuations(inst, set(shares), control["concurrent"])
    if obs.other_work is not None:
        _other_work_streams(pools, obs.other_work, tz, duration_method)
    # where cases give up waiting: their patience, decided during the run (methods §16.9)
    points = abandonment_points(inst, set(shares), control["concurrent"])
    # who does the work of the people cases wait for at a point, after each step (methods
    # §16.2, "Pools after a step"): work routed to them by mistake lengthens the queue there
    serving = {q for p in points.values() for a in p["served"] if a in shares for q in shares[a]}
    by_step = _pools_after(inst, pools, {a: s for a, s in sorted(shares.items()) if serving & set(s)})
    inst = _recorded_waits_to_served(inst, [a for a, p in points.items() if p["waits_in_point"]])
    activities: dict[str, dict[str, Any]] = {}
    for act, g in inst.groupby("activity", sort=True):
        spec: dict[str, Any] = {
            "duration": fit_distribution(g.work_s.to_numpy(dtype=float), method=duration_method),
            **_delays(g, g.delay_s),
        }
        spec.update(_anchored(g, g.delay_s))
        if shares.get(act):
            spec["pools"] = shares[act]
            if act in by_step:
                spec["pools_after"] = by_step[act]
            if act in kept_on:
                spec["continues_after"] = kept_on[act]
        elif act_cal.get(act, "24x7") != "24x7":
            spec["calendar"] = act_cal[act]
        elif obs.act_delay_cal.get(act, "24x7") != "24x7":
            spec["delay_calendar"] = obs.act_delay_cal[act]
        batch = float(g.batching_s.sum())
        if batch > 0 and float(g.delay_s.sum()) > 0:
            spec["batching_share"] = round(min(1.0, batch / float(g.delay_s.sum())), 6)
        spec["observed"] = {"instances": len(g)}
        activities[str(act)] = spec
    for act, point in points.items():
        spec = activities[act]
        if point["waits_in_point"]:
            # a recorded queue step: it lasts until its served step starts or the case leaves
            # (the served step's queue decides during the run); nothing of it is drawn
            spec["duration"] = {"dist": "fixed", "value": 0.0}
            spec["delay"] = {"dist": "fixed", "value": 0.0}
            for key in ("delay_context", "anchor", "batching_share"):
                spec.pop(key, None)
        spec["abandonment"] = {
            k: point[k] for k in ("served", "leave", "patience", "patient_share", "waits_in_point")
        }
    used_cals = (
        {p["calendar"] for p in pools.values()}
        | {c for p in pools.values() for c in p.get("member_calendars", {}).values()}
        | set(act_cal.values())
        | set(obs.act_delay_cal.values())
    ) - {"24x7"}
    lengths = [len(t) for t in traces]
    span = inst.s_us.min(), inst.end_us.max()
    model = SimulationModel(
        timezone=tz,
        arrivals=arrivals,
        control_flow=control,
        activities=activities,
        pools=pools,
        calendars={c: cal_specs[c] for c in sorted(used_cals)},
        name=obs.name,
        batching=copy.deepcopy(obs.releases),
        fitted={
            "cases": obs.n_cases,
            "events": len(inst),
            "start": pd.Timestamp(int(span[0]), unit="us", tz="UTC").tz_convert(tz).isoformat(),
            "end": pd.Timestamp(int(span[1]), unit="us", tz="UTC").tz_convert(tz).isoformat(),
            "longest_case": int(max(lengths)),
            "mean_case_length": round(float(np.mean(lengths)), 3),
            "order_chosen": k,
            "repeats_chosen": rep,
            "control_flow_distance": flow_scores,
            # mean number of open cases (Little's law: total cycle time over the period),
            # the default warm-up of a simulation
            "open_cases": round(_open_cases(inst)),
            "starts_estimated": obs.starts_estimated,
            "format": FORMAT_VERSION,
        },
    )
    # a step whose queue grows while its people keep pace with the rest is served when they are
    # otherwise idle: the queues simulate that order before assignment and calibration read them
    unsettled = unsettled_queues(inst, shares)
    idle = served_when_idle(inst, unsettled, pools)
    for entry in idle:
        g = inst[inst.activity == entry["activity"]]
        spec = model.activities[entry["activity"]]
        spec["priority"] = IDLE_PRIORITY
        # the run in which its backlog clears reads as a batch (§7.1); the order of service
        # makes that wait now, so its delay is the extraneous part alone
        for key in ("delay_context", "anchor", "batching_share"):
            spec.pop(key, None)
        spec.update(_delays(g, g.delay_s - g.batching_s))
        spec.update(_anchored(g, g.delay_s - g.batching_s))
    if idle:
        model.fitted["served_when_idle"] = idle
    if points:
        model.fitted["abandonment"] = [{"activity": a, **p["observed"]} for a, p in points.items()]
    if assignment == "auto":
        _choose_assignment(model, inst)
    else:
        for pool in model.pools.values():
            pool["assignment"] = assignment
        model.fitted["assignment"] = assignment
    if calibrate:
        _calibrate(model, inst)
    _censor_served_delays(model, inst)
    if unsettled:
        model.fitted["unsettled_queues"] = unsettled
    model.validate("fitted model")
    return model


#: A step continues its predecessor's work when at least this share of the log's pairs show
#: the same person starting it at the predecessor's end (methods §16.2) ...
CONTINUE_SHARE = 0.95
#: ... within this many microseconds (a log's clock rounding), over at least MIN_ARC_CASES pairs
CONTINUE_GAP_US = 1_000_000


def _continuations(
    inst: pd.DataFrame, staffed: set[str], concurrent: list[list[str]]
) -> dict[str, list[str]]:
    """Per staffed step b, the staffed steps a after which the log shows the same person going
    straight on with b (methods §16.2): of the pairs a → b in a case (b directly after a, not a
    concurrent pair, b's start recorded), at least :data:`CONTINUE_SHARE` have b done by a's
    performer starting within :data:`CONTINUE_GAP_US` of a's end, over at least
    :data:`MIN_ARC_CASES` pairs. A call's or a counter visit's steps are one person's work: b
    does not queue again behind other cases.

    >>> inst = pd.DataFrame({"case_idx": np.repeat(np.arange(40), 2), "activity": ["Answer", "Verify"] * 40,
    ...     "resource": ["ann", "ann", "bob", "bob"] * 20, "s_us": [0, 5, 0, 7] * 20,
    ...     "end_us": [5, 9, 7, 8] * 20, "start_estimated": False})
    >>> inst["start_us"] = inst.s_us
    >>> inst["prev"] = inst.groupby("case_idx").activity.shift().fillna(START)
    >>> _continuations(inst, {"Answer", "Verify"}, [])
    {'Verify': ['Answer']}
    """
    same_case = inst.case_idx.eq(inst.case_idx.shift())
    pair = (
        same_case
        & inst.activity.isin(list(staffed))
        & inst.prev.isin(list(staffed))
        & inst.resource.notna()
        & inst.resource.shift().notna()
        & inst.start_us.notna()
        & ~inst.start_estimated.fillna(True).astype(bool)
    )
    if not pair.any():
        return {}
    gap = inst.s_us - inst.end_us.shift()
    kept = inst.resource.eq(inst.resource.shift()) & (gap >= 0) & (gap <= CONTINUE_GAP_US)
    together = {tuple(sorted(c)) for c in concurrent}
    g = (
        pd.DataFrame(
            {"a": inst.prev[pair].astype(str), "b": inst.activity[pair].astype(str), "k": kept[pair]}
        )
        .groupby(["b", "a"], sort=True)
        .k.agg(["size", "mean"])
    )
    out: dict[str, list[str]] = {}
    for (b, a), row in g.iterrows():
        strong = row["size"] >= MIN_ARC_CASES and row["mean"] >= CONTINUE_SHARE
        if strong and a != b and tuple(sorted((a, b))) not in together:
            out.setdefault(b, []).append(a)
    return out


def _recorded_waits_to_served(inst: pd.DataFrame, points: list[str]) -> pd.DataFrame:
    """``inst`` with the wait recorded in each of the abandonment ``points`` (recorded queue
    steps, methods §16.9) moved to the served step right after it, as if the point took no
    time: the served step is enabled at the point's start, the part of the wait its server
    was busy with other work (``next_busy_s``) is its staff-caused waiting, the rest its
    waiting no staff cause. The simulated point ends when that step starts, so its delay and
    its pool's queue are the point's wait, fitted and calibrated as after an instant point.
    ``inst`` itself when there is no such point."""
    if not points:
        return inst
    inst = inst.copy()
    at = np.flatnonzero(inst.activity.astype(str).isin(points).to_numpy() & (inst["next"] != END).to_numpy())
    nxt = at + 1  # the case's next row: instances are in case order
    own = (inst.delay_s.to_numpy(dtype=float) + inst.work_s.to_numpy(dtype=float))[at]
    busy = np.clip(np.nan_to_num(inst.next_busy_s.to_numpy(dtype=float)[at]), 0.0, own)
    col = inst.columns.get_loc
    inst.iloc[nxt, col("enabled_us")] = inst.s_us.to_numpy()[at]
    inst.iloc[nxt, col("delay_s")] = own - busy
    inst.iloc[nxt, col("staff_wait_s")] = busy
    inst.iloc[at, col("delay_s")] = 0.0
    inst.iloc[at, col("work_s")] = 0.0
    return inst


def _delays(g: pd.DataFrame, delay_s: pd.Series) -> dict[str, Any]:
    """The ``delay`` and ``delay_context`` of one activity's instances ``g`` (methods §16.2).

    The wait before a step depends on its context: where the case comes from (after a reminder
    the customer answers in days, after a call in minutes), where it goes next (the path is
    drawn when the case starts, and a wait is often long because of what it waits for), and
    whether it is a repeat (later rework rounds are the hard cases). Each context seen often
    enough gets its own distribution; the most specific applies."""
    out: dict[str, Any] = {"delay": fit_distribution(delay_s.to_numpy(dtype=float), method="empirical")}
    contexts = []
    frame = g.assign(_d=delay_s)
    # a step done once per case has one occurrence: a context with it holds the instances of
    # the same context without it, and would be listed twice
    once = g.occ.nunique() <= 1
    for keys in CONTEXT_KEYS:
        if once and "occurrence" in keys:
            continue
        cols = [CONTEXT_COLUMN[k] for k in keys]
        for values, h in frame.groupby(cols, sort=True):
            values = values if isinstance(values, tuple) else (values,)
            if MIN_ARC_CASES <= len(h) < len(g):
                ctx: dict[str, Any] = {k: _plain(v) for k, v in zip(keys, values, strict=True)}
                ctx["delay"] = fit_distribution(h._d.to_numpy(dtype=float))
                contexts.append(ctx)
    if contexts:
        out["delay_context"] = contexts
    return out


#: X is anchored on A when X comes at least this share as long after the steps in between as it
#: would after another case's steps at the same time since A (medians; methods §16.2).
ANCHOR_RATIO = 0.9
#: ... and when at least this share of X's instances have A before them (since X's last time).
ANCHOR_PRESENCE = 0.5
#: ... and when the waiting no staff cause is at least this share of X's waiting.
ANCHOR_EXTRANEOUS = 0.5


def _anchor_columns(inst: pd.DataFrame, cals: dict[str, Any], staffed: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """Choose, per activity X, the earlier step A its waiting runs from, if any (methods §16.2),
    and add the columns ``anchor`` (A for the instances that have it before them), ``between``
    (steps between A and X) and ``anchor_s`` (working time, in X's calendar, from A's end to X's
    start, less X's staff-caused waiting) to ``inst`` (ordered by case, start).

    A customer answers a letter or returns an offer on their own clock, whatever reminders are
    sent meanwhile, and a time-out runs from the step that set it: chaining such a wait to the
    previous step would make removing a reminder remove the time before it. The log says so when
    X does not come sooner after the steps in between than after other cases' steps: own
    τ = X's start − the end of the last step since A, over the instances with steps between
    A and X, swapped τ = the same
    elapsed time since A measured against the steps of another case whose X came no sooner (the
    case half-way up the order of that time: its steps up to then are a draw of the steps
    in between, untouched by X); X is anchored when median own τ ≥ :data:`ANCHOR_RATIO` × median
    swapped τ. Prompted steps (an answer to a call, work after a document) come sooner after
    their trigger than chance and stay chained. Of the anchors that pass, the nearest (fewest
    steps between, median) is taken."""
    n = len(inst)
    inst["anchor"] = None
    inst["between"] = -1
    inst["anchor_s"] = np.nan
    if not n:
        return
    row = np.arange(n, dtype=np.int64)
    case = inst.case_idx.to_numpy()
    new_case = np.ones(n, dtype=bool)
    new_case[1:] = case[1:] != case[:-1]
    case_start = np.maximum.accumulate(np.where(new_case, row, 0))
    rank = np.cumsum(new_case) - 1
    act = inst.activity.astype(str).to_numpy()
    names = sorted(set(act.tolist()))
    s_us = inst.s_us.to_numpy(dtype=np.int64)
    e_us = inst.end_us.fillna(inst.s_us).to_numpy(dtype=np.int64)
    # the latest end so far in each case: monotone within a case, searched for "the last step
    # ended by then"
    cm = pd.Series(e_us).groupby(case).cummax().to_numpy(dtype=np.int64)
    rel0 = inst.groupby("case_idx").s_us.transform("min").to_numpy(dtype=np.int64)
    key = rank.astype(float) * 1e9 + (cm - rel0) / 1e6

    def last_before(mask: np.ndarray) -> np.ndarray:
        last = np.maximum.accumulate(np.where(mask, row, -1))
        prior = np.concatenate([[-1], last[:-1]])
        return np.where(prior >= case_start, prior, -1)

    prior_of = {a: last_before(act == a) for a in names}
    wait = (inst.delay_s.fillna(0) + inst.staff_wait_s.fillna(0)).groupby(act).sum()
    extraneous = inst.delay_s.fillna(0).groupby(act).sum()
    chosen: dict[str, tuple[float, float, str, np.ndarray, np.ndarray]] = {}
    for x in names:
        xm = act == x
        nx = int(xm.sum())
        # staff take a step up when the step before it reaches them: only steps that need
        # nobody (the customer's, a third party's, a time-out) run on a clock of their own
        if x in staffed or nx < MIN_ARC_CASES or float(wait.get(x, 0)) <= 0:
            continue
        if float(extraneous.get(x, 0)) < ANCHOR_EXTRANEOUS * float(wait[x]):
            continue
        xi = row[xm]
        own_prev = prior_of[x][xm]
        for a in names:
            if a == x:
                continue
            la = prior_of[a][xm]
            ok = (la >= 0) & (la > own_prev)
            if ok.sum() < ANCHOR_PRESENCE * nx:
                continue
            i, ai = xi[ok], la[ok]
            between = i - ai - 1
            if int((cm[i - 1] > e_us[ai]).sum()) < MIN_ARC_CASES:
                continue
            t = (s_us[i] - e_us[ai]) / 1e6
            own = (s_us[i] - np.maximum(cm[i - 1], e_us[ai])) / 1e6
            order = np.lexsort((i, t))
            m = len(order)
            r = np.arange(m)
            partner = np.empty(m, dtype=np.int64)
            partner[order] = order[r + (m - 1 - r + 1) // 2 if m else r]
            pj = partner
            keep = pj != np.arange(m)
            # the partner's last step ended by A's end + t, among its steps between A and X
            q = rank[i[pj]].astype(float) * 1e9 + (e_us[ai[pj]] - rel0[i[pj]]) / 1e6 + t
            k = np.searchsorted(key, q, side="right") - 1
            k = np.minimum(k, i[pj] - 1)
            last_end = np.where(k > ai[pj], cm[np.maximum(k, 0)], e_us[ai[pj]])
            swapped = t - (last_end - e_us[ai[pj]]) / 1e6
            # judged where both the case and its partner had a step in between end after A
            # (not with it) by then: the others agree either way, and a case picked for having
            # a step in between has had one more recently than chance
            keep &= (cm[i - 1] > e_us[ai]) & (last_end > e_us[ai[pj]])
            own, swapped = np.maximum(own[keep], 0.0), np.maximum(swapped[keep], 0.0)
            if len(own) < MIN_ARC_CASES:
                continue
            mo, ms = float(np.median(own)), float(np.median(swapped))
            if ms <= 0 or mo < ANCHOR_RATIO * ms:
                continue
            cand = (float(np.median(between)), -mo / ms, a, i, ai)
            if x not in chosen or cand[:3] < chosen[x][:3]:
                chosen[x] = cand
    if not chosen:
        return
    wall = np.zeros(n)
    anchor = np.full(n, None, dtype=object)
    between_all = np.full(n, -1, dtype=np.int64)
    for _x, (_, _, a, i, ai) in sorted(chosen.items(), key=lambda kv: kv[0]):
        wall[i] = np.maximum(s_us[i] - e_us[ai], 0) / 1e6
        anchor[i] = a
        between_all[i] = i - ai - 1
    work = _working_seconds(inst, cals, s_us, wall, overtime=False, by="delay_cal")
    has = between_all >= 0
    inst["anchor"] = anchor
    inst["between"] = between_all
    inst["anchor_s"] = np.where(has, np.maximum(work - inst.staff_wait_s.fillna(0).to_numpy(), 0.0), np.nan)


def _anchored(g: pd.DataFrame, delay_s: pd.Series) -> dict[str, Any]:
    """The ``anchor`` of one activity's instances ``g`` (methods §16.2): the anchor step, the
    anchored delay, and its distribution per range of steps in between (ranges grown from 0
    up until each holds :data:`MIN_ARC_CASES` instances; a short last range joins the one
    before). A case that calls more often waits longer (the calls go on while it waits): drawn
    per range, the anchored wait keeps that dependence, so a simulated case with many calls
    does not get a short wait that its calls would overrun. ``delay_s`` is the chained delay
    used (calibration may add to it); what it adds is added to the anchored one too."""
    if "anchor" not in g.columns:
        return {}
    has = g.between.to_numpy() >= 0
    if not has.any():
        return {}
    a = str(g.anchor[has].iloc[0])
    d = (g.anchor_s + (delay_s - g.delay_s)).to_numpy(dtype=float)[has]
    b = g.between.to_numpy()[has]
    ranges: list[dict[str, Any]] = []
    values = np.sort(np.unique(b))
    lo, count = None, 0
    for v in values.tolist():
        if lo is None:
            lo = v
        count += int((b == v).sum())
        if count >= MIN_ARC_CASES:
            ranges.append({"from": int(lo)})
            lo, count = None, 0
    if not ranges:
        ranges = [{"from": 0}]
    ranges[0]["from"] = 0
    bounds = [r["from"] for r in ranges] + [np.iinfo(np.int64).max]
    for j, r in enumerate(ranges):
        sel = (b >= bounds[j]) & (b < bounds[j + 1])
        r["delay"] = fit_distribution(d[sel], method="empirical")
    return {
        "anchor": {
            "activity": a,
            "delay": fit_distribution(d, method="empirical"),
            "between": ranges,
            "instances": int(has.sum()),
        }
    }


def unsettled_queues(inst: pd.DataFrame, shares: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """The staffed steps whose queue does not settle in the log (methods §16.2): over the middle
    half of the log's period (between the 25th and 75th percentiles of the cases' first starts),
    the step is started fewer than :data:`~flowlens.simulation.step_priority.GROWING_RATIO`
    times per time it is enabled (at least
    :data:`~flowlens.simulation.step_priority.MIN_ENABLED` enablements). A queue in a steady state starts about as much
    work as reaches it in any long stretch; one that starts far less is served only when its
    pool has nothing else to do and piles up until the pool's other work thins out (the end of
    an extract's arrivals, a quiet season). How long it waits then depends on when that backlog
    clears, which a model of a steady state cannot tell, nor how a change moves it. A step
    whose waiting is mostly extraneous (at least
    :data:`~flowlens.simulation.step_priority.MAX_EXTRANEOUS` of it: the customer or a third
    party, §7.1) is left out: its backlog is of people outside, a delay the model draws as
    such, not a queue of the pool's (BPIC 2013 incidents' 'Completed+Closed', 86 % extraneous).

    Each entry: the ``activity``, its ``pools``, ``enabled_mid`` and ``started_mid`` (the counts
    in the middle half), ``mean_wait_h`` (enablement to start, over all its instances),
    ``wait_per_case_h`` (its waiting summed over the log's cases, per case: the part of the
    mean lead time that rests on when the backlog clears) and
    ``affected``: every step of the cases its pools work on (a change to any of them moves when
    work reaches the pools, and with it when the backlog clears).

    >>> h = 3_600_000_000
    >>> rows = [(c, a, c * h, c * h + d) for c in range(100) for a, d in (("Do", 0), ("Call", 0))]
    >>> t = pd.DataFrame(rows, columns=["case_idx", "activity", "enabled_us", "s_us"])
    >>> t = t.assign(resource="r", extraneous_us=0)
    >>> unsettled_queues(t, {"Do": {"P": 1.0}, "Call": {"P": 1.0}})
    []
    >>> late = t.assign(s_us=np.where(t.activity == "Call", 120 * h, t.s_us))
    >>> [(u["activity"], u["enabled_mid"], u["started_mid"]) for u in
    ...  unsettled_queues(late, {"Do": {"P": 1.0}, "Call": {"P": 1.0}})]
    [('Call', 50, 0)]
    >>> waits_on_customer = late.assign(extraneous_us=late.s_us - late.enabled_us)
    >>> unsettled_queues(waits_on_customer, {"Do": {"P": 1.0}, "Call": {"P": 1.0}})
    []
    """
    staffed = [a for a, sh in shares.items() if sh]
    window = middle_half(inst) if staffed else None
    if inst.empty or window is None:
        return []
    x = inst[inst.activity.isin(staffed)]
    frame = mid_flow(x, *window).assign(extraneous_h=x.extraneous_us.fillna(0).to_numpy(dtype=float) / 3.6e9)
    per = frame.groupby("activity", sort=True).agg(
        enabled_mid=("enabled_mid", "sum"),
        started_mid=("started_mid", "sum"),
        mean_wait_h=("wait_h", "mean"),
        total_wait_h=("wait_h", "sum"),
        extraneous_h=("extraneous_h", "sum"),
    )
    n_cases = max(int(inst.case_idx.nunique()), 1)
    growing = (per.enabled_mid >= MIN_ENABLED) & (per.started_mid < GROWING_RATIO * per.enabled_mid)
    hit = per[growing & (per.extraneous_h < MAX_EXTRANEOUS * per.total_wait_h)]
    out: list[dict[str, Any]] = []
    for act, row in hit.iterrows():
        pools = sorted(shares[str(act)])
        pool_steps = [a for a, sh in shares.items() if set(sh) & set(pools)]
        cases = inst.case_idx[inst.activity.isin(pool_steps)].unique()
        affected = sorted(inst.activity[inst.case_idx.isin(cases)].astype(str).unique().tolist())
        out.append(
            {
                "activity": str(act),
                "pools": pools,
                "enabled_mid": int(row.enabled_mid),
                "started_mid": int(row.started_mid),
                "mean_wait_h": round(float(row.mean_wait_h), 3),
                "wait_per_case_h": round(float(row.total_wait_h) / n_cases, 3),
                "affected": affected,
            }
        )
    return out


#: In-sample simulations (assignment, calibration) use at most this many of the log's first
#: cases: enough for means and distributions, and a fit of a large log stays fast.
IN_SAMPLE_CASES = 5000


def _first_cases(inst: pd.DataFrame) -> pd.DataFrame:
    """The instances of the log's first :data:`IN_SAMPLE_CASES` cases (by first start)."""
    first = inst.groupby("case_idx").s_us.min().sort_values(kind="stable")
    keep = first.index[:IN_SAMPLE_CASES]
    return inst[inst.case_idx.isin(keep)]


def _calibrate(model: SimulationModel, inst: pd.DataFrame) -> None:
    """Carry the staff-caused waiting the model's queues do not reproduce (methods §16.2).

    Contention, prioritisation and off-shift waiting are left to the simulated queues and
    calendars. Where a simulation of the log's own period (as many cases, from its first
    arrival, seed 1) waits less before a step than the log does, from enablement to start,
    the share r of the step's staff-caused waiting that is missing, r = (log − simulated) ÷
    staff-caused (0 to 1), is added to each instance's delay. A what-if that adds staff then
    removes only the waiting the queues reproduce: the saving it shows is not overstated."""
    from flowlens.simulation.engine import simulate

    staffed = [a for a, spec in model.activities.items() if spec.get("pools")]
    if not staffed:
        return
    sample = _first_cases(inst)
    real_wait = (sample.s_us - sample.enabled_us.fillna(sample.s_us)).clip(lower=0) / 1e6
    real = real_wait.groupby(sample.activity).mean()
    staff = inst.staff_wait_s.groupby(inst.activity).mean()
    start = pd.Timestamp(int(sample.s_us.min()), unit="us", tz="UTC")
    sim = simulate(model, cases=int(sample.case_idx.nunique()), start=start, seed=1, with_enabled=True)
    sim_wait = (
        ((sim.start_time - sim.enabled_time).dt.total_seconds()).clip(lower=0).groupby(sim.activity).mean()
    )
    shares: dict[str, float] = {}
    for a in staffed:
        missing = float(real.get(a, 0.0)) - float(sim_wait.get(a, 0.0))
        if missing <= 0 or float(staff.get(a, 0.0)) <= 0:
            continue
        r = min(1.0, missing / float(staff[a]))
        g = inst[inst.activity == a]
        spec = model.activities[a]
        spec.update(_delays(g, g.delay_s + r * g.staff_wait_s))
        spec.update(_anchored(g, g.delay_s + r * g.staff_wait_s))
        if spec.get("batching_share"):
            total = float((g.delay_s + r * g.staff_wait_s).sum())
            spec["batching_share"] = (
                round(min(1.0, float(g.batching_s.sum()) / total), 6) if total > 0 else 0.0
            )
        shares[a] = round(r, 4)
    model.fitted["calibrated_staff_wait_share"] = shares


def _censor_served_delays(model: SimulationModel, inst: pd.DataFrame) -> None:
    """The delay of each step served right after an abandonment point that takes no time (a
    recorded queue step's wait is the served step's, :func:`_recorded_waits_to_served`), fitted
    with the leavers' waits censored (:func:`~flowlens.simulation.abandonment.censored_delay`,
    methods §16.9), as a last ``delay_context`` (after the point: it applies there, whatever
    else matches): the delay the calibration gave it (its share of the staff-caused waiting,
    §16.2) on the served cases, longer where the log's longest waiters left."""
    shares = model.fitted.get("calibrated_staff_wait_share") or {}
    for point, spec in model.activities.items():
        ab = spec.get("abandonment")
        if not ab or spec["duration"].get("dist") != "fixed" or spec["duration"].get("value"):
            continue
        for a in ab["served"]:
            r = float(shares.get(a, 0.0))
            d = censored_delay(inst, point, ab["served"], ab["leave"], inst.delay_s + r * inst.staff_wait_s)
            if d is not None:
                # it comes last, so it applies after the point whatever else matches: the
                # contexts after the point fitted before it would never apply
                spec_a = model.activities[a]
                kept = [c for c in spec_a.get("delay_context", []) if c.get("after") != point]
                spec_a["delay_context"] = [*kept, {"after": point, "delay": d}]


def _choose_assignment(model: SimulationModel, inst: pd.DataFrame) -> None:
    """Set every pool's assignment to the mode whose simulation of the log's own period (as
    many cases, from its first arrival, seed 1) is nearer the log's cycle times (1-Wasserstein
    distance in hours). A shared queue lets any free member take the next step; in many
    back offices work is given to one person and waits for them while colleagues are free,
    which only the log can tell. A pool of shifts (``member_calendars``, methods §16.2) stays
    one queue: its people take the work that comes in their shift, and a step given up front
    to someone off shift would wait hours for them while the shift on duty is free."""
    from scipy.stats import wasserstein_distance

    from flowlens.simulation.engine import simulate

    if not model.pools:
        model.fitted["assignment"] = "queue"
        return
    sample = _first_cases(inst)
    g = sample.groupby("case_idx")
    real = ((g.end_us.max() - g.s_us.min()) / 3.6e9).to_numpy()
    start = pd.Timestamp(int(sample.s_us.min()), unit="us", tz="UTC")
    scores: dict[str, float] = {}
    for mode in ("queue", "person"):
        for pool in model.pools.values():
            pool["assignment"] = "queue" if pool.get("member_calendars") else mode
        sim = simulate(model, cases=len(real), start=start, seed=1)
        sg = sim.groupby("case_id")
        ct = ((sg.end_time.max() - sg.start_time.min()).dt.total_seconds() / 3600).to_numpy()
        scores[mode] = round(float(wasserstein_distance(real, ct)), 3)
    best = min(scores, key=lambda m: (scores[m], m != "queue"))
    for pool in model.pools.values():
        pool["assignment"] = "queue" if pool.get("member_calendars") else best
    model.fitted["assignment"] = best
    model.fitted["assignment_ct_distance_h"] = scores


#: A pool's members need this many jobs of other work (that take time) for a stream of their own:
#: fewer cannot show when it comes, and reserve too little time to matter.
MIN_OTHER_JOBS = 30


def _other_work_jobs(
    other: pd.DataFrame, groups: dict[str, tuple[str, ...]], cal_of: dict[str, str], cals: dict[str, Any]
) -> pd.DataFrame:
    """The other work of the log's people (``other``: rows of resource, start_us, end_us) as
    jobs: ``resource``, ``s_us`` (start) and ``work_s``, the duration in working time of the
    person's calendar (overtime counted as for the process's steps, methods §16.2). Jobs that
    take no time (a recorded completion without a start) reserve nothing and are left out."""
    empty = pd.DataFrame({"resource": pd.Series([], dtype=object), "s_us": [], "work_s": []})
    ow = other.dropna(subset=["resource", "start_us", "end_us"])
    ow = ow[ow.resource.astype(str).isin(list(groups))]
    if ow.empty:
        return empty
    frame = pd.DataFrame(
        {
            "resource": ow.resource.astype(str).to_numpy(),
            "s_us": ow.start_us.astype("int64").to_numpy(),
            "end_us": ow.end_us.astype("int64").to_numpy(),
        }
    )
    frame = frame[frame.end_us > frame.s_us].reset_index(drop=True)
    if frame.empty:
        return empty
    frame["cal"] = frame.resource.map(cal_of).fillna("24x7")
    wall = (frame.end_us - frame.s_us).to_numpy(dtype=float) / 1e6
    frame["work_s"] = _working_seconds(frame, cals, frame.end_us.to_numpy(), wall, overtime=True)
    frame = frame[frame.work_s > 0].sort_values(["s_us", "resource", "end_us"], kind="stable")
    return frame[["resource", "s_us", "work_s"]].reset_index(drop=True)


def _other_work_streams(
    pools: dict[str, dict[str, Any]], jobs: pd.DataFrame, tz: str, duration_method: str
) -> None:
    """Give each pool whose members have at least :data:`MIN_OTHER_JOBS` jobs of other work
    its stream (``pools.P.other_work``, methods §16.2): the jobs' starts fitted as arrivals are
    (intensity per weekday × hour, the recent level, gaps on the intensity's clock), their
    durations in working time as steps' are, and each member's share of them (who does a job
    when the pool gives work to one person up front)."""
    for pool in pools.values():
        g = jobs[jobs.resource.isin(pool["members"])]
        if len(g) < MIN_OTHER_JOBS:
            continue
        arr = _arrivals(pd.DataFrame({"case_idx": np.arange(len(g)), "s_us": g.s_us.to_numpy()}), tz)
        count = g.resource.value_counts()
        days = max(float((g.s_us.max() - g.s_us.min()) / 86_400e6), 1.0)
        pool["other_work"] = {
            "pattern": arr["pattern"],
            "intensity": arr["intensity"],
            "gaps": arr["gaps"],
            "duration": fit_distribution(g.work_s.to_numpy(dtype=float), method=duration_method),
            "shares": {m: round(float(count.get(m, 0)) / len(g), 6) for m in pool["members"]},
            "observed": {
                "jobs": len(g),
                "days": round(days, 3),
                "hours_per_week_per_member": round(
                    float(g.work_s.sum()) / 3600 / (days / 7) / len(pool["members"]), 3
                ),
                "recent_level": arr["observed"]["recent_level"],
            },
        }


def _open_cases(inst: pd.DataFrame) -> float:
    g = inst.groupby("case_idx")
    start, end = g.s_us.min(), g.end_us.max()
    span = float(end.max() - start.min())
    return float((end - start).sum()) / span if span > 0 else 0.0


def _stem(path: str) -> str:
    from pathlib import Path

    stem = Path(str(path)).name
    for suffix in (".gz", ".csv", ".parquet", ".xes"):
        stem = stem.removesuffix(suffix)
    return stem or "process"


# ---------------------------------------------------------------------------------------
def _arrivals(inst: pd.DataFrame, tz: str) -> dict[str, Any]:
    """Intensity per weekday × hour and gaps on its clock (methods §16.2)."""
    every = np.sort(inst.groupby("case_idx").s_us.min().to_numpy(dtype=np.int64)) / 1e6
    # the central 90 % of the case starts: an extract's edges (cases begun before it, started
    # but not yet seen at its end) thin out the first and last weeks without any change in
    # demand (the fidelity check reads the rate the same way, §16.6)
    edge = round(0.05 * (len(every) - 1)) if len(every) >= 40 else 0
    first = every[edge : len(every) - edge]
    lo, hi = float(first[0]), float(first[-1])
    days = (hi - lo) / 86400.0
    h0 = math.floor(lo / 3600) * 3600.0
    n_hours = math.ceil((hi - h0) / 3600) + 1
    edges = h0 + 3600.0 * np.arange(n_hours + 1)
    local = pd.DatetimeIndex(pd.to_datetime(edges[:-1], unit="s", utc=True)).tz_convert(tz)
    wd, hr = local.weekday.to_numpy(), local.hour.to_numpy()
    at = pd.DatetimeIndex(pd.to_datetime(first, unit="s", utc=True)).tz_convert(tz)
    count = np.zeros((7, 24))
    np.add.at(count, (at.weekday.to_numpy(), at.hour.to_numpy()), 1)
    exposure = np.zeros((7, 24))
    np.add.at(exposure, (wd, hr), 1)
    if days >= WEEKLY_DAYS:
        pattern = "weekly"
        inten = np.divide(count, exposure, out=np.zeros_like(count), where=exposure > 0)
    elif days >= DAILY_DAYS:
        pattern = "daily"
        per_hour = count.sum(axis=0) / np.maximum(exposure.sum(axis=0), 1)
        inten = np.tile(per_hour, (7, 1))
    else:
        pattern = "flat"
        inten = np.full((7, 24), len(first) / max((hi - lo) / 3600.0, 1.0))
    # gaps between arrivals on the intensity's clock
    rate = inten[wd, hr]
    cum = np.concatenate([[0.0], np.cumsum(rate)])
    lam = np.interp(first, edges, cum)
    gaps = np.diff(lam)
    # The level is the most recent weeks' (methods §16.2): volume drifts, and the period right
    # after the log is likelier to look like its last weeks than like its average. The shape
    # (weekday × hour) stays the whole period's.
    level = 1.0
    if days >= RECENT_MIN_DAYS:
        since = hi - RECENT_DAYS * 86400.0
        expected = float(np.interp(hi, edges, cum) - np.interp(since, edges, cum))
        seen = float((first > since).sum())
        if expected > 0 and seen > 0:
            level = seen / expected
        if not 1 / MAX_LEVEL_CHANGE <= level <= MAX_LEVEL_CHANGE:
            # a change this large is the log's edge (an extract cut short), not drift
            level = 1.0
    inten = inten * level
    return {
        "pattern": pattern,
        "intensity": [[round(float(v), 6) for v in row] for row in inten],
        "gaps": fit_distribution(gaps, method="empirical"),
        "closed_dates": [],
        "observed": {
            "cases": len(first),
            "edge_cases_left_out": int(len(every) - len(first)),
            "days": round(days, 3),
            "per_day": round(len(first) / max(days, 1e-9), 3),
            "recent_level": round(level, 4),
        },
    }


def _case_attribute_rows(log: EventLog) -> pd.DataFrame | None:
    """Case attributes, one row per case (``case_idx`` first): attributes constant within 99 %
    of cases, numeric or with at most max(50, 5 % of cases) values; identifiers (values nearly
    unique per case) and free text are left out."""
    cols = list(log.attributes)
    if not cols:
        return None
    t = log.table
    per_case = t.group_by("case_idx").aggregate(**{f"n_{i}": t[c].nunique() for i, c in enumerate(cols)})
    varying = per_case.aggregate(
        **{f"v_{i}": (per_case[f"n_{i}"] > 1).sum() for i in range(len(cols))}
    ).to_pandas()
    n = log.n_cases
    keep = [c for i, c in enumerate(cols) if int(varying[f"v_{i}"].iloc[0] or 0) <= 0.01 * n]
    if not keep:
        return None
    rows = t.group_by("case_idx").aggregate(**{c: t[c].max() for c in keep}).to_pandas()
    chosen = []
    for c in keep:
        col = rows[c]
        distinct = col.nunique(dropna=True)
        numeric = pd.api.types.is_numeric_dtype(col)
        if distinct == 0 or (not numeric and distinct > max(50, 0.05 * n)):
            continue
        chosen.append(c)
    if not chosen:
        return None
    out = rows[["case_idx", *chosen]].sort_values("case_idx", kind="stable").reset_index(drop=True)
    return out


def _attribute_table(rows: pd.DataFrame | None) -> dict[str, Any] | None:
    """The joint table of case-attribute rows, each with how many cases have it."""
    if rows is None or rows.empty:
        return None
    chosen = [c for c in rows.columns if c != "case_idx"]
    table = rows[chosen].astype(object).where(rows[chosen].notna(), None)
    counts = Counter(tuple(r) for r in table.itertuples(index=False, name=None))
    items = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return {
        "columns": chosen,
        "rows": [[_plain(v) for v in k] for k, _ in items],
        "weights": [int(v) for _, v in items],
    }


#: What a bootstrap copy resamples (methods §17.3): whole weeks of cases, by when they start.
RESAMPLE_UNITS = ("case", "week")
_WEEK_US = 7 * 86_400_000_000
#: A log spanning fewer weeks is resampled by cases: a resample of a handful of weeks can
#: miss a rare step, or the batching of one, altogether, and a scenario on it then has
#: nothing to change in that copy.
MIN_RESAMPLE_WEEKS = 8


def resample(obs: Observations, seed: int, by: str = "case") -> Observations:
    """A bootstrap copy of ``obs`` for the model's own uncertainty (methods §17.3): each drawn
    case a case of its own.

    ``by="case"``: as many cases as the log has, drawn with replacement. ``by="week"``: as many
    weeks as the log spans (Monday to Sunday, UTC, by each case's first start), drawn with
    replacement, each with all the cases that started in it (none for a week without any):
    the load a pool faces is a weekly matter (a queue near saturation builds over days), and
    a log's weeks differ in volume, so the copy's case count varies with them; ``volume``
    (copy's cases ÷ the log's) then scales the copy's arrival rate
    (:func:`flowlens.simulation.whatif.whatif`), which a resample of cases holds fixed. A log
    spanning fewer than :data:`MIN_RESAMPLE_WEEKS` weeks is resampled by cases.

    >>> import numpy as np, pandas as pd
    >>> from flowlens.simulation.fit import Observations
    >>> inst = pd.DataFrame({"case_idx": np.arange(6), "s_us": np.arange(6) * 12 * 86_400_000_000,
    ...                      "end_us": 0, "pos": 0})
    >>> obs = Observations(inst, None, {}, "UTC", {}, {}, {}, {}, [], {}, 6, False, "x")
    >>> copy = resample(obs, 1, by="week")
    >>> round(copy.volume * 6) == copy.inst.case_idx.nunique()
    True
    """
    import numpy as np

    if by not in RESAMPLE_UNITS:
        raise ConfigError(f"resample: by must be one of {', '.join(RESAMPLE_UNITS)}, got {by!r}")
    cases = np.sort(obs.inst.case_idx.unique())
    rng = np.random.default_rng([seed, 17])
    volume = 1.0
    first = obs.inst.groupby("case_idx").s_us.min().reindex(cases).to_numpy(dtype=np.int64)
    # Monday-aligned weeks (1970-01-01 was a Thursday)
    week = (first + 3 * 86_400_000_000) // _WEEK_US
    lo, hi = int(week.min()), int(week.max())
    if by == "case" or hi - lo + 1 < MIN_RESAMPLE_WEEKS:
        pick = np.sort(rng.choice(cases, size=len(cases), replace=True))
    else:
        drawn = rng.integers(lo, hi + 1, size=hi - lo + 1)
        order = np.argsort(week, kind="stable")
        sw = week[order]
        left = np.searchsorted(sw, drawn, side="left")
        right = np.searchsorted(sw, drawn, side="right")
        parts = [cases[order[a:b]] for a, b in zip(left, right, strict=True) if b > a]
        pick = np.sort(np.concatenate(parts)) if parts else cases
        volume = len(pick) / max(len(cases), 1)
    new_idx = np.arange(len(pick))
    key = pd.DataFrame({"case_idx": pick, "new_case": new_idx})
    inst = obs.inst.merge(key, on="case_idx", how="inner").drop(columns="case_idx")
    inst = inst.rename(columns={"new_case": "case_idx"})
    inst = inst.sort_values(["case_idx", "s_us", "end_us", "pos"], kind="stable").reset_index(drop=True)
    attrs = None
    if obs.case_attributes is not None:
        attrs = obs.case_attributes.merge(key, on="case_idx", how="inner").drop(columns="case_idx")
        attrs = attrs.rename(columns={"new_case": "case_idx"}).sort_values("case_idx").reset_index(drop=True)
    return replace(obs, inst=inst, case_attributes=attrs, volume=round(float(volume), 6))


def _plain(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(float(v)) else float(v)
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v if isinstance(v, (int, str)) else str(v)


# ---------------------------------------------------------------------------------------
def _counts(
    traces: Sequence[Sequence[str]], k: int, repeats: bool = False
) -> dict[tuple[tuple[str, ...], int], Counter[str]]:
    """Next-activity counts after each history (the last k activities and, with ``repeats``,
    how often the last one has been done in the case: 1, 2 or 3 for three or more)."""
    out: dict[tuple[tuple[str, ...], int], Counter[str]] = {}
    for tr in traces:
        hist: tuple[str, ...] = (START,) * k
        seen: Counter[str] = Counter()
        rep = 0
        for a in [*tr, END]:
            out.setdefault((hist, rep if repeats else 0), Counter())[a] += 1
            if a != END:
                hist = (*hist[1:], a)
                seen[a] += 1
                rep = min(seen[a], MAX_REPEAT)
    return out


def _control_flow(traces: Sequence[Sequence[str]], k: int, repeats: bool = False) -> dict[str, Any]:
    counts = _counts(traces, k, repeats)
    transitions = []
    for hist, rep in sorted(counts):
        c = counts[(hist, rep)]
        total = sum(c.values())
        names = sorted(c)
        probs = [c[a] / total for a in names]
        # rounded for reading; the last takes the rest so they sum to 1 exactly
        rounded = [round(p, 9) for p in probs]
        rounded[-1] = round(1 - sum(rounded[:-1]), 12)
        tr: dict[str, Any] = {"after": list(hist)}
        if repeats:
            tr["repeat"] = rep
        tr.update(next=dict(zip(names, rounded, strict=True)), n=total)
        transitions.append(tr)
    out: dict[str, Any] = {"order": k, "transitions": transitions}
    if repeats:
        out["repeats"] = True
    return out


def _ngrams(traces: Sequence[Sequence[str]], n: int = 3) -> Counter[tuple[str, ...]]:
    c: Counter[tuple[str, ...]] = Counter()
    for tr in traces:
        padded = [START] * (n - 1) + list(tr) + [END] * (n - 1)
        c.update(tuple(padded[i : i + n]) for i in range(len(padded) - n + 1))
    return c


def ngram_distance(a: Sequence[Sequence[str]], b: Sequence[Sequence[str]], n: int = 3) -> float:
    """Normalised n-gram distance between two sets of traces (methods §16.6, as
    log-distance-measures defines it).

    >>> ngram_distance([["a", "b"]], [["a", "b"]])
    0.0
    """
    fa, fb = _ngrams(a, n), _ngrams(b, n)
    total = sum(fa.values()) + sum(fb.values())
    return sum(abs(fa[g] - fb[g]) for g in set(fa) | set(fb)) / total if total else 0.0


def _generate(control: dict[str, Any], n: int, seed: int, cap: int) -> list[list[str]]:
    """``n`` paths of a control flow, walked as the engine walks them."""
    from flowlens.simulation.engine import _table, walk_paths

    acts = sorted({a for t in control["transitions"] for a in [*t["after"], *t["next"]]} - {START, END})
    index = {a: i for i, a in enumerate(acts)}
    p = walk_paths(
        control,
        len(acts),
        np.arange(n, dtype=np.int64),
        seed,
        cap=cap,
        tables=[_table(control["transitions"], index)],
    )
    names = np.asarray(acts, dtype=object)[p.act]
    return [names[p.offsets[i] : p.offsets[i + 1]].tolist() for i in range(n)]


def _choose_order(traces: list[list[str]]) -> tuple[int, bool, dict[str, float]]:
    """The order k and whether transitions tell repeat counts apart: the candidate whose paths
    are nearest to a fifth of the cases when fitted on the rest (a richer model must
    earn its detail on cases it did not see). Nearness is the 3-gram distance plus the
    distance of the steps per case (1-Wasserstein over the mean steps per case): the n-grams
    see the order of steps, the lengths how often loops go round (methods §16.2). Ties keep
    the simpler model."""
    from scipy.stats import wasserstein_distance

    # every fifth case (in case order) is held out: interleaved, so neither drift nor the
    # cases still open when the log ends (cut short) decide the choice
    train = [t for i, t in enumerate(traces) if i % 5 != 4]
    held = [t for i, t in enumerate(traces) if i % 5 == 4]
    if len(held) < 10:
        return 1, False, {}
    cap = 3 * max(len(t) for t in traces) + 1
    held_len = np.asarray([len(t) for t in held], dtype=float)
    scores: dict[str, float] = {}
    best = (float("inf"), 1, False)
    for repeats in (False, True):
        for k in ORDERS:
            sim = _generate(_control_flow(train, k, repeats), max(len(held), 500), 97, cap)
            lengths = np.asarray([len(t) for t in sim], dtype=float)
            d = ngram_distance(sim, held) + wasserstein_distance(lengths, held_len) / max(
                held_len.mean(), 1.0
            )
            scores[f"k={k}{' repeats' if repeats else ''}"] = round(d, 4)
            if d < best[0] - 1e-9:
                best = (d, k, repeats)
    return best[1], best[2], scores


# ---------------------------------------------------------------------------------------
# daily releases (batch rules)
#: A step needs this many instances with a recorded start before a release rule is read off it.
RELEASE_MIN_INSTANCES = 30
#: Its starts must fall this often in the first minute of its release times ...
RELEASE_COVER = 0.8
#: ... each release time holding at least this share of them (chance: under 0.2 % a minute
#: for work spread over an 8-hour day) ...
RELEASE_MIN_SLOT = 0.05
#: ... with at least this many cases released together on average, most of which waited.
RELEASE_MIN_TOGETHER = 2.0
#: A weekday is a release day when releases were seen on this share of its dates on which a
#: case was waiting at a release time.
RELEASE_DAY_SHARE = 0.5


def _releases(inst: pd.DataFrame, tz: str) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    """Daily release rules: per activity whose cases are released together at fixed times of
    day (methods §16.2), ``{"cutoff": "HH:MM" (or a list), "days": [weekdays]}``, and the
    instants (µs, sorted) at which the log shows its releases.

    A step is released daily at times T₁..Tₖ when at least :data:`RELEASE_COVER` of its
    instances with a recorded start start within the first minute of one of them, each Tᵢ
    holding at least :data:`RELEASE_MIN_SLOT` of them, on average at least
    :data:`RELEASE_MIN_TOGETHER` together, and most of them had waited (enabled before the
    release) in releases that gathered cases enabled at different times. Exactly midnight is never a release time (it is how a date without a time of day
    is recorded). The release days are the weekdays on which a release was seen on at least
    :data:`RELEASE_DAY_SHARE` of the dates a case was waiting for one (enabled before a release
    time and started at or after it)."""
    from flowlens.timing.calendars import DAYS

    x = inst[~inst.start_estimated.fillna(True).astype(bool) & inst.start_us.notna()]
    if x.empty:
        return {}, {}
    t = x.start_us.to_numpy(dtype=np.int64)
    local = pd.DatetimeIndex(pd.to_datetime(t, unit="us", utc=True)).tz_convert(tz)
    minute = local.hour.to_numpy() * 60 + local.minute.to_numpy()
    midnight = (minute == 0) & (local.second.to_numpy() == 0) & (local.microsecond.to_numpy() == 0)
    frame = pd.DataFrame(
        {
            "activity": x.activity.astype(str).to_numpy(),
            "minute": np.where(midnight, -1, minute),
            "release": (t // 60_000_000) * 60_000_000,
            "enabled": x.enabled_us.fillna(x.start_us).to_numpy(dtype=float),
        }
    )
    frame["waited"] = (frame.enabled < t).astype(float)
    n_of = frame.groupby("activity").size()
    slots = frame[frame.minute >= 0].groupby(["activity", "minute"]).size().rename("n").reset_index()
    slots["share"] = slots.n / slots.activity.map(n_of)
    slots = slots[(slots.share >= RELEASE_MIN_SLOT) & (slots.activity.map(n_of) >= RELEASE_MIN_INSTANCES)]
    if slots.empty:
        return {}, {}
    cover = slots.groupby("activity").share.sum()
    out: dict[str, dict[str, Any]] = {}
    seen_at: dict[str, np.ndarray] = {}
    for act in sorted(cover.index[cover >= RELEASE_COVER]):
        mins = sorted(int(m) for m in slots.minute[slots.activity == act])
        at = frame[(frame.activity == act) & frame.minute.isin(mins)]
        together = len(at) / at.release.nunique()
        # gathered: a release's cases were enabled at different times (cases enabled at one
        # instant and started together a fixed time later follow one event, like a step
        # right after a release; they are not held for a release of their own)
        gathered = at.groupby("release").enabled.transform("nunique") > 1
        if together < RELEASE_MIN_TOGETHER or at.waited.mean() < 0.5 or gathered.mean() < 0.5:
            continue
        seen = pd.DatetimeIndex(pd.to_datetime(at.release.unique(), unit="us", utc=True)).tz_convert(tz)
        released_on = set(seen.tz_localize(None).normalize())
        # the dates a release could have happened: some case of the step was waiting at one
        # of its times (enabled before, started at or after it)
        g = inst[inst.activity.astype(str) == act]
        e = np.sort(g.enabled_us.fillna(g.s_us).to_numpy(dtype=float))
        st = np.sort(g.s_us.to_numpy(dtype=float))
        lo = pd.Timestamp(int(e[0]), unit="us", tz="UTC").tz_convert(tz).tz_localize(None).normalize()
        hi = pd.Timestamp(int(st[-1]), unit="us", tz="UTC").tz_convert(tz).tz_localize(None).normalize()
        dates = pd.date_range(lo, hi, freq="D")
        waiting_on = np.zeros(len(dates), dtype=bool)
        for m in mins:
            local_t = (dates + pd.Timedelta(minutes=m)).tz_localize(
                tz, ambiguous="NaT", nonexistent="shift_forward"
            )
            t_us = local_t.as_unit("us").asi8.astype(float)
            waiting = np.searchsorted(e, t_us, side="left") - np.searchsorted(st, t_us, side="left")
            waiting_on |= ~local_t.isna() & (waiting > 0)
        wd = dates.weekday.to_numpy()
        could = np.bincount(wd[waiting_on], minlength=7)
        did = np.bincount(wd[waiting_on & dates.isin(list(released_on))], minlength=7)
        days = [DAYS[d] for d in range(7) if could[d] and did[d] >= RELEASE_DAY_SHARE * could[d]]
        if not days:
            continue
        times = [f"{m // 60:02d}:{m % 60:02d}" for m in mins]
        out[act] = {
            "cutoff": times[0] if len(times) == 1 else times,
            "days": days,
            "observed": {
                "instances": int(n_of[act]),
                "at_release_times": round(float(len(at)) / float(n_of[act]), 4),
                "releases": int(at.release.nunique()),
                "per_release": round(together, 2),
            },
        }
        seen_at[act] = np.sort(at.release.unique()).astype(float)
    return out, seen_at


def _split_release_waits(inst: pd.DataFrame, seen: dict[str, np.ndarray]) -> pd.DataFrame:
    """The waiting of released steps split anew (methods §16.2). ``seen``: per released
    activity, the instants (µs) at which the log shows a release. The wait up to the first
    release at or after the step was enabled is the release's (``release_us``: the rule
    reproduces it, so no delay carries it); of the rest, the staff-caused time the
    waiting-cause analysis found stays staff-caused (at most all of the rest) and the remainder
    is extraneous (the case missed releases: it was not ready, or held)."""
    inst = inst.copy()
    inst["release_us"] = 0.0
    acts = inst.activity.astype(str).to_numpy()
    rel = np.isin(acts, list(seen))
    if not rel.any():
        return inst
    s = inst.s_us.to_numpy(dtype=float)
    e = np.minimum(inst.enabled_us.fillna(inst.s_us).to_numpy(dtype=float), s)
    wait = s - e
    release_us = np.zeros(len(inst))
    for act, at in seen.items():
        m = np.flatnonzero(acts == act)
        j = np.searchsorted(at, e[m], side="left")
        nxt = np.where(j < len(at), at[np.minimum(j, len(at) - 1)], np.inf)
        release_us[m] = np.clip(nxt - e[m], 0.0, wait[m])
    rest = wait - release_us
    staff_cols = ["contention_us", "prioritization_us", "unavailability_us"]
    staff = inst[staff_cols].fillna(0).sum(axis=1).to_numpy(dtype=float)
    keep = np.minimum(staff, rest)
    scale = np.divide(keep, staff, out=np.zeros_like(staff), where=staff > 0)
    for c in staff_cols:
        inst.loc[rel, c] = (inst[c].fillna(0).to_numpy(dtype=float) * scale)[rel]
    inst.loc[rel, "extraneous_us"] = (rest - keep)[rel]
    inst.loc[rel, "batching_us"] = 0.0
    inst.loc[rel, "release_us"] = release_us[rel]
    return inst


# ---------------------------------------------------------------------------------------
def _staff_groups(inst: pd.DataFrame, shared: set[str]) -> dict[str, tuple[str, ...]]:
    """Each person's activity set (the key of their pool). People are recorded resources
    that are one person at a time and of the organisation (not the customer, a system or
    another party, :func:`~flowlens.analysis.step_roles.is_staff`)."""
    from flowlens.analysis.step_roles import is_staff

    people = [r for r in inst.resource.dropna().unique().tolist() if is_staff(r) and r not in shared]
    staff = inst[inst.resource.isin(people)]
    if staff.empty:
        return {}
    per = staff.groupby("resource").activity.agg(lambda x: tuple(sorted(set(x))))
    return {str(r): acts for r, acts in per.items()}


def _calendars(
    log: EventLog,
    given: CalendarSet | None,
    inst: pd.DataFrame,
    groups: dict[str, tuple[str, ...]],
    other: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Each person's calendar (None: always on).

    Given calendars apply per person. Otherwise, when the log is long enough to show a week
    (methods §16.2: at least 14 days, times finer than an hour), a calendar is discovered per
    *group* (the people who do the same activities) from their pooled work, as the time model
    discovers one per person: a person seen rarely works at scattered hours, and a calendar
    read off those few hours would leave them almost never on shift. Shorter logs: always on.
    With ``other`` (the other work's intervals), the hours are read off all the group's work, the
    log's and the other: a person's shift is when they work, not only when they work on this
    process, and the other work the model reserves must fit in it (methods §16.2).
    """
    if not groups:
        return {}
    span_days = (float(inst.end_us.max()) - float(inst.s_us.min())) / 86_400e6
    objs: dict[str, Any] = {}
    if given is not None:
        for r in groups:
            objs[r] = given.for_resource(r)
    elif span_days >= WEEKLY_DAYS and (log.time_resolution_s or 0) < 3600:
        key = {r: "group " + " | ".join(acts) for r, acts in groups.items()}
        found = _discover_by(log, inst, key, other)
        for r in groups:
            objs[r] = found.for_resource(key[r])
        objs = _explaining(objs, inst, lambda frame: frame.resource)
    return {r: objs.get(r) for r in sorted(groups)}


def _discover_by(log: EventLog, inst: pd.DataFrame, key: dict[str, str], other: pd.DataFrame | None) -> Any:
    """Calendars discovered (§7.3) per value of ``key`` (person -> the name their work is pooled
    under) from the work of the people in ``key``: the log's, and with ``other`` (the other
    work's intervals) theirs too."""
    import flowlens
    from flowlens.timing.discovery import discover_calendars

    mine = None if other is None else other[other.resource.astype(str).isin(list(key))]
    if mine is not None and len(mine):
        rows = inst[inst.resource.isin(list(key))]
        frame = pd.DataFrame(
            {
                "resource": np.concatenate([rows.resource.astype(str), mine.resource.astype(str)]),
                "start_us": np.concatenate([rows.s_us, mine.start_us]).astype("int64"),
                "end_us": np.concatenate([rows.end_us.fillna(rows.s_us), mine.end_us]).astype("int64"),
            }
        )
        frame = pd.DataFrame(
            {
                "case_id": np.arange(len(frame)).astype(str),
                "activity": "work",
                "start_time": pd.to_datetime(frame.start_us, unit="us", utc=True),
                "end_time": pd.to_datetime(frame.end_us, unit="us", utc=True),
                "resource": frame.resource.map(key),
            }
        )
        derived = flowlens.read_log(frame, tz=log.timezone)
    else:
        t = log.table
        derived = log.derive(
            t.mutate(resource=t.resource.substitute(key, else_=None)), "resources replaced by their group"
        )
    return discover_calendars(derived, holidays=False)


def _shift_calendars(
    log: EventLog,
    inst: pd.DataFrame,
    groups: dict[str, tuple[str, ...]],
    other: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The calendar of each person of a group whose people work distinct shifts (methods
    §16.2, :func:`~flowlens.simulation.shifts.shifts`), read off the shift's pooled work as a
    group's is off the group's, under the same conditions (calendars discovered, not given; a
    log of at least 14 days timed finer than an hour). A group one of whose shifts' calendars
    holds fewer than :data:`MIN_CALENDAR_COVER` of the shift's starts is not split."""
    from flowlens.simulation.shifts import shifts

    span_days = (float(inst.end_us.max()) - float(inst.s_us.min())) / 86_400e6
    if not groups or span_days < WEEKLY_DAYS or (log.time_resolution_s or 0) >= 3600:
        return {}
    people = inst[inst.resource.isin(list(groups))]
    work = pd.DataFrame({"resource": people.resource.astype(str), "s_us": people.s_us})
    if other is not None:
        mine = other[other.resource.astype(str).isin(list(groups))]
        work = pd.concat(
            [work, pd.DataFrame({"resource": mine.resource.astype(str), "s_us": mine.start_us})],
            ignore_index=True,
        )
    shift_of = shifts(work, groups, log.timezone)
    if not shift_of:
        return {}
    key = {r: "group " + " | ".join(groups[r]) + f" shift {k}" for r, k in shift_of.items()}
    found = _discover_by(log, inst, key, other)
    cal = {k: found.for_resource(k) for k in sorted(set(key.values()))}
    # a shift's calendar must hold most of its starts, as a group's must; else no split
    cover = _explaining(cal, work.assign(on=work.resource.map(key)), lambda frame: frame["on"])
    failed = {groups[r] for r in key if cal[key[r]] is None or cover[key[r]] is not cal[key[r]]}
    return {r: cal[key[r]] for r in sorted(key) if groups[r] not in failed}


def _given_shifts(
    person_cal: dict[str, Any], groups: dict[str, tuple[str, ...]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Given calendars (``person_cal``: person -> their calendar) as shifts (methods §16.2): the
    people of a group on different calendars stay one pool, on the union of their calendars,
    each taking work in their own. Returns each person's pool calendar and, for the people of
    such groups, their own calendar (the shift's).

    One pool per calendar would have each step's performer drawn up front by the pools'
    shares, whatever the hour: the bank demo's night calls went to an early agent and waited
    for the morning (41 % of the queued calls left in the simulation against 6 % in the log).

    >>> from datetime import time
    >>> from flowlens.timing.calendars import WorkCalendar
    >>> early = WorkCalendar("early", "UTC", {0: ((time(8), time(16)),)})
    >>> late = WorkCalendar("late", "UTC", {0: ((time(14), time(22)),)})
    >>> pool, own = _given_shifts({"ann": early, "bob": late}, {"ann": ("Call",), "bob": ("Call",)})
    >>> pool["ann"].hours[0] == ((time(8), time(22)),), own["bob"].name
    (True, 'late')
    """
    members: dict[tuple[str, ...], list[str]] = {}
    for r, acts in sorted(groups.items()):
        members.setdefault(acts, []).append(r)
    pool_cal, own = dict(person_cal), {}
    for acts, people in members.items():
        cals = [person_cal.get(r) for r in people]
        if any(c is None for c in cals) or len({json.dumps(c.to_dict(), sort_keys=True) for c in cals}) < 2:
            continue
        union = _union_calendar(cals, "shifts of " + " | ".join(acts))
        for r, c in zip(people, cals, strict=True):
            pool_cal[r], own[r] = union, c
    return pool_cal, own


def _union_calendar(cals: Sequence[Any], name: str) -> Any:
    """The hours in which at least one of ``cals`` is open: spans merged per weekday; a holiday
    only when it is one in every calendar; extra working days of any of them.

    >>> from datetime import time
    >>> from flowlens.timing.calendars import WorkCalendar
    >>> a = WorkCalendar("a", "UTC", {0: ((time(0), time(8)), (time(22), time.max))})
    >>> b = WorkCalendar("b", "UTC", {0: ((time(8), time(12)),), 1: ((time(9), time(10)),)})
    >>> u = _union_calendar([a, b], "u").hours
    >>> u[0] == ((time(0), time(12)), (time(22), time.max)), u[1] == ((time(9), time(10)),)
    (True, True)
    """
    from datetime import time

    from flowlens.timing.calendars import WorkCalendar

    def merged(spans: list[tuple[time, time]]) -> tuple[tuple[time, time], ...]:
        out: list[tuple[time, time]] = []
        for a, b in sorted(spans):
            if out and a <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], b))
            else:
                out.append((a, b))
        return tuple(out)

    hours = {d: merged([s for c in cals for s in c.hours.get(d, ())]) for d in range(7)}
    return WorkCalendar(
        name=name,
        timezone=cals[0].timezone,
        hours={d: s for d, s in hours.items() if s},
        holidays=frozenset.intersection(*(c.holidays for c in cals)),
        extra_workdays=frozenset().union(*(c.extra_workdays for c in cals)),
        workday_hours=merged([s for c in cals for s in c.workday_hours]),
    )


def _named(objs: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
    """Calendars named by their hours (those with the same hours share one name): the name
    per key ("24x7" for always on), the model-file specs and the calendar objects by name."""
    from flowlens.timing.calendars import DAYS

    specs: dict[str, Any] = {}
    by_content: dict[str, str] = {}
    name_of: dict[str, str] = {}
    built: dict[str, Any] = {}
    for k in sorted(objs):
        c = objs[k]
        if c is None or c.always_open:
            name_of[k] = "24x7"
            continue
        d = c.to_dict()
        spec: dict[str, Any] = {day: d["hours"].get(day, []) for day in DAYS}
        if d["holidays"]:
            spec["holidays"] = d["holidays"]
        if d["extra_workdays"]:
            spec["extra_workdays"] = d["extra_workdays"]
        content = json.dumps(spec, sort_keys=True)
        if content not in by_content:
            by_content[content] = f"calendar {len(by_content) + 1}"
            specs[by_content[content]] = spec
            built[by_content[content]] = c
        name_of[k] = by_content[content]
    return name_of, specs, built


#: A discovered calendar is used only when this share of the work it governs starts inside
#: it; sparse work (a few steps a week at any hour) gives calendars of scattered hours that
#: would leave people almost never on shift.
MIN_CALENDAR_COVER = 0.8


def _explaining(objs: dict[str, Any], inst: pd.DataFrame, key: Any) -> dict[str, Any]:
    """``objs`` (key -> calendar) with the calendars that do not cover
    :data:`MIN_CALENDAR_COVER` of their key's starts replaced by None (always on)."""
    out: dict[str, Any] = {}
    keys = key(inst)
    for k, c in objs.items():
        if c is None or c.always_open:
            out[k] = None
            continue
        t = inst.s_us[keys == k].to_numpy(dtype=np.int64)
        if not len(t):
            out[k] = None
            continue
        inside = _hours_at(c, t)[0]
        out[k] = c if inside.mean() >= MIN_CALENDAR_COVER else _hull(t, c.timezone, str(k))
    return out


#: A hull open this share of the week's hours or more is taken as always on.
HULL_ALWAYS = 0.9


def _hull(t_us: np.ndarray, tz: str, name: str) -> Any:
    """The hours that hold the work when the slot-by-slot calendar is too sparse (methods
    §16.2): per weekday with at least 2 % of the starts, from the hour of its 1st to the end of
    the hour of its 99th percentile start; None (always on) when that is nearly every hour
    (:data:`HULL_ALWAYS`)."""
    from datetime import time

    from flowlens.timing.calendars import WorkCalendar

    local = pd.DatetimeIndex(pd.to_datetime(t_us, unit="us", utc=True)).tz_convert(tz)
    hours = local.hour.to_numpy() + local.minute.to_numpy() / 60
    wd = local.weekday.to_numpy()
    spans: dict[int, tuple[tuple[time, time], ...]] = {}
    for d in range(7):
        h = hours[wd == d]
        if len(h) < 0.02 * len(hours) or not len(h):
            continue
        lo, hi = int(np.floor(np.quantile(h, 0.01))), int(np.floor(np.quantile(h, 0.99))) + 1
        spans[d] = ((time(lo), time(hi) if hi < 24 else time.max),)
    open_h = sum((24 if b == time.max else b.hour) - a.hour for ((a, b),) in spans.values())
    if open_h >= HULL_ALWAYS * 168:
        return None  # work at nearly any hour: always on (and one pool with the others)
    return WorkCalendar(name=f"hull:{name}", timezone=tz, hours=spans) if spans else None


def _activity_calendars(log: EventLog, inst: pd.DataFrame, acts: list[str]) -> dict[str, Any]:
    """When the steps that need nobody happen (the customer answers in office hours, a batch
    job runs at night), discovered as for people (methods §16.2); None where the log is too
    short or the hours do not explain the steps."""
    from flowlens.timing.discovery import discover_calendars

    span_days = (float(inst.end_us.max()) - float(inst.s_us.min())) / 86_400e6
    if not acts or span_days < WEEKLY_DAYS or (log.time_resolution_s or 0) >= 3600:
        return {}
    t = log.table
    derived = log.derive(
        t.mutate(resource=ibis_ifelse(t.activity.isin(acts), t.activity, None)),
        "resources replaced by the step",
    )
    found = discover_calendars(derived, holidays=False)
    objs = {a: found.resources.get(a) for a in acts}
    objs = {a: c for a, c in objs.items() if c is not None and not isinstance(c, str)}
    return {a: c for a, c in _explaining(objs, inst, lambda frame: frame.activity).items() if c is not None}


#: A step's own hours are kept only when at least this share of its instances waited for them
#: (enabled while they were closed, started once they opened) or worked over their closing; a
#: calendar that waiting runs on only when at least this share of the waits ending in the step
#: were held by its closed hours (ran up to or past an opening after they began).
MIN_HELD = 0.05


def _hours_at(cal: Any, t_us: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of each instant of ``t_us``: whether ``cal`` is open then, when it is next open (the
    instant itself when open) and when the open hours holding it close (the instant itself
    when closed)."""
    iv = cal.intervals(int(t_us.min()) - 86_400_000_000, int(t_us.max()) + 8 * 86_400_000_000)
    if not len(iv):
        never = np.full(len(t_us), np.iinfo(np.int64).max)
        return np.zeros(len(t_us), bool), never, t_us
    j = np.searchsorted(iv[:, 0], t_us, side="right") - 1
    jj = np.clip(j, 0, len(iv) - 1)
    inside = (j >= 0) & (t_us < iv[jj, 1])
    nxt = np.where(j + 1 < len(iv), iv[np.clip(j + 1, 0, len(iv) - 1), 0], np.iinfo(np.int64).max)
    return inside, np.where(inside, t_us, nxt), np.where(inside, iv[jj, 1], t_us)


def _holds_back(cal: Any, g: pd.DataFrame) -> bool:
    """Whether the log shows the hours ``cal`` acting on the step's instances ``g`` (methods
    §16.2): at least :data:`MIN_HELD` of them were held back by them (enabled while they were
    closed, started only once they opened) or worked over them (started while they were open
    and ended after they closed: a customer who fills in a form over days does so in the
    hours). Hours read off a step's starts say where its work falls, which is not always a
    rule that holds it: a message sent ten minutes after a daily run is seen only at 16:10, and
    a call's automated steps follow the call whenever it comes, the few night calls leaving
    hours of the night out. Kept as hours, they would hold a message at 16:10 when the run is
    removed, and a 03:30 call's identity check until the morning."""
    if not len(g):
        return False
    start = g.s_us.to_numpy(dtype=np.int64)
    inside, opens, _ = _hours_at(cal, g.enabled_us.fillna(g.s_us).to_numpy(dtype=np.int64))
    held = ~inside & (start >= opens)
    working, _, closes = _hours_at(cal, start)
    over = working & (g.end_us.fillna(g.s_us).to_numpy(dtype=np.int64) > closes)
    return bool((held | over).mean() >= MIN_HELD)


#: Fewer waits than this on no staff ending in a step give it no wait hours: a share of a
#: handful of waits is no rule.
MIN_WAITS_HELD = 10


def _next_opening(cal: Any, t_us: np.ndarray) -> np.ndarray:
    """Of each instant of ``t_us``: the first opening of ``cal`` after it (the int64 maximum
    when none within a week of the last); a span that starts where the one before ends (a
    day's hours split at midnight) is no opening."""
    iv = cal.intervals(int(t_us.min()) - 86_400_000_000, int(t_us.max()) + 8 * 86_400_000_000)
    never = np.iinfo(np.int64).max
    starts = np.r_[iv[np.r_[True, iv[1:, 0] > iv[:-1, 1]], 0] if len(iv) else [], never].astype(np.int64)
    return starts[np.searchsorted(starts[:-1], t_us, side="right")]


def _wait_calendars(
    log: EventLog, inst: pd.DataFrame, acts: list[str], tz: str, seen: dict[str, Any]
) -> dict[str, Any]:
    """The hours in which the waits ending in each step of ``acts`` (steps that need nobody
    and have no hours of their own) end, where the log shows those hours holding the waits
    (methods §16.2): the hull (:func:`_hull`) of the starts of the instances that waited on no
    staff (extraneous or batching time), or, with fewer than :data:`MIN_ARC_CASES` such
    instances (and at least :data:`MIN_WAITS_HELD`), the hours ``seen`` for the step's starts
    (:func:`_activity_calendars`), kept when at least :data:`MIN_HELD` of those waits were held
    by their closed hours: they ran up to or past an opening after their beginning (begun while
    closed and started once open, or begun while open and running over a whole closing). A
    customer who calls again does so in the hours customers call back, whenever their first
    call was: a step's first instances, started as the case arrives at any hour, leave it with
    no hours of its own, and its waits would run in plain seconds to any hour of the night. A
    wait of seconds that begins at night is not held by the hours, and, run in them, would last
    until the morning. None on a log shorter than two weeks or with timestamps no finer than an
    hour, as for the step's own hours."""
    if not acts:
        return {}
    span_days = (float(inst.end_us.max()) - float(inst.s_us.min())) / 86_400e6
    if span_days < WEEKLY_DAYS or (log.time_resolution_s or 0) >= 3600:
        return {}
    out: dict[str, Any] = {}
    waited = (inst.extraneous_us.fillna(0) + inst.batching_us.fillna(0)) > 0
    for a in acts:
        g = inst[(inst.activity == a) & waited]
        if len(g) < MIN_WAITS_HELD:
            continue
        s = g.s_us.to_numpy(dtype=np.int64)
        cal = _hull(s, tz, f"waits:{a}") if len(g) >= MIN_ARC_CASES else seen.get(a)
        if cal is None:
            continue
        held = s >= _next_opening(cal, g.enabled_us.fillna(g.s_us).to_numpy(dtype=np.int64))
        if held.mean() >= MIN_HELD:
            out[a] = cal
    return out


def ibis_ifelse(cond: Any, a: Any, b: Any) -> Any:
    import ibis

    return ibis.ifelse(cond, a, ibis.null("string") if b is None else b)


def _working_seconds(
    inst: pd.DataFrame,
    cals: dict[str, Any],
    ends_us: np.ndarray,
    wall_s: np.ndarray,
    *,
    overtime: bool,
    by: str = "cal",
) -> np.ndarray:
    """The working time, in the calendar of each instance (column ``by``: ``cal``, the
    calendar work runs in, or ``delay_cal``, the one waiting runs in), of the spans of
    ``wall_s`` seconds that end at ``ends_us``. With ``overtime``, a span lying mostly outside
    the calendar and shorter than 12 h counts whole: work done in one sitting after hours took
    its whole span, not the little working time the calendar sees in it."""
    out = np.asarray(wall_s, dtype=float).copy()
    lo = int(inst.s_us.min()) - 8 * 86_400_000_000
    hi = int(inst.end_us.max()) + 8 * 86_400_000_000
    for name, g in inst.groupby(by, sort=True):
        c = cals.get(name)
        if name == "24x7" or c is None or c.always_open:
            continue
        iv = c.intervals(lo, hi).astype(float) / 1e6
        if not len(iv):
            continue
        a, b = iv[:, 0], iv[:, 1]
        cum = np.concatenate([[0.0], np.cumsum(b - a)])

        def work(t: np.ndarray, a: np.ndarray = a, b: np.ndarray = b, cum: np.ndarray = cum) -> np.ndarray:
            j = np.searchsorted(a, t, side="right") - 1
            jj = np.clip(j, 0, len(a) - 1)
            inside = np.clip(t - a[jj], 0, b[jj] - a[jj])
            return np.where(j < 0, 0.0, cum[jj] + inside)

        idx = g.index.to_numpy()
        e = np.asarray(ends_us, dtype=float)[idx] / 1e6
        wall = out[idx]
        w = np.maximum(work(e) - work(e - wall), 0.0)
        out[idx] = np.where((w < 0.5 * wall) & (wall < 12 * 3600), wall, w) if overtime else w
    return out


def _shares(inst: pd.DataFrame, groups: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """The activities people do (most of their instances have a person), as keys."""
    person = inst.resource.isin(list(groups))
    share = person.groupby(inst.activity).mean()
    return {str(a): True for a, v in share.items() if v >= 0.5}


def _pools(
    inst: pd.DataFrame,
    groups: dict[str, tuple[str, ...]],
    cal_of: dict[str, str],
    shift_cal_of: dict[str, str] | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, float]]]:
    """Pools: people grouped by the activities they do and their calendar; per activity the
    share of its instances each pool did. An activity most of whose instances have no person
    (nobody recorded, a system, the customer) needs nobody. People of a group split into
    shifts (``shift_cal_of``: person -> their shift's calendar) stay in their group's pool,
    one queue, with their shift's calendar as ``member_calendars`` (methods §16.1)."""
    if not groups:
        return {}, {}
    shift_cal_of = shift_cal_of or {}
    members: dict[tuple[Any, ...], list[str]] = {}
    for r, acts in sorted(groups.items()):
        members.setdefault((acts, cal_of.get(r, "24x7")), []).append(r)
    pools: dict[str, dict[str, Any]] = {}
    pool_of: dict[str, str] = {}
    ordered = sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[1][0]))
    for i, ((acts, cal), people) in enumerate(ordered):
        label = acts[0] if len(acts) == 1 else f"{acts[0]} +{len(acts) - 1}"
        name = f"P{i + 1:02d} {label}"[:80]
        done = inst.resource.isin(people)
        count = inst.resource[done].value_counts()
        total = float(count.sum())
        # a bootstrap resample can hold no instance of the pool's people (methods §17.3): the
        # pool is kept (its people are the log's) with equal shares, the evidence it has being
        # none; no step is routed to it in that refit, as no instance of it is there
        pools[name] = {
            "members": sorted(people),
            "calendar": cal,
            "shares": {
                r: round(float(count.get(r, 0)) / total if total > 0 else 1.0 / len(people), 6)
                for r in sorted(people)
            },
            "activities": list(acts),
        }
        own = {r: shift_cal_of[r] for r in sorted(people) if shift_cal_of.get(r, cal) != cal}
        if own:
            pools[name]["member_calendars"] = own
        for r in people:
            pool_of[r] = name
    shares: dict[str, dict[str, float]] = {}
    for act, g in inst.assign(pool=inst.resource.map(pool_of)).groupby("activity", sort=True):
        have = g.pool.dropna()
        if len(have) < 0.5 * len(g):
            continue
        shares[str(act)] = _share_of(have.value_counts().sort_index())
    return pools, shares


def _share_of(counts: pd.Series) -> dict[str, float]:
    """Counts per pool as shares that sum to 1 exactly (the last one takes the rounding).

    >>> _share_of(pd.Series({"A": 1, "B": 2}))
    {'A': 0.333333333, 'B': 0.666666667}
    """
    total = float(counts.sum())
    s = {str(p): round(float(v) / total, 9) for p, v in counts.items()}
    last = list(s)[-1]
    s[last] = round(1 - sum(v for p, v in s.items() if p != last), 12)
    return s


#: A step's pools after one step are its own when a pool that never does it there would have
#: done at least this many of its instances there, drawn by the step's shares: by chance, none
#: with probability about e^-10 (4.5e-5), so over a log's steps, contexts and pools (a few
#: thousand pairs in the shared logs) a context is kept by chance in well under one fit in ten.
MIN_AFTER_MISSING = 10.0


def _pools_after(
    inst: pd.DataFrame, pools: dict[str, dict[str, Any]], shares: dict[str, dict[str, float]]
) -> dict[str, dict[str, dict[str, float]]]:
    """Per step of ``shares`` (the steps of the pools that serve the abandonment points), the
    pools' shares of its instances after a step (``prev``) when some of its pools never do it
    there (methods §16.2, "Pools after a step"): a call centre's first-line
    agents answer the queued calls and its specialists the transferred ones, so a queued call
    drawn by the step's shares would wait for a specialist. Only contexts where a missing
    pool would have done at least :data:`MIN_AFTER_MISSING` instances.

    >>> inst = pd.DataFrame({"activity": ["Answer"] * 60, "prev": ["Queue"] * 40 + ["Transfer"] * 20,
    ...                      "resource": ["ann"] * 40 + ["sam"] * 20})
    >>> pools = {"A": {"members": ["ann"]}, "S": {"members": ["sam"]}}
    >>> _pools_after(inst, pools, {"Answer": {"A": 2 / 3, "S": 1 / 3}})
    {'Answer': {'Queue': {'A': 1}, 'Transfer': {'S': 1}}}
    """
    pool_of = {r: name for name, p in pools.items() for r in p["members"]}
    staffed = inst[inst.activity.isin([a for a, s in shares.items() if len(s) > 1])]
    staffed = staffed.assign(pool=staffed.resource.map(pool_of)).dropna(subset=["pool"])
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (act, prev), g in staffed.groupby(["activity", "prev"], sort=True):
        seen = g.pool.value_counts().sort_index()
        missing = max((v for p, v in shares[str(act)].items() if p not in seen.index), default=0.0)
        if missing * len(g) < MIN_AFTER_MISSING:
            continue
        out.setdefault(str(act), {})[str(prev)] = _share_of(seen)
    return out


__all__ = ["MIN_CASES", "fit_model", "ngram_distance"]
