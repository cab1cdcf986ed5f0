"""Batch-induced delay: cases held back so that a step can be done for many at once.

This is the batching part of the waiting-cause analysis (:mod:`flowlens.analysis.waiting`,
docs/methods.md 7): batches are found as there (:func:`flowlens.analysis.batch_detection.detect_batches`
on the same calendars, with the same defaults), and a batch member's customer waiting is
batching (Kronos). The batches are computed directly rather than through the full cause split,
which gives the same batching time at a fraction of the cost. Refinements (docs/methods.md
13.5):

* only **work the organisation does and the customer waits for** is judged: staff work before
  the customer's clock stops that is not the case's outcome
  (:meth:`~flowlens.analysis.step_roles.StepRoles.changeable`), or a system step (not the
  outcome, not after it) that runs on a **schedule**: at least ``min_schedule_share`` (80 %) of
  its batches start in the same two 15-minute slots of the day (a chargeback file sent at
  16:00). A customer's own submissions or payments, a system's status records and time-outs,
  the case's outcome and closing steps after the customer's clock stopped cluster in time for
  reasons no firing rule of the organisation controls;
* a batch must be **told apart from coincidence**: a batch all of whose members' recorded times
  are at midnight (dates without a time of day, bulk loads at 00:00) is left out (a log whose
  time resolution is an hour or coarser has no batches at all: :mod:`flowlens.analysis.batch_detection`);
* a batch that starts within ``shift_start_min`` (30 min) of the start of its resource's
  working period (the morning, after lunch) is the backlog of the night or the break being
  worked off, which is unavailability, not a firing rule: its members are not counted;
* a member is **held by the batch at most since its resource last ran it** (the previous batch
  of the same step by the same resource): a case already waiting then, and left out of that
  batch, was held by something else (the customer, a deadline).

An activity is reported when at least ``min_batches`` (5) such batches hold at least
``min_share`` (25 %) of its instances and ``min_cases`` (20) cases. Customer time per case =
the customer waiting of its batched instances of the activity, within the limit above (what
processing on arrival would save, an upper bound: some queueing would remain); staff time 0
(batching costs no work). The lever is the firing rule ("unbatch": process on arrival or fire
more often). An allow-listed step (AML review) is reported as regulatory with the same lever: it
is made faster, never removed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.findings.model import Finding, Scenario, per_case_seconds, top_values
from flowlens.findings.rank import bootstrap_total_ci
from flowlens.i18n import M_
from flowlens.units import count_value, duration_value, percent_value

if TYPE_CHECKING:
    from flowlens.findings.context import FindingContext

name = "batch_delay"

MIN_US = 60_000_000


def _batches(ctx: FindingContext) -> tuple[pd.DataFrame, pd.DataFrame, Any, dict[str, str], str]:
    """Members (eid, case_id, activity, resource, wait_us, batch_id, date_only), batches, the
    clock, the resource -> calendar map and the default calendar name: those of the waiting
    analysis, so that a batch here is a batch there. ``date_only``: all the member's recorded
    times (start when recorded, end) are at midnight in the log's time zone."""
    wa = ctx.waiting
    inst = ctx.tm.instances
    assert wa.batch_members is not None
    m = wa.batch_members.select(b_eid="eid", batch_id="batch_id")
    j = inst.join(m, inst.eid == m.b_eid).filter(lambda t: t.enabled_us.notnull())
    members = j.select(
        "eid", "case_id", "activity", "resource", "wait_us", "batch_id", "start_us", "end_us",
        "start_estimated",
    ).to_pandas()  # fmt: skip
    members = members.sort_values("eid", kind="stable").reset_index(drop=True)
    tz = ctx.log.timezone or "UTC"
    end = _midnight(members.end_us, tz)
    start = _midnight(members.start_us.fillna(members.end_us), tz)
    members["date_only"] = end & (start | members.start_estimated.astype(bool))
    members = members.drop(columns=["start_us", "end_us", "start_estimated"])
    return members, wa.batches, wa.clock, wa.resource_calendars, wa.calendars.default.name


def _midnight(us: pd.Series, tz: str) -> pd.Series:
    """Whether each time (microseconds since the epoch) is exactly midnight in ``tz``."""
    local = pd.to_datetime(us.astype("int64"), unit="us", utc=True).dt.tz_convert(tz)
    return pd.Series(
        (local.dt.hour == 0) & (local.dt.minute == 0) & (local.dt.second == 0) & (local.dt.microsecond == 0),
        index=us.index,
    )


def _slot(first_start_us: pd.Series, tz: str) -> pd.Series:
    """Minute of the day (log's zone) of the 15-minute slot each batch starts in."""
    local = pd.to_datetime(first_start_us.astype("int64"), unit="us", utc=True).dt.tz_convert(tz)
    return (local.dt.hour * 60 + (local.dt.minute // 15) * 15).astype(int)


def _slot_shares(slots: pd.Series) -> list[tuple[int, float]]:
    """Slots by their share of batches, the commonest first (ties by time of day)."""
    shares = slots.value_counts(normalize=True)
    return sorted(((int(k), float(v)) for k, v in shares.items()), key=lambda kv: (-kv[1], kv[0]))


def _eligible(roles: Any, activity: str, slots: pd.Series, min_schedule_share: float) -> str | None:
    """Why a batch of ``activity`` can be the organisation's firing rule, or None: staff work
    before the clock stop, or a system step on a schedule (module docstring)."""
    if roles.changeable(activity):
        return "staff work"
    if (
        roles.performer(activity) == "system"
        and activity not in roles.outcomes
        and activity not in roles.after_outcome
        and math.fsum(v for _, v in _slot_shares(slots)[:2]) >= min_schedule_share
    ):
        return "scheduled system job"
    return None


def _held_since(batches: pd.DataFrame) -> pd.Series:
    """Per batch: the start of the previous batch of the same activity by the same resource
    (NaN for the first): a member cannot have been held by this batch for longer."""
    b = batches.sort_values(["activity", "resource", "first_start_us", "batch_id"], kind="stable")
    prev = b.groupby(["activity", "resource"], sort=False).first_start_us.shift(1)
    return prev.reindex(batches.index)


def _shift_start(
    batches: pd.DataFrame, clock: Any, res_cal: dict[str, str], default: str, within_us: int
) -> pd.Series:
    """Per batch: does it start within ``within_us`` of the start of a working period of its
    resource's calendar?"""
    out = pd.Series(False, index=batches.index)
    if clock is None:
        return out
    cal = batches.resource.map(lambda r: res_cal.get(r, default))
    for name_, idx in cal.groupby(cal).groups.items():
        if name_ not in clock.calendars:
            continue
        a, bnd = clock.intervals_of(name_)
        if not len(a):
            continue
        t = batches.loc[idx, "first_start_us"].to_numpy(dtype="int64")
        k = np.searchsorted(a, t, side="right") - 1
        ok = k >= 0
        kk = np.where(ok, k, 0)
        hit = ok & (t - a[kk] < within_us) & (t < bnd[kk])
        out.loc[idx] = hit
    return out


def detect_batch_delay(
    ctx: FindingContext,
    *,
    min_batches: int = 5,
    min_share: float = 0.25,
    min_cases: int = 20,
    shift_start_min: float = 30.0,
    min_schedule_share: float = 0.8,
) -> list[Finding]:
    """Batch-induced delay per activity (module docstring)."""
    # (a log recorded to the hour or coarser has no batches at all: analysis.batch_detection)
    members, batches, clock, res_cal, default = _batches(ctx)
    if members.empty or batches.empty:
        return []
    roles = ctx.step_roles
    batches = batches.copy()
    batches["activity"] = batches.activity.astype(str)
    batches["held_since_us"] = _held_since(batches)
    members["case_id"] = members.case_id.astype(str)
    members["activity"] = members.activity.astype(str)
    # a batch whose members have dates without a time of day cannot be told from coincidence
    coarse = members.groupby("batch_id").date_only.all()
    batches["coarse_time"] = batches.batch_id.map(coarse).fillna(False).astype(bool)
    batches["shift_start"] = _shift_start(batches, clock, res_cal, default, int(shift_start_min * MIN_US))
    tz = ctx.log.timezone or "UTC"
    batches["slot"] = _slot(batches.first_start_us, tz)
    kept = batches[~batches.shift_start & ~batches.coarse_time]
    eligible = {
        a: why
        for a, b in kept.groupby("activity", sort=True)
        if (why := _eligible(roles, str(a), b.slot, min_schedule_share)) is not None
    }
    kept = kept[kept.activity.isin(list(eligible))]
    members = members[members.batch_id.isin(kept.batch_id) & (members.wait_us > 0)].copy()
    if members.empty:
        return []
    start = kept.set_index("batch_id").first_start_us.astype("int64")
    since = kept.set_index("batch_id").held_since_us
    limit = members.batch_id.map(start) - members.batch_id.map(since)
    members["held_us"] = np.minimum(members.wait_us.astype(float), limit.fillna(np.inf).astype(float))
    i = ctx.tm.instances
    counts = i.group_by("activity").aggregate(n=i.count()).to_pandas()
    n_of = dict(zip(counts.activity.astype(str), counts.n.astype(int), strict=True))
    findings: list[Finding] = []
    for a, d in members.groupby("activity", sort=True):
        bt = kept[kept.activity == a].sort_values("first_start_us", kind="stable")
        allb = batches[batches.activity == a]
        share = len(d) / max(1, n_of.get(a, len(d)))
        per = per_case_seconds(d.case_id, d.held_us / 1e6)
        if len(bt) < min_batches or share < min_share or len(per) < min_cases:
            continue
        vals = np.fromiter(per.values(), dtype=float, count=len(per))
        lo, hi = bootstrap_total_ci(vals, seed=ctx.seed, resamples=ctx.resamples, key=f"batch|{a}")
        ranked = _slot_shares(bt.slot)
        firing = [f"{int(m) // 60:02d}:{int(m) % 60:02d}" for m, _ in ranked[:3]]
        fixed = math.fsum(v for _, v in ranked[:2])
        reason = ctx.allow.match(a)
        resources = tuple(top_values(bt.resource, 3))
        mean_wait = math.fsum(vals) / len(vals)
        findings.append(
            Finding(
                kind="batch_delay",
                title=M_("'{activity}' is done in batches: cases wait for the next batch", activity=a),
                activities=(a,),
                resources=resources,
                case_ids=tuple(per),
                occurrences=len(d),
                customer_time_s=math.fsum(vals),
                customer_time_ci=(lo, hi),
                staff_time_s=0.0,
                evidence=M_(
                    "{held} of {instances} instances of '{activity}' ({share}) were held for {batches} batches "
                    "(mean size {size}, most starting at {times}); the customer waited {each} per case on "
                    "average for the batch (at most since the resource's previous batch of it).",
                    held=count_value(len(d)),
                    instances=count_value(n_of.get(a, len(d))),
                    activity=a,
                    share=percent_value(share, f"{100 * share:.0f} %", 0),
                    batches=count_value(len(bt)),
                    size=format(bt["size"].mean(), ".1f"),
                    times=", ".join(firing[:2]),
                    each=duration_value(mean_wait, f"{mean_wait / 3600:,.1f} h"),
                ),
                scenario=Scenario(
                    "unbatch",
                    {"activity": a, "resources": list(resources), "firing_times": firing},
                    M_("process '{activity}' as cases arrive, or fire the batch more often", activity=a),
                ),
                regulatory=reason is not None,
                allow_reason=reason,
                per_case_s=per,
                details={
                    "batches": len(bt),
                    "batches_at_shift_start_excluded": int(allb.shift_start.sum()),
                    "batches_date_only_excluded": int(allb.coarse_time.sum()),
                    "batched_share": share,
                    "mean_batch_size": float(bt["size"].mean()),
                    "kinds": {
                        str(k): int((bt.kind == k).sum()) for k in sorted(bt.kind.astype(str).unique())
                    },
                    "firing_times": firing,
                    "share_at_two_firing_times": fixed,
                    "waiting_before_previous_batch_s": float(
                        (d.wait_us.astype(float) - d.held_us).clip(lower=0).sum() / 1e6
                    ),
                    "performer": roles.performer(a),
                    "judged_as": eligible[a],
                    "timezone": tz,
                    **(
                        {"lever": "required step: make it faster (change the firing rule), never remove"}
                        if reason
                        else {}
                    ),
                },
                detector=name,
            )
        )
    return findings


detect_batch_delay.name = name  # type: ignore[attr-defined]
