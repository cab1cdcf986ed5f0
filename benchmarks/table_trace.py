"""Which engine tables are alive after each stage, how big, and which a later stage still reads.

``bench_stages.py --list-tables`` (issue 14: what a run leaves on disk at 10^8). DuckDB's own
query log (``CALL enable_logging('QueryLog')``) records every statement the connection runs;
:meth:`TableTrace.snapshot` lists the tables alive at a stage's end (``duckdb_tables()``: rows,
columns and an uncompressed size estimate, the row count times the columns' widths) and marks
the end in the log. :meth:`TableTrace.report` then finds, for each table alive at a stage's
end, the last stage whose statements read it (a statement naming it that is not its own
``CREATE``, ``INSERT INTO`` or ``DROP``): a table alive after the last stage that reads it is
held for nothing.

>>> import duckdb
>>> con = duckdb.connect()
>>> trace = TableTrace(con)
>>> _ = con.execute("CREATE TABLE fl_x_1 AS SELECT range AS eid FROM range(10)")
>>> trace.snapshot("make")
>>> _ = con.execute("SELECT count(*) FROM fl_x_1").fetchall()
>>> trace.snapshot("read")
>>> [(r["table"], r["rows"], r["last_read"]) for r in trace.report()["make"]]
[('fl_x_1', 10, 'read')]
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

#: bytes per value of a column type, uncompressed (text: DuckDB's 16-byte string header)
WIDTHS = {"BOOLEAN": 1, "TINYINT": 1, "SMALLINT": 2, "INTEGER": 4, "FLOAT": 4, "DATE": 4, "VARCHAR": 16}
#: a table flowlens made (``Engine.materialize``/``append``: ``prefix_N``) or the log's own
NAME = re.compile(r"\b(fl_[a-z_]+_\d+|events)\b")
#: the table a statement writes: ``CREATE TABLE "x" AS``, ``INSERT INTO "x"``, ``DROP TABLE x``
WRITE = re.compile(
    r"\s*(?:CREATE (?:OR REPLACE )?(?:TEMP )?TABLE|INSERT INTO|DROP TABLE(?: IF EXISTS)?|ALTER TABLE)\s+"
    r'(?:[\w"]+\.)*"?(\w+)"?',
    re.IGNORECASE,
)


def _width(data_type: str) -> int:
    return WIDTHS.get(data_type.split("(")[0], 8)


class TableTrace:
    """Stage-end listings of one DuckDB connection's tables and the statements between them."""

    def __init__(self, con: Any) -> None:
        self.con = con
        con.execute("CALL enable_logging('QueryLog')")
        self.stages: list[tuple[str, int, list[dict[str, Any]]]] = []

    def _last_log_id(self) -> int:
        rows = self.con.execute("SELECT max(context_id) FROM duckdb_logs").fetchall()
        return int(rows[0][0] or 0)

    def snapshot(self, stage: str) -> None:
        """The tables alive now, as the end of ``stage``."""
        tables = self.con.execute(
            "SELECT t.database_name, t.table_name, t.estimated_size, t.column_count, t.temporary, "
            "       list(c.data_type) "
            "FROM duckdb_tables() t JOIN duckdb_columns() c "
            "  ON c.database_name = t.database_name AND c.schema_name = t.schema_name "
            "  AND c.table_name = t.table_name "
            "GROUP BY ALL ORDER BY t.table_name"
        ).fetchall()
        rows = [
            {
                "table": name,
                "database": db,
                "rows": int(n or 0),
                "columns": int(k),
                "temporary": bool(temp),
                "est_bytes": int(n or 0) * sum(_width(t) for t in types),
            }
            for db, name, n, k, temp, types in tables
        ]
        self.stages.append((stage, self._last_log_id(), rows))

    def statements(self) -> list[tuple[int, str]]:
        return [
            (int(i), str(m))
            for i, m in self.con.execute(
                "SELECT context_id, message FROM duckdb_logs WHERE type = 'QueryLog' ORDER BY context_id"
            ).fetchall()
        ]

    def report(self) -> dict[str, list[dict[str, Any]]]:
        """Per stage, its end's tables with ``made`` (the stage that made it) and ``last_read``
        (the last stage whose statements read it; None: nothing after it was made)."""
        ends = [end for _, end, _ in self.stages]
        names = [s for s, _, _ in self.stages]

        def stage_of(log_id: int) -> str:
            for name, end in zip(names, ends, strict=True):
                if log_id <= end:
                    return name
            return "after"

        last_read: dict[str, int] = {}
        for log_id, sql in self.statements():
            # a statement's own target (made, filled, changed or dropped) is not read by it
            target = WRITE.match(sql)
            own = target.group(1) if target else None
            for name in set(NAME.findall(sql)) - {own}:
                last_read[name] = log_id
        made: dict[str, str] = {}
        out: dict[str, list[dict[str, Any]]] = {}
        for stage, _, rows in self.stages:
            for r in rows:
                made.setdefault(r["table"], stage)
            out[stage] = [
                r
                | {
                    "made": made[r["table"]],
                    "last_read": stage_of(last_read[r["table"]]) if r["table"] in last_read else None,
                }
                for r in rows
            ]
        return out


def held_for_nothing(report: dict[str, list[dict[str, Any]]], stage: str, row: dict[str, Any]) -> bool:
    """``row`` (a table alive at ``stage``'s end) is read by no later stage."""
    order = list(report)
    last = row["last_read"]
    return last is None or (last in order and order.index(last) <= order.index(stage))


def print_summary(report: dict[str, list[dict[str, Any]]], file: Any) -> None:
    """One line per stage: the tables alive at its end, their uncompressed size (estimate) and
    the part no later stage reads."""
    for stage, rows in report.items():
        idle = sum(r["est_bytes"] for r in rows if held_for_nothing(report, stage, r))
        print(
            f"  after {stage:<20} {len(rows):>3} tables {sum(r['est_bytes'] for r in rows) / 1e9:7.3f} GB, "
            f"read by no later stage {idle / 1e9:7.3f} GB",
            file=file,
        )


def print_tables(report: dict[str, list[dict[str, Any]]], file: Any, min_rows: int = 0) -> None:
    """One block per stage: its end's tables (at least ``min_rows`` rows), largest first."""
    for stage, rows in report.items():
        shown = sorted((r for r in rows if r["rows"] >= min_rows), key=lambda r: -r["est_bytes"])
        total = sum(r["est_bytes"] for r in rows) / 1e9
        print(f"## after {stage}: {len(rows)} tables, {total:.2f} GB uncompressed (estimate)", file=file)
        for r in shown:
            last = r["last_read"]
            held = held_for_nothing(report, stage, r)
            print(
                f"  {r['table']:<26} {r['rows']:>12,} rows {r['columns']:>3} cols {r['est_bytes'] / 1e9:>7.3f} GB  "
                f"made in {r['made']:<18} last read in {last or '-':<18}{'  (not read later)' if held else ''}",
                file=file,
            )


def trace_report_sections() -> Callable[[], dict[str, list[dict[str, Any]]] | None]:
    """A :class:`TableTrace` on the engine of the next report built in this process: a listing
    at every section the report starts (``build_report``'s ``step``) and at its end. Returns
    the function giving :meth:`TableTrace.report` (None when no report was built)."""
    from flowlens.report import build

    original = build.build_report
    held: dict[str, TableTrace] = {}

    def build_report(log: Any, options: Any = None, *, step: Any = None) -> Any:
        trace = held.setdefault("trace", TableTrace(log.engine.duckdb))
        last = ["read"]

        def tick(label: str) -> None:
            # the tables alive when a section starts are those the one before left
            trace.snapshot(last[0])
            last[0] = label
            if step is not None:
                step(label)

        report = original(log, options, step=tick)
        trace.snapshot(last[0])
        return report

    build.build_report = build_report
    return lambda: held["trace"].report() if "trace" in held else None


def main(argv: list[str]) -> int:
    """``table_trace.py ANALYZE-ARGS...``: ``flowlens analyze`` in this process, then the
    listings (every section's end)."""
    from flowlens.cli import main as cli_main

    tables = trace_report_sections()
    code = cli_main(["analyze", *argv])
    report = tables()
    if report is not None:
        print_summary(report, sys.stdout)
        print_tables(report, sys.stdout)
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
