"""Issue 12, "what it must show", first bullet: the what-if saving of a remedy, estimated from a
model fitted on the as-is log alone with the remedy written as a scenario file, against the
true saving the bank generator's counterfactual log gives (``benchmarks/whatif_truth.py``).

The targets: median relative error ≤ 10 %, the 95 % CI contains the truth for ≥ 90 % of the
remedies, the sign right for every remedy whose true saving is ≥ 1 % of the mean lead time.

* The **small** bank (the demo's first 28 days at half its volume, seed 21) runs the remedies
  on the loan, account-opening and card-dispute processes whose scenarios the actions can
  express; each (remedy, process) row must have its CI cover the truth, a relative error
  ≤ 10 % and, when material, the right sign. The rows the model gets wrong are strict xfails
  with the cause.
* The **demo** (seeds 21 and 22, every remedy: about 17 minutes) is marked slow and checks the
  issue's three figures over all rows; each is a strict xfail with what causes the miss.

A row is one remedy on one process it acts on: each process is a log and a model of its own.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from conftest import REPO, load_script

SEED = 21
REPLICATIONS = 10


B = load_script(REPO / "benchmarks" / "whatif_truth.py")

#: (remedy, process) -> why its CI misses the truth (strict xfail); None: it must cover it.
SMALL_ROWS: dict[tuple[str, str], str | None] = {
    ("remote_id_verification", "account_opening"): None,
    # covered since the estimate is the fitted model's saving: 46.7 h [31.1, 62.3] against 60.2 h
    # (the mean over refits was 44.7 h [29.6, 59.9]); the model still misses part of the
    # underwriters' relief (their staff-caused waits are calibrated fixed delays)
    ("document_checklist", "loan_application"): None,
    ("remove_second_approval", "loan_application"): None,
    ("no_wait_user_misuse", "loan_application"): (
        "on the small bank (~700 loans) un-parking 5 % of the loans reorders the underwriting "
        "queue (53 h before 'Validate Application') and the realised saving is -2.0 h where the "
        "parked time alone is +1.1 h; estimated 1.27 h [-0.87, 3.41] (the demo's truths, 1.7 and "
        "1.8 h, are inside): the model does not lengthen the queue the returning loans join"
    ),
    ("no_aml_batching", "account_opening"): None,
    # both zero to within 0.01 % of the lead time: 0.003 h [-0.032, 0.037] against -0.029 h
    ("cap_follow_up_calls", "loan_application"): None,
    ("no_chargeback_batching", "card_dispute"): None,
}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    remedies = sorted({r for r, _ in SMALL_ROWS})
    files = {
        r: {p: f for p, f in per.items() if (r, p) in SMALL_ROWS}
        for r, per in B.scenario_files(remedies).items()
    }
    rows, _ = B.run_seed(
        "small", SEED, files, tmp_path_factory.mktemp("whatif_truth"), REPLICATIONS, log=lambda m: None
    )
    return {(x.remedy, x.process): x for x in rows}


def _what(x: Any) -> str:
    return (
        f"{x.remedy} on {x.process}: estimated {x.est_h:.2f} h [{x.lo_h:.2f}, {x.hi_h:.2f}], "
        f"true {x.true_h:.2f} h ({x.true_pct:.1f} % of {x.asis_h:.1f} h)"
    )


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(
            k, id=f"{k[0]}/{k[1]}", marks=[pytest.mark.xfail(strict=True, reason=why)] if why else []
        )
        for k, why in SMALL_ROWS.items()
    ],
)
def test_small_ci_covers_truth(small: dict[tuple[str, str], Any], key: tuple[str, str]) -> None:
    assert small[key].covers, _what(small[key])


def test_small_sign_right_when_material(small: dict[tuple[str, str], Any]) -> None:
    """Every saving of at least 1 % of the mean lead time has the right sign."""
    wrong = [_what(x) for x in small.values() if x.material and not x.sign_right]
    assert not wrong, wrong
    assert sum(x.material for x in small.values()) >= 4  # the check has rows to bite on


@pytest.mark.xfail(
    strict=True,
    reason="five of the seven rows are off by more than 25 % (the underwriters' relief, the video "
    "call no action can add, savings near zero whose realisation is noise, one realisation's "
    "queue noise): median 40 %",
)
def test_small_median_relative_error(small: dict[tuple[str, str], Any]) -> None:
    errs = sorted(x.rel_err for x in small.values())
    assert float(np.median(errs)) <= B.MEDIAN_REL_ERR, [f"{e:.0%}" for e in errs]


def test_small_rows_are_all_there(small: dict[tuple[str, str], Any]) -> None:
    """Every row has a scenario file and a truth (no remedy silently left out)."""
    assert set(small) == set(SMALL_ROWS)
    assert all(math.isfinite(x.true_h) and math.isfinite(x.est_h) for x in small.values())


def _row(seed: int, true_h: float, est_h: float, half: float) -> Any:
    return B.Row(
        seed=seed,
        remedy="r",
        process="p",
        asis_h=100.0,
        baseline_h=100.0,
        true_h=true_h,
        est_h=est_h,
        lo_h=est_h - half,
        hi_h=est_h + half,
        replications=10,
    )


def test_pooled_judges_the_mean_of_the_seeds() -> None:
    """Pooled over k seeds: the truths' mean against the estimates' mean ± √Σh²/k (each seed's
    interval is where one realisation falls); one run's luck averages out."""
    rows = [_row(21, 12.0, 5.0, 4.0), _row(22, -2.0, 5.0, 4.0)]
    assert not any(x.covers for x in rows)  # each truth alone is outside its interval
    (p,) = B.pooled(rows)
    assert (p.seeds, p.true_h, p.est_h) == ((21, 22), 5.0, 5.0)
    assert math.isclose(p.ci_half_h, math.sqrt(32) / 2)
    assert p.covers and p.sign_right and p.rel_err == 0.0
    assert math.isclose(p.true_sd_h, float(np.std([12.0, -2.0], ddof=1)))
    s = B.pooled_summary([p])
    assert s["all"]["ci_coverage"] == 1.0 and s["material"]["rows"] == 1
    assert "pooled" not in B.table(rows) and "seeds" in B.pooled_table([p])


def test_scenario_files_by_process() -> None:
    files = B.scenario_files(None, ["complaint"])
    assert files and all(set(per) == {"complaint"} for per in files.values())
    assert "correct_routing" in files and "document_checklist" not in files


# ---------------------------------------------------------------------------------------
# the demo, every remedy, two seeds (slow)
# ---------------------------------------------------------------------------------------
DEMO_SEEDS = (21, 22)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("whatif_truth_demo")
    rows = []
    for seed in DEMO_SEEDS:
        rows += B.run_seed("demo", seed, B.scenario_files(), work, REPLICATIONS, log=lambda m: None)[0]
    return B.summary(rows)


COMMON = (
    "(seeds 21 and 22, 46 rows: {fig}). Causes, by row: scenarios the actions cannot express "
    "(no step can be added: the video call of remote ID verification), the consultant's upper "
    "bound where the log cannot tell which cases a remedy reaches (every repeat contact of a "
    "service issue), savings near zero (under 0.3 % of the lead time: 13 of the 46 rows) "
    "whose realisation is noise, the model (queues whose staff waits are calibrated fixed delays "
    "or batching, so freed capacity relieves nobody; no priorities by step, no "
    "abandonment that depends on the wait: a freed supervisor shortens the branch queue and "
    "fewer customers leave it), and the complaint truth itself: one realisation "
    "of a handler team 0.96-0.99 busy, whose last event is a lowest-priority callback; moving "
    "one complaint's arrival by an hour moves a remedy's complaint saving by 5-9 h (sd over six "
    "such realisations of one bank), and the complaints other processes trigger move with them"
)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason=COMMON.format(
        fig="median relative error 26 %, 16 % over the material rows (45 % and 25 % when the "
        "estimate was the mean over weekly refits, which near saturation sits above the fitted "
        "model's saving)"
    ),
)
def test_demo_median_relative_error(demo: dict[str, Any]) -> None:
    assert demo["all"]["median_relative_error"] <= B.MEDIAN_REL_ERR, demo["all"]


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason=COMMON.format(
        fig="CI coverage 74 % (34 of 46; 41 % before the interval kept the estimation error)"
    ),
)
def test_demo_ci_coverage(demo: dict[str, Any]) -> None:
    assert demo["all"]["ci_coverage"] >= B.COVERAGE, demo["all"]


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="the complaint truths of no_wait_user_misuse (-26.6 h, -15.5 h) and "
    "remove_second_approval (seed 21, -10.2 h) are negative while the estimates are +1.0 to "
    "+5.4 h. On seed 21 this is the generator's real effect, not one run's noise: over six "
    "realisations (one arrival moved by an hour) the truths are -14.6 h (sd 5.5) and -16.5 h "
    "(sd 8.8), all negative: at 0.99 utilisation the un-parked or sooner-approved complaints "
    "take the handlers' time the lowest-priority callbacks of the others would have had (to "
    "closure: -4.9 and +0.5 h). The model has neither the handlers' other work (its queues are "
    "emptier; the callback's wait is held as batching delay) nor priorities by step",
)
def test_demo_sign_right_when_material(demo: dict[str, Any]) -> None:
    assert not demo["sign_wrong_material"], demo["sign_wrong_material"]
