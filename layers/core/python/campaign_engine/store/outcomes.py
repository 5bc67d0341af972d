"""Final outcomes of claimed sends: written per recipient item (`record_outcomes`), or once per
delivery invocation into one batch item for all its recipients (`write_outcome_batch`), which
readers merge into the claims that name it (recipients.resolve_claimed)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import msgspec

from campaign_engine import aws
from campaign_engine.settings import get_settings
from campaign_engine.store._dynamodb import n, recipient_key, s


class Outcome(msgspec.Struct):
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
        **recipient_key(outcome.execution_id, outcome.user_id),
        "executionId": s(outcome.execution_id),
        "userId": s(outcome.user_id),
        "campaignId": s(outcome.campaign_id),
        "requestId": s(outcome.request_id),
        "state": s(outcome.state),
        "updatedAt": s(outcome.updated_at),
        "expiresAt": n(outcome.expires_at),
    }
    for name, value in (
        ("reason", outcome.reason),
        ("detail", outcome.detail),
        ("messageId", outcome.message_id),
        ("locale", outcome.locale),
        ("attemptId", outcome.attempt_id),
    ):
        if value:
            item[name] = s(value)
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
# item its outcome goes to, so readers merge the two (recipients.resolve_claimed).
OUTCOME_CHUNK_BYTES = 350 * 1024


def outcome_key(execution_id: str, user_id: str) -> str:
    return f"{execution_id}|{user_id}"


def write_outcome_batch(ref: str, outcomes: list[Outcome]) -> None:
    if not outcomes:
        return
    entries = {
        outcome_key(o.execution_id, o.user_id): [o.state, o.reason, o.detail, o.message_id, o.locale, o.updated_at]
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
                "pk": s(ref),
                "sk": s(f"OUTCOMES#{number}"),
                "expiresAt": n(expires),
                "parts": n(len(chunks)),
                "outcomes": s(json.dumps(chunk, separators=(",", ":"))),
            },
        )


def get_outcome_batches(refs: Iterable[str]) -> dict[str, list[Any]]:
    """Outcome entries by "executionId|userId", from the given batches: their first parts by key,
    100 per request (an execution of 1,000 recipients spans dozens of batches), then any others."""
    found: dict[str, list[Any]] = {}
    more: list[dict[str, Any]] = []
    for item in get_items([{"pk": s(ref), "sk": s("OUTCOMES#0")} for ref in set(refs)]):
        found.update(json.loads(item["outcomes"]["S"]))
        parts = int(item.get("parts", {}).get("N", "1"))
        more += [{"pk": item["pk"], "sk": s(f"OUTCOMES#{part}")} for part in range(1, parts)]
    for item in get_items(more):
        found.update(json.loads(item["outcomes"]["S"]))
    return found


def get_items(keys: list[dict[str, Any]], *, consistent: bool = True) -> list[dict[str, Any]]:
    """BatchGetItem of the executions table (strongly consistent unless told), unprocessed keys retried."""
    table = get_settings().executions_table
    items: list[dict[str, Any]] = []
    for start in range(0, len(keys), 100):
        pending: dict[str, Any] = {table: {"Keys": keys[start : start + 100], "ConsistentRead": consistent}}
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
