"""The Jinja environment for report templates (autoescaping on for every template).

Templates get ``_`` (:func:`flowlens.report.i18n._`) for every sentence and heading, the filters
``duration``, ``count``, ``pct`` and ``in_unit`` (a duration as a number in a table's unit), and
``unit_for(rows, key, ...)``: the one unit (min / h / d) a table of those duration columns is
shown in (:func:`flowlens.units.duration_unit`).

>>> env = environment()
>>> env.from_string('{% set u = unit_for(rows, "s") %}{{ _("Waiting") }} ({{ u }}): '
...                 '{{ rows[0].s | in_unit(u) }}').render(rows=[{"s": 7200}, {"s": 3600}])
'Waiting (h): 2.0'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

import jinja2

from flowlens.report import i18n
from flowlens.units import duration_unit, human_count, human_duration, in_unit, percent

#: A table longer than this shows its first TOP_ROWS rows, the rest behind a <details>.
LONG_TABLE = 10
TOP_ROWS = 8


def unit_for(rows: Iterable[Any], *keys: str) -> str:
    """The display unit of the duration columns ``keys`` of ``rows`` (dicts or objects)."""
    values: list[float | None] = []
    for r in rows:
        for k in keys:
            v = r.get(k) if isinstance(r, Mapping) else getattr(r, k, None)
            if isinstance(v, (int, float)):
                values.append(float(v))
            elif isinstance(v, (list, tuple)):
                values.extend(float(x) for x in v if isinstance(x, (int, float)))
    return duration_unit(values)


def _reader_text(text: str) -> str:
    from flowlens.report.appendix import reader_text

    return reader_text(str(text))


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("flowlens.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["duration"] = human_duration
    env.filters["count"] = human_count
    env.filters["pct"] = percent
    env.filters["in_unit"] = in_unit
    env.filters["reader"] = _reader_text
    env.globals["unit_for"] = unit_for
    env.globals["LONG_TABLE"] = LONG_TABLE
    env.globals["TOP_ROWS"] = TOP_ROWS
    i18n.install(env)  # the words (_, ngettext, {% trans %}) and language-aware filters
    return env


def render_fragment(name: str, **context: object) -> str:
    """Render one section template to an HTML string."""
    return environment().get_template(name).render(**context)
