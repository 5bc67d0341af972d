"""An SES event the feedback function still fails on after its retries is kept in its on-failure queue
(FeedbackDeadLetterQueue), as Lambda's on-failure destination keeps it in AWS: never dropped."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from local import ses_events
from local.ses_events import Sent, SesEventPublisher
from local.template import REGION, Template
from tests.conftest import finishes, load_event

SUCCESS = "success@simulator.amazonses.com"


@dataclass
class Failing:
    """The feedback function, failing on every event (a bug, or a table it may not write)."""

    arn: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        raise RuntimeError("the table is unreachable")


def test_an_event_that_keeps_failing_is_kept_in_the_feedback_dead_letter_queue(
    aws_env: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ses_events, "RETRY_DELAYS_SECONDS", (0.0, 0.0, 0.0))
    monkeypatch.setattr(ses_events, "SES_LATENCY_SECONDS", 0.0)
    feedback = Failing(arn=aws_env.get_att("FeedbackFunction", "Arn"))
    sqs = boto3.client("sqs", region_name=REGION)
    publisher = SesEventPublisher.from_template(aws_env, {"FeedbackFunction": feedback}, sqs)  # type: ignore[dict-item]
    dlq = aws_env.get_att("FeedbackDeadLetterQueue", "QueueUrl")
    configuration_set = aws_env.environment()["SES_CONFIGURATION_SET"]

    publisher.start()
    try:
        publisher.sent(
            Sent(
                "m-1",
                "hello@example.com",
                [SUCCESS],
                configuration_set,
                {"executionId": "e" * 32},
                None,
                datetime.now(UTC),
            )
        )
        messages = finishes(lambda: _wait_for_message(sqs, dlq))
    finally:
        publisher.stop()

    # Tried three times (the first run and two retries), as Lambda does, then kept
    assert len(feedback.events) == 3
    record = json.loads(messages[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"]["detail-type"] == "Email Delivered"
    assert record["requestPayload"]["detail"]["mail"]["messageId"] == "m-1"
    assert record["responsePayload"]["errorType"] == "RuntimeError"


def _wait_for_message(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])
        if messages:
            return list(messages)


@dataclass
class Lambda:
    """Lambda's Invoke, as the redrive script calls it."""

    invoked: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def invoke(self, FunctionName: str, InvocationType: str, Payload: str) -> dict[str, Any]:
        self.invoked.append((FunctionName, InvocationType, json.loads(Payload)))
        return {"StatusCode": 202}


def test_redrive_hands_each_kept_event_to_the_feedback_function_again(aws_env: Template) -> None:
    from scripts.redrive_feedback import redrive

    sqs = boto3.client("sqs", region_name=REGION)
    dlq = aws_env.get_att("FeedbackDeadLetterQueue", "QueueUrl")
    event = load_event("feedback/email_delivered.json")
    # One kept by Lambda's on-failure destination, one by the rule's dead-letter queue (the event itself)
    record = ses_events.failure_record(event, "arn:aws:lambda:us-east-1:123456789012:function:f", 3, RuntimeError("x"))
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(record))
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(event))

    lambda_client = Lambda()
    assert redrive(sqs, lambda_client, dlq, "local-feedback") == 2

    assert lambda_client.invoked == [("local-feedback", "Event", event), ("local-feedback", "Event", event)]
    assert sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=0).get("Messages", []) == []
