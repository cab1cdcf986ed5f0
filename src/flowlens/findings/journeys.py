"""Customer-journey wastes: repeated identity checks, requests for what the customer already
gave, re-entry after a channel switch, unnecessary branch trips (docs/methods.md 13.9, 13.10).

Built on the customer's view (:mod:`flowlens.analysis.journeys`: issues across cases and
contacts, channel families, activity groups) and the time model. All four detectors read one
instance table (:mod:`flowlens.findings._customer`) and price a finding as the waiting plus
processing of the steps it would remove, each second counted by one finding only.

* :func:`detect_repeated_checks` (``repeated_check``, domain W1): a verification step in a
  contact whose identity was already checked in that contact (by a verification step or a
  required check such as an online ID check or face verification), and a required check done a
  second time in the contact, each with nothing in between that needs it: no step-up trigger,
  no new documents or information from the customer, no switch to another customer channel, no
  other party (the customer, an external party) doing it. Grouped by the step, the earlier check
  and what lies between them (nothing, a transfer, a bot-to-human handoff). A required check is
  never flagged the first time; its second time is (required once, not twice), with the lever
  "use the first result" rather than a removal of the step.
* :func:`detect_repeated_requests` (``repeated_request``, W2): the first request for documents
  or information in an issue, when the customer had already given documents or information in
  that issue before any request ("requests for documents already uploaded").
* :func:`detect_reentry` (``reentry``, W2): the customer re-enters data (a repeat_information
  step) or repeats the issue's first step in another channel family than the one the issue
  started in, not because of a transfer or handoff in the same contact.
* :func:`detect_branch_trips` (``branch_trip``, W3): a customer who started remotely is told to
  come to a branch (a ``branch_required`` step in an app, web, chat or video contact) and
  visits one; the trip costs the time until they are served at the branch.

>>> import pandas as pd, flowlens
>>> from flowlens.findings.context import FindingContext
>>> rows = [("k1", "c1", "IVR Authentication", 0, 1), ("k1", "c1", "Verify Identity", 2, 3),
...         ("k1", "c1", "Handle Request", 3, 8)]
>>> df = pd.DataFrame(rows, columns=["case", "contact_id", "activity", "start", "end"])
>>> df[["start", "end"]] = df[["start", "end"]].apply(lambda s: pd.Timestamp("2024-01-01") + pd.to_timedelta(s, "min"))
>>> [(f.kind, f.activities, f.cases, f.customer_time_s) for f in detect_repeated_checks(FindingContext(flowlens.read_log(df)))]
[('repeated_check', ('Verify Identity',), 1, 120.0)]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from flowlens.analysis.activity_groups import channel_text
from flowlens.findings._customer import (
    BRANCH_FAMILY,
    DIGITAL_FAMILIES,
    Spec,
    Steps,
    claim,
    cost,
    count_text,
    detector_named,
    findings,
    price,
    repeat_class,
    steps,
    with_counts,
    with_issue,
    with_performer,
    with_times,
)
from flowlens.findings.model import Finding, Scenario
from flowlens.i18n import M_, PM_, Message

if TYPE_CHECKING:
    import ibis

    from flowlens.findings.context import FindingContext


# -- claims -----------------------------------------------------------------------------------
def repeated_check_claims(ctx: FindingContext, st: Steps) -> ibis.Table | None:
    """Identity checks that repeat one of the same contact with nothing in between that needs
    it (module docstring): a verification step after any earlier identity check, and a
    required check (online ID check, face verification, ...) done again."""
    import ibis

    if not (st.groups["verification"] or st.groups["identity_check"]):
        return None
    x = st.table
    is_check = (x.g_verification | x.g_identity_check | x.g_step_up) & x.kno.notnull()
    checks = x.filter(is_check)
    # The passes that find a check's reference run on the checks' keys alone (eid, contact key,
    # activity, groups): a window sorts every column it carries. What the rules below read (the
    # running counts, the performer) is looked up for the repeated checks and their
    # references, not for every check.
    ids = checks.select("eid", "kid", "activity", "g_verification", "g_identity_check")
    # position in the unit (the steps of the contact before it): a check repeated with no
    # other step in between is a retry of the same check (one check in several attempts), not
    # a second check. Counted for the (few) checks by a range join on the contact's integer key
    # (kid: one per case and contact), not a window over every instance.
    b = ids.select(b_eid="eid", b_kid="kid")
    u = x.select(u_kid="kid", u_eid="eid")
    u = b.join(u, [b.b_kid == u.u_kid, u.u_eid < b.b_eid])
    u = u.group_by("b_eid").aggregate(u_n=u.count())
    ids = ids.left_join(u, ids.eid == u.b_eid).drop("b_eid")
    ids = ids.mutate(u_rn=ids.u_n.fill_null(0)).drop("u_n")
    # the reference: the latest identity check before (for a verification step), the same
    # required check before (for a required check): its eid, and its position in the unit
    # for a required check
    w = ibis.window(group_by=ids.kid, order_by=ids.eid)
    ws = ibis.window(group_by=[ids.kid, ids.activity], order_by=ids.eid)
    ids = ids.mutate(
        l_eid=ids.eid.lag().over(w), s_eid=ids.eid.lag().over(ws), s_u_rn=ids.u_rn.lag().over(ws)
    )
    verification = ids.g_verification & ids.l_eid.notnull()
    required = ids.g_identity_check & ~ids.g_verification & ids.s_eid.notnull() & (ids.u_rn > ids.s_u_rn + 1)
    rp = ids.filter(verification | required)
    rp = rp.select(p_eid="eid", p_ref=ibis.ifelse(rp.g_verification, rp.l_eid, rp.s_eid))
    rc = checks.join(rp, checks.eid == rp.p_eid).drop("p_eid")
    rc = with_performer(ctx, st, with_counts(st, rc))
    cols = ("activity", "g_step_up", "n_transfer_u", "n_handoff_u", "n_info_u", "n_step_up_u", "pty", "fam")
    # (a reference is a check: looked up among the checks, for the references alone)
    refs = rp.select(f_eid="p_ref").distinct()
    ref = checks.join(refs, checks.eid == refs.f_eid).drop("f_eid")
    ref = with_performer(ctx, st, with_counts(st, ref))
    ref = ref.select(r_eid="eid", **{f"r_{c}": c for c in cols})
    rc = rc.join(ref, rc.p_ref == ref.r_eid)

    def pick(col: str) -> ibis.Value:
        return rc[f"r_{col}"]

    prior = pick("activity")
    tr, ho, info, ups = pick("n_transfer_u"), pick("n_handoff_u"), pick("n_info_u"), pick("n_step_up_u")
    via = ibis.ifelse(rc.n_transfer_u > tr, "transfer", ibis.ifelse(rc.n_handoff_u > ho, "handoff", "none"))
    rc = rc.mutate(
        via=via,
        prior=prior,
        # What needs a new check: a step-up trigger (the check right after one is the stepped-up
        # check itself), new documents or information from the customer (for a required check
        # of them), a switch to another customer channel, or another party doing the check (the
        # customer, an external party).
        stepped_up=ibis.ifelse(rc.g_verification, pick("g_step_up").fill_null(False), rc.n_step_up_u > ups),
        # (new documents need their own check, not a new identity verification)
        new_info=~rc.g_verification & (rc.n_info_u > info),
        switch=(rc.fam.notnull() & pick("fam").notnull() & (rc.fam != pick("fam"))).fill_null(False),
        other_party=(rc.pty.notnull() & pick("pty").notnull() & (rc.pty != pick("pty"))).fill_null(False),
    )
    needed = (rc.stepped_up.fill_null(False) & (rc.via == "none")) | rc.new_info.fill_null(False)
    rc = rc.filter(~needed & ~rc.switch & ~rc.other_party)
    # The unit said in words: a contact, or a whole case where the case has no contact ids.
    unit = ibis.ifelse(rc.kno == 0, "case", "contact")
    return claim(rc, "repeated_check", rc.activity, rc.prior, rc.via.concat("|", unit))


def repeated_request_claims(ctx: FindingContext, st: Steps) -> ibis.Table | None:
    """The first request of an issue whose customer had already given documents or information
    before any request; the customer's answer to it is claimed too (the wait it adds)."""
    import ibis

    if not (st.groups["information_request"] and st.groups["information_provided"]):
        return None
    x = st.table
    req = x.filter(x.g_information_request)
    req = req.mutate(
        rn=ibis.row_number().over(ibis.window(group_by=req.issue_idx, order_by=[req.s, req.eid]))
    )
    first = req.filter(req.rn == 0).select(
        r_issue="issue_idx", r_eid="eid", r_s="s", r_e="e", r_act="activity"
    )
    prov = x.filter(x.g_information_provided)
    pf = prov.group_by("issue_idx").aggregate(p_e=prov.e.min(), p_act=prov.activity.argmin(prov.e))
    held = first.join(pf, first.r_issue == pf.issue_idx).drop("issue_idx")
    held = held.filter(held.p_e <= held.r_s)
    anchors = x.join(held, x.eid == held.r_eid)
    answer = prov.join(held, (prov.issue_idx == held.r_issue) & (prov.s >= held.r_e))
    answer = answer.mutate(
        rn2=ibis.row_number().over(ibis.window(group_by=answer.r_eid, order_by=[answer.s, answer.eid]))
    )
    answer = answer.filter(answer.rn2 == 0)
    return claim(anchors, "repeated_request", anchors.r_act, anchors.p_act).union(
        claim(answer, "repeated_request", answer.r_act, answer.p_act, part="both", anchor=False)
    )


_NOT_DATA_ENTRY = (
    "verification",
    "identity_check",
    "step_up",
    "queue",
    "handled",
    "transfer",
    "abandonment",
    "handoff",
    "bot_fallback",
    "branch_required",
)


def reentry_claims(ctx: FindingContext, st: Steps) -> ibis.Table | None:
    """Re-entry after a channel switch: repeat_information steps classified ``switch``, and the
    issue's first step done again in another channel family."""
    import ibis

    if not st.has_channel:
        return None
    x = st.table
    ri = with_issue(st, with_counts(st, x.filter(x.g_repeat_information)))
    ri = ri.mutate(cls=repeat_class(ri))
    ri = ri.filter(ri.cls == "switch")
    # the issue's first activity again in its first case: a join with the issue's first step
    # on those (not every step with its issue's)
    f = st.first
    again = x.join(f, (x.issue_idx == f.a_issue) & (x.case_idx == f.i_first_case) & (x.activity == f.iact))
    again = again.filter(
        (again.eid != again.i_first_eid)
        & again.fam.notnull()
        & again.ifam.notnull()
        & (again.fam != again.ifam)
        & ~again.g_repeat_information
    )
    for g in _NOT_DATA_ENTRY:
        again = again.filter(~again[f"g_{g}"])
    src = ibis.ifelse(ri.kfam.notnull() & (ri.kfam != ri.fam), ri.kfam, ri.ifam)
    return claim(ri, "reentry", ri.activity, src, ri.fam).union(
        claim(again, "reentry", again.activity, again.ifam, again.fam)
    )


def branch_trip_claims(ctx: FindingContext, st: Steps) -> ibis.Table | None:
    """From the first branch instance after a ``branch_required`` step of a remote contact up to
    the first step at the branch that takes time (its waiting only)."""
    import ibis

    if not (st.has_channel and st.groups["branch_required"]):
        return None
    x = st.table
    fam = x.fam.fill_null(x.kfam)
    mk = x.filter(x.g_branch_required & fam.isin(DIGITAL_FAMILIES)).select(
        m_issue="issue_idx", m_case="case_idx", m_e="e", m_eid="eid", m_act="activity", m_fam=fam
    )
    br = x.filter(x.fam == BRANCH_FAMILY).select(b_issue="issue_idx", b_s="s", b_eid="eid", b_case="case_idx")
    jn = mk.join(br, (mk.m_issue == br.b_issue) & (br.b_s >= mk.m_e))
    # The visit of the same case first (another case of the issue may be another errand).
    other = (jn.b_case != jn.m_case).cast("int64")
    jn = jn.mutate(
        rn=ibis.row_number().over(ibis.window(group_by=jn.m_eid, order_by=[other, jn.b_s, jn.b_eid]))
    )
    jn = jn.filter(jn.rn == 0)
    jn = jn.mutate(rv=ibis.row_number().over(ibis.window(group_by=jn.b_eid, order_by=[jn.m_e, jn.m_eid])))
    visits = jn.filter(jn.rv == 0).select(v_case="b_case", v_eid="b_eid", m_act="m_act", m_fam="m_fam")
    work = with_times(ctx, x.select("eid", "case_idx"))
    work = work.filter(work.proc_us > 0).select(w_case="case_idx", w_eid="eid")
    sv = visits.join(work, (visits.v_case == work.w_case) & (work.w_eid >= visits.v_eid))
    sv = sv.group_by("v_eid").aggregate(sv_eid=sv.w_eid.min())
    visits = visits.left_join(sv, "v_eid").drop("v_eid_right")
    c = x.join(
        visits,
        (x.case_idx == visits.v_case)
        & (x.eid >= visits.v_eid)
        & (visits.sv_eid.isnull() | (x.eid <= visits.sv_eid)),
    )
    part = ibis.ifelse(c.eid == c.sv_eid.fill_null(-1), "wait", "both")
    return claim(c, "branch_trip", c.m_act, c.m_fam, part=part, anchor=c.eid == c.v_eid)


CLAIM_BUILDERS = {
    "repeated_check": repeated_check_claims,
    "repeated_request": repeated_request_claims,
    "reentry": reentry_claims,
    "branch_trip": branch_trip_claims,
}


# -- detectors --------------------------------------------------------------------------------
def _summary(grp: pd.DataFrame) -> Message:
    return M_(
        "{times} times in {cases} cases",
        times=count_text(grp["occurrences"].sum()),
        cases=count_text(len(grp)),
    )


@detector_named("repeated_checks")
def detect_repeated_checks(ctx: FindingContext) -> list[Finding]:
    """Identity checked again within a contact without a step-up reason (W1)."""
    st = steps(ctx)

    required = set(st.groups["identity_check"]) - set(st.groups["verification"])

    def describe(key: tuple[str, str, str], grp: pd.DataFrame) -> Spec:
        act, prior, via_unit = key
        via, _, unit = via_unit.partition("|")
        where = {"transfer": M_("after a transfer"), "handoff": M_("after a handoff to an agent")}.get(via)
        # TRANSLATORS: the unit a check is repeated in: a contact, or a whole case
        unit_txt = PM_("check unit", "case") if unit == "case" else PM_("check unit", "contact")
        if act in required and act == prior:
            # a required check done twice: the first one is required, the second one is not
            return Spec(
                title=(
                    M_(
                        "A required check is done twice {where}: '{activity}' again in the same {unit}",
                        where=where,
                        activity=act,
                        unit=unit_txt,
                    )
                    if where is not None
                    else M_(
                        "A required check is done twice: '{activity}' again in the same {unit}",
                        activity=act,
                        unit=unit_txt,
                    )
                ),
                activities=(act,),
                evidence=M_(
                    "'{activity}' checked the same customer again {summary} in the same {unit}, with no "
                    "step-up trigger, no new documents, no channel switch and no other party in between; "
                    "the check is required once: {cost}.",
                    activity=act,
                    summary=_summary(grp),
                    unit=unit_txt,
                    cost=cost(grp),
                ),
                scenario=Scenario(
                    "pre_fill",
                    {"activity": act, "source": act, "keep": "first", "via": via},
                    M_(
                        "use the result of the first '{activity}' of the {unit} instead of checking again",
                        activity=act,
                        unit=unit_txt,
                    ),
                ),
                details={"catalogue": "W1", "earlier_check": prior, "between": via, "unit": unit},
                repeat_of_required=True,
            )
        title = (
            M_(
                "Identity checked again {where}: '{activity}' after '{prior}' in the same {unit}",
                where=where,
                activity=act,
                prior=prior,
                unit=unit_txt,
            )
            if where is not None
            else M_(
                "Identity checked again: '{activity}' after '{prior}' in the same {unit}",
                activity=act,
                prior=prior,
                unit=unit_txt,
            )
        )
        between = {
            "transfer": M_("a transfer in between passed nothing on"),
            "handoff": M_("the bot-to-agent handoff in between passed nothing on"),
        }.get(via, M_("no step-up authentication came in between"))
        evidence = M_(
            "'{activity}' checked the customer's identity {summary} although '{prior}' had already checked "
            "it in the same {unit}; {between}; {cost}.",
            activity=act,
            summary=_summary(grp),
            prior=prior,
            unit=unit_txt,
            between=between,
            cost=cost(grp),
        )
        if via == "transfer":
            scenario = Scenario(
                "warm_handoff",
                {"activity": act, "pass_on": "identity verified", "via": via},
                M_(
                    "pass the verified identity on with the transfer so '{activity}' is not needed",
                    activity=act,
                ),
            )
        elif via == "handoff":
            scenario = Scenario(
                "warm_handoff",
                {"activity": act, "pass_on": "identity verified", "via": via},
                M_(
                    "pass the verified identity on with the handoff so '{activity}' is not needed",
                    activity=act,
                ),
            )
        else:
            scenario = Scenario(
                "remove_activity",
                {"activity": act, "when": f"after {prior} in the same {unit}"},
                M_(
                    "accept '{prior}' and skip '{activity}' unless a risk trigger asks for more",
                    prior=prior,
                    activity=act,
                ),
            )
        return Spec(
            title=title,
            activities=(act,),
            evidence=evidence,
            scenario=scenario,
            details={"catalogue": "W1", "earlier_check": prior, "between": via, "unit": unit},
        )

    return findings(ctx, "repeated_check", "repeated_checks", price(ctx, st, "repeated_check"), describe)


@detector_named("repeated_requests")
def detect_repeated_requests(ctx: FindingContext) -> list[Finding]:
    """Requests for documents or information the customer had already given (W2)."""
    st = steps(ctx)

    def describe(key: tuple[str, str, str], grp: pd.DataFrame) -> Spec:
        req, given, _ = key
        return Spec(
            title=M_(
                "Customers are asked for what they already gave: '{request}' after '{given}'",
                request=req,
                given=given,
            ),
            activities=(req,),
            evidence=M_(
                "In {cases} cases the organisation sent '{request}' although the customer had already given "
                "documents or information ('{given}') in the same issue before any request; the request and "
                "the answer: {cost}.",
                cases=count_text(len(grp)),
                request=req,
                given=given,
                cost=cost(grp),
            ),
            scenario=Scenario(
                "pre_fill",
                {"activity": req, "source": given},
                M_("use what '{given}' already captured instead of asking again", given=given),
            ),
            details={"catalogue": "W2", "already_given": given, "pattern": "held_data"},
        )

    return findings(
        ctx, "repeated_request", "repeated_requests", price(ctx, st, "repeated_request"), describe
    )


@detector_named("reentry")
def detect_reentry(ctx: FindingContext) -> list[Finding]:
    """Data entered again, or the first step repeated, after a channel switch (W2)."""
    st = steps(ctx)
    repeats = set(st.groups["repeat_information"])

    def describe(key: tuple[str, str, str], grp: pd.DataFrame) -> Spec:
        act, src, dst = key
        return Spec(
            title=(
                M_(
                    "Customers who switch from {source} to {target} re-enter their details",
                    source=channel_text(src),
                    target=channel_text(dst),
                )
                if act in repeats
                else M_(
                    "Customers who switch from {source} to {target} repeat '{activity}'",
                    source=channel_text(src),
                    target=channel_text(dst),
                    activity=act,
                )
            ),
            activities=(act,),
            evidence=M_(
                "Customers who started in the {source} channel went through '{activity}' again in the "
                "{target} channel: {cases} cases, {cost}.",
                source=channel_text(src),
                activity=act,
                target=channel_text(dst),
                cases=count_text(len(grp)),
                cost=cost(grp),
            ),
            scenario=Scenario(
                "pre_fill",
                {"activity": act, "from_channel": src, "to_channel": dst},
                M_(
                    "share what the customer entered in the {source} channel with the {target} channel",
                    source=channel_text(src),
                    target=channel_text(dst),
                ),
            ),
            details={
                "catalogue": "W2",
                "from_channel": src,
                "to_channel": dst,
                "pattern": "reentry" if act in repeats else "first_step_repeated",
            },
        )

    return findings(ctx, "reentry", "reentry", price(ctx, st, "reentry"), describe)


@detector_named("branch_trips")
def detect_branch_trips(ctx: FindingContext) -> list[Finding]:
    """Branch visits a remote start could have avoided (W3)."""
    st = steps(ctx)

    def describe(key: tuple[str, str, str], grp: pd.DataFrame) -> Spec:
        marker, fam, _ = key
        return Spec(
            title=M_(
                "Customers who started in the {channel} channel have to come to a branch ('{activity}')",
                channel=channel_text(fam),
                activity=marker,
            ),
            activities=(marker,),
            evidence=M_(
                "After '{activity}' in the {channel} channel, {customers} customers went to a branch; the trip "
                "(until they were served there, travel not in the log): {cost}.",
                activity=marker,
                channel=channel_text(fam),
                customers=count_text(len(grp)),
                cost=cost(grp),
            ),
            scenario=Scenario(
                "digital_channel",
                {"activity": marker, "channel": fam, "replace_with": "remote identity verification"},
                M_(
                    "finish in the {channel} channel (e.g. video identification) instead of sending the "
                    "customer to a branch",
                    channel=channel_text(fam),
                ),
            ),
            details={"catalogue": "W3", "channel": fam},
        )

    return findings(ctx, "branch_trip", "branch_trips", price(ctx, st, "branch_trip"), describe)


DETECTORS = (detect_repeated_checks, detect_repeated_requests, detect_reentry, detect_branch_trips)

__all__ = [
    "CLAIM_BUILDERS",
    "DETECTORS",
    "detect_branch_trips",
    "detect_reentry",
    "detect_repeated_checks",
    "detect_repeated_requests",
]
