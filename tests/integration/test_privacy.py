"""A campaign with `privacy: {"retainMessages": false}` (one-time codes, reset links): no copy of
its messages or of its recipients' context outlives the send - not in the status, not in the local
outbox, not in the dead-letter queue after a delivery that kept failing."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local.outbox import NOT_RETAINED, Outbox, SesEmail
from local.template import REGION, Template
from tests.conftest import Api, Queue, trigger_body
from tests.integration.conftest import DeadLetters, invoke_delivery

CODE = "493817"
OTP_CAMPAIGN: dict[str, Any] = {
    "name": "Sign-in code",
    "privacy": {"retainMessages": False},
    "contextSchema": None,
    "content": {
        "defaultLocale": "en-US",
        "locales": {"en-US": {"subject": "Your code is {{ context.code }}", "html": "<p>{{ context.code }}</p>"}},
    },
}


def _otp(api: Api, **overrides: Any) -> dict[str, Any]:
    return api.live_campaign(**{**OTP_CAMPAIGN, **overrides})


def _send_code(api: Api, campaign: dict[str, Any], request_id: str) -> str:
    body = trigger_body(
        campaign["id"], [{"userId": "ada@example.com", "context": {"code": CODE}}], requestId=request_id
    )
    answer = api.trigger(body)
    assert answer.status == 202, answer.body
    return str(answer.body["executionId"])


def test_the_option_is_part_of_the_campaign_and_defaults_to_keeping_messages(api: Api) -> None:
    assert api.create_campaign()["privacy"] == {"retainMessages": True}
    assert _otp(api)["privacy"] == {"retainMessages": False}
    refused = api.call(
        "api", "api/create_campaign.json", body={**OTP_CAMPAIGN, "channel": "email", "privacy": {"x": 1}}
    )
    assert refused.status == 400
    assert [e["field"] for e in refused.body["errors"]] == ["privacy.x"]


def test_the_local_outbox_shows_the_envelope_of_such_a_message_but_not_the_message(
    api: Api, queue: Queue, aws_env: Template
) -> None:
    # Given one code sent by a campaign that keeps no messages, and one by an ordinary campaign
    private = _otp(api)
    ordinary = _otp(api, privacy={"retainMessages": True}, name="Ordinary")
    _send_code(api, private, "otp-1")
    _send_code(api, ordinary, "ordinary-1")
    queue.drain()

    # When the local outbox (GET /_local/outbox) is read
    outbox = Outbox(
        [SesEmail()],
        boto3.client("dynamodb", region_name=REGION),
        aws_env.table_name("ExecutionsTable"),
        aws_env.table_name("CampaignsTable"),
    )
    items = {item["campaignId"]: item for item in outbox.items()}

    # Then the private one shows who, from whom and when, not what
    shown = items[private["id"]]
    assert (shown["to"], shown["userId"], shown["retained"]) == ("ada@example.com", "ada@example.com", False)
    assert shown["subject"] == shown["html"] == shown["headers"]["Subject"] == NOT_RETAINED
    assert CODE not in json.dumps(shown)
    # And the ordinary one is the mailbox it always was
    assert items[ordinary["id"]]["subject"] == f"Your code is {CODE}"


def test_the_delivery_queue_and_its_dlq_hold_the_same_receive_count(aws_env: Template) -> None:
    queue = aws_env.resources["DeliveryQueue"]["Properties"]
    variables = aws_env.resources["DeliveryFunction"]["Properties"]["Environment"]["Variables"]
    assert int(variables["DELIVERY_MAX_RECEIVE_COUNT"]) == queue["RedrivePolicy"]["maxReceiveCount"]
    assert variables["DELIVERY_DEAD_LETTER_QUEUE_URL"] == {"Fn::GetAtt": ["DeliveryDeadLetterQueue", "QueueUrl"]}


def _claims_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB keeps failing delivery's claims: every receive of the message fails."""
    from campaign_engine import store

    def failing(*_args: Any, **_kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "PutItem")

    monkeypatch.setattr(store, "claim_recipient", failing)


def _receive_until_gone(queue: Queue, dlq: DeadLetters) -> list[dict[str, Any]]:
    for receive_count in range(1, dlq.max_receive_count + 2):
        messages = queue.receive(visibility=0)
        if not messages:
            break
        assert int(messages[0]["Attributes"]["ApproximateReceiveCount"]) == receive_count
        invoke_delivery(queue, messages)
    assert queue.depth() == 0
    return [json.loads(m["Body"]) for m in dlq.messages()]


def test_a_delivery_that_keeps_failing_leaves_no_context_in_the_dead_letter_queue(
    api: Api, queue: Queue, dlq: DeadLetters, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a code whose delivery fails on every receive
    execution_id = _send_code(api, _otp(api), "otp-dlq")
    _claims_fail(monkeypatch)

    # When it has been received as many times as the queue allows
    [dead] = _receive_until_gone(queue, dlq)

    # Then the dead-letter queue holds who it was for (to find and tell them), not the code
    assert dead["executionId"] == execution_id
    assert [(r["userId"], r["address"], r["context"], r["profile"]) for r in dead["recipients"]] == [
        ("ada@example.com", "ada@example.com", {}, {})
    ]
    assert CODE not in json.dumps(dead)


def test_an_ordinary_campaigns_message_reaches_the_dead_letter_queue_intact(
    api: Api, queue: Queue, dlq: DeadLetters, monkeypatch: pytest.MonkeyPatch
) -> None:
    _send_code(api, _otp(api, privacy={"retainMessages": True}), "ordinary-dlq")
    _claims_fail(monkeypatch)
    [dead] = _receive_until_gone(queue, dlq)
    assert dead["recipients"][0]["context"]["code"] == CODE
