"""The delivery queue's message: the contract between the trigger (writer) and delivery (reader).

A message carries several recipients of one execution, so that a 1,000-recipient call costs a
handful of SQS requests. Its shape is the `QueueMessage` Struct below; the trigger encodes each
recipient's entry once, as a `QueuedRecipient`, and `pack_encoded` joins entries under the
execution's header without decoding them again. Delivery decodes a body with `decode`, which
checks the format version before anything is read: a message of a version it does not know is
never half-understood. This module also owns the size rules (what one message and one entry may
weigh) and the delays a message is given when it comes back.

No AWS here: `delivery_queue` sends and returns messages.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import msgspec

# Written in every message as "v". A reader meeting another version fails the message (it lands in
# the DLQ, intact, for a build that knows it) rather than guess at its fields.
FORMAT_VERSION = 1
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


class QueuedRecipient(msgspec.Struct, gc=False):
    """One accepted recipient, with everything delivery needs to render and send to it. Fields in
    the order they are written; the trigger builds it positionally on its hot path."""

    userId: str
    namespace: str
    address: Any  # an email address, a phone number, or a push endpoint's info
    profile: dict[str, Any] = {}
    context: dict[str, Any] = {}
    # The recipient is a stored profile (an audience member, or a known person at trigger time): delivery
    # excludes it if that profile was erased meanwhile. Added with a default, so older entries still read.
    fromProfile: bool = False


class QueueMessage(msgspec.Struct, gc=False):
    """One queue message: the execution's header and its recipients (the last field: the writer
    splices encoded entries into the header's empty list)."""

    v: int
    executionId: str
    requestId: str
    campaignId: str
    campaignVersion: int
    createdAt: str
    expiresAt: int
    recipients: list[QueuedRecipient] = []


class UnknownFormat(Exception):
    """A message of a format version this build does not read."""

    def __init__(self, version: object) -> None:
        super().__init__(f"queue message format {version!r} is not {FORMAT_VERSION}; it is left for the DLQ")
        self.version = version


class _Version(msgspec.Struct):
    v: object = None


_decoder = msgspec.json.Decoder(QueueMessage)
_version_decoder = msgspec.json.Decoder(_Version)
# Compact UTF-8 JSON; the encoder's own method, called once per recipient without a Python frame.
encode = msgspec.json.Encoder().encode


def decode(body: str | bytes) -> QueueMessage:
    """The message in `body`. Raises UnknownFormat for another format version, json.JSONDecodeError
    for a body that is not JSON, msgspec.ValidationError for JSON of another shape."""
    try:
        message = _decoder.decode(body)
    except msgspec.ValidationError:
        version = _version_decoder.decode(body).v
        if version != FORMAT_VERSION:
            raise UnknownFormat(version) from None
        raise
    except msgspec.DecodeError as error:
        text = body if isinstance(body, str) else body.decode(errors="replace")
        raise json.JSONDecodeError(f"queue message is not JSON: {error}", text, 0) from None
    if message.v != FORMAT_VERSION:
        raise UnknownFormat(message.v)
    return message


def without_message_data(message: QueueMessage) -> bytes:
    """The message without what its recipients' messages were made of (each context and profile):
    what a campaign that keeps no messages leaves in the dead-letter queue. Redriven, it renders
    without them, which a template that needs them refuses per recipient as render_error."""
    recipients = [msgspec.structs.replace(r, context={}, profile={}) for r in message.recipients]
    return encode(msgspec.structs.replace(message, recipients=recipients))


# ---------------------------------------------------------------------------
# Writing: entries, their size, messages
# ---------------------------------------------------------------------------
# U+FFFE and U+FFFF are not XML characters, and SQS refuses a body that holds one (JSON text
# allows them raw, and msgspec writes them raw). An entry says them as JSON escapes instead.
_NONCHARACTERS = ((b"\xef\xbf\xbe", b"\\ufffe"), (b"\xef\xbf\xbf", b"\\uffff"))


def sqs_safe(encoded: bytes) -> bytes:
    """The same JSON with U+FFFE and U+FFFF escaped (raw, they can only be inside strings). Hot
    callers first look for their first byte, b"\\xef", absent from nearly every entry."""
    for raw, escaped in _NONCHARACTERS:
        encoded = encoded.replace(raw, escaped)
    return encoded


def entry_fits(encoded: bytes) -> bool:
    """Whether an encoded entry fits one SQS message beside any header: every entry queued does, so
    a recipient answered `accepted` is never refused by the queue afterwards."""
    return len(encoded) <= MAX_ENTRY_BYTES


def pack_messages(header: QueueMessage | Mapping[str, Any], recipients: Iterable[Any]) -> Iterator[str]:
    """Groups recipients (QueuedRecipient, or plain values) into message bodies, by count and by size."""
    return pack_encoded(header, (sqs_safe(encode(recipient)) for recipient in recipients))


def pack_encoded(header: QueueMessage | Mapping[str, Any], encoded_recipients: Iterable[bytes]) -> Iterator[str]:
    """pack_messages for recipients already encoded as compact UTF-8 JSON, made sqs_safe and each
    fitting (entry_fits: the trigger rejects a larger one before anything is recorded). The header's
    own recipients are not written; its version is always FORMAT_VERSION."""
    fields: Any
    if isinstance(header, QueueMessage):
        fields = msgspec.structs.replace(header, v=FORMAT_VERSION, recipients=[])
    else:  # the header's fields as a mapping
        fields = {"v": FORMAT_VERSION, **header, "recipients": []}
    # The header holds the caller's requestId, which may hold U+FFFF too.
    head = sqs_safe(encode(fields))
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


# ---------------------------------------------------------------------------
# Visibility: how long a message stays away before it is delivered (again)
# ---------------------------------------------------------------------------
# SQS's limits: DelaySeconds at most 15 minutes; a visibility timeout at most 12 hours.
MAX_DELAY_SECONDS = 900
# How long a record waits for another run's claim: about one delivery function timeout.
WAIT_FOR_CLAIM_SECONDS = 30
# The trigger function's timeout (template.yaml, Globals): a call whose record is younger may still
# be queueing its recipients.
FIRST_CALL_MAX_SECONDS = 10


def backoff_seconds(receive_count: int) -> int:
    """Exponential backoff with jitter for a message that must come back (throttled sends)."""
    base = min(MAX_DELAY_SECONDS, 5 * 2 ** max(0, receive_count - 1))
    return int(base * (0.8 + 0.4 * random.random()))  # noqa: S311 # nosec B311  # jitter, not security


def redelivery_seconds(receive_count: int, *, waiting_only: bool) -> int:
    """The visibility timeout of a message that must come back. Every recipient it waits for being
    claimed by another run that is sending now, that run will have recorded its outcome within a
    function timeout: a short fixed wait fits better than the growing backoff throttling needs."""
    return WAIT_FOR_CLAIM_SECONDS if waiting_only else backoff_seconds(receive_count)


def out_of_time_seconds(remaining_ms: int) -> int:
    """The visibility timeout of a record a delivery run hands back near its timeout, with recipients it
    did not start: the time that run has left. It comes back once that run has certainly ended (Lambda
    stops it at its timeout at the latest), so the outcomes the run wrote at its end are there: a
    recipient of the same record it did send reads as sent, instead of a claim to wait for."""
    return max(1, min(WAIT_FOR_CLAIM_SECONDS, math.ceil(remaining_ms / 1000)))


def replay_delay_seconds(first_call_age: float) -> int:
    """The DelaySeconds of the copies a replayed request re-queues. While the first call may still
    be running (a duplicate sent at the same time), its copies are delivered only once it must have
    ended: by then its own messages are queued, and the copies find their recipients done instead
    of each waiting on another run's claim."""
    return max(0, min(FIRST_CALL_MAX_SECONDS, math.ceil(FIRST_CALL_MAX_SECONDS - first_call_age)))
