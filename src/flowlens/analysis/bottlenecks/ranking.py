"""Ranking where customers wait: activities, transitions, resources or teams by the total
customer waiting they account for (docs/methods.md, "Bottlenecks, utilisation and WIP")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.errors import ConfigError
from flowlens.timing.model import case_slice, case_slices

if TYPE_CHECKING:
    import ibis

    from flowlens.timing.model import TimeModel

US = 1_000_000
LEVELS = ("activity", "transition", "resource", "team")
#: label of the step before a case's first step at transition level
CASE_START = "(case start)"
NO_RESOURCE = "(no resource)"
NO_TEAM = "(no team)"
_KEYS = {
    "activity": ["activity"],
    "transition": ["from_activity", "activity"],
    "resource": ["resource"],
    "team": ["team"],
}


def check_level(tm: TimeModel, level: str, allowed: Sequence[str] = LEVELS) -> None:
    """A :class:`~flowlens.errors.ConfigError` unless ``level`` is one of ``allowed`` (and, for
    ``team``, the time model has a team column).

    >>> import flowlens, pandas as pd
    >>> from flowlens.timing.model import time_model
    >>> tm = time_model(flowlens.read_log(pd.DataFrame({"case": ["1"], "activity": ["a"],
    ...                                                 "timestamp": ["2024-01-01"]})))
    >>> check_level(tm, "team")
    Traceback (most recent call last):
    ...
    flowlens.errors.ConfigError: the log has no team column (none named team, role, org:group or department); name it with --team COLUMN (or time_model(..., team=COLUMN))
    """
    if level not in allowed:
        raise ConfigError(f"unknown level '{level}'; choose one of {', '.join(allowed)}")
    if level == "team" and tm.team_column is None:
        raise ConfigError(
            "the log has no team column (none named team, role, org:group or department); "
            "name it with --team COLUMN (or time_model(..., team=COLUMN))"
        )


def _keyed(tm: TimeModel, level: str) -> ibis.Table:
    i = tm.instances
    if level == "activity":
        return i
    if level == "transition":
        return i.mutate(from_activity=i.prev_activity.fill_null(CASE_START))
    if level == "resource":
        return i.mutate(resource=i.resource.fill_null(NO_RESOURCE))
    return i.mutate(team=i.team.fill_null(NO_TEAM))


def _label(level: str, row: Any) -> str:
    if level == "transition":
        return f"{row['from_activity']} → {row['activity']}"
    return str(row[_KEYS[level][0]])


def bottlenecks(tm: TimeModel, *, level: str = "activity", top: int | None = None) -> pd.DataFrame:
    """Waiting and processing per activity, transition, resource or team, ranked by the total
    customer waiting each accounts for.

    The customer waiting charged to every instance (the time model's ``wait_us``: the time
    just before it when nothing was in progress in its case; for steps that record waiting,
    such as a call's Queue, their whole span) is charged to the instance's activity, to its
    transition (the step before it in the map's order -> the activity, so every transition is
    an edge of the process map), to its resource and to its team (the queue in front of
    whoever did it). The totals add up to the customer waiting of the whole log.

    Columns: the key (``activity``; ``from_activity`` and ``activity``; ``resource``; ``team``),
    ``label``, ``rank``, ``instances``, ``cases``, ``waited`` (instances with waiting > 0),
    ``waiting_total_s``, ``waiting_mean_s``, ``waiting_median_s``, ``waiting_p90_s``,
    ``processing_mean_s``, ``processing_median_s``, ``processing_p90_s``, ``waiting_share``
    (this group's total / all waiting), ``waiting_business_total_s``,
    ``waiting_business_mean_s`` (working time on the resource's calendar) and
    ``estimated_starts``. Sorted by total waiting (rank 1 = most), then instances, then name;
    ``top`` keeps the first rows.

    >>> import flowlens, pandas as pd
    >>> from flowlens.timing.model import time_model
    >>> df = pd.DataFrame({"case": ["1", "1"], "activity": ["a", "b"],
    ...                    "start": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 11:00"]),
    ...                    "end": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 11:30"])})
    >>> t = bottlenecks(time_model(flowlens.read_log(df)), level="transition")
    >>> t[["label", "waiting_total_s", "processing_mean_s"]].values.tolist()
    [['a → b', 3600.0, 1800.0], ['(case start) → a', 0.0, 3600.0]]
    """
    check_level(tm, level)
    if top is not None and top < 1:
        raise ConfigError(f"top must be at least 1, got {top}")
    x = _keyed(tm, level)
    keys = _KEYS[level]
    agg = x.group_by(keys).aggregate(
        instances=x.count(),
        waited=x.wait_us.count(where=x.wait_us > 0),
        w_total=x.wait_us.sum(),
        w_mean=x.wait_us.mean(),
        p_mean=x.proc_us.mean(),
        wb_total=x.wait_bus_us.sum(),
        wb_mean=x.wait_bus_us.mean(),
        estimated_starts=x.start_estimated.cast("int64").sum(),
    )
    df = agg.to_pandas()
    # Cases per group from the distinct (group, case) pairs, not a distinct count, whose one
    # hash table per group must fit in memory; and slice by slice of cases, because the pairs
    # of the whole log did not either (10^8 events: a 1 GiB allocation failed in a 4.7 GB
    # engine both ways). A case lies in one slice, so the slices' counts add up to the log's.
    parts = []
    for r in case_slices(tm.log):
        xs = case_slice(x, r)
        pairs = xs.select(*keys, "case_idx").distinct()
        parts.append(pairs.group_by(keys).aggregate(cases=pairs.count()).to_pandas())
    cases = pd.concat(parts).groupby(keys, sort=False, dropna=False)["cases"].sum().reset_index()
    df = df.merge(cases, on=keys, how="left", validate="one_to_one")
    # An exact quantile holds every value of its group till the end (the engine cannot spill
    # it): the median and p90 of a column come from one state (the same numbers as two, half
    # the memory), and each column's in a query of its own, so one column's values are held at
    # a time (10^8 events: four states in one query ran out of a 4.7 GB engine).
    for col, (med, p90) in {"wait_us": ("w_median", "w_p90"), "proc_us": ("p_median", "p_p90")}.items():
        q = x.group_by(keys).aggregate(fl_q=x[col].quantile([0.5, 0.9]))
        q = q.select(*keys, **{med: q.fl_q[0], p90: q.fl_q[1]}).to_pandas()
        df = df.merge(q, on=keys, how="left", validate="one_to_one")
    out = pd.DataFrame({k: df[k].astype(object) for k in keys})
    for col in ("instances", "cases", "waited", "estimated_starts"):
        out[col] = df[col].fillna(0).astype("int64")
    names = {
        "w_total": "waiting_total_s",
        "w_mean": "waiting_mean_s",
        "w_median": "waiting_median_s",
        "w_p90": "waiting_p90_s",
        "p_mean": "processing_mean_s",
        "p_median": "processing_median_s",
        "p_p90": "processing_p90_s",
        "wb_total": "waiting_business_total_s",
        "wb_mean": "waiting_business_mean_s",
    }
    for src, dst in names.items():
        out[dst] = df[src].astype("float64") / US
    out["waiting_total_s"] = out["waiting_total_s"].fillna(0.0)
    out["waiting_business_total_s"] = out["waiting_business_total_s"].fillna(0.0)
    # exact and order-free: the engine returns groups in no fixed order
    total = math.fsum(out["waiting_total_s"])
    out["waiting_share"] = out["waiting_total_s"] / total if total > 0 else 0.0
    out = out.sort_values(
        ["waiting_total_s", "instances", *keys], ascending=[False, False, *([True] * len(keys))]
    ).reset_index(drop=True)
    out.insert(len(keys), "label", [_label(level, r) for r in out.to_dict("records")])
    out.insert(len(keys) + 1, "rank", np.arange(1, len(out) + 1))
    cols = [
        *keys,
        "label",
        "rank",
        "instances",
        "cases",
        "waited",
        "waiting_total_s",
        "waiting_share",
        "waiting_mean_s",
        "waiting_median_s",
        "waiting_p90_s",
        "processing_mean_s",
        "processing_median_s",
        "processing_p90_s",
        "waiting_business_total_s",
        "waiting_business_mean_s",
        "estimated_starts",
    ]
    out = out[cols]
    return out.head(top).reset_index(drop=True) if top else out
