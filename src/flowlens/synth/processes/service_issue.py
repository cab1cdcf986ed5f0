"""P5 ``service_issue``: multi-contact service issues across IVR, chatbot, agents, app, web, branch.

An issue (the case) is raised through an entry channel and needs one or more contacts until it
is resolved (domain.md 6.4 P5). Phone: IVR menu and authentication, IVR self-service or the
agent queue with abandonment (patience ~ lognormal, Erlang-A-like), re-verification (W1), hold,
transfers (cold ones make the customer re-explain, W9), after-call work and back-office tickets
on a business calendar (B3). Chatbot: misunderstanding loops (W8), containment, handoff with or
without context (W8 + W1). App/web self-service, branch counters (VIP priority, B4), branch
trips for information updates (W3). Unresolved issues come back after ~1.5 days, 40% in another
channel; every repeat after a handled contact is a repeat contact (W7), avoidable when the
earlier contact failed on an access or skill defect.
"""

from __future__ import annotations

from flowlens.synth.calendars import DAY, HOUR, MINUTE
from flowlens.synth.processes.common import add_branch_teams, background, phone_queue
from flowlens.synth.rng import named_stream
from flowlens.synth.sim import Case, Gen, World
from flowlens.synth.teams import TeamSpec, build_agents

INTENTS = (
    "login",
    "balance",
    "failed_transfer",
    "card_lost",
    "update_info",
    "fees",
    "loan_repayment",
    "wealth",
    "other",
)
INTENT_P = (0.15, 0.25, 0.12, 0.10, 0.10, 0.10, 0.08, 0.05, 0.05)
SIMPLE = {"login", "balance", "card_lost"}
CHANNELS = ("mobile_app", "chatbot", "phone_agent", "branch", "web")
CHANNEL_P = (0.30, 0.20, 0.35, 0.10, 0.05)
ELDERLY_P = (0.20, 0.10, 0.47, 0.18, 0.05)  # 20 points moved to phone and branch
#: Per-contact chance of resolving the issue without / with the access and skill defects (W7).
RESOLVE = {
    "phone": 0.87,
    "phone_ticket_done": 0.93,
    "ivr": 0.80,
    "bot": 0.82,
    "chat": 0.86,
    "app": 0.80,
    "branch": 0.93,
}
DEFECT_PP = 0.10
MAX_CONTACTS = 5

TEAMS = [
    TeamSpec(
        "cc_l1",
        (("cc_early", 3), ("cc_mid", 1), ("cc_late", 3), ("cc_night", 1)),
        "AGT-",
        monday_huddle=2,
        notes="phone and chat agents, 24x7 (night ~15%); Monday 09:00-11:00 huddle (B7)",
    ),
    TeamSpec(
        "cc_specialist",
        (("card_day", 2), ("card_eve", 1), ("cc_mid", 1)),
        "SPC-",
        notes="transfer target (cards, loans, payments), 08-22 daily",
    ),
    TeamSpec("back_office", (("office", 6),), "BO-", notes="tickets, Mon-Fri 09-18 (B3)"),
]


def setup(w: World) -> None:
    for i, spec in enumerate(TEAMS):
        w.add_team(
            spec.name, build_agents(spec, w.start, w.daycal.days, w.volume, named_stream(w.seed, 50, i))
        )
    add_branch_teams(w, "branch_service", [("branch", 1), ("branch_late_lunch", 1)], "S", key=51)
    for b in range(1, w.n_branches + 1):
        pool = w.teams[f"branch_service:BR{b:02d}"]
        background(w, pool, 1.5, 22.0, 0.5, named_stream(w.seed, 52, b), kind="counter")


def run_case(w: World, c: Case, t0: float) -> Gen:
    r = c.r
    cust = w.customers
    ci = c.row.customer
    elderly = cust.elderly[ci]
    intent = c.row.reason
    channel = c.row.origin_channel
    k = 0
    # A repeat contact after a contact that was handled but did not resolve the issue (W7);
    # ``True`` when the earlier contact failed only on an access or skill defect (avoidable).
    pending_w7: bool | None = None
    forced_branch = False
    resolved = False
    w7_start = 0
    while not resolved and k < MAX_CONTACTS:
        k += 1
        c.contact = f"{c.row.case_id}-C{k}"
        c.row.contacts = k
        c.row.channels.add(channel)
        c.channel = channel
        first_seq = len(c.events)
        # Draw the contact's resolution number first (common random numbers).
        u_res = r.route.random()
        w3_visit = forced_branch
        forced_branch = False
        if k == 1:
            c.instant("open_issue", "SYS-CRM", "system", system="CRM")
        if channel == "phone_agent":
            kind = yield from phone_contact(w, c, intent, elderly)
        elif channel == "chatbot":
            kind = yield from chat_contact(w, c)
        elif channel in ("mobile_app", "web"):
            kind = yield from app_contact(w, c, intent, channel)
        else:
            kind = yield from branch_contact(w, c, ci)
        if w3_visit:
            seqs = list(range(first_seq, len(c.events)))
            svc = sum(c.events[s].end - c.events[s].start for s in seqs)
            span = c.events[seqs[-1]].end - c.events[seqs[0]].start
            c.truth(
                "waste",
                "W3",
                seqs,
                removable="mostly",
                cause="information update needs an in-person ID check",
                remedy="remote_id_verification",
                customer_s=40 * MINUTE + span,
                staff_s=svc,
                wait_s=span - svc,
                travel_min=40,
            )
        if pending_w7 is not None:
            # Every repeat contact after a handled contact is labelled (domain.md 6.5: signature
            # "recontact, same reason, 7 days", removable "partly"); ``avoidable`` marks the
            # defect-driven excess (6.4) that the fix_contact_defects remedy removes.
            seqs = list(range(w7_start, len(c.events)))
            dur = sum(c.events[s].end - c.events[s].start for s in seqs)
            c.truth(
                "waste",
                "W7",
                seqs,
                removable="partly",
                cause="previous contact failed on an access or skill defect"
                if pending_w7
                else "previous contact was handled but did not resolve the issue",
                remedy="fix_contact_defects" if pending_w7 else None,
                customer_s=dur,
                staff_s=dur,
                avoidable=pending_w7,
            )
            pending_w7 = None
        if kind == "branch_needed":
            forced_branch = True
            resolved = False
        elif kind in ("abandoned", "unresolved"):
            resolved = False
        else:
            p = RESOLVE[kind]
            p_defect = p - DEFECT_PP if w.sw.contact_defects else p
            resolved = u_res < p_defect
            if not resolved:
                pending_w7 = u_res < p
        if resolved:
            break
        # Recontact after ~1.5 days, 40% switch channel [12]; branch if a visit is required.
        yield from c.customer_wait(36.0, 1.0)
        if pending_w7 is not None:
            w7_start = len(c.events)
        u_sw = r.route.random()
        alt = r.route.pick(CHANNELS, ELDERLY_P if elderly else CHANNEL_P)
        if forced_branch:
            channel = "branch"
        elif u_sw < 0.40 and alt != channel:
            channel = alt
        elif channel == "chatbot" and kind == "abandoned":
            channel = "phone_agent"
    c.instant("close_issue", "SYS-CRM", "system", system="CRM", channel="system")
    c.contact = None
    yield from c.system("send_survey", 1, 3, system="SURVEY", resource="SYS-SURVEY", channel="system")
    c.row.outcome = "resolved" if resolved else "unresolved"
    c.row.unfavourable = not resolved
    c.row.closed = c.env.now


def verify(w: World, c: Case, agent, *, needed: bool, why: str) -> Gen:
    """Verify Identity by the agent; when not needed it is a re-verification (W1)."""
    u = c.r.route.random()
    d = c.r.dur.lognorm(45.0, 0.4)
    if needed:
        yield from c.work(agent, "verify_identity", 0, 0, draw=d)
        c.row.verifications += 1
        return
    if w.sw.redundant_verification and u < 0.60:
        s = yield from c.work(agent, "verify_identity", 0, 0, draw=d)
        c.row.verifications += 1
        c.truth(
            "waste",
            "W1",
            [s],
            cause=why,
            remedy="no_redundant_verification",
            customer_s=d * agent.speed,
            staff_s=d * agent.speed,
        )


def phone_contact(w: World, c: Case, intent: str, elderly: bool) -> Gen:
    r = c.r
    env = c.env
    c.channel = "phone_ivr"
    yield from c.system("ivr_menu", 25, 60, system="IVR", resource="IVR", team="ivr", channel="phone_ivr")
    auth_ok = False
    u_auth = r.route.random()
    if not elderly:  # elderly callers go straight to an agent [30]
        auth_ok = u_auth < 0.90
        # The IVR records the outcome: after a failed attempt the agent's check is needed.
        yield from c.system(
            "ivr_authentication" if auth_ok else "ivr_authentication_failed",
            20,
            40,
            system="IVR",
            resource="IVR",
            team="ivr",
            channel="phone_ivr",
        )
        c.row.verifications += 1
    u_self = r.route.random()
    if intent in SIMPLE and not elderly and auth_ok and u_self < 0.30:
        yield from c.system(
            "ivr_self_service", 60, 150, system="IVR", resource="IVR", team="ivr", channel="phone_ivr"
        )
        return "ivr"
    c.instant("enter_queue", "IVR", "ivr", channel="phone_ivr", system="IVR")
    patience = r.cust.lognorm(150.0, 1.0)
    agent, req, t_req = yield from phone_queue(c, "cc_l1", patience)
    c.waited(t_req, env.now)
    if agent is None:
        c.instant("abandon_call", "IVR", "ivr", channel="phone_ivr", system="IVR")
        return "abandoned"
    c.channel = "phone_agent"
    c.instant("agent_answers", agent.id, agent.team, system="CRM")
    yield from verify(
        w, c, agent, needed=not auth_ok, why="agent re-verifies a caller the IVR already authenticated"
    )
    u_step = r.route.random()
    if (intent == "failed_transfer" and u_step < 0.25) or intent == "update_info":
        s = yield from c.system(
            "step_up_authentication", 20, 60, system="CRM", resource="SYS-OTP", channel="phone_agent"
        )
        c.truth(
            "decoy",
            "D3",
            [s],
            removable="no",
            regulatory=True,
            cause="step-up authentication before a large transfer or a data change",
            remedy=None,
        )
    yield from c.work(agent, "handle_request", 3.2, 0.5)
    u_hold, d_hold = r.route.random(), r.dur.lognorm(60.0, 0.8)
    if u_hold < 0.46:
        yield from c.work(agent, "hold", 0, 0, draw=d_hold)
        c.row.holds += 1
    u_tr, u_cold = r.route.random(), r.route.random()
    d_brief, d_reexp = r.dur.lognorm(30.0, 0.3), r.dur.lognorm(90.0, 0.4)
    d_handle2 = r.dur.lognorm(3.0 * 60, 0.5)
    if u_tr < 0.21:
        c.row.transfers += 1
        cold = u_cold < 0.60 and not w.sw.warm_transfer
        if cold:
            c.instant("transfer_call", agent.id, agent.team, attrs={"transfer": "cold"})
        else:
            yield from c.work(agent, "warm_transfer_briefing", 0, 0, draw=d_brief, attrs={"transfer": "warm"})
        # The first agent wraps up while the customer queues for the second.
        env.process(wrap_up(c, agent, req, "cc_l1", r.dur.lognorm(60.0, 0.4)))
        agent2, req2, t_req2 = yield from phone_queue(c, "cc_specialist", None)
        c.waited(t_req2, env.now)
        c.instant("agent_answers", agent2.id, agent2.team, system="CRM")
        if cold:
            seqs = []
            s1 = yield from c.customer("re_explain_issue", 0, 0, draw=d_reexp)
            seqs.append(s1)
            c.row.re_entries += 1
            c.events[s1].resource = agent2.id
            c.events[s1].team = agent2.team
            d_ver = c.r.dur.lognorm(45.0, 0.4)
            s2 = yield from c.work(agent2, "verify_identity", 0, 0, draw=d_ver)
            c.row.verifications += 1
            seqs.append(s2)
            c.truth(
                "waste",
                "W9",
                [s1],
                cause="cold transfer: context not passed",
                remedy="warm_handoff",
                customer_s=d_reexp,
                staff_s=d_reexp,
            )
            c.truth(
                "waste",
                "W1",
                [s2],
                cause="re-verification after a cold transfer",
                remedy="warm_handoff",
                customer_s=d_ver * agent2.speed,
                staff_s=d_ver * agent2.speed,
            )
        yield from c.work(agent2, "handle_request", 0, 0, draw=d_handle2)
        agent, req = agent2, req2
        pool_name = "cc_specialist"
    else:
        pool_name = "cc_l1"
    u_ticket = r.route.random()
    yield from c.work(agent, "after_call_work", 0.8, 0.4)
    c.w.teams[pool_name].release(req)
    if u_ticket < 0.25:
        yield from ticket(w, c)
        return "phone_ticket_done"
    return "phone"


def wrap_up(c: Case, agent, req, pool: str, d: float) -> Gen:
    """After-call work of an agent who handed the caller on."""
    yield from c.work(agent, "after_call_work", 0, 0, draw=d, side=True)
    c.w.teams[pool].release(req)


def ticket(w: World, c: Case) -> Gen:
    """A back-office ticket on the business calendar (B3: Friday tickets wait the weekend)."""
    c.instant("create_ticket", "SYS-CRM", "system", system="CRM")
    seq, t_req, t0, _t1, _agent, _ = yield from c.task(
        "back_office", "resolve_ticket", 15.0, 0.6, channel="back_office", system="CRM"
    )
    if c.wait_split(seq)["unavailability"] > 4 * HOUR:
        c.truth(
            "bottleneck",
            "B3",
            [seq],
            removable="partly",
            cause="back office closed (weekend or holiday) while the ticket waited",
            remedy="weekend_back_office",
            causes=("unavailability",),
            team="back_office",
            queued_s=round(t0 - t_req, 3),
        )
    yield from c.system("notify_customer", 1, 3, system="CRM", resource="SYS-SMS", channel="system")


def chat_contact(w: World, c: Case) -> Gen:
    r = c.r
    c.channel = "chatbot"
    c.instant("chat_start", "BOT", "bot", system="CRM")
    us = [r.route.random() for _ in range(3)]
    d_re = [r.dur.lognorm(30.0, 0.5) for _ in range(3)]
    loops = []
    for i in range(3):
        if not (w.sw.bot_misunderstanding and us[i] < (0.10 if i == 0 else 0.45)):
            break
        s1 = c.instant("intent_not_understood", "BOT", "bot", system="CRM")
        s2 = yield from c.customer("rephrase_question", 0, 0, draw=d_re[i])
        loops += [s1, s2]
    if loops:
        dur = sum(c.events[s].end - c.events[s].start for s in loops)
        span = c.events[loops[-1]].end - c.events[loops[0]].start
        c.truth(
            "waste",
            "W8",
            loops,
            cause="chatbot does not understand the intent (loop)",
            remedy="better_bot_intents",
            customer_s=span,
            staff_s=0.0,
            wait_s=span - dur,
            loops=len(loops) // 2,
        )
    doom = len(loops) == 6
    yield from c.system("bot_answer", 10, 40, system="CRM", resource="BOT", team="bot", channel="chatbot")
    u_contain, u_ctx = r.route.random(), r.route.random()
    if not doom and u_contain < 0.60:
        c.instant("chat_end", "BOT", "bot", system="CRM")
        return "bot"
    # The bot authenticates the customer before handing over (domain.md 1.6), so an agent who
    # checks identity again after a handoff that lost the context re-verifies (W1).
    yield from c.system(
        "bot_authenticates", 20, 40, system="CRM", resource="BOT", team="bot", channel="chatbot"
    )
    c.row.verifications += 1
    c.instant("request_human", "BOT", "bot", system="CRM")
    d_reexp, d_ver = r.dur.lognorm(120.0, 0.4), r.dur.lognorm(45.0, 0.4)
    agent, req, t_req = yield from phone_queue(c, "cc_l1", None)
    c.waited(t_req, c.env.now)
    c.instant("agent_joins_chat", agent.id, agent.team, system="CRM")
    lost = u_ctx < 0.60 and not w.sw.bot_context_handover
    if lost:
        s1 = yield from c.customer("re_explain_issue", 0, 0, draw=d_reexp)
        c.events[s1].resource, c.events[s1].team = agent.id, agent.team
        c.row.re_entries += 1
        s2 = yield from c.work(agent, "verify_identity", 0, 0, draw=d_ver)
        c.row.verifications += 1
        c.truth(
            "waste",
            "W8",
            [s1],
            cause="chatbot handoff lost the conversation context",
            remedy="warm_handoff",
            customer_s=d_reexp,
            staff_s=d_reexp,
        )
        c.truth(
            "waste",
            "W1",
            [s2],
            cause="re-verification after a chatbot handoff",
            remedy="warm_handoff",
            customer_s=d_ver * agent.speed,
            staff_s=d_ver * agent.speed,
        )
    yield from c.work(agent, "handle_request", 6.0, 0.6)
    c.instant("chat_end", agent.id, agent.team, system="CRM")
    c.w.teams["cc_l1"].release(req)
    return "chat"


def app_contact(w: World, c: Case, intent: str, channel: str) -> Gen:
    r = c.r
    yield from c.system("app_login", 2, 6, system="CORE", resource="SYS-APP", channel=channel)
    c.row.verifications += 1
    u_visit, d_video = r.route.random(), r.dur.lognorm(8 * 60.0, 0.4)
    if intent == "update_info" and u_visit < 0.10:
        if not w.sw.remote_id:
            c.instant("branch_visit_required", "SYS-APP", "system", channel=channel)
            return "branch_needed"
        yield from c.task(
            "back_office", "video_id_verification", 0, 0, draw=d_video, channel="video", system="CRM"
        )
        yield from c.customer("self_service_action", 2.0, 0.6)
        return "app"
    if intent in ("failed_transfer", "fees", "loan_repayment", "other", "wealth"):
        yield from c.customer("submit_service_request", 3.0, 0.5)
        yield from ticket(w, c)
        return "app"
    yield from c.customer("self_service_action", 2.0, 0.6)
    return "app"


def branch_contact(w: World, c: Case, ci: int) -> Gen:
    branch = w.customers.branch[ci]
    team = f"branch_service:{branch}"
    cal = w.teams[team].agents[0].cal
    t = cal.next_open(c.env.now)
    if t > c.env.now:  # the branch is closed: come back when it opens
        yield from c.until(t + c.jitter(hi=2 * HOUR))
    c.row.branch_trips += 1
    c.channel = "branch"
    c.instant("take_queue_ticket", f"{branch}-KIOSK", "kiosk", system="CRM")
    pool = w.teams[team]
    t_req = c.env.now
    req = pool.request(priority=c.priority, preempt=False)
    agent = yield req
    req.en_log = c.enabled_now()
    c.waited(t_req, c.env.now)
    c.instant("called_to_counter", agent.id, agent.team, system="CRM")
    yield from c.work(agent, "verify_identity", 1.0, 0.3)
    c.row.verifications += 1
    yield from c.work(agent, "handle_request", 8.0, 0.5)
    pool.release(req)
    return "branch"


def channel_weights(elderly: bool, t: float) -> tuple[float, ...]:
    """Entry-channel mix, trending over the year: phone -10%/yr, online +20%/yr [28]."""
    base = ELDERLY_P if elderly else CHANNEL_P
    years = t / (365 * DAY)
    trend = {
        "phone_agent": 1 - 0.10 * years,
        "mobile_app": 1 + 0.20 * years,
        "chatbot": 1 + 0.20 * years,
        "web": 1 + 0.20 * years,
        "branch": 1.0,
    }
    return tuple(p * trend[ch] for ch, p in zip(CHANNELS, base, strict=True))


def case_setup(w: World, r, ci: int, t: float = 0.0) -> tuple[str, str, str]:
    """(reason, origin channel, product) of a new issue."""
    intent = r.route.pick(INTENTS, INTENT_P)
    elderly = w.customers.elderly[ci]
    ch = r.route.pick(CHANNELS, channel_weights(elderly, t))
    return intent, ch, "retail_account"
