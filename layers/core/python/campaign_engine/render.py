"""Campaign templates: compile once per container, render per recipient.

Templates are written by API-key holders, and the data they read (profiles, trigger context)
comes from callers, so everything runs in Jinja2's `ImmutableSandboxedEnvironment`: no
attribute tricks (`''.__class__.__mro__`), no mutation of the data. Only the email `html`
part is autoescaped; subjects, text, SMS and push are not HTML and would show `&amp;`.

Missing data is strict where it shows and lenient where it is tested. Walking a path that
does not exist is fine (`profile.person.name.firstName | default("there")`,
`{% if profile.vip %}`, `is defined`), but printing, iterating or computing with it fails the
render with the path it came from (`'context.offerCode' is undefined`): a blank greeting or
a missing offer code sent to thousands is worse than a message held back. JSON `null` counts
as missing, so it never prints as "None". Error messages name paths and lines, never values.

Locale-aware helpers (`format_date`, `format_datetime`, `format_number`, `format_decimal`,
`format_percent`, `format_currency`) format for the recipient's `locale` with Babel, imported on
first use. The email `html` has its `<style>` rules inlined into `style` attributes after
rendering (css-inline, imported only when the html has a `<style>`); @-rules such as media
queries, and rules for states that cannot be inlined (`:hover`), stay in a `<style>` block.
"""

from __future__ import annotations

import math
import re
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from functools import lru_cache
from html import escape as html_escape
from html import unescape as html_unescape
from html.parser import HTMLParser
from types import BuiltinFunctionType
from typing import Any

from jinja2 import (
    ChainableUndefined,
    Template,
    TemplateError,
    TemplateRuntimeError,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    nodes,
    pass_context,
)
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from campaign_engine import render_limits as limits
from campaign_engine.render_limits import RenderLimitError, RenderTimeout

__all__ = [
    "CompiledLocale",
    "RenderError",
    "RenderedMessage",
    "TemplateProblem",
    "TemplateProblems",
    "check_content",
    "check_render_bounds",
    "compile_content",
    "compiled_for",
    "html_to_text",
    "inline_css",
    "template_variables",
]

_SCALAR_PARTS: dict[str, tuple[str, ...]] = {
    "email": ("subject", "html", "text"),
    "sms": ("body",),
    "push": ("title", "body"),
}
_REQUIRED_PARTS: dict[str, tuple[str, ...]] = {"email": ("subject",), "sms": ("body",), "push": ("body",)}
_MAP_PARTS: dict[str, tuple[str, ...]] = {"push": ("data",)}
_TEMPLATE_FILENAME = "<template>"
_COMPILED_CACHE_SIZE = 512


@dataclass(frozen=True)
class TemplateProblem:
    """One template that cannot be compiled: where it is and what is wrong."""

    locale: str
    field: str
    line: int | None
    message: str
    code: str = "template_syntax"


class TemplateProblems(Exception):
    """Content that does not compile; `problems` lists every part at fault, not just the first."""

    code = "invalid_template"

    def __init__(self, problems: list[TemplateProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(_describe(p) for p in problems))


class RenderError(Exception):
    """A template that compiled but could not be rendered for this recipient. The message names
    the part, the line and the variable path; it never holds a value from the data."""

    code = "render_error"

    def __init__(
        self,
        message: str,
        *,
        locale: str | None = None,
        field: str | None = None,
        line: int | None = None,
        bound: bool = False,
    ):
        self.message = message
        self.locale = locale
        self.field = field
        self.line = line
        self.bound = bound  # the template went over a render bound (time, loops, size), whatever the data
        super().__init__(message)


@dataclass(frozen=True)
class RenderedMessage:
    """What one recipient receives. Fields the channel does not use stay None."""

    subject: str | None = None
    html: str | None = None
    text: str | None = None
    body: str | None = None
    title: str | None = None
    data: dict[str, str] | None = None


def _describe(problem: TemplateProblem) -> str:
    where = f"{problem.locale} {problem.field}".strip()
    line = f", line {problem.line}" if problem.line else ""
    return f"{where}{line}: {problem.message}"


# ---------------------------------------------------------------------------------------------
# Undefined values that know their path
# ---------------------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_INDEX_LIMIT = 20_000


def _child_path(parent: str, key: object) -> str:
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{parent}[{key}]"
    if isinstance(key, str) and _IDENTIFIER.fullmatch(key):
        return f"{parent}.{key}"
    # A computed key may be recipient data: name its place, not its value.
    return f"{parent}[...]"


class _PathIndex:
    """Where each container of the render scope sits (`id(obj)` -> `context.order.items[0]`).
    Built lazily, only when a lookup misses, so a clean render pays nothing for it."""

    def __init__(self, scope: Mapping[str, Any]) -> None:
        self._scope = scope
        self._paths: dict[int, str] | None = None

    def path_of(self, obj: object) -> str | None:
        if self._paths is None:
            self._paths = self._build()
        return self._paths.get(id(obj))

    def _build(self) -> dict[int, str]:
        paths: dict[int, str] = {}
        stack: list[tuple[object, str]] = [(value, name) for name, value in self._scope.items()]
        while stack and len(paths) < _INDEX_LIMIT:
            value, path = stack.pop()
            if isinstance(value, Mapping):
                children: Iterator[tuple[object, object]] = iter(value.items())
            elif isinstance(value, list | tuple):
                children = enumerate(value)
            else:
                continue
            if id(value) in paths:  # shared or cyclic: the first place found names it
                continue
            paths[id(value)] = path
            stack.extend((child, _child_path(path, key)) for key, child in children)
        return paths


_current_index: ContextVar[_PathIndex | None] = ContextVar("campaign_render_index", default=None)


class PathUndefined(Undefined):
    """A missing value that remembers where it was looked up. Chaining and tests work on it;
    printing, iterating, measuring or computing with it raise `UndefinedError` naming the path."""

    __slots__ = ("_undefined_null", "_undefined_path")
    _undefined_null: bool
    _undefined_path: str | None

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[TemplateRuntimeError] = UndefinedError,
        *,
        path: str | None = None,
        null: bool = False,
    ) -> None:
        super().__init__(hint, obj, name, exc)
        self._undefined_null = null
        if path is None:
            if obj is missing:
                path = name if isinstance(name, str) else None
            elif isinstance(obj, PathUndefined) and obj._undefined_path and name is not None:
                path = _child_path(obj._undefined_path, name)
            elif (index := _current_index.get()) is not None and (parent := index.path_of(obj)) and name is not None:
                path = _child_path(parent, name)
        self._undefined_path = path

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        if self._undefined_path:
            return f"{self._undefined_path!r} is {'null' if self._undefined_null else 'undefined'}"
        return super()._undefined_message

    def _child(self, key: Any) -> PathUndefined:
        if self._undefined_exception is not UndefinedError:
            # An unsafe attribute (SecurityError) stays fatal however far it is chained.
            self._fail_with_undefined_error()
        path = _child_path(self._undefined_path, key) if self._undefined_path else None
        return PathUndefined(obj=missing, name=key if isinstance(key, str) else None, path=path)

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__" and name[-2:] == "__":
            raise AttributeError(name)
        return self._child(name)

    def __getitem__(self, key: Any) -> PathUndefined:  # type: ignore[override]
        return self._child(key)

    # What the reader would see, or what would silently count as empty, fails.
    __str__ = __iter__ = __len__ = Undefined._fail_with_undefined_error

    def __repr__(self) -> str:
        return f"PathUndefined({self._undefined_path!r})"


class _MissingKeyMethod(PathUndefined):
    """`context.items` when the data has no "items" key: missing in every way (`is defined` is
    false, printing or looping fails naming the path) except that calling it still runs the
    dict method, so `context.prices.items()` keeps working."""

    __slots__ = ("_method",)

    def __init__(self, method: Any, obj: Any, name: str) -> None:
        super().__init__(obj=obj, name=name)
        self._method = method

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._method(*args, **kwargs)


class _CampaignEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, plus what JSON data needs: a key wins over a same-named dict method
    (`context.items` is the data, not `dict.items`), and `null` behaves as missing; plus the
    bounds of `render_limits` on operators and calls (intercepting `*`, `**` and `%` also keeps
    the compiler from folding `'x' * 100000000` into a constant at compile time)."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})
    code_generator_class = limits.BoundedCodeGenerator

    def bounded_buffer(self) -> limits.BoundedBuffer:
        return limits.BoundedBuffer()

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            limits.check_multiply(left, right)
        elif operator == "**":
            limits.check_power(left, right)
        elif operator == "%":
            limits.check_percent(left, right)
        result = self.binop_table[operator](left, right)
        return limits.checked(result) if operator == "+" else result

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = limits.current_budget.get()
        if budget is not None:
            budget.tick()
            if isinstance(__obj, LoopContext) and args:  # `loop(children)` in a recursive loop
                args = (budget.count(args[0]), *args[1:])
        if isinstance(__obj, BuiltinFunctionType):  # `'a'.center(n)`, `', '.join(x)`, `n.to_bytes(k)`
            args = limits.check_builtin_call(__obj, args, _own_arguments(kwargs))
        elif (template := limits.is_str_format(__obj)) is not None:
            limits.check_str_format(template, args, _own_arguments(kwargs))
        return limits.checked(super().call(__context, __obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            try:
                return self._checked(obj[attribute], obj, attribute)
            except (KeyError, TypeError):
                pass
        return self._checked(super().getattr(obj, attribute), obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        return self._checked(super().getitem(obj, argument), obj, argument)

    def _checked(self, value: Any, obj: Any, name: Any) -> Any:
        if value is None:
            return PathUndefined(obj=obj, name=name, null=True)
        if isinstance(obj, Mapping) and isinstance(name, str) and callable(value) and not isinstance(value, Undefined):
            try:
                is_key = name in obj
            except TypeError:
                is_key = False
            if not is_key:
                return _MissingKeyMethod(value, obj, name)
        return value


def _own_arguments(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments a template passed (the compiler adds its own inside loops and blocks)."""
    return {k: v for k, v in kwargs.items() if k not in ("_loop_vars", "_block_vars")}


# ---------------------------------------------------------------------------------------------
# Locale-aware helpers: dates, numbers and currency in the recipient's locale
# ---------------------------------------------------------------------------------------------

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
    number = _number(value, "format_decimal", _source)
    pattern = _text_option(format, "format_decimal", "format")
    from babel.numbers import format_decimal as babel_format_decimal

    babel_locale = _locale_of(ctx, locale, "format_decimal")
    return _formatted(
        ctx, "format_decimal", "number", lambda: babel_format_decimal(number, pattern, locale=babel_locale)
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
    number = _number(value, "format_percent", _source)
    pattern = _text_option(format, "format_percent", "format")
    from babel.numbers import format_percent as babel_format_percent

    babel_locale = _locale_of(ctx, locale, "format_percent")
    return _formatted(
        ctx, "format_percent", "number", lambda: babel_format_percent(number, pattern, locale=babel_locale)
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


_HELPERS: dict[str, Callable[..., str]] = {
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
        path = f"{path}[...]" if key is ... else _child_path(path, key)
    return path


def _name_helper_sources(tree: nodes.Template) -> nodes.Template:
    for node in tree.find_all(nodes.Filter):
        if node.name in _HELPERS:
            # Jinja annotates `kwargs` as pairs; the parser puts `Keyword` nodes there.
            kwargs: list[Any] = [k for k in node.kwargs if getattr(k, "key", None) != _SOURCE_KEYWORD]
            source = nodes.Const(_expression_name(node.node), lineno=node.lineno)
            kwargs.append(nodes.Keyword(_SOURCE_KEYWORD, source, lineno=node.lineno))
            node.kwargs = kwargs
    return tree


def _environment(*, html: bool, undefined: type[Undefined] = PathUndefined) -> _CampaignEnvironment:
    env = _CampaignEnvironment(undefined=undefined, autoescape=html, auto_reload=False, cache_size=0)
    env.filters.update(_HELPERS)
    env.filters = limits.bounded_filters(env.filters)
    env.globals.update(limits.BOUNDED_GLOBALS)
    return env


# Built once per container; Jinja environments are safe to share between renders.
_TEXT_ENV = _environment(html=False)
_HTML_ENV = _environment(html=True)
# Review renders each template once with no data, to refuse what goes over a bound whatever the
# data: a missing value there is empty (and a loop over it does not run) instead of an error.
_REVIEW_TEXT_ENV = _environment(html=False, undefined=ChainableUndefined)
_REVIEW_HTML_ENV = _environment(html=True, undefined=ChainableUndefined)


# ---------------------------------------------------------------------------------------------
# Compiling
# ---------------------------------------------------------------------------------------------


def _compile_one(
    source: Any,
    *,
    html: bool,
    locale: str,
    field_name: str,
    problems: list[TemplateProblem],
    environment: _CampaignEnvironment | None = None,
) -> Template | None:
    if not isinstance(source, str):
        problems.append(TemplateProblem(locale, field_name, None, "must be a string"))
        return None
    if len(source) > (limit := limits.source_limit(field_name.partition(".")[0])):
        too_large = f"is over {limit:,} characters"
        problems.append(TemplateProblem(locale, field_name, None, too_large, "template_too_large"))
        return None
    env = (_HTML_ENV if html else _TEXT_ENV) if environment is None else environment
    try:
        return env.from_string(limits.bound_tree(_name_helper_sources(env.parse(source)), env))
    except TemplateSyntaxError as exc:
        problems.append(TemplateProblem(locale, field_name, exc.lineno, exc.message or "invalid template syntax"))
        return None
    except (RecursionError, MemoryError, SyntaxError):  # `((((...))))` nested past what Python compiles
        problems.append(TemplateProblem(locale, field_name, None, "nests too deeply to be compiled"))
        return None


class _RenderHistory:
    __slots__ = ("seconds",)

    def __init__(self) -> None:
        self.seconds = limits.RENDER_SECONDS


@dataclass(frozen=True)
class CompiledLocale:
    """The compiled templates of one locale of one campaign version."""

    channel: str
    locale: str
    parts: Mapping[str, Template]
    data: Mapping[str, Template] = field(default_factory=dict)

    # Mutable in a frozen record: a template that ran out of time once gets less from then on.
    _history: _RenderHistory = field(default_factory=_RenderHistory, compare=False, repr=False)

    def render(self, scope: Mapping[str, Any], *, budget: limits.Budget | None = None) -> RenderedMessage:
        """Render every part for one recipient; `scope` holds profile, context, campaign, locale.
        The render is bounded (see `render_limits`); `budget` replaces the per-render one."""
        token = _current_index.set(_PathIndex(scope))
        budget_token = limits.current_budget.set(budget or limits.Budget(self._history.seconds))
        try:
            values = {name: self._render_part(name, template, scope) for name, template in self.parts.items()}
            data = {key: self._render_part(f"data.{key}", t, scope) for key, t in self.data.items()}
        finally:
            limits.current_budget.reset(budget_token)
            _current_index.reset(token)
        for name in _REQUIRED_PARTS.get(self.channel, ()):
            if not values.get(name, "").strip():
                raise RenderError(f"{self.locale} {name}: is empty after rendering", locale=self.locale, field=name)
        if self.channel == "email":
            # A subject is one header line: newlines from data would fold or inject headers.
            subject = " ".join(values["subject"].split())
            html = values.get("html") if values.get("html", "").strip() else None
            if html is not None:
                html = self._inline_css(html)
            text = values.get("text") if values.get("text", "").strip() else None
            if text is None and html is not None:
                text = html_to_text(html) or None
            if text is None and html is None:
                message = f"{self.locale} html: html and text are both empty after rendering"
                raise RenderError(message, locale=self.locale, field="html")
            return RenderedMessage(subject=subject, html=html, text=text)
        if self.channel == "sms":
            return RenderedMessage(body=values["body"])
        return RenderedMessage(body=values["body"], title=values.get("title") or None, data=data if self.data else None)

    def _inline_css(self, html: str) -> str:
        try:
            return inline_css(html)
        except Exception as exc:  # css-inline's messages can quote the document
            message = f"{self.locale} html: the CSS could not be inlined ({type(exc).__name__})"
            raise RenderError(message, locale=self.locale, field="html") from None

    def _render_part(self, name: str, template: Template, scope: Mapping[str, Any]) -> str:
        try:
            return _render_bounded(template, scope, limits.output_limit(name.partition(".")[0]))
        except Exception as exc:  # every template failure is this recipient's render_error
            line = _template_line(exc)
            where = f"{self.locale} {name}" + (f", line {line}" if line else "")
            if isinstance(exc, RenderTimeout):
                self._history.seconds = limits.SLOW_TEMPLATE_SECONDS
            if isinstance(exc, TemplateError):
                detail = exc.message or type(exc).__name__
            elif isinstance(exc, RecursionError):
                detail = "the template recurses too deeply (a macro or loop that calls itself)"
            else:
                # Python's own messages can quote values (`invalid literal for int(): '...'`).
                detail = f"{type(exc).__name__} while rendering"
            bound = isinstance(exc, RenderLimitError | RecursionError | MemoryError)
            raise RenderError(f"{where}: {detail}", locale=self.locale, field=name, line=line, bound=bound) from None


def _render_bounded(template: Template, scope: Mapping[str, Any], limit: int) -> str:
    """`template.render(scope)`, stopped as soon as its output is over `limit` characters."""
    context = template.new_context(dict(scope))
    chunks: list[str] = []
    size = 0
    try:
        for chunk in template.root_render_func(context):
            size += len(chunk)
            if size > limit:
                raise RenderLimitError(f"the output is over {limit:,} characters (a template's renders are bounded)")
            chunks.append(chunk)
    except Exception:
        template.environment.handle_exception()  # re-raises, with the template's own line numbers
    return "".join(chunks)


def _template_line(exc: BaseException) -> int | None:
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == _TEMPLATE_FILENAME]
    return lines[-1] if lines else None


def compile_content(channel: str, locale: str, parts: Mapping[str, Any]) -> CompiledLocale:
    """Compile one locale's content. Raises `TemplateProblems` listing every part that fails."""
    problems: list[TemplateProblem] = []
    compiled = _compile_locale(channel, locale, parts, problems)
    if problems or compiled is None:
        raise TemplateProblems(problems)
    return compiled


def check_content(channel: str, locales: Mapping[str, Mapping[str, Any]]) -> list[TemplateProblem]:
    """Every compile problem across all locales, for campaign review."""
    if not isinstance(locales, Mapping) or not locales:
        return [TemplateProblem("", "locales", None, "at least one locale is required")]
    problems: list[TemplateProblem] = []
    for locale, parts in locales.items():
        _compile_locale(channel, locale, parts, problems)
    return problems


REVIEW_SECONDS = 2.0


def check_render_bounds(
    channel: str, locales: Mapping[str, Mapping[str, Any]], campaign: Mapping[str, Any]
) -> list[TemplateProblem]:
    """Templates that go over a render bound (time, loops, sizes, recursion) when rendered with
    no data: they would fail every recipient, so review refuses them. What depends on the data
    (a loop over `context.items`) cannot be known here and stays a per-recipient render_error.
    All locales together get at most REVIEW_SECONDS."""
    if channel not in _SCALAR_PARTS or not isinstance(locales, Mapping):
        return []
    deadline = time.monotonic() + REVIEW_SECONDS
    problems: list[TemplateProblem] = []
    for locale, parts in locales.items():
        compiled = _compile_locale(channel, str(locale), parts, [], review=True)
        if compiled is None:
            continue
        scope = {"profile": {}, "context": {}, "campaign": dict(campaign), "locale": locale}
        budget = limits.Budget(deadline=min(deadline, time.monotonic() + limits.RENDER_SECONDS))
        try:
            compiled.render(scope, budget=budget)
        except RenderError as error:
            if error.bound:
                message = error.message.partition(": ")[2] or error.message
                problems.append(TemplateProblem(str(locale), error.field or "", error.line, message, "render_limit"))
    return problems


def _compile_locale(
    channel: str, locale: str, parts: Mapping[str, Any], problems: list[TemplateProblem], *, review: bool = False
) -> CompiledLocale | None:
    if channel not in _SCALAR_PARTS:
        problems.append(TemplateProblem(locale, "channel", None, f"unknown channel {channel!r}"))
        return None
    if not isinstance(parts, Mapping):
        problems.append(TemplateProblem(locale, "", None, "must be an object of template parts"))
        return None
    scalar_names, map_names = _SCALAR_PARTS[channel], _MAP_PARTS.get(channel, ())
    for name in parts:
        if name not in scalar_names and name not in map_names:
            problems.append(TemplateProblem(locale, str(name), None, f"is not a part of {channel} content"))
    for name in _REQUIRED_PARTS[channel]:
        if parts.get(name) is None:
            problems.append(TemplateProblem(locale, name, None, "is required"))
    if channel == "email" and parts.get("html") is None and parts.get("text") is None:
        problems.append(TemplateProblem(locale, "html", None, "html or text is required"))

    compiled: dict[str, Template] = {}
    for name in scalar_names:
        if parts.get(name) is not None:
            html = channel == "email" and name == "html"
            env = (_REVIEW_HTML_ENV if html else _REVIEW_TEXT_ENV) if review else None
            template = _compile_one(
                parts[name], html=html, locale=locale, field_name=name, problems=problems, environment=env
            )
            if template is not None:
                compiled[name] = template
    data: dict[str, Template] = {}
    for name in map_names:
        values = parts.get(name)
        if values is None:
            continue
        if not isinstance(values, Mapping):
            problems.append(TemplateProblem(locale, name, None, "must be an object of string templates"))
            continue
        for key, source in values.items():
            template = _compile_one(
                source,
                html=False,
                locale=locale,
                field_name=f"{name}.{key}",
                problems=problems,
                environment=_REVIEW_TEXT_ENV if review else None,
            )
            if template is not None:
                data[str(key)] = template
    return CompiledLocale(channel=channel, locale=locale, parts=compiled, data=data)


_cache: OrderedDict[Hashable, CompiledLocale] = OrderedDict()
_cache_lock = threading.Lock()


def compiled_for(key: Hashable, channel: str, locale: str, parts: Mapping[str, Any]) -> CompiledLocale:
    """The compiled locale for `key` (e.g. `(campaign_id, version, locale)`), compiled on first
    use and kept for the container's life (LRU-bounded). A key must identify immutable
    content: a new campaign version gets a new key. Compile failures are not cached."""
    with _cache_lock:
        if (hit := _cache.get(key)) is not None:
            _cache.move_to_end(key)
            return hit
    compiled = compile_content(channel, locale, parts)
    with _cache_lock:
        compiled = _cache.setdefault(key, compiled)
        _cache.move_to_end(key)
        while len(_cache) > _COMPILED_CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


# ---------------------------------------------------------------------------------------------
# Variables a template reads
# ---------------------------------------------------------------------------------------------

_DATA_ROOTS = frozenset({"profile", "context"})


def _chain(node: nodes.Node) -> str | None:
    """`context.order["id"]` -> "context.order.id"; None when the chain does not start at a data
    root. A computed subscript ends the chain there (`context.prices[context.tier]` -> "context.prices")."""
    keys: list[object] = []
    while True:
        if isinstance(node, nodes.Getattr):
            keys.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem):
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str | int):
                keys.append(node.arg.value)
            else:
                keys.clear()
            node = node.node
        elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name in _DATA_ROOTS:
            path = node.name
            for key in reversed(keys):
                path = _child_path(path, key)
            return path
        else:
            return None


def template_variables(source: str) -> set[str]:
    """The dotted paths under `profile` and `context` that a template reads, most specific only
    (`{"context.offerCode", "profile.person.name.firstName"}`). A trailing method call is not a
    variable (`context.name.upper()` reads "context.name"). Syntax errors yield an empty set:
    `check_content` is what reports them."""
    try:
        tree = _TEXT_ENV.parse(source)
    except TemplateSyntaxError:
        return set()
    methods = {id(call.node) for call in tree.find_all(nodes.Call) if isinstance(call.node, nodes.Getattr)}
    found: set[str] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        target = node.node if id(node) in methods and isinstance(node, nodes.Getattr) else node
        if (path := _chain(target)) is not None:
            found.add(path)
    return {p for p in found if not any(q.startswith((p + ".", p + "[")) for q in found)}


# ---------------------------------------------------------------------------------------------
# CSS inlining for HTML email
# ---------------------------------------------------------------------------------------------

_STYLE_TAG = re.compile(r"<style(?=[\s>/])", re.IGNORECASE)
# An unclosed comment or <style> runs to the end, as in a browser (and keeps the scan linear).
_STYLE_OR_COMMENT = re.compile(
    r"<!--.*?(?:-->|\Z)|<style(?=[\s>/])([^>]*)>(.*?)(?:</style\s*>|\Z)", re.IGNORECASE | re.DOTALL
)
_MEDIA_ATTRIBUTE = re.compile(r"""\bmedia\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_DOCTYPE = re.compile(r"\s*(<!doctype[^>]*>)", re.IGNORECASE)
# States and parts no style attribute can express: these rules stay in the <style> block.
_NOT_INLINABLE = re.compile(
    r"::|:(?:hover|active|focus|focus-within|focus-visible|visited|target|checked|before|after"
    r"|first-line|first-letter|placeholder|selection)\b",
    re.IGNORECASE,
)


def _css_rule_end(css: str, start: int) -> int:
    """Where the rule (or @-rule) that starts at `start` ends: after its block's closing brace,
    or after the `;` of a statement such as `@import`. Strings and comments are skipped."""
    depth, i, n = 0, start, len(css)
    while i < n:
        char = css[i]
        if char in "\"'":
            i += 1
            while i < n and css[i] != char:
                i += 2 if css[i] == "\\" else 1
        elif css.startswith("/*", i):
            close = css.find("*/", i + 2)
            i = n if close < 0 else close + 1
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth <= 0:
                return i + 1
        elif char == ";" and depth == 0:
            return i + 1
        i += 1
    return n


def _css_single_quotes(css: str) -> str:
    """`url("a.png")` -> `url('a.png')`: every CSS string in single quotes, and no `"` left in
    one (`\\22 ` instead). css-inline 0.11 writes some declarations into the `style="..."`
    attribute as they are, and a double quote there would end the attribute early."""
    if '"' not in css:
        return css
    out: list[str] = []
    i, n = 0, len(css)
    while i < n:
        char = css[i]
        if char == "/" and css.startswith("/*", i):
            close = css.find("*/", i + 2)
            end = n if close < 0 else close + 2
            out.append(css[i:end].replace('"', "'"))
            i = end
            continue
        if char not in "\"'":
            out.append(char)
            i += 1
            continue
        out.append("'")
        i += 1
        while i < n and css[i] != char:
            if css[i] == "\\" and i + 1 < n:
                escaped = css[i + 1]
                out.append("\\22 " if escaped == '"' else css[i : i + 2])
                i += 2
                continue
            out.append({'"': "\\22 ", "'": "\\'"}.get(css[i], css[i]))
            i += 1
        out.append("'")
        i += 1
    return "".join(out)


_QUOTED_STYLE_ATTRIBUTE = re.compile(r"""\bstyle\s*=\s*(?:"[^"]*&(?:quot|#0*34|#x0*22);|'[^']*")""", re.IGNORECASE)
_START_TAG = re.compile(r"""<[A-Za-z][^\s/>]*(?:"[^"]*"|'[^']*'|[^'">])*>""")
_ATTRIBUTE = re.compile(r"""([^\s"'<>/=]+)(\s*=\s*)("[^"]*"|'[^']*'|[^\s"'=<>`]+)""")


def _single_quote_style_attributes(html: str) -> str:
    """`style="font-family: &quot;Open Sans&quot;"` (as rich-text editors write it) ->
    `style="font-family: 'Open Sans'"`, for the same reason as `_css_single_quotes`."""
    if not _QUOTED_STYLE_ATTRIBUTE.search(html):
        return html

    def attribute(match: re.Match[str]) -> str:
        name, equals, raw = match.groups()
        value = html_unescape(raw[1:-1] if raw[:1] in "\"'" else raw)
        if name.lower() != "style" or '"' not in value:
            return match.group(0)
        return f'{name}{equals}"{html_escape(_css_single_quotes(value))}"'

    return _START_TAG.sub(lambda tag: _ATTRIBUTE.sub(attribute, tag.group(0)), html)


@lru_cache(maxsize=64)
def _split_css(css: str) -> tuple[str, str]:
    """(rules to inline, rules to keep in a <style> block). @-rules (`@media`, `@font-face`,
    `@import`) are kept; a rule for `:hover` and the like is kept and also offered to the inliner,
    which inlines only the selectors of its list that match elements (`p, a:hover` -> `p`)."""
    inline: list[str] = []
    keep: list[str] = []
    i, n = 0, len(css)
    while i < n:
        if css[i].isspace():
            i += 1
        elif css.startswith("/*", i):
            close = css.find("*/", i + 2)
            i = n if close < 0 else close + 2
        elif css.startswith("<!--", i) or css.startswith("-->", i):
            i += 4 if css[i] == "<" else 3
        else:
            end = _css_rule_end(css, i)
            rule = css[i:end].strip()
            if rule.startswith("@"):
                keep.append(rule)
            elif _NOT_INLINABLE.search(rule.split("{", 1)[0]):
                keep.append(rule)
                inline.append(rule)
            else:
                inline.append(rule)
            i = end
    return _css_single_quotes("\n".join(inline)), "\n".join(keep)


@lru_cache(maxsize=64)
def _inliner(css: str) -> Any:
    import css_inline

    # Never fetch a <link>ed stylesheet: templates are user input, and a URL is a request from inside.
    return css_inline.CSSInliner(
        inline_style_tags=False,
        keep_style_tags=True,
        keep_link_tags=True,
        load_remote_stylesheets=False,
        extra_css=css,
    )


def _conditional_sheet(attributes: str) -> bool:
    match = _MEDIA_ATTRIBUTE.search(attributes)
    if match is None:
        return False
    media = next((g for g in match.groups() if g is not None), "").strip().lower()
    return media not in ("", "all", "screen")


def inline_css(html: str) -> str:
    """The html with its `<style>` rules moved into `style` attributes (a style attribute the
    author wrote wins over a rule, as in the browser). Media queries, other @-rules and rules for
    `:hover`-like states stay in `<style>`; so do `<style media="print">`-like sheets and styles
    inside comments (Outlook's `<!--[if mso]>`). Without a `<style>`, the html is returned as is."""
    if not _STYLE_TAG.search(html):
        return html
    to_inline: list[str] = []

    def strip_inlined(match: re.Match[str]) -> str:
        if match.group(0).startswith("<!--") or _conditional_sheet(match.group(1)):
            return match.group(0)
        inline, keep = _split_css(match.group(2))
        if inline:
            to_inline.append(inline)
        return f"<style{match.group(1)}>\n{keep}\n</style>" if keep else ""

    remaining = _STYLE_OR_COMMENT.sub(strip_inlined, html)
    if not to_inline:
        return html
    inlined: str = _inliner("\n".join(to_inline)).inline(_single_quote_style_attributes(remaining))
    # The parser writes every doctype as `<!DOCTYPE html>`; an email's XHTML doctype sets the
    # rendering mode of some clients, so the author's own is put back.
    if (doctype := _DOCTYPE.match(html)) and (written := _DOCTYPE.match(inlined)):
        inlined = inlined[: written.start(1)] + doctype.group(1) + inlined[written.end(1) :]
    return inlined


# ---------------------------------------------------------------------------------------------
# HTML to plain text
# ---------------------------------------------------------------------------------------------

_SKIPPED = frozenset({"head", "style", "script", "noscript", "template", "title"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "pre", "hr", "dl"})
_LINES = frozenset(
    {
        "div", "tr", "li", "section", "article", "header", "footer", "main", "nav", "aside",
        "address", "center", "dt", "dd", "figure", "figcaption", "form", "fieldset",
    }
)  # fmt: skip
_INVISIBLE = str.maketrans("", "", "\u200b\u200c\u200d\u2060\ufeff\u034f\u00ad")
_HARD_SPACE = "\ue000"  # indentation that line-stripping must keep; becomes a space at the end
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none", re.IGNORECASE)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._pending = 0  # line breaks owed before the next text
        self._skip: tuple[str, int] | None = None  # (tag, nesting) of an element being dropped
        self._pre = 0
        self._lists: list[list[int]] = []  # per open list: next number of an <ol>, -1 for bullets
        self._links: list[tuple[str, int]] = []

    def _break(self, count: int) -> None:
        self._pending = max(self._pending, count)

    def _write(self, text: str) -> None:
        if self._pending:
            if self.out:
                self.out.append("\n" * self._pending)
            self._pending = 0
        self.out.append(text)

    def _at_line_start_or_space(self) -> bool:
        return bool(self._pending) or not self.out or self.out[-1][-1:] in (" ", "\n", _HARD_SPACE)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip is not None:
            if tag == self._skip[0]:
                self._skip = (tag, self._skip[1] + 1)
            return
        attributes = dict(attrs)
        if tag in _SKIPPED or (tag not in _VOID and _HIDDEN_STYLE.search(attributes.get("style") or "")):
            self._skip = (tag, 1)
            return
        if tag == "br":
            self._write("\n")
        elif tag == "hr":
            self._break(2)
            self._write("---")
            self._break(2)
        elif tag in _PARAGRAPHS:
            self._break(1 if tag in ("ul", "ol") and self._lists else 2)
        elif tag in _LINES:
            self._break(1)
        if tag == "pre":
            self._pre += 1
        elif tag in ("ul", "ol"):
            self._lists.append([1 if tag == "ol" else -1])
        elif tag == "li":
            counter = self._lists[-1] if self._lists else [-1]
            marker = f"{counter[0]}. " if counter[0] > 0 else "- "
            if counter[0] > 0:
                counter[0] += 1
            self._write(_HARD_SPACE * 2 * max(len(self._lists) - 1, 0) + marker)
        elif tag in ("td", "th"):
            if not self._at_line_start_or_space():
                self._write(" ")
        elif tag == "a":
            self._links.append(((attributes.get("href") or "").strip(), len(self.out)))
        elif tag == "img":
            self._data(attributes.get("alt") or "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._skip is not None:
            if tag == self._skip[0]:
                depth = self._skip[1] - 1
                self._skip = (tag, depth) if depth else None
            return
        if tag == "a" and self._links:
            self._close_link(*self._links.pop())
        elif tag == "pre":
            self._pre = max(self._pre - 1, 0)
        elif tag in ("ul", "ol") and self._lists:
            self._lists.pop()
        if tag in _PARAGRAPHS:
            self._break(1 if tag in ("ul", "ol") and self._lists else 2)
        elif tag in _LINES:
            self._break(1)

    def handle_data(self, data: str) -> None:
        if self._skip is None:
            self._data(data)

    def _data(self, data: str) -> None:
        data = data.translate(_INVISIBLE).replace(_HARD_SPACE, " ")
        if self._pre:
            # Keep preformatted spacing through the line stripping done at the end.
            if data:
                self._write(data.replace(" ", _HARD_SPACE).replace("\t", _HARD_SPACE * 4))
            return
        collapsed = re.sub(r"\s+", " ", data)
        if collapsed.startswith(" ") and self._at_line_start_or_space():
            collapsed = collapsed[1:]
        if collapsed:
            self._write(collapsed)

    def _close_link(self, url: str, start: int) -> None:
        label = " ".join("".join(self.out[start:]).split())
        if not url or url.startswith(("#", "javascript:")):
            return
        shown = url.removeprefix("mailto:") if url.startswith("mailto:") else url
        if label.rstrip("/") in (url.rstrip("/"), shown, url.removeprefix("tel:")):
            return
        self._write(f" ({shown})" if label else shown)


def html_to_text(html: str) -> str:
    """A readable text/plain alternative of an HTML email: no head, styles, scripts or hidden
    elements; blocks on their own lines; list items as "- " (numbered in <ol>); links as
    "text (url)"; entities decoded; at most one blank line in a row."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.out).replace("\xa0", " ")
    lines = (re.sub(r"[ \t]{2,}", " ", line).strip(" \t") for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text.replace(_HARD_SPACE, " ")
