"""The discrete-event engine: a :class:`~flowlens.simulation.model.SimulationModel` in, an
event log out.

What is random is drawn before the clock runs, vectorised, from counter-based streams keyed by
case and occurrence (:mod:`flowlens.simulation.streams`): arrival gaps, case attributes, each
case's path (the k-order control flow), every duration, delay and pool choice. The clock then
only decides *when* things happen: a heap of (time, sequence, event) in virtual time (seconds),
as SimPy orders it, with these events:

* a step becomes **ready** when every earlier step of its case it is not concurrent with has
  ended (methods §6.1) and its extraneous delay has passed; it joins its pool's queue (first
  come, first served within a class: the step's priority first, then the case's priority
  class, when the model has them);
* a pool **dispatches** whenever a member is free and on shift and someone waits: the member
  idle longest takes the head of the queue; the work runs in that member's working time (a
  calendar pauses it off shift);
* a **wake** event brings a pool back when a free member's shift starts;
* at an abandonment point, a **patience** event: a case whose awaited step has not started when
  its patience (drawn with its other draws) runs out leaves the queue and takes the way on it
  was drawn for leaving there (methods §16.4).

A batched step waits until its batch releases (size reached, the time-out since the first
member, or the daily cut-off), then its members queue together.

A pool with ``other_work`` (the staff's work outside the process) gets a stream of jobs drawn
like arrivals, with their own random numbers: they join the pool's queue first come, first
served with the process's steps and keep its members busy; they are not in the output.

>>> from flowlens.simulation.model import SimulationModel, example_model
>>> frame = simulate(SimulationModel.from_dict(example_model()), cases=3, seed=1,
...                  start="2024-03-04T09:00:00")
>>> sorted(frame.columns)
['activity', 'case_id', 'end_time', 'resource', 'start_time']
>>> frame.case_id.nunique(), str(frame.start_time.min())
(3, '2024-03-04 09:00:00+00:00')
"""

from __future__ import annotations

import heapq
import itertools
import math
import zlib
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from flowlens.errors import ConfigError
from flowlens.simulation.distributions import draw
from flowlens.simulation.model import END, START, SimulationModel
from flowlens.simulation.streams import uniforms

#: Repeat counts a repeat-aware control flow tells apart (3: "3 or more"), as fitted.
MAX_REPEAT = 3
#: A case that keeps looping is cut here (the model's longest observed case × this).
MAX_LENGTH_FACTOR = 3
#: Working-calendar intervals are laid out this far ahead at a time (seconds).
_CAL_CHUNK = 28 * 86400.0

_READY, _END, _WAKE, _RELEASE, _PATIENCE = 0, 1, 2, 3, 4
#: Cells (cases × options) compared at once when drawing paths.
_SLICE = 4_000_000


def _to_epoch(value: Any, tz: ZoneInfo) -> float:
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize(tz)
    return ts.timestamp()


# ---------------------------------------------------------------------------------------
# working calendars as interval lists
# ---------------------------------------------------------------------------------------
class _Clock:
    """Working time of one calendar: next open instant and adding working seconds."""

    def __init__(self, cal: Any, t0: float) -> None:
        self.cal = cal
        self.always = cal is None or cal.always_open
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.cum: list[float] = []  # working seconds before each interval
        self.horizon = t0 - 8 * 86400.0
        if not self.always:
            self._extend(t0 + _CAL_CHUNK)

    def _extend(self, until: float) -> None:
        while self.horizon < until:
            lo, hi = self.horizon, self.horizon + _CAL_CHUNK
            iv = self.cal.intervals(int(lo * 1e6), int(hi * 1e6)) / 1e6
            for a, b in iv:
                a = max(a, lo)
                if self.ends and a <= self.ends[-1]:
                    if b > self.ends[-1]:  # an interval cut at the chunk border continues
                        self.ends[-1] = float(b)
                    continue
                self.cum.append(self.cum[-1] + (self.ends[-1] - self.starts[-1]) if self.starts else 0.0)
                self.starts.append(float(a))
                self.ends.append(float(b))
            self.horizon = hi
            if not self.starts and hi - lo > 0 and self.horizon > until + 10 * _CAL_CHUNK:
                raise ConfigError(f"calendar '{self.cal.name}' has no working hours")

    # The last open interval and closed gap found are remembered (bounds and the index of the
    # interval that holds or follows them): the clock mostly moves forward within them, so most
    # questions are answered without a search. An interval's end only grows (when the next
    # chunk continues it), so a remembered one stays right.
    _oa = _ob = _ga = _gb = 0.0
    _oi = _gi = 0

    def _find(self, t: float, ahead: bool = True) -> int:
        """The index of the interval holding ``t``, else of the next one (laying the calendar
        out as far as needed; with ``ahead=False`` not beyond ``t``'s chunk, and -1 when ``t`` is
        not in an interval); remembers what it found."""
        if t >= self.horizon - 86400:
            self._extend(t + _CAL_CHUNK)
        i = bisect_right(self.starts, t) - 1
        if i >= 0 and t < self.ends[i]:
            self._oa, self._ob, self._oi = self.starts[i], self.ends[i], i
            return i
        if not ahead and i + 1 >= len(self.starts):
            return -1
        while i + 1 >= len(self.starts):
            self._extend(self.horizon + _CAL_CHUNK)
        if i >= 0:
            self._ga, self._gb, self._gi = self.ends[i], self.starts[i + 1], i + 1
        return i + 1

    def open_at(self, t: float) -> bool:
        if self.always or self._oa <= t < self._ob:
            return True
        if self._ga <= t < self._gb:
            return False
        i = self._find(t, ahead=False)
        return i >= 0 and self.starts[i] <= t

    def next_open(self, t: float) -> float:
        if self.always or self._oa <= t < self._ob:
            return t
        if self._ga <= t < self._gb:
            return self._gb
        return max(t, self.starts[self._find(t)])

    def add(self, t: float, work: float) -> float:
        """The instant at which ``work`` working seconds started at ``t`` are done."""
        if self.always or work <= 0:
            return t + max(work, 0.0)
        if self._oa <= t < self._ob:
            i = self._oi
        elif self._ga <= t < self._gb:
            i, t = self._gi, self._gb
        else:
            i = self._find(t)
            t = max(t, self.starts[i])
        if t + work <= self.ends[i]:
            return t + work
        target = self.cum[i] + (t - self.starts[i]) + work
        while True:
            last = len(self.starts) - 1
            if self.cum[last] + (self.ends[last] - self.starts[last]) >= target:
                break
            self._extend(self.horizon + _CAL_CHUNK)
        j = bisect_right(self.cum, target) - 1
        # the interval j holds the target unless it ends exactly on a border
        if target - self.cum[j] > self.ends[j] - self.starts[j]:
            j += 1
        return self.starts[j] + (target - self.cum[j])


# ---------------------------------------------------------------------------------------
# arrivals
# ---------------------------------------------------------------------------------------
def _arrival_times(model: SimulationModel, start: float, n: int, n_before: int, seed: int) -> np.ndarray:
    """``n_before`` warm-up arrivals before ``start`` and ``n`` from ``start`` on (the first at
    ``start``): gaps on the clock of the cumulative intensity (methods §16.2)."""
    tz = ZoneInfo(model.timezone)
    inten = np.asarray(model.arrivals["intensity"], dtype=float)  # [weekday][hour], per hour
    closed = {pd.Timestamp(d).date() for d in model.arrivals.get("closed_dates", [])}
    gaps_d = model.arrivals["gaps"]
    ids = np.arange(-n_before, n, dtype=np.int64)
    gaps = draw(gaps_d, uniforms(seed, "arrivals", ids))
    gaps[n_before] = 0.0  # the first measured case arrives at start
    fwd = np.cumsum(gaps[n_before:])
    back = np.cumsum(gaps[:n_before][::-1])[::-1] if n_before else np.zeros(0)
    need_fwd = float(fwd[-1]) if n else 0.0
    need_back = float(back[0]) if n_before else 0.0
    weekly = float(inten.sum())

    def grid(lo: float, hours: int) -> tuple[np.ndarray, np.ndarray]:
        h0 = np.floor(lo / 3600.0) * 3600.0
        edges = h0 + 3600.0 * np.arange(hours + 1)
        local = pd.DatetimeIndex(pd.to_datetime(edges[:-1], unit="s", utc=True)).tz_convert(tz)
        rate = inten[local.weekday.to_numpy(), local.hour.to_numpy()]
        if closed:
            rate = np.where(np.isin(local.date, list(closed)), 0.0, rate)
        return edges, rate

    # hours enough for the expected arrivals (with room for chance), grown when short
    weeks = max(1.0, (need_fwd + need_back) / max(weekly, 1e-12))
    hours = int(168 * (weeks * 1.5 + 2))
    while True:
        lo = start - 3600.0 * hours * (need_back / max(need_back + need_fwd, 1e-12)) - 3600.0
        edges, rate = grid(lo, hours)
        cum = np.concatenate([[0.0], np.cumsum(rate)])  # expected arrivals at each edge
        lam0 = np.interp(start, edges, cum)
        if lam0 - need_back >= cum[0] and lam0 + need_fwd <= cum[-1] - 1e-9:
            break
        if hours > 168 * 52 * 200:
            raise ConfigError("arrivals: the intensity is too low to place the cases in 200 years")
        hours *= 2
    targets = np.concatenate([lam0 - back, lam0 + fwd])
    # invert the cumulative intensity: the first edge index where it reaches the target
    j = np.searchsorted(cum, targets, side="left")
    j = np.clip(j, 1, len(cum) - 1)
    c0, c1 = cum[j - 1], cum[j]
    frac = np.where(c1 > c0, (targets - c0) / np.where(c1 > c0, c1 - c0, 1.0), 0.0)
    times = edges[j - 1] + 3600.0 * frac
    times[n_before] = start
    return times


# ---------------------------------------------------------------------------------------
# paths
# ---------------------------------------------------------------------------------------
@dataclass
class _Paths:
    case: np.ndarray  # int64, case number (warm-up cases negative)
    act: np.ndarray  # int32 activity index
    occ: np.ndarray  # int32, 1-based occurrence of the activity in its case
    offsets: np.ndarray  # case c's instances are [offsets[c], offsets[c + 1])
    #: with abandonment points (methods §16.4): each case's path as served first, then the way
    #: on after each of its points if it leaves there (a *tail*); per instance, the first
    #: instance of its part of the path (its own index's case start for the served path)
    part_start: np.ndarray | None = None
    #: per point instance: the first instance of its tail and the end of it (exclusive; equal
    #: when the case ends on leaving), or -1 when it cannot leave there
    tail_lo: np.ndarray | None = None
    tail_hi: np.ndarray | None = None


def _table(
    transitions: list[dict[str, Any]], index: dict[str, int]
) -> dict[tuple[int, ...], tuple[list[int], list[float]]]:
    end = len(index)
    table: dict[tuple[int, ...], tuple[list[int], list[float]]] = {}
    for tr in transitions:
        key = (tuple(-1 if a == START else index[a] for a in tr["after"]), int(tr.get("repeat", 0)))
        names = list(tr["next"])
        probs = np.cumsum([float(tr["next"][a]) for a in names])
        probs[-1] = 1.0
        table[key] = ([end if a == END else index[a] for a in names], probs.tolist())
    return table


def _matching(attrs: pd.DataFrame | None, where: str, field: str) -> np.ndarray:
    """Which cases' attributes satisfy ``where`` (a pandas expression), one bool per case."""
    if attrs is None:
        raise ConfigError(f"{field}: '{where}' needs case attributes, and the model has none")
    try:
        return np.asarray(attrs.eval(where), dtype=bool)
    except Exception as exc:  # pandas raises many kinds for a bad expression
        raise ConfigError(
            f'{field}: cannot evaluate where = "{where}" on the case attributes {list(attrs.columns)}: {exc}'
        ) from None


def _case_tables(
    model: SimulationModel, index: dict[str, int], n: int, attrs: pd.DataFrame | None
) -> tuple[list[Any], np.ndarray]:
    """The routing tables and, per case, which one it follows: a variant of the control flow
    applies to the cases whose attributes match its ``where`` (the first match wins)."""
    cf = model.control_flow
    tables = [_table(cf["transitions"], index)]
    which = np.zeros(n, dtype=np.int64)
    for v in cf.get("variants", []):
        match = _matching(attrs, v["where"], "control_flow.variants")
        tables.append(_table(v["transitions"], index))
        which = np.where((which == 0) & match, len(tables) - 1, which)
    return tables, which


def _paths(
    model: SimulationModel,
    acts: list[str],
    case_ids: np.ndarray,
    seed: int,
    attrs: pd.DataFrame | None = None,
) -> _Paths:
    index = {a: i for i, a in enumerate(acts)}
    longest = int(model.fitted.get("longest_case", 0) or 0)
    cap = max(10, MAX_LENGTH_FACTOR * longest) if longest else 200
    # the repeats of these steps happen this many times as often (scenario cut_rework)
    factors = {
        index[a]: float(spec["repeat_factor"])
        for a, spec in model.activities.items()
        if "repeat_factor" in spec
    }
    # steps whose repeats count together (cut_rework on several ways into one piece of work)
    group = {
        index[a]: tuple(sorted(index[g] for g in spec["repeat_group"]))
        for a, spec in model.activities.items()
        if spec.get("repeat_group")
    }
    tables, which = _case_tables(model, index, len(case_ids), attrs)
    # at an abandonment point the case is drawn as served; whether it leaves is decided
    # during the run, and the way on if it does is drawn beside (methods §16.4)
    points = {
        index[a]: [
            len(acts) if x == END else index[x]
            for x in spec["abandonment"]["leave"]
            if x == END or x in index
        ]
        for a, spec in model.activities.items()
        if spec.get("abandonment")
    }
    walked = [_served_table(t, points) for t in tables] if points else tables
    repeat: dict[int, Any] = dict(factors)
    if any(0 < f < 1 for f in factors.values()):
        # the same cases' paths without the cut tell how many more repeats follow a repeat
        free = walk_paths(model.control_flow, len(acts), case_ids, seed, cap=cap, tables=walked, which=which)
        for a, f in factors.items():
            if 0 < f < 1:
                repeat[a] = _keep_by_count(free, group.get(a, (a,)), f)
    paths = walk_paths(
        model.control_flow,
        len(acts),
        case_ids,
        seed,
        cap=cap,
        tables=walked,
        which=which,
        repeat=repeat,
        group=group,
    )
    if not points:
        return paths
    return _with_tails(
        paths, points, model.control_flow, len(acts), case_ids, seed, cap, tables, which, repeat, group
    )


def _served_table(
    table: dict[tuple[int, ...], tuple[list[int], list[float]]], points: dict[int, list[int]]
) -> dict[tuple[int, ...], tuple[list[int], list[float]]]:
    """``table`` with the ways of leaving at each abandonment point taken out (the others in
    their proportions); a history with no other way on keeps its options."""
    out = dict(table)
    for key, (nxt, cum) in table.items():
        h = key[0]
        if not h or h[-1] not in points:
            continue
        leave = set(points[h[-1]])
        probs = np.diff(np.concatenate([[0.0], cum]))
        kept = [(b, p) for b, p in zip(nxt, probs, strict=True) if b not in leave and p > 0]
        if not kept:
            continue
        c = np.cumsum([p for _, p in kept]) / sum(p for _, p in kept)
        c[-1] = 1.0
        out[key] = ([b for b, _ in kept], c.tolist())
    return out


def _with_tails(
    main: _Paths,
    points: dict[int, list[int]],
    control_flow: dict[str, Any],
    n_acts: int,
    case_ids: np.ndarray,
    seed: int,
    cap: int,
    tables: list[Any],
    which: np.ndarray,
    repeat: dict[int, Any],
    group: dict[int, tuple[int, ...]],
) -> _Paths:
    """The served paths ``main`` with, after each case's served path, a tail per abandonment
    point instance in it: the way on if the case leaves there, drawn from the fitted control
    flow with its own random numbers (stream ``abandonment``, keyed by case and the point's
    occurrence): the first step among the point's ways of leaving in their proportions, then
    on as the flow goes (a point in a tail keeps its fitted chance of leaving)."""
    k = int(control_flow["order"])
    repeats = bool(control_flow.get("repeats"))
    end = n_acts
    n_cases = len(case_ids)
    act, occ, off = main.act.astype(np.int64), main.occ, main.offsets
    case_row = np.repeat(np.arange(n_cases), np.diff(off))
    js = np.flatnonzero(np.isin(act, list(points)))
    # each point instance's history (the last k steps up to it) and its way of leaving
    lo_case = off[case_row[js]]
    hist = (
        np.stack(
            [np.where(js - d >= lo_case, act[np.maximum(js - d, 0)], -1) for d in range(k - 1, -1, -1)],
            axis=1,
        )
        if len(js)
        else np.zeros((0, k), dtype=np.int64)
    )
    u = uniforms(seed, "abandonment", case_ids[case_row[js]], act[js], occ[js])
    first = np.full(len(js), -1, dtype=np.int64)  # -1: cannot leave there; end: the case ends
    reps = np.minimum(occ[js], MAX_REPEAT) if repeats else np.zeros(len(js), dtype=np.int64)
    # the choice is made per distinct (table, history, repeat count): few of them
    keys = np.column_stack([which[case_row[js]], hist, reps]) if len(js) else np.zeros((0, k + 2), np.int64)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    for g, key in enumerate(uniq.tolist()):
        table, h, r = tables[key[0]], tuple(key[1:-1]), key[-1]
        row = table.get((h, r))
        while row is None and r > 1:
            r -= 1
            row = table.get((h, r))
        if row is None:
            continue
        probs = np.diff(np.concatenate([[0.0], row[1]]))
        ways = [(b, p) for b, p in zip(row[0], probs, strict=True) if b in points[h[-1]] and p > 0]
        if not ways:
            continue
        c = np.cumsum([p for _, p in ways]) / sum(p for _, p in ways)
        members = np.flatnonzero(inverse == g)
        pick = np.minimum(np.searchsorted(c, u[members], side="right"), len(ways) - 1)
        first[members] = np.asarray([b for b, _ in ways], dtype=np.int64)[pick]
    on = np.flatnonzero((first >= 0) & (first != end))
    # the times the case has done each step by its first step of leaving: the served path up to
    # the point, and that step (a repeat-aware flow reads them)
    seen = np.zeros((len(on), n_acts + 1), dtype=np.int64)
    lengths = js[on] + 1 - off[case_row[js[on]]]
    rows = np.repeat(np.arange(len(on)), lengths)
    idx = np.repeat(off[case_row[js[on]]] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    np.add.at(seen, (rows, act[idx + np.arange(int(lengths.sum()))]), 1)
    seen[np.arange(len(on)), first[on]] += 1
    seen = np.minimum(seen, MAX_REPEAT + 1).astype(np.uint8)
    starts = [
        ((*h[1:], b) if k > 1 else (b,), min(int(seen[t, b]), MAX_REPEAT) if repeats else 0)
        for t, (h, b) in enumerate(zip(map(tuple, hist[on].tolist()), first[on].tolist(), strict=True))
    ]
    # the tails after the first step, one pseudo-case per tail
    key = case_ids[case_row[js[on]]] * 4096 + np.minimum(occ[js[on]], 4095).astype(np.int64)
    rest = walk_paths(
        control_flow,
        n_acts,
        key,
        seed,
        cap=cap,
        tables=tables,
        which=which[case_row[js[on]]],
        repeat=repeat,
        group=group,
        start=starts,
        start_seen=seen,
        stream="abandonment",
    )
    # lay out: per case its served path, then its tails in the order of their points
    tail_len = np.zeros(len(js), dtype=np.int64)
    tail_len[on] = 1 + np.diff(rest.offsets)
    t_owner = np.repeat(np.arange(len(js)), tail_len)  # the point (row of js) of each tail step
    t_act = np.empty(int(tail_len.sum()), dtype=np.int64)
    t_first = np.concatenate([[0], np.cumsum(tail_len)[:-1]])
    t_act[t_first[on]] = first[on]
    body = np.ones(len(t_act), dtype=bool)
    body[t_first[on]] = False
    t_act[body] = rest.act
    # sort key: case, part (0 served, 1 + point row for a tail), position
    case_all = np.concatenate([case_row, case_row[js][t_owner]])
    part_all = np.concatenate([np.zeros(len(act), dtype=np.int64), 1 + t_owner])
    pos_all = np.arange(len(act) + len(t_act), dtype=np.int64)
    order = np.lexsort((pos_all, part_all, case_all))
    new_act = np.concatenate([act, t_act])[order].astype(np.int32)
    new_case = case_ids[case_all[order]]
    counts = np.bincount(case_all, minlength=n_cases)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    where = np.empty(len(order), dtype=np.int64)
    where[order] = np.arange(len(order))  # old position -> new
    # occurrences over the whole case, served path first (keys of the draws, §16.5)
    occ_all = np.ones(len(new_act), dtype=np.int32)
    if len(new_act):
        o = np.lexsort((np.arange(len(new_act)), new_act, case_all[order]))
        sc, sa = case_all[order][o], new_act[o]
        run_start = np.ones(len(o), dtype=bool)
        run_start[1:] = (sc[1:] != sc[:-1]) | (sa[1:] != sa[:-1])
        rid = np.cumsum(run_start) - 1
        occ_all[o] = (np.arange(len(o)) - np.flatnonzero(run_start)[rid] + 1).astype(np.int32)
    part_sorted = part_all[order]
    case_sorted = case_all[order]
    head = np.ones(len(order), dtype=bool)
    head[1:] = (part_sorted[1:] != part_sorted[:-1]) | (case_sorted[1:] != case_sorted[:-1])
    part_start = np.maximum.accumulate(np.where(head, np.arange(len(order)), 0))
    tail_lo = np.full(len(order), -1, dtype=np.int64)
    tail_hi = np.full(len(order), -1, dtype=np.int64)
    ok = np.flatnonzero(first >= 0)
    jn = where[js[ok]]
    # an empty tail (the case ends on leaving) sits at its case's end
    ends_at = offsets[case_row[js[ok]] + 1]
    at = np.minimum(len(act) + t_first[ok], len(order) - 1)  # (read only where the tail has steps)
    lo_ = np.where(tail_len[ok] > 0, where[at], ends_at)
    tail_lo[jn] = lo_
    tail_hi[jn] = lo_ + tail_len[ok]
    return _Paths(new_case, new_act, occ_all, offsets, part_start, tail_lo, tail_hi)


def walk_paths(
    control_flow: dict[str, Any],
    n_acts: int,
    case_ids: np.ndarray,
    seed: int,
    *,
    cap: int,
    tables: list[Any],
    which: np.ndarray | None = None,
    repeat: dict[int, Any] | None = None,
    group: dict[int, tuple[int, ...]] | None = None,
    start: list[tuple[tuple[int, ...], int]] | None = None,
    start_seen: np.ndarray | None = None,
    stream: str = "routing",
) -> _Paths:
    """Each case's path through the k-order control flow (methods §16.4): activity indexes,
    their occurrences and the case offsets. ``tables`` are routing tables (:func:`_table`),
    ``which`` says which one each case follows (default the first); a path ends at (end), at
    a history without a way on (an edited model), or at ``cap`` steps.

    The paths are drawn position by position for all cases at once: after history h (and,
    in a repeat-aware flow, the number of times the case has done its last activity) the
    next is the first option whose cumulative probability exceeds the case's routing uniform
    (keyed by case and position), as a walk case by case would choose it. ``repeat`` keeps a
    repeat of a step with its probability (cut_rework): one number, or one per number of
    starts so far (index 1 to MAX_REPEAT + 1); ``group`` names, per step, the steps whose
    starts count as its repeats (itself included; default the step alone). ``start`` gives
    each case the (history, repeat count) it goes on from instead of the start (a history
    the tables lack ends the path at once), ``start_seen`` the times it has done each activity
    by then (cases × activities + 1), and ``stream`` the random stream of its choices.
    """
    k = int(control_flow["order"])
    repeats = bool(control_flow.get("repeats"))
    end = n_acts
    repeat = repeat or {}
    n = len(case_ids)
    if which is None:
        which = np.zeros(n, dtype=np.int64)
    # every history of every table as a number; per table, the row of routing options of each
    # (history, repeat count), a count the table lacks taking the nearest lower one down to 1
    hist_id: dict[tuple[int, ...], int] = {}
    for table in tables:
        for h, _ in table:
            hist_id.setdefault(h, len(hist_id))
    hists = list(hist_id)
    entries: list[tuple[tuple[int, ...], list[int], list[float]]] = []
    row_of = np.full((len(tables), max(len(hists), 1), MAX_REPEAT + 1), -1, dtype=np.int64)
    for t, table in enumerate(tables):
        for (h, r), (nxt, c) in table.items():
            if 0 <= r <= MAX_REPEAT:
                row_of[t, hist_id[h], r] = len(entries)
                entries.append((h, nxt, c))
        for r in range(2, MAX_REPEAT + 1):
            row_of[t, :, r] = np.where(row_of[t, :, r] >= 0, row_of[t, :, r], row_of[t, :, r - 1])
    width = max((len(e[1]) for e in entries), default=1)
    cum = np.full((len(entries), width), np.inf)
    opt = np.full((len(entries), width), end, dtype=np.int64)
    to = np.full((len(entries), width), -1, dtype=np.int64)  # the history an option leads to
    n_opts = np.ones(len(entries), dtype=np.int64)
    for e, (h, nxt, c) in enumerate(entries):
        cum[e, : len(c)] = c
        opt[e, : len(nxt)] = nxt
        n_opts[e] = len(nxt)
        for j, a in enumerate(nxt):
            if a != end:
                to[e, j] = hist_id.get((*h[1:], a) if k > 1 else (a,), -1)
    h0 = hist_id.get((-1,) * k, -1)
    counted = repeats or bool(repeat)
    rep_act = np.zeros(n_acts + 1, dtype=bool)
    rep_act[list(repeat)] = True
    group = group or {}
    # the step whose count stands for each step's group (itself when it has none)
    gid = np.arange(n_acts + 1, dtype=np.int64)
    for a, members in group.items():
        gid[a] = min(members)
    out_case: list[np.ndarray] = []
    out_act: list[np.ndarray] = []
    counts = np.zeros(n, dtype=np.int64)
    # cases in chunks: the times each case has done each activity (capped) stay small
    chunk = max(1, min(n, 1 << 16))
    for lo in range(0, n, chunk):
        ids = case_ids[lo : lo + chunk]
        m = len(ids)
        tab = which[lo : lo + chunk]
        hist = np.full(m, h0, dtype=np.int64)
        rep = np.zeros(m, dtype=np.int64)
        if start is not None:
            hist[:] = [hist_id.get(h, -1) for h, _ in start[lo : lo + m]]
            rep[:] = [r for _, r in start[lo : lo + m]]
        seen = np.zeros((m, n_acts + 1), dtype=np.uint8) if counted else None
        if seen is not None and start_seen is not None:
            seen[:] = np.minimum(start_seen[lo : lo + m], MAX_REPEAT + 1)
        # starts per group (the same as ``seen`` without groups)
        gseen = np.zeros((m, n_acts + 1), dtype=np.uint8) if counted and group else seen
        if gseen is not seen and gseen is not None and seen is not None and start_seen is not None:
            for a in range(n_acts + 1):
                gseen[:, gid[a]] = np.minimum(gseen[:, gid[a]] + seen[:, a], MAX_REPEAT + 1)
        active = np.arange(m, dtype=np.int64)
        got_case: list[np.ndarray] = []
        got_act: list[np.ndarray] = []
        pos = 0
        while pos < cap and len(active):
            h = hist[active]
            row = np.where(h >= 0, row_of[tab[active], np.maximum(h, 0), rep[active]], -1)
            keep = row >= 0  # an edited model may leave a history without a way on
            active, row = active[keep], row[keep]
            if not len(active):
                break
            x = uniforms(seed, stream, ids[active], pos)
            # the number of cumulative probabilities ≤ x (bisect_right on a sorted row), in
            # slices of at most _SLICE cells so a model with many options stays small in memory
            choice = np.empty(len(active), dtype=np.int64)
            step = max(1, _SLICE // width)
            for s in range(0, len(active), step):
                part = slice(s, s + step)
                choice[part] = (cum[row[part]] <= x[part, None]).sum(axis=1)
            choice = np.minimum(choice, n_opts[row] - 1)
            a = opt[row, choice]
            nh = to[row, choice]
            if seen is not None and repeat:
                # a repeat under a scenario's repeat factor (rare: one at a time)
                again = rep_act[a] & (gseen[active, gid[a]] > 0)
                for j in np.flatnonzero(again).tolist():
                    h_e, nxt, c = entries[row[j]]
                    cid, aj = int(ids[active[j]]), int(a[j])
                    kept = repeat[aj]
                    if not isinstance(kept, float):  # by the number of starts so far
                        kept = float(kept[int(gseen[active[j], gid[aj]])])
                    b = _repeat_or_not(aj, nxt, c, kept, seed, cid, pos, end, group.get(aj, (aj,)))
                    if b != aj:
                        a[j] = b
                        nh[j] = -1 if b == end else hist_id.get((*h_e[1:], b) if k > 1 else (b,), -1)
            go = a != end
            active, a, nh = active[go], a[go], nh[go]
            got_case.append(active)
            got_act.append(a)
            if seen is not None:
                seen[active, a] = np.minimum(seen[active, a], MAX_REPEAT) + 1
                if gseen is not seen:
                    gseen[active, gid[a]] = np.minimum(gseen[active, gid[a]], MAX_REPEAT) + 1
                if repeats:
                    rep[active] = np.minimum(seen[active, a], MAX_REPEAT)
            hist[active] = nh
            pos += 1
        rows = np.concatenate(got_case) if got_case else np.zeros(0, dtype=np.int64)
        acts_drawn = np.concatenate(got_act) if got_act else np.zeros(0, dtype=np.int64)
        # case by case (positions are already in order within each case)
        by_case = np.argsort(rows, kind="stable")
        out_case.append(ids[rows[by_case]])
        out_act.append(acts_drawn[by_case])
        counts[lo : lo + m] = np.bincount(rows, minlength=m)
    case = np.concatenate(out_case) if out_case else np.zeros(0, dtype=np.int64)
    act = (np.concatenate(out_act) if out_act else np.zeros(0, dtype=np.int64)).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    # occurrence of each activity within its case: rank among equal (case, activity) pairs
    occ = np.ones(len(act), dtype=np.int32)
    if len(act):
        order = np.lexsort((np.arange(len(act)), act, case))
        sc, sa = case[order], act[order]
        start_run = np.ones(len(act), dtype=bool)
        start_run[1:] = (sc[1:] != sc[:-1]) | (sa[1:] != sa[:-1])
        run_id = np.cumsum(start_run) - 1
        first = np.flatnonzero(start_run)
        occ[order] = (np.arange(len(act)) - first[run_id] + 1).astype(np.int32)
    return _Paths(case, act, occ, np.asarray(offsets, dtype=np.int64))


def _keep_by_count(free: _Paths, group: tuple[int, ...], factor: float) -> np.ndarray:
    """The probability of keeping a repeat of a step of ``group``, by how often the case has
    started one so far (1, 2, ..., MAX_REPEAT + 1 for that many or more), so that the repeats
    happen ``factor`` times as often as on the uncut paths ``free`` (methods §17.1).

    A repeat kept with probability p is followed by E more repeats on average (E: the uncut
    paths' mean number of further starts after a start with that count), a cut one by none;
    so p·(1 + factor·E) = factor·(1 + E) keeps the repeats from there factor times as many.
    Keeping each with probability factor would also cut the repeats after a cut one: in a loop
    that goes round with probability q they would fall to factor·(1 − q)/(1 − factor·q), not
    factor, of what they were.

    >>> free = _Paths(np.zeros(3, np.int64), np.zeros(3, np.int32), np.ones(3, np.int32), np.array([0, 3]))
    >>> _keep_by_count(free, (0,), 0.5).round(3).tolist()  # the 2nd start has one more after it
    [0.5, 0.667, 0.5, 0.5, 0.5]
    >>> once = _Paths(np.zeros(2, np.int64), np.array([0, 1], np.int32), np.ones(2, np.int32), np.array([0, 2]))
    >>> _keep_by_count(once, (0,), 0.5).tolist()  # started, never repeated: nothing to correct
    [0.5, 0.5, 0.5, 0.5, 0.5]
    """
    keep = np.full(MAX_REPEAT + 2, factor)
    starts = np.isin(free.act, np.asarray(group, dtype=free.act.dtype))
    case = np.repeat(np.arange(len(free.offsets) - 1), np.diff(free.offsets))[starts]
    if not len(case):
        return keep
    # j: the start's number within its case (1, 2, ...); after it come n − j more
    first = np.concatenate([[True], case[1:] != case[:-1]])
    run = np.cumsum(first) - 1
    j = np.arange(len(case)) - np.flatnonzero(first)[run] + 1
    n = np.bincount(run)[run]
    rep = j >= 2
    # the decision on start j is taken with min(j − 1, MAX_REPEAT + 1) starts seen
    seen = np.minimum(j[rep] - 1, MAX_REPEAT + 1)
    more = (n - j)[rep].astype(float)
    # (float even when no start is a repeat: bincount of nothing is an integer array)
    tot = np.bincount(seen, weights=more, minlength=MAX_REPEAT + 2).astype(float)
    cnt = np.bincount(seen, minlength=MAX_REPEAT + 2)
    e = np.divide(tot, cnt, out=np.zeros_like(tot), where=cnt > 0)
    keep[:] = factor * (1.0 + e) / (1.0 + factor * e)
    return keep


def _repeat_or_not(
    a: int,
    nxt: list[int],
    cum: list[float],
    kept: float,
    seed: int,
    cid: int,
    pos: int,
    end: int,
    group: tuple[int, ...] = (),
) -> int:
    """A repeat of ``a`` is kept with probability ``kept``; otherwise the case takes one of the
    other ways on that are not in ``a``'s repeat ``group``, in their proportions (its own random
    numbers: the rest of the draws of the case stay as they were)."""
    keep, pick = uniforms(seed, "routing", [cid, cid], [pos + 1_000_000, pos + 2_000_000])
    if keep < kept:
        return a
    probs = np.diff(np.concatenate([[0.0], cum]))
    others = [(b, p) for b, p in zip(nxt, probs, strict=True) if b != a and b not in group and p > 0]
    if not others:
        return end
    total = sum(p for _, p in others)
    acc = 0.0
    for b, p in others:
        acc += p / total
        if pick < acc:
            return b
    return others[-1][0]


# ---------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------
@dataclass
class _Pool:
    members: list[int]
    clock: Any = None
    queue: list[tuple[Any, ...]] = field(default_factory=list)
    wake_at: float = float("inf")
    #: free members as (free since, position in ``members``, member): a heap
    idle: list[tuple[float, int, int]] = field(default_factory=list)
    #: a pool whose members work different shifts (``member_calendars``): per shift its clock
    #: and its free members (a heap as ``idle``, which then stays empty); empty otherwise
    shifts: list[tuple[Any, list[tuple[float, int, int]]]] = field(default_factory=list)


def _by_shares(shares: dict[str, float], u: np.ndarray, pidx: dict[str, int]) -> np.ndarray:
    """The pool (its index in ``pidx``) each uniform in ``u`` draws by ``shares`` (pool -> share).

    >>> _by_shares({"a": 0.25, "b": 0.75}, np.array([0.1, 0.5]), {"a": 0, "b": 1}).tolist()
    [0, 1]
    """
    names = list(shares)
    cum = np.cumsum([float(shares[q]) for q in names])
    cum[-1] = 1.0
    choice = np.minimum(np.searchsorted(cum, u, side="right"), len(names) - 1)
    return np.asarray([pidx[q] for q in names], dtype=np.int32)[choice]


def simulate(
    model: SimulationModel,
    *,
    cases: int | None = None,
    until: Any = None,
    start: Any = None,
    seed: int = 0,
    warmup_cases: int | None = None,
    with_enabled: bool = False,
) -> pd.DataFrame:
    """Simulate ``cases`` cases (or those arriving before ``until``) from ``start`` (default:
    the end of the period the model was fitted on); one row per activity instance with
    ``case_id``, ``activity``, ``resource``, ``start_time``, ``end_time`` (in the model's time
    zone) and the case attributes. ``warmup_cases`` cases arrive before ``start`` and load
    the queues; they are not returned (default: the mean number of open cases of the fitted
    log, so a run starts as busy as the real process usually is). ``with_enabled`` adds
    each step's ``enabled_time`` (when the steps it waits for had ended; methods §6.1) and
    ``work_s`` (its processing time in working time). The same model, arguments and seed give the same frame.
    """
    tz = ZoneInfo(model.timezone)
    if start is None:
        start = model.fitted.get("end")
        if start is None:
            raise ConfigError("simulate: give start (the model does not say when its log ended)")
    t0 = _to_epoch(start, tz)
    if cases is None and until is None:
        raise ConfigError("simulate: give the number of cases or the end of the period (until)")
    if cases is not None and (not isinstance(cases, (int, np.integer)) or cases < 1):
        raise ConfigError(f"simulate: the number of cases must be a whole number ≥ 1, got {cases!r}")
    if warmup_cases is None:
        warmup_cases = int(model.fitted.get("open_cases", 0) or 0)
    if warmup_cases < 0:
        raise ConfigError(f"simulate: warm-up cases must be ≥ 0, got {warmup_cases}")
    if cases is None:
        t_end = _to_epoch(until, tz)
        if t_end <= t0:
            raise ConfigError(f"simulate: the period ends ({until}) before it starts ({start})")
        n = 1024
        while True:
            arr = _arrival_times(model, t0, n, warmup_cases, seed)
            if arr[-1] >= t_end:
                break
            n *= 2
        keep = int(np.searchsorted(arr[warmup_cases:], t_end, side="left"))
        arrivals = arr[: warmup_cases + max(keep, 1)]
        n = max(keep, 1)
    else:
        n = int(cases)
        arrivals = _arrival_times(model, t0, n, warmup_cases, seed)
    case_ids = np.arange(-warmup_cases, n, dtype=np.int64)
    return _run(model, case_ids, arrivals, seed, tz, with_enabled)


def _calendars(model: SimulationModel) -> dict[str, Any]:
    """The model's calendars as :class:`~flowlens.timing.calendars.WorkCalendar` objects."""
    from flowlens.timing.calendars import CalendarSet

    if not model.calendars:
        return {}
    cs = CalendarSet.from_dict(
        {"timezone": model.timezone, "teams": model.calendars}, source="model.calendars"
    )
    return dict(cs.teams)


def _case_attributes(model: SimulationModel, case_ids: np.ndarray, seed: int) -> pd.DataFrame | None:
    """Case attributes drawn as whole rows of the log's joint table (methods §16.2)."""
    spec = model.arrivals.get("attributes")
    if not spec or not spec.get("rows"):
        return None
    w = np.asarray(spec["weights"], dtype=float)
    cum = np.cumsum(w) / w.sum()
    cum[-1] = 1.0
    pick = np.searchsorted(cum, uniforms(seed, "attributes", case_ids), side="right")
    pick = np.minimum(pick, len(cum) - 1)
    table = pd.DataFrame(spec["rows"], columns=spec["columns"])
    return table.iloc[pick].reset_index(drop=True)


#: Other-work jobs are drawn at least this far past the last arrival (seconds).
OTHER_WORK_TAIL_S = 60 * 86400.0


def _job_times(
    spec: dict[str, Any], tz: ZoneInfo, origin: float, t0: float, t1: float, seed: int, key: int
) -> tuple[np.ndarray, np.ndarray]:
    """Arrival times in [t0, t1) of one pool's other-work jobs and their numbers: gaps on the
    clock of the stream's intensity (as case arrivals, methods §16.2), counted forward from
    ``origin`` (jobs 0, 1, ...) and backward from it (-1, -2, ...)."""
    inten = np.asarray(spec["intensity"], dtype=float)
    h0 = np.floor(t0 / 3600.0) * 3600.0 - 3600.0
    hours = int(np.ceil((t1 - h0) / 3600.0)) + 1
    edges = h0 + 3600.0 * np.arange(hours + 1)
    local = pd.DatetimeIndex(pd.to_datetime(edges[:-1], unit="s", utc=True)).tz_convert(tz)
    rate = inten[local.weekday.to_numpy(), local.hour.to_numpy()]
    cum = np.concatenate([[0.0], np.cumsum(rate)])
    lam_o, lam_0, lam_1 = np.interp([origin, t0, t1], edges, cum)
    if cum[-1] <= 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)

    def targets(sign: int, need: float) -> tuple[np.ndarray, np.ndarray]:
        n = int(need * 1.2) + 16
        while True:
            ids = sign * np.arange(1 if sign < 0 else 0, n + (1 if sign < 0 else 0), dtype=np.int64)
            g = np.cumsum(draw(spec["gaps"], uniforms(seed, "other_work", key, ids, 0)))
            if g[-1] >= need or n > 50_000_000:
                keep = g < need
                return lam_o + sign * g[keep], ids[keep]
            n *= 2

    fwd, f_ids = targets(1, lam_1 - lam_o)
    back, b_ids = targets(-1, lam_o - lam_0) if lam_o > lam_0 else (np.zeros(0), np.zeros(0, dtype=np.int64))
    tg = np.concatenate([back[::-1], fwd])
    ids = np.concatenate([b_ids[::-1], f_ids])
    # invert the cumulative intensity, as for the case arrivals
    j = np.clip(np.searchsorted(cum, tg, side="left"), 1, len(cum) - 1)
    c0, c1 = cum[j - 1], cum[j]
    frac = np.where(c1 > c0, (tg - c0) / np.where(c1 > c0, c1 - c0, 1.0), 0.0)
    return edges[j - 1] + 3600.0 * frac, ids


def _batch_deadline(rule: dict[str, Any], now: float, tz: ZoneInfo) -> float:
    """When a batch opened at ``now`` is released at the latest: its time-out or the next
    daily cut-off (one of ``cutoff``'s times of day, on one of ``days``, default every day),
    whichever comes first (infinity when neither is set).

    >>> tz = ZoneInfo("UTC")
    >>> fri_17h = datetime(2024, 3, 8, 17, tzinfo=tz).timestamp()
    >>> rule = {"cutoff": ["10:00", "16:00"], "days": ["mon", "tue", "wed", "thu", "fri"]}
    >>> datetime.fromtimestamp(_batch_deadline(rule, fri_17h, tz), tz).isoformat()
    '2024-03-11T10:00:00+00:00'
    """
    out = float("inf")
    if rule.get("timeout_s") is not None:
        out = now + float(rule["timeout_s"])
    cut = rule.get("cutoff")
    if cut:
        from flowlens.timing.calendars import DAYS

        times = sorted(
            (int(h), int(m)) for h, m in (str(c).split(":") for c in ([cut] if isinstance(cut, str) else cut))
        )
        days = {DAYS.index(d) for d in rule.get("days") or DAYS}
        day = datetime.fromtimestamp(now, tz).date()
        for k in range(8):  # the next release day is at most a week ahead
            d = day + timedelta(days=k)
            if d.weekday() in days:
                for hh, mm in times:
                    # local wall time, as a calendar reads it (a DST change moves the instant)
                    c = datetime(d.year, d.month, d.day, hh, mm, tzinfo=tz).timestamp()
                    if c >= now:
                        return min(out, c)
    return out


class _Run:
    """One simulation run over pre-drawn paths and draws (see the module docstring)."""

    def __init__(self, model: SimulationModel, case_ids: np.ndarray, arrivals: np.ndarray, seed: int) -> None:
        self.model = model
        self.tz = ZoneInfo(model.timezone)
        self.acts = sorted(model.activities)
        self.case_ids = case_ids
        self.arrivals = arrivals
        self.attrs = _case_attributes(model, case_ids, seed)
        self.paths = _paths(model, self.acts, case_ids, seed, self.attrs)
        #: each instance's case, as a row of ``case_ids`` (and of ``attrs``)
        self.case_row = np.repeat(np.arange(len(case_ids)), np.diff(self.paths.offsets))
        self._history()
        self._draw(seed)
        self._resources()
        self._structure()
        self._other_work(seed)
        self._queue_keys()

    def _draw(self, seed: int) -> None:
        p, model = self.paths, self.model
        n = len(p.act)
        dur, delay = np.zeros(n), np.zeros(n)
        pool_of = np.full(n, -1, dtype=np.int32)
        self.pool_names = sorted(model.pools)
        pidx = {q: i for i, q in enumerate(self.pool_names)}
        u_dur = uniforms(seed, "durations", p.case, p.act, p.occ)
        u_del = uniforms(seed, "delays", p.case, p.act, p.occ)
        u_pool = uniforms(seed, "pools", p.case, p.act, p.occ)
        index = {a: i for i, a in enumerate(self.acts)}
        # the previous step of each instance in its path (-1: the case's first)
        prev = np.full(n, -1, dtype=np.int64)
        # neighbours are within one part of a case's path (its served path, or a tail)
        lane = p.case if p.part_start is None else p.part_start
        if n:
            same = np.zeros(n, dtype=bool)
            same[1:] = lane[1:] == lane[:-1]
            prev[1:] = np.where(same[1:], p.act[:-1], -1)
        nxt = np.full(n, -1, dtype=np.int64)
        if n:
            nxt[:-1] = np.where(same[1:], p.act[1:], -1)
        heads = self._tail_heads()
        prev[heads[1]] = p.act[heads[0]]  # a tail goes on from its point
        by_act = np.argsort(p.act, kind="stable")
        bounds = np.searchsorted(p.act[by_act], np.arange(len(self.acts) + 1))
        skip = self._skipped(by_act, bounds, index)
        # a step's delay context is its neighbours on the path as edited: after a removed step
        # the next one waits as it does after the step that now precedes it (same uniform)
        prev_ctx, nxt_ctx = prev, nxt
        if skip.any():
            kept = np.flatnonzero(~skip)
            ka, kc = p.act[kept].astype(np.int64), lane[kept]
            ks = np.zeros(len(kept), dtype=bool)
            ks[1:] = kc[1:] == kc[:-1]
            prev_ctx, nxt_ctx = prev.copy(), nxt.copy()
            prev_ctx[kept] = np.concatenate([[-1], np.where(ks[1:], ka[:-1], -1)])
            nxt_ctx[kept] = np.concatenate([np.where(ks[1:], ka[1:], -1), [-1]])
            if len(heads[0]):
                # a tail's first kept step goes on from its point, not from "(start)" (its part
                # of the path is its own); a removed point lets no case leave, so its tail never
                # runs and needs no step to go on from
                tail_of = np.full(n, -1, dtype=np.int64)
                tail_of[heads[1]] = np.arange(len(heads[1]))
                firsts = kept[~ks]
                t = tail_of[lane[firsts]]
                prev_ctx[firsts[t >= 0]] = p.act[heads[0]][t[t >= 0]]
        for ai, name in enumerate(self.acts):
            m = by_act[bounds[ai] : bounds[ai + 1]]  # the activity's steps (draws are elementwise)
            if not len(m):
                continue
            spec = model.activities[name]
            dur[m] = draw(spec["duration"], u_dur[m])
            if "delay" in spec:
                delay[m] = draw(spec["delay"], u_del[m])
            contexts = spec.get("delay_context") or []
            if contexts:
                pm, nm, om = prev_ctx[m], nxt_ctx[m], self.hist_occ[m]
            for ctx in contexts:
                sel = np.ones(len(m), dtype=bool)
                if "after" in ctx:
                    sel &= pm == (-1 if ctx["after"] == START else index.get(ctx["after"], -2))
                if "before" in ctx:
                    sel &= nm == (-1 if ctx["before"] == END else index.get(ctx["before"], -2))
                if "occurrence" in ctx:
                    o = str(ctx["occurrence"])
                    sel &= om >= 3 if o == "3+" else om == int(o)
                mm = m[sel]
                if len(mm):
                    delay[mm] = draw(ctx["delay"], u_del[mm])
            if spec.get("pools"):
                pool_of[m] = _by_shares(spec["pools"], u_pool[m], pidx)
            # after some steps only some of its pools do it (methods §16.2): the same uniform,
            # drawn over the pools of the step it follows on the drawn path, a scenario's removes
            # aside (who does a step is the case's routing, not the steps recorded before it)
            for after, sub in (spec.get("pools_after") or {}).items():
                mm = m[prev[m] == (-1 if after == START else index.get(after, -2))]
                if len(mm):
                    pool_of[mm] = _by_shares(sub, u_pool[mm], pidx)
        # anchored waits (methods §16.2): the step is ready at the later of its enablement and
        # its anchor's end plus a delay drawn for the number of steps between them in the
        # drawn path (skipped ones too, so a scenario draws the same delay: §16.5)
        anchor_of = np.full(n, -1, dtype=np.int64)
        anchor_delay = np.zeros(n)
        for ai, name in enumerate(self.acts):
            anc = model.activities[name].get("anchor")
            m = by_act[bounds[ai] : bounds[ai + 1]]
            if not anc or not len(m) or anc["activity"] not in index:
                continue
            la = self._last_before(p.act == index[anc["activity"]])[m]
            lx = self._last_before(p.act == ai)[m]
            ok = (la >= 0) & (la > lx)
            mm, la = m[ok], la[ok]
            # the steps between them in the case's history (in a tail: the served path's after
            # the anchor up to the point, then the tail's)
            own = self.part_first[mm]
            between = np.where(la >= own, mm - la - 1, self.owner[mm] - la + mm - own)
            froms = np.asarray([int(r["from"]) for r in anc["between"]], dtype=np.int64)
            which = np.maximum(np.searchsorted(froms, between, side="right") - 1, 0)
            for j, r in enumerate(anc["between"]):
                sel = mm[which == j]
                if len(sel):
                    anchor_delay[sel] = draw(r["delay"], u_del[sel])
            anchor_of[mm] = la
            delay[mm] = 0.0
        # scenario edits (methods §17.1): every draw above is made as without them, so an edit
        # changes a case only through what it does
        follows = np.full(n, -1, dtype=np.int64)  # merged: done right after this instance
        edits = ("duration_factor", "delay_factor", "merged_after", "continues_after")
        for ai, name in enumerate(self.acts):
            spec = model.activities[name]
            m = by_act[bounds[ai] : bounds[ai + 1]]
            if not len(m) or not any(e in spec for e in edits):
                continue
            dur[m] *= float(spec.get("duration_factor", 1.0))
            delay[m] *= float(spec.get("delay_factor", 1.0))
            anchor_delay[m] *= float(spec.get("delay_factor", 1.0))
            # a fitted continuation (the log's person goes straight on, §16.2) and a scenario's
            # merge are done alike: by the previous step's person, at its end
            firsts = [
                *spec.get("continues_after", ()),
                *([spec["merged_after"]] if "merged_after" in spec else []),
            ]
            if firsts:
                mm = m[np.isin(prev[m], [index.get(a, -2) for a in firsts])]
                follows[mm] = mm - 1
                delay[mm] = 0.0
                anchor_of[mm] = -1
        if skip.any():
            # a step that goes on from a removed one, with no person to pass it on (the removed
            # step would have queued), is done by the pool its run of continuations starts in,
            # as without the remove: who does a step is the case's routing, not the steps
            # recorded before it (a transferred call's specialist still handles the request when
            # the re-explanation and the re-check before it go)
            # (a run starts again after a step that needs nobody: an automated step passes
            # nothing on, its follower queues in the pool it would have been drawn for)
            cont = follows >= 0
            cont[cont] = pool_of[follows[cont]] >= 0
            head = np.maximum.accumulate(np.where(cont, 0, np.arange(n)))
            moved = np.flatnonzero(cont & ~skip)
            moved = moved[skip[follows[moved]] & (pool_of[head[moved]] >= 0)]
            pool_of[moved] = pool_of[head[moved]]
        dur[skip] = 0.0
        delay[skip] = 0.0
        anchor_of[skip] = -1
        # a tail starts when the case leaves: its waiting was the patience
        delay[heads[1]] = 0.0
        anchor_of[heads[1]] = -1
        self._patience(seed)
        # a recorded queue step lasts the case's wait for its served step, which the queue
        # decides during the run (its end is set in :meth:`frame` or when the case leaves)
        dur[sorted(self.waits_in)] = 0.0
        self.anchor_of = anchor_of.tolist()
        self.anchor_delay = anchor_delay.tolist()
        self.anchored = bool((anchor_of >= 0).any())
        # the steps between an anchor and its anchored step are not done once the anchored
        # step's own time has come (an interrupting event: the reminders stop when the customer
        # answers; methods §16.4), so they never hold it back; only those in its own part of
        # the path (an anchored step in a tail stops none of the served path's: the case may
        # never leave, and had done them before leaving)
        guard = np.full(n, -1, dtype=np.int64)
        xs = np.flatnonzero(anchor_of >= 0)
        lo = np.maximum(anchor_of[xs] + 1, self.part_first[xs])
        gaps = xs - lo
        if gaps.sum():
            first_between = np.repeat(lo, gaps)
            offset = np.arange(int(gaps.sum())) - np.repeat(np.cumsum(gaps) - gaps, gaps)
            guard[first_between + offset] = np.repeat(xs, gaps)
        self.guard = guard.tolist()
        self.dropped = np.zeros(n, dtype=bool)
        pool_of[skip] = -1
        self.skip = skip
        self.follows = follows
        merged = np.flatnonzero(follows >= 0)
        self.merged_next: dict[int, int] = dict(zip(follows[merged].tolist(), merged.tolist(), strict=True))
        self.dur, self.delay = dur.tolist(), delay.tolist()
        self.model_pool = pool_of
        self.u_member = uniforms(seed, "members", p.case, p.act, p.occ)

    def _history(self) -> None:
        """Where each instance's history lies (methods §16.4): ``part_first``, the first
        instance of its part of the path (its case's first on the served path, its tail's
        first in a tail), ``owner``, the point instance whose tail it is in (-1 on the
        served path), and ``hist_occ``, its occurrence in that history (what a scenario's
        ``occurrence`` and a delay context read; the draws stay keyed by ``paths.occ``, counted
        over the whole case, §16.5). A tail's history is the served path up to its point, then
        the tail."""
        p = self.paths
        n = len(p.act)
        self.owner = np.full(n, -1, dtype=np.int64)
        self.hist_occ = p.occ
        case_first = p.offsets[:-1][self.case_row] if n else np.zeros(0, dtype=np.int64)
        if p.part_start is None:
            self.part_first = case_first
            return
        self.part_first = p.part_start.astype(np.int64)
        pts, lo = self._tail_heads()
        lengths = p.tail_hi[pts] - lo
        at = np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))
        self.owner[at] = np.repeat(pts, lengths)
        # a tail step's occurrence: the served path's instances of its activity up to the point
        # and the tail's up to it (the served path comes first in the case's numbering)
        occ = p.occ.astype(np.int64)
        hist = occ.copy()
        rows = np.arange(n, dtype=np.int64)
        for a in np.unique(p.act[at]).tolist():
            t = at[p.act[at] == a]
            upto = np.maximum.accumulate(np.where(p.act == a, rows, -1))
            served = upto[self.owner[t]]
            before = upto[self.part_first[t] - 1]
            hist[t] = (
                np.where(served >= case_first[t], occ[served], 0)
                + occ[t]
                - np.where(before >= case_first[t], occ[before], 0)
            )
        self.hist_occ = hist.astype(p.occ.dtype)

    def _last_before(self, mask: np.ndarray) -> np.ndarray:
        """Per instance, the last instance with ``mask`` before it in its case's history (-1:
        none; :meth:`_history`): a tail's steps see the served path up to their point, not the
        served steps after it (not done when the case leaves) nor another point's tail."""
        n = len(mask)
        rows = np.arange(n, dtype=np.int64)
        upto = np.maximum.accumulate(np.where(mask, rows, -1)) if n else rows
        before = np.concatenate([[-1], upto[:-1]]) if n else upto
        out = np.where(before >= self.part_first, before, -1)
        t = np.flatnonzero(self.owner >= 0)
        if len(t):
            at_point = upto[self.owner[t]]
            case_first = self.paths.offsets[:-1][self.case_row[t]]
            out[t] = np.where(out[t] >= 0, out[t], np.where(at_point >= case_first, at_point, -1))
        return out

    def _tail_heads(self) -> tuple[np.ndarray, np.ndarray]:
        """The point instances whose tail has steps, and the first step of each tail."""
        p = self.paths
        if p.tail_lo is None or p.tail_hi is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        pts = np.flatnonzero(p.tail_hi > p.tail_lo)
        return pts, p.tail_lo[pts]

    def _patience(self, seed: int) -> None:
        """Each abandonment point instance's patience, drawn with the other draws (keyed by
        case, activity and occurrence), and the step it waits for: the next one on its case's
        served path when the point's ``served`` steps name it (methods §16.4). ``wait_for``
        maps that step to its point."""
        p, model = self.paths, self.model
        self.patience: dict[int, float] = {}
        self.wait_for: dict[int, int] = {}
        #: per point instance, the end (exclusive) of the part of the path it is in
        self.rest_end: dict[int, int] = {}
        #: the instances of points that record the wait (``waits_in_point``) with a step after
        #: them in their part of the path: their end is that step's start (the served step's,
        #: or in a tail, where leaving was drawn before the clock, the way on's), or the moment
        #: the case leaves
        self.waits_in: set[int] = set()
        if p.tail_lo is None or p.part_start is None:
            return
        recorded = [
            i
            for i, a in enumerate(self.acts)
            if (model.activities[a].get("abandonment") or {}).get("waits_in_point")
        ]
        ws = np.flatnonzero(np.isin(p.act[:-1], recorded))
        self.waits_in = set(ws[p.part_start[ws + 1] == p.part_start[ws]].tolist())
        js = np.flatnonzero(p.tail_lo >= 0)
        if not len(js):
            return
        u = uniforms(seed, "patience", p.case[js], p.act[js], p.occ[js])
        pat = np.full(len(js), np.inf)
        nxt_ok = np.zeros(len(js), dtype=bool)
        inside = (js + 1 < len(p.act)) & (
            p.part_start[np.minimum(js + 1, len(p.act) - 1)] == p.part_start[js]
        )
        for ai in np.unique(p.act[js]).tolist():
            spec = model.activities[self.acts[ai]]["abandonment"]
            m = p.act[js] == ai
            reach = 1.0 - float(spec.get("patient_share", 0.0))
            # the patient share never leaves; the rest by the fitted curve
            sel = m & (u < reach)
            pat[sel] = draw(spec["patience"], u[sel] / reach) if reach > 0 else np.inf
            served = [self.acts.index(a) for a in spec.get("served", []) if a in self.acts]
            after = p.act[np.minimum(js + 1, len(p.act) - 1)]
            nxt_ok |= m & inside & np.isin(after, served)
        keep = nxt_ok & np.isfinite(pat)
        self.patience = dict(zip(js[keep].tolist(), pat[keep].tolist(), strict=True))
        self.wait_for = dict(zip((js[keep] + 1).tolist(), js[keep].tolist(), strict=True))
        n = len(p.act)
        bounds = np.flatnonzero(np.concatenate([p.part_start[1:] != p.part_start[:-1], [True]])) + 1
        ends = bounds[np.searchsorted(bounds, js[keep], side="right")] if n else js[keep]
        self.rest_end = dict(zip(js[keep].tolist(), ends.tolist(), strict=True))

    def _skipped(self, by_act: np.ndarray, bounds: np.ndarray, index: dict[str, int]) -> np.ndarray:
        """Which instances a scenario's ``remove`` skips (methods §17.1): per step, those matching
        any of its rules (``skip_rules``; the legacy ``skip`` / ``skip_after`` / ``skip_where`` is
        one rule), a rule matching on all of its fields: the occurrence, ``after`` (the step's
        first instance after that step: it was done earlier in the case, and this step not since)
        and ``where`` (the case's attributes)."""
        p, model = self.paths, self.model
        skip = np.zeros(len(p.act), dtype=bool)
        last_of: dict[int, np.ndarray] = {}

        def last_before(a: int) -> np.ndarray:
            # the position of the case's last instance of activity a before each instance
            if a not in last_of:
                last_of[a] = self._last_before(p.act == a)
            return last_of[a]

        for ai, name in enumerate(self.acts):
            spec = model.activities[name]
            m = by_act[bounds[ai] : bounds[ai + 1]]
            rules = list(spec.get("skip_rules") or [])
            if spec.get("skip"):
                legacy: dict[str, Any] = {}
                if isinstance(spec["skip"], list):
                    legacy["occurrence"] = spec["skip"]
                if "skip_after" in spec:
                    legacy["after"] = spec["skip_after"]
                if "skip_where" in spec:
                    legacy["where"] = spec["skip_where"]
                rules.append(legacy)
            if not len(m) or not rules:
                continue
            for rule in rules:
                sel = m
                if "occurrence" in rule:
                    sel = sel[np.isin(self.hist_occ[sel], rule["occurrence"])]
                if "after" in rule:
                    x = index.get(rule["after"], -2)
                    lx = last_before(x)[sel] if x >= 0 else np.full(len(sel), -1)
                    sel = sel[(lx >= 0) & (lx >= last_before(ai)[sel])]
                if "where" in rule:
                    match = _matching(self.attrs, rule["where"], f"activities.{name}.skip_rules.where")
                    sel = sel[match[self.case_row[sel]]]
                skip[sel] = True
        return skip

    def _resources(self) -> None:
        model = self.model
        cals = _calendars(model)
        t_first = float(self.arrivals.min()) if len(self.arrivals) else 0.0
        clocks: dict[str, _Clock] = {}
        self.member_names: list[str] = []
        self.member_clock: list[_Clock] = []
        self.member_pos: list[int] = []  # a member's position in its pool
        self.pools: list[_Pool] = []
        self.pool_clock: list[_Clock] = []
        # A pool's queue is shared (the member idle longest takes the head) or, with
        # "assignment": "person", each step is given to one member up front (by the members'
        # shares) and waits for that person: a queue per member (methods §16.2).
        sub_of: list[tuple[int, np.ndarray | None]] = []
        self.sub_of = sub_of
        for name in self.pool_names:
            spec = model.pools[name]
            cname = spec.get("calendar", "24x7")
            if cname not in clocks:
                clocks[cname] = _Clock(cals.get(cname), t_first)
            ids = []
            for m in spec["members"]:
                ids.append(len(self.member_names))
                self.member_names.append(m)
                self.member_clock.append(clocks[cname])
            first = len(self.pools)
            # every member of a pool works on the pool's calendar: the clock is asked once
            # per dispatch, and the free members wait in a heap ordered as a scan of the
            # members would pick them (idle longest first, then the pool's order)
            if spec.get("assignment", "queue") == "person":
                w = np.asarray([float(spec.get("shares", {}).get(m, 1.0)) for m in spec["members"]])
                cum = np.cumsum(w) / w.sum()
                cum[-1] = 1.0
                sub_of.append((first, cum))
                groups = [[mi] for mi in ids]
            else:
                sub_of.append((first, None))
                groups = [ids]
            own = spec.get("member_calendars", {})
            for g in groups:
                pool = _Pool(g, clock=clocks[cname])
                free = [(t_first, pos, mi) for pos, mi in enumerate(g)]
                shift = [own.get(self.member_names[mi], cname) for mi in g]
                if own and set(shift) != {cname}:
                    # members take work in their shift's hours; the work runs in the pool's
                    for c in dict.fromkeys(shift):
                        if c not in clocks:
                            clocks[c] = _Clock(cals.get(c), t_first)
                        pool.shifts.append(
                            (clocks[c], [f for f, s in zip(free, shift, strict=True) if s == c])
                        )
                else:
                    pool.idle = free
                self.pools.append(pool)
                self.pool_clock.append(clocks[cname])
                self.member_pos.extend(range(len(g)))
        mp = self.model_pool
        pool_of = np.full(len(mp), -1, dtype=np.int64)
        for k, (first, cum) in enumerate(sub_of):
            m = mp == k
            if not m.any():
                continue
            if cum is None:
                pool_of[m] = first
            else:
                pick = np.minimum(np.searchsorted(cum, self.u_member[m], side="right"), len(cum) - 1)
                pool_of[m] = first + pick
        self.pool_of = pool_of.tolist()
        # steps that need nobody still happen only in their hours, when the model gives any,
        # and their waiting runs in those hours or in the hours the waits end in (16.2)
        self.step_clock: list[_Clock | None] = []
        wait_clock: list[_Clock | None] = []
        for a in self.acts:
            spec = model.activities[a]
            for out, cname in (
                (self.step_clock, spec.get("calendar", "24x7")),
                (wait_clock, spec.get("delay_calendar", spec.get("calendar", "24x7"))),
            ):
                if cname != "24x7" and cname not in clocks:
                    clocks[cname] = _Clock(cals.get(cname), t_first)
                out.append(None if cname == "24x7" else clocks[cname])
        # the clock a step's delay runs on (its pool's or its own; None: plain seconds)
        working = [None if c is None or c.always else c for c in [*self.pool_clock, *wait_clock]]
        own = len(self.pool_clock) + self.paths.act.astype(np.int64)
        self.delay_clock = np.asarray(working, dtype=object)[np.where(pool_of >= 0, pool_of, own)].tolist()
        self.home = [0] * len(self.member_names)  # the (sub-)pool a member is free in
        #: the heap a member waits in when free: their (sub-)pool's, or their shift's
        self.idle_of: list[list[tuple[float, int, int]]] = [[] for _ in self.member_names]
        for pi, pool in enumerate(self.pools):
            for mi in pool.members:
                self.home[mi] = pi
                self.idle_of[mi] = pool.idle
            for _, free in pool.shifts:
                for _, _, mi in free:
                    self.idle_of[mi] = free
        prio = np.zeros(len(self.case_ids))
        if model.priority and self.attrs is not None:
            order = model.priority["order"]
            col = self.attrs[model.priority["attribute"]].astype(object).tolist()
            prio = -np.asarray([float(order.get(str(v), 0)) for v in col])
        #: each case's priority class (lower is served first)
        self.prio = prio
        self.batch_rule = {self.acts.index(a): b for a, b in (model.batching or {}).items()}

    def _other_work(self, seed: int) -> None:
        """The other-work jobs of the pools that have a stream (methods §16.4): appended after
        the case instances (``n_inst``) with no case, no successor and no delay, each in the
        (sub-)pool that serves it; ``job_x``/``job_t`` are their indexes and arrival times.

        Their draws are keyed by (seed, other_work, pool name, job number): the same in a
        baseline and in every scenario, whatever the scenario does to the cases. Jobs are
        numbered from the first measured case's arrival (0, 1, ... forward; -1, -2, ...
        backward over the warm-up), so a scenario that moves the warm-up's first arrival or
        the last one keeps the same jobs where both runs have them."""
        self.n_inst = len(self.act)
        self.job_x = np.zeros(0, dtype=np.int64)
        self.job_t = np.zeros(0)
        specs = [
            (k, name, self.model.pools[name]["other_work"])
            for k, name in enumerate(self.pool_names)
            if self.model.pools[name].get("other_work") and self.model.pools[name]["members"]
        ]
        if not specs or not len(self.arrivals):
            return
        measured = np.flatnonzero(self.case_ids >= 0)
        origin = float(self.arrivals[measured[0]]) if len(measured) else float(self.arrivals.min())
        t0, t_last = float(self.arrivals.min()), float(self.arrivals.max())
        # far enough past the last arrival for its case to end (the run stops when every case
        # step has ended, so the jobs after that cost only their draw)
        t1 = t_last + max(OTHER_WORK_TAIL_S, 2.0 * (t_last - t0))
        ts, pools, durs = [], [], []
        for k, name, spec in specs:
            key = zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF
            times, ids = _job_times(spec, self.tz, origin, t0, t1, seed, key)
            if not len(times):
                continue
            dur = draw(spec["duration"], uniforms(seed, "other_work", key, ids, 1))
            first, cum = self.sub_of[k]
            if cum is None:
                where = np.full(len(times), first, dtype=np.int64)
            else:
                # work given to one person up front: a member by their share of the other work
                members = self.model.pools[name]["members"]
                w = np.asarray([float(spec.get("shares", {}).get(m, 0.0)) for m in members])
                w = w if w.sum() > 0 else np.ones(len(members))
                c = np.cumsum(w) / w.sum()
                c[-1] = 1.0
                u = uniforms(seed, "other_work", key, ids, 2)
                where = first + np.minimum(np.searchsorted(c, u, side="right"), len(c) - 1)
            ts.append(times)
            pools.append(where)
            durs.append(dur)
        if not ts:
            return
        t = np.concatenate(ts)
        m = len(t)
        n = self.n_inst
        self.job_t = t
        self.job_x = np.arange(n, n + m, dtype=np.int64)
        self.act.extend([-1] * m)
        self.pending.extend([0] * m)
        self.nxt.extend([-1] * m)
        self.pool_of.extend(np.concatenate(pools).tolist())
        self.dur.extend(np.concatenate(durs).tolist())
        self.delay.extend([0.0] * m)
        self.anchor_of.extend([-1] * m)
        self.guard.extend([-1] * m)
        self.delay_clock.extend([None] * m)

    def _queue_keys(self) -> None:
        """Each instance's class in its pool's queue, served lowest first and first come, first
        served within (methods §16.4): the step's ``priority`` (higher first) and then, among
        steps of one priority, the case's priority class; one dense rank per instance, so a
        queue entry stays (class, ready time, instance) and costs no more than a plain one.

        Other-work jobs are in step priority 0 and the most urgent case class: the log's times
        say when that work was done, not when it could wait; a step fitted to be served only
        when its pool is otherwise idle (priority < 0) still waits for them."""
        steps = -np.asarray([int(self.model.activities[a].get("priority", 0)) for a in self.acts] or [0])
        act = np.asarray(self.act, dtype=np.int64)
        job = act < 0
        step_key = np.where(job, 0, steps[np.where(job, 0, act)])
        case_key = np.zeros(len(act))
        if len(self.prio):
            case_key[~job] = self.prio[self.case_np]
            case_key[job] = self.prio.min()
        _, rank = np.unique(np.stack([step_key, case_key], axis=1), axis=0, return_inverse=True)
        self.qkey: list[int] = rank.reshape(-1).tolist()

    def _structure(self) -> None:
        """Which earlier steps each step waits for (methods 6.1: those of its case it is not
        concurrent with; a wait implied by another one is dropped).

        A step waits for the one before it when neither activity is concurrent with any
        other (most steps): that part is laid out with numpy; the rest scans the case. Each
        step's successors are ``nxt[i]`` (the first) and ``more[i]`` (the others, in order).
        """
        acts = self.acts
        conc: set[tuple[int, int]] = set()
        for a, b in self.model.control_flow.get("concurrent", []):
            ia, ib = acts.index(a), acts.index(b)
            conc |= {(ia, ib), (ib, ia)}
        has_conc = np.zeros(len(acts) + 1, dtype=bool)
        for ia, _ in conc:
            has_conc[ia] = True
        act_np = self.paths.act
        off_np = self.paths.offsets
        n = len(act_np)
        case_np = np.repeat(np.arange(len(self.case_ids)), np.diff(off_np))
        act = act_np.tolist()
        self.act = act
        self.case_np = case_np
        self.case_of = case_np.tolist()
        heads = off_np[:-1][np.diff(off_np) > 0]  # each non-empty case's first step
        later = np.ones(n, dtype=bool)
        later[heads] = False
        # a tail's first step is enabled by its case leaving, by nothing before it
        later[self._tail_heads()[1]] = False
        part_start = self.paths.part_start
        hc = has_conc[act_np]
        simple = later.copy()
        simple[1:] &= ~hc[1:] & ~hc[:-1]
        pending_np = simple.astype(np.int64)
        nxt_np = np.full(n, -1, dtype=np.int64)
        idx = np.flatnonzero(simple)
        nxt_np[idx - 1] = idx
        pending = pending_np.tolist()
        nxt = nxt_np.tolist()
        more: dict[int, list[int]] = {}
        first = heads.tolist()
        if conc:
            off = off_np.tolist()
            extra_first: list[int] = []
            partners: list[set[int]] = [set() for _ in range(len(acts))]
            for ia, ib in conc:
                partners[ia].add(ib)
            for i in np.flatnonzero(later & ~simple).tolist():
                with_i = partners[act[i]]
                lo = off[self.case_of[i]] if part_start is None else int(part_start[i])
                preds: list[int] = []
                # j is implied when a kept predecessor k itself waits for j, i.e. unless j's
                # activity is concurrent with every kept one (in all their partner sets)
                allowed: set[int] | None = None
                for j in range(i - 1, lo - 1, -1):
                    aj = act[j]
                    if aj in with_i or (allowed is not None and aj not in allowed):
                        continue
                    preds.append(j)
                    allowed = partners[aj] if allowed is None else allowed & partners[aj]
                    if not allowed:
                        break  # every earlier step is implied
                pending[i] = len(preds)
                if not preds:
                    extra_first.append(i)
                for j in preds:
                    if nxt[j] < 0:
                        nxt[j] = i
                    else:
                        more.setdefault(j, []).append(i)
            if extra_first:
                first = sorted(first + extra_first)
        self.first = first
        self.pending, self.nxt, self.more = pending, nxt, more

    # -- the clock -------------------------------------------------------------------------
    def run(self) -> None:
        n = len(self.act)
        self.start = [0.0] * n
        self.end = [0.0] * n
        self.enabled = [0.0] * n
        self.who = [-1] * n
        self.heap: list[tuple[float, int, int, int]] = []
        # The steps ready from the start (one per case, mostly) are known in advance: they
        # stay in a sorted list merged with the heap in (time, sequence) order, so the heap
        # holds only what is in flight and stays small. Sequence numbers are as if they had
        # been pushed first, in step order.
        case_first = np.repeat(self.arrivals, np.diff(self.paths.offsets)).tolist()
        ready_at, enabled = self._ready_at, self.enabled
        t_ready: list[float] = []
        for i in self.first:
            enabled[i] = case_first[i]
            t_ready.append(ready_at(i, case_first[i]))
        t_np = np.asarray(t_ready, dtype=float)
        first_x = np.asarray(self.first, dtype=np.int64)
        jobs = len(self.job_x) > 0
        if jobs:  # other work arrives as steps ready from the start do (after them at a tie)
            t_np = np.concatenate([t_np, self.job_t])
            first_x = np.concatenate([first_x, self.job_x])
        order = np.argsort(t_np, kind="stable")
        init_x = first_x[order].tolist()
        init_key = list(zip(t_np[order].tolist(), order.tolist(), strict=True))  # (time, sequence)
        self._seq = itertools.count(len(first_x)).__next__
        n_inst, left = self.n_inst, self.n_inst
        self.batches: dict[int, list[int]] = {}
        self.batch_deadline: dict[int, float] = {}
        heap, pop, push, seq = self.heap, heapq.heappop, heapq.heappush, self._seq
        nxt, more, pending, skip = self.nxt, self.more, self.pending, self.skip.tolist()
        if jobs:
            skip += [False] * len(self.job_x)
        pool_of, who, pools, member_pos, home = self.pool_of, self.who, self.pools, self.member_pos, self.home
        idle_of = self.idle_of
        merged_next, member_clock, delay_clock = self.merged_next, self.member_clock, self.delay_clock
        batched = bool(self.batch_rule)
        act, dur, qkey, step_clock = self.act, self.dur, self.qkey, self.step_clock
        start, end, delay = self.start, self.end, self.delay
        anchored, anchor_of, guard = self.anchored, self.anchor_of, self.guard
        # abandonment (methods §16.4): ``gone`` steps are not done (a tail not taken, the
        # served path of a case that left); a point's patience runs from its start
        patience, wait_for = self.patience, self.wait_for
        abandons = bool(wait_for)
        gone_np = np.zeros(len(act), dtype=bool)
        leaves_in_point: set[int] = set()
        if abandons:
            p0 = self.paths
            gone_np[: len(p0.act)] = p0.part_start != p0.offsets[:-1][self.case_np]  # the tails
            left -= int(gone_np.sum())  # a tail's steps end only if its case leaves
        gone = self.gone = gone_np.tolist()
        k, n_init = 0, len(init_key)
        while True:
            if k < n_init:
                if heap and heap[0] < init_key[k]:  # sequence numbers are unique: no tie
                    now, _, kind, x = pop(heap)
                else:
                    now, kind, x = init_key[k][0], _READY, init_x[k]
                    k += 1
            elif heap:
                now, _, kind, x = pop(heap)
            else:
                break
            if kind == _READY:  # as _enqueue, inline
                if abandons and gone[x]:
                    continue
                cut = anchored and guard[x] >= 0 and now >= self._anchor_due(guard[x])
                if cut:  # interrupted by its anchored step: not done, as if removed
                    self.dropped[x] = True
                if skip[x] or cut:  # removed: what follows is enabled when this would have been
                    start[x] = end[x] = now
                    push(heap, (now, seq(), _END, x))
                    continue
                if batched and act[x] in self.batch_rule:
                    self._batch(x, now)
                    continue
                p = pool_of[x]
                if p < 0:  # nobody is needed: no queue; the step's own hours, if any
                    ck = step_clock[act[x]]
                    if ck is not None:
                        now = ck.next_open(now)
                        e = ck.add(now, dur[x])
                    else:
                        e = now + dur[x]
                    if abandons and x in patience:
                        due = now + patience[x]
                        if due < e:  # a recorded wait the case gives up during
                            e = due
                            leaves_in_point.add(x)
                        else:
                            push(heap, (due, seq(), _PATIENCE, x + 1))
                    start[x] = now
                    end[x] = e
                    push(heap, (e, seq(), _END, x))
                    continue
                pool = pools[p]
                q, idle = pool.queue, pool.idle
                if idle and not q:
                    ck = pool.clock
                    if ck.always or ck.open_at(now):  # as _dispatch: straight to a member
                        who[x] = pop(idle)[2]
                        start[x] = now
                        e = ck.add(now, dur[x])
                        end[x] = e
                        push(heap, (e, seq(), _END, x))
                        continue
                push(q, (qkey[x], now, x))
                if idle or pool.shifts:
                    self._dispatch(p, now)
            elif kind == _END:
                if abandons and x in leaves_in_point:  # its tail's steps are still to end
                    left += self._leave(x, now)
                if jobs and x < n_inst:
                    left -= 1
                    if not left:
                        break  # every case's step has ended: later other work changes nothing
                if abandons and x in leaves_in_point:
                    continue
                mi = who[x]
                f = merged_next.get(x, -1) if mi >= 0 and merged_next else -1
                if abandons and f >= 0 and gone[f]:
                    f = -1  # its case left before the follower started: not done, the person is free
                s = nxt[x]
                if s >= 0:
                    pending[s] -= 1
                    if pending[s] == 0 and s != f:
                        enabled[s] = now
                        d = delay[s]  # as _ready_at, inline
                        if d > 0:
                            ck = delay_clock[s]
                            t = now + d if ck is None else ck.add(now, d)
                        else:
                            t = now
                        if anchored and anchor_of[s] >= 0:
                            t = self._anchored_at(s, t)
                        if anchored and guard[s] >= 0:
                            t = self._cut_at(s, now, t)
                        push(heap, (t, seq(), _READY, s))
                    if more and x in more:
                        for s in more[x]:
                            pending[s] -= 1
                            if pending[s] == 0 and s != f:
                                enabled[s] = now
                                push(heap, (ready_at(s, now), seq(), _READY, s))
                if f >= 0 and pending[f] == 0:
                    enabled[f] = now
                    # merged: the same person goes straight on with the next step; a removed
                    # one takes no time and they go on with what continues it (its end passes
                    # them on), as the agent of a call goes on when a check is dropped
                    who[f] = mi
                    start[f] = now
                    e = now if skip[f] else member_clock[mi].add(now, dur[f])
                    end[f] = e
                    push(heap, (e, seq(), _END, f))
                elif f >= 0:
                    # the follower still waits for another step: the person does not wait with it
                    f = -1
                if mi >= 0 and f < 0:
                    # the member's own pool (a merged follower may need nobody: no pool of its own)
                    p = home[mi]
                    push(idle_of[mi], (now, member_pos[mi], mi))
                    if pools[p].queue:
                        self._dispatch(p, now)
            elif kind == _WAKE:
                pool = pools[x]
                if now >= pool.wake_at:
                    pool.wake_at = float("inf")
                self._dispatch(x, now)
            elif kind == _RELEASE:
                if self.batches.get(x) and self.batch_deadline.get(x) == now:
                    self._release(x, now)
            elif start[x] == 0.0 and not gone[x]:  # _PATIENCE: not started, so the case leaves
                if batched and x in self.batches.get(act[x], ()):
                    continue  # a step in a batch does not leave: the batch counts it (§16.4)
                left += self._leave(wait_for[x], now)
                if jobs and not left:
                    break

    def _leave(self, j: int, now: float) -> int:
        """The case leaves at abandonment point instance ``j`` (methods §16.4): the rest of its
        served path is not done, and its tail for ``j`` starts now (none: the case ends).
        Returns the change in the number of case steps still to end (their ends counted down
        stop the run early when the pools have other work)."""
        p, gone, start = self.paths, self.gone, self.start
        if j in self.waits_in:  # the recorded wait ends as the case leaves
            self.end[j] = now
        lo, hi = j + 1, self.rest_end[j]
        # the served path's steps not started are not done; one already started alongside
        # the awaited step (a concurrent branch) was done by its staff and stays in the log
        stop = [i for i in range(lo, hi) if start[i] == 0.0 and not gone[i]]
        change = -len(stop)
        for i in stop:
            gone[i] = True
        t_lo, t_hi = int(p.tail_lo[j]), int(p.tail_hi[j])
        gone[t_lo:t_hi] = [False] * (t_hi - t_lo)
        change += t_hi - t_lo
        if t_hi == t_lo:
            return change
        self.enabled[t_lo] = now
        if self.pool_of[t_lo] < 0 and not self.skip[t_lo]:
            # the leaving itself (a hang-up): at that moment, whatever the step's usual hours
            self.start[t_lo] = now
            self.end[t_lo] = now + self.dur[t_lo]
            self._push(self.end[t_lo], _END, t_lo)
        else:
            self._push(self._ready_at(t_lo, now), _READY, t_lo)
        return change

    def _ready_at(self, i: int, enabled: float) -> float:
        """Enabled plus the step's delay, in the working time of the calendar that governs
        the step (its pool's or its own; methods §16.2)."""
        d = self.delay[i]
        if d <= 0:
            t = enabled
        else:
            ck = self.delay_clock[i]
            t = enabled + d if ck is None else ck.add(enabled, d)
        if not self.anchored:
            return t
        if self.anchor_of[i] >= 0:
            t = self._anchored_at(i, t)
        return self._cut_at(i, enabled, t) if self.guard[i] >= 0 else t

    def _cut_at(self, i: int, enabled: float, t: float) -> float:
        """When step ``i`` (between an anchor and its anchored step) would be ready at ``t``:
        ``t``, or, if the anchored step is due first, that moment (``i`` is then not done)."""
        due = self._anchor_due(self.guard[i])
        return t if t < due else max(enabled, due)

    def _anchored_at(self, i: int, t: float) -> float:
        """The later of ``t`` and :meth:`_anchor_due` of step ``i`` (methods §16.2)."""
        ta = self._anchor_due(i)
        return ta if ta < math.inf and ta > t else t

    def _anchor_due(self, i: int) -> float:
        """The end of step ``i``'s anchor plus its anchored delay, in the working time of the
        calendar that governs ``i``; infinity while the anchor has not ended (a concurrent one)."""
        e = self.end[self.anchor_of[i]]
        if e <= 0.0:
            return math.inf
        d = self.anchor_delay[i]
        ck = self.delay_clock[i]
        return e + d if ck is None else ck.add(e, d)

    def _push(self, t: float, kind: int, x: int) -> None:
        heapq.heappush(self.heap, (t, self._seq(), kind, x))

    def _enqueue(self, i: int, now: float) -> None:
        if self.gone[i]:
            return
        p = self.pool_of[i]
        cut = self.anchored and self.guard[i] >= 0 and now >= self._anchor_due(self.guard[i])
        if cut:  # interrupted by its anchored step: not done, as if removed
            self.dropped[i] = True
        if self.skip[i] or cut:  # removed: what follows is enabled when this would have been
            self.start[i] = self.end[i] = now
            self._push(now, _END, i)
            return
        if p < 0:  # nobody is needed: no queue; the step's own hours, if any
            ck = self.step_clock[self.act[i]]
            if ck is not None:
                now = ck.next_open(now)
                e = ck.add(now, self.dur[i])
            else:
                e = now + self.dur[i]
            self.start[i] = now
            self.end[i] = e
            self._push(e, _END, i)
            return
        heapq.heappush(self.pools[p].queue, (self.qkey[i], now, i))
        self._dispatch(p, now)

    def _dispatch(self, p: int, now: float) -> None:
        """Free members of pool ``p`` take the head of its queue, the member idle longest
        first (then in the pool's order), while the pool's calendar is open; when it is
        closed, the pool wakes at its next opening."""
        pool = self.pools[p]
        q, idle = pool.queue, pool.idle
        # a pool of shifts keeps its free members per shift, not in ``idle``
        if not q or not (pool.shifts or idle):
            return
        ck = pool.clock
        if not (ck.always or ck.open_at(now)):
            wake = ck.next_open(now)
            if wake < pool.wake_at:
                pool.wake_at = wake
                self._push(wake, _WAKE, p)
            return
        if pool.shifts:
            self._dispatch_shifts(p, now)
            return
        pop, push, heap, seq = heapq.heappop, heapq.heappush, self.heap, self._seq
        who, start, end, dur = self.who, self.start, self.end, self.dur
        gone = self.gone
        while q and idle:
            i = pop(q)[2]
            if gone[i]:  # left the queue (abandonment)
                continue
            best = pop(idle)[2]
            who[i] = best
            start[i] = now
            e = ck.add(now, dur[i])
            end[i] = e
            push(heap, (e, seq(), _END, i))

    def _dispatch_shifts(self, p: int, now: float) -> None:
        """:meth:`_dispatch` for a pool whose members work different shifts (methods §16.4):
        the member idle longest among those whose shift is on takes the head of the queue, and
        the work runs in the pool's working time (a task started before the shift ends is
        finished); when no free member is on shift, the pool wakes at the earliest opening of
        a shift with a free member. Called only while the pool's calendar is open: nobody
        starts while it is closed (the work would be timed from the pool's next opening but
        recorded as started now, the closed hours counted as processing)."""
        pool = self.pools[p]
        q = pool.queue
        ck = pool.clock
        pop, push, heap, seq = heapq.heappop, heapq.heappush, self.heap, self._seq
        gone = self.gone
        while q:
            if gone[q[0][2]]:  # left the queue (abandonment): nobody serves it
                pop(q)
                continue
            best: list[tuple[float, int, int]] | None = None
            wake = math.inf
            for shift_clock, free in pool.shifts:
                if not free:
                    continue
                if shift_clock.always or shift_clock.open_at(now):
                    if best is None or free[0] < best[0]:
                        best = free
                else:
                    wake = min(wake, shift_clock.next_open(now))
            if best is None:
                if wake < pool.wake_at:
                    pool.wake_at = wake
                    self._push(wake, _WAKE, p)
                return
            mi = pop(best)[2]
            i = pop(q)[2]
            self.who[i] = mi
            self.start[i] = now
            e = ck.add(now, self.dur[i])
            self.end[i] = e
            push(heap, (e, seq(), _END, i))

    def _batch(self, i: int, now: float) -> None:
        a = self.act[i]
        rule = self.batch_rule[a]
        members = self.batches.setdefault(a, [])
        members.append(i)
        if len(members) == 1:
            dl = _batch_deadline(rule, now, self.tz)
            self.batch_deadline[a] = dl
            if dl < float("inf"):
                self._push(dl, _RELEASE, a)
        size = int(rule.get("size", 0) or 0)
        if size and len(members) >= size:
            self._release(a, now)

    def _release(self, a: int, now: float) -> None:
        members = self.batches.pop(a, [])
        self.batch_deadline.pop(a, None)
        for j in members:
            self._enqueue(j, now)

    # -- the log ---------------------------------------------------------------------------
    def frame(self, with_enabled: bool = False) -> pd.DataFrame:
        p = self.paths
        n = self.n_inst  # the other-work jobs after them are not in the log
        start = np.round(np.asarray(self.start[:n]) * 1e6).astype("int64")
        end = np.round(np.asarray(self.end[:n]) * 1e6).astype("int64")
        if self.waits_in:
            # a recorded queue step ends when its served step starts (one that left, when it left)
            j = np.array(sorted(self.waits_in), dtype=np.int64)
            j = j[(j + 1 < n) & ~np.asarray(self.gone[:n], dtype=bool)[np.minimum(j + 1, n - 1)]]
            j = j[start[j + 1] > 0]
            end[j] = start[j + 1]
        # rows in log order (case, start, end), warm-up cases and removed steps left out;
        # every column is taken in that order from per-case or per-name values
        order = np.lexsort((end, start, p.case))
        dropped = self.dropped | np.asarray(self.gone[:n], dtype=bool)
        order = order[((p.case >= 0) & ~self.skip & ~dropped)[order]]
        case_row = self.case_np[order]
        who = np.asarray(self.who[:n], dtype=np.int64)[order]
        who[who < 0] = len(self.member_names)  # nobody: the last name, None
        out = pd.DataFrame(
            {
                "case_id": _texts([str(c) for c in self.case_ids.tolist()], case_row),
                "activity": _texts(self.acts, p.act[order]),
                "resource": _texts([*self.member_names, None], who),
                "start_time": pd.to_datetime(start[order], unit="us", utc=True).tz_convert(self.tz),
                "end_time": pd.to_datetime(end[order], unit="us", utc=True).tz_convert(self.tz),
            }
        )
        if self.attrs is not None:
            for col in self.attrs.columns:
                if col not in out.columns:
                    values = self.attrs[col]
                    if values.dtype == _STR_DTYPE:  # taken in Arrow, as pandas would store it
                        # missing values are NaN in a str column: Arrow wants None
                        texts = values.astype(object).where(values.notna(), None).tolist()
                        out[col] = _texts(texts, case_row)
                    else:
                        out[col] = values.to_numpy()[case_row]
        if with_enabled:
            en = np.round(np.asarray(self.enabled[:n]) * 1e6).astype("int64")[order]
            out["enabled_time"] = pd.to_datetime(en, unit="us", utc=True).tz_convert(self.tz)
            # the work itself, in working time (a calendar's pauses are not in it)
            out["work_s"] = np.asarray(self.dur[:n], dtype=float)[order]
        if len(self.job_x) and len(out):
            out.attrs["other_work_busy_s"] = self._other_work_busy(
                float(start[order].min()) / 1e6, float(end[order].max()) / 1e6
            )
        return out

    def _other_work_busy(self, lo: float, hi: float) -> dict[str, float]:
        """Seconds (wall clock) each member spent on other work between ``lo`` and ``hi`` (the
        measured cases' first start and last end), for utilisation (methods §16.4)."""
        x = self.job_x
        s = np.asarray(self.start, dtype=float)[x]
        e = np.asarray(self.end, dtype=float)[x]
        w = np.asarray(self.who, dtype=np.int64)[x]
        done = w >= 0
        # a job still running when the run stopped counts up to hi
        e = np.where(e > s, e, hi)
        busy = np.clip(np.minimum(e, hi) - np.maximum(s, lo), 0.0, None)
        per = np.bincount(w[done], weights=busy[done], minlength=len(self.member_names))
        return {m: round(float(per[i]), 3) for i, m in enumerate(self.member_names)}


#: The dtype pandas gives a column of Python strings (``str``, Arrow-backed, from pandas 3).
_STR_DTYPE = pd.Series(["x"]).dtype


def _texts(values: Sequence[str | None], index: np.ndarray) -> Any:
    """``values[index]`` as the column pandas would make of those strings (None missing):
    taken in Arrow when pandas keeps text in Arrow, which spares a Python string per row."""
    if isinstance(_STR_DTYPE, pd.StringDtype) and _STR_DTYPE.storage == "pyarrow":
        import pyarrow as pa

        taken = pa.array(values, type=pa.large_string()).take(pa.array(index, type=pa.int64()))
        return pd.array(taken, dtype=_STR_DTYPE)
    return np.asarray(values, dtype=object)[index]


def _run(
    model: SimulationModel,
    case_ids: np.ndarray,
    arrivals: np.ndarray,
    seed: int,
    tz: ZoneInfo,
    with_enabled: bool = False,
) -> pd.DataFrame:
    r = _Run(model, case_ids, arrivals, seed)
    r.run()
    return r.frame(with_enabled)


__all__ = ["simulate"]
