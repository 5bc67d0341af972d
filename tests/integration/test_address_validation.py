"""Addresses and numbers are checked by email-validator and phonenumbers wherever a body holds one:
a profile or suppression body naming a bad one is a 400 naming the field; a trigger rejects that
recipient alone (tests/integration/test_pipeline.py); a field longer than any address could be is
a malformed body."""

from __future__ import annotations

from tests.conftest import Api, trigger_body
from tests.integration.test_profiles import ADA, put
from tests.integration.test_suppressions import add


def test_a_profile_with_a_number_no_country_assigns_is_a_400_naming_the_field(api: Api) -> None:
    answer = put(api, {"email": "ada@example.com", "phone": "+11234567890"}, ADA)
    assert answer.status == 400, answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.body["errors"] == [
        {
            "field": "phone",
            "message": "is not a valid phone number: no number of that length or range exists in its country",
        }
    ]
    assert put(api, {"email": "ada@example.com", "phone": "+14155550100"}, ADA).status == 200


def test_a_profile_with_a_malformed_email_is_a_400_saying_which_rule(api: Api) -> None:
    answer = put(api, {"email": "ada@example..com"}, ADA)
    assert answer.status == 400, answer.body
    [error] = answer.body["errors"]
    assert error["field"] == "email"
    assert error["message"] == "is not an email address: An email address cannot have two periods in a row."


def test_suppression_entries_name_each_bad_address(api: Api) -> None:
    answer = add(
        api,
        [
            {"channel": "email", "address": "ok@example.com"},
            {"channel": "email", "address": "no-at-sign.example.com"},
            {"channel": "sms", "address": "+4479460007"},
        ],
    )
    assert answer.status == 400, answer.body
    assert [e["field"] for e in answer.body["errors"]] == ["entries[1].address", "entries[2].address"]


def test_a_channel_data_field_longer_than_any_address_is_a_malformed_body(api: Api) -> None:
    campaign = api.live_campaign()
    recipients = [
        {"userId": "a", "channelData": {"emailAddress": "a" * 250 + "@example.com"}, "context": {"orderId": "1"}},
        {"userId": "b", "namespace": "n" * 65, "context": {"orderId": "1"}},
    ]
    answer = api.trigger(trigger_body(campaign["id"], recipients))
    assert answer.status == 400, answer.body
    assert {e["field"] for e in answer.body["errors"]} == {
        "recipients[0].channelData.emailAddress",
        "recipients[1].namespace",
    }


def test_a_sender_with_a_line_break_is_a_400_naming_the_field(api: Api) -> None:
    body = {
        "name": "x",
        "channel": "email",
        "sender": {"fromEmail": "orders@example.com", "fromName": "Shop\r\nBcc: e"},
    }
    answer = api.call("api", "api/create_campaign.json", body=body)
    assert answer.status == 400, answer.body
    assert answer.body["errors"] == [
        {"field": "sender.fromName", "message": "must be one line without control characters (found U+000D)"}
    ]
