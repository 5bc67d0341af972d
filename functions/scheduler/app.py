"""Every minute (EventBridge Scheduler): campaigns whose window opened go live, ended ones complete, and
scheduled audience executions that are due start.

No Powertools tracer here: Lambda's active tracing records each run, and the X-Ray SDK the tracer loads
was a quarter of this function's cold start, paid every few minutes for a run of a few store calls."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from campaign_engine.minute_tick import advance_schedules, start_due_schedules
from campaign_engine.observability import logger, metrics


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    changes = advance_schedules()
    started = start_due_schedules()
    return {
        "changed": [{"campaignId": campaign_id, "status": status} for campaign_id, status in changes],
        "started": [{"scheduleId": schedule_id, "executionId": execution_id} for schedule_id, execution_id in started],
    }
