"""Background jobs from the jobs queue, one step per record: audience fan-out and erasure.

No Powertools tracer here: Lambda's active tracing records each run, and the X-Ray SDK the tracer loads
cost this function's cold start more than the rest of its imports together."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from campaign_engine.jobs import run_jobs
from campaign_engine.observability import logger, metrics


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_jobs(event, context)
