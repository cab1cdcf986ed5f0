"""Simulation: a model learned from the log, an engine that runs it, and its fidelity.

The stage after the analyses (methods §16): :func:`fit_model` reads the time model, waiting
causes and calendars of an :class:`~flowlens.log.EventLog` into a
:class:`SimulationModel` (plain JSON data), :func:`simulate` runs it into an event log that
:func:`flowlens.read_log` reads.
"""

from flowlens.simulation.engine import simulate
from flowlens.simulation.model import SimulationModel

__all__ = ["SimulationModel", "simulate"]
