"""Compiling campaign content once per container and rendering it per recipient.

`compile_content` compiles one locale's parts (every problem listed, not just the first);
`compiled_for` keeps what it compiled for the container's life, keyed by campaign version;
`CompiledLocale.render` renders every part for one recipient, within the bounds of `limits`,
and turns any failure into that recipient's `RenderError`, naming the part, the line and the
variable path, never a value from the data. Review uses `check_content` and
`check_render_bounds` to refuse, before a campaign is sent, what would fail every recipient.
An email's html then has its CSS inlined and gives the text part when there is none
(`channels.email.css`, `channels.email.html_text`).
"""

from __future__ import annotations

import threading
import traceback
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any

import msgspec
from jinja2 import Template, TemplateError, TemplateSyntaxError

from campaign_engine.channels.email.css import inline_css
from campaign_engine.channels.email.html_text import html_to_text
from campaign_engine.render import limits
from campaign_engine.render.environment import CampaignEnvironment, environment_for
from campaign_engine.render.helpers import name_helper_sources
from campaign_engine.render.limits import RenderLimitError, RenderTimeout
from campaign_engine.render.undefined import PathIndex, current_index

_SCALAR_PARTS: dict[str, tuple[str, ...]] = {
    "email": ("subject", "html", "text"),
    "sms": ("body",),
    "push": ("title", "body"),
}
_REQUIRED_PARTS: dict[str, tuple[str, ...]] = {"email": ("subject",), "sms": ("body",), "push": ("body",)}
_MAP_PARTS: dict[str, tuple[str, ...]] = {"push": ("data",)}
_TEMPLATE_FILENAME = "<template>"
_COMPILED_CACHE_SIZE = 512


class TemplateProblem(msgspec.Struct, frozen=True):
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


class RenderedMessage(msgspec.Struct, frozen=True):
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


# What a template may read of its campaign.
_CAMPAIGN_FIELDS = ("id", "name", "version", "type", "channel")


def render_scope(
    campaign: Mapping[str, Any],
    locale: str,
    *,
    profile: Mapping[str, Any] | None,
    context: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """What a template sees, for a send and for a preview alike: the recipient's `profile` and
    `context` (empty when absent), the campaign's id, name, version, type and channel, and the
    `locale` chosen."""
    return {
        "profile": profile or {},
        "context": context or {},
        "campaign": {k: campaign.get(k) for k in _CAMPAIGN_FIELDS},
        "locale": locale,
    }


def _compile_one(
    source: Any,
    *,
    locale: str,
    field_name: str,
    problems: list[TemplateProblem],
    env: CampaignEnvironment,
) -> Template | None:
    if not isinstance(source, str):
        problems.append(TemplateProblem(locale, field_name, None, "must be a string"))
        return None
    if len(source) > (limit := limits.source_limit(field_name.partition(".")[0])):
        too_large = f"is over {limit:,} characters"
        problems.append(TemplateProblem(locale, field_name, None, too_large, "template_too_large"))
        return None
    try:
        return env.from_string(limits.bound_tree(name_helper_sources(env.parse(source)), env))
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


class CompiledLocale(msgspec.Struct, frozen=True):
    """The compiled templates of one locale of one campaign version."""

    channel: str
    locale: str
    parts: Mapping[str, Template]
    data: Mapping[str, Template] = msgspec.field(default_factory=dict)

    # Mutable in a frozen record: a template that ran out of time once gets less from then on.
    # (It makes two compilations of the same content unequal: nothing compares them.)
    _history: _RenderHistory = msgspec.field(default_factory=_RenderHistory)

    def render(self, scope: Mapping[str, Any], *, budget: limits.Budget | None = None) -> RenderedMessage:
        """Render every part for one recipient; `scope` holds profile, context, campaign, locale.
        The render is bounded (see `limits`); `budget` replaces the per-render one."""
        token = current_index.set(PathIndex(scope))
        budget_token = limits.current_budget.set(budget or limits.Budget(self._history.seconds))
        try:
            values = {name: self._render_part(name, template, scope) for name, template in self.parts.items()}
            data = {key: self._render_part(f"data.{key}", t, scope) for key, t in self.data.items()}
        finally:
            limits.current_budget.reset(budget_token)
            current_index.reset(token)
        for name in _REQUIRED_PARTS.get(self.channel, ()):
            if not values.get(name, "").strip():
                raise RenderError(f"{self.locale} {name}: is empty after rendering", locale=self.locale, field=name)
        if self.channel == "email":
            return self._email(values)
        if self.channel == "sms":
            return RenderedMessage(body=values["body"])
        return RenderedMessage(body=values["body"], title=values.get("title") or None, data=data if self.data else None)

    def _email(self, values: Mapping[str, str]) -> RenderedMessage:
        """The subject on one line, the html with its CSS inlined, and a text part derived from
        the html when the template gave none."""
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
    deadline = limits.clock() + REVIEW_SECONDS
    problems: list[TemplateProblem] = []
    for locale, parts in locales.items():
        compiled = _compile_locale(channel, str(locale), parts, [], review=True)
        if compiled is None:
            continue
        scope = {"profile": {}, "context": {}, "campaign": dict(campaign), "locale": locale}
        budget = limits.Budget(deadline=min(deadline, limits.clock() + limits.RENDER_SECONDS))
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
    problems.extend(_shape_problems(channel, locale, parts))
    compiled: dict[str, Template] = {}
    for name in _SCALAR_PARTS[channel]:
        if parts.get(name) is not None:
            env = environment_for(html=channel == "email" and name == "html", review=review)
            template = _compile_one(parts[name], locale=locale, field_name=name, problems=problems, env=env)
            if template is not None:
                compiled[name] = template
    data: dict[str, Template] = {}
    for name in _MAP_PARTS.get(channel, ()):
        data.update(_compile_map(name, parts.get(name), locale, problems, review=review))
    return CompiledLocale(channel=channel, locale=locale, parts=compiled, data=data)


def _shape_problems(channel: str, locale: str, parts: Mapping[str, Any]) -> list[TemplateProblem]:
    """Parts the channel does not have, and parts it requires that are missing."""
    problems: list[TemplateProblem] = []
    scalar_names, map_names = _SCALAR_PARTS[channel], _MAP_PARTS.get(channel, ())
    for name in parts:
        if name not in scalar_names and name not in map_names:
            problems.append(TemplateProblem(locale, str(name), None, f"is not a part of {channel} content"))
    for name in _REQUIRED_PARTS[channel]:
        if parts.get(name) is None:
            problems.append(TemplateProblem(locale, name, None, "is required"))
    if channel == "email" and parts.get("html") is None and parts.get("text") is None:
        problems.append(TemplateProblem(locale, "html", None, "html or text is required"))
    return problems


def _compile_map(
    name: str, values: Any, locale: str, problems: list[TemplateProblem], *, review: bool
) -> dict[str, Template]:
    """The templates of a part that maps keys to templates (push `data`), by key."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        problems.append(TemplateProblem(locale, name, None, "must be an object of string templates"))
        return {}
    env = environment_for(html=False, review=review)
    compiled: dict[str, Template] = {}
    for key, source in values.items():
        template = _compile_one(source, locale=locale, field_name=f"{name}.{key}", problems=problems, env=env)
        if template is not None:
            compiled[str(key)] = template
    return compiled


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
