"""Small inline-SVG charts for reports: histograms and horizontal bars.

Hand-written SVG keeps the report one self-contained file with no plotting dependency; every
text value is XML-escaped.

>>> svg = bar_chart(["a <b>", "c"], [3, 1], unit="cases")
>>> "&lt;b&gt;" in svg and "<b>" not in svg
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

_W = 640
#: characters per line of a chart label before it wraps (labels wrap, never cut)
LABEL_CHARS = 34


def label_lines(text: str, chars: int = LABEL_CHARS) -> list[str]:
    """``text`` wrapped at word boundaries into lines of at most ``chars`` characters (a longer
    word is split): every character is kept.

    >>> label_lines("others served first (prioritisation)", 20)
    ['others served first', '(prioritisation)']
    """
    import textwrap

    return textwrap.wrap(str(text), chars, break_long_words=True, break_on_hyphens=False) or [""]


def row_heights(
    labels: Sequence[str], row_h: int, *, size: int = 12, chars: int = LABEL_CHARS
) -> list[float]:
    """The height of each chart row: ``row_h``, or more for a label that wraps."""
    return [max(float(row_h), len(label_lines(lab, chars)) * (size + 2) + 6.0) for lab in labels]


def svg_label(
    x: float, y: float, text: str, *, size: int = 12, anchor: str = "end", chars: int = LABEL_CHARS
) -> str:
    """A chart label centred on ``y``, wrapped (never cut), with the full text as its tooltip."""
    lines = label_lines(text, chars)
    line_h = size + 2
    first = y - (len(lines) - 1) * line_h / 2 + size / 3
    spans = "".join(
        f'<tspan x="{x:.1f}" {"y" if i == 0 else "dy"}="{first if i == 0 else line_h:.1f}">{escape(ln)}</tspan>'
        for i, ln in enumerate(lines)
    )
    return f'<text text-anchor="{anchor}" font-size="{size}">{spans}<title>{escape(str(text))}</title></text>'


def _fmt(v: float) -> str:
    from flowlens.formats import count  # whole numbers in the report's language (万/亿)

    return count(v) if abs(v) >= 10 or v == int(v) else f"{v:.2g}"


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    unit: str = "",
    value_format: Callable[[float], str] | None = None,
    color: str = "#4292c6",
    width: int = _W,
) -> str:
    """Horizontal bars, one per label, longest first as given."""
    fmt = value_format or _fmt
    unit = _unit_word(unit)
    row_h, label_w, pad = 22, 220, 6
    rows = row_heights(labels, row_h)
    height = round(sum(rows) + 2 * pad)
    top = max((float(v) for v in values), default=0.0) or 1.0
    bar_w = width - label_w - 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">'
    ]
    y = float(pad)
    for lab, val, h in zip(labels, values, rows, strict=True):
        w = max(0.0, float(val)) / top * bar_w
        mid = y + h / 2
        parts.append(
            svg_label(label_w - 6, mid, lab)
            + f'<rect x="{label_w}" y="{mid - (row_h - 6) / 2:.1f}" width="{w:.1f}" height="{row_h - 6}" fill="{color}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{mid + 4:.1f}" font-size="11" fill="#444">'
            f"{escape(fmt(float(val)))}{(' ' + escape(unit)) if unit else ''}</text>"
        )
        y += h
    parts.append("</svg>")
    return "".join(parts)


def histogram(
    values: Sequence[float],
    *,
    bins: int = 30,
    log_x: bool = False,
    x_format: Callable[[float], str] = _fmt,
    x_label: str = "",
    color: str = "#6baed6",
    width: int = _W,
) -> str:
    """Histogram of ``values`` (optionally with logarithmic bins), with a few x ticks."""
    import numpy as np

    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    height, left, bottom, top_pad = 220, 50, 40, 10
    if arr.size == 0:
        return empty_chart(width)
    lo, hi = float(arr.min()), float(arr.max())
    if log_x:
        lo = max(lo, 1.0)
        edges_arr = np.geomspace(lo, max(hi, lo * 1.0001), bins + 1)
        arr = np.maximum(arr, lo)
    else:
        edges_arr = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    counts = np.histogram(arr, bins=edges_arr)[0].tolist()
    edges = edges_arr.tolist()
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    top_c = max(counts) or 1
    bw = plot_w / bins
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">',
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" y2="{top_pad + plot_h}" stroke="#888"/>',
        f'<text x="{left - 6}" y="{top_pad + 10}" text-anchor="end" font-size="10">{_fmt(top_c)}</text>',
        f'<text x="{left - 6}" y="{top_pad + plot_h}" text-anchor="end" font-size="10">0</text>',
    ]
    for i, c in enumerate(counts):
        h = c / top_c * plot_h
        parts.append(
            f'<rect x="{left + i * bw + 0.5:.1f}" y="{top_pad + plot_h - h:.1f}" width="{max(bw - 1, 0.5):.1f}" '
            f'height="{h:.1f}" fill="{color}"><title>{escape(x_format(edges[i]))} – '
            f"{escape(x_format(edges[i + 1]))}: {_fmt(c)}</title></rect>"
        )
    for i in range(0, bins + 1, max(1, bins // 5)):
        x = left + i * bw
        parts.append(
            f'<text x="{x:.1f}" y="{top_pad + plot_h + 14}" text-anchor="middle" font-size="10">'
            f"{escape(x_format(edges[i]))}</text>"
        )
    if x_label:
        parts.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" font-size="11">{escape(x_label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


#: The report's font stack (report.html.j2's body names the same, and inline charts inherit it):
#: Latin first, then the CJK fonts that render Chinese (Noto Sans CJK SC is what ``setup.sh``
#: installs on Linux; PingFang SC and Microsoft YaHei ship with macOS and Windows).
FONT_FAMILY = (
    "-apple-system, 'Segoe UI', Helvetica, Arial, 'Noto Sans CJK SC', 'Noto Sans SC', "
    "'Source Han Sans SC', 'PingFang SC', 'Hiragino Sans GB', 'Microsoft YaHei', "
    "'WenQuanYi Micro Hei', sans-serif"
)


def standalone(svg: str) -> str:
    """A chart made to be shown on its own (a figure file for slides): the report's font stack set
    on its root, as the page sets it for the inline chart.

    >>> standalone(empty_chart(100)).count("Noto Sans CJK SC")
    1
    """
    if "font-family=" in svg.split(">", 1)[0]:
        return svg
    return svg.replace("<svg ", f'<svg font-family="{escape(FONT_FAMILY)}" ', 1)


def _unit_word(unit: str) -> str:
    """A duration unit symbol (``min``, ``h``, ``d``) in the report's language; other units are
    the caller's words, already translated."""
    from flowlens.formats import unit_label

    return unit_label(unit)


def empty_chart(width: int = _W) -> str:
    """The chart drawn when there is nothing to draw ("no data" in the report's language)."""
    from flowlens.i18n import pgettext

    text = escape(pgettext("chart", "no data"))  # (a call inside an f-string is not extracted)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="40">'
        f'<text x="10" y="25">{text}</text></svg>'
    )
