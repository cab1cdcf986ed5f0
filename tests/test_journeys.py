"""The customer's view: issue linking by window, contacts, channel switches, FCR, activity groups.

Exact results on small logs built here; on the real bank call centre log (unidentified
customers, queue abandonment, issues recomputed with a plain pandas loop); and on the synthetic
bank's ``tiny`` preset against the tables it writes (contacts per case, FCR, transfers).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import flowlens
from conftest import shared_path
from flowlens.analysis.activity_groups import ActivityGroups, normalise
from flowlens.analysis.journeys import MAX_PERSON_CASES, customer_key, journeys
from flowlens.attributes import detect_column
from flowlens.cli import cli
from flowlens.errors import ConfigError, InputError
from flowlens.io.cases import add_case_attributes

T0 = pd.Timestamp("2024-03-04 09:00")
DAY = pd.Timedelta(days=1)
MIN = pd.Timedelta(minutes=1)


def make_log(rows: list[dict], **kwargs: object) -> flowlens.EventLog:
    """Rows with case, activity, start (Timestamp), minutes (duration) and any attributes."""
    out = []
    for r in rows:
        r = dict(r)
        start = r.pop("start")
        r["start_time"] = start
        r["end_time"] = start + r.pop("minutes", 1) * MIN
        out.append(r)
    return flowlens.read_log(pd.DataFrame(out), **kwargs)


def by_issue(j) -> dict[str, dict]:
    return {r["issue_id"]: r for r in j.issues.to_dict("records")}


# -- issue linking ------------------------------------------------------------------------
def test_window_links_cases_from_the_issues_last_activity() -> None:
    rows = [
        {"case": "a", "customer_id": "k1", "activity": "Handle Request", "start": T0},
        # starts 3 days after a: same issue
        {"case": "b", "customer_id": "k1", "activity": "Handle Request", "start": T0 + 3 * DAY},
        # 12 days after b ends: a new issue
        {"case": "c", "customer_id": "k1", "activity": "Handle Request", "start": T0 + 15 * DAY},
        # exactly 7 days after c ends: still the same issue (the window is inclusive)
        {"case": "d", "customer_id": "k1", "activity": "Handle Request", "start": T0 + 22 * DAY + MIN},
        {"case": "e", "customer_id": "k2", "activity": "Handle Request", "start": T0 + 1 * DAY},
        {"case": "z", "customer_id": "k9", "activity": "Handle Request", "start": T0 + 60 * DAY},
    ]
    j = journeys(make_log(rows), window="7d")
    issues = by_issue(j)
    assert sorted(issues) == ["a", "c", "e", "z"]
    assert (issues["a"]["cases"], issues["c"]["cases"], issues["e"]["cases"]) == (2, 2, 1)
    assert issues["a"]["lead_s"] == pytest.approx(3 * 86400 + 60)
    case_issue = j.case_issue.to_pandas().set_index("case_id")["issue_id"].to_dict()
    assert case_issue == {"a": "a", "b": "a", "c": "c", "d": "c", "e": "e", "z": "z"}
    # one second more than the window opens a new issue
    rows[3]["start"] = T0 + 22 * DAY + MIN + pd.Timedelta(seconds=1)
    assert sorted(by_issue(journeys(make_log(rows), window="7d"))) == ["a", "c", "d", "e", "z"]
    # a shorter window splits a and b
    assert "b" in by_issue(journeys(make_log(rows), window="2d"))


def test_window_runs_from_the_end_of_a_long_case() -> None:
    """The open issue's last activity is the latest end of its cases, not the last start."""
    rows = [
        {"case": "long", "customer_id": "k", "activity": "Open", "start": T0},
        {"case": "long", "customer_id": "k", "activity": "Close", "start": T0 + 20 * DAY},
        {"case": "short", "customer_id": "k", "activity": "Call", "start": T0 + 2 * DAY},
        {"case": "later", "customer_id": "k", "activity": "Call", "start": T0 + 25 * DAY},
    ]
    issues = by_issue(journeys(make_log(rows)))
    assert list(issues) == ["long"]
    assert issues["long"]["cases"] == 3


def test_reason_separates_issues_and_can_be_switched_off() -> None:
    rows = [
        {"case": "a", "customer_id": "k", "intent": "card_lost", "activity": "Call", "start": T0},
        {"case": "b", "customer_id": "k", "intent": "fees", "activity": "Call", "start": T0 + DAY},
        {"case": "c", "customer_id": "k", "intent": "card_lost", "activity": "Call", "start": T0 + 2 * DAY},
    ]
    log = make_log(rows)
    j = journeys(log)
    assert j.columns["reason"] == "intent"
    issues = by_issue(j)
    assert {k: (v["cases"], v["reason"]) for k, v in issues.items()} == {
        "a": (2, "card_lost"),
        "b": (1, "fees"),
    }
    assert list(by_issue(journeys(log, reason=None))) == ["a"]


def test_unidentified_customers_are_issues_of_their_own_and_left_out_of_kpis() -> None:
    rows = [
        {"case": "a", "customer_id": "0", "activity": "Call", "start": T0},
        {"case": "b", "customer_id": "0", "activity": "Call", "start": T0 + MIN * 5},
        {"case": "c", "customer_id": "k", "activity": "Call", "start": T0},
        {"case": "d", "customer_id": "k", "activity": "Call", "start": T0 + DAY},
        {"case": "e", "customer_id": "m", "activity": "Call", "start": T0 + 30 * DAY},
    ]
    j = journeys(make_log(rows))
    issues = by_issue(j)
    assert sorted(issues) == ["a", "b", "c", "e"]
    assert not issues["a"]["customer_known"] and pd.isna(issues["a"]["fcr"])
    s = j.summary
    assert (s["issues"], s["issues_identified"], s["cases_unidentified"]) == (4, 2, 2)
    # c (2 contacts) is observable; e is censored (it ends at the end of the log)
    assert (s["fcr"], s["fcr_issues"]) == (0.0, 1)
    assert s["contacts_per_issue"] == 1.5
    assert s["repeat_contact_rate"] == pytest.approx(1 / 3)
    assert any("no identified customer" in n for n in j.notes)
    assert any("FCR leaves out 1 issues" in n for n in j.notes)
    # with 0 treated as a real customer, a and b form one issue
    assert "b" not in by_issue(journeys(make_log(rows), unknown_customers=[""]))


def test_without_customer_column_each_case_is_an_issue() -> None:
    rows = [
        {"case": "a", "activity": "Call", "start": T0},
        {"case": "b", "activity": "Call", "start": T0 + MIN},
        {"case": "c", "activity": "Call", "start": T0 + 30 * DAY},
    ]
    j = journeys(make_log(rows))
    assert j.columns["customer"] is None
    assert len(j.issues) == 3 and j.issues["customer_known"].all()
    assert (j.summary["fcr"], j.summary["fcr_issues"]) == (1.0, 2)


# -- contacts, channels, effort signals ----------------------------------------------------
def _journey_rows() -> list[dict]:
    """Customer k: one case with four contacts (phone, phone, chat, phone) and back-office work;
    customer m: one branch contact."""
    r = []

    def add(case, contact, activity, start, channel, customer="k", minutes=1):
        r.append(
            {
                "case": case,
                "customer_id": customer,
                "contact_id": contact,
                "activity": activity,
                "start": start,
                "channel": channel,
                "minutes": minutes,
            }
        )

    add("s1", "s1-c1", "IVR Menu", T0, "phone_ivr")
    add("s1", "s1-c1", "IVR Authentication", T0 + MIN, "phone_ivr")
    add("s1", "s1-c1", "Enter Queue", T0 + 2 * MIN, "phone_ivr")
    add("s1", "s1-c1", "Abandon Call", T0 + 5 * MIN, "phone_ivr")
    add("s1", "s1-c2", "IVR Menu", T0 + DAY, "phone_ivr")
    add("s1", "s1-c2", "IVR Authentication", T0 + DAY + MIN, "phone_ivr")
    add("s1", "s1-c2", "Enter Queue", T0 + DAY + 2 * MIN, "phone_ivr")
    add("s1", "s1-c2", "Agent Answers", T0 + DAY + 3 * MIN, "phone_agent")
    add("s1", "s1-c2", "Verify Identity", T0 + DAY + 4 * MIN, "phone_agent")
    add("s1", "s1-c2", "Transfer Call", T0 + DAY + 5 * MIN, "phone_agent")
    add("s1", "s1-c2", "Re-explain Issue", T0 + DAY + 6 * MIN, "phone_agent")
    add("s1", "s1-c2", "身份核验", T0 + DAY + 7 * MIN, "phone_agent")
    add("s1", None, "Request Documents", T0 + DAY + 60 * MIN, "back_office")
    add("s1", "s1-c3", "Chat Start", T0 + 2 * DAY, "chatbot")
    add("s1", "s1-c3", "Bot Answer", T0 + 2 * DAY + MIN, "chatbot")
    add("s1", "s1-c4", "IVR Menu", T0 + 3 * DAY, "phone_ivr")
    add("s1", "s1-c4", "Enter Queue", T0 + 3 * DAY + MIN, "phone_ivr")
    add("s1", "s1-c4", "Agent Answers", T0 + 3 * DAY + 2 * MIN, "phone_agent")
    add("s1", "s1-c4", "Verify Identity", T0 + 3 * DAY + 3 * MIN, "phone_agent")
    add("s1", "s1-c4", "Handle Request", T0 + 3 * DAY + 4 * MIN, "phone_agent")
    add("s1", None, "Request Additional Documents", T0 + 3 * DAY + 60 * MIN, "back_office")
    add("s1", None, "Close Issue", T0 + 3 * DAY + 61 * MIN, "system")
    add("b1", None, "Take Queue Ticket", T0 + 5 * DAY, "branch", customer="m")
    add("b1", None, "Handle Request", T0 + 5 * DAY + MIN, "branch", customer="m")
    # a later case of another customer so that both issues are observable for FCR
    add("x1", None, "Handle Request", T0 + 40 * DAY, "web", customer="late")
    return r


def test_contacts_channel_switches_and_effort_signals() -> None:
    j = journeys(make_log(_journey_rows()))
    assert j.columns == {
        "customer": "customer_id",
        "channel": "channel",
        "reason": None,
        "contact": "contact_id",
    }
    s1 = by_issue(j)["s1"]
    assert s1["contacts"] == 4  # back-office rows without a contact id are no contact
    assert s1["channels"] == "phone → phone → chat → phone"
    assert (s1["n_channels"], s1["channel_switches"]) == (2, 2)
    assert s1["transfers"] == 1
    assert s1["n_verification"] == 5  # 2 IVR + 2 Verify Identity + 1 身份核验
    assert s1["verified_contacts"] == 3 and s1["reverified_contacts"] == 1  # only the second call
    assert s1["n_information_request"] == 2
    assert s1["n_repeat_information"] == 1
    assert (s1["offered_contacts"], s1["abandoned_contacts"], s1["abandoned_offered"]) == (3, 1, 1)
    assert (s1["handled_contacts"], s1["transferred_handled"]) == (2, 1)
    assert s1["fcr"] is False
    b1 = by_issue(j)["b1"]
    assert (b1["contacts"], b1["channels"], b1["channel_switches"], b1["fcr"]) == (1, "branch", 0, True)
    s = j.summary
    assert s["fcr"] == 0.5 and s["fcr_issues"] == 2
    assert s["channel_switch_rate"] == pytest.approx(1 / 3)
    assert s["reverification_rate"] == pytest.approx(1 / 3)
    assert (s["abandonment_rate"], s["abandonment_base"]) == (pytest.approx(1 / 3), "queued contacts")
    assert (s["transfer_rate"], s["transfer_base"]) == (0.5, "handled contacts")
    assert s["repeat_request_rate"] == pytest.approx(1 / 3)
    phone = next(r for r in s["by_channel"] if r["channel"] == "phone")
    assert (phone["contacts"], phone["abandonment_rate"], phone["transfer_rate"]) == (
        3,
        pytest.approx(1 / 3),
        0.5,
    )
    assert j.groups["verification"] == ["IVR Authentication", "Verify Identity", "身份核验"]


def test_a_single_abandoned_contact_is_not_first_contact_resolution() -> None:
    rows = [
        {"case": "a", "customer_id": "k", "activity": "Enter Queue", "start": T0},
        {"case": "b", "customer_id": "m", "activity": "Enter Queue", "start": T0},
        {"case": "b", "customer_id": "m", "activity": "Agent Answers", "start": T0 + MIN},
        {"case": "z", "customer_id": "z", "activity": "Agent Answers", "start": T0 + 30 * DAY},
    ]
    issues = by_issue(journeys(make_log(rows)))
    assert issues["a"]["fcr"] is False and issues["a"]["abandoned_contacts"] == 1
    assert issues["b"]["fcr"] is True and issues["b"]["abandoned_contacts"] == 0


def test_queue_ending_counts_as_abandonment_without_agent_steps() -> None:
    rows = [
        {"case": "a", "customer_id": "k", "activity": "VRU", "start": T0},
        {"case": "a", "customer_id": "k", "activity": "Queue", "start": T0 + MIN},
        {"case": "b", "customer_id": "m", "activity": "VRU", "start": T0},
        {"case": "b", "customer_id": "m", "activity": "Queue", "start": T0 + MIN},
        {"case": "b", "customer_id": "m", "activity": "Talk to Agent", "start": T0 + 3 * MIN},
    ]
    j = journeys(make_log(rows))
    assert (j.summary["abandonment_rate"], j.summary["abandonment_base"]) == (0.5, "queued contacts")


def test_groups_file_extends_or_replaces_defaults(tmp_path) -> None:
    toml = tmp_path / "groups.toml"
    toml.write_text(
        '"+verification" = ["Security Check Two"]\ntransfer = ["Hand Over"]\n'
        '[channels]\nphone = ["Hotline-A"]\n',
        encoding="utf-8",
    )
    g = ActivityGroups.from_file(toml)
    assert g.group_of("security_check_two") == "verification" and g.group_of("Verify ID") == "verification"
    assert g.group_of("Hand Over") == "transfer" and g.group_of("Transfer Call") is None
    assert g.channel_family("hotline a") == "phone"
    js = tmp_path / "groups.json"
    js.write_text(json.dumps({"abandonment": ["Gave Up"]}), encoding="utf-8")
    rows = [
        {"case": "a", "customer_id": "k", "activity": "Gave Up", "start": T0},
        {"case": "b", "customer_id": "k2", "activity": "Handle", "start": T0 + 30 * DAY},
    ]
    j = journeys(make_log(rows), groups=js)
    assert j.groups["abandonment"] == ["Gave Up"] and j.groups_source == str(js)
    assert j.summary["abandonment_rate"] == 0.5
    bad = tmp_path / "bad.json"
    bad.write_text('{"verification": "Verify"}', encoding="utf-8")
    with pytest.raises(ConfigError, match="must be a list of names"):
        ActivityGroups.from_file(bad)
    with pytest.raises(ConfigError, match="not found"):
        ActivityGroups.from_file(tmp_path / "missing.toml")


def test_group_names_normalise_and_missing_groups_are_reported() -> None:
    assert normalise("Re-verify_Identity") == "re verify identity"
    j = journeys(make_log([{"case": "a", "customer_id": "k", "activity": "Do", "start": T0}]))
    assert j.summary["transfer_rate"] is None and j.summary["reverification_rate"] is None
    assert any("'transfer'" in n for n in j.notes)


def test_column_detection_and_errors() -> None:
    rows = [{"case": "a", "客户号": "k", "渠道": "手机银行", "activity": "Do", "start": T0}]
    log = make_log(rows)
    assert detect_column(log, "customer") == "客户号" and detect_column(log, "channel") == "渠道"
    j = journeys(log)
    assert j.issues["channels"].tolist() == ["app"]
    with pytest.raises(ConfigError, match="available attributes: 客户号, 渠道"):
        journeys(log, customer="client")


def test_add_case_attributes(tmp_path) -> None:
    log = make_log(
        [
            {"case": "a", "activity": "x", "start": T0, "segment": "log"},
            {"case": "b", "activity": "x", "start": T0},
        ]
    )
    cases = pd.DataFrame({"case": ["a", "b"], "segment": ["table", "table"], "product": ["card", None]})
    out = add_case_attributes(log, cases)
    df = out.table.order_by("case_id").select("segment", "product").to_pandas()
    df = df.astype(object).where(df.notna(), None)
    assert df["segment"].tolist() == ["log", None]  # the log's own column is kept
    assert df["product"].tolist() == ["card", None]
    path = tmp_path / "cases.csv"
    cases.to_csv(path, index=False)
    assert add_case_attributes(log, path).attributes["product"] == "product"
    with pytest.raises(InputError, match="repeats case ids"):
        add_case_attributes(log, pd.concat([cases, cases]))
    with pytest.raises(ConfigError, match="no case id column"):
        add_case_attributes(log, cases.rename(columns={"case": "id"}))


# -- the real call-centre log -------------------------------------------------------------------
@pytest.fixture(scope="module")
def calls():
    log = flowlens.read_log(shared_path("bank-callcenter"))
    raw = pd.read_csv(shared_path("bank-callcenter"), dtype=str)
    raw = raw[pd.to_datetime(raw["end_time"]) >= pd.to_datetime(raw["start_time"])]
    return log, raw, journeys(log, attributes=["priority"])


def test_callcenter_issues_match_a_plain_sessionisation(calls) -> None:
    _, raw, j = calls
    assert j.columns["customer"] == "customer_id" and j.columns["contact"] == "call_id"
    spans = (
        raw.assign(s=pd.to_datetime(raw["start_time"]), e=pd.to_datetime(raw["end_time"]))
        .groupby("case_id")
        .agg(customer=("customer_id", "first"), s=("s", "min"), e=("e", "max"))
    )
    known = spans[spans["customer"] != "0"].sort_values(["customer", "s"])
    # customer ids with more than 100 calls in the month are not persons (switchboards,
    # businesses): they are treated as unidentified, like id 0 (none has 5 calls open at once)
    heavy = known.groupby("customer").size()
    heavy = set(heavy[heavy > MAX_PERSON_CASES].index)
    assert len(heavy) == 12 and set(customer_key(calls[0]).non_persons) == heavy
    assert any("treated as unidentified" in n for n in j.notes)
    unidentified = int((spans["customer"] == "0").sum()) + int(known["customer"].isin(heavy).sum())
    known = known[~known["customer"].isin(heavy)]
    n_issues = 0
    sizes = []
    for _, g in known.groupby("customer"):
        last = None
        for s, e in zip(g["s"], g["e"], strict=True):
            if last is None or s - last > pd.Timedelta(days=7):
                n_issues += 1
                sizes.append(0)
                last = e
            last = max(last, e)
            sizes[-1] += 1
    ident = j.issues[j.issues["customer_known"]]
    assert len(ident) == n_issues == j.summary["issues_identified"]
    assert sorted(ident["cases"].tolist()) == sorted(sizes)
    assert j.summary["cases_unidentified"] == unidentified
    assert (ident["contacts"] == ident["cases"]).all()  # one call per case


def test_callcenter_abandonment_is_queued_calls_never_served(calls) -> None:
    _, raw, j = calls
    acts = raw.groupby("case_id")["activity"].agg(set)
    queued = acts.map(lambda s: "Queue" in s)
    served = acts.map(lambda s: "Service" in s)
    assert j.summary["abandonment_base"] == "queued contacts"
    assert j.summary["abandonment_rate"] == pytest.approx((queued & ~served).sum() / queued.sum(), abs=1e-12)
    assert j.summary["transfer_rate"] is None  # no transfer step in this log
    assert 0.3 < j.summary["fcr"] < 0.7
    assert "priority" in j.issues.columns


def test_callcenter_priorities_compared(calls) -> None:
    from flowlens.analysis.segments import ISSUE_METRICS, compare, issue_units

    _, _, j = calls
    t = compare(issue_units(j), "priority", ISSUE_METRICS, seed=3, resamples=300)
    contacts = t[(t["metric"] == "contacts_per_issue")].set_index("group")
    # priority-2 customers call more often per issue than the others, beyond noise
    assert contacts.loc["2", "diff"] > 0 and not contacts.loc["2", "noise"]
    assert contacts.loc["(all)", "n"] == j.summary["issues_identified"]


# -- the synthetic bank (tiny) -----------------------------------------------------------------
def test_tiny_contacts_and_fcr_agree_with_the_case_table(tiny_bank_seed5) -> None:
    log = flowlens.read_log(tiny_bank_seed5 / "events.parquet")
    cases = pd.read_parquet(tiny_bank_seed5 / "cases.parquet")
    j = journeys(log, customer=None)  # one issue per case, as in the generator's case table
    m = j.issues.merge(cases, left_on="issue_id", right_on="case_id", suffixes=("", "_gt"))
    assert len(m) == len(cases) == len(j.issues)
    assert (m["contacts"] == m["contacts_gt"]).all()
    si = m[(m["process"] == "service_issue") & ~m["censored"]]
    assert si["fcr"].astype(bool).mean() == pytest.approx((si["contacts_gt"] == 1).mean())


def test_tiny_phone_transfer_and_abandonment_follow_the_generator_definitions(tiny_bank_seed5) -> None:
    log = flowlens.read_log(tiny_bank_seed5 / "events.parquet")
    ev = pd.read_parquet(tiny_bank_seed5 / "events.parquet")
    ph_ids = ev.loc[ev["activity"] == "IVR Menu", "contact_id"].dropna().unique()
    acts = ev[ev["contact_id"].isin(ph_ids)].groupby("contact_id")["activity"].agg(set)
    answered = acts.map(lambda s: "Agent Answers" in s)
    transferred = acts.map(lambda s: bool({"Transfer Call", "Warm Transfer Briefing"} & s))
    offered = acts.map(lambda s: "Enter Queue" in s)
    abandoned = acts.map(lambda s: "Abandon Call" in s)
    phone = next(r for r in journeys(log, customer=None).summary["by_channel"] if r["channel"] == "phone")
    assert phone["contacts"] >= len(acts)  # also calls without IVR (outbound, callbacks)
    assert phone["transfer_rate"] == pytest.approx(transferred[answered].mean())
    assert phone["abandonment_rate"] == pytest.approx(abandoned[offered].sum() / offered.sum())


def test_tiny_with_reason_links_fewer_issues_than_cases(tiny_bank_seed5) -> None:
    log = add_case_attributes(
        flowlens.read_log(tiny_bank_seed5 / "events.parquet"), tiny_bank_seed5 / "cases.parquet"
    )
    j = journeys(log, attributes=["segment"])
    assert j.columns["reason"] == "reason"
    assert 0.8 * j.summary["cases"] < len(j.issues) <= j.summary["cases"]
    assert j.issues["segment"].notna().all()
    assert 0.4 < j.summary["fcr"] < 0.95
    linked = j.case_issue.to_pandas().merge(pd.read_parquet(tiny_bank_seed5 / "cases.parquet"), on="case_id")
    # every issue holds one customer and one reason
    per = linked.groupby("issue_id").agg(c=("customer_id", "nunique"), r=("reason", "nunique"))
    assert (per["c"] == 1).all() and (per["r"] == 1).all()


# -- command line -----------------------------------------------------------------------------
def test_cli_journeys_json_and_text(tmp_path) -> None:
    rows = []
    for r in _journey_rows():
        r = dict(r)
        start = r.pop("start")
        rows.append(
            {**r, "start_time": start.isoformat(), "end_time": (start + r.pop("minutes") * MIN).isoformat()}
        )
    path = tmp_path / "log.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    runner = CliRunner()
    res = runner.invoke(cli, ["journeys", str(path), "--json", "--top", "1"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["summary"]["fcr"] == 0.5 and len(out["issues"]) == 1
    assert out["issues"][0]["issue_id"] == "s1" and out["headline"].startswith("50.0 %")
    csv = tmp_path / "issues.csv"
    res = runner.invoke(cli, ["journeys", str(path), "--csv", str(csv), "--channel", "none"])
    assert res.exit_code == 0, res.output
    assert "first-contact resolution" in res.output and "channel-switch rate" in res.output
    assert len(pd.read_csv(csv)) == 3
    res = runner.invoke(cli, ["journeys", str(path), "--customer", "nope"])
    assert res.exit_code != 0


def test_cli_journeys_by_segment(calls) -> None:
    res = CliRunner().invoke(
        cli,
        ["journeys", str(shared_path("bank-callcenter")), "--by", "priority", "--resamples", "100", "--json"],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    groups = {r["group"] for r in out["by"]["rows"]}
    assert {"0", "1", "2", "(all)"} <= groups
    assert out["summary"]["issues_identified"] == calls[2].summary["issues_identified"]
    assert np.isclose(out["summary"]["fcr"], calls[2].summary["fcr"])


@pytest.mark.spark
@pytest.mark.slow  # a Spark session: ~15 s idle, close to a minute on a loaded 2-core machine
def test_spark_gives_the_same_issues_and_case_factors() -> None:
    from flowlens.analysis.drivers import case_factors

    base = make_log(_journey_rows())
    cases = pd.DataFrame({"case": ["s1", "b1", "x1"], "reason": ["fees", "fees", "card"]})
    # join the case table in each engine (EventLog.to_engine hands over the ingested table)
    log = add_case_attributes(base, cases)
    spark = add_case_attributes(base.to_engine("spark"), cases)
    pd.testing.assert_frame_equal(journeys(log).issues, journeys(spark).issues, check_dtype=False)
    pd.testing.assert_frame_equal(case_factors(log), case_factors(spark), check_dtype=False)


@pytest.mark.slow
def test_demo_calibration(tmp_path) -> None:
    """On the generator's demo preset: FCR of service issues 0.68-0.74, phone transfers
    0.17-0.21 and abandonment 3-8 % (domain.md 6.8)."""
    from flowlens.filters import filter_attribute
    from flowlens.synth import generate_bank

    generate_bank("demo", seed=7, out_dir=tmp_path, remedies="none", formats=("parquet",))
    log = filter_attribute(flowlens.read_log(tmp_path / "events.parquet"), "process", ["service_issue"])
    s = journeys(log, customer=None).summary
    phone = next(r for r in s["by_channel"] if r["channel"] == "phone")
    assert 0.68 <= s["fcr"] <= 0.74
    assert 0.17 <= phone["transfer_rate"] <= 0.21
    assert 0.03 <= phone["abandonment_rate"] <= 0.08


# -- a customer key must identify persons ---------------------------------------------------------
def test_an_organisation_key_is_no_customer(shared_logs) -> None:
    """helpdesk's `customer` is an organisation: 'Value 22' raised 250 tickets over four years
    and most values have five or more open at once; chaining them gives 1,400-day "issues"."""
    log = flowlens.read_log(shared_path("helpdesk"))
    key = customer_key(log)
    assert key.name == "customer" and not key.persons
    assert key.stats["non_person_share"] > 0.5 and key.stats["cases_per_value_max"] > 200
    # detected, it is not used: each ticket is its own issue (no 1,400-day "issue"), and the note says why
    j = journeys(log)
    assert j.columns["customer"] is None and "does not identify persons" in j.notes[0]
    assert j.issues["lead_s"].max() < 400 * 86400
    # named explicitly, the user's word is taken, and the note still says what was seen
    j = journeys(log, customer="customer")
    assert j.columns["customer"] == "customer" and "does not identify persons" in j.notes[0]


def test_report_says_why_journeys_are_left_out(shared_logs) -> None:
    from flowlens.report.build import ReportOptions, build_report

    log = flowlens.read_log(shared_path("helpdesk"))
    rep = build_report(log, ReportOptions(resamples=100))
    ids = [s.id for s in rep.sections]
    assert "journeys" not in ids
    skipped = next(s for s in rep.sections if s.id == "not-included").data["skipped"]
    reason = next(x["reason"] for x in skipped if x["section"] == "Customer journeys")
    assert "does not identify persons" in reason and "Value 22" in reason
    # nothing in the report speaks of a bank on a helpdesk log (the appendix quotes the methods
    # document, whose examples name the bank demo)
    body = [s for s in rep.sections if not s.appendix]
    text = " ".join([s.html for s in body] + [s.lead for s in body]).lower()
    assert "the bank" not in text and "bank's" not in text


def test_cli_says_why_journeys_are_left_out(shared_logs) -> None:
    res = CliRunner().invoke(cli, ["journeys", str(shared_path("helpdesk"))])
    assert isinstance(res.exception, ConfigError)
    assert "journeys left out: column 'customer' does not identify persons" in str(res.exception)
