"""Audiences, profiles and suppressions written straight into their tables, and the jobs queue run as
Lambda's event source mapping would: what the audience-execution tests build on."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import boto3

from local import harness
from local.template import REGION
from tests.conftest import invoke


def _dynamodb() -> Any:
    return boto3.client("dynamodb", region_name=REGION)


def put_audience(audience_id: str, members: list[tuple[str, str]], *, rule: dict[str, Any] | None = None) -> None:
    """An audience's head and (static) members, written through the audiences store."""
    from campaign_engine.store import audiences

    now = datetime.now(UTC).isoformat()
    audiences.put_audience(
        audiences.AudienceHead(
            audience_id=audience_id,
            name=f"Audience {audience_id}",
            kind="rule" if rule else "static",
            created_at=now,
            updated_at=now,
            rule=json.dumps(rule) if rule else None,
            member_count=None if rule else len(members),
        )
    )
    if members:
        audiences.put_members(audience_id, members, added_at=now)


def put_profile(namespace: str, profile_id: str, **values: Any) -> None:
    from campaign_engine.store import people

    now = datetime.now(UTC).isoformat()
    stored = {"namespace": namespace, "id": profile_id, "source": "api", "createdAt": now, "updatedAt": now, **values}
    item = {**people.profile_key(namespace, profile_id), **people.to_item(stored)}
    _dynamodb().put_item(TableName=os.environ["PROFILES_TABLE"], Item=item)


def erase_profile(namespace: str, profile_id: str) -> None:
    from campaign_engine.store import people

    _dynamodb().delete_item(TableName=os.environ["PROFILES_TABLE"], Key=people.profile_key(namespace, profile_id))


def suppress(channel: str, address: Any, reason: str = "hard_bounce") -> None:
    from campaign_engine.store import people

    values = {
        "channel": channel,
        "reason": reason,
        "source": "api",
        "address": address,
        "addedAt": "2026-01-01T00:00:00Z",
    }
    item = {**people.suppression_key(channel, address), **people.to_item(values)}
    _dynamodb().put_item(TableName=os.environ["PROFILES_TABLE"], Item=item)


def jobs_depth() -> int:
    attributes = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=os.environ["JOBS_QUEUE_URL"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def drain_jobs(*, timeout_seconds: int = 900, rounds: int = 500) -> int:
    """Runs the jobs function on the jobs queue's messages, one per invocation (BatchSize 1), until the
    queue is empty; a step that fails comes back at once (as after its visibility timeout). Returns
    how many steps ran. `timeout_seconds` is each invocation's: under a minute, every step reads one page."""
    client = boto3.client("sqs", region_name=REGION)
    url = os.environ["JOBS_QUEUE_URL"]
    for steps in range(rounds):
        messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"]).get(
            "Messages", []
        )
        if not messages:
            return steps
        context = harness.lambda_context("jobs", timeout_seconds=timeout_seconds)
        result = invoke("jobs", harness.sqs_event(messages, harness.queue_arn(url)), context=context)
        kept = harness.kept_in_queue(result, messages)
        harness.delete_processed(client, url, messages, kept)
        for message in messages:
            if message["MessageId"] in kept:
                client.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
    raise AssertionError(f"the jobs queue still had messages after {rounds} steps")
