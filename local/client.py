"""A minimal JSON-over-HTTP client (standard library only) for seeding, tests and benchmarks."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

Answer = tuple[int, dict[str, str], Any]
TIMEOUT_SECONDS = 30.0


def request(
    base_url: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    key: str | None = None,
    timeout: float | None = TIMEOUT_SECONDS,
) -> Answer:
    """(status, lower-cased headers, then the body: parsed JSON, text, or None when empty).

    `body` is sent as JSON unless it is already str or bytes; `key` becomes a Bearer token;
    `timeout` bounds each wait on the socket (None: no bound)."""
    target = urlsplit(base_url)
    sent = {name.lower(): value for name, value in (headers or {}).items()}
    if key is not None:
        sent["authorization"] = f"Bearer {key}"
    data: bytes | None = None
    if body is not None:
        data = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
        sent.setdefault("content-type", "application/json")
    connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=timeout)
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        answer_headers: dict[str, str] = {}
        for name, value in response.getheaders():
            # Repeated headers (Set-Cookie, say) are joined, as HTTP allows for most of them.
            earlier = answer_headers.get(name.lower())
            answer_headers[name.lower()] = f"{earlier}, {value}" if earlier else value
    finally:
        connection.close()
    if not raw:
        return response.status, answer_headers, None
    text = raw.decode("utf-8", "replace")
    if "json" in answer_headers.get("content-type", ""):
        try:
            return response.status, answer_headers, json.loads(text)
        except ValueError:
            pass
    return response.status, answer_headers, text
