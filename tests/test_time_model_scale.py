"""The time model's one-pass formulations (issue 14) give exactly the definitions' results.

Enabled times (methods 6.1) come from one ordered pass per case looking a few instances back,
the rest from stepping back in their cases; customer time (6.3) from one narrow ordered pass
joined back. Each is compared per event with a direct, pairwise evaluation of the definition
on small generated logs that have what makes it hard: concurrent steps, clock skew, ties,
long steps many others end during, and completion-only instances beside recorded starts.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import flowlens
from conftest import shared_path
from flowlens.timing.calendars import CalendarSet, WorkCalendar
from flowlens.timing.enablement import concurrent_pairs, enabled_times
from flowlens.timing.model import time_model, with_calendars

MIN = 60_000_000
ACTS = ["a", "b", "c", "d", "e"]
CONC = pd.DataFrame({"a": ["b", "c", "a", "d"], "b": ["c", "b", "d", "a"]})


def _random_log(seed: int, cases: int = 60) -> flowlens.EventLog:
    rng = np.random.default_rng(seed)
    rows = []
    t0 = pd.Timestamp("2024-01-01")
    for c in range(cases):
        n = int(rng.integers(1, 12))
        # minutes on a coarse grid so that ends tie and ends fall within the skew of starts
        starts = np.sort(rng.integers(0, 40, n)) * 2
        for k in range(n):
            s = int(starts[k])
            long = rng.random() < 0.15  # a step that many others end during
            e = s + int(rng.integers(0, 60 if long else 6))
            has_start = rng.random() > 0.25
            rows.append(
                (
                    f"c{c}",
                    ACTS[int(rng.integers(0, len(ACTS)))],
                    f"r{int(rng.integers(0, 4))}",
                    t0 + pd.Timedelta(minutes=s) if has_start else pd.NaT,
                    t0 + pd.Timedelta(minutes=e),
                )
            )
    df = pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"])
    return flowlens.read_log(df)


def _definition(log: flowlens.EventLog, conc: pd.DataFrame, skew_us: int) -> pd.DataFrame:
    """en(i) straight from methods 6.1: the latest earlier instance of the case (by position)
    that ended by s(i) + skew (when s(i) is recorded) and is not concurrent with i."""
    t = log.table.select("eid", "case_idx", "pos", "activity", "resource", "start_us", "end_us").to_pandas()
    pairs = set(zip(conc.a, conc.b, strict=True))
    out = []
    for _, g in t.sort_values(["case_idx", "pos"]).groupby("case_idx", sort=True):
        rows = list(g.itertuples(index=False))
        cs = int(g.start_us.fillna(g.end_us).min())
        for i in rows:
            best = None
            for j in rows[: i.pos]:
                if pd.notna(i.start_us) and j.end_us > i.start_us + skew_us:
                    continue
                if (i.activity, j.activity) in pairs:
                    continue
                best = j
            if best is not None:
                en = int(best.end_us) if pd.isna(i.start_us) else min(int(best.end_us), int(i.start_us))
                out.append((i.eid, en, best.eid, best.activity, best.resource))
            elif pd.notna(i.start_us):
                # as the engine has it (LEAST skips the missing enabler): capped at s(i),
                # not the case start that methods 6.1 names
                out.append((i.eid, int(i.start_us), None, None, None))
            else:
                out.append((i.eid, cs if cs < i.end_us else None, None, None, None))
    df = pd.DataFrame(
        out, columns=["eid", "enabled_us", "enabler_eid", "enabler_activity", "enabler_resource"]
    )
    return df.sort_values("eid").reset_index(drop=True)


def _computed(log: flowlens.EventLog, conc: pd.DataFrame, skew_us: int, **kw: int) -> pd.DataFrame:
    en = enabled_times(log, conc, skew_us=skew_us, **kw).to_pandas()
    cols = ["eid", "enabled_us", "enabler_eid", "enabler_activity", "enabler_resource"]
    return en[cols].sort_values("eid").reset_index(drop=True)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    for col in a.columns:
        x, y = a[col], b[col]
        both_null = x.isna() & y.isna()
        equal = (x.astype(object) == y.astype(object)) | both_null
        assert equal.all(), (col, a[~equal].head(), b[~equal].head())


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("lookback", [1, 3])
@pytest.mark.parametrize("concurrent", [True, False])
def test_enabled_times_equal_the_definition(seed: int, lookback: int, concurrent: bool) -> None:
    log = _random_log(seed)
    conc = CONC if concurrent else CONC.iloc[:0]
    expected = _definition(log, conc, MIN)
    # lookback 1 sends many instances to the stepping back, max_steps 1 some to the pairing
    _same(_computed(log, conc, MIN, lookback=lookback), expected)
    _same(_computed(log, conc, MIN, lookback=lookback, max_steps=1), expected)


def test_previous_instance_is_the_one_just_before_in_the_case() -> None:
    log = _random_log(4)
    en = enabled_times(log, CONC).to_pandas().sort_values("eid")
    t = log.table.to_pandas().sort_values("eid")
    prev = t.groupby("case_idx").activity.shift(1)
    assert (en.prev_activity.fillna("-").to_numpy() == prev.fillna("-").to_numpy()).all()


def _customer_definition(inst: pd.DataFrame) -> pd.Series:
    """Customer waiting (methods 6.3) instance by instance: the gap before each instance, in
    start order, after the latest end so far, within [case start, clock stop]."""
    out = {}
    for _, g in inst.sort_values(["case_idx", "start_us", "end_us", "eid"]).groupby("case_idx"):
        lo_c, stop = int(g.c_start.iloc[0]), int(g.c_stop.iloc[0])
        f = lo_c
        for r in g.itertuples(index=False):
            s = min(max(int(r.start_us), lo_c), stop)
            e = min(max(int(r.end_us), lo_c), stop)
            out[r.eid] = max(e - f, 0) if r.wait_activity else max(s - f, 0)
            f = max(f, e)
    return pd.Series(out).sort_index()


@pytest.mark.parametrize("seed", [5, 6])
def test_customer_waiting_equals_the_definition(seed: int) -> None:
    inst = time_model(_random_log(seed)).instances.to_pandas()
    got = inst.set_index("eid").wait_us.sort_index()
    assert (got.to_numpy() == _customer_definition(inst).to_numpy()).all()


def test_sepsis_enabled_times_equal_the_definition() -> None:
    # a real log whose enablers often lie more than three instances back
    log = flowlens.read_log(shared_path("sepsis"))
    conc = concurrent_pairs(log)
    _same(_computed(log, conc, MIN), _definition(log, conc, MIN))


def _tables(tm: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    i = tm.instances.to_pandas().sort_values("eid").reset_index(drop=True)  # type: ignore[attr-defined]
    c = tm.cases.to_pandas().sort_values("case_idx").reset_index(drop=True)  # type: ignore[attr-defined]
    return i, c


def _office() -> CalendarSet:
    return CalendarSet(default=WorkCalendar.preset("office", timezone="UTC"))


@pytest.mark.parametrize("calendars", [False, True])
def test_slices_of_cases_give_the_same_time_model(monkeypatch: pytest.MonkeyPatch, calendars: bool) -> None:
    # completion-only instances beside recorded starts: the estimated path as well
    log = _random_log(7, cases=80)
    cals = _office() if calendars else None
    whole = _tables(time_model(log, calendars=cals))
    # as if the engine had room for a fifth of the log at a time
    import flowlens.timing.model as model

    limit = log.engine.limits.engine_bytes or int(
        0.8 * os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    )
    monkeypatch.setattr(model, "BYTES_PER_EVENT", limit * 5 // log.n_events + 1)
    assert len(model.case_slices(log)) in (5, 6)
    sliced = _tables(time_model(log, calendars=cals))
    for a, b in zip(whole, sliced, strict=True):
        assert list(a.columns) == list(b.columns)
        pd.testing.assert_frame_equal(a, b)


def test_with_calendars_equals_a_time_model_built_on_them() -> None:
    log = flowlens.read_log(shared_path("bank-callcenter"))
    built = time_model(log, calendars=_office())
    reused = with_calendars(time_model(log), _office())
    for a, b in zip(_tables(built), _tables(reused), strict=True):
        assert list(a.columns) == list(b.columns)
        pd.testing.assert_frame_equal(a, b)
    assert built.overall() == reused.overall()


def _relations_both(log: flowlens.EventLog, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """The relations of the concurrency oracle from the gate's successor columns, and from the
    general two-pass formulation (forced: the log's table taken as not the ingested one)."""
    from flowlens.timing import enablement

    assert log.is_ingested_table()
    fast = enablement._relations(log)
    monkeypatch.setattr(log, "is_ingested_table", lambda: False)
    return fast, enablement._relations(log)


@pytest.mark.parametrize("name", ["sepsis", "bpic2012", "receipt"])
def test_relations_from_successors_equal_the_two_passes(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _relations_both(flowlens.read_log(shared_path(name)), monkeypatch)
    assert fast == slow
    assert fast[1]  # these logs have length-two loops: the look ahead is exercised


def test_relations_from_successors_collapse_repeats(monkeypatch: pytest.MonkeyPatch) -> None:
    """Immediate repeats collapse (a a b a -> a b a), at the start, the end and in the middle."""
    traces = {"1": "aabaa", "2": "abba", "3": "a", "4": "bbb", "5": "abab", "6": "cab"}
    rows = [(c, a, f"2024-01-01 00:{k:02d}") for c, tr in traces.items() for k, a in enumerate(tr)]
    log = flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "timestamp"]))
    fast, slow = _relations_both(log, monkeypatch)
    assert fast == slow
    df, l2l = fast
    assert df == {("a", "b"): 5, ("b", "a"): 3, ("c", "a"): 1}
    assert l2l == {("a", "b"): 3, ("b", "a"): 1}
