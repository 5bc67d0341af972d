"""Delivery feedback: what SES learnt after a send moves each recipient forward.

SES publishes an event per message (delivered, bounced, complained, opened, clicked, rejected,
delayed) through the configuration set named on every send to EventBridge, whose rule on
`aws.ses` puts it in the feedback queue; the feedback function takes them in batches
(apply_events). The recipient is found from the message's
tags: `executionId`, and `recipient` - the userId in base64url without padding, the only form
of an arbitrary id that SES tag values allow ([A-Za-z0-9_-.@], up to 256 characters).

A recipient only moves forward (recipient_states holds the moves): sent -> delivered -> opened ->
clicked; bounced and complained are final (a bounce may follow a delivery, a complaint may follow
an open or a click), and a rejected message ends `failed`. Each move is one conditional UpdateItem that also checks the
SES message id, so duplicated and out-of-order events change nothing, and an event for an
item that is unknown (another stack's message) or expired (TTL) is logged and dropped. An
event for a recipient still `sending` (its claim; delivery writes the outcome of a batch at
its end) moves it too: the send guard allows one message per execution and recipient, so an
event for that pair can only be about the message that was sent.

A message that delivery recorded `failed` / `send_unconfirmed` (SES may have accepted it, the
answer was lost) is resolved by its first event: SES had it, so the recipient takes the
event's state and the message id. Nothing is ever sent again because of this.

A hard bounce (bounceType Permanent) or a complaint also puts the address on the suppression list
(reason `hard_bounce` or `complaint`, source `ses`; suppressions.py), whether or not the recipient
is still recorded, so that no campaign sends to it again. Mailbox simulator addresses are left off.
If that write fails, the event alone is retried (its recipient is not moved until it is suppressed).

The report counters of a batch's moves are written once per batch, and survive a failure at any point:
each move leaves a count mark that a retry counts if its batch never committed (see apply_events).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parseaddr
from functools import partial
from typing import Any

import msgspec

from campaign_engine import recipient_states, reports, store, webhooks
from campaign_engine.addresses import looks_like_email
from campaign_engine.observability import logger, metrics
from campaign_engine.ses_tags import EXECUTION_TAG, RECIPIENT_TAG, user_id_from_tag
from campaign_engine.store import feedback_attempts, people

SIMULATOR_DOMAIN = "simulator.amazonses.com"
SUPPRESSED_SUBTYPES = {"Suppressed", "OnAccountSuppressionList", "OnSuppressionList"}
# Events SES may publish that say nothing about the recipient here (Send is recorded by delivery).
IGNORED_EVENT_TYPES = {"Send", "Subscription"}
# Published to webhooks from here (opened and clicked are published where tracking records them).
FEEDBACK_WEBHOOK_EVENTS = {"delivered", "bounced", "complained", "failed"}
# A batch's counters and its commit record are one transaction (at most 100 items): the events of more
# (execution, hour) pairs than this wait for a later batch.
MAX_COUNTER_ITEMS = 99


class NotRecordedYet(Exception):
    """The event came before delivery recorded the send's outcome: its record is reported back, so the queue
    hands it over again after its visibility timeout."""


class NotCounted(Exception):
    """The event moved its recipient but the batch's counters (or its webhook events) were not written: its
    record is reported back, and its retry counts the move (see apply_events)."""


class Transition(msgspec.Struct, frozen=True):
    state: str
    reason: str | None = None
    detail: str | None = None


# ---------------------------------------------------------------------------
# Reading SES's event
# ---------------------------------------------------------------------------
# Email addresses and E.164 numbers in a bounce's diagnostic, which is stored and served as its detail.
_ADDRESSES = re.compile(r"<?[^\s<>()\[\];:,\"']+@[^\s<>()\[\];:,\"']+>?|\+\d{7,15}")


def transition_of(detail: dict[str, Any]) -> Transition | None:
    """The recipient state an SES event detail leads to; None for events that change nothing here."""
    read = _TRANSITIONS.get(str(detail.get("eventType")))
    return read(detail) if read else None


def _bounce(detail: dict[str, Any]) -> Transition:
    bounce = detail.get("bounce") or {}
    bounce_type, sub_type = bounce.get("bounceType") or "Undetermined", bounce.get("bounceSubType") or ""
    if sub_type in SUPPRESSED_SUBTYPES:
        reason = "suppressed"
    elif bounce_type == "Permanent":
        reason = "hard_bounce"
    else:  # Transient (SES gave up retrying) or Undetermined
        reason = "soft_bounce"
    bounced = bounce.get("bouncedRecipients") or [{}]
    diagnostic = (bounced[0] or {}).get("diagnosticCode") or (bounced[0] or {}).get("status")
    if diagnostic:  # the remote server's own text: it often quotes the address ("<ada@...>: unknown")
        diagnostic = _ADDRESSES.sub("<address>", str(diagnostic))
    text = f"{bounce_type}/{sub_type}" if sub_type else bounce_type
    return Transition("bounced", reason, f"{text}: {diagnostic}"[:500] if diagnostic else text)


def _complaint(detail: dict[str, Any]) -> Transition:
    complaint = detail.get("complaint") or {}
    kind_of = complaint.get("complaintFeedbackType") or complaint.get("complaintSubType")
    return Transition("complained", "complaint", str(kind_of)[:500] if kind_of else None)


def _reject(detail: dict[str, Any]) -> Transition:
    why = (detail.get("reject") or {}).get("reason") or "rejected"
    return Transition("failed", "send_failed", f"rejected by SES: {why}"[:500])


def _rendering_failure(detail: dict[str, Any]) -> Transition:
    """A templated send SES could not render (this product renders itself: only a set of your own sees one)."""
    why = (detail.get("failure") or {}).get("errorMessage") or "rendering failed"
    return Transition("failed", "render_error", f"SES could not render the message: {why}"[:500])


def _delivery_delay(detail: dict[str, Any]) -> Transition:
    delay = detail.get("deliveryDelay") or {}
    return Transition("sent", None, f"delivery delayed: {delay.get('delayType') or 'unknown'}"[:500])


_TRANSITIONS: dict[str, Callable[[dict[str, Any]], Transition]] = {
    "Delivery": lambda _: Transition("delivered"),
    "Open": lambda _: Transition("opened"),
    "Click": lambda _: Transition("clicked"),
    "Bounce": _bounce,
    "Complaint": _complaint,
    "Reject": _reject,
    "DeliveryDelay": _delivery_delay,
    "Rendering Failure": _rendering_failure,
}


def _event_time(detail: dict[str, Any], event: dict[str, Any]) -> str:
    """When the event happened (its own timestamp), as the API writes times."""
    kind = str(detail.get("eventType") or "")
    section = {"DeliveryDelay": "deliveryDelay", "Rendering Failure": "failure"}.get(kind, kind[:1].lower() + kind[1:])
    for candidate in ((detail.get(section) or {}).get("timestamp"), event.get("time")):
        moment = _parse_time(candidate)
        if moment is not None:
            return moment.isoformat().replace("+00:00", "Z")
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _tag(tags: dict[str, Any], name: str) -> str | None:
    """SES publishes each tag as a list of values."""
    values = tags.get(name)
    if isinstance(values, list) and values and isinstance(values[0], str):
        return values[0]
    return values if isinstance(values, str) else None


# ---------------------------------------------------------------------------
# Applying them
# ---------------------------------------------------------------------------
class _Event(msgspec.Struct):
    """One SES event of a batch, read, with the recipient it is about once known."""

    index: int
    transition: Transition
    message_id: str
    execution_id: str
    at: str
    sent_at: datetime | None
    context: dict[str, Any]
    user_id: str | None = None


class _Batch(msgspec.Struct):
    """What a batch of events changes beyond each recipient: counters, webhooks, metrics (written once), and
    the moves it counts under its attempt id (marked: their events' indexes)."""

    attempt_id: str = msgspec.field(default_factory=lambda: uuid.uuid4().hex)
    counts: dict[tuple[str, str], Counter[str]] = msgspec.field(default_factory=dict)
    webhook_events: list[webhooks.RecipientEvent] = msgspec.field(default_factory=list)
    outcomes: Counter[str] = msgspec.field(default_factory=Counter)
    marked: list[int] = msgspec.field(default_factory=list)
    # Events that found their recipient already moved under another attempt's mark: (event, mark, from, campaign).
    unsettled: list[_Unsettled] = msgspec.field(default_factory=list)


class _Unsettled(msgspec.Struct, frozen=True):
    """An event whose recipient is already in its state under another attempt's count mark."""

    item: _Event
    mark: str  # "<attemptId> <claim outcome>"
    replaced: str  # the state the marked move replaced
    campaign_id: str | None


def apply_event(event: dict[str, Any]) -> dict[str, Any]:
    """Applies one EventBridge event of source aws.ses; returns what it did (for logs and tests).

    Raises NotRecordedYet when the recipient's outcome is not recorded yet, so that it is retried."""
    (result,) = apply_events([event])
    if isinstance(result, Exception):
        raise result
    return result


def apply_events(events: list[dict[str, Any]]) -> list[dict[str, Any] | Exception]:
    """Applies a batch of SES events (the feedback queue's), in order; for each, what it did, or the
    error to retry it for (NotRecordedYet: the send's outcome is not recorded yet; NotCounted: the
    batch's counters were not written; any other: its suppression, read or move failed).

    Per batch, not per event: one read of the recipients' states (BatchGetItem), one transaction writing
    the counters (one item per campaign and hour) with the batch's commit record, one webhook publish,
    one log line. Per event: the conditional update that moves its recipient (never batched: each is
    checked against what is stored when it is written).

    Counting survives a failure at any point without a write per event. Each batch is an attempt with
    its own id; the update that moves a recipient also leaves a count mark (this attempt, and the state
    the move replaced) for the state it moved to, and the counters are written in one transaction with
    the attempt's commit record (store/feedback_attempts.py). If that fails, or the function dies first,
    the moved events are retried, and their retry finds each recipient already there, marked by an
    attempt without a commit record: it settles that attempt as aborted (so a late commit of it fails),
    takes the mark over (a conditional update: of two concurrent retries, one counts) and counts the
    move from the recorded state, under its own commit. A duplicate that finds a committed mark changes
    nothing. The alternative, marks cleared once counted, costs a second write per event; a per-batch
    digest cannot serve retries that come back in other batches. The webhook events are published
    before the commit and published again by the retry that counts the moves: at least once."""
    results: list[dict[str, Any] | Exception | None] = [None] * len(events)
    batch = _Batch()
    found: list[_Event] = []
    for index, event in enumerate(events):
        read = _read(index, event)
        if isinstance(read, _Event):
            found.append(read)
        else:
            results[index] = read
    known = _recipients(found, results)
    # Eventually consistent (half the read units): what is read only chooses which update to try; each update
    # checks the stored state itself, and the counters move from the state it replaced (_move).
    keys = [(item.execution_id, str(item.user_id)) for item in known]
    states = store.get_recipient_states(keys, consistent=False) if keys else {}
    for item in _within_one_transaction(known, states, results):
        results[item.index] = _retried_on_error(item, partial(_move, item, states, batch))
    _settle(batch, results)
    _write_batch(batch, results)
    final = [result if result is not None else {"outcome": "ignored", "why": "none"} for result in results]
    for result in final:
        batch.outcomes[result.get("outcome", "ignored") if isinstance(result, dict) else "retried"] += 1
    logger.info("ses events applied", extra={"events": len(events), **dict(batch.outcomes)})
    return final


def _recipients(found: list[_Event], results: list[dict[str, Any] | Exception | None]) -> list[_Event]:
    """The events whose recipient is known; the results of the others."""
    known: list[_Event] = []
    for item in found:
        user_id = _retried_on_error(item, partial(_user_id, item))
        if isinstance(user_id, Exception):
            results[item.index] = user_id
            continue
        if user_id is None:
            results[item.index] = _unmatched("no_recipient", item.context)
            continue
        item.user_id = user_id
        known.append(item)
    return known


def _within_one_transaction(
    known: list[_Event], states: dict[tuple[str, str], store.RecipientState], results: list[Any]
) -> list[_Event]:
    """The events whose counters fit the batch's transaction (one counter item per campaign and hour, at most
    MAX_COUNTER_ITEMS beside the commit record); the others are retried, in a later batch. A recipient's
    campaign never changes, so the batch's read tells which counter item its move would add to."""
    kept: list[_Event] = []
    pairs: set[tuple[str, str]] = set()
    for item in known:
        state = states.get((item.execution_id, str(item.user_id)))
        if state is not None and state.campaign_id:
            pair = (state.campaign_id, reports.hour_bucket(item.sent_at))
            if pair not in pairs and len(pairs) == MAX_COUNTER_ITEMS:
                results[item.index] = NotCounted("more campaigns and hours than one batch counts: a later batch does")
                continue
            pairs.add(pair)
        kept.append(item)
    return kept


def _retried_on_error(item: _Event, work: Callable[[], Any]) -> Any:
    """What `work` answers for this event, or the error its record is retried for (alone)."""
    try:
        return work()
    except NotRecordedYet as error:
        return error
    except Exception as error:  # this event is retried (the queue's redrive keeps it after 5 tries)
        logger.exception("ses event failed; retried", extra=item.context)
        return error


def _read(index: int, event: dict[str, Any]) -> _Event | dict[str, Any] | Exception:
    """The event as this module needs it, or what it comes to when it says nothing about a recipient here,
    or the error its record is retried for (its address could not be suppressed: nothing is moved)."""
    detail = _object(event.get("detail"))
    mail = _object(detail.get("mail"))
    message_id = mail.get("messageId")
    tags = _object(mail.get("tags"))
    execution_id = _tag(tags, EXECUTION_TAG)
    context = {"event_type": detail.get("eventType"), "message_id": message_id, "execution_id": execution_id}
    transition = transition_of(detail)
    if transition is None:
        return {"outcome": "ignored", "why": "event_type"}
    if not message_id or not execution_id:
        # Sent by something else through the same configuration set, or not an SES sending event.
        return _unmatched("no_tags", context)
    at = _event_time(detail, event)
    try:
        _suppress(detail, at)
    except Exception as error:  # retried alone: the suppression is safe to repeat, the move waits for it
        logger.exception("address not suppressed; the event is retried", extra=context)
        return error
    item = _Event(index, transition, str(message_id), execution_id, at, _parse_time(mail.get("timestamp")), context)
    tag = _tag(tags, RECIPIENT_TAG)
    if tag:
        item.user_id = user_id_from_tag(tag)
    context["tagged"] = bool(tag)
    return item


def _user_id(item: _Event) -> str | None:
    if item.user_id is not None or item.context.get("tagged"):
        return item.user_id
    return _user_by_message_id(item.execution_id, item.message_id)


def _move(item: _Event, states: dict[tuple[str, str], store.RecipientState], batch: _Batch) -> dict[str, Any] | None:
    """Moves one recipient forward, with the state read for the batch (kept current as its events apply).
    None: the recipient is already there under another attempt's count mark (_settle decides)."""
    user_id, transition, context = str(item.user_id), item.transition, item.context
    key = (item.execution_id, user_id)
    current = states.get(key)
    if current is None:
        return _not_moved("unknown", transition, context)
    if current.message_id and current.message_id != item.message_id:
        return _not_moved("other_message", transition, context)
    if not recipient_states.event_may_move(current.state, current.reason, transition.state):
        return _unsettled(item, current.state, current.count_marks, current.campaign_id, batch)

    mark = f"{batch.attempt_id} {current.state}"  # with the claim's outcome (read for the batch), for a claim
    moved = store.move_recipient(
        item.execution_id,
        user_id,
        item.message_id,
        store.Move(
            transition.state,
            recipient_states.EVENT_FROM[transition.state],
            transition.reason,
            transition.detail,
            item.at,
            recipient_states.UNCONFIRMED,
            mark=mark,
        ),
    )
    if not moved.moved:
        if moved.why in ("unknown", "sending", "other_message"):
            return _not_moved(moved.why, transition, context)
        return _unsettled(item, moved.why, store.count_marks(moved.item), moved.item.get("campaignId"), batch)

    replaced_state, replaced_reason = str(moved.item.get("state")), moved.item.get("reason")
    batch.marked.append(item.index)
    if replaced_state == transition.state:  # sent -> sent (a delay): the mark kept is the first move's, maybe uncounted
        _unsettled(item, replaced_state, store.count_marks(moved.item), moved.item.get("campaignId"), batch)
    marks = {transition.state: (mark, replaced_state), **current.count_marks}
    states[key] = msgspec.structs.replace(
        current,
        state=transition.state,
        reason=transition.reason,
        detail=transition.detail,
        message_id=item.message_id,
        count_marks=marks,
    )
    # What the reports counted: the state the update replaced; for a claim, the outcome its delivery run
    # recorded (read for the batch: a claim's outcome batch says sent, failed...).
    if replaced_state != recipient_states.SENDING:
        old_state, old_reason = recipient_states.REPORT_STATUS[replaced_state], replaced_reason
    else:
        old_state = recipient_states.REPORT_STATUS[current.state]
        old_reason = None if current.state == recipient_states.SENDING else current.reason
    return _counted(item, moved.item.get("campaignId"), old_state, old_reason, batch)


def _counted(
    item: _Event, campaign_id: str | None, old_state: str, old_reason: str | None, batch: _Batch
) -> dict[str, Any]:
    """A move this batch counts: its counters, its webhook event, its metric."""
    transition = item.transition
    if campaign_id:
        _count(batch.counts, campaign_id, item.sent_at, old_state, old_reason, transition=transition)
        if transition.state in FEEDBACK_WEBHOOK_EVENTS and old_state != transition.state:
            batch.webhook_events.append(
                webhooks.RecipientEvent(
                    campaign_id, item.execution_id, str(item.user_id), transition.state, transition.reason, item.at
                )
            )
    if old_state != transition.state:
        batch.outcomes[f"moved:{transition.state}"] += 1
    return {"outcome": "applied", "status": transition.state, "previous": old_state, "reason": transition.reason}


def _unsettled(
    item: _Event, state: str, marks: dict[str, tuple[str, str]], campaign_id: str | None, batch: _Batch
) -> dict[str, Any] | None:
    """An event that cannot move its recipient: a duplicate or a late event, unless the recipient is in its
    state under a count mark of another attempt, whose count may not have been written (_settle)."""
    mark, replaced = marks.get(item.transition.state, ("", ""))
    if not mark or mark.partition(" ")[0] == batch.attempt_id:
        return _not_moved(state, item.transition, item.context)
    batch.unsettled.append(_Unsettled(item, mark, replaced, campaign_id))
    return None


def _settle(batch: _Batch, results: list[dict[str, Any] | Exception | None]) -> None:
    """Counts the moves of attempts that did not commit (see apply_events): one read of their records."""
    if not batch.unsettled:
        return
    ended = feedback_attempts.attempt_states({entry.mark.partition(" ")[0] for entry in batch.unsettled})
    for entry in batch.unsettled:
        results[entry.item.index] = _retried_on_error(entry.item, partial(_take_over, entry, ended, batch))


def _take_over(entry: _Unsettled, ended: dict[str, feedback_attempts.AttemptState], batch: _Batch) -> dict[str, Any]:
    item, mark = entry.item, entry.mark
    attempt_id, _, claim_outcome = mark.partition(" ")
    target = item.transition.state
    if ended.get(attempt_id) != feedback_attempts.ABORTED:
        ended[attempt_id] = ended.get(attempt_id) or feedback_attempts.abort(attempt_id)
    if ended[attempt_id] == feedback_attempts.COMMITTED or not feedback_attempts.take_over(
        item.execution_id, str(item.user_id), target, mark, f"{batch.attempt_id} {claim_outcome}"
    ):
        return _not_moved(target, item.transition, item.context)  # counted by its attempt, or by another taker
    logger.info("ses event counted for an attempt that did not", extra=item.context)
    batch.marked.append(item.index)
    # The state the move replaced, as delivery or the previous move counted it (a claim: its run's outcome).
    replaced = entry.replaced
    counted = recipient_states.REPORT_STATUS[claim_outcome if replaced == recipient_states.SENDING else replaced]
    reason = recipient_states.UNCONFIRMED if counted == recipient_states.FAILED else None
    return _counted(item, entry.campaign_id, counted, reason, batch)


def _write_batch(batch: _Batch, results: list[dict[str, Any] | Exception | None]) -> None:
    """The batch's webhook events, then its counters (one item per campaign and hour) with its commit record,
    then its metrics. If either fails, the events it moved are retried (and counted by their retry)."""
    changes = {key: Counter({k: v for k, v in counter.items() if v}) for key, counter in batch.counts.items()}
    changes = {key: counter for key, counter in changes.items() if counter}
    try:
        if batch.webhook_events:
            webhooks.publish(batch.webhook_events, strict=True)
        if batch.marked and not feedback_attempts.commit(batch.attempt_id, changes):
            raise NotCounted("the batch was settled by a retry of its events meanwhile")
    except Exception as error:
        logger.exception("feedback counters not written; the batch's moves are retried", events=len(batch.marked))
        for index in batch.marked:
            results[index] = error if isinstance(error, NotCounted) else NotCounted(str(error))
        batch.outcomes.clear()
        return
    for name, value in sorted(batch.outcomes.items()):
        if name.startswith("moved:"):
            metrics.add_metric(name=f"Messages{name[6:].capitalize()}", unit="Count", value=value)


def suppressed_by(detail: dict[str, Any]) -> tuple[str, list[str]] | None:
    """A hard bounce (bounceType Permanent) or a complaint: the suppression reason and the
    addresses it names (the event's recipients, else the message's destination)."""
    event_type = detail.get("eventType")
    if event_type == "Bounce":
        section, listed, reason = _object(detail.get("bounce")), "bouncedRecipients", "hard_bounce"
        if section.get("bounceType") != "Permanent":
            return None
    elif event_type == "Complaint":
        section, listed, reason = _object(detail.get("complaint")), "complainedRecipients", "complaint"
    else:
        return None
    named = [_object(r).get("emailAddress") for r in section.get(listed) or []]
    if not any(named):
        named = list(_object(detail.get("mail")).get("destination") or [])
    addresses = [parseaddr(a)[1].strip() for a in named if isinstance(a, str)]
    return reason, [a for a in dict.fromkeys(addresses) if looks_like_email(a) and not _simulator(a)]


def _simulator(address: str) -> bool:
    """SES's mailbox simulator bounces and complains on purpose, every time: like SES's own
    suppression list, this one leaves its addresses usable for the next test."""
    return address.rpartition("@")[2].lower() == SIMULATOR_DOMAIN


def _suppress(detail: dict[str, Any], at: str) -> None:
    """Puts a hard-bounced or complaining address on the suppression list (source `ses`), so it is
    never sent to again by any campaign: one UpdateItem per address, safe to repeat."""
    found = suppressed_by(detail)
    if found is None:
        return
    reason, addresses = found
    for address in addresses:
        people.add_suppression("email", address, reason=reason, source="ses", at=at)
    if addresses:
        metrics.add_metric(name="AddressesSuppressed", unit="Count", value=len(addresses))
        logger.info("addresses suppressed", reason=reason, count=len(addresses))


def _unmatched(why: str, context: dict[str, Any]) -> dict[str, Any]:
    logger.debug("ses event dropped: not about a recipient here", extra={**context, "why": why})
    metrics.add_metric(name="FeedbackUnmatched", unit="Count", value=1)
    return {"outcome": "unknown", "why": why}


def _not_moved(why: str, transition: Transition, context: dict[str, Any]) -> dict[str, Any]:
    if why == "sending":
        logger.warning("ses event before the send's outcome was recorded; retried", extra=context)
        raise NotRecordedYet(f"execution {context['execution_id']}: outcome not recorded yet")
    if why == "unknown":
        return _unmatched("no_recipient", context)
    if why == "other_message":
        logger.warning("ses event dropped: the recipient was sent another message", extra=context)
        metrics.add_metric(name="FeedbackUnmatched", unit="Count", value=1)
        return {"outcome": "unknown", "why": "message_id"}
    # A duplicate, or an event older than what is recorded (out of order): nothing moves back.
    logger.debug("ses event ignored: the recipient is already there or further", extra={**context, "current": why})
    metrics.add_metric(name="FeedbackIgnored", unit="Count", value=1)
    return {"outcome": "ignored", "why": "not_forward", "status": why, "event": transition.state}


def _count(
    counts: dict[tuple[str, str], Counter[str]],
    campaign_id: str,
    sent_at: datetime | None,
    old_state: str,
    old_reason: str | None,
    *,
    transition: Transition,
) -> None:
    """Moves the recipient between report counters, in the hour the message was sent (where delivery counted
    it), so that each recipient stays counted once and the report's statuses match the executions'."""
    counter = counts.setdefault((campaign_id, reports.hour_bucket(sent_at)), Counter())
    counter[f"status:{old_state}"] -= 1
    counter[f"status:{transition.state}"] += 1
    if old_reason:
        counter[f"reason:{old_reason}"] -= 1
        if old_state == recipient_states.FAILED:  # failedByReason: a send_unconfirmed one SES had after all
            counter[f"failed:{old_reason}"] -= 1
    if transition.reason:
        counter[f"reason:{transition.reason}"] += 1
        if transition.state == recipient_states.FAILED:  # rejected by SES
            counter[f"failed:{transition.reason}"] += 1


def _user_by_message_id(execution_id: str, message_id: str) -> str | None:
    """For a message sent without a recipient tag (a userId too long for one): its execution's recipients.

    Raises NotRecordedYet when it is not found while some recipient's outcome is still unrecorded."""
    pending = False
    for state in store.recipient_states(execution_id):
        if state.message_id == message_id:
            return state.user_id
        pending = pending or state.state == "sending"
    if pending:
        raise NotRecordedYet(f"execution {execution_id}: outcome not recorded yet")
    return None
