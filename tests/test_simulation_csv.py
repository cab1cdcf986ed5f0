"""The simulated log's CSV (``flowlens.cli.simulate_cmd.write_log``): formatted a column at a
time in Arrow, byte for byte what pandas' ``to_csv`` writes, on hostile text, time zones with
daylight saving and odd offsets, missing values, numbers of every size and a simulated
LoanApp log."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import shared_path
from flowlens.cli.simulate_cmd import csv_text, iso_times, write_log

WORDS = ["a", "b,c", 'q"x', "line\nbreak", "cr\rx", "tab\tx", "nul\x00x", "é漢字", "", " sp ", "=1+2", '",\n']
ZONES = [
    "UTC",
    "Europe/Amsterdam",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/St_Johns",
]


def pandas_csv(frame: pd.DataFrame) -> bytes:
    """What write_log wrote before it formatted in Arrow (the reference)."""
    out = frame.assign(start_time=iso_times(frame["start_time"]), end_time=iso_times(frame["end_time"]))
    return out.to_csv(index=False).encode("utf-8")


def random_frame(rng: np.random.Generator, n: int, tz: str, rounding: int) -> pd.DataFrame:
    us = int(rng.integers(1_600_000_000, 1_800_000_000)) * 1_000_000 + rng.integers(0, 400 * 86400 * 10**6, n)
    us = us // rounding * rounding
    start = pd.to_datetime(us, unit="us", utc=True).tz_convert(tz)
    return pd.DataFrame(
        {
            "case_id": np.asarray([str(x) for x in rng.integers(-5, 10**6, n)], dtype=object),
            "activity": rng.choice(WORDS, n),
            "resource": pd.array(np.where(rng.random(n) < 0.3, None, rng.choice(WORDS, n)), dtype="str"),
            "start_time": start,
            "end_time": pd.to_datetime(us + rng.integers(0, 10**9, n), unit="us", utc=True).tz_convert(tz),
            "amount": np.where(
                rng.random(n) < 0.1, np.nan, rng.standard_normal(n) * 10.0 ** rng.integers(-8, 18, n)
            ),
            "count": rng.integers(-(10**12), 10**12, n),
            "flag": rng.random(n) < 0.5,
            "ratio": rng.random(n).astype(np.float32),
            'odd, "name"': np.asarray(rng.choice(WORDS, n), dtype=object),
            "enabled_time": start,
        }
    )


@pytest.mark.parametrize("tz", ZONES)
def test_csv_text_is_what_pandas_writes(tz: str) -> None:
    rng = np.random.default_rng(len(tz))
    for rounding in (1, 1000, 1_000_000):  # times with µs, with ms, whole seconds
        frame = random_frame(rng, 700, tz, rounding)
        chunks = csv_text(frame, iso=("start_time", "end_time"))
        assert chunks is not None
        assert b"".join(chunks) == pandas_csv(frame)
    empty = random_frame(rng, 0, tz, 1)
    assert b"".join(csv_text(empty, iso=("start_time", "end_time")) or []) == pandas_csv(empty)


def test_csv_text_leaves_what_it_does_not_cover_to_pandas(tmp_path: Path) -> None:
    t = pd.to_datetime(np.array([-3 * 10**15]), unit="us", utc=True).tz_convert("Europe/Amsterdam")
    assert csv_text(pd.DataFrame({"start_time": t, "end_time": t}), iso=("start_time", "end_time")) is None
    assert csv_text(pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": [1, 2]})) is None
    assert csv_text(pd.DataFrame({"a": [1, "x"], "b": [1, 2]}, dtype=object)) is None
    # write_log still writes such a frame, by pandas
    frame = random_frame(np.random.default_rng(1), 20, "UTC", 1).assign(
        count=pd.array([1, None] * 10, dtype="Int64")
    )
    path = tmp_path / "x.csv"
    write_log(frame, path)
    assert path.read_bytes() == pandas_csv(frame)


def test_write_log_on_a_simulated_loanapp_log(tmp_path: Path) -> None:
    import flowlens
    from flowlens.simulation import simulate
    from flowlens.simulation.fit import fit_model
    from flowlens.simulation.scenarios import Scenario

    model = fit_model(flowlens.read_log(shared_path("loanapp-train")))
    model.timezone = "Europe/Amsterdam"  # a daylight-saving change inside the run
    model = Scenario.from_dict({"change": [{"action": "remove", "activity": "AML check"}]}).apply(model)
    frame = simulate(model, cases=400, seed=3, start="2024-03-25T06:00:00", with_enabled=True)
    assert "enabled_time" in frame.columns and "work_s" in frame.columns
    for name in ("sim.csv", "sim.csv.gz"):
        write_log(frame, tmp_path / name)
    assert (tmp_path / "sim.csv").read_bytes() == pandas_csv(frame)
    assert gzip.decompress((tmp_path / "sim.csv.gz").read_bytes()) == pandas_csv(frame)
