"""The report's first page (recommendations, board numbers), the body as evidence (a sentence
first, one unit per table, long tables collapsed, repeated splits merged) and the appendix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

import flowlens
from flowlens.report.appendix import _DATA, extract, reader_text, wanted
from flowlens.report.build import ReportOptions, build_report, split_agreement
from flowlens.report.charts import bar_chart
from flowlens.report.charts_segments import interval_chart
from flowlens.report.recommendations_section import board_numbers, recommendations
from flowlens.report.templating import LONG_TABLE, TOP_ROWS, environment
from flowlens.report.waiting_section import batch_groups
from flowlens.units import duration_unit, in_unit, with_unit

ROOT = Path(__file__).resolve().parents[1]


def loop_log(cases: int = 40) -> flowlens.EventLog:
    """Cases that mostly redo a check (a removable loop), with a channel and an origin column
    that split the cases the same way under other names."""
    rows = []
    t0 = pd.Timestamp("2024-02-05 09:00", tz="UTC")
    for c in range(cases):
        steps = ["Register", "Check", "Decide"]
        if c % 4:
            steps = ["Register", "Check", "Decide", "Check", "Decide"]
        t = t0 + pd.Timedelta(days=c // 4, hours=c % 4)
        channel = "app" if c % 2 else "branch"
        for k, act in enumerate(steps):
            rows.append(
                {
                    "case_id": f"c{c:02d}",
                    "activity": act,
                    "resource": f"clerk{(c + k) % 3}",
                    "start": t,
                    "end": t + pd.Timedelta(minutes=20),
                    "channel": channel,
                    "origin_channel": channel.upper(),
                }
            )
            t += pd.Timedelta(minutes=50)
    return flowlens.read_log(pd.DataFrame(rows))


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    return build_report(loop_log(), ReportOptions(resamples=100))


def test_the_first_section_is_the_recommendations_and_equals_results_json(report, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = report.sections[0]
    assert first.id == "recommendations"
    recs = first.data["recommendations"]
    assert 1 <= len(recs) <= 5
    top = recs[0]
    # the loop's remedy, in plain words, priced as an upper bound from the findings
    assert top["source"] == "findings" and top["upper_bound"] is True
    assert top["cases"] == 30 and top["cases_total"] == 40
    lo, hi = top["saving_per_case_ci_s"]
    assert lo <= top["saving_per_case_s"] <= hi and top["saving_per_case_s"] > 0
    assert 0 < top["share_of_lead"] < 1
    assert top["confidence"] == "medium" and top["simulation"] == "not run"
    assert top["evidence"].startswith("finding-")
    data = json.loads(report.write(tmp_path)["results"].read_text(encoding="utf-8"))
    assert data["sections"]["recommendations"] == report.to_json()["sections"]["recommendations"]
    assert data["sections"]["recommendations"]["recommendations"][0]["change"] == top["change"]
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    # the first section on the page is the decision, and its evidence link lands on a row
    assert html.index('id="recommendations"') < html.index('id="summary"')
    assert f'href="#{top["evidence"]}"' in html and f'id="{top["evidence"]}"' in html
    board = first.data["board"]
    assert board["lead_median_s"] > 0 and 0 < board["waiting_share"] < 1 and board["sla"] is None


def test_recommendations_is_a_public_function_giving_the_sections_numbers(report) -> None:  # type: ignore[no-untyped-def]
    """A user calling recommendations() on the findings gets what the first page shows."""
    from flowlens.findings.api import find_wastes
    from flowlens.findings.context import FindingContext

    log = loop_log()
    fr = find_wastes(log, ctx=FindingContext(log, seed=0, resamples=100))
    recs = recommendations(
        fr, cases_total=40, lead_total_s=fr.claimed["customer_lead_time_total_s"], quality=log.quality
    )
    shown = report.sections[0].data["recommendations"]
    assert [r.to_dict()["change"] for r in recs] == [r["change"] for r in shown]
    assert recs[0].saving_per_case_s == pytest.approx(shown[0]["saving_per_case_s"])


def test_a_trusted_whatif_gives_the_savings_and_an_untrusted_one_does_not() -> None:
    whatif = {
        "baseline": {"lead_time_mean_h": 10.0},
        "scenarios": [
            {
                "name": "fewer checks",
                "saving_mean_h": 2.0,
                "saving_ci95_h": [1.5, 2.5],
                "significant": True,
                "staff_hours_delta": -4.0,
                "changes": [{"action": "remove", "activity": "Check"}],
            },
            {"name": "noise", "saving_mean_h": 0.01, "saving_ci95_h": [-0.1, 0.1], "significant": False},
        ],
    }
    trusted = recommendations(
        None, cases_total=100, whatif=whatif, fidelity={"trusted": True}, scenario_cases={"fewer checks": 50}
    )
    # a tested change with no measurable saving is kept, apart and last (not an upper bound)
    assert [(r.source, r.measurable) for r in trusted] == [("simulation", True), ("simulation", False)]
    r = trusted[0]
    # 2 h over all cases is 4 h for each of the 50 cases that take the step
    assert r.saving_per_case_s == pytest.approx(4 * 3600) and r.cases == 50
    assert r.saving_per_case_ci_s == pytest.approx((3 * 3600, 5 * 3600))
    assert r.share_of_lead == pytest.approx(0.2) and not r.upper_bound
    assert r.staff_freed_s == pytest.approx(4 * 3600) and r.confidence == "high"
    assert r.change == "Stop doing 'Check'"
    assert recommendations(None, cases_total=100, whatif=whatif, fidelity={"trusted": False}) == []
    # the model passed its check but this scenario's steps did not (or it moves a queue that
    # does not settle): its saving is shown with low confidence and says so
    whatif["scenarios"][0]["trusted"] = False
    shaky = recommendations(
        None, cases_total=100, whatif=whatif, fidelity={"trusted": True}, scenario_cases={"fewer checks": 50}
    )[0]
    assert (shaky.simulation, shaky.confidence) == ("not trusted", "low")


def test_every_body_section_opens_with_a_sentence(report) -> None:  # type: ignore[no-untyped-def]
    body = [s for s in report.sections if not s.appendix and s.id != "not-included"]
    assert [s.id for s in body][:2] == ["recommendations", "summary"]
    for s in body:
        assert s.lead and (s.lead[0].isupper() or s.lead[0].isdigit()), (s.id, s.lead)
        assert s.lead.rstrip().endswith("."), (s.id, s.lead)
    assert [s.id for s in report.sections if s.appendix] == ["quality", "methods", "reproduce"]


def test_a_split_repeated_under_another_name_is_shown_once(report) -> None:  # type: ignore[no-untyped-def]
    assert split_agreement(loop_log(), "channel", "origin_channel") == 1.0
    ids = [s.id for s in report.sections]
    assert "segments-channel" in ids and "segments-origin-channel" not in ids
    seg = next(s for s in report.sections if s.id == "segments-channel")
    assert seg.data["same_split"] == [{"column": "origin_channel", "agreement": 1.0}]


def test_the_page_cites_no_file_and_claims_no_simulation(report, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    html = report.write(tmp_path)["report"].read_text(encoding="utf-8")
    assert "domain.md" not in html and "methods.md" not in html
    assert "refines" not in html
    # the appendix: methods as text, the seed, versions and the log's checksum
    assert 'id="methods"' in html and "Lead time" in html
    assert "sha256" in html and "duckdb" in html
    assert html.index('id="appendix"') < html.index('id="quality"')


def test_numeric_cells_never_wrap(report) -> None:  # type: ignore[no-untyped-def]
    css = report.to_html()
    assert re.search(r"td\.num, th\.num \{[^}]*white-space: nowrap", css)
    assert "tabular-nums" in css


def test_duration_unit_is_chosen_for_the_range() -> None:
    assert duration_unit([30, 600, 1200]) == "min"
    assert duration_unit([3600, 7200, 40000]) == "h"
    assert duration_unit([86400 * 3, 86400 * 67279]) == "d"
    # one unit for the whole column: the chart's 1,614,708 h is 67,280 d like the table
    assert with_unit(1_614_708 * 3600, "d") == "67,280 d"
    assert in_unit(36, "h") == "0.010" and in_unit(None, "h") == "–"


def test_long_tables_show_their_top_rows_and_the_rest_behind_details() -> None:
    env = environment()
    tpl = env.from_string(
        '{% from "_macros.html.j2" import long_table %}'
        "{% call(r) long_table(rows, '<tr><th>n</th></tr>') %}<tr><td>row{{ r }}</td></tr>{% endcall %}"
    )
    long = tpl.render(rows=list(range(25)))
    assert long.count("<details") == 1
    before, after = long.split("<details", 1)
    assert before.count("<td>row") == TOP_ROWS and after.count("<td>row") == 25 - TOP_ROWS
    short = tpl.render(rows=list(range(LONG_TABLE)))
    assert "<details" not in short and short.count("<td>row") == LONG_TABLE


def test_chart_labels_wrap_and_are_never_cut() -> None:
    label = "others served first (prioritisation): a long cause name"
    for svg in (
        bar_chart([label, "b"], [3.0, 1.0]),
        interval_chart([label], [2.0], [1.0], [3.0]),
    ):
        assert "…" not in svg
        assert "<title>" + label + "</title>" in svg
        assert svg.count("<tspan") >= 3  # two lines for the long label, one for the short


def test_batches_differing_only_in_the_resource_number_are_one_row() -> None:
    b = pd.DataFrame(
        {
            "resource": ["AML-01", "AML-02", "AML-01", "CB-1"],
            "activity": ["Review", "Review", "Review", "Chargeback"],
            "size": [2, 3, 5, 4],
            "kind": ["sequential"] * 4,
            "enabled_us": [0, 0, 0, 0],
            "first_start_us": [3_600_000_000] * 4,
        }
    )
    rows = batch_groups(b)
    assert [(r["activity"], r["batches"], r["size_max"]) for r in rows] == [
        ("Review", 3, 5),
        ("Chargeback", 1, 4),
    ]
    assert rows[0]["resources"] == "AML-01, AML-02" and rows[0]["held_median_s"] == 3600.0


def test_board_numbers_per_process_and_deadline() -> None:
    d = pd.DataFrame({"case_id": list("abcd"), "lead_time_s": [10.0, 20.0, 30.0, 40.0]})
    procs = pd.DataFrame({"case_id": list("abcd"), "process": ["x", "x", "x", "y"]})
    b = board_numbers(
        d,
        waiting={
            "reconciliation": {"lead_time_total_s": 120.0, "service_s": 40.0, "customer_waiting_s": 60.0}
        },
        sla={"rule": "R", "met_share": 0.9, "decided": 10, "counts": {"breached": 1}},
        processes=procs,
    )
    assert b["lead_median_s"] == 25.0 and b["waiting_share"] == 0.6
    assert b["sla"] == {"rule": "R", "met_share": 0.9, "decided": 10, "breached": 1}
    assert [(p["process"], p["cases"]) for p in b["by_process"]] == [("x", 3), ("y", 1)]


def test_the_methods_copy_is_current_and_cites_no_file() -> None:
    """After editing docs/methods.md run: python -m flowlens.report.appendix docs/methods.md"""
    text = (ROOT / "docs" / "methods.md").read_text(encoding="utf-8")
    shipped = json.loads((ROOT / "src" / "flowlens" / "report" / _DATA).read_text(encoding="utf-8"))
    assert shipped == extract(text, wanted())
    for sec in shipped.values():
        assert "domain.md" not in sec["text"] and "shared methods.md" not in sec["text"]
    assert reader_text("as domain.md 6.3 says") == "as says"


def test_the_recorded_command_hides_the_pseudonym_key_and_the_output_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flowlens.cli.analyze_cmd import _command_line

    argv = ["/usr/bin/flowlens", "analyze", "log.csv", "--pseudonymise", "--pseudonym-key", "s3cret"]
    monkeypatch.setattr("sys.argv", [*argv, "-o", "/tmp/a b", "--seed=3"])
    cmd = _command_line()
    assert cmd == "flowlens analyze log.csv --pseudonymise --pseudonym-key '***' -o DIR --seed=3"
    monkeypatch.setattr("sys.argv", [*argv[:-1], "--pseudonym-key=s3cret", "--out=x"])
    assert "s3cret" not in (_command_line() or "") and "--out=DIR" in (_command_line() or "")
    monkeypatch.setattr("sys.argv", ["pytest", "analyze"])
    assert _command_line() is None
