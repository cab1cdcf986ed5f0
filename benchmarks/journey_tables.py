"""Bytes of the journey detectors' stored tables (``_customer.steps``): the spill proxy of issue 14.

Builds the journeys' instance table of a log (``flowlens.findings._customer.steps``, with the
time model and customer journeys it needs) and lists the tables it leaves in the engine
(``fl_j*``): rows, columns and the uncompressed size estimate of ``table_trace`` (rows times
the columns' widths), and the memory of the engine's table store before and after the build
(``pragma_database_size``; compressed when the memory limit is below the log's need,
``Engine.compress_for``). The CPU seconds of the build are printed beside them. Run it with the
``src`` of each revision to compare (``PYTHONPATH``).

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/journey_tables.py LOG.parquet --memory-limit 300MB
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from table_trace import _width


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log", type=Path)
    ap.add_argument("--memory-limit", default="300MB")
    args = ap.parse_args()

    import flowlens
    from flowlens.engine import STORE
    from flowlens.findings import _customer
    from flowlens.findings.context import FindingContext

    log = flowlens.read_log(args.log, memory_limit=args.memory_limit)
    ctx = FindingContext(log, seed=0)
    ctx.tm.instances.count().to_pandas()
    ctx.journeys  # noqa: B018 (the customer journeys the steps read)
    con = log.engine.duckdb
    assert con is not None

    def store_memory() -> str:
        con.execute(f"CHECKPOINT {STORE}")
        sql = "SELECT memory_usage FROM pragma_database_size() WHERE database_name = ?"
        return str(con.execute(sql, [STORE]).fetchall()[0][0])

    before = store_memory()
    c0 = time.process_time()
    _customer.steps(ctx)
    cpu = time.process_time() - c0
    after = store_memory()
    rows = con.execute(
        "SELECT t.table_name, t.estimated_size, list(c.data_type ORDER BY c.column_index) "
        "FROM duckdb_tables() t JOIN duckdb_columns() c ON c.table_oid = t.table_oid "
        "WHERE t.table_name LIKE 'fl_j%' GROUP BY ALL ORDER BY t.table_name"
    ).fetchall()
    tables = [
        {
            "table": name,
            "rows": int(n or 0),
            "columns": len(types),
            "est_bytes": int(n or 0) * sum(_width(t) for t in types),
        }
        for name, n, types in rows
    ]
    total = sum(t["est_bytes"] for t in tables)
    doc = {
        "events": log.n_events,
        "compressed": log.engine.compressed,
        "steps_cpu_s": round(cpu, 2),
        "est_bytes": total,
        "store_memory_before": before,
        "store_memory_after": after,
        "tables": tables,
    }
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
