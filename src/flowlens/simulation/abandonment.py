"""Wait-dependent abandonment: where cases give up waiting, and how patient they are
(methods §16.9).

An **abandonment point** is a step nobody performs (a queue entry, a recorded wait) after
which each case either goes on to a step people perform (it is *served*) or *leaves* (the case
ends, or goes on to a step nobody performs), and the chance of having left grows with the
time waited. The time waited is measured from the point's start to the next step's start (to
the point's own end when the case ends there).

Two waits compete there, as in the classic call-centre model (Mandelbaum & Zeltyn): the wait
for service W and the case's patience P; the case is served when W ≤ P and leaves at P
otherwise. The log shows min(W, P) and which came first, so

* the **patience** is fitted by Kaplan–Meier with the leavers' waits observed and the served
  cases' waits censored (their patience was longer than the wait);
* a point that carries the wait in its own duration (a recorded queue step) is not given a
  duration of its own: simulated, it lasts until its served step starts or the case leaves.

A point is a queue only when its served cases wait behind the served step's staff: most of
their wait is time in which the person who then serves them works on something else
(:func:`busy_while_waiting`). A case that waits for a step the staff schedule (a follow-up call
days later, a batch's release) and meanwhile goes on by itself races the schedule, not a queue.

The simulation draws each case's patience with its other draws and decides during the run
whether it leaves (methods §16.4).

>>> import numpy as np
>>> t, s = kaplan_meier(np.array([1.0, 2.0, 3.0, 4.0]), np.array([True, False, True, False]))
>>> t.tolist(), s.round(3).tolist()
([1.0, 3.0], [0.75, 0.375])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from flowlens.analysis.waiting_split import NO_ENABLED, split_groups
from flowlens.simulation.distributions import N_QUANTILES, TAIL_LEVELS
from flowlens.simulation.model import END

#: A point needs this many instances, and this many of them leaving and served ...
MIN_INSTANCES, MIN_LEFT = 30, 10
#: ... fewer than this share leaving (the served branch is the usual way on) ...
MAX_LEFT_SHARE = 0.5
#: ... the chance of having left by the leavers' third quartile wait must be at least this
#: many times the chance by their first quartile (leaving grows with the wait; a branch taken
#: at once, whatever the wait, has a ratio of 1; patience seen uncensored has 3) ...
GROWTH = 1.5
#: ... and at least this chance of having left within the longest wait seen (the Kaplan–Meier
#: median patience lies within the waits: cases that wait long enough mostly give up, where a
#: branch taken at once leaves the curve flat at its share, below one half).
MIN_REACH = 0.5
#: ... and the served cases wait mostly behind their server's other work: at least this share
#: of their wait is time in which the person who serves them is busy (a queue's wait is the
#: staff's doing; a scheduled step's is not, whatever the staff do meanwhile).
MIN_QUEUE_SHARE = 0.5


def kaplan_meier(times: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Kaplan–Meier survival curve of ``times`` (seconds), ``observed`` False where the time
    is censored: the distinct observed times and the survival just after each.

    >>> kaplan_meier(np.array([5.0, 5.0, 9.0]), np.array([True, False, True]))[1].round(3).tolist()
    [0.667, 0.0]
    """
    t = np.asarray(times, dtype=float)
    ev = np.asarray(observed, dtype=bool)
    if not len(t):
        return np.zeros(0), np.zeros(0)
    order = np.argsort(t, kind="stable")
    t, ev = t[order], ev[order]
    uniq, first = np.unique(t, return_index=True)
    at_risk = len(t) - first
    events = np.add.reduceat(ev.astype(np.int64), first)
    keep = events > 0
    surv = np.cumprod(1.0 - events[keep] / at_risk[keep])
    return uniq[keep], surv


def censored_distribution(times: np.ndarray, observed: np.ndarray) -> tuple[dict[str, Any], float]:
    """A distribution of the times, some censored (Kaplan–Meier), and the share beyond the
    longest time seen: ``(dist, beyond)``. ``dist`` is the curve's quantiles up to that
    longest time (the distribution conditional on being within it, in the format of
    :mod:`~flowlens.simulation.distributions`); ``beyond`` is 1 − F(longest time), the chance of
    never ending within anything the log shows (a patience longer than every wait seen).

    >>> d, beyond = censored_distribution(np.array([10.0, 20.0, 30.0, 40.0]), np.ones(4, bool))
    >>> d["dist"], beyond
    ('empirical', 0.0)
    """
    t, s = kaplan_meier(times, observed)
    if not len(t):
        return {"dist": "fixed", "value": 0.0}, 1.0
    f = 1.0 - s
    reach = float(f[-1])
    if len(t) == 1:
        return {"dist": "fixed", "value": float(t[0])}, 1.0 - reach
    # the conditional CDF steps up at each observed time; quantiles by its inverse, linear
    # between the steps as the empirical distribution of a plain sample is
    g = np.concatenate([[0.0], f / reach])
    x = np.concatenate([[float(t[0])], t])
    levels = np.concatenate([np.linspace(0, 0.99, N_QUANTILES - 1), TAIL_LEVELS, [1.0]])
    q = np.interp(levels, g, x)
    return {
        "dist": "empirical",
        "quantiles": [round(float(v), 3) for v in q],
        "levels": [round(float(v), 6) for v in levels],
    }, round(1.0 - reach, 6)


def _cum_left(t: np.ndarray, s: np.ndarray, at: float) -> float:
    """1 − S(at) of a Kaplan–Meier curve (t, s)."""
    k = int(np.searchsorted(t, at, side="right"))
    return 0.0 if k == 0 else float(1.0 - s[k - 1])


def busy_while_waiting(
    inst: pd.DataFrame, staffed: pd.Series, other: pd.DataFrame | None = None
) -> pd.Series:
    """Per instance of a step nobody performs (``staffed`` False) whose next step in its case
    is performed by someone: the seconds within [its start, the next step's start) in which
    that performer was working on something else, the busy part (contention and
    prioritisation) of the waiting-cause split (methods §7.1) of the case's wait for that
    performer, by the same prefix sums (:func:`~flowlens.analysis.waiting_split.split_groups`).
    NaN elsewhere. ``inst`` is the fit's instance table in case order (``case_idx``, ``s_us``,
    ``end_us``, ``resource``); ``other`` the same people's other work (``resource``,
    ``start_us``, ``end_us``), when given.

    The split of §7.1 charges a wait recorded as a step nobody performs (a call's queue step)
    to that step, which has no performer, so none of it can be busy staff; here the wait is
    charged to whoever took the case out of it.

    >>> us = 1_000_000
    >>> inst = pd.DataFrame({"case_idx": [0, 0, 1], "resource": [None, "ann", "ann"],
    ...                      "s_us": [0, 60 * us, 0], "end_us": [0, 90 * us, 45 * us]})
    >>> busy_while_waiting(inst, pd.Series([False, True, True])).tolist()
    [45.0, nan, nan]
    >>> other = pd.DataFrame({"resource": ["ann"], "start_us": [50 * us], "end_us": [55 * us]})
    >>> busy_while_waiting(inst, pd.Series([False, True, True]), other).tolist()
    [50.0, nan, nan]
    """
    out = pd.Series(np.nan, index=inst.index)
    nxt = inst.groupby("case_idx", sort=False)
    next_s, next_res = nxt.s_us.shift(-1), nxt.resource.shift(-1)
    next_staffed = staffed.groupby(inst.case_idx, sort=False).shift(-1).fillna(False).astype(bool)
    at = ~staffed.to_numpy(dtype=bool) & next_staffed.to_numpy(dtype=bool) & next_res.notna().to_numpy()
    if not at.any():
        return out
    people = sorted(set(next_res[at].astype(str)))
    group = {r: k for k, r in enumerate(people)}
    work = inst.loc[inst.end_us > inst.s_us, ["resource", "s_us", "end_us"]]
    if other is not None:
        o = other.dropna(subset=["resource", "start_us", "end_us"])
        o = pd.DataFrame({"resource": o.resource, "s_us": o.start_us, "end_us": o.end_us})
        work = pd.concat([work, o[o.end_us > o.s_us]], ignore_index=True)
    work = work[work.resource.astype(str).isin(group)]
    x = inst.s_us.to_numpy(dtype=np.int64)[at]
    wend = np.maximum(next_s.to_numpy()[at].astype(np.int64), x)
    split = split_groups(
        {"group": next_res[at].astype(str).map(group).to_numpy(np.int64), "x": x, "wend": wend, "ready": x},
        {
            "group": work.resource.astype(str).map(group).to_numpy(np.int64),
            "s": work.s_us.to_numpy(np.int64),
            "e": work.end_us.to_numpy(np.int64),
            "en": np.full(len(work), NO_ENABLED, dtype=np.int64),
        },
        # off-shift time is not counted: a queue is waiting behind other cases
        [None] * len(people),
        ready_evidence_us=0,
    )
    out[at] = split["busy"] / 1e6
    return out


def abandonment_points(
    inst: pd.DataFrame, staffed: set[str], concurrent: list[list[str]]
) -> dict[str, dict[str, Any]]:
    """The log's abandonment points (see the module docstring), per point activity:
    ``{"served": [...], "leave": [...], "patience": dist, "patient_share": p,
    "waits_in_point": bool, "observed": {...}}``. ``inst`` is :class:`~flowlens.simulation.fit.Observations`'s
    instance table (in case order, with ``next`` and ``next_busy_s``, :func:`busy_while_waiting`);
    ``staffed`` the steps people perform.
    ``waits_in_point`` says the point's own duration carries the wait (a recorded queue step:
    simulated, it ends when the served step starts or the case leaves); False when the point
    takes no time (the wait is the queue of the served step either way).

    200 calls queue (an instant step) for an agent busy with other calls all the while (a wait
    of one minute on average) and hang up when their patience (median two minutes) runs out:

    >>> rng = np.random.default_rng(1)
    >>> n = 200
    >>> wait, patience = rng.exponential(60.0, n), rng.lognormal(np.log(120.0), 1.0, n)
    >>> served, t0 = wait <= patience, np.arange(n) * 10**9
    >>> gap = (np.minimum(wait, patience) * 1e6).astype(np.int64)
    >>> nxt = np.where(served, "Talk", "Hang Up")
    >>> inst = pd.DataFrame({
    ...     "case_idx": np.repeat(np.arange(n), 2),
    ...     "activity": np.column_stack([np.full(n, "Queue"), nxt]).ravel(),
    ...     "next": np.column_stack([nxt, np.full(n, "(end)")]).ravel(),
    ...     "s_us": np.column_stack([t0, t0 + gap]).ravel(),
    ...     "next_busy_s": np.column_stack([np.where(served, gap / 1e6, np.nan), np.full(n, np.nan)]).ravel()})
    >>> inst = inst.assign(end_us=inst.s_us, delay_s=0.0, work_s=0.0)
    >>> point = abandonment_points(inst, {"Talk"}, [])["Queue"]
    >>> point["served"], point["leave"], point["waits_in_point"], point["observed"]["left"]
    (['Talk'], ['Hang Up'], False, 44)"""
    in_pairs = {a for pair in concurrent for a in pair}
    next_s = inst.groupby("case_idx", sort=False).s_us.shift(-1)
    ends = inst["next"].astype(str) == END
    waited = (np.where(ends, inst.end_us, next_s) - inst.s_us).astype(float) / 1e6
    served_next = inst["next"].astype(str).isin(staffed)
    out: dict[str, dict[str, Any]] = {}
    for act, g in inst.groupby("activity", sort=True):
        a = str(act)
        if a in staffed or a in in_pairs or len(g) < MIN_INSTANCES:
            continue
        nxt = g["next"].astype(str)
        served = served_next.loc[g.index].to_numpy()
        w = np.clip(waited.loc[g.index].to_numpy(dtype=float), 0.0, None)
        n_left, n_served = int((~served).sum()), int(served.sum())
        if min(n_left, n_served) < MIN_LEFT or n_left >= MAX_LEFT_SHARE * len(g) or not np.isfinite(w).all():
            continue
        t, s = kaplan_meier(w, ~served)
        q1, q3 = np.quantile(w[~served], [0.25, 0.75])
        late, early = _cum_left(t, s, float(q3)), _cum_left(t, s, float(q1))
        if late <= 0 or late < GROWTH * early or 1.0 - float(s[-1]) < MIN_REACH:
            continue
        # a queue: the served wait mostly behind the server's other work (over the served
        # cases whose server is a person: a system or an unrecorded one shows no queue)
        busy = g.next_busy_s.to_numpy(dtype=float)[served]
        known = ~np.isnan(busy)
        waited_known = float(w[served][known].sum())
        queue_share = float(busy[known].sum()) / waited_known if waited_known > 0 else 0.0
        if queue_share < MIN_QUEUE_SHARE:
            continue
        patience, patient = censored_distribution(w, ~served)
        # a recorded queue step carries the wait itself (in its waiting, as the time model
        # reads a wait step, §6.2, or in its duration): it ends when the case is served or leaves
        own = (g.delay_s + g.work_s).to_numpy(dtype=float)
        out[a] = {
            "served": sorted(set(nxt[served])),
            "leave": sorted(set(nxt[~served])),
            "patience": patience,
            "patient_share": patient,
            "waits_in_point": bool(np.median(own) > 0),
            "observed": {
                "instances": len(g),
                "left": n_left,
                "left_share": round(n_left / len(g), 6),
                "patience_median_s": _median(t, s),
                "queue_share": round(queue_share, 4),
            },
        }
    return out


def censored_delay(
    inst: pd.DataFrame, point: str, served: list[str], leave: list[str], delay_s: pd.Series
) -> dict[str, Any] | None:
    """The delay of a served step right after a point that takes no time (methods §16.9): the
    served cases' delays ``delay_s`` (indexed as ``inst``) observed, the leavers' waits
    censored (they would have waited longer), each leaver's wait scaled by the share of the
    served cases' waiting their delays carry (the rest is the simulated queue's). The curve's
    mass beyond the last served delay is spread evenly up to the longest wait seen (a
    leaver's: the quantiles are interpolated linearly). None when no served step follows the
    point in the log.

    The wait before the served step of a point whose cases give up is longer than the served
    cases show: those who would have waited longest are the ones who left. Three calls served
    after 1, 2 and 3 s, one that hung up after 10 s: a quarter of the curve lies beyond the
    served delays, spread up to the 10 s the leaver waited.

    >>> inst = pd.DataFrame({
    ...     "case_idx": [0, 0, 1, 1, 2, 2, 3, 3],
    ...     "activity": ["Queue", "Talk"] * 3 + ["Queue", "Hang Up"],
    ...     "prev": ["(start)", "Queue"] * 4,
    ...     "next": ["Talk", "(end)"] * 3 + ["Hang Up", "(end)"],
    ...     "s_us": [0, 1_000_000, 0, 2_000_000, 0, 3_000_000, 0, 10_000_000],
    ...     "enabled_us": [0, 0, 0, 0, 0, 0, 0, 0]})
    >>> inst["end_us"] = inst.s_us
    >>> d = censored_delay(inst, "Queue", ["Talk"], ["Hang Up"], (inst.s_us - inst.enabled_us) / 1e6)
    >>> d["quantiles"][-2:], d["levels"][-2:]
    ([3.0, 10.0], [0.75, 1.0])
    """
    prev = inst["prev"].astype(str)
    after = (prev == point) & inst.activity.astype(str).isin(served)
    if not after.any():
        return None
    got = delay_s[after].to_numpy(dtype=float)
    total = ((inst.s_us - inst.enabled_us.fillna(inst.s_us)).clip(lower=0) / 1e6)[after].to_numpy(dtype=float)
    share = float(got.sum() / total.sum()) if total.sum() > 0 else 1.0
    at = (inst.activity.astype(str) == point) & inst["next"].astype(str).isin(leave)
    # a leaver's wait as abandonment_points reads it: to the next step's start, or to the
    # point's own end when the case ends there
    next_s = inst.groupby("case_idx", sort=False).s_us.shift(-1)
    stop = next_s.where(inst["next"].astype(str) != END, inst.end_us)
    waited = ((stop[at] - inst.s_us[at]) / 1e6).to_numpy(dtype=float)
    waited = np.clip(waited[np.isfinite(waited)], 0.0, None) * min(share, 1.0)
    times = np.concatenate([np.clip(got, 0.0, None), waited])
    seen = np.concatenate([np.ones(len(got), dtype=bool), np.zeros(len(waited), dtype=bool)])
    d, beyond = censored_distribution(times, seen)
    if d["dist"] != "empirical" or beyond <= 0:
        return d
    # the rest of the curve (longer than every wait seen) at the longest wait, a leaver's
    reach = 1.0 - beyond
    d["levels"] = [round(v * reach, 6) for v in d["levels"]] + [1.0]
    d["quantiles"] = [*d["quantiles"], round(float(times.max()), 3)]
    return d


def _median(t: np.ndarray, s: np.ndarray) -> float | None:
    """The Kaplan–Meier median (None when fewer than half are seen to end)."""
    k = np.flatnonzero(s <= 0.5)
    return round(float(t[k[0]]), 3) if len(k) else None


__all__ = [
    "abandonment_points",
    "busy_while_waiting",
    "censored_delay",
    "censored_distribution",
    "kaplan_meier",
]
