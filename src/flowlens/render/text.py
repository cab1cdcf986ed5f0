r"""Text from the log made safe for every drawing and XML file flowlens writes.

Activity names, resources and attribute values come from the data, and the data can be
hostile. Graphviz drops the rest of a line after a NUL (the next label is then read as DOT),
refuses quoted strings over 16,384 bytes and turns ``&#27;`` into a raw ESC; XML 1.0 cannot
carry NUL, ESC or most other control characters at all (lxml refuses them, browsers reject
an SVG holding one). This module is the one place that decides how such text is shown:

* :func:`visible` spells every character that is invisible, forbidden in XML 1.0 or able to
  reorder the text around it as an escape a person can read: C0 controls (``\x00``,
  ``\x1b``; tab, line feed and carriage return as ``\t``, ``\n``, ``\r``), DEL and the C1
  controls, lone surrogates, the Unicode noncharacters (U+FFFE, U+FFFF, U+FDD0..U+FDEF and
  their copies in every plane), the bidirectional embedding, override and isolate controls
  (the "Trojan Source" characters), zero-width space, the byte-order mark and the line and
  paragraph separators. Every other character, accents and scripts included, is kept.
  Distinct names stay distinct: ``"Open account\x00"`` is drawn as ``Open account\x00``,
  never as ``Open account``.
* :func:`xml_text` is the same for XML data (BPMN and PNML names, XES values) except that tab,
  line feed and carriage return, which XML carries, are kept.
* :func:`label` is :func:`visible` capped at :data:`LABEL_LIMIT` characters with an ellipsis,
  for a box on a drawing; the drawing carries the whole escaped name as the box's tooltip.

A literal backslash is kept as it is, so a name that already spells ``\x1b`` with four
printable characters reads like one holding an ESC; every output identifies a node by a
synthetic id, never by its text, so two such names remain two nodes.

>>> visible("Open account\x00")
'Open account\\x00'
>>> visible("Check\x1bID \u202egnp.exe")
'Check\\x1bID \\u202egnp.exe'
>>> xml_text("line\none\x7f")
'line\none\\x7f'
>>> len(label("L" * 20_000)), label("L" * 20_000)[-1]
(120, '…')
"""

from __future__ import annotations

import re

#: The longest label drawn in a box on a map or model image, in characters (after escaping).
LABEL_LIMIT = 120

# Everything spelled as an escape: C0 (tab, LF and CR only outside XML), DEL and C1, zero-width
# space, the line and paragraph separators, the bidi controls (U+202A-U+202E, U+2066-U+2069),
# the BOM, lone surrogates and the noncharacters of every plane.
_OTHER = (
    r"\x7f-\x9f\u200b\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    + "".join(rf"\U{plane:04x}fffe\U{plane:04x}ffff" for plane in range(1, 17))
)
_UNSAFE = re.compile(rf"[\x00-\x1f{_OTHER}]")
_UNSAFE_XML = re.compile(rf"[\x00-\x08\x0b\x0c\x0e-\x1f{_OTHER}]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _spell(ch: str) -> str:
    """One unsafe character as a readable escape (Python's notation)."""
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible(value: object) -> str:
    r"""``value`` as text with every unsafe character spelled as an escape (module notes).

    >>> visible("a\tb\x00c\x85d\ufffee")
    'a\\tb\\x00c\\x85d\\ufffee'
    >>> visible("Café ✓ 日本")
    'Café ✓ 日本'
    """
    text = str(value)
    if _UNSAFE.search(text) is None:  # the common case: nothing to do, no copy
        return text
    return _UNSAFE.sub(lambda m: _spell(m.group()), text)


def xml_text(value: object) -> str:
    r"""``value`` fit for XML 1.0 text or an attribute: as :func:`visible`, but tab, line
    feed and carriage return are kept (XML carries them; BPMN tools keep line breaks in
    names).

    >>> xml_text("Check\x1bID\nsecond line")
    'Check\\x1bID\nsecond line'
    """
    text = str(value)
    if _UNSAFE_XML.search(text) is None:
        return text
    return _UNSAFE_XML.sub(lambda m: _spell(m.group()), text)


def label(value: object, limit: int = LABEL_LIMIT) -> str:
    r"""``value`` as :func:`visible` text of at most ``limit`` characters: a longer one is cut
    (never inside an escape) and ends with an ellipsis.

    >>> label("Open account\x00")
    'Open account\\x00'
    >>> label("abcdef\x1bghij", limit=11)
    'abcdef\\x1b…'
    >>> label("abcdef\x1bghij", limit=8)
    'abcdef…'
    """
    if limit < 1:
        raise ValueError(f"a label holds at least one character, not {limit}")
    text = visible(value)
    if len(text) <= limit:
        return text
    # Cut the escaped text, then step back out of an escape the cut went into: the cut may
    # keep only whole escapes, so walk the original characters up to the room there is.
    room = limit - 1
    out: list[str] = []
    used = 0
    for ch in str(value):
        piece = _spell(ch) if _UNSAFE.match(ch) else ch
        if used + len(piece) > room:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out).rstrip() + "…"
