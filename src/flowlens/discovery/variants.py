"""Variants: distinct activity sequences, with their frequency and lead times.

A variant is the sequence of activities of a case in flowlens's order (end time, then source
row). Shares are of cases; ``cum_share`` is the coverage of the variants up to and including
this one, most frequent first (ties by the sequence itself, so the order is reproducible).

>>> import flowlens, pandas as pd
>>> df = pd.DataFrame({"case": list("112233"), "activity": list("abababab"[:6]),
...                    "timestamp": pd.date_range("2024-01-01", periods=6, freq="h")})
>>> v = flowlens.variants(flowlens.read_log(df))
>>> v[["variant", "count", "share"]].values.tolist()
[[('a', 'b'), 3, 1.0]]
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

from flowlens.relational import case_table, ordered_sequences, variant_keys

if TYPE_CHECKING:
    import pandas as pd

    from flowlens.log import EventLog


def variants(log: EventLog, *, top: int | None = None) -> pd.DataFrame:
    """One row per variant: variant (tuple), length, count, share, cum_share,
    lead_median_s, lead_mean_s, example_case (the earliest case with it)."""
    df = log.memo("variants", lambda: _variant_table(log))
    return df.head(top).copy() if top is not None else df.copy()


#: :func:`_variant_table`'s aggregate over the per-case table (``cases``) as SQL, expression for
#: expression what the Ibis form compiles to (the same numbers, bit for bit).
_VARIANTS_SQL = """
SELECT count, lead_median_s, lead_mean_s, first_case FROM (
  SELECT k1, k2, events, COUNT(*) AS count, QUANTILE_CONT(lead_us, 0.5) / 1000000.0 AS lead_median_s,
         AVG(lead_us) / 1000000.0 AS lead_mean_s, MIN(case_idx) AS first_case
  FROM {cases} GROUP BY 1, 2, 3)
"""

#: The instances of the cases listed in the parameter (one per variant), in case order.
_FIRST_CASES_SQL = """
SELECT case_idx, case_id, pos, activity
FROM events SEMI JOIN (SELECT unnest(?::BIGINT[]) AS first_case) ON case_idx = first_case
ORDER BY case_idx, pos
"""


def _variant_table(log: EventLog) -> pd.DataFrame:
    import ibis

    from flowlens.discovery.cases import case_stats, sql_name

    t = log.table
    # DuckDB: the per-case table computed once per log; other engines: keys and case facts.
    stats = case_stats(log)
    if stats is not None and log.is_ingested_table():
        # The gate's own table: the same two queries as plain SQL (compiling the expressions
        # cost more than running them on small logs).
        con = log.engine.duckdb
        assert con is not None
        df = con.execute(_VARIANTS_SQL.format(cases=sql_name(stats))).df()
        firsts = df["first_case"].to_numpy(dtype="int64")
        ev_tab = con.sql(_FIRST_CASES_SQL, params=[firsts]).to_arrow_table()
    else:
        keyed = (
            stats.rename(n="events") if stats is not None else variant_keys(t).join(case_table(t), "case_idx")
        )
        agg = keyed.group_by(["k1", "k2", "n"]).aggregate(
            count=keyed.count(),
            lead_median_s=keyed.lead_us.median() / 1e6,
            lead_mean_s=keyed.lead_us.mean() / 1e6,
            first_case=keyed.case_idx.min(),
        )
        df = agg.drop("k1", "k2", "n").to_pandas()
        # The sequence of each variant, read from its earliest case.
        first_cases = ibis.memtable(df[["first_case"]].astype("int64"))
        ev = t.semi_join(first_cases, t.case_idx == first_cases.first_case).select(
            "case_idx", "case_id", "pos", "activity"
        )
        # ordered by the engine and read as Arrow: no pandas frame of every instance
        ev_tab = ev.order_by(["case_idx", "pos"]).to_pyarrow()
    # Split the sorted activities at case boundaries (plain slicing; no per-group objects).
    case_arr = ev_tab["case_idx"].to_numpy()
    acts = ev_tab["activity"].to_pylist()
    starts = np.flatnonzero(np.r_[True, case_arr[1:] != case_arr[:-1]])
    bounds = np.r_[starts, len(acts)]
    seqs = {int(case_arr[a]): tuple(acts[a:b]) for a, b in itertools.pairwise(bounds)}
    # one case id per case to Python (not one per instance)
    ids = dict(zip(case_arr[starts].tolist(), ev_tab["case_id"].take(starts).to_pylist(), strict=True))
    df["variant"] = df["first_case"].map(seqs)
    df["example_case"] = df["first_case"].map(ids)
    df["count"] = df["count"].astype("int64")
    df = df.sort_values(["count", "variant"], ascending=[False, True], kind="stable").reset_index(drop=True)
    total = int(df["count"].sum())
    df["share"] = df["count"] / total if total else 0.0
    df["cum_share"] = df["share"].cumsum()
    df["length"] = df["variant"].map(len)
    return df[
        ["variant", "length", "count", "share", "cum_share", "lead_median_s", "lead_mean_s", "example_case"]
    ]


def variant_cases(log: EventLog, variant: tuple[str, ...]) -> list[str]:
    """The case ids whose activity sequence is ``variant``, in case order."""
    seq = ordered_sequences(log.table)
    cases = case_table(log.table).select("case_idx", "case_id")
    j = seq.join(cases, "case_idx")
    import ibis

    hit = j.filter(j.seq == ibis.literal(list(variant)))
    return hit.order_by("case_idx").case_id.to_pandas().tolist()
