"""Who must not be sent to, checked just before sending and in audience fan-out and dry runs:

- `suppressed` (both campaign types): the address is on the suppression list (hard bounce,
  complaint, unsubscribe, or added by API or import);
- `no_consent` (marketing only): the person's stored profile says `out` for the channel;
- `unknown_profile`: the recipient came from a stored profile that no longer exists (erased
  since the execution started).

One batched read for a whole group of candidates (store.people.batch_get)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from campaign_engine.store import people

Exclusion = tuple[str, str]  # (reason, detail)


@dataclass(frozen=True, slots=True)
class Candidate:
    namespace: str
    user_id: str
    address: Any  # the resolved address: an email, an E.164 number, or push info {appID, platform, token}
    # The recipient was resolved from a stored profile (an audience member, or a known profile at trigger
    # time): if that profile is gone now, the person was erased and must not be reached.
    from_profile: bool = False


def screen(channel: str, campaign_type: str, candidates: Sequence[Candidate]) -> list[Exclusion | None]:
    """An exclusion, or None, per candidate, in order."""
    if not candidates:
        return []
    marketing = campaign_type == "marketing"
    keys = [people.suppression_key(channel, c.address) for c in candidates if c.address is not None]
    keys += [people.profile_key(c.namespace, c.user_id) for c in candidates if marketing or c.from_profile]
    found = people.batch_get(keys)
    verdicts: list[Exclusion | None] = []
    for candidate in candidates:
        verdicts.append(_verdict(channel, marketing, candidate, found))
    return verdicts


def _verdict(channel: str, marketing: bool, candidate: Candidate, found: dict[str, dict[str, Any]]) -> Exclusion | None:
    if candidate.address is not None and people.suppression_pk(channel, candidate.address) in found:
        item = found[people.suppression_pk(channel, candidate.address)]
        reason = item.get("reason", {}).get("S", "listed")
        return ("suppressed", f"The address is on the {channel} suppression list ({reason})")
    if not (marketing or candidate.from_profile):
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
