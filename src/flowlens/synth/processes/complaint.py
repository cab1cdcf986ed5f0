"""P4 ``complaint``: complaint handling with jurisdiction SLA presets (domain.md 1.4, 4, 6.4 P4).

Complaints arrive on their own (phone 45%, online 25%, branch 15%, letter 5%, regulator 10%)
or are triggered by effort in another case (domain.md 6.7). Register, acknowledge, classify
(VIP priority, B4), assignment emerges when a handler picks the case up; 40% of simple
complaints are resolved at first contact; requests for information, a third of them for
material the customer already sent with the complaint (W2, Art. 13); department input from a
low-priority shared team whose own work comes first (B6); reassignments (W5); proposal,
approval and a second approval for small redress (W6); holding responses near the deadline;
rejections reopen (max 2), 5% of rejections escalate; root-cause records (skipped 30%:
closed-loop gap); close; callback for 60%.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowlens.errors import ConfigError
from flowlens.synth.calendars import DAY, HOUR
from flowlens.synth.processes.common import background
from flowlens.synth.rng import named_stream
from flowlens.synth.sim import Case, Gen, World
from flowlens.synth.teams import TeamSpec, build_agents

TEAMS = [
    TeamSpec("complaints_unit", (("office", 5),), "CPU-", notes="complaint handlers (首问负责)"),
    TeamSpec("complaints_lead", (("office", 1),), "CPL-", min_size=1, notes="team leads"),
    TeamSpec("complaints_head", (("office", 1),), "CPH-", min_size=1, notes="second approval"),
    TeamSpec("dept_sme", (("office_1730", 3),), "SME-", notes="department experts, own work first"),
    TeamSpec(
        "records_ops",
        (("office", 2),),
        "REC-",
        notes="business-line operations that pull call recordings and transaction records",
    ),
    TeamSpec("complaint_intake", (("cc_mid", 1),), "CPI-", notes="complaint hotline and branch intake"),
]
CATEGORIES = ("card", "loan", "accounts", "service", "wealth")
CATEGORY_P = (0.50, 0.25, 0.12, 0.08, 0.05)
ROOT_CAUSES = {
    "card": ("fees", "dispute handling", "fraud handling", "card blocked"),
    "loan": ("collection conduct", "repayment handling", "interest and fees", "slow decision"),
    "accounts": ("account opening delay", "repeated verification", "frozen account"),
    "service": ("long wait", "repeated verification", "unresolved issue", "staff attitude"),
    "wealth": ("mis-selling", "product loss", "disclosure"),
}


@dataclass(frozen=True)
class SlaPreset:
    """A complaint deadline rule (domain.md 4): base, extension with a holding response."""

    name: str
    base_days: int
    extended_days: int
    unit: str  # calendar | business
    summary_business_days: int = 3


SLA_PRESETS = {
    "CN_CBIRC_2020": SlaPreset("CN_CBIRC_2020", 15, 30, "calendar"),
    "UK_DISP": SlaPreset("UK_DISP", 56, 56, "calendar"),
    "UK_DISP_PSD": SlaPreset("UK_DISP_PSD", 15, 35, "business"),
    "AU_RG271": SlaPreset("AU_RG271", 30, 30, "calendar"),
    "US_CFPB": SlaPreset("US_CFPB", 15, 60, "calendar"),
}


def get_sla(name: str) -> SlaPreset:
    try:
        return SLA_PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown SLA preset '{name}'; choose one of {', '.join(SLA_PRESETS)}") from None


def deadline(w: World, t0: float, days: int, unit: str) -> float:
    if unit == "business":
        return w.daycal.add_business_days(t0, days)
    return t0 + days * DAY


def setup(w: World) -> None:
    for i, spec in enumerate(TEAMS):
        w.add_team(
            spec.name, build_agents(spec, w.start, w.daycal.days, w.volume, named_stream(w.seed, 40, i))
        )
    # Department experts do their own department's work first; complaint input waits (B6).
    background(
        w,
        w.teams["dept_sme"],
        1.3 * max(w.volume, 0.15),
        70.0,
        0.5,
        named_stream(w.seed, 41),
        priority=-1,
        kind="department",
    )
    background(
        w,
        w.teams["records_ops"],
        0.6 * max(w.volume, 0.15),
        45.0,
        0.5,
        named_stream(w.seed, 45),
        priority=-1,
        kind="department",
    )
    # Handlers also carry other duties (regulatory returns, quality reviews, other queues).
    background(
        w,
        w.teams["complaints_unit"],
        0.6 * max(w.volume, 0.15),
        60.0,
        0.5,
        named_stream(w.seed, 42),
        priority=1,
        kind="duty",
    )
    # Team lead and head of complaints approve between meetings and their own work.
    background(
        w,
        w.teams["complaints_lead"],
        0.3 * max(w.volume, 0.15),
        60.0,
        0.5,
        named_stream(w.seed, 43),
        priority=0,
        kind="duty",
    )
    background(
        w,
        w.teams["complaints_head"],
        0.3 * max(w.volume, 0.15),
        60.0,
        0.5,
        named_stream(w.seed, 44),
        priority=0,
        kind="duty",
    )


def case_setup(w: World, r, ci: int, t: float = 0.0) -> tuple[str, str, str]:
    ch = r.route.pick(
        ("phone_agent", "web", "branch", "letter_email", "regulator"), (0.45, 0.25, 0.15, 0.05, 0.10)
    )
    cat = r.route.pick(CATEGORIES, CATEGORY_P)
    return cat, ch, cat


def run_case(w: World, c: Case, t0: float) -> Gen:
    r = c.r
    sla = get_sla(w.params.get("sla", "CN_CBIRC_2020"))
    cat = c.row.reason
    c.row.complaint_category = cat
    c.row.severity = r.route.pick(("low", "medium", "high"), (0.70, 0.25, 0.05))
    c.row.amount = round(r.route.lognormvariate(5.5, 1.2), 0)  # redress in RMB
    cause = r.route.choice(ROOT_CAUSES[cat])
    simple = c.row.severity == "low"
    u_fcr, u_info, u_held, u_dept, u_reassign, u_bounces = (r.route.random() for _ in range(6))
    u_rca, u_callback, _u_second_ok = r.route.random(), r.route.random(), r.route.random()
    accept = [r.cust.random() for _ in range(3)]
    u_escalate, u_upheld, u_hold = r.cust.random(), r.route.random(), r.route.random()
    d_second = r.dur.lognorm(10 * 60.0, 0.4)
    d_info = r.cust.lognorm(2 * DAY, 0.7)
    d_bounce = [r.dur.lognorm(20 * 60.0, 0.4) for _ in range(3)]
    u_w10, d_idle = r.route.random(), r.cust.lognorm(2 * DAY, 0.5)
    d_discuss = r.cust.lognorm(48 * 3600.0, 0.5)
    c.row.sla_deadline = deadline(w, t0, sla.base_days, sla.unit)
    ch = c.row.origin_channel
    c.channel = ch
    c.contact = f"{c.row.case_id}-C1"
    if ch in ("phone_agent", "branch"):
        yield from c.task("complaint_intake", "receive_complaint", 6.0, 0.4, system="COMPLAINT")
    elif ch == "regulator":
        c.instant(
            "regulator_referral_received",
            "SYS-COMPLAINT",
            "system",
            system="COMPLAINT",
            channel="letter_email",
        )
    else:
        c.instant("receive_complaint", "SYS-COMPLAINT", "system", system="COMPLAINT")
    if u_held < 1 / 3:  # a third send their evidence with the complaint: the bank holds it
        c.instant("submit_supporting_documents", "CUSTOMER", "customer", system="COMPLAINT")
    c.contact = None
    c.channel = "back_office"
    yield from c.task("complaints_unit", "register_complaint", 4.0, 0.4, system="COMPLAINT")
    t_ack = (
        c.env.now
        if w.daycal.is_business(int(c.env.now // DAY)) and (c.env.now % DAY) < 17 * HOUR
        else w.daycal.next_business_day_start(c.env.now, 9.0)
    )
    yield from c.until(t_ack + c.jitter(hi=2 * HOUR))
    c.instant("acknowledge_complaint", "SYS-COMPLAINT", "system", system="COMPLAINT", channel="letter_email")
    # Simple complaints are fast-tracked (summary resolution within 3 business days).
    fast = c.priority - 1 if simple else c.priority
    yield from c.task(
        "complaints_unit", "classify_and_prioritize", 5.0, 0.4, system="COMPLAINT", priority=fast
    )
    # The handler who picks the case up owns it (首问负责): assignment is emergent.
    pool = w.teams["complaints_unit"]
    t_req = c.env.now
    req = pool.request(priority=fast, preempt=False)
    agent = yield req
    req.en_log = c.enabled_now()
    c.instant("assign_handler", agent.id, agent.team, system="COMPLAINT")
    del t_req
    # Handlers remember the holding response 85% of the time; the rest breach if late.
    holding = {"sent": False, "final": False, "remember": u_hold < 0.85}
    c.env.process(holding_response(w, c, t0, sla, holding))
    if simple and u_fcr < 0.43:
        yield from c.work(agent, "resolve_at_first_contact", 15.0, 0.5, system="COMPLAINT")
        pool.release(req)
        yield from c.system(
            "send_summary_resolution",
            1,
            3,
            system="COMPLAINT",
            resource="SYS-COMPLAINT",
            channel="letter_email",
        )
        holding["final"] = True
        return (yield from finish(w, c, t0, cause, u_rca, u_callback, "resolved_first_contact"))
    pool.release(req)
    if u_w10 < 0.05:
        s1 = c.instant("set_waiting_for_customer", agent.id, agent.team, system="COMPLAINT")
        if w.sw.wait_user_misuse:
            yield from c.until(c.env.now + d_idle)
            s2 = c.instant("resume_handling", "SYS-COMPLAINT", "system", system="COMPLAINT")
            c.truth(
                "waste",
                "W10",
                [s1, s2],
                cause="status 'waiting for customer' set without any request to the customer",
                remedy="no_wait_user_misuse",
                wait_s=d_idle,
            )
    reopen = 0
    while True:
        if u_info < 0.30 and reopen == 0:
            held = u_held < 1 / 3
            if not (held and not w.sw.ask_held_data):
                t_r = c.env.now
                s1 = (
                    yield from c.task("complaints_unit", "request_information", 5.0, 0.4, system="COMPLAINT")
                )[0]
                yield from c.until(_waking(c, c.env.now + d_info))
                s2 = c.instant(
                    "customer_provides_information", "CUSTOMER", "customer", system="COMPLAINT", channel="web"
                )
                if held:
                    c.row.re_entries += 1
                    c.truth(
                        "waste",
                        "W2",
                        [s1, s2],
                        cause="asked for material the bank holds (sent with the complaint; Art. 13)",
                        remedy="use_held_data",
                        customer_s=900.0,
                        wait_s=c.env.now - t_r,
                        already_held=True,
                    )
                else:
                    c.truth(
                        "bottleneck",
                        "B5",
                        [s2],
                        removable="no",
                        cause="waiting for the customer's information (extraneous)",
                        remedy=None,
                        causes=("extraneous",),
                        team="customer",
                        since_request_s=round(c.env.now - t_r, 3),
                    )
        if reopen == 0:  # evidence: recordings and records from the business line's operations
            c.instant("request_records", "SYS-COMPLAINT", "system", system="COMPLAINT")
            yield from c.task("records_ops", "provide_records", 15.0, 0.4, priority=2, system="COMPLAINT")
        yield from c.task("complaints_unit", "investigate_complaint", 45.0, 0.5, system="COMPLAINT")
        if u_dept < 0.60 and reopen == 0:
            c.instant("request_department_input", "SYS-COMPLAINT", "system", system="COMPLAINT")
            seq, tr, ts, te, _, _ = yield from c.task(
                "dept_sme", "department_input", 30.0, 0.5, priority=2, system="COMPLAINT"
            )
            c.truth(
                "bottleneck",
                "B6",
                [seq],
                removable="partly",
                cause="department input from a shared team whose own work comes first",
                remedy="sme_input_priority",
                causes=("contention", "prioritization"),
                team="dept_sme",
                queued_s=round(ts - tr, 3),
            )
        if w.sw.misrouting and u_reassign < 0.12 and reopen == 0:
            for i in range(1 + int(u_bounces * 3)):
                t_b = c.env.now
                s1 = c.instant("reassign_complaint", "SYS-COMPLAINT", "system", system="COMPLAINT")
                s2, tr, ts, te, _, _ = yield from c.task(
                    "complaints_unit", "review_complaint", 0, 0, draw=d_bounce[i], system="COMPLAINT"
                )
                c.truth(
                    "waste",
                    "W5",
                    [s1, s2],
                    cause="complaint reassigned to another handler or department",
                    remedy="correct_routing",
                    staff_s=te - ts,
                    wait_s=ts - t_b,
                    bounce=i + 1,
                )
        yield from c.task("complaints_unit", "propose_resolution", 20.0, 0.4, system="COMPLAINT")
        if reopen == 0:  # the handler agrees a time to discuss the proposal with the customer
            yield from c.customer_wait(24.0, 0.6, draw=d_discuss)
            yield from c.task(
                "complaints_unit",
                "discuss_resolution_with_customer",
                10.0,
                0.4,
                system="COMPLAINT",
                channel="phone_agent",
            )
        yield from c.task("complaints_lead", "approve_resolution", 10.0, 0.4, system="COMPLAINT", priority=2)
        if c.row.amount < 500 and w.sw.second_approval:
            seq, tr, ts, te, _, _ = yield from c.task(
                "complaints_head", "second_approval", 0, 0, draw=d_second, system="COMPLAINT", priority=2
            )
            c.truth(
                "waste",
                "W6",
                [seq],
                cause="second approval of a small redress (99.7% approved)",
                remedy="remove_second_approval",
                staff_s=te - ts,
                wait_s=ts - tr,
                customer_s=te - tr,
            )
        yield from c.system(
            "send_final_response", 1, 3, system="COMPLAINT", resource="SYS-COMPLAINT", channel="letter_email"
        )
        holding["final"] = True
        if reopen == 0:
            deadline_now = c.row.sla_deadline
            c.row.sla_met = c.env.now <= deadline_now
            c.row.sla_breached = not c.row.sla_met
        if accept[reopen] < 0.80 or reopen == 2:
            break
        c.instant(
            "customer_rejects_response", "CUSTOMER", "customer", system="COMPLAINT", channel="phone_agent"
        )
        if u_escalate < 0.05:
            c.instant("escalate_to_regulator", "SYS-COMPLAINT", "system", system="COMPLAINT")
            return (yield from finish(w, c, t0, cause, u_rca, u_callback, "escalated"))
        reopen += 1
        holding["final"] = False
        c.instant("reopen_complaint", "SYS-COMPLAINT", "system", system="COMPLAINT")
    outcome = "upheld" if u_upheld < 0.58 else "not_upheld"
    return (yield from finish(w, c, t0, cause, u_rca, u_callback, outcome))


def holding_response(w: World, c: Case, t0: float, sla: SlaPreset, st: dict[str, bool]) -> Gen:
    """A holding response two days before the base deadline extends it (if the rule allows)."""
    t = c.row.sla_deadline - 2 * DAY if c.row.sla_deadline else t0 + 13 * DAY
    yield c.env.timeout(max(0.0, t - c.env.now))
    if not st["final"] and st["remember"] and sla.extended_days > sla.base_days:
        c.instant(
            "send_holding_response",
            "SYS-COMPLAINT",
            "system",
            system="COMPLAINT",
            channel="letter_email",
            contact=None,
            side=True,
        )
        c.row.sla_deadline = deadline(w, t0, sla.extended_days, sla.unit)
        st["sent"] = True


def finish(w: World, c: Case, t0: float, cause: str, u_rca: float, u_callback: float, outcome: str) -> Gen:
    if c.row.sla_met is None:
        c.row.sla_met = c.env.now <= (c.row.sla_deadline or float("inf"))
        c.row.sla_breached = not c.row.sla_met
    if u_rca >= 0.30:
        yield from c.task(
            "complaints_unit", "record_root_cause", 5.0, 0.4, system="COMPLAINT", attrs={"root_cause": cause}
        )
    yield from c.system("close_complaint", 1, 3, system="COMPLAINT", resource="SYS-COMPLAINT")
    c.row.outcome = outcome
    c.row.unfavourable = outcome == "escalated"
    c.row.closed = c.env.now
    if u_callback < 0.60:
        # the satisfaction call is booked a few days on, at a slot of the working day (a
        # fixed slot for every call would look like a batch of callbacks)
        wait = c.r.cust.uniform(3 * DAY, 7 * DAY)
        slot = c.r.cust.uniform(9.5, 16.5)
        yield from c.until(w.daycal.next_business_day_start(c.env.now + wait - DAY, slot))
        yield from c.task(
            "complaints_unit",
            "callback_customer",
            5.0,
            0.4,
            system="COMPLAINT",
            channel="phone_agent",
            priority=3,
        )


def _waking(c: Case, t: float) -> float:
    from flowlens.synth.calendars import waking

    return waking(t, c.r.cust.uniform(0.0, 5400.0))
