"""Deadline rules as data (docs/methods.md, "Deadlines and SLA compliance").

An :class:`SlaRule` holds the clock start and stop (activities, the case start or end), the
allowance (calendar days, business days or hours), extension tiers with their conditions, pause
pairs, the working calendar for business days and the day conventions; :func:`custom_rule`
builds one from command-line style options. The regulatory presets are in
:mod:`flowlens.analysis.sla.presets`; evaluation is in :mod:`flowlens.analysis.sla.engine`.

>>> r = custom_rule(start="Receive", stop="Resolve", days=10, business=True)
>>> r.describe(), r.unit_word
('custom: 10 business days', 'business days')
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flowlens.errors import ConfigError
from flowlens.i18n import M_, NM_, join_messages
from flowlens.timing.calendars import WorkCalendar

if TYPE_CHECKING:
    pass


CASE_START = "case start"
CASE_END = "case end"
UNITS = ("calendar_days", "business_days", "hours")
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
STATUSES = ("met", "extended", "breached", "open")
TRUTHY = ("true", "1", "yes", "y", "t", "是")


# -- rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Extension:
    """A longer deadline that applies when its condition holds.

    ``days`` is the total allowance counted from receipt (30 for China's "complex" tier, not
    +15), in ``unit`` (default: the rule's). The condition is an activity among ``activities``
    occurring after the clock start, before the clock stop and, with ``before_deadline``, no
    later than the deadline in force (a holding response must go out in time), or a case
    attribute ``attribute`` whose value is one of ``values`` (case-insensitive).
    """

    days: float
    activities: tuple[str, ...] = ()
    attribute: str | None = None
    values: tuple[str, ...] = TRUTHY
    unit: str | None = None
    before_deadline: bool = True
    label: str = "extended"
    #: the activities are usual spellings (presets): those present in the log are used, and
    #: when none is, the extension never applies (a note says so) instead of an error
    candidates: bool = False


@dataclass(frozen=True)
class Pause:
    """The clock stops from the end of a ``start`` activity to the end of the next ``stop``
    activity (e.g. Request Information to Customer Provides Information), or to the clock
    stop when no such activity follows."""

    start: tuple[str, ...]
    stop: tuple[str, ...]


@dataclass(frozen=True)
class Scope:
    """The cases a rule covers (``applies_to``): a complaint deadline covers complaints, not
    the account openings and service calls of the same log.

    ``processes`` are values of the log's process column (docs/methods.md §3.5; a value matches
    when, compared without case, ``_`` and ``-``, it equals a name or contains it as a word:
    "card_dispute" matches "dispute"); ``column`` names another case attribute holding them.
    ``activities`` are intake activities: a case containing one is covered. Presets list usual
    spellings (``candidates``): those present are used, processes first; when neither occurs in
    the log the rule covers every case whose clock starts, with a note. A rule without a scope
    covers every case whose clock starts.

    >>> Scope(processes=("complaint",), label="complaint cases").describe()
    'complaint cases'
    """

    processes: tuple[str, ...] = ()
    activities: tuple[str, ...] = ()
    column: str | None = None
    candidates: bool = False
    label: str = ""

    def describe(self) -> str:
        if self.label:
            return self.label
        by_process = f"{self.column or 'process'} = {' / '.join(self.processes)}" if self.processes else None
        names = " / ".join(self.activities[:3]) + (" …" if len(self.activities) > 3 else "")
        by_activity = M_("cases with {activities}", activities=names) if self.activities else None
        if by_process and by_activity:
            return M_("{first} or {second}", first=by_process, second=by_activity)
        return by_process or by_activity or M_("every case")


def parse_scope(text: str) -> Scope:
    """A scope from the command line: ``process=complaint``, ``process=complaint,dispute``,
    ``activity=Receive Complaint`` or ``COLUMN=VALUE`` (a case attribute).

    >>> parse_scope("process=complaint").processes, parse_scope("activity=Receive Complaint").activities
    (('complaint',), ('Receive Complaint',))
    >>> parse_scope("type=complaint").column
    'type'
    """
    key, sep, value = str(text).partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        raise ConfigError(
            f"--applies-to '{text}' is not KEY=VALUE; use process=VALUE, activity=ACTIVITY or COLUMN=VALUE"
        )
    values = tuple(v.strip() for v in value.split(",") if v.strip())
    if key.lower() in ("activity", "activities"):
        return Scope(activities=values)
    if key.lower() in ("process", "processes"):
        return Scope(processes=values)
    return Scope(processes=values, column=key)


@dataclass(frozen=True)
class SlaRule:
    """A deadline rule: clock start and stop, allowance, extensions, pauses, calendar.

    ``clock_start`` / ``clock_stop`` are activity names (any of them; the first occurrence
    counts) or :data:`CASE_START` / :data:`CASE_END`. When names are *candidates* (presets list
    the usual spellings of "final response"), only those present in the log are used and at
    least one must be. ``received`` names a column holding the receipt time, which then
    starts the clock (cases without a value fall back to ``clock_start``).
    """

    name: str
    base: float
    unit: str = "calendar_days"
    clock_start: str | tuple[str, ...] = CASE_START
    clock_stop: str | tuple[str, ...] = CASE_END
    extensions: tuple[Extension, ...] = ()
    pauses: tuple[Pause, ...] = ()
    #: working days for business-day rules (its holidays and extra working days count)
    calendar: WorkCalendar | None = None
    #: holidays for the default calendar (Mon-Fri) when no calendar is given: ISO country
    #: code, optionally with a subdivision ("GB-ENG")
    holiday_country: str | None = None
    #: zone of day boundaries; default: the calendar's, else the log's
    timezone: str | None = None
    day_count: str = "after_receipt"
    deadline_at: str = "end_of_day"
    receipt_cutoff: str | None = None
    #: a calendar-day deadline whose last day is not a working day moves to the end of the next
    #: working day (Chinese civil law, 民法典 art. 203, for periods ending on a statutory holiday)
    roll_forward: bool = False
    received: str | None = None
    candidates: bool = False
    jurisdiction: str = ""
    source: str = ""
    description: str = ""
    #: True when part of the rule is marked [verify] in domain.md
    verify: bool = False
    base_text: str = ""
    #: the cases the rule covers (None: every case whose clock starts)
    applies_to: Scope | None = None

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ConfigError(f"rule {self.name}: unknown unit '{self.unit}'; use one of {', '.join(UNITS)}")
        _check_amount(self.name, self.base, self.unit)
        for ext in self.extensions:
            _check_amount(self.name, ext.days, ext.unit or self.unit)
            if (ext.unit or self.unit) not in UNITS:
                raise ConfigError(f"rule {self.name}: unknown extension unit '{ext.unit}'")
            if not ext.activities and not ext.attribute:
                raise ConfigError(f"rule {self.name}: an extension needs activities or an attribute")
        if self.day_count not in ("after_receipt", "including_receipt"):
            raise ConfigError(
                f"rule {self.name}: day_count must be after_receipt or including_receipt, got '{self.day_count}'"
            )
        if self.deadline_at not in ("end_of_day", "same_time"):
            raise ConfigError(
                f"rule {self.name}: deadline_at must be end_of_day or same_time, got '{self.deadline_at}'"
            )
        if self.receipt_cutoff is not None:
            parse_clock(self.receipt_cutoff, self.name)
        if self.timezone is not None:
            parse_zone(self.timezone)
        for p in self.pauses:
            if not p.start or not p.stop:
                raise ConfigError(f"rule {self.name}: a pause needs start and stop activities")

    # -- text --------------------------------------------------------------------------------
    @property
    def unit_word(self) -> str:
        return unit_word(self.unit)

    def allowance_text(self) -> str:
        """'15 days', '15 business days', '8 weeks'."""
        return self.base_text or _amount(self.base, self.unit)

    def describe(self) -> str:
        """One line: name, allowance, extensions.

        >>> from flowlens.analysis.sla import get_preset
        >>> get_preset("UK_DISP_PSD").describe()
        'UK_DISP_PSD: 15 business days; holding response → 35 business days'
        """
        return f"{self.name}: {self.terms()}"

    def terms(self) -> str:
        """:meth:`describe` without the name (a :class:`~flowlens.i18n.Message`: the report shows
        it in its language).

        >>> from flowlens.analysis.sla import get_preset
        >>> get_preset("CN_NFRA_2020").terms()
        '15 days; complex → 30 days; especially complex → 60 days'
        """
        parts = [self.allowance_text()] + [
            M_("{label} → {amount}", label=e.label, amount=_amount(e.days, e.unit or self.unit))
            for e in self.extensions
        ]
        text = join_messages(parts, "; ")
        return M_("{terms} [verify]", terms=text) if self.verify else text

    def to_dict(self) -> dict[str, Any]:
        d = asdict(replace(self, calendar=None))
        d["calendar"] = self.calendar.to_dict() if self.calendar else None
        return d

    def with_calendar(self, calendar: WorkCalendar, *, timezone: bool = True) -> SlaRule:
        """The rule with ``calendar`` for business days (and its zone for day boundaries)."""
        return replace(self, calendar=calendar, timezone=calendar.timezone if timezone else self.timezone)


def unit_word(unit: str) -> str:
    """The unit as the text says it.

    >>> unit_word("business_days")
    'business days'
    """
    return {"calendar_days": "days", "business_days": "business days", "hours": "hours"}.get(unit, unit)


def _amount(value: float, unit: str) -> str:
    n, count = (1 if value == 1 else 2), f"{value:g}"
    if unit == "calendar_days":
        return NM_("{count} day", "{count} days", n, count=count)
    if unit == "business_days":
        return NM_("{count} business day", "{count} business days", n, count=count)
    if unit == "hours":
        return NM_("{count} hour", "{count} hours", n, count=count)
    word = unit_word(unit)
    return f"{value:g} {word[:-1] if value == 1 else word}"


def _check_amount(name: str, value: float, unit: str) -> None:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"rule {name}: the allowance must be a positive number, got {value!r}")
    if unit != "hours" and float(value) != int(value):
        raise ConfigError(f"rule {name}: a deadline in {unit_word(unit)} must be a whole number, got {value}")


def parse_clock(text: str, where: str) -> int:
    """A local clock time ``HH:MM`` (a receipt cutoff) as microseconds after midnight.

    >>> parse_clock("17:30", "rule X") // 60_000_000
    1050
    """
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", str(text))
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ConfigError(f"rule {where}: receipt cutoff '{text}' is not a clock time like 17:00")
    return (int(m.group(1)) * 60 + int(m.group(2))) * 60_000_000


def parse_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or a :class:`~flowlens.errors.ConfigError` saying it is unknown.

    >>> parse_zone("Asia/Shanghai").key
    'Asia/Shanghai'
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown time zone '{name}'; use an IANA name such as Asia/Shanghai") from exc


# -- resolving a rule against a log ------------------------------------------------------------


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", str(name)).strip().casefold()


def resolve_names(
    names: str | tuple[str, ...], present: Sequence[str], *, candidates: bool, what: str
) -> tuple[str, ...] | str:
    """Activity names of the rule that occur in the log (candidates: the present ones).

    >>> resolve_names(("final response",), ["Final Response", "Receive"], candidates=True, what="clock stop")
    ('Final Response',)
    """
    if names in (CASE_START, CASE_END):
        return names  # type: ignore[return-value]
    assert isinstance(names, tuple)
    by_norm: dict[str, list[str]] = {}
    for a in present:
        by_norm.setdefault(_norm(a), []).append(a)
    # the errors are Messages: a report lists them (in its language) among what it leaves out
    kind = _WHAT.get(what, what)
    if candidates:
        found = [a for n in dict.fromkeys(_norm(x) for x in names) for a in by_norm.get(n, [])]
        if not found:
            option = "--clock-stop" if "stop" in what else "--clock-start"
            raise ConfigError(
                M_(
                    "none of the {what} activities this rule looks for occur in the log ({names}, …); "
                    "name yours with {option} ACTIVITY (activities in the log: {present})",
                    what=kind,
                    names=", ".join(list(names)[:6]),
                    option=option,
                    present=", ".join(sorted(present)[:15]) + (", …" if len(present) > 15 else ""),
                )
            )
        return tuple(dict.fromkeys(found))
    missing = [x for x in names if x not in present]
    if missing:
        near = {x: [a for a in present if _norm(a) == _norm(x)] for x in missing}
        hints = "; ".join(f"'{x}' → did you mean {near[x][0]!r}?" for x in missing if near[x])
        if hints:
            raise ConfigError(
                M_(
                    "{what} activities {missing} do not occur in the log ({hints})",
                    what=kind,
                    missing=missing,
                    hints=hints,
                )
            )
        raise ConfigError(
            M_(
                "{what} activities {missing} do not occur in the log; activities in the log: {present}",
                what=kind,
                missing=missing,
                present=", ".join(sorted(present)[:15]),
            )
        )
    return names


#: The parts of a rule that name activities, as words of a sentence (:func:`resolve_names`).
_WHAT = {
    "clock start": M_("clock start"),
    "clock stop": M_("clock stop"),
    "pause start": M_("pause start"),
    "pause stop": M_("pause stop"),
    "extension": M_("extension"),
    "applies-to": M_("applies-to"),
}


def present_names(names: tuple[str, ...], present: Sequence[str]) -> tuple[str, ...]:
    """The activities of ``present`` that ``names`` name (compared loosely), in ``present``'s order.

    >>> present_names(("holding response",), ["Receive", "Holding_Response"])
    ('Holding_Response',)
    """
    by_norm = {_norm(x) for x in names}
    return tuple(a for a in present if _norm(a) in by_norm)


def working_calendar(rule: SlaRule, tz: str, years: Iterable[int]) -> WorkCalendar:
    """The calendar business days are counted on: the rule's own, else Monday to Friday with the
    public holidays (and working weekend days) of the rule's country.

    >>> working_calendar(custom_rule(days=5, business=True), "UTC", [2024]).name
    'weekdays'
    """
    if rule.calendar is not None:
        return rule.calendar
    full = ((time(0), time.max),)
    hols: frozenset[date] = frozenset()
    extra: frozenset[date] = frozenset()
    if rule.holiday_country:
        hols, extra = holidays_for(rule.holiday_country, years)
    return WorkCalendar(
        name=f"{rule.holiday_country or 'weekdays'}",
        timezone=tz,
        hours={d: full for d in range(5)},
        holidays=hols,
        extra_workdays=extra,
        workday_hours=full,
    )


def holidays_for(country: str, years: Iterable[int]) -> tuple[frozenset[date], frozenset[date]]:
    """Public holidays and working weekend days for ``CC`` or ``CC-SUBDIV`` (e.g. ``GB-ENG``).

    >>> hols, extra = holidays_for("CN", [2024])
    >>> date(2024, 10, 1) in hols, date(2024, 9, 29) in extra
    (True, True)
    """
    import holidays

    cc, _, sub = country.upper().partition("-")
    try:
        table = holidays.country_holidays(cc, subdiv=sub or None, years=sorted(set(years)))
    except NotImplementedError as exc:
        raise ConfigError(
            f"no holiday calendar for '{country}' (use an ISO code such as CN, GB-ENG, US)"
        ) from exc
    extra: set[date] = getattr(table, "weekend_workdays", set()) or set()
    return frozenset(table.keys()), frozenset(extra)


def custom_rule(
    *,
    start: Sequence[str] | str = CASE_START,
    stop: Sequence[str] | str = CASE_END,
    days: float | None = None,
    hours: float | None = None,
    business: bool = False,
    name: str = "custom",
    **options: Any,
) -> SlaRule:
    """A rule from the command-line style options (``--clock-start A --clock-stop B --days N``).

    >>> custom_rule(start="Receive", stop="Resolve", days=10, business=True).describe()
    'custom: 10 business days'
    """
    if (days is None) == (hours is None):
        raise ConfigError("give the allowance as days (--days N) or hours (--hours N), not both or neither")
    if hours is not None and business:
        raise ConfigError("--business applies to days; business hours are not supported (use --days)")
    unit = "hours" if hours is not None else ("business_days" if business else "calendar_days")
    base = hours if hours is not None else days
    assert base is not None
    return SlaRule(
        name=name,
        base=base,
        unit=unit,
        clock_start=rule_names(start),
        clock_stop=rule_names(stop),
        **options,
    )


def rule_names(value: Sequence[str] | str) -> str | tuple[str, ...]:
    """Activity names as a rule holds them: a tuple, or the marker ``case start``/``case end``.

    >>> rule_names("Resolve"), rule_names([CASE_END])
    (('Resolve',), 'case end')
    """
    if isinstance(value, str):
        return value if value in (CASE_START, CASE_END) else (value,)
    vals = tuple(value)
    if len(vals) == 1 and vals[0] in (CASE_START, CASE_END):
        return vals[0]
    return vals
