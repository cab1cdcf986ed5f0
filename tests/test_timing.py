"""The time model: calendars and business time (DST, holidays, zones), enabled times, waiting
and processing, start estimation, and the shared-log checks of issue 5."""

from __future__ import annotations

from datetime import date, datetime, time

import pandas as pd
import pytest

import flowlens
from conftest import shared_path
from flowlens.errors import ConfigError
from flowlens.timing.business import BusinessClock
from flowlens.timing.calendars import CalendarSet, WorkCalendar
from flowlens.timing.model import time_model


def us(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1_000_000)


H = 3_600_000_000


def test_business_time_across_a_dst_change() -> None:
    # Europe/Amsterdam moves clocks forward on Sunday 2024-03-31; 09-17 stays 8 working hours.
    cal = WorkCalendar.preset("office", timezone="Europe/Amsterdam")
    clock = BusinessClock({"c": cal}, us("2024-03-25T00:00:00+01:00"), us("2024-04-10T00:00:00+02:00"))
    fri_noon = us("2024-03-29T12:00:00+01:00")
    mon_noon = us("2024-04-01T12:00:00+02:00")
    assert clock.working_us("c", fri_noon, mon_noon) == 8 * H  # 5 h Friday + 3 h Monday
    # calendar time is 71 h, not 72, because of the DST change
    assert mon_noon - fri_noon == 71 * H


def test_business_time_skips_holidays_and_counts_working_weekends() -> None:
    cal = WorkCalendar.preset("office", timezone="Asia/Shanghai", country="CN", years=[2024])
    assert date(2024, 10, 1) in cal.holidays
    assert date(2024, 9, 29) in cal.extra_workdays  # a Sunday worked before National Day
    clock = BusinessClock({"c": cal}, us("2024-09-20T00:00:00+08:00"), us("2024-10-20T00:00:00+08:00"))
    # Fri 27 Sep 17:00 -> Tue 8 Oct 17:00: Sun 29 Sep and Mon 30 Sep and Tue 8 Oct are worked
    # (8 h each); 1-7 Oct are holidays; Sat 12 Oct is a working Saturday after the holiday.
    worked = clock.working_us("c", us("2024-09-27T17:00:00+08:00"), us("2024-10-08T17:00:00+08:00"))
    assert worked == 3 * 8 * H
    # pm4py's errors do not occur: working seconds are not divided by 24 h days, holidays count
    assert worked / H == 24


def test_offsets_are_converted_not_replaced() -> None:
    df = pd.DataFrame(
        {
            "case": ["1", "1"],
            "activity": ["a", "b"],
            "timestamp": ["2024-01-01T09:00:00+08:00", "2024-01-01T03:00:00+02:00"],
        }
    )
    log = flowlens.read_log(df, tz="Europe/Amsterdam")
    tm = time_model(log)
    waits = tm.instances.order_by("pos").to_pandas()
    # 09:00+08:00 = 01:00 UTC; 03:00+02:00 = 01:00 UTC: the same instant, zero waiting
    assert waits.end_us.tolist()[0] == waits.end_us.tolist()[1]


def test_calendar_file_roundtrip_and_errors(tmp_path) -> None:
    p = tmp_path / "cal.toml"
    p.write_text(
        'timezone = "Asia/Shanghai"\nholidays = ["2024-05-01"]\n'
        '[default]\nmon = ["09:00-12:00", "13:30-17:30"]\ntue = ["09:00-17:30"]\n'
        '[teams.cc]\npreset = "24x7"\n[resources]\n"AGT-1" = "cc"\n',
        encoding="utf-8",
    )
    cs = CalendarSet.from_file(p)
    assert cs.default.hours[0] == ((time(9), time(12)), (time(13, 30), time(17, 30)))
    assert cs.for_resource("AGT-1").name == "cc"
    assert cs.for_resource("someone").name == "default"
    assert date(2024, 5, 1) in cs.default.holidays
    p.write_text('[default]\nmon = ["17:00-09:00"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="ends before it starts"):
        CalendarSet.from_file(p)


def _interval_log(rows: list[tuple[str, str, str, str, str]]) -> flowlens.EventLog:
    df = pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"])
    return flowlens.read_log(df)


def test_waiting_processing_and_flow_efficiency_sum_up() -> None:
    log = _interval_log(
        [
            ("1", "a", "r1", "2024-01-01 09:00", "2024-01-01 10:00"),
            ("1", "b", "r2", "2024-01-01 12:00", "2024-01-01 12:30"),
            ("1", "c", "r1", "2024-01-01 13:00", "2024-01-01 14:00"),
        ]
    )
    tm = time_model(log)
    i = tm.instances.order_by("pos").to_pandas()
    assert (i.wait_us / H).tolist() == [0.0, 2.0, 0.5]
    assert (i.proc_us / H).tolist() == [1.0, 0.5, 1.0]
    c = tm.cases.to_pandas().iloc[0]
    assert c.lead_us == 5 * H
    assert c.proc_sum_us + c.wait_sum_us == c.lead_us  # sequential: sum PT + sum WT = LT
    assert c.flow_efficiency == pytest.approx(2.5 / 5)
    assert c.wait_sum_us == int(2.5 * H)
    assert c.service_us + c.wait_sum_us == c.customer_lead_us == c.lead_us


def test_business_waiting_uses_the_resource_calendar() -> None:
    log = _interval_log(
        [
            ("1", "a", "r1", "2024-01-05 16:00", "2024-01-05 17:00"),  # Friday
            ("1", "b", "r2", "2024-01-08 10:00", "2024-01-08 11:00"),  # Monday
        ]
    )
    cals = CalendarSet(default=WorkCalendar.preset("office", timezone="UTC"))
    tm = time_model(log, calendars=cals)
    b = tm.instances.filter(tm.instances.activity == "b").to_pandas().iloc[0]
    assert b.wait_us == (2 * 24 + 17) * H
    assert b.wait_bus_us == 1 * H


def test_start_estimation_is_marked() -> None:
    df = pd.DataFrame(
        {
            "case": ["1", "1", "2", "2"],
            "activity": ["a", "b", "a", "b"],
            "resource": ["r", "r", "r", "r"],
            "timestamp": ["2024-01-01 09:10", "2024-01-01 09:40", "2024-01-01 09:50", "2024-01-01 10:20"],
        }
    )
    tm = time_model(flowlens.read_log(df))
    i = tm.instances.order_by(["case_idx", "pos"]).to_pandas()
    assert i.start_estimated.all() and tm.starts_estimated
    # b of case 1 starts when the resource finished a (09:10); a of case 2 when r finished b (09:40)
    assert pd.to_datetime(i.start_us, unit="us").dt.strftime("%H:%M").tolist()[1:3] == ["09:10", "09:40"]
    assert tm.overall()["estimated_starts"] == 4


def test_an_unrecorded_start_takes_the_activitys_recorded_duration_as_typical() -> None:
    # Twelve calls with recorded starts (2 min each) and one without: the caller's previous call
    # ended at 09:02, the unrecorded call ends at 17:00. The estimate may not call the 8 hours
    # in between a call (methods 6.2: at most 2 x the recorded median of 2 min).
    rows = []
    for k in range(12):
        day = f"2024-01-{k + 2:02d}"
        rows += [
            (f"c{k}", "Open", "sys", None, f"{day} 08:00"),
            (f"c{k}", "Call", "agent", f"{day} 09:00", f"{day} 09:02"),
        ]
    rows += [
        ("x", "Open", "sys", None, "2024-01-20 08:00"),
        ("x", "Call", "agent", "2024-01-20 09:00", "2024-01-20 09:02"),
    ]
    rows += [("x", "Call", "agent", None, "2024-01-20 17:00")]
    df = pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "timestamp"])
    i = time_model(flowlens.read_log(df)).instances.to_pandas()
    late = i[(i.case_id == "x") & i.start_estimated & (i.activity == "Call")]
    assert len(late) == 1
    assert late.proc_us.iloc[0] <= 2 * 2 * 60_000_000


def test_callcenter_queue_is_waiting_and_service_is_processing(shared_logs) -> None:
    log = flowlens.read_log(shared_path("bank-callcenter"))
    tm = time_model(log)
    i = tm.instances.to_pandas()
    raw = log.to_pandas()[["case_id", "pos", "start", "end"]]
    m = i.merge(raw, on=["case_id", "pos"])
    duration = ((m["end"] - m["start"]).dt.total_seconds() * 1e6).round().astype("int64")
    gap_before = m.wait_us - duration
    queue, service = m.activity == "Queue", m.activity == "Service"
    # waiting per call in the queue step = the Queue step's duration (plus any gap before it),
    # except in the few calls whose Service is recorded as starting before the queue ended
    # (clock skew): the customer's time is counted once, so the overlap is service
    assert (m.wait_us[queue] >= duration[queue]).mean() > 0.998
    assert (gap_before[queue] == 0).mean() > 0.997
    per_call = m[queue].groupby("case_id").wait_us.sum()
    step = duration[queue].groupby(m.case_id[queue]).sum()
    assert ((per_call - step) == 0).mean() > 0.997
    # service per call = the Service steps, all processing
    assert (m.proc_us[service] == duration[service]).all()
    assert (m.proc_us[queue] == 0).all()


def test_business_clock_with_a_24x7_calendar_beside_others_in_a_non_utc_zone() -> None:
    day = 86_400_000_000
    clock = BusinessClock(
        {
            "a": WorkCalendar.preset("24x7", timezone="Asia/Shanghai"),
            "b": WorkCalendar.preset("office", timezone="Asia/Shanghai"),
        },
        10 * day,
        20 * day,
    )
    assert clock.working_us("a", 12 * day, 13 * day) == 24 * H
    assert clock.working_us("b", 12 * day, 19 * day) == 5 * 8 * H


def test_weekdays_and_hours_before_1970_are_those_of_the_calendar() -> None:
    """DuckDB's % keeps the sign of a negative day number: 1969-12-28 (a Sunday) once came out
    as weekday -1, so most days before 1970 fell outside every calendar's weekdays."""
    import ibis

    from flowlens.timing.localtime import with_local_time

    stamps = pd.to_datetime(["1969-12-28 09:30", "1969-06-03 23:10", "1900-01-01 12:00"], utc=True)
    t = ibis.memtable(pd.DataFrame({"ts": stamps.as_unit("us").asi8}))
    out = with_local_time(t, "ts", "UTC", prefix="l_").to_pandas()
    assert out.l_weekday.tolist() == [s.weekday() for s in stamps] == [6, 1, 0]
    assert out.l_hour.tolist() == [9, 23, 12]
