"""The local stack's emulator finds a message by its receipt handle in an index instead of moto's walk
over the whole queue (local/emulator.py). SQS's answers must stay what they were: a delete removes the
one message it names, a stale handle of a received message still deletes it, a handle deleted twice is
no error, an unknown one is, and a visibility change makes exactly that message visible again."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def sqs_queue(local_stack: Any) -> tuple[Any, str]:
    sqs = local_stack.emulator.client("sqs")
    url = sqs.create_queue(QueueName=f"receipts-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "30"})[
        "QueueUrl"
    ]
    for start in range(0, 50, 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, start + 10)]
        )
    return sqs, url


def _receive(sqs: Any, url: str, count: int = 10, visibility: int = 30) -> list[dict[str, Any]]:
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=count, VisibilityTimeout=visibility).get(
        "Messages", []
    )


def _bodies_left(sqs: Any, url: str) -> list[str]:
    """Every message visible now, each read once (and then hidden for 30 s)."""
    bodies: list[str] = []
    while batch := _receive(sqs, url):
        bodies.extend(m["Body"] for m in batch)
    return bodies


def test_a_delete_removes_only_the_message_its_handle_names(sqs_queue: tuple[Any, str]) -> None:
    sqs, url = sqs_queue
    received = _receive(sqs, url)
    assert len(received) == 10
    sqs.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received[:4])]
    )
    # The deleted handle again: no error, nothing else removed.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=received[0]["ReceiptHandle"])
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert int(attributes["ApproximateNumberOfMessages"]) == 40
    assert int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 6


def test_a_stale_handle_still_deletes_a_message_received_again(sqs_queue: tuple[Any, str]) -> None:
    sqs, url = sqs_queue
    first = _receive(sqs, url, count=1, visibility=0)[0]
    again = [m for m in _receive(sqs, url, count=10, visibility=30) if m["MessageId"] == first["MessageId"]]
    assert again
    assert again[0]["ReceiptHandle"] != first["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(_receive(sqs, url, count=10, visibility=30))
        ],
    )
    assert first["Body"] not in _bodies_left(sqs, url)


def test_a_visibility_change_releases_exactly_that_message(sqs_queue: tuple[Any, str]) -> None:
    sqs, url = sqs_queue
    received = _receive(sqs, url, count=10, visibility=60)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=received[3]["ReceiptHandle"], VisibilityTimeout=0)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 9
    bodies = _bodies_left(sqs, url)
    assert received[3]["Body"] in bodies
    assert not {m["Body"] for i, m in enumerate(received) if i != 3} & set(bodies)


def test_an_unknown_handle_is_refused(sqs_queue: tuple[Any, str]) -> None:
    sqs, url = sqs_queue
    with pytest.raises(ClientError) as refused:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    assert refused.value.response["Error"]["Code"] in {"ReceiptHandleIsInvalid", "InvalidParameterValue"}
    with pytest.raises(ClientError):
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle="not-a-handle", VisibilityTimeout=0)
