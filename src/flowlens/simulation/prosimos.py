r"""Export a :class:`~flowlens.simulation.model.SimulationModel` in Simod/Prosimos 2.1.0's
format (methods §16.7): a BPMN 2.0 process and a JSON file of simulation parameters, so that
Apromore and Prosimos users can open and run the process flowlens learned, and so that the
speed benchmark (``benchmarks/bench_simulation.py``) runs Prosimos on the same process.

What maps one-to-one and what is approximated (Prosimos 2.1.0 cannot say everything a flowlens
model says):

* **Control flow: the order-1 projection.** A k-order model (routing after the last k
  activities) has no one-to-one BPMN form. The export keeps, after each activity, the
  probability of each next activity or of the end *pooled over the histories that end in that
  activity*, weighted by how often each history occurs (its count ``n`` in the transitions;
  for a hand-edited model without counts, its expected number of visits under the model
  itself). Every activity is one task; after a task, an exclusive gateway chooses the next
  step with those probabilities; a task entered from several places has an exclusive join
  before it.
* **Parallel branches.** A set of activities that are pairwise concurrent in the model
  (``control_flow.concurrent``) becomes a parallel block (a parallel split, one branch per
  activity, a parallel join) when the projection runs it as a block: each member is visited
  as often as the set is entered, within :data:`BLOCK_TOLERANCE`. The interleavings between
  members are then dropped and the block's exits are pooled over its members. Concurrent
  pairs that fail the test stay as interleavings under exclusive gateways (Prosimos then runs
  them one after the other).
* **Durations** (working time on the performer's calendar in both tools): fixed ->
  ``fix``, exponential -> ``expon``, lognormal -> ``lognorm``, gamma -> ``gamma``. Prosimos
  2.1.0 samples histograms only for arrivals, so an *empirical* duration becomes the
  lognormal with the same mean and variance, bounded to the observed range; a duration's
  share of exact zeros is folded into those moments.
* **Extraneous delays** (waiting nobody on the staff causes) become a timer intermediate event
  before the task with the delay's positive part as ``event_distribution``; a delay's share of
  zeros becomes an exclusive gateway that skips the timer with that probability.
* **Resources.** One resource profile per pool, one resource per pool member (the member's
  log name, ``amount`` 1) on the pool's calendar; a task may be done by every member of every
  pool it uses (Prosimos has no pool shares: the pools of a step share one queue). A step
  that needs nobody gets a pool of its own, sized so it practically never queues
  (:func:`_capacity`).
* **Calendars**: weekly hours; holidays and extra working days are left out (Prosimos 2.1.0
  calendars are weekly), and every calendar is read in the model's time zone.
* **Arrivals.** Prosimos draws the gap to the next case and moves an arrival that falls
  outside the arrival calendar to the calendar's next opening: it has no hour-by-hour rate.
  The arrival calendar is the busiest weekday-hours that hold :data:`ARRIVAL_MASS` of the
  intensity's expected arrivals, with every hour as busy as the quietest of them (a few
  night-time strays do not open the night); the gaps are
  flowlens's gaps (measured in expected arrivals) scaled so that the calendar's open hours
  receive the week's expected arrivals, written as ``histogram_sampling`` (Prosimos 2.1.0
  samples arrival histograms) for an empirical gap distribution.
* Not exported: case attributes (Prosimos draws attributes independently, flowlens jointly),
  case and step priorities (a step fitted to be served when idle, methods §16.2, is served in
  arrival order there), batching rules, anchored steps, abandonment, a step's pools by the step
  before it, continuations, the pools' other work, the hours waits end in (a timer runs in
  calendar time, so a delay fitted in working time of its ``delay_calendar`` is shorter
  there), closed dates and holidays;
  :func:`left_out` names those a given model uses (the JSON's ``flowlens.left_out``).

Names from the log reach the BPMN XML only through :func:`flowlens.render.text.xml_text`
(a NUL is written as the four characters ``\x00``); every element has a synthetic id
(``Activity_3``, ``Gateway_7``, ``Flow_12``), so no name can clash with or break an id.

>>> import tempfile
>>> from flowlens.simulation.model import SimulationModel, example_model
>>> bpmn, params = export_prosimos(SimulationModel.from_dict(example_model()), tempfile.mkdtemp())
>>> bpmn.name, params.name
('prosimos.bpmn', 'prosimos.json')
>>> import json; sorted(json.loads(params.read_text()))[:3]
['arrival_time_calendar', 'arrival_time_distribution', 'event_distribution']
"""

from __future__ import annotations

import heapq
import json
import math
from collections import defaultdict
from datetime import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from flowlens.errors import ConfigError
from flowlens.render.text import xml_text
from flowlens.simulation.distributions import draw, levels_of, mean
from flowlens.simulation.model import END, START, SimulationModel

#: The Prosimos version whose format is written.
PROSIMOS_VERSION = "2.1.0"
#: File names written in the export folder.
BPMN_NAME, JSON_NAME = "prosimos.bpmn", "prosimos.json"
#: A set of concurrent activities is a parallel block when each member's visits are within
#: this share of the set's entries.
BLOCK_TOLERANCE = 0.05
#: Share of the weekly expected arrivals the arrival calendar's hours must hold.
ARRIVAL_MASS = 0.95
#: A step that needs nobody gets capacity for its expected work in progress plus this many
#: standard deviations (Poisson): it then practically never queues.
CAPACITY_SDS = 5.0
#: ... and never more than this many parallel performers.
CAPACITY_MAX = 10_000
#: Upper bound written for unbounded families: their quantile at 1 - this.
_TAIL = 1e-9
#: Candidate sets examined when looking for parallel blocks (the search stops there).
_MAX_CANDIDATES = 10_000

_WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


# ---------------------------------------------------------------------------------------
# control flow: the order-1 projection and its parallel blocks
# ---------------------------------------------------------------------------------------
def order1_projection(model: SimulationModel) -> dict[tuple[str, str], float]:
    """How often each activity (or ``(start)``) is followed by each activity (or ``(end)``),
    pooled over the k-order histories that end in it (module notes): weights are the
    transitions' counts ``n`` or, when a transition has none, the expected visits of each
    history under the model. Visits of an activity that no transition continues end the case
    there (as in the engine).

    >>> from flowlens.simulation.model import example_model
    >>> p = order1_projection(SimulationModel.from_dict(example_model()))
    >>> {k: round(v, 3) for k, v in p.items()}  # no counts: expected visits per case
    {('(start)', 'Check'): 1.0, ('Check', 'Check'): 0.111, ('Check', 'Decide'): 1.0, ('Decide', '(end)'): 1.0}
    """
    cf = model.control_flow
    trs = cf["transitions"]
    weights = _history_weights(trs)
    out: dict[tuple[str, str], float] = defaultdict(float)
    for tr, w in zip(trs, weights, strict=True):
        src = tr["after"][-1]
        for nxt, p in tr["next"].items():
            if w * float(p) > 0:
                out[(src, nxt)] += w * float(p)
    # visits that no transition continues end the case (an edited model may leave them)
    into: dict[str, float] = defaultdict(float)
    away: dict[str, float] = defaultdict(float)
    for (a, b), c in out.items():
        into[b] += c
        away[a] += c
    for a, c in into.items():
        if a != END and c - away.get(a, 0.0) > 1e-9 * max(c, 1.0):
            out[(a, END)] += c - away.get(a, 0.0)
    return dict(sorted(out.items()))


def _history_weights(trs: list[dict[str, Any]]) -> list[float]:
    """The weight of each transition's history: its count ``n``, or (when any is missing) its
    expected number of visits per case under the model (an absorbing Markov chain)."""
    ns = [tr.get("n") for tr in trs]
    if all(isinstance(n, (int, float)) and n > 0 for n in ns):
        return [float(n) for n in ns]  # type: ignore[arg-type]
    index = {tuple(tr["after"]): i for i, tr in enumerate(trs)}
    m = len(trs)
    q = np.zeros((m, m))
    for i, tr in enumerate(trs):
        hist = tuple(tr["after"])
        for nxt, p in tr["next"].items():
            if nxt == END:
                continue
            j = index.get((*hist[1:], nxt))
            if j is not None:
                q[i, j] += float(p)
    start = np.zeros(m)
    start[[i for i, tr in enumerate(trs) if all(a == START for a in tr["after"])]] = 1.0
    try:
        visits = np.linalg.solve((np.eye(m) - q).T, start)
    except np.linalg.LinAlgError:
        raise ConfigError(
            "model.control_flow: some cases would never end (a loop is left with probability 0)",
            hint="give every loop a way out",
        ) from None
    return [max(float(v), 0.0) for v in visits]


def parallel_blocks(
    flows: dict[tuple[str, str], float], concurrent: list[list[str]]
) -> list[tuple[str, ...]]:
    """Disjoint sets of pairwise concurrent activities that the projection ``flows`` runs as
    blocks (module notes), largest first.

    >>> f = {("(start)", "a"): 10, ("a", "b"): 5, ("a", "c"): 5, ("b", "c"): 5, ("c", "b"): 5,
    ...      ("b", "d"): 5, ("c", "d"): 5, ("d", "(end)"): 10}
    >>> parallel_blocks(f, [["b", "c"]])
    [('b', 'c')]
    """
    adj: dict[str, set[str]] = defaultdict(set)
    for a, b in concurrent:
        if a != b:
            adj[a].add(b)
            adj[b].add(a)
    if not adj:
        return []
    into: dict[str, float] = defaultdict(float)
    for (_, b), c in flows.items():
        into[b] += c

    def valid(group: tuple[str, ...]) -> bool:
        members = set(group)
        entries = sum(c for (a, b), c in flows.items() if b in members and a not in members)
        if entries <= 0:
            return False
        return all(abs(into.get(x, 0.0) - entries) <= BLOCK_TOLERANCE * entries for x in group)

    heap = [(-len(c), c) for c in _maximal_cliques(adj)]
    heapq.heapify(heap)
    seen: set[tuple[str, ...]] = set()
    chosen: list[tuple[str, ...]] = []
    used: set[str] = set()
    while heap and len(seen) < _MAX_CANDIDATES:
        _, group = heapq.heappop(heap)
        if group in seen or used & set(group):
            continue
        seen.add(group)
        if valid(group):
            chosen.append(group)
            used |= set(group)
        elif len(group) > 2:
            for i in range(len(group)):
                heapq.heappush(heap, (-(len(group) - 1), group[:i] + group[i + 1 :]))
    return chosen


def _maximal_cliques(adj: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Maximal cliques of a small undirected graph (Bron-Kerbosch with pivot), each sorted."""
    out: list[tuple[str, ...]] = []

    def expand(r: set[str], p: set[str], x: set[str]) -> None:
        if not p and not x:
            if len(r) > 1:
                out.append(tuple(sorted(r)))
            return
        pivot = max(sorted(p | x), key=lambda v: len(adj[v] & p))
        for v in sorted(p - adj[pivot]):
            expand(r | {v}, p & adj[v], x & adj[v])
            p = p - {v}
            x = x | {v}

    expand(set(), set(adj), set())
    return sorted(set(out))


# ---------------------------------------------------------------------------------------
# distributions
# ---------------------------------------------------------------------------------------
def _moments(d: dict[str, Any]) -> tuple[float, float]:
    """Mean and variance of a flowlens distribution (zero share included)."""
    z = float(d.get("zero_share", 0.0))
    kind = d["dist"]
    if kind == "fixed":
        m1, m2 = float(d["value"]), float(d["value"]) ** 2
    elif kind == "exponential":
        m1 = float(d["mean"])
        m2 = 2 * m1 * m1
    elif kind == "lognormal":
        mu, s = float(d["mu"]), float(d["sigma"])
        m1, m2 = math.exp(mu + s * s / 2), math.exp(2 * mu + 2 * s * s)
    elif kind == "gamma":
        k, th = float(d["shape"]), float(d["scale"])
        m1, m2 = k * th, k * (k + 1) * th * th
    else:  # empirical: the quantile function is linear between levels
        q, lv = np.asarray(d["quantiles"], dtype=float), levels_of(d)
        dl = np.diff(lv)
        m1 = float(((q[1:] + q[:-1]) / 2 * dl).sum())
        m2 = float(((q[:-1] ** 2 + q[:-1] * q[1:] + q[1:] ** 2) / 3 * dl).sum())
    mean_ = (1 - z) * m1
    var = max((1 - z) * m2 - mean_ * mean_, 0.0)
    return mean_, var


def _param(*values: float) -> list[dict[str, float]]:
    return [{"value": round(float(v), 6)} for v in values]


def prosimos_distribution(d: dict[str, Any], *, keep_zeros: bool = True) -> dict[str, Any]:
    """The Prosimos 2.1.0 form of a flowlens distribution (``distribution_name`` and
    ``distribution_params``), in seconds (module notes). ``keep_zeros=False`` writes the
    positive part only (its share of zeros is then the caller's to encode).

    >>> prosimos_distribution({"dist": "exponential", "mean": 60})["distribution_name"]
    'expon'
    >>> prosimos_distribution({"dist": "empirical", "quantiles": [10, 20, 30]})["distribution_name"]
    'lognorm'
    """
    if not keep_zeros and d.get("zero_share"):
        d = {k: v for k, v in d.items() if k != "zero_share"}
    kind = d["dist"]
    m, var = _moments(d)
    if kind == "fixed" or var <= 1e-12 * max(m * m, 1.0):
        return {"distribution_name": "fix", "distribution_params": _param(m)}
    if kind == "empirical":
        top = float(d["quantiles"][-1])
    else:
        top = float(draw({**d, "zero_share": 0.0}, np.array([1 - _TAIL]))[0])
    if kind == "exponential" and not d.get("zero_share"):
        return {"distribution_name": "expon", "distribution_params": _param(m, 0.0, top)}
    if kind == "gamma" and not d.get("zero_share"):
        return {"distribution_name": "gamma", "distribution_params": _param(m, var, 0.0, top)}
    # lognormal, and the closest form of everything else: the lognormal of the same mean and
    # variance (Prosimos's lognorm takes exactly these), bounded to the observed range
    low = 0.0 if d.get("zero_share") or kind != "empirical" else float(d["quantiles"][0])
    return {"distribution_name": "lognorm", "distribution_params": _param(m, var, low, top)}


def _histogram(d: dict[str, Any], scale: float) -> dict[str, Any]:
    """Prosimos's ``histogram_sampling`` of an empirical distribution times ``scale``: one bin
    per step between quantiles, drawn at its midpoint (the same mean as flowlens's draw)."""
    q = np.asarray(d["quantiles"], dtype=float) * scale
    lv = levels_of(d)
    z = float(d.get("zero_share", 0.0))
    mids = ((q[1:] + q[:-1]) / 2).tolist()
    cdf = (z + (1 - z) * lv[1:]).tolist()
    if z > 0:
        mids, cdf = [0.0, *mids], [z, *cdf]
    cdf[-1] = 1.0
    return {
        "distribution_name": "histogram_sampling",
        "histogram_data": {
            "cdf": [round(c, 9) for c in cdf],
            "bin_midpoints": [round(m, 6) for m in mids],
        },
    }


def _scaled(d: dict[str, Any], s: float) -> dict[str, Any]:
    """``d`` with its values multiplied by ``s``."""
    kind = d["dist"]
    out = dict(d)
    if kind == "fixed":
        out["value"] = float(d["value"]) * s
    elif kind == "exponential":
        out["mean"] = float(d["mean"]) * s
    elif kind == "lognormal":
        out["mu"] = float(d["mu"]) + math.log(s)
    elif kind == "gamma":
        out["scale"] = float(d["scale"]) * s
    else:
        out["quantiles"] = [float(v) * s for v in d["quantiles"]]
    return out


# ---------------------------------------------------------------------------------------
# calendars and arrivals
# ---------------------------------------------------------------------------------------
def _clock(seconds: float) -> str:
    if seconds >= 86400:
        return "23:59:59.999"  # Prosimos's end of the day (a day has no 24:00)
    h, rest = divmod(round(seconds), 3600)
    return f"{h:02d}:{rest // 60:02d}:{rest % 60:02d}"


def _week_spans(hours: dict[int, tuple[tuple[time, time], ...]]) -> list[tuple[int, float, float]]:
    def sec(t: time) -> float:
        return 86400.0 if t == time.max else t.hour * 3600 + t.minute * 60 + t.second

    return [(d, sec(a), sec(b)) for d in range(7) for a, b in hours.get(d, ())]


def _periods(spans: list[tuple[int, float, float]]) -> list[dict[str, str]]:
    return [
        {"from": _WEEKDAYS[d], "to": _WEEKDAYS[d], "beginTime": _clock(a), "endTime": _clock(b)}
        for d, a, b in spans
    ]


def _longest_closed(spans: list[tuple[int, float, float]]) -> float:
    """The longest stretch (seconds) a weekly calendar is closed, across the week's end."""
    if not spans:
        return 7 * 86400.0
    iv = sorted((d * 86400 + a, d * 86400 + b) for d, a, b in spans)
    gaps = [max(iv[i + 1][0] - iv[i][1], 0.0) for i in range(len(iv) - 1)]
    gaps.append(iv[0][0] + 7 * 86400 - iv[-1][1])
    return max(max(gaps), 0.0)


def _arrival_hours(intensity: np.ndarray) -> np.ndarray:
    """The weekday × hour cells of the arrival calendar: the busiest hours that together hold
    :data:`ARRIVAL_MASS` of the weekly expected arrivals, with every hour as busy as the
    quietest of them."""
    flat = intensity.ravel()
    order = np.lexsort((np.arange(flat.size), -flat))
    cum = np.cumsum(flat[order])
    k = int(np.searchsorted(cum, ARRIVAL_MASS * cum[-1] - 1e-12)) + 1
    quietest = flat[order[min(k, flat.size) - 1]]
    # hours as busy as the quietest one needed are all kept (equal hours are not split)
    return ((flat >= quietest) & (flat > 0)).reshape(intensity.shape)


def _arrival_calendar(keep: np.ndarray) -> list[dict[str, str]]:
    spans: list[tuple[int, float, float]] = []
    for d in range(7):
        h = 0
        while h < 24:
            if keep[d, h]:
                e = h
                while e < 24 and keep[d, e]:
                    e += 1
                spans.append((d, h * 3600.0, e * 3600.0))
                h = e
            else:
                h += 1
    return _periods(spans)


# ---------------------------------------------------------------------------------------
# the BPMN graph
# ---------------------------------------------------------------------------------------
class _Graph:
    """Flow nodes and sequence flows with synthetic ids, in creation order."""

    PREFIX: ClassVar[dict[str, str]] = {
        "startEvent": "StartEvent",
        "endEvent": "EndEvent",
        "task": "Activity",
        "exclusiveGateway": "Gateway",
        "parallelGateway": "Gateway",
        "intermediateCatchEvent": "Event",
    }

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.flows: list[tuple[str, str, str]] = []
        self.count: dict[str, int] = defaultdict(int)
        self.branching: dict[str, list[tuple[str, float]]] = {}

    def node(self, tag: str, name: str = "", **attrs: str) -> str:
        prefix = self.PREFIX[tag]
        self.count[prefix] += 1
        nid = f"{prefix}_{self.count[prefix]}"
        self.nodes.append({"tag": tag, "id": nid, "name": name, **attrs})
        return nid

    def flow(self, src: str, dst: str) -> str:
        fid = f"Flow_{len(self.flows) + 1}"
        self.flows.append((fid, src, dst))
        return fid

    def split(self, src: str, targets: list[tuple[str, float]]) -> None:
        """``src`` to each target, by an exclusive gateway when there are several."""
        if len(targets) == 1:
            self.flow(src, targets[0][0])
            return
        g = self.node("exclusiveGateway", gatewayDirection="Diverging")
        self.flow(src, g)
        total = sum(p for _, p in targets)
        probs = [p / total for _, p in targets]
        rounded = [round(p, 12) for p in probs]
        rounded[-1] = round(1.0 - sum(rounded[:-1]), 12)
        self.branching[g] = [(self.flow(g, t), p) for (t, _), p in zip(targets, rounded, strict=True)]


def _build(
    model: SimulationModel, flows: dict[tuple[str, str], float], blocks: list[tuple[str, ...]]
) -> tuple[_Graph, dict[str, str], dict[str, str]]:
    """The BPMN graph: (graph, task id per activity, timer event id per activity).

    The units of the control flow are the start, the end, each activity outside a parallel
    block and each block; each unit has an entry element (what flows into it reach) and an
    exit element (where its outgoing exclusive choice begins)."""
    g = _Graph()
    start = g.node("startEvent", "Start")
    acts = model.activity_names()
    task = {a: g.node("task", a) for a in acts}
    block_of = {a: i for i, b in enumerate(blocks) for a in b}
    Unit = tuple[str, Any]

    def unit(x: str) -> Unit:
        if x == START:
            return ("start", 0)
        if x == END:
            return ("end", 0)
        return ("block", block_of[x]) if x in block_of else ("task", x)

    edges: dict[Unit, dict[Unit, float]] = defaultdict(lambda: defaultdict(float))
    for (a, b), c in flows.items():
        ua, ub = unit(a), unit(b)
        if ua == ub and ua[0] == "block":
            continue  # interleavings inside a parallel block
        edges[ua][ub] += c
    indeg: dict[Unit, int] = defaultdict(int)
    for targets in edges.values():
        for ub in targets:
            indeg[ub] += 1

    timers: dict[str, str] = {}

    def lead_in(a: str) -> str:
        """The element flows into ``a`` reach: its delay (a timer, skipped with the delay's
        share of zeros), else its task."""
        d = model.activities[a].get("delay")
        if not d or mean(d) <= 0:
            return task[a]
        t = g.node("intermediateCatchEvent", f"Wait before {a}", timer="1")
        timers[a] = t
        z = float(d.get("zero_share", 0.0))
        if z <= 0:
            g.flow(t, task[a])
            return t
        split = g.node("exclusiveGateway", gatewayDirection="Diverging")
        join = g.node("exclusiveGateway", gatewayDirection="Converging")
        f_wait, f_skip = g.flow(split, t), g.flow(split, join)
        g.flow(t, join)
        g.flow(join, task[a])
        p_skip = round(z, 12)
        g.branching[split] = [(f_wait, round(1.0 - p_skip, 12)), (f_skip, p_skip)]
        return split

    entry: dict[Unit, str] = {}
    exit_: dict[Unit, str] = {("start", 0): start}
    units: list[Unit] = [("task", a) for a in acts if a not in block_of]
    units += [("block", i) for i in range(len(blocks))]
    for u in units:
        if u[0] == "block":
            fork = g.node("parallelGateway", gatewayDirection="Diverging")
            merge = g.node("parallelGateway", gatewayDirection="Converging")
            for a in blocks[u[1]]:
                g.flow(fork, lead_in(a))
                g.flow(task[a], merge)
            head, exit_[u] = fork, merge
        else:
            head, exit_[u] = lead_in(u[1]), task[u[1]]
        if indeg[u] > 1:
            join = g.node("exclusiveGateway", gatewayDirection="Converging")
            g.flow(join, head)
            head = join
        entry[u] = head
    end = g.node("endEvent", "End")
    entry[("end", 0)] = end
    if indeg[("end", 0)] > 1:
        join = g.node("exclusiveGateway", gatewayDirection="Converging")
        g.flow(join, end)
        entry[("end", 0)] = join
    for u in [("start", 0), *units]:
        if edges.get(u):
            g.split(exit_[u], [(entry[ub], c) for ub, c in edges[u].items()])
    return g, task, timers


def _bpmn_xml(model: SimulationModel, g: _Graph) -> bytes:
    from lxml import etree

    from flowlens import __version__

    nsmap = {
        "bpmn": BPMN_NS,
        "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
        "dc": "http://www.omg.org/spec/DD/20100524/DC",
        "di": "http://www.omg.org/spec/DD/20100524/DI",
    }
    b, bpmndi, dc, di = (f"{{{nsmap[k]}}}" for k in ("bpmn", "bpmndi", "dc", "di"))
    root = etree.Element(
        b + "definitions",
        nsmap=nsmap,
        id="Definitions_1",
        targetNamespace="http://bpmn.io/schema/bpmn",
        exporter="flowlens",
        exporterVersion=__version__,
    )
    process = etree.SubElement(root, b + "process", id="Process_1", isExecutable="false")
    process.set("name", xml_text(model.name))
    incoming: dict[str, list[str]] = defaultdict(list)
    outgoing: dict[str, list[str]] = defaultdict(list)
    for fid, s, t in g.flows:
        outgoing[s].append(fid)
        incoming[t].append(fid)
    for n in g.nodes:
        el = etree.SubElement(process, b + n["tag"], id=n["id"])
        if n["name"]:
            el.set("name", xml_text(n["name"]))
        if "gatewayDirection" in n:
            el.set("gatewayDirection", n["gatewayDirection"])
        for f in incoming[n["id"]]:
            etree.SubElement(el, b + "incoming").text = f
        for f in outgoing[n["id"]]:
            etree.SubElement(el, b + "outgoing").text = f
        if n.get("timer"):
            etree.SubElement(el, b + "timerEventDefinition", id=f"{n['id']}_timer")
    for fid, s, t in g.flows:
        etree.SubElement(process, b + "sequenceFlow", id=fid, sourceRef=s, targetRef=t)
    shapes, routes = _layout(g)
    diagram = etree.SubElement(root, bpmndi + "BPMNDiagram", id="BPMNDiagram_1")
    plane = etree.SubElement(diagram, bpmndi + "BPMNPlane", id="BPMNPlane_1", bpmnElement="Process_1")
    for n in g.nodes:
        x, y, w, h = shapes[n["id"]]
        shape = etree.SubElement(plane, bpmndi + "BPMNShape", id=n["id"] + "_di", bpmnElement=n["id"])
        if n["tag"] == "exclusiveGateway":
            shape.set("isMarkerVisible", "true")
        etree.SubElement(shape, dc + "Bounds", x=_num(x), y=_num(y), width=_num(w), height=_num(h))
    for fid, _, _ in g.flows:
        edge = etree.SubElement(plane, bpmndi + "BPMNEdge", id=fid + "_di", bpmnElement=fid)
        for px, py in routes[fid]:
            etree.SubElement(edge, di + "waypoint", x=_num(px), y=_num(py))
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return out


def _num(v: float) -> str:
    r = round(v)
    return str(int(r)) if abs(v - r) < 1e-9 else f"{v:.1f}"


#: Shape sizes (bpmn.io's defaults) per element.
_SIZE = {
    "startEvent": (36, 36),
    "endEvent": (36, 36),
    "intermediateCatchEvent": (36, 36),
    "task": (100, 80),
    "exclusiveGateway": (50, 50),
    "parallelGateway": (50, 50),
}
_COL_GAP, _ROW_GAP, _MARGIN = 60.0, 30.0, 20.0


def _layout(
    g: _Graph,
) -> tuple[dict[str, tuple[float, float, float, float]], dict[str, list[tuple[float, float]]]]:
    """A left-to-right layered layout: each node's column is its breadth-first depth from
    the start event, rows in creation order; flows are straight or elbowed lines. Simple and
    linear in the model's size (a modeller's auto-layout can redraw it)."""
    out_of: dict[str, list[str]] = defaultdict(list)
    for _, s, t in g.flows:
        out_of[s].append(t)
    depth: dict[str, int] = {}
    queue = [n["id"] for n in g.nodes if n["tag"] == "startEvent"]
    for s in queue:
        depth[s] = 0
    i = 0
    while i < len(queue):
        s = queue[i]
        i += 1
        for t in out_of[s]:
            if t not in depth:
                depth[t] = depth[s] + 1
                queue.append(t)
    last = max(depth.values(), default=0)
    for n in g.nodes:  # unreachable elements go to a last column
        depth.setdefault(n["id"], last + 1)
    end_ids = [n["id"] for n in g.nodes if n["tag"] == "endEvent"]
    for e in end_ids:
        depth[e] = max(depth.values())
    col_width: dict[int, float] = defaultdict(float)
    rows: dict[int, float] = defaultdict(float)
    shapes: dict[str, tuple[float, float, float, float]] = {}
    for n in g.nodes:
        w, _ = _SIZE[n["tag"]]
        col_width[depth[n["id"]]] = max(col_width[depth[n["id"]]], w)
    x_of: dict[int, float] = {}
    x = _MARGIN
    for c in range(max(col_width) + 1):
        x_of[c] = x
        x += col_width.get(c, 0.0) + _COL_GAP
    for n in g.nodes:
        c = depth[n["id"]]
        w, h = _SIZE[n["tag"]]
        y = _MARGIN + rows[c]
        rows[c] += max(h, 80) + _ROW_GAP
        shapes[n["id"]] = (x_of[c] + (col_width[c] - w) / 2, y + (80 - h) / 2 if h < 80 else y, w, h)
    routes: dict[str, list[tuple[float, float]]] = {}
    for fid, s, t in g.flows:
        sx, sy, sw, sh = shapes[s]
        tx, ty, tw, th = shapes[t]
        a = (sx + sw, sy + sh / 2)
        z = (tx, ty + th / 2)
        if tx <= sx:  # a flow back (a loop): leave below and come back in from below
            a = (sx + sw / 2, sy + sh)
            z = (tx + tw / 2, ty + th)
            low = max(sy + sh, ty + th) + _ROW_GAP / 2
            routes[fid] = [a, (a[0], low), (z[0], low), z]
        elif abs(a[1] - z[1]) < 0.5:
            routes[fid] = [a, z]
        else:
            mid = (a[0] + z[0]) / 2
            routes[fid] = [a, (mid, a[1]), (mid, z[1]), z]
    return shapes, routes


# ---------------------------------------------------------------------------------------
# the parameters
# ---------------------------------------------------------------------------------------
def _capacity(model: SimulationModel, act: str, visits_per_case: float, closed_s: float) -> int:
    """Performers for a step that needs nobody: its expected work in progress at the peak
    arrival rate, counting what piles up over the longest closed stretch of its calendar,
    plus :data:`CAPACITY_SDS` Poisson standard deviations."""
    arr = model.arrivals
    gap_mean = max(mean(arr["gaps"]), 1e-12)
    peak = float(np.max(np.asarray(arr["intensity"], dtype=float))) / 3600.0 / gap_mean
    load = peak * visits_per_case * (mean(model.activities[act]["duration"]) + closed_s)
    return int(min(CAPACITY_MAX, max(1, math.ceil(load + CAPACITY_SDS * math.sqrt(load)) + 1)))


def _parameters(
    model: SimulationModel,
    g: _Graph,
    task: dict[str, str],
    timers: dict[str, str],
    flows: dict[tuple[str, str], float],
) -> dict[str, Any]:
    from flowlens.timing.calendars import CalendarSet

    cals = (
        dict(CalendarSet.from_dict({"timezone": model.timezone, "teams": model.calendars}).teams)
        if model.calendars
        else {}
    )
    spans = {name: _week_spans(dict(c.hours)) for name, c in sorted(cals.items())}
    spans["24x7"] = [(d, 0.0, 86400.0) for d in range(7)]
    cal_id = {name: f"calendar_{i + 1}" for i, name in enumerate(sorted(spans))}
    calendars = [
        {"id": cal_id[name], "name": name, "time_periods": _periods(spans[name])} for name in sorted(spans)
    ]

    # resources: one profile per pool, one resource per member; a pool per unstaffed step
    profiles: list[dict[str, Any]] = []
    members_of: dict[str, list[str]] = {}
    pool_tasks: dict[str, list[str]] = defaultdict(list)
    for a in model.activity_names():
        for p in model.activities[a].get("pools") or {}:
            pool_tasks[p].append(task[a])
    for i, pname in enumerate(sorted(model.pools)):
        pool = model.pools[pname]
        ids = [f"pool_{i + 1}_{j + 1}" for j in range(len(pool["members"]))]
        members_of[pname] = ids
        profiles.append(
            {
                "id": f"pool_{i + 1}",
                "name": pname,
                "resource_list": [
                    {
                        "id": rid,
                        "name": member,
                        "cost_per_hour": 0,
                        "amount": 1,
                        # a member on a shift of their own works its hours (16.2)
                        "calendar": cal_id[
                            pool.get("member_calendars", {}).get(member, pool.get("calendar", "24x7"))
                        ],
                        "assigned_tasks": pool_tasks.get(pname, []),
                    }
                    for rid, member in zip(ids, pool["members"], strict=True)
                ],
            }
        )
    cases = sum(c for (a, _), c in flows.items() if a == START) or 1.0
    visits: dict[str, float] = defaultdict(float)
    for (_, b), c in flows.items():
        visits[b] += c
    distributions = []
    for a in model.activity_names():
        spec = model.activities[a]
        dist = prosimos_distribution(spec["duration"])
        rids = [rid for p in sorted(spec.get("pools") or {}) for rid in members_of[p]]
        if not rids:
            cname = spec.get("calendar", "24x7")
            rid = f"nobody_{task[a]}"
            amount = _capacity(model, a, visits.get(a, 0.0) / cases, _longest_closed(spans[cname]))
            profiles.append(
                {
                    "id": f"pool_{rid}",
                    "name": f"no staff ({task[a]})",
                    "resource_list": [
                        {
                            "id": rid,
                            "name": f"no staff ({task[a]})",
                            "cost_per_hour": 0,
                            "amount": amount,
                            "calendar": cal_id[cname],
                            "assigned_tasks": [task[a]],
                        }
                    ],
                }
            )
            rids = [rid]
        distributions.append({"task_id": task[a], "resources": [{"resource_id": r, **dist} for r in rids]})

    # arrivals: a calendar of the busiest hours and gaps scaled to fill them
    inten = np.asarray(model.arrivals["intensity"], dtype=float)
    keep = _arrival_hours(inten)
    gaps = model.arrivals["gaps"]
    # a gap of 1 on flowlens's clock is one expected arrival: the open seconds per expected one
    scale = float(keep.sum()) * 3600.0 / max(float(inten.sum()), 1e-12)
    arrival = (
        _histogram(gaps, scale)
        if gaps["dist"] == "empirical"
        else prosimos_distribution(_scaled(gaps, scale))
    )
    events = [
        {"event_id": timers[a], **prosimos_distribution(model.activities[a]["delay"], keep_zeros=False)}
        for a in sorted(timers)
    ]
    return {
        "resource_profiles": profiles,
        "arrival_time_distribution": arrival,
        "arrival_time_calendar": _arrival_calendar(keep),
        "gateway_branching_probabilities": [
            {"gateway_id": gid, "probabilities": [{"path_id": f, "value": p} for f, p in probs]}
            for gid, probs in g.branching.items()
        ],
        "task_resource_distribution": distributions,
        "resource_calendars": calendars,
        "event_distribution": events,
    }


#: What a step may say that the export leaves out (methods §16.7): (name, the activity keys
#: that say it), in the order :func:`left_out` lists them.
_STEP_KEYS_LEFT_OUT: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("anchored steps", ("anchor",)),
    ("delays per context", ("delay_context",)),
    # a timer runs in calendar time: a delay fitted in working time of these hours is shorter
    # there (by the hours' open share, 14 of 24 for 08-22) and may end while they are closed
    ("the hours waits end in", ("delay_calendar",)),
    ("step priorities", ("priority",)),
    ("continuations", ("continues_after",)),
    ("abandonment", ("abandonment",)),
    ("pools by the previous step", ("pools_after",)),
    (
        "scenario edits",
        (
            "skip",
            "skip_where",
            "skip_after",
            "skip_rules",
            "duration_factor",
            "delay_factor",
            "repeat_factor",
            "merged_after",
        ),
    ),
)


def left_out(model: SimulationModel) -> list[str]:
    """What ``model`` says that its Prosimos export cannot (methods §16.7), by name: the export
    runs without it, so Prosimos's results differ from flowlens's by what these do.

    >>> from flowlens.simulation.model import example_model
    >>> d = example_model()
    >>> left_out(SimulationModel.from_dict(d))
    []
    >>> d["batching"] = {"Decide": {"size": 5}}
    >>> left_out(SimulationModel.from_dict(d))
    ['batching rules']
    """
    acts = model.activities.values()
    pools = model.pools.values()
    out = []
    if (model.arrivals.get("attributes") or {}).get("columns"):
        out.append("case attributes")
    if model.arrivals.get("closed_dates"):
        out.append("closed dates")
    if model.priority:
        out.append("case priority")
    out += [name for name, keys in _STEP_KEYS_LEFT_OUT if any(k in a for a in acts for k in keys)]
    if model.batching:
        out.append("batching rules")
    if any(p.get("assignment") == "person" for p in pools):
        out.append("assignment to one person")
    if any(p.get("other_work") for p in pools):
        out.append("other work")
    if any(c.get("holidays") or c.get("extra_workdays") or c.get("preset") for c in model.calendars.values()):
        out.append("holidays and extra working days")
    return out


def export_prosimos(model: SimulationModel, folder: str | Path) -> tuple[Path, Path]:
    """Write ``model`` as ``prosimos.bpmn`` and ``prosimos.json`` in ``folder`` (created when
    missing; the files are replaced whole or not at all) for Prosimos 2.1.0 and Apromore; see
    the module docstring for what is exported and how. Returns the two paths.

    >>> import tempfile
    >>> from flowlens.simulation.model import example_model
    >>> bpmn, _ = export_prosimos(SimulationModel.from_dict(example_model()), tempfile.mkdtemp())
    >>> b'<bpmn:task id="Activity_1" name="Check">' in bpmn.read_bytes()
    True
    """
    from flowlens.outputs import write_bytes, write_text

    model.validate()
    flows = order1_projection(model)
    blocks = parallel_blocks(flows, model.control_flow.get("concurrent") or [])
    g, task, timers = _build(model, flows, blocks)
    params = _parameters(model, g, task, timers, flows)
    params["flowlens"] = {
        "note": "written by flowlens from a simulation model (methods §16.7); Prosimos ignores this key",
        "prosimos_version": PROSIMOS_VERSION,
        "model": model.name,
        "timezone": model.timezone,
        "order": int(model.control_flow["order"]),
        "parallel_blocks": [list(b) for b in blocks],
        "tasks": {task[a]: a for a in model.activity_names()},
        "left_out": left_out(model),
    }
    out = Path(folder)
    bpmn_path = write_bytes(out / BPMN_NAME, _bpmn_xml(model, g))
    json_path = write_text(out / JSON_NAME, json.dumps(params, indent=1, ensure_ascii=False) + "\n")
    return bpmn_path, json_path


__all__ = [
    "PROSIMOS_VERSION",
    "export_prosimos",
    "left_out",
    "order1_projection",
    "parallel_blocks",
    "prosimos_distribution",
]
