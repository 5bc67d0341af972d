"""Feedback batches under faults: an address that cannot be suppressed fails its event alone, and a batch whose
counters could not be written is retried and then counted exactly once (each move leaves a count mark under
its batch's attempt; the counters are written with the attempt's commit record; a retry counts the marked
moves of an attempt that never committed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from campaign_engine import feedback
from campaign_engine.store import feedback_attempts, people
from tests.conftest import Api, Queue, invoke
from tests.integration.conftest import Fault
from tests.integration.test_feedback import Sent, send, with_type
from tests.integration.test_feedback_batches import failed_ids, sqs_batch
from tests.integration.test_webhooks import _live_with_webhook, _send, queued_webhooks

PEOPLE = [f"counted{n}@example.com" for n in range(4)]


def bounced(sent: Sent, person: str) -> dict[str, Any]:
    """A hard bounce naming the person's own address (the sample event names ada@example.com)."""
    event = sent.event("email_bounced", person)
    event["detail"]["bounce"]["bouncedRecipients"][0]["emailAddress"] = person
    return event


def throttled(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, operation)


def suppressed(*addresses: str) -> set[str]:
    return {address for address in addresses if people.get_suppressions("email", [address])}


def commit_failing_once(monkeypatch: pytest.MonkeyPatch, before: Callable[[], Any] | None = None) -> list[str]:
    """The batch's counter transaction fails the first time (after `before`, if given); the attempts seen."""
    commit = feedback_attempts.commit
    attempts: list[str] = []

    def once(attempt_id: str, counts: Any) -> bool:
        attempts.append(attempt_id)
        if len(attempts) == 1:
            if before is not None:
                before()
            raise throttled("TransactWriteItems")
        return commit(attempt_id, counts)

    monkeypatch.setattr(feedback_attempts, "commit", once)
    return attempts


# ---------------------------------------------------------------------------
# 1. A suppression that fails fails its event alone
# ---------------------------------------------------------------------------
def test_an_address_that_cannot_be_suppressed_fails_its_event_alone_and_its_retry_counts_it_once(
    api: Api, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three sent recipients, and the suppression list refusing the first one's address
    sent = send(api, queue, *PEOPLE[:3])
    add = people.add_suppression

    def refusing_the_first(channel: str, address: str, **kwargs: Any) -> None:
        if address == PEOPLE[0]:
            raise throttled("UpdateItem")
        add(channel, address, **kwargs)

    monkeypatch.setattr(people, "add_suppression", refusing_the_first)
    events = [bounced(sent, PEOPLE[0]), bounced(sent, PEOPLE[1]), sent.event("email_delivered", PEOPLE[2])]

    # When the batch is applied
    answer = invoke("feedback", sqs_batch(events))

    # Then only the first event comes back; the rest of the batch moved, was suppressed and is counted once
    assert failed_ids(answer) == ["msg-0"]
    statuses = {user: r["status"] for user, r in sent.status().items()}
    assert statuses == {PEOPLE[0]: "sent", PEOPLE[1]: "bounced", PEOPLE[2]: "delivered"}
    assert sent.report()["byStatus"] == {"sent": 1, "bounced": 1, "delivered": 1}
    assert suppressed(*PEOPLE[:3]) == {PEOPLE[1]}

    # When its retry comes (the table answers again), then it applies, suppressed and counted once
    monkeypatch.setattr(people, "add_suppression", add)
    assert failed_ids(invoke("feedback", sqs_batch([events[0]]))) == []
    assert sent.status()[PEOPLE[0]]["status"] == "bounced"
    assert sent.report()["byStatus"] == {"bounced": 2, "delivered": 1}
    assert suppressed(*PEOPLE[:3]) == {PEOPLE[0], PEOPLE[1]}


# ---------------------------------------------------------------------------
# 2. Counters that could not be written are written by the retry, once
# ---------------------------------------------------------------------------
def test_a_batch_whose_counters_fail_is_retried_and_then_counted_exactly_once(
    api: Api, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given sent recipients, and the counter transaction failing the first time
    sent = send(api, queue, *PEOPLE)
    attempts = commit_failing_once(monkeypatch)
    events = [
        sent.event("email_delivered", PEOPLE[0]),
        bounced(sent, PEOPLE[1]),
        sent.event("email_delivered", PEOPLE[2]),
        sent.event("email_complaint", PEOPLE[2]),  # a delivery then a complaint, in the same batch
        sent.event("email_delivered", PEOPLE[3]),
    ]

    # When the batch is applied: its moves are written, its counters are not
    first = invoke("feedback", sqs_batch(events))

    # Then every event that moved someone comes back
    assert failed_ids(first) == [f"msg-{n}" for n in range(5)]
    statuses = {user: r["status"] for user, r in sent.status().items()}
    assert statuses == {PEOPLE[0]: "delivered", PEOPLE[1]: "bounced", PEOPLE[2]: "complained", PEOPLE[3]: "delivered"}
    assert sent.report()["byStatus"] == {"sent": 4}, "nothing counted yet"

    # When the queue hands the same records over again (in another order, with one more event)
    retry = invoke("feedback", sqs_batch([*reversed(events), with_type(events[0], "Email Opened", "Open", {})]))

    # Then each move is counted once, from the state it replaced
    assert failed_ids(retry) == []
    expected = {"delivered": 1, "opened": 1, "bounced": 1, "complained": 1}
    assert sent.report()["byStatus"] == expected
    report = sent.report()["counts"]
    assert (report["sent"], report["delivered"], report["bounced"], report["complained"]) == (4, 3, 1, 1)
    assert len(attempts) == 2

    # And a duplicate delivery of the same records afterwards changes nothing
    assert failed_ids(invoke("feedback", sqs_batch(events))) == []
    assert sent.report()["byStatus"] == expected
    assert {user: r["status"] for user, r in sent.status().items()} == {**statuses, PEOPLE[0]: "opened"}


def test_a_function_that_dies_after_its_moves_is_counted_by_the_retry_once(
    api: Api, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a batch whose invocation dies after writing its moves (no answer: the whole batch comes back)
    sent = send(api, queue, *PEOPLE[:2])
    events = [sent.event("email_delivered", person) for person in PEOPLE[:2]]
    write = feedback._write_batch

    def dies(*_: Any) -> None:
        raise TimeoutError("Task timed out")

    monkeypatch.setattr(feedback, "_write_batch", dies)
    with pytest.raises(TimeoutError):
        invoke("feedback", sqs_batch(events))
    assert sent.report()["byStatus"] == {"sent": 2}

    # When the batch comes back, twice (an SQS duplicate)
    monkeypatch.setattr(feedback, "_write_batch", write)
    assert failed_ids(invoke("feedback", sqs_batch(events))) == []
    assert failed_ids(invoke("feedback", sqs_batch(events))) == []

    # Then each delivery is counted once
    assert sent.report()["byStatus"] == {"delivered": 2}


def test_of_two_retries_of_an_uncounted_batch_one_counts_it(
    api: Api, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a batch whose counters failed (its moves written, uncounted)
    sent = send(api, queue, *PEOPLE[:2])
    events = [sent.event("email_delivered", person) for person in PEOPLE[:2]]
    commit = feedback_attempts.commit

    def failing(*_: Any) -> bool:
        raise throttled("TransactWriteItems")

    monkeypatch.setattr(feedback_attempts, "commit", failing)
    assert failed_ids(invoke("feedback", sqs_batch(events))) == ["msg-0", "msg-1"]
    monkeypatch.setattr(feedback_attempts, "commit", commit)

    # When a retry takes its moves over and, before it commits, a duplicate delivery of the batch runs whole
    duplicate: list[Any] = []

    def before_the_first_commit(attempt_id: str, counts: Any) -> bool:
        if not duplicate:
            duplicate.append(None)
            duplicate[0] = feedback.apply_events(events)
        return commit(attempt_id, counts)

    monkeypatch.setattr(feedback_attempts, "commit", before_the_first_commit)
    late = invoke("feedback", sqs_batch(events))

    # Then the duplicate settled the first retry (aborted) and counted the moves; the retry's late commit is
    # refused and its events come back, and their next retry changes nothing
    assert [result["outcome"] for result in duplicate[0]] == ["applied", "applied"]
    assert failed_ids(late) == ["msg-0", "msg-1"]
    assert sent.report()["byStatus"] == {"delivered": 2}
    monkeypatch.setattr(feedback_attempts, "commit", commit)
    assert failed_ids(invoke("feedback", sqs_batch(events))) == []
    assert sent.report()["byStatus"] == {"delivered": 2}


def test_webhook_events_of_an_uncounted_batch_are_published_by_its_retry(
    api: Api, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a campaign with a webhook for deliveries, and its first feedback batch's counters failing
    campaign, _ = _live_with_webhook(api, "https://hooks.example.org/in", events=["delivered"])
    sent = _send(api, queue, campaign, *PEOPLE[:2])
    commit_failing_once(monkeypatch)
    events = [sent.event("email_delivered", person) for person in PEOPLE[:2]]

    # When the batch fails, then is retried
    assert failed_ids(invoke("feedback", sqs_batch(events))) == ["msg-0", "msg-1"]
    assert failed_ids(invoke("feedback", sqs_batch(events))) == []

    # Then each delivery reached the webhooks queue, at least once (the failed attempt's publish, then the retry's)
    published = [(e["userId"], e["status"]) for m in queued_webhooks() for e in m.events]
    assert set(published) == {(PEOPLE[0], "delivered"), (PEOPLE[1], "delivered")}
    assert sent.report()["byStatus"] == {"delivered": 2}


def test_a_webhook_queue_failure_fails_the_batch_and_the_retry_publishes_and_counts(
    api: Api, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    from campaign_engine import webhooks

    campaign, _ = _live_with_webhook(api, "https://hooks.example.org/in", events=["delivered"])
    sent = _send(api, queue, campaign, PEOPLE[0])
    enqueue = webhooks._enqueue

    def refused(_: Any) -> None:
        raise RuntimeError("SQS refused 1 webhook messages")

    monkeypatch.setattr(webhooks, "_enqueue", refused)
    event = sent.event("email_delivered", PEOPLE[0])
    assert failed_ids(invoke("feedback", sqs_batch([event]))) == ["msg-0"]
    assert sent.report()["byStatus"] == {"sent": 1}

    monkeypatch.setattr(webhooks, "_enqueue", enqueue)
    assert failed_ids(invoke("feedback", sqs_batch([event]))) == []
    assert [(e["userId"], e["status"]) for m in queued_webhooks() for e in m.events] == [(PEOPLE[0], "delivered")]
    assert sent.report()["byStatus"] == {"delivered": 1}


def test_an_unconfirmed_send_moved_by_a_delay_whose_counters_failed_is_counted_by_the_next_delay(
    api: Api, queue: Queue, monkeypatch: pytest.MonkeyPatch, faulty_ses: Any, outbox: Any
) -> None:
    # Given a send whose answer was lost (failed / send_unconfirmed), and SES's delay event for it, whose
    # batch moved the recipient to sent but failed to write its counters
    faulty_ses(lambda to, attempt: Fault(ReadTimeoutError(endpoint_url="https://email.example"), after_send=True))
    sent = send(api, queue, PEOPLE[0])
    (email,) = outbox()
    delayed = with_type(
        sent.event("email_delivered", PEOPLE[0], message_id=email["id"]),
        "Email Delivery Delayed",
        "DeliveryDelay",
        {"deliveryDelay": {"timestamp": "2026-12-01T09:10:00.000Z", "delayType": "MailboxFull"}},
    )
    commit_failing_once(monkeypatch)
    assert failed_ids(invoke("feedback", sqs_batch([delayed]))) == ["msg-0"]
    assert sent.report()["byStatus"] == {"failed": 1}

    # When it comes again (sent -> sent moves again, and counts nothing of its own)
    assert failed_ids(invoke("feedback", sqs_batch([delayed]))) == []

    # Then the first move, failed -> sent, is counted once, its reason with it
    report = sent.report()
    assert report["byStatus"] == {"sent": 1}
    assert report["byReason"] == {}
    assert failed_ids(invoke("feedback", sqs_batch([delayed]))) == []
    assert sent.report()["byStatus"] == {"sent": 1}
