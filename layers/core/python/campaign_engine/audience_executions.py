"""POST /im/executions/audience: a marketing campaign sent to a whole audience, now or at a set time.

- The request is checked (an explicit audience, a marketing campaign that accepts triggers, the
  context against the campaign's contextSchema), then claimed by its requestId as the unitary trigger
  does: the same requestId and body replays the first answer, another body is a 409.
- Now: the execution is recorded (`queued`) and its fan-out job is queued (jobs.py). Later: a schedule
  is recorded, and the scheduler's minute tick (`start_due_schedules`) starts it when due.
- The fan-out (`fanout_step`) pages through the audience: one batched read of the members' profiles
  per page, each member's address resolved from its profile, the exclusions screened (suppressed,
  no_consent, missing address) and recorded as recipient outcomes, the rest queued for delivery as
  the trigger queues its recipients. After each page the checkpoint moves by a conditional update
  on the page number, so two runs of one step never both advance; a run that dies before its
  checkpoint is redone from the last one, and the page it queued again is deduplicated by delivery's
  claim on (executionId, userId): nobody is reached twice in one execution.
- dryRun counts the audience and its exclusions with the same judgement, sending and recording
  nothing, for at most DRY_RUN_SECONDS (then `complete: false` with what was counted).

Rule-based audiences are read through `store.audiences.rule_page(rule, cursor, limit)` (one Scan page
of the profiles with the rule as DynamoDB's filter); static ones through `store.audiences.member_page`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from campaign_engine import campaign_gate, delivery_queue, jobs, queue_message, reports, screening, store
from campaign_engine.addresses import address_problem, resolve_address
from campaign_engine.audience_rules import parse_rule
from campaign_engine.auth import Principal, campaign_not_found, require, require_labels
from campaign_engine.errors import DomainError, FieldError, validation_failed
from campaign_engine.minute_tick import due_key
from campaign_engine.observability import logger, metrics
from campaign_engine.profile_views import template_view
from campaign_engine.settings import get_settings
from campaign_engine.store import audience_executions as records
from campaign_engine.store import audiences as audience_store
from campaign_engine.trigger import RETENTION, check_campaign_accepts_triggers, legacy_request_key, request_key
from campaign_engine.trigger_body import ChannelData, PushInfo, Recipient, canonical

if TYPE_CHECKING:
    from campaign_engine.audience_models import AudienceExecutionStatus

FANOUT = "audience_fanout"
EXECUTION_PREFIX = "aud_"
SCHEDULE_PREFIX = "sch_"
PAGE_SIZE = 500
# A dry run counts for at most this long, then answers what it counted (`complete: false`).
DRY_RUN_SECONDS = 20.0
MAX_SCHEDULE_AHEAD = timedelta(days=366)

Member = tuple[str, str, dict[str, Any] | None]  # (namespace, id, stored profile values or None)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _now() -> datetime:
    return datetime.now(UTC)


def is_audience_execution(execution_id: str) -> bool:
    return execution_id.startswith(EXECUTION_PREFIX)


# ---------------------------------------------------------------------------
# The request
# ---------------------------------------------------------------------------
class AudienceCall(msgspec.Struct, frozen=True):
    campaign_id: str
    audience_id: str | None
    request_id: str | None = None
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    execute_at: datetime | None = None
    dry_run: bool = False

    def body_hash(self) -> str:
        """The same request is the same hash, whatever the key order or formatting (dryRun is not stored)."""
        value = {
            "campaignId": self.campaign_id,
            "audienceId": self.audience_id,
            "context": self.context,
            "executeAt": _iso(self.execute_at) if self.execute_at else None,
        }
        return hashlib.sha256(canonical(value)).hexdigest()


def check_call(call: AudienceCall, now: datetime) -> None:
    """400 naming each field at fault: the audience (required) and the schedule's time."""
    errors = []
    if not call.audience_id:
        errors.append(FieldError("audience.id", "is required: an audience execution sends to one explicit audience"))
    if call.execute_at is not None:
        if call.execute_at.tzinfo is None:
            errors.append(FieldError("schedule.executeAt", "needs an offset (Z or +hh:mm)"))
        elif call.execute_at <= now:
            errors.append(FieldError("schedule.executeAt", "must be in the future"))
        elif call.execute_at > now + MAX_SCHEDULE_AHEAD:
            errors.append(FieldError("schedule.executeAt", "must be within a year from now"))
    if errors:
        raise validation_failed(errors)


def execute_audience(
    call: AudienceCall, principal: Principal, *, seconds_left: Callable[[], float] | None = None
) -> tuple[int, dict[str, Any]]:
    """The answer (status, body): 202 started or scheduled, or 200 with a dry run's counts (which stops
    counting DRY_RUN_SECONDS from now, or 2 s before `seconds_left()` of the function's time runs out)."""
    require(principal, "campaigns:trigger")
    now = _now()
    check_call(call, now)
    snapshot = campaign_gate.live_snapshot(call.campaign_id)
    if snapshot is None:
        raise campaign_not_found(principal, call.campaign_id)
    status, live, labels = snapshot
    require_labels(principal, labels, call.campaign_id)
    try:
        campaign = check_campaign_accepts_triggers(call.campaign_id, status, live, call.execute_at or now)
    except DomainError:
        # A retry of a request accepted before the campaign stopped still gets its first answer.
        replayed = _same_request(call, principal.key_id)
        if replayed is None:
            raise
        return 202, replayed.answer
    if campaign.get("type") != "marketing":
        raise DomainError(
            code="not_a_marketing_campaign",
            detail="Only a marketing campaign is sent to an audience; a transactional one is triggered per recipient",
            extra={"campaignId": call.campaign_id},
        )
    audience_id = str(call.audience_id)
    audience = records.audience_head(audience_id)
    if audience is None:
        raise DomainError(
            code="audience_not_found",
            detail=f"No audience with id {audience_id!r}",
            errors=[FieldError("audience.id", "names no audience")],
        )
    _check_context(campaign, call.context)
    if call.dry_run:
        budget = DRY_RUN_SECONDS if seconds_left is None else min(DRY_RUN_SECONDS, seconds_left() - 2.0)
        return 200, dry_run(campaign, audience_id, audience, call.context, seconds=budget)
    return 202, _accept(call, now, principal.key_id)


def _check_context(campaign: dict[str, Any], context: dict[str, Any]) -> None:
    schema = campaign.get("contextSchema")
    if not schema:
        return
    from campaign_engine import context_schema

    checker = context_schema.checker_for(campaign["id"], int(campaign["version"]), json.dumps(schema, sort_keys=True))
    error = checker.first_error(context)
    if error is not None:
        raise DomainError(
            code="invalid_context",
            detail=f"The context does not satisfy the campaign's contextSchema: {error}",
            errors=[FieldError("context" + error.path.removeprefix("$"), error.rule)],
        )


def _same_request(call: AudienceCall, key_id: str) -> records.AudienceRequest | None:
    if not call.request_id:
        return None
    found = records.get_request(request_key(call.campaign_id, call.request_id, key_id)) or _legacy_request(call)
    if found is None or found.idempotent_until < time.time() or found.body_hash != call.body_hash():
        return None
    return found


def _legacy_request(call: AudienceCall) -> records.AudienceRequest | None:
    """This requestId's request made before idempotency was scoped per key (trigger.legacy_request_key)."""
    if not call.request_id or not get_settings().read_unscoped_request_ids:
        return None
    found = records.get_request(legacy_request_key(call.campaign_id, call.request_id))
    return found if found is not None and found.idempotent_until >= time.time() else None


def _accept(call: AudienceCall, now: datetime, key_id: str) -> dict[str, Any]:
    """Idempotency is per calling key, as the unitary trigger's (trigger.request_key)."""
    request_id = call.request_id or str(uuid.uuid4())
    key = request_key(call.campaign_id, request_id, key_id)
    answer: dict[str, Any] = {
        "requestId": request_id,
        "campaignId": call.campaign_id,
        "audienceId": call.audience_id,
        "createdAt": _iso(now),
    }
    if call.execute_at is not None:
        answer.update(
            scheduleId=SCHEDULE_PREFIX + key + secrets.token_hex(4), executeAt=_iso(call.execute_at), status="scheduled"
        )
    else:
        answer.update(executionId=EXECUTION_PREFIX + key + secrets.token_hex(4), status="queued")
    settings = get_settings()
    request = records.AudienceRequest(
        request_key=key,
        request_id=request_id,
        body_hash=call.body_hash(),
        answer=answer,
        idempotent_until=int(time.time()) + settings.idempotency_hours * 3600,
        expires_at=int((now + RETENTION).timestamp()),
    )
    existing = _legacy_request(call) or records.claim_request(request)
    if existing is not None:
        if existing.body_hash != request.body_hash:
            raise DomainError(
                code="request_id_reused",
                detail="This requestId was already used with a different body; use a new requestId",
                extra={"requestId": request_id},
            )
        # The first call may have died before recording what it answered: done again here, once.
        request = existing
        metrics.add_metric(name="RequestsReplayed", unit="Count", value=1)
    answer = request.answer
    # What the execution, or the schedule that will start it, is made of: the request as first answered.
    common: dict[str, Any] = {
        "request_id": request.request_id,
        "campaign_id": call.campaign_id,
        "audience_id": str(call.audience_id),
        "created_at": answer["createdAt"],
        "context": call.context,
    }
    if "scheduleId" in answer and call.execute_at is not None:
        schedule = records.Schedule(
            schedule_id=answer["scheduleId"],
            execute_at=answer["executeAt"],
            due_key=due_key(call.execute_at) + "#" + answer["scheduleId"],
            expires_at=request.expires_at + int(MAX_SCHEDULE_AHEAD.total_seconds()),
            **common,
        )
        if records.create_schedule(schedule):
            logger.info("audience execution scheduled", schedule_id=schedule.schedule_id, campaign_id=call.campaign_id)
    else:
        _create_and_submit(
            records.AudienceExecution(execution_id=answer["executionId"], expires_at=request.expires_at, **common)
        )
    return answer


def _create_and_submit(execution: records.AudienceExecution) -> None:
    """Records the execution and queues its fan-out. An execution found still `queued` (its first
    writer may have died before queueing the job) gets its job again: a second job is harmless (the
    checkpoint lets one run advance each page)."""
    existing = records.create_execution(execution)
    if existing is not None and existing.status != "queued":
        return
    jobs.submit({"kind": FANOUT, "executionId": execution.execution_id})
    if existing is None:
        metrics.add_metric(name="AudienceExecutionsStarted", unit="Count", value=1)
        logger.info(
            "audience execution started", execution_id=execution.execution_id, campaign_id=execution.campaign_id
        )


# ---------------------------------------------------------------------------
# Judging members: shared by the fan-out and the dry run
# ---------------------------------------------------------------------------
class Judged(msgspec.Struct):
    targeted: int = 0
    entries: list[tuple[str, bytes]] = msgspec.field(default_factory=list)  # (userId, encoded QueuedRecipient)
    excluded: list[tuple[str, str, str]] = msgspec.field(default_factory=list)  # (userId, reason, detail)


def _push_data(stored: dict[str, Any] | None) -> ChannelData | None:
    """The device a push goes to: the profile's first token of an app this stack may send to (else its first)."""
    tokens = [t for t in (stored or {}).get("pushTokens") or [] if isinstance(t, dict) and t.get("token")]
    if not tokens:
        return None
    infos = [
        {"appID": t.get("appID"), "platform": str(t.get("platform") or "").lower(), "token": t["token"]} for t in tokens
    ]
    chosen = next((i for i in infos if address_problem("push", i) is None), infos[0])
    return ChannelData(pushInfo=PushInfo(**chosen))


def judge_members(channel: str, campaign_type: str, members: Iterable[Member], context: dict[str, Any]) -> Judged:
    """Who of these members is queued (their entries) and who is excluded, with the reason."""
    judged = Judged()
    seen: set[str] = set()
    pending: list[tuple[str, str, Any, dict[str, Any], bool]] = []
    for namespace, user_id, stored in members:
        if user_id in seen:  # one person per userId: delivery's claim is keyed by it
            continue
        seen.add(user_id)
        judged.targeted += 1
        view = template_view(stored)
        recipient = Recipient(
            userId=user_id,
            namespace=namespace,
            channelData=_push_data(stored) if channel == "push" else None,
            profile=view,
        )
        address, source = resolve_address(channel, recipient, namespace)
        if address is None:
            judged.excluded.append((user_id, "missing_address", f"The profile has no {channel} address"))
            continue
        problem = address_problem(channel, address)
        if problem:
            judged.excluded.append((user_id, "invalid_address", f"The address from the {source} {problem}"))
            continue
        pending.append((namespace, user_id, address, view, stored is not None))
    candidates = [screening.Candidate(ns, uid, address, known) for ns, uid, address, _, known in pending]
    verdicts = screening.screen(channel, campaign_type, candidates)
    for (namespace, user_id, address, view, known), verdict in zip(pending, verdicts, strict=True):
        if verdict is not None:
            judged.excluded.append((user_id, verdict[0], verdict[1]))
            continue
        entry = queue_message.QueuedRecipient(user_id, namespace, address, view, context, known)
        encoded = queue_message.sqs_safe(queue_message.encode(entry))
        if not queue_message.entry_fits(encoded):
            judged.excluded.append((user_id, "entry_too_large", "The profile and context are over one queue message"))
            continue
        judged.entries.append((user_id, encoded))
    return judged


# ---------------------------------------------------------------------------
# Reading the audience a page at a time
# ---------------------------------------------------------------------------
Pager = Callable[[Any], tuple[list[Member], Any]]


def audience_rule(audience: dict[str, Any]) -> Any:
    """The rule of a rule-based audience (its head's `rule`), or None for a static list."""
    rule = audience.get("rule")
    if isinstance(rule, str):
        rule = json.loads(rule)
    return rule or None


def pager_for(audience_id: str, audience: dict[str, Any], page_size: int = PAGE_SIZE) -> Pager:
    """cursor -> (members with their stored profiles, the next page's cursor or None at the end)."""
    rule = audience_rule(audience)
    if rule is not None:
        parsed = parse_rule(rule)

        def by_rule(cursor: Any) -> tuple[list[Member], Any]:
            profiles, following = audience_store.rule_page(parsed, cursor, page_size)
            return [(p["namespace"], p["id"], p) for p in profiles], following

        return by_rule

    def static(cursor: Any) -> tuple[list[Member], Any]:
        page = audience_store.member_page(audience_id, cursor, limit=page_size)
        stored = store.people.get_profiles(page.members) if page.members else {}
        return [(ns, uid, stored.get((ns, uid))) for ns, uid in page.members], page.cursor

    return static


def dry_run(
    campaign: dict[str, Any], audience_id: str, audience: dict[str, Any], context: dict[str, Any], *, seconds: float
) -> dict[str, Any]:
    """The count and exclusions by reason, nothing sent or recorded. No new page is read after
    `seconds`: the answer then says `complete: false`, with what was counted (at least one page)."""
    pager = _pager_or_refusal(audience_id, audience)
    deadline = time.monotonic() + seconds
    count, would_send = 0, 0
    excluded: Counter[str] = Counter()
    cursor: Any = None
    while True:
        members, cursor = pager(cursor)
        judged = judge_members(campaign["channel"], campaign.get("type", "marketing"), members, context)
        count += judged.targeted
        would_send += len(judged.entries)
        excluded.update(reason for _, reason, _ in judged.excluded)
        if cursor is None or time.monotonic() >= deadline:
            break
    return {
        "count": count,
        "excluded": dict(sorted(excluded.items())),
        "wouldSend": would_send,
        "complete": cursor is None,
    }


def _pager_or_refusal(audience_id: str, audience: dict[str, Any]) -> Pager:
    try:
        return pager_for(audience_id, audience)
    except ValueError as error:  # a stored rule this build no longer reads
        raise DomainError(code="audience_not_found", detail=f"The audience's rule cannot be read: {error}") from None


# ---------------------------------------------------------------------------
# The fan-out (a job step)
# ---------------------------------------------------------------------------
def fanout_step(job: dict[str, Any], time_left_ms: Callable[[], int]) -> dict[str, Any] | None:
    """Pages through the audience while time is left; returns the continuation job, or None when done."""
    execution = records.get_execution(str(job.get("executionId")))
    if execution is None or execution.status in ("completed", "cancelled"):
        return None
    if not _ready(execution):
        return None
    audience = records.audience_head(execution.audience_id)
    if audience is None:
        _cancel(execution, "The audience was deleted before every member was read")
        return None
    try:
        pager = pager_for(execution.audience_id, audience)
    except ValueError as error:  # a stored rule this build no longer reads
        _cancel(execution, f"The audience's rule cannot be read: {error}")
        return None
    while True:
        closed = campaign_gate.closed_reason(execution.campaign_id, {})
        if closed is not None:
            _cancel(execution, closed[1])
            return None
        if not _one_page(execution, pager):
            return None  # done, or another run owns this page
        if time_left_ms() <= 0:
            return {"kind": FANOUT, "executionId": execution.execution_id}


def _ready(execution: records.AudienceExecution) -> bool:
    """A queued execution starts: it sends the campaign's live version of now, if the campaign still sends."""
    if execution.status != "queued":
        return True
    snapshot = campaign_gate.live_snapshot(execution.campaign_id)
    live = snapshot[1] if snapshot else None
    if snapshot is None or live is None or snapshot[0] not in campaign_gate.SENDING:
        _cancel(execution, f"The campaign is {snapshot[0] if snapshot else 'gone'}; it sends to no one")
        return False
    if not records.start_execution(
        execution.execution_id,
        version=int(live["version"]),
        channel=live["channel"],
        campaign_type=live.get("type", "marketing"),
        at=_iso(_now()),
    ):
        fresh = records.get_execution(execution.execution_id)  # another run started it
        if fresh is None or fresh.status != "running":
            return False
        for name in execution.__struct_fields__:
            setattr(execution, name, getattr(fresh, name))
        return True
    execution.status = "running"
    execution.campaign_version = int(live["version"])
    execution.channel = live["channel"]
    execution.campaign_type = live.get("type", "marketing")
    return True


def _cancel(execution: records.AudienceExecution, detail: str) -> None:
    if records.cancel_execution(execution.execution_id, detail=detail, at=_iso(_now())):
        logger.info("audience execution cancelled", execution_id=execution.execution_id, detail=detail)


def _one_page(execution: records.AudienceExecution, pager: Pager) -> bool:
    """Reads, judges, records and queues one page, then moves the checkpoint. True to go on."""
    members, following = pager(execution.cursor)
    judged = judge_members(execution.channel, execution.campaign_type, members, execution.context)
    now = _iso(_now())
    _record_exclusions(execution, judged.excluded, now)
    _enqueue(execution, judged.entries)
    counts = _added(execution.counts, judged)
    done = following is None
    if not records.checkpoint(
        execution.execution_id, page=execution.page, cursor=following, counts=counts, done=done, at=now
    ):
        logger.info("fan-out page done by another run", execution_id=execution.execution_id, page=execution.page)
        return False
    if judged.excluded:  # only after the checkpoint: a page redone by another run is counted once
        excluded = ((execution.campaign_id, "excluded", r, None) for _, r, _ in judged.excluded)
        reports.add_counts(reports.tally(excluded, stage="audience"))
    metrics.add_metric(name="AudienceMembersQueued", unit="Count", value=len(judged.entries))
    execution.page += 1
    execution.cursor = following
    execution.counts = counts
    if done:
        execution.status = "completed"
        logger.info(
            "audience execution completed",
            execution_id=execution.execution_id,
            targeted=counts["targeted"],
            queued=counts["queued"],
        )
    return not done


def _added(counts: dict[str, Any], judged: Judged) -> dict[str, Any]:
    excluded = Counter(counts.get("excluded") or {})
    excluded.update(reason for _, reason, _ in judged.excluded)
    return {
        "targeted": int(counts.get("targeted", 0)) + judged.targeted,
        "queued": int(counts.get("queued", 0)) + len(judged.entries),
        "excluded": dict(sorted(excluded.items())),
    }


def _record_exclusions(execution: records.AudienceExecution, excluded: list[tuple[str, str, str]], now: str) -> None:
    store.record_outcomes(
        store.Outcome(
            execution_id=execution.execution_id,
            user_id=user_id,
            campaign_id=execution.campaign_id,
            request_id=execution.request_id,
            state="excluded",
            reason=reason,
            detail=detail,
            updated_at=now,
            expires_at=execution.expires_at,
        )
        for user_id, reason, detail in excluded
    )


def _enqueue(execution: records.AudienceExecution, entries: list[tuple[str, bytes]]) -> None:
    """Into the delivery queue, as the trigger queues its recipients (ten to a message)."""
    if not entries:
        return
    header = queue_message.QueueMessage(
        queue_message.FORMAT_VERSION,
        execution.execution_id,
        execution.request_id,
        execution.campaign_id,
        execution.campaign_version,
        execution.created_at,
        execution.expires_at,
    )
    delivery_queue.enqueue(list(queue_message.pack_encoded(header, (encoded for _, encoded in entries))))


# ---------------------------------------------------------------------------
# Schedules: the scheduler's tick, and GET / DELETE
# ---------------------------------------------------------------------------
def execution_id_of_schedule(schedule_id: str) -> str:
    """A schedule always starts the same execution, however often it fires."""
    return EXECUTION_PREFIX + hashlib.sha256(f"schedule\n{schedule_id}".encode()).hexdigest()[:32]


def start_due_schedules(now: datetime | None = None) -> list[tuple[str, str]]:
    """The scheduler's tick: every schedule due by `now` starts its execution (once). Returns
    (scheduleId, executionId) of those this tick started. One that fails is left for the next tick."""
    moment = now or _now()
    started = []
    for key, schedule_id in list(records.due_schedules(due_key(moment))):
        try:
            if _start_schedule(schedule_id, moment):
                started.append((schedule_id, execution_id_of_schedule(schedule_id)))
            records.remove_due_entry(key)
        except Exception as error:  # the others still start; this one is tried again next minute
            logger.exception("scheduled execution not started", schedule_id=schedule_id, error=type(error).__name__)
    return started


def _start_schedule(schedule_id: str, moment: datetime) -> bool:
    execution_id = execution_id_of_schedule(schedule_id)
    moved, schedule = records.move_schedule(schedule_id, to="started", execution_id=execution_id, at=_iso(moment))
    if schedule is None or not (moved or schedule.status == "started"):
        return False  # cancelled, or gone
    # Started by this tick, or by one that died before queueing its fan-out: that is done again, once.
    _create_and_submit(
        records.AudienceExecution(
            execution_id=schedule.execution_id or execution_id,
            request_id=schedule.request_id,
            campaign_id=schedule.campaign_id,
            audience_id=schedule.audience_id,
            created_at=_iso(moment),
            expires_at=int((moment + RETENTION).timestamp()),
            context=schedule.context,
            schedule_id=schedule_id,
        )
    )
    return moved


def _schedule_for(schedule_id: str, principal: Principal) -> records.Schedule:
    from campaign_engine.executions import check_label_access

    schedule = records.get_schedule(schedule_id) if schedule_id.startswith(SCHEDULE_PREFIX) else None
    check_label_access(principal, schedule.campaign_id if schedule else None)
    if schedule is None:
        raise DomainError(code="schedule_not_found", detail=f"No schedule with id {schedule_id!r}")
    return schedule


def schedule_status(schedule_id: str, principal: Principal) -> dict[str, Any]:
    if not (principal.can("reports:read") or principal.can("campaigns:trigger")):
        raise DomainError(
            code="forbidden", detail="Reading schedules needs the 'reports:read' or 'campaigns:trigger' scope"
        )
    return _schedule_answer(_schedule_for(schedule_id, principal))


def _schedule_answer(schedule: records.Schedule) -> dict[str, Any]:
    answer = {
        "scheduleId": schedule.schedule_id,
        "campaignId": schedule.campaign_id,
        "audience": {"id": schedule.audience_id},
        "executeAt": schedule.execute_at,
        "status": schedule.status,
        "requestId": schedule.request_id,
        "createdAt": schedule.created_at,
    }
    if schedule.execution_id:
        answer["executionId"] = schedule.execution_id
    return answer


def cancel_schedule(schedule_id: str, principal: Principal) -> None:
    """A scheduled execution is cancelled (204); one already started is a 409 naming its execution."""
    require(principal, "campaigns:trigger")
    schedule = _schedule_for(schedule_id, principal)
    moved, current = records.move_schedule(schedule_id, to="cancelled", execution_id=None, at=_iso(_now()))
    if not moved and current is not None and current.status == "started":
        raise DomainError(
            code="schedule_already_started",
            detail="The schedule fired already; its execution runs (stop the campaign to halt it)",
            extra={"scheduleId": schedule_id, "executionId": current.execution_id or ""},
        )
    records.remove_due_entry(schedule.due_key)
    if moved:
        logger.info("audience execution schedule cancelled", schedule_id=schedule_id)


# ---------------------------------------------------------------------------
# GET /im/executions/{executionId} for an audience execution
# ---------------------------------------------------------------------------
def audience_execution_status(
    execution_id: str, principal: Principal, *, limit: int, next_token: str | None
) -> AudienceExecutionStatus:
    """The execution's status and counts, and a page of its recipient items (the caller checked the scope)."""
    from campaign_engine.audience_models import AudienceCounts, AudienceExecutionStatus
    from campaign_engine.executions import check_label_access, recipient_outcome

    execution = records.get_execution(execution_id)
    check_label_access(principal, execution.campaign_id if execution else None)
    if execution is None:
        raise DomainError(code="execution_not_found", detail=f"No execution with id {execution_id!r}")
    states, following = records.recipient_page(execution_id, limit=limit, next_token=next_token)
    counts = execution.counts
    return AudienceExecutionStatus(
        execution_id=execution.execution_id,
        request_id=execution.request_id,
        campaign_id=execution.campaign_id,
        campaign_version=execution.campaign_version or None,
        audience_id=execution.audience_id,
        schedule_id=execution.schedule_id,
        created_at=datetime.fromisoformat(execution.created_at.replace("Z", "+00:00")),
        status=execution.status,
        detail=execution.detail,
        counts=AudienceCounts(
            targeted=int(counts.get("targeted", 0)),
            queued=int(counts.get("queued", 0)),
            excluded=dict(counts.get("excluded") or {}),
        ),
        recipients=[recipient_outcome(state) for state in states],
        next_token=following,
    )
