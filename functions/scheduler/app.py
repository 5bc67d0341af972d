"""Every minute (EventBridge Scheduler): campaigns whose window opened go live, ended ones complete, and
scheduled audience executions that are due start."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from campaign_engine.audience_executions import start_due_schedules
from campaign_engine.campaigns import advance_schedules
from campaign_engine.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    changes = advance_schedules()
    started = start_due_schedules()
    return {
        "changed": [{"campaignId": campaign_id, "status": status} for campaign_id, status in changes],
        "started": [{"scheduleId": schedule_id, "executionId": execution_id} for schedule_id, execution_id in started],
    }
