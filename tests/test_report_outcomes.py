"""The first page framed by outcomes (issue 13, head-of-operations review): the funnel, how cases
end with their lead time, instant answers apart, waiting split by who holds the case, each change
against the cases it can apply to with what it may cost, simulated changes against their cost
today, and driver ratios that are artefacts of instant answers left out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.conftest import SHARED, shared_path

import flowlens
from flowlens.findings.model import Finding, Scenario
from flowlens.report.outcomes import INSTANT_S, case_outcomes
from flowlens.report.recommendations_section import (
    board_numbers,
    recommendations,
    recommendations_section,
    whatif_vs_findings,
    why_differs,
)
from flowlens.timing.model import time_model


def shared_log(name: str) -> flowlens.EventLog:
    return flowlens.read_log(shared_path(name), **SHARED[name][1])


def _loans() -> flowlens.EventLog:
    """60 applications: 20 declined automatically within seconds, 15 declined after a review,
    25 reviewed and offered, of which 20 approved (three outcome steps at once) and 5 open."""
    rows = []
    t0 = pd.Timestamp("2024-01-01 09:00")
    for c in range(60):
        d = t0 + pd.Timedelta(days=c)
        rows.append((c, "Submit", d))
        if c < 20:
            rows.append((c, "Decline", d + pd.Timedelta(seconds=20)))
            continue
        rows.append((c, "Review", d + pd.Timedelta(hours=4)))
        if c < 35:
            rows.append((c, "Decline", d + pd.Timedelta(hours=6)))
            continue
        rows.append((c, "Offer", d + pd.Timedelta(days=1)))
        for k in range(1 + c % 3):  # calls after the offer
            rows.append((c, "Call", d + pd.Timedelta(days=2 + k)))
        if c < 55:
            for a in ("Approve", "Register", "Activate"):
                rows.append((c, a, d + pd.Timedelta(days=6, minutes=len(a))))
    return flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "timestamp"]))


def test_funnel_outcomes_and_instant_answers() -> None:
    tm = time_model(_loans())
    o = case_outcomes(tm, {"Decline", "Approve", "Register", "Activate"})
    # the funnel follows the nested milestones, then the most frequent outcome reached from there
    assert [(s.steps, s.cases) for s in o.funnel] == [
        ((), 60),  # "Submit" opens every case: a way in, not a milestone
        (("Review",), 40),
        (("Offer",), 25),
        (("Approve / Register / Activate",), 20),
    ]
    ends = {x.name: (x.cases, x.instant) for x in o.outcomes}
    assert ends == {"Decline": (35, 20), "Approve / Register / Activate": (20, 0), "": (5, 0)}
    # instant answers are counted apart, not in the lead time of the others
    assert o.instant == 20
    decline = next(x for x in o.outcomes if x.name == "Decline")
    assert decline.lead_median_s == pytest.approx(6 * 3600)
    assert o.to_dict()["instant_s"] == INSTANT_S


def test_two_ways_in_are_no_stage_of_the_funnel() -> None:
    """90 complaints received from the customer, 10 referred by the regulator, all then
    registered and closed: the funnel has no drop (not "100 → 90 reach Receive")."""
    t0 = pd.Timestamp("2024-01-01 09:00")
    rows = []
    for c in range(100):
        d = t0 + pd.Timedelta(days=c)
        rows.append((c, "Receive" if c < 90 else "Referral", d))
        rows += [(c, "Register", d + pd.Timedelta(hours=2)), (c, "Close", d + pd.Timedelta(days=3))]
    tm = time_model(flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "timestamp"])))
    o = case_outcomes(tm, {"Close"})
    assert [(s.steps, s.cases) for s in o.funnel] == [(("Register",), 100)]


def test_funnels_per_process() -> None:
    tm = time_model(_loans())
    steps = {"Decline", "Approve", "Register", "Activate"}
    whole = case_outcomes(tm, steps)
    ids = [str(c) for c in range(60)]
    # one process with every case: its funnel is the log's
    one = case_outcomes(tm, steps, processes=pd.DataFrame({"case_id": ids, "process": "all"}))
    assert one.funnels == {"all": whole.funnel}
    # cases 35-59 (reviewed and offered) apart: their funnel starts at the offer
    two = pd.DataFrame({"case_id": ids, "process": ["early" if c < 35 else "offered" for c in range(60)]})
    o = case_outcomes(tm, steps, processes=two)
    assert [(s.steps, s.cases) for s in o.funnels["offered"]] == [
        (("Offer", "Review"), 25),
        (("Approve / Register / Activate",), 20),
    ]
    assert [(s.steps, s.cases) for s in o.funnels["early"]] == [((), 35), (("Review",), 15)]


def test_board_numbers_leave_instant_answers_out_and_split_waiting() -> None:
    durations = pd.DataFrame({"case_id": list("abcd"), "lead_time_s": [10.0, 20.0, 3600.0, 7200.0]})
    waiting = {
        "reconciliation": {"customer_waiting_s": 90.0, "service_s": 10.0},
        "by_cause_s": {"contention": 20.0, "unavailability": 10.0, "extraneous": 60.0},
    }
    b = board_numbers(durations, waiting=waiting, instant_s=INSTANT_S)
    assert b["instant"] == 2 and b["cases"] == 4
    assert b["lead_median_s"] == pytest.approx(5400.0)
    assert b["waiting_share"] == pytest.approx(0.9)
    assert b["waiting_own_share"] == pytest.approx(0.3) and b["waiting_outside_share"] == pytest.approx(0.6)


def _follow_up(cases: int = 12) -> Finding:
    curve = {str(k): {"cases_reaching": 100 - 10 * k, "ended_favourably": 9 - k} for k in range(1, 9)}
    return Finding(
        kind="excess_follow_up",
        title="'Call' is repeated beyond 3",
        activities=("Call",),
        case_ids=tuple(str(i) for i in range(cases)),
        occurrences=30,
        customer_time_s=cases * 5 * 86400.0,
        customer_time_ci=(cases * 4 * 86400.0, cases * 6 * 86400.0),
        staff_time_s=3600.0,
        evidence="e.",
        scenario=Scenario("limit_repeats", {"activity": "Call", "max": 3}, "stop after 3 'Call'"),
        details={"threshold": 3, "curve": curve, "favourable_exits": ["Approve"]},
    )


def test_a_change_states_its_base_and_what_it_may_cost() -> None:
    from flowlens.findings.api import FindingsReport

    report = FindingsReport([_follow_up()])
    recs = recommendations(report, cases_total=1000, lead_total_s=1e9, step_cases={"Call": 60})
    r = recs[0]
    assert (r.cases, r.eligible, r.eligible_step) == (12, 60, "Call")
    # the cases that reached a favourable exit only after the 4th call or later: 5+4+3+2+1 = 15
    assert "15 cases" in r.trade_off and "'Approve'" in r.trade_off
    html = recommendations_section(
        recs, board_numbers(pd.DataFrame({"case_id": ["1"], "lead_time_s": [3600.0]}))
    ).html
    assert "of 60 that reach Call" in html
    for jargon in ("--", "CI", "bootstrap", "95 %"):
        assert jargon not in html, jargon
    # an upper bound whose waiting the customer holds says that much of it may remain
    wait = pd.DataFrame(
        {"wait_s": [100.0], "extraneous_s": [80.0]}, index=pd.Index(["Call"], name="activity")
    )
    held = recommendations(report, cases_total=1000, lead_total_s=1e9, waiting_by_activity=wait)[0]
    assert "80 % of the waiting here is not explained by the staff's recorded work" in held.trade_off


def test_a_simulated_change_says_why_it_differs_and_is_not_refilled_as_an_upper_bound() -> None:
    from flowlens.findings.api import FindingsReport

    report = FindingsReport([_follow_up()])
    whatif = {
        "baseline": {"lead_time_mean_h": 100.0},
        "scenarios": [
            {
                "name": "cap_calls",
                "saving_mean_h": 0.001,
                "saving_ci95_h": [-0.01, 0.012],
                "significant": False,
                "staff_hours_delta": -1.0,
                "changes": [{"action": "remove", "activity": "Call", "occurrence": 4}],
            }
        ],
    }
    wait = pd.DataFrame(
        {"activity": ["Call", "Review"], "wait_s": [100.0, 50.0], "extraneous_s": [95.0, 0.0]}
    )
    compare = whatif_vs_findings(
        whatif, report, scenario_cases={"cap_calls": 12}, cases_total=1000, waiting_by_activity=wait
    )
    assert compare[0]["finding"] == "Stop after 3 'Call'" and compare[0]["outside_share"] == pytest.approx(
        0.95
    )
    assert compare[0]["today_per_case_s"] == pytest.approx(5 * 86400)
    assert "95 % of the waiting at these steps is not explained" in compare[0]["why"]
    recs = recommendations(
        report, cases_total=1000, whatif=whatif, fidelity={"trusted": True}, compare=compare, lead_total_s=1e9
    )
    # the refuted change is shown once, as tested without a measurable saving, not as "up to 5 d"
    assert [(r.source, r.measurable, r.upper_bound) for r in recs] == [("simulation", False, False)]
    assert recs[0].today_s == pytest.approx(5 * 86400)
    html = recommendations_section(
        recs, board_numbers(pd.DataFrame({"case_id": ["1"], "lead_time_s": [3600.0]}))
    ).html
    assert "Tested, no measurable saving" in html


def test_why_differs_rules() -> None:
    assert why_differs(100.0, 60.0, 0.99).startswith("The simulation confirms")
    assert "not explained by the staff's recorded work" in why_differs(100.0, 1.0, 0.8)
    assert why_differs(100.0, 1.0, 0.2).startswith("Most of today's cost")
    # keeps most of the cost but its interval holds 0: never "confirms" a change that is listed
    # as having no measurable saving
    uncertain = why_differs(100.0, 60.0, 0.99, (-10.0, 130.0))
    assert "too uncertainly to confirm" in uncertain and "confirms" not in uncertain
    assert why_differs(100.0, 60.0, 0.99, (10.0, 110.0)).startswith("The simulation confirms")


def test_driver_ratios_against_instant_answers_are_left_out() -> None:
    from flowlens.analysis.drivers import Drivers, effects
    from flowlens.report.drivers_section import drivers_section

    rng = np.random.default_rng(0)
    u = pd.DataFrame(
        {
            # most cases without rework are answered within seconds (automatic declines)
            "lead_s": np.r_[rng.uniform(10, 50, 60), rng.uniform(1e5, 1e6, 40), rng.uniform(1e5, 3e5, 20)],
            "x": ["none"] * 60 + ["rework"] * 40 + ["none"] * 20,
        }
    )
    table = effects(u, {"x": "x"}, resamples=50)
    corr = pd.DataFrame(columns=["factor", "n", "rho", "rho_low", "rho_high", "noise", "sentence"])
    sec = drivers_section(Drivers(table, corr, 120, 0, 50, 0.95))
    assert "x = rework" in [a["name"] for a in sec.data["left_out_instant"]]
    assert not sec.data["effects"] and "× longer" not in sec.html
    assert "answered within a minute" in sec.html


@pytest.mark.slow
def test_bpic2012_funnel_outcomes_and_the_call_cut_off(shared_logs) -> None:
    """BPIC 2012: 13,087 applications -> 7,367 pre-accepted -> 5,113 accepted -> 5,015 offered
    (A_FINALIZED) -> 2,246 approved; about a quarter declined within a minute."""
    from flowlens.analysis.step_roles import step_roles

    tm = time_model(shared_log("bpic2012"))
    o = case_outcomes(tm, step_roles(tm).outcomes)
    assert [s.cases for s in o.funnel] == [13087, 7367, 5113, 5015, 2246]
    assert "A_APPROVED" in o.funnel[-1].steps[0]
    assert 3000 < o.instant < 3500
    declined = next(x for x in o.outcomes if x.name == "A_DECLINED")
    assert declined.instant == o.instant  # the instant answers are automatic declines
    # the lead time of the others is days, not the hours a median over all cases gives
    assert o.lead_median_s > 5 * 86400


def test_every_template_parses() -> None:
    from pathlib import Path

    from flowlens.report.templating import environment

    env = environment()
    folder = Path(__file__).resolve().parents[1] / "src" / "flowlens" / "report" / "templates"
    for p in sorted(folder.glob("*.j2")):
        env.get_template(p.name)  # raises on a syntax error (a block moved without its end)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_summary_says_how_its_lead_time_differs_from_the_first_pages(lang: str) -> None:
    """The Summary's median is all cases, first to last step; the first page leaves the 20
    instant declines out: the Summary says so (methods 18.2), in the report's language."""
    from flowlens.report.build import ReportOptions, build_report

    report = build_report(_loans(), ReportOptions(resamples=50, lang=lang))
    first = next(s for s in report.sections if s.id == "recommendations")
    summary = next(s for s in report.sections if s.id == "summary")
    assert first.data["board"]["instant"] == 20
    if lang == "en":
        assert "half of all cases take longer than" in summary.lead
        assert "from their first to their last step" in summary.lead
        assert "leave out the 20 cases answered within a minute (methods 18.2)" in summary.lead
    else:
        assert "全部业务中，半数从第一个到最后一个环节超过" in summary.lead
        assert "不含一分钟内答复的 20 笔业务" in summary.lead
