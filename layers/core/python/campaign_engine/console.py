"""The web console's static files, served by the api function at /console/ (template.yaml: Console,
ConsoleAsset; public routes, as the files hold no data and no key).

Its address is /console/ (the page, index.html, as a static web server serves a folder's index: the
address stays as typed and its relative links resolve under it); /console redirects to
/console/index.html. An HTTP API has no route for /console/ (a route's path may not end in "/", and
{proxy+} needs at least one character): API Gateway matches /console/ to the route GET /console,
trailing slash ignored, and the raw path keeps the slash, which is what tells the two apart here.

Only the files shipped in the console folder are served, each with its content type, a strict
Content-Security-Policy and caching headers: the vendored libraries sit under a versioned folder
and are cached for a year; every other file is revalidated on each load (ETag, 304), since a
console without a build step has no content hashes in its file names."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

CONSOLE_ROUTES = frozenset({"GET /console", "GET /console/{proxy+}"})

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".md": "text/plain; charset=utf-8",
}

# Scripts and styles only from the console's own origin, no inline script, no third party; data calls
# only to this API (connect-src 'self'). Two allowances exist for the email preview alone: an email is
# styled inline and shows remote images, and its sandboxed srcdoc frame (sandbox="": no script, no
# forms, an opaque origin) inherits this policy, so inline styles and https images are allowed.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: https:",
        "connect-src 'self'",
        "font-src 'self'",
        "frame-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


class Asset(NamedTuple):  # not a Struct: msgspec's import would be 4 ms of the api's cold start
    body: str
    content_type: str
    etag: str
    cache_control: str


@lru_cache(maxsize=4)
def catalogue(root: Path) -> dict[str, Asset]:
    """Every servable file under root, read once per container: relative path -> Asset."""
    assets: dict[str, Asset] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        content_type = _TYPES.get(path.suffix)
        if not path.is_file() or content_type is None or any(part.startswith(".") for part in relative.split("/")):
            continue
        data = path.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        cache = IMMUTABLE if relative.startswith("vendor/") else REVALIDATE
        assets[relative] = Asset(data.decode("utf-8"), content_type, etag, cache)
    return assets


def is_console_request(event: dict[str, Any]) -> bool:
    return event.get("routeKey") in CONSOLE_ROUTES


def respond(root: Path, event: dict[str, Any]) -> dict[str, Any]:
    """The payload-2.0 answer for a console route: a file, 304, a redirect to the console's page, or 404."""
    if event.get("routeKey") == "GET /console" and not str(event.get("rawPath") or "").endswith("/"):
        # Relative, so that a stage or a custom domain's base path is kept.
        return _answer(308, {"Location": "console/index.html", "Cache-Control": REVALIDATE}, "")
    wanted = ((event.get("pathParameters") or {}).get("proxy") or "").strip("/") or "index.html"
    asset = catalogue(root).get(wanted)
    if asset is None:
        return _answer(404, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": REVALIDATE}, "Not found\n")
    headers = {"Content-Type": asset.content_type, "Cache-Control": asset.cache_control, "ETag": asset.etag}
    if asset.etag in _if_none_match(event):
        return _answer(304, headers, "")
    return _answer(200, headers, asset.body)


def _if_none_match(event: dict[str, Any]) -> set[str]:
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    value = headers.get("if-none-match", "")
    return {tag.strip().removeprefix("W/") for tag in value.split(",") if tag.strip()}


def _answer(status: int, headers: dict[str, str], body: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": {**headers, **_SECURITY_HEADERS}, "body": body, "isBase64Encoded": False}
