"""POST /im/executions/unitary: a verdict per recipient, then the accepted ones are queued.

Order matters for "nothing accepted is lost, nothing sent twice":
1. the request record (idempotency + verdicts) is written with a conditional put, so
   concurrent duplicates of one requestId produce one execution;
2. the accepted recipients are queued;
3. a replay of the same request re-queues any accepted recipient that delivery has not
   claimed yet. A trigger that died between 1 and 2 therefore loses nothing once the
   caller retries, and the per-recipient send guard in delivery drops the duplicates.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
from botocore.exceptions import ClientError

from campaign_engine import campaign_gate, delivery_queue, known_recipients, queue_message, reports, store, trigger_body
from campaign_engine.addresses import address_problem, resolve_address
from campaign_engine.auth import Principal, campaign_not_found, require, require_labels
from campaign_engine.errors import DomainError
from campaign_engine.observability import logger, metrics
from campaign_engine.settings import get_settings
from campaign_engine.store import executions as _execution_store  # noqa: F401 - every call reads one: at start
from campaign_engine.store import known_people

if TYPE_CHECKING:
    from campaign_engine.models import TriggerRequest

# Claims and records outlive every possible redelivery (queue retention, then the DLQ).
RETENTION = timedelta(days=30)


def request_key(campaign_id: str, request_id: str, key_id: str) -> str:
    """Idempotency is per calling key and campaign: the same requestId sent by two keys, or to two
    campaigns, is two requests, and neither caller sees the other's answer."""
    return hashlib.sha256(f"{key_id}\n{campaign_id}\n{request_id}".encode()).hexdigest()[:24]


def legacy_request_key(campaign_id: str, request_id: str) -> str:
    """The key of a request made before idempotency was scoped per calling key. While a stack that has
    such records is upgraded (ReadUnscopedRequestIds on, for IdempotencyHours), a retry of one replays
    rather than sending twice, at the price of one more read per call with a requestId."""
    return hashlib.sha256(f"{campaign_id}\n{request_id}".encode()).hexdigest()[:24]


def new_execution_id(key: str) -> str:
    """The id leads with the request key, so GET /im/executions/{id} finds its record in one read."""
    return key + secrets.token_hex(4)


def request_key_of_execution(execution_id: str) -> str | None:
    if len(execution_id) != 32 or any(c not in "0123456789abcdef" for c in execution_id):
        return None
    return execution_id[:24]


class TriggerCall(msgspec.Struct, frozen=True):
    """A valid trigger body (contract: TriggerRequest), decoded by trigger_body. The trigger works
    on it directly: building pydantic models for 1,000 recipients, and dumping them again to hash
    and queue them, would be most of a large call's CPU."""

    body: trigger_body.TriggerBody

    @classmethod
    def from_value(cls, value: Any) -> TriggerCall:
        return cls(trigger_body.from_value(value))

    @classmethod
    def from_model(cls, request: TriggerRequest) -> TriggerCall:
        return cls.from_value(request.model_dump(mode="json", by_alias=True, exclude_unset=True))

    @property
    def campaign_id(self) -> str:
        return self.body.campaignId

    @property
    def request_id(self) -> str | None:
        return self.body.requestId

    @property
    def context(self) -> dict[str, Any] | None:
        return self.body.context


def body_hash(call: TriggerCall) -> str:
    """The same request is the same hash: key order, formatting and fields the platform does not
    read do not matter."""
    return hashlib.sha256(trigger_body.canonical(call.body)).hexdigest()


def check_campaign_accepts_triggers(
    campaign_id: str, status: str, live: dict[str, Any] | None, now: datetime
) -> dict[str, Any]:
    if live is None or status not in ("live", "scheduled"):
        raise DomainError(
            code="campaign_not_live",
            detail=f"The campaign is {status}; only a live campaign accepts triggers",
            extra={"campaignId": campaign_id},
        )
    schedule = live.get("schedule") or {}
    start = _parse_time(schedule.get("start"))
    end = _parse_time(schedule.get("end"))
    if (start and now < start) or (end and now >= end):
        window = f"{schedule.get('start') or '-'} to {schedule.get('end') or '-'}"
        raise DomainError(
            code="outside_schedule_window",
            detail=f"The campaign accepts triggers from {window}",
            extra={"campaignId": campaign_id},
        )
    return live


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


class _Contexts:
    """Each recipient's context (the request's, overlaid with its own) and the first error the
    campaign's contextSchema finds in it. The request's own context is checked once per call."""

    def __init__(self, base: dict[str, Any], schema_key: tuple[str, int, str] | None) -> None:
        self._base = base
        self._checker: Any = None
        self._budget: Any = None
        if schema_key:
            # Imported here: most campaigns have no contextSchema (and jsonschema, slow to import, is
            # imported by the checker only when a context fails its fast answer).
            from campaign_engine import context_schema

            self._checker = context_schema.checker_for(*schema_key)
            self._budget = context_schema.MatchBudget()  # slow regex matches this call may still spend
        self._base_error: list[str | None] = []

    def of(self, own: dict[str, Any] | None) -> tuple[dict[str, Any], str | None]:
        if not own:
            if not self._base_error:
                self._base_error.append(self._error(self._base))
            return self._base, self._base_error[0]
        context = {**self._base, **own} if self._base else own
        return context, self._error(context)

    def _error(self, context: dict[str, Any]) -> str | None:
        if self._checker is None:
            return None
        error = self._checker.first_error(context, self._budget)
        return None if error is None else str(error)


# (userId, "accepted" | "rejected", reason, detail): as the record stores it. A tuple of strings
# and None is untracked by the garbage collector; a list of lists is tracked, 1,000 times per call.
Verdict = tuple[str, str, str | None, str | None]
Entry = tuple[str, bytes]  # (userId, its queue_message.QueuedRecipient encoded as JSON)


def _rejected(user_id: str, reason: str, detail: str) -> Verdict:
    return (user_id, "rejected", reason, detail)


def judge_recipients(
    call: TriggerCall, campaign: dict[str, Any]
) -> tuple[list[Verdict], list[Entry], list[dict[str, Any]]]:
    """A verdict for every recipient, the queue entries of the accepted ones, and the items of the
    profiles to create for the accepted unknown ones (known_recipients).

    Malformed addresses given in channelData fail the whole request (400 naming each field):
    they are the caller's bug. Anything about the person is a per-recipient rejection."""
    judge = _Judge(call, campaign)
    verdicts: list[Verdict] = []
    entries: list[Entry] = []
    seen: set[str] = set()
    for index, recipient in enumerate(call.body.recipients):
        user_id = recipient.userId
        if user_id in seen:
            detail = "This userId appears earlier in the same request"
            verdicts.append(_rejected(user_id, "duplicate_recipient", detail))
            continue
        seen.add(user_id)
        judged = judge.one(index, recipient)
        if isinstance(judged, bytes):
            verdicts.append((user_id, "accepted", None, None))
            entries.append((user_id, judged))
        else:
            verdicts.append(judged)
    return verdicts, entries, judge.people.new


class _Judge:
    """One call's recipients, judged one by one: an accepted recipient's queue entry, or its rejection."""

    def __init__(self, call: TriggerCall, campaign: dict[str, Any]) -> None:
        self.channel: str = campaign["channel"]
        self.people = known_recipients.People(call.body.recipients, self.channel, campaign)  # one batched read
        settings = get_settings()
        # An entry holds the context and the profile whole: only an entry over the smaller of their
        # limits (len() of bytes costs nothing) needs the exact measure of its parts.
        self.smallest_limit = min(settings.max_context_bytes, settings.max_profile_bytes)
        schema = campaign.get("contextSchema")
        schema_key = (campaign["id"], int(campaign["version"]), json.dumps(schema, sort_keys=True)) if schema else None
        self.contexts = _Contexts(call.context or {}, schema_key)

    def one(self, index: int, recipient: trigger_body.Recipient) -> Verdict | bytes:
        user_id = recipient.userId
        people = self.people
        namespace = recipient.namespace or people.default_namespace
        known = recipient.type == "aep"
        stored = people.stored.get((namespace, user_id)) if known else None
        if known and stored is None and not people.create:
            return _rejected(user_id, "unknown_profile", _UNKNOWN_PROFILE.format(namespace[:64]))
        address, rejected = self._address(index, recipient, namespace, stored)
        if rejected is not None:
            return rejected
        context, context_error = self.contexts.of(recipient.context)
        if context_error:
            return _rejected(user_id, "invalid_context", context_error)
        if stored is None:
            profile = recipient.profile or {}
        else:
            profile = known_recipients.queued_profile(stored, recipient.profile)
        encoded = queue_message.encode(
            queue_message.QueuedRecipient(user_id, namespace, address, profile, context, stored is not None)
        )
        # U+FFFE and U+FFFF (which SQS refuses raw) start with this byte. find() of one byte is a
        # memchr; `in` and longer needles cost ten times more per recipient.
        if encoded.find(b"\xef") >= 0:
            encoded = queue_message.sqs_safe(encoded)
        if len(encoded) > self.smallest_limit:
            too_large = _size_verdict(user_id, encoded, context, recipient.profile)
            if too_large is not None:
                return too_large
        if known and stored is None:
            unnamed = people.to_create(namespace, recipient, address, len(encoded))
            if unnamed is not None:
                return _rejected(user_id, "invalid_namespace", unnamed)
        return encoded

    def _address(
        self, index: int, recipient: trigger_body.Recipient, namespace: str, stored: dict[str, Any] | None
    ) -> tuple[Any, Verdict | None]:
        """The recipient's address and None, or None and its rejection.
        Order: channelData, the request's profile, the stored profile (before the userId: a person's
        address may have changed since the id was given), the userId."""
        channel = self.channel
        address, source = resolve_address(channel, recipient, namespace)
        if stored is not None and (source is None or source == "userId"):
            found = self.people.address_of(stored)
            if found is not None:
                address, source = found, known_recipients.STORED_SOURCE
        if address is None:
            detail = f"No {channel} address in channelData, the profile, or the userId"
            return None, _rejected(recipient.userId, "missing_address", detail)
        problem = address_problem(channel, address)
        if not problem:
            return address, None
        # That recipient alone is rejected, whatever the address came from: one mistyped address in
        # a call of 1,000 must not hold back the other 999. The detail names the field, never the
        # address (verdicts are stored with the execution).
        where = f"recipients[{index}].{source}" if source and source.startswith("channelData") else f"the {source}"
        return None, _rejected(recipient.userId, "invalid_address", f"The address from {where} {problem}")


_UNKNOWN_PROFILE = (
    "No profile of this userId in namespace {!r}, and the campaign's audience.createProfiles is off "
    "(create it with PUT /profiles/{{namespace}}/{{id}}, or send the recipient as type external)"
)


def _size_verdict(
    user_id: str, encoded: bytes, context: dict[str, Any], profile: dict[str, Any] | None
) -> Verdict | None:
    """Sizes are JSON in UTF-8. Every entry that is queued fits one SQS message, so a recipient
    answered `accepted` is never refused by the queue afterwards."""
    settings = get_settings()
    if len(trigger_body.encode(context)) > settings.max_context_bytes:
        return _rejected(user_id, "context_too_large", f"context is over {settings.max_context_bytes // 1024} KB")
    if profile and len(trigger_body.encode(profile)) > settings.max_profile_bytes:
        return _rejected(user_id, "profile_too_large", f"profile is over {settings.max_profile_bytes // 1024} KB")
    if not queue_message.entry_fits(encoded):
        detail = (
            f"The recipient's queue entry (profile, context, address and ids) is over "
            f"{queue_message.MAX_ENTRY_BYTES // 1024} KB, more than one queue message holds"
        )
        return _rejected(user_id, "entry_too_large", detail)
    return None


def trigger_unitary(call: TriggerCall, principal: Principal) -> dict[str, Any]:
    """Returns the 202 answer (contract: TriggerAccepted) as its JSON object."""
    require(principal, "campaigns:trigger")
    settings = get_settings()
    now = datetime.now(UTC)
    campaign_id = call.campaign_id
    snapshot = campaign_gate.live_snapshot(campaign_id)
    if snapshot is None:
        raise campaign_not_found(principal, campaign_id)
    status, live, labels = snapshot
    # Before the campaign's state: a key without its labels must not learn it (nor that it exists).
    require_labels(principal, labels, campaign_id)
    try:
        campaign = check_campaign_accepts_triggers(campaign_id, status, live, now)
    except DomainError:
        # A retry of a request accepted before the campaign stopped (or its window closed)
        # still gets its first answer: the caller must learn that it was accepted.
        accepted_before = _accepted_record(call, principal.key_id)
        if accepted_before is None:
            raise
        return _answer(accepted_before)

    verdicts, entries, new_profiles = judge_recipients(call, campaign)
    request_id = call.request_id or str(uuid.uuid4())
    key = request_key(campaign_id, request_id, principal.key_id)
    record = store.ExecutionRecord(
        execution_id=new_execution_id(key),
        request_id=request_id,
        campaign_id=campaign_id,
        campaign_version=int(campaign["version"]),
        channel=campaign["channel"],
        body_hash=body_hash(call),
        created_at=now.isoformat().replace("+00:00", "Z"),
        idempotent_until=int(time.time()) + settings.idempotency_hours * 3600,
        expires_at=int((now + RETENTION).timestamp()),
        verdicts=verdicts,
    )
    existing = _legacy_record(call) or store.put_execution_record(record, key)
    if existing is not None:
        return _replay(existing, record, entries, new_profiles)

    _create_profiles(new_profiles)
    _enqueue(record, entries)
    rejected = [(campaign_id, "excluded", v[2], None) for v in verdicts if v[1] == "rejected"]
    if rejected:  # only calls that rejected someone pay for a report write
        reports.add_counts(reports.tally(rejected, stage="trigger"))
    accepted = len(entries)
    metrics.add_metric(name="RecipientsAccepted", unit="Count", value=accepted)
    if len(verdicts) > accepted:  # a zero is not worth its bytes in every call's metrics line
        metrics.add_metric(name="RecipientsRejected", unit="Count", value=len(verdicts) - accepted)
    # Debug, not info: a line per call would be the largest log cost per email (CloudWatch Logs ingestion);
    # the execution record and the metrics above already say it. POWERTOOLS_LOGGER_SAMPLE_RATE
    # turns debug lines on for a share of invocations.
    logger.debug(
        "execution accepted",
        execution_id=record.execution_id,
        campaign_id=record.campaign_id,
        accepted=accepted,
        rejected=len(verdicts) - accepted,
    )
    return _answer(record)


def _create_profiles(items: list[dict[str, Any]]) -> None:
    """Creates the profiles of the accepted unknown recipients, before they are queued (so a profile is
    there when its message is delivered). The recipients were accepted: a write that fails (throttled
    beyond its retries) does not keep them from being sent; their profiles are created by a later call."""
    if not items:
        return
    try:
        known_people.create_profiles(items)
    except (ClientError, RuntimeError) as error:
        logger.warning("profiles not created", count=len(items), error=type(error).__name__)
        metrics.add_metric(name="ProfilesNotCreated", unit="Count", value=len(items))


def _accepted_record(call: TriggerCall, key_id: str) -> store.ExecutionRecord | None:
    if not call.request_id:
        return None
    record = store.get_execution_record(request_key(call.campaign_id, call.request_id, key_id)) or _legacy_record(call)
    if record is None or record.idempotent_until < time.time() or record.body_hash != body_hash(call):
        return None
    return record


def _legacy_record(call: TriggerCall) -> store.ExecutionRecord | None:
    """The record of this requestId made before idempotency was scoped per key, within its window."""
    if not call.request_id or not get_settings().read_unscoped_request_ids:
        return None
    record = store.get_execution_record(legacy_request_key(call.campaign_id, call.request_id))
    return record if record is not None and record.idempotent_until >= time.time() else None


def _enqueue(record: store.ExecutionRecord, entries: list[Entry], *, delay_seconds: int = 0) -> None:
    header = queue_message.QueueMessage(
        queue_message.FORMAT_VERSION,
        record.execution_id,
        record.request_id,
        record.campaign_id,
        record.campaign_version,
        record.created_at,
        record.expires_at,
    )
    bodies = list(queue_message.pack_encoded(header, (encoded for _, encoded in entries)))
    delivery_queue.enqueue(bodies, delay_seconds=delay_seconds)


def _replay(
    existing: store.ExecutionRecord,
    attempted: store.ExecutionRecord,
    entries: list[Entry],
    new_profiles: list[dict[str, Any]],
) -> dict[str, Any]:
    if existing.body_hash != attempted.body_hash:
        raise DomainError(
            code="request_id_reused",
            detail="This requestId was already used with a different body; use a new requestId",
            extra={"requestId": existing.request_id},
        )
    # Re-queue what the first call accepted and delivery has not claimed: the first call may
    # have died before queueing. Duplicates are dropped by delivery's send guard; the copies are
    # delayed while the first call may still be running (queue_message.replay_delay_seconds).
    accepted = {v[0] for v in existing.verdicts if v[1] == "accepted"}
    claimed = {s.user_id for s in store.iter_recipient_states(existing.execution_id)}
    missing = [e for e in entries if e[0] in accepted and e[0] not in claimed]
    delay = 0
    if missing:
        age = time.time() - datetime.fromisoformat(existing.created_at.replace("Z", "+00:00")).timestamp()
        delay = queue_message.replay_delay_seconds(age)
        # The first call may have died before creating them too.
        requeued = {user_id for user_id, _ in missing}
        _create_profiles([item for item in new_profiles if item["id"]["S"] in requeued])
        _enqueue(existing, missing, delay_seconds=delay)
    logger.info("request replayed", execution_id=existing.execution_id, requeued=len(missing), delay_seconds=delay)
    metrics.add_metric(name="RequestsReplayed", unit="Count", value=1)
    return _answer(existing)


def _answer(record: store.ExecutionRecord) -> dict[str, Any]:
    recipients = []
    for user_id, status, reason, detail in record.verdicts:
        verdict = {"userId": user_id, "status": status}
        if reason is not None:
            verdict["reason"] = reason
        if detail is not None:
            verdict["detail"] = detail
        recipients.append(verdict)
    return {
        "executionId": record.execution_id,
        "requestId": record.request_id,
        "campaignId": record.campaign_id,
        "createdAt": record.created_at,
        "recipients": recipients,
    }
