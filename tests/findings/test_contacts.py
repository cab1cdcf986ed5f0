"""Repeat contacts, context lost in transfers and bot handoffs, chatbot doom loops
(flowlens.findings.contacts; docs/methods.md 13.11).

Exact results on small logs built here, then precision and recall per waste code against the
bank generator's ground truth (demo preset, seed 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowlens.findings import contacts, journeys
from flowlens.timing.model import time_model

from ._journey_data import bank, case_scores, log_from, run

H = 60  # minutes
D = 24 * H

# case, contact, customer, channel, activity, resource, start, end (minutes after T0)
REPEATS = [
    # A handled call, and the customer calls again the next day on the same case.
    ("s1", "s1-c1", "k1", "phone_ivr", "IVR Menu", "IVR", 0, 1),
    ("s1", "s1-c1", "k1", "phone_ivr", "Enter Queue", "IVR", 1, 1),
    ("s1", "s1-c1", "k1", "phone_agent", "Agent Answers", "A1", 3, 3),
    ("s1", "s1-c1", "k1", "phone_agent", "Handle Request", "A1", 3, 8),
    ("s1", "s1-c2", "k1", "phone_ivr", "IVR Menu", "IVR", D, D + 1),
    ("s1", "s1-c2", "k1", "phone_ivr", "Enter Queue", "IVR", D + 1, D + 1),
    ("s1", "s1-c2", "k1", "phone_agent", "Agent Answers", "A2", D + 2, D + 2),
    ("s1", "s1-c2", "k1", "phone_agent", "Handle Request", "A2", D + 2, D + 6),
    # The first call was abandoned in the queue: calling back is no failed resolution.
    ("s2", "s2-c1", "k2", "phone_ivr", "IVR Menu", "IVR", 0, 1),
    ("s2", "s2-c1", "k2", "phone_ivr", "Enter Queue", "IVR", 1, 1),
    ("s2", "s2-c1", "k2", "phone_ivr", "Abandon Call", "IVR", 4, 4),
    ("s2", "s2-c2", "k2", "phone_ivr", "IVR Menu", "IVR", 100, 101),
    ("s2", "s2-c2", "k2", "phone_ivr", "Enter Queue", "IVR", 101, 101),
    ("s2", "s2-c2", "k2", "phone_agent", "Agent Answers", "A1", 102, 102),
    ("s2", "s2-c2", "k2", "phone_agent", "Handle Request", "A1", 102, 106),
    # Separate cases of one customer: two days apart (one issue), then 20 days later (a new one).
    ("x1", None, "k3", "web", "Submit Service Request", "CUSTOMER", 0, 5),
    ("x2", None, "k3", "web", "Submit Service Request", "CUSTOMER", 2 * D, 2 * D + 4),
    ("x3", None, "k3", "web", "Submit Service Request", "CUSTOMER", 20 * D, 20 * D + 3),
]


def test_repeat_contacts_exact() -> None:
    found = run(log_from(REPEATS), contacts.detect_repeat_contacts)
    by_channel = {f.details["after_channel"]: f for f in found}
    assert set(by_channel) == {"phone", "web"}
    phone = by_channel["phone"]
    assert (phone.kind, phone.case_ids, phone.occurrences) == ("repeat_contact", ("s1",), 1)
    # The whole second call, from the end of the first: 1,432 + 1 min waiting, 1 + 4 min of steps.
    assert phone.customer_time_s == pytest.approx((D + 6 - 8) * 60.0)
    assert phone.details["waiting_s"] == pytest.approx(1433 * 60.0)
    assert phone.details["waiting_before_repeats_s"] == pytest.approx(1432 * 60.0)
    assert phone.staff_time_s == pytest.approx(240.0)
    assert phone.activities == ("IVR Menu",)
    assert phone.scenario.action == "reduce_repeats" and phone.details["catalogue"] == "W7"
    web = by_channel["web"]
    assert web.case_ids == ("x2",) and web.customer_time_s == pytest.approx(240.0)


CONTEXT = [
    # Cold transfer: the customer explains again and is verified again.
    ("t1", "t1-c1", "k5", "phone_agent", "Agent Answers", "A1", 0, 0),
    ("t1", "t1-c1", "k5", "phone_agent", "Verify Identity", "A1", 0, 1),
    ("t1", "t1-c1", "k5", "phone_agent", "Transfer Call", "A1", 2, 2),
    ("t1", "t1-c1", "k5", "phone_agent", "Agent Answers", "A2", 5, 5),
    ("t1", "t1-c1", "k5", "phone_agent", "Re-explain Issue", "A2", 5, 7),
    ("t1", "t1-c1", "k5", "phone_agent", "Verify Identity", "A2", 7, 8),
    ("t1", "t1-c1", "k5", "phone_agent", "Handle Request", "A2", 8, 12),
    # Chat: two fallbacks, the bot authenticates and hands over; the agent re-asks and re-checks.
    ("h1", "h1-c1", "k6", "chatbot", "Chat Start", "BOT", 0, 0),
    ("h1", "h1-c1", "k6", "chatbot", "Intent Not Understood", "BOT", 0, 0),
    ("h1", "h1-c1", "k6", "chatbot", "Rephrase Question", "CUSTOMER", 0, 1),
    ("h1", "h1-c1", "k6", "chatbot", "Intent Not Understood", "BOT", 1, 1),
    ("h1", "h1-c1", "k6", "chatbot", "Rephrase Question", "CUSTOMER", 1, 2),
    ("h1", "h1-c1", "k6", "chatbot", "Bot Answer", "BOT", 2, 3),
    ("h1", "h1-c1", "k6", "chatbot", "Bot Authenticates", "BOT", 3, 3.5),
    ("h1", "h1-c1", "k6", "chatbot", "Request Human Agent", "BOT", 3.5, 3.5),
    ("h1", "h1-c1", "k6", "chatbot", "Agent Joins Chat", "A3", 10, 10),
    ("h1", "h1-c1", "k6", "chatbot", "Re-explain Issue", "A3", 10, 12),
    ("h1", "h1-c1", "k6", "chatbot", "Verify Identity", "A3", 12, 13),
    ("h1", "h1-c1", "k6", "chatbot", "Handle Request", "A3", 13, 20),
    # A warm transfer: nothing repeated.
    ("t2", "t2-c1", "k7", "phone_agent", "Agent Answers", "A1", 0, 0),
    ("t2", "t2-c1", "k7", "phone_agent", "Warm Transfer Briefing", "A1", 0, 1),
    ("t2", "t2-c1", "k7", "phone_agent", "Agent Answers", "A2", 3, 3),
    ("t2", "t2-c1", "k7", "phone_agent", "Handle Request", "A2", 3, 9),
]


def _context_log():
    """The log and its time model without a concurrency oracle: on eight events the heuristics
    oracle would call the fallback and the rephrasing concurrent (both orders occur)."""
    log = log_from(CONTEXT)
    return log, {"_tm": time_model(log, oracle="none")}


def test_context_loss_after_transfers_and_handoffs() -> None:
    log, kw = _context_log()
    found = run(log, contacts.detect_context_loss, **kw)
    via = {f.details["via"]: f for f in found}
    assert set(via) == {"transfer", "handoff"}
    assert via["transfer"].case_ids == ("t1",) and via["transfer"].details["catalogue"] == "W9"
    assert via["transfer"].customer_time_s == pytest.approx(120.0)
    assert via["handoff"].case_ids == ("h1",) and via["handoff"].details["catalogue"] == "W8"
    assert via["handoff"].customer_time_s == pytest.approx(120.0)
    assert all(f.kind == "context_loss" and f.scenario.action == "warm_handoff" for f in found)
    checks = run(log, journeys.detect_repeated_checks, **kw)
    assert {(f.case_ids, f.details["earlier_check"], f.details["between"]) for f in checks} == {
        (("t1",), "Verify Identity", "transfer"),
        (("h1",), "Bot Authenticates", "handoff"),
    }


def test_bot_doom_loop() -> None:
    log, kw = _context_log()
    found = run(log, contacts.detect_bot_loops, **kw)
    assert len(found) == 1
    f = found[0]
    assert (f.kind, f.case_ids, f.occurrences) == ("loop", ("h1",), 2)
    assert f.activities == ("Intent Not Understood", "Rephrase Question")
    assert f.customer_time_s == pytest.approx(120.0)  # two rephrasings of a minute
    assert f.details["catalogue"] == "W8" and f.scenario.action == "cut_loop"


def test_one_second_is_priced_once() -> None:
    log, kw = _context_log()
    found = run(log, **kw)
    h1 = sorted((f.kind, round(f.per_case_s["h1"])) for f in found if "h1" in f.per_case_s)
    assert h1 == [("context_loss", 120), ("loop", 120), ("repeated_check", 60)]


# -- the bank generator (demo preset, seed 11) -------------------------------------------------
@pytest.mark.parametrize("code", ["W7", "W8", "W9"])
def test_bank_precision_and_recall(bank_demo_seed11: Path, code: str) -> None:
    found, _, truth = bank(str(bank_demo_seed11))
    precision, recall = case_scores(found, truth, code)
    assert precision >= 0.9 and recall >= 0.9, (code, precision, recall)


def test_bank_repeat_contacts_by_channel(bank_demo_seed11: Path) -> None:
    found, _, _ = bank(str(bank_demo_seed11))
    rc = {f.details["after_channel"]: f for f in found if f.kind == "repeat_contact"}
    assert {"phone", "app", "chat", "branch", "web"} <= set(rc)
    # Most of a repeat contact's cost is the wait for it; its own steps take minutes.
    phone = rc["phone"]
    assert phone.details["waiting_before_repeats_s"] > 3 * phone.details["in_repeat_contacts_s"]
    assert 2 * 60 < phone.details["processing_s"] / phone.occurrences < 30 * 60


def test_a_placeholder_customer_links_nothing() -> None:
    # Unidentified callers are all booked as customer "0": their calls are not one customer's
    # repeat contacts (the call centre log books 55 % of its calls so).
    rows = [
        (f"a{i}", f"a{i}-c1", "0", "phone", "Handle Request", f"A{i % 3}", i * H, i * H + 5)
        for i in range(30)
    ]
    assert run(log_from(rows), contacts.detect_repeat_contacts) == []
    rows = [(c, k, "k9", *rest) for c, k, _, *rest in rows[:2]]  # a known customer: linked
    (f,) = run(log_from(rows), contacts.detect_repeat_contacts)
    assert f.case_ids == ("a1",)


def test_cases_without_a_customer_are_no_placeholder() -> None:
    # A log where some cases have no customer value: their NaN (as pandas reads a NULL) was put
    # on the placeholder list and the engine's IN failed casting the ids to DOUBLE.
    rows = [(c, k, None if c == "x2" else cu, *rest) for c, k, cu, *rest in REPEATS]
    # x2 is no longer k3's second request two days after x1: only s1's call-back is left
    assert [f.case_ids for f in run(log_from(rows), contacts.detect_repeat_contacts)] == [("s1",)]
