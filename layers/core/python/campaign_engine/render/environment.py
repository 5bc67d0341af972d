"""The sandboxed Jinja2 environments every campaign template is compiled in.

Templates are written by API-key holders, and the data they read (profiles, trigger context)
comes from callers, so everything runs in Jinja2's `ImmutableSandboxedEnvironment`: no
attribute tricks (`''.__class__.__mro__`), no mutation of the data. On top of the sandbox,
`CampaignEnvironment` intercepts lookups (JSON data semantics, see `undefined`) and operators
and calls (the bounds of `limits`). Only the email `html` part is autoescaped; subjects, text,
SMS and push are not HTML and would show `&amp;`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import BuiltinFunctionType
from typing import Any

from jinja2 import ChainableUndefined, Undefined
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from campaign_engine.render import limits
from campaign_engine.render.helpers import HELPERS
from campaign_engine.render.undefined import MissingKeyMethod, PathUndefined

__all__ = ["HTML_ENV", "REVIEW_HTML_ENV", "REVIEW_TEXT_ENV", "TEXT_ENV", "CampaignEnvironment", "environment_for"]


class CampaignEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, plus what JSON data needs: a key wins over a same-named dict method
    (`context.items` is the data, not `dict.items`), and `null` behaves as missing; plus the
    bounds of `limits` on operators and calls (intercepting `*`, `**` and `%` also keeps
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
                return MissingKeyMethod(value, obj, name)
        return value


def _own_arguments(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments a template passed (the compiler adds its own inside loops and blocks)."""
    return {k: v for k, v in kwargs.items() if k not in ("_loop_vars", "_block_vars")}


def _environment(*, html: bool, undefined: type[Undefined] = PathUndefined) -> CampaignEnvironment:
    env = CampaignEnvironment(undefined=undefined, autoescape=html, auto_reload=False, cache_size=0)
    env.filters.update(HELPERS)
    env.filters = limits.bounded_filters(env.filters)
    env.globals.update(limits.BOUNDED_GLOBALS)
    return env


# Built once per container; Jinja environments are safe to share between renders.
TEXT_ENV = _environment(html=False)
HTML_ENV = _environment(html=True)
# Review renders each template once with no data, to refuse what goes over a bound whatever the
# data: a missing value there is empty (and a loop over it does not run) instead of an error.
REVIEW_TEXT_ENV = _environment(html=False, undefined=ChainableUndefined)
REVIEW_HTML_ENV = _environment(html=True, undefined=ChainableUndefined)


def environment_for(*, html: bool, review: bool = False) -> CampaignEnvironment:
    """The environment a part compiles in: html or not, for a recipient's render or for review."""
    if review:
        return REVIEW_HTML_ENV if html else REVIEW_TEXT_ENV
    return HTML_ENV if html else TEXT_ENV
