"""Profiles, "create new profiles", consent and suppression at trigger and delivery, on every channel.

What a user notices: where the message went (inbox, phone, device), in which language and with which
profile fields, each recipient's verdict and status (GET /im/executions/{id}), the report's counts,
and the profiles that exist afterwards."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from local.template import REGION
from tests.conftest import Api, Queue, load_event, sent_emails

CHANNELS = ("email", "sms", "push")
APP = "com.example.app"
# Per channel: two distinct addresses as channelData gives them, and as a stored profile holds them.
ADDRESSES: dict[str, list[Any]] = {
    "email": ["ada@example.com", "bruno@example.com"],
    "sms": ["+14155550101", "+14155550102"],
    "push": [
        {"appID": APP, "platform": "apns", "token": "tok-ada"},
        {"appID": APP, "platform": "apns", "token": "tok-bruno"},
    ],
}
STORED_FIELD = {"email": "email", "sms": "phone", "push": "pushTokens"}
TEXT = "{{ profile.greeting | default('-') }} {{ profile.firstName | default('-') }} {{ profile.tier | default('-') }}"
LOCALE_PARTS = {
    "email": lambda prefix: {"subject": f"{prefix} {TEXT}", "html": f"<p>{prefix} {TEXT}</p>"},
    "sms": lambda prefix: {"body": f"{prefix} {TEXT}"},
    "push": lambda prefix: {"title": prefix, "body": f"{prefix} {TEXT}"},
}
SENDER = {
    "email": {"fromEmail": "news@example.com", "fromName": "Example"},
    "sms": {"originationIdentity": "+18005550100"},
    "push": None,
}


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def campaign(api: Api, channel: str, *, kind: str = "transactional", **audience: Any) -> str:
    """A live campaign on `channel` whose text shows profile.greeting, firstName and tier, in en-US
    ("EN ...") and pt-BR ("PT ..."), with identity namespace "crm" unless `audience` says otherwise."""
    if channel == "push":
        boto3.client("sns", region_name=REGION).create_platform_application(Name=APP, Platform="APNS", Attributes={})
    body: dict[str, Any] = {
        "name": f"{kind} {channel}",
        "type": kind,
        "channel": channel,
        "contextSchema": None,
        "audience": {"namespace": "crm", **audience},
        "content": {
            "defaultLocale": "en-US",
            "locales": {"en-US": LOCALE_PARTS[channel]("EN"), "pt-BR": LOCALE_PARTS[channel]("PT")},
        },
    }
    if SENDER[channel] is not None:
        body["sender"] = SENDER[channel]
    return str(api.live_campaign(**body)["id"])


def stored_address(channel: str, address: Any) -> Any:
    return [address] if channel == "push" else address


def put_profile(namespace: str, profile_id: str, **values: Any) -> None:
    """A stored profile, written as store.people keeps it (PUT /profiles is another route's work)."""
    from campaign_engine.store import people

    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    item = {
        **people.profile_key(namespace, profile_id),
        **people.to_item(
            {"namespace": namespace, "id": profile_id, "source": "api", "createdAt": now, "updatedAt": now, **values}
        ),
    }
    boto3.client("dynamodb", region_name=REGION).put_item(TableName=os.environ["PROFILES_TABLE"], Item=item)


def erase_profile(namespace: str, profile_id: str) -> None:
    from campaign_engine.store import people

    boto3.client("dynamodb", region_name=REGION).delete_item(
        TableName=os.environ["PROFILES_TABLE"], Key=people.profile_key(namespace, profile_id)
    )


def suppress(channel: str, address: Any, reason: str = "hard_bounce") -> None:
    """An entry on the channel's suppression list, as store.people keys it."""
    from campaign_engine.store import people

    values = {"channel": channel, "reason": reason, "source": "manual", "addedAt": "2026-01-01T00:00:00Z"}
    values["address"] = address["token"] if isinstance(address, dict) else address
    item = {**people.suppression_key(channel, address), **people.to_item(values)}
    boto3.client("dynamodb", region_name=REGION).put_item(TableName=os.environ["PROFILES_TABLE"], Item=item)


def unsuppress(channel: str, address: Any) -> None:
    from campaign_engine.store import people

    boto3.client("dynamodb", region_name=REGION).delete_item(
        TableName=os.environ["PROFILES_TABLE"], Key=people.suppression_key(channel, address)
    )


def channel_data(channel: str, address: Any) -> dict[str, Any]:
    if channel == "email":
        return {"emailAddress": address}
    if channel == "sms":
        return {"mobilePhoneNumber": address}
    return {"pushInfo": address}


def recipient(user_id: str, *, address: Any = None, channel: str = "email", **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"userId": user_id, **fields}
    if address is not None:
        out["channelData"] = channel_data(channel, address)
    return out


def trigger(api: Api, campaign_id: str, *recipients: dict[str, Any]) -> dict[str, Any]:
    answer = api.trigger({"campaignId": campaign_id, "recipients": list(recipients)})
    assert answer.status == 202, answer.body
    return dict(answer.body)


def verdicts(answer: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {r["userId"]: (r["status"], r.get("reason")) for r in answer["recipients"]}


def statuses(api: Api, execution_id: str) -> dict[str, tuple[str, str | None]]:
    answer = api.execution(execution_id)
    assert answer.status == 200, answer.body
    return {r["userId"]: (r["status"], r.get("reason")) for r in answer.body["recipients"]}


def _sns() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return sns_backends[DEFAULT_ACCOUNT_ID][REGION]


def delivered(channel: str) -> list[tuple[str, str]]:
    """What reached inboxes, phones or devices: (to, text), to being the address or the device token."""
    if channel == "email":
        return sorted((e["to"][0], e["subject"]) for e in sent_emails())
    if channel == "sms":
        return sorted((phone, text) for phone, text, *_ in _sns().sms_messages.values())
    out = []
    for endpoint in _sns().platform_endpoints.values():
        for message in endpoint.messages.values():
            alert = json.loads(json.loads(message)["APNS"])["aps"]["alert"]
            out.append((endpoint.token, alert["body"]))
    return sorted(out)


def to(channel: str, address: Any) -> str:
    """How `delivered` names the address."""
    return address["token"] if channel == "push" else address


def report(api: Api, campaign_id: str) -> dict[str, Any]:
    event = load_event("api/get_campaign.json")
    event["routeKey"] = event["requestContext"]["routeKey"] = "GET /campaigns/{campaignId}/report"
    answer = api.call_event("api", event, {"campaignId": campaign_id})
    assert answer.status == 200, answer.body
    return dict(answer.body)


def stored_profile(namespace: str, profile_id: str) -> dict[str, Any] | None:
    from campaign_engine.store import people

    return people.get_profiles([(namespace, profile_id)]).get((namespace, profile_id))


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many keys each batched read of the profiles table asked for, in order."""
    from campaign_engine.store import people

    seen: list[int] = []
    real = people.batch_get

    def counted(keys: Any, **options: Any) -> Any:
        seen.append(len(keys))
        return real(keys, **options)

    monkeypatch.setattr(people, "batch_get", counted)
    return seen


# ---------------------------------------------------------------------------
# A stored profile at trigger time
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_stored_profile_gives_the_address_the_language_and_its_fields_under_the_request_profile(
    api: Api, queue: Queue, channel: str
) -> None:
    # Given two stored profiles with an address, a language and attributes
    ada, bruno = ADDRESSES[channel]
    field = STORED_FIELD[channel]
    put_profile(
        "crm",
        "c-ada",
        **{field: stored_address(channel, ada)},
        preferredLanguage="pt-BR",
        attributes={"greeting": "Ola", "firstName": "Stored", "tier": "gold"},
    )
    put_profile("crm", "c-bruno", **{field: stored_address(channel, bruno)}, preferredLanguage="pt-BR")
    campaign_id = campaign(api, channel)

    # When they are triggered with no address; Ada's request profile overrides one field, Bruno's his language
    answer = trigger(
        api,
        campaign_id,
        recipient("c-ada", profile={"firstName": "Ada"}),
        recipient("c-bruno", profile={"preferredLanguage": "en-US", "firstName": "Bruno"}),
    )
    assert verdicts(answer) == {"c-ada": ("accepted", None), "c-bruno": ("accepted", None)}
    queue.drain()

    # Then each message went to the stored address, in the stored language unless the request gave one,
    # and the template saw the stored fields with the request's merged over them
    assert delivered(channel) == sorted([(to(channel, ada), "PT Ola Ada gold"), (to(channel, bruno), "EN - Bruno -")])
    assert statuses(api, answer["executionId"]) == {"c-ada": ("sent", None), "c-bruno": ("sent", None)}


@pytest.mark.parametrize("channel", CHANNELS)
def test_the_request_address_wins_over_the_stored_one(api: Api, queue: Queue, channel: str) -> None:
    ada, other = ADDRESSES[channel]
    put_profile("crm", "c-ada", **{STORED_FIELD[channel]: stored_address(channel, ada)})
    campaign_id = campaign(api, channel)

    trigger(api, campaign_id, recipient("c-ada", address=other, channel=channel))
    queue.drain()

    assert [sent_to for sent_to, _ in delivered(channel)] == [to(channel, other)]


# ---------------------------------------------------------------------------
# Unknown profiles: createProfiles on and off
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("channel", CHANNELS)
def test_an_unknown_recipient_gets_a_profile_when_create_profiles_is_on(api: Api, queue: Queue, channel: str) -> None:
    ada, _ = ADDRESSES[channel]
    campaign_id = campaign(api, channel)  # createProfiles: on by default

    answer = trigger(
        api,
        campaign_id,
        recipient("new-1", address=ada, channel=channel, profile={"firstName": "Ada", "preferredLanguage": "pt-BR"}),
    )
    assert verdicts(answer) == {"new-1": ("accepted", None)}
    queue.drain()
    assert delivered(channel) == [(to(channel, ada), "PT - Ada -")]

    # The profile exists now, with the identity, the address, the language and the request's profile
    created = stored_profile("crm", "new-1")
    assert created is not None
    assert created[STORED_FIELD[channel]] == stored_address(channel, ada)
    assert (created["namespace"], created["id"], created["source"]) == ("crm", "new-1", "trigger")
    assert created["preferredLanguage"] == "pt-BR"
    assert created["attributes"]["firstName"] == "Ada"

    # and it serves the next call, which gives no address at all
    trigger(api, campaign_id, recipient("new-1"))
    queue.drain()
    assert delivered(channel) == [(to(channel, ada), "PT - Ada -")] * 2


def test_many_unknown_recipients_are_created_in_one_call(api: Api, queue: Queue, reads: list[int]) -> None:
    campaign_id = campaign(api, "email")
    people = [recipient(f"n-{i}", address=f"n{i}@example.com", profile={"n": i}) for i in range(60)]

    answer = trigger(api, campaign_id, *people)

    assert {status for status, _ in verdicts(answer).values()} == {"accepted"}
    assert reads == [60]  # one read for the whole call
    from campaign_engine.store import people as store

    created = store.get_profiles([("crm", f"n-{i}") for i in range(60)])
    assert len(created) == 60
    assert created[("crm", "n-59")]["email"] == "n59@example.com"
    assert created[("crm", "n-59")]["attributes"] == {"n": 59}


def test_a_profile_created_meanwhile_is_not_replaced_by_the_trigger(
    api: Api, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a profile written by someone else between the trigger's read and its write
    from campaign_engine.store import known_people

    real_read = known_people.read_profiles

    def read_then_someone_writes(identities: Any) -> Any:
        found = real_read(identities)
        put_profile("crm", "late", email="late@example.com", consents={"email": "out"})
        return found

    monkeypatch.setattr(known_people, "read_profiles", read_then_someone_writes)
    campaign_id = campaign(api, "email")

    trigger(api, campaign_id, recipient("late", address="other@example.com"))

    kept = stored_profile("crm", "late")
    assert kept is not None
    assert (kept["email"], kept["consents"], kept["source"]) == ("late@example.com", {"email": "out"}, "api")


@pytest.mark.parametrize("channel", CHANNELS)
def test_unknown_recipients_are_rejected_when_create_profiles_is_off_while_the_others_proceed(
    api: Api, queue: Queue, channel: str
) -> None:
    ada, bruno = ADDRESSES[channel]
    put_profile("crm", "c-ada", **{STORED_FIELD[channel]: stored_address(channel, ada)})
    campaign_id = campaign(api, channel, createProfiles=False)

    answer = trigger(
        api,
        campaign_id,
        recipient("c-ada"),
        recipient("stranger", address=bruno, channel=channel),
        # an external recipient is just an address: no profile needed, none created
        recipient("ext-1", address=bruno, channel=channel, type="external"),
    )

    assert verdicts(answer) == {
        "c-ada": ("accepted", None),
        "stranger": ("rejected", "unknown_profile"),
        "ext-1": ("accepted", None),
    }
    detail = next(r["detail"] for r in answer["recipients"] if r["userId"] == "stranger")
    assert "createProfiles" in detail
    queue.drain()
    assert delivered(channel) == sorted([(to(channel, ada), "EN - - -"), (to(channel, bruno), "EN - - -")])
    assert statuses(api, answer["executionId"]) == {
        "c-ada": ("sent", None),
        "stranger": ("excluded", "unknown_profile"),
        "ext-1": ("sent", None),
    }
    assert stored_profile("crm", "stranger") is None
    assert stored_profile("crm", "ext-1") is None


def test_an_external_recipient_gets_no_profile_even_when_create_profiles_is_on(api: Api, queue: Queue) -> None:
    campaign_id = campaign(api, "email")
    answer = trigger(api, campaign_id, recipient("ext-1", address="ext@example.com", type="external"))
    assert verdicts(answer) == {"ext-1": ("accepted", None)}
    assert stored_profile("crm", "ext-1") is None


def test_a_recipient_namespace_other_than_the_campaigns_names_its_own_profile(api: Api, queue: Queue) -> None:
    # A recipient's namespace is used as given (AJO names it per recipient); the campaign's is the default
    put_profile("loyalty", "L-7", email="loyal@example.com")
    campaign_id = campaign(api, "email", createProfiles=False)

    answer = trigger(api, campaign_id, recipient("L-7", namespace="loyalty"), recipient("L-7b", namespace="loyalty"))

    assert verdicts(answer) == {"L-7": ("accepted", None), "L-7b": ("rejected", "unknown_profile")}
    queue.drain()
    assert [sent_to for sent_to, _ in delivered("email")] == ["loyal@example.com"]


def test_a_namespace_no_profile_can_have_is_rejected_when_a_profile_would_be_created(api: Api, queue: Queue) -> None:
    campaign_id = campaign(api, "email")
    answer = trigger(api, campaign_id, recipient("x", namespace="not a namespace", address="x@example.com"))
    assert verdicts(answer) == {"x": ("rejected", "invalid_namespace")}
    assert "not a namespace" in answer["recipients"][0]["detail"]


# ---------------------------------------------------------------------------
# Consent and suppression, checked just before sending
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("channel", CHANNELS)
def test_marketing_skips_people_who_opted_out_and_transactional_does_not(
    api: Api, queue: Queue, channel: str, reads: list[int]
) -> None:
    ada, bruno = ADDRESSES[channel]
    put_profile("crm", "c-ada", **{STORED_FIELD[channel]: stored_address(channel, ada)}, consents={channel: "out"})
    put_profile("crm", "c-bruno", **{STORED_FIELD[channel]: stored_address(channel, bruno)}, consents={channel: "in"})
    marketing = campaign(api, channel, kind="marketing")
    transactional = campaign(api, channel, kind="transactional")

    # Each recipient in its own call: the delivery batch holds several messages
    calls = [trigger(api, cid, recipient(uid)) for cid in (marketing, transactional) for uid in ("c-ada", "c-bruno")]
    reads.clear()
    queue.drain()

    assert delivered(channel) == sorted(
        [(to(channel, bruno), "EN - - -"), (to(channel, ada), "EN - - -"), (to(channel, bruno), "EN - - -")]
    )
    assert statuses(api, calls[0]["executionId"]) == {"c-ada": ("excluded", "no_consent")}
    assert statuses(api, calls[1]["executionId"]) == {"c-bruno": ("sent", None)}
    assert statuses(api, calls[2]["executionId"]) == {"c-ada": ("sent", None)}
    counted = report(api, marketing)
    assert counted["byStatus"] == {"excluded": 1, "sent": 1}
    assert counted["byReason"] == {"no_consent": 1}
    # The four messages were screened with one read of the profiles table
    assert len(reads) == 1


@pytest.mark.parametrize("kind", ["marketing", "transactional"])
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_suppressed_address_is_excluded_for_both_campaign_types(
    api: Api, queue: Queue, channel: str, kind: str
) -> None:
    ada, bruno = ADDRESSES[channel]
    suppress(channel, ada)
    campaign_id = campaign(api, channel, kind=kind)

    answer = trigger(
        api,
        campaign_id,
        recipient("u-ada", address=ada, channel=channel),
        recipient("u-bruno", address=bruno, channel=channel),
    )
    queue.drain()

    assert [sent_to for sent_to, _ in delivered(channel)] == [to(channel, bruno)]
    assert statuses(api, answer["executionId"]) == {"u-ada": ("excluded", "suppressed"), "u-bruno": ("sent", None)}
    assert report(api, campaign_id)["byReason"] == {"suppressed": 1}


def test_suppression_is_by_address_whatever_its_case(api: Api, queue: Queue) -> None:
    suppress("email", "Ada@Example.com")
    campaign_id = campaign(api, "email")
    answer = trigger(api, campaign_id, recipient("u", address="ada@example.COM"))
    queue.drain()
    assert delivered("email") == []
    assert statuses(api, answer["executionId"]) == {"u": ("excluded", "suppressed")}


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_profile_erased_after_the_trigger_is_not_reached(api: Api, queue: Queue, channel: str) -> None:
    ada, bruno = ADDRESSES[channel]
    put_profile("crm", "c-ada", **{STORED_FIELD[channel]: stored_address(channel, ada)})
    campaign_id = campaign(api, channel)
    answer = trigger(
        api, campaign_id, recipient("c-ada"), recipient("ext", address=bruno, channel=channel, type="external")
    )
    assert verdicts(answer) == {"c-ada": ("accepted", None), "ext": ("accepted", None)}

    erase_profile("crm", "c-ada")
    queue.drain()

    assert [sent_to for sent_to, _ in delivered(channel)] == [to(channel, bruno)]
    assert statuses(api, answer["executionId"]) == {"c-ada": ("excluded", "unknown_profile"), "ext": ("sent", None)}


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_redelivered_message_never_sends_to_an_excluded_recipient(api: Api, queue: Queue, channel: str) -> None:
    # Given a message whose recipient was excluded as suppressed
    ada, _ = ADDRESSES[channel]
    suppress(channel, ada)
    campaign_id = campaign(api, channel)
    answer = trigger(api, campaign_id, recipient("u-ada", address=ada, channel=channel))
    messages = queue.receive()
    assert len(messages) == 1
    queue.deliver(messages)
    assert statuses(api, answer["executionId"]) == {"u-ada": ("excluded", "suppressed")}

    # When the address leaves the list, and the same message comes again (SQS delivers at least once)
    unsuppress(channel, ada)
    boto3.client("sqs", region_name=REGION).send_message(QueueUrl=queue.url, MessageBody=messages[0]["Body"])
    queue.drain()

    # Then nothing was sent, and the recipient keeps its outcome
    assert delivered(channel) == []
    assert statuses(api, answer["executionId"]) == {"u-ada": ("excluded", "suppressed")}


def test_an_external_recipient_with_a_namespace_no_profile_can_have_is_screened_by_address(
    api: Api, queue: Queue
) -> None:
    campaign_id = campaign(api, "email", kind="marketing")
    suppress("email", "x@example.com")
    answer = trigger(
        api,
        campaign_id,
        recipient("x", namespace="no such namespace!", address="x@example.com", type="external"),
        recipient("y", namespace="no such namespace!", address="y@example.com", type="external"),
    )
    queue.drain()
    assert statuses(api, answer["executionId"]) == {"x": ("excluded", "suppressed"), "y": ("sent", None)}


def test_a_stored_address_that_cannot_be_used_rejects_that_recipient_naming_the_stored_profile(
    api: Api, queue: Queue
) -> None:
    # A push token of an app this stack may not send to is skipped; with no other, the recipient has no address
    put_profile("crm", "c-1", pushTokens=[{"appID": "com.other.app", "platform": "fcm", "token": "t"}])
    put_profile(
        "crm",
        "c-2",
        pushTokens=[
            {"appID": "com.other.app", "platform": "fcm", "token": "t-other"},
            {"appID": APP, "platform": "apns", "token": "t-ours"},
        ],
    )
    campaign_id = campaign(api, "push")

    answer = trigger(api, campaign_id, recipient("c-1"), recipient("c-2"))

    assert verdicts(answer) == {"c-1": ("rejected", "missing_address"), "c-2": ("accepted", None)}
    queue.drain()
    assert [sent_to for sent_to, _ in delivered("push")] == ["t-ours"]


def test_recipients_are_sent_to_even_if_their_new_profiles_could_not_be_written(
    api: Api, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    from campaign_engine.store import known_people

    def throttled(items: Any) -> None:
        raise RuntimeError("DynamoDB left profiles unwritten after repeated BatchWriteItem calls")

    monkeypatch.setattr(known_people, "create_profiles", throttled)
    campaign_id = campaign(api, "email")

    answer = trigger(api, campaign_id, recipient("n-1", address="n1@example.com"))

    assert verdicts(answer) == {"n-1": ("accepted", None)}
    queue.drain()
    assert [sent_to for sent_to, _ in delivered("email")] == ["n1@example.com"]
    assert stored_profile("crm", "n-1") is None


def test_a_request_profile_dynamodb_cannot_store_still_sends_and_creates_the_profile_without_it(
    api: Api, queue: Queue
) -> None:
    deep: dict[str, Any] = {"v": "bottom"}
    for _ in range(40):
        deep = {"d": deep}
    campaign_id = campaign(api, "email")

    answer = trigger(
        api,
        campaign_id,
        recipient("n-1", address="n1@example.com", profile={"firstName": "Ada", "deep": deep}),
        recipient("n-2", address="n2@example.com", profile={"firstName": "Bo", "big": 10**200}),
    )

    assert verdicts(answer) == {"n-1": ("accepted", None), "n-2": ("accepted", None)}
    queue.drain()
    assert delivered("email") == [("n1@example.com", "EN - Ada -"), ("n2@example.com", "EN - Bo -")]
    for user_id, address in (("n-1", "n1@example.com"), ("n-2", "n2@example.com")):
        created = stored_profile("crm", user_id)
        assert created is not None
        assert created["email"] == address
        assert "attributes" not in created
