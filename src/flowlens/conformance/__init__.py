"""Conformance: how far the log strays from a designed process (BPMN or PNML).

>>> from flowlens.conformance import conformance, ConformanceResult
>>> conformance.__name__
'conformance'
"""

from flowlens.conformance.check import conformance
from flowlens.conformance.result import ConformanceResult, Deviation, LeadComparison, LeadGroup

__all__ = ["ConformanceResult", "Deviation", "LeadComparison", "LeadGroup", "conformance"]
