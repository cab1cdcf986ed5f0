"""Deadlines and SLA compliance: exact results on small logs (calendar vs business days, a
holiday inside the window, a DST change, pauses, extensions, open cases), the presets against
domain.md section 4, the bank generator's truth, a shared log, the CLI and the report section."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime

import pandas as pd
import pytest

import flowlens
from conftest import shared_path
from flowlens.analysis.sla import (
    CASE_END,
    Pause,
    SlaRule,
    category_profile,
    custom_rule,
    evaluate_sla,
    get_preset,
    load_rules,
    parse_scope,
    presets,
    sla_analysis,
    time_in_window,
    with_case_attributes,
)
from flowlens.errors import ConfigError
from flowlens.timing.calendars import WorkCalendar
from flowlens.timing.model import time_model

DAY_S = 86_400.0


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(datetime.fromisoformat(text))


def make_log(rows: list[tuple], tz: str = "UTC", extra: dict[str, list] | None = None) -> flowlens.EventLog:
    """rows: (case, activity, timestamp) in the zone ``tz``."""
    df = pd.DataFrame(rows, columns=["case", "activity", "timestamp"])
    for k, v in (extra or {}).items():
        df[k] = v
    return flowlens.read_log(df, tz=tz)


def interval_log(rows: list[tuple], extra: dict[str, list] | None = None) -> flowlens.EventLog:
    """rows: (case, activity, start, end) in UTC."""
    df = pd.DataFrame(rows, columns=["case", "activity", "start", "end"])
    for k, v in (extra or {}).items():
        df[k] = v
    return flowlens.read_log(df)


def by_case(res) -> pd.DataFrame:
    return res.frame().set_index("case_id")


# -- calendar vs business days ---------------------------------------------------------------

RECEIPT_FRI = [
    ("a", "Receive", "2024-03-01 10:00"),  # a Friday
    ("a", "Final Response", "2024-03-16 23:59"),  # Saturday, last minute of day 15
    ("b", "Receive", "2024-03-01 10:00"),
    ("b", "Final Response", "2024-03-17 00:00:01"),
]


def test_calendar_days_end_at_the_end_of_the_nth_day_after_receipt() -> None:
    log = make_log(RECEIPT_FRI, tz="Asia/Shanghai")
    res = by_case(evaluate_sla(log, get_preset("CN_NFRA_2020")))
    assert res.status.to_dict() == {"a": "met", "b": "breached"}
    assert str(res.deadline["a"]) == "2024-03-17 00:00:00+08:00"
    assert res.elapsed["a"] == pytest.approx((16 * 24 - 10 - 1 / 60) / 24)
    assert res.margin["b"] == pytest.approx(-1 / DAY_S)


def test_business_days_skip_weekends_and_count_the_receipt_day_as_a_parameter() -> None:
    log = make_log(RECEIPT_FRI, tz="Asia/Shanghai")
    rule = custom_rule(
        start="Receive", stop="Final Response", days=15, business=True, timezone="Asia/Shanghai"
    )
    res = evaluate_sla(log, rule)
    f = by_case(res)
    # working days after Fri 1 Mar: 4-8, 11-15, 18-22 -> the 15th ends on Fri 22 Mar
    assert str(f.deadline["a"]) == "2024-03-23 00:00:00+08:00"
    assert f.status.to_dict() == {"a": "met", "b": "met"}
    # Saturday 16 Mar: 10 working days + 14/24 of Friday elapsed, Mon-Fri 18-22 to spare
    assert f.elapsed["a"] == pytest.approx(10 + 14 / 24)
    assert f.margin["a"] == pytest.approx(5.0)
    assert res.summary()["notes"] == [
        "business days are Monday-Friday without holidays (pass a calendar or a country for holidays)"
    ]
    incl = by_case(evaluate_sla(log, replace(rule, day_count="including_receipt")))
    assert str(incl.deadline["a"]) == "2024-03-22 00:00:00+08:00"
    same = by_case(evaluate_sla(log, replace(rule, deadline_at="same_time")))
    assert str(same.deadline["a"]) == "2024-03-22 10:00:00+08:00"
    cal_incl = by_case(evaluate_sla(log, replace(get_preset("CN_NFRA_2020"), day_count="including_receipt")))
    assert str(cal_incl.deadline["a"]) == "2024-03-16 00:00:00+08:00"


def test_receipt_cutoff_moves_late_and_weekend_receipts_to_the_next_working_day() -> None:
    rows = [
        ("late", "Receive", "2024-03-01 18:00"),
        ("late", "Final Response", "2024-03-02 09:00"),
        ("sat", "Receive", "2024-03-02 10:00"),
        ("sat", "Final Response", "2024-03-04 09:00"),
    ]
    log = make_log(rows, tz="Asia/Shanghai")
    rule = custom_rule(
        start="Receive", stop="Final Response", days=15, business=True, timezone="Asia/Shanghai"
    )
    plain = by_case(evaluate_sla(log, rule))
    cut = by_case(evaluate_sla(log, replace(rule, receipt_cutoff="17:00")))
    assert str(plain.deadline["late"]) == "2024-03-23 00:00:00+08:00"
    # treated as received Mon 4 Mar: 15 working days after it end on Mon 25 Mar
    assert str(cut.deadline["late"]) == "2024-03-26 00:00:00+08:00"
    # a Saturday receipt: without the cutoff Mon 4 is day 1 (deadline Fri 22); with it, Mon 4 is day 0
    assert str(plain.deadline["sat"]) == "2024-03-23 00:00:00+08:00"
    assert str(cut.deadline["sat"]) == "2024-03-26 00:00:00+08:00"


# -- a holiday inside the window ----------------------------------------------------------------


def test_business_days_respect_chinese_holidays_and_working_weekends() -> None:
    rows = [("c", "Receive", "2024-09-27 10:00"), ("c", "Send Final Response", "2024-10-23 16:00")]
    log = make_log(rows, tz="Asia/Shanghai")
    rule = get_preset("CN_CBRC_2012")  # 15 working days, Chinese holidays by default
    f = by_case(evaluate_sla(log, rule))
    # Sun 29 Sep and Sat 12 Oct are worked (调休), 1-7 Oct are National Day: the 15th working
    # day after Fri 27 Sep is Wed 23 Oct
    assert str(f.deadline["c"]) == "2024-10-24 00:00:00+08:00"
    assert f.status["c"] == "met"
    assert f.margin["c"] == pytest.approx(8 / 24)
    weekdays = by_case(evaluate_sla(log, replace(rule, holiday_country=None)))
    assert str(weekdays.deadline["c"]) == "2024-10-19 00:00:00+08:00"
    assert weekdays.status["c"] == "breached"


def test_roll_forward_moves_a_last_day_on_a_holiday_to_the_next_working_day() -> None:
    rows = [("h", "Receive", "2024-09-16 10:00"), ("h", "Send Final Response", "2024-10-05 10:00")]
    log = make_log(rows, tz="Asia/Shanghai")
    plain = by_case(evaluate_sla(log, get_preset("CN_NFRA_2020")))
    assert str(plain.deadline["h"]) == "2024-10-02 00:00:00+08:00"  # day 15 is 1 Oct, National Day
    assert plain.status["h"] == "breached"
    rolled = replace(get_preset("CN_NFRA_2020"), roll_forward=True)
    f = by_case(evaluate_sla(log, rolled))
    assert str(f.deadline["h"]) == "2024-10-09 00:00:00+08:00"  # 1-7 Oct off: Tue 8 Oct
    assert f.status["h"] == "met"


def test_business_day_arithmetic_agrees_with_the_generators_day_calendar() -> None:
    from flowlens.synth.calendars import DAY, DayCalendar

    dc = DayCalendar(date(2024, 9, 2), 120)
    rule = replace(get_preset("CN_CBRC_2012"), deadline_at="same_time", extensions=())
    rows = []
    starts = []
    for i in range(0, 60, 3):  # receipts every third day at 10:00 + i hours mod 14
        day = date(2024, 9, 2 + i) if i < 29 else date(2024, 10, i - 28)
        hh = 8 + i % 14
        rows += [
            (f"k{i}", "Receive", f"{day} {hh:02d}:00"),
            (f"k{i}", "Send Final Response", f"{day} {hh:02d}:30"),
        ]
        starts.append(((day - date(2024, 9, 2)).days * DAY + hh * 3600.0, f"k{i}"))
    f = by_case(evaluate_sla(make_log(rows, tz="Asia/Shanghai"), rule))
    for t0, case in starts:
        expected = pd.Timestamp("2024-09-02", tz="Asia/Shanghai") + pd.Timedelta(
            seconds=dc.add_business_days(t0, 15)
        )
        assert f.deadline[case] == expected, case


# -- a DST change -----------------------------------------------------------------------------------


def test_deadlines_across_a_dst_change_end_at_local_midnight() -> None:
    rows = [
        ("m", "Receive", "2024-03-20 10:00"),
        ("m", "Final Response", "2024-05-15 23:30"),
        ("n", "Receive", "2024-03-20 10:00"),
        ("n", "Final Response", "2024-05-16 00:30"),
    ]
    log = make_log(rows, tz="Europe/London")
    f = by_case(evaluate_sla(log, get_preset("UK_DISP")))
    # 8 weeks after Wed 20 Mar end at the end of Wed 15 May, local (BST): 23:00 UTC
    assert f.deadline["m"].tz_convert("UTC") == ts("2024-05-15T23:00:00+00:00")
    assert f.status.to_dict() == {"m": "met", "n": "breached"}
    same = by_case(evaluate_sla(log, replace(get_preset("UK_DISP"), deadline_at="same_time")))
    assert str(same.deadline["m"]) == "2024-05-15 10:00:00+01:00"  # same local clock time, not 10:00 UTC
    # calendar time is real time: the night of the change is 23 hours long
    short = make_log(
        [("x", "Receive", "2024-03-30 12:00"), ("x", "Final Response", "2024-03-31 12:00")], "Europe/London"
    )
    assert by_case(evaluate_sla(short, get_preset("UK_DISP"))).elapsed["x"] == pytest.approx(23 / 24)


def test_business_days_across_dst_and_english_bank_holidays() -> None:
    rows = [("p", "Receive", "2024-03-20 10:00"), ("p", "Send Final Response", "2024-04-12 12:00")]
    f = by_case(evaluate_sla(make_log(rows, tz="Europe/London"), get_preset("UK_DISP_PSD")))
    # Good Friday 29 Mar and Easter Monday 1 Apr are off in England: the 15th business day is 12 Apr
    assert str(f.deadline["p"]) == "2024-04-13 00:00:00+01:00"
    assert f.margin["p"] == pytest.approx(0.5)
    assert f.status["p"] == "met"


# -- pauses -------------------------------------------------------------------------------------------


def test_pauses_stop_the_clock_in_calendar_time() -> None:
    rows = [
        ("q", "Receive", "2024-03-01 10:00"),
        ("q", "Request Information", "2024-03-02 10:00"),
        ("q", "Request Information", "2024-03-03 10:00"),  # overlaps the first request: merged
        ("q", "Customer Provides Information", "2024-03-05 10:00"),
        ("q", "Final Response", "2024-03-13 10:00"),
        ("r", "Receive", "2024-03-01 10:00"),
        ("r", "Request Information", "2024-03-08 10:00"),  # never answered: paused until the stop
        ("r", "Final Response", "2024-03-09 10:00"),
    ]
    rule = custom_rule(
        start="Receive",
        stop="Final Response",
        days=10,
        pauses=(Pause(("Request Information",), ("Customer Provides Information",)),),
    )
    res = evaluate_sla(make_log(rows), rule)
    f = by_case(res)
    assert f.paused_us.to_dict() == {"q": 3 * 86_400_000_000, "r": 86_400_000_000}
    assert str(f.deadline_base["q"]) == "2024-03-15 00:00:00+00:00"  # end of 11 Mar + 3 days
    assert f.status["q"] == "met"
    assert f.elapsed["q"] == pytest.approx(12 - 3)
    assert res.summary()["paused_cases"] == 2
    unpaused = by_case(evaluate_sla(make_log(rows), replace(rule, pauses=())))
    assert unpaused.status["q"] == "breached"


def test_pauses_in_business_days_move_the_deadline_by_working_time() -> None:
    rows = [
        ("s", "Receive", "2024-03-01 10:00"),
        ("s", "Request Information", "2024-03-08 12:00"),  # Friday noon
        ("s", "Customer Provides Information", "2024-03-11 12:00"),  # Monday noon: 1 working day
        ("s", "Final Response", "2024-03-18 12:00"),
    ]
    rule = custom_rule(
        start="Receive",
        stop="Final Response",
        days=10,
        business=True,
        pauses=(Pause(("Request Information",), ("Customer Provides Information",)),),
    )
    f = by_case(evaluate_sla(make_log(rows), rule))
    # without the pause: end of Fri 15 Mar; the pause takes one working day: end of Mon 18 Mar
    assert str(f.deadline["s"]) == "2024-03-19 00:00:00+00:00"
    assert f.status["s"] == "met"
    assert f.margin["s"] == pytest.approx(0.5)
    assert f.elapsed["s"] == pytest.approx(14 / 24 + 10 + 0.5 - 1)


# -- extensions -----------------------------------------------------------------------------------------


def test_extension_tiers_apply_only_when_timely() -> None:
    def case(cid: str, holding: str | None, final: str, second: str | None = None) -> list[tuple]:
        out = [(cid, "Receive", "2024-04-01 10:00")]
        if holding:
            out.append((cid, "Send Holding Response", holding))
        if second:
            out.append((cid, "Second Extension", second))
        return [*out, (cid, "Send Final Response", final)]

    rows = (
        case("ext", "2024-04-14 10:00", "2024-04-26 10:00")  # holding on day 13, answer on day 25
        + case("late_holding", "2024-04-17 10:00", "2024-04-20 10:00")  # holding after the base deadline
        + case("early", "2024-04-10 10:00", "2024-04-12 10:00")  # extension not needed
        + case("tier2", "2024-04-10 10:00", "2024-05-21 10:00", second="2024-04-29 10:00")
        + case("too_long", "2024-04-10 10:00", "2024-05-05 10:00")
        + case("flag", None, "2024-04-25 10:00")
    )
    flags = ["yes" if r[0] == "flag" else "" for r in rows]
    log = make_log(rows, tz="Asia/Shanghai", extra={"complex": flags})
    f = by_case(evaluate_sla(log, get_preset("CN_NFRA_2020")))
    assert f.status.to_dict() == {
        "early": "met",
        "ext": "extended",
        "flag": "extended",
        "late_holding": "breached",
        "tier2": "extended",
        "too_long": "breached",
    }
    assert str(f.deadline["ext"]) == "2024-05-02 00:00:00+08:00"  # end of day 30 after 1 Apr
    assert str(f.deadline["tier2"]) == "2024-06-01 00:00:00+08:00"  # end of day 60
    assert f.extension.fillna("none").to_dict() == {
        "early": "complex",
        "ext": "complex",
        "flag": "complex",
        "late_holding": "none",
        "tier2": "especially complex",
        "too_long": "complex",
    }
    assert f.deadline_base.astype(str).nunique() == 1


def test_extension_with_its_own_unit_reg_e() -> None:
    rows = [
        ("e", "Receive", "2024-06-03 10:00"),
        ("e", "Provisional Credit", "2024-06-10 10:00"),
        ("e", "Notify Customer", "2024-07-17 10:00"),
    ]
    f = by_case(evaluate_sla(make_log(rows, tz="America/New_York"), get_preset("US_REG_E")))
    # 10 business days after Mon 3 Jun (Juneteenth on 19 Jun is outside): end of Mon 17 Jun;
    # provisional credit within them: 45 calendar days, end of Thu 18 Jul
    assert str(f.deadline_base["e"]) == "2024-06-18 00:00:00-04:00"
    assert str(f.deadline["e"]) == "2024-07-19 00:00:00-04:00"
    assert f.status["e"] == "extended"


# -- open cases --------------------------------------------------------------------------------------------


def test_open_cases_have_a_time_to_breach_at_the_end_of_the_log() -> None:
    rows = [
        ("o", "Receive", "2024-03-01 10:00"),
        ("o", "Investigate", "2024-03-02 10:00"),
        ("old", "Receive", "2024-02-01 10:00"),
        ("old", "Investigate", "2024-02-20 10:00"),
        ("done", "Receive", "2024-03-01 10:00"),
        ("done", "Final Response", "2024-03-05 12:00"),
    ]
    rule = custom_rule(start="Receive", stop="Final Response", days=10)
    res = evaluate_sla(make_log(rows), rule)
    f = by_case(res)
    assert f.status.to_dict() == {"done": "met", "o": "open", "old": "breached"}
    assert f.stopped.to_dict() == {"done": True, "o": False, "old": False}
    # as of the last event (5 Mar 12:00) the open case has until the end of 11 Mar
    assert f.margin_us["o"] == pytest.approx((6 * 24 + 12) * 3_600_000_000)
    s = res.summary()
    assert s["counts"] == {"met": 1, "extended": 0, "breached": 1, "open": 1}
    assert s["breached_while_open"] == 1
    assert s["next_breach_s"] == pytest.approx(6.5 * DAY_S)
    later = by_case(evaluate_sla(make_log(rows), rule, as_of="2024-03-12 00:00:01"))
    assert later.status["o"] == "breached"


def test_hours_and_case_end_match_case_durations_on_a_shared_log(shared_logs) -> None:
    log = flowlens.read_log(shared_path("helpdesk"))
    rule = custom_rule(stop=CASE_END, hours=24 * 30)
    res = evaluate_sla(log, rule)
    f = res.frame().set_index("case_id")
    lead = flowlens.case_durations(log).set_index("case_id").lead_time_s
    assert len(f) == log.n_cases == len(lead)
    expected = (lead <= 30 * DAY_S).map({True: "met", False: "breached"})
    pd.testing.assert_series_equal(f.status.sort_index(), expected.sort_index(), check_names=False)
    assert (f.elapsed * 3600).sort_index().to_numpy() == pytest.approx(lead.sort_index().to_numpy())


def test_categories_and_time_in_window_on_a_shared_log(shared_logs) -> None:
    log = flowlens.read_log(shared_path("helpdesk"))
    rule = custom_rule(stop="Resolve ticket", days=20, business=True, holiday_country="IT")
    tm = time_model(log)
    a = sla_analysis(log, rule, tm=tm, category="support_section", period="month")
    s = a.result.summary()
    assert sum(s["counts"].values()) == s["cases"] == log.n_cases
    cats = a.categories
    assert cats is not None and cats.table.cases.sum() == log.n_cases
    assert cats.table.breached.sum() == s["counts"]["breached"]
    assert cats.table.share.sum() == pytest.approx(1.0)
    assert list(cats.table.cases) == sorted(cats.table.cases, reverse=True)
    ti = a.time_in
    assert ti is not None and ti.starts_estimated == tm.starts_estimated
    for _, g in ti.activities.groupby("group"):
        assert g.share.sum() == pytest.approx(1.0)
    assert "breached" in a.lead() and "mostly in" in a.lead()


# -- presets against domain.md section 4 ---------------------------------------------------------------

EXPECTED = {
    # name: (base, unit, [(extension days, unit)], verify)
    "CN_NFRA_2020": (15, "calendar_days", [(30, "calendar_days"), (60, "calendar_days")], False),
    "CN_CBRC_2012": (15, "business_days", [(60, "business_days")], False),
    "UK_DISP": (56, "calendar_days", [], False),
    "UK_DISP_PSD": (15, "business_days", [(35, "business_days")], False),
    "EU_PSD2": (15, "business_days", [(35, "business_days")], False),
    "AU_RG271": (30, "calendar_days", [], False),
    "AU_RG271_ACK": (1, "business_days", [], False),
    "US_CFPB": (15, "calendar_days", [(60, "calendar_days")], False),
    "US_REG_E": (10, "business_days", [(45, "calendar_days")], True),
    "US_REG_E_EXTENDED": (20, "business_days", [(90, "calendar_days")], True),
}


def test_presets_match_domain_md() -> None:
    table = presets()
    assert set(table) == set(EXPECTED)
    for name, (base, unit, exts, verify) in EXPECTED.items():
        r = table[name]
        assert (r.base, r.unit, r.verify) == (base, unit, verify), name
        assert [(e.days, e.unit or r.unit) for e in r.extensions] == exts, name
        assert r.source.startswith("domain.md ["), name
        assert ("[verify]" in r.description) == verify, name
    assert table["CN_NFRA_2020"].timezone == "Asia/Shanghai"
    assert table["UK_DISP_PSD"].holiday_country == "GB-ENG"
    assert get_preset("cn_cbirc_2020") is table["CN_NFRA_2020"]  # the generator's name
    with pytest.raises(ConfigError, match=r"unknown SLA preset 'XX'.*CN_NFRA_2020"):
        get_preset("XX")


def test_rule_files_and_validation(tmp_path) -> None:
    p = tmp_path / "rules.toml"
    p.write_text(
        'name = "internal"\npreset = "EU_PSD2"\nbase = 10\ncountry = "DE"\ndeadline_at = "same_time"\n'
        '[[pauses]]\nstart = "Request Information"\nstop = ["Customer Provides Information"]\n',
        encoding="utf-8",
    )
    (rule,) = load_rules(p)
    assert (rule.name, rule.base, rule.unit, rule.holiday_country, rule.deadline_at) == (
        "internal",
        10,
        "business_days",
        "DE",
        "same_time",
    )
    assert rule.extensions == get_preset("EU_PSD2").extensions
    assert rule.pauses == (Pause(("Request Information",), ("Customer Provides Information",)),)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "days": 5, "colour": "red"}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown keys \['colour'\]"):
        load_rules(bad)
    with pytest.raises(ConfigError, match=r"whole number"):
        SlaRule(name="x", base=1.5)
    with pytest.raises(ConfigError, match=r"days.*hours"):
        custom_rule(days=3, hours=4)
    log = make_log(RECEIPT_FRI)
    with pytest.raises(
        ConfigError, match=r"\['Final Reply'\] do not occur.*activities in the log: Final Response"
    ):
        evaluate_sla(log, custom_rule(stop="Final Reply", days=3))
    with pytest.raises(ConfigError, match=r"did you mean 'Final Response'"):
        evaluate_sla(log, custom_rule(stop="final_response", days=3))
    only_receive = make_log([("z", "Receive", "2024-03-01 10:00")])
    with pytest.raises(ConfigError, match=r"none of the clock stop activities.*--clock-stop"):
        evaluate_sla(only_receive, get_preset("UK_DISP"))


def test_time_in_window_uses_the_deadline_window_and_cause_tables() -> None:
    rows = [
        ("1", "Receive", "2024-03-01 10:00", "2024-03-01 10:00"),
        ("1", "Department Input", "2024-03-20 09:00", "2024-03-20 10:00"),
        ("1", "Final Response", "2024-03-21 10:00", "2024-03-21 10:00"),
        ("1", "Callback", "2024-03-30 10:00", "2024-03-30 10:05"),
        ("2", "Receive", "2024-03-01 10:00", "2024-03-01 10:00"),
        ("2", "Final Response", "2024-03-03 10:00", "2024-03-03 10:00"),
    ]
    log = interval_log(rows)
    res = evaluate_sla(log, custom_rule(start="Receive", stop="Final Response", days=10))
    tm = time_model(log)
    assert not tm.starts_estimated
    causes = tm.instances.select("eid", extraneous_us=tm.instances.wait_us.fill_null(0), contention_us=0)
    ti = time_in_window(res, tm, causes=causes)
    b = ti.activities[ti.activities.group == "breached"].set_index("activity")
    assert "Callback" not in b.index  # after the clock stop
    assert b.wait_s["Department Input"] == pytest.approx(19 * DAY_S - 3600)
    assert b.time_s["Department Input"] == pytest.approx(19 * DAY_S)
    assert b.share["Department Input"] == pytest.approx(19 / 20)
    assert ti.top("breached")["activity"] == "Department Input"
    cz = ti.causes.set_index(["group", "cause"])
    assert cz.share["breached", "extraneous"] == pytest.approx(1.0)
    assert cz.wait_s["breached", "extraneous"] == pytest.approx(20 * DAY_S - 3600)


def test_category_profile_counts_trend_and_partial_periods() -> None:
    rows, cats = [], []
    for week in range(6):  # Mondays from 1 Jan 2024; "card" grows by one case a week
        for i in range(2 + week):
            d = pd.Timestamp("2024-01-01 10:00") + pd.Timedelta(days=7 * week + i % 5)
            rows += [
                (f"c{week}-{i}", "Receive", str(d)),
                (f"c{week}-{i}", "Final Response", str(d + pd.Timedelta(days=1))),
            ]
            cats += ["card", "card"]
        rows += [
            (f"l{week}", "Receive", f"2024-01-0{1 + week % 5} 11:00"),
            (f"l{week}", "Final Response", "2024-02-20 11:00"),
        ]
        cats += ["loan", "loan"]
    log = make_log(rows, extra={"complaint_category": cats})
    res = evaluate_sla(log, custom_rule(start="Receive", stop="Final Response", days=15))
    cp = category_profile(res)
    assert cp is not None and cp.column == "complaint_category" and cp.period == "week"
    t = cp.table.set_index("category")
    assert t.cases.to_dict() == {"card": 27, "loan": 6}
    assert t.breach_rate["loan"] > 0 and t.breached["card"] == 0
    assert t.lead_median_s["card"] == pytest.approx(DAY_S)
    assert t.trend["card"] == "rising" and t.trend["loan"] == "–"  # too few loan cases for a trend
    assert cp.partial_periods == ["2024-02-05"]  # the last week ends on a Friday
    # stragglers after the window (run-out) are no trend: two single cases in later weeks
    tail = [("t1", "Receive", "2024-02-12 10:00"), ("t1", "Final Response", "2024-02-13 10:00"),
            ("t2", "Receive", "2024-02-25 10:00"), ("t2", "Final Response", "2024-02-26 10:00")]  # fmt: skip
    log2 = make_log(rows + tail, extra={"complaint_category": cats + ["card"] * 4})
    cp2 = category_profile(evaluate_sla(log2, custom_rule(start="Receive", stop="Final Response", days=15)))
    assert cp2 is not None
    assert cp2.partial_periods == [] and cp2.edge_periods == ["2024-02-12", "2024-02-19"]
    assert cp2.table.set_index("category").trend["card"] == "rising"


# -- the bank generator's truth --------------------------------------------------------------------------

GEN_PRESETS = ["CN_CBIRC_2020", "UK_DISP", "UK_DISP_PSD", "AU_RG271", "US_CFPB"]


def _generated(tmp_path_factory, preset: str, size: str = "tiny") -> tuple[flowlens.EventLog, pd.DataFrame]:
    synth = pytest.importorskip("flowlens.synth.bank", reason="the bank generator is not available")
    out = tmp_path_factory.mktemp(f"bank_{size}_{preset}")
    synth.generate_bank(size, seed=3, out_dir=out, remedies="none", formats="parquet", sla=preset, jobs=1)
    cases = pd.read_parquet(out / "cases.parquet")
    events = pd.read_parquet(out / "events.parquet")
    log = flowlens.read_log(events[events.process == "complaint"], tz="Asia/Shanghai")
    return with_case_attributes(log, cases), cases[cases.process == "complaint"].set_index("case_id")


def _generator_rule(preset: str) -> SlaRule:
    """The generator's convention: the clock starts at the arrival (cases.opened_ts, which
    can precede the first logged event when intake was closed) and a deadline ends at the clock
    time of arrival; business days on the Chinese calendar."""
    cal = WorkCalendar.preset("office", timezone="Asia/Shanghai", country="CN", years=[2024, 2025])
    return replace(get_preset(preset), received="opened_ts", deadline_at="same_time").with_calendar(cal)


def _check_against_truth(log: flowlens.EventLog, truth: pd.DataFrame, preset: str) -> pd.DataFrame:
    res = evaluate_sla(log, _generator_rule(preset))
    f = by_case(res)
    assert set(f.index) == set(truth.index)
    truth = truth.loc[f.index]
    met = f.status.isin(["met", "extended"])
    assert (met == truth.sla_met.astype(bool)).all(), f[met != truth.sla_met.astype(bool)]
    assert int((~met).sum()) == int((~truth.sla_met.astype(bool)).sum())
    # deadlines: identical to the millisecond (the generator writes milliseconds), except where
    # a holding response went out after a reopened case's first final response: the generator
    # then records the extended deadline although sla_met was decided on the base one
    mine = f.deadline.dt.tz_convert("UTC").dt.floor("ms")
    differ = set(f.index[mine != truth.sla_deadline_ts.dt.tz_convert("UTC")])
    t = log.table
    holding = t.filter(t.activity == "Send Holding Response").select("case_id", "end_us").to_pandas()
    stop_us = (f.clock_stop.dt.tz_convert("UTC") - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)
    late = {c for c, e in zip(holding.case_id, holding.end_us, strict=True) if e > stop_us.get(c, e)}
    assert differ <= late, sorted(differ - late)
    assert res.summary()["received_from_column"] == len(f)
    # the one defined difference: flowlens's default clock starts at the first logged event and
    # a deadline ends at midnight, so its deadlines are never earlier and its breaches a subset
    cal = _generator_rule(preset).calendar
    assert cal is not None
    default = by_case(evaluate_sla(log, get_preset(preset).with_calendar(cal)))
    assert (default.deadline_base >= f.deadline_base).all()
    assert set(default.index[default.status == "breached"]) <= set(f.index[f.status == "breached"])
    return f


@pytest.mark.parametrize("preset", GEN_PRESETS)
def test_generator_tiny_breaches_equal_truth(tmp_path_factory, preset: str) -> None:
    log, truth = _generated(tmp_path_factory, preset)
    assert len(truth) > 10
    _check_against_truth(log, truth, preset)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["CN_CBIRC_2020", "US_CFPB"])
def test_generator_demo_breaches_and_extensions_equal_truth(tmp_path_factory, preset: str) -> None:
    log, truth = _generated(tmp_path_factory, preset, size="demo")
    f = _check_against_truth(log, truth, preset)
    assert (f.status == "extended").sum() > 10  # holding responses extend the deadline
    assert (f.status == "breached").sum() == (~truth.sla_met.astype(bool)).sum()


# -- CLI and report --------------------------------------------------------------------------------------------


def _no_nan(token: str) -> None:
    raise AssertionError(f"{token} in JSON output")


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    from flowlens.cli import main

    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_lists_presets_and_evaluates(tmp_path, capsys) -> None:
    code, out, _ = run_cli(capsys, "sla", "--list-presets", "--json")
    assert code == 0
    names = {p["name"] for p in json.loads(out)["presets"]}
    assert names == set(EXPECTED)
    code, out, _ = run_cli(capsys, "sla", "--list-presets")
    assert code == 0 and "CN_NFRA_2020" in out and "[verify]" in out and "domain.md [57]" in out
    csv = tmp_path / "complaints.csv"
    rows = [*RECEIPT_FRI, ("a", "Callback", "2024-03-20 10:00")]
    pd.DataFrame(rows, columns=["case", "activity", "timestamp"]).assign(category="card").to_csv(
        csv, index=False
    )
    code, out, err = run_cli(
        capsys,
        "sla",
        str(csv),
        "--tz",
        "Asia/Shanghai",
        "--preset",
        "CN_NFRA_2020",
        "--clock-start",
        "Receive",
        "--clock-stop",
        "Final Response",
        "--days",
        "15",
        "--business",
        "--json",
        "--cases-csv",
        str(tmp_path / "cases.csv"),
    )
    assert code == 0, err
    data = json.loads(out, parse_constant=_no_nan)  # strict JSON: no NaN
    assert [r["rule"]["name"] for r in data["rules"]] == ["CN_NFRA_2020", "custom"]
    assert data["rules"][0]["summary"]["counts"] == {"met": 1, "extended": 0, "breached": 1, "open": 0}
    assert data["rules"][1]["summary"]["counts"]["met"] == 2
    assert data["rules"][0]["categories"]["table"][0]["category"] == "card"
    assert data["rules"][0]["lead"].startswith(
        "Of 2 cases, 50.0 % met their deadline (50.0 % within 15 days)"
    )
    written = pd.read_csv(tmp_path / "cases.csv")
    assert list(written.status) == ["met", "breached"]
    code, out, _ = run_cli(capsys, "sla", str(csv), "--preset", "UK_DISP")
    assert code == 0 and "UK_DISP: 8 weeks" in out and "2 cases: 2 met" in out


def test_cli_errors_are_one_line(tmp_path, capsys) -> None:
    csv = tmp_path / "c.csv"
    pd.DataFrame(RECEIPT_FRI, columns=["case", "activity", "timestamp"]).to_csv(csv, index=False)
    code, _, err = run_cli(capsys, "sla", str(csv), "--preset", "NOPE")
    assert code == 2 and err.count("\n") == 1 and "unknown SLA preset 'NOPE'" in err
    code, _, err = run_cli(capsys, "sla", str(csv), "--clock-stop", "Answer", "--days", "3")
    assert code == 2 and "['Answer'] do not occur in the log" in err
    code, _, err = run_cli(capsys, "sla", str(csv))
    assert code == 2 and "--preset NAME" in err


def test_report_section_lead_histogram_and_tables() -> None:
    from flowlens.report.sla_section import sla_section

    rows = [
        ("b1", "Receive", "2024-03-01 10:00", "2024-03-01 10:00"),
        ("b1", "Department Input", "2024-03-20 09:00", "2024-03-20 10:00"),
        ("b1", "Final Response", "2024-03-21 10:00", "2024-03-21 10:00"),
        ("ok", "Receive", "2024-03-01 10:00", "2024-03-01 10:00"),
        ("ok", "Final Response", "2024-03-02 10:00", "2024-03-02 10:00"),
        ("op", "Receive", "2024-03-20 10:00", "2024-03-20 10:00"),
    ]
    log = interval_log(rows, extra={"complaint_category": ["fees"] * 3 + ["card"] * 3})
    tm = time_model(log)
    a = sla_analysis(log, custom_rule(start="Receive", stop="Final Response", days=15), tm=tm)
    cfpb = replace(get_preset("US_CFPB"), clock_stop=("Final Response",), candidates=False)
    s = sla_section([a, sla_analysis(log, cfpb, tm=tm, category=None)])
    assert s.id == "sla"
    # the open case (received 20 Mar) has until the end of 4 Apr, seen from 21 Mar 10:00
    assert s.lead == (
        "Of the 2 of 3 cases whose outcome is known, 50.0 % met their deadline (50.0 % within 15 days); "
        "50.0 % breached, mostly in Department Input (95 % of breached cases' time, mostly waiting); "
        "1 still open within their deadline (the next deadline in 14.6 d) (custom)."
    )
    assert "<svg" in s.html and "Department Input" in s.html and "fees" in s.html and "US_CFPB" in s.html
    assert s.data["rules"][0]["summary"]["counts"] == {"met": 1, "extended": 0, "breached": 1, "open": 1}
    assert sum(s.data["margin_histogram"]["counts"]) == 2


@pytest.mark.spark
@pytest.mark.slow  # Spark in local mode takes minutes on a loaded 2-core machine
def test_same_results_on_spark() -> None:
    rows = [
        ("s", "Receive", "2024-03-01 10:00"),
        ("s", "Request Information", "2024-03-08 12:00"),
        ("s", "Customer Provides Information", "2024-03-11 12:00"),
        ("s", "Final Response", "2024-03-18 12:00"),
        ("t", "Receive", "2024-03-02 10:00"),
        ("t", "Send Holding Response", "2024-03-10 12:00"),
        ("t", "Final Response", "2024-03-28 12:00"),
        ("u", "Receive", "2024-03-05 10:00"),
    ]
    df = pd.DataFrame(rows, columns=["case", "activity", "timestamp"])
    df["opened"] = pd.to_datetime(
        ["2024-03-01T01:00:00.123Z"] * 4 + ["2024-03-02T01:00:00Z"] * 3 + [None], utc=True, format="ISO8601"
    )
    df["category"] = ["x"] * 4 + ["y"] * 4
    log = flowlens.read_log(df, tz="Asia/Shanghai")
    spark = log.to_engine("spark")
    pause = (Pause(("Request Information",), ("Customer Provides Information",)),)
    rules = [
        custom_rule(
            start="Receive",
            stop="Final Response",
            days=10,
            business=True,
            holiday_country="CN",
            pauses=pause,
            received="opened",
        ),
        get_preset("CN_NFRA_2020"),
    ]
    for rule in rules:
        a, b = evaluate_sla(log, rule), evaluate_sla(spark, rule)
        fa = a.frame().drop(columns="case_idx").sort_values("case_id").reset_index(drop=True)
        fb = b.frame().drop(columns="case_idx").sort_values("case_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(fa, fb, check_dtype=False)
        pa, pb = category_profile(a), category_profile(b)
        assert pa is not None and pb is not None
        pd.testing.assert_frame_equal(pa.table, pb.table, check_dtype=False)
    # the received time keeps its milliseconds on both engines
    assert str(by_case(a).clock_start["s"]) != ""
    assert by_case(evaluate_sla(spark, rules[0])).clock_start["s"] == pd.Timestamp("2024-03-01T01:00:00.123Z")


# -- which cases a rule covers (applies_to) ------------------------------------------------------

MIXED = [
    ("c1", "Receive Complaint", "2024-03-01 10:00", "complaint"),
    ("c1", "Send Final Response", "2024-03-05 10:00", "complaint"),
    ("c2", "Receive Complaint", "2024-03-01 10:00", "complaint"),
    ("c2", "Send Final Response", "2024-03-25 10:00", "complaint"),
    ("c3", "Receive Complaint", "2024-03-20 10:00", "complaint"),  # open, deadline ahead
    ("c3", "Investigate", "2024-03-21 10:00", "complaint"),
    ("c4", "Receive Complaint", "2024-02-01 10:00", "complaint"),  # open, deadline passed
    ("c4", "Investigate", "2024-02-02 10:00", "complaint"),
    ("s1", "Open Issue", "2024-03-01 10:00", "service_issue"),  # never answered: not covered
    ("s1", "Close Issue", "2024-03-01 11:00", "service_issue"),
    ("s2", "Open Issue", "2024-01-01 10:00", "service_issue"),
    ("s2", "Close Issue", "2024-01-01 10:05", "service_issue"),
]


def mixed_log(process_col: str | None = "process") -> flowlens.EventLog:
    df = pd.DataFrame(MIXED, columns=["case", "activity", "timestamp", "p"])
    df = df.rename(columns={"p": process_col}) if process_col else df.drop(columns="p")
    return flowlens.read_log(df)


def test_a_complaint_rule_covers_complaints_only_and_open_cases_are_open() -> None:
    res = evaluate_sla(mixed_log(), get_preset("CN_NFRA_2020"))
    f = by_case(res)
    assert sorted(f.index) == ["c1", "c2", "c3", "c4"]
    assert f.status.to_dict() == {"c1": "met", "c2": "breached", "c3": "open", "c4": "breached"}
    s = res.summary()
    assert s["scope"]["by"] == "process" and s["scope"]["values"] == ["complaint"]
    assert (s["scope"]["covered"], s["scope"]["of"]) == (4, 6)
    # one SLA-met figure: deadline kept among the cases whose outcome is known
    assert (s["decided"], s["met_share"], s["breached_while_open"]) == (3, pytest.approx(1 / 3), 1)
    flags = res.met_flags().set_index("case_id").sla_met
    assert flags["c1"] == 1.0 and flags["c2"] == 0.0 and pd.isna(flags["c3"])
    a = sla_analysis(mixed_log(), get_preset("CN_NFRA_2020"))
    assert a.lead().startswith(
        "Of the 3 of 4 complaint cases whose outcome is known, 33.3 % met their deadline (33.3 % within 15 days); "
        "66.7 % breached (1 answered late, 1 unanswered past the deadline)"
    )
    assert "1 still open within their deadline" in a.lead()


def test_scope_by_intake_activity_without_a_process_column() -> None:
    # the same cases without the process column: complaints are the cases with a complaint intake
    res = evaluate_sla(mixed_log(None), get_preset("CN_NFRA_2020"))
    assert sorted(by_case(res).index) == ["c1", "c2", "c3", "c4"]
    assert res.summary()["scope"]["by"] == "activity"
    # a single-process log with neither mark: the rule covers every case, and says so
    log = make_log([("x", "Receive", "2024-03-01 10:00"), ("x", "Final Response", "2024-03-02 10:00")])
    res = evaluate_sla(log, get_preset("CN_NFRA_2020"))
    assert res.summary()["cases"] == 1 and "covers every case" in " ".join(res.summary()["notes"])


def test_scope_errors_name_what_to_give() -> None:
    df = pd.DataFrame(MIXED, columns=["case", "activity", "timestamp", "process"])
    df.loc[df.process == "complaint", "process"] = "grievance"
    df.loc[df.activity == "Receive Complaint", "activity"] = "Receive"
    log = flowlens.read_log(pd.concat([df.assign(case=df.case + f"_{k}") for k in range(3)]))
    with pytest.raises(
        ConfigError, match=r"no value of the process column 'process' \(grievance, service_issue\)"
    ):
        evaluate_sla(log, get_preset("CN_NFRA_2020"))
    # the user says which cases the rule covers
    ok = evaluate_sla(log, replace(get_preset("CN_NFRA_2020"), applies_to=parse_scope("process=grievance")))
    assert ok.summary()["scope"]["values"] == ["grievance"]
    with pytest.raises(ConfigError, match="no value of column 'process' names nope"):
        evaluate_sla(log, replace(get_preset("CN_NFRA_2020"), applies_to=parse_scope("process=nope")))
    with pytest.raises(ConfigError, match="not KEY=VALUE"):
        parse_scope("complaint")


def test_presets_carry_their_scope_and_rule_files_set_one(tmp_path) -> None:
    assert get_preset("CN_NFRA_2020").applies_to.label == "complaint cases"
    assert get_preset("US_REG_E").applies_to.label.startswith("disputed transactions")
    assert all(r.applies_to is not None for r in presets().values())
    p = tmp_path / "r.toml"
    p.write_text('preset = "UK_DISP"\napplies_to = "activity=Receive Complaint"\n', encoding="utf-8")
    (rule,) = load_rules(p)
    assert rule.applies_to.activities == ("Receive Complaint",) and rule.base == 56
    p.write_text('preset = "UK_DISP"\napplies_to = "all"\n', encoding="utf-8")
    assert load_rules(p)[0].applies_to is None
    p.write_text('preset = "UK_DISP"\n[applies_to]\ncolumn = "kind"\nvalues = ["c"]\n', encoding="utf-8")
    assert load_rules(p)[0].applies_to.column == "kind"


def test_the_demo_rule_covers_complaints_and_agrees_with_segments() -> None:
    """The README's demo: CN_NFRA_2020 covers the 1,070 complaints, not all 26,472 cases, and
    the segments section's "SLA met" is the same per-case verdict."""
    from conftest import REPO
    from flowlens.analysis.segments import segments

    log = flowlens.read_log(REPO / "event_logs" / "bank_demo" / "events.parquet", tz="Asia/Shanghai")
    res = evaluate_sla(log, get_preset("CN_NFRA_2020"))
    s = res.summary()
    assert s["cases"] == 1070 and s["scope"]["of"] == 26472
    assert s["met_share"] > 0.99 and s["breached_while_open"] == 0
    seg = segments(
        log, "channel", sla=res.met_flags(), sla_label="deadline met", resamples=100, journeys=False
    )
    row = seg.table[(seg.table.metric == "sla_met") & (seg.table.group == "(all)")]
    assert row.process.tolist() == ["complaint"]
    assert row.n.item() == s["decided"] and row.value.item() == pytest.approx(s["met_share"])


def test_cli_applies_to(tmp_path, capsys) -> None:
    p = tmp_path / "mixed.csv"
    pd.DataFrame(MIXED, columns=["case", "activity", "timestamp", "process"]).to_csv(p, index=False)
    code, out, err = run_cli(capsys, "sla", str(p), "--preset", "UK_DISP", "--json")
    assert code == 0, err
    assert json.loads(out)["rules"][0]["summary"]["cases"] == 4
    code, out, err = run_cli(capsys, "sla", str(p), "--preset", "UK_DISP", "--applies-to", "all", "--json")
    assert code == 0, err
    assert json.loads(out)["rules"][0]["summary"]["cases"] == 6
    code, out, err = run_cli(capsys, "sla", str(p), "--preset", "UK_DISP")
    assert code == 0 and "applies to complaint cases (process = complaint): 4 of 6 cases" in out
