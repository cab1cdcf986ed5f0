"""The report's appendix: the methods it uses and how to reproduce it (docs/methods.md 18.5).

The definitions are docs/methods.md's own text, the sections each report section rests on,
copied into the package (``methods_appendix.json``) so that a report needs no file its reader
lacks; references to files outside the report are taken out on the way. A report in another
language shows the translation of those sections kept next to it (``docs/methods.zh-CN.md``,
copied into ``methods_appendix.zh-CN.json``). Each translated section names the English text it
translates by a checksum (``<!-- source: 1a2b3c4d5e6f -->`` under its heading): a section whose
English has changed since is stale and the report shows the English until a translator updates
it, as a fuzzy catalogue entry would. After editing docs/methods.md or a translation, refresh the
copies (tests check they are current, complete and not stale); the command also names every
section of a translation, quoted or not, that is stale, missing, without a source comment or
orphaned (:func:`translation_warnings`)::

    python -m flowlens.report.appendix docs/methods.md

>>> html = markdown_html("A **bold** `x` < y.\\n\\n- one\\n- two")
>>> html
'<p>A <b>bold</b> <code>x</code> &lt; y.</p>\\n<ul><li>one</li><li>two</li></ul>'
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from html import escape
from importlib.resources import files
from pathlib import Path
from typing import Any

from markupsafe import Markup

from flowlens.i18n import _, current_language
from flowlens.report.document import Section
from flowlens.report.templating import reader_text, render_fragment

#: methods.md sections each report section rests on (by section id; "segments-*" by prefix).
METHODS_FOR: dict[str, tuple[str, ...]] = {
    "recommendations": ("18.1", "18.2", "18.3", "18.6"),
    "summary": ("3.3", "3.5"),
    "map": ("3.1", "3.4"),
    "variants": ("3.2",),
    "conformance": ("5.4",),
    "waiting": ("6.1", "6.3", "6.5", "7.1", "7.2"),
    "bottlenecks": ("8.1", "8.2", "8.4"),
    "findings": ("13.1", "13.2"),
    "journeys": ("9.1", "9.4"),
    "segments": ("10.2", "10.3"),
    "drivers": ("11.2", "18.6"),
    "sla": ("12.1", "12.2", "12.4"),
    "simulation": ("16.6",),
    "whatif": ("17.1", "17.2", "17.3", "18.7"),
    "quality": ("2",),
}

_DATA = "methods_appendix.json"
#: The languages the methods are translated into: the translation next to docs/methods.md and its
#: copy in the package.
TRANSLATIONS = {"zh-CN": ("methods.zh-CN.md", "methods_appendix.zh-CN.json")}
_SOURCE = re.compile(r"\A\s*<!--\s*source:\s*([0-9a-f]{12})\s*-->\s*")
#: A numbered heading of methods.md or of a translation ("### 7.1 Causes", "## 2. The gate").
_HEADING = re.compile(r"^(#{2,3}) (\d+(?:\.\d+)?)\.? (.*)$", flags=re.M)


def source_hash(text: str) -> str:
    """The checksum a translated section names its English text by (its first 12 hex digits of SHA-256).

    >>> source_hash("Lead time = last end − first start.")
    '35ddef7c800b'
    """
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def extract_translation(text: str, numbers: Sequence[str]) -> dict[str, dict[str, str]]:
    """The translated sections ``numbers`` of a translation of methods.md (the same headings),
    each with the checksum of the English text it translates (``source``; "" when it names none)."""
    out = {}
    for num, sec in extract(text, numbers).items():
        m = _SOURCE.match(sec["text"])
        out[num] = {
            "title": sec["title"],
            "text": sec["text"][m.end() :] if m else sec["text"],
            "source": m.group(1) if m else "",
        }
    return out


def stale_sections(methods: str, translation: str) -> dict[str, str]:
    """The sections of ``translation`` (a translation of methods.md's text ``methods``) that name
    the English they translate and whose English has changed since: number -> the checksum of the
    English as it is now. Every such section counts, whether the report quotes it or not, so
    translations kept for readers of the document go stale as loudly as the appendix's.

    >>> en = "## 1. A\\n\\n### 1.1 B\\nOld.\\n"
    >>> zh = "### 1.1 乙\\n<!-- source: e88304b8cefe -->\\n旧。\\n"
    >>> stale_sections(en, zh)
    {}
    >>> stale_sections(en.replace("Old.", "New."), zh)
    {'1.1': 'd69242231126'}
    """
    done = extract_translation(translation, [h.group(2) for h in _HEADING.finditer(translation)])
    english = extract(methods, [n for n, sec in done.items() if sec["source"]])
    return {
        n: source_hash(english[n]["text"])
        for n in english
        if done[n]["source"] != source_hash(english[n]["text"])
    }


def translation_gaps(methods: str, translation: str) -> dict[str, list[str]]:
    """What ``translation`` (a translation of methods.md's text ``methods``) lacks besides stale
    sections, over every heading, whether the report quotes the section or not: ``missing``, the
    headings of the English without a translated section; ``unsourced``, the translated sections
    that name no English text (unless both are empty, as a chapter heading without an opening);
    ``orphaned``, the translated sections whose number is no heading of the English any more
    (renumbered or removed), which no check would reach otherwise.

    >>> en = "## 1. A\\n\\n### 1.1 B\\nOld.\\n\\n### 1.2 C\\nMore.\\n"
    >>> zh = "## 1 甲\\n\\n### 1.1 乙\\n旧。\\n\\n### 1.3 丙\\n<!-- source: 0123456789ab -->\\n更多。\\n"
    >>> translation_gaps(en, zh)
    {'missing': ['1.2'], 'unsourced': ['1.1'], 'orphaned': ['1.3']}
    """
    numbers = [h.group(2) for h in _HEADING.finditer(methods)]
    done = extract_translation(translation, [h.group(2) for h in _HEADING.finditer(translation)])
    english = extract(methods, numbers)
    return {
        "missing": [n for n in numbers if n not in done],
        "unsourced": [
            n
            for n in numbers
            if n in done and not done[n]["source"] and (english[n]["text"] or done[n]["text"])
        ],
        "orphaned": sorted((n for n in done if n not in english), key=_order),
    }


def translation_warnings(methods: str, translation: str, lang: str, source: str) -> list[str]:
    """What the maintainer's command says about translation ``source`` of methods.md's text
    ``methods`` (into ``lang``): every stale, missing, unsourced or orphaned section, in section
    order, each with what to do. The report itself shows the English for each of them.

    >>> en = "## 1. A\\n\\n### 1.1 B\\nOld.\\n"
    >>> zh = "## 1 甲\\n\\n### 1.1 乙\\n<!-- source: e88304b8cefe -->\\n旧。\\n"
    >>> translation_warnings(en, zh, "zh-CN", "m.zh.md")
    []
    >>> renumbered = zh.replace("1.1 乙", "1.2 乙")
    >>> for line in translation_warnings(en, renumbered, "zh-CN", "m.zh.md"):
    ...     print(line)
    zh-CN: section 1.1 is not translated in m.zh.md
    zh-CN: section 1.2 of m.zh.md translates no section of methods.md (renumbered or removed): move or delete it
    """
    gaps = translation_gaps(methods, translation)
    said = [
        (n, f"section {n} of {source} translates an older text: update it and set <!-- source: {h} -->")
        for n, h in stale_sections(methods, translation).items()
    ]
    said += [(n, f"section {n} is not translated in {source}") for n in gaps["missing"]]
    said += [
        (
            n,
            f"section {n} of {source} names no English source: check it against methods.md and set "
            f"<!-- source: {source_hash(sec['text'])} -->",
        )
        for n, sec in extract(methods, gaps["unsourced"]).items()
    ]
    said += [
        (
            n,
            f"section {n} of {source} translates no section of methods.md (renumbered or removed): "
            "move or delete it",
        )
        for n in gaps["orphaned"]
    ]
    return [f"{lang}: {line}" for _, line in sorted(said, key=lambda s: _order(s[0]))]


def extract(methods: str, numbers: Sequence[str]) -> dict[str, dict[str, str]]:
    """The sections ``numbers`` ("7.1", or "2" for a whole chapter up to its first subsection)
    of methods.md's text: number -> title and body (file references taken out)."""
    out: dict[str, dict[str, str]] = {}
    heads = list(_HEADING.finditer(methods))
    for i, h in enumerate(heads):
        num = h.group(2)
        if num not in numbers:
            continue
        end = heads[i + 1].start() if i + 1 < len(heads) else len(methods)
        body = methods[h.end() : end].strip()
        out[num] = {"title": h.group(3).strip(), "text": reader_text(body)}
    return out


def wanted() -> list[str]:
    nums = {n for ns in METHODS_FOR.values() for n in ns}
    return sorted(nums, key=_order)


def _order(number: str) -> tuple[int, ...]:
    """A section number's place in methods.md ("9.10" after "9.2")."""
    return tuple(int(x) for x in number.split("."))


def update(methods_path: str | Path, out: str | Path | None = None) -> Path:
    """Copy the sections the report uses from ``methods_path`` into the package data."""
    text = Path(methods_path).read_text(encoding="utf-8")
    target = Path(out) if out is not None else Path(__file__).with_name(_DATA)
    data = extract(text, wanted())
    target.write_text(json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    if out is None:
        for lang, (doc, copy) in TRANSLATIONS.items():
            source = Path(methods_path).with_name(doc)
            if not source.is_file():
                continue
            translation = source.read_text(encoding="utf-8")
            done = extract_translation(translation, wanted())
            target.with_name(copy).write_text(
                json.dumps(done, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
            )
            for line in translation_warnings(text, translation, lang, str(source)):
                sys.stderr.write(line + "\n")
    return target


@cache
def _methods() -> dict[str, dict[str, str]]:
    return json.loads(files("flowlens.report").joinpath(_DATA).read_text(encoding="utf-8"))


@cache
def _translated(lang: str) -> dict[str, dict[str, str]]:
    """The sections translated into ``lang`` whose English has not changed since (see the module notes)."""
    if lang not in TRANSLATIONS:
        return {}
    path = files("flowlens.report").joinpath(TRANSLATIONS[lang][1])
    if not path.is_file():
        return {}
    english = _methods()
    done = json.loads(path.read_text(encoding="utf-8"))
    return {
        n: sec
        for n, sec in done.items()
        if n in english and sec.get("source") == source_hash(english[n]["text"])
    }


def _inline(text: str) -> str:
    t = escape(text, quote=False)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", t)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<i>\1</i>", t)


def markdown_html(text: str) -> str:
    """The small Markdown of methods.md (paragraphs, lists, pipe tables, code, bold, italics)
    as HTML, every character of the text escaped."""
    blocks = re.split(r"\n\s*\n", text.strip())
    out = []
    for b in blocks:
        lines = [ln for ln in b.splitlines() if ln.strip()]
        if not lines:
            continue
        if all(ln.lstrip().startswith("|") for ln in lines):
            rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines]
            rows = [r for r in rows if not all(re.fullmatch(r":?-{3,}:?", c) for c in r)]
            head, *body = rows
            html = "<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>"
            for r in body:
                html += "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>"
            out.append(html + "</table>")
        elif all(re.match(r"\s*([-*]|\d+\.) ", ln) or ln.startswith("  ") for ln in lines):
            items: list[str] = []
            for ln in lines:
                m = re.match(r"\s*([-*]|\d+\.) (.*)", ln)
                if m and not ln.startswith("   "):
                    items.append(m.group(2))
                elif items:
                    items[-1] += " " + ln.strip()
            tag = "ol" if re.match(r"\s*\d+\.", lines[0]) else "ul"
            out.append(f"<{tag}>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + f"</{tag}>")
        elif lines[0].startswith("```"):
            code = "\n".join(ln for ln in lines if not ln.startswith("```"))
            out.append(f"<pre>{escape(code, quote=False)}</pre>")
        else:
            out.append("<p>" + _inline(" ".join(ln.strip() for ln in lines)) + "</p>")
    return "\n".join(out)


def methods_section(section_ids: Sequence[str]) -> Section:
    """The appendix "Methods": the definitions the report's sections rest on, in methods.md's
    order."""
    nums: list[str] = []
    for sid in [*section_ids, "quality"]:
        key = "segments" if sid.startswith("segments-") else sid
        for n in METHODS_FOR.get(key, ()):
            if n not in nums:
                nums.append(n)
    data = _methods()
    nums = sorted((n for n in nums if n in data), key=_order)
    shown = {**data, **_translated(current_language())}  # a stale or missing translation: the English
    items = [
        {"number": n, "title": shown[n]["title"], "html": Markup(markdown_html(shown[n]["text"]))}
        for n in nums
    ]
    html = render_fragment("_methods.html.j2", items=items)
    return Section(
        id="methods",
        title=_("Methods"),
        html=html,
        data={"sections": [{"number": n, "title": data[n]["title"]} for n in nums]},
        lead=_("The definitions behind every number in this report, as flowlens documents them."),
        appendix=True,
    )


def reproduce_section(provenance: Mapping[str, Any]) -> Section:
    """The appendix "How to reproduce this report": command, versions, seed, input checksums."""
    html = render_fragment("_reproduce.html.j2", p=provenance)
    return Section(
        id="reproduce",
        title=_("How to reproduce this report"),
        html=html,
        data={},  # the same facts are results.json's provenance
        lead=_("The same command, versions, seed and input files give the same report, byte for byte."),
        appendix=True,
    )


if __name__ == "__main__":  # pragma: no cover - a maintainer's command
    sys.stdout.write(f"{update(sys.argv[1] if len(sys.argv) > 1 else 'docs/methods.md')}\n")
