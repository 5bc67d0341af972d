"""One recipient of an execution: `EXEC#<executionId>` / `R#<userId>` in the executions table
(`R#sha256:<digest>` for an id too long for a key: _dynamodb.recipient_key),
the send guard claimed before the send (`claim_recipient`), then its state, merged with the
outcome its delivery invocation recorded (outcomes.py), then moved on by provider events."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
from botocore.exceptions import ClientError

from campaign_engine import aws
from campaign_engine.settings import get_settings
from campaign_engine.store._dynamodb import execution_pk, is_conditional_failure, n, plain, recipient_key, s
from campaign_engine.store.feedback_attempts import from_name, mark_name
from campaign_engine.store.outcomes import get_items, get_outcome_batches, outcome_key


class RecipientState(msgspec.Struct):
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
    # When the person unsubscribed through this message's one-click link (campaign_engine.tracking).
    unsubscribed_at: str | None = None
    campaign_id: str | None = None
    # The feedback function's count marks: state moved to -> (mark, state the move replaced).
    count_marks: dict[str, tuple[str, str]] = msgspec.field(default_factory=dict)


def _state_from_item(item: dict[str, Any]) -> RecipientState:
    values = plain(item)
    return RecipientState(
        execution_id=values["executionId"],
        user_id=values["userId"],
        state=values["state"],
        reason=values.get("reason"),
        detail=values.get("detail"),
        message_id=values.get("messageId"),
        locale=values.get("locale"),
        attempt_id=values.get("attemptId"),
        claimed_at=values.get("claimedAt"),
        updated_at=values.get("updatedAt"),
        outcome_ref=values.get("outcomeRef"),
        unsubscribed_at=values.get("unsubscribedAt"),
        campaign_id=values.get("campaignId"),
        count_marks=count_marks(values),
    )


def count_marks(values: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """A decoded recipient item's count marks (store/feedback_attempts.py), by the state moved to."""
    marks = {}
    for name, value in values.items():
        target = name.removeprefix("cnt#")
        if target != name and "#" not in target:
            marks[target] = (str(value), str(values.get(from_name(target), "")))
    return marks


class Claim(msgspec.Struct):
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
        **recipient_key(claim.execution_id, claim.user_id),
        "executionId": s(claim.execution_id),
        "userId": s(claim.user_id),
        "campaignId": s(claim.campaign_id),
        "requestId": s(claim.request_id),
        "state": s("sending"),
        "attemptId": s(claim.attempt_id),
        "claimedAt": n(round(time.time(), 3)),
        "expiresAt": n(claim.expires_at),
        "outcomeRef": s(claim.outcome_ref),
    }
    if claim.locale:
        item["locale"] = s(claim.locale)
    try:
        aws.dynamodb().put_item(
            TableName=get_settings().executions_table,
            Item=item,
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return None
    except ClientError as exc:
        if not is_conditional_failure(exc):
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
            Key=recipient_key(execution_id, user_id),
            ConditionExpression="attemptId = :attempt AND #state = :sending",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":attempt": s(attempt_id), ":sending": s("sending")},
        )
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise


def resolve_claimed(states: list[RecipientState]) -> list[RecipientState]:
    """Claims still `sending` whose outcome their invocation recorded take that outcome."""
    refs = {state.outcome_ref for state in states if state.state == "sending" and state.outcome_ref}
    if not refs:
        return states
    outcomes = get_outcome_batches(refs)
    resolved = []
    for claim in states:
        entry = outcomes.get(outcome_key(claim.execution_id, claim.user_id)) if claim.state == "sending" else None
        if not entry:
            resolved.append(claim)
            continue
        outcome_state, reason, detail, message_id, locale, updated_at = entry
        # Everything else (campaign, count marks, the claim's own fields) stays as the claim has it.
        resolved.append(
            msgspec.structs.replace(
                claim,
                state=outcome_state,
                reason=reason,
                detail=detail,
                message_id=message_id,
                locale=locale or claim.locale,
                updated_at=updated_at,
            )
        )
    return resolved


def get_recipient_state(execution_id: str, user_id: str) -> RecipientState | None:
    response = aws.dynamodb().get_item(
        TableName=get_settings().executions_table, Key=recipient_key(execution_id, user_id), ConsistentRead=True
    )
    item = response.get("Item")
    return resolve_claimed([_state_from_item(item)])[0] if item else None


def get_recipient_states(
    keys: Iterable[tuple[str, str]], *, consistent: bool = True
) -> dict[tuple[str, str], RecipientState]:
    """Several recipients as recorded, by (executionId, userId): one BatchGetItem per 100 of them, then one
    (strongly consistent) for the outcome batches of those still claimed (the feedback function's batch)."""
    wanted = list(dict.fromkeys(keys))
    keys_wanted = [recipient_key(execution_id, user_id) for execution_id, user_id in wanted]
    items = get_items(keys_wanted, consistent=consistent)
    states = resolve_claimed([_state_from_item(item) for item in items])
    return {(state.execution_id, state.user_id): state for state in states}


def recipient_states(execution_id: str) -> list[RecipientState]:
    """Every recipient of an execution that delivery touched, with recorded outcomes merged in."""
    return resolve_claimed(list(iter_recipient_states(execution_id)))


def iter_recipient_states(execution_id: str) -> Iterator[RecipientState]:
    kwargs: dict[str, Any] = {
        "TableName": get_settings().executions_table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :r)",
        "ExpressionAttributeValues": {":pk": s(execution_pk(execution_id)), ":r": s("R#")},
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
    move = Move(state, allowed_from, reason, detail, at, unconfirmed_reason)
    moved = move_recipient(execution_id, user_id, message_id, move)
    if not moved.moved:
        return moved.why
    return str(moved.item.get("state")), moved.item.get("reason"), moved.item.get("campaignId")


class Move(msgspec.Struct, frozen=True):
    """Where a provider event moves a recipient (see advance_recipient_state). `mark`: the count mark the
    feedback function keeps for the move (store/feedback_attempts.py), written with it once per state."""

    state: str
    allowed_from: tuple[str, ...]
    reason: str | None
    detail: str | None
    at: str
    unconfirmed_reason: str
    mark: str | None = None


class Moved(msgspec.Struct, frozen=True):
    """What a move found: whether it moved, why not, and the item as it was (decoded; {} if none)."""

    moved: bool
    why: str
    item: dict[str, Any]


def move_recipient(execution_id: str, user_id: str, message_id: str, move: Move) -> Moved:
    """advance_recipient_state's update, answering the item it found (moved or not)."""
    names = {"#state": "state", "#reason": "reason", "#detail": "detail", "#mid": "messageId", "#at": "updatedAt"}
    values: dict[str, Any] = {
        ":new": s(move.state),
        ":mid": s(message_id),
        ":at": s(move.at),
        ":failed": s("failed"),
        ":unconfirmed": s(move.unconfirmed_reason),
        **{f":p{i}": s(state) for i, state in enumerate(move.allowed_from)},
    }
    assignments = ["#state = :new", "#mid = :mid", "#at = :at"]
    if move.mark:
        # Kept from the first move to this state (sent -> sent, a delivery delay, may come again).
        names |= {"#mark": mark_name(move.state), "#from": from_name(move.state)}
        values[":mark"] = s(move.mark)
        assignments += ["#mark = if_not_exists(#mark, :mark)", "#from = if_not_exists(#from, #state)"]
    removals = []
    for name, value in (("reason", move.reason), ("detail", move.detail)):
        if value:
            assignments.append(f"#{name} = :{name}")
            values[f":{name}"] = s(value)
        else:
            removals.append(f"#{name}")
    update = "SET " + ", ".join(assignments) + (" REMOVE " + ", ".join(removals) if removals else "")
    allowed = ", ".join(f":p{i}" for i in range(len(move.allowed_from)))
    condition = (
        f"attribute_exists(pk) AND (((#mid = :mid OR attribute_not_exists(#mid)) AND #state IN ({allowed})) OR "
        "(#state = :failed AND #reason = :unconfirmed AND attribute_not_exists(#mid)))"
    )
    try:
        answer = aws.dynamodb().update_item(
            TableName=get_settings().executions_table,
            Key=recipient_key(execution_id, user_id),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_OLD",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        item: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
        if not item:
            return Moved(False, "unknown", {})
        current = plain(item)
        if current.get("state") == "sending":
            return Moved(False, "sending", current)
        if current.get("messageId") and current["messageId"] != message_id:
            return Moved(False, "other_message", current)
        return Moved(False, str(current.get("state")), current)
    return Moved(True, "", plain(answer.get("Attributes") or {}))


def mark_recipient(execution_id: str, user_id: str, attribute: str, at: str) -> tuple[RecipientState, bool] | None:
    """Sets the recipient's `attribute` (openedAt, clickedAt, unsubscribedAt) to `at` unless it is set
    already, in one conditional UpdateItem: the recipient as it was before, and whether this set it
    (the first time); None when there is no such recipient."""
    try:
        answer = aws.dynamodb().update_item(
            TableName=get_settings().executions_table,
            Key=recipient_key(execution_id, user_id),
            UpdateExpression="SET #a = if_not_exists(#a, :at)",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#a": attribute},
            ExpressionAttributeValues={":at": s(at)},
            ReturnValues="ALL_OLD",
        )
    except ClientError as exc:
        if is_conditional_failure(exc):
            return None
        raise
    before = answer.get("Attributes") or {}
    return _state_from_item(before), attribute not in before
