"""Real exports' shapes: attribute names that collide with roles, wide files, coarse times.

Every log here is generated in the test, a few rows each (the 1,000-column file too).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import flowlens


def write_collision_xes(path: Path, traces: int = 12) -> Path:
    """An XES whose events carry ``Resource``/``Activity`` next to ``org:resource`` /
    ``concept:name``, ``activity`` in lower case, and keys named like canonical columns."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<log xes.version="1.0">']
    for c in range(traces):
        out.append(
            f'<trace><string key="concept:name" value="c{c}"/><string key="Activity" value="g{c % 3}"/>'
        )
        for i, act in enumerate(("register", "check", "decide")):
            out.append(
                f'<event><string key="concept:name" value="{act}"/>'
                f'<string key="org:resource" value="r{(c + i) % 4}"/>'
                f'<string key="Resource" value="R{i}"/><string key="Activity" value="A{i}"/>'
                f'<string key="activity" value="low{i}"/><string key="pos" value="p{i}"/>'
                f'<date key="time:timestamp" value="2024-01-{1 + c:02d}T{9 + i:02d}:00:00+01:00"/></event>'
            )
        out.append("</trace>")
    out.append("</log>")
    path.write_text("\n".join(out), encoding="utf-8")
    return path


def assert_attributes_exist(log: flowlens.EventLog) -> None:
    missing = [c for c in log.attributes if c not in log.table.columns]
    assert not missing, f"attributes {missing} are not columns of {log.table.columns}"


def test_xes_attributes_colliding_with_roles(tmp_path: Path) -> None:
    log = flowlens.read_log(write_collision_xes(tmp_path / "collide.xes"))
    assert_attributes_exist(log)
    # the source names are kept as the user-facing names
    assert set(log.attributes.values()) == {"case:Activity", "Resource", "Activity", "activity", "pos"}
    df = log.to_pandas()
    by_source = {src: df[canon] for canon, src in log.attributes.items()}
    first = df[df.case_id == "c0"].sort_values("pos")
    # each column holds its own values, not the role column it collides with
    assert list(first.activity) == ["register", "check", "decide"]
    assert list(by_source["Activity"][first.index]) == ["A0", "A1", "A2"]
    assert list(by_source["activity"][first.index]) == ["low0", "low1", "low2"]
    assert list(by_source["Resource"][first.index]) == ["R0", "R1", "R2"]
    assert list(first.resource) == ["r0", "r1", "r2"]
    assert list(by_source["pos"][first.index]) == ["p0", "p1", "p2"]
    assert list(first.pos) == [0, 1, 2]


def test_consumers_of_attributes_run_on_colliding_names(tmp_path: Path) -> None:
    log = flowlens.read_log(write_collision_xes(tmp_path / "collide.xes", traces=30))
    result = flowlens.drivers(log)  # crashed with KeyError: 'Resource'
    assert result is not None
    kept = flowlens.filter_attribute(log, "Resource", ["R1"], level="event")
    assert kept.n_events == 30
    assert flowlens.filter_attribute(log, "case:Activity", ["g0"]).n_cases == 10


def test_csv_with_names_differing_in_case(tmp_path: Path) -> None:
    path = tmp_path / "both.csv"
    path.write_text(
        "case_id,activity,timestamp,resource,Resource,Case_ID,Activity\n"
        "1,a,2024-01-01 09:00,r1,R1,x,A\n"
        "1,b,2024-01-01 10:00,r2,R2,x,B\n"
        "1,b,2024-01-01 10:00,r2,R2,x,B\n"
        ",c,2024-01-01 11:00,r3,R3,x,C\n",
        encoding="utf-8",
    )
    log = flowlens.read_log(path)
    assert_attributes_exist(log)
    assert (log.columns.case, log.columns.resource) == ("case_id", "resource")
    assert sorted(log.attributes.values()) == ["Activity", "Case_ID", "Resource"]
    df = log.to_pandas()
    inv = {src: canon for canon, src in log.attributes.items()}
    assert list(df.resource) == ["r1", "r2"]
    assert list(df[inv["Resource"]]) == ["R1", "R2"]
    assert list(df[inv["Activity"]]) == ["A", "B"]
    q = log.quarantine()
    assert list(q.reason) == ["exact duplicate", "missing case id"]
    # an explicit role may name the column that differs only in case
    log2 = flowlens.read_log(path, flowlens.ColumnMap(resource="Resource"))
    assert list(log2.to_pandas().resource) == ["R1", "R2"]
    assert "resource" in log2.attributes.values()


def test_dataframe_with_names_differing_in_case() -> None:
    df = pd.DataFrame(
        {
            "case_id": ["1", "1"],
            "activity": ["a", "b"],
            "timestamp": ["2024-01-01 09:00", "2024-01-01 10:00"],
            "Activity": ["x", "y"],
            "Resource": ["p", "q"],
            "resource": ["r", "s"],
        }
    )
    log = flowlens.read_log(df)
    assert_attributes_exist(log)
    out = log.to_pandas()
    inv = {src: canon for canon, src in log.attributes.items()}
    assert list(out.activity) == ["a", "b"]
    assert list(out[inv["Activity"]]) == ["x", "y"]
    # 'Resource' comes first and is taken as the resource; 'resource' stays an attribute
    assert list(out.resource) == ["p", "q"]
    assert list(out[inv["resource"]]) == ["r", "s"]


def test_case_concept_name_next_to_case_id(tmp_path: Path) -> None:
    path = tmp_path / "cc.csv"
    path.write_text(
        "case:concept:name,concept:name,time:timestamp,case_id,CASE_IDX\n"
        "1,a,2024-01-01 09:00,k1,3\n"
        "1,b,2024-01-01 10:00,k1,3\n",
        encoding="utf-8",
    )
    log = flowlens.read_log(path)
    assert_attributes_exist(log)
    assert log.columns.case == "case:concept:name"
    assert sorted(log.attributes.values()) == ["CASE_IDX", "case_id"]
    out = log.to_pandas()
    inv = {src: canon for canon, src in log.attributes.items()}
    assert list(out.case_id) == ["1", "1"]
    assert list(out[inv["case_id"]]) == ["k1", "k1"]
    assert list(out.case_idx) == [0, 0]
    assert list(out[inv["CASE_IDX"]]) == [3, 3]


@pytest.mark.parametrize("name", ["u", "consumed", "s_cum"])
def test_lifecycle_pairing_with_attributes_named_like_its_internals(tmp_path: Path, name: str) -> None:
    path = tmp_path / "lc.csv"
    path.write_text(
        f"case_id,activity,timestamp,lifecycle,{name}\n"
        "c1,A,2024-03-01 09:00,start,x\n"
        "c1,A,2024-03-01 09:10,complete,y\n",
        encoding="utf-8",
    )
    log = flowlens.read_log(path)
    assert log.has_lifecycle and log.n_events == 1
    assert list(log.to_pandas()[name]) == ["y"]


def test_wide_csv_1000_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 1,000-column export with 25 rows reads with every column kept and typed (the type
    check runs on the long form of the table above 16 text columns; it took 23 s before)."""
    n_attr = 997
    header = ["case_id", "activity", "timestamp"] + [f"attr_{i}" for i in range(n_attr)]
    lines = [",".join(header)]
    for r in range(25):
        values = []
        for i in range(n_attr):
            kind = i % 4
            if kind == 0:
                values.append(str(r * i))  # integers
            elif kind == 1:
                values.append(f"{r}.5")  # decimals
            elif kind == 2:
                values.append("true" if (r + i) % 2 else "false")  # booleans
            else:
                values.append(f"v{(r + i) % 3}" if r % 5 else "")  # text with gaps
        lines.append(
            ",".join([f"c{r // 5}", f"a{r % 5}", f"2024-01-{1 + r // 5:02d} {9 + r % 5:02d}:00:00", *values])
        )
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    log = flowlens.read_log(path)
    assert (log.n_cases, log.n_events) == (5, 25)
    assert len(log.attributes) == n_attr
    assert_attributes_exist(log)
    schema = log.table.schema()
    kinds = {str(schema[f"attr_{i}"]).lower().removesuffix("!") for i in range(0, n_attr, 4)}
    assert kinds == {"int64"}
    assert {str(schema[f"attr_{i}"]) for i in range(1, n_attr, 4)} == {"float64"}
    assert {str(schema[f"attr_{i}"]) for i in range(2, n_attr, 4)} == {"boolean"}
    assert {str(schema[f"attr_{i}"]) for i in range(3, n_attr, 4)} == {"string"}
    df = log.to_pandas()
    assert df["attr_8"].tolist() == [8 * r for r in range(25)]
    assert df["attr_3"].isna().sum() == 5

    from flowlens.cli import main as cli_main

    capsys.readouterr()
    cli_main(["inspect", str(path), "--json"])
    out = capsys.readouterr().out
    assert '"events": 25' in out


# -- timestamp resolution (methods 1.7) ------------------------------------------------------


def _times_log(times: list[str], start: list[str] | None = None) -> flowlens.EventLog:
    n = len(times)
    data = {"case_id": [f"c{i // 2}" for i in range(n)], "activity": ["a", "b"] * (n // 2) + ["a"] * (n % 2)}
    if start is not None:
        data["start_time"] = start
        data["end_time"] = times
    else:
        data["timestamp"] = times
    return flowlens.read_log(pd.DataFrame(data))


@pytest.mark.parametrize(
    ("times", "unit", "seconds"),
    [
        (["2024-03-01", "2024-03-02", "2024-03-04", "2024-03-05"], "day", 86_400),
        (["2024-03-01 09:00", "2024-03-01 13:00", "2024-03-02 08:00", "2024-03-02 17:00"], "hour", 3_600),
        (["2024-03-01 09:01", "2024-03-01 13:17", "2024-03-02 08:00", "2024-03-02 17:59"], "minute", 60),
        (["2024-03-01 09:01:07", "2024-03-01 13:17:00", "2024-03-02 08:00:59", "2024-03-02 17:59:01"], "second", 1),
        (["2024-03-01 09:01:07.250", "2024-03-01 13:17:00.5", "2024-03-02 08:00:59.125", "2024-03-02 17:59:01.75"],
         "millisecond", 0.001),
        # a majority at midnight: the source records days, whatever the few others say
        (["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04 10:11:12", "2024-03-05 10:11:13"], "day", 86_400),
    ],
)  # fmt: skip
def test_time_resolution(times: list[str], unit: str, seconds: float) -> None:
    log = _times_log(times)
    res = log.quality.time_resolution["timestamp"]
    assert (res.unit, res.values) == (unit, len(times))
    assert log.time_resolution_s == pytest.approx(seconds)
    assert ("coarse_timestamps" in log.quality.flags) == (seconds > 60)
    assert log.quality.to_dict()["time_resolution"]["timestamp"]["unit"] == unit


def test_time_resolution_is_the_coarsest_column_used() -> None:
    log = _times_log(
        ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"],
        start=["2024-02-28 09:13", "2024-03-01 10:17", "2024-03-02 11:01", "2024-03-03 12:59"],
    )
    res = log.quality.time_resolution
    assert (res["start_time"].unit, res["end_time"].unit) == ("minute", "day")
    assert log.time_resolution_s == 86_400
    assert "times recorded: 'end_time' to the day; 'start_time' to the minute" in log.describe()


def test_date_only_with_offsets_is_read_as_days(tmp_path: Path) -> None:
    """Midnight written with a +02:00 offset is 22:00 UTC: still date-only as the source
    writes it (road-traffic fines)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<log>"]
    for c in range(3):
        out.append(f'<trace><string key="concept:name" value="f{c}"/>')
        for i, act in enumerate(("Create Fine", "Send Fine")):
            out.append(
                f'<event><string key="concept:name" value="{act}"/>'
                f'<date key="time:timestamp" value="2006-07-{10 + c + 3 * i:02d}T00:00:00.000+02:00"/></event>'
            )
        out.append("</trace>")
    path = tmp_path / "fines.xes"
    path.write_text("\n".join([*out, "</log>"]), encoding="utf-8")
    log = flowlens.read_log(path)
    assert log.time_resolution_s == 86_400
    assert log.quality.flags["coarse_timestamps"].count == 6


def test_time_resolution_on_shared_logs(shared_logs: Path) -> None:
    from conftest import shared_path

    expected = {"roadtraffic100": 86_400, "helpdesk": 1, "purchasing": 60, "bpic2012-w": 0.001}
    for name, seconds in expected.items():
        log = flowlens.read_log(shared_path(name))
        assert log.time_resolution_s == pytest.approx(seconds), name
        assert ("coarse_timestamps" in log.quality.flags) == (seconds > 60), name
