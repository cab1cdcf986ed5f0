"""``benchmarks/truth_noise.py``: the spread of the bank generator's true savings over
realisations of one bank (issue 12, a diagnostic of the what-if truth table)."""

from __future__ import annotations

import numpy as np

from conftest import REPO, load_script

N = load_script(REPO / "benchmarks" / "truth_noise.py")


def test_a_perturbed_realisation_moves_one_arrival_an_hour_and_keeps_time_order() -> None:
    from flowlens.synth.runner import Arrival

    arrivals = [Arrival(float(t), f"AO-{i:06d}", ("AO", i, 0)) for i, t in enumerate([0, 600, 1200, 5000])]
    moved = N.perturbed(arrivals, np.random.default_rng(0))
    assert sorted(a.t for a in moved) == [a.t for a in moved]
    shifted = {a.case_id: a.t for a in moved}
    changed = [a.case_id for a in arrivals if shifted[a.case_id] != a.t]
    assert len(changed) == 1
    assert shifted[changed[0]] - dict((a.case_id, a.t) for a in arrivals)[changed[0]] == 3600.0


def test_period_realisations_differ_and_a_remedy_that_acts_elsewhere_is_not_run() -> None:
    # one small account-opening process, two periods: the second has other arrivals and draws,
    # so its as-is mean lead time and its truth differ from the first's
    res = N.realisations(
        "small", 21, 2, ["account_opening"], ["aml_reviewer_plus_one", "warm_handoff"], "period"
    )
    p = res["processes"]["account_opening"]
    assert list(p["remedies"]) == ["aml_reviewer_plus_one"]
    assert p["asis_mean_lead_h"][0] != p["asis_mean_lead_h"][1]
    row = p["remedies"]["aml_reviewer_plus_one"]
    assert len(row["truth_h"]) == 2
    assert row["sd_h"] == round(float(np.std(row["truth_h"], ddof=1)), 4)


def test_rows_are_set_against_whatif_s_interval_in_units_of_the_truth_s_spread() -> None:
    noise = {
        "seed": 21,
        "processes": {
            "service_issue": {
                "remedies": {"warm_handoff": {"truth_h": [0.4, 0.2, 0.0], "mean_h": 0.2, "sd_h": 0.2}}
            }
        },
    }
    truth = {
        "per_seed": {
            "21": {
                "rows": [
                    {
                        "remedy": "warm_handoff",
                        "process": "service_issue",
                        "true_saving_h": 0.4,
                        "saving_mean_h": 0.1,
                        "saving_ci95_h": [0.05, 0.15],
                        "saving_mc_half_width_h": 0.02,
                        "replications": 10,
                        "ci_covers_truth": False,
                    }
                ]
            }
        }
    }
    (row,) = N.against_whatif(noise, truth)
    assert row["miss_in_truth_sd"] == 1.25  # (0.4 - 0.15) / 0.2
    assert row["ci_half_h"] == 0.05
