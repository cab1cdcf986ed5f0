"""Formal models: BPMN discovered with the inductive miner, written with a drawn diagram.

:func:`discover_bpmn` runs pm4py's inductive miner on the log's variants (the multiset of
activity sequences from :func:`flowlens.variants`, never the event table), so it costs the
same for 10^3 or 10^7 events with the same variants. With ``noise_threshold > 0`` it is the
infrequent variant (IMf), as in pm4py's ``discover_bpmn_inductive``; the tree is the one
pm4py finds on the full log.

:func:`write_bpmn` writes BPMN 2.0 XML with diagram interchange: a ``BPMNShape`` with bounds
for every flow node and a ``BPMNEdge`` with waypoints for every sequence flow, laid out left
to right by Graphviz with BPMN's usual sizes and orthogonal edges, so bpmn.io and Camunda
Modeler open it as a drawn diagram. Ids are stable (``Activity_3``, ``Flow_7``), so writing
the same model twice gives the same file. :func:`write_pnml` writes the Petri net. Names come
from the log: both writers pass them through :func:`flowlens.render.text.xml_text`, so a
control character that XML 1.0 cannot carry (NUL, ESC, ...) is written as a visible escape
(``\x1b``) instead of failing the export; :func:`save_model_image` draws the names cut at
:data:`~flowlens.render.text.LABEL_LIMIT` characters. The layout hands Graphviz no text at all.

:func:`read_model` reads a designed process from ``.bpmn`` or ``.pnml`` into a Petri net for
:func:`flowlens.conformance.conformance`. Model files come from outside: a document type
declaration with entities or an external DTD is refused before the document is parsed (the
rule of the XES reader), and the parser never resolves entities or touches the network.

>>> import flowlens, pandas as pd
>>> df = pd.DataFrame({"case": list("111222"), "activity": list("abcacb"),
...                    "timestamp": pd.date_range("2024-01-01", periods=6, freq="h")})
>>> model = discover_bpmn(flowlens.read_log(df))
>>> sorted(n.get_name() for n in model.get_nodes() if type(n).__name__ == "Task")
['a', 'b', 'c']
"""

from __future__ import annotations

import json
import math
from collections import Counter, deque
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from lxml import etree

from flowlens.errors import ConfigError, EmptyLogError, InputError, LogFormatError, UnsafeInputError
from flowlens.render.text import xml_text

if TYPE_CHECKING:
    from pm4py.objects.bpmn.obj import BPMN
    from pm4py.objects.petri_net.obj import Marking, PetriNet
    from pm4py.objects.process_tree.obj import ProcessTree

    from flowlens.log import EventLog

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
_NSMAP = {"bpmn": BPMN_NS, "bpmndi": BPMNDI_NS, "dc": DC_NS, "di": DI_NS}

#: BPMN element, id prefix and size in px (bpmn.io's defaults) per pm4py node class.
_KINDS: dict[str, tuple[str, str, int, int]] = {
    "StartEvent": ("startEvent", "StartEvent", 36, 36),
    "EndEvent": ("endEvent", "EndEvent", 36, 36),
    "IntermediateCatchEvent": ("intermediateCatchEvent", "Event", 36, 36),
    "IntermediateThrowEvent": ("intermediateThrowEvent", "Event", 36, 36),
    "BoundaryEvent": ("boundaryEvent", "Event", 36, 36),
    "UserTask": ("userTask", "Activity", 100, 80),
    "SendTask": ("sendTask", "Activity", 100, 80),
    "Task": ("task", "Activity", 100, 80),
    "SubProcess": ("subProcess", "Activity", 100, 80),
    "ExclusiveGateway": ("exclusiveGateway", "Gateway", 50, 50),
    "ParallelGateway": ("parallelGateway", "Gateway", 50, 50),
    "InclusiveGateway": ("inclusiveGateway", "Gateway", 50, 50),
    "EventBasedGateway": ("eventBasedGateway", "Gateway", 50, 50),
}
_SHAPES = {"StartEvent": "circle", "EndEvent": "circle", "Event": "circle", "Gateway": "diamond"}
_MARGIN = 20


class PetriModel(NamedTuple):
    """A Petri net with its initial and final marking (unpacks like pm4py's triple)."""

    net: PetriNet
    initial_marking: Marking
    final_marking: Marking


# --------------------------------------------------------------------------- discovery


def discover_process_tree(log: EventLog, *, noise_threshold: float = 0.0) -> ProcessTree:
    """The inductive miner's process tree for ``log`` (IMf when ``noise_threshold > 0``).

    >>> import flowlens, pandas as pd
    >>> df = pd.DataFrame({"case": list("1122"), "activity": list("abab"),
    ...                    "timestamp": pd.date_range("2024-01-01", periods=4, freq="h")})
    >>> str(discover_process_tree(flowlens.read_log(df)))
    "->( 'a', 'b' )"
    """
    from flowlens.discovery.variants import variants

    if not 0.0 <= noise_threshold < 1.0:
        raise ConfigError(
            f"noise threshold {noise_threshold!r} is outside [0, 1)",
            hint="use e.g. 0.2 to leave out infrequent behaviour, 0 to keep all of it",
        )
    table = variants(log)
    if table.empty:
        raise EmptyLogError("the log has no cases to discover a model from", hint="check the filters")
    uvcl: Counter[tuple[str, ...]] = Counter(
        {tuple(v): int(c) for v, c in zip(table["variant"], table["count"], strict=True)}
    )
    return tree_from_variants(uvcl, noise_threshold=noise_threshold)


def tree_from_variants(uvcl: Counter[tuple[str, ...]], *, noise_threshold: float = 0.0) -> ProcessTree:
    """Inductive miner on a variant multiset (pm4py's UVCL), as pm4py runs it on a log.

    >>> str(tree_from_variants(Counter({("a", "b"): 3, ("a", "c"): 1})))
    "->( 'a', X( 'c', 'b' ) )"
    """
    from flowlens.pm4py_bridge import pm4py

    pm4py()  # quiet import first
    from pm4py.algo.discovery.inductive.dtypes.im_ds import IMDataStructureUVCL
    from pm4py.algo.discovery.inductive.variants.im import IMUVCL
    from pm4py.algo.discovery.inductive.variants.imf import IMFUVCL
    from pm4py.objects.process_tree.utils import generic as pt_util

    # The same parameters and the same post-processing as pm4py.discover_process_tree_inductive.
    params: dict[str, Any] = {
        "noise_threshold": noise_threshold,
        "multiprocessing": False,
        "disable_fallthroughs": False,
    }
    miner = IMFUVCL(params) if noise_threshold > 0 else IMUVCL(params)
    tree = miner.apply(IMDataStructureUVCL(uvcl), params)
    tree = pt_util.fold(tree)
    pt_util.tree_sort(tree)
    return tree


def discover_bpmn(log: EventLog, *, noise_threshold: float = 0.0) -> BPMN:
    """BPMN model of ``log`` by the inductive miner (pm4py's ``BPMN`` object).

    ``noise_threshold`` in [0, 1): 0 keeps every variant's behaviour (the model fits every
    case); 0.2, where no cut fits, leaves out directly-follows pairs seen at most 20 % as often
    as the strongest pair leaving the same activity (IMf; docs/methods.md §5.1).

    >>> import flowlens, pandas as pd
    >>> df = pd.DataFrame({"case": list("1122"), "activity": list("abab"),
    ...                    "timestamp": pd.date_range("2024-01-01", periods=4, freq="h")})
    >>> bpmn = discover_bpmn(flowlens.read_log(df))
    >>> len(bpmn.get_flows())
    3
    """
    from flowlens.pm4py_bridge import pm4py

    tree = discover_process_tree(log, noise_threshold=noise_threshold)
    bpmn: BPMN = pm4py().convert_to_bpmn(tree)
    return bpmn


def to_petri_net(model: BPMN | PetriModel | tuple[Any, Any, Any]) -> PetriModel:
    """A Petri net for a BPMN model (pm4py's conversion); a Petri net passes through."""
    if isinstance(model, tuple):
        return PetriModel(*model)
    from flowlens.pm4py_bridge import pm4py

    net, im, fm = pm4py().convert_to_petri_net(model)
    return PetriModel(net, im, fm)


def canonical_order(net: PetriNet, im: Marking) -> tuple[list[Any], list[Any]]:
    """The net's places and transitions in a stable order: breadth first from the initial
    marking, siblings ordered by label and local structure.

    pm4py keeps them in sets ordered by memory address; whatever iterates them (the
    alignment search breaking ties, the PNML writer) then differs from run to run.
    """

    def next_labels(t: Any) -> tuple[str, ...]:
        return tuple(sorted(str(b.target.label or "") for a in t.out_arcs for b in a.target.out_arcs))

    def t_key(t: Any) -> tuple[Any, ...]:
        return (t.label is None, str(t.label or ""), len(t.in_arcs), len(t.out_arcs), next_labels(t))

    def p_key(p: Any) -> tuple[Any, ...]:
        return (tuple(sorted(str(a.target.label or "") for a in p.out_arcs)), len(p.in_arcs), str(p.name))

    places: list[Any] = []
    transitions: list[Any] = []
    seen_p: set[int] = set()
    seen_t: set[int] = set()
    queue: deque[Any] = deque(sorted(im, key=p_key))
    while queue:
        p = queue.popleft()
        if id(p) in seen_p:
            continue
        seen_p.add(id(p))
        places.append(p)
        for t in sorted((a.target for a in p.out_arcs), key=t_key):
            if id(t) in seen_t:
                continue
            seen_t.add(id(t))
            transitions.append(t)
            queue.extend(sorted((a.target for a in t.out_arcs), key=p_key))
    places += sorted((p for p in net.places if id(p) not in seen_p), key=p_key)
    transitions += sorted((t for t in net.transitions if id(t) not in seen_t), key=t_key)
    return places, transitions


# --------------------------------------------------------------------------- writing


def write_bpmn(model: BPMN, path: str | Path, *, name: str | None = None) -> Path:
    """Write ``model`` as BPMN 2.0 XML with a drawn diagram (shapes and edges laid out).

    >>> import flowlens, pandas as pd, tempfile, pathlib
    >>> df = pd.DataFrame({"case": list("1122"), "activity": list("abab"),
    ...                    "timestamp": pd.date_range("2024-01-01", periods=4, freq="h")})
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "m.bpmn"
    >>> _ = write_bpmn(discover_bpmn(flowlens.read_log(df)), out)
    >>> b"bpmndi:BPMNShape" in out.read_bytes()
    True
    """
    from flowlens.outputs import write_bytes

    return write_bytes(Path(path), bpmn_xml(model, name=name))


def write_pnml(model: BPMN | PetriModel | tuple[Any, Any, Any], path: str | Path) -> Path:
    """Write the model's Petri net (converted from BPMN if needed) as PNML.

    >>> import flowlens, pandas as pd, tempfile, pathlib
    >>> df = pd.DataFrame({"case": list("1122"), "activity": list("abab"),
    ...                    "timestamp": pd.date_range("2024-01-01", periods=4, freq="h")})
    >>> out = write_pnml(discover_bpmn(flowlens.read_log(df)), pathlib.Path(tempfile.mkdtemp()) / "m.pnml")
    >>> len(read_model(out).net.transitions) >= 2
    True
    """
    import copy
    import sys
    from types import SimpleNamespace

    from flowlens.pm4py_bridge import pm4py

    p = Path(path)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))  # nets copy recursively (arcs link nodes both ways)
    try:
        net, im, fm = copy.deepcopy(tuple(to_petri_net(model)))
    finally:
        sys.setrecursionlimit(limit)
    places, transitions = canonical_order(net, im)
    # Stable ids and order, so the same model gives the same file.
    for i, place in enumerate(places, start=1):
        place.name = "source" if place in im else "sink" if place in fm else f"p{i}"
    for i, t in enumerate(transitions, start=1):
        t.name = f"t{i}" if t.label is not None else f"tau{i}"
        if t.label is not None:  # from the log: nothing XML cannot carry (module notes)
            t.label = xml_text(t.label)
    rank = {id(x): i for i, x in enumerate([*places, *transitions])}
    arcs = sorted(net.arcs, key=lambda a: (rank[id(a.source)], rank[id(a.target)]))
    view = SimpleNamespace(
        name="flowlens", places=places, transitions=transitions, arcs=arcs, properties=net.properties
    )
    pm4py()  # quiet import first
    from pm4py.objects.petri_net.exporter import exporter as petri_exporter

    from flowlens.outputs import atomic_path

    with atomic_path(p) as tmp:  # p is replaced only by the finished file
        petri_exporter.apply(view, im, str(tmp), final_marking=fm)
        # pm4py numbers arcs by memory address and silent steps by random uuids: make them stable.
        tree = etree.parse(str(tmp), etree.XMLParser(**_PARSER_FLAGS))
        for i, arc in enumerate(tree.iter("arc"), start=1):
            arc.set("id", f"a{i}")
        for trans in tree.iter("transition"):
            for tool in trans.iter("toolspecific"):
                if tool.get("localNodeID") is not None:
                    tool.set("localNodeID", str(trans.get("id")))
        tree.write(str(tmp), xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return p


def save_model_image(model: BPMN, path: str | Path) -> Path:
    """Render ``model`` with Graphviz (pm4py's BPMN view) to .png, .svg or .pdf by suffix."""
    import contextlib
    import io

    from flowlens.pm4py_bridge import pm4py

    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in {"png", "svg", "pdf"}:
        raise ConfigError(f"cannot render a model as '.{fmt}' ({p})", hint="use a .png, .svg or .pdf file")
    from graphviz import nohtml

    from flowlens.outputs import atomic_path
    from flowlens.render.dot import dot_binary, dot_escape
    from flowlens.render.svg import clean_svg
    from flowlens.render.text import label, visible

    dot_binary()  # a clear error when Graphviz is missing
    # pm4py hands each name to the graphviz package as it is: a name like "<...>" would be read
    # as an HTML label (links included), a backslash as a DOT escape, a NUL would end the line.
    # Draw from the names made safe (escaped, cut short, never HTML), then put the originals back.
    originals = [(n, n.get_name()) for n in model.get_nodes()]
    with atomic_path(p) as tmp:
        try:
            for node, name in originals:
                if name:
                    node.set_name(nohtml(dot_escape(label(name))))
            with contextlib.redirect_stdout(io.StringIO()):
                pm4py().save_vis_bpmn(model, str(tmp), rankdir="LR")
        finally:
            for node, name in originals:
                node.set_name(name)
        if fmt == "svg":  # as the map: no link survives, and a task's tooltip is its whole name
            # (pm4py names each Graphviz node by the Python id of the BPMN node)
            kinds = {str(id(n)): _kind(n)[0] for n, _ in originals}
            titles = {str(id(n)): visible(name) if name else kinds[str(id(n))] for n, name in originals}
            short = {str(id(n)): label(name) if name else kinds[str(id(n))] for n, name in originals}
            for f in model.get_flows():
                s, t = str(id(f.get_source())), str(id(f.get_target()))
                if s in short and t in short:
                    titles[f"{s}->{t}"] = f"{short[s]} → {short[t]}"
            tmp.write_bytes(clean_svg(tmp.read_bytes(), titles))
    return p


def bpmn_xml(model: BPMN, *, name: str | None = None) -> bytes:
    """The BPMN 2.0 XML (with diagram interchange) of ``model``, as bytes."""
    from flowlens import __version__

    nodes, flows = _ordered(model)
    ids: dict[int, str] = {}
    counters: Counter[str] = Counter()
    for node in nodes:
        prefix = _kind(node)[1]
        counters[prefix] += 1
        ids[id(node)] = f"{prefix}_{counters[prefix]}"
    flow_ids = {id(f): f"Flow_{i}" for i, f in enumerate(flows, start=1)}
    shapes, routes = _layout(nodes, flows)

    b, dc, di, bpmndi = (f"{{{_NSMAP[k]}}}" for k in ("bpmn", "dc", "di", "bpmndi"))
    root = etree.Element(
        b + "definitions",
        nsmap=_NSMAP,
        id="Definitions_1",
        targetNamespace="http://bpmn.io/schema/bpmn",
        exporter="flowlens",
        exporterVersion=__version__,
    )
    process = etree.SubElement(root, b + "process", id="Process_1", isExecutable="false")
    if name:
        process.set("name", xml_text(name))
    for node in nodes:
        tag = _kind(node)[0]
        el = etree.SubElement(process, b + tag, id=ids[id(node)])
        label = " ".join(xml_text(node.get_name() or "").split())
        if label:
            el.set("name", label)
        if tag.endswith("Gateway"):
            n_in, n_out = len(node.get_in_arcs()), len(node.get_out_arcs())
            direction = "Diverging" if n_out > 1 >= n_in else "Converging" if n_in > 1 >= n_out else "Mixed"
            el.set("gatewayDirection", direction if n_in != n_out or n_in > 1 else "Unspecified")
        for f in node.get_in_arcs():
            if id(f) in flow_ids:
                etree.SubElement(el, b + "incoming").text = flow_ids[id(f)]
        for f in node.get_out_arcs():
            if id(f) in flow_ids:
                etree.SubElement(el, b + "outgoing").text = flow_ids[id(f)]
    for f in flows:
        etree.SubElement(
            process,
            b + "sequenceFlow",
            id=flow_ids[id(f)],
            sourceRef=ids[id(f.get_source())],
            targetRef=ids[id(f.get_target())],
        )
    diagram = etree.SubElement(root, bpmndi + "BPMNDiagram", id="BPMNDiagram_1")
    plane = etree.SubElement(diagram, bpmndi + "BPMNPlane", id="BPMNPlane_1", bpmnElement="Process_1")
    for node in nodes:
        x, y, w, h = shapes[id(node)]
        shape = etree.SubElement(
            plane, bpmndi + "BPMNShape", id=ids[id(node)] + "_di", bpmnElement=ids[id(node)]
        )
        if _kind(node)[0] == "exclusiveGateway":
            shape.set("isMarkerVisible", "true")
        etree.SubElement(shape, dc + "Bounds", x=_num(x), y=_num(y), width=_num(w), height=_num(h))
    for f in flows:
        edge = etree.SubElement(
            plane, bpmndi + "BPMNEdge", id=flow_ids[id(f)] + "_di", bpmnElement=flow_ids[id(f)]
        )
        for px, py in routes[id(f)]:
            etree.SubElement(edge, di + "waypoint", x=_num(px), y=_num(py))
    xml: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return xml


def _num(v: float) -> str:
    r = round(v)
    return str(int(r)) if abs(v - r) < 1e-9 else f"{v:.1f}"


def _kind(node: Any) -> tuple[str, str, int, int]:
    for cls in type(node).__mro__:
        if cls.__name__ in _KINDS:
            tag, prefix, w, h = _KINDS[cls.__name__]
            if prefix == "Activity" and len(str(node.get_name() or "")) > 44:
                w = 140  # long names wrap onto more lines than a 100 px task holds
            return tag, prefix, w, h
    raise ConfigError(
        f"cannot write a BPMN element of type {type(node).__name__}",
        hint="flowlens writes events, tasks, sub-processes and gateways",
    )


def _ordered(model: BPMN) -> tuple[list[Any], list[Any]]:
    """Nodes and sequence flows in a stable order: breadth first from the start events."""
    all_nodes = list(model.get_nodes())
    flows_all = [f for f in model.get_flows() if type(f).__name__ == "SequenceFlow"]
    known = {id(f) for f in flows_all}
    starts = [n for n in all_nodes if _kind(n)[1] == "StartEvent"] or [
        n for n in all_nodes if not n.get_in_arcs()
    ]
    starts.sort(key=lambda n: str(n.get_name()))
    seen: set[int] = set()
    nodes: list[Any] = []
    flows: list[Any] = []
    queue: deque[Any] = deque(starts)
    rest = sorted(all_nodes, key=lambda n: (_kind(n)[1], str(n.get_name()), str(n.get_id())))
    while True:
        while queue:
            n = queue.popleft()
            if id(n) in seen:
                continue
            seen.add(id(n))
            nodes.append(n)
            for f in n.get_out_arcs():
                if id(f) in known:
                    flows.append(f)
                    queue.append(f.get_target())
        left = [n for n in rest if id(n) not in seen]
        if not left:
            break
        queue.append(left[0])
    return nodes, flows


def _layout(
    nodes: list[Any], flows: list[Any]
) -> tuple[dict[int, tuple[float, float, float, float]], dict[int, list[tuple[float, float]]]]:
    """Bounds per node and waypoints per flow, from Graphviz ``dot`` (left to right, orthogonal)."""
    from flowlens.render.dot import render

    index = {id(n): i for i, n in enumerate(nodes)}
    lines = [
        "digraph bpmn {",
        "  rankdir=LR; splines=ortho; nodesep=0.45; ranksep=0.55;",
        '  node [fixedsize=true, label="", margin=0];',
    ]
    for i, n in enumerate(nodes):
        _, prefix, w, h = _kind(n)
        shape = _SHAPES.get(prefix, "box")
        lines.append(f"  n{i} [shape={shape}, width={w / 72:.4f}, height={h / 72:.4f}];")
    for f in flows:
        lines.append(f"  n{index[id(f.get_source())]} -> n{index[id(f.get_target())]};")
    lines.append("}")
    out = json.loads(render("\n".join(lines) + "\n", "json"))
    top = float(out["bb"].split(",")[3])

    def flip(x: float, y: float) -> tuple[float, float]:
        return x + _MARGIN, top - y + _MARGIN

    shapes: dict[int, tuple[float, float, float, float]] = {}
    centres: dict[int, tuple[float, float]] = {}
    for obj in out.get("objects", []):
        i = int(obj["name"][1:])
        _, _, w, h = _kind(nodes[i])
        cx, cy = flip(*(float(v) for v in obj["pos"].split(",")))
        centres[i] = (cx, cy)
        shapes[id(nodes[i])] = (cx - w / 2, cy - h / 2, float(w), float(h))
    by_pair: dict[tuple[int, int], deque[list[tuple[float, float]]]] = {}
    for edge in out.get("edges", []):
        pts = _edge_points(edge.get("pos", ""), flip)
        by_pair.setdefault((int(edge["tail"]), int(edge["head"])), deque()).append(pts)
    routes: dict[int, list[tuple[float, float]]] = {}
    for f in flows:
        s, t = index[id(f.get_source())], index[id(f.get_target())]
        queue = by_pair.get((s, t))
        pts = queue.popleft() if queue else []
        if len(pts) < 2:  # Graphviz gave no route (should not happen): a straight line
            pts = [centres[s], centres[t]]
        routes[id(f)] = pts
    return shapes, routes


def _edge_points(pos: str, flip: Any) -> list[tuple[float, float]]:
    """Polyline of a Graphviz edge ``pos`` (B-spline control points of straight pieces)."""
    tip: tuple[float, float] | None = None
    pts: list[tuple[float, float]] = []
    for token in pos.split():
        parts = token.split(",")
        if parts[0] == "e":
            tip = flip(float(parts[1]), float(parts[2]))
        elif parts[0] == "s":
            continue
        else:
            pts.append(flip(float(parts[0]), float(parts[1])))
    if tip is not None:
        pts.append(tip)
    return _simplify(pts)


def _simplify(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for p in pts:
        if out and math.dist(out[-1], p) < 0.5:
            continue
        while len(out) >= 2 and _collinear(out[-2], out[-1], p):
            out.pop()
        out.append(p)
    return out


def _collinear(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> bool:
    cross = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    return abs(cross) < 0.5 * max(1.0, math.dist(a, c))


# --------------------------------------------------------------------------- reading

_PARSER_FLAGS: dict[str, bool] = {
    "resolve_entities": False,
    "load_dtd": False,
    "no_network": True,
    "huge_tree": False,
}


def read_model(path: str | Path) -> PetriModel:
    """Read a designed process (BPMN 2.0 XML or PNML) as a Petri net for conformance.

    The format is recognised by the document's root element (``definitions`` or ``pnml``),
    whatever the suffix. Task names are compared with activities after collapsing runs of
    whitespace (modelling tools keep line breaks in names).

    >>> import flowlens, pandas as pd, tempfile, pathlib
    >>> df = pd.DataFrame({"case": list("1122"), "activity": list("abab"),
    ...                    "timestamp": pd.date_range("2024-01-01", periods=4, freq="h")})
    >>> out = write_bpmn(discover_bpmn(flowlens.read_log(df)), pathlib.Path(tempfile.mkdtemp()) / "m.bpmn")
    >>> sorted(t.label for t in read_model(out).net.transitions if t.label)
    ['a', 'b']
    """
    p = Path(path)
    root = _parse_safely(p)
    kind = etree.QName(root).localname
    try:
        if kind == "definitions":
            model = _bpmn_to_net(p, root)
        elif kind == "pnml":
            model = _pnml_to_net(p, root)
        else:
            raise InputError(
                f"{p}: not a BPMN 2.0 or PNML model (the root element is <{kind}>)",
                hint="export the designed process as BPMN 2.0 XML (.bpmn) or PNML (.pnml)",
            )
    except InputError:
        raise
    except Exception as exc:  # pm4py's importers raise bare exceptions on unexpected content
        raise InputError(
            f"{p}: the {kind} document could not be turned into a process model "
            f"({type(exc).__name__}: {exc})",
            hint="check that the file is a complete BPMN 2.0 process or PNML net",
        ) from exc
    for t in model.net.transitions:
        if t.label is not None:
            t.label = " ".join(str(t.label).split())
    return model


def _parse_safely(p: Path) -> Any:
    if not p.exists():
        raise InputError(f"{p}: no such model file", hint="give the path of a .bpmn or .pnml file")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not a model file", hint="give the path of a .bpmn or .pnml file")
    hint = "export the model again as BPMN 2.0 XML (.bpmn) or PNML (.pnml)"
    try:
        with p.open("rb") as fh:
            events = etree.iterparse(fh, events=("start",), **_PARSER_FLAGS)
            try:
                _, first = next(events)
            except StopIteration:
                raise LogFormatError(f"{p}: the file has no XML root element", hint=hint) from None
            doc = first.getroottree().docinfo
            internal = doc.internalDTD
            if (internal is not None and any(True for _ in internal.iterentities())) or (
                doc.system_url or doc.public_id
            ):
                raise _unsafe(p)
        # pm4py's importers walk plain lxml elements (their own parser is etree's, too)
        parser = etree.XMLParser(remove_comments=True, remove_pis=True, **_PARSER_FLAGS)
        return etree.parse(str(p), parser).getroot()
    except etree.XMLSyntaxError as exc:
        if "entit" in str(exc).lower():
            raise _unsafe(p) from exc
        raise LogFormatError(f"{p}: line {exc.lineno}: not well-formed XML: {exc.msg}", hint=hint) from exc
    except OSError as exc:
        raise InputError(f"{p}: cannot read the model file ({exc.strerror or exc})") from exc


def _unsafe(p: Path) -> UnsafeInputError:
    return UnsafeInputError(
        f"{p}: the XML declares entities or an external DTD; flowlens does not expand entities "
        "or load external definitions in model files",
        hint="remove the <!DOCTYPE ...> block; BPMN and PNML files do not need one",
    )


def _bpmn_to_net(p: Path, root: Any) -> PetriModel:
    from flowlens.pm4py_bridge import pm4py

    pm = pm4py()
    from pm4py.objects.bpmn.importer.variants.lxml import import_xml_tree_from_root

    # Modellers keep line breaks in names, and pm4py's importer deletes them ("Check\nID"
    # would become "CheckID"): collapse whitespace first, as task names are compared so.
    for el in root.iter():
        name = el.get("name") if isinstance(el.tag, str) else None
        if name:
            el.set("name", " ".join(name.split()))
    bpmn = import_xml_tree_from_root(root)
    kinds = Counter(type(n).__name__ for n in bpmn.get_nodes())
    if not any(k.endswith("StartEvent") for k in kinds) or not any(k.endswith("EndEvent") for k in kinds):
        raise InputError(
            f"{p}: the BPMN process needs a start event and an end event to be replayed "
            f"(found {sum(kinds.values())} elements)",
            hint="add them in the modeller, or give a PNML net with initial and final markings",
        )
    net, im, fm = pm.convert_to_petri_net(bpmn)
    return PetriModel(net, im, fm)


def _pnml_to_net(p: Path, root: Any) -> PetriModel:
    from flowlens.pm4py_bridge import pm4py

    pm4py()  # quiet import first
    from pm4py.objects.petri_net.importer.variants.pnml import import_net_from_xml_object

    net, im, fm = import_net_from_xml_object(root, parameters={"auto_guess_final_marking": True})
    if not net.transitions:
        raise InputError(f"{p}: the PNML net has no transitions", hint="check that the file holds the net")
    if not im:
        raise InputError(
            f"{p}: the PNML net has no initial marking",
            hint="mark the start place with a token (<initialMarking>) in the modeller",
        )
    if not fm:
        raise InputError(
            f"{p}: the PNML net has no final marking and none can be guessed (no single sink place)",
            hint="add <finalmarkings> to the PNML file",
        )
    return PetriModel(net, im, fm)


def iter_labels(model: PetriModel) -> Iterator[str]:
    """The visible transition labels of a Petri net (the model's activities)."""
    for t in model.net.transitions:
        if t.label is not None:
            yield t.label
