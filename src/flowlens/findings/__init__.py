"""Redundant steps, found and priced: detectors that return :class:`Finding` objects ranked by
the customer time at stake (docs/methods.md, "Redundant steps")."""

from flowlens.findings.allowlist import AllowList
from flowlens.findings.model import KINDS, Finding, Scenario

__all__ = ["KINDS", "AllowList", "Finding", "Scenario"]
