"""How much of a remedy's true saving is one run's noise (issue 12, diagnostic).

The generator's true saving is one paired run: the as-is process and the to-be process with the
same random streams. This script simulates each process of ``--processes`` K times
(*realisations*), each in the as-is and in the to-be of every remedy that acts on the process
(its scope, :mod:`flowlens.synth.remedies`). Realisation 0 is as generated; realisation k > 0
(``--kind``) is

* ``perturb``: one case's arrival (drawn at random) moved an hour later, so the truths differ
  only by how the process's queues respond to a small change. A moved arrival in a quiet queue
  changes nothing; a queue near saturation (the complaint handlers) turns it into hours;
* ``period``: another period of the same bank, the arrivals and the cases' own random draws
  (routes, durations, patience) new, the customers, teams and calendars kept. Its spread is the
  period-to-period noise of one paired run, the noise whatif's interval is meant to hold (it is
  where "the saving of one period like the simulated one falls", methods §17.2).

The complaints
need the whole as-is bank once (their triggered complaints); every to-be keeps the as-is
triggers, so a complaint truth here leaves out a remedy's change to which complaints arrive.

Per (remedy, process): the truth (as-is mean lead time − to-be mean lead time, first start to
last end per case, hours, as ``whatif_truth.py`` computes it) of each realisation, their mean
and standard deviation, the same to closure (the generator's own lead time, for complaints
before the satisfaction callback), and each process's team utilisation (busy over scheduled
time within the arrival window).

``--whatif FILE`` (the ``--json`` output of ``whatif_truth.py`` on the same preset and seeds)
sets each row against whatif's estimate: the half-width h of its 95 % interval, the fitted
model's own spread of paired savings s_d (from ``saving_mc_half_width_h`` = t·s_d/√R) and the
truth's spread over the realisations, sd_truth. A truth that misses an interval by less than
about 2·sd_truth is a miss the truth's own noise can explain; a miss by many sd_truth is the
model's bias (or a noise the perturbation does not reach: another period of arrivals).

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/truth_noise.py --seed 21 --realisations 6
    PYTHONPATH=src .venv/bin/python benchmarks/truth_noise.py --processes complaint --seed 21
    PYTHONPATH=src .venv/bin/python benchmarks/truth_noise.py --seed 21 --whatif truth.json

It uses the generator's internals (``flowlens.synth.bank._Bank``): a benchmark's diagnostic,
not an interface. The four non-complaint processes need no whole bank; a service-issue run of
the demo is the longest, about 10 CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PROCESSES = ("account_opening", "service_issue", "card_dispute", "loan_application")


def remedies_of(process: str, names: Sequence[str] | None = None) -> list[str]:
    """The remedies that act on ``process`` (of ``names`` when given), in name order.

    >>> remedies_of("service_issue", ["warm_handoff", "no_aml_batching"])
    ['warm_handoff']
    """
    from flowlens.synth.remedies import REMEDIES

    return sorted(r for r, rem in REMEDIES.items() if process in rem.scope and (names is None or r in names))


def perturbed(arrivals: list[Any], rng: np.random.Generator) -> list[Any]:
    """``arrivals`` with one of them, drawn by ``rng``, an hour later (kept in time order: the
    generator starts an arrival that is due at once, so an out-of-order list would hold back
    every arrival of that hour)."""
    out = list(arrivals)
    i = int(rng.integers(len(out)))
    out[i] = replace(out[i], t=out[i].t + 3600.0)
    out.sort(key=lambda a: (a.t, a.case_id))
    return out


def another_period(bank: Any, process: str, j: int) -> list[Any]:
    """Period ``j`` of ``process`` in ``bank``: arrival times drawn with seed + 10,000·j and the
    cases' own random streams under sub-key ``j`` (their routes, durations, patience), the
    bank's customers, teams and calendars kept."""
    from flowlens.synth.arrivals import PROCESS_PREFIX, arrival_times
    from flowlens.synth.runner import Arrival

    pre = bank.preset
    pfx = PROCESS_PREFIX[process]
    times = arrival_times(bank.seed + 10_000 * j, process, pre.start, pre.days, pre.volume)
    return [Arrival(float(t), f"{pfx}-{i:06d}", (pfx, i, j)) for i, t in enumerate(times, start=1)]


def realisations(
    preset: str,
    seed: int,
    k: int,
    processes: Sequence[str] = PROCESSES,
    remedies: Sequence[str] | None = None,
    kind: str = "perturb",
) -> dict[str, Any]:
    """Truths of the remedies on ``processes`` over ``k`` realisations of one bank: ``perturb``
    moves one arrival an hour (:func:`perturbed`), ``period`` simulates other periods of the same
    bank (:func:`another_period`; not for complaints, whose arrivals follow the other
    processes)."""
    from flowlens.synth import bank as B
    from flowlens.synth.presets import custom_preset, get_preset
    from flowlens.synth.remedies import REMEDIES as ALL
    from flowlens.synth.sim import Switches

    if kind == "period" and "complaint" in processes:
        raise ValueError("--kind period does not apply to complaints (their arrivals follow the bank's)")
    pre = custom_preset("demo", days=28, volume=0.5) if preset == "small" else get_preset(preset)
    work = Path(tempfile.mkdtemp(prefix="flowlens-truth-noise-"))
    try:
        bank = B._Bank(pre, seed, "en", "friendly", False, "CN_CBIRC_2020", work, None)
        if "complaint" in processes:
            bank.base = bank.run("base", Switches(), None, jobs=1)

        def run(process: str, sw: Any, arr: list[Any]) -> tuple[float, float, dict[str, float]]:
            sink = bank._sink(work / "run")
            r = bank._run_process(process, arr, sw, sink)
            ev = pd.read_parquet(sink.part_path(process), columns=["case_id", "start_ts", "end_ts"])
            g = ev.groupby("case_id")
            span = g.end_ts.max() - g.start_ts.min()
            secs = span.dt.total_seconds() if hasattr(span, "dt") else span / 1e3
            full = float(secs.mean() / 3600)
            close = float(np.mean([(b - a) / 3600 for a, b in sink.lead.values()]))
            shutil.rmtree(work / "run")
            return full, close, r.utilisation

        out: dict[str, Any] = {
            "preset": preset,
            "seed": seed,
            "realisations": k,
            "kind": kind,
            "processes": {},
        }
        for process in processes:
            names = remedies_of(process, remedies)
            arr0 = (
                bank._complaint_arrivals(bank.base.triggers)
                if process == "complaint"
                else bank.arrivals[process]
            )
            rng = np.random.default_rng(1000 + seed)
            full: dict[str, list[float]] = {r: [] for r in names}
            close: dict[str, list[float]] = {r: [] for r in names}
            asis: list[float] = []
            util: dict[str, float] = {}
            for j in range(k):
                if j == 0:
                    arr = arr0
                elif kind == "period":
                    arr = another_period(bank, process, j)
                else:
                    arr = perturbed(arr0, rng)
                af, ac, u = run(process, Switches(), arr)
                util = util or u
                asis.append(af)
                for r in names:
                    f, c, _ = run(process, replace(Switches(), **ALL[r].switches), arr)
                    full[r].append(af - f)
                    close[r].append(ac - c)
            rows = {}
            for r in names:
                f, c = np.asarray(full[r]), np.asarray(close[r])
                rows[r] = {
                    "truth_h": [round(float(x), 4) for x in f],
                    "mean_h": round(float(f.mean()), 4),
                    "sd_h": round(float(f.std(ddof=1)), 4) if k > 1 else 0.0,
                    "to_closure_mean_h": round(float(c.mean()), 4),
                    "to_closure_sd_h": round(float(c.std(ddof=1)), 4) if k > 1 else 0.0,
                }
            out["processes"][process] = {
                "asis_mean_lead_h": [round(x, 3) for x in asis],
                "utilisation": {t: round(x, 3) for t, x in sorted(util.items())},
                "remedies": rows,
            }
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def against_whatif(noise: dict[str, Any], truth: dict[str, Any]) -> list[dict[str, Any]]:
    """Each row of ``noise`` (one seed) beside whatif's row of that seed in ``truth`` (the
    ``--json`` output of ``whatif_truth.py``): the miss |truth − nearest CI end| in units of the
    truth's spread over the realisations."""
    from scipy.stats import t as student

    seed = str(noise["seed"])
    rows = {(x["remedy"], x["process"]): x for x in truth["per_seed"][seed]["rows"]}
    out = []
    for process, p in noise["processes"].items():
        for remedy, x in p["remedies"].items():
            w = rows.get((remedy, process))
            if w is None:
                continue
            lo, hi = w["saving_ci95_h"]
            reps = w["replications"]
            tq = float(student.ppf(0.975, reps - 1))
            s_d = w.get("saving_mc_half_width_h", math.nan) * math.sqrt(reps) / tq
            true_h = w["true_saving_h"]
            miss = max(lo - true_h, true_h - hi, 0.0)
            out.append(
                {
                    "seed": noise["seed"],
                    "remedy": remedy,
                    "process": process,
                    "true_h": true_h,
                    "truth_realisation0_h": x["truth_h"][0],
                    "truth_mean_h": x["mean_h"],
                    "truth_sd_h": x["sd_h"],
                    "est_h": w["saving_mean_h"],
                    "ci_half_h": round((hi - lo) / 2, 4),
                    "fitted_sd_h": round(s_d, 4),
                    "covers": w["ci_covers_truth"],
                    "miss_in_truth_sd": round(miss / x["sd_h"], 2) if x["sd_h"] else None,
                }
            )
    return out


def comparison_table(rows: Sequence[dict[str, Any]]) -> str:
    head = (
        f"{'seed':>4} {'remedy':<32} {'process':<17} {'true h':>8} {'mean K':>8} {'sd K':>7} "
        f"{'est h':>8} {'CI ±h':>7} {'s_d':>7} {'cov':>4} {'miss/sd':>8}"
    )
    lines = [head, "-" * len(head)]
    for x in rows:
        miss = "-" if x["miss_in_truth_sd"] is None else f"{x['miss_in_truth_sd']:.1f}"
        lines.append(
            f"{x['seed']:>4} {x['remedy']:<32} {x['process']:<17} {x['true_h']:8.3f} "
            f"{x['truth_mean_h']:8.3f} {x['truth_sd_h']:7.3f} {x['est_h']:8.3f} {x['ci_half_h']:7.3f} "
            f"{x['fitted_sd_h']:7.3f} {'yes' if x['covers'] else 'no':>4} {miss:>8}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="demo", choices=["demo", "small"])
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--realisations", type=int, default=6)
    ap.add_argument("--processes", default=",".join(PROCESSES), help="comma list (complaint too)")
    ap.add_argument("--remedies", default=None, help="comma list (default: every remedy on them)")
    ap.add_argument(
        "--kind",
        choices=["perturb", "period"],
        default="perturb",
        help="realisations k > 0: one arrival an hour later, or another period of the same bank",
    )
    ap.add_argument("--whatif", type=Path, default=None, help="whatif_truth.py --json output to compare")
    ap.add_argument(
        "--load", type=Path, default=None, help="this script's JSON output: compare it, run nothing"
    )
    a = ap.parse_args(argv)
    if a.load is not None:
        res = json.loads(a.load.read_text())
    else:
        res = realisations(
            a.preset,
            a.seed,
            a.realisations,
            a.processes.split(","),
            a.remedies.split(",") if a.remedies else None,
            a.kind,
        )
    if a.whatif is not None:
        rows = against_whatif(res, json.loads(a.whatif.read_text()))
        res["against_whatif"] = rows
        print(comparison_table(rows), file=sys.stderr)
    json.dump(res, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
