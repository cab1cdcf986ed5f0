"""What a changed process would save: paired replications of a baseline and its scenarios,
with 95 % confidence intervals that carry the model's own uncertainty (methods §17).

Replication r simulates the baseline and every scenario with the same seed (common random
numbers: a scenario changes a case only through what it changes, :mod:`.streams`) and, when
the observations of a log are given, on a model rebuilt from a bootstrap resample of its cases
(:func:`~flowlens.simulation.fit.resample`), so the spread of the paired savings holds both the
simulation's noise and the estimation error of the model. The saving of a replication is the
baseline's mean lead time minus the scenario's; the interval is the t-interval of those
savings; a saving is *significant* when that interval excludes zero and the saving is at least
1 % of the baseline's mean lead time. Replications are added until every interval is within ``precision`` of the baseline's
mean lead time, or ``max_replications`` or ``max_time_s`` is reached.

>>> from flowlens.simulation.model import SimulationModel, example_model
>>> from flowlens.simulation.scenarios import Scenario
>>> base = SimulationModel.from_dict(example_model())
>>> nothing = Scenario.from_dict({"name": "nothing", "change": []})
>>> r = whatif(base, [nothing], cases=200, start="2024-03-04", replications=5)
>>> r.scenarios[0]["saving_mean_h"], r.scenarios[0]["saving_ci95_h"], r.scenarios[0]["significant"]
(0.0, [0.0, 0.0], False)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.errors import ConfigError
from flowlens.simulation.engine import simulate
from flowlens.simulation.model import SimulationModel
from flowlens.simulation.scenarios import Scenario

if TYPE_CHECKING:
    from flowlens.simulation.fit import Observations

#: Replications before the precision is first checked, and added per round.
MIN_REPLICATIONS, STEP = 10, 10
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

    def to_dict(self) -> dict[str, Any]:
        out = {
            "seed": self.seed,
            "replications": self.replications,
            "cases_per_replication": self.cases,
            "model_uncertainty": self.model_uncertainty,
            "stopped_by": self.stopped_by,
            "baseline": self.baseline,
            "scenarios": self.scenarios,
        }
        if self.fidelity is not None:
            out["fidelity"] = self.fidelity
        return out


def outcomes(frame: pd.DataFrame) -> dict[str, float]:
    """The measures of one simulated log: lead time per case (first start to last end) mean,
    median and 90th percentile in hours, and staff hours (processing time of steps that had a
    performer: ``work_s`` when the frame has it, else the steps' spans).

    >>> f = pd.DataFrame({"case_id": ["1", "1"], "activity": ["a", "b"], "resource": ["x", None],
    ...     "start_time": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 10:00"], utc=True),
    ...     "end_time": pd.to_datetime(["2024-01-01 09:30", "2024-01-01 11:00"], utc=True)})
    >>> outcomes(f)["lead_time_mean_h"], outcomes(f)["staff_hours"]
    (2.0, 0.5)
    """
    g = frame.groupby("case_id", sort=False)
    lead = (g.end_time.max() - g.start_time.min()).dt.total_seconds().to_numpy() / 3600
    staffed = frame.resource.notna()
    # processing time in working time when the frame has it (a calendar's pauses are no one's work)
    work = frame["work_s"] if "work_s" in frame else (frame.end_time - frame.start_time).dt.total_seconds()
    staff_h = float(work[staffed].sum() / 3600)
    return {
        "lead_time_mean_h": float(lead.mean()) if len(lead) else 0.0,
        "lead_time_median_h": float(np.median(lead)) if len(lead) else 0.0,
        "lead_time_p90_h": float(np.quantile(lead, 0.9)) if len(lead) else 0.0,
        "staff_hours": staff_h,
    }


def _t(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def _interval(d: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95 % t-interval of paired savings (zero width when they are all equal)."""
    m = float(d.mean())
    if len(d) < 2:
        return m, m, m
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        return m, m, m
    h = _t(len(d) - 1) * sd / math.sqrt(len(d))
    return m, m - h, m + h


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
) -> WhatIfResult:
    """Paired replications of ``model`` and each scenario (see the module docstring).

    ``observations`` (from :func:`~flowlens.simulation.fit.observe`, the log the model was
    fitted on) make replication r use a model rebuilt from a bootstrap resample of the cases:
    the intervals then carry the model's estimation error too. ``cases`` per replication
    (default: the fitted log's cases, at most 2,000), from ``start`` (default: the end of the
    fitted period). ``replications`` fixes R; otherwise R grows by 10 from 10 until every
    saving's half-width is ≤ ``precision`` × the baseline's mean lead time, R reaches
    ``max_replications`` or ``max_time_s`` has passed.
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
        while len(runs) < target:
            r = len(runs)
            m = _replica_model(model, observations, build_args, seed, r)
            base = outcomes(simulate(m, cases=n, start=start, seed=seed + r, with_enabled=True))
            row: dict[str, Any] = {"replication": r, "seed": seed + r, "baseline": base, "scenarios": []}
            for s in scenarios:
                sim = simulate(s.apply(m), cases=n, start=start, seed=seed + r, with_enabled=True)
                row["scenarios"].append(outcomes(sim))
            runs.append(row)
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
            _, lo, hi = _interval(d)
            widths.append((hi - lo) / 2)
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
    return _summarise(runs, scenarios, seed, n, observations is not None, stopped)


def _replica_model(
    model: SimulationModel, obs: Observations | None, build_args: dict[str, Any], seed: int, r: int
) -> SimulationModel:
    if obs is None:
        return model
    from flowlens.simulation.fit import build, resample

    return build(resample(obs, seed * 100_003 + r), **build_args)


def _summarise(
    runs: list[dict[str, Any]],
    scenarios: Sequence[Scenario],
    seed: int,
    n: int,
    uncertain: bool,
    stopped: str,
) -> WhatIfResult:
    keys = ("lead_time_mean_h", "lead_time_median_h", "lead_time_p90_h", "staff_hours")
    baseline = {k: round(float(np.mean([r["baseline"][k] for r in runs])), 4) for k in keys}
    out = []
    for j, s in enumerate(scenarios):
        d = np.asarray(
            [r["baseline"]["lead_time_mean_h"] - r["scenarios"][j]["lead_time_mean_h"] for r in runs]
        )
        mean, lo, hi = _interval(d)
        staff = np.asarray([r["scenarios"][j]["staff_hours"] - r["baseline"]["staff_hours"] for r in runs])
        row = {"name": s.name}
        row.update({k: round(float(np.mean([r["scenarios"][j][k] for r in runs])), 4) for k in keys})
        row.update(
            saving_mean_h=round(mean, 4),
            saving_ci95_h=[round(lo, 4), round(hi, 4)],
            saving_pct=round(100 * mean / baseline["lead_time_mean_h"], 3)
            if baseline["lead_time_mean_h"]
            else 0.0,
            significant=bool((lo > 0 or hi < 0) and abs(mean) >= MATERIAL * baseline["lead_time_mean_h"]),
            staff_hours_delta=round(float(staff.mean()), 3),
            changes=s.to_dict()["change"],
        )
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
    )


__all__ = ["WhatIfResult", "outcomes", "whatif"]
