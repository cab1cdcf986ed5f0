"""Attribute columns of a log: naming them, finding the ones that play a role, one row per case.

Columns that play no core role (:mod:`flowlens.columns`) are kept as attributes
(:attr:`EventLog.attributes <flowlens.log.EventLog.attributes>`: canonical name -> source name).
Analyses find the ones they need here: :func:`resolve_column` turns a user-given name
(canonical or source) into the canonical column, :func:`detect_column` finds the column playing
a role (customer, channel, reason, contact) from common names (:data:`CANDIDATES`), and
:func:`case_attribute_table` gives one value per case.

>>> import pandas as pd, flowlens
>>> log = flowlens.read_log(pd.DataFrame({"case": ["1"], "activity": ["a"],
...     "timestamp": ["2024-01-01"], "Customer ID": ["k"]}))
>>> detect_column(log, "customer") == resolve_column(log, "Customer ID")
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from flowlens.errors import ConfigError

if TYPE_CHECKING:
    import ibis

    from flowlens.log import EventLog

#: Column names tried per role, most specific first; compared after removing case, spaces,
#: ``_``, ``-``, ``:``, ``.``.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "customer": (
        "customer_id",
        "customerid",
        "customer",
        "client_id",
        "clientid",
        "client",
        "cust_id",
        "customer_no",
        "customer_number",
        "party_id",
        "org:customer",
        "客户号",
        "客户编号",
        "客户id",
        "客户",
        "用户id",
        "用户号",
    ),
    "channel": (
        "channel",
        "origin_channel",
        "contact_channel",
        "channel_type",
        "source_channel",
        "medium",
        "渠道",
        "来源渠道",
        "服务渠道",
        "接入渠道",
    ),
    "reason": (
        "reason",
        "intent",
        "contact_reason",
        "call_reason",
        "category",
        "issue_type",
        "request_type",
        "topic",
        "原因",
        "诉求",
        "意图",
        "类别",
        "业务类型",
        "process",
        "process_type",
        "流程",
    ),
    "contact": (
        "contact_id",
        "contactid",
        "interaction_id",
        "conversation_id",
        "call_id",
        "session_id",
        "chat_id",
        "联系id",
        "联系编号",
        "通话id",
        "会话id",
        "来电编号",
    ),
}


def norm_name(name: str) -> str:
    """A column name compared loosely: lower case, without spaces, ``_``, ``-``, ``:``, ``.``,
    ``/`` and parentheses.

    >>> norm_name("Customer_ID (new)")
    'customeridnew'
    """
    return re.sub(r"[\s_\-:./()]+", "", name.strip().lower())


def resolve_column(log: EventLog, name: str, *, what: str = "column") -> str:
    """The canonical attribute column for a user-given name (canonical or source name).

    Raises :class:`~flowlens.errors.ConfigError` listing the available attributes otherwise.
    """
    if name in log.attributes:
        return name
    for canon, src in log.attributes.items():
        if src == name:
            return canon
    p = log.pseudonyms
    if p is not None and (name in p.withheld or f"src:{name}" in p.withheld):
        raise ConfigError(
            f"column '{name}' is withheld: free text is kept out of pseudonymised outputs",
            hint=f"add --pseudonymise-columns {name} to keep it, pseudonymised",
        )
    available = ", ".join(sorted(log.attributes.values())) or "none"
    raise ConfigError(
        f"no column '{name}' for the {what} in the log; available attributes: {available}",
        hint="name one of them, or join a case table with --cases",
    )


def detect_column(log: EventLog, role: str, given: str | None = "auto") -> str | None:
    """The canonical column playing ``role`` (customer, channel, reason, contact).

    ``given="auto"`` detects it from common names (:data:`CANDIDATES`), ``None`` disables the
    role, any other value must name a column.

    >>> import pandas as pd, flowlens
    >>> log = flowlens.read_log(pd.DataFrame({"case": ["1"], "activity": ["a"],
    ...     "timestamp": ["2024-01-01"], "客户号": ["k"], "渠道": ["app"]}))
    >>> detect_column(log, "customer"), detect_column(log, "channel"), detect_column(log, "reason")
    ('客户号', '渠道', None)
    """
    if given is None:
        return None
    if given != "auto":
        return resolve_column(log, given, what=role)
    by_norm: dict[str, str] = {}
    for canon, src in log.attributes.items():
        by_norm.setdefault(norm_name(src), canon)
        by_norm.setdefault(norm_name(canon), canon)
    for cand in CANDIDATES[role]:
        hit = by_norm.get(norm_name(cand))
        if hit is not None:
            return hit
    return None


def case_attribute_table(log: EventLog, columns: Sequence[str]) -> ibis.Table:
    """One row per case: ``case_idx`` and, per column, its value at the case's first instance
    (in the order of methods §1.3) where it is not null."""
    t = log.table
    aggs = {c: t[c].argmin(t.eid, where=t[c].notnull()) for c in columns}
    return t.group_by("case_idx").aggregate(**aggs)


__all__ = ["CANDIDATES", "case_attribute_table", "detect_column", "norm_name", "resolve_column"]
