"""The plain-language sentences of a :class:`~flowlens.analysis.bottlenecks.BottleneckReport`:
one per top finding, with the caveats (no calendar, estimated starts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from flowlens.analysis.bottlenecks.capacity import HIGH_UTILISATION
from flowlens.analysis.bottlenecks.ranking import NO_RESOURCE, NO_TEAM
from flowlens.units import human_count, human_duration

if TYPE_CHECKING:
    from flowlens.analysis.bottlenecks.overview import BottleneckReport


def _wait_phrase(r: dict[str, Any]) -> str:
    if (r["waiting_median_s"] or 0) > 0:
        return f"median {human_duration(r['waiting_median_s'])}"
    return (
        f"{human_count(r['waited'])} of {human_count(r['instances'])} waited, "
        f"{human_duration(r['waiting_mean_s'])} on average"
    )


def _pct(x: float | None) -> str:
    if x is None:
        return "–"
    # whole percents, except below 10 % and where rounding would show a share as 100 %
    return f"{100 * x:.0f} %" if 0.1 <= x < 0.995 or x == 1 else f"{100 * x:.1f} %"


def _periods(n: int, freq: str) -> str:
    noun = "week" if freq == "W" else "day"
    return f"{n} {noun}{'' if n == 1 else 's'}"


def bottleneck_sentences(rep: BottleneckReport, n: int = 3) -> list[str]:
    """One sentence per top finding of ``rep`` (the ``n`` activities customers wait most before,
    the costliest hand-over, the team or resource most waited for and how busy it is, one near
    capacity), then the caveats. :func:`~flowlens.analysis.bottlenecks.bottleneck_report` shows
    an example.
    """
    out: list[str] = []
    if rep.total_waiting_s <= 0:
        return ["No customer waiting was found between steps (every step started when it was enabled)."]
    act = rep.levels.get("activity")
    if act is not None:
        for r in act.head(n).to_dict("records"):
            if r["waiting_total_s"] <= 0:
                break
            lead = "Customers wait most before" if r["rank"] == 1 else "They also wait before"
            out.append(
                f"{lead} '{r['activity']}': {human_count(r['cases'])} cases, {_wait_phrase(r)}, "
                f"{_pct(r['waiting_share'])} of all waiting."
            )
    tr = rep.levels.get("transition")
    if tr is not None and len(tr) and tr.waiting_total_s.iloc[0] > 0:
        r = tr.iloc[0].to_dict()
        out.append(
            f"The costliest hand-over is '{r['from_activity']}' → '{r['activity']}': "
            f"{human_duration(r['waiting_total_s'])} of waiting in all, {_pct(r['waiting_share'])}."
        )
    for lv, noun in (("team", "team"), ("resource", "resource")):
        t = rep.levels.get(lv)
        if t is None or not len(t):
            continue
        placeholder = NO_TEAM if lv == "team" else NO_RESOURCE
        named = t[t[lv] != placeholder]
        missing = float(t.loc[t[lv] == placeholder, "waiting_share"].sum())
        if missing >= 0.5:
            out.append(f"{_pct(missing)} of waiting is in steps with no {noun} recorded.")
        if not len(named) or named.waiting_total_s.iloc[0] <= 0:
            continue
        r = named.iloc[0].to_dict()
        text = f"Most waiting is in front of {noun} '{r[lv]}' ({_pct(r['waiting_share'])} of all waiting)"
        summ = rep.utilisation_summary(lv)
        row = summ[summ[lv] == r[lv]] if len(summ) else summ
        rho = row.utilisation.iloc[0] if len(row) else None
        if rho is not None and not pd.isna(rho):
            text += f"; it is busy {_pct(rho)} of its available time"
            if rho >= HIGH_UTILISATION:
                text += (
                    ", near capacity, so queueing for its people is a likely cause "
                    "(confirm with the waiting causes before adding capacity)"
                )
            elif rho < 0.5:
                text += (
                    ", so a shortage of hands alone does not explain the waiting (check the waiting causes)"
                )
        out.append(text + ".")
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
            out.append(
                f"{lv.capitalize()} '{r[lv]}' is near capacity: busy {_pct(r['peak_utilisation'])} of its "
                f"available time in the {'week' if rep.util_freq == 'W' else 'day'} from {period} "
                f"({_periods(int(r['periods_high']), rep.util_freq)} at or above {_pct(HIGH_UTILISATION)})."
            )
            break
    if not rep.business_time and rep.utilisation:
        out.append(
            "Utilisation counts every hour of a resource's active span as available (no working "
            "calendar was given), which understates how busy shift workers are."
        )
    if rep.starts_estimated:
        out.append(
            f"Start times were estimated for {human_count(rep.estimated_instances)} instances, so "
            "waiting and processing times are estimates."
        )
    return out
