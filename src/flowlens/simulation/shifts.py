"""Shifts inside a group of people: who of the people doing the same steps works when.

A fit groups people by the steps they do (methods §16.2) and reads one calendar per group off
their pooled work. When the group's people work different shifts (a call centre's early and
late agents), that calendar is the union of the shifts and every person is on it: the
simulated pool has each person at every hour of it, about twice the log's capacity at any hour.
:func:`shifts` splits such a group into shifts by the hours its people work (methods §16.2,
"Shifts"); the fit then reads one calendar per shift, and the pool stays one queue whose
members take work only in their shift's hours (``pools.P.member_calendars``, §16.1, §16.4).

>>> import numpy as np, pandas as pd
>>> hour = 3_600_000_000
>>> monday = 1_704_067_200_000_000  # 2024-01-01 00:00 UTC, a Monday
>>> days = np.arange(56) * 24 * hour
>>> early = (monday + days[:, None] + np.array([8, 9, 10, 11]) * hour).ravel()
>>> late = early + 8 * hour
>>> work = pd.DataFrame({"resource": ["ann"] * len(early) + ["bob"] * len(late) + ["cy"] * len(early),
...                      "s_us": np.concatenate([early, late, early])})
>>> groups = {"ann": ("Call",), "bob": ("Call",), "cy": ("Call",)}
>>> shifts(work, groups, "UTC")
{'ann': 1, 'bob': 2, 'cy': 1}
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: A person's *hours*: the fewest hour-of-week cells (weekday × hour, local) holding this
#: share of their starts, the most used cells first.
HOURS_SHARE = 0.9
#: Two people are on the same shift when each does at least this share of their work in the
#: other's hours.
SAME_SHIFT = 0.5
#: A person's hours are read only off at least this many starts; people with fewer join the
#: shift whose hours hold most of their starts.
MIN_PERSON_STARTS = 100
#: A shift needs at least this many starts (enough to read a calendar; the fit also requires
#: the shift's calendar to hold 80 % of them); a smaller one joins another.
MIN_SHIFT_STARTS = 200

_CELLS = 168


def hour_profiles(work: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Each person's starts per hour-of-week cell (rows: people; columns 0..167, Monday 0:00
    first) in the time zone ``tz``, from ``work`` (``resource``, ``s_us``: start, µs UTC).

    >>> w = pd.DataFrame({"resource": ["ann"], "s_us": [1_704_092_400_000_000]})  # Mon 07:00 UTC
    >>> int(hour_profiles(w, "UTC").loc["ann"].idxmax())
    7
    """
    local = pd.DatetimeIndex(pd.to_datetime(work.s_us.to_numpy(dtype="int64"), unit="us", utc=True))
    local = local.tz_convert(tz)
    cell = local.weekday.to_numpy() * 24 + local.hour.to_numpy()
    people = work.resource.astype(str).to_numpy()
    names, idx = np.unique(people, return_inverse=True)
    counts = np.zeros((len(names), _CELLS), dtype=np.int64)
    np.add.at(counts, (idx, cell), 1)
    return pd.DataFrame(counts, index=pd.Index(names, name="resource"))


def core_hours(counts: np.ndarray) -> np.ndarray:
    """The cells holding :data:`HOURS_SHARE` of ``counts`` (one person's starts per cell), the
    most used first (ties: the earlier cell), as a boolean mask.

    >>> core_hours(np.array([10, 0, 85, 5])).tolist()
    [True, False, True, False]
    """
    order = np.argsort(-counts, kind="stable")
    cum = np.cumsum(counts[order])
    n = int(np.searchsorted(cum, HOURS_SHARE * cum[-1] - 1e-9)) + 1 if cum[-1] > 0 else 0
    mask = np.zeros(len(counts), dtype=bool)
    mask[order[:n]] = True
    return mask


def shifts(work: pd.DataFrame, groups: dict[str, tuple[str, ...]], tz: str) -> dict[str, int]:
    """Per person of a group whose people work distinct shifts, their shift (1, 2, ...;
    methods §16.2): people with at least :data:`MIN_PERSON_STARTS` starts in ``work``
    (``resource``, ``s_us``) are on the same shift when each does at least :data:`SAME_SHIFT`
    of their starts in the other's :func:`core_hours`, and shifts are the groups this relation
    connects; the others join the shift whose hours hold most of their starts, and so does a
    shift with fewer than :data:`MIN_SHIFT_STARTS` starts (the smallest first). A group is
    split when two shifts or more are left; people of groups that are not split are not in the
    result. Shifts are numbered by their first person's name."""
    prof = hour_profiles(work[work.resource.astype(str).isin(list(groups))], tz)
    by_group: dict[tuple[str, ...], list[str]] = {}
    for r, acts in sorted(groups.items()):
        if r in prof.index:
            by_group.setdefault(acts, []).append(r)
    out: dict[str, int] = {}
    for people in by_group.values():
        out.update(_split(prof.loc[people]))
    return out


def _split(prof: pd.DataFrame) -> dict[str, int]:
    """One group's people (rows of hour profiles) by shift, or {} when it is not split."""
    counts = prof.to_numpy(dtype=float)
    total = counts.sum(axis=1)
    read = np.flatnonzero(total >= MIN_PERSON_STARTS)
    if len(read) < 2:
        return {}
    core = np.stack([core_hours(counts[i]) for i in read])
    share = counts[read] / total[read, None]
    # inside[a, b]: the share of a's starts in b's hours
    inside = share @ core.T.astype(float)
    same = np.minimum(inside, inside.T) >= SAME_SHIFT
    label = np.arange(len(read))
    for a in range(len(read)):  # connected groups of "same shift", by union of labels
        for b in np.flatnonzero(same[a]):
            lo, hi = min(label[a], label[b]), max(label[a], label[b])
            label[label == hi] = lo
    shift_of = np.full(len(prof), -1)
    shift_of[read] = np.searchsorted(np.unique(label), label)
    # the people with too few starts to read, then the shifts with too little work to read a
    # calendar (the smallest first), join the shift whose hours hold most of their starts
    rest = np.flatnonzero(total < MIN_PERSON_STARTS)
    while True:
        kinds = np.unique(shift_of[shift_of >= 0])
        if len(kinds) < 2:
            return {}
        hours = np.stack([core_hours(counts[shift_of == k].sum(axis=0)) for k in kinds]).astype(float)
        if len(rest):
            shift_of[rest] = kinds[np.argmax(counts[rest] @ hours.T, axis=1)]
            rest = rest[:0]
            continue
        work = np.array([total[shift_of == k].sum() for k in kinds])
        small = int(np.argmin(work))
        if work[small] >= MIN_SHIFT_STARTS:
            break
        into = counts[shift_of == kinds[small]].sum(axis=0) @ hours.T
        into[small] = -1
        shift_of[shift_of == kinds[small]] = kinds[int(np.argmax(into))]
    shift_of = np.searchsorted(kinds, shift_of)
    names = prof.index.astype(str).tolist()
    first = {k: min(n for n, s in zip(names, shift_of, strict=True) if s == k) for k in range(len(kinds))}
    number = {k: i + 1 for i, k in enumerate(sorted(first, key=first.__getitem__))}
    return {n: number[int(s)] for n, s in zip(names, shift_of, strict=True)}


def describe(work: pd.DataFrame, groups: dict[str, tuple[str, ...]], tz: str) -> list[dict[str, Any]]:
    """Per person of ``groups`` with work: their group, starts, the hours of day their
    :func:`core_hours` cover (local), and their shift when the group is split (for reports and
    the benchmark ``benchmarks/shift_profiles.py``).

    >>> w = pd.DataFrame({"resource": ["ann"] * 3, "s_us": [1_704_092_400_000_000] * 3})
    >>> describe(w, {"ann": ("Call",)}, "UTC")[0]["hours"]
    '07'
    """
    prof = hour_profiles(work[work.resource.astype(str).isin(list(groups))], tz)
    split = shifts(work, groups, tz)
    rows = []
    for r in prof.index.astype(str):
        c = prof.loc[r].to_numpy()
        core = core_hours(c).reshape(7, 24).any(axis=0)
        rows.append(
            {
                "group": groups[r],
                "person": r,
                "starts": int(c.sum()),
                "hours": _hour_ranges(core),
                "shift": split.get(r),
            }
        )
    return rows


def _hour_ranges(on: np.ndarray) -> str:
    """Hours of day set in ``on`` as ranges ("08-15 22-23")."""
    out, h = [], 0
    while h < 24:
        if on[h]:
            e = h
            while e + 1 < 24 and on[e + 1]:
                e += 1
            out.append(f"{h:02d}" if e == h else f"{h:02d}-{e:02d}")
            h = e + 1
        else:
            h += 1
    return " ".join(out)


__all__ = ["core_hours", "describe", "hour_profiles", "shifts"]
