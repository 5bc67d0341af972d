"""Where a recipient's message goes, per channel, from the AJO recipient shape.

Order: the request's channelData, then the profile, then the userId itself when its
namespace is the channel's own (email / phone). A recipient is as trigger_body decodes it."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from campaign_engine.settings import get_settings

if TYPE_CHECKING:
    from campaign_engine.trigger_body import Recipient

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# pushInfo.platform -> the SNS platform its application is on (app/<SNS platform>/<appID>).
SNS_PLATFORMS = {
    "apns": "APNS",
    "apns_sandbox": "APNS_SANDBOX",
    "fcm": "GCM",
    "gcm": "GCM",
    "adm": "ADM",
    "baidu": "BAIDU",
    "wns": "WNS",
    "mpns": "MPNS",
}
PUSH_PLATFORMS = set(SNS_PLATFORMS)


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
    firsts = _FIRST_STEPS[paths]
    # Most profiles hold none of the fields: one set test per root (C) rules that out.
    roots = [root for root in (profile, person) if isinstance(root, dict) and not firsts.isdisjoint(root)]
    for first, *rest in paths:  # paths of one or two steps
        for root in roots:
            node = root.get(first)
            for part in rest:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, str) and node.strip():
                return node.strip()
    return None


_Paths = tuple[tuple[str, ...], ...]
_EMAIL_PATHS: _Paths = (("email",), ("personalEmail", "address"), ("workEmail", "address"))
_PHONE_PATHS: _Paths = (("phone",), ("mobilePhone", "number"), ("homePhone", "number"))
_FIRST_STEPS: dict[_Paths, frozenset[str]] = {
    paths: frozenset(path[0] for path in paths) for paths in (_EMAIL_PATHS, _PHONE_PATHS)
}


def profile_email(profile: Mapping[str, Any] | None) -> str | None:
    return _first(profile, _EMAIL_PATHS)


def profile_phone(profile: Mapping[str, Any] | None) -> str | None:
    return _first(profile, _PHONE_PATHS)


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
    data = recipient.channelData
    if channel == "email":
        given = data.emailAddress if data else None
        if given:
            return given.strip(), "channelData.emailAddress"
        found = profile_email(recipient.profile)
        if found:
            return found.strip(), "profile"
        if namespace.lower() == "email":
            return recipient.userId.strip(), "userId"
        return None, None
    if channel == "sms":
        given = data.mobilePhoneNumber if data else None
        if given:
            return normalize_phone(given), "channelData.mobilePhoneNumber"
        found = profile_phone(recipient.profile)
        if found:
            return normalize_phone(found), "profile"
        if namespace.lower() in ("phone", "phonenumber", "mobile"):
            return normalize_phone(recipient.userId), "userId"
        return None, None
    info = data.pushInfo if data else None
    if info and info.token:
        return {"appID": info.appID, "platform": (info.platform or "").lower(), "token": info.token}, "channelData"
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
    # The delivery role may create endpoints only in the stack's PushApplicationArns: refused here, per
    # recipient and with the reason, rather than failing at send time.
    if f"{SNS_PLATFORMS[address['platform']]}/{address['appID']}" not in get_settings().push_applications:
        return (
            f"names app {address['appID']!r} on {address['platform']}, which this stack may not send to "
            "(its SNS platform application is not in the stack's PushApplicationArns)"
        )
    return None
