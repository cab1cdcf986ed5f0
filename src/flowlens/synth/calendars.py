"""Working calendars of the simulated bank, in Asia/Shanghai local time.

Simulation time is seconds since local midnight of the first simulated day. China has had no
daylight saving time since 1991, so local time is always UTC+8 and a local calendar maps to UTC
instants by a constant shift; that is why the calendars can work on plain floats.

A :class:`Calendar` is a sorted list of open intervals ``[start, end)``; teams, branches,
back offices and customers ("awake 08:00-22:00") each have one. The public-holiday table holds
the State Council's holiday notices, including the make-up working days (调休) on weekends;
dates outside the table's years raise :class:`~flowlens.errors.ConfigError` rather than silently
treating a holiday as a working day.

>>> from datetime import date
>>> is_business_day(date(2024, 10, 1)), is_business_day(date(2024, 9, 29))   # National Day; 调休 Sunday
(False, True)
>>> cal = Calendar.weekly(date(2024, 9, 2), 14, [(9 * 3600, 17 * 3600)], business_days_only=True)
>>> cal.next_open(0.0) / 3600, cal.is_open(10 * 3600)
(9.0, True)
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from flowlens.errors import ConfigError

DAY = 86_400.0
HOUR = 3_600.0
MINUTE = 60.0
TZ = "Asia/Shanghai"
UTC_OFFSET_S = 8 * 3600

# Public holidays (days off) and make-up working days, per the State Council notices.
# 2026 follows the published 2026 notice [verify against gov.cn before relying on it].
_HOLIDAYS: dict[int, tuple[list[tuple[str, str]], list[str]]] = {
    2023: (
        [
            ("2023-01-01", "2023-01-02"),
            ("2023-01-21", "2023-01-27"),
            ("2023-04-05", "2023-04-05"),
            ("2023-04-29", "2023-05-03"),
            ("2023-06-22", "2023-06-24"),
            ("2023-09-29", "2023-10-06"),
        ],
        ["2023-01-28", "2023-01-29", "2023-04-23", "2023-05-06", "2023-06-25", "2023-10-07", "2023-10-08"],
    ),
    2024: (
        [
            ("2024-01-01", "2024-01-01"),
            ("2024-02-10", "2024-02-17"),
            ("2024-04-04", "2024-04-06"),
            ("2024-05-01", "2024-05-05"),
            ("2024-06-10", "2024-06-10"),
            ("2024-09-15", "2024-09-17"),
            ("2024-10-01", "2024-10-07"),
        ],
        [
            "2024-02-04",
            "2024-02-18",
            "2024-04-07",
            "2024-04-28",
            "2024-05-11",
            "2024-09-14",
            "2024-09-29",
            "2024-10-12",
        ],
    ),
    2025: (
        [
            ("2025-01-01", "2025-01-01"),
            ("2025-01-28", "2025-02-04"),
            ("2025-04-04", "2025-04-06"),
            ("2025-05-01", "2025-05-05"),
            ("2025-05-31", "2025-06-02"),
            ("2025-10-01", "2025-10-08"),
        ],
        ["2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"],
    ),
    2026: (
        [
            ("2026-01-01", "2026-01-03"),
            ("2026-02-15", "2026-02-23"),
            ("2026-04-04", "2026-04-06"),
            ("2026-05-01", "2026-05-05"),
            ("2026-06-19", "2026-06-21"),
            ("2026-09-25", "2026-09-27"),
            ("2026-10-01", "2026-10-07"),
        ],
        ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"],
    ),
}


def _expand() -> tuple[set[date], set[date]]:
    off: set[date] = set()
    work: set[date] = set()
    for ranges, makeup in _HOLIDAYS.values():
        for a, b in ranges:
            d, end = date.fromisoformat(a), date.fromisoformat(b)
            while d <= end:
                off.add(d)
                d += timedelta(days=1)
        work.update(date.fromisoformat(x) for x in makeup)
    return off, work


HOLIDAYS, MAKEUP_WORKDAYS = _expand()
SUPPORTED_YEARS = (min(_HOLIDAYS), max(_HOLIDAYS))


def check_years(start: date, days: int) -> None:
    """Refuse simulated periods outside the holiday table (plus the run-out margin)."""
    end = start + timedelta(days=days)
    if start.year < SUPPORTED_YEARS[0] or end.year > SUPPORTED_YEARS[1]:
        raise ConfigError(
            f"simulated period {start}..{end} is outside the Chinese holiday table "
            f"({SUPPORTED_YEARS[0]}-{SUPPORTED_YEARS[1]}); choose a start date in that range"
        )


def is_holiday(d: date) -> bool:
    """A public holiday (day off) in mainland China."""
    return d in HOLIDAYS


def is_business_day(d: date) -> bool:
    """Monday-Friday and not a holiday, or a make-up working day."""
    if d in MAKEUP_WORKDAYS:
        return True
    return d.weekday() < 5 and d not in HOLIDAYS


@dataclass
class Calendar:
    """Open intervals ``[start, end)`` in simulation seconds, sorted and disjoint."""

    starts: list[float]
    ends: list[float]
    name: str = ""

    @classmethod
    def from_intervals(cls, intervals: Iterable[tuple[float, float]], name: str = "") -> Calendar:
        merged: list[list[float]] = []
        for a, b in sorted(intervals):
            if b <= a:
                continue
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        return cls([m[0] for m in merged], [m[1] for m in merged], name)

    @classmethod
    def always(cls, days: int, name: str = "24x7") -> Calendar:
        return cls([0.0], [days * DAY], name)

    @classmethod
    def weekly(
        cls,
        start: date,
        days: int,
        blocks: Sequence[tuple[float, float]],
        *,
        business_days_only: bool = False,
        weekdays: Sequence[int] = (0, 1, 2, 3, 4, 5, 6),
        closed_on_holidays: bool = False,
        extra_day_filter: object = None,
        name: str = "",
    ) -> Calendar:
        """Daily ``blocks`` (seconds from local midnight; may pass midnight) on chosen days.

        ``business_days_only`` follows :func:`is_business_day` (weekdays, holidays and 调休);
        otherwise ``weekdays`` (0 = Monday) selects days and ``closed_on_holidays`` drops
        public holidays. ``extra_day_filter(day_index, date) -> bool`` can thin days further.
        """
        out: list[tuple[float, float]] = []
        for i in range(days):
            d = start + timedelta(days=i)
            if business_days_only:
                ok = is_business_day(d)
            else:
                ok = d.weekday() in weekdays and not (closed_on_holidays and is_holiday(d))
            if ok and extra_day_filter is not None:
                ok = bool(extra_day_filter(i, d))  # type: ignore[operator]
            if not ok:
                continue
            for a, b in blocks:
                out.append((i * DAY + a, i * DAY + b))
        return cls.from_intervals(out, name)

    def minus(self, holes: Iterable[tuple[float, float]]) -> Calendar:
        """This calendar with the given intervals closed (meetings, lunch breaks)."""
        holes = sorted(holes)
        out: list[tuple[float, float]] = []
        j = 0
        for a, b in zip(self.starts, self.ends, strict=True):
            cur = a
            while j < len(holes) and holes[j][1] <= cur:
                j += 1
            k = j
            while k < len(holes) and holes[k][0] < b:
                ha, hb = holes[k]
                if ha > cur:
                    out.append((cur, min(ha, b)))
                cur = max(cur, hb)
                k += 1
            if cur < b:
                out.append((cur, b))
        return Calendar.from_intervals(out, self.name)

    def _index(self, t: float) -> int:
        """Index of the last interval starting at or before ``t`` (-1 if none)."""
        return bisect.bisect_right(self.starts, t) - 1

    def is_open(self, t: float) -> bool:
        i = self._index(t)
        return i >= 0 and t < self.ends[i]

    def next_open(self, t: float) -> float:
        """``t`` if open, else the start of the next open interval (inf if none)."""
        i = self._index(t)
        if i >= 0 and t < self.ends[i]:
            return t
        if i + 1 < len(self.starts):
            return self.starts[i + 1]
        return float("inf")

    def open_until(self, t: float) -> float:
        """End of the open interval containing ``t`` (``t`` itself if closed)."""
        i = self._index(t)
        if i >= 0 and t < self.ends[i]:
            return self.ends[i]
        return t

    def open_seconds(self, a: float, b: float) -> float:
        """Open time within ``[a, b)``."""
        if b <= a:
            return 0.0
        total = 0.0
        i = max(self._index(a), 0)
        while i < len(self.starts) and self.starts[i] < b:
            lo, hi = max(a, self.starts[i]), min(b, self.ends[i])
            if hi > lo:
                total += hi - lo
            i += 1
        return total


class DayCalendar:
    """Day-level facts about the simulated period: business days, local dates, SLA arithmetic.

    >>> from datetime import date
    >>> dc = DayCalendar(date(2024, 9, 27), 30)          # a Friday before National Day
    >>> dc.add_business_days(10 * 3600, 1) // 86400       # next business day is Sunday 29 (调休)
    2.0
    """

    def __init__(self, start: date, days: int) -> None:
        self.start = start
        self.days = days
        self.business = [is_business_day(start + timedelta(days=i)) for i in range(days)]

    def day_index(self, t: float) -> int:
        return int(t // DAY)

    def date_of(self, t: float) -> date:
        return self.start + timedelta(days=int(t // DAY))

    def is_business(self, day_index: int) -> bool:
        if 0 <= day_index < self.days:
            return self.business[day_index]
        return is_business_day(self.start + timedelta(days=day_index))

    def next_business_day_start(self, t: float, hour: float = 9.0) -> float:
        """Start (``hour`` local) of the first business day strictly after ``t``'s day."""
        d = self.day_index(t) + 1
        while not self.is_business(d):
            d += 1
        return d * DAY + hour * HOUR

    def add_business_days(self, t: float, n: int) -> float:
        """End of the ``n``-th business day after ``t``'s day, same clock time (SLA clocks)."""
        d = self.day_index(t)
        count = 0
        while count < n:
            d += 1
            if self.is_business(d):
                count += 1
        return d * DAY + (t % DAY)

    def business_days_between(self, a: float, b: float) -> int:
        """Business days after ``a``'s day up to and including ``b``'s day."""
        da, db = self.day_index(a), self.day_index(b)
        return sum(1 for d in range(da + 1, db + 1) if self.is_business(d))


def waking(t: float, jitter: float, start_h: float = 8.0, end_h: float = 22.0) -> float:
    """Move a customer's response outside 08:00-22:00 to the next morning plus ``jitter`` s.

    Customers answer when awake; the jitter (drawn by the caller from the case's own stream)
    keeps next-morning responses from all landing on 08:00:00 exactly.

    >>> round(waking(23 * 3600, 600.0) / 3600, 3)
    32.167
    """
    h = (t % DAY) / HOUR
    if start_h <= h < end_h:
        return t
    day = t // DAY + (1 if h >= end_h else 0)
    return day * DAY + start_h * HOUR + jitter
