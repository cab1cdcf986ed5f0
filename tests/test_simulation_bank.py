"""Issue 11, "what it must show", second bullet: on the bank generator's logs (seed 23, not the
committed demo's 7) the model :func:`~flowlens.simulation.fit.fit_model` learns from each
process recovers what the generator planted, and a simulated log has the generator log's mean
lead time within 5 % per process.

The truth is the generator's own, never numbers copied from a run. The bank is generated once
per log size with its duration helpers (``Case.task``, ``work``, ``customer``, ``system``,
``instant``) wrapped so that every event's distribution parameters, speed factor, generator
pool and person are recorded as the generator draws them; the teams (people, speed, shift) are
the generator's own objects; the shift calendars are the ``calendars.toml`` the generator
writes; the arrival rates are :func:`flowlens.synth.arrivals.hourly_rates` (what
``arrival_times`` draws from). Each process is fitted from its own events, as a bank would hand
a process's log over (no calendars, no other work given): ``fit_model(read_log(events))``.

The structural checks run on a small bank (28 days from the demo's start at half the demo's
volume: ~6k cases, ~73k events, seconds to build); the lead time needs the demo itself (60
days, ~26k cases) and is marked slow. Tolerances, and why:

* **Arrivals per weekday**: the fitted cases per weekday (the sum of the model's weekday × hour
  intensity) within 4 Poisson standard errors of the generator's rate over its period (the
  mean over that weekday's days of ``hourly_rates``; complaints triggered by other cases, which
  have no rate, are added as they arrived). A right fit misses by more than 4 SE with
  probability 6e-5 per weekday.
* **Arrival shape** (weekday × hour, the log is 4 weeks long): a chi-square test of the fitted
  counts per weekday × hour cell (the intensity times the period's hours in that cell) against
  the generator's rate scaled to the same total, cells merged in time order until each expects
  ≥ 5 cases (the test's validity rule); the fit passes at p ≥ 0.001.
* **Pool members**: for each step done by people, the people of the fitted pools the model
  gives the step are exactly the people of the generator's pools that did it, for steps where
  each such person is expected ≥ 10 times (fewer and a person may not be in the log at all:
  P(unseen) = e^-10).
* **Pool size per step**: the size of the pool a case's step draws on (the generator's pool
  that did each instance, averaged over instances; the fitted pools averaged by their shares)
  within 10 %. With the right pools the two are the same number (the shares are the observed
  ones); 10 % leaves room for a rare performer counted in a neighbouring pool.
* **Shift calendars**, for the team (the hours at least one member of a fitted pool is on shift)
  and for each person (the hours they are on shift; the engine lets every member of a pool work
  whenever the pool's calendar is open), on a week of whole hours (an hour is on shift when at
  least 30 min of it are; discovery is hour-granular): *precision* ≥ 0.85, at most one fitted
  hour in seven off shift (a team whose members lunch at different hours keeps the lunch hour:
  8 of 9 hours right), and *recall* ≥ 0.9 of the on-shift hours the log can show, those in which
  the pool's members started at least one step a week on average (discovery keeps an hour seen
  in 20 % of the weeks; at one start a week it is seen in ~63 %). People who start work in fewer
  than 3 on-shift hours a week the log can show are not judged (their shift is not in the log).
* **Median durations**: per activity with ≥ 20 instances, the fitted median within 4 standard
  errors of the generator's: the median of the mixture of every instance's distribution
  (lognormal median × the person's speed, uniform, or 0 for instants), its standard error that
  of a sample median, 1 / (2 f(m) √n).
* **Mean lead time** (slow): the mean over 3 seeds of the mean case lead time (first start to
  last end) of a simulation of as many cases from the log's first start, within 5 % of the
  generator log's (the issue's tolerance). The demo log's own mean has a standard error of
  1.2-4.5 % per process (seed 23), so 5 % is tight for account opening.

A check that fails is marked ``xfail(strict=True)`` with what causes it; the closing note of
issue 11 gives the numbers.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import flowlens
from flowlens.simulation import SimulationModel, simulate
from flowlens.simulation.distributions import draw
from flowlens.simulation.fit import fit_model

SEED = 23
TZ = "Asia/Shanghai"
PROCESSES = ("account_opening", "card_dispute", "complaint", "loan_application", "service_issue")
#: Tolerances (module docstring).
Z_ARRIVALS = 4.0
P_SHAPE = 1e-3
MEMBER_MIN_EXPECTED = 10
SIZE_TOL = 0.10
CAL_PRECISION, CAL_RECALL = 0.85, 0.90
CAL_MIN_HOURS = 3
Z_MEDIAN, MEDIAN_MIN_N = 4.0, 20
LEAD_TOL, LEAD_SEEDS = 0.05, (1, 2, 3)


# ---------------------------------------------------------------------------------------
# the generator's truth
# ---------------------------------------------------------------------------------------
@dataclass
class Bank:
    """A generated bank: its files, the generator's truth and the fitted models."""

    out: Path
    preset: Any
    events: pd.DataFrame
    #: one row per event as the generator drew it: process, case_id, key (the activity's
    #: generator key), kind (lognormal | uniform | fixed), p1, p2 (median and log-sd, or the
    #: uniform's bounds), speed, pool (the generator pool that did it) and resource
    instances: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: process -> generator pool -> its people (flowlens.synth.teams.Agent)
    teams: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    models: dict[str, SimulationModel] = field(default_factory=dict)

    def log_of(self, process: str) -> pd.DataFrame:
        return self.events[self.events.process == process]


def _generate(preset: Any, out: Path, *, record: bool) -> Bank:
    """Generate the bank (no counterfactuals, one process); with ``record``, wrap the
    generator's duration helpers to record every event's distribution (module docstring)."""
    from flowlens.synth import generate_bank, rng, sim

    rows: list[tuple[Any, ...]] = []
    worlds: dict[str, Any] = {}
    drawn: dict[float, tuple[float, float]] = {}  # a lognormal draw -> (median, sigma)
    pool_of: dict[int, dict[str, str]] = {}
    o_lognorm = rng.Stream.lognorm
    o_task, o_work, o_cust = sim.Case.task, sim.Case.work, sim.Case.customer
    o_sys, o_inst = sim.Case.system, sim.Case.instant
    sys_sig = inspect.signature(o_sys)

    def lognorm(self: Any, median: float, sigma: float) -> float:
        x = o_lognorm(self, median, sigma)
        drawn[x] = (median, sigma)
        return x

    def rec(case: Any, seq: int, kind: str, p1: float, p2: float, speed: float, pool: str | None) -> None:
        e = case.events[seq]
        worlds.setdefault(case.w.process, case.w)
        rows.append((case.w.process, case.row.case_id, e.act, kind, p1, p2, speed, pool, e.resource))

    def params(median_min: float, sigma: float, given: float | None) -> tuple[float, float]:
        # a step drawn beforehand (draw=...) takes the parameters of that draw
        return drawn[given] if given is not None else (median_min * 60.0, sigma)

    def pool_of_agent(w: Any, agent_id: str) -> str:
        m = pool_of.setdefault(id(w), {a.id: name for name, p in w.teams.items() for a in p.agents})
        return m[agent_id]

    def task(self: Any, team: str, act: str, median_min: float, sigma: float, **kw: Any) -> Any:
        res = yield from o_task(self, team, act, median_min, sigma, **kw)
        rec(self, res[0], "lognormal", *params(median_min, sigma, kw.get("draw")), res[4].speed, team)
        return res

    def work(self: Any, agent: Any, act: str, median_min: float, sigma: float, **kw: Any) -> Any:
        seq = yield from o_work(self, agent, act, median_min, sigma, **kw)
        p = params(median_min, sigma, kw.get("draw"))
        rec(self, seq, "lognormal", *p, agent.speed, pool_of_agent(self.w, agent.id))
        return seq

    def customer(self: Any, act: str, median_min: float, sigma: float, **kw: Any) -> Any:
        seq = yield from o_cust(self, act, median_min, sigma, **kw)
        rec(self, seq, "lognormal", *params(median_min, sigma, kw.get("draw")), 1.0, None)
        return seq

    def system(self: Any, *a: Any, **kw: Any) -> Any:
        b = sys_sig.bind(self, *a, **kw)
        b.apply_defaults()
        seq = yield from o_sys(self, *a, **kw)
        rec(self, seq, "uniform", b.arguments["lo_s"], b.arguments["hi_s"], 1.0, None)
        return seq

    def instant(self: Any, *a: Any, **kw: Any) -> int:
        seq = o_inst(self, *a, **kw)
        rec(self, seq, "fixed", 0.0, 0.0, 1.0, None)
        return seq

    with pytest.MonkeyPatch.context() as mp:
        if record:
            mp.setattr(rng.Stream, "lognorm", lognorm)
            for name, fn in (
                ("task", task),
                ("work", work),
                ("customer", customer),
                ("system", system),
                ("instant", instant),
            ):
                mp.setattr(sim.Case, name, fn)
        generate_bank(preset, seed=SEED, out_dir=out, remedies="none", formats=("parquet",), jobs=1)
    bank = Bank(out, preset, pd.read_parquet(out / "events.parquet"))
    bank.instances = pd.DataFrame(
        rows, columns=["process", "case_id", "key", "kind", "p1", "p2", "speed", "pool", "resource"]
    )
    bank.teams = {p: {n: list(pool.agents) for n, pool in w.teams.items()} for p, w in worlds.items()}
    return bank


def _fit_all(bank: Bank) -> Bank:
    for p in PROCESSES:
        log = flowlens.read_log(bank.log_of(p).reset_index(drop=True), tz=TZ)
        bank.models[p] = fit_model(log)
    return bank


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Bank:
    from flowlens.synth.presets import custom_preset

    preset = custom_preset("demo", days=28, volume=0.5)
    return _fit_all(_generate(preset, tmp_path_factory.mktemp("bank_small"), record=True))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Bank:
    return _fit_all(_generate("demo", tmp_path_factory.mktemp("bank_demo"), record=False))


def _label(key: str) -> str:
    from flowlens.synth.labels import label

    return label(key, "en", "friendly")


def xfail_for(reasons: dict[str, str]) -> list[Any]:
    """The processes as parameters, those with a known miss marked strict xfail."""
    return [
        pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=reasons[p])) if p in reasons else p
        for p in PROCESSES
    ]


# ---------------------------------------------------------------------------------------
# arrivals
# ---------------------------------------------------------------------------------------
def arrival_table(bank: Bank, process: str) -> dict[str, np.ndarray]:
    """Per weekday × hour cell of the generator's period: the hours of the period in it
    (exposure), the generator's expected arrivals and their Poisson variance, and the
    model's expected arrivals (its intensity times the exposure)."""
    from flowlens.synth.arrivals import hourly_rates
    from flowlens.synth.presets import get_preset

    pre = get_preset(bank.preset)
    rates = hourly_rates(process, pre.start, pre.days, pre.volume)
    extra = np.zeros_like(rates)
    if process == "complaint":  # triggered complaints have no rate: add them as they came
        cases = pd.read_parquet(bank.out / "cases.parquet")
        trig = cases[(cases.process == "complaint") & cases.case_id.str.startswith("CP-X-")].opened_ts
        origin = pd.Timestamp(pre.start).tz_localize(TZ)
        k = ((trig - origin).dt.total_seconds() // 3600).astype(int).to_numpy()
        k = k[(k >= 0) & (k < len(rates))]
        np.add.at(extra, k, 1.0)
    hour = np.arange(len(rates))
    wd, hr = (pre.start.weekday() + hour // 24) % 7, hour % 24
    out = {n: np.zeros((7, 24)) for n in ("exposure", "expected", "variance")}
    np.add.at(out["exposure"], (wd, hr), 1.0)
    np.add.at(out["expected"], (wd, hr), rates + extra)
    np.add.at(out["variance"], (wd, hr), rates)
    out["fitted"] = np.asarray(bank.models[process].arrivals["intensity"]) * out["exposure"]
    return out


def weekday_z(bank: Bank, process: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cases per weekday: fitted, the generator's, and the z-score of the difference."""
    a = arrival_table(bank, process)
    days = a["exposure"].sum(axis=1) / 24
    fit = a["fitted"].sum(axis=1) / days
    true = a["expected"].sum(axis=1) / days
    se = np.sqrt(a["variance"].sum(axis=1)) / days
    return fit, true, (fit - true) / se


def shape_p(bank: Bank, process: str) -> float:
    """p-value of the chi-square test of the fitted weekday × hour counts against the
    generator's rate scaled to the same total (cells merged until each expects ≥ 5)."""
    from scipy import stats

    a = arrival_table(bank, process)
    obs, exp = a["fitted"].ravel(), a["expected"].ravel()  # Monday 00:00 first, in time order
    exp = exp * obs.sum() / exp.sum()
    cells: list[list[float]] = []
    o = e = 0.0
    for x, y in zip(obs, exp, strict=True):
        o, e = o + x, e + y
        if e >= 5:
            cells.append([o, e])
            o = e = 0.0
    if cells and e > 0:
        cells[-1][0] += o
        cells[-1][1] += e
    c = np.asarray(cells)
    chi2 = float(((c[:, 0] - c[:, 1]) ** 2 / c[:, 1]).sum())
    return float(stats.chi2.sf(chi2, len(c) - 2))


NON_STATIONARY = (
    "complaints triggered by other cases keep arriving after the generator's 28 days (85 of 282 "
    "complaints), so the cases' starts span 69 days; fit._arrivals makes one weekly intensity "
    "over that whole span (4.1 cases/day) while the generator's rate in its period is 7.3/day "
    "(z -1.6 to -6.4 per weekday): the model has no level over the period"
)


@pytest.mark.parametrize("process", xfail_for({"complaint": NON_STATIONARY}))
def test_arrivals_per_weekday(small: Bank, process: str) -> None:
    fit, true, z = weekday_z(small, process)
    bad = np.flatnonzero(np.abs(z) > Z_ARRIVALS)
    assert not len(bad), (
        f"{process}: cases per weekday (Mon first) fitted {np.round(fit, 1).tolist()}, generator "
        f"{np.round(true, 1).tolist()}, z {np.round(z, 1).tolist()}"
    )


FIRST_EVENT_LAG = (
    "the log shows when service starts, not when the customer arrived: {share} of the cases' first "
    "event starts more than a minute after the generator's arrival (queues for the first staffed "
    "step, branches and hotlines closed at night), so the fitted weekday x hour shape is that of "
    "first events; lead times are measured from the first event in the log and the simulation alike"
)


@pytest.mark.parametrize(
    "process",
    xfail_for(
        {
            "account_opening": FIRST_EVENT_LAG.format(share="23 %"),
            "card_dispute": FIRST_EVENT_LAG.format(share="35 %"),
            "loan_application": FIRST_EVENT_LAG.format(share="15 %"),
            "complaint": (
                "complaints are not stationary (85 of 282 arrive after the generator's 28 days, "
                "triggered by other cases): since the fit reads arrivals over the central 90 % of "
                "case starts (an extract's edges), the weekday x hour counts of that window no "
                "longer match the generator's rate over its own period (p 5e-7)"
            ),
        }
    ),
)
def test_arrival_weekly_shape(small: Bank, process: str) -> None:
    p = shape_p(small, process)
    assert p >= P_SHAPE, f"{process}: weekday x hour shape differs from the generator's, p = {p:.2g}"


# ---------------------------------------------------------------------------------------
# pools
# ---------------------------------------------------------------------------------------
def pool_table(bank: Bank, process: str) -> pd.DataFrame:
    """Per step done by people: the generator's people (of the pools that did it) and the
    fitted pools' people, and the size of the pool a case's step draws on in both."""
    model = bank.models[process]
    teams = {n: [a.id for a in agents] for n, agents in bank.teams[process].items()}
    inst = bank.instances[(bank.instances.process == process) & bank.instances.pool.notna()]
    rows = []
    for key, g in inst.groupby("key", sort=True):
        act = _label(str(key))
        truth = set().union(*(teams[p] for p in g.pool.unique()))
        shares = model.activities[act].get("pools", {})
        fitted = set().union(*(model.pools[p]["members"] for p in shares)) if shares else set()
        rows.append(
            {
                "activity": act,
                "n": len(g),
                "expected_per_person": len(g) / len(truth),
                "truth": truth,
                "fitted": fitted,
                "size_truth": float(g.pool.map(lambda p: len(teams[p])).mean()),
                "size_fitted": float(sum(s * len(model.pools[p]["members"]) for p, s in shares.items())),
            }
        )
    return pd.DataFrame(rows)


MIXED_PERFORMERS = {
    "account_opening": (
        "'Capture ID Document' and 'Activate Mobile Banking' are a branch teller's steps in branch "
        "cases (374 and 348 instances, 20 tellers) and the customer's own in the app: fewer than "
        "half of their instances have a person, so fit._shares gives them no pool at all (the "
        "model's branch cases do them without a teller)"
    ),
    "loan_application": (
        "'Create Application' is the loan call agents' step in phone applications (201 of 704 "
        "instances, 2 agents) and the customer's own online: fewer than half of its instances have "
        "a person, so fit._shares gives it no pool"
    ),
}


@pytest.mark.parametrize("process", xfail_for(MIXED_PERFORMERS))
def test_pool_members(small: Bank, process: str) -> None:
    t = pool_table(small, process)
    t = t[t.expected_per_person >= MEMBER_MIN_EXPECTED]
    bad = t[t.truth != t.fitted]
    assert bad.empty, "\n".join(
        f"{process} {r.activity}: missing {sorted(r.truth - r.fitted)}, extra {sorted(r.fitted - r.truth)}"
        for r in bad.itertuples()
    )


BRANCHES = (
    "every branch has its own pools (a case is served in one branch by its 1-2 people) but "
    "fit._pools groups people by the set of activities they do, so the {n} branches' {who} make "
    "one pool the model's cases draw on whole: {detail}"
)
POOL_SIZES = {
    "account_opening": BRANCHES.format(
        n=10,
        who="tellers, lobby staff, managers and wealth managers",
        detail="size 10-18 per step where the generator's is 1-2",
    ),
    "card_dispute": (
        "the hotline (cc_card, 1 person) and the branch dispute desk (1) do the same three steps "
        "(Verify Identity, Report Dispute, Capture Details): fit._pools makes them one pool of 2, "
        "so phone cases also draw on the branch desk"
    ),
    "complaint": (
        "the department experts (dept_sme, one pool of 2) are split into two pools of 1: each "
        "one's own starts are not explained by the group's discovered calendar (fit._explaining, "
        "< 80 % inside), so each gets its own hull calendar and fit._pools separates them by "
        "calendar; 'Department Input' then draws on one person per case"
    ),
    "service_issue": BRANCHES.format(
        n=10,
        who="service staff",
        detail="'Handle Request' and 'Verify Identity' draw on 7.0 and 8.2 people per case where "
        "the generator's is 3.3 and 3.2",
    ),
}


@pytest.mark.parametrize("process", xfail_for(POOL_SIZES))
def test_pool_size_per_step(small: Bank, process: str) -> None:
    t = pool_table(small, process)
    t = t[t.size_fitted > 0]  # steps without a pool are test_pool_members' business
    err = (t.size_fitted / t.size_truth - 1).abs()
    bad = t[err > SIZE_TOL]
    assert bad.empty, "\n".join(
        f"{process} {r.activity}: fitted pool size {r.size_fitted:.2f}, generator's {r.size_truth:.2f}"
        for r in bad.itertuples()
    )


# ---------------------------------------------------------------------------------------
# calendars
# ---------------------------------------------------------------------------------------
def _week_hours(cal: Any) -> np.ndarray:
    """7 × 24 booleans: whole hours with at least 30 min on shift (None: always on)."""
    minutes = np.zeros((7, 1440), dtype=bool)
    if cal is None or cal.always_open:
        minutes[:] = True
    else:
        for d, spans in cal.hours.items():
            for a, b in spans:
                hi = 1440 if b == time.max else b.hour * 60 + b.minute
                minutes[d, a.hour * 60 + a.minute : hi] = True
    return minutes.reshape(7, 24, 60).sum(axis=2) >= 30


def calendar_table(bank: Bank, process: str) -> pd.DataFrame:
    """Per fitted pool (``who`` = the pool, the truth the union of its members' shifts) and per
    person (``who`` = the person): precision and recall of the pool's calendar (module
    docstring); ``judged`` is False where the log shows fewer than CAL_MIN_HOURS of the shift."""
    from flowlens.simulation.engine import _calendars
    from flowlens.timing.calendars import CalendarSet

    model = bank.models[process]
    shifts = CalendarSet.from_file(bank.out / "calendars.toml")
    cals = _calendars(model)
    people = {a.id for agents in bank.teams[process].values() for a in agents}
    log = bank.log_of(process)
    start = log.start_ts.dt.tz_convert(TZ)
    starts = pd.DataFrame({"r": log.resource_id, "t": start, "wd": start.dt.weekday, "h": start.dt.hour})
    rows = []
    for name, pool in sorted(model.pools.items()):
        # only the generator's people have shifts (a branch's ticket kiosk is a device)
        members = [m for m in pool["members"] if m in people]
        if not members:
            continue
        fitted = _week_hours(cals.get(pool["calendar"]))
        # a pool of shifts (methods 16.2): each member takes work in their own shift's hours
        own_fitted = {
            m: _week_hours(cals.get(pool.get("member_calendars", {}).get(m, pool["calendar"])))
            for m in members
        }
        s = starts[starts.r.isin(members)]
        weeks = max((s.t.max() - s.t.min()).total_seconds() / (7 * 86400), 1.0)
        seen = np.zeros((7, 24))
        np.add.at(seen, (s.wd.to_numpy(), s.h.to_numpy()), 1.0)
        shown = seen / weeks >= 1.0
        own = {m: _week_hours(shifts.for_resource(m)) for m in members}
        team = np.logical_or.reduce(list(own.values()))
        for who, truth in [(name, team), *own.items()]:
            hours = own_fitted.get(who, fitted)
            can = truth & shown
            rows.append(
                {
                    "who": who,
                    "level": "team" if who == name else "person",
                    "pool": name,
                    "precision": float((hours & truth).sum() / max(hours.sum(), 1)),
                    "recall": float((hours & can).sum() / max(can.sum(), 1)),
                    "judged": bool(can.sum() >= CAL_MIN_HOURS),
                    "fitted_h": int(hours.sum()),
                    "truth_h": int(truth.sum()),
                }
            )
    return pd.DataFrame(rows)


def _calendar_misses(t: pd.DataFrame) -> list[str]:
    t = t[t.judged]
    bad = t[(t.precision < CAL_PRECISION) | (t.recall < CAL_RECALL)]
    return [
        f"{r.who} ({r.pool}): precision {r.precision:.2f}, recall {r.recall:.2f} "
        f"({r.fitted_h} h fitted, {r.truth_h} h on shift a week)"
        for r in bad.itertuples()
    ]


MAKEUP_DAYS = (
    "the make-up working days (a Saturday, 14 Sep, and a Sunday, 29 Sep) are 1 of the log's 4 "
    "weeks, above discovery's 20 % support, and fit discovers calendars without holidays or "
    "extra working days, so their hours become every week's weekend hours"
)
TEAM_CALENDARS = {
    "account_opening": (
        "branch pools: " + MAKEUP_DAYS + " (lobby staff: Sunday 09-16 and Saturday 09-12 fitted, "
        "precision 0.76; wealth managers 0.80; one tellers' pool 0.84)"
    ),
    "complaint": (
        "team lead (CPL-01) and records (REC-01), one-person pools: " + MAKEUP_DAYS + " (Saturday "
        "and Sunday 09-18 fitted: 60 and 58 h a week for a 40 h office shift, precision 0.63/0.67)"
    ),
}
PERSON_CALENDARS = {
    "account_opening": (
        "one calendar for a pool of all 10 branches' staff (fit._pools): the Saturday hours of the "
        "branches open on Saturday, the make-up Sunday and a late-lunch colleague's 12:00 hour are "
        "everybody's (precision 0.69-0.84 for 34 of the 50 branch people)"
    ),
    "card_dispute": (
        "the branch dispute desk (BRD-01, Mon-Fri 09-17) shares a pool with the hotline (CRD-01, "
        "daily 08-15) and, with too little work for a shift of its own, joins the hotline's early "
        "shift (methods 16.2): precision 0.63"
    ),
    "complaint": TEAM_CALENDARS["complaint"],
    "service_issue": (
        "branch staff as in account opening (precision 0.77); the phone agents' early and late "
        "shifts are read as shifts of one pool (methods 16.2) and pass"
    ),
}


@pytest.mark.parametrize("process", xfail_for(TEAM_CALENDARS))
def test_team_calendars(small: Bank, process: str) -> None:
    t = calendar_table(small, process)
    bad = _calendar_misses(t[t.level == "team"])
    assert not bad, f"{process}: " + "; ".join(bad)


@pytest.mark.parametrize("process", xfail_for(PERSON_CALENDARS))
def test_person_calendars(small: Bank, process: str) -> None:
    t = calendar_table(small, process)
    bad = _calendar_misses(t[t.level == "person"])
    assert not bad, f"{process}: " + "; ".join(bad)


# ---------------------------------------------------------------------------------------
# durations
# ---------------------------------------------------------------------------------------
def mixture_median(g: pd.DataFrame) -> tuple[float, float]:
    """The median of the mixture of the instances' distributions and the standard error of a
    sample median of that many draws, 1 / (2 f(m) √n)."""
    from scipy import stats

    kind, p1, p2 = g.kind.to_numpy(), g.p1.to_numpy(dtype=float), g.p2.to_numpy(dtype=float)
    logn, unif = kind == "lognormal", kind == "uniform"
    med = np.where(logn, p1 * g.speed.to_numpy(dtype=float), 1.0)
    sig = np.where(logn, np.maximum(p2, 1e-9), 1.0)
    width = np.where(unif, np.maximum(p2 - p1, 1e-9), 1.0)

    def cdf(x: float) -> float:
        c = np.where(unif, np.clip((x - p1) / width, 0, 1), float(x >= 0))
        if x > 0:
            c = np.where(logn, stats.norm.cdf((math.log(x) - np.log(med)) / sig), c)
        else:
            c = np.where(logn, 0.0, c)
        return float(c.mean())

    def pdf(x: float) -> float:
        f = np.where(logn, stats.norm.pdf((math.log(x) - np.log(med)) / sig) / (x * sig), 0.0)
        return float((f + np.where(unif & (x >= p1) & (x <= p2), 1 / width, 0.0)).mean())

    if cdf(0.0) >= 0.5:
        return 0.0, 0.0
    lo, hi = 0.0, float(max(p2[unif].max(initial=0), (med * np.exp(8 * sig))[logn].max(initial=0))) + 1
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < 0.5 else (lo, mid)
    m = (lo + hi) / 2
    return m, 1 / (2 * pdf(m) * math.sqrt(len(g)))


def duration_table(bank: Bank, process: str) -> pd.DataFrame:
    model = bank.models[process]
    inst = bank.instances[bank.instances.process == process]
    rows = []
    for key, g in inst.groupby("key", sort=True):
        act = _label(str(key))
        truth, se = mixture_median(g)
        fitted = float(draw(model.activities[act]["duration"], np.array([0.5]))[0])
        rows.append({"activity": act, "n": len(g), "truth_s": truth, "se_s": se, "fitted_s": fitted})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("process", PROCESSES)
def test_median_durations(small: Bank, process: str) -> None:
    t = duration_table(small, process)
    assert len(t) == small.log_of(process).activity.nunique()  # every activity has its truth
    t = t[t.n >= MEDIAN_MIN_N]
    bad = t[(t.fitted_s - t.truth_s).abs() > Z_MEDIAN * t.se_s + 1e-3]
    assert bad.empty, "\n".join(
        f"{process} {r.activity}: fitted median {r.fitted_s:.1f} s, generator's {r.truth_s:.1f} s "
        f"± {r.se_s:.1f} (n={r.n})"
        for r in bad.itertuples()
    )


def test_the_recorded_truth_is_the_log(small: Bank) -> None:
    """The recorder saw every event the log has: same count per process and activity."""
    rec = small.instances.assign(activity=small.instances.key.map(_label))
    a = rec.groupby(["process", "activity"]).size()
    b = small.events.groupby(["process", "activity"]).size()
    pd.testing.assert_series_equal(a.sort_index(), b.sort_index(), check_names=False)


# ---------------------------------------------------------------------------------------
# lead time
# ---------------------------------------------------------------------------------------
def lead_times(bank: Bank, process: str) -> tuple[float, list[float], float]:
    """The log's mean lead time (h), the simulated means per seed, and the log mean's
    standard error (h)."""
    log = bank.log_of(process)
    g = log.groupby("case_id")
    real = (g.end_ts.max() - g.start_ts.min()).dt.total_seconds() / 3600
    start = log.start_ts.min().tz_convert(TZ)
    sims = []
    for seed in LEAD_SEEDS:
        f = simulate(bank.models[process], cases=len(real), start=start, seed=seed)
        sg = f.groupby("case_id")
        sims.append(float(((sg.end_time.max() - sg.start_time.min()).dt.total_seconds() / 3600).mean()))
    return float(real.mean()), sims, float(real.std() / math.sqrt(len(real)))


LEAD_MISSES = {
    "account_opening": (
        "-5.6 % (22.8 h ± 1.0 in the log, 21.5 simulated; was -55 % before the fit kept the "
        "waiting after the clock stop and fitted delays per context): the branch steps' people "
        "of all 10 branches are one pool (see test_pool_size_per_step), so a branch case's "
        "queue is shorter than in its own branch"
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("process", xfail_for(LEAD_MISSES))
def test_mean_lead_time(demo: Bank, process: str) -> None:
    """About 60 s for the five processes (the demo bank: 11 s to generate, 30 s to fit)."""
    real, sims, se = lead_times(demo, process)
    err = float(np.mean(sims)) / real - 1
    assert abs(err) <= LEAD_TOL, (
        f"{process}: simulated mean lead time {np.mean(sims):.1f} h (seeds {np.round(sims, 1).tolist()}), "
        f"the log's {real:.1f} h ± {se:.1f}: {100 * err:+.1f} %"
    )
