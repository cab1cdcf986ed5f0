"""Bytes of the journey or rework detectors' stored tables: the spill proxy of issue 14.

Builds the journeys' instance table of a log (``flowlens.findings._customer.steps``, with the
time model and customer journeys it needs; ``--step journeys``, the default) or rework's repeat
table (``flowlens.findings.rework.repeats``: the shared instance table, the repeat table and
ping-pong's bounces; ``--step repeats``) and lists the tables it leaves in the engine (``fl_j*``,
or ``fl_finstances*``, ``fl_rework*`` and ``fl_pp*``): rows, columns and the uncompressed size
estimate of ``table_trace`` (rows times
the columns' widths), and the memory of the engine's table store before and after the build
(``pragma_database_size``; compressed when the memory limit is below the log's need,
``Engine.compress_for``). The CPU seconds of the build are printed beside them. Run it with the
``src`` of each revision to compare (``PYTHONPATH``).

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/journey_tables.py LOG.parquet --memory-limit 300MB
    PYTHONPATH=src .venv/bin/python benchmarks/journey_tables.py LOG.parquet --step repeats
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from table_trace import _width

#: the tables each step leaves (a condition on ``t.table_name``)
STEPS = {
    "journeys": "t.table_name LIKE 'fl_j%'",
    "repeats": "t.table_name LIKE 'fl_finstances%' OR t.table_name LIKE 'fl_rework%' OR t.table_name LIKE 'fl_pp%'",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log", type=Path)
    ap.add_argument("--memory-limit", default="300MB")
    ap.add_argument("--step", choices=sorted(STEPS), default="journeys", help="the tables to build")
    args = ap.parse_args()

    import flowlens
    from flowlens.engine import STORE
    from flowlens.findings import _customer, rework
    from flowlens.findings.context import FindingContext

    log = flowlens.read_log(args.log, memory_limit=args.memory_limit)
    ctx = FindingContext(log, seed=0)
    ctx.tm.instances.count().to_pandas()
    if args.step == "journeys":
        ctx.journeys  # noqa: B018 (the customer journeys the steps read)
    else:
        ctx.step_roles  # noqa: B018 (the roles the repeats read)
    con = log.engine.duckdb
    assert con is not None

    def store_memory() -> str:
        con.execute(f"CHECKPOINT {STORE}")
        sql = "SELECT memory_usage FROM pragma_database_size() WHERE database_name = ?"
        return str(con.execute(sql, [STORE]).fetchall()[0][0])

    before = store_memory()
    c0 = time.process_time()
    _customer.steps(ctx) if args.step == "journeys" else rework.repeats(ctx)
    cpu = time.process_time() - c0
    after = store_memory()
    rows = con.execute(
        "SELECT t.table_name, t.estimated_size, list(c.data_type ORDER BY c.column_index) "
        "FROM duckdb_tables() t JOIN duckdb_columns() c ON c.table_oid = t.table_oid "
        f"WHERE ({STEPS[args.step]}) GROUP BY ALL ORDER BY t.table_name"
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
        "step": args.step,
        "steps_cpu_s": round(cpu, 2),
        "est_bytes": total,
        "store_memory_before": before,
        "store_memory_after": after,
        "tables": tables,
    }
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
