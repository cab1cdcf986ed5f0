"""Turning a source timestamp column into UTC microseconds, in the engine, without guessing.

Rules (docs/methods.md, "Timestamps"):

* ISO 8601 values with an offset (``2024-03-01T09:30:00+08:00``, ``...Z``) keep their instant.
* Values without an offset are wall-clock times in the log's zone (``--tz``, default UTC).
  Around daylight-saving changes, a time in the skipped hour does not exist: the gate
  quarantines its row (``nonexistent local time``) rather than move it an hour. A time in the
  repeated hour is read as its second, standard-time occurrence and flagged
  (``ambiguous_local_times``).
* Day-first and month-first dates (``03/04/2024``) are accepted only when the column itself
  proves which one it is (a first field above 12 proves day-first); a column that proves
  neither, or both, is refused with a request for ``--time-format``.
* Anything else is unparseable: the row goes to quarantine with the value in the reason.

Typed columns (Parquet ``TIMESTAMP``, pandas ``datetime64``) need no parsing: zone-aware
values keep their instant, naive ones take the log's zone.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from flowlens.errors import ConfigError, InputError

_TIME_PARTS = ("%H:%M:%S.%f", "%H:%M:%S", "%H:%M", "%I:%M:%S %p", "%I:%M %p")
_EPOCH = {"epoch_s": 1_000_000, "epoch_ms": 1_000, "epoch_us": 1}
#: The instants a time may be (UTC microseconds): those every output (ISO text, Python's
#: datetime) can write in every zone, i.e. the years 1 to 9999 less 14 hours at each end (the
#: largest UTC offsets), since times are written in the log's zone and 9999-12-31 23:00 UTC is
#: already the year 10000 in Shanghai. The gate quarantines the others as unparseable.
_ZONE_MARGIN_US = 14 * 3_600_000_000
MIN_US = -62_135_596_800_000_000 + _ZONE_MARGIN_US
MAX_US = 253_402_300_799_999_999 - _ZONE_MARGIN_US


def special_word(text: str, us: str) -> str:
    """SQL: the text ``text`` that gave the instant ``us`` is one of the engine's special words
    ('epoch', which its casts and patterns read as 1970-01-01 00:00 UTC), not a time: it holds
    no digit. Only a value read as that instant is looked at (a CASE: no text check per row).

    >>> import duckdb
    >>> sql = "SELECT " + special_word("' Epoch '", "0") + ", " + special_word("'1970-01-01'", "0")
    >>> duckdb.connect().execute(sql).fetchone()
    (True, False)
    """
    return f"(CASE WHEN {us} = 0 THEN NOT regexp_matches({text}, '[0-9]') ELSE FALSE END)"


# ISO-like layouts TRY_CAST rejects (a space before the offset, compact offsets).
_ISO_EXTRA = [f"%Y-%m-%d{sep}{t} %z" for sep in (" ", "T") for t in ("%H:%M:%S.%f", "%H:%M:%S")] + [
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%z",
]


def q(name: str) -> str:
    """Quote an identifier for DuckDB SQL."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """Quote a string literal for DuckDB SQL."""
    return "'" + value.replace("'", "''") + "'"


@dataclass
class ParsedColumn:
    """SQL that yields UTC microseconds (NULL when unparseable) and what was detected.

    ``local_sql`` yields, for the values read as wall-clock time in the log's zone, that wall
    clock as a naive ``TIMESTAMP`` (NULL for values with an offset), so that times falling in a
    daylight-saving gap or overlap can be told (the gate quarantines or flags them).
    """

    sql: str
    formats: dict[str, int]
    local_sql: str | None = None
    #: SQL of the wall clock as the source writes it (a naive ``TIMESTAMP``; the offset, where
    #: a value has one, is dropped), to tell how finely times are recorded (methods §1.7).
    wall_sql: str | None = None
    #: The wall clock in microseconds equals ``sql`` for every value (typed columns read in UTC):
    #: the time resolution is then counted on the parsed instants, with no second conversion.
    wall_is_instant: bool = False
    #: (name, SQL): a column the caller computes from the staged table, in a projection under
    #: ``sql`` and ``wall_sql``, which read it by name: the column's usual layout parsed once
    #: per row (:func:`_layout_parse`), NULL for the values that take the general path.
    pre: tuple[str, str] | None = None


def _formats_with_times(date_part: str) -> list[str]:
    return [date_part] + [f"{date_part} {t}" for t in _TIME_PARTS]


def timestamp_column(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    *,
    tz: str,
    time_format: str | None,
    source: str,
    label: str | None = None,
    row_sql: str | None = None,
    kind: str,
    n_rows: int,
) -> ParsedColumn:
    """Build the parse expression for ``table.column``, of engine type ``kind`` in a table of
    ``n_rows`` rows; the caller runs it with the session ``TimeZone`` set to ``tz``. ``label`` is
    the column's name in the source, where it differs from the staged ``column`` (messages name
    the source's column). ``row_sql`` numbers the rows in source order (formats are detected on
    every k-th row of long tables)."""
    parsed = _parse_column(
        con,
        table,
        column,
        tz=tz,
        time_format=time_format,
        source=source,
        label=label,
        row_sql=row_sql,
        kind=kind,
        n_rows=n_rows,
    )
    col = q(column)
    from_instant = f"timezone({lit(tz)}, make_timestamptz({parsed.sql}))"
    if "typed timestamp with zone" in parsed.formats:
        parsed.wall_sql = f"timezone({lit(tz)}, {col})"
        parsed.wall_is_instant = is_utc(tz)
    elif parsed.local_sql and any(f.startswith("typed") for f in parsed.formats):
        parsed.wall_sql = parsed.local_sql
        parsed.wall_is_instant = is_utc(tz)
    else:
        # as written: ISO text keeps its wall clock when cast to TIMESTAMP (offset dropped);
        # other layouts through their local reading; epoch numbers from the instant
        text = f"trim(CAST({col} AS VARCHAR))"
        parts = [f"TRY_CAST({text} AS TIMESTAMP)", parsed.local_sql, from_instant]
        parsed.wall_sql = f"coalesce({', '.join(p for p in parts if p)})"
        if parsed.pre is not None:
            # a value in the usual layout has no offset: its wall clock is the value parsed
            fast = q(parsed.pre[0])
            parsed.wall_sql = f"CASE WHEN {fast} IS NOT NULL THEN {fast} ELSE {parsed.wall_sql} END"
    return parsed


def _parse_column(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    *,
    tz: str,
    time_format: str | None,
    source: str,
    label: str | None,
    row_sql: str | None,
    kind: str,
    n_rows: int,
) -> ParsedColumn:
    col = q(column)
    kind = kind.upper()
    pre_name = f"__flowlens_layout_{column}"
    column = label or column
    if kind.startswith("TIMESTAMP WITH TIME ZONE"):
        return ParsedColumn(f"epoch_us({col})", {"typed timestamp with zone": -1})
    if kind.startswith("TIMESTAMP") or kind == "DATE":
        return ParsedColumn(
            _instant(f"CAST({col} AS TIMESTAMP)", tz),
            {f"typed timestamp without zone (taken as {tz})": -1},
            f"CAST({col} AS TIMESTAMP)",
        )
    numeric = kind in {
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "FLOAT",
        "DOUBLE",
    } or (kind.startswith("DECIMAL") or kind.startswith("UBIGINT") or kind.startswith("UINTEGER"))
    if numeric and time_format not in _EPOCH:
        raise InputError(
            f"{source}: timestamp column '{column}' holds numbers ({kind}); flowlens will not "
            "guess their unit",
            hint="pass --time-format epoch_s, epoch_ms or epoch_us",
        )
    text = f"CAST({col} AS VARCHAR)" if kind != "VARCHAR" else col
    if time_format is not None:
        return _explicit(text, time_format, tz)
    return _detect(
        con, table, text, column, tz=tz, source=source, row_sql=row_sql, pre_name=pre_name, n_rows=n_rows
    )


def _explicit(text: str, time_format: str, tz: str) -> ParsedColumn:
    if time_format in _EPOCH:
        # "nan", "inf" and numbers past the microsecond range are unparseable values
        # (quarantined: TRY_CAST), not an error for the whole log
        return ParsedColumn(
            f"TRY_CAST(round(TRY_CAST({text} AS DOUBLE) * {_EPOCH[time_format]}) AS BIGINT)",
            {time_format: -1},
        )
    if time_format == "iso":
        return ParsedColumn(
            f"epoch_us(TRY_CAST(trim({text}) AS TIMESTAMPTZ))",
            {"ISO 8601": -1},
            f"CASE WHEN NOT {_has_offset(text)} THEN TRY_CAST(trim({text}) AS TIMESTAMP) END",
        )
    if "%" not in time_format:
        raise ConfigError(
            f"--time-format '{time_format}' is neither a strptime pattern (e.g. '%d/%m/%Y %H:%M') "
            f"nor one of iso, {', '.join(_EPOCH)}"
        )
    if "%z" in time_format or "%Z" in time_format:
        return ParsedColumn(f"epoch_us(try_strptime(trim({text}), {lit(time_format)}))", {time_format: -1})
    local = f"try_strptime(trim({text}), {lit(time_format)})"
    return ParsedColumn(_instant(local, tz), {time_format: -1}, local)


def _has_offset(text: str) -> str:
    """SQL: the value carries its zone (Z, an offset or a zone name after a time)."""
    return f"(contains({text}, ':') AND regexp_matches(rtrim({text}), {lit(_ZONE_END_RE)}))"


#: Names of UTC itself (no offset, no daylight saving, ever).
_UTC_NAMES = frozenset({"utc", "etc/utc", "etc/uct", "uct", "zulu", "etc/zulu", "universal", "etc/universal"})


def _instant(local: str, tz: str) -> str:
    """SQL: UTC microseconds of the naive wall-clock ``local`` read in ``tz``.

    In UTC a wall-clock time is its own instant, so the zone conversion (a per-value lookup in
    the engine's time-zone library, most of the cost of reading typed times) is skipped.
    """
    return f"epoch_us({local})" if is_utc(tz) else f"epoch_us(timezone({lit(tz)}, {local}))"


def is_utc(tz: str) -> bool:
    """True when ``tz`` names UTC, where a wall-clock time is its own instant.

    >>> is_utc("UTC"), is_utc("Etc/UTC"), is_utc("Europe/London")
    (True, True, False)
    """
    return tz.strip().lower() in _UTC_NAMES


def _observes_dst(tz: str) -> bool:
    """True when ``tz`` changes its offset within some year between 1970 and 2037."""
    from datetime import datetime
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return True  # unknown to Python but known to the engine: check the data
    return any(
        datetime(y, 1, 1, tzinfo=zone).utcoffset() != datetime(y, 7, 1, tzinfo=zone).utcoffset()
        for y in range(1970, 2038)
    )


#: Values examined to detect a text column's formats (all of them in smaller logs; every k-th
#: row of longer ones). Rows of a format the sample did not show are not guessed: they fail to
#: parse and are quarantined.
_SAMPLE = 200_000

_SLASH_RE = r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})(\s.*)?$"
_YMD_SLASH_RE = r"^\s*\d{4}[/.]\d{1,2}[/.]\d{1,2}(\s.*)?$"
#: A plain number: epoch seconds/milliseconds, a spreadsheet serial date, ... (unit unknown).
_NUMBER_RE = r"^\s*[+-]?\d+(\.\d*)?\s*$"
#: What ends a timestamp that carries its zone: Z, +hh, +hhmm, +hh:mm, or a zone name.
_ZONE_END_RE = r"(Z|z|[+-]\d{2}(:?\d{2})?|\s[A-Za-z][A-Za-z_]*(/[A-Za-z_]+)*)$"


def _detect(
    con: duckdb.DuckDBPyConnection,
    table: str,
    text: str,
    column: str,
    *,
    tz: str,
    source: str,
    row_sql: str | None = None,
    pre_name: str = "__flowlens_layout",
    n_rows: int | None = None,
) -> ParsedColumn:
    iso = f"TRY_CAST(trim({text}) AS TIMESTAMPTZ)"
    offset = _has_offset(text)
    # A systematic sample (every k-th row) rather than the engine's reservoir sample, whose
    # seed does not fix the sample when the engine runs on several threads.
    sample = ""
    if row_sql is not None:
        if n_rows is None:
            (n_rows,) = con.execute(f"SELECT count(*) FROM {q(table)}").fetchone()  # type: ignore[misc]
        step = -(-int(n_rows) // _SAMPLE)
        if step > 1:
            sample = f" AND {row_sql} % {step} = 0"
    layout = _usual_layout(con, table, text, row_sql)
    # Values in the column's usual layout are naive ISO by construction (_layout_parse): the
    # zone-aware cast and the offset pattern, ~4x the cost, are spent on the others only.
    in_layout = f"({_layout_parse('s', layout)} IS NOT NULL)" if layout else "FALSE"
    # The other layouts' patterns are matched only on the values that are not ISO (a CASE
    # evaluates its branch for the rows that reach it; a filter's AND may evaluate both sides
    # for every row): the counts are those of "NOT iso AND pattern".
    slash = f"regexp_matches(s, {lit(_SLASH_RE)})"
    stats = con.execute(
        f"""
        WITH v AS (SELECT s, CASE WHEN __in_layout THEN TRUE ELSE TRY_CAST(trim(s) AS TIMESTAMPTZ) IS NOT NULL END AS iso,
                          CASE WHEN __in_layout THEN FALSE ELSE {_has_offset("s")} END AS off
                   FROM (SELECT s, {in_layout} AS __in_layout
                         FROM (SELECT {text} AS s FROM {q(table)} WHERE {text} IS NOT NULL{sample}))),
        w AS (SELECT *, CASE WHEN NOT iso THEN {slash} END AS sl,
                        CASE WHEN NOT iso THEN regexp_matches(s, {lit(_NUMBER_RE)}) END AS num FROM v)
        SELECT count(*),
               count(*) FILTER (WHERE iso AND off),
               count(*) FILTER (WHERE iso AND NOT off AND contains(s, ':')),
               count(*) FILTER (WHERE iso AND NOT contains(s, ':')),
               count(*) FILTER (WHERE sl),
               count(*) FILTER (WHERE CASE WHEN sl THEN
                                  TRY_CAST(regexp_extract(s, {lit(_SLASH_RE)}, 1) AS INT) > 12 END),
               count(*) FILTER (WHERE CASE WHEN sl THEN
                                  TRY_CAST(regexp_extract(s, {lit(_SLASH_RE)}, 2) AS INT) > 12 END),
               count(*) FILTER (WHERE CASE WHEN NOT iso THEN regexp_matches(s, {lit(_YMD_SLASH_RE)}) END),
               count(*) FILTER (WHERE NOT iso AND off),
               count(*) FILTER (WHERE num),
               min(s) FILTER (WHERE num)
        FROM w
        """
    ).fetchone()
    assert stats is not None
    (
        nonnull,
        iso_off,
        iso_naive,
        iso_date,
        slash,
        dmy,
        mdy,
        ymd_slash,
        other_off,
        numbers,
        number_example,
    ) = stats
    if numbers and 2 * numbers > nonnull:
        # Mostly numbers: a numeric column stored as text. Same rule as typed numeric columns:
        # the unit (seconds, milliseconds, spreadsheet days) is not guessed.
        raise InputError(
            f"{source}: timestamp column '{column}' holds numbers ({numbers:,} of {nonnull:,} "
            f"values, e.g. '{number_example.strip()}'); flowlens will not guess their unit",
            hint="pass --time-format epoch_s, epoch_ms or epoch_us (or a strptime pattern "
            "such as %Y%m%d%H%M%S)",
        )
    formats: dict[str, int] = {}
    if iso_off:
        formats["ISO 8601 with offset"] = iso_off
    if iso_naive:
        formats[f"ISO 8601 without offset (taken as {tz})"] = iso_naive
    if iso_date:
        formats[f"date only (midnight, {tz})"] = iso_date

    fallbacks: list[str] = []
    locals_ = [f"CASE WHEN NOT {offset} THEN TRY_CAST(trim({text}) AS TIMESTAMP) END"]
    if other_off:
        fallbacks.append(f"epoch_us(try_strptime(trim({text}), {_list(_ISO_EXTRA)}))")
        formats["ISO 8601 variant with offset"] = other_off
    if slash:
        if dmy and mdy:
            ex = con.execute(
                f"""SELECT
                      (SELECT s FROM (SELECT {text} s FROM {q(table)}) WHERE
                         TRY_CAST(regexp_extract(s, {lit(_SLASH_RE)}, 1) AS INT) > 12 LIMIT 1),
                      (SELECT s FROM (SELECT {text} s FROM {q(table)}) WHERE
                         TRY_CAST(regexp_extract(s, {lit(_SLASH_RE)}, 2) AS INT) > 12 LIMIT 1)"""
            ).fetchone()
            assert ex is not None
            raise InputError(
                f"{source}: column '{column}' mixes day-first dates (e.g. '{ex[0]}') and "
                f"month-first dates (e.g. '{ex[1]}'); flowlens will not guess which rows are which",
                hint="fix the export or pass --time-format with one pattern; rows that do not "
                "match it are quarantined",
            )
        if not dmy and not mdy:
            raise InputError(
                f"{source}: column '{column}' has {slash:,} dates like DD/MM/YYYY or MM/DD/YYYY "
                "and none of them shows which (no field above 12)",
                hint="pass --time-format, e.g. '%d/%m/%Y %H:%M:%S' or '%m/%d/%Y %H:%M:%S'",
            )
        first = "%d" if dmy else "%m"
        second = "%m" if dmy else "%d"
        pats: list[str] = []
        for sep in ("/", ".", "-"):
            for year in ("%Y", "%y"):
                pats += _formats_with_times(f"{first}{sep}{second}{sep}{year}")
        fallbacks.append(_instant(f"try_strptime(trim({text}), {_list(pats)})", tz))
        locals_.append(f"try_strptime(trim({text}), {_list(pats)})")
        formats["DD/MM/YYYY" if dmy else "MM/DD/YYYY"] = slash
    if ymd_slash:
        pats = []
        for sep in ("/", "."):
            pats += _formats_with_times(f"%Y{sep}%m{sep}%d")
        fallbacks.append(_instant(f"try_strptime(trim({text}), {_list(pats)})", tz))
        locals_.append(f"try_strptime(trim({text}), {_list(pats)})")
        formats["YYYY/MM/DD"] = ymd_slash
    sql = f"coalesce(epoch_us({iso}){''.join(', ' + f for f in fallbacks)})"
    if layout is None or not is_utc(tz):
        return ParsedColumn(sql, formats, f"coalesce({', '.join(locals_)})")
    # In UTC a naive value's wall clock is its instant: a value in the usual layout is read
    # once, by the fast parse, and the others as above (results equal value for value).
    fast = q(pre_name)
    return ParsedColumn(
        f"CASE WHEN {fast} IS NOT NULL THEN epoch_us({fast}) ELSE {sql} END",
        formats,
        f"coalesce({', '.join(locals_)})",
        pre=(pre_name, _layout_parse(text, layout)),
    )


#: Layouts of naive ISO 8601 text (a space or a T; with or without fractions of a second) that
#: a column is usually written in throughout, as strptime patterns (:func:`_usual_layout`).
_LAYOUTS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f")


def _usual_layout(con: duckdb.DuckDBPyConnection, table: str, text: str, row_sql: str | None) -> str | None:
    """The pattern of :data:`_LAYOUTS` most of the column's first 1,000 rows are in (the first
    listed of equals), or None when none is. Only speed depends on it: values in any other
    layout take the general path."""
    head = f"{row_sql} <= 1000" if row_sql is not None else "TRUE"
    counts = ", ".join(f"count(*) FILTER (WHERE try_strptime(s, {lit(p)}) IS NOT NULL)" for p in _LAYOUTS)
    row = con.execute(
        f"SELECT {counts} FROM (SELECT {text} AS s FROM {q(table)} WHERE {head} AND {text} IS NOT NULL LIMIT 1000)"
    ).fetchone()
    best = max(range(len(_LAYOUTS)), key=lambda i: (row[i], -i)) if row else 0
    return _LAYOUTS[best] if row and row[best] else None


def _layout_parse(text: str, layout: str) -> str:
    """SQL: the naive ``TIMESTAMP`` of a value in ``layout`` (a pattern of :data:`_LAYOUTS`),
    NULL for any other value.

    A value passes when the strict pattern reads it whole (no offset, no zone, no text after the
    time) and the cast to ``TIMESTAMP`` reads it too (the pattern alone lets tabs and newlines
    through, which the cast refuses). Such a value holds no zone, so the zone-aware cast reads
    the same instant in UTC and the offset pattern does not match it: the general path gives the
    same answer, at about four times the cost (checked on 800,000 perturbed values while this was
    written; tests/test_gate_speed.py keeps 60,000 per layout).

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> con.execute("SELECT " + _layout_parse("'2024-05-01 09:30:00'", "%Y-%m-%d %H:%M:%S")).fetchone()
    (datetime.datetime(2024, 5, 1, 9, 30),)
    >>> con.execute("SELECT " + _layout_parse("'2024-05-01 09:30:00+08:00'", "%Y-%m-%d %H:%M:%S")).fetchone()
    (None,)
    """
    return f"CASE WHEN try_strptime({text}, {lit(layout)}) IS NOT NULL THEN TRY_CAST({text} AS TIMESTAMP) END"


def _list(values: list[str]) -> str:
    return "[" + ", ".join(lit(v) for v in values) + "]"
