"""What detectors work from: the log, its time model, and analyses built on demand once.

>>> import flowlens, pandas as pd
>>> df = pd.DataFrame({"case": ["1", "1"], "activity": ["a", "b"], "timestamp": ["2024-01-01 09:00", "2024-01-01 10:00"]})
>>> ctx = FindingContext(flowlens.read_log(df))
>>> ctx.tm.instances.count().to_pandas()
2

The tables detectors store for one another (:meth:`FindingContext.store`) belong to the context
and are dropped when it is closed (``with FindingContext(log) as ctx:`` or :meth:`close`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any

from flowlens.findings.allowlist import AllowList

if TYPE_CHECKING:
    import ibis

    from flowlens.analysis.activity_groups import ActivityGroups
    from flowlens.analysis.journeys import Journeys
    from flowlens.analysis.step_roles import StepRoles
    from flowlens.analysis.waiting import WaitingAnalysis
    from flowlens.log import EventLog
    from flowlens.timing.calendars import CalendarSet
    from flowlens.timing.model import TimeModel


@dataclass
class FindingContext:
    """Inputs shared by all detectors; the expensive ones are computed on first use."""

    log: EventLog
    allow: AllowList = field(default_factory=AllowList.default)
    calendars: CalendarSet | None = None
    #: the time model's team column and clock stop (time_model's ``team``, ``clock_stop``)
    team: str | None = None
    clock_stop: Sequence[str] | str | None = None
    groups: ActivityGroups | None = None
    #: seed of every random draw (bootstrap intervals of customer time)
    seed: int = 0
    resamples: int = 1000
    #: passed to journeys(): customer/channel/reason columns, window
    journey_options: dict[str, Any] = field(default_factory=dict)
    #: the same staff's work outside the log (busy time for the waiting-cause split)
    other_work: EventLog | None = None
    #: how the waiting-cause split is computed (waiting_causes' ``method``: the same numbers)
    waiting_method: str = "auto"
    #: analyses already computed by the caller (the report), reused instead of recomputed
    _tm: TimeModel | None = field(default=None, repr=False)
    _waiting: WaitingAnalysis | None = field(default=None, repr=False)
    #: the tables the detectors stored for this context (:meth:`store`), dropped by :meth:`close`
    _tables: list[ibis.Table] = field(default_factory=list, repr=False)

    def store(self, expr: ibis.Table, *, prefix: str) -> ibis.Table:
        """``expr`` computed once into a table of the log's engine
        (:meth:`~flowlens.engine.Engine.materialize`) for the detectors of this context to
        read; it is dropped by :meth:`close`. A detector that alone reads a table it stored
        may drop it sooner (:func:`~flowlens.timing.enablement.drop_tables`).

        >>> import flowlens, pandas as pd
        >>> df = pd.DataFrame({"case": ["1"], "activity": ["a"], "timestamp": ["2024-01-01 09:00"]})
        >>> with FindingContext(flowlens.read_log(df)) as ctx:
        ...     t = ctx.store(ctx.log.table.select("eid"), prefix="fl_doc")
        ...     t.count().to_pandas()
        1
        >>> ctx.log.engine.duckdb.execute(
        ...     "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [t.get_name()]).fetchall()
        [(0,)]
        """
        table = self.log.engine.materialize(expr, prefix=prefix)
        self._tables.append(table)
        return table

    def close(self) -> None:
        """Drop the tables the detectors stored (:meth:`store`) and forget what they kept in the
        context (their caches read those tables), and the journeys it built; the analyses it
        holds (time model, waiting split, step roles) stay. At 10^8 events the instance, repeat and journey
        tables hold gigabytes of the engine's memory or spill folder until they are dropped.
        A closed context can be used again: what a detector needs is computed again."""
        from flowlens.timing.enablement import drop_tables

        drop_tables(self.log, *self._tables)
        self._tables.clear()
        made = self.__dict__.pop("journeys", None)  # the context built them (cached_property)
        if made is not None:
            made.close(self.log)
        for key in [k for k in self.__dict__ if k.startswith("_") and k not in _FIELDS]:
            del self.__dict__[key]

    def __enter__(self) -> FindingContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @cached_property
    def tm(self) -> TimeModel:
        if self._tm is not None:
            return self._tm
        from flowlens.timing.model import time_model

        return time_model(self.log, calendars=self.calendars, team=self.team, clock_stop=self.clock_stop)

    @cached_property
    def waiting(self) -> WaitingAnalysis:
        if self._waiting is not None:
            return self._waiting
        from flowlens.analysis.waiting import waiting_causes

        return waiting_causes(
            self.tm, calendars=self.calendars, other_work=self.other_work, method=self.waiting_method
        )

    @cached_property
    def step_roles(self) -> StepRoles:
        """Who performs each step and whether it is the outcome or after it (computed once):
        findings only propose changing staff work before the customer's clock stops
        (:meth:`~flowlens.analysis.step_roles.StepRoles.changeable`)."""
        from flowlens.analysis.step_roles import step_roles

        return step_roles(self.tm)

    @cached_property
    def journeys(self) -> Journeys | None:
        """The customer's view, or None when the log has no customer column."""
        from flowlens.analysis.journeys import detect_column, journeys

        if detect_column(self.log, "customer", self.journey_options.get("customer", "auto")) is None:
            return None
        return journeys(self.log, groups=self.groups, **self.journey_options)

    @cached_property
    def activity_groups(self) -> ActivityGroups:
        from flowlens.analysis.activity_groups import ActivityGroups

        return self.groups or ActivityGroups.default()


#: the context's own attributes (the rest of its ``__dict__`` starting with "_" is detectors' caches)
_FIELDS = {f.name for f in fields(FindingContext)}
