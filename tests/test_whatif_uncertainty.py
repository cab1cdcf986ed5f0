"""The what-if's own uncertainty: weekly bootstrap resamples, and savings on steps the
fidelity check gets wrong (methods §17.3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flowlens.errors import ConfigError
from flowlens.simulation import SimulationModel
from flowlens.simulation.fit import Observations, resample


def _weekly_obs() -> Observations:
    rng = np.random.default_rng(0)
    # 20 weeks of unequal volume: 5 to 40 cases a week
    first = (
        np.concatenate(
            [
                w * 7 * 86_400_000_000 + np.sort(rng.integers(0, 5 * 86_400_000_000, n))
                for w, n in enumerate(rng.integers(5, 40, 20))
            ]
        )
        + 4 * 86_400_000_000
    )  # 1970-01-05 was a Monday
    inst = pd.DataFrame({"case_idx": np.arange(len(first)), "s_us": first, "end_us": first + 1, "pos": 0})
    return Observations(inst, None, {}, "UTC", {}, {}, {}, {}, [], {}, len(first), False, "weeks")


def test_weekly_resamples_carry_the_weeks_volume() -> None:
    obs = _weekly_obs()
    copies = [resample(obs, s, by="week") for s in range(30)]
    vols = np.asarray([c.volume for c in copies])
    assert vols.std() > 0.02 and abs(vols.mean() - 1) < 0.1
    for c in copies[:5]:
        assert c.inst.case_idx.nunique() == round(c.volume * obs.n_cases)
    # deterministic, and a resample of cases keeps the count
    pd.testing.assert_frame_equal(resample(obs, 4, by="week").inst, copies[4].inst)
    assert resample(obs, 4).volume == 1.0 and resample(obs, 4).inst.case_idx.nunique() == obs.n_cases
    with pytest.raises(ConfigError, match="by must be one of case, week"):
        resample(obs, 1, by="day")


def test_a_saving_on_steps_the_fidelity_check_gets_wrong_is_flagged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from flowlens.simulation.model import example_model
    from flowlens.simulation.scenarios import Scenario
    from flowlens.simulation.whatif import concerned_steps, whatif

    base = SimulationModel.from_dict(example_model())
    check = Scenario.from_dict(
        {"name": "check", "change": [{"action": "add_resources", "activity": "Check", "count": 1}]}
    )
    decide = Scenario.from_dict({"name": "decide", "change": [{"action": "automate", "activity": "Decide"}]})
    assert concerned_steps(base, check) == ["Check"] and concerned_steps(base, decide) == ["Decide"]
    res = whatif(base, [check, decide], cases=100, start="2024-03-04", replications=3)
    off = [{"part": "waiting", "activity": "Check", "ct_share": 0.06}]
    res.fidelity = {"trusted": True, "steps_off": off}
    out = res.to_dict()["scenarios"]
    assert [(s["trusted"], s["fidelity_concerns"]) for s in out] == [(False, ["Check"]), (True, [])]
    # the text output says it next to the scenario, not only --json
    from flowlens.cli.whatif_cmd import _echo

    _echo({**res.to_dict(), "fidelity": {**res.to_dict()["fidelity"], "summary": ""}})
    text = capsys.readouterr().out
    assert text.count("NOT trusted: the fidelity check gets 'Check' wrong") == 1
    # a model that fails the check as a whole backs no saving
    res.fidelity = {"trusted": False, "steps_off": off}
    assert [s["trusted"] for s in res.to_dict()["scenarios"]] == [False, False]
    # without a fidelity check nothing is claimed either way
    res.fidelity = None
    assert "trusted" not in res.to_dict()["scenarios"][0]


def test_a_log_of_few_weeks_is_resampled_by_cases() -> None:
    obs = _weekly_obs()
    short = obs.inst[obs.inst.s_us < obs.inst.s_us.min() + 5 * 7 * 86_400_000_000]
    few = Observations(short, None, {}, "UTC", {}, {}, {}, {}, [], {}, len(short), False, "few")
    assert {resample(few, s, by="week").volume for s in range(10)} == {1.0}
