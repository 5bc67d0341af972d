"""Fault injection for the delivery tests: a faulty SES, atomic conditional writes, the DLQ, statuses.

Everything here wraps the moto-backed resources of tests/conftest.py; nothing replaces them."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local import harness
from local.template import REGION, Template
from tests.conftest import ROOT, Api, Handler, Queue, function_handler, invoke

# ---------------------------------------------------------------------------
# Metrics as Lambda has them
# ---------------------------------------------------------------------------


@cache
def _metrics_namespace() -> str:
    return Template.load(ROOT / "template.yaml").environment()["POWERTOOLS_METRICS_NAMESPACE"]


@pytest.fixture(autouse=True)
def _metrics_flushed_per_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Powertools keeps metrics in memory when POWERTOOLS_METRICS_DISABLED is set, and auto-flushes at 100 values
    of one metric; that flush needs the namespace, which the shared Metrics object lacks when campaign_engine was
    imported (at collection) before the template's environment was set. In Lambda the namespace comes from the
    environment and every invocation flushes: give it the namespace, and start each test empty."""
    from campaign_engine.observability import metrics

    if not metrics.namespace:
        monkeypatch.setattr(metrics, "namespace", _metrics_namespace())
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


# ---------------------------------------------------------------------------
# What a user notices
# ---------------------------------------------------------------------------


def emails_per_recipient(outbox: Callable[[], list[dict[str, Any]]]) -> Counter[str]:
    """How many emails each address received."""
    return Counter(to for sent in outbox() for to in sent["to"])


def statuses(api: Api, execution_id: str) -> dict[str, tuple[str, str | None]]:
    """GET /im/executions/{id}: userId -> (status, reason), every page."""
    answer = api.execution(execution_id, limit="1000")
    assert answer.status == 200, answer.body
    return {r["userId"]: (r["status"], r.get("reason")) for r in answer.body["recipients"]}


def recipients(count: int, prefix: str = "user") -> list[dict[str, Any]]:
    """`count` well-formed recipients of the sample campaign (context has the orderId its schema needs)."""
    return [
        {"userId": f"{prefix}{i}@example.com", "namespace": "email", "context": {"orderId": str(i), "total": "$1"}}
        for i in range(count)
    ]


# ---------------------------------------------------------------------------
# SES with faults
# ---------------------------------------------------------------------------


def ses_error(code: str, status: int, message: str = "") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message or code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "SendEmail",
    )


def throttled() -> ClientError:
    return ses_error("TooManyRequestsException", 429, "Maximum sending rate exceeded.")


@dataclass
class Fault:
    """What one send_email call does instead of (or after) reaching SES."""

    error: Exception
    # True: SES accepts the message, then the answer is lost with `error` (the ambiguous case).
    after_send: bool = False


# (recipient address, attempt number for that address starting at 1) -> a Fault, or None to send normally.
Rule = Callable[[str, int], Fault | None]


@dataclass
class FaultySes:
    """Stands in for the SES v2 client: send_email obeys the rule, everything else is the real client."""

    real: Any
    rule: Rule
    attempts: Counter[str] = field(default_factory=Counter)
    faults: list[tuple[str, str]] = field(default_factory=list)  # (address, error class or code)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send_email(self, **kwargs: Any) -> Any:
        to = kwargs["Destination"]["ToAddresses"][0]
        with self._lock:
            self.attempts[to] += 1
            attempt = self.attempts[to]
        fault = self.rule(to, attempt)
        if fault is None:
            return self.real.send_email(**kwargs)
        if fault.after_send:
            self.real.send_email(**kwargs)
        name = (
            fault.error.response["Error"]["Code"]
            if isinstance(fault.error, ClientError)
            else type(fault.error).__name__
        )
        with self._lock:
            self.faults.append((to, name))
        raise fault.error

    def faulted(self, name: str | None = None) -> set[str]:
        """The addresses that met a fault (of that name)."""
        return {to for to, n in self.faults if name is None or n == name}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def faulty_ses(aws_env: Template, monkeypatch: pytest.MonkeyPatch) -> Callable[[Rule], FaultySes]:
    """Installs a rule on every send delivery makes: `faulty_ses(lambda to, attempt: Fault(...) or None)`."""
    from campaign_engine import aws

    def install(rule: Rule) -> FaultySes:
        client = FaultySes(real=aws.sesv2(), rule=rule)
        monkeypatch.setattr(aws, "sesv2", lambda: client)
        return client

    return install


@pytest.fixture
def snapshot_reads(aws_env: Template, monkeypatch: pytest.MonkeyPatch) -> Callable[[float], list[str]]:
    """`snapshot_reads(seconds)`: containers read a campaign's state at most every `seconds`; the list fills with
    the campaign id of every read that reaches the table."""
    from campaign_engine import settings, store

    def install(seconds: float) -> list[str]:
        monkeypatch.setenv("CAMPAIGN_CACHE_SECONDS", str(seconds))
        settings.get_settings.cache_clear()
        reads: list[str] = []
        real_read = store.get_live_snapshot
        monkeypatch.setattr(store, "get_live_snapshot", lambda cid: reads.append(cid) or real_read(cid))
        return reads

    return install


# ---------------------------------------------------------------------------
# DynamoDB's conditional writes are atomic; moto's in-process backend is not thread-safe
# ---------------------------------------------------------------------------


@pytest.fixture
def atomic_dynamodb(aws_env: Template) -> Iterator[None]:
    """Serialises moto's item operations, as DynamoDB does per item, so that races test our code, not
    moto's (local/emulator.py: the local stack does the same)."""
    from local.emulator import atomic_item_operations

    undo = atomic_item_operations()
    yield
    undo()


# ---------------------------------------------------------------------------
# The dead-letter queue
# ---------------------------------------------------------------------------


@dataclass
class DeadLetters:
    url: str
    max_receive_count: int

    def messages(self) -> list[dict[str, Any]]:
        client = boto3.client("sqs", region_name=REGION)
        found: list[dict[str, Any]] = []
        while batch := client.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, VisibilityTimeout=30).get(
            "Messages", []
        ):
            found.extend(batch)
        return found


@pytest.fixture
def dlq(aws_env: Template) -> DeadLetters:
    """The delivery queue's dead-letter queue, found through its redrive policy (as template.yaml links them)."""
    client = boto3.client("sqs", region_name=REGION)
    attributes = client.get_queue_attributes(
        QueueUrl=os.environ["DELIVERY_QUEUE_URL"], AttributeNames=["RedrivePolicy"]
    )["Attributes"]
    policy = json.loads(attributes["RedrivePolicy"])
    name = policy["deadLetterTargetArn"].rsplit(":", 1)[1]
    return DeadLetters(client.get_queue_url(QueueName=name)["QueueUrl"], int(policy["maxReceiveCount"]))


# ---------------------------------------------------------------------------
# Time passing, and what was logged
# ---------------------------------------------------------------------------


class Clock:
    """The wall clock as trigger, store and delivery read it, moved forward without sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock(aws_env: Template, monkeypatch: pytest.MonkeyPatch) -> Clock:
    from campaign_engine import delivery, store, trigger

    fake = Clock()
    for module in (trigger, store.executions, store.recipients, store.outcomes, delivery):
        monkeypatch.setattr(module, "time", fake)
    return fake


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged() -> Iterator[list[logging.LogRecord]]:
    """The records the functions' Powertools logger emits during the test (its own handler is untouched)."""
    from campaign_engine.observability import logger

    handler = _Records()
    logger._logger.addHandler(handler)
    yield handler.records
    logger._logger.removeHandler(handler)


# ---------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------


def delivery_container(name: str) -> Handler:
    """The handler of a separate load of the delivery function, as a second Lambda container has (its own batch
    processor)."""
    return function_handler("delivery", container=name)


@pytest.fixture
def busy_threads() -> Iterator[None]:
    """Switches between threads far more often than the default 5 ms, so that races show up instead of hiding."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(before)


def run_together(count: int, work: Callable[[int], Any], timeout: float = 30) -> list[Any]:
    """Runs work(0..count-1) on `count` threads released at the same instant; re-raises the first error."""
    start = threading.Barrier(count, timeout=timeout)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait()
            results[index] = work(index)
        except BaseException as exc:  # collected: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    if errors:
        raise errors[0]
    return results


# ---------------------------------------------------------------------------
# The SQS event source mapping, function errors included
# ---------------------------------------------------------------------------


@dataclass
class Invocation:
    failed: set[str]  # message ids SQS keeps (reported in batchItemFailures, or the whole batch on a function error)
    function_error: Exception | None = None


def invoke_delivery(
    queue: Queue,
    messages: list[dict[str, Any]],
    *,
    function: Handler | None = None,
    delete: bool = True,
    context: Any = None,
) -> Invocation:
    """Runs the delivery handler as Lambda's SQS event source mapping does, with ReportBatchItemFailures.

    Records reported in batchItemFailures stay in the queue; if the invocation fails as a whole (Powertools
    raises BatchProcessingError when every record failed), every record stays. The others are deleted,
    unless `delete` is False (the invocation is still in flight)."""
    try:
        result = invoke("delivery", queue.as_event(messages), function, context)
    except Exception as error:  # a function error: SQS keeps the whole batch
        return Invocation({m["MessageId"] for m in messages}, error)
    failed = harness.kept_in_queue(result, messages)
    if delete:
        harness.delete_processed(boto3.client("sqs", region_name=REGION), queue.url, messages, failed)
    return Invocation(failed)


def drain_delivery(queue: Queue, rounds: int = 50) -> int:
    """Like Queue.drain, through invoke_delivery (so a batch whose every record fails does not stop it)."""
    handled = 0
    for _ in range(rounds):
        messages = queue.receive()
        if not messages:
            return handled
        invoke_delivery(queue, messages)
        handled += len(messages)
    return handled


@pytest.fixture
def dynamodb_calls() -> Iterator[list[str]]:
    """Every DynamoDB operation the functions make meanwhile, by name."""
    from campaign_engine import aws

    calls: list[str] = []
    client = aws.dynamodb()

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    client.meta.events.register("before-call.dynamodb", count)
    yield calls
    client.meta.events.unregister("before-call.dynamodb", count)
