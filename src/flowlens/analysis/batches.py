"""Batch detection: instances a resource processed together after letting them accumulate.

After Martin et al. (SIMPDA 2015) as implemented in pix-framework, with one refinement
(docs/methods.md 7.2). Instances of the same resource and activity, in start order, form a
*run* while each starts no later than the previous ones end (plus ``gap_s``). The run's
*members* are the instances already enabled when the run began. A run of two or more members
is a batch when its members were processed together (*parallel*: identical starts and ends;
*concurrent*: overlapping) or when, processed one after another (*sequential*), the resource
had let them accumulate: it was idle on shift for at least ``min_idle_s`` (30 min) between the later of
its previous work and the first member's enablement, and the run's start. The refinement keeps
a queue that a busy resource works through back to back, which looks the same in a log, from
being called a batch.

>>> import flowlens, pandas as pd
>>> from flowlens.timing.model import time_model
>>> rows = [(f"c{k}", "a", "sys", f"2024-01-01 {8 + k}:00", f"2024-01-01 {8 + k}:00") for k in range(3)]
>>> rows += [(f"c{k}", "b", "r", "2024-01-01 16:00", "2024-01-01 16:05") for k in range(3)]
>>> log = flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"]))
>>> b = detect_batches(time_model(log))
>>> b.batches[["activity", "size", "kind"]].values.tolist()
[['b', 3, 'parallel']]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import ibis

    from flowlens.timing.model import TimeModel

BATCH_COLUMNS = [
    "batch_id",
    "resource",
    "activity",
    "size",
    "kind",
    "first_start_us",
    "last_end_us",
    "enabled_us",
    "idle_before_us",
]


@dataclass
class BatchResult:
    #: one row per instance in a batch: eid, batch_id, batch_first_start, batch_enabled, size
    members: ibis.Table
    #: one row per batch (see BATCH_COLUMNS)
    batches: pd.DataFrame


def detect_batches(
    tm: TimeModel,
    *,
    gap_s: float = 0.0,
    min_idle_s: float = 1800.0,
    working_us: Callable[[str, int, int], int] | None = None,
) -> BatchResult:
    """Find batches among the time model's instances.

    ``working_us(resource, a, b)`` gives the resource's working time in [a, b) (default: all
    of it, i.e. always on shift).
    """
    import ibis

    inst = tm.instances
    x = inst.filter(inst.resource.notnull() & inst.start_us.notnull() & inst.enabled_us.notnull()).select(
        "eid", "resource", "activity", "start_us", "end_us", "enabled_us"
    )
    order = [x.start_us, x.end_us, x.eid]
    prev_end = x.end_us.max().over(
        ibis.window(group_by=[x.resource, x.activity], order_by=order, rows=(None, -1))
    )
    x = x.mutate(
        fl_brk=(prev_end.isnull() | (x.start_us > prev_end + int(gap_s * 1e6))).cast("int64"),
        fl_ovl=(x.start_us < prev_end).fill_null(False).cast("int64"),
        # the resource's latest end of work (any activity) before this instance started
        r_prev_end=x.end_us.max().over(ibis.window(group_by=x.resource, order_by=order, rows=(None, -1))),
    )
    order = [x.start_us, x.end_us, x.eid]
    x = x.mutate(
        run=x.fl_brk.sum().over(
            ibis.window(group_by=[x.resource, x.activity], order_by=order, rows=(None, 0))
        )
    )
    runs = x.group_by(["resource", "activity", "run"]).aggregate(run_start=x.start_us.min())
    y = x.join(runs, ["resource", "activity", "run"])
    m = y.filter((y.enabled_us <= y.run_start).fill_null(False))
    cand = (
        m.group_by(["resource", "activity", "run"])
        .aggregate(
            size=m.count(),
            first_start_us=m.start_us.min(),
            last_start_us=m.start_us.max(),
            first_end_us=m.end_us.min(),
            last_end_us=m.end_us.max(),
            enabled_us=m.enabled_us.max(),
            first_enabled_us=m.enabled_us.min(),
            prev_work_end=m.r_prev_end.argmin(m.start_us),
            overlaps=m.fl_ovl.sum(),
        )
        .filter(lambda a: a["size"] >= 2)
        .to_pandas()
    )
    if cand.empty:
        members = m.filter(ibis.literal(False)).select(
            "eid", batch_id=m.run, batch_first_start=m.start_us, batch_enabled=m.enabled_us, size=m.run
        )
        return BatchResult(members=members, batches=pd.DataFrame(columns=BATCH_COLUMNS))
    parallel = (cand.first_start_us == cand.last_start_us) & (cand.first_end_us == cand.last_end_us)
    cand["kind"] = "sequential"
    cand.loc[~parallel & (cand.overlaps > 0), "kind"] = "concurrent"
    cand.loc[parallel, "kind"] = "parallel"
    idle_from = cand.prev_work_end.where(cand.prev_work_end > cand.first_enabled_us, cand.first_enabled_us)
    work = working_us or (lambda _r, a, b: b - a)
    cand["idle_before_us"] = [
        work(str(r), int(a), int(b)) if b > a else 0
        for r, a, b in zip(
            cand.resource, idle_from.fillna(cand.first_enabled_us), cand.first_start_us, strict=True
        )
    ]
    # A batch makes someone wait: members all enabled at the run's start are just simultaneous.
    waited = cand.first_enabled_us < cand.first_start_us
    real = waited & ((cand.kind != "sequential") | (cand.idle_before_us >= min_idle_s * 1e6))
    batches = cand[real].sort_values(["resource", "activity", "first_start_us"]).reset_index(drop=True)
    batches.insert(0, "batch_id", range(len(batches)))
    keys = ibis.memtable(
        batches[["batch_id", "resource", "activity", "run", "first_start_us", "enabled_us", "size"]].rename(
            columns={
                "resource": "b_res",
                "activity": "b_act",
                "run": "b_run",
                "first_start_us": "batch_first_start",
                "enabled_us": "batch_enabled",
                "size": "b_size",
            }
        )
    )
    mm = m.join(keys, [m.resource == keys.b_res, m.activity == keys.b_act, m.run == keys.b_run])
    members = mm.select("eid", "batch_id", "batch_first_start", "batch_enabled", size=mm.b_size)
    return BatchResult(members=members, batches=batches[BATCH_COLUMNS])
