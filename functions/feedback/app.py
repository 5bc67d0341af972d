"""EventBridge rule on aws.ses: SES's delivery events move each recipient forward (see campaign_engine.feedback)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from campaign_engine.feedback import apply_event
from campaign_engine.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return apply_event(event)
