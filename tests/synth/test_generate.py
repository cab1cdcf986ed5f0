"""The generated files: schema, readability, determinism, options, CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import flowlens
from flowlens.cli import cli
from flowlens.errors import ConfigError
from flowlens.synth import generate_bank

EVENT_COLUMNS = [
    "event_id",
    "case_id",
    "process",
    "contact_id",
    "customer_id",
    "activity",
    "activity_zh",
    "start_ts",
    "end_ts",
    "lifecycle",
    "resource_id",
    "team",
    "channel",
    "system",
    "attrs",
]
GT_COLUMNS = [
    "gt_id",
    "kind",
    "code",
    "case_id",
    "process",
    "event_ids",
    "activity",
    "resource",
    "team",
    "customer_time_s",
    "staff_time_s",
    "wait_time_s",
    "removable",
    "removable_degree",
    "regulatory_required",
    "cause",
    "remedy",
    "params",
]


def _hashes(d: Path) -> dict[str, str]:
    return {
        str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(d.rglob("*"))
        if p.is_file()
    }


def test_files_and_schema(tiny_dir: Path) -> None:
    for name in (
        "events.parquet",
        "events.csv",
        "cases.parquet",
        "customers.parquet",
        "ground_truth.parquet",
        "ground_truth_summary.json",
        "bottleneck_truth.json",
        "README.md",
        "counterfactuals/summary.json",
    ):
        assert (tiny_dir / name).exists(), name
    ev = pq.read_table(tiny_dir / "events.parquet")
    assert ev.column_names == EVENT_COLUMNS
    assert str(ev.schema.field("start_ts").type) == "timestamp[ms, tz=UTC]"
    assert pq.read_table(tiny_dir / "ground_truth.parquet").column_names == GT_COLUMNS
    cases = pd.read_parquet(tiny_dir / "cases.parquet")
    assert set(cases["process"]) == {
        "account_opening",
        "loan_application",
        "card_dispute",
        "complaint",
        "service_issue",
    }
    assert 250 <= len(cases) <= 400
    df = ev.to_pandas()
    assert df["event_id"].is_unique
    assert (df["end_ts"] >= df["start_ts"]).all()
    assert set(df["case_id"]) == set(cases["case_id"])
    readme = (tiny_dir / "README.md").read_text()
    assert "seed 7" in readme and "flowlens generate bank --preset tiny --seed 7" in readme


def test_reads_with_zero_quarantine(tiny_dir: Path) -> None:
    for name in ("events.parquet", "events.csv"):
        log = flowlens.read_log(tiny_dir / name)
        assert log.quality.rows_quarantined == 0, name
        assert log.quality.rows_read == len(pd.read_parquet(tiny_dir / "events.parquet"))
        assert log.columns.case == "case_id" and log.columns.start == "start_ts"
        assert log.columns.resource == "resource_id"


def test_csv_times_carry_the_bank_offset(tiny_dir: Path) -> None:
    csv = pd.read_csv(tiny_dir / "events.csv", nrows=50)
    assert csv["start_ts"].str.endswith("+08:00").all()
    pq_ev = pd.read_parquet(tiny_dir / "events.parquet").head(50)
    parsed = pd.to_datetime(csv["end_ts"], format="ISO8601")
    assert (parsed.dt.tz_convert("UTC") == pq_ev["end_ts"]).all()


def test_ground_truth_refers_to_events_and_decoys_are_protected(tiny_dir: Path) -> None:
    gt = pd.read_parquet(tiny_dir / "ground_truth.parquet")
    ev_ids = set(pd.read_parquet(tiny_dir / "events.parquet", columns=["event_id"])["event_id"])
    for ids in gt["event_ids"]:
        assert set(ids) <= ev_ids
    decoys = gt[gt["kind"] == "decoy"]
    assert len(decoys) > 0
    assert decoys["regulatory_required"].all() and not decoys["removable"].any()
    assert (decoys["removable_degree"] == "no").all()
    assert set(decoys["code"]) >= {"D1", "D2", "D4"}
    wastes = gt[gt["kind"] == "waste"]
    assert not wastes["regulatory_required"].any() and wastes["removable"].all()
    assert set(wastes["removable_degree"]) <= {"yes", "mostly", "partly"}
    assert gt["gt_id"].is_unique
    summary = json.loads((tiny_dir / "ground_truth_summary.json").read_text())
    for code, row in summary.items():
        assert row["instances"] == int((gt["code"] == code).sum())
    bt = json.loads((tiny_dir / "bottleneck_truth.json").read_text())
    assert set(bt) == {f"B{i}" for i in range(1, 9)}


def test_gt_hints_in_attrs_match_truth(tiny_dir: Path) -> None:
    ev = pd.read_parquet(tiny_dir / "events.parquet", columns=["event_id", "attrs"])
    gt = pd.read_parquet(tiny_dir / "ground_truth.parquet")
    hinted = {}
    for eid, a in zip(ev["event_id"], ev["attrs"], strict=True):
        if isinstance(a, str):
            codes = json.loads(a).get("gt")
            if codes:
                hinted[eid] = set(codes)
    truth: dict[str, set[str]] = {}
    for ids, code, kind in zip(gt["event_ids"], gt["code"], gt["kind"], strict=True):
        if kind in ("waste", "bottleneck", "decoy"):
            for e in ids:
                truth.setdefault(e, set()).add(code)
    assert hinted == truth


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    kw = {"remedies": "warm_handoff,no_aml_batching"}
    generate_bank("tiny", seed=11, out_dir=a, jobs=1, command="cmd", **kw)
    # two forked workers, in a fresh interpreter: forking a process whose engines already run
    # threads (this test process has used DuckDB) is unsafe (generate_bank's docstring)
    code = (
        "from flowlens.synth.bank import generate_bank; "
        f"generate_bank('tiny', seed=11, out_dir={str(b)!r}, jobs=2, command='cmd', remedies={kw['remedies']!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    generate_bank("tiny", seed=12, out_dir=c, command="cmd", **kw)
    ha, hb, hc = _hashes(a), _hashes(b), _hashes(c)
    assert ha == hb
    assert set(ha) == set(hc)
    assert ha["events.parquet"] != hc["events.parquet"]
    assert ha["ground_truth.parquet"] != hc["ground_truth.parquet"]


def test_labels_zh_and_bpic17(tmp_path: Path) -> None:
    generate_bank("tiny", seed=7, out_dir=tmp_path / "zh", labels="zh", remedies="none", formats=("parquet",))
    ev = pd.read_parquet(tmp_path / "zh" / "events.parquet")
    assert (ev["activity"] == ev["activity_zh"]).all()
    assert "身份核验" in set(ev["activity"])
    generate_bank(
        "tiny", seed=7, out_dir=tmp_path / "b17", label_style="bpic17", remedies="none", formats=("parquet",)
    )
    ev = pd.read_parquet(tmp_path / "b17" / "events.parquet")
    loan = set(ev.loc[ev["process"] == "loan_application", "activity"])
    assert {"A_Submitted", "A_Concept", "W_Complete application", "O_Create Offer"} <= loan
    assert "Verify Identity" in set(ev["activity"])


def test_hide_ground_truth_strips_hints(tmp_path: Path) -> None:
    generate_bank(
        "tiny", seed=7, out_dir=tmp_path, hide_ground_truth=True, remedies="none", formats=("parquet",)
    )
    attrs = pd.read_parquet(tmp_path / "events.parquet")["attrs"].dropna()
    assert not any("gt" in json.loads(a) for a in attrs)
    assert (tmp_path / "ground_truth.parquet").exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"preset": "huge"}, "unknown preset 'huge'"),
        ({"labels": "fr"}, "unknown labels 'fr'"),
        ({"label_style": "bpic12"}, "unknown label style"),
        ({"noise": "gremlins"}, "unknown noise 'gremlins'"),
        ({"remedies": "magic"}, "unknown remedy 'magic'"),
        ({"formats": ("csv",)}, "must include parquet"),
        ({"formats": ("parquet", "xlsx")}, "unknown format 'xlsx'"),
        ({"sla": "MARS"}, "unknown SLA preset"),
        ({"seed": -1}, "non-negative"),
    ],
)
def test_bad_options_raise_config_error(tmp_path: Path, kwargs: dict, message: str) -> None:
    args = {"preset": "tiny", "out_dir": tmp_path, **kwargs}
    with pytest.raises(ConfigError, match=message):
        generate_bank(**args)


def test_cli_json_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        cli,
        [
            "generate",
            "bank",
            "--preset",
            "tiny",
            "--seed",
            "5",
            "-o",
            str(tmp_path),
            "--remedies",
            "none",
            "--formats",
            "parquet",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output)
    assert payload["seed"] == 5 and payload["preset"] == "tiny"
    assert payload["total_cases"] == sum(payload["cases"].values())
    assert "events.parquet" in payload["files"]
    bad = runner.invoke(cli, ["generate", "bank", "--preset", "tiny", "--labels", "xx", "-o", str(tmp_path)])
    assert bad.exit_code != 0 and isinstance(bad.exception, ConfigError)


def test_cli_main_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from flowlens.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["generate", "bank", "--preset", "nope", "-o", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == "flowlens: error: unknown preset 'nope'; choose one of tiny, demo, large"


def test_streaming_chunks_do_not_change_the_log(tmp_path: Path) -> None:
    """The large preset flushes finished cases per chunk; chunking must not change the data."""
    from flowlens.synth.presets import custom_preset

    generate_bank("tiny", seed=7, out_dir=tmp_path / "a", remedies="none", formats=("parquet",))
    generate_bank(
        custom_preset("tiny", chunk_days=1),
        seed=7,
        out_dir=tmp_path / "b",
        remedies="none",
        formats=("parquet",),
    )
    for name in ("events.parquet", "cases.parquet", "ground_truth.parquet"):
        a = pd.read_parquet(tmp_path / "a" / name)
        b = pd.read_parquet(tmp_path / "b" / name)
        key = "event_id" if name == "events.parquet" else ("case_id" if name == "cases.parquet" else "gt_id")
        a = a.sort_values(key).reset_index(drop=True)
        b = b.sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
    assert (
        pq.ParquetFile(tmp_path / "b" / "events.parquet").num_row_groups
        > pq.ParquetFile(tmp_path / "a" / "events.parquet").num_row_groups
    )


def test_xes_export(tmp_path: Path) -> None:
    generate_bank("tiny", seed=7, out_dir=tmp_path, remedies="none", formats=("parquet",), xes=True)
    log = flowlens.read_log(tmp_path / "events.xes.gz")
    n = len(pd.read_parquet(tmp_path / "events.parquet", columns=["event_id"]))
    assert log.summary().events == n
    assert log.quality.rows_quarantined == 0
