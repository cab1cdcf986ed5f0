"""The ground truth of why an event waited, split the way flowlens measures it.

For an event of a case, the *log-visible waiting interval* is ``[en, s)``: from the end of the
case's latest earlier event (the step that enabled it, as the log shows it; events of side
branches such as a provisional credit or a holding response count too, since nothing in the
log tells them apart from the main thread) to the event's start. The simulator knows what happened in that interval, and splits it with the cause
priority of docs/methods.md 7.1, each cause taking only what earlier causes left:

1. **batching**: the case was held by a batch rule (the AML review batches at 10:00 and 15:00,
   the 16:00 chargeback batch) until the batch was released;
2. **contention** / 3. **prioritization**: the person who did the step was working on
   something else: a task (of any case, or background work such as transaction-monitoring
   alerts, or a meeting) whose log-visible enabled time was no later than ``en``
   (contention) or later (prioritization: served first although it came later);
4. **unavailability**: that person was off shift (their true shift calendar);
5. **extraneous**: the rest: the customer, the merchant, a timer, or anything else outside
   the bank's staff and rules.

Steps without a person (the customer, a merchant, a system) can only be batching or
extraneous: nobody's shift or workload holds them.

>>> from flowlens.synth.calendars import Calendar
>>> from flowlens.synth.teams import Agent
>>> a = Agent("X-01", "desk", 1.0, Calendar.from_intervals([(0.0, 100.0), (200.0, 300.0)]))
>>> a.work.extend((10.0, 40.0, 0.0))       # busy with a task enabled at 0
>>> split_wait(5.0, 250.0, a, holds=[(5.0, 20.0)])["batching"]
15.0
>>> {k: v for k, v in split_wait(5.0, 250.0, a, holds=[(5.0, 20.0)]).items() if v}
{'batching': 15.0, 'contention': 20.0, 'unavailability': 100.0, 'extraneous': 110.0}
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowlens.synth.sim import EventRec
    from flowlens.synth.teams import Agent

CAUSES = ("batching", "contention", "prioritization", "unavailability", "extraneous")


def enabled_time(events: Sequence[EventRec], seq: int) -> float:
    """The log-visible enabled time of ``events[seq]``: the latest end, no later than its
    start, among the case's other events (side branches included: the log does not mark them); the case
    start without one."""
    e = events[seq]
    best = None
    for j, x in enumerate(events):
        if j == seq or x.end > e.start:
            continue
        if j > seq and x.end == e.start and x.start == e.start:
            continue  # an instant recorded after this event at the same moment comes later
        if best is None or x.end > best:
            best = x.end
    if best is None:
        return min(min(x.start for x in events), e.start)
    return best


def _busy(agent: Agent, a: float, b: float, exclude_start: float) -> list[tuple[float, float, float]]:
    """The person's busy periods overlapping [a, b): (start, end, enabled); meetings count as
    busy with an enabled time equal to their start."""
    w = agent.work
    n = len(w) // 3
    # Periods are stored in end order: skip those ending at or before a.
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if w[3 * mid + 1] <= a:
            lo = mid + 1
        else:
            hi = mid
    out = []
    for k in range(lo, n):
        s, e, en = w[3 * k], w[3 * k + 1], w[3 * k + 2]
        if e > b + 7 * 86_400.0:  # end order: nothing later can start before b
            break
        if s < b and e > a and s < exclude_start:
            out.append((s, e, en))
    for i, (s, e) in enumerate(agent.meetings):
        if s >= b:
            break
        s = max(s, agent.joined.get(i, s))  # joined after finishing the task in hand
        if e > a and e > s:
            out.append((s, e, s))
    return out


def split_wait(
    en: float, s: float, agent: Agent | None, holds: Iterable[tuple[float, float]] = ()
) -> dict[str, float]:
    """Seconds of [en, s) per cause (see the module docstring)."""
    out = dict.fromkeys(CAUSES, 0.0)
    if s <= en:
        return out
    marks: list[tuple[float, int, int]] = []  # (time, kind, +1/-1); kinds: 0 hold, 1 cont, 2 prio, 3 open
    for a, b in holds:
        a, b = max(a, en), min(b, s)
        if b > a:
            marks += [(a, 0, 1), (b, 0, -1)]
    if agent is not None:
        for a, b, k_en in _busy(agent, en, s, s):
            a, b = max(a, en), min(b, s)
            if b > a:
                kind = 1 if k_en <= en else 2
                marks += [(a, kind, 1), (b, kind, -1)]
        cal = agent.cal
        i = max(bisect.bisect_right(cal.starts, en) - 1, 0)
        while i < len(cal.starts) and cal.starts[i] < s:
            a, b = max(cal.starts[i], en), min(cal.ends[i], s)
            if b > a:
                marks += [(a, 3, 1), (b, 3, -1)]
            i += 1
    marks.sort()
    count = [0, 0, 0, 0]
    t = en
    j = 0
    always_open = agent is None
    while True:
        nxt = marks[j][0] if j < len(marks) else s
        if nxt > t:
            if count[0] > 0:
                cause = "batching"
            elif count[1] > 0:
                cause = "contention"
            elif count[2] > 0:
                cause = "prioritization"
            elif not always_open and count[3] <= 0:
                cause = "unavailability"
            else:
                cause = "extraneous"
            out[cause] += nxt - t
            t = nxt
        if j >= len(marks):
            break
        count[marks[j][1]] += marks[j][2]
        j += 1
    return out


def add_splits(parts: Iterable[dict[str, float]]) -> dict[str, float]:
    total = dict.fromkeys(CAUSES, 0.0)
    for p in parts:
        for k in CAUSES:
            total[k] += p[k]
    return total


def prune(agent: Agent, before: float) -> None:
    """Forget busy periods that ended before ``before`` (memory for long runs)."""
    w = agent.work
    n = len(w) // 3
    k = 0
    while k < n and w[3 * k + 1] < before:
        k += 1
    if k:
        del w[: 3 * k]
