"""Webhook settings and signing secrets, in the campaigns table.

- the global webhook: `WEBHOOK#GLOBAL` / `CONFIG` - `url`, `events` (JSON list), `secret`, `updatedAt`;
- a campaign's signing secret: `CAMPAIGN#<id>` / `WEBHOOK_SECRET` - `secret`, `createdAt`. The campaign's
  `webhook` (url, events) lives in its documents like every other field; the secret lives apart so that
  no read of the campaign (`GET /campaigns/{id}`, its versions, the live snapshot) ever carries it.

Secrets are kept in clear because they must sign (an HMAC key cannot be hashed); the table is encrypted
at rest and only the API (which writes them) and the webhooks function (which signs) may read them.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from botocore.exceptions import ClientError

from campaign_engine import aws
from campaign_engine.settings import get_settings
from campaign_engine.store._dynamodb import is_conditional_failure, s

GLOBAL_KEY = {"pk": s("WEBHOOK#GLOBAL"), "sk": s("CONFIG")}
SECRET_SK = "WEBHOOK_SECRET"  # noqa: S105 # nosec B105  # a key name, not a secret


class GlobalWebhook(msgspec.Struct, frozen=True):
    url: str
    events: list[str]
    secret: str
    updated_at: str


def _campaign_secret_key(campaign_id: str) -> dict[str, Any]:
    return {"pk": s(f"CAMPAIGN#{campaign_id}"), "sk": s(SECRET_SK)}


def get_global(*, consistent: bool = False) -> GlobalWebhook | None:
    item = (
        aws.dynamodb()
        .get_item(TableName=get_settings().campaigns_table, Key=GLOBAL_KEY, ConsistentRead=consistent)
        .get("Item")
    )
    if not item:
        return None
    return GlobalWebhook(
        url=item["url"]["S"],
        events=json.loads(item["events"]["S"]),
        secret=item["secret"]["S"],
        updated_at=item["updatedAt"]["S"],
    )


def put_global(url: str, events: list[str], now: str, new_secret: str) -> tuple[GlobalWebhook, bool]:
    """Sets the URL and events; the secret is `new_secret` only when there was none. Returns the stored
    webhook and whether its secret was made now (so that it is shown this once)."""
    answer = aws.dynamodb().update_item(
        TableName=get_settings().campaigns_table,
        Key=GLOBAL_KEY,
        UpdateExpression="SET #url = :url, events = :events, updatedAt = :now, secret = if_not_exists(secret, :secret)",
        ExpressionAttributeNames={"#url": "url"},
        ExpressionAttributeValues={
            ":url": s(url),
            ":events": s(json.dumps(events)),
            ":now": s(now),
            ":secret": s(new_secret),
        },
        ReturnValues="ALL_NEW",
    )["Attributes"]
    stored = GlobalWebhook(url=url, events=events, secret=answer["secret"]["S"], updated_at=now)
    return stored, stored.secret == new_secret


def delete_global() -> bool:
    """Removes the global webhook and its secret; whether there was one."""
    answer = aws.dynamodb().delete_item(
        TableName=get_settings().campaigns_table, Key=GLOBAL_KEY, ReturnValues="ALL_OLD"
    )
    return bool(answer.get("Attributes"))


def create_campaign_secret(campaign_id: str, secret: str, now: str) -> bool:
    """Stores the campaign's first secret; False (and nothing written) when it has one already."""
    try:
        aws.dynamodb().put_item(
            TableName=get_settings().campaigns_table,
            Item={**_campaign_secret_key(campaign_id), "secret": s(secret), "createdAt": s(now)},
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True


def replace_campaign_secret(campaign_id: str, secret: str, now: str) -> None:
    aws.dynamodb().put_item(
        TableName=get_settings().campaigns_table,
        Item={**_campaign_secret_key(campaign_id), "secret": s(secret), "createdAt": s(now)},
    )


def get_campaign_secret(campaign_id: str) -> str | None:
    item = (
        aws.dynamodb()
        .get_item(TableName=get_settings().campaigns_table, Key=_campaign_secret_key(campaign_id))
        .get("Item")
    )
    return item["secret"]["S"] if item else None
