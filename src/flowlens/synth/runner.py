"""Running one process: build its world, feed arrivals, stream finished cases to disk.

The environment runs in chunks of simulated days; after each chunk the cases that have finished
are converted to Arrow and appended to the process's part file, so memory holds only open cases
(the ``large`` preset streams this way). Team statistics are kept as compact arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flowlens.synth.calendars import DAY
from flowlens.synth.customers import CustomerIndex
from flowlens.synth.processes import MODULES
from flowlens.synth.rng import case_streams
from flowlens.synth.sim import Case, CaseRow, Switches, World
from flowlens.synth.waits import prune
from flowlens.synth.writer import EventSink

RUN_OUT_DAYS = 150  # calendars extend this far past the window so every case can finish
PRUNE_DAYS = 60  # busy periods kept for the ground truth (longer than any staff queue wait)


@dataclass(slots=True)
class Arrival:
    """One case to start: its time, id, stream key, and preset attributes (complaints)."""

    t: float
    case_id: str
    key: tuple[str, int, int]
    customer: int | None = None
    fixed: dict[str, Any] | None = None


@dataclass
class ProcessRun:
    process: str
    cases: int
    team_waits: dict[str, np.ndarray]
    utilisation: dict[str, float]
    team_sizes: dict[str, int]
    events: int
    part: Path
    extra: dict[str, Any] = field(default_factory=dict)


def run_process(
    process: str,
    arrivals: list[Arrival],
    *,
    seed: int,
    start: Any,
    days: int,
    volume: float,
    switches: Switches,
    customers: CustomerIndex,
    n_branches: int,
    params: dict[str, Any],
    sink: EventSink,
    chunk_days: int,
    on_chunk: Callable[[int], None] | None = None,
) -> ProcessRun:
    """Simulate every case of ``process``; events go to ``sink``, the rest is returned."""
    mod = MODULES[process]
    prefix = {
        "account_opening": "AO",
        "loan_application": "LN",
        "card_dispute": "CD",
        "complaint": "CP",
        "service_issue": "SI",
    }[process]
    horizon_days = days + RUN_OUT_DAYS
    w = World(
        process=process,
        prefix=prefix,
        seed=seed,
        start=start,
        days=days,
        horizon_days=horizon_days,
        volume=volume,
        switches=switches,
        customers=customers,
        n_branches=n_branches,
        params=params,
    )
    mod.setup(w)
    for pool in w.teams.values():
        pool.window_end = days * DAY
    env = w.env

    def start_case(a: Arrival) -> None:
        streams = case_streams(seed, a.key[0], a.key[1], a.key[2])
        if a.customer is None:
            ci = customers.pick(streams.route.random())
        else:
            ci = a.customer
            streams.route.random()  # keep the stream aligned with independent cases
        reason, channel, product = mod.case_setup(w, streams, ci, a.t)
        if a.fixed:
            reason = a.fixed.get("reason", reason)
            channel = a.fixed.get("channel", channel)
            product = a.fixed.get("product", product)
        row = CaseRow(a.case_id, process, ci, product, customers.segment[ci], channel, reason, a.t)
        case = Case(w, row, streams)
        if a.fixed:
            row.severity = a.fixed.get("severity")

        def proc() -> Any:
            yield from mod.run_case(w, case, a.t)
            if not row.closed:
                row.closed = env.now
            w.finish(case)

        env.process(proc())

    def source() -> Any:
        for a in arrivals:
            if a.t > env.now:
                yield env.timeout(a.t - env.now)
            start_case(a)

    env.process(source())
    total = 0
    t_chunk = float(chunk_days) * DAY
    k = 0
    while True:
        k += 1
        until = k * t_chunk
        if until > horizon_days * DAY:
            env.run()
        else:
            env.run(until=until)
        ev, gt, cases = w.take_done()
        total += sink.add(ev, gt, cases, process)
        for agent in w.agents.values():  # busy periods older than any wait still open
            prune(agent, env.now - PRUNE_DAYS * DAY)
        if on_chunk is not None:
            on_chunk(k)
        if until > horizon_days * DAY or (not env._queue):
            break
    ev, gt, cases = w.take_done()
    total += sink.add(ev, gt, cases, process)
    sink.close_process(process)
    meetings = [(a.id, a.team, m0, m1) for a in w.agents.values() for m0, m1 in a.meeting_times()]
    background = sink.write_background(
        process, prefix, w.background, meetings, sink.last_end.get(process, 0.0)
    )
    w.background = []
    calendars = {a.id: a.cal_key for a in w.agents.values()}
    waits = {
        name: np.frombuffer(p.waits, dtype=np.float64).reshape(-1, 3).copy() for name, p in w.teams.items()
    }
    util = {name: p.utilisation(days * DAY) for name, p in w.teams.items()}
    sizes = {name: len(p.agents) for name, p in w.teams.items()}
    if w.open_cases:
        raise RuntimeError(f"{w.open_cases} {process} cases never finished")  # pragma: no cover
    return ProcessRun(
        process,
        sink.case_counts.get(process, 0),
        waits,
        util,
        sizes,
        total,
        sink.part_path(process),
        extra={"calendars": calendars, "background_events": background},
    )
