"""The delivery pipeline: a batch of queue messages, each several recipients of one execution.

The messages of a batch are delivered side by side, and the batch answers which of them must come
back (SQS partial batch response). For each recipient: choose the locale, render, claim the send
guard, send, and record the outcome. The claim is a conditional write keyed by (execution,
recipient), so a redelivered message, a second consumer, or a replayed trigger never sends twice.

The one ambiguous case - the send may have been accepted but its outcome was not recorded
(the function died, or SES's answer was lost) - is resolved towards "never twice": the
recipient ends `failed` with reason `send_unconfirmed`, and is not sent again.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Any

import msgspec
from aws_lambda_powertools.utilities.typing import LambdaContext

from campaign_engine import (
    aws,
    campaign_gate,
    delivery_queue,
    frequency,
    privacy,
    queue_message,
    quiet_hours,
    reports,
    screening,
    ses_tags,
    store,
    throttle,
    webhooks,
)
from campaign_engine.channels import SendFailure
from campaign_engine.channels import email as email_channel
from campaign_engine.channels.email.mime import build_email
from campaign_engine.containers import per_container
from campaign_engine.locales import choose_locale, preferred_language
from campaign_engine.observability import logger, metrics
from campaign_engine.privacy import retains_messages
from campaign_engine.queue_message import QueuedRecipient, QueueMessage
from campaign_engine.recipient_states import EXCLUDED, FAILED, NOT_RECORDED, REPORT_STATUS, SENDING, SENT, UNCONFIRMED
from campaign_engine.render import RenderedMessage, RenderError, TemplateProblems, compiled_for, render_scope
from campaign_engine.settings import get_settings

# A claim older than this whose owner never recorded an outcome belongs to a dead attempt:
# longer than the delivery function's timeout, shorter than the queue's visibility timeout.
CLAIM_LEASE_SECONDS = 120
SEND_THREADS = 8
# The messages of one batch (the event source's BatchSize) are delivered side by side.
MESSAGE_THREADS = 10

# Lambda stops a run at its timeout, and a run stopped there writes no outcomes: the recipients it
# sent would end send_unconfirmed, its other records come back only after the queue's visibility
# timeout. So a run starts no recipient (nor message) once less than this is left: enough for a send
# already under way to end (SES's connect and read timeouts, one attempt), then for the run's closing
# writes (the outcome batch, report counts, the visibility of the records it hands back: a few
# requests, side by side, each a few milliseconds when DynamoDB and SQS are well).
IN_FLIGHT_SEND_MS = (aws.SEND_CONNECT_TIMEOUT_SECONDS + aws.SEND_READ_TIMEOUT_SECONDS) * 1000
CLOSING_WRITES_MS = 3_000
STOP_MARGIN_MS = IN_FLIGHT_SEND_MS + CLOSING_WRITES_MS
# The reason of a recipient not started because its run was near its timeout (a `retry` result:
# nothing was claimed or sent).
OUT_OF_TIME = "out_of_time"
# The reason of a recipient whose frequency counter kept moving under concurrent deliveries (a `retry`
# result: its claim and slot were given back).
COUNTER_BUSY = "frequency_counter_busy"


class SQSRecord:
    """One record of the SQS event, read as Powertools' SQSRecord reads it (each field when asked for).
    Powertools' batch utility is not used: importing it loaded asyncio and every event source's data
    class, a fifth of the function's cold start, for the loop and the partial batch response that
    deliver_batch writes in a few lines."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    @property
    def message_id(self) -> str:
        return str(self._data["messageId"])

    @property
    def body(self) -> str:
        return str(self._data["body"])

    @property
    def receipt_handle(self) -> str:
        return str(self._data["receiptHandle"])

    @property
    def approximate_receive_count(self) -> str | None:
        return (self._data.get("attributes") or {}).get("ApproximateReceiveCount")


class RetryLater(Exception):
    """The message must come back: some recipient could not be sent yet.

    `waiting_only`: every such recipient is claimed by another run that is sending now; it will
    have recorded its outcome within a function timeout, so a short fixed delay fits better
    than the growing backoff that throttling needs.
    `out_of_time`: some recipient was not started because this run is near its timeout; it comes
    back as soon as this run has ended, not after a backoff meant for SES."""

    def __init__(self, message: str, *, waiting_only: bool = False, out_of_time: bool = False) -> None:
        super().__init__(message)
        self.waiting_only = waiting_only
        self.out_of_time = out_of_time


class Result(msgspec.Struct):
    state: str  # a recipient state (recipient_states) to record, or one of NOT_RECORDED
    reason: str | None = None
    detail: str | None = None
    message_id: str | None = None
    locale: str | None = None
    claimed: bool = False  # this attempt holds the recipient's claim


class Screened(msgspec.Struct, frozen=True):
    """What screening's one batched read says of a message's recipients."""

    exclusions: dict[str, screening.Exclusion]  # userId -> (reason, detail), for the excluded only
    # The recipients' frequency counters, for a marketing campaign on a channel with a cap.
    caps: frequency.Caps | None = None


class Prepared(msgspec.Struct, frozen=True):
    """A message of the batch, decoded and screened before its delivery started (Invocation.prepare)."""

    message: QueueMessage
    campaign: dict[str, Any]
    screened: Screened


def _group(message: QueueMessage, campaign: dict[str, Any]) -> screening.Group:
    candidates = [screening.Candidate(r.namespace, r.userId, r.address, r.fromProfile) for r in message.recipients]
    return (campaign["channel"], campaign.get("type") or "transactional", candidates)


def _by_user(
    recipients: list[QueuedRecipient], exclusions: list[screening.Exclusion | None]
) -> dict[str, screening.Exclusion]:
    return {r.userId: exclusion for r, exclusion in zip(recipients, exclusions, strict=True) if exclusion is not None}


def _screen_all(pairs: list[tuple[QueueMessage, dict[str, Any]]]) -> list[Screened]:
    """Screens the recipients of several messages with one batched read, which also reads their frequency
    counters where a cap applies (a marketing campaign on a capped channel; nothing more otherwise)."""
    caps = [frequency.cap_for(campaign["channel"], campaign.get("type") or "transactional") for _, campaign in pairs]
    identities = [[(r.namespace, r.userId) for r in message.recipients] for message, _ in pairs]
    keys = [
        key
        for (_, campaign), cap, people in zip(pairs, caps, identities, strict=True)
        for key in frequency.counter_keys(campaign["channel"], cap, people)
    ]
    verdicts, found = screening.screen_groups_with([_group(message, campaign) for message, campaign in pairs], keys)
    return [
        Screened(
            _by_user(message.recipients, exclusions),
            None if cap is None else frequency.Caps.from_read(campaign["channel"], cap, people, found),
        )
        for (message, campaign), exclusions, cap, people in zip(pairs, verdicts, caps, identities, strict=True)
    ]


@per_container
@lru_cache(maxsize=128)
def campaign_version(campaign_id: str, version: int) -> dict[str, Any]:
    """Versions are immutable, so a warm container reads each one once."""
    doc = store.get_campaign_version(campaign_id, version)
    if doc is None:
        raise LookupError(f"campaign {campaign_id} has no version {version}")
    return doc


class Invocation:
    """One run of the delivery function. Outcomes of the sends it claimed are written once, at its
    end, into one item (claims name it); report counts likewise. If that write fails the function
    fails, so every record comes back and finds its claims - nothing is lost."""

    def __init__(self, context: LambdaContext | None = None) -> None:
        self.outcome_ref = f"OUT#{uuid.uuid4().hex}"
        # Without a Lambda context (a message delivered alone, a script) the run has no deadline.
        self._remaining_ms: Callable[[], int] | None = getattr(context, "get_remaining_time_in_millis", None)
        # A timeout under twice the margin (a misconfigured function) still leaves half of it for sends.
        self._stop_margin_ms = 0 if self._remaining_ms is None else min(STOP_MARGIN_MS, self._remaining_ms() // 2)
        self._cut_short = False
        self._claimed: list[store.Outcome] = []
        self._unclaimed: list[store.Outcome] = []
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._messages: ThreadPoolExecutor | None = None
        self._counts: Counter[str] = Counter()
        # messageId -> its message decoded, its campaign version, and its recipients' exclusions (by userId),
        # from one read for the whole batch (prepare).
        self._prepared: dict[str, Prepared] = {}

    def prepare(self, records: list[SQSRecord]) -> None:
        """Decodes the batch's messages and screens all their recipients (screening: suppressed,
        no_consent, unknown_profile) with one batched read, rather than one per message. A message
        that cannot be decoded, or whose campaign cannot be read, is left out: its own delivery meets
        the error. Recipients of a campaign closed since they were accepted are screened all the same
        (they are excluded as campaign_stopped or campaign_ended instead)."""
        if len(records) < 2 or self.out_of_time():  # one message is screened by its own delivery
            return
        decoded: list[tuple[str, QueueMessage, dict[str, Any]]] = []
        for record in records:
            try:
                message = queue_message.decode(record.body)
                campaign = campaign_version(message.campaignId, message.campaignVersion)
            except Exception:  # noqa: S112 # nosec B112  # reported by the message's own delivery, which meets it again
                continue
            decoded.append((record.message_id, message, campaign))
        if not decoded:
            return
        screened = _screen_all([(message, campaign) for _, message, campaign in decoded])
        for (message_id, message, campaign), verdicts in zip(decoded, screened, strict=True):
            self._prepared[message_id] = Prepared(message, campaign, verdicts)

    def prepared(self, message_id: str | None) -> Prepared | None:
        return None if message_id is None else self._prepared.pop(message_id, None)

    def pool(self) -> ThreadPoolExecutor:
        """The threads the recipients of a message are sent on side by side (each mostly waits on
        DynamoDB and SES). One pool serves every message of the run, started on first need: a pool
        per message paid for starting and joining its threads on every message."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=SEND_THREADS, thread_name_prefix="delivery-send")
            return self._pool

    def submit(self, work: Callable[..., None], *args: Any) -> Future[None]:
        """Starts one message of the batch on its own thread: with one recipient per message
        (the common case of transactional calls) a batch's ten claims and sends used to wait on
        DynamoDB and SES one after another, most of the function's billed time."""
        with self._lock:
            if self._messages is None:
                self._messages = ThreadPoolExecutor(max_workers=MESSAGE_THREADS, thread_name_prefix="delivery-message")
            return self._messages.submit(work, *args)

    def out_of_time(self) -> bool:
        """Whether the run must start nothing more (one read of the remaining time: once per message
        and per recipient it starts)."""
        if self._remaining_ms is None or self._remaining_ms() >= self._stop_margin_ms:
            return False
        self._cut_short = True
        return True

    def remaining_ms(self) -> int:
        return 0 if self._remaining_ms is None else self._remaining_ms()

    def count(self, outcomes: list[store.Outcome], duplicates: int) -> None:
        """Metrics are counted here and emitted once at the end of the run, on its own thread:
        Powertools metrics are not thread-safe, and one set per run is also fewer log bytes."""
        with self._lock:
            self._counts["SendsDeduplicated"] += duplicates
            for outcome in outcomes:
                self._counts["MessagesSent"] += outcome.state == SENT
                self._counts["MessagesFailed"] += outcome.state == FAILED

    def add(self, outcomes: list[store.Outcome], claimed: list[bool]) -> None:
        with self._lock:
            for outcome, was_claimed in zip(outcomes, claimed, strict=True):
                (self._claimed if was_claimed else self._unclaimed).append(outcome)

    def flush(self) -> None:
        with self._lock:
            claimed, unclaimed = self._claimed, self._unclaimed
            self._claimed, self._unclaimed = [], []
        store.write_outcome_batch(self.outcome_ref, claimed)
        # Outcomes without a claim of this invocation (render errors, exclusions, stale claims
        # resolved as unconfirmed) go on the recipient's own item: they are rare.
        store.record_outcomes(unclaimed)
        outcomes = claimed + unclaimed
        if outcomes:
            reports.add_counts(
                reports.tally((o.campaign_id, REPORT_STATUS[o.state], o.reason, o.locale) for o in outcomes)
            )
            webhooks.publish(
                webhooks.RecipientEvent(o.campaign_id, o.execution_id, o.user_id, o.state, o.reason, o.updated_at)
                for o in outcomes
                if o.state in (SENT, FAILED)
            )
        with self._lock:
            counts, self._counts = self._counts, Counter()
        if self._cut_short:
            counts["RunsCutShort"] += 1
            logger.warning(
                "delivery run near its timeout: what it had not started comes back", remaining_ms=self.remaining_ms()
            )
        for name, value in counts.items():
            if value:
                metrics.add_metric(name=name, unit="Count", value=value)
        logger.info(
            "delivery batch recorded",
            sent=sum(o.state == SENT for o in outcomes),
            failed=sum(o.state == FAILED for o in outcomes),
            recorded=len(outcomes),
        )

    def __enter__(self) -> Invocation:
        return self

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        # Nothing is under way by now: deliver_batch waits for every message, each for its sends.
        for pool in (self._messages, self._pool):
            if pool is not None:
                pool.shutdown()
        if error is None:
            self.flush()


def deliver_message(
    body: str, *, receive_count: int = 1, invocation: Invocation | None = None, message_id: str | None = None
) -> None:
    """Delivers one queue message; raises RetryLater or an error to have it redelivered. A message
    of another format version raises queue_message.UnknownFormat before anything is claimed or sent.

    Within a function run, pass its Invocation (and the record's `message_id`, which finds the message
    if the run prepared it): outcomes are written when it ends. Alone, the message's outcomes are
    written before this returns."""
    if invocation is None:
        with Invocation() as alone:
            return deliver_message(body, receive_count=receive_count, invocation=alone)
    prepared = invocation.prepared(message_id)
    if prepared is None:
        message = queue_message.decode(body)  # its format version checked before anything is read
        campaign = campaign_version(message.campaignId, message.campaignVersion)
    else:
        message, campaign = prepared.message, prepared.campaign
    attempt_id = uuid.uuid4().hex
    work, recipients, sending = _work(message, campaign, None if prepared is None else prepared.screened)
    # A throttled campaign sends what its budget grants now; the others wait in the queue (throttle.py).
    recipients, waiting, wait_seconds = _paced(campaign, recipients, sending)
    results, error = _deliver_all(message, campaign, recipients, attempt_id, invocation, work=work)
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    # A recipient that raised (or was not started after one did) has no result: it is retried
    # with the message. The others' outcomes are recorded all the same, so that a recipient sent
    # here is `sent` when the message comes back, not resolved as unconfirmed.
    recorded = [
        (r, res)
        for r, res in zip(recipients, results, strict=True)
        if res is not None and res.state not in NOT_RECORDED
    ]
    outcomes = [
        store.Outcome(
            execution_id=message.executionId,
            user_id=r.userId,
            campaign_id=message.campaignId,
            request_id=message.requestId,
            state=res.state,
            reason=res.reason,
            detail=res.detail,
            message_id=res.message_id,
            locale=res.locale,
            attempt_id=attempt_id,
            updated_at=now,
            expires_at=message.expiresAt,
        )
        for r, res in recorded
    ]
    invocation.add(outcomes, [res.claimed for _, res in recorded])
    invocation.count(outcomes, duplicates=sum(res is not None and res.state == "duplicate" for res in results))
    if error is not None:
        raise error
    retries = [res for res in results if res is not None and res.state in ("retry", "wait")]
    logger.debug(
        "message delivered",
        execution_id=message.executionId,
        recipients=len(recipients),
        recorded=len(outcomes),
        retry=len(retries),
        receive_count=receive_count,
    )
    if waiting and not retries:
        # (A message that comes back anyway brings them along.)
        throttle.requeue(message, waiting, wait_seconds)
    if retries:
        raise RetryLater(
            f"{len(retries)} recipients to retry: {retries[0].reason}",
            waiting_only=all(res.state == "wait" for res in retries),
            # A recipient not started comes back promptly, even beside a throttled one: the delay
            # is the caller's wait, and the throttled one's next attempt is still one send.
            out_of_time=any(res.reason == OUT_OF_TIME for res in retries),
        )
    return None


Work = Callable[[QueueMessage, dict[str, Any], QueuedRecipient, str, str], Result]


def _work(
    message: QueueMessage, campaign: dict[str, Any], screened: Screened | None
) -> tuple[Work, list[QueuedRecipient], list[QueuedRecipient]]:
    """What each recipient of the message gets, which recipients are delivered now, and which of
    those would be sent to (the others are excluded): a campaign
    stopped, archived or past its window since they were accepted sends them nothing, each is excluded
    (once, through its claim, like a send); else those screening excludes (suppressed, no_consent,
    unknown_profile) are; those inside the campaign's quiet hours are excluded (`discard`) or come back
    when the period ends (`defer`: not delivered now); those whose frequency cap is already reached are
    excluded; and the others are sent to (taking a slot of their cap, if one applies)."""
    closed = campaign_gate.closed_reason(message.campaignId, campaign)
    if closed is not None:
        return partial(_exclude_one, closed=closed), message.recipients, []
    if screened is None:
        [screened] = _screen_all([(message, campaign)])
    exclusions = dict(screened.exclusions)
    recipients = _quiet_hours(message, campaign, exclusions)
    caps = screened.caps
    if caps is not None:
        for r in recipients:
            if r.userId not in exclusions and caps.capped((r.namespace, r.userId)):
                exclusions[r.userId] = caps.exclusion()
    send: Work = _deliver_one if caps is None else partial(_deliver_one, caps=caps)
    if not exclusions:
        return send, recipients, recipients
    sending = [r for r in recipients if r.userId not in exclusions]
    return partial(_screened_one, exclusions=exclusions, send=send), recipients, sending


def _paced(
    campaign: dict[str, Any], recipients: list[QueuedRecipient], sending: list[QueuedRecipient]
) -> tuple[list[QueuedRecipient], list[QueuedRecipient], int]:
    """(the recipients to deliver now, those that must wait, in how many seconds they may ask again):
    of `sending`, those the campaign's send budgets grant now (no request without a budget)."""
    granted, wait_seconds = throttle.admit(campaign, sending)
    if granted == len(sending):
        return recipients, [], 0
    waiting = sending[granted:]
    later = {id(r) for r in waiting}
    return [r for r in recipients if id(r) not in later], waiting, wait_seconds


def _quiet_hours(
    message: QueueMessage, campaign: dict[str, Any], exclusions: dict[str, screening.Exclusion]
) -> list[QueuedRecipient]:
    """The recipients to deliver now. Those inside the campaign's quiet hours (and not excluded anyway)
    are added to `exclusions` (`discard`), or left for later (`defer`): when every recipient is, the
    whole message comes back when the first period ends (quiet_hours.Deferred: its visibility, up to
    SQS's 12 hours); else theirs are queued again in a message of their own, delayed (DelaySeconds, up
    to 15 minutes: when it arrives inside the period, it is such a whole message). Nothing is recorded
    for a deferred recipient until it is delivered."""
    recipients = message.recipients
    waits = {
        user: seconds for user, seconds in quiet_hours.waits(campaign, recipients).items() if user not in exclusions
    }
    if not waits:
        return recipients
    if quiet_hours.action(campaign) == "discard":
        exclusions.update(dict.fromkeys(waits, quiet_hours.exclusion(campaign)))
        return recipients
    first_end = min(waits.values())
    if len(waits) == len(recipients):
        raise quiet_hours.Deferred(min(first_end, quiet_hours.MAX_VISIBILITY_SECONDS))
    later = [r for r in recipients if r.userId in waits]
    delivery_queue.enqueue(
        list(queue_message.pack_messages(message, later)),
        delay_seconds=min(first_end, queue_message.MAX_DELAY_SECONDS),
    )
    logger.info("recipients deferred by quiet hours", execution_id=message.executionId, deferred=len(later))
    return [r for r in recipients if r.userId not in waits]


def _screened_one(
    message: QueueMessage,
    campaign: dict[str, Any],
    recipient: QueuedRecipient,
    attempt_id: str,
    outcome_ref: str,
    *,
    exclusions: dict[str, screening.Exclusion],
    send: Work,
) -> Result:
    exclusion = exclusions.get(recipient.userId)
    if exclusion is None:
        return send(message, campaign, recipient, attempt_id, outcome_ref)
    return _exclude_one(message, campaign, recipient, attempt_id, outcome_ref, closed=exclusion)


def _deliver_all(
    message: QueueMessage,
    campaign: dict[str, Any],
    recipients: list[QueuedRecipient],
    attempt_id: str,
    invocation: Invocation,
    *,
    work: Callable[[QueueMessage, dict[str, Any], QueuedRecipient, str, str], Result],
) -> tuple[list[Result | None], Exception | None]:
    """`work` (_deliver_one, or _exclude_one) for every recipient: results in order (None where it
    raised or never started) and the first error. A lone recipient runs on this thread: there is
    nothing to overlap it with, and a hand-off to the pool would only cost CPU."""
    ref = invocation.outcome_ref
    if len(recipients) == 1:
        try:
            return [_start(invocation, work, message, campaign, recipients[0], attempt_id, ref)], None
        except Exception as error:
            return [None], error
    pool = invocation.pool()
    futures = [pool.submit(_start, invocation, work, message, campaign, r, attempt_id, ref) for r in recipients]
    first_error: Exception | None = None
    results: list[Result | None] = []
    for future in futures:
        try:
            results.append(future.result())
        except CancelledError:
            results.append(None)
        except Exception as error:
            results.append(None)
            if first_error is None:
                first_error = error
                # The recipients not started yet are not started; those under way finish, and
                # their results are kept: the message is not decided before they have ended.
                for pending in futures:
                    pending.cancel()
    return results, first_error


def _start(
    invocation: Invocation,
    work: Callable[[QueueMessage, dict[str, Any], QueuedRecipient, str, str], Result],
    *args: Any,
) -> Result:
    """`work` for one recipient, unless the run is near its timeout: then nothing is claimed or sent,
    and the recipient comes back with its message. A recipient started is always finished."""
    if invocation.out_of_time():
        return Result("retry", OUT_OF_TIME)
    return work(*args)


def _deliver_one(
    message: QueueMessage,
    campaign: dict[str, Any],
    recipient: QueuedRecipient,
    attempt_id: str,
    outcome_ref: str,
    *,
    caps: frequency.Caps | None = None,
) -> Result:
    """Returns the outcome to record, a `retry` result, or None when another attempt owns it."""
    content = campaign.get("content") or {}
    locale = choose_locale(content, preferred_language(recipient.profile))
    if locale is None:
        return Result(EXCLUDED, "no_matching_locale", "No content for the recipient's language and no fallback")
    scope = render_scope(campaign, locale, profile=recipient.profile, context=recipient.context)
    try:
        compiled = compiled_for(
            (campaign["id"], campaign["version"], locale), campaign["channel"], locale, content["locales"][locale]
        )
        rendered = compiled.render(scope)
    except (RenderError, TemplateProblems) as exc:
        detail = str(exc)[:500] if retains_messages(campaign) else privacy.RENDER_FAILED
        return Result(FAILED, "render_error", detail, locale=locale)

    taken = _claim(message, recipient, attempt_id, outcome_ref, locale)
    if taken is not None:
        return taken
    slot: Slot | None = None
    if caps is not None:
        reserved = _reserve(caps, message, recipient, attempt_id, locale)
        if isinstance(reserved, Result):
            return reserved
        slot = reserved

    try:
        message_id = send_rendered(campaign, recipient, rendered, message, locale)
    except SendFailure as failure:
        if failure.kind != "ambiguous":  # certainly not sent: the slot is given back
            _release(slot)
        if failure.kind == "retry":
            store.release_claim(message.executionId, recipient.userId, attempt_id)
            return Result("retry", failure.code)
        reason = UNCONFIRMED if failure.kind == "ambiguous" else "send_failed"
        logger.warning("send failed", execution_id=message.executionId, code=failure.code, kind=failure.kind)
        return Result(FAILED, reason, f"{failure.code}: {failure.detail}"[:500], locale=locale, claimed=True)
    except (ValueError, KeyError) as exc:
        # A message that cannot be built (a header value with a newline, no sender) never will be.
        _release(slot)
        detail = f"message could not be built: {exc}"[:500] if retains_messages(campaign) else privacy.NOT_BUILT
        return Result(FAILED, "send_failed", detail, locale=locale, claimed=True)
    return Result(SENT, message_id=message_id, locale=locale, claimed=True)


Slot = tuple[frequency.Caps, tuple[str, str], str]  # the counter's caps, the person, the reservation token


def _reserve(
    caps: frequency.Caps, message: QueueMessage, recipient: QueuedRecipient, attempt_id: str, locale: str
) -> Slot | Result:
    """Takes a slot of the recipient's frequency cap, after its claim and before its send: the slot, or
    what to record instead (`frequency_capped`: another delivery took the last slot since screening read
    the counter), or a `retry` (the counter kept moving: the claim is given back, the record returns)."""
    identity = (recipient.namespace, recipient.userId)
    token = caps.reserve(identity)
    if token is False:
        reason, detail = caps.exclusion()
        return Result(EXCLUDED, reason, detail, locale=locale, claimed=True)
    if token is None or token is True:
        store.release_claim(message.executionId, recipient.userId, attempt_id)
        return Result("retry", COUNTER_BUSY)
    return (caps, identity, token)


def _release(slot: Slot | None) -> None:
    if slot is None:
        return
    caps, identity, token = slot
    try:
        caps.release(identity, token)
    except Exception as error:  # the send's outcome matters more: a slot kept is a cap held too tight
        logger.warning("frequency slot not given back", error=type(error).__name__)


def _exclude_one(
    message: QueueMessage,
    campaign: dict[str, Any],
    recipient: QueuedRecipient,
    attempt_id: str,
    outcome_ref: str,
    *,
    closed: tuple[str, str],
) -> Result:
    """The recipient is excluded (`closed`: the reason and detail), through the same claim as a send: a
    redelivered record whose recipients were sent (or are being sent) before the stop keeps their
    outcome, and one whose recipients were excluded never sends them."""
    taken = _claim(message, recipient, attempt_id, outcome_ref)
    if taken is not None:
        return taken
    reason, detail = closed
    return Result(EXCLUDED, reason, detail, claimed=True)


def send_rendered(
    campaign: dict[str, Any],
    recipient: QueuedRecipient,
    rendered: RenderedMessage,
    message: QueueMessage,
    locale: str | None = None,
) -> str:
    """Hands one rendered message to its channel; returns the provider's message id."""
    channel = campaign["channel"]
    sender = campaign.get("sender") or {}
    # The SMS and push senders are imported by the first message on their channel (an email run needs neither).
    if channel == "sms":
        from campaign_engine.channels import sms as sms_channel

        return sms_channel.send(
            to=recipient.address,
            body=rendered.body or "",
            origination_identity=sender.get("originationIdentity"),
            transactional=campaign.get("type") != "marketing",
        )
    if channel == "push":
        from campaign_engine.channels import push as push_channel

        return push_channel.send(
            push_info=recipient.address, title=rendered.title, body=rendered.body or "", data=rendered.data
        )
    html, headers = _decorated(campaign, locale, message, recipient, rendered.html)
    raw = build_email(
        from_email=sender["fromEmail"],
        from_name=sender.get("fromName"),
        to=recipient.address,
        reply_to=sender.get("replyTo"),
        subject=rendered.subject or "",
        html=html,
        text=rendered.text,
        headers=headers,
    )
    return email_channel.send(
        from_email=sender["fromEmail"],
        to=recipient.address,
        raw=raw,
        # What SES's delivery events carry back to find the recipient (see feedback).
        tags={
            "campaignId": message.campaignId,
            "executionId": message.executionId,
            ses_tags.RECIPIENT_TAG: ses_tags.recipient_tag(recipient.userId),
        },
    )


def _decorated(
    campaign: dict[str, Any], locale: str | None, message: QueueMessage, recipient: QueuedRecipient, html: str | None
) -> tuple[str | None, dict[str, str]]:
    """Tracking pixel and links, and a marketing email's one-click unsubscribe (campaign_engine.tracking).
    Its modules (signing keys, tokens, links) are imported by the first email that needs them: a
    transactional campaign without tracking never does."""
    tracking = campaign.get("tracking") or {}
    if campaign.get("type") != "marketing" and not tracking.get("opens") and not tracking.get("clicks"):
        return html, {}
    from campaign_engine.tracking.decorate import decorate
    from campaign_engine.tracking.tokens import Recipient

    return decorate(
        campaign, locale, message.executionId, Recipient(recipient.userId, recipient.namespace, recipient.address), html
    )


def _claim(
    message: QueueMessage, recipient: QueuedRecipient, attempt_id: str, outcome_ref: str, locale: str | None = None
) -> Result | None:
    """Takes the recipient's send guard: None when this attempt now owns it, else what to do instead."""
    existing = store.claim_recipient(
        store.Claim(
            execution_id=message.executionId,
            user_id=recipient.userId,
            campaign_id=message.campaignId,
            request_id=message.requestId,
            attempt_id=attempt_id,
            outcome_ref=outcome_ref,
            expires_at=message.expiresAt,
            locale=locale,
        )
    )
    return None if existing is None else _already_claimed(existing, outcome_ref)


def _already_claimed(existing: store.RecipientState, outcome_ref: str) -> Result:
    if existing.state == SENDING and existing.outcome_ref == outcome_ref:
        # Claimed earlier in this same run (a replayed copy in the same batch): its outcome is
        # recorded with this run's batch.
        return Result("duplicate")
    if existing.state == SENDING:
        # Its invocation may have recorded the outcome in its batch already.
        [existing] = store.resolve_claimed([existing])
    if existing.state != SENDING:
        return Result("duplicate")  # a final outcome exists, and it stays as recorded
    age = time.time() - float(existing.claimed_at or 0)
    if age < CLAIM_LEASE_SECONDS:
        # Another attempt is sending right now. Come back later rather than drop the record:
        # if that attempt dies, a later look finds its claim stale and resolves it.
        return Result("wait", "claimed_elsewhere")
    logger.warning("stale claim resolved as unconfirmed", execution_id=existing.execution_id)
    return Result(
        FAILED,
        UNCONFIRMED,
        "A delivery attempt stopped after claiming this send; it is not retried so that it is never sent twice",
        locale=existing.locale,
    )


def deliver_batch(event: dict[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
    """Delivers a batch of queue records (an SQS event); returns the partial batch response, which
    names the records that must come back. A batch whose every record failed is still such an
    answer, not a function error: an error would count against the function and slow the event
    source's polling. The outcomes of the whole batch are written when it ends; if that fails, the
    function fails and every record comes back to find its claims."""
    with Invocation(context) as invocation:
        # Every message starts at once, so that their waits on DynamoDB and SES overlap; then each
        # one's result is taken in turn, and the failed ones are named in the partial batch response.
        records = [SQSRecord(record) for record in event.get("Records", [])]
        invocation.prepare(records)  # one screening read for the whole batch
        started = {record.message_id: invocation.submit(_deliver_record, record, invocation) for record in records}
        failures = []
        for record in records:
            try:
                started[record.message_id].result()
            except Exception:  # it comes back; what went wrong was logged by _deliver_received
                failures.append({"itemIdentifier": record.message_id})
        return {"batchItemFailures": failures}


def _deliver_record(record: SQSRecord, invocation: Invocation) -> None:
    try:
        _deliver_received(record, invocation)
    except Exception:
        if not _dead_lettered_without_message_data(record, invocation):
            raise


def _dead_lettered_without_message_data(record: SQSRecord, invocation: Invocation) -> bool:
    """On the receive after which SQS would move the record to the dead-letter queue, a campaign that
    keeps no messages (privacy.retainMessages false) has delivery put it there itself, without its
    recipients' context and profile; True when done (the record is then deleted as handled). Any doubt
    (another format, the campaign unreadable, the DLQ refusing) leaves the record to SQS, intact."""
    settings = get_settings()
    receive_count = int(record.approximate_receive_count or 1)
    if receive_count < settings.delivery_max_receive_count or not settings.delivery_dead_letter_queue_url:
        return False
    try:
        prepared = invocation.prepared(record.message_id)
        if prepared is None:
            message = queue_message.decode(record.body)
            campaign = campaign_version(message.campaignId, message.campaignVersion)
        else:
            message, campaign = prepared.message, prepared.campaign
        if retains_messages(campaign):
            return False
        delivery_queue.dead_letter(queue_message.without_message_data(message).decode())
    except Exception as error:
        logger.warning("dead-lettered intact", message_id=record.message_id, error=type(error).__name__)
        return False
    logger.error(
        "delivery failed; dead-lettered without message data",
        message_id=record.message_id,
        execution_id=message.executionId,
        receive_count=receive_count,
    )
    return True


def _deliver_received(record: SQSRecord, invocation: Invocation) -> None:
    receive_count = int(record.approximate_receive_count or 1)
    try:
        if invocation.out_of_time():
            raise RetryLater("not started: the run is near its timeout", out_of_time=True)
        deliver_message(record.body, receive_count=receive_count, invocation=invocation, message_id=record.message_id)
    except quiet_hours.Deferred as deferred:
        # Every recipient is in quiet hours: the message comes back when the first period ends, kept
        # invisible by the queue meanwhile (at most SQS's 12 hours; then it is deferred again).
        delivery_queue.come_back_in(record.receipt_handle, deferred.seconds)
        raise
    except RetryLater as later:
        # It comes back by the queue's visibility instead of the function sleeping.
        if later.out_of_time:
            seconds = queue_message.out_of_time_seconds(invocation.remaining_ms())
        else:
            seconds = queue_message.redelivery_seconds(receive_count, waiting_only=later.waiting_only)
        delivery_queue.come_back_in(record.receipt_handle, seconds)
        raise
    except queue_message.UnknownFormat as error:
        # Written by another build: never half-read. It comes back until the queue's maxReceiveCount
        # moves it to the DLQ, intact, for a build that reads it.
        logger.error(
            "delivery failed",
            message_id=record.message_id,
            receive_count=receive_count,
            error=type(error).__name__,
            version=str(error.version)[:20],
        )
        raise
    except Exception as error:
        # Poison records are retried until the queue's maxReceiveCount moves them to the DLQ;
        # the reason is logged on every attempt.
        logger.exception(
            "delivery failed", message_id=record.message_id, receive_count=receive_count, error=type(error).__name__
        )
        raise
