"""Filters: smaller logs from a log, executed in the engine.

Every filter returns a new :class:`~flowlens.log.EventLog` that records a one-line description
of what it kept (``log.filters``), which summaries and reports show. Case-level filters keep
or drop whole cases; event-level filters (``trim`` time windows, event attribute values,
activity projection) drop activity instances and renumber positions, so that "directly
follows" then means "next among the instances kept" (Disco's behaviour).

>>> import flowlens, pandas as pd
>>> df = pd.DataFrame({"case": list("aabbc"), "activity": ["x", "y", "x", "z", "x"],
...                    "timestamp": pd.date_range("2024-01-01", periods=5, freq="D")})
>>> log = flowlens.read_log(df)
>>> small = filter_contains(log, ["y"])
>>> small.n_cases, small.filters
(1, ("cases containing any of ['y']",))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from flowlens.errors import ConfigError
from flowlens.relational import case_table, ordered_sequences, renumber

if TYPE_CHECKING:
    import ibis

    from flowlens.log import EventLog

TIME_MODES = ("intersecting", "contained", "started", "completed", "trim")
LEVELS = ("case", "event")


def _keep_cases(log: EventLog, cases: ibis.Table, description: str) -> EventLog:
    """The log restricted to the case_idx values in ``cases`` (a one-column table)."""
    t = log.table
    keys = cases.select(k=cases.case_idx)
    return log.derive(t.semi_join(keys, t.case_idx == keys.k).select(t.columns), description)


def _drop_cases(log: EventLog, cases: ibis.Table, description: str) -> EventLog:
    t = log.table
    keys = cases.select(k=cases.case_idx)
    return log.derive(t.anti_join(keys, t.case_idx == keys.k).select(t.columns), description)


def _to_us(value: str | pd.Timestamp, tz: str, what: str) -> int:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{what} '{value}' is not a date or time (e.g. 2024-03-01 or 2024-03-01T09:00)"
        ) from exc
    ts = ts.tz_localize(tz) if ts.tzinfo is None else ts
    return int(ts.value // 1000)


def filter_time(
    log: EventLog,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    *,
    mode: str = "intersecting",
) -> EventLog:
    """Cases (or, with ``mode="trim"``, instances) within [start, end).

    Modes: ``intersecting`` (the case overlaps the window), ``contained`` (it starts and ends
    inside), ``started`` / ``completed`` (its first start / last end is inside), ``trim``
    (instances whose end is inside; cases keep only those). Naive times are in the log's zone.
    """
    if mode not in TIME_MODES:
        raise ConfigError(f"unknown time-window mode '{mode}'; choose one of {', '.join(TIME_MODES)}")
    lo = _to_us(start, log.timezone, "window start") if start is not None else None
    hi = _to_us(end, log.timezone, "window end") if end is not None else None
    desc = f"time window [{start or '…'}, {end or '…'}) ({mode})"
    if mode == "trim":
        t = log.table
        cond = True
        if lo is not None:
            cond = t.end_us >= lo
        if hi is not None:
            cond = (t.end_us < hi) if cond is True else cond & (t.end_us < hi)
        return log.derive(renumber(t.filter(cond)), desc) if cond is not True else log
    c = case_table(log.table)
    conds = []
    if mode == "intersecting":
        if lo is not None:
            conds.append(c.end_us >= lo)
        if hi is not None:
            conds.append(c.start_us < hi)
    else:
        first = {"contained": "start_us", "started": "start_us", "completed": "end_us"}[mode]
        cols = [first] if mode != "contained" else ["start_us", "end_us"]
        for col in cols:
            if lo is not None:
                conds.append(c[col] >= lo)
            if hi is not None:
                conds.append(c[col] < hi)
    if not conds:
        return log
    return _keep_cases(log, c.filter(conds), desc)


def _column(log: EventLog, column: str) -> str:
    """Canonical column for a user-given name (source name, canonical name or a role)."""
    roles = {"activity": "activity", "resource": "resource", "case": "case_id", "case_id": "case_id"}
    if column in log.attributes:
        return column
    for canon, src in log.attributes.items():
        if src == column:
            return canon
    if column in roles:
        return roles[column]
    if log.columns.resource == column:
        return "resource"
    if column in log.columns.activity_columns and len(log.columns.activity_columns) == 1:
        return "activity"
    available = sorted({*log.attributes.values(), "activity", "resource"})
    raise ConfigError(f"no column '{column}' to filter on; available: {', '.join(available)}")


def filter_attribute(
    log: EventLog,
    column: str,
    values: Iterable[object],
    *,
    level: str = "case",
    keep: bool = True,
) -> EventLog:
    """Keep (or with ``keep=False`` drop) cases having an instance whose ``column`` is one of
    ``values`` (``level="case"``), or just those instances (``level="event"``).

    Values are compared as text, so ``"1"`` matches an integer attribute 1.
    """
    if level not in LEVELS:
        raise ConfigError(f"unknown filter level '{level}'; choose case or event")
    col = _column(log, column)
    vals = [str(v) for v in values]
    t = log.table
    hit = t[col].cast("string").isin(vals)
    verb = "with" if keep else "without"
    if level == "event":
        cond = hit if keep else ~hit.fill_null(False)
        return log.derive(renumber(t.filter(cond)), f"instances {verb} {column} in {vals}")
    cases = t.filter(hit).select("case_idx").distinct()
    desc = f"cases {verb} {column} in {vals}"
    if keep:
        return _keep_cases(log, cases, desc)
    return _drop_cases(log, cases, desc)


def filter_contains(
    log: EventLog, activities: Sequence[str], *, keep: bool = True, every: bool = False
) -> EventLog:
    """Cases containing any (or, with ``every=True``, all) of ``activities``; ``keep=False``
    keeps the cases that do not."""
    acts = list(activities)
    t = log.table
    hits = t.filter(t.activity.isin(acts)).group_by("case_idx").aggregate(n=t.activity.nunique())
    if every:
        hits = hits.filter(hits.n == len(set(acts)))
    word = "all" if every else "any"
    if keep:
        return _keep_cases(log, hits, f"cases containing {word} of {acts}")
    return _drop_cases(log, hits, f"cases not containing {word} of {acts}")


def filter_endpoints(
    log: EventLog, *, starts: Sequence[str] | None = None, ends: Sequence[str] | None = None
) -> EventLog:
    """Cases whose first activity is in ``starts`` and/or whose last is in ``ends``."""
    t = log.table
    out = log
    if starts:
        first = t.filter((t.pos == 0) & t.activity.isin(list(starts))).select("case_idx")
        out = _keep_cases(out, first, f"cases starting with {list(starts)}")
    if ends:
        t2 = out.table
        last = t2.group_by("case_idx").aggregate(last=t2.pos.max())
        j = t2.join(last, [t2.case_idx == last.case_idx, t2.pos == last["last"]])
        fin = j.filter(j.activity.isin(list(ends))).select("case_idx")
        out = _keep_cases(out, fin, f"cases ending with {list(ends)}")
    return out


def filter_lead_time(log: EventLog, min_s: float | None = None, max_s: float | None = None) -> EventLog:
    """Cases whose lead time (methods 3.3) is within [min_s, max_s] seconds."""
    from flowlens.units import human_duration

    c = case_table(log.table)
    conds = []
    if min_s is not None:
        conds.append(c.lead_us >= int(min_s * 1e6))
    if max_s is not None:
        conds.append(c.lead_us <= int(max_s * 1e6))
    if not conds:
        return log
    desc = (
        f"cases with lead time in [{human_duration(min_s) if min_s is not None else '0'}, "
        f"{human_duration(max_s) if max_s is not None else '∞'}]"
    )
    return _keep_cases(log, c.filter(conds), desc)


def filter_variants(log: EventLog, *, top: int | None = None, coverage: float | None = None) -> EventLog:
    """Cases of the ``top`` most frequent variants, or of the most frequent variants that
    together cover ``coverage`` (0-1) of cases (ties by the sequence, as in :func:`variants`)."""
    import ibis

    if top is None and coverage is None:
        return log
    if coverage is not None and not 0 < coverage <= 1:
        raise ConfigError(f"variant coverage must be in (0, 1], got {coverage}")
    seq = ordered_sequences(log.table)
    counts = seq.group_by("seq").aggregate(n=seq.count()).to_pandas()
    counts["key"] = [tuple(s) for s in counts["seq"]]
    counts = counts.sort_values(["n", "key"], ascending=[False, True], kind="stable").reset_index(drop=True)
    if top is not None:
        chosen = counts.head(top)
        desc = f"top {top} variants"
    else:
        share = counts["n"].cumsum() / counts["n"].sum()
        chosen = counts.head(int((share < coverage - 1e-12).sum()) + 1)
        desc = f"most frequent variants covering {coverage:.0%} of cases"
    keys = [list(k) for k in chosen["key"]]
    wanted = ibis.memtable(pd.DataFrame({"seq": keys}))
    # Compare sequences through a joined text key: portable across engines.
    sep = "\u241f"
    seq_k = seq.mutate(k=seq.seq.join(sep))
    wanted_k = wanted.mutate(k=wanted.seq.join(sep)).select("k")
    hit = seq_k.semi_join(wanted_k, seq_k.k == wanted_k.k).select("case_idx")
    return _keep_cases(log, hit, desc)


def filter_activities(
    log: EventLog,
    activities: Sequence[str] | None = None,
    *,
    coverage: float | None = None,
    keep: bool = True,
) -> EventLog:
    """Project the log on some activities: keep (or drop) the given ones, or the most frequent
    activities that cover ``coverage`` of all instances. Cases left empty disappear."""
    t = log.table
    if coverage is not None:
        if not 0 < coverage <= 1:
            raise ConfigError(f"activity coverage must be in (0, 1], got {coverage}")
        counts = t.group_by("activity").aggregate(n=t.count()).to_pandas()
        counts = counts.sort_values(["n", "activity"], ascending=[False, True], kind="stable")
        share = counts["n"].cumsum() / counts["n"].sum()
        activities = counts["activity"].head(int((share < coverage - 1e-12).sum()) + 1).tolist()
        desc = f"activities covering {coverage:.0%} of instances ({len(activities)} of {len(counts)})"
        keep = True
    elif activities is None:
        return log
    else:
        desc = f"{'only' if keep else 'without'} activities {list(activities)}"
    cond = t.activity.isin(list(activities))
    return log.derive(renumber(t.filter(cond if keep else ~cond)), desc)


__all__ = [
    "filter_activities",
    "filter_attribute",
    "filter_contains",
    "filter_endpoints",
    "filter_lead_time",
    "filter_time",
    "filter_variants",
]
