"""Every function's AWS calls run under exactly what its template role grants (local/iam.py).

On AWS a call the role does not allow fails; the emulator alone lets it through. These tests show
that the permissions the functions need are in template.yaml, and that removing any of them is
noticed, with the function, the permission and the resource named."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local import iam
from local.template import Template
from tests.conftest import ROOT, TEST_PARAMETERS, Api, Queue, trigger_body
from tests.integration.conftest import invoke_delivery
from tests.integration.test_feedback import ADA, BRUNA, on_event, send

EXECUTIONS = "arn:aws:dynamodb:us-east-1:123456789012:table/local-executions"


# ---------------------------------------------------------------------------
# The permissions the template lacked
# ---------------------------------------------------------------------------


def test_the_status_of_a_sent_execution_is_read_within_the_api_role(api: Api, queue: Queue) -> None:
    # Given an execution that delivery sent (its outcomes are recorded per delivery run)
    sent = send(api, queue, ADA, BRUNA)

    # When its status is read through the API function
    answer = api.execution(sent.execution_id)

    # Then it answers, with each recipient sent, and the role allowed every call (BatchGetItem included)
    assert answer.status == 200, answer.body
    assert {r["userId"]: r["status"] for r in answer.body["recipients"]} == {ADA: "sent", BRUNA: "sent"}
    assert iam.take_denials() == []


def test_an_ses_event_is_applied_within_the_feedback_role(api: Api, queue: Queue) -> None:
    # Given a recipient that delivery sent
    sent = send(api, queue, ADA)

    # When SES reports its delivery
    outcome = on_event(sent.event("email_delivered", ADA))

    # Then the feedback function reads the recipient (GetItem, then its run's outcome: BatchGetItem) and moves it
    assert outcome["outcome"] == "applied", outcome
    assert sent.status()[ADA]["status"] == "delivered"
    assert iam.take_denials() == []


def test_a_record_meeting_an_existing_claim_is_handled_within_the_delivery_role(
    api: Api, queue: Queue, outbox: Callable[[], list[dict[str, Any]]]
) -> None:
    # Given a record that delivery handled once (its recipients are claimed, outcomes recorded)
    campaign = api.live_campaign()
    answer = api.trigger(trigger_body(campaign["id"]))
    messages = queue.receive(visibility=0)
    assert invoke_delivery(queue, messages, delete=False).failed == set()
    sent_before = len(outbox())

    # When SQS delivers the same record again: each recipient meets its claim and reads the recorded outcome
    again = invoke_delivery(queue, messages)

    # Then nothing fails or is sent twice, and the role allowed every call (BatchGetItem included)
    assert again.failed == set()
    assert len(outbox()) == sent_before
    statuses = {r["status"] for r in api.execution(answer.body["executionId"]).body["recipients"]}
    assert statuses == {"sent"}
    assert iam.take_denials() == []


# ---------------------------------------------------------------------------
# Removing a permission from template.yaml is noticed, and named
# ---------------------------------------------------------------------------


def without_permission(document: dict[str, Any], function: str, permission: str) -> dict[str, Any]:
    """template.yaml with `permission` taken from `function`'s Policies: an action (from every inline
    statement that lists it) or a SAM policy template (the whole entry)."""
    changed = copy.deepcopy(document)
    policies = changed["Resources"][function]["Properties"]["Policies"]
    kept: list[Any] = []
    removed = False
    for policy in policies:
        if isinstance(policy, dict) and permission in policy:
            removed = True
            continue
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            actions = statement.get("Action") if isinstance(statement, dict) else None
            listed = actions if isinstance(actions, list) else [actions]
            if permission in listed:
                removed = True
                statement["Action"] = [a for a in listed if a != permission]
        kept.append(policy)
    assert removed, f"{function} has no {permission} to remove"
    changed["Resources"][function]["Properties"]["Policies"] = kept
    return changed


@pytest.fixture
def in_force() -> Iterator[Callable[[dict[str, Any]], None]]:
    """Puts the roles of a changed template in force for the rest of the test."""
    previous = iam.current()

    def install(document: dict[str, Any]) -> None:
        iam.install(iam.Enforcer.from_template(Template(document, parameters=TEST_PARAMETERS)))

    yield install
    if previous is not None:
        iam.install(previous)


def run_the_pipeline(api: Api, queue: Queue) -> None:
    """Create, trigger, deliver, read the status and feed back one SES event; whatever fails on the way."""
    try:
        sent = send(api, queue, ADA)
        on_event(sent.event("email_delivered", ADA))
    except Exception:  # what matters here is which calls were refused, read below
        pass


@pytest.mark.parametrize(
    ("function", "permission", "expected"),
    [
        ("ApiFunction", "dynamodb:BatchGetItem", f"function ApiFunction lacks dynamodb:BatchGetItem on {EXECUTIONS}"),
        (
            "FeedbackFunction",
            "dynamodb:BatchGetItem",
            f"function FeedbackFunction lacks dynamodb:BatchGetItem on {EXECUTIONS}",
        ),
        # The batch's counters are written in one transaction with its attempt's record (a Put)
        ("FeedbackFunction", "dynamodb:PutItem", f"function FeedbackFunction lacks dynamodb:PutItem on {EXECUTIONS}"),
        ("DeliveryFunction", "dynamodb:PutItem", f"function DeliveryFunction lacks dynamodb:PutItem on {EXECUTIONS}"),
        (
            "DeliveryFunction",
            "ses:SendEmail",
            "function DeliveryFunction lacks ses:SendEmail on arn:aws:ses:us-east-1:123456789012:identity/example.com",
        ),
        (
            "TriggerFunction",
            "SQSSendMessagePolicy",
            "function TriggerFunction lacks sqs:SendMessage on arn:aws:sqs:us-east-1:123456789012:local-delivery",
        ),
    ],
)
def test_a_permission_removed_from_the_template_is_refused_and_named(
    api: Api,
    queue: Queue,
    in_force: Callable[[dict[str, Any]], None],
    function: str,
    permission: str,
    expected: str,
) -> None:
    # Given template.yaml without one permission of one function
    document = Template.load(ROOT / "template.yaml").document
    in_force(without_permission(document, function, permission))

    # When the pipeline runs
    run_the_pipeline(api, queue)

    # Then AWS's refusal of the call that needed it is recorded, naming the function, the permission and the resource
    assert expected in {str(denial) for denial in iam.take_denials()}


def test_a_refused_call_answers_as_aws_would(
    api: Api, queue: Queue, in_force: Callable[[dict[str, Any]], None]
) -> None:
    # Given the API function without BatchGetItem on the executions table, and a sent execution
    sent = send(api, queue, ADA)
    in_force(without_permission(Template.load(ROOT / "template.yaml").document, "ApiFunction", "dynamodb:BatchGetItem"))

    # When its status is read
    answer = api.execution(sent.execution_id)

    # Then the caller gets a server error (as on AWS), and the refusal is recorded for the test to fail on
    assert answer.status == 500
    assert [str(d) for d in iam.take_denials()] == [f"function ApiFunction lacks dynamodb:BatchGetItem on {EXECUTIONS}"]
