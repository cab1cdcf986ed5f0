"""The simulation core shared by the five processes: switches, the per-process world, cases.

One :class:`World` is one SimPy environment running one process with its own teams. Cases are
SimPy processes (generators) that call the helpers of :class:`Case`: ``task`` (queue for a team,
then work at the person's speed), ``system`` (an automatic step), ``customer`` (the customer
acting), ``instant`` and ``customer_wait`` (extraneous waiting, clipped to waking hours). Every
helper records the event; wastes, bottlenecks and decoys are recorded in the ground truth at the
point of injection, with the events they concern.

Remedies are :class:`Switches`; process code always draws its random numbers *before* looking
at a switch, so a switched-off step does not shift the numbers later steps of the case use.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import simpy

from flowlens.synth.calendars import DAY, Calendar, DayCalendar, waking
from flowlens.synth.customers import CustomerIndex
from flowlens.synth.rng import CaseStreams, Stream
from flowlens.synth.teams import Agent, TeamPool
from flowlens.synth.truth import MECHANISM
from flowlens.synth.waits import add_splits, enabled_time, split_wait

Gen = Generator[Any, Any, Any]


@dataclass(frozen=True)
class Switches:
    """Model switches; the defaults are the as-is bank, remedies flip some of them."""

    warm_transfer: bool = False  # W9: warm transfers pass context
    bot_context_handover: bool = False  # W8: chatbot handoff always passes context
    second_approval: bool = True  # W6: P2 second underwriter, P4 second approval
    low_risk_supervisor_auth: bool = True  # W6: P1 supervisor sign-off for low risk
    aml_batching: bool = True  # B2
    aml_extra_reviewers: int = 0  # B1
    shared_application_data: bool = False  # W2: branch sees the app application (no re-entry)
    redundant_verification: bool = True  # W1
    ask_held_data: bool = True  # W2 in P3/P4 (and Art. 13)
    remote_id: bool = False  # W3: video ID instead of a branch trip
    incomplete_first_p: float = 0.35  # W4 (P2); P1 loop probability scales with it
    misrouting: bool = True  # W5
    contact_defects: bool = True  # W7
    bot_misunderstanding: bool = True  # W8 doom loops
    wait_user_misuse: bool = True  # W10
    followup_cap: int | None = None  # W11
    chargeback_batching: bool = True  # B2 (P3)
    vip_priority: bool = True  # B4


@dataclass(slots=True)
class EventRec:
    seq: int
    act: str
    start: float
    end: float
    resource: str | None
    team: str
    channel: str
    system: str
    contact: str | None
    lifecycle: str
    attrs: dict[str, Any] | None
    #: recorded by a side branch of the case (a provisional credit, a holding response, an
    #: agent's wrap-up while the caller queues on): never the step that enables the next one
    side: bool = False


@dataclass(slots=True)
class GTRec:
    kind: str
    code: str
    case_id: str
    event_seqs: list[int]
    activity: str
    resource: str | None
    team: str | None
    customer_time_s: float
    staff_time_s: float
    wait_time_s: float
    removable: str
    regulatory_required: bool
    cause: str
    remedy: str | None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class CaseRow:
    case_id: str
    process: str
    customer: int
    product: str
    segment: str
    origin_channel: str
    reason: str
    opened: float
    closed: float = 0.0
    outcome: str = ""
    sla_deadline: float | None = None
    sla_met: bool | None = None
    complaint_category: str | None = None
    severity: str | None = None
    amount: float | None = None
    # effort components (domain.md 6.7)
    contacts: int = 1
    channels: set[str] = field(default_factory=set)
    verifications: int = 0
    re_entries: int = 0
    branch_trips: int = 0
    transfers: int = 0
    holds: int = 0
    customer_wait_s: float = 0.0
    unfavourable: bool = False
    sla_breached: bool = False
    codes: set[str] = field(default_factory=set)


class World:
    """One process's SimPy environment, teams and recorders."""

    def __init__(
        self,
        *,
        process: str,
        prefix: str,
        seed: int,
        start: date,
        days: int,
        horizon_days: int,
        volume: float,
        switches: Switches,
        customers: CustomerIndex,
        n_branches: int,
        params: dict[str, Any],
    ) -> None:
        self.env = simpy.Environment()
        self.process = process
        self.prefix = prefix
        self.seed = seed
        self.start = start
        self.days = days
        self.horizon = horizon_days * DAY
        self.volume = volume
        self.sw = switches
        self.customers = customers
        self.n_branches = n_branches
        self.params = params
        self.daycal = DayCalendar(start, horizon_days)
        self.teams: dict[str, TeamPool] = {}
        self.agents: dict[str, Agent] = {}
        self.calendars: dict[str, Calendar] = {}
        #: background work the log shows as cases of its own (:func:`processes.common.background`)
        self.background: list[tuple[Any, ...]] = []
        self.done_events: list[tuple[str, EventRec]] = []
        self.done_gt: list[GTRec] = []
        self.cases: list[CaseRow] = []
        self.open_cases = 0

    def add_team(self, name: str, agents: list[Agent]) -> TeamPool:
        pool = TeamPool(self.env, name, agents)
        self.teams[name] = pool
        for a in agents:
            self.agents[a.id] = a
        return pool

    def finish(self, case: Case) -> None:
        self.done_events.extend((case.row.case_id, e) for e in case.events)
        self.done_gt.extend(case.gt)
        self.cases.append(case.row)
        case.events = []
        case.gt = []
        self.open_cases -= 1

    def take_done(self) -> tuple[list[tuple[str, EventRec]], list[GTRec], list[CaseRow]]:
        ev, gt, cases = self.done_events, self.done_gt, self.cases
        self.done_events, self.done_gt, self.cases = [], [], []
        return ev, gt, cases


class Case:
    """A running case: its streams, its customer, its events and ground truth."""

    def __init__(self, world: World, row: CaseRow, streams: CaseStreams) -> None:
        self.w = world
        self.env = world.env
        self.row = row
        self.r: CaseStreams = streams
        self.events: list[EventRec] = []
        self.gt: list[GTRec] = []
        seg = row.segment
        self.vip = seg in ("vip", "private")
        self.priority = 0 if (self.vip and world.sw.vip_priority) else 1
        self.contact: str | None = None
        self.channel = row.origin_channel
        world.open_cases += 1

    @property
    def now(self) -> float:
        return self.env.now

    # --- recording ------------------------------------------------------------------------
    def ev(
        self,
        act: str,
        start: float,
        end: float,
        resource: str | None,
        team: str,
        channel: str | None = None,
        system: str = "CORE",
        *,
        lifecycle: str = "complete",
        attrs: dict[str, Any] | None = None,
        contact: str | bool | None = True,
        side: bool = False,
    ) -> int:
        seq = len(self.events)
        c = self.contact if contact is True else (contact or None)
        self.events.append(
            EventRec(
                seq,
                act,
                start,
                end,
                resource,
                team,
                channel or self.channel,
                system,
                c,
                lifecycle,
                attrs,
                side,
            )
        )
        return seq

    def enabled_now(self) -> float:
        """The log-visible enabled time of a step starting now (see :mod:`waits`)."""
        now = self.env.now
        best = None
        for x in self.events:
            if x.end <= now and (best is None or x.end > best):
                best = x.end
        return now if best is None else best

    def wait_split(self, seq: int, holds: list[tuple[float, float]] = ()) -> dict[str, float]:
        """The ground-truth split of the event's log-visible waiting (:mod:`waits`)."""
        e = self.events[seq]
        en = enabled_time(self.events, seq)
        agent = self.w.agents.get(e.resource) if e.resource else None
        return split_wait(en, e.start, agent, holds)

    def truth(
        self,
        kind: str,
        code: str,
        seqs: list[int],
        *,
        removable: str = "yes",
        regulatory: bool = False,
        cause: str,
        remedy: str | None,
        customer_s: float = 0.0,
        staff_s: float = 0.0,
        wait_s: float = 0.0,
        team: str | None = None,
        causes: tuple[str, ...] | None = None,
        holds: list[tuple[float, float]] = (),
        **params: Any,
    ) -> None:
        """Record a ground-truth row. Bottleneck and decoy rows carry the split of their
        events' log-visible waiting (``params["wait_split_s"]``, :mod:`waits`); for a
        bottleneck, ``causes`` names the causes its mechanism produces and ``wait_time_s``
        becomes their part of that waiting."""
        acts = [self.events[s] for s in seqs]
        first = acts[0] if acts else None
        if kind == "bottleneck" and causes is None:
            causes = MECHANISM.get(code)
        if kind in ("bottleneck", "decoy"):
            split = add_splits(self.wait_split(s, holds) for s in seqs)
            params["wait_split_s"] = {k: round(v, 3) for k, v in split.items()}
            params["waiting_s"] = round(sum(split.values()), 3)
            if causes is not None:
                params["mechanism_causes"] = list(causes)
                wait_s = sum(split[k] for k in causes)
        self.gt.append(
            GTRec(
                kind,
                code,
                self.row.case_id,
                list(seqs),
                first.act if first else "",
                first.resource if first else None,
                team or (first.team if first else None),
                round(customer_s, 3),
                round(staff_s, 3),
                round(wait_s, 3),
                removable,
                regulatory,
                cause,
                remedy,
                params,
            )
        )
        if kind == "waste":
            self.row.codes.add(code)
        for s in seqs:
            e = self.events[s]
            hint = dict(e.attrs or {})
            hint.setdefault("gt", [])
            if code not in hint["gt"]:
                hint["gt"] = [*hint["gt"], code]
            e.attrs = hint

    # --- helpers (generators) ---------------------------------------------------------------
    def task(
        self,
        team: str,
        act: str,
        median_min: float,
        sigma: float,
        *,
        channel: str | None = None,
        system: str = "CRM",
        priority: int | None = None,
        attrs: dict[str, Any] | None = None,
        hold: bool = False,
        draw: float | None = None,
    ) -> Gen:
        """Queue for ``team``, then work ``median_min`` x lognormal x the person's speed.

        Returns ``(seq, request_time, start, end, agent, request)``; with ``hold=True`` the
        person stays assigned (the caller releases the request)."""
        pool = self.w.teams[team]
        base = draw if draw is not None else self.r.dur.lognorm(median_min * 60.0, sigma)
        t_req = self.env.now
        req = pool.request(priority=self.priority if priority is None else priority, preempt=False)
        agent = yield req
        req.en_log = self.enabled_now()
        t0 = self.env.now
        yield self.env.timeout(base * agent.speed)
        seq = self.ev(act, t0, self.env.now, agent.id, team, channel, system, attrs=attrs)
        if not hold:
            pool.release(req)
        return seq, t_req, t0, self.env.now, agent, req

    def work(
        self,
        agent: Agent,
        act: str,
        median_min: float,
        sigma: float,
        *,
        channel: str | None = None,
        system: str = "CRM",
        attrs: dict[str, Any] | None = None,
        draw: float | None = None,
        side: bool = False,
    ) -> Gen:
        """A further step by a person already assigned (same call, same counter)."""
        base = draw if draw is not None else self.r.dur.lognorm(median_min * 60.0, sigma)
        t0 = self.env.now
        yield self.env.timeout(base * agent.speed)
        return self.ev(act, t0, self.env.now, agent.id, agent.team, channel, system, attrs=attrs, side=side)

    def system(
        self,
        act: str,
        lo_s: float = 1.0,
        hi_s: float = 10.0,
        *,
        system: str = "CORE",
        resource: str = "SYS-CORE",
        team: str = "system",
        channel: str = "system",
        attrs: dict[str, Any] | None = None,
    ) -> Gen:
        t0 = self.env.now
        yield self.env.timeout(self.r.dur.uniform(lo_s, hi_s))
        return self.ev(act, t0, self.env.now, resource, team, channel, system, attrs=attrs)

    def customer(
        self,
        act: str,
        median_min: float,
        sigma: float,
        *,
        channel: str | None = None,
        system: str = "CRM",
        attrs: dict[str, Any] | None = None,
        draw: float | None = None,
    ) -> Gen:
        base = draw if draw is not None else self.r.dur.lognorm(median_min * 60.0, sigma)
        t0 = self.env.now
        yield self.env.timeout(base)
        return self.ev(act, t0, self.env.now, "CUSTOMER", "customer", channel, system, attrs=attrs)

    def instant(
        self,
        act: str,
        resource: str = "SYS-CORE",
        team: str = "system",
        *,
        channel: str | None = None,
        system: str = "CORE",
        attrs: dict[str, Any] | None = None,
        contact: str | bool | None = True,
        side: bool = False,
    ) -> int:
        t = self.env.now
        return self.ev(act, t, t, resource, team, channel, system, attrs=attrs, contact=contact, side=side)

    def customer_wait(
        self, median_h: float, sigma: float, *, cap_h: float | None = None, draw: float | None = None
    ) -> Gen:
        """Wait for the customer (extraneous): lognormal calendar time, answered while awake."""
        d = draw if draw is not None else self.r.cust.lognorm(median_h * 3600.0, sigma)
        jitter = self.r.cust.uniform(0.0, 3 * 3600.0)
        if cap_h is not None:
            d = min(d, cap_h * 3600.0)
        t0 = self.env.now
        target = waking(t0 + d, jitter)
        yield self.env.timeout(max(0.0, target - t0))
        return self.env.now - t0

    def until(self, t: float) -> Gen:
        if t > self.env.now:
            yield self.env.timeout(t - self.env.now)

    def waited(self, t_req: float, t_start: float) -> None:
        """Count a bank-caused wait the customer sits through (effort, domain.md 6.7)."""
        self.row.customer_wait_s += max(0.0, t_start - t_req)

    def jitter(self, stream: Stream | None = None, hi: float = 1800.0) -> float:
        return (stream or self.r.route).uniform(0.0, hi)
