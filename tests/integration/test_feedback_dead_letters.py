"""SES events are never dropped: the rule puts them in the feedback queue; one the feedback function keeps
failing on is kept in FeedbackDeadLetterQueue after 5 receives (the queue's redrive policy), as is one
EventBridge could not put in the queue (the rule target's dead-letter queue); `make redrive-feedback`
puts them back."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from local import ses_events
from local.ses_events import Sent, SesEventPublisher
from local.template import REGION, Template
from tests.conftest import finishes, load_event

SUCCESS = "success@simulator.amazonses.com"


def _sent(configuration_set: str) -> Sent:
    return Sent(
        "m-1", "hello@example.com", [SUCCESS], configuration_set, {"executionId": "e" * 32}, None, datetime.now(UTC)
    )


def _receive(sqs: Any, queue_url: str, **kwargs: Any) -> list[dict[str, Any]]:
    return list(sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, **kwargs).get("Messages", []))


def _until_some(work: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """`work()` again until it finds messages (bounded by finishes' guard)."""

    def poll() -> list[dict[str, Any]]:
        while not (found := work()):
            time.sleep(0.01)
        return found

    return finishes(poll)


def test_an_event_the_function_keeps_failing_on_is_kept_in_the_dead_letter_queue_after_5_receives(
    aws_env: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ses_events, "SES_LATENCY_SECONDS", 0.0)
    sqs = boto3.client("sqs", region_name=REGION)
    queue, dlq = aws_env.get_att("FeedbackQueue", "QueueUrl"), aws_env.get_att("FeedbackDeadLetterQueue", "QueueUrl")
    publisher = SesEventPublisher.from_template(aws_env, {}, sqs)
    publisher.start()
    try:
        publisher.sent(_sent(aws_env.environment()["SES_CONFIGURATION_SET"]))
        (message,) = _until_some(lambda: _receive(sqs, queue, VisibilityTimeout=0))
    finally:
        publisher.stop()
    assert json.loads(message["Body"])["detail"]["mail"]["messageId"] == "m-1"

    # The function fails on it (its record in batchItemFailures): it comes back after the visibility
    # timeout, four more times; the receive after the fifth finds it set aside in the dead-letter queue.
    receipts = [message]

    def set_aside() -> list[dict[str, Any]]:
        receipts.extend(_receive(sqs, queue, VisibilityTimeout=0))
        return _receive(sqs, dlq)

    (kept,) = _until_some(set_aside)
    assert len(receipts) == 5
    event = json.loads(kept["Body"])
    assert (event["detail-type"], event["detail"]["mail"]["messageId"]) == ("Email Delivered", "m-1")


def test_an_event_eventbridge_cannot_put_in_the_queue_is_kept_in_the_dead_letter_queue(
    aws_env: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ses_events, "RETRY_DELAYS_SECONDS", (0.0, 0.0, 0.0))
    monkeypatch.setattr(ses_events, "SES_LATENCY_SECONDS", 0.0)
    sqs = boto3.client("sqs", region_name=REGION)
    dlq = aws_env.get_att("FeedbackDeadLetterQueue", "QueueUrl")
    publisher = SesEventPublisher.from_template(aws_env, {}, sqs)
    (rule,) = publisher.subscribers
    assert (rule.rule, rule.max_retries, rule.on_failure) == ("SesEventsRule.feedback-queue", 185, dlq)
    # The queue is gone (deleted by hand, say): every put fails
    publisher.subscribers = [dataclasses.replace(rule, queue_url=f"{dlq}-missing", max_retries=2)]
    publisher.start()
    try:
        publisher.sent(_sent(aws_env.environment()["SES_CONFIGURATION_SET"]))
        (kept,) = _until_some(lambda: _receive(sqs, dlq, WaitTimeSeconds=1))
    finally:
        publisher.stop()
    assert json.loads(kept["Body"])["detail"]["mail"]["messageId"] == "m-1"


def test_redrive_puts_each_kept_event_back_in_the_feedback_queue(aws_env: Template) -> None:
    from scripts.redrive_feedback import redrive

    sqs = boto3.client("sqs", region_name=REGION)
    queue, dlq = aws_env.get_att("FeedbackQueue", "QueueUrl"), aws_env.get_att("FeedbackDeadLetterQueue", "QueueUrl")
    event = load_event("feedback/email_delivered.json")
    # One set aside by the queue's redrive policy or the rule (the event itself), and one Lambda's
    # on-failure destination kept before the stack had a feedback queue (the event in requestPayload)
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(event))
    record = ses_events.failure_record(event, "arn:aws:lambda:us-east-1:123456789012:function:f", 3, RuntimeError("x"))
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(record))

    assert redrive(sqs, dlq, queue) == 2

    assert [json.loads(m["Body"]) for m in _receive(sqs, queue)] == [event, event]
    assert _receive(sqs, dlq) == []
