"""Monitoring in the AWS console, read from template.yaml: every function is on the dashboard and under
Errors and Throttles alarms, every dead-letter queue under an alarm, SES's bounce and complaint rates are
alarmed at SES's own thresholds, every alarm notifies the alarm topic, and the API's access log names the
caller's key id, never the key.

A function or a dead-letter queue added to the template without its widget and alarms fails here, naming it."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]
Document = dict[str, Any]
ALARM_ACTIONS = [{"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}]


@pytest.fixture(scope="module")
def document() -> Document:
    return load_yaml(ROOT / "template.yaml")


def of_type(document: Document, kind: str) -> dict[str, Any]:
    return {name: r for name, r in document["Resources"].items() if r["Type"] == kind}


# ---------------------------------------------------------------------------
# What the alarms and the dashboard watch
# ---------------------------------------------------------------------------


def alarm_metrics(alarm: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric name, {dimension: value}) of each metric an alarm reads, metric math included."""
    properties = alarm["Properties"]
    stats = [properties] if "MetricName" in properties else []
    stats += [m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m]
    for stat in stats:
        dimensions = {d["Name"]: d["Value"] for d in stat.get("Dimensions", [])}
        yield stat["Namespace"], stat["MetricName"], dimensions


def alarmed(document: Document) -> set[tuple[str, str, str]]:
    """(metric name, dimension name, what the dimension refers to) for every alarm's metrics."""
    found = set()
    for alarm in of_type(document, "AWS::CloudWatch::Alarm").values():
        for _, metric, dimensions in alarm_metrics(alarm):
            for name, value in dimensions.items():
                found.add((metric, name, _referred(value)))
    return found


def _referred(value: Any) -> str:
    """`!Ref X` -> X, `!GetAtt X.Attr` -> X (what a dimension's value names)."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return str(value)


def dashboard_metrics(document: Document) -> set[tuple[str, ...]]:
    """Every metric row of every dashboard widget, "." and "..." expanded, ${X} and ${X.Attr} as X."""
    rows: set[tuple[str, ...]] = set()
    for dashboard in of_type(document, "AWS::CloudWatch::Dashboard").values():
        body = dashboard["Properties"]["DashboardBody"]
        text = body["Fn::Sub"] if isinstance(body["Fn::Sub"], str) else body["Fn::Sub"][0]
        parsed = json.loads(re.sub(r"\$\{([A-Za-z0-9]+)(\.[A-Za-z.]+)?\}", r"\1", text))
        for widget in parsed["widgets"]:
            previous: list[str] = []
            for row in widget.get("properties", {}).get("metrics", []):
                names = [part for part in row if isinstance(part, str)]
                if names[:1] == ["..."]:
                    names = previous
                else:
                    names = [previous[i] if part == "." else part for i, part in enumerate(names)]
                rows.add(tuple(names))
                previous = names
    return rows


def dead_letter_queues(document: Document) -> set[str]:
    """Queues that hold what failed: redrive targets, functions' on-failure destinations, rules' DLQs."""
    found = set()
    for queue in of_type(document, "AWS::SQS::Queue").values():
        target = (queue["Properties"].get("RedrivePolicy") or {}).get("deadLetterTargetArn")
        if target:
            found.add(_referred(target))
    for function in of_type(document, "AWS::Serverless::Function").values():
        properties = function["Properties"]
        on_failure = ((properties.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}).get("OnFailure")
        if on_failure:
            found.add(_referred(on_failure["Destination"]))
        for event in (properties.get("Events") or {}).values():
            dead_letters = (event.get("Properties") or {}).get("DeadLetterConfig") or {}
            if "Arn" in dead_letters:
                found.add(_referred(dead_letters["Arn"]))
    return found


def unmonitored(document: Document) -> list[str]:
    """What a reader of the console would not see: each function or dead-letter queue missing a widget or alarm."""
    missing = []
    alarms, widgets = alarmed(document), dashboard_metrics(document)
    for function in of_type(document, "AWS::Serverless::Function"):
        for metric in ("Errors", "Throttles"):
            if (metric, "FunctionName", function) not in alarms:
                missing.append(f"{function}: no {metric} alarm")
            if ("AWS/Lambda", metric, "FunctionName", function) not in widgets:
                missing.append(f"{function}: no {metric} on the dashboard")
    for queue in dead_letter_queues(document):
        if ("ApproximateNumberOfMessagesVisible", "QueueName", queue) not in alarms:
            missing.append(f"{queue}: dead-letter queue without an alarm")
        if ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue) not in widgets:
            missing.append(f"{queue}: dead-letter queue not on the dashboard")
    return missing


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------


def test_every_function_and_dead_letter_queue_is_on_the_dashboard_and_alarmed(document: Document) -> None:
    assert len(of_type(document, "AWS::Serverless::Function")) >= 7
    assert dead_letter_queues(document) >= {"DeliveryDeadLetterQueue", "JobsDeadLetterQueue", "FeedbackDeadLetterQueue"}
    assert unmonitored(document) == []


def test_a_function_added_without_its_alarms_and_widget_is_named(document: Document) -> None:
    changed = copy.deepcopy(document)
    changed["Resources"]["ExampleAddedFunction"] = copy.deepcopy(changed["Resources"]["TriggerFunction"])
    changed["Resources"]["ExampleAddedQueue"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {"RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["ExampleAddedDeadLetters", "Arn"]}}},
    }
    assert unmonitored(changed) == [
        "ExampleAddedFunction: no Errors alarm",
        "ExampleAddedFunction: no Errors on the dashboard",
        "ExampleAddedFunction: no Throttles alarm",
        "ExampleAddedFunction: no Throttles on the dashboard",
        "ExampleAddedDeadLetters: dead-letter queue without an alarm",
        "ExampleAddedDeadLetters: dead-letter queue not on the dashboard",
    ]


def test_every_alarm_notifies_the_alarm_topic_given_or_created(document: Document) -> None:
    alarms = of_type(document, "AWS::CloudWatch::Alarm")
    assert {name: a["Properties"].get("AlarmActions") for name, a in alarms.items()} == dict.fromkeys(
        alarms, ALARM_ACTIONS
    )
    assert document["Conditions"]["CreateAlarmTopic"] == {"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}
    assert document["Resources"]["AlarmTopic"]["Condition"] == "CreateAlarmTopic"
    assert document["Parameters"]["AlarmTopicArn"]["Default"] == ""


def test_ses_bounce_and_complaint_rates_are_alarmed_at_ses_thresholds(document: Document) -> None:
    thresholds = {}
    for alarm in of_type(document, "AWS::CloudWatch::Alarm").values():
        for namespace, metric, _ in alarm_metrics(alarm):
            if namespace == "AWS/SES":
                thresholds[metric] = (alarm["Properties"]["Threshold"], alarm["Properties"]["ComparisonOperator"])
    assert thresholds == {
        "Reputation.BounceRate": (0.05, "GreaterThanThreshold"),
        "Reputation.ComplaintRate": (0.001, "GreaterThanThreshold"),
    }


def test_api_access_logs_name_the_key_id_never_the_key(document: Document, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = document["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]
    log_group = document["Resources"][_referred(settings["DestinationArn"])]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    line = json.loads(settings["Format"])
    assert line["keyId"] == "$context.authorizer.keyId"
    assert line["routeKey"] == "$context.routeKey"
    text = settings["Format"].lower()
    # Neither the key (the Authorization header) nor the path (it may hold a profile id or an address)
    assert "authorization" not in text
    assert "$request.header" not in text
    assert "$context.path" not in text

    # and keyId is what the authorizer puts in its context for a known key
    from datetime import UTC, datetime

    from campaign_engine import auth, key_format, store

    used = auth.timestamp(datetime.now(UTC))  # just now: no lastUsedAt write
    monkeypatch.setattr(store, "get_api_key", lambda _: {"keyId": "key-1", "scopes": "admin", "lastUsedAt": used})
    assert auth.authorizer_context(f"Bearer {key_format.new_key()}")["keyId"] == "key-1"
