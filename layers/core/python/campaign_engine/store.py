"""DynamoDB access: campaigns and their versions, executions and per-recipient claims, API keys.

Item layout
- Campaigns table: `CAMPAIGN#<id>` / `HEAD` holds the campaign as the API shows it (`doc`),
  its pending draft of a live campaign (`draft`) and the snapshot triggers use (`live`);
  `CAMPAIGN#<id>` / `V#000001` are immutable version snapshots that delivery caches forever.
- Executions table: `REQ#<hash of requestId>` / `EXECUTION` is the idempotency record and the
  verdicts of one trigger request; `EXEC#<executionId>` / `R#<userId>` (`R#sha256:<digest>`
  for an id too long for a key) is the send guard of one recipient (claimed before the send)
  and, once known, its outcome.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from campaign_engine import aws
from campaign_engine.errors import DomainError
from campaign_engine.settings import get_settings

HEAD = "HEAD"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int | float) -> dict[str, str]:
    return {"N": str(value)}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """Decodes the few attribute types this module writes (S, N, BOOL, NULL, L of S)."""
    out: dict[str, Any] = {}
    for name, value in item.items():
        ((kind, raw),) = value.items()
        if kind == "N":
            out[name] = int(raw) if raw.lstrip("-").isdigit() else float(raw)
        elif kind == "L":
            out[name] = [v.get("S") for v in raw]
        elif kind == "NULL":
            out[name] = None
        else:
            out[name] = raw
    return out


def encode_token(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def invalid_next_token() -> DomainError:
    return DomainError(
        code="invalid_next_token",
        status=400,
        title="Invalid nextToken",
        detail="nextToken is not one this API returned",
    )


def decode_token(token: str | None) -> dict[str, Any] | None:
    """The object a token holds; callers check its shape (a caller can forge any object)."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, RecursionError):
        raise invalid_next_token() from None
    if not isinstance(key, dict):
        raise invalid_next_token()
    return key


def _campaign_page_start(token: str | None) -> dict[str, Any] | None:
    """The head key a campaigns page token names. DynamoDB is never handed a forged key: it
    would refuse it (a 500), or start the scan where the caller chose."""
    start = decode_token(token)
    if start is None:
        return None
    pk, sk = start.get("pk"), start.get("sk")
    if (
        set(start) != {"pk", "sk"}
        or sk != _s(HEAD)
        or not isinstance(pk, dict)
        or set(pk) != {"S"}
        or not isinstance(pk["S"], str)
        or not pk["S"].startswith(_campaign_pk(""))
    ):
        raise invalid_next_token()
    return start


def _is_conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


# ---------------------------------------------------------------------------
# Campaigns
# ---------------------------------------------------------------------------
@dataclass
class CampaignHead:
    """The head item of a campaign: documents are JSON, so nested content round-trips exactly."""

    campaign_id: str
    doc: dict[str, Any]
    revision: int
    draft: dict[str, Any] | None = None
    live: dict[str, Any] | None = None


def _campaign_pk(campaign_id: str) -> str:
    return f"CAMPAIGN#{campaign_id}"


def _head_from_item(item: dict[str, Any]) -> CampaignHead:
    plain = _plain(item)
    return CampaignHead(
        campaign_id=plain["id"],
        doc=json.loads(plain["doc"]),
        revision=int(plain["revision"]),
        draft=json.loads(plain["draft"]) if plain.get("draft") else None,
        live=json.loads(plain["live"]) if plain.get("live") else None,
    )


def get_campaign_head(campaign_id: str, *, consistent: bool = False) -> CampaignHead | None:
    response = aws.dynamodb().get_item(
        TableName=get_settings().campaigns_table,
        Key={"pk": _s(_campaign_pk(campaign_id)), "sk": _s(HEAD)},
        ConsistentRead=consistent,
    )
    item = response.get("Item")
    return _head_from_item(item) if item else None


def get_live_snapshot(campaign_id: str) -> tuple[str, dict[str, Any] | None] | None:
    """What a trigger needs, in one read: the status and the live version's document."""
    response = aws.dynamodb().get_item(
        TableName=get_settings().campaigns_table,
        Key={"pk": _s(_campaign_pk(campaign_id)), "sk": _s(HEAD)},
        ProjectionExpression="#status, live",
        ExpressionAttributeNames={"#status": "status"},
    )
    item = response.get("Item")
    if not item:
        return None
    plain = _plain(item)
    return plain["status"], json.loads(plain["live"]) if plain.get("live") else None


def _head_item(head: CampaignHead) -> dict[str, Any]:
    doc = head.doc
    item: dict[str, Any] = {
        "pk": _s(_campaign_pk(head.campaign_id)),
        "sk": _s(HEAD),
        "id": _s(head.campaign_id),
        "status": _s(doc["status"]),
        "channel": _s(doc["channel"]),
        "type": _s(doc["type"]),
        "createdAt": _s(doc["createdAt"]),
        "revision": _n(head.revision),
        "doc": _s(json.dumps(doc, separators=(",", ":"))),
    }
    if doc.get("tags"):
        item["tags"] = {"L": [_s(t) for t in doc["tags"]]}
    if head.draft is not None:
        item["draft"] = _s(json.dumps(head.draft, separators=(",", ":")))
    if head.live is not None:
        item["live"] = _s(json.dumps(head.live, separators=(",", ":")))
    return item


# A head item holds up to three copies of a campaign (its view, a pending draft and the live
# version) and its tags once more, within DynamoDB's 400 KB per item: each document is held to
# a quarter of that, as stored, so that no later edit or activation can fail to be written.
MAX_CAMPAIGN_DOCUMENT_BYTES = 96 * 1024


def campaign_document_bytes(doc: dict[str, Any]) -> int:
    """A campaign document's size as the head item stores it (ASCII JSON: characters are bytes)."""
    return len(json.dumps(doc, separators=(",", ":")))


def put_campaign_head(head: CampaignHead, *, expected_revision: int | None) -> CampaignHead:
    """Writes the head with optimistic locking: two concurrent edits cannot both win."""
    new = CampaignHead(head.campaign_id, head.doc, (expected_revision or 0) + 1, head.draft, head.live)
    condition: dict[str, Any]
    if expected_revision is None:
        condition = {"ConditionExpression": "attribute_not_exists(pk)"}
    else:
        condition = {
            "ConditionExpression": "revision = :rev",
            "ExpressionAttributeValues": {":rev": _n(expected_revision)},
        }
    try:
        aws.dynamodb().put_item(TableName=get_settings().campaigns_table, Item=_head_item(new), **condition)
    except ClientError as exc:
        if _is_conditional_failure(exc):
            raise _changed_meanwhile() from exc
        raise
    return new


def _changed_meanwhile() -> DomainError:
    return DomainError(
        code="concurrent_modification",
        status=409,
        title="Conflict",
        detail="The campaign changed while this request was processed; read it again and retry",
    )


def put_campaign_version(campaign_id: str, version: int, doc: dict[str, Any]) -> None:
    aws.dynamodb().put_item(
        TableName=get_settings().campaigns_table,
        Item={
            "pk": _s(_campaign_pk(campaign_id)),
            "sk": _s(f"V#{version:06d}"),
            "doc": _s(json.dumps(doc, separators=(",", ":"))),
        },
        ConditionExpression="attribute_not_exists(pk)",
    )


def get_campaign_version(campaign_id: str, version: int) -> dict[str, Any] | None:
    response = aws.dynamodb().get_item(
        TableName=get_settings().campaigns_table,
        Key={"pk": _s(_campaign_pk(campaign_id)), "sk": _s(f"V#{version:06d}")},
    )
    item = response.get("Item")
    return json.loads(item["doc"]["S"]) if item else None


def delete_campaign(campaign_id: str, expected_revision: int) -> None:
    client = aws.dynamodb()
    table = get_settings().campaigns_table
    try:
        client.delete_item(
            TableName=table,
            Key={"pk": _s(_campaign_pk(campaign_id)), "sk": _s(HEAD)},
            ConditionExpression="revision = :rev",
            ExpressionAttributeValues={":rev": _n(expected_revision)},
        )
    except ClientError as exc:
        if _is_conditional_failure(exc):
            raise _changed_meanwhile() from exc
        raise


def list_campaign_heads(
    *, status: str | None, channel: str | None, tag: str | None, limit: int, next_token: str | None
) -> tuple[list[CampaignHead], str | None]:
    """A filtered scan over head items, paged: campaigns are few, so a scan beats an index's write cost."""
    filters = ["sk = :head"]
    values: dict[str, Any] = {":head": _s(HEAD)}
    names: dict[str, str] = {}
    if status:
        filters.append("#status = :status")
        values[":status"] = _s(status)
        names["#status"] = "status"
    if channel:
        filters.append("channel = :channel")
        values[":channel"] = _s(channel)
    if tag:
        filters.append("contains(tags, :tag)")
        values[":tag"] = _s(tag)
    kwargs: dict[str, Any] = {
        "TableName": get_settings().campaigns_table,
        "FilterExpression": " AND ".join(filters),
        "ExpressionAttributeValues": values,
    }
    if names:
        kwargs["ExpressionAttributeNames"] = names
    start = _campaign_page_start(next_token)
    heads: list[CampaignHead] = []
    while True:
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = aws.dynamodb().scan(**kwargs, Limit=max(limit * 4, 50))
        for item in response.get("Items", []):
            heads.append(_head_from_item(item))
            if len(heads) == limit:
                last = heads[-1].campaign_id
                return heads, encode_token({"pk": _s(_campaign_pk(last)), "sk": _s(HEAD)})
        start = response.get("LastEvaluatedKey")
        if not start:
            return heads, None


# ---------------------------------------------------------------------------
# Executions: the request record (idempotency and verdicts)
# ---------------------------------------------------------------------------
@dataclass
class ExecutionRecord:
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
    extra: dict[str, Any] = field(default_factory=dict)


def request_pk(request_key: str) -> str:
    return f"REQ#{request_key}"


def _record_item(record: ExecutionRecord, request_key: str) -> dict[str, Any]:
    return {
        "pk": _s(request_pk(request_key)),
        "sk": _s("EXECUTION"),
        "executionId": _s(record.execution_id),
        "requestId": _s(record.request_id),
        "campaignId": _s(record.campaign_id),
        "campaignVersion": _n(record.campaign_version),
        "channel": _s(record.channel),
        "bodyHash": _s(record.body_hash),
        "createdAt": _s(record.created_at),
        "idempotentUntil": _n(record.idempotent_until),
        "expiresAt": _n(record.expires_at),
        "verdicts": _s(json.dumps(record.verdicts, separators=(",", ":"))),
    }


def _record_from_item(item: dict[str, Any]) -> ExecutionRecord:
    plain = _plain(item)
    return ExecutionRecord(
        execution_id=plain["executionId"],
        request_id=plain["requestId"],
        campaign_id=plain["campaignId"],
        campaign_version=int(plain["campaignVersion"]),
        body_hash=plain["bodyHash"],
        created_at=plain["createdAt"],
        idempotent_until=int(plain["idempotentUntil"]),
        expires_at=int(plain["expiresAt"]),
        verdicts=json.loads(plain["verdicts"]),
        channel=plain.get("channel", "email"),
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
            ExpressionAttributeValues={":now": _n(int(time.time()))},
            ReturnValues="ALL_OLD",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        replaced = response.get("Attributes")
        if replaced:
            aws.dynamodb().put_item(
                TableName=get_settings().executions_table,
                Item={**replaced, "pk": _s(f"EXEC#{replaced['executionId']['S']}"), "sk": _s("EXECUTION")},
            )
        return None
    except ClientError as exc:
        if not _is_conditional_failure(exc):
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
        Key={"pk": _s(f"EXEC#{execution_id}"), "sk": _s("EXECUTION")},
    )
    item = response.get("Item")
    return _record_from_item(item) if item else None


def get_execution_record(request_key: str) -> ExecutionRecord | None:
    response = aws.dynamodb().get_item(
        TableName=get_settings().executions_table,
        Key={"pk": _s(request_pk(request_key)), "sk": _s("EXECUTION")},
        ConsistentRead=True,
    )
    item = response.get("Item")
    return _record_from_item(item) if item else None


# ---------------------------------------------------------------------------
# Executions: per-recipient send guard and outcome
# ---------------------------------------------------------------------------
@dataclass
class RecipientState:
    execution_id: str
    user_id: str
    state: str  # sending | sent | failed | excluded
    reason: str | None = None
    detail: str | None = None
    message_id: str | None = None
    locale: str | None = None
    attempt_id: str | None = None
    claimed_at: float | None = None
    updated_at: str | None = None
    # Where the claiming invocation writes this recipient's outcome (see write_outcome_batch).
    outcome_ref: str | None = None


# DynamoDB's limit on a sort key, in UTF-8 bytes (moto enforces it too).
MAX_SORT_KEY_BYTES = 1024


def _recipient_key(execution_id: str, user_id: str) -> dict[str, Any]:
    sort_key = f"R#{user_id}"
    # A userId may be 256 characters, up to 1,024 bytes: with its prefix it may not fit a sort
    # key, and the recipient's claim could then never be written (accepted, never sent). Such an
    # id is keyed by its digest; every reader takes the userId from the item, not the key.
    if len(sort_key) * 4 > MAX_SORT_KEY_BYTES and len(sort_key.encode()) > MAX_SORT_KEY_BYTES:
        sort_key = "R#sha256:" + hashlib.sha256(user_id.encode()).hexdigest()
    return {"pk": _s(f"EXEC#{execution_id}"), "sk": _s(sort_key)}


def _state_from_item(item: dict[str, Any]) -> RecipientState:
    plain = _plain(item)
    return RecipientState(
        execution_id=plain["executionId"],
        user_id=plain["userId"],
        state=plain["state"],
        reason=plain.get("reason"),
        detail=plain.get("detail"),
        message_id=plain.get("messageId"),
        locale=plain.get("locale"),
        attempt_id=plain.get("attemptId"),
        claimed_at=plain.get("claimedAt"),
        updated_at=plain.get("updatedAt"),
        outcome_ref=plain.get("outcomeRef"),
    )


@dataclass
class Claim:
    execution_id: str
    user_id: str
    campaign_id: str
    request_id: str
    attempt_id: str
    expires_at: int
    outcome_ref: str
    locale: str | None = None


def claim_recipient(claim: Claim) -> RecipientState | None:
    """The send guard: returns None if this attempt now owns the send, else the state that exists."""
    item = {
        **_recipient_key(claim.execution_id, claim.user_id),
        "executionId": _s(claim.execution_id),
        "userId": _s(claim.user_id),
        "campaignId": _s(claim.campaign_id),
        "requestId": _s(claim.request_id),
        "state": _s("sending"),
        "attemptId": _s(claim.attempt_id),
        "claimedAt": _n(round(time.time(), 3)),
        "expiresAt": _n(claim.expires_at),
        "outcomeRef": _s(claim.outcome_ref),
    }
    if claim.locale:
        item["locale"] = _s(claim.locale)
    try:
        aws.dynamodb().put_item(
            TableName=get_settings().executions_table,
            Item=item,
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return None
    except ClientError as exc:
        if not _is_conditional_failure(exc):
            raise
        existing: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
        if existing:
            state = _state_from_item(existing)
            if state.state == "sending" and state.attempt_id == claim.attempt_id:
                # This attempt's own claim: botocore retried the put after its first answer was
                # lost (a read timeout), and that first put had succeeded. The claim is ours.
                return None
            return state
        raise


def release_claim(execution_id: str, user_id: str, attempt_id: str) -> None:
    """Gives a claim back after a send that certainly did not happen (throttled, refused before sending)."""
    try:
        aws.dynamodb().delete_item(
            TableName=get_settings().executions_table,
            Key=_recipient_key(execution_id, user_id),
            ConditionExpression="attemptId = :attempt AND #state = :sending",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":attempt": _s(attempt_id), ":sending": _s("sending")},
        )
    except ClientError as exc:
        if not _is_conditional_failure(exc):
            raise


@dataclass
class Outcome:
    execution_id: str
    user_id: str
    campaign_id: str
    request_id: str
    state: str
    expires_at: int
    updated_at: str
    reason: str | None = None
    detail: str | None = None
    message_id: str | None = None
    locale: str | None = None
    attempt_id: str | None = None


def _outcome_item(outcome: Outcome) -> dict[str, Any]:
    item = {
        **_recipient_key(outcome.execution_id, outcome.user_id),
        "executionId": _s(outcome.execution_id),
        "userId": _s(outcome.user_id),
        "campaignId": _s(outcome.campaign_id),
        "requestId": _s(outcome.request_id),
        "state": _s(outcome.state),
        "updatedAt": _s(outcome.updated_at),
        "expiresAt": _n(outcome.expires_at),
    }
    for name, value in (
        ("reason", outcome.reason),
        ("detail", outcome.detail),
        ("messageId", outcome.message_id),
        ("locale", outcome.locale),
        ("attemptId", outcome.attempt_id),
    ):
        if value:
            item[name] = _s(value)
    return item


def record_outcomes(outcomes: Iterable[Outcome]) -> None:
    """Final states, 25 per request. They overwrite claims this consumer owns, so no condition is needed."""
    requests = [{"PutRequest": {"Item": _outcome_item(o)}} for o in outcomes]
    table = get_settings().executions_table
    client = aws.dynamodb()
    for start in range(0, len(requests), 25):
        pending = {table: requests[start : start + 25]}
        for attempt in range(8):
            response = client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                break
            time.sleep(min(0.05 * 2**attempt, 1.0))
        else:
            raise RuntimeError("DynamoDB left outcomes unprocessed after retries")


# Outcomes of claimed sends are written once per delivery invocation, into one item for all its
# recipients: a recipient item per outcome would cost a write unit per email. A claim names the
# item its outcome goes to, so readers merge the two (recipient_states).
OUTCOME_CHUNK_BYTES = 350 * 1024


def _outcome_key(execution_id: str, user_id: str) -> str:
    return f"{execution_id}|{user_id}"


def write_outcome_batch(ref: str, outcomes: list[Outcome]) -> None:
    if not outcomes:
        return
    entries = {
        _outcome_key(o.execution_id, o.user_id): [o.state, o.reason, o.detail, o.message_id, o.locale, o.updated_at]
        for o in outcomes
    }
    chunks: list[dict[str, Any]] = [{}]
    size = 0
    for key, entry in entries.items():
        length = len(json.dumps([key, entry]))
        if chunks[-1] and size + length > OUTCOME_CHUNK_BYTES:
            chunks.append({})
            size = 0
        chunks[-1][key] = entry
        size += length
    expires = max(o.expires_at for o in outcomes)
    # Part 0 says how many parts there are and is written last: readers fetch it by key (no
    # query per batch), and its presence means every part is there.
    for number, chunk in reversed(list(enumerate(chunks))):
        aws.dynamodb().put_item(
            TableName=get_settings().executions_table,
            Item={
                "pk": _s(ref),
                "sk": _s(f"OUTCOMES#{number}"),
                "expiresAt": _n(expires),
                "parts": _n(len(chunks)),
                "outcomes": _s(json.dumps(chunk, separators=(",", ":"))),
            },
        )


def get_outcome_batches(refs: Iterable[str]) -> dict[str, list[Any]]:
    """Outcome entries by "executionId|userId", from the given batches: their first parts by key,
    100 per request (an execution of 1,000 recipients spans dozens of batches), then any others."""
    found: dict[str, list[Any]] = {}
    more: list[dict[str, Any]] = []
    for item in _get_items([{"pk": _s(ref), "sk": _s("OUTCOMES#0")} for ref in set(refs)]):
        found.update(json.loads(item["outcomes"]["S"]))
        parts = int(item.get("parts", {}).get("N", "1"))
        more += [{"pk": item["pk"], "sk": _s(f"OUTCOMES#{n}")} for n in range(1, parts)]
    for item in _get_items(more):
        found.update(json.loads(item["outcomes"]["S"]))
    return found


def _get_items(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """BatchGetItem of the executions table, strongly consistent, unprocessed keys retried."""
    table = get_settings().executions_table
    items: list[dict[str, Any]] = []
    for start in range(0, len(keys), 100):
        pending: dict[str, Any] = {table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
        for attempt in range(8):
            response = aws.dynamodb().batch_get_item(RequestItems=pending)
            items += response.get("Responses", {}).get(table, [])
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
            time.sleep(min(1.0, 0.05 * 2**attempt))
        else:
            raise RuntimeError("DynamoDB left keys unprocessed after retries")
    return items


def resolve_claimed(states: list[RecipientState]) -> list[RecipientState]:
    """Claims still `sending` whose outcome their invocation recorded take that outcome."""
    refs = {s.outcome_ref for s in states if s.state == "sending" and s.outcome_ref}
    if not refs:
        return states
    outcomes = get_outcome_batches(refs)
    resolved = []
    for claim in states:
        entry = outcomes.get(_outcome_key(claim.execution_id, claim.user_id)) if claim.state == "sending" else None
        if not entry:
            resolved.append(claim)
            continue
        outcome_state, reason, detail, message_id, locale, updated_at = entry
        resolved.append(
            RecipientState(
                execution_id=claim.execution_id,
                user_id=claim.user_id,
                state=outcome_state,
                reason=reason,
                detail=detail,
                message_id=message_id,
                locale=locale or claim.locale,
                attempt_id=claim.attempt_id,
                claimed_at=claim.claimed_at,
                updated_at=updated_at,
                outcome_ref=claim.outcome_ref,
            )
        )
    return resolved


def get_recipient_state(execution_id: str, user_id: str) -> RecipientState | None:
    response = aws.dynamodb().get_item(
        TableName=get_settings().executions_table, Key=_recipient_key(execution_id, user_id), ConsistentRead=True
    )
    item = response.get("Item")
    return resolve_claimed([_state_from_item(item)])[0] if item else None


def recipient_states(execution_id: str) -> list[RecipientState]:
    """Every recipient of an execution that delivery touched, with recorded outcomes merged in."""
    return resolve_claimed(list(iter_recipient_states(execution_id)))


def iter_recipient_states(execution_id: str) -> Iterator[RecipientState]:
    kwargs: dict[str, Any] = {
        "TableName": get_settings().executions_table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :r)",
        "ExpressionAttributeValues": {":pk": _s(f"EXEC#{execution_id}"), ":r": _s("R#")},
        "ConsistentRead": True,
    }
    while True:
        response = aws.dynamodb().query(**kwargs)
        for item in response.get("Items", []):
            yield _state_from_item(item)
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def advance_recipient_state(
    execution_id: str,
    user_id: str,
    message_id: str,
    *,
    state: str,
    allowed_from: tuple[str, ...],
    reason: str | None,
    detail: str | None,
    at: str,
    unconfirmed_reason: str,
) -> tuple[str, str | None, str | None] | str:
    """Moves a recipient forward after a provider event, in one conditional update: only from the
    states given, only for the message recorded (or one whose send was unconfirmed), never back.
    Returns (previous state, previous reason, campaignId) when it moved, else why not: "unknown",
    "sending", "other_message", or the state it is in."""
    prior = allowed_from
    names = {"#state": "state", "#reason": "reason", "#detail": "detail", "#mid": "messageId", "#at": "updatedAt"}
    values: dict[str, Any] = {
        ":new": _s(state),
        ":mid": _s(message_id),
        ":at": _s(at),
        ":failed": _s("failed"),
        ":unconfirmed": _s(unconfirmed_reason),
        **{f":p{i}": _s(state) for i, state in enumerate(prior)},
    }
    assignments = ["#state = :new", "#mid = :mid", "#at = :at"]
    removals = []
    for name, value in (("reason", reason), ("detail", detail)):
        if value:
            assignments.append(f"#{name} = :{name}")
            values[f":{name}"] = _s(value)
        else:
            removals.append(f"#{name}")
    update = "SET " + ", ".join(assignments) + (" REMOVE " + ", ".join(removals) if removals else "")
    allowed = ", ".join(f":p{i}" for i in range(len(prior)))
    condition = (
        f"attribute_exists(pk) AND (((#mid = :mid OR attribute_not_exists(#mid)) AND #state IN ({allowed})) OR "
        "(#state = :failed AND #reason = :unconfirmed AND attribute_not_exists(#mid)))"
    )
    try:
        answer = aws.dynamodb().update_item(
            TableName=get_settings().executions_table,
            Key=_recipient_key(execution_id, user_id),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_OLD",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if not _is_conditional_failure(exc):
            raise
        item: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
        if not item:
            return "unknown"
        current = _plain(item)
        if current.get("state") == "sending":
            return "sending"
        if current.get("messageId") and current["messageId"] != message_id:
            return "other_message"
        return str(current.get("state"))
    old = _plain(answer.get("Attributes") or {})
    return str(old.get("state")), old.get("reason"), old.get("campaignId")


# ---------------------------------------------------------------------------
# Report counts
# ---------------------------------------------------------------------------
def add_report_counts(campaign_id: str, bucket: str, counts: Mapping[str, int]) -> None:
    names = {f"#c{i}": name for i, name in enumerate(counts)}
    values = {f":c{i}": _n(counts[name]) for i, name in enumerate(counts)}
    aws.dynamodb().update_item(
        TableName=get_settings().executions_table,
        Key={"pk": _s(f"STATS#{campaign_id}"), "sk": _s(f"H#{bucket}")},
        UpdateExpression="ADD " + ", ".join(f"{n} {v}" for n, v in zip(names, values, strict=True)),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def iter_report_counts(campaign_id: str, from_bucket: str | None) -> Iterator[dict[str, int]]:
    condition = "pk = :pk AND sk >= :from" if from_bucket else "pk = :pk"
    values = {":pk": _s(f"STATS#{campaign_id}")}
    if from_bucket:
        values[":from"] = _s(f"H#{from_bucket}")
    kwargs: dict[str, Any] = {
        "TableName": get_settings().executions_table,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
    }
    while True:
        response = aws.dynamodb().query(**kwargs)
        for item in response.get("Items", []):
            yield {k: int(v["N"]) for k, v in item.items() if ":" in k and "N" in v}
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


# ---------------------------------------------------------------------------
# API keys
# ---------------------------------------------------------------------------
def put_api_key(
    *, key_hash: str, key_id: str, name: str, scopes: list[str], labels: list[str] | None, created_at: str
) -> None:
    item: dict[str, Any] = {
        "keyHash": _s(key_hash),
        "keyId": _s(key_id),
        "name": _s(name),
        "scopes": _s(" ".join(scopes)),
        "createdAt": _s(created_at),
    }
    if labels is not None:
        item["labels"] = _s(",".join(labels))
    aws.dynamodb().put_item(
        TableName=get_settings().api_keys_table, Item=item, ConditionExpression="attribute_not_exists(keyHash)"
    )


def get_api_key(key_hash: str) -> dict[str, Any] | None:
    response = aws.dynamodb().get_item(TableName=get_settings().api_keys_table, Key={"keyHash": _s(key_hash)})
    item = response.get("Item")
    return _plain(item) if item else None
