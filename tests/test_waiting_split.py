"""The waiting-cause split by prefix sums equals the sweep's, number for number (issue 14).

The sweep (the definition, methods 7.1) and the prefix-sum path of
:mod:`flowlens.analysis.waiting_split` must give the same five causes for every waiting
instance: on generated logs that put long waits on busy people, overlapping work, parallel
batches, queue steps with a performer, other work, shift calendars given and discovered, and on
shared real logs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import flowlens
from conftest import SHARED, shared_path
from flowlens.analysis.waiting import CAUSES, waiting_causes
from flowlens.analysis.waiting_split import _range_min, _wavelet_sums
from flowlens.timing.calendars import CalendarSet, WorkCalendar
from flowlens.timing.model import time_model

HOUR = 3600


def both(tm, **kw) -> tuple[pd.DataFrame, pd.DataFrame]:
    out = []
    for method in ("sweep", "prefix"):
        w = waiting_causes(tm, method=method, **kw).per_instance.to_pandas()
        out.append(w.sort_values("eid").reset_index(drop=True))
    return out[0], out[1]


def assert_same(tm, **kw) -> int:
    sweep, prefix = both(tm, **kw)
    cols = ["eid", "wait_us", *[f"{c}_us" for c in CAUSES]]
    pd.testing.assert_frame_equal(sweep[cols], prefix[cols], check_dtype=False)
    # the parts add up to the waiting
    assert (prefix[[f"{c}_us" for c in CAUSES]].sum(axis=1) == prefix.wait_us).all()
    return len(prefix)


def generated(seed: int, *, cases: int = 80, queue_with_performer: bool = False) -> pd.DataFrame:
    """Cases of 3-6 steps served by four people one at a time (queues: contention; a random
    delay before a step is picked up lets later steps overtake it: prioritisation), some steps
    in daily parallel batches, customer delays from minutes to days, times over three weeks."""
    import heapq

    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2024-03-04 08:00").value // 1000
    people = ["ann", "bob", "cy", "dee"]
    plans = []
    for _ in range(cases):
        steps = []
        for _ in range(int(rng.integers(3, 7))):
            act = ["open", "check", "approve", "call", "close", "fix"][int(rng.integers(0, 6))]
            if queue_with_performer and rng.random() < 0.15:
                act = "Queue"
            res = people[int(rng.integers(0, 4))] if rng.random() < 0.9 else None
            steps.append((act, res, int(rng.integers(1, 90)) * 60_000_000))
        plans.append(steps)
    free = dict.fromkeys(people, t0)
    ready = [(t0 + int(rng.integers(0, 14 * 24 * 60)) * 60_000_000, c, 0) for c in range(cases)]
    heapq.heapify(ready)
    rows = []
    while ready:
        t, c, k = heapq.heappop(ready)
        act, res, dur = plans[c][k]
        pick = t + int(rng.choice([0, 0, 5, 45, 300])) * 60_000_000
        if rng.random() < 0.1:  # a parallel batch at 16:00
            day = pick // 86_400_000_000 * 86_400_000_000
            start, dur = day + 16 * 3_600_000_000, 20 * 60_000_000
            start = start if start >= pick else start + 86_400_000_000
        else:
            start = max(pick, free[res]) if res else pick
            if res:
                free[res] = start + dur
        rows.append((f"c{c}", act, res, pd.Timestamp(start * 1000), pd.Timestamp((start + dur) * 1000)))
        if k + 1 < len(plans[c]):
            delay = int(rng.choice([0, 5, 45, 300, 2000, 6000])) * 60_000_000
            heapq.heappush(ready, (start + dur + delay, c, k + 1))
    return pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_prefix_equals_sweep_on_generated_logs_discovered_shifts(seed: int) -> None:
    log = flowlens.read_log(generated(seed))
    tm = time_model(log)
    assert assert_same(tm) > 50
    w = waiting_causes(tm).overall()["by_cause_s"]
    assert w["contention"] > 0 and w["prioritization"] > 0 and w["unavailability"] > 0


@pytest.mark.parametrize("seed", [4, 5])
def test_prefix_equals_sweep_with_given_calendars_and_other_work(seed: int) -> None:
    df = generated(seed, queue_with_performer=True)
    log = flowlens.read_log(df)
    office = WorkCalendar.preset("office", timezone="UTC")
    cals = CalendarSet(default=office, resources={"ann": WorkCalendar.preset("24x7")})
    rng = np.random.default_rng(seed)
    base = pd.Timestamp("2024-03-04").value // 1000
    starts = base + rng.integers(0, 20 * 24 * HOUR, 80) * 1_000_000
    other = pd.DataFrame(
        {
            "resource": rng.choice(["bob", "cy"], 80),
            "start_us": starts,
            "end_us": starts + rng.integers(10, 3 * HOUR, 80) * 1_000_000,
            "enabled_us": starts - rng.integers(0, 5 * HOUR, 80) * 1_000_000,
        }
    )
    assert assert_same(time_model(log, calendars=cals), calendars=cals, other_work=other) > 50
    # always on shift: no unavailability, the same split
    assert assert_same(time_model(log), calendars=CalendarSet.always()) > 50


def test_queue_steps_with_a_performer_are_split_like_the_sweep() -> None:
    """A queue step is waited through: its own instance lies in its waiting interval and must
    not make itself busy (these waits go to the sweep)."""
    log = flowlens.read_log(generated(6, queue_with_performer=True))
    tm = time_model(log)
    inst = tm.instances.to_pandas()
    assert inst.wait_activity.any()
    assert_same(tm)


@pytest.mark.parametrize("name", ["purchasing", "insurance-claims", "bpic2012-w", "helpdesk"])
def test_prefix_equals_sweep_on_shared_logs(name: str) -> None:
    log = flowlens.read_log(shared_path(name), **SHARED[name][1])
    assert assert_same(time_model(log)) > 500


def test_range_min_and_wavelet_sums_against_brute_force() -> None:
    rng = np.random.default_rng(0)
    m = 200
    lo = rng.integers(0, m, 300)
    hi = np.minimum(lo + rng.integers(1, 40, 300), m)
    v = rng.integers(-50, 50, 300)
    got = _range_min(m, lo, hi, v)
    want = np.full(m, np.iinfo(np.int64).max)
    for a, b, x in zip(lo, hi, v, strict=True):
        want[a:b] = np.minimum(want[a:b], x)
    assert (got == want).all()

    values = rng.integers(0, 37, 500)
    weights = rng.integers(1, 100, 500)
    qlo = rng.integers(0, 500, 400)
    qhi = np.minimum(qlo + rng.integers(0, 120, 400), 500)
    below = rng.integers(0, 38, 400)
    got = _wavelet_sums(values, weights, qlo, qhi, below)
    want = [int(weights[a:b][values[a:b] < t].sum()) for a, b, t in zip(qlo, qhi, below, strict=True)]
    assert got.tolist() == want


def test_prefix_in_small_chunks_equals_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Groups computed a few at a time (bounded memory) give the same split."""
    import flowlens.analysis.waiting as waiting

    log = flowlens.read_log(generated(7))
    # chunks of at most 60 waits and intervals of work: a person's waits in several pieces
    monkeypatch.setattr(waiting, "BYTES_PER_SPLIT_ROW", log.engine.python_budget // 60)
    cals = CalendarSet(default=WorkCalendar.preset("office", timezone="UTC"))
    assert assert_same(time_model(log, calendars=cals), calendars=cals) > 50


def test_chunked_split_equals_one_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny Python budget (groups split into pieces of a few waits, each chunk read from the
    engine and its result appended there) gives the split of one chunk, row for row."""
    import flowlens.analysis.waiting as waiting
    from flowlens.analysis import waiting_split

    log = flowlens.read_log(generated(8, cases=120))
    tm = time_model(log)
    calls: list[int] = []
    real = waiting_split.split_groups

    def counted(waits, *args, **kwargs):
        calls.append(len(waits["x"]))
        return real(waits, *args, **kwargs)

    monkeypatch.setattr(waiting_split, "split_groups", counted)
    one = waiting_causes(tm, method="prefix").per_instance.to_pandas().sort_values("eid")
    assert len(calls) == 1
    calls.clear()
    monkeypatch.setattr(waiting, "BYTES_PER_SPLIT_ROW", log.engine.python_budget // 40)
    many = waiting_causes(tm, method="prefix").per_instance.to_pandas().sort_values("eid")
    # four people and no one (a missing performer): groups of ~100 waits cut into pieces
    assert len(calls) > 8 and max(calls) <= 40
    assert sum(calls) == len(one) > 300
    pd.testing.assert_frame_equal(one.reset_index(drop=True), many.reset_index(drop=True))


def test_findings_are_the_same_with_either_split() -> None:
    """The detectors read the split (batch delay, merge candidates' staff-caused waiting): the
    ranked findings, their numbers and order do not depend on how it was computed."""
    from flowlens.findings.api import find_wastes
    from flowlens.findings.context import FindingContext

    log = flowlens.read_log(shared_path("purchasing"))
    out = []
    for method in ("sweep", "prefix"):
        ctx = FindingContext(log, seed=0, waiting_method=method)
        report = find_wastes(log, ctx=ctx).to_dict()
        report.pop("detectors")  # timings
        out.append(report)
    assert out[0] == out[1]
    assert out[1]["findings"]


def test_only_waits_the_sweep_keeps() -> None:
    """Every wait a queue step with a performer (all left to the sweep): the same split."""
    rows = [
        (f"c{i}", act, "agent", f"2024-01-01 {9 + i}:{m:02d}", f"2024-01-01 {9 + i}:{m + 5:02d}")
        for i in range(3)
        for act, m in (("Queue", 10), ("Queue", 30))
    ]
    log = flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"]))
    assert assert_same(time_model(log), calendars=CalendarSet.always()) >= 3


@pytest.mark.parametrize("name", ["generated", "purchasing"])
def test_slices_of_cases_and_groups_give_the_split_of_the_whole(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The waits' tables built slice by slice of cases and the work sorted slice by slice of
    groups (forced: a seventh of the log's cases, a fifth of its rows at a time) give the
    per-instance split and every level of one pass over the whole log."""
    import flowlens.analysis.waiting as waiting
    import flowlens.timing.model as model
    from flowlens.analysis import batch_detection

    log = flowlens.read_log(generated(9, cases=150) if name == "generated" else shared_path("purchasing"))
    tm = time_model(log)

    def split() -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
        wa = waiting_causes(tm)
        per = wa.per_instance.to_pandas().sort_values("eid").reset_index(drop=True)
        return per, {level: wa.by(level) for level in waiting.LEVELS}

    whole, levels = split()
    ranges: list[int] = []
    real = waiting.slice_ranges
    monkeypatch.setattr(
        waiting, "slice_ranges", lambda n, eng: ranges.append(len(real(n, eng))) or real(n, eng)
    )
    monkeypatch.setattr(model, "BYTES_PER_EVENT", log.engine.memory_budget * 7 // log.n_events + 1)
    monkeypatch.setattr(
        batch_detection, "BYTES_PER_INSTANCE", log.engine.memory_budget * 5 // log.n_events + 1
    )
    assert len(model.case_slices(log)) >= 7
    sliced, sliced_levels = split()
    assert ranges and ranges[0] >= 3
    assert len(whole) > 500
    pd.testing.assert_frame_equal(sliced, whole)
    for level, table in levels.items():
        pd.testing.assert_frame_equal(sliced_levels[level], table)
