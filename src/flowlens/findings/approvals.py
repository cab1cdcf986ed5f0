"""No-effect approvals and checks: a control that comes after another and almost never says no.

A *control* is an approval or check (approve, authorise, sign off, underwrite, second review,
审批, 复核, ...; the ``approval`` and ``control`` activity groups override the names). A
candidate is an approval that staff do (:mod:`flowlens.analysis.step_roles`) before the
customer's clock stops, in at least 30 cases, taking work (median processing >= 30 s), and that
is not the **final decision**: an approval after which the case ends (its last step before the
clock stop in at least half its instances) is the outcome itself, and nothing after it could
show a "no", so its effect cannot be tested. A candidate ``a`` is flagged when
(docs/methods.md 13.3):

* it is **redundant**: in at least half of its cases another control (a different activity:
  an ID check, a validation, a first approval, a risk rating) already came before it;
* it **adds no "no" of its own**: the step right after ``a`` is a rejection (reject, deny,
  decline, return, incomplete, ...), a return to a step that normally comes before ``a``, or the
  end of the case where cases normally go on, in a share p_neg of its instances. It is compared
  with p0, the same share at the same point (after ``a``'s usual predecessor) in cases without
  ``a`` (at least 50 instances). The groups are *comparable* unless the cases without ``a`` get
  a "no" significantly (Fisher's exact test, one-sided p < 0.05) and materially (by more than
  tau = 2 points) more often: then the absence of ``a`` is itself the "no" branch of a decision
  (``a`` records the "yes"), and no test is possible. ``a`` adds no "no" when p_neg - p0 < tau
  and Fisher's exact test finds no excess (one-sided p >= 0.05); the 95 % Newcombe interval of
  the difference is reported, and the title says "almost never changes the outcome" only when
  its upper end is below 2.5 tau (otherwise "shows no effect", the interval saying how large
  an effect the comparison cannot rule out). Without a comparison: p_neg < tau with its 95 %
  Wilson upper bound below 2.5 tau (about 150 instances without any "no" are needed);
* (evidence, reported) how the final steps of cases with and without ``a`` differ (total
  variation distance), among cases that passed the same earlier control.

A control in a **risk-escalated case** (enhanced due diligence, fraud assessment, step-up
authentication, or a case attribute ``risk*`` = high) is a risk-based control, not waste: that
subset is reported separately as regulatory (keep it, make it faster). So is a control the
allow-list names. Numeric case attributes (amount) that separate the cases with ``a`` from the
comparable cases without it are reported as the scope of the rule ("below 50,000").

Customer time per case = what removing the control saves: the customer waiting charged to it
plus the service time only it covered (:func:`~flowlens.findings.model.saving_us`); staff
time = its processing.

>>> import flowlens, pandas as pd
>>> rows = []
>>> for k in range(200):
...     acts = ["submit", "validate", "second approval", "payout"]
...     rows += [(f"c{k}", a, f"r{i}", f"2024-01-01 {9 + i}:00", f"2024-01-01 {9 + i}:30")
...              for i, a in enumerate(acts)]
>>> log = flowlens.read_log(pd.DataFrame(rows, columns=["case", "activity", "resource", "start", "end"]))
>>> from flowlens.findings.context import FindingContext
>>> [(f.activities, f.cases, f.regulatory) for f in detect_no_effect_checks(FindingContext(log))]
[(('second approval',), 200, False)]
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.analysis.activity_groups import normalise
from flowlens.findings.instances import cases_per_activity, instance_table
from flowlens.findings.model import Finding, Scenario, engine_case_seconds, saving_us
from flowlens.findings.rank import bootstrap_total_ci
from flowlens.i18n import M_, Message
from flowlens.timing.enablement import drop_tables
from flowlens.units import Value, count_value, percent_value

if TYPE_CHECKING:
    from flowlens.findings.context import FindingContext

name = "no_effect_checks"

#: Approvals: the steps that may be flagged (English and Simplified Chinese).
APPROVAL = re.compile(
    r"approv|authori[sz]|sign[- ]?off|underwrit|countersign|counter[- ]sign|"
    r"second (review|check|approval|opinion)|double[- ]check|re-?check|"
    r"审批|复核|复审|授权|批准|签批|核准",
    re.IGNORECASE,
)
#: Controls: steps that count as an earlier control (approvals, checks, validations, ratings).
CONTROL = re.compile(
    APPROVAL.pattern + r"|check|verif|validat|review|assess|screen|rating|scor|audit|inspect|"
    r"authenticat|核查|审核|检查|核验|验证|认证|评级|评估|筛查|审查",
    re.IGNORECASE,
)
#: The step after a control that means "no": a rejection, a return, a failure.
NEGATIVE = re.compile(
    r"reject|declin|denied|deny|refus|return|incomplete|fail|not approved|disapprov|decline|"
    r"cancel|abandon|withdraw|expire|拒绝|驳回|退回|不通过|否决|取消|失败|不完整|补正",
    re.IGNORECASE,
)
#: Steps that mark a case as risk-escalated (a control there is risk-based, not redundant).
RISK_ESCALATION = re.compile(
    r"enhanced due diligence|\bedd\b|fraud|step[- ]?up|high[- ]risk|sanction|"
    r"加强尽职|强化尽职|欺诈|高风险|二次验证|增强验证|制裁",
    re.IGNORECASE,
)
RISK_ATTRIBUTE = re.compile(r"risk|风险", re.IGNORECASE)
#: Numeric case attributes that may scope a rule (amounts known before the decision).
SCOPE_ATTRIBUTE = re.compile(
    r"amount|value|sum|limit|balance|price|total|redress|金额|额度|价值|余额", re.IGNORECASE
)
HIGH_RISK_VALUE = re.compile(r"^\s*(high|very high|h|高|高风险|极高)\s*$", re.IGNORECASE)


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n (``(0, 1)`` when n = 0).

    >>> [round(x, 4) for x in wilson_interval(0, 200)]
    [0.0, 0.0188]
    """
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, (centre - half) / den), min(1.0, (centre + half) / den))


def wilson_upper(k: int, n: int, z: float = 1.96) -> float:
    """Upper end of the Wilson score interval of a proportion k/n.

    >>> round(wilson_upper(0, 200), 4), round(wilson_upper(0, 30), 3)
    (0.0188, 0.114)
    """
    return wilson_interval(k, n, z)[1]


def newcombe_interval(k1: int, n1: int, k2: int, n2: int, z: float = 1.96) -> tuple[float, float]:
    """Newcombe's hybrid score interval (method 10) of the difference k1/n1 - k2/n2: valid with
    zero counts and small samples, where the normal (Wald) interval collapses to a point.

    >>> [round(x, 3) for x in newcombe_interval(0, 606, 0, 210)]
    [-0.018, 0.006]
    """
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, z)
    l2, u2 = wilson_interval(k2, n2, z)
    d = p1 - p2
    return (d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def fisher_greater(k1: int, n1: int, k2: int, n2: int) -> float:
    """One-sided p-value of Fisher's exact test that the first rate k1/n1 is greater than the
    second k2/n2.

    >>> round(fisher_greater(0, 100, 10, 100), 3), round(fisher_greater(10, 100, 0, 100), 4)
    (1.0, 0.0008)
    """
    from scipy.stats import fisher_exact

    res = fisher_exact([[k1, n1 - k1], [k2, n2 - k2]], alternative="greater")
    return float(res.pvalue)


def _group_names(ctx: FindingContext, group: str) -> set[str] | None:
    names = ctx.activity_groups.groups.get(group)
    return {normalise(n) for n in names} if names else None


def _is(names: set[str] | None, pattern: re.Pattern[str], activity: str) -> bool:
    if names is not None:
        return normalise(activity) in names
    return pattern.search(activity) is not None


def _risk_cases(ctx: FindingContext, activities: Iterable[str]) -> tuple[Any, list[str], list[str]]:
    """Case indexes of risk-escalated cases (an ibis table ``r_case``), the escalation
    activities and the risk attributes used."""
    import ibis

    t = ctx.log.table
    esc = sorted(a for a in activities if RISK_ESCALATION.search(a))
    parts = []
    if esc:
        parts.append(t.filter(t.activity.isin(esc)).select(r_case=t.case_idx))
    attrs = [c for c in ctx.log.attributes if RISK_ATTRIBUTE.search(c) and c in t.columns]
    used = []
    for col in attrs:
        # ordered before the limit: the same 50 values in every run
        vals = t.select(v=t[col].cast("string")).distinct().order_by("v").limit(50).to_pandas().v.dropna()
        high = [v for v in vals if HIGH_RISK_VALUE.match(str(v))]
        if high:
            used.append(col)
            parts.append(t.filter(t[col].cast("string").isin(high)).select(r_case=t.case_idx))
    if not parts:
        return ibis.memtable(pd.DataFrame({"r_case": pd.Series([], dtype="int64")})), esc, used
    out = parts[0]
    for p in parts[1:]:
        out = out.union(p)
    return out.distinct(), esc, used


def _numeric_scope(ctx: FindingContext, cases: Any, n_with: int, n_without: int) -> list[dict[str, Any]]:
    """Numeric amount-like case attributes (:data:`SCOPE_ATTRIBUTE`) whose values separate cases with the control from comparable
    cases without it (at least 95 % of one side beyond the other side's range). ``cases``: an
    Ibis table of the cases (``w_case``) and whether they have the control (``inside``)."""
    if n_with < 30 or n_without < 30:
        return []
    t = ctx.log.table
    schema = t.schema()
    cols = [
        c
        for c in ctx.log.attributes
        if c in schema and SCOPE_ATTRIBUTE.search(c) and schema[c].is_numeric() and not schema[c].is_boolean()
    ]
    if not cols:
        return []
    j = t.join(cases, t.case_idx == cases.w_case)
    df = (
        j.group_by(["case_idx", "inside"])
        .aggregate(**{c: j[c].max() for c in cols})
        .to_pandas()
        .sort_values("case_idx", kind="stable")
        .set_index("case_idx")
    )
    inside = df.inside.astype(bool).to_numpy()
    out = []
    for c in cols:
        a, b = df.loc[inside, c].dropna(), df.loc[~inside, c].dropna()
        if len(a) < 30 or len(b) < 30 or a.nunique() < 2:
            continue
        if (b > a.max()).mean() >= 0.95:
            out.append(
                {
                    "attribute": c,
                    "below": float(a.max()),
                    "share_of_others_above": float((b > a.max()).mean()),
                }
            )
        elif (b < a.min()).mean() >= 0.95:
            out.append(
                {
                    "attribute": c,
                    "above": float(a.min()),
                    "share_of_others_below": float((b < a.min()).mean()),
                }
            )
    return out


def _tvd(a: pd.Series, b: pd.Series) -> float:
    pa, pb = a.value_counts(normalize=True), b.value_counts(normalize=True)
    idx = pa.index.union(pb.index)
    return float(0.5 * (pa.reindex(idx, fill_value=0) - pb.reindex(idx, fill_value=0)).abs().sum())


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %" if x >= 0.001 or x == 0 else f"{100 * x:.2f} %"


def _pct_value(x: float) -> Value:
    return percent_value(x, _pct(x), 1 if x >= 0.001 or x == 0 else 2)


def _points(x: float, spec: str) -> str:
    """A difference in percentage points as the sentence writes it (``+1.5``: the same in every language)."""
    return format(100 * x, spec)


def _steps(base: Any, fp: Any, acts: list[str], controls: set[str]) -> Any:
    """Instances of ``acts`` (an Ibis table, kept in the engine): the step before and after
    (``p_act``, ``n_act``), whether the next step was seen earlier in the case (``n_seen``) and
    the closest earlier control of another activity (``prior_act``, the latest first occurrence
    before it, ties by name; null without ``controls``)."""
    import ibis

    ci = base.filter(base.activity.isin(acts))
    nx = base.select(n_case="case_idx", n_eid="eid", n_act="activity")
    ci = ci.left_join(nx, [ci.case_idx == nx.n_case, (ci.eid + 1) == nx.n_eid])
    ci = ci.select(*base.columns, n_act=ci.n_act)
    pv = base.select(v_case="case_idx", v_eid="eid", p_act="activity")
    ci = ci.left_join(pv, [ci.case_idx == pv.v_case, (ci.eid - 1) == pv.v_eid])
    ci = ci.select(*base.columns, "n_act", p_act=ci.p_act)
    fpn = fp.select(f_case="case_idx", f_act="activity", f_first="first")
    ci = ci.left_join(fpn, [ci.case_idx == fpn.f_case, ci.n_act == fpn.f_act])
    ci = ci.select(*base.columns, "n_act", "p_act", n_seen=(ci.f_first < ci.pos).fill_null(False))
    if controls:
        ctl = fp.filter(fp.activity.isin(sorted(controls))).select(
            c_case="case_idx", c_act="activity", c_first="first"
        )
        prior = ci.join(ctl, [ci.case_idx == ctl.c_case, ctl.c_first < ci.pos, ctl.c_act != ci.activity])
        # one earlier control per instance, chosen the same way in every run
        w = ibis.window(group_by=prior.eid, order_by=[ibis.desc(prior.c_first), prior.c_act])
        prior = prior.mutate(rn=ibis.row_number().over(w))
        pq = prior.filter(prior.rn == 0).select(q_eid="eid", prior_act="c_act")
        ci = ci.left_join(pq, ci.eid == pq.q_eid)
        ci = ci.select(*base.columns, "n_act", "p_act", "n_seen", "prior_act")
    else:
        ci = ci.mutate(prior_act=ibis.null("string"))
    return ci


def _counts(t: Any, cols: list[str]) -> pd.DataFrame:
    """Instances per ``activity`` and ``cols`` (nulls kept), sorted: what the detector reads
    of the instances, instead of the instances themselves."""
    g = t.group_by(["activity", *cols]).aggregate(k=t.count()).to_pandas()
    g["activity"] = g.activity.astype(str)
    g["k"] = g.k.astype("int64")
    for c in cols:
        g[c] = g[c].astype(object).where(g[c].notna(), None)
    return g.sort_values(["activity", *cols], kind="stable", na_position="last").reset_index(drop=True)


def _mode(values: pd.Series, k: pd.Series) -> str | None:
    """The most frequent non-null value (counts ``k``), ties by value (pandas' ``mode``)."""
    ok = values.notna()
    if not ok.any():
        return None
    tot = k[ok].groupby(values[ok].astype(str)).sum()
    return str(sorted(tot.items(), key=lambda kv: (-kv[1], kv[0]))[0][0])


def _upstream(fp: Any, nx: pd.DataFrame) -> dict[tuple[str, str], float]:
    """For (a, b) with b following a and seen earlier in the case (``nx``: counts per activity,
    n_act, n_seen): the share of cases with both where b first occurs before a (> 0.5: going
    to b is a return)."""
    pairs = nx[nx.n_seen.astype(bool) & nx.n_act.notna()][["activity", "n_act"]].drop_duplicates()
    if pairs.empty:
        return {}
    fa = fp.filter(fp.activity.isin(sorted(set(pairs.activity)))).select(
        a_case="case_idx", a_act="activity", a_first="first"
    )
    fb = fp.filter(fp.activity.isin(sorted(set(pairs.n_act.astype(str))))).select(
        b_case="case_idx", b_act="activity", b_first="first"
    )
    j = fa.join(fb, [fa.a_case == fb.b_case, fa.a_act != fb.b_act])
    up = (
        j.group_by(["a_act", "b_act"])
        .aggregate(share=(j.b_first < j.a_first).cast("float64").mean())
        .to_pandas()
    )
    return {(str(r.a_act), str(r.b_act)): float(r.share) for r in up.itertuples()}


def _negative(d: pd.DataFrame, a: str, upstream: dict[tuple[str, str], float]) -> pd.Series:
    """Per row of ``d`` (instances of ``a`` counted by next step ``n_act`` and ``n_seen``): is
    the next step a 'no' (rejection, return, stop)?"""
    n = int(d.k.sum())
    end_share = float(d.k[d.n_act.isna()].sum()) / n if n else 0.0
    nxt = d.n_act
    by_name = nxt.map(lambda s: isinstance(s, str) and NEGATIVE.search(s) is not None)
    ret = d.n_seen.astype(bool) & nxt.map(lambda b: upstream.get((a, str(b)), 0.0) > 0.5)
    stop = nxt.isna() & (end_share < 0.5)
    return (by_name | ret | stop).astype(bool)


def _comparison_sentence(r: dict[str, Any]) -> Message:
    """The with/without comparison in words that agree with its numbers."""
    lo, hi = r["excess_negative_ci95"]
    tau = r["tau"]
    if r["p_negative_without"] is None:
        return M_(
            "; no comparable cases without it reach the same point, so the rate alone is judged: "
            "95 % upper bound {upper}, below {bound}",
            upper=_pct_value(r["p_negative_upper95"]),
            bound=_pct_value(2.5 * tau),
        )
    bound = (
        M_("below the {points}-point bound", points=_points(2.5 * tau, ".0f"))
        if hi < 2.5 * tau
        else M_("so an effect of up to {points} points cannot be ruled out", points=_points(hi, ".1f"))
    )
    return M_(
        ", against {without} at the same point (after '{activity}') in {cases} cases without it: {excess} "
        "points (Fisher's exact test for more 'no's with it: one-sided p = {p}; 95 % CI of the difference "
        "{low} to {high} points, {bound})",
        without=_pct_value(r["p_negative_without"]),
        activity=r["compared_at"],
        cases=count_value(r["compared_instances"]),
        excess=_points(r["excess_negative"], "+.1f"),
        p=format(r["fisher_p"], ".2f"),
        low=_points(lo, "+.1f"),
        high=_points(hi, "+.1f"),
        bound=bound,
    )


def _tvd_sentence(tvd: float | None, without: int) -> Message | None:
    if tvd is None:
        return None
    if tvd < 0.1:
        return M_(
            "; cases with and without it end alike (their final steps differ by {tvd}, total variation "
            "distance, among {cases} cases without it that passed the same earlier control)",
            tvd=_pct_value(tvd),
            cases=count_value(without),
        )
    return M_(
        "; cases with and without it end differently (their final steps differ by {tvd}, total variation "
        "distance, among {cases} cases without it that passed the same earlier control)",
        tvd=_pct_value(tvd),
        cases=count_value(without),
    )


def detect_no_effect_checks(
    ctx: FindingContext,
    *,
    tau: float = 0.02,
    min_cases: int = 30,
    min_comparison: int = 50,
    min_processing_s: float = 30.0,
    min_redundancy: float = 0.5,
    alpha: float = 0.05,
) -> list[Finding]:
    """No-effect approvals and checks (module docstring). Computed once per context and
    settings: the merge detector asks for them again (it leaves their steps to them)."""
    params = (tau, min_cases, min_comparison, min_processing_s, min_redundancy, alpha)
    cache = ctx.__dict__.setdefault("_flowlens_no_effect", {})
    if params not in cache:
        cache[params] = _no_effect_checks(ctx, *params)
    return list(cache[params])


def _no_effect_checks(
    ctx: FindingContext,
    tau: float,
    min_cases: int,
    min_comparison: int,
    min_processing_s: float,
    min_redundancy: float,
    alpha: float,
) -> list[Finding]:
    import ibis

    tm = ctx.tm
    roles = ctx.step_roles
    # the step after the clock stop is no step of the customer's: the case has ended there
    i = tm.instances.filter(~tm.instances.after_stop)
    stats = i.group_by("activity").aggregate(n=i.count(), proc_med=i.proc_us.median()).to_pandas()
    stats["activity"] = stats.activity.astype(str)
    stats["cases"] = stats.activity.map(cases_per_activity(ctx, before_stop=True)).astype("int64")
    approval_names, control_names = _group_names(ctx, "approval"), _group_names(ctx, "control")
    verification = _group_names(ctx, "verification") or set()
    acts = sorted(stats.activity.tolist())
    controls = {
        a
        for a in acts
        if _is(control_names, CONTROL, a)
        or _is(approval_names, APPROVAL, a)
        or normalise(a) in verification
        or ctx.allow.match(a)
    }
    # staff approvals before the clock stop: a customer's or a system's "approval" is no extra
    # control the organisation could drop, and a closing step after the outcome is no approval
    cand = sorted(
        stats[
            stats.activity.map(
                lambda a: (
                    _is(approval_names, APPROVAL, a)
                    and normalise(a) not in verification
                    and roles.performer(a) == "staff"
                    and a not in roles.after_outcome
                )
            )
            & (stats.cases >= min_cases)
            & (stats.proc_med.astype(float) >= min_processing_s * 1e6)
        ].activity.tolist()
    )
    if not cand:
        return []

    base = i.select(
        "eid", "case_idx", "case_id", "pos", "activity", "team", "wait_us", "proc_us", "service_part_us"
    )
    # the candidates' instances stay in the engine: what comes to Python is counts per
    # activity and next step, and one row per case for the cost (not one per instance)
    # each activity's first position per case, stored once: the steps of the candidates and
    # of their predecessors, the upstream shares and every candidate's comparison read it. It
    # is the shared instance table's first instance of the step, when that ends before the stop
    # (positions follow end times: if the first does not, none does), not an aggregate by case
    # and activity name.
    it = instance_table(ctx)
    fp = it.filter((it.occ == 1) & ~it.after_stop).select("case_idx", "activity", first="pos")
    fp = ctx.store(fp, prefix="fl_noeff_first")
    ci = ctx.store(_steps(base, fp, cand, controls), prefix="fl_noeff_c")
    nx = _counts(ci, ["n_act", "n_seen"])
    if nx.empty:
        drop_tables(ctx.log, fp, ci)
        return []
    pv = _counts(ci, ["p_act"])
    pr = _counts(ci, ["prior_act"])
    tm_ = _counts(ci, ["team"])
    # the step before each candidate instance: cases without the candidate are compared there
    pred = {str(act): _mode(g.p_act, g.k) for act, g in pv.groupby("activity", sort=True)}
    pred_all = sorted({v for v in pred.values() if v is not None})
    if pred_all:
        pt = ctx.store(_steps(base, fp, pred_all, set()), prefix="fl_noeff_p")
        upstream = _upstream(fp, pd.concat([nx, _counts(pt, ["n_act", "n_seen"])], ignore_index=True))
    else:
        pt, upstream = None, _upstream(fp, nx)

    # Final activity per case (for the with/without comparison): a hash aggregate, not a window
    # by case (which sorts every column of every instance, once per candidate that reads it)
    last = base.group_by("case_idx").aggregate(last=base.activity.argmax(base.pos))

    risk_tbl, esc_acts, risk_attrs = _risk_cases(ctx, acts)
    # only the candidates' instances are priced, summed per case in the engine
    rk = risk_tbl.select(k_case="r_case", risky=ibis.literal(True))
    cb = ci.left_join(rk, ci.case_idx == rk.k_case).drop("k_case")
    cb = cb.mutate(risky=cb.risky.fill_null(False) if (esc_acts or risk_attrs) else ibis.literal(False))
    per_case = engine_case_seconds(cb, ["activity", "risky"], saving_us(cb) / 1e6)
    sp = cb.group_by(["activity", "risky"]).aggregate(proc=cb.proc_us.fill_null(0).sum()).to_pandas()
    staff = {(str(x), bool(f)): int(v) for x, f, v in zip(sp.activity, sp.risky, sp.proc, strict=True)}

    findings: list[Finding] = []
    for a in cand:
        d = nx[nx.activity == a]
        n = int(d.k.sum())
        end_share = float(d.k[d.n_act.isna()].sum()) / n if n else 0.0
        if n == 0 or end_share >= 0.5:
            # the final decision: the case ends with it, nothing after it could say no
            continue
        neg = _negative(d, a, upstream)
        k = int(d.k[neg].sum())
        p_neg, p_hi = k / n, wilson_upper(k, n)
        pa_rows = pr[pr.activity == a]
        redundancy = float(pa_rows.k[pa_rows.prior_act.notna()].sum()) / n
        if redundancy < min_redundancy:
            continue
        cases_a = ci.filter(ci.activity == a).select(w_case="case_idx").distinct()
        # the same point in cases without a: the step before a, when a does not follow it
        p_base, n_base, k_base = None, 0, 0
        pa = pred.get(a)
        if pa is not None and pt is not None:
            b = pt.filter(pt.activity == pa)
            b = b.anti_join(cases_a, b.case_idx == cases_a.w_case)
            b = b.mutate(m=b.pos.max().over(ibis.window(group_by=b.case_idx)))
            b = b.filter(b.pos == b.m)  # its last time in the case
            bc = _counts(b, ["n_act", "n_seen"])
            if int(bc.k.sum()) >= min_comparison:
                nb = _negative(bc, str(pa), upstream)
                n_base, k_base = int(bc.k.sum()), int(bc.k[nb].sum())
                p_base = k_base / n_base
        fisher_p = None
        if p_base is None:
            # no comparison: the rate itself must be small, with evidence
            excess, excess_lo, excess_hi = p_neg, wilson_interval(k, n)[0], p_hi
            ok = p_neg < tau and p_hi < 2.5 * tau
        else:
            excess = p_neg - p_base
            excess_lo, excess_hi = newcombe_interval(k, n, k_base, n_base)
            # cases without a that get a 'no' far more often are the 'no' branch of the
            # decision a records the 'yes' of: not comparable, no test possible
            reverse_p = fisher_greater(k_base, n_base, k, n)
            comparable = not (reverse_p < alpha and -excess > tau)
            fisher_p = fisher_greater(k, n, k_base, n_base)
            ok = comparable and excess < tau and fisher_p >= alpha
        if not ok:
            continue
        prior_act = str(_mode(pa_rows.prior_act, pa_rows.k))
        # with and without: cases that passed the same earlier control (kept in the engine)
        wo = fp.filter(fp.activity == prior_act).select(w_case="case_idx")
        wo = wo.anti_join(cases_a, wo.w_case == cases_a.w_case)
        n_without = int(wo.count().to_pandas())
        n_with = int(cases_a.count().to_pandas())
        tvd = None
        scope: list[dict[str, Any]] = []
        if n_without >= min_comparison:
            both = cases_a.mutate(inside=ibis.literal(True)).union(wo.mutate(inside=ibis.literal(False)))
            lt = last.join(both, last.case_idx == both.w_case).select("case_idx", "last", "inside")
            lt = lt.to_pandas().sort_values("case_idx", kind="stable")
            inside = lt.inside.astype(bool)
            tvd = _tvd(lt["last"][inside].astype(str), lt["last"][~inside].astype(str))
            scope = _numeric_scope(ctx, both, n_with, n_without)
        nn = d[neg]
        neg_next = nn.k.groupby(nn.n_act.fillna("(case ends)").astype(str)).sum()
        negatives = {str(v): int(c) for v, c in sorted(neg_next.items(), key=lambda kv: (-kv[1], kv[0]))[:5]}
        tt = tm_[(tm_.activity == a) & tm_.team.notna()]
        tcount = tt.k.groupby(tt.team.astype(str)).sum()
        teams = tuple(str(v) for v, _ in sorted(tcount.items(), key=lambda kv: (-kv[1], kv[0]))[:5])
        strong = excess_hi < 2.5 * tau
        common = {
            "p_negative": p_neg,
            "p_negative_upper95": p_hi,
            "p_negative_without": p_base,
            "compared_at": None if p_base is None else str(pa),
            "compared_instances": n_base,
            "excess_negative": excess,
            "excess_negative_ci95": [excess_lo, excess_hi],
            "test": (
                "Wilson 95 % upper bound of the rate below 2.5 tau"
                if p_base is None
                else "Fisher's exact test, one-sided (more 'no's with it), alpha 0.05; "
                "Newcombe 95 % interval of the difference"
            ),
            "fisher_p": fisher_p,
            "tau": tau,
            "instances": n,
            "ends_case_share": end_share,
            "earlier_control": prior_act,
            "earlier_control_share": redundancy,
            "negative_next_steps": negatives,
            "outcome_tvd_with_without": tvd,
            "cases_without_for_comparison": n_without,
            "scope": scope,
            "effect_bounded": strong,
        }
        allow_reason = ctx.allow.match(a)
        pc = per_case[per_case.activity == a]
        # (cases, their risk flags, regulatory): the removable part and the risk-based one
        subsets = [((False,), False), ((True,), True)] if not allow_reason else [((False, True), True)]
        main = M_(
            "'{activity}' follows '{prior}' in {share} of its cases and is followed by a rejection, return "
            "or stop in {negative} of its {n} instances",
            activity=a,
            prior=prior_act,
            share=_pct_value(redundancy),
            negative=_pct_value(p_neg),
            n=count_value(n),
        )
        tvd_text = _tvd_sentence(tvd, n_without)
        evidence = (
            M_("{main}{comparison}{tvd}.", main=main, comparison=_comparison_sentence(common), tvd=tvd_text)
            if tvd_text is not None
            else M_("{main}{comparison}.", main=main, comparison=_comparison_sentence(common))
        )
        for flags, regulatory in subsets:
            sub = pc[pc.risky.isin(flags)]
            if sub.empty:
                continue
            # one subset's cases in case-id order, as per_case_seconds keys them
            sub = sub.sort_values("case_id", kind="stable")
            per = {str(c): float(v) for c, v in zip(sub.case_id, sub.s, strict=True)}
            occurrences = int(sub.n.sum())
            staff_us = sum(staff.get((a, f), 0) for f in flags)
            vals = np.fromiter(per.values(), dtype=float, count=len(per))
            key = f"no_effect_check|{a}|{regulatory}"
            ci_low, ci_high = bootstrap_total_ci(vals, seed=ctx.seed, resamples=ctx.resamples, key=key)
            reason = allow_reason
            if regulatory and not allow_reason:
                what = ", ".join(esc_acts[:3] + [f"{c} = high" for c in risk_attrs])
                reason = M_("risk-based control in risk-escalated cases ({what})", what=what)
            cond: dict[str, Any] = {}
            if not regulatory and (esc_acts or risk_attrs):
                cond["unless_case_has"] = esc_acts
                if risk_attrs:
                    cond["unless_high"] = risk_attrs
            for sc in scope:
                cond[sc["attribute"]] = {k2: v for k2, v in sc.items() if k2 in ("below", "above")}
            if regulatory:
                title = M_("'{activity}' in risk-escalated cases: kept as a risk-based control", activity=a)
                if allow_reason:
                    title = M_("'{activity}' rarely says no, but is required by regulation", activity=a)
                scenario = Scenario(
                    "automate",
                    {"activity": a, "keep_step": True},
                    M_(
                        "keep '{activity}' (required); make it faster: cut its queue, automate the routine part",
                        activity=a,
                    ),
                )
            else:
                title = (
                    M_(
                        "'{activity}' after '{prior}' almost never changes the outcome",
                        activity=a,
                        prior=prior_act,
                    )
                    if strong
                    else M_(
                        "'{activity}' after '{prior}' shows no effect on the outcome",
                        activity=a,
                        prior=prior_act,
                    )
                )
                flagged = bool(esc_acts or risk_attrs)
                within = ", ".join(
                    f"{c} {next(iter(v))} {next(iter(v.values())):,.0f}"
                    for c, v in cond.items()
                    if isinstance(v, dict)
                )
                if flagged and scope:
                    skip = M_(
                        "skip '{activity}' (auto-approve) for cases without a risk flag within {scope}",
                        activity=a,
                        scope=within,
                    )
                elif flagged:
                    skip = M_("skip '{activity}' (auto-approve) for cases without a risk flag", activity=a)
                elif scope:
                    skip = M_("skip '{activity}' (auto-approve) within {scope}", activity=a, scope=within)
                else:
                    skip = M_("skip '{activity}' (auto-approve)", activity=a)
                scenario = Scenario(
                    "remove_activity", {"activity": a, **({"condition": cond} if cond else {})}, skip
                )
            findings.append(
                Finding(
                    kind="no_effect_check",
                    title=title,
                    activities=(a,),
                    resources=teams,
                    case_ids=tuple(per),
                    occurrences=occurrences,
                    customer_time_s=math.fsum(vals),
                    customer_time_ci=(ci_low, ci_high),
                    staff_time_s=float(staff_us) / 1e6,
                    evidence=evidence,
                    scenario=scenario,
                    regulatory=regulatory,
                    allow_reason=reason if regulatory else None,
                    per_case_s=per,
                    details={
                        **common,
                        "subset": "risk-escalated"
                        if regulatory and not allow_reason
                        else "all"
                        if allow_reason
                        else "not risk-escalated",
                        "risk_escalation_activities": esc_acts,
                        "risk_attributes": risk_attrs,
                        "mean_customer_time_s": float(np.mean(vals)) if len(vals) else 0.0,
                        # the waste catalogue's code (domain.md), for the removable part only
                        **({} if regulatory else {"catalogue": "W6"}),
                    },
                    detector=name,
                )
            )
    # read by this check alone (its findings are cached, the merge detector reads those)
    drop_tables(ctx.log, fp, ci, *([pt] if pt is not None else []))
    return findings


detect_no_effect_checks.name = name  # type: ignore[attr-defined]
