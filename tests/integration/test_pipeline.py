"""Create -> activate -> trigger -> deliver -> status, through the real handlers and the event files."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.conftest import Api, Queue, trigger_body


def test_a_triggered_campaign_is_rendered_per_locale_and_sent_once(api: Api, queue: Queue, outbox) -> None:
    # Given a live campaign with English and Portuguese content
    campaign = api.live_campaign()
    assert campaign["status"] == "live"
    assert campaign["liveVersion"] == 1

    # When the AJO-shaped sample request triggers it for two recipients
    answer = api.trigger(trigger_body(campaign["id"]))

    # Then both are accepted and queued
    assert answer.status == 202, answer.body
    assert [r["status"] for r in answer.body["recipients"]] == ["accepted", "accepted"]
    execution_id = answer.body["executionId"]
    assert api.execution(execution_id).body["counts"] == {"total": 2, "queued": 2}

    # When delivery runs
    queue.drain()

    # Then each got one email in their language, personalised with recipient context over request context
    emails = {e["to"][0]: e for e in outbox()}
    assert set(emails) == {"ada@example.com", "bruna@example.com"}
    assert emails["ada@example.com"]["subject"] == "Order 10042 confirmed"
    assert "Hi Ada" in emails["ada@example.com"]["html"]
    assert "$42.00" in emails["ada@example.com"]["html"]
    assert emails["bruna@example.com"]["subject"] == "Pedido 10043 confirmado"
    assert "Olá Bruna" in emails["bruna@example.com"]["html"]
    assert "Example Shop" in emails["ada@example.com"]["from"]
    assert "Hi Ada" in emails["ada@example.com"]["text"], "a plain-text alternative is derived from the html"

    # And the execution reports each recipient as sent, with SES's message id
    status = api.execution(execution_id).body
    assert status["status"] == "completed"
    assert status["counts"] == {"total": 2, "sent": 2}
    by_user = {r["userId"]: r for r in status["recipients"]}
    assert by_user["ada@example.com"]["messageId"] == emails["ada@example.com"]["id"]
    assert by_user["bruna@example.com"]["locale"] == "pt-BR"


def test_recipients_that_cannot_be_served_are_rejected_with_a_reason(api: Api, queue: Queue, outbox) -> None:
    campaign = api.live_campaign()
    recipients = [
        {"userId": "crm-1", "namespace": "crmId", "context": {"orderId": "1"}},
        {"userId": "ok@example.com", "namespace": "email", "context": {"orderId": "2", "total": "$1"}},
        {"userId": "ok@example.com", "namespace": "email", "context": {"orderId": "3", "total": "$1"}},
        {"userId": "no-order@example.com", "namespace": "email", "context": {}},
    ]
    answer = api.trigger(trigger_body(campaign["id"], recipients, context=None))
    assert answer.status == 202, answer.body
    verdicts = [(r["userId"], r["status"], r.get("reason")) for r in answer.body["recipients"]]
    assert verdicts == [
        ("crm-1", "rejected", "missing_address"),
        ("ok@example.com", "accepted", None),
        ("ok@example.com", "rejected", "duplicate_recipient"),
        ("no-order@example.com", "rejected", "invalid_context"),
    ]
    assert "orderId" in answer.body["recipients"][3]["detail"]
    queue.drain()
    assert [e["to"] for e in outbox()] == [["ok@example.com"]]
    counts = api.execution(answer.body["executionId"]).body["counts"]
    assert counts == {"total": 4, "sent": 1, "excluded": 3}


def test_a_missing_template_variable_fails_that_recipient_instead_of_sending_a_blank(
    api: Api, queue: Queue, outbox
) -> None:
    campaign = api.live_campaign()
    recipients = [
        {"userId": "no-total@example.com", "context": {"orderId": "7"}},
        {"userId": "full@example.com", "context": {"orderId": "8", "total": "$8"}},
    ]
    answer = api.trigger(trigger_body(campaign["id"], recipients, context=None))
    queue.drain()
    assert [e["to"] for e in outbox()] == [["full@example.com"]]
    outcomes = {r["userId"]: r for r in api.execution(answer.body["executionId"]).body["recipients"]}
    assert outcomes["no-total@example.com"]["status"] == "failed"
    assert outcomes["no-total@example.com"]["reason"] == "render_error"
    assert "context.total" in outcomes["no-total@example.com"]["detail"]
    assert outcomes["full@example.com"]["status"] == "sent"


def test_malformed_requests_name_every_bad_field(api: Api) -> None:
    answer = api.call("trigger", "trigger/unitary_invalid.json")
    assert answer.status == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.body["code"] == "validation_failed"
    fields = {e["field"] for e in answer.body["errors"]}
    assert "recipients[1].userId" in fields


def test_a_bad_channel_data_address_rejects_that_recipient_alone_naming_the_field(api: Api, queue: Queue) -> None:
    # Given a call where one recipient's address is mistyped and one number does not exist
    campaign = api.live_campaign()
    recipients = [
        {"userId": "a", "channelData": {"emailAddress": "a@example.com"}, "context": {"orderId": "1"}},
        {"userId": "b", "channelData": {"emailAddress": "b@example..com"}, "context": {"orderId": "1"}},
        {"userId": "c", "channelData": {"emailAddress": "c@example.com\r\nBcc: eve@example.com"}},
    ]
    answer = api.trigger(trigger_body(campaign["id"], recipients))

    # Then the others proceed, and each bad one is rejected with the field and the rule, not the address
    assert answer.status == 202, answer.body
    verdicts = {v["userId"]: v for v in answer.body["recipients"]}
    assert verdicts["a"]["status"] == "accepted"
    for user_id in ("b", "c"):
        assert (verdicts[user_id]["status"], verdicts[user_id]["reason"]) == ("rejected", "invalid_address")
        assert verdicts[user_id]["detail"].startswith(
            f"The address from recipients[{'bc'.index(user_id) + 1}].channelData.emailAddress is not an email address"
        )
        assert "example" not in verdicts[user_id]["detail"]
    assert queue.drain() == 1


def test_invalid_json_is_a_400_not_a_500(api: Api) -> None:
    answer = api.call("trigger", "trigger/unitary.json", raw_body='{"campaignId": ')
    assert answer.status == 400
    assert answer.body["code"] == "invalid_json"
    assert answer.headers["content-type"] == "application/problem+json"


def test_unknown_and_not_live_campaigns(api: Api) -> None:
    missing = api.trigger(trigger_body("does-not-exist"))
    assert (missing.status, missing.body["code"]) == (404, "campaign_not_found")

    draft = api.create_campaign()
    not_live = api.trigger(trigger_body(draft["id"]))
    assert (not_live.status, not_live.body["code"]) == (409, "campaign_not_live")
    assert not_live.body["campaignId"] == draft["id"]


def test_too_many_recipients_and_too_large_bodies(api: Api) -> None:
    campaign = api.live_campaign()
    many = [{"userId": f"u{i}@example.com", "context": {"orderId": "1"}} for i in range(1001)]
    answer = api.trigger(trigger_body(campaign["id"], many))
    assert answer.status == 400
    assert answer.body["errors"][0]["field"] == "recipients"

    huge = trigger_body(campaign["id"], context={"blob": "x" * (6 * 1024 * 1024)})
    too_large = api.trigger(huge)
    assert (too_large.status, too_large.body["code"]) == (413, "payload_too_large")


def test_stopped_campaign_refuses_triggers(api: Api) -> None:
    campaign = api.live_campaign()
    stopped = api.call("api", "api/stop_campaign.json", path_params={"campaignId": campaign["id"]})
    assert stopped.body["status"] == "stopped"
    answer = api.trigger(trigger_body(campaign["id"]))
    assert (answer.status, answer.body["code"]) == (409, "campaign_not_live")


def test_a_retry_after_the_campaign_stopped_still_gets_its_first_answer(api: Api, queue: Queue, outbox) -> None:
    campaign = api.live_campaign()
    body = trigger_body(campaign["id"], requestId="before-stop")
    first = api.trigger(body)
    api.call("api", "api/stop_campaign.json", path_params={"campaignId": campaign["id"]})
    retry = api.trigger(body)
    assert retry.status == 202
    assert retry.body == first.body
    fresh = api.trigger(trigger_body(campaign["id"], requestId="after-stop"))
    assert (fresh.status, fresh.body["code"]) == (409, "campaign_not_live")
    queue.drain()
    assert outbox() == [], "a stop reaches messages already queued"
    recipients = api.execution(first.body["executionId"]).body["recipients"]
    assert {(r["status"], r["reason"]) for r in recipients} == {("excluded", "campaign_stopped")}


def test_a_stop_reaches_warm_trigger_containers_within_the_campaign_cache_time(
    api: Api, snapshot_reads: Callable[[float], list[str]]
) -> None:
    reads = snapshot_reads(0.5)
    campaign = api.live_campaign()

    # Warm: many triggers, one read
    for n in range(5):
        assert api.trigger(trigger_body(campaign["id"], requestId=f"warm-{n}")).status == 202
    assert len(reads) == 1

    # A stop takes effect once the cached read is older than the cache time
    api.call("api", "api/stop_campaign.json", path_params={"campaignId": campaign["id"]})
    time.sleep(0.6)
    refused = api.trigger(trigger_body(campaign["id"], requestId="after-stop"))
    assert (refused.status, refused.body["code"]) == (409, "campaign_not_live")


def test_a_recipient_context_over_200_kb_is_rejected_alone(api: Api, queue: Queue, outbox) -> None:
    campaign = api.live_campaign()
    recipients = [
        {"userId": "big@example.com", "context": {"orderId": "1", "total": "$1", "notes": "x" * 210_000}},
        {"userId": "small@example.com", "context": {"orderId": "2", "total": "$2"}},
    ]
    answer = api.trigger(trigger_body(campaign["id"], recipients, context=None))
    assert answer.status == 202
    verdicts = {r["userId"]: (r["status"], r.get("reason")) for r in answer.body["recipients"]}
    assert verdicts == {"big@example.com": ("rejected", "context_too_large"), "small@example.com": ("accepted", None)}
    queue.drain()
    assert [e["to"] for e in outbox()] == [["small@example.com"]]


def test_context_schemas_of_every_draft_are_enforced_with_the_failing_path(api: Api) -> None:
    schema = {
        "type": "object",
        "required": ["orderId", "total"],
        "properties": {
            "orderId": {"type": "string"},
            "total": {"type": "string"},
            "customer": {"type": "object", "properties": {"age": {"type": "integer", "minimum": 18}}},
        },
        # A JSON Schema 2020-12 keyword: checked even though the fast draft-07 validator does not know it
        "dependentRequired": {"coupon": ["couponExpires"]},
    }
    campaign = api.live_campaign(contextSchema=schema)
    recipients = [
        {"userId": "ok@example.com", "context": {"orderId": "1", "total": "$1"}},
        {"userId": "young@example.com", "context": {"orderId": "2", "total": "$1", "customer": {"age": 12}}},
        {"userId": "coupon@example.com", "context": {"orderId": "3", "total": "$1", "coupon": "X"}},
    ]
    answer = api.trigger(trigger_body(campaign["id"], recipients, context=None))
    verdicts = {r["userId"]: r for r in answer.body["recipients"]}
    assert verdicts["ok@example.com"]["status"] == "accepted"
    assert verdicts["young@example.com"]["reason"] == "invalid_context"
    assert verdicts["young@example.com"]["detail"].startswith("$.customer.age:")
    assert verdicts["coupon@example.com"]["reason"] == "invalid_context"
    assert "couponExpires" in verdicts["coupon@example.com"]["detail"]
