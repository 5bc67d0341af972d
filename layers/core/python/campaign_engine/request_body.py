"""An API Gateway request's body as JSON text, or the 4xx that says why it cannot be one.

Shared by the Powertools resolver (routes/resolver.py) and the trigger's own route
(routes/unitary.py), so that every route with a body refuses the same bodies the same way:
a body that is not JSON by its Content-Type is 415, one that is not UTF-8 is 400 invalid_json.
Kept free of pydantic and Powertools: the trigger imports it on its cold start."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from campaign_engine.errors import DomainError, FieldError, invalid_json

# A Content-Type absent altogether is taken as JSON, as Powertools does: every body is JSON.
JSON_MEDIA_TYPE = "application/json"


def is_json_media_type(content_type: str | None) -> bool:
    """application/json, or a structured syntax suffix (application/problem+json, ...)."""
    if not content_type:
        return True
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == JSON_MEDIA_TYPE or (media_type.startswith("application/") and media_type.endswith("+json"))


def unsupported_media_type(content_type: str) -> DomainError:
    return DomainError(
        code="unsupported_media_type",
        detail=f"The body must be JSON sent as 'Content-Type: application/json', not {content_type[:100]!r}",
        errors=[FieldError("Content-Type", "must be application/json")],
    )


def json_text(event: dict[str, Any]) -> str:
    """The body as text ('' when there is none); 415 when its Content-Type is not JSON, 400
    invalid_json when it is not UTF-8. API Gateway lower-cases header names in payload 2.0."""
    body = event.get("body") or ""
    if not body:
        return ""
    content_type = (event.get("headers") or {}).get("content-type")
    if not is_json_media_type(content_type):
        raise unsupported_media_type(str(content_type))
    if not event.get("isBase64Encoded"):
        return str(body)
    try:
        return base64.b64decode(body).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_json("the body is not UTF-8 text") from None


def too_deep() -> DomainError:
    """A body nested deeper than the parser can follow (RecursionError) is malformed JSON here."""
    return invalid_json("it is nested too deep")
