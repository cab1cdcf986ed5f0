"""Every analysis gives identical results on DuckDB and on Spark (local mode).

The core aggregates on four small shared logs; the time model, waiting split, bottlenecks and
findings in full on receipt, and the ping-pong and customer-loop detectors on small logs; every
section of the report on a sample of the bank demo. Spark starts once for this module (7-13 s);
its cost on these logs is its fixed cost per query. Every not-slow Spark test lives here: CI runs
with ``--dist loadscope``, so one worker runs this module and one JVM starts. Runs in CI:
./setup.sh --test installs the spark extra and a Java runtime, and a missing one fails the tests
(EngineError), never skips them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import flowlens
from conftest import shared_path

pytestmark = pytest.mark.spark

LOGS = ["running-example", "receipt", "bpic2012-w", "insurance-claims"]


@pytest.fixture(scope="module", params=LOGS)
def both(request, shared_logs):
    log = flowlens.read_log(shared_path(request.param))
    return log, log.to_engine("spark")


def test_engines_report_themselves(both) -> None:
    duck, spark = both
    assert duck.engine.name == "duckdb"
    assert spark.engine.name == "spark"
    assert spark.summary().engine == "spark"


def test_summary_identical(both) -> None:
    duck, spark = both
    a, b = duck.summary().to_dict(), spark.summary().to_dict()
    a.pop("engine"), b.pop("engine")
    assert a == b


def test_directly_follows_identical(both) -> None:
    duck, spark = both
    g1, g2 = flowlens.directly_follows(duck), flowlens.directly_follows(spark)
    for part in ("nodes", "edges", "start_activities", "end_activities"):
        pd.testing.assert_frame_equal(getattr(g1, part), getattr(g2, part), check_dtype=False, rtol=1e-12)


def test_variants_identical(both) -> None:
    duck, spark = both
    pd.testing.assert_frame_equal(
        flowlens.variants(duck), flowlens.variants(spark), check_dtype=False, rtol=1e-12
    )


def test_case_durations_identical(both) -> None:
    duck, spark = both
    pd.testing.assert_frame_equal(
        flowlens.case_durations(duck), flowlens.case_durations(spark), check_dtype=False
    )


# -- every analysis `flowlens analyze` runs, on Spark as on DuckDB --------------------------------
#
# One real log (receipt: 1,434 cases, 8,577 events, resources, two findings) through the time
# model, the waiting-cause split, the bottleneck report and find_wastes on both engines. Spark's
# cost here is its fixed cost per query (about 50 jobs for the time model), not the log's size, so
# one log keeps the module within CI's budget; the 10^7-event figures are in
# benchmarks/results/ (bench_stages.py --engine spark).

#: Relative tolerance for sums and means: the engines add floating point numbers in different
#: orders; every count, identifier and order must be identical.
RTOL = 1e-9


def assert_same(a: object, b: object, where: str = "") -> None:
    """``a == b`` for nested results, floats to :data:`RTOL`, frames row by row in order."""
    import math

    import numpy as np

    if isinstance(a, pd.DataFrame):
        assert isinstance(b, pd.DataFrame), where
        pd.testing.assert_frame_equal(
            a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False, rtol=RTOL, obj=where
        )
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_dtype=False, rtol=RTOL, obj=where)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a, key=str) == sorted(b, key=str), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float | np.floating) and isinstance(b, float | np.floating | int | np.integer):
        assert (math.isnan(a) and math.isnan(float(b))) or math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-9), (
            f"{where}: {a} != {b}"
        )
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.fixture(scope="module")
def analysed(shared_logs):
    """The analyses of `flowlens analyze` on receipt, per engine."""
    from flowlens.analysis.bottlenecks import bottleneck_report
    from flowlens.analysis.waiting import waiting_causes
    from flowlens.findings.api import find_wastes
    from flowlens.findings.context import FindingContext
    from flowlens.timing.model import time_model

    duck = flowlens.read_log(shared_path("receipt"))
    out = {}
    for log in (duck, duck.to_engine("spark")):
        tm = time_model(log)
        wa = waiting_causes(tm)
        out[log.engine.name] = {
            "log": log,
            "tm": tm,
            "wa": wa,
            "bottlenecks": bottleneck_report(tm),
            "findings": find_wastes(log, ctx=FindingContext(log, seed=0, _tm=tm, _waiting=wa)),
        }
    return out["duckdb"], out["spark"]


def _frame(table, key: str) -> pd.DataFrame:
    return table.to_pandas().sort_values(key, kind="stable").reset_index(drop=True)


def test_time_model_identical(analysed) -> None:
    duck, spark = analysed
    assert duck["tm"].starts_estimated == spark["tm"].starts_estimated
    for part, key in (("instances", "eid"), ("cases", "case_idx")):
        a, b = _frame(getattr(duck["tm"], part), key), _frame(getattr(spark["tm"], part), key)
        assert list(a.columns) == list(b.columns)
        assert_same(a, b, part)


def test_waiting_causes_identical(analysed) -> None:
    duck, spark = analysed
    for level in ("activity", "transition", "resource"):
        assert_same(duck["wa"].by(level), spark["wa"].by(level), f"waiting by {level}")
    assert_same(
        _frame(duck["wa"].per_instance, "eid"), _frame(spark["wa"].per_instance, "eid"), "per instance"
    )
    assert_same(duck["wa"].batches, spark["wa"].batches, "batches")


def test_bottlenecks_identical(analysed) -> None:
    duck, spark = analysed
    a, b = duck["bottlenecks"], spark["bottlenecks"]
    assert_same(a.to_dict(), b.to_dict(), "bottlenecks")
    for level in a.levels:
        assert_same(a.levels[level], b.levels[level], f"bottlenecks {level}")
    for level in a.utilisation:
        assert_same(a.utilisation[level], b.utilisation[level], f"utilisation {level}")


def test_findings_identical(analysed) -> None:
    duck, spark = analysed
    a = duck["findings"].to_dict(all_cases=True)
    b = spark["findings"].to_dict(all_cases=True)
    # the detectors' own timings differ from run to run; everything else must not
    for d in (a, b):
        d["detectors"] = [{k: v for k, v in det.items() if k != "seconds"} for det in d["detectors"]]
    assert a["findings"], "receipt has findings: the comparison must not be vacuous"
    assert_same(a, b, "findings")


def test_customer_loop_and_ping_pong_findings_identical() -> None:
    """The detectors receipt has no case for (ping-pong between teams, customer wait loops,
    idle statuses) on the small logs their own tests build (tests/findings)."""
    from findings._rework_data import log_from, run
    from findings.test_customer_loops import document_rows, status_rows
    from findings.test_pingpong import bounce_rows, hop_rows

    rows = bounce_rows()
    rows += [(*r, "kyc") for i in range(10) for r in document_rows(f"d{i}", 2)]
    rows += [(*r, "ops") for r in status_rows()]
    for i in range(3):
        rows += [r[:6] for r in hop_rows(f"p{i}", ["L1", "L2", "L1", "L2", "L1"])]
        rows += [r[:6] for r in hop_rows(f"u{i}", ["L1", "L2", "L1"])]
    log = log_from(rows, extra=["team"])

    def summary(lg):  # type: ignore[no-untyped-def]
        found = run(lg)
        return sorted(
            (f.kind, f.title, round(f.customer_time_s, 3), tuple(sorted(f.per_case_s.items()))) for f in found
        )

    duck = summary(log)
    assert {k for k, *_ in duck} >= {"ping_pong", "customer_wait_loop", "idle_status"}
    assert summary(log.to_engine("spark")) == duck


def test_two_spark_logs_keep_their_own_stored_tables(shared_logs) -> None:
    """Every Spark engine of a process shares one session, where the stored tables are views:
    a second log's tables must not replace the first's."""
    first = flowlens.read_log(shared_path("running-example")).to_engine("spark")
    second = flowlens.read_log(shared_path("receipt")).to_engine("spark")
    a = first.engine.materialize(first.table)
    b = second.engine.materialize(second.table)
    assert a.get_name() != b.get_name()
    assert a.count().to_pyarrow().as_py() == first.n_events
    assert b.count().to_pyarrow().as_py() == second.n_events


def test_find_wastes_drops_its_intermediate_views_on_spark() -> None:
    """Spark's materialised tables are checkpointed views: the detectors drop theirs (methods
    4.1) as on DuckDB, so their blocks do not stay on the executors till the end."""
    from flowlens.findings.api import find_wastes
    from test_engine_tables import KEPT, loop_log

    log = loop_log().to_engine("spark")
    session = log.engine.backend._session
    before = {t.name for t in session.catalog.listTables() if t.isTemporary}
    report = find_wastes(log, resamples=50)
    assert report.detectors
    made = {t.name for t in session.catalog.listTables() if t.isTemporary} - before
    left = sorted(re.sub(r"_\d+$", "", name) for name in made if name.startswith("fl_"))
    assert set(left) <= KEPT - {"fl_sla"}, left
    assert left.count("fl_instances") == 1 and left.count("fl_cases") == 1


def test_staging_folder_hands_the_log_over(shared_logs, tmp_path, monkeypatch) -> None:
    """With FLOWLENS_SPARK_STAGING (a cluster's shared folder URI), the event table is copied
    there through Hadoop's file systems and Spark reads it from there: same results."""
    from flowlens.engine import ENV_SPARK_STAGING

    staging = tmp_path / "staging"
    monkeypatch.setenv(ENV_SPARK_STAGING, staging.as_uri())
    duck = flowlens.read_log(shared_path("running-example"))
    spark = duck.to_engine("spark")
    copied = list(staging.glob("flowlens-*/events.parquet"))
    assert len(copied) == 1
    a, b = duck.summary().to_dict(), spark.summary().to_dict()
    a.pop("engine"), b.pop("engine")
    assert a == b


def test_staging_folder_error_is_one_line(shared_logs, monkeypatch) -> None:
    from flowlens.engine import ENV_SPARK_STAGING
    from flowlens.errors import EngineError

    monkeypatch.setenv(ENV_SPARK_STAGING, "nosuchscheme://bucket/tmp")
    duck = flowlens.read_log(shared_path("running-example"))
    with pytest.raises(EngineError, match="FLOWLENS_SPARK_STAGING='nosuchscheme://bucket/tmp'"):
        duck.to_engine("spark")


@pytest.mark.slow
def test_spark_submit_runs_analyze(shared_logs, tmp_path) -> None:
    """docs/spark.md's spark-submit, in local mode: flowlens takes spark-submit's session and
    hands the log over through the staging folder (about a minute: a JVM of its own)."""
    import os
    import subprocess
    import sys

    submit = Path(sys.executable).with_name("spark-submit")
    main = Path(flowlens.__file__).with_name("__main__.py")
    env = dict(os.environ, FLOWLENS_SPARK_STAGING=(tmp_path / "staging").as_uri())
    env["PYSPARK_PYTHON"] = env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    env["PYTHONPATH"] = os.pathsep.join([str(main.parents[1]), env.get("PYTHONPATH", "")])
    cmd = [str(submit), "--master", "local[1]", "--driver-memory", "1g", str(main), "analyze"]
    cmd += [str(shared_path("running-example")), "--engine", "spark", "--quick", "-o", str(tmp_path / "out")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "out" / "report.html").exists()
    assert '"engine": "spark"' in (tmp_path / "out" / "results.json").read_text()
    assert list((tmp_path / "staging").glob("flowlens-*/events.parquet"))


# -- the whole report: every section's numbers, on a sample of the bank demo ----------------------
#
# The bank demo has what receipt lacks: several processes, customers (journeys), case attributes
# (segments, slow-case drivers) and deadlines. A sample of its customers keeps Spark's part short.

DEMO = Path(__file__).resolve().parents[1] / "event_logs" / "bank_demo"


def _without_engine(x: object) -> object:
    """Section data with the engine's name and the run's provenance left out (the drivers' note
    on a time column says "a date-time" on both engines, not the engine's type name)."""
    if isinstance(x, dict):
        return {k: _without_engine(v) for k, v in x.items() if k not in ("engine", "seconds")}
    if isinstance(x, list):
        return [_without_engine(v) for v in x]
    return x


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from flowlens.io.cases import add_case_attributes
    from flowlens.report.build import ReportOptions, build_report

    folder = tmp_path_factory.mktemp("demo_sample")
    events, cases = pq.read_table(DEMO / "events.parquet"), pq.read_table(DEMO / "cases.parquet")
    # whole customers, so that their journeys are complete: the first 300 by id
    customers = pc.unique(events["customer_id"]).sort()[:300]
    pq.write_table(events.filter(pc.is_in(events["customer_id"], customers)), folder / "events.parquet")
    pq.write_table(cases.filter(pc.is_in(cases["customer_id"], customers)), folder / "cases.parquet")
    duck = add_case_attributes(
        flowlens.read_log(folder / "events.parquet", tz="Asia/Shanghai"), folder / "cases.parquet"
    )
    options = ReportOptions(seed=0, resamples=200, sla=("CN_NFRA_2020",))
    out = []
    for log in (duck, duck.to_engine("spark")):
        report = build_report(log, options)
        out.append({s.id: _without_engine(s.data) for s in report.sections if s.id not in ("reproduce",)})
    return out


def test_every_report_section_identical(reports) -> None:
    duck, spark = reports
    for needed in ("summary", "map", "variants", "waiting", "bottlenecks", "findings", "journeys"):
        assert needed in duck, f"the sample must exercise section {needed}: {sorted(duck)}"
    assert sorted(duck) == sorted(spark)
    for sid in duck:
        assert_same(duck[sid], spark[sid], sid)
