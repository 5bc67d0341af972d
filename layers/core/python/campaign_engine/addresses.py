"""Where a recipient's message goes, per channel, from the AJO recipient shape.

Order: the request's channelData, then the profile, then the userId itself when its
namespace is the channel's own (email / phone). A recipient is its JSON object as the trigger
body carries it (validated, keys as the contract spells them)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
PUSH_PLATFORMS = {"apns", "apns_sandbox", "fcm", "gcm", "adm", "baidu", "wns", "mpns"}


_EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]*\.[^@\s]+")


def looks_like_email(value: str) -> bool:
    """The shape of an address (local@domain.tld, no spaces); deliverability is the provider's call."""
    return len(value) <= 254 and _EMAIL_SHAPE.fullmatch(value) is not None


def _first(profile: Mapping[str, Any] | None, paths: tuple[tuple[str, ...], ...]) -> str | None:
    # XDM profiles keep these at the root; AJO's own samples nest them under `person`.
    # dict, not Mapping: parsed JSON is always a dict, and an ABC check costs ~10x more per step.
    if not isinstance(profile, dict):
        return None
    person = profile.get("person")
    roots = (profile, person) if isinstance(person, dict) else (profile,)
    for first, *rest in paths:
        for root in roots:
            node = root.get(first)
            for part in rest:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, str) and node.strip():
                return node.strip()
    return None


def profile_email(profile: Mapping[str, Any] | None) -> str | None:
    return _first(profile, (("email",), ("personalEmail", "address"), ("workEmail", "address")))


def profile_phone(profile: Mapping[str, Any] | None) -> str | None:
    return _first(profile, (("phone",), ("mobilePhone", "number"), ("homePhone", "number")))


def normalize_phone(value: str) -> str:
    """E.164 where possible: national numbers (AJO's samples send `0921234567`) get the
    deployment's default country calling code, after dropping a trunk prefix 0."""
    digits = re.sub(r"[\s().\-/]", "", value)
    if digits.startswith("00"):
        return "+" + digits[2:]
    if digits.startswith("+") or not digits.isdigit():
        return digits
    country = os.environ.get("SMS_DEFAULT_COUNTRY_CODE", "1").lstrip("+")
    return f"+{country}{digits.lstrip('0')}"


def resolve_address(channel: str, recipient: Mapping[str, Any], namespace: str) -> tuple[Any | None, str | None]:
    """Returns (address, field) where field names the input it came from, or (None, None)."""
    data = recipient.get("channelData") or {}
    if channel == "email":
        given = data.get("emailAddress")
        if given:
            return given.strip(), "channelData.emailAddress"
        found = profile_email(recipient.get("profile"))
        if found:
            return found.strip(), "profile"
        if namespace.lower() == "email":
            return recipient["userId"].strip(), "userId"
        return None, None
    if channel == "sms":
        given = data.get("mobilePhoneNumber")
        if given:
            return normalize_phone(given), "channelData.mobilePhoneNumber"
        found = profile_phone(recipient.get("profile"))
        if found:
            return normalize_phone(found), "profile"
        if namespace.lower() in ("phone", "phonenumber", "mobile"):
            return normalize_phone(recipient["userId"]), "userId"
        return None, None
    info = data.get("pushInfo") or {}
    if info.get("token"):
        return {"appID": info.get("appID"), "platform": (info.get("platform") or "").lower(), "token": info["token"]}, (
            "channelData"
        )
    return None, None


def address_problem(channel: str, address: Any) -> str | None:
    """Why a resolved address cannot be used, or None."""
    if channel == "email":
        return None if looks_like_email(address) else "is not an email address"
    if channel == "sms":
        return None if E164.match(address) else "is not a phone number in E.164 form (+14155550100)"
    if not address.get("appID"):
        return "pushInfo.appID is required"
    if address.get("platform") not in PUSH_PLATFORMS:
        return f"pushInfo.platform must be one of {', '.join(sorted(PUSH_PLATFORMS))}"
    return None
