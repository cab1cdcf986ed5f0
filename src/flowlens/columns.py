"""Column roles of an event log: which source column is the case, the activity, the times.

A :class:`ColumnMap` names, for one source, the column that plays each role. Roles left
``None`` are detected from the column names (XES keys, ``case_id``, ``Case ID``, ``timestamp``,
``org:resource``, common Chinese headers, ...) by :func:`detect_columns`; roles given explicitly
always win. Where the names leave the case, the activity or the timestamp open,
:func:`detect_roles` looks at the values (docs/methods.md §1.6): a column that reads as times,
one whose values group rows into sequences, one with few labels that change within a case.
Every column that plays no role is kept as a case or event attribute.

>>> from flowlens.columns import detect_columns
>>> m = detect_columns(["Case ID", "Activity", "Start Timestamp", "Complete Timestamp", "Resource"])
>>> (m.case, m.activity, m.start, m.end, m.resource)
('Case ID', ('Activity',), 'Start Timestamp', 'Complete Timestamp', 'Resource')
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

from flowlens.errors import ConfigError, MissingColumnError

ROLES = ("case", "activity", "start", "end", "resource", "lifecycle")

#: Separator used when the activity is composed of several columns (ProM's classifier style).
ACTIVITY_JOIN = "+"


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-:./()]+", "", name.strip().lower())


# Candidate names per role, most specific first; compared after _norm().
_CANDIDATES: dict[str, tuple[str, ...]] = {
    "case": (
        "case:concept:name",
        "case_id",
        "caseid",
        "case",
        "case key",
        "case number",
        "case no",
        "trace_id",
        "process instance id",
        "process_instance",
        "instance_id",
        "ticket_id",
        "案例id",
        "案例编号",
        "案件编号",
        "流程实例id",
        "工单号",
        "工单编号",
        "案例編號",
        "案件編號",
        "工單號",
        "工單編號",
    ),
    "activity": (
        "concept:name",
        "activity",
        "activity name",
        "activity_name",
        "task",
        "task name",
        "event name",
        "action",
        "step",
        "活动",
        "活动名称",
        "环节",
        "步骤",
        "操作",
        "活動",
        "活動名稱",
        "環節",
        "步驟",
    ),
    "start": (
        "start_time",
        "start timestamp",
        "start_timestamp",
        "starttime",
        "start",
        "start_ts",
        "begin_time",
        "started",
        "开始时间",
        "開始時間",
    ),
    "end": (
        "time:timestamp",
        "end_time",
        "end timestamp",
        "end_timestamp",
        "complete timestamp",
        "complete_timestamp",
        "completion_time",
        "completed",
        "endtime",
        "end",
        "end_ts",
        "timestamp",
        "event_time",
        "datetime",
        "time",
        "结束时间",
        "完成时间",
        "时间戳",
        "时间",
        "結束時間",
        "完成時間",
        "時間戳",
        "時間",
    ),
    "resource": (
        "org:resource",
        "resource",
        "resource_id",
        "user",
        "user_id",
        "agent",
        "agent_id",
        "performer",
        "employee",
        "staff",
        "operator",
        "处理人",
        "经办人",
        "操作员",
        "處理人",
        "經辦人",
        "操作員",
        # Group-level fallbacks: used only when no person-level column exists.
        "org:group",
        "group",
        "department",
    ),
    "lifecycle": ("lifecycle:transition", "lifecycle", "transition", "event_type", "生命周期"),
}


@dataclass(frozen=True)
class ColumnMap:
    """Which source column plays which role.

    ``activity`` may name several columns; their values are joined with ``+`` (BPIC 2013's
    activity is ``concept:name`` + ``lifecycle:transition``). ``start`` is optional: a log with
    one timestamp is a completion-only log. ``lifecycle`` holds XES lifecycle transitions
    (start/complete/...); rows of one activity instance are paired on it.

    >>> ColumnMap(case="id", activity="step", end="done").activity
    ('step',)
    """

    case: str | None = None
    activity: tuple[str, ...] | str | None = None
    start: str | None = None
    end: str | None = None
    resource: str | None = None
    lifecycle: str | None = None
    #: Columns kept as attributes, in source order (filled in by the reader).
    attributes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if isinstance(self.activity, str):
            parts = tuple(p.strip() for p in self.activity.split(ACTIVITY_JOIN) if p.strip())
            object.__setattr__(self, "activity", parts or None)
        elif self.activity is not None:
            object.__setattr__(self, "activity", tuple(self.activity))

    @property
    def activity_columns(self) -> tuple[str, ...]:
        return self.activity if isinstance(self.activity, tuple) else ()

    def role_columns(self) -> list[str]:
        """Source columns that play a role (in role order, without duplicates)."""
        cols: list[str] = []
        for role in ROLES:
            value = getattr(self, role)
            for c in value if isinstance(value, tuple) else (value,):
                if c is not None and c not in cols:
                    cols.append(c)
        return cols

    def merged(self, explicit: ColumnMap | None) -> ColumnMap:
        """This map with every role that ``explicit`` sets replaced by its value."""
        if explicit is None:
            return self
        changes = {r: getattr(explicit, r) for r in ROLES if getattr(explicit, r) is not None}
        return replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["activity"] = list(self.activity_columns)
        d["attributes"] = list(self.attributes)
        return d

    @classmethod
    def from_file(cls, path: str | Path) -> ColumnMap:
        """Read a mapping file (JSON or TOML) with keys among case, activity, start, end,
        resource, lifecycle.

        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "map.toml"
        >>> _ = p.write_text('case = "Claim"\\nactivity = ["Step", "Status"]\\n')
        >>> ColumnMap.from_file(p).activity
        ('Step', 'Status')
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read mapping file {p}: {exc.strerror}") from exc
        try:
            data = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(
                f"mapping file {p} is not valid {'TOML' if p.suffix == '.toml' else 'JSON'}: {exc}"
            ) from exc
        if not isinstance(data, dict):
            raise ConfigError(f"mapping file {p} must hold an object with role keys")
        unknown = sorted(set(data) - set(ROLES))
        if unknown:
            raise ConfigError(f"mapping file {p} has unknown keys {unknown}; expected some of {list(ROLES)}")
        for role, value in data.items():
            ok = isinstance(value, str) or (
                role == "activity" and isinstance(value, list) and all(isinstance(v, str) for v in value)
            )
            if not ok:
                raise ConfigError(
                    f"mapping file {p}: '{role}' must be a column name"
                    + (" or a list of names" if role == "activity" else "")
                    + f", got {value!r}"
                )
        return cls(**data)


@dataclass(frozen=True)
class ColumnProfile:
    """What the values of one column look like, on the first rows of the source.

    ``rows`` rows examined; ``values`` of them non-empty; ``distinct`` different values;
    ``runs`` maximal runs of equal values in source order (``runs == distinct`` when the rows
    of each value are contiguous); ``numbers`` and ``times`` values that read as a plain
    number or as a date/time.
    """

    name: str
    rows: int
    values: int
    distinct: int
    runs: int
    numbers: int
    times: int
    example: str | None = None

    @property
    def is_time(self) -> bool:
        """Reads as times: 90 % of its values, in a column filled in at least half the rows."""
        return self.values >= max(1, 0.5 * self.rows) and self.times >= 0.9 * self.values

    @property
    def is_numeric(self) -> bool:
        return self.values > 0 and self.numbers >= 0.5 * self.values

    @property
    def in_runs(self) -> bool:
        """The rows of each value (nearly) form one contiguous block in source order."""
        return self.distinct >= 2 and self.runs <= 1.1 * self.distinct

    def hint(self) -> str:
        """A few words on the content, for messages."""
        if not self.values:
            return "empty"
        if self.is_time:
            return "times"
        kind = "numbers" if self.is_numeric else "text"
        if self.distinct == self.values:
            return f"{kind}, all different"
        runs = ", in runs" if self.in_runs else ""
        return f"{kind}, {self.distinct:,} distinct of {self.values:,}{runs}"


class ContentProbe(Protocol):
    """Answers questions about column values (implemented on the staged source by
    :class:`flowlens.io.profile.RawProbe`)."""

    def profiles(self, columns: Sequence[str]) -> dict[str, ColumnProfile]: ...

    def time_span_shares(self, columns: Sequence[str], time_column: str) -> dict[str, float]: ...

    def change_shares(self, columns: Sequence[str], case_column: str) -> dict[str, float]: ...

    def order_shares(self, first: str, second: str) -> tuple[float, float] | None: ...


@dataclass(frozen=True)
class RoleDetection:
    """The column map and, per role found, how: ``given``, ``name`` or ``content: ...``."""

    columns: ColumnMap
    how: dict[str, str]


#: Words in a column name that suggest a role among columns whose content qualifies for it
#: (used only to rank content candidates, never to pick a column by itself).
_ID_WORDS = {"id", "no", "nr", "num", "number", "key", "case", "ticket", "order", "instance", "ref"}
_ACTIVITY_WORDS = {"activity", "task", "step", "action", "event", "operation", "stage", "status", "state"}
_PERSON_WORDS = {"resource", "user", "agent", "staff", "employee", "operator", "owner", "assignee", "by"}
_END_WORDS = {
    "end",
    "complete",
    "completed",
    "completion",
    "finish",
    "finished",
    "done",
    "close",
    "closed",
    "stop",
}
_START_WORDS = {"start", "started", "begin", "began", "open", "opened"}
_TIME_WORDS = {"time", "date", "ts", "stamp", "timestamp", "datetime", "when", "moment", "at", "on"}

#: Case candidates whose rows are not in runs must span at most this share of the time range
#: (median over their values): a case is a short sequence within the log, a label is not.
CASE_SPAN_SHARE = 0.5


def _words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    words = set(re.findall(r"[a-z0-9]+|[^\x00-\x7f]+", spaced.lower()))
    if name.lower().endswith("id"):
        words.add("id")
    return words


def detect_roles(
    names: Sequence[str],
    explicit: ColumnMap | None = None,
    *,
    source: str = "the log",
    probe: ContentProbe | None = None,
) -> RoleDetection:
    """Map roles to columns: explicit ones as given, then by name, then by content.

    Names win where they are clear (:data:`_CANDIDATES`). For a required role still open
    (case, activity, a timestamp) and a ``probe`` to look at values, the columns left are
    judged by content (docs/methods.md §1.6): a timestamp reads as times; a case id repeats,
    its rows in runs or spanning a short part of the time range; an activity has few labels
    that change within a case. Name words (``order_id``, ``event_type``, ``ended_at``) only
    rank columns whose content qualifies. Raises :class:`MissingColumnError` naming every
    role still missing, the columns with a hint of their content, and the options to pass.

    >>> detect_roles(["Case ID", "Activity", "Complete Timestamp"]).how
    {'case': 'name', 'activity': 'name', 'end': 'name'}
    """
    available = list(names)
    by_norm: dict[str, str] = {}
    for n in available:
        by_norm.setdefault(_norm(n), n)

    explicit = explicit or ColumnMap()
    for role in ROLES:
        value = getattr(explicit, role)
        for col in value if isinstance(value, tuple) else (value,):
            if col is not None and col not in available:
                raise MissingColumnError(
                    f"column '{col}' ({role}) not found in {source}; "
                    f"available columns: {_quote_list(available)}",
                    hint=f"check the spelling of --{role} or the mapping file",
                )

    taken = set(explicit.role_columns())
    how: dict[str, str] = {}

    def pick(role: str) -> str | None:
        for cand in _CANDIDATES[role]:
            col = by_norm.get(_norm(cand))
            if col is not None and col not in taken:
                taken.add(col)
                return col
        return None

    found: dict[str, object] = {}
    for role in ("case", "activity", "end", "start", "resource", "lifecycle"):
        value = getattr(explicit, role)
        if value is not None:
            found[role] = value
            how[role] = "given"
            continue
        if role == "start" and explicit.end is None and found.get("end") is None:
            continue
        col = pick(role)
        found[role] = (col,) if (role == "activity" and col) else col
        if col:
            how[role] = "name"

    # A log whose only timestamp is named like a start time is still a one-timestamp log.
    if found.get("end") is None and found.get("start") is not None:
        found["end"], found["start"] = found["start"], None
        how["end"] = how.pop("start")
    if found.get("end") is None:
        col = pick("start")
        found["end"] = col
        if col:
            how["end"] = "name"

    profiles: dict[str, ColumnProfile] = {}
    if probe is not None and not all(found.get(r) for r in ("case", "activity", "end")):
        profiles = probe.profiles(available)
        _by_content(found, how, taken, available, profiles, probe, explicit)

    missing = [r for r in ("case", "activity", "end") if not found.get(r)]
    if missing:
        raise _missing_error(missing, available, found, profiles, source)
    roles = set(ColumnMap(**found).role_columns())  # type: ignore[arg-type]
    attributes = tuple(c for c in available if c not in roles)
    ordered = {r: how[r] for r in ROLES if r in how}
    return RoleDetection(ColumnMap(**found, attributes=attributes), ordered)  # type: ignore[arg-type]


def _by_content(
    found: dict[str, object],
    how: dict[str, str],
    taken: set[str],
    available: list[str],
    profiles: dict[str, ColumnProfile],
    probe: ContentProbe,
    explicit: ColumnMap,
) -> None:
    """Fill the open required roles from the columns' content (see :func:`detect_roles`)."""
    order = {c: i for i, c in enumerate(available)}
    free = [c for c in available if c not in taken and c in profiles]

    if not found.get("end"):
        times = [c for c in free if profiles[c].is_time]
        if times:
            # An event's time varies from row to row; a case-level date (XES trace attributes
            # such as a start or planned end date) repeats over a case's rows. Columns with at
            # least half the most distinct times are event times; names rank those.
            most = max(profiles[c].distinct for c in times)
            times = [c for c in times if profiles[c].distinct >= 0.5 * most]

            def end_rank(c: str) -> tuple[int, int, int]:
                w = _words(c)
                name = 2 if w & _END_WORDS else (0 if w & _START_WORDS else 1)
                return (-name, -profiles[c].distinct, order[c])

            times.sort(key=end_rank)
            end, start = times[0], None
            start_why = ""
            if found.get("start") is None and explicit.start is None and len(times) > 1:
                starts = [c for c in times[1:] if _words(c) & _START_WORDS]
                if starts:
                    start, start_why = starts[0], "reads as times, named like a start"
                elif end_rank(times[1])[0] == end_rank(end)[0]:
                    # Names do not tell: of two event times, the one never after the other
                    # (in 99 % of rows, and before it in some) is the start.
                    shares = probe.order_shares(times[1], end)
                    back = probe.order_shares(end, times[1])
                    if shares and shares[0] >= 0.99 and shares[1] > 0:
                        start = times[1]
                    elif back and back[0] >= 0.99 and back[1] > 0:
                        end, start = times[1], end
                    if start:
                        start_why = f"reads as times, never after '{end}' in 99 % of rows"
            found["end"] = end
            taken.add(end)
            how["end"] = (
                f"content: reads as times ({_share(profiles[end].times, profiles[end].values)} of values)"
            )
            if start:
                found["start"] = start
                taken.add(start)
                how["start"] = f"content: {start_why}"
            free = [c for c in free if c not in taken]
    time_col = found.get("end")
    time_col = time_col if isinstance(time_col, str) else None
    free = [c for c in free if not profiles[c].is_time]

    if not found.get("case"):
        cands: list[tuple[tuple[int, int, int, int], str, str]] = []
        repeat = [c for c in free if profiles[c].values >= 0.9 * profiles[c].rows]
        repeat = [c for c in repeat if 2 <= profiles[c].distinct <= profiles[c].values / 1.5]
        interleaved = [c for c in repeat if not profiles[c].in_runs]
        spans = probe.time_span_shares(interleaved, time_col) if time_col and interleaved else {}
        for c in repeat:
            p = profiles[c]
            if p.in_runs:
                strength = 2
                why = f"{p.distinct:,} values, each in one run of rows"
            else:
                share = spans.get(c)
                if share is None or share > CASE_SPAN_SHARE:
                    continue
                strength = 1
                why = f"{p.distinct:,} values, each spanning a median {100 * share:.0f} % of the time range"
            idlike = 1 if _words(c) & _ID_WORDS else 0
            cands.append(((-strength, -idlike, -p.distinct, order[c]), c, why))
        if cands:
            cands.sort()
            _, case, why = cands[0]
            found["case"] = case
            taken.add(case)
            how["case"] = f"content: {why}"
            free = [c for c in free if c != case]

    case_col = found.get("case")
    if not found.get("activity") and isinstance(case_col, str):
        acts: list[tuple[tuple[int, int, float, int], str, str]] = []
        labels = [
            c
            for c in free
            if profiles[c].values >= 0.9 * profiles[c].rows
            and not profiles[c].is_numeric
            and 2 <= profiles[c].distinct <= max(2, profiles[c].values // 2)
        ]
        changes = probe.change_shares(labels, case_col)
        for c in labels:
            p = profiles[c]
            change = changes.get(c)
            if not change:
                continue  # the same in every row of a case: a case attribute
            w = _words(c)
            named = 1 if w & _ACTIVITY_WORDS else 0
            person = 1 if w & _PERSON_WORDS else 0
            why = f"{p.distinct:,} labels, changing at {100 * change:.0f} % of a case's steps"
            acts.append(((-named, person, -change, order[c]), c, why))
        if acts:
            acts.sort()
            _, act, why = acts[0]
            found["activity"] = (act,)
            taken.add(act)
            how["activity"] = f"content: {why}"


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "0 %"


_ROLE_TEXT = {
    "case": ("a case id column", "--case", "case id"),
    "activity": ("an activity column", "--activity", "activity"),
    "end": ("a timestamp column", "--end", "timestamp"),
}


def _missing_error(
    missing: list[str],
    available: list[str],
    found: dict[str, object],
    profiles: dict[str, ColumnProfile],
    source: str,
) -> MissingColumnError:
    """One error naming every missing role, the columns with a hint of their content, and the
    options to pass."""
    labels = [_ROLE_TEXT[r][0] for r in missing]
    what = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]
    role_of: dict[str, str] = {}
    for role in ROLES:
        value = found.get(role)
        for c in value if isinstance(value, tuple) else (value,):
            if isinstance(c, str):
                role_of.setdefault(c, role)

    def describe(c: str) -> str:
        if c in role_of:
            return f"'{c}' ({role_of[c]})"
        if c in profiles:
            return f"'{c}' ({profiles[c].hint()})"
        return f"'{c}'"

    shown = [describe(c) for c in available[:30]]
    more = f", ... ({len(available) - 30} more)" if len(available) > 30 else ""
    flags = " ".join(f"{_ROLE_TEXT[r][1]} COLUMN" for r in missing)
    hint = f"name {'it' if len(missing) == 1 else 'them'} with {flags} or a mapping file (--mapping)"
    if len(available) == 1 and any(d in available[0] for d in ";\t|,"):
        hint = (
            "the file has a single column whose name contains a separator; "
            "the delimiter may be wrong, pass --delimiter"
        )
    return MissingColumnError(
        f"could not find {what} in {source}; available columns: {', '.join(shown) or '(none)'}{more}",
        hint=hint,
    )


def detect_columns(
    names: Sequence[str],
    explicit: ColumnMap | None = None,
    *,
    source: str = "the log",
    probe: ContentProbe | None = None,
) -> ColumnMap:
    """Map roles to columns by name (and by content with a ``probe``); roles set in
    ``explicit`` are taken as given. See :func:`detect_roles`.

    Raises :class:`MissingColumnError` when a required role (case, activity, a timestamp)
    cannot be found, or when an explicitly named column does not exist, listing the columns
    that do exist.
    """
    return detect_roles(names, explicit, source=source, probe=probe).columns


def _quote_list(names: Iterable[str], limit: int = 30) -> str:
    names = list(names)
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    if len(names) > limit:
        shown += f", ... ({len(names) - limit} more)"
    return shown or "(none)"
