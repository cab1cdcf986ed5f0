"""What a changed process would save: paired replications of a baseline and its scenarios,
with 95 % confidence intervals that carry the model's own uncertainty (methods §17).

Replication r simulates the baseline and every scenario with the same seed (common random
numbers: a scenario changes a case only through what it changes, :mod:`.streams`) on the fitted
model and, when the observations of a log are given, once more on a model rebuilt from a
bootstrap resample of its weeks (:func:`~flowlens.simulation.fit.resample`). The saving of a
replication is the baseline's mean lead time minus the scenario's. The estimate is the fitted
model's mean saving; the refits give only the spread, which holds both the simulation's noise and
the estimation error of the model: the interval is where the saving of one period falls,
d̄ ± t·√(s*² + s²/R) (:func:`_interval`: the estimation error does not shrink with R; the mean
over refits is not the centre, as near saturation it sits above the fitted model's saving). A
saving is *significant* when that interval excludes zero and the saving is at least 1 % of the
baseline's mean lead time. Replications are added until every mean saving is pinned to within
``precision`` of the baseline's mean lead time (t·s/√R on the fitted model), or
``max_replications`` or ``max_time_s`` is reached.

>>> from flowlens.simulation.model import SimulationModel, example_model
>>> from flowlens.simulation.scenarios import Scenario, named_steps
>>> base = SimulationModel.from_dict(example_model())
>>> nothing = Scenario.from_dict({"name": "nothing", "change": []})
>>> r = whatif(base, [nothing], cases=200, start="2024-03-04", replications=5)
>>> r.scenarios[0]["saving_mean_h"], r.scenarios[0]["saving_ci95_h"], r.scenarios[0]["significant"]
(0.0, [0.0, 0.0], False)
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.errors import ConfigError
from flowlens.i18n import M_
from flowlens.simulation.engine import simulate
from flowlens.simulation.model import SimulationModel
from flowlens.simulation.processes import run_in_processes
from flowlens.simulation.scenarios import Scenario, named_steps

if TYPE_CHECKING:
    from flowlens.simulation.fit import Observations

#: Replications before the precision is first checked, and added per round.
MIN_REPLICATIONS, STEP = 10, 10
#: What a replication's bootstrap refit resamples (:func:`~flowlens.simulation.fit.resample`):
#: whole weeks, so that the volume a pool faces, and with it how near saturation it runs,
#: varies from refit to refit as the log's weeks do (methods §17.3).
RESAMPLE_BY = "week"
#: A saving under this share of the baseline's mean lead time is not significant even when its
#: interval excludes zero: common random numbers resolve effects far smaller than the error of
#: any model of a real process (methods §17.2).
MATERIAL = 0.01


@dataclass
class WhatIfResult:
    """Baseline and scenario outcomes with paired savings (hours)."""

    seed: int
    replications: int
    cases: int
    model_uncertainty: bool
    baseline: dict[str, Any]
    scenarios: list[dict[str, Any]]
    #: per replication: baseline and scenario mean lead times (for checks and plots)
    runs: list[dict[str, Any]] = field(default_factory=list, repr=False)
    stopped_by: str = ""
    fidelity: dict[str, Any] | None = None
    #: the case attributes the savings are broken down by (None: not broken down)
    segment: str | None = None
    channel: str | None = None
    #: per scenario, the steps whose outcome it changes (:func:`concerned_steps`)
    concerns: list[list[str]] = field(default_factory=list, repr=False)
    #: per scenario, the queues that do not settle in the log (``fitted.unsettled_queues``,
    #: §16.2) it moves, each with its reason (:func:`unsettled_concerns`)
    queues: list[list[dict[str, Any]]] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "seed": self.seed,
            "replications": self.replications,
            "cases_per_replication": self.cases,
            "model_uncertainty": self.model_uncertainty,
            "stopped_by": self.stopped_by,
            "segment_column": self.segment,
            "channel_column": self.channel,
            "baseline": self.baseline,
            "scenarios": self.scenarios,
        }
        # a saving that moves a queue the log shows growing without settling depends on when
        # that backlog clears, which the model cannot tell (methods §16.2, §17.3)
        if any(self.queues):
            out["scenarios"] = [
                {**sc, "queue_concerns": q, **({"trusted": False} if q else {})}
                for sc, q in zip(self.scenarios, self.queues, strict=True)
            ]
        if self.fidelity is not None:
            out["fidelity"] = self.fidelity
            off = {r["activity"] for r in self.fidelity.get("steps_off") or []}
            if self.concerns and "steps_off" in self.fidelity:
                # a saving that rests on steps the model gets wrong on held-out cases is not
                # trusted, whatever its interval says; nor is any when the model as a whole
                # fails the check (methods §17.3)
                whole = bool(self.fidelity.get("trusted"))
                out["scenarios"] = [
                    {
                        **sc,
                        "fidelity_concerns": sorted(off & set(c)),
                        "trusted": whole and not (off & set(c)) and not sc.get("queue_concerns"),
                    }
                    for sc, c in zip(out["scenarios"], self.concerns, strict=True)
                ]
        return out


def unsettled_concerns(unsettled: Sequence[dict[str, Any]], moved: Sequence[str]) -> list[dict[str, Any]]:
    """The queues of ``unsettled`` (``fitted.unsettled_queues``, methods §16.2) a scenario that
    changes the steps ``moved`` (:func:`moved_steps`) moves, each with the reason in one
    sentence: those with one of the steps among their ``affected``.

    >>> u = [{"activity": "Call", "pools": ["P01"], "enabled_mid": 296, "started_mid": 0,
    ...       "mean_wait_h": 733.1, "wait_per_case_h": 455.2, "affected": ["Call", "Check"]}]
    >>> unsettled_concerns(u, ["Check"])[0]["reason"].split(":")[0]
    "'Call' is started 0 times in the middle half of the log against 296 times it is enabled (mean wait 733 h)"
    >>> unsettled_concerns(u, ["Other"])
    []
    """
    out = []
    for u in unsettled:
        if set(u.get("affected") or []) & set(moved):
            out.append(
                {
                    "activity": u["activity"],
                    "pools": list(u.get("pools") or []),
                    "reason": (
                        f"'{u['activity']}' is started {u['started_mid']} times in the middle half "
                        f"of the log against {u['enabled_mid']} times it is enabled (mean wait "
                        f"{u['mean_wait_h']:.0f} h): its queue grows until its pool's other work thins "
                        "out, so its waiting"
                        + (
                            f" ({u['wait_per_case_h']:.0f} h of the mean lead time)"
                            if u.get("wait_per_case_h") is not None
                            else ""
                        )
                        + ", and what this change does to it, depends on when that backlog clears, "
                        "which the model cannot tell from the log"
                    ),
                }
            )
    return out


#: Segment columns tried, in this order, when none is named: the report's segment candidates
#: (``report.build.SEGMENT_CANDIDATES``) without the channel ones, which have their own role.
SEGMENT_CANDIDATES = ("segment", "product", "priority", "process", "type")
#: A column with more values than this is not broken down (a saving per value would be noise).
MAX_GROUPS = 12


@dataclass(frozen=True)
class Breakdown:
    """What is measured per simulated log besides the lead time: the case attributes the
    savings are broken down by (``segment``, ``channel``: model attribute columns, or None)
    and the deadline rules whose compliance is measured (:class:`~flowlens.analysis.sla.SlaRule`)."""

    segment: str | None = None
    channel: str | None = None
    sla: tuple[Any, ...] = ()

    @property
    def columns(self) -> list[tuple[str, str]]:
        """(role, column) of each breakdown, segment first."""
        return [(r, c) for r, c in (("segment", self.segment), ("channel", self.channel)) if c]


def breakdown_columns(
    model: SimulationModel, segment: str | None = "auto", channel: str | None = "auto"
) -> tuple[str | None, str | None]:
    """The model's case attributes that name a segment and a channel.

    ``"auto"`` takes the first of :data:`SEGMENT_CANDIDATES` (segment) or of the channel
    names the findings use (:data:`flowlens.attributes.CANDIDATES` ``["channel"]``), compared
    loosely, among the attributes the model draws with at most :data:`MAX_GROUPS` values;
    ``None`` turns the breakdown off; a name must be one of the model's case attributes.

    >>> from flowlens.simulation.model import SimulationModel, example_model
    >>> m = SimulationModel.from_dict(example_model())
    >>> breakdown_columns(m), m.arrivals["attributes"]["columns"] if "attributes" in m.arrivals else None
    ((None, None), None)
    """
    from flowlens.attributes import CANDIDATES, norm_name
    from flowlens.simulation.model import closest

    spec = model.arrivals.get("attributes") or {}
    cols = [str(c) for c in spec.get("columns", [])]
    rows = spec.get("rows", [])

    def levels(c: str) -> int:
        i = cols.index(c)
        return len({repr(r[i]) for r in rows})

    def pick(given: str | None, names: Sequence[str], role: str) -> str | None:
        if given is None:
            return None
        if given != "auto":
            if given not in cols:
                near = closest(given, cols) if cols else ""
                raise ConfigError(
                    f"whatif: no case attribute '{given}' for the {role} in the model{near} "
                    f"(it draws {', '.join(cols) or 'none'}; an attribute that varies within cases is "
                    "not one: join a case table with --case-table)"
                )
            if levels(given) > MAX_GROUPS:
                raise ConfigError(
                    f"whatif: the {role} column '{given}' has {levels(given)} values; a saving per value "
                    f"needs at most {MAX_GROUPS} (name a column of categories)"
                )
            return given
        by_norm = {norm_name(c): c for c in cols}
        for cand in names:
            hit = by_norm.get(norm_name(cand))
            if hit is not None and levels(hit) <= MAX_GROUPS:
                return hit
        return None

    seg = pick(segment, SEGMENT_CANDIDATES, "segment")
    chan = pick(channel, CANDIDATES["channel"], "channel")
    if chan is not None and chan == seg:
        chan = None
    return seg, chan


def uses_attribute(model: SimulationModel, column: str) -> bool:
    """Whether ``model`` makes cases behave differently by the case attribute ``column``: it
    serves them by it (priority), routes by it (a control-flow variant's ``where``) or skips a
    step by it (``skip_where``). A fitted model draws case attributes apart from each case's
    path and times, so only these (and a scenario's ``where``) tie a group's lead time to it.

    >>> from flowlens.simulation.model import SimulationModel, example_model
    >>> uses_attribute(SimulationModel.from_dict(example_model()), "channel")
    False
    """
    word = re.compile(rf"(?<![\w.]){re.escape(column)}(?!\w)")
    if (model.priority or {}).get("attribute") == column:
        return True
    wheres = [str(v.get("where", "")) for v in model.control_flow.get("variants", []) or []]
    wheres += [str(a.get("skip_where", "")) for a in model.activities.values()]
    return any(word.search(w) for w in wheres if w)


def outcomes(
    frame: pd.DataFrame,
    model: SimulationModel | None = None,
    breakdown: Breakdown | None = None,
) -> dict[str, Any]:
    """The measures of one simulated log: lead time per case (first start to last end) mean,
    median and 90th percentile in hours, the customer waiting per case (the time before a
    step's start when nothing of its case was in progress, methods §6.3) mean in hours, and
    staff hours (processing time of steps that had a performer: ``work_s`` when the frame has
    it, else the steps' spans). With the ``model`` the log was simulated from: the utilisation
    of each pool (:func:`pool_utilisation`); with a ``breakdown``: the sum and count of lead
    times per value of its columns (deadline compliance: :func:`sla_met_shares`).

    >>> f = pd.DataFrame({"case_id": ["1", "1"], "activity": ["a", "b"], "resource": ["x", None],
    ...     "start_time": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 10:00"], utc=True),
    ...     "end_time": pd.to_datetime(["2024-01-01 09:30", "2024-01-01 11:00"], utc=True)})
    >>> o = outcomes(f)
    >>> o["lead_time_mean_h"], o["waiting_mean_h"], o["staff_hours"]
    (2.0, 0.5, 0.5)
    """
    case = pd.factorize(frame["case_id"], sort=False)[0]
    start = frame["start_time"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    end = frame["end_time"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    n_cases = int(case.max()) + 1 if len(case) else 0
    first = np.full(n_cases, np.iinfo(np.int64).max)
    last = np.full(n_cases, np.iinfo(np.int64).min)
    np.minimum.at(first, case, start)
    np.maximum.at(last, case, end)
    lead = (last - first) / 3.6e9
    staffed = frame.resource.notna().to_numpy()
    # processing time in working time when the frame has it (a calendar's pauses are no one's work)
    work = frame["work_s"].to_numpy(dtype=float) if "work_s" in frame else (end - start).astype(float) / 1e6
    staff_h = float(work[staffed].sum() / 3600)
    out: dict[str, Any] = {
        "lead_time_mean_h": float(lead.mean()) if len(lead) else 0.0,
        "lead_time_median_h": float(np.median(lead)) if len(lead) else 0.0,
        "lead_time_p90_h": float(np.quantile(lead, 0.9)) if len(lead) else 0.0,
        "waiting_mean_h": float(_waiting(case, start, end, n_cases).mean()) / 3.6e9 if n_cases else 0.0,
        "staff_hours": staff_h,
    }
    if model is not None:
        out["utilisation"] = pool_utilisation(model, frame, work)
    if breakdown is not None:
        groups: dict[str, dict[str, list[float]]] = {}
        for _, col in breakdown.columns:
            values = frame[col].astype(object).where(frame[col].notna(), "(none)").astype(str).to_numpy()
            per_case = np.empty(n_cases, dtype=object)
            per_case[case] = values  # case attributes are constant within a case
            g = (
                pd.DataFrame({"v": per_case, "lead": lead})
                .groupby("v", sort=True)["lead"]
                .agg(["sum", "count"])
            )
            groups[col] = {str(v): [float(r["sum"]), int(r["count"])] for v, r in g.iterrows()}
        out["groups"] = groups
    return out


def _waiting(case: np.ndarray, start: np.ndarray, end: np.ndarray, n_cases: int) -> np.ndarray:
    """Customer waiting per case in microseconds: the gaps before each step's start when no
    earlier-starting step of the case was in progress (the frontier rule of
    :func:`flowlens.simulation.fidelity.activity_stats`)."""
    order = np.lexsort((end, start, case))
    c, s, e = case[order], start[order], end[order]
    if not len(c):
        return np.zeros(n_cases)
    frontier = pd.Series(e).groupby(c).cummax().groupby(c).shift(1).to_numpy(dtype=float)
    case_start = np.full(n_cases, np.iinfo(np.int64).max)
    np.minimum.at(case_start, c, s)
    frontier = np.where(np.isnan(frontier), case_start[c], np.maximum(frontier, case_start[c]))
    gap = np.maximum(s - frontier, 0.0)
    return np.bincount(c, weights=gap, minlength=n_cases)


def pool_utilisation(
    model: SimulationModel, frame: pd.DataFrame, work: np.ndarray | None = None
) -> dict[str, float]:
    """Busy share of each pool over the arrival window (first to last case start): the
    working time of the steps its members started in that window over members × the pool
    calendar's working time in it (methods §17.2). A person in several pools counts for the
    first by name.

    >>> from flowlens.simulation.model import SimulationModel, example_model
    >>> from flowlens.simulation.engine import simulate
    >>> m = SimulationModel.from_dict(example_model())
    >>> u = pool_utilisation(m, simulate(m, cases=200, start="2024-03-04", seed=1, with_enabled=True))
    >>> sorted(u) == sorted(m.pools) and all(0 <= v <= 1.5 for v in u.values())
    True
    """
    from flowlens.simulation.engine import _calendars

    if not model.pools or frame.empty:
        return {}
    start = frame["start_time"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    if work is None:
        work = frame["work_s"].to_numpy(dtype=float) if "work_s" in frame else None
    if work is None:
        work = (frame["end_time"].to_numpy(dtype="datetime64[us]").astype(np.int64) - start) / 1e6
    firsts = pd.Series(start).groupby(pd.factorize(frame["case_id"], sort=False)[0]).min()
    lo, hi = int(firsts.min()), int(firsts.max())
    if hi <= lo:
        return {p: 0.0 for p in sorted(model.pools)}
    person: dict[str, str] = {}
    for p in sorted(model.pools):
        for m in model.pools[p].get("members", []):
            person.setdefault(str(m), p)
    inside = (start >= lo) & (start < hi) & frame["resource"].notna().to_numpy()
    pools = frame["resource"].astype(object).map(person).to_numpy()
    busy = pd.Series(work[inside]).groupby(pools[inside]).sum()
    cals = _calendars(model)
    out = {}

    def open_s(name: str) -> float:
        cal = cals.get(name)
        if cal is None:
            return (hi - lo) / 1e6
        iv = cal.intervals(lo, hi)
        return float((np.minimum(iv[:, 1], hi) - np.maximum(iv[:, 0], lo)).clip(min=0).sum()) / 1e6

    for p in sorted(model.pools):
        pool = model.pools[p]
        cal = str(pool.get("calendar", ""))
        own = pool.get("member_calendars", {})
        # members on a shift of their own are available in its hours (methods §16.2)
        members = pool.get("members", [])
        capacity = sum(open_s(str(own.get(m, cal))) for m in members) if own else len(members) * open_s(cal)
        out[p] = float(busy.get(p, 0.0)) / capacity if capacity > 0 else 0.0
    return out


def sla_met_shares(
    frames: Sequence[pd.DataFrame], rules: Sequence[Any], timezone: str = "UTC"
) -> list[dict[str, Any]]:
    """Per simulated log and deadline rule: the share of its decided cases that met the rule
    (base or extended deadline, :meth:`flowlens.analysis.sla.SlaResult.met_flags`), the rule
    evaluated on the simulated cases exactly as on a real log's; None when it decides none.
    The logs are evaluated together (case ids prefixed by their log's number), so open cases
    are looked at as of the last simulated event of them all. A rule that cannot be evaluated
    on them (its clock's steps do not occur) decides none, and its error is kept under the
    key of the rule's name followed by a NUL and ``reason``.

    >>> from flowlens.analysis.sla import custom_rule
    >>> f = pd.DataFrame({"case_id": ["1", "1", "2"], "activity": ["a", "b", "a"], "resource": None,
    ...     "start_time": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 10:00", "2024-01-01 09:00"], utc=True),
    ...     "end_time": pd.to_datetime(["2024-01-01 09:30", "2024-01-01 11:00", "2024-01-01 17:00"], utc=True)})
    >>> sla_met_shares([f, f.iloc[:2]], [custom_rule(hours=4, name="4 h")])
    [{'4 h': 0.5}, {'4 h': 1.0}]
    """
    import flowlens
    from flowlens.analysis.sla import evaluate_sla

    if not rules:
        return [{} for _ in frames]
    parts = []
    for i, f in enumerate(frames):
        cols = [c for c in f.columns if c not in ("enabled_time", "work_s")]
        parts.append(f[cols].assign(case_id=f"{i}:" + f["case_id"].astype(str)))
    log = flowlens.read_log(pd.concat(parts, ignore_index=True), tz=timezone)
    out: list[dict[str, Any]] = [{} for _ in frames]
    for rule in rules:
        try:
            res = evaluate_sla(log, rule)
        except ConfigError as exc:
            # the rule cannot be evaluated on these simulated cases (none of the steps that
            # start or stop its clock occur, say): it decides none of them, and says why; the
            # attribute its scope picks cases by is kept, as it may be why (the model draws it
            # apart from the cases' paths)
            col = _scope_column(log, rule)
            for o in out:
                o[rule.name] = None
                o[f"{rule.name}\x00reason"] = exc.message
                if col:
                    o[f"{rule.name}\x00scope"] = col
            continue
        flags = res.met_flags()
        # the case attribute the rule's scope picks cases by (process, or another column), if any
        col = res.scope.get("column") if res.scope.get("by") in ("process", "column") else None
        which = flags["case_id"].str.split(":", n=1).str[0].astype(int).to_numpy()
        met = flags["sla_met"].astype(float).to_numpy()
        for i in range(len(frames)):
            v = met[(which == i) & ~np.isnan(met)]
            out[i][rule.name] = float(v.mean()) if len(v) else None
            if col:
                out[i][f"{rule.name}\x00scope"] = str(col)
    return out


def _scope_column(log: Any, rule: Any) -> str | None:
    """The case attribute ``rule``'s scope picks cases by (its process or column), if any."""
    from flowlens.analysis.sla.engine import covered_cases

    try:
        _, info, _ = covered_cases(log, rule.applies_to, rule=rule.name)
    except ConfigError:
        return None
    return str(info["column"]) if info.get("by") in ("process", "column") and info.get("column") else None


def _t(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def _interval(d: np.ndarray, spread: np.ndarray | None = None) -> tuple[float, float, float]:
    """Mean and 95 % interval of the paired savings ``d`` of the fitted model (zero width when
    the savings are all equal and so are the ``spread`` ones).

    ``spread``: the paired savings of the same replications on bootstrap refits (methods §17.3).
    A refit's saving is one plausible model's effect plus one period's randomness; neither shrinks
    with R, so the interval is where the saving of one period falls around the fitted model's
    mean saving: d̄ ± t(R − 1)·√(s*² + s²/R), s* the refits' standard deviation and s²/R the
    Monte Carlo error of d̄. The centre is the fitted model's, not the refits' mean: near
    saturation a saving is convex in the load, so the mean over refits sits above the fitted
    model's saving (Jensen). With fewer than two refit savings the one-period spread is the
    fitted model's own, d̄ ± t·s·√(1 + 1/R). Without ``spread`` the model is taken as exact and
    the interval is the Monte Carlo error of its mean saving, d̄ ± t·s/√R.

    >>> [round(x, 3) for x in _interval(np.array([1.0, 2.0, 3.0]))]
    [2.0, -0.484, 4.484]
    >>> [round(x, 3) for x in _interval(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0]))]
    [2.0, -6.957, 10.957]
    >>> [round(x, 3) for x in _interval(np.zeros(3), np.zeros(3))]
    [0.0, 0.0, 0.0]
    """
    m = float(d.mean())
    h = _mc_half_width(d)
    if spread is not None and len(d) >= 2:
        if len(spread) >= 2:
            s_star = float(spread.std(ddof=1))
            h = _t(len(d) - 1) * math.sqrt(s_star**2 + float(d.var(ddof=1)) / len(d))
        else:
            h *= math.sqrt(len(d) + 1)
    return m, m - h, m + h


def _mc_half_width(d: np.ndarray) -> float:
    """Half-width of the t-interval of the mean saving, t·s/√R: how precisely R replications pin
    d̄ (the stopping rule's precision); 0 for fewer than two replications or equal savings.

    >>> round(_mc_half_width(np.array([1.0, 2.0, 3.0])), 3)
    2.484
    """
    if len(d) < 2:
        return 0.0
    return _t(len(d) - 1) * float(d.std(ddof=1)) / math.sqrt(len(d))


def whatif(
    model: SimulationModel,
    scenarios: Sequence[Scenario],
    *,
    observations: Observations | None = None,
    cases: int | None = None,
    start: Any = None,
    seed: int = 1,
    replications: int | None = None,
    max_replications: int = 100,
    precision: float = 0.02,
    max_time_s: float | None = None,
    progress: Callable[[int], None] | None = None,
    segment: str | None = "auto",
    channel: str | None = "auto",
    sla: Sequence[Any] = (),
    jobs: int = 1,
) -> WhatIfResult:
    """Paired replications of ``model`` and each scenario (see the module docstring).

    ``observations`` (from :func:`~flowlens.simulation.fit.observe`, the log the model was
    fitted on) make replication r also simulate a model rebuilt from a bootstrap resample of the
    log's weeks: the intervals then carry the model's estimation error too (their centre stays
    the fitted model's saving). ``cases`` per replication
    (default: the fitted log's cases, at most 2,000), from ``start`` (default: the end of the
    fitted period). ``replications`` fixes R; otherwise R grows by 10 from 10 until every
    mean saving's Monte Carlo half-width (t·sd/√R) is ≤ ``precision`` × the baseline's mean lead time, R reaches
    ``max_replications`` or ``max_time_s`` has passed.

    Every saving is also given per value of the case attributes that name a ``segment`` and
    a ``channel`` (:func:`breakdown_columns`: "auto" detects them, None turns one off), paired
    in the same replications, and for each deadline rule in ``sla``
    (:class:`~flowlens.analysis.sla.SlaRule`) the share of cases that meet it, as it is and
    with each scenario, with the change's interval. A round's replications run in ``jobs``
    worker processes (the result does not depend on it); ``progress`` gets the count after each round.
    """
    if not scenarios:
        raise ConfigError("whatif: give at least one scenario")
    names = [s.name for s in scenarios]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"whatif: two scenarios are named '{dup[0]}'; give each its own name")
    if not 0 < precision < 1:
        raise ConfigError(
            f"whatif: precision must be between 0 and 1 (a share of the lead time), got {precision}"
        )
    n = int(cases) if cases is not None else min(int(model.fitted.get("cases", 1000) or 1000), 2000)
    # the scenarios are checked against the model before anything runs
    for s in scenarios:
        s.apply(model)
    seg, chan = breakdown_columns(model, segment, channel)
    bd = Breakdown(segment=seg, channel=chan, sla=tuple(sla))
    linked = {
        (j, col): uses_attribute(s.apply(model), col)
        for j, s in enumerate(scenarios)
        for _, col in bd.columns
    }
    build_args: dict[str, Any] = {}
    if observations is not None:
        build_args = {
            "order": int(model.control_flow["order"]),
            "repeats": bool(model.control_flow.get("repeats")),
            "assignment": str(model.fitted.get("assignment", "queue")),
            "arrivals": model.arrivals,
        }
    t0 = time.perf_counter()
    runs: list[dict[str, Any]] = []
    target = replications if replications is not None else MIN_REPLICATIONS
    stopped = "replications" if replications is not None else ""
    while True:
        todo = list(range(len(runs), target))
        if todo:
            # contiguous shares of the round per worker; a replication depends on (seed, r) only,
            # so the rows are the same whatever ``jobs`` is
            parts = [list(map(int, c)) for c in np.array_split(todo, max(1, min(jobs, len(todo)))) if len(c)]
            calls = [(model, observations, build_args, list(scenarios), bd, n, start, seed, c) for c in parts]
            done = run_in_processes(_replications, calls, jobs)
            runs.extend(sorted((row for part in done for row in part), key=lambda x: x["replication"]))
            if progress is not None:
                progress(len(runs))
        if replications is not None:
            break
        base_mean = float(np.mean([r["baseline"]["lead_time_mean_h"] for r in runs]))
        widths = []
        for j in range(len(scenarios)):
            d = np.asarray(
                [r["baseline"]["lead_time_mean_h"] - r["scenarios"][j]["lead_time_mean_h"] for r in runs]
            )
            widths.append(_mc_half_width(d))
        if max(widths) <= precision * base_mean:
            stopped = "precision"
            break
        if len(runs) >= max_replications:
            stopped = "max_replications"
            break
        if max_time_s is not None and time.perf_counter() - t0 >= max_time_s:
            stopped = "max_time"
            break
        target = min(max_replications, len(runs) + STEP)
    scopes = (
        {v for k, v in runs[0]["baseline"].get("sla", {}).items() if k.endswith("\x00scope")}
        if runs
        else set()
    )
    for j, s in enumerate(scenarios):
        for col in scopes:
            linked.setdefault((j, col), uses_attribute(s.apply(model), col))
    res = _summarise(runs, scenarios, seed, n, observations is not None, stopped, bd, linked)
    res.concerns = [concerned_steps(model, s) for s in scenarios]
    unsettled = list(model.fitted.get("unsettled_queues") or [])
    res.queues = (
        [unsettled_concerns(unsettled, moved_steps(model, s)) for s in scenarios] if unsettled else []
    )
    return res


def moved_steps(model: SimulationModel, scenario: Scenario) -> list[str]:
    """The steps a scenario changes itself (methods §17.3): those it names; for ``set_branch``
    the step it sets and the steps it is set against (the other ways on where it is one of
    several); every step for ``scale_arrivals`` and ``set_mix``. A change moves when work
    reaches the pools of the cases that do these steps, and no other cases.

    >>> from flowlens.simulation.model import example_model
    >>> m = SimulationModel.from_dict(example_model())
    >>> s = Scenario.from_dict({"name": "x", "change": [{"action": "automate", "activity": "Check"}]})
    >>> moved_steps(m, s)
    ['Check']
    """
    acts = model.activities
    if any(c.get("action") in ("scale_arrivals", "set_mix") for c in scenario.changes):
        return sorted(acts)
    branch = [c for c in scenario.changes if c.get("action") == "set_branch"]
    out = {a for a in named_steps([c for c in scenario.changes if c not in branch]) if a in acts}
    targets = {c.get("to") for c in branch}
    for tr in model.control_flow.get("transitions") or []:
        nxt = tr.get("next") or {}
        if len(nxt) > 1 and targets & set(nxt):
            out.update(a for a in nxt if a in acts)
    return sorted(out)


#: Changes that act on every case, whatever its steps.
_GLOBAL = ("scale_arrivals", "set_mix", "set_branch")


def concerned_steps(model: SimulationModel, scenario: Scenario) -> list[str]:
    """The steps whose outcome a scenario changes: those it names, and every step served by a
    pool one of them is served by (a change to a step frees or takes its pool's time, so the
    queues of the pool's other steps change with it); every step for a change that acts on
    all cases (arrivals, the mix, a branch).

    >>> from flowlens.simulation.model import example_model
    >>> m = SimulationModel.from_dict(example_model())
    >>> s = Scenario.from_dict({"name": "x", "change": [{"action": "scale_arrivals", "factor": 0.9}]})
    >>> concerned_steps(m, s) == sorted(m.activities)
    True
    >>> g = Scenario.from_dict({"name": "g", "change": [
    ...     {"action": "cut_rework", "activity": ["Check", "Decide"], "factor": 0.5}]})
    >>> concerned_steps(m, g)
    ['Check', 'Decide']
    """
    acts = model.activities
    if any(c.get("action") in _GLOBAL for c in scenario.changes):
        return sorted(acts)
    named = {a for a in named_steps(scenario.changes) if a in acts}
    pools = {p for a in named for p in (acts[a].get("pools") or {})}
    return sorted(named | {a for a, spec in acts.items() if pools & set(spec.get("pools") or {})})


def _replications(
    model: SimulationModel,
    observations: Observations | None,
    build_args: dict[str, Any],
    scenarios: Sequence[Scenario],
    bd: Breakdown,
    n: int,
    start: Any,
    seed: int,
    reps: Sequence[int],
) -> list[dict[str, Any]]:
    """Replications ``reps``: each simulates the baseline and every scenario with seed S + r on
    the fitted model (``baseline``, ``scenarios``: the centre) and, when there are observations,
    on the bootstrap refit of replication r too (``refit``: the spread, methods §17.3)."""
    changed = [s.apply(model) for s in scenarios]
    rows = []
    for r in reps:
        base, scen = _paired(model, changed, bd, n, start, seed + r)
        row: dict[str, Any] = {"replication": r, "seed": seed + r, "baseline": base, "scenarios": scen}
        if observations is not None:
            m, volume = _replica_model(model, observations, build_args, seed, r)
            applied = [_apply_to_refit(s, m) for s in scenarios]
            rb, rs = _paired(m, [c for c, _ in applied], bd, n, start, seed + r)
            for o, (_, left_out) in zip(rs, applied, strict=True):
                if left_out:
                    o["left_out"] = left_out
            row["refit"] = {"volume": volume, "baseline": rb, "scenarios": rs}
        rows.append(row)
    return rows


def _paired(
    base_model: SimulationModel,
    changed: Sequence[SimulationModel],
    bd: Breakdown,
    n: int,
    start: Any,
    seed: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The outcomes of ``base_model`` and of each changed model, simulated with one ``seed``."""
    frame = simulate(base_model, cases=n, start=start, seed=seed, with_enabled=True)
    base = outcomes(frame, base_model, bd)
    # the deadline rules are evaluated on all logs of a replication at once (one engine pass)
    frames = [frame] if bd.sla else []
    out = []
    for c in changed:
        sim = simulate(c, cases=n, start=start, seed=seed, with_enabled=True)
        out.append(outcomes(sim, c, bd))
        if bd.sla:
            frames.append(sim)
    if bd.sla:
        shares = sla_met_shares(frames, bd.sla, base_model.timezone)
        for o, sh in zip([base, *out], shares, strict=True):
            o["sla"] = sh
    return base, out


def _apply_to_refit(s: Scenario, m: SimulationModel) -> tuple[SimulationModel, int]:
    """``s`` applied to a bootstrap refit ``m``, and how many of its changes were left out.

    Every change was checked on the whole log's model before anything ran; one that cannot
    apply to a refit (its resample holds no instance of the step, or no longer a choice of the
    branch it sets) is left out of that replication: the resampled organisation never does what
    it changes (methods §17.3).
    """
    try:
        return s.apply(m), 0
    except ConfigError:
        pass
    kept: list[dict[str, Any]] = []
    for c in s.changes:
        try:
            Scenario(name=s.name, changes=[*kept, c]).apply(m)
        except ConfigError:
            continue
        kept.append(c)
    return Scenario(name=s.name, changes=kept).apply(m), len(s.changes) - len(kept)


def _replica_model(
    model: SimulationModel, obs: Observations, build_args: dict[str, Any], seed: int, r: int
) -> tuple[SimulationModel, float]:
    """The bootstrap refit of replication r and its ``volume`` (its cases over the log's)."""
    from flowlens.simulation.fit import build, resample

    copy = resample(obs, seed * 100_003 + r, by=RESAMPLE_BY)
    args = build_args
    if copy.volume != 1.0 and build_args.get("arrivals") is not None:
        # the copy's weeks carry more (or fewer) cases than the log's: its cases arrive at
        # that rate, so the load on its pools, and their queues, vary as the weeks do
        arrivals = dict(build_args["arrivals"])
        arrivals["intensity"] = [[v * copy.volume for v in row] for row in arrivals["intensity"]]
        args = {**build_args, "arrivals": arrivals}
    return build(copy, **args), float(copy.volume)


def _significant(mean: float, lo: float, hi: float, scale: float) -> bool:
    """The interval excludes zero and the saving is material (methods §17.2)."""
    return bool((lo > 0 or hi < 0) and abs(mean) >= MATERIAL * scale)


def _r(x: float, digits: int = 4) -> float:
    return round(float(x), digits)


def _refits(runs: list[dict[str, Any]], refits: bool) -> list[dict[str, Any]]:
    """The refit half of each replication (empty without refits)."""
    return [r["refit"] for r in runs if "refit" in r] if refits else []


def _group_savings(
    runs: list[dict[str, Any]], j: int, col: str, v: str
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Baseline and scenario ``j`` mean lead times of the cases with value ``v`` of ``col``, over
    the replications in which the value has cases in both, and those cases' counts."""
    pairs = [
        (r["baseline"]["groups"][col][v], r["scenarios"][j]["groups"][col][v])
        for r in runs
        if v in r["baseline"]["groups"][col] and v in r["scenarios"][j]["groups"][col]
    ]
    base = np.asarray([b[0] / b[1] for b, _ in pairs])
    scen = np.asarray([s[0] / s[1] for _, s in pairs])
    return base, scen, [b[1] for b, _ in pairs]


def _groups(runs: list[dict[str, Any]], j: int, col: str, refits: bool) -> list[dict[str, Any]]:
    """Per value of ``col``: the paired saving of scenario ``j`` over the replications in which
    the value has cases both as it is and with the scenario, ordered by value; the centre from
    the fitted model, the spread from the refits (:func:`_interval`)."""
    values = sorted({v for r in runs for v in r["baseline"]["groups"][col]})
    halves = _refits(runs, refits)
    out = []
    for v in values:
        base, scen, counts = _group_savings(runs, j, col, v)
        if not len(base):
            continue
        spread = None
        if refits:
            rb, rs, _ = _group_savings(halves, j, col, v)
            spread = rb - rs
        mean, lo, hi = _interval(base - scen, spread)
        b_mean = float(base.mean())
        out.append(
            {
                "value": v,
                "cases": _r(np.mean(counts), 1),
                "replications": len(counts),
                "baseline_lead_time_mean_h": _r(b_mean),
                "lead_time_mean_h": _r(scen.mean()),
                "saving_mean_h": _r(mean),
                "saving_ci95_h": [_r(lo), _r(hi)],
                "saving_pct": _r(100 * mean / b_mean, 3) if b_mean else 0.0,
                "significant": _significant(mean, lo, hi, b_mean),
            }
        )
    return out


def _sla(
    runs: list[dict[str, Any]],
    j: int,
    rules: Sequence[Any],
    linked: dict[tuple[int, str], bool],
    refits: bool,
) -> list[dict[str, Any]]:
    """Per rule: the met share as it is and with scenario ``j`` (means over the replications
    that decide cases in both) and the paired change with its interval (percentage points)."""
    out = []
    for rule in rules:
        name = rule.name
        pairs = _sla_pairs(runs, j, name)
        scope = runs[0]["baseline"]["sla"].get(f"{name}\x00scope")
        note = {}
        if scope and not linked.get((j, scope), False):
            # the rule covers cases by an attribute the model draws apart from their paths: the
            # covered cases are a random share of all, not the cases the rule is about
            note = {
                "scope_column": scope,
                "linked": False,
                "note": M_(
                    "the rule covers cases by {column}, which the model draws apart from each "
                    "case's path and times: the covered cases are a random share of all cases, so this "
                    "compliance is not that of the cases the rule is about (fit one process per model)",
                    column=scope,
                ),
            }
        elif scope:
            note = {"scope_column": scope, "linked": True}
        if not pairs:
            out.append({"rule": name, **note, "decided": False, **_not_applicable(runs, name)})
            continue
        b = 100 * np.asarray([p[0] for p in pairs])
        s = 100 * np.asarray([p[1] for p in pairs])
        spread = None
        if refits:
            rp = _sla_pairs(_refits(runs, refits), j, name)
            spread = 100 * np.asarray([p[1] - p[0] for p in rp])
        mean, lo, hi = _interval(s - b, spread)
        out.append(
            {
                "rule": name,
                **note,
                "decided": True,
                "replications": len(pairs),
                "baseline_met_pct": _r(b.mean(), 3),
                "met_pct": _r(s.mean(), 3),
                "change_pp": _r(mean, 3),
                "change_ci95_pp": [_r(lo, 3), _r(hi, 3)],
                # a change in compliance is significant when its interval excludes zero and it
                # is at least one percentage point (the lead time's 1 % rule, in points)
                "significant": _significant(mean, lo, hi, 100.0),
            }
        )
    return out


def _sla_pairs(runs: list[dict[str, Any]], j: int, name: str) -> list[tuple[float, float]]:
    """(baseline, scenario ``j``) met shares of rule ``name`` in the replications deciding cases in both."""
    return [
        (r["baseline"]["sla"][name], r["scenarios"][j]["sla"][name])
        for r in runs
        if r["baseline"]["sla"].get(name) is not None and r["scenarios"][j]["sla"].get(name) is not None
    ]


def _not_applicable(runs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """``applicable: False`` and the reason when rule ``name`` could not be evaluated on the
    simulated cases of any replication (the first replication's reason); else nothing."""
    reasons = [r["baseline"].get("sla", {}).get(f"{name}\x00reason") for r in runs]
    if not reasons or any(x is None for x in reasons):
        return {}
    return {
        "applicable": False,
        "reason": M_("not applicable: {reason}", reason=reasons[0]),
    }


def _mean_utilisation(rows: list[dict[str, Any]]) -> dict[str, float]:
    pools = sorted({p for o in rows for p in o.get("utilisation", {})})
    return {p: _r(np.mean([o.get("utilisation", {}).get(p, 0.0) for o in rows])) for p in pools}


def _summarise(
    runs: list[dict[str, Any]],
    scenarios: Sequence[Scenario],
    seed: int,
    n: int,
    uncertain: bool,
    stopped: str,
    bd: Breakdown | None = None,
    linked: dict[tuple[int, str], bool] | None = None,
) -> WhatIfResult:
    bd = bd or Breakdown()
    linked = linked or {}
    keys = ("lead_time_mean_h", "lead_time_median_h", "lead_time_p90_h", "waiting_mean_h", "staff_hours")
    baseline: dict[str, Any] = {k: _r(np.mean([r["baseline"][k] for r in runs])) for k in keys}
    baseline["utilisation"] = _mean_utilisation([r["baseline"] for r in runs])
    base_lead = baseline["lead_time_mean_h"]
    for role, col in bd.columns:
        values = sorted({v for r in runs for v in r["baseline"]["groups"][col]})
        baseline[f"by_{role}"] = {
            "column": col,
            "groups": [
                {
                    "value": v,
                    "cases": _r(np.mean([r["baseline"]["groups"][col].get(v, [0, 0])[1] for r in runs]), 1),
                    "lead_time_mean_h": _r(
                        np.mean(
                            [g[0] / g[1] for r in runs if (g := r["baseline"]["groups"][col].get(v)) and g[1]]
                        )
                    ),
                }
                for v in values
            ],
        }
    if bd.sla:
        baseline["sla"] = [
            {
                "rule": rule.name,
                "met_pct": _r(100 * np.mean(vals), 3) if vals else None,
                **(_not_applicable(runs, rule.name) if not vals else {}),
            }
            for rule in bd.sla
            for vals in [
                [
                    r["baseline"]["sla"][rule.name]
                    for r in runs
                    if r["baseline"]["sla"].get(rule.name) is not None
                ]
            ]
        ]
    out = []
    for j, s in enumerate(scenarios):
        d = np.asarray(
            [r["baseline"]["lead_time_mean_h"] - r["scenarios"][j]["lead_time_mean_h"] for r in runs]
        )
        halves = _refits(runs, uncertain)
        spread = (
            np.asarray(
                [h["baseline"]["lead_time_mean_h"] - h["scenarios"][j]["lead_time_mean_h"] for h in halves]
            )
            if uncertain
            else None
        )
        mean, lo, hi = _interval(d, spread)
        staff = np.asarray([r["scenarios"][j]["staff_hours"] - r["baseline"]["staff_hours"] for r in runs])
        row: dict[str, Any] = {"name": s.name}
        row.update({k: _r(np.mean([r["scenarios"][j][k] for r in runs])) for k in keys})
        row.update(
            saving_mean_h=_r(mean),
            saving_ci95_h=[_r(lo), _r(hi)],
            saving_mc_half_width_h=_r(_mc_half_width(d)),
            # the refits' mean saving, for comparison: it is not the centre (see _interval)
            **({"saving_refits_mean_h": _r(spread.mean())} if spread is not None and len(spread) else {}),
            saving_pct=_r(100 * mean / base_lead, 3) if base_lead else 0.0,
            significant=_significant(mean, lo, hi, base_lead),
            staff_hours_delta=_r(staff.mean(), 3),
            utilisation=_mean_utilisation([r["scenarios"][j] for r in runs]),
        )
        for role, col in bd.columns:
            tied = bool(linked.get((j, col), False))
            row[f"by_{role}"] = {"column": col, "linked": tied, "groups": _groups(runs, j, col, uncertain)}
            if not tied:
                # honest about what the numbers can show: without a link, the groups are a random
                # split of the cases, and their savings differ from the overall one by chance only
                row[f"by_{role}"]["note"] = (
                    f"the model draws {col} apart from each case's path and times (no priority, "
                    f"routing or skip by it, in the model or the scenario), so the savings per {col} "
                    "differ from the overall saving by chance only"
                )
        if bd.sla:
            row["sla"] = _sla(runs, j, bd.sla, linked, uncertain)
        left = sum(1 for h in _refits(runs, uncertain) if h["scenarios"][j].get("left_out"))
        if left:
            # replications whose bootstrap refit holds no instance of what a change names
            row["replications_with_changes_left_out"] = left
        row["changes"] = s.to_dict()["change"]
        out.append(row)
    return WhatIfResult(
        seed=seed,
        replications=len(runs),
        cases=n,
        model_uncertainty=uncertain,
        baseline=baseline,
        scenarios=out,
        runs=runs,
        stopped_by=stopped,
        segment=bd.segment,
        channel=bd.channel,
    )


__all__ = [
    "Breakdown",
    "WhatIfResult",
    "breakdown_columns",
    "outcomes",
    "pool_utilisation",
    "sla_met_shares",
    "uses_attribute",
    "whatif",
]
