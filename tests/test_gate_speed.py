"""The faster gate and bundle (issue 14) give the same results as the direct definitions.

* exact duplicates, now found among instances of a case that end at the same time, are the
  rows the full comparison finds, quarantined with the same detail, and the cases that lose
  rows are renumbered (pos 0, 1, 2, ...; eid = case_idx * 2^24 + pos);
* activities and resources, sorted as codes while reading, are text in the events table;
* variants from the per-case hash keys equal the variants of the ordered sequences;
* the directly-follows case counts from the variants (vectorised) equal the per-variant loop;
* the directly-follows edges and nodes read from the successor columns of the gate's ordering
  window (one quantile state per edge) equal the join of each instance to the next.
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

import flowlens
from conftest import shared_path
from flowlens.discovery.dfg import (
    _counts_from_variants,
    _edges_from_pairs,
    _edges_from_successors,
    _nodes_ibis,
    _nodes_sql,
    pairs,
)
from flowlens.io.timestamps import _LAYOUTS
from flowlens.relational import EID_STRIDE, SUCCESSOR_COLUMNS


def _dup_log() -> pd.DataFrame:
    t = pd.Timestamp("2024-03-01 09:00")
    m = pd.Timedelta(minutes=1)
    rows = [
        # case c1: an exact duplicate in the middle (rows 3 and 4), and a same-time pair that differs
        ("c1", "open", t, t + m, "ann", "x"),
        ("c1", "check", t + 2 * m, t + 3 * m, "bob", "x"),
        ("c1", "check", t + 2 * m, t + 3 * m, "bob", "x"),
        ("c1", "check", t + 2 * m, t + 3 * m, "bob", "x"),
        ("c1", "call", t + 2 * m, t + 3 * m, "bob", "x"),
        ("c1", "close", t + 5 * m, t + 6 * m, "ann", "x"),
        # case c2: same everything but an attribute that reads as the same number: not a duplicate
        ("c2", "open", t, t + m, "ann", "1.0"),
        ("c2", "open", t, t + m, "ann", "1.00"),
        ("c2", "close", t + 9 * m, t + 10 * m, None, "1.0"),
        # case c3: a duplicate of the first instance, written last (file order decides the kept row)
        ("c3", "open", t + 3 * m, t + 4 * m, None, "y"),
        ("c3", "wait", t + 5 * m, t + 8 * m, "cy", "y"),
        ("c3", "open", t + 3 * m, t + 4 * m, None, "y"),
    ]
    return pd.DataFrame(rows, columns=["case_id", "activity", "start_time", "end_time", "resource", "note"])


def test_duplicates_set_aside_and_cases_renumbered() -> None:
    df = _dup_log()
    log = flowlens.read_log(df)
    q = log.quarantine().set_index("source_row")
    assert q["reason"].to_dict() == {3: "exact duplicate", 4: "exact duplicate", 12: "exact duplicate"}
    assert q.loc[3, "detail"] == "same values as row 2"
    assert q.loc[4, "detail"] == "same values as row 2"
    assert q.loc[12, "detail"] == "same values as row 10"
    ev = log.table.order_by(["case_idx", "pos"]).to_pandas()
    # the reference: drop exact duplicates (first kept), order by end time then source row
    ref = df.assign(src_row=range(1, len(df) + 1))
    ref = ref[~ref.drop(columns="src_row").astype(str).duplicated()]
    ref = ref.sort_values(["end_time", "src_row"], kind="stable")
    for case, g in ev.groupby("case_id", sort=False):
        expect = ref[ref.case_id == case]
        assert g["src_row"].tolist() == expect["src_row"].tolist()
        assert g["activity"].tolist() == expect["activity"].tolist()
        assert g["pos"].tolist() == list(range(len(g)))
    assert (ev["eid"] == ev["case_idx"] * EID_STRIDE + ev["pos"]).all()
    assert log.quality.rows_quarantined == 3
    assert log.quality.rows_kept == len(df) - 3


def test_no_duplicates_no_quarantine_same_end_times_kept() -> None:
    df = _dup_log().drop(index=[2, 3, 11])
    log = flowlens.read_log(df)
    assert log.quality.rows_quarantined == 0
    assert log.n_events == len(df)


def test_activity_and_resource_are_text_in_the_events_table() -> None:
    df = _dup_log()
    df["activity"] = df["activity"].map(lambda a: f"  {a} ")  # trimmed while reading
    log = flowlens.read_log(df)
    con = log._ingest.duckdb
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'events'"
        ).fetchall()
    )
    assert types["activity"] == "VARCHAR" and types["resource"] == "VARCHAR"
    assert sorted(log.table.activity.to_pandas().unique()) == ["call", "check", "close", "open", "wait"]
    assert set(log.table.resource.to_pandas().dropna()) == {"ann", "bob", "cy"}


def _ordered_variants(log: flowlens.EventLog) -> Counter:  # type: ignore[type-arg]
    ev = log.table.select("case_idx", "pos", "activity").to_pandas().sort_values(["case_idx", "pos"])
    seqs = ev.groupby("case_idx", sort=False)["activity"].agg(tuple)
    return Counter(seqs.tolist())


@pytest.mark.parametrize("name", ["sepsis", "helpdesk", "bpic2012-w", "purchasing"])
def test_variants_equal_ordered_sequences_on_real_logs(name: str) -> None:
    log = flowlens.read_log(shared_path(name))
    v = flowlens.variants(log)
    assert dict(zip(v.variant, v["count"], strict=True)) == dict(_ordered_variants(log))
    # the same cases behind each variant's lead times: durations per case agree
    cd = flowlens.case_durations(log)
    assert int(cd["events"].sum()) == log.n_events
    assert len(cd) == log.n_cases


def _counts_by_loop(vt: pd.DataFrame) -> tuple[Counter, Counter, Counter, Counter]:  # type: ignore[type-arg]
    nodes: Counter[str] = Counter()
    edges: Counter[tuple[str, str]] = Counter()
    starts: Counter[str] = Counter()
    ends: Counter[str] = Counter()
    for seq, n in zip(vt["variant"], vt["count"], strict=True):
        starts[seq[0]] += int(n)
        ends[seq[-1]] += int(n)
        for a in set(seq):
            nodes[a] += int(n)
        for pair in set(itertools.pairwise(seq)):
            edges[pair] += int(n)
    return nodes, edges, starts, ends


@pytest.mark.parametrize("name", ["sepsis", "bpic2012-w"])
def test_dfg_case_counts_from_variants_equal_the_loop(name: str) -> None:
    vt = flowlens.variants(flowlens.read_log(shared_path(name)))
    fast = _counts_from_variants(vt)
    slow = _counts_by_loop(vt)
    for a, b in zip(fast, slow, strict=True):
        assert dict(a) == dict(b)


def _same_rows(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> None:
    a = a.sort_values(keys).reset_index(drop=True)
    b = b.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(a[list(b.columns)], b, check_exact=True)


def _assert_successor_path_equals_join(log: flowlens.EventLog) -> None:
    """The graph read from the gate's successor columns equals the join of each instance to the
    next (edges and nodes, with and without case counts), bit for bit."""
    assert log.is_ingested_table()
    assert not set(SUCCESSOR_COLUMNS) & set(log.table.columns)
    for with_cases in (True, False):
        _same_rows(
            _edges_from_successors(log, with_cases=with_cases),
            _edges_from_pairs(pairs(log.table), with_cases=with_cases),
            ["source", "target"],
        )
        _same_rows(
            _nodes_sql(log, with_cases=with_cases), _nodes_ibis(log, with_cases=with_cases), ["activity"]
        )


def test_successor_columns_after_duplicates_are_set_aside() -> None:
    # the renumbered cases take their successors again
    log = flowlens.read_log(_dup_log())
    assert log.quality.rows_quarantined == 3
    _assert_successor_path_equals_join(log)
    # a filtered log has no successor columns of its own: the join is used, same graph shape
    sub = log.derive(log.table.filter(log.table.activity != "wait"), "no wait")
    assert not sub.is_ingested_table()
    assert flowlens.directly_follows(sub).edges["count"].sum() == sub.n_events - sub.n_cases


@pytest.mark.parametrize("name", ["sepsis", "bpic2013-incidents", "bank-callcenter", "purchasing", "receipt"])
def test_successor_columns_equal_the_pairs_join_on_real_logs(name: str) -> None:
    # logs with lifecycle rows to pair, with start and end columns, and with end times only
    _assert_successor_path_equals_join(flowlens.read_log(shared_path(name)))


def _whole_counts(values: pd.Series) -> dict[str, int]:
    us = values.dropna().astype("datetime64[us]").astype("int64")
    units = {"day": 86_400_000_000, "hour": 3_600_000_000, "minute": 60_000_000, "second": 1_000_000}
    return {u: int((us % k == 0).sum()) for u, k in units.items()} | {
        "millisecond": int((us % 1000 == 0).sum())
    }


@pytest.mark.parametrize("tz", ["UTC", "Europe/Amsterdam"])
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_time_resolution_counts_the_wall_clock_in_the_parsing_pass(tmp_path, fmt: str, tz: str) -> None:
    # typed times read in UTC count their parsed instants; text and other zones count a wall
    # clock column taken in the same pass: both are the wall clock as written
    t = pd.Timestamp("2024-03-01 08:00")
    ends = [t + pd.Timedelta(minutes=37 * i) + pd.Timedelta(seconds=(i % 3) * 1.5) for i in range(40)]
    df = pd.DataFrame(
        {
            "case_id": [f"c{i % 7}" for i in range(40)],
            "activity": [f"a{i % 4}" for i in range(40)],
            "start_time": [e - pd.Timedelta(hours=1) for e in ends],
            "end_time": ends,
        }
    )
    path = tmp_path / f"log.{fmt}"
    df.to_parquet(path) if fmt == "parquet" else df.to_csv(path, index=False)
    res = flowlens.read_log(path, tz=tz).quality.time_resolution
    for col in ("start_time", "end_time"):
        assert res[col].values == len(df)
        assert res[col].whole == _whole_counts(df[col])


def test_format_detection_counts_each_layout_on_a_mixed_column() -> None:
    # the slash, year-first and number patterns are matched only on values that are not ISO:
    # the counts are still those of every layout present
    import duckdb

    from flowlens.io.timestamps import _detect

    con = duckdb.connect()
    con.execute(
        """CREATE TABLE mix AS SELECT CASE i % 6
             WHEN 0 THEN '2024-01-0' || (1 + i % 9) || ' 10:00:00+02:00'
             WHEN 1 THEN (13 + i % 15) || '/0' || (1 + i % 9) || '/2024 10:' || (10 + i % 50)
             WHEN 2 THEN '2024/03/0' || (1 + i % 9) || ' 11:00'
             WHEN 3 THEN '2024-01-01 10:00:00 +0200'
             WHEN 4 THEN 'x' || i ELSE '2024-02-03' END AS t
           FROM range(600) r(i)"""
    )
    formats = _detect(con, "mix", '"t"', "t", tz="UTC", source="mix", row_sql="rowid").formats
    assert formats == {
        "ISO 8601 with offset": 100,
        "ISO 8601 without offset (taken as UTC)": 100,
        "date only (midnight, UTC)": 100,
        "ISO 8601 variant with offset": 100,
        "DD/MM/YYYY": 100,
    }


#: Perturbations of timestamps for the layout fast path: characters and pieces a value may carry
#: next to a naive ISO time (offsets, zone names, whitespace, AM/PM, BC, stray separators).
_NOISE = [
    *"0123456789 -:.T+Zz/UTapm\t\n\r",
    "\u00a0",
    "+08:00",
    "-05",
    " UTC",
    " AM",
    " Europe/Paris",
    "60",
    "24",
    "BC",
]


@pytest.mark.parametrize("layout", _LAYOUTS)
def test_layout_fast_path_reads_what_the_general_path_reads(layout: str) -> None:
    # a value the fast parse accepts has no offset and no zone: the zone-aware cast gives the
    # same instant (UTC), and detection counts it as naive ISO, as without the fast path
    import random

    import duckdb

    from flowlens.io.timestamps import _has_offset, _layout_parse

    rng = random.Random(7)
    base = [
        "2024-01-01 10:00:00",
        "2024-01-01T10:00:00",
        "2011-12-30T12:16:37.14",
        "2023-01-02 09:00:16.440000",
    ]
    values = set(base)
    while len(values) < 60_000:
        chars = list(rng.choice(base))
        for _ in range(rng.randint(1, 3)):
            i, tok, op = rng.randrange(len(chars) + 1), rng.choice(_NOISE), rng.random()
            if op < 0.4 and chars:
                chars[min(i, len(chars) - 1)] = tok
            elif op < 0.7:
                chars.insert(i, tok)
            elif chars:
                del chars[min(i, len(chars) - 1)]
        values.add("".join(chars))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE v AS SELECT unnest($1::VARCHAR[]) AS s", [sorted(values)])
    accepted, wrong = con.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE epoch_us(f) IS DISTINCT FROM epoch_us(TRY_CAST(trim(s) AS TIMESTAMPTZ))
                                              OR {_has_offset("s")} OR NOT contains(s, ':'))
            FROM (SELECT s, {_layout_parse("s", layout)} AS f FROM v) WHERE f IS NOT NULL"""
    ).fetchone()
    assert accepted > 300 and wrong == 0


def test_layout_fast_path_leaves_formats_and_instants_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    # a column mostly in one layout, with values in others (offsets, a zone name, dates only,
    # padding): the same formats counted and the same instants as without the fast path
    import duckdb

    import flowlens.io.timestamps as ts

    con = duckdb.connect()
    con.execute(
        """CREATE TABLE mix AS SELECT CASE WHEN i % 7 = 0 THEN '2024-01-01 10:00:00+02:00'
                                      WHEN i % 11 = 0 THEN '2024-01-01 10:00:00 Europe/Paris'
                                      WHEN i % 13 = 0 THEN '2024-02-03'
                                      WHEN i % 17 = 0 THEN ' 2024-02-03 10:00:00 '
                                      ELSE strftime(TIMESTAMP '2024-03-01' + i * INTERVAL 61 SECOND, '%Y-%m-%d %H:%M:%S')
                                 END AS t
           FROM range(3000) r(i)"""
    )
    fast = ts._detect(con, "mix", '"t"', "t", tz="UTC", source="mix", row_sql="(rowid + 1)", pre_name="f")
    monkeypatch.setattr(ts, "_usual_layout", lambda *a: None)
    general = ts._detect(con, "mix", '"t"', "t", tz="UTC", source="mix", row_sql="(rowid + 1)")
    assert fast.pre is not None and general.pre is None
    assert fast.formats == general.formats
    ((n, differ),) = con.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE ({fast.sql}) IS DISTINCT FROM ({general.sql}))
            FROM (SELECT *, {fast.pre[1]} AS f FROM mix)"""
    ).fetchall()
    assert n == 3000 and differ == 0


def _window_mismatches(log: flowlens.EventLog) -> int:
    """Rows of the gate's events table whose numbering or successor differs from the direct
    definition: cases numbered by (first start, case id), instances by a window partitioned by
    case and ordered by (end, source row), successors read by lead() over that window."""
    con = log.engine.duckdb
    assert con is not None
    ((n,),) = con.execute(
        f"""
        WITH c AS (SELECT case_id, row_number() OVER (ORDER BY t0, case_id) - 1 AS ci
                   FROM (SELECT case_id, min(coalesce(start_us, end_us)) AS t0 FROM events GROUP BY case_id)),
        w AS (SELECT e.*, c.ci, row_number() OVER w - 1 AS p2, lead(activity) OVER w AS a2,
                     lead(coalesce(start_us, end_us)) OVER w - end_us AS g2
              FROM events e JOIN c USING (case_id)
              WINDOW w AS (PARTITION BY e.case_idx ORDER BY end_us, src_row))
        SELECT count(*) FROM w
        WHERE ci <> case_idx OR p2 <> pos OR eid <> case_idx * {EID_STRIDE} + p2
           OR a2 IS DISTINCT FROM CAST(__succ_activity AS VARCHAR) OR g2 IS DISTINCT FROM __succ_gap_us
        """
    ).fetchall()  # to the end: the connection is used again
    return int(n)


@pytest.mark.parametrize(
    "name", ["running-example", "sepsis", "bpic2013-incidents", "bank-callcenter", "purchasing", "receipt"]
)
def test_sorted_pass_numbers_instances_as_the_window_by_case(name: str) -> None:
    # the one sort plus streaming pass gives each instance the position and successor the
    # window partitioned by case gave (logs with lifecycle rows, start and end columns, ends only)
    log = flowlens.read_log(shared_path(name))
    assert _window_mismatches(log) == 0
    types = dict(
        log.engine.duckdb.execute("SELECT column_name, column_type FROM (DESCRIBE events)").fetchall()
    )
    assert [types[c] for c in ("eid", "case_idx", "pos", "src_row")] == ["BIGINT"] * 4


@pytest.mark.parametrize("source", ["bank-callcenter", "garbage_timestamps.csv", "trace_without_name.xes"])
def test_events_are_stored_in_eid_order(source: str) -> None:
    # the table's rows lie in the order of the sort (case, then position), whatever the engine's
    # plan: joining the case id back after the sort let a hash join reorder them (42 rows out of
    # order on bank-callcenter, one on each malformed file with rows set aside)
    path = shared_path(source) if "." not in source else Path(__file__).parent / "data" / "malformed" / source
    log = flowlens.read_log(path)
    ((n_out_of_order, n),) = log.engine.duckdb.execute(
        """SELECT count(*) FILTER (WHERE eid < prev), count(*)
           FROM (SELECT eid, lag(eid) OVER (ORDER BY rowid) AS prev FROM events)"""
    ).fetchall()
    assert n > 1 and n_out_of_order == 0


def test_sorted_pass_with_ties_duplicates_and_one_event_cases() -> None:
    log = flowlens.read_log(_dup_log())
    assert _window_mismatches(log) == 0
    # single-instance cases and cases whose instances all end at once
    t = pd.Timestamp("2024-03-01 09:00")
    df = pd.DataFrame(
        {
            "case_id": ["b", "a", "a", "a", "c", "b", "d"],
            "activity": ["x", "y", "z", "w", "x", "z", "x"],
            "timestamp": [t, t, t, t, t + pd.Timedelta(hours=1), t, t - pd.Timedelta(days=1)],
        }
    )
    log = flowlens.read_log(df)
    assert _window_mismatches(log) == 0
    ev = log.table.order_by("eid").to_pandas()
    assert ev.case_id.tolist() == ["d", "a", "a", "a", "b", "b", "c"]
    assert ev.pos.tolist() == [0, 0, 1, 2, 0, 1, 0]
    assert ev.activity.tolist() == ["x", "y", "z", "w", "x", "z", "x"]
    assert log.quality.rows_quarantined == 0


@pytest.mark.parametrize(
    "name", ["bpic2012-w", "bank-callcenter", "loanapp-train", "purchasing", "insurance-claims"]
)
def test_delimiter_from_the_header_equals_the_sniffer(name: str) -> None:
    # the delimiter read off the header line is the one the engine's sniffer reports
    import duckdb

    from flowlens.io.readers import _columns, _header_delimiter
    from flowlens.io.source import read_head

    path = shared_path(name)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE raw AS SELECT * FROM read_csv('{path}', all_varchar = true, header = true)")
    (sniffed,) = con.execute(f"SELECT Delimiter FROM sniff_csv('{path}', sample_size = 20480)").fetchall()[0]
    assert _header_delimiter(read_head(path, 1 << 20), _columns(con, "raw")) == sniffed
    assert flowlens.read_log(path).source.delimiter == sniffed


def test_delimiter_from_the_header_only_when_it_is_certain(tmp_path) -> None:
    from flowlens.io.readers import _header_delimiter

    assert _header_delimiter(b'"case id";act|x;t\n', ["case id", "act|x", "t"]) == ";"
    assert _header_delimiter(b"a\tb\n", ["a", "b"]) == "\t"
    # one column, names the reader changed, a title line before the header: the sniffer decides
    assert _header_delimiter(b"a\n", ["a"]) is None
    assert _header_delimiter(b"a,a\n", ["a", "a_1"]) is None
    assert _header_delimiter(b"Report 2024\ncase;activity\n", ["case", "activity"]) is None
    path = tmp_path / "semi.csv"
    path.write_text("case;activity;time\n1;a;2024-01-01 10:00\n1;b;2024-01-01 11:00\n")
    log = flowlens.read_log(path)
    assert log.source.delimiter == ";" and log.n_events == 2


def _events(log: flowlens.EventLog) -> pd.DataFrame:
    cols = "eid, case_idx, case_id, pos, activity, start_us, end_us, resource, src_row"
    return log.engine.duckdb.execute(f"SELECT {cols} FROM events ORDER BY eid").df()  # type: ignore[union-attr]


def test_text_read_as_it_is_equals_text_trimmed_per_row() -> None:
    # Case ids, activities and resources are read without a per-row trim or NUL check when no
    # distinct value needs one; a single padded or empty value sends the column through both.
    clean = _dup_log()
    base = _events(flowlens.read_log(clean))
    for col in ("case_id", "activity", "resource"):
        padded = clean.copy()
        padded.loc[1, col] = f"  {padded.loc[1, col]} "  # trimmed while reading: the same log
        pd.testing.assert_frame_equal(_events(flowlens.read_log(padded)), base)
    broken = clean.copy()
    broken.loc[1, "activity"] = "che\x00ck"  # the row is set aside, the rest read as before
    broken.loc[2, "case_id"] = ""
    log = flowlens.read_log(broken)
    assert dict(zip(log.quarantine().source_row, log.quarantine().reason, strict=True)) == {
        2: "NUL byte in a field",
        3: "missing case id",
        12: "exact duplicate",
    }


def test_bundle_on_the_gate_table_equals_the_expressions() -> None:
    # Variants, case durations and the graph read the gate's own table with plain SQL; a log
    # over another table (here: every row, filtered) takes the Ibis expressions: same results.
    log = flowlens.read_log(shared_path("sepsis"))
    other = log.derive(log.table.filter(log.table.eid >= 0), "every row")
    assert log.is_ingested_table() and not other.is_ingested_table()
    pd.testing.assert_frame_equal(flowlens.variants(log), flowlens.variants(other))
    pd.testing.assert_frame_equal(flowlens.case_durations(log), flowlens.case_durations(other))
    g, h = flowlens.directly_follows(log), flowlens.directly_follows(other)
    for a, b in (
        (g.nodes, h.nodes),
        (g.start_activities, h.start_activities),
        (g.end_activities, h.end_activities),
    ):
        pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(g.edges, h.edges, check_exact=False, rtol=1e-12)


def test_gate_of_a_small_log_on_one_thread_leaves_the_setting() -> None:
    log = flowlens.read_log(_dup_log(), threads=2)
    assert log.engine.setting("threads") == "2"


@pytest.mark.parametrize(("limit", "threads"), [(8_000_000, "1"), (10, "2")])
def test_a_csv_the_reader_scans_on_one_thread_is_staged_on_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int, threads: str
) -> None:
    """A CSV file within CSV_BYTES_PER_THREAD is staged (and gated) on one thread, a larger one
    on the threads set; either way the setting is the user's again afterwards, and the log the
    same."""
    import flowlens.io
    from flowlens.io import readers

    path = tmp_path / "log.csv"
    _dup_log().to_csv(path, index=False)
    seen: list[str] = []
    stage = readers.load_csv

    def spy(con, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(str(con.execute("SELECT current_setting('threads')").fetchall()[0][0]))
        return stage(con, *args, **kwargs)

    monkeypatch.setattr(readers, "load_csv", spy)
    monkeypatch.setattr(flowlens.io, "CSV_BYTES_PER_THREAD", limit)
    log = flowlens.read_log(path, threads=2)
    assert seen == [threads]
    assert log.engine.setting("threads") == "2"
    one = flowlens.read_log(path, threads=1)
    pd.testing.assert_frame_equal(log.to_pandas(), one.to_pandas())
