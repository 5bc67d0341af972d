"""Where a recipient's message goes, per channel, from the AJO recipient shape.

Order: the request's channelData, then the profile, then the userId itself when its
namespace is the channel's own (email / phone)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from campaign_engine.models import Recipient, _looks_like_email

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
PUSH_PLATFORMS = {"apns", "apns_sandbox", "fcm", "gcm", "adm", "baidu", "wns", "mpns"}


def _dig(profile: Mapping[str, Any] | None, *path: str) -> Any:
    node: Any = profile
    for part in path:
        # dict, not Mapping: parsed JSON is always a dict, and an ABC check costs ~10x more per step.
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _first(profile: Mapping[str, Any] | None, paths: tuple[tuple[str, ...], ...]) -> str | None:
    # XDM profiles keep these at the root; AJO's own samples nest them under `person`.
    for path in paths:
        for prefix in ((), ("person",)):
            value = _dig(profile, *prefix, *path)
            if isinstance(value, str) and value.strip():
                return value.strip()
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


def resolve_address(channel: str, recipient: Recipient, namespace: str) -> tuple[Any | None, str | None]:
    """Returns (address, field) where field names the input it came from, or (None, None)."""
    data = recipient.channel_data
    if channel == "email":
        if data and data.email_address:
            return data.email_address.strip(), "channelData.emailAddress"
        found = profile_email(recipient.profile)
        if found:
            return found.strip(), "profile"
        if namespace.lower() == "email":
            return recipient.user_id.strip(), "userId"
        return None, None
    if channel == "sms":
        if data and data.mobile_phone_number:
            return normalize_phone(data.mobile_phone_number), "channelData.mobilePhoneNumber"
        found = profile_phone(recipient.profile)
        if found:
            return normalize_phone(found), "profile"
        if namespace.lower() in ("phone", "phonenumber", "mobile"):
            return normalize_phone(recipient.user_id), "userId"
        return None, None
    if data and data.push_info and data.push_info.token:
        info = data.push_info
        return {"appID": info.app_id, "platform": (info.platform or "").lower(), "token": info.token}, "channelData"
    return None, None


def address_problem(channel: str, address: Any) -> str | None:
    """Why a resolved address cannot be used, or None."""
    if channel == "email":
        return None if _looks_like_email(address) else "is not an email address"
    if channel == "sms":
        return None if E164.match(address) else "is not a phone number in E.164 form (+14155550100)"
    if not address.get("appID"):
        return "pushInfo.appID is required"
    if address.get("platform") not in PUSH_PLATFORMS:
        return f"pushInfo.platform must be one of {', '.join(sorted(PUSH_PLATFORMS))}"
    return None
