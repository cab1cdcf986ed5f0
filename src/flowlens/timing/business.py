"""Business time in the engine: a working-time clock per calendar.

For a calendar, the *business clock* B(t) counts working microseconds from a fixed origin up
to instant t. A business duration is B(t2) - B(t1): it skips nights, weekends and holidays, and
it is exact across daylight-saving changes because the working intervals are built in local
time and converted to UTC (:meth:`WorkCalendar.intervals`). Working seconds stay seconds: a
business day is not assumed to have 24 hours (pm4py's error #559), and holidays count
(pm4py #558).

B(t) is evaluated with two small tables brought into the engine: per UTC day ``bucket`` the
working time before the day (``base_us``) and the day's working intervals. Then
B(t) = base(bucket(t)) + sum over the day's intervals of clip(t - a, 0, b - a), an equi-join
plus an aggregate, which runs on DuckDB and on Spark alike.

>>> from flowlens.timing.calendars import WorkCalendar
>>> cal = WorkCalendar.preset("office", timezone="UTC")
>>> clock = BusinessClock({"office": cal}, 0, 10 * DAY_US)
>>> monday_9 = 4 * DAY_US + 9 * 3_600_000_000      # 1970-01-05 was a Monday
>>> clock.at("office", monday_9 + 3_600_000_000) - clock.at("office", monday_9)
3600000000
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from flowlens.timing.calendars import WorkCalendar

if TYPE_CHECKING:
    import ibis

DAY_US = 86_400_000_000


class BusinessClock:
    """Working-time clocks for several calendars over a time range."""

    def __init__(self, calendars: Mapping[str, WorkCalendar], start_us: int, end_us: int) -> None:
        self.calendars = dict(calendars)
        self.first_bucket = start_us // DAY_US - 1
        self.last_bucket = end_us // DAY_US + 1
        names: list[str] = []
        iv_count: list[int] = []
        bases: list[np.ndarray] = []
        iv_bk: list[np.ndarray] = []
        iv_a: list[np.ndarray] = []
        iv_b: list[np.ndarray] = []
        #: per calendar: working time before each bucket, and its intervals' bucket, a, b
        #: sorted by a (for :meth:`at`, without scanning other calendars' rows)
        self._np: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        buckets = np.arange(self.first_bucket, self.last_bucket + 1, dtype=np.int64)
        lo_us, hi_us = int(buckets[0] * DAY_US), int((buckets[-1] + 1) * DAY_US)
        for name, cal in self.calendars.items():
            # intervals are built per local day, so the first may begin before the range
            iv = np.clip(cal.intervals(lo_us, hi_us), lo_us, hi_us)
            a, b = _split_at_midnight(iv)
            bk = a // DAY_US
            # working time before each bucket: cumulative over intervals of earlier buckets
            per_bucket = np.bincount(bk - buckets[0], weights=b - a, minlength=len(buckets)).astype(np.int64)
            base = np.concatenate([[0], np.cumsum(per_bucket)[:-1]])
            names.append(name)
            bases.append(base)
            iv_count.append(len(a))
            iv_bk.append(bk)
            iv_a.append(a)
            iv_b.append(b)
            self._np[name] = (base, bk, a, b)
        # one frame per table (a frame per calendar costs more than its rows with thousands of
        # discovered calendars)
        cal_col = (
            np.repeat(np.array(names, dtype=object), len(buckets)) if names else np.array([], dtype=object)
        )
        self.days = pd.DataFrame(
            {
                "calendar": cal_col,
                "bucket": np.tile(buckets, len(names)),
                "base_us": np.concatenate(bases) if bases else np.array([], dtype=np.int64),
            }
        )
        self.intervals = pd.DataFrame(
            {
                "calendar": np.repeat(np.array(names, dtype=object), iv_count) if names else cal_col,
                "bucket": np.concatenate(iv_bk) if iv_bk else np.array([], dtype=np.int64),
                "a": np.concatenate(iv_a) if iv_a else np.array([], dtype=np.int64),
                "b": np.concatenate(iv_b) if iv_b else np.array([], dtype=np.int64),
            }
        )

    def at(self, calendar: str, t_us: int) -> int:
        """B(t) for one instant (Python side; the engine path is :meth:`add_clock`)."""
        base, bks, a_s, b_s = self._np[calendar]
        bk = t_us // DAY_US
        value = int(base[bk - self.first_bucket])
        lo, hi = np.searchsorted(bks, bk, side="left"), np.searchsorted(bks, bk, side="right")
        for a, b in zip(a_s[lo:hi].tolist(), b_s[lo:hi].tolist(), strict=True):
            value += min(max(t_us - a, 0), b - a)
        return value

    def intervals_of(self, calendar: str) -> tuple[np.ndarray, np.ndarray]:
        """The calendar's working intervals in the range (starts, ends; sorted, split at UTC
        midnights)."""
        _, _, a, b = self._np[calendar]
        return a, b

    def working_us(self, calendar: str, t1: int, t2: int) -> int:
        return self.at(calendar, t2) - self.at(calendar, t1)

    def add_clock(
        self, points: ibis.Table, *, key: str, time_col: str, calendar_col: str, out: str
    ) -> ibis.Table:
        """``points`` (one row per ``key``) with column ``out`` = B(``time_col``) in the
        calendar named by ``calendar_col``. Null times give null."""
        import ibis

        days = ibis.memtable(self.days)
        ivs = ibis.memtable(self.intervals)
        p = points.mutate(fl_bk=_day_bucket(points[time_col]))
        d = p.left_join(days, [p.fl_bk == days.bucket, p[calendar_col] == days.calendar])
        d = d.select(*points.columns, "fl_bk", base_us=d.base_us)
        j = d.left_join(ivs, [d.fl_bk == ivs.bucket, d[calendar_col] == ivs.calendar])
        inside = (j[time_col] - j.a).clip(lower=0)
        part = ibis.least(inside, j.b - j.a).fill_null(0)
        agg = j.group_by(key).aggregate(fl_base=j.base_us.max(), fl_part=part.sum())
        res = points.left_join(agg, points[key] == agg[key])
        value = ibis.ifelse(
            res[time_col].isnull(), ibis.null("int64"), (res.fl_base + res.fl_part).cast("int64")
        )
        return res.select(*points.columns, **{out: value})

    def span_sums(
        self, spans: ibis.Table, *, by: list[str], start: str, end: str, calendar_col: str
    ) -> ibis.Table:
        """Per group ``by`` of ``spans``: ``elapsed_us``, the sum of end - start, and
        ``working_us``, the sum of B(end) - B(start) in each span's calendar.

        The same B(t) as :meth:`add_clock`, summed without clocking each span: one base lookup
        per span end and one row per (span end, working interval of its day), grouped, so
        nothing is keyed or joined back per span (at 10^8 spans, clocking both ends by key and
        joining them back held several event-sized hash tables at once and ran out of memory).
        A span whose day the clock lacks has no working time, as a null B(t) gives none.

        >>> import ibis, pandas as pd
        >>> from flowlens.timing.calendars import WorkCalendar
        >>> clock = BusinessClock({"office": WorkCalendar.preset("office", timezone="UTC")}, 0, 10 * DAY_US)
        >>> h = 3_600_000_000
        >>> spans = ibis.memtable(pd.DataFrame({"who": ["r", "r"], "cal": ["office"] * 2,
        ...     "s": [4 * DAY_US + 8 * h, 4 * DAY_US + 16 * h], "e": [4 * DAY_US + 10 * h, 5 * DAY_US + 10 * h]}))
        >>> sums = clock.span_sums(spans, by=["who"], start="s", end="e", calendar_col="cal").to_pandas()
        >>> (sums.elapsed_us / h).tolist(), (sums.working_us / h).tolist()   # Monday 9-10, 16-17, Tuesday 9-10
        ([20.0], [3.0])
        """
        import ibis

        days = ibis.memtable(self.days)
        x = spans.select(*by, fl_cal=spans[calendar_col], fl_s=spans[start], fl_e=spans[end])
        x = x.mutate(bk_s=_day_bucket(x.fl_s), bk_e=_day_bucket(x.fl_e))
        d_s = days.select(bk_s="bucket", fl_cal="calendar", base_s="base_us")
        d_e = days.select(bk_e="bucket", fl_cal="calendar", base_e="base_us")
        x = x.left_join(d_s, ["bk_s", "fl_cal"]).select(*x.columns, "base_s")
        x = x.left_join(d_e, ["bk_e", "fl_cal"]).select(*x.columns, "base_e")
        bases = x.select(*by, raw=x.fl_e - x.fl_s, v=x.base_e - x.base_s)
        # each end with its day's working intervals: + the part before the end, - before the start
        ivs = ibis.memtable(self.intervals)
        ends = x.select(*by, "fl_cal", t="fl_e", bk="bk_e", sign=ibis.literal(1, "int64")).union(
            x.select(*by, "fl_cal", t="fl_s", bk="bk_s", sign=ibis.literal(-1, "int64")), distinct=False
        )
        p = ends.join(ivs, [ends.bk == ivs.bucket, ends.fl_cal == ivs.calendar])
        parts = p.select(
            *by, raw=ibis.literal(0, "int64"), v=p.sign * ibis.least((p.t - p.a).clip(lower=0), p.b - p.a)
        )
        both = bases.union(parts, distinct=False)
        return both.group_by(by).aggregate(elapsed_us=both.raw.sum(), working_us=both.v.sum())


def _day_bucket(t: ibis.Value) -> ibis.Value:
    """The UTC day (the clock's bucket) of microsecond instants."""
    return (t / DAY_US).floor().cast("int64")


def _split_at_midnight(iv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split [a, b) intervals at UTC midnights so each lies in one day bucket."""
    a_out: list[np.ndarray] = []
    b_out: list[np.ndarray] = []
    a, b = iv[:, 0].copy(), iv[:, 1].copy()
    while len(a):
        cut = (a // DAY_US + 1) * DAY_US
        head_b = np.minimum(b, cut)
        a_out.append(a)
        b_out.append(head_b)
        rest = b > cut
        a, b = cut[rest], b[rest]
    if not a_out:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    a_all, b_all = np.concatenate(a_out), np.concatenate(b_out)
    order = np.argsort(a_all, kind="stable")
    keep = b_all[order] > a_all[order]
    return a_all[order][keep], b_all[order][keep]
