"""How much of a complaint remedy's true saving is one run's noise (issue 12, diagnostic).

The generator's true saving is one paired run: the as-is bank and the to-be bank with the same
random streams. This script runs the bank of ``--preset`` and ``--seed`` once, then the
complaint process alone K times (*realisations*): realisation 0 as generated, realisation k > 0
with one complaint's arrival (drawn at random) moved an hour later, each in the as-is and in
every remedy's to-be (the remedy's switches, the as-is triggered complaints), so the truths of
the K realisations differ only by how the complaint queues respond to a small change. A moved
arrival that falls in a closed period changes nothing; such realisations repeat realisation 0.

Per remedy: the truth (as-is mean lead time − to-be mean lead time over the complaints, first
start to last end, hours) of each realisation, their mean and sd, the same to closure (the
generator's own lead time, before the satisfaction callback), and the handler teams'
utilisation (busy over scheduled time within the arrival window).

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/complaint_truth_noise.py --seed 21 --realisations 6

It uses the generator's internals (``flowlens.synth.bank._Bank``): a benchmark's diagnostic,
not an interface. About 1 minute per seed on 2 idle cores (the bank once, then ~1 s per run).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REMEDIES = ("correct_routing", "use_held_data", "no_wait_user_misuse", "remove_second_approval")


def realisations(preset: str, seed: int, k: int, remedies: Sequence[str] = REMEDIES) -> dict[str, Any]:
    """Truths of ``remedies`` on the complaints over ``k`` realisations of one bank."""
    from flowlens.synth import bank as B
    from flowlens.synth.presets import custom_preset, get_preset
    from flowlens.synth.remedies import REMEDIES as ALL
    from flowlens.synth.sim import Switches

    pre = custom_preset("demo", days=28, volume=0.5) if preset == "small" else get_preset(preset)
    work = Path(tempfile.mkdtemp(prefix="flowlens-truth-noise-"))
    try:
        bank = B._Bank(pre, seed, "en", "friendly", False, "CN_CBIRC_2020", work, None)
        bank.base = bank.run("base", Switches(), None, jobs=1)
        arr0 = bank._complaint_arrivals(bank.base.triggers)

        def run(sw: Any, arr: list[Any]) -> tuple[float, float, dict[str, float]]:
            sink = bank._sink(work / "run")
            r = bank._run_process("complaint", arr, sw, sink)
            ev = pd.read_parquet(sink.part_path("complaint"), columns=["case_id", "start_ts", "end_ts"])
            g = ev.groupby("case_id")
            span = g.end_ts.max() - g.start_ts.min()
            secs = span.dt.total_seconds() if hasattr(span, "dt") else span / 1e3
            full = float(secs.mean() / 3600)
            close = float(np.mean([(b - a) / 3600 for a, b in sink.lead.values()]))
            shutil.rmtree(work / "run")
            return full, close, r.utilisation

        rng = np.random.default_rng(1000 + seed)
        out: dict[str, Any] = {"preset": preset, "seed": seed, "realisations": k, "remedies": {}}
        full = {r: [] for r in remedies}
        close = {r: [] for r in remedies}
        asis = []
        for j in range(k):
            arr = list(arr0)
            if j:
                i = int(rng.integers(len(arr)))
                arr[i] = replace(arr[i], t=arr[i].t + 3600.0)
            af, ac, util = run(Switches(), arr)
            if j == 0:
                out["utilisation"] = {t: round(u, 3) for t, u in sorted(util.items())}
            asis.append(af)
            for r in remedies:
                f, c, _ = run(replace(Switches(), **ALL[r].switches), arr)
                full[r].append(af - f)
                close[r].append(ac - c)
        out["asis_mean_lead_h"] = [round(x, 2) for x in asis]
        for r in remedies:
            f, c = np.asarray(full[r]), np.asarray(close[r])
            out["remedies"][r] = {
                "truth_h": [round(float(x), 2) for x in f],
                "mean_h": round(float(f.mean()), 2),
                "sd_h": round(float(f.std(ddof=1)), 2) if k > 1 else 0.0,
                "to_closure_mean_h": round(float(c.mean()), 2),
                "to_closure_sd_h": round(float(c.std(ddof=1)), 2) if k > 1 else 0.0,
            }
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="demo", choices=["demo", "small"])
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--realisations", type=int, default=6)
    ap.add_argument("--remedies", default=",".join(REMEDIES))
    a = ap.parse_args(argv)
    res = realisations(a.preset, a.seed, a.realisations, a.remedies.split(","))
    json.dump(res, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
