"""Graphviz layout time of process maps: sepsis at 100 % of activities and synthetic maps.

    .venv/bin/python benchmarks/bench_map_layout.py [--repeat 5] [--json]

Issue 4 asks that drawing sepsis (many variants) at 100 % of activities stays under 1 s of
layout time per 1,000 edges. Layout time is the ``dot -Tsvg`` process for the map's DOT source
(the median of ``--repeat`` runs); synthetic maps with 50 activities and 250-2,000 edges show
how it grows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def time_render(dot: str, repeat: int) -> float:
    from flowlens.render.dot import render

    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        render(dot, "svg")
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def synthetic(n_acts: int, n_edges: int, seed: int = 0):
    from flowlens.discovery.abstraction import keep_all
    from flowlens.discovery.dfg import DirectlyFollowsGraph

    rng = np.random.default_rng(seed)
    acts = [f"Activity {i:02d}" for i in range(n_acts)]
    pairs = set()
    while len(pairs) < min(n_edges, n_acts * n_acts):
        pairs.add((int(rng.integers(n_acts)), int(rng.integers(n_acts))))
    src, dst = zip(*sorted(pairs), strict=True)
    counts = rng.integers(1, 5000, len(src))
    edges = pd.DataFrame(
        {
            "source": [acts[i] for i in src],
            "target": [acts[j] for j in dst],
            "count": counts,
            "cases": counts,
            "wait_mean_s": rng.exponential(3600, len(src)),
            "wait_median_s": rng.exponential(1800, len(src)),
            "wait_total_s": counts * 1800.0,
            "wait_p90_s": rng.exponential(7200, len(src)),
        }
    )
    nodes = pd.DataFrame({"activity": acts, "count": rng.integers(100, 10000, n_acts), "cases": 100})
    g = DirectlyFollowsGraph(
        nodes=nodes,
        edges=edges,
        start_activities=pd.DataFrame({"activity": acts[:2], "count": [10, 5]}),
        end_activities=pd.DataFrame({"activity": acts[-2:], "count": [10, 5]}),
    )
    return keep_all(g)


def main() -> int:
    import flowlens
    from conftest import shared_path
    from flowlens.discovery.abstraction import process_map
    from flowlens.report.process_map import map_dot

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rows = []
    sepsis = process_map(flowlens.read_log(shared_path("sepsis")))
    for view in ("frequency", "time"):
        s = time_render(map_dot(sepsis, view=view), args.repeat)
        rows.append(
            {
                "map": f"sepsis 100 % ({view})",
                "activities": len(sepsis.nodes),
                "edges": len(sepsis.edges),
                "layout_s": s,
                "s_per_1000_edges": s / len(sepsis.edges) * 1000,
            }
        )
    for n_edges in (250, 500, 1000, 2000):
        g = synthetic(50, n_edges)
        s = time_render(map_dot(g), args.repeat)
        rows.append(
            {
                "map": "synthetic 50 activities",
                "activities": 50,
                "edges": len(g.edges),
                "layout_s": s,
                "s_per_1000_edges": s / len(g.edges) * 1000,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(
                f"{r['map']:30s} {r['activities']:>4} acts {r['edges']:>5} edges  {r['layout_s']:7.3f} s  "
                f"{r['s_per_1000_edges']:6.2f} s per 1,000 edges"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
