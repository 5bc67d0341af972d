"""The recipients of one trigger call as people: their stored profiles and the profiles to create.

A recipient of `type` "aep" (the default) is a person known by (namespace, userId): namespace is
the recipient's own, else the campaign's `audience.namespace` (default "email"). A recipient's
namespace other than the campaign's is used as given: AJO's request names the namespace per
recipient, and the campaign's is the default for those that do not. `type` "external" is just an
address: no profile is read or created for it.

- A stored profile (one batched, strongly consistent read per call): its address serves when the
  request gives none (channelData, then the request's profile, then the stored profile, then the
  userId when its namespace is the channel's), its `preferredLanguage` picks the locale, and
  templates see `profile.*` as the stored profile with the request's `profile` merged over it.
- An unknown one: with `audience.createProfiles` on (the default) a profile is created from the
  request (identity, the resolved address, `preferredLanguage`, and the request's `profile` as
  its attributes) once the recipient is accepted; off, the recipient is rejected
  `unknown_profile`."""

from __future__ import annotations

import re
from contextlib import suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from campaign_engine import profile_views as profiles
from campaign_engine.addresses import address_problem, normalize_phone
from campaign_engine.locales import preferred_language
from campaign_engine.store import known_people
from campaign_engine.store import people as people_store
from campaign_engine.trigger_body import encode

if TYPE_CHECKING:
    from campaign_engine.trigger_body import Recipient

# The source named in a rejection's detail for an address taken from the stored profile.
STORED_SOURCE = "stored profile"
_PROFILE_SK = {"S": people_store.PROFILE_SK}
_TRIGGER_SOURCE = {"S": "trigger"}
# A DynamoDB item holds 400 KB: attributes over this are not kept in a created profile.
MAX_ATTRIBUTES_BYTES = 300 * 1024
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


class People:
    """What one call knows of its recipients as people."""

    __slots__ = ("_namespaces", "_now", "channel", "create", "default_namespace", "new", "stored")

    def __init__(self, recipients: list[Recipient], channel: str, campaign: dict[str, Any]) -> None:
        audience = campaign.get("audience") or {}
        self.default_namespace: str = audience.get("namespace") or "email"
        self.create = audience.get("createProfiles", True) is not False
        self.channel = channel
        self._namespaces: dict[str, bool] = {}  # namespace -> whether a profile can have it
        self.new: list[dict[str, Any]] = []  # the items of the profiles to create
        self._now = {"S": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")}
        default = self.default_namespace
        identities = [
            (r.namespace or default, r.userId)
            for r in recipients
            if r.type == "aep" and self.valid_namespace(r.namespace or default)
        ]
        self.stored = known_people.read_profiles(identities)

    def valid_namespace(self, namespace: str) -> bool:
        valid = self._namespaces.get(namespace)
        if valid is None:
            valid = self._namespaces[namespace] = profiles.valid_namespace(namespace)
        return valid

    def address_of(self, stored: dict[str, Any]) -> Any | None:
        """The stored profile's address for the campaign's channel: its email, its phone, or its
        first push token of an app this stack may send to."""
        if self.channel == "email":
            email = stored.get("email")
            return email.strip() if isinstance(email, str) and email.strip() else None
        if self.channel == "sms":
            phone = stored.get("phone")
            return normalize_phone(phone) if isinstance(phone, str) and phone.strip() else None
        for token in stored.get("pushTokens") or ():
            if not isinstance(token, dict) or not token.get("token"):
                continue
            platform = str(token.get("platform") or "").lower()
            info = {"appID": token.get("appID"), "platform": platform, "token": token["token"]}
            if address_problem("push", info) is None:
                return info
        return None

    def to_create(self, namespace: str, recipient: Recipient, address: Any, entry_bytes: int) -> str | None:
        """Notes the profile to create for an accepted unknown recipient (whose queue entry weighs
        `entry_bytes`); why it cannot be, or None."""
        if not self.valid_namespace(namespace):
            return (
                f"namespace {namespace[:64]!r} cannot name a profile (letters, digits, '_', '.' and '-', "
                "starting with a letter, at most 64 characters)"
            )
        # The request's profile is kept as attributes when it surely fits an item (it is smaller than
        # its queue entry); a larger one is measured.
        attributes = recipient.profile
        if attributes and entry_bytes > MAX_ATTRIBUTES_BYTES and len(encode(attributes)) > MAX_ATTRIBUTES_BYTES:
            attributes = None
        item = new_profile_item(namespace, recipient, self.channel, address, attributes=attributes, now=self._now)
        self.new.append(item)
        return None


def queued_profile(stored: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    """What templates see: the stored profile's view with the request's profile merged over it. A
    language the request gives (at the root or under `person`) wins over the stored one."""
    merged = profiles.merge_profiles(profiles.template_view(stored), given)
    language = preferred_language(given) if given else None
    if language is not None and merged.get("preferredLanguage") != language:
        merged = {**merged, "preferredLanguage": language}
    return merged


def new_profile_item(
    namespace: str,
    recipient: Recipient,
    channel: str,
    address: Any,
    *,
    attributes: dict[str, Any] | None,
    now: dict[str, str],
) -> dict[str, Any]:
    """The stored item (store.people's format) of a profile created at trigger time (`now`: the
    call's time as a string attribute value)."""
    user_id = recipient.userId
    item: dict[str, Any] = {
        "pk": {"S": people_store.profile_pk(namespace, user_id)},
        "sk": _PROFILE_SK,
        "namespace": {"S": namespace},
        "id": {"S": user_id},
        "source": _TRIGGER_SOURCE,
        "createdAt": now,
        "updatedAt": now,
    }
    if channel == "email":
        item["email"] = {"S": address}
    elif channel == "sms":
        item["phone"] = {"S": address}
    else:
        token = {name: {"S": address[name]} for name in ("appID", "platform", "token")}
        item["pushTokens"] = {"L": [{"M": token}]}
    given = recipient.profile
    language = preferred_language(given) if given else None
    if language is not None and _LANGUAGE.match(language):
        item["preferredLanguage"] = {"S": language}
    if attributes:
        # Unstorable: the message still has the request's profile; the stored one does without.
        with suppress(known_people.Unstorable):
            item["attributes"] = known_people.attribute(attributes)
    return item
