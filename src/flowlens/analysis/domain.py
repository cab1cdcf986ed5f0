"""The kind of organisation a log comes from, for the report's wording.

flowlens was built around banks, but most logs it reads are not a bank's: a helpdesk, a
hospital, a municipality. Text that says "the bank" or "outside the bank's log" is then wrong.
**Rule** (docs/methods.md §9.5): the domain is banking when the user says so (``--domain
bank``) or when the log names banking work in at least :data:`MIN_TERMS` different terms of
:data:`BANK_TERMS` (in its activity names or process values: "Open Account", "AML Screening",
"loan_application", 开户, 贷款, ...); otherwise it is unknown and the wording is neutral ("the
organisation"). A log of loan applications in Dutch, or a call centre's VRU/Queue/Service steps,
is not detected: say ``--domain bank``.

>>> import pandas as pd, flowlens
>>> df = pd.DataFrame({"case": ["1", "1"], "activity": ["Open Account", "AML Screening"],
...                    "timestamp": ["2024-01-01 09:00", "2024-01-01 10:00"]})
>>> d = detect_domain(flowlens.read_log(df))
>>> d.name, d.org, d.org_s
('bank', 'the bank', "the bank's")
>>> detect_domain(flowlens.read_log(df), "generic").org
'the organisation'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowlens.errors import ConfigError
from flowlens.i18n import M_

if TYPE_CHECKING:
    from flowlens.log import EventLog

DOMAINS = ("auto", "bank", "generic")
#: Different terms a log must name before it is taken for a bank's.
MIN_TERMS = 2
#: Terms of banking work (matched as words, ignoring case, ``_`` and ``-``; Chinese as text).
BANK_TERMS: tuple[str, ...] = (
    "open account",
    "account opening",
    "bank account",
    "savings account",
    "current account",
    "loan",
    "mortgage",
    "credit card",
    "debit card",
    "issue card",
    "card dispute",
    "chargeback",
    "provisional credit",
    "aml",
    "anti money laundering",
    "kyc",
    "know your customer",
    "wire transfer",
    "mobile banking",
    "internet banking",
    "开户",
    "销户",
    "贷款",
    "信用卡",
    "借记卡",
    "银行",
    "反洗钱",
    "网银",
    "手机银行",
)


@dataclass(frozen=True)
class Domain:
    """The domain of a log and the words the report uses for the organisation."""

    #: "bank" or "generic"
    name: str
    #: why (given, or the terms found)
    reason: str

    @property
    def org(self) -> str:
        """The organisation: "the bank" for banks, else "the organisation"."""
        return "the bank" if self.name == "bank" else "the organisation"

    @property
    def org_s(self) -> str:
        """Possessive: "the bank's" / "the organisation's"."""
        return self.org + "'s"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason, "organisation": self.org}


def _norm(text: str) -> str:
    return " " + re.sub(r"[\s_\-/]+", " ", str(text)).strip().casefold() + " "


def bank_terms(texts: list[str]) -> list[str]:
    """The :data:`BANK_TERMS` named in ``texts`` (sorted).

    >>> bank_terms(["Open Account", "Review loan_application", "Call"])
    ['loan', 'open account']
    """
    joined = " | ".join(_norm(t) for t in texts)
    found = []
    for term in BANK_TERMS:
        w = _norm(term).strip()
        if (w.isascii() and f" {w} " in joined) or (not w.isascii() and w in joined):
            found.append(term)
    return sorted(found)


def detect_domain(log: EventLog, given: str | None = "auto") -> Domain:
    """The domain of ``log`` (see the module docstring); ``given`` "bank" or "generic" wins."""
    choice = (given or "auto").strip().lower()
    if choice not in DOMAINS:
        raise ConfigError(f"unknown domain '{given}'; choose one of {', '.join(DOMAINS)}")
    if choice != "auto":
        return Domain(choice, "given")

    def build() -> Domain:
        from flowlens.analysis.processes import detect_processes

        t = log.table
        texts = t.select("activity").distinct().to_pandas()["activity"].dropna().astype(str).tolist()
        split = detect_processes(log)
        if split is not None:
            texts += split.processes
        found = bank_terms(texts)
        if len(found) >= MIN_TERMS:
            return Domain("bank", M_("the log names banking work: {terms}", terms=", ".join(found[:6])))
        return Domain("generic", M_("not known to be a bank (say --domain bank if it is)"))

    return log.memo("domain:auto", build)


__all__ = ["BANK_TERMS", "DOMAINS", "MIN_TERMS", "Domain", "bank_terms", "detect_domain"]
