"""The ordered instance table the rework, ping-pong and customer-loop detectors share.

Built once per context from the time model's instances and stored in the engine, integers
alone: an instance's case index, position, times, waiting and processing, the activity's integer
code and its occurrences in the case (one ordered pass), and its flags packed into one integer.
The activity's name, the case id, resource, team and contact are looked up where a detector
reads them, for the rows it reads (methods §4.1).

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


def codes_of(ctx: FindingContext, names: list[str]) -> list[int]:
    """The integer codes (:func:`activity_codes`) of the activities ``names`` of the log: a
    filter on them reads the stored code, not the name looked up for every row.

    >>> import flowlens, pandas as pd
    >>> from flowlens.findings.context import FindingContext
    >>> df = pd.DataFrame({"case": ["1", "1"], "activity": ["b", "a"], "timestamp": ["2024-01-01 09:00", "2024-01-01 10:00"]})
    >>> codes_of(FindingContext(flowlens.read_log(df)), ["b", "x"])
    [1]
    """
    index = {a: i for i, a in enumerate(activities_of(ctx))}
    return sorted(index[n] for n in names if n in index)


#: the instance table's flags, packed into one integer column ``flags`` of the stored table (bit
#: i for the i-th name; :func:`instance_table` unpacks them where read)
INSTANCE_FLAGS = ("after_stop", "staff", "cust")


def pack_flags(flags: dict[str, ibis.Value]) -> ibis.Value:
    """The boolean values ``flags`` as one integer: bit i set when the i-th is true (NULL counts
    as false, as every reader of the packed tables filters on them). One small column in place
    of a column per flag: each stored column is written (and on a large log compressed) once
    per row.

    >>> import ibis
    >>> t = ibis.memtable({"a": [True, False, None], "b": [True, True, False]})
    >>> t.select(f=pack_flags({"a": t.a, "b": t.b})).f.to_list()
    [3, 2, 0]
    """
    import ibis

    bits = [ibis.ifelse(v.fill_null(False), 1 << i, 0) for i, v in enumerate(flags.values())]
    out = bits[0]
    for b in bits[1:]:
        out = out + b
    return out.cast("int16")


def unpack_flags(t: ibis.Table, names: tuple[str, ...], column: str = "flags") -> ibis.Table:
    """``t`` with a boolean column per name of ``names`` (bit i of ``column``: :func:`pack_flags`)
    in place of ``column``.

    >>> import ibis
    >>> t = ibis.memtable({"flags": [3, 2, 0]})
    >>> unpack_flags(t, ("a", "b")).to_pandas().values.tolist()
    [[True, True], [False, True], [False, False]]
    """
    return t.mutate(**{n: (t[column] & (1 << i)) != 0 for i, n in enumerate(names)}).drop(column)


def with_case_id(ctx: FindingContext, t: ibis.Table) -> ibis.Table:
    """``t`` (rows with a case_idx) with the case's id, looked up for ``t``'s rows: the stored
    tables of the detectors carry the integer case index alone.

    >>> import flowlens, pandas as pd
    >>> from flowlens.findings.context import FindingContext
    >>> df = pd.DataFrame({"case": ["c1"], "activity": ["a"], "timestamp": ["2024-01-01 09:00"]})
    >>> ctx = FindingContext(flowlens.read_log(df))
    >>> with_case_id(ctx, ctx.log.table.select("case_idx")).case_id.to_list()
    ['c1']
    """
    ids = ctx.tm.cases.select(i_case="case_idx", case_id="case_id")
    return t.join(ids, t.case_idx == ids.i_case).drop("i_case")


def contacts_of(ctx: FindingContext) -> ibis.Table | None:
    """c_eid, con: each instance's contact id as text (NULL where it has none), from the log;
    None when the log has no contact column. Read where a detector compares two instances'
    contacts (a few of them), not stored with every instance."""
    from flowlens.analysis.journeys import detect_column

    log = ctx.log
    contact = detect_column(log, "contact", ctx.journey_options.get("contact", "auto"))
    if not contact:
        return None
    t = log.table
    return t.select(c_eid="eid", con=t[contact].cast("string"))


def instance_table(ctx: FindingContext) -> ibis.Table:
    """The time model's instances for the rework, ping-pong and customer-loop detectors (stored
    once per context): eid, case_idx, pos, start_us, end_us, start_rec (the recorded start, or
    the end when the start was estimated), wait (the customer waiting before it, µs; methods
    6.3), proc (its processing, staff effort, µs; 0 when unknown) and cproc (the part of it that
    is customer time: inside the customer window, not overlapping another step's), acode
    (:func:`activity_codes`), occ (1-based occurrence of the activity in the case),
    prev_same_pos, prev_same_end, prev_same_eid (the previous instance of the same activity in
    the case; NULL on the first); and, looked up or unpacked where read, activity (the name of
    acode), ``after_stop`` (after the customer's clock stopped), ``staff`` (a person of the
    organisation did it) and ``cust`` (a customer step:
    :func:`~flowlens.findings.signals.customer_markers`). The stored table is narrow (integers
    alone): the case id, resource, team and contact are looked up for the few rows that need
    them (:func:`with_case_id`, :func:`contacts_of`, the time model's instances)."""
    return cached(ctx, "instance_table", lambda: _instance_table(ctx))


def _instance_table(ctx: FindingContext) -> ibis.Table:
    # Stored a slice of cases at a time (the time model's slices): each slice is written (and
    # compressed on a large log) before the next, where the whole log's wide rows in one
    # statement were held uncompressed (10^6 events under 100 MB: +0.27 GB of spill; methods
    # 4.1). Every column is computed within a case, so the slices' rows are the whole's.
    log = ctx.log
    staff = [r for r in distinct_values(ctx, "resource") if is_staff(r)]
    parts = [ctx.store(_instances_of(ctx, r, staff), prefix="fl_finstances") for r in case_slices(log)]
    return stored_view(ctx, union_all(parts), INSTANCE_FLAGS)


def stored_view(ctx: FindingContext, stored: ibis.Table, flags: tuple[str, ...]) -> ibis.Table:
    """A detector's stored table (integers alone, an ``acode`` and packed ``flags``) as its
    readers see it: with the activity's name, looked up by its code, and ``flags`` unpacked.

    >>> import flowlens, pandas as pd
    >>> from flowlens.findings.context import FindingContext
    >>> df = pd.DataFrame({"case": ["c1"], "activity": ["a"], "timestamp": ["2024-01-01 09:00"]})
    >>> ctx = FindingContext(flowlens.read_log(df))
    >>> import ibis
    >>> t = ibis.memtable({"acode": [0], "flags": [1]}, schema={"acode": "int32", "flags": "int16"})
    >>> stored_view(ctx, t, ("x",)).to_pandas().values.tolist()
    [[0, 'a', True]]
    """
    codes = activity_codes(ctx).select(n_acode="acode", activity="k_act")
    t = stored.left_join(codes, stored.acode == codes.n_acode).drop("n_acode")
    return unpack_flags(t, flags)


def _instances_of(ctx: FindingContext, r: tuple[int, int] | None, staff: list[str]) -> ibis.Table:
    """The stored rows of :func:`instance_table` of the cases in ``r`` (:func:`case_slices`)."""
    import ibis

    inst = case_slice(ctx.tm.instances, r)
    cust_acts, cust_res, cust_team = customer_markers(ctx)
    codes = activity_codes(ctx)
    x = inst.left_join(codes, inst.activity == codes.k_act)
    # one name per person: a join, not an IN list (see with_flag)
    x = with_flag(x, "resource", staff, "staff")
    cust = isin(x.activity, cust_acts) | isin(x.resource, cust_res) | isin(x.team, cust_team)
    # One window (by case and activity code, in case order) gives the occurrence and the
    # previous instance of the same activity that rework's visits and follow-ups read. It is
    # partitioned and ordered by integers; the select that holds it also computes the flags, so
    # DuckDB's window operator still carries the activity, resource and team text (a narrower
    # projection under the window is left to do: waste15's review).
    wa = ibis.window(group_by=[x.case_idx, x.acode], order_by=x.pos)
    return x.select(
        "eid",
        "case_idx",
        "pos",
        "start_us",
        "end_us",
        # the start as recorded: an estimated start (methods 6.2) is only a bound, so the
        # instance counts as done at its end
        start_rec=ibis.ifelse(x.start_estimated.fill_null(False), x.end_us, x.start_us),
        wait=x.wait_us.fill_null(0),
        proc=x.proc_us.fill_null(0),
        # its processing as customer time: within the customer window, each stretch of the
        # case counted once (methods 6.3: service)
        cproc=x.service_part_us.fill_null(0),
        flags=pack_flags({"after_stop": x.after_stop, "staff": x.staff, "cust": cust}),
        acode=x.acode,
        occ=ibis.row_number().over(wa) + 1,
        prev_same_pos=x.pos.lag().over(wa),
        prev_same_end=x.end_us.lag().over(wa),
        prev_same_eid=x.eid.lag().over(wa),
    )


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
