"""Throttling: a campaign's messagesPerSecond and the stack's SES rate, held across delivery containers.

Time is frozen (time_machine) at a fraction past a whole second and moved a second at a time: each
step delivers whatever the queue shows, as Lambda's event source mapping would, and counts the emails
that left in that one-second window."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import time_machine

from campaign_engine import aws, settings, webhooks
from local.template import REGION
from tests.conftest import Api, Handler, Queue, trigger_body
from tests.integration.conftest import (
    DeadLetters,
    delivery_container,
    emails_per_recipient,
    invoke_delivery,
    recipients,
    run_together,
    statuses,
)

Outbox = Callable[[], list[dict[str, Any]]]

# A delivery run handles the messages of its batch side by side, so two of them often ask for the same
# window's counter at once. DynamoDB's ADD is atomic; moto's in-process update_item (a read, then a
# write) is not, and a lost update there grants twice what fits - the emulator's race, not ours.
pytestmark = pytest.mark.usefixtures("atomic_dynamodb")


@pytest.fixture
def frozen() -> Iterator[time_machine.Coordinates]:
    """The clock stopped 0.2 s into a whole second (ten seconds from now); `.shift(1)` moves it one window on."""
    with time_machine.travel(math.floor(time.time()) + 10.2, tick=False) as traveller:
        yield traveller


def _deliver_visible(queue: Queue, function: Handler | None = None) -> list[dict[str, Any]]:
    """Delivers every message visible now, ten to an invocation; returns them as received."""
    seen: list[dict[str, Any]] = []
    while messages := queue.receive():
        seen += messages
        assert invoke_delivery(queue, messages, function=function).failed == set()
    return seen


def _delayed(queue: Queue) -> int:
    """Messages sent with a delay that has not run out yet."""
    attributes = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=queue.url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessagesDelayed"])


def _per_window(
    queue: Queue, outbox: Outbox, frozen: time_machine.Coordinates, windows: int
) -> tuple[list[int], list[dict[str, Any]]]:
    """Emails sent in each of `windows` one-second windows, and every message received meanwhile."""
    sent: list[int] = []
    received: list[dict[str, Any]] = []
    for _ in range(windows):
        before = len(outbox())
        received += _deliver_visible(queue)
        sent.append(len(outbox()) - before)
        frozen.shift(1)
    return sent, received


def test_a_campaign_throttled_at_5_sends_5_a_second_and_the_rest_wait_in_the_queue(
    api: Api, queue: Queue, outbox: Outbox, dlq: DeadLetters, frozen: time_machine.Coordinates
) -> None:
    # Given a campaign throttled at 5 messages a second, triggered for 30 recipients (3 queue messages)
    campaign = api.live_campaign(throttle={"messagesPerSecond": 5})
    people = recipients(30)
    answer = api.trigger(trigger_body(campaign["id"], people, requestId="throttled-30"))
    assert answer.status == 202

    # When the first window's delivery runs, the 5 it grants leave and nothing else is visible yet
    first = _deliver_visible(queue)
    assert len(first) == 3
    assert len(outbox()) == 5
    assert queue.receive() == []  # the others wait in the queue (delayed), not in a sleeping function
    assert _delayed(queue) == 3

    # And a second later the first message's other 5 recipients come back, and leave
    frozen.shift(1)
    sent, received = _per_window(queue, outbox, frozen, windows=8)

    # Then every following window sent at most 5, exactly 5 while recipients were waiting: 30 in six windows
    assert [5, *sent] == [5, 5, 5, 5, 5, 5, 0, 0, 0]
    # And everyone got exactly one email, and reads as sent
    assert emails_per_recipient(outbox) == {p["userId"]: 1 for p in people}
    assert set(statuses(api, answer.body["executionId"]).values()) == {("sent", None)}
    # And no wait counted a receive towards the dead-letter queue: each was a new message, received once
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in first + received} == {"1"}
    assert queue.depth() == _delayed(queue) == 0
    assert dlq.messages() == []


def test_two_delivery_containers_share_one_budget(
    api: Api, queue: Queue, outbox: Outbox, atomic_dynamodb: None, frozen: time_machine.Coordinates
) -> None:
    # Given a campaign throttled at 7 a second, and 4 queue messages of 10 recipients
    campaign = api.live_campaign(throttle={"messagesPerSecond": 7})
    people = recipients(40)
    api.trigger(trigger_body(campaign["id"], people, requestId="two-containers"))
    first = queue.receive(max_messages=2)
    second = queue.receive(max_messages=2)
    assert len(first) == len(second) == 2
    containers = [delivery_container("throttle-a"), delivery_container("throttle-b")]

    # When two containers deliver two messages each at the same instant
    run_together(2, lambda i: invoke_delivery(queue, [first, second][i], function=containers[i]))

    # Then 7 emails left between them in that window, not 7 each
    assert len(outbox()) == 7
    # And, a window at a time, the rest leave at the same pace, each recipient once
    frozen.shift(1)
    sent, _ = _per_window(queue, outbox, frozen, windows=7)
    assert sent == [7, 7, 7, 7, 5, 0, 0]
    assert emails_per_recipient(outbox) == {p["userId"]: 1 for p in people}


def _record_requests() -> list[tuple[str, str, str]]:
    """(service, operation, table or queue) of every request delivery's clients make from now on."""
    calls: list[tuple[str, str, str]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        target = params.get("TableName") or str(params.get("QueueUrl", "")).rsplit("/", 1)[-1]
        calls.append((model.service_model.service_name, model.name, target))

    for client in (aws.dynamodb(), aws.sqs(), aws.sesv2()):
        client.meta.events.register("before-parameter-build", record)
    return calls


def test_a_campaign_without_a_throttle_costs_no_request_more(
    api: Api, queue: Queue, outbox: Outbox, frozen: time_machine.Coordinates
) -> None:
    # Given two campaigns alike but for a throttle (high enough to grant everything), each triggered for 10 people
    plain = api.live_campaign()
    throttled = api.live_campaign(throttle={"messagesPerSecond": 1000})
    api.trigger(trigger_body(plain["id"], recipients(10, "plain"), requestId="plain"))
    [plain_message] = queue.receive()
    api.trigger(trigger_body(throttled["id"], recipients(10, "paced"), requestId="paced"))
    [throttled_message] = queue.receive()
    webhooks.global_endpoint()  # read once per container and cached: not a cost of either message
    calls = _record_requests()

    # When each message is delivered
    invoke_delivery(queue, [plain_message])
    plain_calls = Counter(calls)
    calls.clear()
    invoke_delivery(queue, [throttled_message])
    throttled_calls = Counter(calls)

    # Then both sent their 10; the plain one touched no throttle counter and queued nothing,
    # and the throttled one made exactly one request more: one counter write for its 10 recipients
    assert len(outbox()) == 20
    table = settings.get_settings().throttle_table
    assert not [c for c in plain_calls if c[2] == table or c[1].startswith("SendMessage")]
    assert throttled_calls - plain_calls == Counter({("dynamodb", "UpdateItem", table): 1})
    assert plain_calls - throttled_calls == Counter()


def test_the_stacks_ses_rate_holds_across_campaigns(
    api: Api, queue: Queue, outbox: Outbox, frozen: time_machine.Coordinates, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stack deployed with SesMaxSendRate 4, and two unthrottled email campaigns of 6 recipients each
    monkeypatch.setenv("SES_MAX_SEND_RATE", "4")
    settings.get_settings.cache_clear()
    people = {name: recipients(6, name) for name in ("news", "offers")}
    for name, group in people.items():
        campaign = api.live_campaign(name=name)
        api.trigger(trigger_body(campaign["id"], group, requestId=name))

    # When delivery runs a window at a time
    sent, _ = _per_window(queue, outbox, frozen, windows=5)

    # Then at most 4 emails left in any window, 12 in all, each once
    assert sent == [4, 4, 4, 0, 0]
    assert emails_per_recipient(outbox) == {p["userId"]: 1 for group in people.values() for p in group}


def test_a_message_whose_recipients_are_excluded_asks_only_for_those_it_sends(
    api: Api, queue: Queue, outbox: Outbox, frozen: time_machine.Coordinates
) -> None:
    # Given a throttle of 3 and a call of 5 recipients, 2 of them suppressed
    campaign = api.live_campaign(throttle={"messagesPerSecond": 3})
    people = recipients(5)
    entries = [{"channel": "email", "address": p["userId"], "reason": "manual"} for p in people[:2]]
    added = api.call("api", "api/add_suppressions.json", body={"entries": entries})
    assert added.status < 300, added.body
    answer = api.trigger(trigger_body(campaign["id"], people, requestId="screened"))

    # When the first window's delivery runs
    _deliver_visible(queue)

    # Then the 3 others were all sent at once (the suppressed took no share of the budget)
    assert emails_per_recipient(outbox) == {p["userId"]: 1 for p in people[2:]}
    assert queue.depth() == _delayed(queue) == 0
    reasons = {status for status, _ in statuses(api, answer.body["executionId"]).values()}
    assert reasons == {"sent", "excluded"}


@pytest.mark.parametrize("rate", [0, 20_001, "fast"])
def test_a_throttle_outside_1_to_20000_is_refused_and_named(api: Api, rate: object) -> None:
    answer = api.call(
        "api",
        "api/create_campaign.json",
        body={**_sample_campaign(), "throttle": {"messagesPerSecond": rate}},
    )
    assert answer.status == 400
    assert answer.body["code"] == "validation_failed"
    assert "throttle.messagesPerSecond" in {e["field"] for e in answer.body["errors"]}


def _sample_campaign() -> dict[str, Any]:
    import json

    from local.harness import load_event

    body: dict[str, Any] = json.loads(load_event("api/create_campaign.json")["body"])
    return body


def test_throttle_counters_expire(api: Api, queue: Queue, frozen: time_machine.Coordinates) -> None:
    # Given a throttled delivery has run
    campaign = api.live_campaign(throttle={"messagesPerSecond": 2})
    api.trigger(trigger_body(campaign["id"], recipients(3), requestId="ttl"))
    _deliver_visible(queue)

    # Then its counter item carries a TTL about two minutes past its window, on the attribute the table expires by
    table = settings.get_settings().throttle_table
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    [item] = dynamodb.scan(TableName=table)["Items"]
    assert ttl["AttributeName"] == "expiresAt"
    assert int(item["expiresAt"]["N"]) - time.time() == pytest.approx(120, abs=1)
