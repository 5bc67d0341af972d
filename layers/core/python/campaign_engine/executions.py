"""What happened to every recipient of an execution: from `queued` to its final state, as the
contract shows it (recipient_states maps each state to its public status)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

from campaign_engine import store
from campaign_engine.auth import Principal, no_access, require_labels
from campaign_engine.errors import DomainError
from campaign_engine.models import ExecutionStatus, RecipientOutcome
from campaign_engine.recipient_states import EXCLUDED, PUBLIC_STATUS, QUEUED
from campaign_engine.settings import get_settings
from campaign_engine.trigger import legacy_request_key, request_key, request_key_of_execution

if TYPE_CHECKING:
    from campaign_engine.audience_models import AudienceExecutionStatus

# Audience executions' ids (audience_executions.EXECUTION_PREFIX): their record is read by id, not by request key.
AUDIENCE_EXECUTION_PREFIX = "aud_"


def check_label_access(principal: Principal, campaign_id: str | None) -> None:
    """For a label-limited key, the same 403 whether the execution (or schedule) does not exist
    (campaign_id None) or is of a campaign the key may not reach: it learns neither, nor which
    campaign it is of. Checked against the labels of the campaign's current version, as the
    trigger that made the execution is."""
    if not principal.label_limited:
        return
    if campaign_id is None:
        raise no_access()
    head = store.get_campaign_head(campaign_id)
    require_labels(principal, (head.doc.get("labels") or []) if head else [], None)


def execution_status(
    execution_id: str, principal: Principal, *, limit: int, next_token: str | None
) -> ExecutionStatus | AudienceExecutionStatus:
    """A unitary execution's status (its request record's verdicts and the recipients' states), or an
    audience execution's (audience_executions: its record's status and counts, its recipients paged)."""
    if not (principal.can("reports:read") or principal.can("campaigns:trigger")):
        raise DomainError(
            code="forbidden",
            detail="Reading executions needs the 'reports:read' or 'campaigns:trigger' scope",
        )
    if execution_id.startswith(AUDIENCE_EXECUTION_PREFIX):
        from campaign_engine.audience_executions import audience_execution_status

        return audience_execution_status(execution_id, principal, limit=limit, next_token=next_token)
    key = request_key_of_execution(execution_id)
    record = store.get_execution_record(key) if key else None
    if record is not None and record.execution_id != execution_id:
        record = store.get_replaced_execution_record(execution_id)
    check_label_access(principal, record.campaign_id if record else None)
    if record is None:
        raise DomainError(code="execution_not_found", detail=f"No execution with id {execution_id!r}")

    states = {s.user_id: s for s in store.recipient_states(execution_id)}
    outcomes: list[RecipientOutcome] = []
    for user_id, verdict, reason, detail, *_ in record.verdicts:
        if verdict == "rejected":
            outcomes.append(
                RecipientOutcome(user_id=user_id, status=PUBLIC_STATUS[EXCLUDED], reason=reason, detail=detail)
            )
            continue
        state = states.get(user_id)
        if state is None:
            outcomes.append(RecipientOutcome(user_id=user_id, status=PUBLIC_STATUS[QUEUED]))
            continue
        outcomes.append(recipient_outcome(state))
    counts = Counter(o.status for o in outcomes)
    offset = _page_offset(next_token)
    page = outcomes[offset : offset + limit]
    more = offset + limit < len(outcomes)
    return ExecutionStatus(
        execution_id=execution_id,
        request_id=record.request_id,
        campaign_id=record.campaign_id,
        campaign_version=record.campaign_version,
        created_at=datetime.fromisoformat(record.created_at.replace("Z", "+00:00")),
        status="in_progress" if counts.get("queued") else "completed",
        counts={"total": len(outcomes), **dict(sorted(counts.items()))},
        recipients=page,
        next_token=store.encode_token({"offset": offset + limit}) if more else None,
    )


def find_execution(
    campaign_id: str, request_id: str, principal: Principal, *, limit: int, next_token: str | None
) -> ExecutionStatus | AudienceExecutionStatus:
    """The execution this caller's trigger (or audience execution started now) made for this campaign
    and requestId, as GET /im/executions/{executionId} answers it: callers that kept only their own
    requestId find what happened to it. Idempotency is per calling key and campaign (trigger.request_key),
    so another key's request with the same requestId is not found, as it would not be replayed."""
    execution_id = _execution_of_request(campaign_id, request_id, principal.key_id)
    if execution_id is None:
        check_label_access(principal, None)
        raise DomainError(
            code="execution_not_found",
            detail=f"No execution of campaign {campaign_id!r} has requestId {request_id!r} from this key",
        )
    return execution_status(execution_id, principal, limit=limit, next_token=next_token)


def _execution_of_request(campaign_id: str, request_id: str, key_id: str) -> str | None:
    from campaign_engine.store import audience_executions as audience_records

    keys = [request_key(campaign_id, request_id, key_id)]
    if get_settings().read_unscoped_request_ids:  # records made before idempotency was scoped per key
        keys.append(legacy_request_key(campaign_id, request_id))
    for key in keys:
        record = store.get_execution_record(key)
        if record is not None and record.request_id == request_id:
            return record.execution_id
        audience = audience_records.get_request(key)
        if audience is not None and audience.request_id == request_id and audience.answer.get("executionId"):
            return str(audience.answer["executionId"])
    return None


def recipient_outcome(state: store.RecipientState) -> RecipientOutcome:
    """A recipient's state as the contract shows it."""
    return RecipientOutcome(
        user_id=state.user_id,
        status=PUBLIC_STATUS.get(state.state, state.state),
        reason=state.reason,
        detail=state.detail,
        message_id=state.message_id,
        locale=state.locale,
        updated_at=_moment(state.updated_at),
        unsubscribed_at=_moment(state.unsubscribed_at),
    )


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _page_offset(next_token: str | None) -> int:
    """Where the page a token names starts; a token this API did not issue is a 400, not a 500."""
    token = store.decode_token(next_token)
    if token is None:
        return 0
    offset = token.get("offset")
    if set(token) != {"offset"} or type(offset) is not int or offset < 1:
        raise store.BadPageToken
    return offset
