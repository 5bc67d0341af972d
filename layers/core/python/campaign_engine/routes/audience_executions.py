"""/im/executions/audience and /im/executions/schedules: a marketing campaign sent to an audience."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from campaign_engine import audience_executions
from campaign_engine.audience_models import (
    AudienceDryRun,
    AudienceExecutionAccepted,
    AudienceExecutionRequest,
    ScheduleStatus,
)
from campaign_engine.routes.resolver import caller, json_response

router = Router()
ScheduleId = Annotated[str, Path(description="Schedule id from the scheduled execution's answer", max_length=64)]


@router.post(
    "/im/executions/audience",
    summary="Send a marketing campaign to an audience, now or at schedule.executeAt (dryRun: count only)",
    tags=["executions"],
    responses={
        200: {
            "description": "dryRun: the count and the exclusions by reason; nothing sent, queued or scheduled",
            "content": {"application/json": {"model": AudienceDryRun}},
        },
        202: {
            "description": "Accepted: executionId (started now) or scheduleId and executeAt (scheduled)",
            "content": {"application/json": {"model": AudienceExecutionAccepted}},
        },
    },
)
def execute_audience(body: AudienceExecutionRequest):
    call = audience_executions.AudienceCall(
        campaign_id=body.campaign_id,
        audience_id=body.audience.id if body.audience else None,
        request_id=body.request_id,
        context=body.context or {},
        execute_at=body.schedule.execute_at if body.schedule else None,
        dry_run=body.dry_run,
    )
    remaining = getattr(router.lambda_context, "get_remaining_time_in_millis", None)
    seconds_left = (lambda: remaining() / 1000) if remaining else None
    status, answer = audience_executions.execute_audience(call, caller(router), seconds_left=seconds_left)
    return json_response(status, answer)


@router.get(
    "/im/executions/schedules/<scheduleId>",
    summary="A scheduled audience execution: when, and whether it started (and its executionId)",
    tags=["executions"],
    responses={200: {"description": "OK", "content": {"application/json": {"model": ScheduleStatus}}}},
)
def get_schedule(scheduleId: ScheduleId):
    return json_response(200, audience_executions.schedule_status(scheduleId, caller(router)))


@router.delete(
    "/im/executions/schedules/<scheduleId>",
    summary="Cancel a scheduled audience execution before it starts",
    tags=["executions"],
    responses={204: {"description": "Cancelled (or cancelled already)"}},
)
def cancel_schedule(scheduleId: ScheduleId):
    audience_executions.cancel_schedule(scheduleId, caller(router))
    return json_response(204, None)
