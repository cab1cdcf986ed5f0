"""The command line: JSON shapes, output files, one-line errors, a --help that loads nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import shared_path

FLOWLENS = [sys.executable, "-m", "flowlens"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLOWLENS, *args], capture_output=True, text=True, cwd=cwd, check=False)


def test_help_imports_no_engine() -> None:
    code = (
        "import sys\n"
        "from flowlens.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('duckdb', 'ibis', 'pandas', 'pm4py', 'pyspark', 'numpy') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("command", ["inspect", "analyze", "generate"])
def test_every_command_has_help(command: str) -> None:
    out = run(command, "--help")
    assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout


def test_inspect_json_has_the_promised_keys(shared_logs) -> None:
    out = run("inspect", str(shared_path("running-example")), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in (
        "cases",
        "events",
        "rows_read",
        "rows_kept",
        "rows_quarantined",
        "activities",
        "variants",
        "resources",
        "start",
        "end",
        "has_start_times",
        "timezone",
    ):
        assert key in data, key
    assert (data["cases"], data["events"], data["activities"], data["variants"]) == (6, 42, 8, 6)
    assert data["rows_read"] == data["rows_kept"] + data["rows_quarantined"]
    assert data["timezone"] == "UTC"
    assert data["start"] == "2010-12-30T10:02:00.000+00:00"
    assert "Welcome" not in out.stdout and "PM4Py" not in out.stderr


def test_inspect_tz_recorded_and_applied(tmp_path: Path) -> None:
    p = tmp_path / "log.csv"
    pd.DataFrame(
        {
            "case_id": ["a", "a"],
            "activity": ["x", "y"],
            "timestamp": ["2024-03-01 09:00:00", "2024-03-01 10:00:00"],
        }
    ).to_csv(p, index=False)
    out = run("inspect", str(p), "--tz", "Asia/Shanghai", "--json")
    data = json.loads(out.stdout)
    assert data["timezone"] == "Asia/Shanghai"
    assert data["start"] == "2024-03-01T09:00:00.000+08:00"


def test_bpic2013_sub_status_joins_the_activity_unless_told_otherwise(shared_logs) -> None:
    path = str(shared_path("bpic2013-closed-problems"))
    plain = json.loads(run("inspect", path, "--json").stdout)
    combined = json.loads(
        run("inspect", path, "--json", "--activity", "concept:name+lifecycle:transition").stdout
    )
    apart = json.loads(run("inspect", path, "--json", "--activity", "concept:name").stdout)
    assert plain["activities"] == combined["activities"] == 7
    assert apart["activities"] == 4
    assert any("not lifecycle transitions" in n for n in plain["source_info"]["notes"])


def test_analyze_writes_report_results_and_quarantine(tmp_path: Path, shared_logs) -> None:
    out_dir = tmp_path / "out"
    out = run("analyze", str(shared_path("bank-callcenter")), "-o", str(out_dir))
    assert out.returncode == 0, out.stderr
    html = (out_dir / "report.html").read_text(encoding="utf-8")
    results = json.loads((out_dir / "results.json").read_text(encoding="utf-8"))
    quarantine = pd.read_csv(out_dir / "quarantine.csv")
    assert len(quarantine) == 19
    assert set(quarantine["reason"]) == {"end before start"}
    summary = results["sections"]["summary"]
    assert summary["rows_quarantined"] == 19
    assert summary["rows_read"] == summary["rows_kept"] + summary["rows_quarantined"]
    assert f"{summary['cases']:,}" in html
    assert "<svg" in html


@pytest.mark.parametrize(
    "args, message",
    [
        (["inspect", "/no/such/file.csv"], "no such file"),
        (["inspect", "{log}", "--case", "nope"], "column 'nope' (case) not found"),
        (["inspect", "{log}", "--tz", "Mars/Olympus"], "unknown time zone"),
        (["analyze", "{log}"], "Missing option"),
    ],
)
def test_user_errors_are_one_line(args: list[str], message: str, shared_logs) -> None:
    log = str(shared_path("running-example"))
    out = run(*[a.format(log=log) for a in args])
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    if args[0] != "analyze":
        assert len(out.stderr.strip().splitlines()) == 1
