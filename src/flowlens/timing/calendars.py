"""Working calendars: weekly hours, holidays and a time zone, per team or resource.

A :class:`WorkCalendar` says when work can happen: for each weekday a list of
``(start, end)`` local clock times, a set of holidays (no work), a set of extra working days
(China's adjusted weekends) and an IANA zone. It turns a time span into working intervals in
UTC microseconds, honouring daylight-saving changes (intervals are built in local time, then
converted), which is what business-time arithmetic (:mod:`flowlens.timing.business`) needs.

A :class:`CalendarSet` maps teams and resources to calendars, with a default; it is read from
a TOML or JSON file (:meth:`CalendarSet.from_file`) or discovered from the log
(:mod:`flowlens.timing.discovery`).

>>> cal = WorkCalendar.preset("office", timezone="Europe/Amsterdam")
>>> from datetime import datetime, timezone
>>> us = lambda s: int(datetime.fromisoformat(s).timestamp() * 1e6)
>>> iv = cal.intervals(us("2024-03-29T00:00:00+01:00"), us("2024-04-02T00:00:00+02:00"))
>>> [float(a - us("2024-03-29T09:00:00+01:00")) / 3.6e9 for a, b in iv]   # Fri, then Mon (after DST)
[0.0, 71.0]
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from flowlens.errors import ConfigError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Span = tuple[time, time]

_PRESETS: dict[str, dict[int, tuple[Span, ...]]] = {
    "24x7": {d: ((time(0), time.max),) for d in range(7)},
    "office": {d: ((time(9), time(17)),) for d in range(5)},
    # A typical Chinese bank back office: lunch break, no weekend work.
    "bank_cn": {d: ((time(9), time(12)), (time(13, 30), time(17, 30))) for d in range(5)},
}


def _parse_span(text: str, where: str) -> Span:
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
    if not m:
        raise ConfigError(f"{where}: '{text}' is not a span like 09:00-17:30")
    h1, m1, h2, m2 = map(int, m.groups())
    if h1 > 24 or h2 > 24 or m1 > 59 or m2 > 59:
        raise ConfigError(f"{where}: '{text}' is not a valid clock time span")
    start = time(h1 % 24, m1)
    end = time.max if (h2, m2) == (24, 0) else time(h2, m2)
    if end <= start:
        raise ConfigError(f"{where}: span '{text}' ends before it starts (split overnight shifts in two)")
    return start, end


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown time zone '{name}'; use an IANA name such as Asia/Shanghai") from exc


@dataclass(frozen=True)
class WorkCalendar:
    """Weekly working hours in a zone, with holidays and extra working days."""

    name: str
    timezone: str
    #: weekday (0 = Monday) -> working spans in local clock time, sorted, not overlapping
    hours: Mapping[int, tuple[Span, ...]]
    holidays: frozenset[date] = frozenset()
    #: dates that are working days despite being weekend days (they use ``workday_hours``)
    extra_workdays: frozenset[date] = frozenset()
    workday_hours: tuple[Span, ...] = ()

    @classmethod
    def preset(
        cls, name: str, *, timezone: str = "UTC", country: str | None = None, years: Iterable[int] = ()
    ) -> WorkCalendar:
        """``24x7``, ``office`` (Mon-Fri 09-17) or ``bank_cn`` (Mon-Fri 09-12, 13:30-17:30),
        optionally with a country's public holidays for ``years``."""
        if name not in _PRESETS:
            raise ConfigError(f"unknown calendar preset '{name}'; choose one of {', '.join(_PRESETS)}")
        _zone(timezone)
        hols, extra = country_holidays(country, years) if country else (frozenset(), frozenset())
        hours = _PRESETS[name]
        return cls(
            name=name,
            timezone=timezone,
            hours=hours,
            holidays=hols,
            extra_workdays=extra,
            workday_hours=hours.get(0, ()),
        )

    @property
    def always_open(self) -> bool:
        return all(self.hours.get(d) == ((time(0), time.max),) for d in range(7)) and not self.holidays

    def spans_on(self, day: date) -> tuple[Span, ...]:
        if day in self.holidays:
            return ()
        if day in self.extra_workdays:
            return self.workday_hours
        return self.hours.get(day.weekday(), ())

    def weekly_hours(self) -> float:
        """Working hours in a normal week."""
        total = 0.0
        for spans in self.hours.values():
            for a, b in spans:
                total += _seconds(b) - _seconds(a)
        return total / 3600

    def intervals(self, start_us: int, end_us: int) -> np.ndarray:
        """Working intervals ``[a, b)`` in UTC microseconds that intersect [start_us, end_us),
        one row per span per day, in time order (an (n, 2) int64 array)."""
        tz = _zone(self.timezone)
        first = datetime.fromtimestamp(start_us / 1e6, tz=UTC).astimezone(tz).date() - timedelta(days=1)
        last = datetime.fromtimestamp(end_us / 1e6, tz=UTC).astimezone(tz).date() + timedelta(days=1)
        out: list[tuple[int, int]] = []
        day = first
        while day <= last:
            for a, b in self.spans_on(day):
                lo = _local_us(day, a, tz)
                hi = (
                    _local_us(day + timedelta(days=1), time(0), tz)
                    if b == time.max
                    else _local_us(day, b, tz)
                )
                if hi > start_us and lo < end_us and hi > lo:
                    out.append((lo, hi))
            day += timedelta(days=1)
        return np.array(out, dtype=np.int64).reshape(-1, 2)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "timezone": self.timezone,
            "hours": {
                DAYS[d]: [f"{a:%H:%M}-{'24:00' if b == time.max else format(b, '%H:%M')}" for a, b in s]
                for d, s in sorted(self.hours.items())
            },
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "extra_workdays": sorted(d.isoformat() for d in self.extra_workdays),
        }


def _seconds(t: time) -> float:
    return 86400.0 if t == time.max else t.hour * 3600 + t.minute * 60 + t.second


@functools.lru_cache(maxsize=1 << 16)
def _local_us(day: date, clock: time, tz: ZoneInfo) -> int:
    # cached: every calendar of a log (one per resource when discovered) converts the same
    # days and shift boundaries
    # fold=0 picks the first of two ambiguous wall times; a non-existent time (spring forward)
    # is shifted forward by zoneinfo's arithmetic.
    dt = datetime.combine(day, clock, tzinfo=tz)
    return int(dt.astimezone(UTC).timestamp() * 1_000_000)


def country_holidays(country: str, years: Iterable[int]) -> tuple[frozenset[date], frozenset[date]]:
    """Public holidays (and, where the country has them, weekend days made working days) from
    the ``holidays`` package."""
    import holidays

    yrs = sorted(set(years))
    try:
        table = holidays.country_holidays(country.upper(), years=yrs)
    except NotImplementedError as exc:
        raise ConfigError(
            f"no holiday calendar for country '{country}' (use an ISO code such as CN, GB, US)"
        ) from exc
    extra = getattr(table, "weekend_workdays", set()) or set()
    return frozenset(table.keys()), frozenset(extra)


def _dates(values: object, where: str) -> set[date]:
    """ISO dates from a list (None: none)."""
    if values is None:
        return set()
    if not isinstance(values, list):
        raise ConfigError(f'{where} must be a list of dates like ["2024-10-01"]')
    out = set()
    for d in values:
        try:
            out.add(date.fromisoformat(str(d)))
        except ValueError as exc:
            raise ConfigError(f"{where}: '{d}' is not a date like 2024-10-01") from exc
    return out


@dataclass(frozen=True)
class CalendarSet:
    """Calendars by team and by resource, with a default for everything else."""

    default: WorkCalendar
    teams: Mapping[str, WorkCalendar] = field(default_factory=dict)
    #: resource -> team name (whose calendar applies) or a calendar of its own
    resources: Mapping[str, str | WorkCalendar] = field(default_factory=dict)
    source: str = "default"

    def for_resource(self, resource: str | None, team: str | None = None) -> WorkCalendar:
        if resource is not None and resource in self.resources:
            value = self.resources[resource]
            if isinstance(value, WorkCalendar):
                return value
            return self.teams.get(value, self.default)
        if team is not None and team in self.teams:
            return self.teams[team]
        return self.default

    def all(self) -> dict[str, WorkCalendar]:
        """Every distinct calendar by name."""
        cals = {self.default.name: self.default}
        cals.update({c.name: c for c in self.teams.values()})
        cals.update({c.name: c for c in self.resources.values() if isinstance(c, WorkCalendar)})
        return cals

    @classmethod
    def always(cls, timezone: str = "UTC") -> CalendarSet:
        """Everyone always available: business time equals calendar time."""
        return cls(default=WorkCalendar.preset("24x7", timezone=timezone), source="24x7")

    @classmethod
    def from_file(cls, path: str | Path, *, years: Iterable[int] = ()) -> CalendarSet:
        """Read calendars from TOML or JSON::

        timezone = "Asia/Shanghai"
        country = "CN"                      # public holidays from the holidays package
        holidays = ["2024-10-08"]           # and/or explicit dates
        extra_workdays = ["2024-10-12"]     # weekend days worked (China's make-up days)
        [default]
        mon = ["09:00-12:00", "13:30-17:30"]   # ... tue..sun; missing days are off
        [teams.cc_l1]
        preset = "24x7"
        holidays = []                       # this calendar works through public holidays
        [resources]
        "AGT-017" = "cc_l1"

        Holidays and extra working days apply to every calendar, unless a calendar gives its
        own ``holidays`` or ``extra_workdays`` list (a call centre open on public holidays).
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
            data = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
        except OSError as exc:
            raise ConfigError(f"cannot read calendar file {p}: {exc.strerror}") from exc
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(
                f"calendar file {p} is not valid {p.suffix.lstrip('.').upper() or 'JSON'}: {exc}"
            ) from exc
        return cls.from_dict(data, source=str(p), years=years)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, object], *, source: str = "dict", years: Iterable[int] = ()
    ) -> CalendarSet:
        where = source
        tz = str(data.get("timezone", "UTC"))
        _zone(tz)
        hols: set[date] = set()
        extra: set[date] = set()
        if data.get("country"):
            h, e = country_holidays(str(data["country"]), years or range(2000, 2041))
            hols |= h
            extra |= e
        hols |= _dates(data.get("holidays"), f"{where}: holidays")
        extra |= _dates(data.get("extra_workdays"), f"{where}: extra_workdays")

        def build(name: str, spec: object) -> WorkCalendar:
            if not isinstance(spec, Mapping):
                raise ConfigError(f"{where}: calendar '{name}' must be a table of weekdays or a preset")
            unknown = set(spec) - {*DAYS, "preset", "timezone", "holidays", "extra_workdays"}
            if unknown:
                raise ConfigError(
                    f"{where}: calendar '{name}' has unknown keys {sorted(unknown)}; use {', '.join(DAYS)}, "
                    "preset, holidays or extra_workdays"
                )
            own_hols = _dates(spec["holidays"], f"{where}: {name}.holidays") if "holidays" in spec else hols
            own_extra = (
                _dates(spec["extra_workdays"], f"{where}: {name}.extra_workdays")
                if "extra_workdays" in spec
                else extra
            )
            zone = str(spec.get("timezone", tz))
            if "preset" in spec:
                base = WorkCalendar.preset(str(spec["preset"]), timezone=zone)
                hours = dict(base.hours)
            else:
                hours = {}
            for i, day in enumerate(DAYS):
                if day in spec:
                    spans = spec[day]
                    if not isinstance(spans, list):
                        raise ConfigError(
                            f'{where}: {name}.{day} must be a list of spans like ["09:00-17:00"]'
                        )
                    hours[i] = tuple(sorted(_parse_span(str(s), f"{where}: {name}.{day}") for s in spans))
            return WorkCalendar(
                name=name,
                timezone=zone,
                hours=hours,
                holidays=frozenset(own_hols),
                extra_workdays=frozenset(own_extra),
                workday_hours=hours.get(0, ()),
            )

        default = build("default", data.get("default", {"preset": "office"}))
        teams = {str(k): build(str(k), v) for k, v in (data.get("teams") or {}).items()}  # type: ignore[union-attr]
        resources: dict[str, str | WorkCalendar] = {}
        for res, value in (data.get("resources") or {}).items():  # type: ignore[union-attr]
            if isinstance(value, str):
                if value not in teams:
                    raise ConfigError(f"{where}: resource '{res}' refers to unknown team '{value}'")
                resources[str(res)] = value
            else:
                resources[str(res)] = build(f"resource:{res}", value)
        return cls(default=default, teams=teams, resources=resources, source=source)
