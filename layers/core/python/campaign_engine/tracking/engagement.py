"""Recording an open or a click: `record(engagement)` is the one place both go through (a webhook
call for `opened` / `clicked` belongs here).

A machine's hit (machines.py) only adds `machine:opened` / `machine:clicked` to the report. A
person's hit marks the recipient (`openedAt` / `clickedAt`, kept from the first time: one
conditional UpdateItem that also says whether it is the first), adds `total:<kind>` and, the first
time, `unique:<kind>`, and moves the recipient forward to `opened` / `clicked` as an SES event would
(recipient_states: mover "event"; one conditional update, never back, never past bounced or
complained). Engagement counters go to the hour the hit happened; a status move is counted in the
hour the message was sent, where delivery counted it (as feedback does), so that each recipient
stays counted once.

A hit for a recipient whose record is gone (expired after 30 days, or erased) counts nothing.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Literal

import msgspec

from campaign_engine import recipient_states, reports, store, webhooks
from campaign_engine.observability import logger

Kind = Literal["opened", "clicked"]
_MARK = {"opened": "openedAt", "clicked": "clickedAt"}


class Engagement(msgspec.Struct, frozen=True):
    kind: Kind
    campaign_id: str
    execution_id: str
    user_id: str
    at: datetime
    machine: str | None = None  # why a machine's hit (machines.machine_reason), None for a person's
    link: int | None = None


class Recorded(msgspec.Struct, frozen=True):
    outcome: Literal["machine", "unknown", "recorded"]
    unique: bool = False
    status: str | None = None  # the recipient's state after the hit


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record(engagement: Engagement) -> Recorded:
    kind, campaign_id = engagement.kind, engagement.campaign_id
    bucket = (campaign_id, reports.hour_bucket(engagement.at.astimezone(UTC)))
    if engagement.machine is not None:
        reports.add_counts({bucket: Counter({f"machine:{kind}": 1})})
        logger.info("machine engagement", kind=kind, why=engagement.machine, execution_id=engagement.execution_id)
        return Recorded("machine")

    at = _iso(engagement.at)
    marked = store.mark_recipient(engagement.execution_id, engagement.user_id, _MARK[kind], at)
    if marked is None:
        logger.info("engagement for an unknown recipient", kind=kind, execution_id=engagement.execution_id)
        return Recorded("unknown")
    before, unique = marked
    counts = {bucket: Counter({f"total:{kind}": 1, **({f"unique:{kind}": 1} if unique else {})})}
    status = _move(engagement, before, at, counts)
    reports.add_counts(counts)
    # Every person's hit (not only the first) reaches the webhooks that asked for it; machines' never do.
    webhooks.publish(
        [webhooks.RecipientEvent(campaign_id, engagement.execution_id, engagement.user_id, kind, None, at)]
    )
    return Recorded("recorded", unique=unique, status=status)


def _move(
    engagement: Engagement, before: store.RecipientState, at: str, counts: dict[tuple[str, str], Counter[str]]
) -> str | None:
    """Moves the recipient to the engagement's state when it may go there; its public status afterwards."""
    kind = engagement.kind
    # A claim takes the outcome its delivery run recorded (the message id included), as feedback reads it.
    current = store.resolve_claimed([before])[0] if before.state == recipient_states.SENDING else before
    # A claim whose run has not recorded the send yet has no message id to check the move against:
    # the hit is counted, the state stays for the run to write.
    if not current.message_id or current.state not in recipient_states.EVENT_FROM[kind]:
        return recipient_states.PUBLIC_STATUS.get(current.state, current.state)
    moved = store.advance_recipient_state(
        engagement.execution_id,
        engagement.user_id,
        current.message_id,
        state=kind,
        allowed_from=recipient_states.EVENT_FROM[kind],
        reason=None,
        detail=None,
        at=at,
        unconfirmed_reason=recipient_states.UNCONFIRMED,
    )
    if isinstance(moved, str):  # something moved it meanwhile (a bounce, a complaint, another hit)
        return recipient_states.PUBLIC_STATUS.get(moved, moved)
    counted_as = recipient_states.REPORT_STATUS[current.state]
    if counted_as != kind:
        sent = datetime.fromtimestamp(float(before.claimed_at), UTC) if before.claimed_at else engagement.at
        moves = counts.setdefault((engagement.campaign_id, reports.hour_bucket(sent)), Counter())
        moves[f"status:{counted_as}"] -= 1
        moves[f"status:{kind}"] += 1
        if current.reason:
            moves[f"reason:{current.reason}"] -= 1
    return kind
