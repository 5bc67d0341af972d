"""`/keys` (admin scope): create, list, read, revoke and rotate API keys.

- A key is shown once, in the answer that creates it; it is stored as its SHA-256 only.
- Revoking and expiry act at the authorizer, whose answers API Gateway caches for up to five
  minutes (template.yaml ReauthorizeEvery): a revoked or expired key stops working within that.
- Rotating makes a successor with the same name, scopes and labels; the old key is revoked at
  once, or keeps working until `oldKeyExpiresAt` (a grace period to deploy the new one).
- `admin` holds every scope and reaches every campaign, so an admin key may make any key,
  another admin key included; no key without `admin` manages keys at all.
- The last active admin key cannot be revoked (409 last_admin_key): make another first. If every
  admin key is lost anyway, `make api-key` writes one to the table with AWS credentials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from campaign_engine import key_format, store
from campaign_engine.auth import SCOPES, Principal, hash_key, new_key_id, require, timestamp
from campaign_engine.errors import DomainError, FieldError, validation_failed
from campaign_engine.models import StrictModel
from campaign_engine.observability import logger

# auth.SCOPES, as the body's type (tests/integration/test_keys.py holds them equal).
Scope = Literal["campaigns:read", "campaigns:write", "campaigns:trigger", "profiles:write", "reports:read", "admin"]
MAX_NAME = 100
MAX_LABEL = 64


def _printable(value: str, what: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{what} must not hold control characters (CR, LF, tab, ...)")
    return value


class KeyCreate(StrictModel):
    name: Annotated[
        str, Field(min_length=1, max_length=MAX_NAME, description="Who or what uses the key", examples=["ci"])
    ]
    scopes: Annotated[
        list[Scope],
        Field(min_length=1, max_length=len(SCOPES), description="What the key may do; `admin` is every scope"),
    ]
    labels: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=MAX_LABEL)]] | None,
        Field(
            max_length=50,
            description="Access labels: the key reaches only campaigns all of whose labels it holds. Absent: every "
            "campaign. Not with `admin`, which reaches every campaign.",
        ),
    ] = None
    expires_at: Annotated[
        AwareDatetime | None,
        Field(alias="expiresAt", description="When the key stops working (in the future); absent: never"),
    ] = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _printable(value, "name")

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str] | None) -> list[str] | None:
        for label in value or []:
            _printable(label, "a label")
            if "," in label:
                raise ValueError("a label must not hold a comma")
        return value


class KeyRotation(StrictModel):
    old_key_expires_at: Annotated[
        AwareDatetime | None,
        Field(
            alias="oldKeyExpiresAt",
            description="The old key keeps working until then (a grace period to deploy the new one; never beyond "
            "its own expiry). Absent: the old key is revoked now.",
        ),
    ] = None
    expires_at: Annotated[
        AwareDatetime | None,
        Field(
            alias="expiresAt",
            description="When the new key stops working. Absent: a key that expired keeps its lifetime (the new key "
            "lives as long from now as the old one was made to); one that did not, does not.",
        ),
    ] = None


class ApiKey(BaseModel):
    """A key as listed: never the key itself, nor its hash."""

    model_config = ConfigDict(populate_by_name=True)

    id: Annotated[str, Field(description="The key's public id (for DELETE and rotate)")]
    name: str
    scopes: list[str]
    labels: Annotated[list[str] | None, Field(description="Access labels; null: every campaign")] = None
    status: Annotated[
        Literal["active", "expired", "revoked"], Field(description="Whether the key works now (give or take the cache)")
    ]
    created_at: Annotated[str, Field(alias="createdAt")]
    created_by: Annotated[str | None, Field(alias="createdBy", description="The id of the key that made it")] = None
    expires_at: Annotated[str | None, Field(alias="expiresAt")] = None
    last_used_at: Annotated[
        str | None,
        Field(
            alias="lastUsedAt",
            description="When the key was last used, to within 15 minutes (the authorizer writes it at most every 15 "
            "minutes per key, and API Gateway caches its answers for 5); null: never",
        ),
    ] = None
    revoked_at: Annotated[str | None, Field(alias="revokedAt")] = None
    rotated_from: Annotated[str | None, Field(alias="rotatedFrom", description="The key this one replaced")] = None
    rotated_to: Annotated[str | None, Field(alias="rotatedTo", description="The key that replaced this one")] = None


class NewApiKey(ApiKey):
    key: Annotated[
        str,
        Field(description="The key: send it as `Authorization: Bearer <key>`. Shown this once; only its hash is kept."),
    ]


class ApiKeyList(BaseModel):
    items: list[ApiKey]
    next_token: Annotated[str | None, Field(alias="nextToken")] = None


def _now() -> datetime:
    return datetime.now(UTC)


def _status(record: dict[str, Any], now: datetime) -> Literal["active", "expired", "revoked"]:
    if record.get("revokedAt"):
        return "revoked"
    if record.get("expiresAt") and record["expiresAt"] <= timestamp(now):
        return "expired"
    return "active"


def view(record: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    labels = record.get("labels")
    return ApiKey(
        id=record["keyId"],
        name=record["name"],
        scopes=str(record["scopes"]).split(),
        labels=None if labels is None else [label for label in str(labels).split(",") if label],
        status=_status(record, now or _now()),
        created_at=record["createdAt"],
        created_by=record.get("createdBy"),
        expires_at=record.get("expiresAt"),
        last_used_at=record.get("lastUsedAt"),
        revoked_at=record.get("revokedAt"),
        rotated_from=record.get("rotatedFrom"),
        rotated_to=record.get("rotatedTo"),
    ).model_dump(mode="json", by_alias=True)


# The latest time a key's expiry may name: a time beyond it is out of range once in UTC or extended.
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def _future(value: datetime | None, field: str, now: datetime) -> str | None:
    if value is None:
        return None
    if value <= now:
        raise validation_failed([FieldError(field, "must be in the future")])
    if value >= LATEST:
        raise validation_failed([FieldError(field, "must be before 9999-01-01")])
    return timestamp(value)


def create(body: KeyCreate, principal: Principal) -> dict[str, Any]:
    require(principal, "admin")
    now = _now()
    scopes = list(dict.fromkeys(body.scopes))
    if "admin" in scopes and body.labels is not None:
        raise validation_failed(
            [FieldError("labels", "an admin key reaches every campaign: labels would not limit it")]
        )
    expires_at = _future(body.expires_at, "expiresAt", now)
    clear = key_format.new_key()
    values: dict[str, Any] = {
        "key_hash": hash_key(clear),
        "key_id": new_key_id(),
        "name": body.name,
        "scopes": scopes,
        "labels": body.labels,
        "created_at": timestamp(now),
        "expiresAt": expires_at,
        "createdBy": principal.key_id or None,
    }
    store.api_keys.put_api_key(**values)
    logger.info("api key created", key_id=values["key_id"], by=principal.key_id)
    return _created(values, clear, now)


def _created(values: dict[str, Any], clear: str, now: datetime) -> dict[str, Any]:
    record = {
        "keyId": values["key_id"],
        "name": values["name"],
        "scopes": " ".join(values["scopes"]),
        "createdAt": values["created_at"],
        "expiresAt": values.get("expiresAt"),
        "createdBy": values.get("createdBy"),
        "rotatedFrom": values.get("rotatedFrom"),
    }
    if values["labels"] is not None:
        record["labels"] = ",".join(values["labels"])
    return {**view(record, now), "key": clear}


def list_keys(principal: Principal, limit: int, next_token: str | None) -> dict[str, Any]:
    require(principal, "admin")
    records, token = store.api_keys.list_api_keys(limit, next_token)
    now = _now()
    items = sorted((view(r, now) for r in records), key=lambda k: (k["createdAt"], k["id"]))
    return {"items": items, "nextToken": token}


def _found(key_id: str) -> dict[str, Any]:
    record = store.api_keys.find_api_key(key_id)
    if record is None:
        raise DomainError(code="key_not_found", detail=f"No API key has id {key_id!r}")
    return record


def get(key_id: str, principal: Principal) -> dict[str, Any]:
    require(principal, "admin")
    return view(_found(key_id))


def _is_active_admin(record: dict[str, Any], now: datetime) -> bool:
    return "admin" in str(record.get("scopes", "")).split() and _status(record, now) == "active"


def revoke(key_id: str, principal: Principal) -> None:
    """Revokes the key (again: nothing more happens). The key stops working within the authorizer's
    cache time. Race: two admins revoking the last two admin keys at once may both succeed; make
    api-key (with AWS credentials) makes a new one."""
    require(principal, "admin")
    record = _found(key_id)
    now = _now()
    if _is_active_admin(record, now):
        others = [
            r for r in store.api_keys.all_api_keys() if r["keyId"] != record["keyId"] and _is_active_admin(r, now)
        ]
        if not others:
            raise DomainError(
                code="last_admin_key",
                detail="This is the last active admin key: create another admin key first (POST /keys), or rotate it",
            )
    if store.api_keys.revoke_api_key(record["keyHash"], timestamp(now)):
        logger.info("api key revoked", key_id=key_id, by=principal.key_id)


def _successor_expiry(old: dict[str, Any], body: KeyRotation, now: datetime) -> str | None:
    if body.expires_at is not None:
        return _future(body.expires_at, "expiresAt", now)
    if not old.get("expiresAt"):
        return None
    created = datetime.fromisoformat(str(old["createdAt"]).replace("Z", "+00:00"))
    expires = datetime.fromisoformat(str(old["expiresAt"]).replace("Z", "+00:00"))
    lifetime = min(max(expires - created, timedelta(0)), LATEST - now)  # never past LATEST (nor overflowing)
    return timestamp(now + lifetime)


def _old_key_end(old: dict[str, Any], body: KeyRotation, now: datetime) -> str | None:
    """When the old key stops: None means revoked now."""
    grace = _future(body.old_key_expires_at, "oldKeyExpiresAt", now)
    if grace is None:
        return None
    own = old.get("expiresAt")
    return min(grace, own) if own else grace


def rotate(key_id: str, body: KeyRotation, principal: Principal) -> dict[str, Any]:
    require(principal, "admin")
    old = _found(key_id)
    if old.get("revokedAt"):
        raise DomainError(code="key_revoked", detail="This key was revoked; create a new one (POST /keys)")
    if old.get("rotatedTo"):
        raise DomainError(
            code="key_already_rotated", detail=f"This key was already rotated to {old['rotatedTo']!r}: rotate that one"
        )
    now = _now()
    old_end = _old_key_end(old, body, now)
    clear = key_format.new_key()
    labels = old.get("labels")
    values: dict[str, Any] = {
        "key_hash": hash_key(clear),
        "key_id": new_key_id(),
        "name": old["name"],
        "scopes": str(old["scopes"]).split(),
        "labels": None if labels is None else [label for label in str(labels).split(",") if label],
        "created_at": timestamp(now),
        "expiresAt": _successor_expiry(old, body, now),
        "createdBy": principal.key_id or None,
        "rotatedFrom": old["keyId"],
    }
    item = store.api_keys.new_key_item(**values)
    revoked_at = None if old_end is not None else timestamp(now)
    if not store.api_keys.rotate_api_key(old["keyHash"], item, old_end, revoked_at):
        raise DomainError(
            code="key_already_rotated", detail="This key was revoked or rotated meanwhile; read it again (GET /keys)"
        )
    logger.info("api key rotated", key_id=key_id, successor=values["key_id"], by=principal.key_id)
    return _created(values, clear, now)
