"""Check that the simulation engine's output is byte-identical to a reference revision's.

Engine changes made for speed must not change what it simulates (methods §16.8). This script
loads ``src/flowlens/simulation/engine.py`` and ``src/flowlens/cli/simulate_cmd.py`` as they are
at ``--ref`` (default ``main``; read with ``git show``, so the working tree is not touched) next
to the working tree's, runs both engines on the same fitted models and arguments, and compares

* the paths ``walk_paths`` draws (what ``fit.py`` also uses to choose the order k);
* the simulated frames (``pandas.testing.assert_frame_equal``, exact, dtypes included);
* the CSV bytes each revision's ``write_log`` writes of its own frame.

The models are fitted once with the working tree's ``fit_model`` and kept in ``--models``
(default ``benchmarks/data/identity_models``; delete a file to refit it): LoanApp's train
part, the bank demo, the purchasing example (pools with ``assignment: person``) and BPIC
2012-W (a repeat-aware control flow). The runs cover the default warm-up, ``until``, time
zones with a daylight-saving change, priorities, batches, scenario edits (remove by
occurrence, merge, cut_rework, set_branch with ``where``, automate, scale_delay,
add_resources) and ``with_enabled=True``; the bank demo also with the arrival level of its whole
period (:func:`whole_level`). Exit status 0 when every run is identical.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/check_engine_identity.py
    PYTHONPATH=src .venv/bin/python benchmarks/check_engine_identity.py --ref main --only bank
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib.util
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "event_logs"
LOGS = {
    "loanapp": SHARED / "loanapp-sim" / "LoanApp_simplified_train.csv.gz",
    "bank": REPO / "event_logs" / "bank_demo" / "events.parquet",
    "purchasing": SHARED / "purchasing-sim" / "PurchasingExample.csv.gz",
    "bpic2012-w": SHARED / "bpic2012-w" / "BPIC_2012_W.csv.gz",
}


def load_ref(ref: str, path: str, name: str) -> types.ModuleType:
    """The module at ``path`` as it is at git revision ``ref``, imported under ``name``."""
    src = subprocess.run(
        ["git", "show", f"{ref}:{path}"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up
    exec(compile(src, f"{ref}:{path}", "exec"), mod.__dict__)
    return mod


def fitted(name: str, folder: Path) -> Any:
    """The model fitted on log ``name`` (cached in ``folder``)."""
    import flowlens
    from flowlens.simulation.fit import fit_model
    from flowlens.simulation.model import SimulationModel

    path = folder / f"{name}.json"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        print(f"fitting {name} ({LOGS[name].name}) ...", flush=True)
        fit_model(flowlens.read_log(str(LOGS[name]))).save(path)
        print(f"  {time.perf_counter() - t0:.1f} s", flush=True)
    return SimulationModel.load(path)


def edited(model: Any, changes: list[dict[str, Any]]) -> Any:
    from flowlens.simulation.scenarios import Scenario

    return Scenario.from_dict({"name": "identity", "change": changes}).apply(model)


def with_fields(model: Any, **fields: Any) -> Any:
    m = copy.deepcopy(model)
    for k, v in fields.items():
        setattr(m, k, v)
    return m


def whole_level(model: Any, **fields: Any) -> Any:
    """The model with the arrival level of the whole fitted period instead of its last weeks'
    (the bank demo's last four weeks hold 3 case starts: as fitted, 10^4 cases span centuries)."""
    m = with_fields(model, **fields)
    level = float(m.arrivals.get("observed", {}).get("recent_level", 1.0) or 1.0)
    m.arrivals["intensity"] = [[v / level for v in row] for row in m.arrivals["intensity"]]
    return m


def after(model: Any, days: float) -> str:
    return str(pd.Timestamp(model.fitted["end"]) + pd.Timedelta(days=days))


#: (run name, log, model edit, simulate() keyword arguments)
Run = tuple[str, str, Callable[[Any], Any], dict[str, Any]]


def runs() -> list[Run]:
    same: Callable[[Any], Any] = lambda m: m  # noqa: E731
    loan_batch = {"Approve loan offer": {"size": 4, "timeout_s": 7200, "cutoff": "16:30"}}
    bank_batch = {
        "Manual AML Review": {"size": 3, "timeout_s": 4 * 3600},
        "Second Approval": {"cutoff": "15:00"},
    }
    bank_prio = {"attribute": "process", "order": {"complaint": 2, "loan_application": 1}}
    return [
        ("loanapp", "loanapp", same, {"cases": 3000, "seed": 1}),
        ("loanapp until", "loanapp", same, {"until": "+60", "seed": 2, "warmup_cases": 0}),
        (
            "loanapp DST + batches + enabled",
            "loanapp",
            lambda m: with_fields(m, timezone="Europe/Amsterdam", batching=loan_batch),
            {"cases": 3000, "seed": 3, "start": "2024-03-25T06:00:00", "with_enabled": True},
        ),
        (
            "loanapp scenario",
            "loanapp",
            lambda m: edited(
                m,
                [
                    {"action": "remove", "activity": "Check application form completeness", "occurrence": 2},
                    {"action": "merge", "activities": ["Design loan offer", "Approve loan offer"]},
                    {
                        "action": "cut_rework",
                        "activity": "Return application back to applicant",
                        "factor": 0.3,
                    },
                    {
                        "action": "set_branch",
                        "to": "Reject application",
                        "probability": 0.3,
                        "where": "FixedCost < 1",
                    },
                    {"action": "automate", "activity": "Check credit history", "duration_factor": 0.1},
                    {"action": "scale_delay", "activity": "Applicant completes form", "factor": 0.5},
                    {"action": "add_resources", "activity": "AML check", "count": 1},
                ],
            ),
            {"cases": 3000, "seed": 4, "with_enabled": True},
        ),
        ("bank as fitted", "bank", same, {"cases": 2000, "seed": 1}),
        ("bank", "bank", whole_level, {"cases": 10_000, "seed": 1}),
        (
            "bank priority + batches + enabled",
            "bank",
            lambda m: whole_level(m, priority=bank_prio, batching=bank_batch),
            {"cases": 5000, "seed": 2, "with_enabled": True},
        ),
        (
            "bank DST until",
            "bank",
            lambda m: whole_level(m, timezone="America/New_York"),
            {"until": "2024-11-06T00:00:00", "start": "2024-10-30T00:00:00", "seed": 3},
        ),
        (
            "bank scenario",
            "bank",
            lambda m: edited(
                whole_level(m),
                [
                    {"action": "remove", "activity": "Verify Identity", "occurrence": 2},
                    {"action": "merge", "activities": ["Agent Answers", "Verify Identity"]},
                    {"action": "merge", "activities": ["Resolve Ticket", "Notify Customer"]},
                    {"action": "cut_rework", "activity": "Investigate", "factor": 0.2},
                    {
                        "action": "set_branch",
                        "to": "Manual AML Review",
                        "probability": 0.5,
                        "where": "process == 'account_opening'",
                    },
                ],
            ),
            {"cases": 5000, "seed": 5, "with_enabled": True},
        ),
        ("purchasing person", "purchasing", same, {"cases": 3000, "seed": 1, "with_enabled": True}),
        ("bpic2012-w repeats", "bpic2012-w", same, {"cases": 4000, "seed": 1}),
        (
            "bpic2012-w repeats + scenario",
            "bpic2012-w",
            lambda m: edited(
                m,
                [
                    {"action": "cut_rework", "activity": "W_Completeren aanvraag", "factor": 0.4},
                    {
                        "action": "set_branch",
                        "to": "W_Valideren aanvraag",
                        "probability": 0.4,
                        "where": "variant_index < 20",
                    },
                    {"action": "remove", "activity": "W_Nabellen offertes", "occurrence": 3},
                ],
            ),
            {"cases": 4000, "seed": 2, "with_enabled": True},
        ),
    ]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", default="main", help="git revision whose engine is the reference")
    ap.add_argument("--models", type=Path, default=REPO / "benchmarks" / "data" / "identity_models")
    ap.add_argument("--only", help="comma-separated logs (of " + ", ".join(LOGS) + ")")
    args = ap.parse_args()

    from flowlens.cli import simulate_cmd as new_cli
    from flowlens.simulation import engine as new

    ref = load_ref(args.ref, "src/flowlens/simulation/engine.py", "flowlens_ref_engine")
    ref_cli = load_ref(args.ref, "src/flowlens/cli/simulate_cmd.py", "flowlens_ref_simulate_cmd")
    print(f"reference: {args.ref}:src/flowlens/simulation/engine.py; tested: {new.__file__}")
    only = set(args.only.split(",")) if args.only else set(LOGS)
    failed = 0
    tmp = Path(tempfile.mkdtemp(prefix="engine_identity_"))
    models: dict[str, Any] = {}
    for name, log, edit, kwargs in runs():
        if log not in only:
            continue
        if log not in models:
            models[log] = fitted(log, args.models)
            base = models[log]
            # the paths alone, as fit.py draws them (it chooses k with walk_paths)
            acts = sorted(base.activities)
            index = {a: i for i, a in enumerate(acts)}
            ids = np.arange(-50, 3000, dtype=np.int64)
            pa, pb = (
                e.walk_paths(
                    base.control_flow,
                    len(acts),
                    ids,
                    7,
                    cap=60,
                    tables=[e._table(base.control_flow["transitions"], index)],
                )
                for e in (ref, new)
            )
            same_paths = all(
                np.array_equal(getattr(pa, f), getattr(pb, f)) for f in ("case", "act", "occ", "offsets")
            )
            print(f"{'ok ' if same_paths else 'DIFF'} {log}: walk_paths")
            failed += not same_paths
        model = edit(models[log])
        kw = dict(kwargs)
        if kw.get("until", "").startswith("+"):
            kw["until"] = after(model, float(kw["until"][1:]))
        t0 = time.perf_counter()
        a = ref.simulate(model, **kw)
        t1 = time.perf_counter()
        b = new.simulate(model, **kw)
        t2 = time.perf_counter()
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
            same = True
        except AssertionError as exc:
            same, why = False, str(exc).splitlines()[:6]
        fa, fb = tmp / "ref.csv", tmp / "new.csv"
        ref_cli.write_log(a, fa)
        t3 = time.perf_counter()
        new_cli.write_log(b, fb)
        t4 = time.perf_counter()
        da, db = digest(fa), digest(fb)
        ok = same and da == db
        failed += not ok
        print(
            f"{'ok ' if ok else 'DIFF'} {name}: {len(b):,} rows, {b.case_id.nunique():,} cases; "
            f"simulate {t1 - t0:.2f} s -> {t2 - t1:.2f} s; write_log {t3 - t2:.2f} s -> {t4 - t3:.2f} s; "
            f"csv {da} {'==' if da == db else '!='} {db}",
            flush=True,
        )
        if not same:
            print("    " + "\n    ".join(why))
    print("all identical" if not failed else f"{failed} difference(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
