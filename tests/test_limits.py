"""Resource limits: ``--memory-limit``, ``--threads``, ``--temp-dir`` and their environment
variables reach the engine (checked in DuckDB's own settings); invalid values are one-line
errors; a query that runs out of memory is recomputed in slices of cases with the same result;
running queries can be interrupted.

All logs are generated here, a few rows each.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

import flowlens
import flowlens.io
from conftest import run_cli
from flowlens.engine import (
    ENGINE_SHARE,
    Limits,
    duckdb_engine,
    interrupt,
    parse_memory_limit,
    physical_memory,
    spark_config,
)
from flowlens.errors import ConfigError

ENV = ("FLOWLENS_MEMORY_LIMIT", "FLOWLENS_THREADS", "FLOWLENS_TEMP_DIR")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV:
        monkeypatch.delenv(var, raising=False)


def frame(cases: int = 3) -> pd.DataFrame:
    rows = []
    for c in range(cases):
        for k, act in enumerate(["open", "check", "close"]):
            rows.append((f"c{c}", act, f"2024-03-{1 + c:02d} {9 + k:02d}:00:00"))
    return pd.DataFrame(rows, columns=["case_id", "activity", "timestamp"])


def duckdb_says(nbytes: int) -> str:
    """How DuckDB itself shows a memory limit of ``nbytes``."""
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{nbytes}B'")
    return str(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("600MB", 600_000_000),
        ("6GB", 6_000_000_000),
        ("6 gb", 6_000_000_000),
        ("1.5GiB", 1_610_612_736),
        ("512MiB", 536_870_912),
        ("250000KB", 250_000_000),
    ],
)
def test_memory_sizes(text: str, expected: int) -> None:
    assert parse_memory_limit(text) == expected


def test_memory_share_of_the_machine() -> None:
    assert parse_memory_limit("50%") == pytest.approx(physical_memory() / 2, rel=1e-6)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("lots", r"'lots' is not a size"),
        ("600", r"'600' has no unit"),
        ("-1GB", r"is not a size"),
        ("6 apples", r"is not a size"),
        ("0%", r"not a share between 0 and 100"),
        ("150%", r"not a share between 0 and 100"),
        ("10MB", r"below the 100 MB flowlens needs"),
        ("999TB", r"more than this machine's memory"),
    ],
)
def test_invalid_memory_limit(text: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern) as info:
        parse_memory_limit(text)
    assert "\n" not in str(info.value)
    assert "hint:" in str(info.value)


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_invalid_threads(value: str) -> None:
    with pytest.raises(ConfigError, match=r"--threads .* is not a whole number of threads from 1 up"):
        Limits.resolve(threads=value, env={})


def test_temp_dir_must_be_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match=r"--temp-dir .* cannot hold spill files"):
        Limits.resolve(temp_dir=blocker / "sub", env={})
    made = Limits.resolve(temp_dir=tmp_path / "new" / "spill", env={}).temp_dir
    assert made is not None and made.is_dir()


# -- what reaches the engine -----------------------------------------------------------------


def test_read_log_sets_duckdb(tmp_path: Path) -> None:
    log = flowlens.read_log(frame(), memory_limit="1GB", threads=1, temp_dir=tmp_path)
    eng = log.engine
    assert eng.setting("memory_limit") == duckdb_says(int(1e9 * ENGINE_SHARE))
    assert eng.setting("threads") == "1"
    spill = Path(eng.setting("temp_directory"))
    assert spill.parent.parent == tmp_path  # DIR/flowlens-XXXX/spill: private to the run
    assert spill.parent.name.startswith("flowlens-")
    assert log.n_events == 9  # and the log still reads


def test_environment_variables_are_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLOWLENS_MEMORY_LIMIT", "700MB")
    monkeypatch.setenv("FLOWLENS_THREADS", "1")
    monkeypatch.setenv("FLOWLENS_TEMP_DIR", str(tmp_path))
    eng = flowlens.read_log(frame()).engine
    assert eng.setting("memory_limit") == duckdb_says(int(700e6 * ENGINE_SHARE))
    assert eng.setting("threads") == "1"
    assert Path(eng.setting("temp_directory")).parent.parent == tmp_path
    # an option given wins over the environment
    eng = flowlens.read_log(frame(), memory_limit="2GB", threads=2).engine
    assert eng.setting("memory_limit") == duckdb_says(int(2e9 * ENGINE_SHARE))
    assert eng.setting("threads") == "2"


def test_invalid_environment_variable_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWLENS_MEMORY_LIMIT", "plenty")
    with pytest.raises(ConfigError, match=r"^FLOWLENS_MEMORY_LIMIT 'plenty' is not a size"):
        flowlens.read_log(frame())


def test_no_limit_keeps_the_engine_defaults() -> None:
    eng = duckdb_engine()
    con = duckdb.connect()
    default = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    assert eng.setting("memory_limit") == default
    assert eng.limits == Limits()


def _capture_engines(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    made: list[Any] = []
    real = flowlens.io.duckdb_engine

    def spy(**kwargs: Any) -> Any:
        eng = real(**kwargs)
        made.append(eng)
        return eng

    monkeypatch.setattr(flowlens.io, "duckdb_engine", spy)
    return made


def test_cli_options_reach_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.csv"
    frame().to_csv(path, index=False)
    made = _capture_engines(monkeypatch)
    args = ["inspect", str(path), "--memory-limit", "800MB", "--threads", "1", "--temp-dir", str(tmp_path)]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    (eng,) = made
    assert eng.setting("memory_limit") == duckdb_says(int(800e6 * ENGINE_SHARE))
    assert eng.setting("threads") == "1"
    assert Path(eng.setting("temp_directory")).parent.parent == tmp_path


def test_cli_env_and_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.csv"
    frame().to_csv(path, index=False)
    made = _capture_engines(monkeypatch)
    monkeypatch.setenv("FLOWLENS_THREADS", "1")
    code, _, err = run_cli(["variants", str(path)], capsys)
    assert code == 0, err
    assert made[-1].setting("threads") == "1"
    code, _, err = run_cli(["variants", str(path), "--threads", "2"], capsys)
    assert code == 0, err
    assert made[-1].setting("threads") == "2"


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--memory-limit", "lots"], r"--memory-limit 'lots' is not a size"),
        (["--memory-limit", "5MB"], r"below the 100 MB"),
        (["--threads", "0"], r"--threads '0' is not a whole number"),
    ],
)
def test_cli_invalid_values_are_one_line(
    tmp_path: Path, args: list[str], pattern: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.csv"
    frame().to_csv(path, index=False)
    code, out, err = run_cli(["inspect", str(path), *args], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("flowlens: error: ")
    assert re.search(pattern, lines[0])
    assert "Traceback" not in err and out == ""


def test_every_log_command_has_the_options() -> None:
    import click

    from flowlens.cli import COMMANDS, cli

    ctx = click.Context(cli)
    for name in COMMANDS:
        cmd = cli.get_command(ctx, name)
        assert cmd is not None
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        if "log_path" in {p.name for p in cmd.params}:
            assert {"--memory-limit", "--threads", "--temp-dir"} <= opts, name


def test_spark_config_from_limits(tmp_path: Path) -> None:
    limits = Limits.resolve(memory_limit="4GB", threads=3, temp_dir=tmp_path, env={})
    conf = spark_config(limits, env={})
    assert conf["master"] == "local[3]"
    assert conf["spark.driver.memory"] == f"{int(4e9 * ENGINE_SHARE) // 2**20}m"
    assert Path(conf["spark.local.dir"]).parent == tmp_path
    default = spark_config(Limits(), env={})
    assert default["master"] == "local[2]"
    assert "spark.driver.memory" not in default and "spark.local.dir" not in default
    assert spark_config(Limits(), env={"FLOWLENS_SPARK_MASTER": "local[4]"})["master"] == "local[4]"


# -- running out of memory and stopping --------------------------------------------------------


class _OutOfMemoryOnce:
    """A DuckDB connection whose first ``CREATE [TEMP] TABLE`` fails as if out of memory."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self.failed = 0

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.startswith(("CREATE TEMP TABLE", "CREATE TABLE")) and not self.failed:
            self.failed += 1
            raise duckdb.OutOfMemoryException("Out of Memory Error: test")
        return self._con.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def test_out_of_memory_query_is_recomputed_in_slices() -> None:
    import ibis

    log = flowlens.read_log(frame(cases=9))
    t = log.table
    w = ibis.window(group_by=t.case_idx, order_by=t.pos)
    expr = t.select("eid", "case_idx", "activity", run=t.pos.count().over(w), span=t.end_us.max().over(w))
    expected = log.engine.materialize(expr).to_pandas().sort_values("eid").reset_index(drop=True)
    flaky = _OutOfMemoryOnce(log.engine.duckdb)  # type: ignore[arg-type]
    log.engine.duckdb = flaky  # type: ignore[assignment]
    got = log.engine.materialize(expr).to_pandas().sort_values("eid").reset_index(drop=True)
    assert flaky.failed == 1
    pd.testing.assert_frame_equal(got, expected)


def test_slices_cover_rows_without_a_case() -> None:
    import ibis

    log = flowlens.read_log(frame(cases=5))
    extra = ibis.memtable(pd.DataFrame({"case_idx": [None, -1], "activity": ["x", "y"]})).cast(
        {"case_idx": "int64"}
    )
    expr = log.table.select("case_idx", "activity").union(extra)
    eng = log.engine
    assert eng._materialize_in_slices("sliced", expr, slices=2)
    got = eng.table("sliced").to_pandas()
    assert len(got) == 15 + 2
    assert got.case_idx.isna().sum() == 1


def test_interrupt_stops_a_running_query() -> None:
    eng = duckdb_engine(threads=1)
    con = eng.duckdb
    assert con is not None
    outcome: dict[str, BaseException | None] = {}

    def long_query() -> None:
        try:
            con.execute(
                "SELECT count(*) FROM range(100000000000) a, range(10) b WHERE a.range % 7 = b.range"
            ).fetchall()
            outcome["error"] = None
        except BaseException as exc:  # the test records what stopped it
            outcome["error"] = exc

    worker = threading.Thread(target=long_query)
    worker.start()
    time.sleep(0.5)
    t0 = time.perf_counter()
    deadline = t0 + 10
    while worker.is_alive() and time.perf_counter() < deadline:
        assert interrupt() >= 1
        worker.join(0.2)
    assert not worker.is_alive()
    assert time.perf_counter() - t0 < 5
    assert isinstance(outcome["error"], duckdb.InterruptException)
