"""The report section on bottlenecks: where customers wait, how busy people are, WIP over time.

Built from a :class:`~flowlens.analysis.bottlenecks.BottleneckReport` (the same object the
``flowlens bottlenecks`` command prints), so the section's ``data`` is exactly
:meth:`BottleneckReport.to_dict`.

>>> import flowlens, pandas as pd
>>> from flowlens.timing.model import time_model
>>> from flowlens.analysis.bottlenecks import bottleneck_report
>>> df = pd.DataFrame({"case": ["1", "1"], "activity": ["a", "<script>"],
...                    "start": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 11:00"]),
...                    "end": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 11:30"])})
>>> s = bottlenecks_section(bottleneck_report(time_model(flowlens.read_log(df))))
>>> s.id, "&lt;script&gt;" in s.html, "<script>" in s.html
('bottlenecks', True, False)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
from markupsafe import Markup

from flowlens.i18n import N_, _
from flowlens.report.charts import bar_chart
from flowlens.report.charts_time import line_chart
from flowlens.report.document import Section
from flowlens.report.templating import render_fragment
from flowlens.units import human_duration

if TYPE_CHECKING:
    from flowlens.analysis.bottlenecks import BottleneckReport

_TITLES = {
    "activity": N_("Before which step customers wait"),
    "transition": N_("After which step they wait (transitions: previous step → step)"),
    "resource": N_("In front of whom (resources)"),
    "team": N_("In front of which team"),
}
#: the y label of the work-in-progress chart per period
_AVERAGE_PER = {"h": N_("average per hour"), "D": N_("average per day"), "W": N_("average per week")}
_PERIOD = {"h": "hour", "D": "day", "W": "week"}


def _rows(rep: BottleneckReport, level: str, top: int) -> list[dict[str, Any]]:
    table = rep.levels[level].head(top)
    rho: dict[Any, Any] = {}
    if level in rep.utilisation:
        summ = rep.utilisation_summary(level)
        rho = dict(zip(summ[level], summ.utilisation, strict=True)) if len(summ) else {}
    rows = []
    for r in table.to_dict("records"):
        u = rho.get(r.get(level)) if rho else None
        r["utilisation"] = None if u is None or pd.isna(u) else float(u)
        rows.append(r)
    return rows


def bottlenecks_section(
    rep: BottleneckReport, *, top: int | None = None, util_found: bool = False
) -> Section:
    """The "Bottlenecks" section: the plain-language findings, a bar chart of the steps with
    the most waiting, a table of the top groups per level, utilisation per team and resource
    (``util_found``: on working hours found in the log, no calendar being given), and a line
    chart of work in progress over time with Little's law as a check."""
    n = top or rep.top
    levels = [lv for lv in ("activity", "transition", "team", "resource") if lv in rep.levels]
    tables = [
        {"level": lv, "title": _(_TITLES[lv]), "rows": _rows(rep, lv, n), "groups": len(rep.levels[lv])}
        for lv in levels
    ]
    chart = ""
    act = rep.levels.get("activity")
    if act is not None and len(act) and rep.total_waiting_s > 0:
        shown = act[act.waiting_total_s > 0].head(n)
        # Bars and lines are SVG built by flowlens with every log value escaped: safe to inline.
        chart = Markup(
            bar_chart(
                [str(a) for a in shown.activity],
                shown.waiting_total_s.tolist(),
                value_format=human_duration,
                color="#d94801",
            )
        )
    util = []
    for lv in ("team", "resource"):
        if lv in rep.utilisation:
            summ = rep.utilisation_summary(lv).head(n)
            util.append({"level": lv, "rows": summ.to_dict("records")})
    wip_chart = ""
    w = rep.wip
    if len(w):
        wip_chart = Markup(
            line_chart(
                w["time"],
                {
                    _("open cases"): w["open_cases_avg"].tolist(),
                    _("steps waiting"): w["waiting_avg"].tolist(),
                    _("steps in service"): w["in_service_avg"].tolist(),
                },
                y_label=_(_AVERAGE_PER.get(rep.wip_freq, N_("average per period"))),
                step=True,
            )
        )
    html = render_fragment(
        "_bottlenecks.html.j2",
        rep=rep,
        tables=tables,
        chart=chart,
        util=util,
        util_found=util_found,
        wip_chart=wip_chart,
        wip_period=_PERIOD.get(rep.wip_freq, "period"),
        util_period=_PERIOD.get(rep.util_freq, "period"),
        little=rep.little,
    )
    return Section(
        id="bottlenecks",
        title=_("Bottlenecks"),
        html=html,
        data={**rep.to_dict(), "utilisation_calendars": "found in the log" if util_found else rep.calendars},
        lead=rep.sentences[0] if rep.sentences else _("No step keeps customers waiting."),
    )
