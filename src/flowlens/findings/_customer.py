"""Shared machinery of the customer-journey detectors (:mod:`flowlens.findings.journeys`,
:mod:`flowlens.findings.contacts`; docs/methods.md 13.9-13.11).

One instance table, built once per context in the engine, carries what those detectors need:
the customer issue and contact of every instance (:mod:`flowlens.analysis.journeys`), its
channel family and its activity groups; what only some instances need is kept apart or looked
up for them (counts of what happened earlier in the same contact, the issue's first step, the
waiting and processing time from the time model, the performer). Each detector marks the instances it
*anchors* on (the repeated check, the re-explanation, the first step of a repeat contact) and the
instance parts (waiting, processing) whose time it *claims*. A part claimed by several of these
detectors is priced once, by the most specific one (:data:`PRIORITY`), so the journey findings
never count the same second twice; the framework's lead-time cap handles overlaps with other
detectors.

Besides the groups of :class:`~flowlens.analysis.activity_groups.ActivityGroups`, the detectors
use six groups of their own (:data:`EXTRA_GROUPS`, English and Chinese defaults); a groups
file overrides any of them by name (``identity_check = ["Online ID Check"]``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.analysis.activity_groups import normalise
from flowlens.analysis.step_roles import is_staff
from flowlens.findings.model import Finding, Scenario
from flowlens.findings.signals import is_missing, party
from flowlens.i18n import M_, NM_, Message
from flowlens.relational import union_all
from flowlens.timing.model import case_slice, case_slices
from flowlens.units import Value, count_value, duration_value

if TYPE_CHECKING:
    import ibis

    from flowlens.findings.context import FindingContext

US = 1_000_000

#: Groups the journey detectors add to the activity groups (matched after normalisation).
EXTRA_GROUPS: dict[str, tuple[str, ...]] = {
    # Required identity checks (PBOC risk-based verification). Never flagged themselves, but a
    # later routine check repeats them (domain.md 6.5: "second staff member re-checks an ID
    # already verified online").
    "identity_check": (
        "Online ID Check",
        "Online Identity Check",
        "Face Verification",
        "Face Check",
        "Face Recognition",
        "Liveness Check",
        "Liveness Detection",
        "ID Document Check",
        "Check ID Document",
        "联网核查",
        "人脸识别",
        "人脸核验",
        "活体检测",
        "证件核验",
    ),
    # A risk trigger that justifies checking identity again (decoy D3).
    "step_up": (
        "Step-up Authentication",
        "Step Up Authentication",
        "Step-up Verification",
        "Strong Customer Authentication",
        "SCA Challenge",
        "OTP Challenge",
        "加强身份认证",
        "增强验证",
        "二次验证",
    ),
    # The customer gives documents or information (uploads, submissions, answers).
    "information_provided": (
        "Upload Documents",
        "Upload Document",
        "Upload Receipt",
        "Upload Receipt in Chat",
        "Customer Uploads Documents",
        "Customer Submits Documents",
        "Submit Documents",
        "Submit Supporting Documents",
        "Attach Documents",
        "Attach Supporting Documents",
        "Provide Documents",
        "Provide Information",
        "Customer Provides Information",
        "Documents Received",
        "Information Received",
        "上传材料",
        "提交材料",
        "补交材料",
        "客户上传材料",
        "客户提交材料",
        "客户补充信息",
        "提交证明材料",
        "会话中上传凭证",
    ),
    # A bot does not understand the customer (fallback).
    "bot_fallback": (
        "Intent Not Understood",
        "Not Understood",
        "Fallback",
        "Bot Fallback",
        "No Match",
        "Intent Not Recognised",
        "Intent Not Recognized",
        "未识别意图",
        "无法识别",
        "未理解",
        "兜底回复",
    ),
    # A bot or self-service leg hands the customer to a person.
    "handoff": (
        "Request Human Agent",
        "Request Human",
        "Request Agent",
        "Handoff",
        "Hand Off",
        "Handoff to Agent",
        "Escalate to Agent",
        "Escalate to Human",
        "Transfer to Human",
        "Transfer to Agent",
        "Zero Out",
        "转人工",
        "请求人工服务",
        "请求人工",
        "人工转接",
    ),
    # The bank tells a customer who started remotely to come to a branch.
    "branch_required": (
        "Branch Visit Required",
        "Branch Visit Needed",
        "Visit Branch Required",
        "In-person Visit Required",
        "In-person Verification Required",
        "Referred to Branch",
        "Refer to Branch",
        "需到网点办理",
        "需到网点",
        "请到网点办理",
        "需临柜办理",
    ),
}

#: Groups of :class:`ActivityGroups` the detectors read.
BASE_GROUPS = (
    "verification",
    "information_request",
    "repeat_information",
    "transfer",
    "abandonment",
    "queue",
    "handled",
)

#: Channel families where a customer serves themselves or talks remotely.
DIGITAL_FAMILIES = ("app", "web", "chat", "video")
BRANCH_FAMILY = "branch"
CHAT_FAMILY = "chat"

#: Which finding prices a part claimed by several (lower = more specific).
PRIORITY = {
    "repeated_check": 1,
    "context_loss": 2,
    "loop": 3,
    "repeated_request": 4,
    "reentry": 5,
    "branch_trip": 6,
    "repeat_contact": 7,
}


def detector_named(name: str) -> Callable[[Any], Any]:
    """Decorator: the registry lists the detector under ``name``."""

    def wrap(fn: Any) -> Any:
        fn.name = name
        return fn

    return wrap


@dataclass
class Steps:
    """The instance table of the journey detectors (module docstring)."""

    #: One row per instance: eid, case_idx, activity, s, e, g (the activity's groups,
    #: :func:`group_bits`), fam (channel family), issue_idx, kfam (the contact's family), kno
    #: (the contact key as an integer: NULL no contact, 0 the whole case or a blank contact id,
    #: then the case's contact ids in their text order, numbered among the case's distinct
    #: keys, so the ids may start at 2 after a blank one), kid (the contact's key: its first eid; one integer per
    #: case and contact, NULL key included) and the g_<group> flags (:func:`with_groups`,
    #: unpacked from g when read). Narrow: what only some steps need is in :attr:`counts` and
    #: :attr:`first`, or looked up for them: :func:`with_times`, :func:`with_performer`
    table: ibis.Table
    #: the running counts in the contact of the steps that read them (identity checks,
    #: repeated information, bot fallbacks; :func:`with_counts`): n_eid, n_<group>_b counts
    #: earlier in the contact, n_<group>_u counts up to the step
    counts: ibis.Table
    #: one row per issue (:func:`with_issue`): a_issue, ifam/iact (the issue's first family and
    #: activity), i_first_eid, i_first_case (its first step)
    first: ibis.Table
    #: one row per resource of the log (:func:`with_performer`): m_res, pty (the performer's
    #: party: customer, organisation, external), p_staff; None when the log records none
    people: ibis.Table | None
    #: some resource of the log is staff
    any_staff: bool
    #: group -> activities of the log in it
    groups: dict[str, list[str]]
    has_channel: bool
    has_contact: bool
    has_customer: bool
    window_us: int
    #: case_id -> lead time (s), for the per-case cap
    lead_s: dict[str, float] = field(repr=False, default_factory=dict)
    #: computed claims per kind (filled by :func:`price`)
    priced: dict[str, pd.DataFrame] = field(repr=False, default_factory=dict)
    claims: dict[str, Any] = field(repr=False, default_factory=dict)


def group_bits(members: Mapping[str, list[str]], activity: str) -> int:
    """The groups of ``members`` (:func:`group_members`) ``activity`` is in, as one integer: bit
    i for the i-th group.

    >>> group_bits({"a": ["x"], "b": [], "c": ["x", "y"]}, "x")
    5
    """
    return sum(1 << i for i, acts in enumerate(members.values()) if activity in acts)


def with_groups(y: ibis.Table, members: Mapping[str, list[str]]) -> ibis.Table:
    """``y`` (with the column ``g`` of :func:`group_bits`) with a flag ``g_<group>`` per group
    of ``members``: its activity is in the group. Unpacked where read rather than stored: a bit
    test costs less than writing (and, on a large log, compressing) a column per group."""
    import ibis

    return y.mutate(
        **{
            f"g_{name}": ((y.g & (1 << i)) != 0) if acts else ibis.literal(False)
            for i, (name, acts) in enumerate(members.items())
        }
    )


def with_counts(st: Steps, y: ibis.Table) -> ibis.Table:
    """``y`` (rows of ``st.table``) with their running counts (:attr:`Steps.counts`; NULL on
    the steps that do not read them)."""
    c = st.counts
    return y.left_join(c, y.eid == c.n_eid).drop("n_eid")


def with_times(ctx: FindingContext, y: ibis.Table) -> ibis.Table:
    """``y`` (rows with an eid) with the step's waiting and processing from the time model
    (wait_us, proc_us; 0 where it has none), looked up for ``y``'s rows. After the customer's
    clock stopped nothing is customer time (methods 6.5): no waiting there (the time model
    clips it), and the processing is not claimed."""
    import ibis

    ti = ctx.tm.instances
    t = ti.select(t_eid="eid", t_wait=ti.wait_us, t_proc=ti.proc_us, t_after=ti.after_stop)
    y = y.left_join(t, y.eid == t.t_eid)
    return y.mutate(
        wait_us=y.t_wait.fill_null(0),
        proc_us=ibis.ifelse(y.t_after.fill_null(False), 0, y.t_proc.fill_null(0)),
    ).drop("t_eid", "t_wait", "t_proc", "t_after")


def with_performer(ctx: FindingContext, st: Steps, y: ibis.Table) -> ibis.Table:
    """``y`` (rows with an eid) with the step's performer, looked up for ``y``'s rows: pty (its
    party) and staff (a person of the organisation; NULL where no resource is recorded when
    the log has staff at all, else False)."""
    import ibis

    ev = ctx.log.table.select(p_eid="eid", p_res="resource")
    y = y.left_join(ev, y.eid == ev.p_eid)
    pm = st.people
    if pm is None:
        y = y.mutate(pty=ibis.null("string"), staff=ibis.literal(False))
        return y.drop("p_eid", "p_res")
    y = y.left_join(pm, y.p_res == pm.m_res)
    y = y.mutate(staff=y.p_staff if st.any_staff else ibis.literal(False))
    return y.drop("p_eid", "p_res", "m_res", "p_staff")


def with_issue(st: Steps, y: ibis.Table) -> ibis.Table:
    """``y`` (rows of ``st.table``) with their issue's first step (:attr:`Steps.first`)."""
    f = st.first
    return y.left_join(f, y.issue_idx == f.a_issue).drop("a_issue")


def group_members(ctx: FindingContext, activities: Iterable[str]) -> dict[str, list[str]]:
    """Per group (base and extra), the log's activities in it."""
    g = ctx.activity_groups
    acts = list(activities)
    base = g.members(acts)
    out = {name: base.get(name, []) for name in BASE_GROUPS}
    for name, default in EXTRA_GROUPS.items():
        names = {normalise(n) for n in g.groups.get(name, default)}
        out[name] = sorted(a for a in acts if normalise(a) in names)
    return out


def steps(ctx: FindingContext) -> Steps:
    """The instance table for ``ctx`` (built once per context)."""
    cache = ctx.__dict__.setdefault("_journey_findings", {})
    if "steps" not in cache:
        cache["steps"] = _build(ctx)
    return cache["steps"]


def _first_of_issue(t: ibis.Table) -> ibis.Table:
    """The first row of each issue of ``t`` (issue_idx, s, eid, ...): the earliest ``s``, then
    the lowest eid. Two hash aggregates instead of a window by issue (which sorts every row)."""
    m = t.group_by("issue_idx").aggregate(m_s=t.s.min()).rename(m_issue="issue_idx")
    c = t.join(m, [t.issue_idx == m.m_issue, t.s == m.m_s])
    e = c.group_by("issue_idx").aggregate(m_eid=c.eid.min())
    return t.join(e, t.eid == e.m_eid).drop("m_eid", "issue_idx_right")


def _build(ctx: FindingContext) -> Steps:
    import ibis

    from flowlens.analysis.journeys import detect_column
    from flowlens.timing.enablement import drop_tables

    log = ctx.log
    t = log.table
    opts = ctx.journey_options
    roles = {r: detect_column(log, r, opts.get(r, "auto")) for r in ("customer", "channel", "contact")}
    activities = t.select("activity").distinct().to_pandas()["activity"].tolist()
    members = group_members(ctx, activities)
    j = ctx.journeys
    window_s = float(j.window_s) if j is not None else 7 * 86400.0

    # The base and steps tables are stored a slice of cases at a time (the time model's
    # slices): each slice is written (and compressed on a large log) before the next, where the
    # whole log's wide rows in one statement were held uncompressed (10^6 events under 100 MB:
    # fl_jsteps +0.23 GB of spill; methods 4.1). What spans cases (an issue's first step and
    # channel family) is computed from the stored base and looked up by issue.
    slices = case_slices(log)
    x = t.select(
        "eid",
        "case_idx",
        "activity",
        "resource",
        s=t.start_us.fill_null(t.end_us),
        e=t.end_us,
        chan=t[roles["channel"]].cast("string") if roles["channel"] else ibis.null("string"),
        contact=t[roles["contact"]].cast("string") if roles["contact"] else ibis.null("string"),
    )
    # The groups of each activity as one integer (with_groups unpacks it where read): a small
    # mapping of the distinct activities, joined once
    gm = pd.DataFrame({"m_act": activities, "g": [group_bits(members, a) for a in activities]})
    gm = ibis.memtable(gm, schema={"m_act": "string", "g": "int32"})
    x = x.left_join(gm, x.activity == gm.m_act).drop("m_act")
    # Channel families (a small mapping of the distinct values).
    if roles["channel"]:
        values = x.select("chan").distinct().to_pandas()["chan"].dropna().tolist()
        fam = pd.DataFrame(
            {"m_chan": values, "fam": [ctx.activity_groups.channel_family(v) for v in values]}, dtype=object
        )
        if len(fam):
            mt = ibis.memtable(fam, schema={"m_chan": "string", "fam": "string"})
            x = x.left_join(mt, x.chan == mt.m_chan).drop("m_chan")
        else:
            x = x.mutate(fam=ibis.null("string"))
    else:
        x = x.mutate(fam=ibis.null("string"))
    # Contacts as in the customer's view (methods 9.2): contact ids scoped by case; a case
    # without ids is one contact; instances without an id in a case with ids are no contact.
    # Whether a case has ids and which issue it belongs to are properties of the case: one
    # table per case, joined to the instances once.
    hc = None
    if roles["contact"]:
        # the cases with contact ids: an aggregate (a window by case sorts every row)
        hc = x.filter(x.contact.notnull()).select(h_case="case_idx").distinct()
        hc = hc.mutate(h_has=ibis.literal(True))
    if j is not None and j.case_issue is not None:
        cases = j.case_issue.select(c_case="case_idx", issue_idx="issue_idx")
        anon = _placeholder_cases(log, roles["customer"])
        if anon is not None:
            # a placeholder customer (unknown callers all booked as "0") links nothing: each of
            # its cases is an issue of its own
            cases = cases.left_join(anon, cases.c_case == anon.a_case).drop("a_case")
            cases = cases.mutate(
                issue_idx=ibis.ifelse(cases.anon.fill_null(False), -cases.c_case - 1, cases.issue_idx)
            ).drop("anon")
        if hc is not None:
            cases = cases.left_join(hc, cases.c_case == hc.h_case).drop("h_case")
        # (the cases of the customer's view: an inner join)
        x = x.join(cases, x.case_idx == cases.c_case).drop("c_case")
    else:
        if hc is not None:
            x = x.left_join(hc, x.case_idx == hc.h_case).drop("h_case")
        x = x.mutate(issue_idx=x.case_idx)
    if hc is not None:
        x = x.mutate(ck=ibis.ifelse(x.h_has.fill_null(False), x.contact, ibis.literal(""))).drop("h_has")
    else:
        x = x.mutate(ck=ibis.literal(""))
    # stored once: the contact, issue and running-count queries below all read it (left as an
    # expression, each of them computed it again); the channel and contact values are read no
    # further (their family and the contact key ck are). The times and the performer are
    # looked up for the steps that need them (with_times, with_performer), not carried here.
    order = [c for c in x.columns if c not in ("chan", "contact", "resource", "fam", "ck", "issue_idx")]
    x = x.select(*order, "fam", "ck", "issue_idx")
    base_parts = [ctx.store(case_slice(x, r), prefix="fl_jbase") for r in slices]
    base = union_all(base_parts)
    # The performer's party (customer, organisation, external) and whether they are staff: one
    # small mapping of the distinct values (an IN list of the staff would be a second pass)
    res = t.select("resource").distinct().to_pandas()["resource"].dropna().tolist()
    staff = {r for r in res if is_staff(r)}
    pm = None
    if res:
        people = pd.DataFrame(
            {"m_res": res, "pty": [party(r) for r in res], "p_staff": [r in staff for r in res]}, dtype=object
        )
        pm = ibis.memtable(people, schema={"m_res": "string", "pty": "string", "p_staff": "boolean"})

    # Contact context, one aggregate per contact (case, contact key): its key, the first eid
    # (kid: the windows below partition by one integer, not by the case and a text key), its
    # channel family (the first instance's that has one) and kno, the contact key as an
    # integer that sorts as the text does within the case (0: the whole case, ck ""). Instances
    # without an id in a case with ids (ck NULL) are one partition of their case, and of no
    # contact's family and no kno.
    kk = base.group_by(["case_idx", "ck"]).aggregate(
        kid=base.eid.min(), kfam=base.fam.argmin(base.eid, where=base.fam.notnull())
    )
    rank = ibis.row_number().over(ibis.window(group_by=kk.case_idx, order_by=kk.ck)) + 1
    kk = kk.select(
        k_case="case_idx",
        k_ck="ck",
        kid="kid",
        kfam=ibis.ifelse(kk.ck.isnull(), ibis.null("string"), kk.kfam),
        kno=ibis.cases((kk.ck.isnull(), ibis.null("int64")), (kk.ck == "", 0), else_=rank),
    )
    # stored (one row per contact): the steps and the running counts below read it, and as an
    # expression each reader aggregated every instance again
    kk = ctx.store(kk, prefix="fl_jcontacts")

    def with_contact(y: ibis.Table) -> ibis.Table:
        """``y`` (rows of ``base``) with its contact's kid, kfam and kno, in place of ck: the one
        join on the text key."""
        y = y.left_join(kk, (y.case_idx == kk.k_case) & y.ck.identical_to(kk.k_ck))
        return y.drop("k_case", "k_ck", "ck")

    # The issue's first channel family and first step (by start, then case order). An issue
    # spans cases, so these are computed apart on a narrow projection of the stored base table
    # and stored, one row per issue, for the detectors that read them (a few of the steps:
    # :func:`with_issue`): left inside the per-event query, a window by issue would stop a
    # slice by case (the fallback under a memory limit, Engine.materialize) from reaching the
    # data, and every slice would redo it.
    narrow = base.select("eid", "case_idx", "issue_idx", "s", "fam", "activity")
    f = _first_of_issue(narrow.filter(narrow.fam.notnull())).select(f_issue="issue_idx", ifam="fam")
    a = _first_of_issue(narrow)
    a = a.select(a_issue="issue_idx", iact="activity", i_first_eid="eid", i_first_case="case_idx")
    # (every issue has a first step, not every one a channel family)
    first = a.left_join(f, a.a_issue == f.f_issue)
    first = first.select("a_issue", "ifam", "iact", "i_first_eid", "i_first_case")
    first = ctx.store(first, prefix="fl_jfirst")

    def steps_of(b: ibis.Table) -> ibis.Table:
        """The rows of the steps table of the cases of ``b`` (a slice of cases of ``base``)."""
        x = with_contact(b)
        # the columns in their documented order (Steps.table)
        return x.select(*[c for c in x.columns if c != "kid"], "kid")

    def counts_of(b: ibis.Table) -> ibis.Table:
        """The running counts (Steps.counts) of the steps of ``b`` that read them."""
        b = with_groups(b, members)
        reads = (
            b.g_verification | b.g_identity_check | b.g_step_up | b.g_repeat_information | b.g_bot_fallback
        )
        rd = with_contact(b.filter(reads)).select(
            "g_transfer", "g_handoff", "g_bot_fallback", "g_handled", r_eid="eid", r_kid="kid"
        )
        cb = b.filter(
            b.g_information_provided
            | b.g_step_up
            | b.g_transfer
            | b.g_handoff
            | b.g_bot_fallback
            | b.g_handled
        )
        cb = with_contact(cb)
        counted = {
            "info": cb.g_information_provided,
            "step_up": cb.g_step_up,
            "transfer": cb.g_transfer,
            "handoff": cb.g_handoff,
            "fallback": cb.g_bot_fallback,
            "handled": cb.g_handled,
            "handoff_u": cb.g_handoff | (cb.g_handled & (cb.kfam == CHAT_FAMILY)),
        }
        cn = cb.select(c_eid="eid", c_kid="kid", **{f"c_{k}": f.cast("int64") for k, f in counted.items()})
        cn = cn.filter(ibis.or_(*(cn[f"c_{k}"] == 1 for k in counted)))
        j = rd.join(cn, [rd.r_kid == cn.c_kid, cn.c_eid <= rd.r_eid])
        cs = j.group_by("r_eid").aggregate(**{f"s_{k}": j[f"c_{k}"].sum() for k in counted})
        cs = cs.rename(s_eid="r_eid")
        rd = rd.left_join(cs, rd.r_eid == cs.s_eid)

        def upto(k: str) -> ibis.Value:
            return rd[f"s_{k}"].fill_null(0)

        return rd.select(
            n_eid="r_eid",
            n_info_u=upto("info"),
            n_step_up_u=upto("step_up"),
            n_transfer_b=upto("transfer") - rd.g_transfer.fill_null(False).cast("int64"),
            n_handoff_b=upto("handoff") - rd.g_handoff.fill_null(False).cast("int64"),
            n_fallback_b=upto("fallback") - rd.g_bot_fallback.fill_null(False).cast("int64"),
            n_handled_b=upto("handled") - rd.g_handled.fill_null(False).cast("int64"),
            n_transfer_u=upto("transfer"),
            n_handoff_u=upto("handoff_u"),
        )

    parts = [ctx.store(steps_of(case_slice(base, r)), prefix="fl_jsteps") for r in slices]
    counts = [ctx.store(counts_of(case_slice(base, r)), prefix="fl_jcounts") for r in slices]
    # the per-contact look-up and the base are in the steps and counts tables now
    drop_tables(log, kk, *base_parts)
    cases = ctx.tm.cases.select("case_id", "lead_us").to_pandas()
    return Steps(
        table=with_groups(union_all(parts), members),
        counts=union_all(counts),
        first=first,
        people=pm,
        any_staff=bool(staff),
        groups=members,
        has_channel=roles["channel"] is not None,
        has_contact=roles["contact"] is not None,
        has_customer=j is not None,
        window_us=round(window_s * US),
        lead_s=dict(zip(cases["case_id"].astype(str), cases["lead_us"].astype(float) / US, strict=True)),
    )


#: A customer id that stands for "unknown": blank, a placeholder word, or all zeros / -1.
PLACEHOLDER_ID = re.compile(
    r"^(0+|-1|0+\.0+|anonymous|anon|guest|unidentified|匿名|未知客户)$", re.IGNORECASE
)
#: One customer value holding this share of a log's cases is a placeholder, not a customer.
PLACEHOLDER_SHARE = 0.05
MIN_CUSTOMERS = 100


def _placeholder_cases(log: Any, column: str | None) -> ibis.Table | None:
    """Cases (a_case, anon) whose customer value is a placeholder: a missing-like value
    ("unknown", "0", "-1", "anonymous") or, among at least 100 customers, one value that holds
    >= 5 % of all cases (BPIC-style exports book every unidentified caller under one id)."""
    import ibis

    if column is None:
        return None
    t = log.table
    per = t.group_by("case_idx").aggregate(cv=t[column].cast("string").max())
    counts = per.group_by("cv").aggregate(n=per.count()).to_pandas()
    n_cases = int(counts.n.sum())
    many = len(counts) >= MIN_CUSTOMERS
    bad = [
        v
        for v, n in zip(counts.cv, counts.n, strict=True)
        # cases without a customer value come back as NaN (pandas), not None: they are no
        # placeholder, and a NaN in the list failed the engine's IN (a cast to DOUBLE)
        if pd.notna(v)
        and (
            is_missing(v)
            or PLACEHOLDER_ID.match(str(v).strip())
            or (many and n >= PLACEHOLDER_SHARE * n_cases and n > 1)
        )
    ]
    if not bad:
        return None
    a = per.filter(per.cv.isin(bad))
    return a.select(a_case="case_idx", anon=ibis.literal(True))


def repeat_class(x: ibis.Table) -> ibis.Value:
    """Why a customer repeats themselves (a repeat_information or bot-fallback step), from what
    happened earlier in the same contact, first match wins:

    * ``bot``: a bot fallback step, or a repeat after one, or in a chat contact before any
      person took it (a doom loop, W8);
    * ``transfer``: after a transfer step (cold-transfer re-explanation, W9);
    * ``handoff``: after a handoff step, or in a chat contact after a person took it (context
      lost in a bot-to-human handoff, W8);
    * ``switch``: in another channel family than the one its contact (or its issue) started in
      (re-entry after a channel switch, W2);
    * ``same``: none of these.
    """
    import ibis

    chat = x.kfam == CHAT_FAMILY
    return ibis.cases(
        (x.g_bot_fallback, "bot"),
        (x.n_transfer_b > 0, "transfer"),
        ((x.n_handoff_b > 0) | (chat & (x.n_handled_b > 0)), "handoff"),
        ((x.n_fallback_b > 0) | chat, "bot"),
        (
            x.fam.notnull()
            & ((x.kfam.notnull() & (x.fam != x.kfam)) | (x.ifam.notnull() & (x.fam != x.ifam))),
            "switch",
        ),
        else_="same",
    )


# -- claims and prices ------------------------------------------------------------------------
#: Columns of a claim table: eid, kind, g1, g2, g3 (the finding's key), part ("both", "wait",
#: "proc", or "own": :func:`claim`), anchor (the instance counts as one occurrence).
CLAIM_COLUMNS = ("eid", "kind", "g1", "g2", "g3", "part", "anchor")


def claim(
    tbl: ibis.Table, kind: str, g1: Any, g2: Any = "", g3: Any = "", *, part: Any = "own", anchor: Any = True
) -> ibis.Table:
    """Claims of ``tbl``'s instances for one kind of finding (see :data:`CLAIM_COLUMNS`).

    ``part="own"`` (default, for a step that would be removed) claims its processing, and its
    waiting when that is its own (:func:`_own_parts`); "both", "wait" or "proc" claim as said."""
    import ibis

    def lit(v: Any) -> ibis.Value:
        return v if isinstance(v, ibis.Value) else ibis.literal(v)

    return tbl.select(
        eid=tbl.eid,
        kind=ibis.literal(kind),
        g1=lit(g1).cast("string").fill_null(""),
        g2=lit(g2).cast("string").fill_null(""),
        g3=lit(g3).cast("string").fill_null(""),
        part=lit(part).cast("string"),
        anchor=lit(anchor).cast("boolean"),
    )


def price(ctx: FindingContext, st: Steps, kind: str) -> pd.DataFrame:
    """Per (g1, g2, g3, case_id) of ``kind``: customer time ``t_s`` (of which waiting
    ``wait_s``), staff time ``staff_s``, ``occurrences`` (anchors) and ``anchor_wait_s`` (the
    waiting before the anchors), in seconds.

    All kinds' claims are resolved together, once per context: a part claimed by a more
    specific kind (:data:`PRIORITY`) is priced there only."""
    if "_priced" not in st.priced:
        st.priced["_priced"] = _resolve(ctx, st)
    df = st.priced["_priced"]
    return df[df["kind"] == kind].drop(columns="kind").reset_index(drop=True)


_PRICED_COLUMNS = [
    "kind",
    "g1",
    "g2",
    "g3",
    "case_id",
    "t_s",
    "wait_s",
    "staff_s",
    "occurrences",
    "anchor_wait_s",
]


def _resolve(ctx: FindingContext, st: Steps) -> pd.DataFrame:
    import ibis

    from flowlens.findings import contacts, journeys

    builders: dict[str, Callable[[FindingContext, Steps], ibis.Table | None]] = {
        **journeys.CLAIM_BUILDERS,
        **contacts.CLAIM_BUILDERS,
    }
    for k in sorted(builders, key=lambda k: PRIORITY[k]):
        if k not in st.claims:
            st.claims[k] = builders[k](ctx, st)
    parts = [c for c in st.claims.values() if c is not None]
    if not parts:
        return pd.DataFrame(columns=_PRICED_COLUMNS)
    allc = parts[0]
    for p in parts[1:]:
        allc = allc.union(p)
    # stored once: the occurrences and both parts read it (as an expression, every claim
    # builder's query ran once per reader)
    allc = _own_parts(ctx.log.table, allc)
    allc = ctx.store(allc.mutate(prio=_prio_expr(allc.kind)), prefix="fl_jclaims")
    # grouped by the case's integer key (its id is looked up once the claims are summed)
    by = ["kind", "g1", "g2", "g3", "case_idx"]
    # the claimed steps' case, times and performer, looked up once for them alone
    ce = allc.select("eid").distinct()
    sc = st.table.select(c_eid="eid", case_idx="case_idx")
    ce = ce.join(sc, ce.eid == sc.c_eid).drop("c_eid")
    tb = ctx.store(with_performer(ctx, st, with_times(ctx, ce)), prefix="fl_jclaimed")
    tb = tb.select("eid", "case_idx", "wait_us", "proc_us", "staff")
    # Occurrences: the anchors (before the parts are shared out).
    anchors = allc.filter(allc.anchor).select("eid", "kind", "g1", "g2", "g3").distinct()
    at = anchors.join(tb, "eid")
    ids = ctx.tm.cases.select(i_case="case_idx", case_id="case_id")

    def with_id(t: ibis.Table) -> ibis.Table:
        """The sums ``t`` by case with the case's id (looked up for the claimed cases)."""
        t = t.join(ids, t.case_idx == ids.i_case)
        return t.drop("i_case")

    occ = with_id(at.group_by(by).aggregate(occurrences=at.count(), aw_us=at.wait_us.sum())).to_pandas()
    # Explode "both" into a waiting and a processing part; each part goes to one claim.
    w = allc.filter(allc.part != "proc").mutate(p=ibis.literal("wait"))
    pr = allc.filter(allc.part != "wait").mutate(p=ibis.literal("proc"))
    ex = w.union(pr)
    rk = ibis.window(group_by=[ex.eid, ex.p], order_by=[ex.prio, ex.g1, ex.g2, ex.g3])
    ex = ex.mutate(rn=ibis.row_number().over(rk))
    m = ex.filter(ex.rn == 0).join(tb, "eid")
    val = ibis.ifelse(m.p == "wait", m.wait_us, m.proc_us)
    stf = ibis.ifelse((m.p == "proc") & m.staff, m.proc_us, 0)
    per = m.group_by(by).aggregate(
        t_us=val.sum(), w_us=ibis.ifelse(m.p == "wait", val, 0).sum(), staff_us=stf.sum()
    )
    per = with_id(per).to_pandas()
    if per.empty and occ.empty:
        return pd.DataFrame(columns=_PRICED_COLUMNS)
    on = [*by, "case_id"]
    per[on] = per[on].astype(object)
    occ[on] = occ[on].astype(object)
    df = per.merge(occ, on=on, how="outer")
    df = df.assign(
        case_id=df["case_id"].astype(str),
        t_s=df["t_us"].fillna(0).astype(float) / US,
        wait_s=df["w_us"].fillna(0).astype(float) / US,
        staff_s=df["staff_us"].fillna(0).astype(float) / US,
        occurrences=df["occurrences"].fillna(0).astype(int),
        anchor_wait_s=df["aw_us"].fillna(0).astype(float) / US,
    )
    keys = [*by[:-1], "case_id"]
    df = df.sort_values(keys, kind="stable").reset_index(drop=True)  # fixed order: same sums every run
    # Per case, all journey findings together never more than the case's lead time: steps that
    # run in parallel (an agent's wrap-up during the next agent's call) would otherwise count
    # the same stretch of the customer's time twice; such cases are scaled down evenly.
    lead = df["case_id"].map(st.lead_s).astype(float).fillna(np.inf).to_numpy()
    t = df["t_s"].to_numpy()
    total = df.groupby("case_id")["t_s"].transform("sum").to_numpy()
    scale = np.where(total > lead, lead / np.where(total > 0, total, 1.0), 1.0)
    df["t_s"] = t * scale
    df["wait_s"] = df["wait_s"].to_numpy() * scale
    return df[_PRICED_COLUMNS].sort_values(keys).reset_index(drop=True)


def _own_parts(events: ibis.Table, claims: ibis.Table) -> ibis.Table:
    """``claims`` with each part "own" made "both" when the wait before the step is its own,
    "proc" otherwise. The wait is its own when the next step of the case is someone else's
    (or there is none, or either performer is not recorded): removing the step removes that
    queue; otherwise the wait moves on to the next step and is not saved. The next step is the
    instance eid + 1 (relational.EID_STRIDE): looked up in ``events`` (the log's table) for the
    claimed steps alone, not carried on every step."""
    import ibis

    cur = events.select(o_eid="eid", o_res="resource")
    nxt = events.select(q_eid=events.eid - 1, q_res="resource")
    c = claims.left_join(cur, claims.eid == cur.o_eid)
    c = c.left_join(nxt, c.eid == nxt.q_eid)
    own = c.o_res.isnull() | c.q_eid.isnull() | c.q_res.isnull() | (c.o_res != c.q_res)
    part = ibis.ifelse(c.part == "own", ibis.ifelse(own, "both", "proc"), c.part)
    return c.mutate(part=part).select(*claims.columns)


def _prio_expr(kind: ibis.Value) -> ibis.Value:
    import ibis

    expr = ibis.literal(99)
    for k, p in PRIORITY.items():
        expr = ibis.ifelse(kind == k, p, expr)
    return expr


# -- findings ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    """What a detector says about one group of its claims."""

    title: str
    activities: tuple[str, ...]
    evidence: str
    scenario: Scenario
    details: Mapping[str, Any] = field(default_factory=dict)
    resources: tuple[str, ...] = ()
    #: the activity whose regulatory status decides the scenario (default: the first one)
    checked: str | None = None
    #: the finding removes only a *repeat* of a step required once (the first stays): the
    #: allow-list does not turn it into "make it faster"; its reason is kept in the details
    repeat_of_required: bool = False


def findings(
    ctx: FindingContext,
    kind: str,
    detector: str,
    priced: pd.DataFrame,
    describe: Callable[[tuple[str, str, str], pd.DataFrame], Spec | None],
) -> list[Finding]:
    """One finding per (g1, g2, g3) group of ``priced``; ``describe`` words it (or drops it)."""
    from flowlens.findings.rank import bootstrap_total_ci

    out: list[Finding] = []
    if priced.empty:
        return out
    for key, grp in priced.groupby(["g1", "g2", "g3"], sort=True):
        grp = grp[grp["occurrences"] > 0]
        if grp.empty:
            continue
        spec = describe((str(key[0]), str(key[1]), str(key[2])), grp)
        if spec is None:
            continue
        grp = grp.sort_values(["t_s", "case_id"], ascending=[False, True])
        per = dict(zip(grp["case_id"], grp["t_s"].astype(float), strict=True))
        vals = grp["t_s"].to_numpy(dtype=float)
        checked = spec.checked or (spec.activities[0] if spec.activities else "")
        reason = ctx.allow.match(checked) if checked else None
        scenario = spec.scenario
        details = dict(spec.details)
        if reason is not None and spec.repeat_of_required:
            # required once, not twice: the first check stays, the repeat is the waste
            details["required_once"] = reason
            reason = None
        if reason is not None:
            scenario = Scenario(
                "automate",
                {"activity": checked},
                M_("required ({reason}): make it faster, do not remove it", reason=reason),
            )
        ci_key = "|".join((kind, detector, *spec.activities, "#", *key))
        out.append(
            Finding(
                kind=kind,
                title=spec.title,
                activities=spec.activities,
                case_ids=tuple(grp["case_id"]),
                occurrences=int(grp["occurrences"].sum()),
                customer_time_s=float(vals.sum()),
                customer_time_ci=bootstrap_total_ci(vals, seed=ctx.seed, resamples=ctx.resamples, key=ci_key),
                staff_time_s=float(grp["staff_s"].sum()),
                evidence=spec.evidence,
                scenario=scenario,
                resources=spec.resources,
                regulatory=reason is not None,
                allow_reason=reason,
                per_case_s=per,
                details={
                    **details,
                    "waiting_s": float(grp["wait_s"].sum()),
                    "processing_s": float((grp["t_s"] - grp["wait_s"]).clip(lower=0).sum()),
                },
                detector=detector,
            )
        )
    return out


def fmt_n(n: float) -> str:
    """Thousands separators: ``fmt_n(1240) == '1,240'``."""
    return f"{int(n):,}"


def count_text(n: float) -> Value:
    """A count in a finding's sentence: :func:`fmt_n` in English, 万 in Chinese."""
    return count_value(int(n), fmt_n(n))


def plural(n: float, word: str) -> Message:
    """``plural(1, "case") == '1 case'``, ``plural(1240, "case") == '1,240 cases'`` (``word``:
    one of the counted things below, so the phrase is translated with its plural forms)."""
    count = count_text(n)
    if word == "contact":
        return NM_("{count} contact", "{count} contacts", int(n), count=count)
    if word == "case":
        return NM_("{count} case", "{count} cases", int(n), count=count)
    if word == "customer":
        return NM_("{count} customer", "{count} customers", int(n), count=count)
    raise ValueError(f"plural: no message for {word!r}")


def quote(name: str) -> str:
    return f"'{name}'"


def median_min(grp: pd.DataFrame) -> float:
    """Median customer time per affected case, in minutes."""
    return float(np.median(grp["t_s"].to_numpy(dtype=float))) / 60.0 if len(grp) else 0.0


def cost(grp: pd.DataFrame) -> Message:
    """The time a finding costs, in words: the steps' own time per case (median) and the
    waiting they add in all.

    >>> cost(pd.DataFrame({"t_s": [600.0, 4200.0], "wait_s": [0.0, 3600.0]}))
    '10 min of steps per case (median), 1.0 h of waiting added in all'
    """
    own = (grp["t_s"] - grp["wait_s"]).clip(lower=0).to_numpy(dtype=float)
    steps = duration_value(float(np.median(own)) if len(own) else 0.0)
    wait = float(grp["wait_s"].sum())
    if wait > 0:
        return M_(
            "{steps} of steps per case (median), {wait} of waiting added in all",
            steps=steps,
            wait=duration_value(wait),
        )
    return M_("{steps} of steps per case (median)", steps=steps)
