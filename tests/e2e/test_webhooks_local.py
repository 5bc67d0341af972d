"""Feedback webhooks on the local stack: a triggered campaign's sent and delivered events (SES's mailbox
simulator) arrive at the stack's own receiver, /_local/webhooks/<name>, signed with the campaign's secret."""

from __future__ import annotations

import uuid
from typing import Any

from campaign_engine import webhook_signature
from local import Stack
from local.stack import DEMO_CAMPAIGN
from tests.e2e.conftest import stack_progress, wait_for

SUCCESS = "success@simulator.amazonses.com"


def test_sent_and_delivered_events_reach_the_local_receiver_signed(local_stack: Stack) -> None:
    # Given the demo campaign with a webhook pointed at the local receiver
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    url = f"{local_stack.base_url}/_local/webhooks/{name}"
    status, _, created = local_stack.request("POST", "/campaigns", {**DEMO_CAMPAIGN, "webhook": {"url": url}})
    assert status == 201, created
    secret = created["webhookSecret"]
    status, _, activated = local_stack.request("POST", f"/campaigns/{created['id']}/activate")
    assert status == 200, activated

    # When it is triggered for the mailbox simulator's success address
    body = {
        "requestId": f"webhooks-{uuid.uuid4()}",
        "campaignId": created["id"],
        "recipients": [
            {
                "type": "aep",
                "userId": SUCCESS,
                "namespace": "email",
                "channelData": {"emailAddress": SUCCESS},
                "context": {"code": "123456"},
            }
        ],
    }
    status, _, answer = local_stack.request("POST", "/im/executions/unitary", body)
    assert status == 202, answer

    # Then the receiver gets the sent and the delivered event
    def arrived() -> list[dict[str, Any]]:
        status, _, listed = local_stack.request("GET", f"/_local/webhooks?name={name}")
        assert status == 200, listed
        return listed["items"]

    def statuses(items: list[dict[str, Any]]) -> set[str]:
        return {e["status"] for item in items for e in item["events"] or []}

    items = wait_for(
        arrived, until=lambda items: {"sent", "delivered"} <= statuses(items), progress=stack_progress(local_stack)
    )
    for item in items:
        # each POST signed with the campaign's secret over its timestamp and exact body
        assert webhook_signature.verify(secret, item["body"].encode(), item["headers"]["webhook-signature"])
        assert item["headers"]["webhook-id"].startswith("wh_")
        for event in item["events"]:
            assert event["executionId"] == answer["executionId"]
            assert event["campaignId"] == created["id"]
            assert event["userId"] == SUCCESS
    # and a body changed on the way would not verify
    first = items[0]
    assert not webhook_signature.verify(secret, first["body"].encode() + b" ", first["headers"]["webhook-signature"])

    # Reading what arrived takes the admin key; posting to the receiver needs none
    status, _, _ = local_stack.request("GET", "/_local/webhooks", key=None)
    assert status == 401
