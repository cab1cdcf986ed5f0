"""Assembling the standard report from a log: the walking skeleton later issues extend.

>>> import flowlens, pandas as pd
>>> from flowlens.report.build import build_report
>>> df = pd.DataFrame({"case": ["1", "1"], "activity": ["open", "close"],
...                    "timestamp": ["2024-01-01 09:00", "2024-01-01 10:00"]})
>>> report = build_report(flowlens.read_log(df))
>>> [s.id for s in report.sections]
['summary', 'quality', 'map', 'variants']
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from flowlens import __version__
from flowlens.discovery.cases import case_durations
from flowlens.discovery.dfg import directly_follows
from flowlens.discovery.variants import variants
from flowlens.report.document import Report
from flowlens.report.sections import map_section, quality_section, summary_section, variants_section

if TYPE_CHECKING:
    from flowlens.log import EventLog

Step = Callable[[str], object]


def _sha256(path: str) -> str | None:
    p = Path(path)
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with p.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def provenance(log: EventLog, *, seed: int | None = None) -> dict[str, object]:
    """What the report was made from: enough to reproduce it."""
    s = log.summary()
    return {
        "flowlens_version": __version__,
        "source": log.source.path,
        "source_name": Path(log.source.path).name,
        "source_sha256": _sha256(log.source.path),
        "format": log.source.format,
        "timezone": log.timezone,
        "engine": log.engine.name,
        "columns": log.columns.to_dict(),
        "filters": list(log.filters),
        "seed": seed,
        "cases": s.cases,
        "start": s.start,
        "end": s.end,
    }


def build_report(
    log: EventLog,
    *,
    title: str | None = None,
    seed: int | None = None,
    top_variants: int = 20,
    step: Callable[[str], object] | None = None,
) -> Report:
    """The standard report of ``log``: summary, data quality, process map, variants.

    ``step`` is called with a label before each analysis (the CLI shows progress with it).
    """

    def tick(label: str) -> None:
        if step is not None:
            step(label)

    tick("summary")
    summary = log.summary()
    durations = case_durations(log)
    report = Report(
        title=title or f"Process report: {Path(log.source.path).name}",
        provenance=provenance(log, seed=seed),
    )
    report = report.add(summary_section(log, summary, durations))
    report = report.add(quality_section(log, summary))
    tick("process map")
    report = report.add(map_section(log, directly_follows(log)))
    tick("variants")
    report = report.add(variants_section(variants(log), top=top_variants))
    return report
