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

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from flowlens.relational import union_all
from flowlens.timing.enablement import drop_tables

if TYPE_CHECKING:
    import ibis

    from flowlens.engine import Engine
    from flowlens.log import EventLog
    from flowlens.timing.model import TimeModel

#: Engine memory per instance of the per-resource ordered passes (busy periods, run members,
#: overlap of a resource's work): resources are taken in slices whose instances fit the
#: engine's memory at this much each (:func:`resource_slices`).
BYTES_PER_INSTANCE = 500

#: Python memory per row of the overlap test of :func:`shared_resources` (one start of a
#: resource: four int64 columns read from the engine and the numpy temporaries beside them;
#: measured 137 B on the 10^6-event benchmark log, 32 of them Arrow's)
BYTES_PER_OVERLAP_ROW = 200

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
    #: (stored in the log's engine)
    members: ibis.Table
    #: one row per batch (see BATCH_COLUMNS)
    batches: pd.DataFrame


def shared_resources(
    tm: TimeModel, *, min_share: float = 0.01, starts: pd.DataFrame | None = None
) -> set[str]:
    """Resources that work on several instances at once: not one person, but e.g. the
    customer, a merchant pool or a system serving many cases.

    A resource is shared when the share of its instances (with a duration) that start while
    another of its instances, started earlier, is in progress is at least half its busy share
    (the busy union over its active span: what instances arriving independently at a
    non-exclusive server would see) and at least ``min_share``. A person finishes one thing
    before starting the next, except for a parallel batch (members started together, which does
    not count). Being busy does not make a shared resource's cases wait, so it takes no part in
    contention, prioritisation or batching. ``starts``: :func:`resource_starts` of ``tm``, when
    the caller has it (counted otherwise).
    """
    agg = _resource_overlap(tm, resource_starts(tm) if starts is None else starts)
    share = agg.ov / agg.n
    busy = (agg.cover / agg.span.where(agg.span > 0)).fillna(1.0)
    return set(agg.resource[(agg.ov > 0) & (share >= min_share) & (share >= 0.5 * busy)])


def _resource_overlap(tm: TimeModel, starts: pd.DataFrame) -> pd.DataFrame:
    """Per resource (in name order) of ``tm``'s instances with a start and a duration: ``n``,
    ``ov``, ``cover`` (:func:`_overlap_per_resource`) and ``span`` (latest end minus first
    start), read into Python within :attr:`Engine.python_budget` whatever the largest
    resource. ``starts``: :func:`resource_starts` of ``tm``."""
    inst = tm.instances
    x = inst.filter(inst.resource.notnull() & inst.start_us.notnull() & (inst.end_us > inst.start_us))
    timed = starts[starts.n_timed > 0]
    counts = pd.DataFrame({"resource": timed.resource.to_numpy(), "n": timed.n_timed.to_numpy()})
    eng = tm.log.engine
    rows = max(1, eng.python_budget // BYTES_PER_OVERLAP_ROW)
    aggs = []
    # A slice of resources at a time, within Python's share of the memory, and a resource with
    # more starts than that (a system resource may start 3·10^7 instances at 10^8 events) in
    # batches of ``rows`` carrying its latest end from one to the next: the running maximum of
    # earlier ends is one numpy pass over each batch, where the engine's framed window over
    # every instance (MAX over the preceding rows) cost more (this function 11.1 -> 7.0 CPU s
    # at 10^7 events).
    n_res = counts.n.to_numpy()
    for (lo, hi), part in resource_slices(
        x, counts, eng, per_row=BYTES_PER_OVERLAP_ROW, budget=eng.python_budget
    ):
        carried: tuple[int, int] | None = None  # (rcode, its latest end so far) of the last batch
        for rcode, start, end, n in _start_groups(part, int(n_res[lo:hi].sum()), rows, tm.log):
            if carried is not None and rcode[0] == carried[0]:
                # the resource goes on from the last batch: a zero-width group at its latest
                # end so far carries that end in, adding nothing to n, ov or cover
                r0, e0 = carried
                rcode, start, end = (
                    np.concatenate([[v], a]) for v, a in ((r0, rcode), (e0, start), (e0, end))
                )
                n = np.concatenate([[0], n])
            agg = _overlap_per_resource(rcode, start, end, n)
            carried = int(agg.rcode.iloc[-1]), int(agg.hi.iloc[-1])
            aggs.append(agg)
    cols = ("n", "ov", "cover", "span")
    if not aggs:
        return pd.DataFrame({"resource": pd.Series(dtype=str), **{c: np.zeros(0, np.int64) for c in cols}})
    # a resource read over several batches: its partial sums, first start and latest end merged
    agg = pd.concat(aggs, ignore_index=True).groupby("rcode", sort=True)
    agg = agg.agg(
        n=("n", "sum"), ov=("ov", "sum"), cover=("cover", "sum"), lo=("lo", "min"), hi=("hi", "max")
    )
    agg["span"] = agg.hi - agg.lo
    resource = counts.resource.iloc[agg.index.to_numpy()].astype(str).to_numpy()
    return pd.DataFrame({"resource": resource, **{c: agg[c].to_numpy() for c in cols}})


def _start_groups(
    part: ibis.Table, n_rows: int, rows: int, log: EventLog
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The start groups of ``part`` (instances of a slice of resources, ``n_rows`` of them) as
    int64 arrays ``rcode``, ``start``, ``end`` (latest end of the group), ``n`` (instances),
    sorted by (``rcode``, ``start``), in batches of at most ``rows`` groups: one batch, sorted
    by numpy, when the slice's instances fit; else stored in that order with their row
    number and read a range of row numbers at a time (DuckDB 2.0 has no record-batch stream
    for Ibis), non-empty batches only."""
    import ibis

    # Instances starting at the same moment form one group (a parallel batch is not overlap).
    g = part.group_by(["rcode", "start_us"]).aggregate(g_end=part.end_us.max(), g_n=part.count())
    if n_rows <= rows:
        data = g.to_pyarrow()
        rcode, start, end, n = (np.asarray(data[c].to_numpy(), dtype=np.int64) for c in data.column_names)
        order = np.lexsort((start, rcode))  # (rcode, start) is unique: numpy's sort, not the engine's
        if len(order):
            yield rcode[order], start[order], end[order], n[order]
        return
    ranked = g.mutate(rn=ibis.row_number().over(order_by=[g.rcode, g.start_us]))
    stored = log.engine.materialize(ranked.order_by("rn"), prefix="fl_overlap")
    try:
        first = 0
        while True:
            data = stored.filter((stored.rn >= first) & (stored.rn < first + rows)).order_by("rn")
            data = data.select("rcode", "start_us", "g_end", "g_n").to_pyarrow()
            if not data.num_rows:
                return
            rcode, start, end, n = (np.asarray(c.to_numpy(), dtype=np.int64) for c in data.columns)
            yield rcode, start, end, n
            first += rows
    finally:
        drop_tables(log, stored)


def _overlap_per_resource(
    rcode: np.ndarray, start: np.ndarray, end: np.ndarray, n: np.ndarray
) -> pd.DataFrame:
    """Per resource of groups sorted by (``rcode``, ``start``) (``end``: the group's latest end,
    ``n``: its instances): ``n``, ``ov`` (instances of groups starting before an earlier
    group's end), ``cover`` (length of the union of the groups' spans), ``lo`` (first start) and
    ``hi`` (latest end). Sums and extremes, so that a resource read in several batches merges.

    >>> _overlap_per_resource(*map(np.array, ([0, 0, 0, 1], [0, 5, 20, 3], [10, 12, 25, 4], [1, 2, 1, 1])))
       rcode  n  ov  cover  lo  hi
    0      0  4   2     17   0  25
    1      1  1   0      1   3   4
    """
    if not len(rcode):
        return pd.DataFrame(
            {c: np.zeros(0, dtype=np.int64) for c in ("rcode", "n", "ov", "cover", "lo", "hi")}
        )
    first = np.concatenate([[True], rcode[1:] != rcode[:-1]])
    # The latest end among a resource's earlier groups: a running maximum over the whole chunk
    # of (resource, rank of the end), whose resource part keeps each resource's from the one
    # before (exact integers, no offsets that could overflow).
    ends, rank = np.unique(end, return_inverse=True)
    local = np.cumsum(first) - 1
    running = np.maximum.accumulate(local * len(ends) + rank)
    prev = np.where(first, start, ends[np.concatenate([[0], running[:-1]]) - local * len(ends)])
    ov = np.where(start < prev, n, 0)
    cover = np.maximum(end - np.maximum(start, prev), 0)
    at = np.flatnonzero(first)
    return pd.DataFrame(
        {
            "rcode": rcode[at],
            "n": np.add.reduceat(n, at),
            "ov": np.add.reduceat(ov, at),
            "cover": np.add.reduceat(cover, at),
            # the first group may be a carried-in end (shared_resources), not the first start
            "lo": np.minimum.reduceat(start, at),
            "hi": np.maximum.reduceat(end, at),
        }
    )


def resource_starts(tm: TimeModel) -> pd.DataFrame:
    """Per resource of ``tm`` (one row each, in name order) its instances with a start, ``n``,
    and of them those with a duration, ``n_timed``: what :func:`resource_slices` cuts for
    :func:`detect_batches` and for :func:`shared_resources`, counted in one pass over the
    instances for both.

    >>> import flowlens, pandas as pd
    >>> from flowlens.timing.model import time_model
    >>> rows = [("1", "a", "r", "2024-01-01 09:00", "2024-01-01 09:10"),
    ...         ("2", "a", "r", "2024-01-01 10:00", "2024-01-01 10:00")]
    >>> log = flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"]))
    >>> resource_starts(time_model(log)).values.tolist()
    [['r', 2, 1]]
    """
    inst = tm.instances
    x = inst.filter(inst.resource.notnull() & inst.start_us.notnull())
    counts = x.group_by("resource").aggregate(n=x.count(), n_timed=x.count(where=x.end_us > x.start_us))
    return counts.to_pandas().sort_values("resource").reset_index(drop=True)


def resource_slices(
    t: ibis.Table,
    counts: pd.DataFrame,
    engine: Engine,
    *,
    per_row: int | None = None,
    budget: int | None = None,
) -> list[tuple[tuple[int, int], ibis.Table]]:
    """``t`` (with a ``resource`` column) in slices of whole resources, each slice's rows within
    the engine's memory at :data:`BYTES_PER_INSTANCE` each (one slice when all fit, as on a
    cluster engine), or within ``budget`` bytes at ``per_row`` each (:func:`slice_ranges`), with
    ``rcode``, the resource's row in ``counts`` (resource, ``n`` rows; in name order), each with
    its range of ``rcode`` (:func:`slice_ranges`).
    Only the resources in ``counts`` are kept: an inner join on a table of them, not a ``NOT
    IN`` list (see :func:`flowlens.relational.with_flag`). Per-resource ordered passes need only
    their own resource's rows, so a slice's result is the whole computation's for its resources;
    one resource with more rows than a slice holds is a slice of its own and may exceed it.

    >>> import ibis, pandas as pd
    >>> from flowlens.engine import duckdb_engine
    >>> t = ibis.memtable({"resource": ["a", "a", "b", "c"]})
    >>> counts = pd.DataFrame({"resource": ["a", "b", "c"], "n": [2, 1, 1]})
    >>> [(r, p.rcode.to_list()) for r, p in resource_slices(t, counts, duckdb_engine())]
    [((0, 3), [0, 0, 1, 2])]
    """
    import ibis

    codes = ibis.memtable(
        pd.DataFrame({"c_res": counts.resource.astype(object), "rcode": np.arange(len(counts))}),
        schema={"c_res": "string", "rcode": "int64"},
    )
    coded = t.join(codes, t.resource == codes.c_res).drop("c_res")
    ranges = slice_ranges(counts.n.to_numpy(), engine, per_row=per_row, budget=budget)
    if len(ranges) <= 1:
        return [(ranges[0], coded)]
    return [((lo, hi), coded.filter((coded.rcode >= lo) & (coded.rcode < hi))) for lo, hi in ranges]


def slice_ranges(
    n_rows: np.ndarray, engine: Engine, *, per_row: int | None = None, budget: int | None = None
) -> list[tuple[int, int]]:
    """Ranges [lo, hi) of consecutive keys 0, 1, ... (``n_rows[key]`` rows each) whose rows fit
    the engine's memory at ``per_row`` bytes each (default :data:`BYTES_PER_INSTANCE`): equal
    shares of the rows, cut between keys (one key with more rows than a share is a range of its
    own); one range when all fit, as on a cluster engine. With ``budget`` (bytes, e.g. :attr:`Engine.python_budget` for rows read
    into Python), the rows fit that instead, on any engine.

    >>> import numpy as np
    >>> from flowlens.engine import duckdb_engine
    >>> eng = duckdb_engine(memory_limit="100MB")
    >>> slice_ranges(np.array([5, 5]), eng), slice_ranges(np.full(4, 100_000), eng)
    ([(0, 2)], [(0, 2), (2, 3), (3, 4)])
    """
    total = int(n_rows.sum())
    per_row = BYTES_PER_INSTANCE if per_row is None else per_row
    if budget is not None:
        n = -(-total * per_row // budget)
    else:
        n = -(-total * per_row // engine.memory_budget) if engine.name == "duckdb" else 1
    if n <= 1:
        return [(0, len(n_rows))]
    before = np.cumsum(n_rows) - n_rows
    share = before * n // total
    cuts = [0, *(np.flatnonzero(np.diff(share)) + 1).tolist(), len(n_rows)]
    return list(itertools.pairwise(cuts))


def detect_batches(
    tm: TimeModel,
    *,
    gap_s: float = 0.0,
    min_idle_s: float = 1800.0,
    working_us: Callable[[str, int, int], int] | None = None,
    shared: set[str] | None = None,
    other_work: ibis.Table | None = None,
    starts: pd.DataFrame | None = None,
) -> BatchResult:
    """Find batches among the time model's instances.

    ``working_us(resource, a, b)`` gives the resource's working time in [a, b) (default: all
    of it, i.e. always on shift). ``shared`` resources (default: :func:`shared_resources`)
    have no batches. ``other_work`` (:func:`flowlens.analysis.other_work.other_work_table`) is
    the resources' work outside the log: it keeps them busy (busy periods, idle time) but forms
    no batch. ``starts``: :func:`resource_starts` of ``tm``, when the caller has it (counted
    otherwise).
    """
    import ibis

    inst = tm.instances
    if starts is None:
        starts = resource_starts(tm)
    if shared is None:
        shared = shared_resources(tm, starts=starts)
    base = inst.filter(inst.resource.notnull() & inst.start_us.notnull())
    counts = starts[["resource", "n"]]
    if tm.log.time_resolution_s >= COARSEST_CLOCK_S:
        base = base.filter(ibis.literal(False))
        counts = counts.iloc[:0]
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
        on = o.filter(o.resource.notnull())
        more = on.group_by("resource").aggregate(n=on.count()).to_pandas()
        counts = pd.concat([counts, more]).groupby("resource", as_index=False, sort=True).n.sum()
    counts = counts[~counts.resource.isin(shared)].reset_index(drop=True)
    # Everything below is per resource: computed a slice of resources at a time, shared
    # resources left out (they have no batches, and their work makes nobody else busy).
    eng = tm.log.engine
    bases, ms, cands = [], [], []
    for _, part in resource_slices(base, counts, eng):
        # Computed once: the candidates, the idle time and the members all read the busy
        # periods (two windows over every instance of the resources; left as expressions they
        # were recomputed by each).
        b = eng.materialize(_busy_periods(part, gap_s), prefix="fl_batch_base")
        m = eng.materialize(_run_members(b), prefix="fl_batch_m")
        bases.append(b)
        ms.append(m)
        cands.append(_candidates(m).to_pandas())
    base, m = union_all(bases), union_all(ms)
    # slices without candidates left out: an empty frame's columns would lose their types
    cand = pd.concat([c for c in cands if len(c)] or cands[:1], ignore_index=True)
    if cand.empty:
        members = m.filter(ibis.literal(False)).select(
            "eid", batch_id=m.bp, batch_first_start=m.start_us, batch_enabled=m.enabled_us, size=m.bp
        )
        return _result(tm, members, pd.DataFrame(columns=BATCH_COLUMNS), bases + ms)
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
    return _result(tm, members, batches[BATCH_COLUMNS], bases + ms)


def _result(tm: TimeModel, members: ibis.Table, batches: pd.DataFrame, work: list[ibis.Table]) -> BatchResult:
    """The members stored, and the busy periods and run members they are read from (``work``,
    event-sized) dropped: what follows reads the members, nothing reads those."""
    stored = tm.log.engine.materialize(members, prefix="fl_batch_members")
    drop_tables(tm.log, *work)
    return BatchResult(members=stored, batches=batches)


def _busy_periods(part: ibis.Table, gap_s: float) -> ibis.Table:
    """``part`` (instances with ``rcode``, their resource's number) with ``bp``, the number of
    the resource's busy period each belongs to."""
    import ibis

    # Two ordered passes per resource over integer columns only (the resource's number, times,
    # eid), joined back by eid: DuckDB's window operator sorts every column it carries, and
    # text keys and columns cost several times more.
    k = part.select("eid", "rcode", "start_us", "end_us")
    order = [k.start_us, k.end_us, k.eid]
    prev_end = k.end_us.max().over(ibis.window(group_by=k.rcode, order_by=order, rows=(None, -1)))
    k = k.mutate(fl_brk=(prev_end.isnull() | (k.start_us > prev_end + int(gap_s * 1e6))).cast("int64"))
    order = [k.start_us, k.end_us, k.eid]
    k = k.select(
        k_eid="eid", bp=k.fl_brk.sum().over(ibis.window(group_by=k.rcode, order_by=order, rows=(None, 0)))
    )
    return part.join(k, part.eid == k.k_eid).drop("k_eid", "rcode")


def _run_members(base: ibis.Table) -> ibis.Table:
    """The members of every run in ``base`` (instances with their busy period): the
    instances of the run's activity in the busy period enabled when the run began, with
    ``fl_ovl`` (1: it starts before an earlier member ends)."""
    import ibis

    x = base.filter(base.enabled_us.notnull())
    runs = x.group_by(["resource", "activity", "bp"]).aggregate(run_start=x.start_us.min())
    y = x.join(runs, ["resource", "activity", "bp"])
    m = y.filter(y.enabled_us <= y.run_start)
    m_prev = m.end_us.max().over(
        ibis.window(
            group_by=[m.resource, m.activity, m.bp], order_by=[m.start_us, m.end_us, m.eid], rows=(None, -1)
        )
    )
    return m.mutate(fl_ovl=(m.start_us < m_prev).fill_null(False).cast("int64"))


def _candidates(m: ibis.Table) -> ibis.Table:
    """One row per run of at least two members that accumulated (enabled at different times,
    hence someone waited), with what :func:`detect_batches` classifies it by."""
    return (
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
        .filter(lambda a: (a["size"] >= 2) & (a.first_enabled_us < a.enabled_us))
    )
