"""Where a recipient's message goes, per channel, from the AJO recipient shape.

Order: the request's channelData, then the profile, then the userId itself when its
namespace is the channel's own (email / phone). A recipient is as trigger_body decodes it."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import cache, lru_cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

from campaign_engine.settings import get_settings

if TYPE_CHECKING:
    from campaign_engine.trigger_body import Recipient

# What a body may hold at all in an address field; longer is a malformed body (400), shorter but
# not an address is that recipient's `invalid_address`. 254: RFC 5321's path limit less the brackets.
MAX_EMAIL_CHARS = 254
MAX_PHONE_CHARS = 32
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


def email_problem(value: str) -> str | None:
    """Why `value` is not an address SES can send to, or None. email-validator's syntax rules (no DNS):
    one @, a domain with a dot, no characters a header could be built from (CR, LF, comma, angle
    brackets, spaces); ASCII before the @ (SES does not offer SMTPUTF8), an IDN domain allowed.
    `.test` domains are allowed as `example.com` is (RFC 2606 names for tests: local senders use them).

    The library's whole check costs about 30 µs an address, most of it the part after the @ checked
    character by character (UTS-46), while a call of 1,000 recipients holds a few dozen domains. So
    for the usual address (one @, an ASCII local part, no quotes or angle brackets) its verdict is
    put together from the library's own steps: the domain's, asked once per container and domain;
    the local part's (`validate_email_local_part`, as `validate_email` calls it); the lengths. Any
    other address gets the whole check. tests/unit/test_input_limits.py holds both to the same verdict."""
    if len(value) > MAX_EMAIL_CHARS:
        return f"is longer than {MAX_EMAIL_CHARS} characters"
    local, at, domain = value.partition("@")
    if not at or "@" in domain or not local.isascii() or '"' in local or "<" in value:
        return _library_problem(value)
    domain_problem, domain_bytes = _domain_verdict(domain)
    if domain_problem is not None:
        return domain_problem
    if len(local) + 1 + domain_bytes > MAX_EMAIL_CHARS:  # an IDN domain is longer in UTF-8 and in ASCII
        return _library_problem(value)
    email_validator = _email_validator()
    try:
        email_validator.syntax.validate_email_local_part(local, allow_smtputf8=False)
    except email_validator.EmailNotValidError as error:
        return f"is not an email address: {error}"
    return None


def _library_problem(value: str) -> str | None:
    email_validator = _email_validator()
    try:
        email_validator.validate_email(value, check_deliverability=False, allow_smtputf8=False, test_environment=True)
    except email_validator.EmailNotValidError as error:
        # The library's wording names the rule and at most the offending characters, never the address.
        return f"is not an email address: {error}"
    return None


@lru_cache(maxsize=4096)
def _domain_verdict(domain: str) -> tuple[str | None, int]:
    """(the problem of `domain` after an @, or None; its longest form in bytes: as given, normalised,
    in ASCII), from the library's check of an address with a one-letter local part."""
    email_validator = _email_validator()
    try:
        checked = email_validator.validate_email(
            f"a@{domain}", check_deliverability=False, allow_smtputf8=False, test_environment=True
        )
    except email_validator.EmailNotValidError as error:
        return f"is not an email address: {error}", 0
    return None, max(len(form.encode()) for form in (domain, checked.domain, checked.ascii_domain))


def looks_like_email(value: str) -> bool:
    return email_problem(value) is None


def phone_problem(value: str) -> str | None:
    """Why `value` is not a dialable number in E.164 form, or None: phonenumbers' metadata per
    country (length and number ranges), not only the shape."""
    if not value.startswith("+") or not value[1:].isdigit():
        return "is not a phone number in E.164 form (+14155550100)"
    phonenumbers = _phonenumbers()
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return "is not a phone number in E.164 form (+14155550100): no such country calling code"
    if not phonenumbers.is_valid_number(number):
        return "is not a valid phone number: no number of that length or range exists in its country"
    if phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) != value:
        return "is not a phone number in E.164 form (+14155550100)"
    return None


# Both libraries are imported when an address is first checked, not when the module is: the
# trigger's cold start is measured against a floor (issue 16), and phonenumbers' metadata is
# only ever needed by SMS campaigns.
@cache
def _email_validator() -> ModuleType:
    import email_validator
    import email_validator.syntax

    return email_validator


@cache
def _phonenumbers() -> ModuleType:
    import phonenumbers

    return phonenumbers


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
        return email_problem(address)
    if channel == "sms":
        return phone_problem(address)
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
