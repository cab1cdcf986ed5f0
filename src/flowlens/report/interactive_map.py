r"""The report's interactive process map: Disco's two sliders, the frequency/time toggle and a
click on a box for its waiting split, in one offline page (docs/methods.md 3.4).

Every map the sliders can show is laid out here, in Python, by the same code as the ``map``
command (:func:`~flowlens.discovery.abstraction.process_map` and
:func:`~flowlens.discovery.abstraction.abstract_graph`, drawn by
:func:`~flowlens.report.process_map.map_dot` and cleaned by
:func:`~flowlens.render.svg.clean_svg`): the page's script only switches between these
precomputed drawings, so what a reader sees at a slider position is what ``flowlens map
--activities A --max-activities 40 --paths P`` draws, and the same inputs give the same page.
The drawings and numbers travel as one JSON block (:func:`script_json`: ``<``, ``>``, ``&``
and U+2028/2029 escaped, so no value from the log can end the block or open a tag); the script
is a fixed file of this package (``static/interactive_map.js``, no library, no network) that
the page allows by its SHA-256 hash in the Content-Security-Policy, never ``unsafe-inline``.
The static drawings stay in the page as the fallback without script and for print.

>>> script_json({"name": "</script><b>&\u2028"})
'{"name": "\\u003c/script\\u003e\\u003cb\\u003e\\u0026\\u2028"}'
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from lxml import etree

from flowlens.discovery.abstraction import AbstractedGraph, abstract_graph, activity_counts, process_map
from flowlens.discovery.dfg import directly_follows
from flowlens.i18n import _
from flowlens.render.dot import render
from flowlens.render.svg import SVG_NS, clean_svg
from flowlens.render.text import _UNSAFE_XML, visible
from flowlens.report.process_map import VIEWS, _node_ids, map_dot, map_titles
from flowlens.units import human_count, human_duration

if TYPE_CHECKING:
    import pandas as pd

    from flowlens.log import EventLog

#: Activity slider: the shares of activity instances the most frequent activities cover (the
#: ``map`` command's ``--activities``), capped at the report's ``max_activities``.
ACTIVITY_LEVELS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
#: Path slider: the shares of transitions the kept paths cover (``--paths``).
PATH_LEVELS = (0.5, 0.7, 0.8, 0.9, 0.95, 1.0)

#: what is written as a JSON escape: what could end the script or open a tag, the line
#: separators, and every character the page spells visibly (flowlens.render.text), which would
#: otherwise be rewritten inside the JSON text and break it
_UNSAFE = re.compile("[<>&\u2028\u2029]|" + _UNSAFE_XML.pattern)


def _escape(ch: str) -> str:
    code = ord(ch)
    if code > 0xFFFF:  # JSON spells a character beyond the BMP as a UTF-16 surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def script_json(value: Any) -> str:
    """``value`` as JSON fit to sit inside ``<script type="application/json">``: sorted keys,
    and ``<``, ``>``, ``&``, U+2028 and U+2029 written as JSON escapes, so the text can neither
    end the script element nor start a comment or tag (the JSON value is unchanged)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False)
    return _UNSAFE.sub(lambda m: _escape(m.group(0)), text)


@cache
def map_script() -> str:
    """The page script of the interactive map (package data, no library)."""
    return resources.files("flowlens.report").joinpath("static/interactive_map.js").read_text("utf-8")


def pack(value: Any) -> str:
    """``value`` as JSON, gzip-compressed with a fixed header (no time stamp, so the same value
    always gives the same bytes) and base64-encoded.

    >>> import gzip
    >>> json.loads(gzip.decompress(base64.b64decode(pack(["<svg/>"]))))
    ['<svg/>']
    """
    raw = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode("ascii")


@dataclass(frozen=True)
class MapStates:
    """Every drawing the sliders can show, and the numbers the script needs."""

    #: the JSON data of the map (see :func:`map_states`)
    data: dict[str, Any]

    def json(self) -> str:
        return script_json(self.data)


def _levels(counts: pd.DataFrame, max_activities: int) -> list[tuple[float, int]]:
    """(coverage, activities kept) of each activity slider step, by fewer activities first;
    coverages that keep the same activities are one step (the largest coverage names it)."""
    share = counts["n"].cumsum() / counts["n"].sum()
    steps: dict[int, float] = {}
    for c in ACTIVITY_LEVELS:
        n = min(int((share < c - 1e-12).sum()) + 1, max_activities, len(counts))
        steps[n] = c
    return sorted(((c, n) for n, c in steps.items()), key=lambda s: s[1])


def _svg(graph: AbstractedGraph, view: str, index: dict[str, int]) -> str:
    """One drawing, cleaned, with each box's ``data-i`` (the activity's index in the page's
    list) and tooltips by name; no XML prolog, so it can be parsed in the page."""
    _, ids = _node_ids(graph)
    by_id = {i: a for a, i in ids.items()}
    titles = map_titles(graph)
    root = etree.fromstring(clean_svg(render(map_dot(graph, view=view), "svg")))
    for g in root.iter(f"{{{SVG_NS}}}g"):
        if g.get("class") not in {"node", "edge"}:
            continue
        title = g.find(f"{{{SVG_NS}}}title")
        if title is None or title.text is None:
            continue
        if title.text in by_id:
            g.set("data-i", str(index[by_id[title.text]]))
        title.text = titles.get(title.text, title.text)
    # the drawing scales to the panel's width (the static drawings keep Graphviz's size)
    root.set("width", "100%")
    root.attrib.pop("height", None)
    return etree.tostring(root, encoding="unicode")


def map_states(
    log: EventLog,
    *,
    max_activities: int = 40,
    path_coverage: float = 0.95,
    keep_edges: Sequence[tuple[str, str]] = (),
    waiting_by_activity: pd.DataFrame | None = None,
) -> MapStates:
    """Lay out every slider position of the map of ``log``.

    The default position is the report's static map (all activities up to ``max_activities``,
    paths covering ``path_coverage``, and ``keep_edges``, the transitions other sections name);
    the other positions are what the ``map`` command draws with the same coverages (named
    transitions are kept at every path step of the full activity step, where they were drawn).
    ``waiting_by_activity`` (:meth:`~flowlens.analysis.waiting.WaitingAnalysis.by` "activity")
    gives each box its waiting split, shown on a click.

    >>> import flowlens, pandas as pd
    >>> df = pd.DataFrame({"case": list("aaabbbc"), "activity": list("xyzxyzq"),
    ...                    "timestamp": pd.date_range("2024-01-01", periods=7, freq="h")})
    >>> s = map_states(flowlens.read_log(df)).data
    >>> [a["n"] for a in s["activity_levels"]], s["default"]
    ([2, 3, 4], [2, 4])
    """
    from flowlens.analysis.waiting import CAUSES
    from flowlens.report.causes import LABELS

    counts = activity_counts(directly_follows(log))
    levels = _levels(counts, max_activities)
    names = counts["activity"].tolist()
    index = {a: i for i, a in enumerate(names)}
    drawings: dict[str, int] = {}
    svgs: list[str] = []
    states: list[list[dict[str, Any]]] = []
    full = len(levels) - 1
    paths = sorted({*PATH_LEVELS, path_coverage})
    for li, (_cov, n) in enumerate(levels):
        named = keep_edges if li == full else ()
        base = process_map(log, max_activities=n, path_coverage=1.0, keep_edges=named)
        row = []
        for p in paths:
            g = abstract_graph(base, path_coverage=p, keep_edges=named)
            g.total_activities, g.activity_share = base.total_activities, base.activity_share
            pair = []
            for view in VIEWS:
                svg = _svg(g, view, index)
                if svg not in drawings:
                    drawings[svg] = len(svgs)
                    svgs.append(svg)
                pair.append(drawings[svg])
            row.append(
                {
                    "svg": pair,
                    "nodes": len(g.nodes),
                    "edges": len(g.edges),
                    "total_edges": int(base.total_edges),
                    "activity_share": round(float(base.activity_share), 6),
                }
            )
        states.append(row)
    waits: dict[str, Any] = {}
    if waiting_by_activity is not None:
        w = waiting_by_activity.reset_index()
        for rec in w.itertuples(index=False):
            if rec.activity not in index:
                continue
            waits[str(index[rec.activity])] = {
                "wait": human_duration(float(rec.wait_s)),
                "instances": human_count(int(rec.instances)),
                "shares": [round(float(getattr(rec, f"{c}_share")), 6) for c in CAUSES],
            }
    data = {
        "activities": [visible(a) for a in names],
        "instances": [human_count(int(v)) for v in counts["n"]],
        "activity_levels": [{"coverage": c, "n": n} for c, n in levels],
        "path_levels": paths,
        "default": [full, paths.index(path_coverage)],
        "total_activities": len(names),
        "states": states,
        # the drawings, gzip-compressed (a tenth of their size; the page inflates them with the
        # browser's own DecompressionStream) and base64-encoded: a JSON array of SVG texts
        "svgs_gz": pack(svgs),
        "views": list(VIEWS),
        "causes": [_(LABELS[c]) for c in CAUSES],
        "waiting": waits,
        "text": {
            "activities": _("Activities: {n} of {total} ({share} of activity instances)"),
            "paths": _("Paths: the most frequent covering {share} of transitions ({n} of {total})"),
            "frequency": _("Frequency"),
            "time": _("Time"),
            "instances": _("{n} instances"),
            "wait": _("Customers waited {wait} in all before this step; why:"),
            "nowait": _("No waiting before this step was measured."),
            "click": _("Click a box for its waiting split."),
        },
    }
    return MapStates(data=data)
