"""The delivery queue on SQS: sending the trigger's messages, and putting back the ones delivery
must see again. What a message holds, what it may weigh and how long it stays away are
`queue_message`'s."""

from __future__ import annotations

import time
from typing import Any

from campaign_engine import aws
from campaign_engine.queue_message import SQS_MAX_MESSAGE_BYTES
from campaign_engine.settings import get_settings

MAX_BATCH_ENTRIES = 10


def enqueue(bodies: list[str], *, delay_seconds: int = 0) -> None:
    """Sends every body, ten per request and within the request size limit; retries refused entries.
    `delay_seconds` (at most 900) keeps the messages invisible that long."""
    client = aws.sqs()
    url = get_settings().delivery_queue_url
    batch: list[str] = []
    size = 0
    for body in bodies:
        length = len(body.encode())
        if batch and (len(batch) == MAX_BATCH_ENTRIES or size + length > SQS_MAX_MESSAGE_BYTES):
            _send_batch(client, url, batch, delay_seconds)
            batch, size = [], 0
        batch.append(body)
        size += length
    if batch:
        _send_batch(client, url, batch, delay_seconds)


def _send_batch(client: Any, url: str, bodies: list[str], delay_seconds: int = 0) -> None:
    entries: list[dict[str, Any]] = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)]
    if delay_seconds:
        for entry in entries:
            entry["DelaySeconds"] = delay_seconds
    for attempt in range(5):
        response = client.send_message_batch(QueueUrl=url, Entries=entries)
        failed = {f["Id"] for f in response.get("Failed", [])}
        if not failed:
            return
        entries = [e for e in entries if e["Id"] in failed]
        time.sleep(0.05 * 2**attempt)
    raise RuntimeError(f"SQS refused {len(entries)} delivery messages after retries")


def dead_letter(body: str) -> None:
    """Puts `body` in the delivery queue's dead-letter queue, as SQS's redrive would."""
    aws.sqs().send_message(QueueUrl=get_settings().delivery_dead_letter_queue_url, MessageBody=body)


def come_back_in(receipt_handle: str, seconds: int) -> None:
    """A received message is delivered again in `seconds`: the queue keeps it invisible that long,
    instead of the function sleeping."""
    aws.sqs().change_message_visibility(
        QueueUrl=get_settings().delivery_queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
    )
