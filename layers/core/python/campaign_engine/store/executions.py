"""The request record of an execution: `REQ#<hash of requestId>` / `EXECUTION` in the
executions table, the idempotency record and the verdicts of one trigger request. A record
whose requestId is used again after its window moves to `EXEC#<executionId>` / `EXECUTION`."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import msgspec
from botocore.exceptions import ClientError

from campaign_engine import aws
from campaign_engine.settings import get_settings
from campaign_engine.store._dynamodb import execution_pk, is_conditional_failure, n, plain, s


class ExecutionRecord(msgspec.Struct):
    execution_id: str
    request_id: str
    campaign_id: str
    campaign_version: int
    body_hash: str
    created_at: str
    # Until then the requestId replays this answer; the record itself lives until expires_at.
    idempotent_until: int
    expires_at: int
    # [userId, status, reason|None, detail|None, locale-hint|None] per recipient, in request order
    verdicts: Sequence[Sequence[Any]]  # [userId, status, reason, detail] per recipient
    channel: str = "email"
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


def request_pk(request_key: str) -> str:
    return f"REQ#{request_key}"


def _record_item(record: ExecutionRecord, request_key: str) -> dict[str, Any]:
    return {
        "pk": s(request_pk(request_key)),
        "sk": s("EXECUTION"),
        "executionId": s(record.execution_id),
        "requestId": s(record.request_id),
        "campaignId": s(record.campaign_id),
        "campaignVersion": n(record.campaign_version),
        "channel": s(record.channel),
        "bodyHash": s(record.body_hash),
        "createdAt": s(record.created_at),
        "idempotentUntil": n(record.idempotent_until),
        "expiresAt": n(record.expires_at),
        "verdicts": s(json.dumps(record.verdicts, separators=(",", ":"))),
    }


def _record_from_item(item: dict[str, Any]) -> ExecutionRecord:
    values = plain(item)
    return ExecutionRecord(
        execution_id=values["executionId"],
        request_id=values["requestId"],
        campaign_id=values["campaignId"],
        campaign_version=int(values["campaignVersion"]),
        body_hash=values["bodyHash"],
        created_at=values["createdAt"],
        idempotent_until=int(values["idempotentUntil"]),
        expires_at=int(values["expiresAt"]),
        verdicts=json.loads(values["verdicts"]),
        channel=values.get("channel", "email"),
    )


def put_execution_record(record: ExecutionRecord, request_key: str) -> ExecutionRecord | None:
    """Claims the requestId. Returns None when this call won, or the record that already holds it.

    A record past its idempotency window is replaced, the requestId being free again; the
    replaced one is kept under its own execution id, so its status can still be read."""
    try:
        response = aws.dynamodb().put_item(
            TableName=get_settings().executions_table,
            Item=_record_item(record, request_key),
            ConditionExpression="attribute_not_exists(pk) OR idempotentUntil < :now",
            ExpressionAttributeValues={":now": n(int(time.time()))},
            ReturnValues="ALL_OLD",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        replaced = response.get("Attributes")
        if replaced:
            aws.dynamodb().put_item(
                TableName=get_settings().executions_table,
                Item={**replaced, "pk": s(execution_pk(replaced["executionId"]["S"])), "sk": s("EXECUTION")},
            )
        return None
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        existing: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
        if existing:
            return _record_from_item(existing)
        found = get_execution_record(request_key)
        if found is None:  # deleted in between: extremely unlikely, let the caller retry
            raise
        return found


def get_replaced_execution_record(execution_id: str) -> ExecutionRecord | None:
    """An execution whose requestId was used again after its idempotency window."""
    response = aws.dynamodb().get_item(
        TableName=get_settings().executions_table,
        Key={"pk": s(execution_pk(execution_id)), "sk": s("EXECUTION")},
    )
    item = response.get("Item")
    return _record_from_item(item) if item else None


def get_execution_record(request_key: str) -> ExecutionRecord | None:
    response = aws.dynamodb().get_item(
        TableName=get_settings().executions_table,
        Key={"pk": s(request_pk(request_key)), "sk": s("EXECUTION")},
        ConsistentRead=True,
    )
    item = response.get("Item")
    return _record_from_item(item) if item else None
