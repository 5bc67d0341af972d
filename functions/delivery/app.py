"""SQS consumer: render, claim, send, record. Failed records come back with backoff."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from campaign_engine.delivery import Invocation, RetryLater, delay_redelivery, deliver_message
from campaign_engine.observability import logger, metrics


def deliver(record: SQSRecord, invocation: Invocation) -> None:
    receive_count = int(record.attributes.approximate_receive_count or 1)
    try:
        deliver_message(record.body, receive_count=receive_count, invocation=invocation)
    except RetryLater as later:
        delay_redelivery(record.receipt_handle, receive_count, waiting_only=later.waiting_only)
        raise
    except Exception as error:
        # Poison records are retried until the queue's maxReceiveCount moves them to the DLQ;
        # the reason is logged on every attempt.
        logger.exception(
            "delivery failed", message_id=record.message_id, receive_count=receive_count, error=type(error).__name__
        )
        raise


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # A batch whose every record failed is still a partial-batch answer, not a function error: an
    # error would count against the function and slow the event source's polling. One processor
    # per invocation, as it keeps the batch's state (the local stack runs invocations side by side).
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    # The outcomes of the whole batch are written when it ends; if that fails, the function fails
    # and every record comes back to find its claims.
    with Invocation() as invocation:
        # Every message starts at once, so that their waits on DynamoDB and SES overlap; the batch
        # processor then takes each one's result in turn and reports the failed ones.
        started = {
            record["messageId"]: invocation.submit(deliver, SQSRecord(record), invocation)
            for record in event.get("Records", [])
        }
        return dict(
            process_partial_response(
                event=event,
                record_handler=lambda record: started[record.message_id].result(),
                processor=processor,
                context=context,
            )
        )
