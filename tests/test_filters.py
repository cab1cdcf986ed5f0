"""Filters run in the engine, keep the table's invariants and say what they did."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

import flowlens
from conftest import shared_path
from flowlens import filters as F
from flowlens.errors import ConfigError


@pytest.fixture(scope="module")
def log() -> flowlens.EventLog:
    # c0: a b c (Jan 1), c1: a c (Jan 3), c2: a b b c (Jan 10), c3: x (Jan 20); segment per case
    traces = {
        "c0": ("abc", 1, "VIP"),
        "c1": ("ac", 3, "mass"),
        "c2": ("abbc", 10, "mass"),
        "c3": ("x", 20, "SME"),
    }
    rows = []
    for case, (acts, day, seg) in traces.items():
        for i, a in enumerate(acts):
            rows.append(
                {
                    "case_id": case,
                    "activity": a,
                    "segment": seg,
                    "amount": 100 * (i + 1),
                    "timestamp": pd.Timestamp(f"2024-01-{day:02d} 09:00") + pd.Timedelta(hours=i),
                }
            )
    return flowlens.read_log(pd.DataFrame(rows))


def cases(log: flowlens.EventLog) -> list[str]:
    return sorted(flowlens.case_durations(log).case_id)


def test_time_modes(log) -> None:
    assert cases(F.filter_time(log, "2024-01-02", "2024-01-11")) == ["c1", "c2"]
    assert cases(F.filter_time(log, "2024-01-10 10:00", None)) == ["c2", "c3"]
    assert cases(F.filter_time(log, "2024-01-10 10:00", None, mode="contained")) == ["c3"]
    assert cases(F.filter_time(log, None, "2024-01-10 10:00", mode="started")) == ["c0", "c1", "c2"]
    trimmed = F.filter_time(log, "2024-01-10 10:30", "2024-01-10 13:00", mode="trim")
    assert flowlens.variants(trimmed).variant.tolist() == [("b", "c")]


def test_attribute_case_and_event_level(log) -> None:
    assert cases(F.filter_attribute(log, "segment", ["mass"])) == ["c1", "c2"]
    assert cases(F.filter_attribute(log, "segment", ["mass"], keep=False)) == ["c0", "c3"]
    only_first = F.filter_attribute(log, "amount", [100], level="event")
    assert set(flowlens.variants(only_first).variant) == {("a",), ("x",)}


def test_variants_contains_endpoints_lead(log) -> None:
    assert cases(F.filter_variants(log, top=1)) in (["c0"], ["c1"], ["c2"], ["c3"])
    assert len(cases(F.filter_variants(log, coverage=0.5))) == 2
    assert cases(F.filter_contains(log, ["b"])) == ["c0", "c2"]
    assert cases(F.filter_contains(log, ["b", "x"], keep=False)) == ["c1"]
    assert cases(F.filter_contains(log, ["a", "b"], every=True)) == ["c0", "c2"]
    assert cases(F.filter_endpoints(log, starts=["a"], ends=["c"])) == ["c0", "c1", "c2"]
    assert cases(F.filter_lead_time(log, min_s=2 * 3600)) == ["c0", "c2"]
    assert cases(F.filter_lead_time(log, max_s=0)) == ["c3"]


def test_projection_renumbers_and_reconnects(log) -> None:
    projected = F.filter_activities(log, ["a", "c"])
    dfg, starts, _ = flowlens.directly_follows(projected)
    assert dfg == {("a", "c"): 3}
    assert starts == {"a": 3}
    dropped = F.filter_activities(log, ["b"], keep=False)
    d = flowlens.directly_follows(dropped)
    assert int(d.edges["count"].sum()) == dropped.n_events - dropped.n_cases
    assert dfg == d.as_dicts()[0]  # dropping b connects a to c, as keeping a and c does


def test_filters_are_recorded_and_chain(log) -> None:
    out = F.filter_contains(F.filter_attribute(log, "segment", ["mass"]), ["b"])
    assert out.filters == ("cases with segment in ['mass']", "cases containing any of ['b']")
    assert out.summary().filters == list(out.filters)
    assert "filter: cases containing any of ['b']" in out.describe()


def test_bad_filter_values_are_clear(log) -> None:
    with pytest.raises(ConfigError, match="no column 'colour'"):
        F.filter_attribute(log, "colour", ["red"])
    with pytest.raises(ConfigError, match="not a date"):
        F.filter_time(log, "yesterday-ish")
    with pytest.raises(ConfigError, match="coverage"):
        F.filter_variants(log, coverage=1.5)


def test_cli_filters_shared_by_commands(shared_logs) -> None:
    path = str(shared_path("receipt"))
    args = ["--where", "case:channel=Internet,Post", "--contains", "T06 Determine necessity of stop advice"]
    inspect = subprocess.run(
        [sys.executable, "-m", "flowlens", "inspect", path, "--json", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(inspect.stdout)
    assert data["filters"] == [
        "cases with case:channel in ['Internet', 'Post']",
        "cases containing any of ['T06 Determine necessity of stop advice']",
    ]
    assert 0 < data["cases"] < 1434
    variants = subprocess.run(
        [sys.executable, "-m", "flowlens", "variants", path, "--json", "--top", "3", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    vdata = json.loads(variants.stdout)
    assert vdata["cases"] == data["cases"]
    assert all("T06 Determine necessity of stop advice" in v["activities"] for v in vdata["top"])
    graph = subprocess.run(
        [sys.executable, "-m", "flowlens", "map", path, "--json", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    gdata = json.loads(graph.stdout)
    assert sum(s["count"] for s in gdata["start_activities"]) == data["cases"]
