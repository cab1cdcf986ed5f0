"""Every chart of the report as a file of its own, for slides: ``figures/*.svg`` and ``*.png``.

A figure is each drawing a section shows (its hand-written charts and the two static views of
the process map), named by the section and its place there: ``waiting-1.svg`` is the first
drawing of "Why cases wait". The SVG is the drawing of the page, made a standalone document (an
XML declaration, and the report's font list on its root so text renders as in the page). The
PNG is the same drawing rasterised by headless Chromium, the browser the report is read in (so
Chinese labels render with the same fonts; cairosvg draws text with one font face and no
fallback per glyph, which leaves CJK text as boxes unless that face has it): all figures are
laid out on one page, captured in as few screenshots as fit Chromium's limits, and cut apart
with Pillow, at 2 device pixels per CSS pixel. Same report, same files.

>>> from flowlens.report.document import Report, Section
>>> svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="20"><text>a &amp; b</text></svg>'
>>> r = Report(title="t", provenance={}).add(Section(id="s", title="S", html=f"<p>x</p>{svg}"))
>>> [(f.name, f.width, f.height) for f in figures(r)]
[('s-1', 10.0, 20.0)]
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from flowlens.render.text import xml_text

if TYPE_CHECKING:
    from flowlens.report.document import Report

#: The report's font list (report.html.j2), given to every standalone drawing.
FONTS = 'Helvetica, Arial, "Noto Sans CJK SC", "PingFang SC", sans-serif'
_SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)
_LENGTH = re.compile(r"^\s*([0-9.]+)\s*(px|pt)?\s*$")
#: CSS pixels of one screenshot's height (x2 device pixels stays within Chromium's limit).
_BATCH = 4000
SCALE = 2


@dataclass(frozen=True)
class Figure:
    #: file name without suffix: section id and place in the section
    name: str
    #: the standalone SVG document
    svg: bytes
    #: size in CSS pixels
    width: float
    height: float


def _px(value: str | None) -> float:
    m = _LENGTH.match(value or "")
    if m is None:
        return 0.0
    return float(m.group(1)) * (4 / 3 if m.group(2) == "pt" else 1)


def figures(report: Report) -> list[Figure]:
    """The drawings of ``report``, in report order (module notes)."""
    out = []
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    for s in report.sections:
        for k, text in enumerate(_SVG.findall(s.html), start=1):
            # the page spells control characters only when it is assembled (Report.to_html)
            root = etree.fromstring(xml_text(text).encode("utf-8"), parser)
            if root.get("font-family") is None:
                root.set("font-family", FONTS)
            svg = etree.tostring(root, xml_declaration=True, encoding="UTF-8") + b"\n"
            out.append(Figure(f"{s.id}-{k}", svg, _px(root.get("width")), _px(root.get("height"))))
    return out


def write_svgs(figs: list[Figure], folder: str | Path) -> list[Path]:
    """Write each figure as ``folder/NAME.svg`` (atomically)."""
    from flowlens.outputs import write_bytes

    return [write_bytes(Path(folder) / f"{f.name}.svg", f.svg) for f in figs]


def write_pngs(figs: list[Figure], folder: str | Path, *, chromium: str | None = None) -> list[Path]:
    """Write each figure as ``folder/NAME.png``, rasterised by Chromium (module notes)."""
    from PIL import Image

    from flowlens.outputs import write_bytes
    from flowlens.report.pdf import screenshot

    sized = [f for f in figs if f.width > 0 and f.height > 0]
    batches: list[list[Figure]] = []
    for f in sized:
        if batches and sum(g.height for g in batches[-1]) + f.height <= _BATCH:
            batches[-1].append(f)
        else:
            batches.append([f])
    paths = []
    with tempfile.TemporaryDirectory(prefix="flowlens-figures-") as tmp:
        for b, batch in enumerate(batches):
            width = int(max(f.width for f in batch) + 0.999)
            height = int(sum(f.height for f in batch) + len(batch))
            page = Path(tmp) / f"batch{b}.html"
            page.write_text(_page(batch), encoding="utf-8")
            shot = screenshot(
                page, Path(tmp) / f"batch{b}.png", width=width, height=height, scale=SCALE, chromium=chromium
            )
            with Image.open(shot) as img:
                top = 0
                for f in batch:
                    box = (0, top * SCALE, int(f.width * SCALE + 0.5), int((top + f.height) * SCALE + 0.5))
                    path = Path(tmp) / f"{f.name}.png"
                    img.crop(box).save(path, format="PNG")
                    paths.append(write_bytes(Path(folder) / f"{f.name}.png", path.read_bytes()))
                    top = int(top + f.height + 1)
    return paths


def _page(batch: list[Figure]) -> str:
    """One page with the batch's drawings one below the other, each at a whole pixel."""
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<style>html,body{{margin:0;padding:0;background:white}} svg{{display:block;font-family:{escape(FONTS)}}}"
        " div{position:absolute;left:0}</style></head><body>"
    ]
    top = 0
    for f in batch:
        svg = f.svg.decode("utf-8").split("?>", 1)[-1]
        parts.append(f"<div style='top:{top}px;width:{f.width}px;height:{f.height}px'>{svg}</div>")
        top = int(top + f.height + 1)
    parts.append("</body></html>")
    return "".join(parts)
