"""The Jinja environment for report templates (autoescaping on for every template).

Templates get ``_`` (:func:`flowlens.i18n._`) for every sentence and heading, the filters
``duration``, ``count``, ``pct`` and ``in_unit`` (a duration as a number in a table's unit), and
``unit_for(rows, key, ...)``: the one unit (min / h / d) a table of those duration columns is
shown in (:func:`flowlens.units.duration_unit`).

>>> env = environment()
>>> env.from_string('{% set u = unit_for(rows, "s") %}{{ _("Waiting") }} ({{ u }}): '
...                 '{{ rows[0].s | in_unit(u) }}').render(rows=[{"s": 7200}, {"s": 3600}])
'Waiting (h): 2.0'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any

import jinja2

from flowlens import formats, i18n
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


#: references to files a reader of the report does not have
_FILE_REFS = [
    (re.compile(r"\s*\((?:see )?(?:the )?shared methods\.md[^()]*\)"), ""),
    (re.compile(r";\s*shared methods\.md[^();]*"), ""),
    (re.compile(r"\s*\((?:see )?domain\.md[^()]*\)"), ""),
    (re.compile(r";?\s*domain\.md(?:\s*[\d.]+)?(?:\s*\[\d+\])?;?\s*"), " "),
    (re.compile(r"(?:docs/)?methods\.md\s*"), ""),
]


def reader_text(text: str) -> str:
    """``text`` without references to files outside the report (domain.md, the shared notes),
    and methods.md named as the appendix it is copied into.

    >>> reader_text("split by cause (Lashkevich 2023; shared methods.md §2), as domain.md 6.3 says")
    'split by cause (Lashkevich 2023), as says'
    """
    for pattern, repl in _FILE_REFS:
        text = pattern.sub(repl, text)
    return re.sub(r" {2,}", " ", text).strip()


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("flowlens.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # a sentence the findings or analyses stages built (i18n.Message) is written in the
        # report's language wherever a template prints it
        finalize=i18n.localize,
    )
    env.filters["duration"] = human_duration
    env.filters["count"] = human_count
    env.filters["pct"] = percent
    env.filters["in_unit"] = in_unit
    env.filters["reader"] = reader_text
    env.globals["unit_for"] = unit_for
    env.globals["LONG_TABLE"] = LONG_TABLE
    env.globals["TOP_ROWS"] = TOP_ROWS
    install(env)  # the words (_, ngettext, {% trans %}) and language-aware filters
    return env


def render_fragment(name: str, **context: object) -> str:
    """Render one section template to an HTML string."""
    return environment().get_template(name).render(**context)


#: Template filters whose text depends on the language: evaluated at render time (see :func:`install`).
LANGUAGE_FILTERS = (
    "duration",
    "count",
    "pct",
    "number",
    "date",
    "period",
    "unit_name",
    "in_unit",
    "with_unit",
    "loc",
)


def install(env: jinja2.Environment) -> None:
    """Give the report's Jinja environment its words and language-aware filters: ``_``,
    ``gettext``, ``ngettext``, ``pgettext`` and ``{% trans %}`` blocks (Jinja's i18n extension on
    flowlens.i18n's catalogues), and the filters ``number``, ``date``, ``period`` and ``unit_name``
    (:mod:`flowlens.formats`). Call it after the other filters are set: every filter named
    in :data:`LANGUAGE_FILTERS` is made to run when the page is rendered, because Jinja folds a
    filter on a constant (``{{ 3600 | duration }}``) when it compiles a template, and templates
    are cached: the text would stay in the language of the first render.

    >>> import jinja2
    >>> env = jinja2.Environment()
    >>> env.filters["count"] = lambda n: f"{n:,}"
    >>> install(env)
    >>> t = env.from_string('{{ pgettext("chart", "no data") }}: {{ 1614708 | count }}, {{ "h" | unit_name }}')
    >>> with i18n.language("zh-CN"):
    ...     t.render()
    '无数据: 1,614,708, 小时'
    """
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n._, i18n.ngettext, newstyle=False, pgettext=i18n.pgettext, npgettext=i18n.npgettext
    )
    env.globals["_"] = i18n._
    env.filters.update(
        number=formats.number,
        date=formats.date,
        period=formats.period,
        unit_name=formats.unit_label,
        # a sentence built by an analysis (i18n.Message), in the page's language, where a
        # template formats it into a longer one (printing it with {{ }} localizes it already)
        loc=i18n.localize,
    )
    for name in LANGUAGE_FILTERS:
        fmt = env.filters.get(name)
        if fmt is not None and not getattr(fmt, "jinja_pass_arg", None):
            env.filters[name] = jinja2.pass_context(_at_render(fmt))


def _at_render(fmt: Callable[..., str]) -> Callable[..., str]:
    def live(_context: object, value: object, *args: object, **kwargs: object) -> str:
        return fmt(value, *args, **kwargs)

    return live
