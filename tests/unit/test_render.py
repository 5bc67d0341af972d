"""Template rendering: what a recipient receives, and what a campaign author is told when a
template or its data is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from campaign_engine.channels.email.html_text import html_to_text
from campaign_engine.render import (
    RenderedMessage,
    RenderError,
    TemplateProblem,
    TemplateProblems,
    check_content,
    compile_content,
    compiled_for,
    template_variables,
)


def scope(profile: dict[str, Any] | None = None, context: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "profile": profile or {},
        "context": context or {},
        "campaign": {"id": "cmp-1", "name": "Spring sale"},
        "locale": "en-US",
    }


def render_email(parts: dict[str, Any], **data: Any) -> RenderedMessage:
    return compile_content("email", "en-US", parts).render(scope(**data))


def render_sms(body: str, **data: Any) -> str:
    rendered = compile_content("sms", "en-US", {"body": body}).render(scope(**data))
    assert rendered.body is not None
    return rendered.body


# --- personalisation and defaults ----------------------------------------------------------


def test_email_is_personalised_from_profile_context_and_campaign() -> None:
    # Given an email that greets by first name and quotes an offer code
    parts = {
        "subject": "{{ profile.person.name.firstName }}, your code for {{ campaign.name }}",
        "html": "<p>Use <b>{{ context.offerCode }}</b> ({{ locale }})</p>",
        "text": "Use {{ context.offerCode }}",
    }
    # When it is rendered for Ann
    message = render_email(parts, profile={"person": {"name": {"firstName": "Ann"}}}, context={"offerCode": "SPRING25"})
    # Then every part carries her data
    assert message.subject == "Ann, your code for Spring sale"
    assert message.html == "<p>Use <b>SPRING25</b> (en-US)</p>"
    assert message.text == "Use SPRING25"


def test_default_fills_in_when_the_profile_has_no_name_at_all() -> None:
    # Given a greeting with a default, and a profile without any "person"
    body = 'Hi {{ profile.person.name.firstName | default("there") }}!'
    # When rendered
    # Then the default is used instead of an error or a blank
    assert render_sms(body, profile={}) == "Hi there!"
    assert render_sms(body, profile={"person": {"name": {"firstName": "Bo"}}}) == "Hi Bo!"


def test_missing_data_is_false_in_conditions_and_not_defined_in_tests() -> None:
    # Given conditions on data that is absent
    body = "{% if profile.vip %}VIP {% endif %}{% if context.code is defined %}code{% else %}no code{% endif %}"
    # When rendered without it
    # Then the branches for "absent" are taken, without an error
    assert render_sms(body) == "no code"
    assert render_sms(body, profile={"vip": True}, context={"code": "X"}) == "VIP code"


def test_json_null_never_prints_as_none() -> None:
    # Given a context whose offer code is null
    # When the template defaults it, the default shows; when it prints it, the render fails
    assert render_sms('{{ context.offerCode | default("none today") }}', context={"offerCode": None}) == "none today"
    with pytest.raises(RenderError, match=r"'context\.offerCode' is null"):
        render_sms("{{ context.offerCode }}", context={"offerCode": None})


def test_a_data_key_named_like_a_dict_method_is_the_data() -> None:
    # Given an order whose context has "items" (also the name of a dict method)
    body = "{% for item in context.items %}{{ item.sku }} {% endfor %}"
    # When rendered
    # Then the items are looped over, and dict methods still work where there is no such key
    assert render_sms(body, context={"items": [{"sku": "A1"}, {"sku": "B2"}]}) == "A1 B2 "
    assert (
        render_sms("{% for k, v in context.prices.items() %}{{ k }}={{ v }}{% endfor %}", context={"prices": {"a": 1}})
        == "a=1"
    )


# --- strict printing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "path"),
    [
        ("Your code: {{ context.offerCode }}", "context.offerCode"),
        ("Hi {{ profile.person.name.firstName }}", "profile.person.name.firstName"),
        ("{% for i in context.items %}{{ i }}{% endfor %}", "context.items"),
        ("{{ context.points + 10 }}", "context.points"),
        ("{{ context.items | length }}", "context.items"),
        ("{% for o in context.orders %}{{ o.total }}{% endfor %}", "context.orders[1].total"),
        ("{{ offerCode }}", "offerCode"),
    ],
)
def test_printing_missing_data_fails_naming_its_path(template: str, path: str) -> None:
    # Given data that lacks what the template prints, loops over or computes with
    data = {"person": {}, "secret": "s3cr3t-value"}
    context = {"orders": [{"total": 1}, {"sku": "s3cr3t-value"}]}
    # When rendered
    with pytest.raises(RenderError) as caught:
        render_sms(template, profile=data, context=context)
    # Then the error names the variable path, and shows no value of the data
    assert f"'{path}' is undefined" in caught.value.message
    assert "s3cr3t" not in str(caught.value)


def test_render_error_says_which_part_and_line() -> None:
    # Given an email whose html uses a missing variable on its third line
    compiled = compile_content("email", "pt-BR", {"subject": "Oi", "html": "<p>\nOlá\n{{ context.offerCode }}</p>"})
    # When rendered
    with pytest.raises(RenderError) as caught:
        compiled.render(scope())
    # Then the error points at locale, part and line
    error = caught.value
    assert (error.locale, error.field, error.line) == ("pt-BR", "html", 3)
    assert error.message == "pt-BR html, line 3: 'context.offerCode' is undefined"


def test_python_errors_do_not_quote_recipient_data() -> None:
    # Given a template that adds a number to text from the context
    # When rendered, Python would say "can only concatenate str ..."; any value stays out
    with pytest.raises(RenderError) as caught:
        render_sms("{{ context.name + 1 }}", context={"name": "Zoë Secret"})
    assert "Zoë" not in str(caught.value)
    assert "TypeError" in str(caught.value)


def test_a_subject_that_renders_empty_is_an_error_not_a_blank_email() -> None:
    with pytest.raises(RenderError, match="en-US subject: is empty after rendering"):
        render_email({"subject": "{{ context.s | default('') }}", "html": "<p>x</p>"})


# --- escaping and the sandbox ---------------------------------------------------------------


def test_html_is_escaped_but_subject_and_text_are_not() -> None:
    # Given a name with markup and an ampersand
    parts = {"subject": "For {{ context.name }}", "html": "<p>{{ context.name }}</p>", "text": "{{ context.name }}"}
    # When rendered
    message = render_email(parts, context={"name": "<Tom & Jerry>"})
    # Then only the html escapes it; subject and text show it as written
    assert message.html == "<p>&lt;Tom &amp; Jerry&gt;</p>"
    assert message.subject == "For <Tom & Jerry>"
    assert message.text == "<Tom & Jerry>"


def test_sms_and_push_are_not_escaped() -> None:
    assert render_sms("{{ context.q }}", context={"q": "A & B <3"}) == "A & B <3"
    push = compile_content("push", "en-US", {"title": "{{ context.q }}", "body": "b"}).render(
        scope(context={"q": "A&B"})
    )
    assert push.title == "A&B"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ context.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ context.update({'a': 1}) }}",
    ],
)
def test_sandbox_refuses_python_internals_and_mutation(template: str) -> None:
    # Given a template that tries to reach Python internals or change the data
    # When rendered
    # Then it fails as a render error, not with the object's insides
    with pytest.raises(RenderError, match=r"unsafe|undefined"):
        render_sms(template)


def test_subject_newlines_from_data_cannot_reach_the_headers() -> None:
    message = render_email({"subject": "Hi {{ context.n }}", "html": "x"}, context={"n": "Ann\r\nBcc: x@evil.test"})
    assert message.subject == "Hi Ann Bcc: x@evil.test"


# --- compile problems -----------------------------------------------------------------------


def test_syntax_errors_in_several_parts_are_all_reported_with_locale_field_and_line() -> None:
    # Given an email whose subject and html are both broken
    parts = {"subject": "Hi {{ profile.name", "html": "<p>\n\n{% if %}</p>", "text": "fine {{ context.x }}"}
    # When compiled
    with pytest.raises(TemplateProblems) as caught:
        compile_content("email", "pt-BR", parts)
    # Then both problems come back at once, each with where it is
    problems = caught.value.problems
    assert [(p.locale, p.field, p.line) for p in problems] == [("pt-BR", "subject", 1), ("pt-BR", "html", 3)]
    assert all(p.message for p in problems)


def test_check_content_reviews_every_locale_and_push_data_field() -> None:
    # Given content in three locales, two of them wrong
    locales = {
        "en-US": {"body": "Hello", "data": {"deeplink": "app://offer/{{ context.id }"}},
        "fr-FR": {"title": "Bonjour"},
        "de-DE": {"body": "Hallo {{ profile.name }}", "data": {"deeplink": "app://x"}},
    }
    # When checked for review
    problems = check_content("push", locales)
    # Then each problem names its locale and field; the good locale has none
    assert [(p.locale, p.field) for p in problems] == [("en-US", "data.deeplink"), ("fr-FR", "body")]
    assert problems[0].line == 1
    assert problems[1] == TemplateProblem("fr-FR", "body", None, "is required")


def test_unknown_parts_and_unknown_filters_are_problems() -> None:
    problems = check_content("email", {"en-US": {"subject": "s", "html": "{{ x | shout }}", "preheader": "p"}})
    assert {(p.field, p.message) for p in problems} == {
        ("preheader", "is not a part of email content"),
        ("html", "No filter named 'shout'."),
    }


def test_content_without_locales_is_a_problem() -> None:
    assert check_content("sms", {}) == [TemplateProblem("", "locales", None, "at least one locale is required")]


# --- channels -----------------------------------------------------------------------------


def test_sms_body_is_rendered() -> None:
    assert render_sms(
        "Code {{ context.code }} expires {{ context.when }}", context={"code": "1234", "when": "today"}
    ) == ("Code 1234 expires today")


def test_push_title_body_and_every_data_value_are_templates() -> None:
    # Given push content whose data values are templates too
    parts = {
        "title": "Hi {{ profile.firstName }}",
        "body": "Offer {{ context.offerId }}",
        "data": {"deeplink": "app://offers/{{ context.offerId }}", "campaign": "{{ campaign.id }}"},
    }
    # When rendered
    message = compile_content("push", "en-US", parts).render(
        scope(profile={"firstName": "Ann"}, context={"offerId": "o-9"})
    )
    # Then the payload carries rendered strings
    assert message == RenderedMessage(
        title="Hi Ann", body="Offer o-9", data={"deeplink": "app://offers/o-9", "campaign": "cmp-1"}
    )


def test_push_data_with_missing_variable_names_its_field() -> None:
    compiled = compile_content("push", "en-US", {"body": "b", "data": {"deeplink": "app://{{ context.id }}"}})
    with pytest.raises(RenderError) as caught:
        compiled.render(scope())
    assert caught.value.field == "data.deeplink"
    assert "'context.id' is undefined" in caught.value.message


# --- derived plain text ---------------------------------------------------------------------


def test_email_without_text_part_gets_one_derived_from_html() -> None:
    parts = {
        "subject": "s",
        "html": "<html><head><style>p{color:red}</style></head><body><p>Hi {{ context.n }}</p></body></html>",
    }
    message = render_email(parts, context={"n": "Ann"})
    assert message.text == "Hi Ann"


def test_html_to_text_is_a_readable_alternative() -> None:
    # Given a typical marketing email
    html = """<!doctype html><html><head><title>Sale</title><style>.x { color: red }</style>
    <script>track()</script></head><body>
    <div style="display:none">preview text&zwnj;&nbsp;</div>
    <table><tr><td><h1>Spring&nbsp;sale &amp; more</h1></td></tr>
    <tr><td><p>Dear   Ann,
      our <b>best</b> offers:<br>valid this week.</p>
    <ul><li>Shoes <a href="https://shop.example/shoes">see shoes</a></li><li>Hats</li></ul>
    <ol><li>Pick</li><li>Pay</li></ol>
    <p>Visit <a href="https://shop.example">https://shop.example</a> or
    <a href="mailto:help@shop.example">write to us</a>.</p>
    <p>&copy; 2026 &lt;Shop&gt;</p></td></tr></table></body></html>"""
    # When converted
    text = html_to_text(html)
    # Then it reads like a text email
    assert text == (
        "Spring sale & more\n"
        "\n"
        "Dear Ann, our best offers:\n"
        "valid this week.\n"
        "\n"
        "- Shoes see shoes (https://shop.example/shoes)\n"
        "- Hats\n"
        "\n"
        "1. Pick\n"
        "2. Pay\n"
        "\n"
        "Visit https://shop.example or write to us (help@shop.example).\n"
        "\n"
        "© 2026 <Shop>"
    )
    for hidden in ("color", "track", "preview"):
        assert hidden not in text


def test_html_to_text_nested_lists_preformatted_and_blank_lines() -> None:
    html = "<p>A</p><br><br><br><br><ul><li>One<ul><li>a</li></ul></li></ul><pre>  x = 1\n    y</pre>"
    assert html_to_text(html) == "A\n\n- One\n  - a\n\n  x = 1\n    y"


# --- variables and cache --------------------------------------------------------------------


def test_template_variables_lists_profile_and_context_paths() -> None:
    source = """Hi {{ profile.person.name.firstName | default("there") }}, {{ context.offerCode }}
    {% for item in context.items %}{{ item.sku }}{% endfor %} {{ context.name.upper() }}
    {{ context["order"]["id"] }} {{ context.prices[context.tier] }} {{ campaign.name }} {{ locale }}"""
    assert template_variables(source) == {
        "profile.person.name.firstName",
        "context.offerCode",
        "context.items",
        "context.name",
        "context.order.id",
        "context.prices",
        "context.tier",
    }


def test_template_variables_of_a_broken_template_is_empty() -> None:
    assert template_variables("{{ context.x ") == set()


def test_cache_compiles_a_campaign_version_once() -> None:
    # Given the same campaign version asked for twice, and then a new version
    parts = {"body": "Hi {{ profile.firstName | default('you') }}"}
    first = compiled_for(("cmp-cache", 1, "en-US"), "sms", "en-US", parts)
    again = compiled_for(("cmp-cache", 1, "en-US"), "sms", "en-US", {"body": "ignored: same key"})
    newer = compiled_for(("cmp-cache", 2, "en-US"), "sms", "en-US", {"body": "v2"})
    # Then the same compiled object is reused for the same key only
    assert again is first
    assert newer is not first
    assert newer.render(scope()).body == "v2"


def test_cache_does_not_keep_broken_content() -> None:
    with pytest.raises(TemplateProblems):
        compiled_for(("cmp-broken", 1, "en-US"), "sms", "en-US", {"body": "{{"})
    fixed = compiled_for(("cmp-broken", 1, "en-US"), "sms", "en-US", {"body": "ok"})
    assert fixed.render(scope()).body == "ok"
