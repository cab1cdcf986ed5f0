"""The Jinja environment for report templates (autoescaping on for every template)."""

from __future__ import annotations

from functools import cache

import jinja2

from flowlens.report import i18n
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
    )
    env.filters["duration"] = human_duration
    env.filters["count"] = human_count
    env.filters["pct"] = percent
    i18n.install(env)  # the words (_, ngettext, {% trans %}) and language-aware filters
    return env


def render_fragment(name: str, **context: object) -> str:
    """Render one section template to an HTML string."""
    return environment().get_template(name).render(**context)
