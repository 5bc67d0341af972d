"""Apply again the SES events the feedback function could not (`make redrive-feedback STACK=<stack>`).

FeedbackDeadLetterQueue holds two kinds of message: the record Lambda's on-failure destination writes
(the event is its `requestPayload`) and, from the EventBridge rule's dead-letter queue, the event itself.
Each event is handed to the feedback function again as EventBridge hands it (an asynchronous invoke), then
deleted from the queue. Safe to run at any time: the function only ever moves a recipient forward, so an
event already applied changes nothing, and one that fails again comes back to the queue."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import boto3

from scripts.stack import resolve


def event_of(body: str) -> dict[str, Any]:
    """The SES event a dead-lettered message carries."""
    message = json.loads(body)
    if isinstance(message, dict) and "requestContext" in message and "requestPayload" in message:
        return dict(message["requestPayload"])
    return dict(message)


def redrive(sqs: Any, lambda_client: Any, dlq_url: str, function_name: str, limit: int | None = None) -> int:
    applied = 0
    while limit is None or applied < limit:
        messages = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not messages:
            break
        for message in messages:
            lambda_client.invoke(
                FunctionName=function_name, InvocationType="Event", Payload=json.dumps(event_of(message["Body"]))
            )
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            applied += 1
            print(f"handed {message['MessageId']} to {function_name} again")
    return applied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="redrive-feedback", description=__doc__)
    parser.add_argument("--dlq-url", help="the feedback dead-letter queue's URL")
    parser.add_argument("--function-name", help="the feedback function's name")
    parser.add_argument("--stack-name", help="deployed stack (reads its outputs)")
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"), help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help="hand at most this many events back")
    args = parser.parse_args(argv)
    endpoint = {"endpoint_url": args.endpoint_url} if args.endpoint_url else {}
    dlq = resolve(args.dlq_url, "FEEDBACK_DLQ_URL", args.stack_name, "FeedbackDeadLetterQueueUrl")
    function = resolve(args.function_name, "FEEDBACK_FUNCTION_NAME", args.stack_name, "FeedbackFunctionName")
    applied = redrive(boto3.client("sqs", **endpoint), boto3.client("lambda", **endpoint), dlq, function, args.limit)
    print(f"{applied} events handed back to the feedback function")
    return 0


if __name__ == "__main__":
    sys.exit(main())
