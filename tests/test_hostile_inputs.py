"""Hostile inputs the readers settle without guessing: repeated column names, NUL bytes in a
field, local times a daylight-saving change skips or repeats, XES events that give one key two
values.

All logs are generated here, a few rows each (CSV bytes written as they are, Parquet through
pyarrow), and no input file is modified.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import flowlens
from conftest import run_cli
from flowlens.errors import InputError, LogFormatError
from flowlens.io.writers import write_quarantine


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- two columns of one name -----------------------------------------------------------------

TWO_ACTIVITIES = (
    "case_id,activity,timestamp,activity\n"
    "1,open,2024-01-01 09:00,Open account\n"
    "1,close,2024-01-01 10:00,Close account\n"
)


def test_repeated_role_column_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "log.csv", TWO_ACTIVITIES)
    with pytest.raises(InputError) as info:
        flowlens.read_log(path)
    msg = str(info.value)
    assert "columns 2 and 4 are both named 'activity'" in msg
    assert "will not guess which one is the activity column" in msg
    assert "--activity 'activity#4'" in msg and "rename one of them" in msg
    code, out, err = run_cli(["inspect", str(path)], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "columns 2 and 4" in err


def test_repeated_name_given_bare_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", TWO_ACTIVITIES)
    with pytest.raises(InputError, match=r"columns 2 and 4 are both named 'activity'"):
        flowlens.read_log(path, flowlens.ColumnMap(activity="activity"))


def test_mapping_picks_one_by_position(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", TWO_ACTIVITIES)
    log = flowlens.read_log(path, flowlens.ColumnMap(activity="activity#4"))
    assert sorted(log.to_pandas().activity) == ["Close account", "Open account"]
    assert list(log.attributes.values()) == ["activity#2"]  # the other one, as an attribute
    note = " ".join(log.source.notes)
    assert "columns 2 and 4 are both named 'activity'" in note and "activity#4 as given" in note
    other = flowlens.read_log(path, flowlens.ColumnMap(activity="activity#2"))
    assert sorted(other.to_pandas().activity) == ["close", "open"]


def test_repeated_attribute_columns_are_kept_apart(tmp_path: Path) -> None:
    text = (
        "case_id,activity,timestamp,comment,comment,comment\n"
        "1,open,2024-01-01 09:00,a,b,c\n"
        "1,close,2024-01-01 10:00,d,e,f\n"
    )
    log = flowlens.read_log(write(tmp_path, "log.csv", text))
    df = log.to_pandas()
    names = {log.attributes[k]: k for k in log.attributes}
    assert set(names) == {"comment#4", "comment#5", "comment#6"}
    assert df[names["comment#5"]].tolist() == ["b", "e"]
    assert any("columns 4, 5 and 6 are all named 'comment'" in n for n in log.source.notes)


def test_identical_repeats_are_read_once(tmp_path: Path) -> None:
    text = (
        "case_id,activity,timestamp,activity\n1,open,2024-01-01 09:00,open\n1,close,2024-01-01 10:00,close\n"
    )
    log = flowlens.read_log(write(tmp_path, "log.csv", text))
    assert log.columns.activity_columns == ("activity",)
    assert not log.attributes
    assert any("hold the same values: read once (column 2)" in n for n in log.source.notes)


def test_repeated_names_in_parquet(tmp_path: Path) -> None:
    table = pa.table(
        [
            pa.array(["1", "1"]),
            pa.array(["a", "b"]),
            pa.array(["2024-01-01 09:00", "2024-01-01 10:00"]),
            pa.array(["x", "y"]),
        ],
        names=["case_id", "activity", "timestamp", "activity"],
    )
    path = tmp_path / "log.parquet"
    pq.write_table(table, path)
    with pytest.raises(InputError, match=r"columns 2 and 4 are both named 'activity'"):
        flowlens.read_log(path)
    log = flowlens.read_log(path, flowlens.ColumnMap(activity="activity#2"))
    assert sorted(log.to_pandas().activity) == ["a", "b"]


# -- NUL bytes -------------------------------------------------------------------------------

NUL_CSV = (
    b"case_id,activity,timestamp,resource,comment\n"
    b"1,open,2024-01-01 09:00,ann,ok\n"
    b"1,check,2024-01-01 10:00,bob,call\x00back\n"
    b"2,open,2024-01-01 11:00,ann,fine\n"
    b"2,cl\x00ose,2024-01-01 12:00,bob,fine\n"
    b"2,close,2024-01-01 13:00,bob,fine\n"
)


def test_nul_byte_quarantines_its_row(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", NUL_CSV)
    before = sha(path)
    log = flowlens.read_log(path)
    assert sha(path) == before
    q = log.quarantine()
    assert q.source_row.tolist() == [2, 4]
    assert set(q.reason) == {"NUL byte in a field"}
    assert q.detail.tolist() == [
        "column comment holds a NUL byte at character 5",
        "column activity holds a NUL byte at character 3",
    ]
    assert (log.quality.rows_read, log.quality.rows_kept, log.quality.rows_quarantined) == (5, 3, 2)
    assert log.quality.balanced
    assert sorted(log.to_pandas().activity) == ["close", "open", "open"]
    # no raw NUL in what is written out
    out = write_quarantine(log, tmp_path / "out" / "quarantine.csv")
    data = out.read_bytes()
    assert b"\x00" not in data and b"call\\x00back" in data


def test_nul_byte_in_parquet_value(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "case_id": ["1", "1", "1"],
            "activity": ["open", "Open account\x00]; evil [URL=<javascript:alert(1)>]", "close"],
            "timestamp": ["2024-01-01 09:00", "2024-01-01 10:00", "2024-01-01 11:00"],
        }
    )
    path = tmp_path / "log.parquet"
    df.to_parquet(path)
    log = flowlens.read_log(path)
    assert log.quarantine().reason.tolist() == ["NUL byte in a field"]
    assert "\x00" not in "".join(log.to_pandas().activity)


def test_binary_files_are_still_refused(tmp_path: Path) -> None:
    import random

    rng = random.Random(7)
    noise = bytes(rng.randrange(256) for _ in range(20_000))
    with pytest.raises(LogFormatError, match=r"binary data \(NUL bytes\)"):
        flowlens.read_log(write(tmp_path, "noise.csv", noise))
    utf16 = "case_id,activity,timestamp\n1,a,2024-01-01 09:00\n".encode("utf-16-le")
    with pytest.raises(LogFormatError, match=r"--encoding utf-16"):
        flowlens.read_log(write(tmp_path, "wide.csv", utf16))


# -- daylight saving -------------------------------------------------------------------------


def test_spring_forward_gap_is_quarantined_not_moved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "case_id,activity,start,end\n"
        "1,open,2024-03-31 01:10,2024-03-31 01:40\n"
        "1,check,2024-03-31 02:20,2024-03-31 03:20\n"  # starts at a time that does not exist
        "1,close,2024-03-31 03:30,2024-03-31 03:50\n"
        "2,open,2024-03-31 01:00,2024-03-31 02:59\n"  # ends at a time that does not exist
        "2,close,2024-03-31 04:00,2024-03-31 04:30\n"
    )
    path = write(tmp_path, "log.csv", text)
    log = flowlens.read_log(path, tz="Europe/Amsterdam")
    q = log.quarantine()
    assert q.source_row.tolist() == [2, 4]
    assert set(q.reason) == {"nonexistent local time"}
    assert q.detail.iloc[0].startswith("value start=2024-03-31 02:20:00 does not exist in Europe/Amsterdam")
    assert q.detail.iloc[1].startswith("value end=2024-03-31 02:59:00 does not exist in Europe/Amsterdam")
    kept = log.to_pandas()
    assert kept.activity.tolist() == ["open", "close", "close"]
    # the same file in a zone without that change keeps every row
    assert flowlens.read_log(path, tz="Asia/Shanghai").quality.rows_quarantined == 0
    code, out, _ = run_cli(["inspect", str(path), "--tz", "Europe/Amsterdam"], capsys)
    assert code == 0 and "2 nonexistent local time" in out


def test_gap_in_typed_naive_timestamps_and_other_zones(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "case_id": ["1", "1", "1"],
            "activity": ["a", "b", "c"],
            "timestamp": pd.to_datetime(["2024-03-10 01:30", "2024-03-10 02:30", "2024-03-10 03:30"]),
        }
    )
    path = tmp_path / "log.parquet"
    df.to_parquet(path)
    log = flowlens.read_log(path, tz="America/New_York")
    assert log.quarantine().source_row.tolist() == [2]
    assert log.quarantine().reason.tolist() == ["nonexistent local time"]
    # with an offset the time exists: nothing to set aside
    df["timestamp"] = ["2024-03-10T01:30:00-05:00", "2024-03-10T02:30:00-05:00", "2024-03-10T03:30:00-04:00"]
    assert flowlens.read_log(df, tz="America/New_York").quality.rows_quarantined == 0


def test_fall_back_times_are_flagged() -> None:
    df = pd.DataFrame(
        {
            "case_id": ["1", "1", "2", "2"],
            "activity": ["a", "b", "a", "b"],
            "timestamp": ["2024-10-27 01:50", "2024-10-27 02:10", "2024-10-27 02:40", "2024-10-27 03:10"],
        }
    )
    log = flowlens.read_log(df, tz="Europe/Amsterdam")
    assert log.quality.rows_quarantined == 0
    flag = log.quality.flags["ambiguous_local_times"]
    assert (flag.count, flag.cases) == (2, 2)
    assert "repeated when clocks go back" in flag.description
    assert "ambiguous_local_times" in log.quality.to_dict()["flags"]


# -- XES -------------------------------------------------------------------------------------

XES = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1.0">
<trace><string key="concept:name" value="c1"/>
<event><string key="concept:name" value="a"/><date key="time:timestamp" value="2024-01-01T09:00:00+00:00"/></event>
<event><string key="concept:name" value="b"/><string key="concept:name" value="evil"/>
<date key="time:timestamp" value="2024-01-01T10:00:00+00:00"/></event>
<event><string key="concept:name" value="c"/><string key="concept:name" value="c"/>
<date key="time:timestamp" value="2024-01-01T11:00:00+00:00"/></event>
</trace>
<trace><string key="concept:name" value="c2"/><string key="concept:name" value="c3"/>
<event><string key="concept:name" value="a"/><date key="time:timestamp" value="2024-01-02T09:00:00+00:00"/></event>
</trace>
</log>
"""


def test_xes_key_given_twice_sets_the_event_aside(tmp_path: Path) -> None:
    log = flowlens.read_log(write(tmp_path, "log.xes", XES))
    q = log.quarantine()
    assert q.source_row.tolist() == [2, 4]
    assert q.reason.tolist() == ["malformed row", "malformed row"]
    assert (
        q.detail.iloc[0] == "event attribute 'concept:name' given twice with different values ('b', 'evil')"
    )
    assert q.detail.iloc[1].startswith("trace attribute 'concept:name' given twice")
    assert log.to_pandas().activity.tolist() == ["a", "c"]  # the same value twice is no conflict
    assert log.quality.balanced
