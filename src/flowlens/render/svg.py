"""SVG from Graphviz made fit to publish: tooltips by name, and nothing that can be clicked or run.

Graphviz names every node and edge in its SVG by the DOT identifier (``<title>n3</title>``),
and draws a link for any ``URL``, ``href`` or HTML-label ``HREF`` that reaches it. flowlens
never writes such attributes, but a drawing that a bank publishes must not depend on that
alone: :func:`clean_svg` parses the SVG (no entities, no DTD, no network), unwraps every
``<a>`` element, drops every ``href``/``xlink:href`` and event-handler (``on...``) attribute
and every ``<script>``, ``<foreignObject>`` and similar element, and removes comments. With
``titles`` it replaces each node's and edge's ``<title>`` (the tooltip a browser shows on
hover) by the text given for its DOT identifier, e.g. the full, visibly escaped activity
name of a box whose label is cut short.

>>> from flowlens.render.dot import render
>>> raw = render('digraph { n0 [label="x", URL="javascript:alert(1)"] }')
>>> b"javascript:" in raw
True
>>> out = clean_svg(raw, {"n0": "Open account"})
>>> b"javascript:" in out, b"<title>Open account</title>" in out, b"<a" in out
(False, True, False)
"""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from flowlens.errors import FlowlensError

SVG_NS = "http://www.w3.org/2000/svg"

#: Elements that can run code, embed another document or link away: removed with their content.
_ACTIVE = ("script", "foreignObject", "iframe", "object", "embed", "handler", "listener")

_PARSER = {
    "resolve_entities": False,
    "load_dtd": False,
    "no_network": True,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}


def clean_svg(svg: bytes, titles: Mapping[str, str] | None = None) -> bytes:
    """``svg`` without links, scripts, event handlers or comments, with the ``<title>`` of each
    node and edge whose DOT identifier is in ``titles`` replaced (module notes)."""
    try:
        root = etree.fromstring(svg, etree.XMLParser(**_PARSER))
    except etree.XMLSyntaxError as exc:
        # Every text flowlens hands Graphviz is escaped first, so this is a flowlens bug.
        raise FlowlensError(f"Graphviz wrote an SVG that is not well-formed XML: {exc}") from exc
    etree.strip_elements(root, *_ACTIVE, *(f"{{{SVG_NS}}}{t}" for t in _ACTIVE), with_tail=False)
    etree.strip_tags(root, "a", f"{{{SVG_NS}}}a")  # keep what a link wrapped, drop the link
    for el in root.iter(etree.Element):
        for name in list(el.attrib):
            local = etree.QName(name).localname.lower()
            if local == "href" or local.startswith("on"):
                del el.attrib[name]
    if titles:
        for title in root.iter(f"{{{SVG_NS}}}title"):
            parent = title.getparent()
            if parent is not None and parent.get("class") in {"node", "edge"} and title.text in titles:
                title.text = titles[title.text]
    out: bytes = etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
    return out
