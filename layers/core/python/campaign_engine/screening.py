"""Who must not be sent to, checked just before sending and in audience fan-out and dry runs:

- `suppressed` (both campaign types): the address is on the suppression list (hard bounce,
  complaint, or added by API or import); an entry of reason `unsubscribe` (a one-click unsubscribe,
  or one added so) excludes marketing campaigns only;
- `no_consent` (marketing only): the person's stored profile says `out` for the channel;
- `unknown_profile`: the recipient came from a stored profile that no longer exists (erased
  since the execution started).

One batched read for a whole group of candidates (store.people.batch_get)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import msgspec

from campaign_engine.profile_views import valid_namespace
from campaign_engine.store import people

Exclusion = tuple[str, str]  # (reason, detail)
UNSUBSCRIBE = "unsubscribe"  # the suppression reason that applies to marketing only


class Candidate(msgspec.Struct, frozen=True):
    namespace: str
    user_id: str
    address: Any  # the resolved address: an email, an E.164 number, or push info {appID, platform, token}
    # The recipient was resolved from a stored profile (an audience member, or a known profile at trigger
    # time): if that profile is gone now, the person was erased and must not be reached.
    from_profile: bool = False


Group = tuple[str, str, Sequence[Candidate]]  # (channel, campaign type, candidates)


def screen(channel: str, campaign_type: str, candidates: Sequence[Candidate]) -> list[Exclusion | None]:
    """An exclusion, or None, per candidate, in order."""
    return screen_groups([(channel, campaign_type, candidates)])[0]


def screen_groups(groups: Sequence[Group]) -> list[list[Exclusion | None]]:
    """screen() for several groups (the messages of one delivery batch, each of its campaign's
    channel and type) in one batched read: per group, an exclusion or None per candidate."""
    return screen_groups_with(groups, ())[0]


def screen_groups_with(
    groups: Sequence[Group], extra_keys: Sequence[dict[str, Any]]
) -> tuple[list[list[Exclusion | None]], dict[str, dict[str, Any]]]:
    """screen_groups(), reading `extra_keys` of the profiles table in the same batched read (delivery's
    frequency counters): the verdicts, and every item found by its pk."""
    keys: list[dict[str, Any]] = list(extra_keys)
    for channel, campaign_type, candidates in groups:
        marketing = campaign_type == "marketing"
        for c in candidates:
            if c.address is not None:
                keys.append(people.suppression_key(channel, c.address))
            if (marketing or c.from_profile) and has_profile_key(c.namespace):
                keys.append(people.profile_key(c.namespace, c.user_id))
    found = people.batch_get(keys) if keys else {}
    verdicts = [
        [_verdict(channel, campaign_type == "marketing", c, found) for c in candidates]
        for channel, campaign_type, candidates in groups
    ]
    return verdicts, found


def has_profile_key(namespace: str) -> bool:
    """Whether a profile can be stored under this namespace: an external recipient may carry any
    namespace (a key that DynamoDB would refuse, too long, fails the whole read)."""
    return len(namespace) <= MAX_NAMESPACE_LENGTH and _valid_namespace(namespace)


MAX_NAMESPACE_LENGTH = 64
_valid_namespace = lru_cache(maxsize=256)(valid_namespace)


def _verdict(channel: str, marketing: bool, candidate: Candidate, found: dict[str, dict[str, Any]]) -> Exclusion | None:
    item = None if candidate.address is None else found.get(people.suppression_pk(channel, candidate.address))
    if item is not None:
        reason = item.get("reason", {}).get("S", "listed")
        # An unsubscribe is from marketing: transactional messages (receipts, resets) still reach the person.
        if marketing or reason != UNSUBSCRIBE:
            return ("suppressed", f"The address is on the {channel} suppression list ({reason})")
    if not (marketing or candidate.from_profile):
        return None
    if not has_profile_key(candidate.namespace):
        return None
    profile = found.get(people.profile_pk(candidate.namespace, candidate.user_id))
    if profile is None:
        if candidate.from_profile:
            return ("unknown_profile", "The profile was erased after the execution started")
        return None
    if marketing:
        consents = people.from_attribute(profile["consents"]) if "consents" in profile else {}
        if isinstance(consents, dict) and consents.get(channel) == "out":
            return ("no_consent", f"The person opted out of marketing on {channel}")
    return None
