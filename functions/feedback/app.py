"""SES's delivery events move each recipient forward (see campaign_engine.feedback).

In AWS the events come from the feedback queue, where the EventBridge rule on aws.ses puts them, in
batches of up to 100: the batch's reads, report counters and webhooks are done once for all of them. An
event that cannot be applied yet (its send's outcome is not recorded) or that failed is reported back
alone (ReportBatchItemFailures) and comes again after the queue's visibility timeout; after 5 receives
the queue's redrive policy keeps it in FeedbackDeadLetterQueue.

A single EventBridge event (`sam local invoke FeedbackFunction -e events/feedback/email_delivered.json`)
is applied the same way and answers what it did.

No Powertools tracer here: Lambda's active tracing records each run, and the X-Ray SDK the tracer loads
was most of what this function's cold start paid above its floor."""

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from campaign_engine.feedback import apply_event, apply_events
from campaign_engine.observability import logger, metrics


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records")
    if not isinstance(records, list):
        return apply_event(event)
    failures: list[dict[str, str]] = []
    readable: list[tuple[str, dict[str, Any]]] = []
    for record in records:
        try:
            readable.append((record["messageId"], _an_object(json.loads(record["body"]))))
        except (KeyError, TypeError, ValueError):
            # Not an EventBridge event (someone else's message): retrying cannot help, so the queue's
            # redrive policy sets it aside in the dead-letter queue after its receives.
            logger.warning("feedback queue message is not an event", message_id=record.get("messageId"))
            failures.append({"itemIdentifier": str(record.get("messageId"))})
    results = apply_events([body for _, body in readable]) if readable else []
    for (message_id, _), result in zip(readable, results, strict=True):
        if isinstance(result, Exception):
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


def _an_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("not an object")
    return value
