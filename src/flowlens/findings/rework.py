"""Rework, loops and excess follow-ups: the same work done again in a case (docs/methods.md
13.6, after methods 5 and edeaR's repeat/redo).

**Visits, not events.** A step's instances in a case form *visits*: an instance continues the
visit of the previous work instance of the case when it is the same activity, with nothing in
between but steps that record waiting or routing (a queue, a waiting status, an assignment, a
transfer: :mod:`flowlens.findings.signals`) or planned repeats (below). Such an immediate
repeat is one piece of work in several sittings (suspend/resume, START/COMPLETE pairs of one
work item, status updates of an incident), not rework, unless the log shows the first attempt
failed: its outcome attribute (a column named outcome, result, resolution, ...) says so
(rejected, failed, incomplete, error, ...). A *return* is the first instance of a second or
later visit; the steps between it and the previous visit are its *loop body*.

**What can be rework.** Only the organisation's own work before the customer's clock stops
(:func:`flowlens.findings.signals.changeable_activities`): a customer's repeated payment or
submission, a system's status, the outcome and what comes after it are never the head of a
finding. A return with *failure evidence* (a step named as a failure in the body, a request to
the customer, or a failed outcome attribute) is rework in any case. The other returns of an
activity (at least 20 of them) are **planned repeats**, no waste, when they do what a required
or planned repeat does:

* *another party*: >= 80 % are done by another party (the customer, the organisation, an
  external party) than the previous visit;
* *monitoring*: >= 80 % are done by the same performer as the previous visit and >= 50 %
  together with another step (started at the same moment, within a second, not at midnight):
  a test panel repeated during a stay;
* *a required interval*: the time since the previous visit is regular (>= 50 % within 25 % of
  its median, which is at least an hour) and the case waits for most of it (the median idle
  time before the return is >= half the median interval): a scheduled repeat;
* *another stage*: >= 90 % of the cases with the activity return to it (the second visit is
  part of every case's path, with nothing showing the first one failed).

Planned repeats are treated like waiting for the visits of the other steps (a ward admission
with only lab tests since the previous one continues it).

**One waste, one finding.** The returns of a case whose spans (previous visit to return)
overlap form one *region*: going round A → B → C → A → B → C returns to A, B and C, one loop.
A region is reported under its first return to changeable work (its *head*), as kind ``rework``
(immediate repeats after a failed attempt), ``customer_wait_loop`` (a request to the customer
and a step of the customer in it: :mod:`flowlens.findings.customer_loops`) or ``loop``. Heads
whose regions occur in nearly the same cases (the smaller set >= 90 % inside the larger, which
it makes up at least half of) are one loop too, reported under the head with most processing.

**Cost** (methods 5) = per region the customer waiting (methods 6.3) and processing of every
instance of its repeated visits, plus the customer waiting of the *loop-back path*: the first
instances inside a return's span of activities that the region does not go round again and
that (>= 90 % of their first instances) only occur inside such spans ("Application
Incomplete", "Call for Missing Documents"). Nothing before
the first visit, nothing after the clock stop. Each part counts once, so per case the cost never
exceeds the customer lead time; waiting that an idle "waiting for customer" status or a
ping-pong return claims is left to those findings. The loop-back probability p = returns /
visits of the head gives the simulation lever 1 / (1 - p) expected visits; the scenario cuts
the loop (p -> 0).

**Excess follow-ups.** For a follow-up contact (a call chasing the customer; see
:mod:`flowlens.findings.signals`) the threshold comes from the data: per case n = its
follow-ups (every instance is a contact) and the step that ends them (the exit). Exits more
frequent after a single follow-up than overall are *favourable* (the customer answered), unless
they name a failure (cancelled, declined, ...) or are the end of the case; with no favourable
exit nothing shows a follow-up worked, and none is called excess. The
success rate of the k-th follow-up is s_k = P(n = k and a favourable exit | n >= k); follow-ups
beyond the first k whose next one succeeds in less than a quarter of the first one's rate
(s_{k+1} < s_1 / 4) are excess. Without enough data (fewer than 10 cases with one follow-up, or
20 reaching k + 1) the domain default k = 2 applies. The excess follow-ups are priced like
repeats (their waiting and processing), scenario ``limit_repeats``. Follow-ups that stay
effective are no waste and are not reported.

Repeats that other detectors own are left to them: reassignment bounces
(:mod:`flowlens.findings.pingpong`), identity checks, information requests and repeated
explanations (the journey detectors' activity groups), and repeats in a later contact of the
case (when the log has contact ids: a repeat contact, not rework). A rework or loop finding
that costs less than a minute per case is not reported.

>>> import flowlens, pandas as pd
>>> rows = [(str(c), a, f"2024-01-0{c + 1} {9 + i}:00", r) for c in range(3) for i, (a, r) in
...         enumerate([("submit", "u"), ("check", "x"), ("fix", "u"), ("check", "y" if c else "x"), ("pay", "z")])]
>>> df = pd.DataFrame(rows, columns=["case", "activity", "timestamp", "resource"])
>>> from flowlens.findings.context import FindingContext
>>> f = detect_rework(FindingContext(flowlens.read_log(df)))[0]
>>> f.kind, f.activities, f.cases, f.details["redo"], f.details["repeat"], f.customer_time_s
('loop', ('check', 'fix'), 3, 2, 1, 10800.0)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.analysis.activity_groups import normalise
from flowlens.findings.instances import (
    activity_codes,
    codes_of,
    contacts_of,
    instance_table,
    pack_flags,
    stored_view,
    with_case_id,
)
from flowlens.findings.model import Finding, Scenario
from flowlens.findings.pingpong import bounces
from flowlens.findings.signals import (
    FAILED,
    US,
    activities_of,
    build_finding,
    cached,
    changeable_activities,
    count_text,
    customer_markers,
    distinct_values,
    group_members,
    human_value,
    isin,
    party,
    role_members,
    share_text,
)
from flowlens.i18n import M_
from flowlens.relational import union_all
from flowlens.timing.enablement import drop_tables
from flowlens.timing.model import case_slice, case_slices

if TYPE_CHECKING:
    import ibis

    from flowlens.findings.context import FindingContext
    from flowlens.log import EventLog

NAME = "rework"
FOLLOW_UP_NAME = "follow_up"
#: activity groups whose repeats the journey detectors report
JOURNEY_GROUPS = ("verification", "information_request", "repeat_information")
#: an activity is on the loop-back path when this share of its first instances lie in a return's span
LOOP_ONLY_SHARE = 0.9
#: heads repeating in nearly the same cases are one loop: the smaller one's cases lie (>= 90 %)
#: within the larger one's, which they make up at least half of
MERGE_WITHIN = 0.9
MERGE_SHARE = 0.5
#: rework and loop findings below this customer time per case are not reported (seconds)
MIN_PER_CASE_S = 60.0
#: follow-up threshold: domain default and the evidence needed to replace it
DEFAULT_FOLLOW_UPS = 2
MIN_SINGLE = 10
MIN_REACHING = 20
DROP_FACTOR = 0.25
END_OF_CASE = "(end of case)"
#: planned repeats (module docstring): returns needed to judge, and the thresholds
MIN_JUDGED = 20
OTHER_PARTY_SHARE = 0.8
STRUCTURAL_SHARE = 0.9
REGULAR_TOLERANCE = 0.25
REGULAR_SHARE = 0.5
REGULAR_MIN_US = 3600 * US
IDLE_SHARE = 0.5
DAY_US = 86400 * US
SAME_PERFORMER_SHARE = 0.8
TOGETHER_US = 1 * US
TOGETHER_SHARE = 0.5
#: an event attribute that records the outcome of a step, by its name
OUTCOME_COLUMN = re.compile(
    r"(^|[^a-z])(outcome|result|resolution|disposition|verdict)([^a-z]|$)|结果|结论", re.IGNORECASE
)


@dataclass
class Repeats:
    """The instance table behind rework, loops and follow-ups (materialised once per context).

    ``table``: every instance with eid, case_idx, pos, acode and activity (its name, looked up
    where read), wait, proc, cproc (µs), occ (1-based occurrence of the activity in the case,
    every instance); and for work (not waiting, routing or planned): visit (1-based visit of
    the activity), prev_pos, prev_eid (on a return: the previous visit's last instance),
    body_work (work instances in between); and the flags of :data:`REPEAT_FLAGS` (stored packed
    in one integer, unpacked where read): after_stop, staff, cust (customer step), req
    (information request), bounce (a ping-pong claim), anchor (the first instance of a visit
    >= 2: a return), has_req, has_cust (the loop, body plus the return, holds one), fail
    (failure evidence), new_contact. The case id and the resources are looked up for the rows
    that need them (:func:`~flowlens.findings.instances.with_case_id`, :func:`with_resources`):
    the stored table holds integers alone (:data:`REPEAT_COLUMNS`)."""

    table: ibis.Table
    #: activity -> n (instances), visits, cases, repeats (returns), again (instances that are
    #: not the activity's first in the case)
    counts: pd.DataFrame
    has_customer_steps: bool
    #: per judged activity: returns, clean (without failure evidence), the shares of the rules
    #: and ``planned`` (the reason, or "")
    planned: pd.DataFrame
    #: activities treated as waiting for visits: wait steps, routing, planned repeats
    transparent: list[str]

    @property
    def planned_activities(self) -> dict[str, str]:
        p = self.planned
        if p.empty:
            return {}
        p = p[p.planned != ""]
        return dict(zip(p.activity.astype(str), p.planned.astype(str), strict=True))


def repeats(ctx: FindingContext) -> Repeats:
    """The repeat table of ``ctx`` (shared by the rework and customer-loop detectors)."""
    return cached(ctx, "repeats", lambda: _repeats(ctx))


def planned_repeats(ctx: FindingContext) -> dict[str, str]:
    """Activities whose repeats are planned, with the reason (another party, monitoring, a
    required interval, another stage: module docstring). A step required at more than one point
    of a case is one of these whatever its name: no detector should propose merging or cutting
    it.

    >>> import flowlens, pandas as pd
    >>> from flowlens.findings.context import FindingContext
    >>> rows = [(f"c{i}", a, r, f"2024-01-{1 + d:02d} {8 + (i * 7) % 9}:{i:02d}")
    ...         for i in range(25) for d, a, r in [(0, "Verify", "clerk"), (1, "Sign", "clerk"), (9, "Verify", "Notary 1")]]
    >>> ctx = FindingContext(flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "resource", "timestamp"])))
    >>> planned_repeats(ctx)
    {'Verify': 'another party'}
    """
    return repeats(ctx).planned_activities


def outcome_column(log: EventLog) -> str | None:
    """The event attribute that records a step's outcome: named outcome, result, resolution,
    disposition or verdict, and varying within cases (a case attribute such as the case's
    final outcome, the same on every event, says nothing about one attempt)."""
    t = log.table
    for canon, src in sorted(log.attributes.items()):
        if not OUTCOME_COLUMN.search(str(src)):
            continue
        per = t.group_by("case_idx").aggregate(n=t[canon].nunique())
        if int(per.filter(per.n > 1).count().to_pandas()) > 0:
            return canon
    return None


#: the stored columns of the repeat table (:class:`Repeats`): the instance table's that its
#: readers read (the times are read by the ordered passes of :func:`_visits` alone), the
#: visit columns :func:`_visits` adds (its interval_us, wait_before and together are read by
#: the planned-repeat rules alone, from the visits: not stored again) and the flags, packed
#: (:data:`REPEAT_FLAGS`): 13 integer columns, where 24 with the case id, activity and
#: resources as text were stored before
REPEAT_COLUMNS = (
    "eid", "case_idx", "pos", "acode", "wait", "proc", "cproc", "occ", "visit", "prev_pos",
    "prev_eid", "body_work", "flags",
)  # fmt: skip
#: the repeat table's flags, in the order of their bits (:func:`~flowlens.findings.instances.pack_flags`)
REPEAT_FLAGS = (
    "after_stop", "staff", "cust", "req", "bounce", "anchor", "has_req", "has_cust", "fail",
    "new_contact",
)  # fmt: skip


def with_resources(ctx: FindingContext, t: ibis.Table, eid: str = "eid") -> ibis.Table:
    """``t`` (rows of the repeat table, or of its visits with the instance's eid in ``eid``)
    with resource (the instance's) and prev_res (its previous visit's: by prev_eid), looked up
    in the time model's instances for ``t``'s rows (the returns, a few of the instances)."""
    ti = ctx.tm.instances
    r = ti.select(r_eid="eid", resource="resource")
    p = ti.select(p_eid="eid", prev_res="resource")
    t = t.left_join(r, t[eid] == r.r_eid).drop("r_eid")
    return t.left_join(p, t.prev_eid == p.p_eid).drop("p_eid")


def repeat_instances(ctx: FindingContext) -> ibis.Table:
    """The instance table the visits are computed from (an expression over the stored
    :func:`~flowlens.findings.instances.instance_table`, built once per context): its columns
    with req (an information request), neg (a step named as a failure) and ofail (a failed
    outcome: :func:`outcome_column`)."""
    return cached(ctx, "repeat_instances", lambda: _repeat_instances(ctx))


def _repeat_instances(ctx: FindingContext) -> ibis.Table:
    import ibis

    acts = activities_of(ctx)
    log = ctx.log
    oc = outcome_column(log)
    req = group_members(ctx, "information_request", acts)
    failed_names = role_members(ctx, "failed", acts)
    x = instance_table(ctx)
    x = x.mutate(req=isin(x.acode, codes_of(ctx, req)), neg=isin(x.acode, codes_of(ctx, failed_names)))
    if not oc:
        return x.mutate(ofail=ibis.literal(False))
    # the outcome itself is read no further: the instances whose outcome failed are stored
    # (a few), and every reader of this table marks them with a join on that small table
    lt = log.table
    ov = lt[oc].cast("string")
    vals = lt.select(ov=ov).distinct().to_pandas()["ov"].dropna().astype(str)
    failed_values = sorted(v for v in vals if FAILED.search(normalise(v)))
    fe = lt.filter(isin(ov, failed_values)).select(f_eid="eid", ofail=ibis.literal(True))
    fe = ctx.store(fe, prefix="fl_rework_ofail")
    x = x.left_join(fe, x.eid == fe.f_eid).drop("f_eid")
    return x.mutate(ofail=x.ofail.fill_null(False))


def _repeats(ctx: FindingContext) -> Repeats:
    acts = activities_of(ctx)
    log = ctx.log
    x = repeat_instances(ctx)
    transparent = sorted({*role_members(ctx, "wait_step", acts), *role_members(ctx, "routing", acts)})
    # follow-up contacts are judged by their own detector (each call is a contact)
    never_planned = set(role_members(ctx, "follow_up", acts))
    # The visits and the repeat table are made a slice of cases at a time (the time model's
    # slices; every column is computed within a case): the whole log's rows in one statement
    # were held uncompressed (10^6 events under 100 MB: +0.31 GB of spill; methods 4.1).
    slices = case_slices(log)
    visits = [_visits(ctx, case_slice(x, r), transparent) for r in slices]
    planned = _planned(ctx, x, union_all(visits), never_planned)
    extra = sorted(planned.activity[planned.planned != ""].astype(str)) if not planned.empty else []
    # planned repeats are waiting for the other steps' visits: recomputed below, in the cases
    # that have one (the visit columns are computed case by case, so the other cases' stay)
    transparent_all = sorted({*transparent, *extra})
    claims = bounces(ctx).claims
    parts = []
    for r, v in zip(slices, visits, strict=True):
        xs = case_slice(x, r)
        scratch = [v]
        if extra:
            hit = xs.filter(isin(xs.acode, codes_of(ctx, extra))).select(h_case="case_idx").distinct()
            keep = v.anti_join(hit, v.v_case == hit.h_case)
            # read once, by the join below: not stored apart
            xh = xs.semi_join(hit, xs.case_idx == hit.h_case)
            v = keep.union(_visits(ctx, xh, transparent_all, scratch=scratch), distinct=False)
        parts.append(ctx.store(_with_visits(xs, v, claims), prefix="fl_rework"))
        # the slice's visit columns are in the repeat table now
        drop_tables(log, *scratch)
    t = repeat_view(ctx, union_all(parts))
    counts = (
        t.group_by("activity")
        .aggregate(
            n=t.count(),
            visits=((t.visit == 1) | t.anchor).cast("int64").sum(),
            # a case with the activity has one first occurrence: a sum, not a count of
            # distinct cases
            cases=(t.occ == 1).cast("int64").sum(),
            repeats=t.anchor.cast("int64").sum(),
            again=(t.occ >= 2).cast("int64").sum(),
        )
        .to_pandas()
    )
    has_cust = any(customer_markers(ctx))
    return Repeats(t, counts, has_cust, planned, transparent_all)


def repeat_view(ctx: FindingContext, stored: ibis.Table) -> ibis.Table:
    """The table of :class:`Repeats` from its stored columns (:data:`REPEAT_COLUMNS`): with the
    activity's name (looked up by its code) and the flags unpacked."""
    return stored_view(ctx, stored, REPEAT_FLAGS)


def _visits(
    ctx: FindingContext, x: ibis.Table, transparent: list[str], *, scratch: list[ibis.Table] | None = None
) -> ibis.Table:
    """The visit columns of :class:`Repeats` for the work instances of ``x`` (not waiting,
    routing or planned): v_eid, v_case, v_acode, v_first (the step's first instance in the
    case) and :data:`VISIT_COLUMNS` (:func:`_with_visits` joins them to ``x``): stored, or with
    ``scratch`` an expression read once, its stored work table added to ``scratch`` for the
    caller to drop after that read.

    Whether work was done between two instances of a step is judged by time, not by position:
    a step recorded while the later sitting was already under way (BPIC 2012's offer events
    inside a W_ work item, ordered before it by their earlier end) was done during it."""
    import ibis

    # the ordered passes carry integer columns only (activity codes, times, positions):
    # DuckDB's window operator sorts every column it carries, and text columns (activity,
    # resource, contact) cost several times more; they are looked up by eid for the few rows
    # that read them
    # the previous instance of the same step is the instance table's (the filter keeps or
    # drops whole activities, so it is the same among the work instances)
    k = x.filter(~isin(x.acode, codes_of(ctx, transparent))).select(
        "eid", "case_idx", "pos", "acode", "occ", "start_us", "end_us", "start_rec",
        prev_pos="prev_same_pos", prev_end="prev_same_end", prev_eid="prev_same_eid",
    )  # fmt: skip
    wc = ibis.window(group_by=k.case_idx, order_by=k.pos)
    p_act, p_start = k.acode.lag().over(wc), k.start_rec.lag().over(wc)
    n_act, n_start = k.acode.lead().over(wc), k.start_rec.lead().over(wc)
    # recorded at the same moment as the work step before or after it (recorded times; a
    # moment, not a date: at midnight, in a date-only log, every step of a day would be
    # "together"); kept as one flag, not the neighbours' four columns
    together = (
        ((p_act != k.acode) & ((k.start_rec - p_start).abs() <= TOGETHER_US)).fill_null(False)
        | ((n_act != k.acode) & ((n_start - k.start_rec).abs() <= TOGETHER_US)).fill_null(False)
    ) & ((k.start_rec % DAY_US) != 0)
    w = ctx.store(k.mutate(together=together), prefix="fl_rework_w")
    # work of other steps between the previous instance of the step and this one: after the
    # previous one ended and before this one started
    i = w.filter(w.prev_pos.notnull()).select(
        i_eid="eid",
        i_case="case_idx",
        i_pos="pos",
        i_act="acode",
        i_s="start_rec",
        i_p="prev_pos",
        i_e0="prev_end",
    )
    j = w.select(j_case="case_idx", j_pos="pos", j_act="acode", j_s="start_rec", j_e="end_us")
    bt = i.join(
        j,
        [
            i.i_case == j.j_case,
            j.j_pos > i.i_p,
            j.j_pos < i.i_pos,
            j.j_act != i.i_act,
            j.j_e <= i.i_s,
            j.j_s >= i.i_e0,
        ],
    )
    bt = bt.group_by("i_eid").aggregate(between=bt.count())
    # whether the previous instance of the step failed (its outcome) and was in another contact
    # (text, from the log), looked up by eid for the repeated instances alone and kept as two
    # booleans
    pv = x.select(pv_eid="eid", prev_ofail="ofail")
    rp = w.filter(w.prev_eid.notnull()).select(r_eid="eid", r_prev="prev_eid")
    rp = rp.left_join(pv, rp.r_prev == pv.pv_eid)
    cons = contacts_of(ctx)
    if cons is None:
        other = ibis.literal(False)
    else:
        cu = cons.select(cu_eid="c_eid", con="con")
        pc = cons.select(pc_eid="c_eid", prev_con="con")
        rp = rp.left_join(cu, rp.r_eid == cu.cu_eid)
        rp = rp.left_join(pc, rp.r_prev == pc.pc_eid)
        other = (rp.con != rp.prev_con).fill_null(False)
    rp = rp.select("r_eid", r_failed=rp.prev_ofail.fill_null(False), r_other=other)
    n = w.left_join(bt, w.eid == bt.i_eid).drop("i_eid")
    n = n.left_join(rp, n.eid == rp.r_eid).drop("r_eid")
    between = n.between.fill_null(0)
    prev_failed = n.r_failed.fill_null(False)
    other_contact = n.r_other.fill_null(False)
    # a new visit unless nothing was done since the previous instance of the step and that one
    # did not fail (or it is another contact of the customer: a repeat contact)
    new = n.prev_pos.isnull() | (between > 0) | prev_failed | other_contact
    n = n.select(
        "eid", "case_idx", "pos", "acode", "occ", "start_us", "together", "prev_pos", "prev_eid",
        new=new, body_work=between, prev_failed=prev_failed, other_contact=other_contact,
    )  # fmt: skip
    nt = ctx.store(n, prefix="fl_rework_v")
    drop_tables(ctx.log, w)  # read by nt alone
    # The visit is the running count of new instances of the step. Where every instance of
    # the step in the case is new (all but a few per cent of them) that is its occurrence;
    # the steps of a case with a continuing instance are numbered by an ordered pass over
    # their instances alone (not over every work instance), from a row number among the new
    # (or the continuing) instances: for a new instance it is that count, for a continuing
    # one the occurrence minus the continuations so far (a running sum is a framed
    # aggregate, several times slower in DuckDB than a row number).
    cg = nt.filter(~nt.new).select(g_case="case_idx", g_act="acode").distinct()
    c = nt.semi_join(cg, [nt.case_idx == cg.g_case, nt.acode == cg.g_act])
    rn = ibis.row_number().over(ibis.window(group_by=[c.case_idx, c.acode, c.new], order_by=c.pos)) + 1
    # (the case index kept: a statement short of memory is retried by slices of cases)
    cv = ctx.store(
        c.select("case_idx", c_eid="eid", c_visit=ibis.ifelse(c.new, rn, c.occ - rn)), prefix="fl_rework_cv"
    )
    cvj = cv.select("c_eid", "c_visit")
    n = nt.left_join(cvj, nt.eid == cvj.c_eid)
    n = n.mutate(visit=n.c_visit.fill_null(n.occ)).drop("c_eid", "c_visit")
    # what only a return (the first instance of a visit >= 2) carries is looked up for the
    # returns alone, a few of the instances
    a = n.filter(n.new & (n.visit >= 2))
    # the previous visit's start (its earliest start): the instances of visit - 1 joined to
    # the returns, not an aggregate of every visit
    q = a.select(q_eid="eid", q_case="case_idx", q_act="acode", q_visit=a.visit - 1)
    vs = n.join(q, [n.case_idx == q.q_case, n.acode == q.q_act, n.visit == q.q_visit])
    vs = vs.group_by("q_eid").aggregate(prev_vstart=vs.start_us.min())
    a = a.join(vs, a.eid == vs.q_eid)
    # requests, customer steps and failures in the loop (after the previous instance, up to and
    # including this one), any instance of the case: a range join with the (few) marked
    # instances, not running counts over every instance of the log
    mk = x.filter(x.req | x.cust | x.neg).select(
        m_case="case_idx",
        m_pos="pos",
        m_req=x.req.cast("int64"),
        m_cust=x.cust.cast("int64"),
        m_neg=x.neg.cast("int64"),
    )
    r = a.select(r_eid="eid", r_case="case_idx", r_pos="pos", r_p="prev_pos")
    m = r.join(mk, [r.r_case == mk.m_case, mk.m_pos > r.r_p, mk.m_pos <= r.r_pos])
    m = m.group_by("r_eid").aggregate(d_req=m.m_req.sum(), d_cust=m.m_cust.sum(), d_neg=m.m_neg.sum())
    c = x.select(c_eid="eid", c_wait="wait")
    a = a.join(c, a.eid == c.c_eid).drop("c_eid")
    a = a.left_join(m, a.eid == m.r_eid).drop("r_eid")
    has_req = (a.d_req > 0).fill_null(False)
    a = a.select(
        a_eid="eid",
        a_prev_pos="prev_pos",
        a_prev_eid="prev_eid",
        a_body="body_work",
        has_req=has_req,
        has_cust=(a.d_cust > 0).fill_null(False),
        fail=has_req | (a.d_neg > 0).fill_null(False) | a.prev_failed,
        # a return in a later contact is a repeat contact (the journey detectors), not rework
        new_contact="other_contact",
        interval_us=a.start_us - a.prev_vstart,
        # the case's idle time just before the return (customer waiting, methods 6.3)
        wait_before="c_wait",
    )
    v = n.mutate(anchor=(n.visit >= 2) & n.new)
    v = v.left_join(a, v.eid == a.a_eid)
    v = v.select(
        v_eid="eid",
        v_case="case_idx",
        v_acode="acode",
        v_first=v.occ == 1,
        visit="visit",
        anchor="anchor",
        prev_pos="a_prev_pos",
        prev_eid="a_prev_eid",
        body_work="a_body",
        has_req=v.has_req.fill_null(False),
        has_cust=v.has_cust.fill_null(False),
        fail=v.fail.fill_null(False),
        new_contact=v.new_contact.fill_null(False),
        interval_us="interval_us",
        wait_before="wait_before",
        together="together",
    )
    if scratch is not None:
        scratch += [nt, cv]  # read by v, which the caller reads once: dropped by the caller
        return v
    v = ctx.store(v, prefix="fl_rework_v")
    drop_tables(ctx.log, nt, cv)  # read by v alone
    return v


def _with_visits(x: ibis.Table, v: ibis.Table, bounce: ibis.Table | None) -> ibis.Table:
    """The instance table ``x`` with the visit columns ``v`` of its work instances (false or
    null on the others) and whether an instance is a ping-pong claim (``bounce``: the claimed
    instances' eids): the stored columns of :class:`Repeats` (:data:`REPEAT_COLUMNS`)."""
    import ibis

    t = x.left_join(v, x.eid == v.v_eid)
    if bounce is not None:
        bc = bounce.select(b_eid="eid", bounce=ibis.literal(True))
        t = t.left_join(bc, t.eid == bc.b_eid)
        t = t.mutate(bounce=t.bounce.fill_null(False))
    else:
        t = t.mutate(bounce=ibis.literal(False))
    t = t.mutate(flags=pack_flags({f: t[f] for f in REPEAT_FLAGS}))
    return t.select(*REPEAT_COLUMNS)


def _planned(ctx: FindingContext, x: ibis.Table, v: ibis.Table, never: set[str]) -> pd.DataFrame:
    """Per activity with >= :data:`MIN_JUDGED` returns without failure evidence: the shares of
    the planned-repeat rules (module docstring) and the reason it is planned, or "" (``x``
    the instance table, ``v`` its visit columns: :func:`_visits`)."""
    cols = [
        "activity",
        "returns",
        "clean",
        "other_party",
        "structural",
        "regular",
        "same_performer",
        "together",
        "planned",
    ]
    an = v.filter(v.anchor)
    xs = x.select(a_eid="eid", activity="activity", case_idx="case_idx", pos="pos")
    an = an.join(xs, an.v_eid == xs.a_eid)
    a = an.filter(~an.fail & ~an.new_contact)
    bn = bounces(ctx).claims
    if bn is not None:
        bn = bn.select(b_eid="eid")
        a = a.anti_join(bn, a.v_eid == bn.b_eid)
    a = with_resources(ctx, a, eid="v_eid")
    df = a.select(
        "activity", "case_idx", "pos", "resource", "prev_res", "interval_us", "wait_before", "together"
    ).to_pandas()
    df = df.sort_values(["activity", "case_idx", "pos"], kind="stable").reset_index(drop=True)
    if df.empty:
        return pd.DataFrame(columns=cols)
    n_all = an.group_by("activity").aggregate(n=an.count()).to_pandas()
    n_all = dict(zip(n_all.activity.astype(str), n_all.n.astype(int), strict=True))
    # every work instance has a visit: the cases per activity from the codes
    codes = activity_codes(ctx)
    # every work instance has a visit, and each case with the step one first instance
    per = v.group_by("v_acode").aggregate(cases=v.v_first.cast("int64").sum())
    per = per.join(codes, per.v_acode == codes.acode)
    with_act = per.select(activity="k_act", cases="cases").to_pandas()
    with_act = dict(zip(with_act.activity.astype(str), with_act.cases.astype(int), strict=True))
    res = sorted({str(r) for r in distinct_values(ctx, "resource")})
    party_of = {r: party(r) for r in res}
    df["activity"] = df.activity.astype(str)
    df["p1"] = df.resource.map(party_of)
    df["p0"] = df.prev_res.map(party_of)
    rows = []
    for act, g in df.groupby("activity", sort=True):
        n = len(g)
        if n < MIN_JUDGED:
            continue
        known = g.resource.notna() & g.prev_res.notna()
        same = float((g.resource[known] == g.prev_res[known]).mean()) if known.any() else 0.0
        pk = g.p1.notna() & g.p0.notna()
        other = float((g.p1[pk] != g.p0[pk]).sum()) / n
        structural = g.case_idx.nunique() / max(with_act.get(str(act), 1), 1)
        iv = g.interval_us.dropna().astype(float).to_numpy()
        med = float(np.median(iv)) if len(iv) else 0.0
        regular = float(np.mean(np.abs(iv - med) <= REGULAR_TOLERANCE * med)) if med > 0 else 0.0
        # a scheduled repeat waits for its date: the case is idle for most of the interval
        # (a loop whose interval is just the work in between is not scheduled)
        idle = float(np.median(g.wait_before.fillna(0).astype(float))) if n else 0.0
        if idle < IDLE_SHARE * med:
            regular = 0.0
        tog = float(g.together.mean())
        reason = ""
        if str(act) not in never:
            # the most specific reason first; a repeat in nearly every case is the fallback
            if other >= OTHER_PARTY_SHARE:
                reason = "another party"
            elif same >= SAME_PERFORMER_SHARE and tog >= TOGETHER_SHARE:
                reason = "monitoring"
            elif med >= REGULAR_MIN_US and regular >= REGULAR_SHARE:
                reason = "required interval"
            elif structural >= STRUCTURAL_SHARE:
                reason = "another stage"
        rows.append((str(act), n_all.get(str(act), n), n, other, structural, regular, same, tog, reason))
    return pd.DataFrame(rows, columns=cols)


@dataclass
class FollowUpCurve:
    """The data-driven follow-up threshold of one activity."""

    activity: str
    threshold: int
    source: str
    #: k -> (cases reaching k, cases ending after k with a favourable exit)
    curve: dict[int, tuple[int, int]]
    favourable_exits: list[str]


def follow_up_curves(ctx: FindingContext) -> dict[str, FollowUpCurve]:
    """Per follow-up activity that repeats: its threshold (module docstring)."""
    return cached(ctx, "follow_up_curves", lambda: _follow_up_curves(ctx))


def _follow_up_curves(ctx: FindingContext) -> dict[str, FollowUpCurve]:
    rp = repeats(ctx)
    fu = role_members(ctx, "follow_up", activities_of(ctx))
    c = rp.counts
    fu = [a for a in fu if int(c.loc[c.activity == a, "again"].sum()) > 0]
    if not fu:
        return {}
    t = rp.table
    f = t.filter(t.activity.isin(fu))
    per = f.group_by(["activity", "case_idx"]).aggregate(n=f.occ.max(), last=f.pos.max())
    nx = t.select(x_case="case_idx", x_pos=t.pos - 1, exit=t.activity)
    per = per.left_join(nx, [per.case_idx == nx.x_case, per.last == nx.x_pos])
    dist = per.group_by(["activity", "n", "exit"]).aggregate(cases=per.count()).to_pandas()
    dist["exit"] = dist["exit"].fillna(END_OF_CASE)
    out = {}
    for act, d in dist.groupby("activity"):
        out[str(act)] = _curve(str(act), d)
    return out


def _curve(act: str, d: pd.DataFrame) -> FollowUpCurve:
    total = d.cases.sum()
    single = d[d.n == 1]
    n_single = int(single.cases.sum())
    if n_single < MIN_SINGLE or total == 0:
        return FollowUpCurve(
            act, DEFAULT_FOLLOW_UPS, M_("domain default (too few cases with one follow-up)"), {}, []
        )
    p_all = d.groupby("exit").cases.sum() / total
    p_one = single.groupby("exit").cases.sum() / n_single
    # a failure (cancelled, declined, ...) or the case simply ending says nothing good happened,
    # however often it follows a single call (customers who drop out early)
    fav = sorted(
        str(e)
        for e, v in p_one.items()
        if v >= p_all.get(e, 0.0) and e != END_OF_CASE and not FAILED.search(normalise(str(e)))
    )
    if not fav:
        # no step shows the follow-up worked: nothing to call excess
        return FollowUpCurve(act, int(d.n.max()), M_("no favourable exit (success not recorded)"), {}, [])
    d = d.assign(fav=d.exit.isin(fav))
    curve: dict[int, tuple[int, int]] = {}
    kmax = int(d.n.max())
    for k in range(1, kmax + 1):
        reach = int(d[d.n >= k].cases.sum())
        ok = int(d[(d.n == k) & d.fav].cases.sum())
        curve[k] = (reach, ok)
    s1 = curve[1][1] / curve[1][0] if curve[1][0] else 0.0
    if s1 <= 0:
        return FollowUpCurve(act, kmax, M_("no favourable exit after one follow-up"), curve, fav)
    for k in range(1, kmax):
        reach, ok = curve[k + 1]
        if reach < MIN_REACHING:
            break
        if ok / reach < DROP_FACTOR * s1:
            return FollowUpCurve(act, k, "data", curve, fav)
    if curve.get(2, (0, 0))[0] < MIN_REACHING:
        return FollowUpCurve(
            act, DEFAULT_FOLLOW_UPS, "domain default (too few cases with repeats)", curve, fav
        )
    # every further follow-up stays effective: none is excess
    return FollowUpCurve(act, kmax, "data (no drop)", curve, fav)


def _follow_up_claims(ctx: FindingContext) -> tuple[ibis.Table | None, dict[str, FollowUpCurve]]:
    """Excess follow-up instances (occ > threshold) of the activities that have any."""
    curves = {
        a: c
        for a, c in follow_up_curves(ctx).items()
        if c.threshold < max(c.curve, default=DEFAULT_FOLLOW_UPS + 1)
    }
    t = repeats(ctx).table
    if not curves:
        return None, {}
    import ibis

    cond = ibis.literal(False)
    for a, c in curves.items():
        cond = cond | ((t.activity == a) & (t.occ > c.threshold))
    ex = t.filter(cond & ~t.bounce & ~t.after_stop)
    return ex, curves


# -- rework and loops ---------------------------------------------------------------------------


# -- rework and loops ---------------------------------------------------------------------------
def loop_claims(ctx: FindingContext) -> tuple[ibis.Table, pd.DataFrame]:
    """Claims of the rework, loop, customer-loop and follow-up findings: eid, case_idx,
    case_id, kind, head, part ("both", "wait" or "proc": which of the instance's waiting and
    processing is counted), anchor (a return), lap (a return to the head), wait and proc (its
    customer time, µs), sproc (its processing: staff time); and the heads' groups (kind,
    activity, head)."""
    return cached(ctx, "loop_claims", lambda: _loop_claims(ctx))


def _regions(ctx: FindingContext) -> ibis.Table:
    """The returns that can be rework (module docstring) with their region: case_idx, region,
    eid, activity, visit, pos, prev_pos, kind, head."""
    import ibis

    rp = repeats(ctx)
    t = rp.table
    acts = activities_of(ctx)
    journey = sorted(set().union(*(group_members(ctx, g, acts) for g in JOURNEY_GROUPS)))
    _, curves = _follow_up_claims(ctx)
    owned_fu = sorted(curves)
    changeable = changeable_activities(ctx)
    a = t.filter(t.anchor & ~t.bounce & ~t.new_contact & ~t.after_stop & ~isin(t.activity, owned_fu))
    customer = a.has_req & a.has_cust if rp.has_customer_steps else a.has_req
    a = a.mutate(cust=customer)
    a = a.filter(a.cust | ~isin(a.activity, journey))
    # planned repeats are no rework unless the log shows the first attempt failed
    planned = sorted(rp.planned_activities)
    a = a.filter(a.fail | ~isin(a.activity, planned))
    # overlapping spans [prev_pos, pos] of a case are one region (one loop gone round)
    order = [a.prev_pos, a.pos]
    before = ibis.window(group_by=a.case_idx, order_by=order, rows=(None, -1))
    a = a.mutate(run_max=a.pos.max().over(before))
    a = a.mutate(new_r=a.run_max.isnull() | (a.prev_pos >= a.run_max))
    upto = ibis.window(group_by=a.case_idx, order_by=[a.prev_pos, a.pos], rows=(None, 0))
    a = a.mutate(region=a.new_r.cast("int64").sum().over(upto), chg=isin(a.activity, changeable))
    big = ibis.literal(2**62)
    reg = a.group_by(["case_idx", "region"]).aggregate(
        head=a.activity.argmin(ibis.ifelse(a.chg, a.pos, big + a.pos)),
        n_chg=a.chg.cast("int64").sum(),
        any_cust=a.cust.cast("int64").max(),
        max_body=a.body_work.max(),
    )
    reg = reg.filter(reg.n_chg > 0)
    kind = ibis.cases(
        (reg.any_cust == 1, "customer_wait_loop"),
        (reg.max_body == 0, "rework"),
        else_="loop",
    )
    reg = reg.select(r_case="case_idx", r_region="region", head="head", kind=kind)
    a = a.join(reg, [a.case_idx == reg.r_case, a.region == reg.r_region])
    a = a.select("case_idx", "region", "eid", "activity", "visit", "pos", "prev_pos", "kind", "head")
    return ctx.store(a, prefix="fl_rework_regions")


def _loop_claims(ctx: FindingContext) -> tuple[ibis.Table, pd.DataFrame]:
    import ibis

    rp = repeats(ctx)
    t = rp.table
    ex, _ = _follow_up_claims(ctx)
    a = _regions(ctx)
    # merge heads of loops whose cases coincide (rotations of one loop in different cases)
    hc = a.select("kind", activity="head", case_idx="case_idx").distinct()
    sizes = hc.group_by(["kind", "activity"]).aggregate(cases=hc.count()).to_pandas()
    a1 = hc.rename(a="activity")
    a2 = hc.select(k2="kind", b="activity", c2="case_idx")
    inter = a1.join(a2, [a1.kind == a2.k2, a1.case_idx == a2.c2, a1.a < a2.b])
    inter = inter.group_by(["kind", "a", "b"]).aggregate(both=inter.count()).to_pandas()
    # every instance of a repeated visit is claimed (all sittings of the work done again)
    vis = a.select(v_case="case_idx", v_act="activity", v_visit="visit", v_kind="kind", v_head="head")
    inst = t.filter(t.visit.notnull() & ~t.after_stop)
    inst = inst.join(
        vis, [inst.case_idx == vis.v_case, inst.activity == vis.v_act, inst.visit == vis.v_visit]
    )
    # stored (a few instances): the heads' processing and the claims read it, and as an
    # expression each of them joined every instance with the regions again
    inst = ctx.store(
        inst.select(
            "eid",
            "case_idx",
            "activity",
            "wait",
            "cproc",
            "proc",
            "staff",
            "anchor",
            "v_kind",
            "v_head",
        ),
        prefix="fl_rework_inst",
    )
    scratch = [inst]
    proc = inst.group_by(["v_kind", "v_head"]).aggregate(
        proc=inst.proc.sum(), n=inst.anchor.cast("int64").sum()
    )
    proc = proc.rename(kind="v_kind", activity="v_head").to_pandas()
    groups = _merge_heads(sizes, inter, proc)
    gm = ibis.memtable(
        groups.rename(columns={"kind": "g_kind", "activity": "g_act"}),
        schema={"g_kind": "string", "g_act": "string", "head": "string"},
    )
    inst = inst.join(gm, [inst.v_kind == gm.g_kind, inst.v_head == gm.g_act])
    rep_claims = inst.select(
        "eid",
        "case_idx",
        kind=inst.v_kind,
        head=inst["head"],
        wait=inst.wait,
        proc=inst.cproc,
        sproc=inst.proc,
        staff=inst.staff,
        part=ibis.literal("both"),
        anchor=inst.anchor,
        # one occurrence per lap: a return to the region's head
        lap=inst.anchor & (inst.activity == inst.v_head),
    )
    # loop-back path: first instances inside a return's span, of activities found (almost) only there
    first = t.filter((t.visit == 1) | (t.visit.isnull() & (t.occ == 1)))
    first = first.filter(~first.bounce & ~first.after_stop)
    sp = a.select(
        s_case="case_idx", s_region="region", s_from="prev_pos", s_to="pos", s_kind="kind", s_head="head"
    )
    cov = first.join(sp, [first.case_idx == sp.s_case, first.pos > sp.s_from, first.pos < sp.s_to])
    cov = cov.mutate(
        rk=ibis.row_number().over(ibis.window(group_by=cov.eid, order_by=[cov.s_to, cov.s_from]))
    )
    cov = cov.filter(cov.rk == 0)
    # a step the region goes round again is part of the loop, not the way back to it
    again = a.select(g_case="case_idx", g_region="region", g_act="activity").distinct()
    cov = cov.anti_join(
        again, [cov.case_idx == again.g_case, cov.s_region == again.g_region, cov.activity == again.g_act]
    )
    # stored, for the same reason: the loop-only shares and the claims read it
    cov = ctx.store(
        cov.select("eid", "case_idx", "activity", "wait", "cproc", "proc", "staff", "s_kind", "s_head"),
        prefix="fl_rework_cov",
    )
    scratch.append(cov)
    n_first = first.group_by("activity").aggregate(n1=first.count())
    n_cov = cov.group_by("activity").aggregate(n_cov=cov.count())
    lo = n_first.join(n_cov, "activity").to_pandas()
    loop_only = sorted(lo[lo.n_cov >= LOOP_ONLY_SHARE * lo.n1].activity.astype(str))
    lp = cov.filter(isin(cov.activity, loop_only))
    lp = lp.join(gm, [lp.s_kind == gm.g_kind, lp.s_head == gm.g_act])
    path = lp.select(
        "eid",
        "case_idx",
        kind=lp.s_kind,
        head=lp["head"],
        wait=lp.wait,
        proc=lp.cproc,
        sproc=lp.proc,
        staff=lp.staff,
        part=ibis.literal("wait"),
        anchor=ibis.literal(False),
        lap=ibis.literal(False),
    )
    claims = rep_claims.union(path, distinct=False)
    if ex is not None:
        fu = ex.select(
            "eid",
            "case_idx",
            kind=ibis.literal("excess_follow_up"),
            head=ex.activity,
            wait=ex.wait,
            proc=ex.cproc,
            sproc=ex.proc,
            staff=ex.staff,
            part=ibis.literal("both"),
            anchor=ibis.literal(True),
            lap=ibis.literal(True),
        )
        claims = claims.union(fu, distinct=False)
    # waiting that an idle status or a ping-pong return claims is theirs (more specific)
    from flowlens.findings.customer_loops import idle_claims
    from flowlens.findings.pingpong import assignment_priced

    reserved = [
        r.select(r_eid="eid") for r in (idle_claims(ctx), assignment_priced(ctx).claims) if r is not None
    ]
    if reserved:
        res = reserved[0]
        for r in reserved[1:]:
            res = res.union(r)
        res = res.distinct().mutate(r_hit=ibis.literal(True))
        claims = claims.left_join(res, claims.eid == res.r_eid).drop("r_eid")
        hit = claims.r_hit.fill_null(False)
        part = ibis.cases(
            (hit & (claims.part == "both"), "proc"),
            (hit & (claims.part == "wait"), "none"),
            else_=claims.part,
        )
        claims = claims.mutate(part=part).drop("r_hit")
        claims = claims.filter(claims.part != "none")
    # the claimed instances' case ids, looked up for them alone
    claims = with_case_id(ctx, claims)
    claims = claims.select("eid", "case_idx", "case_id", *[c for c in claims.columns if c not in CLAIM_KEYS])
    claims = ctx.store(claims, prefix="fl_rework_claims")
    drop_tables(ctx.log, *scratch)  # read by the claims alone
    return claims, groups


#: the first columns of the claims (:func:`loop_claims`)
CLAIM_KEYS = ("eid", "case_idx", "case_id")


def _merge_heads(sizes: pd.DataFrame, inter: pd.DataFrame, proc: pd.DataFrame) -> pd.DataFrame:
    """kind, activity, head: loops whose repeat cases nearly coincide share the head with the most
    processing time (then most repeats, then name). Self-loops (rework) are never merged."""
    rows = []
    for kind, s in sizes.groupby("kind"):
        p = proc[proc.kind == kind].set_index("activity")
        order = sorted(
            s.activity.astype(str),
            key=lambda a: (-float(p.proc.get(a, 0)), -int(p.n.get(a, 0)), a),
        )
        size = dict(zip(s.activity.astype(str), s.cases.astype(int), strict=True))
        both = {}
        for a, b, n in inter[inter.kind == kind][["a", "b", "both"]].itertuples(index=False):
            both[(str(a), str(b))] = both[(str(b), str(a))] = int(n)
        head_of: dict[str, str] = {}
        for a in order:
            if a in head_of:
                continue
            head_of[a] = a
            if kind == "rework":
                continue
            for b in order:
                if b in head_of:
                    continue
                n = both.get((a, b), 0)
                small, large = sorted((size[a], size[b]))
                if n and n >= MERGE_WITHIN * small and n >= MERGE_SHARE * large:
                    head_of[b] = a
        rows += [(kind, a, h) for a, h in head_of.items()]
    return pd.DataFrame(rows, columns=["kind", "activity", "head"])


def priced(ctx: FindingContext, kinds: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per (kind, head, case_id): customer time t_s, staff time staff_s, occurrences (laps:
    returns to the head); and per (kind, head): waiting and processing totals."""
    claims, _ = loop_claims(ctx)
    c = claims.filter(claims.kind.isin(list(kinds)))
    t = c.wait * (c.part != "proc").cast("int64") + c.proc * (c.part != "wait").cast("int64")
    per = (
        c.group_by(["kind", "head", "case_id"])
        .aggregate(
            t=t.sum(),
            staff_t=c.sproc.sum(where=c.staff & (c.part != "wait")),
            occ=c.lap.cast("int64").sum(),
        )
        .to_pandas()
    )
    # rows in a fixed order: float sums over them are then the same in every run
    per = per.sort_values(["kind", "head", "case_id"], kind="stable").reset_index(drop=True)
    per["t_s"] = per.t.astype(float) / US
    per["staff_s"] = per.staff_t.fillna(0).astype(float) / US
    tot = (
        c.group_by(["kind", "head"])
        .aggregate(
            wait=c.wait.sum(where=c.part != "proc"),
            proc=c.proc.sum(where=c.part != "wait"),
        )
        .to_pandas()
    )
    return per, tot


def head_stats(ctx: FindingContext, kind: str) -> pd.DataFrame:
    """Per head of ``kind``: repeats, repeat (same resource), redo, unknown resource, self-loops,
    minimum self-distance, members."""
    claims, groups = loop_claims(ctx)
    t = repeats(ctx).table
    g = groups[groups.kind == kind]
    if g.empty:
        return pd.DataFrame()
    a = claims.filter((claims.kind == kind) & claims.anchor).select(c_eid="eid", c_head="head")
    r = t.join(a, t.eid == a.c_eid)
    r = with_resources(ctx, r.filter(r.activity == r.c_head))
    known = r.resource.notnull() & r.prev_res.notnull()
    st = (
        r.group_by("c_head")
        .aggregate(
            repeats=r.count(),
            same=(known & (r.resource == r.prev_res)).cast("int64").sum(),
            redo=(known & (r.resource != r.prev_res)).cast("int64").sum(),
            self_loops=(r.body_work == 0).cast("int64").sum(),
            msd=r.body_work.min(),
            cases=r.case_idx.nunique(),
        )
        .to_pandas()
        .rename(columns={"c_head": "head"})
        .sort_values("head", kind="stable")
        .reset_index(drop=True)
    )
    st["members"] = [sorted(g[g["head"] == h].activity.astype(str)) for h in st["head"]]
    return st


def loop_bodies(
    ctx: FindingContext, kind: str, heads: list[str], sample: int = 5000
) -> dict[str, list[tuple[str, float]]]:
    """Per head: the activities of its loop body with the share of repeats whose body holds
    them, in their usual order (mean relative position), from up to ``sample`` repeats (the
    first by a hash of their eid)."""
    import ibis

    if not heads:
        return {}
    claims, _ = loop_claims(ctx)
    t = repeats(ctx).table
    a = claims.filter((claims.kind == kind) & claims.anchor & claims["head"].isin(heads)).select(c_eid="eid")
    r = t.filter((t.body_work > 0) & isin(t.acode, codes_of(ctx, heads)))
    r = r.join(a, r.eid == a.c_eid).select("eid", "case_idx", "prev_pos", "pos", "acode")
    r = r.mutate(rk=ibis.row_number().over(ibis.window(group_by=r.acode, order_by=[r.eid.hash(), r.eid])))
    # The sample is stored (at most ``sample`` rows per head) before the body's instances are
    # joined to it: the range join then builds its hash table on the sample, whatever the size
    # of the log (as one statement with the window, the process of a 10^8-event run under a
    # 6 GB limit was sampled at 9.06 GB resident while in it; not yet rerun at that size).
    rs = ctx.store(r.filter(r.rk < sample).drop("rk"), prefix="fl_rework_sample")
    try:
        b = t.filter(t.visit.notnull()).select(b_case="case_idx", b_pos="pos", b_acode="acode")
        j = rs.join(b, [rs.case_idx == b.b_case, b.b_pos > rs.prev_pos, b.b_pos < rs.pos])
        rel = (j.b_pos - j.prev_pos).cast("float64") / (j.pos - j.prev_pos).cast("float64")
        agg = j.group_by(["acode", "b_acode"]).aggregate(n=j.eid.nunique(), rel=rel.mean()).to_pandas()
        n = rs.group_by("acode").aggregate(n=rs.count()).to_pandas()
    finally:
        drop_tables(ctx.log, rs)  # read by the two statements above alone
    names = np.asarray(activities_of(ctx), dtype=object)
    agg["r_act"], agg["activity"] = names[agg.acode.to_numpy()], names[agg.b_acode.to_numpy()]
    totals = dict(zip(names[n.acode.to_numpy()], n.n.astype(int), strict=True))
    out: dict[str, list[tuple[str, float]]] = {}
    for h, g in agg.groupby("r_act"):
        tot = totals.get(str(h), 0) or 1
        g = g.assign(share=g.n / tot).sort_values(["rel", "activity"])
        out[str(h)] = [(str(a), float(s)) for a, s in zip(g.activity, g.share, strict=True)]
    return out


def min_cases_default(ctx: FindingContext) -> int:
    return max(3, round(0.001 * ctx.log.n_cases))


def _typical_path(body: list[tuple[str, float]], share: float = 0.5) -> list[str]:
    return [a for a, s in body if s >= share]


def _rework_findings(
    ctx: FindingContext, kinds: tuple[str, ...], detector: str, min_cases: int
) -> list[Finding]:
    per, tot = priced(ctx, kinds)
    if per.empty:
        return []
    counts = repeats(ctx).counts.set_index("activity")
    out = []
    for kind in kinds:
        stats = head_stats(ctx, kind)
        if stats.empty:
            continue
        bodies = loop_bodies(ctx, kind, list(stats["head"])) if kind != "rework" else {}
        for row in stats.itertuples(index=False):
            head = str(row.head)
            pc = per[(per.kind == kind) & (per["head"] == head)]
            n = pc.case_id.nunique()
            if n < min_cases or (kind != "customer_wait_loop" and pc.t_s.sum() < MIN_PER_CASE_S * n):
                continue
            out.append(_loop_finding(ctx, kind, head, row, pc, tot, counts, bodies.get(head, []), detector))
    return out


def _loop_finding(
    ctx: FindingContext,
    kind: str,
    head: str,
    row: Any,
    pc: pd.DataFrame,
    tot: pd.DataFrame,
    counts: pd.DataFrame,
    body: list[tuple[str, float]],
    detector: str,
) -> Finding:
    n_occ = int(counts.visits.get(head, row.repeats))
    p = float(row.repeats) / n_occ if n_occ else 0.0
    tt = tot[(tot.kind == kind) & (tot["head"] == head)]
    wait_s = float(tt.wait.sum()) / US
    proc_s = float(tt.proc.fillna(0).sum()) / US
    cases = pc.case_id.nunique()
    path = _typical_path(body)
    members = [m for m in row.members if m != head]
    acts = [head, *[a for a in path if a != head], *[m for m in members if m not in path]]
    known = int(row.same) + int(row.redo)
    split = (
        M_(
            "{redo} redone by someone else, {same} repeated by the same person",
            redo=share_text(int(row.redo) / known),
            same=share_text(int(row.same) / known),
        )
        if known
        else M_("resources not recorded")
    )
    per_case = float(pc.t_s.sum()) / max(cases, 1)
    loop_txt = " → ".join([head, *path, head]) if path else None
    if kind == "rework":
        title = M_(
            "'{activity}' is done again after a failed attempt: {repeats} times in {cases} cases",
            activity=head,
            repeats=count_text(int(row.repeats)),
            cases=count_text(cases),
        )
        evidence = M_(
            "{cases} cases do '{activity}' again right after an attempt the log records as failed "
            "({split}); the repeats add {time} per case.",
            cases=count_text(cases),
            activity=head,
            split=split,
            time=human_value(per_case),
        )
        scenario = Scenario(
            "cut_loop",
            {"activity": head, "loop_probability": round(p, 4), "target_probability": 0.0},
            M_("do '{activity}' right the first time (no immediate repeat)", activity=head),
        )
    elif kind == "customer_wait_loop":
        title = M_(
            "The customer is asked again: '{activity}' loops {repeats} times in {cases} cases",
            activity=head,
            repeats=count_text(int(row.repeats)),
            cases=count_text(cases),
        )
        figures = {
            "cases": count_text(cases),
            "time": human_value(per_case),
            "wait": human_value(wait_s / max(cases, 1)),
        }
        evidence = (
            M_(
                "{cases} cases go round '{loop}' with a request to the customer in the loop; "
                "each case loses {time}, {wait} of it waiting.",
                loop=loop_txt,
                **figures,
            )
            if loop_txt
            else M_(
                "{cases} cases go round '{activity}' again with a request to the customer in the loop; "
                "each case loses {time}, {wait} of it waiting.",
                activity=head,
                **figures,
            )
        )
        scenario = Scenario(
            "reduce_repeats",
            {
                "activity": head,
                "loop": [head, *path],
                "loop_probability": round(p, 4),
                "target_probability": round(min(p, 0.10), 4),
            },
            M_(
                "ask for everything at once (document checklist, digital upload) so the loop is rarely needed"
            ),
        )
    else:
        counted = {"returns": count_text(int(row.repeats)), "cases": count_text(cases)}
        title = (
            M_(
                "Cases go back to '{activity}' after '{previous}': {returns} returns in {cases} cases",
                activity=head,
                previous=path[-1],
                **counted,
            )
            if path
            else M_(
                "Cases go back to '{activity}': {returns} returns in {cases} cases", activity=head, **counted
            )
        )
        evidence = (
            M_(
                "{cases} cases go round '{loop}' ({split}); each case loses {time}.",
                cases=count_text(cases),
                loop=loop_txt,
                split=split,
                time=human_value(per_case),
            )
            if loop_txt
            else M_(
                "{cases} cases go round a loop back to '{activity}' ({split}); each case loses {time}.",
                cases=count_text(cases),
                activity=head,
                split=split,
                time=human_value(per_case),
            )
        )
        scenario = Scenario(
            "cut_loop",
            {
                "activity": head,
                "loop": [head, *path],
                "loop_probability": round(p, 4),
                "target_probability": 0.0,
            },
            M_("remove the cause of the return to '{activity}' (the loop is no longer taken)", activity=head),
        )
    return build_finding(
        ctx,
        kind=kind,
        title=title,
        activities=acts,
        per_case=pc[["case_id", "t_s"]],
        occurrences=int(pc.occ.sum()),
        staff_time_s=float(pc.staff_s.sum()),
        evidence=evidence,
        scenario=scenario,
        details={
            "repeats": int(row.repeats),
            "repeat": int(row.same),
            "redo": int(row.redo),
            "self_loops": int(row.self_loops),
            "min_self_distance": int(row.msd) if pd.notna(row.msd) else None,
            "loop_probability": p,
            "expected_visits": 1.0 / (1.0 - p) if p < 1 else None,
            "loop_body": [{"activity": a, "share": round(s, 4)} for a, s in body],
            "merged_activities": members,
            "waiting_s": wait_s,
            "processing_s": proc_s,
            **({"catalogue": "W4"} if kind == "customer_wait_loop" else {}),
        },
        detector=detector,
    )


def detect_rework(ctx: FindingContext, *, min_cases: int | None = None) -> list[Finding]:
    """Rework (repeats after a failed attempt) and loops (returns with a body), one finding per
    loop (module docstring)."""
    mc = min_cases_default(ctx) if min_cases is None else min_cases
    return _rework_findings(ctx, ("rework", "loop"), NAME, mc)


detect_rework.name = NAME  # type: ignore[attr-defined]


def detect_excess_follow_ups(ctx: FindingContext, *, min_cases: int | None = None) -> list[Finding]:
    """Follow-up contacts beyond the data-driven threshold (module docstring)."""
    mc = min_cases_default(ctx) if min_cases is None else min_cases
    per, tot = priced(ctx, ("excess_follow_up",))
    curves = follow_up_curves(ctx)
    out = []
    for head, pc in per.groupby("head"):
        head = str(head)
        cases = pc.case_id.nunique()
        if cases < mc:
            continue
        c = curves[head]
        k = c.threshold
        rates = {kk: (ok / reach if reach else None) for kk, (reach, ok) in c.curve.items()}
        s1, sk1 = rates.get(1), rates.get(k + 1)
        extra = int(pc.occ.sum())
        tt = tot[tot["head"] == head]
        wait_s = float(tt.wait.sum()) / US
        proc_s = float(tt.proc.fillna(0).sum()) / US
        exits = ", ".join(f"'{e}'" for e in c.favourable_exits[:3]) or M_("a favourable step")
        at_default = _at_threshold(ctx, head, DEFAULT_FOLLOW_UPS) if k != DEFAULT_FOLLOW_UPS else None
        if s1 is not None and sk1 is not None and c.source == "data":
            why = M_(
                "after {k} '{activity}', the next one is followed by {exits} in {later} of cases, "
                "against {first} for the first",
                k=k,
                activity=head,
                exits=exits,
                later=share_text(sk1),
                first=share_text(s1),
            )
        else:
            why = M_("beyond {k} '{activity}' ({source})", k=k, activity=head, source=c.source)
        out.append(
            build_finding(
                ctx,
                kind="excess_follow_up",
                title=M_(
                    "'{activity}' is repeated beyond {k}: {extra} extra in {cases} cases",
                    activity=head,
                    k=k,
                    extra=count_text(extra),
                    cases=count_text(cases),
                ),
                activities=[head],
                per_case=pc[["case_id", "t_s"]],
                occurrences=extra,
                staff_time_s=float(pc.staff_s.sum()),
                # the figures the finding carries (staff time in working time, customer time =
                # waiting + processing), so the sentence and the tables say the same
                evidence=M_(
                    "{why}; {cases} cases get {extra} more, costing {staff} of staff time and "
                    "{customer} of customer time in total.",
                    why=why,
                    cases=count_text(cases),
                    extra=count_text(extra),
                    staff=human_value(float(pc.staff_s.sum())),
                    customer=human_value(wait_s + proc_s),
                ),
                scenario=Scenario(
                    "limit_repeats",
                    {"activity": head, "max": k},
                    M_(
                        "stop after {k} '{activity}' (then a written reminder or closing the case)",
                        k=k,
                        activity=head,
                    ),
                ),
                details={
                    "catalogue": "W11",
                    "threshold": k,
                    "threshold_source": c.source,
                    "default_threshold": DEFAULT_FOLLOW_UPS,
                    "curve": {
                        str(kk): {"cases_reaching": r, "ended_favourably": o}
                        for kk, (r, o) in c.curve.items()
                    },
                    "favourable_exits": c.favourable_exits,
                    "at_default_threshold": at_default,
                    "waiting_s": wait_s,
                    "processing_s": proc_s,
                },
                detector=FOLLOW_UP_NAME,
            )
        )
    return out


def _at_threshold(ctx: FindingContext, activity: str, k: int) -> dict[str, float]:
    """What the excess would be with threshold ``k`` (for comparison with the data's)."""
    t = repeats(ctx).table
    e = t.filter((t.activity == activity) & (t.occ > k) & ~t.bounce)
    row = e.aggregate(n=e.count(), cases=e.case_idx.nunique(), t=(e.wait + e.cproc).sum()).to_pandas().iloc[0]
    return {
        "threshold": k,
        "occurrences": int(row.n),
        "cases": int(row.cases),
        "customer_time_s": float(row.t or 0) / US,
    }


detect_excess_follow_ups.name = FOLLOW_UP_NAME  # type: ignore[attr-defined]
