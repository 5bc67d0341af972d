"""What one render may cost: time, loop iterations, output and the size of every value it builds.

Templates are written by API-key holders, and Jinja2's sandbox stops attribute escapes but not
cost: `{% for i in range(100000) %}{% for j in range(100000) %}`, `'x' * 10**8`, `9 ** 9 ** 9`
or `'a'.center(10**9)` would hang the delivery function or exhaust its memory, and the other
recipients of its SQS batch would die with it. So every render runs within bounds, and going
over one fails that recipient alone with a `RenderLimitError` (a `render_error`):

- time: `RENDER_SECONDS` of wall time per recipient, checked at every loop iteration, call and
  filter; a template that once ran out of time gets `SLOW_TEMPLATE_SECONDS` on later renders in
  the container, so that one bad campaign cannot keep a delivery run busy until its timeout;
- loops: `LOOP_ITERATIONS` iterations per recipient in total, every loop counted;
- values: no string, list or dict a template builds may exceed `VALUE_LIMIT` characters or items
  (counted through nested containers, which is what printing one costs), and no integer
  `INT_BITS` bits. Operations that could build more are refused BEFORE they run: `*` and `**`,
  `%` and `str.format`, `join`, `replace`, padding widths, loop and literal amplification;
- output: each part's output is bounded (`OUTPUT_LIMITS`) as it streams;
- source: each template part is bounded (`TEMPLATE_SOURCE_LIMITS`) before it is compiled.

The per-render state lives in a ContextVar: delivery renders on several threads at once.
Outside a render (constant folding at compile time) the size bounds still hold; only time and
loop counting need a render.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from functools import wraps
from time import thread_time
from typing import Any

from jinja2 import TemplateRuntimeError, nodes, pass_context, pass_environment, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import make_attrgetter
from jinja2.nodes import EvalContext
from jinja2.runtime import markup_join, str_join
from jinja2.utils import Namespace, _PassArg
from jinja2.visitor import NodeTransformer

# Render time is the rendering thread's CPU time: a template can only spend CPU (it runs sandboxed,
# with no I/O), and a busy machine's wall clock would fail an ordinary render that merely waited for
# a core (delivery renders on several threads; the local stack runs every function in one process).
clock = thread_time
RENDER_SECONDS = 1.0
SLOW_TEMPLATE_SECONDS = 0.1
LOOP_ITERATIONS = 100_000
VALUE_LIMIT = 1_000_000
INT_BITS = 65_536
WIDTH_LIMIT = 10_000  # a field width or precision in `%` and `str.format`
TEXT_OPTION_LIMIT = 200  # helper options: a date or number pattern, a time zone, a locale
# wordwrap (textwrap) and urlize work word by word in Python: about a second per 500,000
# characters, uninterruptible once started. No message needs more of either.
SLOW_TEXT_LIMIT = 100_000

# SES takes 10 MB a message; a megabyte of HTML is already far past what mail clients show
# (Gmail clips at 102 KB). SMS, push and subjects are far smaller still.
OUTPUT_LIMITS: dict[str, int] = {"html": 1_000_000, "text": 1_000_000}
DEFAULT_OUTPUT_LIMIT = 100_000
TEMPLATE_SOURCE_LIMITS: dict[str, int] = {"html": 200_000, "text": 200_000, "subject": 2_000, "title": 2_000}
DEFAULT_SOURCE_LIMIT = 20_000  # an SMS or push body, a push data value


def output_limit(part: str) -> int:
    return OUTPUT_LIMITS.get(part, DEFAULT_OUTPUT_LIMIT)


def source_limit(part: str) -> int:
    return TEMPLATE_SOURCE_LIMITS.get(part, DEFAULT_SOURCE_LIMIT)


class RenderLimitError(TemplateRuntimeError):
    """A render that went over one of its bounds. The message names the bound, never a value."""


def _over(what: str) -> RenderLimitError:
    return RenderLimitError(f"{what} (a template's renders are bounded)")


class Budget:
    """What is left of one render's time and loop iterations."""

    __slots__ = ("deadline", "iterations", "seconds")

    def __init__(self, seconds: float = RENDER_SECONDS, *, deadline: float | None = None) -> None:
        self.seconds = seconds
        self.deadline = clock() + seconds if deadline is None else deadline
        self.iterations = LOOP_ITERATIONS

    def tick(self) -> None:
        if clock() > self.deadline:
            raise RenderTimeout(f"the template took longer than {self.seconds:g} s to render")

    def count(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.iterations -= 1
            if not self.iterations & 15:  # the clock every 16 iterations: the body's own calls check it too
                if self.iterations < 0:
                    raise _over(f"the template loops more than {LOOP_ITERATIONS:,} times")
                if clock() > self.deadline:
                    raise RenderTimeout(f"the template took longer than {self.seconds:g} s to render")
            yield item


class RenderTimeout(RenderLimitError):
    """The render ran out of time."""


current_budget: ContextVar[Budget | None] = ContextVar("campaign_render_budget", default=None)


def tick() -> None:
    budget = current_budget.get()
    if budget is not None:
        budget.tick()


# ---------------------------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------------------------

_CONTAINERS = (list, tuple, dict, set, frozenset)


def size_of(value: Any, limit: int = VALUE_LIMIT) -> int:
    """Characters of a string; for a container, its items plus the sizes of what they hold,
    every time they appear (as printing it would), counted only up to just past `limit`."""
    if isinstance(value, str | bytes):
        return len(value)
    if not isinstance(value, _CONTAINERS):
        return 1
    total = 0
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, Mapping):
            total += 1 + len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 1 + len(item)
            stack.extend(item)
        else:
            total += 1
        if total > limit:
            break
    return total


def checked(value: Any) -> Any:
    """`value`, if it is within VALUE_LIMIT."""
    if isinstance(value, str):
        if len(value) > VALUE_LIMIT:
            raise _over(f"a value would be over {VALUE_LIMIT:,} characters")
    elif isinstance(value, _CONTAINERS) and size_of(value) > VALUE_LIMIT:
        raise _over(f"a value would hold over {VALUE_LIMIT:,} characters or items")
    return value


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _check_count(value: Any, what: str, limit: int = VALUE_LIMIT) -> None:
    number = _number(value)
    if number is not None and abs(number) > limit:
        raise _over(f"{what} is over {limit:,}")


# ---------------------------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------------------------

_SEQUENCES = (str, bytes, list, tuple)


def check_multiply(left: Any, right: Any) -> None:
    kinds = (type(left), type(right))
    if float in kinds:  # `price * 1.2`: nothing to bound
        return
    if kinds == (int, int):  # `qty * 2`, the common case first
        if left.bit_length() + right.bit_length() > INT_BITS:
            raise _over(f"a number would be over {INT_BITS:,} bits")
        return
    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, _SEQUENCES) and (count := _number(times)) is not None:
            if count > 0 and size_of(sequence) * count > VALUE_LIMIT:
                raise _over(f"a repeated value would be over {VALUE_LIMIT:,} characters or items")
            return
    a, b = _number(left), _number(right)
    if a is not None and b is not None and a.bit_length() + b.bit_length() > INT_BITS:
        raise _over(f"a number would be over {INT_BITS:,} bits")


def check_power(base: Any, exponent: Any) -> None:
    a, b = _number(base), _number(exponent)
    if a is not None and b is not None and b > 0 and abs(a) > 1 and math.log2(abs(a)) * b > INT_BITS:
        raise _over(f"a number would be over {INT_BITS:,} bits")


# `%s`, `%(name)-10.2f`, `%*d`: what each conversion of a printf-style format asks for.
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.DOTALL)


def check_percent(template: Any, arguments: Any) -> None:
    """`'%s...' % args` must not print more than VALUE_LIMIT: bounded widths, and at most the
    format's own length plus, per conversion, the arguments' size and the width asked for."""
    if not isinstance(template, str):
        return
    conversions = widest = 0
    for match in _PERCENT_SPEC.finditer(template):
        width, precision, kind = match.groups()
        if kind == "%":
            continue
        conversions += 1
        for number in (width, precision):
            if number == "*":
                raise _over("a `*` width in a % format is not supported")
            if number:
                if len(number) > 6 or int(number) > WIDTH_LIMIT:
                    raise _over(f"a format width is over {WIDTH_LIMIT:,}")
                widest = max(widest, int(number))
    if conversions:
        estimate = len(template) + conversions * (size_of(arguments) + widest)
        if estimate > VALUE_LIMIT:
            raise _over(f"a formatted value would be over {VALUE_LIMIT:,} characters")


_FORMAT_FIELD = re.compile(r"\{([^{}]*)\}")
_DIGITS = re.compile(r"\d+")
_NESTED_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")


def check_str_format(template: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    fields = 0
    for match in _FORMAT_FIELD.finditer(template):
        fields += 1
        spec = match.group(1).partition(":")[2]
        for digits in _DIGITS.findall(spec):
            if len(digits) > 6 or int(digits) > WIDTH_LIMIT:
                raise _over(f"a format width is over {WIDTH_LIMIT:,}")
    if _NESTED_SPEC.search(template):  # `{:{width}}`: a width given as an argument
        for value in (*args, *kwargs.values()):
            _check_count(value, "a format width", WIDTH_LIMIT)
    if fields:
        arguments = size_of(args) + size_of(dict(kwargs))
        estimate = len(template) + fields * (arguments + WIDTH_LIMIT)
        if estimate > VALUE_LIMIT:
            raise _over(f"a formatted value would be over {VALUE_LIMIT:,} characters")


def _joined_size(separator: Any, items: list[Any]) -> int:
    return sum(size_of(item) for item in items) + size_of(separator) * max(len(items) - 1, 0)


def _replaced_size(text: Any, old: Any, new: Any, count: Any = -1) -> int:
    if not isinstance(text, str) or not isinstance(old, str) or not isinstance(new, str):
        return 0
    found = len(text) + 1 if old == "" else text.count(old)
    if (limit := _number(count)) is not None and limit >= 0:
        found = min(found, limit)
    return len(text) + found * max(len(new) - len(old), 0)


def check_builtin_call(function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuses a call of a built-in method (`str.center`, `str.join`, `int.to_bytes`, ...) whose
    result would be over VALUE_LIMIT; returns the arguments to call it with (an iterator given
    to `join` is read here, once)."""
    owner = getattr(function, "__self__", None)
    if not isinstance(owner, str | bytes | int):  # a dict's `get(key, 10**9)` allocates nothing
        return args
    for value in (*args, *kwargs.values()):  # `center`, `ljust`, `zfill`, `expandtabs`, `to_bytes`
        _check_count(value, "a number given to a method")
    if isinstance(owner, int):
        return args
    name = getattr(function, "__name__", "")
    if name == "join" and len(args) == 1:
        return _checked_join(owner, args[0])
    if (check := _TEXT_METHOD_CHECKS.get(name)) is not None:
        check(owner, args, kwargs)
    return args


def _checked_join(separator: str | bytes, iterable: Iterable[Any]) -> tuple[Any, ...]:
    items = list(iterable)
    if _joined_size(separator, items) > VALUE_LIMIT:
        raise _over(f"a joined value would be over {VALUE_LIMIT:,} characters")
    return (items,)


def _check_replace_method(text: str | bytes, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if len(args) >= 2 and _replaced_size(text, *args[:3], **kwargs) > VALUE_LIMIT:
        raise _over(f"a replaced value would be over {VALUE_LIMIT:,} characters")


def _check_expandtabs_method(text: str | bytes, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    size = _number(args[0] if args else kwargs.get("tabsize", 8)) or 0
    tabs = text.count("\t") if isinstance(text, str) else text.count(b"\t")
    if len(text) + tabs * size > VALUE_LIMIT:
        raise _over(f"a value would be over {VALUE_LIMIT:,} characters")


def _check_translate_method(text: str | bytes, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if args and isinstance(args[0], Mapping):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        if len(text) * longest > VALUE_LIMIT:
            raise _over(f"a value would be over {VALUE_LIMIT:,} characters")


# The str and bytes methods whose result can outgrow their arguments' numbers (`join` apart: it
# also hands back the items it read).
_TEXT_METHOD_CHECKS: dict[str, Callable[[str | bytes, tuple[Any, ...], dict[str, Any]], None]] = {
    "replace": _check_replace_method,
    "expandtabs": _check_expandtabs_method,
    "translate": _check_translate_method,
}


def is_str_format(function: Any) -> str | None:
    """The format string of a sandboxed `str.format`/`format_map` (the sandbox wraps both)."""
    wrapped = getattr(function, "__wrapped__", None)
    if getattr(function, "__name__", None) in ("format", "format_map") and isinstance(
        owner := getattr(wrapped, "__self__", None), str
    ):
        return owner
    return None


# ---------------------------------------------------------------------------------------------
# Filters and globals
# ---------------------------------------------------------------------------------------------


def _check_indent(s: Any, width: Any = 4, first: bool = False, blank: bool = False) -> None:
    indentation = len(width) if isinstance(width, str) else _number(width) or 0
    _check_count(indentation, "an indentation")
    text = str(s) if not isinstance(s, str) else s
    if len(text) + (text.count("\n") + 2) * indentation > VALUE_LIMIT:
        raise _over(f"an indented value would be over {VALUE_LIMIT:,} characters")


def _check_replace(s: Any, old: Any, new: Any, count: Any = None) -> None:
    if _replaced_size(str(s), str(old), str(new), -1 if count is None else count) > VALUE_LIMIT:
        raise _over(f"a replaced value would be over {VALUE_LIMIT:,} characters")


def _check_padding(value: Any, count: Any, fill_with: Any = None) -> None:
    _check_count(count, "a batch or slice count")
    number = _number(count) or 0
    if fill_with is not None and size_of(fill_with) * number > VALUE_LIMIT:
        raise _over(f"the padding would be over {VALUE_LIMIT:,} items")


def _check_slow_text(filter_name: str, value: Any) -> None:
    if size_of(value) > SLOW_TEXT_LIMIT:
        raise _over(f"{filter_name} takes at most {SLOW_TEXT_LIMIT:,} characters")


def _check_wordwrap(
    s: Any, width: Any = 79, break_long_words: bool = True, wrapstring: Any = None, break_on_hyphens: bool = True
) -> None:
    _check_slow_text("wordwrap", s)
    if wrapstring is not None:
        text = str(s)
        lines = len(text) // max(_number(width) or 1, 1) + text.count("\n") + 1
        if len(text) + lines * len(str(wrapstring)) > VALUE_LIMIT:
            raise _over(f"a wrapped value would be over {VALUE_LIMIT:,} characters")


def _check_format(value: Any, *args: Any, **kwargs: Any) -> None:
    check_percent(str(value), kwargs or args)


def _check_urlize(
    value: Any, trim_url_limit: Any = None, nofollow: bool = False, target: Any = None, rel: Any = None, **_: Any
) -> None:
    _check_slow_text("urlize", value)
    for option in (target, rel):
        if option is not None and len(str(option)) > WIDTH_LIMIT:
            raise _over("a urlize option is too long")


def _check_numbers(value: Any, *args: Any, **kwargs: Any) -> None:
    for argument in (*args, *kwargs.values()):
        _check_count(argument, "a number given to a filter")


_FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "indent": _check_indent,
    "replace": _check_replace,
    "batch": _check_padding,
    "slice": _check_padding,
    "wordwrap": _check_wordwrap,
    "format": _check_format,
    "urlize": _check_urlize,
    "center": _check_numbers,
    "truncate": _check_numbers,
    "round": _check_numbers,
    "filesizeformat": _check_numbers,
}


@pass_eval_context
def _bounded_join(eval_ctx: EvalContext, value: Any, d: Any = "", attribute: Any = None) -> str:
    from jinja2.filters import sync_do_join

    if attribute is not None:
        value = map(make_attrgetter(eval_ctx.environment, attribute), value)
    items = list(value)
    if _joined_size(d, items) > VALUE_LIMIT:
        raise _over(f"a joined value would be over {VALUE_LIMIT:,} characters")
    return sync_do_join(eval_ctx, items, d)


@pass_environment
def _bounded_sum(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    """Python's `sum`, but lists and strings are added one bounded step at a time (`sum` of lists
    copies the total at every step, a quadratic cost that no later check could stop)."""
    if attribute is not None:
        iterable = map(make_attrgetter(environment, attribute), iterable)
    total = start
    size = size_of(start)
    for value in iterable:
        if isinstance(total, _SEQUENCES) or isinstance(value, _SEQUENCES):
            tick()
            size += size_of(value)
            if size > VALUE_LIMIT:
                raise _over(f"a sum would hold over {VALUE_LIMIT:,} items")
        total = total + value
    return total


def guarded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` with the render's clock checked first, its arguments checked where they could
    make it build too much, and its result checked against VALUE_LIMIT."""
    precheck = _FILTER_CHECKS.get(name)
    skip = 0 if _PassArg.from_obj(function) is None else 1

    @wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = current_budget.get()
        if budget is not None and clock() > budget.deadline:
            budget.tick()
        if precheck is not None:
            precheck(*args[skip:], **kwargs)
        result = function(*args, **kwargs)
        if type(result) is str and len(result) <= VALUE_LIMIT:  # the common case, without a call
            return result
        return checked(result)

    return guarded


def bounded_filters(filters: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    replaced: dict[str, Callable[..., Any]] = {**filters, "join": _bounded_join, "sum": _bounded_sum}
    bounded = {name: guarded_filter(name, function) for name, function in replaced.items()}
    bounded.update(_INTERNAL_FILTERS)
    return bounded


def _bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # Jinja's names
    from jinja2.utils import generate_lorem_ipsum

    _check_count(n, "lipsum's paragraph count", 100)
    _check_count(max, "lipsum's word count", 1_000)
    return generate_lorem_ipsum(n=n, html=html, min=min, max=max)


class BoundedNamespace(Namespace):
    """`namespace()`, whose attributes together stay within VALUE_LIMIT (a template sets them)."""

    def __init__(*args: Any, **kwargs: Any) -> None:
        Namespace.__init__(*args, **kwargs)
        checked(args[0]._Namespace__attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, value)
        checked(self._Namespace__attrs)


BOUNDED_GLOBALS: dict[str, Any] = {"lipsum": _bounded_lipsum, "namespace": BoundedNamespace}


# ---------------------------------------------------------------------------------------------
# The compiled template: every loop counted, every literal and `~` bounded
# ---------------------------------------------------------------------------------------------


@pass_context  # never folded at compile time: a generator made then would be shared by renders
def _loop_budget(_context: Any, iterable: Any) -> Any:
    budget = current_budget.get()
    return iterable if budget is None else budget.count(iterable)


def _bounded_literal(value: Any) -> Any:
    return checked(value)


@pass_eval_context
def _bounded_concat(eval_ctx: EvalContext, parts: tuple[Any, ...]) -> str:
    texts = [part if isinstance(part, str) else str(part) for part in parts]
    if sum(map(len, texts)) > VALUE_LIMIT:
        raise _over(f"a joined value would be over {VALUE_LIMIT:,} characters")
    return markup_join(texts) if eval_ctx.autoescape else str_join(texts)


_LOOP, _LITERAL, _CONCAT = "_campaign_loop", "_campaign_literal", "_campaign_concat"
_INTERNAL_FILTERS: dict[str, Callable[..., Any]] = {
    _LOOP: _loop_budget,
    _LITERAL: _bounded_literal,
    _CONCAT: _bounded_concat,
}


class BoundedBuffer(list[str]):
    """What a macro, a `{% set %}` block, a `{% filter %}` block or a `caller()` collects before
    it is joined: refused as soon as it holds more than VALUE_LIMIT characters."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        super().__init__()
        self.size = 0

    def append(self, text: str) -> None:
        self._grow(len(text))
        super().append(text)

    def extend(self, texts: Iterable[str]) -> None:
        texts = tuple(texts)
        self._grow(sum(map(len, texts)))
        super().extend(texts)

    def _grow(self, size: int) -> None:
        self.size += size
        if self.size > VALUE_LIMIT:
            raise _over(f"a block's output would be over {VALUE_LIMIT:,} characters")


class BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with every output buffer a `BoundedBuffer`."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.bounded_buffer()")


def _filter(node: Any, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class _Bounds(NodeTransformer):
    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _filter(node.iter, _LOOP)
        return node

    def _literal(self, node: nodes.Expr) -> nodes.Node:
        self.generic_visit(node)
        if isinstance(node, nodes.Tuple) and node.ctx != "load":
            return node
        return _filter(node, _LITERAL)

    visit_List = visit_Tuple = visit_Dict = _literal

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _filter(nodes.Tuple(node.nodes, "load", lineno=node.lineno), _CONCAT)


def bound_tree(tree: nodes.Template, environment: Any) -> nodes.Template:
    """The parsed template with every loop counted and every literal and `~` bounded."""
    bounded = _Bounds().visit(tree)
    bounded.set_environment(environment)
    return bounded
