"""Quiet periods in local time: crossing midnight, time zones, daylight saving changes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from campaign_engine import quiet_hours
from campaign_engine.queue_message import QueuedRecipient

NIGHT = {"start": "21:00", "end": "08:00"}


@pytest.mark.parametrize(
    ("local", "left"),
    [
        ("20:59", None),
        ("21:00", 11 * 3600),
        ("23:30", 8 * 3600 + 1800),
        ("00:00", 8 * 3600),
        ("07:59", 60),
        ("08:00", None),
        ("12:00", None),
    ],
)
def test_a_period_crossing_midnight(local: str, left: int | None) -> None:
    hours, minutes = map(int, local.split(":"))
    now = datetime(2026, 12, 1, hours, minutes, tzinfo=UTC)
    assert quiet_hours.seconds_left(NIGHT, UTC, now) == left


def test_a_daytime_period() -> None:
    lunch = {"start": "12:00", "end": "14:00"}
    assert quiet_hours.seconds_left(lunch, UTC, datetime(2026, 12, 1, 13, 0, tzinfo=UTC)) == 3600
    assert quiet_hours.seconds_left(lunch, UTC, datetime(2026, 12, 1, 14, 0, tzinfo=UTC)) is None
    assert quiet_hours.seconds_left(lunch, UTC, datetime(2026, 12, 1, 11, 59, tzinfo=UTC)) is None


def test_the_wait_is_real_time_across_a_daylight_saving_change() -> None:
    # Paris, night of 28-29 March 2026: clocks go from 02:00 to 03:00. 23:00 to 08:00 local is 8 real hours.
    paris = ZoneInfo("Europe/Paris")
    now = datetime(2026, 3, 28, 23, 0, tzinfo=paris)
    assert quiet_hours.seconds_left({"start": "22:00", "end": "08:00"}, paris, now) == 8 * 3600


def test_the_profile_zone_wins_then_the_campaign_zone_then_utc() -> None:
    quiet = {**NIGHT, "timezone": "America/New_York"}
    assert quiet_hours.recipient_zone(quiet, {"timezone": "Asia/Tokyo"}) == ZoneInfo("Asia/Tokyo")
    assert quiet_hours.recipient_zone(quiet, {"timezone": "Not/AZone"}) == ZoneInfo("America/New_York")
    assert quiet_hours.recipient_zone(quiet, {}) == ZoneInfo("America/New_York")
    assert quiet_hours.recipient_zone(NIGHT, None) == UTC


def test_waits_name_the_quiet_recipients_of_a_marketing_campaign_only() -> None:
    campaign = {"type": "marketing", "quietHours": {**NIGHT, "timezone": "UTC"}}
    people = [
        QueuedRecipient("tokyo", "crm", "t@example.com", {"timezone": "Asia/Tokyo"}),  # 09:00 there
        QueuedRecipient("utc", "crm", "u@example.com", {}),  # midnight
    ]
    now = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert quiet_hours.waits(campaign, people, now) == {"utc": 8 * 3600}
    assert quiet_hours.waits({**campaign, "type": "transactional"}, people, now) == {}


def test_a_wait_longer_than_the_queue_can_hold_comes_back_after_twelve_hours() -> None:
    from campaign_engine import delivery
    from campaign_engine.queue_message import QueueMessage

    # Quiet from 08:01 to 08:00: at 08:30 the period ends in 23.5 hours; SQS keeps a message away 12 at most
    campaign = {"type": "marketing", "quietHours": {"start": "08:01", "end": "08:00", "action": "defer"}}
    message = QueueMessage(1, "ex", "req", "c", 1, "2026-12-01T00:00:00Z", 0, [QueuedRecipient("u", "crm", "a@x.io")])
    with time_machine.travel(datetime(2026, 12, 1, 8, 30, tzinfo=UTC)), pytest.raises(quiet_hours.Deferred) as deferred:
        delivery._quiet_hours(message, campaign, {})
    assert deferred.value.seconds == quiet_hours.MAX_VISIBILITY_SECONDS == 12 * 3600
