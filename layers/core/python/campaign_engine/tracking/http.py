"""The public tracking routes (no API key: the token is the credential), as API Gateway HTTP API
(payload 2.0) answers:

- `GET|HEAD /t/o/{token}`: the open pixel, a 1x1 transparent GIF, never cached;
- `GET|HEAD /t/c/{token}`: a 302 to the link at the token's index in the campaign version's stored
  content (never to a URL the request brings);
- `GET /t/u/{token}`: a plain page whose button unsubscribes (a GET never unsubscribes: scanners
  follow links); `POST /t/u/{token}`: the one-click unsubscribe of RFC 8058 (its body,
  `List-Unsubscribe=One-Click`, is not needed), answered with a plain page.

A token that is malformed, tampered with, signed by a retired key, or of another kind, and a link
index the content does not hold, get a plain 404 page and no redirect. Recording an open or a click
never keeps the person from their pixel or their link: a failure to record is logged, and the answer
is the same.
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from typing import Any

from campaign_engine import store
from campaign_engine.containers import per_container
from campaign_engine.observability import logger, metrics
from campaign_engine.tracking import engagement, keys, links, machines, tokens, unsubscribe

# The smallest transparent GIF (43 bytes).
PIXEL = base64.b64encode(
    bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
).decode()
_COMMON_HEADERS = {
    "cache-control": "no-store, max-age=0",
    "referrer-policy": "no-referrer",  # the token never reaches the link's site in a Referer
    "x-robots-tag": "noindex, nofollow",
    "x-content-type-options": "nosniff",
}
_PAGE_HEADERS = {
    **_COMMON_HEADERS,
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
_CAMPAIGN_CACHE_SIZE = 256
_versions: dict[tuple[str, int], dict[str, Any] | None] = per_container({})


def handle(event: dict[str, Any]) -> dict[str, Any]:
    http = (event.get("requestContext") or {}).get("http") or {}
    method = str(http.get("method") or "GET").upper()
    path = str(event.get("rawPath") or http.get("path") or "")
    text = str((event.get("pathParameters") or {}).get("token") or "")
    route = path[:5]
    try:
        if route == "/t/o/" and method in ("GET", "HEAD"):
            return _open(text, method, event)
        if route == "/t/c/" and method in ("GET", "HEAD"):
            return _click(text, method, event)
        if route == "/t/u/" and method in ("GET", "POST"):
            return _unsubscribe(text, method)
    except keys.KeysUnavailable as exc:
        logger.error("tracking keys unavailable", why=str(exc))
        return _page(503, "Try again later", "This link cannot be followed right now. Please try again later.")
    known = route in ("/t/o/", "/t/c/", "/t/u/")
    return _page(405 if known else 404, "Not here", "There is nothing at this address.")


def _verified(text: str, kind: tokens.Kind) -> tokens.Token | None:
    try:
        return tokens.verify(keys.key_ring(), text, kind)
    except tokens.BadToken as exc:
        logger.info("tracking token refused", why=str(exc), kind=kind)
        metrics.add_metric(name="TrackingTokensRefused", unit="Count", value=1)
        return None


def _engagement(kind: engagement.Kind, token: tokens.Token, method: str, event: dict[str, Any]) -> None:
    http = (event.get("requestContext") or {}).get("http") or {}
    headers = event.get("headers") or {}
    now = time.time()
    machine = machines.machine_reason(
        method, headers.get("user-agent") or http.get("userAgent"), http.get("sourceIp"), token.issued_at, now
    )
    try:
        engagement.record(
            engagement.Engagement(
                kind=kind,
                campaign_id=token.campaign_id,
                execution_id=token.execution_id,
                user_id=token.recipient.user_id,
                at=datetime.fromtimestamp(now, UTC),
                machine=machine,
                link=token.link,
            )
        )
    except Exception:  # the person still gets their pixel or their link
        logger.exception("engagement not recorded", kind=kind, execution_id=token.execution_id)


def _open(text: str, method: str, event: dict[str, Any]) -> dict[str, Any]:
    token = _verified(text, "o")
    if token is None:
        return _not_valid()
    _engagement("opened", token, method, event)
    return {
        "statusCode": 200,
        "headers": {**_COMMON_HEADERS, "content-type": "image/gif"},
        "body": PIXEL,
        "isBase64Encoded": True,
    }


def _click(text: str, method: str, event: dict[str, Any]) -> dict[str, Any]:
    token = _verified(text, "c")
    if token is None:
        return _not_valid()
    url = _link(token)
    if url is None:
        logger.info("tracked link not in the campaign content", campaign_id=token.campaign_id, link=token.link)
        return _not_valid()
    _engagement("clicked", token, method, event)
    return {"statusCode": 302, "headers": {**_COMMON_HEADERS, "location": url}, "body": ""}


def _link(token: tokens.Token) -> str | None:
    """The URL at the token's index in the link table of its campaign version and locale."""
    key = (token.campaign_id, token.version)
    if key not in _versions:
        if len(_versions) >= _CAMPAIGN_CACHE_SIZE:
            _versions.clear()
        _versions[key] = store.get_campaign_version(token.campaign_id, token.version)  # versions never change
    campaign = _versions[key] or {}
    locale = ((campaign.get("content") or {}).get("locales") or {}).get(token.locale)
    table = links.link_table(str((locale or {}).get("html") or "")) if isinstance(locale, dict) else ()
    index = token.link
    return table[index] if index is not None and 0 <= index < len(table) else None


def _unsubscribe(text: str, method: str) -> dict[str, Any]:
    token = _verified(text, "u")
    if token is None:
        return _not_valid()
    if method == "GET":
        return _page(
            200,
            "Unsubscribe",
            "Do you want to stop receiving these emails?",
            '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
            '<button type="submit">Unsubscribe</button></form>',
        )
    unsubscribe.unsubscribe(token, datetime.now(UTC))
    return _page(200, "Unsubscribed", "You are unsubscribed: you will not receive these emails any more.")


def _not_valid() -> dict[str, Any]:
    return _page(404, "Link not valid", "This link is not valid, or it has expired.")


def _page(status: int, title: str, message: str, extra: str = "") -> dict[str, Any]:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;"
        "padding:0 1rem;line-height:1.5}button{font-size:1rem;padding:.5rem 1.25rem}</style></head>"
        f"<body><h1>{title}</h1><p>{message}</p>{extra}</body></html>"
    )
    return {"statusCode": status, "headers": dict(_PAGE_HEADERS), "body": body}
