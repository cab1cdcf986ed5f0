"""P3 ``card_dispute``: card disputes and chargebacks (domain.md 1.3, 6.4 P3).

Reported in the app (40%), by phone (45%), via chatbot escalation (10%) or in a branch (5%);
fraud 55%, merchant 35%, processing error 10%. Verification is repeated after 70% of chatbot
escalations (W1); misclassified cases bounce between card operations and the fraud team (W5);
documents already uploaded in chat are asked for again (W2); customers upload after ~2 days and
merchants answer after ~18 days (extraneous, B5); chargebacks leave in a daily 16:00 batch (B2);
provisional credit at 10 business days (Reg E). SLA: Reg E (debit, 45 days with provisional
credit) or Reg Z (credit, two billing cycles <= 90 days).
"""

from __future__ import annotations

from flowlens.synth.calendars import DAY, HOUR
from flowlens.synth.processes.common import phone_queue
from flowlens.synth.rng import named_stream
from flowlens.synth.sim import Case, Gen, World
from flowlens.synth.teams import TeamSpec, build_agents

TEAMS = [
    TeamSpec("cc_card", (("card_day", 1), ("card_eve", 1)), "CRD-", notes="card hotline 08-22"),
    TeamSpec("card_ops", (("office", 2),), "COP-", notes="classification, investigation"),
    TeamSpec("fraud_team", (("office", 2),), "FRD-", notes="fraud investigation"),
    TeamSpec("dispute_desk", (("branch", 1),), "BRD-", notes="branch card-service desk"),
]
CHARGEBACK_BATCH = 16 * HOUR


def setup(w: World) -> None:
    for i, spec in enumerate(TEAMS):
        w.add_team(
            spec.name, build_agents(spec, w.start, w.daycal.days, w.volume, named_stream(w.seed, 30, i))
        )


def case_setup(w: World, r, ci: int, t: float = 0.0) -> tuple[str, str, str]:
    ch = r.route.pick(("mobile_app", "phone_agent", "chatbot", "branch"), (0.40, 0.45, 0.10, 0.05))
    kind = r.route.pick(("fraud", "merchant", "error"), (0.55, 0.35, 0.10))
    card = "debit_card" if r.route.random() < 0.6 else "credit_card"
    return kind, ch, card


def run_case(w: World, c: Case, t0: float) -> Gen:
    r = c.r
    kind = c.row.reason
    c.row.amount = round(min(max(r.route.lognormvariate(6.5, 1.0), 20.0), 80_000.0), 2)
    reg_e = c.row.product == "debit_card"
    c.row.sla_deadline = t0 + (45 if reg_e else 90) * DAY
    u_reverify, u_mis, u_bounces = r.route.random(), r.route.random(), r.route.random()
    u_docs, _u_held, u_repr, u_prearb, u_win = (r.route.random() for _ in range(5))
    d_upload = r.cust.lognorm(2 * DAY, 0.8)
    # Merchants answer within the scheme's 30 days; late answers are spread over the last three
    # days rather than piled on the deadline (a pile would look like a batch of responses).
    d_merchant = r.cust.lognorm(18 * DAY, 0.4)
    if d_merchant > 30 * DAY:
        d_merchant = 27 * DAY + (d_merchant - 30 * DAY) % (3 * DAY)
    d_ver = r.dur.lognorm(45.0, 0.4)
    bounce_d = [r.dur.lognorm(10 * 60.0, 0.4) for _ in range(3)]
    c.contact = f"{c.row.case_id}-C1"
    ch = c.row.origin_channel
    c.channel = ch
    if ch == "mobile_app":
        yield from c.system("app_login", 2, 6, resource="SYS-APP")
        c.row.verifications += 1
        yield from c.customer("report_dispute", 5.0, 0.4, system="DISPUTE")
        yield from c.customer("capture_details", 6.0, 0.4, system="DISPUTE")
    else:
        if ch == "chatbot":
            c.instant("chat_start", "BOT", "bot", system="CRM")
            yield from c.system(
                "bot_authenticates", 20, 40, resource="BOT", team="bot", channel="chatbot", system="CRM"
            )
            c.row.verifications += 1
            yield from c.customer("upload_receipt_in_chat", 2.0, 0.5, system="CRM")
            c.instant("request_human", "BOT", "bot", system="CRM")
        team = "dispute_desk" if ch == "branch" else "cc_card"
        if ch == "branch":
            cal = w.teams[team].agents[0].cal
            t = cal.next_open(c.env.now)
            if t > c.env.now:
                yield from c.until(t + c.jitter(hi=3 * HOUR))
            c.row.branch_trips += 1
        agent, req, t_req = yield from phone_queue(c, team, None)
        c.waited(t_req, c.env.now)
        if ch == "chatbot":
            if w.sw.redundant_verification and u_reverify < 0.70:
                s = yield from c.work(agent, "verify_identity", 0, 0, draw=d_ver)
                c.row.verifications += 1
                c.truth(
                    "waste",
                    "W1",
                    [s],
                    cause="re-verification after a chatbot escalation that had authenticated the customer",
                    remedy="no_redundant_verification",
                    customer_s=d_ver * agent.speed,
                    staff_s=d_ver * agent.speed,
                )
        else:
            yield from c.work(agent, "verify_identity", 0, 0, draw=d_ver)
            c.row.verifications += 1
        yield from c.work(agent, "report_dispute", 5.0, 0.4, system="DISPUTE")
        yield from c.work(agent, "capture_details", 6.0, 0.4, system="DISPUTE")
        w.teams[team].release(req)
    if kind == "fraud":
        yield from c.system("block_card_and_reissue", 5, 15, system="CORE", resource="SYS-CARD")
    c.contact = None
    c.channel = "back_office"
    # Acknowledgement letter: within one business day.
    t_ack = w.daycal.next_business_day_start(c.env.now - 20 * HOUR, 9.0) + c.jitter(hi=HOUR)
    if t_ack < c.env.now:
        t_ack = c.env.now + 60.0
    yield from c.until(t_ack)
    c.instant("acknowledge_dispute", "SYS-DISPUTE", "system", system="DISPUTE", channel="letter_email")
    decided = {"done": False}
    c.env.process(provisional_credit(w, c, t0, decided))
    # Classification and misrouting ping-pong (W5).
    home = "fraud_team" if kind == "fraud" else "card_ops"
    other = "card_ops" if home == "fraud_team" else "fraud_team"
    yield from c.task("card_ops", "classify_dispute", 5.0, 0.4, system="DISPUTE")
    if w.sw.misrouting and u_mis < 0.15:
        n = 1 + int(u_bounces * 3)
        teams = [other, home] * 2
        for i in range(n):
            t_b = c.env.now
            s1 = c.instant("reassign_case", "SYS-DISPUTE", "system", system="DISPUTE", attrs={"to": teams[i]})
            s2, _tr, ts, te, _, _ = yield from c.task(
                teams[i], "review_case", 0, 0, draw=bounce_d[i], system="DISPUTE"
            )
            c.truth(
                "waste",
                "W5",
                [s1, s2],
                cause="misclassified dispute bounces between card operations and the fraud team",
                remedy="correct_routing",
                staff_s=te - ts,
                wait_s=ts - t_b,
                bounce=i + 1,
            )
        if n % 2 == 1:  # ended at the wrong team: one more hop home
            c.instant("reassign_case", "SYS-DISPUTE", "system", system="DISPUTE", attrs={"to": home})
    # Documents for merchant disputes; those reported in chat (~10%) were already uploaded
    # there (W2). Only the chat upload makes them held: the log shows it.
    if kind == "merchant" and u_docs < 0.70:
        held = ch == "chatbot"
        if not (held and not w.sw.ask_held_data):
            t_r = c.env.now
            s1 = (yield from c.task("card_ops", "request_documents", 3.0, 0.4, system="DISPUTE"))[0]
            yield from c.until(_waking(c, c.env.now + d_upload))
            s2 = c.instant(
                "customer_uploads_documents", "CUSTOMER", "customer", system="DISPUTE", channel="mobile_app"
            )
            if held:
                c.row.re_entries += 1
                c.truth(
                    "waste",
                    "W2",
                    [s1, s2],
                    cause="documents already uploaded in chat requested again",
                    remedy="use_held_data",
                    customer_s=600.0,
                    wait_s=c.env.now - t_r,
                    already_held=True,
                )
            else:
                c.truth(
                    "bottleneck",
                    "B5",
                    [s2],
                    removable="no",
                    cause="waiting for the customer's documents (extraneous)",
                    remedy=None,
                    causes=("extraneous",),
                    team="customer",
                    since_request_s=round(c.env.now - t_r, 3),
                )
    yield from c.task(home, "investigate", 30.0, 0.5, system="DISPUTE")
    won = True
    if kind != "error":
        t_ready = c.env.now
        if w.sw.chargeback_batching:
            t_b = _next_batch(w, t_ready)
            yield from c.until(t_b)
        s = c.instant("submit_chargeback", "SYS-DISPUTE", "system", system="DISPUTE")
        if c.env.now - t_ready > 60:
            c.truth(
                "bottleneck",
                "B2",
                [s],
                removable="yes",
                cause="chargebacks submitted in a daily 16:00 batch",
                remedy="no_chargeback_batching",
                causes=("batching",),
                holds=[(t_ready, c.env.now)],
                team="card_ops",
                held_s=round(c.env.now - t_ready, 3),
            )
        yield from c.until(c.env.now + d_merchant)
        s = c.instant("merchant_response_received", "MERCHANT", "merchant", system="DISPUTE")
        c.truth(
            "bottleneck",
            "B5",
            [s],
            removable="no",
            cause="waiting for the merchant (extraneous)",
            remedy=None,
            causes=("extraneous",),
            team="merchant",
            merchant_s=round(d_merchant, 3),
        )
        if u_repr < 0.30:
            yield from c.task("card_ops", "review_representment", 20.0, 0.4, system="DISPUTE")
            if u_prearb < 0.17:
                yield from c.task("card_ops", "pre_arbitration", 30.0, 0.4, system="DISPUTE")
                yield from c.until(_waking(c, c.env.now + 10 * DAY))
            won = u_win < 0.55
        else:
            won = u_win < 0.80
    yield from c.task("card_ops", "decide_dispute", 10.0, 0.4, system="DISPUTE")
    decided["done"] = True
    if won:
        yield from c.system("finalize_credit", 1, 5, system="CORE")
    elif decided.get("provisional"):
        yield from c.system("reverse_provisional_credit", 1, 5, system="CORE")
    yield from c.system("notify_customer", 1, 3, resource="SYS-SMS", system="DISPUTE")
    c.row.sla_met = c.env.now <= c.row.sla_deadline
    c.row.sla_breached = not c.row.sla_met
    yield from c.system("close_dispute", 1, 3, system="DISPUTE")
    c.row.outcome = "customer_won" if won else "merchant_won"
    c.row.unfavourable = not won
    c.row.closed = c.env.now


def provisional_credit(w: World, c: Case, t0: float, decided: dict[str, bool]) -> Gen:
    """Reg E: credit the customer if the dispute is undecided after 10 business days."""
    t = w.daycal.add_business_days(t0, 10)
    yield c.env.timeout(max(0.0, t - c.env.now))
    if not decided["done"]:
        c.instant("provisional_credit", "SYS-CORE", "system", system="CORE", contact=None, side=True)
        decided["provisional"] = True


def _next_batch(w: World, t: float) -> float:
    d = int(t // DAY)
    while True:
        if w.daycal.is_business(d) and d * DAY + CHARGEBACK_BATCH >= t:
            return d * DAY + CHARGEBACK_BATCH
        d += 1


def _waking(c: Case, t: float) -> float:
    from flowlens.synth.calendars import waking

    return waking(t, c.r.cust.uniform(0.0, 5400.0))
