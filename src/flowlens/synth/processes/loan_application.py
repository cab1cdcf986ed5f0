"""P2 ``loan_application``: personal loans with BPIC 2017 semantics (domain.md 1.2, 6.4 P2).

A_ states, O_ offers and W_ work items as in BPIC 2017 (``label_style="bpic17"`` writes those
names). Online (70%) or bank-initiated; completion calls that reach the applicant 60% of the
time (retries next business day); auto-decline 12%; 1/2/3 offers (73/20/7%); the applicant
returns the signed offer after ~6 days or never (cancelled after 30 days) while call-after-offer
calls recur every 5-7 business days (beyond two they are excess, W11); validation in the
underwriting queue, incomplete files (W4), a second underwriter for loans below 50k (W6, 99.5%
approved), fraud assessment (regulatory), and "waiting for customer" statuses without a request
(W10). All underwriting work, including calls for incomplete files, sits in one team, so a
remedy there touches only cases that reach validation.
"""

from __future__ import annotations

from flowlens.synth.calendars import DAY, HOUR
from flowlens.synth.rng import named_stream
from flowlens.synth.sim import Case, Gen, World
from flowlens.synth.teams import TeamSpec, build_agents

TEAMS = [
    TeamSpec("cc_loan", (("mon_sat", 5),), "LNA-", notes="loan call agents, Mon-Sat 09-18"),
    TeamSpec("underwriting", (("office", 5),), "UW-", notes="validation, second review, fraud"),
]


def setup(w: World) -> None:
    for i, spec in enumerate(TEAMS):
        w.add_team(
            spec.name, build_agents(spec, w.start, w.daycal.days, w.volume, named_stream(w.seed, 20, i))
        )


def case_setup(w: World, r, ci: int, t: float = 0.0) -> tuple[str, str, str]:
    online = r.route.random() < 0.70
    product = r.route.pick(("personal_loan", "overdraft"), (0.8, 0.2))
    return "new_loan", "web" if online else "phone_agent", product


def call_slot(w: World, t: float, bdays: int, u: float) -> float:
    """A call slot ``bdays`` business days after ``t``, between 09:30 and 16:00."""
    base = w.daycal.add_business_days(t, bdays) if bdays else t
    day = int(base // DAY)
    return day * DAY + 9.5 * HOUR + u * 6.5 * HOUR


def run_case(w: World, c: Case, t0: float) -> Gen:
    r = c.r
    c.row.amount = round(min(max(r.route.lognormvariate(9.6, 0.8), 2000.0), 300_000.0), -2)
    online = c.row.origin_channel == "web"
    # Routing drawn up front (common random numbers).
    u_lead, u_decline, u_fraud, u_second_ok, u_pending = (r.route.random() for _ in range(5))
    u_offers, u_w10 = r.route.random(), r.route.random()
    reach = [r.route.random() for _ in range(5)]
    u_never = r.cust.random()
    ret_delay = r.cust.lognorm(6 * 24.0 * 3600, 0.9)
    slots = [r.route.random() for _ in range(5)]
    followups = [(r.route.random(), r.route.random()) for _ in range(8)]
    d_second = r.dur.lognorm(15 * 60.0, 0.4)
    d_idle = r.cust.lognorm(2 * DAY, 0.5)
    if online:
        c.channel = "web"
        yield from c.customer("A_Create Application", 8.0, 0.5, system="LOS")
        c.instant("A_Submitted", "SYS-LOS", "system", system="LOS")
        if u_lead < 0.10:
            yield from c.task("cc_loan", "W_Handle leads", 5.0, 0.5, channel="phone_agent", system="LOS")
    else:
        c.channel = "phone_agent"
        yield from c.task("cc_loan", "A_Create Application", 5.0, 0.4, system="LOS")
    c.instant("A_Concept", "SYS-LOS", "system", system="LOS")
    # Completion calls: 60% reach the applicant; retry the next business day.
    reached = False
    for i in range(5):
        if i > 0:
            yield from c.until(call_slot(w, c.env.now, 1, slots[i]))
        ok = reach[i] < 0.60
        if ok:
            yield from c.task(
                "cc_loan",
                "W_Complete application",
                6.0,
                0.5,
                system="LOS",
                channel="phone_agent",
                attrs={"reached": True},
            )
            reached = True
            break
        yield from c.task(
            "cc_loan",
            "W_Complete application",
            0.8,
            0.3,
            system="LOS",
            channel="phone_agent",
            attrs={"reached": False},
        )
    if not reached:
        c.instant("A_Cancelled", "SYS-LOS", "system", system="LOS")
        return close(c, "cancelled")
    if u_decline < 0.12:
        c.instant("A_Denied", "SYS-LOS", "system", system="LOS")
        return close(c, "denied")
    c.instant("A_Accepted", "SYS-LOS", "system", system="LOS")
    n_offers = 1 if u_offers < 0.73 else (2 if u_offers < 0.93 else 3)
    offers = []
    for k in range(n_offers):
        yield from c.system("O_Create Offer", 5, 30, system="LOS", resource="SYS-LOS")
        c.instant("O_Created", "SYS-LOS", "system", system="LOS", attrs={"offer": k + 1})
        sent = "O_Sent (mail and online)" if r.route.random() < 0.60 else "O_Sent (online only)"
        c.instant(sent, "SYS-LOS", "system", system="LOS", attrs={"offer": k + 1})
        offers.append(k + 1)
    c.instant("A_Complete", "SYS-LOS", "system", system="LOS")
    # Waiting for the signed offer (extraneous); follow-up calls meanwhile.
    never = u_never < (0.31 - 0.04 * (n_offers - 1))
    t_complete = c.env.now
    t_return = float("inf") if never else t_complete + ret_delay
    deadline = t_complete + 30 * DAY
    calls: list[int] = []
    t_call = call_slot(w, t_complete, 5 + int(followups[0][0] * 3), followups[0][1])
    while t_call < min(t_return, deadline) and len(calls) < 7:
        if w.sw.followup_cap is not None and len(calls) >= w.sw.followup_cap:
            break
        yield from c.until(t_call)
        seq = (
            yield from c.task("cc_loan", "W_Call after offers", 4.0, 0.4, system="LOS", channel="phone_agent")
        )[0]
        calls.append(seq)
        if len(calls) > 2:
            e = c.events[seq]
            c.truth(
                "waste",
                "W11",
                [seq],
                removable="partly",
                cause="follow-up call beyond the second while the applicant has not returned the offer",
                remedy="cap_follow_up_calls",
                staff_s=e.end - e.start,
                customer_s=e.end - e.start,
                call_no=len(calls),
            )
        fu = followups[len(calls)]
        t_call = call_slot(w, c.env.now, 5 + int(fu[0] * 3), fu[1])
    if t_return > deadline:
        yield from c.until(deadline)
        c.instant("A_Cancelled", "SYS-LOS", "system", system="LOS")
        for k in offers:
            c.instant("O_Cancelled", "SYS-LOS", "system", system="LOS", attrs={"offer": k})
        return close(c, "cancelled")
    yield from c.until(_waking(c, t_return))
    s_ret = c.instant("O_Returned", "CUSTOMER", "customer", system="LOS")
    seqs_b5 = [s_ret]
    # The truth is the log-visible part: from the case's last event (a follow-up call, or the
    # application's completion) to the return; the whole wait since completion is a parameter.
    c.truth(
        "bottleneck",
        "B5",
        seqs_b5,
        removable="no",
        cause="waiting for the applicant to return the signed offer (extraneous)",
        remedy=None,
        causes=("extraneous",),
        team="customer",
        since_offer_s=round(c.env.now - t_complete, 3),
    )
    if u_w10 < 0.05:
        s1 = c.instant("A_Wait Customer", "SYS-LOS", "system", system="LOS")
        if w.sw.wait_user_misuse:
            yield from c.until(c.env.now + d_idle)
            s2 = c.instant("A_Resume", "SYS-LOS", "system", system="LOS")
            c.truth(
                "waste",
                "W10",
                [s1, s2],
                cause="status 'waiting for customer' set without any request to the customer",
                remedy="no_wait_user_misuse",
                wait_s=d_idle,
            )
    # Validation and incomplete-file loops (W4).
    for i in range(4):
        t_loop = c.env.now
        sv, tr, ts, te, _, _ = yield from c.task(
            "underwriting", "W_Validate application", 25.0, 0.5, channel="back_office", system="LOS"
        )
        c.instant("A_Validating", "SYS-LOS", "system", system="LOS")
        p_inc = w.sw.incomplete_first_p if i == 0 else 0.15
        u_inc = r.route.random()
        d_docs = r.cust.lognorm(3 * DAY, 0.8)
        if i == 3 or u_inc >= p_inc:
            break
        s1 = c.instant("A_Incomplete", "SYS-LOS", "system", system="LOS")
        s2 = (
            yield from c.task(
                "underwriting", "W_Call incomplete files", 5.0, 0.4, channel="phone_agent", system="LOS"
            )
        )[0]
        yield from c.until(_waking(c, c.env.now + d_docs))
        s3 = c.instant("O_Returned", "CUSTOMER", "customer", system="LOS", attrs={"documents": "resubmitted"})
        staff = sum(c.events[s].end - c.events[s].start for s in (s2,))
        c.truth(
            "waste",
            "W4",
            [sv, s1, s2, s3],
            removable="partly",
            cause="incomplete file: documents missing or wrong",
            remedy="document_checklist",
            staff_s=staff + (te - ts),
            wait_s=c.env.now - t_loop - staff,
        )
    if u_fraud < 0.02:
        s = (
            yield from c.task(
                "underwriting", "W_Assess potential fraud", 30.0, 0.5, channel="back_office", system="LOS"
            )
        )[0]
        c.truth("decoy", "D5", [s], removable="no", regulatory=True, cause="fraud assessment", remedy=None)
    if c.row.amount < 50_000 and w.sw.second_approval:
        seq, tr, ts, te, _, _ = yield from c.task(
            "underwriting",
            "Second Underwriter Review",
            0,
            0,
            draw=d_second,
            channel="back_office",
            system="LOS",
        )
        c.truth(
            "waste",
            "W6",
            [seq],
            cause="second underwriter for a small loan (99.5% approved)",
            remedy="remove_second_approval",
            staff_s=te - ts,
            wait_s=ts - tr,
            customer_s=te - tr,
        )
        if u_second_ok > 0.995:
            c.instant("A_Denied", "SYS-LOS", "system", system="LOS")
            for k in offers:
                c.instant("O_Refused", "SYS-LOS", "system", system="LOS", attrs={"offer": k})
            return close(c, "denied")
    if u_pending < 0.85:
        c.instant("A_Pending", "SYS-LOS", "system", system="LOS")
        c.instant("O_Accepted", "SYS-LOS", "system", system="LOS", attrs={"offer": offers[-1]})
        return close(c, "approved")
    c.instant("A_Denied", "SYS-LOS", "system", system="LOS")
    for k in offers:
        c.instant("O_Refused", "SYS-LOS", "system", system="LOS", attrs={"offer": k})
    return close(c, "denied")


def _waking(c: Case, t: float) -> float:
    from flowlens.synth.calendars import waking

    return waking(t, c.r.cust.uniform(0.0, 5400.0))


def close(c: Case, outcome: str) -> None:
    c.row.outcome = outcome
    c.row.unfavourable = outcome in ("denied",)
    c.row.closed = c.env.now
