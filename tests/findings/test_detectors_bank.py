"""The framework's detectors against the bank generator's ground truth (seed 11, demo preset):
no-effect approvals (W6) at case level, batch delays (B2), and no decoy flagged for removal by
any registered detector."""

from __future__ import annotations

import pandas as pd
import pytest

from flowlens.findings.api import DETECTORS, find_wastes, load_detectors
from flowlens.findings.rank import REMOVAL_ACTIONS


@pytest.fixture(scope="module")
def own_report(bank_demo_seed11_log):  # type: ignore[no-untyped-def]
    """Only this module's detectors: W6 precision does not depend on the others' progress."""
    return find_wastes(
        bank_demo_seed11_log,
        seed=11,
        detectors=[
            "flowlens.findings.approvals:detect_no_effect_checks",
            "flowlens.findings.merge:detect_merge_candidates",
            "flowlens.findings.batching:detect_batch_delay",
        ],
    )


def precision_recall(flagged: set[str], truth: set[str]) -> tuple[float, float]:
    tp = len(flagged & truth)
    return (tp / len(flagged) if flagged else 0.0, tp / len(truth) if truth else 1.0)


def test_w6_no_effect_approvals_precision_recall(own_report, ground_truth: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    truth = set(ground_truth[ground_truth.code == "W6"].case_id)
    flagged = own_report.cases_of("no_effect_check")
    p, r = precision_recall(flagged, truth)
    assert len(truth) > 1000
    assert p >= 0.9 and r >= 0.9, f"W6: precision {p:.3f}, recall {r:.3f}"


def test_w6_customer_time_matches_truth(own_report, ground_truth: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    truth = ground_truth[ground_truth.code == "W6"].groupby("case_id").customer_time_s.sum()
    found = pd.Series(
        {c: v for f in own_report.actionable if f.kind == "no_effect_check" for c, v in f.per_case_s.items()}
    )
    both = truth.index.intersection(found.index)
    ratio = found[both].sum() / truth[both].sum()
    assert 0.8 <= ratio <= 1.25, f"customer time found / truth = {ratio:.2f}"


def test_risk_escalated_sign_off_is_kept(own_report, ground_truth: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    d5 = ground_truth[ground_truth.code == "D5"]
    kept = {(c, a) for f in own_report.regulatory for a in f.activities for c in f.case_ids}
    sign_off = d5[d5.process == "account_opening"]
    covered = sum((c, a) in kept for c, a in zip(sign_off.case_id, sign_off.activity, strict=True))
    assert covered >= 0.9 * len(sign_off)
    assert all(f.scenario.action not in REMOVAL_ACTIONS for f in own_report.regulatory)


def test_batches_found_and_aml_is_regulatory(own_report, ground_truth: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    batch = {f.activities[0]: f for f in own_report.of_kind("batch_delay")}
    b2 = ground_truth[ground_truth.code == "B2"]
    assert all(f.scenario.action == "unbatch" for f in batch.values())
    chargeback = next(a for a in batch if "chargeback" in a.lower())
    truth = set(b2[b2.activity == chargeback].case_id)
    p, r = precision_recall(set(batch[chargeback].case_ids), truth)
    assert p >= 0.9 and r >= 0.9
    aml = [f for a, f in batch.items() if "aml" in a.lower()]
    assert aml and all(f.regulatory and f.allow_reason for f in aml)


def test_merge_candidates_never_merge_approvals(own_report) -> None:  # type: ignore[no-untyped-def]
    from flowlens.findings.approvals import APPROVAL

    for f in own_report.of_kind("merge_candidate"):
        assert f.scenario.action == "merge"
        assert not any(APPROVAL.search(a) for a in f.activities)


def decoy_violations(report, ground_truth: pd.DataFrame) -> list[str]:  # type: ignore[no-untyped-def]
    decoys = ground_truth[ground_truth.kind == "decoy"]
    pairs = set(zip(decoys.case_id, decoys.activity, strict=True))
    bad = []
    for f in report.findings:
        if f.regulatory:
            if f.scenario.action in REMOVAL_ACTIONS:
                bad.append(f"regulatory finding with a removal: {f.title}")
            continue
        hits = sum((c, a) in pairs for c in f.case_ids for a in f.activities)
        if hits:
            bad.append(f"{f.detector}: '{f.title}' ({f.scenario.action}) touches {hits} decoy instances")
    return bad


def test_no_decoy_flagged_by_own_detectors(own_report, ground_truth: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    assert decoy_violations(own_report, ground_truth) == []


def test_no_decoy_flagged_by_any_detector(demo_report, ground_truth: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    assert decoy_violations(demo_report, ground_truth) == []


def test_registry_loads_strictly() -> None:
    # every registered detector module exists and imports (fails loudly once one is missing)
    loaded, missing = load_detectors(strict=True)
    assert missing == []
    modules = {d.entry.split(":")[0] for d in loaded}
    assert modules == {e.split(":")[0] for e in DETECTORS}


def test_report_section_leads_with_plain_sentences(own_report) -> None:  # type: ignore[no-untyped-def]
    from flowlens.report.findings_section import findings_section, plain_sentence

    s = findings_section(own_report)
    top = own_report.actionable[0]
    assert s.lead == f"The costliest: {plain_sentence(top)}." and "cases" in s.lead and "each" in s.lead
    assert "Required steps" in s.html and "All findings" in s.html
    assert s.data["findings"][0]["rank"] == 1
