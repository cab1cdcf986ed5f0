"""What-if scenarios: changes to a simulation model, as data (methods §17.1).

A scenario is a name and a list of changes applied in order. The file format (TOML or JSON,
the same structure) is a public interface::

    name = "digital first"
    [[change]]
    action = "remove"                      # cases skip the step
    activity = "Re-verify customer identity"
    occurrence = 2                         # optional: only the 2nd time a case does it
    [[change]]
    action = "automate"                    # no staff; duration x duration_factor (default 0)
    activity = "Check application completeness"
    duration_factor = 0.05

Actions: ``remove``, ``automate``, ``merge``, ``cut_rework``, ``scale_delay``, ``unbatch``,
``add_resources``, ``set_hours``, ``scale_arrivals``, ``set_branch``, ``set_mix``. An unknown
action, field, activity or attribute is a one-line :class:`~flowlens.errors.ConfigError` that
names the closest valid names.

>>> from flowlens.simulation.model import SimulationModel, example_model
>>> base = SimulationModel.from_dict(example_model())
>>> s = Scenario.from_dict({"name": "no rework", "change": [{"action": "cut_rework", "activity": "Check", "factor": 0}]})
>>> s.apply(base).activities["Check"]["repeat_factor"]
0.0
>>> Scenario.from_dict({"change": [{"action": "remove", "activity": "Chek"}]}).apply(base)
Traceback (most recent call last):
...
flowlens.errors.ConfigError: scenario 'scenario', change 1 (remove): unknown activity 'Chek'; did you mean 'Check'?
"""

from __future__ import annotations

import copy
import json
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowlens.errors import ConfigError
from flowlens.simulation.model import END, SimulationModel
from flowlens.simulation.model import closest as _closest
from flowlens.timing.calendars import DAYS

#: Each action, its required and optional fields (besides ``action``).
ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "remove": (("activity",), ("occurrence", "where", "after")),
    "automate": (("activity",), ("duration_factor",)),
    "merge": (("activities",), ()),
    "cut_rework": (("activity", "factor"), ()),
    "scale_delay": (("activity", "factor"), ()),
    "unbatch": (("activity",), ()),
    "add_resources": (("activity", "count"), ()),
    "set_hours": (("activity", "hours"), ()),
    "scale_arrivals": (("factor",), ()),
    "set_branch": (("to", "probability"), ("where",)),
    "set_mix": (("attribute", "shares"), ()),
}


@dataclass
class Scenario:
    """A named list of changes (plain dicts, as in the file)."""

    name: str = "scenario"
    changes: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "scenario") -> Scenario:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a scenario is a table with name and [[change]] entries")
        unknown = [k for k in data if k not in ("name", "change", "changes")]
        if unknown:
            raise ConfigError(
                f"{source}: unknown field '{unknown[0]}'{_closest(unknown[0], ['name', 'change'])}"
            )
        changes = data.get("change", data.get("changes", []))
        if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
            raise ConfigError(f"{source}: 'change' must be a list of tables ([[change]] in TOML)")
        name = str(data.get("name", Path(source).stem if source != "scenario" else "scenario"))
        s = cls(name=name, changes=[dict(c) for c in changes])
        s.check_fields()
        return s

    @classmethod
    def from_file(cls, path: str | Path) -> Scenario:
        """Read a scenario from TOML (``.toml``) or JSON."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{p}: no such scenario file") from None
        except OSError as exc:
            raise ConfigError(f"cannot read scenario file {p}: {exc.strerror}") from None
        try:
            data = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            kind = "TOML" if p.suffix.lower() == ".toml" else "JSON"
            raise ConfigError(f"{p}: not valid {kind}: {exc}") from None
        if isinstance(data, dict) and "name" not in data:
            data = {**data, "name": p.stem}
        return cls.from_dict(data, source=p.name)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "change": copy.deepcopy(self.changes)}

    def _where(self, i: int, c: dict[str, Any]) -> str:
        return f"scenario '{self.name}', change {i + 1} ({c.get('action', '?')})"

    def check_fields(self) -> None:
        """Every change names a known action with its required fields and no unknown ones."""
        for i, c in enumerate(self.changes):
            action = c.get("action")
            if action not in ACTIONS:
                raise ConfigError(
                    f"scenario '{self.name}', change {i + 1}: unknown action '{action}'{_closest(str(action), ACTIONS)}"
                )
            need, opt = ACTIONS[action]
            missing = [f for f in need if f not in c]
            if missing:
                raise ConfigError(f"{self._where(i, c)}: the field '{missing[0]}' is missing")
            extra = [f for f in c if f not in (*need, *opt, "action")]
            if extra:
                raise ConfigError(
                    f"{self._where(i, c)}: unknown field '{extra[0]}'{_closest(extra[0], (*need, *opt))}"
                )

    def apply(self, model: SimulationModel) -> SimulationModel:
        """A new model with the changes applied in order (``model`` is not modified)."""
        m = SimulationModel.from_dict(model.to_dict(), source="model")
        for i, c in enumerate(self.changes):
            _APPLY[c["action"]](m, c, self._where(i, c))
        m.validate(f"model after scenario '{self.name}'")
        return m


# --------------------------------------------------------------------------- the actions
def _activity(m: SimulationModel, name: Any, where: str) -> str:
    if not isinstance(name, str) or name not in m.activities:
        raise ConfigError(f"{where}: unknown activity '{name}'{_closest(str(name), m.activities)}")
    return name


def _number(
    c: dict[str, Any], key: str, where: str, lo: float | None = 0.0, hi: float | None = None
) -> float:
    v = c[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{where}: {key} must be a number, got {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f"between {lo:g} and {hi:g}" if hi is not None else f"at least {lo:g}"
        raise ConfigError(f"{where}: {key} must be {rng}, got {v!r}")
    return float(v)


def _remove(m: SimulationModel, c: dict[str, Any], where: str) -> None:
    """One rule of the step's ``skip_rules``: its instances that match every field given
    (``occurrence``, ``after``, ``where``) are skipped. Several removes of one step are several
    rules, and an instance matching any of them is skipped (they add up, none overrides)."""
    a = _activity(m, c["activity"], where)
    spec = m.activities[a]
    rule: dict[str, Any] = {}
    if "occurrence" in c:
        occ = c["occurrence"]
        if isinstance(occ, bool) or not isinstance(occ, int) or occ < 1:
            raise ConfigError(f"{where}: occurrence must be a whole number ≥ 1, got {occ!r}")
        rule["occurrence"] = [occ]
    if "after" in c:
        rule["after"] = _activity(m, c["after"], where)
    if "where" in c:
        expr = c["where"]
        cols = (m.arrivals.get("attributes") or {}).get("columns", [])
        if not isinstance(expr, str) or not expr.strip():
            raise ConfigError(
                f'{where}: where must be an expression on case attributes, e.g. "amount < 8000"'
            )
        if not cols:
            raise ConfigError(f'{where}: where = "{expr}" needs case attributes, and the model has none')
        rule["where"] = expr
    rules = spec.setdefault("skip_rules", [])
    if rule not in rules:
        rules.append(rule)


def _automate(m: SimulationModel, c: dict[str, Any], where: str) -> None:
    a = _activity(m, c["activity"], where)
    spec = m.activities[a]
    f = _number(c, "duration_factor", where) if "duration_factor" in c else 0.0
    spec["duration_factor"] = float(spec.get("duration_factor", 1.0)) * f
    spec.pop("pools", None)
    spec.pop("pools_after", None)
    spec.pop("calendar", None)  # a system runs around the clock
    spec.pop("continues_after", None)  # nobody goes on with it


def _merge(m: SimulationModel, c: dict[str, Any], where: str) -> None:
    acts = c["activities"]
    if not isinstance(acts, list) or len(acts) != 2:
        raise ConfigError(
            f"{where}: activities must name two steps, the first and the one done right after it"
        )
    first, second = (_activity(m, x, where) for x in acts)
    if first == second:
        raise ConfigError(f"{where}: a step cannot be merged with itself")
    m.activities[second]["merged_after"] = first


def _cut_rework(m: SimulationModel, c: dict[str, Any], where: str) -> None:
    f = _number(c, "factor", where, 0.0, 1.0)
    names = c["activity"]
    if isinstance(names, list):
        # several ways into one piece of work (a repeat contact through the phone, the app or a
        # chat): a case's second start of any of them is a repeat, whichever way it came in first
        if not names:
            raise ConfigError(f"{where}: activity must name a step or a list of steps")
        acts = sorted({_activity(m, x, where) for x in names})
    else:
        acts = [_activity(m, names, where)]
    group = set(acts)
    for a in acts:
        spec = m.activities[a]
        spec["repeat_factor"] = float(spec.get("repeat_factor", 1.0)) * f
        group.update(spec.get("repeat_group", []))
    if len(group) > 1:
        # groups that share a step become one (a step counts its repeats in one way only)
        for a in sorted(group):
            group.update(m.activities[a].get("repeat_group", []))
        for a in sorted(group):
            m.activities[a]["repeat_group"] = sorted(group)


def _scale_delay(m: SimulationModel, c: dict[str, Any], where: str) -> None:
    a = _activity(m, c["activity"], where)
    spec = m.activities[a]
    spec["delay_factor"] = float(spec.get("delay_factor", 1.0)) * _number(c, "factor", where)


def _unbatch(m: SimulationModel, c: dict[str, Any], where: str) -> None:
    a = _activity(m, c["activity"], where)
    spec = m.activities[a]
    share = float(spec.get("batching_share", 0.0))
    if a not in m.batching and share <= 0:
        raise ConfigError(f"{where}: '{a}' is not batched in this model (no batch rule, no batching wait)")
    m.batching.pop(a, None)
    spec["delay_factor"] = float(spec.get("delay_factor", 1.0)) * (1.0 - share)
    spec["batching_share"] = 0.0
    # a step nobody performs has the hours in which it was seen, which for a batched step are
    # the batch's release times: done as cases arrive, it has none of its own; the hours its
    # waits end in are those release times too, so its waiting leaves them as well (run in
    # them, a wait would still end only at a release)
    if not spec.get("pools"):
        spec.pop("calendar", None)
        spec.pop("delay_calendar", None)


def _pool_of(m: SimulationModel, a: str, where: str) -> str:
    pools = m.activities[a].get("pools") or {}
    if not pools:
        raise ConfigError(f"{where}: nobody performs '{a}' in this model (no pool to change)")
    return max(sorted(pools), key=lambda p: pools[p])


def _add_resources(m: SimulationModel, c: dict[str, Any], where: str) -> None:
    a = _activity(m, c["activity"], where)
    n = c["count"]
    if isinstance(n, bool) or not isinstance(n, int) or n == 0:
        raise ConfigError(f"{where}: count must be a whole number other than 0, got {n!r}")
    p = _pool_of(m, a, where)
    pool = m.pools[p]
    members = list(pool["members"])
    if n < 0:
        if len(members) + n < 1:
            raise ConfigError(f"{where}: pool '{p}' has {len(members)} members; it cannot lose {-n}")
        members = members[: len(members) + n]
        if "shares" in pool:
            pool["shares"] = {k: v for k, v in pool["shares"].items() if k in members}
        if "member_calendars" in pool:
            pool["member_calendars"] = {k: v for k, v in pool["member_calendars"].items() if k in members}
    else:
        mean = (sum(pool.get("shares", {}).values()) / len(members)) if pool.get("shares") else 1.0
        own = pool.get("member_calendars", {})
        # in a pool of shifts (methods §16.2) a new person joins the shift most of its people work
        shift = Counter(own.get(x, pool.get("calendar", "24x7")) for x in members).most_common(1)[0][0]
        for j in range(n):
            extra = f"{p} +{j + 1}"
            members.append(extra)
            if "shares" in pool:
                pool["shares"][extra] = mean
            if own and shift != pool.get("calendar", "24x7"):
                own[extra] = shift
    pool["members"] = members


def _set_hours(m: SimulationModel, c: dict[str, Any], where: str) -> None:
    a = _activity(m, c["activity"], where)
    hours = c["hours"]
    if not isinstance(hours, dict) or not hours:
        raise ConfigError(f'{where}: hours must be a table of weekdays, e.g. {{ mon = ["08:00-19:00"] }}')
    bad = [d for d in hours if d not in DAYS]
    if bad:
        raise ConfigError(f"{where}: unknown weekday '{bad[0]}'{_closest(bad[0], DAYS)}")
    spec = {d: list(hours.get(d, [])) for d in DAYS}
    name = f"scenario hours {len(m.calendars) + 1}"
    m.calendars[name] = spec
    if m.activities[a].get("pools"):
        pool = m.pools[_pool_of(m, a, where)]
        pool["calendar"] = name
        pool.pop("member_calendars", None)  # the whole pool works these hours, shifts or not
    else:
        m.activities[a]["calendar"] = name


def _scale_arrivals(m: SimulationModel, c: dict[str, Any], where: str) -> None:
    f = _number(c, "factor", where)
    if f <= 0:
        raise ConfigError(f"{where}: factor must be above 0 (no case would arrive), got {f:g}")
    m.arrivals["intensity"] = [[v * f for v in row] for row in m.arrivals["intensity"]]


def _set_branch(m: SimulationModel, c: dict[str, Any], where: str) -> None:
    to = c["to"]
    if to != END and to not in m.activities:
        raise ConfigError(f"{where}: unknown activity '{to}'{_closest(str(to), m.activities)}")
    p = _number(c, "probability", where, 0.0, 1.0)
    cf = m.control_flow
    transitions = copy.deepcopy(cf["transitions"])
    touched = 0
    for tr in transitions:
        nxt = tr["next"]
        if to not in nxt or len(nxt) < 2:
            continue
        rest = {k: v for k, v in nxt.items() if k != to}
        total = sum(rest.values())
        if total <= 0:
            continue
        new = {k: (1 - p) * v / total for k, v in rest.items()}
        new[to] = p
        keys = sorted(new)
        vals = [new[k] for k in keys]
        vals[-1] = 1 - sum(vals[:-1])
        tr["next"] = dict(zip(keys, vals, strict=True))
        touched += 1
    if not touched:
        raise ConfigError(
            f"{where}: '{to}' is never one of several ways on in this model; there is no branch to set"
        )
    if "where" in c:
        expr = c["where"]
        if not isinstance(expr, str) or not expr.strip():
            raise ConfigError(
                f'{where}: where must be an expression on case attributes, e.g. "amount < 8000"'
            )
        cols = (m.arrivals.get("attributes") or {}).get("columns", [])
        if not cols:
            raise ConfigError(f'{where}: where = "{expr}" needs case attributes, and the model has none')
        cf.setdefault("variants", []).insert(0, {"where": expr, "transitions": transitions})
    else:
        cf["transitions"] = transitions
        for v in cf.get("variants", []):
            v["transitions"] = transitions


def _set_mix(m: SimulationModel, c: dict[str, Any], where: str) -> None:
    attrs = m.arrivals.get("attributes") or {}
    cols = attrs.get("columns", [])
    name = c["attribute"]
    if name not in cols:
        raise ConfigError(f"{where}: unknown case attribute '{name}'{_closest(str(name), cols)}")
    shares = c["shares"]
    if not isinstance(shares, dict) or not shares:
        raise ConfigError(f"{where}: shares must be a table of value = share, e.g. {{ app = 0.5 }}")
    j = cols.index(name)
    rows, weights = attrs["rows"], [float(w) for w in attrs["weights"]]
    values = {str(r[j]) for r in rows}
    for v, sh in shares.items():
        if v not in values:
            raise ConfigError(f"{where}: '{name}' never takes the value '{v}'{_closest(v, values)}")
        if isinstance(sh, bool) or not isinstance(sh, (int, float)) or not 0 <= sh <= 1:
            raise ConfigError(f"{where}: the share of '{v}' must be between 0 and 1, got {sh!r}")
    given = sum(float(x) for x in shares.values())
    if given > 1 + 1e-9:
        raise ConfigError(f"{where}: the shares sum to {given:g}, more than 1")
    total = sum(weights)
    by_value: dict[str, float] = {}
    for r, w in zip(rows, weights, strict=True):
        by_value[str(r[j])] = by_value.get(str(r[j]), 0.0) + w
    other = total - sum(by_value[v] for v in shares)
    new = []
    for r, w in zip(rows, weights, strict=True):
        v = str(r[j])
        if v in shares:
            new.append(w / by_value[v] * float(shares[v]) if by_value[v] > 0 else 0.0)
        else:
            new.append(w / other * (1 - given) if other > 0 else 0.0)
    if sum(new) <= 0:
        raise ConfigError(f"{where}: the shares leave no case to draw")
    attrs["weights"] = new


_APPLY: dict[str, Callable[[SimulationModel, dict[str, Any], str], None]] = {
    "remove": _remove,
    "automate": _automate,
    "merge": _merge,
    "cut_rework": _cut_rework,
    "scale_delay": _scale_delay,
    "unbatch": _unbatch,
    "add_resources": _add_resources,
    "set_hours": _set_hours,
    "scale_arrivals": _scale_arrivals,
    "set_branch": _set_branch,
    "set_mix": _set_mix,
}


def named_steps(changes: Sequence[Mapping[str, Any]]) -> list[str]:
    """The steps ``changes`` name, sorted: each ``activity`` (one step, or a group of steps for
    ``cut_rework``), each of ``activities`` (``merge``) and ``set_branch``'s ``to``.

    >>> named_steps([{"action": "cut_rework", "activity": ["B", "A"], "factor": 0.5},
    ...              {"action": "set_branch", "to": "C", "probability": 0.5}])
    ['A', 'B', 'C']
    """
    out: set[str] = set()
    for c in changes:
        for key in ("activity", "to", "activities"):
            v = c.get(key)
            if isinstance(v, str):
                out.add(v)
            elif isinstance(v, list):
                out.update(str(a) for a in v)
    return sorted(out)


__all__ = ["ACTIONS", "Scenario", "named_steps"]
