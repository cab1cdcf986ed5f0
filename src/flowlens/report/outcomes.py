"""How cases end: the funnel of milestones, the outcomes, and lead time per outcome (methods 18.6).

A board reads a process by what happens to its cases: how many reach each milestone, how
many end with each outcome and how long each outcome takes. A case answered within a minute
of its first step (an automatic decline) is no case a person waited on: it is counted apart,
not averaged into the lead time of the others.

* **Outcome steps** are :mod:`flowlens.analysis.step_roles`' outcomes (the case ends with
  them). Outcome steps whose cases agree at ``SAME_OUTCOME`` or more (Jaccard) are one outcome,
  named by their steps in the order they come (BPIC 2012's ``A_APPROVED``,
  ``A_REGISTERED``, ``A_ACTIVATED`` and ``O_ACCEPTED``). A case's outcome is the one of its
  last outcome step; a case with none has "no outcome recorded" (still open, or abandoned).
* **Milestones**: steps that are no outcome and no way in (the first step of 99 % of the cases
  that take them), done at most once in (99 % of) the cases that take them, by at least
  ``MIN_MILESTONE_SHARE`` of the cases. The **funnel** is the chain of
  milestones, from every case (with the milestones nearly every case takes), the most frequent
  first, each taken by a subset (99 %) of the previous one's cases and by at most
  ``1 - MIN_DROP`` of them (steps with the same cases are one stage), then
  the most frequent outcome whose cases are a subset of the last stage's (and fewer).
* **Instant cases**: customer lead time under ``INSTANT_S``.

>>> import flowlens, pandas as pd
>>> from flowlens.timing.model import time_model
>>> rows = []
>>> for c in range(40):
...     d = pd.Timestamp("2024-01-01 09:00") + pd.Timedelta(days=c)
...     end = "Approve" if c % 2 else "Decline"
...     rows += [(c, "Apply", d), (c, "Review", d + pd.Timedelta(hours=3)),
...              (c, end, d + pd.Timedelta(hours=5 if c % 4 else 0, seconds=1 + c))]
>>> tm = time_model(flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "timestamp"])))
>>> o = case_outcomes(tm, {"Approve", "Decline"})
>>> [(x.name, x.cases, x.instant) for x in o.outcomes]
[('Approve', 20, 0), ('Decline', 20, 0)]
>>> [(s.steps, s.cases) for s in o.funnel]
[(('Review',), 40), (('Approve',), 20)]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import ibis

    from flowlens.timing.model import TimeModel

#: A case whose customer lead time is under this (seconds) was answered without anyone
#: working on it or waiting for it: an automatic answer, counted apart.
INSTANT_S = 60.0
#: Outcome steps whose case sets agree this much (Jaccard) are one outcome.
SAME_OUTCOME = 0.95
#: A milestone is taken by at least this share of the cases.
MIN_MILESTONE_SHARE = 0.05
#: A funnel stage keeps at most this share of the previous stage's cases (else it is no drop).
MIN_DROP = 0.01
#: "At most once", "a subset": true for this share of the cases.
ALMOST_ALL = 0.99
#: No outcome recorded (the case has no outcome step).
NONE = ""


@dataclass(frozen=True)
class Stage:
    """One stage of the funnel: the milestone steps (same cases) and the cases reaching it."""

    steps: tuple[str, ...]
    cases: int


@dataclass(frozen=True)
class Outcome:
    """One way cases end, with its lead time (the instant cases left out of the percentiles)."""

    #: the outcome's name (its steps, in the order they come), "" for no outcome recorded
    name: str
    steps: tuple[str, ...]
    cases: int
    share: float
    #: cases of this outcome answered within INSTANT_S
    instant: int
    #: median and 90th percentile customer lead time of its other cases (None: all instant)
    lead_median_s: float | None
    lead_p90_s: float | None
    process: str | None = None


@dataclass(frozen=True)
class Outcomes:
    """The funnel, the outcomes and the instant cases of a log (or of each process)."""

    cases: int
    instant: int
    #: median and 90th percentile of the cases that are not instant
    lead_median_s: float | None
    lead_p90_s: float | None
    funnel: tuple[Stage, ...]
    outcomes: tuple[Outcome, ...]
    #: per process (multi-process logs): its funnel
    funnels: Mapping[str, tuple[Stage, ...]] = field(default_factory=dict)
    #: case id -> outcome name, for the levers' trade-offs
    by_case: pd.Series | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "instant_s": INSTANT_S,
            "cases": self.cases,
            "instant": self.instant,
            "lead_median_s": self.lead_median_s,
            "lead_p90_s": self.lead_p90_s,
            "funnel": [asdict(s) for s in self.funnel],
            "funnels": {p: [asdict(s) for s in f] for p, f in sorted(self.funnels.items())},
            "outcomes": [asdict(o) for o in self.outcomes],
        }


def _quantiles(v: np.ndarray) -> tuple[float | None, float | None]:
    if not v.size:
        return None, None
    return float(np.median(v)), float(np.quantile(v, 0.9))


class _Cases:
    """Sets of cases as boolean masks over the distinct case profiles (outcome, process and
    which of the steps looked at each case took), each profile weighted by its cases: the
    set sizes of the funnel are sums of weights, with no per-case Python objects."""

    def __init__(self, weights: np.ndarray) -> None:
        self.w = weights

    def size(self, s: np.ndarray) -> int:
        return int(self.w[s].sum())


def _merge_outcomes(cs: _Cases, sets: Mapping[str, np.ndarray], order: Mapping[str, float]) -> dict[str, str]:
    """Outcome step -> its outcome's name (steps with nearly the same cases are one outcome,
    named by the step that comes first in them, on average)."""
    names = sorted(sets, key=lambda a: (-cs.size(sets[a]), a))
    group: dict[str, str] = {}
    heads: list[list[str]] = []
    for a in names:
        for h in heads:
            s, t = sets[h[0]], sets[a]
            if cs.size(s & t) >= SAME_OUTCOME * cs.size(s | t):
                h.append(a)
                break
        else:
            heads.append([a])
    for h in heads:
        name = " / ".join(sorted(h, key=lambda a: (order[a], a)))
        for a in h:
            group[a] = name
    return group


def _funnel(
    cs: _Cases, sets: Mapping[str, np.ndarray], every: np.ndarray, outcomes: Mapping[str, np.ndarray]
) -> tuple[Stage, ...]:
    """The chain of nested milestones that are no outcome (module docstring), then the most
    frequent outcome reached from its last stage; from the case sets of the milestones and of
    the outcomes."""
    size = cs.size
    names = sorted(sets, key=lambda a: (-size(sets[a]), a))
    cases = size(every)
    # the first stage is every case (with the milestones every case takes)
    stages: list[tuple[list[str], np.ndarray]] = [([], every)]

    def nested(s: np.ndarray) -> bool:
        return not stages or size(s & stages[-1][1]) >= ALMOST_ALL * size(s)

    for a in names:
        s = sets[a]
        n = size(s)
        if n < MIN_MILESTONE_SHARE * cases:
            break
        if not nested(s):
            continue  # another branch, not a stage of this chain
        if stages and n > (1 - MIN_DROP) * size(stages[-1][1]):
            steps, prev = stages[-1]
            if size(s ^ prev) <= (1 - ALMOST_ALL) * size(prev):
                steps.append(a)  # the same cases: one stage
            continue
        stages.append(([a], s))
    ends = sorted(outcomes, key=lambda a: (-size(outcomes[a]), a))
    for a in ends:
        last = size(stages[-1][1]) if stages else cases
        n = size(outcomes[a])
        drop = n <= (1 - MIN_DROP) * last
        if n and nested(outcomes[a]) and drop and n >= MIN_MILESTONE_SHARE * cases:
            stages.append(([a], outcomes[a]))
            break
    return tuple(Stage(tuple(steps), size(s)) for steps, s in stages)


#: bits of a case's step mask held in one 64-bit integer (kept clear of the sign bit)
_BITS = 62


def case_outcomes(
    tm: TimeModel, outcome_steps: Iterable[str], *, processes: pd.DataFrame | None = None
) -> Outcomes:
    """The funnel, outcomes and instant cases of ``tm``'s log (module docstring); with
    ``processes`` (case_id, process) outcomes and funnels are per process."""
    from flowlens.timing.enablement import drop_tables

    inst = tm.instances
    steps = sorted(set(outcome_steps))
    c = tm.cases.select("case_idx", "case_id", lead=tm.cases.customer_lead_us / 1e6).to_pandas()
    c = c.sort_values("case_idx", kind="stable").reset_index(drop=True)
    # One row per case and step, stored once: every count below reads it, and its aggregate
    # over all instances is the one large hash table here (at 10^8 events it does not fit a
    # 6 GB limit in one piece; the engine computes a stored table slice by slice of cases).
    per = tm.log.engine.materialize(
        inst.group_by(["case_idx", "activity"]).aggregate(
            n=inst.count(), pos=inst.pos.min(), last_pos=inst.pos.max()
        ),
        prefix="fl_case_steps",
    )
    try:
        return _outcomes(per, c, steps, processes)
    finally:
        drop_tables(tm.log, per)


def _outcomes(per: ibis.Table, c: pd.DataFrame, steps: list[str], processes: pd.DataFrame | None) -> Outcomes:
    """:func:`case_outcomes` from the stored (case, step) table ``per`` (occurrences, first
    and last position) and the cases ``c`` (case_idx, case_id, lead in seconds)."""
    import ibis

    once = per.group_by("activity").aggregate(
        cases=per.count(), once=(per.n == 1).cast("int64").sum(), first=(per.pos == 0).cast("int64").sum()
    )
    once = once.to_pandas()
    # a step that opens (99 % of) the cases taking it is a way in (a complaint received, or
    # referred by the regulator), not a stage cases drop out before
    ms = once.activity[(once.once >= ALMOST_ALL * once.cases) & (once.first < ALMOST_ALL * once.cases)]
    ms = sorted(ms.astype(str))
    # Which of the milestones and outcome steps each case took, as bits of a few integers
    # per case, counted in the engine (one row per case, not one per case and step).
    looked = sorted(set(ms) | set(steps))
    bit = {a: (i // _BITS, i % _BITS) for i, a in enumerate(looked)}
    words = [f"fl_w{k}" for k in range(-(-len(looked) // _BITS))]
    if looked:
        bm = ibis.memtable(
            pd.DataFrame(
                {
                    "b_act": looked,
                    "b_word": [bit[a][0] for a in looked],
                    "b_val": [1 << bit[a][1] for a in looked],
                }
            )
        )
        j = per.join(bm, per.activity == bm.b_act)
        masks = j.group_by("case_idx").aggregate(
            **{w: j.b_val.sum(where=j.b_word == k).fill_null(0).cast("int64") for k, w in enumerate(words)}
        )
        c = c.merge(masks.to_pandas(), on="case_idx", how="left")
        c[words] = c[words].fillna(0).astype("int64")
        # the mean (over its cases) of the first position of each outcome step, exactly as a
        # float mean of the integer positions: an integer sum and count from the engine
        st = j.filter(j.b_act.isin(steps or ["\x00"]))
        st = st.group_by("b_act").aggregate(k=st.count(), s=st.pos.sum()).to_pandas()
        order = {str(r.b_act): float(r.s) / float(r.k) for r in st.itertuples(index=False)}
    else:
        order = {}
    # a case's outcome: the outcome of its last outcome step (positions are unique in a case)
    outs = per.filter(per.activity.isin(steps or ["\x00"]))
    last = outs.group_by("case_idx").aggregate(activity=outs.activity.argmax(outs.last_pos)).to_pandas()
    proc_of = None
    if processes is not None:
        proc_of = (
            c["case_id"]
            .astype(str)
            .map(dict(zip(processes.case_id.astype(str), processes.process.astype(str), strict=False)))
        )
    c["process"] = proc_of if proc_of is not None else ""
    # the distinct profiles of the cases (process and steps taken), weighted by their cases
    prof = c.groupby(["process", *words], sort=True).size().reset_index(name="fl_n")
    cs = _Cases(prof.fl_n.to_numpy(dtype=np.int64))

    def took(a: str) -> np.ndarray:
        k, b = bit[a]
        return ((prof[words[k]].to_numpy() >> b) & 1).astype(bool)

    step_sets = {a: took(a) for a in steps if cs.size(took(a))}
    group = _merge_outcomes(cs, step_sets, order) if steps else {}
    last["outcome"] = last.activity.astype(str).map(group)
    c = c.merge(last[["case_idx", "outcome"]], on="case_idx", how="left")
    c["outcome"] = c["outcome"].fillna(NONE)
    c["instant"] = c["lead"] < INSTANT_S
    members: dict[str, list[str]] = {}
    for a, g in sorted(group.items()):
        members.setdefault(g, []).append(a)
    rows = []
    for (p, name), g in c.groupby(["process", "outcome"], sort=True):
        slow = g.loc[~g.instant, "lead"].to_numpy(dtype=float)
        med, p90 = _quantiles(slow)
        total = int((c.process == p).sum())
        rows.append(
            Outcome(
                name=str(name),
                steps=tuple(members.get(str(name), [])),
                cases=len(g),
                share=len(g) / total if total else 0.0,
                instant=int(g.instant.sum()),
                lead_median_s=med,
                lead_p90_s=p90,
                process=str(p) if processes is not None else None,
            )
        )
    # per process, the most frequent outcome first; "no outcome recorded" last
    rows.sort(key=lambda o: (o.process or "", o.name == NONE, -o.cases, o.name))
    # the outcome's cases (those whose last outcome step is one of it), for the funnel's end
    prof = c.groupby(["process", "outcome", *words], sort=True).size().reset_index(name="fl_n")
    cs = _Cases(prof.fl_n.to_numpy(dtype=np.int64))
    ends = {str(k): (prof.outcome == k).to_numpy() for k in sorted(set(prof.outcome) - {NONE})}
    sets = {a: took(a) for a in ms if a not in steps}
    sets = {a: s for a, s in sets.items() if cs.size(s)}
    funnels: dict[str, tuple[Stage, ...]] = {}
    if processes is not None:
        for p in sorted(set(prof.process)):
            ids = (prof.process == p).to_numpy()
            sub = {a: s & ids for a, s in sets.items() if cs.size(s & ids)}
            funnels[str(p)] = _funnel(cs, sub, ids, {a: s & ids for a, s in ends.items()})
    med, p90 = _quantiles(c.loc[~c.instant, "lead"].to_numpy(dtype=float))
    return Outcomes(
        cases=len(c),
        instant=int(c.instant.sum()),
        lead_median_s=med,
        lead_p90_s=p90,
        funnel=_funnel(cs, sets, np.ones(len(prof), dtype=bool), ends) if processes is None else (),
        outcomes=tuple(rows),
        funnels=funnels,
        by_case=c.set_index(c.case_id.astype(str))["outcome"],
    )


__all__ = ["INSTANT_S", "Outcome", "Outcomes", "Stage", "case_outcomes"]
