"""Score ``find_wastes`` against the synthetic bank's ground truth: precision and recall per waste code.

A generated bank folder (``flowlens generate bank --preset demo --seed 11 -o DIR``) has the
events, the per-case table (joined to every case, with the customer's risk rating, as a bank
would have them) and ``ground_truth.parquet`` with one row per injected waste (code
W1-W11) and decoy (D1-D5). Each finding names the catalogue code it looks for in
``details["catalogue"]``; the score is case-level: precision = cases flagged for a code that
truly have it / cases flagged for it, recall = true cases flagged / true cases. A decoy is
*flagged* when a removable (non-regulatory) finding claims one of its events' activities in a
decoy case.

Usage::

    .venv/bin/python benchmarks/score_findings.py DIR [--seed 11] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def score(folder: Path, seed: int) -> dict[str, object]:
    import flowlens
    from flowlens.findings.api import find_wastes
    from flowlens.io.cases import add_case_attributes

    cases = pd.read_parquet(folder / "cases.parquet")
    customers = pd.read_parquet(folder / "customers.parquet", columns=["customer_id", "risk_rating"])
    cases = cases.merge(customers, on="customer_id", how="left")
    log = add_case_attributes(flowlens.read_log(folder / "events.parquet"), cases)
    report = find_wastes(log, seed=seed)
    truth = pd.read_parquet(folder / "ground_truth.parquet")
    waste = truth[truth["kind"] == "waste"]
    per_code: dict[str, dict[str, float | int]] = {}
    for code in sorted(waste["code"].unique(), key=lambda c: int(c[1:])):
        want = set(waste.loc[waste["code"] == code, "case_id"])
        got = {c for f in report.findings if f.details.get("catalogue") == code for c in f.case_ids}
        hit = len(want & got)
        per_code[code] = {
            "true_cases": len(want),
            "flagged_cases": len(got),
            "precision": round(hit / len(got), 3) if got else None,
            "recall": round(hit / len(want), 3) if want else None,
        }
    events = pd.read_parquet(folder / "events.parquet", columns=["event_id", "activity"])
    act_of = dict(zip(events["event_id"], events["activity"], strict=True))
    decoys = truth[truth["kind"] == "decoy"]
    removable = [f for f in report.findings if not f.regulatory]
    flagged_decoys = {}
    for code, rows in decoys.groupby("code"):
        acts = {act_of.get(e) for ids in rows["event_ids"] for e in ids}
        cases = set(rows["case_id"])
        n = sum(len(cases & set(f.case_ids)) for f in removable if acts & set(f.activities))
        flagged_decoys[str(code)] = n
    return {
        "folder": str(folder),
        "seed": seed,
        "findings": len(report.findings),
        "codes": per_code,
        "decoy_cases_in_removable_findings": flagged_decoys,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    result = score(args.folder, args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['findings']} findings on {result['folder']}")
    print(f"{'code':5s} {'true':>6s} {'flagged':>8s} {'precision':>10s} {'recall':>7s}")
    for code, s in result["codes"].items():  # type: ignore[union-attr]
        p = "-" if s["precision"] is None else f"{s['precision']:.3f}"
        r = "-" if s["recall"] is None else f"{s['recall']:.3f}"
        print(f"{code:5s} {s['true_cases']:>6,} {s['flagged_cases']:>8,} {p:>10s} {r:>7s}")
    print("decoy cases in removable findings:", result["decoy_cases_in_removable_findings"])


if __name__ == "__main__":
    main()
