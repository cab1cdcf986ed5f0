"""The simulation model: plain, versioned data a consultant can read, edit and re-run.

:class:`SimulationModel` is what :func:`~flowlens.simulation.fit.fit_model` learns from a log
and what :func:`~flowlens.simulation.engine.simulate` runs. It is JSON (``save`` / ``load``;
the JSON Schema is ``model.schema.json`` beside this module, methods §16 defines every field):

* ``arrivals``: an intensity per weekday × hour (expected new cases per hour, local time) and
  the gaps between arrivals measured in expected arrivals (a renewal process on the
  intensity's clock: regular arrivals stay regular, bursty ones bursty); ``closed_dates`` get
  none; ``attributes`` are drawn jointly, as whole rows of the log's case attributes;
* ``control_flow``: a k-order model of the case history: after the last k activities, the
  probability of each next activity or of the end; ``concurrent`` activity pairs run in
  parallel (a step waits for the preceding steps it is not concurrent with, methods §6.1);
* ``activities``: per activity the processing time (working time of whoever does it), the
  waiting no staff cause before it (``delay``: the customer, a third party) and the pools that
  do it, with shares; an activity without pools needs nobody (no queue);
* ``pools``: named groups of resources (people, by their log names) with a calendar each and,
  optionally, ``member_calendars`` (a member's own shift: the hours in which they take work)
  and their ``other_work``: a stream of jobs outside the process they also serve;
* ``calendars``: working hours in the format of ``--calendar`` files;
* ``priority``: optionally, a case attribute whose values are served first;
* ``activities.A.priority``: optionally, a step priority (default 0): a pool serves the waiting
  steps of a higher priority first (a step fitted with -1 is served only when no other work
  waits), and the case attribute's classes within one step priority;
* ``batching``: optionally per activity, released by size, time-out or daily cut-off;
* ``activities.A.anchor``: optionally, A's waiting runs from an earlier step's end instead of
  the previous step's (a customer's answer, a time-out), per range of steps in between.

>>> m = SimulationModel.from_dict(example_model())
>>> m.activity_names()
['Check', 'Decide']
>>> SimulationModel.from_dict(m.to_dict()) == m
True
"""

from __future__ import annotations

import copy
import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowlens.errors import ConfigError
from flowlens.simulation.distributions import check_distribution

#: The model format's version; a file of another version is refused with a clear message.
FORMAT_VERSION = 1
START, END = "(start)", "(end)"
#: Each key of a model file and whether it must be there.
_TOP = {
    "format": True,
    "name": False,
    "timezone": True,
    "arrivals": True,
    "control_flow": True,
    "activities": True,
    "pools": True,
    "calendars": True,
    "priority": False,
    "batching": False,
    "fitted": False,
}
PROB_TOL = 1e-6


@dataclass
class SimulationModel:
    """A simulation model (see the module docstring); build with :meth:`from_dict`."""

    timezone: str
    arrivals: dict[str, Any]
    control_flow: dict[str, Any]
    activities: dict[str, dict[str, Any]]
    pools: dict[str, dict[str, Any]]
    calendars: dict[str, dict[str, Any]]
    name: str = "process"
    priority: dict[str, Any] | None = None
    batching: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: what the model was learned from and how (informative; not used to simulate)
    fitted: dict[str, Any] = field(default_factory=dict)

    # -- reading and writing -------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, *, source: str = "model") -> SimulationModel:
        """Validate ``data`` (a parsed model file) and build the model; a one-line
        :class:`~flowlens.errors.ConfigError` names the first field that is wrong."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a simulation model is a JSON object, got {type(data).__name__}")
        unknown = [k for k in data if k not in _TOP]
        if unknown:
            raise ConfigError(f"{source}: unknown field '{unknown[0]}'{closest(unknown[0], _TOP)}")
        missing = [k for k, need in _TOP.items() if need and k not in data]
        if missing:
            raise ConfigError(f"{source}: the field '{missing[0]}' is missing")
        if data["format"] != FORMAT_VERSION:
            raise ConfigError(
                f"{source}.format: this flowlens reads simulation models of format {FORMAT_VERSION}, "
                f"the file has {data['format']!r}",
                hint="fit the model again with this version (flowlens fit)",
            )
        d = copy.deepcopy(data)
        m = cls(
            timezone=d["timezone"],
            arrivals=d["arrivals"],
            control_flow=d["control_flow"],
            activities=d["activities"],
            pools=d["pools"],
            calendars=d["calendars"],
            name=d.get("name", "process"),
            priority=d.get("priority"),
            batching=d.get("batching") or {},
            fitted=d.get("fitted") or {},
        )
        m.validate(source)
        return m

    def to_dict(self) -> dict[str, Any]:
        """The model as plain data (what :meth:`save` writes)."""
        out: dict[str, Any] = {"format": FORMAT_VERSION, "name": self.name, "timezone": self.timezone}
        out.update(
            arrivals=self.arrivals,
            control_flow=self.control_flow,
            activities=self.activities,
            pools=self.pools,
            calendars=self.calendars,
        )
        if self.priority:
            out["priority"] = self.priority
        if self.batching:
            out["batching"] = self.batching
        if self.fitted:
            out["fitted"] = self.fitted
        return copy.deepcopy(out)

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON (whole or not at all)."""
        from flowlens.outputs import write_text

        target = Path(path)
        write_text(target, json.dumps(self.to_dict(), indent=1, ensure_ascii=False, sort_keys=False) + "\n")
        return target

    @classmethod
    def load(cls, path: str | Path) -> SimulationModel:
        """Read and validate a model file."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{p}: no such model file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{p}: not a JSON model file ({exc})", hint="write it with flowlens fit"
            ) from None
        return cls.from_dict(data, source=p.name)

    # -- queries ---------------------------------------------------------------------------
    def activity_names(self) -> list[str]:
        return sorted(self.activities)

    def check_activity(self, name: str, where: str = "activity") -> str:
        """``name`` when the model has it, else a one-line error naming the closest ones."""
        if name not in self.activities:
            raise ConfigError(f"{where}: unknown activity '{name}'{closest(name, self.activities)}")
        return name

    # -- validation ----------------------------------------------------------------------
    def validate(self, source: str = "model") -> None:
        """Check every field; raise a one-line :class:`ConfigError` naming the first bad one."""
        s = source
        _check_arrivals(self.arrivals, f"{s}.arrivals")
        acts = self.activities
        if not isinstance(acts, dict) or not acts:
            raise ConfigError(f"{s}.activities: expected at least one activity")
        cal_names = set(self.calendars) | {"24x7"}
        if not isinstance(self.calendars, dict):
            raise ConfigError(f'{s}.calendars: expected {{name: {{"mon": ["09:00-17:00"], ...}}}}')
        if self.calendars:
            from flowlens.timing.calendars import CalendarSet

            CalendarSet.from_dict(
                {"timezone": self.timezone, "teams": self.calendars}, source=f"{s}.calendars"
            )
        for name, pool in self.pools.items():
            where = f"{s}.pools.{name}"
            members = pool.get("members") if isinstance(pool, dict) else None
            if not isinstance(members, list) or not all(isinstance(x, str) for x in members):
                raise ConfigError(f"{where}.members: expected a list of resource names")
            if pool.get("assignment", "queue") not in ("queue", "person"):
                raise ConfigError(
                    f"{where}.assignment: expected 'queue' or 'person', got {pool.get('assignment')!r}"
                )
            shares = pool.get("shares", {})
            if not isinstance(shares, dict) or any(
                m not in members or not isinstance(v, (int, float)) or v < 0 for m, v in shares.items()
            ):
                raise ConfigError(f"{where}.shares: expected {{member: share ≥ 0}} for members of the pool")
            if pool.get("calendar", "24x7") not in cal_names:
                raise ConfigError(
                    f"{where}.calendar: unknown calendar '{pool.get('calendar')}'{closest(str(pool.get('calendar')), cal_names)}"
                )
            own = pool.get("member_calendars", {})
            if not isinstance(own, dict) or any(m not in members for m in own):
                raise ConfigError(
                    f"{where}.member_calendars: expected {{member: calendar}} for members of the pool"
                )
            for m, c in own.items():
                if c not in cal_names:
                    raise ConfigError(
                        f"{where}.member_calendars.{m}: unknown calendar '{c}'{closest(str(c), cal_names)}"
                    )
            if pool.get("other_work") is not None:
                _check_other_work(pool["other_work"], members, f"{where}.other_work")
        for name, a in acts.items():
            where = f"{s}.activities.{name}"
            if name in (START, END):
                raise ConfigError(f"{where}: '{name}' is reserved for the start and end of a case")
            if not isinstance(a, dict):
                raise ConfigError(f"{where}: expected an object with duration, delay and pools")
            check_distribution(a.get("duration"), f"{where}.duration")
            if "delay" in a:
                check_distribution(a["delay"], f"{where}.delay")
            for key in ("duration_factor", "delay_factor", "batching_share"):
                v = a.get(key, 1.0 if key != "batching_share" else 0.0)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                    raise ConfigError(f"{where}.{key}: expected a number ≥ 0, got {v!r}")
            pr = a.get("priority", 0)
            if isinstance(pr, bool) or not isinstance(pr, int):
                raise ConfigError(
                    f"{where}.priority: expected a whole number (higher is served first, default 0), got {pr!r}"
                )
            rf = a.get("repeat_factor", 1.0)
            if isinstance(rf, bool) or not isinstance(rf, (int, float)) or not 0 <= rf <= 1:
                raise ConfigError(
                    f"{where}.repeat_factor: expected a probability between 0 and 1, got {rf!r}"
                )
            group = a.get("repeat_group")
            if group is not None and (
                not isinstance(group, list) or name not in group or any(g not in acts for g in group)
            ):
                raise ConfigError(
                    f"{where}.repeat_group: expected a list of activities of the model that includes '{name}'"
                )
            skip = a.get("skip", False)
            if not (
                isinstance(skip, bool)
                or (isinstance(skip, list) and all(isinstance(x, int) and x >= 1 for x in skip))
            ):
                raise ConfigError(
                    f"{where}.skip: expected true or a list of occurrences (1, 2, ...), got {skip!r}"
                )
            if "skip_after" in a and a["skip_after"] not in acts:
                raise ConfigError(
                    f"{where}.skip_after: unknown activity '{a['skip_after']}'{closest(str(a['skip_after']), acts)}"
                )
            if "skip_where" in a and (not isinstance(a["skip_where"], str) or not a["skip_where"].strip()):
                raise ConfigError(f"{where}.skip_where: expected an expression on case attributes")
            rules = a.get("skip_rules", [])
            if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
                raise ConfigError(
                    f"{where}.skip_rules: expected a list of objects (occurrence, after, where)"
                )
            for r in rules:
                bad = [k for k in r if k not in ("occurrence", "after", "where")]
                occ = r.get("occurrence", [1])
                if bad or not (
                    isinstance(occ, list) and occ and all(isinstance(x, int) and x >= 1 for x in occ)
                ):
                    raise ConfigError(
                        f"{where}.skip_rules: expected occurrence (a list of 1, 2, ...), after and where, got {r!r}"
                    )
                if "after" in r and r["after"] not in acts:
                    raise ConfigError(
                        f"{where}.skip_rules.after: unknown activity '{r['after']}'{closest(str(r['after']), acts)}"
                    )
                if "where" in r and (not isinstance(r["where"], str) or not r["where"].strip()):
                    raise ConfigError(f"{where}.skip_rules.where: expected an expression on case attributes")
            kept_on = a.get("continues_after", [])
            if not isinstance(kept_on, list):
                raise ConfigError(f"{where}.continues_after: expected a list of activities, got {kept_on!r}")
            for x in kept_on:
                if x not in acts:
                    raise ConfigError(
                        f"{where}.continues_after: unknown activity '{x}'{closest(str(x), acts)}"
                    )
            if "merged_after" in a and a["merged_after"] not in acts:
                raise ConfigError(
                    f"{where}.merged_after: unknown activity '{a['merged_after']}'{closest(str(a['merged_after']), acts)}"
                )
            contexts = a.get("delay_context", [])
            if not isinstance(contexts, list):
                raise ConfigError(
                    f"{where}.delay_context: expected a list of {{after, before, occurrence, delay}}"
                )
            for j, ctx in enumerate(contexts):
                w = f"{where}.delay_context[{j}]"
                if (
                    not isinstance(ctx, dict)
                    or "delay" not in ctx
                    or not set(ctx)
                    <= {
                        "after",
                        "before",
                        "occurrence",
                        "delay",
                    }
                ):
                    raise ConfigError(f'{w}: expected {{"after"?, "before"?, "occurrence"?, "delay"}}')
                if "after" in ctx and ctx["after"] != START and ctx["after"] not in acts:
                    raise ConfigError(
                        f"{w}.after: unknown activity '{ctx['after']}'{closest(ctx['after'], acts)}"
                    )
                if "before" in ctx and ctx["before"] != END and ctx["before"] not in acts:
                    raise ConfigError(
                        f"{w}.before: unknown activity '{ctx['before']}'{closest(ctx['before'], acts)}"
                    )
                if "occurrence" in ctx and str(ctx["occurrence"]) not in ("1", "2", "3+"):
                    raise ConfigError(f'{w}.occurrence: expected 1, 2 or "3+", got {ctx["occurrence"]!r}')
                check_distribution(ctx["delay"], f"{w}.delay")
            if "anchor" in a:
                _check_anchor(a["anchor"], acts, f"{where}.anchor")
            if "abandonment" in a:
                _check_abandonment(name, acts, f"{where}.abandonment")
            for key in ("calendar", "delay_calendar"):
                if a.get(key, "24x7") not in cal_names:
                    raise ConfigError(
                        f"{where}.{key}: unknown calendar '{a.get(key)}'{closest(str(a.get(key)), cal_names)}"
                    )
            pools = a.get("pools", {})
            if pools and "delay_calendar" in a:
                # a step people do waits on its pool's hours; the engine would ignore these
                raise ConfigError(
                    f"{where}.delay_calendar: '{name}' is done by a pool, whose hours its waiting runs in",
                    hint="remove delay_calendar (it is for a step that needs nobody)",
                )
            _check_shares(pools, self.pools, f"{where}.pools")
            for p in pools:
                if not self.pools[p]["members"]:
                    raise ConfigError(
                        f"{where}.pools.{p}: the pool has no members but the step needs it",
                        hint="give the pool at least one member or remove it from the step",
                    )
            after_shares = a.get("pools_after") or {}
            if not isinstance(after_shares, dict):
                raise ConfigError(
                    f"{where}.pools_after: expected {{previous step: {{pool: share}}}}, got {type(after_shares).__name__}"
                )
            for after, sub in after_shares.items():
                w = f"{where}.pools_after.{after}"
                if after != START and after not in acts:
                    raise ConfigError(f"{w}: unknown activity '{after}'{closest(after, acts)}")
                if not sub:
                    raise ConfigError(f"{w}: expected {{pool: share}} over the step's pools {sorted(pools)}")
                _check_shares(sub, pools, w)
        _check_control_flow(self.control_flow, acts, f"{s}.control_flow")
        if self.priority:
            if "attribute" not in self.priority or not isinstance(self.priority.get("order"), dict):
                raise ConfigError(f'{s}.priority: expected {{"attribute": ..., "order": {{value: rank}}}}')
            cols = self.arrivals.get("attributes", {}).get("columns", [])
            if self.priority["attribute"] not in cols:
                raise ConfigError(
                    f"{s}.priority.attribute: unknown case attribute '{self.priority['attribute']}'"
                    f"{closest(self.priority['attribute'], cols)}"
                )
        for name, b in self.batching.items():
            where = f"{s}.batching.{name}"
            if name not in acts:
                raise ConfigError(f"{where}: unknown activity '{name}'{closest(name, acts)}")
            size = b.get("size", 0)
            if not isinstance(size, int) or size < 0:
                raise ConfigError(f"{where}.size: expected a whole number ≥ 0, got {size!r}")
            t = b.get("timeout_s")
            if t is not None and (not isinstance(t, (int, float)) or t < 0):
                raise ConfigError(f"{where}.timeout_s: expected seconds ≥ 0, got {t!r}")
            cut = b.get("cutoff")
            cuts = [cut] if isinstance(cut, str) else cut
            if cut is not None and (
                not isinstance(cuts, list) or not cuts or not all(_is_hhmm(c) for c in cuts)
            ):
                raise ConfigError(f'{where}.cutoff: expected "HH:MM" or a list of them, got {cut!r}')
            days = b.get("days")
            if days is not None:
                from flowlens.timing.calendars import DAYS

                bad = [d for d in days if d not in DAYS] if isinstance(days, list) and days else [str(days)]
                if bad:
                    raise ConfigError(f"{where}.days: unknown weekday '{bad[0]}'{closest(bad[0], DAYS)}")


def _is_hhmm(v: Any) -> bool:
    """Whether ``v`` is a time of day "HH:MM" (00:00 to 23:59)."""
    if not isinstance(v, str) or len(v) != 5 or v[2] != ":" or not (v[:2] + v[3:]).isdigit():
        return False
    return int(v[:2]) < 24 and int(v[3:]) < 60


def _check_shares(shares: Any, pools: Any, where: str) -> None:
    """A step's ``{pool: share}`` (its ``pools``, or one of its ``pools_after``): pools among
    ``pools``, each share a number ≥ 0 (not a bool), summing to 1 when any are given.

    >>> _check_shares({"agents": 0.5, "clerks": 0.5}, {"agents": {}, "clerks": {}}, "a.pools")
    >>> _check_shares({"agents": True}, {"agents": {}}, "a.pools")
    Traceback (most recent call last):
    flowlens.errors.ConfigError: a.pools.agents: a share must be a number ≥ 0, got True
    """
    if not isinstance(shares, dict):
        raise ConfigError(f"{where}: expected {{pool name: share}}")
    for p, share in shares.items():
        if p not in pools:
            raise ConfigError(f"{where}: pool '{p}' is not one of the pools it may name{closest(p, pools)}")
        # (NaN is no number here: it passes every comparison)
        if (
            isinstance(share, bool)
            or not isinstance(share, (int, float))
            or not share >= 0
            or math.isinf(share)
        ):
            raise ConfigError(f"{where}.{p}: a share must be a number ≥ 0, got {share!r}")
    if shares and abs(sum(shares.values()) - 1) > PROB_TOL:
        raise ConfigError(f"{where}: the shares sum to {sum(shares.values()):.6g}, not 1")


def closest(name: str, options: Any) -> str:
    """ "; did you mean 'x'?" for the valid names nearest ``name`` (or the first known ones), to
    end a one-line error.

    >>> closest("Chek", ["Check", "Decide"])
    "; did you mean 'Check'?"
    """
    near = difflib.get_close_matches(str(name), [str(o) for o in options], n=3, cutoff=0.5)
    if near:
        return "; did you mean " + " or ".join(f"'{x}'" for x in near) + "?"
    opts = sorted(str(o) for o in options)
    return f"; known: {', '.join(opts[:8])}{', ...' if len(opts) > 8 else ''}" if opts else ""


def _check_abandonment(point: str, acts: dict[str, Any], where: str) -> None:
    """Activity ``point``'s abandonment spec (methods §16.4, §16.9): the steps it serves and
    leaves to, the patience, the share that never leaves and whether the point records the wait
    (``waits_in_point``). Nobody performs the point. Its served steps are fitted with pools, but
    a scenario may automate one (methods §16.4): the case then waits for its delay alone."""
    spec = acts[point]["abandonment"]
    if not isinstance(spec, dict) or not {"served", "leave", "patience"} <= set(spec):
        raise ConfigError(
            f'{where}: expected {{"served", "leave", "patience", "patient_share"?, "waits_in_point"?}}'
        )
    if acts[point].get("pools"):
        raise ConfigError(f"{where}: a step people perform (it has pools) cannot be an abandonment point")
    if not isinstance(spec.get("waits_in_point", False), bool):
        raise ConfigError(f"{where}.waits_in_point: expected true or false, got {spec['waits_in_point']!r}")
    for key in ("served", "leave"):
        names = spec[key]
        if not isinstance(names, list) or not names:
            raise ConfigError(f"{where}.{key}: expected a list of activities")
        for x in names:
            if x not in acts and not (key == "leave" and x == END):
                raise ConfigError(f"{where}.{key}: unknown activity '{x}'{closest(str(x), acts)}")
    check_distribution(spec["patience"], f"{where}.patience")
    share = spec.get("patient_share", 0.0)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise ConfigError(f"{where}.patient_share: expected a probability between 0 and 1, got {share!r}")


def _check_anchor(anc: Any, acts: dict[str, Any], where: str) -> None:
    """An anchored wait: ``activity`` (an earlier step), ``between`` ranges (``from`` 0 up,
    increasing) each with a ``delay``, and optionally the overall ``delay``."""
    if not isinstance(anc, dict) or "activity" not in anc or not isinstance(anc.get("between"), list):
        raise ConfigError(f'{where}: expected {{"activity", "between": [{{"from": 0, "delay"}}, ...]}}')
    if anc["activity"] not in acts:
        raise ConfigError(
            f"{where}.activity: unknown activity '{anc['activity']}'{closest(str(anc['activity']), acts)}"
        )
    if "delay" in anc:
        check_distribution(anc["delay"], f"{where}.delay")
    last = -1
    for j, r in enumerate(anc["between"]):
        w = f"{where}.between[{j}]"
        f = r.get("from") if isinstance(r, dict) else None
        if isinstance(f, bool) or not isinstance(f, int) or f <= last or (j == 0 and f != 0):
            raise ConfigError(f"{w}.from: expected whole numbers of steps from 0 up, increasing, got {f!r}")
        last = f
        check_distribution(r.get("delay"), f"{w}.delay")
    if not anc["between"]:
        raise ConfigError(f"{where}.between: expected at least one range (from 0)")


def _check_other_work(ow: Any, members: list[str], where: str) -> None:
    """A pool's other work: an ``intensity`` and ``gaps`` as the arrivals have, a ``duration``
    and optionally each member's ``shares`` of it."""
    if not isinstance(ow, dict) or "duration" not in ow:
        raise ConfigError(f"{where}: expected an object with intensity, gaps and duration")
    _check_arrivals({k: v for k, v in ow.items() if k in ("intensity", "gaps")}, where)
    check_distribution(ow["duration"], f"{where}.duration")
    shares = ow.get("shares", {})
    if not isinstance(shares, dict) or any(
        isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 for v in shares.values()
    ):
        raise ConfigError(f"{where}.shares: expected {{member: share ≥ 0}}")


def _check_arrivals(a: Any, where: str) -> None:
    if not isinstance(a, dict):
        raise ConfigError(f"{where}: expected an object with intensity and gaps")
    inten = a.get("intensity")
    if (
        not isinstance(inten, list)
        or len(inten) != 7
        or any(not isinstance(row, list) or len(row) != 24 for row in inten)
    ):
        raise ConfigError(f"{where}.intensity: expected 7 rows (Monday first) of 24 hourly rates")
    for d, row in enumerate(inten):
        for h, v in enumerate(row):
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(
                    f"{where}.intensity[{d}][{h}]: an arrival rate must be a number ≥ 0, got {v!r}"
                )
    if not any(v > 0 for row in inten for v in row):
        raise ConfigError(f"{where}.intensity: every rate is 0, so no case would ever arrive")
    check_distribution(a.get("gaps"), f"{where}.gaps")
    attrs = a.get("attributes")
    if attrs is not None:
        cols, rows, w = attrs.get("columns"), attrs.get("rows"), attrs.get("weights")
        if (
            not isinstance(cols, list)
            or not isinstance(rows, list)
            or not isinstance(w, list)
            or len(rows) != len(w)
        ):
            raise ConfigError(f"{where}.attributes: expected columns, rows and one weight per row")
        if any(not isinstance(r, list) or len(r) != len(cols) for r in rows):
            raise ConfigError(f"{where}.attributes.rows: every row needs one value per column ({len(cols)})")
        if any(not isinstance(x, (int, float)) or x < 0 for x in w) or (rows and sum(w) <= 0):
            raise ConfigError(f"{where}.attributes.weights: expected numbers ≥ 0, not all 0")


def _check_control_flow(cf: Any, acts: dict[str, Any], where: str) -> None:
    if not isinstance(cf, dict) or not isinstance(cf.get("transitions"), list):
        raise ConfigError(f"{where}: expected an object with order and transitions")
    k = cf.get("order")
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"{where}.order: expected a whole number ≥ 1, got {k!r}")
    known = set(acts)
    for i, tr in enumerate(cf["transitions"]):
        w = f"{where}.transitions[{i}]"
        after, nxt = tr.get("after"), tr.get("next")
        rep = tr.get("repeat", 0)
        if not isinstance(rep, int) or not 0 <= rep <= 3:
            raise ConfigError(
                f"{w}.repeat: expected 0-3 (how often the last activity has been done), got {rep!r}"
            )
        if not isinstance(after, list) or len(after) != k:
            raise ConfigError(f"{w}.after: expected the last {k} activities, got {after!r}"[:300])
        for a in after:
            if a != START and a not in known:
                raise ConfigError(f"{w}.after: unknown activity '{a}'{closest(a, known)}")
        if not isinstance(nxt, dict) or not nxt:
            raise ConfigError(f"{w}.next: expected {{activity: probability}}")
        for a, p in nxt.items():
            if a != END and a not in known:
                raise ConfigError(f"{w}.next: unknown activity '{a}'{closest(a, known)}")
            if not isinstance(p, (int, float)) or not 0 <= p <= 1:
                raise ConfigError(f"{w}.next.{a}: a probability must be between 0 and 1, got {p!r}")
        total = sum(nxt.values())
        if abs(total - 1) > PROB_TOL:
            raise ConfigError(
                f"{w}.next: the probabilities after {after} sum to {total:.6g}, not 1"[:300],
                hint="make them sum to 1",
            )
    for pair in cf.get("concurrent", []):
        if not isinstance(pair, list) or len(pair) != 2 or any(a not in known for a in pair):
            raise ConfigError(f"{where}.concurrent: {pair!r} is not a pair of known activities"[:300])
    if not any(all(a == START for a in tr["after"]) for tr in cf["transitions"]):
        raise ConfigError(f"{where}.transitions: nothing says how a case starts (after {[START] * k})")


def example_model() -> dict[str, Any]:
    """A small valid model file (two steps, one clerk pool), for docs and tests."""
    flat = [[1.0] * 24 for _ in range(7)]
    return {
        "format": FORMAT_VERSION,
        "name": "example",
        "timezone": "UTC",
        "arrivals": {"intensity": flat, "gaps": {"dist": "exponential", "mean": 1.0}, "closed_dates": []},
        "control_flow": {
            "order": 1,
            "transitions": [
                {"after": [START], "next": {"Check": 1.0}},
                {"after": ["Check"], "next": {"Decide": 0.9, "Check": 0.1}},
                {"after": ["Decide"], "next": {END: 1.0}},
            ],
            "concurrent": [],
        },
        "activities": {
            "Check": {"duration": {"dist": "exponential", "mean": 600}, "pools": {"clerks": 1.0}},
            "Decide": {"duration": {"dist": "fixed", "value": 300}, "delay": {"dist": "fixed", "value": 60}},
        },
        "pools": {"clerks": {"members": ["ann", "bob"], "calendar": "24x7"}},
        "calendars": {},
    }


__all__ = ["END", "FORMAT_VERSION", "START", "SimulationModel", "closest", "example_model"]
