"""Quiet hours: a marketing campaign's `quietHours` (`start` and `end` as `HH:MM` in the recipient's
time zone, `timezone` the fallback, `action` `defer` or `discard`). Transactional campaigns are exempt.

The recipient's time zone is the profile's `timezone` (the queued profile holds the stored profile's
view, profile_views.template_view), else the campaign's `quietHours.timezone`, else UTC. A period
whose end is before its start crosses midnight (21:00-08:00). Inside it, `discard` excludes the
recipient (`quiet_hours`); `defer` has it come back when the period ends, through the queue (see
delivery: never a sleep).

No AWS and no pydantic here."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any

QUIET = "quiet_hours"
# SQS's longest visibility timeout: a deferred message waits at most this long in one go.
MAX_VISIBILITY_SECONDS = 12 * 3600


class Deferred(Exception):
    """Every recipient of the message is inside its quiet period: the message comes back in `seconds`."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"every recipient is in quiet hours: back in {seconds} s")
        self.seconds = seconds


def parse_hhmm(text: str) -> time:
    """`HH:MM` (00:00 to 23:59). Raises ValueError."""
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":" or not (text[:2] + text[3:]).isdigit():
        raise ValueError("must be a time of day as HH:MM, e.g. 21:00")
    hours, minutes = int(text[:2]), int(text[3:])
    if hours > 23 or minutes > 59:
        raise ValueError("must be a time of day from 00:00 to 23:59")
    return time(hours, minutes)


@lru_cache(maxsize=512)
def zone(name: Any) -> tzinfo | None:
    """The IANA time zone named, or None for a name that is not one. zoneinfo (and the sysconfig it
    reads for the zone paths) is imported by the first campaign with quiet hours, not by delivery's
    cold start."""
    if not isinstance(name, str) or not name or len(name) > 64:
        return None
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return None


def rule(campaign: dict[str, Any]) -> dict[str, Any] | None:
    """The campaign's quiet hours, when they apply (marketing campaigns only)."""
    if campaign.get("type") != "marketing":
        return None
    quiet = campaign.get("quietHours")
    return quiet if isinstance(quiet, dict) and quiet.get("start") and quiet.get("end") else None


def recipient_zone(quiet: dict[str, Any], profile: dict[str, Any] | None) -> tzinfo:
    own = zone((profile or {}).get("timezone"))
    if own is not None:
        return own
    return zone(quiet.get("timezone")) or UTC


def seconds_left(quiet: dict[str, Any], tz: tzinfo, now: datetime) -> int | None:
    """Seconds until the quiet period that `now` is in ends, or None when `now` is outside it."""
    start, end = parse_hhmm(quiet["start"]), parse_hhmm(quiet["end"])
    local = now.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    ends = datetime.combine(local.date(), end, tzinfo=tz)
    if ends <= local:
        ends = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=tz)
    # Wall-clock arithmetic across a DST change is done in UTC: the real seconds to wait.
    return max(1, math.ceil((ends.astimezone(UTC) - now.astimezone(UTC)).total_seconds()))


def waits(campaign: dict[str, Any], recipients: Sequence[Any], now: datetime | None = None) -> dict[str, int]:
    """userId -> seconds until its quiet period ends, for the recipients inside one now (none for a
    campaign without quiet hours, or a transactional one)."""
    quiet = rule(campaign)
    if quiet is None:
        return {}
    moment = now or datetime.now(UTC)
    found: dict[str, int] = {}
    for recipient in recipients:
        left = seconds_left(quiet, recipient_zone(quiet, recipient.profile), moment)
        if left is not None:
            found[recipient.userId] = left
    return found


def action(campaign: dict[str, Any]) -> str:
    return str((campaign.get("quietHours") or {}).get("action") or "defer")


def exclusion(campaign: dict[str, Any]) -> tuple[str, str]:
    quiet = campaign.get("quietHours") or {}
    return (QUIET, f"Inside the campaign's quiet hours ({quiet.get('start')}-{quiet.get('end')}, the person's time)")
