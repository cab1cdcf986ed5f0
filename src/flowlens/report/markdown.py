r"""The report as Markdown (``report.md``): the same sections, sentences and tables as the page.

Each section's HTML is turned into Markdown by a small converter for what the report's
templates use: headings, paragraphs, lists, tables (pipe tables; a table's rows under
``<details>`` are kept), emphasis and code; each drawing becomes a link to its file under
``figures/`` (:mod:`flowlens.report.figures`), and the interactive map's controls and scripts
are left out. Text from the log is escaped for Markdown: every character Markdown or the HTML
it may carry could read as syntax (``\ ` * _ [ ] < > | #`` and the rest of ASCII punctuation
that starts a construct, ``[]`` being escaped, ``(`` after it is plain) is backslash-escaped, so a name like ``<script>`` or ``[x](y)`` reads
as written and never becomes a tag or a link.

>>> md_escape("a <b> | [x](y) *z*")
'a \\<b\\> \\| \\[x\\](y) \\*z\\*'
>>> from flowlens.report.document import Report, Section
>>> r = Report(title="T", provenance={}).add(Section(id="s", title="S", lead="One.",
...     html="<p>Hi <b>there</b></p><table><tr><th>a</th></tr><tr><td>1 | 2</td></tr></table>"))
>>> print(report_markdown(r))
# T
<BLANKLINE>
## S
<BLANKLINE>
One.
<BLANKLINE>
Hi **there**
<BLANKLINE>
| a |
| --- |
| 1 \| 2 |
<BLANKLINE>
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import TYPE_CHECKING

from flowlens.i18n import language, localize
from flowlens.render.text import visible

if TYPE_CHECKING:
    from flowlens.report.document import Report

_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")
_BREAKS = re.compile(r"[\t\n\r]+")
_SKIP = {"style", "script", "noscript", "input", "fieldset", "svg"}
_BLOCK = {"p", "div", "section", "ul", "ol", "table", "details", "h2", "h3", "h4", "h5", "blockquote"}


def md_escape(text: str) -> str:
    """``text`` with Markdown's syntax characters backslash-escaped (module notes)."""
    return _SPECIAL.sub(r"\\\1", text)


class _Converter(HTMLParser):
    """HTML fragment -> Markdown blocks."""

    def __init__(self, section_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.section_id = section_id
        self.blocks: list[str] = []
        self.line: list[str] = []
        self.skip = 0
        self.skip_tag: list[str] = []
        self.svgs = 0
        self.list_stack: list[str] = []
        self.table: list[list[str]] | None = None
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.header_rows = 0
        self.live = 0  # inside the interactive map's panel (left out)

    # -- text collection
    def _out(self) -> list[str]:
        return self.cell if self.cell is not None else self.line

    def _flush(self) -> None:
        text = " ".join("".join(self.line).split())
        if text:
            self.blocks.append(text)
        self.line = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if self.skip or self.live:
            if tag == self.skip_tag[-1] if self.skip_tag else False:
                self.skip += 1
            if self.live and tag == "div":
                self.live += 1
            return
        if tag == "div" and "fl-live-panel" in (a.get("class") or ""):
            self.live = 1
            return
        if tag == "svg":
            self.svgs += 1
            name = f"{self.section_id}-{self.svgs}"
            self._flush()
            self.blocks.append(f"![{name}](figures/{name}.svg)")
        if tag in _SKIP:
            self.skip, self.skip_tag = 1, [tag]
            return
        if (tag in _BLOCK or tag == "br") and self.cell is None:
            self._flush()
        if tag in {"h2", "h3", "h4", "h5"}:
            self.line.append("#" * int(tag[1]) + " ")
        elif tag == "summary":
            self._flush()
        elif tag in {"ul", "ol"}:
            self.list_stack.append(tag)
        elif tag == "li":
            self._flush()
            self.line.append("- " if not self.list_stack or self.list_stack[-1] == "ul" else "1. ")
        elif tag in {"b", "strong"}:
            self._out().append("**")
        elif tag in {"i", "em"}:
            self._out().append("*")
        elif tag == "code":
            self._out().append("`")
        elif tag == "span":
            out = self._out()
            if out and out[-1] and not out[-1][-1].isspace():
                out.append(" ")
        elif tag == "table":
            self.table, self.header_rows = [], 0
        elif tag == "tr" and self.table is not None:
            self.row = []
        elif tag in {"td", "th"} and self.row is not None:
            self.cell = []
            if tag == "th" and not self.row:
                self.header_rows += 1 if len(self.table or []) == 0 else 0

    def handle_endtag(self, tag: str) -> None:
        if self.live:
            if tag == "div":
                self.live -= 1
            return
        if self.skip:
            if tag == self.skip_tag[-1]:
                self.skip -= 1
                if not self.skip:
                    self.skip_tag = []
            return
        if tag in {"b", "strong"}:
            self._out().append("**")
        elif tag in {"i", "em"}:
            self._out().append("*")
        elif tag == "code":
            self._out().append("`")
        elif tag in {"td", "th"} and self.cell is not None and self.row is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.row is not None and self.table is not None:
            self.table.append(self.row)
            self.row = None
        elif tag == "table" and self.table is not None:
            self._flush()
            self.blocks.append(_pipe_table(self.table))
            self.table = None
        elif tag in {"ul", "ol"} and self.list_stack:
            self.list_stack.pop()
            self._flush()
        elif (tag in _BLOCK or tag in {"li", "summary"}) and self.cell is None:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self.skip or self.live:
            return
        # line breaks in the HTML source are spaces; any other control character is spelled
        self._out().append(md_escape(visible(_BREAKS.sub(" ", data))))

    def close(self) -> None:
        super().close()
        self._flush()


def _pipe_table(rows: list[list[str]]) -> str:
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * width]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def section_markdown(section_id: str, html: str) -> str:
    """One section's HTML fragment as Markdown blocks separated by blank lines."""
    conv = _Converter(section_id)
    conv.feed(html)
    conv.close()
    return "\n\n".join(b for b in conv.blocks if b)


def report_markdown(report: Report) -> str:
    """The whole report as Markdown: title, provenance line, then every section with its
    one-sentence answer, text and tables (module notes)."""
    p = report.provenance
    out = [f"# {md_escape(visible(report.title))}"]
    if p.get("source_name"):
        line = f"{p.get('source_name')} · {p.get('cases')} cases · {p.get('start')} – {p.get('end')} ({p.get('timezone')})"
        out.append(md_escape(visible(line)))
    for s in report.sections:
        out.append(f"## {md_escape(visible(s.title))}")
        if s.lead:
            with language(
                p.get("lang") or "en"
            ):  # a lead built by an analysis is read in the report's language
                out.append(md_escape(visible(localize(s.lead))))
        body = section_markdown(s.id, s.html)
        if body:
            out.append(body)
    if p.get("flowlens_version"):
        sha = p.get("source_sha256")
        out.append(
            md_escape(
                f"Made by flowlens {p.get('flowlens_version')} from {visible(p.get('source_name'))} "
                f"(sha256 {sha[:16] + '…' if sha else 'n/a'}), time zone {p.get('timezone')}, "
                f"engine {p.get('engine')}, seed {p.get('seed')}."
            )
        )
    return "\n\n".join(out) + "\n"
