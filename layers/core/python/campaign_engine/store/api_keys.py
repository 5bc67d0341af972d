"""API keys, stored by the hash of the key (the key itself is never stored)."""

from __future__ import annotations

from typing import Any

from campaign_engine import aws
from campaign_engine.settings import get_settings
from campaign_engine.store._dynamodb import plain, s


def put_api_key(
    *, key_hash: str, key_id: str, name: str, scopes: list[str], labels: list[str] | None, created_at: str
) -> None:
    item: dict[str, Any] = {
        "keyHash": s(key_hash),
        "keyId": s(key_id),
        "name": s(name),
        "scopes": s(" ".join(scopes)),
        "createdAt": s(created_at),
    }
    if labels is not None:
        item["labels"] = s(",".join(labels))
    aws.dynamodb().put_item(
        TableName=get_settings().api_keys_table, Item=item, ConditionExpression="attribute_not_exists(keyHash)"
    )


def get_api_key(key_hash: str) -> dict[str, Any] | None:
    response = aws.dynamodb().get_item(TableName=get_settings().api_keys_table, Key={"keyHash": s(key_hash)})
    item = response.get("Item")
    return plain(item) if item else None
