"""The report's language: every sentence, heading and label goes through :func:`_`.

The language is set for a block of work with :func:`language` (the report builder sets it from
``--lang``); :func:`_` looks the English message up in that language's catalogue and returns it
unchanged when the language is English or the message has no translation yet. Messages with
placeholders are translated first and formatted after, so a translator can move them::

    _("{n} cases wait longer than {limit}").format(n=..., limit=...)

>>> with language("en"):
...     _("Why customers wait")
'Why customers wait'
>>> current_language()
'en'
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flowlens.errors import ConfigError

#: The report languages, as ``--lang`` takes them.
LANGUAGES = ("en", "zh-CN")

_current: ContextVar[str] = ContextVar("flowlens_report_language", default="en")


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
    if lang not in LANGUAGES:
        raise ConfigError(f"unknown report language {lang!r}: use one of {', '.join(LANGUAGES)}")
    token = _current.set(lang)
    try:
        yield lang
    finally:
        _current.reset(token)


def _(message: str) -> str:
    """``message`` in the current language (English text is the message id).

    >>> _("Lead time")
    'Lead time'
    """
    return message
