"""Local clock time in the engine, portable across DuckDB and Spark.

Engines disagree on time-zone functions, so flowlens brings the zone's UTC offsets into the
engine as a tiny table of periods (one row per daylight-saving period in the log's range) and
turns UTC microseconds into local microseconds with integer arithmetic. Weekday and hour then
follow from integer division (1970-01-01 was a Thursday).

>>> import ibis, pandas as pd
>>> t = ibis.memtable(pd.DataFrame({"ts": [1_711_846_800_000_000]}))  # 2024-03-31T01:00Z
>>> out = with_local_time(t, "ts", "Europe/Amsterdam", prefix="l_").to_pandas()
>>> int(out.l_hour[0]), int(out.l_weekday[0])   # 03:00 CEST on a Sunday
(3, 6)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pandas as pd

if TYPE_CHECKING:
    import ibis

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000


def offset_periods(tz: str, start_us: int, end_us: int) -> pd.DataFrame:
    """Periods [p_start, p_end) in UTC microseconds with a constant UTC offset (µs) in ``tz``."""
    zone = ZoneInfo(tz)
    t = datetime.fromtimestamp(start_us / 1e6, tz=UTC) - timedelta(days=2)
    stop = datetime.fromtimestamp(end_us / 1e6, tz=UTC) + timedelta(days=2)
    rows: list[tuple[int, int, int]] = []
    cur_off = t.astimezone(zone).utcoffset()
    p_start = t
    # Scan hourly for offset changes: at most a few per year, cheap and exact to the hour,
    # which is where every real zone transition happens.
    step = timedelta(hours=1)
    while t < stop:
        t_next = t + step
        off = t_next.astimezone(zone).utcoffset()
        if off != cur_off:
            rows.append((_us(p_start), _us(t_next), int(cur_off.total_seconds() * 1e6)))  # type: ignore[union-attr]
            p_start, cur_off = t_next, off
        t = t_next
    rows.append((_us(p_start), _us(stop), int(cur_off.total_seconds() * 1e6)))  # type: ignore[union-attr]
    rows[0] = (-(2**62), rows[0][1], rows[0][2])
    rows[-1] = (rows[-1][0], 2**62, rows[-1][2])
    return pd.DataFrame(rows, columns=["p_start", "p_end", "offset_us"])


def _us(dt: datetime) -> int:
    return int(dt.timestamp() * 1_000_000)


def with_local_time(
    table: ibis.Table, col: str, tz: str, *, prefix: str = "local_", bounds: tuple[int, int] | None = None
) -> ibis.Table:
    """Add ``<prefix>us`` (local wall-clock µs), ``<prefix>day`` (local day number),
    ``<prefix>weekday`` (0 = Monday) and ``<prefix>hour`` for UTC-µs column ``col``."""
    import ibis

    if bounds is None:
        row = table.aggregate(lo=table[col].min(), hi=table[col].max()).to_pandas().iloc[0]
        lo = 0 if pd.isna(row.lo) else int(row.lo)
        hi = lo if pd.isna(row.hi) else int(row.hi)
        bounds = (lo, hi)
    periods = ibis.memtable(offset_periods(tz, *bounds))
    j = table.left_join(periods, [table[col] >= periods.p_start, table[col] < periods.p_end])
    local = j[col] + j.offset_us.fill_null(0)
    day = (local / DAY_US).floor().cast("int64")
    return j.select(
        *table.columns,
        **{
            f"{prefix}us": local,
            f"{prefix}day": day,
            # the engines' % keeps the dividend's sign: days before 1970 are negative
            f"{prefix}weekday": (((day + 3) % 7 + 7) % 7).cast("int64"),
            f"{prefix}hour": ((local - day * DAY_US) / HOUR_US).floor().cast("int64"),
        },
    )
