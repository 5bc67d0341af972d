"""Nothing is answered `accepted` that the delivery queue would refuse.

The emulator here is as strict as SQS (local/sqs_limits.py): 1 MiB per message and per batch
request, counted in bytes, and no U+FFFE / U+FFFF in a body. Each test ends by checking that
every recipient the trigger accepted reaches a final status."""

from __future__ import annotations

import os
from typing import Any

import boto3
import msgspec
import pytest
from botocore.exceptions import ClientError

from local.template import REGION
from tests.conftest import Api, Queue, trigger_body

FINAL = {"sent", "delivered", "opened", "clicked", "bounced", "complained", "failed", "excluded"}


def deliver_and_check_every_accepted_recipient_is_final(api: Api, queue: Queue, answer: Any) -> dict[str, Any]:
    accepted = {r["userId"] for r in answer.body["recipients"] if r["status"] == "accepted"}
    queue.drain()
    status = api.execution(answer.body["executionId"], limit="1000").body
    outcomes = {r["userId"]: r for r in status["recipients"]}
    assert {u: outcomes[u]["status"] for u in accepted if outcomes[u]["status"] not in FINAL} == {}
    assert queue.depth() == 0
    return outcomes


def verdicts(answer: Any) -> dict[str, tuple[str, str | None]]:
    return {r["userId"]: (r["status"], r.get("reason")) for r in answer.body["recipients"]}


def test_a_profile_over_its_limit_is_rejected_alone_even_when_it_is_under_1_mib_in_characters(
    api: Api, queue: Queue, outbox
) -> None:
    # Given a recipient whose profile is 1.2 MB of UTF-8 but only 400,000 characters, and one
    # whose profile is just under the limit (200,000 bytes)
    campaign = api.live_campaign()
    recipients = [
        {"userId": "big@example.com", "profile": {"notes": "€" * 400_000}, "context": {"orderId": "1", "total": "$1"}},
        {
            "userId": "small@example.com",
            "profile": {"notes": "é" * 100_000},
            "context": {"orderId": "2", "total": "$1"},
        },
    ]

    # When it is triggered
    answer = api.trigger(trigger_body(campaign["id"], recipients, context=None))

    # Then that recipient alone is rejected, before anything is recorded as accepted
    assert answer.status == 202, answer.body
    assert verdicts(answer) == {
        "big@example.com": ("rejected", "profile_too_large"),
        "small@example.com": ("accepted", None),
    }
    assert "200 KB" in answer.body["recipients"][0]["detail"]
    outcomes = deliver_and_check_every_accepted_recipient_is_final(api, queue, answer)
    assert outcomes["small@example.com"]["status"] == "sent"
    assert outcomes["big@example.com"]["reason"] == "profile_too_large"
    assert [e["to"] for e in outbox()] == [["small@example.com"]]


def test_an_entry_over_one_queue_message_is_rejected_as_entry_too_large(
    api: Api, queue: Queue, outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployment whose context limit is raised past what one queue message holds (every field
    # of a recipient has its own bound, and with the defaults they add up to less than a message)
    from campaign_engine import settings, trigger

    raised = msgspec.structs.replace(settings.get_settings(), max_context_bytes=2_000_000)
    monkeypatch.setattr(trigger, "get_settings", lambda: raised)
    # And a recipient whose entry is over 1 MiB
    campaign = api.live_campaign()
    recipients = [
        {
            "userId": "huge@example.com",
            "channelData": {"emailAddress": "huge@example.com"},
            "context": {"orderId": "1", "notes": "n" * 1_100_000},
        },
        # and nine of about 190 KB each: 1.7 MB in all, more than one batch request holds
        *(
            {
                "userId": f"r{n}@example.com",
                "profile": {"notes": "ü" * 95_000},
                "context": {"orderId": "2", "total": "$1"},
            }
            for n in range(9)
        ),
    ]

    answer = api.trigger(trigger_body(campaign["id"], recipients, context=None))

    # Then it is rejected with entry_too_large, the others are queued and delivered: no 500
    assert answer.status == 202, answer.body
    assert verdicts(answer) == {
        "huge@example.com": ("rejected", "entry_too_large"),
        **{f"r{n}@example.com": ("accepted", None) for n in range(9)},
    }
    outcomes = deliver_and_check_every_accepted_recipient_is_final(api, queue, answer)
    assert outcomes["huge@example.com"]["status"] == "excluded"
    assert sorted(e["to"][0] for e in outbox()) == [f"r{n}@example.com" for n in range(9)]


def test_characters_that_sqs_refuses_raw_are_queued_and_delivered(api: Api, queue: Queue, outbox) -> None:
    # Given a context and a requestId holding U+FFFF and U+FFFE, which JSON allows and SQS does not
    campaign = api.live_campaign()
    recipients = [{"userId": "odd@example.com", "context": {"orderId": "A\uffffB\ufffe", "total": "$1"}}]

    answer = api.trigger(trigger_body(campaign["id"], recipients, context=None, requestId="req-\uffff"))

    assert answer.status == 202, answer.body
    outcomes = deliver_and_check_every_accepted_recipient_is_final(api, queue, answer)
    assert outcomes["odd@example.com"]["status"] == "sent"
    assert outbox()[0]["subject"] == "Order A\uffffB\ufffe confirmed"


def test_the_emulator_refuses_what_sqs_refuses(aws_env) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = os.environ["DELIVERY_QUEUE_URL"]
    # 400,000 characters, 1.2 MB: moto alone counted characters and took it
    with pytest.raises(ClientError) as refused:
        sqs.send_message(QueueUrl=url, MessageBody="€" * 400_000)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "shorter than 1048576 bytes" in refused.value.response["Error"]["Message"]
    # A batch whose bodies add up to more than 1 MiB in bytes is refused whole
    with pytest.raises(ClientError) as refused:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": "€" * 120_000} for n in range(3)])
    assert "BatchRequestTooLong" in refused.value.response["Error"]["Code"]
    # Attributes count too
    with pytest.raises(ClientError):
        sqs.send_message(
            QueueUrl=url,
            MessageBody="x" * 1_048_000,
            MessageAttributes={"a": {"DataType": "String", "StringValue": "y" * 1000}},
        )
    # A character outside XML's: refused alone, in a batch only that entry fails
    with pytest.raises(ClientError) as refused:
        sqs.send_message(QueueUrl=url, MessageBody="a\uffff")
    assert refused.value.response["Error"]["Code"] == "InvalidMessageContents"
    answer = sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "good", "MessageBody": "ok"}, {"Id": "bad", "MessageBody": "\x01"}]
    )
    assert [s["Id"] for s in answer["Successful"]] == ["good"]
    assert [(f["Id"], f["Code"]) for f in answer["Failed"]] == [("bad", "InvalidMessageContents")]
    # Exactly 1 MiB is allowed
    sqs.send_message(QueueUrl=url, MessageBody="x" * 1_048_576)
