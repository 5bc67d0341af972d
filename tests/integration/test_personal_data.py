"""Personal data stays out of what is stored and served: a provider's refusal is kept as its error
code and a fixed description, never the provider's own text, which quotes addresses and numbers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from local.template import Template
from tests.conftest import Api, Queue, trigger_body
from tests.integration.conftest import Fault, FaultySes, drain_delivery, ses_error
from tests.integration.test_feedback import BRUNA, on_event, send

REFUSED = "user2@example.com"
SES_TEXT = (
    "Email address is not verified. The following identities failed the check in region US-EAST-1: "
    f"{REFUSED}, orders@example.com"
)


def _people() -> list[dict[str, Any]]:
    return [{"userId": f"user{i}@example.com", "context": {"orderId": str(i)}} for i in range(4)]


def _stored_text(template: Template) -> str:
    """Every item of the executions table, as text."""
    items = boto3.client("dynamodb").scan(TableName=template.table_name("ExecutionsTable"))["Items"]
    return json.dumps(items)


@pytest.mark.parametrize(
    ("code", "status", "description"),
    [
        ("MessageRejected", 400, "the provider rejected the message"),
        ("SomethingNewException", 400, "the provider refused the message (HTTP 400)"),
    ],
)
def test_a_refused_send_keeps_the_error_code_and_a_fixed_description_never_the_providers_text(
    api: Api,
    queue: Queue,
    aws_env: Template,
    faulty_ses: Callable[[Any], FaultySes],
    code: str,
    status: int,
    description: str,
) -> None:
    # Given SES refuses one recipient with a message that quotes addresses
    faulty_ses(lambda to, attempt: Fault(ses_error(code, status, SES_TEXT)) if to == REFUSED else None)
    campaign = api.live_campaign()
    answer = api.trigger(trigger_body(campaign["id"], _people()))
    assert answer.status == 202, answer.body

    # When delivery runs
    drain_delivery(queue)

    # Then the served detail names the code and says why in fixed words, and quotes no address
    served = {r["userId"]: r for r in api.execution(answer.body["executionId"]).body["recipients"]}
    refused = served[REFUSED]
    assert (refused["status"], refused["reason"]) == ("failed", "send_failed")
    assert refused["detail"].startswith(f"{code}: {description}")
    assert "@" not in refused["detail"]
    assert "not verified" not in refused["detail"]
    # And nothing stored holds the provider's text
    assert "not verified" not in _stored_text(aws_env)


def test_a_bounce_diagnostic_that_quotes_the_address_is_stored_without_it(api: Api, queue: Queue) -> None:
    sent = send(api, queue, BRUNA)
    event = sent.event("email_bounced", BRUNA)
    event["detail"]["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = (
        f"smtp; 550 5.1.1 <{BRUNA}>: Recipient address rejected (also +14155550100)"
    )
    assert on_event(event)["outcome"] == "applied"

    detail = sent.status()[BRUNA]["detail"]
    assert detail == "Permanent/General: smtp; 550 5.1.1 <address>: Recipient address rejected (also <address>)"
