"""Locale-aware template helpers: dates, numbers and currency in the recipient's locale.

`format_date`, `format_datetime`, `format_number`, `format_decimal`, `format_percent` and
`format_currency` are filters that format for the recipient's `locale` with Babel, imported on
first use. A value a helper cannot format fails the render naming the helper and the template
expression it was applied to (`format_currency: 'context.total' is not a number`), never the
value: `name_helper_sources` writes that expression into each helper call at compile time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from functools import lru_cache
from typing import Any

from jinja2 import TemplateRuntimeError, Undefined, nodes, pass_context
from jinja2.runtime import Context

from campaign_engine.render import limits
from campaign_engine.render.undefined import child_path

__all__ = [
    "HELPERS",
    "format_currency",
    "format_date",
    "format_datetime",
    "format_decimal",
    "format_number",
    "format_percent",
    "name_helper_sources",
]

# The compiler adds this keyword to every helper call: the template expression the helper was
# applied to (`context.total`), so a value it cannot format is named without quoting the value.
_SOURCE_KEYWORD = "_source"
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_CURRENCY_CODE = re.compile(r"[A-Za-z]{3}")
_MAGNITUDE_LIMIT = 100  # digits either side of the point; 1e999999 would print a megabyte
# CLDR separates "R$" from its amount, digit groups ("1 234" in fr) and "AM" with no-break
# spaces. HTML keeps them (the amount never wraps away from its symbol); text parts get plain
# spaces: subjects stay plain, and one U+00A0 would turn an SMS from GSM-7 into UCS-2 at twice the cost.
_PLAIN_SPACES = str.maketrans(dict.fromkeys("\u00a0\u202f\u2007\u2009", " "))


class _HelperError(TemplateRuntimeError):
    """A value a helper cannot format. The message names the helper and the template expression."""


def _subject(source: str | None) -> str:
    return repr(source) if source else "the value given"


def _defined(value: Any, helper: str) -> Any:
    if isinstance(value, Undefined):  # "format_currency: 'context.total' is undefined"
        raise value._undefined_exception(f"{helper}: {value._undefined_message}")
    return value


def _text_option(value: Any, helper: str, option: str) -> str | None:
    value = _defined(value, helper)
    if value is None:
        return value
    if isinstance(value, str):
        # A pattern of a million zeros would have Babel print a million digits.
        if len(value) > limits.TEXT_OPTION_LIMIT:
            raise _HelperError(f"{helper}: {option} is over {limits.TEXT_OPTION_LIMIT} characters")
        return value
    raise _HelperError(f"{helper}: {option} must be a string")


@lru_cache(maxsize=128)
def _babel_locale(tag: str) -> Any:
    """`pt-BR` -> babel's `pt_BR`; a region Babel does not know falls back to its language, and an
    unknown language to English, so a campaign locale named e.g. "default" still formats."""
    from babel import Locale, UnknownLocaleError

    identifier = tag.strip().replace("-", "_")
    for candidate in (identifier, identifier.split("_", 1)[0], "en"):
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError, TypeError):
            continue
    raise AssertionError("babel has no English locale data")  # pragma: no cover


def _locale_of(ctx: Context, override: Any, helper: str) -> Any:
    tag = _text_option(override, helper, "locale")
    if tag is None:
        scoped = ctx.get("locale")
        tag = scoped if isinstance(scoped, str) else "en"
    return _babel_locale(tag or "en")


def _number(value: Any, helper: str, source: str | None) -> Decimal:
    value = _defined(value, helper)
    number: Decimal | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value)) if math.isfinite(value) else None
    elif isinstance(value, Decimal):
        number = value if value.is_finite() else None
    elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        number = Decimal(value.strip())
    if number is None:
        raise _HelperError(f"{helper}: {_subject(source)} is not a number")
    if number and abs(number.adjusted()) > _MAGNITUDE_LIMIT:
        raise _HelperError(f"{helper}: {_subject(source)} is out of range")
    return number


def _moment(value: Any, helper: str, source: str | None) -> date | datetime:
    """A datetime, a date, an ISO-8601 string (`2026-12-01`, `2026-12-01T09:00:00Z`, with any
    offset) or a number of seconds since the Unix epoch (UTC)."""
    value = _defined(value, helper)
    try:
        if isinstance(value, datetime | date):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            text = value.strip()
            if len(text) == 10:  # a calendar date alone is a date, not midnight UTC
                return date.fromisoformat(text)
            return datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        pass
    raise _HelperError(f"{helper}: {_subject(source)} is not an ISO-8601 date or time")


def _time_zone(value: Any, helper: str) -> tzinfo | None:
    name = _text_option(value, helper, "tz")
    if name is None:
        return None
    from babel.dates import get_timezone

    try:
        return get_timezone(name)
    except (LookupError, ValueError):
        raise _HelperError(f"{helper}: unknown time zone (use an IANA name such as 'Europe/Berlin')") from None


def _finish(ctx: Context, text: str) -> str:
    return text if ctx.eval_ctx.autoescape else text.translate(_PLAIN_SPACES)


def _formatted(ctx: Context, helper: str, what: str, call: Callable[[], str]) -> str:
    try:
        text = call()
    except Exception:  # Babel's messages may quote the pattern or the value
        raise _HelperError(f"{helper}: cannot format this {what} (check the format)") from None
    return _finish(ctx, text)


def _patterned_number(
    ctx: Context,
    helper: str,
    babel_format: Callable[..., str],
    *,
    value: Any,
    format: Any,
    locale: Any,
    source: str | None,
) -> str:
    """A number through a Babel function that takes a CLDR pattern (`format_decimal`, `format_percent`)."""
    number = _number(value, helper, source)
    pattern = _text_option(format, helper, "format")
    babel_locale = _locale_of(ctx, locale, helper)
    return _formatted(ctx, helper, "number", lambda: babel_format(number, pattern, locale=babel_locale))


@pass_context
def format_date(
    ctx: Context, value: Any, format: Any = "medium", tz: Any = None, locale: Any = None, _source: str | None = None
) -> str:
    """`{{ context.deliveryDate | format_date }}` -> "1 de dez. de 2026" in pt-BR. `format` is
    short, medium, long, full or a CLDR pattern ("d MMMM"); `tz` shows a datetime's date there."""
    moment = _moment(value, "format_date", _source)
    pattern = _text_option(format, "format_date", "format") or "medium"
    zone = _time_zone(tz, "format_date")
    if isinstance(moment, datetime):
        if zone is not None:
            moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone)
        moment = moment.date()
    from babel.dates import format_date as babel_format_date

    babel_locale = _locale_of(ctx, locale, "format_date")
    return _formatted(ctx, "format_date", "date", lambda: babel_format_date(moment, pattern, locale=babel_locale))


@pass_context
def format_datetime(
    ctx: Context, value: Any, format: Any = "medium", tz: Any = None, locale: Any = None, _source: str | None = None
) -> str:
    """`{{ context.slot | format_datetime("short", tz="America/Sao_Paulo") }}`. Without `tz`, a
    time is shown at its own offset; one without an offset is UTC."""
    moment = _moment(value, "format_datetime", _source)
    pattern = _text_option(format, "format_datetime", "format") or "medium"
    zone = _time_zone(tz, "format_datetime")
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    shown_in = zone if zone is not None else moment.tzinfo
    from babel.dates import format_datetime as babel_format_datetime

    babel_locale = _locale_of(ctx, locale, "format_datetime")
    return _formatted(
        ctx,
        "format_datetime",
        "date and time",
        lambda: babel_format_datetime(moment, pattern, tzinfo=shown_in, locale=babel_locale),
    )


@pass_context
def format_decimal(ctx: Context, value: Any, format: Any = None, locale: Any = None, _source: str | None = None) -> str:
    """`{{ context.points | format_decimal }}` -> "1.234,5" in de-DE; `format` is a CLDR number
    pattern ("#,##0.00" for two decimals)."""
    from babel.numbers import format_decimal as babel_format_decimal

    return _patterned_number(
        ctx, "format_decimal", babel_format_decimal, value=value, format=format, locale=locale, source=_source
    )


@pass_context
def format_number(ctx: Context, value: Any, locale: Any = None, _source: str | None = None) -> str:
    """`{{ context.count | format_number }}` -> "1,234" in en-US, "1.234" in pt-BR (the locale's
    standard pattern: grouped, at most three decimals)."""
    number = _number(value, "format_number", _source)
    from babel.numbers import format_decimal as babel_format_decimal

    babel_locale = _locale_of(ctx, locale, "format_number")
    return _formatted(ctx, "format_number", "number", lambda: babel_format_decimal(number, locale=babel_locale))


@pass_context
def format_percent(ctx: Context, value: Any, format: Any = None, locale: Any = None, _source: str | None = None) -> str:
    """`{{ 0.25 | format_percent }}` -> "25%" (the value is a fraction: 0.25 is 25%)."""
    from babel.numbers import format_percent as babel_format_percent

    return _patterned_number(
        ctx, "format_percent", babel_format_percent, value=value, format=format, locale=locale, source=_source
    )


@pass_context
def format_currency(
    ctx: Context,
    value: Any,
    currency: Any = None,
    format: Any = None,
    locale: Any = None,
    _source: str | None = None,
) -> str:
    """`{{ context.total | format_currency("BRL") }}` -> "R$ 1.234,56" in pt-BR, "R$1,234.56" in
    en-US: the amount in the recipient's conventions, in the currency named (ISO 4217)."""
    number = _number(value, "format_currency", _source)
    code = _text_option(currency, "format_currency", "currency")
    if code is None or not _CURRENCY_CODE.fullmatch(code.strip()):
        raise _HelperError("format_currency: the currency must be a three-letter ISO 4217 code such as 'EUR'")
    code = code.strip().upper()
    pattern = _text_option(format, "format_currency", "format")
    from babel.numbers import format_currency as babel_format_currency

    babel_locale = _locale_of(ctx, locale, "format_currency")
    return _formatted(
        ctx,
        "format_currency",
        "amount",
        lambda: babel_format_currency(number, code, pattern, locale=babel_locale),
    )


HELPERS: dict[str, Callable[..., str]] = {
    "format_date": format_date,
    "format_datetime": format_datetime,
    "format_number": format_number,
    "format_decimal": format_decimal,
    "format_percent": format_percent,
    "format_currency": format_currency,
}


def _expression_name(node: nodes.Node | None) -> str | None:
    """The template's own words for what a helper formats: `context.order.total`, `item.price`.
    Filters in between are looked through (`context.total | default(0)` -> "context.total")."""
    while isinstance(node, nodes.Filter) and node.node is not None:
        node = node.node
    keys: list[object] = []
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        if isinstance(node, nodes.Getattr):
            keys.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str | int):
            keys.append(node.arg.value)
        else:
            keys.append(...)
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    path = node.name
    for key in reversed(keys):
        path = f"{path}[...]" if key is ... else child_path(path, key)
    return path


def name_helper_sources(tree: nodes.Template) -> nodes.Template:
    """Each helper call given the `_source` keyword: the expression it formats, for its messages."""
    for node in tree.find_all(nodes.Filter):
        if node.name in HELPERS:
            # Jinja annotates `kwargs` as pairs; the parser puts `Keyword` nodes there.
            kwargs: list[Any] = [k for k in node.kwargs if getattr(k, "key", None) != _SOURCE_KEYWORD]
            source = nodes.Const(_expression_name(node.node), lineno=node.lineno)
            kwargs.append(nodes.Keyword(_SOURCE_KEYWORD, source, lineno=node.lineno))
            node.kwargs = kwargs
    return tree
