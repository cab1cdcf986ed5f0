"""Customer time adds up (issue 9, class 1-3): each idle stretch of a case is counted once,
waiting never exceeds the lead time, the causes split exactly that waiting, every transition
named is an edge of the map, and the customer's clock stops at the outcome."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flowlens
from conftest import shared_path
from flowlens.analysis.waiting import CAUSES, waiting_causes
from flowlens.timing.calendars import CalendarSet, WorkCalendar
from flowlens.timing.clock_stop import detect_clock_stop
from flowlens.timing.model import time_model

H = 3_600_000_000


def _log(rows: list[tuple[str, str, str, str, str]]) -> flowlens.EventLog:
    df = pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"])
    return flowlens.read_log(df)


def _reconciles(tm: object) -> pd.DataFrame:
    c = tm.cases.to_pandas()  # type: ignore[attr-defined]
    assert (c.service_us + c.wait_sum_us == c.customer_lead_us).all()
    assert (c.customer_lead_us + c.after_stop_us == c.lead_us).all()
    assert (c.wait_sum_us >= 0).all() and (c.service_us >= 0).all()
    return c


def test_simultaneous_steps_share_one_wait() -> None:
    # BPIC 2012's A_APPROVED / A_REGISTERED / A_ACTIVATED: recorded at one instant after a wait
    rows = [("1", "submit", "r", "2024-01-01 09:00", "2024-01-01 09:10")]
    rows += [
        ("1", a, "sys", "2024-01-03 09:00", "2024-01-03 09:00") for a in ("approve", "register", "activate")
    ]
    tm = time_model(_log(rows))
    i = tm.instances.order_by("pos").to_pandas()
    assert i.wait_us.tolist() == [0, 48 * H - H // 6, 0, 0]
    c = _reconciles(tm)
    assert c.wait_sum_us.iloc[0] <= c.lead_us.iloc[0]


def test_parallel_branches_are_not_counted_twice() -> None:
    rows = [
        ("1", "a", "r1", "2024-01-01 09:00", "2024-01-01 10:00"),
        ("1", "b", "r2", "2024-01-01 12:00", "2024-01-01 13:00"),  # both enabled by a
        ("1", "c", "r3", "2024-01-01 12:30", "2024-01-01 15:00"),
        ("1", "d", "r1", "2024-01-01 16:00", "2024-01-01 17:00"),
    ]
    tm = time_model(_log(rows))
    c = _reconciles(tm)
    assert c.wait_sum_us.iloc[0] == 3 * H  # 10-12 and 15-16; c's wait overlaps b's work
    assert c.service_us.iloc[0] == 5 * H


def test_queue_steps_are_customer_waiting() -> None:
    rows = [
        ("1", "IVR", "ivr", "2024-01-01 09:00:00", "2024-01-01 09:01:00"),
        ("1", "Queue", None, "2024-01-01 09:01:00", "2024-01-01 09:05:00"),
        ("1", "Service", "agent", "2024-01-01 09:05:00", "2024-01-01 09:09:00"),
    ]
    tm = time_model(_log(rows))
    i = tm.instances.order_by("pos").to_pandas().set_index("activity")
    assert i.loc["Queue", "wait_us"] == 4 * 60_000_000 and i.loc["Queue", "proc_us"] == 0
    _reconciles(tm)


def test_clock_stops_before_an_administrative_closure() -> None:
    rows = []
    for c in range(30):
        d = pd.Timestamp("2024-01-01 09:00") + pd.Timedelta(days=c)
        rows += [
            (str(c), "Open", "ann", str(d), str(d + pd.Timedelta(minutes=10))),
            (str(c), "Resolve", "bob", str(d + pd.Timedelta(hours=3)), str(d + pd.Timedelta(hours=4))),
            (str(c), "Closed", "sys", str(d + pd.Timedelta(days=30)), str(d + pd.Timedelta(days=30))),
        ]
    log = _log(rows)
    tm = time_model(log)
    assert tm.stop.after_outcome == ("Closed",)
    c = _reconciles(tm)
    assert (c.customer_lead_us == 4 * H).all() and (c.after_stop_us == 30 * 24 * H - 4 * H).all()
    closed = tm.instances.filter(tm.instances.activity == "Closed").to_pandas()
    assert (closed.wait_us == 0).all() and closed.after_stop.all()
    given = time_model(log, clock_stop=["Closed"])
    assert given.stop.mode == "given"
    assert (given.cases.to_pandas().after_stop_us == 0).all()
    assert time_model(log, clock_stop="end").stop.mode == "case_end"
    with pytest.raises(flowlens.FlowlensError, match="do not occur"):
        time_model(log, clock_stop=["Archive"])


def test_days_on_the_customer_are_not_charged_to_shifts() -> None:
    # the clerk works 09-17 on weekdays, is free all of Tuesday and Wednesday, and only picks
    # the case up on Thursday morning: the customer held it; only the last night is shifts'
    rows = [("1", "request", "clerk", "2024-01-08 10:00", "2024-01-08 10:30")]  # Monday
    rows += [("1", "review", "clerk", "2024-01-11 09:00", "2024-01-11 09:30")]  # Thursday
    rows += [(f"x{k}", "other", "clerk", f"2024-01-{k} 16:30", f"2024-01-{k} 16:45") for k in (8, 12)]
    cal = WorkCalendar.preset("office", timezone="UTC")
    cals = CalendarSet(default=cal)
    log = _log(rows)
    w = waiting_causes(time_model(log, calendars=cals), calendars=cals)
    p = w.per_instance.to_pandas().set_index("activity").loc["review"]
    assert p.wait_us == sum(p[f"{c}_us"] for c in CAUSES)
    assert p.unavailability_us == 16 * H  # Wednesday 17:00 - Thursday 09:00
    assert p.extraneous_us + p.prioritization_us + p.contention_us == p.wait_us - 16 * H
    assert p.extraneous_us > 40 * H


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),  # case
            st.sampled_from("abcd"),
            st.sampled_from(["r1", "r2", None]),
            st.integers(0, 500),  # start (minutes)
            st.integers(0, 120),  # duration
        ),
        min_size=2,
        max_size=30,
    )
)
def test_any_log_reconciles(events: list[tuple[int, str, str | None, int, int]]) -> None:
    t0 = pd.Timestamp("2024-01-01")
    rows = [
        (str(c), a, r, str(t0 + pd.Timedelta(minutes=s)), str(t0 + pd.Timedelta(minutes=s + d)))
        for c, a, r, s, d in events
    ]
    tm = time_model(_log(rows))
    c = _reconciles(tm)
    assert int(c.wait_sum_us.sum()) <= int(c.lead_us.sum())
    w = waiting_causes(tm, calendars=CalendarSet.always()).per_instance.to_pandas()
    assert (w.wait_us == sum(w[f"{k}_us"] for k in CAUSES)).all()


@pytest.mark.parametrize("name", ["helpdesk", "sepsis", "bpic2012-w", "bank-callcenter", "receipt"])
def test_shared_logs_reconcile_and_name_map_edges(shared_logs: object, name: str) -> None:
    log = flowlens.read_log(shared_path(name))
    tm = time_model(log)
    c = _reconciles(tm)
    assert int(c.wait_sum_us.sum()) <= int(c.lead_us.sum())
    w = waiting_causes(tm)
    by_cause = sum(w.overall()["by_cause_s"].values())
    assert by_cause == pytest.approx(c.wait_sum_us.sum() / 1e6, rel=1e-9)
    tr = w.by("transition").reset_index()
    named = {(a, b) for a, b in zip(tr.prev_activity, tr.activity, strict=True) if pd.notna(a)}
    edges = set(map(tuple, flowlens.directly_follows(log).edges[["source", "target"]].values.tolist()))
    assert named <= edges


def test_helpdesk_closure_is_not_customer_waiting(shared_logs: object) -> None:
    log = flowlens.read_log(shared_path("helpdesk"))
    stop = detect_clock_stop(log)
    assert stop.after_outcome == ("Closed",)
    tm = time_model(log)
    c = _reconciles(tm)
    # the ~30 days before the automatic closure are most of the log's lead time, and none of
    # them is customer waiting
    assert c.after_stop_us.sum() > 0.6 * c.lead_us.sum()
    assert c.wait_sum_us.sum() < 0.4 * c.lead_us.sum()
