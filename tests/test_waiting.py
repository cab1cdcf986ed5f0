"""Waiting-time causes: each cause on a log built to show it, the parts always add up, and the
shared-log checks of issue 5."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flowlens
from conftest import shared_path
from flowlens.analysis import batch_detection
from flowlens.analysis.batch_detection import detect_batches, resource_slices, shared_resources
from flowlens.analysis.waiting import CAUSES, LEVELS, waiting_causes
from flowlens.timing.calendars import CalendarSet, WorkCalendar
from flowlens.timing.model import time_model

MIN = 60.0


def interval_log(rows: list[tuple[str, str, str, str, str]]) -> flowlens.EventLog:
    return flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"]))


def causes_of(w, activity: str) -> dict[str, float]:
    row = w.by("activity").loc[activity]
    return {c: row[f"{c}_s"] / MIN for c in CAUSES}


def test_contention_and_prioritisation() -> None:
    log = interval_log(
        [
            ("1", "a", "x", "2024-01-01 09:00", "2024-01-01 09:00"),
            ("1", "b", "r", "2024-01-01 09:00", "2024-01-01 10:00"),
            ("2", "a", "x", "2024-01-01 09:10", "2024-01-01 09:10"),  # queued before case 3
            ("3", "a", "x", "2024-01-01 09:20", "2024-01-01 09:20"),
            ("3", "b", "r", "2024-01-01 10:00", "2024-01-01 10:30"),  # served before case 2
            ("2", "b", "r", "2024-01-01 10:30", "2024-01-01 11:00"),
        ]
    )
    w = waiting_causes(time_model(log), calendars=CalendarSet.always())
    per = (
        w.per_instance.to_pandas()
        .merge(time_model(log).instances.select("eid", "case_id").to_pandas(), on="eid")
        .set_index("case_id")
    )
    # case 2 waits 09:10-10:30: r busy with case 1 (queued earlier) to 10:00, then with case 3
    # (queued later but served first) to 10:30
    assert per.loc["2", "contention_us"] / 6e7 == 50
    assert per.loc["2", "prioritization_us"] / 6e7 == 30
    # case 3 waits 09:20-10:00 behind case 1
    assert per.loc["3", "contention_us"] / 6e7 == 40


def test_other_work_keeps_the_resource_busy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Work outside the log (an alert queued before the case, another after it) is contention
    and prioritisation, not extraneous; it is never analysed itself; the CLI reads it."""
    log = interval_log(
        [
            ("1", "a", "x", "2024-01-01 09:00", "2024-01-01 09:00"),
            ("1", "b", "r", "2024-01-01 10:30", "2024-01-01 11:00"),
        ]
    )
    other = interval_log(
        [
            ("A1", "alert", "sys", "2024-01-01 08:30", "2024-01-01 08:30"),
            ("A1", "review alert", "r", "2024-01-01 09:00", "2024-01-01 10:00"),  # queued 08:30
            ("A2", "alert", "sys", "2024-01-01 09:40", "2024-01-01 09:40"),
            ("A2", "review alert", "r", "2024-01-01 10:00", "2024-01-01 10:20"),  # queued 09:40
        ]
    )
    cal = CalendarSet.always()
    alone = causes_of(waiting_causes(time_model(log), calendars=cal), "b")
    assert alone["extraneous"] == 90 and alone["contention"] == 0
    both = waiting_causes(time_model(log), calendars=cal, other_work=other)
    c = causes_of(both, "b")
    assert (c["contention"], c["prioritization"], c["extraneous"]) == (60, 20, 10)
    assert set(both.by("activity").index) == {"b"}
    # the command line: --other-work, also with pseudonymised resources
    import json
    import subprocess
    import sys

    log_csv, other_csv = tmp_path / "log.csv", tmp_path / "other.csv"
    for t, p in ((log, log_csv), (other, other_csv)):
        df = t.to_pandas()[["case_id", "activity", "resource", "start", "end"]]
        df.to_csv(p, index=False)
    for extra in ([], ["--pseudonymise", "--pseudonym-key", "k"]):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "flowlens",
                "waiting",
                str(log_csv),
                "--other-work",
                str(other_csv),
                "--json",
                *extra,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["overall"]["by_cause_s"]["contention"] == 3600, extra


def test_tables_by_level_are_the_split_with_the_instances_names_summed() -> None:
    """The split is stored as numbers only (the instances' names are joined where it is read):
    ``per_instance`` is each waiting instance with its names from the time model, and every
    table by level (the activities', the transitions' sums added up, too) is its rows summed
    per group, to the last bit."""
    tm = time_model(flowlens.read_log(shared_path("purchasing")))
    w = waiting_causes(tm)
    parts = ["wait_us", *[f"{c}_us" for c in CAUSES]]
    assert list(w.causes.columns) == ["eid", *parts]
    per = w.per_instance.to_pandas().sort_values("eid").reset_index(drop=True)
    names = ["case_idx", "activity", "resource", "prev_activity", "prev_resource"]
    assert per.columns.tolist() == ["eid", *names, *parts]
    inst = tm.instances.filter(tm.instances.wait_us > 0).select("eid", *names, "wait_us").to_pandas()
    inst = inst.sort_values("eid").reset_index(drop=True)
    pd.testing.assert_frame_equal(per[["eid", *names, "wait_us"]], inst)
    assert per.activity.nunique() > 5 and per.prev_activity.nunique() > 5
    for level, keys in LEVELS.items():
        want = per.groupby(keys, dropna=False).agg(
            instances=("eid", "count"), **{p: (p, "sum") for p in parts}
        )
        got = w.by(level).reset_index().set_index(keys).sort_index()
        assert got.instances.tolist() == want.sort_index().instances.tolist(), level
        for p in parts:
            assert got[p.replace("_us", "_s")].tolist() == (want.sort_index()[p] / 1e6).tolist(), (level, p)


def test_unavailability_over_the_night() -> None:
    log = interval_log(
        [
            ("1", "a", "x", "2024-01-02 16:00", "2024-01-02 16:30"),
            ("1", "b", "r", "2024-01-03 09:30", "2024-01-03 10:00"),  # Wed 09:30
        ]
    )
    cals = CalendarSet(default=WorkCalendar.preset("office", timezone="UTC"))
    w = waiting_causes(time_model(log), calendars=cals)
    c = causes_of(w, "b")
    # 16:30-17:00 and 09:00-09:30 on shift but nothing explains it; 17:00-09:00 off shift
    assert c["unavailability"] == 16 * 60
    assert c["extraneous"] == 60


def test_batching_parallel_and_accumulated_but_not_a_busy_queue() -> None:
    # minutes past the hour: a clock that records whole hours cannot show batches
    rows = []
    for k in range(4):  # enabled 08:00..11:00, all submitted together at 16:00
        rows += [
            (f"p{k}", "a", "x", f"2024-01-01 {8 + k:02d}:07", f"2024-01-01 {8 + k:02d}:07"),
            (f"p{k}", "submit", "sys", "2024-01-01 16:07", "2024-01-01 16:08"),
        ]
    for k in range(3):  # a queue worked back to back by a busy clerk: no batch
        rows += [
            (f"q{k}", "a", "x", "2024-01-02 08:07", "2024-01-02 08:07"),
            (f"q{k}", "check", "clerk", f"2024-01-02 {8 + k:02d}:07", f"2024-01-02 {9 + k:02d}:07"),
        ]
    tm = time_model(interval_log(rows))
    batches = detect_batches(tm).batches
    assert batches[["activity", "size", "kind"]].values.tolist() == [["submit", 4, "parallel"]]
    w = waiting_causes(tm, calendars=CalendarSet.always())
    c = causes_of(w, "submit")
    assert c["batching"] == (8 + 7 + 6 + 5) * 60
    assert causes_of(w, "check")["contention"] == (60 + 120)


def test_sequential_batch_after_deliberate_accumulation() -> None:
    rows = []
    t = pd.Timestamp("2024-01-01 10:00")
    for k in range(3):  # enabled 08:00-08:20, reviewer idle until 10:00, then one after another
        rows += [
            (f"c{k}", "a", "x", f"2024-01-01 08:{10 * k:02d}", f"2024-01-01 08:{10 * k:02d}"),
            (
                f"c{k}",
                "review",
                "aml",
                str(t + pd.Timedelta(minutes=20 * k)),
                str(t + pd.Timedelta(minutes=20 * k + 20)),
            ),
        ]
    tm = time_model(interval_log(rows))
    b = detect_batches(tm).batches
    assert b.kind.tolist() == ["sequential"] and b["size"].tolist() == [3]
    assert b.idle_before_us.iloc[0] == 120 * 60 * 1e6  # idle from the first enabling (08:00) to 10:00
    w = waiting_causes(tm, calendars=CalendarSet.always())
    # batching until the batch starts at 10:00; then each waits while the reviewer works
    # through the members queued before it (contention, as in Kronos)
    c = causes_of(w, "review")
    assert c["batching"] == pytest.approx(120 + 110 + 100, abs=1e-9)
    assert c["contention"] == pytest.approx(20 + 40, abs=1e-9)


def batch_tables(tm) -> tuple[set[str], pd.DataFrame, pd.DataFrame]:
    b = detect_batches(tm)
    return shared_resources(tm), b.batches, b.members.to_pandas().sort_values("eid").reset_index(drop=True)


def batch_log() -> flowlens.EventLog:
    """Three people with a batch each (parallel, sequential, none: a busy queue) and a system
    that works on many cases at once (shared)."""
    rows = []
    for k in range(4):  # enabled 08:00..11:00, submitted together at 16:00
        rows += [
            (f"p{k}", "a", "sys", f"2024-01-01 {8 + k:02d}:07", f"2024-01-01 {8 + k:02d}:09"),
            (f"p{k}", "submit", "clerk", "2024-01-01 16:07", "2024-01-01 16:08"),
        ]
    for k in range(3):  # a queue worked back to back: no batch
        rows += [
            (f"q{k}", "a", "sys", f"2024-01-02 08:{7 + 3 * k:02d}", f"2024-01-02 08:{30 + 3 * k}"),
            (f"q{k}", "check", "desk", f"2024-01-02 {8 + k:02d}:37", f"2024-01-02 {9 + k:02d}:37"),
        ]
    for k in range(3):  # enabled 08:05-08:25, the reviewer idle until 10:00
        rows += [
            (f"c{k}", "a", "sys", f"2024-01-03 08:{10 * k:02d}", f"2024-01-03 08:{10 * k + 5:02d}"),
            (
                f"c{k}",
                "review",
                "aml",
                f"2024-01-03 10:{20 * k:02d}",
                f"2024-01-03 1{(20 * k + 20) // 60}:{(20 * k + 20) % 60:02d}",
            ),
        ]
    return interval_log(rows)


@pytest.mark.parametrize("log_name", ["generated", "purchasing"])
def test_batches_in_slices_of_resources_are_the_batches_of_the_whole(log_name, monkeypatch) -> None:
    """Batch detection's per-resource passes taken a slice of resources at a time, and the
    overlap test of the shared resources read into Python a slice at a time (both forced with a
    budget of about four slices), give the batches, members and shared resources of one pass
    over everything."""
    log = batch_log() if log_name == "generated" else flowlens.read_log(shared_path("purchasing"))
    tm = time_model(log)
    whole = batch_tables(tm)
    if log_name == "generated":
        assert whole[0] == {"sys"} and whole[1].kind.tolist() == ["sequential", "parallel"]
    else:
        assert len(whole[1]) > 300
    # about four slices
    inst = tm.instances.filter(tm.instances.resource.notnull())
    counts = inst.group_by("resource").aggregate(n=inst.count()).to_pandas()
    counts = counts.sort_values("resource").reset_index(drop=True)
    per = log.engine.memory_budget * 4 // int(counts.n.sum())
    monkeypatch.setattr(batch_detection, "BYTES_PER_INSTANCE", per)
    assert len(resource_slices(inst, counts, log.engine)) >= 3
    # and the overlap test of shared_resources read into Python in about four chunks
    per_py = log.engine.python_budget * 4 // int(counts.n.sum())
    monkeypatch.setattr(batch_detection, "BYTES_PER_OVERLAP_ROW", per_py)
    kw = {"per_row": per_py, "budget": log.engine.python_budget}
    assert len(resource_slices(inst, counts, log.engine, **kw)) >= 3
    sliced = batch_tables(tm)
    assert sliced[0] == whole[0]
    pd.testing.assert_frame_equal(sliced[1], whole[1])
    pd.testing.assert_frame_equal(sliced[2], whole[2])


def test_one_big_resource_is_read_in_batches_within_the_python_budget(monkeypatch) -> None:
    """A resource with more starts than Python's budget holds (one system serving every case)
    is read in batches carrying its latest end over: the overlap per resource equals the one
    read at once, with overlaps crossing the batches' boundaries, and Python's peak stays
    within the budget."""
    import tracemalloc

    import numpy as np

    rng = np.random.default_rng(7)
    n = 3000
    start = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 10**6, n)), unit="s")
    # long instances now and then, running over many later starts (and so over batch boundaries)
    dur = np.where(rng.random(n) < 0.02, 200_000, rng.integers(60, 3000, n))
    frame = pd.DataFrame(
        {
            "case": np.arange(n).astype(str),
            "activity": "a",
            "resource": np.where(np.arange(n) % 10 == 0, "clerk", "sys"),
            "start": start,
            "end": start + pd.to_timedelta(dur, unit="s"),
        }
    )
    tm = time_model(flowlens.read_log(frame, memory_limit="100MB"))
    whole = batch_detection._resource_overlap(tm, batch_detection.resource_starts(tm))
    assert whole.resource.tolist() == ["clerk", "sys"] and whole.ov.gt(0).all()
    shared = shared_resources(tm)
    budget = tm.log.engine.python_budget
    monkeypatch.setattr(batch_detection, "BYTES_PER_OVERLAP_ROW", budget // 700)  # batches of 700 groups
    seen: list[int] = []
    start_groups = batch_detection._start_groups
    monkeypatch.setattr(
        batch_detection,
        "_start_groups",
        lambda *a: (seen.append(len(b[0])) or b for b in start_groups(*a)),
    )
    pd.testing.assert_frame_equal(
        batch_detection._resource_overlap(tm, batch_detection.resource_starts(tm)), whole
    )
    assert len(seen) >= 5 and max(seen) <= 700  # "sys" (2700 starts) over 3+ batches
    assert shared_resources(tm) == shared
    # the reproducer's case: one resource, Python's peak within the budget
    monkeypatch.undo()
    frame["resource"] = "sys"
    frame = pd.concat([frame.assign(case=frame.case + f"-{k}") for k in range(100)], ignore_index=True)
    tm = time_model(flowlens.read_log(frame, memory_limit="100MB"))
    tm.instances.count().execute()
    tracemalloc.start()
    try:
        batch_detection._resource_overlap(tm, batch_detection.resource_starts(tm))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert tm.log.engine.python_budget < 300_000 * batch_detection.BYTES_PER_OVERLAP_ROW  # batches
    assert peak <= tm.log.engine.python_budget + 2_000_000


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 50), st.integers(1, 30)), min_size=1, max_size=40)
)
def test_the_overlap_per_resource_is_the_running_maximum_of_earlier_ends(spans) -> None:
    """The numpy overlap test of shared_resources against its definition, one group at a time:
    a group overlaps when it starts before the latest end of the resource's earlier groups,
    and the cover is the length of the union of the groups' spans."""
    frame = pd.DataFrame(spans, columns=["r", "s", "d"]).assign(e=lambda f: f.s + f.d)
    g = frame.groupby(["r", "s"], as_index=False).agg(e=("e", "max"), n=("e", "size"))
    got = batch_detection._overlap_per_resource(*(g[c].to_numpy(dtype="int64") for c in ("r", "s", "e", "n")))
    want = []
    for r, rows in g.groupby("r"):
        prev, ov, cover = None, 0, 0
        for s, e, n in zip(rows.s, rows.e, rows.n, strict=True):
            ov += n if prev is not None and s < prev else 0
            cover += max(0, e - max(s, prev if prev is not None else s))
            prev = e if prev is None else max(prev, e)
        want.append((r, int(rows.n.sum()), ov, cover, int(rows.s.min()), int(rows.e.max())))
    assert [tuple(int(v) for v in row) for row in got.itertuples(index=False)] == want


@settings(max_examples=8, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 600), st.integers(1, 120), st.sampled_from("rs")),
        min_size=2,
        max_size=14,
    )
)
def test_parts_always_add_up_to_the_waiting(steps) -> None:
    rows = []
    t0 = pd.Timestamp("2024-01-01 08:00")
    for i, (case, offset, dur, res) in enumerate(steps):
        start = t0 + pd.Timedelta(minutes=offset)
        rows.append((f"c{case}", f"act{i % 3}", res, str(start), str(start + pd.Timedelta(minutes=dur))))
    w = waiting_causes(
        time_model(interval_log(rows)),
        calendars=CalendarSet(default=WorkCalendar.preset("office", timezone="UTC")),
    )
    p = w.per_instance.to_pandas()
    assert (p[[f"{c}_us" for c in CAUSES]].sum(axis=1) == p.wait_us).all()
    assert (p[[f"{c}_us" for c in CAUSES]] >= 0).all().all()


def test_cte_gain_formula() -> None:
    log = interval_log(
        [
            ("1", "a", "r", "2024-01-01 09:00", "2024-01-01 10:00"),
            ("1", "b", "r", "2024-01-01 11:00", "2024-01-01 12:00"),
        ]
    )
    o = waiting_causes(time_model(log), calendars=CalendarSet.always()).overall()
    assert o["cycle_time_efficiency"] == pytest.approx(2 / 3)
    assert o["cte_without"]["extraneous"] == pytest.approx(1.0)


def test_insurance_extraneous_matches_its_ground_truth(shared_logs) -> None:
    log = flowlens.read_log(shared_path("insurance-claims"))
    w = waiting_causes(time_model(log))
    o = w.overall()
    truth_s = float(log.to_pandas()["extraneous_delay"].sum())
    assert abs(o["by_cause_s"]["extraneous"] - truth_s) <= 0.10 * o["waiting_s"]
    # the waiting there is for busy call-centre operators
    assert o["by_cause_share"]["contention"] > 0.5


def test_no_batches_from_estimated_starts_or_a_coarse_clock() -> None:
    # the same parallel batch as above, recorded to the hour only: the order within the hour
    # is not in the data, so nothing is a batch
    rows = []
    for k in range(4):
        rows += [
            (f"p{k}", "a", "x", f"2024-01-01 {8 + k:02d}:00", f"2024-01-01 {8 + k:02d}:00"),
            (f"p{k}", "submit", "clerk", "2024-01-01 16:00", "2024-01-01 17:00"),
        ]
    log = interval_log(rows)
    assert log.time_resolution_s == 3600
    assert detect_batches(time_model(log)).batches.empty
    # completion-only, to the second: starts are estimated, and estimates show no accumulation
    done = pd.DataFrame(
        [(f"c{k}", "a", "x", f"2024-01-01 08:{10 * k + 3:02d}:17") for k in range(4)]
        + [(f"c{k}", "submit", "clerk", "2024-01-01 16:00:41") for k in range(4)],
        columns=["case", "activity", "resource", "timestamp"],
    )
    tm = time_model(flowlens.read_log(done))
    assert tm.starts_estimated and detect_batches(tm).batches.empty
