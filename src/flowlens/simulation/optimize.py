"""Candidate changes and the best combinations of them (``flowlens optimize``, methods §17.4).

Candidates come from two places: the findings (each finding's scenario, written in the
scenario format by :func:`from_finding`) and the model itself (a person more in the busiest
pool, each batched step unbatched, two more working hours for pools on a calendar, halving the
longest waits on others before a step). Steps a regulation requires (the findings' allow-list)
are never removed or automated away. Every candidate is simulated against the same baseline in
paired replications (:func:`~flowlens.simulation.whatif.whatif`); the significant ones are
then combined greedily, best first, and the combinations simulated too.

>>> from flowlens.findings.model import Scenario as FindingScenario
>>> from_finding_scenario(FindingScenario("cut_loop", {"activity": "Validate"}), "rework").to_dict()
{'name': 'rework: cut the loop back to Validate', 'change': [{'action': 'cut_rework', 'activity': 'Validate', 'factor': 0.0}]}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from flowlens.simulation.engine import simulate
from flowlens.simulation.model import SimulationModel
from flowlens.simulation.scenarios import Scenario
from flowlens.simulation.whatif import whatif

if TYPE_CHECKING:
    from flowlens.findings.allowlist import AllowList
    from flowlens.findings.model import Finding
    from flowlens.findings.model import Scenario as FindingScenario
    from flowlens.simulation.fit import Observations

#: An automated step keeps this share of its duration (a system still takes some time).
AUTOMATED_DURATION = 0.1
#: Hours added to each working day of a pool on a calendar (one before, one after).
EXTRA_HOURS = 2
#: Candidates combined, at most.
MAX_COMBINED = 3


def from_finding_scenario(s: FindingScenario, label: str) -> Scenario | None:
    """The scenario-format version of a finding's scenario, or None when a case-level model
    cannot express it (repeat contacts across cases of one customer, a channel shift).

    Mapping (methods §17.4): ``remove_activity`` → remove (only the repeat when the finding is
    about a step done again after an earlier one: ``when``, ``beyond_rate``); ``cut_loop`` →
    cut_rework to 0; ``merge`` → merge; ``automate`` → automate at a tenth of the duration;
    ``warm_handoff``, ``pre_fill`` → remove the repeated step's second occurrence (or the step a
    handoff makes unnecessary); ``unbatch`` → unbatch."""
    p = dict(s.params)
    acts = [str(a) for a in p.get("activities", [])]
    act = p.get("activity") or p.get("removes") or (acts[0] if acts else None)
    change: list[dict[str, Any]] = []
    if s.action == "remove_activity" and act:
        repeat = "when" in p or "beyond_rate" in p
        change = [{"action": "remove", "activity": act, **({"occurrence": 2} if repeat else {})}]
        what = f"skip the repeated {act}" if repeat else f"skip {act}"
    elif s.action == "cut_loop" and (act or acts):
        change = [{"action": "cut_rework", "activity": a, "factor": 0.0} for a in (acts or [act])]
        what = f"cut the loop back to {', '.join(acts or [str(act)])}"
    elif s.action == "merge" and len(acts) == 2:
        change = [{"action": "merge", "activities": acts}]
        what = f"do {acts[1]} right after {acts[0]}"
    elif s.action == "automate" and (act or acts):
        change = [
            {"action": "automate", "activity": a, "duration_factor": AUTOMATED_DURATION}
            for a in (acts or [act])
        ]
        what = f"automate {', '.join(acts or [str(act)])}"
    elif s.action in ("warm_handoff", "pre_fill") and act:
        second = "removes" not in p
        change = [{"action": "remove", "activity": act, **({"occurrence": 2} if second else {})}]
        what = f"pass the result on: no second {act}" if second else f"warm handoff: no {act}"
    elif s.action == "unbatch" and act:
        change = [{"action": "unbatch", "activity": act}]
        what = f"process {act} as cases arrive"
    else:
        return None
    return Scenario(name=f"{label}: {what}", changes=change)


def from_finding(f: Finding) -> Scenario | None:
    """:func:`from_finding_scenario` of a finding (None for a regulatory one: reported, never
    removed)."""
    if f.regulatory:
        return None
    return from_finding_scenario(f.scenario, f.kind.replace("_", " "))


def _required(s: Scenario, model: SimulationModel, allow: AllowList | None) -> str | None:
    """Why a scenario may not be run: it removes or automates a step a regulation requires, or
    names a step the model does not have."""
    for c in s.changes:
        act = c.get("activity")
        names = (
            list(act)
            if isinstance(act, list)
            else [act]
            if "activity" in c
            else list(c.get("activities", []))
        )
        for a in names:
            if a not in model.activities:
                return f"'{a}' is not in the model"
            if allow is not None and c["action"] in ("remove", "automate"):
                why = allow.match(a)
                if why:
                    return f"'{a}' is required ({why})"
    return None


def utilisation(model: SimulationModel, frame: Any) -> dict[str, float]:
    """Busy share of each pool: :func:`~flowlens.simulation.whatif.pool_utilisation` (working
    time over members × the pool calendar's working time while cases arrive), the figure
    ``flowlens whatif`` reports."""
    from flowlens.simulation.whatif import pool_utilisation

    return pool_utilisation(model, frame)


def model_candidates(model: SimulationModel, *, cases: int, start: Any, seed: int) -> list[Scenario]:
    """Candidates the model suggests: a person more in the busiest pool, each step with
    batching waits unbatched, two more hours a day for each pool on a calendar (without
    shifts), and halving the waiting on others before the three steps where it adds up most."""
    out: list[Scenario] = []
    frame = simulate(model, cases=cases, start=start, seed=seed, with_enabled=True)
    util = utilisation(model, frame)
    if util:
        pool = max(sorted(util), key=lambda p: util[p])
        acts = [a for a, s in sorted(model.activities.items()) if pool in (s.get("pools") or {})]
        main = max(acts, key=lambda a: model.activities[a]["pools"][pool]) if acts else None
        if main:
            out.append(
                Scenario(
                    name=f"one more person in the busiest pool ({pool}, {100 * util[pool]:.0f} % busy)",
                    changes=[{"action": "add_resources", "activity": main, "count": 1}],
                )
            )
    for a, s in sorted(model.activities.items()):
        if float(s.get("batching_share", 0.0)) >= 0.1 or a in model.batching:
            out.append(
                Scenario(name=f"process {a} as cases arrive", changes=[{"action": "unbatch", "activity": a}])
            )
    for name, pool in sorted(model.pools.items()):
        cal = model.calendars.get(pool.get("calendar", "24x7"))
        acts = [a for a, s in sorted(model.activities.items()) if name in (s.get("pools") or {})]
        # a pool of shifts (methods §16.2): its hours set for all would put everyone on every
        # shift, far more than two more hours
        if cal is None or not acts or pool.get("member_calendars"):
            continue
        hours = {
            d: _longer(spans)
            for d, spans in cal.items()
            if d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun") and spans
        }
        out.append(
            Scenario(
                name=f"{EXTRA_HOURS} more working hours a day for {name}",
                changes=[{"action": "set_hours", "activity": acts[0], "hours": hours}],
            )
        )
    # waiting on others (customer, third parties) that adds up most per step
    from flowlens.simulation.distributions import mean

    cnt = frame.activity.value_counts()
    load = {a: mean(s["delay"]) * float(cnt.get(a, 0)) for a, s in model.activities.items() if "delay" in s}
    for a in sorted(load, key=lambda a: (-load[a], a))[:3]:
        if load[a] > 0:
            out.append(
                Scenario(
                    name=f"halve the waiting on others before {a} (reminders, deadlines, pre-booked slots)",
                    changes=[{"action": "scale_delay", "activity": a, "factor": 0.5}],
                )
            )
    return out


def _longer(spans: list[str]) -> list[str]:
    """A day's spans (``HH:MM-HH:MM``) with an hour more before the first and after the last,
    within the day.

    >>> _longer(["09:00-12:00", "13:00-17:00"])
    ['08:00-12:00', '13:00-18:00']
    """

    def minutes(t: str) -> int:
        return int(t[:2]) * 60 + int(t[3:5])

    def clock(m: int) -> str:
        return f"{m // 60:02d}:{m % 60:02d}"

    parts = [[minutes(x) for x in span.split("-")] for span in spans]
    half = EXTRA_HOURS * 60 // 2
    parts[0][0] = max(0, parts[0][0] - half)
    parts[-1][1] = min(24 * 60, parts[-1][1] + EXTRA_HOURS * 60 - half)
    return [f"{clock(lo)}-{clock(hi)}" for lo, hi in parts]


@dataclass
class OptimizeResult:
    """Candidates and combinations, each with its paired saving and CI (hours)."""

    baseline: dict[str, Any]
    ranked: list[dict[str, Any]]
    combinations: list[dict[str, Any]]
    skipped: list[dict[str, str]] = field(default_factory=list)
    replications: int = 0
    seed: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "replications": self.replications,
            "baseline": self.baseline,
            "ranked": self.ranked,
            "combinations": self.combinations,
            "skipped": self.skipped,
        }


def optimize(
    model: SimulationModel,
    *,
    findings: Sequence[Finding] = (),
    observations: Observations | None = None,
    allow: AllowList | None = None,
    cases: int | None = None,
    start: Any = None,
    seed: int = 1,
    replications: int = 10,
    progress: Callable[[str], None] | None = None,
    jobs: int = 1,
) -> OptimizeResult:
    """Rank the candidate changes by the customer lead time they save, then their best
    combinations (see the module docstring). ``replications`` paired replications per round,
    in ``jobs`` worker processes (the result does not depend on it)."""
    from flowlens.findings.allowlist import AllowList

    allow = allow or AllowList.default()
    n = int(cases) if cases is not None else min(int(model.fitted.get("cases", 1000) or 1000), 2000)
    pool: list[Scenario] = []
    skipped: list[dict[str, str]] = []
    seen: set[str] = set()
    for f in findings:
        s = from_finding(f)
        if s is None:
            skipped.append(
                {"candidate": f.title, "why": "regulatory, or not expressible in a case-level model"}
            )
            continue
        pool.append(s)
    pool += model_candidates(model, cases=min(n, 1000), start=start, seed=seed)
    kept: list[Scenario] = []
    for s in pool:
        key = repr(s.changes)
        if key in seen:
            continue
        seen.add(key)
        why = _required(s, model, allow)
        if why:
            skipped.append({"candidate": s.name, "why": why})
            continue
        kept.append(s)
    if progress:
        progress(f"simulating {len(kept)} candidate changes")
    # the candidates and their combinations are simulated alike (same seeds, cases, start)
    simulate_all = partial(
        whatif,
        model,
        observations=observations,
        cases=n,
        start=start,
        seed=seed,
        replications=replications,
        jobs=jobs,
    )
    screen = simulate_all(kept, observations=None)
    # the rows as whatif gives them (with a queue that does not settle: not trusted, and why)
    rows = screen.to_dict()["scenarios"]
    if observations is not None:
        # The fitted model's replications are the centre with or without refits (same seeds),
        # and the refits only widen the interval: a candidate whose saving is not significant
        # on the fitted model alone cannot become so, so only the others pay for the refits
        # (methods 17.4)
        promising = [s for s, r in zip(kept, rows, strict=True) if r["significant"]]
        refitted = {r["name"]: r for r in simulate_all(promising).to_dict()["scenarios"]} if promising else {}
        rows = [refitted.get(r["name"]) or {**r, "screened_out": True} for r in rows]
    ranked = sorted(rows, key=lambda r: (-r["saving_mean_h"], r["name"]))
    good = [r for r in ranked if r["significant"] and r["saving_mean_h"] > 0]
    combos: list[Scenario] = []
    for k in range(2, min(MAX_COMBINED, len(good)) + 1):
        parts = good[:k]
        combos.append(
            Scenario(
                name=" + ".join(p["name"] for p in parts),
                changes=[c for p in parts for c in p["changes"]],
            )
        )
    combined: list[dict[str, Any]] = []
    if combos:
        if progress:
            progress(f"simulating {len(combos)} combinations")
        second = simulate_all(combos)
        combined = sorted(second.to_dict()["scenarios"], key=lambda r: (-r["saving_mean_h"], r["name"]))
    return OptimizeResult(
        baseline=screen.baseline,
        ranked=ranked,
        combinations=combined,
        skipped=skipped,
        replications=screen.replications,
        seed=seed,
    )


__all__ = [
    "OptimizeResult",
    "from_finding",
    "from_finding_scenario",
    "model_candidates",
    "optimize",
    "utilisation",
]
