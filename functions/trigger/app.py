"""POST /im/executions/unitary: validate, a verdict per recipient, enqueue."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from campaign_engine.observability import logger, metrics
from campaign_engine.routes.unitary import handle


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    # API Gateway's request id, read directly: the decorator's correlation_id_path runs a JMESPath
    # search on every call of the hottest function.
    logger.set_correlation_id((event.get("requestContext") or {}).get("requestId"))
    return handle(event)
