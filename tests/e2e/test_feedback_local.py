"""SES's mailbox simulator on the local stack: its addresses produce the delivery events SES would
publish, the template's EventBridge rule hands them to the feedback function, and the execution
and the report show delivered, bounced and complained."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local import Stack
from local.ses_events import Sent, _event, _publishing, _subscribers, matches, simulated_events
from local.stack import LOCAL_PARAMETERS
from local.template import Template
from tests.e2e.conftest import stack_progress, wait_for

ROOT = Path(__file__).resolve().parents[2]
SUCCESS = "success@simulator.amazonses.com"
BOUNCE = "bounce@simulator.amazonses.com"
COMPLAINT = "complaint+e2e@simulator.amazonses.com"
SUPPRESSED = "suppressionlist@simulator.amazonses.com"
OTHER = "ada@example.com"


def _recipient(address: str) -> dict[str, Any]:
    return {
        "type": "aep",
        "userId": address,
        "namespace": "email",
        "channelData": {"emailAddress": address},
        "profile": {"firstName": "Sim"},
        "context": {"code": "123456"},
    }


def test_simulator_addresses_end_delivered_bounced_and_complained(local_stack: Stack) -> None:
    # Given the demo campaign, triggered for every simulator outcome and one ordinary address
    campaign_id = local_stack.seed_demo()
    body = {
        "requestId": f"feedback-{uuid.uuid4()}",
        "campaignId": campaign_id,
        "recipients": [_recipient(a) for a in (SUCCESS, BOUNCE, COMPLAINT, SUPPRESSED, OTHER)],
    }
    status, _, answer = local_stack.request("POST", "/im/executions/unitary", body)
    assert status == 202, answer
    execution_id = answer["executionId"]

    # When SES's events come back (waiting while the stack still moves)
    def recipients() -> dict[str, dict[str, Any]]:
        status, _, execution = local_stack.request("GET", f"/im/executions/{execution_id}")
        assert status == 200, execution
        return {r["userId"]: r for r in execution["recipients"]}

    done = {SUCCESS: "delivered", BOUNCE: "bounced", COMPLAINT: "complained", SUPPRESSED: "bounced"}
    by_user = wait_for(
        recipients,
        until=lambda by_user: all(by_user[u]["status"] == s for u, s in done.items()),
        progress=stack_progress(local_stack),
    )

    # Then each simulator address shows what SES reported, with its reason
    assert by_user[SUCCESS].get("reason") is None
    assert (by_user[BOUNCE]["reason"], by_user[BOUNCE]["detail"]) == (
        "hard_bounce",
        "Permanent/General: smtp; 550 5.1.1 user unknown",
    )
    assert (by_user[COMPLAINT]["reason"], by_user[COMPLAINT]["detail"]) == ("complaint", "abuse")
    assert by_user[SUPPRESSED]["reason"] == "suppressed"
    # And an address outside the simulator gets no event locally: it stays sent
    assert by_user[OTHER]["status"] == "sent"
    assert all(r["messageId"] for r in by_user.values())

    # And the campaign report counts each recipient once, in its latest status
    status, _, report = local_stack.request("GET", f"/campaigns/{campaign_id}/report")
    assert status == 200, report
    assert report["byStatus"] == {"bounced": 2, "complained": 1, "delivered": 1, "sent": 1}
    assert report["byReason"] == {"complaint": 1, "hard_bounce": 1, "suppressed": 1}
    assert report["total"] == 5


def test_success_and_bounce_through_the_api_alone(local_stack: Stack) -> None:
    """The contract's promise, as a caller sees it: trigger, then poll the execution."""
    campaign_id = local_stack.seed_demo()
    body = {
        "requestId": f"feedback-{uuid.uuid4()}",
        "campaignId": campaign_id,
        "recipients": [_recipient(SUCCESS), _recipient(BOUNCE)],
    }
    status, _, answer = local_stack.request("POST", "/im/executions/unitary", body)
    assert status == 202, answer

    wait_for(
        lambda: local_stack.request("GET", f"/im/executions/{answer['executionId']}")[2]["counts"],
        until=lambda counts: counts == {"total": 2, "bounced": 1, "delivered": 1},
        progress=stack_progress(local_stack),
    )
    _, _, report = local_stack.request("GET", f"/campaigns/{campaign_id}/report")
    assert report["byStatus"] == {"bounced": 1, "delivered": 1}
    # The simulator bounces on purpose, every time: its address is not put on the suppression list
    status, _, entry = local_stack.request("GET", f"/suppressions/email/{BOUNCE}")
    assert (status, entry["code"]) == (404, "suppression_not_found"), entry


# ---------------------------------------------------------------------------
# How the local stack reads the template and shapes the events (no stack needed)
# ---------------------------------------------------------------------------


def test_the_rule_and_the_event_destination_come_from_the_template() -> None:
    # The template's defaults publish every event the product reports, and the local stack the same.
    template = Template.load(ROOT / "template.yaml")
    configuration_set = template.environment()["SES_CONFIGURATION_SET"]
    assert _publishing(template) == {
        configuration_set: {"Delivery", "Bounce", "Complaint", "Reject", "DeliveryDelay", "RenderingFailure"}
    }
    assert _publishing(Template.load(ROOT / "template.yaml", parameters=LOCAL_PARAMETERS)) == _publishing(template)
    functions = {logical_id: object() for logical_id in template.functions()}
    subscribers = _subscribers(template, functions)  # type: ignore[arg-type]
    # The rule puts them in the feedback queue (the function takes them from there in batches)
    assert [(s.rule, s.max_retries) for s in subscribers] == [("SesEventsRule.feedback-queue", 185)]
    assert subscribers[0].queue_url == template.get_att("FeedbackQueue", "QueueUrl")
    assert subscribers[0].on_failure == template.get_att("FeedbackDeadLetterQueue", "QueueUrl")
    assert subscribers[0].pattern["source"] == ["aws.ses"]


def test_simulated_events_match_the_rule_only_for_this_stacks_tagged_messages() -> None:
    template = Template.load(ROOT / "template.yaml")
    configuration_set = template.environment()["SES_CONFIGURATION_SET"]
    functions = {logical_id: object() for logical_id in template.functions()}
    (subscriber,) = _subscribers(template, functions)  # type: ignore[arg-type]

    def sent(configuration: str | None, tags: dict[str, str]) -> Sent:
        return Sent("m-1", "hello@example.com", [SUCCESS], configuration, tags, None, datetime.now(UTC))

    ours = sent(configuration_set, {"executionId": "e" * 32, "recipient": "cw"})
    assert matches(subscriber.pattern, _event("Delivery", ours, [SUCCESS]))
    assert not matches(subscriber.pattern, _event("Delivery", sent("another-set", {"executionId": "e"}), [SUCCESS]))
    assert not matches(subscriber.pattern, _event("Delivery", sent(configuration_set, {}), [SUCCESS]))
    assert not matches(subscriber.pattern, _event("Send", ours, [SUCCESS])), "Email Sent is not subscribed"


def test_simulated_events_have_the_shape_of_the_sample_event_files() -> None:
    message = Sent("m-1", "hello@example.com", [BOUNCE], "set", {"executionId": "e"}, None, datetime.now(UTC))
    for event_type, name in (
        ("Delivery", "email_delivered"),
        ("Bounce", "email_bounced"),
        ("Complaint", "email_complaint"),
    ):
        sample = json.loads((ROOT / "events" / "feedback" / f"{name}.json").read_text())
        simulated = _event(event_type, message, [BOUNCE])
        assert simulated.keys() == sample.keys()
        assert simulated["detail-type"] == sample["detail-type"]
        assert simulated["detail"].keys() == sample["detail"].keys()
        section = event_type[0].lower() + event_type[1:]
        assert simulated["detail"][section].keys() == sample["detail"][section].keys()
        assert set(simulated["detail"]["mail"]) <= set(sample["detail"]["mail"])


def test_which_addresses_the_simulator_answers() -> None:
    assert simulated_events(SUCCESS) == ("Delivery",)
    assert simulated_events("Bounce+label@Simulator.AmazonSES.com") == ("Bounce",)
    assert simulated_events(COMPLAINT) == ("Delivery", "Complaint")
    assert simulated_events("ooto@simulator.amazonses.com") == ("Delivery",)
    assert simulated_events(OTHER) == ()
    assert simulated_events("nobody@simulator.amazonses.com") == ()


def test_event_pattern_operators() -> None:
    event = {"source": "aws.ses", "detail": {"n": 5, "tags": {"a": ["x1", "y"]}, "s": "Hello"}}
    assert matches({"detail": {"tags": {"a": [{"prefix": "x"}]}}}, event)
    assert matches({"detail": {"tags": {"b": [{"exists": False}]}}}, event)
    assert not matches({"detail": {"tags": {"a": [{"exists": False}]}}}, event)
    assert matches({"detail": {"n": [{"numeric": [">", 1, "<=", 5]}]}}, event)
    assert not matches({"detail": {"n": [{"numeric": ["<", 5.5, ">", 5]}]}}, event)
    assert matches({"detail": {"s": [{"equals-ignore-case": "hello"}]}}, event)
    assert matches({"source": [{"anything-but": ["aws.events"]}]}, event)
    assert matches({"$or": [{"source": ["nope"]}, {"detail": {"s": [{"suffix": "llo"}]}}]}, event)
    assert not matches({"source": ["aws.ses"], "detail-type": ["Email Delivered"]}, event)
