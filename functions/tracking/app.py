"""Public /t/... routes: open pixel, click redirect, one-click unsubscribe (see campaign_engine.tracking)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from campaign_engine.observability import logger, metrics
from campaign_engine.tracking.http import handle


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.set_correlation_id((event.get("requestContext") or {}).get("requestId"))
    return handle(event)
