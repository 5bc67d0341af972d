"""The benchmark harness (make bench) on one trigger call and the delivery it queues: structure, no timings.

Benchmarks measure; they do not assert speed. This only checks that the in-process fake answers every
AWS operation the functions use and that the counting make bench reports from is wired up."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from benchmarks import aws_requests, tracking_cpu
from benchmarks.workload import Workload


@pytest.fixture
def workload(monkeypatch: pytest.MonkeyPatch) -> Iterator[Workload]:
    saved = dict(os.environ)
    try:
        with Workload() as work:
            from campaign_engine.observability import metrics

            # The shared Metrics object may predate the template's environment (imported at collection).
            if not metrics.namespace:
                monkeypatch.setattr(metrics, "namespace", os.environ["POWERTOOLS_METRICS_NAMESPACE"])
            yield work
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_one_trigger_and_its_delivery_are_answered_and_counted(workload: Workload) -> None:
    workload.fake.reset_counts()
    workload.trigger(workload.trigger_event(2, "smoke"))
    stats = workload.drain()

    by_service = workload.fake.by_service()
    assert stats.invocations == 1
    assert stats.messages >= 1
    assert stats.failed == 0
    assert by_service["dynamodb"] > 0
    assert by_service["sqs"] > 0
    assert workload.fake.requests[("sesv2", "SendEmail")] == 2
    assert workload.fake.units["ses.recipients"] == 2
    assert workload.fake.units["dynamodb.wru"] > 0
    assert workload.fake.units["sqs.billed"] > 0
    assert not workload.fake.unanswered, f"operations the fake does not know: {dict(workload.fake.unanswered)}"


def test_a_click_is_redirected_and_its_calls_answered_for_the_tracking_figure(workload: Workload) -> None:
    workload.fake.reset_counts()
    figure = tracking_cpu.tracking_figure(workload, iterations=3, rounds=1)

    assert figure.ms > 0
    assert figure.floor_ms > 0
    assert workload.fake.unanswered == {}
    assert workload.fake.requests[("secrets-manager", "GetSecretValue")] == 1  # cached after the first click


def test_requests_per_email_has_every_billed_service_and_a_total(workload: Workload) -> None:
    mix = aws_requests.Mix("smoke", per_call=1)
    aws_requests._run(workload, mix, calls=2, capture=True)

    per_email = mix.requests_per_email()
    assert list(per_email) == [*aws_requests.BILLED_SERVICES, "total"]
    assert mix.emails == 2
    assert per_email["total"] == pytest.approx(sum(v for k, v in per_email.items() if k != "total"))
    assert per_email["total"] > 0
    labels = [chunk[0][1] for chunk in mix.capture if chunk]
    assert labels.count("trigger") == 2
    assert "delivery" in labels


def test_a_failed_conditional_write_is_a_modeled_error_with_the_item(workload: Workload) -> None:
    import boto3

    client = boto3.client("dynamodb")
    item = {"pk": {"S": "EXEC#smoke"}, "sk": {"S": "R#someone"}, "state": {"S": "sending"}}
    table = os.environ["EXECUTIONS_TABLE"]
    client.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(ClientError) as raised:
        client.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert raised.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert raised.value.response.get("Item") == item


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("attribute_not_exists(pk)", False),
        ("attribute_exists(pk) AND #state IN (:sent, :queued)", True),
        ("attribute_not_exists(pk) OR idempotentUntil < :now", True),
        ("(#state = :queued) OR NOT attribute_exists(messageId)", False),
        ("size(#state) = :four AND begins_with(#state, :s)", True),
    ],
)
def test_the_fake_evaluates_condition_expressions(condition: str, expected: bool) -> None:
    from benchmarks.conditions import holds

    item = {"pk": {"S": "EXEC#1"}, "state": {"S": "sent"}, "messageId": {"S": "m"}, "idempotentUntil": {"N": "10"}}
    values = {
        ":sent": {"S": "sent"},
        ":queued": {"S": "queued"},
        ":now": {"N": "20"},
        ":four": {"N": "4"},
        ":s": {"S": "s"},
    }
    assert holds(condition, {"#state": "state"}, values, item) is expected


def test_ses_events_go_through_the_feedback_queue_in_batches_and_are_counted(workload: Workload) -> None:
    from benchmarks import cost

    workload.trigger(workload.trigger_event(3, "feedback"))
    workload.drain()
    events = workload.feedback_events()
    assert len(events) == 3
    workload.fake.reset_counts()

    workload.publish_feedback(events)
    stats = workload.drain_feedback()

    assert (stats.invocations, stats.messages, stats.failed) == (1, 3, 0)
    # The rule's put per event, then the mapping's receive and delete for the batch
    assert workload.fake.requests[("sqs", "SendMessage")] == 3
    assert workload.fake.requests[("dynamodb", "UpdateItem")] == 3  # each recipient
    # then the counters once, in one transaction with the batch's commit record
    assert workload.fake.requests[("dynamodb", "TransactWriteItems")] == 1
    assert not workload.fake.unanswered

    mix = aws_requests.Mix("smoke", 3, emails=3, units_phase={"feedback": dict(workload.fake.units)})
    sqs = cost.requests_by_phase(mix)["feedback"]["sqs"]
    assert sqs > 3 * 0.40 / 3  # at least the puts, priced
