"""Template features through the API: locale-aware helpers and inlined CSS in preview and in what
is sent, and review's check of the context variables the templates read."""

from __future__ import annotations

import json
from typing import Any

from local.harness import api_event
from tests.conftest import Api, Queue, load_event, trigger_body

STYLED_HTML = (
    "<html><head><style>p { color: #333333 } .total { font-weight: bold }"
    " @media (max-width: 600px) { p { font-size: 18px !important } }</style></head>"
    "<body><p>{{ greeting }} {{ profile.person.name.firstName | default(fallback) }},</p>"
    '<p class="total">{{ context.total | format_currency(context.currency) }}'
    " · {{ context.placedAt | format_date('long') }}</p></body></html>"
)


def _campaign_body() -> dict[str, Any]:
    body = json.loads(load_event("api/create_campaign.json")["body"])
    body["content"]["locales"] = {
        "en-US": {
            "subject": "Order {{ context.orderId }}: {{ context.total | format_currency(context.currency) }}",
            "html": STYLED_HTML.replace("{{ greeting }}", "Hi").replace("default(fallback)", "default('there')"),
        },
        "pt-BR": {
            "subject": "Pedido {{ context.orderId }}: {{ context.total | format_currency(context.currency) }}",
            "html": STYLED_HTML.replace("{{ greeting }}", "Olá").replace("default(fallback)", "default('cliente')"),
        },
    }
    body["contextSchema"] = {
        "type": "object",
        "required": ["orderId", "total", "currency", "placedAt"],
        "properties": {
            "orderId": {"type": "string"},
            "total": {"type": ["number", "string"]},
            "currency": {"type": "string"},
            "placedAt": {"type": "string", "format": "date"},
        },
    }
    return body


def _route(route_key: str) -> dict[str, Any]:
    return api_event("api/get_campaign.json", route_key=route_key)


def _create(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    answer = api.call("api", "api/create_campaign.json", body=body)
    assert answer.status == 201, answer.body
    return answer.body


CONTEXT = {"orderId": "10042", "total": "1234.56", "currency": "BRL", "placedAt": "2026-12-01"}


def test_preview_formats_for_the_locale_and_shows_the_inlined_html(api: Api, outbox) -> None:
    # Given an email campaign with a stylesheet and money and date helpers
    campaign = _create(api, _campaign_body())
    preview = _route("POST /campaigns/{campaignId}/preview")
    sample = {"profile": {"person": {"name": {"firstName": "Bruna"}}}, "context": CONTEXT, "locale": "pt-BR"}
    # When previewed for a Brazilian recipient
    answer = api.call_event("api", preview, {"campaignId": campaign["id"]}, body=sample)
    # Then money and date read as in Brazil, and the html has its CSS inlined
    assert answer.status == 200, answer.body
    assert answer.body["subject"] == "Pedido 10042: R$ 1.234,56"
    html = answer.body["html"]
    assert '<p style="color: #333333;">Olá Bruna,</p>' in html
    total = '<p class="total" style="color: #333333;font-weight: bold;">R$&nbsp;1.234,56 · 1 de dezembro de 2026</p>'
    assert total in html, "the no-break space keeps R$ with its amount"
    assert "@media (max-width: 600px) { p { font-size: 18px !important } }" in html
    assert answer.body["text"] == "Olá Bruna,\n\nR$ 1.234,56 · 1 de dezembro de 2026"

    # And in en-US the same data reads the American way
    american = api.call_event("api", preview, {"campaignId": campaign["id"]}, body={**sample, "locale": "en-US"})
    assert american.body["subject"] == "Order 10042: R$1,234.56"
    assert "December 1, 2026" in american.body["text"]
    assert outbox() == []


def test_preview_names_the_helper_and_variable_that_cannot_be_formatted(api: Api) -> None:
    campaign = _create(api, _campaign_body())
    preview = _route("POST /campaigns/{campaignId}/preview")
    sample = {"context": {**CONTEXT, "total": "about 12 s3cr3t"}, "locale": "en-US"}
    answer = api.call_event("api", preview, {"campaignId": campaign["id"]}, body=sample)
    assert (answer.status, answer.body["code"]) == (422, "render_error")
    assert "format_currency: 'context.total' is not a number" in answer.body["detail"]
    assert answer.body["errors"][0]["field"] == "content.locales.en-US.subject"
    assert "s3cr3t" not in json.dumps(answer.body)


def test_what_is_sent_has_the_css_inlined_and_a_text_part(api: Api, queue: Queue, outbox) -> None:
    campaign = api.live_campaign(**_campaign_body())
    recipient = {"userId": "ada@example.com", "profile": {"preferredLanguage": "pt-BR"}, "context": CONTEXT}
    answer = api.trigger(trigger_body(campaign["id"], [recipient], context=None))
    assert answer.status == 202, answer.body
    queue.drain()
    [sent] = outbox()
    assert sent["subject"] == "Pedido 10042: R$ 1.234,56"
    assert 'style="color: #333333;font-weight: bold;"' in sent["html"]
    assert "@media (max-width: 600px)" in sent["html"]
    assert "R$ 1.234,56 · 1 de dezembro de 2026" in sent["text"]


def test_review_reports_a_context_variable_the_schema_does_not_define(api: Api) -> None:
    # Given a campaign whose pt-BR html reads a coupon the contextSchema does not list
    body = _campaign_body()
    body["content"]["locales"]["pt-BR"]["html"] += "<p>Cupom: {{ context.coupon.code }}</p>"
    campaign = _create(api, body)
    review = _route("POST /campaigns/{campaignId}/review")
    # When reviewed
    answer = api.call_event("api", review, {"campaignId": campaign["id"]})
    # Then it is an error naming the variable, at the locale and part that read it
    assert answer.status == 200, answer.body
    assert answer.body["ok"] is False
    [issue] = [e for e in answer.body["errors"] if e["code"] == "undefined_context_variable"]
    assert issue["field"] == "content.locales.pt-BR.html"
    assert "context.coupon" in issue["message"]
    activate = api.call("api", "api/activate_campaign.json", path_params={"campaignId": campaign["id"]})
    assert (activate.status, activate.body["code"]) == (422, "review_failed")

    # When the schema defines it, the review passes
    schema = body["contextSchema"]
    schema["properties"]["coupon"] = {"type": "object", "properties": {"code": {"type": "string"}}}
    patched = api.call(
        "api", "api/patch_campaign.json", path_params={"campaignId": campaign["id"]}, body={"contextSchema": schema}
    )
    assert patched.status == 200, patched.body
    again = api.call_event("api", review, {"campaignId": campaign["id"]})
    assert again.body["ok"] is True, again.body
    assert again.body["errors"] == []
