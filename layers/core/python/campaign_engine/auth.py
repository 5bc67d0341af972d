"""API keys and what they may do.

A key is shown once when created and stored only as its SHA-256, so a leaked table does not
leak keys (a key has ~238 random bits: a fast hash is enough, no salt or slow hash needed).
The authorizer resolves a key to a principal (scopes, labels), refusing revoked and expired
keys and, unread, tokens that are not keys (key_format.py); the functions then decide 401/403
themselves so every answer is problem+json."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from botocore.exceptions import BotoCoreError, ClientError

from campaign_engine import key_format, store
from campaign_engine.errors import DomainError
from campaign_engine.observability import logger
from campaign_engine.settings import get_settings
from campaign_engine.store import api_keys as _key_store  # noqa: F401 - every run reads a key: imported at start

SCOPES = ("campaigns:read", "campaigns:write", "campaigns:trigger", "profiles:write", "reports:read", "admin")
# A key's use is recorded at most once per this many seconds (store.touch_api_key): `lastUsedAt` is
# "used at about this time, or up to 15 minutes later", and a busy key costs 4 writes an hour, not one a call.
LAST_USED_EVERY_SECONDS = 15 * 60
# Why the authorizer found no principal, as the 401's detail says it.
_REFUSALS = {
    "malformed_key": " (this is not an API key of this platform: check that it was copied whole)",
    "unknown_key": " (the key is not known)",
    "revoked_key": " (the key was revoked)",
    "expired_key": " (the key has expired)",
}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def timestamp(at: datetime) -> str:
    """The one text form of a key's times: fixed width, so that DynamoDB compares them as times."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_scopes(scopes: list[str]) -> None:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"unknown scopes {unknown}; choose from {', '.join(SCOPES)}")


def create_api_key(
    name: str,
    scopes: list[str],
    key: str | None = None,
    labels: list[str] | None = None,
    *,
    expires_at: datetime | None = None,
    created_by: str | None = None,
) -> str:
    """Stores a new key and returns it in clear (the only time it exists in clear). A chosen `key`
    (LOCAL_API_KEY) that is not of key_format's shape works only where unchecked keys are accepted."""
    check_scopes(scopes)
    if "admin" in scopes and labels is not None:
        raise ValueError("an admin key reaches every campaign: labels would not limit it")
    clear = key or key_format.new_key()
    if len(clear) < 16:
        raise ValueError("an API key needs at least 16 characters")
    store.put_api_key(
        key_hash=hash_key(clear),
        key_id=new_key_id(),
        name=name,
        scopes=scopes,
        labels=labels,
        created_at=timestamp(datetime.now(UTC)),
        expiresAt=timestamp(expires_at) if expires_at else None,
        createdBy=created_by,
    )
    return clear


def new_key_id() -> str:
    return "key_" + secrets.token_hex(8)


class Principal(msgspec.Struct, frozen=True):
    key_id: str
    scopes: frozenset[str]
    # None: every campaign. A set: only campaigns that carry labels, all of which belong to it.
    labels: frozenset[str] | None

    def can(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    @property
    def label_limited(self) -> bool:
        return self.labels is not None and "admin" not in self.scopes

    def may_access(self, campaign_labels: list[str]) -> bool:
        """A label-limited key reaches a campaign only if it holds every one of its labels, and
        never an unlabelled one: "no labels" means "for unrestricted keys only", not "for all"."""
        if self.labels is None or "admin" in self.scopes:
            return True
        return bool(campaign_labels) and self.labels.issuperset(campaign_labels)


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authorizer_context(authorization: str | None, now: datetime | None = None) -> dict[str, Any]:
    """What the authorizer passes on: a principal, or why there is none. A token that is not a key of
    key_format's shape is refused without a read (unless unchecked keys are accepted)."""
    token = bearer_token(authorization)
    if token is None:
        return {"authenticated": False, "error": "malformed_authorization"}
    if not key_format.is_well_formed(token) and not get_settings().accept_unchecked_keys:
        return {"authenticated": False, "error": "malformed_key"}
    key_hash = hash_key(token)
    record = store.get_api_key(key_hash)
    if record is None:
        return {"authenticated": False, "error": "unknown_key"}
    now = now or datetime.now(UTC)
    if record.get("revokedAt"):
        return {"authenticated": False, "error": "revoked_key"}
    if record.get("expiresAt") and record["expiresAt"] <= timestamp(now):
        return {"authenticated": False, "error": "expired_key"}
    _record_use(key_hash, record.get("lastUsedAt"), now)
    context: dict[str, Any] = {"authenticated": True, "keyId": record["keyId"], "scopes": record["scopes"]}
    if record.get("labels") is not None:
        context["labels"] = record["labels"]
    return context


def authorizer_answer(authorization: str | None) -> dict[str, Any]:
    """The authorizer's simple response. It allows every request, passing the principal or why there is
    none, so the functions answer 401 as problem+json; where RefuseUnknownKeysAtGateway is on, a request
    without a valid key is denied instead: API Gateway answers it 403 itself, and no function runs."""
    context = authorizer_context(authorization)
    allowed = bool(context.get("authenticated")) or not get_settings().refuse_at_gateway
    return {"isAuthorized": allowed, "context": context}


def _record_use(key_hash: str, last_used_at: str | None, now: datetime) -> None:
    """lastUsedAt, written only when the stored one is older than LAST_USED_EVERY_SECONDS. A failed write
    costs the key nothing: the call is authenticated all the same."""
    stale_before = timestamp(now - timedelta(seconds=LAST_USED_EVERY_SECONDS))
    if last_used_at is not None and last_used_at >= stale_before:
        return
    try:
        store.api_keys.touch_api_key(key_hash, timestamp(now), stale_before)
    except (ClientError, BotoCoreError) as error:
        logger.warning("last use not recorded", error=type(error).__name__)


def principal_from_context(context: dict[str, Any] | None) -> Principal:
    """Raises 401 unless the authorizer resolved a key."""
    if not context or context.get("authenticated") in (False, "false", None):
        reason = (context or {}).get("error", "missing_key")
        raise DomainError(
            code="unauthorized",
            detail="Send a valid API key as 'Authorization: Bearer <key>'" + _REFUSALS.get(str(reason), ""),
        )
    labels = context.get("labels")
    return Principal(
        key_id=str(context.get("keyId", "")),
        scopes=frozenset(str(context.get("scopes", "")).split()),
        labels=None if labels is None else frozenset(filter(None, str(labels).split(","))),
    )


def require(principal: Principal, scope: str) -> None:
    if not principal.can(scope):
        raise DomainError(code="forbidden", detail=f"This API key lacks the {scope!r} scope")


def no_access(campaign_id: str | None = None) -> DomainError:
    """The one answer for a campaign a key may not reach, whether or not it exists, so that a
    label-limited key learns neither that nor the campaign's state. (An execution's campaign id
    is not named: the caller did not send it.)"""
    return DomainError(
        code="forbidden",
        detail="This API key has no access to this campaign (its access labels)",
        extra={"campaignId": campaign_id} if campaign_id else {},
    )


def require_labels(principal: Principal, campaign_labels: list[str], campaign_id: str | None) -> None:
    if not principal.may_access(campaign_labels):
        raise no_access(campaign_id)


def campaign_not_found(principal: Principal, campaign_id: str) -> DomainError:
    """404 for a key that may see every campaign; for a label-limited key the 403 it gets for any
    campaign it may not reach: a campaign that does not exist is one of those."""
    if principal.label_limited:
        return no_access(campaign_id)
    return DomainError(code="campaign_not_found", detail=f"No campaign with id {campaign_id!r}")


def may_access_campaign(principal: Principal, head: store.CampaignHead) -> bool:
    """The labels of the current version and of a pending draft alike: a key sees the campaign
    only if it may see both (an edit that changes the labels is not visible to the keys it excludes)."""
    if not principal.label_limited:
        return True
    if not principal.may_access(head.doc.get("labels") or []):
        return False
    return head.draft is None or principal.may_access(head.draft.get("labels") or [])


def require_campaign_access(
    principal: Principal, head: store.CampaignHead | None, campaign_id: str
) -> store.CampaignHead:
    """The campaign if this key may reach it; else 404 (unrestricted keys) or 403, before anything
    about the campaign is checked or said."""
    if head is None:
        raise campaign_not_found(principal, campaign_id)
    if not may_access_campaign(principal, head):
        raise no_access(campaign_id)
    return head
