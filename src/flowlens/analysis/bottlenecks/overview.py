"""Everything of the bottleneck analysis for one time model: :func:`bottleneck_report`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.analysis.bottlenecks.capacity import utilisation, utilisation_summary
from flowlens.analysis.bottlenecks.ranking import LEVELS, bottlenecks, check_level
from flowlens.analysis.bottlenecks.sentences import bottleneck_sentences
from flowlens.analysis.bottlenecks.wip import littles_law, wip_over_time
from flowlens.errors import ConfigError

if TYPE_CHECKING:
    from flowlens.timing.model import TimeModel

US = 1_000_000


def _auto_freq(tm: TimeModel) -> str:
    c = tm.cases
    row = c.aggregate(lo=c.start_us.min(), hi=c.end_us.max()).to_pandas().iloc[0]
    if pd.isna(row.lo):
        return "D"
    days = (int(row.hi) - int(row.lo)) / (86400 * US)
    return "h" if days <= 4 else "D" if days <= 400 else "W"


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in df.to_dict("records"):
        clean: dict[str, Any] = {}
        for k, v in rec.items():
            if v is pd.NaT:
                clean[k] = None
            elif isinstance(v, pd.Timestamp):
                clean[k] = v.isoformat()
            elif isinstance(v, float) and math.isnan(v):
                clean[k] = None
            elif isinstance(v, np.generic):
                clean[k] = v.item()
            else:
                clean[k] = v
        out.append(clean)
    return out


@dataclass
class BottleneckReport:
    """Bottlenecks at every level, utilisation, WIP over time and Little's law, with one
    sentence per top finding. ``levels`` hold the full ranked tables; ``top`` is how many rows
    the text, JSON and report show."""

    levels: dict[str, pd.DataFrame]
    utilisation: dict[str, pd.DataFrame]
    wip: pd.DataFrame
    wip_freq: str
    util_freq: str
    little: dict[str, Any]
    total_waiting_s: float
    total_waiting_business_s: float
    starts_estimated: bool
    estimated_instances: int
    business_time: bool
    calendars: str
    top: int = 10
    sentences: list[str] = field(default_factory=list)

    def utilisation_summary(self, level: str) -> pd.DataFrame:
        """Per resource or team: overall and peak utilisation (see :func:`utilisation_summary`)."""
        return utilisation_summary(self.utilisation.get(level, pd.DataFrame()))

    def to_dict(self) -> dict[str, Any]:
        """The numbers behind the text and the report section, JSON-ready."""
        return {
            "total_waiting_s": self.total_waiting_s,
            "total_waiting_business_s": self.total_waiting_business_s,
            "starts_estimated": self.starts_estimated,
            "estimated_instances": self.estimated_instances,
            "business_time": self.business_time,
            "calendars": self.calendars,
            "top": self.top,
            "levels": {lv: _records(t.head(self.top)) for lv, t in self.levels.items()},
            "groups": {lv: len(t) for lv, t in self.levels.items()},
            "utilisation_period": self.util_freq,
            "utilisation": {
                lv: _records(self.utilisation_summary(lv).head(self.top)) for lv in self.utilisation
            },
            "wip_period": self.wip_freq,
            "wip": _records(self.wip),
            "littles_law": self.little,
            "sentences": list(self.sentences),
        }


def bottleneck_report(
    tm: TimeModel,
    *,
    levels: Sequence[str] | None = None,
    top: int = 10,
    util_freq: str = "W",
    wip_freq: str | None = None,
    other_work: pd.DataFrame | None = None,
) -> BottleneckReport:
    """Everything of this module for one time model: ranked tables for ``levels`` (default:
    activity, transition, resource, and team when the log has teams), utilisation per resource
    and team (``other_work`` counted as busy: see :func:`utilisation`), WIP over time
    (``wip_freq``: hours for logs of up to 4 days, days up to 400 days, else weeks) and
    Little's law, with one sentence per top finding.

    >>> import flowlens, pandas as pd
    >>> from flowlens.timing.model import time_model
    >>> rows = [("1", "a", "r", "09:00", "10:00"), ("1", "b", "r", "12:00", "12:30"),
    ...         ("2", "a", "r", "10:00", "11:00"), ("2", "b", "r", "11:00", "11:30")]
    >>> df = pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"])
    >>> df[["start", "end"]] = ("2024-01-01 " + df[["start", "end"]]).apply(pd.to_datetime)
    >>> rep = bottleneck_report(time_model(flowlens.read_log(df)))
    >>> rep.sentences[0]
    "Customers wait most before 'b': 2 cases, median 1.0 h, 100 % of all waiting."
    """
    if top < 1:
        raise ConfigError(f"top must be at least 1, got {top}")
    chosen = list(levels) if levels else [lv for lv in LEVELS if lv != "team" or tm.team_column]
    for lv in chosen:
        check_level(tm, lv)
    tables = {lv: bottlenecks(tm, level=lv) for lv in chosen}
    util_levels = [lv for lv in ("resource", "team") if lv != "team" or tm.team_column]
    util = {lv: utilisation(tm, level=lv, freq=util_freq, other_work=other_work) for lv in util_levels}
    freq = wip_freq or _auto_freq(tm)
    wip = wip_over_time(tm, freq=freq)
    i = tm.instances
    tot = (
        i.aggregate(w=i.wait_us.sum(), wb=i.wait_bus_us.sum(), est=i.start_estimated.cast("int64").sum())
        .to_pandas()
        .iloc[0]
    )
    rep = BottleneckReport(
        levels=tables,
        utilisation=util,
        wip=wip,
        wip_freq=freq,
        util_freq=util_freq,
        little=littles_law(tm, wip, freq=freq),
        total_waiting_s=float(tot.w or 0) / US,
        total_waiting_business_s=float(tot.wb or 0) / US,
        starts_estimated=tm.starts_estimated,
        estimated_instances=int(tot.est or 0),
        business_time=tm.clock is not None,
        calendars=tm.calendars.source,
        top=top,
    )
    rep.sentences = bottleneck_sentences(rep)
    return rep
