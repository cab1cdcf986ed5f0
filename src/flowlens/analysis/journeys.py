"""The customer's view: issues across cases and contacts, effort signals, first-contact resolution.

A customer does not see cases; they see an **issue** they needed solved and the contacts it
took (docs/methods.md, "The customer's view"). Cases of one customer are linked into issues by sessionisation in
the engine: ordered by start, a case joins the customer's open issue when it starts within
``window`` (default 7 days) of that issue's last activity, and only with the same reason when a
reason column is used; otherwise it opens a new issue. Per issue flowlens counts contacts
(distinct contact ids, or cases when the log has none), the channels used and switches between
them, transfers, identity checks, requests for information, repeated explanations and
abandonment (activity groups, :mod:`flowlens.analysis.activity_groups`), and decides
first-contact resolution (FCR).

>>> import pandas as pd, flowlens
>>> df = pd.DataFrame({
...     "case": ["a", "a", "b", "c", "d"], "customer_id": ["k1", "k1", "k1", "k2", "k3"],
...     "activity": ["Verify Identity", "Handle Request", "Handle Request", "Handle Request", "Handle Request"],
...     "timestamp": ["2024-01-01 09:00", "2024-01-01 09:10", "2024-01-03 10:00", "2024-01-02 10:00",
...                   "2024-01-30 10:00"]})
>>> j = journeys(flowlens.read_log(df), window="7d")
>>> j.issues[["issue_id", "customer", "cases", "contacts", "fcr"]].values.tolist()
[['a', 'k1', 2, 2, False], ['c', 'k2', 1, 1, True], ['d', 'k3', 1, 1, <NA>]]
>>> j.summary["fcr"], j.summary["fcr_issues"]
(0.5, 2)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.analysis.activity_groups import ActivityGroups
from flowlens.attributes import case_attribute_table, detect_column, resolve_column
from flowlens.errors import ConfigError
from flowlens.i18n import M_, PM_, Message, join_messages
from flowlens.io.cases import add_case_attributes
from flowlens.relational import ordered_sequences
from flowlens.timing.enablement import drop_tables
from flowlens.units import count_value, duration_value, parse_duration, percent_value

if TYPE_CHECKING:
    import ibis

    from flowlens.log import EventLog

US = 1_000_000

#: Customer values meaning "not identified" (compared lower-case, trimmed).
UNKNOWN_CUSTOMERS: tuple[str, ...] = (
    "",
    "0",
    "-1",
    "none",
    "null",
    "nan",
    "na",
    "n/a",
    "unknown",
    "anonymous",
    "guest",
    "未知",
    "匿名",
)


#: A customer value with more cases than this in the log is an organisation or a product, not
#: a person ("a value with hundreds of cases over years is not a person").
MAX_PERSON_CASES = 100
#: ... and so is a value with this many of its cases open at the same time.
MAX_PERSON_OPEN = 5
#: Share of the identified cases such values may hold before the column is no person key (up to
#: it they are treated as unidentified, like "guest").
MAX_NON_PERSON_SHARE = 0.25


@dataclass(frozen=True)
class CustomerKey:
    """Whether a customer column identifies persons (docs/methods.md §9.1)."""

    #: canonical column (None: no customer column)
    column: str | None
    #: its name in the source
    name: str | None
    #: True when the column can link a person's cases into issues
    persons: bool
    #: why (one sentence; empty when no column)
    reason: str
    #: values that look like organisations (too many cases, or too many open at once),
    #: treated as unidentified when the column is a person key
    non_persons: tuple[str, ...] = ()
    #: identified cases, values, cases per value (median, max), share of cases in non-persons
    stats: dict[str, Any] = field(default_factory=dict)


def customer_key(
    log: EventLog,
    given: str | None = "auto",
    *,
    unknown_customers: Iterable[str] = UNKNOWN_CUSTOMERS,
) -> CustomerKey:
    """The customer column and whether its values are persons.

    A person raises a handful of cases and rarely has several open at once; an organisation or
    a product key (helpdesk's ``customer``: one value with 251 tickets over four years, five or
    more open at the same time for most values) chains unrelated cases into one "issue". A
    value is **not a person** when it has more than :data:`MAX_PERSON_CASES` cases or
    :data:`MAX_PERSON_OPEN` or more cases open at the same time (case start to end); the column
    is a person key when such values hold at most :data:`MAX_NON_PERSON_SHARE` of the
    identified cases (they are then treated as unidentified). Computed on the per-case table.

    >>> import pandas as pd, flowlens
    >>> rows = [{"case": f"c{i}", "customer_id": f"k{i // 2}", "activity": "a",
    ...          "timestamp": pd.Timestamp("2024-01-01") + pd.Timedelta(days=i)} for i in range(40)]
    >>> customer_key(flowlens.read_log(pd.DataFrame(rows))).persons
    True
    """
    col = detect_column(log, "customer", given)
    if col is None:
        return CustomerKey(None, None, False, "")
    name = log.attributes.get(col, col)
    from flowlens.relational import case_table

    t = log.table
    v = t[col].cast("string")
    per = t.group_by("case_idx").aggregate(cust=v.argmin(t.eid, where=v.notnull()))
    ct = case_table(t).select("case_idx", "start_us", "end_us").join(per, "case_idx")
    df = ct.to_pandas()
    unknown = {str(u).strip().lower() for u in unknown_customers}
    df = df[df["cust"].notna() & ~df["cust"].astype(str).str.strip().str.lower().isin(unknown)]
    n = len(df)
    if n == 0:
        return CustomerKey(
            col,
            name,
            False,
            M_("column '{column}' identifies no customer (every value means unknown)", column=name),
        )
    counts = df.groupby("cust").size()
    # most cases open at once per value: +1 at each start, -1 at each end, running sum per value
    ev = pd.DataFrame(
        {
            "cust": np.r_[df["cust"].to_numpy(), df["cust"].to_numpy()],
            "t": np.r_[df["start_us"].to_numpy(), df["end_us"].to_numpy()],
            "d": np.r_[np.ones(n, dtype=np.int64), -np.ones(n, dtype=np.int64)],
        }
    ).sort_values(["cust", "t", "d"], kind="stable")
    ev["open"] = ev.groupby("cust", sort=False)["d"].cumsum()
    most_open = ev.groupby("cust")["open"].max().reindex(counts.index)
    bad = counts[(counts > MAX_PERSON_CASES) | (most_open >= MAX_PERSON_OPEN)]
    share = float(bad.sum()) / n
    top = counts.sort_values(ascending=False, kind="stable")
    top_v = str(top.index[0])
    span_d = (
        float(
            df.loc[df["cust"] == top.index[0], "end_us"].max()
            - df.loc[df["cust"] == top.index[0], "start_us"].min()
        )
        / 86_400e6
    )
    stats = {
        "cases": n,
        "values": len(counts),
        "cases_per_value_median": float(counts.median()),
        "cases_per_value_max": int(top.iloc[0]),
        "busiest_value": top_v,
        "busiest_span_days": span_d,
        "non_person_values": len(bad),
        "non_person_share": share,
    }
    if share > MAX_NON_PERSON_SHARE:
        reason = M_(
            "column '{column}' does not identify persons: {share} of its cases belong to values with more than "
            "{max_cases} cases or {max_open} or more open at once (e.g. '{value}': {cases} cases over {days} "
            "days), an organisation or a product rather than a customer; name a person-level key with "
            "--customer COLUMN",
            column=name,
            share=percent_value(share, format(100 * share, ".1f") + " %"),
            max_cases=MAX_PERSON_CASES,
            max_open=MAX_PERSON_OPEN,
            value=top_v,
            cases=count_value(int(top.iloc[0]), format(int(top.iloc[0]), ",")),
            days=format(span_d, ",.0f"),
        )
        return CustomerKey(col, name, False, reason, tuple(sorted(map(str, bad.index))), stats)
    reason = M_(
        "column '{column}' identifies persons ({values} values, median {median} cases each)",
        column=name,
        values=count_value(len(counts), format(len(counts), ",")),
        median=format(counts.median(), "g"),
    )
    if len(bad):
        reason = PM_(
            "two clauses",
            "{first}; {second}",
            first=reason,
            second=M_(
                "{n} values with more than {max_cases} cases or {max_open} or more open at once ({share} of the "
                "cases) are treated as unidentified",
                n=len(bad),
                max_cases=MAX_PERSON_CASES,
                max_open=MAX_PERSON_OPEN,
                share=percent_value(share, format(100 * share, ".1f") + " %"),
            ),
        )
    return CustomerKey(col, name, True, reason, tuple(sorted(map(str, bad.index))), stats)


@dataclass
class Journeys:
    """The customer's view of a log (see :func:`journeys`)."""

    #: one row per issue (see :func:`journeys` for the columns)
    issues: pd.DataFrame
    #: the headline KPIs (FCR, repeat-contact rate, ...); None where not measurable
    summary: dict[str, Any]
    #: role -> source column used (or None)
    columns: dict[str, str | None]
    #: group -> activities of the log in it
    groups: dict[str, list[str]]
    window_s: float
    notes: list[str] = field(default_factory=list)
    #: where the activity groups came from ("defaults" or the groups file)
    groups_source: str = "defaults"
    #: case_idx, case_id, issue_idx, issue_id (engine table) for analyses that join issues
    case_issue: Any = field(default=None, repr=False)
    #: the engine tables :attr:`case_issue` reads, dropped by :meth:`close`
    _tables: tuple[Any, ...] = field(default=(), repr=False)

    def close(self, log: EventLog) -> None:
        """Drop the engine tables behind :attr:`case_issue` (``log``: the log these journeys
        are of) once no analysis joins issues any more; the issues and summary stay.

        >>> import flowlens, pandas as pd
        >>> df = pd.DataFrame({"case": ["1"], "activity": ["a"], "timestamp": ["2024-01-01 09:00"],
        ...                    "customer_id": ["c1"]})
        >>> log = flowlens.read_log(df)
        >>> j = journeys(log)
        >>> j.close(log)
        >>> log.engine.duckdb.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'fl_%'").fetchall()
        [(0,)]
        """
        drop_tables(log, *self._tables)
        self.case_issue = None

    def to_dict(self, *, issues: int | None = 20) -> dict[str, Any]:
        """JSON-ready: summary, columns, groups, notes and the first ``issues`` issues (longest
        customer lead time first; ``None`` for all)."""
        top = self.issues.sort_values(["lead_s", "issue_id"], ascending=[False, True])
        if issues is not None:
            top = top.head(issues)
        return {
            "summary": self.summary,
            "columns": self.columns,
            "window_s": self.window_s,
            "groups": self.groups,
            "groups_source": self.groups_source,
            "notes": self.notes,
            "issues": _records(top),
        }


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.astype(object).where(df.notna(), None).to_dict("records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in out]


def _window_s(window: float | str) -> float:
    w = parse_duration(window) if isinstance(window, str) else float(window)
    if w < 0:
        raise ConfigError(f"the issue window must not be negative, got {window!r}")
    return w


def journeys(
    log: EventLog,
    *,
    customer: str | None = "auto",
    channel: str | None = "auto",
    reason: str | None = "auto",
    contact: str | None = "auto",
    window: float | str = "7d",
    groups: ActivityGroups | str | Path | Mapping[str, Any] | None = None,
    unknown_customers: Iterable[str] = UNKNOWN_CUSTOMERS,
    attributes: Sequence[str] = (),
) -> Journeys:
    """Link cases into customer issues and measure each issue from the customer's side.

    Parameters
    ----------
    customer, channel, reason, contact: column names, ``"auto"`` to detect them from common
        names (customer_id, client_id, 客户号; channel, origin_channel, 渠道; reason, intent,
        category; contact_id, call_id), or ``None`` to ignore the role.
    window: seconds or a duration ("7d"): a case joins an issue when it starts at most this
        long after the issue's last activity.
    groups: activity groups (file path, mapping or :class:`ActivityGroups`; default names in
        English and Chinese).
    unknown_customers: customer values meaning "not identified"; such cases are issues of
        their own and are left out of the issue KPIs.
    attributes: case attributes to copy to each issue from its first case.

    The ``issues`` table has: issue_id (case id of its first case), issue_idx, customer,
    customer_known, reason, cases, contacts, start_us, end_us, lead_s (customer lead time:
    first start to last end over the issue's cases), channels (the channel family of each
    contact in order, joined by " → "), n_channels, channel_switches, transfers, one
    ``n_<group>`` count per activity group, the contact counts of :data:`CONTACT_COLUMNS`
    (verified, re-verified, transferred, abandoned, queued, handled contacts), censored (a
    repeat could fall after the end of the log), fcr (None when censored or the customer is
    unknown), plus ``attributes``.
    """
    import ibis

    win_s = _window_s(window)
    if win_s <= 0:
        raise ConfigError("the issue window must be positive (e.g. 7d): issues link cases within it")
    win_us = round(win_s * US)
    key = customer_key(log, customer, unknown_customers=unknown_customers)
    # a detected column that does not identify persons is not used: chaining an organisation's
    # cases would make one years-long "issue" (a column the user names is taken as given)
    use_key = key.column is not None and (key.persons or customer != "auto")
    roles = {
        "customer": key.column if use_key else None,
        "channel": detect_column(log, "channel", channel),
        "reason": detect_column(log, "reason", reason),
        "contact": detect_column(log, "contact", contact),
    }
    attrs = [resolve_column(log, a, what="issue attribute") for a in attributes]
    g = ActivityGroups.resolve(groups)
    t = log.table
    activities = t.select("activity").distinct().to_pandas()["activity"].tolist()
    members = g.members(activities)
    notes: list[str] = []

    # -- instances with roles, group flags and channel families ---------------------------
    ev = t.select(
        "case_idx",
        "case_id",
        "eid",
        s=t.start_us.fill_null(t.end_us),
        e=t.end_us,
        cust=t[roles["customer"]].cast("string") if roles["customer"] else ibis.null("string"),
        reason=t[roles["reason"]].cast("string") if roles["reason"] else ibis.null("string"),
        contact=t[roles["contact"]].cast("string") if roles["contact"] else ibis.null("string"),
        chan=t[roles["channel"]].cast("string") if roles["channel"] else ibis.null("string"),
        **{
            f"g_{name}": (t.activity.isin(acts) if acts else ibis.literal(False))
            for name, acts in members.items()
        },
    )
    if roles["channel"]:
        values = ev.select("chan").distinct().to_pandas()["chan"].dropna().tolist()
        fam = pd.DataFrame({"m_chan": values, "fam": [g.channel_family(v) for v in values]}, dtype=object)
        if len(fam):
            mt = ibis.memtable(
                fam.astype({"m_chan": str, "fam": object}), schema={"m_chan": "string", "fam": "string"}
            )
            ev = ev.left_join(mt, ev.chan == mt.m_chan).drop("m_chan")
        else:
            ev = ev.mutate(fam=ibis.null("string"))
    else:
        ev = ev.mutate(fam=ibis.null("string"))

    # -- cases and their issues (sessionisation) -----------------------------------------
    cust_case = ev.cust.argmin(ev.eid, where=ev.cust.notnull())
    reason_case = ev.reason.argmin(ev.eid, where=ev.reason.notnull())
    cases = ev.group_by(["case_idx", "case_id"]).aggregate(
        c_start=ev.s.min(), c_end=ev.e.max(), cust=cust_case, reason=reason_case
    )
    unknown = sorted(
        {str(u).strip().lower() for u in unknown_customers}
        | {v.strip().lower() for v in key.non_persons if key.persons}
    )
    if roles["customer"]:
        known = cases.cust.notnull() & ~cases.cust.strip().lower().isin(unknown)
    else:
        # No customer column: every case is an issue of its own, and a known one.
        known = ibis.literal(True)
    cases = cases.mutate(known=known)
    cases = cases.mutate(
        ckey=(
            ibis.ifelse(cases.known, cases.cust, ibis.literal("\x00").concat(cases.case_id))
            if roles["customer"]
            else ibis.literal("\x00").concat(cases.case_id)
        ),
        rkey=cases.reason.fill_null("") if roles["reason"] else ibis.literal(""),
    )
    part = [cases.ckey, cases.rkey]
    before = ibis.window(group_by=part, order_by=[cases.c_start, cases.case_idx], rows=(None, -1))
    prev_end = cases.c_end.max().over(before)
    cases = cases.mutate(fl_new=(prev_end.isnull() | ((cases.c_start - prev_end) > win_us)).cast("int64"))
    upto = ibis.window(
        group_by=[cases.ckey, cases.rkey], order_by=[cases.c_start, cases.case_idx], rows=(None, 0)
    )
    cases = cases.mutate(fl_seq=cases.fl_new.sum().over(upto))
    iw = ibis.window(
        group_by=[cases.ckey, cases.rkey, cases.fl_seq], order_by=[cases.c_start, cases.case_idx]
    )
    cases = cases.mutate(issue_idx=cases.case_idx.first().over(iw), issue_id=cases.case_id.first().over(iw))
    case_issue = log.engine.materialize(
        cases.select(
            "case_idx", "case_id", "issue_idx", "issue_id", "c_start", "c_end", "cust", "reason", "known"
        ),
        prefix="fl_issues",
    )

    # -- contacts -------------------------------------------------------------------------
    evc = ev.join(case_issue.select("case_idx", "issue_idx"), "case_idx")
    # A contact is a distinct contact id within a case (ids recycled across cases stay apart);
    # a case without contact ids is one contact; instances without an id in a case that has
    # ids (back-office work) belong to no contact. Its key is the case index and the contact id
    # (NULL: the whole case), grouped on as they are, not a text made of the case id and the
    # contact id for every instance.
    inc = evc
    if roles["contact"]:
        # the cases with contact ids: an aggregate, not a window by case over every instance
        hc = evc.filter(evc.contact.notnull()).select(h_case="case_idx").distinct()
        inc = evc.left_join(hc, evc.case_idx == hc.h_case)
        inc = inc.filter(inc.contact.notnull() | inc.h_case.isnull()).drop("h_case")
    group_names = list(members)
    flags = {name: evc[f"g_{name}"].cast("int64") for name in group_names}
    # Without agent steps in the log, a contact whose last step (by start time) is a queue step,
    # with no other step starting then, ended in the queue: the latest start of its queue steps
    # is its latest start, and that of its other steps (if any) earlier. Three maxima of the
    # contact's aggregate, not a window over every instance.
    last = inc.s.max()
    last_queue, last_other = inc.s.max(where=inc.g_queue), inc.s.max(where=~inc.g_queue)
    ends_in_queue = (last_queue == last).fill_null(False) & (last_other.isnull() | (last_other < last))
    contacts = log.engine.materialize(
        inc.group_by(["issue_idx", "case_idx", "contact"]).aggregate(
            k_start=inc.s.min(),
            fam=inc.fam.argmin(inc.eid, where=inc.fam.notnull()),
            k_ends_in_queue=ends_in_queue.cast("int64"),
            **{f"k_{name}": inc[f"g_{name}"].cast("int64").sum() for name in group_names},
        ),
        prefix="fl_contacts",
    )
    k = contacts

    def has(name: str) -> ibis.Value:
        return k[f"k_{name}"] > 0

    def count_if(cond: ibis.Value) -> ibis.Value:
        return cond.cast("int64").sum()

    # Abandoned (domain.md 3): an abandonment step, or the contact queued and no agent took it
    # (when the log has agent steps; otherwise: its last step is a queue step). Timestamps of
    # queue and service can overlap by a second, so "no agent step" beats "last step".
    in_queue = (has("queue") & ~has("handled")) if members.get("handled") else (k.k_ends_in_queue > 0)
    abandoned = has("abandonment") | in_queue
    contact_stats = {
        "contacts": k.count(),
        "verified_contacts": count_if(has("verification")),
        "reverified_contacts": count_if(k.k_verification >= 2),
        "transferred_contacts": count_if(has("transfer")),
        "abandoned_contacts": count_if(abandoned),
        "offered_contacts": count_if(has("queue")),
        "abandoned_offered": count_if(abandoned & has("queue")),
        "handled_contacts": count_if(has("handled")),
        "transferred_handled": count_if(has("handled") & has("transfer")),
    }
    per_contact = k.group_by("issue_idx").aggregate(**contact_stats)
    by_fam = k.group_by("fam").aggregate(**contact_stats)
    channel_stats = by_fam.to_pandas() if roles["channel"] else None
    # the contacts of an issue in order of start, then of the case id and contact id (the
    # case ids looked up for the contacts with a channel family alone)
    kf = k.filter(k.fam.notnull())
    ids = case_issue.select(i_case="case_idx", i_id="case_id")
    kf = kf.join(ids, kf.case_idx == ids.i_case).drop("i_case")
    kw = ibis.window(group_by=kf.issue_idx, order_by=[kf.k_start, kf.i_id, kf.contact])
    kf = kf.mutate(prev=kf.fam.lag().over(kw), kpos=ibis.row_number().over(kw))
    chan = kf.group_by("issue_idx").aggregate(
        n_channels=kf.fam.nunique(),
        channel_switches=(kf.prev.notnull() & (kf.prev != kf.fam)).cast("int64").sum(),
    )
    path = ordered_sequences(
        kf.select(case_idx=kf.issue_idx, pos=kf.kpos, value=kf.fam), value="value"
    ).rename(issue_idx="case_idx", chan_seq="seq")

    counts = evc.group_by("issue_idx").aggregate(**{f"n_{name}": v.sum() for name, v in flags.items()})
    ci = case_issue
    issues = ci.group_by(["issue_idx", "issue_id"]).aggregate(
        customer=ci.cust.min(),
        customer_known=ci.known.all(),
        reason=ci.reason.min(),
        cases=ci.count(),
        start_us=ci.c_start.min(),
        end_us=ci.c_end.max(),
    )
    issues = (
        issues.left_join(counts, "issue_idx")
        .drop("issue_idx_right")
        .left_join(per_contact, "issue_idx")
        .drop("issue_idx_right")
        .left_join(chan, "issue_idx")
        .drop("issue_idx_right")
    )
    if attrs:
        ca = case_attribute_table(log, attrs).rename(issue_idx="case_idx")
        issues = issues.left_join(ca, "issue_idx").drop("issue_idx_right")
    df = issues.to_pandas()
    paths = path.to_pandas()
    log_end = int(t.end_us.max().to_pandas())
    drop_tables(log, contacts)  # read by the issues and paths alone

    df = _finish_issues(df, paths, members, win_us, log_end, roles)
    summary, more_notes = _summary(df, members, roles, win_s)
    if channel_stats is not None:
        summary["by_channel"] = _channel_rows(channel_stats, members)
    notes += more_notes
    if key.column is not None and not use_key:
        notes = [n for n in notes if not n.startswith("no customer column")]
    if key.column is not None:
        notes.insert(
            0,
            key.reason
            if use_key
            else f"{key.reason}; it is not used, so each case is its own issue (journeys need a person-level key)",
        )
    source = {r: (log.attributes.get(c, c) if c else None) for r, c in roles.items()}
    return Journeys(
        issues=df,
        summary=summary,
        columns=source,
        groups={k2: v for k2, v in members.items()},
        window_s=win_s,
        notes=notes,
        groups_source=g.source,
        case_issue=case_issue.select("case_idx", "case_id", "issue_idx", "issue_id"),
        _tables=(case_issue,),
    )


def _finish_issues(
    df: pd.DataFrame,
    paths: pd.DataFrame,
    members: dict[str, list[str]],
    win_us: int,
    log_end: int,
    roles: dict[str, str | None],
) -> pd.DataFrame:
    int_cols = [*CONTACT_COLUMNS, "n_channels", "channel_switches", *[f"n_{g}" for g in members]]
    for c in int_cols:
        if c in df.columns:
            df[c] = df[c].fillna(0).astype("int64")
    df["customer_known"] = df["customer_known"].astype(bool)
    df["lead_s"] = (df["end_us"] - df["start_us"]) / US
    seqs = dict(zip(paths["issue_idx"], paths["chan_seq"], strict=True)) if len(paths) else {}
    df["channels"] = [" → ".join(seqs.get(i, []) or []) for i in df["issue_idx"]]
    if not roles["channel"]:
        df["n_channels"] = pd.array([pd.NA] * len(df), dtype="Int64")
        df["channel_switches"] = pd.array([pd.NA] * len(df), dtype="Int64")
    df["transfers"] = df.get("n_transfer", 0)
    # An issue is observable for FCR when a repeat within the window would still be in the log.
    df["censored"] = (df["end_us"] + win_us) > log_end
    one = (df["contacts"] == 1) & (df["abandoned_contacts"] == 0)
    fcr = pd.array(one.to_numpy(), dtype="boolean")
    fcr[(~df["customer_known"] | df["censored"]).to_numpy()] = pd.NA
    df["fcr"] = fcr
    df = df.sort_values(["start_us", "issue_idx"]).reset_index(drop=True)
    front = [
        "issue_id",
        "issue_idx",
        "customer",
        "customer_known",
        "reason",
        "cases",
        "contacts",
        "start_us",
        "end_us",
        "lead_s",
        "channels",
        "n_channels",
        "channel_switches",
        "transfers",
    ]
    rest = [c for c in df.columns if c not in front]
    return df[front + rest]


#: Per-issue contact counts (sums over the issue's contacts).
CONTACT_COLUMNS = (
    "contacts",
    "verified_contacts",
    "reverified_contacts",
    "transferred_contacts",
    "abandoned_contacts",
    "offered_contacts",
    "abandoned_offered",
    "handled_contacts",
    "transferred_handled",
)


def contact_rates(sums: Mapping[str, float], matched: Mapping[str, bool]) -> dict[str, Any]:
    """Contact-level rates from summed contact counts (:data:`CONTACT_COLUMNS`).

    * abandonment: abandoned ÷ offered (contacts that queued) when the log has queue steps,
      else abandoned ÷ contacts;
    * transfer: handled contacts with a transfer ÷ handled contacts when the log marks
      handling (an agent answers), else contacts with a transfer ÷ contacts;
    * re-verification: contacts with two or more identity checks ÷ contacts with one or more.

    A rate is None when no activity of its group occurs in the log.

    >>> contact_rates({"contacts": 10, "offered_contacts": 8, "abandoned_offered": 2, "abandoned_contacts": 2,
    ...                "handled_contacts": 5, "transferred_handled": 1, "transferred_contacts": 1,
    ...                "verified_contacts": 4, "reverified_contacts": 1},
    ...               {"abandonment": True, "queue": True, "transfer": True, "handled": True, "verification": True})
    {'abandonment_rate': 0.25, 'abandonment_base': 'queued contacts', 'transfer_rate': 0.2, 'transfer_base': 'handled contacts', 'reverification_rate': 0.25}
    """
    out: dict[str, Any] = {}
    if matched.get("queue") and sums["offered_contacts"]:
        out["abandonment_rate"] = _rate(sums["abandoned_offered"], sums["offered_contacts"])
        out["abandonment_base"] = M_("queued contacts")
    elif matched.get("abandonment"):
        out["abandonment_rate"] = _rate(sums["abandoned_contacts"], sums["contacts"])
        out["abandonment_base"] = M_("contacts")
    else:
        out["abandonment_rate"], out["abandonment_base"] = None, None
    if not matched.get("transfer"):
        out["transfer_rate"], out["transfer_base"] = None, None
    elif matched.get("handled") and sums["handled_contacts"]:
        out["transfer_rate"] = _rate(sums["transferred_handled"], sums["handled_contacts"])
        out["transfer_base"] = M_("handled contacts")
    else:
        out["transfer_rate"] = _rate(sums["transferred_contacts"], sums["contacts"])
        out["transfer_base"] = M_("contacts")
    out["reverification_rate"] = (
        _rate(sums["reverified_contacts"], sums["verified_contacts"]) if matched.get("verification") else None
    )
    return out


def _channel_rows(stats: pd.DataFrame, members: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Per channel family (contacts whose channel is unknown or internal: "unknown")."""
    matched = {g: bool(v) for g, v in members.items()}
    stats = stats.copy()
    stats["fam"] = stats["fam"].astype(object).where(stats["fam"].notna(), "unknown")
    total = float(stats["contacts"].sum()) or 1.0
    rows = []
    for r in stats.sort_values(["contacts", "fam"], ascending=[False, True]).to_dict("records"):
        rows.append(
            {
                "channel": r["fam"],
                "contacts": int(r["contacts"]),
                "share": r["contacts"] / total,
                **contact_rates(r, matched),
            }
        )
    return rows


def _rate(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


def _summary(
    df: pd.DataFrame, members: dict[str, list[str]], roles: dict[str, str | None], win_s: float
) -> tuple[dict[str, Any], list[str]]:
    notes: list[str] = []
    known = df[df["customer_known"]]
    n_unknown_cases = int(df.loc[~df["customer_known"], "cases"].sum())
    total_cases = int(df["cases"].sum())
    if not roles["customer"]:
        notes.append(
            M_("no customer column: each case is its own issue, so FCR counts contacts within a case")
        )
    elif n_unknown_cases:
        unknown_share = n_unknown_cases / max(total_cases, 1)
        notes.append(
            M_(
                "{unknown} of {total} cases ({share}) have no identified customer; they are left out of the "
                "issue KPIs",
                unknown=count_value(n_unknown_cases, f"{n_unknown_cases:,}"),
                total=count_value(total_cases, f"{total_cases:,}"),
                share=percent_value(unknown_share, f"{100 * unknown_share:.1f} %"),
            )
        )
    matched = {g: bool(v) for g, v in members.items()}
    for grp in ("verification", "transfer", "abandonment", "information_request"):
        if not matched.get(grp) and not (grp == "abandonment" and matched.get("queue")):
            notes.append(
                M_(
                    "no activity of the log is in the group '{group}': its KPI is not measured (give a groups file)",
                    group=grp,
                )
            )
    observable = known[~known["censored"]]
    censored = int(known["censored"].sum())
    if censored:
        notes.append(
            M_(
                "FCR leaves out {n} issues that end less than {window} before the log ends (a repeat contact "
                "could fall after the end of the log)",
                n=count_value(censored, f"{censored:,}"),
                window=duration_value(win_s),
            )
        )
    contacts_all = int(df["contacts"].sum())
    k_contacts = int(known["contacts"].sum())
    lead = known["lead_s"].to_numpy(dtype=float)
    rates = contact_rates({c: float(df[c].sum()) for c in CONTACT_COLUMNS}, matched)
    n_known = len(known)
    summary: dict[str, Any] = {
        "issues": len(df),
        "issues_identified": int(n_known),
        "cases": total_cases,
        "contacts": contacts_all,
        "cases_unidentified": n_unknown_cases,
        "fcr": _rate(observable["fcr"].sum(), len(observable)) if len(observable) else None,
        "fcr_issues": len(observable),
        "repeat_contact_rate": _rate(k_contacts - n_known, k_contacts),
        "contacts_per_issue": float(known["contacts"].mean()) if n_known else None,
        "multi_contact_share": _rate((known["contacts"] >= 2).sum(), n_known),
        "channel_switch_rate": (
            _rate((known["channel_switches"].fillna(0) > 0).sum(), n_known) if roles["channel"] else None
        ),
        "reverification_rate": rates["reverification_rate"],
        "information_request_rate": (
            _rate((known["n_information_request"] > 0).sum(), n_known)
            if matched.get("information_request")
            else None
        ),
        "repeat_request_rate": (
            _rate((known["n_information_request"] >= 2).sum(), n_known)
            if matched.get("information_request")
            else None
        ),
        "repeat_information_rate": (
            _rate((known["n_repeat_information"] > 0).sum(), n_known)
            if matched.get("repeat_information")
            else None
        ),
        "abandonment_rate": rates["abandonment_rate"],
        "abandonment_base": rates["abandonment_base"],
        "transfer_rate": rates["transfer_rate"],
        "transfer_base": rates["transfer_base"],
        "lead_median_s": float(np.median(lead)) if lead.size else None,
        "lead_p90_s": float(np.quantile(lead, 0.9)) if lead.size else None,
        "lead_mean_s": float(lead.mean()) if lead.size else None,
    }
    return summary, notes


def headline(summary: Mapping[str, Any], window_s: float) -> str:
    """One plain-language sentence for a report or a slide.

    >>> headline({"issues_identified": 200, "fcr": 0.7, "contacts_per_issue": 1.45,
    ...           "lead_median_s": 7200.0, "channel_switch_rate": 0.12}, 7 * 86400)
    '70.0 % of 200 customer issues were resolved at the first contact (no repeat within 7.0 d); an issue takes 1.45 contacts on average and 2.0 h from first to last contact (median); 12.0 % of issues switch channel.'
    """
    n = summary.get("issues_identified") or 0
    if not n:
        return M_(
            "No issue could be tied to an identified customer, so first-contact resolution is not measured."
        )
    parts: list[Message] = []
    if summary.get("fcr") is not None:
        parts.append(
            M_(
                "{share} of {n} customer issues were resolved at the first contact (no repeat within {window})",
                share=percent_value(summary["fcr"], f"{100 * summary['fcr']:.1f} %"),
                n=count_value(n, f"{n:,}"),
                window=duration_value(window_s),
            )
        )
    else:
        parts.append(M_("{n} customer issues", n=count_value(n, f"{n:,}")))
    if summary.get("contacts_per_issue") is not None:
        parts.append(
            M_(
                "an issue takes {contacts} contacts on average and {time} from first to last contact (median)",
                contacts=format(summary["contacts_per_issue"], ".2f"),
                time=duration_value(summary.get("lead_median_s")),
            )
        )
    if summary.get("channel_switch_rate") is not None:
        rate = summary["channel_switch_rate"]
        parts.append(M_("{share} of issues switch channel", share=percent_value(rate, f"{100 * rate:.1f} %")))
    return M_("{sentence}.", sentence=join_messages(parts, "; "))


# Re-exports until their users import them from their homes: findings/ (_customer, context,
# pingpong, rework) import detect_column (home: flowlens.attributes), tests/findings/ (conftest,
# _journey_data) import add_case_attributes (home: flowlens.io.cases).
__all__ = [
    "MAX_NON_PERSON_SHARE",
    "MAX_PERSON_CASES",
    "MAX_PERSON_OPEN",
    "UNKNOWN_CUSTOMERS",
    "CustomerKey",
    "Journeys",
    "add_case_attributes",
    "customer_key",
    "detect_column",
    "headline",
    "journeys",
]
