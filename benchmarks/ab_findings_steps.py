"""A/B of rework's repeat table and ping-pong's assignment returns in one process, on one context.

On a shared machine two runs of ``bench_findings.py`` differ by 10-20 % with the load, more than
a step's change. This script reads the log and builds the shared analyses once, then calls the
steps with the reference revision's findings package (A: ``src/flowlens/findings`` as it is at
``--ref``, extracted with ``git archive`` and imported as ``flowlens.findings_a`` beside the
working tree's other modules) and the working tree's (B), alternating, ``--reps`` times each.
Per call: CPU seconds (every engine thread) of ``rework.repeats(ctx)`` (the repeat table, with
ping-pong's bounces) and ``pingpong.assignment_returns(ctx)``; the tables a call made are dropped
after it, and both sides' results are compared (rows, sum of visits, returns, sum of
occurrences, bounces, counted assignment returns).

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/ab_findings_steps.py LOG.parquet --ref main --reps 3
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def reference_package(ref: str, src: Path, dest: Path) -> Path:
    """A copy of ``src`` with ``ref``'s findings package added as ``flowlens.findings_a``."""
    import shutil

    tree = dest / "src"
    shutil.copytree(src, tree)
    archive = subprocess.run(
        ["git", "archive", ref, "src/flowlens/findings"], cwd=REPO, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest / "ref", filter="data")
    target = tree / "flowlens" / "findings_a"
    shutil.copytree(dest / "ref" / "src" / "flowlens" / "findings", target)
    for py in target.glob("*.py"):
        py.write_text(re.sub(r"flowlens\.findings\b", "flowlens.findings_a", py.read_text()))
    return tree


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", type=Path)
    ap.add_argument("--ref", default="main", help="the reference revision (default main)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--memory-limit", default="3GB")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ab-findings-") as d:
        sys.path.insert(0, str(reference_package(a.ref, REPO / "src", Path(d))))
        import flowlens.findings_a.pingpong as pa  # type: ignore[import-not-found]
        import flowlens.findings_a.rework as ra  # type: ignore[import-not-found]

        import flowlens
        import flowlens.findings.pingpong as pb
        import flowlens.findings.rework as rb
        from flowlens.findings.context import FindingContext

        log = flowlens.read_log(a.log, memory_limit=a.memory_limit)
        ctx = FindingContext(log, seed=0)
        ctx.tm.instances.count().to_pandas()
        ctx.step_roles  # noqa: B018 (computed once, outside the timed steps)
        con = log.engine.duckdb
        assert con is not None

        def tables() -> set[str]:
            return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}

        base = tables()
        out: dict[str, dict[str, list[float]]] = {v: {"repeats": [], "assignment_returns": []} for v in "AB"}
        seen: dict[str, list[list[int]]] = {"A": [], "B": []}
        for _ in range(a.reps):
            for v, rw, pp in (("A", ra, pa), ("B", rb, pb)):
                # both sides cache under the same key: each call starts from the shared analyses
                ctx.__dict__.pop("_rework_signals", None)
                c0 = time.process_time()
                r = rw.repeats(ctx)
                c1 = time.process_time()
                returns = pp.assignment_returns(ctx)
                c2 = time.process_time()
                out[v]["repeats"].append(round(c1 - c0, 2))
                out[v]["assignment_returns"].append(round(c2 - c1, 2))
                t = r.table
                row = t.aggregate(
                    n=t.count(),
                    visits=t.visit.sum(),
                    returns=t.anchor.cast("int64").sum(),
                    occ=t.occ.sum(),
                    bounces=t.bounce.cast("int64").sum(),
                ).to_pandas()
                seen[v].append([int(x) for x in row.iloc[0]] + [len(returns)])
                for name in tables() - base:
                    con.execute(f'DROP TABLE IF EXISTS "{name}"')
                print(v, out[v]["repeats"][-1], out[v]["assignment_returns"][-1], f"load {os.getloadavg()[0]:.1f}",
                      file=sys.stderr, flush=True)  # fmt: skip
        result = {"events": log.n_events, "ref": a.ref, **out, "same_result": seen["A"] == seen["B"]}
        print(json.dumps(result))


if __name__ == "__main__":
    main()
