"""Feedback webhooks: the global one (`/rules/webhook`, admin) and a campaign's signing secret
(campaign_engine/webhook_settings.py)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from campaign_engine import webhook_settings
from campaign_engine.routes.resolver import caller, json_response
from campaign_engine.webhook_settings import GlobalWebhook, GlobalWebhookBody, WebhookSecret

router = Router()
CampaignId = Annotated[str, Path(description="Campaign id", min_length=1, max_length=128)]
_GLOBAL: dict[int, OpenAPIResponse] = {
    200: {"description": "OK", "content": {"application/json": {"model": GlobalWebhook}}}
}
_SIGNING = (
    'Each POST\'s body is `{"id", "events": [{"executionId", "campaignId", "userId", "status", "reason"?, '
    '"at"}]}`, with `Webhook-Id` (the same on every retry) and `Webhook-Signature: t=<unix seconds>,v1=<hex '
    'HMAC-SHA256 of "<t>.<body>" keyed by the secret>`: refuse a `t` more than 5 minutes old. A 2xx answer '
    "is success; anything else, a redirect or no answer within 10 s is retried with exponential backoff, 8 "
    "attempts in all."
)


@router.get(
    "/rules/webhook",
    summary="Read the global webhook (scope admin)",
    description="The URL and events of the webhook that receives every campaign's recipient events; never the "
    "secret. An empty object when none is set.",
    tags=["rules"],
    responses=_GLOBAL,
)
def get_webhook_rule():
    return json_response(200, webhook_settings.get_global(caller(router)))


@router.put(
    "/rules/webhook",
    summary="Set the global webhook (scope admin)",
    description="`url` must be https:// to a public host (loopback, private, link-local, shared and reserved "
    "addresses are refused, here and on every send); `events` default to all seven. The first PUT makes the "
    "signing secret and shows it in its answer (`secret`), once; later PUTs keep it (DELETE, then PUT, for a "
    "new one). " + _SIGNING,
    tags=["rules"],
    responses=_GLOBAL,
)
def put_webhook_rule(body: Annotated[GlobalWebhookBody, Body()]):
    return json_response(200, webhook_settings.put_global(body, caller(router)))


@router.delete(
    "/rules/webhook",
    summary="Remove the global webhook and its secret (scope admin)",
    tags=["rules"],
    responses={204: {"description": "Removed (or there was none)"}},
)
def delete_webhook_rule():
    webhook_settings.delete_global(caller(router))
    return Response(status_code=204, body="")


@router.post(
    "/campaigns/<campaignId>/webhook/secret",
    summary="Make a new signing secret for the campaign's webhook",
    description="The old secret stops signing within seconds; the new one is shown in this answer only. " + _SIGNING,
    tags=["campaigns"],
    responses={200: {"description": "OK", "content": {"application/json": {"model": WebhookSecret}}}},
)
def rotate_campaign_webhook_secret(campaignId: CampaignId):
    return json_response(200, webhook_settings.rotate_campaign_secret(campaignId, caller(router)))
