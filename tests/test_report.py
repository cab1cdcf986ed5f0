"""The HTML report: self-contained, escaped, reproducible, and the same numbers as results.json."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import flowlens
from flowlens.io.writers import write_quarantine
from flowlens.report.build import ReportOptions, build_report

EVIL_ACTIVITY = "<script>alert('x')</script>"
EVIL_RESOURCE = '"><img src=x onerror=alert(1)>'
EVIL_CASE = "=cmd|' /C calc'!A0"
QUICK = ReportOptions(deep=False)


def without_own_scripts(html: str) -> str:
    """``html`` less the interactive map's two scripts (its fixed code and its JSON block,
    which holds no ``<``): what is left must carry no script at all."""
    from flowlens.report.interactive_map import map_script

    html = html.replace(f"<script>{map_script()}</script>", "")
    return re.sub(r'<script type="application/json" id="fl-map-data">[^<]*</script>', "", html)


def evil_log() -> flowlens.EventLog:
    rows = []
    for c in range(5):
        case = EVIL_CASE if c == 0 else f"c{c}"
        for i, act in enumerate(["Register --> <!-- x", EVIL_ACTIVITY, "Close & done"]):
            rows.append(
                {
                    "case_id": case,
                    "activity": act,
                    "resource": EVIL_RESOURCE,
                    "timestamp": pd.Timestamp("2024-02-01 09:00", tz="UTC") + pd.Timedelta(hours=c * 24 + i),
                }
            )
    rows.append({"case_id": "bad", "activity": "x", "resource": "r", "timestamp": None})
    return flowlens.read_log(pd.DataFrame(rows))


def test_every_log_value_is_escaped(tmp_path: Path) -> None:
    log = evil_log()
    report = build_report(log, QUICK)
    paths = report.write(tmp_path)
    html = paths["report"].read_text(encoding="utf-8")
    assert "<script" not in without_own_scripts(html).lower()
    assert "<img" not in html.lower()
    assert "&lt;script&gt;" in html
    # no comment can be closed by an activity name
    assert "<!--" not in html
    data = json.loads(paths["results"].read_text(encoding="utf-8"))
    assert EVIL_ACTIVITY in json.dumps(data, ensure_ascii=False)


def test_full_report_escapes_log_values_and_prices_redundant_steps(tmp_path: Path) -> None:
    """Every section, the redundant steps included, escapes what comes from the log; a step
    loop repeated in most cases (evil step, Decide, evil step again) is found and named."""
    rows = []
    t0 = pd.Timestamp("2024-02-05 09:00", tz="UTC")
    for c in range(40):
        case = EVIL_CASE if c == 0 else f"c{c}"
        steps = ["Register", EVIL_ACTIVITY, "Decide"]
        if c % 4:
            steps = ["Register", EVIL_ACTIVITY, "Decide", EVIL_ACTIVITY, "Decide"]
        # office hours: four cases a day (a performer busy round the clock would read as a system)
        t = t0 + pd.Timedelta(days=c // 4, hours=c % 4)
        for k, act in enumerate(steps):
            res = EVIL_RESOURCE if k % 2 else f"clerk{(c + k) % 3}"
            rows.append(
                {
                    "case_id": case,
                    "activity": act,
                    "resource": res,
                    "start": t,
                    "end": t + pd.Timedelta(minutes=20),
                }
            )
            t += pd.Timedelta(minutes=50)
    log = flowlens.read_log(pd.DataFrame(rows))
    report = build_report(log, ReportOptions(resamples=100))
    ids = [s.id for s in report.sections]
    assert "findings" in ids and ids.index("findings") == ids.index("bottlenecks") + 1
    findings = report.sections[ids.index("findings")].data["findings"]
    assert any(
        EVIL_ACTIVITY in f["activities"] and f["kind"] == "loop" and f["cases"] == 30 for f in findings
    )
    html = report.write(tmp_path)["report"].read_text(encoding="utf-8")
    assert "<script" not in without_own_scripts(html).lower() and "<img" not in html.lower()
    assert "&lt;script&gt;" in html
    # same inputs and seed, same numbers (no timings in the results)
    again = build_report(log, ReportOptions(resamples=100))
    assert json.dumps(again.to_json(), default=str) == json.dumps(report.to_json(), default=str)


def test_report_is_self_contained(tmp_path: Path) -> None:
    paths = build_report(evil_log(), QUICK).write(tmp_path)
    html = paths["report"].read_text(encoding="utf-8")
    assert "Content-Security-Policy" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html, re.IGNORECASE)
    assert "<link" not in html.lower()


def test_report_is_reproducible(tmp_path: Path) -> None:
    a = build_report(evil_log(), QUICK).write(tmp_path / "a")
    b = build_report(evil_log(), QUICK).write(tmp_path / "b")
    for key in ("report", "results"):
        assert a[key].read_bytes() == b[key].read_bytes()


def test_html_numbers_match_results_json(tmp_path: Path) -> None:
    log = evil_log()
    paths = build_report(log, QUICK).write(tmp_path)
    html = paths["report"].read_text(encoding="utf-8")
    results = json.loads(paths["results"].read_text(encoding="utf-8"))
    s = results["sections"]["summary"]
    for key in ("cases", "events", "activities", "variants"):
        assert re.search(rf"<b>{s[key]:,}</b><span>[a-z ]*{'' if key != 'events' else 'activity '}", html), (
            key
        )
    assert results["sections"]["quality"]["rows_quarantined"] == 1
    assert results["sections"]["quality"]["quarantine_reasons"] == {"missing timestamp": 1}
    edges = {(e["source"], e["target"]): e["count"] for e in results["sections"]["map"]["edges"]}
    dfg, _, _ = flowlens.directly_follows(log)
    assert edges == dfg


def test_quarantine_csv_neutralises_formulas(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "case_id": ['=HYPERLINK("http://x")', "ok"],
            "activity": ["a", "b"],
            "timestamp": [None, "2024-01-01"],
        }
    )
    log = flowlens.read_log(df)
    out = write_quarantine(log, tmp_path / "q.csv")
    text = out.read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text
    assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.browser
def test_report_renders_offline_in_a_browser(tmp_path: Path) -> None:
    browser = _chromium()
    assert browser, "Chromium is missing: ./setup.sh --test installs it"
    paths = build_report(evil_log(), QUICK).write(tmp_path)
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--dump-dom",
        paths["report"].as_uri(),
    ]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    assert "Process map" in dom
    assert dom.count("<svg") >= 3
    assert "<script" not in without_own_scripts(dom).lower()
