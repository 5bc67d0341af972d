"""Frequency caps (`PUT /rules/frequency`) across campaigns, with controlled time.

What a user notices: whether a person got the message (the inbox, the phone), each recipient's status
and reason in GET /im/executions/{id}, and what GET /rules/frequency answers."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from tests.conftest import Api, Queue, load_event
from tests.integration.test_profiles_in_delivery import campaign, delivered, recipient, statuses, trigger

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ADA = "ada@example.com"
BRUNO = "bruno@example.com"


def put_rules(api: Api, body: Any, scopes: str | None = None) -> Any:
    event = load_event("api/put_frequency_rules.json")
    return api.call_event("api", event, body=body, scopes=scopes)


def get_rules(api: Api) -> Any:
    return api.call_event("api", load_event("api/get_frequency_rules.json"))


def send(api: Api, queue: Queue, campaign_id: str, *people: tuple[str, Any], channel: str = "email") -> str:
    """Triggers the campaign for (userId, address) pairs and delivers everything; the execution id."""
    answer = trigger(api, campaign_id, *(recipient(u, address=a, channel=channel) for u, a in people))
    queue.drain()
    return str(answer["executionId"])


@pytest.fixture(autouse=True)
def atomic_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies a conditional write to an item atomically; moto checks the condition, then writes,
    without a lock, so two threads can both pass it. Its UpdateItem is made atomic here, as DynamoDB's is:
    the races below are between our reads and writes, not inside the emulator."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.Lock()
    real = DynamoDBBackend.update_item

    def update_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return real(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "update_item", update_item)


@pytest.fixture
def clock() -> Any:
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


# ---------------------------------------------------------------------------
# The rules API
# ---------------------------------------------------------------------------
def test_rules_are_set_and_read_back_and_replaced_whole(api: Api) -> None:
    assert get_rules(api).status == 200
    assert get_rules(api).body == {}

    answer = put_rules(api, {"email": {"count": 3, "period": "P7D"}, "sms": {"count": 1, "period": "PT12H"}})
    assert answer.status == 200, answer.body
    read = get_rules(api).body
    assert {k: v for k, v in read.items() if k != "updatedAt"} == {
        "email": {"count": 3, "period": "P7D"},
        "sms": {"count": 1, "period": "PT12H"},
    }
    assert read["updatedAt"].startswith(str(datetime.now(UTC).year))

    assert put_rules(api, {"push": {"count": 2, "period": "P1DT6H"}}).status == 200
    read = get_rules(api).body
    assert set(read) == {"push", "updatedAt"}  # email and sms have no cap any more


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"email": {"count": 3, "period": "P1M"}}, "email.period", "use days"),
        ({"email": {"count": 3, "period": "PT30M"}}, "email.period", "between PT1H"),
        ({"email": {"count": 3, "period": "P91D"}}, "email.period", "P90D"),
        ({"email": {"count": 3, "period": "7 days"}}, "email.period", "ISO-8601"),
        ({"sms": {"count": 0, "period": "P1D"}}, "sms.count", "greater than or equal to 1"),
        ({"sms": {"count": 1001, "period": "P1D"}}, "sms.count", "1000"),
        ({"whatsapp": {"count": 1, "period": "P1D"}}, "whatsapp", ""),
        ({"push": {"period": "P1D"}}, "push.count", ""),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field(api: Api, body: Any, field: str, words: str) -> None:
    answer = put_rules(api, body)
    assert answer.status in (400, 422), answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    problems = {e["field"]: e["message"] for e in answer.body["errors"]}
    assert field in problems, problems
    assert words in problems[field]
    assert get_rules(api).body == {}  # nothing stored


def test_the_rules_need_the_admin_scope(api: Api) -> None:
    answer = put_rules(api, {"email": {"count": 1, "period": "P1D"}}, scopes="campaigns:write campaigns:read")
    assert answer.status == 403
    assert answer.body["code"] == "forbidden"
    event = load_event("api/get_frequency_rules.json")
    assert api.call_event("api", event, scopes="campaigns:read").status == 403


# ---------------------------------------------------------------------------
# Caps at delivery
# ---------------------------------------------------------------------------
def test_a_cap_counts_across_campaigns_of_the_channel_and_not_other_channels(
    api: Api, queue: Queue, clock: Any
) -> None:
    assert put_rules(api, {"email": {"count": 2, "period": "P7D"}, "sms": {"count": 1, "period": "P1D"}}).status == 200
    news = campaign(api, "email", kind="marketing")
    offers = campaign(api, "email", kind="marketing")
    texts = campaign(api, "sms", kind="marketing")

    # Ada gets two marketing emails from two campaigns; Bruno one
    first = send(api, queue, news, ("ada", ADA), ("bruno", BRUNO))
    second = send(api, queue, offers, ("ada", ADA))
    assert statuses(api, first) == {"ada": ("sent", None), "bruno": ("sent", None)}
    assert statuses(api, second) == {"ada": ("sent", None)}

    # A third marketing email, from either campaign, is over Ada's cap; Bruno's second is not
    third = send(api, queue, news, ("ada", ADA), ("bruno", BRUNO))
    assert statuses(api, third) == {"ada": ("excluded", "frequency_capped"), "bruno": ("sent", None)}
    assert sorted(to for to, _ in delivered("email")) == [ADA, ADA, BRUNO, BRUNO]

    # SMS has its own count: Ada's first marketing SMS goes, her second that day does not
    assert statuses(api, send(api, queue, texts, ("ada", "+14155550101"), channel="sms")) == {"ada": ("sent", None)}
    capped = send(api, queue, texts, ("ada", "+14155550101"), channel="sms")
    assert statuses(api, capped) == {"ada": ("excluded", "frequency_capped")}
    assert len(delivered("sms")) == 1


def test_transactional_messages_are_neither_counted_nor_capped(api: Api, queue: Queue, clock: Any) -> None:
    assert put_rules(api, {"email": {"count": 1, "period": "P1D"}}).status == 200
    receipts = campaign(api, "email")  # transactional
    news = campaign(api, "email", kind="marketing")

    # Two transactional emails first: they take nothing from the cap
    for _ in range(2):
        assert statuses(api, send(api, queue, receipts, ("ada", ADA))) == {"ada": ("sent", None)}
    assert statuses(api, send(api, queue, news, ("ada", ADA))) == {"ada": ("sent", None)}
    assert statuses(api, send(api, queue, news, ("ada", ADA))) == {"ada": ("excluded", "frequency_capped")}
    # Over the marketing cap, a transactional email still goes
    assert statuses(api, send(api, queue, receipts, ("ada", ADA))) == {"ada": ("sent", None)}
    assert len(delivered("email")) == 4


def test_a_send_leaves_the_count_once_the_period_has_passed(api: Api, queue: Queue, clock: Any) -> None:
    assert put_rules(api, {"email": {"count": 1, "period": "P1D"}}).status == 200
    news = campaign(api, "email", kind="marketing")
    assert statuses(api, send(api, queue, news, ("ada", ADA))) == {"ada": ("sent", None)}

    clock.shift(timedelta(hours=23))
    assert statuses(api, send(api, queue, news, ("ada", ADA))) == {"ada": ("excluded", "frequency_capped")}

    clock.shift(timedelta(hours=1, minutes=1))  # the first send is now more than a day old
    assert statuses(api, send(api, queue, news, ("ada", ADA))) == {"ada": ("sent", None)}
    assert len(delivered("email")) == 2


def test_without_a_rule_nothing_is_capped_nor_read(api: Api, queue: Queue, monkeypatch: pytest.MonkeyPatch) -> None:
    from campaign_engine.store import frequency as counters

    updates: list[Any] = []
    monkeypatch.setattr(counters, "reserve", lambda *a, **k: updates.append(a) or True)
    news = campaign(api, "email", kind="marketing")
    for _ in range(3):
        assert statuses(api, send(api, queue, news, ("ada", ADA))) == {"ada": ("sent", None)}
    assert updates == []  # no counter written without a cap


def test_two_deliveries_racing_for_the_last_slot_send_once(api: Api, queue: Queue, clock: Any) -> None:
    assert put_rules(api, {"email": {"count": 1, "period": "P7D"}}).status == 200
    news = campaign(api, "email", kind="marketing")
    offers = campaign(api, "email", kind="marketing")
    executions = [
        trigger(api, campaign_id, recipient("ada", address=ADA))["executionId"] for campaign_id in (news, offers)
    ]
    messages = queue.receive()
    assert len(messages) == 2
    # Two delivery functions, each with one of the messages, both reading Ada's counter before either
    # takes the slot
    from campaign_engine.store import people

    both_read = threading.Barrier(2, timeout=10)
    real_batch_get = people.batch_get

    def read_then_wait(keys: Any, **options: Any) -> Any:
        found = real_batch_get(keys, **options)
        both_read.wait()
        return found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(people, "batch_get", read_then_wait)
        runs = [threading.Thread(target=queue.deliver, args=([message],)) for message in messages]
        for run in runs:
            run.start()
        for run in runs:
            run.join(30)

    outcomes = sorted(next(iter(statuses(api, e).values())) for e in executions)
    assert outcomes == [("excluded", "frequency_capped"), ("sent", None)]
    assert len(delivered("email")) == 1


def test_two_messages_of_one_batch_for_the_last_slot_send_once(api: Api, queue: Queue, clock: Any) -> None:
    # One delivery run screens both messages in one read (both see the slot free), then sends side by side
    assert put_rules(api, {"email": {"count": 1, "period": "P7D"}}).status == 200
    news = campaign(api, "email", kind="marketing")
    offers = campaign(api, "email", kind="marketing")
    executions = [
        trigger(api, campaign_id, recipient("ada", address=ADA))["executionId"] for campaign_id in (news, offers)
    ]
    queue.drain()
    outcomes = sorted(next(iter(statuses(api, e).values())) for e in executions)
    assert outcomes == [("excluded", "frequency_capped"), ("sent", None)]
    assert len(delivered("email")) == 1


def test_a_send_that_certainly_failed_gives_its_slot_back(
    api: Api, queue: Queue, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from campaign_engine import delivery
    from campaign_engine.channels import SendFailure

    assert put_rules(api, {"email": {"count": 1, "period": "P7D"}}).status == 200
    news = campaign(api, "email", kind="marketing")
    real = delivery.send_rendered

    def refused(*args: Any) -> str:
        raise SendFailure(kind="permanent", code="MessageRejected", detail="refused")

    monkeypatch.setattr(delivery, "send_rendered", refused)
    failed = send(api, queue, news, ("ada", ADA))
    assert statuses(api, failed) == {"ada": ("failed", "send_failed")}

    monkeypatch.setattr(delivery, "send_rendered", real)
    assert statuses(api, send(api, queue, news, ("ada", ADA))) == {"ada": ("sent", None)}
    assert len(delivered("email")) == 1


def test_the_rules_event_body_is_a_valid_rule() -> None:
    body = json.loads(load_event("api/put_frequency_rules.json")["body"])
    assert set(body) <= {"email", "sms", "push"}


def test_a_transactional_send_reads_no_rule_and_no_counter(
    api: Api, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    from campaign_engine.store import frequency as counters

    assert put_rules(api, {"email": {"count": 1, "period": "P1D"}}).status == 200
    receipts = campaign(api, "email")
    calls: list[str] = []
    monkeypatch.setattr(counters, "get_rules", lambda: calls.append("rules") or ({}, None))
    monkeypatch.setattr(counters, "counter_key", lambda *a: calls.append("counter") or {})
    for _ in range(2):
        assert statuses(api, send(api, queue, receipts, ("ada", ADA))) == {"ada": ("sent", None)}
    assert calls == []
