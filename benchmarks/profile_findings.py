"""Where ``find_wastes`` spends its CPU: every engine call, by stage and by the flowlens line that made it.

Runs what ``bench_findings.py`` runs (read the log, the shared analyses, every detector) in this
process, without changing flowlens: ``Engine.materialize`` and the Ibis DuckDB backend's
``execute`` and ``to_pyarrow`` are wrapped to take the CPU seconds of each call
(``time.process_time``: every engine thread) and the innermost flowlens line outside the engine
that made it. The stage is the shared analysis or detector running. With ``--explain STAGES``
each ``CREATE TABLE`` of those stages is run with DuckDB's JSON profiler and its costliest
operators are printed (operator times are summed over threads and inflated by the profiler:
compare them with each other, not with the CPU seconds).

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/profile_findings.py LOG.parquet --out prof.json
    PYTHONPATH=src .venv/bin/python benchmarks/profile_findings.py LOG.parquet --only rework --explain rework
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: the stage running (a shared analysis or a detector)
STAGE = ["-"]
#: (stage, site, kind) -> [calls, CPU s, wall s]
CALLS: defaultdict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
#: nesting of wrapped calls: only the outermost one is counted
DEPTH = [0]
#: (stage, site, profile file) of the profiled statements
PROFILED: list[tuple[str, str, Path]] = []


def site() -> str:
    """The innermost flowlens line on the stack outside the engine and its helpers (the
    context's ``store`` included: the line that stored the table names the statement)."""
    for fr in reversed(traceback.extract_stack()[:-2]):
        f = fr.filename
        if "/flowlens/" in f and not f.endswith(("engine.py", "relational.py", "findings/context.py")):
            return f"{f.split('/flowlens/')[-1]}:{fr.lineno}:{fr.name}"
    return "?"


def timed(cls: Any, name: str, kind: str) -> None:
    original = getattr(cls, name)

    def call(self: Any, *a: Any, **k: Any) -> Any:
        if DEPTH[0]:
            return original(self, *a, **k)
        DEPTH[0] += 1
        where = site()
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return original(self, *a, **k)
        finally:
            DEPTH[0] -= 1
            row = CALLS[(STAGE[0], where, kind)]
            row[0] += 1
            row[1] += time.process_time() - c0
            row[2] += time.perf_counter() - t0

    setattr(cls, name, call)


class ProfiledConnection:
    """Delegates to a DuckDB connection; runs each ``CREATE`` with the JSON profiler into ``path``."""

    def __init__(self, con: Any, path: Path) -> None:
        self._con, self._path = con, path

    def execute(self, sql: str, *a: Any, **k: Any) -> Any:
        if not sql.startswith("CREATE"):
            return self._con.execute(sql, *a, **k)
        self._con.execute("PRAGMA enable_profiling = 'json'")
        self._con.execute(f"SET profiling_output = '{self._path}'")
        try:
            return self._con.execute(sql, *a, **k)
        finally:
            self._con.execute("PRAGMA disable_profiling")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def explain_materialize(stages: set[str], folder: Path) -> None:
    from flowlens.engine import Engine

    original = Engine.materialize

    def materialize(self: Any, expr: Any, **k: Any) -> Any:
        if STAGE[0] not in stages or DEPTH[0] > 1 or self.duckdb is None:
            return original(self, expr, **k)
        path = folder / f"q{len(PROFILED):04d}.json"
        real = self.duckdb
        self.duckdb = ProfiledConnection(real, path)
        try:
            return original(self, expr, **k)
        finally:
            self.duckdb = real
            PROFILED.append((STAGE[0], site(), path))

    Engine.materialize = materialize  # type: ignore[method-assign]


def top_operators(path: Path, n: int = 6) -> list[tuple[float, str]]:
    ops: list[tuple[float, str]] = []

    def walk(node: dict[str, Any]) -> None:
        info = node.get("extra_info") or {}
        detail = ""
        for key in ("Join Type", "Conditions", "Projections", "Groups", "Table"):
            if key in info:
                val = info[key]
                val = " ".join(val) if isinstance(val, list) else str(val)
                detail += f" {key}: {val[:90]}"
        ops.append(
            (
                float(node.get("timing") or 0.0),
                f"{node.get('name')} rows={node.get('intermediate_rows')}{detail}",
            )
        )
        for child in node.get("children", []):
            walk(child)

    for root in json.loads(path.read_text()).get("operator", []):
        walk(root)
    return sorted(ops, reverse=True)[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log", type=Path)
    ap.add_argument("--memory-limit", default="3GB")
    ap.add_argument("--only", default="", help="these detectors alone (comma-separated names)")
    ap.add_argument("--explain", default="", help="stages whose stored tables get an operator profile")
    ap.add_argument("--top", type=int, default=12, help="calls listed per stage (default 12)")
    ap.add_argument("--out", type=Path, help="write every call as JSON here")
    args = ap.parse_args()

    from ibis.backends.duckdb import Backend

    import flowlens
    from flowlens.engine import Engine
    from flowlens.findings.api import find_wastes, load_detectors
    from flowlens.findings.context import FindingContext

    folder = Path(tempfile.mkdtemp(prefix="profile-findings-"))
    explain_materialize({s for s in args.explain.split(",") if s}, folder)
    timed(Engine, "materialize", "mat")
    timed(Backend, "execute", "exe")
    timed(Backend, "to_pyarrow", "arw")

    log = flowlens.read_log(args.log, memory_limit=args.memory_limit)
    ctx = FindingContext(log, seed=0)
    stage_cpu: dict[str, float] = {}

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        STAGE[0] = name
        c0 = time.process_time()
        out = fn()
        stage_cpu[name] = round(time.process_time() - c0, 2)
        print(f"{name}: CPU {stage_cpu[name]} s", file=sys.stderr, flush=True)
        return out

    stage("time_model", lambda: ctx.tm.instances.count().to_pandas())
    stage("waiting_causes", lambda: ctx.waiting)
    stage("journeys", lambda: ctx.journeys)
    loaded, _ = load_detectors()
    only = {s for s in args.only.split(",") if s}
    if only:
        loaded = [d for d in loaded if d.name in only]

    def staged(det: Any) -> Any:
        def run(c: Any) -> Any:
            return stage(det.name, lambda: det.fn(c))

        run.name = det.name  # type: ignore[attr-defined]
        return run

    report = find_wastes(log, ctx=ctx, detectors=[staged(d) for d in loaded])
    rows = sorted(
        (
            [st, where, kind, int(n), round(c, 3), round(w, 3)]
            for (st, where, kind), (n, c, w) in CALLS.items()
        ),
        key=lambda r: -r[4],
    )
    for st in stage_cpu:
        mine = [r for r in rows if r[0] == st]
        print(f"== {st}: CPU {stage_cpu[st]} s, engine calls {sum(r[4] for r in mine):.2f} s")
        for r in mine[: args.top]:
            print(f"   {r[4]:7.2f} {r[3]:3d} {r[2]} {r[1]}")
    for st, where, path in PROFILED:
        if path.exists():
            print(f"## {st} {where}")
            for t, what in top_operators(path):
                if t >= 0.03:
                    print(f"     {t:6.2f} {what}")
    if args.out:
        peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        doc = {
            "events": log.n_events,
            "stage_cpu_s": stage_cpu,
            "peak_mib": peak,
            "findings": len(report.findings),
            "columns": ["stage", "site", "kind", "calls", "cpu_s", "wall_s"],
            "rows": rows,
        }
        args.out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
