"""Noise: every injected row is in the ground truth, and the reader catches exactly those."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import flowlens
from flowlens.io.writers import write_quarantine
from flowlens.synth import generate_bank
from flowlens.synth.noise import KINDS, parse_noise


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("noisy")
    generate_bank(
        "tiny",
        seed=21,
        out_dir=out,
        remedies="none",
        noise="missing_resource,duplicates,out_of_order,bad_timestamps",
    )
    return out


def _noise_counts(d: Path) -> dict[str, int]:
    gt = pd.read_parquet(d / "ground_truth.parquet")
    return gt[gt["kind"] == "noise"]["code"].value_counts().to_dict()


def test_noise_is_off_by_default(tiny_dir: Path) -> None:
    assert _noise_counts(tiny_dir) == {}


@pytest.mark.parametrize(
    "name, reason", [("events.parquet", "missing timestamp"), ("events.csv", "unparseable timestamp")]
)
def test_reader_quarantines_exactly_the_injected_rows(noisy: Path, name: str, reason: str) -> None:
    counts = _noise_counts(noisy)
    assert counts.get("N_DUPLICATE", 0) > 0 and counts.get("N_OUT_OF_ORDER", 0) > 0
    assert counts.get("N_MISSING_RESOURCE", 0) > 0
    q = flowlens.read_log(noisy / name).quality
    expected = {
        "exact duplicate": counts.get("N_DUPLICATE", 0),
        "end before start": counts.get("N_OUT_OF_ORDER", 0),
        reason: counts.get("N_BAD_TIMESTAMP", 0),
    }
    expected = {k: v for k, v in expected.items() if v}
    assert q.quarantine_reasons == expected
    assert q.rows_quarantined == sum(expected.values())
    assert q.flags["missing_resource"].count == counts["N_MISSING_RESOURCE"]


def test_quarantined_rows_are_the_recorded_ones(noisy: Path) -> None:
    gt = pd.read_parquet(noisy / "ground_truth.parquet")
    log = flowlens.read_log(noisy / "events.parquet")
    quarantine = noisy / "q.csv"
    write_quarantine(log, quarantine)
    q = pd.read_csv(quarantine)
    recorded = set(
        gt.loc[gt["code"].isin(["N_DUPLICATE", "N_OUT_OF_ORDER", "N_BAD_TIMESTAMP"]), "event_ids"].map(
            lambda ids: ids[0]
        )
    )
    assert set(q["event_id"]) == recorded


def test_other_noise_kinds(tmp_path: Path) -> None:
    generate_bank(
        "tiny",
        seed=21,
        out_dir=tmp_path,
        remedies="none",
        formats=("parquet",),
        noise="clock_skew,coarse_time,completion_only,label_variants,truncate,hashed_ids",
    )
    ev = pd.read_parquet(tmp_path / "events.parquet")
    counts = _noise_counts(tmp_path)
    assert counts.get("N_LABEL_VARIANT", 0) > 0
    assert ev["activity"].isin(["Verify ID", "Identity Verification"]).any()
    core = ev[ev["system"] == "CORE"]
    assert (core["start_ts"] == core["end_ts"]).all()
    los = ev[ev["system"] == "LOS"]
    assert (los["end_ts"].dt.second == 0).all()
    assert not ev["customer_id"].str.startswith("C0").any()
    q = flowlens.read_log(tmp_path / "events.parquet").quality
    assert q.rows_quarantined == 0


def test_parse_noise() -> None:
    assert parse_noise("all") == KINDS
    assert parse_noise(None) == () and parse_noise("none") == ()
