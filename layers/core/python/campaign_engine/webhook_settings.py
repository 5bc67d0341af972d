"""Setting up webhooks through the API: a campaign's `webhook` field and its secret, and the global webhook.

- A campaign's `webhook` (`{"url", "events"}`) is a campaign field like any other (create, patch, the
  live version). When a campaign first gets one, a signing secret is made for it and shown once, as
  `webhookSecret` in that create or patch answer. `POST /campaigns/{id}/webhook/secret` (campaigns:write:
  whoever may point the webhook elsewhere) replaces it and shows the new one once.
- The global webhook (`GET` / `PUT` / `DELETE /rules/webhook`, admin) receives every campaign's events.
  Its secret is made by the first PUT and shown in that answer only; a later PUT keeps it. To change it,
  DELETE and PUT again.

The URL is checked when it is set (webhook_guard.check_at_write: https, a public host, and a name that
does not resolve to a blocked address) and again, always, on every send.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from campaign_engine import webhook_guard, webhook_signature, webhooks
from campaign_engine.auth import Principal, require, require_campaign_access
from campaign_engine.errors import FieldError, validation_failed
from campaign_engine.models import WEBHOOK_EVENT_TYPES, ApiModel, Campaign, StrictModel, WebhookEventType
from campaign_engine.settings import get_settings
from campaign_engine.store import webhooks as store


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def check_url(url: str, field: str) -> None:
    """400 naming `field` when the URL may not be called (its name resolving to a blocked address included)."""
    problem = webhook_guard.check_at_write(url, local_receiver=get_settings().webhooks_local_receiver)
    if problem:
        raise validation_failed([FieldError(field, problem)])


# ---------------------------------------------------------------------------
# A campaign's webhook
# ---------------------------------------------------------------------------
def check_campaign(doc: dict[str, Any]) -> None:
    """Before a campaign document with a webhook is stored."""
    webhook = doc.get("webhook")
    if isinstance(webhook, dict) and webhook.get("url"):
        check_url(str(webhook["url"]), "webhook.url")


def with_new_secret(view: Campaign, doc: dict[str, Any]) -> Campaign:
    """The answer to a create or patch whose document `doc` (the campaign, or a live one's draft) has a
    webhook: a campaign that had no secret gets one, shown here."""
    if not doc.get("webhook"):
        return view
    secret = webhook_signature.new_secret()
    if not store.create_campaign_secret(view.id, secret, _now()):
        return view
    return view.model_copy(update={"webhook_secret": secret})


class WebhookSecret(ApiModel):
    secret: Annotated[str, Field(description="HMAC-SHA256 key of the Webhook-Signature header; shown this once")]
    created_at: Annotated[datetime, Field(alias="createdAt")]


def rotate_campaign_secret(campaign_id: str, principal: Principal) -> WebhookSecret:
    from campaign_engine import store as campaigns_store

    require(principal, "campaigns:write")
    require_campaign_access(principal, campaigns_store.get_campaign_head(campaign_id, consistent=True), campaign_id)
    secret, now = webhook_signature.new_secret(), _now()
    store.replace_campaign_secret(campaign_id, secret, now)
    return WebhookSecret.model_validate({"secret": secret, "createdAt": now})


# ---------------------------------------------------------------------------
# The global webhook
# ---------------------------------------------------------------------------
class GlobalWebhookBody(StrictModel):
    url: Annotated[
        str,
        Field(
            max_length=2048,
            description="https:// URL of a public host; receives every campaign's recipient events",
            examples=["https://hooks.example.org/all-campaigns"],
        ),
    ]
    events: Annotated[
        list[WebhookEventType], Field(min_length=1, max_length=7, description="The events to POST (default: all)")
    ] = WEBHOOK_EVENT_TYPES

    @field_validator("url")
    @classmethod
    def _allowed_url(cls, value: str) -> str:
        if problem := webhook_guard.url_problem(value, local_receiver=get_settings().webhooks_local_receiver):
            raise PydanticCustomError("webhook_url", problem)
        return value


class GlobalWebhook(ApiModel):
    """The global webhook; an empty object when none is set."""

    url: str | None = None
    events: list[WebhookEventType] | None = None
    updated_at: Annotated[datetime | None, Field(alias="updatedAt")] = None
    secret: Annotated[
        str | None, Field(description="The signing secret, in the answer of the PUT that made it only")
    ] = None


def get_global(principal: Principal) -> GlobalWebhook:
    require(principal, "admin")
    stored = store.get_global(consistent=True)
    if stored is None:
        return GlobalWebhook()
    return GlobalWebhook.model_validate({"url": stored.url, "events": stored.events, "updatedAt": stored.updated_at})


def put_global(body: GlobalWebhookBody, principal: Principal) -> GlobalWebhook:
    require(principal, "admin")
    check_url(body.url, "url")
    events: list[str] = list(dict.fromkeys(body.events))
    stored, created = store.put_global(body.url, events, _now(), webhook_signature.new_secret())
    webhooks.forget_global()
    return GlobalWebhook.model_validate(
        {
            "url": stored.url,
            "events": stored.events,
            "updatedAt": stored.updated_at,
            "secret": stored.secret if created else None,
        }
    )


def delete_global(principal: Principal) -> None:
    require(principal, "admin")
    store.delete_global()
    webhooks.forget_global()
