"""Counterfactual logs: same arrivals and streams; only cases in the remedy's scope change."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from flowlens.synth import REMEDIES

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _events(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path).set_index("event_id").sort_index()


@pytest.fixture(scope="module")
def base_events(tiny_dir: Path) -> pd.DataFrame:
    return _events(tiny_dir / "events.parquet")


@pytest.mark.parametrize("remedy", sorted(REMEDIES))
def test_untouched_cases_identical_event_for_event(
    tiny_dir: Path, base_events: pd.DataFrame, remedy: str
) -> None:
    tobe = _events(tiny_dir / "counterfactuals" / f"events_tobe_{remedy}.parquet")
    sav = pd.read_parquet(tiny_dir / "counterfactuals" / f"savings_{remedy}.parquet")
    in_scope = set(sav.loc[sav["in_scope"], "case_id"])
    outside_b = base_events[~base_events["case_id"].isin(in_scope)]
    outside_t = tobe[~tobe["case_id"].isin(in_scope)]
    pd.testing.assert_frame_equal(outside_b, outside_t)
    # Changed cases are all in scope, and the remedy changes something.
    changed = sav[sav["saving_s"].fillna(1).abs() > 1e-9]
    assert set(changed["case_id"]) <= in_scope
    summary = json.loads((tiny_dir / "counterfactuals" / "summary.json").read_text())[remedy]
    assert summary["cases_in_scope"] == len(in_scope)


@pytest.mark.parametrize(
    "remedy",
    [
        "no_aml_batching",
        "aml_reviewer_plus_one",
        "digital_form_instead_of_reentry",
        "better_bot_intents",
        "warm_handoff",
        "document_checklist",
    ],
)
def test_scope_is_narrower_than_the_resimulated_process(tiny_dir: Path, remedy: str) -> None:
    """The test above is not vacuous: some re-simulated cases are outside the scope."""
    sav = pd.read_parquet(tiny_dir / "counterfactuals" / f"savings_{remedy}.parquet")
    assert (~sav["in_scope"]).sum() > 0


def test_remedies_remove_their_waste(tiny_dir: Path) -> None:
    tobe = pd.read_parquet(tiny_dir / "counterfactuals" / "events_tobe_warm_handoff.parquet")
    base = pd.read_parquet(tiny_dir / "events.parquet")
    assert (base["activity"] == "Re-explain Issue").sum() > 0
    assert (tobe["activity"] == "Re-explain Issue").sum() == 0
    tobe = pd.read_parquet(tiny_dir / "counterfactuals" / "events_tobe_remove_second_approval.parquet")
    assert not tobe["activity"].isin(["Second Underwriter Review", "Second Approval"]).any()
    assert base["activity"].isin(["Second Underwriter Review", "Second Approval"]).any()


def test_savings_match_case_lead_times(tiny_dir: Path) -> None:
    cases = pd.read_parquet(tiny_dir / "cases.parquet").set_index("case_id")
    sav = pd.read_parquet(tiny_dir / "counterfactuals" / "savings_warm_handoff.parquet")
    sav = sav[sav["only_in"].isna()].set_index("case_id")
    lead = (cases["closed_ts"] - cases["opened_ts"]).dt.total_seconds()
    diff = (sav["lead_time_asis_s"] - lead.reindex(sav.index)).abs()
    assert (diff < 1e-3 + 1e-6 * lead.reindex(sav.index).abs()).all()
    assert (sav["saving_s"] == sav["lead_time_asis_s"] - sav["lead_time_tobe_s"]).all()


def test_warm_handoff_saves_time_for_the_cases_it_touches(tiny_dir: Path) -> None:
    gt = pd.read_parquet(tiny_dir / "ground_truth.parquet")
    sav = pd.read_parquet(tiny_dir / "counterfactuals" / "savings_warm_handoff.parquet")
    touched = set(gt.loc[gt["code"] == "W9", "case_id"])
    s = sav[sav["case_id"].isin(touched)]["saving_s"]
    assert len(s) > 0 and s.sum() > 0
