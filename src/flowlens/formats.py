"""Numbers, units and dates in the report's language, from Babel's locale data (CLDR).

Every function formats for the language of the innermost :func:`flowlens.i18n.language`
block (English outside any). English keeps the report's established style (``1,614,708``,
``12.3 %``, ``1.5 h``, ISO dates); other languages take their locale's conventions:

* decimals and percents with the locale's symbols and patterns (``12.3%`` in Chinese);
* large counts in the units readers of the language count in: from 10^5 on, Chinese writes
  万 (10^4) and 亿 (10^8) with four significant digits (``1,614,708`` -> ``161.5万``); below
  10^5, and wherever ``exact=True`` (a table of counts a reader adds up), every digit is kept;
* duration units with the locale's names (``min``/``h``/``d`` -> ``分钟``/``小时``/``天``);
* dates in the locale's long form (``2024年1月31日``).

Output depends on the value and the language only (decimal rounding half-even, as Babel
rounds), so a report is byte-identical from run to run.

>>> from flowlens.i18n import language
>>> count(1614708), percent(0.1234), duration_text(1.5, "h")
('1,614,708', '12.3 %', '1.5 h')
>>> with language("zh-CN"):
...     count(1614708), count(312_345_678), count(26_000), count(1614708, exact=True)
('161.5万', '3.123亿', '26,000', '1,614,708')
>>> with language("zh-CN"):
...     percent(0.1234), duration_text(1.5, "h"), duration_text(27226, "d", digits=0), unit_label("min")
('12.3%', '1.5小时', '27,226天', '分钟')
"""

from __future__ import annotations

import datetime as _dt
import math
from functools import cache
from typing import TYPE_CHECKING

from flowlens.i18n import SOURCE_LANGUAGE, current_language, gettext_locale

if TYPE_CHECKING:
    from babel import Locale

#: Below this a count keeps every digit in every language (a reader checks and adds them).
COMPACT_FROM = 10**5
#: Significant digits of a count written in 万/亿.
COMPACT_DIGITS = 4
#: Languages whose readers count large numbers in the locale's compact units (万, 亿).
_COMPACT_LANGUAGES = frozenset({"zh-CN"})
#: The report's unit symbols and Babel's (CLDR) measurement units.
_CLDR_UNITS = {
    "s": "duration-second",
    "min": "duration-minute",
    "h": "duration-hour",
    "d": "duration-day",
    "w": "duration-week",
}
MISSING = "–"


@cache
def _locale(lang: str) -> Locale:
    from babel import Locale

    return Locale.parse(gettext_locale(lang))


def _missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def number(x: float | None, digits: int = 0) -> str:
    """``x`` with ``digits`` decimals and the language's grouping and decimal signs.

    >>> number(1234.5, 1), number(0.25, 2), number(None)
    ('1,234.5', '0.25', '–')
    """
    if _missing(x):
        return MISSING
    lang = current_language()
    if lang == SOURCE_LANGUAGE:
        return f"{float(x):,.{digits}f}"
    from babel.numbers import format_decimal

    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return format_decimal(x, format=pattern, locale=_locale(lang))


def count(n: float | None, *, exact: bool = False) -> str:
    """A count: every digit below :data:`COMPACT_FROM` or with ``exact``; above it, in languages
    that count in 万/亿, the locale's compact form with :data:`COMPACT_DIGITS` significant digits.

    >>> count(26000), count(None)
    ('26,000', '–')
    """
    if _missing(n):
        return MISSING
    value = round(float(n))  # type: ignore[arg-type]
    lang = current_language()
    if exact or abs(value) < COMPACT_FROM or lang not in _COMPACT_LANGUAGES:
        return number(value, 0)
    from babel.numbers import format_decimal

    scaled, suffix = _compact(abs(value), lang)
    int_digits = len(str(int(scaled)))
    pattern = "#,##0" + ("." + "#" * (COMPACT_DIGITS - int_digits) if int_digits < COMPACT_DIGITS else "")
    text = format_decimal(scaled, format=pattern, locale=_locale(lang)) + suffix
    return ("-" if value < 0 else "") + text


def _compact(value: int, lang: str) -> tuple[float, str]:
    """``value`` divided by the locale's compact unit for its magnitude, and that unit's suffix
    (CLDR's short decimal formats: ``0万`` for 10^4, ``00万`` for 10^5, ``0亿`` for 10^8 ...)."""
    patterns = _locale(lang).compact_decimal_formats["short"]["other"]
    best: tuple[float, str] = (float(value), "")
    for magnitude in sorted(patterns, key=int):
        if int(magnitude) > value:
            break
        pattern = patterns[magnitude].pattern
        zeros = pattern.count("0")
        suffix = pattern.replace("0", "").strip()
        if zeros and suffix:
            best = (value / (int(magnitude) / 10 ** (zeros - 1)), suffix)
        else:
            best = (float(value), "")
    return best


def percent(x: float | None, digits: int = 1) -> str:
    """A share (0.123) as a percent: ``12.3 %`` in English, the locale's pattern elsewhere.

    >>> percent(0.5, 0), percent(None)
    ('50 %', '–')
    """
    if _missing(x):
        return MISSING
    lang = current_language()
    if lang == SOURCE_LANGUAGE:
        return f"{100 * float(x):.{digits}f} %"  # type: ignore[arg-type]
    from babel.numbers import format_percent

    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "") + "%"
    return format_percent(x, format=pattern, locale=_locale(lang))


def unit_label(unit: str) -> str:
    """The name of a duration unit (``s``, ``min``, ``h``, ``d``, ``w``) in the language, for
    column headings and axis titles.

    >>> unit_label("h")
    'h'
    """
    lang = current_language()
    if lang == SOURCE_LANGUAGE or unit not in _CLDR_UNITS:
        return unit
    from babel.units import get_unit_name

    return get_unit_name(_CLDR_UNITS[unit], length="short", locale=_locale(lang)) or unit


def duration_text(value: float | None, unit: str, *, digits: int = 1) -> str:
    """``value`` (already in ``unit``) with the unit: ``1.5 h`` in English, ``1.5小时`` in Chinese;
    large values as :func:`count` writes them when ``digits`` is 0.

    >>> duration_text(1614708, "h", digits=0), duration_text(None, "h")
    ('1,614,708 h', '–')
    """
    if _missing(value):
        return MISSING
    return attach_unit(count(value) if digits == 0 else number(value, digits), unit)


def attach_unit(text: str, unit: str) -> str:
    """An already formatted number and a unit: a duration unit (``s``, ``min``, ``h``, ``d``,
    ``w``) in the locale's pattern, any other unit (already translated) after a space.

    >>> attach_unit("3", "cases"), attach_unit("1.5", "h"), attach_unit("7", "")
    ('3 cases', '1.5 h', '7')
    """
    if not unit:
        return text
    lang = current_language()
    if lang == SOURCE_LANGUAGE or unit not in _CLDR_UNITS:
        return f"{text} {unit}"
    from babel.units import format_unit

    # a string value is placed in the locale's unit pattern as it is ({0}小时)
    return format_unit(text, _CLDR_UNITS[unit], length="short", locale=_locale(lang))


def date(value: _dt.date | _dt.datetime | str | None) -> str:
    """A calendar date: ISO in English (``2024-01-31``), the locale's long form elsewhere.

    >>> from flowlens.i18n import language
    >>> date("2024-01-31T09:30:00+08:00")
    '2024-01-31'
    >>> with language("zh-CN"):
    ...     date("2024-01-31T09:30:00+08:00")
    '2024年1月31日'
    """
    if value is None or value == "":
        return MISSING
    d = _as_date(value)
    lang = current_language()
    if lang == SOURCE_LANGUAGE:
        return d.isoformat()
    from babel.dates import format_date

    return format_date(d, format="long", locale=_locale(lang))


def period(start: object, end: object) -> str:
    """Two dates as a range (``2024-01-01 – 2024-06-30``; ``2024年1月1日至2024年6月30日``).

    >>> period("2024-01-01", "2024-06-30")
    '2024-01-01 – 2024-06-30'
    """
    lang = current_language()
    a, b = date(start), date(end)  # type: ignore[arg-type]
    if lang == SOURCE_LANGUAGE:
        return f"{a} – {b}"
    from flowlens.i18n import _

    return _("{start} – {end}").format(start=a, end=b)


def _as_date(value: object) -> _dt.date:
    if isinstance(value, _dt.datetime):
        return value.date()  # the wall-clock date in the value's own zone (the log's)
    if isinstance(value, _dt.date):
        return value
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return value.to_pydatetime().date()  # type: ignore[union-attr]
    text = str(value).strip()
    try:
        return _dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return _dt.date.fromisoformat(text[:10])
