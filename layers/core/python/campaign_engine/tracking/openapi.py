"""The public tracking routes as the OpenAPI document describes them (the tracking function answers
them without Powertools' resolver, so they are written here, next to what serves them)."""

from __future__ import annotations

from typing import Any

_TOKEN = {
    "name": "token",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "maxLength": 2048},
    "description": "A signed token from an email (key id, payload and signature, base64url); opaque, no personal data",
}
_PAGE = {"text/html": {"schema": {"type": "string"}}}
_BINARY = {"type": "string", "format": "binary"}
_NOT_VALID = {
    "description": "The token is malformed, tampered with, retired (its key was removed) or of another route; "
    "for a click, its link is not in the campaign's content. A plain page, never a redirect.",
    "content": _PAGE,
}
_UNAVAILABLE = {"description": "The signing keys cannot be read right now (try again)", "content": _PAGE}


def _operation(operation_id: str, summary: str, description: str, responses: dict[str, Any]) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "tags": ["Tracking"],
        "summary": summary,
        "description": description,
        "parameters": [_TOKEN],
        "security": [],
        "responses": {**responses, "404": _NOT_VALID, "503": _UNAVAILABLE},
    }


def _pixel(method: str) -> dict[str, Any]:
    return _operation(
        f"trackOpen{method.title()}",
        f"Open pixel ({method})",
        "A 1x1 transparent GIF. Records an open: a person's moves the recipient to `opened`; prefetches "
        "(Apple Mail Privacy Protection), scanners, HEAD requests and hits right after the send are counted "
        "apart as `machine:opened`.",
        {"200": {"description": "The pixel", "content": {"image/gif": {"schema": _BINARY}}}},
    )


def _click(method: str) -> dict[str, Any]:
    return _operation(
        f"trackClick{method.title()}",
        f"Click redirect ({method})",
        "Redirects to the link at the token's index in the campaign version's stored content (never to a URL "
        "the request carries), and records a click as the pixel records an open (`machine:clicked` apart).",
        {"302": {"description": "To the link", "headers": {"Location": {"schema": {"type": "string"}}}}},
    )


def paths() -> dict[str, Any]:
    return {
        "/t/o/{token}": {"get": _pixel("GET"), "head": _pixel("HEAD")},
        "/t/c/{token}": {"get": _click("GET"), "head": _click("HEAD")},
        "/t/u/{token}": {
            "get": _operation(
                "unsubscribePage",
                "Unsubscribe page",
                "A plain page whose button unsubscribes; the GET itself changes nothing (mail scanners follow links).",
                {"200": {"description": "The page", "content": _PAGE}},
            ),
            "post": _operation(
                "unsubscribeOneClick",
                "One-click unsubscribe (RFC 8058)",
                "Unsubscribes the person from the campaign's channel: the address is suppressed for marketing "
                "(reason `unsubscribe`), their stored profile's consent becomes `out`, the recipient shows "
                "`unsubscribedAt`. Safe to repeat. The body (`List-Unsubscribe=One-Click`) is not needed.",
                {"200": {"description": "A page saying it is done", "content": _PAGE}},
            ),
        },
    }
