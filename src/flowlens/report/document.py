"""The report as a value: provenance plus an ordered list of sections.

A :class:`Report` is immutable; :meth:`Report.add` returns a new one. Each :class:`Section`
carries its HTML fragment (rendered with autoescaping, so every value from the log is
escaped) and the numbers behind it, which :meth:`Report.to_json` collects into
``results.json``: the same numbers as the HTML, from the same objects.

>>> r = Report(title="demo", provenance={"source": "x.csv"})
>>> r2 = r.add(Section(id="s", title="S", html="<p>hi</p>", data={"n": 1}))
>>> len(r.sections), len(r2.sections), r2.to_json()["sections"]["s"]
(0, 1, {'n': 1})
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from markupsafe import Markup

from flowlens.report.templating import environment


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    html: str
    data: dict[str, Any] = field(default_factory=dict)
    #: One-line takeaway shown in the table of contents.
    lead: str = ""


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
        template = environment().get_template("report.html.j2")
        return template.render(
            title=self.title,
            provenance=self.provenance,
            sections=[replace(s, html=Markup(s.html)) for s in self.sections],
        )

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

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``report.html`` and ``results.json`` into ``out_dir``, as one set: a run that
        fails or is killed on the way leaves the folder as it was (:func:`flowlens.outputs.output_folder`).

        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp()) / "out"
        >>> keys = "cases end engine flowlens_version seed source_name source_sha256 start timezone"
        >>> paths = Report(title="t", provenance=dict.fromkeys(keys.split(), 0)).write(d)
        >>> sorted(paths), paths["results"] == d / "results.json"
        (['report', 'results'], True)
        """
        from flowlens.outputs import RESULTS, output_folder, write_text

        html = self.to_html()
        data = json.dumps(self.to_json(), indent=2, ensure_ascii=False, default=_json_default) + "\n"
        with output_folder(out_dir, kind="report") as out:
            report = write_text(out.path / "report.html", html)
            results = write_text(out.path / RESULTS, data)
        return {"report": out.final(report), "results": out.final(results)}


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
