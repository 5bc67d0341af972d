"""The feedback function's attempts: which counted the moves they made, in the executions table.

Each feedback batch is an attempt with its own id. Every recipient it moves keeps, in the same
conditional update, a count mark for the state it moved to (`cnt#<state>` = "<attemptId> <claim outcome>",
`cnt#<state>#from` = the state the move replaced: see advance_recipient_state). The attempt's report
counters are written with its commit record (`FEEDBACK#<attemptId>` / `ATTEMPT`, state `committed`) in
one transaction: a mark's move is counted if and only if its attempt's record says committed.

An event that finds its recipient already there, marked by an attempt without a commit record (it
failed or crashed before its counters were written), settles that attempt as `aborted` (a conditional
put: it can no longer commit), takes the mark over (a conditional update: one taker), and counts the move
itself. Records expire after RECORD_DAYS, longer than an event can come back: the queue keeps a message
4 days, its dead-letter queue 14, EventBridge retries for 24 hours.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any, Literal

from botocore.exceptions import ClientError

from campaign_engine import aws
from campaign_engine.settings import get_settings
from campaign_engine.store._dynamodb import is_conditional_failure, n, recipient_key, s
from campaign_engine.store.outcomes import get_items
from campaign_engine.store.reports import counter_update

RECORD_DAYS = 30
COMMITTED: Literal["committed"] = "committed"
ABORTED: Literal["aborted"] = "aborted"
AttemptState = Literal["committed", "aborted"]
# A transaction cancelled because another one held a counter item is tried again this many times.
CONFLICT_TRIES = 4


def mark_name(target: str) -> str:
    """The recipient attribute holding the count mark of its move to `target`."""
    return f"cnt#{target}"


def from_name(target: str) -> str:
    """The recipient attribute holding the state its move to `target` replaced."""
    return f"cnt#{target}#from"


def _key(attempt_id: str) -> dict[str, Any]:
    return {"pk": s(f"FEEDBACK#{attempt_id}"), "sk": s("ATTEMPT")}


def _record(attempt_id: str, state: AttemptState) -> dict[str, Any]:
    return {**_key(attempt_id), "state": s(state), "expiresAt": n(int(time.time()) + RECORD_DAYS * 86_400)}


def attempt_states(attempt_ids: set[str]) -> dict[str, AttemptState]:
    """The recorded end of these attempts (eventually consistent: absent ones are settled by `abort`)."""
    if not attempt_ids:
        return {}
    items = get_items([_key(attempt_id) for attempt_id in sorted(attempt_ids)], consistent=False)
    return {item["pk"]["S"].removeprefix("FEEDBACK#"): item["state"]["S"] for item in items}


def abort(attempt_id: str) -> AttemptState:
    """Settles an attempt that has not committed as aborted (its commit then fails); returns how it ended."""
    try:
        aws.dynamodb().put_item(
            TableName=get_settings().executions_table,
            Item=_record(attempt_id, ABORTED),
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        existing: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
        return COMMITTED if existing.get("state", {}).get("S") == COMMITTED else ABORTED
    return ABORTED


def take_over(execution_id: str, user_id: str, target: str, mark: str, new_mark: str) -> bool:
    """Moves a recipient's count mark from an aborted attempt to this one; False if another took it first."""
    try:
        aws.dynamodb().update_item(
            TableName=get_settings().executions_table,
            Key=recipient_key(execution_id, user_id),
            UpdateExpression="SET #mark = :new",
            ConditionExpression="#mark = :old",
            ExpressionAttributeNames={"#mark": mark_name(target)},
            ExpressionAttributeValues={":new": s(new_mark), ":old": s(mark)},
        )
    except ClientError as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True


def commit(attempt_id: str, counts: Mapping[tuple[str, str], Mapping[str, int]]) -> bool:
    """Writes the attempt's report counters and its commit record in one transaction; False when the
    attempt was aborted meanwhile (its moves are then counted by whoever takes their marks over)."""
    table = get_settings().executions_table
    items: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": table,
                "Item": _record(attempt_id, COMMITTED),
                "ConditionExpression": "attribute_not_exists(pk)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
    ]
    # Counter items of their own (sort key suffix `feedback`): only these transactions write them, so no
    # transaction ever holds an item that delivery or tracking add to.
    items += [
        {"Update": counter_update(campaign_id, bucket, counter, part="feedback")}
        for (campaign_id, bucket), counter in counts.items()
        if counter
    ]
    for attempt in range(CONFLICT_TRIES):
        try:
            aws.dynamodb().transact_write_items(TransactItems=items)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons: list[dict[str, Any]] = exc.response.get("CancellationReasons") or []  # type: ignore[assignment]
            first = reasons[0] if reasons else {}
            if first.get("Code") == "ConditionalCheckFailed":
                # Aborted by an event that took its marks over, or committed by a try whose answer was lost.
                return (first.get("Item") or {}).get("state", {}).get("S") == COMMITTED
            if attempt == CONFLICT_TRIES - 1 or not any(r.get("Code") == "TransactionConflict" for r in reasons):
                raise
            time.sleep(random.uniform(0.02, 0.1) * 2**attempt)  # noqa: S311 # nosec B311  # jitter, no secret
    return False  # pragma: no cover - the loop returns or raises
