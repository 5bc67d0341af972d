"""Put the SES events kept in the feedback dead-letter queue back in the feedback queue (`make redrive-feedback`).

FeedbackDeadLetterQueue holds the events the feedback function failed on 5 times (FeedbackQueue's redrive
policy) and those EventBridge could not put in FeedbackQueue: each message is the event itself. A record
written by Lambda's on-failure destination (stacks deployed before the feedback queue) is unwrapped to the
event it carries. Safe to run at any time: the function only ever moves a recipient forward, so an event
already applied changes nothing, and one that fails again comes back to the dead-letter queue."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import boto3

from scripts.stack import resolve


def event_body(body: str) -> str:
    """The SES event a dead-lettered message carries, as the feedback queue holds it."""
    try:
        message = json.loads(body)
    except ValueError:
        return body  # not JSON: put back as it was, for the function to set aside again
    if isinstance(message, dict) and "requestContext" in message and "requestPayload" in message:
        return json.dumps(message["requestPayload"])
    return body


def redrive(sqs: Any, dlq_url: str, queue_url: str, limit: int | None = None) -> int:
    moved = 0
    while limit is None or moved < limit:
        count = min(10, limit - moved) if limit is not None else 10
        messages = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=count, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if not messages:
            break
        entries = [{"Id": str(i), "MessageBody": event_body(m["Body"])} for i, m in enumerate(messages)]
        failed = {f["Id"] for f in sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed", [])}
        done = [(str(i), m) for i, m in enumerate(messages) if str(i) not in failed]
        if done:  # a message SQS refused stays in the dead-letter queue
            sqs.delete_message_batch(
                QueueUrl=dlq_url, Entries=[{"Id": i, "ReceiptHandle": m["ReceiptHandle"]} for i, m in done]
            )
        moved += len(done)
        for _, m in done:
            print(f"put {m['MessageId']} back in the feedback queue")
        if failed:
            print(f"{len(failed)} events were refused by SQS and stay in the dead-letter queue")
            break
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="redrive-feedback", description=__doc__)
    parser.add_argument("--dlq-url", help="the feedback dead-letter queue's URL")
    parser.add_argument("--queue-url", help="the feedback queue's URL")
    parser.add_argument("--stack-name", help="deployed stack (reads its outputs)")
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"), help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help="put at most this many events back")
    args = parser.parse_args(argv)
    sqs = boto3.client("sqs", endpoint_url=args.endpoint_url) if args.endpoint_url else boto3.client("sqs")
    if args.endpoint_url and not args.stack_name:
        # The local stack names its queues after the stack name "local".
        args.dlq_url = args.dlq_url or sqs.get_queue_url(QueueName="local-feedback-dlq")["QueueUrl"]
        args.queue_url = args.queue_url or sqs.get_queue_url(QueueName="local-feedback")["QueueUrl"]
    dlq = resolve(args.dlq_url, "FEEDBACK_DLQ_URL", args.stack_name, "FeedbackDeadLetterQueueUrl")
    queue = resolve(args.queue_url, "FEEDBACK_QUEUE_URL", args.stack_name, "FeedbackQueueUrl")
    moved = redrive(sqs, dlq, queue, args.limit)
    print(f"{moved} events put back in the feedback queue")
    return 0


if __name__ == "__main__":
    sys.exit(main())
