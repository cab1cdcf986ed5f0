"""Steps a pool serves only when no other work waits (methods §16.2, "Steps served when idle").

One queue served first come, first served delays every step in it alike: when it grows, the
backlog of each of its steps grows with it. A step whose backlog grows through the log while the
other steps of the same people keep pace is therefore not served in arrival order: the people
take it up only when nothing else is waiting (a satisfaction call made in quiet hours). The fit
gives such a step the step priority :data:`IDLE_PRIORITY` (served after every other step of its
pools, :mod:`flowlens.simulation.engine`) and leaves every other step at 0.

Both are read over the middle half of the log's period (:func:`middle_half`), where the
extract's edges (cases cut short, arrivals thinning out) do not count, as flows
(:func:`mid_flow`: tasks enabled there, tasks started there):

* the step's queue grows: started < :data:`GROWING_RATIO` × enabled, with at least
  :data:`MIN_ENABLED` enabled (the queues that do not settle, ``fitted.unsettled_queues``);
* the same people's other steps keep pace: together started ≥ :data:`PACE_RATIO` × enabled
  (a case's first step is left out on both sides: enabled when it starts, as the log shows no
  arrival before it, its queue cannot be seen);
* the step's waiting is mostly the organisation's: less than :data:`MAX_EXTRANEOUS` of it is
  extraneous (§7.1, the customer or a third party). A long wait on someone outside is a delay,
  and a delay of weeks in a log whose volume drifts can leave a step's starts behind its
  enablements with no order of service behind it (BPIC 2013 incidents' closure: 86 %
  extraneous, 504 starts against 2,327 enablements).

Why these thresholds: under first come, first served a step's starts in a window fall short of
its enablements only by its backlog's growth, about its arrival rate times its waiting (Little's
law); a step that also waits on the customer (a call booked days ahead) loses a little more
when volume drifts, about its extra waiting over the window's length times the drift (10 days
over a 45-day window at 30 % drift: 7 %). A gap between a half and nine tenths cannot come
from that, nor from chance at 30 or more enablements.

>>> import pandas as pd
>>> h = 3_600_000_000
>>> rows = [(c, a, c * h, c * h + w, who, 0) for c in range(200) for a, w, who in (
...     ("Receive", 0, None), ("Work", h // 2, "ann"), ("Call", (400 - c) * h if c < 190 else h, "ann"))]
>>> cols = ["case_idx", "activity", "enabled_us", "s_us", "resource", "extraneous_us"]
>>> inst = pd.DataFrame(rows, columns=cols)
>>> pools = {"P": {"members": ["ann"]}}
>>> growing = [{"activity": "Call", "pools": ["P"]}]
>>> [(e["activity"], e["enabled_mid"], e["started_mid"], e["others_started_mid"])
...  for e in served_when_idle(inst, growing, pools)]
[('Call', 100, 0, 99)]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: A step's flow is judged on at least this many enablements in the middle half.
MIN_ENABLED = 30
#: A step whose starts fall below this share of its enablements has a growing queue.
GROWING_RATIO = 0.5
#: ... and is served when idle when the same people's other steps start at least this share.
PACE_RATIO = 0.9
#: ... and when less than this share of its waiting is extraneous (§7.1).
MAX_EXTRANEOUS = 0.5
#: The step priority of a step served when idle (every other step keeps 0).
IDLE_PRIORITY = -1


def middle_half(inst: pd.DataFrame) -> tuple[float, float] | None:
    """The 25th and 75th percentiles of the cases' first starts (µs), or None when they meet.

    >>> middle_half(pd.DataFrame({"case_idx": [0, 1, 2, 3, 4], "s_us": [0, 10, 20, 30, 40]}))
    (10.0, 30.0)
    """
    first = inst.groupby("case_idx").s_us.min().to_numpy(dtype=float)
    if not len(first):
        return None
    lo, hi = (float(v) for v in np.quantile(first, [0.25, 0.75]))
    return (lo, hi) if hi > lo else None


def mid_flow(x: pd.DataFrame, lo: float, hi: float) -> pd.DataFrame:
    """Per activity of ``x`` (instances with ``enabled_us`` and ``s_us``): ``enabled_mid`` and
    ``started_mid``, the instances enabled and started in [lo, hi), and ``wait_h``, each
    instance's waiting (enablement to start, hours) for the caller to sum.

    >>> t = pd.DataFrame({"activity": ["A", "A"], "enabled_us": [0, 5], "s_us": [6, 20]})
    >>> mid_flow(t, 0, 10)[["activity", "enabled_mid", "started_mid"]].to_dict("records")
    [{'activity': 'A', 'enabled_mid': True, 'started_mid': True}, {'activity': 'A', 'enabled_mid': True, 'started_mid': False}]
    """
    s = x.s_us.to_numpy(dtype=float)
    en = np.minimum(x.enabled_us.fillna(x.s_us).to_numpy(dtype=float), s)
    return pd.DataFrame(
        {
            "activity": x.activity.astype(str).to_numpy(),
            "enabled_mid": (en >= lo) & (en < hi),
            "started_mid": (s >= lo) & (s < hi),
            "wait_h": (s - en) / 3.6e9,
        }
    )


def served_when_idle(
    inst: pd.DataFrame, growing: list[dict[str, Any]], pools: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Of the steps whose queue grows (``growing``: entries with ``activity`` and ``pools``, as
    ``fitted.unsettled_queues``), those the same people's other steps keep pace beside (see
    the module docstring): one entry per step with ``activity``, ``pools``, ``enabled_mid``,
    ``started_mid`` and the other steps' ``others_enabled_mid``, ``others_started_mid`` (the
    instances of the pools' members who did the step) and ``extraneous_share`` of its waiting.
    ``inst``: the fit's instances (``case_idx``, ``activity``, ``resource``, ``enabled_us``,
    ``s_us``, ``extraneous_us``)."""
    window = middle_half(inst)
    if not growing or window is None:
        return []
    # a case's first step is enabled when it starts (the log shows no arrival before it): its
    # queue is invisible, so it can show neither a backlog nor that it keeps pace
    later = inst[inst.s_us > inst.groupby("case_idx").s_us.transform("min")]
    out: list[dict[str, Any]] = []
    for g in growing:
        act = g["activity"]
        members = {m for p in g["pools"] for m in pools.get(p, {}).get("members", [])}
        own = later.activity == act
        people = set(later.resource[own & later.resource.isin(members)].dropna())
        x = later[later.resource.isin(people)]
        flow = mid_flow(x, *window)
        mine = flow[flow.activity == act]
        rest = flow[flow.activity != act]
        en, st = int(mine.enabled_mid.sum()), int(mine.started_mid.sum())
        o_en, o_st = int(rest.enabled_mid.sum()), int(rest.started_mid.sum())
        wait_us = float(mine.wait_h.sum()) * 3.6e9
        ext = float(x.extraneous_us[x.activity == act].fillna(0).sum()) / wait_us if wait_us > 0 else 1.0
        if (
            en >= MIN_ENABLED
            and st < GROWING_RATIO * en
            and o_en >= MIN_ENABLED
            and o_st >= PACE_RATIO * o_en
            and ext < MAX_EXTRANEOUS
        ):
            out.append(
                {
                    "activity": act,
                    "pools": sorted(g["pools"]),
                    "enabled_mid": en,
                    "started_mid": st,
                    "others_enabled_mid": o_en,
                    "others_started_mid": o_st,
                    "extraneous_share": round(ext, 3),
                }
            )
    return out


__all__ = [
    "GROWING_RATIO",
    "IDLE_PRIORITY",
    "MAX_EXTRANEOUS",
    "MIN_ENABLED",
    "PACE_RATIO",
    "mid_flow",
    "middle_half",
    "served_when_idle",
]
