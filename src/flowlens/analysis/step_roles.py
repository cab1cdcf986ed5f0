"""What each step is: who performs it, whether it is the case's outcome, or comes after it.

Findings must only propose changing work the organisation does for the customer. A customer
submitting documents, a payment by the offender, a system posting a status, the decision that
ends a case, or a closure after the outcome are not redundant steps however often they repeat
or however they cluster in time. This module classifies every activity once, from the data
(docs/methods.md 13.0):

* **performer** (who does it, by the resources recorded on its instances): ``staff`` when at
  least half its instances are done by a person (a resource that works one thing at a time,
  :func:`~flowlens.analysis.batch_detection.shared_resources`, and is not named like a system, bot,
  the customer or a merchant); otherwise ``customer`` when its resource or name says the
  customer (``Customer submits``, ``Applicant completes form``); otherwise ``system`` when a
  shared or system resource does it; otherwise ``not recorded`` (no resource on most
  instances, while the log has resources: the road-traffic offender's *Payment*).
* **outcome**: the case ends with it: in at least 80 % of its (20 or more) occurrences no step
  that takes time starts after it before the customer's clock stops, and the clock stops
  within a minute, or 1 % of the case's customer lead time, after it ends (BPIC 2012's
  ``A_DECLINED``, ``A_CANCELLED``; helpdesk's ``Resolve ticket``).
* **after outcome**: a closing step after the customer's clock stopped
  (:mod:`flowlens.timing.clock_stop`).

>>> import flowlens, pandas as pd
>>> from flowlens.timing.model import time_model
>>> rows = []
>>> for c in range(25):
...     d = pd.Timestamp("2024-01-01 09:00") + pd.Timedelta(days=c)
...     rows += [(c, "Customer submits", "customer", d, d),
...              (c, "Review", "ann" if c % 2 else "bob", d + pd.Timedelta(hours=2), d + pd.Timedelta(hours=3)),
...              (c, "Decide", "ann", d + pd.Timedelta(hours=5), d + pd.Timedelta(hours=5, minutes=10))]
>>> df = pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"])
>>> r = step_roles(time_model(flowlens.read_log(df)))
>>> r.performer("Review"), r.performer("Customer submits"), sorted(r.outcomes)
('staff', 'customer', ['Decide'])
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from flowlens.timing.model import TimeModel

#: A resource or team value that is the customer.
CUSTOMER_ROLE = re.compile(
    r"^(customer|customers|client|clients|applicant|客户|申请人)([\s_\-:0-9]|$)", re.IGNORECASE
)
#: An activity the customer performs, by its name ("Customer Submits Documents").
CUSTOMER_NAME = re.compile(r"^(customer|client|applicant|客户|申请人)", re.IGNORECASE)
#: Resources and teams that are not people of the organisation.
NOT_STAFF = re.compile(
    r"^(customer|client|applicant|merchant|external|third party|system|systems|sys\b|sys[-_ ]|"
    r"bot\b|bot[-_ ]|bots\b|chatbot|robot|rpa|ivr|vru|batch|auto|客户|申请人|商户|系统|机器人)",
    re.IGNORECASE,
)

PERFORMERS = ("staff", "customer", "system", "not recorded")
MIN_OUTCOME_OCCURRENCES = 20
MIN_OUTCOME_SHARE = 0.8
OUTCOME_TOLERANCE_US = 60_000_000
OUTCOME_TOLERANCE_SHARE = 0.01


def _isnull(v: object) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def is_staff(value: object) -> bool:
    """A person of the organisation by name (not a system, bot, the IVR, the customer or a
    merchant).

    >>> is_staff("SYS-LOS"), is_staff("LNA-03"), is_staff(None)
    (False, True, False)
    """
    if _isnull(value):
        return False
    s = str(value).strip()
    return bool(s) and NOT_STAFF.search(s) is None


def is_customer(value: object) -> bool:
    """A resource or team value that is the customer.

    >>> is_customer("Customer"), is_customer("CUSTOMER-17"), is_customer("Agent 5")
    (True, True, False)
    """
    if _isnull(value):
        return False
    return CUSTOMER_ROLE.search(str(value).strip()) is not None


@dataclass(frozen=True)
class StepRoles:
    """Per activity: ``activity``, ``instances``, ``performer``, ``staff_share`` (instances
    done by a person), ``ends_case_share`` (occurrences after which the clock stops at once),
    ``outcome``, ``after_outcome``."""

    table: pd.DataFrame

    def performer(self, activity: str) -> str:
        row = self.table[self.table.activity == activity]
        return str(row.performer.iloc[0]) if len(row) else "not recorded"

    @property
    def staff_work(self) -> frozenset[str]:
        """Activities done by the organisation's people."""
        return frozenset(self.table.activity[self.table.performer == "staff"].astype(str))

    @property
    def outcomes(self) -> frozenset[str]:
        return frozenset(self.table.activity[self.table.outcome].astype(str))

    @property
    def after_outcome(self) -> frozenset[str]:
        return frozenset(self.table.activity[self.table.after_outcome].astype(str))

    def changeable(self, activity: str) -> bool:
        """Whether a finding may propose removing, batching differently or merging this step:
        staff work that is neither the outcome nor after it."""
        return (
            activity in self.staff_work
            and activity not in self.outcomes
            and activity not in self.after_outcome
        )


def step_roles(tm: TimeModel, *, shared: set[str] | None = None) -> StepRoles:
    """Classify every activity of ``tm``'s log (module docstring). ``shared``: the shared
    resources when the caller has them (:func:`~flowlens.analysis.batch_detection.shared_resources`)."""
    import ibis

    from flowlens.analysis.batch_detection import shared_resources

    inst = tm.instances
    shared = shared_resources(tm) if shared is None else shared
    per_res = inst.group_by(["activity", "resource"]).aggregate(n=inst.count()).to_pandas()
    per_res["resource"] = per_res["resource"].astype(object)
    kind = []
    for r in per_res.resource:
        if _isnull(r):
            kind.append("not recorded")
        elif is_customer(r):
            kind.append("customer")
        elif r in shared or not is_staff(r):
            kind.append("system")
        else:
            kind.append("staff")
    per_res["kind"] = kind
    counts = per_res.pivot_table(index="activity", columns="kind", values="n", aggfunc="sum", fill_value=0)
    for k in PERFORMERS:
        if k not in counts:
            counts[k] = 0
    total = counts[list(PERFORMERS)].sum(axis=1)
    roles = pd.DataFrame({"activity": counts.index.astype(str), "instances": total.to_numpy()})
    share = {k: (counts[k] / total).to_numpy() for k in PERFORMERS}
    roles["staff_share"] = share["staff"]
    performer = []
    for i, act in enumerate(roles.activity):
        if share["staff"][i] >= 0.5:
            performer.append("staff")
        elif share["customer"][i] > 0 or CUSTOMER_NAME.search(act.strip()):
            performer.append("customer")
        elif share["system"][i] >= share["not recorded"][i]:
            performer.append("system")
        else:
            performer.append("not recorded")
    roles["performer"] = performer
    # the case ends with it: the clock stops at once after it
    tol = ibis.greatest(
        ibis.literal(OUTCOME_TOLERANCE_US),
        ((inst.c_stop - inst.c_start) * OUTCOME_TOLERANCE_SHARE).cast("int64"),
    )
    # the case ends with it: no step that takes time starts after it before the clock stops
    work = inst.filter((inst.proc_us > 0) & ~inst.after_stop)
    last_work = work.group_by("case_idx").aggregate(s_work=work.start_us.max())
    x = inst.left_join(last_work, inst.case_idx == last_work.case_idx)
    ends_case = ((x.c_stop - x.end_us) <= tol) & (x.s_work.isnull() | (x.s_work <= x.end_us))
    ends = x.group_by("activity").aggregate(n=x.count(), ends=ends_case.cast("int64").sum()).to_pandas()
    ends["activity"] = ends["activity"].astype(str)
    roles = roles.merge(ends, on="activity", how="left")
    roles["ends_case_share"] = (roles.ends / roles.n).fillna(0.0)
    after = set(tm.stop.after_outcome)
    roles["after_outcome"] = roles.activity.isin(after)
    roles["outcome"] = (
        (roles.n >= MIN_OUTCOME_OCCURRENCES)
        & (roles.ends_case_share >= MIN_OUTCOME_SHARE)
        & ~roles.after_outcome
    )
    roles = roles.drop(columns=["n", "ends"]).sort_values("activity").reset_index(drop=True)
    return StepRoles(roles)
