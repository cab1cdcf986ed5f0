"""Segments with bootstrap CIs, the noise flag, and slow-case drivers.

Determinism by seed, interval coverage on data with a known answer, the noise flag on two
segments from one distribution and not on a large difference, quantiles from counts equal to
numpy's, drivers ranking a planted factor first; on bank-callcenter (priorities) and on the
synthetic bank's ``tiny`` preset.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import flowlens
from conftest import shared_path
from flowlens.analysis.drivers import correlations, drivers, effects
from flowlens.analysis.segments import (
    CASE_METRICS,
    Metric,
    _quantile_from_counts,
    bootstrap,
    compare,
    replicates,
    segment_labels,
    segments,
)
from flowlens.cli import cli
from flowlens.errors import ConfigError

MEDIAN = Metric("lead_median", "median lead time", "lead_s", "median")
MEAN = Metric("lead_mean", "mean lead time", "lead_s", "mean")


def two_groups(seed: int, n: int = 300, scale_b: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(8, 1, n)
    b = rng.lognormal(8, 1, n) * scale_b
    return pd.DataFrame({"seg": ["a"] * n + ["b"] * n, "lead_s": np.r_[a, b]})


# -- the bootstrap ----------------------------------------------------------------------------
def test_same_seed_same_intervals_other_seed_other_intervals() -> None:
    units = two_groups(1)
    t1 = compare(units, "seg", [MEDIAN, MEAN], seed=7, resamples=300)
    t2 = compare(units, "seg", [MEDIAN, MEAN], seed=7, resamples=300)
    pd.testing.assert_frame_equal(t1, t2)
    t3 = compare(units, "seg", [MEDIAN, MEAN], seed=8, resamples=300)
    pd.testing.assert_series_equal(t1["value"], t3["value"])  # point estimates do not resample
    assert not np.allclose(t1["ci_low"], t3["ci_low"])
    # adding a metric does not change another metric's intervals (streams per metric)
    t4 = compare(units, "seg", [MEAN], seed=7, resamples=300)
    pd.testing.assert_frame_equal(
        t4.reset_index(drop=True), t1[t1.metric == "lead_mean"].reset_index(drop=True)
    )


def test_quantiles_from_counts_equal_numpy() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 10, 101, 1000):
        v = rng.integers(0, 40, size=(7, n)).astype(float)
        uniq = np.unique(v)
        codes = np.searchsorted(uniq, v)
        cum = np.stack([np.bincount(r, minlength=uniq.size) for r in codes]).cumsum(axis=1)
        for q in (0.5, 0.9):
            np.testing.assert_allclose(_quantile_from_counts(cum, uniq, q), np.quantile(v, q, axis=1))


def test_replicates_stratify_and_rest_is_the_other_groups() -> None:
    vals = np.r_[np.zeros(50), np.ones(50)]
    labels = np.array(["a"] * 50 + ["b"] * 50)
    r = replicates("mean", vals, labels, resamples=100, seed=1)
    # every resample keeps group sizes, so each group's mean never moves here
    assert (r.groups["a"][1] == 0).all() and (r.groups["b"][1] == 1).all()
    assert (r.rest["a"][1] == 1).all() and (r.all[1] == 0.5).all()
    med = replicates("median", np.arange(100.0), np.array(["x"] * 100), resamples=200, seed=2)
    assert med.groups["x"][0] == 49.5 and 40 < med.groups["x"][1].mean() < 60


def test_interval_coverage_is_close_to_nominal() -> None:
    """95 % percentile intervals of a mean cover the true mean in about 95 % of samples."""
    rng = np.random.default_rng(11)
    hits = 0
    trials = 300
    for i in range(trials):
        x = rng.normal(10.0, 2.0, 60)
        reps = bootstrap("mean", x, resamples=400, seed=i)
        lo, hi = np.quantile(reps, [0.025, 0.975])
        hits += lo <= 10.0 <= hi
    assert 0.89 <= hits / trials <= 0.99


def test_noise_flag_same_distribution_vs_large_difference() -> None:
    same = compare(two_groups(2), "seg", [MEDIAN, MEAN], seed=1, resamples=500)
    assert same.loc[same.group != "(all)", "noise"].all()
    big = compare(two_groups(3, scale_b=3.0), "seg", [MEDIAN, MEAN], seed=1, resamples=500)
    rows = big[big.group == "b"].set_index("metric")
    assert not rows["noise"].any()
    assert rows.loc["lead_median", "diff_low"] > 0
    # the comparison value is the other segment, and the difference is value - other
    assert rows.loc["lead_median", "diff"] == pytest.approx(
        rows.loc["lead_median", "value"] - rows.loc["lead_median", "other"]
    )


def test_reference_mode_small_groups_ratio_and_custom_statistic() -> None:
    units = two_groups(4, scale_b=3.0)
    units.loc[len(units)] = ["c", 5000.0]
    units["wait_s"] = units["lead_s"] * np.where(units["seg"] == "a", 0.5, 0.9)
    ratio = Metric("waiting_share", "waiting share", "wait_s", "ratio", denominator="lead_s", kind="share")
    p75 = Metric("lead_p75", "p75", "lead_s", lambda a: np.quantile(a, 0.75, axis=1))
    t = compare(units, "seg", [MEDIAN, ratio, p75], reference="a", seed=1, resamples=200)
    ref = t[(t.group == "a")]
    assert ref["noise"].isna().all() and ref["other"].isna().all()
    c = t[(t.group == "c") & (t.metric == "lead_median")].iloc[0]
    assert c["small"] and c["noise"]
    share = t[(t.metric == "waiting_share")].set_index("group")
    assert share.loc["a", "value"] == pytest.approx(0.5) and share.loc["b", "value"] == pytest.approx(0.9)
    assert not share.loc["b", "noise"]
    p = t[(t.metric == "lead_p75") & (t.group == "b")].iloc[0]
    assert p["value"] == pytest.approx(np.quantile(units.loc[units.seg == "b", "lead_s"], 0.75))
    with pytest.raises(ConfigError, match="reference segment 'zz'"):
        compare(units, "seg", [MEDIAN], reference="zz")
    with pytest.raises(ConfigError, match="a ratio needs a denominator"):
        Metric("x", "x", "lead_s", "ratio")


def test_segment_labels() -> None:
    s = pd.Series(np.arange(100.0))
    lab = segment_labels(s)
    assert lab.value_counts().to_dict() == {
        "Q1 (≤ 24)": 25,
        "Q2 (≤ 49)": 25,
        "Q3 (≤ 74)": 25,
        "Q4 (≤ 99)": 25,
    }
    many = pd.Series([f"v{i % 20}" for i in range(200)] + [None])
    lab = segment_labels(many, max_levels=5)
    assert set(lab) == {"v0", "v1", "v2", "v3", "(other)", "(missing)"}
    assert segment_labels(pd.Series([1, 2, 2])).tolist() == ["1", "2", "2"]


# -- segments on logs --------------------------------------------------------------------------
def test_segments_on_a_small_log() -> None:
    rows = []
    for i in range(40):
        gold = i % 2 == 0
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(hours=i)
        rows.append(
            {
                "case": f"c{i}",
                "activity": "a",
                "start": start,
                "end": start + pd.Timedelta(minutes=10),
                "tier": "gold" if gold else "std",
                "sla_met": "yes" if gold else "no",
            }
        )
        wait = pd.Timedelta(minutes=5 if gold else 50)
        rows.append(
            {
                "case": f"c{i}",
                "activity": "b",
                "start": start + pd.Timedelta(minutes=10) + wait,
                "end": start + pd.Timedelta(minutes=20) + wait,
                "tier": "gold" if gold else "std",
                "sla_met": "yes" if gold else "no",
            }
        )
    res = segments(flowlens.read_log(pd.DataFrame(rows)), "tier", resamples=200, journeys=False)
    t = res.table.set_index(["metric", "group"])
    assert t.loc[("lead_median", "gold"), "value"] == 25 * 60
    assert t.loc[("lead_median", "std"), "value"] == 70 * 60
    assert t.loc[("waiting_share", "gold"), "value"] == pytest.approx(5 / 25)
    assert t.loc[("sla_met", "gold"), "value"] == 1.0 and t.loc[("sla_met", "std"), "value"] == 0.0
    assert not t.loc[("lead_median", "std"), "noise"]
    assert res.sizes == {"gold": 20, "std": 20}
    assert res.headline().startswith("tier = std cases take longest")
    assert any("median lead time 1.2 h vs 25 min" in s for s in res.sentences())
    with pytest.raises(ConfigError, match="no column 'nope'"):
        segments(flowlens.read_log(pd.DataFrame(rows)), "nope")


@pytest.fixture(scope="module")
def calls():
    log = flowlens.read_log(shared_path("bank-callcenter"))
    raw = pd.read_csv(shared_path("bank-callcenter"), dtype=str)
    raw = raw[pd.to_datetime(raw["end_time"]) >= pd.to_datetime(raw["start_time"])]
    return log, raw


def test_callcenter_priorities(calls) -> None:
    log, raw = calls
    res = segments(log, "priority", seed=5, resamples=300)
    per = (
        raw.assign(s=pd.to_datetime(raw["start_time"]), e=pd.to_datetime(raw["end_time"]))
        .groupby("case_id")
        .agg(p=("priority", "first"), s=("s", "min"), e=("e", "max"))
    )
    per["lead"] = (per["e"] - per["s"]).dt.total_seconds()
    t = res.table[res.table.metric == "lead_median"].set_index("group")
    for p, g in per.groupby("p"):
        assert t.loc[p, "n"] == len(g)
        assert t.loc[p, "value"] == pytest.approx(g["lead"].median())
        assert t.loc[p, "ci_low"] <= t.loc[p, "value"] <= t.loc[p, "ci_high"]
    # priority 2 calls take longer than the others, priority 0 shorter, both beyond noise
    assert t.loc["2", "diff"] > 0 and not t.loc["2", "noise"]
    assert t.loc["0", "diff"] < 0 and not t.loc["0", "noise"]
    assert {"fcr", "contacts_per_issue"} <= set(res.table.metric)
    assert res.headline().startswith("priority = 2 cases take longest")


def test_callcenter_drivers(calls) -> None:
    log, _ = calls
    res = drivers(log, seed=2, resamples=200)
    factors = set(res.table["factor"])
    assert {"priority", "type"} <= factors
    assert "customer_id" not in factors and "call_id" not in factors  # identifiers are no drivers
    # whether the call was served (AGENT / HANG / PHANTOM) is its outcome, not a cause
    why = dict(zip(res.excluded.column, res.excluded.rule, strict=True))
    assert why == {"call_id": "identifier", "customer_id": "identifier", "outcome": "outcome"}
    p2 = res.table[(res.table.factor == "priority") & (res.table.level == "2")].iloc[0]
    assert p2["ratio"] > 1 and not p2["noise"]
    assert p2["sentence"].startswith("Cases with priority = 2 take 1.")
    assert res.table["effect"].iloc[0] >= res.table.loc[~res.table["noise"], "effect"].max() - 1e-12


# -- drivers -----------------------------------------------------------------------------------
def planted_units(seed: int = 0, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    channel = rng.choice(["app", "branch", "phone"], n)
    transfer = rng.random(n) < 0.2
    amount = rng.lognormal(8, 1, n)
    noise_attr = rng.choice(["x", "y"], n)
    lead = rng.lognormal(9, 0.6, n)
    lead = lead * np.where(transfer, 2.5, 1.0) * np.where(channel == "branch", 1.3, 1.0)
    return pd.DataFrame(
        {"lead_s": lead, "channel": channel, "transfer": transfer, "amount": amount, "noise_attr": noise_attr}
    )


def test_drivers_rank_the_planted_factor_first() -> None:
    u = planted_units()
    t = effects(
        u,
        {"channel": "channel", "transfer": "transfer", "noise": "noise_attr"},
        phrases={"transfer": "a transfer"},
        seed=1,
        resamples=400,
    )
    top = t.iloc[0]
    assert (top.factor, top.level, bool(top.noise)) == ("transfer", "yes", False)
    assert 2.0 < top.ratio < 3.2 and top.ratio_low < top.ratio < top.ratio_high
    assert top.sentence.startswith("Cases with a transfer take 2.")
    assert "× longer (median" in top.sentence and "% of cases." in top.sentence
    assert t[t.factor == "noise"]["noise"].all()
    branch = t[(t.factor == "channel") & (t.level == "branch")].iloc[0]
    assert branch.ratio > 1
    again = effects(
        u,
        {"channel": "channel", "transfer": "transfer", "noise": "noise_attr"},
        phrases={"transfer": "a transfer"},
        seed=1,
        resamples=400,
    )
    pd.testing.assert_frame_equal(t, again)


def test_correlations_and_faster_sentences() -> None:
    u = planted_units()
    u["lead_s"] = u["lead_s"] * (1 + u["amount"] / u["amount"].median())
    c = correlations(u, {"amount": "amount", "random": "noise_attr"})
    assert list(c.factor) == ["amount"] and c.rho[0] > 0.2 and not c.noise[0]
    assert c.sentence[0].startswith("Higher amount goes with longer lead times (Spearman ρ = ")
    fast = pd.DataFrame(
        {
            "lead_s": np.r_[np.full(50, 100.0), np.full(50, 400.0)] * np.linspace(1, 1.1, 100),
            "app": [True] * 50 + [False] * 50,
        }
    )
    row = effects(fast, {"app": "app"}, phrases={"app": "an app start"}, resamples=200).iloc[0]
    assert row.sentence.startswith("Cases with an app start finish 4.") and "faster" in row.sentence


def test_drivers_on_a_log_with_behaviours_and_attributes() -> None:
    rows = []
    rng = np.random.default_rng(3)
    for i in range(120):
        slow = i % 4 == 0
        acts = (
            ["Open", "Verify Identity", "Transfer Call", "Verify Identity", "Close"]
            if slow
            else ["Open", "Close"]
        )
        t = pd.Timestamp("2024-01-01") + pd.Timedelta(hours=i)
        amount = float(rng.integers(100, 10_000))
        for a in acts:
            rows.append(
                {
                    "case": f"c{i}",
                    "activity": a,
                    "timestamp": t,
                    "segment": "vip" if i % 2 else "mass",
                    "case_ref_id": f"R{i}",
                    "amount": amount,
                }
            )
            t += pd.Timedelta(minutes=float(rng.uniform(30, 60) if slow else rng.uniform(5, 10)))
    res = drivers(flowlens.read_log(pd.DataFrame(rows)), resamples=200)
    top = res.table.iloc[0]
    assert top.factor in ("transfer", "reverification", "rework") and not top.noise
    assert {"transfer", "reverification", "rework", "segment", "amount"} <= set(res.table.factor)
    assert "case_ref_id" not in set(res.table.factor)
    assert list(res.correlations.factor) == ["amount"]
    assert "Associations, not proven causes." in res.headline()


# -- the synthetic bank (tiny) -----------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tiny_bank_seed5):
    from flowlens.io.cases import add_case_attributes

    out = tiny_bank_seed5
    return add_case_attributes(flowlens.read_log(out / "events.parquet"), out / "cases.parquet"), out


def test_tiny_segments_use_the_case_table(tiny) -> None:
    log, out = tiny
    cases = pd.read_parquet(out / "cases.parquet")
    res = segments(log, "segment", resamples=200, process=None)
    assert res.sizes == cases["segment"].value_counts().to_dict()
    sla = res.table[(res.table.metric == "sla_met") & (res.table.group == "(all)")].iloc[0]
    assert sla["n"] == cases["sla_met"].notna().sum()
    assert sla["value"] == pytest.approx(cases["sla_met"].dropna().astype(float).mean())
    assert sla["label"] == "SLA met (as recorded in column sla_met)"
    assert {m.name for m in CASE_METRICS} - {"flow_efficiency"} <= set(res.table.metric)
    assert "fcr" in set(res.table.metric)


def test_tiny_segments_are_compared_within_processes(tiny) -> None:
    log, out = tiny
    cases = pd.read_parquet(out / "cases.parquet")
    res = segments(log, "segment", resamples=200)
    assert res.within == "process" and res.sizes == cases["segment"].value_counts().to_dict()
    t = res.table
    lead = t[(t.metric == "lead_median") & (t.group != "(all)")]
    assert set(lead.process) <= set(cases.process)
    # each segment is compared with the rest of its own process: the median per (process,
    # segment) and of the rest of the process equal a pandas computation on the case table
    lt = (cases.closed_ts - cases.opened_ts).dt.total_seconds()
    ev = pd.read_parquet(out / "events.parquet")
    span = ev.groupby("case_id").agg(s=("start_ts", "min"), e=("end_ts", "max"))
    lt = ((span.e - span.s).dt.total_seconds()).reindex(cases.case_id).to_numpy()
    for r in lead.itertuples():
        inside = (cases.process == r.process).to_numpy()
        mine = inside & (cases.segment == r.group).to_numpy()
        assert r.value == pytest.approx(float(np.median(lt[mine])))
        assert r.other == pytest.approx(float(np.median(lt[inside & ~mine])))
    # the SLA-met share per process covers only the processes that have one
    sla = t[(t.metric == "sla_met") & (t.group == "(all)")]
    assert set(sla.process) == set(cases.loc[cases.sla_met.notna(), "process"])
    assert "never across processes" in " ".join(res.notes)


def test_tiny_drivers_stay_within_processes_and_skip_outcomes(tiny) -> None:
    log, _ = tiny
    res = drivers(log, resamples=200)
    factors = set(res.table.factor)
    # "loan applications take longer than service issues" only says the processes differ:
    # drivers are compared within processes and the process itself is not a driver
    assert "process" not in factors and "rework" in factors and res.within == "process"
    assert not {"csat", "nps", "ces", "sla_met", "effort", "customer_id", "contact_id"} & factors
    whole = drivers(log, resamples=200, process=None)
    loans = whole.table[(whole.table.factor == "process") & (whole.table.level == "loan_application")].iloc[0]
    assert loans.ratio > 5 and not loans.noise


# -- command line -----------------------------------------------------------------------------
def test_cli_segments_and_drivers_json(calls, tmp_path) -> None:
    _, raw = calls
    first = sorted(raw["case_id"].unique())[:4000]
    path = tmp_path / "calls.csv"
    raw[raw["case_id"].isin(first)].to_csv(path, index=False)
    runner = CliRunner()
    args = ["segments", str(path), "--by", "priority", "--resamples", "100", "--seed", "4", "--json"]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["by"] == "priority" and out["seed"] == 4 and out["sizes"]["0"] > 0
    assert json.loads(runner.invoke(cli, args).output)["rows"] == out["rows"]
    res = runner.invoke(
        cli, ["drivers", str(path), "--resamples", "100", "--factor", "priority", "--no-behaviours", "--json"]
    )
    assert res.exit_code == 0, res.output
    assert {e["factor"] for e in json.loads(res.output)["effects"]} == {"priority"}
    assert runner.invoke(cli, ["segments", str(path), "--by", "nope"]).exit_code != 0
    text = runner.invoke(
        cli, ["drivers", str(path), "--resamples", "50", "--factor", "type", "--no-behaviours"]
    )
    assert text.exit_code == 0 and "Slow-case drivers over 4,000 cases" in text.output
    text = runner.invoke(cli, ["segments", str(path), "--by", "type", "--resamples", "50"])
    assert text.exit_code == 0 and "median lead time:" in text.output


def test_report_sections_render(tiny) -> None:
    from flowlens.analysis.journeys import journeys
    from flowlens.report.drivers_section import drivers_section
    from flowlens.report.journeys_section import journeys_section
    from flowlens.report.segments_section import segments_section

    log, _ = tiny
    j = journeys(log, attributes=["segment"])
    seg = segments(log, "segment", resamples=100, journeys=j)
    for sec in (journeys_section(j), segments_section(seg), drivers_section(drivers(log, resamples=100))):
        assert sec.lead and sec.html.count("<svg") >= 1
        json.dumps(sec.data, default=str)
    assert segments_section(seg).id == "segments-segment"
