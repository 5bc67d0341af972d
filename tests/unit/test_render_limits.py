"""Bounded rendering: a hostile template fails its own render, quickly, with the bound it hit.

Each hostile template below hung the renderer or made it allocate hundreds of megabytes before
the bounds existed. A render that has not finished within HANG_GUARD_SECONDS is a hang: that
limit only tells a hang from an answer, it says nothing about speed."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from campaign_engine.models import LocaleContent
from campaign_engine.render import (
    RenderedMessage,
    RenderError,
    TemplateProblems,
    check_render_bounds,
    compile_content,
)
from campaign_engine.render import limits as render_limits
from tests.conftest import HANG_GUARD_SECONDS, finishes


def scope(**context: Any) -> dict[str, Any]:
    return {"profile": {}, "context": context, "campaign": {"id": "cmp-1"}, "locale": "en-US"}


def render_text(template: str, **context: Any) -> RenderedMessage:
    """An email whose text part is `template` (no HTML post-processing to wait on)."""
    return compile_content("email", "en-US", {"subject": "Hi", "text": template}).render(scope(**context))


def render_error(template: str, **context: Any) -> RenderError:
    with pytest.raises(RenderError) as caught:
        finishes(lambda: render_text(template, **context))
    return caught.value


# Template -> words the render_error must contain (the bound, not a value).
HOSTILE = {
    "nested loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "loops more than 100,000 times",
    ),
    "string repetition": ("{{ 'x' * 10**7 }}", "over 1,000,000 characters"),
    "constant string repetition": ("{{ 'x' * 10000000 }}", "over 1,000,000 characters"),
    "power": ("{{ (9 ** (9 ** 6)) % 7 }}", "over 65,536 bits"),
    "padding method": ("{{ 'a'.center(10**7) }}", "over 1,000,000"),
    "padding filter": ("{{ 'a' | center(10000000) }}", "over 1,000,000"),
    "recursive macro": (
        "{% macro twice(n) %}{{ twice(n + 1) }}{{ twice(n + 1) }}{% endmacro %}{{ twice(0) }}",
        "recurses too deeply",
    ),
    "exponential macro": (
        "{% macro twice(n) %}{% if n < 60 %}{{ twice(n + 1) }}{{ twice(n + 1) }}{% endif %}{% endmacro %}{{ twice(0) }}",
        "longer than 1 s",
    ),
    "output through loops": ("{% for i in range(1000) %}{{ 'x' * 10000 }}{% endfor %}", "output is over 1,000,000"),
    "doubling a string": (
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
        "over 1,000,000 characters",
    ),
    "a macro's buffered output": (
        "{% macro m() %}{% for i in range(5000) %}{{ 'x' * 1000 }}{% endfor %}{% endmacro %}{{ m() | length }}",
        "block's output would be over 1,000,000",
    ),
    "nested lists": (
        "{% set a = 'x' * 1000 %}{% set b = [a, a, a, a, a, a, a, a, a, a] %}{% set c = [b, b, b, b, b, b, b, b, b, b] %}"
        "{% set d = [c, c, c, c, c, c, c, c, c, c] %}{% set e = [d, d, d, d, d, d, d, d, d, d] %}{{ e | length }}",
        "over 1,000,000 characters or items",
    ),
    "joining": ("{% set a = 'x' * 500000 %}{{ [a, a, a, a] | join }}", "over 1,000,000"),
    "replacing": ("{{ ('x' * 100000).replace('', 'yyyyyyyyyyyyyyyyyyyy') | length }}", "over 1,000,000 characters"),
    "printf width": ("{{ '%09999999d' % 1 }}", "format width is over 10,000"),
    "format width": ("{{ '{:>9999999}'.format(1) }}", "format width is over 10,000"),
    "bytes from a number": ("{{ (5).to_bytes(10**7, 'big') | length }}", "over 1,000,000"),
    "lorem ipsum": ("{{ lipsum(100000) | length }}", "over 100"),
    "batch padding": ("{{ [1] | batch(10000000, 'x') | list | length }}", "over 1,000,000"),
    "wrapping a long text": ("{{ ('x' * 500000) | wordwrap(1) }}", "wordwrap takes at most 100,000 characters"),
    "linking a long text": ("{{ ('a.b ' * 200000) | urlize }}", "urlize takes at most 100,000 characters"),
    "recursive loop": ("{% for x in [[1]] recursive %}{{ loop([x, x]) }}{% endfor %}", "recurses too deeply"),
}


@pytest.mark.parametrize(("template", "bound"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_template_fails_its_render_naming_the_bound(template: str, bound: str) -> None:
    error = render_error(template)
    assert bound in error.message
    assert error.bound, "review and delivery tell a bound from a data error"
    assert (error.field, error.locale) == ("text", "en-US")


DATA_DRIVEN = {
    "loops": ("{% for i in range(context.n) %}{% for j in range(context.n) %}{% endfor %}{% endfor %}", 100000),
    "repetition": ("{{ 'x' * context.n }}", 10**7),
    "padding": ("{{ 'a'.ljust(context.n) }}", 10**7),
    "power": ("{{ (9 ** context.n) % 7 }}", 9**6),
}


@pytest.mark.parametrize(("template", "n"), DATA_DRIVEN.values(), ids=DATA_DRIVEN.keys())
def test_a_template_that_is_hostile_only_with_some_data_fails_only_those_renders(template: str, n: int) -> None:
    compiled = compile_content("email", "en-US", {"subject": "Hi", "text": "n={{ context.n }} " + template})
    # Review cannot know it: with no data the template does nothing wrong
    assert check_render_bounds("email", {"en-US": {"subject": "Hi", "text": template}}, {}) == []
    # A recipient with small numbers gets the message; one with huge numbers is a bounded render_error
    assert (compiled.render(scope(n=3)).text or "").startswith("n=3 ")
    with pytest.raises(RenderError) as caught:
        finishes(lambda: compiled.render(scope(n=n)))
    assert caught.value.bound


def test_a_template_source_over_its_size_does_not_compile() -> None:
    huge = "x" * 200_001
    with pytest.raises(TemplateProblems) as caught:
        compile_content("email", "en-US", {"subject": "Hi", "html": huge})
    [problem] = caught.value.problems
    assert (problem.field, problem.code, problem.message) == (
        "html",
        "template_too_large",
        "is over 200,000 characters",
    )
    with pytest.raises(TemplateProblems):
        compile_content("sms", "en-US", {"body": "y" * 20_001})


def test_a_template_nested_too_deeply_to_compile_is_a_template_problem() -> None:
    nested = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"
    with pytest.raises(TemplateProblems) as caught:
        compile_content("sms", "en-US", {"body": nested})
    assert "nests too deeply" in str(caught.value)


def test_the_api_models_bound_template_sizes_as_the_renderer_does() -> None:
    for part in ("subject", "html", "text", "body", "title"):
        [max_length] = [m.max_length for m in LocaleContent.model_fields[part].metadata if hasattr(m, "max_length")]
        assert max_length == render_limits.source_limit(part), part


@pytest.mark.parametrize(("template", "bound"), HOSTILE.values(), ids=HOSTILE.keys())
def test_review_finds_every_template_that_goes_over_a_bound_whatever_the_data(template: str, bound: str) -> None:
    locales = {"en-US": {"subject": "Hi {{ profile.firstName }}", "text": template}}
    [problem] = finishes(lambda: check_render_bounds("email", locales, {"id": "cmp-1"}))
    assert (problem.locale, problem.field, problem.code) == ("en-US", "text", "render_limit")
    assert bound in problem.message


def test_review_passes_ordinary_templates_that_read_missing_data() -> None:
    locales = {
        "en-US": {
            "subject": "Order {{ context.orderId }} for {{ profile.person.name.firstName | default('you') }}",
            "html": "<ul>{% for item in context.items %}<li>{{ item.name }} x{{ item.qty * 2 }}</li>{% endfor %}</ul>"
            "{{ context.total | format_currency('EUR') }}",
        }
    }
    assert check_render_bounds("email", locales, {"id": "cmp-1"}) == []


def test_ordinary_templates_render_as_before_within_the_bounds() -> None:
    items = [{"name": f"item {i}", "qty": i, "price": 2.5} for i in range(10_000)]
    template = (
        "{% set ns = namespace(total=0) %}"
        "{% for item in context.items %}{% set ns.total = ns.total + item.qty * item.price %}{% endfor %}"
        "{{ '-' * 20 }}|{{ '%05.1f' % ns.total }}|{{ '{:>6}'.format('ab') }}|{{ [1, 2, 3] | join(',') }}"
        "|{{ ('a' ~ 'b') * 2 }}|{{ 2 ** 10 }}|{{ 'x'.center(5) }}|{{ context.items | length }}"
        "|{{ '{:,}'.format(1234567) }}|{{ context.get('missing', 10**7) }}"
        "{% macro row(i) %}[{{ i }}]{% endmacro %}|{% for i in range(3) %}{{ row(i) }}{% endfor %}"
        "|{% for node in context.tree recursive %}{{ node.n }}{% if node.kids %}({{ loop(node.kids) }}){% endif %}"
        "{% endfor %}"
    )
    tree = [{"n": 1, "kids": [{"n": 2, "kids": []}, {"n": 3}]}]
    text = render_text(template, items=items, tree=tree).text
    assert text == (
        "--------------------|124987500.0|    ab|1,2,3|abab|1024|  x  |10000|1,234,567|10000000|[0][1][2]|1(23)"
    )


def test_a_template_that_ran_out_of_time_gets_less_time_on_later_renders() -> None:
    slow = (
        "{% macro twice(n) %}{% if n < 60 %}{{ twice(n + 1) }}{{ twice(n + 1) }}{% endif %}{% endmacro %}{{ twice(0) }}"
    )
    compiled = compile_content("sms", "en-US", {"body": "x" + slow})
    for seconds in ("1 s", "0.1 s", "0.1 s"):
        with pytest.raises(RenderError) as caught:
            finishes(lambda: compiled.render(scope()))
        assert f"took longer than {seconds}" in caught.value.message
    # Another template is not affected
    assert compile_content("sms", "en-US", {"body": "fine"}).render(scope()).body == "fine"


def test_each_render_has_its_own_budget_on_its_own_thread() -> None:
    # Given a render that loops 60,000 times: two of them side by side, and one after the other
    template = "{% for i in range(60000) %}{% endfor %}done"
    compiled = compile_content("sms", "en-US", {"body": template})
    results: list[str | None] = []
    threads = [threading.Thread(target=lambda: results.append(compiled.render(scope()).body)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG_GUARD_SECONDS)
    # Then each counted only its own iterations
    assert results == ["done", "done"]
    assert compiled.render(scope()).body == "done"
