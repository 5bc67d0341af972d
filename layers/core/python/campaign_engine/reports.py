"""Campaign reports: what happened to a campaign's recipients, counted per hour.

Counts live in items per campaign, hour and shard (store/reports.py). Delivery adds to them once
per batch (not per message), the trigger only when a call rejected someone, an audience's fan-out
once per page, feedback once per batch of SES events (with its commit record, so a retry counts each move
once: feedback.apply_events), tracking once per open or click; so reporting costs a
fraction of a request per email. GET /im/executions/{id} is the exact, per-recipient record; a
function that dies between recording outcomes and adding them here leaves these counts short.

Counters (all `kind:name`, added to, never set):
- `status:<state>`, `reason:<reason>`, `locale:<locale>`: where each recipient is now (feedback moves a
  recipient from one status counter to the next, in the hour its message was sent), byStatus & co.
- `total:targeted` (every recipient, once, when settled: rejected, screened out, or taken up by
  delivery) and `total:accepted` (taken up by delivery). The trigger writes nothing for a call that
  rejects no one: counting accepted recipients there would cost a write per call.
- `rejected:<reason>` (trigger), `excluded:<reason>` (audience screening and delivery),
  `failed:<reason>` (delivery; feedback moves a `send_unconfirmed` one on).
- Engagement, written by tracking: `unique:opened`, `total:opened`, `machine:opened`, the same for
  `clicked`, and `total:unsubscribed`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from campaign_engine import store

if TYPE_CHECKING:  # the trigger and delivery add counts: neither imports pydantic's models or auth for it
    from campaign_engine.auth import Principal
    from campaign_engine.models import CampaignReport, ReportCounts

# Who settled the recipients being counted: the trigger (rejections), an audience's fan-out (members its
# screening excluded), or delivery (every other recipient, once: sent, failed or excluded there).
Stage = Literal["trigger", "audience", "delivery"]
# Statuses that mean the message went out, and those that mean it arrived (an open, a click or a
# complaint implies delivery, whether or not SES published a Delivery event before it).
SENT_STATUSES = ("sent", "delivered", "opened", "clicked", "bounced", "complained")
DELIVERED_STATUSES = ("delivered", "opened", "clicked", "complained")
ENGAGEMENTS = ("opened", "clicked")


def hour_bucket(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H")


def tally(
    outcomes: Iterable[tuple[str, str, str | None, str | None]], stage: Stage = "delivery"
) -> dict[tuple[str, str], Counter[str]]:
    """(campaignId, status, reason, locale) -> per (campaign, hour) counters (see the module's docstring)."""
    bucket = hour_bucket()
    counts: dict[tuple[str, str], Counter[str]] = {}
    for campaign_id, status, reason, locale in outcomes:
        counter = counts.setdefault((campaign_id, bucket), Counter())
        counter[f"status:{status}"] += 1
        counter["total:targeted"] += 1
        if stage == "delivery":
            counter["total:accepted"] += 1
        if reason:
            counter[f"reason:{reason}"] += 1
            kind = "rejected" if stage == "trigger" else status
            if kind in ("rejected", "excluded", "failed"):
                counter[f"{kind}:{reason}"] += 1
        if locale:
            counter[f"locale:{locale}"] += 1
    return counts


def add_counts(counts: dict[tuple[str, str], Counter[str]]) -> None:
    for (campaign_id, bucket), counter in counts.items():
        if counter:
            store.add_report_counts(campaign_id, bucket, counter)


def campaign_report(
    campaign_id: str, principal: Principal, since: datetime | None, by: Literal["day"] | None = None
) -> CampaignReport:
    from campaign_engine.auth import require, require_campaign_access
    from campaign_engine.models import CampaignReport, ReportDay

    require(principal, "reports:read")
    require_campaign_access(principal, store.get_campaign_head(campaign_id), campaign_id)
    totals: Counter[str] = Counter()
    days: dict[str, Counter[str]] = {}
    for bucket, counters in store.iter_report_counts(campaign_id, hour_bucket(_in_utc(since)) if since else None):
        totals.update(counters)
        days.setdefault(bucket[:10], Counter()).update(counters)

    by_status = group(totals, "status")
    return CampaignReport(
        campaign_id=campaign_id,
        since=since,
        generated_at=datetime.now(UTC),
        total=sum(by_status.values()),
        by_status=by_status,
        by_reason=group(totals, "reason"),
        by_locale=group(totals, "locale"),
        counts=report_counts(totals),
        excluded_by_reason=group(totals, "excluded"),
        rejected_by_reason=group(totals, "rejected"),
        failed_by_reason=group(totals, "failed"),
        days=[ReportDay(day=day, counts=report_counts(days[day])) for day in sorted(days)] if by == "day" else None,
    )


def group(totals: Mapping[str, int], kind: str) -> dict[str, int]:
    """The counters named `kind:<name>`, as name -> count (those at zero left out)."""
    prefix = f"{kind}:"
    return {k.removeprefix(prefix): v for k, v in sorted(totals.items()) if k.startswith(prefix) and v}


def report_counts(totals: Mapping[str, int]) -> ReportCounts:
    from campaign_engine.models import EngagementCounts, ReportCounts

    def get(name: str) -> int:
        return max(0, totals.get(name, 0))

    def engagement(what: str) -> EngagementCounts:
        return EngagementCounts(
            unique=get(f"unique:{what}"), total=get(f"total:{what}"), machine=get(f"machine:{what}")
        )

    return ReportCounts(
        targeted=get("total:targeted"),
        accepted=get("total:accepted"),
        rejected=sum(group(totals, "rejected").values()),
        excluded=sum(group(totals, "excluded").values()),
        sent=sum(get(f"status:{s}") for s in SENT_STATUSES),
        delivered=sum(get(f"status:{s}") for s in DELIVERED_STATUSES),
        bounced=get("status:bounced"),
        complained=get("status:complained"),
        failed=get("status:failed"),
        opened=engagement("opened"),
        clicked=engagement("clicked"),
        unsubscribed=get("total:unsubscribed"),
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
