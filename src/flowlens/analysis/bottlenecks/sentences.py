"""The plain-language sentences of a :class:`~flowlens.analysis.bottlenecks.BottleneckReport`:
one per top finding, with the caveats (no calendar, estimated starts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from flowlens.analysis.bottlenecks.capacity import HIGH_UTILISATION
from flowlens.analysis.bottlenecks.ranking import NO_RESOURCE, NO_TEAM
from flowlens.i18n import M_, NM_, Message, join_messages
from flowlens.units import Value, count_value, duration_value, percent_value

if TYPE_CHECKING:
    from flowlens.analysis.bottlenecks.overview import BottleneckReport


def _wait_phrase(r: dict[str, Any]) -> Message:
    if (r["waiting_median_s"] or 0) > 0:
        return M_("median {time}", time=duration_value(r["waiting_median_s"]))
    return M_(
        "{waited} of {instances} waited, {time} on average",
        waited=count_value(r["waited"]),
        instances=count_value(r["instances"]),
        time=duration_value(r["waiting_mean_s"]),
    )


def _pct(x: float | None) -> Value | str:
    if x is None:
        return "–"
    # whole percents, except below 10 % and where rounding would show a share as 100 %
    whole = 0.1 <= x < 0.995 or x == 1
    return percent_value(x, f"{100 * x:.0f} %" if whole else f"{100 * x:.1f} %", 0 if whole else 1)


def _periods(n: int, freq: str) -> Message:
    if freq == "W":
        return NM_("{n} week", "{n} weeks", n)
    return NM_("{n} day", "{n} days", n)


def bottleneck_sentences(rep: BottleneckReport, n: int = 3) -> list[str]:
    """One sentence per top finding of ``rep`` (the ``n`` activities customers wait most before,
    the costliest hand-over, the team or resource most waited for and how busy it is, one near
    capacity), then the caveats. :func:`~flowlens.analysis.bottlenecks.bottleneck_report` shows
    an example.
    """
    out: list[str] = []
    if rep.total_waiting_s <= 0:
        return [M_("No customer waiting was found between steps (every step started when it was enabled).")]
    act = rep.levels.get("activity")
    if act is not None:
        for r in act.head(n).to_dict("records"):
            if r["waiting_total_s"] <= 0:
                break
            figures = {
                "activity": r["activity"],
                "cases": count_value(r["cases"]),
                "wait": _wait_phrase(r),
                "share": _pct(r["waiting_share"]),
            }
            out.append(
                M_(
                    "Customers wait most before '{activity}': {cases} cases, {wait}, {share} of all waiting.",
                    **figures,
                )
                if r["rank"] == 1
                else M_(
                    "They also wait before '{activity}': {cases} cases, {wait}, {share} of all waiting.",
                    **figures,
                )
            )
    tr = rep.levels.get("transition")
    if tr is not None and len(tr) and tr.waiting_total_s.iloc[0] > 0:
        r = tr.iloc[0].to_dict()
        out.append(
            M_(
                "The costliest hand-over is '{source}' → '{target}': {time} of waiting in all, {share}.",
                source=r["from_activity"],
                target=r["activity"],
                time=duration_value(r["waiting_total_s"]),
                share=_pct(r["waiting_share"]),
            )
        )
    for lv in ("team", "resource"):
        t = rep.levels.get(lv)
        if t is None or not len(t):
            continue
        placeholder = NO_TEAM if lv == "team" else NO_RESOURCE
        named = t[t[lv] != placeholder]
        missing = float(t.loc[t[lv] == placeholder, "waiting_share"].sum())
        if missing >= 0.5:
            out.append(
                M_("{share} of waiting is in steps with no team recorded.", share=_pct(missing))
                if lv == "team"
                else M_("{share} of waiting is in steps with no resource recorded.", share=_pct(missing))
            )
        if not len(named) or named.waiting_total_s.iloc[0] <= 0:
            continue
        r = named.iloc[0].to_dict()
        where = {"name": r[lv], "share": _pct(r["waiting_share"])}
        text = (
            M_("Most waiting is in front of team '{name}' ({share} of all waiting)", **where)
            if lv == "team"
            else M_("Most waiting is in front of resource '{name}' ({share} of all waiting)", **where)
        )
        summ = rep.utilisation_summary(lv)
        row = summ[summ[lv] == r[lv]] if len(summ) else summ
        rho = row.utilisation.iloc[0] if len(row) else None
        if rho is not None and not pd.isna(rho):
            if rho >= HIGH_UTILISATION:
                busy = M_(
                    "it is busy {share} of its available time, near capacity, so queueing for its people is "
                    "a likely cause (confirm with the waiting causes before adding capacity)",
                    share=_pct(rho),
                )
            elif rho < 0.5:
                busy = M_(
                    "it is busy {share} of its available time, so a shortage of hands alone does not explain "
                    "the waiting (check the waiting causes)",
                    share=_pct(rho),
                )
            else:
                busy = M_("it is busy {share} of its available time", share=_pct(rho))
            text = join_messages([text, busy], "; ")
        out.append(M_("{sentence}.", sentence=text))
        break
    for lv in ("team", "resource"):
        summ = rep.utilisation_summary(lv)
        hot = (
            summ[pd.to_numeric(summ.peak_utilisation, errors="coerce") >= HIGH_UTILISATION]
            if len(summ)
            else summ
        )
        if len(hot):
            r = hot.iloc[0].to_dict()
            period = r["peak_period"].strftime("%Y-%m-%d") if r["peak_period"] is not None else "?"
            figures = {
                "name": r[lv],
                "share": _pct(r["peak_utilisation"]),
                "start": period,
                "periods": _periods(int(r["periods_high"]), rep.util_freq),
                "high": _pct(HIGH_UTILISATION),
            }
            weekly = rep.util_freq == "W"
            if lv == "team":
                sentence = (
                    M_(
                        "Team '{name}' is near capacity: busy {share} of its available time in the week from "
                        "{start} ({periods} at or above {high}).",
                        **figures,
                    )
                    if weekly
                    else M_(
                        "Team '{name}' is near capacity: busy {share} of its available time in the day from "
                        "{start} ({periods} at or above {high}).",
                        **figures,
                    )
                )
            else:
                sentence = (
                    M_(
                        "Resource '{name}' is near capacity: busy {share} of its available time in the week "
                        "from {start} ({periods} at or above {high}).",
                        **figures,
                    )
                    if weekly
                    else M_(
                        "Resource '{name}' is near capacity: busy {share} of its available time in the day "
                        "from {start} ({periods} at or above {high}).",
                        **figures,
                    )
                )
            out.append(sentence)
            break
    if not rep.business_time and rep.utilisation:
        out.append(
            M_(
                "Utilisation counts every hour of a resource's active span as available (no working "
                "calendar was given), which understates how busy shift workers are."
            )
        )
    if rep.starts_estimated:
        out.append(
            M_(
                "Start times were estimated for {n} instances, so waiting and processing times are estimates.",
                n=count_value(rep.estimated_instances),
            )
        )
    return out
