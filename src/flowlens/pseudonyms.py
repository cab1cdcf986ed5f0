"""Pseudonymised identifiers: case, customer and staff ids replaced by keyed hashes.

:func:`pseudonymise` returns a log whose case ids, resources and identifier attributes
(customer, contact, account, staff, phone, e-mail, ... ids; see :data:`IDENTIFIER`) are
replaced, in the engine, by ``<prefix><first 12 hex digits of sha256(key:value)>``. Every
analysis, report, JSON and CSV output made from that log then carries pseudonyms only, and the
quarantine file it writes has the same columns pseudonymised (and its raw lines withheld).
The same key gives the same pseudonym for the same id, in every output and run, so results
stay linkable for whoever holds the key; without a key, a random one is drawn and pseudonyms
differ from run to run. Activities, teams and channels are not identifiers and stay.

>>> import flowlens, pandas as pd
>>> df = pd.DataFrame({"case": ["A-1", "A-1"], "activity": ["open", "close"], "customer_id": ["C7", "C7"],
...                    "resource": ["alice", "bob"], "timestamp": ["2024-01-01 09:00", "2024-01-01 10:00"]})
>>> log = pseudonymise(flowlens.read_log(df), key="secret")
>>> t = log.table.select("case_id", "resource", "customer_id").to_pandas()
>>> sorted(set(t.values.ravel()))
['case-a9bd37d16a7a', 'cust-7dc6ceef6f46', 'res-051e2e8cfee3', 'res-94fc63abd67a']
>>> log.pseudonyms.value("case_id", "A-1") == t.case_id[0]
True
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from flowlens.errors import ConfigError

if TYPE_CHECKING:
    import ibis

    from flowlens.log import EventLog

#: Attribute names that hold identifiers of people, accounts or contacts.
IDENTIFIER = re.compile(
    r"(^|[_\s:.-])(id|ids|no|number|nr)$|^id[_\s:.-]|customer|client|cust[_\s:.-]|contact|account|acct|"
    r"user|member|staff|agent|employee|officer|operator|phone|mobile|e-?mail|passport|iban|"
    r"(^|[_\s:.-])name$|客户|员工|账号|账户|手机|身份|姓名|工号",
    re.IGNORECASE,
)

DIGITS = 12


def _prefix(column: str) -> str:
    if column == "case_id":
        return "case-"
    if column == "resource":
        return "res-"
    low = column.lower()
    for word, prefix in (
        ("customer", "cust-"),
        ("client", "cust-"),
        ("contact", "contact-"),
        ("account", "acct-"),
    ):
        if word in low:
            return prefix
    return "id-"


@dataclass(frozen=True)
class Pseudonyms:
    """How a log's identifiers were pseudonymised: the key and the canonical columns."""

    key: str = ""
    #: canonical columns of the log that hold pseudonyms
    columns: tuple[str, ...] = ()
    #: False when the key was drawn at random (pseudonyms differ between runs)
    keyed: bool = True

    def expr(self, value: ibis.Value, column: str) -> ibis.Value:
        """The pseudonym of ``value`` (an engine expression) for ``column``."""
        import ibis

        digest = (ibis.literal(self.key + ":") + value.cast("string")).hexdigest("sha256")
        return ibis.ifelse(value.isnull(), ibis.null("string"), _prefix(column) + digest.substr(0, DIGITS))

    def value(self, column: str, v: Any) -> Any:
        """The pseudonym of one value (the same as :meth:`expr` computes in the engine)."""
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return v
        digest = hashlib.sha256(f"{self.key}:{v}".encode()).hexdigest()
        return _prefix(column) + digest[:DIGITS]

    def series(self, column: str, s: pd.Series) -> pd.Series:
        return s.map(lambda v: self.value(column, v))

    def frame(self, df: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
        """``df`` with its columns named in ``columns`` (frame column -> canonical column)
        pseudonymised, and any raw source line withheld."""
        out = df.copy()
        for col, canonical in columns.items():
            if col in out.columns:
                out[col] = self.series(canonical, out[col])
        if "raw_line" in out.columns:
            out["raw_line"] = out["raw_line"].where(
                out["raw_line"].isna(), "(withheld: identifiers are pseudonymised)"
            )
        return out

    def describe(self) -> str:
        how = "keyed" if self.keyed else "random key, not stable across runs"
        return f"pseudonymised ({how}): {', '.join(self.columns)}"


def identifier_columns(log: EventLog) -> list[str]:
    """The log's identifier columns: case id, resource and attributes named like ids."""
    cols = ["case_id"]
    if "resource" in log.table.columns:
        cols.append("resource")
    cols += [c for c in log.attributes if IDENTIFIER.search(c)]
    return cols


def pseudonymise(log: EventLog, columns: Iterable[str] | None = None, *, key: str | None = None) -> EventLog:
    """``log`` with the identifier ``columns`` (default :func:`identifier_columns`) replaced by
    keyed pseudonyms (module docstring). ``key``: a secret; None draws a random one."""
    from flowlens.log import replace_log

    if log.pseudonyms is not None:
        raise ConfigError("this log is already pseudonymised")
    cols = list(columns) if columns is not None else identifier_columns(log)
    unknown = [c for c in cols if c not in log.table.columns]
    if unknown:
        raise ConfigError(
            f"cannot pseudonymise {', '.join(unknown)}: not a column of the log",
            hint=f"columns: {', '.join(log.table.columns)}",
        )
    p = Pseudonyms(key=key if key else secrets.token_hex(16), columns=tuple(cols), keyed=bool(key))
    t = log.table
    # computed once: every later query would otherwise hash every id again
    table = log.engine.materialize(t.mutate(**{c: p.expr(t[c], c) for c in cols}), prefix="fl_pseudo")
    return replace_log(log, table=table, pseudonyms=p, filters=(*log.filters, p.describe()))


__all__ = ["IDENTIFIER", "Pseudonyms", "identifier_columns", "pseudonymise"]
