"""GET /campaigns/{id}/report: what happened to a campaign's recipients, from targeted to clicked, by reason,
locale and day, through the real handlers (trigger, delivery, feedback) and counters tracking writes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from campaign_engine import reports, store
from campaign_engine.aws import dynamodb
from campaign_engine.settings import get_settings
from tests.conftest import Api, HttpAnswer, Queue, load_event, trigger_body
from tests.integration.test_feedback import ADA, BRUNA, CARL, on_event, recipients, send

ZERO = {"unique": 0, "total": 0, "machine": 0}


def report(api: Api, campaign_id: str, **query: str) -> HttpAnswer:
    event = load_event("api/get_campaign_report.json")
    event["rawQueryString"] = ""
    return api.call_event("api", event, {"campaignId": campaign_id}, query=query or None)


def engagement(campaign_id: str, bucket: str, **counts: int) -> None:
    """What the tracking function adds for opens, clicks and unsubscribes (`unique_opened` -> `unique:opened`)."""
    reports.add_counts({(campaign_id, bucket): Counter({k.replace("_", ":", 1): v for k, v in counts.items()})})


def test_the_report_counts_each_step_from_targeted_to_clicked(api: Api, queue: Queue) -> None:
    # Given three recipients sent an email, one more refused by the trigger, one suppressed before delivery,
    # one whose message cannot render
    sent = send(api, queue, ADA, BRUNA, CARL)
    late = trigger_body(
        sent.campaign_id,
        [
            *recipients("dan@example.com"),
            {"userId": "no-address", "namespace": "crmId", "context": {"orderId": "2", "total": "$2"}},
            {"userId": "eve@example.com", "namespace": "email", "context": {"orderId": "3"}},
        ],
        context=None,
        requestId="second-call",
    )
    assert api.trigger(late).status == 202
    suppressed = api.call(
        "api", "api/add_suppressions.json", body={"entries": [{"channel": "email", "address": "dan@example.com"}]}
    )
    assert suppressed.status == 200, suppressed.body
    queue.drain()
    # and SES reports Ada delivered, Bruna bounced, Carl delivered then complaining
    for name, user in (
        ("email_delivered", ADA),
        ("email_bounced", BRUNA),
        ("email_delivered", CARL),
        ("email_complaint", CARL),
    ):
        assert on_event(sent.event(name, user))["outcome"] == "applied"
    # and tracking counted Ada's opens (two of them by a privacy proxy), a click, and an unsubscribe
    bucket = reports.hour_bucket()
    engagement(sent.campaign_id, bucket, unique_opened=1, total_opened=2, machine_opened=2)
    engagement(sent.campaign_id, bucket, total_opened=1, unique_clicked=1, total_clicked=1, total_unsubscribed=1)

    # When the campaign's report is read
    answer = report(api, sent.campaign_id)

    # Then every step shows, each reason under its step
    assert answer.status == 200, answer.body
    body = answer.body
    assert body["counts"] == {
        "targeted": 6,
        "accepted": 5,
        "rejected": 1,
        "excluded": 1,
        "sent": 3,
        "delivered": 2,
        "bounced": 1,
        "complained": 1,
        "failed": 1,
        "opened": {"unique": 1, "total": 3, "machine": 2},
        "clicked": {"unique": 1, "total": 1, "machine": 0},
        "unsubscribed": 1,
    }
    assert body["rejectedByReason"] == {"missing_address": 1}
    assert body["excludedByReason"] == {"suppressed": 1}
    assert body["failedByReason"] == {"render_error": 1}
    # and the fields the report had before are unchanged
    assert body["byStatus"] == {"bounced": 1, "complained": 1, "delivered": 1, "excluded": 2, "failed": 1}
    assert body["total"] == 6
    assert body["byLocale"] == {"en-US": 4}
    assert "days" not in body


def test_a_rejected_send_moves_from_sent_to_failed_by_reason(api: Api, queue: Queue) -> None:
    from tests.integration.test_feedback import with_type

    sent = send(api, queue, ADA)
    rejected = with_type(
        sent.event("email_delivered", ADA), "Email Rejected", "Reject", {"reject": {"reason": "Bad content"}}
    )
    assert on_event(rejected)["outcome"] == "applied"

    counts = report(api, sent.campaign_id).body
    assert (counts["counts"]["sent"], counts["counts"]["failed"]) == (0, 1)
    assert counts["failedByReason"] == {"send_failed": 1}


def test_by_day_gives_each_utc_day_oldest_first_and_since_leaves_earlier_days_out(api: Api, queue: Queue) -> None:
    # Given a campaign that sent today, and counters from two days ago
    sent = send(api, queue, ADA)
    today = datetime.now(UTC)
    earlier = today - timedelta(days=2)
    engagement(sent.campaign_id, reports.hour_bucket(earlier), unique_opened=4, total_opened=5)
    store.add_report_counts(
        sent.campaign_id, reports.hour_bucket(earlier), {"status:sent": 7, "total:targeted": 7, "total:accepted": 7}
    )

    by_day = report(api, sent.campaign_id, by="day")
    assert by_day.status == 200, by_day.body
    days = by_day.body["days"]
    assert [d["day"] for d in days] == [earlier.strftime("%Y-%m-%d"), today.strftime("%Y-%m-%d")]
    assert days[0]["counts"]["opened"] == {"unique": 4, "total": 5, "machine": 0}
    assert (days[0]["counts"]["sent"], days[1]["counts"]["sent"]) == (7, 1)
    assert days[1]["counts"]["opened"] == ZERO
    assert by_day.body["counts"]["sent"] == 8

    since = (today - timedelta(days=1)).isoformat()
    recent = report(api, sent.campaign_id, by="day", since=since).body
    assert [d["day"] for d in recent["days"]] == [today.strftime("%Y-%m-%d")]
    assert recent["counts"]["sent"] == 1


def test_an_unknown_by_is_a_problem_naming_by(api: Api) -> None:
    campaign = api.live_campaign()
    answer = report(api, campaign["id"], by="week")
    assert answer.status == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert (answer.body["code"], [e["field"] for e in answer.body["errors"]]) == ("validation_failed", ["by"])


def test_counters_are_spread_over_shards_and_summed(api: Api) -> None:
    # Given a campaign whose counters are added to many times in the same hour (a busy send)
    campaign = api.live_campaign()
    bucket = reports.hour_bucket()
    for _ in range(40):
        reports.add_counts({(campaign["id"], bucket): Counter({"status:sent": 1, "total:targeted": 1})})

    # Then the writes went to more than one partition key, and the report sums them all
    partitions = _report_partitions(campaign["id"])
    assert len(partitions) > 1
    assert all(p == f"STATS#{campaign['id']}" or p.startswith(f"STATS#{campaign['id']}#") for p in partitions)
    body = report(api, campaign["id"]).body
    assert (body["counts"]["sent"], body["counts"]["targeted"], body["byStatus"]) == (40, 40, {"sent": 40})


def _report_partitions(campaign_id: str) -> set[str]:
    items: list[dict[str, Any]] = dynamodb().scan(TableName=get_settings().executions_table)["Items"]
    return {i["pk"]["S"] for i in items if i["pk"]["S"].startswith(f"STATS#{campaign_id}")}
