"""Portable relational building blocks over the canonical event table (Ibis expressions).

Everything here compiles for DuckDB and for Spark. Where the fastest form differs between
engines (ordered collection), the function picks the form per backend and both give the same
result, which the engine-parity tests check.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import ibis
    import pandas as pd

US_PER_S = 1_000_000


def backend_name(table: ibis.Table) -> str:
    """'duckdb' or 'pyspark' for a table bound to a backend."""
    return table._find_backend().name


def ordered_sequences(table: ibis.Table, *, value: str = "activity") -> ibis.Table:
    """One row per case: ``case_idx`` and ``seq``, the case's ``value``s in ``pos`` order.

    DuckDB collects in order directly; Spark cannot order an aggregate, so positions travel
    in structs that are sorted after collection (engine notes).
    """
    import ibis

    if backend_name(table) == "duckdb":
        return table.group_by("case_idx").aggregate(seq=table[value].collect(order_by=table.pos))
    pairs = ibis.struct({"pos": table.pos, "v": table[value]})
    grouped = table.group_by("case_idx").aggregate(s=pairs.collect())
    return grouped.select("case_idx", seq=grouped.s.sort().map(lambda x: x.v))


def with_flag(table: ibis.Table, column: str, values: Iterable[object], name: str) -> ibis.Table:
    """``table`` with a boolean column ``name``: whether ``column`` is one of ``values`` (False
    where it is NULL).

    A left join on a table of the values, not ``column.isin(values)``: DuckDB turns ``IN`` a list
    inside a filter into a join, but tests ``NOT IN`` a list, and ``IN`` a list in a select,
    against the values one by one, so the work grows with their number (3·10^6 rows against the
    names of 892 resources: 2.5 CPU s as a list, 0.08 s as a join; the generated 10^8-event log
    has 8,920 shared resources and 10,000 staff).

    >>> import ibis
    >>> t = ibis.memtable({"i": [0, 1, 2], "r": ["a", "b", None]})
    >>> with_flag(t, "r", ["b", "c"], "hit").order_by("i").hit.to_list()
    [False, True, False]
    """
    import ibis
    import pandas as pd

    vals = sorted(set(values))
    if not vals:
        return table.mutate(**{name: ibis.literal(False)})
    key = f"fl_in_{name}"
    keys = ibis.memtable(pd.DataFrame({key: vals}), schema={key: table[column].type()})
    j = table.left_join(keys, table[column] == keys[key])
    return j.select(*table.columns, **{name: j[key].notnull()})


def union_all(parts: list[ibis.Table]) -> ibis.Table:
    """All rows of ``parts`` (tables of one schema, e.g. the slices of a result computed slice by
    slice), unioned as a balanced tree: a chain of many would nest deeply."""
    while len(parts) > 1:
        pairs = [parts[k].union(parts[k + 1], distinct=False) for k in range(0, len(parts) - 1, 2)]
        parts = pairs + parts[len(parts) - len(parts) % 2 :]
    return parts[0]


#: Events per case the renumbered ``eid`` can hold (eid = case_idx * EID_STRIDE + pos).
EID_STRIDE = 1 << 24

#: Keys that name a case range: a range [lo, hi) of cases is [lo, hi) × the key's scale in it.
CASE_KEY_SCALE = {"case_idx": 1, "eid": EID_STRIDE}

#: Columns of the ingested events table that the log's table does not show (:func:`events_table`):
#: the successor's activity and the gap from this instance's end to the successor's start (its
#: end for completion-only instances), NULL on the last instance of a case. The gate's ordering
#: pass computes them over the sorted instances, so the directly-follows graph reads
#: consecutive pairs from one scan instead of joining every instance to the next.
SUCCESSOR_COLUMNS = ("__succ_activity", "__succ_gap_us")

#: The activity as the gate sorted it: a code (an enumeration of the activities in text order,
#: see ``flowlens.io.gate._coded``) where the activities are few, else the text. Grouping by it
#: groups exactly as by the text (one code per text value), comparing one or two bytes per
#: event instead of text; the few result rows are cast back to text.
ACTIVITY_CODE = "__activity_code"

#: Every column of the ingested events table that the log's table does not show.
HIDDEN_COLUMNS = (*SUCCESSOR_COLUMNS, ACTIVITY_CODE)


def events_table(backend: object) -> ibis.Table:
    """The log's table: the ``events`` table the gate built, without :data:`HIDDEN_COLUMNS`.

    >>> import flowlens, pandas as pd
    >>> log = flowlens.read_log(pd.DataFrame({"case": [1, 1], "activity": ["a", "b"],
    ...                                       "timestamp": ["2024-01-01", "2024-01-02"]}))
    >>> log.table.equals(events_table(log.engine.backend)), "__succ_activity" in log.table.columns
    (True, False)
    """
    return backend.table("events").drop(*HIDDEN_COLUMNS)  # type: ignore[attr-defined]


def variant_keys(table: ibis.Table) -> ibis.Table:
    """One row per case: ``case_idx`` and a variant key (k1, k2, n).

    Two cases have the same variant exactly when their (activity, position) sets are equal,
    so an order-free sum of a hash of each (activity, position) pair, taken twice with
    different tags, plus the length, identifies the variant without ordered collection (which
    dominates the cost of variants on large logs). Two 64-bit sums collide with negligible
    probability; variants are then read back in full for one example case each.
    """
    pos = table.pos.cast("string")
    k1 = (table.activity + "\x1f" + pos).hash()
    k2 = (pos + "\x1e" + table.activity).hash()
    return table.group_by("case_idx").aggregate(k1=k1.sum(), k2=k2.sum(), n=table.count())


def case_table(table: ibis.Table) -> ibis.Table:
    """One row per case: case_idx, case_id, start_us, end_us, lead_us, events.

    Lead time = last end - first start, where an instance without a start contributes its end
    (docs/methods.md 3.3).
    """
    first = table.start_us.fill_null(table.end_us)
    cases = table.group_by(["case_idx", "case_id"]).aggregate(
        start_us=first.min(), end_us=table.end_us.max(), events=table.count()
    )
    return cases.mutate(lead_us=cases.end_us - cases.start_us)


def renumber(table: ibis.Table) -> ibis.Table:
    """Recompute ``pos`` and ``eid`` after instances were removed from cases.

    Keeps the table's invariants: ``pos`` counts 0, 1, 2, ... within each case in order, and
    the successor of an instance has ``eid + 1`` (here ``case_idx * EID_STRIDE + pos``).
    """
    import ibis

    w = ibis.window(group_by=table.case_idx, order_by=table.pos)
    t = table.mutate(pos=ibis.row_number().over(w))
    return t.mutate(eid=t.case_idx * EID_STRIDE + t.pos)


def us_to_iso(us: int | None, tz: str) -> str | None:
    """ISO 8601 with offset, in the log's zone, millisecond precision.

    >>> us_to_iso(0, "Asia/Shanghai")
    '1970-01-01T08:00:00.000+08:00'
    """
    if us is None:
        return None
    dt = datetime.fromtimestamp(us / US_PER_S, tz=UTC).astimezone(ZoneInfo(tz))
    return dt.isoformat(timespec="milliseconds")


def us_to_datetime_series(values: pd.Series, tz: str) -> pd.Series:
    """Microsecond integers to tz-aware pandas datetimes in ``tz`` (nulls stay null)."""
    import pandas as pd

    return pd.to_datetime(values.astype("Int64"), unit="us", utc=True).dt.tz_convert(tz)
