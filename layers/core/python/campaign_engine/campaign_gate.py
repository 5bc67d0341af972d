"""Whether a queued message may still be sent: its campaign's current status and window.

A message is queued with the campaign version it was accepted under, and that version is
immutable (delivery caches it). A stop, an archive, a completion or the end of the schedule
window happens to the campaign, not to the version, so delivery asks here before each message.
The answer is read at most once per CAMPAIGN_CACHE_SECONDS per container (1 s by default, as the
trigger's): a stop reaches delivery within that time plus DynamoDB's eventually consistent read
(usually well under a second). A send already under way when the stop lands still completes.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from campaign_engine import store
from campaign_engine.containers import per_container
from campaign_engine.settings import get_settings

CAMPAIGN_STOPPED = "campaign_stopped"
CAMPAIGN_ENDED = "campaign_ended"
# Statuses under which accepted messages are sent. Any other (stopped, archived, completed) means
# the author ended the campaign after these messages were accepted.
SENDING = frozenset({"live", "scheduled"})

_snapshots: dict[str, tuple[float, store.LiveSnapshot | None]] = per_container({})


def live_snapshot(campaign_id: str) -> store.LiveSnapshot | None:
    """The campaign's status, live version and access labels, read at most once per
    CAMPAIGN_CACHE_SECONDS per container: at high rates the read would cost as much as the rest of
    the trigger. A stop or an activation reaches warm containers within that time (1 s by default;
    0 reads every time). The trigger and delivery share this one cache."""
    ttl = get_settings().campaign_cache_seconds
    now = time.monotonic()
    cached = _snapshots.get(campaign_id)
    if cached is not None and now - cached[0] < ttl:
        return cached[1]
    snapshot = store.get_live_snapshot(campaign_id)
    if ttl > 0:
        if len(_snapshots) > 1000:
            _snapshots.clear()
        _snapshots[campaign_id] = (now, snapshot)
    return snapshot


def closed_reason(campaign_id: str, version: dict[str, Any]) -> tuple[str, str] | None:
    """None while the campaign sends; else the exclusion (reason, detail) for the message's recipients.
    `version` is the campaign version the message was accepted under."""
    snapshot = live_snapshot(campaign_id)
    if snapshot is None:  # only drafts can be deleted; kept for safety: nothing to send for
        return CAMPAIGN_STOPPED, "The campaign no longer exists"
    status, live, _labels = snapshot
    if status == "completed":
        return CAMPAIGN_ENDED, "The campaign's schedule ended before this message was sent"
    if status not in SENDING:
        return CAMPAIGN_STOPPED, f"The campaign was {status} before this message was sent"
    end = ((live or version).get("schedule") or {}).get("end")
    if end and time.time() >= datetime.fromisoformat(end.replace("Z", "+00:00")).timestamp():
        return CAMPAIGN_ENDED, f"The campaign's schedule ended at {end}, before this message was sent"
    return None
