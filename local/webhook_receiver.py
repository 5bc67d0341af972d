"""The local stack's webhook receiver: somewhere to point a campaign's (or the global) webhook at.

`POST /_local/webhooks/<name>` (no key: a webhook sender has none) keeps what arrived - the name, the
headers that matter (Webhook-Id, Webhook-Signature, Content-Type, User-Agent), the raw body exactly as
signed, its events, and when - and answers 200. A name `status-<code>` answers that status instead
(`status-500`, `status-410`), to watch the retries. `GET /_local/webhooks` (admin key; `?name=` to
filter) lists what arrived, oldest first; `DELETE /_local/webhooks` forgets it.

The local stack sets WEBHOOKS_LOCAL_RECEIVER to `<base url>/_local/webhooks/`: the one loopback URL
the webhooks function may call (webhook_guard.py). template.yaml never sets it.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from datetime import UTC, datetime
from typing import Any

KEPT_HEADERS = ("webhook-id", "webhook-signature", "content-type", "user-agent")
MAX_KEPT = 10_000
PATH = "/_local/webhooks"
_STATUS_NAME = re.compile(r"^status-([1-5][0-9]{2})$")


class WebhookReceiver:
    def __init__(self) -> None:
        self._items: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def receive(self, event: dict[str, Any]) -> dict[str, Any]:
        name = str((event.get("pathParameters") or {}).get("name") or "")
        raw = event.get("body") or ""
        body = base64.b64decode(raw).decode("utf-8", "replace") if event.get("isBase64Encoded") else str(raw)
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        try:
            events = json.loads(body).get("events")
        except (ValueError, AttributeError):
            events = None
        forced = _STATUS_NAME.match(name)
        status = int(forced.group(1)) if forced else 200
        item = {
            "name": name,
            "receivedAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "headers": {k: headers[k] for k in KEPT_HEADERS if k in headers},
            "body": body,
            "events": events,
            "answered": status,
        }
        with self._lock:
            self._items.append(item)
            del self._items[:-MAX_KEPT]
        return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": '{"received":true}'}

    def items(self, name: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(item) for item in self._items if name is None or item["name"] == name]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
