"""Bottlenecks: where customers wait, how busy the people are, and how much work is in progress.

Three views on the time model (:mod:`flowlens.timing.model`), defined in docs/methods.md
("Bottlenecks, utilisation and WIP"):

* :func:`bottlenecks` ranks activities, transitions, resources or teams by the **total**
  customer waiting they account for (frequency x mean, not the mean alone);
* :func:`utilisation` is busy time / available working time per resource or team and period;
* :func:`wip_over_time` counts open cases, and instances waiting or in service, on a time grid.

:func:`bottleneck_report` ties them together with plain-language sentences.

>>> import flowlens, pandas as pd
>>> from flowlens.timing.model import time_model
>>> rows = [("1", "a", "r", "09:00", "10:00"), ("1", "b", "r", "12:00", "12:30"),
...         ("2", "a", "r", "10:00", "11:00"), ("2", "b", "r", "11:00", "11:30")]
>>> df = pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"])
>>> df[["start", "end"]] = ("2024-01-01 " + df[["start", "end"]]).apply(pd.to_datetime)
>>> tm = time_model(flowlens.read_log(df))
>>> bottlenecks(tm)[["activity", "instances", "waiting_total_s", "waiting_share"]].values.tolist()
[['b', 2, 7200.0, 1.0], ['a', 2, 0.0, 0.0]]
"""

from __future__ import annotations

from flowlens.analysis.bottlenecks.capacity import HIGH_UTILISATION, utilisation, utilisation_summary
from flowlens.analysis.bottlenecks.overview import BottleneckReport, bottleneck_report
from flowlens.analysis.bottlenecks.ranking import CASE_START, LEVELS, NO_RESOURCE, NO_TEAM, US, bottlenecks
from flowlens.analysis.bottlenecks.wip import littles_law, wip_over_time

__all__ = [
    "CASE_START",
    "HIGH_UTILISATION",
    "LEVELS",
    "NO_RESOURCE",
    "NO_TEAM",
    "US",
    "BottleneckReport",
    "bottleneck_report",
    "bottlenecks",
    "littles_law",
    "utilisation",
    "utilisation_summary",
    "wip_over_time",
]
