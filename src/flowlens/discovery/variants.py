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

from typing import TYPE_CHECKING

from flowlens.relational import case_table, ordered_sequences

if TYPE_CHECKING:
    import pandas as pd

    from flowlens.log import EventLog


def variants(log: EventLog, *, top: int | None = None) -> pd.DataFrame:
    """One row per variant: variant (tuple), length, count, share, cum_share,
    lead_median_s, lead_mean_s, example_case (the earliest case with it)."""
    t = log.table
    seq = ordered_sequences(t)
    cases = case_table(t)
    j = seq.join(cases, "case_idx")
    agg = j.group_by("seq").aggregate(
        count=j.count(),
        lead_median_s=j.lead_us.median() / 1e6,
        lead_mean_s=j.lead_us.mean() / 1e6,
        first_case=j.case_idx.min(),
        example_case=j.case_id.argmin(j.case_idx),
    )
    df = agg.to_pandas()
    df["variant"] = [tuple(s) for s in df["seq"]]
    df = df.drop(columns="seq")
    df["count"] = df["count"].astype("int64")
    df = df.sort_values(["count", "variant"], ascending=[False, True], kind="stable").reset_index(drop=True)
    total = int(df["count"].sum())
    df["share"] = df["count"] / total if total else 0.0
    df["cum_share"] = df["share"].cumsum()
    df["length"] = df["variant"].map(len)
    df = df[
        ["variant", "length", "count", "share", "cum_share", "lead_median_s", "lead_mean_s", "example_case"]
    ]
    return df.head(top) if top is not None else df


def variant_cases(log: EventLog, variant: tuple[str, ...]) -> list[str]:
    """The case ids whose activity sequence is ``variant``, in case order."""
    seq = ordered_sequences(log.table)
    cases = case_table(log.table).select("case_idx", "case_id")
    j = seq.join(cases, "case_idx")
    import ibis

    hit = j.filter(j.seq == ibis.literal(list(variant)))
    return hit.order_by("case_idx").case_id.to_pandas().tolist()
