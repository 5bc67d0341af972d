"""Feedback webhooks: recipient events published to the campaign's webhook and to the global one.

Delivery (sent, failed) and feedback (delivered, bounced, complained) call `publish` with the events of
a run once its outcomes are recorded. Publishing only enqueues: the events for each endpoint, filtered
by the events it asked for, go into the webhooks queue in messages of up to EVENTS_PER_MESSAGE events,
in one SendMessageBatch per ten messages; the webhooks function (webhook_sender.py) makes the HTTPS
calls, with retries. So a slow or failing endpoint never slows a send, and publishing costs nothing when
no webhook is configured (the configuration is read through per-container caches: the campaign's live
snapshot, which delivery reads anyway, and the global webhook, at most once per GLOBAL_CACHE_SECONDS).
A publish that fails is logged and counted (WebhookEventsDropped), never raised: the send it reports
has happened and is recorded.

The queue message (`WebhookMessage`) is the contract between this module and the webhooks function;
it carries the events, the endpoint's URL at the time and which secret signs them, never the secret.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

import msgspec

from campaign_engine import aws
from campaign_engine.containers import per_container
from campaign_engine.observability import logger, metrics
from campaign_engine.settings import get_settings
from campaign_engine.store import webhooks as webhook_store

EVENT_TYPES = ("sent", "delivered", "bounced", "complained", "opened", "clicked", "failed")
FORMAT_VERSION = 1
EVENTS_PER_MESSAGE = 100
MAX_MESSAGE_BYTES = 256 * 1024
GLOBAL_CACHE_SECONDS = 30.0
GLOBAL = "global"
CAMPAIGN = "campaign"


class RecipientEvent(msgspec.Struct, frozen=True):
    campaign_id: str
    execution_id: str
    user_id: str
    status: str  # one of EVENT_TYPES
    reason: str | None
    at: str  # ISO-8601, when it happened

    def payload(self) -> dict[str, Any]:
        """The event as the receiver reads it."""
        body: dict[str, Any] = {
            "executionId": self.execution_id,
            "campaignId": self.campaign_id,
            "userId": self.user_id,
            "status": self.status,
        }
        if self.reason:
            body["reason"] = self.reason
        body["at"] = self.at
        return body


class Endpoint(msgspec.Struct, frozen=True):
    """A configured webhook: which secret signs for it (`target`, and the campaign for a campaign's)."""

    target: str  # CAMPAIGN or GLOBAL
    url: str
    events: frozenset[str]
    campaign_id: str | None = None


class UnknownFormat(Exception):
    """A webhooks queue message of another format version."""


class WebhookMessage(msgspec.Struct, frozen=True):
    """One POST to make: `id` is the Webhook-Id header, the same on every retry (receivers deduplicate on it)."""

    id: str
    target: str
    url: str
    events: list[dict[str, Any]]
    campaign_id: str | None = None

    def encode(self) -> str:
        return json.dumps(
            {
                "v": FORMAT_VERSION,
                "id": self.id,
                "target": self.target,
                "campaignId": self.campaign_id,
                "url": self.url,
                "events": self.events,
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, body: str) -> WebhookMessage:
        data = json.loads(body)
        if not isinstance(data, dict) or data.get("v") != FORMAT_VERSION:
            raise UnknownFormat(f"webhook message version {data.get('v') if isinstance(data, dict) else None!r}")
        return cls(
            id=str(data["id"]),
            target=str(data["target"]),
            url=str(data["url"]),
            events=list(data["events"]),
            campaign_id=data.get("campaignId"),
        )

    def body(self) -> bytes:
        """What is POSTed (and signed)."""
        return json.dumps({"id": self.id, "events": self.events}, separators=(",", ":")).encode()


# ---------------------------------------------------------------------------
# Configuration, cached per container
# ---------------------------------------------------------------------------
_global_cache: dict[str, tuple[float, Endpoint | None]] = per_container({})
_lock = threading.Lock()


def global_endpoint() -> Endpoint | None:
    with _lock:
        cached = _global_cache.get(GLOBAL)
        now = time.monotonic()
        if cached is not None and now - cached[0] < GLOBAL_CACHE_SECONDS:
            return cached[1]
    stored = webhook_store.get_global()
    endpoint = Endpoint(GLOBAL, stored.url, frozenset(stored.events)) if stored else None
    with _lock:
        _global_cache[GLOBAL] = (now, endpoint)
    return endpoint


def forget_global() -> None:
    """A change made through this container is seen by its next publish at once."""
    with _lock:
        _global_cache.pop(GLOBAL, None)


def campaign_endpoint(campaign_id: str) -> Endpoint | None:
    """The live version's webhook, from the snapshot delivery and the trigger already cache."""
    from campaign_engine.campaign_gate import live_snapshot

    snapshot = live_snapshot(campaign_id)
    live = snapshot[1] if snapshot else None
    webhook = (live or {}).get("webhook")
    if not isinstance(webhook, dict) or not webhook.get("url"):
        return None
    events = webhook.get("events") or EVENT_TYPES
    return Endpoint(CAMPAIGN, str(webhook["url"]), frozenset(events), campaign_id)


# ---------------------------------------------------------------------------
# Publishing
# ---------------------------------------------------------------------------
def messages_for(events: list[RecipientEvent], endpoints: dict[str, list[Endpoint]]) -> list[WebhookMessage]:
    """The messages for these events: per endpoint, the events it asked for, in chunks."""
    grouped: dict[Endpoint, list[dict[str, Any]]] = {}
    for event in events:
        for endpoint in endpoints.get(event.campaign_id, []):
            if event.status in endpoint.events:
                grouped.setdefault(endpoint, []).append(event.payload())
    messages = []
    for endpoint, payloads in grouped.items():
        chunk: list[dict[str, Any]] = []
        size = 0
        for payload in payloads:
            length = len(json.dumps(payload))
            if chunk and (len(chunk) == EVENTS_PER_MESSAGE or size + length > MAX_MESSAGE_BYTES):
                messages.append(_message(endpoint, chunk))
                chunk, size = [], 0
            chunk.append(payload)
            size += length
        if chunk:
            messages.append(_message(endpoint, chunk))
    return messages


def _message(endpoint: Endpoint, payloads: list[dict[str, Any]]) -> WebhookMessage:
    return WebhookMessage(
        id=f"wh_{uuid.uuid4().hex}",
        target=endpoint.target,
        url=endpoint.url,
        events=payloads,
        campaign_id=endpoint.campaign_id,
    )


def _endpoints(campaign_ids: set[str]) -> dict[str, list[Endpoint]]:
    shared = global_endpoint()
    found: dict[str, list[Endpoint]] = {}
    for campaign_id in campaign_ids:
        own = campaign_endpoint(campaign_id)
        found[campaign_id] = [e for e in (own, shared) if e is not None]
    return found


def publish(events: Iterable[RecipientEvent], *, strict: bool = False) -> int:
    """Queues the events for every webhook that asked for them; returns how many messages were queued.
    Never raises: a failure is logged and counted; unless `strict`, for a caller that can publish them
    again (feedback: its batch is retried, so its events are published at least once)."""
    listed = [e for e in events if e.status in EVENT_TYPES]
    if not listed:
        return 0
    try:
        messages = messages_for(listed, _endpoints({e.campaign_id for e in listed}))
        if messages:
            _enqueue(messages)
    except Exception as error:  # the send it reports has happened: never fail the caller for a webhook
        if strict:
            raise
        logger.warning("webhook events not queued", events=len(listed), error=type(error).__name__)
        metrics.add_metric(name="WebhookEventsDropped", unit="Count", value=len(listed))
        return 0
    if messages:
        logger.info("webhook events queued", events=len(listed), messages=len(messages))
    return len(messages)


def _enqueue(messages: list[WebhookMessage]) -> None:
    client = aws.sqs()
    url = get_settings().webhooks_queue_url
    for start in range(0, len(messages), 10):
        entries = [{"Id": str(n), "MessageBody": m.encode()} for n, m in enumerate(messages[start : start + 10])]
        for attempt in range(3):
            failed = {f["Id"] for f in client.send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])}
            entries = [e for e in entries if e["Id"] in failed]
            if not entries:
                break
            time.sleep(0.05 * 2**attempt)
        if entries:
            raise RuntimeError(f"SQS refused {len(entries)} webhook messages")
