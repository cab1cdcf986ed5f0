"""Column roles of an event log: which source column is the case, the activity, the times.

A :class:`ColumnMap` names, for one source, the column that plays each role. Roles left
``None`` are detected from the column names (XES keys, ``case_id``, ``Case ID``, ``timestamp``,
``org:resource``, common Chinese headers, ...) by :func:`detect_columns`; roles given explicitly
always win. Every column that plays no role is kept as a case or event attribute.

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


def detect_columns(
    names: Sequence[str], explicit: ColumnMap | None = None, *, source: str = "the log"
) -> ColumnMap:
    """Map roles to columns by name; roles set in ``explicit`` are taken as given.

    Raises :class:`MissingColumnError` when a required role (case, activity, a timestamp)
    cannot be found, or when an explicitly named column does not exist, listing the columns
    that do exist.
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
            continue
        if role == "start" and explicit.end is None and found.get("end") is None:
            continue
        col = pick(role)
        found[role] = (col,) if (role == "activity" and col) else col

    # A log whose only timestamp is named like a start time is still a one-timestamp log.
    if found.get("end") is None and found.get("start") is not None:
        found["end"], found["start"] = found["start"], None
    if found.get("end") is None:
        col = pick("start")
        found["end"] = col

    missing = [r for r in ("case", "activity", "end") if not found.get(r)]
    if missing:
        role = missing[0]
        label = {"case": "a case id", "activity": "an activity", "end": "a timestamp"}[role]
        flag = {"case": "--case", "activity": "--activity", "end": "--end"}[role]
        hint = f"name it with {flag} COLUMN or a mapping file (--mapping)"
        if len(available) == 1 and any(d in available[0] for d in ";\t|,"):
            hint = (
                "the file has a single column whose name contains a separator; "
                "the delimiter may be wrong, pass --delimiter"
            )
        raise MissingColumnError(
            f"could not find {label} column in {source}; available columns: {_quote_list(available)}",
            hint=hint,
        )
    roles = set(ColumnMap(**found).role_columns())  # type: ignore[arg-type]
    attributes = tuple(c for c in available if c not in roles)
    return ColumnMap(**found, attributes=attributes)  # type: ignore[arg-type]


def _quote_list(names: Iterable[str], limit: int = 30) -> str:
    names = list(names)
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    if len(names) > limit:
        shown += f", ... ({len(names) - limit} more)"
    return shown or "(none)"
