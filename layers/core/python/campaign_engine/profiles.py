"""Profiles: a person known by an identity (namespace and id), with addresses, language, time
zone, consent per channel and free attributes.

The stored item is `store.people` (`P#<namespace>#<id>`). What templates see of it
(`template_view`) and how a request's `profile` merges over it (`merge_profiles`) live in
profile_views.py, without pydantic, for the trigger and delivery; they are re-exported here."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from campaign_engine.addresses import MAX_EMAIL_CHARS, MAX_PHONE_CHARS, PUSH_PLATFORMS, email_problem, phone_problem
from campaign_engine.auth import Principal, require
from campaign_engine.errors import DomainError, FieldError, validation_failed
from campaign_engine.profile_views import (  # noqa: F401 - re-exported: the views are part of this module's API
    MERGE_DEPTH,
    NAMESPACE_PATTERN,
    merge_profiles,
    template_view,
    valid_namespace,
)
from campaign_engine.store import people

CONSENT_CHANNELS = ("email", "sms", "push")
# The fields of the stored item that are the profile's own (not free attributes).
OWN_FIELDS = ("email", "phone", "pushTokens", "preferredLanguage", "timezone", "consents")


class PushToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_id: Annotated[str, Field(alias="appID", min_length=1, max_length=256)]
    platform: Annotated[str, Field(description="apns, apns_sandbox, fcm, gcm, adm, baidu, wns or mpns", max_length=32)]
    token: Annotated[str, Field(min_length=1, max_length=4096)]

    @field_validator("platform")
    @classmethod
    def _platform(cls, value: str) -> str:
        if value.lower() not in PUSH_PLATFORMS:
            raise ValueError(f"must be one of {', '.join(sorted(PUSH_PLATFORMS))}")
        return value.lower()


class ProfileBody(BaseModel):
    """PUT /profiles/{namespace}/{id}: the whole profile (a PUT replaces what was stored)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    email: Annotated[str | None, Field(max_length=MAX_EMAIL_CHARS)] = None
    phone: Annotated[str | None, Field(description="E.164, e.g. +14155550100", max_length=MAX_PHONE_CHARS)] = None
    push_tokens: Annotated[list[PushToken] | None, Field(alias="pushTokens", max_length=20)] = None
    preferred_language: Annotated[
        str | None,
        Field(alias="preferredLanguage", pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$", max_length=64),
    ] = None
    timezone: Annotated[str | None, Field(description="IANA time zone, e.g. Europe/Lisbon", max_length=64)] = None
    consents: Annotated[
        dict[Literal["email", "sms", "push"], Literal["in", "out"]] | None,
        Field(description="Marketing consent per channel; absent means not asked (marketing may send)"),
    ] = None
    attributes: Annotated[
        dict[str, Any] | None, Field(description="Free attributes; templates see them at profile.<name>")
    ] = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        problem = email_problem(value.strip()) if value is not None else None
        if problem:
            raise PydanticCustomError("email", problem)
        return value.strip() if value else value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        problem = phone_problem(value) if value is not None else None
        if problem:
            raise PydanticCustomError("phone", problem)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not an IANA time zone such as Europe/Lisbon") from None
        return value


def item_values(namespace: str, profile_id: str, body: ProfileBody, *, source: str, now: str) -> dict[str, Any]:
    """The stored item's values (store.people.to_item makes the item) for a profile body."""
    values: dict[str, Any] = {
        "namespace": namespace,
        "id": profile_id,
        "email": body.email,
        "phone": body.phone,
        "pushTokens": [t.model_dump(by_alias=True) for t in body.push_tokens] if body.push_tokens else None,
        "preferredLanguage": body.preferred_language,
        "timezone": body.timezone,
        "consents": dict(body.consents) if body.consents else None,
        "attributes": body.attributes or None,
        "source": source,
        "updatedAt": now,
    }
    return {name: value for name, value in values.items() if value is not None}


# ---------------------------------------------------------------------------
# The API: PUT, GET and DELETE /profiles/{namespace}/{id}
# ---------------------------------------------------------------------------
# A stored profile, as JSON in UTF-8 (DynamoDB's item limit is 400 KB; templates receive it whole).
MAX_PROFILE_BYTES = 200 * 1024
MAX_ID_CHARS = 256
# Attributes nest at most this deep (DynamoDB stores 32 levels; templates need far fewer).
MAX_ATTRIBUTE_DEPTH = 16
# DynamoDB's numbers: 38 significant digits, magnitudes from 1E-130 to below 1E126.
_LARGEST_NUMBER = Decimal("1E126")
_SMALLEST_NUMBER = Decimal("1E-130")
# Field errors reported for one body at most.
MAX_FIELD_ERRORS = 20


class StoredProfile(BaseModel):
    """A profile as stored and answered by PUT and GET /profiles/{namespace}/{id}."""

    model_config = ConfigDict(populate_by_name=True)

    namespace: str
    id: str
    email: str | None = None
    phone: str | None = None
    push_tokens: Annotated[list[PushToken] | None, Field(alias="pushTokens")] = None
    preferred_language: Annotated[str | None, Field(alias="preferredLanguage")] = None
    timezone: str | None = None
    consents: dict[str, Literal["in", "out"]] | None = None
    attributes: dict[str, Any] | None = None
    source: Annotated[str | None, Field(description="Who created or last replaced it: api, trigger or import")] = None
    created_at: Annotated[str, Field(alias="createdAt")]
    updated_at: Annotated[str, Field(alias="updatedAt")]


class ErasureAccepted(BaseModel):
    """DELETE /profiles/{namespace}/{id}: the profile is gone; its execution records follow."""

    namespace: str
    id: str
    erasure: Literal["in_progress"] = "in_progress"
    profile_found: Annotated[bool, Field(alias="profileFound")]

    model_config = ConfigDict(populate_by_name=True)


def identity_errors(namespace: str, profile_id: str) -> list[FieldError]:
    errors = []
    if not valid_namespace(namespace):
        errors.append(
            FieldError(
                "namespace",
                "must start with a letter and hold up to 64 letters, digits, '_', '.' or '-' (email, phone, ecid, ...)",
            )
        )
    if not 1 <= len(profile_id) <= MAX_ID_CHARS:
        errors.append(FieldError("profileId", f"must be 1 to {MAX_ID_CHARS} characters"))
    return errors


def attribute_errors(value: Any, path: str = "attributes", depth: int = 0) -> list[FieldError]:
    """What DynamoDB could not store as given: nesting deeper than MAX_ATTRIBUTE_DEPTH, empty keys,
    numbers that are not finite or beyond its range and precision."""
    if isinstance(value, dict):
        if depth >= MAX_ATTRIBUTE_DEPTH and value:
            return [FieldError(path, f"nests deeper than {MAX_ATTRIBUTE_DEPTH} levels")]
        errors = []
        for key, inner in value.items():
            if key == "" or not _unicode(key):
                errors.append(FieldError(path, "has an empty key" if key == "" else "has a key that is not valid text"))
                continue
            errors += attribute_errors(inner, f"{path}.{key}", depth + 1)
            if len(errors) >= MAX_FIELD_ERRORS:
                break
        return errors[:MAX_FIELD_ERRORS]
    if isinstance(value, list):
        if depth >= MAX_ATTRIBUTE_DEPTH and value:
            return [FieldError(path, f"nests deeper than {MAX_ATTRIBUTE_DEPTH} levels")]
        errors = []
        for index, inner in enumerate(value):
            errors += attribute_errors(inner, f"{path}[{index}]", depth + 1)
            if len(errors) >= MAX_FIELD_ERRORS:
                break
        return errors[:MAX_FIELD_ERRORS]
    if isinstance(value, str):
        return [] if _unicode(value) else [FieldError(path, "is not valid text (it holds a lone surrogate)")]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return []
    message = _number_problem(value)
    return [FieldError(path, message)] if message else []


def _unicode(text: str) -> bool:
    """Encodable as UTF-8 (JSON's \\ud800 escapes decode to lone surrogates, which it cannot store)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _number_problem(value: int | float) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if number == 0:
        return None
    if not _SMALLEST_NUMBER <= abs(number) < _LARGEST_NUMBER:
        return "is a number out of range (1E-130 to 1E125)"
    # An integer is stored with every digit it has (boto3 refuses to round one); a float by its repr.
    digits = number.as_tuple().digits if isinstance(value, int) else number.normalize().as_tuple().digits
    if len(digits) > 38:
        return "has more than 38 digits"
    return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _require_any(principal: Principal, *scopes: str) -> None:
    if not any(principal.can(scope) for scope in scopes):
        raise DomainError(
            code="forbidden", detail="This API key lacks the " + " or ".join(repr(s) for s in scopes) + " scope"
        )


def _check_identity(namespace: str, profile_id: str) -> None:
    errors = identity_errors(namespace, profile_id)
    if errors:
        raise validation_failed(errors)


def _check_size(values: dict[str, Any]) -> None:
    sizes = {name: len(json.dumps(value, ensure_ascii=False).encode()) for name, value in values.items()}
    if sum(sizes.values()) + 16 * len(sizes) <= MAX_PROFILE_BYTES:
        return
    largest = max(sizes, key=lambda name: sizes[name])
    raise DomainError(
        code="profile_too_large",
        detail=f"The profile is over {MAX_PROFILE_BYTES // 1024} KB as JSON; its largest field is {largest}",
        errors=[FieldError(largest, f"is {sizes[largest] // 1024} KB")],
    )


def view(stored: dict[str, Any]) -> StoredProfile:
    known = {name: stored.get(name) for name in (*OWN_FIELDS, "attributes", "source")}
    return StoredProfile.model_validate(
        {
            **{name: value for name, value in known.items() if value is not None},
            "namespace": stored["namespace"],
            "id": stored["id"],
            "createdAt": stored.get("createdAt") or stored.get("updatedAt") or "",
            "updatedAt": stored.get("updatedAt") or stored.get("createdAt") or "",
        }
    )


def put_profile(namespace: str, profile_id: str, body: ProfileBody, principal: Principal) -> StoredProfile:
    """Replaces the profile (createdAt kept from the one it replaces)."""
    require(principal, "profiles:write")
    _check_identity(namespace, profile_id)
    errors = attribute_errors(body.attributes or {})
    if errors:
        raise validation_failed(errors)
    now = _now()
    values = item_values(namespace, profile_id, body, source="api", now=now)
    _check_size(values)
    try:
        stored = people.replace_profile(values, now=now)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ValidationException":
            raise
        # Sizes and shapes are checked above; this is DynamoDB's own limit, met all the same.
        raise DomainError(
            code="profile_too_large",
            detail="The profile cannot be stored: it is over the item limit as DynamoDB counts it",
            errors=[FieldError("attributes", "is too large or too deeply nested to store")],
        ) from None
    return view(stored)


def get_profile(namespace: str, profile_id: str, principal: Principal) -> StoredProfile:
    _require_any(principal, "campaigns:read", "profiles:write")
    _check_identity(namespace, profile_id)
    stored = people.get_profile(namespace, profile_id)
    if stored is None:
        # Never the id in the detail: in the email and phone namespaces it is an address.
        raise DomainError(code="profile_not_found", detail=f"No profile with this id in the {namespace!r} namespace")
    return view(stored)


def erase_profile(namespace: str, profile_id: str, principal: Principal) -> ErasureAccepted:
    """Erases the person (erasure.start): always 202, whether or not a profile was stored, since
    execution records and audience lists may know the person without one."""
    require(principal, "profiles:write")
    _check_identity(namespace, profile_id)
    from campaign_engine import erasure  # the jobs' side; only DELETE needs it

    found = erasure.start(namespace, profile_id)
    return ErasureAccepted(namespace=namespace, id=profile_id, profile_found=found)
