"""Readers: column detection and mapping, time zones, round trips, lifecycle pairing.

All logs are generated here, a few rows each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import flowlens
from conftest import run_cli
from flowlens.columns import ColumnMap
from flowlens.errors import ConfigError, InputError, MissingColumnError
from flowlens.io.writers import write_log

ROWS = [
    ("c1", "open", "2024-03-01 09:00:00", "ann"),
    ("c1", "close", "2024-03-01 10:00:00", "bob"),
    ("c2", "open", "2024-03-02 09:00:00", "ann"),
]


def csv_file(tmp_path: Path, header: list[str], rows: list[tuple[Any, ...]], name: str = "log.csv",
             encoding: str = "utf-8") -> Path:  # fmt: skip
    path = tmp_path / name
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in r) for r in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


# -- column detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (["Case ID", "Activity", "Complete Timestamp", "Resource"],
         ("Case ID", "Activity", "Complete Timestamp", "Resource")),
        (["caseid", "activity_name", "timestamp", "user"],
         ("caseid", "activity_name", "timestamp", "user")),
        (["case:concept:name", "concept:name", "time:timestamp", "org:resource"],
         ("case:concept:name", "concept:name", "time:timestamp", "org:resource")),
        (["CASE_ID", "Task", "End_Time", "Performer"],
         ("CASE_ID", "Task", "End_Time", "Performer")),
        (["案例编号", "活动名称", "完成时间", "处理人"], ("案例编号", "活动名称", "完成时间", "处理人")),
    ],
)  # fmt: skip
def test_column_names_detected(tmp_path: Path, header: list[str], expected: tuple[str, ...]) -> None:
    log = flowlens.read_log(csv_file(tmp_path, header, ROWS))
    m = log.columns
    assert (m.case, m.activity_columns[0], m.end, m.resource) == expected
    assert (log.n_cases, log.n_events) == (2, 3)


def test_chinese_headers_gb18030(tmp_path: Path) -> None:
    rows = [("A1", "受理", "2024-03-01 09:00:00", "张三"), ("A1", "审核", "2024-03-01 09:30:00", "李四")]
    path = csv_file(tmp_path, ["工单号", "环节", "时间", "经办人"], rows, encoding="gb18030")
    log = flowlens.read_log(path)
    assert log.source.encoding == "gb18030"
    assert (log.columns.case, log.columns.end, log.columns.resource) == ("工单号", "时间", "经办人")
    assert log.to_pandas().activity.tolist() == ["受理", "审核"]


def test_big5_is_not_read_as_gb18030(tmp_path: Path) -> None:
    """Big5 bytes mean other characters in GB18030: detected as Big5, never transcoded as GB;
    a detected (not declared) encoding is noted."""
    rows = [("K1", "開戶申請", "2024-03-01 09:00:00"), ("K1", "身份核驗", "2024-03-01 09:10:00"),
            ("K2", "貸款審批", "2024-03-02 10:00:00")]  # fmt: skip
    path = csv_file(tmp_path, ["客戶編號", "業務環節", "時間"], rows, encoding="big5")
    log = flowlens.read_log(path, ColumnMap(case="客戶編號", activity="業務環節", end="時間"))
    assert log.source.encoding == "big5"
    assert log.to_pandas().activity.tolist() == ["開戶申請", "身份核驗", "貸款審批"]
    assert any("big5 detected from the content" in n for n in log.source.notes)


def test_explicit_encoding(tmp_path: Path) -> None:
    rows = [("c1", "Café ouvert", "2024-03-01 09:00"), ("c1", "Fermé", "2024-03-01 10:00")]
    path = csv_file(tmp_path, ["case_id", "activity", "timestamp"], rows, encoding="latin-1")
    log = flowlens.read_log(path, encoding="latin-1")
    assert log.to_pandas().activity.tolist() == ["Café ouvert", "Fermé"]
    assert not any("detected from the content" in n for n in log.source.notes)
    with pytest.raises(InputError, match="unknown encoding 'klingon'"):
        flowlens.read_log(path, encoding="klingon")


def test_start_and_end_columns_detected(tmp_path: Path) -> None:
    rows = [("c1", "a", "2024-03-01 09:00", "2024-03-01 09:30")]
    log = flowlens.read_log(csv_file(tmp_path, ["case_id", "activity", "start_time", "end_time"], rows))
    assert (log.columns.start, log.columns.end) == ("start_time", "end_time")
    assert log.summary().has_start_times


def test_other_columns_become_attributes(tmp_path: Path) -> None:
    rows = [("c1", "a", "2024-03-01 09:00", "x", "3"), ("c1", "b", "2024-03-01 10:00", "y", "4")]
    path = csv_file(tmp_path, ["case_id", "activity", "timestamp", "channel", "amount"], rows)
    log = flowlens.read_log(path)
    assert log.columns.attributes == ("channel", "amount")
    df = log.to_pandas()
    assert df.amount.tolist() == [3, 4]  # typed where every value is an integer


# -- explicit mapping ----------------------------------------------------------------------------

ODD = ["Ticket", "Step", "When", "Who"]


def test_explicit_mapping(tmp_path: Path) -> None:
    path = csv_file(tmp_path, ODD, ROWS)
    # case and time are found from the content (the rows of a ticket are in one run; 'When'
    # reads as times), the activity by its name; 'Who' stays an attribute
    found = flowlens.read_log(path)
    assert (found.columns.case, found.columns.activity_columns, found.columns.end) == (
        "Ticket",
        ("Step",),
        "When",
    )
    assert found.source.roles["case"].startswith("content") and found.source.roles["end"].startswith(
        "content"
    )
    log = flowlens.read_log(path, ColumnMap(case="Ticket", activity="Step", end="When", resource="Who"))
    assert (log.n_cases, log.n_events, log.n_variants) == (2, 3, 2)
    assert log.to_pandas().resource.tolist() == ["ann", "bob", "ann"]


def test_explicit_mapping_wins_over_detection(tmp_path: Path) -> None:
    rows = [("c1", "x1", "a", "2024-03-01 09:00"), ("c1", "x2", "b", "2024-03-01 10:00")]
    path = csv_file(tmp_path, ["case_id", "other_id", "activity", "timestamp"], rows)
    log = flowlens.read_log(path, ColumnMap(case="other_id"))
    assert log.columns.case == "other_id"
    assert "case_id" in log.columns.attributes
    assert log.n_cases == 2


def test_explicit_mapping_unknown_column(tmp_path: Path) -> None:
    path = csv_file(tmp_path, ODD, ROWS)
    with pytest.raises(MissingColumnError, match=r"column 'Tiket' \(case\) not found.*'Ticket'"):
        flowlens.read_log(path, ColumnMap(case="Tiket", activity="Step", end="When"))


def test_activity_from_two_columns(tmp_path: Path) -> None:
    rows = [("c1", "review", "start", "2024-03-01 09:00"), ("c1", "review", "end", "2024-03-01 10:00")]
    path = csv_file(tmp_path, ["case_id", "step", "status", "timestamp"], rows)
    log = flowlens.read_log(path, ColumnMap(activity="step+status"))
    assert log.to_pandas().activity.tolist() == ["review+start", "review+end"]


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_mapping_file(tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = csv_file(tmp_path, ODD, ROWS)
    mapping = tmp_path / f"map{suffix}"
    if suffix == ".json":
        mapping.write_text(
            json.dumps({"case": "Ticket", "activity": "Step", "end": "When", "resource": "Who"})
        )
    else:
        mapping.write_text('case = "Ticket"\nactivity = ["Step"]\nend = "When"\nresource = "Who"\n')
    assert ColumnMap.from_file(mapping).case == "Ticket"
    code, out, err = run_cli(["inspect", str(path), "--mapping", str(mapping), "--json"], capsys)
    assert code == 0, err
    payload = json.loads(out)
    assert (payload["cases"], payload["events"], payload["resources"]) == (2, 3, 2)
    # options given on the command line win over the file
    code, out, err = run_cli(
        ["inspect", str(path), "--mapping", str(mapping), "--resource", "Step", "--json"], capsys
    )
    assert code == 0, err
    assert json.loads(out)["columns"]["resource"] == "Step"


@pytest.mark.parametrize(
    ("content", "suffix", "pattern"),
    [
        ('{"case": "Ticket", "actvity": "Step"}', ".json", r"unknown keys \['actvity'\]"),
        ('case = "Ticket"\ntimestamp = "When"\n', ".toml", r"unknown keys \['timestamp'\]"),
        ('{"case": 3}', ".json", r"'case' must be a column name"),
        ("case = [", ".toml", r"is not valid TOML"),
        ("[1, 2]", ".json", r"must hold an object"),
    ],
)
def test_mapping_file_errors(tmp_path: Path, content: str, suffix: str, pattern: str,
                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    mapping = tmp_path / f"map{suffix}"
    mapping.write_text(content)
    with pytest.raises(ConfigError, match=pattern):
        ColumnMap.from_file(mapping)
    path = csv_file(tmp_path, ODD, ROWS)
    code, _, err = run_cli(["inspect", str(path), "--mapping", str(mapping)], capsys)
    assert code == 2
    assert err.startswith("flowlens: error: ") and err.count("\n") == 1
    assert str(mapping) in err


def test_mapping_file_names_missing_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = csv_file(tmp_path, ODD, ROWS)
    mapping = tmp_path / "map.json"
    mapping.write_text('{"case": "Ticket", "activity": "Stage", "end": "When"}')
    code, _, err = run_cli(["inspect", str(path), "--mapping", str(mapping)], capsys)
    assert code == 2
    assert "column 'Stage' (activity) not found" in err
    assert "available columns: 'Ticket', 'Step', 'When', 'Who'" in err


# -- time zones ------------------------------------------------------------------------------------


def frame(times: list[str], **extra: Any) -> pd.DataFrame:
    return pd.DataFrame(
        {"case_id": "c1", "activity": [f"a{i}" for i in range(len(times))], "timestamp": times, **extra}
    )


def utc(log: flowlens.EventLog, col: str = "end") -> list[str]:
    return [t.tz_convert("UTC").strftime("%Y-%m-%d %H:%M") for t in log.to_pandas()[col]]


def test_naive_timestamps_take_the_zone() -> None:
    times = ["2024-07-01 09:00:00", "2024-07-01 10:30:00"]
    assert utc(flowlens.read_log(frame(times))) == ["2024-07-01 09:00", "2024-07-01 10:30"]
    log = flowlens.read_log(frame(times), tz="Asia/Shanghai")
    assert utc(log) == ["2024-07-01 01:00", "2024-07-01 02:30"]
    assert log.summary().start == "2024-07-01T09:00:00.000+08:00"
    log = flowlens.read_log(frame(times), tz="America/New_York")
    assert utc(log) == ["2024-07-01 13:00", "2024-07-01 14:30"]


def test_offsets_in_the_data_win_over_tz() -> None:
    times = ["2024-07-01T09:00:00+08:00", "2024-07-01T03:00:00Z", "2024-07-01 09:00:00"]
    log = flowlens.read_log(frame(times), tz="Europe/Amsterdam")
    # the first two carry their offsets; the naive one is Amsterdam summer time (UTC+2)
    assert utc(log) == ["2024-07-01 01:00", "2024-07-01 03:00", "2024-07-01 07:00"]


def test_dst_change_day_europe_amsterdam() -> None:
    """Wall-clock times around the DST changes of 2024 in Europe/Amsterdam."""
    spring = ["2024-03-31 01:30:00", "2024-03-31 03:30:00", "2024-03-31 04:00:00"]
    log = flowlens.read_log(frame(spring), tz="Europe/Amsterdam")
    assert utc(log) == ["2024-03-31 00:30", "2024-03-31 01:30", "2024-03-31 02:00"]
    ends = log.to_pandas().end
    assert (ends.iloc[1] - ends.iloc[0]) == pd.Timedelta(hours=1)  # not 2: the clock jumped
    assert [t.utcoffset() for t in ends] == [pd.Timedelta(hours=1), pd.Timedelta(hours=2),
                                             pd.Timedelta(hours=2)]  # fmt: skip
    autumn = ["2024-10-27 01:30:00", "2024-10-27 03:30:00"]
    log = flowlens.read_log(frame(autumn), tz="Europe/Amsterdam")
    ends = log.to_pandas().end
    assert ends.iloc[1] - ends.iloc[0] == pd.Timedelta(hours=3)  # the clock went back
    # the same instants read from a Parquet file with typed naive timestamps
    typed = frame(spring).assign(timestamp=pd.to_datetime(spring))
    assert utc(flowlens.read_log(typed, tz="Europe/Amsterdam")) == utc(
        flowlens.read_log(frame(spring), tz="Europe/Amsterdam")
    )


def test_dst_gap_quarantined_and_overlap_flagged() -> None:
    """A time that does not exist (spring) is set aside with the reason, never moved an hour;
    one that exists twice (autumn) is read by a stated rule and flagged."""
    times = ["2024-03-31 02:30:00", "2024-10-27 02:30:00", "2024-10-27T02:40:00+02:00", "2024-07-01 12:00:00"]
    log = flowlens.read_log(frame(times), tz="Europe/Amsterdam")
    ends = {a: t.tz_convert("UTC").strftime("%Y-%m-%d %H:%M") for a, t in zip(
        log.to_pandas().activity, log.to_pandas().end, strict=True)}  # fmt: skip
    assert "a0" not in ends  # 02:30 does not exist on 31 March in Amsterdam
    assert ends["a1"] == "2024-10-27 01:30"  # 02:30 twice: the second, 02:30 CET
    assert ends["a2"] == "2024-10-27 00:40"  # an offset settles it
    q = log.quarantine()
    assert q.source_row.tolist() == [1]
    assert q.reason.tolist() == ["nonexistent local time"]
    assert q.detail.iloc[0].startswith(
        "value timestamp=2024-03-31 02:30:00 does not exist in Europe/Amsterdam"
    )
    flag = log.quality.flags["ambiguous_local_times"]
    assert (flag.count, flag.cases) == (1, 1)
    assert "2024-10-27 02:30:00" in flag.description
    assert log.quality.balanced
    shanghai = flowlens.read_log(frame(times), tz="Asia/Shanghai")
    assert shanghai.quality.rows_quarantined == 0
    assert "ambiguous_local_times" not in shanghai.quality.flags


def test_timezone_recorded_in_summary_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = csv_file(tmp_path, ["case_id", "activity", "timestamp"], [r[:3] for r in ROWS])
    log = flowlens.read_log(path, tz="Asia/Shanghai")
    assert log.timezone == "Asia/Shanghai"
    assert log.summary().timezone == "Asia/Shanghai"
    assert "time zone Asia/Shanghai" in log.describe()
    code, out, _ = run_cli(["inspect", str(path), "--tz", "Asia/Shanghai", "--json"], capsys)
    assert code == 0
    payload = json.loads(out)
    assert payload["timezone"] == "Asia/Shanghai"
    assert payload["start"] == "2024-03-01T09:00:00.000+08:00"
    code, out, _ = run_cli(["inspect", str(path), "--json"], capsys)
    assert json.loads(out)["timezone"] == "UTC"


def test_unknown_timezone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = csv_file(tmp_path, ["case_id", "activity", "timestamp"], [r[:3] for r in ROWS])
    with pytest.raises(InputError, match="unknown time zone 'Mars/Olympus'"):
        flowlens.read_log(path, tz="Mars/Olympus")
    code, _, err = run_cli(["inspect", str(path), "--tz", "Mars/Olympus"], capsys)
    assert code == 2 and err.startswith("flowlens: error: unknown time zone")


def test_a_zone_in_the_wrong_case_is_refused_with_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # DuckDB reads 'utc' as UTC, Python's zoneinfo (times written back) does not: it crashed there
    path = csv_file(tmp_path, ["case_id", "activity", "timestamp"], [r[:3] for r in ROWS])
    code, _, err = run_cli(["inspect", str(path), "--tz", "asia/shanghai"], capsys)
    assert code == 2
    assert (
        err.strip()
        == "flowlens: error: unknown time zone 'asia/shanghai' (hint: did you mean 'Asia/Shanghai'?)"
    )
    with pytest.raises(InputError, match="did you mean 'UTC'"):
        flowlens.read_log(path, tz="utc")


def test_explicit_time_format(tmp_path: Path) -> None:
    rows = [("c1", "a", "03/04/2024 10:00"), ("c1", "b", "04/05/2024 11:00")]
    path = csv_file(tmp_path, ["case_id", "activity", "timestamp"], rows)
    log = flowlens.read_log(path, time_format="%m/%d/%Y %H:%M")
    assert utc(log) == ["2024-03-04 10:00", "2024-04-05 11:00"]
    log = flowlens.read_log(path, time_format="%d/%m/%Y %H:%M")
    assert utc(log) == ["2024-04-03 10:00", "2024-05-04 11:00"]
    with pytest.raises(ConfigError, match="neither a strptime pattern"):
        flowlens.read_log(path, time_format="dd/mm/yyyy")


# -- round trip ---------------------------------------------------------------------------------

COMPARED = ["case_id", "activity", "start", "end", "resource"]


def sample_log() -> flowlens.EventLog:
    df = pd.DataFrame(
        {
            "case_id": ["c1", "c1", "c1", "c2", "c2", "c3"],
            "activity": ["open", "check", "close", "open", "close", "open"],
            "start_time": ["2024-03-31 01:00:00", None, "2024-03-31 03:10:00.250",
                           "2024-03-30 09:00:00", "2024-03-30 10:00:00", "2024-04-02 08:00:00"],
            "end_time": ["2024-03-31 01:20:00", "2024-03-31 03:05:00", "2024-03-31 03:40:00",
                         "2024-03-30 09:30:00", "2024-03-30 10:15:00", "2024-04-02 08:45:00"],
            "resource": ["ann", "bob", None, "ann", "cid", "ann"],
            "amount": [10, 20, 30, 40, 50, 60],
            "score": [1.5, 2.25, None, 4.0, 5.5, 0.5],
            "vip": [True, False, True, False, True, True],
            "channel": ["web", "=1+1", "phone", "web", "-x", "李四"],
            "case:region": ["north", "north", "north", "south", "south", "east"],
        }
    )  # fmt: skip
    return flowlens.read_log(df, tz="Europe/Amsterdam")


@pytest.mark.parametrize("name", ["log.csv", "log.csv.gz", "log.parquet", "log.xes", "log.xes.gz"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    log = sample_log()
    # exact CSV for a tool-to-tool round trip; the default is spreadsheet-safe (next test)
    path = write_log(log, tmp_path / name, spreadsheet_safe=False)
    back = flowlens.read_log(path, tz="Europe/Amsterdam")
    assert back.quality.rows_quarantined == 0
    attrs = sorted(log.attributes)
    assert sorted(back.attributes) == attrs
    cols = COMPARED + attrs
    pd.testing.assert_frame_equal(
        back.to_pandas()[cols].reset_index(drop=True),
        log.to_pandas()[cols].reset_index(drop=True),
        check_dtype=False,
    )
    a, b = log.summary(), back.summary()
    assert (a.cases, a.events, a.activities, a.variants, a.start, a.end) == (
        b.cases, b.events, b.activities, b.variants, b.start, b.end
    )  # fmt: skip


def test_round_trip_spreadsheet_safe_csv(tmp_path: Path) -> None:
    path = write_log(sample_log(), tmp_path / "log.csv")
    text = path.read_text(encoding="utf-8")
    assert "'=1+1" in text and "'-x" in text


# -- lifecycle pairing ----------------------------------------------------------------------------

LIFECYCLE = [
    ("c1", "A", "2024-03-01 09:00", "schedule", "r1"),  # 1
    ("c1", "A", "2024-03-01 09:05", "start", "r1"),  # 2
    ("c1", "A", "2024-03-01 09:10", "suspend", "r1"),  # 3
    ("c1", "A", "2024-03-01 09:20", "resume", "r1"),  # 4
    ("c1", "A", "2024-03-01 09:30", "complete", "r1"),  # 5
    ("c1", "B", "2024-03-01 10:00", "start", "r2"),  # 6
    ("c1", "B", "2024-03-01 10:05", "start", "r3"),  # 7
    ("c1", "B", "2024-03-01 10:20", "complete", "r2"),  # 8: first in, first out -> row 6
    ("c1", "B", "2024-03-01 10:30", "ate_abort", "r3"),  # 9: closes row 7
    ("c1", "C", "2024-03-01 11:00", "start", "r1"),  # 10: never completes
    ("c1", "D", "2024-03-01 11:30", "complete", "r1"),  # 11: completion only
    ("c1", "E", "2024-03-01 12:00", "schedule", "r1"),  # 12: never started
    ("c1", "A", "2024-03-01 13:00", "suspend", "r1"),  # 13: outside any instance
    ("c2", "A", "2024-03-02 09:00", "START", "r1"),  # 14: case-insensitive values
    ("c2", "A", "2024-03-02 09:45", "Complete", "r1"),  # 15
]


def lifecycle_log(tmp_path: Path) -> flowlens.EventLog:
    header = ["case_id", "activity", "timestamp", "lifecycle:transition", "org:resource"]
    return flowlens.read_log(csv_file(tmp_path, header, LIFECYCLE))


def test_lifecycle_pairing(tmp_path: Path) -> None:
    log = lifecycle_log(tmp_path)
    assert log.has_lifecycle
    assert log.columns.lifecycle == "lifecycle:transition"
    df = log.to_pandas()
    got = [
        (r.case_id, r.activity, None if pd.isna(r.start) else r.start.strftime("%H:%M"),
         r.end.strftime("%H:%M"), r.resource, r.status, r.src_row)
        for r in df.itertuples()
    ]  # fmt: skip
    assert got == [
        ("c1", "A", "09:05", "09:30", "r1", "complete", 5),
        ("c1", "B", "10:00", "10:20", "r2", "complete", 8),
        ("c1", "B", "10:05", "10:30", "r3", "ate_abort", 9),
        ("c1", "D", None, "11:30", "r1", "complete", 11),
        ("c2", "A", "09:00", "09:45", "r1", "complete", 15),
    ]
    first = df.iloc[0]
    assert pd.Timestamp(int(first.schedule_us), unit="us", tz="UTC").strftime("%H:%M") == "09:00"
    assert int(first.suspended_us) == 10 * 60 * 1_000_000


def test_lifecycle_unmatched_rows_quarantined(tmp_path: Path) -> None:
    log = lifecycle_log(tmp_path)
    q = log.quarantine()
    assert dict(zip(q.source_row, q.reason, strict=True)) == {
        10: "start without completion",
        12: "schedule without start or completion",
        13: "suspend/resume outside an activity instance",
    }
    quality = log.quality
    assert quality.rows_read == 15
    assert quality.rows_read == quality.rows_kept + quality.rows_quarantined
    assert log.n_events == 5  # 12 rows kept pair into 5 activity instances
    assert quality.lifecycle["start"] == 5


def test_lifecycle_fifo_is_per_case_and_activity(tmp_path: Path) -> None:
    rows = [
        ("c1", "A", "2024-03-01 09:00", "start"),
        ("c2", "A", "2024-03-01 09:01", "start"),
        ("c1", "B", "2024-03-01 09:02", "start"),
        ("c2", "A", "2024-03-01 09:10", "complete"),
        ("c1", "B", "2024-03-01 09:20", "complete"),
        ("c1", "A", "2024-03-01 09:30", "complete"),
    ]
    log = flowlens.read_log(csv_file(tmp_path, ["case_id", "activity", "timestamp", "lifecycle"], rows))
    df = log.to_pandas()
    spans = {(r.case_id, r.activity): (r.start.strftime("%H:%M"), r.end.strftime("%H:%M"))
             for r in df.itertuples()}  # fmt: skip
    assert spans == {
        ("c1", "A"): ("09:00", "09:30"),
        ("c1", "B"): ("09:02", "09:20"),
        ("c2", "A"): ("09:01", "09:10"),
    }
    assert log.quality.rows_quarantined == 0


def test_sub_statuses_join_the_activity(tmp_path: Path) -> None:
    rows = [("c1", "A", "2024-03-01 09:00", "phone"), ("c1", "B", "2024-03-01 09:30", "web")]
    path = csv_file(tmp_path, ["case_id", "activity", "timestamp", "transition"], rows)
    log = flowlens.read_log(path)
    assert not log.has_lifecycle
    assert log.n_events == 2
    assert log.columns.activity_columns == ("activity", "transition")
    assert log.to_pandas().activity.tolist() == ["A+phone", "B+web"]
    assert any("not lifecycle transitions" in n for n in log.source.notes)
    # an explicit activity keeps the sub-status out of it
    kept = flowlens.read_log(path, ColumnMap(activity="activity"))
    assert kept.to_pandas().activity.tolist() == ["A", "B"]
    assert "transition" in kept.attributes.values()
    assert any("--activity activity+transition" in n for n in kept.source.notes)


def test_mostly_standard_lifecycle_sets_the_others_aside(tmp_path: Path) -> None:
    rows = [
        ("c1", "A", "2024-03-01 09:00", "start"),
        ("c1", "A", "2024-03-01 09:10", "complete"),
        ("c1", "B", "2024-03-01 09:20", "start"),
        ("c1", "B", "2024-03-01 09:25", "unknown"),
        ("c1", "B", "2024-03-01 09:30", "complete"),
    ]
    log = flowlens.read_log(csv_file(tmp_path, ["case_id", "activity", "timestamp", "lifecycle"], rows))
    assert log.has_lifecycle
    assert log.n_events == 2
    assert log.quality.quarantine_reasons == {"unknown lifecycle transition": 1}
    assert any("set aside as unknown transitions" in n for n in log.source.notes)


def test_explicit_lifecycle_is_paired(tmp_path: Path) -> None:
    rows = [("c1", "A", "2024-03-01 09:00", "start"), ("c1", "A", "2024-03-01 09:10", "phone"),
            ("c1", "A", "2024-03-01 09:20", "complete")]  # fmt: skip
    path = csv_file(tmp_path, ["case_id", "activity", "timestamp", "channel"], rows)
    log = flowlens.read_log(path, ColumnMap(lifecycle="channel"))
    assert log.has_lifecycle and log.n_events == 1
    assert log.quality.quarantine_reasons == {"unknown lifecycle transition": 1}
