"""The data-quality report: what the gate set aside and what it flagged.

Rows that cannot be used are *quarantined*: counted by reason and kept, with their source row
number, for the user to fix. Things that distort an analysis without being wrong are *flags*:
counted and explained, never removed. The invariant ``rows_read == rows_kept +
rows_quarantined`` always holds; activity instances may be fewer than rows kept where
lifecycle rows (start, complete, ...) pair into one instance.

>>> from flowlens.quality import QualityReport
>>> QualityReport(rows_read=10, rows_kept=9, rows_quarantined=1).balanced
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from flowlens.i18n import M_

# Quarantine reasons (stable names: they appear in quarantine.csv and in --json).
MISSING_CASE = "missing case id"
MISSING_ACTIVITY = "missing activity"
MISSING_TIME = "missing timestamp"
BAD_TIME = "unparseable timestamp"
BAD_START = "unparseable start time"
END_BEFORE_START = "end before start"
DUPLICATE = "exact duplicate"
MALFORMED = "malformed row"
UNKNOWN_LIFECYCLE = "unknown lifecycle transition"
OPEN_START = "start without completion"
OPEN_SCHEDULE = "schedule without start or completion"
STRAY_SUSPEND = "suspend/resume outside an activity instance"
NUL_BYTE = "NUL byte in a field"
DST_GAP = "nonexistent local time"

#: Flags: name -> what it means (the text shown in summaries and the report, in its language).
FLAG_TEXT = {
    "same_timestamp": M_(
        "activity instances sharing their end time with another instance of the "
        "same case (their order falls back to file order)"
    ),
    "batch_timestamps": M_(
        "activity instances whose end time is shared by 10 or more instances "
        "from 5 or more cases (batch-loaded or defaulted timestamps)"
    ),
    "coarse_timestamps": M_(
        "timestamps recorded coarser than to the minute (most of them on whole "
        "days or hours): order within that unit and shorter durations are unknown"
    ),
    "single_event_cases": M_("cases with a single activity instance"),
    "future_timestamps": M_("activity instances ending after the moment the log was read"),
    "negative_waits": M_(
        "activity instances that start before their predecessor in the case ends "
        "(overlap or clock skew; waiting is clipped to 0)"
    ),
    "open_cases": M_(
        "cases whose last activity rarely ends a case (in < 5 % of the cases that "
        "contain it): probably still open when the log was extracted"
    ),
    "missing_resource": M_("activity instances without a resource"),
    "missing_start": M_("activity instances without a start time in a log that has start times"),
    "ambiguous_local_times": M_(
        "rows whose local time (without an offset) falls in the hour repeated "
        "when clocks go back: read as the second, standard-time occurrence, so their order and "
        "durations against the first occurrence may be off by an hour"
    ),
}


@dataclass
class Flag:
    count: int
    cases: int | None
    description: str


#: Units a timestamp can be recorded to, coarsest first: (name, seconds).
TIME_UNITS: tuple[tuple[str, float], ...] = (
    ("day", 86_400.0),
    ("hour", 3_600.0),
    ("minute", 60.0),
    ("second", 1.0),
    ("millisecond", 0.001),
)
#: Below this resolution (in seconds) a time column is flagged as a distortion.
COARSE_RESOLUTION_S = 60.0


@dataclass
class TimeResolution:
    """How finely one time column is recorded (docs/methods.md §1.7).

    ``whole`` counts, per unit of :data:`TIME_UNITS`, the values that are whole multiples of it
    in the log's zone (on whole days: at local midnight). The resolution is the coarsest unit
    that at least half the values are whole multiples of; microseconds when none is.

    >>> r = TimeResolution.from_counts("time:timestamp", 10, {"day": 9, "hour": 9, "minute": 10,
    ...                                "second": 10, "millisecond": 10})
    >>> (r.unit, r.resolution_s, r.coarse)
    ('day', 86400.0, True)
    """

    column: str
    values: int
    whole: dict[str, int]
    unit: str
    resolution_s: float

    @classmethod
    def from_counts(cls, column: str, values: int, whole: dict[str, int]) -> TimeResolution:
        for unit, seconds in TIME_UNITS:
            if values and whole.get(unit, 0) >= 0.5 * values:
                return cls(column, values, whole, unit, seconds)
        return cls(column, values, whole, "microsecond", 1e-6)

    @property
    def coarse(self) -> bool:
        """Coarser than a minute: the resolution is a distortion (flagged)."""
        return self.resolution_s > COARSE_RESOLUTION_S

    def share(self, unit: str) -> float:
        return self.whole.get(unit, 0) / self.values if self.values else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "unit": self.unit,
            "resolution_s": self.resolution_s,
            "values": self.values,
            "share_at_midnight": round(self.share("day"), 6),
            "share_on_whole_hours": round(self.share("hour"), 6),
            "share_on_whole_minutes": round(self.share("minute"), 6),
        }


@dataclass
class QualityReport:
    """Counts of the data-quality gate."""

    rows_read: int = 0
    rows_kept: int = 0
    rows_quarantined: int = 0
    #: reason -> number of rows set aside for it.
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    #: Lifecycle transitions seen (value -> rows) when rows were paired into instances.
    lifecycle: dict[str, int] = field(default_factory=dict)
    #: Computes the flags when first asked for (they are diagnostics that every summary,
    #: inspect and report shows, but an analysis that never reads them need not pay for them).
    flag_source: Callable[[], dict[str, Flag]] | None = field(default=None, repr=False, compare=False)
    _flags: dict[str, Flag] | None = field(default=None, repr=False, compare=False)
    #: Per time column used (source name): how finely it is recorded (methods §1.7).
    time_resolution: dict[str, TimeResolution] = field(default_factory=dict)

    @property
    def flags(self) -> dict[str, Flag]:
        if self._flags is None:
            self._flags = self.flag_source() if self.flag_source is not None else {}
        return self._flags

    @flags.setter
    def flags(self, value: dict[str, Flag]) -> None:
        self._flags = value

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_kept + self.rows_quarantined

    def to_dict(self) -> dict[str, object]:
        hidden = {"flag_source", "_flags"}
        d = {k: v for k, v in asdict(self).items() if k not in hidden}
        d["time_resolution"] = {c: r.to_dict() for c, r in self.time_resolution.items()}
        d["flags"] = {
            k: {"count": v.count, "cases": v.cases, "description": v.description}
            for k, v in self.flags.items()
        }
        return d

    def lines(self) -> list[str]:
        """Human-readable lines for summaries."""
        out = [
            f"rows read {self.rows_read:,}; kept {self.rows_kept:,}; quarantined {self.rows_quarantined:,}"
        ]
        for reason, n in sorted(self.quarantine_reasons.items(), key=lambda kv: -kv[1]):
            out.append(f"  quarantined: {n:,} {reason}")
        if self.time_resolution:
            shown = "; ".join(f"'{c}' to the {r.unit}" for c, r in self.time_resolution.items())
            out.append(f"  times recorded: {shown}")
        for name, flag in self.flags.items():
            if flag.count:
                cases = f" in {flag.cases:,} cases" if flag.cases is not None else ""
                out.append(f"  flag {name}: {flag.count:,}{cases}: {flag.description}")
        return out
