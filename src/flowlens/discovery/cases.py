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

from typing import TYPE_CHECKING

from flowlens.relational import case_table

if TYPE_CHECKING:
    import pandas as pd

    from flowlens.log import EventLog


def case_durations(log: EventLog) -> pd.DataFrame:
    """Case id, start and end (tz-aware, log zone), lead time in seconds, instance count."""
    from flowlens.relational import us_to_datetime_series

    df = case_table(log.table).order_by("case_idx").to_pandas()
    df["start"] = us_to_datetime_series(df["start_us"], log.timezone)
    df["end"] = us_to_datetime_series(df["end_us"], log.timezone)
    df["lead_time_s"] = df["lead_us"] / 1e6
    return df[["case_id", "start", "end", "lead_time_s", "events"]]
