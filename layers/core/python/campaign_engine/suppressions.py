"""The suppression list: addresses never sent to again, per channel, whatever the campaign type.

An entry is keyed by the digest of the normalised address (store.people.suppression_key: emails
without case, E.164 numbers, push device tokens) and holds its reason, source, when it was added
and the address in clear; erasing a person removes that address in clear and keeps the entry, so
the address stays suppressed. Entries come from the API (`POST /suppressions`, reason `manual` by
default), from imports, and from SES's feedback (a hard bounce or a complaint, source `ses`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from campaign_engine.addresses import email_problem, phone_problem
from campaign_engine.auth import Principal, require
from campaign_engine.errors import DomainError, FieldError, validation_failed
from campaign_engine.store import people

SuppressionChannel = Literal["email", "sms", "push"]
Reason = Literal["manual", "import", "hard_bounce", "complaint", "unsubscribe"]
CHANNELS = ("email", "sms", "push")
MAX_ENTRIES_PER_CALL = 1000
MAX_PUSH_TOKEN_CHARS = 4096


class SuppressionEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: SuppressionChannel
    address: Annotated[
        str, Field(min_length=1, max_length=MAX_PUSH_TOKEN_CHARS, description="Email, E.164 number or push token")
    ]
    reason: Reason = "manual"


class SuppressionsBody(BaseModel):
    """POST /suppressions: up to 1,000 addresses per call."""

    model_config = ConfigDict(extra="forbid")

    entries: Annotated[list[SuppressionEntry], Field(min_length=1, max_length=MAX_ENTRIES_PER_CALL)]


class SuppressionsAdded(BaseModel):
    added: Annotated[int, Field(description="Addresses new to the list")]
    already_listed: Annotated[
        int, Field(alias="alreadyListed", description="Addresses already on it (their entry is kept as it was)")
    ]

    model_config = ConfigDict(populate_by_name=True)


class Suppression(BaseModel):
    """An address on the suppression list."""

    model_config = ConfigDict(populate_by_name=True)

    channel: SuppressionChannel
    address: Annotated[str, Field(description="The address as asked for")]
    reason: str
    source: Annotated[str, Field(description="api, import or ses (a hard bounce or complaint SES reported)")]
    added_at: Annotated[str, Field(alias="addedAt")]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def address_problem(channel: str, address: str) -> str | None:
    """Why `address` is not one of `channel`'s, or None."""
    if channel == "email":
        return email_problem(address.strip())
    if channel == "sms":
        return phone_problem(address)
    if channel == "push":
        if not address.strip() or len(address) > MAX_PUSH_TOKEN_CHARS:
            return f"must be a device token of 1 to {MAX_PUSH_TOKEN_CHARS} characters"
        return None
    return f"must be one of {', '.join(CHANNELS)}"


def _check_address(channel: str, address: str) -> None:
    if channel not in CHANNELS:
        raise validation_failed([FieldError("channel", f"must be one of {', '.join(CHANNELS)}")])
    problem = address_problem(channel, address)
    if problem:
        raise validation_failed([FieldError("address", problem)])


def add(body: SuppressionsBody, principal: Principal, *, source: str = "api") -> SuppressionsAdded:
    require(principal, "profiles:write")
    errors = []
    for index, entry in enumerate(body.entries):
        problem = address_problem(entry.channel, entry.address)
        if problem:
            errors.append(FieldError(f"entries[{index}].address", problem))
    if errors:
        raise validation_failed(errors[:50])
    now = _now()
    values = [
        people.suppression_values(e.channel, e.address.strip(), reason=e.reason, source=source, added_at=now)
        for e in body.entries
    ]
    distinct = len({people.suppression_pk(v["channel"], v["address"]) for v in values})
    added = people.put_suppressions(values)
    return SuppressionsAdded(added=added, already_listed=distinct - added)


def get(channel: str, address: str, principal: Principal) -> Suppression:
    if not (principal.can("campaigns:read") or principal.can("profiles:write")):
        raise DomainError(code="forbidden", detail="This API key lacks the 'campaigns:read' or 'profiles:write' scope")
    _check_address(channel, address)
    entry = people.get_suppression(channel, address)
    if entry is None:
        raise not_found(channel)
    return Suppression(
        channel=channel,
        address=address,
        reason=str(entry.get("reason") or "manual"),
        source=str(entry.get("source") or "api"),
        added_at=str(entry.get("addedAt") or ""),
    )


def remove(channel: str, address: str, principal: Principal) -> None:
    require(principal, "profiles:write")
    _check_address(channel, address)
    if not people.delete_suppression(channel, address):
        raise not_found(channel)


def not_found(channel: str) -> DomainError:
    # Never the address itself in the answer's detail: it would reach logs of proxies and clients.
    return DomainError(code="suppression_not_found", detail=f"This address is not on the {channel} suppression list")
