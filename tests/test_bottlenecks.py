"""Bottlenecks, utilisation and WIP (issue 5, item 2): exact figures on small logs built here,
the shared bank-callcenter and LoanApp logs, and the generator's injected AML bottleneck."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import flowlens
from conftest import shared_path
from flowlens.analysis.bottlenecks import (
    bottleneck_report,
    bottlenecks,
    littles_law,
    utilisation,
    utilisation_summary,
    wip_over_time,
)
from flowlens.errors import ConfigError
from flowlens.report.bottlenecks_section import bottlenecks_section
from flowlens.report.charts_time import line_chart
from flowlens.timing.calendars import CalendarSet
from flowlens.timing.model import time_model

H = 3600.0


def make_log(rows: list[tuple], tz: str = "UTC", team: bool = False) -> flowlens.EventLog:
    cols = ["case", "activity", "resource", "start", "end"] + (["team"] if team else [])
    df = pd.DataFrame(rows, columns=cols)
    df["start"] = pd.to_datetime(df["start"])
    df["end"] = pd.to_datetime(df["end"])
    return flowlens.read_log(df, tz=tz)


def total_vs_mean_log() -> flowlens.EventLog:
    # x: 10 cases each waiting 1 h (total 10 h); y: 1 case waiting 5 h (mean 5 h, total 5 h)
    rows = []
    for k in range(10):
        rows += [(f"x{k}", "a", "r1", "2024-01-02 09:00", "2024-01-02 10:00")]
        rows += [(f"x{k}", "x", "r2", "2024-01-02 11:00", "2024-01-02 11:30")]
    rows += [("y", "a", "r1", "2024-01-02 09:00", "2024-01-02 10:00")]
    rows += [("y", "y", "r3", "2024-01-02 15:00", "2024-01-02 15:30")]
    return make_log(rows)


def test_ranked_by_total_waiting_not_by_mean() -> None:
    tm = time_model(total_vs_mean_log())
    t = bottlenecks(tm)
    assert t.activity.tolist() == ["x", "y", "a"]
    assert t["rank"].tolist() == [1, 2, 3]
    x, y, a = (t.iloc[i] for i in range(3))
    assert (x.instances, x.cases, x.waited) == (10, 10, 10)
    assert (x.waiting_total_s, x.waiting_mean_s, x.waiting_median_s, x.waiting_p90_s) == (10 * H, H, H, H)
    assert (y.waiting_total_s, y.waiting_mean_s) == (5 * H, 5 * H)  # longer mean, ranked lower
    assert x.waiting_share == pytest.approx(2 / 3) and y.waiting_share == pytest.approx(1 / 3)
    assert (a.waiting_total_s, a.cases, a.waited) == (0.0, 11, 0)
    assert x.processing_mean_s == 1800.0
    # without a calendar business waiting equals calendar waiting
    assert x.waiting_business_total_s == 10 * H
    res = bottlenecks(tm, level="resource", top=2)
    assert res.resource.tolist() == ["r2", "r3"]
    assert bottlenecks(tm, top=1).activity.tolist() == ["x"]


def test_transitions_are_map_edges_and_waits_are_counted_once() -> None:
    # b and c are concurrent (both orders occur). The customer waits only while nothing is in
    # progress: each gap is charged once, to the step that ends it, and named by the step
    # before it in the map, so every transition exists in the directly-follows graph.
    rows = [
        ("1", "a", "r", "2024-01-02 09:00", "2024-01-02 10:00"),
        ("1", "b", "r", "2024-01-02 11:00", "2024-01-02 12:00"),
        ("1", "c", "s", "2024-01-02 12:30", "2024-01-02 13:00"),
        ("1", "d", "r", "2024-01-02 14:00", "2024-01-02 15:00"),
        ("2", "a", "r", "2024-01-02 09:00", "2024-01-02 10:00"),
        ("2", "c", "s", "2024-01-02 11:00", "2024-01-02 12:00"),
        ("2", "b", "r", "2024-01-02 12:30", "2024-01-02 13:00"),
        ("2", "d", "r", "2024-01-02 14:00", "2024-01-02 15:00"),
    ]
    log = make_log(rows)
    tm = time_model(log)
    assert {("b", "c"), ("c", "b")} <= set(map(tuple, tm.concurrency.values.tolist()))
    t = bottlenecks(tm, level="transition")
    got = {(r.from_activity, r.activity): (r.instances, r.waiting_total_s) for r in t.itertuples()}
    assert got == {
        ("a", "b"): (1, H),
        ("a", "c"): (1, H),
        ("b", "c"): (1, 0.5 * H),
        ("c", "b"): (1, 0.5 * H),
        ("c", "d"): (1, H),
        ("b", "d"): (1, H),
        ("(case start)", "a"): (2, 0.0),
    }
    edges = set(map(tuple, flowlens.directly_follows(log).edges[["source", "target"]].values.tolist()))
    assert {k for k in got if k[0] != "(case start)"} <= edges
    c = tm.cases.to_pandas()
    assert t.waiting_total_s.sum() == c.wait_sum_us.sum() / 1e6 == 5 * H
    assert (c.service_us + c.wait_sum_us == c.lead_us).all()
    assert t.waiting_share.sum() == pytest.approx(1.0)


def test_business_waiting_skips_the_weekend() -> None:
    rows = [
        ("1", "a", "r", "2024-01-05 16:00", "2024-01-05 17:00"),  # Friday
        ("1", "b", "r", "2024-01-08 10:00", "2024-01-08 11:00"),  # Monday
    ]
    cal = CalendarSet.from_dict({"timezone": "UTC", "default": {"preset": "office"}})
    b = bottlenecks(time_model(make_log(rows), calendars=cal)).set_index("activity").loc["b"]
    assert b.waiting_total_s == 65 * H
    assert b.waiting_business_total_s == 1 * H  # Monday 09:00-10:00


def utilisation_log() -> flowlens.EventLog:
    rows = [
        ("1", "a", "r", "2024-01-08 09:00", "2024-01-08 13:00", "T"),  # Monday
        ("2", "a", "r", "2024-01-08 11:00", "2024-01-08 12:00", "T"),  # overlaps: busy once
        ("3", "a", "r", "2024-01-09 16:00", "2024-01-09 18:00", "T"),  # 1 h after hours
        ("4", "a", "r", "2024-01-12 09:00", "2024-01-12 10:00", "T"),  # Friday, last work of r
        ("5", "a", "q", "2024-01-08 09:00", "2024-01-08 17:00", "T"),
        ("6", "a", "q", "2024-01-11 09:00", "2024-01-11 17:00", "T"),  # Thursday, last work of q
    ]
    return make_log(rows, team=True)


OFFICE_WITH_HOLIDAY = {"timezone": "UTC", "holidays": ["2024-01-10"], "default": {"preset": "office"}}


def test_utilisation_within_a_calendar() -> None:
    tm = time_model(utilisation_log(), calendars=CalendarSet.from_dict(OFFICE_WITH_HOLIDAY))
    week = utilisation(tm, level="resource", freq="W").set_index("resource")
    r = week.loc["r"]
    assert (r.busy_s, r.busy_in_calendar_s) == (7 * H, 6 * H)
    # Mon 8 h + Tue 8 h + Wed holiday + Thu 8 h + Fri 09-10 (r's last end): 25 h
    assert r.available_s == 25 * H
    assert r.utilisation == pytest.approx(6 / 25)
    q = week.loc["q"]
    assert (q.busy_in_calendar_s, q.available_s) == (16 * H, 24 * H)
    team = utilisation(tm, level="team", freq="W").iloc[0]
    assert (team.team, team.servers) == ("T", 2)
    assert team.available_s == 49 * H and team.utilisation == pytest.approx(22 / 49)

    day = utilisation(tm, level="resource", freq="D")
    r_days = day[day.resource == "r"]
    assert [p.strftime("%a") for p in r_days.period] == ["Mon", "Tue", "Thu", "Fri"]  # Wed: holiday
    assert [round(float(x), 4) for x in r_days.utilisation] == [0.5, 0.125, 0.0, 1.0]
    # Friday has only 1 h available (r stops at 10:00): too little to call it "at capacity"
    assert r_days.assessed.tolist() == [True, True, True, False]
    assert not r_days.high.any()
    summ = utilisation_summary(day[day.resource == "r"])
    assert summ.peak_utilisation.iloc[0] == 0.5


def test_utilisation_without_a_calendar_is_wall_time_in_the_active_span() -> None:
    tm = time_model(utilisation_log())
    r = utilisation(tm, freq="W").set_index("resource").loc["r"]
    # Monday 09:00 to Friday 10:00
    assert (r.busy_s, r.busy_in_calendar_s, r.available_s) == (7 * H, 7 * H, 97 * H)


@pytest.mark.parametrize("level", ["resource", "team"])
@pytest.mark.parametrize("freq", ["W", "D"])
def test_utilisation_on_other_calendars_equals_the_time_model_built_on_them(level: str, freq: str) -> None:
    # the report's "hours found in the log": measured on other calendars without a second time model
    from flowlens.timing.model import with_calendars

    cals = CalendarSet.from_dict(OFFICE_WITH_HOLIDAY)
    plain = time_model(utilisation_log())
    given = utilisation(plain, level=level, freq=freq, calendars=cals)
    pd.testing.assert_frame_equal(given, utilisation(with_calendars(plain, cals), level=level, freq=freq))
    assert given.busy_in_calendar_s.sum() < given.busy_s.sum()  # the office hours were applied
    other = pd.DataFrame(
        {"resource": ["q"], "start_us": [1704794400 * 10**6], "end_us": [1704816000 * 10**6]}
    )  # q busy Tue 10:00-16:00 outside the log
    with_other = utilisation(plain, level=level, freq=freq, calendars=cals, other_work=other)
    pd.testing.assert_frame_equal(
        with_other, utilisation(with_calendars(plain, cals), level=level, freq=freq, other_work=other)
    )
    assert with_other.busy_s.sum() == given.busy_s.sum() + 6 * H


def test_other_work_outside_the_log_counts_inside_its_calendar() -> None:
    # other work a week after the log's last event: its busy time in office hours is working
    # time, on the time model's calendars as on others (the time model's clock ends with the log)
    cals = CalendarSet.from_dict(OFFICE_WITH_HOLIDAY)
    other = pd.DataFrame(
        {"resource": ["r"], "start_us": [1705395600 * 10**6], "end_us": [1705417200 * 10**6]}
    )  # Tue 2024-01-16 09:00-15:00
    on_tm = utilisation(time_model(utilisation_log(), calendars=cals), other_work=other, freq="W")
    on_given = utilisation(time_model(utilisation_log()), other_work=other, freq="W", calendars=cals)
    pd.testing.assert_frame_equal(on_tm, on_given)
    late = on_tm[(on_tm.resource == "r") & (on_tm.period >= pd.Timestamp("2024-01-15", tz="UTC"))].iloc[0]
    assert (late.busy_s, late.busy_in_calendar_s) == (6 * H, 6 * H)


def wip_log() -> flowlens.EventLog:
    rows = [
        ("c1", "a", "r1", "2024-01-02 08:00", "2024-01-02 09:00"),
        ("c1", "b", "r2", "2024-01-02 11:00", "2024-01-02 12:00"),  # waits 09:00-11:00
        ("c2", "a", "r3", "2024-01-02 09:30", "2024-01-02 10:30"),
        ("c3", "a", "r4", "2024-01-02 10:00", "2024-01-02 11:00"),
    ]
    return make_log(rows)


def test_wip_counts_at_known_instants() -> None:
    tm = time_model(wip_log())
    w = wip_over_time(tm, freq="h")
    assert [t.strftime("%H:%M") for t in w.time] == ["08:00", "09:00", "10:00", "11:00", "12:00"]
    assert w.open_cases.tolist() == [1, 1, 3, 1, 0]  # open at t: first start <= t < last end
    assert w.waiting.tolist() == [0, 1, 1, 0, 0]
    assert w.in_service.tolist() == [1, 0, 2, 1, 0]
    assert w.open_cases_avg.tolist() == [1.0, 1.5, 2.5, 1.0, 0.0]
    assert w.waiting_avg.tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]
    assert w.in_service_avg.tolist() == [1.0, 0.5, 1.5, 1.0, 0.0]
    assert w.arrivals.tolist() == [1, 1, 1, 0, 0]
    by = wip_over_time(tm, freq="h", by="activity").set_index(["activity", "time"])
    at10 = pd.Timestamp("2024-01-02 10:00", tz="UTC")
    assert by.loc[("a", at10), "in_service"] == 2
    assert by.loc[("b", at10), "waiting"] == 1
    little = littles_law(tm, w, freq="h")
    assert little["mean_wip"] == pytest.approx(1.2)  # 3 cases x 2 h mean lead / 5 h
    assert little["lambda_w"] == pytest.approx(1.2)


def test_littles_law_holds_in_a_steady_stream() -> None:
    # one case an hour, each open exactly 3 hours: L = lambda x W = 1/h x 3 h = 3
    start = pd.Timestamp("2024-01-02 00:00")
    rows = [
        (f"c{k:02d}", "a", f"r{k % 5}", start + pd.Timedelta(hours=k), start + pd.Timedelta(hours=k + 3))
        for k in range(48)
    ]
    tm = time_model(make_log(rows))
    w = wip_over_time(tm, freq="h")
    assert set(w.open_cases.iloc[2:48]) == {3}
    assert set(w.open_cases_avg.iloc[2:48]) == {3.0}
    for freq in ("h", "D"):
        little = littles_law(tm, freq=freq)
        assert little["relative_gap"] < 1e-12
        assert little["mean_lead_s"] == 3 * H
    assert littles_law(tm, freq="h")["mean_wip"] == pytest.approx(48 * 3 / 51)  # 51-hour window


def test_daily_wip_follows_local_days_across_dst() -> None:
    # Amsterdam moves clocks forward on 2024-03-31: that day has 23 hours
    rows = [("1", "a", "r", "2024-03-30 12:00", "2024-04-01 12:00")]
    tm = time_model(make_log(rows, tz="Europe/Amsterdam"))
    w = wip_over_time(tm, freq="D")
    assert [(t.day, t.hour) for t in w.time] == [(30, 0), (31, 0), (1, 0)]
    assert w.open_cases.tolist() == [0, 1, 1]
    assert w.open_cases_avg.tolist() == [0.5, 1.0, 0.5]
    little = littles_law(tm, w, freq="D")
    assert little["window_s"] == 71 * H and little["mean_lead_s"] == 47 * H
    assert little["mean_wip"] == pytest.approx(47 / 71)


def test_user_errors_say_how_to_fix_them() -> None:
    tm = time_model(total_vs_mean_log())
    with pytest.raises(ConfigError, match="--team COLUMN"):
        bottlenecks(tm, level="team")
    with pytest.raises(ConfigError, match="choose one of activity, transition"):
        bottlenecks(tm, level="edge")
    with pytest.raises(ConfigError, match="use W"):
        utilisation(tm, freq="M")
    with pytest.raises(ConfigError, match="h \\(hours\\)"):
        wip_over_time(tm, freq="M")


def test_report_sentences_and_dict() -> None:
    rep = bottleneck_report(time_model(total_vs_mean_log()), top=2)
    assert rep.sentences[0] == "Customers wait most before 'x': 10 cases, median 1.0 h, 67 % of all waiting."
    assert rep.sentences[1].startswith("They also wait before 'y': 1 cases")
    assert any(s.startswith("The costliest hand-over is 'a' → 'x'") for s in rep.sentences)
    d = rep.to_dict()
    json.dumps(d)  # plain JSON
    assert [r["activity"] for r in d["levels"]["activity"]] == ["x", "y"]
    assert d["total_waiting_s"] == 15 * H and d["littles_law"]["relative_gap"] < 1e-9
    assert set(d["levels"]) == {"activity", "transition", "resource"}


def test_report_section_escapes_and_matches_data() -> None:
    evil = "<script>alert(1)</script>"
    rows = [
        ("1", "a", "r", "2024-01-02 09:00", "2024-01-02 10:00"),
        ("1", evil, '"><img src=x>', "2024-01-02 11:00", "2024-01-02 11:30"),
    ]
    rep = bottleneck_report(time_model(make_log(rows)))
    s = bottlenecks_section(rep)
    assert "<script" not in s.html and "<img" not in s.html
    assert "&lt;script&gt;" in s.html
    assert s.html.count("<svg") == 2  # waiting bars and WIP over time
    data = dict(s.data)
    # which working hours the section's utilisation used (methods 8.2): none given or found here
    assert data.pop("utilisation_calendars") == rep.calendars
    assert data == rep.to_dict() and s.lead == rep.sentences[0]


def test_line_chart_escapes_and_handles_empty_input() -> None:
    t = pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC")
    svg = line_chart(t, {"a & <b>": [0, 2, 1, 3], "c": [1, 1, 1, 1]}, y_label="<y>", step=True)
    assert "a &amp; &lt;b&gt;" in svg and "&lt;y&gt;" in svg and "<b>" not in svg
    assert svg.count("<polyline") == 2
    assert "no data" in line_chart([], {"a": []})


# --- shared logs ----------------------------------------------------------------------------


def test_loanapp_top_waiting_activity(shared_logs) -> None:
    tm = time_model(flowlens.read_log(shared_path("loanapp-train")))
    t = bottlenecks(tm)
    assert t.activity.iloc[0] == "Cancel application"
    assert t.waiting_share.iloc[0] == pytest.approx(0.3976, abs=1e-3)
    assert t.waiting_total_s.sum() == pytest.approx(tm.overall()["waiting_s"])
    assert (t.waiting_total_s.diff().dropna() <= 0).all()
    # total = frequency x mean decides, not the mean
    pos = dict(zip(t.activity, t["rank"], strict=True))
    mean = dict(zip(t.activity, t.waiting_mean_s, strict=True))
    assert mean["Applicant completes form"] > mean["Appraise property"]
    assert pos["Appraise property"] < pos["Applicant completes form"]
    tr = bottlenecks(tm, level="transition")
    assert tr.label.iloc[0] == "Approve loan offer → Cancel application"
    assert tr.waiting_total_s.sum() == pytest.approx(t.waiting_total_s.sum())


def test_slices_of_cases_give_the_same_ranking(shared_logs, monkeypatch: pytest.MonkeyPatch) -> None:
    import flowlens.timing.model as model

    tm = time_model(flowlens.read_log(shared_path("loanapp-train")))
    whole = {level: bottlenecks(tm, level=level) for level in ("activity", "transition", "resource")}
    # as if the engine had room for a seventh of the log's cases at a time
    monkeypatch.setattr(model, "BYTES_PER_EVENT", tm.log.engine.memory_budget * 7 // tm.log.n_events + 1)
    assert len(model.case_slices(tm.log)) >= 7
    for level, table in whole.items():
        pd.testing.assert_frame_equal(bottlenecks(tm, level=level), table)
    assert whole["activity"].cases.sum() > whole["activity"].cases.max()


def test_callcenter_queue_dominates_waiting(shared_logs) -> None:
    tm = time_model(flowlens.read_log(shared_path("bank-callcenter")))
    t = bottlenecks(tm).set_index("activity")
    assert t.index[0] == "Queue"
    assert t.loc["Queue", "waiting_share"] > 0.99
    assert t.loc["Queue", "instances"] == 26011
    i = tm.instances
    queue = i.filter(i.activity == "Queue").aggregate(w=i.wait_us.sum()).to_pandas().w.iloc[0]
    assert t.loc["Queue", "waiting_total_s"] == queue / 1e6
    tr = bottlenecks(tm, level="transition", top=1)
    assert tr.label.tolist() == ["VRU → Queue"]
    res = bottlenecks(tm, level="resource", top=1)
    assert res.resource.tolist() == ["(no resource)"]  # nobody serves a call while it queues
    w = wip_over_time(tm, freq="h")
    assert littles_law(tm, w, freq="h")["relative_gap"] < 1e-9
    assert w.open_cases.max() > 0 and (w.waiting <= w.open_cases).all()
    u = utilisation(tm, level="resource")
    assert (pd.to_numeric(u.utilisation, errors="coerce").dropna() <= 1 + 1e-9).all()


# --- the generator's injected bottleneck ----------------------------------------------------


@pytest.fixture(scope="module")
def tiny_bank(tmp_path_factory) -> Path:
    from flowlens.synth import generate_bank

    out = tmp_path_factory.mktemp("bank_tiny")
    generate_bank("tiny", seed=1, out_dir=out, remedies="none", formats=("parquet",))
    return out


def test_injected_aml_contention_ranks_near_the_top(tiny_bank: Path) -> None:
    truth = json.loads((tiny_bank / "bottleneck_truth.json").read_text(encoding="utf-8"))["B1"]
    from flowlens.filters import filter_attribute

    log = filter_attribute(flowlens.read_log(tiny_bank / "events.parquet"), "process", [truth["process"]])
    tm = time_model(log)
    teams = bottlenecks(tm, level="team")
    assert tm.team_column is not None
    rank = int(teams.set_index("team").loc[truth["team"], "rank"])
    assert rank <= 5, teams[["team", "rank", "waiting_total_s"]].head(8)
    acts = bottlenecks(tm, level="activity", top=5)
    assert truth["activity"] in acts.activity.tolist()
    # among the bank's own staff (not the system, kiosks or the customer) it is the first
    staff = teams[~teams.team.isin(["system", "kiosk", "customer", "ivr", "bot", "merchant"])]
    assert staff.team.iloc[0] == truth["team"]


# --- command line ---------------------------------------------------------------------------


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowlens", *args], capture_output=True, text=True, check=False
    )


def test_cli_json_text_calendar_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    total_vs_mean_log().to_pandas().rename(
        columns={"case_id": "case_id", "start_time": "start_time", "end_time": "end_time"}
    ).to_csv(path, index=False)
    out = run("bottlenecks", str(path), "--json", "--top", "2")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["level"] == "activity" and data["groups"] == 3
    assert [r["activity"] for r in data["top"]] == ["x", "y"]
    assert data["top"][0]["waiting_total_s"] == 10 * H
    assert data["sentences"][0].startswith("Customers wait most before 'x'")

    cal = tmp_path / "cal.toml"
    cal.write_text('timezone = "UTC"\n[default]\npreset = "office"\n', encoding="utf-8")
    out = run("bottlenecks", str(path), "--level", "resource", "--calendar", str(cal))
    assert out.returncode == 0, out.stderr
    assert "working time" in out.stdout and "util" in out.stdout
    assert out.stdout.splitlines()[2].split()[-1] == "r2"

    out = run("bottlenecks", str(path), "--level", "team")
    assert out.returncode == 2
    assert "--team COLUMN" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_other_work_counts_as_busy_time() -> None:
    """Work outside the log fills the person's day; a resource not in the log adds nothing."""
    from flowlens.analysis.bottlenecks import utilisation

    df = pd.DataFrame(
        {
            "case": ["1", "2"],
            "activity": ["a", "a"],
            "resource": ["r", "r"],
            "start": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 11:00"]),
            "end": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 13:00"]),
        }
    )
    tm = time_model(flowlens.read_log(df))
    us = 3_600_000_000
    nine = int(pd.Timestamp("2024-01-01 09:00", tz="UTC").value // 1000)
    other = pd.DataFrame(
        {"resource": ["r", "nobody"], "start_us": [nine + us, nine], "end_us": [nine + 2 * us, nine + us]}
    )
    alone = utilisation(tm, freq="D")
    both = utilisation(tm, freq="D", other_work=other)
    assert alone[["busy_s", "utilisation"]].values.tolist() == [[10800.0, 0.75]]
    assert both[["resource", "busy_s", "utilisation"]].values.tolist() == [["r", 14400.0, 1.0]]


@pytest.mark.parametrize("level", ["activity", "transition"])
def test_medians_and_p90_are_the_exact_quantiles(level: str) -> None:
    """The median and p90 of waiting and processing (one quantile state per column, in a query
    of its own) are the linearly interpolated quantiles of each group's values."""
    import numpy as np

    from flowlens.analysis.bottlenecks.ranking import _keyed

    tm = time_model(flowlens.read_log(shared_path("sepsis")))
    got = bottlenecks(tm, level=level)
    keys = ["activity"] if level == "activity" else ["from_activity", "activity"]
    inst = _keyed(tm, level).select(*keys, "wait_us", "proc_us").to_pandas()
    for key, g in inst.groupby(keys, sort=True):
        row = got[(got[keys] == pd.Series(key if isinstance(key, tuple) else (key,), index=keys)).all(axis=1)]
        assert len(row) == 1
        for col, name in (("wait_us", "waiting"), ("proc_us", "processing")):
            values = g[col].dropna().to_numpy(np.float64)
            for q, suffix in ((50, "median"), (90, "p90")):
                want = np.percentile(values, q) / 1e6 if len(values) else np.nan
                assert row[f"{name}_{suffix}_s"].iloc[0] == pytest.approx(want, rel=1e-12, nan_ok=True)
