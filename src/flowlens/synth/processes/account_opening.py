"""P1 ``account_opening``: app and branch account opening with KYC, AML and branch sign-offs.

App (55%; elderly 25%) or branch (45%). 15% of app starts move to a branch: 8 points because
the original ID must be seen (an unnecessary trip, W3) and 7 by choice; in the branch they are
asked for everything again (re-entry, W2). Branch cases queue for a desk (VIP priority, B4),
may need a second staff ID check (W1), always need the branch manager's authorisation (W6 for
low risk, regulatory for high risk; one manager in meetings 20% of the day, B8) and, for wealth
buyers, risk questionnaire and dual recording (D4). Online ID check and liveness (D1), risk
rating, a document loop (W4), enhanced due diligence for high risk, then AML screening with a
manual review for hits that waits for the 10:00 / 15:00 batch (B2) of a lean team also working
transaction-monitoring alerts (B1). Manual AML review happens last, before the account is
opened by the core system, so a remedy there changes nothing for cases without a hit.
"""

from __future__ import annotations

from flowlens.synth.calendars import DAY, HOUR, MINUTE
from flowlens.synth.processes.common import add_branch_teams, background
from flowlens.synth.rng import named_stream
from flowlens.synth.sim import Case, Gen, World
from flowlens.synth.teams import TeamSpec, build_agents

TEAMS = [
    TeamSpec("kyc_ops", (("office", 2),), "KYC-", notes="documents, manual ID review, video ID"),
    TeamSpec(
        "aml_review",
        (("office", 1),),
        "AML-",
        notes="manual AML review (batches 10:00, 15:00) + transaction-monitoring alerts",
    ),
    TeamSpec("compliance", (("office", 1),), "CMP-", notes="enhanced due diligence"),
]
AML_BATCHES = (10 * HOUR, 15 * HOUR)


def setup(w: World) -> None:
    for i, spec in enumerate(TEAMS):
        extra = w.sw.aml_extra_reviewers if spec.name == "aml_review" else 0
        w.add_team(
            spec.name,
            build_agents(spec, w.start, w.daycal.days, w.volume, named_stream(w.seed, 10, i), extra=extra),
        )
    add_branch_teams(w, "branch_teller", [("branch", 1), ("branch_late_lunch", 1)], "T", key=11)
    add_branch_teams(w, "branch_manager", [("branch", 1)], "M", key=12, meetings=0.20)
    add_branch_teams(w, "branch_lobby", [("branch", 1)], "L", key=13)
    add_branch_teams(w, "wealth_rm", [("branch", 1)], "R", key=14)
    for b in range(1, w.n_branches + 1):
        background(
            w,
            w.teams[f"branch_teller:BR{b:02d}"],
            1.0,
            20.0,
            0.5,
            named_stream(w.seed, 15, b),
            kind="counter",
        )
    # Transaction-monitoring alerts come first for the AML team (regulatory deadlines).
    background(
        w,
        w.teams["aml_review"],
        0.55 * max(w.volume, 0.2),
        35.0,
        0.5,
        named_stream(w.seed, 16),
        priority=-1,
        kind="aml_alert",
    )


def case_setup(w: World, r, ci: int, t: float = 0.0) -> tuple[str, str, str]:
    elderly = w.customers.elderly[ci]
    app = r.route.random() < (0.25 if elderly else 0.60)
    product = r.route.pick(("debit_account", "savings_account", "payroll_account"), (0.6, 0.25, 0.15))
    return "new_account", "mobile_app" if app else "branch", product


def run_case(w: World, c: Case, t0: float) -> Gen:
    r = c.r
    ci = c.row.customer
    risk = w.customers.risk[ci]
    c.row.amount = None
    # Draw the routing of the whole case up front (common random numbers).
    u_switch, _u_spare = r.route.random(), r.route.random()
    u_docs, u_manual_id, u_id_reject = r.route.random(), r.route.random(), r.route.random()
    u_aml, u_aml_reject, u_edd_reject = r.route.random(), r.route.random(), r.route.random()
    u_wealth, u_second = r.route.random(), r.route.random()
    u_face = [r.route.random() for _ in range(3)]
    u_app_abandon = r.cust.random()
    u_never = r.cust.random()
    branch_patience = r.cust.lognorm(40 * MINUTE, 0.5)
    state = {"switched": False, "w3": False}
    if c.row.origin_channel == "mobile_app":
        c.channel = "mobile_app"
        yield from c.customer("fill_application_form", 10.0, 0.5, system="CORE")
        if u_app_abandon < 0.04:  # gives up on a long form [36][37]
            c.instant("abandon_application", "SYS-APP", "system", system="CORE")
            return close(c, "abandoned")
        yield from c.customer("capture_id_document", 0.8, 0.3, system="CORE")
        yield from id_checks(w, c, u_face)
        fails = sum(1 for u in u_face if u < 0.08)
        must_visit = fails == 3 or u_switch < 0.08
        chooses = 0.08 <= u_switch < 0.15
        if must_visit and w.sw.remote_id:
            yield from c.task("kyc_ops", "video_id_verification", 8.0, 0.4, channel="video")
        elif must_visit or chooses:
            state["switched"] = True
            state["w3"] = must_visit
            act = "branch_visit_required" if must_visit else "switch_to_branch"
            c.instant(act, "SYS-APP", "system", system="CORE")
            yield from c.customer_wait(20.0, 0.8)
    if c.row.origin_channel == "branch" or state["switched"]:
        ok = yield from branch_session(w, c, risk, state, u_wealth, u_second, branch_patience, u_docs, u_aml)
        if ok is None:
            return
        at_counter_done = ok
    else:
        at_counter_done = False
        yield from c.system("risk_rating", 1, 2)
        if u_manual_id < 0.22:  # rule hits: address or employer mismatch, watch-list near miss
            yield from c.task("kyc_ops", "manual_id_review", 6.0, 0.5, channel="back_office")
            if u_id_reject < 0.25:
                return close(c, "rejected")
    if not at_counter_done:
        ok = yield from documents(w, c, u_docs, u_never)
        if not ok:
            return close(c, "abandoned")
        if risk == "high":
            s = yield from c.task("compliance", "enhanced_due_diligence", 90.0, 0.5, channel="back_office")
            s = s[0]
            c.truth(
                "decoy",
                "D2",
                [s],
                removable="no",
                regulatory=True,
                cause="enhanced due diligence for a high-risk customer",
                remedy=None,
            )
            if u_edd_reject < 0.20:
                return close(c, "rejected")
        if c.row.origin_channel == "mobile_app" and not state["switched"]:
            yield from c.customer("sign_agreement", 1.5, 0.3, system="CORE")
        rejected = yield from aml(w, c, u_aml, u_aml_reject)
        if rejected:
            return close(c, "rejected")
        yield from c.system("open_account", 2, 8)
        if c.row.origin_channel == "mobile_app" and not state["switched"]:
            yield from c.system("issue_virtual_card", 5, 15)
            yield from c.customer("activate_mobile_banking", 1.0, 0.4, system="CORE")
        else:
            yield from c.system("mail_card", 2, 5)
    yield from c.system("welcome_message", 1, 2, resource="SYS-SMS")
    close(c, "opened")


def close(c: Case, outcome: str) -> None:
    c.row.outcome = outcome
    c.row.unfavourable = outcome != "opened"
    c.row.closed = c.env.now


def id_checks(w: World, c: Case, u_face: list[float]) -> Gen:
    """Online ID check (联网核查) and liveness, up to three tries: required, a decoy (D1)."""
    seqs = [(yield from c.system("online_id_check", 2, 10, system="CORE", resource="SYS-PBOC"))]
    for u in u_face:
        seqs.append((yield from c.system("face_verification", 20, 40, resource="SYS-FACE")))
        if u >= 0.08:
            break
    c.truth(
        "decoy",
        "D1",
        seqs,
        removable="no",
        regulatory=True,
        cause="identity verification required by the PBOC (risk-based KYC)",
        remedy=None,
    )


def documents(w: World, c: Case, u_docs: float, u_never: float) -> Gen:
    """12% need more documents; 25% of reviews find them incomplete again (W4)."""
    if u_docs >= 0.12:
        return True
    loop_p = 0.25 * (w.sw.incomplete_first_p / 0.35)
    us = [c.r.route.random() for _ in range(3)]
    for i in range(4):
        t_loop = c.env.now
        s1 = (yield from c.task("kyc_ops", "request_additional_documents", 5.0, 0.4, channel="back_office"))[
            0
        ]
        if i == 0 and u_never < 0.30:
            yield from c.customer_wait(24.0 * 10, 0.3)
            c.instant("application_expired", "SYS-CORE", "system")
            return False
        yield from c.customer_wait(20.0, 1.0)
        s2 = c.instant("customer_submits_documents", "CUSTOMER", "customer")
        s3 = (yield from c.task("kyc_ops", "review_documents", 10.0, 0.4, channel="back_office"))[0]
        if i > 0:
            staff = sum(c.events[s].end - c.events[s].start for s in (s1, s3))
            c.truth(
                "waste",
                "W4",
                [s1, s2, s3],
                removable="partly",
                cause="documents incomplete again after review",
                remedy="document_checklist",
                customer_s=0.0,
                staff_s=staff,
                wait_s=c.env.now - t_loop - staff,
            )
        if i == 3 or us[i] >= loop_p:
            return True
    return True


def aml(w: World, c: Case, u_aml: float, u_reject: float) -> Gen:
    """AML screening (D2); hits wait for the review batch (B2) and the reviewer (B1)."""
    s = yield from c.system("aml_screening", 2, 5, resource="SYS-AML")
    seqs = [s]
    rejected = False
    holds: list[tuple[float, float]] = []
    if u_aml < 0.04:
        t_ready = c.env.now
        if w.sw.aml_batching:
            t_batch = next_batch(w, t_ready, AML_BATCHES)
            yield from c.until(t_batch)
        t_req = c.env.now
        holds = [(t_ready, t_req)]
        seq, _, t0, _t1, _agent, _ = yield from c.task(
            "aml_review", "manual_aml_review", 20.0, 0.4, channel="back_office", system="CORE"
        )
        seqs.append(seq)
        if w.sw.aml_batching and t_req > t_ready:
            c.truth(
                "bottleneck",
                "B2",
                [seq],
                removable="yes",
                cause="AML reviews released in batches at 10:00 and 15:00",
                remedy="no_aml_batching",
                causes=("batching",),
                holds=holds,
                team="aml_review",
                held_s=round(t_req - t_ready, 3),
            )
        if t0 - t_req > 60:
            c.truth(
                "bottleneck",
                "B1",
                [seq],
                removable="yes",
                cause="AML review team busy (contention with alerts and other reviews)",
                remedy="aml_reviewer_plus_one",
                causes=("contention", "prioritization"),
                holds=holds,
                team="aml_review",
                queued_s=round(t0 - t_req, 3),
            )
        rejected = u_reject < 0.10
    c.truth(
        "decoy",
        "D2",
        seqs,
        removable="no",
        regulatory=True,
        cause="AML screening (and manual review of hits) required by law",
        remedy=None,
        holds=holds,
    )
    return rejected


def next_batch(w: World, t: float, times: tuple[float, ...]) -> float:
    d = int(t // DAY)
    while True:
        if w.daycal.is_business(d):
            for bt in times:
                if d * DAY + bt >= t:
                    return d * DAY + bt
        d += 1


def branch_session(
    w: World,
    c: Case,
    risk: str,
    state: dict[str, bool],
    u_wealth: float,
    u_second: float,
    patience: float,
    u_docs: float,
    u_aml: float,
) -> Gen:
    """The branch visit. Returns True if the account was opened at the counter, False if the
    case continues in the back office, None if the customer left the queue."""
    ci = c.row.customer
    branch = w.customers.branch[ci]
    teller_pool = w.teams[f"branch_teller:{branch}"]
    cal = teller_pool.agents[0].cal
    t = cal.next_open(c.env.now)
    if t > c.env.now:
        yield from c.until(t + c.jitter(hi=3 * HOUR))
    c.channel = "branch"
    c.row.branch_trips += 1
    c.row.channels.add("branch")
    first = c.instant("take_queue_ticket", f"{branch}-KIOSK", "kiosk")
    t_req = c.env.now
    req = teller_pool.request(priority=c.priority, preempt=False)
    timeout = c.env.timeout(patience)
    res = yield req | timeout
    if req not in res:
        req.cancel()
        if req.triggered:
            teller_pool.release(req)
        c.instant("leave_queue", f"{branch}-KIOSK", "kiosk")
        c.waited(t_req, c.env.now)
        if state["w3"]:  # the trip was made (and wasted) even though the customer gave up
            span_start = c.events[first].start
            c.truth(
                "waste",
                "W3",
                [first],
                removable="mostly",
                cause="branch trip only to show the original ID document (left the queue)",
                remedy="remote_id_verification",
                customer_s=40 * MINUTE + (c.env.now - span_start),
                wait_s=c.env.now - span_start,
                travel_min=40,
            )
        close(c, "abandoned")
        return None
    agent = res[req]
    req.en_log = c.enabled_now()
    c.waited(t_req, c.env.now)
    c.instant("called_to_counter", agent.id, agent.team)
    d_reenter, d_retrieve = c.r.dur.lognorm(7 * 60.0, 0.4), c.r.dur.lognorm(60.0, 0.3)
    if state["switched"]:
        if w.sw.shared_application_data:
            yield from c.work(agent, "retrieve_online_application", 0, 0, draw=d_retrieve)
        else:
            s = yield from c.work(agent, "re_enter_customer_information", 0, 0, draw=d_reenter)
            c.row.re_entries += 1
            c.truth(
                "waste",
                "W2",
                [s],
                cause="data captured in the app keyed in again at the branch",
                remedy="digital_form_instead_of_reentry",
                customer_s=d_reenter * agent.speed,
                staff_s=d_reenter * agent.speed,
            )
        if state["w3"]:
            span_start = c.events[first].start
            c.truth(
                "waste",
                "W3",
                [first],
                removable="mostly",
                cause="branch trip only to show the original ID document",
                remedy="remote_id_verification",
                customer_s=40 * MINUTE + (c.env.now - span_start),
                wait_s=c.env.now - span_start,
                travel_min=40,
            )
    else:
        yield from c.customer("fill_application_form", 9.0, 0.4)
        yield from c.work(agent, "capture_id_document", 1.0, 0.3)
        yield from id_checks(w, c, [c.r.route.random(), 1.0, 1.0])
        yield from c.work(agent, "key_in_customer_data", 6.5, 0.4)
    d_ver = c.r.dur.lognorm(60.0, 0.3)
    if u_second < 0.30 and w.sw.redundant_verification:
        seq, tr, ts, te, _, _ = yield from c.task(
            f"branch_lobby:{branch}", "verify_identity", 0, 0, draw=d_ver
        )
        c.row.verifications += 1
        c.truth(
            "waste",
            "W1",
            [seq],
            cause="second staff member re-checks an ID already verified online",
            remedy="no_redundant_verification",
            customer_s=te - tr,
            staff_s=te - ts,
            wait_s=ts - tr,
        )
    yield from c.system("risk_rating", 1, 2)
    d_auth = c.r.dur.lognorm(3 * 60.0, 0.4)
    if risk == "high" or w.sw.low_risk_supervisor_auth:
        seq, tr, ts, te, _, _ = yield from c.task(
            f"branch_manager:{branch}", "supervisor_authorization", 0, 0, draw=d_auth
        )
        if risk == "high":
            c.truth(
                "decoy",
                "D5",
                [seq],
                removable="no",
                regulatory=True,
                cause="supervisor authorisation for a high-risk customer",
                remedy=None,
            )
        else:
            c.truth(
                "waste",
                "W6",
                [seq],
                cause="supervisor sign-off on a low-risk opening",
                remedy="no_low_risk_supervisor_auth",
                customer_s=te - tr,
                staff_s=te - ts,
                wait_s=ts - tr,
            )
        if ts - tr > 5 * MINUTE:
            c.truth(
                "bottleneck",
                "B8",
                [seq],
                removable="partly",
                cause="single branch manager (meetings 20% of the day)",
                remedy="delegate_authorisation",
                causes=("contention", "prioritization"),
                team="branch_manager",
                queued_s=round(ts - tr, 3),
            )
    if u_wealth < 0.20:
        s1 = (yield from c.task(f"wealth_rm:{branch}", "risk_questionnaire", 8.0, 0.3))[0]
        s2 = (yield from c.task(f"wealth_rm:{branch}", "dual_recording", 12.0, 0.3))[0]
        c.truth(
            "decoy",
            "D4",
            [s1, s2],
            removable="no",
            regulatory=True,
            cause="risk questionnaire and dual recording (双录) for wealth products",
            remedy=None,
        )
    yield from c.work(agent, "sign_agreement", 3.0, 0.3)
    at_counter = u_docs >= 0.12 and risk != "high" and u_aml >= 0.04
    if at_counter:
        yield from aml(w, c, u_aml, 1.0)
        yield from c.system("open_account", 2, 8)
        yield from c.work(agent, "issue_card", 3.0, 0.3)
        yield from c.work(agent, "activate_mobile_banking", 3.0, 0.3)
    teller_pool.release(req)
    return at_counter
