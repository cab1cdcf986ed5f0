"""The report as a value: provenance plus an ordered list of sections.

A :class:`Report` is immutable; :meth:`Report.add` returns a new one. Each :class:`Section`
carries its HTML fragment (rendered with autoescaping, so every value from the log is
escaped) and the numbers behind it, which :meth:`Report.to_json` collects into
``results.json``: the same numbers as the HTML, from the same objects.

:meth:`Report.to_html` makes the finished page safe as a whole, whatever a section holds:
every control character from the log (NUL, ESC, C1, ...) is spelled visibly
(:func:`flowlens.render.text.xml_text`), and a page that would carry a link or an event
handler built from data (any ``href`` but the page's own ``#section`` anchors, any ``src``
or ``on...`` attribute) is refused with an error instead of being written.

>>> r = Report(title="demo", provenance={"source": "x.csv"})
>>> r2 = r.add(Section(id="s", title="S", html="<p>hi</p>", data={"n": 1}))
>>> len(r.sections), len(r2.sections), r2.to_json()["sections"]["s"]
(0, 1, {'n': 1})
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from markupsafe import Markup

from flowlens.errors import FlowlensError
from flowlens.render.text import visible, xml_text
from flowlens.report.templating import environment


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    html: str
    data: dict[str, Any] = field(default_factory=dict)
    #: One-line takeaway shown in the table of contents.
    lead: str = ""
    #: Inline scripts the section needs (fixed package files, never built from data): the page
    #: places each once at its end and allows it by its hash in the Content-Security-Policy.
    scripts: tuple[str, ...] = ()
    #: shown after the body, under "Appendix" (data quality, methods, how to reproduce)
    appendix: bool = False


@dataclass(frozen=True)
class Report:
    title: str
    provenance: dict[str, Any]
    sections: tuple[Section, ...] = ()

    def add(self, section: Section) -> Report:
        if any(s.id == section.id for s in self.sections):
            raise ValueError(f"the report already has a section '{section.id}'")
        return replace(self, sections=(*self.sections, section))

    def to_html(self) -> str:
        r"""The report page (module notes: control characters spelled, no outside links).

        >>> keys = "source_name start end timezone engine seed source_sha256 flowlens_version"
        >>> prov = {**dict.fromkeys(keys.split(), "x"), "cases": 1}
        >>> page = Report(title="t", provenance=prov).add(
        ...     Section(id="s", title="S", html="<p>Open account\x00</p>")).to_html()
        >>> "Open account\\x00" in page and "\x00" not in page
        True
        """
        from flowlens.i18n import language

        with language(self.provenance.get("lang") or "en"):  # the language the sections were built in
            return self._page()

    def _page(self) -> str:
        template = environment().get_template("report.html.j2")
        scripts = list(dict.fromkeys(js for s in self.sections for js in s.scripts))
        page = xml_text(
            template.render(
                title=self.title,
                provenance=self.provenance,
                sections=[replace(s, html=Markup(s.html)) for s in self.sections if not s.appendix],
                appendix=[replace(s, html=Markup(s.html)) for s in self.sections if s.appendix],
                scripts=[Markup(js) for js in scripts],
                script_hashes=[script_hash(js) for js in scripts],
            )
        )
        outside = _outside_links(page)
        if outside:
            # Every value from the log is escaped on its way in, so this is a flowlens bug:
            # better no report than one with a link a reader could follow.
            raise FlowlensError(
                f"the report would carry a link or script attribute ({visible(outside[0])[:200]}); "
                "flowlens refuses to write it",
                hint="please report this as a bug with the log's activity names",
            )
        return page

    def to_json(self) -> dict[str, Any]:
        """The numbers of the report. Floats carry 12 significant digits: sums of floats in a
        parallel engine differ in their last bits from run to run, and the same inputs and seed
        must give the same file."""
        return _rounded(
            {
                "title": self.title,
                "provenance": self.provenance,
                "sections": {s.id: s.data for s in self.sections},
            }
        )

    def write(
        self, out_dir: str | Path, *, pdf: bool = False, png: bool = False, screenshots: bool = False
    ) -> dict[str, Path]:
        """Write ``report.html``, ``results.json``, ``report.md`` and every drawing as
        ``figures/NAME.svg`` into ``out_dir``, with ``pdf`` also ``report.pdf``, with ``png``
        also ``figures/NAME.png`` and with ``screenshots`` the pictures of
        :mod:`flowlens.report.screenshots` under ``screenshots/`` (all by headless Chromium,
        :mod:`flowlens.report.pdf`), as one set: a run that fails or is killed on the way leaves the folder as it was
        (:func:`flowlens.outputs.output_folder`).

        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp()) / "out"
        >>> keys = "cases end engine flowlens_version seed source_name source_sha256 start timezone"
        >>> paths = Report(title="t", provenance=dict.fromkeys(keys.split(), 0)).write(d)
        >>> sorted(paths), paths["results"] == d / "results.json"
        (['figures', 'markdown', 'report', 'results'], True)
        """
        from flowlens.outputs import RESULTS, output_folder, write_text
        from flowlens.report.figures import figures, write_pngs, write_svgs
        from flowlens.report.markdown import report_markdown

        chromium = None
        if pdf or png or screenshots:  # before anything is written: a missing browser is a one-line error
            from flowlens.report.pdf import browser_option, find_chromium

            chromium = find_chromium(browser_option(pdf=pdf, png=png))
        html = self.to_html()
        data = json.dumps(self.to_json(), indent=2, ensure_ascii=False, default=_json_default) + "\n"
        figs = figures(self)
        with output_folder(out_dir, kind="report") as out:
            report = write_text(out.path / "report.html", html)
            paths = {"report": report, "markdown": write_text(out.path / "report.md", report_markdown(self))}
            folder = out.path / "figures"
            write_svgs(figs, folder)
            if png:
                write_pngs(figs, folder, chromium=chromium)
            paths["figures"] = folder
            if pdf:
                from flowlens.report.pdf import print_pdf

                paths["pdf"] = print_pdf(report, out.path / "report.pdf", chromium=chromium)
            if screenshots:
                from flowlens.report.screenshots import write_screenshots

                write_screenshots(report, out.path / "screenshots", chromium=chromium)
                paths["screenshots"] = out.path / "screenshots"
            paths["results"] = write_text(out.path / RESULTS, data)
        return {k: out.final(v) for k, v in paths.items()}


class _Links(HTMLParser):
    """Collects link targets and event handlers of a page (tags, not text)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            local = name.rsplit(":", 1)[-1]
            runs = local.startswith("on") or local in {"src", "action", "formaction", "srcset", "ping"}
            if runs or (local == "href" and not (value or "").startswith("#")):
                self.found.append(f"{name}={value}")

    handle_startendtag = handle_starttag


def _outside_links(page: str) -> list[str]:
    """The attributes of ``page`` that link outside it or run code (empty for a safe page).

    >>> _outside_links('<a href="#map">map</a><svg><a xlink:href="javascript:x"/></svg>')
    ['xlink:href=javascript:x']
    """
    parser = _Links()
    parser.feed(page)
    parser.close()
    return parser.found


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def script_hash(source: str) -> str:
    """The CSP source expression allowing the inline script whose text is ``source``.

    >>> script_hash("x")
    'sha256-LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE='
    """
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")
