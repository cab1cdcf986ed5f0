"""The :class:`EventLog`: a canonical activity-instance relation in an engine, plus what it means.

An event log knows its column mapping (:class:`~flowlens.columns.ColumnMap`), the time zone its
naive timestamps were read in, where it came from (:class:`~flowlens.source.SourceInfo`) and
what the data-quality gate found (:class:`~flowlens.quality.QualityReport`). Its ``table`` is
an Ibis expression; analyses build queries on it and bring back only small results.

>>> import pandas as pd, flowlens
>>> df = pd.DataFrame({"case": ["c1", "c1", "c2"], "activity": ["a", "b", "a"],
...                    "timestamp": ["2024-01-01 09:00", "2024-01-01 10:00", "2024-01-02 09:00"]})
>>> log = flowlens.read_log(df)
>>> s = log.summary()
>>> (s.cases, s.events, s.activities, s.variants)
(2, 3, 2, 2)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlens.columns import ColumnMap
from flowlens.engine import Engine, check_engine_name
from flowlens.quality import QualityReport
from flowlens.relational import (
    HIDDEN_COLUMNS,
    events_table,
    us_to_datetime_series,
    us_to_iso,
    variant_keys,
)
from flowlens.source import SourceInfo

if TYPE_CHECKING:
    import ibis
    import pandas as pd

    from flowlens.pseudonyms import Pseudonyms


@dataclass
class LogSummary:
    """Headline numbers of a log (the ``inspect --json`` object)."""

    source: str
    format: str
    engine: str
    cases: int
    events: int
    activities: int
    variants: int
    resources: int
    start: str | None
    end: str | None
    has_start_times: bool
    timezone: str
    rows_read: int
    rows_kept: int
    rows_quarantined: int
    filters: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class EventLog:
    """An event log: canonical table + mapping + zone + provenance + quality report.

    Build one with :func:`flowlens.read_log`. Instances are immutable: filters and engine moves
    return new logs sharing the ingest results.
    """

    def __init__(
        self,
        table: ibis.Table,
        *,
        columns: ColumnMap,
        timezone: str,
        source: SourceInfo,
        quality: QualityReport,
        engine: Engine,
        ingest: Engine,
        attributes: dict[str, str],
        has_lifecycle: bool = False,
        filters: tuple[str, ...] = (),
        pseudonyms: Pseudonyms | None = None,
    ) -> None:
        self.table = table
        self.columns = columns
        self.timezone = timezone
        self.source = source
        self.quality = quality
        self.engine = engine
        self._ingest = ingest
        #: canonical attribute column -> source column name
        self.attributes = attributes
        self.has_lifecycle = has_lifecycle
        #: Human-readable descriptions of the filters applied, in order.
        self.filters = filters
        #: how identifiers were pseudonymised (:mod:`flowlens.pseudonyms`), or None
        self.pseudonyms = pseudonyms
        self._memo: dict[str, Any] = {}

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per log (logs are immutable, so results can be reused)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # -- derived logs ---------------------------------------------------------------------
    def derive(self, table: ibis.Table, description: str) -> EventLog:
        """A new log over ``table`` (a filtered form of this one), recording ``description``."""
        return replace_log(self, table=table, filters=(*self.filters, description))

    def to_engine(self, name: str) -> EventLog:
        """The same log in another engine ('duckdb' or 'spark').

        The canonical table is handed over as Parquet; the quarantine stays with the ingest
        connection.
        """
        check_engine_name(name)
        if name == self.engine.name:
            return self
        if name == "duckdb":
            # Back from another engine: the ingest connection still holds the canonical table;
            # a derived table travels as Parquet.
            eng = self._ingest
            path = (eng.workdir or Path(".")) / f"from_{self.engine.name}_{id(self)}.parquet"
            self.table.to_parquet(path)
            table = eng.backend.read_parquet(str(path))
        else:
            from flowlens.engine import spark_engine, stage_for_spark

            eng = spark_engine(self._ingest.limits)
            assert eng.workdir is not None
            path = eng.workdir / "events.parquet"
            self._materialise_parquet(path)
            # on a cluster, where executors read it from (FLOWLENS_SPARK_STAGING)
            table = eng.backend.read_parquet(stage_for_spark(path, eng.backend._session))
        return replace_log(self, table=table, engine=eng)

    def is_ingested_table(self) -> bool:
        """True when this log's table is the one the gate built, unfiltered, in the ingest
        engine: analyses may then read what the gate computed alongside it (the successor
        columns, :data:`flowlens.relational.SUCCESSOR_COLUMNS`)."""
        if self.engine is not self._ingest or self._ingest.duckdb is None:
            return False
        # once per log (building the reference table asks the engine for its schema: ~10 ms)
        return bool(
            self.memo("is_ingested_table", lambda: self.table.equals(events_table(self._ingest.backend)))
        )

    def _materialise_parquet(self, path: Path) -> None:
        if self.engine.name == "duckdb" and self.is_ingested_table():
            # the ingested table itself: let DuckDB copy it without a round trip
            con = self._ingest.duckdb
            assert con is not None
            # the other engine does not read row order: let DuckDB stream the copy instead of
            # buffering to keep it (less memory under a limit)
            con.execute("SET preserve_insertion_order = false")
            try:
                hidden = ", ".join(HIDDEN_COLUMNS)
                con.execute(f"COPY (SELECT * EXCLUDE ({hidden}) FROM events) TO '{path}' (FORMAT parquet)")
            finally:
                con.execute("SET preserve_insertion_order = true")
        else:
            self.table.to_parquet(path)

    # -- facts ------------------------------------------------------------------------------
    @cached_property
    def _basic(self) -> dict[str, Any]:
        t = self.table
        row = t.aggregate(
            cases=t.case_idx.nunique(),
            events=t.count(),
            activities=t.activity.nunique(),
            resources=t.resource.nunique(),
            first_start=t.start_us.min(),
            first_end=t.end_us.min(),
            last=t.end_us.max(),
            starts=t.start_us.count(),
        ).to_pandas()
        rec = {k: row[k].iloc[0] for k in row.columns}
        return {k: (None if _isnull(v) else int(v)) for k, v in rec.items()}

    @cached_property
    def has_start_times(self) -> bool:
        """True when at least one activity instance has a recorded start time."""
        if "_basic" in self.__dict__:
            return bool(self._basic["starts"])
        t = self.table
        return int(t.filter(t.start_us.notnull()).limit(1).count().to_pandas()) > 0

    @property
    def time_resolution_s(self) -> float:
        """How finely the log's times are recorded, in seconds: the coarsest resolution among
        the time columns used (86400 for date-only times, 3600 for whole hours, 60, 1, 0.001,
        1e-6; methods §1.7). Computed once per log read, in the engine.

        Sequence-sensitive analyses (batches, loops, order within a day) should not read an
        order or a duration finer than this.

        >>> import pandas as pd, flowlens
        >>> df = pd.DataFrame({"case_id": [1, 1], "activity": ["a", "b"],
        ...                    "timestamp": ["2024-05-01", "2024-05-02"]})
        >>> flowlens.read_log(df).time_resolution_s
        86400.0
        """
        res = self.quality.time_resolution
        return max((r.resolution_s for r in res.values()), default=1e-6)

    @property
    def n_cases(self) -> int:
        return int(self._basic["cases"] or 0)

    @property
    def n_events(self) -> int:
        return int(self._basic["events"] or 0)

    @cached_property
    def n_variants(self) -> int:
        keys = variant_keys(self.table)
        return int(keys.select("k1", "k2", "n").distinct().count().to_pandas())

    def summary(self) -> LogSummary:
        b = self._basic
        first = (
            min(v for v in (b["first_start"], b["first_end"]) if v is not None)
            if b["first_end"] is not None
            else None
        )
        q = self.quality
        return LogSummary(
            source=self.source.path,
            format=self.source.format,
            engine=self.engine.name,
            cases=self.n_cases,
            events=self.n_events,
            activities=int(b["activities"] or 0),
            variants=self.n_variants,
            resources=int(b["resources"] or 0),
            start=us_to_iso(first, self.timezone),
            end=us_to_iso(b["last"], self.timezone),
            has_start_times=self.has_start_times,
            timezone=self.timezone,
            rows_read=q.rows_read,
            rows_kept=q.rows_kept,
            rows_quarantined=q.rows_quarantined,
            filters=list(self.filters),
        )

    def describe(self) -> str:
        """The multi-line text summary (what ``print(log)`` shows)."""
        s = self.summary()
        m = self.columns
        lines = [
            f"EventLog from {s.source} ({s.format}, engine {s.engine})",
            f"  cases {s.cases:,}; activity instances {s.events:,}; activities {s.activities:,}; "
            f"variants {s.variants:,}; resources {s.resources:,}",
            f"  from {s.start} to {s.end} (time zone {s.timezone}); "
            f"start times: {'yes' if s.has_start_times else 'no (completion-only)'}",
            f"  columns: case={m.case!r} activity={'+'.join(m.activity_columns)!r} "
            f"start={m.start!r} end={m.end!r} resource={m.resource!r} lifecycle={m.lifecycle!r}",
        ]
        roles = getattr(self.source, "roles", {})
        if any(h not in ("name", "given") for h in roles.values()):
            # say how each role was found when names alone did not settle them (methods §1.6)
            lines.append("  roles found: " + "; ".join(f"{r} by {h}" for r, h in roles.items()))
        if self.attributes:
            shown = ", ".join(list(self.attributes.values())[:12])
            more = len(self.attributes) - 12
            lines.append(f"  attributes: {shown}{f', ... ({more} more)' if more > 0 else ''}")
        lines += ["  " + ln for ln in self.quality.lines()]
        for note in self.source.notes:
            lines.append(f"  note: {note}")
        for f in self.filters:
            lines.append(f"  filter: {f}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return f"<EventLog {self.source.path!r} engine={self.engine.name} filters={len(self.filters)}>"

    # -- export -----------------------------------------------------------------------------
    def to_pandas(self) -> pd.DataFrame:
        """The activity instances as a DataFrame with tz-aware ``start``/``end`` columns.

        This copies the whole log into memory: meant for small logs and for users; flowlens's
        own analyses never call it.
        """
        df = self.table.order_by(["case_idx", "pos"]).to_pandas()
        df.insert(
            df.columns.get_loc("start_us"), "start", us_to_datetime_series(df["start_us"], self.timezone)
        )
        df.insert(df.columns.get_loc("end_us"), "end", us_to_datetime_series(df["end_us"], self.timezone))
        return df.drop(columns=["start_us", "end_us"])

    def quarantine(self) -> pd.DataFrame:
        """The rows the gate set aside: source row, reason, detail and the original values."""
        con = self._ingest.duckdb
        assert con is not None
        df = con.execute("SELECT * FROM quarantine ORDER BY source_row").df()
        if self.pseudonyms is None:
            return df
        # the quarantine has the source's column names; it gets the log's treatment
        return self.pseudonyms.quarantine_frame(df, self)


def replace_log(log: EventLog, **changes: Any) -> EventLog:
    fields = dict(
        table=log.table,
        columns=log.columns,
        timezone=log.timezone,
        source=log.source,
        quality=log.quality,
        engine=log.engine,
        ingest=log._ingest,
        attributes=log.attributes,
        has_lifecycle=log.has_lifecycle,
        filters=log.filters,
        pseudonyms=log.pseudonyms,
    )
    fields.update(changes)
    table = fields.pop("table")
    return EventLog(table, **fields)


def _isnull(v: Any) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


__all__ = ["EventLog", "LogSummary"]
