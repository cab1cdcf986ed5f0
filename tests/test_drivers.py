"""Slow-case drivers on causes only: identifiers, times, outcomes, labels of the path and the
process column are left out with their rule, and effects are measured within processes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import flowlens
from conftest import SHARED, shared_path
from flowlens.analysis.drivers import drivers, screen_attributes
from flowlens.columns import ColumnMap


def _log(n: int = 120, seed: int = 0, *, two_processes: bool = False, opposite: bool = False) -> pd.DataFrame:
    """Cases of one or two processes; "high" priority cases take twice as long (in the second
    process, with ``opposite``, half as long)."""
    rng = np.random.default_rng(seed)
    rows = []
    t0 = pd.Timestamp("2024-01-01")
    for i in range(n):
        proc = "claim" if two_processes and i % 2 else "loan"
        acts = ["Apply", "Check", "Decide"] if proc == "loan" else ["File", "Assess", "Pay"]
        base = 3600.0 if proc == "loan" else 100 * 3600.0  # claims are 100x longer
        high = i % 3 == 0
        factor = 2.0 if high else 1.0
        if opposite and proc == "claim":
            factor = 0.5 if high else 1.0
        path = acts if i % 4 else [acts[0], acts[1], acts[1], acts[2]]
        step = base * factor * rng.uniform(0.8, 1.2) / len(path)
        start = t0 + pd.Timedelta(hours=i)
        for k, a in enumerate(path):
            rows.append(
                {
                    "case": f"c{i:03d}",
                    "activity": a,
                    "timestamp": start + pd.Timedelta(seconds=step * (k + 1)),
                    "priority": "high" if high else "low",
                    "process": proc,
                    "declaration": f"D-{1000 + i}",
                    "registered": (start.normalize()).strftime("%Y-%m-%d"),
                    "serial": i,
                    "variant_label": "V1" if i % 4 else "V2",
                    "decision": ("approved" if i % 5 else "declined") if k == len(path) - 1 else None,
                }
            )
    return pd.DataFrame(rows)


def test_identifiers_times_outcomes_and_path_labels_are_left_out_with_their_rule() -> None:
    df = _log()
    # a path label with as many values as variants: V1/V2 follow the path exactly
    log = flowlens.read_log(df)
    sc = screen_attributes(log)
    why = dict(zip(sc.excluded.column, sc.excluded.rule, strict=True))
    assert why["declaration"] == "identifier"  # one value per case, by content
    assert why["registered"] == "time"  # text that reads as dates
    assert why["serial"] == "time"  # a running number rises with the case start
    assert why["decision"] == "outcome"  # first recorded at the last step
    assert why["variant_label"] == "trace"  # one value per variant
    assert sc.keep == ["priority"]  # one process: the process column is an ordinary constant
    res = drivers(log, resamples=200)
    assert set(res.table.factor) == {"priority", "rework"}
    assert {e["rule"] for e in res.to_dict()["excluded"]} >= {"identifier", "time", "outcome", "trace"}


def test_an_identifier_within_one_process_is_still_an_identifier() -> None:
    df = _log(two_processes=True)
    # the declaration number exists only for claims, where it is unique per case
    df.loc[df.process == "loan", "declaration"] = None
    sc = screen_attributes(flowlens.read_log(df))
    row = sc.excluded.set_index("column").loc["declaration"]
    assert row.rule == "identifier"
    why = dict(zip(sc.excluded.column, sc.excluded.rule, strict=True))
    assert why["process"] == "process"


def test_effects_are_measured_within_processes() -> None:
    log = flowlens.read_log(_log(n=240, two_processes=True))
    res = drivers(log, resamples=300)
    assert res.within == "process" and "process" not in set(res.table.factor)
    high = res.table[(res.table.factor == "priority") & (res.table.level == "high")].iloc[0]
    # twice as long within each process, although claims are 100x longer than loans
    assert not high.noise and 1.7 < high.ratio < 2.3
    assert {x["process"] for x in high.strata if x["counted"]} == {"claim", "loan"}
    assert "longer than other cases of the same process" in high.sentence
    # pooled over the processes the same data says "process = claim 100x": the artefact the split removes
    pooled = drivers(log, resamples=200, process=None)
    claim = pooled.table[(pooled.table.factor == "process") & (pooled.table.level == "claim")].iloc[0]
    assert claim.ratio > 50


def test_a_factor_the_processes_disagree_on_is_not_a_driver() -> None:
    log = flowlens.read_log(_log(n=240, two_processes=True, opposite=True))
    res = drivers(log, resamples=300)
    high = res.table[(res.table.factor == "priority") & (res.table.level == "high")].iloc[0]
    assert high.inconsistent and high.noise
    assert "the processes disagree" in high.sentence
    assert high.sentence not in res.sentences()


def test_drivers_section_lists_exclusions_and_within(shared_logs) -> None:
    from flowlens.report.drivers_section import drivers_section

    sec = drivers_section(drivers(flowlens.read_log(_log(n=240, two_processes=True)), resamples=100))
    assert "within processes" in sec.html and "Attributes not tested as drivers" in sec.html
    assert "Ratio per process" in sec.html


@pytest.mark.parametrize(
    ("name", "column", "rule"),
    [
        ("bpic2012", "case:REG_DATE", "time"),
        ("receipt", "case:startdate", "time"),
        ("receipt", "case:enddate", "time"),
        ("roadtraffic100", "lastSent", "outcome"),
        ("roadtraffic100", "expense", "outcome"),
        ("helpdesk", "customer", "identifier"),
        ("bpic2013-incidents", "org:group", "event"),
    ],
)
def test_exclusions_on_shared_logs(name: str, column: str, rule: str, shared_logs) -> None:
    kw = SHARED[name][1]
    log = flowlens.read_log(shared_path(name), ColumnMap(**kw) if kw else None)
    sc = screen_attributes(log)
    why = dict(zip(sc.excluded.column, sc.excluded.rule, strict=True))
    assert why.get(column) == rule, why


def test_clinical_attributes_are_not_identifiers_by_name(shared_logs) -> None:
    # "LacticAcid" ends in "id" but is a measurement; DiagnosticLacticAcid is a case flag
    sc = screen_attributes(flowlens.read_log(shared_path("sepsis")))
    assert "DiagnosticLacticAcid" in {sc_col for sc_col in sc.keep}
    assert "identifier" not in set(sc.excluded.rule)


def test_a_typed_time_column_is_named_in_plain_words() -> None:
    """A typed date-time attribute is left out as "a date-time", not as the engine's type name
    (timestamp('UTC') on DuckDB, timestamp on Spark), in Chinese too."""
    from flowlens.i18n import language, localize

    t0 = pd.Timestamp("2024-03-04 09:00", tz="UTC")
    df = pd.DataFrame(
        {
            "case": [f"c{i // 2}" for i in range(80)],
            "activity": ["a", "b"] * 40,
            "timestamp": [t0 + pd.Timedelta(hours=i) for i in range(80)],
            "opened": [t0 - pd.Timedelta(days=i // 2) for i in range(80)],
        }
    )
    sc = screen_attributes(flowlens.read_log(df))
    row = sc.excluded[sc.excluded.column == "opened"].iloc[0]
    assert row["rule"] == "time" and row["detail"] == "typed as a date-time"
    with language("zh-CN"):
        assert localize(row["detail"]) == "类型为日期时间"
