"""Fidelity: is a simulation model fitted on a log good enough to trust what-ifs on it?

:func:`fidelity` follows the referee protocol (``shared/sim_fidelity/protocol.py``, methods
§16.6): the log's cases are ordered by their first start (ties by case id as text), the first
``round((1 - test_share) · n)`` are *train* and the rest *test* (or a given train/test pair);
a model is fitted on train, K logs of the test's size are simulated from the test's first
start (seeds ``seed … seed + K - 1``), and each is scored against the test with
log-distance-measures 2.2.0 exactly as the referee scores: 2- and 3-gram, AED, CAD, CED, RED,
CTD and the relative error of the mean and median cycle time. The **reference distance** is
what another real sample scores against the test: the adjacent window (the same number of
cases just before the test; shifted to the test's first start for AED and CAD) or, for a
given pair, train against test.

Numbers alone do not say what to fix, so the result also holds **per-part diagnostics**
(arrivals, control flow, durations, waiting, and the cycle time they add up to) computed the
same way on the simulated logs and on the reference, and a verdict per part and overall
(methods §16.6 states the rules).

Timestamps are compared as the referee compares them: local wall-clock time of the log's time
zone, to the microsecond.

>>> import pandas as pd
>>> f = pd.DataFrame({"case_id": ["2", "1", "1"], "activity": ["a", "a", "b"],
...     "resource": [None, None, None],
...     "start_time": pd.to_datetime(["2024-01-02 09:00", "2024-01-01 09:00", "2024-01-01 10:00"], utc=True),
...     "end_time": pd.to_datetime(["2024-01-02 09:30", "2024-01-01 09:30", "2024-01-01 11:00"], utc=True)})
>>> case_order(f)["case_id"].tolist()
['1', '2']
>>> activity_stats(f).loc["b", ["per_case", "proc_median_s", "wait_median_s"]].tolist()
[0.5, 3600.0, 1800.0]
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.errors import ConfigError
from flowlens.i18n import M_
from flowlens.units import Value, duration_value, percent_value

if TYPE_CHECKING:
    from flowlens.log import EventLog

#: The version of log-distance-measures the referee uses (and refuses any other).
LDM_VERSION = "2.2.0"
#: The referee's measures, in its order.
METRICS = (
    "ngram_2",
    "ngram_3",
    "aed_h",
    "cad_h",
    "ced",
    "red_h",
    "ctd_h",
    "ct_mean_rel_err",
    "ct_median_rel_err",
)
METRIC_LABELS = {
    "ngram_2": "2-gram",
    "ngram_3": "3-gram",
    "aed_h": "AED h",
    "cad_h": "CAD h",
    "ced": "CED",
    "red_h": "RED h",
    "ctd_h": "CTD h",
    "ct_mean_rel_err": "mean CT err",
    "ct_median_rel_err": "median CT err",
}
COLUMNS = ["case_id", "activity", "resource", "start_time", "end_time"]
#: Verdict rule (methods §16.6): a check passes when its value is at most the reference's
#: value (what another real sample scores against the test) plus the check's margin.
#: Margin of relative errors (arrival rate, events per case, mean cycle time, time shares).
REL_MARGIN = 0.10
#: Margin of the n-gram distances.
NGRAM_MARGIN = 0.05
#: Margin of time distances (CAD, CTD) in hours: this share of the test's mean cycle time, and
#: never below one bin (1 h): a smaller distance is binning noise.
TIME_MARGIN_SHARE = 0.10
#: How many activities the per-part tables list.
TOP = 5
#: A step whose processing or waiting is misplaced by this share of the mean cycle time or
#: more is named in the fidelity summary (:meth:`FidelityResult.steps_off`): half the parts'
#: 10 % tolerance.
STEP_OFF = 0.05
PARTS = ("arrivals", "control_flow", "durations", "waiting", "cycle_time")
PART_LABELS = {
    "arrivals": "arrivals",
    "control_flow": "control flow",
    "durations": "durations",
    "waiting": "waiting",
    "cycle_time": "cycle time",
}

Step = Callable[[str], contextlib.AbstractContextManager[Any]]


# --------------------------------------------------------------------------- the measures


def _ldm() -> dict[str, Any]:
    import importlib.metadata as md

    try:
        version = md.version("log-distance-measures")
    except md.PackageNotFoundError:
        version = None
    if version != LDM_VERSION:
        found = f"found {version}" if version else "it is not installed"
        raise ConfigError(
            f"fidelity scores with log-distance-measures {LDM_VERSION} (as the referee), {found}",
            hint=f"pip install --no-deps log-distance-measures=={LDM_VERSION} (its pandas<3 pin is stricter than it "
            "needs; setup.sh does this)",
        )
    from log_distance_measures.absolute_event_distribution import absolute_event_distribution_distance
    from log_distance_measures.case_arrival_distribution import case_arrival_distribution_distance
    from log_distance_measures.circadian_event_distribution import circadian_event_distribution_distance
    from log_distance_measures.config import AbsoluteTimestampType, EventLogIDs, discretize_to_hour
    from log_distance_measures.cycle_time_distribution import cycle_time_distribution_distance
    from log_distance_measures.n_gram_distribution import n_gram_distribution_distance
    from log_distance_measures.relative_event_distribution import relative_event_distribution_distance

    return {
        "ids": EventLogIDs(
            case="case_id",
            activity="activity",
            start_time="start_time",
            end_time="end_time",
            resource="resource",
        ),
        "both": AbsoluteTimestampType.BOTH,
        "hour": discretize_to_hour,
        "ngram": n_gram_distribution_distance,
        "aed": absolute_event_distribution_distance,
        "cad": case_arrival_distribution_distance,
        "ced": circadian_event_distribution_distance,
        "red": relative_event_distribution_distance,
        "ctd": cycle_time_distribution_distance,
    }


def cycle_times_h(frame: pd.DataFrame) -> pd.Series:
    """Cycle time per case in hours: last end − first start (the referee's definition)."""
    g = frame.groupby("case_id")
    return (g["end_time"].max() - g["start_time"].min()).dt.total_seconds() / 3600.0


def distances(
    test: pd.DataFrame, other: pd.DataFrame, other_for_ced: pd.DataFrame | None = None
) -> dict[str, float]:
    """The referee's nine measures of ``other`` against ``test`` (the "original" log).

    Both frames are in the referee's layout (:data:`COLUMNS`, wall-clock times localised to
    UTC, rows in the order the referee reads them: see :func:`log_frame`). ``other_for_ced``
    replaces ``other`` for CED (the unshifted adjacent window). The values are those of
    log-distance-measures 2.2.0 (:func:`library_distances`), computed without its per-case
    loops (:func:`fast_distances`); an empty frame or one with a missing timestamp goes to the
    library.
    """
    frames = [test, other] + ([] if other_for_ced is None else [other_for_ced])
    if any(f.empty or f[c].isna().any() for f in frames for c in ("start_time", "end_time")):
        return library_distances(test, other, other_for_ced)
    return fast_distances(test, other, other_for_ced)


def library_distances(
    test: pd.DataFrame, other: pd.DataFrame, other_for_ced: pd.DataFrame | None = None
) -> dict[str, float]:
    """:func:`distances` by log-distance-measures 2.2.0 itself (as the referee calls it)."""
    L = _ldm()
    ids = L["ids"]
    ced_other = other if other_for_ced is None else other_for_ced
    ct_t, ct_o = cycle_times_h(test), cycle_times_h(other)
    return {
        "ngram_2": float(L["ngram"](test, ids, other, ids, n=2)),
        "ngram_3": float(L["ngram"](test, ids, other, ids, n=3)),
        "aed_h": float(L["aed"](test, ids, other, ids, L["both"], L["hour"])),
        "cad_h": float(L["cad"](test, ids, other, ids, L["hour"])),
        "ced": float(L["ced"](test, ids, ced_other, ids, L["both"])),
        "red_h": float(L["red"](test, ids, other, ids, L["both"], L["hour"])),
        "ctd_h": float(L["ctd"](test, ids, other, ids, dt.timedelta(hours=1))),
        "ct_mean_rel_err": float((ct_o.mean() - ct_t.mean()) / ct_t.mean()),
        "ct_median_rel_err": float((ct_o.median() - ct_t.median()) / ct_t.median()),
    }


# The referee's measures loop over cases in Python (about 30 s per simulated log of 5,000 cases).
# The functions below compute the very same integer bins (and n-gram counts) with numpy and hand
# them to the same scipy call log-distance-measures makes, so every value is identical to the
# library's (``tests/test_simulation_fidelity.py`` checks it on real logs); the library is still
# what :func:`distances` uses when a frame has a missing timestamp.


def _hour_bins(delta: pd.Series) -> np.ndarray:
    """``math.floor(td.total_seconds() / 3600)`` of each timedelta, as ldm's ``discretize_to_hour``."""
    return np.floor(delta.dt.total_seconds().to_numpy() / 3600).astype(np.int64)


def _case_codes(frame: pd.DataFrame) -> np.ndarray:
    return pd.factorize(frame["case_id"], sort=False)[0]


def _aed_bins(frame: pd.DataFrame, origin: pd.Timestamp) -> np.ndarray:
    return np.concatenate([_hour_bins(frame["start_time"] - origin), _hour_bins(frame["end_time"] - origin)])


def _first_starts(frame: pd.DataFrame) -> pd.Series:
    return frame.groupby("case_id", sort=False)["start_time"].min()


def _red_bins(frame: pd.DataFrame) -> np.ndarray:
    case_start = frame.groupby("case_id", sort=False)["start_time"].transform("min")
    return np.concatenate(
        [_hour_bins(frame["start_time"] - case_start), _hour_bins(frame["end_time"] - case_start)]
    )


def _weekday_hours(frame: pd.DataFrame) -> pd.DataFrame:
    inst = pd.concat([frame["start_time"], frame["end_time"]]).reset_index(drop=True)
    return pd.DataFrame({"weekday": inst.dt.dayofweek.to_numpy(), "hour": inst.dt.hour.to_numpy()})


def _ngram_counts(frame: pd.DataFrame, codes: dict[str, int], n: int) -> dict[int, int]:
    """n-gram counts of ldm's ``_compute_n_grams``: each case's activities ordered by start then
    end (ties in the frame's order), padded with n − 1 zeros at both ends; an n-gram is keyed by
    its codes in base (activities + 1)."""
    case = _case_codes(frame)
    order = np.lexsort((_us(frame["end_time"]), _us(frame["start_time"]), case))
    act = frame["activity"].map(codes).to_numpy(dtype=np.int64)[order]
    case = case[order]
    n_cases = int(case.max()) + 1 if len(case) else 0
    lengths = np.bincount(case, minlength=n_cases)
    padded = lengths + 2 * (n - 1)
    begin = np.concatenate([[0], np.cumsum(padded)[:-1]])
    seq = np.zeros(int(padded.sum()), dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    within = np.arange(len(case)) - first[case]
    seq[begin[case] + (n - 1) + within] = act
    base = len(codes) + 1
    grams_per_case = lengths + n - 1
    pos = np.repeat(begin, grams_per_case) + (
        np.arange(int(grams_per_case.sum()))
        - np.repeat(np.cumsum(grams_per_case) - grams_per_case, grams_per_case)
    )
    key = np.zeros(len(pos), dtype=np.int64)
    for t in range(n):
        key = key * base + seq[pos + t]
    values, counts = np.unique(key, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


def _ngram(test: pd.DataFrame, other: pd.DataFrame, n: int) -> float:
    labels = sorted(set(test["activity"].unique().tolist()) | set(other["activity"].unique().tolist()))
    codes = {a: i + 1 for i, a in enumerate(labels)}
    h1, h2 = _ngram_counts(test, codes, n), _ngram_counts(other, codes, n)
    keys = set(h1) | set(h2)
    diff = sum(abs(h1.get(k, 0) - h2.get(k, 0)) for k in keys)
    return diff / (sum(h1.values()) + sum(h2.values()))


def fast_distances(
    test: pd.DataFrame, other: pd.DataFrame, other_for_ced: pd.DataFrame | None = None
) -> dict[str, float]:
    """:func:`distances` computed without per-case Python loops: the same bins and counts as
    log-distance-measures 2.2.0, scored by the same scipy function, so the same numbers."""
    from statistics import mean

    from scipy.stats import wasserstein_distance as w

    ced_other = other if other_for_ced is None else other_for_ced
    # AED: every start and end, hours since the earliest start of both (floored to the hour)
    origin = min(test["start_time"].min(), other["start_time"].min()).floor(freq="h")
    aed = float(w(_aed_bins(test, origin), _aed_bins(other, origin)))
    # CAD: each case's first start, hours since the earliest of both
    a_t, a_o = _first_starts(test), _first_starts(other)
    first = min(a_t.min(), a_o.min()).floor(freq="h")
    cad = float(w(_hour_bins(a_t - first), _hour_bins(a_o - first)))
    # CED: per weekday, the hours of day of every start and end
    c_t, c_o = _weekday_hours(test), _weekday_hours(ced_other)
    per_day = []
    for day in range(7):
        x = c_t["hour"].to_numpy()[c_t["weekday"].to_numpy() == day]
        y = c_o["hour"].to_numpy()[c_o["weekday"].to_numpy() == day]
        if len(x) and len(y):
            per_day.append(w(x, y))
        elif not len(x) and not len(y):
            per_day.append(0.0)
        else:
            per_day.append(23.0)
    # RED: every start and end, hours since its case's first start
    red = float(w(_red_bins(test), _red_bins(other)))
    # CTD: cycle times in 1-hour bins from the shortest of both
    g_t, g_o = test.groupby("case_id", sort=False), other.groupby("case_id", sort=False)
    d_t = g_t["end_time"].max() - g_t["start_time"].min()
    d_o = g_o["end_time"].max() - g_o["start_time"].min()
    shortest = min(d_t.min(), d_o.min())
    hour = pd.Timedelta(hours=1)
    ctd = float(
        w(
            np.floor(((d_t - shortest) / hour).to_numpy()).astype(np.int64),
            np.floor(((d_o - shortest) / hour).to_numpy()).astype(np.int64),
        )
    )
    ct_t, ct_o = cycle_times_h(test), cycle_times_h(other)
    return {
        "ngram_2": float(_ngram(test, other, 2)),
        "ngram_3": float(_ngram(test, other, 3)),
        "aed_h": aed,
        "cad_h": cad,
        "ced": float(mean(per_day)),
        "red_h": red,
        "ctd_h": ctd,
        "ct_mean_rel_err": float((ct_o.mean() - ct_t.mean()) / ct_t.mean()),
        "ct_median_rel_err": float((ct_o.median() - ct_t.median()) / ct_t.median()),
    }


def _summary(values: list[float]) -> dict[str, Any]:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return {
        "values": values,
        "mean": statistics.fmean(vals) if vals else None,
        "sd": statistics.stdev(vals) if len(vals) > 1 else None,
        "n": len(vals),
    }


# --------------------------------------------------------------------------- frames


def wallclock_utc(values: pd.Series, tz: str) -> pd.Series:
    """Instants as the referee reads them: the wall-clock time in ``tz``, to the microsecond,
    labelled UTC (an offset is dropped, not applied)."""
    s = pd.to_datetime(values, utc=True).dt.tz_convert(tz).dt.tz_localize(None)
    s = s.dt.floor("us").astype("datetime64[us]")
    return s.dt.tz_localize("UTC")


def case_order(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per case (case_id, first_start, last_end), ordered by first start, ties by case
    id as text: the referee's split order."""
    g = frame.groupby("case_id", sort=False).agg(
        first_start=("start_time", "min"), last_end=("end_time", "max")
    )
    g = g.reset_index()
    g["case_key"] = g["case_id"].astype(str)
    return g.sort_values(["first_start", "case_key"], kind="mergesort").reset_index(drop=True)


def order_events(frame: pd.DataFrame, cases: pd.DataFrame) -> pd.DataFrame:
    """Events by case rank, then start, then end; ties keep the frame's order (as the referee)."""
    rank = pd.Series(np.arange(len(cases)), index=cases["case_id"].to_numpy())
    out = frame.assign(_rank=frame["case_id"].map(rank).to_numpy())
    out = out.sort_values(["_rank", "start_time", "end_time"], kind="mergesort")
    return out.drop(columns="_rank").reset_index(drop=True)


def log_frame(log: EventLog) -> pd.DataFrame:
    """The log in the referee's layout: ``case_id, activity, resource, start_time, end_time``
    (wall-clock time in the log's zone, labelled UTC) plus ``case_idx``, rows in source order.

    An instance without a recorded start is taken as instantaneous at its end (the referee
    would drop it, and with it the step from the control flow).
    """
    t = log.table
    cols = ["case_idx", "case_id", "activity", "resource", "start_us", "end_us"]
    order = ["src_row", "eid"] if "src_row" in t.columns else ["eid"]
    df = t.select(*cols, *order).order_by(order).to_pandas()
    start_us = df["start_us"].astype("Int64").fillna(df["end_us"].astype("Int64"))
    out = pd.DataFrame(
        {
            "case_id": df["case_id"].astype(str),
            "activity": df["activity"].astype(str),
            "resource": df["resource"],
            "start_time": wallclock_utc(pd.to_datetime(start_us, unit="us", utc=True), log.timezone),
            "end_time": wallclock_utc(pd.to_datetime(df["end_us"], unit="us", utc=True), log.timezone),
            "case_idx": df["case_idx"].to_numpy(),
        }
    )
    return out


def sim_frame(sim: pd.DataFrame, tz: str) -> pd.DataFrame:
    """A simulated log (``simulate``'s frame) in the referee's layout, rows as written."""
    return pd.DataFrame(
        {
            "case_id": sim["case_id"].astype(str),
            "activity": sim["activity"].astype(str),
            "resource": sim["resource"] if "resource" in sim.columns else None,
            "start_time": wallclock_utc(sim["start_time"], tz),
            "end_time": wallclock_utc(sim["end_time"], tz),
        }
    ).reset_index(drop=True)


@dataclass
class Split:
    """The parts the protocol compares (referee layout frames) and the train cases."""

    mode: str
    train: pd.DataFrame
    test: pd.DataFrame
    #: the adjacent window (chronological split) or None (given pair: train is the reference)
    adjacent: pd.DataFrame | None
    train_case_idx: np.ndarray | None = None


def split_frame(frame: pd.DataFrame, test_share: float) -> Split:
    """The referee's chronological split of one log (module notes)."""
    if not 0 < test_share < 1:
        raise ConfigError(f"--test-share must be between 0 and 1 (e.g. 0.2), got {test_share}")
    cases = case_order(frame)
    n = len(cases)
    n_train = round((1 - test_share) * n)  # as the referee: round half to even
    n_test = n - n_train
    if n_test < 1 or n_train < n_test:
        raise ConfigError(
            f"cannot split {n} cases with a test share of {test_share}: the test part needs at "
            f"least one case and no more cases than the train part",
            hint="give a test share between 0 and 0.5",
        )
    ids = cases["case_id"].to_numpy()
    train_ids, test_ids, adj_ids = ids[:n_train], ids[n_train:], ids[n_train - n_test : n_train]
    ordered = order_events(frame, cases)
    part = ordered["case_id"]
    train = ordered[part.isin(train_ids)].reset_index(drop=True)
    return Split(
        mode="chronological_split",
        train=train[COLUMNS],
        test=ordered[part.isin(test_ids)][COLUMNS].reset_index(drop=True),
        adjacent=ordered[part.isin(adj_ids)][COLUMNS].reset_index(drop=True),
        train_case_idx=np.unique(train["case_idx"].to_numpy()),
    )


def given_pair(train: pd.DataFrame, test: pd.DataFrame) -> Split:
    """A given train/test pair, each ordered as the referee orders it."""
    return Split(
        mode="given_pair",
        train=order_events(train, case_order(train))[COLUMNS],
        test=order_events(test, case_order(test))[COLUMNS],
        adjacent=None,
    )


def reference(split: Split) -> dict[str, Any]:
    """The reference distances, computed as the referee computes them (module notes)."""
    if split.adjacent is None:
        return {
            "kind": "noise_floor_train_vs_test",
            "note": M_("given train/test pair: distance of the real train log to the real test log"),
            "values": distances(split.test, split.train),
        }
    adj = split.adjacent
    shift = split.test["start_time"].min() - adj["start_time"].min()
    shifted = adj.assign(start_time=adj["start_time"] + shift, end_time=adj["end_time"] + shift)
    return {
        "kind": "adjacent_window",
        "note": M_(
            "the test cases vs the same number of cases just before them (drift plus sampling "
            "noise, not a floor); AED/CAD on the window shifted to the test's first case start, "
            "CED on the unshifted window"
        ),
        "shift_h": shift.total_seconds() / 3600.0,
        "values": distances(split.test, shifted, other_for_ced=adj),
    }


# --------------------------------------------------------------------------- diagnostics


def _us(s: pd.Series) -> np.ndarray:
    """Datetimes as integer microseconds."""
    return np.asarray(pd.DatetimeIndex(s).as_unit("us").asi8, dtype=np.int64)


def activity_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Per activity: instances, instances per case, processing time (end − start) and the
    customer waiting charged to the instance (methods §6.3: the time before its start when
    nothing of its case was in progress), median and mean in seconds.

    Several frames (the K simulated logs) are pooled by giving each its own case ids first.
    """
    f = frame.sort_values(["case_id", "start_time", "end_time"], kind="mergesort")
    case = f["case_id"].to_numpy()
    start, end = _us(f["start_time"]), _us(f["end_time"])
    proc = (end - start) / 1e6
    # frontier: the latest end of the instances that started before (the case start for the
    # first); an instance that starts after it waited for the gap
    prev_max = pd.Series(end).groupby(case).cummax().groupby(case).shift(1)
    case_start = pd.Series(start).groupby(case).transform("min")
    frontier = np.maximum(prev_max.fillna(case_start).to_numpy(dtype=np.float64), case_start.to_numpy())
    wait = np.maximum(start - frontier, 0.0) / 1e6
    n_cases = int(pd.unique(case).size)
    d = pd.DataFrame({"activity": f["activity"].to_numpy(), "proc": proc, "wait": wait})
    g = d.groupby("activity", sort=True)
    out = pd.DataFrame(
        {
            "instances": g.size(),
            "proc_median_s": g["proc"].median(),
            "proc_mean_s": g["proc"].mean(),
            "wait_median_s": g["wait"].median(),
            "wait_mean_s": g["wait"].mean(),
        }
    )
    out.insert(1, "per_case", out["instances"] / max(n_cases, 1))
    return out


def pooled(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The K simulated logs as one frame, case ids made distinct (replica prefix)."""
    return pd.concat(
        [f.assign(case_id=f"{i}:" + f["case_id"].astype(str)) for i, f in enumerate(frames)],
        ignore_index=True,
    )


#: Share of case starts at each end left out of the arrival rate (a few cases whose first step
#: started very late must not decide it).
RATE_TRIM = 0.05


def arrival_rate_per_day(frame: pd.DataFrame) -> float | None:
    """Cases per day over the central 90 % of case starts: with the n first starts in order
    s_0 ≤ … ≤ s_{n-1} and i = round(0.05 (n − 1)), j = n − 1 − i, the rate is
    (j − i) ÷ days from s_i to s_j (None for fewer than two cases or a zero span).

    >>> import pandas as pd
    >>> days = [*pd.date_range("2024-01-01", periods=20, freq="D"), pd.Timestamp("2024-06-01")]
    >>> f = pd.DataFrame({"case_id": range(21), "start_time": days})
    >>> arrival_rate_per_day(f)   # one case a day; the very late one does not count
    1.0
    """
    starts = np.sort(_us(frame.groupby("case_id")["start_time"].min()))
    n = len(starts)
    if n < 2:
        return None
    i = round(RATE_TRIM * (n - 1))
    j = n - 1 - i
    if j <= i:
        i, j = 0, n - 1
    span_d = float(starts[j] - starts[i]) / 86400e6
    return (j - i) / span_d if span_d > 0 else None


def _rel(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or (isinstance(a, float) and math.isnan(a)):
        return None
    return a / b - 1.0


def _time_shares(stats_o: pd.DataFrame, stats_t: pd.DataFrame, col: str, ct_mean_s: float) -> pd.DataFrame:
    """Per activity of the test: what the other log's mean ``col`` shifts the test's mean cycle
    time by, at the test's frequency ((other mean − test mean) × test instances per case ÷
    test mean cycle time). Activities the other log lacks count with their whole test mean."""
    t = stats_t[["per_case", f"{col}_median_s", f"{col}_mean_s"]]
    o = stats_o.reindex(t.index)[["per_case", f"{col}_median_s", f"{col}_mean_s"]]
    diff = o[f"{col}_mean_s"].fillna(0.0) - t[f"{col}_mean_s"]
    share = diff * t["per_case"] / ct_mean_s if ct_mean_s > 0 else diff * 0.0
    return pd.DataFrame(
        {
            "test_per_case": t["per_case"],
            "test_median_s": t[f"{col}_median_s"],
            "sim_median_s": o[f"{col}_median_s"],
            "test_mean_s": t[f"{col}_mean_s"],
            "sim_mean_s": o[f"{col}_mean_s"],
            "ct_share": share,
        }
    )


@dataclass
class Check:
    """One number a part is judged by: the simulated logs' value against the tolerance."""

    part: str
    name: str
    value: float | None
    reference: float | None
    tolerance: float
    passed: bool
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(part: str, name: str, value: float | None, ref: float | None, margin: float, text: str) -> Check:
    tol = ref + margin if ref is not None and not math.isnan(ref) else margin
    ok = value is not None and not math.isnan(value) and value <= tol
    return Check(part, name, value, ref, tol, bool(ok), text)


def _pct(x: float | None) -> Value:
    """A signed relative error for a check's sentence (English ``+12 %``)."""
    return Value("signed_percent", x, "–" if x is None else f"{100 * x:+.0f} %", 0)


def _h(seconds: float | None) -> str:
    from flowlens.units import human_duration

    return human_duration(seconds)


def _hv(seconds: float | None) -> Value:
    """A duration for a check's sentence (English as :func:`_h` writes it)."""
    return duration_value(seconds, _h(seconds))


def _table(df: pd.DataFrame, key: str, n: int = TOP) -> list[dict[str, Any]]:
    """The ``n`` rows of largest |key|, ties by activity name, as records."""
    d = df.assign(_abs=df[key].abs()).reset_index(names="activity")
    d = d.sort_values(["_abs", "activity"], ascending=[False, True], kind="mergesort").head(n)
    recs = d.drop(columns="_abs").to_dict("records")
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in recs]


def _num(x: float | None, fmt: str) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def _val(x: float | None, fmt: str, unit: str = "") -> Value:
    """A measure for a check's sentence: English as ``_num`` writes it (and ``unit``); hours
    as a duration in another language."""
    missing = x is None or (isinstance(x, float) and math.isnan(x))
    english = _num(x, fmt) + ("" if missing else unit)
    if unit.strip() == "h":
        return duration_value(None if missing else float(x) * 3600.0, english)  # type: ignore[arg-type]
    digits = int(fmt.lstrip(".").rstrip("f") or 0)
    return Value("number", None if missing else float(x), english, digits)  # type: ignore[arg-type]


def diagnose(
    test: pd.DataFrame,
    sims: list[pd.DataFrame],
    ref_frame: pd.DataFrame,
    metrics: dict[str, dict[str, Any]],
    ref_values: dict[str, float],
    ref_name: str = "the reference",
) -> dict[str, Any]:
    """Per-part diagnostics and verdicts (methods §16.6): each number is computed the same way
    on the simulated logs (pooled) and on the reference log (``ref_frame``), both against the
    test; ``ref_name`` names the reference in the sentences."""
    sim = pooled(sims)
    st_t, st_s, st_r = activity_stats(test), activity_stats(sim), activity_stats(ref_frame)
    ct_t = cycle_times_h(test)
    ct_mean_s = float(ct_t.mean()) * 3600.0
    time_margin = max(1.0, TIME_MARGIN_SHARE * ct_mean_s / 3600.0)
    m = {k: v["mean"] for k, v in metrics.items()}
    checks: dict[str, list[Check]] = {p: [] for p in PARTS}
    details: dict[str, dict[str, Any]] = {p: {} for p in PARTS}

    def distance(part: str, metric: str, margin: float, fmt: str, unit: str = "") -> None:
        v, r = m.get(metric), ref_values.get(metric)
        text = M_(
            "{measure} {value} ({reference}: {reference_value})",
            measure=METRIC_LABELS[metric].removesuffix(" h"),
            value=_val(v, fmt, unit),
            reference=ref_name,
            reference_value=_val(r, fmt, unit),
        )
        checks[part].append(_check(part, metric, v, r, margin, text))

    def relative(part: str, name: str, e_s: float | None, e_r: float | None, text: str) -> None:
        text = M_(
            "{text} ({error}; {reference}: {reference_error})",
            text=text,
            error=_pct(e_s),
            reference=ref_name,
            reference_error=_pct(e_r),
        )
        a_s = None if e_s is None else abs(e_s)
        a_r = None if e_r is None else abs(e_r)
        checks[part].append(_check(part, name, a_s, a_r, REL_MARGIN, text))

    # arrivals: how many cases a day, and when they come
    rate_t, rate_r = arrival_rate_per_day(test), arrival_rate_per_day(ref_frame)
    rates_s = [arrival_rate_per_day(f) for f in sims]
    known = [r for r in rates_s if r is not None]
    rate_s = statistics.fmean(known) if known else None
    early = None
    if rate_t and rate_s:
        early = (len(ct_t) - 1) / rate_t - (len(ct_t) - 1) / rate_s
    rates = {"simulated": _val(rate_s, ".1f"), "test": _val(rate_t, ".1f")}
    text = M_("{simulated} cases a day simulated vs {test} in the test", **rates)
    if early is not None and abs(early) >= 0.5:
        days = duration_value(abs(early) * 86400.0, f"{abs(early):.1f} days")
        if early > 0:
            text = M_(
                "{simulated} cases a day simulated vs {test} in the test: at that rate the test's "
                "cases arrive {days} early",
                days=days,
                **rates,
            )
        else:
            text = M_(
                "{simulated} cases a day simulated vs {test} in the test: at that rate the test's "
                "cases arrive {days} late",
                days=days,
                **rates,
            )
    relative("arrivals", "arrival_rate_err", _rel(rate_s, rate_t), _rel(rate_r, rate_t), text)
    distance("arrivals", "cad_h", time_margin, ".2f", " h")
    details["arrivals"] = {
        "arrivals_per_day": {
            "test": rate_t,
            "simulated": rate_s,
            "reference": rate_r,
            "simulated_per_log": rates_s,
        },
        "simulated_arrivals_end_days_early": early,
    }

    # control flow: paths and how many steps a case takes
    epc_t = float(st_t["instances"].sum()) / max(test["case_id"].nunique(), 1)
    epc_s = float(st_s["instances"].sum()) / max(sim["case_id"].nunique(), 1)
    epc_r = float(st_r["instances"].sum()) / max(ref_frame["case_id"].nunique(), 1)
    distance("control_flow", "ngram_2", NGRAM_MARGIN, ".3f")
    distance("control_flow", "ngram_3", NGRAM_MARGIN, ".3f")
    relative(
        "control_flow",
        "events_per_case_err",
        _rel(epc_s, epc_t),
        _rel(epc_r, epc_t),
        M_(
            "{simulated} steps per case simulated vs {test} in the test",
            simulated=_val(epc_s, ".2f"),
            test=_val(epc_t, ".2f"),
        ),
    )
    freq = pd.concat(
        [st_t["per_case"].rename("test_per_case"), st_s["per_case"].rename("sim_per_case")], axis=1
    ).fillna(0.0)
    freq["difference"] = freq["sim_per_case"] - freq["test_per_case"]
    worst = _table(freq, "difference")
    if worst and abs(worst[0]["difference"]) >= 0.05:
        w = worst[0]
        last = checks["control_flow"][-1]
        last.text = M_(
            "{text}; most off: '{activity}' {simulated} times per case vs {test}",
            text=last.text,
            activity=w["activity"],
            simulated=_val(w["sim_per_case"], ".2f"),
            test=_val(w["test_per_case"], ".2f"),
        )
    details["control_flow"] = {
        "events_per_case": {"test": epc_t, "simulated": epc_s, "reference": epc_r},
        "activities_most_off": worst,
    }

    # durations and waiting: the share of the test's mean cycle time each misplaces
    for part, col, what in (("durations", "proc", "processing"), ("waiting", "wait", "waiting")):
        sh_s = _time_shares(st_s, st_t, col, ct_mean_s)
        sh_r = _time_shares(st_r, st_t, col, ct_mean_s)
        v_s, v_r = float(sh_s["ct_share"].abs().sum()), float(sh_r["ct_share"].abs().sum())
        worst = _table(sh_s, "ct_share")
        shares = {
            "simulated": percent_value(v_s, f"{100 * v_s:.0f} %", 0),
            "reference": ref_name,
            "reference_share": percent_value(v_r, f"{100 * v_r:.0f} %", 0),
        }
        if what == "processing":
            text = M_(
                "processing times misplace {simulated} of the mean cycle time ({reference}: {reference_share})",
                **shares,
            )
        else:
            text = M_(
                "waiting times misplace {simulated} of the mean cycle time ({reference}: {reference_share})",
                **shares,
            )
        if worst and abs(worst[0]["ct_share"]) > 0:
            w = worst[0]
            text = M_(
                "{text}; most in '{activity}': median {sim_median} simulated vs {test_median}, mean "
                "{sim_mean} vs {test_mean}",
                text=text,
                activity=w["activity"],
                sim_median=_hv(w["sim_median_s"]),
                test_median=_hv(w["test_median_s"]),
                sim_mean=_hv(w["sim_mean_s"]),
                test_mean=_hv(w["test_mean_s"]),
            )
        checks[part].append(_check(part, f"{col}_ct_share", v_s, v_r, REL_MARGIN, text))
        details[part] = {"activities_most_off": worst, "reference_share": v_r}

    # the cycle time they add up to (what a what-if estimates)
    distance("cycle_time", "ctd_h", time_margin, ".2f", " h")
    ce = m.get("ct_mean_rel_err")
    relative(
        "cycle_time",
        "ct_mean_rel_err",
        ce,
        ref_values.get("ct_mean_rel_err"),
        M_(
            "mean cycle time {simulated} simulated vs {test}",
            simulated=_hv(ct_mean_s * (1 + ce)) if ce is not None else Value("number", None, "–"),
            test=_hv(ct_mean_s),
        ),
    )
    details["cycle_time"] = {
        "test_mean_cycle_time_s": ct_mean_s,
        "test_median_cycle_time_s": float(ct_t.median()) * 3600.0,
    }
    return {
        p: {
            "good": all(c.passed for c in checks[p]),
            "checks": [c.to_dict() for c in checks[p]],
            "details": details[p],
        }
        for p in PARTS
    }


# --------------------------------------------------------------------------- the result


@dataclass
class FidelityResult:
    """What :func:`fidelity` measured; ``to_dict()`` is the ``--json`` object."""

    mode: str
    k: int
    seed: int
    test_share: float | None
    #: cases and events of train and test, the test's first start (ISO, log's zone)
    split: dict[str, Any]
    #: metric -> values over K, mean, sd, n, reference, ratio (mean ÷ reference)
    metrics: dict[str, dict[str, Any]]
    #: kind, note, values (and shift_h for the adjacent window)
    reference: dict[str, Any]
    #: part -> good, checks, details
    parts: dict[str, dict[str, Any]]
    #: trust (bool), summary sentence, reasons (one per failed check)
    verdict: dict[str, Any]
    timing: dict[str, float] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))

    def summary(self) -> dict[str, Any]:
        """The fidelity block a what-if carries (``flowlens whatif --json``'s ``fidelity``):
        trusted, the verdict sentence, the failing parts and reasons, the CTD ratio and the
        mean cycle-time error."""
        ctd = self.metrics.get("ctd_h", {})
        return {
            "trusted": bool(self.verdict.get("trust")),
            "summary": self.verdict.get("summary"),
            "failing_parts": list(self.verdict.get("failing_parts") or []),
            "ctd_ratio": ctd.get("ratio"),
            "mean_cycle_time_error": self.metrics.get("ct_mean_rel_err", {}).get("mean"),
            "reasons": list(self.verdict.get("reasons") or []),
            "steps_off": self.steps_off(),
        }

    def steps_off(self) -> list[dict[str, Any]]:
        """The steps whose held-out processing or waiting the model misplaces by at least
        :data:`STEP_OFF` of the mean cycle time (part, activity, share; largest first), whether
        or not their part is within its tolerance as a whole: a what-if that changes them, or
        their pool, rests on what the model gets wrong (methods §17.3)."""
        out = []
        for part in ("durations", "waiting"):
            p = self.parts.get(part) or {}
            for row in (p.get("details") or {}).get("activities_most_off") or []:
                v = row.get("ct_share")
                if v is not None and abs(float(v)) >= STEP_OFF:
                    out.append(
                        {"part": part, "activity": str(row["activity"]), "ct_share": round(float(v), 4)}
                    )
        return sorted(out, key=lambda r: (-abs(r["ct_share"]), r["activity"], r["part"]))

    def table(self) -> list[dict[str, Any]]:
        """Rows of the metric table: metric, label, mean, sd, reference, ratio."""
        return [
            {
                "metric": k,
                "label": METRIC_LABELS[k],
                **{x: self.metrics[k][x] for x in ("mean", "sd", "reference", "ratio")},
            }
            for k in METRICS
        ]


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return None if math.isnan(v) else v
    if isinstance(x, (np.bool_,)):
        return bool(x)
    return x


def verdict(parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Trust what-ifs when every part is good; otherwise say which parts fail and why."""
    reasons = [
        f"{PART_LABELS[p]}: {c['text']} (tolerance {_tol_text(c)})"
        for p in PARTS
        for c in parts[p]["checks"]
        if not c["passed"]
    ]
    bad = [PART_LABELS[p] for p in PARTS if not parts[p]["good"]]
    trust = not bad
    summary = (
        "good enough to trust what-ifs: every part is within its tolerance"
        if trust
        else "not good enough to trust what-ifs: the model gets " + ", ".join(bad) + " wrong"
    )
    return {"trust": trust, "summary": summary, "failing_parts": bad, "reasons": reasons}


def _tol_text(c: dict[str, Any]) -> str:
    t = c["tolerance"]
    if c["name"].endswith("_err") or c["name"].endswith("_share"):
        return f"≤ {100 * t:.0f} %"
    if c["name"].startswith("ngram"):
        return f"≤ {t:.3f}"
    return f"≤ {t:.2f} h"


# --------------------------------------------------------------------------- the run


def score_all(test: pd.DataFrame, sims: list[pd.DataFrame], jobs: int = 1) -> list[dict[str, float]]:
    """:func:`distances` of every simulated log against ``test``, in ``jobs`` processes
    (the measures loop over cases in Python: the slow part of a fidelity run)."""
    from flowlens.simulation.processes import run_in_processes

    return run_in_processes(distances, [(test, s) for s in sims], jobs)


def _keep_cases(log: EventLog, case_idx: np.ndarray, description: str) -> EventLog:
    import ibis

    keys = ibis.memtable(pd.DataFrame({"k": case_idx.astype(np.int64)}))
    t = log.table
    return log.derive(t.semi_join(keys, t.case_idx == keys.k).select(t.columns), description)


@contextlib.contextmanager
def _quiet(label: str) -> Iterator[None]:
    yield


def fidelity(
    log: EventLog,
    *,
    k: int = 5,
    test_share: float = 0.2,
    seed: int = 1,
    test_log: EventLog | None = None,
    jobs: int = 1,
    step: Step | None = None,
    **fit_options: Any,
) -> FidelityResult:
    """Fit on the first part of ``log``, simulate the rest K times and score it (module notes).

    ``test_log`` gives the test part (``log`` is then the train part, as the referee's given
    pair). The K logs are scored in ``jobs`` forked processes (the result does not depend on
    it). ``fit_options`` go to :func:`~flowlens.simulation.fit.fit_model` (``calendars``,
    ``other_work``). ``step(label)`` is a context manager wrapped around each long step
    (progress display).

    >>> import flowlens, numpy as np, pandas as pd
    >>> t0 = pd.Timestamp("2024-03-04 09:00") + pd.to_timedelta(np.arange(60) * 3600, unit="s")
    >>> starts = np.concatenate([t0, t0 + pd.Timedelta(minutes=30)])
    >>> df = pd.DataFrame({"case_id": np.tile(np.arange(60), 2), "activity": ["open"] * 60 + ["close"] * 60,
    ...                    "start_time": starts, "end_time": starts + pd.Timedelta(minutes=10)})
    >>> r = fidelity(flowlens.read_log(df), k=2)
    >>> r.split["train"]["cases"], r.split["test"]["cases"], r.metrics["ngram_2"]["mean"]
    (48, 12, 0.0)
    >>> sorted(r.parts) == sorted(PARTS) and isinstance(r.verdict["trust"], bool)
    True
    """
    from flowlens.simulation.engine import simulate
    from flowlens.simulation.fit import fit_model

    if k < 1:
        raise ConfigError(f"--k must be at least 1, got {k}")
    step = step or _quiet
    _ldm()  # refuse before any work when the measures are missing
    timing: dict[str, float] = {}
    t0 = time.perf_counter()
    with step("splitting the log"):
        frame = log_frame(log)
        if test_log is None:
            split = split_frame(frame, test_share)
            assert split.train_case_idx is not None
            train_log = _keep_cases(
                log, split.train_case_idx, f"fidelity: the first {1 - test_share:.0%} of cases"
            )
        else:
            tframe = log_frame(test_log)
            split = given_pair(frame, tframe)
            train_log = log
    timing["split_s"] = time.perf_counter() - t0
    n_test = int(split.test["case_id"].nunique())
    n_train = int(split.train["case_id"].nunique())
    first = split.test["start_time"].min()
    # the test's first start, back in the log's zone (the frame holds wall-clock time)
    tz = log.timezone
    start = pd.Timestamp(first.tz_localize(None)).tz_localize(tz, ambiguous=True, nonexistent="shift_forward")

    t0 = time.perf_counter()
    with step(f"fitting the model on {n_train:,} train cases"):
        model = fit_model(train_log, **fit_options)
    timing["fit_s"] = time.perf_counter() - t0
    sims: list[pd.DataFrame] = []
    t0 = time.perf_counter()
    with step(f"simulating {k} logs of {n_test:,} cases"):
        for i in range(k):
            out = simulate(model, cases=n_test, start=start, seed=seed + i)
            sims.append(sim_frame(out, model.timezone))
    timing["simulate_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with step("scoring against the test part"):
        ref = reference(split)
        values = score_all(split.test, sims, jobs)
    timing["score_s"] = time.perf_counter() - t0
    metrics = {mname: _summary([v[mname] for v in values]) for mname in METRICS}
    for mname, s in metrics.items():
        r = ref["values"].get(mname)
        s["reference"] = r
        s["ratio"] = (
            s["mean"] / r if not mname.endswith("rel_err") and s["mean"] is not None and r and r > 0 else None
        )
    ref_frame = split.train if split.adjacent is None else split.adjacent
    ref_name = M_("train") if split.adjacent is None else M_("the window before")
    parts = diagnose(split.test, sims, ref_frame, metrics, ref["values"], ref_name)
    return FidelityResult(
        mode=split.mode,
        k=k,
        seed=seed,
        test_share=test_share if test_log is None else None,
        split={
            "train": {"cases": n_train, "events": len(split.train)},
            "test": {"cases": n_test, "events": len(split.test), "first_start": start.isoformat()},
        },
        metrics=metrics,
        reference=ref,
        parts=parts,
        verdict=verdict(parts),
        timing=timing,
        model=_model_summary(model),
    )


def _model_summary(model: Any) -> dict[str, Any]:
    try:
        acts = model.activity_names()
        return {"activities": len(acts), "pools": len(model.pools), "order": model.control_flow.get("order")}
    except Exception:  # a summary is informative only
        return {}


__all__ = [
    "LDM_VERSION",
    "METRICS",
    "Check",
    "FidelityResult",
    "activity_stats",
    "case_order",
    "distances",
    "fidelity",
    "log_frame",
    "reference",
    "split_frame",
]
