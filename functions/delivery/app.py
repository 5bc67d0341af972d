"""SQS consumer: render, claim, send, record. Failed records come back with backoff."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from campaign_engine.delivery import deliver_batch
from campaign_engine.observability import logger, metrics


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return deliver_batch(event, context)
