"""Teams: pools of people who work on calendars, at their own speed, by priority.

A :class:`TeamPool` is a :class:`simpy.PriorityResource` whose slots are people. A request is
granted only when a person is *on shift and idle*: someone whose shift has ended finishes the
task in hand (no pre-emption) and starts nothing new until the next shift. Waiting requests are
served by priority (VIP before mass, non-pre-emptive), then first come first served; among idle
people the one idle longest takes the task. Queue waits therefore emerge from arrivals,
calendars and capacity; nothing samples them.

>>> import simpy
>>> from datetime import date, timedelta
>>> from flowlens.synth.calendars import Calendar
>>> env = simpy.Environment()
>>> cal = Calendar.from_intervals([(10.0, 100.0)])
>>> pool = TeamPool(env, "desk", [Agent("A1", "desk", 1.0, cal)])
>>> log = []
>>> def job(name):
...     req = pool.request(priority=1, preempt=False)
...     yield req
...     log.append((name, env.now))
...     yield env.timeout(30)
...     pool.release(req)
>>> _ = env.process(job("a")); _ = env.process(job("b")); env.run()
>>> log
[('a', 10.0), ('b', 40.0)]
"""

from __future__ import annotations

import bisect
import contextlib
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import simpy
from simpy.resources.resource import PriorityRequest, Release

from flowlens.synth.calendars import DAY, HOUR, MINUTE, Calendar
from flowlens.synth.rng import Stream

IDLE, BUSY, OFF = 0, 1, 2


@dataclass(eq=False)
class Agent:
    """One person: id, team, speed factor (task time multiplier) and working calendar.

    ``cal_key`` names the person's shift calendar in ``calendars.toml`` (the calendar without
    meetings, which the log shows as events instead). ``work`` holds the person's busy periods
    for the ground truth, flat ``(start, end, enabled)`` triples in end order, where *enabled*
    is the log-visible enabled time of the task (:mod:`flowlens.synth.waits`); ``meetings``
    are the meeting times within the shift, sorted.
    """

    id: str
    team: str
    speed: float
    cal: Calendar
    state: int = OFF
    end_scheduled: float = -1.0
    busy_s: float = 0.0
    cal_key: str = ""
    work: array = field(default_factory=lambda: array("d"))  # type: ignore[type-arg]
    meetings: list[tuple[float, float]] = field(default_factory=list)
    #: meeting index -> when the person actually left for it (after the task in hand)
    joined: dict[int, float] = field(default_factory=dict)

    def went_off(self, now: float) -> None:
        """Note the moment the person leaves for a meeting that has begun."""
        if not self.meetings:
            return
        i = bisect.bisect_right(self.meetings, (now, float("inf"))) - 1
        if i >= 0 and self.meetings[i][0] <= now < self.meetings[i][1]:
            self.joined.setdefault(i, now)

    def meeting_times(self) -> list[tuple[float, float]]:
        """Meetings as the person attended them: from when they left the task in hand."""
        out = []
        for i, (a, b) in enumerate(self.meetings):
            a = max(a, self.joined.get(i, a))
            if b > a:
                out.append((a, b))
        return out


class _SortedQueue(list):  # type: ignore[type-arg]
    """SimPy's sorted put queue, inserting by bisection instead of re-sorting on each append
    (same order: by key, ties first come first served)."""

    maxlen = None

    def append(self, item: PriorityRequest) -> None:  # type: ignore[override]
        bisect.insort_right(self, item, key=_key)


def _key(e: PriorityRequest) -> tuple[int, float, bool]:
    return e.key  # type: ignore[no-any-return]


class TeamPool(simpy.PriorityResource):
    """A priority resource whose capacity is the set of people on shift and idle."""

    PutQueue = _SortedQueue

    def __init__(self, env: simpy.Environment, name: str, agents: list[Agent]) -> None:
        super().__init__(env, capacity=max(1, len(agents)))
        self.name = name
        self.agents = agents
        self.idle: deque[Agent] = deque()
        #: Busy time is counted up to here (the end of the arrival window), so utilisation
        #: compares like with like when the run-out period clears a backlog.
        self.window_end = float("inf")
        #: (request time, start time, priority) of every granted request, flat, for the truth
        #: statistics (a compact array: the large preset grants millions of requests).
        self.waits = array("d")
        for a in agents:
            self._schedule_start(a, a.cal.next_open(0.0))

    # --- shift changes -------------------------------------------------------------------
    def _at(self, t: float, fn: Callable[[], None]) -> None:
        if t == float("inf"):
            return
        ev = self._env.timeout(max(0.0, t - self._env.now))
        ev.callbacks.append(lambda _ev: fn())

    def _schedule_start(self, a: Agent, t: float) -> None:
        self._at(t, lambda: self._shift_start(a))

    def _shift_start(self, a: Agent) -> None:
        if a.state != OFF:
            return
        now = self._env.now
        if not a.cal.is_open(now):  # a stale wake-up
            self._schedule_start(a, a.cal.next_open(now))
            return
        a.state = IDLE
        self.idle.append(a)
        self._schedule_end(a, now)
        self._trigger_put(None)

    def _schedule_end(self, a: Agent, now: float) -> None:
        end = a.cal.open_until(now)
        if end != a.end_scheduled:
            a.end_scheduled = end
            self._at(end, lambda: self._shift_end(a))

    def _shift_end(self, a: Agent) -> None:
        now = self._env.now
        if a.state == IDLE and not a.cal.is_open(now):
            self.idle.remove(a)
            a.state = OFF
            a.went_off(now)
            self._schedule_start(a, a.cal.next_open(now))
        # A busy person goes off when the task in hand is done (see _do_get).

    # --- simpy hooks -----------------------------------------------------------------------
    def _do_put(self, event: PriorityRequest) -> bool:  # type: ignore[override]
        if not self.idle:
            return False
        a = self.idle.popleft()
        a.state = BUSY
        event.agent = a  # type: ignore[attr-defined]
        self.users.append(event)
        event.usage_since = self._env.now
        self.waits.extend((event.time, self._env.now, event.priority))
        event.succeed(a)
        return True

    def _do_get(self, event: Release) -> None:  # type: ignore[override]
        req = event.request
        with contextlib.suppress(ValueError):  # a request cancelled before it was granted
            self.users.remove(req)  # type: ignore[arg-type]
        a: Agent | None = getattr(req, "agent", None)
        if a is not None and a.state == BUSY:
            now = self._env.now
            since: float = req.usage_since  # type: ignore[attr-defined]
            a.busy_s += max(0.0, min(now, self.window_end) - since)
            if now > since:
                # ``en_log``: the log-visible enabled time, set by the requester at the grant
                # (default: when the request was made).
                a.work.extend((since, now, getattr(req, "en_log", req.time)))
            if a.cal.is_open(now):
                a.state = IDLE
                self.idle.append(a)
                self._schedule_end(a, now)
            else:
                a.state = OFF
                a.went_off(now)
                self._schedule_start(a, a.cal.next_open(now))
        event.succeed()

    def utilisation(self, horizon: float) -> float:
        """Busy time over scheduled (calendar) time of the team up to ``horizon``."""
        avail = sum(a.cal.open_seconds(0.0, horizon) for a in self.agents)
        busy = sum(a.busy_s for a in self.agents)
        return busy / avail if avail else 0.0


class Infinite:
    """A resource of unlimited capacity (system, bot, IVR, customer): no queue, no calendar."""

    def __init__(self, rid: str, team: str) -> None:
        self.id = rid
        self.team = team


# --- shift templates ----------------------------------------------------------------------
@dataclass(frozen=True)
class Shift:
    """A daily working pattern; ``days`` = 'business' | 'daily' | 'mon_sat' | 'branch'."""

    name: str
    blocks: tuple[tuple[float, float], ...]
    days: str = "business"
    lunch: tuple[float, float] | None = None


def hm(h: float, m: float = 0.0) -> float:
    return h * HOUR + m * MINUTE


SHIFTS = {
    "office": Shift("office", ((hm(9), hm(18)),), "business", (hm(12), hm(13))),
    "office_1730": Shift("office_1730", ((hm(9), hm(17, 30)),), "business", (hm(12), hm(13))),
    "cc_early": Shift("cc_early", ((hm(8), hm(16)),), "daily", (hm(12), hm(12, 30))),
    "cc_mid": Shift("cc_mid", ((hm(9), hm(18)),), "daily", (hm(13), hm(13, 30))),
    "cc_late": Shift("cc_late", ((hm(14), hm(22)),), "daily", (hm(18), hm(18, 30))),
    "cc_night": Shift("cc_night", ((hm(22), hm(32)),), "daily"),
    "cc_weekday_peak": Shift("cc_weekday_peak", ((hm(9), hm(17)),), "business", (hm(12), hm(12, 45))),
    "card_day": Shift("card_day", ((hm(8), hm(15)),), "daily"),
    "card_eve": Shift("card_eve", ((hm(15), hm(22)),), "daily"),
    "mon_sat": Shift("mon_sat", ((hm(9), hm(18)),), "mon_sat", (hm(12), hm(13))),
    "branch": Shift("branch", ((hm(9), hm(17)),), "branch", (hm(12), hm(12, 45))),
    "branch_late_lunch": Shift("branch_late_lunch", ((hm(9), hm(17)),), "branch", (hm(12, 45), hm(13, 30))),
}


def shift_calendar(
    shift: Shift, start: date, days: int, *, saturday: bool = False, late_lunch: bool = False
) -> Calendar:
    """The calendar of one shift over ``days`` (branches open Saturdays 09-16 if ``saturday``;
    ``late_lunch`` moves the break right after the first group's, so a team never eats at once)."""
    if shift.days == "business":
        cal = Calendar.weekly(start, days, shift.blocks, business_days_only=True, name=shift.name)
    elif shift.days == "daily":
        cal = Calendar.weekly(start, days, shift.blocks, name=shift.name)
    elif shift.days == "mon_sat":
        cal = Calendar.weekly(
            start, days, shift.blocks, weekdays=(0, 1, 2, 3, 4, 5), closed_on_holidays=True, name=shift.name
        )
    else:  # branch: business days, plus Saturdays 09-16 for some branches, closed on holidays
        wk = Calendar.weekly(start, days, shift.blocks, business_days_only=True)
        out = list(zip(wk.starts, wk.ends, strict=True))
        if saturday:
            sat = Calendar.weekly(start, days, ((hm(9), hm(16)),), weekdays=(5,), closed_on_holidays=True)
            out += list(zip(sat.starts, sat.ends, strict=True))
        cal = Calendar.from_intervals(out, shift.name)
    if shift.lunch is not None:
        a, b = shift.lunch
        if late_lunch:
            a, b = b, b + (b - a)
        cal = cal.minus([(i * DAY + a, i * DAY + b) for i in range(days)])
    return cal


def calendar_key(shift: Shift, late_lunch: bool, saturday: bool, huddle: bool) -> str:
    """The name of a shift variant in ``calendars.toml`` (see :mod:`flowlens.synth.calfile`)."""
    parts = [shift.name]
    if saturday and shift.days == "branch":
        parts.append("sat")
    if late_lunch and shift.lunch is not None:
        parts.append("late_lunch")
    if huddle:
        parts.append("monday_huddle")
    return "+".join(parts)


def _within(cal: Calendar, holes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The parts of ``holes`` that fall on the calendar's open time (sorted, disjoint)."""
    out: list[tuple[float, float]] = []
    for a, b in sorted(holes):
        i = max(bisect.bisect_right(cal.starts, a) - 1, 0)
        while i < len(cal.starts) and cal.starts[i] < b:
            lo, hi = max(a, cal.starts[i]), min(b, cal.ends[i])
            if hi > lo:
                if out and lo <= out[-1][1]:
                    out[-1] = (out[-1][0], max(out[-1][1], hi))
                else:
                    out.append((lo, hi))
            i += 1
    return out


@dataclass
class TeamSpec:
    """A team: name, (shift, head count at volume 1) pairs, and options."""

    name: str
    shifts: tuple[tuple[str, int], ...]
    prefix: str
    meetings: float = 0.0  # share of shift time in meetings (branch managers, B8)
    monday_huddle: int = 0  # people of the first shift in a Monday 09:00-11:00 team meeting (B7)
    saturday: bool = False
    min_size: int = 1
    notes: str = ""
    sizes: dict[str, int] = field(default_factory=dict)


def build_agents(
    spec: TeamSpec,
    start: date,
    days: int,
    volume: float,
    stream: Stream,
    *,
    scale: bool = True,
    extra: int = 0,
) -> list[Agent]:
    """People of a team: head counts scaled to the volume, speeds ~ lognormal(1, 0.2), 10%
    new hires x1.3 slower (domain.md 6.2), calendars per shift (minus meetings)."""
    agents: list[Agent] = []
    n_total = 0
    counts = []
    for shift_name, n in spec.shifts:
        k = max(0, round(n * volume)) if scale else n
        counts.append((shift_name, k))
        n_total += k
    if n_total < spec.min_size:
        counts[0] = (counts[0][0], counts[0][1] + spec.min_size - n_total)
    if extra:
        counts[0] = (counts[0][0], counts[0][1] + extra)
    cache: dict[tuple[str, bool], Calendar] = {}
    i = 0
    for shift_name, k in counts:
        shift = SHIFTS[shift_name]
        for j in range(k):
            i += 1
            speed = stream.lognorm(1.0, 0.2) * (1.3 if stream.random() < 0.10 else 1.0)
            key = (shift_name, j % 2 == 1)
            if key not in cache:
                cache[key] = shift_calendar(shift, start, days, saturday=spec.saturday, late_lunch=key[1])
            cal = cache[key]
            huddle = i <= spec.monday_huddle
            if huddle:
                cal = cal.minus(
                    [
                        (d * DAY + hm(9), d * DAY + hm(11))
                        for d in range(days)
                        if (start + timedelta(days=d)).weekday() == 0
                    ]
                )
            meetings: list[tuple[float, float]] = []
            if spec.meetings > 0:
                holes = []
                for d in range(days):
                    if stream.random() < spec.meetings * 4:  # a ~2 h meeting on some days
                        a = d * DAY + hm(9, 30) + stream.random() * hm(5)
                        holes.append((a, a + hm(2)))
                meetings = _within(cal, holes)
                cal = cal.minus(holes)
            agents.append(
                Agent(
                    f"{spec.prefix}{i:02d}",
                    spec.name,
                    round(speed, 3),
                    cal,
                    cal_key=calendar_key(shift, key[1], spec.saturday, huddle),
                    meetings=meetings,
                )
            )
    spec.sizes = dict(counts)
    return agents
