"""What the rework, ping-pong and customer-loop detectors read from names and roles.

Logs say "reassign", "call", "waiting for customer" in many ways, so these detectors recognise
a few *roles* of activities and resources by patterns (English and Simplified Chinese),
searched in names after :func:`~flowlens.analysis.activity_groups.normalise` (case, ``_``,
``-`` and runs of spaces ignored). A groups file given to the findings (``--groups``) replaces
any pattern role by an explicit list of activity names under the same key (``reassignment =
["Reassign Case"]``, ``follow_up``, ``wait_status``, ``customer_step``):

* **reassignment**: a step that hands the case to another team or person (reassign, reroute,
  forward to, send back to the team, 转派, 改派, 退回);
* **follow_up**: a contact the organisation makes to chase the customer (call, phone, follow-up,
  reminder, nabellen, 回访, 致电, 催办), except members of the verification, information-request,
  transfer, queue, handled and abandonment groups and after-call work;
* **wait_status**: a status that stops work to wait for the customer (Waiting for Customer,
  Wait - User, Pending Customer, 等待客户);
* **customer_step**: a step the customer performs: its resource or team is the customer
  (customer, client, applicant, 客户, 申请人) or its name starts with one ("Customer Submits
  Documents");
* **wait_step**: a step that records waiting, not work: a queue, a waiting status, a hold
  (Queued, Wait, Accepted+Wait - User, Awaiting Assignment, On Hold, 排队, 等待, 挂起), and
  every wait_status;
* **routing**: a step that only hands the work on: reassignments, transfers (the transfer
  group), assignment and dispatch statuses (Assigned, Dispatch, Escalate, Forward, 分派, 转交),
  admissions to a ward or unit (Admission NC, 入院, 转科: moving the case to where it is
  served; a return to the ward after intensive care is a transfer, not work done again);
* **failed**: a step whose name says an attempt failed or was turned down, or repairs one
  (reject, incomplete, fail, error, cancel, fix, rework, correct, 拒绝, 退回, 补正, ...).

Resources and teams that are not people of the organisation (systems, bots, the IVR, the customer, a
merchant) are recognised by :data:`flowlens.analysis.step_roles.NOT_STAFF`.

>>> bool(REASSIGNMENT.search(normalise("Reassign Complaint"))), bool(FOLLOW_UP.search(normalise("W_Nabellen offertes")))
(True, True)
>>> from flowlens.analysis.step_roles import is_staff
>>> bool(WAIT_STATUS.search(normalise("Accepted+Wait - User"))), is_staff("SYS-LOS"), is_staff("LNA-03")
(True, False, True)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from flowlens.analysis.activity_groups import normalise
from flowlens.analysis.step_roles import CUSTOMER_NAME, is_customer
from flowlens.findings.model import Finding, Scenario
from flowlens.findings.rank import bootstrap_total_ci
from flowlens.units import Value, count_value, duration_value, percent_value

if TYPE_CHECKING:
    from flowlens.findings.context import FindingContext
    from flowlens.log import EventLog

US = 1_000_000
T = TypeVar("T")

REASSIGNMENT = re.compile(
    r"\bre ?assign|\bre ?rout|\bre ?allocat|\bre ?dispatch|\bforward(ed)? to\b|"
    r"\b(return(ed)?|sen[dt] back) to (the )?(team|department|dept|group|queue|line|sender|previous)|"
    r"转派|改派|重新分派|重新指派|转交|退回",
    re.IGNORECASE,
)
FOLLOW_UP = re.compile(
    r"\bcall(s|ing)?\b|call ?back|\bphone\b|\bring\b|\bfollow ?up|\bremind|\bchas(e|ing)\b|"
    r"\bnabellen\b|\bbellen\b|回访|致电|外呼|电话|催办|催收",
    re.IGNORECASE,
)
WAIT_STATUS = re.compile(
    r"\bwait(ing)?( (for|on))?( the)? (customer|user|client|applicant|caller)\b|"
    r"\bawait(ing)?( the)? (customer|user|client|applicant)\b|"
    r"\bpending( on)?( the)? (customer|user|client|applicant)\b|"
    r"\b(customer|user|client) (pending|on hold)\b|等待客户|等待用户|待客户|等客户",
    re.IGNORECASE,
)
#: Resources and teams of another organisation than the one whose log it is (a third party).
EXTERNAL_PARTY = re.compile(
    r"^(external|third[ -]?part(y|ies)|partner|merchant|notary|insurer|vendor|supplier|agency|"
    r"外部|第三方|商户|合作方|公证)",
    re.IGNORECASE,
)
#: Values that say a value is missing ("EMPTY" in BPIC receipt's org:group): no team or person.
MISSING_VALUE = re.compile(
    r"^(empty|none|null|nil|nan|na|n/a|unknown|unassigned|not assigned|not set|undefined|"
    r"-+|\?+|空|无|未知|未分配)$",
    re.IGNORECASE,
)


def is_missing(value: object) -> bool:
    """A null, blank or placeholder value ("EMPTY", "N/A", "unknown", "-").

    >>> is_missing("EMPTY"), is_missing(" n/a "), is_missing("Group 1"), is_missing(None)
    (True, True, False, True)
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return True
    s = normalise(value)
    return not s or MISSING_VALUE.match(s) is not None


#: Call-centre work that is not a contact with the customer (after-call work, wrap-up).
NOT_A_CONTACT = re.compile(r"\bafter call|\bwrap ?up|\bacw\b|话后", re.IGNORECASE)
#: Activity groups whose members are never follow-up contacts.
NOT_FOLLOW_UP_GROUPS = ("verification", "information_request", "transfer", "queue", "handled", "abandonment")

WAIT_STEP = re.compile(
    r"\b(queue|queued|queueing|wait|waiting|await|awaiting|on hold|hold|suspend|suspended)\b|"
    r"排队|等待|挂起",
    re.IGNORECASE,
)
ROUTING = re.compile(
    REASSIGNMENT.pattern + r"|\bassigned\b|\bawaiting assignment\b|\bdispatch(ed)?\b|"
    r"\bescalat(e|ed|ion)\b|\bforward(ed)?\b|\broute(d)?\b|\btransfer(red)?\b|"
    r"\bhand(ed)? ?(over|off)\b|\badmi(t|ts|tted|ssion)\b|分派|派单|转交|转接|升级|入院|转科|转院",
    re.IGNORECASE,
)
FAILED = re.compile(
    r"reject|declin|denied|deny|refus|\breturn(ed)? (to|for)\b|incomplete|\bfail|\berror|invalid|not approved|"
    r"disapprov|cancel|\bre ?do\b|\brework|\bfix(es|ed|ing)?\b|\brepair|\bretry|\bcorrect(ion)?\b|"
    r"\bamend|\bmissing\b|not understood|"
    r"\bno match\b|fallback|not recogni[sz]ed|未识别|无法识别|"
    r"拒绝|驳回|退回|不通过|否决|取消|失败|不完整|补正|错误|更正",
    re.IGNORECASE,
)

PATTERN_ROLES: dict[str, re.Pattern[str]] = {
    "reassignment": REASSIGNMENT,
    "follow_up": FOLLOW_UP,
    "wait_status": WAIT_STATUS,
    "wait_step": WAIT_STEP,
    "routing": ROUTING,
    "failed": FAILED,
}


def role_members(ctx: FindingContext, role: str, activities: Iterable[str]) -> list[str]:
    """The activities of ``role`` among ``activities`` (a groups file's list wins)."""
    acts = list(activities)
    given = ctx.activity_groups.groups.get(role)
    if given is not None:
        names = {normalise(n) for n in given}
        return sorted(a for a in acts if normalise(a) in names)
    if role == "customer_step":
        return sorted(a for a in acts if CUSTOMER_NAME.search(normalise(a)))
    pat = PATTERN_ROLES[role]
    out = [a for a in acts if pat.search(normalise(a))]
    if role == "wait_step":
        out = sorted({*out, *role_members(ctx, "wait_status", acts)})
    elif role == "routing":
        out = sorted({*out, *role_members(ctx, "reassignment", acts), *group_members(ctx, "transfer", acts)})
    if role == "follow_up":
        excluded = set().union(*(group_members(ctx, g, acts) for g in NOT_FOLLOW_UP_GROUPS))
        out = [a for a in out if a not in excluded and not NOT_A_CONTACT.search(normalise(a))]
    return sorted(out)


def group_members(ctx: FindingContext, group: str, activities: Iterable[str]) -> list[str]:
    """Members of an activity group (:mod:`flowlens.analysis.activity_groups`) among ``activities``."""
    return ctx.activity_groups.members(list(activities)).get(group, [])


def cached(ctx: FindingContext, key: str, compute: Callable[[], T]) -> T:
    """``compute()`` once per context (shared by the detectors of this package)."""
    store = ctx.__dict__.setdefault("_rework_signals", {})
    if key not in store:
        store[key] = compute()
    return store[key]


def activities_of(ctx: FindingContext) -> list[str]:
    def run() -> list[str]:
        t = ctx.log.table
        return sorted(t.select("activity").distinct().to_pandas()["activity"].dropna().astype(str))

    return cached(ctx, "activities", run)


def distinct_values(ctx: FindingContext, column: str) -> list[Any]:
    def run() -> list[Any]:
        t = ctx.tm.instances
        return t.select(column).distinct().to_pandas()[column].dropna().tolist()

    return cached(ctx, f"values:{column}", run)


def lead_times(ctx: FindingContext) -> dict[str, float]:
    """Lead time per case id (seconds), from the time model."""

    def run() -> dict[str, float]:
        c = ctx.tm.cases.select("case_id", "lead_us").to_pandas()
        return dict(zip(c.case_id.astype(str), c.lead_us.astype(float) / US, strict=True))

    return cached(ctx, "lead", run)


#: Columns that hold the team, queue or support line a case is assigned to, most specific first
#: (compared after removing case, spaces, ``_``, ``-``, ``:``).
ASSIGNMENT_CANDIDATES = (
    "assignmentgroup",
    "assignedgroup",
    "assignedto",
    "orggroup",
    "group",
    "supportline",
    "line",
    "queue",
    "team",
    "department",
    "workgroup",
    "orgrole",
    "role",
)


def customer_markers(ctx: FindingContext) -> tuple[list[str], list[Any], list[Any]]:
    """What marks a customer step: activities by name, customer resources, customer teams."""

    def run() -> tuple[list[str], list[Any], list[Any]]:
        acts = role_members(ctx, "customer_step", activities_of(ctx))
        res = [r for r in distinct_values(ctx, "resource") if is_customer(r)]
        teams = [t for t in distinct_values(ctx, "team") if is_customer(t)]
        return acts, res, teams

    return cached(ctx, "customer_markers", run)


def party(value: object) -> str | None:
    """Which party a resource or team belongs to: ``customer``, ``external`` (another
    organisation: a merchant, a notary, a third party) or ``organisation`` (its staff, systems and
    bots: one party); None when not recorded.

    >>> party("CUSTOMER-7"), party("Notary Office 3"), party("SYS-PBOC"), party("LNA-03"), party(None)
    ('customer', 'external', 'organisation', 'organisation', None)
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    s = str(value).strip()
    if not s:
        return None
    if is_customer(s):
        return "customer"
    if EXTERNAL_PARTY.search(normalise(s)):
        return "external"
    return "organisation"


def changeable_activities(ctx: FindingContext) -> list[str]:
    """Activities a rework or loop finding may propose to change: the organisation's own work
    before the customer's clock stops, not the outcome (:meth:`StepRoles.changeable`, not in
    :attr:`StepRoles.outcomes`). In a log that records no performer at all, nothing says a step
    is not the organisation's, so every step but the outcome and after it counts."""

    def run() -> list[str]:
        t = ctx.step_roles.table
        ours = t.performer == "staff"
        if (t.performer == "not recorded").all():
            ours = ours | True
        keep = ours & ~t.outcome & ~t.after_outcome
        return sorted(t.activity[keep].astype(str))

    return cached(ctx, "changeable", run)


def assignment_column(log: EventLog, given: str | None = None) -> str | None:
    """The canonical name of the assignment attribute (team, org:group, support line, ...)."""

    def key(s: str) -> str:
        return re.sub(r"[\s_\-:.]+", "", s).lower()

    if given is not None:
        for canon, src in log.attributes.items():
            if given in (canon, src):
                return canon
        from flowlens.errors import ConfigError

        raise ConfigError(
            f"no column '{given}' for the assignment; available: {', '.join(sorted(log.attributes.values()))}"
        )
    by_key = {key(src): canon for canon, src in log.attributes.items()}
    for cand in ASSIGNMENT_CANDIDATES:
        if cand in by_key:
            return by_key[cand]
    return None


def price(per_case: pd.DataFrame, lead: Mapping[str, float]) -> pd.DataFrame:
    """``per_case`` (case_id, t_s, ...) with t_s capped at each case's lead time."""
    if per_case.empty:
        return per_case
    cap = per_case["case_id"].map(lead).astype(float)
    out = per_case.copy()
    out["t_s"] = np.minimum(out["t_s"].astype(float), cap.fillna(np.inf)).clip(lower=0.0)
    return out


def build_finding(
    ctx: FindingContext,
    *,
    kind: str,
    title: str,
    activities: Iterable[str],
    per_case: pd.DataFrame,
    occurrences: int,
    staff_time_s: float,
    evidence: str,
    scenario: Scenario,
    resources: Iterable[str] = (),
    details: Mapping[str, Any] | None = None,
    detector: str,
) -> Finding:
    """A :class:`Finding` from per-case customer time (``case_id``, ``t_s``), capped at lead
    time, with its bootstrap interval; allow-listed activities make it regulatory and turn a
    removal scenario into "make it faster"."""
    acts = tuple(dict.fromkeys(str(a) for a in activities))
    pc = price(per_case, lead_times(ctx))
    pc = pc.sort_values(["t_s", "case_id"], ascending=[False, True], kind="stable")
    per = dict(zip(pc.case_id.astype(str), pc.t_s.astype(float), strict=True))
    vals = np.fromiter(per.values(), dtype=float, count=len(per))
    key = "|".join((kind, detector, *acts))
    ci = bootstrap_total_ci(vals, seed=ctx.seed, resamples=ctx.resamples, key=key)
    reasons = [r for a in acts if (r := ctx.allow.match(a))]
    regulatory = bool(reasons)
    if regulatory:
        scenario = Scenario(
            "automate",
            {"activities": list(acts), "keep_step": True},
            "required step: keep it, make it faster",
        )
    return Finding(
        kind=kind,
        title=title,
        activities=acts,
        case_ids=tuple(per),
        occurrences=int(occurrences),
        customer_time_s=float(vals.sum()),
        customer_time_ci=ci,
        staff_time_s=float(staff_time_s),
        evidence=evidence,
        scenario=scenario,
        resources=tuple(dict.fromkeys(str(r) for r in resources)),
        regulatory=regulatory,
        allow_reason=reasons[0] if reasons else None,
        per_case_s=per,
        details=dict(details or {}),
        detector=detector,
    )


def human(seconds: float) -> str:
    """A duration in plain words: '45 s', '12 min', '3.5 h', '2.1 days'."""
    s = float(seconds)
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 48 * 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def human_value(seconds: float) -> Value:
    """:func:`human` for a finding's sentence (an :class:`~flowlens.i18n.Message`): the same
    English, and the report's own duration format in another language.

    >>> str(human_value(3 * 86400))
    '3.0 days'
    """
    return duration_value(seconds, human(seconds))


def count_text(n: float) -> Value:
    """A count in a finding's sentence: ``1,234`` in English, 万 in Chinese."""
    return count_value(n)


def share_text(x: float) -> Value:
    """A share in a finding's sentence as the detectors write it (``76%``)."""
    return percent_value(x, f"{x:.0%}", 0)


def isin(column: Any, values: Iterable[Any]) -> Any:
    """``column.isin(values)``, or a false literal when ``values`` is empty."""
    import ibis

    vals = list(values)
    return column.isin(vals) if vals else ibis.literal(False)
