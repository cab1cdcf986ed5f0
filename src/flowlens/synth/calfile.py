"""``calendars.toml``: the bank's shift calendars, as a bank would hand them to an analyst.

Written in flowlens's calendar file format (:meth:`flowlens.timing.calendars.CalendarSet.
from_file`): Asia/Shanghai, the public holidays and make-up working days (调休) of the
simulated period, one calendar per shift variant (shift, lunch group, Saturday branch, Monday
huddle) and every person mapped to theirs. Everyone else in the log (systems, the customer,
merchants, kiosks) takes the default, always available. Branch managers' meetings are not in
the calendars: they are in ``background_events.parquet`` as the managers' own events.

>>> from datetime import date
>>> text = calendars_toml({"AML-01": "office", "AGT-01": "cc_night"}, date(2024, 9, 2), 60)
>>> 'mon = ["09:00-12:00", "13:00-18:00"]' in text, '"AGT-01" = "cc_night"' in text
(True, True)
>>> from flowlens.timing.calendars import CalendarSet
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "calendars.toml"
>>> _ = p.write_text(text, encoding="utf-8")
>>> cs = CalendarSet.from_file(p)
>>> sorted(cs.for_resource("AGT-01").hours[0]), date(2024, 10, 1) in cs.for_resource("AML-01").holidays
([(datetime.time(0, 0), datetime.time(8, 0)), (datetime.time(22, 0), datetime.time(23, 59, 59, 999999))], True)
"""

from __future__ import annotations

from datetime import date, timedelta

from flowlens.synth.calendars import DAY, HOLIDAYS, HOUR, MAKEUP_WORKDAYS, TZ
from flowlens.synth.teams import SHIFTS, hm

Span = tuple[float, float]  # seconds from local midnight, within one day


def _minus(spans: list[Span], hole: Span) -> list[Span]:
    out: list[Span] = []
    for a, b in spans:
        if hole[1] <= a or hole[0] >= b:
            out.append((a, b))
            continue
        if hole[0] > a:
            out.append((a, hole[0]))
        if hole[1] < b:
            out.append((hole[1], b))
    return out


def _day_spans(blocks: tuple[tuple[float, float], ...]) -> list[Span]:
    """A shift's daily blocks folded into one day (a night shift 22:00-08:00 becomes
    00:00-08:00 and 22:00-24:00)."""
    out: list[Span] = []
    for a, b in blocks:
        if b <= DAY:
            out.append((a, b))
        else:
            out += [(a, DAY), (0.0, b - DAY)]
    return sorted(out)


def weekly(key: str) -> dict[str, object]:
    """The weekly calendar of a shift variant key (``flowlens.synth.teams.calendar_key``)."""
    name, *flags = key.split("+")
    shift = SHIFTS[name]
    spans = _day_spans(shift.blocks)
    if shift.lunch is not None:
        a, b = shift.lunch
        if "late_lunch" in flags:
            a, b = b, b + (b - a)
        lunch: Span | None = (a, b)
    else:
        lunch = None

    def with_lunch(s: list[Span]) -> list[Span]:
        return _minus(s, lunch) if lunch else s

    days: dict[str, list[Span]] = {}
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    if shift.days == "daily":
        worked = range(7)
    elif shift.days == "mon_sat":
        worked = range(6)
    else:
        worked = range(5)
    for d in worked:
        days[names[d]] = with_lunch(spans)
    if shift.days == "branch" and "sat" in flags:
        days["sat"] = with_lunch([(hm(9), hm(16))])
    if "monday_huddle" in flags:
        days["mon"] = _minus(days["mon"], (hm(9), hm(11)))
    spec: dict[str, object] = dict(days)
    # Public holidays: off for office, branch and Monday-Saturday shifts; make-up working days
    # only for the shifts on the business calendar (office and branch). Daily shifts work
    # every day.
    if shift.days == "daily":
        spec["holidays"] = []
        spec["extra_workdays"] = []
    elif shift.days == "mon_sat":
        spec["extra_workdays"] = []
    return spec


def _clock(t: float) -> str:
    if t >= DAY:
        return "24:00"
    h, m = int(t // HOUR), round((t % HOUR) / 60)
    return f"{h:02d}:{m:02d}"


def _fmt(value: object) -> str:
    if isinstance(value, list):
        items = []
        for v in value:
            if isinstance(v, tuple):
                items.append(f'"{_clock(v[0])}-{_clock(v[1])}"')
            else:
                items.append(f'"{v}"')
        return "[" + ", ".join(items) + "]"
    raise TypeError(value)


def calendars_toml(people: dict[str, str], start: date, days: int) -> str:
    """The calendar file for ``people`` (resource id -> shift variant key) over ``days``
    days from ``start`` (holiday lists cover that period)."""
    end = start + timedelta(days=days)
    hols = sorted(d.isoformat() for d in HOLIDAYS if start <= d <= end)
    extra = sorted(d.isoformat() for d in MAKEUP_WORKDAYS if start <= d <= end)
    lines = [
        "# Working calendars of the simulated bank (flowlens calendar file format).",
        "# Shifts per person; public holidays and make-up working days (调休) of the period.",
        "# Everyone not listed (systems, customers, merchants, kiosks) is always available.",
        f'timezone = "{TZ}"',
        f"holidays = {_fmt(hols)}",
        f"extra_workdays = {_fmt(extra)}",
        "",
        "[default]",
        'preset = "24x7"',
        "holidays = []",
        "extra_workdays = []",
    ]
    for key in sorted(set(people.values())):
        lines += ["", f'[teams."{key}"]']
        for k, v in weekly(key).items():
            lines.append(f"{k} = {_fmt(v)}")
    lines += ["", "[resources]"]
    for rid in sorted(people):
        lines.append(f'"{rid}" = "{people[rid]}"')
    return "\n".join(lines) + "\n"
