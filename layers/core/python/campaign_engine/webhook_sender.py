"""The webhooks function: POSTs each queued message of events to its endpoint, signed, with retries.

Each record of a batch is one POST, made in parallel (a slow endpoint holds its own record only).
A POST answered 2xx is done. Anything else - another status (a redirect is not followed), a timeout, a
refused address - is retried by the queue: the record is reported failed and kept invisible for an
exponential backoff (30 s, 1 min, 2 min, ... up to an hour, with jitter), and after MAX_ATTEMPTS
receives the queue's redrive policy moves it to the dead-letter queue (template.yaml: maxReceiveCount
is the same number), where the WebhooksDeadLetterAlarm sees it.

Every attempt resolves the URL again and checks every address (webhook_guard.py), then connects to
the address it checked, with TLS's server name and the Host header taken from the URL: a name that
resolves to a private address by then is refused whatever it resolved to when the webhook was set.
Short timeouts (3 s to connect, 10 s for the whole exchange) and at most 64 KB of the answer read.

Logged: the message id, the endpoint's host, the status or error, the attempt. Never the URL's path
(it may hold a token), the secret or the events (they name people).
"""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec

from campaign_engine import aws, webhook_guard, webhook_signature
from campaign_engine.containers import per_container
from campaign_engine.observability import logger, metrics
from campaign_engine.settings import get_settings
from campaign_engine.webhooks import GLOBAL, UnknownFormat, WebhookMessage

MAX_ATTEMPTS = 8  # template.yaml: WebhooksQueue's maxReceiveCount
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
CONNECT_TIMEOUT_SECONDS = 3.0
TOTAL_TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 64 * 1024
SECRET_CACHE_SECONDS = 10.0
USER_AGENT = "triggered-campaigns-webhooks/1"


class Attempt(msgspec.Struct, frozen=True):
    ok: bool
    status: int | None = None
    error: str | None = None


Transport = Callable[[webhook_guard.Target, bytes, dict[str, str]], int]


def backoff_seconds(attempt: int) -> int:
    """How long a message stays away after its `attempt`-th failed try (1-based), jitter included."""
    base = min(BACKOFF_BASE_SECONDS * 2 ** max(attempt - 1, 0), BACKOFF_MAX_SECONDS)
    return int(base + random.uniform(0, base / 10))  # noqa: S311 # nosec B311  # retry jitter, not a secret


# ---------------------------------------------------------------------------
# HTTP, to the checked address
# ---------------------------------------------------------------------------
class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to `ip`, with the Host header of the URL's host (only the local stack's receiver is plain HTTP)."""

    def __init__(self, host: str, port: int, *, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to `ip`, verifying the certificate of (and sending SNI for) the URL's host."""

    def __init__(self, host: str, port: int, *, ip: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._ip = ip
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


def http_post(target: webhook_guard.Target, body: bytes, headers: dict[str, str]) -> int:
    """POSTs and returns the status; never follows a redirect, reads at most MAX_RESPONSE_BYTES, and gives
    up after TOTAL_TIMEOUT_SECONDS whatever the endpoint does (a slow drip included)."""
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        context = ssl.create_default_context()
        connection = _PinnedHTTPSConnection(
            target.host, target.port, ip=target.ip, timeout=CONNECT_TIMEOUT_SECONDS, context=context
        )
    else:
        connection = _PinnedHTTPConnection(target.host, target.port, ip=target.ip, timeout=CONNECT_TIMEOUT_SECONDS)
    watchdog = threading.Timer(TOTAL_TIMEOUT_SECONDS, _cut, args=(connection,))
    watchdog.start()
    try:
        connection.connect()
        if connection.sock is not None:
            connection.sock.settimeout(TOTAL_TIMEOUT_SECONDS)
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        return response.status
    finally:
        watchdog.cancel()
        connection.close()


def _cut(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


_transport: list[Transport] = [http_post]


# ---------------------------------------------------------------------------
# Secrets, cached briefly per container (a rotation reaches warm containers within SECRET_CACHE_SECONDS)
# ---------------------------------------------------------------------------
_secrets: dict[tuple[str, str | None], tuple[float, str | None]] = per_container({})
_secrets_lock = threading.Lock()


def _secret(message: WebhookMessage) -> str | None:
    from campaign_engine.store import webhooks as store

    key = (message.target, message.campaign_id)
    now = time.monotonic()
    with _secrets_lock:
        cached = _secrets.get(key)
        if cached is not None and now - cached[0] < SECRET_CACHE_SECONDS:
            return cached[1]
    if message.target == GLOBAL:
        stored = store.get_global()
        secret = stored.secret if stored else None
    else:
        secret = store.get_campaign_secret(message.campaign_id or "")
    with _secrets_lock:
        _secrets[key] = (now, secret)
    return secret


# ---------------------------------------------------------------------------
# One message
# ---------------------------------------------------------------------------
def attempt(message: WebhookMessage, secret: str) -> Attempt:
    """One signed POST of the message."""
    settings = get_settings()
    try:
        target = webhook_guard.resolve(message.url, local_receiver=settings.webhooks_local_receiver)
    except webhook_guard.RefusedUrl as refused:
        return Attempt(False, error=f"refused: {refused}")
    body = message.body()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Webhook-Id": message.id,
        webhook_signature.HEADER: webhook_signature.sign(secret, body, int(time.time())),
    }
    try:
        status = _transport[0](target, body, headers)
    except (OSError, http.client.HTTPException) as error:
        return Attempt(False, error=type(error).__name__)
    return Attempt(200 <= status < 300, status=status)


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def deliver_record(record: dict[str, Any]) -> str:
    """One record: 'delivered', 'dropped' (nothing to sign with: the webhook was removed), or 'retry'."""
    receive_count = int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
    try:
        message = WebhookMessage.decode(record["body"])
    except (UnknownFormat, ValueError, KeyError, TypeError) as error:
        logger.error("webhook message unreadable; retried until the DLQ", error=type(error).__name__)
        return "retry"
    context = {"webhook_id": message.id, "host": _host(message.url), "target": message.target, "attempt": receive_count}
    secret = _secret(message)
    if secret is None:
        logger.info("webhook removed since these events were queued: dropped", extra=context)
        return "dropped"
    result = attempt(message, secret)
    if result.ok:
        logger.info("webhook delivered", extra={**context, "status": result.status, "events": len(message.events)})
        return "delivered"
    last = receive_count >= MAX_ATTEMPTS
    delay = 0 if last else backoff_seconds(receive_count)
    logger.warning(
        "webhook attempt failed" + ("; to the dead-letter queue" if last else "; retried later"),
        extra={**context, "status": result.status, "error": result.error, "retry_in_seconds": delay},
    )
    _come_back_in(record, delay)
    return "given_up" if last else "retry"


def _come_back_in(record: dict[str, Any], seconds: int) -> None:
    try:
        aws.sqs().change_message_visibility(
            QueueUrl=get_settings().webhooks_queue_url,
            ReceiptHandle=record["receiptHandle"],
            VisibilityTimeout=seconds,
        )
    except Exception as error:  # it comes back after the queue's visibility timeout instead
        logger.warning("webhook backoff not set", error=type(error).__name__)


def deliver_batch(event: dict[str, Any]) -> dict[str, Any]:
    """The SQS event of the webhooks queue; the partial batch response names the records to retry."""
    records = list(event.get("Records") or [])
    if not records:
        return {"batchItemFailures": []}
    with ThreadPoolExecutor(max_workers=min(len(records), 10)) as pool:
        outcomes = list(pool.map(_safely, records))
    counts = Counter(outcomes)
    for name, key in (
        ("WebhooksDelivered", "delivered"),
        ("WebhooksRetried", "retry"),
        ("WebhooksGivenUp", "given_up"),
        ("WebhooksDropped", "dropped"),
    ):
        if counts[key]:
            metrics.add_metric(name=name, unit="Count", value=counts[key])
    return {
        "batchItemFailures": [
            {"itemIdentifier": record["messageId"]}
            for record, outcome in zip(records, outcomes, strict=True)
            if outcome in ("retry", "given_up")
        ]
    }


def _safely(record: dict[str, Any]) -> str:
    try:
        return deliver_record(record)
    except Exception as error:  # a store read failed: the record comes back after its visibility timeout
        logger.error("webhook record failed", error=type(error).__name__)
        return "retry"
