"""Analyses on the time model: why and where customers wait, bottlenecks, journeys, segments,
deadlines, slow-case drivers (docs/methods.md 6-)."""
