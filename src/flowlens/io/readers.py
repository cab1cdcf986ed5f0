"""Format readers: each loads a source, unchanged, into a staging table of the ingest engine.

A reader creates the table ``raw`` (the source columns, values as the source has them) and
returns a :class:`RawTable` saying how to number its rows in source order and which rows the
format itself could not read (CSV lines with too many or too few fields). Everything after
that, parsing, checking, quarantining, happens once, in :mod:`flowlens.io.gate`.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from flowlens.columns import ColumnMap
from flowlens.errors import InputError, LogFormatError
from flowlens.io.source import damaged, is_gzip, read_head, verify_gzip
from flowlens.io.timestamps import lit, q
from flowlens.source import SourceInfo

if TYPE_CHECKING:
    import pandas as pd

#: Encodings DuckDB's CSV reader decodes itself; anything else is transcoded to UTF-8 first.
_NATIVE_ENCODINGS = {"utf-8": "utf-8", "utf_8": "utf-8", "utf-16": "utf-16", "latin-1": "latin-1"}
#: Encodings whose byte sequences GB18030 decodes to the same characters (it is their superset).
#: Big5 and HZ are not among them: their bytes mean other characters in GB18030.
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "cp936"}


#: Column a reader adds to ``raw`` when the source row cannot be derived from ``rowid``.
ROW_COLUMN = "__flowlens_row"


@dataclass
class RawTable:
    """The staged source: table name, SQL for the 1-based source row, format rejects.

    ``columns`` are the source's own column names. The engine's identifiers are
    case-insensitive, so a source with ``resource`` and ``Resource`` (or ``Activity`` next to
    the canonical ``activity``) cannot keep both names in one table: such a column is staged
    under another name, and ``staged`` maps the source name to it. Every SQL reference to a
    source column goes through :meth:`sql`.

    >>> RawTable("raw", "(rowid + 1)", ["resource", "Resource"], staged={"Resource": "Resource_1"}).sql("Resource")
    '"Resource_1"'
    """

    name: str
    row_sql: str
    columns: list[str]
    #: Table of the rows the format reader could not split (columns source_row, detail,
    #: raw_line), or None; and how many there are.
    rejects: str | None = None
    n_rejects: int = 0
    #: source column name -> staged column name, where they differ
    staged: dict[str, str] = field(default_factory=dict)
    #: names the source's header repeats -> their 1-based positions (each column is then
    #: named by :func:`duplicate_alias`)
    duplicates: dict[str, list[int]] = field(default_factory=dict)

    def column(self, name: str) -> str:
        """The staged column holding source column ``name``."""
        return self.staged.get(name, name)

    def sql(self, name: str) -> str:
        """Quoted SQL identifier of source column ``name`` in the staged table."""
        return q(self.column(name))


def fold(name: str) -> str:
    """The key under which the engine compares identifiers (case-insensitive)."""
    return name.casefold()


def unique_staged_names(names: Sequence[str]) -> list[str]:
    """Names for staging ``names`` in one table: unique case-insensitively, the first of a
    clash keeping its name and later ones taking the first free ``name_1``, ``name_2``, ...

    >>> unique_staged_names(["resource", "Resource", "x", "X_1", "x"])
    ['resource', 'Resource_1', 'x', 'X_1', 'x_2']
    """
    taken = {fold(n) for n in names}
    seen: set[str] = set()
    out: list[str] = []
    for n in names:
        name = n if fold(n) not in seen else free_name(n, taken)
        taken.add(fold(name))
        seen.add(fold(name))
        out.append(name)
    return out


def free_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_1``, ``name_2``, ... : the first whose folded form is not in ``taken``.

    >>> free_name("Resource", {"resource", "resource_1"})
    'Resource_2'
    """
    if fold(name) not in taken:
        return name
    k = 1
    while fold(f"{name}_{k}") in taken:
        k += 1
    return f"{name}_{k}"


def source_names(staged: Sequence[str], header: Sequence[str] | None) -> tuple[list[str], dict[str, str]]:
    """The source's own column names for the staged columns, and the source -> staged map.

    ``header`` is the source's header as written (None when unknown). A staged column takes
    its header name when that name occurs once in the header and the engine only suffixed it
    (``Resource`` staged as ``Resource_1``). Columns whose name the header repeats exactly are
    named by :func:`duplicate_alias` (name and position: ``x#1``, ``x#2``), so that neither is
    taken for the other (:func:`check_duplicate_roles`); empty names keep the staged name. When
    the header does not line up with the staged columns, the staged names are used as they are.

    >>> source_names(["resource", "Resource_1"], ["resource", "Resource"])
    (['resource', 'Resource'], {'Resource': 'Resource_1'})
    >>> source_names(["x", "x_1"], ["x", "x"])
    (['x#1', 'x#2'], {'x#1': 'x', 'x#2': 'x_1'})
    """
    identity = (list(staged), {})
    if header is None or len(header) != len(staged):
        return identity
    counts = Counter(header)
    names: list[str] = []
    for pos, (s, h) in enumerate(zip(staged, header, strict=True), start=1):
        renamed = fold(s).startswith(fold(h)) and fold(s)[len(fold(h)) :].lstrip("_").isdigit()
        if h and counts[h] > 1:
            names.append(duplicate_alias(h, pos))
        else:
            names.append(h if h and (s == h or renamed) else s)
    if len(set(names)) != len(names):
        return identity
    return names, {n: s for n, s in zip(names, staged, strict=True) if n != s}


def duplicate_alias(name: str, position: int) -> str:
    """The name of a column whose name the header repeats: the name and its 1-based position.

    >>> duplicate_alias("activity", 4)
    'activity#4'
    """
    return f"{name}#{position}"


def duplicate_columns(header: Sequence[str] | None) -> dict[str, list[int]]:
    """Names the header repeats exactly, with their 1-based positions.

    >>> duplicate_columns(["case", "activity", "time", "activity"])
    {'activity': [2, 4]}
    """
    if header is None:
        return {}
    where: dict[str, list[int]] = {}
    for pos, h in enumerate(header, start=1):
        if h:
            where.setdefault(h, []).append(pos)
    return {h: p for h, p in where.items() if len(p) > 1}


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    # DESCRIBE lists the columns in order; a look-up in duckdb_columns() with a parameter costs
    # ~10x more (a few ms, paid on every read)
    rows = con.execute(f"SELECT column_name FROM (DESCRIBE {q(table)})").fetchall()
    return [r[0] for r in rows]


def _detect_encoding(path: Path, head: bytes, declared: str | None) -> str:
    if declared:
        try:
            return codecs.lookup(declared).name
        except LookupError as exc:
            raise InputError(f"unknown encoding '{declared}'", hint="e.g. utf-8, gb18030, latin-1") from exc
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        # A NUL in a field or two (a damaged export) is text with a bad row, which the gate
        # quarantines; NULs throughout are binary data or UTF-16 without its byte-order mark.
        text = head.replace(b"\x00", b"")
        if head.count(b"\x00") > _NUL_SHARE * len(head) or not _utf8_like(text):
            raise LogFormatError(
                f"{path}: the file contains binary data (NUL bytes), not delimited text",
                hint="give a CSV/TSV, Parquet or XES file (UTF-16 text without a byte-order "
                "mark: pass --encoding utf-16)",
            )
        return "utf-8"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sample boundary is still UTF-8.
        if exc.start >= len(head) - 3:
            return "utf-8"
    if _mostly_utf8(head):
        # UTF-8 with a few damaged bytes: read as UTF-8; the lines holding the damage are
        # quarantined by the CSV reader (invalid characters), the rest is read as it is.
        return "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    if best is None:
        raise LogFormatError(
            f"{path}: cannot tell the text encoding (not UTF-8, GB18030 or another common one)",
            hint="pass --encoding",
        )
    enc = codecs.lookup(best.encoding).name
    if enc.replace("-", "").replace("_", "") in {e.replace("_", "") for e in _GB_FAMILY}:
        # GB18030 is a superset of GBK and GB2312: decoding with it never loses a character.
        return "gb18030"
    return enc


#: Above this share of NUL bytes in the sample, a file is binary (or UTF-16 without a BOM).
_NUL_SHARE = 0.1


def _utf8_like(head: bytes) -> bool:
    """True when ``head`` is UTF-8 text: it decodes (a character cut at the end aside), or
    does so but for a few damaged bytes (:func:`_mostly_utf8`)."""
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:
            return True
    return _mostly_utf8(head)


def _mostly_utf8(head: bytes) -> bool:
    """True when the sample decodes as UTF-8 except for a few damaged bytes: at least 20 valid
    multi-byte characters per invalid sequence. Text in another encoding (GB18030, Latin-1)
    yields an invalid sequence for nearly every non-ASCII character."""
    text = head.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd") - head.count("\ufffd".encode())
    valid = sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd")
    return valid >= 20 * max(invalid, 1)


def _transcode(path: Path, encoding: str, out: Path) -> None:
    """Decode ``path`` (optionally gzip) with ``encoding`` into a UTF-8 copy at ``out``."""
    opener = gzip.open if is_gzip(path) else open
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = lines = 0
    chunk = b""
    try:
        with opener(path, "rb") as src, out.open("w", encoding="utf-8", newline="") as dst:
            while chunk := src.read(1 << 22):
                dst.write(decoder.decode(chunk))
                offset += len(chunk)
                lines += chunk.count(b"\n")
            chunk = b""
            dst.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        # exc.start is relative to the chunk being decoded (give or take the few bytes of a
        # character the decoder held back from the previous chunk).
        start = max(0, min(exc.start, len(chunk)))
        line = lines + chunk[:start].count(b"\n") + 1
        raise LogFormatError(
            f"{path}: line {line:,} (near byte {offset + start:,}) is not valid {encoding}",
            hint="pass the right --encoding, or fix that line",
        ) from exc
    except (EOFError, OSError, zlib.error) as exc:
        raise damaged(path, exc) from exc


def load_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    info: SourceInfo,
    *,
    workdir: Path,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> RawTable:
    """Stage a CSV/TSV file (optionally gzip-compressed) with every column as text."""
    head = read_head(path, 1 << 20)
    if is_gzip(path):
        info.compression = "gzip"
    enc = _detect_encoding(path, head, encoding)
    info.encoding = enc
    if encoding is None and enc not in ("utf-8", "utf-16"):
        info.notes.append(
            f"text encoding {enc} detected from the content; pass --encoding if characters look wrong"
        )
    target = path
    options = ["all_varchar = true", "header = true", "store_rejects = true", "auto_detect = true"]
    if enc in _NATIVE_ENCODINGS:
        options.append(f"encoding = {lit(_NATIVE_ENCODINGS[enc])}")
        # Compression by content, not by name: a gzip file named .csv and a plain file named
        # .csv.gz both occur in exports.
        options.append(f"compression = {lit('gzip' if info.compression else 'none')}")
    else:
        target = workdir / f"{path.name}.utf8.csv"
        _transcode(path, enc, target)
        options.append("compression = 'none'")
        info.notes.append(f"transcoded from {enc} to UTF-8 for reading")
    if delimiter:
        options.append(f"delim = {lit(delimiter)}")
    elif path.suffix.lower() == ".tsv" or path.name.lower().endswith(".tsv.gz"):
        options.append("delim = '\\t'")
    try:
        con.execute(f"CREATE TABLE raw AS SELECT * FROM read_csv({lit(str(target))}, {', '.join(options)})")
    except duckdb.Error as exc:
        if info.compression and target == path:
            verify_gzip(path)  # a damaged archive gets its own message
        raise LogFormatError(
            f"{path}: not a readable delimited text file: {_first_line(exc)}",
            hint="check that the file is CSV/TSV text; pass --delimiter or --encoding if "
            "detection went wrong",
        ) from exc
    scan = con.execute("SELECT delimiter FROM reject_scans ORDER BY scan_id DESC LIMIT 1").fetchone()
    staged_cols = _columns(con, "raw")
    if scan is None and delimiter is None and target == path:
        # The reader logs its dialect only when it rejected rows: read the delimiter off the
        # header line instead of sniffing the file a second time, when exactly one delimiter
        # splits that line into the very columns the reader found.
        found = _header_delimiter(head, staged_cols)
        scan = (found,) if found else None
    if scan is None and delimiter is None:
        sniff_opts = [o for o in options if o.split(" ", 1)[0] in ("encoding", "compression", "delim")]
        try:
            scan = con.execute(
                f"SELECT Delimiter FROM sniff_csv({lit(str(target))}, sample_size = 20480, "
                f"{', '.join(sniff_opts)})"
            ).fetchone()
        except duckdb.Error:  # the file was read; only the report of its delimiter is lost
            scan = None
    info.delimiter = scan[0] if scan else delimiter
    header = None
    if _maybe_renamed(staged_cols):
        # The engine suffixed some names (duplicates, or names differing only in case): read
        # the header as written to give those columns back their own names.
        sniff_opts = [o for o in options if o.split(" ", 1)[0] in ("encoding", "compression", "delim")]
        header = _csv_header(con, target, sniff_opts, "utf-8" if target != path else enc)
    names, staged = source_names(staged_cols, header)
    dups = duplicate_columns(header) if names != staged_cols else {}
    (n_errors,) = con.execute("SELECT count(*) FROM reject_errors").fetchone()  # type: ignore[misc]
    if not n_errors:  # every record read (the usual case): nothing to number
        return RawTable("raw", "(rowid + 1)", names, staged=staged, duplicates=dups)
    # Rejected records, numbered like accepted ones (DuckDB's line counts the header).
    kinds = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in _REJECT_KINDS.items())
    con.execute(
        f"""
        CREATE TABLE raw_rejects AS
        SELECT CAST(line AS BIGINT) - 1 AS source_row,
               CASE kind {kinds} ELSE 'malformed row: ' || lower(kind) END
                 || coalesce(' (' || message || ')', '') AS detail,
               raw_line
        FROM (SELECT line,
                     first(CAST(error_type AS VARCHAR) ORDER BY column_idx, error_type, error_message) AS kind,
                     first(error_message ORDER BY column_idx, error_type, error_message) AS message,
                     first(csv_line ORDER BY column_idx, error_type, error_message) AS raw_line
              FROM reject_errors GROUP BY line)
        """
    )
    (n_rejects,) = con.execute("SELECT count(*) FROM raw_rejects").fetchone()  # type: ignore[misc]
    if not n_rejects:
        con.execute("DROP TABLE raw_rejects")
        return RawTable("raw", "(rowid + 1)", names, staged=staged, duplicates=dups)
    # Accepted record k (1-based among accepted ones) is source row k + n, with n the number
    # of rejected records R_i (i-th rejected, 1-based) such that R_i - i < k. R_i - i never
    # decreases, so an as-of join finds n for every record at once.
    con.execute(
        f"""
        CREATE TABLE raw_numbered AS
        WITH pos AS (
          SELECT source_row - row_number() OVER (ORDER BY source_row) AS thr,
                 row_number() OVER (ORDER BY source_row) AS n
          FROM raw_rejects),
        p AS (SELECT thr, max(n) AS n FROM pos GROUP BY thr),
        r AS (SELECT rowid + 1 AS "__k", * FROM raw)
        SELECT r.* EXCLUDE ("__k"), r."__k" + coalesce(p.n, 0) AS {q(ROW_COLUMN)}
        FROM r ASOF LEFT JOIN p ON r."__k" > p.thr
        ORDER BY r."__k"
        """
    )
    con.execute("DROP TABLE raw")
    con.execute("ALTER TABLE raw_numbered RENAME TO raw")
    return RawTable(
        "raw", q(ROW_COLUMN), names, "raw_rejects", int(n_rejects), staged=staged, duplicates=dups
    )


#: The delimiters :func:`_header_delimiter` tries (the engine's sniffer tries these too).
_DELIMITERS = (",", ";", "\t", "|")


def _header_delimiter(head: bytes, columns: list[str]) -> str | None:
    r"""The delimiter that splits the first line of ``head`` (UTF-8) into exactly ``columns``, the
    names the CSV reader found; None unless exactly one of :data:`_DELIMITERS` does (one
    column, a header the reader renamed or read elsewhere, an undecodable line).

    With two or more columns whose names the header line spells out, the reader split that line
    on this delimiter: no other one yields the same fields.

    >>> _header_delimiter(b"case;activity;time\n1;a;2024\n", ["case", "activity", "time"])
    ';'
    >>> _header_delimiter(b"case\n1\n", ["case"]) is None
    True
    """
    if len(columns) < 2:
        return None
    line = head.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    hits = []
    for d in _DELIMITERS:
        try:
            fields = next(csv.reader([text], delimiter=d, quotechar='"'))
        except (csv.Error, StopIteration):
            continue
        if fields == columns:
            hits.append(d)
    return hits[0] if len(hits) == 1 else None


#: A name the engine may have suffixed to make it unique (``Resource_1``).
_SUFFIXED = re.compile(r"(.+)_\d+$")


def _maybe_renamed(staged: list[str]) -> bool:
    """True when some staged name is another one's plus ``_<n>``, as the engine renames a
    duplicate (``resource``, ``Resource_1``); plain names such as ``attr_1`` alone are not."""
    folded = {fold(c) for c in staged}
    return any((m := _SUFFIXED.match(c)) is not None and fold(m.group(1)) in folded for c in staged)


def _csv_header(
    con: duckdb.DuckDBPyConnection, target: Path, sniff_opts: list[str], encoding: str
) -> list[str] | None:
    """The header fields as written in the file, or None when they cannot be told."""
    try:
        row = con.execute(
            f"SELECT Delimiter, Quote, SkipRows, HasHeader FROM sniff_csv({lit(str(target))}, "
            f"sample_size = 20480{''.join(', ' + o for o in sniff_opts)})"
        ).fetchone()
    except duckdb.Error:
        return None
    if row is None or not row[3] or len(row[0] or "") != 1:
        return None
    delim, quote, skip = row[0], (row[1] or '"')[:1] or '"', int(row[2] or 0)
    codec = "utf-8-sig" if encoding == "utf-8" else encoding
    text = read_head(target, 1 << 20).decode(codec, errors="replace")
    lines = text.splitlines(keepends=True)[skip:]
    try:
        return next(csv.reader(lines, delimiter=delim, quotechar=quote))
    except (csv.Error, StopIteration):
        return None


_REJECT_KINDS = {
    "TOO MANY COLUMNS": "malformed row: too many fields",
    "MISSING COLUMNS": "malformed row: too few fields",
    "INVALID UNICODE": "malformed row: invalid characters for the file's encoding",
    "INVALID ENCODING": "malformed row: invalid characters for the file's encoding",
    "UNQUOTED VALUE": "malformed row: quote in an unquoted field",
    "LINE SIZE OVER MAXIMUM": "malformed row: line too long",
}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_parquet(con: duckdb.DuckDBPyConnection, path: Path, info: SourceInfo) -> RawTable:
    """Stage a Parquet file with its own column types.

    The file is not copied: ``raw`` is a view over it (Parquet is columnar, so each later
    pass reads only the columns it needs), numbered by the reader's own row counter. A file
    that itself has a column named ``file_row_number`` is copied instead, numbered by rowid
    (the connection preserves insertion order, so that is file order too).
    """
    src = f"read_parquet({lit(str(path))})"
    try:
        names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
        if "file_row_number" in names:
            con.execute(f"CREATE TABLE raw AS SELECT * FROM {src}")
            row_sql = "(rowid + 1)"
        else:
            con.execute(
                f"CREATE VIEW raw AS SELECT * FROM read_parquet({lit(str(path))}, file_row_number = true)"
            )
            row_sql = "(file_row_number + 1)"
    except duckdb.Error as exc:
        raise LogFormatError(
            f"{path}: not a readable Parquet file: {_first_line(exc)}",
            hint="the file may be truncated or not Parquet; export it again",
        ) from exc
    cols = _columns(con, "raw")
    if row_sql != "(rowid + 1)":
        cols = [c for c in cols if c != "file_row_number"]
    header = None
    if _maybe_renamed(cols):
        import pyarrow.parquet as pq

        try:
            header = list(pq.read_schema(path).names)
        except (OSError, ValueError):  # the engine read it; only the original names are lost
            header = None
    names, staged = source_names(cols, header)
    dups = duplicate_columns(header) if names != cols else {}
    return RawTable("raw", row_sql, names, staged=staged, duplicates=dups)


def load_frame(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> RawTable:
    """Stage a pandas DataFrame (read only; the frame is not modified)."""
    import pyarrow as pa

    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"the DataFrame has duplicate column names: {dup}")
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"the DataFrame has a column Arrow cannot store: {exc}") from exc
    staged = unique_staged_names(names)
    table = table.rename_columns(staged)
    con.register("frame_view", table)
    con.execute(f"CREATE TABLE raw AS SELECT {', '.join(q(n) for n in staged)} FROM frame_view")
    con.unregister("frame_view")
    return RawTable(
        "raw", "(rowid + 1)", names, staged={n: s for n, s in zip(names, staged, strict=True) if n != s}
    )


#: The option that names each role's column (for messages).
_ROLE_OPTION = {
    "case": "--case",
    "activity": "--activity",
    "start": "--start",
    "end": "--end",
    "resource": "--resource",
    "lifecycle": "--lifecycle",
}


def _positions(pos: Sequence[int]) -> str:
    """``2 and 4``, ``2, 4 and 7``."""
    items = [str(p) for p in pos]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _named_like(name: str) -> list[str]:
    """Roles whose usual names include ``name`` (docs/methods.md §1.6)."""
    from flowlens.columns import _CANDIDATES, _norm

    return [role for role, cands in _CANDIDATES.items() if _norm(name) in {_norm(c) for c in cands}]


def resolve_duplicate_columns(
    con: duckdb.DuckDBPyConnection, raw: RawTable, explicit: ColumnMap | None, info: SourceInfo
) -> RawTable:
    """Settle the columns whose name the header repeats, before roles are detected.

    Repeats that hold the same value in every row are one column read once (the first).
    Repeats that differ are kept apart under :func:`duplicate_alias` names (``activity#2``,
    ``activity#4``): fine as attributes, and a role may take one when the mapping names it
    (``--activity 'activity#4'``). flowlens refuses to guess: a mapping that gives the bare
    name, or a repeated name that a role would be found by (``activity``, ``timestamp``, ...)
    while that role is not given, is an :class:`~flowlens.errors.InputError` naming the
    positions and how to fix it. Every repeat is noted in ``info.notes``.
    """
    if not raw.duplicates:
        return raw
    explicit = explicit or ColumnMap()
    given = {role: getattr(explicit, role) for role in _ROLE_OPTION}
    given_cols = {c for v in given.values() for c in (v if isinstance(v, tuple) else (v,)) if c}
    columns, staged = list(raw.columns), dict(raw.staged)
    for name, pos in raw.duplicates.items():
        aliases = [duplicate_alias(name, p) for p in pos]
        if not all(a in columns for a in aliases):  # pragma: no cover - source_names made them
            continue
        first = raw.sql(aliases[0])
        differ = " OR ".join(
            f"CAST({first} AS VARCHAR) IS DISTINCT FROM CAST({raw.sql(a)} AS VARCHAR)" for a in aliases[1:]
        )
        (n_differ,) = con.execute(f"SELECT count(*) FROM {q(raw.name)} WHERE {differ}").fetchone()  # type: ignore[misc]
        where = f"columns {_positions(pos)} are {'both' if len(pos) == 2 else 'all'} named '{name}'"
        if n_differ == 0:
            # the same column exported twice: read it once, under its own name
            keep = staged.pop(aliases[0], aliases[0])
            columns[columns.index(aliases[0])] = name
            for a in aliases[1:]:
                columns.remove(a)
                staged.pop(a, None)
            if keep != name:
                staged[name] = keep
            info.notes.append(f"{where} and hold the same values: read once (column {pos[0]})")
            continue
        roles = [r for r, v in given.items() if v and name in (v if isinstance(v, tuple) else (v,))]
        roles += [r for r in _named_like(name) if not given[r] and r not in roles]
        if roles:
            role = roles[0]
            raise InputError(
                f"{info.path}: {where} and hold different values ({n_differ:,} rows); "
                f"flowlens will not guess which one is the {role} column",
                hint=f"rename one of them in the header, or name the one to use, e.g. "
                f"{_ROLE_OPTION[role]} '{aliases[-1]}' (column {pos[-1]})",
            )
        used = [a for a in aliases if a in given_cols]
        info.notes.append(
            f"{where} and hold different values: read as "
            + _positions([f"'{a}'" for a in aliases])  # type: ignore[list-item]
            + (f" ({', '.join(used)} as given)" if used else "")
        )
    return replace(raw, columns=columns, staged=staged)


def check_duplicate_roles(raw: RawTable, how: dict[str, str], mapping: ColumnMap, info: SourceInfo) -> None:
    """After detection: a role found by content on a column whose name the header repeats is
    a guess between columns of one name, refused like :func:`resolve_duplicate_columns` does."""
    if not raw.duplicates:
        return
    for role in _ROLE_OPTION:
        if how.get(role) == "given":
            continue
        value = getattr(mapping, role)
        for col in value if isinstance(value, tuple) else (value,):
            for name, pos in raw.duplicates.items():
                aliases = [duplicate_alias(name, p) for p in pos]
                if col in aliases:
                    raise InputError(
                        f"{info.path}: columns {_positions(pos)} are "
                        f"{'both' if len(pos) == 2 else 'all'} named '{name}' and hold different "
                        f"values; flowlens will not guess which one is the {role} column",
                        hint=f"rename one of them in the header, or name the one to use, e.g. "
                        f"{_ROLE_OPTION[role]} '{col}' (column {pos[aliases.index(col)]})",
                    )
