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
    "FlowlensError": "flowlens.errors",
    "directly_follows": "flowlens.discovery.dfg",
    "variants": "flowlens.discovery.variants",
    "case_durations": "flowlens.discovery.cases",
    "process_map": "flowlens.discovery.abstraction",
    "discover_bpmn": "flowlens.discovery.bpmn",
    "write_bpmn": "flowlens.discovery.bpmn",
    "write_pnml": "flowlens.discovery.bpmn",
    "read_model": "flowlens.discovery.bpmn",
    "conformance": "flowlens.conformance",
    "filter_time": "flowlens.filters",
    "filter_attribute": "flowlens.filters",
    "filter_variants": "flowlens.filters",
    "filter_lead_time": "flowlens.filters",
    "filter_endpoints": "flowlens.filters",
    "filter_contains": "flowlens.filters",
    "filter_activities": "flowlens.filters",
    "time_model": "flowlens.timing.model",
    "WorkCalendar": "flowlens.timing.calendars",
    "CalendarSet": "flowlens.timing.calendars",
    "discover_calendars": "flowlens.timing.discovery",
    "waiting_causes": "flowlens.analysis.waiting",
    "bottlenecks": "flowlens.analysis.bottlenecks",
    "bottleneck_report": "flowlens.analysis.bottlenecks",
    "journeys": "flowlens.analysis.journeys",
    "segments": "flowlens.analysis.segments",
    "drivers": "flowlens.analysis.drivers",
    "sla_analysis": "flowlens.analysis.sla",
    "get_preset": "flowlens.analysis.sla",
    "find_wastes": "flowlens.findings.api",
    "pseudonymise": "flowlens.pseudonyms",
    "build_report": "flowlens.report.build",
    "ReportOptions": "flowlens.report.build",
    "generate_bank": "flowlens.synth.bank",
}

__all__ = [
    "CalendarSet",
    "ColumnMap",
    "EventLog",
    "FlowlensError",
    "LogSummary",
    "QualityReport",
    "ReportOptions",
    "WorkCalendar",
    "__version__",
    "bottleneck_report",
    "bottlenecks",
    "build_report",
    "case_durations",
    "conformance",
    "directly_follows",
    "discover_bpmn",
    "discover_calendars",
    "drivers",
    "filter_activities",
    "filter_attribute",
    "filter_contains",
    "filter_endpoints",
    "filter_lead_time",
    "filter_time",
    "filter_variants",
    "find_wastes",
    "generate_bank",
    "get_preset",
    "journeys",
    "process_map",
    "pseudonymise",
    "read_log",
    "read_model",
    "segments",
    "sla_analysis",
    "time_model",
    "variants",
    "waiting_causes",
    "write_bpmn",
    "write_log",
    "write_pnml",
]

if TYPE_CHECKING:
    from flowlens.analysis.bottlenecks import bottleneck_report, bottlenecks
    from flowlens.analysis.drivers import drivers
    from flowlens.analysis.journeys import journeys
    from flowlens.analysis.segments import segments
    from flowlens.analysis.sla import get_preset, sla_analysis
    from flowlens.analysis.waiting import waiting_causes
    from flowlens.columns import ColumnMap
    from flowlens.conformance import conformance
    from flowlens.discovery.abstraction import process_map
    from flowlens.discovery.bpmn import discover_bpmn, read_model, write_bpmn, write_pnml
    from flowlens.discovery.cases import case_durations
    from flowlens.discovery.dfg import directly_follows
    from flowlens.discovery.variants import variants
    from flowlens.errors import FlowlensError
    from flowlens.filters import (
        filter_activities,
        filter_attribute,
        filter_contains,
        filter_endpoints,
        filter_lead_time,
        filter_time,
        filter_variants,
    )
    from flowlens.io import read_log
    from flowlens.io.writers import write_log
    from flowlens.log import EventLog, LogSummary
    from flowlens.quality import QualityReport
    from flowlens.report.build import ReportOptions, build_report
    from flowlens.synth.bank import generate_bank
    from flowlens.timing.calendars import CalendarSet, WorkCalendar
    from flowlens.timing.discovery import discover_calendars
    from flowlens.timing.model import time_model


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flowlens' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
