"""POST /im/executions/audience: a marketing campaign sent to a whole audience, now or later, on every
channel: each member reached exactly once, the excluded ones counted by reason, a fan-out that
continues from its checkpoint after its time runs out or it crashes, schedules that fire once or are
cancelled, and a dry run that sends nothing."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.conftest import Api, HttpAnswer, Queue, function_handler, invoke
from tests.integration.audience_support import (
    drain_jobs,
    erase_profile,
    jobs_depth,
    put_audience,
    put_profile,
    suppress,
)

OFFER_SCHEMA = {"type": "object", "required": ["offerCode"], "properties": {"offerCode": {"type": "string"}}}
EMAIL_CAMPAIGN: dict[str, Any] = {
    "name": "Spring sale",
    "type": "marketing",
    "channel": "email",
    "content": {
        "defaultLocale": "en-US",
        "locales": {
            "en-US": {
                "subject": "{{ profile.firstName | default('Hi') }}, your code {{ context.offerCode }}",
                "html": "<p>Use {{ context.offerCode }}</p>",
            }
        },
    },
    "contextSchema": OFFER_SCHEMA,
}
SMS_CAMPAIGN: dict[str, Any] = {
    "name": "Spring sale by SMS",
    "type": "marketing",
    "channel": "sms",
    "sender": {"originationIdentity": "+18005550100"},
    "content": {"defaultLocale": "en-US", "locales": {"en-US": {"body": "Code {{ context.offerCode }}"}}},
    "contextSchema": OFFER_SCHEMA,
}
PUSH_CAMPAIGN: dict[str, Any] = {
    "name": "Spring sale by push",
    "type": "marketing",
    "channel": "push",
    "content": {
        "defaultLocale": "en-US",
        "locales": {"en-US": {"title": "Spring sale", "body": "Code {{ context.offerCode }}"}},
    },
    "contextSchema": OFFER_SCHEMA,
}
CONTEXT = {"offerCode": "SPRING26"}


def sns_backend() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]


def execute(api: Api, body: dict[str, Any], **kwargs: Any) -> HttpAnswer:
    return api.call("api", "api/execute_audience.json", body=body, **kwargs)


def audience_body(campaign_id: str, audience_id: str | None = "everyone-who-asked", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"campaignId": campaign_id, "context": CONTEXT}
    if audience_id is not None:
        body["audience"] = {"id": audience_id}
    body.update(extra)
    return body


def address_of(channel: str, number: int) -> Any:
    if channel == "email":
        return f"member{number}@example.com"
    if channel == "sms":
        return f"+1415555{number:04d}"
    return f"device-token-{number}"


def profile_values(channel: str, number: int) -> dict[str, Any]:
    address = address_of(channel, number)
    values: dict[str, Any] = {"attributes": {"firstName": f"M{number}"}}
    if channel == "email":
        values["email"] = address
    elif channel == "sms":
        values["phone"] = address
    else:
        values["pushTokens"] = [{"appID": "com.example.app", "platform": "apns", "token": address}]
    return values


def build_audience(channel: str, size: int, *, audience_id: str = "everyone-who-asked") -> dict[str, set[str]]:
    """`size` members with profiles (namespace crm): every tenth suppressed, every tenth opted out,
    every tenth without an address for the channel; the rest reachable. Returns userIds by fate."""
    fates: dict[str, set[str]] = {
        "reachable": set(),
        "suppressed": set(),
        "no_consent": set(),
        "missing_address": set(),
    }
    members = []
    for number in range(size):
        user_id = f"crm-{number}"
        members.append(("crm", user_id))
        values = profile_values(channel, number)
        fate = {1: "suppressed", 2: "no_consent", 3: "missing_address"}.get(number % 10, "reachable")
        if fate == "suppressed":
            suppress(channel, address_of(channel, number))
        elif fate == "no_consent":
            values["consents"] = {channel: "out"}
        elif fate == "missing_address":
            values = {"attributes": values["attributes"]}
        put_profile("crm", user_id, **values)
        fates[fate].add(user_id)
    put_audience(audience_id, members)
    return fates


def delivered(channel: str, outbox: Callable[[], list[dict[str, Any]]]) -> Counter[Any]:
    """How many messages each address (email, phone, device token) received."""
    if channel == "email":
        return Counter(to for sent in outbox() for to in sent["to"])
    if channel == "sms":
        return Counter(phone for phone, _ in sns_backend().sms_messages.values())
    return Counter(
        endpoint.token for endpoint in sns_backend().platform_endpoints.values() for _ in endpoint.messages.values()
    )


def every_recipient(api: Api, execution_id: str, page: int = 100) -> dict[str, tuple[str, str | None]]:
    """GET /im/executions/{id}, every page: userId -> (status, reason)."""
    found: dict[str, tuple[str, str | None]] = {}
    token = None
    while True:
        query = {"limit": str(page), **({"nextToken": token} if token else {})}
        answer = api.execution(execution_id, **query)
        assert answer.status == 200, answer.body
        for recipient in answer.body["recipients"]:
            assert recipient["userId"] not in found, "a recipient listed twice"
            found[recipient["userId"]] = (recipient["status"], recipient.get("reason"))
        token = answer.body.get("nextToken")
        if not token:
            return found


@pytest.fixture
def push_app(aws_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The push app's SNS platform application. Delivery creates endpoints from several threads, and
    moto's in-process SNS is not thread-safe there (SNS is): its endpoint writes are serialised."""
    from moto.sns.models import SNSBackend

    boto3.client("sns", region_name="us-east-1").create_platform_application(
        Name="com.example.app", Platform="APNS", Attributes={}
    )
    lock = threading.RLock()
    for name in ("create_platform_endpoint", "publish"):
        original = getattr(SNSBackend, name)

        def locked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(SNSBackend, name, locked)


CAMPAIGNS = {"email": EMAIL_CAMPAIGN, "sms": SMS_CAMPAIGN, "push": PUSH_CAMPAIGN}


@pytest.mark.parametrize("channel", ["email", "sms", "push"])
def test_every_member_is_reached_once_and_the_excluded_are_counted_by_reason(
    api: Api, queue: Queue, outbox: Callable[[], list[dict[str, Any]]], push_app: None, channel: str
) -> None:
    sns_backend().sms_messages.clear()
    campaign = api.live_campaign(**CAMPAIGNS[channel])
    fates = build_audience(channel, 300)

    answer = execute(api, audience_body(campaign["id"]))
    assert answer.status == 202, answer.body
    execution_id = answer.body["executionId"]
    assert answer.body["status"] == "queued"
    assert drain_jobs() >= 1
    queue.drain(rounds=100)

    reachable = {address_of(channel, int(uid.split("-")[1])) for uid in fates["reachable"]}
    received = delivered(channel, outbox)
    assert set(received) == reachable
    assert set(received.values()) == {1}, "someone received two messages"

    status = api.execution(execution_id).body
    assert status["status"] == "completed"
    assert status["campaignId"] == campaign["id"]
    assert status["counts"] == {
        "targeted": 300,
        "queued": 210,
        "excluded": {"missing_address": 30, "no_consent": 30, "suppressed": 30},
    }
    recipients = every_recipient(api, execution_id)
    assert {uid for uid, (state, _) in recipients.items() if state == "sent"} == fates["reachable"]
    for reason in ("suppressed", "no_consent", "missing_address"):
        assert {uid for uid, (state, why) in recipients.items() if why == reason} == fates[reason]
        assert all(recipients[uid][0] == "excluded" for uid in fates[reason])


def test_a_transactional_campaign_is_refused(api: Api) -> None:
    campaign = api.live_campaign(contextSchema=None)  # the sample campaign: transactional
    put_audience("everyone-who-asked", [("email", "a@example.com")])
    answer = execute(api, audience_body(campaign["id"]))
    assert answer.status == 422
    assert answer.body["code"] == "not_a_marketing_campaign"
    assert jobs_depth() == 0


def test_an_explicit_audience_is_required_and_must_exist(api: Api) -> None:
    campaign = api.live_campaign(**EMAIL_CAMPAIGN)
    missing = execute(api, audience_body(campaign["id"], audience_id=None))
    assert missing.status == 400
    assert [e["field"] for e in missing.body["errors"]] == ["audience.id"]
    empty = execute(api, audience_body(campaign["id"], audience={}))
    assert empty.status == 400
    assert [e["field"] for e in empty.body["errors"]] == ["audience.id"]
    unknown = execute(api, audience_body(campaign["id"], audience_id="nobody-made-this"))
    assert unknown.status == 404
    assert unknown.body["code"] == "audience_not_found"
    assert jobs_depth() == 0


def test_the_context_must_satisfy_the_campaign_schema(api: Api) -> None:
    campaign = api.live_campaign(**EMAIL_CAMPAIGN)
    put_audience("everyone-who-asked", [("email", "a@example.com")])
    answer = execute(api, audience_body(campaign["id"], context={"offerCode": 26}))
    assert answer.status == 422
    assert answer.body["code"] == "invalid_context"
    assert [e["field"] for e in answer.body["errors"]] == ["context.offerCode"]


def test_a_stopped_campaign_is_refused(api: Api) -> None:
    campaign = api.live_campaign(**EMAIL_CAMPAIGN)
    put_audience("everyone-who-asked", [("email", "a@example.com")])
    api.call("api", "api/stop_campaign.json", path_params={"campaignId": campaign["id"]})
    answer = execute(api, audience_body(campaign["id"]))
    assert answer.status == 409
    assert answer.body["code"] == "campaign_not_live"


def test_a_dry_run_counts_without_sending_or_queueing(api: Api, queue: Queue, outbox: Any) -> None:
    campaign = api.live_campaign(**EMAIL_CAMPAIGN)
    build_audience("email", 100)
    answer = execute(api, audience_body(campaign["id"], dryRun=True))
    assert answer.status == 200, answer.body
    assert answer.body == {
        "count": 100,
        "excluded": {"missing_address": 10, "no_consent": 10, "suppressed": 10},
        "wouldSend": 70,
        "complete": True,
    }
    assert jobs_depth() == 0
    assert queue.depth() == 0
    assert outbox() == []


def test_a_dry_run_too_large_to_count_in_time_answers_what_it_counted(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from campaign_engine import audience_executions

    campaign = api.live_campaign(**EMAIL_CAMPAIGN)
    build_audience("email", 100)
    monkeypatch.setattr(audience_executions, "DRY_RUN_SECONDS", 0.0)  # time is up after the first page
    answer = execute(api, audience_body(campaign["id"], dryRun=True))
    assert answer.status == 200
    assert answer.body["complete"] is False
    assert 0 < answer.body["count"] < 100


def test_the_same_request_id_replays_and_another_body_is_refused(api: Api, queue: Queue, outbox: Any) -> None:
    campaign = api.live_campaign(**EMAIL_CAMPAIGN)
    build_audience("email", 20)
    body = audience_body(campaign["id"], requestId="spring-1")
    first = execute(api, body)
    again = execute(api, {**body, "context": dict(reversed(list(CONTEXT.items())))})
    assert first.status == again.status == 202
    assert again.body == first.body
    other = execute(api, {**body, "context": {"offerCode": "OTHER"}})
    assert other.status == 409
    assert other.body["code"] == "request_id_reused"

    drain_jobs()
    queue.drain()
    received = Counter(to for sent in outbox() for to in sent["to"])
    assert len(received) == 14
    assert set(received.values()) == {1}


def test_a_step_short_of_time_continues_from_its_checkpoint(api: Api, queue: Queue, outbox: Any) -> None:
    campaign = api.live_campaign(**EMAIL_CAMPAIGN)
    fates = build_audience("email", 300)
    execution_id = execute(api, audience_body(campaign["id"])).body["executionId"]

    # Under a minute left: every step reads one page, saves its checkpoint and queues its continuation.
    steps = drain_jobs(timeout_seconds=30)
    assert steps >= 16  # a page per member shard at least
    queue.drain(rounds=100)

    received = Counter(to for sent in outbox() for to in sent["to"])
    assert len(received) == len(fates["reachable"]) == 210
    assert set(received.values()) == {1}
    status = api.execution(execution_id).body
    assert status["status"] == "completed"
    assert status["counts"]["targeted"] == 300


def test_a_step_that_crashes_after_queueing_is_redone_without_sending_twice(
    api: Api, queue: Queue, outbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from campaign_engine.store import audience_executions as records

    campaign = api.live_campaign(**EMAIL_CAMPAIGN)
    fates = build_audience("email", 300)
    execution_id = execute(api, audience_body(campaign["id"])).body["executionId"]

    real = records.checkpoint
    crashes = []

    def crash_on_third_page(execution_id: str, **kwargs: Any) -> bool:
        if kwargs["page"] == 2 and not crashes:
            crashes.append(kwargs["page"])
            raise RuntimeError("the function died after queueing the page, before its checkpoint")
        return real(execution_id, **kwargs)

    monkeypatch.setattr(records, "checkpoint", crash_on_third_page)
    drain_jobs()
    assert crashes == [2]
    # The redone page's members are in the delivery queue twice; delivery's claim sends each once.
    queue.drain(rounds=100)

    received = Counter(to for sent in outbox() for to in sent["to"])
    assert len(received) == len(fates["reachable"])
    assert set(received.values()) == {1}, "a member of the redone page was sent twice"
    status = api.execution(execution_id).body
    assert status["status"] == "completed"
    assert status["counts"]["targeted"] == 300
    assert status["counts"]["queued"] == 210


def test_two_runs_of_the_same_step_never_both_advance(
    api: Api, queue: Queue, outbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from campaign_engine import audience_executions, jobs
    from campaign_engine.store import audience_executions as records

    campaign = api.live_campaign(**EMAIL_CAMPAIGN)
    fates = build_audience("email", 100)
    execution_id = execute(api, audience_body(campaign["id"])).body["executionId"]
    job = {"kind": "audience_fanout", "executionId": execution_id}
    real = records.checkpoint
    raced: list[int] = []

    def another_run_first(execution_id: str, **kwargs: Any) -> bool:
        if not raced:  # a second delivery of the same job does this very page before this run's checkpoint
            raced.append(kwargs["page"])
            continuation = audience_executions.fanout_step(job, lambda: 0)
            assert continuation == job
            jobs.submit(continuation)
        return real(execution_id, **kwargs)

    monkeypatch.setattr(records, "checkpoint", another_run_first)
    # This run loses its checkpoint to the other one and stops: it does not go on to the next page.
    assert audience_executions.fanout_step(job, lambda: 600_000) is None
    assert raced == [0]
    drain_jobs()
    queue.drain()

    received = Counter(to for sent in outbox() for to in sent["to"])
    assert len(received) == len(fates["reachable"])
    assert set(received.values()) == {1}
    # The page both runs read is counted once.
    assert api.execution(execution_id).body["counts"] == {
        "targeted": 100,
        "queued": 70,
        "excluded": {"missing_address": 10, "no_consent": 10, "suppressed": 10},
    }


def test_a_stopped_campaign_cancels_its_fan_out(api: Api, queue: Queue, outbox: Any) -> None:
    campaign = api.live_campaign(**EMAIL_CAMPAIGN)
    build_audience("email", 50)
    execution_id = execute(api, audience_body(campaign["id"])).body["executionId"]
    api.call("api", "api/stop_campaign.json", path_params={"campaignId": campaign["id"]})
    drain_jobs()
    queue.drain()
    assert outbox() == []
    status = api.execution(execution_id).body
    assert status["status"] == "cancelled"
    assert "stopped" in status["detail"]


def test_a_profile_erased_between_fan_out_and_delivery_is_excluded(api: Api, queue: Queue, outbox: Any) -> None:
    campaign = api.live_campaign(**EMAIL_CAMPAIGN)
    fates = build_audience("email", 30)
    execution_id = execute(api, audience_body(campaign["id"])).body["executionId"]
    drain_jobs()
    erased = sorted(fates["reachable"])[0]
    erase_profile("crm", erased)
    queue.drain()

    received = Counter(to for sent in outbox() for to in sent["to"])
    assert address_of("email", int(erased.split("-")[1])) not in received
    assert len(received) == len(fates["reachable"]) - 1
    assert every_recipient(api, execution_id)[erased] == ("excluded", "unknown_profile")


# ---------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------
def tick(monkeypatch: pytest.MonkeyPatch, at: datetime) -> dict[str, Any]:
    """The scheduler function's run at `at` (the minute tick)."""
    from campaign_engine import audience_executions

    real = audience_executions._now
    audience_executions._now = lambda: at
    try:
        result: dict[str, Any] = invoke("scheduler", {}, function_handler("scheduler"))
    finally:
        audience_executions._now = real
    return result


def schedule(api: Api, schedule_id: str) -> HttpAnswer:
    return api.call("api", "api/get_schedule.json", path_params={"scheduleId": schedule_id})


def cancel(api: Api, schedule_id: str) -> HttpAnswer:
    return api.call("api", "api/cancel_schedule.json", path_params={"scheduleId": schedule_id})


def test_a_scheduled_execution_starts_once_when_due(
    api: Api, queue: Queue, outbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = api.live_campaign(**EMAIL_CAMPAIGN)
    fates = build_audience("email", 40)
    execute_at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    local = execute_at.astimezone(UTC).replace(tzinfo=None).isoformat() + "+00:00"
    answer = execute(api, audience_body(campaign["id"], schedule={"executeAt": local}))
    assert answer.status == 202, answer.body
    schedule_id = answer.body["scheduleId"]
    assert answer.body["executeAt"] == execute_at.isoformat().replace("+00:00", "Z")
    assert "executionId" not in answer.body
    waiting = schedule(api, schedule_id).body
    assert waiting["status"] == "scheduled"
    assert waiting["audience"] == {"id": "everyone-who-asked"}

    assert tick(monkeypatch, execute_at - timedelta(minutes=1))["started"] == []
    assert jobs_depth() == 0
    started = tick(monkeypatch, execute_at + timedelta(seconds=30))["started"]
    assert [s["scheduleId"] for s in started] == [schedule_id]
    execution_id = started[0]["executionId"]
    # A second tick (or a schedule whose due entry came back) starts nothing more.
    assert tick(monkeypatch, execute_at + timedelta(minutes=1))["started"] == []
    drain_jobs()
    queue.drain()

    received = Counter(to for sent in outbox() for to in sent["to"])
    assert len(received) == len(fates["reachable"])
    assert set(received.values()) == {1}
    after = schedule(api, schedule_id).body
    assert (after["status"], after["executionId"]) == ("started", execution_id)
    status = api.execution(execution_id).body
    assert (status["status"], status["scheduleId"]) == ("completed", schedule_id)
    assert cancel(api, schedule_id).status == 409


def test_a_schedule_that_fires_twice_starts_one_execution(
    api: Api, queue: Queue, outbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from campaign_engine.store import audience_executions as records

    campaign = api.live_campaign(**EMAIL_CAMPAIGN)
    fates = build_audience("email", 20)
    execute_at = datetime.now(UTC) + timedelta(hours=1)
    schedule_id = execute(api, audience_body(campaign["id"], schedule={"executeAt": execute_at.isoformat()})).body[
        "scheduleId"
    ]
    due = records.get_schedule(schedule_id)
    assert due is not None
    first = tick(monkeypatch, execute_at + timedelta(seconds=1))["started"]
    # The due entry is back (a tick died before removing it): the next tick finds it started already.
    boto3.client("dynamodb", region_name="us-east-1").put_item(
        TableName=os.environ["EXECUTIONS_TABLE"],
        Item={"pk": {"S": "SCHEDULES"}, "sk": {"S": due.due_key}, "scheduleId": {"S": schedule_id}},
    )
    second = tick(monkeypatch, execute_at + timedelta(seconds=61))["started"]
    assert len(first) == 1
    assert second == []
    drain_jobs()
    queue.drain()
    received = Counter(to for sent in outbox() for to in sent["to"])
    assert len(received) == len(fates["reachable"])
    assert set(received.values()) == {1}


def test_a_cancelled_schedule_never_fires(api: Api, monkeypatch: pytest.MonkeyPatch, outbox: Any) -> None:
    campaign = api.live_campaign(**EMAIL_CAMPAIGN)
    build_audience("email", 10)
    execute_at = datetime.now(UTC) + timedelta(days=2)
    schedule_id = execute(api, audience_body(campaign["id"], schedule={"executeAt": execute_at.isoformat()})).body[
        "scheduleId"
    ]
    assert cancel(api, schedule_id).status == 204
    assert schedule(api, schedule_id).body["status"] == "cancelled"
    assert cancel(api, schedule_id).status == 204  # cancelling again changes nothing
    assert tick(monkeypatch, execute_at + timedelta(minutes=5))["started"] == []
    assert jobs_depth() == 0
    assert schedule(api, schedule_id).body["status"] == "cancelled"


def test_unknown_schedules_and_bad_times_are_answered_clearly(api: Api) -> None:
    assert schedule(api, "sch_nope").body["code"] == "schedule_not_found"
    assert cancel(api, "sch_nope").status == 404
    campaign = api.live_campaign(**EMAIL_CAMPAIGN)
    put_audience("everyone-who-asked", [("email", "a@example.com")])
    now = datetime.now(UTC)
    for when, message in (
        ((now - timedelta(minutes=1)).isoformat(), "must be in the future"),
        ((now + timedelta(days=400)).isoformat(), "must be within a year from now"),
        ((now + timedelta(days=1)).replace(tzinfo=None).isoformat(), "needs an offset (Z or +hh:mm)"),
    ):
        answer = execute(api, audience_body(campaign["id"], schedule={"executeAt": when}))
        assert answer.status == 400, answer.body
        assert answer.body["errors"] == [{"field": "schedule.executeAt", "message": message}]


def test_reading_an_unknown_audience_execution_is_a_404(api: Api) -> None:
    answer = api.execution("aud_" + "0" * 32)
    assert answer.status == 404
    assert answer.body["code"] == "execution_not_found"


def test_a_key_without_the_campaigns_labels_learns_nothing(api: Api) -> None:
    campaign = api.live_campaign(**EMAIL_CAMPAIGN, labels=["brand-a"])
    put_audience("everyone-who-asked", [("email", "a@example.com")])
    limited = {"authenticated": True, "keyId": "key_limited", "scopes": "campaigns:trigger", "labels": "brand-b"}
    answer = execute(api, audience_body(campaign["id"]), authorizer=limited)
    assert answer.status == 403
    assert jobs_depth() == 0


def test_a_rule_based_audience_reaches_exactly_the_profiles_its_rule_selects(
    api: Api, queue: Queue, outbox: Any
) -> None:
    """A rule audience is read by a paged scan of the profiles with the rule as DynamoDB's filter:
    every matching profile once, nobody else."""
    campaign = api.live_campaign(**EMAIL_CAMPAIGN)
    put_audience("gold-members", [], rule={"attribute": "attributes.tier", "op": "eq", "value": "gold"})
    for n in range(12):
        put_profile("crm", f"gold-{n}", email=f"gold{n}@example.com", attributes={"tier": "gold"})
    for n in range(7):
        put_profile("crm", f"silver-{n}", email=f"silver{n}@example.com", attributes={"tier": "silver"})
    put_profile("crm", "no-tier", email="none@example.com")
    execution_id = execute(api, audience_body(campaign["id"], audience_id="gold-members")).body["executionId"]
    drain_jobs()
    queue.drain()

    received = Counter(to for sent in outbox() for to in sent["to"])
    assert received == Counter({f"gold{n}@example.com": 1 for n in range(12)})
    assert api.execution(execution_id).body["counts"] == {"targeted": 12, "queued": 12, "excluded": {}}


def test_an_audience_request_id_is_scoped_to_the_calling_key(api: Api) -> None:
    campaign = api.live_campaign(**EMAIL_CAMPAIGN)
    build_audience("email", 5)
    body = audience_body(campaign["id"], requestId="spring-1", dryRun=False)
    keys = [{"authenticated": True, "keyId": key_id, "scopes": "campaigns:trigger"} for key_id in ("key_a", "key_b")]
    first = execute(api, body, authorizer=keys[0])
    other = execute(api, {**body, "context": {"offerCode": "OTHER"}}, authorizer=keys[1])
    assert first.status == other.status == 202, (first.body, other.body)
    assert first.body["executionId"] != other.body["executionId"]
    assert execute(api, body, authorizer=keys[0]).body == first.body
