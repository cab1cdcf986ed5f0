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
    if s < 60:
        return f"{s:.0f} s" if s >= 1 or s == 0 else f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.0f} min" if s >= 600 else f"{s / 60:.1f} min"
    if s < 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def human_count(n: float | None) -> str:
    """Thousands separators; '–' for missing."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "–"
    return f"{round(n):,}"


def percent(x: float | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{100 * x:.{digits}f} %"
