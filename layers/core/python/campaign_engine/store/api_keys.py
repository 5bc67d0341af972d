"""API keys, stored by the SHA-256 of the key (the key itself is never stored).

One item per key, `keyHash` its partition key: the authorizer finds a key in one GetItem. The
`byKeyId` index finds it by its public id (revoke, rotate). Values: keyId, name, scopes (space-
separated), labels (comma-separated; absent: every campaign), createdAt, createdBy, expiresAt,
revokedAt, lastUsedAt, rotatedFrom, rotatedTo (ISO-8601 times, key ids)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from campaign_engine import aws
from campaign_engine.settings import get_settings
from campaign_engine.store._dynamodb import is_conditional_failure, plain, s
from campaign_engine.store.errors import BadPageToken
from campaign_engine.store.page_tokens import decode_token, encode_token

BY_KEY_ID = "byKeyId"
_OPTIONAL = ("createdBy", "expiresAt", "rotatedFrom")


def _table() -> str:
    return get_settings().api_keys_table


def _item(
    *,
    key_hash: str,
    key_id: str,
    name: str,
    scopes: list[str],
    labels: list[str] | None,
    created_at: str,
    **optional: str | None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "keyHash": s(key_hash),
        "keyId": s(key_id),
        "name": s(name),
        "scopes": s(" ".join(scopes)),
        "createdAt": s(created_at),
    }
    if labels is not None:
        item["labels"] = s(",".join(labels))
    for attribute in _OPTIONAL:
        if optional.get(attribute):
            item[attribute] = s(str(optional[attribute]))
    return item


def put_api_key(
    *,
    key_hash: str,
    key_id: str,
    name: str,
    scopes: list[str],
    labels: list[str] | None,
    created_at: str,
    **optional: str | None,
) -> None:
    """A new key. `optional`: createdBy, expiresAt, rotatedFrom."""
    item = _item(
        key_hash=key_hash, key_id=key_id, name=name, scopes=scopes, labels=labels, created_at=created_at, **optional
    )
    aws.dynamodb().put_item(TableName=_table(), Item=item, ConditionExpression="attribute_not_exists(keyHash)")


def get_api_key(key_hash: str) -> dict[str, Any] | None:
    response = aws.dynamodb().get_item(TableName=_table(), Key={"keyHash": s(key_hash)})
    item = response.get("Item")
    return plain(item) if item else None


def find_api_key(key_id: str) -> dict[str, Any] | None:
    """The key with this public id (ids are unique: made from 64 random bits, or from the hash)."""
    response = aws.dynamodb().query(
        TableName=_table(),
        IndexName=BY_KEY_ID,
        KeyConditionExpression="keyId = :id",
        ExpressionAttributeValues={":id": s(key_id)},
        Limit=1,
    )
    items = response.get("Items") or []
    return plain(items[0]) if items else None


def list_api_keys(limit: int, next_token: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of keys, in no particular order (a stack holds tens of keys, not millions)."""
    kwargs: dict[str, Any] = {"TableName": _table(), "Limit": limit}
    start = decode_token(next_token)
    if start is not None:
        position = start.get("h")
        if not isinstance(position, str) or not position:
            raise BadPageToken
        kwargs["ExclusiveStartKey"] = {"keyHash": s(position)}
    response = aws.dynamodb().scan(**kwargs)
    last = response.get("LastEvaluatedKey")
    token = encode_token({"h": last["keyHash"]["S"]}) if last else None
    return [plain(item) for item in response.get("Items") or []], token


def all_api_keys() -> list[dict[str, Any]]:
    keys: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page, token = list_api_keys(100, token)
        keys += page
        if token is None:
            return keys


def revoke_api_key(key_hash: str, at: str) -> bool:
    """Marks the key revoked; False if it was already."""
    try:
        aws.dynamodb().update_item(
            TableName=_table(),
            Key={"keyHash": s(key_hash)},
            UpdateExpression="SET revokedAt = :at",
            ConditionExpression="attribute_exists(keyHash) AND attribute_not_exists(revokedAt)",
            ExpressionAttributeValues={":at": s(at)},
        )
    except ClientError as error:
        if is_conditional_failure(error):
            return False
        raise
    return True


def rotate_api_key(old_hash: str, new_item: dict[str, Any], old_expires_at: str | None, revoked_at: str | None) -> bool:
    """Writes the successor and marks the old key rotated (expiring at `old_expires_at`, or revoked at
    `revoked_at`) in one transaction; False if the old key was revoked or rotated meanwhile."""
    names = {"#to": "rotatedTo"}
    values: dict[str, Any] = {":to": new_item["keyId"]}
    update = "SET #to = :to"
    if old_expires_at is not None:
        update += ", expiresAt = :exp"
        values[":exp"] = s(old_expires_at)
    if revoked_at is not None:
        update += ", revokedAt = :rev"
        values[":rev"] = s(revoked_at)
    try:
        aws.dynamodb().transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": _table(),
                        "Item": new_item,
                        "ConditionExpression": "attribute_not_exists(keyHash)",
                    }
                },
                {
                    "Update": {
                        "TableName": _table(),
                        "Key": {"keyHash": s(old_hash)},
                        "UpdateExpression": update,
                        "ConditionExpression": "attribute_exists(keyHash) AND attribute_not_exists(revokedAt) "
                        "AND attribute_not_exists(#to)",
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                },
            ]
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
            return False
        raise
    return True


def new_key_item(**values: Any) -> dict[str, Any]:
    """The item `put_api_key(**values)` writes, for a transaction."""
    return _item(**values)


def touch_api_key(key_hash: str, at: str, stale_before: str) -> None:
    """Records the key's use at `at`, unless a use since `stale_before` is recorded already: at most one
    write per key per interval, however many containers and calls (a condition, not a read, decides)."""
    try:
        aws.dynamodb().update_item(
            TableName=_table(),
            Key={"keyHash": s(key_hash)},
            UpdateExpression="SET lastUsedAt = :at",
            ConditionExpression="attribute_exists(keyHash) AND "
            "(attribute_not_exists(lastUsedAt) OR lastUsedAt < :stale)",
            ExpressionAttributeValues={":at": s(at), ":stale": s(stale_before)},
        )
    except ClientError as error:
        if not is_conditional_failure(error):
            raise
