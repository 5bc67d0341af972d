"""Background jobs from the jobs queue, one step per record: audience fan-out and erasure."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from campaign_engine.jobs import run_jobs
from campaign_engine.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_jobs(event, context)
