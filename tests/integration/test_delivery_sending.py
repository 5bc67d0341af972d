"""How delivery spends its threads, and what a warm container keeps between campaign versions.

The recipients of a queue message are claimed and sent side by side on a pool that lives as long
as the function run; a lone recipient is sent on the run's own thread. Whatever the threads do,
a message is only decided once none of its sends is under way."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from campaign_engine import aws, delivery, store
from campaign_engine.settings import get_settings
from tests.conftest import Api, Queue, trigger_body
from tests.integration.conftest import emails_per_recipient, invoke_delivery, recipients, statuses


def _claims_on_threads(monkeypatch: pytest.MonkeyPatch) -> list[threading.Thread]:
    """Records the thread of every claim (the Thread objects themselves, so none is counted twice)."""
    threads: list[threading.Thread] = []
    lock = threading.Lock()
    real_claim = store.claim_recipient

    def claim(claim: store.Claim) -> store.RecipientState | None:
        with lock:
            threads.append(threading.current_thread())
        return real_claim(claim)

    monkeypatch.setattr(store, "claim_recipient", claim)
    return threads


def test_the_messages_of_a_run_share_one_send_pool_that_ends_with_the_run(
    api: Api, queue: Queue, outbox, atomic_dynamodb: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three queue messages of ten recipients each, delivered in one invocation
    campaign = api.live_campaign()
    people = recipients(30)
    answer = api.trigger(trigger_body(campaign["id"], people, requestId="pooled"))
    messages = queue.receive()
    assert len(messages) == 3
    threads = _claims_on_threads(monkeypatch)

    # When delivery runs
    result = invoke_delivery(queue, messages)

    # Then everyone got one email, claimed on at most SEND_THREADS threads for the whole run (not a
    # pool per message), none of them the invocation's own, and none left running after it
    assert result.failed == set()
    assert emails_per_recipient(outbox) == {p["userId"]: 1 for p in people}
    assert len(threads) == 30
    distinct = {id(t): t for t in threads}.values()
    assert len(distinct) <= delivery.SEND_THREADS
    assert threading.current_thread() not in distinct
    assert not any(t.is_alive() for t in distinct)
    assert set(statuses(api, answer.body["executionId"]).values()) == {("sent", None)}


def test_a_lone_recipient_is_sent_on_its_messages_thread_without_a_hand_off(
    api: Api, queue: Queue, outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = api.live_campaign()
    api.trigger(trigger_body(campaign["id"], recipients(1), requestId="alone"))
    threads = _claims_on_threads(monkeypatch)

    assert invoke_delivery(queue, queue.receive()).failed == set()

    [thread] = threads
    assert thread.name.startswith("delivery-message")  # not handed on to the send pool
    assert emails_per_recipient(outbox) == {"user0@example.com": 1}


def test_the_messages_of_a_batch_are_delivered_side_by_side(
    api: Api, queue: Queue, outbox, atomic_dynamodb: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given ten one-recipient calls, their messages in one batch, and SES answering slowly
    campaign = api.live_campaign()
    for n in range(10):
        api.trigger(trigger_body(campaign["id"], recipients(1, prefix=f"m{n}-"), requestId=f"side-{n}"))
    messages = queue.receive()
    assert len(messages) == 10
    lock = threading.Lock()
    sending = [0, 0]  # now, at most
    real_send = delivery.email_channel.send

    def slow_send(**kwargs: Any) -> str:
        with lock:
            sending[0] += 1
            sending[1] = max(sending[1], sending[0])
        try:
            time.sleep(0.05)
            return real_send(**kwargs)
        finally:
            with lock:
                sending[0] -= 1

    monkeypatch.setattr(delivery.email_channel, "send", slow_send)

    # When one invocation delivers the batch
    result = invoke_delivery(queue, messages)

    # Then the sends overlapped (one after another, the batch waited ten times on SES), and each
    # recipient got one email
    assert result.failed == set()
    assert sending[1] > 1
    assert sum(emails_per_recipient(outbox).values()) == 10


def test_a_message_is_decided_only_once_none_of_its_sends_is_under_way(
    api: Api, queue: Queue, outbox, atomic_dynamodb: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a message of ten recipients whose first claim fails outright while the others are slow
    campaign = api.live_campaign()
    api.trigger(trigger_body(campaign["id"], recipients(10), requestId="one-fails"))
    [message] = queue.receive()
    real_claim = store.claim_recipient
    lock = threading.Lock()
    under_way: list[int] = [0]

    def claim(claim: store.Claim) -> store.RecipientState | None:
        if claim.user_id == "user0@example.com":
            error = {"Error": {"Code": "InternalServerError", "Message": "boom"}}
            raise ClientError(error, "PutItem")
        with lock:
            under_way[0] += 1
        try:
            time.sleep(0.05)
            return real_claim(claim)
        finally:
            with lock:
                under_way[0] -= 1

    monkeypatch.setattr(store, "claim_recipient", claim)

    # When the message is delivered within a run
    with delivery.Invocation() as invocation:
        with pytest.raises(ClientError):
            delivery.deliver_message(message["Body"], invocation=invocation)
        # Then by the time it fails, no claim or send of it is still running
        assert under_way[0] == 0


def test_a_new_campaign_version_sends_from_its_own_sender(api: Api, queue: Queue, outbox) -> None:
    # Given a live campaign whose first version has been sent (a warm container keeps its sender headers)
    campaign = api.live_campaign(sender={"fromEmail": "orders@example.com", "fromName": "Shop One"})
    api.trigger(trigger_body(campaign["id"], recipients(1), requestId="v1"))
    queue.drain()

    # When a second version with another sender goes live and is triggered
    sender: dict[str, Any] = {
        "sender": {"fromEmail": "orders@example.com", "fromName": "Loja Dois Ção", "replyTo": "ajuda@example.com"}
    }
    edited = api.call("api", "api/patch_campaign.json", path_params={"campaignId": campaign["id"]}, body=sender)
    assert edited.status == 200, edited.body
    activated = api.call("api", "api/activate_campaign.json", path_params={"campaignId": campaign["id"]})
    assert activated.body["liveVersion"] == 2, activated.body
    api.trigger(trigger_body(campaign["id"], recipients(1), requestId="v2"))
    queue.drain()

    # Then each email names the sender of its own version
    assert [e["from"] for e in outbox()] == ["Shop One <orders@example.com>", "Loja Dois Ção <orders@example.com>"]


def test_the_recipients_sent_before_another_one_failed_are_recorded_sent_not_unconfirmed(
    api: Api, queue: Queue, outbox, atomic_dynamodb: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a message of ten recipients, one of whose claims fails once with an unexpected error
    campaign = api.live_campaign()
    people = recipients(10)
    answer = api.trigger(trigger_body(campaign["id"], people, requestId="one-fails-once"))
    real_claim = store.claim_recipient
    failed_once: list[str] = []

    def claim(claim: store.Claim) -> store.RecipientState | None:
        if claim.user_id == "user3@example.com" and not failed_once:
            failed_once.append(claim.user_id)
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "PutItem")
        return real_claim(claim)

    monkeypatch.setattr(store, "claim_recipient", claim)

    # When delivery runs: the message fails and comes back, then is delivered again
    first = invoke_delivery(queue, queue.receive(visibility=0))
    assert len(first.failed) == 1
    recorded = statuses(api, answer.body["executionId"])
    again = invoke_delivery(queue, queue.receive(visibility=0))

    # Then those sent the first time were recorded sent by it (not left to become send_unconfirmed),
    # the failed one was sent the second time, and nobody got two emails
    sent_first = {user for user, (status, _) in recorded.items() if status == "sent"}
    assert "user3@example.com" not in sent_first
    assert sent_first  # the others ran alongside and were recorded
    assert again.failed == set()
    assert emails_per_recipient(outbox) == {p["userId"]: 1 for p in people}
    assert set(statuses(api, answer.body["executionId"]).values()) == {("sent", None)}


def test_a_runs_outcomes_split_over_several_items_are_all_read_back(
    api: Api, queue: Queue, outbox, atomic_dynamodb: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given outcome items so small that one run's ten outcomes need several of them
    monkeypatch.setattr(store.outcomes, "OUTCOME_CHUNK_BYTES", 200)

    campaign = api.live_campaign()
    people = recipients(10)
    answer = api.trigger(trigger_body(campaign["id"], people, requestId="split-outcomes"))

    # When delivery runs
    assert invoke_delivery(queue, queue.receive()).failed == set()
    parts = [
        item
        for item in aws.dynamodb().scan(TableName=get_settings().executions_table)["Items"]
        if item["pk"]["S"].startswith("OUT#")
    ]

    # Then the outcomes were spread over several items, and every recipient reads back as sent
    # with its message id (claims point at the run's outcome items)
    assert len(parts) > 2
    assert {int(p["parts"]["N"]) for p in parts} == {len(parts)}
    recorded = api.execution(answer.body["executionId"], limit="100").body["recipients"]
    assert {r["status"] for r in recorded} == {"sent"}
    assert all(r.get("messageId") for r in recorded)
    assert emails_per_recipient(outbox) == {p["userId"]: 1 for p in people}
