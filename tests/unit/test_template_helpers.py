"""Template helpers: dates, numbers and money in the recipient's locale; CSS inlined into HTML
email; and review's check that templates read only context the contextSchema defines."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from campaign_engine.channels.email.css import inline_css
from campaign_engine.render import RenderedMessage, RenderError, compile_content
from campaign_engine.review import review_campaign, undefined_context_variables


def scope(locale: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"profile": {}, "context": context or {}, "campaign": {"id": "cmp-1"}, "locale": locale}


def render_sms(body: str, locale: str = "en-US", **context: Any) -> str:
    rendered = compile_content("sms", locale, {"body": body}).render(scope(locale, context))
    assert rendered.body is not None
    return rendered.body


def render_email(parts: dict[str, Any], locale: str = "en-US", **context: Any) -> RenderedMessage:
    return compile_content("email", locale, parts).render(scope(locale, context))


# --- numbers and currency --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "total", "currency", "expected"),
    [
        ("pt-BR", "1234.56", "BRL", "R$ 1.234,56"),
        ("en-US", 1234.56, "USD", "$1,234.56"),
        ("en-US", "1234.56", "usd", "$1,234.56"),
        ("de-DE", 1234.5, "EUR", "1.234,50 €"),
        ("en-US", 1234, "BRL", "R$1,234.00"),
    ],
)
def test_currency_follows_the_recipients_locale(locale: str, total: Any, currency: str, expected: str) -> None:
    # Given a total as a JSON number or a numeric string
    # When formatted as money for the recipient's locale
    # Then symbol, grouping and decimals are the locale's (with plain spaces outside HTML)
    body = f'{{{{ context.total | format_currency("{currency}") }}}}'
    assert render_sms(body, locale, total=total) == expected


def test_html_keeps_the_no_break_space_between_symbol_and_amount() -> None:
    # Given the same amount in an email's html and in its subject
    parts = {
        "subject": '{{ context.total | format_currency("BRL") }}',
        "html": '<p>{{ context.total | format_currency("BRL") }}</p>',
    }
    # When rendered in pt-BR
    message = render_email(parts, "pt-BR", total="1234.56")
    # Then the html never wraps "R$" away from its amount; the subject and derived text are plain
    assert message.html == "<p>R$\xa01.234,56</p>"
    assert message.subject == "R$ 1.234,56"
    assert message.text == "R$ 1.234,56"


def test_numbers_decimals_and_percentages_per_locale() -> None:
    body = "{{ context.n | format_number }} | {{ context.n | format_decimal('#,##0.00') }} | {{ context.rate | format_percent }}"
    assert render_sms(body, "en-US", n="1234567.891", rate=0.256) == "1,234,567.891 | 1,234,567.89 | 26%"
    assert render_sms(body, "pt-BR", n=1234567.891, rate="0.256") == "1.234.567,891 | 1.234.567,89 | 26%"
    assert render_sms(body, "de-DE", n=1234567.891, rate=0.256) == "1.234.567,891 | 1.234.567,89 | 26 %"


def test_a_locale_can_be_named_and_unknown_regions_fall_back_to_the_language() -> None:
    assert render_sms("{{ 1234.5 | format_number(locale='de-DE') }}", "en-US") == "1.234,5"
    assert render_sms("{{ 1234.5 | format_number }}", "pt-XX") == "1.234,5"
    assert render_sms("{{ 1234.5 | format_number }}", "default") == "1,234.5"


# --- dates -----------------------------------------------------------------------------------


def test_dates_per_locale_from_iso_strings() -> None:
    # Given a delivery date as an ISO-8601 date
    # When formatted for a German recipient
    # Then it reads as Germans write dates
    body = (
        "{{ context.d | format_date }} / {{ context.d | format_date('long') }} / {{ context.d | format_date('short') }}"
    )
    assert render_sms(body, "de-DE", d="2026-12-01") == "01.12.2026 / 1. Dezember 2026 / 01.12.26"
    assert render_sms("{{ context.d | format_date('long') }}", "en-US", d="2026-12-01") == "December 1, 2026"


def test_datetimes_show_at_their_own_offset_or_in_the_time_zone_asked() -> None:
    at = "2026-12-01T09:00:00Z"
    assert render_sms("{{ context.at | format_datetime('short') }}", "en-US", at=at) == "12/1/26, 9:00 AM"
    assert render_sms("{{ context.at | format_datetime('short', tz='America/Sao_Paulo') }}", "pt-BR", at=at) == (
        "01/12/2026 06:00"
    )
    # A date near midnight UTC is already the previous day in São Paulo
    late = "2026-12-01T01:00:00+00:00"
    assert render_sms("{{ context.at | format_date('short', tz='America/Sao_Paulo') }}", "pt-BR", at=late) == (
        "30/11/2026"
    )
    # Seconds since the epoch are UTC
    assert render_sms("{{ context.ts | format_date('yyyy-MM-dd') }}", "en-US", ts=1796115600) == "2026-12-01"


# --- values that cannot be formatted ---------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "context", "message"),
    [
        (
            '{{ context.total | format_currency("BRL") }}',
            {"total": "1.234,56 s3cr3t"},
            "format_currency: 'context.total' is not a number",
        ),
        ("{{ context.n | format_number }}", {"n": True}, "format_number: 'context.n' is not a number"),
        ("{{ context.n | format_percent }}", {"n": "NaN"}, "format_percent: 'context.n' is not a number"),
        ("{{ context.n | format_decimal }}", {"n": "1e999999"}, "format_decimal: 'context.n' is out of range"),
        (
            "{{ context.d | format_date }}",
            {"d": "s3cr3t-date"},
            "format_date: 'context.d' is not an ISO-8601 date or time",
        ),
        ("{{ context.d | format_datetime }}", {"d": "2026-13-45"}, "format_datetime: 'context.d' is not an ISO-8601"),
        (
            "{% for o in context.orders %}{{ o.total | format_number }}{% endfor %}",
            {"orders": [{"total": "s3cr3t"}]},
            "format_number: 'o.total' is not a number",
        ),
        (
            "{{ context.total | default(0) | format_currency('EUR') }}",
            {"total": "s3cr3t"},
            "'context.total' is not a number",
        ),
        (
            "{{ context.total | format_currency(context.cur) }}",
            {"total": 1, "cur": "s3cr3t"},
            "three-letter ISO 4217 code",
        ),
        (
            "{{ context.d | format_datetime(tz=context.tz) }}",
            {"d": "2026-12-01", "tz": "s3cr3t/Zone"},
            "unknown time zone",
        ),
        ("{{ context.d | format_date('qqqqqqqqq') }}", {"d": "2026-12-01"}, "format_date: cannot format this date"),
        ("{{ context.total | format_currency('EUR') }}", {}, "format_currency: 'context.total' is undefined"),
        ("{{ context.total | format_currency('EUR') }}", {"total": None}, "format_currency: 'context.total' is null"),
    ],
)
def test_a_value_that_cannot_be_formatted_names_the_helper_and_the_variable(
    template: str, context: dict[str, Any], message: str
) -> None:
    # Given data a helper cannot read
    # When rendered
    with pytest.raises(RenderError) as caught:
        render_sms(template, **context)
    # Then the render error names the helper and the template's variable, never the value
    assert message in caught.value.message
    assert caught.value.message.startswith("en-US body, line 1: ")
    assert "s3cr3t" not in str(caught.value)


def test_a_template_cannot_pass_its_own_variable_name() -> None:
    with pytest.raises(RenderError, match=r"'context\.n' is not a number"):
        render_sms("{{ context.n | format_number(_source='something else') }}", n="x")


# --- CSS inlining ----------------------------------------------------------------------------


class _Elements(HTMLParser):
    """Every start tag's attributes, as a browser would read them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def style_of(self, tag: str) -> str | None:
        return next(attrs.get("style") for name, attrs in self.tags if name == tag)


def test_style_rules_end_in_style_attributes_and_media_queries_stay() -> None:
    # Given an email with a stylesheet, a media query and a hover rule
    html = (
        "<html><head><style>p {color: red} .big {font-size: 20px}"
        " @media (max-width: 600px) { p { color: blue !important } } a:hover { color: green }</style></head>"
        '<body><p class="big">Hi {{ context.name }}</p><a href="https://example.com/">shop</a></body></html>'
    )
    # When rendered
    message = render_email({"subject": "s", "html": html}, name="Ann")
    assert message.html is not None
    # Then the rules are in the elements' style attributes
    assert _Elements(message.html).style_of("p") == "color: red;font-size: 20px;"
    # And what no attribute can say stays in a <style> block: the media query and the hover rule
    assert "@media (max-width: 600px) { p { color: blue !important } }" in message.html
    assert "a:hover { color: green }" in message.html
    assert "p {color: red}" not in message.html
    # And the text part is still derived from the html
    assert message.text == "Hi Ann\n\nshop (https://example.com/)"


def test_text_is_derived_from_the_inlined_html_so_hidden_blocks_stay_hidden() -> None:
    html = '<style>.preheader {display: none}</style><p class="preheader">Preview line</p><p>Body</p>'
    message = render_email({"subject": "s", "html": html})
    assert message.text == "Body"


def test_html_without_style_is_left_exactly_as_rendered() -> None:
    html = "<p>Hi</p>"
    assert inline_css(html) is html
    assert render_email({"subject": "s", "html": "<p>Hi {{ context.n }}</p>"}, n="Bo").html == "<p>Hi Bo</p>"


def test_an_author_style_attribute_wins_and_quotes_stay_well_formed() -> None:
    # Given rules with double-quoted strings, and an attribute written by a rich-text editor
    html = (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">'
        '<html><head><style>p { color: red; background: url("https://example.com/bg.png") } '
        'h1 { font-family: "Open Sans", Arial }</style></head>'
        '<body><h1 style="color: &quot;x&quot;">T</h1><p style="color: green">Hi</p></body></html>'
    )
    # When inlined
    out = inline_css(html)
    # Then every style attribute parses back whole, and the author's own declaration wins
    elements = _Elements(out)
    assert elements.style_of("p") == "color: green;background: url('https://example.com/bg.png')"
    assert "'Open Sans', Arial" in (elements.style_of("h1") or "")
    # And the author's doctype is kept (it sets some clients' rendering mode)
    assert out.startswith('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"')


def test_outlook_conditional_styles_and_print_sheets_are_not_inlined() -> None:
    html = (
        "<!--[if mso]><style>p { font-family: Arial }</style><![endif]-->"
        '<style media="print">p { display: none }</style><style>p { color: red }</style><p>x</p>'
    )
    out = inline_css(html)
    assert _Elements(out).style_of("p") == "color: red;"
    assert "<!--[if mso]><style>p { font-family: Arial }</style><![endif]-->" in out
    assert '<style media="print">p { display: none }</style>' in out


def test_linked_stylesheets_are_kept_but_never_fetched() -> None:
    # An unroutable address: fetching it would fail or hang the render
    html = '<link rel="stylesheet" href="http://192.0.2.1/x.css"><style>p { color: red }</style><p>x</p>'
    out = inline_css(html)
    assert 'href="http://192.0.2.1/x.css"' in out
    assert _Elements(out).style_of("p") == "color: red;"


# --- review: context the schema does not define ----------------------------------------------

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["orderId"],
    "additionalProperties": True,
    "properties": {
        "orderId": {"type": "string"},
        "order": {"$ref": "#/$defs/order"},
        "metadata": {"type": "object"},
        "prices": {"type": "object", "additionalProperties": {"type": "number"}},
        "lines": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}}},
    },
    "$defs": {"order": {"allOf": [{"properties": {"total": {}}}, {"properties": {"currency": {}}}]}},
}


def test_review_reports_context_variables_the_schema_does_not_define() -> None:
    # Given templates reading defined, nested, open and undefined context
    locales = {
        "en-US": {
            "body": (
                "{{ context.orderId }} {{ context.order.total | format_currency(context.order.currency) }}"
                " {{ context.coupon }} {{ context.order.tax }} {{ context.metadata.anything.at.all }}"
                " {{ context.prices.eur }} {% for l in context.lines %}{{ l.sku }}{% endfor %} {{ context.lines[0].qty }}"
                " {{ context.coupon.code }}"
            )
        },
    }
    # When reviewed against the schema
    found = undefined_context_variables(SCHEMA, locales)
    # Then each undefined variable is reported once, naming the first key the schema lacks;
    # additionalProperties: true does not define keys, a map schema and an open object do
    assert found == [
        ("en-US", "body", "context.coupon"),
        ("en-US", "body", "context.lines[0].qty"),
        ("en-US", "body", "context.order.tax"),
    ]


def test_review_of_an_sms_campaign_blocks_on_an_undefined_variable() -> None:
    doc: dict[str, Any] = {
        "channel": "sms",
        "content": {"defaultLocale": "en-US", "locales": {"en-US": {"body": "Code {{ context.coupon }}"}}},
        "contextSchema": {"type": "object", "properties": {"orderId": {"type": "string"}}},
    }
    result = review_campaign(doc)
    assert [(e.code, e.field) for e in result.errors] == [("undefined_context_variable", "content.locales.en-US.body")]
    assert "context.coupon" in result.errors[0].message

    doc["contextSchema"]["properties"]["coupon"] = {"type": "string"}
    assert review_campaign(doc).ok
    doc["contextSchema"] = None
    doc["content"]["locales"]["en-US"]["body"] = "Code {{ context.anything }}"
    assert review_campaign(doc).ok, "no contextSchema, no check"
