"""API keys and what they may do.

A key is shown once when created and stored only as its SHA-256, so a leaked table does not
leak keys. The authorizer resolves a key to a principal (scopes, labels); the functions then
decide 401/403 themselves so every answer is problem+json."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from campaign_engine import store
from campaign_engine.errors import DomainError

SCOPES = ("campaigns:read", "campaigns:write", "campaigns:trigger", "profiles:write", "reports:read", "admin")
KEY_PREFIX = "tc_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(name: str, scopes: list[str], key: str | None = None, labels: list[str] | None = None) -> str:
    """Stores a new key and returns it in clear (the only time it exists in clear)."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"unknown scopes {unknown}; choose from {', '.join(SCOPES)}")
    clear = key or KEY_PREFIX + secrets.token_urlsafe(32)
    if len(clear) < 16:
        raise ValueError("an API key needs at least 16 characters")
    key_id = "key_" + hash_key(clear)[:12]
    store.put_api_key(
        key_hash=hash_key(clear),
        key_id=key_id,
        name=name,
        scopes=scopes,
        labels=labels,
        created_at=datetime.now(UTC).isoformat(),
    )
    return clear


@dataclass(frozen=True)
class Principal:
    key_id: str
    scopes: frozenset[str]
    # None: every campaign. A set: only campaigns whose labels all belong to it.
    labels: frozenset[str] | None

    def can(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    def may_access(self, campaign_labels: list[str]) -> bool:
        if "admin" in self.scopes or self.labels is None:
            return True
        return set(campaign_labels) <= self.labels


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authorizer_context(authorization: str | None) -> dict[str, Any]:
    """What the authorizer passes on: a principal, or why there is none."""
    token = bearer_token(authorization)
    if token is None:
        return {"authenticated": False, "error": "malformed_authorization"}
    record = store.get_api_key(hash_key(token))
    if record is None:
        return {"authenticated": False, "error": "unknown_key"}
    context: dict[str, Any] = {"authenticated": True, "keyId": record["keyId"], "scopes": record["scopes"]}
    if record.get("labels") is not None:
        context["labels"] = record["labels"]
    return context


def principal_from_context(context: dict[str, Any] | None) -> Principal:
    """Raises 401 unless the authorizer resolved a key."""
    if not context or context.get("authenticated") in (False, "false", None):
        reason = (context or {}).get("error", "missing_key")
        raise DomainError(
            code="unauthorized",
            status=401,
            title="Unauthorized",
            detail="Send a valid API key as 'Authorization: Bearer <key>'"
            + (" (the key is not known)" if reason == "unknown_key" else ""),
        )
    labels = context.get("labels")
    return Principal(
        key_id=str(context.get("keyId", "")),
        scopes=frozenset(str(context.get("scopes", "")).split()),
        labels=None if labels is None else frozenset(filter(None, str(labels).split(","))),
    )


def require(principal: Principal, scope: str) -> None:
    if not principal.can(scope):
        raise DomainError(
            code="forbidden", status=403, title="Forbidden", detail=f"This API key lacks the {scope!r} scope"
        )


def require_labels(principal: Principal, campaign_labels: list[str], campaign_id: str) -> None:
    if not principal.may_access(campaign_labels):
        raise DomainError(
            code="forbidden",
            status=403,
            title="Forbidden",
            detail="This API key has no access to the campaign's labels",
            extra={"campaignId": campaign_id},
        )
