"""Move dead-lettered delivery messages back to the delivery queue (`make redrive`).

Safe to run at any time: delivery's per-recipient send guard drops anything already sent,
so a redriven message only sends to the recipients that never got it."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import boto3

from scripts.stack import resolve


def redrive(sqs: Any, dlq_url: str, queue_url: str, limit: int | None = None) -> int:
    moved = 0
    while limit is None or moved < limit:
        messages = sqs.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            break
        sqs.send_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(messages)]
        )
        sqs.delete_message_batch(
            QueueUrl=dlq_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
        moved += len(messages)
        for m in messages:
            print(f"moved {m['MessageId']} (received {m['Attributes'].get('ApproximateReceiveCount', '?')} times)")
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="redrive", description=__doc__)
    parser.add_argument("--dlq-url", help="dead-letter queue URL")
    parser.add_argument("--queue-url", help="delivery queue URL")
    parser.add_argument("--stack-name", help="deployed stack (reads its outputs)")
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"), help="e.g. the local emulator")
    parser.add_argument("--limit", type=int, help="move at most this many messages")
    args = parser.parse_args(argv)
    sqs = boto3.client("sqs", endpoint_url=args.endpoint_url) if args.endpoint_url else boto3.client("sqs")
    if args.endpoint_url and not args.stack_name:
        # The local stack names its queues after the stack name "local".
        args.dlq_url = args.dlq_url or sqs.get_queue_url(QueueName="local-delivery-dlq")["QueueUrl"]
        args.queue_url = args.queue_url or sqs.get_queue_url(QueueName="local-delivery")["QueueUrl"]
    dlq = resolve(args.dlq_url, "DELIVERY_DLQ_URL", args.stack_name, "DeliveryDeadLetterQueueUrl")
    queue = resolve(args.queue_url, "DELIVERY_QUEUE_URL", args.stack_name, "DeliveryQueueUrl")
    moved = redrive(sqs, dlq, queue, args.limit)
    print(f"{moved} messages moved back to the delivery queue")
    return 0


if __name__ == "__main__":
    sys.exit(main())
