"""A/B of detector steps in one process, on one context: the reference's findings package and the working tree's.

On a shared machine two runs of ``bench_findings.py`` differ by 10-20 % with the load, more than
a step's change. This script reads the log and builds the shared analyses once, then calls the
steps with the reference revision's findings package (A: ``src/flowlens/findings`` as it is at
``--ref``, extracted with ``git archive`` and imported as ``flowlens.findings_a`` beside the
working tree's other modules) and the working tree's (B), alternating, ``--reps`` times each.
The steps (:data:`STEPS`, ``--steps``; in this order, each side from a context without its
detector caches):

* ``repeats``: ``rework.repeats(ctx)`` (the shared instance table, the repeat table and
  ping-pong's bounces);
* ``rework``: ``rework.detect_rework(ctx)`` (after ``repeats``: the loop claims, the heads'
  figures, the loop bodies and the findings);
* ``assignment_returns``: ``pingpong.assignment_returns(ctx)``;
* ``journey_steps``: ``_customer.steps(ctx)`` (the journey detectors' instance table);
* ``journey_prices``: every journey claim resolved and priced (``_customer.price``);
* ``no_effect``: ``approvals.detect_no_effect_checks(ctx)``;
* ``merge``: ``merge.detect_merge_candidates(ctx)``.

Per call: CPU seconds (every engine thread). The tables a side made are dropped after its
sequence, and both sides' results are compared (a digest per step: row counts and sums of the
repeat table, the returns, the steps table, the priced claims, the findings).

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/ab_findings_steps.py LOG.parquet --ref main --reps 3
    PYTHONPATH=src .venv/bin/python benchmarks/ab_findings_steps.py LOG.parquet --steps journey_steps,journey_prices
    cp -r src /tmp/snap && .venv/bin/python benchmarks/ab_findings_steps.py LOG.parquet --src /tmp/snap
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

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


#: the steps, in the order a side runs them
STEPS = ("repeats", "rework", "assignment_returns", "journey_steps", "journey_prices", "no_effect", "merge")
#: the context caches of the findings package (dropped before each side's sequence)
CACHES = ("_rework_signals", "_journey_findings", "_flowlens_no_effect", "_flowlens_no_effect_removals")


def digest(value: Any) -> str:
    """A short digest of a step's result, compared between the two sides."""
    if isinstance(value, pd.DataFrame):
        text = value.to_csv(index=False)
    elif isinstance(value, list) and all(hasattr(f, "to_dict") for f in value):
        text = json.dumps([f.to_dict(all_cases=True) for f in value], sort_keys=True, default=str)
    else:
        text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_step(name: str, pkg: str, ctx: Any) -> Any:
    """Step ``name`` with the findings package ``pkg`` (``flowlens.findings`` or ``_a``);
    returns what :func:`digest` compares."""
    mod = importlib.import_module
    if name == "repeats":
        t = mod(f"{pkg}.rework").repeats(ctx).table
        row = t.aggregate(
            n=t.count(),
            visits=t.visit.sum(),
            returns=t.anchor.cast("int64").sum(),
            occ=t.occ.sum(),
            bounces=t.bounce.cast("int64").sum(),
        ).to_pandas()
        return [int(x) for x in row.iloc[0]]
    if name == "rework":
        return mod(f"{pkg}.rework").detect_rework(ctx)
    if name == "assignment_returns":
        return len(mod(f"{pkg}.pingpong").assignment_returns(ctx))
    if name == "journey_steps":
        t = mod(f"{pkg}._customer").steps(ctx).table
        return t.order_by("eid").to_pandas()
    if name == "journey_prices":
        cu = mod(f"{pkg}._customer")
        st = cu.steps(ctx)
        return pd.concat([cu.price(ctx, st, k).assign(kind=k) for k in sorted(cu.PRIORITY)])
    if name == "no_effect":
        return mod(f"{pkg}.approvals").detect_no_effect_checks(ctx)
    if name == "merge":
        return mod(f"{pkg}.merge").detect_merge_candidates(ctx)
    raise ValueError(f"unknown step {name!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", type=Path)
    ap.add_argument("--ref", default="main", help="the reference revision (default main)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--memory-limit", default="3GB")
    ap.add_argument(
        "--src",
        type=Path,
        default=REPO / "src",
        help="the source to measure (default the working tree's; a copy keeps a long run from "
        "reading files being edited)",
    )
    ap.add_argument("--steps", default=",".join(STEPS), help=f"some of {', '.join(STEPS)} (comma-separated)")
    a = ap.parse_args()
    steps = [s for s in STEPS if s in a.steps.split(",")]
    with tempfile.TemporaryDirectory(prefix="ab-findings-") as d:
        sys.path.insert(0, str(reference_package(a.ref, a.src.resolve(), Path(d))))
        import flowlens
        from flowlens.findings.context import FindingContext

        log = flowlens.read_log(a.log, memory_limit=a.memory_limit)
        ctx = FindingContext(log, seed=0)
        ctx.tm.instances.count().to_pandas()
        # computed once, outside the timed steps
        ctx.step_roles  # noqa: B018
        if any(s.startswith("journey") for s in steps):
            ctx.journeys  # noqa: B018
        con = log.engine.duckdb
        assert con is not None

        def tables() -> set[str]:
            return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}

        base = tables()
        out: dict[str, dict[str, list[float]]] = {v: {s: [] for s in steps} for v in "AB"}
        seen: dict[str, dict[str, list[str]]] = {v: {s: [] for s in steps} for v in "AB"}
        for _ in range(a.reps):
            for v, pkg in (("A", "flowlens.findings_a"), ("B", "flowlens.findings")):
                # both sides cache under the same keys: each sequence starts from the shared analyses
                for key in CACHES:
                    ctx.__dict__.pop(key, None)
                for s in steps:
                    c0 = time.process_time()
                    result = run_step(s, pkg, ctx)
                    out[v][s].append(round(time.process_time() - c0, 2))
                    seen[v][s].append(digest(result))
                for name in tables() - base:
                    con.execute(f'DROP TABLE IF EXISTS "{name}"')
                cpu = " ".join(f"{s} {out[v][s][-1]}" for s in steps)
                print(v, cpu, f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
        medians = {v: {s: statistics.median(out[v][s]) for s in steps} for v in "AB"}
        same = {s: seen["A"][s] == seen["B"][s] for s in steps}
        print(
            json.dumps({"events": log.n_events, "ref": a.ref, **out, "median": medians, "same_result": same})
        )


if __name__ == "__main__":
    main()
