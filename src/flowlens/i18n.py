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
formatted by :mod:`flowlens.formats`.

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

    python -m flowlens.report.catalogue update      # then translate the new entries, run it again
    python -m flowlens.report.catalogue check       # exit 1 when a catalogue is stale or incomplete
"""

from __future__ import annotations

import gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from flowlens.errors import ConfigError

#: The report languages, as ``--lang`` takes them (BCP 47 tags, as the HTML ``lang`` attribute).
LANGUAGES = ("en", "zh-CN")
#: The language the messages are written in (the message ids): it needs no catalogue.
SOURCE_LANGUAGE = "en"
#: gettext domain: ``locale/<ll_CC>/LC_MESSAGES/flowlens.po``
DOMAIN = "flowlens"
LOCALE_DIR = Path(__file__).parent / "report" / "locale"

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
            "run `python -m flowlens.report.catalogue update` in a source checkout, or reinstall flowlens"
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
