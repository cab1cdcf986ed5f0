"""Inline-SVG charts for comparisons: estimates with confidence intervals, and distributions.

Hand-written SVG like :mod:`flowlens.report.charts`: no plotting dependency, every text value
XML-escaped.

* :func:`interval_chart` — one row per segment or factor: a dot at the estimate, a whisker over
  its confidence interval, a dashed reference line (overall value, or 1× for ratios); dots are
  filled when the difference is beyond noise and hollow when it is not.
* :func:`distribution_chart` — one row per segment: box from the 25th to the 75th percentile,
  whiskers from the 10th to the 90th, a tick at the median (logarithmic axis by default, for
  lead times).

>>> svg = interval_chart(["<a>", "b"], [2.0, 3.0], [1.5, 2.5], [2.5, 3.5], reference=2.4)
>>> "&lt;a&gt;" in svg and "<a>" not in svg and svg.count("<circle") == 2
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

import numpy as np

from flowlens.report.charts import row_heights, svg_label

_W = 640
FILL = "#2171b5"
MUTED = "#9aa5b1"


def _fmt(v: float) -> str:
    from flowlens.report.charts import _fmt as fmt  # one number style for every chart

    return fmt(v)


def _empty(width: int) -> str:
    from flowlens.report.charts import empty_chart

    return empty_chart(width)


def _scale(lo: float, hi: float, log_x: bool, x0: float, x1: float) -> Callable[[float], float]:
    if log_x:
        lo, hi = math.log(lo), math.log(hi)
    span = (hi - lo) or 1.0

    def sx(v: float) -> float:
        x = math.log(v) if log_x else v
        return x0 + (x - lo) / span * (x1 - x0)

    return sx


def interval_chart(
    labels: Sequence[str],
    values: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    *,
    reference: float | None = None,
    reference_label: str = "",
    distinct: Sequence[bool] | None = None,
    log_x: bool = False,
    value_format: Callable[[float], str] | None = None,
    width: int = _W,
) -> str:
    """Estimates with confidence intervals, one row per label (see the module docstring)."""
    fmt = value_format or _fmt
    vals = [float(v) for v in values]
    los = [float(v) for v in lows]
    his = [float(v) for v in highs]
    pts = [v for v in (*vals, *los, *his, *([reference] if reference is not None else [])) if np.isfinite(v)]
    if log_x:
        pts = [v for v in pts if v > 0]
    if not labels or not pts:
        return _empty(width)
    lo, hi = min(pts), max(pts)
    if log_x:
        lo, hi = lo / 1.15, hi * 1.15
    else:
        pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    row_h, label_w, right, top, bottom = 22, 230, 90, 8, 26
    rows = row_heights([str(lab) for lab in labels], row_h)
    mids = [top + sum(rows[:i]) + rows[i] / 2 for i in range(len(rows))]
    height = round(top + sum(rows) + bottom)
    x0, x1 = label_w, width - right
    sx = _scale(lo, hi, log_x, x0, x1)

    def ok(z: float) -> bool:
        return bool(np.isfinite(z) and (z > 0 or not log_x))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">'
    ]
    if reference is not None and np.isfinite(reference) and (not log_x or reference > 0):
        rx = sx(reference)
        parts.append(
            f'<line x1="{rx:.1f}" y1="{top}" x2="{rx:.1f}" y2="{height - bottom}" stroke="#888" stroke-dasharray="4 3"/>'
            f'<text x="{rx:.1f}" y="{height - 8}" text-anchor="middle" font-size="10" fill="#555">'
            f"{escape(reference_label or fmt(reference))}</text>"
        )
    for i, lab in enumerate(labels):
        y = mids[i]
        parts.append(svg_label(label_w - 8, y, str(lab)))
        v, a, b = vals[i], los[i], his[i]
        if ok(a) and ok(b):
            parts.append(
                f'<line x1="{sx(a):.1f}" y1="{y:.1f}" x2="{sx(b):.1f}" y2="{y:.1f}" stroke="{FILL}" stroke-width="2"/>'
            )
        if ok(v):
            strong = True if distinct is None else bool(distinct[i])
            fill = FILL if strong else "white"
            tip = f"{fmt(v)} ({fmt(a) if ok(a) else '–'} – {fmt(b) if ok(b) else '–'})"
            parts.append(
                f'<circle cx="{sx(v):.1f}" cy="{y:.1f}" r="4.5" fill="{fill}" stroke="{FILL}" stroke-width="1.5">'
                f"<title>{escape(str(lab))}: {escape(tip)}</title></circle>"
                f'<text x="{x1 + 6}" y="{y + 4:.1f}" font-size="11" fill="#444">{escape(fmt(v))}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def distribution_chart(
    labels: Sequence[str],
    samples: Sequence[Sequence[float] | np.ndarray],
    *,
    log_x: bool = True,
    value_format: Callable[[float], str] | None = None,
    width: int = _W,
) -> str:
    """Box (p25–p75), whiskers (p10–p90) and median tick per label, on a shared axis.

    >>> svg = distribution_chart(["x"], [np.arange(1.0, 101.0)])
    >>> svg.count("<rect") == 1 and "median" in svg
    True
    """
    fmt = value_format or _fmt
    stats = []
    for s in samples:
        a = np.asarray(s, dtype=float)
        a = a[np.isfinite(a)]
        if log_x:
            a = a[a > 0]
        stats.append(np.quantile(a, [0.1, 0.25, 0.5, 0.75, 0.9]) if a.size else None)
    found = [q for q in stats if q is not None]
    if not labels or not found:
        return _empty(width)
    lo = min(float(q[0]) for q in found)
    hi = max(float(q[4]) for q in found)
    if log_x:
        lo, hi = lo / 1.3, hi * 1.3
    else:
        pad = (hi - lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    row_h, label_w, right, top, bottom = 24, 230, 20, 8, 28
    rows = row_heights([str(lab) for lab in labels], row_h)
    mids = [top + sum(rows[:i]) + rows[i] / 2 for i in range(len(rows))]
    height = round(top + sum(rows) + bottom)
    x0, x1 = label_w, width - right
    sx = _scale(lo, hi, log_x, x0, x1)
    axis_y = height - bottom + 4
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">',
        f'<line x1="{x0}" y1="{axis_y}" x2="{x1}" y2="{axis_y}" stroke="#888"/>',
    ]
    ticks = np.geomspace(lo, hi, 5) if log_x else np.linspace(lo, hi, 5)
    for t in ticks:
        parts.append(
            f'<text x="{sx(float(t)):.1f}" y="{axis_y + 14}" text-anchor="middle" font-size="10">{escape(fmt(float(t)))}</text>'
        )
    for i, (lab, q) in enumerate(zip(labels, stats, strict=True)):
        y = mids[i]
        parts.append(svg_label(label_w - 8, y, str(lab)))
        if q is None:
            continue
        p10, p25, p50, p75, p90 = (sx(float(v)) for v in q)
        tip = _quantiles_tip(*(fmt(float(v)) for v in q))
        parts.append(
            f'<line x1="{p10:.1f}" y1="{y:.1f}" x2="{p90:.1f}" y2="{y:.1f}" stroke="{MUTED}"/>'
            f'<rect x="{p25:.1f}" y="{y - 7:.1f}" width="{max(p75 - p25, 1):.1f}" height="14" fill="#c6dbef" '
            f'stroke="{FILL}"><title>{escape(str(lab))}: {escape(tip)}</title></rect>'
            f'<line x1="{p50:.1f}" y1="{y - 7:.1f}" x2="{p50:.1f}" y2="{y + 7:.1f}" stroke="#08306b" stroke-width="2"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _quantiles_tip(p10: str, p25: str, p50: str, p75: str, p90: str) -> str:
    from flowlens.i18n import _

    return _("p10 {p10}, p25 {p25}, median {p50}, p75 {p75}, p90 {p90}").format(
        p10=p10, p25=p25, p50=p50, p75=p75, p90=p90
    )


__all__ = ["distribution_chart", "interval_chart"]
