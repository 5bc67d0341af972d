"""Delivery you can trust: one email per recipient whatever SES, SQS or the function do (issue 3).

Faults are injected around the real handlers over moto: SES throttling, refusing or losing its
answer, records redelivered or raced by two consumers, a function dying after SES accepted, and
poison records. What is asserted is what a user notices: emails in the outbox, statuses in
GET /im/executions/{id}, and what the delivery function reports back to SQS."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

from campaign_engine import aws, delivery, queue_message, store
from local.template import REGION
from tests.conftest import Api, Queue, trigger_body
from tests.integration.conftest import (
    Clock,
    DeadLetters,
    Fault,
    FaultySes,
    Rule,
    delivery_container,
    drain_delivery,
    emails_per_recipient,
    invoke_delivery,
    recipients,
    run_together,
    ses_error,
    statuses,
    throttled,
)

SAMPLE = {"ada@example.com", "bruna@example.com"}
SES_ENDPOINT = "https://email.us-east-1.amazonaws.com"

Install = Callable[[Rule], FaultySes]


def _sqs() -> Any:
    return boto3.client("sqs", region_name=REGION)


def _addresses(message: dict[str, Any]) -> set[str]:
    return {r["address"] for r in json.loads(message["Body"])["recipients"]}


def _copy_to_queue(message: dict[str, Any]) -> None:
    """The same body queued again: SQS's at-least-once delivery, or a replayed trigger."""
    _sqs().send_message(QueueUrl=os.environ["DELIVERY_QUEUE_URL"], MessageBody=message["Body"])


# ---------------------------------------------------------------------------
# Retries that fit each failure
# ---------------------------------------------------------------------------


def test_throttled_sends_are_retried_until_each_of_200_recipients_got_exactly_one_email(
    api: Api,
    queue: Queue,
    outbox,
    faulty_ses: Install,
    dlq: DeadLetters,
    atomic_dynamodb: None,  # a message's recipients are claimed side by side; moto's tables are not thread-safe
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given SES throttles about 30% of sends (decided per address and attempt, from a fixed seed)
    def throttle_30_percent(to: str, attempt: int) -> Fault | None:
        chance = random.Random(f"seed-3:{to}:{attempt}").random()
        return Fault(throttled()) if attempt <= 5 and chance < 0.3 else None

    ses = faulty_ses(throttle_30_percent)
    backoffs: list[int] = []
    monkeypatch.setattr(queue_message, "backoff_seconds", lambda receive_count: backoffs.append(receive_count) or 0)

    # And one trigger for 200 recipients (20 queue messages)
    campaign = api.live_campaign()
    people = recipients(200)
    answer = api.trigger(trigger_body(campaign["id"], people, requestId="big-batch"))
    assert answer.status == 202, answer.body

    # When delivery runs as the event source mapping would: a record it reports failed only comes back
    # early if delivery moved its visibility (the queue's own timeout is 180 s)
    failed_receive_counts: list[int] = []
    for _ in range(30):
        messages = queue.receive()
        if not messages:
            break
        faults_before = len(ses.faults)
        result = invoke_delivery(queue, messages)
        throttled_now = {to for to, _ in ses.faults[faults_before:]}
        # Then each batch reports exactly the records that held a throttled recipient, and no other
        assert result.failed == {m["MessageId"] for m in messages if _addresses(m) & throttled_now}
        failed_receive_counts += [
            int(m["Attributes"]["ApproximateReceiveCount"]) for m in messages if m["MessageId"] in result.failed
        ]
    assert queue.depth() == 0, "the queue did not drain"

    # And SES really did throttle about 30% of the sends, and every failed record backed off once, by its receive count
    attempts = sum(ses.attempts.values())
    assert 0.2 < len(ses.faults) / attempts < 0.4, (len(ses.faults), attempts)
    assert failed_receive_counts
    assert sorted(backoffs) == sorted(failed_receive_counts)

    # And every recipient got exactly one email: a retried record re-sent only its throttled recipients
    assert emails_per_recipient(outbox) == {p["userId"]: 1 for p in people}
    assert attempts == 200 + len(ses.faults)

    # And the execution shows all 200 sent, and nothing went to the dead-letter queue
    status = api.execution(answer.body["executionId"], limit="1000").body
    assert status["counts"] == {"total": 200, "sent": 200}
    assert status["status"] == "completed"
    assert dlq.messages() == []


def test_a_throttled_record_comes_back_through_its_visibility_not_a_sleep(
    api: Api, queue: Queue, outbox, faulty_ses: Install, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given SES throttles the first send to one recipient
    ses = faulty_ses(lambda to, attempt: Fault(throttled()) if attempt == 1 else None)
    backoffs: list[int] = []
    real_backoff = queue_message.backoff_seconds
    monkeypatch.setattr(queue_message, "backoff_seconds", lambda n: backoffs.append(real_backoff(n)) or backoffs[-1])
    campaign = api.live_campaign()
    answer = api.trigger(trigger_body(campaign["id"], recipients(1), requestId="one"))
    execution_id = answer.body["executionId"]

    # When delivery meets the throttle
    messages = queue.receive()
    started = time.monotonic()
    result = invoke_delivery(queue, messages)
    elapsed = time.monotonic() - started

    # Then the record is reported failed at once, without sleeping out its backoff (about 5 s on the first receive)
    assert result.failed == {messages[0]["MessageId"]}
    assert len(backoffs) == 1
    assert 4 <= backoffs[0] <= 6
    assert elapsed < backoffs[0]
    # And the backoff is the record's visibility: it is still in the queue, invisible
    assert queue.receive() == []
    assert queue.depth() == 1
    # And the claim was released: nothing was sent, the recipient is still queued
    assert outbox() == []
    assert statuses(api, execution_id) == {"user0@example.com": ("queued", None)}

    # When the backoff has passed
    _sqs().change_message_visibility(
        QueueUrl=queue.url, ReceiptHandle=messages[0]["ReceiptHandle"], VisibilityTimeout=0
    )
    drain_delivery(queue)

    # Then the recipient got one email, on the second attempt
    assert emails_per_recipient(outbox) == {"user0@example.com": 1}
    assert ses.attempts["user0@example.com"] == 2
    assert statuses(api, execution_id) == {"user0@example.com": ("sent", None)}


@pytest.mark.parametrize(
    "error",
    [
        ses_error("MessageRejected", 400, "Email address is not verified."),
        ses_error("BadRequestException", 400, "Illegal address"),
    ],
    ids=["MessageRejected", "BadRequestException"],
)
def test_a_permanent_ses_refusal_fails_that_recipient_without_retrying(
    api: Api, queue: Queue, outbox, faulty_ses: Install, error: Exception
) -> None:
    # Given SES refuses one address outright
    refused = "user2@example.com"
    ses = faulty_ses(lambda to, attempt: Fault(error) if to == refused else None)
    campaign = api.live_campaign()
    people = recipients(5)
    answer = api.trigger(trigger_body(campaign["id"], people, requestId="with-a-bad-address"))

    # When delivery runs
    messages = queue.receive()
    result = invoke_delivery(queue, messages)

    # Then the record is not reported failed (a refusal is not retried) and the queue is empty
    assert result.failed == set()
    assert queue.depth() == 0

    # And that recipient is failed with send_failed and SES's reason; the others got their email
    outcome = {r["userId"]: r for r in api.execution(answer.body["executionId"]).body["recipients"]}
    assert (outcome[refused]["status"], outcome[refused]["reason"]) == ("failed", "send_failed")
    assert error.response["Error"]["Code"] in outcome[refused]["detail"]
    others = {p["userId"] for p in people} - {refused}
    assert emails_per_recipient(outbox) == dict.fromkeys(others, 1)
    assert {outcome[u]["status"] for u in others} == {"sent"}

    # And a redelivered copy does not try it again
    _copy_to_queue(messages[0])
    drain_delivery(queue)
    assert ses.attempts[refused] == 1
    assert statuses(api, answer.body["executionId"])[refused] == ("failed", "send_failed")


@pytest.mark.parametrize(
    ("error", "ses_accepted"),
    [
        (ReadTimeoutError(endpoint_url=SES_ENDPOINT), True),
        (ReadTimeoutError(endpoint_url=SES_ENDPOINT), False),
        (ConnectionClosedError(endpoint_url=SES_ENDPOINT), True),
    ],
    ids=["read-timeout-after-accept", "read-timeout-before-accept", "connection-closed-after-accept"],
)
def test_a_lost_ses_answer_is_send_unconfirmed_and_never_resent(
    api: Api, queue: Queue, outbox, faulty_ses: Install, error: Exception, ses_accepted: bool
) -> None:
    # Given SES's answer to one send is lost (whether SES accepted the message cannot be known)
    lost = "ada@example.com"
    ses = faulty_ses(lambda to, attempt: Fault(error, after_send=ses_accepted) if to == lost else None)
    campaign = api.live_campaign()
    answer = api.trigger(trigger_body(campaign["id"]))

    # When delivery runs, and the record is later delivered again
    messages = queue.receive()
    result = invoke_delivery(queue, messages)
    _copy_to_queue(messages[0])
    drain_delivery(queue)

    # Then the record was not retried, SES was asked once, and the recipient is failed / send_unconfirmed
    assert result.failed == set()
    assert ses.attempts[lost] == 1
    assert statuses(api, answer.body["executionId"]) == {
        lost: ("failed", "send_unconfirmed"),
        "bruna@example.com": ("sent", None),
    }
    # And nobody got a second email (at most the one SES may have accepted)
    expected = {"bruna@example.com": 1} | ({lost: 1} if ses_accepted else {})
    assert emails_per_recipient(outbox) == expected


def test_the_ses_client_is_never_retried_by_botocore(api: Api, queue: Queue, outbox) -> None:
    # Given the SES client delivery sends with
    client = aws.sesv2()

    # Then botocore makes exactly one attempt per send, whatever its retry mode would otherwise do
    retries = client._client_config.retries
    assert retries["total_max_attempts"] == 1, retries

    # And when the network drops the answer, botocore does not send again on its own
    calls: list[str] = []

    def answer_lost(request: Any, **_: Any) -> None:
        calls.append(request.url)
        raise ReadTimeoutError(endpoint_url=request.url)

    client.meta.events.register_first("before-send.sesv2.SendEmail", answer_lost)
    try:
        campaign = api.live_campaign()
        answer = api.trigger(trigger_body(campaign["id"], recipients(1), requestId="timeout"))
        drain_delivery(queue)
    finally:
        client.meta.events.unregister("before-send.sesv2.SendEmail", answer_lost)
    assert len(calls) == 1
    assert statuses(api, answer.body["executionId"]) == {"user0@example.com": ("failed", "send_unconfirmed")}


# ---------------------------------------------------------------------------
# The per-recipient send guard
# ---------------------------------------------------------------------------


def test_a_redelivered_record_sends_nothing_again(api: Api, queue: Queue, outbox) -> None:
    # Given a triggered execution whose queue message was delivered once
    campaign = api.live_campaign()
    answer = api.trigger(trigger_body(campaign["id"]))
    messages = queue.receive(visibility=0)
    first = invoke_delivery(queue, messages, delete=False)
    assert first.failed == set()
    sent = {e["to"][0]: e["id"] for e in outbox()}
    assert set(sent) == SAMPLE

    # When the same record is delivered again (at-least-once), and then a copy of it arrives
    again = invoke_delivery(queue, messages)
    _copy_to_queue(messages[0])
    handled = drain_delivery(queue)

    # Then nothing is sent again, nothing is retried, and the outcome keeps the first email's message id
    assert again.failed == set()
    assert handled == 1
    assert queue.depth() == 0
    assert emails_per_recipient(outbox) == dict.fromkeys(SAMPLE, 1)
    recorded = {r["userId"]: r for r in api.execution(answer.body["executionId"]).body["recipients"]}
    assert {u: (r["status"], r["messageId"]) for u, r in recorded.items()} == {u: ("sent", sent[u]) for u in SAMPLE}


def test_two_consumers_racing_on_one_record_send_one_email(
    api: Api,
    queue: Queue,
    outbox,
    faulty_ses: Install,
    atomic_dynamodb: None,
    busy_threads: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given one queue message for 10 recipients, handed to two delivery containers at the same time
    ses = faulty_ses(lambda to, attempt: None)
    campaign = api.live_campaign()
    people = recipients(10)
    answer = api.trigger(trigger_body(campaign["id"], people, requestId="raced"))
    messages = queue.receive(visibility=0)
    assert len(messages) == 1
    containers = [delivery_container("a"), delivery_container("b")]

    # And both reach each recipient's send guard at the same instant
    barriers = {p["userId"]: threading.Barrier(2, timeout=10) for p in people}
    real_claim = store.claim_recipient

    def claim_together(claim: store.Claim) -> store.RecipientState | None:
        barriers[claim.user_id].wait()
        return real_claim(claim)

    monkeypatch.setattr(store, "claim_recipient", claim_together)

    # When both deliver it
    results = run_together(2, lambda i: invoke_delivery(queue, messages, function=containers[i], delete=False))

    # Then SES was asked once per recipient and each recipient got one email; a consumer that met
    # the other's claims in flight asks to see the record again later instead of dropping it
    assert all(r.failed <= {messages[0]["MessageId"]} for r in results)
    monkeypatch.setattr(store, "claim_recipient", real_claim)
    again = invoke_delivery(queue, messages, function=containers[0])
    assert again.failed == set(), "once the other consumer recorded its outcomes, nothing is left to do"
    assert dict(ses.attempts) == {p["userId"]: 1 for p in people}
    assert emails_per_recipient(outbox) == {p["userId"]: 1 for p in people}
    assert set(statuses(api, answer.body["executionId"]).values()) == {("sent", None)}


def test_of_many_concurrent_claims_on_one_recipient_exactly_one_wins(
    api: Api, atomic_dynamodb: None, busy_threads: None
) -> None:
    # Given 32 delivery attempts claiming the same (execution, recipient) at the same instant
    def claim(index: int) -> store.RecipientState | None:
        return store.claim_recipient(
            store.Claim(
                execution_id="e" * 32,
                user_id="ada@example.com",
                campaign_id="c",
                request_id="r",
                attempt_id=f"attempt-{index}",
                expires_at=int(time.time()) + 3600,
                outcome_ref=f"OUT#attempt-{index}",
            )
        )

    # When they all try
    results = run_together(32, claim)

    # Then exactly one owns the send, and every other attempt sees that one's claim
    winners = [i for i, state in enumerate(results) if state is None]
    assert len(winners) == 1, winners
    owner = f"attempt-{winners[0]}"
    assert {(s.state, s.attempt_id) for s in results if s is not None} == {("sending", owner)}

    # And a loser cannot release the owner's claim
    for index in range(32):
        if index != winners[0]:
            store.release_claim("e" * 32, "ada@example.com", f"attempt-{index}")
    [state] = store.iter_recipient_states("e" * 32)
    assert (state.state, state.attempt_id) == ("sending", owner)


def test_a_function_dying_after_ses_accepted_never_resends_and_ends_send_unconfirmed(
    api: Api, queue: Queue, outbox, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the delivery function dies after SES accepted the emails, before it recorded the outcome
    real_record = store.write_outcome_batch
    deaths: list[int] = []

    def dies_once(ref: str, outcomes: Any) -> None:
        if not deaths:
            deaths.append(1)
            raise ConnectionError("the function died")
        real_record(ref, outcomes)

    monkeypatch.setattr(store, "write_outcome_batch", dies_once)
    campaign = api.live_campaign()
    answer = api.trigger(trigger_body(campaign["id"]))
    execution_id = answer.body["executionId"]
    messages = queue.receive()
    result = invoke_delivery(queue, messages)
    assert result.failed == {messages[0]["MessageId"]}
    assert emails_per_recipient(outbox) == dict.fromkeys(SAMPLE, 1)

    # Then, while its claims are within their lease, the recipients show as queued
    assert statuses(api, execution_id) == dict.fromkeys(SAMPLE, ("queued", None))

    # And a copy of the record delivered meanwhile sends nothing: the claims are in flight, so the
    # copy comes back later rather than dropping recipients whose fate is not known yet
    _copy_to_queue(messages[0])
    copies = queue.receive()
    waited = invoke_delivery(queue, copies)
    assert waited.failed == {copies[0]["MessageId"]}
    assert emails_per_recipient(outbox) == dict.fromkeys(SAMPLE, 1)
    assert statuses(api, execution_id) == dict.fromkeys(SAMPLE, ("queued", None))

    # When both records come back after the queue's visibility timeout, which outlasts the claim lease
    visibility = int(
        _sqs().get_queue_attributes(QueueUrl=queue.url, AttributeNames=["VisibilityTimeout"])["Attributes"][
            "VisibilityTimeout"
        ]
    )
    assert visibility > delivery.CLAIM_LEASE_SECONDS
    clock.advance(visibility)
    for received in (messages[0], copies[0]):
        _sqs().change_message_visibility(
            QueueUrl=queue.url, ReceiptHandle=received["ReceiptHandle"], VisibilityTimeout=0
        )
    redelivered = queue.receive()
    assert {m["MessageId"] for m in redelivered} == {messages[0]["MessageId"], copies[0]["MessageId"]}
    again = invoke_delivery(queue, redelivered)

    # Then nobody gets a second email, and both end failed / send_unconfirmed; the record is done
    assert again.failed == set()
    assert emails_per_recipient(outbox) == dict.fromkeys(SAMPLE, 1)
    assert statuses(api, execution_id) == dict.fromkeys(SAMPLE, ("failed", "send_unconfirmed"))
    assert queue.depth() == 0
    assert api.execution(execution_id).body["status"] == "completed"


# ---------------------------------------------------------------------------
# Poison records
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("{not json", "JSONDecodeError"),
        (
            json.dumps(
                {
                    "v": 1,
                    "executionId": "0" * 32,
                    "requestId": "r",
                    "campaignId": "no-such-campaign",
                    "campaignVersion": 1,
                    "createdAt": "2026-12-01T09:00:00Z",
                    "expiresAt": 1900000000,
                    "recipients": [],
                }
            ),
            "LookupError",
        ),
    ],
    ids=["not-json", "unknown-campaign-version"],
)
def test_a_poison_record_is_reported_failed_each_time_then_lands_in_the_dlq(
    api: Api, queue: Queue, outbox, dlq: DeadLetters, logged: list, body: str, error: str
) -> None:
    # Given a record delivery can never process
    _sqs().send_message(QueueUrl=queue.url, MessageBody=body)

    # When it is received as many times as the queue's maxReceiveCount (12 in template.yaml)
    assert dlq.max_receive_count == 12
    for receive_count in range(1, dlq.max_receive_count + 1):
        messages = queue.receive(visibility=0)
        assert len(messages) == 1
        assert int(messages[0]["Attributes"]["ApproximateReceiveCount"]) == receive_count
        result = invoke_delivery(queue, messages)
        # Then each time the handler reports it failed
        assert result.failed == {messages[0]["MessageId"]}

    # And the next receive moves it to the dead-letter queue, intact
    assert queue.receive(visibility=0) == []
    assert queue.depth() == 0
    assert [m["Body"] for m in dlq.messages()] == [body]
    assert outbox() == []

    # And every attempt logged why, with the receive count
    failures = [r for r in logged if r.getMessage() == "delivery failed"]
    assert [(r.error, r.receive_count) for r in failures] == [(error, n) for n in range(1, dlq.max_receive_count + 1)]


def test_a_message_of_an_unknown_format_version_sends_nothing_and_lands_in_the_dlq_intact(
    api: Api, queue: Queue, outbox, dlq: DeadLetters, logged: list
) -> None:
    # Given a message a later build wrote (format version 2) for a live campaign's recipients
    campaign = api.live_campaign()
    assert api.trigger(trigger_body(campaign["id"])).status == 202
    [queued] = queue.receive(visibility=0)
    _sqs().delete_message(QueueUrl=queue.url, ReceiptHandle=queued["ReceiptHandle"])
    body = json.dumps({**json.loads(queued["Body"]), "v": 2})
    _sqs().send_message(QueueUrl=queue.url, MessageBody=body)

    # When delivery receives it as many times as the queue's maxReceiveCount
    for _ in range(dlq.max_receive_count):
        messages = queue.receive(visibility=0)
        # Then each time it is reported failed, and nobody is sent anything
        assert invoke_delivery(queue, messages).failed == {messages[0]["MessageId"]}
    assert outbox() == []

    # And the next receive moves it to the dead-letter queue, as it was written
    assert queue.receive(visibility=0) == []
    assert [m["Body"] for m in dlq.messages()] == [body]

    # And every attempt logged why: the version this build does not read
    failures = [r for r in logged if r.getMessage() == "delivery failed"]
    assert [(r.error, r.version, r.receive_count) for r in failures] == [
        ("UnknownFormat", "2", n) for n in range(1, dlq.max_receive_count + 1)
    ]


class _ClaimAnswerLost:
    """The store's DynamoDB client, whose answer to each recipient claim is lost once: botocore
    times out reading it and retries the same conditional put, as its standard retry mode does.
    The first put was applied, so the retry finds the item and fails its condition."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.retried = 0

    def put_item(self, **kwargs: Any) -> Any:
        is_claim = kwargs["Item"]["sk"]["S"].startswith("R#") and "ConditionExpression" in kwargs
        if not is_claim:
            return self._client.put_item(**kwargs)
        self._client.put_item(**kwargs)  # applied; its answer never arrives
        self.retried += 1
        return self._client.put_item(**kwargs)  # botocore's retry of the same request

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_claim_whose_answer_was_lost_and_retried_by_botocore_still_sends_once(
    api: Api, queue: Queue, outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given DynamoDB that applies each claim but loses its answer, so that botocore retries it
    campaign = api.live_campaign()
    answer = api.trigger(trigger_body(campaign["id"]))
    lossy = _ClaimAnswerLost(aws.dynamodb())
    monkeypatch.setattr(aws, "dynamodb", lambda: lossy)

    # When delivery runs
    handled = drain_delivery(queue)

    # Then each recipient got exactly one email and is recorded sent: the retry recognised its own
    # claim (before the fix, each recipient was skipped as a "duplicate" and never sent)
    assert handled == 1
    assert lossy.retried == len(SAMPLE)
    assert emails_per_recipient(outbox) == dict.fromkeys(SAMPLE, 1)
    assert {s for s, _ in statuses(api, answer.body["executionId"]).values()} == {"sent"}
    assert queue.depth() == 0
