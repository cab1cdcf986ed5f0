"""The report section on slow-case drivers: attributes and behaviours that go with long cases.

Built from a :class:`~flowlens.analysis.drivers.Drivers` (what ``flowlens drivers`` prints);
``data`` is :meth:`Drivers.to_dict`.

>>> import numpy as np, pandas as pd
>>> from flowlens.analysis.drivers import Drivers, effects
>>> u = pd.DataFrame({"lead_s": np.r_[np.full(30, 100.0), np.full(30, 300.0)],
...                   "x": ["<a>"] * 30 + ["b"] * 30})
>>> res = Drivers(effects(u, {"f": "x"}, resamples=50), pd.DataFrame(columns=["factor", "n", "rho",
...               "rho_low", "rho_high", "noise", "sentence"]), 60, 0, 50, 0.95)
>>> sec = drivers_section(res)
>>> sec.id, "&lt;a&gt;" in sec.html, "<a>" in sec.html
('drivers', True, False)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd
from markupsafe import Markup

from flowlens.i18n import N_, _, localize
from flowlens.report.charts_segments import interval_chart
from flowlens.report.document import Section
from flowlens.report.templating import render_fragment

if TYPE_CHECKING:
    from flowlens.analysis.drivers import Drivers


#: The rule that left an attribute out, in short (the first words of drivers.EXCLUSION_RULES).
RULE_LABELS = {
    "identifier": N_("an identifier"),
    "outcome": N_("an outcome of the case"),
    "time": N_("a time"),
    "trace": N_("a function of the path"),
    "event": N_("changes within cases (an event attribute)"),
    "process": N_("the process column"),
    "single": N_("a single value"),
}


def _ratio(v: float) -> str:
    """2.4× for longer, 1/2.4 for shorter (easier to read than 0.417×)."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v <= 0:
        return "–"
    return f"{v:.3g}×" if v >= 1 else f"1/{1 / v:.3g}"


def drivers_section(res: Drivers, *, top: int = 15) -> Section:
    """The "Slow-case drivers" section: a forest plot of the ratio of median lead times (with
    its 95 % interval, log scale, 1× = no difference), the table of effects strongest first,
    rank correlations for numeric factors, and the findings as sentences. A level compared with
    cases whose median lead time is under a minute (instant answers, methods 18.6) is left out
    of the chart, the table and the sentences and named apart: its ratio only says that instant
    answers lack the factor (BPIC 2012's "rework 24,988× longer")."""
    from dataclasses import replace

    from flowlens.report.outcomes import INSTANT_S

    tab = res.table
    if len(tab) and {"median_in", "median_out"} <= set(tab.columns):
        low = tab[["median_in", "median_out"]].min(axis=1)
        instant = (low < INSTANT_S).fillna(False).astype(bool)
    else:
        instant = pd.Series(False, index=tab.index)
    artefacts = [
        {
            "name": str(r["phrase"]) if r["kind"] == "behaviour" else f"{r['factor']} = {r['level']}",
            "ratio": _ratio(r["ratio"]),
            "median_in": r["median_in"],
            "median_out": r["median_out"],
        }
        for r in tab[instant].to_dict("records")
    ]
    res = replace(res, table=tab[~instant])
    t = res.table.head(top)
    with_ratio = t[t["ratio"].notna()]
    chart = ""
    if len(with_ratio):
        labels = [
            str(localize(r["phrase"])) if r["kind"] == "behaviour" else f"{r['factor']} = {r['level']}"
            for r in with_ratio.to_dict("records")
        ]
        # Charts are SVG built by flowlens with every log value escaped: safe to inline.
        chart = Markup(
            interval_chart(
                labels,
                with_ratio["ratio"].tolist(),
                with_ratio["ratio_low"].tolist(),
                with_ratio["ratio_high"].tolist(),
                reference=1.0,
                reference_label=_("1× (no difference)"),
                distinct=[not bool(x) for x in with_ratio["noise"]],
                log_x=True,
                value_format=_ratio,
            )
        )
    rows: list[dict[str, Any]] = []
    for r in t.to_dict("records"):
        strata = r.get("strata") if isinstance(r.get("strata"), list) else []
        per = ", ".join(
            f"{x['process']} {_ratio(x['ratio']) if x['ratio'] is not None else '–'}"
            for x in sorted(strata, key=lambda x: (-x["n"], str(x["process"])))
            if x["counted"]
        )
        flag = (
            _("too few")
            if r["small"]
            else (_("not consistent") if r.get("inconsistent") else (_("noise") if r["noise"] else ""))
        )
        rows.append(
            {
                **r,
                "name": r["phrase"] if r["kind"] == "behaviour" else f"{r['factor']} = {r['level']}",
                "ratio_txt": _ratio(r["ratio"]),
                "ratio_ci": f"{_ratio(r['ratio_low'])} – {_ratio(r['ratio_high'])}",
                "flag": flag,
                "per_process": per,
            }
        )
    from flowlens.analysis.drivers import EXCLUSION_RULES

    excluded = [
        {
            "column": x.column,
            "why": _(RULE_LABELS[x.rule]) if x.rule in RULE_LABELS else EXCLUSION_RULES[x.rule].split(":")[0],
            "detail": x.detail,
        }
        for x in res.excluded.itertuples()
    ]
    html = render_fragment(
        "_drivers.html.j2",
        res=res,
        chart=chart,
        rows=rows,
        shown=len(t),
        total=len(res.table),
        corr=res.correlations.to_dict("records"),
        findings=res.sentences(limit=5),
        excluded=excluded,
        artefacts=artefacts,
    )
    data = res.to_dict()
    if artefacts:
        data["left_out_instant"] = artefacts
    return Section(id="drivers", title=_("Slow-case drivers"), html=html, data=data, lead=res.headline())
