"""Where flowlens spends its time on the bundle: every SQL statement, timed, with its top operators.

    .venv/bin/python benchmarks/profile_flowlens.py benchmarks/data/bundle_1e7_seed42.parquet
    .venv/bin/python benchmarks/profile_flowlens.py LOG --explain   # + DuckDB operator profile

Runs the same bundle as ``bench_bundle.py`` (read_log, directly_follows, variants,
case_durations) in this process, without changing flowlens: the ingest DuckDB connection is
wrapped in a proxy that times each statement the gate issues (``flowlens.io.gate``), and the
Ibis DuckDB backend's ``execute`` is wrapped to time each analysis query. With ``--explain``
DuckDB's JSON profiler is switched on per statement and the costliest operators are listed
(operator times are CPU seconds summed over threads, so they can exceed wall time). Time not
covered by any statement is Python: Ibis compilation, Arrow/pandas conversion, glue.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RECORDS: list[dict[str, Any]] = []
PHASE = ["-"]
PROFILE_DIR = Path(tempfile.mkdtemp(prefix="flowlens-profile-"))
EXPLAIN = [False]


def _label(sql: str) -> str:
    text = " ".join(sql.split())
    m = re.match(r"(CREATE (?:TEMP )?TABLE \w+|INSERT INTO \w+|DROP TABLE \w+|SET \w+)", text, re.I)
    if m:
        return m.group(1)
    return text[:70]


def _top_operators(path: Path, n: int = 4) -> list[str]:
    if not path.exists():
        return []
    doc = json.loads(path.read_text())
    ops: list[tuple[float, str]] = []

    def walk(node: dict[str, Any]) -> None:
        info = node.get("extra_info") or {}
        detail = ""
        for key in (
            "Partition By",
            "Order By",
            "Groups",
            "Aggregates",
            "Join Type",
            "Conditions",
            "Function",
        ):
            if key in info:
                val = info[key]
                val = " ".join(val) if isinstance(val, list) else str(val)
                detail += f" {key}: {val[:60]}"
        rows = node.get("operator_cardinality", node.get("intermediate_rows"))
        ops.append(
            (
                float(node.get("timing") or node.get("operator_timing") or 0.0),
                f"{node.get('name')} rows={rows}{detail}",
            )
        )
        for child in node.get("children", []):
            walk(child)

    for root in doc.get("operator", [doc]):
        walk(root)
    ops.sort(reverse=True)
    return [f"{t:7.2f} s  {name}" for t, name in ops[:n] if t >= 0.05]


def _run(con: Any, sql: str, call: Any) -> Any:
    prof = None
    if EXPLAIN[0]:
        prof = PROFILE_DIR / f"q{len(RECORDS):04d}.json"
        con.execute(f"SET profiling_output = '{prof}'")
    t0, c0 = time.perf_counter(), time.process_time()
    out = call()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    # The profile of a SELECT is written once its result is consumed: parse at the end.
    RECORDS.append(
        {
            "phase": PHASE[0],
            "label": _label(sql),
            "seconds": dt,
            "cpu_s": dc,
            "sql": sql,
            "profile": str(prof) if prof else None,
        }
    )
    return out


class TimedConnection:
    """Delegates to a DuckDB connection; times ``execute``."""

    def __init__(self, con: Any) -> None:
        self._con = con

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        return _run(self._con, sql, lambda: self._con.execute(sql, *args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def install_hooks() -> None:
    import ibis
    from ibis.backends.duckdb import Backend

    import flowlens.io as fio
    from flowlens.engine import duckdb_engine

    def engine_with_timing(**kwargs: Any) -> Any:
        eng = duckdb_engine(**kwargs)
        if EXPLAIN[0]:
            eng.duckdb.execute("PRAGMA enable_profiling = 'json'")
        eng.duckdb = TimedConnection(eng.duckdb)  # ibis keeps the real connection
        return eng

    fio.duckdb_engine = engine_with_timing  # read_log looks the name up in flowlens.io

    original = Backend.execute

    def execute(self: Any, expr: Any, /, **kwargs: Any) -> Any:
        sql = str(ibis.to_sql(expr, dialect="duckdb"))
        return _run(self.con, sql, lambda: original(self, expr, **kwargs))

    Backend.execute = execute  # type: ignore[method-assign]

    original_create = Backend.create_table

    def create_table(self: Any, name: str, obj: Any = None, /, **kwargs: Any) -> Any:
        sql = f"CREATE TABLE {name} AS " + (
            str(ibis.to_sql(obj, dialect="duckdb")) if obj is not None else ""
        )
        return _run(self.con, sql, lambda: original_create(self, name, obj, **kwargs))

    Backend.create_table = create_table  # type: ignore[method-assign]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path")
    p.add_argument("--explain", action="store_true", help="DuckDB operator profile per statement")
    p.add_argument("--top", type=int, default=15, help="statements to list (default 15)")
    p.add_argument("--min-seconds", type=float, default=0.02)
    p.add_argument("--sql", action="store_true", help="print the SQL of the listed statements")
    p.add_argument("--json", help="write all records here")
    p.add_argument(
        "--warm",
        action="store_true",
        help="run the bundle once before the measured run (first-use imports and caches out, "
        "as bench_bundle.py's clock leaves imports out)",
    )
    args = p.parse_args()
    EXPLAIN[0] = args.explain

    import duckdb  # noqa: F401
    import ibis  # noqa: F401

    import flowlens
    import flowlens.discovery.cases
    import flowlens.discovery.dfg
    import flowlens.discovery.variants

    install_hooks()
    # the bundle's steps after reading, in order (warm-up and measured run alike)
    steps = (
        ("directly_follows", flowlens.directly_follows),
        ("variants", flowlens.variants),
        ("case_durations", flowlens.case_durations),
    )
    if args.warm:
        warm = flowlens.read_log(args.path)
        for _name, step in steps:
            step(warm)
        del warm
        RECORDS.clear()
    phases: dict[str, float] = {}
    phase_cpu: dict[str, float] = {}
    t_all, c_all = time.perf_counter(), time.process_time()
    load = os.getloadavg()[0]

    def phase(name: str, fn: Any, *a: Any) -> Any:
        PHASE[0] = name
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn(*a)
        phases[name] = time.perf_counter() - t0
        phase_cpu[name] = time.process_time() - c0
        return out

    log = phase("read_log", flowlens.read_log, args.path)
    for name, step in steps:
        phase(name, step, log)
    total, total_cpu = time.perf_counter() - t_all, time.process_time() - c_all
    PHASE[0] = "-"
    n_events, n_cases = log.n_events, log.n_cases  # after the clock: not part of the bundle
    for r in RECORDS:
        prof = r.pop("profile", None)
        r["operators"] = _top_operators(Path(prof)) if prof else []

    print(
        f"{args.path}: {n_events:,} events, {n_cases:,} cases; "
        f"bundle {total:.2f} s, CPU {total_cpu:.2f} s (load {load:.1f} before)"
        f"{' (profiling on: slower)' if args.explain else ''}"
    )
    for name, sec in phases.items():
        in_sql = sum(r["seconds"] for r in RECORDS if r["phase"] == name)
        n = sum(1 for r in RECORDS if r["phase"] == name)
        print(
            f"  {name:<17} {sec:7.2f} s  CPU {phase_cpu[name]:6.2f} s  {n:3d} statements {in_sql:7.2f} s, "
            f"outside SQL {sec - in_sql:5.2f} s"
        )
    print(f"\ncostliest statements (of {len(RECORDS)}):")
    for r in sorted(RECORDS, key=lambda r: -r["seconds"])[: args.top]:
        if r["seconds"] < args.min_seconds:
            break
        print(f"{r['seconds']:7.2f} s  CPU {r['cpu_s']:6.2f} s  {r['phase']:<17} {r['label']}")
        for op in r["operators"]:
            print(f"             {op}")
        if args.sql:
            print("             " + " ".join(r["sql"].split())[:600])
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "phases": phases,
                    "phase_cpu": phase_cpu,
                    "total": total,
                    "total_cpu": total_cpu,
                    "loadavg_before": load,
                    "statements": RECORDS,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
