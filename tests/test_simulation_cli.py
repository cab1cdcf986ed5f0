"""The simulation commands: ``flowlens fit``, ``simulate`` and ``fidelity`` (round trip,
determinism, replications, one-line errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import flowlens
from conftest import run_cli
from test_simulation_fidelity import small_log

START = "2024-04-01T08:00"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("simcli")
    small_log().to_csv(d / "log.csv", index=False)
    return d


@pytest.fixture(scope="module")
def model(work: Path) -> Path:
    from flowlens.cli import main

    path = work / "model.json"
    try:
        main(["fit", str(work / "log.csv"), "-o", str(path), "--json"])
    except SystemExit as exc:  # pragma: no cover - a failure shows in the assert below
        assert exc.code == 0
    return path


def test_fit_writes_a_model_and_summarises_it(
    work: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flowlens.simulation.model import SimulationModel

    m = SimulationModel.load(model)
    assert m.activity_names() == ["Check", "Decide", "Register"]
    code, out, err = run_cli(["fit", str(work / "log.csv"), "-o", str(work / "m2.json"), "--json"], capsys)
    assert code == 0, err
    s = json.loads(out)
    assert s["activities"] == 3 and s["order"] in (1, 2, 3)
    assert s["arrivals_per_day"] > 0 and s["fitted"]["cases"] == 150
    # fitting is deterministic: the same log gives the same file
    assert (work / "m2.json").read_bytes() == model.read_bytes()
    code, out, _ = run_cli(["fit", str(work / "log.csv"), "-o", str(work / "m3.json")], capsys)
    assert code == 0 and "activities  3" in out and "arrivals" in out


def test_simulate_round_trip_and_same_seed_same_bytes(
    work: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["simulate", str(model), "--cases", "40", "--start", START, "--seed", "3"]
    a, b = work / "a.csv", work / "b.csv"
    assert run_cli([*args, "-o", str(a)], capsys)[0] == 0
    assert run_cli([*args, "-o", str(b)], capsys)[0] == 0
    assert a.read_bytes() == b.read_bytes()
    head = a.read_text().splitlines()[0]
    assert head.startswith("case_id,activity,resource,start_time,end_time")
    df = pd.read_csv(a)
    assert df["start_time"].str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$").all()
    log = flowlens.read_log(a)  # every flowlens command reads a simulated log
    assert log.n_cases == 40 and log.quality.rows_quarantined == 0
    assert log.summary().start.startswith("2024-04-01T08:00")
    # another seed, another log
    assert run_cli([*args[:-1], "4", "-o", str(work / "c.csv")], capsys)[0] == 0
    assert (work / "c.csv").read_bytes() != a.read_bytes()


def test_replications_in_a_folder_do_not_depend_on_jobs(
    work: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["simulate", str(model), "--cases", "30", "--start", START, "--seed", "5", "--replications", "3"]
    code, out, err = run_cli([*args, "--jobs", "2", "-o", str(work / "sims2"), "--json"], capsys)
    assert code == 0, err
    rep = json.loads(out)
    assert [r["seed"] for r in rep["runs"]] == [5, 6, 7]
    assert run_cli([*args, "--jobs", "1", "-o", str(work / "sims1")], capsys)[0] == 0
    for i in range(3):
        one, two = work / "sims1" / f"sim_{i}.csv", work / "sims2" / f"sim_{i}.csv"
        assert one.read_bytes() == two.read_bytes()
    # replica 0 is the single run with the same seed
    single = work / "single.csv"
    assert run_cli([*args[:-2], "-o", str(single)], capsys)[0] == 0
    assert single.read_bytes() == (work / "sims1" / "sim_0.csv").read_bytes()
    assert json.loads((work / "sims1" / "tool_report.json").read_text())["replications"] == 3


def test_simulate_a_log_into_parquet(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = work / "fromlog.parquet"
    code, _, err = run_cli(
        ["simulate", str(work / "log.csv"), "--cases", "20", "--start", START, "-o", str(out)], capsys
    )
    assert code == 0, err
    assert flowlens.read_log(out).n_cases == 20


def _edited(model: Path, work: Path, name: str, edit) -> Path:  # type: ignore[no-untyped-def]
    d = json.loads(model.read_text())
    edit(d)
    p = work / name
    p.write_text(json.dumps(d))
    return p


def _one_line_error(code: int, err: str) -> str:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("flowlens: error: ")
    return lines[0]


def test_one_line_errors(work: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim = ["--cases", "5", "--start", START, "-o", str(work / "x.csv")]
    line = _one_line_error(*run_cli(["simulate", str(work / "missing.json"), *sim], capsys)[::2])
    # MODEL.json or LOG: a missing .json is named as the model file it stands for, before anything loads
    assert "missing.json: no such model file" in line and "flowlens fit" in line

    def negative(d):  # type: ignore[no-untyped-def]
        d["arrivals"]["intensity"][2][10] = -3

    line = _one_line_error(
        *run_cli(["simulate", str(_edited(model, work, "neg.json", negative)), *sim], capsys)[::2]
    )
    assert "arrivals.intensity[2][10]" in line and "-3" in line

    def unknown(d):  # type: ignore[no-untyped-def]
        d["control_flow"]["transitions"][0]["next"] = {"Registr": 1.0}

    line = _one_line_error(
        *run_cli(["simulate", str(_edited(model, work, "unk.json", unknown)), *sim], capsys)[::2]
    )
    assert "control_flow.transitions[0].next" in line and "'Registr'" in line and "'Register'" in line

    def no_sum(d):  # type: ignore[no-untyped-def]
        nxt = d["control_flow"]["transitions"][-1]["next"]
        nxt[next(iter(nxt))] *= 0.5

    line = _one_line_error(
        *run_cli(["simulate", str(_edited(model, work, "sum.json", no_sum)), *sim], capsys)[::2]
    )
    assert "control_flow.transitions[" in line and "not 1" in line

    small = work / "few.csv"
    df = pd.read_csv(work / "log.csv")
    df[df["case_id"].isin(sorted(df["case_id"].unique())[:12])].to_csv(small, index=False)
    line = _one_line_error(*run_cli(["fit", str(small), "-o", str(work / "few.json")], capsys)[::2])
    assert "12 cases" in line and "at least 30" in line

    line = _one_line_error(
        *run_cli(["simulate", str(model), "--start", START, "-o", str(work / "x.csv")], capsys)[::2]
    )
    assert "--cases" in line and "--until" in line
    line = _one_line_error(
        *run_cli(
            ["simulate", str(model), "--cases", "5", "--replications", "2", "-o", str(work / "x.csv")], capsys
        )[::2]
    )
    assert "give a folder" in line
    line = _one_line_error(
        *run_cli(
            ["simulate", str(model), "--cases", "5", "--start", "soonish", "-o", str(work / "x.csv")], capsys
        )[::2]
    )
    assert "--start 'soonish'" in line
    # an input is never overwritten
    line = _one_line_error(*run_cli(["fit", str(work / "log.csv"), "-o", str(work / "log.csv")], capsys)[::2])
    assert "is the input" in line


def test_fidelity_command(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["fidelity", str(work / "log.csv"), "--k", "2", "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["k"] == 2 and d["mode"] == "chronological_split"
    assert set(d["metrics"]) >= {"ngram_2", "ctd_h", "ct_mean_rel_err"}
    assert isinstance(d["verdict"]["trust"], bool)
    code, out, err = run_cli(["fidelity", str(work / "log.csv"), "--k", "2"], capsys)
    assert code == 0, err
    assert "CTD h" in out and "verdict:" in out and "arrivals" in out and "waiting" in out
    line = _one_line_error(
        *run_cli(["fidelity", str(work / "log.csv"), "--test-log", str(work / "nope.csv")], capsys)[::2]
    )
    assert "nope.csv" in line


@pytest.mark.parametrize("cmd", ["fit", "simulate", "fidelity"])
def test_help(cmd: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli([cmd, "--help"], capsys)
    assert code == 0 and "Examples:" in out and "--json" in out
