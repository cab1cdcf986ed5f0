"""The regulatory allow-list: steps the law requires, which are never removal candidates.

AML screening and review, KYC and enhanced due diligence, online identity checks and face
verification (PBOC risk-based verification), dual recording of wealth sales (双录), risk
questionnaires, step-up authentication and fraud checks are required even when they repeat
(domain.md 0.4, 6.5 decoys D1-D4). A finding on such a step is still reported, marked
``regulatory``, with the lever "make it faster", never "remove it".

Entries are case-insensitive regular expressions searched in the activity name; a file (TOML
or JSON) adds entries or, with ``replace_defaults = true``, replaces them::

    replace_defaults = false
    [[allow]]
    pattern = "sanctions? screening"
    reason = "sanctions screening is required"

>>> a = AllowList.default()
>>> a.match("AML Screening"), a.match("Manual AML Review") is not None, a.match("Fill Application Form")
('anti-money-laundering screening and review are required (AML/CFT rules)', True, None)
>>> a.match("双录") is not None
True
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from flowlens.errors import ConfigError
from flowlens.i18n import M_

# the default reasons are shown in the report: marked so they are read in its language
_DEFAULTS: tuple[tuple[str, str], ...] = (
    (
        r"\baml\b|anti[- ]?money|money laundering|反洗钱|洗钱",
        M_("anti-money-laundering screening and review are required (AML/CFT rules)"),
    ),
    (
        r"\bkyc\b|know your customer|due diligence|\bedd\b|\bcdd\b|尽职调查|客户身份识别",
        M_("customer due diligence is required (KYC, PBOC 银发〔2017〕117号)"),
    ),
    (
        r"online id check|联网核查|face (verification|check|recognition)|liveness|人脸|活体",
        M_("risk-based identity verification is required at onboarding (PBOC)"),
    ),
    (
        r"dual recording|双录|录音录像",
        M_("dual recording of wealth and agency sales is required (NFRA, since 2017)"),
    ),
    (
        r"risk (questionnaire|assessment|profil)|suitability|风险测评|风险评估|适当性",
        M_("suitability assessment is required before wealth sales"),
    ),
    (
        r"step[- ]?up|strong customer authentication|\bsca\b|二次验证|增强验证",
        M_("step-up authentication is required for high-risk operations"),
    ),
    (r"fraud|欺诈", M_("fraud checks are required")),
    (r"sanction", M_("sanctions screening is required")),
)


@dataclass(frozen=True)
class AllowEntry:
    pattern: str
    reason: str

    def matches(self, activity: str) -> bool:
        return re.search(self.pattern, activity, re.IGNORECASE) is not None


@dataclass(frozen=True)
class AllowList:
    entries: tuple[AllowEntry, ...]
    source: str = "defaults"

    @classmethod
    def default(cls) -> AllowList:
        return cls(tuple(AllowEntry(p, r) for p, r in _DEFAULTS))

    @classmethod
    def from_file(cls, path: str | Path) -> AllowList:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
            data = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
        except OSError as exc:
            raise ConfigError(f"cannot read allow-list {p}: {exc.strerror}") from exc
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(
                f"allow-list {p} is not valid {p.suffix.lstrip('.').upper() or 'JSON'}: {exc}"
            ) from exc
        raw = data.get("allow", []) if isinstance(data, dict) else None
        if not isinstance(raw, list):
            raise ConfigError(f"allow-list {p}: expected a list 'allow' of {{pattern, reason}} entries")
        entries = []
        for i, item in enumerate(raw, start=1):
            if not isinstance(item, dict) or "pattern" not in item:
                raise ConfigError(f"allow-list {p}: entry {i} needs a 'pattern' (and a 'reason')")
            try:
                re.compile(str(item["pattern"]))
            except re.error as exc:
                raise ConfigError(
                    f"allow-list {p}: entry {i}: bad pattern {item['pattern']!r}: {exc}"
                ) from exc
            entries.append(
                AllowEntry(str(item["pattern"]), str(item.get("reason", "allowed by the user's list")))
            )
        base = () if data.get("replace_defaults") else cls.default().entries
        return cls((*base, *entries), source=str(p))

    def match(self, activity: str) -> str | None:
        """The reason an activity is required, or None."""
        for e in self.entries:
            if e.matches(activity):
                return e.reason
        return None
