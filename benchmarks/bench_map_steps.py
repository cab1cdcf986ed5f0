"""CPU seconds of what ``flowlens analyze`` computes for its map, step by step (issue 14, cycle17).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_map_steps.py LOG [--json]
    PYTHONPATH=/tmp/frozen-A/src .venv/bin/python benchmarks/bench_map_steps.py LOG   # A/B: src as given

Reads LOG, then times in this order, as the report builds them: ``prelude`` (case durations,
the whole log's directly-follows graph and variants, which the report computes first),
``summary`` (:meth:`EventLog.summary`, with the number of variants), ``map steps`` (the
report's static map and every activity step of the interactive map: :func:`process_map` at the
levels :func:`flowlens.report.interactive_map._levels` gives, without the Graphviz layout,
which the queries do not change) and ``step cases`` (the first page's cases per step). Each
figure is CPU seconds of this process (user + system, every DuckDB thread); the 1-minute load
average is printed beside them. Every run is one fresh process: run the two versions of
``src`` back to back for an A/B comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    a = ap.parse_args()

    import flowlens
    from flowlens.discovery.abstraction import process_map
    from flowlens.report import build
    from flowlens.report.interactive_map import _levels

    out: dict[str, object] = {"log": a.log, "load_before": round(os.getloadavg()[0], 2)}
    steps: dict[str, float] = {}

    def timed(name: str, fn):  # type: ignore[no-untyped-def]
        c0 = cpu()
        res = fn()
        steps[name] = round(cpu() - c0, 2)
        return res

    log = timed("read", lambda: flowlens.read_log(a.log))

    def prelude() -> object:
        flowlens.case_durations(log)
        flowlens.variants(log)
        return flowlens.directly_follows(log)

    graph = timed("prelude", prelude)
    timed("summary", log.summary)
    nodes = graph.nodes.sort_values(["count", "activity"], ascending=[False, True], kind="stable")
    levels = _levels(nodes[["activity", "count"]].rename(columns={"count": "n"}), 40)

    def map_steps() -> None:
        process_map(log, max_activities=40, path_coverage=0.95)  # the static map
        for _cov, n in levels:
            process_map(log, max_activities=n, path_coverage=1.0)

    timed("map steps", map_steps)
    timed("step cases", lambda: build._step_cases(log))
    out |= {
        "cpu_s": steps,
        "levels": [n for _c, n in levels],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "load_after": round(os.getloadavg()[0], 2),
        "time": time.strftime("%H:%M:%S", time.gmtime()),
    }
    if a.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:12s} {v}")


if __name__ == "__main__":
    main()
