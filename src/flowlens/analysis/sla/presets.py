"""The regulatory deadline presets of domain.md section 4 and rule files (TOML/JSON).

Each preset names its jurisdiction and source; parts that domain.md marks **[verify]** are
marked as such in the preset's description and ``verify`` flag. Activity names are matched
leniently (case, spaces, underscores, hyphens) against the usual spellings below, in English
and Chinese; only those present in a log are used.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import date, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlens.analysis.sla.rules import (
    CASE_START,
    TRUTHY,
    Extension,
    Pause,
    Scope,
    SlaRule,
    parse_scope,
    rule_names,
    unit_word,
)
from flowlens.errors import ConfigError
from flowlens.i18n import M_
from flowlens.timing.calendars import WorkCalendar

if TYPE_CHECKING:
    pass


# -- presets (domain.md section 4) ------------------------------------------------------------

#: Usual spellings of the activities the presets look for (matched ignoring case, spaces,
#: underscores and hyphens); only those present in a log are used.
FINAL_RESPONSE = (
    "Final Response",
    "Send Final Response",
    "Final Reply",
    "Send Final Reply",
    "Final Response Sent",
    "Summary Resolution",
    "Send Summary Resolution",
    "Summary Resolution Communication",
    "Decision Notified",
    "Notify Decision",
    "Send Response",
    "Respond to Customer",
    "发送最终答复",
    "最终答复",
    "发送简易处理结果",
    "处理结果告知",
    "告知处理结果",
    "作出处理决定",
    "答复客户",
)
HOLDING_RESPONSE = (
    "Holding Response",
    "Send Holding Response",
    "Holding Reply",
    "Send Holding Reply",
    "Extend Deadline",
    "Deadline Extended",
    "Extension Notice",
    "Notify Extension",
    "发送延期告知",
    "延期告知",
    "延长处理期限",
    "告知延长时限",
)
SECOND_EXTENSION = (
    "Second Extension",
    "Extend Deadline Again",
    "Senior Approval of Extension",
    "Approve Second Extension",
    "再次延期",
    "再次延长处理期限",
    "延期审批",
)
ACKNOWLEDGE = (
    "Acknowledge",
    "Acknowledge Complaint",
    "Send Acknowledgement",
    "Acknowledgement Sent",
    "投诉受理告知",
    "受理告知",
    "确认收到投诉",
)
PROVISIONAL_CREDIT = (
    "Provisional Credit",
    "Issue Provisional Credit",
    "Provisional Credit Issued",
    "临时入账",
)
#: Usual spellings of a complaint's intake: a case containing one is a complaint.
COMPLAINT_INTAKE = (
    "Receive Complaint",
    "Register Complaint",
    "Complaint Received",
    "Log Complaint",
    "Record Complaint",
    "Open Complaint",
    "Create Complaint",
    "File Complaint",
    "接收投诉",
    "受理投诉",
    "登记投诉",
    "投诉登记",
    "投诉受理",
    "收到投诉",
)
#: Usual spellings of a disputed transaction's or an error notice's intake (Regulation E).
DISPUTE_INTAKE = (
    "Report Dispute",
    "Receive Dispute",
    "Dispute Received",
    "Open Dispute",
    "Register Dispute",
    "Create Dispute",
    "Notice of Error",
    "Report Error",
    "Error Notice Received",
    "受理争议",
    "登记争议",
    "交易争议受理",
)
#: The cases a complaint rule covers: complaint processes, or cases with a complaint intake.
COMPLAINTS = Scope(
    processes=("complaint", "complaints", "complaint handling", "投诉", "消费投诉", "投诉处理"),
    activities=COMPLAINT_INTAKE,
    candidates=True,
    label=M_("complaint cases"),
)
#: The cases an error-resolution rule (Regulation E) covers: disputes and error notices.
DISPUTES = Scope(
    processes=("dispute", "disputes", "card dispute", "chargeback", "error resolution", "争议", "交易争议"),
    activities=DISPUTE_INTAKE,
    candidates=True,
    label=M_("disputed transactions (error notices)"),
)

NOTIFY_RESULT = (
    "Notify Customer",
    "Notify Result",
    "Send Result",
    "Finalize",
    "Finalise",
    "Close Dispute",
    *FINAL_RESPONSE,
)


def _preset_table() -> dict[str, SlaRule]:
    cn2020 = M_(
        "CBIRC (now NFRA) Order 2020 No. 3 《银行业保险业消费投诉处理管理办法》: decision and notice within 15 "
        "days of receipt (日, calendar days); complex cases may be extended to 30; especially complex cases, "
        "with approval by the superior institution or head-office senior management and notice to the "
        "complainant, by a further 30 (max 60). Extension tiers are detected from holding/extension "
        "activities or an attribute flag 'complex' / 'especially_complex'."
    )
    common: dict[str, Any] = {
        "clock_start": CASE_START,
        "clock_stop": FINAL_RESPONSE,
        "candidates": True,
        "applies_to": COMPLAINTS,
    }
    rules = [
        SlaRule(
            name="CN_NFRA_2020",
            base=15,
            unit="calendar_days",
            timezone="Asia/Shanghai",
            holiday_country="CN",  # used only with roll_forward
            extensions=(
                Extension(30, HOLDING_RESPONSE, attribute="complex", label=M_("complex"), candidates=True),
                Extension(
                    60,
                    SECOND_EXTENSION,
                    attribute="especially_complex",
                    label=M_("especially complex"),
                    candidates=True,
                ),
            ),
            jurisdiction=M_("China (NFRA, formerly CBIRC)"),
            source="domain.md [57]; http://finance.caixin.com/2020-01-17/101505443.html",
            description=cn2020,
            **common,
        ),
        SlaRule(
            name="CN_CBRC_2012",
            base=15,
            unit="business_days",
            timezone="Asia/Shanghai",
            holiday_country="CN",
            extensions=(
                Extension(60, HOLDING_RESPONSE, attribute="complex", label=M_("complex"), candidates=True),
            ),
            jurisdiction=M_("China (CBRC, 2012 notice)"),
            source="domain.md [58]; [78]",
            description=M_(
                "CBRC 2012 notice on complaint handling: in principle within 15 working days (工作日); "
                "complex cases or special reasons up to 60 working days with notice of the extension and its "
                "reasons; first-contact responsibility (首问负责). Working days on the Chinese holiday calendar "
                "with adjusted working weekends."
            ),
            **common,
        ),
        SlaRule(
            name="UK_DISP",
            base=56,
            unit="calendar_days",
            timezone="Europe/London",
            base_text="8 weeks",
            jurisdiction=M_("United Kingdom (FCA)"),
            source="domain.md [54]: FCA Handbook DISP 1.6.2R",
            description=M_(
                "FCA DISP 1.6.2R: by the end of eight weeks after receipt, a final response (or a "
                "written response explaining the delay and referring to the Financial Ombudsman Service; "
                "flowlens counts only a final response as meeting the deadline). Complaints resolved by the "
                "close of the third business day after receipt may get a summary resolution communication "
                "(DISP 1.5), which flowlens counts as the response."
            ),
            **common,
        ),
        SlaRule(
            name="UK_DISP_PSD",
            base=15,
            unit="business_days",
            timezone="Europe/London",
            holiday_country="GB-ENG",
            extensions=(Extension(35, HOLDING_RESPONSE, label=M_("holding response"), candidates=True),),
            jurisdiction=M_("United Kingdom (FCA), payment services and e-money"),
            source="domain.md [54]: FCA Handbook DISP 1.6.2AR",
            description=M_(
                "FCA DISP 1.6.2AR (PSD and EMD complaints): final response within 15 business days of "
                "receipt; in exceptional circumstances a holding response within 15 business days and a final "
                "response within 35. Business days: Mon-Fri without bank holidays of England and Wales by "
                "default (pass another calendar for Scotland or Northern Ireland)."
            ),
            **common,
        ),
        SlaRule(
            name="EU_PSD2",
            base=15,
            unit="business_days",
            extensions=(Extension(35, HOLDING_RESPONSE, label=M_("holding reply"), candidates=True),),
            jurisdiction=M_("European Union (PSD2)"),
            source="domain.md [55]: Directive (EU) 2015/2366 Art. 101(2)",
            description=M_(
                "PSD2 Art. 101(2): reply within 15 business days of receipt; in exceptional situations "
                "a holding reply, with the final reply within 35 business days. Business days: Mon-Fri in the "
                "log's zone; national holidays only with --country or --calendar."
            ),
            **common,
        ),
        SlaRule(
            name="AU_RG271",
            base=30,
            unit="calendar_days",
            jurisdiction=M_("Australia (ASIC)"),
            source="domain.md [59]: ASIC RG 271",
            description=M_(
                "ASIC RG 271: IDR response within 30 calendar days of receipt (45 for superannuation "
                "trustees: use a custom rule); complaints closed within 5 business days need no written "
                "response. Acknowledgement within 24 hours or one business day: preset AU_RG271_ACK."
            ),
            **common,
        ),
        SlaRule(
            name="AU_RG271_ACK",
            base=1,
            unit="business_days",
            holiday_country="AU",
            clock_start=CASE_START,
            clock_stop=ACKNOWLEDGE,
            candidates=True,
            applies_to=COMPLAINTS,
            jurisdiction=M_("Australia (ASIC)"),
            source="domain.md [59]: ASIC RG 271",
            description=M_(
                "ASIC RG 271: acknowledge a complaint within 24 hours (or one business day) of "
                "receipt; flowlens checks the end of the next business day (national holidays only)."
            ),
        ),
        SlaRule(
            name="US_CFPB",
            base=15,
            unit="calendar_days",
            extensions=(Extension(60, HOLDING_RESPONSE, label=M_("in progress"), candidates=True),),
            jurisdiction=M_("United States (CFPB complaint portal)"),
            source="domain.md [53]",
            description=M_(
                "CFPB complaint process: company response within 15 calendar days; if the response "
                "says the complaint is in progress, a final response within 60 days. Detected from a "
                "holding/in-progress response activity."
            ),
            **common,
        ),
        SlaRule(
            name="US_REG_E",
            base=10,
            unit="business_days",
            holiday_country="US",
            clock_start=CASE_START,
            clock_stop=NOTIFY_RESULT,
            candidates=True,
            applies_to=DISPUTES,
            extensions=(
                Extension(
                    45,
                    PROVISIONAL_CREDIT,
                    unit="calendar_days",
                    label=M_("provisional credit"),
                    candidates=True,
                ),
            ),
            jurisdiction=M_("United States (Regulation E, 12 CFR 1005.11)"),
            source="domain.md [51]: https://www.ecfr.gov/current/title-12/chapter-X/part-1005/subpart-A/section-1005.11",
            description=M_(
                "Reg E 1005.11(c) [verify]: investigate and determine within 10 business days of the "
                "notice of error, or within 45 days if the account is provisionally credited within the 10 "
                "business days; 20 business days / 90 days for new accounts, point-of-sale and foreign-initiated "
                "transfers [verify] (preset US_REG_E_EXTENDED). Business days: Mon-Fri without US federal holidays."
            ),
            verify=True,
        ),
        SlaRule(
            name="US_REG_E_EXTENDED",
            base=20,
            unit="business_days",
            holiday_country="US",
            clock_start=CASE_START,
            clock_stop=NOTIFY_RESULT,
            candidates=True,
            applies_to=DISPUTES,
            extensions=(
                Extension(
                    90,
                    PROVISIONAL_CREDIT,
                    unit="calendar_days",
                    label=M_("provisional credit"),
                    candidates=True,
                ),
            ),
            jurisdiction=M_("United States (Regulation E, 12 CFR 1005.11)"),
            source="domain.md [51]: https://www.ecfr.gov/current/title-12/chapter-X/part-1005/subpart-A/section-1005.11",
            description=M_(
                "Reg E 1005.11(c)(3) as given in domain.md [verify]: 20 business days / 90 days for new "
                "accounts, point-of-sale and foreign-initiated transfers. The Reg E model form (Appendix A-3) "
                "gives 20 business days for new accounts only and 90 days for all three: check the primary text."
            ),
            verify=True,
        ),
    ]
    return {r.name: r for r in rules}


_PRESETS = _preset_table()
#: Older or alternative names (the bank generator's ``CN_CBIRC_2020`` is the same regulation).
ALIASES = {"CN_CBIRC_2020": "CN_NFRA_2020", "UK_DISP_EMD": "UK_DISP_PSD", "US_REG_E_NEW": "US_REG_E_EXTENDED"}


def presets() -> dict[str, SlaRule]:
    """The built-in deadline rules by name (domain.md section 4).

    >>> sorted(presets())[:3]
    ['AU_RG271', 'AU_RG271_ACK', 'CN_CBRC_2012']
    >>> get_preset("CN_NFRA_2020").describe()
    'CN_NFRA_2020: 15 days; complex → 30 days; especially complex → 60 days'
    """
    return dict(_PRESETS)


def get_preset(name: str) -> SlaRule:
    """A preset by name (case-insensitive; aliases such as CN_CBIRC_2020 accepted)."""
    key = name.strip().upper()
    key = ALIASES.get(key, key)
    if key not in _PRESETS:
        raise ConfigError(
            f"unknown SLA preset '{name}'; choose one of {', '.join(sorted(_PRESETS))} "
            "(flowlens sla --list-presets shows them with their sources)"
        )
    return _PRESETS[key]


# -- rule files --------------------------------------------------------------------------------

_RULE_KEYS = {
    "name",
    "preset",
    "base",
    "days",
    "hours",
    "unit",
    "clock_start",
    "clock_stop",
    "extensions",
    "pauses",
    "calendar",
    "country",
    "holidays",
    "extra_workdays",
    "workdays",
    "timezone",
    "day_count",
    "deadline_at",
    "receipt_cutoff",
    "roll_forward",
    "received",
    "jurisdiction",
    "source",
    "description",
    "base_text",
    "applies_to",
}


def load_rules(path: str | Path) -> list[SlaRule]:
    """Rules from a TOML or JSON file: one rule at the top level, or several under ``rule``::

    name = "Internal: final response in 10 working days"
    preset = "CN_CBRC_2012"            # optional: start from a preset, override below
    clock_start = "case start"         # or an activity, or a list of activities
    clock_stop = ["Send Final Response"]
    applies_to = "process=complaint"   # or "activity=Receive Complaint", "all", or a table
    unit = "business_days"             # calendar_days | business_days | hours
    base = 10
    country = "CN"                     # holidays for business days (or calendar = "cal.toml")
    holidays = ["2024-10-08"]
    deadline_at = "end_of_day"         # or same_time
    [[extensions]]
    days = 30
    activities = ["Send Holding Response"]
    [[pauses]]
    start = ["Request Information"]
    stop = ["Customer Provides Information"]
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        data = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
    except OSError as exc:
        raise ConfigError(f"cannot read SLA rule file {p}: {exc.strerror}") from exc
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"SLA rule file {p} is not valid {p.suffix.lstrip('.').upper() or 'JSON'}: {exc}"
        ) from exc
    if not isinstance(data, Mapping):
        raise ConfigError(f"SLA rule file {p} must hold a table (object) of rule settings")
    specs = data.get("rule") or data.get("rules") or [data]
    if isinstance(specs, Mapping):
        specs = [specs]
    return [rule_from_dict(s, where=f"{p}", base_dir=p.parent) for s in specs]


def rule_from_dict(spec: Mapping[str, Any], *, where: str = "rule", base_dir: Path | None = None) -> SlaRule:
    """One rule from a mapping (the format of :func:`load_rules`)."""
    unknown = set(spec) - _RULE_KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown keys {sorted(unknown)}; allowed: {', '.join(sorted(_RULE_KEYS))}"
        )
    kw: dict[str, Any] = {}
    if "preset" in spec:
        base_rule = get_preset(str(spec["preset"]))
        kw = {f.name: getattr(base_rule, f.name) for f in fields(base_rule)}
    kw["name"] = str(spec.get("name", kw.get("name", "custom")))
    for key in (
        "unit",
        "timezone",
        "day_count",
        "deadline_at",
        "receipt_cutoff",
        "roll_forward",
        "received",
        "jurisdiction",
        "source",
        "description",
        "base_text",
    ):
        if key in spec:
            kw[key] = spec[key]
    if "days" in spec or "hours" in spec or "base" in spec:
        if "hours" in spec:
            kw["unit"], kw["base"] = "hours", spec["hours"]
        else:
            kw["base"] = spec.get("base", spec.get("days"))
    if "base" not in kw:
        raise ConfigError(f"{where}: the rule needs an allowance (base = N, or days = N, or hours = N)")
    for key in ("clock_start", "clock_stop"):
        if key in spec:
            v = spec[key]
            kw[key] = rule_names(v if isinstance(v, str) else [str(x) for x in v])
            kw["candidates"] = False
    if "extensions" in spec:
        exts = []
        for e in spec["extensions"]:
            if not isinstance(e, Mapping) or "days" not in e:
                raise ConfigError(f"{where}: each extension needs days = N (and activities or attribute)")
            exts.append(
                Extension(
                    days=e["days"],
                    activities=tuple(str(a) for a in e.get("activities", ())),
                    attribute=e.get("attribute"),
                    values=tuple(str(v).lower() for v in e.get("values", TRUTHY)),
                    unit=e.get("unit"),
                    before_deadline=bool(e.get("before_deadline", True)),
                    candidates=bool(e.get("candidates", False)),
                    label=str(
                        e.get(
                            "label",
                            f"extended ({e['days']} {unit_word(e.get('unit') or kw.get('unit', 'calendar_days'))})",
                        )
                    ),
                )
            )
        kw["extensions"] = tuple(exts)
    if "pauses" in spec:
        pauses = []
        for pz in spec["pauses"]:
            if not isinstance(pz, Mapping) or "start" not in pz or "stop" not in pz:
                raise ConfigError(f"{where}: each pause needs start and stop activities")
            pauses.append(Pause(_tuple(pz["start"]), _tuple(pz["stop"])))
        kw["pauses"] = tuple(pauses)
    if "applies_to" in spec:
        kw["applies_to"] = _scope_from_spec(spec["applies_to"], where)
    cal = _calendar_from_spec(spec, where, base_dir, kw.get("timezone"))
    if cal is not None:
        kw["calendar"] = cal
        kw.setdefault("timezone", None)
        if kw.get("timezone") is None:
            kw["timezone"] = cal.timezone
    if "country" in spec:
        kw["holiday_country"] = spec["country"]
    try:
        return SlaRule(**kw)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _scope_from_spec(v: Any, where: str) -> Scope | None:
    """``applies_to``: "process=complaint" (as on the command line), "all" (every case), or a
    table with ``process``/``processes``, ``column`` + ``values``, ``activities``."""
    if v is None or (isinstance(v, str) and v.strip().lower() in ("all", "every case", "")):
        return None
    if isinstance(v, str):
        return parse_scope(v)
    if not isinstance(v, Mapping):
        raise ConfigError(f"{where}: applies_to must be text like 'process=complaint' or a table")
    unknown = set(v) - {"process", "processes", "column", "values", "activity", "activities", "label"}
    if unknown:
        raise ConfigError(
            f"{where}: unknown keys {sorted(unknown)} in applies_to; use process, column + values, activities"
        )
    procs = _tuple(v.get("process", v.get("processes", v.get("values", ()))))
    acts = _tuple(v.get("activity", v.get("activities", ())))
    if v.get("column") and not procs:
        raise ConfigError(f"{where}: applies_to with a column needs values = [...]")
    if not procs and not acts:
        raise ConfigError(f"{where}: applies_to needs processes, column + values or activities")
    return Scope(processes=procs, activities=acts, column=v.get("column"), label=str(v.get("label", "")))


def _tuple(v: Any) -> tuple[str, ...]:
    return (v,) if isinstance(v, str) else tuple(str(x) for x in v)


def _calendar_from_spec(
    spec: Mapping[str, Any], where: str, base_dir: Path | None, tz: str | None
) -> WorkCalendar | None:
    if "calendar" in spec:
        from flowlens.timing.calendars import CalendarSet

        cpath = Path(str(spec["calendar"]))
        if base_dir is not None and not cpath.is_absolute():
            cpath = base_dir / cpath
        return CalendarSet.from_file(cpath).default
    if not any(k in spec for k in ("holidays", "workdays", "extra_workdays")):
        return None
    days = [d.lower()[:3] for d in spec.get("workdays", ["mon", "tue", "wed", "thu", "fri"])]
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    bad = [d for d in days if d not in names]
    if bad:
        raise ConfigError(f"{where}: unknown workdays {bad}; use mon..sun")
    full = ((time(0), time.max),)
    try:
        hols = frozenset(date.fromisoformat(str(d)) for d in spec.get("holidays", []))
        extra = frozenset(date.fromisoformat(str(d)) for d in spec.get("extra_workdays", []))
    except ValueError as exc:
        raise ConfigError(f"{where}: holidays and extra_workdays must be dates like 2024-10-01") from exc
    return WorkCalendar(
        name="sla",
        timezone=tz or "UTC",
        hours={names.index(d): full for d in days},
        holidays=hols,
        extra_workdays=extra,
        workday_hours=full,
    )


def given_rules(preset_names: Sequence[str] = (), files: Sequence[str | Path] = ()) -> list[SlaRule]:
    """The rules a user named: presets (``--sla``) first, then every rule of each file
    (``--sla-rule``), in the order given.

    >>> [r.name for r in given_rules(["CN_NFRA_2020"])] == [get_preset("CN_NFRA_2020").name]
    True
    """
    rules = [get_preset(name) for name in preset_names]
    for path in files:
        rules += list(load_rules(path))
    return rules
