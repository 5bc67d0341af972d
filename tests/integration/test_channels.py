"""Email, SMS and push with Adobe Journey Optimizer's own sample request bodies, unchanged but for the
campaign id (ids are server-generated): what a phone or inbox would receive, and each recipient's status."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.conftest import Api, Queue, load_event

SMS_CAMPAIGN = {
    "name": "Offer by SMS",
    "type": "marketing",
    "channel": "sms",
    "sender": {"originationIdentity": "+18005550100"},
    "content": {
        "defaultLocale": "en-US",
        "locales": {
            "en-US": {
                "body": "{{ context.product.name | default('Our picks') }}: use {{ context.offerCode | default('WELCOME') }}"
            }
        },
    },
}
PUSH_CAMPAIGN = {
    "name": "Offer by push",
    "type": "transactional",
    "channel": "push",
    "content": {
        "defaultLocale": "en-US",
        "locales": {
            "en-US": {
                "title": "Hi {{ profile.person.name.firstName | default('there') }}",
                "body": "Your code: {{ context.offerCode | default('WELCOME') }}",
                "data": {"deeplink": "app://offers/{{ context.offerCode | default('none') }}"},
            }
        },
    },
}


def sample(name: str, campaign_id: str) -> dict[str, Any]:
    body = json.loads(load_event(f"trigger/{name}.json")["body"])
    body["campaignId"] = campaign_id
    return body


def sns_backend() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]


def test_ajo_sms_samples_placeholder_numbers_are_rejected_recipient_by_recipient(api: Api, queue: Queue) -> None:
    # AJO's documentation samples use numbers no country assigns (1234567890 and 0921234567 are +1
    # 123..., +1 92...): the call is well-formed, each recipient is rejected as invalid_address.
    campaign = api.live_campaign(**SMS_CAMPAIGN, contextSchema=None)
    answer = api.trigger(sample("ajo_sms_context", campaign["id"]))
    assert answer.status == 202, answer.body
    verdicts = answer.body["recipients"]
    assert [(v["status"], v["reason"]) for v in verdicts] == [("rejected", "invalid_address")] * 2
    assert verdicts[0]["detail"] == (
        "The address from recipients[0].channelData.mobilePhoneNumber is not a valid phone number: "
        "no number of that length or range exists in its country"
    )
    profile_sample = api.trigger(sample("ajo_sms_profile", campaign["id"]) | {"requestId": "sms-p"})
    assert profile_sample.body["recipients"][0]["reason"] == "invalid_address"
    assert queue.drain() == 0


def test_ajo_sms_samples_with_real_numbers_are_delivered(api: Api, queue: Queue) -> None:
    campaign = api.live_campaign(**SMS_CAMPAIGN, contextSchema=None)
    sns_backend().sms_messages.clear()

    profile_body = sample("ajo_sms_profile", campaign["id"])
    profile_body["recipients"][0]["userId"] = "4155550100"
    first = api.trigger(profile_body)
    assert first.status == 202, first.body
    assert first.body["recipients"] == [{"userId": "4155550100", "status": "accepted"}]
    context_body = sample("ajo_sms_context", campaign["id"]) | {"requestId": "sms-2"}
    context_body["recipients"][0]["channelData"]["mobilePhoneNumber"] = "(415) 555-0101"
    context_body["recipients"][1]["channelData"]["mobilePhoneNumber"] = "04155550102"
    second = api.trigger(context_body)
    assert [r["status"] for r in second.body["recipients"]] == ["accepted", "accepted"]
    queue.drain()

    # National numbers get the default country code (SMS_DEFAULT_COUNTRY_CODE, 1) and lose the trunk 0.
    assert sorted(sns_backend().sms_messages.values()) == [
        ("+14155550100", "Our picks: use WELCOME"),
        ("+14155550101", "Jackets: use THANKSGIVING"),
        ("+14155550102", "Jackets: use THANKSGIVING"),
    ]
    statuses = api.execution(second.body["executionId"]).body
    assert statuses["counts"] == {"total": 2, "sent": 2}


def test_ajo_push_sample_with_placeholders_is_answered_recipient_by_recipient(api: Api, queue: Queue) -> None:
    campaign = api.live_campaign(**PUSH_CAMPAIGN, contextSchema=None)
    answer = api.trigger(sample("ajo_push", campaign["id"]))
    assert answer.status == 202
    verdict = answer.body["recipients"][0]
    assert (verdict["status"], verdict["reason"]) == ("rejected", "invalid_address")
    assert "platform" in verdict["detail"]


def test_push_reaches_the_device_endpoint_with_title_body_and_data(api: Api, queue: Queue) -> None:
    sns = boto3.client("sns", region_name="us-east-1")
    sns.create_platform_application(Name="com.example.app", Platform="APNS", Attributes={})
    campaign = api.live_campaign(**PUSH_CAMPAIGN, contextSchema=None)
    body = sample("ajo_push", campaign["id"])
    body["recipients"][0]["channelData"]["pushInfo"] = {
        "appID": "com.example.app",
        "platform": "apns",
        "token": "a1b2c3",
    }
    body["recipients"][0]["profile"] = {"person": {"name": {"firstName": "Lin"}}}
    body["recipients"][0]["context"] = {"offerCode": "FALL25"}
    answer = api.trigger(body)
    assert answer.body["recipients"][0]["status"] == "accepted"
    queue.drain()

    endpoints = list(sns_backend().platform_endpoints.values())
    assert [e.token for e in endpoints] == ["a1b2c3"]
    published = [json.loads(m) for e in endpoints for m in e.messages.values()]
    assert len(published) == 1
    apns = json.loads(published[0]["APNS"])
    assert apns["aps"]["alert"] == {"title": "Hi Lin", "body": "Your code: FALL25"}
    assert apns["deeplink"] == "app://offers/FALL25"
    status = api.execution(answer.body["executionId"]).body["recipients"][0]
    assert status["status"] == "sent", status


def test_a_push_app_without_an_sns_platform_application_fails_with_a_reason(api: Api, queue: Queue) -> None:
    # An app the stack allows (PushApplicationArns) whose platform application does not exist in SNS
    campaign = api.live_campaign(**PUSH_CAMPAIGN, contextSchema=None)
    body = sample("ajo_push", campaign["id"])
    body["recipients"][0]["channelData"]["pushInfo"] = {"appID": "com.example.app", "platform": "fcm", "token": "t"}
    answer = api.trigger(body)
    queue.drain()
    status = api.execution(answer.body["executionId"]).body["recipients"][0]
    assert (status["status"], status["reason"]) == ("failed", "send_failed")


def test_a_push_app_the_stack_does_not_allow_is_rejected_at_trigger_time_with_the_reason(
    api: Api, queue: Queue
) -> None:
    # Given a push campaign, and a recipient whose pushInfo names an app outside the stack's PushApplicationArns
    sns = boto3.client("sns", region_name="us-east-1")
    sns.create_platform_application(Name="com.other.app", Platform="GCM", Attributes={})
    campaign = api.live_campaign(**PUSH_CAMPAIGN, contextSchema=None)
    body = sample("ajo_push", campaign["id"])
    body["recipients"][0]["channelData"]["pushInfo"] = {"appID": "com.other.app", "platform": "fcm", "token": "t"}

    # When it is triggered
    answer = api.trigger(body)

    # Then that recipient is rejected, saying which app and why, and nothing is queued for it
    assert answer.status == 202, answer.body
    verdict = answer.body["recipients"][0]
    assert (verdict["status"], verdict["reason"]) == ("rejected", "invalid_address")
    assert "'com.other.app' on fcm" in verdict["detail"]
    assert "PushApplicationArns" in verdict["detail"]
    assert queue.drain() == 0


@pytest.mark.parametrize(
    ("name", "expected_to"),
    [
        ("ajo_email_profile", "ajo_im@gmail.com"),
        ("ajo_email_override", "test123@gmail.com"),
        ("ajo_email_merge_policy", "test123@gmail.com"),
    ],
)
def test_ajo_email_samples_are_accepted_and_delivered(
    api: Api, queue: Queue, outbox, name: str, expected_to: str
) -> None:
    campaign = api.live_campaign(
        contextSchema=None,
        content={
            "defaultLocale": "en-US",
            "locales": {
                "en-US": {
                    "subject": "{{ profile.person.name.firstName | default('Hello') }}, {{ context.offerCode | default('hi') }}",
                    "html": "<p>{{ context.product.name | default('Our collection') }}</p>",
                }
            },
        },
    )
    answer = api.trigger(sample(name, campaign["id"]))
    assert answer.status == 202, answer.body
    assert answer.body["recipients"][0]["status"] == "accepted"
    queue.drain()
    assert [e["to"] for e in outbox()] == [[expected_to]]


def test_sms_review_counts_segments(api: Api) -> None:
    long_body = "x" * 1700
    created = api.create_campaign(
        **{**SMS_CAMPAIGN, "content": {"defaultLocale": "en-US", "locales": {"en-US": {"body": long_body}}}},
        contextSchema=None,
    )
    answer = api.call("api", "api/activate_campaign.json", path_params={"campaignId": created["id"]})
    assert answer.status == 422
    assert answer.body["errors"][0]["field"] == "content.locales.en-US.body"
