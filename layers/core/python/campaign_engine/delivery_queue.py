"""The delivery queue: what the trigger writes and delivery reads.

A message carries several recipients of one execution, so that a 1,000-recipient call costs
a handful of SQS requests, and a batch request carries up to ten messages."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

from campaign_engine import aws
from campaign_engine.settings import get_settings

MESSAGE_FORMAT = 1
RECIPIENTS_PER_MESSAGE = 10
# AWS's limit (since August 2025) for one message and for the sum of a SendMessageBatch request,
# in UTF-8 bytes of bodies and attributes (we send none). template.yaml declares the same size for
# the delivery queue; the tests' emulator enforces it as AWS does (local/sqs_limits.py).
SQS_MAX_MESSAGE_BYTES = 1_048_576
# Several recipients share a message up to this size: ten such messages stay far below Lambda's
# 6 MB event. A recipient's entry larger than this travels alone in its message.
MAX_MESSAGE_BYTES = 250 * 1024
# What one recipient's entry may weigh: a message holds it and the execution's header, which is
# bounded (requestId <= 256 and campaignId <= 128 characters, at most 6 bytes each in JSON) and
# well under this reserve (tests/unit/test_domain.py proves it).
HEADER_RESERVE_BYTES = 4 * 1024
MAX_ENTRY_BYTES = SQS_MAX_MESSAGE_BYTES - HEADER_RESERVE_BYTES
MAX_BATCH_ENTRIES = 10
# U+FFFE and U+FFFF are not XML characters, and SQS refuses a body that holds one (JSON text
# allows them raw, and msgspec writes them raw). An entry says them as JSON escapes instead.
_NONCHARACTERS = ((b"\xef\xbf\xbe", b"\\ufffe"), (b"\xef\xbf\xbf", b"\\uffff"))


def sqs_safe(encoded: bytes) -> bytes:
    """The same JSON with U+FFFE and U+FFFF escaped (raw, they can only be inside strings). Hot
    callers first look for their first byte, b"\\xef", absent from nearly every entry."""
    for raw, escaped in _NONCHARACTERS:
        encoded = encoded.replace(raw, escaped)
    return encoded


# One encoder for every entry: json.dumps with options builds a new encoder on each call.
dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


def pack_messages(header: dict[str, Any], recipients: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Groups recipients into message bodies, by count and by size."""
    return pack_encoded(header, (sqs_safe(dumps(recipient).encode()) for recipient in recipients))


def pack_encoded(header: dict[str, Any], encoded_recipients: Iterable[bytes]) -> Iterator[str]:
    """pack_messages for recipients already encoded as compact UTF-8 JSON, made sqs_safe and each at
    most MAX_ENTRY_BYTES (the trigger rejects a larger one before anything is recorded)."""
    # The header holds the caller's requestId, which may hold U+FFFF too.
    head = sqs_safe(dumps({"v": MESSAGE_FORMAT, **header, "recipients": []}).encode())
    budget = MAX_MESSAGE_BYTES - len(head)
    chunk: list[bytes] = []
    size = 0
    for encoded in encoded_recipients:
        length = len(encoded) + 1
        if chunk and (len(chunk) == RECIPIENTS_PER_MESSAGE or size + length > budget):
            yield (head[:-3] + b"[" + b",".join(chunk) + b"]}").decode()
            chunk, size = [], 0
        chunk.append(encoded)
        size += length
    if chunk:
        yield (head[:-3] + b"[" + b",".join(chunk) + b"]}").decode()


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
