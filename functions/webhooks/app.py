"""SQS consumer of the webhooks queue: each message is one signed POST of recipient events to its
endpoint; failures come back with exponential backoff, then go to the DLQ (see campaign_engine.webhook_sender)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from campaign_engine.observability import logger, metrics
from campaign_engine.webhook_sender import deliver_batch


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return deliver_batch(event)
