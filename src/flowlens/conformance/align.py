"""Optimal alignments of variants against a Petri net, within a deadline.

The costs are pm4py's standard ones (a log or model move on a visible step costs 10,000, a
silent step 1, a synchronous move 0) and the search is pm4py's exact Dijkstra over the
synchronous product (``dijkstra_less_memory``) with those costs given explicitly: the optimal
cost is then the one pm4py's default A* finds, so fitness agrees with
``pm4py.fitness_alignments`` to the last bit, while the search runs several times faster on
models from the inductive miner (no linear program per state).

>>> from flowlens.discovery.bpmn import tree_from_variants, to_petri_net
>>> from flowlens.pm4py_bridge import pm4py
>>> from collections import Counter
>>> net = to_petri_net(pm4py().convert_to_petri_net(tree_from_variants(Counter({("a", "b"): 1}))))
>>> aligner = Aligner(net)
>>> r = aligner.align(("a", "c", "b"), deadline=float("inf"))
>>> r.fits, r.inserted, r.skipped
(False, (('c', 1),), ())
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from flowlens.discovery.bpmn import canonical_order

if TYPE_CHECKING:
    from flowlens.discovery.bpmn import PetriModel

#: pm4py's cost of one deviation (a log move or a model move on a visible transition).
MOVE_COST = 10_000
_TAU_COST = 1
_SKIP = ">>"


@dataclass(frozen=True)
class VariantAlignment:
    """One variant's optimal alignment, summarised.

    ``cost`` is pm4py's raw alignment cost and ``bwc`` its best-worst cost for the trace
    (every event a log move plus the cheapest run of the model), so that trace fitness is
    ``1 - (cost // 10000) / (bwc // 10000)`` and log fitness ``1 - Σ cost / Σ bwc`` exactly as
    pm4py computes them.
    """

    cost: int
    bwc: int
    skipped: tuple[tuple[str, int], ...]
    inserted: tuple[tuple[str, int], ...]

    @property
    def deviations(self) -> int:
        return self.cost // MOVE_COST

    @property
    def fitness(self) -> float:
        den = self.bwc // MOVE_COST
        return 1 - self.deviations / den if den > 0 else 0.0

    @property
    def fits(self) -> bool:
        return self.cost < MOVE_COST


class Aligner:
    """Aligns traces (activity tuples) to one Petri net."""

    def __init__(self, model: PetriModel) -> None:
        from flowlens.pm4py_bridge import pm4py

        pm4py()  # quiet import first
        from pm4py.algo.conformance.alignments.petri_net.variants import dijkstra_less_memory

        self._algo = dijkstra_less_memory
        self.model = model
        # pm4py keeps places and transitions in sets ordered by memory address, and the
        # search breaks ties between equally good alignments in that order; a canonical
        # order makes the reported deviations the same from run to run.
        places, transitions = canonical_order(model.net, model.initial_marking)
        self._net = SimpleNamespace(
            name=model.net.name, places=places, transitions=transitions, arcs=model.net.arcs
        )
        # pm4py's standard costs, given explicitly: the variant's own default makes some
        # silent steps free, which would change the raw costs that log fitness adds up.
        self._costs = {t: (MOVE_COST if t.label is not None else _TAU_COST) for t in model.net.transitions}
        self._bwc_model: int | None = None

    def _run(self, trace: tuple[str, ...], deadline: float) -> dict[str, Any] | None:
        from pm4py.objects.log.obj import Event, Trace

        remaining = deadline - time.time()
        if remaining <= 0:
            return None
        params = {
            self._algo.Parameters.PARAM_MODEL_COST_FUNCTION: self._costs,
            self._algo.Parameters.PARAM_TRACE_COST_FUNCTION: [MOVE_COST] * len(trace),
            self._algo.Parameters.PARAM_MAX_ALIGN_TIME_TRACE: remaining,
        }
        _, im, fm = self.model
        net = self._net
        result: dict[str, Any] | None = self._algo.apply(
            Trace([Event({"concept:name": a}) for a in trace]), net, im, fm, parameters=params
        )
        return result

    def best_worst_cost(self, deadline: float) -> int | None:
        """Cost of the cheapest complete run of the model (the empty trace's alignment)."""
        if self._bwc_model is None:
            ali = self._run((), deadline)
            if ali is None:
                return None
            self._bwc_model = int(ali["cost"])
        return self._bwc_model

    def align(self, trace: tuple[str, ...], deadline: float) -> VariantAlignment | None:
        """The optimal alignment of ``trace``, or None when the deadline passes first."""
        bwc = self.best_worst_cost(deadline)
        if bwc is None:
            return None
        ali = self._run(trace, deadline)
        if ali is None:
            return None
        skipped: Counter[str] = Counter()
        inserted: Counter[str] = Counter()
        for log_label, model_label in ali["alignment"]:
            if log_label == _SKIP:
                if model_label is not None and model_label != _SKIP:
                    skipped[model_label] += 1
            elif model_label == _SKIP:
                inserted[log_label] += 1
        return VariantAlignment(
            cost=int(ali["cost"]),
            bwc=MOVE_COST * len(trace) + bwc,
            skipped=tuple(sorted(skipped.items())),
            inserted=tuple(sorted(inserted.items())),
        )


def align_all(
    model: PetriModel, traces: list[tuple[str, ...]], deadline: float
) -> Iterator[tuple[int, VariantAlignment | None]]:
    """Align ``traces`` in the given order of priority until ``deadline`` (``time.time()``).

    Yields ``(index, alignment)``; the first trace the deadline cuts off yields None and ends
    the run. (One process: on this project's machines a second one adds no throughput, see
    docs/methods.md §5.)
    """
    aligner = Aligner(model)
    for i, trace in enumerate(traces):
        ali = aligner.align(trace, deadline)
        yield i, ali
        if ali is None:
            return
