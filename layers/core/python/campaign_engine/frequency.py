"""Frequency caps: at most `count` marketing messages per person per `period` on a channel, across
all campaigns (`PUT /rules/frequency`). Transactional campaigns are neither counted nor capped.

How delivery uses this (no pydantic here: delivery's cold start is measured):
- `cap_for(channel)`: the channel's cap, read from the campaigns table at most once every
  RULES_CACHE_SECONDS per container;
- `counter_keys(...)`: the counters of a message's recipients, read in screening's one BatchGetItem;
  a recipient whose counter already holds `count` sends inside the period is excluded
  `frequency_capped` without another request;
- `Caps.reserve(...)`: just before the send (after the claim), one conditional UpdateItem takes the
  slot; two deliveries racing for the last slot cannot both take it. `Caps.release(...)` gives it
  back when the send certainly did not happen.

A marketing campaign on a channel without a cap, and every transactional campaign, make no request
for this at all.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec

from campaign_engine.containers import per_container
from campaign_engine.store import frequency as counters

CHANNELS = ("email", "sms", "push")
RULES_CACHE_SECONDS = 5.0
MIN_PERIOD_SECONDS = 3600  # PT1H
MAX_PERIOD_SECONDS = 90 * 86400  # P90D
MIN_COUNT, MAX_COUNT = 1, 1000
CAPPED = "frequency_capped"

_DURATION = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


def duration_seconds(text: str) -> int:
    """Seconds in an ISO-8601 duration of weeks, days, hours, minutes and seconds (`P7D`, `PT12H`,
    `P1DT6H`, `P2W`). Years and months have no fixed length: say them in days. Raises ValueError."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None or not any(match.groups()) or text.endswith("T"):
        raise ValueError(
            "must be an ISO-8601 duration in weeks, days, hours, minutes or seconds, e.g. P7D or PT12H "
            "(years and months have no fixed length: use days)"
        )
    weeks, days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds


def period_problem(text: str) -> str | None:
    """Why `text` is not a usable period, or None."""
    try:
        seconds = duration_seconds(text)
    except ValueError as error:
        return str(error)
    if not MIN_PERIOD_SECONDS <= seconds <= MAX_PERIOD_SECONDS:
        return "must be between PT1H (one hour) and P90D (90 days)"
    return None


class Cap(msgspec.Struct, frozen=True):
    count: int
    period_seconds: int
    period: str


# ---------------------------------------------------------------------------
# The rules, cached per container
# ---------------------------------------------------------------------------
class _Cached(msgspec.Struct):
    caps: dict[str, Cap] = msgspec.field(default_factory=dict)
    read_at: float | None = None


_cache: dict[str, _Cached] = per_container({})
_lock = threading.Lock()


def stored_caps() -> dict[str, Cap]:
    """Every channel's cap, at most RULES_CACHE_SECONDS old (monotonic: a clock moved by a test or
    by NTP does not keep a stale rule)."""
    with _lock:
        cached = _cache.get("rules")
        now = time.monotonic()
        if cached is not None and cached.read_at is not None and now - cached.read_at < RULES_CACHE_SECONDS:
            return cached.caps
    rules, _ = counters.get_rules()
    caps = {
        channel: Cap(int(rule["count"]), int(rule["seconds"]), str(rule["period"]))
        for channel, rule in rules.items()
        if channel in CHANNELS
    }
    with _lock:
        _cache["rules"] = _Cached(caps, now)
    return caps


def forget_rules() -> None:
    """A PUT /rules/frequency served by this container is seen by its next delivery at once."""
    with _lock:
        _cache.pop("rules", None)


def cap_for(channel: str, campaign_type: str) -> Cap | None:
    """The cap that applies to a campaign of this channel and type: none for transactional ones
    (and then the rules are not even read)."""
    if campaign_type != "marketing":
        return None
    return stored_caps().get(channel)


# ---------------------------------------------------------------------------
# Delivery: one message's recipients
# ---------------------------------------------------------------------------
Identity = tuple[str, str]  # (namespace, userId)


def counter_keys(channel: str, cap: Cap | None, identities: Sequence[Identity]) -> list[dict[str, Any]]:
    if cap is None:
        return []
    return [counters.counter_key(channel, namespace, user_id) for namespace, user_id in identities]


class Caps(msgspec.Struct):
    """A message's recipients' counters as screening read them, and the cap they are held to."""

    channel: str
    cap: Cap
    seen: dict[Identity, counters.Counter]

    @classmethod
    def from_read(
        cls, channel: str, cap: Cap, identities: Sequence[Identity], found: dict[str, dict[str, Any]]
    ) -> Caps:
        seen = {
            identity: counters.counter_from_item(found.get(counters.counter_pk(channel, *identity)))
            for identity in identities
        }
        return cls(channel, cap, seen)

    def capped(self, identity: Identity, now: float | None = None) -> bool:
        """Whether the read already shows the cap reached (the recipient is excluded at once)."""
        seen = self.seen.get(identity, counters.Counter())
        return len(seen.recent(time.time() if now is None else now, self.cap.period_seconds)) >= self.cap.count

    def exclusion(self) -> tuple[str, str]:
        return (
            CAPPED,
            f"{self.cap.count} marketing {self.channel} messages already sent to this person within {self.cap.period}",
        )

    def reserve(self, identity: Identity) -> str | bool | None:
        """Takes a slot: its token (give it back with release), False when the cap is reached, None
        when the counter kept moving under concurrent deliveries (try later)."""
        token = uuid.uuid4().hex[:16]
        taken = counters.reserve(
            counters.counter_key(self.channel, *identity),
            self.seen.get(identity, counters.Counter()),
            token=token,
            now=round(time.time(), 3),
            count=self.cap.count,
            period_seconds=self.cap.period_seconds,
        )
        return token if taken else taken

    def release(self, identity: Identity, token: str) -> None:
        counters.release(counters.counter_key(self.channel, *identity), token)
