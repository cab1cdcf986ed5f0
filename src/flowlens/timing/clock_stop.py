"""Where the customer's clock stops: the outcome, not an administrative step after it.

A case's log often goes on after the customer has their answer: a ticket is *closed* weeks
after it was resolved (an automatic closure), a patient's file gets a *return* months after
discharge, a satisfaction callback follows the final response. Time after the outcome is not
time the customer waits for the service. The time model measures customer time from the first
step to the **clock stop** (docs/methods.md 6.4):

* given by the user: the last completion, in the case, of any of the named activities (the
  customer outcome: resolved, paid, decided); a case without any of them runs to its last step;
* otherwise detected: the end of the last step that is not an *after-outcome step*. An
  activity T is one when all of these hold:

  1. T closes the case: it is the last step in at least 90 % of its occurrences, and it occurs
     at least 20 times;
  2. T comes after a pause that dominates the case: in the median occurrence the wait before
     T is at least an hour and longer than the whole case before it;
  3. T is not the case's purpose: either its name says closing, archiving or a time-out, or
     the case often ends without it at the same point (of the cases that reach T's usual
     predecessor P, at least 20 % end at P).

  With none detected, every case runs to its last step.

>>> import flowlens, pandas as pd
>>> rows = []
>>> for c in range(30):
...     d = pd.Timestamp("2024-01-01") + pd.Timedelta(days=c)
...     rows += [(c, "Open ticket", d), (c, "Resolve ticket", d + pd.Timedelta(hours=5)),
...              (c, "Closed", d + pd.Timedelta(days=30))]
>>> log = flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "timestamp"]))
>>> detect_clock_stop(log).after_outcome
('Closed',)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowlens.errors import ConfigError
from flowlens.i18n import M_

if TYPE_CHECKING:
    import ibis

    from flowlens.log import EventLog

#: Words that name a closing, archiving or time-out step (matched in lower case, as words or
#: word stems), English, Dutch and Simplified Chinese.
CLOSURE_WORDS = (
    "close",
    "closed",
    "closure",
    "closing",
    "archive",
    "archived",
    "archiving",
    "timeout",
    "time-out",
    "time out",
    "expired",
    "afsluiten",
    "gesloten",
    "archiveren",
    "关闭",
    "结案",
    "归档",
    "销案",
)

MIN_TERMINAL_SHARE = 0.9
MIN_OCCURRENCES = 20
MIN_PAUSE_US = 3_600_000_000
MIN_NATURAL_END_SHARE = 0.2


@dataclass(frozen=True)
class ClockStop:
    """How the customer's clock stops in each case.

    ``mode`` is ``"given"`` (``stop_activities`` named by the user), ``"detected"``
    (``after_outcome`` steps found in the log) or ``"case_end"`` (every case to its last step).
    """

    mode: str
    stop_activities: tuple[str, ...] = ()
    after_outcome: tuple[str, ...] = ()
    #: per detected activity: the figures that decided it (for the report)
    evidence: tuple[dict[str, Any], ...] = ()

    def describe(self) -> str:
        """One sentence for reports."""
        if self.mode == "given":
            names = ", ".join(f"'{a}'" for a in self.stop_activities)
            return M_("The customer's clock stops at the last {names} of a case (given).", names=names)
        if self.mode == "detected" and self.after_outcome:
            names = ", ".join(f"'{a}'" for a in self.after_outcome)
            return M_(
                "The customer's clock stops before {names}: a closing step after a long pause, "
                "not part of the service the customer waits for (detected; set --clock-stop to "
                "name the outcome step instead).",
                names=names,
            )
        return M_("The customer's clock runs from the first to the last step of each case.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "stop_activities": list(self.stop_activities),
            "after_outcome": list(self.after_outcome),
            "evidence": [dict(e) for e in self.evidence],
            "description": self.describe(),
        }

    def stops(self, log: EventLog) -> ibis.Table | None:
        """case_idx, stop_us: where each case's clock stops (None: at every case's end)."""
        t = log.table
        if self.mode == "given":
            hit = t.filter(t.activity.isin(list(self.stop_activities)))
        elif self.after_outcome:
            hit = t.filter(~t.activity.isin(list(self.after_outcome)))
        else:
            return None
        return hit.group_by("case_idx").aggregate(stop_us=hit.end_us.max())


def clock_stop(log: EventLog, given: Sequence[str] | str | None = None) -> ClockStop:
    """The clock stop for ``log``: ``given`` activities, ``"end"`` (case end) or detected.

    >>> import flowlens, pandas as pd
    >>> df = pd.DataFrame({"case": ["1", "1"], "activity": ["a", "b"],
    ...                    "timestamp": ["2024-01-01 09:00", "2024-01-01 10:00"]})
    >>> clock_stop(flowlens.read_log(df), ["a"]).mode
    'given'
    """
    if isinstance(given, str):
        if given == "end":
            return ClockStop("case_end")
        given = [given]
    if given is None:
        return detect_clock_stop(log)
    names = set(log.table.select("activity").distinct().to_pandas().activity.astype(str))
    unknown = sorted(set(given) - names)
    if unknown:
        raise ConfigError(
            f"clock-stop activities {unknown} do not occur in the log",
            hint="name the step at which the customer has their outcome, e.g. --clock-stop 'Resolve ticket'",
        )
    return ClockStop("given", stop_activities=tuple(sorted(set(given))))


def detect_clock_stop(log: EventLog) -> ClockStop:
    """Detect after-outcome steps (module docstring, rules 1-3)."""

    t = log.table
    # Per case its last position and start, once (one row per case); each instance then finds
    # its case's by a join, and the one before it by eid - 1 (the successor of an instance is
    # eid + 1): no ordered pass over the whole log, whose sorts and per-activity medians over
    # every event filled tens of GB of spill at 10^8 events. Only the few activities that pass
    # rule 1 (counts) have their medians taken.
    per_case = log.engine.materialize(
        t.group_by("case_idx").aggregate(fl_last=t.pos.max(), c_start=t.start_us.fill_null(t.end_us).min()),
        prefix="fl_clock",
    )

    def with_case(v: ibis.Table) -> ibis.Table:
        j = v.join(per_case, v.case_idx == per_case.case_idx)
        return j.select(*v.columns, last=j.pos == j.fl_last, c_start=j.c_start)

    x = with_case(t.select("case_idx", "eid", "pos", "activity", "start_us", "end_us"))
    counts = x.group_by("activity").aggregate(n=x.count(), terminal=x.last.cast("float64").mean()).to_pandas()
    closing = counts[(counts.n >= MIN_OCCURRENCES) & (counts.terminal >= MIN_TERMINAL_SHARE)]
    if closing.empty:
        drop_work(log, per_case)
        return ClockStop("case_end")

    def with_previous(v: ibis.Table) -> ibis.Table:
        p = t.select(p_eid="eid", prev_act="activity", prev_end="end_us")
        j = v.left_join(p, (p.p_eid == v.eid - 1) & (v.pos > 0))
        return j.select(*v.columns, "prev_act", "prev_end")

    y = with_previous(x.filter(x.activity.isin(sorted(closing.activity.astype(str)))))
    s_first = y.start_us.fill_null(y.end_us)
    medians = (
        y.group_by("activity")
        .aggregate(pause=(s_first - y.prev_end).median(), before=(y.prev_end - y.c_start).median())
        .to_pandas()
    )
    stats = closing.merge(medians, on="activity", how="left")
    cand = stats[(stats.pause >= MIN_PAUSE_US) & (stats.pause > stats.before)]
    if cand.empty:
        drop_work(log, per_case)
        return ClockStop("case_end")
    names = sorted(cand.activity.astype(str))
    preds = y.filter(y.activity.isin(names) & y.prev_act.notnull())
    usual = (
        preds.group_by(["activity", "prev_act"])
        .aggregate(n=preds.count())
        .to_pandas()
        .sort_values(["activity", "n", "prev_act"], ascending=[True, False, True])
        .drop_duplicates("activity")
    )
    reached = x.filter(x.activity.isin(usual.prev_act.tolist()))
    ends = (
        reached.group_by("activity")
        .aggregate(cases=reached.case_idx.nunique(), ends=reached.case_idx.nunique(where=reached.last))
        .to_pandas()
        .set_index("activity")
    )
    drop_work(log, per_case)
    found: list[str] = []
    evidence: list[dict[str, Any]] = []
    for row in cand.sort_values("activity").itertuples(index=False):
        act = str(row.activity)
        pred_rows = usual[usual.activity == act]
        pred = str(pred_rows.prev_act.iloc[0]) if len(pred_rows) else None
        natural = 0.0
        if pred is not None and pred in ends.index and ends.loc[pred, "cases"]:
            natural = float(ends.loc[pred, "ends"] / ends.loc[pred, "cases"])
        named = _says_closure(act)
        if not (named or natural >= MIN_NATURAL_END_SHARE):
            continue
        found.append(act)
        evidence.append(
            {
                "activity": act,
                "last_step_share": round(float(row.terminal), 4),
                "median_pause_s": float(row.pause) / 1e6,
                "median_case_before_s": float(row.before) / 1e6,
                "usual_predecessor": pred,
                "cases_ending_at_predecessor_share": round(natural, 4),
                "name_says_closure": named,
            }
        )
    if not found:
        return ClockStop("case_end")
    return ClockStop("detected", after_outcome=tuple(found), evidence=tuple(evidence))


def drop_work(log: EventLog, table: ibis.Table) -> None:
    """Drop a table the detection materialised (see :func:`~flowlens.timing.enablement.drop_tables`)."""
    from flowlens.timing.enablement import drop_tables

    drop_tables(log, table)


def _says_closure(name: str) -> bool:
    import re

    low = name.lower()
    for word in CLOSURE_WORDS:
        if word.isascii():
            if re.search(rf"(?<![a-z]){re.escape(word)}", low):
                return True
        elif word in low:
            return True
    return False
