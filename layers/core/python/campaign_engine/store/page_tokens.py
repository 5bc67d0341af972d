"""Page tokens: a scan's or query's last evaluated key, as an opaque URL-safe string."""

from __future__ import annotations

import base64
import json
from typing import Any

from campaign_engine.store.errors import BadPageToken


def encode_token(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str | None) -> dict[str, Any] | None:
    """The object a token holds; callers check its shape (a caller can forge any object)."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, RecursionError):
        raise BadPageToken from None
    if not isinstance(key, dict):
        raise BadPageToken
    return key
