"""The local stack's queues refuse what SQS refuses, and the trigger never accepts what they would."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local import Stack, demo_trigger
from local.emulator import aws_client
from tests.e2e.conftest import wait_for


def test_the_local_emulator_measures_messages_in_bytes_as_sqs_does(local_stack: Stack) -> None:
    sqs = aws_client("sqs", local_stack.moto_url)
    url = sqs.create_queue(QueueName=f"limits-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    with pytest.raises(ClientError) as refused:
        sqs.send_message(QueueUrl=url, MessageBody="€" * 400_000)  # 400,000 characters, 1.2 MB
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as refused:
        sqs.send_message(QueueUrl=url, MessageBody="code \uffff")
    assert refused.value.response["Error"]["Code"] == "InvalidMessageContents"


def test_an_oversized_profile_is_rejected_and_the_rest_of_the_call_delivered(local_stack: Stack) -> None:
    campaign_id = local_stack.seed_demo()
    request_id = f"limits-{uuid.uuid4()}"
    body = demo_trigger(campaign_id, request_id)
    big = {**body["recipients"][0], "userId": "big@example.com", "profile": {"notes": "€" * 400_000}}
    big["channelData"] = {"emailAddress": "big@example.com"}
    body["recipients"].append(big)

    status, _, answer = local_stack.request("POST", "/im/executions/unitary", body)

    assert status == 202, answer
    verdicts = {r["userId"]: (r["status"], r.get("reason")) for r in answer["recipients"]}
    assert verdicts == {"ada@example.com": ("accepted", None), "big@example.com": ("rejected", "profile_too_large")}

    def sent() -> list[dict[str, Any]]:
        _, _, outbox = local_stack.request("GET", "/_local/outbox")
        return [item for item in outbox["items"] if item["requestId"] == request_id]

    assert [item["to"] for item in wait_for(sent)] == ["ada@example.com"]
