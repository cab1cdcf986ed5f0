"""Batch-induced delay: cases held back so that a step can be done for many at once.

This is the batching part of the waiting-cause analysis (:mod:`flowlens.analysis.waiting`,
docs/methods.md 7): batches are found as there (:func:`flowlens.analysis.batches.detect_batches`
on the same calendars, with the same defaults), and a batch member's whole wait is batching
(Kronos). The batches are computed directly rather than through the full cause split, which
gives the same batching time at a fraction of the cost. One refinement (docs/methods.md 13.5):

* a batch that starts within ``shift_start_min`` (30 min) of the start of its resource's
  working period (the morning, after lunch) is the backlog of the night or the break being
  worked off, which is unavailability, not a firing rule: its members are not counted.

An activity is reported when at least ``min_batches`` (5) such batches hold at least
``min_share`` (25 %) of its instances and ``min_cases`` (20) cases. Customer time per case =
the waiting of its batched instances of the activity (what processing on arrival would save,
an upper bound: some queueing would remain); staff time 0 (batching costs no work). The lever
is the firing rule ("unbatch": process on arrival or fire more often). An allow-listed step
(AML review) is reported as regulatory with the same lever: it is made faster, never removed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.findings.model import Finding, Scenario
from flowlens.findings.rank import bootstrap_total_ci

if TYPE_CHECKING:
    from flowlens.findings.context import FindingContext

name = "batch_delay"

MIN_US = 60_000_000


def _batches(ctx: FindingContext) -> tuple[pd.DataFrame, pd.DataFrame, Any, dict[str, str], str]:
    """Members (eid, case_id, activity, resource, wait_us, batch_id), batches, the clock, the
    resource -> calendar map and the default calendar name: those of the waiting analysis, so
    that a batch here is a batch there."""
    wa = ctx.waiting
    inst = ctx.tm.instances
    assert wa.batch_members is not None
    m = wa.batch_members.select(b_eid="eid", batch_id="batch_id")
    j = inst.join(m, inst.eid == m.b_eid).filter(lambda t: (t.wait_us > 0) & t.enabled_us.notnull())
    members = j.select("eid", "case_id", "activity", "resource", "wait_us", "batch_id").to_pandas()
    return members, wa.batches, wa.clock, wa.resource_calendars, wa.calendars.default.name


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
) -> list[Finding]:
    """Batch-induced delay per activity (module docstring)."""
    members, batches, clock, res_cal, default = _batches(ctx)
    if members.empty or batches.empty:
        return []
    batches = batches.copy()
    batches["shift_start"] = _shift_start(batches, clock, res_cal, default, int(shift_start_min * MIN_US))
    kept = batches[~batches.shift_start]
    members = members[members.batch_id.isin(kept.batch_id)].copy()
    members["case_id"] = members.case_id.astype(str)
    members["activity"] = members.activity.astype(str)
    i = ctx.tm.instances
    counts = i.group_by("activity").aggregate(n=i.count()).to_pandas()
    n_of = dict(zip(counts.activity.astype(str), counts.n.astype(int), strict=True))
    tz = ctx.log.timezone or "UTC"
    findings: list[Finding] = []
    for a, d in members.groupby("activity", sort=True):
        bt = kept[kept.activity.astype(str) == a]
        allb = batches[batches.activity.astype(str) == a]
        share = len(d) / max(1, n_of.get(a, len(d)))
        per = (d.wait_us / 1e6).groupby(d.case_id, sort=False).sum()
        if len(bt) < min_batches or share < min_share or len(per) < min_cases:
            continue
        vals = per.to_numpy(dtype=float)
        lo, hi = bootstrap_total_ci(vals, seed=ctx.seed, resamples=ctx.resamples, key=f"batch|{a}")
        local = pd.to_datetime(bt.first_start_us, unit="us", utc=True).dt.tz_convert(tz)
        slots = (local.dt.hour * 60 + (local.dt.minute // 15) * 15).value_counts(normalize=True)
        firing = [f"{int(m) // 60:02d}:{int(m) % 60:02d}" for m in slots.index[:3]]
        fixed = float(slots.iloc[:2].sum())
        reason = ctx.allow.match(a)
        resources = tuple(str(x) for x in bt.resource.astype(str).value_counts().index[:3])
        mean_wait = float(vals.mean())
        findings.append(
            Finding(
                kind="batch_delay",
                title=f"'{a}' is done in batches: cases wait for the next batch",
                activities=(a,),
                resources=resources,
                case_ids=tuple(per.index.astype(str)),
                occurrences=len(d),
                customer_time_s=float(vals.sum()),
                customer_time_ci=(lo, hi),
                staff_time_s=0.0,
                evidence=(
                    f"{len(d):,} of {n_of.get(a, len(d)):,} instances of '{a}' ({100 * share:.0f} %) were held "
                    f"for {len(bt):,} batches (mean size {bt['size'].mean():.1f}, most starting at "
                    f"{', '.join(firing[:2])}), waiting {mean_wait / 3600:,.1f} h on average per case."
                ),
                scenario=Scenario(
                    "unbatch",
                    {"activity": a, "resources": list(resources), "firing_times": firing},
                    f"process '{a}' as cases arrive, or fire the batch more often",
                ),
                regulatory=reason is not None,
                allow_reason=reason,
                per_case_s={str(c): float(v) for c, v in per.items()},
                details={
                    "batches": len(bt),
                    "batches_at_shift_start_excluded": int(len(allb) - len(bt)),
                    "batched_share": share,
                    "mean_batch_size": float(bt["size"].mean()),
                    "kinds": {str(k): int(v) for k, v in bt.kind.value_counts().items()},
                    "firing_times": firing,
                    "share_at_two_firing_times": fixed,
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
