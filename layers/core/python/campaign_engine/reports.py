"""Campaign reports: counts by status, by reason and by locale, per hour.

Counts live in one item per campaign and hour. Delivery adds to them once per batch (not per
message) and the trigger only when a call rejected someone, so reporting costs a fraction of
a request per email. GET /im/executions/{id} is the exact, per-recipient record; a function
that dies between recording outcomes and adding them here leaves these counts short."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from campaign_engine import store

if TYPE_CHECKING:  # the trigger and delivery add counts: neither imports pydantic's models or auth for it
    from campaign_engine.auth import Principal
    from campaign_engine.models import CampaignReport


def hour_bucket(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H")


def tally(outcomes: Iterable[tuple[str, str, str | None, str | None]]) -> dict[tuple[str, str], Counter[str]]:
    """(campaignId, status, reason, locale) -> per (campaign, hour) counters named status:x, reason:x, locale:x."""
    bucket = hour_bucket()
    counts: dict[tuple[str, str], Counter[str]] = {}
    for campaign_id, status, reason, locale in outcomes:
        counter = counts.setdefault((campaign_id, bucket), Counter())
        counter[f"status:{status}"] += 1
        if reason:
            counter[f"reason:{reason}"] += 1
        if locale:
            counter[f"locale:{locale}"] += 1
    return counts


def add_counts(counts: dict[tuple[str, str], Counter[str]]) -> None:
    for (campaign_id, bucket), counter in counts.items():
        if counter:
            store.add_report_counts(campaign_id, bucket, counter)


def campaign_report(campaign_id: str, principal: Principal, since: datetime | None) -> CampaignReport:
    from campaign_engine.auth import require, require_campaign_access
    from campaign_engine.models import CampaignReport

    require(principal, "reports:read")
    require_campaign_access(principal, store.get_campaign_head(campaign_id), campaign_id)
    totals: Counter[str] = Counter()
    for counters in store.iter_report_counts(campaign_id, hour_bucket(_in_utc(since)) if since else None):
        totals.update(counters)

    def group(prefix: str) -> dict[str, int]:
        return {k.split(":", 1)[1]: v for k, v in sorted(totals.items()) if k.startswith(prefix) and v}

    by_status = group("status:")
    return CampaignReport(
        campaign_id=campaign_id,
        since=since,
        generated_at=datetime.now(UTC),
        total=sum(by_status.values()),
        by_status=by_status,
        by_reason=group("reason:"),
        by_locale=group("locale:"),
    )


def _in_utc(moment: datetime) -> datetime:
    """Buckets are UTC hours: `since` in another offset is moved to UTC first (a naive one is
    taken as UTC), and a moment beyond year 1 or 9999 once in UTC is the first or last there is."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return (datetime.min if moment.year == 1 else datetime.max).replace(tzinfo=UTC)
