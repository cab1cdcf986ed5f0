"""Pieces several processes share: background work, branch set-up, phone queues."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowlens.synth.calendars import HOUR
from flowlens.synth.rng import Stream, named_stream
from flowlens.synth.sim import Case, Gen, World
from flowlens.synth.teams import TeamPool, TeamSpec, build_agents

#: Hourly shape of walk-in and internal work (local hours 0-23).
WORK_SHAPE = [0, 0, 0, 0, 0, 0, 0, 0, 0.3, 1.2, 1.4, 1.3, 1.5, 1.2, 1.1, 1.2, 1.0, 0.7, 0.3, 0, 0, 0, 0, 0]


@dataclass(frozen=True)
class Background:
    """How background work appears in ``background_events.parquet``: a case of ``process``
    with an instant ``arrival`` event by ``source`` (the system that queues the work), then
    the ``work`` event by the person who did it."""

    process: str
    arrival: str
    source: str
    work: str


#: Background work by kind (the README of the generated data describes each).
BACKGROUND = {
    "aml_alert": Background("aml_alert", "alert_generated", "SYS-TM", "review_alert"),
    "counter": Background(
        "counter_transaction", "counter_ticket_issued", "KIOSK", "serve_counter_transaction"
    ),
    "department": Background("department_work", "task_assigned", "SYS-WORKFLOW", "department_task"),
    "duty": Background("internal_work", "task_assigned", "SYS-WORKFLOW", "internal_task"),
}


def background(
    world: World,
    pool: TeamPool,
    rate_per_hour: float,
    median_min: float,
    sigma: float,
    stream: Stream,
    *,
    priority: int = 1,
    kind: str,
) -> None:
    """Work outside the five customer processes (cash business at a counter, a department's
    own tasks, transaction-monitoring alerts): it uses the same people and so makes the
    logged cases wait, as in a real bank. Each job is recorded (``world.background``) and
    written to ``background_events.parquet``, as the bank's other systems would show it.

    Arrivals are Poisson with an hourly-shaped rate while the team's calendar is open,
    generated hour by hour (no thinning rejections)."""
    env = world.env
    cal = pool.agents[0].cal if pool.agents else None
    spec = BACKGROUND[kind]
    if ":" in pool.name:  # a branch pool: the branch's own kiosk issues the tickets
        spec = Background(spec.process, spec.arrival, f"{pool.name.split(':')[1]}-KIOSK", spec.work)

    def job(dur: float) -> Gen:
        t_arr = env.now
        req = pool.request(priority=priority, preempt=False)
        agent = yield req
        t0 = env.now
        yield env.timeout(dur * agent.speed)
        pool.release(req)
        world.background.append((spec, t_arr, t0, env.now, agent.id, agent.team))

    def source() -> Gen:
        t_hour = 0.0
        while t_hour < world.horizon:
            rate = rate_per_hour * WORK_SHAPE[int(t_hour % 86400 // HOUR)]
            if rate > 0 and (cal is None or cal.is_open(t_hour + 1800.0)):
                t = t_hour + stream.expovariate(rate / HOUR)
                while t < t_hour + HOUR:
                    if t > env.now:
                        yield env.timeout(t - env.now)
                    env.process(job(stream.lognorm(median_min * 60.0, sigma)))
                    t += stream.expovariate(rate / HOUR)
            t_hour += HOUR
            if cal is not None and not cal.is_open(t_hour + 1800.0):
                nxt = cal.next_open(t_hour)
                if nxt == float("inf"):
                    return
                t_hour = max(t_hour, (nxt // HOUR) * HOUR)

    env.process(source())


def add_branch_teams(
    world: World,
    name: str,
    spec_per_branch: list[tuple[str, int]],
    prefix: str,
    *,
    key: int,
    meetings: float = 0.0,
) -> None:
    """One pool per branch (``name:BR07``); 30% of branches open on Saturdays."""
    for b in range(1, world.n_branches + 1):
        stream = named_stream(world.seed, key, b)
        sat = stream.random() < 0.30
        spec = TeamSpec(
            f"{name}", tuple(spec_per_branch), f"BR{b:02d}-{prefix}", meetings=meetings, saturday=sat
        )
        agents = build_agents(spec, world.start, world.daycal.days, 1.0, stream, scale=False)
        world.add_team(f"{name}:BR{b:02d}", agents)


def phone_queue(case: Case, team: str, patience_s: float | None) -> Gen:
    """Queue for an agent; return (agent, request, t_req) or (None, None, t_req) on abandon."""
    env = case.env
    pool = case.w.teams[team]
    t_req = env.now
    req = pool.request(priority=case.priority, preempt=False)
    if patience_s is None:
        agent = yield req
        req.en_log = case.enabled_now()
        return agent, req, t_req
    timeout = env.timeout(patience_s)
    res = yield req | timeout
    if req in res:
        req.en_log = case.enabled_now()
        return res[req], req, t_req
    req.cancel()
    if req.triggered:  # granted at the very instant patience ran out: take the call
        pool.release(req)
    return None, None, t_req


def attrs(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}
