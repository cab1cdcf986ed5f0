"""Per-case facts: start, end, lead time, number of activity instances.

Lead time LT(c) = max end - min start over the case, where an instance without a start
contributes its end (docs/methods.md, "Lead time").

>>> import flowlens, pandas as pd
>>> df = pd.DataFrame({"case": ["1", "1"], "activity": ["a", "b"],
...     "start": ["2024-01-01 09:00", "2024-01-01 10:00"], "end": ["2024-01-01 09:10", "2024-01-01 11:00"]})
>>> flowlens.case_durations(flowlens.read_log(df))[["case_id", "lead_time_s", "events"]].values.tolist()
[['1', 7200.0, 2]]
"""

from __future__ import annotations

import functools
import itertools
import weakref
from typing import TYPE_CHECKING, Any

from flowlens.relational import backend_name, case_table

if TYPE_CHECKING:
    import ibis
    import pandas as pd

    from flowlens.log import EventLog


def case_durations(log: EventLog) -> pd.DataFrame:
    """Case id, start and end (tz-aware, log zone), lead time in seconds, instance count."""
    from flowlens.relational import us_to_datetime_series

    stats = case_stats(log)
    cols = ["case_idx", "case_id", "start_us", "end_us", "events", "lead_us"]
    if stats is not None and log.is_ingested_table():
        # the gate's own table: plain SQL, without compiling an expression (~10 ms at any size)
        df = log.engine.duckdb.execute(  # type: ignore[union-attr]
            f"SELECT {', '.join(cols)} FROM {sql_name(stats)} ORDER BY case_idx"
        ).df()
    else:
        cases = stats if stats is not None else case_table(log.table)
        df = cases.select(*cols).order_by("case_idx").to_pandas()
    df["start"] = us_to_datetime_series(df["start_us"], log.timezone)
    df["end"] = us_to_datetime_series(df["end_us"], log.timezone)
    df["lead_time_s"] = df["lead_us"] / 1e6
    return df[["case_id", "start", "end", "lead_time_s", "events"]]


_NAMES = itertools.count()


def case_stats(log: EventLog) -> ibis.Table | None:
    """One row per case, computed once per log in one pass over its instances (DuckDB):
    case_idx, case_id, start_us, end_us, events, lead_us (as :func:`flowlens.relational.case_table`)
    and the variant key k1, k2 (:func:`variant_key_sql`). None on other engines, which use
    :func:`~flowlens.relational.case_table` and :func:`~flowlens.relational.variant_keys`.

    Variants, case durations and the directly-follows graph's case counts all read this table
    instead of grouping every event again.

    >>> import flowlens, pandas as pd
    >>> df = pd.DataFrame({"case": ["1", "1", "2"], "activity": ["a", "b", "a"],
    ...                    "timestamp": ["2024-01-01 09:00", "2024-01-01 10:00", "2024-01-02 09:00"]})
    >>> case_stats(flowlens.read_log(df)).select("case_id", "events", "lead_us").to_pandas().values.tolist()
    [['1', 2, 3600000000], ['2', 1, 0]]
    """
    if backend_name(log.table) != "duckdb":
        return None
    return log.memo("case_stats", lambda: _materialised_case_stats(log))


def sql_name(table: ibis.Table) -> str:
    """SQL name of a table :func:`case_stats` made (it lives in the temp catalog).

    >>> import flowlens, pandas as pd
    >>> log = flowlens.read_log(pd.DataFrame({"case": [1], "activity": ["a"], "timestamp": ["2024-01-01"]}))
    >>> sql_name(case_stats(log)).startswith('temp.main."__flowlens_cases_')
    True
    """
    return f'temp.main."{table.op().name}"'  # type: ignore[attr-defined]


#: :func:`_materialised_case_stats` on the gate's own table, as SQL: the expression's
#: aggregates, with the variant key hashing each activity's code (relational.ACTIVITY_CODE, the
#: same code for the same label) instead of its text.
_CASE_STATS_SQL = """
CREATE TEMP TABLE {name} AS
SELECT case_idx, case_id, start_us, end_us, events, k1, k2, end_us - start_us AS lead_us
FROM (
  SELECT case_idx, ANY_VALUE(case_id) AS case_id, MIN(COALESCE(start_us, end_us)) AS start_us,
         MAX(end_us) AS end_us, COUNT(*) AS events,
         BIT_XOR(HASH(XOR(HASH({code}), CAST(pos AS UBIGINT)))) AS k1,
         BIT_XOR(HASH(XOR(HASH({code}), CAST(pos + {offset} AS UBIGINT)))) AS k2
  FROM events GROUP BY 1)
ORDER BY case_idx
"""


def _materialised_case_stats(log: EventLog) -> ibis.Table:
    from flowlens.relational import ACTIVITY_CODE

    t = log.table
    backend = t._find_backend()
    name = f"__flowlens_cases_{next(_NAMES)}"
    if log.is_ingested_table():
        # Plain SQL on the gate's own table: compiling the expression cost more than running
        # it on small logs (~25 ms), and activity codes hash faster than their text.
        con = log.engine.duckdb
        assert con is not None
        con.execute(_CASE_STATS_SQL.format(name=f'"{name}"', code=ACTIVITY_CODE, offset=_K2_OFFSET))
        table = backend.table(name, database=("temp", "main"))
        weakref.finalize(table.op(), _drop_quietly, backend, name)
        return table
    k1, k2 = variant_key_sql(t)
    first = t.start_us.fill_null(t.end_us)
    agg = t.group_by("case_idx").aggregate(
        # one case id per case number, so any of the case's values is the value
        case_id=t.case_id.arbitrary(),
        start_us=first.min(),
        end_us=t.end_us.max(),
        events=t.count(),
        k1=k1,
        k2=k2,
    )
    agg = agg.mutate(lead_us=agg.end_us - agg.start_us).order_by("case_idx")
    table = backend.create_table(name, agg, temp=True)
    # the table lives as long as its expression (memoised by the log; a filtered log has its own)
    weakref.finalize(table.op(), _drop_quietly, backend, name)
    return table


def _drop_quietly(backend: object, name: str) -> None:
    con = getattr(backend, "con", None)
    try:
        if con is not None:
            con.execute(f'DROP TABLE IF EXISTS temp.main."{name}"')
    except Exception:  # the connection may be closed already (interpreter exit)
        pass


def variant_key_sql(t: ibis.Table) -> tuple[ibis.Value, ibis.Value]:
    """Two order-free 64-bit keys of each case's activity sequence, as aggregates over
    ``t`` grouped by case (DuckDB).

    As :func:`flowlens.relational.variant_keys`: two cases have the same variant exactly when
    their (activity, position) pairs are equal, so a combination of a hash per pair that does
    not depend on row order identifies the variant (two independent 64-bit keys plus the length
    collide with negligible probability; variants are read back in full from one case each).
    Here each pair is hashed as numbers (the activity's hash mixed with the position and hashed
    again, so that the position is not separable) and combined by exclusive or: no text is built
    per event, which made the key the costliest part of variants.

    >>> import flowlens, pandas as pd
    >>> df = pd.DataFrame({"case": ["1", "1", "2", "2", "3", "3"], "activity": list("ababba"),
    ...                    "timestamp": pd.date_range("2024-01-01", periods=6, freq="h")})
    >>> t = flowlens.read_log(df).table
    >>> k1, k2 = variant_key_sql(t)
    >>> keys = t.group_by("case_id").aggregate(k1=k1, k2=k2).order_by("case_id").to_pandas()
    >>> keys.k1[0] == keys.k1[1], keys.k1[0] == keys.k1[2]
    (np.True_, np.False_)
    """
    h = _hash_text(t.activity)
    pos = t.pos.cast("uint64")
    k1 = _bit_xor(_hash_u64(_xor(h, pos)))
    k2 = _bit_xor(_hash_u64(_xor(h, (t.pos + _K2_OFFSET).cast("uint64"))))
    return k1, k2


#: Shifts the positions for the second key, so that the two keys hash different numbers.
_K2_OFFSET = 1_000_003


@functools.cache
def _udfs() -> tuple[Any, Any, Any, Any]:
    """DuckDB functions called by name through Ibis (its own hash goes through a cast to bit
    text and back; the others have no Ibis operation)."""
    import ibis
    import ibis.expr.datatypes as dt

    def one(x: Any) -> Any:  # pragma: no cover - never called: the engine runs the function
        raise NotImplementedError

    def two(a: Any, b: Any) -> Any:  # pragma: no cover - as above
        raise NotImplementedError

    u64 = dt.uint64
    scalar, agg = ibis.udf.scalar.builtin, ibis.udf.agg.builtin
    return (
        scalar(one, name="hash", signature=((dt.string,), u64)),  # a value's 64-bit hash
        scalar(one, name="hash", signature=((u64,), u64)),  # a number's 64-bit hash
        scalar(two, name="xor", signature=((u64, u64), u64)),  # bitwise exclusive or
        agg(one, name="bit_xor", signature=((u64,), u64)),  # a group's values, order-free
    )


def _hash_text(x: ibis.Value) -> ibis.Value:
    return _udfs()[0](x)


def _hash_u64(x: ibis.Value) -> ibis.Value:
    return _udfs()[1](x)


def _xor(a: ibis.Value, b: ibis.Value) -> ibis.Value:
    return _udfs()[2](a, b)


def _bit_xor(x: ibis.Value) -> ibis.Value:
    return _udfs()[3](x)
