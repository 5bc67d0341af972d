"""A delivery run near its Lambda timeout (issue 9, item 11).

Lambda stops a run at its timeout, and a run stopped there writes none of its outcomes: the
recipients it had sent would end failed/send_unconfirmed, and its other records would come back only
after the queue's visibility timeout. Here the run gets a Lambda context on a clock the test moves;
once the clock passes the function's Timeout, Lambda has stopped the run: anything it writes then
fails, as it never happens on AWS. What is asserted is what a user notices: emails, statuses, and
which records come back, how soon."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from campaign_engine import delivery, delivery_queue, reports, store
from local.template import REGION, Template
from tests.conftest import Api, Queue, trigger_body
from tests.integration.conftest import (
    FaultySes,
    Rule,
    emails_per_recipient,
    invoke_delivery,
    recipients,
    statuses,
)

Install = Callable[[Rule], FaultySes]
# The time a run keeps in hand (delivery.STOP_MARGIN_MS): a send under way (SES's 2 s connect and
# 10 s read timeouts), then the run's closing writes (3 s).
MARGIN_MS = 15_000


class StoppedAtTimeout(Exception):
    """What the run did after Lambda stopped it: on AWS, it never happened."""


class LambdaClock:
    """The context Lambda passes to a delivery run, on a clock that the test's sends move: the
    remaining time counts down from the function's Timeout."""

    function_name = "delivery"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:delivery"
    aws_request_id = "11111111-1111-1111-1111-111111111111"

    def __init__(self, timeout_seconds: int) -> None:
        self.timeout_ms = timeout_seconds * 1000
        self.elapsed_ms = 0
        self._lock = threading.Lock()
        self._started = threading.local()

    def get_remaining_time_in_millis(self) -> int:
        with self._lock:
            # A thread reads its time left when it starts a piece of work: its send starts then.
            self._started.at = self.elapsed_ms
            return max(0, self.timeout_ms - self.elapsed_ms)

    def one_at_a_time(self, ms: int) -> None:
        """A send on the only sending thread: the run's time moves on by `ms`."""
        with self._lock:
            self.elapsed_ms += ms

    def side_by_side(self, ms: int) -> None:
        """A send among others running at once: it ends `ms` after its work started on this thread
        (sends started together end together, as they would in wall time)."""
        with self._lock:
            started = getattr(self._started, "at", self.elapsed_ms)
            self._started.at = self.elapsed_ms = max(self.elapsed_ms, started + ms)

    def stopped(self) -> bool:
        with self._lock:
            return self.elapsed_ms > self.timeout_ms


def _delivery_timeout(aws_env: Template) -> int:
    return aws_env.functions()["DeliveryFunction"].timeout_seconds


def _stopped_at_timeout(monkeypatch: pytest.MonkeyPatch, clock: LambdaClock) -> list[int]:
    """Lambda's timeout on the run's closing writes; returns the visibility delays it gave the records
    it handed back."""

    def unless_stopped(real: Callable[..., Any]) -> Callable[..., Any]:
        def write(*args: Any) -> Any:
            if clock.stopped():
                raise StoppedAtTimeout(f"{real.__name__} after the function's timeout")
            return real(*args)

        return write

    for module, name in (
        (store, "write_outcome_batch"),
        (store, "record_outcomes"),
        (reports, "add_counts"),
        (delivery_queue, "come_back_in"),
    ):
        monkeypatch.setattr(module, name, unless_stopped(getattr(module, name)))
    delays: list[int] = []
    guarded = delivery_queue.come_back_in
    monkeypatch.setattr(
        delivery_queue, "come_back_in", lambda handle, seconds: delays.append(seconds) or guarded(handle, seconds)
    )
    return delays


def _sqs() -> Any:
    return boto3.client("sqs", region_name=REGION)


def _show_again(queue: Queue, messages: list[dict[str, Any]]) -> None:
    """Their visibility delay has passed."""
    for message in messages:
        _sqs().change_message_visibility(
            QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )


def _queued_addresses(message: dict[str, Any]) -> set[str]:
    from campaign_engine import queue_message

    return {r.userId for r in queue_message.decode(message["Body"]).recipients}


def test_a_run_near_its_timeout_records_what_it_sent_and_hands_the_rest_back_promptly(
    api: Api,
    queue: Queue,
    outbox,
    aws_env: Template,
    faulty_ses: Install,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the delivery function's timeout (template.yaml), one send at a time, each taking 4 s
    timeout = _delivery_timeout(aws_env)
    assert timeout * 1000 >= 2 * MARGIN_MS, "the template's Timeout leaves the full margin"
    monkeypatch.setattr(delivery, "SEND_THREADS", 1)
    monkeypatch.setattr(delivery, "MESSAGE_THREADS", 1)
    context = LambdaClock(timeout)
    slow = [True]
    faulty_ses(lambda to, attempt: context.one_at_a_time(4000) if slow[0] else None)
    delays = _stopped_at_timeout(monkeypatch, context)

    # And one trigger for 20 recipients: two queue messages, delivered in one batch
    campaign = api.live_campaign()
    people = recipients(20)
    answer = api.trigger(trigger_body(campaign["id"], people, requestId="near-timeout"))
    assert answer.status == 202, answer.body
    execution_id = answer.body["executionId"]
    messages = queue.receive()
    assert len(messages) == 2

    # When the batch runs: sends start at 30, 26, 22 and 18 s left; at 14 s left (under the 15 s
    # margin) nothing more starts
    result = invoke_delivery(queue, messages, context=context)

    # Then the run ended within its timeout and reported both records back, not as a function error
    assert result.function_error is None
    assert result.failed == {m["MessageId"] for m in messages}
    assert not context.stopped()
    # And the four recipients it sent show as sent at once (not send_unconfirmed later), the others queued
    emails = emails_per_recipient(outbox)
    assert sorted(emails.values()) == [1, 1, 1, 1]
    shown = statuses(api, execution_id)
    assert {user for user, status in shown.items() if status == ("sent", None)} == set(emails)
    assert {user for user, status in shown.items() if status == ("queued", None)} == {
        p["userId"] for p in people
    } - set(emails)
    # And both records come back once the run has surely ended (its 14 s left), not after the queue's 180 s
    assert delays == [14, 14]
    assert queue.receive() == []

    # When they come back and SES is fast again
    slow[0] = False
    _show_again(queue, messages)
    again = queue.receive()
    assert {m["MessageId"] for m in again} == {m["MessageId"] for m in messages}
    second = invoke_delivery(queue, again, context=LambdaClock(timeout))

    # Then every recipient got exactly one email, all show sent, and nothing is left
    assert second.failed == set()
    assert emails_per_recipient(outbox) == {p["userId"]: 1 for p in people}
    assert statuses(api, execution_id) == {p["userId"]: ("sent", None) for p in people}
    assert queue.depth() == 0
    assert api.execution(execution_id).body["status"] == "completed"
    # (the margin this test counts on is the function's)
    assert delivery.STOP_MARGIN_MS == MARGIN_MS


def test_slow_ses_running_a_full_batch_out_of_time_loses_nothing_and_sends_nothing_twice(
    api: Api,
    queue: Queue,
    outbox,
    aws_env: Template,
    faulty_ses: Install,
    atomic_dynamodb: None,  # recipients are claimed side by side; moto's tables are not thread-safe
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given SES has slowed down: each send takes 6 s (sends run side by side, as in the function)
    timeout = _delivery_timeout(aws_env)
    context = LambdaClock(timeout)
    slow = [True]
    ses = faulty_ses(lambda to, attempt: context.side_by_side(6000) if slow[0] else None)
    delays = _stopped_at_timeout(monkeypatch, context)

    # And a full batch: 100 recipients in ten queue messages
    campaign = api.live_campaign()
    people = recipients(100)
    answer = api.trigger(trigger_body(campaign["id"], people, requestId="slow-ses"))
    assert answer.status == 202, answer.body
    execution_id = answer.body["executionId"]
    messages = queue.receive()
    assert len(messages) == 10

    # When the batch runs out of time mid-way
    result = invoke_delivery(queue, messages, context=context)

    # Then the run ended within its timeout: no function error, its outcomes written
    assert result.function_error is None
    assert not context.stopped()
    sent_first = set(emails_per_recipient(outbox))
    assert 0 < len(sent_first) < len(people)
    # And every recipient SES accepted shows sent; every other one is still queued, its record handed back
    shown = statuses(api, execution_id)
    assert {user for user, status in shown.items() if status == ("sent", None)} == sent_first
    assert {user for user, status in shown.items() if status == ("queued", None)} == {
        p["userId"] for p in people
    } - sent_first
    assert result.failed == {m["MessageId"] for m in messages if _queued_addresses(m) - sent_first}
    # And each handed-back record comes back within the run's margin, far sooner than the queue's 180 s
    assert len(delays) == len(result.failed)
    assert all(1 <= delay <= MARGIN_MS // 1000 for delay in delays), delays

    # When SES is fast again and the records come back
    slow[0] = False
    back = [m for m in messages if m["MessageId"] in result.failed]
    _show_again(queue, back)
    again = queue.receive()
    second = invoke_delivery(queue, again, context=LambdaClock(timeout))

    # Then the rest are sent exactly once: SES saw one attempt per recipient in all
    assert second.failed == set()
    assert emails_per_recipient(outbox) == {p["userId"]: 1 for p in people}
    assert sum(ses.attempts.values()) == len(people)
    assert statuses(api, execution_id) == {p["userId"]: ("sent", None) for p in people}
    assert queue.depth() == 0


def test_a_function_timeout_shorter_than_the_margin_still_sends_in_the_first_half_of_it(
    api: Api, queue: Queue, outbox, faulty_ses: Install, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a delivery function deployed with a 10 s Timeout (under twice the 15 s margin), sends one
    # at a time, each taking 3 s
    monkeypatch.setattr(delivery, "SEND_THREADS", 1)
    context = LambdaClock(10)
    faulty_ses(lambda to, attempt: context.one_at_a_time(3000))
    _stopped_at_timeout(monkeypatch, context)
    campaign = api.live_campaign()
    people = recipients(10)
    answer = api.trigger(trigger_body(campaign["id"], people, requestId="short-timeout"))
    messages = queue.receive()

    # When the batch runs
    result = invoke_delivery(queue, messages, context=context)

    # Then it sent while half its time was left (at 10 and 7 s left, not at 4 s), ended within its
    # timeout, and handed the rest back: every run makes progress, none is stopped by Lambda
    assert result.function_error is None
    assert result.failed == {messages[0]["MessageId"]}
    assert sorted(emails_per_recipient(outbox).values()) == [1, 1]
    shown = statuses(api, answer.body["executionId"])
    assert sorted(status for status, _ in shown.values()) == ["queued"] * 8 + ["sent"] * 2
