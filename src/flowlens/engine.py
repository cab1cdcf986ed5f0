"""The engines an event log lives in: DuckDB (embedded, default) or Spark (``flowlens[spark]``).

Ingestion (reading files, the data-quality gate, lifecycle pairing) always runs in an embedded
DuckDB connection, which reads CSV and Parquet natively and spills to disk when a log does not
fit in memory. Every analysis above it is an Ibis expression over the canonical event table,
so the same query runs on DuckDB and, after :meth:`EventLog.to_engine`, on Spark.

>>> from flowlens.engine import duckdb_engine
>>> eng = duckdb_engine()
>>> eng.name
'duckdb'
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlens.errors import ConfigError, EngineError

if TYPE_CHECKING:
    import duckdb
    import ibis
    from ibis.backends import BaseBackend

ENGINES = ("duckdb", "spark")


@dataclass
class Engine:
    """A connection to one engine: an Ibis backend plus, for DuckDB, the raw connection."""

    name: str
    backend: BaseBackend
    duckdb: duckdb.DuckDBPyConnection | None = None
    workdir: Path | None = field(default=None, repr=False)
    _counter: int = field(default=0, repr=False)

    def table(self, name: str) -> ibis.Table:
        return self.backend.table(name)

    def materialize(self, expr: ibis.Table, *, prefix: str = "fl") -> ibis.Table:
        """Compute ``expr`` once into a temporary table and return that table.

        Ibis's own ``cache()``/``create_table`` do not work with DuckDB 2.0 (docs/engine.md),
        so DuckDB gets ``CREATE TEMP TABLE ... AS`` with the compiled SQL; Spark checkpoints a
        temporary view.
        """
        import ibis

        self._counter += 1
        name = f"{prefix}_{self._counter}"
        # Registers the in-memory tables (memtables) the expression refers to.
        self.backend._run_pre_execute_hooks(expr)  # type: ignore[attr-defined]
        if self.name == "duckdb":
            assert self.duckdb is not None
            sql = ibis.to_sql(expr, dialect="duckdb")
            self.duckdb.execute(f'CREATE TEMP TABLE "{name}" AS {sql}')
            # DuckDB sums BIGINT into HUGEINT, which Ibis reads as an object column; the
            # expression's own type is int64, so store it as such.
            wide = self.duckdb.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND data_type = 'HUGEINT'",
                [name],
            ).fetchall()
            for (col,) in wide:
                self.duckdb.execute(f'ALTER TABLE "{name}" ALTER COLUMN "{col}" TYPE BIGINT')
            return self.backend.table(name)
        session = self.backend._session  # type: ignore[attr-defined]
        frame = session.sql(str(ibis.to_sql(expr, dialect="pyspark")))
        # A checkpoint, not cache(): it cuts the lineage, so plans built on materialised tables
        # stay small (a cached view keeps its whole plan, and plans that read it several times
        # grow until the driver runs out of memory printing them).
        frame.localCheckpoint(eager=True).createOrReplaceTempView(name)
        return self.backend.table(name)


def _workdir() -> Path:
    """A private scratch folder for spills and engine hand-over files, removed at exit."""
    d = Path(tempfile.mkdtemp(prefix="flowlens-"))
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    return d


def duckdb_engine(*, threads: int | None = None, memory_limit: str | None = None) -> Engine:
    """A fresh in-memory DuckDB connection that spills to a private temp folder."""
    import duckdb
    import ibis

    from flowlens.interrupts import register

    workdir = _workdir()
    con = duckdb.connect(":memory:")
    register(con)  # Ctrl-C interrupts its queries (flowlens.interrupts)
    con.execute(f"SET threads = {int(threads or os.cpu_count() or 1)}")
    con.execute(f"SET temp_directory = '{workdir / 'spill'}'")
    # Timestamps are stored as UTC microseconds; the session zone only affects parsing,
    # which sets it explicitly.
    con.execute("SET TimeZone = 'UTC'")
    # DuckDB draws a progress bar on stdout for long queries, which would corrupt --json.
    con.execute("SET enable_progress_bar = false")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    backend = ibis.duckdb.from_connection(con)
    return Engine(name="duckdb", backend=backend, duckdb=con, workdir=workdir)


_SPARK: dict[str, Any] = {}


def spark_session() -> Any:
    """The process-wide local Spark session (started on first use, ~10 s)."""
    if "session" not in _SPARK:
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise EngineError(
                "the Spark engine needs the optional extra",
                hint="pip install 'flowlens[spark]' (and a Java 17+ runtime)",
            ) from exc
        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            raise EngineError(
                "the Spark engine needs a Java runtime (java not found on PATH)",
                hint="install OpenJDK 17, e.g. apt-get install openjdk-17-jre-headless",
            )
        builder = (
            SparkSession.builder.master(os.environ.get("FLOWLENS_SPARK_MASTER", "local[2]"))
            .appName("flowlens")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", os.environ.get("FLOWLENS_SPARK_PARTITIONS", "8"))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        )
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        _SPARK["session"] = session
    return _SPARK["session"]


def spark_engine() -> Engine:
    """An Ibis backend over the local Spark session."""
    import ibis

    session = spark_session()
    return Engine(name="spark", backend=ibis.pyspark.connect(session), workdir=_workdir())


def check_engine_name(name: str) -> str:
    if name not in ENGINES:
        raise ConfigError(f"unknown engine '{name}'; choose one of {', '.join(ENGINES)}")
    return name
