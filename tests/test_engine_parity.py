"""The core aggregates give identical results on DuckDB and on Spark (local mode).

Spark starts once for this module (7-13 s); the logs are small shared logs so the module stays
quick. Runs in CI: ./setup.sh --test installs the spark extra and a Java runtime.
"""

from __future__ import annotations

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
