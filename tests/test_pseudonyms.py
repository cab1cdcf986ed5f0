"""Pseudonymised outputs: no case, customer or staff id in clear in any file a command writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

import flowlens
from flowlens.pseudonyms import pseudonymise

FLOWLENS = [sys.executable, "-m", "flowlens"]
CASES = [f"LOAN-{k:04d}" for k in range(24)]
CUSTOMERS = [f"CUST{k:05d}" for k in range(24)]
STAFF = ["alice.wong", "bob.li", "carol.zhang"]


def bank_log(tmp_path: Path) -> tuple[Path, Path]:
    rows = []
    t0 = pd.Timestamp("2024-03-04 09:00")
    for k, (case, cust) in enumerate(zip(CASES, CUSTOMERS, strict=True)):
        steps = (
            ["Apply", "Check Identity", "Assess", "Check Identity", "Approve"]
            if k % 3
            else ["Apply", "Approve"]
        )
        # office hours, four cases a day (staff busy round the clock would read as a system)
        t = t0 + pd.Timedelta(days=k // 4, hours=2 * (k % 4))
        for i, act in enumerate(steps):
            rows.append([case, cust, act, STAFF[(k + i) % 3], t, t + pd.Timedelta(minutes=15)])
            t += pd.Timedelta(minutes=40)
    rows.append([CASES[0], CUSTOMERS[0], "Approve", STAFF[0], "not a time", "2024-03-04 10:00"])
    log = tmp_path / "loans.csv"
    pd.DataFrame(rows, columns=["case_id", "customer_id", "activity", "resource", "start", "end"]).to_csv(
        log, index=False
    )
    cases = tmp_path / "cases.csv"
    pd.DataFrame({"case_id": CASES, "customer_id": CUSTOMERS, "segment": ["vip", "mass"] * 12}).to_csv(
        cases, index=False
    )
    return log, cases


def clear_ids(text: str) -> list[str]:
    return [v for v in (*CASES, *CUSTOMERS, *STAFF) if v in text]


def test_library_keeps_the_process_and_hides_the_ids(tmp_path: Path) -> None:
    path, _ = bank_log(tmp_path)
    log = flowlens.read_log(path)
    p = pseudonymise(log, key="k1")
    assert p.n_cases == log.n_cases and p.n_events == log.n_events and p.n_variants == log.n_variants
    assert set(p.pseudonyms.columns) == {"case_id", "resource", "customer_id"}
    values = p.table.select("case_id", "resource", "customer_id").to_pandas()
    assert clear_ids(values.to_csv()) == []
    # keyed: the same in every run; another key, other pseudonyms
    again = pseudonymise(flowlens.read_log(path), key="k1").table.select("case_id").to_pandas()
    other = pseudonymise(flowlens.read_log(path), key="k2").table.select("case_id").to_pandas()
    assert sorted(again.case_id) == sorted(values.case_id)
    assert not set(other.case_id) & set(values.case_id)
    # the quarantined row keeps its reason but not its ids
    q = p.quarantine()
    assert len(q) == 1
    assert clear_ids(q.to_csv()) == []


def test_every_output_of_analyze_and_findings_is_pseudonymised(tmp_path: Path) -> None:
    path, cases = bank_log(tmp_path)
    common = ["--pseudonymise", "--pseudonym-key", "secret"]
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run
        r = subprocess.run(
            [
                *FLOWLENS,
                "analyze",
                str(path),
                "--cases",
                str(cases),
                "--resamples",
                "100",
                "-o",
                str(out),
                *common,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert r.returncode == 0, r.stderr
        outs.append(out)
    for name in ("report.html", "results.json", "quarantine.csv"):
        text = (outs[0] / name).read_text(encoding="utf-8")
        assert clear_ids(text) == [], name
        assert text == (outs[1] / name).read_text(encoding="utf-8"), f"{name} differs between runs"
    results = json.loads((outs[0] / "results.json").read_text(encoding="utf-8"))
    assert results["sections"]["summary"]["cases"] == len(CASES)
    assert "segment" in json.dumps(results)  # the case table still joins on pseudonymised ids
    csv = tmp_path / "findings.csv"
    r = subprocess.run(
        [*FLOWLENS, "findings", str(path), "--csv", str(csv), "--json", *common],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert clear_ids(r.stdout) == [] and clear_ids(csv.read_text(encoding="utf-8")) == []
    assert "case-" in r.stdout


def test_key_without_the_flag_is_a_usage_error(tmp_path: Path) -> None:
    path, _ = bank_log(tmp_path)
    r = subprocess.run(
        [*FLOWLENS, "inspect", str(path), "--pseudonym-key", "x"], capture_output=True, text=True, check=False
    )
    assert r.returncode == 2 and "--pseudonym-key needs --pseudonymise" in r.stderr
