"""Human-readable units for durations and counts.

>>> human_duration(42), human_duration(600), human_duration(5400), human_duration(3 * 86400)
('42 s', '10 min', '1.5 h', '3.0 d')
>>> human_duration(None)
'–'
"""

from __future__ import annotations

import math


def human_duration(seconds: float | None) -> str:
    """Seconds as s / min / h / d with two significant figures at most."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    s = float(seconds)
    if s < 0:
        return "-" + human_duration(-s)
    from flowlens.report.formats import duration_text  # numbers and unit names in the report's language

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
    (:func:`flowlens.report.formats.count`)."""
    from flowlens.report.formats import count

    return count(n)


def percent(x: float | None, digits: int = 1) -> str:
    """A share as a percent in the report's language (``12.3 %``; ``12.3%`` in Chinese)."""
    from flowlens.report import formats

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
