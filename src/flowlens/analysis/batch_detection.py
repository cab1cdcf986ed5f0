"""Batch detection: instances a resource processed together after letting them accumulate.

After Martin et al. (SIMPDA 2015) as implemented in pix-framework, with refinements
(docs/methods.md 7.2). A resource's *busy periods* are its stretches of back-to-back work (each
instance starts no later than the latest end so far, plus ``gap_s``), whatever the activity. In
a busy period, the instances of one activity form a *run* that starts with the first of them;
its *members* are the instances already enabled then. A run is a batch when its members
*accumulated*: they were enabled at different times (members enabled at one instant and
processed together are simultaneous, not batched), and either they were processed together
(*parallel*: identical starts and ends; *concurrent*: overlapping) or, processed one after
another (*sequential*), the resource had let them wait: it was idle on shift for at least
``min_idle_s`` (30 min) in all while the first member waited. The last rule keeps a queue that a
busy resource works through back to back, which looks the same in a log, from being called a
batch; busy periods keep other work done in between (an urgent alert) from splitting a batch.

Resources that are not one person at a time (the customer, a system serving many cases) have
no batches: :func:`shared_resources` finds them. Batches need **recorded start times** and a
clock fine enough to order work within a day: members are instances with a recorded start
(estimated starts of a completion-only log are built from the enabled time and the resource's
previous end, so they cannot show that a resource let work accumulate), and a log whose times
are recorded to the hour or coarser (``log.time_resolution_s``) has none.

>>> import flowlens, pandas as pd
>>> from flowlens.timing.model import time_model
>>> rows = [(f"c{k}", "a", "sys", f"2024-01-01 {8 + k}:1{k}", f"2024-01-01 {8 + k}:1{k}") for k in range(3)]
>>> rows += [(f"c{k}", "b", "r", "2024-01-01 16:03", "2024-01-01 16:07") for k in range(3)]
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

#: times recorded this coarsely (to the hour or the day) cannot order work within a day
COARSEST_CLOCK_S = 3600.0

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


def shared_resources(tm: TimeModel, *, min_share: float = 0.01) -> set[str]:
    """Resources that work on several instances at once: not one person, but e.g. the
    customer, a merchant pool or a system serving many cases.

    A resource is shared when the share of its instances (with a duration) that start while
    another of its instances, started earlier, is in progress is at least half its busy share
    (the busy union over its active span: what instances arriving independently at a
    non-exclusive server would see) and at least ``min_share``. A person finishes one thing
    before starting the next, except for a parallel batch (members started together, which does
    not count). Being busy does not make a shared resource's cases wait, so it takes no part in
    contention, prioritisation or batching.
    """
    import ibis

    inst = tm.instances
    x = inst.filter(inst.resource.notnull() & inst.start_us.notnull() & (inst.end_us > inst.start_us))
    # Instances starting at the same moment form one group (a parallel batch is not overlap).
    g = x.group_by(["resource", "start_us"]).aggregate(g_end=x.end_us.max(), g_n=x.count())
    prev = g.g_end.max().over(ibis.window(group_by=g.resource, order_by=g.start_us, rows=(None, -1)))
    g = g.mutate(
        fl_ov=ibis.ifelse(g.start_us < prev.fill_null(g.start_us), g.g_n, 0),
        fl_cover=ibis.greatest(g.g_end - ibis.greatest(g.start_us, prev.fill_null(g.start_us)), 0),
    )
    agg = (
        g.group_by("resource")
        .aggregate(
            n=g.g_n.sum(),
            ov=g.fl_ov.sum(),
            cover=g.fl_cover.sum(),
            span=g.g_end.max() - g.start_us.min(),
        )
        .to_pandas()
    )
    if agg.empty:
        return set()
    share = agg.ov / agg.n
    busy = (agg.cover / agg.span.where(agg.span > 0)).fillna(1.0)
    return set(agg.resource[(agg.ov > 0) & (share >= min_share) & (share >= 0.5 * busy)].astype(str))


def detect_batches(
    tm: TimeModel,
    *,
    gap_s: float = 0.0,
    min_idle_s: float = 1800.0,
    working_us: Callable[[str, int, int], int] | None = None,
    shared: set[str] | None = None,
    other_work: ibis.Table | None = None,
) -> BatchResult:
    """Find batches among the time model's instances.

    ``working_us(resource, a, b)`` gives the resource's working time in [a, b) (default: all
    of it, i.e. always on shift). ``shared`` resources (default: :func:`shared_resources`)
    have no batches. ``other_work`` (:func:`flowlens.analysis.other_work.other_work_table`) is
    the resources' work outside the log: it keeps them busy (busy periods, idle time) but forms
    no batch.
    """
    import ibis

    inst = tm.instances
    if shared is None:
        shared = shared_resources(tm)
    base = inst.filter(inst.resource.notnull() & inst.start_us.notnull())
    if tm.log.time_resolution_s >= COARSEST_CLOCK_S:
        base = base.filter(ibis.literal(False))
    if shared:
        base = base.filter(~base.resource.isin(sorted(shared)))
    base = base.select(
        "eid",
        "resource",
        "activity",
        "start_us",
        "end_us",
        # an estimated start is no evidence of when work began: busy time, never a member
        enabled_us=ibis.ifelse(base.start_estimated, ibis.null("int64"), base.enabled_us),
    )
    if other_work is not None:
        # no enabled time: never a run member (runs take enabled instances only)
        o = other_work.select(
            eid=other_work.o_eid,
            resource=other_work.resource,
            activity=ibis.null("string"),
            start_us=other_work.start_us,
            end_us=other_work.end_us,
            enabled_us=ibis.null("int64"),
        )
        base = base.cast(o.schema()).union(o)
    # The busy periods by two ordered passes per resource over integer columns only (the
    # resource's rank among the resources, times, eid), joined back by eid: DuckDB's window
    # operator sorts every column it carries, and text keys and columns cost several times more.
    codes = base.select("resource").distinct()
    codes = codes.select(c_res="resource", rcode=ibis.row_number().over(ibis.window(order_by=codes.resource)))
    k = base.join(codes, base.resource == codes.c_res).select("eid", "rcode", "start_us", "end_us")
    order = [k.start_us, k.end_us, k.eid]
    prev_end = k.end_us.max().over(ibis.window(group_by=k.rcode, order_by=order, rows=(None, -1)))
    k = k.mutate(fl_brk=(prev_end.isnull() | (k.start_us > prev_end + int(gap_s * 1e6))).cast("int64"))
    order = [k.start_us, k.end_us, k.eid]
    k = k.select(
        k_eid="eid", bp=k.fl_brk.sum().over(ibis.window(group_by=k.rcode, order_by=order, rows=(None, 0)))
    )
    base = base.join(k, base.eid == k.k_eid).drop("k_eid")
    # Computed once: the candidates, the idle time and the members all read the busy periods
    # (two windows over every instance of the resources; left as expressions they were
    # recomputed by each).
    eng = tm.log.engine
    base = eng.materialize(base, prefix="fl_batch_base")
    x = base.filter(base.enabled_us.notnull())
    runs = x.group_by(["resource", "activity", "bp"]).aggregate(run_start=x.start_us.min())
    y = x.join(runs, ["resource", "activity", "bp"])
    m = y.filter(y.enabled_us <= y.run_start)
    m_prev = m.end_us.max().over(
        ibis.window(
            group_by=[m.resource, m.activity, m.bp], order_by=[m.start_us, m.end_us, m.eid], rows=(None, -1)
        )
    )
    m = eng.materialize(
        m.mutate(fl_ovl=(m.start_us < m_prev).fill_null(False).cast("int64")), prefix="fl_batch_m"
    )
    cand = (
        m.group_by(["resource", "activity", "bp"])
        .aggregate(
            size=m.count(),
            first_start_us=m.start_us.min(),
            last_start_us=m.start_us.max(),
            first_end_us=m.end_us.min(),
            last_end_us=m.end_us.max(),
            enabled_us=m.enabled_us.max(),
            first_enabled_us=m.enabled_us.min(),
            overlaps=m.fl_ovl.sum(),
        )
        # accumulated: enabled at different times (hence someone waited)
        .filter(lambda a: (a["size"] >= 2) & (a.first_enabled_us < a.enabled_us))
        .to_pandas()
    )
    if cand.empty:
        members = m.filter(ibis.literal(False)).select(
            "eid", batch_id=m.bp, batch_first_start=m.start_us, batch_enabled=m.enabled_us, size=m.bp
        )
        return BatchResult(members=members, batches=pd.DataFrame(columns=BATCH_COLUMNS))
    parallel = (cand.first_start_us == cand.last_start_us) & (cand.first_end_us == cand.last_end_us)
    cand["kind"] = "sequential"
    cand.loc[~parallel & (cand.overlaps > 0), "kind"] = "concurrent"
    cand.loc[parallel, "kind"] = "parallel"
    # Idle on shift while the first member waited: working time minus the resource's work.
    cand["idle_before_us"] = 0
    seq = cand[cand.kind == "sequential"]
    if len(seq):
        win = ibis.memtable(
            seq[["resource", "first_enabled_us", "first_start_us"]].rename(
                columns={"resource": "w_res", "first_enabled_us": "w_a", "first_start_us": "w_b"}
            )
        ).distinct()
        j = win.join(base, [win.w_res == base.resource, base.start_us < win.w_b, base.end_us > win.w_a])
        busy = (
            j.group_by(["w_res", "w_a", "w_b"])
            .aggregate(busy=(ibis.least(j.end_us, j.w_b) - ibis.greatest(j.start_us, j.w_a)).sum())
            .to_pandas()
        )
        busy_of = {(r, int(a), int(b)): int(v) for r, a, b, v in busy.itertuples(index=False)}
        work = working_us or (lambda _r, a, b: b - a)
        cand.loc[seq.index, "idle_before_us"] = [
            max(0, work(str(r), int(a), int(b)) - busy_of.get((r, int(a), int(b)), 0))
            for r, a, b in zip(seq.resource, seq.first_enabled_us, seq.first_start_us, strict=True)
        ]
    real = (cand.kind != "sequential") | (cand.idle_before_us >= min_idle_s * 1e6)
    batches = cand[real].sort_values(["resource", "activity", "first_start_us"]).reset_index(drop=True)
    batches.insert(0, "batch_id", range(len(batches)))
    keys = ibis.memtable(
        batches[["batch_id", "resource", "activity", "bp", "first_start_us", "enabled_us", "size"]].rename(
            columns={
                "resource": "b_res",
                "activity": "b_act",
                "bp": "b_bp",
                "first_start_us": "batch_first_start",
                "enabled_us": "batch_enabled",
                "size": "b_size",
            }
        )
    )
    mm = m.join(keys, [m.resource == keys.b_res, m.activity == keys.b_act, m.bp == keys.b_bp])
    members = mm.select("eid", "batch_id", "batch_first_start", "batch_enabled", size=mm.b_size)
    return BatchResult(members=members, batches=batches[BATCH_COLUMNS])
