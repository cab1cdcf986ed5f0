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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

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


# --- Sentences built where the language is not yet known --------------------------------------
#
# The findings and analyses stages write sentences (a finding's title, evidence and remedy, a
# segment's sentence) long before the report is rendered, and results.json keeps them in
# English. Such a sentence is a :class:`Message`: a ``str`` whose value is the English text (so
# every existing use, JSON and the English report see exactly that), which also remembers its
# marked template and parameters, so :func:`localize` renders it in the report's language at
# render time. Numbers inside it are :class:`flowlens.units.Value` s: their English text as the stage wrote it,
# and their kind, so another language formats them its own way (万, 天, 12.3%).


class Message(str):
    """A sentence whose ``str`` is its English text, built from a marked template (the message id)
    and parameters; :func:`localize` renders it in the current language.

    Build one with :func:`M_` (or :func:`NM_` for a count's plural forms, :func:`join_messages`
    for sentences that follow one another); the catalogue's extractor finds their templates.
    A parameter may be a :class:`flowlens.units.Value`, another :class:`Message`, or a plain value (a name from
    the log, a number the template formats the same way in every language).

    >>> from flowlens.units import duration_value
    >>> m = M_("'{a}' waits {t} in {n:,} cases", a="Check", t=duration_value(7200), n=1200)
    >>> m, type(m).__name__, m == "'Check' waits 2.0 h in 1,200 cases"
    ("'Check' waits 2.0 h in 1,200 cases", 'Message', True)
    >>> with language("en"):
    ...     localize(m)
    "'Check' waits 2.0 h in 1,200 cases"
    """

    msgid: str
    plural: str | None
    n: int
    params: dict[str, Any]
    context: str | None

    def __new__(
        cls,
        msgid: str,
        params: Mapping[str, Any] | None = None,
        *,
        plural: str | None = None,
        n: int = 1,
        context: str | None = None,
    ) -> Message:
        params = dict(params or {})
        template = msgid if plural is None or int(n) == 1 else plural
        english = template.format(**{k: _as_english(v) for k, v in params.items()})
        self = super().__new__(cls, english)
        self.msgid, self.plural, self.n, self.params, self.context = msgid, plural, int(n), params, context
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_message, (self.msgid, self.params, self.plural, self.n, self.context))

    def __localize__(self) -> str:
        return self.render()

    def render(self) -> str:
        """The sentence in the current language (exactly ``str(self)`` in English)."""
        if current_language() == SOURCE_LANGUAGE:
            return str.__str__(self)
        if self.plural is not None:
            if self.context is not None:
                template = npgettext(self.context, self.msgid, self.plural, self.n)
            else:
                template = ngettext(self.msgid, self.plural, self.n)
        else:
            template = pgettext(self.context, self.msgid) if self.context is not None else _(self.msgid)
        return template.format(**{k: localize(v) for k, v in self.params.items()})


def _rebuild_message(
    msgid: str, params: dict[str, Any], plural: str | None, n: int, context: str | None
) -> Message:
    return Message(msgid, params, plural=plural, n=n, context=context)


def _as_english(value: Any) -> Any:
    if isinstance(value, Message):
        return str.__str__(value)
    if getattr(type(value), "__localize__", None) is not None:  # a Clause, a units.Value
        return str(value)
    return value


def M_(msgid: str, /, **params: Any) -> Message:
    """A sentence to render later: ``msgid`` (marked for the catalogue) with ``params``.

    >>> M_("{n:,} cases", n=1500)
    '1,500 cases'
    """
    return Message(msgid, params)


def NM_(singular: str, plural: str, n: int, /, **params: Any) -> Message:
    """:func:`M_` for a count: the language's plural form of ``n`` (``n`` is also a parameter).

    >>> NM_("{n} case", "{n} cases", 1), NM_("{n} case", "{n} cases", 2)
    ('1 case', '2 cases')
    """
    return Message(singular, {"n": n, **params}, plural=plural, n=n)


def PM_(context: str, msgid: str, /, **params: Any) -> Message:
    """:func:`M_` with a context (see :func:`pgettext`)."""
    return Message(msgid, params, context=context)


def join_messages(parts: Sequence[Any], sep: str = " ") -> str:
    """Sentences or clauses one after another, as one :class:`Message` when any part is one
    (joined by ``sep`` in English; by the language's own separator otherwise, from the
    catalogue: Chinese sentences follow one another without a space).

    >>> join_messages([M_("A first sentence."), "Then a second."]), join_messages(["a", "b"], "; ")
    ('A first sentence. Then a second.', 'a; b')
    >>> with language("zh-CN"):
    ...     localize(join_messages([M_("Examples: {cases}", cases="c1"), M_("Examples: {cases}", cases="c2")]))
    '示例：c1示例：c2'
    """
    items = [p for p in parts]
    if not any(isinstance(p, Message) for p in items):
        return sep.join(str(p) for p in items)
    if sep not in (" ", "; "):
        raise ValueError(f"join_messages: no translatable separator for {sep!r}")
    out: Any = items[0]
    for p in items[1:]:
        if sep == " ":
            # TRANSLATORS: two sentences one after the other (Chinese: no space between them)
            out = PM_("two sentences", "{first} {second}", first=out, second=p)
        else:
            # TRANSLATORS: two clauses of one sentence, separated by a semicolon
            out = PM_("two clauses", "{first}; {second}", first=out, second=p)
    return out


class Clause:
    """A sentence used as a clause of a longer one: ``message`` without its closing full stop
    (``.`` in English, ``。`` in Chinese), in every language.

    >>> m = M_("{first}; {more}.", first=Clause(M_("Examples: {cases}.", cases="c1")), more="and more")
    >>> m
    'Examples: c1; and more.'
    """

    __slots__ = ("message",)
    _STOPS = ".。"

    def __init__(self, message: str) -> None:
        self.message = message

    def __str__(self) -> str:
        return str.__str__(self.message).rstrip(self._STOPS[0])

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Clause, (self.message,))

    def __localize__(self) -> str:
        return self.render()

    def render(self) -> str:
        if current_language() == SOURCE_LANGUAGE:
            return str(self)
        return str(localize(self.message)).rstrip(self._STOPS)


def localize(value: Any) -> Any:
    """``value`` in the current language: a :class:`Message` or :class:`flowlens.units.Value` rendered, anything
    else as it is (a value from the log, a number).

    >>> localize("Check"), localize(3)
    ('Check', 3)
    """
    render = getattr(type(value), "__localize__", None)
    return render(value) if render is not None else value


def message_frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Any:
    """``pd.DataFrame(rows, columns=columns)`` that keeps its :class:`Message` s: pandas stores text
    as its own string type, which would keep their English and drop what they were built from,
    so a column holding one is an object column.

    >>> df = message_frame([{"n": 1, "text": M_("{n} cases", n=1)}], ["n", "text"])
    >>> type(df["text"].iloc[0]).__name__, type(df["n"].iloc[0]).__name__
    ('Message', 'int64')
    """
    import pandas as pd

    out = pd.DataFrame(rows, columns=list(columns))
    for col in columns:
        values = [r.get(col) if isinstance(r, Mapping) else None for r in rows]
        if any(getattr(type(v), "__localize__", None) is not None for v in values):
            out[col] = pd.Series(values, index=out.index, dtype=object)
    return out
