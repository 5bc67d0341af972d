"""Profiles: a person known by an identity (namespace and id), with addresses, language, time
zone, consent per channel and free attributes.

The stored item is `store.people` (`P#<namespace>#<id>`). What templates see of it
(`template_view`) and how a request's `profile` merges over it (`merge_profiles`) live in
profile_views.py, without pydantic, for the trigger and delivery; they are re-exported here."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from campaign_engine.addresses import E164, PUSH_PLATFORMS, looks_like_email
from campaign_engine.profile_views import (  # noqa: F401 - re-exported: the views are part of this module's API
    MERGE_DEPTH,
    NAMESPACE_PATTERN,
    merge_profiles,
    template_view,
    valid_namespace,
)

CONSENT_CHANNELS = ("email", "sms", "push")
# The fields of the stored item that are the profile's own (not free attributes).
OWN_FIELDS = ("email", "phone", "pushTokens", "preferredLanguage", "timezone", "consents")


class PushToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_id: Annotated[str, Field(alias="appID", min_length=1, max_length=256)]
    platform: Annotated[str, Field(description="apns, apns_sandbox, fcm, gcm, adm, baidu, wns or mpns")]
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

    email: Annotated[str | None, Field(max_length=254)] = None
    phone: Annotated[str | None, Field(description="E.164, e.g. +14155550100", max_length=16)] = None
    push_tokens: Annotated[list[PushToken] | None, Field(alias="pushTokens", max_length=20)] = None
    preferred_language: Annotated[
        str | None, Field(alias="preferredLanguage", pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
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
        if value is not None and not looks_like_email(value.strip()):
            raise ValueError("is not an email address")
        return value.strip() if value else value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None and not E164.match(value):
            raise ValueError("is not a phone number in E.164 form (+14155550100)")
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
