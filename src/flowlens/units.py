"""Human-readable units for durations and counts.

>>> human_duration(42), human_duration(600), human_duration(5400), human_duration(3 * 86400)
('42 s', '10 min', '1.5 h', '3.0 d')
>>> human_duration(None)
'–'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any


def human_duration(seconds: float | None) -> str:
    """Seconds as s / min / h / d with two significant figures at most."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    s = float(seconds)
    if s < 0:
        return "-" + human_duration(-s)
    from flowlens.formats import duration_text  # numbers and unit names in the report's language

    if s < 60:
        return duration_text(s, "s", digits=0 if s >= 1 or s == 0 else 1)
    if s < 3600:
        return duration_text(s / 60, "min", digits=0 if s >= 600 else 1)
    if s < 86400:
        return duration_text(s / 3600, "h", digits=1)
    days = s / 86400
    return duration_text(days, "d", digits=1 if days < 1000 else 0)


def human_count(n: float | None) -> str:
    """Thousands separators; '–' for missing; 万/亿 for large counts in Chinese
    (:func:`flowlens.formats.count`)."""
    from flowlens.formats import count

    return count(n)


def percent(x: float | None, digits: int = 1) -> str:
    """A share as a percent in the report's language (``12.3 %``; ``12.3%`` in Chinese)."""
    from flowlens import formats

    return formats.percent(x, digits)


_UNITS = {
    "s": 1,
    "sec": 1,
    "min": 60,
    "m": 60,
    "h": 3600,
    "hr": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "wk": 604800,
    "weeks": 604800,
}


def parse_duration(text: str) -> float:
    """Seconds from '90', '90s', '15min', '4h', '2.5d', '1w'.

    >>> parse_duration("2d"), parse_duration("15min"), parse_duration("45")
    (172800.0, 900.0, 45.0)
    """
    import re

    from flowlens.errors import ConfigError

    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    unit = (m.group(2).lower() if m else "") or "s"
    if not m or unit not in _UNITS:
        raise ConfigError(f"'{text}' is not a duration; write e.g. 90s, 15min, 4h, 2d or 1w")
    return float(m.group(1)) * _UNITS[unit]


#: Seconds per display unit of :func:`duration_unit`, smallest first.
DURATION_UNITS: dict[str, int] = {"min": 60, "h": 3600, "d": 86400}


def duration_unit(values: Iterable[float | None]) -> str:
    """The one unit (``min``, ``h`` or ``d``) a table or chart of durations is shown in, chosen
    for its range: the largest unit in which the median of the non-zero values is at least 1
    (methods 18.3), so most numbers are between 1 and a few hundred and none switches unit.

    >>> duration_unit([120, 1800, 3000]), duration_unit([3600, 7200, 400000]), duration_unit([2e6, 9e6])
    ('min', 'h', 'd')
    >>> duration_unit([None, 0.0])
    'h'
    """
    xs = sorted(
        abs(float(v)) for v in values if v is not None and not math.isnan(float(v)) and float(v) != 0.0
    )
    if not xs:
        return "h"
    mid = xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2
    for unit in ("d", "h"):
        if mid >= DURATION_UNITS[unit]:
            return unit
    return "min"


def in_unit(seconds: float | None, unit: str) -> str:
    """``seconds`` as a number in ``unit`` (no unit word: the table's header carries it), with
    thousands separators and fewer decimals as the number grows (three significant figures at
    most below 100).

    >>> in_unit(5400, "h"), in_unit(1614708 * 3600, "d"), in_unit(90, "h"), in_unit(None, "d")
    ('1.5', '67,280', '0.025', '–')
    >>> in_unit(1016, "d"), in_unit(1, "d")
    ('0.012', '0.0000')
    """
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    x = float(seconds) / DURATION_UNITS[unit]
    a = abs(x)
    if a >= 100 or a == 0:
        text = f"{x:,.0f}"
    elif a >= 1:
        text = f"{x:.1f}"
    else:
        # below 1: two significant figures, at most four decimals (a value far smaller than the
        # table's unit reads as 0.0000, still in the column's unit)
        decimals = min(4, 1 - math.floor(math.log10(a)))
        text = f"{x:.{decimals}f}"
    return text.lstrip("-") if text.strip("-0.,") == "" else text


def with_unit(seconds: float | None, unit: str) -> str:
    """``seconds`` in ``unit`` with the unit word: for charts and sentences that use a table's unit.

    >>> with_unit(5400, "h")
    '1.5 h'
    """
    from flowlens.formats import attach_unit  # the unit word in the report's language

    text = in_unit(seconds, unit)
    return text if text == "–" else attach_unit(text, unit)


# --- Numbers inside sentences built before the report's language is known ------------------------
# (flowlens.i18n.Message: a finding's evidence, a segment's sentence): the English the stage
# wrote, and what another language needs to write the number its own way.


def _english(fmt: Callable[..., str], *args: Any, **kwargs: Any) -> str:
    from flowlens.i18n import SOURCE_LANGUAGE, language

    with language(SOURCE_LANGUAGE):
        return fmt(*args, **kwargs)


class Value:
    """A number inside a :class:`Message`: ``english`` as the stage wrote it, re-formatted by
    :func:`localize` in other languages (``kind``: ``duration`` in seconds, ``count``,
    ``percent`` as a share, ``signed_percent`` (a share with its sign, + or -), ``number``;
    ``digits`` for percent and number).

    >>> v = Value("duration", 5.0 * 86400, "5.0 days")
    >>> str(v), f"{v}"
    ('5.0 days', '5.0 days')
    >>> from flowlens.i18n import language, localize
    >>> with language("zh-CN"):
    ...     localize(v)
    '5.0天'
    """

    __slots__ = ("digits", "english", "kind", "value")

    def __init__(self, kind: str, value: float | None, english: str, digits: int = 0) -> None:
        self.kind, self.value, self.english, self.digits = kind, value, english, digits

    def __str__(self) -> str:
        return self.english

    def __format__(self, spec: str) -> str:
        return format(self.english, spec)

    def __repr__(self) -> str:
        return f"Value({self.kind!r}, {self.value!r}, {self.english!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Value, (self.kind, self.value, self.english, self.digits))

    def __localize__(self) -> str:
        return self.render()

    def render(self) -> str:
        """The value in the current language."""
        from flowlens import formats

        if self.kind == "duration":
            return human_duration(self.value)
        if self.kind == "count":
            return formats.count(self.value)
        if self.kind == "percent":
            return formats.percent(self.value, self.digits)
        if self.kind == "signed_percent" and self.value is not None:
            # a relative error keeps its sign in every language (as the English "+12 %")
            return ("-" if math.copysign(1.0, self.value) < 0 else "+") + formats.percent(
                abs(self.value), self.digits
            )
        return formats.number(self.value, self.digits)


def duration_value(seconds: float | None, english: str | None = None) -> Value:
    """A duration for a :class:`Message`; its English is ``english`` (the stage's own wording,
    kept byte for byte) or :func:`flowlens.units.human_duration`'s English.

    >>> str(duration_value(5400)), str(duration_value(5400, "1.5 hours"))
    ('1.5 h', '1.5 hours')
    """
    value = None if seconds is None else float(seconds)
    return Value("duration", value, english if english is not None else _english(human_duration, value))


def count_value(n: float, english: str | None = None) -> Value:
    """A count for a :class:`Message` (English ``1,234`` unless ``english`` is given; 万 in Chinese).

    >>> str(count_value(161_500)), str(count_value(3, "three"))
    ('161,500', 'three')
    """
    from flowlens import formats

    return Value("count", n, english if english is not None else _english(formats.count, n))


def percent_value(share: float, english: str | None = None, digits: int = 1) -> Value:
    """A share for a :class:`Message` (English from :func:`flowlens.formats.percent` unless
    ``english`` is given, e.g. the stage's ``f"{x:.0%}"``).

    >>> str(percent_value(0.123)), str(percent_value(0.76, f"{0.76:.0%}", 0))
    ('12.3 %', '76%')
    """
    from flowlens import formats

    return Value(
        "percent",
        float(share),
        english if english is not None else _english(formats.percent, share, digits),
        digits,
    )
