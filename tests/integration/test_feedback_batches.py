"""SES's events reach the feedback function from its queue in batches: one read of the batch's recipients,
one report counter write per campaign and hour, and an event that cannot be applied retried alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local import harness
from tests.conftest import Api, Queue, invoke, trigger_body
from tests.integration.test_feedback import Sent, recipients, send

FEEDBACK_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:local-feedback"
PEOPLE = [f"person{n}@example.com" for n in range(20)]


def sqs_batch(events: list[Any]) -> dict[str, Any]:
    """The feedback queue's event source mapping handing these message bodies to the function."""
    messages = [
        {
            "MessageId": f"msg-{n}",
            "ReceiptHandle": f"rh-{n}",
            "Body": body if isinstance(body, str) else json.dumps(body),
        }
        for n, body in enumerate(events)
    ]
    return harness.sqs_event(messages, FEEDBACK_QUEUE_ARN)


def failed_ids(answer: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in answer["batchItemFailures"]]


def test_a_batch_moves_every_recipient_with_one_read_and_one_counter_transaction(
    api: Api, queue: Queue, dynamodb_calls: list[str]
) -> None:
    sent = send(api, queue, *PEOPLE)
    events: list[Any] = [sent.event("email_delivered", person) for person in PEOPLE]
    events.append(sent.event("email_bounced", PEOPLE[0]))  # a bounce after its delivery, in the same batch
    events.append(sent.event("email_delivered", PEOPLE[1]))  # SES published it twice
    dynamodb_calls.clear()

    answer = invoke("feedback", sqs_batch(events))
    calls = list(dynamodb_calls)

    assert failed_ids(answer) == []
    statuses = {user: r["status"] for user, r in sent.status().items()}
    assert statuses == {PEOPLE[0]: "bounced", **dict.fromkeys(PEOPLE[1:], "delivered")}
    assert sent.report()["byStatus"] == {"bounced": 1, "delivered": 19}
    assert sent.counts() == {"total": 20, "bounced": 1, "delivered": 19}
    # Per batch: the recipients' items in one BatchGetItem and their delivery run's outcome batch in one more.
    # Per move: one conditional update (21), and the bounced address suppressed; then one transaction writing
    # the counters with the batch's commit record.
    assert calls.count("BatchGetItem") == 2, calls
    assert calls.count("UpdateItem") == 21 + 1, calls
    assert calls.count("TransactWriteItems") == 1, calls
    assert len(calls) <= 2 + 22 + 1 + 1, f"no read or write per event: {calls}"  # (+ the campaign's webhook, once)


def test_an_event_that_fails_is_retried_alone_and_the_rest_of_its_batch_applies(
    api: Api, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    from campaign_engine import store

    sent = send(api, queue, *PEOPLE[:3])
    advance = store.move_recipient

    def unreachable_for_the_second(execution_id: str, user_id: str, *args: Any, **kwargs: Any) -> Any:
        if user_id == PEOPLE[1]:
            raise ConnectionError("the table is unreachable")
        return advance(execution_id, user_id, *args, **kwargs)

    monkeypatch.setattr(store, "move_recipient", unreachable_for_the_second)
    events = [sent.event("email_delivered", person) for person in PEOPLE[:3]]
    answer = invoke("feedback", sqs_batch(["not an event", *events]))

    # The message that is no event, and the event that failed, come back (then the dead-letter queue)
    assert failed_ids(answer) == ["msg-0", "msg-2"]
    statuses = {user: r["status"] for user, r in sent.status().items()}
    assert statuses == {PEOPLE[0]: "delivered", PEOPLE[1]: "sent", PEOPLE[2]: "delivered"}
    assert sent.report()["byStatus"] == {"delivered": 2, "sent": 1}

    # Its retry applies it, and counts it once
    monkeypatch.setattr(store, "move_recipient", advance)
    assert failed_ids(invoke("feedback", sqs_batch([events[1]]))) == []
    assert sent.report()["byStatus"] == {"delivered": 3}


def test_an_event_before_its_send_is_recorded_is_retried_while_the_others_apply(api: Api, queue: Queue) -> None:
    from campaign_engine import store

    sent = send(api, queue, PEOPLE[0])
    # Another execution whose recipient is claimed, its outcome not written yet, and an event about it that
    # carries no recipient tag (a userId too long for one): it can only be found once the outcome is there.
    pending = Sent(api, "f" * 32, sent.campaign_id, {"crm-long": "0100019300000000-pending-000000"})
    store.claim_recipient(
        store.Claim(
            execution_id=pending.execution_id,
            user_id="crm-long",
            campaign_id=sent.campaign_id,
            request_id="r",
            attempt_id="a",
            expires_at=2_000_000_000,
            outcome_ref="OUT#not-written-yet",
        )
    )
    early = pending.event("email_delivered", "crm-long")
    del early["detail"]["mail"]["tags"]["recipient"]

    answer = invoke("feedback", sqs_batch([early, sent.event("email_delivered", PEOPLE[0])]))

    assert failed_ids(answer) == ["msg-0"]
    assert sent.status()[PEOPLE[0]]["status"] == "delivered"


def test_a_single_eventbridge_event_is_applied_as_sam_local_invoke_hands_it(api: Api) -> None:
    """`sam local invoke FeedbackFunction -e events/feedback/email_delivered.json`: not a batch."""
    assert invoke("feedback", harness.load_event("feedback/email_delivered.json")) == {
        "outcome": "unknown",
        "why": "no_recipient",
    }


def test_the_sample_batch_file_applies_as_sam_local_invoke_hands_it(api: Api) -> None:
    """`sam local invoke FeedbackFunction -e events/feedback/feedback_queue_batch.json`: the queue's shape."""
    event = harness.load_event("feedback/feedback_queue_batch.json")
    bodies = [json.loads(record["body"]) for record in event["Records"]]
    assert [body["detail-type"] for body in bodies] == ["Email Delivered", "Email Bounced"]
    # Nothing of this stack's: each is found to be about no recipient, and none is retried
    assert invoke("feedback", event) == {"batchItemFailures": []}


def test_counters_move_from_the_stored_state_even_when_the_batch_read_was_stale(
    api: Api, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch read is eventually consistent: a move made a moment earlier may not show in it."""
    import msgspec

    from campaign_engine import store

    sent = send(api, queue, PEOPLE[0])
    assert failed_ids(invoke("feedback", sqs_batch([sent.event("email_delivered", PEOPLE[0])]))) == []
    read = store.get_recipient_states

    def before_the_delivery(keys: Any, **kwargs: Any) -> Any:
        return {key: msgspec.structs.replace(state, state="sent") for key, state in read(keys, **kwargs).items()}

    monkeypatch.setattr(store, "get_recipient_states", before_the_delivery)
    assert failed_ids(invoke("feedback", sqs_batch([sent.event("email_bounced", PEOPLE[0])]))) == []

    assert sent.status()[PEOPLE[0]]["status"] == "bounced"
    assert sent.report()["byStatus"] == {"bounced": 1}, "delivered moved to bounced, sent left alone"


def test_a_full_batch_of_one_recipient_calls_to_one_campaign_applies_whole(api: Api, queue: Queue) -> None:
    # Given a hundred trigger calls of one recipient each to one campaign, all sent
    campaign = api.live_campaign()
    sends: list[tuple[Sent, str]] = []
    for n in range(100):
        person = f"one{n}@example.com"
        answer = api.trigger(trigger_body(campaign["id"], recipients(person), context=None, requestId=f"one-{n}"))
        assert answer.status == 202, answer.body
        sends.append((Sent(api, answer.body["executionId"], campaign["id"], {}), person))
    queue.drain()
    for sent, _ in sends:
        sent.message_ids = {u: r["messageId"] for u, r in sent.status().items()}

    # When their hundred Delivery events come in one batch (a hundred executions, one campaign and hour)
    answer = invoke("feedback", sqs_batch([sent.event("email_delivered", person) for sent, person in sends]))

    # Then every one applies at once: one counter item, not one per execution
    assert failed_ids(answer) == []
    assert sends[0][0].report()["byStatus"] == {"delivered": 100}


def test_a_batch_over_one_transactions_counter_items_leaves_the_rest_for_a_later_batch(api: Api, queue: Queue) -> None:
    # Given a hundred recipients whose sends SES stamps in a hundred different hours
    people = [f"hour{n}@example.com" for n in range(100)]
    sent = send(api, queue, *people)
    events = [sent.event("email_delivered", person) for person in people]
    for hours_ago, event in enumerate(events):
        stamp = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)
        event["detail"]["mail"]["timestamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    # When they come in one batch: a hundred counter items, one more than a transaction holds beside its commit
    answer = invoke("feedback", sqs_batch(events))

    # Then the last comes back, its recipient not moved yet; its retry applies it
    assert failed_ids(answer) == ["msg-99"]
    assert sent.status()[people[99]]["status"] == "sent"
    assert failed_ids(invoke("feedback", sqs_batch([events[99]]))) == []
    assert {r["status"] for r in sent.status().values()} == {"delivered"}
