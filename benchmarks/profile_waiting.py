"""Where ``waiting_causes`` spends its CPU: by part (calendars, shared resources, batches, split)
and by every engine call with the flowlens line that made it.

Reads the log and builds the time model as ``bench_stages.py`` does (default limits), then runs
``waiting_causes`` with its parts wrapped (``discover_calendars``, ``shared_resources``,
``detect_batches``, ``_split_prefix``: CPU seconds of every thread, ``time.process_time``; the
rest is ``waiting:rest``, with the per-transition and per-activity tables that
``bench_stages.py``'s waiting stage reads) and the engine calls timed as ``profile_findings.py``
times them (:func:`profile_findings.timed`, :func:`profile_findings.site`). ``--explain`` prints
the costliest DuckDB operators of the stored tables of those parts; ``--digest`` a SHA-256 of
the tables by every level and of the totals, to compare two ``src/`` trees at a size the
shared-log check (``check_waiting_identity.py``) does not reach.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/profile_waiting.py LOG.parquet --out prof.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import profile_findings as pf

#: the parts of waiting_causes timed on their own (names in flowlens.analysis.waiting)
PARTS = ("discover_calendars", "shared_resources", "detect_batches", "_split_prefix")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log", type=Path)
    ap.add_argument("--memory-limit", default=None)
    ap.add_argument("--explain", default="", help="parts whose stored tables get an operator profile")
    ap.add_argument("--top", type=int, default=10, help="calls listed per part (default 10)")
    ap.add_argument("--out", type=Path, help="write every call as JSON here")
    ap.add_argument(
        "--digest",
        action="store_true",
        help="print a SHA-256 of by() at every level and overall() (after the timing)",
    )
    args = ap.parse_args()

    from ibis.backends.duckdb import Backend

    import flowlens
    import flowlens.analysis.waiting as waiting_module
    from flowlens.engine import Engine
    from flowlens.timing.model import time_model

    folder = Path(tempfile.mkdtemp(prefix="profile-waiting-"))
    pf.explain_materialize({s for s in args.explain.split(",") if s}, folder)
    pf.timed(Engine, "materialize", "mat")
    pf.timed(Backend, "execute", "exe")
    pf.timed(Backend, "to_pyarrow", "arw")
    cpu: dict[str, float] = {}

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        before = pf.STAGE[0]
        pf.STAGE[0] = name
        c0 = time.process_time()
        try:
            return fn()
        finally:
            cpu[name] = round(cpu.get(name, 0.0) + time.process_time() - c0, 3)
            pf.STAGE[0] = before

    def wrap(name: str) -> None:
        original = getattr(waiting_module, name)

        def part(*a: Any, **k: Any) -> Any:
            return stage(f"waiting:{name}", lambda: original(*a, **k))

        setattr(waiting_module, name, part)

    for name in PARTS:
        wrap(name)
    kw = {"memory_limit": args.memory_limit} if args.memory_limit else {}
    log = stage("read", lambda: flowlens.read_log(args.log, **kw))
    tm = stage("time_model", lambda: time_model(log))
    stage("time_model", lambda: tm.instances.count().to_pandas())
    wa = stage("waiting:rest", lambda: waiting_module.waiting_causes(tm))
    # the tables bench_stages' waiting stage reads (and the report)
    stage("waiting:rest", lambda: wa.by("transition"))
    stage("waiting:rest", lambda: wa.by("activity"))
    # waiting:rest was measured around the parts: the whole, then the parts taken out
    cpu["waiting"] = cpu["waiting:rest"]
    cpu["waiting:rest"] = round(cpu["waiting:rest"] - sum(cpu.get(f"waiting:{p}", 0.0) for p in PARTS), 3)
    rows = sorted(
        (
            [st, where, kind, int(n), round(c, 3), round(w, 3)]
            for (st, where, kind), (n, c, w) in pf.CALLS.items()
        ),
        key=lambda r: -r[4],
    )
    peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(f"events {log.n_events:,}  peak RSS {peak} MiB  waiting CPU {cpu['waiting']} s")
    for st, c in cpu.items():
        mine = [r for r in rows if r[0] == st]
        print(f"== {st}: CPU {c} s, engine calls {sum(r[4] for r in mine):.2f} s")
        for r in mine[: args.top]:
            print(f"   {r[4]:7.2f} {r[3]:3d} {r[2]} {r[1]}")
    for st, where, path in pf.PROFILED:
        if path.exists():
            print(f"## {st} {where}")
            for t, what in pf.top_operators(path):
                if t >= 0.03:
                    print(f"     {t:6.2f} {what}")
    if args.digest:
        h = hashlib.sha256()
        for level in waiting_module.LEVELS:
            h.update(wa.by(level).to_csv().encode())
        h.update(json.dumps(wa.overall(), sort_keys=True, default=str).encode())
        print(f"digest of by() at every level and overall(): {h.hexdigest()}")
    if args.out:
        doc = {
            "events": log.n_events,
            "cpu_s": cpu,
            "peak_mib": peak,
            "columns": ["stage", "site", "kind", "calls", "cpu_s", "wall_s"],
            "rows": rows,
        }
        args.out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
