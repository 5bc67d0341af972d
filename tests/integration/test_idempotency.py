"""Request idempotency: a requestId replays its first answer and never sends twice (contract: Trigger).

Through the real trigger, delivery and status handlers over moto; what is asserted is what a
caller notices: HTTP answers, emails in the outbox, statuses in GET /im/executions/{id}."""

from __future__ import annotations

from typing import Any

import pytest

from campaign_engine import delivery_queue, queue_message
from tests.conftest import Api, Queue, trigger_body
from tests.integration.conftest import Clock, drain_delivery, emails_per_recipient, recipients, run_together, statuses

SAMPLE = {"ada@example.com", "bruna@example.com"}


def test_the_same_request_twice_replays_the_first_answer_and_sends_once(api: Api, queue: Queue, outbox) -> None:
    # Given a live campaign and a trigger request
    campaign = api.live_campaign()
    body = trigger_body(campaign["id"], requestId="order-10042-confirmation")

    # When the caller sends it twice (a client retry after a lost answer)
    first = api.trigger(body)
    second = api.trigger(body)

    # Then the second answer is the first one, to the byte
    assert first.status == second.status == 202, (first.body, second.body)
    assert second.body == first.body
    assert second.body["requestId"] == "order-10042-confirmation"

    # And after delivery every recipient got exactly one email
    drain_delivery(queue)
    assert emails_per_recipient(outbox) == dict.fromkeys(SAMPLE, 1)
    assert statuses(api, first.body["executionId"]) == dict.fromkeys(SAMPLE, ("sent", None))

    # And a third call after delivery still replays, queues nothing and sends nothing
    third = api.trigger(body)
    assert third.body == first.body
    assert queue.depth() == 0
    drain_delivery(queue)
    assert emails_per_recipient(outbox) == dict.fromkeys(SAMPLE, 1)


def test_the_same_request_id_with_another_body_is_409_request_id_reused(api: Api, queue: Queue, outbox) -> None:
    # Given a request that was accepted and delivered
    campaign = api.live_campaign()
    body = trigger_body(campaign["id"], requestId="order-7")
    first = api.trigger(body)
    assert first.status == 202
    drain_delivery(queue)

    # When the same requestId comes with a different body (another order total)
    changed = trigger_body(campaign["id"], requestId="order-7", context={"total": "$1,000.00"})
    answer = api.trigger(changed)

    # Then it is refused as a problem naming the requestId, and nothing more is queued or sent
    assert answer.status == 409
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.body["code"] == "request_id_reused"
    assert answer.body["requestId"] == "order-7"
    assert queue.depth() == 0
    assert emails_per_recipient(outbox) == dict.fromkeys(SAMPLE, 1)

    # And the first execution is untouched; its own body still replays
    assert statuses(api, first.body["executionId"]) == dict.fromkeys(SAMPLE, ("sent", None))
    assert api.trigger(body).body == first.body


def test_a_retry_after_the_trigger_died_before_queueing_everything_delivers_each_recipient_once(
    api: Api, queue: Queue, outbox, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a trigger whose first attempt writes its record, queues the first message of three, then dies
    campaign = api.live_campaign()
    people = recipients(25)
    body = trigger_body(campaign["id"], people, requestId="batch-2026-12-01")
    real_enqueue = delivery_queue.enqueue
    calls: list[int] = []

    def dies_once(bodies: list[str], **options: Any) -> None:
        calls.append(len(bodies))
        if len(calls) == 1:
            real_enqueue(bodies[:1], **options)
            raise ConnectionError("the function died while queueing")
        real_enqueue(bodies, **options)

    monkeypatch.setattr(delivery_queue, "enqueue", dies_once)

    # When the caller gets a 500 and retries with the same requestId, after the first call's timeout
    failed = api.trigger(body)
    assert failed.status == 500
    assert failed.body["code"] == "internal_error"
    clock.advance(queue_message.FIRST_CALL_MAX_SECONDS)
    retried = api.trigger(body)

    # Then the retry is accepted under the execution the first attempt recorded, and re-queues what was not sent
    assert retried.status == 202, retried.body
    assert [r["status"] for r in retried.body["recipients"]] == ["accepted"] * 25
    assert calls == [3, 3]
    execution_id = retried.body["executionId"]
    assert set(statuses(api, execution_id).values()) == {("queued", None)}

    # And after delivery each of the 25 got exactly one email, although ten of them were queued twice
    drain_delivery(queue)
    assert emails_per_recipient(outbox) == {p["userId"]: 1 for p in people}
    assert set(statuses(api, execution_id).values()) == {("sent", None)}
    assert api.execution(execution_id).body["status"] == "completed"


def test_concurrent_duplicates_make_one_execution_and_one_email_per_recipient(
    api: Api, queue: Queue, outbox, atomic_dynamodb: None, busy_threads: None
) -> None:
    """Eight Lambda containers receive the same request at once. Each thread runs the trigger's domain
    function, not the HTTP handler: Powertools' resolver keeps the current event and route arguments in
    class- and app-level state (Lambda never runs two invocations in one container), so it cannot be
    shared by threads. The HTTP layer is asserted afterwards with a sequential replay."""
    from campaign_engine.auth import Principal
    from campaign_engine.trigger import TriggerCall, trigger_unitary

    # Given a live campaign and one request, about to arrive eight times at once (a client fanning out retries)
    campaign = api.live_campaign()
    people = recipients(12)
    body = trigger_body(campaign["id"], people, requestId="flash-sale-42")
    caller = Principal(key_id="key_0123456789ab", scopes=frozenset({"campaigns:trigger"}), labels=None)

    def trigger_once(_: int) -> dict:
        return trigger_unitary(TriggerCall.from_value(body), caller)

    # When all eight arrive together
    answers = run_together(8, trigger_once)

    # Then all eight accepted it as one execution, with identical answers
    assert len({a["executionId"] for a in answers}) == 1
    assert all(a == answers[0] for a in answers)
    assert [r["status"] for r in answers[0]["recipients"]] == ["accepted"] * 12

    # And the API replays that same answer
    replay = api.trigger(body)
    assert replay.status == 202
    assert replay.body == answers[0]

    # And after delivery every recipient got exactly one email, though the losing duplicates re-queued them
    drain_delivery(queue)
    assert emails_per_recipient(outbox) == {p["userId"]: 1 for p in people}
    assert set(statuses(api, answers[0]["executionId"]).values()) == {("sent", None)}


def test_a_duplicate_while_the_first_call_may_still_run_queues_its_copies_for_after_it(
    api: Api, queue: Queue, outbox, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a first call that queued its recipients, and delivery that has not claimed them yet
    campaign = api.live_campaign()
    people = recipients(12)
    body = trigger_body(campaign["id"], people, requestId="in-flight")
    delays: list[int] = []
    real_enqueue = delivery_queue.enqueue

    def recording(bodies: list[str], *, delay_seconds: int = 0) -> None:
        delays.append(delay_seconds)
        real_enqueue(bodies, delay_seconds=delay_seconds)

    monkeypatch.setattr(delivery_queue, "enqueue", recording)
    first = api.trigger(body)

    # When a duplicate arrives 3 s later (the first call could still be queueing), and another
    # after the first call's timeout
    clock.advance(3)
    second = api.trigger(body)
    clock.advance(queue_message.FIRST_CALL_MAX_SECONDS)
    third = api.trigger(body)

    # Then both replay the first answer; the first's copies are delivered only once the first
    # call must have ended (SQS keeps them invisible), the later one's at once
    assert first.body == second.body == third.body
    assert delays == [0, queue_message.FIRST_CALL_MAX_SECONDS - 3, 0]
    visible = queue.receive(visibility=0)  # the first call's two messages and the third's: not the second's
    assert len(visible) == 4
    drain_delivery(queue)
    assert emails_per_recipient(outbox) == {p["userId"]: 1 for p in people}


def _configure_window(monkeypatch: pytest.MonkeyPatch, hours: int) -> None:
    from campaign_engine import settings

    monkeypatch.setenv("IDEMPOTENCY_HOURS", str(hours))
    settings.get_settings.cache_clear()


@pytest.mark.parametrize(("hours", "replayed_at", "new_at"), [(1, 59 * 60, 61 * 60), (24, 23 * 3600, 24 * 3600 + 60)])
def test_after_the_idempotency_window_the_same_request_id_is_a_new_execution(
    api: Api,
    queue: Queue,
    outbox,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    hours: int,
    replayed_at: int,
    new_at: int,
) -> None:
    # Given IDEMPOTENCY_HOURS and a request that was delivered
    _configure_window(monkeypatch, hours)
    campaign = api.live_campaign()
    body = trigger_body(campaign["id"], requestId="weekly-digest")
    first = api.trigger(body)
    drain_delivery(queue)
    assert emails_per_recipient(outbox) == dict.fromkeys(SAMPLE, 1)

    # When the same request comes again just inside the window
    clock.advance(replayed_at)
    inside = api.trigger(body)

    # Then it replays and sends nothing
    assert inside.body == first.body
    drain_delivery(queue)
    assert emails_per_recipient(outbox) == dict.fromkeys(SAMPLE, 1)

    # When it comes again once the window has passed
    clock.advance(new_at - replayed_at)
    after = api.trigger(body)

    # Then it is a new execution, which sends again
    assert after.status == 202, after.body
    assert after.body["executionId"] != first.body["executionId"]
    assert after.body["requestId"] == "weekly-digest"
    drain_delivery(queue)
    assert emails_per_recipient(outbox) == dict.fromkeys(SAMPLE, 2)
    assert statuses(api, after.body["executionId"]) == dict.fromkeys(SAMPLE, ("sent", None))
    # And the first execution can still be read
    assert statuses(api, first.body["executionId"]) == dict.fromkeys(SAMPLE, ("sent", None))

    # And that new execution is idempotent in turn
    assert api.trigger(body).body == after.body


def _key(key_id: str) -> dict[str, Any]:
    return {"authenticated": True, "keyId": key_id, "scopes": "campaigns:trigger campaigns:read reports:read"}


def test_a_request_id_is_scoped_to_the_calling_key(api: Api, queue: Queue, outbox) -> None:
    # Given two callers (two keys) that happen to use the same requestId for different requests
    campaign = api.live_campaign()
    mine = trigger_body(campaign["id"], requestId="order-1")
    theirs = trigger_body(campaign["id"], requestId="order-1", context={"total": "$5.00"})

    # When each sends its own
    first = api.trigger(mine, authorizer=_key("key_aaaaaaaaaaaaaaaa"))
    second = api.trigger(theirs, authorizer=_key("key_bbbbbbbbbbbbbbbb"))

    # Then they are two requests: neither is refused as a reuse, neither sees the other's answer
    assert first.status == second.status == 202, (first.body, second.body)
    assert first.body["executionId"] != second.body["executionId"]
    # And each key's retry replays its own first answer
    assert api.trigger(mine, authorizer=_key("key_aaaaaaaaaaaaaaaa")).body == first.body
    assert api.trigger(theirs, authorizer=_key("key_bbbbbbbbbbbbbbbb")).body == second.body
    # While the same key with another body is still a reuse
    reused = api.trigger(theirs, authorizer=_key("key_aaaaaaaaaaaaaaaa"))
    assert (reused.status, reused.body["code"]) == (409, "request_id_reused")
    drain_delivery(queue)
    assert emails_per_recipient(outbox) == dict.fromkeys(SAMPLE, 2), "one email per request per recipient"


def test_a_request_made_before_the_upgrade_still_replays(
    api: Api, queue: Queue, outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ReadUnscopedRequestIds on (while upgrading), requests recorded before idempotency was scoped per
    key keep replaying within their window."""
    from campaign_engine import trigger
    from local import harness

    monkeypatch.setenv("READ_UNSCOPED_REQUEST_IDS", "true")
    harness.reset_containers()

    campaign = api.live_campaign()
    body = trigger_body(campaign["id"], requestId="order-before-upgrade")
    with monkeypatch.context() as before:  # the previous version's key: campaign and requestId only
        before.setattr(
            trigger,
            "request_key",
            lambda campaign_id, request_id, _key_id: trigger.legacy_request_key(campaign_id, request_id),
        )
        first = api.trigger(body)
    retried = api.trigger(body)
    assert retried.body == first.body
    changed = api.trigger(trigger_body(campaign["id"], requestId="order-before-upgrade", context={"x": "1"}))
    assert (changed.status, changed.body["code"]) == (409, "request_id_reused")
    drain_delivery(queue)
    assert emails_per_recipient(outbox) == dict.fromkeys(SAMPLE, 1)
