"""Audience executions and their schedules, in the executions table:

- the execution: `EXEC#<executionId>` / `AUDIENCE` (beside its recipients `R#<userId>`): the campaign and
  audience, the context, the status (queued, running, completed, cancelled), the counts, and the fan-out's
  checkpoint: the page number and the cursor where the next page starts. The checkpoint moves only by a
  conditional update on the page number, so two runs of the same step never both advance it;
- the request: `REQ#<request key>` / `AUDIENCE`: the requestId's idempotency (body hash, window) and the
  answer it replays;
- a schedule: `SCHEDULE#<scheduleId>` / `SCHEDULE`, and while it waits, its entry in the due index
  `SCHEDULES` / `<executeAt in UTC, fixed width>#<scheduleId>`, so the minute tick finds every due
  schedule with one Query."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import msgspec
from botocore.exceptions import ClientError

from campaign_engine import aws
from campaign_engine.settings import get_settings
from campaign_engine.store._dynamodb import execution_pk, is_conditional_failure, n, plain, s
from campaign_engine.store.errors import BadPageToken
from campaign_engine.store.page_tokens import decode_token, encode_token
from campaign_engine.store.recipients import RecipientState, _state_from_item, resolve_claimed

EXECUTION_SK = "AUDIENCE"
REQUEST_SK = "AUDIENCE"
SCHEDULE_SK = "SCHEDULE"
DUE_INDEX_PK = "SCHEDULES"


def _table() -> str:
    return get_settings().executions_table


# ---------------------------------------------------------------------------
# The execution
# ---------------------------------------------------------------------------
class AudienceExecution(msgspec.Struct):
    execution_id: str
    request_id: str
    campaign_id: str
    audience_id: str
    created_at: str
    expires_at: int
    status: str = "queued"  # queued | running | completed | cancelled
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    # Fixed by the fan-out's first step (the live version then): 0 until it ran.
    campaign_version: int = 0
    channel: str = ""
    campaign_type: str = ""
    page: int = 0
    cursor: Any = None
    counts: dict[str, Any] = msgspec.field(default_factory=dict)
    schedule_id: str | None = None
    detail: str | None = None
    updated_at: str | None = None


def _execution_key(execution_id: str) -> dict[str, Any]:
    return {"pk": s(execution_pk(execution_id)), "sk": s(EXECUTION_SK)}


def _execution_item(execution: AudienceExecution) -> dict[str, Any]:
    item = {
        **_execution_key(execution.execution_id),
        "executionId": s(execution.execution_id),
        "requestId": s(execution.request_id),
        "campaignId": s(execution.campaign_id),
        "audienceId": s(execution.audience_id),
        "createdAt": s(execution.created_at),
        "expiresAt": n(execution.expires_at),
        "status": s(execution.status),
        "context": s(json.dumps(execution.context, separators=(",", ":"))),
        "campaignVersion": n(execution.campaign_version),
        "channel": s(execution.channel),
        "campaignType": s(execution.campaign_type),
        "page": n(execution.page),
        "cursor": s(json.dumps(execution.cursor, separators=(",", ":"))),
        "counts": s(json.dumps(execution.counts, separators=(",", ":"))),
    }
    if execution.schedule_id:
        item["scheduleId"] = s(execution.schedule_id)
    return item


def _execution_from_item(item: dict[str, Any]) -> AudienceExecution:
    values = plain(item)
    return AudienceExecution(
        execution_id=values["executionId"],
        request_id=values["requestId"],
        campaign_id=values["campaignId"],
        audience_id=values["audienceId"],
        created_at=values["createdAt"],
        expires_at=int(values["expiresAt"]),
        status=values["status"],
        context=json.loads(values.get("context") or "{}"),
        campaign_version=int(values.get("campaignVersion", 0)),
        channel=values.get("channel", ""),
        campaign_type=values.get("campaignType", ""),
        page=int(values.get("page", 0)),
        cursor=json.loads(values.get("cursor") or "null"),
        counts=json.loads(values.get("counts") or "{}"),
        schedule_id=values.get("scheduleId"),
        detail=values.get("detail"),
        updated_at=values.get("updatedAt"),
    )


def _put_new(item: dict[str, Any], condition: str = "attribute_not_exists(pk)", **values: Any) -> dict[str, Any] | None:
    """A conditional put: None when written, else the item that stands in its way ({} if DynamoDB did not say)."""
    arguments: dict[str, Any] = {"ExpressionAttributeValues": values} if values else {}
    try:
        aws.dynamodb().put_item(
            TableName=_table(),
            Item=item,
            ConditionExpression=condition,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
            **arguments,
        )
        return None
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        existing: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
        return existing


def create_execution(execution: AudienceExecution) -> AudienceExecution | None:
    """Writes a new execution; None when written, else the execution already under that id."""
    existing = _put_new(_execution_item(execution))
    if existing is None:
        return None
    found = _execution_from_item(existing) if existing else get_execution(execution.execution_id)
    if found is None:
        raise RuntimeError("the execution was deleted while being created")
    return found


def get_execution(execution_id: str) -> AudienceExecution | None:
    response = aws.dynamodb().get_item(TableName=_table(), Key=_execution_key(execution_id), ConsistentRead=True)
    item = response.get("Item")
    return _execution_from_item(item) if item else None


def start_execution(execution_id: str, *, version: int, channel: str, campaign_type: str, at: str) -> bool:
    """queued -> running, with the campaign version the whole execution sends. False if another run did it."""
    return _update_execution(
        execution_id,
        "SET #status = :running, campaignVersion = :v, channel = :c, campaignType = :t, updatedAt = :at",
        "#status = :queued",
        {":running": s("running"), ":queued": s("queued"), ":v": n(version), ":c": s(channel), ":t": s(campaign_type)},
        at,
    )


def checkpoint(execution_id: str, *, page: int, cursor: Any, counts: dict[str, Any], done: bool, at: str) -> bool:
    """Moves the checkpoint from `page` to page + 1, with the counts so far; False if another run
    moved it first (that run owns the page)."""
    values = {
        ":page": n(page),
        ":next": n(page + 1),
        ":cursor": s(json.dumps(cursor, separators=(",", ":"))),
        ":counts": s(json.dumps(counts, separators=(",", ":"))),
        ":running": s("running"),
        ":status": s("completed" if done else "running"),
    }
    return _update_execution(
        execution_id,
        "SET page = :next, #cursor = :cursor, #counts = :counts, #status = :status, updatedAt = :at",
        "page = :page AND #status = :running",
        values,
        at,
        names={"#cursor": "cursor", "#counts": "counts"},
    )


def cancel_execution(execution_id: str, *, detail: str, at: str) -> bool:
    """queued or running -> cancelled (the campaign stopped or ended before every page was read)."""
    return _update_execution(
        execution_id,
        "SET #status = :cancelled, detail = :detail, updatedAt = :at",
        "#status IN (:queued, :running)",
        {":cancelled": s("cancelled"), ":detail": s(detail), ":queued": s("queued"), ":running": s("running")},
        at,
    )


def _update_execution(  # noqa: PLR0917 - the parts of one UpdateItem, in its order
    execution_id: str,
    update: str,
    condition: str,
    values: dict[str, Any],
    at: str,
    names: dict[str, str] | None = None,
) -> bool:
    try:
        aws.dynamodb().update_item(
            TableName=_table(),
            Key=_execution_key(execution_id),
            UpdateExpression=update,
            ConditionExpression=f"attribute_exists(pk) AND {condition}",
            ExpressionAttributeNames={"#status": "status", **(names or {})},
            ExpressionAttributeValues={**values, ":at": s(at)},
        )
        return True
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        return False


def recipient_page(execution_id: str, *, limit: int, next_token: str | None) -> tuple[list[RecipientState], str | None]:
    """One page of the recipient items of an execution (excluded at fan-out, or claimed by delivery),
    outcomes merged in, and the token of the next page. A token this API did not issue raises BadPageToken."""
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :r)",
        "ExpressionAttributeValues": {":pk": s(execution_pk(execution_id)), ":r": s("R#")},
        "ConsistentRead": True,
        "Limit": limit,
    }
    token = decode_token(next_token)
    if token is not None:
        after = token.get("after")
        if set(token) != {"after"} or not isinstance(after, str) or not after.startswith("R#"):
            raise BadPageToken
        kwargs["ExclusiveStartKey"] = {"pk": s(execution_pk(execution_id)), "sk": s(after)}
    response = aws.dynamodb().query(**kwargs)
    states = resolve_claimed([_state_from_item(item) for item in response.get("Items", [])])
    last = response.get("LastEvaluatedKey")
    return states, encode_token({"after": last["sk"]["S"]}) if last else None


# ---------------------------------------------------------------------------
# The request (idempotency)
# ---------------------------------------------------------------------------
class AudienceRequest(msgspec.Struct):
    request_key: str
    request_id: str
    body_hash: str
    answer: dict[str, Any]
    idempotent_until: int
    expires_at: int


def claim_request(request: AudienceRequest) -> AudienceRequest | None:
    """Claims the requestId: None when this call won, else the request that holds it (within its window)."""
    item = {
        "pk": s(f"REQ#{request.request_key}"),
        "sk": s(REQUEST_SK),
        "requestId": s(request.request_id),
        "bodyHash": s(request.body_hash),
        "answer": s(json.dumps(request.answer, separators=(",", ":"))),
        "idempotentUntil": n(request.idempotent_until),
        "expiresAt": n(request.expires_at),
    }
    existing = _put_new(item, "attribute_not_exists(pk) OR idempotentUntil < :now", **{":now": n(int(time.time()))})
    if existing is None:
        return None
    found = _request_from_item(request.request_key, existing) if existing else get_request(request.request_key)
    if found is None:
        raise RuntimeError("the request record was deleted while being claimed")
    return found


def _request_from_item(request_key: str, item: dict[str, Any]) -> AudienceRequest:
    values = plain(item)
    return AudienceRequest(
        request_key=request_key,
        request_id=values["requestId"],
        body_hash=values["bodyHash"],
        answer=json.loads(values["answer"]),
        idempotent_until=int(values["idempotentUntil"]),
        expires_at=int(values["expiresAt"]),
    )


# ---------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------
class Schedule(msgspec.Struct):
    schedule_id: str
    request_id: str
    campaign_id: str
    audience_id: str
    execute_at: str  # as answered: ISO 8601 in UTC
    due_key: str  # the due index's sort key
    created_at: str
    expires_at: int
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    status: str = "scheduled"  # scheduled | started | cancelled
    execution_id: str | None = None


def _schedule_key(schedule_id: str) -> dict[str, Any]:
    return {"pk": s(f"SCHEDULE#{schedule_id}"), "sk": s(SCHEDULE_SK)}


def _schedule_from_item(item: dict[str, Any]) -> Schedule:
    values = plain(item)
    return Schedule(
        schedule_id=values["scheduleId"],
        request_id=values["requestId"],
        campaign_id=values["campaignId"],
        audience_id=values["audienceId"],
        execute_at=values["executeAt"],
        due_key=values["dueKey"],
        created_at=values["createdAt"],
        expires_at=int(values["expiresAt"]),
        context=json.loads(values.get("context") or "{}"),
        status=values["status"],
        execution_id=values.get("executionId"),
    )


def create_schedule(schedule: Schedule) -> bool:
    """Writes the schedule, then its due index entry; False (nothing written) if it exists already."""
    item = {
        **_schedule_key(schedule.schedule_id),
        "scheduleId": s(schedule.schedule_id),
        "requestId": s(schedule.request_id),
        "campaignId": s(schedule.campaign_id),
        "audienceId": s(schedule.audience_id),
        "executeAt": s(schedule.execute_at),
        "dueKey": s(schedule.due_key),
        "createdAt": s(schedule.created_at),
        "expiresAt": n(schedule.expires_at),
        "context": s(json.dumps(schedule.context, separators=(",", ":"))),
        "status": s(schedule.status),
    }
    if _put_new(item) is not None:
        return False
    aws.dynamodb().put_item(
        TableName=_table(),
        Item={
            "pk": s(DUE_INDEX_PK),
            "sk": s(schedule.due_key),
            "scheduleId": s(schedule.schedule_id),
            "expiresAt": n(schedule.expires_at),
        },
    )
    return True


def get_schedule(schedule_id: str) -> Schedule | None:
    response = aws.dynamodb().get_item(TableName=_table(), Key=_schedule_key(schedule_id), ConsistentRead=True)
    item = response.get("Item")
    return _schedule_from_item(item) if item else None


def due_schedules(now_key: str) -> Iterator[tuple[str, str]]:
    """(due key, scheduleId) of every entry of the due index at or before `now_key`: one Query (paged)."""
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        # '#' (after every due key's instant) sorts before '$': an entry due at this very instant is included.
        "KeyConditionExpression": "pk = :pk AND sk < :bound",
        "ExpressionAttributeValues": {":pk": s(DUE_INDEX_PK), ":bound": s(now_key + "$")},
        "ConsistentRead": True,
    }
    while True:
        response = aws.dynamodb().query(**kwargs)
        for item in response.get("Items", []):
            yield item["sk"]["S"], item["scheduleId"]["S"]
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def remove_due_entry(due_key: str) -> None:
    aws.dynamodb().delete_item(TableName=_table(), Key={"pk": s(DUE_INDEX_PK), "sk": s(due_key)})


def move_schedule(schedule_id: str, *, to: str, execution_id: str | None, at: str) -> tuple[bool, Schedule | None]:
    """scheduled -> `to` (started, with its execution id, or cancelled), conditionally: (moved, the
    schedule as it was before). A schedule that fires twice is started once."""
    update = "SET #status = :to, updatedAt = :at"
    values: dict[str, Any] = {":to": s(to), ":at": s(at), ":scheduled": s("scheduled")}
    if execution_id:
        update += ", executionId = :execution"
        values[":execution"] = s(execution_id)
    try:
        answer = aws.dynamodb().update_item(
            TableName=_table(),
            Key=_schedule_key(schedule_id),
            UpdateExpression=update,
            ConditionExpression="attribute_exists(pk) AND #status = :scheduled",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_OLD",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return True, _schedule_from_item(answer["Attributes"])
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        existing: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
        return False, _schedule_from_item(existing) if existing else None


# ---------------------------------------------------------------------------
# The audience an execution sends to
# ---------------------------------------------------------------------------
def audience_head(audience_id: str) -> dict[str, Any] | None:
    """The audience's head as plain values (`id`, `name`, `kind`, `rule` as JSON text for a rule-based
    one), or None when there is none or it is being deleted (store.audiences.get_audience)."""
    from campaign_engine.store import audiences

    head = audiences.get_audience(audience_id)
    if head is None:
        return None
    return {"id": head.audience_id, "name": head.name, "kind": head.kind, "rule": head.rule}


def get_request(request_key: str) -> AudienceRequest | None:
    response = aws.dynamodb().get_item(
        TableName=_table(), Key={"pk": s(f"REQ#{request_key}"), "sk": s(REQUEST_SK)}, ConsistentRead=True
    )
    item = response.get("Item")
    return _request_from_item(request_key, item) if item else None
