"""The malformed-input corpus (``tests/data/malformed``, made by ``make_malformed.py``).

Every file gives either one user error (a :class:`FlowlensError` subclass whose one-line
message names the file and says what to do, and the same through the CLI: exit 2, one
``flowlens: error:`` line on stderr, no traceback) or a log whose quarantine holds exactly
the bad rows, with their reasons and source row numbers, and ``rows_read == rows_kept +
rows_quarantined``. Files with XML entities are refused fast and nothing they define ever
reaches a value, a message or the quarantine. No test modifies an input file.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import flowlens
from conftest import load_script
from flowlens.cli import main as cli_main
from flowlens.errors import (
    EmptyLogError,
    FlowlensError,
    InputError,
    LogFormatError,
    MissingColumnError,
    UnsafeInputError,
)

DATA = Path(__file__).resolve().parent / "data"
CORPUS = DATA / "malformed"

#: Strings that appear only if an entity was resolved (/etc/passwd, the expansions).
LEAKS = ("root:", "/bin/", "EXPANDED-ENTITY", "lollollol", "nologin")


def digest(path: Path) -> tuple[str, int]:
    st = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mtime_ns


class Unchanged:
    """Context manager: the file's bytes and modification time are the same afterwards."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Unchanged:
        self.before = digest(self.path)
        return self

    def __exit__(self, *exc: object) -> None:
        assert digest(self.path) == self.before, f"{self.path} was modified"


def read(name: str, **kwargs: Any) -> flowlens.EventLog:
    path = CORPUS / name
    with Unchanged(path):
        return flowlens.read_log(path, **kwargs)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the real entry point in-process; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        cli_main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def cli_args(name: str, kwargs: dict[str, Any]) -> list[str]:
    args = ["inspect", str(CORPUS / name)]
    for key, value in kwargs.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


# -- files that give one error ----------------------------------------------------------------

#: file -> (error class, pattern the message must match, read_log keyword arguments)
ERRORS: dict[str, tuple[type[FlowlensError], str, dict[str, Any]]] = {
    "truncated.csv.gz": (LogFormatError, r"truncated or damaged", {}),
    "truncated_late.csv.gz": (LogFormatError, r"truncated or damaged", {}),
    "truncated_late_gb18030.csv.gz": (LogFormatError, r"truncated or damaged", {}),
    "truncated.xes.gz": (LogFormatError, r"truncated or damaged", {}),
    "truncated_late.xes.gz": (LogFormatError, r"truncated or damaged", {}),
    "truncated.xes": (LogFormatError, r"line \d+: not well-formed XES", {}),
    "empty.csv": (LogFormatError, r"the file is empty \(0 bytes\)", {}),
    "header_only.csv": (EmptyLogError, r"no rows \(only a header\)", {}),
    "random.bin": (LogFormatError, r"binary data", {}),
    "random_no_nul.csv": (LogFormatError, r"cannot tell the text encoding.*--encoding", {}),
    "image.csv": (LogFormatError, r"this is a PNG image, not an event log", {}),
    "archive.csv": (LogFormatError, r"ZIP archive .*Excel.*export the sheet as CSV", {}),
    "semicolon.csv": (
        MissingColumnError,
        r"single column .*delimiter may be wrong",
        {"delimiter": ","},
    ),
    "missing_case.csv": (MissingColumnError, r"could not find a case id column.*--case", {}),
    "missing_activity.csv": (MissingColumnError, r"activity column.*--activity", {}),
    "missing_timestamp.csv": (MissingColumnError, r"timestamp column.*--end", {}),
    "ambiguous_dates.csv": (InputError, r"none of them shows which.*--time-format", {}),
    "epoch.csv": (InputError, r"holds numbers.*will not guess.*--time-format epoch_s", {}),
    "xxe_system.xes": (UnsafeInputError, r"declares entities or an external DTD", {}),
    "billion_laughs.xes": (UnsafeInputError, r"declares entities or an external DTD", {}),
    "entity_after_comment.xes": (UnsafeInputError, r"declares entities", {}),
    "external_dtd.xes": (UnsafeInputError, r"external DTD", {}),
}

ENTITY_FILES = [
    "xxe_system.xes",
    "billion_laughs.xes",
    "entity_after_comment.xes",
    "external_dtd.xes",
]


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_api(name: str) -> None:
    cls, pattern, kwargs = ERRORS[name]
    path = CORPUS / name
    with Unchanged(path), pytest.raises(cls, match=pattern) as info:
        flowlens.read_log(path, **kwargs)
    text = str(info.value)
    assert "\n" not in text
    assert str(path) in text, "the message names the file"
    assert info.value.hint, "the message says what to do"
    assert not any(leak in text for leak in LEAKS)


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_cli(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, pattern, kwargs = ERRORS[name]
    path = CORPUS / name
    with Unchanged(path):
        code, out, err = run_cli(cli_args(name, kwargs), capsys)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("flowlens: error: ")
    assert str(path) in lines[0]
    assert re.search(pattern, lines[0])
    assert "Traceback" not in err
    assert not any(leak in err for leak in LEAKS)


def test_error_cli_subprocess_has_no_traceback(tmp_path: Path) -> None:
    """The installed entry point end to end (once: a subprocess costs a second)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for name in ("truncated_late.csv.gz",):
        proc = subprocess.run(
            [sys.executable, "-m", "flowlens", "inspect", str(CORPUS / name)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=tmp_path,
        )
        assert proc.returncode == 2
        assert proc.stdout == ""
        assert proc.stderr.startswith("flowlens: error: ")
        assert proc.stderr.count("\n") == 1
        assert "Traceback" not in proc.stderr


# -- entities ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENTITY_FILES)
def test_entities_refused_fast(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = CORPUS / name
    t0 = time.perf_counter()
    with pytest.raises(UnsafeInputError) as info:
        read(name)
    assert time.perf_counter() - t0 < 2.0
    assert not any(leak in str(info.value) for leak in LEAKS)
    t0 = time.perf_counter()
    code, out, err = run_cli(["inspect", "--json", str(path)], capsys)
    assert time.perf_counter() - t0 < 2.0
    assert code == 2
    assert not any(leak in out + err for leak in LEAKS)


@pytest.mark.parametrize("name", ["xxe_system.xes", "billion_laughs.xes", "external_dtd.xes"])
def test_parser_alone_resolves_nothing(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: with the DOCTYPE refusal switched off, the parser flags still keep
    external entities unread and nested expansion bounded; the file is refused or read
    without any entity's content."""
    import flowlens.io.xes as xes

    monkeypatch.setattr(xes, "_check_prolog", lambda path, info: None)
    t0 = time.perf_counter()
    try:
        log = read(name)
    except FlowlensError as exc:
        assert not any(leak in str(exc) for leak in LEAKS)
    else:
        blob = log.to_pandas().to_csv() + log.quarantine().to_csv()
        assert not any(leak in blob for leak in LEAKS)
    assert time.perf_counter() - t0 < 2.0


# -- files whose bad rows are quarantined ----------------------------------------------------

#: file -> (read_log keyword arguments, rows read, {source row: reason})
QUARANTINED: dict[str, tuple[dict[str, Any], int, dict[int, str]]] = {
    "garbage_timestamps.csv": (
        {},
        7,
        {3: "unparseable timestamp", 5: "unparseable timestamp", 6: "missing timestamp"},
    ),
    "end_before_start.csv": ({}, 5, {2: "end before start", 4: "end before start"}),
    "duplicates.csv": ({}, 8, {3: "exact duplicate", 6: "exact duplicate", 7: "exact duplicate"}),
    "missing_values.csv": ({}, 4, {2: "missing case id", 3: "missing activity"}),
    "ragged.csv": ({}, 7, {2: "malformed row", 4: "malformed row"}),
    "ragged_runs.csv": ({}, 8, dict.fromkeys([1, 2, 4, 5, 6, 8], "malformed row")),
    "quarantine_names.csv": ({}, 4, {2: "unparseable timestamp", 3: "malformed row"}),
    "formula.csv": ({}, 3, {2: "unparseable timestamp"}),
    "utf8_damaged.csv": ({}, 12, {4: "malformed row"}),
    "open_starts.csv": ({}, 6, {3: "start without completion", 5: "start without completion"}),
    "event_outside_trace.xes": ({}, 4, {3: "missing case id"}),
    "trace_without_name.xes": ({}, 5, {3: "missing case id", 4: "missing case id"}),
}


@pytest.mark.parametrize("name", sorted(QUARANTINED))
def test_quarantine_exact(name: str) -> None:
    kwargs, rows_read, expected = QUARANTINED[name]
    log = read(name, **kwargs)
    q = log.quality
    assert q.rows_read == rows_read
    assert q.rows_read == q.rows_kept + q.rows_quarantined
    quarantine = log.quarantine()
    assert dict(zip(quarantine.source_row, quarantine.reason, strict=True)) == expected
    assert quarantine.source_row.is_unique
    assert q.rows_quarantined == len(expected)
    if not log.has_lifecycle:
        # Every source row is either an event or a quarantined row, never both, never lost.
        kept = set(log.to_pandas().src_row)
        assert kept.isdisjoint(expected)
        assert kept | set(expected) == set(range(1, rows_read + 1))
    else:
        # Lifecycle rows pair up: fewer instances than rows kept.
        assert log.n_events < q.rows_kept


@pytest.mark.parametrize("name", sorted(QUARANTINED))
def test_quarantine_cli_json(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    kwargs, rows_read, expected = QUARANTINED[name]
    code, out, err = run_cli([*cli_args(name, kwargs), "--json"], capsys)
    assert code == 0, err
    payload = json.loads(out)
    assert payload["rows_read"] == rows_read
    assert payload["rows_read"] == payload["rows_kept"] + payload["rows_quarantined"]
    assert payload["rows_quarantined"] == len(expected)


def test_quarantine_details() -> None:
    q = read("garbage_timestamps.csv").quarantine().set_index("source_row")
    assert q.loc[3, "detail"] == "value timestamp=not a date"
    assert q.loc[3, "timestamp"] == "not a date"  # the original values come along
    assert q.loc[6, "detail"] == "column timestamp is empty"
    q = read("duplicates.csv").quarantine().set_index("source_row")
    assert q.loc[3, "detail"] == "same values as row 2"
    assert q.loc[7, "detail"] == "same values as row 5"
    q = read("utf8_damaged.csv").quarantine().set_index("source_row")
    assert q.loc[4, "detail"].startswith("malformed row: invalid characters for the file's encoding")
    q = read("ragged.csv").quarantine().set_index("source_row")
    assert q.loc[2, "raw_line"] == "c1,check,2024-03-01T09:30:00,extra"
    assert q.loc[2, "detail"].startswith("malformed row: too many fields")
    assert q.loc[4, "detail"].startswith("malformed row: too few fields")
    log = read("end_before_start.csv")
    assert log.quarantine().set_index("source_row").loc[4, "detail"] == (
        "start 2024-03-02T09:00:00 is after end 2024-03-02T08:59:59"
    )
    assert read("open_starts.csv").quarantine().set_index("source_row").loc[5, "detail"] == (
        "activity review started at row 5 never completes"
    )


def test_quarantine_keeps_source_columns_named_like_its_own() -> None:
    """A source column called ``reason`` or ``raw_line`` must not take the gate's place."""
    log = read("quarantine_names.csv")
    q = log.quarantine().set_index("source_row")
    assert list(q.columns[:3]) == ["reason", "detail", "raw_line"]
    assert q.loc[2, "reason"] == "unparseable timestamp"
    assert q.loc[2, "src:reason"] == "r2"
    assert q.loc[2, "src:raw_line"] == "l2"
    assert q.loc[3, "raw_line"] == "c1,close,2024-03-01T10:00:00"
    assert set(log.attributes.values()) == {"reason", "raw_line"}


def test_row_numbers_after_rejected_rows() -> None:
    """Rows after a malformed one keep their own source row number."""
    df = read("ragged.csv").to_pandas()
    got = dict(zip(df.src_row, df.activity + "@" + df.case_id, strict=True))
    assert got == {1: "open@c1", 3: "close@c1", 5: "close@c2", 6: "open@c3", 7: "close@c3"}


def test_quarantine_csv_neutralises_formulas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "q.csv"
    path = CORPUS / "formula.csv"
    with Unchanged(path):
        code, _, err = run_cli(["inspect", str(path), "--quarantine", str(out)], capsys)
    assert code == 0, err
    text = out.read_text(encoding="utf-8")
    assert "'=cmd|' /C calc'!A0" in text
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:4] == ["source_row", "reason", "detail", "raw_line"]
    cells = [c for row in rows for c in row]
    assert "'=cmd|' /C calc'!A0" in cells
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    assert not any(c.startswith("-") and not c.lstrip("-").replace(".", "").isdigit() for c in cells)


# -- files that read cleanly -------------------------------------------------------------------


def test_semicolon_detected() -> None:
    log = read("semicolon.csv")
    assert log.source.delimiter == ";"
    assert (log.n_cases, log.n_events, log.quality.rows_quarantined) == (2, 6, 0)


def test_tsv() -> None:
    log = read("tabs.tsv")
    assert log.source.delimiter == "\t"
    assert log.columns.resource == "resource"
    assert log.n_events == 6


def test_utf8_bom() -> None:
    log = read("utf8_bom.csv")
    assert log.columns.case == "case_id"  # not '\ufeffcase_id'
    assert log.source.encoding == "utf-8"
    assert log.n_events == 6


def test_gb18030_chinese_headers_and_values() -> None:
    log = read("gb18030.csv")
    assert log.source.encoding == "gb18030"
    m = log.columns
    assert (m.case, m.activity, m.end, m.resource) == ("案例编号", ("活动名称",), "时间", "处理人")
    df = log.to_pandas()
    assert list(df.activity[df.case_id == "A001"]) == ["受理", "审核", "放款"]
    assert set(df.resource) == {"张三", "李四", "王五"}


@pytest.mark.parametrize("name", ["gzip_named.csv", "plain_named.csv.gz"])
def test_compression_by_content(name: str) -> None:
    log = read(name)
    assert log.source.compression == ("gzip" if name == "gzip_named.csv" else None)
    assert (log.n_events, log.quality.rows_quarantined) == (6, 0)


def test_xes_content_in_csv_name() -> None:
    log = read("xes_named.csv")
    assert log.source.format == "xes"
    assert any("content is XES" in n for n in log.source.notes)
    assert log.n_events == 7


def test_mixed_day_first_and_iso_parsed() -> None:
    df = read("mixed_dmy.csv").to_pandas()
    got = [t.isoformat() for t in df.end]
    assert got == [
        "2024-03-01T09:00:00+00:00",
        "2024-03-25T10:00:00+00:00",
        "2024-04-03T11:00:00+00:00",
    ]


def test_offsets_mixed_with_naive() -> None:
    log = read("mixed_offsets.csv", tz="Asia/Shanghai")
    df = log.to_pandas()
    utc = {
        (c, a): t.tz_convert("UTC").isoformat()
        for c, a, t in zip(df.case_id, df.activity, df.end, strict=True)
    }
    assert utc == {
        ("c1", "open"): "2024-03-01T01:00:00+00:00",  # +08:00 honoured
        ("c1", "check"): "2024-03-01T01:30:00+00:00",  # naive: Asia/Shanghai
        ("c1", "close"): "2024-03-01T02:00:00+00:00",  # Z
        ("c2", "open"): "2024-03-01T11:00:00+00:00",  # ' +0100'
    }
    formats = log.source.timestamp_formats["timestamp"]
    assert formats["ISO 8601 with offset"] == 2
    assert formats["ISO 8601 without offset (taken as Asia/Shanghai)"] == 1


def test_parquet_naive_takes_tz_and_aware_keeps_instant() -> None:
    naive = read("naive_ts.parquet", tz="Europe/Amsterdam").to_pandas()
    aware = read("tz_ts.parquet", tz="Europe/Amsterdam").to_pandas()
    # Same stored numbers (09:00 UTC): naive means 09:00 in Amsterdam, aware means 09:00 UTC.
    assert naive.end.iloc[0].isoformat() == "2024-03-01T09:00:00+01:00"
    assert aware.end.iloc[0].tz_convert("UTC").isoformat() == "2024-03-01T09:00:00+00:00"
    assert naive.amount.tolist() == [10, 10, 25, 25]


def test_date_only() -> None:
    log = read("date_only.csv", tz="Asia/Shanghai")
    assert [t.isoformat() for t in log.to_pandas().end] == [
        "2024-03-01T00:00:00+08:00",
        "2024-03-04T00:00:00+08:00",
        "2024-03-02T00:00:00+08:00",
    ]
    assert log.time_resolution_s == 86_400
    assert log.quality.time_resolution["timestamp"].unit == "day"
    flag = log.quality.flags["coarse_timestamps"]
    assert flag.count == 3
    assert "'timestamp' to the day (100 % of values at midnight)" in flag.description


def test_epoch_with_time_format(capsys: pytest.CaptureFixture[str]) -> None:
    log = read("epoch.csv", time_format="epoch_s")
    assert log.to_pandas().end.iloc[0].isoformat() == "2024-03-01T09:00:00+00:00"
    code, out, err = run_cli(
        ["inspect", str(CORPUS / "epoch.csv"), "--time-format", "epoch_s", "--json"], capsys
    )
    assert code == 0, err
    assert json.loads(out)["start"] == "2024-03-01T09:00:00.000+00:00"


def test_xes_outside_trace_noted() -> None:
    log = read("event_outside_trace.xes")
    assert any("outside any trace" in n for n in log.source.notes)
    assert log.quarantine().detail.tolist() == ["column case:concept:name is empty"]


# -- the corpus itself -----------------------------------------------------------------------------


def test_every_corpus_file_is_covered() -> None:
    clean = {
        "semicolon.csv", "tabs.tsv", "utf8_bom.csv", "gb18030.csv", "gzip_named.csv",
        "plain_named.csv.gz", "xes_named.csv", "mixed_dmy.csv", "mixed_offsets.csv",
        "naive_ts.parquet", "tz_ts.parquet", "date_only.csv",
    }  # fmt: skip
    covered = set(ERRORS) | set(QUARANTINED) | clean
    assert {p.name for p in CORPUS.iterdir()} == covered


def test_corpus_matches_generator() -> None:
    """The committed files are what make_malformed.py makes (Parquet compared by content:
    its bytes carry the writer's version)."""

    import pyarrow.parquet as pq

    built = load_script(DATA / "make_malformed.py").build()
    assert set(built) == {p.name for p in CORPUS.iterdir()}
    for name, data in built.items():
        path = CORPUS / name
        if name.endswith(".parquet"):
            import io

            assert pq.read_table(io.BytesIO(data)).equals(pq.read_table(path)), name
        else:
            assert path.read_bytes() == data, f"{name} differs: run tests/data/make_malformed.py"
        assert path.stat().st_size < 8192, f"{name} is not tiny"


@pytest.mark.parametrize(
    ("values", "time_format"),
    [
        (["epoch", " EPOCH "], None),  # the engine's word for 1970-01-01 00:00 UTC
        (["-2000-01-01 00:00:00", "12000-01-01 00:00:00"], None),  # years no output can write
        (["nan", "inf"], "epoch_s"),  # once an error for the whole log
        (["1e300", "-9000000000000"], "epoch_s"),
    ],
    ids=["epoch-word", "years", "nan-inf", "out-of-range"],
)
def test_times_that_are_no_instant_are_quarantined(
    tmp_path: Path, values: list[str], time_format: str | None
) -> None:
    good = ["1709283600", "1709287200"] if time_format else ["2024-03-01 09:00:00", "2024-03-01 10:00:00"]
    path = tmp_path / "log.csv"
    rows = [("1", "a", good[0]), ("1", "b", good[1]), ("2", "a", values[0]), ("3", "a", values[1])]
    path.write_text("case,activity,timestamp\n" + "".join(f"{c},{a},{t}\n" for c, a, t in rows))
    log = flowlens.read_log(path, time_format=time_format)
    assert log.quality.rows_kept == 2
    assert log.quality.quarantine_reasons == {"unparseable timestamp": 2}
    assert log.quarantine().source_row.tolist() == [3, 4]
    assert log.summary().start.startswith("2024-03-01T09:00")


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "Pacific/Niue", "UTC"])
def test_times_at_the_calendars_ends_are_quarantined_in_every_zone(tmp_path: Path, tz: str) -> None:
    """A time that some zone would write outside the years 1-9999 ('9999-12-31' as a banking
    system's 'no date') is quarantined, so the summary in the log's zone can still be written."""
    path = tmp_path / "log.csv"
    rows = [("1", "a", "2024-03-01 09:00:00"), ("1", "b", "2024-03-01 10:00:00")]
    rows += [("2", "a", "9999-12-31 23:59:59"), ("3", "a", "0001-01-01 00:00:00")]
    path.write_text("case,activity,timestamp\n" + "".join(f"{c},{a},{t}\n" for c, a, t in rows))
    log = flowlens.read_log(path, tz=tz)
    assert log.quality.quarantine_reasons == {"unparseable timestamp": 2}
    s = log.summary()
    assert s.start.startswith("2024-03-01T09:00") and s.end.startswith("2024-03-01T10:00")
