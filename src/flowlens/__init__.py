"""flowlens: process mining and workflow optimisation for service event logs.

The public API is a flat set of verbs over an :class:`EventLog`::

    >>> import flowlens
    >>> log = flowlens.read_log("event_logs/bank_demo/events.parquet")   # doctest: +SKIP
    >>> print(log)                                                      # doctest: +SKIP

Names are imported lazily so that ``import flowlens`` (and ``flowlens --help``) stays fast;
engines and pm4py load only when an analysis needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "read_log": "flowlens.io",
    "write_log": "flowlens.io.writers",
    "EventLog": "flowlens.log",
    "LogSummary": "flowlens.log",
    "ColumnMap": "flowlens.columns",
    "QualityReport": "flowlens.quality",
    "directly_follows": "flowlens.discovery.dfg",
    "variants": "flowlens.discovery.variants",
    "case_durations": "flowlens.discovery.cases",
    "FlowlensError": "flowlens.errors",
}

__all__ = [
    "ColumnMap",
    "EventLog",
    "FlowlensError",
    "LogSummary",
    "QualityReport",
    "__version__",
    "case_durations",
    "directly_follows",
    "read_log",
    "variants",
    "write_log",
]

if TYPE_CHECKING:
    from flowlens.columns import ColumnMap
    from flowlens.discovery.cases import case_durations
    from flowlens.discovery.dfg import directly_follows
    from flowlens.discovery.variants import variants
    from flowlens.errors import FlowlensError
    from flowlens.io import read_log
    from flowlens.io.writers import write_log
    from flowlens.log import EventLog, LogSummary
    from flowlens.quality import QualityReport


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flowlens' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
