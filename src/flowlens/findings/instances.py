"""The ordered instance table the rework, ping-pong and customer-loop detectors share.

Built once per context from the time model's instances and stored in the engine: what every
such detector reads about an instance (its case, position, activity and resource, its times,
waiting and processing, who did it, its contact) plus, computed in one ordered pass over integer
columns, the activity's integer code and its occurrences in the case. Each detector used to
derive these by itself over the text columns (a window by case and activity name per reader,
joined back by eid); now they read stored columns.

>>> import flowlens, pandas as pd
>>> from flowlens.findings.context import FindingContext
>>> rows = [("1", "a", "2024-01-01 09:00"), ("1", "b", "2024-01-01 10:00"), ("1", "a", "2024-01-01 11:00")]
>>> ctx = FindingContext(flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "timestamp"])))
>>> t = instance_table(ctx).order_by("pos").to_pandas()
>>> t.acode.tolist(), t.occ.tolist(), t.prev_same_pos.tolist()
([0, 1, 0], [1, 1, 2], [nan, nan, 0.0])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from flowlens.analysis.step_roles import is_staff
from flowlens.findings.signals import activities_of, cached, customer_markers, distinct_values, isin
from flowlens.relational import union_all, with_flag
from flowlens.timing.model import case_slice, case_slices

if TYPE_CHECKING:
    import ibis

    from flowlens.findings.context import FindingContext


def activity_codes(ctx: FindingContext) -> ibis.Table:
    """k_act (an activity of the log: the time model's instances are its events), acode (its
    integer code: the rank in name order); one memtable per context."""

    def run() -> ibis.Table:
        import ibis

        acts = activities_of(ctx)
        frame = pd.DataFrame({"k_act": acts, "acode": np.arange(len(acts), dtype="int32")})
        return ibis.memtable(frame, schema={"k_act": "string", "acode": "int32"})

    return cached(ctx, "activity_codes", run)


def instance_table(ctx: FindingContext) -> ibis.Table:
    """The time model's instances for the rework, ping-pong and customer-loop detectors (stored
    once per context): eid, case_idx, case_id, pos, activity, resource, team, start_us, end_us,
    start_rec (the recorded start, or the end when the start was estimated), wait (the customer
    waiting before it, µs; methods 6.3), proc (its processing, staff effort, µs; 0 when unknown)
    and cproc (the part of it that is customer time: inside the customer window, not
    overlapping another step's), ``after_stop`` (after the customer's clock stopped), ``staff``
    (a person of the organisation did it), ``cust`` (a customer step:
    :func:`~flowlens.findings.signals.customer_markers`), con (its contact id, as text; NULL
    without a contact column), acode (:func:`activity_codes`), occ (1-based occurrence of the
    activity in the case) and prev_same_pos, prev_same_end, prev_same_eid (the previous
    instance of the same activity in the case; NULL on the first)."""
    return cached(ctx, "instance_table", lambda: _instance_table(ctx))


def _instance_table(ctx: FindingContext) -> ibis.Table:
    # Stored a slice of cases at a time (the time model's slices): each slice is written (and
    # compressed on a large log) before the next, where the whole log's wide rows in one
    # statement were held uncompressed (10^6 events under 100 MB: +0.27 GB of spill; methods
    # 4.1). Every column is computed within a case, so the slices' rows are the whole's.
    log = ctx.log
    staff = [r for r in distinct_values(ctx, "resource") if is_staff(r)]
    parts = [ctx.store(_instances_of(ctx, r, staff), prefix="fl_finstances") for r in case_slices(log)]
    return union_all(parts)


def _instances_of(ctx: FindingContext, r: tuple[int, int] | None, staff: list[str]) -> ibis.Table:
    """The rows of :func:`instance_table` of the cases in ``r`` (:func:`case_slices`)."""
    import ibis

    from flowlens.analysis.journeys import detect_column

    log = ctx.log
    inst = case_slice(ctx.tm.instances, r)
    cust_acts, cust_res, cust_team = customer_markers(ctx)
    x = inst.select(
        "eid",
        "case_idx",
        "case_id",
        "pos",
        "activity",
        "resource",
        "team",
        "start_us",
        "end_us",
        # the start as recorded: an estimated start (methods 6.2) is only a bound, so the
        # instance counts as done at its end
        start_rec=ibis.ifelse(inst.start_estimated.fill_null(False), inst.end_us, inst.start_us),
        wait=inst.wait_us.fill_null(0),
        proc=inst.proc_us.fill_null(0),
        # its processing as customer time: within the customer window, each stretch of the
        # case counted once (methods 6.3: service)
        cproc=inst.service_part_us.fill_null(0),
        after_stop=inst.after_stop.fill_null(False),
    )
    # one name per person: a join, not an IN list (see with_flag)
    x = with_flag(x, "resource", staff, "staff")
    x = x.mutate(cust=isin(x.activity, cust_acts) | isin(x.resource, cust_res) | isin(x.team, cust_team))
    contact = detect_column(log, "contact", ctx.journey_options.get("contact", "auto"))
    if contact:
        lt = case_slice(log.table, r)
        ct = lt.select(k_eid="eid", con=lt[contact].cast("string"))
        x = x.join(ct, x.eid == ct.k_eid).drop("k_eid")
    else:
        x = x.mutate(con=ibis.null("string"))
    # The ordered pass runs on a narrow projection of integer columns joined back by eid:
    # DuckDB's window operator sorts every column it carries, text several times slower than
    # integers. One window (by case and activity code, in case order) gives the occurrence and
    # the previous instance of the same activity that rework's visits and follow-ups read.
    codes = activity_codes(ctx)
    nw = inst.select("eid", "case_idx", "pos", "activity", "end_us")
    nw = nw.left_join(codes, nw.activity == codes.k_act).drop("k_act")
    wa = ibis.window(group_by=[nw.case_idx, nw.acode], order_by=nw.pos)
    nw = nw.select(
        w_eid="eid",
        acode="acode",
        occ=ibis.row_number().over(wa) + 1,
        prev_same_pos=nw.pos.lag().over(wa),
        prev_same_end=nw.end_us.lag().over(wa),
        prev_same_eid=nw.eid.lag().over(wa),
    )
    return x.left_join(nw, x.eid == nw.w_eid).drop("w_eid")


def cases_per_activity(ctx: FindingContext, *, before_stop: bool = False) -> dict[str, int]:
    """Cases per activity of the log (computed once per context): the sum of its first
    instances in a case (``occ = 1``), not a count of distinct cases (a hash set per activity).
    ``before_stop``: only the cases where the activity has an instance that ends before the
    customer's clock stops (methods 6.5). Positions follow end times (``pos`` is the order by
    end), so that is the case exactly when its first instance does.

    >>> import flowlens, pandas as pd
    >>> from flowlens.findings.context import FindingContext
    >>> rows = [("1", "a", "2024-01-01 09:00"), ("1", "a", "2024-01-01 10:00"), ("2", "a", "2024-01-01 11:00")]
    >>> ctx = FindingContext(flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "timestamp"])))
    >>> cases_per_activity(ctx)
    {'a': 2}
    """

    def run() -> dict[str, int]:
        t = instance_table(ctx)
        first = (t.occ == 1) & ~t.after_stop if before_stop else t.occ == 1
        t = t.filter(first)
        df = t.group_by("activity").aggregate(n=t.count()).to_pandas()
        return dict(zip(df.activity.astype(str), df.n.astype(int), strict=True))

    return cached(ctx, f"cases_per_activity_{before_stop}", run)
