"""How a webhook POST is signed, and how a receiver checks it (Stripe's and Standard Webhooks' scheme).

`Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. The secret is the
string shown once (`whsec_...`), used as UTF-8 bytes. The timestamp is signed with the body, so a
receiver that refuses a `t` older than a few minutes refuses a replayed request: an attacker who saw one
cannot re-sign it with a fresh time. Each retry is signed again with its own time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SECRET_PREFIX = "whsec_"  # noqa: S105 # nosec B105  # the prefix, not a secret
HEADER = "Webhook-Signature"
TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header's value for this body at this time."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    secret: str, body: bytes, header: str, *, now: float | None = None, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """What a receiver does: the timestamp is recent and one v1 signature matches (compared in constant time)."""
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [value for name, value in fields if name.strip() == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return any(name.strip() == "v1" and hmac.compare_digest(value, expected) for name, value in fields)
