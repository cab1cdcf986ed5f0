"""The Jinja environment for report templates (autoescaping on for every template).

Templates write their words as ``{{ _("Lead time") }}`` (or ``ngettext``/``pgettext``, and
``{% trans %}`` blocks): the messages of :mod:`flowlens.report.i18n`, in the language of the
block the page is rendered in; numbers and dates through the filters ``count``, ``pct``,
``duration``, ``number``, ``date`` and ``period`` (:mod:`flowlens.report.formats`).

>>> from flowlens.report.i18n import language
>>> t = environment().from_string('{{ pgettext("chart", "no data") }}: {{ 1614708 | count }}')
>>> with language("zh-CN"):
...     t.render()
'无数据: 161.5万'
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import jinja2

from flowlens.report import formats, i18n
from flowlens.units import human_count, human_duration, percent


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("flowlens.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    # the catalogue is looked up at render time (the language is the render's, not the cache's)
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n._, i18n.ngettext, newstyle=False, pgettext=i18n.pgettext, npgettext=i18n.npgettext
    )
    env.globals["_"] = i18n._
    for name, fmt in {
        "duration": human_duration,
        "count": human_count,
        "pct": percent,
        "number": formats.number,
        "date": formats.date,
        "period": formats.period,
    }.items():
        env.filters[name] = _at_render(fmt)
    return env


def _at_render(fmt: Callable[..., str]) -> Callable[..., str]:
    """``fmt`` as a filter evaluated when the page is rendered: Jinja folds a filter on a constant
    (``{{ 3600 | duration }}``) when it compiles the template, which is cached, so the text
    would stay in the language of the first render."""

    @jinja2.pass_context
    def live(_context: object, value: object, *args: object, **kwargs: object) -> str:
        return fmt(value, *args, **kwargs)

    return live


def render_fragment(name: str, **context: object) -> str:
    """Render one section template to an HTML string."""
    return environment().get_template(name).render(**context)
