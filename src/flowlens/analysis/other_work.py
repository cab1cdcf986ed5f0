"""The staff's work outside the analysed log: it keeps people busy, and is never analysed.

A bank's process log rarely holds everything its people do: transaction-monitoring alerts,
counter business, meetings. Given as *other work* (methods 7.1, 8.2), those intervals join the
waiting-cause split (contention and prioritisation), batch detection (busy periods and idle
time) and utilisation (busy time) of the log's resources.

>>> import pandas as pd
>>> frame = pd.DataFrame({"resource": ["r", None], "start_us": [0, 5], "end_us": [10, 9], "enabled_us": [0, 1]})
>>> other_work_table(frame).to_pandas()[["o_eid", "resource", "start_us", "end_us"]].values.tolist()
[[-1, 'r', 0, 10]]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import ibis

    from flowlens.log import EventLog
    from flowlens.timing.calendars import CalendarSet


def other_work_intervals(other: EventLog, calendars: CalendarSet | None = None) -> pd.DataFrame:
    """The instances of ``other`` as rows of resource, start_us, end_us, enabled_us (its own
    time model's enabled time). Instances without a resource or a start are left out."""
    from flowlens.timing.model import time_model

    i = time_model(other, calendars=calendars).instances
    i = i.filter(i.resource.notnull() & i.start_us.notnull())
    return i.select("resource", "start_us", "end_us", "enabled_us").to_pandas()


def other_work_table(frame: pd.DataFrame) -> ibis.Table:
    """``frame`` (resource, start_us, end_us, optionally enabled_us) as an engine table with
    ``o_eid``: ids below every instance's eid (-1, -2, ...), never equal to a log instance's.
    Rows without a resource, start or end are left out."""
    import ibis

    ow = frame.dropna(subset=["resource", "start_us", "end_us"])
    enabled = ow["enabled_us"] if "enabled_us" in ow else pd.Series(pd.NA, index=ow.index)
    ow = pd.DataFrame(
        {
            "o_eid": -1 - np.arange(len(ow), dtype=np.int64),
            "resource": ow["resource"].astype(str).to_numpy(),
            "start_us": ow["start_us"].astype("int64").to_numpy(),
            "end_us": ow["end_us"].astype("int64").to_numpy(),
            "enabled_us": enabled.astype("Int64").to_numpy(),
        }
    )
    return ibis.memtable(ow)


__all__ = ["other_work_intervals", "other_work_table"]
