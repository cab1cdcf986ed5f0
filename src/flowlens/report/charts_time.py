"""Inline-SVG charts over time for reports: a line chart of one or more series (WIP over time).

Hand-written SVG like :mod:`flowlens.report.charts`: no plotting dependency, one self-contained
report, every text value (series names, labels, tick texts) XML-escaped.

>>> import pandas as pd
>>> t = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")
>>> svg = line_chart(t, {"open <cases>": [1, 3, 2]}, y_label="cases")
>>> "&lt;cases&gt;" in svg and "<cases>" not in svg and svg.count("<polyline") == 1
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from html import escape

import numpy as np
import pandas as pd

_W = 640
PALETTE = ("#2171b5", "#f16913", "#41ab5d", "#807dba", "#d94801", "#737373")


def _fmt(v: float) -> str:
    from flowlens.report.charts import _fmt as fmt  # one number style for every chart

    return fmt(v)


def _time_format(times: pd.DatetimeIndex) -> Callable[[pd.Timestamp], str]:
    span = (times[-1] - times[0]).total_seconds() if len(times) > 1 else 0
    if span <= 3 * 86400:
        return lambda t: t.strftime("%m-%d %H:%M")
    return lambda t: t.strftime("%Y-%m-%d")


def line_chart(
    times: Sequence[datetime] | pd.DatetimeIndex | pd.Series,
    series: Mapping[str, Sequence[float]],
    *,
    y_label: str = "",
    value_format: Callable[[float], str] | None = None,
    colors: Sequence[str] = PALETTE,
    width: int = _W,
    height: int = 240,
    step: bool = False,
) -> str:
    """Lines over time, one per entry of ``series`` (name -> values aligned with ``times``),
    with a legend, y ticks at 0, half and the maximum, and a few date ticks. ``step`` draws
    each value flat until the next time (for counts averaged over periods)."""
    fmt = value_format or _fmt
    idx = pd.DatetimeIndex(pd.to_datetime(list(times) if not isinstance(times, pd.DatetimeIndex) else times))
    names = list(series)
    left, right, top_pad, bottom = 56, 12, 10 + 16 * ((len(names) + 2) // 3), 44
    if len(idx) == 0 or not names:
        from flowlens.report.charts import empty_chart

        return empty_chart(width)
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    x_num = (idx.asi8 - idx.asi8[0]).astype("float64")
    # a step chart draws the last value over one more period
    x_end = x_num[-1] + (x_num[-1] - x_num[-2]) if step and len(idx) > 1 else x_num[-1]
    x_span = x_end or 1.0
    values = {n: np.asarray(series[n], dtype="float64") for n in names}
    y_max = max(
        (float(np.nanmax(v)) for v in values.values() if v.size and np.isfinite(v).any()), default=0.0
    )
    y_max = y_max or 1.0

    def sx(x: float) -> float:
        return left + x / x_span * plot_w

    def sy(y: float) -> float:
        return top_pad + plot_h - y / y_max * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">',
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" y2="{top_pad + plot_h}" stroke="#888"/>',
        f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + plot_h}" stroke="#888"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        y = sy(frac * y_max)
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{escape(fmt(frac * y_max))}</text>'
        )
        if frac:
            parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eee"/>')
    tick_fmt = _time_format(idx)
    n_ticks = min(6, len(idx))
    ticks = np.unique(np.linspace(0, len(idx) - 1, n_ticks).round().astype(int))
    for i in ticks:
        x = sx(x_num[i])
        anchor = "end" if i == ticks[-1] and len(ticks) > 1 else "middle"
        parts.append(
            f'<line x1="{x:.1f}" y1="{top_pad + plot_h}" x2="{x:.1f}" y2="{top_pad + plot_h + 4}" stroke="#888"/>'
            f'<text x="{x:.1f}" y="{top_pad + plot_h + 16}" text-anchor="{anchor}" font-size="10">'
            f"{escape(tick_fmt(idx[i]))}</text>"
        )
    if y_label:
        parts.append(
            f'<text x="12" y="{top_pad + plot_h / 2:.1f}" font-size="11" text-anchor="middle" '
            f'transform="rotate(-90 12 {top_pad + plot_h / 2:.1f})">{escape(y_label)}</text>'
        )
    for k, name in enumerate(names):
        v = values[name]
        color = colors[k % len(colors)]
        pts: list[str] = []
        for j, (xv, yv) in enumerate(zip(x_num, v, strict=True)):
            if not np.isfinite(yv):
                continue
            pts.append(f"{sx(xv):.1f},{sy(yv):.1f}")
            if step:
                nxt = x_num[j + 1] if j + 1 < len(x_num) else x_end
                pts.append(f"{sx(nxt):.1f},{sy(yv):.1f}")
        peak = float(np.nanmax(v)) if v.size and np.isfinite(v).any() else 0.0
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{" ".join(pts)}">'
            f"<title>{escape(name)}: peak {escape(fmt(peak))}</title></polyline>"
        )
        lx = left + (k % 3) * (plot_w / 3)
        ly = 12 + 16 * (k // 3)
        label = name  # the legend names are flowlens's own ("open cases", ...): never cut
        parts.append(
            f'<rect x="{lx:.1f}" y="{ly - 8}" width="12" height="3" fill="{color}"/>'
            f'<text x="{lx + 16:.1f}" y="{ly - 3}" font-size="11">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
