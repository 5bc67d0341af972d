"""POST /im/executions/unitary: validate, a verdict per recipient, enqueue."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from campaign_engine.observability import logger, metrics
from campaign_engine.routes.unitary import handle


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return handle(event)
