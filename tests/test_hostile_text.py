"""Hostile text in a log reaches no output as markup, a link or a control character (issue 10,
items 1 and 2; flowlens.render.text).

The payloads: a NUL ending one activity name followed by a name that, once Graphviz dropped
the rest of the line after the NUL, would be read as DOT forging nodes with a phishing and a
``javascript:`` link; ESC and the other control characters; a name of 20,000 characters
(Graphviz refuses quoted strings over 16,384 bytes); quotes, backslashes, braces, HTML, XML
character references and a spreadsheet formula. They are written to a Parquet and a CSV log
and run through the command line: ``map`` to SVG, PNG and DOT, ``model`` to BPMN and PNML (and
an SVG drawing), ``analyze`` and ``findings --csv``.

A row with a NUL byte in a field is quarantined by the reader's gate (issue 10, item 8), so the
NUL name reaches no drawing; the CSV log leaves it out.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from flowlens.render.dot import DOT_LIMIT, dot_escape, render
from flowlens.render.text import LABEL_LIMIT, label, visible, xml_text

FLOWLENS = [sys.executable, "-m", "flowlens"]
SVG = "{http://www.w3.org/2000/svg}"

NUL_NAME = "Open account\x00"
INJECT = "]; evil [URL=<https://phish.example/login>]; js [URL=<javascript:alert(document.domain)>]; //"
ESC_NAME = "Check\x1bID"
LONG = "Verify " + "L" * 20_000
OTHERS = [
    'Quote " back\\slash {brace} [x] <b onmouseover="alert(1)">html</b> &amp; &#27; &#0;',
    '<a href="https://phish.example/x">click</a> <<TABLE HREF="javascript:alert(1)">>',
    "Ctl\x01\x07\x08\x0b\x0c\x0e\x1f\x7f\x85\x9b \u202eevil\u202c \ufeff\u200b\ufffe\uffff",
    "\\N \\G \\L \\n ends in a backslash\\",
    "Tab\tand\nnewline\rCR",
    '=HYPERLINK("https://phish.example/y","x")',
]
TEAMS = ("ops\x1b[31m", "<b>fraud</b>")
FORGED = ("evil", "js")


def hostile_frame(*, nul: bool = True) -> pd.DataFrame:
    """Ten cases bounce between two teams through the injection step (a ping-pong finding that
    names the hostile steps), ten walk through every other payload."""
    first = NUL_NAME if nul else NUL_NAME.replace("\x00", "")
    rows: list[tuple[str, str, str, int, int, str]] = []
    for i in range(10):
        rows += [
            (f"b{i}", first, "A1", 0, 10, TEAMS[0]),
            (f"b{i}", "Reassign Case", "SYS", 10, 10, "system"),
            (f"b{i}", INJECT, "F1", 40, 50, TEAMS[1]),
            (f"b{i}", "Reassign Case", "SYS", 50, 50, "system"),
            (f"b{i}", ESC_NAME, "A2", 60, 90, TEAMS[0]),
        ]
        steps = [first, LONG, *OTHERS, ESC_NAME]
        rows += [(f"n{i}", a, "A2", 30 * k, 30 * k + 10, TEAMS[0]) for k, a in enumerate(steps)]
    df = pd.DataFrame(rows, columns=["case", "activity", "resource", "s", "e", "team"])
    t0 = pd.Timestamp("2024-03-04 09:00")
    df["start"] = t0 + pd.to_timedelta(df.pop("s"), unit="min")
    df["end"] = t0 + pd.to_timedelta(df.pop("e"), unit="min")
    return df


def activities(kind: str) -> list[str]:
    """The activities the outputs show: a row with a NUL byte in a field is quarantined by the
    reader's gate (issue 10, item 8), so the NUL name never reaches a drawing."""
    names = list(dict.fromkeys(hostile_frame(nul=kind == "parquet")["activity"]))
    return [n for n in names if "\x00" not in n]


# The CSV variant repeats every check (but the NUL) through the CSV reader: another ~30 s.
@pytest.fixture(scope="module", params=["parquet", pytest.param("csv", marks=pytest.mark.slow)])
def hostile(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """(kind, folder) with the log written as ``log.<kind>`` and every output made from it."""
    kind = request.param
    d = tmp_path_factory.mktemp(f"hostile-{kind}")
    df = hostile_frame(nul=kind == "parquet")
    log = d / f"log.{kind}"
    if kind == "parquet":
        df.to_parquet(log, index=False)
    else:
        df.to_csv(log, index=False)
    commands = [
        *(("map", log, "-o", d / f"map.{suffix}") for suffix in ("svg", "png", "dot")),
        ("model", log, "-o", d / "model.bpmn", "--pnml", d / "model.pnml", "--png", d / "model.svg"),
        ("analyze", log, "-o", d / "report"),
        ("findings", log, "--csv", d / "findings.csv"),
    ]
    # side by side: most of each run is starting Python and importing the engine
    procs = [
        subprocess.Popen([*FLOWLENS, *map(str, c)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    for c, proc in zip(commands, procs, strict=True):
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, (c[0], err[-2000:])
        assert "Traceback" not in err, (c[0], err[-2000:])
    return kind, d


def xml_root(path: Path) -> ET.Element:
    """The parsed document (xml.etree: the output is flowlens's own, and it must be XML 1.0)."""
    return ET.parse(path).getroot()


def attribute_values(root: ET.Element) -> list[tuple[str, str]]:
    return [(k, v) for el in root.iter() for k, v in el.attrib.items()]


def assert_no_links(root: ET.Element) -> None:
    """No link, no event handler, and no attribute value carrying the payloads' URLs."""
    assert not [el for el in root.iter() if el.tag in {f"{SVG}a", "a"}]
    for name, value in attribute_values(root):
        local = name.rsplit("}", 1)[-1].lower()
        assert local != "href" and not local.startswith("on"), (name, value)
        assert "javascript:" not in value and "phish.example" not in value, (name, value)


def map_nodes(root: ET.Element) -> dict[str, list[str]]:
    """Tooltip (``<title>``) -> label lines of every activity box of a Graphviz map."""
    out: dict[str, list[str]] = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") != "node":
            continue
        title = g.findtext(f"{SVG}title") or ""
        if title in {"start", "end"}:
            continue
        assert title not in out, f"two boxes with the tooltip {title[:80]!r}"
        out[title] = [t.text or "" for t in g.iter(f"{SVG}text")]
    return out


def no_control_characters(text: str, *, keep: str = "\t\n\r") -> None:
    bad = sorted(
        {f"U+{ord(c):04X}" for c in text if (ord(c) < 32 and c not in keep) or 0x7F <= ord(c) <= 0x9F}
    )
    assert not bad, bad


# --------------------------------------------------------------------------- the map


def test_map_svg_is_xml_with_one_box_per_activity_and_no_link(hostile: tuple[str, Path]) -> None:
    kind, d = hostile
    text = (d / "map.svg").read_text(encoding="utf-8")
    no_control_characters(text)
    root = xml_root(d / "map.svg")
    assert_no_links(root)
    nodes = map_nodes(root)
    acts = activities(kind)
    # one box per activity, each with the whole name (escaped, never cut) as its tooltip
    assert len(nodes) == len(acts)
    assert set(nodes) == {visible(a) for a in acts}
    # nothing forged: the injection is one box whose label is the whole text
    assert not set(FORGED) & {lines[0] for lines in nodes.values()}
    assert nodes[INJECT][0] == INJECT
    # the NUL rows were set aside by the gate, with the reason; the ESC is spelled out
    assert not [n for n in nodes if "x00" in n]
    if kind == "parquet":
        quarantine = (d / "report" / "quarantine.csv").read_text(encoding="utf-8")
        assert "Open account" in quarantine and "nul" in quarantine.lower()
    assert nodes["Check\\x1bID"][0] == "Check\\x1bID"
    # the long name: a cut label, the whole (20,007 characters) as the tooltip
    long_label = nodes[LONG][0]
    assert len(long_label) == LABEL_LIMIT and long_label.endswith("…") and long_label.startswith("Verify LLL")
    for title, lines in nodes.items():
        assert len(lines[0]) <= LABEL_LIMIT, title[:80]


def test_map_png_is_drawn(hostile: tuple[str, Path]) -> None:
    _, d = hostile
    assert (d / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_map_dot_has_no_control_character_and_graphviz_reads_the_same_nodes(
    hostile: tuple[str, Path],
) -> None:
    kind, d = hostile
    dot = (d / "map.dot").read_text(encoding="utf-8")
    no_control_characters(dot, keep="\n")
    boxes = re.findall(r"^  (n\d+) \[label=", dot, flags=re.M)
    assert len(boxes) == len(activities(kind))
    # Graphviz itself sees exactly those nodes (and start, end): nothing forged, nothing lost
    out = json.loads(
        subprocess.run(["dot", "-Tjson"], input=dot.encode(), capture_output=True, check=True).stdout
    )
    assert sorted(o["name"] for o in out["objects"]) == sorted([*boxes, "start", "end"])
    assert all(len(o["label"]) < 2 * LABEL_LIMIT for o in out["objects"])
    # and no link on anything it drew
    drawn = [*out["objects"], *out.get("edges", []), out]
    assert not [k for o in drawn for k in o if k.lower() in {"url", "href", "target"}]


# --------------------------------------------------------------------------- BPMN and PNML


def test_bpmn_and_pnml_are_xml_with_every_task(hostile: tuple[str, Path]) -> None:
    kind, d = hostile
    acts = activities(kind)
    for name in ("model.bpmn", "model.pnml"):
        no_control_characters((d / name).read_text(encoding="utf-8"))
    bpmn = xml_root(d / "model.bpmn")
    tasks = [el.get("name") for el in bpmn.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}task")]
    # BPMN names keep their words (runs of whitespace collapsed, as modellers do), every
    # character XML cannot carry spelled out
    assert sorted(tasks) == sorted(" ".join(xml_text(a).split()) for a in acts)
    assert (
        not [t for t in tasks if t.startswith("Open account")]
        if kind == "parquet"
        else "Open account" in tasks
    )
    assert "Check\\x1bID" in tasks and LONG in tasks
    pnml = xml_root(d / "model.pnml")
    labels = [t.findtext("name/text") for t in pnml.iter("transition") if t.find("toolspecific") is None]
    assert sorted(label for label in labels if label) == sorted(xml_text(a) for a in acts)
    drawing = xml_root(d / "model.svg")
    assert_no_links(drawing)
    texts = [t.text or "" for t in drawing.iter(f"{SVG}text")]
    assert max(len(t) for t in texts) <= LABEL_LIMIT and "Check\\x1bID" in texts
    assert not set(FORGED) & set(texts)
    titles = {t.text for t in drawing.iter(f"{SVG}title")}
    assert {visible(a) for a in acts} <= titles  # a task's tooltip: its whole name


# --------------------------------------------------------------------------- the report


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attrs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs += [(tag, k, v or "") for k, v in attrs]

    handle_startendtag = handle_starttag


def test_report_carries_no_link_from_the_data(hostile: tuple[str, Path]) -> None:
    kind, d = hostile
    page = (d / "report" / "report.html").read_text(encoding="utf-8")
    no_control_characters(page)
    tags = _Tags()
    tags.feed(page)
    for tag, name, value in tags.attrs:
        local = name.rsplit(":", 1)[-1]
        assert not local.startswith("on"), (tag, name, value)
        assert local not in {"src", "action", "formaction"}, (tag, name, value)
        if local == "href":
            assert tag == "a" and re.fullmatch(r"#[a-z0-9-]+", value), (tag, name, value)
        assert "javascript:" not in value and "phish.example" not in value, (tag, name, value)
    # every drawing in the page is well-formed XML; the two maps have one box per activity
    svgs = re.findall(r"<svg\b.*?</svg>", page, flags=re.S)
    assert len(svgs) >= 2
    maps = []
    for s in svgs:
        root = ET.fromstring(s)
        assert_no_links(root)
        if root.find(f".//{SVG}g[@class='graph']") is not None:
            maps.append(map_nodes(root))
    assert len(maps) == 2
    for nodes in maps:
        assert set(nodes) == {visible(a) for a in activities(kind)}
    # the text shows the names spelled out, never as markup
    assert "<b>fraud</b>" not in page and "&lt;b&gt;fraud&lt;/b&gt;" in page
    assert "Check\\x1bID" in page


def test_results_json_keeps_the_names_exactly(hostile: tuple[str, Path]) -> None:
    kind, d = hostile
    data = json.loads((d / "report" / "results.json").read_text(encoding="utf-8"))
    nodes = {n["activity"] for n in data["sections"]["map"]["nodes"]}
    assert nodes == set(activities(kind))  # the data file is data: every character kept


def test_findings_csv_names_the_steps_as_text(hostile: tuple[str, Path]) -> None:
    _, d = hostile
    with (d / "findings.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    bounce = [r for r in rows if r["kind"] == "ping_pong"]
    assert bounce, [r["kind"] for r in rows]
    assert "Reassign Case" in bounce[0]["activities"] and INJECT in bounce[0]["activities"]
    for r in rows:  # no cell a spreadsheet would run as a formula
        assert not any(str(v).startswith(("=", "+", "@")) for v in r.values()), r


# --------------------------------------------------------------------------- the functions


def test_every_code_point_is_xml_safe_and_visible_names_stay_distinct() -> None:
    import lxml.etree as etree

    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    etree.Element("x", name=xml_text(every)).text = xml_text(every)  # lxml refuses any non-XML char
    etree.Element("x").text = visible(every + "\ud800\udfff")
    names = ["a\x00", "a\x01", "a", "a\x1b", "a\u202e", "a\x85", "a\t", "a\n", "a\ufffe"]
    assert len({visible(n) for n in names}) == len(names)
    assert len({label(n) for n in names}) == len(names)
    assert visible("\ud800") == "\\ud800" and visible("\U0010ffff") == "\\U0010ffff"


def test_labels_are_cut_between_escapes() -> None:
    for n in range(1, 30):
        text = label("ab\x1bcd\x00ef\U0010fffe" * 5, n)
        assert len(text) <= n
        body = text.removesuffix("…")
        assert visible("ab\x1bcd\x00ef\U0010fffe" * 5).startswith(body)
        assert not re.search(r"\\(x[0-9a-f]?|U[0-9a-f]{0,7})$", body), text


def test_graphviz_takes_any_text_through_dot_escape() -> None:
    """Every Latin-1 character, DOT's own escapes, entities and a name far over Graphviz's
    limit: one node each, the SVG well-formed."""
    names = [chr(c) for c in range(0x100)] + ["\\", '"', "\\N", "&#27;", "&amp;", "<b>", "x" * 50_000]
    lines = ["digraph { node [shape=box];"]
    lines += [f'  n{i} [label="{dot_escape(n)}"];' for i, n in enumerate(names)]
    lines.append("}")
    root = ET.fromstring(render("\n".join(lines)))
    assert len([g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]) == len(names)
    assert len(dot_escape("\\" * 50_000)) <= 2 * DOT_LIMIT


def test_xes_export_is_xml_and_reads_back(tmp_path: Path) -> None:
    import flowlens

    log = flowlens.read_log(hostile_frame())
    out = flowlens.write_log(log, tmp_path / "log.xes")
    no_control_characters(out.read_text(encoding="utf-8"))
    names = {el.get("value") for el in xml_root(out).iter("{http://www.xes-standard.org/}string")}
    assert {"Check\\x1bID", LONG, INJECT} <= names and not [n for n in names if "x00" in n]
    assert flowlens.read_log(out).summary().activities == len(activities("parquet"))
