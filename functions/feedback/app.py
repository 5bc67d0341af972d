"""EventBridge rule on aws.ses: SES's delivery events move each recipient forward (see campaign_engine.feedback).

No Powertools tracer here: Lambda's active tracing records each run, and the X-Ray SDK the tracer loads
was most of what this function's cold start paid above its floor, for a run of a few store calls per
SES event (the most frequent invocation after delivery's)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from campaign_engine.feedback import apply_event
from campaign_engine.observability import logger, metrics


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return apply_event(event)
