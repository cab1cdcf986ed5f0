"""The report's language: every sentence, heading and label goes through :func:`_`.

The language is set for a block of work with :func:`language` (the report builder sets it from
``--lang``); :func:`_` looks the English message up in that language's gettext catalogue
(``locale/<ll_CC>/LC_MESSAGES/flowlens.mo`` next to this module, compiled from the ``.po`` a
translator edits; loaded once and cached) and returns it unchanged when the language is English
or the message has no translation yet. Messages with placeholders are translated first and
formatted after, so a translator can move them::

    _("{n} cases wait longer than {limit}").format(n=..., limit=...)

Counts take the plural form of the language (:func:`ngettext`); a short word whose meaning
depends on where it stands takes a context (:func:`pgettext`). Numbers, units and dates are
formatted by :mod:`flowlens.report.formats`.

>>> with language("en"):
...     _("Why customers wait")
'Why customers wait'
>>> with language("zh-CN"):
...     pgettext("chart", "no data")
'无数据'
>>> current_language()
'en'

After new messages are marked (``_("...")`` in ``src/flowlens/report`` or the cli, ``{{
_("...") }}`` in a template), one command extracts them, updates every language's ``.po`` and
compiles the ``.mo`` (docs/translating.md)::

    python -m flowlens.report.i18n update      # then translate the new entries, run it again
    python -m flowlens.report.i18n check       # exit 1 when a catalogue is stale or incomplete
"""

from __future__ import annotations

import gettext
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from flowlens.errors import ConfigError

if TYPE_CHECKING:
    import jinja2

#: The report languages, as ``--lang`` takes them (BCP 47 tags, as the HTML ``lang`` attribute).
LANGUAGES = ("en", "zh-CN")
#: The language the messages are written in (the message ids): it needs no catalogue.
SOURCE_LANGUAGE = "en"
#: gettext domain: ``locale/<ll_CC>/LC_MESSAGES/flowlens.po``
DOMAIN = "flowlens"
LOCALE_DIR = Path(__file__).parent / "locale"

_current: ContextVar[str] = ContextVar("flowlens_report_language", default=SOURCE_LANGUAGE)


def check_language(lang: str) -> str:
    """``lang`` as one of :data:`LANGUAGES` (case and ``_``/``-`` forgiven), or a one-line error.

    >>> check_language("zh_cn"), check_language("EN")
    ('zh-CN', 'en')
    >>> check_language("fr")
    Traceback (most recent call last):
    ...
    flowlens.errors.ConfigError: unknown report language 'fr': use one of en, zh-CN
    """
    key = str(lang).strip().replace("_", "-").lower()
    for known in LANGUAGES:
        if known.lower() == key:
            return known
    raise ConfigError(f"unknown report language {lang!r}: use one of {', '.join(LANGUAGES)}")


def gettext_locale(lang: str) -> str:
    """The gettext/Babel locale name of a report language: ``zh-CN`` -> ``zh_CN``."""
    return check_language(lang).replace("-", "_")


def current_language() -> str:
    """The language set by the innermost :func:`language` block (``en`` outside any)."""
    return _current.get()


@contextmanager
def language(lang: str) -> Iterator[str]:
    """Use ``lang`` for every :func:`_` call in the block.

    >>> with language("zh-CN"):
    ...     current_language()
    'zh-CN'
    >>> with language("fr"):
    ...     pass
    Traceback (most recent call last):
    ...
    flowlens.errors.ConfigError: unknown report language 'fr': use one of en, zh-CN
    """
    token = _current.set(check_language(lang))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def catalogue_path(lang: str, suffix: str = ".mo") -> Path:
    """Where the compiled (``.mo``) or editable (``.po``) catalogue of ``lang`` lives."""
    return LOCALE_DIR / gettext_locale(lang) / "LC_MESSAGES" / f"{DOMAIN}{suffix}"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalogue of ``lang``, read once per process.

    English (the message ids) needs none. A language listed in :data:`LANGUAGES` whose ``.mo``
    is missing is an installation error: the report would silently come out in English.
    """
    lang = check_language(lang)
    if lang == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    path = catalogue_path(lang)
    if not path.is_file():
        raise ConfigError(
            f"the {lang} message catalogue {path} is missing: "
            "run `python -m flowlens.report.i18n update` in a source checkout, or reinstall flowlens"
        )
    with path.open("rb") as fh:
        return gettext.GNUTranslations(fh)


def _(message: str) -> str:
    """``message`` in the current language (English text is the message id).

    >>> _("Lead time")
    'Lead time'
    """
    return translations(_current.get()).gettext(message)


def N_(message: str) -> str:
    """Marks ``message`` for the catalogue without translating it: for constants defined at import
    time (a section title), translated with :func:`_` where they are shown.

    >>> TITLE = N_("Bottlenecks")
    >>> TITLE, _(TITLE)
    ('Bottlenecks', 'Bottlenecks')
    """
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a message for the count ``n`` in the current language (Chinese has one form;
    English two); format it after: ``ngettext("{n} case", "{n} cases", n).format(n=...)``.

    >>> ngettext("{n} case", "{n} cases", 1).format(n=1), ngettext("{n} case", "{n} cases", 3).format(n=3)
    ('1 case', '3 cases')
    """
    return translations(_current.get()).ngettext(singular, plural, int(n))


def pgettext(context: str, message: str) -> str:
    """``message`` translated in ``context``, for short words whose translation depends on where
    they stand (a unit ``d`` is not a column named ``d``).

    >>> with language("zh-CN"):
    ...     pgettext("chart", "no data")
    '无数据'
    """
    return translations(_current.get()).pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    """:func:`ngettext` with a context (see :func:`pgettext`)."""
    return translations(_current.get()).npgettext(context, singular, plural, int(n))


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
)


def install(env: jinja2.Environment) -> None:
    """Give the report's Jinja environment its words and language-aware filters: ``_``,
    ``gettext``, ``ngettext``, ``pgettext`` and ``{% trans %}`` blocks (Jinja's i18n extension on
    this module's catalogues), and the filters ``number``, ``date``, ``period`` and ``unit_name``
    (:mod:`flowlens.report.formats`). Call it after the other filters are set: every filter named
    in :data:`LANGUAGE_FILTERS` is made to run when the page is rendered, because Jinja folds a
    filter on a constant (``{{ 3600 | duration }}``) when it compiles a template, and templates
    are cached: the text would stay in the language of the first render.

    >>> import jinja2
    >>> env = jinja2.Environment()
    >>> env.filters["count"] = lambda n: f"{n:,}"
    >>> install(env)
    >>> t = env.from_string('{{ pgettext("chart", "no data") }}: {{ 1614708 | count }}, {{ "h" | unit_name }}')
    >>> with language("zh-CN"):
    ...     t.render()
    '无数据: 1,614,708, 小时'
    """
    import jinja2

    from flowlens.report import formats

    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _, ngettext, newstyle=False, pgettext=pgettext, npgettext=npgettext
    )
    env.globals["_"] = _
    env.filters.update(
        number=formats.number, date=formats.date, period=formats.period, unit_name=formats.unit_label
    )
    for name in LANGUAGE_FILTERS:
        fmt = env.filters.get(name)
        if fmt is not None and not getattr(fmt, "jinja_pass_arg", None):
            env.filters[name] = jinja2.pass_context(_at_render(fmt))


def _at_render(fmt: Callable[..., str]) -> Callable[..., str]:
    def live(_context: object, value: object, *args: object, **kwargs: object) -> str:
        return fmt(value, *args, **kwargs)

    return live


def main(argv: list[str] | None = None) -> int:
    """``python -m flowlens.report.i18n update|check|extract POT`` (see :mod:`flowlens.report.catalogue`)."""
    from flowlens.report.catalogue import cli

    return cli(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
