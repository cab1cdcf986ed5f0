"""Deadlines and SLA compliance: regulatory time limits as data, evaluated per case in the engine.

A :class:`SlaRule` says when a case's clock starts (the case start, a receipt activity or a
received-time column), when it stops (the first final response after the start, or the case
end), how long it may run (calendar days, business days on a working calendar, or hours),
which extensions apply (a holding response or an extension activity before the deadline, or a
case flag), and which activity pairs pause the clock (waiting for the customer where the rule
allows it). :func:`presets` holds the rules of domain.md section 4 with their sources.

:func:`evaluate_sla` computes, for every case and as Ibis expressions (DuckDB or Spark): clock
start and stop, paused time, elapsed time, the base and the applicable deadline, and a status:
``met`` (by the base deadline), ``extended`` (after it, within an extension that applied),
``breached`` (late, or still open after its deadline at the end of the log) or ``open``
(not answered, deadline still ahead: its time to breach is given). :func:`time_in_window` says
which activities (and waiting causes) breached and on-time cases spent their deadline time in;
:func:`category_profile` gives high-frequency complaint categories with their time profile.

Day arithmetic (docs/methods.md, "Deadlines and SLA compliance"): a deadline of N days ends at
the **end of the N-th day after the day of receipt** in the rule's time zone (the day of receipt
is not counted; China's 民法典 art. 201 and FCA DISP 1.6.2AR count this way). For business
days only working days of the calendar count (weekends and holidays excluded, China's
adjusted working weekends included). ``day_count="including_receipt"`` counts the day of
receipt as day 1; ``deadline_at="same_time"`` ends the deadline at the clock time of receipt
(the bank generator's convention) instead of at midnight; ``receipt_cutoff`` treats receipts
after that local time (and, for business days, on non-working days) as received on the next
(working) day, the FCA's optional treatment in DISP 1.5.

>>> import flowlens, pandas as pd
>>> df = pd.DataFrame({"case": ["1", "1", "2", "2"],
...     "activity": ["Receive", "Final Response", "Receive", "Final Response"],
...     "timestamp": ["2024-03-01 10:00", "2024-03-16 23:00", "2024-03-01 10:00", "2024-03-17 00:30"]})
>>> log = flowlens.read_log(df, tz="Asia/Shanghai")
>>> res = evaluate_sla(log, get_preset("CN_NFRA_2020"))
>>> res.frame()[["case_id", "status", "deadline"]].astype(str).values.tolist()
[['1', 'met', '2024-03-17 00:00:00+08:00'], ['2', 'breached', '2024-03-17 00:00:00+08:00']]
"""

from __future__ import annotations

from flowlens.analysis.sla.breakdown import (
    CATEGORY_COLUMNS,
    MIN_TREND_CASES,
    CategoryProfile,
    SlaAnalysis,
    TimeIn,
    category_profile,
    detect_category,
    sla_analysis,
    time_in_window,
)
from flowlens.analysis.sla.engine import SlaResult, covered_cases, evaluate_sla, with_case_attributes
from flowlens.analysis.sla.presets import (
    ACKNOWLEDGE,
    ALIASES,
    COMPLAINT_INTAKE,
    COMPLAINTS,
    DISPUTE_INTAKE,
    DISPUTES,
    FINAL_RESPONSE,
    HOLDING_RESPONSE,
    NOTIFY_RESULT,
    PROVISIONAL_CREDIT,
    SECOND_EXTENSION,
    get_preset,
    given_rules,
    load_rules,
    presets,
    rule_from_dict,
)
from flowlens.analysis.sla.rules import (
    CASE_END,
    CASE_START,
    STATUSES,
    UNITS,
    Extension,
    Pause,
    Scope,
    SlaRule,
    custom_rule,
    holidays_for,
    parse_scope,
)

__all__ = [
    "ACKNOWLEDGE",
    "ALIASES",
    "CASE_END",
    "CASE_START",
    "CATEGORY_COLUMNS",
    "COMPLAINTS",
    "COMPLAINT_INTAKE",
    "DISPUTES",
    "DISPUTE_INTAKE",
    "FINAL_RESPONSE",
    "HOLDING_RESPONSE",
    "MIN_TREND_CASES",
    "NOTIFY_RESULT",
    "PROVISIONAL_CREDIT",
    "SECOND_EXTENSION",
    "STATUSES",
    "UNITS",
    "CategoryProfile",
    "Extension",
    "Pause",
    "Scope",
    "SlaAnalysis",
    "SlaResult",
    "SlaRule",
    "TimeIn",
    "category_profile",
    "covered_cases",
    "custom_rule",
    "detect_category",
    "evaluate_sla",
    "get_preset",
    "given_rules",
    "holidays_for",
    "load_rules",
    "parse_scope",
    "presets",
    "rule_from_dict",
    "sla_analysis",
    "time_in_window",
    "with_case_attributes",
]
