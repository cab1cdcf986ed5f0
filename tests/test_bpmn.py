"""Formal models: BPMN discovery, the drawn diagram (shapes and edges), PNML, safe model reading."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

import flowlens
from conftest import shared_path
from flowlens.discovery.bpmn import (
    discover_bpmn,
    discover_process_tree,
    read_model,
    tree_from_variants,
    write_bpmn,
    write_pnml,
)
from flowlens.errors import ConfigError, InputError, LogFormatError, UnsafeInputError
from flowlens.pm4py_bridge import pm4py

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
}
FLOWLENS = [sys.executable, "-m", "flowlens"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLOWLENS, *args], capture_output=True, text=True, check=False)


def check_diagram(path: Path) -> tuple[int, int]:
    """Assert the file has a shape for every flow node and an edge for every sequence flow."""
    root = etree.parse(str(path)).getroot()
    process = root.find("bpmn:process", NS)
    assert process is not None
    flows = {e.get("id"): e for e in process if etree.QName(e).localname == "sequenceFlow"}
    nodes = {e.get("id") for e in process if etree.QName(e).localname != "sequenceFlow"}
    diagrams = root.findall("bpmndi:BPMNDiagram", NS)
    assert len(diagrams) == 1
    plane = diagrams[0].find("bpmndi:BPMNPlane", NS)
    assert plane is not None and plane.get("bpmnElement") == process.get("id")
    shapes = {s.get("bpmnElement"): s for s in plane.findall("bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement"): e for e in plane.findall("bpmndi:BPMNEdge", NS)}
    assert set(shapes) == nodes
    assert set(edges) == set(flows)
    boxes = {}
    for node_id, shape in shapes.items():
        b = shape.find("dc:Bounds", NS)
        x, y, w, h = (float(b.get(k)) for k in ("x", "y", "width", "height"))
        assert w > 0 and h > 0 and x >= 0 and y >= 0
        boxes[node_id] = (x, y, w, h)
    for flow_id, edge in edges.items():
        points = [(float(p.get("x")), float(p.get("y"))) for p in edge.findall("di:waypoint", NS)]
        assert len(points) >= 2, flow_id
        # the route starts at its source shape and ends at its target shape (within a pixel or two)
        for (px, py), ref in ((points[0], "sourceRef"), (points[-1], "targetRef")):
            x, y, w, h = boxes[flows[flow_id].get(ref)]
            assert x - 3 <= px <= x + w + 3 and y - 3 <= py <= y + h + 3, (flow_id, ref)
    # laid out left to right: the start event is left of the end event
    kinds = {e.get("id"): etree.QName(e).localname for e in process}
    start = next(i for i, k in kinds.items() if k == "startEvent")
    end = next(i for i, k in kinds.items() if k == "endEvent")
    assert boxes[start][0] < boxes[end][0]
    return len(nodes), len(flows)


@functools.cache
def shared_log(name: str) -> flowlens.EventLog:
    """A shared log read once per test session (test_conformance reads BPIC 2012 from here too)."""
    return flowlens.read_log(shared_path(name))


@pytest.fixture
def receipt(shared_logs) -> flowlens.EventLog:
    return shared_log("receipt")


@pytest.fixture
def bpic2012(shared_logs) -> flowlens.EventLog:
    return shared_log("bpic2012")


def test_receipt_bpmn_has_a_drawn_diagram_and_parses_back(receipt, tmp_path: Path) -> None:
    model = discover_bpmn(receipt, noise_threshold=0.2)
    out = write_bpmn(model, tmp_path / "receipt.bpmn")
    n_nodes, n_flows = check_diagram(out)
    assert (n_nodes, n_flows) == (len(model.get_nodes()), len(model.get_flows()))
    back = pm4py().read_bpmn(str(out))
    assert len(back.get_nodes()) == n_nodes and len(back.get_flows()) == n_flows
    tasks = sorted(n.get_name() for n in back.get_nodes() if type(n).__name__ == "Task")
    assert tasks == sorted(n.get_name() for n in model.get_nodes() if type(n).__name__ == "Task")


def test_bpic2012_bpmn_has_a_drawn_diagram_and_parses_back(bpic2012, tmp_path: Path) -> None:
    model = discover_bpmn(bpic2012, noise_threshold=0.2)
    out = write_bpmn(model, tmp_path / "bpic2012.bpmn")
    n_nodes, n_flows = check_diagram(out)
    back = pm4py().read_bpmn(str(out))
    assert (len(back.get_nodes()), len(back.get_flows())) == (n_nodes, n_flows)
    # the tasks are the log's activities (IMf may leave out a rare one)
    activities = {a for v in flowlens.variants(bpic2012)["variant"] for a in v}
    tasks = {n.get_name() for n in back.get_nodes() if type(n).__name__ == "Task"}
    assert tasks <= activities and len(tasks) >= len(activities) - 2


def test_tree_on_variants_is_pm4pys_tree_on_the_log(receipt) -> None:
    """The miner sees the variant multiset only; pm4py on the full log finds the same tree."""
    df = pm4py().read_xes(str(shared_path("receipt")))
    for noise in (0.0, 0.2):
        ours = discover_process_tree(receipt, noise_threshold=noise)
        theirs = pm4py().discover_process_tree_inductive(df, noise_threshold=noise)
        assert str(ours) == str(theirs)


def test_writing_is_stable(shared_logs, tmp_path: Path) -> None:
    """Two runs write identical BPMN and PNML files (ids and layout do not depend on memory)."""
    log = shared_path("running-example")
    for i in (1, 2):
        out = run(
            "model", str(log), "-o", str(tmp_path / f"m{i}.bpmn"), "--pnml", str(tmp_path / f"m{i}.pnml")
        )
        assert out.returncode == 0, out.stderr
    assert (tmp_path / "m1.bpmn").read_bytes() == (tmp_path / "m2.bpmn").read_bytes()
    assert (tmp_path / "m1.pnml").read_bytes() == (tmp_path / "m2.pnml").read_bytes()


def test_pnml_and_bpmn_read_back_as_the_same_language(tmp_path: Path) -> None:
    tree = tree_from_variants(Counter({("a", "b", "c"): 5, ("a", "c", "b"): 3, ("a", "d"): 1}))
    bpmn = pm4py().convert_to_bpmn(tree)
    from_bpmn = read_model(write_bpmn(bpmn, tmp_path / "m.bpmn"))
    from_pnml = read_model(write_pnml(bpmn, tmp_path / "m.pnml"))
    for model in (from_bpmn, from_pnml):
        labels = sorted(t.label for t in model.net.transitions if t.label)
        assert labels == ["a", "b", "c", "d"]
        assert model.initial_marking and model.final_marking
        lang = pm4py().play_out(*model, variant="extensive")
        traces = {tuple(e["concept:name"] for e in t) for t in lang}
        assert traces == {("a", "b", "c"), ("a", "c", "b"), ("a", "d")}


def test_model_names_are_whitespace_normalised(tmp_path: Path) -> None:
    bpmn = pm4py().convert_to_bpmn(tree_from_variants(Counter({("Check ID", "Pay"): 1})))
    text = write_bpmn(bpmn, tmp_path / "m.bpmn").read_text().replace('name="Check ID"', 'name="Check&#10;ID"')
    (tmp_path / "m.bpmn").write_text(text)
    assert sorted(t.label for t in read_model(tmp_path / "m.bpmn").net.transitions if t.label) == [
        "Check ID",
        "Pay",
    ]


@pytest.mark.parametrize(
    ("content", "error", "match"),
    [
        (None, InputError, "no such model file"),
        (b"", LogFormatError, "not well-formed XML|no XML root"),
        (b"\x89PNG\r\n\x1a\n\x00\x00garbage", LogFormatError, "not well-formed XML"),
        (b"<definitions><process>", LogFormatError, "not well-formed XML"),
        (b"<log><trace/></log>", InputError, "not a BPMN 2.0 or PNML model"),
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="&b;"/>',
            UnsafeInputError,
            "declares entities",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE d SYSTEM "file:///etc/passwd">'
            b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"/>',
            UnsafeInputError,
            "external DTD",
        ),
        (
            b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"><process id="p">'
            b'<task id="t" name="a"/></process></definitions>',
            InputError,
            "needs a start event and an end event",
        ),
        (b"<pnml><net id='n'><page id='p'/></net></pnml>", InputError, "no transitions"),
    ],
)
def test_bad_model_files_raise_clear_errors(tmp_path: Path, content, error, match) -> None:
    path = tmp_path / "designed.bpmn"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=match) as info:
        read_model(path)
    assert str(path) in str(info.value)
    assert info.value.hint


def test_noise_out_of_range_is_a_config_error(receipt) -> None:
    with pytest.raises(ConfigError, match="noise threshold"):
        discover_bpmn(receipt, noise_threshold=1.5)


def test_model_command_json_and_outputs(shared_logs, tmp_path: Path) -> None:
    out = run(
        "model",
        str(shared_path("running-example")),
        "-o",
        str(tmp_path / "m.bpmn"),
        "--pnml",
        str(tmp_path / "m.pnml"),
        "--png",
        str(tmp_path / "m.png"),
        "--noise",
        "0.2",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["noise_threshold"] == 0.2
    assert (data["cases"], data["variants"]) == (6, 6)
    assert data["model"]["tasks"] == len(data["model"]["activities"]) == 8
    assert set(data["outputs"]) == {"bpmn", "pnml", "image"}
    check_diagram(tmp_path / "m.bpmn")
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
    assert read_model(tmp_path / "m.pnml").net.transitions


def test_model_command_bad_noise_is_a_usage_error(shared_logs, tmp_path: Path) -> None:
    out = run("model", str(shared_path("running-example")), "-o", str(tmp_path / "m.bpmn"), "--noise", "1")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
