"""Queues that do not settle in the log (methods §16.2, ``fitted.unsettled_queues``) and the
what-ifs that move one (not trusted, §17.3)."""

from __future__ import annotations

import pandas as pd
import pytest

import flowlens
from conftest import SHARED, shared_path
from flowlens.simulation.fit import Observations, _pools, observe, unsettled_queues
from flowlens.simulation.whatif import WhatIfResult, unsettled_concerns


def _found(obs: Observations) -> list[dict]:
    """The unsettled queues of a log's observations, with the pools a fit would make."""
    _, shares = _pools(obs.inst, obs.groups, obs.cal_of)
    return unsettled_queues(obs.inst, shares)


def _log(callbacks_at_end: bool, handle_minutes: int = 170) -> flowlens.EventLog:
    """One handler, 120 cases over 15 days, busy with them nearly all the time: 'Handle' when
    the case arrives, then 'Call back' right after it, or (``callbacks_at_end``) all the calls
    in a run after the last case, as a handler does who calls back only when nothing else
    waits (the calls then wait on her, not on the customer: §7.1 contention)."""
    t0 = pd.Timestamp("2024-03-04 09:00")
    rows = []
    end_of_calls = t0 + pd.Timedelta(days=16)
    for i in range(120):
        arrive = t0 + pd.Timedelta(hours=3 * i)
        rows.append((f"c{i}", "Handle", arrive, arrive + pd.Timedelta(minutes=handle_minutes), "ann"))
        call = (
            end_of_calls + pd.Timedelta(minutes=10 * i)
            if callbacks_at_end
            else arrive + pd.Timedelta(minutes=172)
        )
        rows.append((f"c{i}", "Call back", call, call + pd.Timedelta(minutes=5), "ann"))
    frame = pd.DataFrame(rows, columns=["case_id", "activity", "start_time", "end_time", "resource"])
    return flowlens.read_log(frame)


def test_a_step_served_only_once_the_other_work_runs_out_is_an_unsettled_queue() -> None:
    obs = observe(_log(callbacks_at_end=True))
    found = _found(obs)
    assert [u["activity"] for u in found] == ["Call back"]
    (u,) = found
    assert u["started_mid"] == 0 and u["enabled_mid"] >= 30
    # every case waits for its call until the handler's cases stop coming
    assert u["wait_per_case_h"] == pytest.approx(u["mean_wait_h"]) and u["mean_wait_h"] > 24
    assert u["affected"] == ["Call back", "Handle"]


def test_a_step_that_waits_on_the_customer_is_not() -> None:
    """The same calls at the end, but the handler has little else to do (20 minutes in every 3
    hours): the calls wait while she is idle, on the customer (extraneous, §7.1), which the model
    draws as a delay: no backlog of the pool's."""
    assert _found(observe(_log(callbacks_at_end=True, handle_minutes=20))) == []


def test_a_step_done_as_its_work_comes_is_not() -> None:
    obs = observe(_log(callbacks_at_end=False))
    assert _found(obs) == []


def _result(moved: list[list[str]], fidelity: dict | None = None) -> WhatIfResult:
    unsettled = [
        {
            "activity": "Call back",
            "pools": ["P01 Call back +1"],
            "enabled_mid": 60,
            "started_mid": 0,
            "mean_wait_h": 300.0,
            "wait_per_case_h": 300.0,
            "affected": ["Call back", "Handle"],
        }
    ]
    scenarios = [{"name": f"s{i}", "saving_mean_h": 1.0} for i in range(len(moved))]
    queues = [unsettled_concerns(unsettled, m) for m in moved]
    res = WhatIfResult(1, 2, 10, True, {}, scenarios, concerns=moved, queues=queues)
    res.fidelity = fidelity
    return res


def test_a_what_if_that_moves_an_unsettled_queue_is_not_trusted_and_says_why() -> None:
    out = _result([["Handle"], ["Other"]]).to_dict()["scenarios"]
    assert out[0]["trusted"] is False
    assert out[0]["queue_concerns"][0]["activity"] == "Call back"
    assert (
        "(300 h of the mean lead time), and what this change does to it, depends on when that backlog clears"
        in (out[0]["queue_concerns"][0]["reason"])
    )
    # a scenario on steps of cases the pool never works on is left as it was
    assert out[1]["queue_concerns"] == [] and "trusted" not in out[1]
    # a model that passes the fidelity check does not make it trusted
    fid = {"trusted": True, "steps_off": []}
    out = _result([["Handle"], ["Other"]], fid).to_dict()["scenarios"]
    assert [s["trusted"] for s in out] == [False, True]


def test_without_unsettled_queues_the_output_is_as_before() -> None:
    res = _result([["Handle"]], {"trusted": True, "steps_off": []})
    res.queues = []
    (s,) = res.to_dict()["scenarios"]
    assert "queue_concerns" not in s and s["trusted"] is True


@pytest.mark.parametrize(
    "name", ["loanapp-train", "purchasing", "insurance-claims", "bpic2012-w", "bank-callcenter", "receipt"]
)
def test_no_unsettled_queue_on_the_shared_logs(name: str) -> None:
    obs = observe(flowlens.read_log(shared_path(name), **SHARED[name][1]))
    assert _found(obs) == []


def test_the_text_output_gives_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    from flowlens.cli.whatif_cmd import _echo
    from flowlens.simulation import SimulationModel
    from flowlens.simulation.model import example_model
    from flowlens.simulation.scenarios import Scenario
    from flowlens.simulation.whatif import whatif

    base = SimulationModel.from_dict(example_model())
    base.fitted["unsettled_queues"] = [
        {
            "activity": "Decide",
            "pools": ["P"],
            "enabled_mid": 80,
            "started_mid": 3,
            "mean_wait_h": 120.0,
            "affected": ["Check", "Decide"],
        }
    ]
    check = Scenario.from_dict({"name": "check", "change": [{"action": "automate", "activity": "Check"}]})
    out = whatif(base, [check], cases=100, start="2024-03-04", replications=3).to_dict()
    assert out["scenarios"][0]["trusted"] is False
    _echo(out)
    text = capsys.readouterr().out
    assert (
        text.count("NOT trusted: 'Decide' is started 3 times in the middle half of the log against 80") == 1
    )


def test_a_branch_set_elsewhere_does_not_move_the_queue() -> None:
    from flowlens.simulation import SimulationModel
    from flowlens.simulation.model import example_model
    from flowlens.simulation.scenarios import Scenario
    from flowlens.simulation.whatif import moved_steps

    m = SimulationModel.from_dict(example_model())
    ways = [tr["next"] for tr in m.control_flow["transitions"] if len(tr["next"]) > 1]
    to = sorted(ways[0])[0]
    s = Scenario.from_dict({"name": "b", "change": [{"action": "set_branch", "to": to, "probability": 0.5}]})
    assert to in moved_steps(m, s) and set(moved_steps(m, s)) <= set(ways[0])
    more = Scenario.from_dict({"name": "m", "change": [{"action": "scale_arrivals", "factor": 1.1}]})
    assert moved_steps(m, more) == sorted(m.activities)


def test_flowlens_fit_names_the_unsettled_queue_in_its_text(tmp_path) -> None:
    from click.testing import CliRunner

    from flowlens.cli import cli

    log = tmp_path / "calls.csv"
    _log(callbacks_at_end=True).to_pandas().to_csv(log, index=False)
    res = CliRunner().invoke(cli, ["fit", str(log), "-o", str(tmp_path / "model.json")])
    assert res.exit_code == 0, res.output
    (line,) = [x for x in res.output.splitlines() if "unsettled" in x]
    assert "'Call back' started 0 times" in line and "not trusted" in line
