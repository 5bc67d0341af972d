"""The suppression list through the API (POST, GET, DELETE /suppressions), and SES's hard bounces
and complaints, which put the address on it by themselves."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from campaign_engine.store import people
from tests.conftest import Api, HttpAnswer, Queue, invoke
from tests.integration.test_feedback import send


def add(api: Api, entries: list[dict[str, Any]], scopes: str | None = None) -> HttpAnswer:
    return api.call("api", "api/add_suppressions.json", body={"entries": entries}, scopes=scopes)


def look_up(api: Api, channel: str, address: str, scopes: str | None = None) -> HttpAnswer:
    params = {"channel": channel, "address": quote(address, safe="")}
    return api.call("api", "api/get_suppression.json", path_params=params, scopes=scopes)


def remove(api: Api, channel: str, address: str, scopes: str | None = None) -> HttpAnswer:
    params = {"channel": channel, "address": quote(address, safe="")}
    return api.call("api", "api/delete_suppression.json", path_params=params, scopes=scopes)


def fields(answer: HttpAnswer) -> dict[str, str]:
    return {e["field"]: e["message"] for e in answer.body["errors"]}


ENTRIES = [
    {"channel": "email", "address": "ada@example.com", "reason": "unsubscribe"},
    {"channel": "sms", "address": "+14155550100"},
    {"channel": "push", "address": "740f4707bebcf74f9b7c25d48e3358945f6aa01d"},
]


def test_added_addresses_are_listed_with_their_reason_until_removed(api: Api) -> None:
    answer = add(api, ENTRIES, scopes="profiles:write")
    assert answer.status == 200, answer.body
    assert answer.body == {"added": 3, "alreadyListed": 0}

    email = look_up(api, "email", "Ada@Example.com ", scopes="campaigns:read")  # emails match without case
    assert email.status == 200, email.body
    assert email.body["reason"] == "unsubscribe"
    assert email.body["source"] == "api"
    assert email.body["address"] == "Ada@Example.com "
    assert email.body["addedAt"].endswith("Z")
    sms = look_up(api, "sms", "+14155550100")
    assert (sms.status, sms.body["reason"]) == (200, "manual")
    assert look_up(api, "push", ENTRIES[2]["address"]).status == 200

    removed = remove(api, "email", "ada@example.com")
    assert removed.status == 204
    gone = look_up(api, "email", "ada@example.com")
    assert (gone.status, gone.body["code"]) == (404, "suppression_not_found")
    assert remove(api, "email", "ada@example.com").status == 404
    assert look_up(api, "sms", "+14155550100").status == 200  # the others stay


def test_an_address_listed_again_keeps_its_first_entry(api: Api) -> None:
    assert add(api, ENTRIES[:1]).body == {"added": 1, "alreadyListed": 0}
    first = look_up(api, "email", "ada@example.com").body

    again = add(api, [{"channel": "email", "address": "ADA@example.com", "reason": "manual"}, ENTRIES[1], ENTRIES[1]])

    assert again.body == {"added": 1, "alreadyListed": 1}
    assert look_up(api, "email", "ada@example.com").body == first


def test_a_thousand_addresses_in_one_call(api: Api) -> None:
    entries = [{"channel": "email", "address": f"user{i}@example.com", "reason": "import"} for i in range(1000)]
    answer = add(api, entries)
    assert answer.body == {"added": 1000, "alreadyListed": 0}
    assert look_up(api, "email", "user999@example.com").body["reason"] == "import"

    too_many = add(api, [*entries, {"channel": "email", "address": "one-more@example.com"}])
    assert too_many.status == 400
    assert "entries" in fields(too_many)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"channel": "email", "address": "not-an-address"}, "entries[1].address"),
        ({"channel": "sms", "address": "415 555 0100"}, "entries[1].address"),
        ({"channel": "push", "address": "   "}, "entries[1].address"),
        ({"channel": "fax", "address": "+14155550100"}, "entries[1].channel"),
        ({"channel": "email", "address": "ada@example.com", "reason": "annoyed"}, "entries[1].reason"),
        ({"channel": "email", "address": "ada@example.com", "until": "2027"}, "entries[1].until"),
        ({"channel": "email"}, "entries[1].address"),
    ],
)
def test_a_bad_entry_is_refused_naming_it_and_nothing_is_added(api: Api, entry: dict[str, Any], field: str) -> None:
    answer = add(api, [{"channel": "email", "address": "bruna@example.com"}, entry])
    assert answer.status == 400, answer.body
    assert answer.body["code"] == "validation_failed"
    assert field in fields(answer), fields(answer)
    assert look_up(api, "email", "bruna@example.com").status == 404


def test_a_bad_channel_or_address_in_the_path_is_refused_naming_it(api: Api) -> None:
    assert "channel" in fields(look_up(api, "fax", "+14155550100"))
    assert "address" in fields(look_up(api, "sms", "0100"))
    assert "address" in fields(remove(api, "email", "nobody"))


def test_changing_the_list_needs_profiles_write(api: Api) -> None:
    assert add(api, ENTRIES, scopes="campaigns:write").status == 403
    assert add(api, ENTRIES, scopes="profiles:write").status == 200
    assert remove(api, "email", "ada@example.com", scopes="campaigns:read").status == 403
    assert look_up(api, "email", "ada@example.com", scopes="reports:read").status == 403
    assert look_up(api, "email", "ada@example.com", scopes="profiles:write").status == 200


# ---------------------------------------------------------------------------
# SES feedback
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("event", "reason"), [("email_bounced", "hard_bounce"), ("email_complaint", "complaint")])
def test_a_hard_bounce_or_a_complaint_puts_the_address_on_the_list(
    api: Api, queue: Queue, event: str, reason: str
) -> None:
    # Given a message sent to Carl
    sent = send(api, queue, "carl@example.com")
    assert look_up(api, "email", "carl@example.com").status == 404

    # When SES reports that it bounced for good (or that Carl complained)
    ses_event = sent.event(event, "carl@example.com")
    section = ses_event["detail"]["bounce" if event == "email_bounced" else "complaint"]
    listed = "bouncedRecipients" if event == "email_bounced" else "complainedRecipients"
    section[listed][0]["emailAddress"] = "Carl <carl@example.com>"
    invoke("feedback", ses_event)

    # Then Carl's address is suppressed, by SES's word
    entry = look_up(api, "email", "carl@example.com")
    assert entry.status == 200, entry.body
    assert (entry.body["reason"], entry.body["source"]) == (reason, "ses")
    assert entry.body["addedAt"].startswith(section["timestamp"][:19])
    # and the same event again changes nothing
    invoke("feedback", ses_event)
    assert look_up(api, "email", "carl@example.com").body == entry.body
    assert people.get_suppression("email", "carl@example.com") is not None


def test_a_soft_bounce_suppresses_nothing(api: Api, queue: Queue) -> None:
    sent = send(api, queue, "carl@example.com")
    ses_event = sent.event("email_bounced", "carl@example.com")
    ses_event["detail"]["bounce"]["bounceType"] = "Transient"
    ses_event["detail"]["bounce"]["bouncedRecipients"][0]["emailAddress"] = "carl@example.com"
    invoke("feedback", ses_event)
    assert look_up(api, "email", "carl@example.com").status == 404


def test_the_ses_mailbox_simulator_is_never_suppressed(api: Api, queue: Queue) -> None:
    """It bounces on purpose, every time; SES leaves it off its own suppression list too."""
    sent = send(api, queue, "carl@example.com")
    ses_event = sent.event("email_bounced", "carl@example.com")
    ses_event["detail"]["bounce"]["bouncedRecipients"][0]["emailAddress"] = "bounce@simulator.amazonses.com"
    invoke("feedback", ses_event)
    assert look_up(api, "email", "bounce@simulator.amazonses.com").status == 404
