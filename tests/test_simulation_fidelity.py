"""Fidelity (methods §16.6): the referee's split, measures and reference distances, the
per-part diagnostics and verdicts, and a whole run on a small generated log."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import flowlens
from conftest import shared_dir, shared_path
from flowlens.errors import ConfigError
from flowlens.simulation import fidelity as F

RESULTS = shared_dir().parent / "sim_fidelity" / "results"


def _referee_reference(name: str) -> dict[str, float]:
    path = RESULTS / f"simod_{name}.json"
    if not path.exists():
        pytest.fail(f"the referee's result {path} is missing")
    return json.loads(path.read_text())["reference"]


def _assert_same(ours: dict[str, float], theirs: dict[str, float]) -> None:
    assert set(ours) == set(F.METRICS)
    for m in F.METRICS:
        assert ours[m] == pytest.approx(theirs[m], abs=1e-9, rel=0), m


def test_adjacent_window_reference_is_the_referees_bpic2012w() -> None:
    """BPIC 2012-W split 80/20 as the referee splits it: the adjacent-window distances (AED and
    CAD on the shifted window, CED on the unshifted one) are the referee's to 1e-9."""
    log = flowlens.read_log(shared_path("bpic2012-w"))
    split = F.split_frame(F.log_frame(log), 0.2)
    ref_json = _referee_reference("bpic2012-w")
    # the referee's split: 6,893 train and 1,723 test cases
    assert split.train["case_id"].nunique() == 6893
    assert split.test["case_id"].nunique() == 1723
    ref = F.reference(split)
    assert ref["kind"] == ref_json["kind"] == "adjacent_window"
    assert ref["shift_h"] == pytest.approx(ref_json["shift_h"], abs=1e-9)
    _assert_same(ref["values"], ref_json["values"])


def test_wall_clock_times_as_the_referee_purchasing() -> None:
    """Purchasing's times carry +02:00 and +03:00 (summer time): the referee compares local
    wall-clock times, which is what flowlens compares in the log's zone; read in a zone with
    those offsets, every reference distance is the referee's."""
    log = flowlens.read_log(shared_path("purchasing"), tz="Europe/Helsinki")
    ref = F.reference(F.split_frame(F.log_frame(log), 0.2))
    _assert_same(ref["values"], _referee_reference("purchasing")["values"])
    # in UTC the weekday-and-hour measure moves, the others do not depend on the zone
    utc = F.reference(F.split_frame(F.log_frame(flowlens.read_log(shared_path("purchasing"))), 0.2))
    assert utc["values"]["ced"] != pytest.approx(ref["values"]["ced"], abs=1e-6)
    assert utc["values"]["ctd_h"] == pytest.approx(ref["values"]["ctd_h"], abs=1e-9)


def test_noise_floor_of_a_given_pair_loanapp() -> None:
    train = F.log_frame(flowlens.read_log(shared_path("loanapp-train")))
    test = F.log_frame(flowlens.read_log(shared_path("loanapp-test")))
    ref = F.reference(F.given_pair(train, test))
    ref_json = _referee_reference("loanapp")
    assert ref["kind"] == ref_json["kind"] == "noise_floor_train_vs_test"
    _assert_same(ref["values"], ref_json["values"])


def _frame(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["case_id", "activity", "start_time", "end_time"])
    df["resource"] = None
    for c in ("start_time", "end_time"):
        df[c] = pd.to_datetime(df[c]).dt.tz_localize("UTC")
    df["case_idx"] = pd.factorize(df["case_id"])[0]
    return df[[*F.COLUMNS, "case_idx"]]


def test_split_order_ties_by_case_id_as_text_and_rounding() -> None:
    # ten cases; "9" and "10" start together, and so do "1" and "2": ties go by the case id
    # as text ("10" < "9")
    days = {"9": 1, "10": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6, "8": 7, "1": 8, "2": 8}
    rows = [(c, "a", f"2024-01-{d:02d} 09:00", f"2024-01-{d:02d} 10:00") for c, d in days.items()]
    split = F.split_frame(_frame(rows), 0.2)
    order = F.case_order(_frame(rows))["case_id"].tolist()
    assert order == ["10", "9", "3", "4", "5", "6", "7", "8", "1", "2"]
    assert split.test["case_id"].unique().tolist() == ["1", "2"]
    assert split.adjacent is not None and split.adjacent["case_id"].unique().tolist() == ["7", "8"]
    # round((1 - 0.35) × 10) = round(6.5) = 6: half to even, as the referee's Python round
    assert F.split_frame(_frame(rows), 0.35).test["case_id"].nunique() == 4
    with pytest.raises(ConfigError, match="cannot split 10 cases"):
        F.split_frame(_frame(rows), 0.6)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        F.split_frame(_frame(rows), 0.0)


def test_activity_stats_waiting_is_the_idle_time_before_a_step() -> None:
    """Customer waiting (methods §6.3): a step that starts while another of its case is in
    progress did not wait; one that starts after everything ended waited for the gap."""
    f = _frame(
        [
            ("c", "a", "2024-01-01 09:00", "2024-01-01 10:00"),
            ("c", "b", "2024-01-01 09:30", "2024-01-01 11:00"),  # parallel to a: no wait
            ("c", "d", "2024-01-01 13:00", "2024-01-01 13:30"),  # after b's end: waited 2 h
            ("e", "a", "2024-01-02 09:00", "2024-01-02 09:10"),
        ]
    )
    st = F.activity_stats(f)
    assert st.loc["b", "wait_mean_s"] == 0
    assert st.loc["d", "wait_mean_s"] == 7200
    assert st.loc["a", "wait_mean_s"] == 0
    assert st.loc["a", "proc_median_s"] == pytest.approx((3600 + 600) / 2)
    assert st.loc["a", "per_case"] == 1.0 and st.loc["d", "per_case"] == 0.5


def test_check_tolerance_is_the_reference_plus_a_margin() -> None:
    c = F._check("arrivals", "arrival_rate_err", 0.15, 0.04, F.REL_MARGIN, "x")
    assert c.tolerance == pytest.approx(0.14) and not c.passed
    c = F._check("arrivals", "arrival_rate_err", 0.15, 0.06, F.REL_MARGIN, "x")
    assert c.tolerance == pytest.approx(0.16) and c.passed
    c = F._check("arrivals", "arrival_rate_err", 0.05, None, F.REL_MARGIN, "x")
    assert c.tolerance == F.REL_MARGIN and c.passed  # no reference: the margin alone
    c = F._check("cycle_time", "ctd_h", None, 1.0, 1.0, "x")
    assert not c.passed  # nothing measured is never within tolerance


def small_log(n_cases: int = 150, seed: int = 5) -> pd.DataFrame:
    """A small two-clerk process: register, check (reworked now and then), decide; arrivals
    on weekdays 08:00-16:00; one row per activity instance."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2024-03-04 08:00")
    rows = []
    t = t0
    for c in range(n_cases):
        t = t + pd.Timedelta(minutes=float(rng.exponential(45)))
        while t.weekday() >= 5 or not 8 <= t.hour < 16:
            t = (t + pd.Timedelta(days=1)).normalize() + pd.Timedelta(hours=8)
        now = t
        steps = ["Register", "Check"]
        while rng.random() < 0.25:
            steps.append("Check")
        steps.append("Decide")
        for act in steps:
            now = now + pd.Timedelta(minutes=float(rng.exponential(20)))
            dur = pd.Timedelta(minutes=float(rng.gamma(2.0, {"Register": 4, "Check": 8, "Decide": 5}[act])))
            who = f"clerk{int(rng.integers(1, 3))}" if act != "Decide" else "manager"
            rows.append((f"case{c:04d}", act, who, now, now + dur))
            now = now + dur
    return pd.DataFrame(rows, columns=["case_id", "activity", "resource", "start_time", "end_time"])


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("fid") / "small.csv"
    small_log().to_csv(p, index=False)
    return p


def test_fidelity_on_a_small_log(small_csv: Path) -> None:
    log = flowlens.read_log(small_csv)
    r = F.fidelity(log, k=2, seed=3)
    d = r.to_dict()
    json.dumps(d)  # plain JSON
    assert d["mode"] == "chronological_split"
    assert d["split"]["train"]["cases"] == 120 and d["split"]["test"]["cases"] == 30
    for m in F.METRICS:
        assert d["metrics"][m]["n"] == 2
        assert d["metrics"][m]["reference"] is not None
    assert set(d["parts"]) == set(F.PARTS)
    for p in d["parts"].values():
        assert isinstance(p["good"], bool) and p["checks"]
        for c in p["checks"]:
            assert c["passed"] == (c["value"] is not None and c["value"] <= c["tolerance"])
    v = d["verdict"]
    assert v["trust"] == all(p["good"] for p in d["parts"].values())
    assert len(v["reasons"]) == sum(not c["passed"] for p in d["parts"].values() for c in p["checks"])
    # control flow is simple and fitted from 120 cases: its n-grams are near the test's
    assert d["metrics"]["ngram_2"]["mean"] < 0.2
    # the same inputs and seed give the same numbers; scoring in processes changes nothing
    again = F.fidelity(log, k=2, seed=3, jobs=2).to_dict()
    assert {m: again["metrics"][m]["values"] for m in F.METRICS} == {
        m: d["metrics"][m]["values"] for m in F.METRICS
    }
    assert again["parts"] == d["parts"]


def test_fidelity_given_pair_and_too_few_cases(small_csv: Path) -> None:
    df = pd.read_csv(small_csv)
    ids = sorted(df["case_id"].unique())
    train = flowlens.read_log(df[df["case_id"].isin(ids[:100])])
    test = flowlens.read_log(df[df["case_id"].isin(ids[100:])])
    r = F.fidelity(train, k=1, test_log=test)
    assert r.mode == "given_pair" and r.reference["kind"] == "noise_floor_train_vs_test"
    assert r.split["test"]["cases"] == 50 and r.metrics["ctd_h"]["sd"] is None
    assert not math.isnan(r.metrics["ctd_h"]["mean"])
    tiny = flowlens.read_log(df[df["case_id"].isin(ids[:30])])
    with pytest.raises(flowlens.errors.FlowlensError, match="at least 30"):
        F.fidelity(tiny, k=1)
