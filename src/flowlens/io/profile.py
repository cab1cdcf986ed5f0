"""What the values of a staged source's columns look like, for detecting roles from content.

:func:`flowlens.columns.detect_roles` asks a :class:`~flowlens.columns.ContentProbe` about
the columns whose names did not settle a role. :class:`RawProbe` answers from the staged
``raw`` table with a few grouped queries over the first rows of the source, in source order
(the same rows every run: the answers are deterministic), so that wide and long files cost
the same few queries.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from flowlens.columns import ColumnProfile
from flowlens.io.readers import RawTable
from flowlens.io.timestamps import _NUMBER_RE, _SLASH_RE, _YMD_SLASH_RE, lit, q

#: Values examined per column: the first rows of the source, fewer for wide sources so that
#: the long form (one row per value) stays about two million rows.
SAMPLE_ROWS = 50_000
_LONG_FORM_CELLS = 2_000_000


def _value(expr: str) -> str:
    return f"NULLIF(trim(CAST({expr} AS VARCHAR)), '')"


#: SQL: a text value that reads as a point in time (a date, with or without a time of day).
def _is_time(v: str) -> str:
    return (
        f"(NOT regexp_matches({v}, {lit(_NUMBER_RE)}) AND (TRY_CAST({v} AS TIMESTAMPTZ) IS NOT NULL "
        f"OR regexp_matches({v}, {lit(_SLASH_RE)}) OR regexp_matches({v}, {lit(_YMD_SLASH_RE)})))"
    )


def _instant(v: str) -> str:
    """SQL: epoch microseconds of a time-like text value, read leniently (only used to compare
    spans, never as the log's times)."""
    pats = (
        "["
        + ", ".join(
            lit(p)
            for p in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d")
        )
        + "]"
    )
    return f"epoch_us(coalesce(TRY_CAST({v} AS TIMESTAMPTZ), try_strptime({v}, {pats})))"


class RawProbe:
    """Answers :class:`~flowlens.columns.ContentProbe` questions from the staged table."""

    def __init__(self, con: duckdb.DuckDBPyConnection, raw: RawTable) -> None:
        self.con = con
        self.raw = raw
        self._rows = 0

    def _sample(self, n_columns: int) -> str:
        rows = max(1_000, min(SAMPLE_ROWS, _LONG_FORM_CELLS // max(n_columns, 1)))
        self._rows = rows
        return f"CAST({self.raw.row_sql} AS BIGINT) <= {rows}"

    def profiles(self, columns: Sequence[str]) -> dict[str, ColumnProfile]:
        """Per column: rows, values, distinct values, runs in source order, numbers, times."""
        if not columns:
            return {}
        where = self._sample(len(columns))
        alias = {f"c{i}": c for i, c in enumerate(columns)}
        sel = ", ".join(f"{_value(self.raw.sql(c))} AS {q(a)}" for a, c in alias.items())
        (n_rows,) = self.con.execute(f"SELECT count(*) FROM {q(self.raw.name)} WHERE {where}").fetchone()  # type: ignore[misc]
        rows = self.con.execute(
            f"""
            WITH s AS (SELECT CAST({self.raw.row_sql} AS BIGINT) AS __r, {sel}
                       FROM {q(self.raw.name)} WHERE {where}),
            l AS (UNPIVOT s ON COLUMNS(* EXCLUDE (__r)) INTO NAME __k VALUE __v),
            x AS (SELECT __k, __v, lag(__v) OVER (PARTITION BY __k ORDER BY __r) AS __p FROM l)
            SELECT __k, count(*), count(DISTINCT __v),
                   count(*) FILTER (WHERE __p IS NULL OR __p <> __v),
                   count(*) FILTER (WHERE regexp_matches(__v, {lit(_NUMBER_RE)})),
                   count(*) FILTER (WHERE {_is_time("__v")}),
                   min(__v)
            FROM x GROUP BY __k
            """
        ).fetchall()
        out = {
            c: ColumnProfile(name=c, rows=int(n_rows), values=0, distinct=0, runs=0, numbers=0, times=0)
            for c in columns
        }
        for k, values, distinct, runs, numbers, times, example in rows:
            c = alias[k]
            out[c] = ColumnProfile(
                name=c,
                rows=int(n_rows),
                values=int(values),
                distinct=int(distinct),
                runs=int(runs),
                numbers=int(numbers),
                times=int(times),
                example=example,
            )
        return out

    def _long(self, columns: Sequence[str], extra: str, where: str) -> tuple[str, dict[str, str]]:
        """SQL of the long form (``__r`` row, the ``extra`` columns, ``__c`` column alias,
        ``__v`` value) of ``columns`` on the sampled rows, and alias -> column."""
        alias = {f"c{i}": c for i, c in enumerate(columns)}
        sel = ", ".join(f"{_value(self.raw.sql(c))} AS {q(a)}" for a, c in alias.items())
        sql = f"""(UNPIVOT (SELECT CAST({self.raw.row_sql} AS BIGINT) AS __r, {extra}, {sel}
                            FROM {q(self.raw.name)} WHERE {where})
                   ON COLUMNS(* EXCLUDE (__r, __x)) INTO NAME __c VALUE __v)"""
        return sql, alias

    def time_span_shares(self, columns: Sequence[str], time_column: str) -> dict[str, float]:
        """Per column: the median, over its values, of the time their rows span, as a share of
        the span of all sampled rows (columns whose times cannot be read are left out)."""
        if not columns:
            return {}
        where = self._sample(len(columns) + 1)
        t = _instant(_value(self.raw.sql(time_column)))
        long, alias = self._long(columns, f"{t} AS __x", where)
        (total,) = self.con.execute(
            f"SELECT max(t) - min(t) FROM (SELECT {t} AS t FROM {q(self.raw.name)} WHERE {where})"
        ).fetchone()  # type: ignore[misc]
        if not total:
            return {}
        rows = self.con.execute(
            f"""SELECT __c, median(span) FROM (
                  SELECT __c, __v, max(__x) - min(__x) AS span FROM {long}
                  WHERE __x IS NOT NULL GROUP BY __c, __v)
                GROUP BY __c"""
        ).fetchall()
        return {alias[c]: float(m) / float(total) for c, m in rows if m is not None}

    def change_shares(self, columns: Sequence[str], case_column: str) -> dict[str, float]:
        """Per column: the share of a case's consecutive rows with values (source order) whose
        values differ (columns without two such rows in a case are left out)."""
        if not columns:
            return {}
        where = self._sample(len(columns) + 1)
        long, alias = self._long(columns, f"{_value(self.raw.sql(case_column))} AS __x", where)
        rows = self.con.execute(
            f"""SELECT __c, count(*) FILTER (WHERE __v <> __p), count(*) FROM (
                  SELECT __c, __v, lag(__v) OVER w AS __p, row_number() OVER w AS __n
                  FROM {long} WHERE __x IS NOT NULL
                  WINDOW w AS (PARTITION BY __c, __x ORDER BY __r))
                WHERE __n > 1 GROUP BY __c"""
        ).fetchall()
        return {alias[c]: int(k) / int(n) for c, k, n in rows if n}

    def order_shares(self, first: str, second: str) -> tuple[float, float] | None:
        """Among rows with both times: the share where ``first`` is not after ``second``, and
        the share where it is strictly before (None when no row has both)."""
        where = self._sample(2)
        a, b = _instant(_value(self.raw.sql(first))), _instant(_value(self.raw.sql(second)))
        row = self.con.execute(
            f"""SELECT count(*) FILTER (WHERE a <= b), count(*) FILTER (WHERE a < b), count(*)
                FROM (SELECT {a} AS a, {b} AS b FROM {q(self.raw.name)} WHERE {where})
                WHERE a IS NOT NULL AND b IS NOT NULL"""
        ).fetchone()
        if row is None or not row[2]:
            return None
        return int(row[0]) / int(row[2]), int(row[1]) / int(row[2])
