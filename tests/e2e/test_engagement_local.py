"""The engagement loop on the local stack, as a new user would try it: a tracked marketing campaign with
a webhook is sent to SES's mailbox simulator (a success, a bounce, a complaint); the person who got it
opens it, follows its link and unsubscribes. All of it shows up in the campaign's report, in each
recipient's status and at the webhook, signed."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from campaign_engine import webhook_signature
from local import Stack
from tests.e2e.conftest import stack_progress, wait_for
from tests.e2e.test_tracking_local import follow

SUCCESS = "success@simulator.amazonses.com"
BOUNCE = "bounce@simulator.amazonses.com"
COMPLAINT = "complaint@simulator.amazonses.com"
SALE = "https://shop.example.com/winter-sale"


def _campaign(local_stack: Stack, webhook_url: str) -> tuple[str, str]:
    campaign = {
        "name": "Winter sale",
        "type": "marketing",
        "channel": "email",
        "sender": {"fromEmail": "news@example.com", "fromName": "Example News"},
        "tracking": {"opens": True, "clicks": True},
        "webhook": {"url": webhook_url},
        "content": {
            "defaultLocale": "en-US",
            "locales": {"en-US": {"subject": "Winter sale", "html": f'<p>Hi</p><p><a href="{SALE}">Shop</a></p>'}},
        },
    }
    status, _, created = local_stack.request("POST", "/campaigns", campaign)
    assert status == 201, created
    status, _, live = local_stack.request("POST", f"/campaigns/{created['id']}/activate")
    assert status == 200, live
    return str(created["id"]), str(created["webhookSecret"])


def _recipients(local_stack: Stack, execution_id: str, until: Any) -> dict[str, dict[str, Any]]:
    def probe() -> dict[str, dict[str, Any]]:
        status, _, execution = local_stack.request("GET", f"/im/executions/{execution_id}")
        assert status == 200, execution
        return {r["userId"]: r for r in execution["recipients"]}

    return wait_for(probe, until=until, progress=stack_progress(local_stack))


def test_opens_clicks_unsubscribes_bounces_and_complaints_reach_the_report_the_status_and_the_webhook(
    local_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKING_HUMAN_DELAY_SECONDS", "0")  # this reader opens the email at once
    hook = f"engagement-{uuid.uuid4().hex[:8]}"
    campaign_id, secret = _campaign(local_stack, f"{local_stack.base_url}/_local/webhooks/{hook}")
    local_stack.request("DELETE", "/_local/outbox")

    # Given the campaign sent to a reader, an address that bounces and one that complains
    body = {
        "requestId": f"engagement-{uuid.uuid4()}",
        "campaignId": campaign_id,
        "recipients": [
            {"type": "aep", "userId": a, "namespace": "email", "channelData": {"emailAddress": a}}
            for a in (SUCCESS, BOUNCE, COMPLAINT)
        ],
    }
    status, _, answer = local_stack.request("POST", "/im/executions/unitary", body)
    assert status == 202, answer
    execution_id = answer["executionId"]
    _recipients(
        local_stack,
        execution_id,
        until=lambda r: (
            (r.get(BOUNCE, {}).get("status"), r.get(COMPLAINT, {}).get("status")) == ("bounced", "complained")
        ),
    )

    # When the reader opens the email, follows its link and unsubscribes
    items = local_stack.request("GET", "/_local/outbox")[2]["items"]
    [message] = [m for m in items if m["to"] == [SUCCESS] or m["to"] == SUCCESS]
    pixel = re.findall(r'<img src="([^"]+)"', message["html"])[0]
    link = next(h for h in re.findall(r'<a href="([^"]+)"', message["html"]) if "/t/c/" in h)
    assert follow(pixel)[0] == 200
    assert follow(link)[:2][0] == 302
    unsubscribe = message["headers"]["List-Unsubscribe"].strip("<>")
    assert follow(unsubscribe, "POST", "List-Unsubscribe=One-Click")[0] == 200

    # Then each recipient's status says what happened to them
    recipients = _recipients(local_stack, execution_id, until=lambda r: r.get(SUCCESS, {}).get("status") == "clicked")
    assert recipients[SUCCESS]["unsubscribedAt"]
    assert (recipients[BOUNCE]["status"], recipients[BOUNCE]["reason"]) == ("bounced", "hard_bounce")
    assert recipients[COMPLAINT]["status"] == "complained"

    # and the report counts it
    def report() -> dict[str, Any]:
        status, _, answer = local_stack.request("GET", f"/campaigns/{campaign_id}/report?by=day")
        assert status == 200, answer
        return answer

    counts = wait_for(report, until=lambda r: r["counts"]["unsubscribed"] == 1, progress=stack_progress(local_stack))[
        "counts"
    ]
    assert counts["targeted"] == 3
    assert counts["sent"] == 3
    assert (counts["bounced"], counts["complained"]) == (1, 1)
    assert counts["opened"]["unique"] == 1
    assert counts["clicked"]["unique"] == 1
    assert counts["clicked"]["total"] == 1

    # and the webhook got every event, signed with the campaign's secret
    def arrived() -> list[dict[str, Any]]:
        status, _, listed = local_stack.request("GET", f"/_local/webhooks?name={hook}")
        assert status == 200, listed
        return listed["items"]

    def events(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
        return {(e["userId"], e["status"]) for item in items for e in item["events"] or []}

    wanted = {(SUCCESS, "opened"), (SUCCESS, "clicked"), (BOUNCE, "bounced"), (COMPLAINT, "complained")}
    posts = wait_for(arrived, until=lambda items: wanted <= events(items), progress=stack_progress(local_stack))
    for post in posts:
        assert webhook_signature.verify(secret, post["body"].encode(), post["headers"]["webhook-signature"])
