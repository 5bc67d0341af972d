"""Pure domain logic: addresses, locales, queue packing, merge patch, principals, field paths."""

from __future__ import annotations

import json
from collections.abc import Iterator

import msgspec
import pytest

from campaign_engine import queue_message, trigger_body
from campaign_engine.addresses import address_problem, resolve_address
from campaign_engine.auth import Principal, bearer_token, principal_from_context
from campaign_engine.campaigns import merge_patch
from campaign_engine.errors import DomainError, field_path
from campaign_engine.locales import choose_locale, preferred_language
from campaign_engine.models import Recipient, TriggerRequest
from campaign_engine.queue_message import backoff_seconds
from campaign_engine.trigger import TriggerCall, body_hash, new_execution_id, request_key, request_key_of_execution


def recipient(**fields: object) -> trigger_body.Recipient:
    """A recipient as the trigger decodes it (and as pydantic accepts it)."""
    dumped = Recipient.model_validate({"userId": "u-1", **fields}).model_dump(by_alias=True, exclude_unset=True)
    return msgspec.convert(dumped, trigger_body.Recipient)


class TestAddresses:
    def test_channel_data_wins_over_profile_and_user_id(self) -> None:
        r = recipient(
            userId="id@example.com", channelData={"emailAddress": "cd@example.com"}, profile={"email": "p@example.com"}
        )
        assert resolve_address("email", r, "email") == ("cd@example.com", "channelData.emailAddress")

    def test_profile_then_user_id_when_the_namespace_is_email(self) -> None:
        assert resolve_address(
            "email", recipient(profile={"personalEmail": {"address": "p@example.com"}}), "crmId"
        ) == ("p@example.com", "profile")
        assert resolve_address("email", recipient(userId="me@example.com"), "email") == ("me@example.com", "userId")
        assert resolve_address("email", recipient(userId="crm-7"), "crmId") == (None, None)

    def test_phone_numbers_are_normalised_and_checked(self) -> None:
        r = recipient(channelData={"mobilePhoneNumber": "+1 (415) 555-0100"})
        address, source = resolve_address("sms", r, "phone")
        assert (address, source) == ("+14155550100", "channelData.mobilePhoneNumber")
        assert address_problem("sms", address) is None
        assert address_problem("sms", "0415") is not None

    def test_push_needs_app_platform_and_token(self, push_applications: None) -> None:
        r = recipient(channelData={"pushInfo": {"appID": "com.x", "platform": "APNS", "token": "t"}})
        address, _ = resolve_address("push", r, "ecid")
        assert address == {"appID": "com.x", "platform": "apns", "token": "t"}
        assert address_problem("push", address) is None
        assert "platform" in (address_problem("push", {**address, "platform": "pager"}) or "")

    def test_push_to_an_app_outside_the_stacks_platform_applications_is_a_problem(
        self, push_applications: None
    ) -> None:
        # com.x is allowed on APNS only: another app, or the same app on another platform, is not
        other_app = address_problem("push", {"appID": "com.y", "platform": "apns", "token": "t"})
        other_platform = address_problem("push", {"appID": "com.x", "platform": "fcm", "token": "t"})
        assert other_app is not None
        assert "'com.y' on apns" in other_app
        assert other_platform is not None
        assert "PushApplicationArns" in other_platform


@pytest.fixture
def push_applications(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The stack allows one push app: com.x on APNS (the PushApplicationArns parameter)."""
    from campaign_engine import settings

    monkeypatch.setenv("PUSH_APPLICATION_ARNS", "arn:aws:sns:us-east-1:123456789012:app/APNS/com.x")
    settings.get_settings.cache_clear()
    yield
    settings.get_settings.cache_clear()


class TestLocales:
    content = {"defaultLocale": "en-US", "locales": {"en-US": {}, "pt-BR": {}, "fr-FR": {}}}

    @pytest.mark.parametrize(
        ("preferred", "expected"),
        [
            ("pt-BR", "pt-BR"),
            ("pt_br", "pt-BR"),
            ("pt-PT", "pt-BR"),
            ("fr", "fr-FR"),
            ("de-DE", "en-US"),
            (None, "en-US"),
        ],
    )
    def test_exact_then_language_then_default(self, preferred: str | None, expected: str) -> None:
        assert choose_locale(self.content, preferred) == expected

    def test_without_fallback_an_unmatched_language_gets_nothing(self) -> None:
        assert choose_locale({**self.content, "fallback": False}, "de-DE") is None

    def test_preferred_language_from_the_profile(self) -> None:
        assert preferred_language({"person": {"preferredLanguage": "pt-BR"}}) == "pt-BR"
        assert preferred_language({"preferredLanguage": " fr "}) == "fr"
        assert preferred_language(None) is None


class TestQueuePacking:
    header = {"executionId": "e", "campaignId": "c"}

    def test_recipients_are_grouped_by_count(self) -> None:
        entries = [{"userId": f"u{i}"} for i in range(25)]
        bodies = list(queue_message.pack_messages(self.header, entries))
        assert [len(json.loads(b)["recipients"]) for b in bodies] == [10, 10, 5]
        assert all(json.loads(b)["executionId"] == "e" for b in bodies)

    def test_and_by_size(self) -> None:
        big = "x" * 100_000
        entries = [{"userId": f"u{i}", "context": {"blob": big}} for i in range(5)]
        bodies = list(queue_message.pack_messages(self.header, entries))
        assert all(len(b.encode()) <= queue_message.MAX_MESSAGE_BYTES for b in bodies)
        assert sum(len(json.loads(b)["recipients"]) for b in bodies) == 5

    def test_the_largest_header_with_the_largest_entry_fits_one_sqs_message(self) -> None:
        # requestId and campaignId at their longest, of the characters JSON spells longest
        header = {
            "executionId": "f" * 32,
            "requestId": "\x00" * 256,
            "campaignId": "\x00" * 128,
            "campaignVersion": 10**9,
            "createdAt": "2026-12-01T09:00:00.000000Z",
            "expiresAt": 10**11,
        }
        entry = b'"' + b"x" * (queue_message.MAX_ENTRY_BYTES - 2) + b'"'
        [body] = queue_message.pack_encoded(header, [entry])
        assert len(body.encode()) <= queue_message.SQS_MAX_MESSAGE_BYTES

    def test_characters_sqs_refuses_are_sent_as_json_escapes(self) -> None:
        entries = [{"userId": "u", "context": {"code": "A\uffffB\ufffe"}}]
        [body] = queue_message.pack_messages({**self.header, "requestId": "r\uffff"}, entries)
        assert "\uffff" not in body
        assert "\ufffe" not in body
        assert json.loads(body)["recipients"] == entries
        assert json.loads(body)["requestId"] == "r\uffff"


class TestIds:
    def test_an_execution_id_leads_back_to_its_request(self) -> None:
        key = request_key("campaign-1", "order-1", "key_1")
        execution_id = new_execution_id(key)
        assert request_key_of_execution(execution_id) == key
        assert new_execution_id(key) != execution_id, "a new execution after the window gets a new id"
        assert request_key_of_execution("../etc/passwd") is None

    def test_the_body_hash_ignores_key_order_and_formatting(self) -> None:
        a = TriggerCall.from_value(json.loads('{"campaignId": "c", "recipients": [{"userId": "u"}], "requestId": "r"}'))
        b = TriggerCall.from_value(json.loads('{"requestId":"r","recipients":[{"userId":"u"}],"campaignId":"c"}'))
        c = TriggerCall.from_value(json.loads('{"requestId":"r","recipients":[{"userId":"v"}],"campaignId":"c"}'))
        assert body_hash(a) == body_hash(b) != body_hash(c)

    def test_a_body_in_python_field_names_hashes_as_the_same_body_in_the_contract_names(self) -> None:
        # pydantic accepts campaign_id for campaignId (populate_by_name); it is still the same request
        contract = {"campaignId": "c", "recipients": [{"userId": "u"}], "requestId": "r"}
        python_names = {"campaign_id": "c", "recipients": [{"user_id": "u"}], "request_id": "r"}
        assert body_hash(TriggerCall.from_value(contract)) == body_hash(
            TriggerCall.from_model(TriggerRequest.model_validate(python_names))
        )


def test_merge_patch_follows_rfc_7396() -> None:
    target = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]}
    assert merge_patch(target, {"b": {"c": None, "x": 9}, "e": [3], "a": None}) == {"b": {"d": 3, "x": 9}, "e": [3]}


def test_principals() -> None:
    assert bearer_token("Bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None
    with pytest.raises(DomainError) as missing:
        principal_from_context(None)
    assert missing.value.status == 401
    p = principal_from_context({"authenticated": True, "keyId": "k", "scopes": "campaigns:read", "labels": "a,b"})
    assert p == Principal("k", frozenset({"campaigns:read"}), frozenset({"a", "b"}))
    assert p.may_access(["a"])
    assert not p.may_access(["a", "c"])
    assert not p.may_access([]), "a label-limited key never reaches an unlabelled campaign"
    assert Principal("k", frozenset({"admin"}), frozenset({"a"})).may_access([])
    assert Principal("k", frozenset({"campaigns:read"}), None).may_access([])
    assert not p.can("campaigns:write")


def test_field_paths_read_like_the_request() -> None:
    assert (
        field_path(("body", "recipients", 3, "channelData", "emailAddress")) == "recipients[3].channelData.emailAddress"
    )
    assert field_path(("query", "limit")) == "limit"
    assert field_path(("body",)) == "body"


def test_backoff_grows_and_stays_within_sqs_limits() -> None:
    assert 3 <= backoff_seconds(1) <= 7
    assert backoff_seconds(4) > backoff_seconds(1)
    assert backoff_seconds(30) <= 900 * 1.2
