"""Contact wastes: repeat contacts, context lost in transfers and bot handoffs, chatbot doom
loops (docs/methods.md 13.11).

Built on the same instance table as :mod:`flowlens.findings.journeys` (customer issues and
contacts from :mod:`flowlens.analysis.journeys`, activity groups, the time model); a second
that one of those detectors already prices is not priced here again.

* :func:`detect_repeat_contacts` (``repeat_contact``, domain W7): a contact of the same issue
  (same customer, same reason, within the issue window, 7 days by default) after a contact that
  should have resolved it: one that was not abandoned (abandonment step, or queued and never
  taken by a person), and did not end by sending the customer to a branch (that trip is a
  ``branch_trip``). The repeat contact's whole customer time is at stake: its steps and the
  waiting before them, from the end of the contact before. Grouped by the channel of the
  contact that failed.
* :func:`detect_context_loss` (``context_loss``, W9 and W8): the customer explains again (a
  repeat_information step) after a transfer in the same contact (cold transfer), or after a bot
  handed the contact to a person (handoff without context).
* :func:`detect_bot_loops` (``loop``, W8): the bot does not understand (a bot_fallback step) and
  the customer rephrases, in a chat contact before any person takes it.

>>> import pandas as pd, flowlens
>>> from flowlens.findings.context import FindingContext
>>> rows = [("k1", "c1", "Transfer Call", 0, 0), ("k1", "c1", "Re-explain Issue", 1, 3)]
>>> df = pd.DataFrame(rows, columns=["case", "contact_id", "activity", "start", "end"])
>>> df[["start", "end"]] = df[["start", "end"]].apply(lambda s: pd.Timestamp("2024-01-01") + pd.to_timedelta(s, "min"))
>>> [(f.kind, f.details["via"], f.customer_time_s) for f in detect_context_loss(FindingContext(flowlens.read_log(df)))]
[('context_loss', 'transfer', 180.0)]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from flowlens.analysis.activity_groups import channel_text
from flowlens.findings._customer import (
    Spec,
    Steps,
    claim,
    cost,
    count_text,
    detector_named,
    findings,
    plural,
    price,
    quote,
    repeat_class,
    steps,
    with_counts,
    with_issue,
)
from flowlens.findings.model import Finding, Scenario
from flowlens.i18n import M_
from flowlens.units import duration_value

if TYPE_CHECKING:
    import ibis

    from flowlens.findings.context import FindingContext


# -- claims -----------------------------------------------------------------------------------
def contacts_table(st: Steps) -> ibis.Table:
    """One row per contact: issue_idx, case_idx, kno (its key in the case, Steps.table), k_s,
    k_e, k_first (its first eid, the steps table's kid), fam, cut (abandoned or sent to a
    branch), and the contact before it in the issue (p_e, p_cut, p_fam)."""
    import ibis

    x = st.table.filter(st.table.kno.notnull())
    handled_known = bool(st.groups["handled"])
    # grouped by the contact's integer key (kid: its first eid, one per case and contact), not
    # by the issue, case and key; these three are the same on every instance of a contact (a
    # case has one issue), so any of them will do
    k = x.group_by("kid").aggregate(
        issue_idx=x.issue_idx.arbitrary(),
        case_idx=x.case_idx.arbitrary(),
        kno=x.kno.arbitrary(),
        k_s=x.s.min(),
        k_e=x.e.max(),
        fam=x.kfam.max(),
        n_aband=x.g_abandonment.cast("int64").sum(),
        n_branch=x.g_branch_required.cast("int64").sum(),
        n_queue=x.g_queue.cast("int64").sum(),
        n_handled=x.g_handled.cast("int64").sum(),
    )
    unserved = (k.n_queue > 0) & (k.n_handled == 0) if handled_known else ibis.literal(False)
    k = k.mutate(cut=(k.n_aband > 0) | (k.n_branch > 0) | unserved)
    # the documented column order (the first eid after the contact's span, as before the key)
    k = k.rename(k_first="kid").relocate("k_first", after="k_e")
    # (kno sorts as the contact's text key does within its case)
    w = ibis.window(group_by=k.issue_idx, order_by=[k.k_s, k.case_idx, k.kno])
    return k.mutate(p_e=k.k_e.lag().over(w), p_cut=k.cut.lag().over(w), p_fam=k.fam.lag().over(w))


def repeat_contact_claims(ctx: FindingContext, st: Steps) -> ibis.Table | None:
    """Every instance of a repeat contact (module docstring)."""
    k = contacts_table(st)
    rep = k.filter(k.p_e.notnull() & ~k.p_cut.fill_null(False) & (k.k_s >= k.p_e))
    rep = rep.select(r_first="k_first", r_pfam=rep.p_fam.fill_null("unknown"))
    x = st.table
    # the contact's instances: those with its key (kid, its first eid)
    c = x.join(rep, x.kid == rep.r_first)
    return claim(c, "repeat_contact", c.r_pfam, part="both", anchor=c.eid == c.r_first)


def context_loss_claims(ctx: FindingContext, st: Steps) -> ibis.Table | None:
    """Repeat_information steps after a transfer or a bot-to-human handoff (or, unexplained,
    in the same channel)."""
    if not st.groups["repeat_information"]:
        return None
    x = st.table
    ri = with_issue(st, with_counts(st, x.filter(x.g_repeat_information & x.kno.notnull())))
    ri = ri.mutate(cls=repeat_class(ri))
    ri = ri.filter(ri.cls.isin(["transfer", "handoff", "same"]))
    return claim(ri, "context_loss", ri.activity, ri.cls, ri.kfam.fill_null(""))


def bot_loop_claims(ctx: FindingContext, st: Steps) -> ibis.Table | None:
    """Bot fallback steps and the customer's rephrasing in a bot leg."""
    if not (st.groups["bot_fallback"] or st.groups["repeat_information"]):
        return None
    x = st.table
    b = x.filter((x.g_bot_fallback | x.g_repeat_information) & x.kno.notnull())
    b = with_issue(st, with_counts(st, b))
    b = b.mutate(cls=repeat_class(b))
    b = b.filter(b.cls == "bot")
    # One occurrence per fallback (or per rephrasing when the log has no fallback steps).
    anchor = b.g_bot_fallback if st.groups["bot_fallback"] else b.g_repeat_information
    return claim(b, "loop", "bot", b.kfam.fill_null(""), anchor=anchor)


CLAIM_BUILDERS = {
    "repeat_contact": repeat_contact_claims,
    "context_loss": context_loss_claims,
    "loop": bot_loop_claims,
}


# -- detectors --------------------------------------------------------------------------------
@detector_named("repeat_contacts")
def detect_repeat_contacts(ctx: FindingContext) -> list[Finding]:
    """Contacts on an issue that an earlier, handled contact should have resolved (W7)."""
    st = steps(ctx)
    window = duration_value(st.window_us / 1e6)
    priced = price(ctx, st, "repeat_contact")
    first_acts = _first_activities(st)

    def describe(key: tuple[str, str, str], grp: pd.DataFrame) -> Spec:
        fam = key[0]
        # TRANSLATORS: {channel} is a channel family from the log (app, phone, chat, web)
        after = (
            M_("an {channel} contact", channel=channel_text(fam))
            if fam[:1] in "aeiou"
            else M_("a {channel} contact", channel=channel_text(fam))
        )
        if fam == "unknown":
            after = M_("a contact")
        n = int(grp["occurrences"].sum())
        waited = float(grp["anchor_wait_s"].sum())
        return Spec(
            title=M_(
                "Customers contact again after {after} that should have resolved the issue", after=after
            ),
            activities=tuple(first_acts.get(fam, ())),
            evidence=M_(
                "{contacts} in {cases} came back on the same issue (the same case, or the same customer and "
                "reason within {window}) after {after} that was handled (not abandoned, no branch visit "
                "required); {cost} (the wait since the earlier contact included).",
                contacts=plural(n, "contact"),
                cases=plural(len(grp), "case"),
                window=window,
                after=after,
                cost=cost(grp),
            ),
            scenario=Scenario(
                "reduce_repeats",
                {"what": "repeat contacts", "after_channel": fam},
                M_(
                    "resolve the issue at the {channel} contact (fix the access and skill defects behind repeats)",
                    channel=channel_text(fam),
                ),
            ),
            details={
                "catalogue": "W7",
                "after_channel": fam,
                "repeat_contacts": n,
                "waiting_before_repeats_s": waited,
                "in_repeat_contacts_s": max(0.0, float(grp["t_s"].sum()) - waited),
            },
        )

    return findings(ctx, "repeat_contact", "repeat_contacts", priced, describe)


def _first_activities(st: Steps, top: int = 3) -> dict[str, list[str]]:
    """Per failed-contact family, the most common first steps of the repeat contacts."""
    claims = st.claims.get("repeat_contact")
    if claims is None:
        return {}
    a = claims.filter(claims.anchor).join(st.table.select("eid", "activity"), "eid")
    df = a.group_by(["g1", "activity"]).aggregate(n=a.count()).to_pandas()
    out: dict[str, list[str]] = {}
    for fam, g in df.sort_values(["n", "activity"], ascending=[False, True]).groupby("g1", sort=False):
        out[str(fam)] = g["activity"].head(top).tolist()
    return out


@detector_named("context_loss")
def detect_context_loss(ctx: FindingContext) -> list[Finding]:
    """The customer explains again after a transfer or a bot-to-human handoff (W9, W8)."""
    st = steps(ctx)

    def describe(key: tuple[str, str, str], grp: pd.DataFrame) -> Spec:
        act, via, fam = key
        if via == "transfer":
            title = (
                M_(
                    "After a transfer the customer explains the issue again ({channel}): '{activity}'",
                    channel=channel_text(fam),
                    activity=act,
                )
                if fam
                else M_("After a transfer the customer explains the issue again: '{activity}'", activity=act)
            )
            what = M_("a transfer in the same contact passed on no context")
            scenario = Scenario(
                "warm_handoff",
                {"removes": act, "via": "transfer"},
                M_("warm transfer: the first agent briefs the next, so the customer need not repeat"),
            )
            code = "W9"
        elif via == "handoff":
            title = (
                M_(
                    "After the bot hands over, the customer explains the issue again ({channel}): '{activity}'",
                    channel=channel_text(fam),
                    activity=act,
                )
                if fam
                else M_(
                    "After the bot hands over, the customer explains the issue again: '{activity}'",
                    activity=act,
                )
            )
            what = M_("the bot-to-agent handoff passed on no context")
            scenario = Scenario(
                "warm_handoff",
                {"removes": act, "via": "bot handoff"},
                M_("hand the bot conversation over to the agent, so the customer need not repeat"),
            )
            code = "W8"
        else:
            title = (
                M_(
                    "Customers repeat what they already said ({channel}): '{activity}'",
                    channel=channel_text(fam),
                    activity=act,
                )
                if fam
                else M_("Customers repeat what they already said: '{activity}'", activity=act)
            )
            what = M_("no transfer or handoff explains it")
            scenario = Scenario("remove_activity", {"activity": act}, M_("keep what the customer said"))
            code = None
        return Spec(
            title=title,
            activities=(act,),
            evidence=M_(
                "'{activity}' happened {times} times in {cases} cases because {what}; {cost}.",
                activity=act,
                times=count_text(grp["occurrences"].sum()),
                cases=count_text(len(grp)),
                what=what,
                cost=cost(grp),
            ),
            scenario=scenario,
            details={"catalogue": code, "via": via, "channel": fam},
        )

    return findings(ctx, "context_loss", "context_loss", price(ctx, st, "context_loss"), describe)


@detector_named("bot_loops")
def detect_bot_loops(ctx: FindingContext) -> list[Finding]:
    """Chatbot fallbacks and the customer's rephrasing before a person takes over (W8)."""
    st = steps(ctx)
    priced = price(ctx, st, "loop")
    acts = _loop_activities(st)

    def describe(key: tuple[str, str, str], grp: pd.DataFrame) -> Spec:
        fam = key[1]
        n = int(grp["occurrences"].sum())
        return Spec(
            title=(
                M_(
                    "The chatbot does not understand and the customer has to rephrase ({channel})",
                    channel=channel_text(fam),
                )
                if fam
                else M_("The chatbot does not understand and the customer has to rephrase")
            ),
            activities=acts,
            evidence=M_(
                "The bot failed to understand {times} times in {cases} cases ({activities}); {cost}.",
                times=count_text(n),
                cases=count_text(len(grp)),
                activities=", ".join(map(quote, acts)),
                cost=cost(grp),
            ),
            scenario=Scenario(
                "cut_loop",
                {"activities": list(acts), "how": "better bot intents, or a person after the first fallback"},
                M_("teach the bot these intents or hand over after one fallback"),
            ),
            details={"catalogue": "W8", "pattern": "doom_loop", "channel": fam},
        )

    return findings(ctx, "loop", "bot_loops", priced, describe)


def _loop_activities(st: Steps) -> tuple[str, ...]:
    claims = st.claims.get("loop")
    if claims is None:
        return ()
    a = claims.join(st.table.select("eid", "activity"), "eid")
    return tuple(sorted(a.select("activity").distinct().to_pandas()["activity"].tolist()))


DETECTORS = (detect_repeat_contacts, detect_context_loss, detect_bot_loops)

__all__ = [
    "CLAIM_BUILDERS",
    "DETECTORS",
    "contacts_table",
    "detect_bot_loops",
    "detect_context_loss",
    "detect_repeat_contacts",
]
