"""Calendars, holidays and the calendar-aware team pool."""

from __future__ import annotations

from datetime import date

import pytest
import simpy

from flowlens.errors import ConfigError
from flowlens.synth.calendars import (
    DAY,
    HOUR,
    Calendar,
    DayCalendar,
    check_years,
    is_business_day,
    waking,
)
from flowlens.synth.teams import Agent, TeamPool


def test_chinese_holidays_and_makeup_days() -> None:
    assert not is_business_day(date(2024, 10, 1))  # National Day
    assert not is_business_day(date(2024, 9, 16))  # Mid-Autumn
    assert is_business_day(date(2024, 9, 14))  # Saturday made a working day (调休)
    assert is_business_day(date(2024, 9, 29))  # Sunday made a working day
    assert not is_business_day(date(2024, 9, 21))  # ordinary Saturday
    assert not is_business_day(date(2025, 1, 29))  # Spring Festival


def test_years_outside_the_table_are_refused() -> None:
    with pytest.raises(ConfigError, match="holiday table"):
        check_years(date(2019, 1, 1), 30)


def test_calendar_intervals() -> None:
    cal = Calendar.weekly(date(2024, 9, 2), 7, [(9 * HOUR, 17 * HOUR)], business_days_only=True).minus(
        [(12 * HOUR, 13 * HOUR)]
    )
    assert cal.is_open(10 * HOUR) and not cal.is_open(12.5 * HOUR)
    assert cal.next_open(12.5 * HOUR) == 13 * HOUR
    assert cal.open_until(10 * HOUR) == 12 * HOUR
    # Mon-Fri 8 h, lunch removed on Monday only; the weekend is closed.
    assert cal.open_seconds(0, 7 * DAY) == (7 + 4 * 8) * HOUR


def test_business_day_arithmetic_over_national_day() -> None:
    dc = DayCalendar(date(2024, 9, 30), 20)
    # 30 Sep (Mon) + 1 business day = 8 Oct (holiday 1-7 Oct)
    assert dc.add_business_days(10 * HOUR, 1) // DAY == 8


def test_waking_hours() -> None:
    assert waking(10 * HOUR, 99.0) == 10 * HOUR
    assert waking(23 * HOUR, 60.0) == DAY + 8 * HOUR + 60.0
    assert waking(3 * HOUR, 0.0) == 8 * HOUR


def _pool(env: simpy.Environment, cals: list[Calendar], speeds: list[float] | None = None) -> TeamPool:
    speeds = speeds or [1.0] * len(cals)
    return TeamPool(
        env, "t", [Agent(f"A{i}", "t", s, c) for i, (c, s) in enumerate(zip(cals, speeds, strict=True))]
    )


def test_off_shift_person_does_not_start_but_finishes() -> None:
    env = simpy.Environment()
    pool = _pool(env, [Calendar.from_intervals([(0, 100), (200, 300)])])
    log: list[tuple[str, float, float]] = []

    def job(name: str, at: float, dur: float):
        yield env.timeout(at)
        req = pool.request(priority=1, preempt=False)
        yield req
        t0 = env.now
        yield env.timeout(dur)
        pool.release(req)
        log.append((name, t0, env.now))

    env.process(job("a", 50, 80))  # runs past the shift end (130): finishes, non-pre-emptive
    env.process(job("b", 60, 10))  # waits: the person goes off at 130, back at 200
    env.run()
    assert log == [("a", 50, 130), ("b", 200, 210)]


def test_vip_priority_is_non_preemptive_then_fifo() -> None:
    env = simpy.Environment()
    pool = _pool(env, [Calendar.from_intervals([(0, 1000)])])
    order: list[str] = []

    def job(name: str, at: float, prio: int):
        yield env.timeout(at)
        req = pool.request(priority=prio, preempt=False)
        yield req
        order.append(name)
        yield env.timeout(10)
        pool.release(req)

    env.process(job("mass1", 0, 1))
    env.process(job("mass2", 1, 1))
    env.process(job("vip", 2, 0))
    env.process(job("mass3", 3, 1))
    env.run()
    assert order == ["mass1", "vip", "mass2", "mass3"]


def test_idle_longest_takes_the_task_and_speed_scales() -> None:
    env = simpy.Environment()
    cal = Calendar.from_intervals([(0, 1000)])
    pool = _pool(env, [cal, cal], speeds=[2.0, 0.5])
    got = []

    def job():
        req = pool.request(priority=1, preempt=False)
        agent = yield req
        yield env.timeout(10 * agent.speed)
        pool.release(req)
        got.append((agent.id, env.now))

    env.process(job())
    env.process(job())
    env.run()
    assert got == [("A1", 5.0), ("A0", 20.0)]
