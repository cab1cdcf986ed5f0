"""The data-quality gate: from a staged source table to the canonical activity-instance table.

Runs entirely as SQL in the ingest DuckDB connection (vectorised, out of core). Steps:

1. parse every row (case, activity, timestamps to UTC microseconds, resource, lifecycle);
2. give each unusable row one reason (missing case or activity, missing or unparseable
   time, end before start, exact duplicate, unknown lifecycle value);
3. pair lifecycle rows (schedule / start / suspend / resume / complete / abort) of one activity
   instance, first-in first-out per case and activity; rows that never complete are set aside;
4. order instances within each case (end time, then source row), number cases and positions;
5. keep quarantined rows with their source row number, reason and original values.

The canonical table ``events`` has one row per activity instance:

========== ======= ==========================================================
column     type    meaning
========== ======= ==========================================================
eid        BIGINT  case_idx * 2^24 + pos: the successor in the case is eid + 1
case_idx   BIGINT  case number, by case start
case_id    VARCHAR case identifier as in the source
pos        BIGINT  0-based position of the instance in its case
activity   VARCHAR activity label
start_us   BIGINT  start, UTC microseconds (NULL: completion-only)
end_us     BIGINT  end (completion), UTC microseconds
resource   VARCHAR resource (NULL when unknown)
src_row    BIGINT  source row of the completing row (1-based)
...                attributes, and with lifecycle data: status, schedule_us, suspended_us
========== ======= ==========================================================
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from flowlens import quality as Q
from flowlens.columns import ACTIVITY_JOIN, ColumnMap
from flowlens.errors import EmptyLogError, InputError
from flowlens.i18n import M_
from flowlens.io.readers import RawTable, fold
from flowlens.io.timestamps import MAX_US, MIN_US, _observes_dst, lit, q, special_word, timestamp_column
from flowlens.quality import TIME_UNITS, Flag, QualityReport, TimeResolution
from flowlens.relational import ACTIVITY_CODE, EID_STRIDE
from flowlens.source import SourceInfo
from flowlens.units import count_value, percent_value

CANONICAL = (
    "eid",
    "case_idx",
    "case_id",
    "pos",
    "activity",
    "start_us",
    "end_us",
    "resource",
    "src_row",
    "status",
    "schedule_us",
    "suspended_us",
)

_TERMINAL = ("complete", "ate_abort", "pi_abort", "withdraw", "autoskip", "manualskip")
_START = ("start",)
_PRE = ("schedule", "assign", "reassign")
_MID = ("suspend", "resume")
STANDARD_LIFECYCLE = frozenset(_TERMINAL + _START + _PRE + _MID)
#: A lifecycle column holds sub-statuses (BPIC 2013's ``Wait - User``), not transitions, when
#: at least this share of its rows have values outside the standard lifecycle model.
SUBSTATUS_SHARE = 0.5


@dataclass
class GateResult:
    quality: QualityReport
    columns: ColumnMap
    #: canonical attribute column -> source column
    attributes: dict[str, str]
    has_lifecycle: bool
    #: at least one kept instance has a start time
    has_start_times: bool


def _text(col: str) -> str:
    return _text_sql(q(col))


def _text_sql(expr: str) -> str:
    return f"NULLIF(trim(CAST({expr} AS VARCHAR)), '')"


def _present(kinds: dict[str, str], raw: RawTable, col: str) -> str:
    """SQL: the column has a value (typed columns need no text conversion to tell).
    ``kinds``: staged column -> engine type (:func:`_column_types`)."""
    kind = kinds.get(raw.column(col))
    if kind is not None and kind != "VARCHAR":
        return f"({raw.sql(col)} IS NOT NULL)"
    return f"({_text_sql(raw.sql(col))} IS NOT NULL)"


def _column_types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Column of ``table`` -> the engine's type name, in one look-up."""
    return dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {q(table)})").fetchall())


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(lit(v) for v in values) + ")"


def run_gate(
    con: duckdb.DuckDBPyConnection,
    raw: RawTable,
    mapping: ColumnMap,
    info: SourceInfo,
    *,
    tz: str,
    time_format: str | None = None,
    now_us: int | None = None,
    n_rows: int,
) -> GateResult:
    """Build ``events`` and ``quarantine`` from the staged ``raw`` table (``n_rows`` rows)."""
    source = info.path
    _check_timezone(con, tz)
    lifecycle, mapping = _use_lifecycle(con, raw, mapping, info)
    mapping = _finalise_mapping(mapping, lifecycle)
    kinds = _column_types(con, raw.name)

    assert mapping.end is not None  # detect_columns always finds or raises
    end = timestamp_column(
        con,
        raw.name,
        raw.column(mapping.end),
        tz=tz,
        time_format=time_format,
        source=source,
        label=mapping.end,
        row_sql=raw.row_sql,
        kind=kinds[raw.column(mapping.end)],
        n_rows=n_rows,
    )
    info.timestamp_formats[mapping.end] = end.formats  # type: ignore[index]
    start_parsed = None
    start_sql = "CAST(NULL AS BIGINT)"
    start_local = "CAST(NULL AS TIMESTAMP)"
    end_local = end.local_sql or "CAST(NULL AS TIMESTAMP)"
    if mapping.start:
        start = timestamp_column(
            con,
            raw.name,
            raw.column(mapping.start),
            tz=tz,
            time_format=time_format,
            source=source,
            label=mapping.start,
            row_sql=raw.row_sql,
            kind=kinds[raw.column(mapping.start)],
            n_rows=n_rows,
        )
        info.timestamp_formats[mapping.start] = start.formats
        start_parsed = start
        start_sql = start.sql
        start_local = start.local_sql or start_local

    def text(col: str) -> str:
        return _text_sql(raw.sql(col))

    acts = mapping.activity_columns
    if len(acts) == 1:
        activity_sql = text(acts[0])
    else:
        parts = ", ".join(text(a) for a in acts)
        activity_sql = f"CASE WHEN {text(acts[0])} IS NULL THEN NULL ELSE concat_ws('+', {parts}) END"
    resource_sql = text(mapping.resource) if mapping.resource else "CAST(NULL AS VARCHAR)"
    # Activities and resources are few distinct values repeated over every row: held as codes
    # (an enumeration of their sorted values) while reading, they sort and compare as small
    # integers. A column whose values need no trimming and hold no NUL byte (the usual case)
    # is cast as it is: no text is trimmed per row, and its NUL check is left out (it would
    # be false on every row). The case id is cast as it is likewise when its distinct values
    # (fewer than the rows, if many) need no cleaning.
    roles = {"activity": (activity_sql, acts[0] if len(acts) == 1 else None)}
    if mapping.resource:
        roles["resource"] = (resource_sql, mapping.resource)
    text_case = kinds.get(raw.column(mapping.case)) == "VARCHAR"
    coded, case_clean = _coded(con, raw, roles, kinds, case_column=mapping.case if text_case else None)
    activity_sql, resource_sql = coded["activity"][0], coded.get("resource", (resource_sql, False))[0]
    clean = {roles[role][1] for role, (_, is_clean) in coded.items() if is_clean}
    case_sql = text(mapping.case)
    if text_case and case_clean:
        case_sql = raw.sql(mapping.case)
        clean.add(mapping.case)
    lifecycle_sql = f"lower({text(mapping.lifecycle)})" if lifecycle else "CAST(NULL AS VARCHAR)"

    attributes = _attribute_names(mapping, raw.columns)
    attr_sql = "".join(f", {raw.sql(src)} AS {q(dst)}" for dst, src in attributes.items())

    end_present = _present(kinds, raw, mapping.end)  # type: ignore[arg-type]
    start_present = _present(kinds, raw, mapping.start) if mapping.start else "FALSE"
    dst_cols = ""
    if _observes_dst(tz) and (end.local_sql or (mapping.start and start_local != "CAST(NULL AS TIMESTAMP)")):
        dst_cols = f", {end_local} AS __end_local, {start_local} AS __start_local"
    # A NUL byte in any text field marks a damaged row (C strings cut short, binary spilled
    # into text); it is set aside whole rather than read in part.
    text_cols = [c for c in _text_columns(kinds, raw) if c not in clean]
    nul_sql = " OR ".join(f"contains({raw.sql(c)}, chr(0))" for c in text_cols) or "FALSE"
    # A wall-clock time the zone skips (spring forward) does not exist: the engine would read
    # it an hour later and reorder the case; it is set aside with the value instead.
    gap_checks = ""
    if dst_cols:
        z = lit(tz)
        gap_checks = (
            f"WHEN __end_local IS NOT NULL AND timezone({z}, make_timestamptz(end_us)) <> __end_local "
            f"THEN {lit(Q.DST_GAP)} "
            f"WHEN __start_local IS NOT NULL AND start_us IS NOT NULL "
            f"AND timezone({z}, make_timestamptz(start_us)) <> __start_local THEN {lit(Q.DST_GAP)}"
        )
    # The wall clock each time column is written in (for its resolution, methods §1.7) is
    # taken in the same pass: the parsed instant itself where the two are equal, else a column
    # of its own (text times are not parsed a second time in another scan).
    walls: dict[str, str] = {}
    wall_cols = ""
    for col, parsed_col, instant in ((mapping.end, end, "end_us"), (mapping.start, start_parsed, "start_us")):
        if col is None or parsed_col is None or parsed_col.wall_sql is None:
            continue
        if parsed_col.wall_is_instant:
            walls[col] = instant
        else:
            walls[col] = f"__wall_{instant}"
            wall_cols += f", epoch_us({parsed_col.wall_sql}) AS {walls[col]}"
    own_walls = [w for w in walls.values() if w.startswith("__wall_")]
    # columns the parse expressions read by name (one per time column, computed once per row)
    pre = dict(p.pre for p in (end, start_parsed) if p is not None and p.pre is not None)
    # a value the fast parse read is present (a CASE: the text check only for the other rows)
    if end.pre is not None:
        end_present = f"CASE WHEN {q(end.pre[0])} IS NOT NULL THEN TRUE ELSE {end_present} END"
    if start_parsed is not None and start_parsed.pre is not None:
        start_present = f"CASE WHEN {q(start_parsed.pre[0])} IS NOT NULL THEN TRUE ELSE {start_present} END"
    source_sql, row_sql = q(raw.name), f"CAST({raw.row_sql} AS BIGINT)"
    if pre:
        # the source row is numbered below them too (rowid is the staged table's own)
        cols = "".join(f", {sql} AS {q(name)}" for name, sql in pre.items())
        source_sql = f"(SELECT *{cols}, {row_sql} AS __src_row FROM {source_sql})"
        row_sql = "__src_row"
    staging_cols = ", ".join(["__reason", *own_walls])
    # the flags the reason is read from are not stored (three columns fewer to write per row),
    # nor the lifecycle value of a log without lifecycle (NULL on every row)
    # a text time the engine read as one of its words ('epoch': 1970-01-01) is no time
    words = {
        name: raw.sql(col)
        for name, col in (("__end_text", mapping.end), ("__start_text", mapping.start))
        if col is not None and kinds.get(raw.column(col)) == "VARCHAR"
    }
    words_cols = "".join(f" {sql} AS {name}," for name, sql in words.items())
    # (both after the end's range check: a start word's instant, 0, passes the start's)
    word_checks = " ".join(
        f"WHEN {special_word(name, us)} THEN {lit(reason)}"
        for name, us, reason in (
            ("__end_text", "end_us", Q.BAD_TIME),
            ("__start_text", "start_us", Q.BAD_START),
        )
        if name in words
    )
    unstored = ", ".join(
        ["__start_present", "__end_present", "__nul", *words, *([] if lifecycle else ["__lc"])]
    )
    lc_check = (
        f"WHEN __lc IS NOT NULL AND __lc NOT IN {_in(tuple(STANDARD_LIFECYCLE))} THEN {lit(Q.UNKNOWN_LIFECYCLE)}"
        if lifecycle
        else ""
    )
    # the session zone is UTC (engine.duckdb_engine) unless set for another one here
    own_zone = tz != "UTC"
    if own_zone:
        con.execute(f"SET TimeZone = {lit(tz)}")
    try:
        # One pass: parse every row and give the unusable ones their reason. The reason's
        # detail (with the offending value) is written later, for quarantined rows only.
        con.execute(
            f"""
            CREATE TEMP TABLE parsed AS
            SELECT * EXCLUDE ({unstored}),
              CASE WHEN __nul THEN {lit(Q.NUL_BYTE)}
                   WHEN case_id IS NULL THEN {lit(Q.MISSING_CASE)}
                   WHEN activity IS NULL THEN {lit(Q.MISSING_ACTIVITY)}
                   WHEN NOT __end_present THEN {lit(Q.MISSING_TIME)}
                   WHEN end_us IS NULL OR end_us NOT BETWEEN {MIN_US} AND {MAX_US} THEN {lit(Q.BAD_TIME)}
                   {word_checks}
                   WHEN __start_present AND (start_us IS NULL OR start_us NOT BETWEEN {MIN_US} AND {MAX_US})
                     THEN {lit(Q.BAD_START)}
                   {gap_checks}
                   WHEN start_us > end_us THEN {lit(Q.END_BEFORE_START)}
                   {lc_check}
              END AS __reason
            FROM (
              SELECT {row_sql} AS __row,
                     {case_sql} AS case_id,
                     {activity_sql} AS activity,
                     {start_sql} AS start_us,
                     {end.sql} AS end_us,{words_cols}
                     {start_present} AS __start_present,
                     {end_present} AS __end_present,
                     {resource_sql} AS resource,
                     {lifecycle_sql} AS __lc,
                     ({nul_sql}) AS __nul
                     {dst_cols}
                     {wall_cols}
                     {attr_sql}
              FROM {source_sql})
            """
        )
    except duckdb.Error as exc:
        raise InputError(f"{source}: cannot read the log's values: {str(exc).splitlines()[0]}") from exc
    finally:
        if own_zone:
            con.execute("SET TimeZone = 'UTC'")
    resolution = _time_resolution(con, walls)
    ambiguous = Flag(0, 0, Q.FLAG_TEXT["ambiguous_local_times"])
    if dst_cols:
        ambiguous = _ambiguous_times(con, tz)

    if lifecycle:
        # Exact duplicates among usable rows (the first in file order is kept), before rows are
        # paired. A hash finds the few candidate groups cheaply; only their rows are compared.
        dup_cols = ["case_id", "activity", "start_us", "end_us", "resource", "__lc", *attributes]
        cols = ", ".join(q(c) for c in dup_cols)
        con.execute(
            f"""
            CREATE TEMP TABLE dup_rows AS
            WITH cand AS (
              SELECT h FROM (SELECT hash({cols}) AS h FROM parsed WHERE __reason IS NULL)
              GROUP BY h HAVING count(*) > 1),
            rows AS (
              SELECT __row, min(__row) OVER (PARTITION BY {cols}) AS __first
              FROM parsed WHERE __reason IS NULL AND hash({cols}) IN (SELECT h FROM cand))
            SELECT __row, __first FROM rows WHERE __row <> __first
            """
        )
        con.execute(
            f"""CREATE TEMP VIEW valid AS
               SELECT * EXCLUDE ({staging_cols}) FROM parsed
               WHERE __reason IS NULL AND __row NOT IN (SELECT __row FROM dup_rows)"""
        )
        dup_union = (
            f"UNION ALL SELECT __row, {lit(Q.DUPLICATE)}, 'same values as row ' || __first FROM dup_rows"
        )
    else:
        # Without lifecycle rows, duplicates are found while instances are ordered (below).
        con.execute(
            f"""CREATE TEMP VIEW valid AS
               SELECT * EXCLUDE ({staging_cols}) FROM parsed
               WHERE __reason IS NULL"""
        )
        dup_union = ""
    con.execute(
        f"""
        CREATE TEMP TABLE qrows AS
        SELECT __row, __reason AS reason, {_gap_detail(mapping, tz) if dst_cols else "CAST(NULL AS VARCHAR)"} AS detail
        FROM parsed WHERE __reason IS NOT NULL
        {dup_union}
        """
    )

    quality = QualityReport()
    if lifecycle:
        quality.lifecycle = dict(
            con.execute(
                "SELECT coalesce(__lc, '(none)'), count(*) FROM valid GROUP BY 1 ORDER BY 2 DESC"
            ).fetchall()
        )
        _pair_lifecycle(con, attributes)
    else:
        attr_cols = "".join(f", {q(a)}" for a in attributes)
        con.execute(
            f"""CREATE TEMP VIEW instances AS
                SELECT case_id, activity, start_us, end_us, resource, __row AS src_row {attr_cols}
                FROM valid"""
        )

    typed = _infer_attribute_types(con, attributes)
    extra = ", status, schedule_us, suspended_us" if lifecycle else ""
    attr_select = "".join(f", {expr} AS {q(a)}" for a, expr in typed.items())
    # Cases are numbered by their start; instances by end time, then source row, within the
    # case. eid = case_idx * 2^24 + pos (relational.EID_STRIDE), so the successor of an instance
    # is eid + 1. Each case also gets the number of instances in the cases before it
    # (__first): in the sort below, its instances follow them.
    con.execute(
        """
        CREATE TEMP TABLE case_index AS
        SELECT case_id, row_number() OVER w - 1 AS case_idx, CAST(sum(n) OVER w - n AS BIGINT) AS __first
        FROM (SELECT case_id, min(coalesce(start_us, end_us)) AS t0, count(*) AS n
              FROM instances GROUP BY case_id)
        WINDOW w AS (ORDER BY t0, case_id ROWS UNBOUNDED PRECEDING)
        """
    )
    # One sort orders every instance by (case, end time, source row); one streaming pass over
    # the sorted rows then numbers them (pos = rank in the sort - __first) and reads each one's
    # neighbours, which belong to its case when their case_idx is its own. The engine keeps
    # the sorted order through a streaming window (it declares a fixed order): ~20 % less work
    # than a window partitioned by case, which sorts the same rows in ~600k small partitions
    # at 10^7 events; equality with that window is pinned in tests/test_gate_speed.py.
    # Without lifecycle pairing the pass also marks the instances whose case has another one
    # ending at the same time: exact duplicates share case and end time, so only those few are
    # compared in full (_drop_duplicates). The rows sorted carry codes, not text: activity and
    # resource go back to text (the table's type for every analysis). The case id is carried
    # through the sort as it is: joining it back by case number after the sort cost a second
    # hash join over every instance, and the join could reorder the rows (the table's rows now
    # lie in eid order whatever the plan; tests/test_gate_speed.py).
    # The same pass gives each instance its successor's activity and start
    # (relational.SUCCESSOR_COLUMNS): the activity stays a code there (one or two bytes; it
    # becomes text only in the few rows of the graph's result).
    same_next = "__next_case = x.case_idx"
    tie = (
        ""
        if lifecycle
        else ", (end_us = CASE WHEN __prev_case = x.case_idx THEN __prev_end END "
        f"OR end_us = CASE WHEN {same_next} THEN __next_end END) AS __tie"
    )
    tie_w = (
        ""
        if lifecycle
        else ", lag(end_us) OVER () AS __prev_end, lag(case_idx) OVER () AS __prev_case, "
        "lead(end_us) OVER () AS __next_end"
    )
    con.execute(
        f"""
        CREATE TABLE events AS
        SELECT x.case_idx * {EID_STRIDE} + pos AS eid, x.case_idx, case_id, pos,
               CAST(activity AS VARCHAR) AS activity, start_us, end_us,
               CAST(resource AS VARCHAR) AS resource, src_row {extra} {attr_select} {tie},
               CASE WHEN {same_next} THEN __next_activity END AS __succ_activity,
               CASE WHEN {same_next} THEN __next_t - end_us END AS __succ_gap_us,
               activity AS {ACTIVITY_CODE}
        FROM (
          SELECT *, row_number() OVER () - 1 - __first AS pos, lead(case_idx) OVER () AS __next_case,
                 lead(activity) OVER () AS __next_activity,
                 lead(coalesce(start_us, end_us)) OVER () AS __next_t {tie_w}
          FROM (SELECT c.case_idx, c.__first, i.*
                FROM instances i JOIN case_index c USING (case_id)
                ORDER BY c.case_idx, i.end_us, i.src_row)) x
        """
    )
    if not lifecycle:
        _drop_duplicates(con, attributes)
    # the longest case, and whether any instance has a start (EventLog.has_start_times, known
    # here from the same scan instead of another query later)
    (longest, n_starts) = con.execute(  # type: ignore[misc]
        "SELECT coalesce(max(pos), 0), count(start_us) FROM events"
    ).fetchone()
    if longest >= EID_STRIDE:
        raise InputError(
            f"{source}: a case has {longest + 1:,} activity instances; flowlens handles at most "
            f"{EID_STRIDE:,} per case",
            hint="check the case column (--case)",
        )
    drop_staging(con, "instances", "valid", "case_index")

    _build_quarantine(con, raw, mapping, kinds)
    _fill_counts(con, raw, n_rows, quality)
    if quality.rows_read == 0:
        raise EmptyLogError(
            f"{source}: the log has no rows (only a header)"
            if info.format == "csv"
            else f"{source}: the log has no rows",
            hint="export the log again with its events",
        )
    if quality.rows_kept == 0:
        top = ", ".join(f"{n:,} {r}" for r, n in quality.quarantine_reasons.items())
        raise EmptyLogError(
            f"{source}: no usable events ({quality.rows_read:,} rows read; all set aside: {top})",
            hint="check the column mapping (--case/--activity/--end) and --time-format; "
            "inspect --quarantine FILE writes the rows and the reasons",
        )
    has_start = mapping.start is not None or lifecycle
    final_mapping = mapping
    read_at = now_us if now_us is not None else int(time.time() * 1_000_000)

    def compute_flags() -> dict[str, Flag]:
        flags = _flags(con, final_mapping, tz=tz, has_start=has_start, now_us=read_at)
        if ambiguous.count:
            flags["ambiguous_local_times"] = ambiguous
        coarse = [r for r in quality.time_resolution.values() if r.coarse]
        if coarse:
            worst = max(coarse, key=lambda r: r.resolution_s)
            parts = "; ".join(
                f"'{r.column}' to the {r.unit} ({100 * r.share(r.unit):.0f} % of values "
                f"{'at midnight' if r.unit == 'day' else 'on whole ' + r.unit + 's'})"
                for r in coarse
            )
            flags["coarse_timestamps"] = Flag(
                worst.whole.get(worst.unit, 0),
                None,
                f"times recorded only {parts}: order within a {worst.unit} and durations "
                f"shorter than a {worst.unit} are unknown",
            )
        return flags

    quality.time_resolution = resolution
    quality.flag_source = compute_flags
    return GateResult(quality, mapping, attributes, lifecycle, bool(n_starts))


#: A text role (activity, resource) with at most this many distinct values is stored as codes.
CODED_MAX = 1 << 16


def _coded(
    con: duckdb.DuckDBPyConnection,
    raw: RawTable,
    roles: dict[str, tuple[str, str | None]],
    kinds: dict[str, str],
    *,
    case_column: str | None = None,
) -> tuple[dict[str, tuple[str, bool]], bool]:
    """Per role (``"activity"``, ``"resource"``: ``(expr, column)``), SQL for ``expr`` as an
    enumeration of its distinct values, or ``expr`` itself when they are many (or none); and
    whether that SQL is a plain cast of source ``column``. Also whether the text column
    ``case_column`` (None: not asked) holds only clean values (:func:`_needs_text_cleaning`).

    Used while reading: rows sorted, grouped and compared carry one or two bytes instead of
    text. The enumeration lists the values in the engine's text order, so comparing and
    ordering codes gives what comparing and ordering the text would. The events table holds
    text again (the type every analysis and export expects; fetching an enumeration into
    pandas goes value by value through Python).

    ``expr`` is the trimmed text of ``column`` (None: of several columns). The distinct values
    are taken as the source has them and trimmed afterwards, a few values instead of every
    row; when each one is its own trimmed, non-empty text without a NUL byte, the column is
    cast as it is (the same code for every row, without trimming each) and the second value
    is True: the column then holds no NUL byte on any row. The roles' distinct values are kept
    in one small table and checked, with the case column, in one query (each statement costs
    the engine about half a millisecond, a few per cent of reading a log of 10^5 events).
    """
    srcs = {
        role: (
            expr,
            raw.sql(column) if column is not None and kinds.get(raw.column(column)) == "VARCHAR" else expr,
        )
        for role, (expr, column) in roles.items()
    }

    def trimmed(expr: str, src: str) -> tuple[str, str]:
        return (_text_sql("r"), _needs_text_cleaning("r")) if src != expr else ("r", "FALSE")

    values = " UNION ALL ".join(
        f"SELECT {lit(role)} AS role, r FROM (SELECT DISTINCT {src} AS r FROM {q(raw.name)})"
        for role, (_, src) in srcs.items()
    )
    checks = [
        f"(SELECT [count(DISTINCT {t}), count(*) FILTER (WHERE {dirty})] FROM __fl_values "
        f"WHERE role = {lit(role)})"
        for role, (t, dirty) in ((role, trimmed(*pair)) for role, pair in srcs.items())
    ]
    case_check = (
        f"(SELECT count(*) FILTER (WHERE {_needs_text_cleaning('v')}) "
        f"FROM (SELECT DISTINCT {raw.sql(case_column)} AS v FROM {q(raw.name)}))"
        if case_column is not None
        else "0"
    )
    con.execute(f"CREATE TEMP TABLE __fl_values AS {values}")
    out: dict[str, tuple[str, bool]] = {}
    try:
        row = con.execute(f"SELECT {case_check}, {', '.join(checks)}").fetchone()
        assert row is not None
        for (role, (expr, src)), (n, dirty) in zip(srcs.items(), row[1:], strict=True):
            name = f"__flowlens_{role}"
            t, _ = trimmed(expr, src)
            if not 0 < n <= CODED_MAX:
                out[role] = (expr, False)
                continue
            try:
                con.execute(
                    f"CREATE TYPE {q(name)} AS ENUM (SELECT v FROM (SELECT DISTINCT {t} AS v "
                    f"FROM __fl_values WHERE role = {lit(role)}) WHERE v IS NOT NULL ORDER BY v)"
                )
            except duckdb.Error:  # pragma: no cover - a name taken already: keep the text
                out[role] = (expr, False)
                continue
            clean = src != expr and not dirty
            out[role] = (f"CAST({src if clean else expr} AS {q(name)})", clean)
    finally:
        con.execute("DROP TABLE __fl_values")
    return out, not row[0]


def _needs_text_cleaning(value: str) -> str:
    """SQL: text ``value`` is not its own trimmed, non-empty text, or holds a NUL byte (the
    gate reads such a value through :func:`_text_sql` and checks its row for NUL bytes).

    >>> import duckdb
    >>> duckdb.connect().execute("SELECT " + _needs_text_cleaning("' a'") + ", " + _needs_text_cleaning("'a'")).fetchone()
    (True, False)
    """
    return f"({value} IS DISTINCT FROM {_text_sql(value)} OR contains({value}, chr(0)))"


def _drop_duplicates(con: duckdb.DuckDBPyConnection, attributes: dict[str, str]) -> None:
    """Set aside exact duplicates among the ordered instances of a log without lifecycle rows.

    Two rows are duplicates when case, activity, start, end, resource and every attribute are
    equal as read (before attribute types are inferred); the first in file order is kept and
    the others are quarantined, naming it. Duplicates end at the same time in the same case,
    so the only candidates are the instances marked ``__tie`` (a neighbour in their case ends
    at the same time): usually few, and none at all in most logs. The cases that lose rows are
    renumbered, so ``pos`` and ``eid`` stay consecutive.
    """
    (n_tie,) = con.execute("SELECT count(*) FROM events WHERE __tie").fetchone()  # type: ignore[misc]
    if n_tie:
        cols = ", ".join(q(c) for c in ["case_id", "activity", "start_us", "end_us", "resource", *attributes])
        con.execute(
            f"""
            CREATE TEMP TABLE dup_rows AS
            SELECT __row, __first FROM (
              SELECT p.__row, min(p.__row) OVER (PARTITION BY {cols}) AS __first
              FROM parsed p SEMI JOIN (SELECT src_row FROM events WHERE __tie) t ON p.__row = t.src_row)
            WHERE __row <> __first
            """
        )
        (n_dup,) = con.execute("SELECT count(*) FROM dup_rows").fetchone()  # type: ignore[misc]
        if n_dup:
            con.execute(
                f"INSERT INTO qrows SELECT __row, {lit(Q.DUPLICATE)}, 'same values as row ' || __first "
                "FROM dup_rows"
            )
            con.execute(
                """CREATE TEMP TABLE dup_cases AS SELECT DISTINCT case_idx FROM events
                   WHERE src_row IN (SELECT __row FROM dup_rows)"""
            )
            con.execute("DELETE FROM events WHERE src_row IN (SELECT __row FROM dup_rows)")
            # ... and their successors taken again (relational.SUCCESSOR_COLUMNS)
            con.execute(
                f"""
                UPDATE events SET pos = r.pos, eid = events.case_idx * {EID_STRIDE} + r.pos,
                       __succ_activity = r.sa, __succ_gap_us = r.sg
                FROM (SELECT src_row, row_number() OVER w - 1 AS pos, lead(activity) OVER w AS sa,
                             lead(coalesce(start_us, end_us)) OVER w - end_us AS sg
                      FROM events WHERE case_idx IN (SELECT case_idx FROM dup_cases)
                      WINDOW w AS (PARTITION BY case_idx ORDER BY pos)) r
                WHERE events.src_row = r.src_row
                """
            )
            con.execute("DROP TABLE dup_cases")
    con.execute("ALTER TABLE events DROP COLUMN __tie")


def _text_columns(kinds: dict[str, str], raw: RawTable) -> list[str]:
    """The source columns the engine holds as text (every column of a CSV)."""
    return [c for c in raw.columns if kinds.get(raw.column(c)) == "VARCHAR"]


def _gap_detail(mapping: ColumnMap, tz: str) -> str:
    """SQL: the detail of a time in a daylight-saving gap (NULL for other reasons)."""
    z = lit(tz)
    fmt = "'%Y-%m-%d %H:%M:%S'"
    end_gap = f"timezone({z}, make_timestamptz(end_us)) <> __end_local"
    which = (
        f"CASE WHEN {end_gap} THEN {lit(mapping.end or '')} || '=' || strftime(__end_local, {fmt}) "
        f"ELSE {lit(mapping.start or '')} || '=' || strftime(__start_local, {fmt}) END"
    )
    return (
        f"CASE WHEN __reason = {lit(Q.DST_GAP)} THEN 'value ' || {which} || "
        f"{lit(f' does not exist in {tz}: the clocks skip that hour (daylight saving); give times with their UTC offset or fix the export')} END"
    )


def _ambiguous_times(con: duckdb.DuckDBPyConnection, tz: str) -> Flag:
    """Kept rows whose wall-clock time (end or start) falls in the hour a daylight-saving change
    repeats: they are read as the second (standard-time) occurrence, which may misorder them."""
    z = lit(tz)

    def repeated(us: str, local: str) -> str:
        i = f"make_timestamptz({us})"
        return (
            f"({local} IS NOT NULL AND {us} IS NOT NULL AND timezone({z}, {i}) = {local} "
            f"AND (timezone({z}, {i} - INTERVAL 1 HOUR) = {local} "
            f"OR timezone({z}, {i} + INTERVAL 1 HOUR) = {local}))"
        )

    end_hit, start_hit = repeated("end_us", "__end_local"), repeated("start_us", "__start_local")
    row = con.execute(
        f"""SELECT count(*), count(DISTINCT case_id),
                   min(strftime(CASE WHEN {end_hit} THEN __end_local ELSE __start_local END,
                                '%Y-%m-%d %H:%M:%S'))
            FROM parsed WHERE __reason IS NULL AND ({end_hit} OR {start_hit})"""
    ).fetchone()
    assert row is not None
    n, cases, example = row
    text = Q.FLAG_TEXT["ambiguous_local_times"]
    if n:
        text += f" (in {tz}, e.g. {example})"
    return Flag(int(n), int(cases), text)


def _check_timezone(con: duckdb.DuckDBPyConnection, tz: str) -> None:
    if tz == "UTC":  # the default, the zone the session is in already
        return
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

    try:
        # both readers of the name: DuckDB here, Python's zoneinfo when times are written back
        # (it is case-sensitive where DuckDB is not, so 'utc' passed one and crashed the other)
        ZoneInfo(tz)
        con.execute(f"SELECT timezone({lit(tz)}, TIMESTAMP '2020-01-01 00:00:00')").fetchone()
    except (ZoneInfoNotFoundError, ValueError, duckdb.Error) as exc:
        same = sorted(z for z in available_timezones() | {"UTC"} if z.lower() == tz.lower())
        raise InputError(
            f"unknown time zone '{tz}'",
            hint=f"did you mean '{same[0]}'?"
            if same
            else "use an IANA name such as UTC, Asia/Shanghai, Europe/London",
        ) from exc


def _use_lifecycle(
    con: duckdb.DuckDBPyConnection, raw: RawTable, mapping: ColumnMap, info: SourceInfo
) -> tuple[bool, ColumnMap]:
    """Decide what the lifecycle column is, from its values (docs/methods.md §1.2).

    Returns whether rows are paired on it, and the mapping (with the column joined to the
    activity when it holds sub-statuses). A column given with ``--lifecycle`` is always paired;
    an activity given with ``--activity`` is never extended.
    """
    col = mapping.lifecycle
    if col is None or col in mapping.activity_columns:
        return False, mapping
    given = info.roles.get("lifecycle") == "given"
    if mapping.start is not None and not given:
        info.notes.append(
            M_("'{column}' kept as an attribute: the log has start and end columns", column=col)
        )
        return False, mapping
    v = _text_sql(raw.sql(col))
    counts = con.execute(
        f"SELECT lower({v}) AS v, count(*), min({v}) FROM {q(raw.name)} WHERE {v} IS NOT NULL "
        "GROUP BY 1 ORDER BY 2 DESC, 1"
    ).fetchall()
    total = sum(n for _, n, _ in counts)
    other = [(val, n, shown) for val, n, shown in counts if val not in STANDARD_LIFECYCLE]
    n_other = sum(n for _, n, _ in other)
    if not total:
        return False, mapping
    if not n_other or given:
        return True, mapping
    shown = ", ".join(f"'{val}'" for _, _, val in other[:5])
    acts = mapping.activity_columns
    if n_other < SUBSTATUS_SHARE * total:
        share = (total - n_other) / total
        info.notes.append(
            M_(
                "'{column}' holds lifecycle transitions in {share} of rows; the {n} rows with other values "
                "({values}) are set aside as unknown transitions",
                column=col,
                share=percent_value(share, f"{100 * share:.1f} %"),
                n=count_value(n_other, f"{n_other:,}"),
                values=shown,
            )
        )
        return True, mapping
    if info.roles.get("activity") == "given":
        info.notes.append(
            M_(
                "'{column}' holds sub-statuses, not lifecycle transitions ({values}); kept as an attribute "
                "because --activity was given. To make them part of the activity, pass --activity {option}",
                column=col,
                values=shown,
                option=ACTIVITY_JOIN.join((*acts, col)),
            )
        )
        return False, mapping
    from dataclasses import replace

    joined = ACTIVITY_JOIN.join((*acts, col))
    info.notes.append(
        M_(
            "'{column}' holds sub-statuses, not lifecycle transitions ({values}; {share} of rows): the "
            "activity is {joined}; pass --activity {option} to keep them apart",
            column=col,
            values=shown,
            share=percent_value(n_other / total, f"{100 * n_other / total:.0f} %", 0),
            joined=joined,
            option=ACTIVITY_JOIN.join(acts),
        )
    )
    info.roles["activity"] = f"{info.roles.get('activity', 'name')} + sub-status '{col}' (content)"
    info.roles.pop("lifecycle", None)
    return False, replace(mapping, activity=(*acts, col), lifecycle=None)


def _finalise_mapping(mapping: ColumnMap, lifecycle: bool) -> ColumnMap:
    if lifecycle or mapping.lifecycle is None or mapping.lifecycle in mapping.activity_columns:
        return mapping
    from dataclasses import replace

    return replace(mapping, lifecycle=None, attributes=(*mapping.attributes, mapping.lifecycle))


def _attribute_names(mapping: ColumnMap, columns: list[str]) -> dict[str, str]:
    """Canonical name -> source name for every column that plays no role.

    The canonical name is the source name unless it clashes with a canonical column or an
    earlier attribute; the clash is judged case-insensitively, as the engine compares
    identifiers (``Resource`` clashes with ``resource``), and resolved with a ``src:`` prefix.
    Every canonical name is then a column of the events table, under exactly that name.

    >>> _attribute_names(ColumnMap(case="c", activity="concept:name", end="t"), ["c", "concept:name", "t", "Activity", "x"])
    {'src:Activity': 'Activity', 'x': 'x'}
    """
    used = set(mapping.role_columns())
    out: dict[str, str] = {}
    taken = {fold(c) for c in CANONICAL}
    for src in columns:
        if src in used:
            continue
        name = src
        while fold(name) in taken or name.startswith("__"):
            name = f"src:{name}"
        taken.add(fold(name))
        out[name] = src
    return out


def _pair_lifecycle(con: duckdb.DuckDBPyConnection, attributes: dict[str, str]) -> None:
    """Pair lifecycle rows into instances, first-in first-out per case and activity.

    A terminal row (complete, abort, withdraw, skip) closes one instance. It consumes the oldest
    waiting start of its case and activity; the number of terminals that find no waiting start
    up to row t is U(t) = max(0, max_{t' <= t} (T(t') - S(t'))), with S and T the running counts
    of starts and terminals, so matched pairs follow from window functions without a loop.
    Schedules pair the same way with instance openings (start, else terminal).
    """
    attr_cols = "".join(f", t.{q(a)}" for a in attributes)
    g = "PARTITION BY case_id, activity ORDER BY end_us, __kind_rank, __row"
    gw = f"{g} ROWS UNBOUNDED PRECEDING"
    con.execute(
        f"""
        CREATE TEMP TABLE lc AS
        SELECT *,
          CASE WHEN __lc IS NULL OR __lc IN {_in(_TERMINAL)} THEN 'T'
               WHEN __lc IN {_in(_START)} THEN 'S'
               WHEN __lc IN {_in(_PRE)} THEN 'P'
               ELSE 'M' END AS __kind,
          CASE WHEN __lc IN {_in(_PRE)} THEN 0 WHEN __lc IN {_in(_START)} THEN 1
               WHEN __lc IN {_in(_MID)} THEN 2 ELSE 3 END AS __kind_rank
        FROM valid
        """
    )
    # Starts against terminals.
    con.execute(
        f"""
        CREATE TEMP TABLE st AS
        WITH w AS (
          SELECT *,
            sum(CASE WHEN __kind = 'S' THEN 1 ELSE 0 END) OVER ({gw}) AS __s_cum,
            sum(CASE WHEN __kind = 'T' THEN 1 ELSE 0 END) OVER ({gw}) AS __t_cum
          FROM lc WHERE __kind IN ('S', 'T')),
        uu AS (
          SELECT *, greatest(0, max(__t_cum - __s_cum) OVER ({g} ROWS UNBOUNDED PRECEDING)) AS __u FROM w)
        SELECT *, coalesce(lag(__u) OVER ({g}), 0) AS __u_prev,
               max(__t_cum - __u) OVER (PARTITION BY case_id, activity) AS __consumed
        FROM uu
        """
    )
    con.execute(
        f"""
        CREATE TEMP TABLE inst0 AS
        SELECT t.case_id, t.activity, s.end_us AS start_us, t.end_us,
               coalesce(t.resource, s.resource) AS resource, t.__row AS src_row,
               t.__lc AS status, coalesce(s.end_us, t.end_us) AS __open_us,
               coalesce(s.__row, t.__row) AS __open_row, s.__row AS __start_row {attr_cols}
        FROM (SELECT * FROM st WHERE __kind = 'T') t
        LEFT JOIN (SELECT * FROM st WHERE __kind = 'S') s
          ON t.__u = t.__u_prev AND s.case_id = t.case_id AND s.activity = t.activity
             AND s.__s_cum = t.__t_cum - t.__u
        """
    )
    con.execute(
        f"""
        INSERT INTO qrows
        SELECT __row, {lit(Q.OPEN_START)},
               'activity ' || activity || ' started at row ' || __row || ' never completes'
        FROM st WHERE __kind = 'S' AND __s_cum > __consumed
        """
    )
    # Schedules against instance openings.
    gs = "PARTITION BY case_id, activity ORDER BY ts, rk, __row"
    con.execute(
        f"""
        CREATE TEMP TABLE sched AS
        WITH ev AS (
          SELECT case_id, activity, end_us AS ts, 0 AS rk, __row, 'P' AS k, NULL AS src_row
          FROM lc WHERE __kind = 'P'
          UNION ALL
          SELECT case_id, activity, __open_us, 1, __open_row, 'O', src_row FROM inst0),
        w AS (
          SELECT *,
            sum(CASE WHEN k = 'P' THEN 1 ELSE 0 END) OVER ({gs} ROWS UNBOUNDED PRECEDING) AS __s_cum,
            sum(CASE WHEN k = 'O' THEN 1 ELSE 0 END) OVER ({gs} ROWS UNBOUNDED PRECEDING) AS __t_cum
          FROM ev),
        uu AS (SELECT *,
                greatest(0, max(__t_cum - __s_cum) OVER ({gs} ROWS UNBOUNDED PRECEDING)) AS __u
              FROM w)
        SELECT *, coalesce(lag(__u) OVER ({gs}), 0) AS __u_prev,
               max(__t_cum - __u) OVER (PARTITION BY case_id, activity) AS __consumed
        FROM uu
        """
    )
    con.execute(
        f"""
        INSERT INTO qrows
        SELECT __row, {lit(Q.OPEN_SCHEDULE)},
               'activity ' || activity || ' scheduled at row ' || __row
               || ' is never started or completed'
        FROM sched WHERE k = 'P' AND __s_cum > __consumed
        """
    )
    # Suspend / resume rows belong to the instance open at their time.
    con.execute(
        """
        CREATE TEMP TABLE mid AS
        SELECT m.__row, m.__lc, m.end_us AS ts, i.src_row AS inst_row
        FROM (SELECT * FROM lc WHERE __kind = 'M') m
        ASOF LEFT JOIN inst0 i
          ON m.case_id = i.case_id AND m.activity = i.activity AND m.end_us >= i.__open_us
        """
    )
    con.execute(
        """
        CREATE TEMP TABLE mid_ok AS
        SELECT m.* FROM mid m JOIN inst0 i ON m.inst_row = i.src_row WHERE m.ts <= i.end_us
        """
    )
    con.execute(
        f"""
        INSERT INTO qrows
        SELECT __row, {lit(Q.STRAY_SUSPEND)}, 'value ' || __lc || ' at row ' || __row
        FROM mid WHERE __row NOT IN (SELECT __row FROM mid_ok)
        """
    )
    con.execute(
        """
        CREATE TEMP TABLE instances AS
        WITH sp AS (
          SELECT inst_row, sum(ts - prev_ts) AS suspended_us FROM (
            SELECT *, lag(ts) OVER (PARTITION BY inst_row ORDER BY ts, __row) AS prev_ts,
                      lag(__lc) OVER (PARTITION BY inst_row ORDER BY ts, __row) AS prev_lc
            FROM mid_ok) WHERE __lc = 'resume' AND prev_lc = 'suspend' GROUP BY inst_row),
        sc AS (
          SELECT o.src_row, p.ts AS schedule_us
          FROM (SELECT * FROM sched WHERE k = 'O' AND __u = __u_prev) o
          JOIN (SELECT * FROM sched WHERE k = 'P') p
            ON p.case_id = o.case_id AND p.activity = o.activity AND p.__s_cum = o.__t_cum - o.__u)
        SELECT i.* EXCLUDE (__open_us, __open_row, __start_row), sc.schedule_us,
               sp.suspended_us
        FROM inst0 i LEFT JOIN sc USING (src_row) LEFT JOIN sp ON sp.inst_row = i.src_row
        """
    )
    for t in ("lc", "st", "inst0", "sched", "mid", "mid_ok"):
        con.execute(f"DROP TABLE {t}")


#: Above this many text attributes, their types are checked on the long form of the table
#: (see :func:`_infer_attribute_types`).
_WIDE = 16


def _infer_attribute_types(con: duckdb.DuckDBPyConnection, attributes: dict[str, str]) -> dict[str, str]:
    """SQL per attribute: text columns whose every value is an integer, a number or a boolean
    become that type; others stay as they are."""
    if not attributes:
        return {}
    kinds = _column_types(con, "instances")
    text_cols = [a for a in attributes if kinds.get(a) == "VARCHAR"]
    out = {a: q(a) for a in attributes}
    if not text_cols:
        return out
    number = "'-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?'"

    def checks(c: str) -> str:
        return (
            f"count({c}), "
            f"count(*) FILTER (WHERE {c} IS NOT NULL AND CAST(TRY_CAST({c} AS BIGINT) AS VARCHAR) = {c}), "
            f"count(*) FILTER (WHERE {c} IS NOT NULL AND TRY_CAST({c} AS DOUBLE) IS NOT NULL "
            f"AND regexp_full_match({c}, {number})), "
            f"count(*) FILTER (WHERE lower({c}) IN ('true', 'false'))"
        )

    counts: dict[str, tuple[int, int, int, int]] = {}
    if len(text_cols) <= _WIDE:
        row = con.execute(f"SELECT {', '.join(checks(q(a)) for a in text_cols)} FROM instances").fetchone()
        assert row is not None
        counts = {a: tuple(row[4 * i : 4 * i + 4]) for i, a in enumerate(text_cols)}  # type: ignore[misc]
    else:
        # One aggregate per column in one query costs the engine planning time that grows with
        # the square of the columns (1,000 columns: 16 s for 25 rows); the long form (one row
        # per non-empty value) is one grouped query whatever the width.
        cols = ", ".join(q(a) for a in text_cols)
        rows = con.execute(
            f"""SELECT __k, {checks("__v")} FROM (
                  UNPIVOT (SELECT {cols} FROM instances) ON COLUMNS(*) INTO NAME __k VALUE __v)
                GROUP BY __k"""
        ).fetchall()
        counts = {r[0]: tuple(r[1:5]) for r in rows}  # type: ignore[misc]
    for a in text_cols:
        n, ints, nums, bools = counts.get(a, (0, 0, 0, 0))
        if n == 0:
            continue
        if ints == n:
            out[a] = f"CAST({q(a)} AS BIGINT)"
        elif nums == n:
            out[a] = f"CAST({q(a)} AS DOUBLE)"
        elif bools == n:
            out[a] = f"(lower({q(a)}) = 'true')"
    return out


#: Columns of the quarantine table that the gate fills; source columns follow under their
#: own names (prefixed ``src:`` where one would clash with these).
QUARANTINE_COLUMNS = ("source_row", "reason", "detail", "raw_line")


def quarantine_names(columns: list[str]) -> dict[str, str]:
    """Quarantine column name -> source column, for the source columns kept in quarantine
    (clashes judged case-insensitively, as the engine compares identifiers)."""
    out: dict[str, str] = {}
    taken = {fold(c) for c in QUARANTINE_COLUMNS}
    for src in columns:
        name = src
        while fold(name) in taken:
            name = f"src:{name}"
        taken.add(fold(name))
        out[name] = src
    return out


def _build_quarantine(
    con: duckdb.DuckDBPyConnection, raw: RawTable, mapping: ColumnMap, kinds: dict[str, str]
) -> None:
    """The quarantined rows with their original values, and the reason's detail (the offending
    value), computed here for the few rows set aside rather than for every row read.
    ``kinds``: staged column -> engine type (:func:`_column_types`)."""
    names = quarantine_names(raw.columns)
    # Values keep their text, but a NUL byte is written as the four characters \x00: no output
    # file (CSV, JSON, HTML) should carry a raw NUL for another tool to trip over.
    cols = "".join(
        f", replace(CAST(r.{raw.sql(src)} AS VARCHAR), chr(0), '\\x00') AS {q(name)}"
        for name, src in names.items()
    )
    acts = mapping.activity_columns
    nul_at = ", ".join(
        f"CASE WHEN contains(r.{raw.sql(c)}, chr(0)) THEN "
        f"{lit(f'column {c} holds a NUL byte at character ')} || strpos(r.{raw.sql(c)}, chr(0)) END"
        for c in _text_columns(kinds, raw)
    )
    nul_detail = f"coalesce({nul_at})" if nul_at else "NULL"

    def raw_text(col: str | None) -> str:
        return "CAST(NULL AS VARCHAR)" if col is None else f"CAST(r.{raw.sql(col)} AS VARCHAR)"

    end_v, start_v = raw_text(mapping.end), raw_text(mapping.start)
    detail = f"""coalesce(qr.detail, CASE qr.reason
        WHEN {lit(Q.MISSING_CASE)} THEN {lit(f"column {mapping.case} is empty")}
        WHEN {lit(Q.MISSING_ACTIVITY)} THEN {lit(f"column {'+'.join(acts)} is empty")}
        WHEN {lit(Q.MISSING_TIME)} THEN {lit(f"column {mapping.end} is empty")}
        WHEN {lit(Q.BAD_TIME)} THEN 'value ' || {lit(mapping.end or "")} || '=' || {end_v}
        WHEN {lit(Q.BAD_START)} THEN 'value ' || {lit(mapping.start or "")} || '=' || {start_v}
        WHEN {lit(Q.END_BEFORE_START)} THEN 'start ' || {start_v} || ' is after end ' || {end_v}
        WHEN {lit(Q.UNKNOWN_LIFECYCLE)} THEN 'value ' || {raw_text(mapping.lifecycle)}
        WHEN {lit(Q.NUL_BYTE)} THEN {nul_detail}
      END)"""
    # No row set aside (the usual case): the same table, empty, without reading every source
    # column to find none (the engine still scans the probe side of a join with an empty one).
    (n_set_aside,) = con.execute("SELECT count(*) FROM qrows").fetchone()  # type: ignore[misc]
    con.execute(
        f"""
        CREATE TABLE quarantine AS
        SELECT qr.__row AS source_row, qr.reason, {detail} AS detail, CAST(NULL AS VARCHAR) AS raw_line
               {cols}
        FROM qrows qr
        JOIN (SELECT CAST({raw.row_sql} AS BIGINT) AS "__qrow", * FROM {q(raw.name)}) r
          ON r."__qrow" = qr.__row
        {"" if n_set_aside else "LIMIT 0"}
        """
    )
    if raw.rejects:
        con.execute(
            f"""INSERT INTO quarantine (source_row, reason, detail, raw_line)
                SELECT source_row, {lit(Q.MALFORMED)}, detail, replace(raw_line, chr(0), '\\x00')
                FROM {q(raw.rejects)}"""
        )
    drop_staging(con, "qrows", "parsed", "dup_rows")


def drop_staging(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Drop staging tables or views, whichever each is, in the order given (a view before the
    table it reads); names that do not exist are passed over."""
    for name in names:
        try:
            con.execute(f"DROP TABLE IF EXISTS {q(name)}")
        except duckdb.CatalogException:  # a view of that name (asking the catalog first cost ~7 ms)
            con.execute(f"DROP VIEW {q(name)}")


def _fill_counts(con: duckdb.DuckDBPyConnection, raw: RawTable, staged: int, quality: QualityReport) -> None:
    quality.rows_read = staged + raw.n_rejects
    quality.quarantine_reasons = dict(
        con.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason ORDER BY 2 DESC").fetchall()
    )
    quality.rows_quarantined = sum(quality.quarantine_reasons.values())
    quality.rows_kept = quality.rows_read - quality.rows_quarantined


def _flags(
    con: duckdb.DuckDBPyConnection,
    mapping: ColumnMap,
    *,
    tz: str,
    has_start: bool,
    now_us: int | None,
) -> dict[str, Flag]:
    """The distortion flags, each from an aggregate or a join (no window over all events)."""
    now = now_us if now_us is not None else int(time.time() * 1_000_000)
    con.execute(
        """CREATE TEMP TABLE fl_case AS
           SELECT case_idx, count(*) AS n, max(pos) AS last FROM events GROUP BY case_idx"""
    )
    one = con.execute
    same, same_c = one(
        """SELECT coalesce(sum(c), 0), count(DISTINCT case_idx) FROM (
             SELECT case_idx, count(*) AS c FROM events GROUP BY case_idx, end_us HAVING count(*) > 1)"""
    ).fetchone()  # type: ignore[misc]
    batch, batch_c = one(
        """WITH cand AS (SELECT end_us FROM events GROUP BY end_us HAVING count(*) >= 10),
                hit AS (SELECT e.case_idx, e.end_us FROM events e JOIN cand USING (end_us)),
                bt AS (SELECT end_us, count(*) AS c, count(DISTINCT case_idx) AS k FROM hit
                       GROUP BY end_us HAVING count(DISTINCT case_idx) >= 5)
           SELECT coalesce(sum(c), 0), (SELECT count(DISTINCT case_idx) FROM hit JOIN bt USING (end_us))
           FROM bt"""
    ).fetchone()  # type: ignore[misc]
    (single,) = one("SELECT count(*) FROM fl_case WHERE n = 1").fetchone()  # type: ignore[misc]
    (neg, neg_c) = one(
        """SELECT count(*), count(DISTINCT b.case_idx) FROM events a
            JOIN events b ON b.eid = a.eid + 1 AND b.case_idx = a.case_idx
            WHERE coalesce(b.start_us, b.end_us) < a.end_us"""
    ).fetchone()  # type: ignore[misc]
    row = one(
        f"""SELECT count(*) FILTER (WHERE end_us > {now} OR start_us > {now}),
                   count(*) FILTER (WHERE resource IS NULL),
                   count(*) FILTER (WHERE start_us IS NULL)
            FROM events"""
    ).fetchone()
    assert row is not None
    fut, nores, nostart = row
    fut_c = nores_c = 0
    if fut:
        (fut_c,) = one(
            f"SELECT count(DISTINCT case_idx) FROM events WHERE end_us > {now} OR start_us > {now}"
        ).fetchone()  # type: ignore[misc]
    if nores:
        (nores_c,) = one("SELECT count(DISTINCT case_idx) FROM events WHERE resource IS NULL").fetchone()  # type: ignore[misc]
    # cases whose last activity ends fewer than 5 % of the cases that contain it
    (open_cases,) = one(
        """WITH last AS (SELECT e.case_idx, e.activity FROM events e JOIN fl_case c
                         ON e.case_idx = c.case_idx AND e.pos = c.last),
                contain AS (SELECT activity, count(*) AS n FROM (SELECT DISTINCT case_idx, activity FROM events)
                            GROUP BY activity),
                ends AS (SELECT activity, count(*) AS n FROM last GROUP BY activity)
           SELECT coalesce(sum(d.n), 0) FROM ends d JOIN contain c USING (activity) WHERE d.n < 0.05 * c.n"""
    ).fetchone()  # type: ignore[misc]
    con.execute("DROP TABLE fl_case")
    f = Q.FLAG_TEXT
    flags = {
        "same_timestamp": Flag(int(same), int(same_c), f["same_timestamp"]),
        "batch_timestamps": Flag(int(batch), int(batch_c or 0), f["batch_timestamps"]),
        "single_event_cases": Flag(int(single), int(single), f["single_event_cases"]),
        "future_timestamps": Flag(int(fut), int(fut_c), f["future_timestamps"]),
        "negative_waits": Flag(int(neg), int(neg_c), f["negative_waits"]),
        "open_cases": Flag(int(open_cases), int(open_cases), f["open_cases"]),
    }
    if mapping.resource:
        flags["missing_resource"] = Flag(int(nores), int(nores_c), f["missing_resource"])
    if has_start and nostart:
        flags["missing_start"] = Flag(int(nostart), None, f["missing_start"])
    return flags


def _time_resolution(con: duckdb.DuckDBPyConnection, walls: dict[str, str]) -> dict[str, TimeResolution]:
    """How finely each time column used is recorded (docs/methods.md §1.7): per column, one
    aggregate over the wall clock as the source writes it, counting the values that are whole
    days (midnight), hours, minutes, seconds and milliseconds. ``walls``: source column -> the
    column of ``parsed`` that holds its wall clock in microseconds (every row read)."""
    parts = {col: sql for col, sql in walls.items() if sql}
    if not parts:
        return {}
    # One scan and one row: per column its count and the counts of whole units (a grouped
    # UNION over the columns cost a hash aggregate over twice the rows).
    cols = list(parts)
    aggs = []
    for i in range(len(cols)):
        aggs.append(f"count(__w{i})")
        aggs += [
            f"count(*) FILTER (WHERE __w{i} % {round(seconds * 1_000_000)} = 0)" for _, seconds in TIME_UNITS
        ]
    walls_sql = ", ".join(f"{parts[c]} AS __w{i}" for i, c in enumerate(cols))
    row = con.execute(f"SELECT {', '.join(aggs)} FROM (SELECT {walls_sql} FROM parsed)").fetchone()
    assert row is not None
    out: dict[str, TimeResolution] = {}
    width = 1 + len(TIME_UNITS)
    for i, c in enumerate(cols):
        n, *whole = row[i * width : (i + 1) * width]
        if not n:
            continue
        counts = {unit: int(k) for (unit, _), k in zip(TIME_UNITS, whole, strict=True)}
        out[c] = TimeResolution.from_counts(c, int(n), counts)
    return {col: out[col] for col in parts if col in out}
