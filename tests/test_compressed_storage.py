"""A log larger than the engine's memory keeps its tables compressed (methods 4.1, issue 14):
the same analyses give the same numbers, row for row, as on uncompressed tables.

Compression is forced on small shared logs by lowering the size at which it starts
(``flowlens.engine.BYTES_PER_EVENT``, read only by :meth:`Engine.compress_for`; the time
model's slices keep their own copy, so both runs compute in the same slices).
"""

from __future__ import annotations

import pandas as pd
import pytest

import flowlens
import flowlens.engine
from conftest import shared_path
from flowlens.analysis.waiting import waiting_causes
from flowlens.timing.model import time_model


def _frame(t) -> pd.DataFrame:
    key = "eid" if "eid" in t.columns else "case_idx"
    return t.order_by(key).to_pandas()


def _outputs(log: flowlens.EventLog) -> dict[str, object]:
    tm = time_model(log)
    wa = waiting_causes(tm)
    return {
        "events": _frame(log.table),
        "instances": _frame(tm.instances),
        "cases": _frame(tm.cases),
        "overall": tm.overall(),
        "waiting": _frame(wa.per_instance),
        "by_activity": wa.by("activity"),
        "dfg": flowlens.directly_follows(log).edges,
    }


@pytest.mark.parametrize("name", ["receipt", "bank-callcenter"])
def test_compressed_tables_give_the_same_results(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = shared_path(name)
    plain = flowlens.read_log(path)
    assert not plain.engine.compressed
    want = _outputs(plain)
    # every log is "too large" now: its tables are stored compressed
    monkeypatch.setattr(flowlens.engine, "BYTES_PER_EVENT", 10**15)
    packed = flowlens.read_log(path)
    assert packed.engine.compressed
    got = _outputs(packed)
    for key, value in want.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(got[key], value, check_exact=True, obj=key)  # type: ignore[arg-type]
        else:
            assert got[key] == value, key
    # the tables really are compressed: the log's table and a materialised one
    con = packed.engine.duckdb
    assert con is not None
    for table in ("events", packed.engine.materialize(packed.table.select("eid", "activity")).get_name()):
        kinds = {
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT compression FROM pragma_storage_info('{flowlens.engine.STORE}.{table}')"
            ).fetchall()
        }
        assert kinds - {"Uncompressed"}, (table, kinds)


def test_small_logs_stay_uncompressed() -> None:
    """The compression pass costs more than it saves while the log fits the engine's memory."""
    df = pd.DataFrame({"case": ["1", "1"], "activity": ["a", "b"], "timestamp": ["2024-01-01", "2024-01-02"]})
    log = flowlens.read_log(df, memory_limit="200MB")
    assert not log.engine.compressed
    assert log.engine.compress_for(10**6)  # 10^6 events x 500 B > 170 MB of engine memory


def test_a_log_that_fits_is_never_compressed_by_the_engine_itself(tmp_path) -> None:
    """DuckDB checkpoints a catalog by itself after every 16 MiB written, which compressed the
    tables of logs that fit too (a fifth of reading a 10^5-event CSV): only Engine.compress_for
    decides. Reading this CSV writes more than 16 MiB; the log's table stays plain."""
    import numpy as np

    n = 100_000
    rng = np.random.default_rng(3)
    path = tmp_path / "log.csv"
    end = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s")
    pd.DataFrame(
        {
            "case": [f"case-{i:07d}" for i in rng.integers(0, 20_000, n)],
            "activity": [f"activity number {i}" for i in rng.integers(0, 30, n)],
            "resource": [f"R{i:03d}" for i in rng.integers(0, 100, n)],
            "start_time": end - pd.to_timedelta(rng.integers(0, 3600, n), unit="s"),
            "end_time": end,
        }
    ).to_csv(path, index=False)
    log = flowlens.read_log(path)
    assert not log.engine.compressed
    con = log.engine.duckdb
    assert con is not None
    kinds = {
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT compression FROM pragma_storage_info('{flowlens.engine.STORE}.events')"
        ).fetchall()
    }
    assert kinds == {"Uncompressed"}, kinds


def test_transient_tables_are_not_compressed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step's short-lived table (inside one slice of cases) stays out of the compressed
    catalog: the next table's compression pass does not compress it too."""
    monkeypatch.setattr(flowlens.engine, "BYTES_PER_EVENT", 10**15)
    df = pd.DataFrame({"case": ["1", "1"], "activity": ["a", "b"], "timestamp": ["2024-01-01", "2024-01-02"]})
    log = flowlens.read_log(df)
    eng = log.engine
    assert eng.compressed and eng.duckdb is not None
    short = eng.materialize(log.table.select("eid"), transient=True)
    kept = eng.materialize(log.table.select("eid"))
    where = dict(eng.duckdb.execute("SELECT table_name, database_name FROM duckdb_tables()").fetchall())
    assert where[short.get_name()] == "temp"
    assert where[kept.get_name()] == flowlens.engine.STORE
    assert short.to_pandas().equals(kept.to_pandas())
