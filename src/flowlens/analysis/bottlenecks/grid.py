"""Time grids for WIP and utilisation: whole hours, local days or local weeks, in UTC
microseconds (a local day is 23 or 25 hours across a DST change)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from flowlens.errors import ConfigError

US = 1_000_000
#: nominal length of a period per frequency
NOMINAL_US = {"h": 3600 * US, "D": 86400 * US, "W": 7 * 86400 * US}


def time_grid(lo_us: int, hi_us: int, freq: str, tz: str) -> np.ndarray:
    """Period boundaries t_0 <= lo_us < ... < t_K > hi_us in UTC microseconds: whole hours,
    local days (midnight to midnight in ``tz``, so 23 or 25 h across a DST change) or local
    weeks starting on Monday.

    >>> g = time_grid(0, 3 * 86_400 * US - 1, "D", "UTC")
    >>> len(g) - 1, int(g[1] - g[0]) // US
    (3, 86400)
    """
    if freq not in NOMINAL_US:
        raise ConfigError(f"unknown frequency '{freq}'; choose h (hours), D (days) or W (weeks)")
    first = pd.Timestamp(lo_us, unit="us", tz="UTC").tz_convert(tz)
    naive = first.tz_localize(None)
    if freq == "h":
        naive = naive.floor("h")
    else:
        naive = naive.normalize()
        if freq == "W":
            naive -= pd.Timedelta(days=naive.weekday())
    start = naive.tz_localize(tz, ambiguous=True, nonexistent="shift_backward")
    end = pd.Timestamp(hi_us, unit="us", tz="UTC")
    span = max(1, math.ceil((hi_us - start.value // 1000) / NOMINAL_US[freq]) + 2)
    if freq == "h":
        idx = pd.date_range(start.tz_convert("UTC"), periods=span + 1, freq="h")
    else:
        idx = pd.date_range(start, periods=span + 1, freq="D" if freq == "D" else "W-MON")
    us = idx.tz_convert("UTC").as_unit("us").asi8.astype("int64")
    keep = np.searchsorted(us, end.value // 1000, side="right") + 1
    return us[: max(keep, 2)]


def period_starts(grid: np.ndarray, tz: str) -> pd.DatetimeIndex:
    """The start of every period of ``grid`` as times in ``tz``.

    >>> period_starts(time_grid(0, 86_400 * US - 1, "D", "UTC"), "Asia/Shanghai")[0].isoformat()
    '1970-01-01T08:00:00+08:00'
    """
    return pd.to_datetime(grid[:-1], unit="us", utc=True).tz_convert(tz)
