"""The SES events the product reports are published the same in AWS (the template's defaults) as on the
local stack (which reads the same list from template.yaml), and each reaches the feedback function."""

from __future__ import annotations

from pathlib import Path

from campaign_engine.feedback import transition_of
from local.ses_events import DETAIL_TYPES, _publishing, _subscribers
from local.stack import local_parameters
from local.template import Template

ROOT = Path(__file__).resolve().parents[2]
# Every event the product reports (Send is recorded by delivery itself; opens and clicks are tracked by the
# product, and applied when a configuration set of your own publishes them).
REPORTED = {"Delivery", "Bounce", "Complaint", "Reject", "DeliveryDelay", "RenderingFailure"}
SES_EVENT_TYPE = {"RenderingFailure": "Rendering Failure"}  # the detail's eventType, where it differs


def test_aws_and_the_local_stack_publish_the_same_events() -> None:
    aws = Template.load(ROOT / "template.yaml")
    local = Template.load(ROOT / "template.yaml", parameters=local_parameters(["example.com"], ["com.example.app"]))
    configuration_set = aws.environment()["SES_CONFIGURATION_SET"]
    assert _publishing(aws) == {configuration_set: REPORTED}
    assert _publishing(local) == _publishing(aws)


def test_every_reported_event_reaches_the_feedback_function_and_moves_a_recipient() -> None:
    template = Template.load(ROOT / "template.yaml")
    functions = {logical_id: object() for logical_id in template.functions()}
    (subscriber,) = _subscribers(template, functions)  # type: ignore[arg-type]
    subscribed = set(subscriber.pattern["detail-type"])
    for event_type in REPORTED | {"Open", "Click"}:
        assert DETAIL_TYPES[event_type] in subscribed, event_type
        assert transition_of({"eventType": SES_EVENT_TYPE.get(event_type, event_type)}) is not None, event_type


def test_a_rendering_failure_fails_the_recipient_with_render_error() -> None:
    transition = transition_of(
        {"eventType": "Rendering Failure", "failure": {"errorMessage": "Attribute 'name' is not present"}}
    )
    assert transition is not None
    assert (transition.state, transition.reason) == ("failed", "render_error")
